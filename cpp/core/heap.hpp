// heap.hpp -- the allocator core's internal interface (freestanding C++).
//
// The C boundary (ffi/sdmm.cpp) is the only caller; the typed API is built
// there from the type table. Everything here works in bytes and tags, keeps
// all state inside the arena, and uses no libc, no floats, no exceptions, no
// templates and no mutable globals, so the same file compiles for x86-64,
// aarch64, BPF and SBF.
#pragma once

#include "../../ffi/sdmm.h"
#include "platform.hpp"

namespace sdmm::core {

// Whether the caller wants the elements cleared, and whether the new block
// is born claimed (see claim()).
enum class Fill : uint32_t { kZero, kUninit, kZeroClaimed };

// `reserve` > len: the heap may grow up to it later (grow); 0: it cannot.
sdmm_status init(void *arena, size_t len, size_t reserve, uint32_t flags, sdmm_heap **out);
sdmm_status attach(void *arena, size_t len, sdmm_heap **out);

// Allocates `count` elements of the type of `tag` (a valid tag, not NONE).
sdmm_status alloc(sdmm_heap *heap, uint32_t tag, uint64_t count, Fill fill, sdmm_block *out);
// alloc(..., Fill::kZero, ...) without the dispatch on the fill.
sdmm_status alloc_zeroed(sdmm_heap *heap, uint32_t tag, uint64_t count, sdmm_block *out);
// A u8 block of `bytes` whose first byte is aligned to `align` (power of two).
sdmm_status alloc_aligned(sdmm_heap *heap, uint64_t bytes, uint64_t align, Fill fill, sdmm_block *out);
sdmm_status free(sdmm_heap *heap, const sdmm_block *block);
sdmm_status free_handle(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag);
sdmm_status free_pointer(sdmm_heap *heap, const void *elements, uint32_t expected_tag);
sdmm_status resize(sdmm_heap *heap, const sdmm_block *block, uint64_t new_len, sdmm_block *out);
sdmm_status resize_pointer(sdmm_heap *heap, const void *elements, uint32_t expected_tag, uint64_t new_len,
                           sdmm_block *out);
sdmm_status resolve(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag, sdmm_block *out);
// resolve() that also marks the block claimed; SDMM_ERR_CLAIMED if it already is.
sdmm_status claim(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag, sdmm_block *out);
// Clears the claim of a live block (claimed or not).
sdmm_status unclaim(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag);

sdmm_status from_pointer(sdmm_heap *heap, const void *elements, uint32_t expected_tag, sdmm_block *out);

sdmm_status trim(sdmm_heap *heap);
// Moves the end of a heap made with a reserve to new_len (<= the reserve).
sdmm_status grow(sdmm_heap *heap, uint64_t new_len);
sdmm_status check(const sdmm_heap *heap);
void stats(const sdmm_heap *heap, sdmm_stats *out);
void counters(const sdmm_heap *heap, sdmm_stats *out);
uint64_t allocated(const sdmm_heap *heap);
bool next_block(const sdmm_heap *heap, uint64_t *cursor, sdmm_block_info *out);

// log2 of the element size of a tag; 0xFF for an unknown tag.
uint32_t tag_size_log2(uint32_t tag);

// Size classes, exposed for tests and benchmarks. `granules` counts 8-byte
// units of a whole block (header included) and is at least 2.
uint64_t size_class(uint64_t granules, bool has_lzcnt);
uint64_t size_class_portable(uint64_t granules);
// The compile-time table BPF/SBF use for blocks under 4 KiB.
uint64_t size_class_table(uint64_t granules);

}  // namespace sdmm::core
