// The C++ API: typed owning blocks, errors as values, std::pmr containers.
#include <gtest/gtest.h>

#include <memory_resource>
#include <sdmm/sdmm.hpp>
#include <string>
#include <vector>

namespace {

struct CppApi : ::testing::Test {
    alignas(8) std::byte arena[64 * 1024];
    sdmm::Heap heap = sdmm::Heap::create(arena).value();
    void TearDown() override { EXPECT_TRUE(heap.check().has_value()); }
};

TEST_F(CppApi, BlocksAreTypedSpansThatFreeThemselves) {
    {
        sdmm::U64Block balances = heap.alloc_u64(100).value();
        static_assert(std::is_same_v<decltype(balances.span()), std::span<uint64_t>>);
        EXPECT_EQ(balances.size(), 100u);
        balances[99] = 7;
        sdmm::PubkeyBlock keys = heap.alloc_pubkey(3).value();
        static_assert(std::is_same_v<decltype(keys.span()), std::span<sdmm_pubkey>>);
        keys[2].bytes[31] = 1;
        EXPECT_EQ(heap.stats().live_blocks, 2u);
    }
    EXPECT_EQ(heap.stats().live_blocks, 0u) << "destructors freed both";
}

TEST_F(CppApi, ErrorsAreValues) {
    auto zero = heap.alloc_u32(0);
    ASSERT_FALSE(zero);
    EXPECT_EQ(zero.error(), sdmm::Status::ERR_ZERO_COUNT);
    EXPECT_EQ(zero.error().message(), "element count is zero");
    auto huge = heap.alloc_signature(1u << 30);
    ASSERT_FALSE(huge);
    EXPECT_EQ(huge.error(), sdmm::Status::ERR_TOO_LARGE);
    alignas(8) std::byte tiny[16];
    auto bad = sdmm::Heap::create(tiny);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error(), sdmm::Status::ERR_ARENA_TOO_SMALL);
}

TEST_F(CppApi, MoveTransfersOwnership) {
    sdmm::I32Block a = heap.alloc_i32(4).value();
    a[0] = -5;
    sdmm::I32Block b = std::move(a);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): checking the moved-from state
    EXPECT_EQ(a.size(), 0u);
    EXPECT_EQ(b[0], -5);
    EXPECT_EQ(heap.stats().live_blocks, 1u);
    b = heap.alloc_i32(2).value();  // the old block is freed by the assignment
    EXPECT_EQ(heap.stats().live_blocks, 1u);
}

TEST_F(CppApi, ResizeFreeReleaseResolve) {
    sdmm::U16Block v = heap.alloc_u16(2).value();
    v[1] = 3;
    ASSERT_TRUE(v.resize(1000));
    EXPECT_EQ(v.size(), 1000u);
    EXPECT_EQ(v[1], 3);
    EXPECT_EQ(v[999], 0);
    const uint64_t handle = v.handle();
    sdmm_block raw = v.release();
    EXPECT_FALSE(v);
    auto wrong = heap.resolve<uint32_t>(handle);
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error(), sdmm::Status::ERR_TAG_MISMATCH);
    sdmm::U16Block back = heap.resolve<uint16_t>(handle).value();
    EXPECT_EQ(back.data(), raw.as.u16);
    EXPECT_TRUE(back.free());
    EXPECT_FALSE(back.free());  // already empty
    EXPECT_EQ(heap.resolve<uint16_t>(handle).error(), sdmm::Status::ERR_STALE_HANDLE);
}

TEST_F(CppApi, PmrContainersLiveInTheHeap) {
    sdmm::MemoryResource resource(heap);
    {
        std::pmr::vector<std::pmr::string> names(&resource);
        for (int i = 0; i < 200; ++i) names.emplace_back("name number " + std::to_string(i) + " long enough");
        EXPECT_EQ(names[150], "name number 150 long enough");
        EXPECT_GT(heap.stats().live_blocks, 100u);
        EXPECT_TRUE(heap.check().has_value());
        std::pmr::vector<long double> wide(&resource);
        wide.resize(10);
        EXPECT_EQ(reinterpret_cast<uintptr_t>(wide.data()) % alignof(long double), 0u);
    }
    EXPECT_EQ(heap.stats().live_blocks, 0u);
    std::pmr::vector<char> too_big(&resource);
    EXPECT_THROW(too_big.resize(1 << 20), std::bad_alloc);
    EXPECT_TRUE(resource.is_equal(resource));
}

}  // namespace
