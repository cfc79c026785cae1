// stress.cpp -- many threads allocating, checking and freeing each other's
// blocks. Built three ways (tests/host/CMakeLists.txt):
//   host_stress        the runtime's sdmm_host_* entry points, linked in
//   host_stress_tsan   the same under ThreadSanitizer (runtime rebuilt with it)
//   host_stress_libc   plain malloc/free, run with libsdmm-malloc.so preloaded
//
//   stress THREADS OPS_PER_THREAD [fork]
//
// Every block carries a pattern derived from its owner, sequence number and
// size, written when allocated and checked before it is freed (by whichever
// thread frees it) and after every realloc. calloc blocks are checked to be
// zero, aligned blocks to be aligned. A quarter of the frees go to another
// thread through a mailbox. Two generations of threads run: the second one
// adopts the heaps of the first and frees the blocks it left behind. With
// `fork`, the main thread forks children that allocate and free (and free
// blocks other threads allocated) while the workers run.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "../../cpp/testing/xorshift.hpp"

#ifdef STRESS_HOST_API
#include "sdmm_host.h"
#define S_MALLOC sdmm_host_malloc
#define S_CALLOC sdmm_host_calloc
#define S_REALLOC sdmm_host_realloc
#define S_FREE sdmm_host_free
#define S_ALIGNED sdmm_host_aligned_alloc
#define S_USABLE sdmm_host_usable_size
#else
#include <malloc.h>
#define S_MALLOC malloc
#define S_CALLOC calloc
#define S_REALLOC realloc
#define S_FREE free
#define S_ALIGNED aligned_alloc
#define S_USABLE malloc_usable_size
#endif

namespace {

struct Item {
    unsigned char *p;
    size_t size;
    uint64_t seed;
};

[[noreturn]] void fail(const char *what, const Item &it) {
    fprintf(stderr, "FAIL: %s (block %p, %zu bytes)\n", what, static_cast<void *>(it.p), it.size);
    fflush(stderr);
    abort();
}

void fill(const Item &it) {
    uint64_t x = it.seed | 1;
    size_t i = 0;
    for (; i + 8 <= it.size; i += 8) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        memcpy(it.p + i, &x, 8);
    }
    for (; i < it.size; ++i) it.p[i] = static_cast<unsigned char>(it.seed >> (i & 31));
}

void check(const Item &it, size_t upto) {
    uint64_t x = it.seed | 1;
    size_t i = 0;
    for (; i + 8 <= upto && i + 8 <= it.size; i += 8) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t got;
        memcpy(&got, it.p + i, 8);
        if (got != x) fail("contents changed", it);
    }
    if (upto == it.size) {
        for (; i < it.size; ++i) {
            if (it.p[i] != static_cast<unsigned char>(it.seed >> (i & 31)))
                fail("contents changed (tail)", it);
        }
    }
}

size_t draw_size(Rng &r) {
    const uint64_t k = r.below(10000);
    if (k < 7000) return 1 + r.below(128);
    if (k < 9800) return 1 + r.below(1024);
    if (k < 9998) return 1 + r.below(size_t{64} << 10);
    return (2u << 20) + r.below(1u << 20);  // large: mapped on its own
}

// One mailbox per thread: blocks another thread hands over for freeing.
struct Mailbox {
    std::mutex lock;
    std::vector<Item> items;
};

constexpr size_t kSlots = 512;

struct Shared {
    std::vector<Mailbox> boxes;
    std::mutex left_lock;
    std::vector<Item> left;  // blocks the first generation leaves to the second
    std::atomic<uint64_t> ops{0}, cross{0};
    std::atomic<bool> forking{false};
};

void drain_mailbox(Shared &sh, unsigned self) {
    std::vector<Item> got;
    {
        std::lock_guard<std::mutex> g(sh.boxes[self].lock);
        got.swap(sh.boxes[self].items);
    }
    for (const Item &it : got) {
        check(it, it.size);
        S_FREE(it.p);
    }
}

void worker(Shared &sh, unsigned self, unsigned threads, uint64_t ops, uint64_t seed, bool leave) {
    Rng r{seed * 0x9E3779B97F4A7C15ull + 12345};
    std::vector<Item> slots(kSlots, Item{nullptr, 0, 0});
    uint64_t seq = 0;
    uint64_t done = 0, cross = 0;
    auto release = [&](Item &it) {
        if (it.p == nullptr) return;
        if (threads > 1 && r.below(4) == 0) {
            unsigned to = static_cast<unsigned>(r.below(threads - 1));
            if (to >= self) ++to;
            std::lock_guard<std::mutex> g(sh.boxes[to].lock);
            if (sh.boxes[to].items.size() < 4096) {
                sh.boxes[to].items.push_back(it);
                it.p = nullptr;
                ++cross;
                return;
            }
        }
        check(it, it.size);
        S_FREE(it.p);
        it.p = nullptr;
    };
    while (done < ops) {
        if ((done & 63) == 0) drain_mailbox(sh, self);
        Item &it = slots[r.below(kSlots)];
        const uint64_t op = r.below(100);
        if (it.p != nullptr && op < 45) {
            release(it);
        } else if (it.p != nullptr && op < 55) {
            // realloc: the common prefix must survive.
            const size_t nsize = draw_size(r);
            auto *q = static_cast<unsigned char *>(S_REALLOC(it.p, nsize));
            if (q == nullptr) fail("realloc returned NULL", it);
            const size_t keep = nsize < it.size ? nsize : it.size;
            Item moved{q, keep, it.seed};
            check(moved, keep & ~size_t{7});
            it = Item{q, nsize, (self + 1) * 0x100000000ull + seq++};
            fill(it);
        } else if (it.p == nullptr) {
            const size_t size = draw_size(r);
            Item fresh{nullptr, size, (self + 1) * 0x100000000ull + seq++};
            const uint64_t kind = r.below(20);
            if (kind == 0) {
                fresh.p = static_cast<unsigned char *>(S_CALLOC(1, size));
                if (fresh.p == nullptr) fail("calloc returned NULL", fresh);
                for (size_t i = 0; i < size; ++i)
                    if (fresh.p[i] != 0) fail("calloc block not zero", fresh);
            } else if (kind == 1) {
                const size_t align = size_t{32} << r.below(8);
                fresh.p = static_cast<unsigned char *>(S_ALIGNED(align, size));
                if (fresh.p == nullptr) fail("aligned_alloc returned NULL", fresh);
                if ((reinterpret_cast<uintptr_t>(fresh.p) & (align - 1)) != 0)
                    fail("misaligned block", fresh);
            } else {
                fresh.p = static_cast<unsigned char *>(S_MALLOC(size));
                if (fresh.p == nullptr) fail("malloc returned NULL", fresh);
                if (size > 8 && (reinterpret_cast<uintptr_t>(fresh.p) & 15) != 0)
                    fail("malloc block not 16-byte aligned", fresh);
            }
            if (S_USABLE(fresh.p) < size) fail("usable size below the request", fresh);
            fill(fresh);
            it = fresh;
        } else {
            check(it, it.size < 64 ? it.size : 64);
        }
        ++done;
    }
    if (leave) {
        std::lock_guard<std::mutex> g(sh.left_lock);
        for (Item &it : slots)
            if (it.p != nullptr) sh.left.push_back(it);
    } else {
        for (Item &it : slots) release(it);
    }
    sh.ops.fetch_add(done, std::memory_order_relaxed);
    sh.cross.fetch_add(cross, std::memory_order_relaxed);
}

// A child of fork: allocates and frees on its own, frees a few blocks the
// workers left, and exits 0 if everything checked.
void child_work(Shared &sh) {
    Rng r{static_cast<uint64_t>(getpid()) * 7919 + 1};
    std::vector<Item> mine;
    for (int i = 0; i < 20000; ++i) {
        const size_t size = 1 + r.below(2000);
        Item it{static_cast<unsigned char *>(S_MALLOC(size)), size, static_cast<uint64_t>(i) + 77};
        if (it.p == nullptr) _exit(3);
        fill(it);
        mine.push_back(it);
        if (r.below(3) == 0) {
            const size_t k = r.below(mine.size());
            check(mine[k], mine[k].size);
            S_FREE(mine[k].p);
            mine[k] = mine.back();
            mine.pop_back();
        }
    }
    for (const Item &it : mine) {
        check(it, it.size);
        S_FREE(it.p);
    }
    // Blocks of other (now absent) threads: freed from the child.
    // (The mailboxes' locks may be held by a thread that does not exist here:
    // only the `left` list, which the main thread owns while forking.)
    for (const Item &it : sh.left) check(it, it.size);
    for (const Item &it : sh.left) S_FREE(it.p);
    _exit(0);
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s THREADS OPS_PER_THREAD [fork]\n", argv[0]);
        return 2;
    }
    const unsigned threads = static_cast<unsigned>(strtoul(argv[1], nullptr, 10));
    const uint64_t ops = strtoull(argv[2], nullptr, 10);
    const bool with_fork = argc > 3 && strcmp(argv[3], "fork") == 0;
    if (threads == 0 || ops == 0) return 2;
    Shared sh;
    sh.boxes = std::vector<Mailbox>(threads);
    int forks_ok = 0;
    for (int generation = 0; generation < 2; ++generation) {
        std::vector<std::thread> pool;
        pool.reserve(threads);
        for (unsigned t = 0; t < threads; ++t) {
            pool.emplace_back(worker, std::ref(sh), t, threads, ops / 2, uint64_t{generation * 1000u + t},
                              generation == 0);
        }
        if (with_fork) {
            for (int k = 0; k < 3; ++k) {
                std::vector<Item> snapshot;
                {
                    std::lock_guard<std::mutex> g(sh.left_lock);
                    snapshot = sh.left;
                }
                const pid_t pid = fork();
                if (pid < 0) {
                    perror("fork");
                    return 1;
                }
                if (pid == 0) {
                    sh.left = snapshot;
                    child_work(sh);
                }
                int status = 0;
                if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                    fprintf(stderr, "FAIL: forked child ended with status %d\n", status);
                    return 1;
                }
                ++forks_ok;
            }
        }
        for (std::thread &t : pool) t.join();
        for (unsigned t = 0; t < threads; ++t) drain_mailbox(sh, t);
        if (generation == 1) {
            // The second generation frees what the first left, from threads
            // that adopted (or not) the first generation's heaps.
            std::vector<std::thread> freers;
            freers.reserve(threads);
            const size_t n = sh.left.size();
            for (unsigned t = 0; t < threads; ++t) {
                freers.emplace_back([&sh, t, threads, n] {
                    for (size_t i = t; i < n; i += threads) {
                        check(sh.left[i], sh.left[i].size);
                        S_FREE(sh.left[i].p);
                    }
                });
            }
            for (std::thread &t : freers) t.join();
        }
    }
    // The main thread's heap drains what the threads queued to it.
    for (int i = 0; i < 100; ++i) S_FREE(S_MALLOC(16));
    printf("stress: %u threads, %llu operations, %llu freed by another thread, %d forks\n", threads,
           static_cast<unsigned long long>(sh.ops.load()), static_cast<unsigned long long>(sh.cross.load()),
           forks_ok);
    if (sh.ops.load() < static_cast<uint64_t>(threads) * (ops / 2) * 2 || sh.cross.load() == 0) {
        fprintf(stderr, "FAIL: fewer operations or cross-thread frees than planned\n");
        return 1;
    }
    return 0;
}
