/*
 * sdmm_bpf.h -- sdmm inside a Linux kernel eBPF program.
 *
 * The allocator core (cpp/core/heap.cpp) and the C boundary (ffi/sdmm.cpp)
 * are compiled for `-target bpf` into bpf/sdmm_bpf.o (see bpf/sdmm_bpf.cpp
 * and cmake/sdmm_bpf.cmake); a BPF program written in C includes this header
 * and is linked with that object by libbpf's static linker:
 *
 *     bpftool gen object prog.linked.o prog.bpf.o sdmm_bpf.o
 *
 * Why the API looks the way it does (the verifier's rules, measured on this
 * machine, see shared/notes/kernel-bpf.md):
 *  - every call below is a *global* BPF function: the verifier checks it once,
 *    on its own, instead of once per call site (100 inlined alloc/free pairs
 *    exceed the 1M-instruction limit; 100 calls cost a few instructions each);
 *  - global functions take and return scalars only, so an allocation returns
 *    a 64-bit handle, never a pointer;
 *  - a pointer into the pool is made on the caller's side by the inline
 *    accessors below, as `pool + (offset & MASK)` with a pool that has
 *    SDMM_BPF_SLACK spare bytes after its power-of-two size, which the
 *    verifier can prove in bounds for any offset.
 *
 * Concurrency: in the default build (sdmm_bpf.o) every call that changes the
 * heap takes an atomic try-lock and returns SDMM_ERR_BUSY, without waiting,
 * while another CPU (or a program that interrupted this one on the same CPU)
 * is inside the heap: the caller retries or gives up. No bpf_spin_lock, so
 * every program type that may call global functions can use it (XDP, tc,
 * syscall, kprobe, tracepoint, raw_tp, fentry...). sdmm_bpf_resolve (and the
 * `_get` accessors) only read and take no lock. sdmm_bpf_unlocked.o has no
 * lock at all: one CPU at a time (see bpf/README.md).
 *
 * Results: a call returning __u64 gives either a value whose upper 32 bits
 * are non-zero (a handle: generation << 40 | tag << 32 | offset; or, for
 * resolve, len << 32 | offset) or an sdmm status (< 2^32, never SDMM_OK).
 * Statuses are those of the C contract (ffi/sdmm_status.def).
 */
#ifndef SDMM_BPF_H
#define SDMM_BPF_H

#include <linux/types.h>

/* Pool size: a power of two (the mask is what the verifier sees). A program
 * may choose another size by defining SDMM_BPF_POOL_LOG2 for both objects. */
#ifndef SDMM_BPF_POOL_LOG2
#define SDMM_BPF_POOL_LOG2 16
#endif
#define SDMM_BPF_POOL_BYTES (1u << SDMM_BPF_POOL_LOG2)
#define SDMM_BPF_POOL_MASK (SDMM_BPF_POOL_BYTES - 1u)
/* Spare bytes after the pool: the largest element (a signature) read at the
 * largest masked offset stays inside the map value. The heap never uses them. */
#define SDMM_BPF_SLACK 64u
/* The pool lives alone in this section (its own array map), so the bounds
 * the verifier proves are the pool's, not those of neighbouring globals. */
#define SDMM_BPF_POOL_SECTION ".data.sdmm_pool"

/* A call's result is a handle (or resolve's len|offset), not a status. */
#define SDMM_BPF_IS_VALUE(r) (((__u64)(r) >> 32) != 0)

#ifdef __cplusplus
extern "C" {
#endif

/* The pool, defined in sdmm_bpf.o. */
extern __u8 sdmm_bpf_pool[SDMM_BPF_POOL_BYTES + SDMM_BPF_SLACK];

/* ---- global functions (verified once each) ------------------------------- */

/* Makes the pool a fresh heap. flags: 0, or SDMM_INIT_ZEROED when the pool is
 * known to be all zero (just loaded) so fresh memory is not cleared twice. */
__u32 sdmm_bpf_init(__u32 flags);
/* SDMM_OK when the pool holds an initialised heap (the magic is in place). */
__u32 sdmm_bpf_ready(void);

/* n zero-filled elements of type `tag` (SDMM_TAG_*): a handle or a status.
 * The typed forms sdmm_bpf_alloc_<type>(n) are inline wrappers (below). */
__u64 sdmm_bpf_alloc(__u32 tag, __u32 n);
/* Frees the live block `handle` names if it is of type `tag`, validating it
 * once: a status. Typed forms: sdmm_bpf_free_<type>(handle). */
__u32 sdmm_bpf_free(__u64 handle, __u32 tag);
/* Checks a handle (live, right tag): len << 32 | offset of the elements, or a
 * status (SDMM_ERR_STALE_HANDLE for a freed or reused block, ...). */
__u64 sdmm_bpf_resolve(__u64 handle, __u32 tag);
/* Changes the element count, keeping the contents: the (possibly new)
 * handle, or a status (the old handle then stays valid). */
__u64 sdmm_bpf_resize(__u64 handle, __u32 tag, __u32 new_len);

/* Internal: the core's zero-fill and copy hooks (offsets into the pool). */
__u32 sdmm_bpf_zero_range(__u64 dst, __u64 bytes);
__u32 sdmm_bpf_copy_range(__u64 dst, __u64 src, __u64 bytes);

#ifdef __cplusplus
} /* extern "C" */
#endif

/* ---- inline helpers (caller side) ---------------------------------------- */

#ifndef __cplusplus
#include "sdmm.h"

static inline __attribute__((always_inline)) __u32 sdmm_bpf_status(__u64 result) {
    return SDMM_BPF_IS_VALUE(result) ? SDMM_OK : (__u32)result;
}

/* Typed allocation and free, one pair per row of ffi/sdmm_types.def: inline,
 * so each costs one global call (the tagged one), not two. */
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2)                                  \
    static inline __attribute__((always_inline)) __u64 sdmm_bpf_alloc_##name(__u32 n) { \
        return sdmm_bpf_alloc(SDMM_TAG_##TAG, n);                                       \
    }                                                                                   \
    static inline __attribute__((always_inline)) __u32 sdmm_bpf_free_##name(__u64 h) {  \
        return sdmm_bpf_free(h, SDMM_TAG_##TAG);                                        \
    }
#include "sdmm_types.def"
#undef SDMM_TYPE
/* Offset of a block's header in the pool: bits 3-31 of a handle (bits 0-2
 * carry the heap's salt, see sdmm.h). */
static inline __attribute__((always_inline)) __u32 sdmm_bpf_offset(__u64 handle) {
    return (__u32)handle & ~7u;
}

/*
 * Accessors, generated from the type table:
 *
 *   sdmm_bpf_<name>_at(handle, i)   pointer to element i of the block; no
 *                                   liveness or length check (cheap), but
 *                                   always inside the pool: memory safety is
 *                                   the verifier's, correctness the caller's;
 *   sdmm_bpf_<name>_get(handle, i)  checked: NULL unless the handle is live,
 *                                   of this type and i < len (one global call).
 *
 * The masked offset is passed through an empty asm so the compiler cannot
 * fold the mask into something the verifier no longer recognises as bounded.
 * The mask also clears the low bits an element of the type never has
 * (payloads are 8-aligned): the verifier then knows the pointer is aligned,
 * which it demands for atomic operations (__sync_fetch_and_add on a counter).
 */
#define SDMM_BPF_ELEMENT_MASK(size_log2) \
    (SDMM_BPF_POOL_MASK & ~((1u << ((size_log2) < 3 ? (size_log2) : 3)) - 1u))
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2)                                                      \
    static inline __attribute__((always_inline)) c_type *sdmm_bpf_##name##_at(__u64 handle, __u32 index) {  \
        __u64 off =                                                                                         \
            ((__u64)sdmm_bpf_offset(handle) + SDMM_BLOCK_HEADER_BYTES + ((__u64)index << size_log2)) &      \
            SDMM_BPF_ELEMENT_MASK(size_log2);                                                               \
        asm volatile("" : "+r"(off));                                                                       \
        return (c_type *)(sdmm_bpf_pool + off);                                                             \
    }                                                                                                       \
    static inline __attribute__((always_inline)) c_type *sdmm_bpf_##name##_get(__u64 handle, __u32 index) { \
        __u64 r = sdmm_bpf_resolve(handle, SDMM_TAG_##TAG);                                                 \
        if (!SDMM_BPF_IS_VALUE(r) || index >= (r >> 32)) return 0;                                          \
        return sdmm_bpf_##name##_at(handle, index);                                                         \
    }
#include "sdmm_types.def"
#undef SDMM_TYPE
#endif /* !__cplusplus */

#endif /* SDMM_BPF_H */
