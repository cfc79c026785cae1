// memory_resource.cpp -- sdmm::MemoryResource: std::pmr containers in an sdmm heap.
//
// Standard containers ask for bytes with an alignment, so this adapter uses
// the byte-level entry points meant for adapters (sdmm_alloc_aligned_uninit_into
// and sdmm_free_ptr, which validates the pointer once) rather than the typed API.
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
    // deallocate cannot report an error: a pointer the heap refuses is ignored.
    (void)sdmm_free_ptr(heap_, p, SDMM_TAG_U8);
}

}  // namespace sdmm
