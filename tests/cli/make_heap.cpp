// make_heap.cpp -- builds heaps for the tests of the `sdmm` tool and writes
// what sdmm's own API says about them (the expectation the tool's output is
// compared with).
//
//   make_heap file OUT EXPECT.json     a 64 KiB heap written to OUT (raw arena bytes)
//   make_heap shm NAME EXPECT.json     the same heap built in POSIX shared memory NAME (left there)
//   make_heap unlink NAME              removes the shared-memory object
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "sdmm.h"

namespace {

constexpr std::size_t kArenaBytes = 64 * 1024;

// Blocks of every type, some freed again (so the heap has free and cached
// blocks between live ones), one claimed; returns 0 on success.
int fill(void *arena, std::size_t len, const char *expect_path) {
    sdmm_heap *heap = nullptr;
    if (sdmm_heap_init(arena, len, &heap) != SDMM_OK) return 1;
    std::vector<sdmm_block> blocks;
    for (uint32_t round = 0; round < 3; ++round) {
        for (uint32_t tag = 1; tag < SDMM_TAG_COUNT; ++tag) {
            sdmm_block b{};
            if (sdmm_alloc_tagged_into(heap, tag, 1 + (tag * 7 + round * 5) % 40, &b) != SDMM_OK) return 1;
            std::memset(b.as.u8, static_cast<int>(tag), sdmm_tag_size(tag) * b.len);
            blocks.push_back(b);
        }
    }
    for (std::size_t i = 0; i < blocks.size(); i += 3)
        if (sdmm_free_ref(heap, &blocks[i]) != SDMM_OK) return 1;
    sdmm_block claimed{};
    if (sdmm_alloc_claimed_into(heap, SDMM_TAG_U64, 12, &claimed) != SDMM_OK) return 1;
    if (sdmm_heap_check(heap) != SDMM_OK) return 1;

    // The expectation: sdmm_heap_stats and, per type, the live blocks.
    sdmm_stats s{};
    sdmm_heap_stats(heap, &s);
    std::map<uint32_t, std::pair<uint64_t, uint64_t>> types;  // tag -> blocks, elements
    for (std::size_t i = 0; i < blocks.size(); ++i)
        if (i % 3 != 0) {
            types[blocks[i].tag].first += 1;
            types[blocks[i].tag].second += blocks[i].len;
        }
    types[SDMM_TAG_U64].first += 1;
    types[SDMM_TAG_U64].second += claimed.len;
    FILE *f = std::fopen(expect_path, "w");
    if (f == nullptr) return 1;
    std::fprintf(f,
                 "{\"stats\":{\"capacity\":%" PRIu64 ",\"allocated\":%" PRIu64 ",\"peak_allocated\":%" PRIu64
                 ",\"live_blocks\":%" PRIu64 ",\"largest_free\":%" PRIu64 ",\"oom_count\":%" PRIu64
                 ",\"free_blocks\":%" PRIu64 ",\"control_bytes\":%" PRIu64 "},\"types\":{",
                 s.capacity, s.allocated, s.peak_allocated, s.live_blocks, s.largest_free, s.oom_count,
                 s.free_blocks, s.control_bytes);
    bool first = true;
    for (const auto &[tag, t] : types) {
        std::fprintf(f, "%s\"%s\":{\"blocks\":%" PRIu64 ",\"elements\":%" PRIu64 "}", first ? "" : ",",
                     sdmm_tag_name(tag), t.first, t.second);
        first = false;
    }
    std::fprintf(f, "},\"arena_bytes\":%zu}\n", len);
    return std::fclose(f) == 0 ? 0 : 1;
}

int make_file(const char *out, const char *expect) {
    std::vector<uint64_t> arena(kArenaBytes / 8);
    if (fill(arena.data(), kArenaBytes, expect) != 0) return 1;
    FILE *f = std::fopen(out, "wb");
    if (f == nullptr) return 1;
    const bool ok = std::fwrite(arena.data(), 1, kArenaBytes, f) == kArenaBytes;
    return std::fclose(f) == 0 && ok ? 0 : 1;
}

int make_shm(const std::string &name, const char *expect) {
    const int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) {
        std::perror("shm_open");
        return 1;
    }
    if (ftruncate(fd, kArenaBytes) != 0) {
        close(fd);
        return 1;
    }
    void *p = mmap(nullptr, kArenaBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return 1;
    const int rc = fill(p, kArenaBytes, expect);
    munmap(p, kArenaBytes);
    return rc;
}

}  // namespace

int main(int argc, char **argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "file" && argc == 4) return make_file(argv[2], argv[3]);
    if (mode == "shm" && argc == 4) return make_shm(argv[2], argv[3]);
    if (mode == "unlink" && argc == 3) return shm_unlink(argv[2]) == 0 ? 0 : 1;
    std::fprintf(stderr, "usage: make_heap file OUT EXPECT | shm NAME EXPECT | unlink NAME\n");
    return 2;
}
