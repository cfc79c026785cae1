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
// Build options (-D...=1):
//  SDMM_BPF_LOCKED            every call holds a bpf_spin_lock (in its own
//                             section, .data.sdmm_lock) around the core, so
//                             programs running on several CPUs at once can
//                             share the pool. Nothing may be called under the
//                             lock, so zero-fill and copy are then inline
//                             may_goto loops instead of bpf_loop.
//  SDMM_BPF_SPECIALIZE_TYPES  a whole allocator inlined per type (see the end).
#include <linux/bpf.h>  // struct bpf_spin_lock
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

// may_goto (kernel >= 6.9): a loop with no call in it that the verifier
// accepts without a constant bound (it converges in a couple of iterations,
// the masked addresses having the same range every time). The kernel ends such
// a loop only after millions of iterations in one run; ours run at most
// pool/8 times. The form of bpf_experimental.h's can_loop.
#define SDMM_BPF_CAN_LOOP                                       \
    ({                                                          \
        __label__ l_break, l_continue;                          \
        bool more_ = true;                                      \
        asm volatile goto("may_goto %l[l_break]" :: ::l_break); \
        goto l_continue;                                        \
    l_break:                                                    \
        more_ = false;                                          \
    l_continue:;                                                \
        more_;                                                  \
    })

// 8-aligned word at a masked offset (the mask keeps the alignment visible
// to the compiler, so it stores whole words).
inline __u64 *aligned_word_at(__u64 off) {
    return reinterpret_cast<__u64 *>(sdmm_bpf_pool + (off & (kMask & ~__u64{7})));
}

// The cursors are re-masked every step (and the empty asm stops clang from
// keeping an unmasked running sum instead) so their range is the same in every
// iteration: the verifier then sees the loop converge. The counters are only
// compared with unknown values, so the verifier does not track them exactly.
[[gnu::always_inline]] inline void zero_inline(__u64 dst, __u64 bytes) {
    __u64 at = dst & kMask;
    if (((dst | bytes) & 7) == 0) {
        for (__u64 n = bytes >> 3; n != 0 && SDMM_BPF_CAN_LOOP; --n) {
            *aligned_word_at(at) = 0;
            at = (at + 8) & kMask;
            asm volatile("" : "+r"(at));  // keep the masked value, not a running sum
        }
    } else {
        for (__u64 n = bytes; n != 0 && SDMM_BPF_CAN_LOOP; --n) {
            sdmm_bpf_pool[at] = 0;
            at = (at + 1) & kMask;
            asm volatile("" : "+r"(at));  // keep the masked value, not a running sum
        }
    }
}

[[gnu::always_inline]] inline void copy_inline(__u64 dst, __u64 src, __u64 bytes) {
    __u64 to = dst & kMask, from = src & kMask;
    if (((dst | src | bytes) & 7) == 0) {
        for (__u64 n = bytes >> 3; n != 0 && SDMM_BPF_CAN_LOOP; --n) {
            *aligned_word_at(to) = *aligned_word_at(from);
            to = (to + 8) & kMask;
            asm volatile("" : "+r"(to));  // keep the masked value, not a running sum
            from = (from + 8) & kMask;
            asm volatile("" : "+r"(from));  // keep the masked value, not a running sum
        }
    } else {
        for (__u64 n = bytes; n != 0 && SDMM_BPF_CAN_LOOP; --n) {
            sdmm_bpf_pool[to] = sdmm_bpf_pool[from];
            to = (to + 1) & kMask;
            asm volatile("" : "+r"(to));  // keep the masked value, not a running sum
            from = (from + 1) & kMask;
            asm volatile("" : "+r"(from));  // keep the masked value, not a running sum
        }
    }
}

}  // namespace sdmm_bpf

// Zero-fill and copy are global functions of their own: the verifier checks
// their few paths once, instead of once per path of every allocation path
// that reaches them (that multiplication was ~20 % of alloc's verification).
// Whole 64-byte chunks go through bpf_loop (which the verifier inlines into a
// plain loop), the last < 64 bytes -- everything, for the small blocks that are
// the common case -- are stored inline. Unaligned or odd sizes (only resize's
// growth and copies of u8/u16/u32 blocks) go byte by byte.
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

// The hooks the core reads from platform.hpp.
#define SDMM_OFFSET_MASK ((unsigned long long)SDMM_BPF_POOL_MASK)
#if SDMM_BPF_LOCKED
#define SDMM_ZERO(dst, bytes) ::sdmm_bpf::zero_inline(::sdmm_bpf::offset_of(dst), (bytes))
#define SDMM_COPY(dst, src, bytes) \
    ::sdmm_bpf::copy_inline(::sdmm_bpf::offset_of(dst), ::sdmm_bpf::offset_of(src), (bytes))
#else
#define SDMM_ZERO(dst, bytes) sdmm_bpf_zero_range(::sdmm_bpf::offset_of(dst), (bytes))
#define SDMM_COPY(dst, src, bytes) \
    sdmm_bpf_copy_range(::sdmm_bpf::offset_of(dst), ::sdmm_bpf::offset_of(src), (bytes))
#endif

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
    b.as.raw = reinterpret_cast<uint64_t>(sdmm_bpf_pool + (handle & 0xFFFFFFFFu) + SDMM_BLOCK_HEADER_BYTES);
    return b;
}
}  // namespace sdmm_bpf


#if SDMM_BPF_LOCKED
// The lock, alone in its section (a map value may hold one bpf_spin_lock).
extern "C" {
__attribute__((section(".data.sdmm_lock"))) struct bpf_spin_lock sdmm_bpf_lock;
}
namespace sdmm_bpf {
// Helpers 93 and 94. Between them the verifier allows no call at all, which
// is why the whole core is inlined into each locked API function.
inline void lock() { reinterpret_cast<long (*)(struct bpf_spin_lock *)>(93)(&sdmm_bpf_lock); }
inline void unlock() { reinterpret_cast<long (*)(struct bpf_spin_lock *)>(94)(&sdmm_bpf_lock); }
}  // namespace sdmm_bpf
// `return expr;` with the lock held while expr runs.
#define SDMM_BPF_RETURN_LOCKED(type, expr) \
    do {                                   \
        ::sdmm_bpf::lock();                \
        const type result_ = (expr);       \
        ::sdmm_bpf::unlock();              \
        return result_;                    \
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
[[gnu::always_inline]] inline __u32 free(__u64 handle, __u32 tag) {
    const sdmm_block b = block_of(handle, tag);
    return sdmm_free_ref(heap(), &b);
}
[[gnu::always_inline]] inline __u64 resolve(__u64 handle, __u32 tag) {
    sdmm_block b;
    const __u32 st = sdmm_resolve_into(heap(), handle, tag, &b);
    if (st != SDMM_OK) return st;
    return (__u64{b.len} << 32) | ((handle & 0xFFFFFFFFu) + SDMM_BLOCK_HEADER_BYTES);
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

SDMM_BPF_API __u64 sdmm_bpf_resolve(__u64 handle, __u32 tag) {
    SDMM_BPF_RETURN_LOCKED(__u64, sdmm_bpf::resolve(handle, tag));
}

SDMM_BPF_API __u64 sdmm_bpf_resize(__u64 handle, __u32 tag, __u32 new_len) {
    SDMM_BPF_RETURN_LOCKED(__u64, sdmm_bpf::resize(handle, tag, new_len));
}

// Typed calls, two ways (chosen when sdmm_bpf.o is compiled):
//  - default: thin, each forwards to the tagged call with its constant tag.
//    The verifier checks sdmm_bpf_alloc/free once whichever types a program
//    uses, and the object holds one allocator (21 KB of .text);
//  - SDMM_BPF_SPECIALIZE_TYPES=1: a whole allocator inlined per type, the tag
//    folded in. About 8 ns faster per alloc+free pair here, but every type a
//    program uses is verified (and loaded) separately, and the object holds 26
//    copies (118 KB of .text; a program loads only the ones it calls).
#if SDMM_BPF_SPECIALIZE_TYPES
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2)                         \
    SDMM_BPF_API __u64 sdmm_bpf_alloc_##name(__u32 n) {                        \
        SDMM_BPF_RETURN_LOCKED(__u64, sdmm_bpf::alloc(SDMM_TAG_##TAG, n));     \
    }                                                                          \
    SDMM_BPF_API __u32 sdmm_bpf_free_##name(__u64 handle) {                    \
        SDMM_BPF_RETURN_LOCKED(__u32, sdmm_bpf::free(handle, SDMM_TAG_##TAG)); \
    }
#else
#define SDMM_BPF_THIN extern "C" __attribute__((noinline))
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2)                                               \
    SDMM_BPF_THIN __u64 sdmm_bpf_alloc_##name(__u32 n) { return sdmm_bpf_alloc(SDMM_TAG_##TAG, n); } \
    SDMM_BPF_THIN __u32 sdmm_bpf_free_##name(__u64 handle) { return sdmm_bpf_free(handle, SDMM_TAG_##TAG); }
#endif
#include "sdmm_types.def"
#undef SDMM_TYPE
