// shared.hpp -- the C++ API of sdmm heaps shared by processes (ffi/sdmm_shared.h).
//
//   auto heap = sdmm::SharedHeap::open("/orders", 1 << 20, SDMM_SHARED_CREATE).value();
//   auto prices = heap.alloc<uint64_t>(8).value();   // sdmm::Shared<uint64_t>
//   prices.span()[0] = 42;
//   send_to_peer(prices.handle());                   // a number: any channel
//   // in the peer: auto same = heap.resolve<uint64_t>(handle).value();
//   heap.free(prices).value();
//
// Shared<T> does not free itself: a block handed to another process is
// freed there (after a grant), or by its owner, explicitly. SharedHeap
// closes its client on destruction (blocks stay).
#pragma once

#include <sdmm_shared.h>
#include <sdmm/sdmm.hpp>

#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

namespace sdmm {

// A status of the shared layer: the core's statuses and SDMM_SHARED_ERR_*.
class SharedError {
  public:
    constexpr explicit SharedError(uint32_t code) : code_(code) {}
    [[nodiscard]] constexpr uint32_t code() const { return code_; }
    [[nodiscard]] std::string_view message() const { return sdmm_shared_status_str(code_); }
    friend constexpr bool operator==(SharedError a, SharedError b) { return a.code_ == b.code_; }
    friend constexpr bool operator==(SharedError a, uint32_t b) { return a.code_ == b; }

  private:
    uint32_t code_;
};

template <class T>
using SharedResult = std::expected<T, SharedError>;

// A typed block of a shared heap, as this process sees it.
template <class T>
class Shared {
  public:
    [[nodiscard]] uint64_t handle() const { return block_.handle; }
    [[nodiscard]] std::span<T> span() const { return {TagOf<T>::get(block_), block_.len}; }
    [[nodiscard]] uint32_t size() const { return block_.len; }
    [[nodiscard]] const sdmm_block &raw() const { return block_; }

  private:
    friend class SharedHeap;
    explicit Shared(const sdmm_block &b) : block_(b) {}
    sdmm_block block_;
};

class SharedHeap {
  public:
    static SharedResult<SharedHeap> open(const char *name, size_t bytes, uint32_t flags) {
        sdmm_shared *s = nullptr;
        const sdmm_status st = sdmm_shared_open(name, bytes, flags, &s);
        if (st != SDMM_OK) return std::unexpected(SharedError(st));
        return SharedHeap(s);
    }
    // A heap that grows from `bytes` up to `max_bytes` (sdmm_shared_open_reserve).
    static SharedResult<SharedHeap> open_reserve(const char *name, size_t bytes, size_t max_bytes,
                                                 uint32_t flags) {
        sdmm_shared *s = nullptr;
        const sdmm_status st = sdmm_shared_open_reserve(name, bytes, max_bytes, flags, &s);
        if (st != SDMM_OK) return std::unexpected(SharedError(st));
        return SharedHeap(s);
    }
    SharedHeap(SharedHeap &&o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    SharedHeap &operator=(SharedHeap &&o) noexcept {
        if (this != &o) {
            close();
            s_ = std::exchange(o.s_, nullptr);
        }
        return *this;
    }
    SharedHeap(const SharedHeap &) = delete;
    SharedHeap &operator=(const SharedHeap &) = delete;
    ~SharedHeap() { close(); }

    template <class T>
    SharedResult<Shared<T>> alloc(uint32_t n) {
        sdmm_block b{};
        return wrap<T>(sdmm_shared_alloc(s_, TagOf<T>::value, n, &b), b);
    }
    template <class T>
    SharedResult<Shared<T>> resolve(uint64_t handle) {
        sdmm_block b{};
        return wrap<T>(sdmm_shared_resolve(s_, handle, TagOf<T>::value, &b), b);
    }
    // On success `block` names the resized block (its old handle is stale if it moved).
    template <class T>
    SharedResult<void> resize(Shared<T> &block, uint32_t new_len) {
        sdmm_block b{};
        const sdmm_status st = sdmm_shared_resize(s_, block.handle(), TagOf<T>::value, new_len, &b);
        if (st != SDMM_OK) return std::unexpected(SharedError(st));
        block = Shared<T>(b);
        return {};
    }
    template <class T>
    SharedResult<void> free(const Shared<T> &block) {
        return status(sdmm_shared_free(s_, block.handle(), TagOf<T>::value));
    }
    template <class T>
    SharedResult<void> free(uint64_t handle) {
        return status(sdmm_shared_free(s_, handle, TagOf<T>::value));
    }
    SharedResult<void> grant(uint32_t client, bool allow = true) {
        return status(sdmm_shared_grant(s_, client, allow ? 1 : 0));
    }
    SharedResult<void> set_quota(uint32_t client, uint64_t bytes) {
        return status(sdmm_shared_set_quota(s_, client, bytes));
    }
    SharedResult<void> reap(uint32_t client) { return status(sdmm_shared_reap(s_, client)); }
    [[nodiscard]] SharedResult<void> check() const { return status(sdmm_shared_check(s_)); }
    [[nodiscard]] SharedResult<sdmm_shared_info> info() const {
        sdmm_shared_info out{};
        const sdmm_status st = sdmm_shared_info_get(s_, &out);
        if (st != SDMM_OK) return std::unexpected(SharedError(st));
        return out;
    }
    [[nodiscard]] uint32_t client() const { return sdmm_shared_client(s_); }
    [[nodiscard]] sdmm_shared *get() const { return s_; }

  private:
    explicit SharedHeap(sdmm_shared *s) : s_(s) {}
    void close() {
        if (s_ != nullptr) sdmm_shared_close(std::exchange(s_, nullptr));
    }
    static SharedResult<void> status(sdmm_status st) {
        if (st != SDMM_OK) return std::unexpected(SharedError(st));
        return {};
    }
    template <class T>
    static SharedResult<Shared<T>> wrap(sdmm_status st, const sdmm_block &b) {
        if (st != SDMM_OK) return std::unexpected(SharedError(st));
        return Shared<T>(b);
    }
    sdmm_shared *s_;
};

}  // namespace sdmm
