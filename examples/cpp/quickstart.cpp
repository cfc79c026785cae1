// The README's C++ example: typed blocks from a heap over a stack array.
#include <cstdio>
#include <sdmm/sdmm.hpp>

int main() {
    alignas(8) std::byte arena[32 * 1024];
    auto heap = sdmm::Heap::create(arena).value();

    auto balances = heap.alloc_u64(100).value();  // 100 zero-filled uint64_t, freed at scope end
    auto keys = heap.alloc_pubkey(4).value();     // 4 x 32-byte keys
    balances[7] = 42;
    keys[0].bytes[0] = 0xAB;

    auto wrong = heap.resolve<sdmm_hash>(keys.handle());  // a pubkey block is not a hash block
    std::printf("balances[7] = %llu, %zu keys, wrong type -> %s\n",
                static_cast<unsigned long long>(balances[7]), keys.size(),
                wrong ? "ok?!" : wrong.error().message().data());
    return wrong || heap.check().has_value() == false ? 1 : 0;
}
