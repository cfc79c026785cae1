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
#define SDMM_ENTROPY(arena) (static_cast<uint64_t>(reinterpret_cast<uintptr_t>(arena)) ^ __builtin_ia32_rdtsc())
#else
#define SDMM_ENTROPY(arena) static_cast<uint64_t>(reinterpret_cast<uintptr_t>(arena))
#endif
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
