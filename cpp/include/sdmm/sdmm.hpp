// sdmm.hpp -- the C++ API of sdmm (host only, C++23).
//
//   alignas(8) std::byte arena[64 * 1024];
//   sdmm::Heap heap = sdmm::Heap::create(arena).value();
//   auto keys = heap.alloc_pubkey(10);          // std::expected<sdmm::PubkeyBlock, sdmm::Error>
//   if (keys) keys->span()[0].bytes[0] = 1;     // std::span<sdmm_pubkey>, zero-filled
//                                               // freed when `keys` goes out of scope
//
// Errors are values (std::expected), never exceptions. Blocks are move-only
// owners that free themselves; a Heap is a non-owning view of its arena and
// must outlive its blocks (as a std::span must outlive nothing it does not own).
#pragma once

#include <sdmm.h>

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory_resource>
#include <span>
#include <string_view>
#include <utility>

namespace sdmm {

// Every status of the C contract.
enum class Status : uint32_t {
#define SDMM_STATUS(NAME, value, message) NAME = (value),
#include <sdmm_status.def>
#undef SDMM_STATUS
};

class Error {
  public:
    constexpr explicit Error(sdmm_status code) : code_(code) {}
    [[nodiscard]] constexpr Status status() const { return static_cast<Status>(code_); }
    [[nodiscard]] constexpr sdmm_status code() const { return code_; }
    [[nodiscard]] std::string_view message() const { return sdmm_status_str(code_); }
    friend constexpr bool operator==(Error a, Error b) { return a.code_ == b.code_; }
    friend constexpr bool operator==(Error a, Status b) { return a.status() == b; }

  private:
    sdmm_status code_;
};

template <class T>
using Result = std::expected<T, Error>;

// Which tag belongs to which element type: generated from the type table.
template <class T>
struct TagOf;
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2)                \
    template <>                                                       \
    struct TagOf<c_type> {                                            \
        static constexpr uint32_t value = SDMM_TAG_##TAG;             \
        static c_type *get(const sdmm_block &b) { return b.as.name; } \
    };
#include <sdmm_types.def>
#undef SDMM_TYPE

// A live block of `T` elements that frees itself. Move-only.
template <class T>
class Block {
  public:
    Block() = default;
    Block(sdmm_heap *heap, const sdmm_block &raw) : heap_(heap), raw_(raw) {}
    Block(const Block &) = delete;
    Block &operator=(const Block &) = delete;
    Block(Block &&other) noexcept : heap_(std::exchange(other.heap_, nullptr)), raw_(other.raw_) {}
    Block &operator=(Block &&other) noexcept {
        if (this != &other) {
            reset();
            heap_ = std::exchange(other.heap_, nullptr);
            raw_ = other.raw_;
        }
        return *this;
    }
    ~Block() { reset(); }

    [[nodiscard]] std::span<T> span() const {
        return heap_ ? std::span<T>(TagOf<T>::get(raw_), raw_.len) : std::span<T>();
    }
    [[nodiscard]] T *data() const { return heap_ ? TagOf<T>::get(raw_) : nullptr; }
    [[nodiscard]] std::size_t size() const { return heap_ ? raw_.len : 0; }
    T &operator[](std::size_t i) const { return data()[i]; }
    [[nodiscard]] uint64_t handle() const { return heap_ ? raw_.handle : 0; }
    [[nodiscard]] const sdmm_block &raw() const { return raw_; }
    explicit operator bool() const { return heap_ != nullptr; }

    // Changes the element count (new elements are zero); the block may move.
    // On failure the block is unchanged.
    Result<void> resize(uint32_t new_len) {
        if (!heap_) return std::unexpected(Error(SDMM_ERR_INVALID_BLOCK));
        sdmm_block out;
        if (sdmm_status s = sdmm_resize_into(heap_, &raw_, new_len, &out); s != SDMM_OK)
            return std::unexpected(Error(s));
        raw_ = out;
        return {};
    }
    // Frees now and reports the status (the destructor ignores it).
    Result<void> free() {
        if (!heap_) return std::unexpected(Error(SDMM_ERR_INVALID_BLOCK));
        const sdmm_status s = sdmm_free_ref(std::exchange(heap_, nullptr), &raw_);
        if (s != SDMM_OK) return std::unexpected(Error(s));
        return {};
    }
    // Gives up ownership: the block stays allocated, reachable by its handle.
    sdmm_block release() {
        heap_ = nullptr;
        return raw_;
    }

  private:
    void reset() {
        if (heap_) sdmm_free_ref(std::exchange(heap_, nullptr), &raw_);
    }
    sdmm_heap *heap_ = nullptr;
    sdmm_block raw_{};
};

// Friendly names: sdmm::U64Block, sdmm::PubkeyBlock, ... (one per table row).
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2) using Camel##Block = Block<c_type>;
#include <sdmm_types.def>
#undef SDMM_TYPE

// A typed heap over caller memory. Non-owning: it is the arena's view.
class Heap {
  public:
    static Result<Heap> create(std::span<std::byte> arena, uint32_t flags = 0) {
        sdmm_heap *h = nullptr;
        if (sdmm_status s = sdmm_heap_init_flags(arena.data(), arena.size(), flags, &h); s != SDMM_OK)
            return std::unexpected(Error(s));
        return Heap(h);
    }
    // Reopens a heap that was copied or mapped to this arena.
    static Result<Heap> attach(std::span<std::byte> arena) {
        sdmm_heap *h = nullptr;
        if (sdmm_status s = sdmm_heap_attach(arena.data(), arena.size(), &h); s != SDMM_OK)
            return std::unexpected(Error(s));
        return Heap(h);
    }

#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2)                              \
    Result<Block<c_type>> alloc_##name(uint32_t n) {                                \
        sdmm_block raw;                                                             \
        if (sdmm_status s = sdmm_alloc_##name##_into(heap_, n, &raw); s != SDMM_OK) \
            return std::unexpected(Error(s));                                       \
        return Block<c_type>(heap_, raw);                                           \
    }
#include <sdmm_types.def>
#undef SDMM_TYPE

    // Takes ownership back from a handle (after release(), or after attach).
    template <class T>
    Result<Block<T>> resolve(uint64_t handle) {
        sdmm_block raw;
        if (sdmm_status s = sdmm_resolve_into(heap_, handle, TagOf<T>::value, &raw); s != SDMM_OK)
            return std::unexpected(Error(s));
        return Block<T>(heap_, raw);
    }

    [[nodiscard]] Result<void> check() const {
        if (sdmm_status s = sdmm_heap_check(heap_); s != SDMM_OK) return std::unexpected(Error(s));
        return {};
    }
    [[nodiscard]] sdmm_stats stats() const {
        sdmm_stats out;
        sdmm_heap_stats(heap_, &out);
        return out;
    }
    [[nodiscard]] sdmm_heap *raw() const { return heap_; }

  private:
    explicit Heap(sdmm_heap *h) : heap_(h) {}
    sdmm_heap *heap_;
};

// Lets standard containers live in an sdmm heap:
//   sdmm::MemoryResource res(heap);  std::pmr::vector<int> v(&res);
// Allocation failure throws std::bad_alloc, as memory_resource requires.
class MemoryResource final : public std::pmr::memory_resource {
  public:
    explicit MemoryResource(Heap &heap) : heap_(heap.raw()) {}

  private:
    void *do_allocate(std::size_t bytes, std::size_t alignment) override;
    void do_deallocate(void *p, std::size_t bytes, std::size_t alignment) override;
    [[nodiscard]] bool do_is_equal(const std::pmr::memory_resource &other) const noexcept override {
        const auto *o = dynamic_cast<const MemoryResource *>(&other);
        return o != nullptr && o->heap_ == heap_;
    }
    sdmm_heap *heap_;
};

}  // namespace sdmm
