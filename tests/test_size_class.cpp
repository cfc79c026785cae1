// Every floor-log2 path (assembly lzcnt and bsr on x86-64, clz on aarch64,
// the de Bruijn path BPF and SBF use, the compiler builtin) gives the same
// answer, and so the same size class, for every block size up to the largest
// block a heap can have.
#include <gtest/gtest.h>

#include "core/bits.hpp"
#include "core/heap.hpp"

namespace {

using namespace sdmm;

TEST(SizeClass, PathsAgreeOnEdgeCases) {
    for (int bit = 0; bit < 64; ++bit) {
        for (uint64_t x : {uint64_t{1} << bit, (uint64_t{1} << bit) | 1, (uint64_t{1} << bit) - 1,
                           ~uint64_t{0} >> (63 - bit)}) {
            if (x == 0) continue;
            const int want = bits::floor_log2_builtin(x);
            EXPECT_EQ(bits::floor_log2_portable(x), want) << x;
            EXPECT_EQ(bits::floor_log2_asm(x, bits::cpu_has_lzcnt()), want) << x;
#if defined(__x86_64__)
            EXPECT_EQ(bits::floor_log2_bsr(x), want) << x;
            if (bits::cpu_has_lzcnt()) {
                EXPECT_EQ(bits::floor_log2_lzcnt(x), want) << x;
            }
#endif
            EXPECT_EQ(bits::count_trailing_zeros_portable(x), __builtin_ctzll(x)) << x;
            EXPECT_EQ(bits::count_trailing_zeros(x), __builtin_ctzll(x)) << x;
        }
    }
    // Zero is defined on every path.
    EXPECT_EQ(bits::floor_log2_portable(0), -1);
    EXPECT_EQ(bits::floor_log2_builtin(0), -1);
    EXPECT_EQ(bits::floor_log2_asm(0, bits::cpu_has_lzcnt()), -1);
#if defined(__x86_64__)
    EXPECT_EQ(bits::floor_log2_bsr(0), -1);
    if (bits::cpu_has_lzcnt()) {
        EXPECT_EQ(bits::floor_log2_lzcnt(0), -1);
    }
#endif
    EXPECT_EQ(bits::count_trailing_zeros_portable(0), -1);
}

TEST(SizeClass, ClassesAreMonotoneWithFourPerOctave) {
    uint64_t prev = core::size_class_portable(2);
    EXPECT_EQ(prev, 2u);
    for (uint64_t g = 3; g < (1u << 16); ++g) {
        const uint64_t c = core::size_class_portable(g);
        ASSERT_TRUE(c == prev || c == prev + 1) << g;
        prev = c;
    }
    EXPECT_EQ(core::size_class_portable(8), 8u);
    EXPECT_EQ(core::size_class_portable(15), 11u);
    EXPECT_EQ(core::size_class_portable(16), 12u);
    EXPECT_LT(core::size_class_portable(0xFFFFFFFFull >> 3), 128u);
}

// Every block size up to the largest block (2^32 - 8 bytes = 2^29 granules):
// half a billion sizes, each through every path.
TEST(SizeClass, EveryPathAgreesForEveryBlockSize) {
#if defined(SDMM_SANITIZED)
    const uint64_t step = 997;  // the sanitizer build samples; the optimised build is exhaustive
#else
    const uint64_t step = 1;
#endif
    const uint64_t max_granules = 0xFFFFFFF8ull >> 3;
    const bool lzcnt = bits::cpu_has_lzcnt();
    uint64_t mismatches = 0;
    for (uint64_t g = 2; g <= max_granules; g += step) {
        const uint64_t want = core::size_class_portable(g);
        mismatches += core::size_class(g, lzcnt) != want;
        mismatches += core::size_class_table(g) != want;  // the BPF/SBF table, below 4 KiB
#if defined(__x86_64__)
        mismatches += core::size_class(g, false) != want;  // forces the bsr path
        const int fl = bits::floor_log2_builtin(g);
        mismatches += bits::floor_log2_bsr(g) != fl;
        if (lzcnt) mismatches += bits::floor_log2_lzcnt(g) != fl;
#endif
    }
    EXPECT_EQ(mismatches, 0u);
}

}  // namespace
