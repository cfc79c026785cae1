// shared_heap.cpp -- two unrelated processes share typed blocks through one
// named heap in POSIX shared memory (ffi/sdmm_shared.h, sdmm/shared.hpp).
//
//   shared_heap write NAME        creates the heap (64 KiB, growing up to
//                                 1 MiB), fills 8 u64 prices, prints the
//                                 block's handle and its own client id
//   shared_heap read NAME HANDLE  opens the same heap (one call), resolves the
//                                 handle, prints the prices; tries to free the
//                                 block, which it does not own (refused)
//   shared_heap reap NAME CLIENT  once the writer has exited: frees every
//                                 block it left (sdmm_shared_reap) and checks
//                                 the heap
//
// Each command is its own process: nothing but the heap's name and the
// handle (a number) passes between them. tools/demo.d/shm.sh runs them, and
// `sdmm inspect shm:NAME` in between shows the clients and the owner of
// each block.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sdmm/shared.hpp>

namespace {

int fail(const char *what, sdmm::SharedError e) {
    std::fprintf(stderr, "%s: %.*s\n", what, static_cast<int>(e.message().size()), e.message().data());
    return 1;
}

int write_prices(const char *name) {
    auto heap = sdmm::SharedHeap::open_reserve(name, size_t{64} << 10, size_t{1} << 20,
                                               SDMM_SHARED_CREATE | SDMM_SHARED_EXCL);
    if (!heap) return fail("open", heap.error());
    auto prices = heap->alloc<uint64_t>(8);  // zero-filled, owned by this client
    if (!prices) return fail("alloc", prices.error());
    for (uint32_t i = 0; i < prices->size(); ++i) prices->span()[i] = 100 + 7 * i;
    std::printf("%" PRIu64 " %u\n", prices->handle(), heap->client());
    return 0;  // the block stays in the heap after this process exits
}

int read_prices(const char *name, uint64_t handle) {
    auto heap = sdmm::SharedHeap::open(name, 0, 0);  // open only
    if (!heap) return fail("open", heap.error());
    auto prices = heap->resolve<uint64_t>(handle);
    if (!prices) return fail("resolve", prices.error());
    std::printf("client %u reads %u prices:", heap->client(), prices->size());
    for (uint64_t p : prices->span()) std::printf(" %" PRIu64, p);
    std::printf("\n");
    // The wrong type is refused, and so is freeing another client's block.
    auto wrong = heap->resolve<sdmm_pubkey>(handle);
    std::printf("as pubkeys: %.*s\n", static_cast<int>(wrong.error().message().size()),
                wrong.error().message().data());
    auto freed = heap->free(*prices);
    std::printf("free by a client that does not own it: %.*s\n",
                static_cast<int>(freed.error().message().size()), freed.error().message().data());
    return wrong.has_value() || freed.has_value() ? 1 : 0;
}

int reap_writer(const char *name, uint32_t writer) {
    auto heap = sdmm::SharedHeap::open(name, 0, 0);
    if (!heap) return fail("open", heap.error());
    auto reaped = heap->reap(writer);  // the writer has exited: its blocks are freed
    if (!reaped) return fail("reap", reaped.error());
    auto info = heap->info();
    if (!info) return fail("info", info.error());
    std::printf("reaped client %u: %" PRIu64 " live blocks left\n", writer, info->stats.live_blocks);
    return info->stats.live_blocks == 0 && heap->check() ? 0 : 1;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc == 3 && std::strcmp(argv[1], "write") == 0) return write_prices(argv[2]);
    if (argc == 4 && std::strcmp(argv[1], "read") == 0)
        return read_prices(argv[2], std::strtoull(argv[3], nullptr, 10));
    if (argc == 4 && std::strcmp(argv[1], "reap") == 0)
        return reap_writer(argv[2], static_cast<uint32_t>(std::strtoul(argv[3], nullptr, 10)));
    std::fprintf(stderr, "usage: %s write NAME | read NAME HANDLE | reap NAME CLIENT\n", argv[0]);
    return 2;
}
