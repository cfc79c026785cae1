/*
 * memory_service_layout.h -- the data layout of a memory-service heap
 * account, shared by the SBF program (memory_service.cpp) and the `sdmm`
 * command-line tool (cli/), which finds the arena and the block owners from
 * it. Freestanding C: <stdint.h> only.
 *
 *   [0, 64)                       sdmm_svc_header
 *   [64, 64 + 88 * slots)         sdmm_svc_owner[slots]: the owner table
 *   [arena_offset, data_len)      the sdmm heap (sdmm_heap_init / _attach)
 *
 * arena_offset = 64 + 88 * slots (a multiple of 8). All integers are
 * little-endian. Every live block the service allocates starts with a prefix
 * of sdmm_svc_prefix_elements(element size) elements of its own type whose
 * first 4 bytes hold the index of its owner's slot (u32); the caller's
 * elements follow the prefix. An owner's `used` counts the bytes of its live
 * blocks as the heap counts them (sdmm_stats.allocated: headers and rounding
 * included), so the sum of `used` over all slots equals the heap's
 * `allocated`, and the sum of `blocks` its `live_blocks`.
 */
#ifndef SDMM_MEMORY_SERVICE_LAYOUT_H
#define SDMM_MEMORY_SERVICE_LAYOUT_H

#include <stdint.h>

/* "SDMMSVC1" read as a little-endian u64. */
#define SDMM_SVC_MAGIC 0x314356534D4D4453ull
#define SDMM_SVC_VERSION 1u
#define SDMM_SVC_HEADER_BYTES 64u
#define SDMM_SVC_OWNER_BYTES 88u
/* Owner slots an account may have (INIT refuses more). */
#define SDMM_SVC_MAX_SLOTS 4096u

typedef struct sdmm_svc_header {
    uint64_t magic;         /* SDMM_SVC_MAGIC */
    uint32_t version;       /* SDMM_SVC_VERSION */
    uint32_t arena_offset;  /* where the sdmm heap starts: 64 + 88 * slots */
    uint32_t slots;         /* capacity of the owner table */
    uint32_t owners;        /* slots in use: [0, owners) */
    uint64_t default_quota; /* bytes an owner may hold unless SET_QUOTA gave it another quota */
    uint8_t authority[32];  /* the signer of INIT: may set quotas */
} sdmm_svc_header;

typedef struct sdmm_svc_owner {
    uint8_t key[32];      /* the signer (wallet or program-derived address) */
    uint8_t delegate[32]; /* may also read, write, resize and free its blocks; all zero: none */
    uint64_t quota;       /* bytes it may hold */
    uint64_t used;        /* bytes its live blocks take in the heap */
    uint64_t blocks;      /* its live blocks */
} sdmm_svc_owner;

/* Elements of a block's own type in front of the caller's elements: enough
 * for the u32 owner index (4 bytes), at least one element. */
static inline uint32_t sdmm_svc_prefix_elements(uint32_t element_size) {
    return element_size >= 4u ? 1u : 4u / element_size;
}

static inline uint64_t sdmm_svc_arena_offset(uint64_t slots) {
    return SDMM_SVC_HEADER_BYTES + SDMM_SVC_OWNER_BYTES * slots;
}

#endif /* SDMM_MEMORY_SERVICE_LAYOUT_H */
