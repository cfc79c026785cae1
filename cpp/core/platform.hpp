// platform.hpp -- the few things the core needs from its target, in one place.
//
// The core calls no library: bulk zeroing and copying go through SDMM_ZERO
// and SDMM_COPY, and every access to arena memory goes through an offset
// masked with SDMM_OFFSET_MASK.
//
//  - Hosts use the compiler's memset/memcpy.
//  - BPF (`__bpf__`) cannot call library functions and upstream clang refuses
//    variable-length memset/memcpy, so plain word/byte loops are used
//    (compile with -ffreestanding -fno-builtin so they stay loops).
//  - A consumer can override any of them before including the core: the
//    Solana build maps them to the sol_memset_/sol_memcpy_ syscalls, the
//    kernel BPF build sets SDMM_OFFSET_MASK to its pool size minus one so the
//    verifier can bound every access.
#pragma once

#include <stddef.h>
#include <stdint.h>

// SDMM_KERNEL_BPF: compiled for the kernel's verifier. SBF programs are
// compiled as `-target bpf` too; their platform header defines
// SDMM_TARGET_SBF.
#if (defined(__bpf__) || defined(__BPF__)) && !defined(SDMM_TARGET_SBF)
#define SDMM_KERNEL_BPF 1
#endif

// Offsets are read from 32-bit fields, so on a host they are already below
// 2^32 and need no mask (an all-ones mask compiles to nothing).
#ifndef SDMM_OFFSET_MASK
#define SDMM_OFFSET_MASK (~0ull)
#endif

// SDMM_OPAQUE(x): on BPF, hides x's value range from the compiler so that a
// bounds mask applied afterwards survives optimisation. clang deletes a mask
// it can prove redundant, but the kernel verifier cannot prove it and then
// refuses the load ("unbounded memory access"). Free elsewhere.
#if defined(__bpf__) || defined(__BPF__)
#define SDMM_OPAQUE(x) __asm__ volatile("" : "+r"(x))
#else
#define SDMM_OPAQUE(x) ((void)0)
#endif

// SDMM_ENTROPY(arena): bits that make a new heap's handle salt and first
// generation differ from another heap's. Hosts mix the arena address with
// the x86-64 time stamp counter; BPF has neither (the verifier refuses
// arithmetic on the pool's address), so it uses the arena length alone.
#ifndef SDMM_ENTROPY
#if defined(__bpf__) || defined(__BPF__)
#define SDMM_ENTROPY(arena) 0ull
#elif defined(__x86_64__)
#define SDMM_ENTROPY(arena) \
    (static_cast<uint64_t>(reinterpret_cast<uintptr_t>(arena)) ^ __builtin_ia32_rdtsc())
#else
#define SDMM_ENTROPY(arena) static_cast<uint64_t>(reinterpret_cast<uintptr_t>(arena))
#endif
#endif

// SDMM_ZERO_SMALL(dst, bytes): the cache-hit path's zero-fill -- 8-aligned,
// whole words, at most a few hundred bytes. On x86-64 hosts it is inlined
// as 16-byte stores (no call, so the hit path needs no saved registers);
// elsewhere it is SDMM_ZERO.
#if !defined(SDMM_ZERO_SMALL) && defined(__x86_64__) && !defined(SDMM_ZERO)
namespace sdmm::platform {
[[gnu::always_inline]] inline void zero_small(void *dst, uint64_t bytes) {
    auto *d = static_cast<uint8_t *>(dst);
    if (bytes < 16) {
        if (bytes != 0) __builtin_memset(d, 0, 8);
        return;
    }
    // 16-byte stores from the start, entered by the count (a jump table, no
    // loop), and an overlapping last one: every byte in [dst, dst + bytes),
    // none past it. Up to 256 bytes; beyond, memset.
    if (bytes > 256) {
        __builtin_memset(dst, 0, bytes);
        return;
    }
#define SDMM_Z16(at) __builtin_memset(d + (at), 0, 16) /* one unaligned 16-byte store */
    switch ((bytes - 1) >> 4) {
        case 15:
            SDMM_Z16(224);
            [[fallthrough]];
        case 14:
            SDMM_Z16(208);
            [[fallthrough]];
        case 13:
            SDMM_Z16(192);
            [[fallthrough]];
        case 12:
            SDMM_Z16(176);
            [[fallthrough]];
        case 11:
            SDMM_Z16(160);
            [[fallthrough]];
        case 10:
            SDMM_Z16(144);
            [[fallthrough]];
        case 9:
            SDMM_Z16(128);
            [[fallthrough]];
        case 8:
            SDMM_Z16(112);
            [[fallthrough]];
        case 7:
            SDMM_Z16(96);
            [[fallthrough]];
        case 6:
            SDMM_Z16(80);
            [[fallthrough]];
        case 5:
            SDMM_Z16(64);
            [[fallthrough]];
        case 4:
            SDMM_Z16(48);
            [[fallthrough]];
        case 3:
            SDMM_Z16(32);
            [[fallthrough]];
        case 2:
            SDMM_Z16(16);
            [[fallthrough]];
        case 1:
            SDMM_Z16(0);
            [[fallthrough]];
        default:
            break;
    }
#undef SDMM_Z16
    __builtin_memset(d + bytes - 16, 0, 16);
}
}  // namespace sdmm::platform
#define SDMM_ZERO_SMALL(dst, bytes) ::sdmm::platform::zero_small((dst), (bytes))
#endif

#if !defined(SDMM_ZERO) || !defined(SDMM_COPY)
#if defined(__bpf__) || defined(__BPF__)
namespace sdmm::platform {
// Element zero-fill is 8-aligned and a multiple of 8 long (whole words);
// growing a block in place clears from an arbitrary byte.
inline void zero_bytes(void *dst, uint64_t bytes) {
    auto *d = static_cast<uint8_t *>(dst);
    if (((reinterpret_cast<uintptr_t>(d) | bytes) & 7) == 0) {
        auto *words = static_cast<uint64_t *>(dst);
        for (uint64_t i = 0; i < (bytes >> 3); ++i) words[i] = 0;
        return;
    }
    for (uint64_t i = 0; i < bytes; ++i) d[i] = 0;
}
inline void copy_bytes(void *dst, const void *src, uint64_t bytes) {
    auto *d = static_cast<uint8_t *>(dst);
    const auto *s = static_cast<const uint8_t *>(src);
    for (uint64_t i = 0; i < bytes; ++i) d[i] = s[i];
}
}  // namespace sdmm::platform
#ifndef SDMM_ZERO
#define SDMM_ZERO(dst, bytes) ::sdmm::platform::zero_bytes((dst), (bytes))
#endif
#ifndef SDMM_COPY
#define SDMM_COPY(dst, src, bytes) ::sdmm::platform::copy_bytes((dst), (src), (bytes))
#endif
#else
#ifndef SDMM_ZERO
#define SDMM_ZERO(dst, bytes) __builtin_memset((dst), 0, (bytes))
#endif
#ifndef SDMM_COPY
#define SDMM_COPY(dst, src, bytes) __builtin_memmove((dst), (src), (bytes))
#endif
#endif
#endif
#ifndef SDMM_ZERO_SMALL
#define SDMM_ZERO_SMALL(dst, bytes) SDMM_ZERO((dst), (bytes))
#endif
