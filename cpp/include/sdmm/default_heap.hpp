// default_heap.hpp -- the process heap of the C++ API (host runtime, Linux).
//
//   auto heap = sdmm::default_heap().value();   // the calling thread's heap
//   auto keys = heap.alloc_pubkey(10);          // as with any sdmm::Heap
//
// The heap is the calling thread's (ffi/sdmm_host.h states the rule): use it,
// and destroy its blocks, on that thread. A block that must be freed by
// another thread is release()d and handed over as its sdmm_block, which that
// thread frees with sdmm_default_free (thread safe). Link sdmm::host.
#pragma once

#include <sdmm_host.h>
#include <sdmm/sdmm.hpp>

#include <cstddef>
#include <span>

namespace sdmm {

// The calling thread's heap of the process: a view of its arena (made at the
// first call), or the error when the system refuses the memory.
inline Result<Heap> default_heap() {
    void *arena = nullptr;
    std::size_t len = 0;
    if (sdmm_status s = sdmm_default_heap_arena(&arena, &len); s != SDMM_OK) return std::unexpected(Error(s));
    return Heap::attach(std::span<std::byte>(static_cast<std::byte *>(arena), len));
}

}  // namespace sdmm
