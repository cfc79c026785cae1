// Every row of the bad-input table of the C contract, and that the heap is
// intact (sdmm_heap_check) after each mistake.
#include <gtest/gtest.h>
#include <sdmm.h>

#include <cstring>
#include <vector>

namespace {

struct Arena {
    explicit Arena(size_t bytes) : words(bytes / 8) {}
    void *data() { return words.data(); }
    size_t size() const { return words.size() * 8; }
    std::vector<uint64_t> words;
};

class Contract : public ::testing::Test {
  protected:
    void SetUp() override { ASSERT_EQ(sdmm_heap_init(arena.data(), arena.size(), &heap), SDMM_OK); }
    void TearDown() override { EXPECT_EQ(sdmm_heap_check(heap), SDMM_OK); }
    Arena arena{64 * 1024};
    sdmm_heap *heap = nullptr;
};

void expect_failed(const sdmm_block &b, sdmm_status status) {
    EXPECT_EQ(b.status, status) << sdmm_status_str(b.status);
    EXPECT_EQ(b.tag, SDMM_TAG_NONE);
    EXPECT_EQ(b.handle, 0u);
    EXPECT_EQ(b.as.u8, nullptr);
    EXPECT_EQ(b.len, 0u);
}

TEST_F(Contract, ZeroCount) { expect_failed(sdmm_alloc_u64(heap, 0), SDMM_ERR_ZERO_COUNT); }

TEST_F(Contract, TooLarge) {
    expect_failed(sdmm_alloc_signature(heap, UINT32_MAX), SDMM_ERR_TOO_LARGE);  // overflows 32 bits
    expect_failed(sdmm_alloc_u8(heap, 64 * 1024), SDMM_ERR_TOO_LARGE);          // bigger than the heap
    sdmm_stats st;
    sdmm_heap_stats(heap, &st);
    EXPECT_EQ(st.oom_count, 0u) << "too large is not out of memory";
}

TEST_F(Contract, OutOfMemoryIsCounted) {
    sdmm_block big = sdmm_alloc_u8(heap, 40 * 1024);
    ASSERT_EQ(big.status, SDMM_OK);
    expect_failed(sdmm_alloc_u8(heap, 40 * 1024), SDMM_ERR_OUT_OF_MEMORY);
    sdmm_stats st;
    sdmm_heap_stats(heap, &st);
    EXPECT_EQ(st.oom_count, 1u);
    EXPECT_EQ(sdmm_free(heap, big), SDMM_OK);
    EXPECT_EQ(sdmm_alloc_u8(heap, 40 * 1024).status, SDMM_OK) << "memory is back after free";
}

TEST_F(Contract, InvalidHeap) {
    expect_failed(sdmm_alloc_u64(nullptr, 1), SDMM_ERR_INVALID_HEAP);
    std::vector<uint64_t> garbage(1024, 0x5A5A5A5A5A5A5A5Aull);
    auto *foreign = reinterpret_cast<sdmm_heap *>(garbage.data());
    expect_failed(sdmm_alloc_u64(foreign, 1), SDMM_ERR_INVALID_HEAP);
    EXPECT_EQ(sdmm_heap_check(foreign), SDMM_ERR_INVALID_HEAP);
    EXPECT_EQ(sdmm_heap_check(nullptr), SDMM_ERR_INVALID_HEAP);
    sdmm_heap *h = nullptr;
    EXPECT_EQ(sdmm_heap_attach(garbage.data(), 8192, &h), SDMM_ERR_INVALID_HEAP);
    EXPECT_EQ(h, nullptr);
    sdmm_block b = sdmm_alloc_u64(heap, 1);
    EXPECT_EQ(sdmm_free(foreign, b), SDMM_ERR_INVALID_HEAP);
    EXPECT_EQ(sdmm_free(heap, b), SDMM_OK);
    sdmm_stats st;
    sdmm_heap_stats(nullptr, &st);
    EXPECT_EQ(st.capacity, 0u);
}

TEST(ContractInit, ArenaTooSmallAndMisaligned) {
    alignas(8) static uint8_t small[SDMM_MIN_ARENA_BYTES + 8];
    sdmm_heap *h = nullptr;
    EXPECT_EQ(sdmm_heap_init(small, SDMM_MIN_ARENA_BYTES - 8, &h), SDMM_ERR_ARENA_TOO_SMALL);
    EXPECT_EQ(sdmm_heap_init(small + 1, SDMM_MIN_ARENA_BYTES, &h), SDMM_ERR_MISALIGNED);
    EXPECT_EQ(sdmm_heap_init(nullptr, 4096, &h), SDMM_ERR_INVALID_HEAP);
    EXPECT_EQ(sdmm_heap_init(small, SDMM_MIN_ARENA_BYTES, nullptr), SDMM_ERR_INVALID_HEAP);
    ASSERT_EQ(sdmm_heap_init(small, SDMM_MIN_ARENA_BYTES, &h), SDMM_OK) << "the documented minimum works";
    sdmm_block b = sdmm_alloc_u64(h, 2);
    EXPECT_EQ(b.status, SDMM_OK);
    EXPECT_EQ(sdmm_heap_check(h), SDMM_OK);
}

TEST_F(Contract, ForeignPointerIsInvalidBlock) {
    sdmm_block b = sdmm_alloc_u64(heap, 4);
    sdmm_block forged = b;
    uint64_t elsewhere[4];
    forged.as.u64 = elsewhere;  // pointer not in this heap
    EXPECT_EQ(sdmm_free(heap, forged), SDMM_ERR_INVALID_BLOCK);
    forged = b;
    forged.as.u64 += 1;  // inside the block, not its start
    EXPECT_EQ(sdmm_free(heap, forged), SDMM_ERR_INVALID_BLOCK);
    forged = b;
    forged.handle += 8;  // handle and pointer disagree
    EXPECT_EQ(sdmm_free(heap, forged), SDMM_ERR_INVALID_BLOCK);
    forged.as.u8 += 8;  // both moved inside the block: not a block start
    EXPECT_NE(sdmm_free(heap, forged), SDMM_OK);
    sdmm_block none{};
    EXPECT_EQ(sdmm_free(heap, none), SDMM_ERR_INVALID_BLOCK);
    EXPECT_EQ(sdmm_free_ref(heap, nullptr), SDMM_ERR_INVALID_BLOCK);
    EXPECT_EQ(sdmm_heap_check(heap), SDMM_OK);
    EXPECT_EQ(sdmm_free(heap, b), SDMM_OK) << "the real block is untouched";
    EXPECT_EQ(sdmm_block_from_ptr_into(heap, elsewhere, SDMM_TAG_U64, &forged), SDMM_ERR_INVALID_BLOCK);
}

TEST_F(Contract, DoubleFree) {
    sdmm_block a = sdmm_alloc_u32(heap, 10);
    sdmm_block neighbour = sdmm_alloc_u32(heap, 10);
    ASSERT_EQ(sdmm_free(heap, a), SDMM_OK);
    EXPECT_EQ(sdmm_free(heap, a), SDMM_ERR_DOUBLE_FREE);
    // Freed, then the memory reused by another block: still a double free.
    sdmm_block reuse = sdmm_alloc_u32(heap, 10);
    ASSERT_EQ(reuse.as.u32, a.as.u32) << "LIFO reuse of the same place";
    EXPECT_EQ(sdmm_free(heap, a), SDMM_ERR_DOUBLE_FREE);
    EXPECT_EQ(reuse.as.u32[0], 0u);
    EXPECT_EQ(sdmm_free(heap, reuse), SDMM_OK);
    EXPECT_EQ(sdmm_free(heap, neighbour), SDMM_OK);
    // Freed and merged into a larger free block: the start is gone.
    EXPECT_EQ(sdmm_free(heap, neighbour), SDMM_ERR_DOUBLE_FREE);
}

TEST_F(Contract, TagMismatch) {
    sdmm_block keys = sdmm_alloc_pubkey(heap, 3);
    sdmm_block as_hash = keys;
    as_hash.tag = SDMM_TAG_HASH;
    EXPECT_EQ(sdmm_free(heap, as_hash), SDMM_ERR_TAG_MISMATCH);
    expect_failed(sdmm_resolve(heap, keys.handle, SDMM_TAG_HASH), SDMM_ERR_TAG_MISMATCH);
    expect_failed(sdmm_resize(heap, as_hash, 5), SDMM_ERR_TAG_MISMATCH);
    sdmm_block out;
    EXPECT_EQ(sdmm_alloc_tagged_into(heap, 200, 1, &out), SDMM_ERR_TAG_MISMATCH);
    EXPECT_EQ(sdmm_alloc_tagged_into(heap, SDMM_TAG_NONE, 1, &out), SDMM_ERR_TAG_MISMATCH);
    EXPECT_EQ(sdmm_free(heap, keys), SDMM_OK);
}

TEST_F(Contract, StaleHandle) {
    sdmm_block a = sdmm_alloc_u64(heap, 8);
    const uint64_t handle = a.handle;
    sdmm_block r = sdmm_resolve(heap, handle, SDMM_TAG_U64);
    ASSERT_EQ(r.status, SDMM_OK);
    EXPECT_EQ(r.as.u64, a.as.u64);
    EXPECT_EQ(r.len, 8u);
    ASSERT_EQ(sdmm_free(heap, a), SDMM_OK);
    expect_failed(sdmm_resolve(heap, handle, SDMM_TAG_U64), SDMM_ERR_STALE_HANDLE);
    sdmm_block reuse = sdmm_alloc_u64(heap, 8);  // same place, new generation
    ASSERT_EQ(reuse.as.u64, a.as.u64);
    EXPECT_NE(reuse.handle, handle);
    expect_failed(sdmm_resolve(heap, handle, SDMM_TAG_U64), SDMM_ERR_STALE_HANDLE);
    expect_failed(sdmm_resize(heap, a, 2), SDMM_ERR_STALE_HANDLE);
    expect_failed(sdmm_resolve(heap, 0, SDMM_TAG_U64), SDMM_ERR_INVALID_BLOCK);
    expect_failed(sdmm_resolve(heap, 0xFFFFFFFFull, SDMM_TAG_U64), SDMM_ERR_INVALID_BLOCK);
    EXPECT_EQ(sdmm_free(heap, reuse), SDMM_OK);
}

TEST_F(Contract, CorruptedHeaderIsDetected) {
    sdmm_block a = sdmm_alloc_u64(heap, 8);
    sdmm_block b = sdmm_alloc_u64(heap, 8);
    ASSERT_EQ(sdmm_heap_check(heap), SDMM_OK);
    auto *header = reinterpret_cast<uint32_t *>(a.as.u8 - SDMM_BLOCK_HEADER_BYTES);
    const uint32_t saved = header[0];
    header[0] = 0xFFFFFFF0u | (saved & 7);  // an absurd size
    EXPECT_EQ(sdmm_heap_check(heap), SDMM_ERR_CORRUPTED);
    EXPECT_EQ(sdmm_free(heap, a), SDMM_ERR_CORRUPTED) << "a damaged block is not freed";
    header[0] = saved & ~1u;  // used block claims to be free
    EXPECT_EQ(sdmm_heap_check(heap), SDMM_ERR_CORRUPTED);
    EXPECT_EQ(sdmm_free(heap, a), SDMM_ERR_CORRUPTED);
    header[0] = saved;
    EXPECT_EQ(sdmm_heap_check(heap), SDMM_OK);
    // An overrun of the previous block into the next header.
    a.as.u64[8] = 0xDEADBEEFDEADBEEFull;
    EXPECT_EQ(sdmm_heap_check(heap), SDMM_ERR_CORRUPTED);
    EXPECT_NE(sdmm_free(heap, b), SDMM_OK);
    std::memset(&a.as.u64[8], 0, 8);
    EXPECT_NE(sdmm_heap_check(heap), SDMM_OK) << "a zeroed header is still damage";
    // Corrupt control structure: the heap is no longer recognised.
    auto *control = static_cast<uint32_t *>(arena.data());
    control[2] ^= 0x100;  // arena length
    EXPECT_NE(sdmm_heap_check(heap), SDMM_OK);
    sdmm_heap *h = nullptr;
    EXPECT_EQ(sdmm_heap_attach(arena.data(), arena.size(), &h), SDMM_ERR_ARENA_TOO_SMALL)
        << "longer than given";
    control[2] = static_cast<uint32_t>(arena.size() - 512);  // fits, but not the geometry recorded
    EXPECT_EQ(sdmm_heap_attach(arena.data(), arena.size(), &h), SDMM_ERR_CORRUPTED);
    // Re-initialise so TearDown's check has a heap to look at.
    ASSERT_EQ(sdmm_heap_init(arena.data(), arena.size(), &heap), SDMM_OK);
}

TEST_F(Contract, StatusStrings) {
    for (uint32_t s = 0; s < SDMM_STATUS_COUNT; ++s) EXPECT_STRNE(sdmm_status_str(s), "unknown status") << s;
    EXPECT_STREQ(sdmm_status_str(SDMM_STATUS_COUNT), "unknown status");
    EXPECT_STREQ(sdmm_status_str(SDMM_ERR_DOUBLE_FREE), "block already freed");
}

TEST_F(Contract, NullOutPointersAreRefused) {
    EXPECT_EQ(sdmm_alloc_u64_into(heap, 1, nullptr), SDMM_ERR_INVALID_BLOCK);
    EXPECT_EQ(sdmm_resolve_into(heap, 1, SDMM_TAG_U64, nullptr), SDMM_ERR_INVALID_BLOCK);
    EXPECT_EQ(sdmm_alloc_aligned_into(heap, 8, 64, nullptr), SDMM_ERR_INVALID_BLOCK);
}

TEST_F(Contract, Attach) {
    sdmm_block a = sdmm_alloc_u64(heap, 16);
    for (uint32_t i = 0; i < 16; ++i) a.as.u64[i] = i * 3;
    sdmm_block k = sdmm_alloc_pubkey(heap, 2);
    k.as.pubkey[1].bytes[31] = 7;
    // Copy the whole arena to a new address and reopen it there.
    Arena moved(arena.size());
    std::memcpy(moved.data(), arena.data(), arena.size());
    sdmm_heap *h2 = nullptr;
    ASSERT_EQ(sdmm_heap_attach(moved.data(), moved.size(), &h2), SDMM_OK);
    ASSERT_EQ(sdmm_heap_check(h2), SDMM_OK);
    sdmm_block a2 = sdmm_resolve(h2, a.handle, SDMM_TAG_U64);
    ASSERT_EQ(a2.status, SDMM_OK);
    EXPECT_NE(a2.as.u64, a.as.u64);
    EXPECT_EQ(a2.len, 16u);
    for (uint32_t i = 0; i < 16; ++i) EXPECT_EQ(a2.as.u64[i], i * 3);
    sdmm_block k2 = sdmm_resolve(h2, k.handle, SDMM_TAG_PUBKEY);
    ASSERT_EQ(k2.status, SDMM_OK);
    EXPECT_EQ(k2.as.pubkey[1].bytes[31], 7);
    // A block of the old address is foreign to the new heap.
    EXPECT_EQ(sdmm_free(h2, a), SDMM_ERR_INVALID_BLOCK);
    EXPECT_EQ(sdmm_free(h2, a2), SDMM_OK);
    EXPECT_EQ(sdmm_free(h2, k2), SDMM_OK);
    EXPECT_EQ(sdmm_heap_check(h2), SDMM_OK);
    EXPECT_EQ(sdmm_heap_trim(h2), SDMM_OK);
    sdmm_stats st;
    sdmm_heap_stats(h2, &st);
    EXPECT_EQ(st.live_blocks, 0u);
    EXPECT_EQ(st.free_blocks, 1u) << "everything coalesced back";
    // A shorter arena than the heap needs is refused.
    EXPECT_EQ(sdmm_heap_attach(moved.data(), 4096, &h2), SDMM_ERR_ARENA_TOO_SMALL);
}

TEST_F(Contract, ResizeKeepsContentsAndZeroesGrowth) {
    sdmm_block a = sdmm_alloc_u16(heap, 3);
    a.as.u16[0] = 1;
    a.as.u16[1] = 2;
    a.as.u16[2] = 3;
    sdmm_block blocker = sdmm_alloc_u8(heap, 1);  // forces the grow to move
    sdmm_block b = sdmm_resize(heap, a, 1000);
    ASSERT_EQ(b.status, SDMM_OK);
    EXPECT_EQ(b.len, 1000u);
    EXPECT_EQ(b.tag, SDMM_TAG_U16);
    EXPECT_EQ(b.as.u16[2], 3);
    for (uint32_t i = 3; i < 1000; ++i) ASSERT_EQ(b.as.u16[i], 0) << i;
    EXPECT_EQ(sdmm_resolve(heap, a.handle, SDMM_TAG_U16).status, SDMM_ERR_STALE_HANDLE);
    // Shrink in place: the handle survives.
    sdmm_block c = sdmm_resize(heap, b, 2);
    ASSERT_EQ(c.status, SDMM_OK);
    EXPECT_EQ(c.handle, b.handle);
    EXPECT_EQ(c.as.u16, b.as.u16);
    // Grow back in place into the free neighbour: new elements are zero.
    c.as.u16[1] = 9;
    sdmm_block d = sdmm_resize(heap, c, 500);
    ASSERT_EQ(d.status, SDMM_OK);
    EXPECT_EQ(d.as.u16, c.as.u16);
    EXPECT_EQ(d.as.u16[1], 9);
    for (uint32_t i = 2; i < 500; ++i) ASSERT_EQ(d.as.u16[i], 0) << i;
    expect_failed(sdmm_resize(heap, d, 0), SDMM_ERR_ZERO_COUNT);
    expect_failed(sdmm_resize(heap, d, 1u << 30), SDMM_ERR_TOO_LARGE);
    EXPECT_EQ(sdmm_resolve(heap, d.handle, SDMM_TAG_U16).len, 500u) << "failed resizes changed nothing";
    EXPECT_EQ(sdmm_free(heap, d), SDMM_OK);
    EXPECT_EQ(sdmm_free(heap, blocker), SDMM_OK);
}

TEST_F(Contract, ResizeFailureKeepsTheBlock) {
    sdmm_block a = sdmm_alloc_u64(heap, 100);
    sdmm_block wall = sdmm_alloc_u64(heap, 4000);  // half the heap, right after `a`
    a.as.u64[99] = 5;
    expect_failed(sdmm_resize(heap, a, 4500), SDMM_ERR_OUT_OF_MEMORY);
    sdmm_block r = sdmm_resolve(heap, a.handle, SDMM_TAG_U64);
    ASSERT_EQ(r.status, SDMM_OK);
    EXPECT_EQ(r.len, 100u);
    EXPECT_EQ(r.as.u64[99], 5u);
    EXPECT_EQ(sdmm_free(heap, wall), SDMM_OK);
    EXPECT_EQ(sdmm_free(heap, a), SDMM_OK);
}

TEST_F(Contract, AlignedAllocations) {
    for (size_t align = 1; align <= 4096; align *= 2) {
        sdmm_block b = sdmm_alloc_aligned(heap, 24, align);
        ASSERT_EQ(b.status, SDMM_OK) << align;
        EXPECT_EQ(reinterpret_cast<uintptr_t>(b.as.u8) % align, 0u) << align;
        EXPECT_EQ(b.tag, SDMM_TAG_U8);
        EXPECT_EQ(b.len, 24u);
        for (int i = 0; i < 24; ++i) EXPECT_EQ(b.as.u8[i], 0);
        sdmm_block back;
        ASSERT_EQ(sdmm_block_from_ptr_into(heap, b.as.u8, SDMM_TAG_U8, &back), SDMM_OK);
        EXPECT_EQ(back.handle, b.handle);
        ASSERT_EQ(sdmm_heap_check(heap), SDMM_OK) << align;
        EXPECT_EQ(sdmm_free(heap, b), SDMM_OK);
    }
    expect_failed(sdmm_alloc_aligned(heap, 8, 3), SDMM_ERR_MISALIGNED);
    expect_failed(sdmm_alloc_aligned(heap, 8, 0), SDMM_ERR_MISALIGNED);
    expect_failed(sdmm_alloc_aligned(heap, 0, 64), SDMM_ERR_ZERO_COUNT);
    expect_failed(sdmm_alloc_aligned(heap, 8, size_t{1} << 40), SDMM_ERR_TOO_LARGE);
    expect_failed(sdmm_alloc_aligned(heap, SIZE_MAX, 16), SDMM_ERR_TOO_LARGE);
}

TEST(ContractZeroed, FreshMemoryIsNotClearedTwiceButReusedMemoryIs) {
    std::vector<uint64_t> words(4096, 0);
    sdmm_heap *h = nullptr;
    ASSERT_EQ(sdmm_heap_init_flags(words.data(), words.size() * 8, SDMM_INIT_ZEROED, &h), SDMM_OK);
    // Dirty memory, free it, allocate again: the contract still says zero.
    for (int round = 0; round < 50; ++round) {
        sdmm_block blocks[20];
        for (uint32_t i = 0; i < 20; ++i) {
            blocks[i] = sdmm_alloc_u8(h, 1 + (i * 37 + round * 11) % 300);
            ASSERT_EQ(blocks[i].status, SDMM_OK);
            for (uint32_t j = 0; j < blocks[i].len; ++j)
                ASSERT_EQ(blocks[i].as.u8[j], 0) << round << " " << i;
            std::memset(blocks[i].as.u8, 0xFF, blocks[i].len);
        }
        for (uint32_t i = round & 1; i < 20; i += 2) ASSERT_EQ(sdmm_free(h, blocks[i]), SDMM_OK);
        ASSERT_EQ(sdmm_heap_check(h), SDMM_OK);
        for (uint32_t i = 1 - (round & 1); i < 20; i += 2) ASSERT_EQ(sdmm_free(h, blocks[i]), SDMM_OK);
        ASSERT_EQ(sdmm_heap_check(h), SDMM_OK);
    }
}

}  // namespace

// ---- core v2: caches, one-validation frees, salt, read-only attach --------------

namespace {

TEST_F(Contract, FreeByHandleAndByPointerValidateLikeFree) {
    sdmm_block a = sdmm_alloc_u64(heap, 4);
    sdmm_block p = sdmm_alloc_pubkey(heap, 2);
    EXPECT_EQ(sdmm_free_handle(heap, a.handle, SDMM_TAG_I64), SDMM_ERR_TAG_MISMATCH);
    EXPECT_EQ(sdmm_free_ptr(heap, a.as.u8 + 8, SDMM_TAG_U64), SDMM_ERR_INVALID_BLOCK) << "interior pointer";
    EXPECT_EQ(sdmm_free_ptr(heap, p.as.u8, SDMM_TAG_HASH), SDMM_ERR_TAG_MISMATCH);
    EXPECT_EQ(sdmm_free_handle(heap, a.handle, SDMM_TAG_U64), SDMM_OK);
    EXPECT_EQ(sdmm_free_handle(heap, a.handle, SDMM_TAG_U64), SDMM_ERR_DOUBLE_FREE)
        << "a cached block is not live";
    EXPECT_EQ(sdmm_free_ptr(heap, a.as.u8, SDMM_TAG_U64), SDMM_ERR_INVALID_BLOCK);
    EXPECT_EQ(sdmm_free_ptr(heap, p.as.u8, SDMM_TAG_PUBKEY), SDMM_OK);
    EXPECT_EQ(sdmm_free_handle(nullptr, p.handle, SDMM_TAG_PUBKEY), SDMM_ERR_INVALID_HEAP);
}

TEST_F(Contract, CachedBlockComesBackZeroedWithANewGeneration) {
    sdmm_block a = sdmm_alloc_u64(heap, 6);
    for (uint32_t i = 0; i < 6; ++i) a.as.u64[i] = ~0ull;
    const uint64_t old = a.handle;
    ASSERT_EQ(sdmm_free(heap, a), SDMM_OK);
    sdmm_block b = sdmm_alloc_u64(heap, 6);  // the same size: the cache serves it
    ASSERT_EQ(b.status, SDMM_OK);
    EXPECT_EQ(b.as.u64, a.as.u64) << "exact-size reuse";
    for (uint32_t i = 0; i < 6; ++i) EXPECT_EQ(b.as.u64[i], 0u);
    EXPECT_NE(b.handle, old);
    expect_failed(sdmm_resolve(heap, old, SDMM_TAG_U64), SDMM_ERR_STALE_HANDLE);
    EXPECT_EQ(sdmm_free(heap, b), SDMM_OK);
}

TEST_F(Contract, TrimCoalescesTheCaches) {
    std::vector<sdmm_block> blocks;
    for (uint32_t i = 1; i <= 32; ++i) blocks.push_back(sdmm_alloc_u64(heap, i));
    for (const sdmm_block &b : blocks) ASSERT_EQ(sdmm_free(heap, b), SDMM_OK);
    sdmm_stats st;
    sdmm_heap_stats(heap, &st);
    EXPECT_GT(st.free_blocks, 1u) << "freed small blocks rest in the caches";
    ASSERT_EQ(sdmm_heap_trim(heap), SDMM_OK);
    sdmm_heap_stats(heap, &st);
    EXPECT_EQ(st.free_blocks, 1u);
    EXPECT_EQ(st.largest_free + SDMM_BLOCK_HEADER_BYTES, st.capacity);
    EXPECT_EQ(sdmm_heap_trim(nullptr), SDMM_ERR_INVALID_HEAP);
}

// Under half full a freed small block is cached; once the heap is half full,
// the first allocation the caches miss returns every cached block to the
// coalescing heap (deferred coalescing would cost the big requests room).
TEST_F(Contract, AHalfFullHeapReleasesItsCaches) {
    auto cached = [&] {
        uint64_t cursor = 0, n = 0;
        sdmm_block_info info;
        while (sdmm_heap_next_block(heap, &cursor, &info) == 1) n += info.state == SDMM_BLOCK_CACHED;
        return n;
    };
    std::vector<sdmm_block> small;
    for (uint32_t i = 1; i <= 8; ++i) small.push_back(sdmm_alloc_u64(heap, i));
    for (const sdmm_block &b : small) ASSERT_EQ(sdmm_free(heap, b), SDMM_OK);
    EXPECT_EQ(cached(), 8u);
    sdmm_stats st;
    sdmm_heap_counters(heap, &st);
    std::vector<sdmm_block> big;
    // 2 KiB blocks (no cache serves them): well under half full, the cached
    // blocks stay; past half full, the next one releases them.
    while ((sdmm_heap_allocated(heap) + 4096) * 2 < st.capacity) {
        big.push_back(sdmm_alloc_u8(heap, 2048));
        ASSERT_EQ(big.back().status, SDMM_OK);
        EXPECT_EQ(cached(), 8u) << "under half full";
    }
    while (sdmm_heap_allocated(heap) * 2 < st.capacity) {
        big.push_back(sdmm_alloc_u8(heap, 2048));
        ASSERT_EQ(big.back().status, SDMM_OK);
    }
    big.push_back(sdmm_alloc_u8(heap, 2048));
    ASSERT_EQ(big.back().status, SDMM_OK);
    EXPECT_EQ(cached(), 0u) << "released by an allocation the caches cannot serve";
    ASSERT_EQ(sdmm_heap_check(heap), SDMM_OK);
    // A free in a heap more than half full is coalesced at once.
    sdmm_block one = sdmm_alloc_u64(heap, 3);
    ASSERT_EQ(one.status, SDMM_OK);
    ASSERT_EQ(sdmm_free(heap, one), SDMM_OK);
    EXPECT_EQ(cached(), 0u);
    for (const sdmm_block &b : big) ASSERT_EQ(sdmm_free(heap, b), SDMM_OK);
}

TEST_F(Contract, CachesNeverCauseOutOfMemory) {
    // Fill the heap with small blocks, free them all (most go to the caches),
    // then ask for one block as large as the heap: it must fit.
    std::vector<sdmm_block> blocks;
    for (;;) {
        sdmm_block b = sdmm_alloc_u64(heap, 8);
        if (b.status != SDMM_OK) break;
        blocks.push_back(b);
    }
    for (const sdmm_block &b : blocks) ASSERT_EQ(sdmm_free(heap, b), SDMM_OK);
    sdmm_stats st;
    sdmm_heap_stats(heap, &st);
    sdmm_block big = sdmm_alloc_u8(heap, static_cast<uint32_t>(st.capacity - SDMM_BLOCK_HEADER_BYTES));
    ASSERT_EQ(big.status, SDMM_OK);
    EXPECT_EQ(sdmm_free(heap, big), SDMM_OK);
}

TEST(ContractHandles, AnEarlierHeapsHandlesAreRefused) {
    Arena arena(16 * 1024);
    sdmm_heap *heap = nullptr;
    ASSERT_EQ(sdmm_heap_init(arena.data(), arena.size(), &heap), SDMM_OK);
    const sdmm_block a = sdmm_alloc_u64(heap, 4);
    ASSERT_EQ(a.status, SDMM_OK);
    // The same arena, initialised again: the same block lands at the same
    // offset, but the old handle names a heap that is gone.
    ASSERT_EQ(sdmm_heap_init(arena.data(), arena.size(), &heap), SDMM_OK);
    const sdmm_block b = sdmm_alloc_u64(heap, 4);
    ASSERT_EQ(b.status, SDMM_OK);
    EXPECT_EQ(b.as.u64, a.as.u64);
    EXPECT_NE(sdmm_resolve(heap, a.handle, SDMM_TAG_U64).status, SDMM_OK);
    EXPECT_NE(sdmm_free_handle(heap, a.handle, SDMM_TAG_U64), SDMM_OK);
    EXPECT_EQ(sdmm_heap_check(heap), SDMM_OK);
}

TEST(ContractAttach, AttachWritesNothing) {
    Arena arena(16 * 1024);
    sdmm_heap *heap = nullptr;
    ASSERT_EQ(sdmm_heap_init(arena.data(), arena.size(), &heap), SDMM_OK);
    const sdmm_block a = sdmm_alloc_u64(heap, 4);
    ASSERT_EQ(a.status, SDMM_OK);
    const std::vector<uint64_t> before = arena.words;
    sdmm_heap *again = nullptr;
    ASSERT_EQ(sdmm_heap_attach(arena.data(), arena.size(), &again), SDMM_OK);
    EXPECT_EQ(arena.words, before) << "attach must be possible on read-only memory";
    sdmm_block r;
    EXPECT_EQ(sdmm_resolve_into(again, a.handle, SDMM_TAG_U64, &r), SDMM_OK);
    EXPECT_EQ(arena.words, before) << "resolve reads only";
}

TEST(ContractAttach, GeometryIsRecomputedNotTrusted) {
    Arena arena(16 * 1024);
    sdmm_heap *heap = nullptr;
    ASSERT_EQ(sdmm_heap_init(arena.data(), arena.size(), &heap), SDMM_OK);
    auto *control = static_cast<uint32_t *>(arena.data());
    // Point the start map (word 5) at the block area: attach refuses it.
    const uint32_t saved = control[5];
    control[5] = control[3] + 64;
    sdmm_heap *h = nullptr;
    EXPECT_EQ(sdmm_heap_attach(arena.data(), arena.size(), &h), SDMM_ERR_CORRUPTED);
    // And a heap already open refuses to use it.
    sdmm_block b;
    EXPECT_EQ(sdmm_alloc_u64_into(heap, 4, &b), SDMM_ERR_CORRUPTED);
    control[5] = saved;
    EXPECT_EQ(sdmm_heap_attach(arena.data(), arena.size(), &h), SDMM_OK);
}

TEST(ContractTagged, UnknownTagWithNullOutIsRefused) {
    Arena arena(4096);
    sdmm_heap *heap = nullptr;
    ASSERT_EQ(sdmm_heap_init(arena.data(), arena.size(), &heap), SDMM_OK);
    EXPECT_EQ(sdmm_alloc_tagged_into(heap, 99, 1, nullptr), SDMM_ERR_INVALID_BLOCK);
    EXPECT_EQ(sdmm_alloc_tagged_into(heap, SDMM_TAG_U64, 1, nullptr), SDMM_ERR_INVALID_BLOCK);
}

}  // namespace

namespace {

TEST(ContractCorrupt, CacheCycleWithHugeCountIsBounded) {
    Arena arena(16 * 1024);
    sdmm_heap *heap = nullptr;
    ASSERT_EQ(sdmm_heap_init(arena.data(), arena.size(), &heap), SDMM_OK);
    sdmm_block a = sdmm_alloc_u64(heap, 1);
    sdmm_block b = sdmm_alloc_u64(heap, 1);
    ASSERT_EQ(sdmm_free(heap, a), SDMM_OK);
    ASSERT_EQ(sdmm_free(heap, b), SDMM_OK);  // cache: b -> a
    ASSERT_EQ(sdmm_heap_check(heap), SDMM_OK);
    // a's link (its first element word) back to b: a cycle; and a count no
    // cache holds (the high half of Control::cache_account, bytes 56..63).
    a.as.u32[0] = static_cast<uint32_t>(b.handle & 0xFFFFFFF8u);
    static_cast<uint32_t *>(arena.data())[15] = 0xFFFFFFFFu;
    EXPECT_EQ(sdmm_heap_check(heap), SDMM_ERR_CORRUPTED);  // returns, does not walk 2^32 links
    sdmm_stats st;
    sdmm_heap_stats(heap, &st);  // bounded too
    // The drain releases b and a, then finds the link back to b, a block that
    // is no longer cached: it stops there (bounded by the limit in any case).
    EXPECT_EQ(sdmm_heap_trim(heap), SDMM_ERR_CORRUPTED);
}

}  // namespace

// Claims: one owner per block (what Rust's resolve-from-&Heap relies on).
TEST_F(Contract, ClaimsAllowOneOwnerAtATime) {
    sdmm_block a;
    ASSERT_EQ(sdmm_alloc_claimed_into(heap, SDMM_TAG_U64, 4, &a), SDMM_OK);
    for (uint32_t i = 0; i < a.len; ++i) EXPECT_EQ(a.as.u64[i], 0u) << "born claimed is still zero-filled";
    sdmm_block again;
    EXPECT_EQ(sdmm_claim_into(heap, a.handle, SDMM_TAG_U64, &again), SDMM_ERR_CLAIMED);
    expect_failed(again, SDMM_ERR_CLAIMED);
    // A plain resolve ignores claims (C callers share as they like).
    EXPECT_EQ(sdmm_resolve(heap, a.handle, SDMM_TAG_U64).status, SDMM_OK);
    EXPECT_EQ(sdmm_claim_into(heap, a.handle, SDMM_TAG_U32, &again), SDMM_ERR_TAG_MISMATCH);
    EXPECT_EQ(sdmm_unclaim(heap, a.handle, SDMM_TAG_U64), SDMM_OK);
    EXPECT_EQ(sdmm_unclaim(heap, a.handle, SDMM_TAG_U64), SDMM_OK) << "unclaiming twice is harmless";
    ASSERT_EQ(sdmm_claim_into(heap, a.handle, SDMM_TAG_U64, &again), SDMM_OK);
    EXPECT_EQ(again.as.u64, a.as.u64);
    EXPECT_EQ(again.handle, a.handle);
    EXPECT_EQ(sdmm_claim_into(heap, a.handle, SDMM_TAG_U64, &again), SDMM_ERR_CLAIMED);
    EXPECT_EQ(sdmm_heap_check(heap), SDMM_OK);
    // A claimed block frees; its handle is then stale for claims too.
    const uint64_t h = a.handle;
    EXPECT_EQ(sdmm_free_handle(heap, h, SDMM_TAG_U64), SDMM_OK);
    EXPECT_EQ(sdmm_claim_into(heap, h, SDMM_TAG_U64, &again), SDMM_ERR_STALE_HANDLE);
    EXPECT_EQ(sdmm_unclaim(heap, h, SDMM_TAG_U64), SDMM_ERR_STALE_HANDLE);
    // Reused from the cache: the new block is not claimed.
    sdmm_block b = sdmm_alloc_u64(heap, 4);
    ASSERT_EQ(b.status, SDMM_OK);
    EXPECT_EQ(sdmm_claim_into(heap, b.handle, SDMM_TAG_U64, &again), SDMM_OK);
    EXPECT_EQ(sdmm_free(heap, b), SDMM_OK);
}

TEST_F(Contract, ClaimMovesWithResize) {
    sdmm_block a;
    ASSERT_EQ(sdmm_alloc_claimed_into(heap, SDMM_TAG_U8, 24, &a), SDMM_OK);
    sdmm_block fence = sdmm_alloc_u8(heap, 8);  // forces the growth below to move
    ASSERT_EQ(fence.status, SDMM_OK);
    sdmm_block small = sdmm_resize(heap, a, 16);  // in place
    ASSERT_EQ(small.status, SDMM_OK);
    sdmm_block probe;
    EXPECT_EQ(sdmm_claim_into(heap, small.handle, SDMM_TAG_U8, &probe), SDMM_ERR_CLAIMED);
    sdmm_block moved = sdmm_resize(heap, small, 4000);
    ASSERT_EQ(moved.status, SDMM_OK);
    ASSERT_NE(moved.as.u8, small.as.u8);
    EXPECT_EQ(sdmm_claim_into(heap, moved.handle, SDMM_TAG_U8, &probe), SDMM_ERR_CLAIMED);
    EXPECT_EQ(sdmm_heap_check(heap), SDMM_OK);
    EXPECT_EQ(sdmm_free(heap, moved), SDMM_OK);
    EXPECT_EQ(sdmm_free(heap, fence), SDMM_OK);
}

TEST_F(Contract, CachedBlocksCannotBeClaimed) {
    sdmm_block a = sdmm_alloc_u64(heap, 2);
    ASSERT_EQ(a.status, SDMM_OK);
    ASSERT_EQ(sdmm_free(heap, a), SDMM_OK);  // into its exact-size cache
    sdmm_block probe;
    EXPECT_EQ(sdmm_claim_into(heap, a.handle, SDMM_TAG_U64, &probe), SDMM_ERR_STALE_HANDLE);
    EXPECT_EQ(sdmm_block_from_ptr_into(heap, a.as.u64, SDMM_TAG_U64, &probe), SDMM_ERR_INVALID_BLOCK);
    EXPECT_EQ(sdmm_free_ptr(heap, a.as.u64, SDMM_TAG_U64), SDMM_ERR_INVALID_BLOCK);
}

TEST_F(Contract, CountersAgreeWithStats) {
    sdmm_block a = sdmm_alloc_u64(heap, 10), b = sdmm_alloc_pubkey(heap, 3), c = sdmm_alloc_u8(heap, 700);
    ASSERT_EQ(sdmm_free(heap, b), SDMM_OK);  // cached: free memory for both
    sdmm_stats walked, counted;
    sdmm_heap_stats(heap, &walked);
    sdmm_heap_counters(heap, &counted);
    EXPECT_EQ(counted.capacity, walked.capacity);
    EXPECT_EQ(counted.allocated, walked.allocated);
    EXPECT_EQ(counted.peak_allocated, walked.peak_allocated);
    EXPECT_EQ(counted.live_blocks, 2u);
    EXPECT_EQ(counted.live_blocks, walked.live_blocks);
    EXPECT_EQ(counted.oom_count, walked.oom_count);
    EXPECT_EQ(counted.control_bytes, walked.control_bytes);
    EXPECT_EQ(counted.largest_free, 0u) << "not computed without the walk";
    EXPECT_EQ(sdmm_heap_allocated(heap), walked.allocated);
    const uint64_t before = sdmm_heap_allocated(heap);
    EXPECT_EQ(sdmm_free(heap, a), SDMM_OK);  // cached: no longer counted
    EXPECT_EQ(sdmm_heap_allocated(heap), before - 8 * (1 + 10));
    EXPECT_EQ(sdmm_free(heap, c), SDMM_OK);
    EXPECT_EQ(sdmm_heap_allocated(heap), 0u);
    EXPECT_EQ(sdmm_heap_allocated(nullptr), 0u);
    alignas(8) static uint8_t not_a_heap[512];
    EXPECT_EQ(sdmm_heap_allocated(reinterpret_cast<const sdmm_heap *>(not_a_heap)), 0u);
}

TEST_F(Contract, TheBlockWalkSeesEveryBlock) {
    sdmm_block a = sdmm_alloc_u64(heap, 10), b = sdmm_alloc_pubkey(heap, 3), c = sdmm_alloc_u8(heap, 700);
    sdmm_block d;
    ASSERT_EQ(sdmm_alloc_claimed_into(heap, SDMM_TAG_U32, 5, &d), SDMM_OK);
    ASSERT_EQ(sdmm_free(heap, b), SDMM_OK);  // cached
    ASSERT_EQ(sdmm_free(heap, c), SDMM_OK);  // coalesced into the free top
    uint64_t cursor = 0, bytes = 0;
    int live = 0, cached = 0, free_blocks = 0;
    sdmm_block_info info;
    while (sdmm_heap_next_block(heap, &cursor, &info) == 1) {
        bytes += info.bytes;
        if (info.state == SDMM_BLOCK_LIVE) {
            ++live;
            const sdmm_block &want = info.handle == a.handle ? a : d;
            EXPECT_EQ(info.handle, want.handle);
            EXPECT_EQ(info.tag, want.tag);
            EXPECT_EQ(info.len, want.len);
            EXPECT_EQ(info.claimed, info.handle == d.handle ? 1u : 0u);
        } else if (info.state == SDMM_BLOCK_CACHED) {
            ++cached;
            EXPECT_EQ(info.handle, 0u);
        } else {
            ++free_blocks;
        }
    }
    EXPECT_EQ(live, 2);
    EXPECT_EQ(cached, 1);
    EXPECT_GE(free_blocks, 1);
    sdmm_stats st;
    sdmm_heap_stats(heap, &st);
    EXPECT_EQ(bytes, st.capacity) << "the blocks tile the block area";
    // A cursor that is no block start reads nothing outside the arena.
    for (uint64_t bad : {uint64_t{1}, uint64_t{12}, uint64_t{1} << 40, arena.size() - 8, arena.size() + 64}) {
        uint64_t c2 = bad;
        int steps = 0;
        while (sdmm_heap_next_block(heap, &c2, &info) == 1 && ++steps < 100000) {
            EXPECT_LE(info.offset + info.bytes, arena.size());
        }
    }
    EXPECT_EQ(sdmm_free(heap, a), SDMM_OK);
    EXPECT_EQ(sdmm_free(heap, d), SDMM_OK);
}

// A cached block has no generation: a forged handle with generation 0 (and
// tag NONE) must not free it a second time into its cache.
TEST_F(Contract, AGenerationZeroHandleFreesNothing) {
    sdmm_block a = sdmm_alloc_u64(heap, 2);
    ASSERT_EQ(a.status, SDMM_OK);
    ASSERT_EQ(sdmm_free(heap, a), SDMM_OK);  // cached
    const uint64_t salt = a.handle & ((uint64_t{0xF} << 36) | 7);
    const uint64_t forged = (a.handle & 0xFFFFFFF8u) | salt;  // offset + salt, generation 0, tag 0
    EXPECT_NE(sdmm_free_handle(heap, forged, SDMM_TAG_NONE), SDMM_OK);
    EXPECT_NE(sdmm_free_handle(heap, forged, SDMM_TAG_U64), SDMM_OK);
    EXPECT_NE(sdmm_free_ptr(heap, a.as.u64, SDMM_TAG_NONE), SDMM_OK);
    EXPECT_EQ(sdmm_heap_check(heap), SDMM_OK);
    sdmm_block b = sdmm_alloc_u64(heap, 2), c = sdmm_alloc_u64(heap, 2);
    ASSERT_EQ(b.status, SDMM_OK);
    ASSERT_EQ(c.status, SDMM_OK);
    EXPECT_NE(b.as.u64, c.as.u64) << "the cached block was handed out twice";
    EXPECT_EQ(sdmm_free(heap, b), SDMM_OK);
    EXPECT_EQ(sdmm_free(heap, c), SDMM_OK);
}

TEST_F(Contract, ResizeByPointer) {
    sdmm_block a = sdmm_alloc_u8(heap, 24);
    ASSERT_EQ(a.status, SDMM_OK);
    a.as.u8[0] = 7;
    sdmm_block fence = sdmm_alloc_u8(heap, 8);  // the growth below must move
    sdmm_block r;
    EXPECT_EQ(sdmm_resize_ptr_into(heap, a.as.u8, SDMM_TAG_U64, 4, &r), SDMM_ERR_TAG_MISMATCH);
    EXPECT_EQ(sdmm_resize_ptr_into(heap, a.as.u8 + 8, SDMM_TAG_U8, 4, &r), SDMM_ERR_INVALID_BLOCK);
    ASSERT_EQ(sdmm_resize_ptr_into(heap, a.as.u8, SDMM_TAG_U8, 16, &r), SDMM_OK);  // in place
    EXPECT_EQ(r.as.u8, a.as.u8);
    EXPECT_EQ(r.len, 16u);
    sdmm_block m;
    ASSERT_EQ(sdmm_resize_ptr_into(heap, r.as.u8, SDMM_TAG_U8, 3000, &m), SDMM_OK);  // moves
    EXPECT_NE(m.as.u8, r.as.u8);
    EXPECT_EQ(m.as.u8[0], 7);
    EXPECT_EQ(m.as.u8[2999], 0);
    EXPECT_EQ(sdmm_resolve(heap, r.handle, SDMM_TAG_U8).status, SDMM_ERR_STALE_HANDLE)
        << "the old block is freed";
    sdmm_block refused;
    EXPECT_EQ(sdmm_resize_ptr_into(heap, r.as.u8, SDMM_TAG_U8, 4, &refused), SDMM_ERR_INVALID_BLOCK)
        << "freed";
    EXPECT_EQ(sdmm_heap_check(heap), SDMM_OK);
    EXPECT_EQ(sdmm_free_ptr(heap, m.as.u8, SDMM_TAG_U8), SDMM_OK);
    EXPECT_EQ(sdmm_free(heap, fence), SDMM_OK);
}

// Growth in place: a heap laid out for a reserve grows its end; blocks,
// handles and offsets stay valid.
TEST(ContractGrow, AHeapGrowsIntoItsReserve) {
    std::vector<uint64_t> words(64 * 1024 / 8);
    void *arena = words.data();
    sdmm_heap *heap = nullptr;
    ASSERT_EQ(sdmm_heap_init_reserve(arena, 4096, 64 * 1024, 0, &heap), SDMM_OK);
    sdmm_stats before;
    sdmm_heap_stats(heap, &before);
    EXPECT_LT(before.capacity, 4096u);
    std::vector<sdmm_block> kept;
    for (;;) {  // fill the first 4 KiB
        sdmm_block b = sdmm_alloc_u64(heap, 16);
        if (b.status != SDMM_OK) {
            EXPECT_EQ(b.status, SDMM_ERR_OUT_OF_MEMORY);
            break;
        }
        b.as.u64[0] = kept.size();
        kept.push_back(b);
    }
    ASSERT_FALSE(kept.empty());
    EXPECT_EQ(sdmm_heap_grow(heap, 64 * 1024 + 8), SDMM_ERR_TOO_LARGE) << "past the reserve";
    ASSERT_EQ(sdmm_heap_grow(heap, 32 * 1024), SDMM_OK);
    EXPECT_EQ(sdmm_heap_check(heap), SDMM_OK);
    sdmm_stats after;
    sdmm_heap_stats(heap, &after);
    EXPECT_EQ(after.capacity, before.capacity + 28 * 1024);
    for (size_t i = 0; i < kept.size(); ++i) {  // the old blocks, by handle
        sdmm_block r = sdmm_resolve(heap, kept[i].handle, SDMM_TAG_U64);
        ASSERT_EQ(r.status, SDMM_OK);
        EXPECT_EQ(r.as.u64[0], i);
    }
    sdmm_block big = sdmm_alloc_u8(heap, 20 * 1024);
    ASSERT_EQ(big.status, SDMM_OK) << "the new bytes are usable";
    // The end moves again, with the top block free (it is merged).
    ASSERT_EQ(sdmm_free(heap, big), SDMM_OK);
    ASSERT_EQ(sdmm_heap_grow(heap, 64 * 1024), SDMM_OK);
    EXPECT_EQ(sdmm_heap_check(heap), SDMM_OK);
    EXPECT_EQ(sdmm_alloc_u8(heap, 50 * 1024).status, SDMM_OK);
    // Reopened elsewhere with its current length.
    std::vector<uint64_t> copy(words);
    sdmm_heap *again = nullptr;
    EXPECT_EQ(sdmm_heap_attach(copy.data(), 32 * 1024, &again), SDMM_ERR_ARENA_TOO_SMALL);
    ASSERT_EQ(sdmm_heap_attach(copy.data(), copy.size() * 8, &again), SDMM_OK);
    EXPECT_EQ(sdmm_heap_check(again), SDMM_OK);
    EXPECT_EQ(sdmm_resolve(again, kept[0].handle, SDMM_TAG_U64).as.u64[0], 0u);
}

TEST(ContractGrow, APlainHeapDoesNotGrow) {
    std::vector<uint64_t> words(8192 / 8);
    sdmm_heap *heap = nullptr;
    ASSERT_EQ(sdmm_heap_init(words.data(), 4096, &heap), SDMM_OK);
    EXPECT_EQ(sdmm_heap_grow(heap, 8192), SDMM_ERR_TOO_LARGE);
    EXPECT_EQ(sdmm_heap_grow(heap, 4096), SDMM_OK) << "not growing is not an error";
    EXPECT_EQ(sdmm_heap_grow(nullptr, 8192), SDMM_ERR_INVALID_HEAP);
    EXPECT_EQ(sdmm_heap_check(heap), SDMM_OK);
}

TEST(ContractGrow, GrowingAFullHeapStartsANewTop) {
    std::vector<uint64_t> words(16384 / 8);
    sdmm_heap *heap = nullptr;
    ASSERT_EQ(sdmm_heap_init_reserve(words.data(), 2048, 16384, 0, &heap), SDMM_OK);
    sdmm_stats st;
    sdmm_heap_stats(heap, &st);
    // One block takes every byte: no free block is left at the end.
    sdmm_block all = sdmm_alloc_u8(heap, static_cast<uint32_t>(st.largest_free));
    ASSERT_EQ(all.status, SDMM_OK);
    sdmm_heap_stats(heap, &st);
    ASSERT_EQ(st.free_blocks, 0u);
    ASSERT_EQ(sdmm_heap_grow(heap, 16384), SDMM_OK);
    EXPECT_EQ(sdmm_heap_check(heap), SDMM_OK);
    sdmm_heap_stats(heap, &st);
    EXPECT_EQ(st.free_blocks, 1u);
    EXPECT_EQ(sdmm_alloc_u8(heap, 8000).status, SDMM_OK);
    EXPECT_EQ(sdmm_free(heap, all), SDMM_OK);
    EXPECT_EQ(sdmm_heap_check(heap), SDMM_OK);
}
