// sdmm.cpp -- the C boundary: the contract of sdmm.h over the core.
//
// Per-type functions are generated from sdmm_types.def; the by-value forms
// are thin wrappers over the pointer twins and exist only on hosts.
#include "sdmm.h"

#include "../cpp/core/heap.hpp"

using sdmm::core::Fill;

extern "C" {

sdmm_status sdmm_heap_init(void *arena, size_t len, sdmm_heap **out) {
    return sdmm::core::init(arena, len, 0, 0, out);
}
sdmm_status sdmm_heap_init_flags(void *arena, size_t len, uint32_t flags, sdmm_heap **out) {
    return sdmm::core::init(arena, len, 0, flags, out);
}
sdmm_status sdmm_heap_init_reserve(void *arena, size_t len, size_t reserve, uint32_t flags, sdmm_heap **out) {
    return sdmm::core::init(arena, len, reserve, flags, out);
}
sdmm_status sdmm_heap_grow(sdmm_heap *heap, size_t new_len) { return sdmm::core::grow(heap, new_len); }
sdmm_status sdmm_heap_attach(void *arena, size_t len, sdmm_heap **out) {
    return sdmm::core::attach(arena, len, out);
}

sdmm_status sdmm_alloc_tagged_into(sdmm_heap *heap, uint32_t tag, uint32_t n, sdmm_block *out) {
    if (tag - 1u >= SDMM_TAG_COUNT - 1u) {
        // An unknown tag is a caller mistake of the same family as a wrong one.
        if (out == nullptr) return SDMM_ERR_INVALID_BLOCK;
        *out = sdmm_block{};
        out->status = SDMM_ERR_TAG_MISMATCH;
        return SDMM_ERR_TAG_MISMATCH;
    }
    return sdmm::core::alloc_zeroed(heap, tag, n, out);
}

#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2)                                         \
    sdmm_status sdmm_alloc_##name##_into(sdmm_heap *heap, uint32_t n, sdmm_block *out) {       \
        static_assert(sizeof(c_type) == (1u << (size_log2)), "table size matches the C type"); \
        return sdmm::core::alloc_zeroed(heap, SDMM_TAG_##TAG, n, out);                         \
    }
#include "sdmm_types.def"
#undef SDMM_TYPE

sdmm_status sdmm_free_ref(sdmm_heap *heap, const sdmm_block *block) { return sdmm::core::free(heap, block); }
sdmm_status sdmm_free_handle(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag) {
    return sdmm::core::free_handle(heap, handle, expected_tag);
}
sdmm_status sdmm_free_ptr(sdmm_heap *heap, const void *elements, uint32_t expected_tag) {
    return sdmm::core::free_pointer(heap, elements, expected_tag);
}
sdmm_status sdmm_resize_into(sdmm_heap *heap, const sdmm_block *block, uint32_t new_len, sdmm_block *out) {
    // `out` may alias `block`: work on a copy.
    const sdmm_block in = block != nullptr ? *block : sdmm_block{};
    return sdmm::core::resize(heap, block != nullptr ? &in : nullptr, new_len, out);
}
sdmm_status sdmm_resize_ptr_into(sdmm_heap *heap, const void *elements, uint32_t expected_tag,
                                 uint32_t new_len, sdmm_block *out) {
    return sdmm::core::resize_pointer(heap, elements, expected_tag, new_len, out);
}
sdmm_status sdmm_resolve_into(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag, sdmm_block *out) {
    return sdmm::core::resolve(heap, handle, expected_tag, out);
}
sdmm_status sdmm_alloc_claimed_into(sdmm_heap *heap, uint32_t tag, uint32_t n, sdmm_block *out) {
    if (tag - 1u >= SDMM_TAG_COUNT - 1u) {
        if (out == nullptr) return SDMM_ERR_INVALID_BLOCK;
        *out = sdmm_block{};
        out->status = SDMM_ERR_TAG_MISMATCH;
        return SDMM_ERR_TAG_MISMATCH;
    }
    return sdmm::core::alloc(heap, tag, n, Fill::kZeroClaimed, out);
}
sdmm_status sdmm_claim_into(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag, sdmm_block *out) {
    return sdmm::core::claim(heap, handle, expected_tag, out);
}
sdmm_status sdmm_unclaim(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag) {
    return sdmm::core::unclaim(heap, handle, expected_tag);
}
sdmm_status sdmm_alloc_aligned_into(sdmm_heap *heap, size_t n_bytes, size_t align, sdmm_block *out) {
    return sdmm::core::alloc_aligned(heap, n_bytes, align, Fill::kZero, out);
}
sdmm_status sdmm_alloc_aligned_uninit_into(sdmm_heap *heap, size_t n_bytes, size_t align, sdmm_block *out) {
    return sdmm::core::alloc_aligned(heap, n_bytes, align, Fill::kUninit, out);
}

sdmm_status sdmm_block_from_ptr_into(sdmm_heap *heap, const void *elements, uint32_t expected_tag,
                                     sdmm_block *out) {
    return sdmm::core::from_pointer(heap, elements, expected_tag, out);
}

sdmm_status sdmm_heap_trim(sdmm_heap *heap) { return sdmm::core::trim(heap); }
sdmm_status sdmm_heap_check(const sdmm_heap *heap) { return sdmm::core::check(heap); }
void sdmm_heap_counters(const sdmm_heap *heap, sdmm_stats *out) { sdmm::core::counters(heap, out); }
uint64_t sdmm_heap_allocated(const sdmm_heap *heap) { return sdmm::core::allocated(heap); }
int sdmm_heap_next_block(const sdmm_heap *heap, uint64_t *cursor, sdmm_block_info *out) {
    return sdmm::core::next_block(heap, cursor, out) ? 1 : 0;
}
void sdmm_heap_stats(const sdmm_heap *heap, sdmm_stats *out) { sdmm::core::stats(heap, out); }

const char *sdmm_status_str(uint32_t status) {
    switch (status) {
#define SDMM_STATUS(NAME, value, message) \
    case SDMM_##NAME:                     \
        return message;
#include "sdmm_status.def"
#undef SDMM_STATUS
        default:
            return "unknown status";
    }
}

uint32_t sdmm_tag_size(uint32_t tag) {
    const uint32_t size_log2 = sdmm::core::tag_size_log2(tag);
    return tag == SDMM_TAG_NONE || size_log2 == 0xFF ? 0 : 1u << size_log2;
}

const char *sdmm_tag_name(uint32_t tag) {
    switch (tag) {
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2) \
    case SDMM_TAG_##TAG:                               \
        return #name;
#include "sdmm_types.def"
#undef SDMM_TYPE
        default:
            return "none";
    }
}

// ---- by-value convenience layer (hosts) -------------------------------------
#if !defined(__bpf__) && !defined(__BPF__) && !defined(__sbf__)
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2)          \
    sdmm_block sdmm_alloc_##name(sdmm_heap *heap, uint32_t n) { \
        sdmm_block out;                                         \
        sdmm_alloc_##name##_into(heap, n, &out);                \
        return out;                                             \
    }
#include "sdmm_types.def"
#undef SDMM_TYPE

sdmm_status sdmm_free(sdmm_heap *heap, sdmm_block block) { return sdmm_free_ref(heap, &block); }
sdmm_block sdmm_resize(sdmm_heap *heap, sdmm_block block, uint32_t new_len) {
    sdmm_block out;
    sdmm_resize_into(heap, &block, new_len, &out);
    return out;
}
sdmm_block sdmm_resolve(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag) {
    sdmm_block out;
    sdmm_resolve_into(heap, handle, expected_tag, &out);
    return out;
}
sdmm_block sdmm_alloc_aligned(sdmm_heap *heap, size_t n_bytes, size_t align) {
    sdmm_block out;
    sdmm_alloc_aligned_into(heap, n_bytes, align, &out);
    return out;
}
#endif

}  // extern "C"
