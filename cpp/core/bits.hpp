// bits.hpp -- bit-length arithmetic behind the size classes, one path per CPU.
//
// floor_log2(x) is the index of the highest set bit of x (x > 0); for x == 0
// every path returns -1 so callers never see undefined behaviour.
//
//   x86-64   `lzcnt` when the CPU has it, `bsr` otherwise. On a CPU without
//            LZCNT the lzcnt encoding (F3 0F BD) silently executes as bsr and
//            returns the bit index instead of the leading-zero count, so the
//            choice is made from CPUID (stored in the heap, which must not
//            rely on mutable globals), never assumed.
//   aarch64  `clz`.
//   BPF/SBF  no count-leading-zeros instruction exists (LLVM expands the
//            builtin into ~45 instructions): de Bruijn multiply-and-lookup.
//
// Every path is exported under its own name so tests can prove them equal for
// every size and benchmarks can compare them.
#pragma once

#include <stdint.h>

#if defined(__x86_64__) && !defined(__bpf__)
#include <cpuid.h>
#endif

namespace sdmm::bits {

// ---- portable: de Bruijn sequences (BPF, SBF, and the reference) --------

// Lookup for the position of an isolated bit b: kDeBruijnIndex.at[(b * kDeBruijn64) >> 58].
// The table is computed at compile time from the sequence (no hand-typed data)
// and lands in read-only data, which both BPF (.rodata map) and SBF accept.
inline constexpr uint64_t kDeBruijn64 = 0x03f79d71b4cb0a89ULL;
struct DeBruijnTable {
    uint8_t at[64];
};
constexpr DeBruijnTable make_de_bruijn_table() {
    DeBruijnTable table{};
    for (int i = 0; i < 64; ++i) table.at[((uint64_t{1} << i) * kDeBruijn64) >> 58] = static_cast<uint8_t>(i);
    return table;
}
inline constexpr DeBruijnTable kDeBruijnIndex = make_de_bruijn_table();
static_assert(kDeBruijnIndex.at[(uint64_t{1} << 63) * kDeBruijn64 >> 58] == 63 && kDeBruijnIndex.at[0] == 0,
              "kDeBruijn64 must be a de Bruijn sequence");

// Index of the lowest set bit; -1 for zero. Branch-free apart from the zero test.
inline int count_trailing_zeros_portable(uint64_t x) {
    if (x == 0) return -1;
    const uint64_t lowest = x & (~x + 1);
    return kDeBruijnIndex.at[(lowest * kDeBruijn64) >> 58];
}

// Highest set bit: smear it downwards, then the highest bit of the smeared
// value is (smeared ^ (smeared >> 1)), an isolated bit the table resolves.
inline int floor_log2_portable(uint64_t x) {
    if (x == 0) return -1;
    x |= x >> 1;
    x |= x >> 2;
    x |= x >> 4;
    x |= x >> 8;
    x |= x >> 16;
    x |= x >> 32;
    return kDeBruijnIndex.at[((x ^ (x >> 1)) * kDeBruijn64) >> 58];
}

// The compiler builtin, for comparison in benchmarks and tests.
inline int floor_log2_builtin(uint64_t x) { return x == 0 ? -1 : 63 - __builtin_clzll(x); }

// ---- x86-64 ------------------------------------------------------------
#if defined(__x86_64__) && !defined(__bpf__)
inline constexpr bool kHaveAsm = true;

// LZCNT is CPUID leaf 0x80000001, ECX bit 5 (called ABM on AMD).
inline bool cpu_has_lzcnt() {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(0x80000001u, &eax, &ebx, &ecx, &edx)) return false;
    return (ecx & (1u << 5)) != 0;
}

// lzcnt of 0 is 64, so 63 - 64 = -1 falls out without a branch.
inline int floor_log2_lzcnt(uint64_t x) {
    uint64_t zeros;
    __asm__("lzcnt %1, %0" : "=r"(zeros) : "rm"(x) : "cc");
    return 63 - static_cast<int>(zeros);
}

// bsr leaves its destination undefined for 0 (ZF set): test first.
inline int floor_log2_bsr(uint64_t x) {
    if (x == 0) return -1;
    uint64_t index;
    __asm__("bsr %1, %0" : "=r"(index) : "rm"(x) : "cc");
    return static_cast<int>(index);
}

inline int floor_log2_asm(uint64_t x, bool has_lzcnt) {
#if defined(__LZCNT__)
    (void)has_lzcnt;  // compiled for a CPU that has it
    return floor_log2_lzcnt(x);
#else
    return has_lzcnt ? floor_log2_lzcnt(x) : floor_log2_bsr(x);
#endif
}
inline int count_trailing_zeros(uint64_t x) { return x == 0 ? -1 : __builtin_ctzll(x); }

// ---- aarch64 -----------------------------------------------------------
#elif defined(__aarch64__)
inline constexpr bool kHaveAsm = true;
inline bool cpu_has_lzcnt() { return false; }
inline int floor_log2_clz(uint64_t x) {
    uint64_t zeros;
    __asm__("clz %0, %1" : "=r"(zeros) : "r"(x));  // clz of 0 is 64
    return 63 - static_cast<int>(zeros);
}
inline int floor_log2_asm(uint64_t x, bool /*unused*/) { return floor_log2_clz(x); }
inline int count_trailing_zeros(uint64_t x) { return x == 0 ? -1 : __builtin_ctzll(x); }

// ---- BPF, SBF and anything else ----------------------------------------
#else
inline constexpr bool kHaveAsm = false;
inline bool cpu_has_lzcnt() { return false; }
inline int floor_log2_asm(uint64_t x, bool /*unused*/) { return floor_log2_portable(x); }
inline int count_trailing_zeros(uint64_t x) { return count_trailing_zeros_portable(x); }
#endif

}  // namespace sdmm::bits
