// test_host.cpp -- the host runtime's contract (ffi/sdmm_host.h): the typed
// process heap, its thread-safe free, and the malloc family's promises.
#include <errno.h>
#include <gtest/gtest.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sdmm/default_heap.hpp>
#include <thread>
#include <vector>

#include "sdmm_host.h"

namespace {

TEST(DefaultHeap, TypedCallsOnTheThreadsHeap) {
    sdmm_heap *heap = sdmm_default_heap();
    ASSERT_NE(heap, nullptr);
    EXPECT_EQ(sdmm_default_heap(), heap);
    sdmm_block b = sdmm_alloc_u64(heap, 100);
    ASSERT_EQ(b.status, SDMM_OK);
    for (uint32_t i = 0; i < 100; ++i) EXPECT_EQ(b.as.u64[i], 0u);
    b.as.u64[7] = 42;
    EXPECT_EQ(sdmm_free(heap, b), SDMM_OK);
    EXPECT_EQ(sdmm_free(heap, b), SDMM_ERR_DOUBLE_FREE);  // a status: the typed API does not abort
    EXPECT_EQ(sdmm_heap_check(heap), SDMM_OK);
}

TEST(DefaultHeap, OnePerThread) {
    sdmm_heap *mine = sdmm_default_heap();
    sdmm_heap *other = nullptr;
    std::thread([&] { other = sdmm_default_heap(); }).join();
    ASSERT_NE(other, nullptr);
    EXPECT_NE(other, mine);
}

TEST(DefaultHeap, AnotherThreadFreesThroughDefaultFree) {
    sdmm_heap *heap = sdmm_default_heap();
    sdmm_stats before;
    sdmm_heap_stats(heap, &before);
    std::vector<sdmm_block> blocks;
    for (uint32_t i = 0; i < 1000; ++i) {
        sdmm_block b = sdmm_alloc_pubkey(heap, 1 + i % 5);
        ASSERT_EQ(b.status, SDMM_OK);
        b.as.pubkey[0].bytes[0] = static_cast<uint8_t>(i);
        blocks.push_back(b);
    }
    std::thread([&] {
        for (const sdmm_block &b : blocks) EXPECT_EQ(sdmm_default_free(&b), SDMM_OK);  // queued
    }).join();
    sdmm_stats queued;
    sdmm_heap_stats(heap, &queued);
    EXPECT_EQ(queued.live_blocks, before.live_blocks + 1000);  // the owner has not run yet
    ASSERT_EQ(sdmm_default_heap(), heap);                      // the owner drains its queue
    sdmm_stats after;
    sdmm_heap_stats(heap, &after);
    EXPECT_EQ(after.live_blocks, before.live_blocks);
    EXPECT_EQ(sdmm_heap_check(heap), SDMM_OK);
    // Not a block of a default heap: refused, not queued.
    sdmm_block fake = blocks[0];
    fake.as.raw = reinterpret_cast<uint64_t>(&fake);
    EXPECT_EQ(sdmm_default_free(&fake), SDMM_ERR_INVALID_BLOCK);
}

TEST(DefaultHeap, CppView) {
    auto heap = sdmm::default_heap();
    ASSERT_TRUE(heap.has_value());
    EXPECT_EQ(heap->raw(), sdmm_default_heap());
    auto b = heap->alloc_u32(10);
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(b->size(), 10u);
    EXPECT_EQ(b->span()[9], 0u);
}

TEST(Malloc, AlignmentUsableSizeAndContents) {
    std::vector<unsigned char *> blocks;
    for (size_t n = 1; n < 3000; n += 7) {
        auto *p = static_cast<unsigned char *>(sdmm_host_malloc(n));
        ASSERT_NE(p, nullptr);
        if (n > 8) {
            EXPECT_EQ(reinterpret_cast<uintptr_t>(p) & 15, 0u) << n;
        }
        EXPECT_GE(sdmm_host_usable_size(p), n);
        memset(p, static_cast<int>(n & 0xFF), n);
        blocks.push_back(p);
    }
    size_t n = 1;
    for (unsigned char *p : blocks) {
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(p[i], static_cast<unsigned char>(n & 0xFF));
        sdmm_host_free(p);
        n += 7;
    }
}

TEST(Malloc, CallocIsZeroOnReusedMemory) {
    for (int round = 0; round < 50; ++round) {
        void *p = sdmm_host_malloc(200);
        memset(p, 0xAB, 200);
        sdmm_host_free(p);
        auto *q = static_cast<unsigned char *>(sdmm_host_calloc(25, 8));
        ASSERT_NE(q, nullptr);
        for (int i = 0; i < 200; ++i) ASSERT_EQ(q[i], 0);
        sdmm_host_free(q);
    }
}

TEST(Malloc, ReallocKeepsContentsAcrossSizes) {
    auto *p = static_cast<unsigned char *>(sdmm_host_malloc(10));
    for (int i = 0; i < 10; ++i) p[i] = static_cast<unsigned char>(i);
    size_t have = 10;
    for (size_t size : {100u, 5000u, 40u, 3000000u, 9000000u, 1000u, 20u}) {
        p = static_cast<unsigned char *>(sdmm_host_realloc(p, size));
        ASSERT_NE(p, nullptr);
        const size_t keep = have < size ? have : size;
        for (size_t i = 0; i < keep && i < 10; ++i) ASSERT_EQ(p[i], i) << size;
        memset(p + 10, 0x5A, size > 10 ? size - 10 : 0);
        have = size;
    }
    sdmm_host_free(p);
}

TEST(Malloc, AlignedAllocations) {
    for (size_t align = 16; align <= (size_t{8} << 20); align <<= 1) {
        void *p = sdmm_host_aligned_alloc(align, 100);
        ASSERT_NE(p, nullptr) << align;
        EXPECT_EQ(reinterpret_cast<uintptr_t>(p) & (align - 1), 0u) << align;
        memset(p, 1, 100);
        sdmm_host_free(p);
    }
    errno = 0;
    EXPECT_EQ(sdmm_host_aligned_alloc(24, 100), nullptr);
    EXPECT_EQ(errno, EINVAL);
}

TEST(Malloc, OverflowingSizesAreENOMEM) {
    errno = 0;
    EXPECT_EQ(sdmm_host_malloc(SIZE_MAX), nullptr);
    EXPECT_EQ(errno, ENOMEM);
    errno = 0;
    EXPECT_EQ(sdmm_host_calloc(SIZE_MAX / 2, 3), nullptr);
    EXPECT_EQ(errno, ENOMEM);
    errno = 0;
    EXPECT_EQ(sdmm_host_malloc(SIZE_MAX - 4096), nullptr);
    EXPECT_EQ(errno, ENOMEM);
    void *p = sdmm_host_malloc(32);
    memset(p, 7, 32);
    errno = 0;
    EXPECT_EQ(sdmm_host_realloc(p, SIZE_MAX - 100), nullptr);
    EXPECT_EQ(errno, ENOMEM);
    EXPECT_EQ(static_cast<unsigned char *>(p)[31], 7);  // the old block stays
    sdmm_host_free(p);
}

// With the address space capped, new arenas and large blocks are refused:
// allocation answers NULL + ENOMEM and the program goes on in the arenas it
// has. In a child process, so the cap does not reach the other tests.
TEST(Malloc, KeepsRunningWhenMmapIsRefused) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        std::thread([] {  // a fresh thread: a fresh heap with one small arena
            void *warm = sdmm_host_malloc(100);
            char statm[128] = {};
            FILE *f = fopen("/proc/self/statm", "r");
            if (f == nullptr || fgets(statm, sizeof statm, f) == nullptr) _exit(10);
            fclose(f);
            const long pages = strtol(statm, nullptr, 10);  // the first field: pages mapped
            if (pages <= 0) _exit(10);
            const rlim_t now = static_cast<rlim_t>(pages) * 4096;
            const rlimit cap{now + (16u << 20), now + (16u << 20)};
            if (setrlimit(RLIMIT_AS, &cap) != 0) _exit(11);
            constexpr size_t kBlock = size_t{256} << 10;
            void *blocks[4096];
            size_t n = 0;
            errno = 0;
            while (n < 4096) {
                void *p = sdmm_host_malloc(kBlock);
                if (p == nullptr) break;
                memset(p, 1, kBlock);
                blocks[n++] = p;
            }
            if (n == 4096 || errno != ENOMEM) _exit(12);
            errno = 0;
            if (sdmm_host_malloc(64u << 20) != nullptr || errno != ENOMEM) _exit(13);
            for (size_t i = 0; i < n; i += 2) sdmm_host_free(blocks[i]);
            for (int i = 0; i < 1000; ++i) {  // still served, from the arenas it has
                void *p = sdmm_host_malloc(static_cast<size_t>(i % 300) + 1);
                if (p == nullptr) _exit(14);
                sdmm_host_free(p);
            }
            if (sdmm_host_malloc(size_t{200} << 10) == nullptr) _exit(15);
            sdmm_host_stats s;
            sdmm_host_get_stats(&s);
            if (s.mmap_failures == 0) _exit(16);
            sdmm_host_free(warm);
            _exit(0);
        })
            .join();
        _exit(17);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Malloc, HeapOfAnExitedThreadIsAdopted) {
    sdmm_host_stats before;
    sdmm_host_get_stats(&before);
    std::vector<void *> left;
    std::thread([&] {
        for (int i = 0; i < 1000; ++i) left.push_back(sdmm_host_malloc(64));
    }).join();
    std::thread([&] {
        void *p = sdmm_host_malloc(64);  // takes over the first thread's heap
        for (void *q : left) sdmm_host_free(q);
        sdmm_host_free(p);
    }).join();
    sdmm_host_stats after;
    sdmm_host_get_stats(&after);
    EXPECT_GT(after.heap_adoptions, before.heap_adoptions);
    EXPECT_GE(after.frees, before.frees + 1001);
}

}  // namespace
