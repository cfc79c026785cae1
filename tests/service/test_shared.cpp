// test_shared.cpp -- the shared-heap service across processes (ffi/sdmm_shared.h).
//
// One binary, one scenario per argument (each is a ctest test):
//   basic    two processes see the same elements at different addresses; statuses
//   quota    quota and ownership refusals, grants, admin-only quotas, reap
//   file     a file-backed heap written by one process, reopened by another
//            after every process has exited
//   torn     clients killed by a fault in the middle of a core call (a page of
//            their mapping made read-only): the heap is torn, the next client
//            repairs it, no block is lost and no element byte changes
//   four     4 processes exchanging handles through pipes, against a shadow
//            model (SDMM_SHARED_OPS operations per process; 250000 = 1 M total)
//   cpp      the C++ wrapper (sdmm/shared.hpp)
//   chaos    SIGKILL of a random client, SDMM_SHARED_KILLS times, while all run:
//            survivors carry on, every announced block of the dead is intact
//   grow     a heap created small grows under allocation pressure from two
//            processes up to its maximum, then refuses; handles stay valid
//   growtorn clients killed by a fault inside a growth (before it, in the
//            middle of the core's stores, after them): the next client rolls
//            it back, no block is lost, and the heap still grows
#include <sdmm_shared.h>
#include <sdmm_shared_layout.h>
#include <sdmm/shared.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            std::fflush(stderr);                                                          \
            _exit(1);                                                                     \
        }                                                                                 \
    } while (0)
#define CHECK_ST(expr, want)                                                                        \
    do {                                                                                            \
        const uint32_t got_ = (expr);                                                               \
        if (got_ != (want)) {                                                                       \
            std::fprintf(stderr, "%s:%d: %s = %u (%s), want %s\n", __FILE__, __LINE__, #expr, got_, \
                         sdmm_shared_status_str(got_), #want);                                      \
            std::fflush(stderr);                                                                    \
            _exit(1);                                                                               \
        }                                                                                           \
    } while (0)

uint64_t mix(uint64_t &s) {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

long env_long(const char *name, long fallback) {
    const char *v = std::getenv(name);
    return v != nullptr && *v != 0 ? std::strtol(v, nullptr, 10) : fallback;
}

std::string shm_name(const char *what) { return "/sdmm-test-" + std::to_string(getpid()) + "-" + what; }

uint64_t block_bytes(const sdmm_block &b) { return uint64_t{b.len} * sdmm_tag_size(b.tag); }

void fill(const sdmm_block &b, uint64_t seed) {
    uint8_t *p = b.as.u8;  // every member holds the same address
    const uint64_t n = block_bytes(b);
    for (uint64_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>((seed >> ((i & 7) * 8)) + i);
}

bool holds(const sdmm_block &b, uint64_t seed, uint64_t upto) {
    const uint8_t *p = b.as.u8;
    const uint64_t n = block_bytes(b) < upto ? block_bytes(b) : upto;
    for (uint64_t i = 0; i < n; ++i) {
        if (p[i] != static_cast<uint8_t>((seed >> ((i & 7) * 8)) + i)) return false;
    }
    return true;
}

constexpr uint32_t kTags[] = {SDMM_TAG_U8, SDMM_TAG_U32, SDMM_TAG_U64, SDMM_TAG_U128, SDMM_TAG_PUBKEY};

int wait_child(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

bool exited_ok(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

// Messages on pipes: 32 bytes, written atomically (< PIPE_BUF).
struct Msg {
    uint64_t kind;  // scenario-specific
    uint64_t handle;
    uint64_t tag_len;  // tag << 32 | len
    uint64_t seed;
};

void write_all(int fd, const void *p, size_t n) {
    const auto *c = static_cast<const char *>(p);
    while (n > 0) {
        const ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        CHECK(w > 0);
        c += w;
        n -= static_cast<size_t>(w);
    }
}

double now_s() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// ---- basic -----------------------------------------------------------------

int scenario_basic() {
    const std::string name = shm_name("basic");
    sdmm_shared *s = nullptr;
    CHECK_ST(sdmm_shared_open(name.c_str(), 1 << 20, SDMM_SHARED_CREATE | SDMM_SHARED_EXCL, &s), SDMM_OK);
    sdmm_shared *again = nullptr;
    CHECK_ST(sdmm_shared_open(name.c_str(), 1 << 20, SDMM_SHARED_CREATE | SDMM_SHARED_EXCL, &again),
             SDMM_SHARED_ERR_SYSTEM);
    sdmm_block b{};
    CHECK_ST(sdmm_shared_alloc(s, SDMM_TAG_U64, 100, &b), SDMM_OK);
    for (uint32_t i = 0; i < 100; ++i) CHECK(b.as.u64[i] == 0);
    for (uint32_t i = 0; i < 100; ++i) b.as.u64[i] = i * 3 + 1;
    sdmm_block k{};
    CHECK_ST(sdmm_shared_alloc(s, SDMM_TAG_PUBKEY, 2, &k), SDMM_OK);
    k.as.pubkey[1].bytes[31] = 0xAB;
    int to_child[2], to_parent[2];
    CHECK(pipe(to_child) == 0 && pipe(to_parent) == 0);
    const pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        // A second mapping of the same heap, at another address.
        sdmm_shared *c = nullptr;
        CHECK_ST(sdmm_shared_open(name.c_str(), 0, 0, &c), SDMM_OK);
        CHECK(sdmm_shared_client(c) != sdmm_shared_client(s));
        uint64_t handles[2];
        CHECK(read(to_child[0], handles, sizeof handles) == sizeof handles);
        sdmm_block r{};
        CHECK_ST(sdmm_shared_resolve(c, handles[0], SDMM_TAG_U64, &r), SDMM_OK);
        CHECK(r.as.raw != b.as.raw);  // another address ...
        CHECK(r.len == 100);
        for (uint32_t i = 0; i < 100; ++i) CHECK(r.as.u64[i] == i * 3 + 1);  // ... same elements
        CHECK_ST(sdmm_shared_resolve(c, handles[0], SDMM_TAG_U32, &r), SDMM_ERR_TAG_MISMATCH);
        CHECK_ST(sdmm_shared_resolve(c, handles[1], SDMM_TAG_PUBKEY, &r), SDMM_OK);
        CHECK(r.as.pubkey[1].bytes[31] == 0xAB);
        r.as.pubkey[0].bytes[0] = 0x5A;  // written here, read by the parent
        // Not its block, nothing granted.
        CHECK_ST(sdmm_shared_free(c, handles[0], SDMM_TAG_U64), SDMM_SHARED_ERR_NOT_OWNER);
        sdmm_block mine{};
        CHECK_ST(sdmm_shared_alloc(c, SDMM_TAG_U32, 7, &mine), SDMM_OK);
        mine.as.u32[6] = 77;
        write_all(to_parent[1], &mine.handle, sizeof mine.handle);
        CHECK_ST(sdmm_shared_close(c), SDMM_OK);
        _exit(0);
    }
    const uint64_t handles[2] = {b.handle, k.handle};
    write_all(to_child[1], handles, sizeof handles);
    uint64_t theirs = 0;
    CHECK(read(to_parent[0], &theirs, sizeof theirs) == sizeof theirs);
    CHECK(exited_ok(wait_child(pid)));
    CHECK(k.as.pubkey[0].bytes[0] == 0x5A);
    sdmm_block t{};
    CHECK_ST(sdmm_shared_resolve(s, theirs, SDMM_TAG_U32, &t), SDMM_OK);
    CHECK(t.as.u32[6] == 77);
    uint32_t owner = 99;
    CHECK_ST(sdmm_shared_owner(s, theirs, SDMM_TAG_U32, &owner), SDMM_OK);
    CHECK(owner != sdmm_shared_client(s));
    CHECK_ST(sdmm_shared_owner(s, b.handle, SDMM_TAG_U64, &owner), SDMM_OK);
    CHECK(owner == sdmm_shared_client(s));
    // The child closed with a block left: its slot is detached, reapable.
    CHECK_ST(sdmm_shared_reap(s, sdmm_shared_client(s)), SDMM_SHARED_ERR_BAD_CLIENT);
    uint32_t child_id = 0;
    CHECK_ST(sdmm_shared_owner(s, theirs, SDMM_TAG_U32, &child_id), SDMM_OK);
    CHECK_ST(sdmm_shared_reap(s, child_id), SDMM_OK);
    CHECK_ST(sdmm_shared_resolve(s, theirs, SDMM_TAG_U32, &t), SDMM_ERR_STALE_HANDLE);
    // Resize keeps the elements; the old handle goes stale when it moves.
    sdmm_block big{};
    CHECK_ST(sdmm_shared_resize(s, b.handle, SDMM_TAG_U64, 5000, &big), SDMM_OK);
    CHECK(big.len == 5000);
    for (uint32_t i = 0; i < 100; ++i) CHECK(big.as.u64[i] == i * 3 + 1);
    CHECK_ST(sdmm_shared_free(s, big.handle, SDMM_TAG_U64), SDMM_OK);
    CHECK_ST(sdmm_shared_free(s, big.handle, SDMM_TAG_U64), SDMM_ERR_STALE_HANDLE);
    CHECK_ST(sdmm_shared_free(s, k.handle, SDMM_TAG_PUBKEY), SDMM_OK);
    sdmm_shared_info info{};
    CHECK_ST(sdmm_shared_info_get(s, &info), SDMM_OK);
    CHECK(info.used == 0 && info.stats.live_blocks == 0 && info.admin == info.client);
    CHECK_ST(sdmm_shared_check(s), SDMM_OK);
    CHECK_ST(sdmm_shared_close(s), SDMM_OK);
    CHECK_ST(sdmm_shared_unlink(name.c_str(), 0), SDMM_OK);
    CHECK_ST(sdmm_shared_open(name.c_str(), 0, 0, &s), SDMM_SHARED_ERR_SYSTEM);
    std::printf("basic: ok (segment %llu bytes for a %llu-byte arena)\n",
                static_cast<unsigned long long>(info.segment_bytes),
                static_cast<unsigned long long>(info.arena_bytes));
    return 0;
}

// ---- the C++ wrapper ----------------------------------------------------------

int scenario_cpp() {
    const std::string name = shm_name("cpp");
    {
        auto heap = sdmm::SharedHeap::open(name.c_str(), 1 << 20, SDMM_SHARED_CREATE);
        CHECK(heap.has_value());
        auto peer = sdmm::SharedHeap::open(name.c_str(), 0, 0);
        CHECK(peer.has_value() && peer->client() != heap->client());
        auto prices = heap->alloc<uint64_t>(8);
        CHECK(prices.has_value() && prices->size() == 8);
        prices->span()[3] = 42;
        auto same = peer->resolve<uint64_t>(prices->handle());
        CHECK(same.has_value() && same->span()[3] == 42);
        CHECK(!peer->resolve<uint32_t>(prices->handle()).has_value());
        const auto refused = peer->free(*same);
        CHECK(!refused.has_value() && refused.error() == SDMM_SHARED_ERR_NOT_OWNER);
        CHECK(heap->grant(peer->client()).has_value());
        CHECK(heap->resize(*prices, 100).has_value() && prices->size() == 100 && prices->span()[3] == 42);
        CHECK(peer->free(*prices).has_value());
        CHECK(heap->check().has_value());
        CHECK(heap->info().has_value() && heap->info()->stats.live_blocks == 0);
        sdmm::SharedHeap moved = std::move(*heap);
        CHECK(moved.alloc<sdmm_pubkey>(1).has_value());
    }
    sdmm_shared_unlink(name.c_str(), 0);
    {
        // A heap that grows: a block larger than the arena makes it grow.
        auto heap = sdmm::SharedHeap::open_reserve(name.c_str(), 64 << 10, 1 << 20, SDMM_SHARED_CREATE);
        CHECK(heap.has_value() && heap->info()->arena_bytes == 64 << 10 &&
              heap->info()->arena_max_bytes == 1 << 20);
        auto big = heap->alloc<uint64_t>(20000);
        CHECK(big.has_value() && heap->info()->arena_bytes > 64 << 10);
        const auto refused =
            sdmm::SharedHeap::open_reserve(name.c_str(), 1 << 20, 1 << 16, SDMM_SHARED_CREATE);
        CHECK(!refused.has_value() && refused.error() == SDMM_ERR_TOO_LARGE);
    }
    sdmm_shared_unlink(name.c_str(), 0);
    std::printf("cpp: ok\n");
    return 0;
}

// ---- quota and ownership ---------------------------------------------------

int scenario_quota() {
    const std::string name = shm_name("quota");
    sdmm_shared *admin = nullptr, *a = nullptr, *b = nullptr;
    CHECK_ST(sdmm_shared_open(name.c_str(), 1 << 20, SDMM_SHARED_CREATE, &admin), SDMM_OK);
    CHECK_ST(sdmm_shared_open(name.c_str(), 0, 0, &a), SDMM_OK);
    CHECK_ST(sdmm_shared_open(name.c_str(), 0, 0, &b), SDMM_OK);
    const uint32_t ida = sdmm_shared_client(a), idb = sdmm_shared_client(b);
    CHECK_ST(sdmm_shared_set_quota(a, idb, 1), SDMM_SHARED_ERR_NOT_ADMIN);
    CHECK_ST(sdmm_shared_set_quota(admin, idb, 1000), SDMM_OK);
    // b: 100-byte u8 blocks cost 8 + 104 = 112 bytes each: 8 fit in 1000.
    std::vector<uint64_t> held;
    sdmm_block blk{};
    for (;;) {
        const sdmm_status st = sdmm_shared_alloc(b, SDMM_TAG_U8, 100, &blk);
        if (st != SDMM_OK) {
            CHECK_ST(st, SDMM_SHARED_ERR_QUOTA);
            CHECK(blk.status == SDMM_SHARED_ERR_QUOTA && blk.handle == 0);
            break;
        }
        held.push_back(blk.handle);
        CHECK(held.size() < 100);
    }
    CHECK(held.size() == 8);
    sdmm_shared_info info{};
    CHECK_ST(sdmm_shared_info_get(b, &info), SDMM_OK);
    CHECK(info.used == uint64_t{8} * 112 && info.quota == 1000);
    // Growing a block past the quota is refused too, and changes nothing.
    CHECK_ST(sdmm_shared_resize(b, held[0], SDMM_TAG_U8, 300, &blk), SDMM_SHARED_ERR_QUOTA);
    CHECK_ST(sdmm_shared_resolve(b, held[0], SDMM_TAG_U8, &blk), SDMM_OK);
    CHECK(blk.len == 100);
    // Other clients are not affected by b's quota.
    sdmm_block ablk{};
    CHECK_ST(sdmm_shared_alloc(a, SDMM_TAG_U64, 1000, &ablk), SDMM_OK);
    // Ownership: b may not free or resize a's block, nor a b's.
    CHECK_ST(sdmm_shared_free(b, ablk.handle, SDMM_TAG_U64), SDMM_SHARED_ERR_NOT_OWNER);
    CHECK_ST(sdmm_shared_resize(b, ablk.handle, SDMM_TAG_U64, 1, &blk), SDMM_SHARED_ERR_NOT_OWNER);
    CHECK_ST(sdmm_shared_free(a, held[0], SDMM_TAG_U8), SDMM_SHARED_ERR_NOT_OWNER);
    CHECK_ST(sdmm_shared_free(admin, held[0], SDMM_TAG_U8), SDMM_SHARED_ERR_NOT_OWNER);
    // Any client may read any block.
    CHECK_ST(sdmm_shared_resolve(b, ablk.handle, SDMM_TAG_U64, &blk), SDMM_OK);
    // A grant lets b free a's blocks; a's usage goes down, b's does not change.
    CHECK_ST(sdmm_shared_grant(a, idb, 1), SDMM_OK);
    CHECK_ST(sdmm_shared_free(b, ablk.handle, SDMM_TAG_U64), SDMM_OK);
    CHECK_ST(sdmm_shared_info_get(a, &info), SDMM_OK);
    CHECK(info.used == 0);
    CHECK_ST(sdmm_shared_alloc(a, SDMM_TAG_U64, 10, &ablk), SDMM_OK);
    CHECK_ST(sdmm_shared_grant(a, idb, 0), SDMM_OK);
    CHECK_ST(sdmm_shared_free(b, ablk.handle, SDMM_TAG_U64), SDMM_SHARED_ERR_NOT_OWNER);
    // A resize by a granted client is charged to the owner's quota.
    CHECK_ST(sdmm_shared_grant(b, ida, 1), SDMM_OK);
    CHECK_ST(sdmm_shared_resize(a, held[1], SDMM_TAG_U8, 500, &blk), SDMM_SHARED_ERR_QUOTA);
    CHECK_ST(sdmm_shared_resize(a, held[1], SDMM_TAG_U8, 8, &blk), SDMM_OK);
    held[1] = blk.handle;
    CHECK_ST(sdmm_shared_info_get(b, &info), SDMM_OK);
    CHECK(info.used == 7 * 112 + 16);
    // Freeing makes room again.
    CHECK_ST(sdmm_shared_free(b, held[0], SDMM_TAG_U8), SDMM_OK);
    CHECK_ST(sdmm_shared_alloc(b, SDMM_TAG_U8, 100, &blk), SDMM_OK);
    // Wrong calls are refused with their status and change nothing.
    CHECK_ST(sdmm_shared_free(b, blk.handle ^ (uint64_t{1} << 45), SDMM_TAG_U8), SDMM_ERR_STALE_HANDLE);
    CHECK_ST(sdmm_shared_free(b, 12345, SDMM_TAG_U8), SDMM_ERR_INVALID_BLOCK);
    CHECK_ST(sdmm_shared_alloc(b, SDMM_TAG_U8, 0, &blk), SDMM_ERR_ZERO_COUNT);
    CHECK_ST(sdmm_shared_alloc(b, 200, 1, &blk), SDMM_ERR_TAG_MISMATCH);
    CHECK_ST(sdmm_shared_grant(b, 64, 1), SDMM_SHARED_ERR_BAD_CLIENT);
    // A client whose process lives cannot be reaped (same process here).
    CHECK_ST(sdmm_shared_reap(admin, idb), SDMM_SHARED_ERR_BAD_CLIENT);
    CHECK_ST(sdmm_shared_check(admin), SDMM_OK);
    sdmm_shared_close(b);
    sdmm_shared_close(a);
    sdmm_shared_close(admin);
    sdmm_shared_unlink(name.c_str(), 0);
    std::printf("quota: ok\n");
    return 0;
}

// ---- file-backed heap reopened after every process exits -------------------

int scenario_file(const char *dir) {
    const std::string path = std::string(dir) + "/sdmm-file-heap-" + std::to_string(getpid());
    unlink(path.c_str());
    int fds[2];
    CHECK(pipe(fds) == 0);
    constexpr int kBlocks = 200;
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        sdmm_shared *s = nullptr;
        CHECK_ST(sdmm_shared_open(path.c_str(), 2 << 20, SDMM_SHARED_CREATE | SDMM_SHARED_FILE, &s), SDMM_OK);
        uint64_t rng = 7;
        for (int i = 0; i < kBlocks; ++i) {
            sdmm_block b{};
            const uint32_t tag = kTags[mix(rng) % 5];
            CHECK_ST(sdmm_shared_alloc(s, tag, 1 + static_cast<uint32_t>(mix(rng) % 300), &b), SDMM_OK);
            const Msg m{0, b.handle, uint64_t{b.tag} << 32 | b.len, mix(rng)};
            fill(b, m.seed);
            write_all(fds[1], &m, sizeof m);
        }
        CHECK_ST(sdmm_shared_sync(s), SDMM_OK);
        CHECK_ST(sdmm_shared_close(s), SDMM_OK);
        _exit(0);
    }
    close(fds[1]);
    CHECK(exited_ok(wait_child(pid)));
    std::vector<Msg> msgs(kBlocks);
    size_t got = 0;
    while (got < sizeof(Msg) * kBlocks) {
        const ssize_t r =
            read(fds[0], reinterpret_cast<char *>(msgs.data()) + got, sizeof(Msg) * kBlocks - got);
        CHECK(r > 0);
        got += static_cast<size_t>(r);
    }
    // Nothing maps the file now. A new process opens it by path.
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        sdmm_shared *s = nullptr;
        CHECK_ST(sdmm_shared_open(path.c_str(), 0, SDMM_SHARED_FILE, &s), SDMM_OK);
        CHECK_ST(sdmm_shared_check(s), SDMM_OK);
        for (const Msg &m : msgs) {
            sdmm_block b{};
            CHECK_ST(sdmm_shared_resolve(s, m.handle, static_cast<uint32_t>(m.tag_len >> 32), &b), SDMM_OK);
            CHECK(b.len == static_cast<uint32_t>(m.tag_len));
            CHECK(holds(b, m.seed, UINT64_MAX));
        }
        sdmm_shared_info info{};
        CHECK_ST(sdmm_shared_info_get(s, &info), SDMM_OK);
        CHECK(info.stats.live_blocks == kBlocks);
        sdmm_block b{};
        CHECK_ST(sdmm_shared_alloc(s, SDMM_TAG_U64, 10, &b), SDMM_OK);
        CHECK_ST(sdmm_shared_close(s), SDMM_OK);
        _exit(0);
    }
    CHECK(exited_ok(wait_child(pid)));
    CHECK_ST(sdmm_shared_unlink(path.c_str(), SDMM_SHARED_FILE), SDMM_OK);
    // A creator that died after sizing the file and before finishing the
    // header: opening with CREATE starts over; without CREATE it is refused.
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
    close(fd);
    sdmm_shared *s = nullptr;
    CHECK_ST(sdmm_shared_open(path.c_str(), 0, SDMM_SHARED_FILE, &s), SDMM_SHARED_ERR_LAYOUT);
    CHECK_ST(sdmm_shared_open(path.c_str(), 1 << 16, SDMM_SHARED_FILE | SDMM_SHARED_CREATE, &s), SDMM_OK);
    CHECK_ST(sdmm_shared_check(s), SDMM_OK);
    sdmm_shared_close(s);
    CHECK_ST(sdmm_shared_unlink(path.c_str(), SDMM_SHARED_FILE), SDMM_OK);
    std::printf("file: ok (%d blocks written by one process, read back by another after both exited)\n",
                kBlocks);
    return 0;
}

// ---- torn: a client dies by a fault in the middle of a core call ------------

int scenario_torn() {
    const std::string name = shm_name("torn");
    sdmm_shared *s = nullptr;
    CHECK_ST(sdmm_shared_open(name.c_str(), 256 << 10, SDMM_SHARED_CREATE, &s), SDMM_OK);
    const long rounds = env_long("SDMM_SHARED_TORN_ROUNDS", 120);
    long torn = 0, faulted = 0;
    uint64_t rng = 99;
    struct Known {
        uint64_t handle, seed;
        uint32_t tag, len;
    };
    std::vector<Known> known;  // blocks of earlier (dead, reaped-not) rounds: must survive
    for (long round = 0; round < rounds; ++round) {
        int fds[2];
        CHECK(pipe(fds) == 0);
        const uint64_t pick = mix(rng);
        const pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            sdmm_shared *c = nullptr;
            CHECK_ST(sdmm_shared_open(name.c_str(), 0, 0, &c), SDMM_OK);
            uint64_t r = pick;
            sdmm_block blocks[4];
            for (auto &b : blocks) {
                CHECK_ST(sdmm_shared_alloc(c, SDMM_TAG_U8, 64 + static_cast<uint32_t>(mix(r) % 9000), &b),
                         SDMM_OK);
                const Msg m{sdmm_shared_client(c), b.handle, uint64_t{b.tag} << 32 | b.len, mix(r)};
                fill(b, m.seed);
                write_all(fds[1], &m, sizeof m);
            }
            close(fds[1]);
            // Make one page of this process's mapping read-only: the first
            // store of the next call to land there kills it (SIGSEGV) with
            // the lock held and the call half done.
            const sdmm_block &victim = blocks[mix(r) % 4];
            const auto page = [](const uint8_t *p) {
                return const_cast<uint8_t *>(p - (reinterpret_cast<uintptr_t>(p) & 4095));
            };
            const auto *arena = reinterpret_cast<const uint8_t *>(sdmm_shared_heap(c));
            const uint8_t *target = nullptr;
            switch (mix(r) % 4) {
                case 0:  // control, class heads, block-start map
                    target = arena;
                    break;
                case 1:  // its header
                    target = victim.as.u8 - 8;
                    break;
                case 2:  // its end, the neighbour's header
                    target = victim.as.u8 + block_bytes(victim) + 8;
                    break;
                default:
                    target = arena + 4096;
                    break;
            }
            CHECK(mprotect(page(target), 4096, PROT_READ) == 0);
            sdmm_block out{};
            switch (mix(r) % 3) {
                case 0:
                    sdmm_shared_free(c, victim.handle, SDMM_TAG_U8);
                    break;
                case 1:
                    sdmm_shared_resize(c, victim.handle, SDMM_TAG_U8,
                                       1 + static_cast<uint32_t>(mix(r) % 20000), &out);
                    break;
                default:
                    sdmm_shared_alloc(c, SDMM_TAG_U64, 1 + static_cast<uint32_t>(mix(r) % 3000), &out);
                    break;
            }
            _exit(3);  // the call did not touch the page
        }
        close(fds[1]);
        const int status = wait_child(pid);
        std::vector<Known> mine;
        Msg m{};
        uint32_t dead_id = 0;
        while (read(fds[0], &m, sizeof m) == sizeof m) {
            mine.push_back(
                {m.handle, m.seed, static_cast<uint32_t>(m.tag_len >> 32), static_cast<uint32_t>(m.tag_len)});
            dead_id = static_cast<uint32_t>(m.kind);
        }
        close(fds[0]);
        CHECK(mine.size() == 4);
        if (WIFSIGNALED(status)) {
            CHECK(WTERMSIG(status) == SIGSEGV);
            ++faulted;
            // Unlocked look at the raw heap: is it torn?
            if (sdmm_heap_check(sdmm_shared_heap(s)) != SDMM_OK) ++torn;
        } else {
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
        }
        // The next locked call repairs; every block the dead client had is
        // there with its elements (the interrupted call is rolled back).
        CHECK_ST(sdmm_shared_check(s), SDMM_OK);
        for (const Known &k : mine) {
            sdmm_block b{};
            if (!WIFSIGNALED(status)) {
                // The call completed: the block may be freed or resized.
                if (sdmm_shared_resolve(s, k.handle, k.tag, &b) == SDMM_OK) CHECK(holds(b, k.seed, k.len));
                continue;
            }
            CHECK_ST(sdmm_shared_resolve(s, k.handle, k.tag, &b), SDMM_OK);
            CHECK(b.len == k.len && holds(b, k.seed, UINT64_MAX));
        }
        for (const Known &k : known) {
            sdmm_block b{};
            CHECK_ST(sdmm_shared_resolve(s, k.handle, k.tag, &b), SDMM_OK);
            CHECK(b.len == k.len && holds(b, k.seed, UINT64_MAX));
        }
        // Keep one round in four alive across later rounds; reap the rest.
        if (round % 4 == 0 && WIFSIGNALED(status) && known.size() < 40) {
            known.insert(known.end(), mine.begin(), mine.end());
        } else {
            CHECK_ST(sdmm_shared_reap(s, dead_id), SDMM_OK);
        }
        CHECK_ST(sdmm_shared_check(s), SDMM_OK);
    }
    sdmm_shared_info info{};
    CHECK_ST(sdmm_shared_info_get(s, &info), SDMM_OK);
    std::printf(
        "torn: %ld rounds, %ld killed inside a call, %ld left the heap torn, %llu recoveries, %llu "
        "rollbacks; all repaired, no block lost\n",
        rounds, faulted, torn, static_cast<unsigned long long>(info.recoveries),
        static_cast<unsigned long long>(info.rollbacks));
    // The test must have exercised the repair it claims to test.
    CHECK(torn > 0);
    CHECK(info.rollbacks >= static_cast<uint64_t>(torn));
    sdmm_shared_close(s);
    sdmm_shared_unlink(name.c_str(), 0);
    return 0;
}

// ---- four processes, handles through pipes, shadow model ---------------------

struct Shared4 {
    std::atomic<uint32_t> joined;
    uint32_t ids[4];
    std::atomic<uint64_t> ops[4];
};

struct Local {
    uint64_t handle, seed;
    uint32_t tag, len;
};

int worker4(const std::string &name, Shared4 *sh, int w, int in_fd, int out_fd, long ops) {
    sdmm_shared *s = nullptr;
    CHECK_ST(sdmm_shared_open(name.c_str(), 0, 0, &s), SDMM_OK);
    sh->ids[w] = sdmm_shared_client(s);
    sh->joined.fetch_add(1);
    while (sh->joined.load() < 4) usleep(100);
    // The next worker frees what this one sends it.
    CHECK_ST(sdmm_shared_grant(s, sh->ids[(w + 1) % 4], 1), SDMM_OK);
    fcntl(in_fd, F_SETFL, O_NONBLOCK);
    fcntl(out_fd, F_SETFL, O_NONBLOCK);
    uint64_t rng = 0x1234567ull * static_cast<uint64_t>(w + 1);
    std::vector<Local> mine;
    long done = 0;
    bool pred_done = false;
    char buf[sizeof(Msg) * 64];
    size_t have = 0;
    const auto drain = [&]() {
        const ssize_t r = read(in_fd, buf + have, sizeof buf - have);
        if (r <= 0) return;
        have += static_cast<size_t>(r);
        size_t at = 0;
        for (; at + sizeof(Msg) <= have; at += sizeof(Msg)) {
            Msg m;
            std::memcpy(&m, buf + at, sizeof m);
            if (m.kind == 1) {
                pred_done = true;
                continue;
            }
            sdmm_block b{};
            const auto tag = static_cast<uint32_t>(m.tag_len >> 32);
            CHECK_ST(sdmm_shared_resolve(s, m.handle, tag, &b), SDMM_OK);
            CHECK(b.len == static_cast<uint32_t>(m.tag_len) && holds(b, m.seed, UINT64_MAX));
            CHECK_ST(sdmm_shared_free(s, m.handle, tag), SDMM_OK);
            CHECK_ST(sdmm_shared_resolve(s, m.handle, tag, &b), SDMM_ERR_STALE_HANDLE);
            done += 3;
        }
        std::memmove(buf, buf + at, have - at);
        have -= at;
    };
    const auto send = [&](const Msg &m) {
        for (;;) {
            const ssize_t r = write(out_fd, &m, sizeof m);
            if (r == static_cast<ssize_t>(sizeof m)) return;
            CHECK(r < 0 && (errno == EAGAIN || errno == EINTR));
            drain();
        }
    };
    while (done < ops) {
        const uint64_t r = mix(rng) % 100;
        if (r < 35 && mine.size() < 64) {
            const uint32_t tag = kTags[mix(rng) % 5];
            const uint32_t len = 1 + static_cast<uint32_t>(mix(rng) % (mix(rng) % 8 == 0 ? 2000 : 40));
            sdmm_block b{};
            CHECK_ST(sdmm_shared_alloc(s, tag, len, &b), SDMM_OK);
            CHECK(holds(b, 0, 0) && b.len == len);
            const Local l{b.handle, mix(rng), tag, len};
            fill(b, l.seed);
            mine.push_back(l);
        } else if (r < 55 && !mine.empty()) {
            const size_t i = mix(rng) % mine.size();
            const Local l = mine[i];
            mine[i] = mine.back();
            mine.pop_back();
            send(Msg{0, l.handle, uint64_t{l.tag} << 32 | l.len, l.seed});
        } else if (r < 80 && !mine.empty()) {
            const size_t i = mix(rng) % mine.size();
            sdmm_block b{};
            CHECK_ST(sdmm_shared_resolve(s, mine[i].handle, mine[i].tag, &b), SDMM_OK);
            CHECK(holds(b, mine[i].seed, UINT64_MAX));
            CHECK_ST(sdmm_shared_free(s, mine[i].handle, mine[i].tag), SDMM_OK);
            mine[i] = mine.back();
            mine.pop_back();
            ++done;
        } else if (r < 90 && !mine.empty()) {
            Local &l = mine[mix(rng) % mine.size()];
            const uint32_t len = 1 + static_cast<uint32_t>(mix(rng) % 600);
            sdmm_block b{};
            CHECK_ST(sdmm_shared_resize(s, l.handle, l.tag, len, &b), SDMM_OK);
            CHECK(b.len == len && holds(b, l.seed, uint64_t{l.len} * sdmm_tag_size(l.tag)));
            l.handle = b.handle;
            l.len = len;
            l.seed = mix(rng);
            fill(b, l.seed);
        } else if (!mine.empty()) {
            const Local &l = mine[mix(rng) % mine.size()];
            sdmm_block b{};
            CHECK_ST(sdmm_shared_resolve(s, l.handle, l.tag, &b), SDMM_OK);
            CHECK(holds(b, l.seed, UINT64_MAX));
        }
        ++done;
        if ((done & 7) == 0) drain();
    }
    for (const Local &l : mine) CHECK_ST(sdmm_shared_free(s, l.handle, l.tag), SDMM_OK);
    send(Msg{1, 0, 0, 0});
    while (!pred_done || have != 0) {
        drain();
        if (!pred_done) usleep(50);
    }
    sh->ops[w].store(static_cast<uint64_t>(done));
    sdmm_shared_close(s);
    return 0;
}

// A zeroed T in memory the forked children share with this process.
template <class T>
T *shared_with_children() {
    void *mem = mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(mem != MAP_FAILED);
    return new (mem) T{};
}

int scenario_four() {
    const long ops = env_long("SDMM_SHARED_OPS", 40000);
    const std::string name = shm_name("four");
    sdmm_shared *s = nullptr;
    CHECK_ST(sdmm_shared_open(name.c_str(), 16 << 20, SDMM_SHARED_CREATE, &s), SDMM_OK);
    auto *sh = shared_with_children<Shared4>();
    int pipes[4][2];
    for (auto &p : pipes) CHECK(pipe(p) == 0);
    const double t0 = now_s();
    pid_t pids[4];
    for (int w = 0; w < 4; ++w) {
        pids[w] = fork();
        CHECK(pids[w] >= 0);
        // Worker w reads pipe w and writes pipe w+1.
        if (pids[w] == 0) {
            for (int i = 0; i < 4; ++i) {
                if (i != w) close(pipes[i][0]);
                if (i != (w + 1) % 4) close(pipes[i][1]);
            }
            _exit(worker4(name, sh, w, pipes[w][0], pipes[(w + 1) % 4][1], ops));
        }
    }
    for (auto &p : pipes) {
        close(p[0]);
        close(p[1]);
    }
    bool ok = true;
    for (const pid_t p : pids) ok = exited_ok(wait_child(p)) && ok;
    const double dt = now_s() - t0;
    CHECK(ok);
    uint64_t total = 0;
    for (auto &o : sh->ops) total += o.load();
    CHECK(total >= static_cast<uint64_t>(4 * ops));
    CHECK_ST(sdmm_shared_check(s), SDMM_OK);
    sdmm_shared_info info{};
    CHECK_ST(sdmm_shared_info_get(s, &info), SDMM_OK);
    CHECK(info.stats.live_blocks == 0 && info.stats.allocated == 0);
    std::printf(
        "four: 4 processes, %llu operations checked against the shadow model in %.2f s (%.0f ops/s)\n",
        static_cast<unsigned long long>(total), dt, static_cast<double>(total) / dt);
    sdmm_shared_close(s);
    sdmm_shared_unlink(name.c_str(), 0);
    return 0;
}

// ---- chaos: SIGKILL a random client, many times ------------------------------

// Each worker keeps its shadow model in memory shared with the parent (plain
// stores, no system call: the workers spend their time in the heap's calls,
// so kills often land while they hold the lock). A slot is written in full
// before its state says kLive, and says kFreeing before the block is given
// to a free or resize.
enum : uint32_t { kEmpty = 0, kLive = 1, kFreeing = 2 };
constexpr int kChaosSlots = 48;
constexpr int kChaosWorkers = 4;

struct ChaosSlot {
    uint64_t handle, seed;
    uint32_t tag, len;
    std::atomic<uint32_t> state;
};

struct ChaosModel {
    std::atomic<uint32_t> id;  // client id, UINT32_MAX until joined
    ChaosSlot slots[kChaosSlots];
};

struct ChaosShared {
    std::atomic<uint32_t> stop;
    std::atomic<uint64_t> ops;
    ChaosModel models[kChaosWorkers];
};

int chaos_worker(const std::string &name, ChaosShared *sh, ChaosModel *model, uint64_t seed) {
    sdmm_shared *s = nullptr;
    CHECK_ST(sdmm_shared_open(name.c_str(), 0, 0, &s), SDMM_OK);
    model->id.store(sdmm_shared_client(s));
    uint64_t rng = seed;
    while (sh->stop.load(std::memory_order_relaxed) == 0) {
        const uint64_t r = mix(rng) % 100;
        ChaosSlot &slot = model->slots[mix(rng) % kChaosSlots];
        const uint32_t state = slot.state.load(std::memory_order_relaxed);
        if (r < 45 && state == kEmpty) {
            const uint32_t tag = kTags[mix(rng) % 5];
            sdmm_block b{};
            CHECK_ST(sdmm_shared_alloc(s, tag, 1 + static_cast<uint32_t>(mix(rng) % 24), &b), SDMM_OK);
            slot.handle = b.handle;
            slot.seed = mix(rng);
            slot.tag = tag;
            slot.len = b.len;
            fill(b, slot.seed);
            slot.state.store(kLive, std::memory_order_release);
        } else if (r < 75 && state == kLive) {
            sdmm_block b{};
            CHECK_ST(sdmm_shared_resolve(s, slot.handle, slot.tag, &b), SDMM_OK);
            CHECK(b.len == slot.len && holds(b, slot.seed, UINT64_MAX));
            slot.state.store(kFreeing, std::memory_order_release);
            CHECK_ST(sdmm_shared_free(s, slot.handle, slot.tag), SDMM_OK);
            slot.state.store(kEmpty, std::memory_order_release);
        } else if (r < 90 && state == kLive) {
            slot.state.store(kFreeing, std::memory_order_release);
            sdmm_block b{};
            const uint32_t len = 1 + static_cast<uint32_t>(mix(rng) % 32);
            CHECK_ST(sdmm_shared_resize(s, slot.handle, slot.tag, len, &b), SDMM_OK);
            CHECK(holds(b, slot.seed, uint64_t{slot.len} * sdmm_tag_size(slot.tag)));
            slot.handle = b.handle;
            slot.seed = mix(rng);
            slot.len = len;
            fill(b, slot.seed);
            slot.state.store(kLive, std::memory_order_release);
        } else if (r >= 98) {
            // Verify every block of this client: a repair after another
            // client's death must not have touched them.
            for (const ChaosSlot &l : model->slots) {
                if (l.state.load(std::memory_order_relaxed) != kLive) continue;
                sdmm_block b{};
                CHECK_ST(sdmm_shared_resolve(s, l.handle, l.tag, &b), SDMM_OK);
                CHECK(b.len == l.len && holds(b, l.seed, UINT64_MAX));
            }
        }
        sh->ops.fetch_add(1, std::memory_order_relaxed);
    }
    for (ChaosSlot &l : model->slots) {
        if (l.state.load() == kLive) CHECK_ST(sdmm_shared_free(s, l.handle, l.tag), SDMM_OK);
    }
    sdmm_shared_close(s);
    return 0;
}

int scenario_chaos() {
    const long kills = env_long("SDMM_SHARED_KILLS", 150);
    const std::string name = shm_name("chaos");
    sdmm_shared *s = nullptr;
    CHECK_ST(sdmm_shared_open(name.c_str(), 8 << 20, SDMM_SHARED_CREATE, &s), SDMM_OK);
    auto *sh = shared_with_children<ChaosShared>();
    pid_t pids[kChaosWorkers];
    uint64_t rng = 4242;
    const auto spawn = [&](int w) {
        ChaosModel &m = sh->models[w];
        m.id.store(UINT32_MAX);
        for (ChaosSlot &l : m.slots) l.state.store(kEmpty);
        const uint64_t seed = mix(rng);
        pids[w] = fork();
        CHECK(pids[w] >= 0);
        if (pids[w] == 0) _exit(chaos_worker(name, sh, &m, seed));
    };
    for (int w = 0; w < kChaosWorkers; ++w) spawn(w);
    uint64_t checked_blocks = 0;
    for (long k = 0; k < kills; ++k) {
        usleep(200 + static_cast<useconds_t>(mix(rng) % 2800));  // let everyone run 0.2..3 ms
        const int w = static_cast<int>(mix(rng) % kChaosWorkers);
        kill(pids[w], SIGKILL);
        const int status = wait_child(pids[w]);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        // Every block the dead client had and was not freeing or resizing
        // is intact (the first locked call repairs the heap if needed).
        const ChaosModel &m = sh->models[w];
        for (const ChaosSlot &l : m.slots) {
            if (l.state.load() != kLive) continue;
            sdmm_block b{};
            CHECK_ST(sdmm_shared_resolve(s, l.handle, l.tag, &b), SDMM_OK);
            CHECK(b.len == l.len && holds(b, l.seed, UINT64_MAX));
            ++checked_blocks;
        }
        CHECK_ST(sdmm_shared_check(s), SDMM_OK);
        if (m.id.load() != UINT32_MAX) {
            // A worker that was joining meanwhile may have taken over the
            // dead client's slot, if it owned nothing: then reap refuses.
            const sdmm_status st = sdmm_shared_reap(s, m.id.load());
            bool taken = false;
            for (int o = 0; o < kChaosWorkers; ++o)
                taken = taken || (o != w && sh->models[o].id.load() == m.id.load());
            if (!taken) CHECK_ST(st, SDMM_OK);
        }
        spawn(w);
    }
    sh->stop.store(1);
    bool ok = true;
    for (const pid_t pid : pids) ok = exited_ok(wait_child(pid)) && ok;
    CHECK(ok);  // every survivor verified its own blocks throughout and freed them
    CHECK_ST(sdmm_shared_check(s), SDMM_OK);
    sdmm_shared_info info{};
    CHECK_ST(sdmm_shared_info_get(s, &info), SDMM_OK);
    std::printf(
        "chaos: %ld SIGKILLs, %llu operations, %llu blocks of dead clients verified; %llu kills found "
        "holding the lock, %llu of them inside a call (rolled back); heap check ok\n",
        kills, static_cast<unsigned long long>(sh->ops.load()),
        static_cast<unsigned long long>(checked_blocks), static_cast<unsigned long long>(info.recoveries),
        static_cast<unsigned long long>(info.rollbacks));
    CHECK(info.stats.live_blocks == 0);
    CHECK(info.recoveries > 0);  // otherwise no kill hit the lock: the test proved nothing
    sdmm_shared_close(s);
    sdmm_shared_unlink(name.c_str(), 0);
    return 0;
}

// ---- grow: a small heap grows under pressure up to its maximum ---------------

uint64_t arena_now(sdmm_shared *s) {
    sdmm_shared_info info{};
    CHECK_ST(sdmm_shared_info_get(s, &info), SDMM_OK);
    return info.arena_bytes;
}

// Allocates until the heap refuses, checking every block it holds each time
// the arena grows (by its own call or the other process's); sends every
// block to the parent. The two workers take turns (a token on pipes: 1 your
// turn, 2 your turn and I am done), so each sees every growth.
int grow_worker(const std::string &name, int out_fd, int turn_in, int turn_out, uint64_t seed,
                uint64_t max_bytes) {
    sdmm_shared *s = nullptr;
    CHECK_ST(sdmm_shared_open(name.c_str(), 0, 0, &s), SDMM_OK);
    std::vector<Msg> mine;
    uint64_t rng = seed, seen = arena_now(s), growths = 0;
    bool alone = false;
    const auto pass = [&](uint8_t token) {
        if (!alone) write_all(turn_out, &token, 1);
    };
    for (;;) {
        if (!alone) {
            uint8_t token = 0;
            CHECK(read(turn_in, &token, 1) == 1 && (token == 1 || token == 2));
            alone = token == 2;
        }
        const uint32_t tag = kTags[mix(rng) % 5];
        const uint32_t n = 1 + static_cast<uint32_t>(mix(rng) % 300);
        sdmm_block b{};
        const sdmm_status st = sdmm_shared_alloc(s, tag, n, &b);
        const uint64_t now = arena_now(s);
        CHECK(now >= seen && now <= max_bytes);
        if (now != seen) {
            // Grown (here or by the other process): every handle still
            // resolves to the same elements.
            ++growths;
            for (const Msg &k : mine) {
                sdmm_block r{};
                CHECK_ST(sdmm_shared_resolve(s, k.handle, static_cast<uint32_t>(k.tag_len >> 32), &r),
                         SDMM_OK);
                CHECK(r.len == static_cast<uint32_t>(k.tag_len) && holds(r, k.seed, UINT64_MAX));
            }
            seen = now;
        }
        if (st != SDMM_OK) {
            // Refused only once the heap is as large as it may be.
            CHECK_ST(st, SDMM_ERR_OUT_OF_MEMORY);
            CHECK(now == max_bytes);
            pass(2);
            break;
        }
        const Msg m{0, b.handle, uint64_t{tag} << 32 | n, mix(rng)};
        fill(b, m.seed);
        mine.push_back(m);
        pass(1);
    }
    CHECK(growths >= 3 && !mine.empty());  // 64 KiB -> 1 MiB takes 4 doublings
    for (const Msg &m : mine) write_all(out_fd, &m, sizeof m);
    CHECK_ST(sdmm_shared_close(s), SDMM_OK);
    return 0;
}

int scenario_grow() {
    const std::string name = shm_name("grow");
    constexpr uint64_t kStart = 64 << 10, kMax = 1 << 20;
    sdmm_shared *s = nullptr;
    // Wrong sizes are refused before anything is created.
    CHECK_ST(sdmm_shared_open_reserve(name.c_str(), kMax, kStart, SDMM_SHARED_CREATE, &s),
             SDMM_ERR_TOO_LARGE);
    CHECK_ST(sdmm_shared_open_reserve(name.c_str(), kStart, 64 << 20, SDMM_SHARED_CREATE, &s),
             SDMM_ERR_ARENA_TOO_SMALL);
    CHECK_ST(sdmm_shared_open(name.c_str(), 0, 0, &s), SDMM_SHARED_ERR_SYSTEM);
    CHECK_ST(sdmm_shared_open_reserve(name.c_str(), kStart, kMax, SDMM_SHARED_CREATE | SDMM_SHARED_EXCL, &s),
             SDMM_OK);
    sdmm_shared_info info{};
    CHECK_ST(sdmm_shared_info_get(s, &info), SDMM_OK);
    CHECK(info.arena_bytes == kStart && info.arena_max_bytes == kMax);
    // A quota still comes first: a request past it is refused, not grown for.
    sdmm_shared *q = nullptr;
    CHECK_ST(sdmm_shared_open(name.c_str(), 0, 0, &q), SDMM_OK);
    CHECK_ST(sdmm_shared_set_quota(s, sdmm_shared_client(q), 100 << 10), SDMM_OK);
    sdmm_block b{};
    CHECK_ST(sdmm_shared_alloc(q, SDMM_TAG_U8, 200 << 10, &b), SDMM_SHARED_ERR_QUOTA);
    CHECK(arena_now(s) == kStart);
    // A block larger than the arena is now, within the quota: the heap grows for it.
    CHECK_ST(sdmm_shared_alloc(q, SDMM_TAG_U8, 90 << 10, &b), SDMM_OK);
    CHECK(arena_now(s) > kStart && arena_now(s) < kMax);
    fill(b, 5);
    // Larger than the maximum: refused as too large, and no growth for nothing.
    const uint64_t before = arena_now(s);
    sdmm_block big{};
    CHECK_ST(sdmm_shared_alloc(s, SDMM_TAG_U8, 2 << 20, &big), SDMM_ERR_TOO_LARGE);
    CHECK(arena_now(s) == before);
    // A resize that needs room grows the heap too; the elements move with it.
    sdmm_block r{};
    CHECK_ST(sdmm_shared_alloc(s, SDMM_TAG_U64, 10, &r), SDMM_OK);
    fill(r, 6);
    sdmm_block rr{};
    CHECK_ST(sdmm_shared_resize(s, r.handle, SDMM_TAG_U64, 40 << 10, &rr), SDMM_OK);
    CHECK(arena_now(s) > before && holds(rr, 6, 80));
    CHECK_ST(sdmm_shared_free(s, rr.handle, SDMM_TAG_U64), SDMM_OK);
    CHECK(holds(b, 5, UINT64_MAX));
    CHECK_ST(sdmm_shared_check(s), SDMM_OK);
    sdmm_shared_close(q);
    sdmm_shared_close(s);
    sdmm_shared_unlink(name.c_str(), 0);

    // Two processes allocate in a fresh small heap until it refuses.
    CHECK_ST(sdmm_shared_open_reserve(name.c_str(), kStart, kMax, SDMM_SHARED_CREATE | SDMM_SHARED_EXCL, &s),
             SDMM_OK);
    int fds[2][2], turns[2][2];  // turns[w]: worker w's turn
    for (auto &t : turns) CHECK(pipe(t) == 0);
    pid_t pids[2];
    for (int w = 0; w < 2; ++w) {
        CHECK(pipe(fds[w]) == 0);
        pids[w] = fork();
        CHECK(pids[w] >= 0);
        if (pids[w] == 0) {
            close(fds[w][0]);
            _exit(grow_worker(name, fds[w][1], turns[w][0], turns[1 - w][1], 1000 + static_cast<uint64_t>(w),
                              kMax));
        }
        close(fds[w][1]);
    }
    const uint8_t first = 1;
    write_all(turns[0][1], &first, 1);
    for (auto &t : turns) {
        close(t[0]);
        close(t[1]);
    }
    std::vector<Msg> all;
    for (auto &fd : fds) {
        Msg m{};
        ssize_t got = 0;
        while ((got = read(fd[0], &m, sizeof m)) == static_cast<ssize_t>(sizeof m)) all.push_back(m);
        CHECK(got == 0);
        close(fd[0]);
    }
    for (const pid_t p : pids) CHECK(exited_ok(wait_child(p)));
    CHECK_ST(sdmm_shared_check(s), SDMM_OK);
    CHECK_ST(sdmm_shared_info_get(s, &info), SDMM_OK);
    CHECK(info.arena_bytes == kMax);
    // Every block of both, at this process's address, with its elements.
    for (const Msg &m : all) {
        sdmm_block k{};
        CHECK_ST(sdmm_shared_resolve(s, m.handle, static_cast<uint32_t>(m.tag_len >> 32), &k), SDMM_OK);
        CHECK(k.len == static_cast<uint32_t>(m.tag_len) && holds(k, m.seed, UINT64_MAX));
    }
    // Full at its maximum: small blocks fill the last holes, then every
    // request is refused for lack of memory and the heap stays as it is.
    sdmm_status st = SDMM_OK;
    long small = 0;
    for (; small < 100000 && st == SDMM_OK; ++small) st = sdmm_shared_alloc(s, SDMM_TAG_U8, 8, &big);
    CHECK_ST(st, SDMM_ERR_OUT_OF_MEMORY);
    CHECK(arena_now(s) == kMax);
    CHECK_ST(sdmm_shared_check(s), SDMM_OK);
    std::printf(
        "grow: %llu KiB -> %llu KiB under two processes, %zu blocks of theirs intact, %ld more small ones\n",
        static_cast<unsigned long long>(kStart >> 10),
        static_cast<unsigned long long>(info.arena_bytes >> 10), all.size(), small - 1);
    sdmm_shared_close(s);
    sdmm_shared_unlink(name.c_str(), 0);
    return 0;
}

// ---- growtorn: a client dies inside a growth ----------------------------------

int scenario_growtorn() {
    const std::string name = shm_name("growtorn");
    constexpr uint64_t kStart = 64 << 10, kMax = 2 << 20;
    sdmm_shared *s = nullptr;
    CHECK_ST(sdmm_shared_open_reserve(name.c_str(), kStart, kMax, SDMM_SHARED_CREATE, &s), SDMM_OK);
    const long rounds = env_long("SDMM_SHARED_TORN_ROUNDS", 120);
    uint64_t rng = 77;
    std::vector<Msg> known;  // blocks that must survive every round
    for (int i = 0; i < 20; ++i) {
        sdmm_block b{};
        CHECK_ST(sdmm_shared_alloc(s, SDMM_TAG_U64, 1 + static_cast<uint32_t>(mix(rng) % 200), &b), SDMM_OK);
        const Msg m{0, b.handle, uint64_t{b.tag} << 32 | b.len, mix(rng)};
        fill(b, m.seed);
        known.push_back(m);
    }
    long faulted = 0, torn = 0, rolled_back = 0, after_growth = 0;
    for (long round = 0; round < rounds; ++round) {
        sdmm_shared_info info{};
        CHECK_ST(sdmm_shared_info_get(s, &info), SDMM_OK);
        const uint64_t before = info.arena_bytes, rollbacks = info.rollbacks;
        // Where it dies: 0-2 inside a growth; 3 after a growth that
        // completed, inside a free (the replay then holds the growth). 3
        // only while the arena is small, so that later rounds can still grow.
        uint64_t where = mix(rng) % 4;
        if (where == 3 && before * 4 > kMax) where = 1;
        int fds[2];
        CHECK(pipe(fds) == 0);
        const pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            sdmm_shared *c = nullptr;
            CHECK_ST(sdmm_shared_open(name.c_str(), 0, 0, &c), SDMM_OK);
            sdmm_block b{};
            CHECK_ST(sdmm_shared_alloc(c, SDMM_TAG_U32, 33, &b), SDMM_OK);
            const Msg m{sdmm_shared_client(c), b.handle, uint64_t{b.tag} << 32 | b.len, 0xC0FFEE};
            fill(b, m.seed);
            write_all(fds[1], &m, sizeof m);
            close(fds[1]);
            const auto *arena = reinterpret_cast<const uint8_t *>(sdmm_shared_heap(c));
            sdmm_shared_info ci{};
            CHECK_ST(sdmm_shared_info_get(c, &ci), SDMM_OK);
            // The page the growth's first store lands on (the new end), the
            // heap's control block (its last stores), or the state page
            // (after the core grew, before the length is recorded).
            uint8_t *page = nullptr;
            size_t len = 4096;
            if (where == 3) {
                sdmm_block big{};
                CHECK_ST(sdmm_shared_alloc(c, SDMM_TAG_U8, static_cast<uint32_t>(ci.arena_bytes), &big),
                         SDMM_OK);
                CHECK(arena_now(c) > ci.arena_bytes);
                CHECK(mprotect(const_cast<uint8_t *>(arena), 4096, PROT_READ) == 0);
                sdmm_shared_free(c, big.handle, SDMM_TAG_U8);
                _exit(3);
            }
            switch (where) {
                case 0:
                    page = const_cast<uint8_t *>(arena + ci.arena_bytes);
                    len = static_cast<size_t>(ci.arena_max_bytes - ci.arena_bytes);
                    break;
                case 1:
                    page = const_cast<uint8_t *>(arena);
                    break;
                default: {
                    // The state (usage counters, arena length): the page at
                    // usage_off, which is arena_off - usage_off before the arena.
                    sdmm_shm_geometry g{};
                    CHECK(sdmm_shm_geometry_of(ci.arena_max_bytes, &g) == 1);
                    page = const_cast<uint8_t *>(arena - (g.arena_off - g.usage_off));
                    break;
                }
            }
            CHECK(len > 0 && mprotect(page, len, PROT_READ) == 0);
            // Larger than the arena as it is: the call grows the heap first.
            sdmm_block out{};
            sdmm_shared_alloc(c, SDMM_TAG_U8, static_cast<uint32_t>(ci.arena_bytes), &out);
            _exit(3);  // the call did not fault
        }
        close(fds[1]);
        const int status = wait_child(pid);
        Msg m{};
        CHECK(read(fds[0], &m, sizeof m) == sizeof m);
        close(fds[0]);
        if (WIFSIGNALED(status)) {
            CHECK(WTERMSIG(status) == SIGSEGV);
            ++faulted;
            after_growth += where == 3 ? 1 : 0;
            if (sdmm_heap_check(sdmm_shared_heap(s)) != SDMM_OK) ++torn;
        } else {
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
        }
        // The next locked call repairs.
        CHECK_ST(sdmm_shared_check(s), SDMM_OK);
        // A growth in flight is rolled back; a completed one is replayed.
        if (WIFSIGNALED(status)) CHECK(where == 3 ? arena_now(s) > before : arena_now(s) == before);
        CHECK_ST(sdmm_shared_info_get(s, &info), SDMM_OK);
        rolled_back += static_cast<long>(info.rollbacks - rollbacks);
        for (const Msg &k : known) {
            sdmm_block b{};
            CHECK_ST(sdmm_shared_resolve(s, k.handle, static_cast<uint32_t>(k.tag_len >> 32), &b), SDMM_OK);
            CHECK(b.len == static_cast<uint32_t>(k.tag_len) && holds(b, k.seed, UINT64_MAX));
        }
        sdmm_block b{};
        CHECK_ST(sdmm_shared_resolve(s, m.handle, SDMM_TAG_U32, &b), SDMM_OK);
        CHECK(b.len == 33 && holds(b, m.seed, UINT64_MAX));
        CHECK_ST(sdmm_shared_reap(s, static_cast<uint32_t>(m.kind)), SDMM_OK);
        CHECK_ST(sdmm_shared_check(s), SDMM_OK);
    }
    // After all that the heap still grows, to its maximum.
    sdmm_block big{};
    CHECK_ST(sdmm_shared_alloc(s, SDMM_TAG_U8, static_cast<uint32_t>(kMax / 2), &big), SDMM_OK);
    CHECK(arena_now(s) == kMax);
    CHECK_ST(sdmm_shared_check(s), SDMM_OK);
    std::printf(
        "growtorn: %ld rounds, %ld killed inside a growth, %ld inside a free after one (replayed), %ld left "
        "the "
        "heap torn, %ld rolled back; no block lost, the heap grows after\n",
        rounds, faulted - after_growth, after_growth, torn, rolled_back);
    std::fflush(stdout);
    CHECK(faulted == rounds && torn > 0 && rolled_back >= torn && after_growth > 0);
    sdmm_shared_close(s);
    sdmm_shared_unlink(name.c_str(), 0);
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s basic|quota|cpp|file DIR|torn|four|chaos|grow|growtorn\n", argv[0]);
        return 2;
    }
    const std::string what = argv[1];
    // Prerequisite: POSIX shared memory (/dev/shm).
    const std::string probe = shm_name("probe");
    const int fd = shm_open(probe.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        std::printf("SKIP: no POSIX shared memory here (shm_open: %s)\n", std::strerror(errno));
        return 77;
    }
    close(fd);
    shm_unlink(probe.c_str());
    if (what == "basic") return scenario_basic();
    if (what == "quota") return scenario_quota();
    if (what == "cpp") return scenario_cpp();
    if (what == "file") return scenario_file(argc > 2 ? argv[2] : "/tmp");
    if (what == "torn") return scenario_torn();
    if (what == "four") return scenario_four();
    if (what == "chaos") return scenario_chaos();
    if (what == "grow") return scenario_grow();
    if (what == "growtorn") return scenario_growtorn();
    std::fprintf(stderr, "unknown scenario %s\n", what.c_str());
    return 2;
}
