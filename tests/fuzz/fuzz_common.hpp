// fuzz_common.hpp -- what the three libFuzzer targets share: a byte reader
// that decodes the fuzzer's input into call arguments, an arena that is one
// heap allocation of exactly `len` bytes (so AddressSanitizer's redzones sit
// right at its ends), the per-type allocation functions from the type table,
// and the checks every target makes on a block the heap hands out.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "sdmm.h"

// A failed expectation is a finding: print what and where, then abort so
// libFuzzer saves the input as a crash artifact.
#define FUZZ_CHECK(cond, ...)                                                                     \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            std::fprintf(stderr, "\nFUZZ CHECK FAILED %s:%d: %s\n  ", __FILE__, __LINE__, #cond); \
            std::fprintf(stderr, __VA_ARGS__);                                                    \
            std::fputc('\n', stderr);                                                             \
            std::abort();                                                                         \
        }                                                                                         \
    } while (0)

namespace fuzz {

// Reads the input front to back; past its end every read yields zero, so
// any byte string decodes to some call sequence.
class Reader {
  public:
    Reader(const uint8_t *data, size_t size) : data_(data), size_(size) {}
    bool empty() const { return pos_ >= size_; }
    size_t left() const { return pos_ < size_ ? size_ - pos_ : 0; }
    uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
    uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
    uint32_t u32() { return static_cast<uint32_t>(u16()) | (static_cast<uint32_t>(u16()) << 16); }
    uint64_t u64() { return static_cast<uint64_t>(u32()) | (static_cast<uint64_t>(u32()) << 32); }
    // A value in [0, bound), bound > 0.
    size_t below(size_t bound) { return bound <= 256 ? u8() % bound : u32() % bound; }
    // Up to `want` bytes of the input (fewer at its end).
    const uint8_t *take(size_t want, size_t *got) {
        *got = want < left() ? want : left();
        const uint8_t *p = data_ + (pos_ < size_ ? pos_ : size_);
        pos_ += *got;
        return p;
    }

  private:
    const uint8_t *data_;
    size_t size_;
    size_t pos_ = 0;
};

// The arena: exactly `len` bytes of its own heap allocation, nothing around
// it that ASan would not flag. move() copies it to a fresh allocation and
// frees the old one, so a pointer into the old place is a use-after-free.
class Arena {
  public:
    explicit Arena(size_t len) : len_(len), mem_(static_cast<uint8_t *>(std::malloc(len ? len : 1))) {
        FUZZ_CHECK(mem_ != nullptr, "malloc(%zu)", len);
    }
    Arena(const Arena &) = delete;
    Arena &operator=(const Arena &) = delete;
    ~Arena() { std::free(mem_); }
    uint8_t *base() const { return mem_; }
    size_t len() const { return len_; }
    void move() {
        auto *fresh = static_cast<uint8_t *>(std::malloc(len_ ? len_ : 1));
        FUZZ_CHECK(fresh != nullptr, "malloc(%zu)", len_);
        std::memcpy(fresh, mem_, len_);
        std::free(mem_);
        mem_ = fresh;
    }
    bool contains(const void *p, uint64_t bytes) const {
        const auto at = reinterpret_cast<uintptr_t>(p);
        const auto b = reinterpret_cast<uintptr_t>(mem_);
        return at >= b && at <= b + len_ && bytes <= b + len_ - at;
    }
    size_t offset_of(const void *p) const {
        return static_cast<size_t>(reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(mem_));
    }

  private:
    size_t len_;
    uint8_t *mem_;
};

// Valid tags are 1..kTagCount.
constexpr uint32_t kTagCount = SDMM_TAG_COUNT - 1;

using AllocInto = sdmm_status (*)(sdmm_heap *, uint32_t, sdmm_block *);
using AllocValue = sdmm_block (*)(sdmm_heap *, uint32_t);
inline constexpr AllocInto kAllocInto[SDMM_TAG_COUNT] = {
    nullptr,
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2) &sdmm_alloc_##name##_into,
#include "sdmm_types.def"
#undef SDMM_TYPE
};
inline constexpr AllocValue kAllocValue[SDMM_TAG_COUNT] = {
    nullptr,
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2) &sdmm_alloc_##name,
#include "sdmm_types.def"
#undef SDMM_TYPE
};
inline constexpr uint32_t kTagSize[SDMM_TAG_COUNT] = {
    0,
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2) static_cast<uint32_t>(sizeof(c_type)),
#include "sdmm_types.def"
#undef SDMM_TYPE
};

inline uint32_t pick_tag(Reader &in) { return 1 + static_cast<uint32_t>(in.below(kTagCount)); }
// Any 32-bit tag, mostly valid ones, sometimes NONE or out of range.
inline uint32_t pick_any_tag(Reader &in) {
    const uint8_t sel = in.u8();
    if (sel < 200) return 1 + sel % kTagCount;
    if (sel < 220) return SDMM_TAG_NONE;
    if (sel < 240) return SDMM_TAG_COUNT + (sel & 3);
    return in.u32();
}

// Element counts: mostly small, sometimes large, zero or absurd.
inline uint32_t pick_count(Reader &in) {
    const uint8_t sel = in.u8();
    if (sel < 150) return 1 + in.u8() % 32;
    if (sel < 215) return 1 + in.u16() % 2048;
    if (sel < 230) return 0;
    if (sel < 245) return 0xFFFFFFFFu - in.u8();
    return in.u32();
}
inline uint64_t pick_align(Reader &in) {
    const uint8_t sel = in.u8();
    if (sel < 220) return uint64_t{1} << (sel % 13);
    if (sel < 230) return 0;
    if (sel < 240) return 24;
    if (sel < 250) return uint64_t{1} << (16 + sel % 24);
    return in.u64();
}
inline uint64_t pick_aligned_bytes(Reader &in) {
    const uint8_t sel = in.u8();
    if (sel < 160) return 1 + in.u8();
    if (sel < 220) return 1 + in.u16() % 8192;
    if (sel < 235) return 0;
    if (sel < 245) return 0xFFFFFFFFull + (sel & 3);
    return in.u64();
}

// Zero-filled result for every failure: no stale pointer leaks out.
inline void check_failed_block(const sdmm_block &b, sdmm_status st, const char *what) {
    FUZZ_CHECK(b.status == st && b.tag == SDMM_TAG_NONE && b.len == 0 && b.handle == 0 && b.as.raw == 0,
               "%s: failed with %u but the block is {tag %u status %u len %u handle %#llx ptr %#llx}", what,
               st, b.tag, b.status, b.len, static_cast<unsigned long long>(b.handle),
               static_cast<unsigned long long>(b.as.raw));
}

// Every block a call returns with SDMM_OK lies inside the arena, and all of
// its bytes are readable (the read is what ASan checks, the range check is
// what fails even where the memory beyond happens to be mapped).
inline uint64_t block_bytes(const sdmm_block &b) {
    return b.tag < SDMM_TAG_COUNT ? uint64_t{b.len} * kTagSize[b.tag] : ~uint64_t{0};
}
inline void check_block_in_arena(const Arena &arena, const sdmm_block &b, const char *what) {
    FUZZ_CHECK(b.status == SDMM_OK && b.tag != SDMM_TAG_NONE && b.tag < SDMM_TAG_COUNT && b.len != 0,
               "%s: OK block with tag %u status %u len %u", what, b.tag, b.status, b.len);
    const auto *p = reinterpret_cast<const uint8_t *>(static_cast<uintptr_t>(b.as.raw));
    FUZZ_CHECK(arena.contains(p, block_bytes(b)), "%s: block [%p, +%llu) is not inside the arena [%p, +%zu)",
               what, static_cast<const void *>(p), static_cast<unsigned long long>(block_bytes(b)),
               static_cast<const void *>(arena.base()), arena.len());
    FUZZ_CHECK((reinterpret_cast<uintptr_t>(p) & 7) == 0, "%s: block %p not 8-aligned", what,
               static_cast<const void *>(p));
    volatile uint8_t sink = 0;
    for (uint64_t i = 0; i < block_bytes(b); ++i) sink = static_cast<uint8_t>(sink ^ p[i]);
    (void)sink;
}

inline bool is_refusal(sdmm_status st) {
    return st == SDMM_ERR_INVALID_BLOCK || st == SDMM_ERR_DOUBLE_FREE || st == SDMM_ERR_STALE_HANDLE ||
           st == SDMM_ERR_TAG_MISMATCH;
}

// Statistics that hold whatever the arena holds: no field exceeds what the
// arena could possibly contain.
inline void check_stats_bounded(const Arena &arena, const sdmm_stats &s, const char *what) {
    const uint64_t len = arena.len();
    FUZZ_CHECK(s.capacity <= len && s.control_bytes <= len && s.largest_free <= len && s.free_blocks <= len,
               "%s: stats out of range: capacity %llu control %llu largest_free %llu free_blocks %llu "
               "(arena %llu)",
               what, static_cast<unsigned long long>(s.capacity),
               static_cast<unsigned long long>(s.control_bytes),
               static_cast<unsigned long long>(s.largest_free),
               static_cast<unsigned long long>(s.free_blocks), static_cast<unsigned long long>(len));
}

// The arena length the fuzzer asked for: SDMM_MIN_ARENA_BYTES .. 64 KiB.
inline size_t pick_arena_len(Reader &in) {
    return SDMM_MIN_ARENA_BYTES + in.u16() % (65536 - SDMM_MIN_ARENA_BYTES + 1);
}

}  // namespace fuzz
