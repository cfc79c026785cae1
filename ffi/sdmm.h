/*
 * sdmm.h -- the C contract of sdmm, a typed arena allocator.
 *
 * You ask a heap for `n` elements of a named type and get back a tagged union
 * (`sdmm_block`), never a `void *`:
 *
 *     sdmm_heap *heap;
 *     static uint64_t arena[4096];
 *     sdmm_heap_init(arena, sizeof arena, &heap);
 *     sdmm_block b = sdmm_alloc_u64(heap, 100);   // b.as.u64[0..99], zero-filled
 *     if (b.status == SDMM_OK) { b.as.u64[7] = 42; sdmm_free(heap, b); }
 *
 * All heap state lives inside the arena, links are 32-bit offsets from the
 * arena start, and every function runs in bounded time: sdmm_heap_check and
 * sdmm_heap_stats walk the heap, an allocation that finds no free block
 * first releases the recently freed blocks kept in exact-size caches (at
 * most SDMM_CACHE_LIMIT: 256 on hosts, 64 on SBF), and zero-fill and copies are linear
 * in the caller's request.
 *
 * Whatever bytes an arena holds, no call reads or writes outside
 * [arena, arena + len): damaged metadata is SDMM_ERR_CORRUPTED, not
 * followed (len as given to sdmm_heap_init or validated by attach).
 *
 * Two forms of every block-valued function:
 *   - by value (`sdmm_alloc_u64`, `sdmm_free`, ...): the host convenience layer;
 *   - pointer twins (`sdmm_alloc_u64_into`, `sdmm_free_ref`, ...): the portable
 *     core. Upstream clang cannot pass or return structs by value on BPF/SBF,
 *     so only the twins exist when compiling for those targets.
 */
#ifndef SDMM_H
#define SDMM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- element types (see sdmm_types.def) -------------------------------- */

/* 128-bit integers as two 64-bit halves, 8-byte aligned on every target:
 * C's __int128 and Rust's i128 disagree on alignment on some ABIs. */
typedef struct sdmm_u128 {
    uint64_t lo;
    uint64_t hi;
} sdmm_u128;
typedef struct sdmm_i128 {
    uint64_t lo;
    uint64_t hi; /* two's complement: the sign is the top bit of hi */
} sdmm_i128;
typedef struct sdmm_pubkey {
    uint8_t bytes[32];
} sdmm_pubkey;
typedef struct sdmm_hash {
    uint8_t bytes[32];
} sdmm_hash;
typedef struct sdmm_signature {
    uint8_t bytes[64];
} sdmm_signature;

/* Type tags: SDMM_TAG_NONE = 0, then one per table row in order. */
enum sdmm_tag_value {
    SDMM_TAG_NONE = 0,
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2) SDMM_TAG_##TAG,
#include "sdmm_types.def"
#undef SDMM_TYPE
    SDMM_TAG_COUNT /* one past the last tag */
};
typedef uint32_t sdmm_tag;

/* ---- statuses (see sdmm_status.def) ------------------------------------- */

enum sdmm_status_value {
#define SDMM_STATUS(NAME, value, message) SDMM_##NAME = value,
#include "sdmm_status.def"
#undef SDMM_STATUS
    SDMM_STATUS_COUNT
};
typedef uint32_t sdmm_status;

/* ---- the tagged union --------------------------------------------------- */

typedef union sdmm_block_data {
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2) c_type *name;
#include "sdmm_types.def"
#undef SDMM_TYPE
    uint64_t raw; /* keeps the union 8 bytes wide on every target */
} sdmm_block_data;

typedef struct sdmm_block {
    uint32_t tag;      /* sdmm_tag: which member of `as` is valid; SDMM_TAG_NONE on failure */
    uint32_t status;   /* sdmm_status: SDMM_OK, or why it failed */
    uint32_t len;      /* element count */
    uint32_t reserved; /* zero */
    uint64_t handle;   /* position-independent; 0 on failure. Bits 3-31: the block's offset
                          in the arena; 32-35: tag; 40-63: generation; 0-2 and 36-39: the
                          heap's salt. */
    sdmm_block_data as;
} sdmm_block;

/* The heap is the arena itself; the type is opaque. */
typedef struct sdmm_heap sdmm_heap;

typedef struct sdmm_stats {
    uint64_t capacity;       /* bytes available for blocks (arena minus control structures) */
    uint64_t allocated;      /* bytes in live blocks, headers included */
    uint64_t peak_allocated; /* high-water mark of the bytes taken from the heap: live blocks and
                                recently freed ones resting in its exact-size caches */
    uint64_t live_blocks;    /* blocks allocated and not yet freed */
    uint64_t largest_free;   /* largest number of bytes one allocation can get now */
    uint64_t oom_count;      /* allocations refused with SDMM_ERR_OUT_OF_MEMORY */
    uint64_t free_blocks;    /* number of free blocks (fragmentation) */
    uint64_t control_bytes;  /* fixed cost: header, class lists, block-start map */
} sdmm_stats;

/* Bytes of header in front of every block's elements. */
#define SDMM_BLOCK_HEADER_BYTES 8u
/* Smallest arena sdmm_heap_init accepts. */
#define SDMM_MIN_ARENA_BYTES 512u
/* Largest arena: offsets are 32-bit. */
#define SDMM_MAX_ARENA_BYTES 0xFFFFFFF8u

/* Flags of sdmm_heap_init_flags. */
#define SDMM_INIT_ZEROED                                   \
    1u /* the arena is known to be all zero (a fresh mmap, \
          the Solana heap region): fresh memory is not cleared again */

/* ---- functions: the portable core (every target) ------------------------ */

sdmm_status sdmm_heap_init(void *arena, size_t len, sdmm_heap **out);
sdmm_status sdmm_heap_init_flags(void *arena, size_t len, uint32_t flags, sdmm_heap **out);
/* Growth in place. sdmm_heap_init_reserve makes a heap of `len` bytes laid
 * out for `reserve` (class heads and a start map for every byte it may
 * reach: reserve/64 bytes of map, taken from the first `len`); the bytes past
 * `len` need not exist yet. sdmm_heap_grow moves its end to `new_len`
 * (<= reserve, SDMM_ERR_TOO_LARGE above): the free block at the end grows,
 * offsets and handles stay valid, O(1). The caller makes
 * [arena, arena + new_len) memory first (commits pages, maps them, asks the
 * runtime for a larger heap frame); touching bytes that are not memory is the
 * caller's fault, as for any arena. Growing by less than 16 bytes does
 * nothing. A heap made by sdmm_heap_init cannot grow (its reserve is its
 * length). */
sdmm_status sdmm_heap_init_reserve(void *arena, size_t len, size_t reserve, uint32_t flags, sdmm_heap **out);
sdmm_status sdmm_heap_grow(sdmm_heap *heap, size_t new_len);
/* Reopens a heap copied or mapped to a new address. Recomputes the whole
 * geometry from the recorded length (which must fit `len`) and refuses any
 * other; writes nothing, so read-only memory attaches. O(1); call
 * sdmm_heap_check for a full walk. */
sdmm_status sdmm_heap_attach(void *arena, size_t len, sdmm_heap **out);

/* Pointer twins: the result is written to *out (which may alias *block). */
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2) \
    sdmm_status sdmm_alloc_##name##_into(sdmm_heap *heap, uint32_t n, sdmm_block *out);
#include "sdmm_types.def"
#undef SDMM_TYPE
/* The same for a tag known only at run time (services, BPF maps). */
sdmm_status sdmm_alloc_tagged_into(sdmm_heap *heap, uint32_t tag, uint32_t n, sdmm_block *out);
sdmm_status sdmm_free_ref(sdmm_heap *heap, const sdmm_block *block);
/* Frees the live block a handle names, or the one whose elements start at
 * `elements`, validating it once (allocator adapters, BPF and Solana callers
 * that keep only a handle or a pointer). `expected_tag` must be the block's
 * tag. Statuses as for sdmm_free_ref. */
sdmm_status sdmm_free_handle(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag);
sdmm_status sdmm_free_ptr(sdmm_heap *heap, const void *elements, uint32_t expected_tag);
sdmm_status sdmm_resize_into(sdmm_heap *heap, const sdmm_block *block, uint32_t new_len, sdmm_block *out);
/* sdmm_resize_into for a caller that kept only the element pointer (allocator
 * adapters: GlobalAlloc::realloc, Allocator::grow): one validation, as for
 * sdmm_free_ptr. `expected_tag` must be the block's tag. */
sdmm_status sdmm_resize_ptr_into(sdmm_heap *heap, const void *elements, uint32_t expected_tag,
                                 uint32_t new_len, sdmm_block *out);
sdmm_status sdmm_resolve_into(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag, sdmm_block *out);
/* Claims: one owner per block, for bindings that hand out exclusive access
 * (Rust's `Block`). A claimed block is an ordinary live block -- it frees,
 * resizes (the claim moves with it) and resolves as before -- but
 * sdmm_claim_into refuses it with SDMM_ERR_CLAIMED until its claim is
 * dropped. sdmm_alloc_claimed_into is sdmm_alloc_tagged_into with the new
 * block born claimed; sdmm_claim_into is sdmm_resolve_into that also claims;
 * sdmm_unclaim drops the claim (SDMM_OK whether or not it was claimed).
 * The claim is one header bit: it costs a store, nothing on other calls. */
sdmm_status sdmm_alloc_claimed_into(sdmm_heap *heap, uint32_t tag, uint32_t n, sdmm_block *out);
sdmm_status sdmm_claim_into(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag, sdmm_block *out);
sdmm_status sdmm_unclaim(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag);
/* A zero-filled u8 block whose first byte is aligned to `align` (a power of
 * two) at the current address of the arena. For allocator adapters only. */
sdmm_status sdmm_alloc_aligned_into(sdmm_heap *heap, size_t n_bytes, size_t align, sdmm_block *out);
/* Like sdmm_alloc_aligned_into but leaves the bytes as they are (GlobalAlloc::alloc). */
sdmm_status sdmm_alloc_aligned_uninit_into(sdmm_heap *heap, size_t n_bytes, size_t align, sdmm_block *out);

/* The live block whose elements start at `elements`, for allocator adapters
 * (GlobalAlloc::dealloc, memory_resource::deallocate) that only get a pointer
 * back. Anything but a live block start of this heap is refused. */
sdmm_status sdmm_block_from_ptr_into(sdmm_heap *heap, const void *elements, uint32_t expected_tag,
                                     sdmm_block *out);

/* Releases the blocks kept in the exact-size caches (recently freed small
 * blocks, at most a fixed number) into the coalescing heap. Allocation does
 * this by itself before it reports out-of-memory; call it to see the heap
 * fully coalesced (e.g. one free block once every block is freed). */
sdmm_status sdmm_heap_trim(sdmm_heap *heap);
sdmm_status sdmm_heap_check(const sdmm_heap *heap);
void sdmm_heap_stats(const sdmm_heap *heap, sdmm_stats *out);
/* sdmm_heap_stats without the walk: O(1), from the counters the heap keeps.
 * Fills capacity, allocated, peak_allocated, live_blocks, oom_count and
 * control_bytes; largest_free and free_blocks (which need the walk) are 0. */
void sdmm_heap_counters(const sdmm_heap *heap, sdmm_stats *out);
/* sdmm_stats.allocated alone (bytes in live blocks, headers and rounding
 * included): O(1), for callers that charge each allocation to someone (the
 * memory service's quotas). 0 if `heap` is not a heap. */
uint64_t sdmm_heap_allocated(const sdmm_heap *heap);

/* ---- inspecting a heap block by block (tools, debuggers) ---------------- */
#define SDMM_BLOCK_FREE 0u   /* in the coalescing heap */
#define SDMM_BLOCK_LIVE 1u   /* allocated */
#define SDMM_BLOCK_CACHED 2u /* freed, resting in an exact-size cache */
typedef struct sdmm_block_info {
    uint64_t offset;  /* of the block's header from the arena start */
    uint64_t bytes;   /* the whole block, header included */
    uint64_t handle;  /* live blocks: their handle; else 0 */
    uint32_t tag;     /* live blocks: their tag; else SDMM_TAG_NONE */
    uint32_t len;     /* live blocks: element count; else 0 */
    uint32_t state;   /* SDMM_BLOCK_FREE, _LIVE or _CACHED */
    uint32_t claimed; /* live blocks: 1 if claimed (sdmm_claim_into) */
} sdmm_block_info;
/* The blocks in address order. Start with *cursor = 0; each call that
 * returns 1 fills *out and moves *cursor to the next block. Returns 0 at the
 * end, or where the heap's metadata is damaged (sdmm_heap_check tells which);
 * whatever the arena and the cursor hold, it reads nothing outside the
 * arena. O(1) per call. */
int sdmm_heap_next_block(const sdmm_heap *heap, uint64_t *cursor, sdmm_block_info *out);
const char *sdmm_status_str(uint32_t status);
/* Element size in bytes of a tag, 0 for SDMM_TAG_NONE or an unknown tag. */
uint32_t sdmm_tag_size(uint32_t tag);
const char *sdmm_tag_name(uint32_t tag);

/* ---- by-value convenience layer (hosts only) ---------------------------- */
#if !defined(__bpf__) && !defined(__BPF__) && !defined(__sbf__)
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2) \
    sdmm_block sdmm_alloc_##name(sdmm_heap *heap, uint32_t n);
#include "sdmm_types.def"
#undef SDMM_TYPE
sdmm_status sdmm_free(sdmm_heap *heap, sdmm_block block);
sdmm_block sdmm_resize(sdmm_heap *heap, sdmm_block block, uint32_t new_len);
sdmm_block sdmm_resolve(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag);
sdmm_block sdmm_alloc_aligned(sdmm_heap *heap, size_t n_bytes, size_t align);
#endif

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SDMM_H */
