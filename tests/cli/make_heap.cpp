// make_heap.cpp -- builds heaps for the tests of the `sdmm` tool and writes
// what sdmm's own API says about them (the expectation the tool's output is
// compared with).
//
//   make_heap file OUT EXPECT.json     a 64 KiB heap written to OUT (raw arena bytes)
//   make_heap shm NAME EXPECT.json     the same heap built in POSIX shared memory NAME (left there)
//   make_heap unlink NAME              removes the shared-memory object
//   make_heap shared NAME EXPECT.json [file]
//                                      a process-shared heap (sdmm_shared_*, a POSIX
//                                      shared-memory name or, with `file`, a path) that
//                                      grows, used by two clients with a quota; prints
//                                      "ready" and keeps its client open until stdin closes
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "sdmm.h"
#include "sdmm_shared.h"

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

// ---- a process-shared heap -------------------------------------------------

struct Made {
    uint64_t handle;
    uint32_t tag, len;
};

#define MUST(expr)                                                                           \
    do {                                                                                     \
        const uint32_t st_ = (expr);                                                         \
        if (st_ != SDMM_OK) {                                                                \
            std::fprintf(stderr, "make_heap: %s: %s\n", #expr, sdmm_shared_status_str(st_)); \
            return 1;                                                                        \
        }                                                                                    \
    } while (0)

// Allocates `count` blocks of every tag in turn, frees every third, resizes
// one; the blocks still live are appended to `live`.
int churn(sdmm_shared *s, uint32_t count, uint32_t scale, std::vector<Made> *live) {
    std::vector<Made> made;
    for (uint32_t i = 0; i < count; ++i) {
        const uint32_t tag = 1 + i % (SDMM_TAG_COUNT - 1);
        sdmm_block b{};
        MUST(sdmm_shared_alloc(s, tag, 1 + (i * 37 + 11) % scale, &b));
        std::memset(b.as.u8, static_cast<int>(i), sdmm_tag_size(tag) * b.len);
        made.push_back({b.handle, tag, b.len});
    }
    for (std::size_t i = 0; i < made.size(); ++i) {
        if (i % 3 == 0) {
            MUST(sdmm_shared_free(s, made[i].handle, made[i].tag));
        } else if (i == 4) {
            sdmm_block b{};
            MUST(sdmm_shared_resize(s, made[i].handle, made[i].tag, made[i].len * 3 + 1, &b));
            live->push_back({b.handle, b.tag, b.len});
        } else {
            live->push_back(made[i]);
        }
    }
    return 0;
}

int make_shared(const char *name, const char *expect_path, bool file) {
    const uint32_t flags = file ? SDMM_SHARED_FILE : 0u;
    sdmm_shared *a = nullptr;
    MUST(
        sdmm_shared_open_reserve(name, 64 << 10, 1 << 20, SDMM_SHARED_CREATE | SDMM_SHARED_EXCL | flags, &a));
    std::vector<Made> live_a, live_b;
    if (churn(a, 60, 200, &live_a) != 0) return 1;
    // The second client, in another process: it joins, gets a quota from
    // the admin, allocates past the initial arena (the heap grows), runs
    // into its quota, and closes with blocks left (its slot stays, detached).
    int to_child[2], to_parent[2];
    if (pipe(to_child) != 0 || pipe(to_parent) != 0) return 1;
    const pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
        close(to_child[1]);
        close(to_parent[0]);
        sdmm_shared *b = nullptr;
        MUST(sdmm_shared_open(name, 0, flags, &b));
        const uint32_t id = sdmm_shared_client(b);
        if (write(to_parent[1], &id, sizeof id) != sizeof id) _exit(1);
        char go = 0;
        if (read(to_child[0], &go, 1) != 1) _exit(1);
        std::vector<Made> mine;
        if (churn(b, 90, 250, &mine) != 0) _exit(1);
        sdmm_block big{};
        if (sdmm_shared_alloc(b, SDMM_TAG_U8, 300 << 10, &big) != SDMM_SHARED_ERR_QUOTA) _exit(1);
        MUST(sdmm_shared_grant(b, sdmm_shared_client(a), 1));
        const uint32_t n = static_cast<uint32_t>(mine.size());
        if (write(to_parent[1], &n, sizeof n) != sizeof n) _exit(1);
        for (const Made &m : mine) {
            if (write(to_parent[1], &m, sizeof m) != sizeof m) _exit(1);
        }
        MUST(sdmm_shared_close(b));
        _exit(0);
    }
    close(to_child[0]);
    close(to_parent[1]);
    uint32_t id_b = 0, n = 0;
    if (read(to_parent[0], &id_b, sizeof id_b) != sizeof id_b) return 1;
    MUST(sdmm_shared_set_quota(a, id_b, 200 << 10));
    const char go = 1;
    if (write(to_child[1], &go, 1) != 1) return 1;
    if (read(to_parent[0], &n, sizeof n) != sizeof n) return 1;
    for (uint32_t i = 0; i < n; ++i) {
        Made m{};
        if (read(to_parent[0], &m, sizeof m) != sizeof m) return 1;
        live_b.push_back(m);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
    // A few more of the admin's after the growth.
    if (churn(a, 20, 50, &live_a) != 0) return 1;
    MUST(sdmm_shared_check(a));
    if (file) MUST(sdmm_shared_sync(a));

    // The expectation: the heap's own figures, each client's, and the owner
    // of every live block as sdmm_shared_owner answers it.
    sdmm_shared_info info{};
    MUST(sdmm_shared_info_get(a, &info));
    FILE *f = std::fopen(expect_path, "w");
    if (f == nullptr) return 1;
    std::map<uint32_t, std::pair<uint64_t, uint64_t>> types;
    std::map<uint32_t, std::pair<uint64_t, uint64_t>> clients;  // id -> blocks, charged bytes
    std::fprintf(
        f, "{\"arena_bytes\":%" PRIu64 ",\"arena_max\":%" PRIu64 ",\"admin\":%u,\"pid\":%d,\"blocks\":[",
        info.arena_bytes, info.arena_max_bytes, info.admin, static_cast<int>(getpid()));
    bool first = true;
    for (const auto *list : {&live_a, &live_b}) {
        for (const Made &m : *list) {
            uint32_t owner = 0;
            MUST(sdmm_shared_owner(a, m.handle, m.tag, &owner));
            std::fprintf(f, "%s{\"handle\":%" PRIu64 ",\"owner\":%u}", first ? "" : ",", m.handle, owner);
            first = false;
            types[m.tag].first += 1;
            types[m.tag].second += m.len;
            clients[owner].first += 1;
            clients[owner].second += 8 + (uint64_t{m.len} * sdmm_tag_size(m.tag) + 7) / 8 * 8;
        }
    }
    std::fprintf(f, "],\"clients\":{");
    first = true;
    for (const auto &[id, c] : clients) {
        std::fprintf(f, "%s\"%u\":{\"blocks\":%" PRIu64 ",\"used\":%" PRIu64 ",\"quota\":%s}",
                     first ? "" : ",", id, c.first, c.second, id == id_b ? "204800" : "null");
        first = false;
    }
    std::fprintf(f, "},\"used_a\":%" PRIu64 ",\"b\":%u,\"types\":{", info.used, id_b);
    first = true;
    for (const auto &[tag, t] : types) {
        std::fprintf(f, "%s\"%s\":{\"blocks\":%" PRIu64 ",\"elements\":%" PRIu64 "}", first ? "" : ",",
                     sdmm_tag_name(tag), t.first, t.second);
        first = false;
    }
    std::fprintf(f, "},\"stats\":{\"allocated\":%" PRIu64 ",\"live_blocks\":%" PRIu64 "}}\n",
                 info.stats.allocated, info.stats.live_blocks);
    if (std::fclose(f) != 0) return 1;
    std::printf("ready\n");
    std::fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0) {
    }
    MUST(sdmm_shared_close(a));
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "file" && argc == 4) return make_file(argv[2], argv[3]);
    if (mode == "shm" && argc == 4) return make_shm(argv[2], argv[3]);
    if (mode == "unlink" && argc == 3) return shm_unlink(argv[2]) == 0 ? 0 : 1;
    if (mode == "shared" && (argc == 4 || (argc == 5 && std::strcmp(argv[4], "file") == 0)))
        return make_shared(argv[2], argv[3], argc == 5);
    std::fprintf(
        stderr,
        "usage: make_heap file OUT EXPECT | shm NAME EXPECT | unlink NAME | shared NAME EXPECT [file]\n");
    return 2;
}
