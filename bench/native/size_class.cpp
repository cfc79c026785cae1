// The size-class computation by path: assembly (lzcnt or bsr, chosen by
// CPUID), the bsr path forced, the compiler builtin, and the de Bruijn path
// BPF and SBF use. Each iteration classifies 1024 block sizes.
#include <benchmark/benchmark.h>

#include "../../cpp/testing/xorshift.hpp"
#include "core/bits.hpp"

namespace {

using namespace sdmm::bits;

uint64_t sizes[1024];
[[maybe_unused]] const bool sizes_ready = [] {
    Rng rng{0x9E3779B97F4A7C15ull};
    for (uint64_t &g : sizes) {
        const uint64_t s = rng.next();
        g = 2 + (s >> (s & 31)) % (1u << 20);  // granule counts across many octaves
    }
    return true;
}();

inline uint64_t class_from(uint64_t g, int fl) {
    return g < 8 ? g : 4 * static_cast<uint64_t>(fl) - 4 + ((g >> (fl - 2)) & 3);
}

template <int (*FloorLog2)(uint64_t)>
void classify(benchmark::State &state) {
    for (auto _ : state) {
        uint64_t acc = 0;
        for (uint64_t g : sizes) acc += class_from(g, FloorLog2(g));
        benchmark::DoNotOptimize(acc);
    }
    state.SetItemsProcessed(state.iterations() * 1024);
}

int asm_detected(uint64_t x) {
    static const bool lzcnt = cpu_has_lzcnt();
    return floor_log2_asm(x, lzcnt);
}
#if defined(__x86_64__)
int asm_bsr(uint64_t x) { return floor_log2_bsr(x); }
#endif

}  // namespace

BENCHMARK(classify<asm_detected>)->Name("size_class/asm_cpuid_selected");
#if defined(__x86_64__)
BENCHMARK(classify<asm_bsr>)->Name("size_class/asm_bsr");
#endif
BENCHMARK(classify<floor_log2_builtin>)->Name("size_class/builtin_clzll");
BENCHMARK(classify<floor_log2_portable>)->Name("size_class/portable_de_bruijn");
