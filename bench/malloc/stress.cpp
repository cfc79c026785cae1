// stress.cpp -- classic allocator stress programs, written for this
// benchmark (bench/malloc/run.py runs each with every allocator preloaded).
//
//   stress churn   SCALE   one thread: big-number arithmetic on growing limb
//                          vectors (realloc), short-lived temporaries and a few
//                          long-lived results (in the spirit of cfrac/espresso)
//   stress tree    SCALE   one thread: binary trees built and dropped with
//                          new/delete, one long-lived tree (gc-bench style)
//   stress larson  SCALE   4 threads replace random blocks of their slot
//                          arrays; between rounds the arrays rotate, so each
//                          thread frees blocks another allocated (larson style)
//   stress xthread SCALE   2 producers allocate, 2 consumers free: every block
//                          is freed by another thread
//   stress mstress SCALE   4 threads keep a growing share of their blocks and
//                          hand some to a shared pool others free (mstress style)
//
// Each prints a checksum of the work, identical for every allocator.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "../../cpp/testing/xorshift.hpp"

namespace {

// ---- churn: limb vectors that grow, temporaries, a few survivors ----------

struct Num {
    uint32_t *limbs;
    size_t n;
};

Num num_make(uint32_t v) {
    Num r{static_cast<uint32_t *>(malloc(sizeof(uint32_t))), 1};
    r.limbs[0] = v;
    return r;
}

Num num_mul_add(const Num &a, uint32_t m, uint32_t add) {
    Num r{static_cast<uint32_t *>(malloc((a.n + 1) * sizeof(uint32_t))), a.n + 1};
    uint64_t carry = add;
    for (size_t i = 0; i < a.n; ++i) {
        const uint64_t t = uint64_t{a.limbs[i]} * m + carry;
        r.limbs[i] = static_cast<uint32_t>(t);
        carry = t >> 32;
    }
    r.limbs[a.n] = static_cast<uint32_t>(carry);
    if (carry == 0) {
        r.n = a.n;
        r.limbs = static_cast<uint32_t *>(realloc(r.limbs, r.n * sizeof(uint32_t)));
    }
    return r;
}

uint64_t churn(uint64_t scale) {
    Rng rng{88172645463325252ull};
    std::vector<Num> keep;
    uint64_t sum = 0;
    for (uint64_t round = 0; round < scale * 2000; ++round) {
        Num x = num_make(static_cast<uint32_t>(rng.next()) | 1);
        const uint64_t steps = 10 + rng.below(60);
        for (uint64_t s = 0; s < steps; ++s) {
            Num y = num_mul_add(x, static_cast<uint32_t>(rng.next() | 1), static_cast<uint32_t>(s));
            free(x.limbs);
            x = y;
            // A temporary string, as a parser or printer would make.
            const size_t len = 8 + rng.below(120);
            char *tmp = static_cast<char *>(malloc(len));
            memset(tmp, 'a' + static_cast<int>(s % 26), len);
            sum += static_cast<unsigned char>(tmp[len / 2]);
            free(tmp);
        }
        sum += x.limbs[x.n - 1] + x.n;
        if (rng.below(16) == 0) {
            keep.push_back(x);
        } else {
            free(x.limbs);
        }
        if (keep.size() > 2000) {
            const size_t k = rng.below(keep.size());
            free(keep[k].limbs);
            keep[k] = keep.back();
            keep.pop_back();
        }
    }
    for (Num &n : keep) free(n.limbs);
    return sum;
}

// ---- tree: new/delete of tree nodes ---------------------------------------

struct Node {
    Node *left = nullptr;
    Node *right = nullptr;
    uint64_t value = 0;
};

Node *make_tree(int depth, uint64_t v) {
    Node *n = new Node;
    n->value = v;
    if (depth > 0) {
        n->left = make_tree(depth - 1, v * 2);
        n->right = make_tree(depth - 1, v * 2 + 1);
    }
    return n;
}
uint64_t check_tree(const Node *n) {
    return n == nullptr ? 0 : n->value + check_tree(n->left) + check_tree(n->right);
}
void drop_tree(Node *n) {
    if (n == nullptr) return;
    drop_tree(n->left);
    drop_tree(n->right);
    delete n;
}

uint64_t tree(uint64_t scale) {
    Node *longlived = make_tree(16, 1);
    uint64_t sum = 0;
    for (uint64_t i = 0; i < scale; ++i) {
        for (int depth = 4; depth <= 14; depth += 2) {
            const int iterations = 1 << (14 - depth + 2);
            for (int k = 0; k < iterations / 4; ++k) {
                Node *t = make_tree(depth, static_cast<uint64_t>(k));
                sum += check_tree(t) & 0xFFFF;
                drop_tree(t);
            }
        }
    }
    sum += check_tree(longlived);
    drop_tree(longlived);
    return sum;
}

// ---- larson: slot arrays that rotate between threads ----------------------

uint64_t larson(uint64_t scale) {
    constexpr unsigned kThreads = 4;
    constexpr size_t kSlots = 2000;
    std::vector<std::vector<void *>> arrays(kThreads, std::vector<void *>(kSlots, nullptr));
    std::atomic<uint64_t> sum{0};
    for (uint64_t round = 0; round < scale * 4; ++round) {
        std::vector<std::thread> pool;
        pool.reserve(kThreads);
        for (unsigned t = 0; t < kThreads; ++t) {
            pool.emplace_back([&, t] {
                Rng rng{(round + 1) * 7919 + t};
                std::vector<void *> &slots = arrays[t];
                uint64_t local = 0;
                for (int i = 0; i < 60000; ++i) {
                    void *&s = slots[rng.below(kSlots)];
                    free(s);  // often a block another thread allocated (the arrays rotate)
                    const size_t size = 16 + rng.below(240);
                    s = malloc(size);
                    static_cast<unsigned char *>(s)[0] = static_cast<unsigned char>(size);
                    local += size;
                }
                sum.fetch_add(local);
            });
        }
        for (std::thread &th : pool) th.join();
        std::vector<void *> first = std::move(arrays[0]);
        for (unsigned t = 0; t + 1 < kThreads; ++t) arrays[t] = std::move(arrays[t + 1]);
        arrays[kThreads - 1] = std::move(first);
    }
    for (auto &a : arrays) {
        for (void *p : a) free(p);
    }
    return sum.load();
}

// ---- xthread: producers allocate, consumers free ---------------------------

uint64_t xthread(uint64_t scale) {
    constexpr unsigned kPairs = 2;
    constexpr size_t kRing = 4096;
    struct Queue {
        std::mutex m;
        std::condition_variable cv;
        std::vector<void *> items;
        bool done = false;
    };
    std::vector<Queue> queues(kPairs);
    std::atomic<uint64_t> sum{0};
    const uint64_t per_producer = scale * 400000;
    std::vector<std::thread> pool;
    pool.reserve(2 * kPairs);
    for (unsigned q = 0; q < kPairs; ++q) {
        pool.emplace_back([&, q] {  // producer
            Rng rng{q * 31 + 5};
            std::vector<void *> batch;
            for (uint64_t i = 0; i < per_producer; ++i) {
                const size_t size = 16 + rng.below(496);
                auto *p = static_cast<unsigned char *>(malloc(size));
                p[0] = static_cast<unsigned char>(size);
                p[size - 1] = 1;
                batch.push_back(p);
                if (batch.size() == 64) {
                    std::unique_lock<std::mutex> g(queues[q].m);
                    queues[q].cv.wait(g, [&] { return queues[q].items.size() < kRing; });
                    queues[q].items.insert(queues[q].items.end(), batch.begin(), batch.end());
                    queues[q].cv.notify_all();
                    batch.clear();
                }
            }
            std::lock_guard<std::mutex> g(queues[q].m);
            queues[q].items.insert(queues[q].items.end(), batch.begin(), batch.end());
            queues[q].done = true;
            queues[q].cv.notify_all();
        });
        pool.emplace_back([&, q] {  // consumer
            std::vector<void *> got;
            uint64_t local = 0;
            for (;;) {
                bool finished = false;
                {
                    std::unique_lock<std::mutex> g(queues[q].m);
                    queues[q].cv.wait(g, [&] { return !queues[q].items.empty() || queues[q].done; });
                    got.swap(queues[q].items);
                    finished = queues[q].done && got.empty();
                    queues[q].cv.notify_all();
                }
                if (finished) break;
                for (void *p : got) {
                    local += static_cast<unsigned char *>(p)[0];
                    free(p);
                }
                got.clear();
            }
            sum.fetch_add(local);
        });
    }
    for (std::thread &th : pool) th.join();
    return sum.load();
}

// ---- mstress: growing working sets, a shared pool freed by others ---------

uint64_t mstress(uint64_t scale) {
    constexpr unsigned kThreads = 4;
    std::mutex pool_lock;
    std::vector<void *> shared;
    std::atomic<uint64_t> sum{0};
    for (uint64_t round = 0; round < scale * 3; ++round) {
        std::vector<std::thread> pool;
        pool.reserve(kThreads);
        for (unsigned t = 0; t < kThreads; ++t) {
            pool.emplace_back([&, t] {
                Rng rng{round * 1000 + t + 1};
                std::vector<void *> mine;
                uint64_t local = 0;
                for (int i = 0; i < 100000; ++i) {
                    const uint64_t k = rng.below(100);
                    size_t size = k < 90   ? 8 + rng.below(120)
                                  : k < 99 ? 128 + rng.below(3968)
                                           : 4096 + rng.below(60000);
                    auto *p = static_cast<unsigned char *>(malloc(size));
                    memset(p, static_cast<int>(i), size < 64 ? size : 64);
                    local += size;
                    mine.push_back(p);
                    if (mine.size() > 2000 && rng.below(2) == 0) {
                        const size_t j = rng.below(mine.size());
                        if (rng.below(8) == 0) {
                            std::lock_guard<std::mutex> g(pool_lock);
                            shared.push_back(mine[j]);
                        } else {
                            free(mine[j]);
                        }
                        mine[j] = mine.back();
                        mine.pop_back();
                    }
                    if (i % 1000 == 0) {
                        std::vector<void *> take;
                        {
                            std::lock_guard<std::mutex> g(pool_lock);
                            take.swap(shared);
                        }
                        for (void *q : take) free(q);
                    }
                }
                for (void *q : mine) free(q);
                sum.fetch_add(local);
            });
        }
        for (std::thread &th : pool) th.join();
    }
    for (void *q : shared) free(q);
    return sum.load();
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s churn|tree|larson|xthread|mstress [SCALE]\n", argv[0]);
        return 2;
    }
    const uint64_t scale = argc > 2 ? strtoull(argv[2], nullptr, 10) : 1;
    uint64_t sum = 0;
    if (strcmp(argv[1], "churn") == 0) {
        sum = churn(scale);
    } else if (strcmp(argv[1], "tree") == 0) {
        sum = tree(scale);
    } else if (strcmp(argv[1], "larson") == 0) {
        sum = larson(scale);
    } else if (strcmp(argv[1], "xthread") == 0) {
        sum = xthread(scale);
    } else if (strcmp(argv[1], "mstress") == 0) {
        sum = mstress(scale);
    } else {
        return 2;
    }
    printf("%s %llu\n", argv[1], static_cast<unsigned long long>(sum));
    return 0;
}
