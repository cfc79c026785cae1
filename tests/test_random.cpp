// Random operations against a shadow model (the o1heap/rlsf method).
//
// The model knows every live block: where its elements are, how many, of
// which type, and what was written into them. After every operation the heap
// must agree: contents intact, no two blocks overlapping, statuses exactly
// those the contract promises for the mistakes we inject (double free, stale
// handle, wrong type). sdmm_heap_check runs after every batch.
#include <gtest/gtest.h>
#include <sdmm.h>

#include <cstring>
#include <iterator>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

struct Rng {  // xorshift64*: fixed seeds, reproducible failures
    uint64_t s;
    uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 2685821657736338717ull;
    }
    uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }
};

struct Live {
    sdmm_block block;
    uint8_t seed;
};

uint8_t pattern(uint8_t seed, size_t i) { return static_cast<uint8_t>(seed + i * 7); }

class Shadow {
  public:
    Shadow(size_t arena_bytes, uint32_t flags, uint64_t seed) : arena_(arena_bytes / 8), rng_{seed} {
        // A zeroed arena when the heap is told so, a dirty one otherwise.
        const uint64_t fill_word = (flags & SDMM_INIT_ZEROED) != 0 ? 0 : 0xA5A5A5A5A5A5A5A5ull;
        std::fill(arena_.begin(), arena_.end(), fill_word);
        EXPECT_EQ(sdmm_heap_init_flags(arena_.data(), arena_bytes, flags, &heap_), SDMM_OK);
    }

    size_t bytes_of(const sdmm_block &b) const { return size_t{b.len} * sdmm_tag_size(b.tag); }

    void fill(Live &l) {
        l.seed = static_cast<uint8_t>(rng_.next());
        auto *p = l.block.as.u8;
        for (size_t i = 0; i < bytes_of(l.block); ++i) p[i] = pattern(l.seed, i);
    }
    void verify(const Live &l, size_t upto) const {
        const auto *p = l.block.as.u8;
        for (size_t i = 0; i < upto; ++i)
            ASSERT_EQ(p[i], pattern(l.seed, i)) << "block " << l.block.handle << " byte " << i;
    }

    void add_interval(const sdmm_block &b) {
        const auto start = reinterpret_cast<uintptr_t>(b.as.u8);
        const auto end = start + bytes_of(b);
        auto next = intervals_.lower_bound(start);
        if (next != intervals_.end()) {
            ASSERT_LE(end, next->first) << "overlaps the next block";
        }
        if (next != intervals_.begin()) {
            ASSERT_LE(std::prev(next)->second, start) << "overlaps the previous block";
        }
        intervals_[start] = end;
    }
    void remove_interval(const sdmm_block &b) { intervals_.erase(reinterpret_cast<uintptr_t>(b.as.u8)); }

    uint32_t random_count(uint32_t tag) {
        // Mostly small, sometimes large: 8..512 bytes typical, up to ~8 KiB.
        const uint32_t bytes = rng_.below(16) == 0 ? 1 + rng_.below(8192) : 1 + rng_.below(512);
        const uint32_t n = bytes / sdmm_tag_size(tag);
        return n == 0 ? 1 : n;
    }

    void alloc() {
        const uint32_t tag = 1 + rng_.below(SDMM_TAG_COUNT - 1);
        const uint32_t n = random_count(tag);
        sdmm_block b;
        const sdmm_status s = sdmm_alloc_tagged_into(heap_, tag, n, &b);
        if (s == SDMM_ERR_OUT_OF_MEMORY) {
            ++ooms_;
            return;
        }
        ASSERT_EQ(s, SDMM_OK) << sdmm_status_str(s);
        ASSERT_EQ(b.tag, tag);
        ASSERT_EQ(b.len, n);
        const auto *p = b.as.u8;
        for (size_t i = 0; i < bytes_of(b); ++i) ASSERT_EQ(p[i], 0) << "not zero-filled at " << i;
        add_interval(b);
        Live l{b, 0};
        fill(l);
        live_.emplace(b.handle, l);
        handles_.push_back(b.handle);
    }

    size_t pick() { return rng_.below(static_cast<uint32_t>(handles_.size())); }
    void drop_handle(size_t i) {
        handles_[i] = handles_.back();
        handles_.pop_back();
    }

    void free_one() {
        const size_t i = pick();
        const uint64_t h = handles_[i];
        Live l = live_.at(h);
        verify(l, bytes_of(l.block));
        ASSERT_EQ(sdmm_free(heap_, l.block), SDMM_OK);
        remove_interval(l.block);
        live_.erase(h);
        drop_handle(i);
        freed_.push_back(l.block);
        if (freed_.size() > 64) freed_.erase(freed_.begin());
    }

    void resize_one() {
        const size_t i = pick();
        const uint64_t h = handles_[i];
        Live l = live_.at(h);
        const uint32_t n = random_count(l.block.tag);
        sdmm_block r = sdmm_resize(heap_, l.block, n);
        if (r.status == SDMM_ERR_OUT_OF_MEMORY) {
            ++ooms_;
            verify(l, bytes_of(l.block));  // untouched
            return;
        }
        ASSERT_EQ(r.status, SDMM_OK) << sdmm_status_str(r.status);
        ASSERT_EQ(r.len, n);
        const size_t keep = std::min(bytes_of(l.block), bytes_of(r));
        remove_interval(l.block);
        Live moved{r, l.seed};
        verify(moved, keep);
        for (size_t b = keep; b < bytes_of(r); ++b) ASSERT_EQ(r.as.u8[b], 0) << "growth not zeroed";
        for (size_t b = keep; b < bytes_of(r); ++b) r.as.u8[b] = pattern(l.seed, b);
        add_interval(r);
        live_.erase(h);
        live_.emplace(r.handle, moved);
        handles_[i] = r.handle;
    }

    void resolve_one() {
        const uint64_t h = handles_[pick()];
        const Live &l = live_.at(h);
        sdmm_block r = sdmm_resolve(heap_, h, l.block.tag);
        ASSERT_EQ(r.status, SDMM_OK);
        ASSERT_EQ(r.as.u8, l.block.as.u8);
        ASSERT_EQ(r.len, l.block.len);
    }

    // A mistake a caller can make; the heap must say so and change nothing.
    void mistake() {
        if (!freed_.empty()) {
            const sdmm_block &old = freed_[rng_.below(static_cast<uint32_t>(freed_.size()))];
            if (live_.count(old.handle) == 0) {
                ASSERT_EQ(sdmm_free(heap_, old), SDMM_ERR_DOUBLE_FREE);
                ASSERT_EQ(sdmm_resolve(heap_, old.handle, old.tag).status, SDMM_ERR_STALE_HANDLE);
            }
        }
        if (!handles_.empty()) {
            const Live &l = live_.at(handles_[pick()]);
            sdmm_block wrong = l.block;
            wrong.tag = l.block.tag % (SDMM_TAG_COUNT - 1) + 1;
            ASSERT_EQ(sdmm_free(heap_, wrong), SDMM_ERR_TAG_MISMATCH);
            sdmm_block inside = l.block;
            inside.as.u8 += 8;
            inside.handle += 8;
            ASSERT_NE(sdmm_free(heap_, inside), SDMM_OK);
        }
    }

    void run(uint64_t ops) {
        for (uint64_t op = 0; op < ops; ++op) {
            const uint32_t dice = rng_.below(100);
            if (handles_.empty() || dice < 45)
                alloc();
            else if (dice < 85)
                free_one();
            else if (dice < 93)
                resize_one();
            else if (dice < 98)
                resolve_one();
            else
                mistake();
            if (::testing::Test::HasFatalFailure()) return;
            if (op % 4096 == 4095) {
                ASSERT_EQ(sdmm_heap_check(heap_), SDMM_OK) << "after op " << op;
                sdmm_stats st;
                sdmm_heap_stats(heap_, &st);
                ASSERT_EQ(st.live_blocks, live_.size());
            }
        }
        ASSERT_EQ(sdmm_heap_check(heap_), SDMM_OK);
        // Free everything: the heap must come back to one free block.
        while (!handles_.empty()) {
            free_one();
            if (::testing::Test::HasFatalFailure()) return;
        }
        sdmm_stats st;
        ASSERT_EQ(sdmm_heap_trim(heap_), SDMM_OK);
        sdmm_heap_stats(heap_, &st);
        EXPECT_EQ(st.free_blocks, 1u);
        EXPECT_EQ(st.allocated, 0u);
        EXPECT_EQ(sdmm_heap_check(heap_), SDMM_OK);
    }

    uint64_t ooms() const { return ooms_; }

  private:
    std::vector<uint64_t> arena_;
    sdmm_heap *heap_ = nullptr;
    Rng rng_;
    std::unordered_map<uint64_t, Live> live_;
    std::vector<uint64_t> handles_;
    std::vector<sdmm_block> freed_;
    std::map<uintptr_t, uintptr_t> intervals_;
    uint64_t ooms_ = 0;
};

struct Case {
    size_t arena;
    uint32_t flags;
    uint64_t seed;
    uint64_t ops;
};

class RandomOps : public ::testing::TestWithParam<Case> {};

TEST_P(RandomOps, AgreesWithShadowModel) {
    const Case c = GetParam();
    Shadow shadow(c.arena, c.flags, c.seed);
    shadow.run(c.ops);
    RecordProperty("ooms", static_cast<int>(shadow.ooms()));
}

// 1.2M operations in all: small arenas run out of memory often (exercising
// the failure paths), large ones grow big fragmented populations.
INSTANTIATE_TEST_SUITE_P(Shadow, RandomOps,
                         ::testing::Values(Case{32 * 1024, 0, 1, 300000},
                                           Case{32 * 1024, SDMM_INIT_ZEROED, 2, 300000},
                                           Case{1 << 20, 0, 3, 300000},
                                           Case{1 << 20, SDMM_INIT_ZEROED, 4, 300000}),
                         [](const ::testing::TestParamInfo<Case> &param_info) {
                             return std::to_string(param_info.param.arena / 1024) + "KiB_" +
                                    ((param_info.param.flags & SDMM_INIT_ZEROED) != 0 ? "zeroed" : "dirty") +
                                    "_seed" + std::to_string(param_info.param.seed);
                         });

}  // namespace
