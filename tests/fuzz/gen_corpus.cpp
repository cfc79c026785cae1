// gen_corpus.cpp -- seed inputs for the fuzz targets, from a fixed PRNG seed.
//
//   gen_corpus TARGET DIR [COUNT]     TARGET: ops | attach | overflow
//
// attach: real heaps. Each seed runs a random workload (allocations of every
// type, frees, resizes, the caller's bytes written into its blocks) on a
// heap of SDMM_MIN_ARENA_BYTES .. 8 KiB, then flips 0..8 bytes of the image anywhere, and
// writes [2-byte call count | calls | image] -- the input format of
// fuzz_attach. Seeds without flips are valid heaps the calls then exercise.
// ops, overflow: a small arena length and random call bytes (any byte string
// decodes to calls; these just give the fuzzer a varied start).
//
// The run.sh of the ctest regenerates these on every run, so the seeds always
// have the layout of the core being tested; the committed corpus holds what
// fuzzing found interesting on top of them.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "sdmm.h"

namespace {

uint64_t state = 0x5D3A11CEull;
uint64_t next() {  // splitmix64
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }

void put_u16(std::vector<uint8_t> &v, uint32_t x) {
    v.push_back(static_cast<uint8_t>(x));
    v.push_back(static_cast<uint8_t>(x >> 8));
}

bool write_file(const std::string &path, const std::vector<uint8_t> &bytes) {
    FILE *f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return false;
    const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    return std::fclose(f) == 0 && ok;
}

// A heap image after a random workload.
std::vector<uint8_t> heap_image(size_t len) {
    std::vector<uint64_t> words((len + 7) / 8);  // 8-aligned storage
    auto *arena = reinterpret_cast<uint8_t *>(words.data());
    sdmm_heap *heap = nullptr;
    // One seed in four is a heap made to grow: laid out for the whole image,
    // its end at about half of it (the calls' grow op moves it).
    const bool growable = below(4) == 0 && len >= 2 * SDMM_MIN_ARENA_BYTES;
    const sdmm_status made =
        growable ? sdmm_heap_init_reserve(arena, len / 2, len, 0, &heap) : sdmm_heap_init(arena, len, &heap);
    if (made != SDMM_OK) std::abort();
    std::vector<sdmm_block> live;
    const uint32_t steps = 4 + below(60);
    for (uint32_t i = 0; i < steps; ++i) {
        const uint32_t what = below(10);
        if (what < 5 || live.empty()) {
            sdmm_block b;
            const uint32_t tag = 1 + below(SDMM_TAG_COUNT - 1);
            const uint32_t n = 1 + below(what == 0 ? 200 : 12);
            if (sdmm_alloc_tagged_into(heap, tag, n, &b) == SDMM_OK) {
                const uint64_t bytes = uint64_t{b.len} * sdmm_tag_size(b.tag);
                for (uint64_t k = 0; k < bytes; ++k) b.as.u8[k] = static_cast<uint8_t>(next());
                live.push_back(b);
            }
        } else if (what < 8) {
            const uint32_t k = below(static_cast<uint32_t>(live.size()));
            if (sdmm_free_ref(heap, &live[k]) != SDMM_OK) std::abort();
            live.erase(live.begin() + k);
        } else {
            const uint32_t k = below(static_cast<uint32_t>(live.size()));
            sdmm_block r;
            if (sdmm_resize_into(heap, &live[k], 1 + below(40), &r) == SDMM_OK) live[k] = r;
        }
    }
    if (sdmm_heap_check(heap) != SDMM_OK) std::abort();
    return std::vector<uint8_t>(arena, arena + len);
}

std::vector<uint8_t> random_bytes(size_t n) {
    std::vector<uint8_t> v(n);
    for (auto &b : v) b = static_cast<uint8_t>(next());
    return v;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s ops|attach|overflow DIR [COUNT]\n", argv[0]);
        return 2;
    }
    const std::string target = argv[1], dir = argv[2];
    const int count = argc > 3 ? std::atoi(argv[3]) : 24;
    // From the smallest arena the contract accepts up to 8 KiB.
    static const size_t kLens[] = {
        SDMM_MIN_ARENA_BYTES, SDMM_MIN_ARENA_BYTES + 8, 1000, 1024, 2048, 4096, 8192};
    for (int i = 0; i < count; ++i) {
        std::vector<uint8_t> input;
        if (target == "attach") {
            const size_t len = kLens[below(sizeof kLens / sizeof kLens[0])];
            std::vector<uint8_t> image = heap_image(len);
            const uint32_t flips = i < 4 ? 0 : below(9);
            for (uint32_t f = 0; f < flips; ++f)
                image[below(static_cast<uint32_t>(len))] ^= static_cast<uint8_t>(1 + below(255));
            const std::vector<uint8_t> calls = random_bytes(16 + below(240));
            put_u16(input, static_cast<uint32_t>(calls.size()));
            input.insert(input.end(), calls.begin(), calls.end());
            input.insert(input.end(), image.begin(), image.end());
        } else if (target == "ops" || target == "overflow") {
            put_u16(input, below(4096));  // arena of 256 B .. ~4 KiB
            const std::vector<uint8_t> calls = random_bytes(32 + below(480));
            input.insert(input.end(), calls.begin(), calls.end());
        } else {
            std::fprintf(stderr, "unknown target %s\n", target.c_str());
            return 2;
        }
        char name[64];
        std::snprintf(name, sizeof name, "/seed-%03d", i);
        if (!write_file(dir + name, input)) {
            std::perror((dir + name).c_str());
            return 1;
        }
    }
    return 0;
}
