// sdmm_bpf.cpp -- the allocator core and the C boundary compiled for the
// Linux kernel BPF target, behind the scalar-only API of sdmm_bpf.h.
//
// Built with clang++ -target bpf -g (BTF is what lets the kernel verify each
// global function once, separately). This translation unit includes the core
// sources rather than linking them so that:
//  - the verifier-facing hooks (SDMM_OFFSET_MASK, SDMM_ZERO, SDMM_COPY) are
//    defined before the core sees platform.hpp;
//  - every core function gets internal linkage (the pragma below): libbpf's
//    static linker needs BTF for every global ELF symbol and finds it by name,
//    which C++-mangled names would not match; internal functions are inlined
//    or emitted as static subprograms;
//  - every core function is also `always_inline`: the whole alloc/free path is
//    inlined into each API function, with the heap known to be the (8-aligned)
//    pool, so checks such as "heap is 8-aligned" fold away instead of reaching
//    the verifier as arithmetic on a pointer.
//
// Build option: SDMM_BPF_LOCKED=1 (the default build) makes every call that
// changes the heap take an atomic try-lock (a word alone in .data.sdmm_lock):
// compare-and-swap 0 -> 1, or return SDMM_ERR_BUSY at once if another CPU,
// or a program that interrupted this one on the same CPU, holds it. Nothing
// spins, so nesting cannot deadlock, and no bpf_spin_lock is involved, so
// every program type that may call global functions may use it (tracing
// programs may not take a bpf_spin_lock). SDMM_BPF_LOCKED=0: no lock, for one
// CPU at a time.
#include <linux/types.h>
#include <stddef.h>
#include <stdint.h>

#include "sdmm_bpf.h"

namespace sdmm_bpf {

constexpr __u64 kMask = SDMM_BPF_POOL_MASK;

// bpf_loop (helper 181, kernel >= 5.17): a loop the verifier checks once
// whatever the count. Declared here because libbpf's bpf_helpers.h is C only.
using LoopFn = long (*)(__u32 nr_loops, void *callback, void *ctx, __u64 flags);
inline long bpf_loop(__u32 nr_loops, long (*callback)(__u32, void *), void *ctx) {
    return reinterpret_cast<LoopFn>(181)(nr_loops, reinterpret_cast<void *>(callback), ctx, 0);
}

// Offset of a pointer the core made as `pool + (off & mask)`; the compiler
// folds the subtraction back to the masked offset (no pointer arithmetic
// reaches the verifier).
inline __u64 offset_of(const void *p) {
    return static_cast<__u64>(static_cast<const __u8 *>(p) - sdmm_bpf_pool);
}
// 8 bytes at a masked offset: with SDMM_BPF_SLACK >= 64 the verifier proves
// `pool + (off & mask) + k`, k <= 56, in bounds.
inline __u64 *words_at(__u64 off) { return reinterpret_cast<__u64 *>(sdmm_bpf_pool + (off & kMask)); }

struct Span {
    __u64 dst;
    __u64 src;
};

// Callbacks of bpf_loop: one 64-byte chunk, or one byte, per iteration.
static long zero_chunk(__u32 i, void *ctx) {
    __u64 *w = words_at(static_cast<Span *>(ctx)->dst + (__u64{i} << 6));
    w[0] = 0, w[1] = 0, w[2] = 0, w[3] = 0, w[4] = 0, w[5] = 0, w[6] = 0, w[7] = 0;
    return 0;
}
static long zero_byte(__u32 i, void *ctx) {
    sdmm_bpf_pool[(static_cast<Span *>(ctx)->dst + i) & kMask] = 0;
    return 0;
}
static long copy_chunk(__u32 i, void *ctx) {
    const Span *s = static_cast<Span *>(ctx);
    __u64 *d = words_at(s->dst + (__u64{i} << 6));
    const __u64 *from = words_at(s->src + (__u64{i} << 6));
    d[0] = from[0], d[1] = from[1], d[2] = from[2], d[3] = from[3];
    d[4] = from[4], d[5] = from[5], d[6] = from[6], d[7] = from[7];
    return 0;
}
static long copy_byte(__u32 i, void *ctx) {
    const Span *s = static_cast<Span *>(ctx);
    sdmm_bpf_pool[(s->dst + i) & kMask] = sdmm_bpf_pool[(s->src + i) & kMask];
    return 0;
}

}  // namespace sdmm_bpf

// Zero-fill and copy are global functions of their own: the verifier checks
// their few paths once, instead of once per path of every allocation path
// that reaches them (that multiplication was ~20 % of alloc's verification).
// Whole 64-byte chunks go through bpf_loop (which the verifier inlines into a
// plain loop), the last < 64 bytes are stored inline. Unaligned or odd sizes
// (only resize's growth and copies of u8/u16/u32 blocks) go byte by byte.
// The common case, a small element zero-fill, does not call this at all (see
// zero_small below).
extern "C" __attribute__((noinline)) __u32 sdmm_bpf_zero_range(__u64 dst, __u64 bytes) {
    using namespace sdmm_bpf;
    Span span{dst, 0};
    if (((dst | bytes) & 7) != 0) {
        bpf_loop(static_cast<__u32>(bytes), zero_byte, &span);
        return 0;
    }
    const __u64 chunks = bytes >> 6;
    if (chunks != 0) bpf_loop(static_cast<__u32>(chunks), zero_chunk, &span);
    const __u64 tail = bytes & 63;
    __u64 *w = words_at(dst + (chunks << 6));
    if (tail > 0) w[0] = 0;
    if (tail > 8) w[1] = 0;
    if (tail > 16) w[2] = 0;
    if (tail > 24) w[3] = 0;
    if (tail > 32) w[4] = 0;
    if (tail > 40) w[5] = 0;
    if (tail > 48) w[6] = 0;
    return 0;
}

// Copy between two non-overlapping ranges (resize moving a block).
extern "C" __attribute__((noinline)) __u32 sdmm_bpf_copy_range(__u64 dst, __u64 src, __u64 bytes) {
    using namespace sdmm_bpf;
    Span span{dst, src};
    if (((dst | src | bytes) & 7) == 0) {
        const __u64 chunks = bytes >> 6;
        if (chunks != 0) bpf_loop(static_cast<__u32>(chunks), copy_chunk, &span);
        span.dst += chunks << 6;
        span.src += chunks << 6;
        bytes &= 63;
    }
    if (bytes != 0) bpf_loop(static_cast<__u32>(bytes), copy_byte, &span);
    return 0;
}

#ifndef SDMM_BPF_ZERO_INLINE_MAX
#define SDMM_BPF_ZERO_INLINE_MAX 32
#endif
namespace sdmm_bpf {
// Zero-fill without a call for up to 32 aligned bytes (a small block's
// elements, a free block's header): every BPF-to-BPF call costs a return
// thunk on CPUs with the SRSO mitigation; larger or odd ranges call
// sdmm_bpf_zero_range.
[[gnu::always_inline]] inline void zero(__u64 dst, __u64 bytes) {
    if (((dst | bytes) & 7) == 0 && bytes <= SDMM_BPF_ZERO_INLINE_MAX) {
        __u64 *w = words_at(dst);
        if (bytes > 0) w[0] = 0;
        if (bytes > 8) w[1] = 0;
        if (bytes > 16) w[2] = 0;
        if (bytes > 24) w[3] = 0;
        return;
    }
    sdmm_bpf_zero_range(dst, bytes);
}
}  // namespace sdmm_bpf

// The hooks the core reads from platform.hpp.
#define SDMM_OFFSET_MASK ((unsigned long long)SDMM_BPF_POOL_MASK)
#define SDMM_ZERO(dst, bytes) ::sdmm_bpf::zero(::sdmm_bpf::offset_of(dst), (bytes))
#define SDMM_COPY(dst, src, bytes) \
    sdmm_bpf_copy_range(::sdmm_bpf::offset_of(dst), ::sdmm_bpf::offset_of(src), (bytes))

#include "sdmm_bpf_core_config.h"

// Parts of the contract the BPF API does not expose (the walks, the aligned
// adapters) are then simply not emitted: hence -Wunused-function is off here.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wunused-function"
#pragma clang attribute push(__attribute__((internal_linkage, always_inline)), apply_to = function)
#pragma clang attribute push(__attribute__((internal_linkage)), apply_to = variable(is_global))
#include "../cpp/core/heap.cpp"
#include "../ffi/sdmm.cpp"
#pragma clang attribute pop
#pragma clang attribute pop
#pragma clang diagnostic pop

// ---- the pool and the API -------------------------------------------------------

extern "C" {

__attribute__((section(SDMM_BPF_POOL_SECTION),
               aligned(8))) __u8 sdmm_bpf_pool[SDMM_BPF_POOL_BYTES + SDMM_BPF_SLACK];

}  // extern "C"

namespace sdmm_bpf {
inline sdmm_heap *heap() { return reinterpret_cast<sdmm_heap *>(sdmm_bpf_pool); }

// A handle or a status, as sdmm_bpf.h describes.
inline __u64 handle_or_status(__u32 status, const sdmm_block &b) {
    return status == SDMM_OK ? b.handle : status;
}

// The block a BPF caller means by (handle, tag): what a C caller holding the
// sdmm_block would pass to sdmm_free_ref. The core still checks everything:
// offset range, block start, generation, tag.
inline sdmm_block block_of(__u64 handle, __u32 tag) {
    sdmm_block b{};
    b.tag = tag;
    b.handle = handle;
    b.as.raw = reinterpret_cast<uint64_t>(sdmm_bpf_pool + (handle & 0xFFFFFFF8u) + SDMM_BLOCK_HEADER_BYTES);
    return b;
}
}  // namespace sdmm_bpf

#if SDMM_BPF_LOCKED
// The lock word, alone in its section (its own array map): 0 free, 1 held.
extern "C" {
__attribute__((section(".data.sdmm_lock"), aligned(8))) __u32 sdmm_bpf_lock;
}
namespace sdmm_bpf {
// One compare-and-swap (a full barrier): true if this call now holds the heap.
inline bool try_lock() { return __sync_val_compare_and_swap(&sdmm_bpf_lock, 0u, 1u) == 0; }
// Release: an atomic exchange (a full barrier, so every write to the heap is
// visible before the word reads 0). -mcpu=v4 has store-release (kernel >=
// 6.15), a plain store on x86; v3, the flags used here, does not.
inline void unlock() {
#if defined(__BPF_CPU_VERSION__) && __BPF_CPU_VERSION__ >= 4
    __atomic_store_n(&sdmm_bpf_lock, 0u, __ATOMIC_RELEASE);
#else
    __sync_lock_test_and_set(&sdmm_bpf_lock, 0u);
#endif
}
}  // namespace sdmm_bpf
// `return expr;` with the lock held while expr runs, or SDMM_ERR_BUSY.
#define SDMM_BPF_RETURN_LOCKED(type, expr)                                    \
    do {                                                                      \
        if (!::sdmm_bpf::try_lock()) return static_cast<type>(SDMM_ERR_BUSY); \
        const type result_ = (expr);                                          \
        ::sdmm_bpf::unlock();                                                 \
        return result_;                                                       \
    } while (0)
#else
#define SDMM_BPF_RETURN_LOCKED(type, expr) return (expr)
#endif

namespace sdmm_bpf {
[[gnu::always_inline]] inline __u32 init(__u32 flags) {
    sdmm_heap *h = nullptr;
    return sdmm_heap_init_flags(sdmm_bpf_pool, SDMM_BPF_POOL_BYTES, flags, &h);
}
[[gnu::always_inline]] inline __u64 alloc(__u32 tag, __u32 n) {
    sdmm_block b;
    const __u32 st = sdmm_alloc_tagged_into(heap(), tag, n, &b);
    return handle_or_status(st, b);
}
// One validation: the core locates the block from the handle alone.
[[gnu::always_inline]] inline __u32 free(__u64 handle, __u32 tag) {
    return sdmm_free_handle(heap(), handle, tag);
}
[[gnu::always_inline]] inline __u64 resolve(__u64 handle, __u32 tag) {
    sdmm_block b;
    const __u32 st = sdmm_resolve_into(heap(), handle, tag, &b);
    if (st != SDMM_OK) return st;
    return (__u64{b.len} << 32) | ((handle & 0xFFFFFFF8u) + SDMM_BLOCK_HEADER_BYTES);
}
[[gnu::always_inline]] inline __u64 resize(__u64 handle, __u32 tag, __u32 new_len) {
    const sdmm_block b = block_of(handle, tag);
    sdmm_block out;
    const __u32 st = sdmm_resize_into(heap(), &b, new_len, &out);
    return handle_or_status(st, out);
}
}  // namespace sdmm_bpf

#define SDMM_BPF_API extern "C" __attribute__((noinline, flatten))

SDMM_BPF_API __u32 sdmm_bpf_init(__u32 flags) { SDMM_BPF_RETURN_LOCKED(__u32, sdmm_bpf::init(flags)); }

SDMM_BPF_API __u32 sdmm_bpf_ready(void) {
    return sdmm::core::heap_ok(sdmm_bpf::heap()) ? SDMM_OK : SDMM_ERR_INVALID_HEAP;
}

SDMM_BPF_API __u64 sdmm_bpf_alloc(__u32 tag, __u32 n) {
    SDMM_BPF_RETURN_LOCKED(__u64, sdmm_bpf::alloc(tag, n));
}

SDMM_BPF_API __u32 sdmm_bpf_free(__u64 handle, __u32 tag) {
    SDMM_BPF_RETURN_LOCKED(__u32, sdmm_bpf::free(handle, tag));
}

// Without the lock: resolve only reads (so `_get` never sees SDMM_ERR_BUSY).
// Every read stays inside the pool; what it says about a block another CPU
// is freeing at that very moment may be either answer -- that is the callers'
// race, as it is for any use of a block being freed.
SDMM_BPF_API __u64 sdmm_bpf_resolve(__u64 handle, __u32 tag) { return sdmm_bpf::resolve(handle, tag); }

SDMM_BPF_API __u64 sdmm_bpf_resize(__u64 handle, __u32 tag, __u32 new_len) {
    SDMM_BPF_RETURN_LOCKED(__u64, sdmm_bpf::resize(handle, tag, new_len));
}

// The typed calls (sdmm_bpf_alloc_u64, ...) are inline wrappers in
// sdmm_bpf.h around the two calls above: one global call per operation, and
// one allocator verified once whichever types a program uses.
