// Every type of the table, through every generated entry point. The list of
// types comes from sdmm_types.def itself, so a new row is tested at once.
#include <gtest/gtest.h>
#include <sdmm.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

struct TypeRow {
    const char *name;
    uint32_t tag;
    size_t size;
    sdmm_block (*alloc)(sdmm_heap *, uint32_t);
    sdmm_status (*alloc_into)(sdmm_heap *, uint32_t, sdmm_block *);
    void *(*member)(const sdmm_block &);  // the union member of this row
};

const std::vector<TypeRow> &rows() {
    static const std::vector<TypeRow> all = {
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2) \
    {#name,                                            \
     SDMM_TAG_##TAG,                                   \
     sizeof(c_type),                                   \
     sdmm_alloc_##name,                                \
     sdmm_alloc_##name##_into,                         \
     [](const sdmm_block &b) -> void * { return static_cast<void *>(b.as.name); }},
#include <sdmm_types.def>
#undef SDMM_TYPE
    };
    return all;
}

TEST(Types, TableIsConsistent) {
    ASSERT_EQ(rows().size(), SDMM_TAG_COUNT - 1u);
    for (size_t i = 0; i < rows().size(); ++i) {
        EXPECT_EQ(rows()[i].tag, i + 1) << "tags are numbered in table order";
        EXPECT_EQ(sdmm_tag_size(rows()[i].tag), rows()[i].size);
        EXPECT_STREQ(sdmm_tag_name(rows()[i].tag), rows()[i].name);
    }
    EXPECT_EQ(sdmm_tag_size(SDMM_TAG_NONE), 0u);
    EXPECT_EQ(sdmm_tag_size(SDMM_TAG_COUNT), 0u);
    EXPECT_EQ(sizeof(sdmm_block), 32u);
    EXPECT_EQ(alignof(sdmm_u128), 8u);
    EXPECT_EQ(sizeof(sdmm_signature), 64u);
}

TEST(Types, EveryTypeAllocatesResolvesAndFrees) {
    std::vector<uint64_t> arena(16 * 1024);
    sdmm_heap *heap = nullptr;
    ASSERT_EQ(sdmm_heap_init(arena.data(), arena.size() * 8, &heap), SDMM_OK);
    std::vector<sdmm_block> live;
    for (const TypeRow &row : rows()) {
        SCOPED_TRACE(row.name);
        for (uint32_t n : {1u, 3u, 17u, 100u}) {
            sdmm_block b = row.alloc(heap, n);
            ASSERT_EQ(b.status, SDMM_OK);
            EXPECT_EQ(b.tag, row.tag);
            EXPECT_EQ(b.len, n);
            ASSERT_NE(row.member(b), nullptr);
            EXPECT_EQ(reinterpret_cast<uintptr_t>(row.member(b)) % 8, 0u);
            auto *bytes = static_cast<uint8_t *>(row.member(b));
            for (size_t i = 0; i < n * row.size; ++i) ASSERT_EQ(bytes[i], 0) << "zero-filled";
            std::memset(bytes, static_cast<int>(row.tag), n * row.size);
            // The pointer twin agrees with the by-value form.
            sdmm_block twin;
            ASSERT_EQ(row.alloc_into(heap, n, &twin), SDMM_OK);
            EXPECT_EQ(twin.tag, row.tag);
            EXPECT_EQ(twin.len, n);
            sdmm_block tagged;
            ASSERT_EQ(sdmm_alloc_tagged_into(heap, row.tag, n, &tagged), SDMM_OK);
            EXPECT_EQ(tagged.len, n);
            EXPECT_EQ(sdmm_free_ref(heap, &twin), SDMM_OK);
            EXPECT_EQ(sdmm_free_ref(heap, &tagged), SDMM_OK);
            live.push_back(b);
        }
    }
    ASSERT_EQ(sdmm_heap_check(heap), SDMM_OK);
    for (const sdmm_block &b : live) {
        const TypeRow &row = rows()[b.tag - 1];
        sdmm_block r;
        ASSERT_EQ(sdmm_resolve_into(heap, b.handle, b.tag, &r), SDMM_OK);
        EXPECT_EQ(r.len, b.len) << row.name << ": the element count survives a handle round trip";
        EXPECT_EQ(row.member(r), row.member(b));
        const auto *bytes = static_cast<const uint8_t *>(row.member(r));
        for (size_t i = 0; i < b.len * row.size; ++i) ASSERT_EQ(bytes[i], row.tag);
        // Any other tag is refused.
        const uint32_t other = b.tag % (SDMM_TAG_COUNT - 1) + 1;
        EXPECT_EQ(sdmm_resolve_into(heap, b.handle, other, &r), SDMM_ERR_TAG_MISMATCH);
    }
    for (const sdmm_block &b : live) ASSERT_EQ(sdmm_free(heap, b), SDMM_OK) << sdmm_tag_name(b.tag);
    ASSERT_EQ(sdmm_heap_check(heap), SDMM_OK);
    ASSERT_EQ(sdmm_heap_trim(heap), SDMM_OK);
    sdmm_stats st;
    sdmm_heap_stats(heap, &st);
    EXPECT_EQ(st.live_blocks, 0u);
    EXPECT_EQ(st.allocated, 0u);
    EXPECT_EQ(st.free_blocks, 1u);
    EXPECT_EQ(st.largest_free + SDMM_BLOCK_HEADER_BYTES, st.capacity);
}

}  // namespace
