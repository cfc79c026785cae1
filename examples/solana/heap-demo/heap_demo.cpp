// heap_demo.cpp -- sdmm as the heap of a Solana program, against the bump
// allocator Solana programs get by default.
//
// The same source builds two programs: heap-demo (sdmm over the VM heap
// region) and heap-demo-bump (-DHEAP_DEMO_BUMP: a forward bump allocator
// whose free does nothing, as in Solana's default allocator and pinocchio's).
// The workload builds typed arrays -- pubkeys and u64s -- and drops them in a
// loop: under the bump allocator it runs out of memory in 32 KiB, under sdmm
// it completes because freed blocks are reused.
//
// Instruction data (little-endian):
//   [0] op  [1..4] heap bytes (u32; 0 = the default 32 KiB; more needs a
//                  RequestHeapFrame instruction in the same transaction)
//   op 0 WORKLOAD  u32 rounds        -> return: u64 ops, u64 checksum, u64 live blocks
//   op 1 BENCH     u8 kind, u32 n    -> return: u64 ops            (see bench())
//   op 2 ALL_TYPES u32 n             -> return: u64 types checked  (sdmm only)
//   op 3 BAD_INPUT                   -> return: one status per case (sdmm only)
//   op 4 BIG       u32 u64-elements  -> return: u64 len
// Errors are custom program errors: 1 bad instruction data, 0x100 + status
// for an sdmm status (0x103 = out of memory), 2 a value read back was wrong.
#include "sdmm.h"
#include "sdmm_sbf.h"

#include "../../../cpp/testing/xorshift.hpp"

namespace {

constexpr uint64_t kErrBadData = 1;
constexpr uint64_t kErrWrongValue = 2;
constexpr uint64_t kErrStatusBase = 0x100;

// ---- the allocator under test, behind the same three calls ----------------
// The calls are not inlined into the workload: the CU per operation measured
// by the benchmark is then the cost of a real allocator call, as in a program
// that calls its allocator from many places.
#ifdef HEAP_DEMO_BUMP
struct Heap {
    uint64_t cursor;  // next free byte; lives in the heap region itself
    uint64_t end;
};
Heap *open_heap(uint8_t *region, uint64_t bytes, uint64_t *status) {
    auto *h = reinterpret_cast<Heap *>(region);
    h->cursor = reinterpret_cast<uint64_t>(region) + sizeof(Heap);
    h->end = reinterpret_cast<uint64_t>(region) + bytes;
    *status = 0;
    return h;
}
[[gnu::noinline]] uint64_t alloc_typed(Heap *h, uint32_t tag, uint32_t n, sdmm_block *out) {
    const uint64_t bytes = uint64_t{n} * sdmm_tag_size(tag);
    const uint64_t at = h->cursor;
    if (bytes == 0 || bytes > h->end - at) {
        out->status = SDMM_ERR_OUT_OF_MEMORY;
        return SDMM_ERR_OUT_OF_MEMORY;
    }
    h->cursor = at + ((bytes + 7) & ~uint64_t{7});  // fresh memory: already zero
    out->tag = tag;
    out->status = SDMM_OK;
    out->len = n;
    out->handle = at;
    out->as.raw = at;
    return SDMM_OK;
}
[[gnu::noinline]] uint64_t free_typed(Heap *, const sdmm_block *) { return SDMM_OK; }
uint64_t live_blocks(Heap *) { return 0; }
#else
using Heap = sdmm_heap;
Heap *open_heap(uint8_t *region, uint64_t bytes, uint64_t *status) {
    // A fresh heap region per invocation, zero-filled by the runtime: sdmm
    // need not clear fresh memory again (SDMM_INIT_ZEROED).
    sdmm_heap *h = nullptr;
    *status = sdmm_heap_init_flags(region, bytes, SDMM_INIT_ZEROED, &h);
    return h;
}
[[gnu::noinline]] uint64_t alloc_typed(Heap *h, uint32_t tag, uint32_t n, sdmm_block *out) {
    // The typed entry points, chosen by tag (generated from the type table).
    switch (tag) {
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2) \
    case SDMM_TAG_##TAG:                               \
        return sdmm_alloc_##name##_into(h, n, out);
#include "sdmm_types.def"
#undef SDMM_TYPE
        default:
            return sdmm_alloc_tagged_into(h, tag, n, out);
    }
}
// By handle: the block's handle and tag say everything sdmm needs, and it
// validates them once (sdmm_free_ref also compares the element pointer).
[[gnu::noinline]] uint64_t free_typed(Heap *h, const sdmm_block *b) {
    return sdmm_free_handle(h, b->handle, b->tag);
}
uint64_t live_blocks(Heap *h) {
    sdmm_stats s;
    sdmm_heap_stats(h, &s);
    return s.live_blocks;
}
#endif

// Dummies with the allocator's signature: the benchmark's harness runs.
[[gnu::noinline]] uint64_t alloc_dummy(Heap *, uint32_t tag, uint32_t n, sdmm_block *out) {
    out->tag = tag;
    out->len = n;
    out->status = SDMM_OK;
    return SDMM_OK;
}
[[gnu::noinline]] uint64_t free_dummy(Heap *, const sdmm_block *b) {
    return b->status == SDMM_OK ? SDMM_OK : SDMM_ERR_INVALID_BLOCK;
}

// A typed request of 16..256 bytes: a pubkey array (1..8) or a u64 array (2..32).
void pick(uint64_t r, uint32_t *tag, uint32_t *n) {
    if ((r & 1) != 0) {
        *tag = SDMM_TAG_PUBKEY;
        *n = static_cast<uint32_t>(1 + ((r >> 1) & 7));
    } else {
        *tag = SDMM_TAG_U64;
        *n = static_cast<uint32_t>(2 + ((r >> 1) & 30));
    }
}

void set_return(uint64_t a, uint64_t b, uint64_t c) {
    const uint64_t out[3] = {a, b, c};
    sol_set_return_data(reinterpret_cast<const uint8_t *>(out), sizeof out);
}

// The demo workload: a window of 4 slots, each holding a pubkey array and a
// u64 array; every round drops the oldest slot and builds a new one, using
// the arrays (so the compiler cannot drop them).
uint64_t workload(Heap *h, uint64_t rounds) {
    sol_log_compute_units_();  // the runtime logs the CU left; the test reads both lines
    sdmm_block keys[4] = {};
    sdmm_block nums[4] = {};
    uint64_t ops = 0;
    uint64_t check = 0;
    for (uint64_t r = 0; r < rounds; ++r) {
        const uint64_t slot = r & 3;
        if (keys[slot].status == SDMM_OK && keys[slot].len != 0) {
            free_typed(h, &keys[slot]);
            free_typed(h, &nums[slot]);
            ops += 2;
        }
        const uint32_t nk = static_cast<uint32_t>(1 + (r & 7));
        const uint32_t nn = static_cast<uint32_t>(2 + ((r * 5) & 30));
        uint64_t st = alloc_typed(h, SDMM_TAG_PUBKEY, nk, &keys[slot]);
        if (st == SDMM_OK) st = alloc_typed(h, SDMM_TAG_U64, nn, &nums[slot]);
        if (st != SDMM_OK) {
            SOL_LOG("heap-demo: allocation failed; operations done, round:");
            sol_log_64_(ops, r, st, 0, 0);
            return kErrStatusBase + st;
        }
        ops += 2;
        // Fresh typed arrays are zero: prove it, then fill them.
        if (keys[slot].as.pubkey[nk - 1].bytes[31] != 0 || nums[slot].as.u64[nn - 1] != 0)
            return kErrWrongValue;
        keys[slot].as.pubkey[0].bytes[0] = static_cast<uint8_t>(r);
        for (uint32_t i = 0; i < nn; ++i) nums[slot].as.u64[i] = r + i;
        check += nums[slot].as.u64[nn - 1] + keys[slot].as.pubkey[0].bytes[0];
    }
    sol_log_compute_units_();
    SOL_LOG("heap-demo: workload done: operations, checksum");
    sol_log_64_(ops, check, 0, 0, 0);
    set_return(ops, check, live_blocks(h));
    return 0;
}

// Benchmark kinds (n operations each; CU are taken from the runtime by the
// caller, and per-operation figures come from differences between kinds and
// between two values of n, so fixed costs cancel):
//   0 harness of 1: dummy calls        1 n allocs of fresh memory, none freed
//   2 harness of 3: dummy calls        3 the same n allocs, then n frees (in
//                                        allocation order): 3 - 1 = the frees
//   4 steady state: a window of 16 live blocks; each step frees one and
//     allocates a new one of random type and size (reuses freed blocks)
//   5 harness of 4 (same window and steps, dummy calls)
// The blocks of kinds 0..3 are kept in an array allocated first from the
// heap itself (the same in 1 and 3, so it cancels).
uint64_t bench(Heap *h, uint64_t kind, uint64_t n, uint64_t *ops_out) {
    constexpr uint64_t kWindow = 16;
    Rng rng{0x9E3779B97F4A7C15ull};
    const bool real = kind == 1 || kind == 3 || kind == 4;
    auto *alloc = real ? alloc_typed : alloc_dummy;
    auto *release = real ? free_typed : free_dummy;
    uint64_t &ops = *ops_out;
    if (kind <= 3) {
        if (n == 0 || n > 4096) return kErrBadData;
        sdmm_block holder;
        const uint64_t st =
            alloc_typed(h, SDMM_TAG_U64, static_cast<uint32_t>(n * (sizeof(sdmm_block) / 8)), &holder);
        if (st != SDMM_OK) return kErrStatusBase + st;
        auto *held = reinterpret_cast<sdmm_block *>(holder.as.u64);
        for (uint64_t i = 0; i < n; ++i) {
            uint32_t tag = 0, cnt = 0;
            pick(rng.next(), &tag, &cnt);
            if (alloc(h, tag, cnt, &held[i]) != SDMM_OK) return kErrStatusBase + held[i].status;
            ops += 1;
        }
        if (kind >= 2)
            for (uint64_t i = 0; i < n; ++i) {
                if (release(h, &held[i]) != SDMM_OK) return kErrStatusBase + SDMM_ERR_CORRUPTED;
                ops += 1;
            }
        return 0;
    }
    sdmm_block blocks[kWindow] = {};
    for (uint64_t i = 0; i < kWindow; ++i) {
        uint32_t tag = 0, cnt = 0;
        pick(rng.next(), &tag, &cnt);
        if (alloc(h, tag, cnt, &blocks[i]) != SDMM_OK) return kErrStatusBase + blocks[i].status;
    }
    for (uint64_t i = 0; i < n; ++i) {
        const uint64_t r = rng.next();
        sdmm_block *b = &blocks[(r >> 40) & (kWindow - 1)];
        if (release(h, b) != SDMM_OK) return kErrStatusBase + SDMM_ERR_CORRUPTED;
        uint32_t tag = 0, cnt = 0;
        pick(r, &tag, &cnt);
        if (alloc(h, tag, cnt, b) != SDMM_OK) return kErrStatusBase + b->status;
        ops += 2;
    }
    return 0;
}

#ifndef HEAP_DEMO_BUMP
// Every type of the table: allocate through its typed entry point and through
// the run-time tag, write every byte, read it back, resolve the handle, free.
uint64_t all_types(Heap *h, uint32_t n) {
    uint64_t checked = 0;
    for (uint32_t tag = 1; tag < SDMM_TAG_COUNT; ++tag) {
        sdmm_block a, b, r;
        uint64_t st = alloc_typed(h, tag, n, &a);
        if (st == SDMM_OK) st = sdmm_alloc_tagged_into(h, tag, n, &b);
        if (st != SDMM_OK) return kErrStatusBase + st;
        const uint64_t bytes = uint64_t{n} * sdmm_tag_size(tag);
        if (a.tag != tag || a.len != n || b.tag != tag || bytes == 0) return kErrWrongValue;
        for (uint64_t i = 0; i < bytes; ++i) {
            if (a.as.u8[i] != 0 || b.as.u8[i] != 0) return kErrWrongValue;  // zero-filled
            a.as.u8[i] = static_cast<uint8_t>(i + tag);
        }
        st = sdmm_resolve_into(h, a.handle, tag, &r);
        if (st != SDMM_OK) return kErrStatusBase + st;
        for (uint64_t i = 0; i < bytes; ++i)
            if (r.as.u8[i] != static_cast<uint8_t>(i + tag)) return kErrWrongValue;
        st = free_typed(h, &a);
        if (st == SDMM_OK) st = free_typed(h, &b);
        if (st != SDMM_OK) return kErrStatusBase + st;
        checked += 1;
    }
    const uint64_t st = sdmm_heap_check(h);
    if (st != SDMM_OK || live_blocks(h) != 0)
        return kErrStatusBase + (st != SDMM_OK ? st : SDMM_ERR_CORRUPTED);
    set_return(checked, 0, 0);
    return 0;
}

// Bad input gets a status, and the heap stays intact.
uint64_t bad_input(Heap *h) {
    uint8_t st[16] = {};
    sdmm_block a, b, stale;
    st[0] = static_cast<uint8_t>(sdmm_alloc_u64_into(h, 0, &b));            // ZERO_COUNT
    st[1] = static_cast<uint8_t>(sdmm_alloc_u64_into(h, 0xFFFFFFFFu, &b));  // TOO_LARGE
    st[2] = static_cast<uint8_t>(sdmm_alloc_tagged_into(h, 200, 1, &b));    // TAG_MISMATCH
    st[3] = static_cast<uint8_t>(sdmm_alloc_u64_into(nullptr, 1, &b));      // INVALID_HEAP
    sdmm_alloc_u64_into(h, 4, &a);
    stale = a;
    sdmm_block wrong = a;
    wrong.tag = SDMM_TAG_PUBKEY;
    st[4] = static_cast<uint8_t>(sdmm_free_ref(h, &wrong));  // TAG_MISMATCH
    sdmm_block moved = a;
    moved.as.raw += 8;                                       // pointer and handle disagree
    st[5] = static_cast<uint8_t>(sdmm_free_ref(h, &moved));  // INVALID_BLOCK
    st[6] = static_cast<uint8_t>(sdmm_free_ref(h, &a));      // OK
    st[7] = static_cast<uint8_t>(sdmm_free_ref(h, &stale));  // DOUBLE_FREE
    sdmm_alloc_u64_into(h, 4, &b);                           // reuses the block
    st[8] = static_cast<uint8_t>(sdmm_resolve_into(h, stale.handle, SDMM_TAG_U64, &a));  // STALE_HANDLE
    st[9] = static_cast<uint8_t>(sdmm_resolve_into(h, b.handle, SDMM_TAG_I64, &a));      // TAG_MISMATCH
    st[10] =
        static_cast<uint8_t>(sdmm_resolve_into(h, 0xFFFFFFFFFFFFull, SDMM_TAG_U64, &a));  // INVALID_BLOCK
    // The one-validation frees refuse the same mistakes.
    sdmm_block c;
    sdmm_alloc_u64_into(h, 4, &c);
    st[11] = static_cast<uint8_t>(sdmm_free_handle(h, c.handle, SDMM_TAG_I64));   // TAG_MISMATCH
    st[12] = static_cast<uint8_t>(sdmm_free_ptr(h, c.as.u64 + 1, SDMM_TAG_U64));  // INVALID_BLOCK (interior)
    st[13] = static_cast<uint8_t>(sdmm_free_ptr(h, c.as.u64, SDMM_TAG_U64));      // OK
    st[14] = static_cast<uint8_t>(sdmm_free_handle(h, c.handle, SDMM_TAG_U64));   // DOUBLE_FREE
    st[15] = static_cast<uint8_t>(sdmm_heap_check(h));                            // OK
    sol_set_return_data(st, sizeof st);
    return 0;
}
#endif

uint64_t big(Heap *h, uint32_t n) {
    sdmm_block b;
    const uint64_t st = alloc_typed(h, SDMM_TAG_U64, n, &b);
    if (st != SDMM_OK) return kErrStatusBase + st;
    b.as.u64[n - 1] = 42;
    set_return(b.len, b.as.u64[n - 1], 0);
    return free_typed(h, &b) == SDMM_OK ? 0 : kErrWrongValue;
}

}  // namespace

extern "C" uint64_t entrypoint(const uint8_t *input) {
    SolParameters params;
    params.accounts = nullptr;
    sol_deserialize(input, &params, 0);
    const uint8_t *d = params.data;
    const uint64_t len = params.data_len;
    if (len < 5) return kErrBadData;
    uint64_t heap_bytes = sbf_le(d + 1, 4);
    if (heap_bytes == 0) heap_bytes = SOL_HEAP_DEFAULT_BYTES;
    if (heap_bytes > SOL_HEAP_MAX_BYTES) return kErrBadData;
    uint64_t status = 0;
    Heap *h = open_heap(SOL_HEAP_START, heap_bytes, &status);
    if (status != 0) return kErrStatusBase + status;
    switch (d[0]) {
        case 0:
            if (len < 9) return kErrBadData;
            return workload(h, sbf_le(d + 5, 4));
        case 1: {
            if (len < 10) return kErrBadData;
            uint64_t ops = 0;
            const uint64_t err = bench(h, d[5], sbf_le(d + 6, 4), &ops);
            set_return(ops, 0, 0);
            return err;
        }
#ifndef HEAP_DEMO_BUMP
        case 2:
            if (len < 9) return kErrBadData;
            return all_types(h, static_cast<uint32_t>(sbf_le(d + 5, 4)));
        case 3:
            return bad_input(h);
#endif
        case 4:
            if (len < 9) return kErrBadData;
            return big(h, static_cast<uint32_t>(sbf_le(d + 5, 4)));
        default:
            return kErrBadData;
    }
}
