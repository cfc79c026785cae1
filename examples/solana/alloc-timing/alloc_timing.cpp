// alloc_timing.cpp -- every allocator call timed on its own, on-chain.
//
// On SBF one executed instruction is one compute unit, and the syscall
// sol_log_compute_units_() logs the meter ("Program consumption: N units
// remaining"). Each alloc and each free is bracketed by two such readings;
// the reader (tests/solana/timing.mjs) subtracts the cost of an empty
// bracket (two readings with nothing between, logged first by the same
// run), so what is left is the call itself: argument set-up, the call, the
// allocator, zero-fill, the return. (sol_remaining_compute_units would
// return the figure to the program instead, but the LiteSVM runtime does not
// enable that syscall by default.) The transaction must lift LiteSVM's log
// limit (withLogBytesLimit()).
//
// The same source builds two programs, like heap-demo:
//   alloc-timing.so       sdmm over the VM heap region (SDMM_INIT_ZEROED)
//   alloc-timing-bump.so  -DTIMING_BUMP: the Solana SDK's default allocator,
//                         rewritten here in C++ (cursor in the first 8 bytes
//                         of the region, bumping down, free does nothing;
//                         fresh memory is already zero, so no fill)
// Both wrap their allocator in the same typed, non-inlined calls, so the
// brackets see the same call shape.
//
// The transaction requests a 256 KiB heap region: the allocator gets the
// first `arena` bytes (at most 240 KiB), the program's own tables the last 16 KiB.
//
// Instruction data (little-endian u32 fields unless noted):
//   op 0 PERCALL  arena, window, warmup, steps, seed, u8 free_kind, u8 max_n
//       Steady state: `window` live u64 blocks of 1..max_n elements; each step
//       frees a random one and allocates a new one of random length; steps
//       after the first `warmup` are timed. free_kind: 0 sdmm_free_handle,
//       1 sdmm_free_ref, 2 sdmm_free_ptr.
//       Log: kEmptyBrackets empty brackets, then per timed step a free
//       bracket and an alloc bracket (two meter lines each).
//   op 1 STRESS   arena, steps, seed                              (sdmm only)
//       Random alloc / free (by handle, by block, by pointer, of a stale
//       handle) / resize of every type and of sizes from 1 byte to more than
//       the arena (out-of-memory and too-large requests included), in 64
//       slots. Fresh blocks are checked zero at both ends and dirtied.
//       Log: kEmptyBrackets empty brackets, then per call its bracket and a
//       sol_log_64_ line: kind, status, bytes requested (kinds: 0 alloc,
//       1 free_handle, 2 free_ref, 3 free_ptr, 4 free of a stale handle,
//       5 resize).
// Errors: 1 bad instruction data, 2 a value read back was wrong, 3 a step
// did not give the status it must, 0x100 + an sdmm status.
#include "sdmm.h"
#include "sdmm_sbf.h"

#include "../../../cpp/testing/xorshift.hpp"

namespace {

constexpr uint64_t kErrBadData = 1;
constexpr uint64_t kErrWrongValue = 2;
[[maybe_unused]] constexpr uint64_t kErrUnexpected = 3;  // STRESS (sdmm only)
constexpr uint64_t kErrStatusBase = 0x100;

constexpr uint64_t kRegion = 256 * 1024;            // requested with RequestHeapFrame
constexpr uint64_t kScratch = kRegion - 16 * 1024;  // the program's block tables live above this

// ---- the allocator under test ----------------------------------------------
#ifdef TIMING_BUMP
struct Heap {
    uint8_t *start;
    uint64_t len;
};
// The SDK's BumpAllocator: the cursor is the first word of the region, 0 on
// first use; allocation moves it down by the size and aligns it down.
[[gnu::noinline]] uint64_t alloc_u64(Heap *h, uint32_t n, sdmm_block *out) {
    auto *cursor = reinterpret_cast<uint64_t *>(h->start);
    const uint64_t start = reinterpret_cast<uint64_t>(h->start);
    uint64_t pos = *cursor;
    if (pos == 0) pos = start + h->len;
    const uint64_t size = uint64_t{n} * 8;
    pos = pos > size ? pos - size : 0;  // saturating_sub
    pos &= ~uint64_t{7};                // align 8
    if (pos < start + 8) {
        out->status = SDMM_ERR_OUT_OF_MEMORY;
        return SDMM_ERR_OUT_OF_MEMORY;
    }
    *cursor = pos;
    out->tag = SDMM_TAG_U64;
    out->status = SDMM_OK;
    out->len = n;
    out->handle = pos;
    out->as.raw = pos;
    return SDMM_OK;
}
[[gnu::noinline]] uint64_t free_block(Heap *, const sdmm_block *, uint64_t) { return SDMM_OK; }
#else
using Heap = sdmm_heap;
[[gnu::noinline]] uint64_t alloc_u64(Heap *h, uint32_t n, sdmm_block *out) {
    return sdmm_alloc_u64_into(h, n, out);
}
[[gnu::noinline]] uint64_t free_block(Heap *h, const sdmm_block *b, uint64_t kind) {
    if (kind == 0) return sdmm_free_handle(h, b->handle, b->tag);
    if (kind == 1) return sdmm_free_ref(h, b);
    return sdmm_free_ptr(h, b->as.u8, b->tag);
}
[[gnu::noinline]] uint64_t alloc_tagged(Heap *h, uint32_t tag, uint32_t n, sdmm_block *out) {
    return sdmm_alloc_tagged_into(h, tag, n, out);
}
[[gnu::noinline]] uint64_t resize_block(Heap *h, const sdmm_block *b, uint32_t n, sdmm_block *out) {
    return sdmm_resize_into(h, b, n, out);
}
#endif

// A number in [0, n) from 32 random bits, n < 2^32 (a multiply and a shift,
// no division).
uint64_t below(uint64_t r, uint64_t n) { return ((r & 0xFFFFFFFFu) * n) >> 32; }

// One reading of the compute meter, into the log.
inline void meter() { sol_log_compute_units_(); }

// Empty brackets, for the reader to subtract.
constexpr uint64_t kEmptyBrackets = 8;
[[gnu::noinline]] void empty_brackets() {
    for (uint64_t i = 0; i < kEmptyBrackets; ++i) {
        meter();
        meter();
    }
}

uint64_t u32_at(const uint8_t *d, uint64_t i) { return sbf_le(d + 4 * i, 4); }

Heap *open_heap(uint64_t arena, uint64_t *status) {
#ifdef TIMING_BUMP
    auto *h = reinterpret_cast<Heap *>(SOL_HEAP_START + kScratch);  // the handle outside the arena
    h->start = SOL_HEAP_START;
    h->len = arena;
    *status = 0;
    return h;
#else
    sdmm_heap *h = nullptr;
    *status = sdmm_heap_init_flags(SOL_HEAP_START, arena, SDMM_INIT_ZEROED, &h);
    return h;
#endif
}

// ---- op 0: steady state, every call timed -------------------------------------
constexpr uint64_t kMaxWindow = 256;
static_assert(kScratch + 64 + kMaxWindow * sizeof(sdmm_block) <= kRegion, "the block table fits the region");

uint64_t percall(const uint8_t *d, uint64_t len) {
    if (len < 4 * 5 + 2) return kErrBadData;
    const uint64_t arena = u32_at(d, 0), window = u32_at(d, 1), warmup = u32_at(d, 2), steps = u32_at(d, 3);
    const uint64_t free_kind = d[20], max_n = d[21];
    Rng rng{u32_at(d, 4) * 0x9E3779B97F4A7C15ull + 1};
    if (arena > kScratch || window == 0 || window > kMaxWindow || max_n == 0 || free_kind > 2)
        return kErrBadData;
    auto *blocks = reinterpret_cast<sdmm_block *>(SOL_HEAP_START + kScratch + 64);
    uint64_t st = 0;
    Heap *h = open_heap(arena, &st);
    if (st != 0) return kErrStatusBase + st;
    for (uint64_t i = 0; i < window; ++i) {
        st = alloc_u64(h, static_cast<uint32_t>(1 + below(rng.next(), max_n)), &blocks[i]);
        if (st != SDMM_OK) return kErrStatusBase + st;
    }
    for (uint64_t s = 0; s < warmup + steps; ++s) {
        const uint64_t r = rng.next();
        sdmm_block *b = &blocks[below(r >> 32, window)];
        const auto n = static_cast<uint32_t>(1 + below(r, max_n));
        if (s == warmup) empty_brackets();
        if (s >= warmup) {
            meter();
            st = free_block(h, b, free_kind);
            meter();
        } else {
            st = free_block(h, b, free_kind);
        }
        if (st != SDMM_OK) return kErrStatusBase + st;
        if (s >= warmup) {
            meter();
            st = alloc_u64(h, n, b);
            meter();
        } else {
            st = alloc_u64(h, n, b);
        }
        if (st != SDMM_OK) return kErrStatusBase + st;
        // Zero-filled (checked at both ends), then dirtied so a reuse that
        // skipped the fill would show.
        if (b->len != n || b->as.u64[0] != 0 || b->as.u64[n - 1] != 0) return kErrWrongValue;
        b->as.u64[0] = r | 1;
        b->as.u64[n - 1] = r | 1;
    }
    return 0;
}

#ifndef TIMING_BUMP
// ---- op 1: a long random run of every call, for the worst case ---------------
constexpr uint64_t kSlots = 64;
enum Kind : uint64_t { kAlloc, kFreeHandle, kFreeRef, kFreePtr, kFreeStale, kResize };

// A request of random type and size: mostly small, some up to a few KiB, a
// few up to twice the arena (those fail: out of memory or too large), and
// absurd ones (too large, or zero elements).
void request(Rng &rng, uint64_t arena, uint32_t *tag, uint32_t *n) {
    const uint64_t r = rng.next();
    *tag = static_cast<uint32_t>(1 + below(r, SDMM_TAG_COUNT - 1));
    const uint64_t pick = r >> 56;
    uint64_t bytes = 0;
    if (pick < 180)
        bytes = 1 + below(r >> 24, 256);
    else if (pick < 236)
        bytes = 257 + below(r >> 24, 4096);
    else if (pick < 254)
        bytes = 1 + below(r >> 24, 2 * arena);
    else
        bytes = (r >> 24) & 0xFFFFFFFFull;
    *n = static_cast<uint32_t>(bytes / sdmm_tag_size(*tag));  // unsigned division: SBF has it
}

// The record of one timed call, logged right after its bracket.
void record(uint64_t kind, uint64_t status, uint64_t bytes) { sol_log_64_(kind, status, bytes, 0, 0); }

uint64_t stress(const uint8_t *d, uint64_t len) {
    if (len < 4 * 3) return kErrBadData;
    const uint64_t arena = u32_at(d, 0), steps = u32_at(d, 1);
    Rng rng{u32_at(d, 2) * 0x9E3779B97F4A7C15ull + 7};
    if (arena > kScratch) return kErrBadData;
    auto *slots = reinterpret_cast<sdmm_block *>(SOL_HEAP_START + kScratch + 64);  // status != OK: empty
    sdmm_block *stale = slots + kSlots;                                            // the last block freed
    uint64_t st = 0;
    Heap *h = open_heap(arena, &st);
    if (st != 0) return kErrStatusBase + st;
    for (uint64_t i = 0; i <= kSlots; ++i) slots[i].status = SDMM_ERR_INVALID_BLOCK;
    empty_brackets();

    for (uint64_t s = 0; s < steps; ++s) {
        const uint64_t r = rng.next();
        sdmm_block *b = &slots[r & (kSlots - 1)];
        const uint64_t what = (r >> 40) & 0xFF;
        const uint64_t r2 = rng.next();  // the entry point, independent of the slot and the action
        uint32_t tag = 0, n = 0;
        if (b->status != SDMM_OK) {  // empty slot: allocate
            request(rng, arena, &tag, &n);
            meter();
            st = alloc_tagged(h, tag, n, b);
            meter();
            const uint64_t bytes = uint64_t{n} * sdmm_tag_size(tag);
            record(kAlloc, st, bytes);
            if (st == SDMM_OK) {
                // Zero-filled at both ends (blocks are reused dirty), then marked.
                if (b->len != n || b->as.u8[0] != 0 || b->as.u8[bytes - 1] != 0) return kErrWrongValue;
                if (bytes > 1) b->as.u8[bytes - 1] = 0x5A;
                b->as.u8[0] = 0xA5;
            } else if (st != SDMM_ERR_OUT_OF_MEMORY && st != SDMM_ERR_TOO_LARGE &&
                       st != SDMM_ERR_ZERO_COUNT) {
                return kErrUnexpected;
            }
        } else if (what < 24 && stale->status == SDMM_OK) {  // free a handle already freed
            // By handle or by block (handle + pointer): a pointer alone cannot
            // tell a freed block from a new one at the same address.
            meter();
            st = free_block(h, stale, r2 & 1);
            meter();
            record(kFreeStale, st, uint64_t{stale->len} * sdmm_tag_size(stale->tag));
            if (st == SDMM_OK) return kErrUnexpected;
        } else if (what < 160) {  // free, by one of the three entry points
            const uint64_t kind = below(r2 >> 8, 3);
            meter();
            st = free_block(h, b, kind);
            meter();
            record(kFreeHandle + kind, st, uint64_t{b->len} * sdmm_tag_size(b->tag));
            if (st != SDMM_OK) return kErrUnexpected;
            *stale = *b;
            b->status = SDMM_ERR_INVALID_BLOCK;
        } else {  // resize to a random length (a failure leaves the block as it was)
            request(rng, arena, &tag, &n);
            const uint64_t old_bytes = uint64_t{b->len} * sdmm_tag_size(b->tag);
            sdmm_block moved;
            meter();
            st = resize_block(h, b, n, &moved);
            meter();
            const uint64_t bytes = uint64_t{n} * sdmm_tag_size(b->tag);
            record(kResize, st, bytes);
            if (st == SDMM_OK) {
                // The kept prefix survives; the grown part is zero.
                if (moved.as.u8[0] != 0xA5) return kErrWrongValue;
                if (bytes > old_bytes && old_bytes > 1 && moved.as.u8[old_bytes - 1] != 0x5A)
                    return kErrWrongValue;
                if (bytes > old_bytes && moved.as.u8[bytes - 1] != 0) return kErrWrongValue;
                if (bytes > 1) moved.as.u8[bytes - 1] = 0x5A;
                *stale = *b;  // the old descriptor: stale if the block moved
                *b = moved;
                if (stale->handle == b->handle) stale->status = SDMM_ERR_INVALID_BLOCK;
            } else if (st != SDMM_ERR_OUT_OF_MEMORY && st != SDMM_ERR_TOO_LARGE &&
                       st != SDMM_ERR_ZERO_COUNT) {
                return kErrUnexpected;
            }
        }
    }
    st = sdmm_heap_check(h);
    return st == SDMM_OK ? 0 : kErrStatusBase + st;
}
#endif

}  // namespace

extern "C" uint64_t entrypoint(const uint8_t *input) {
    SolParameters params;
    params.accounts = nullptr;
    sol_deserialize(input, &params, 0);
    if (params.data_len < 1) return kErrBadData;
    switch (params.data[0]) {
        case 0:
            return percall(params.data + 1, params.data_len - 1);
#ifndef TIMING_BUMP
        case 1:
            return stress(params.data + 1, params.data_len - 1);
#endif
        default:
            return kErrBadData;
    }
}
