// sdmm_sbf_platform.h -- the platform hooks of the sdmm core for Solana SBF
// (see cpp/core/platform.hpp). Force-included (-include) before the core is
// compiled by sdmm_add_sbf_program().
//
// Bulk zeroing and copying go to the runtime's memset/memmove syscalls: one
// costs a flat ~10 CU up to 2.5 KB (plus ~5 CU to set up the call), while an
// inline loop costs ~4 CU per 8-byte word. The hot path clears a block's
// header-adjacent words (8..16 bytes) very often, so sizes up to
// SDMM_SBF_INLINE_ZERO_MAX bytes stay inline.
#pragma once

// Tells the core it is built for SBF (compiled as `-target bpf`, but not the
// kernel's verifier: calls are cheap and out-of-line slow paths allowed).
#define SDMM_TARGET_SBF 1

// At most this many freed small blocks wait in the exact-size caches. An
// allocation that finds no free block releases all of them first, so this
// bounds the worst case of one allocation (bench/solana/RESULTS.md).
#ifndef SDMM_CACHE_LIMIT
#define SDMM_CACHE_LIMIT 64
#endif

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
void sol_memset_(void *dst, uint8_t value, uint64_t n);
void sol_memmove_(void *dst, const void *src, uint64_t n);
#ifdef __cplusplus
}
#endif

#ifndef SDMM_SBF_INLINE_ZERO_MAX
#define SDMM_SBF_INLINE_ZERO_MAX 16u
#endif

static inline void sdmm_sbf_zero(void *dst, uint64_t bytes) {
    if (bytes <= SDMM_SBF_INLINE_ZERO_MAX && (((uint64_t)dst | bytes) & 7) == 0) {
        uint64_t *w = (uint64_t *)dst;
        for (uint64_t i = 0; i < (bytes >> 3); ++i) w[i] = 0;
        return;
    }
    sol_memset_(dst, 0, bytes);
}

#define SDMM_ZERO(dst, bytes) sdmm_sbf_zero((dst), (bytes))
#define SDMM_COPY(dst, src, bytes) sol_memmove_((dst), (src), (bytes))
