// shm_bench.cpp -- the sdmm shared heap next to Boost.Interprocess
// managed_shared_memory: one workload, both allocators, in one run.
//
//   shm_bench rate sdmm|boost PROCS OPS     operations per second of PROCS processes
//   shm_bench kill sdmm|boost TRIALS        SIGKILL a busy client, then ask a new one for
//                                           1000 operations within 2 s. Prints: survived hung
//                                           failed lock-held (sdmm: kills that found the lock
//                                           held, from its recovery count; Boost cannot tell)
//
// Workload (each process, its own random stream): 256 slots; an operation
// picks a slot: empty -> allocate 8..512 bytes and write its first 8 bytes,
// full -> free it. Every process opens the heap by name (its own mapping).
#include <sdmm_shared.h>

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <boost/interprocess/managed_shared_memory.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace bip = boost::interprocess;

namespace {

constexpr size_t kHeapBytes = size_t{64} << 20;
constexpr int kSlots = 256;

uint64_t mix(uint64_t &s) {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double now_s() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// One allocator behind the workload.
struct Sdmm {
    sdmm_shared *s = nullptr;
    struct Slot {
        uint64_t handle;
    };
    explicit Sdmm(const char *name) {
        if (sdmm_shared_open(name, 0, 0, &s) != SDMM_OK) std::abort();
    }
    ~Sdmm() { sdmm_shared_close(s); }
    Sdmm(const Sdmm &) = delete;
    Sdmm &operator=(const Sdmm &) = delete;
    bool alloc(Slot &slot, uint32_t bytes) {
        sdmm_block b{};
        if (sdmm_shared_alloc(s, SDMM_TAG_U8, bytes, &b) != SDMM_OK) return false;
        std::memcpy(b.as.u8, &slot, 8);
        slot.handle = b.handle;
        return true;
    }
    bool release(Slot &slot) { return sdmm_shared_free(s, slot.handle, SDMM_TAG_U8) == SDMM_OK; }
    static void create(const char *name) {
        sdmm_shared_unlink(name, 0);
        sdmm_shared *c = nullptr;
        if (sdmm_shared_open(name, kHeapBytes, SDMM_SHARED_CREATE, &c) != SDMM_OK) std::abort();
        sdmm_shared_close(c);
    }
    static void destroy(const char *name) { sdmm_shared_unlink(name, 0); }
    // After a trial: 1 if the kill found the lock held (a recovery ran), 0 if
    // not, -1 if the heap fails its check.
    static int lock_was_held(const char *name) {
        sdmm_shared *c = nullptr;
        if (sdmm_shared_open(name, 0, 0, &c) != SDMM_OK) return -1;
        sdmm_shared_info info{};
        const bool ok = sdmm_shared_check(c) == SDMM_OK && sdmm_shared_info_get(c, &info) == SDMM_OK;
        sdmm_shared_close(c);
        return ok ? (info.recoveries > 0 ? 1 : 0) : -1;
    }
};

struct Boost {
    bip::managed_shared_memory seg;
    struct Slot {
        void *p;
    };
    explicit Boost(const char *name) : seg(bip::open_only, name + 1) {}
    bool alloc(Slot &slot, uint32_t bytes) {
        void *p = seg.allocate(bytes, std::nothrow);
        if (p == nullptr) return false;
        std::memcpy(p, &slot, 8);
        slot.p = p;
        return true;
    }
    bool release(Slot &slot) {
        seg.deallocate(slot.p);
        return true;
    }
    static void create(const char *name) {
        bip::shared_memory_object::remove(name + 1);
        bip::managed_shared_memory seg(bip::create_only, name + 1, kHeapBytes);
    }
    static void destroy(const char *name) { bip::shared_memory_object::remove(name + 1); }
    static int lock_was_held(const char *) { return 0; }  // Boost does not tell
};

template <class A>
long workload(A &a, uint64_t seed, long ops, const std::atomic<uint32_t> *stop) {
    typename A::Slot slots[kSlots] = {};
    bool full[kSlots] = {};
    uint64_t rng = seed;
    long done = 0;
    for (; done < ops && (stop == nullptr || stop->load(std::memory_order_relaxed) == 0); ++done) {
        const uint64_t r = mix(rng);
        const size_t i = r % kSlots;
        if (full[i]) {
            if (!a.release(slots[i])) return -1;
            full[i] = false;
        } else {
            if (!a.alloc(slots[i], 8 + static_cast<uint32_t>((r >> 32) % 505))) return -1;
            full[i] = true;
        }
    }
    for (int i = 0; i < kSlots; ++i) {
        if (full[i] && !a.release(slots[i])) return -1;
    }
    return done;
}

struct Sync {
    std::atomic<uint32_t> ready;
    std::atomic<uint32_t> go;
    std::atomic<uint32_t> stop;
    std::atomic<int64_t> done[64];
};

Sync *shared_sync() {
    void *p = mmap(nullptr, sizeof(Sync), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    return new (p) Sync{};
}

template <class A>
int rate(const char *name, int procs, long ops) {
    A::create(name);
    Sync *sync = shared_sync();
    std::vector<pid_t> pids;
    for (int p = 0; p < procs; ++p) {
        const pid_t pid = fork();
        if (pid == 0) {
            A a(name);
            sync->ready.fetch_add(1);
            while (sync->go.load() == 0) {
            }
            sync->done[p].store(workload(a, 0xC0FFEEull + static_cast<uint64_t>(p), ops, nullptr));
            _exit(0);
        }
        pids.push_back(pid);
    }
    while (sync->ready.load() < static_cast<uint32_t>(procs)) usleep(100);
    const double t0 = now_s();
    sync->go.store(1);
    int bad = 0;
    for (const pid_t pid : pids) {
        int st = 0;
        waitpid(pid, &st, 0);
        bad += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    const double dt = now_s() - t0;
    long total = 0;
    for (int p = 0; p < procs; ++p) {
        const int64_t d = sync->done[p].load();
        if (d < 0) ++bad;
        total += d;
    }
    A::destroy(name);
    if (bad != 0) {
        std::fprintf(stderr, "a process failed\n");
        return 1;
    }
    std::printf("%.0f\n", static_cast<double>(total) / dt);
    return 0;
}

// Kill a client in full swing, then see whether a new client gets served.
template <class A>
int kill_trials(const char *name, int trials) {
    int survived = 0, hung = 0, failed = 0, held = 0;
    uint64_t rng = 77;
    for (int t = 0; t < trials; ++t) {
        A::create(name);
        Sync *sync = shared_sync();
        const pid_t victim = fork();
        if (victim == 0) {
            A a(name);
            sync->ready.store(1);
            for (;;) workload(a, static_cast<uint64_t>(t), 1L << 40, nullptr);
        }
        while (sync->ready.load() == 0) usleep(50);
        usleep(200 + static_cast<useconds_t>(mix(rng) % 2000));
        kill(victim, SIGKILL);
        waitpid(victim, nullptr, 0);
        const pid_t probe = fork();
        if (probe == 0) {
            A a(name);
            _exit(workload(a, 5, 1000, nullptr) == 1000 ? 0 : 1);
        }
        int st = 0;
        const char *limit = std::getenv("SHM_BENCH_PROBE_SECONDS");
        const double t_probe = now_s();
        const double until = t_probe + (limit != nullptr ? std::strtod(limit, nullptr) : 2.0);
        pid_t got = 0;
        while ((got = waitpid(probe, &st, WNOHANG)) == 0 && now_s() < until) usleep(1000);
        if (std::getenv("SHM_BENCH_VERBOSE") != nullptr) {
            std::fprintf(stderr, "trial %d: probe %s after %.3f s\n", t, got == 0 ? "hung" : "done",
                         now_s() - t_probe);
        }
        if (got == 0) {
            ++hung;
            kill(probe, SIGKILL);
            waitpid(probe, nullptr, 0);
        } else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            ++survived;
            const int h = A::lock_was_held(name);
            if (h < 0) ++failed;
            held += h > 0;
        } else {
            ++failed;
        }
        munmap(sync, sizeof(Sync));
        A::destroy(name);
    }
    std::printf("%d %d %d %d\n", survived, hung, failed, held);
    return 0;
}

}  // namespace

int run(int argc, char **argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s rate sdmm|boost PROCS OPS | kill sdmm|boost TRIALS\n", argv[0]);
        return 2;
    }
    const std::string mode = argv[1], lib = argv[2];
    const std::string name = "/sdmm-bench-" + std::to_string(getpid());
    const bool sdmm = lib == "sdmm";
    if (mode == "rate") {
        const int procs = static_cast<int>(std::strtol(argv[3], nullptr, 10));
        const long ops = argc > 4 ? std::strtol(argv[4], nullptr, 10) : 1000000;
        return sdmm ? rate<Sdmm>(name.c_str(), procs, ops) : rate<Boost>(name.c_str(), procs, ops);
    }
    if (mode == "kill") {
        const int trials = static_cast<int>(std::strtol(argv[3], nullptr, 10));
        return sdmm ? kill_trials<Sdmm>(name.c_str(), trials) : kill_trials<Boost>(name.c_str(), trials);
    }
    return 2;
}

int main(int argc, char **argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception &e) {  // Boost.Interprocess reports errors by exception
        std::fprintf(stderr, "shm_bench: %s\n", e.what());
        return 1;
    }
}
