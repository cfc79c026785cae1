// memory_resource.cpp -- sdmm::MemoryResource: std::pmr containers in an sdmm heap.
//
// Standard containers ask for bytes with an alignment, so this adapter uses
// the byte-level entry points meant for adapters (sdmm_alloc_aligned_uninit_into
// and sdmm_block_from_ptr_into) rather than the typed API.
#include <new>
#include <sdmm/sdmm.hpp>

namespace sdmm {

void *MemoryResource::do_allocate(std::size_t bytes, std::size_t alignment) {
    sdmm_block block;
    // A zero-byte request still needs a distinct pointer: ask for one byte.
    if (sdmm_alloc_aligned_uninit_into(heap_, bytes == 0 ? 1 : bytes, alignment, &block) != SDMM_OK)
        throw std::bad_alloc();
    return block.as.u8;
}

void MemoryResource::do_deallocate(void *p, std::size_t /*bytes*/, std::size_t /*alignment*/) {
    sdmm_block block;
    if (sdmm_block_from_ptr_into(heap_, p, SDMM_TAG_U8, &block) == SDMM_OK) sdmm_free_ref(heap_, &block);
}

}  // namespace sdmm
