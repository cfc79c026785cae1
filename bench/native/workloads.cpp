// workloads.cpp -- the native benchmark harness: one source, built once per
// peer (each binary links exactly one general-purpose allocator, because they
// all replace malloc), plus sdmm in every binary.
//
//   bench_<peer> WORKLOAD ALLOCATOR STEPS WARMUP
//     WORKLOAD   random   1024 live slots; each step frees a random slot and
//                         allocates 8..512 B there (xorshift, fixed seed)
//                lifo     allocate 16..256 B (xorshift, fixed seed), free it at once
//                typed    random working set of u64 / pubkey / signature arrays
//                         (1..64 elements)
//     ALLOCATOR  malloc | calloc (the linked peer); sdmm (typed, zero-filled:
//                sdmm_alloc_tagged_into + sdmm_free_handle); sdmm_uninit
//                (sdmm_alloc_aligned_uninit_into + sdmm_free_ptr, no
//                zero-fill); sdmm_free_ref | sdmm_free_handle | sdmm_free_ptr
//                (typed alloc, freed through that entry point); none
//                (harness alone)
//   Runs the workload WARMUP times (warmup_rep), then once more timed
//   (measured_rep), and prints one JSON object: wall-clock and thread CPU
//   nanoseconds per step of the timed pass, and max RSS. Every pass starts
//   from an empty working set on the allocator the previous passes used.
//   Instruction counts come from the very same command under
//   `valgrind --tool=callgrind --collect-atstart=no --toggle-collect=*measured_rep*`,
//   so time and instructions describe the same steps (bench/run.py).
//
//   bench_<peer> clock
//     Cycles per nanosecond of this core, from a chain of dependent adds (one
//     cycle each) timed with the thread's CPU clock; the best of 5 trials.
//
//   bench_<peer> efficiency MIN MAX SEEDS
//     Heap efficiency of sdmm in a 32 KiB arena: allocate with probability
//     0.6 (always when nothing is live) or free a random live block; stop at
//     the first failed allocation; report live requested bytes / 32768,
//     averaged over SEEDS seeds.
#include <sdmm.h>
#include <sys/mman.h>
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../../cpp/testing/xorshift.hpp"

#ifndef PEER_NAME
#define PEER_NAME "glibc"
#endif

namespace {

constexpr size_t kSlots = 1024;
constexpr size_t kArenaBytes = size_t{64} << 20;

// Keeps the compiler from removing allocations whose result is unused.
inline void keep(void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

// The allocator under test, as two function pointers over one slot type.
struct Slot {
    void *ptr;
    sdmm_block block;
};

enum class Kind { kMalloc, kCalloc, kSdmmFreeRef, kSdmmFreeHandle, kSdmmFreePtr, kSdmmUninit, kNone };

struct Alloc {
    Kind kind;
    sdmm_heap *heap = nullptr;

    // The typed API has no byte request: ask for n_bytes as u8 elements, or
    // for the typed workload, `count` elements of `tag`.
    // `elem_size` is passed in (not looked up) so the harness costs every
    // allocator the same.
    inline void get(Slot &s, uint32_t tag, uint32_t elem_size, uint32_t count) {
        const size_t bytes = size_t{count} * elem_size;
        switch (kind) {
            case Kind::kMalloc:
                s.ptr = std::malloc(bytes);
                break;
            case Kind::kCalloc:
                s.ptr = std::calloc(count, elem_size);
                break;
            case Kind::kSdmmFreeRef:
            case Kind::kSdmmFreeHandle:
            case Kind::kSdmmFreePtr:
                sdmm_alloc_tagged_into(heap, tag, count, &s.block);
                s.ptr = s.block.as.u8;
                break;
            case Kind::kSdmmUninit:
                sdmm_alloc_aligned_uninit_into(heap, bytes, 8, &s.block);
                s.ptr = s.block.as.u8;
                break;
            case Kind::kNone:
                s.ptr = reinterpret_cast<void *>(bytes | 1);
                break;
        }
        keep(s.ptr);
    }
    inline void put(Slot &s) {
        if (s.ptr == nullptr) return;
        switch (kind) {
            case Kind::kMalloc:
            case Kind::kCalloc:
                std::free(s.ptr);
                break;
            case Kind::kSdmmFreeRef:
                sdmm_free_ref(heap, &s.block);
                break;
            case Kind::kSdmmFreeHandle:
                sdmm_free_handle(heap, s.block.handle, s.block.tag);
                break;
            case Kind::kSdmmFreePtr:
                sdmm_free_ptr(heap, s.ptr, s.block.tag);
                break;
            case Kind::kSdmmUninit:
                // What a GlobalAlloc / memory_resource adapter gets back: the pointer.
                sdmm_free_ptr(heap, s.ptr, SDMM_TAG_U8);
                break;
            case Kind::kNone:
                break;
        }
        s.ptr = nullptr;
    }
};

Kind parse_kind(const std::string &name) {
    if (name == "malloc") return Kind::kMalloc;
    if (name == "calloc") return Kind::kCalloc;
    // The typed row: the cheapest checked free for a caller that holds the
    // block (bench/README.md, "Which sdmm calls").
    if (name == "sdmm") return Kind::kSdmmFreeHandle;
    if (name == "sdmm_free_ref") return Kind::kSdmmFreeRef;
    if (name == "sdmm_free_handle") return Kind::kSdmmFreeHandle;
    if (name == "sdmm_free_ptr") return Kind::kSdmmFreePtr;
    if (name == "sdmm_uninit") return Kind::kSdmmUninit;
    if (name == "none") return Kind::kNone;
    std::fprintf(stderr, "unknown allocator %s\n", name.c_str());
    std::exit(2);
}

// Fresh zero pages, as a real program would map them for its heap.
sdmm_heap *make_heap() {
    void *arena = mmap(nullptr, kArenaBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (arena == MAP_FAILED) std::exit(3);
    sdmm_heap *heap = nullptr;
    if (sdmm_heap_init_flags(arena, kArenaBytes, SDMM_INIT_ZEROED, &heap) != SDMM_OK) std::exit(3);
    return heap;
}

__attribute__((noinline)) void run_random(Alloc &a, uint64_t steps) {
    static Slot slots[kSlots];
    Rng rng{0x9E3779B97F4A7C15ull};
    for (uint64_t i = 0; i < steps; ++i) {
        const uint64_t r = rng.next();
        Slot &s = slots[r & (kSlots - 1)];
        a.put(s);
        a.get(s, SDMM_TAG_U8, 1, 8 + static_cast<uint32_t>((r >> 10) % 505));
    }
    for (Slot &s : slots) a.put(s);
}

// Sizes are drawn, not cycled: a fixed cycle of 31 sizes keeps mimalloc in
// one of two states (retiring and re-initialising a page almost every step,
// or never) depending on where the cycle was cut (bench/README.md).
__attribute__((noinline)) void run_lifo(Alloc &a, uint64_t steps) {
    Slot s{};
    Rng rng{0xD1B54A32D192ED03ull};
    for (uint64_t i = 0; i < steps; ++i) {
        a.get(s, SDMM_TAG_U8, 1, 16 + static_cast<uint32_t>((rng.next() >> 10) % 241));
        a.put(s);
    }
}

__attribute__((noinline)) void run_typed(Alloc &a, uint64_t steps) {
    static Slot slots[kSlots];
    static const uint32_t tags[] = {SDMM_TAG_U64, SDMM_TAG_PUBKEY, SDMM_TAG_SIGNATURE, SDMM_TAG_U64};
    static const uint32_t sizes[] = {8, 32, 64, 8};
    Rng rng{0x2545F4914F6CDD1Dull};
    for (uint64_t i = 0; i < steps; ++i) {
        const uint64_t r = rng.next();
        Slot &s = slots[r & (kSlots - 1)];
        a.put(s);
        a.get(s, tags[(r >> 10) & 3], sizes[(r >> 10) & 3], 1 + static_cast<uint32_t>((r >> 12) & 63));
    }
    for (Slot &s : slots) a.put(s);
}

// Peak resident set of this process image. getrusage's ru_maxrss would
// include the parent's peak (it survives fork+exec); VmHWM belongs to the mm.
long max_rss_kib() {
    FILE *f = std::fopen("/proc/self/status", "r");
    if (f == nullptr) return -1;
    char line[256];
    long kib = -1;
    while (std::fgets(line, sizeof line, f) != nullptr)
        if (std::sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
    std::fclose(f);
    return kib;
}

double thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

double wall_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

using Workload = void (*)(Alloc &, uint64_t);

// Two functions, so that callgrind can count the second alone
// (--toggle-collect=*measured_rep*). The stores differ so that the compiler
// does not fold them into one symbol (identical code folding).
volatile int g_pass_kind;
__attribute__((noinline)) void warmup_rep(Workload run, Alloc &a, uint64_t steps) {
    g_pass_kind = 1;
    run(a, steps);
}
__attribute__((noinline)) void measured_rep(Workload run, Alloc &a, uint64_t steps) {
    g_pass_kind = 2;
    run(a, steps);
}

// A chain of dependent register adds retires one per cycle on every x86-64
// core of the last 20 years; timing it with the thread's CPU clock gives
// the clock the benchmark actually ran at (turbo included, preemption not).
int measure_clock() {
    constexpr uint64_t kIters = 20'000'000;  // x 64 adds
    double best = 0;
    for (int trial = 0; trial < 5; ++trial) {
        uint64_t x = 0;
        const double t0 = thread_cpu_ns();
        for (uint64_t i = 0; i < kIters; ++i) {
            __asm__ volatile(
                ".rept 64\n\t"
                "add $1, %0\n\t"
                ".endr"
                : "+r"(x));
        }
        const double t1 = thread_cpu_ns();
        const double ghz = static_cast<double>(kIters) * 64.0 / (t1 - t0);
        if (ghz > best) best = ghz;
    }
    std::printf("{\"clock_ghz\":%.4f}\n", best);
    return 0;
}

int efficiency(uint32_t min_bytes, uint32_t max_bytes, uint32_t seeds) {
    alignas(8) static uint8_t arena[32 * 1024];
    uint64_t sum_ppm = 0;
    sdmm_stats st{};
    for (uint32_t seed = 1; seed <= seeds; ++seed) {
        sdmm_heap *heap = nullptr;
        if (sdmm_heap_init(arena, sizeof arena, &heap) != SDMM_OK) return 3;
        sdmm_heap_stats(heap, &st);
        Rng rng{seed * 0x9E3779B97F4A7C15ull};
        std::vector<sdmm_block> live;
        uint64_t live_bytes = 0;
        for (;;) {
            const uint64_t r = rng.next();
            if (live.empty() || r % 10 < 6) {
                const uint32_t n = min_bytes + static_cast<uint32_t>((r >> 8) % (max_bytes - min_bytes + 1));
                sdmm_block b;
                if (sdmm_alloc_u8_into(heap, n, &b) != SDMM_OK) break;
                live.push_back(b);
                live_bytes += n;
            } else {
                const size_t i = (r >> 8) % live.size();
                live_bytes -= live[i].len;
                sdmm_free_ref(heap, &live[i]);
                live[i] = live.back();
                live.pop_back();
            }
        }
        sum_ppm += live_bytes * 1000000 / sizeof arena;
    }
    std::printf(
        "{\"workload\":\"efficiency\",\"allocator\":\"sdmm\",\"min\":%u,\"max\":%u,\"seeds\":%u,"
        "\"efficiency\":%.4f,\"control_bytes\":%llu,\"header_bytes\":%u}\n",
        min_bytes, max_bytes, seeds, static_cast<double>(sum_ppm) / seeds / 1e6,
        static_cast<unsigned long long>(st.control_bytes), SDMM_BLOCK_HEADER_BYTES);
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc >= 5 && std::string(argv[1]) == "efficiency")
        return efficiency(static_cast<uint32_t>(std::atoi(argv[2])),
                          static_cast<uint32_t>(std::atoi(argv[3])),
                          static_cast<uint32_t>(std::atoi(argv[4])));
    if (argc == 2 && std::string(argv[1]) == "clock") return measure_clock();
    if (argc != 5) {
        std::fprintf(
            stderr, "usage: %s random|lifo|typed ALLOCATOR STEPS WARMUP | clock | efficiency MIN MAX SEEDS\n",
            argv[0]);
        return 2;
    }
    const std::string workload = argv[1];
    Alloc a{parse_kind(argv[2])};
    const uint64_t steps = std::strtoull(argv[3], nullptr, 10);
    const int warmup = std::atoi(argv[4]);
    const Workload run = workload == "random"  ? run_random
                         : workload == "lifo"  ? run_lifo
                         : workload == "typed" ? run_typed
                                               : nullptr;
    if (run == nullptr || steps == 0 || warmup < 0) return 2;
    if (a.kind != Kind::kMalloc && a.kind != Kind::kCalloc && a.kind != Kind::kNone) a.heap = make_heap();
    for (int rep = 0; rep < warmup; ++rep) warmup_rep(run, a, steps);
    const double w0 = wall_ns(), c0 = thread_cpu_ns();
    measured_rep(run, a, steps);
    const double c1 = thread_cpu_ns(), w1 = wall_ns();
    const double n = static_cast<double>(steps);
    std::printf(
        "{\"peer\":\"%s\",\"workload\":\"%s\",\"allocator\":\"%s\",\"steps\":%llu,\"warmup\":%d,"
        "\"wall_ns\":%.3f,\"cpu_ns\":%.3f,\"max_rss_kib\":%ld}\n",
        PEER_NAME, workload.c_str(), argv[2], static_cast<unsigned long long>(steps), warmup, (w1 - w0) / n,
        (c1 - c0) / n, max_rss_kib());
    if (a.heap != nullptr && sdmm_heap_check(a.heap) != SDMM_OK) {
        std::fprintf(stderr, "heap check failed after the run\n");
        return 4;
    }
    return 0;
}
