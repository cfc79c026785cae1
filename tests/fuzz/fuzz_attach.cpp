// fuzz_attach.cpp -- libFuzzer target 2: the fuzzer's bytes ARE the arena.
//
// Input: a 2-byte length L, L bytes of calls, then the arena image (at most
// 64 KiB; shorter than SDMM_MIN_ARENA_BYTES is fine and must be refused). The image is
// copied into an allocation of exactly its size, attached, and then used by
// the calls (sdmm_heap_check and sdmm_heap_stats among them) (allocations, frees by block, handle and
// pointer, resizes, resolves, growth, re-attach after a move). Any status is allowed;
// what is not: a read or write outside the arena, a crash, a hang, a block
// that does not lie inside the arena, statistics larger than the arena.
// Seeds: tests/fuzz/gen_corpus.cpp writes real heaps with bytes flipped.
#include "loose_ops.hpp"

namespace {
using namespace fuzz;
constexpr size_t kMaxOps = 400;
constexpr size_t kMaxArena = 65536;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Reader head(data, size);
    size_t ops_len = head.u16() % 4096;
    size_t got;
    const uint8_t *ops = head.take(ops_len, &got);
    ops_len = got;
    const uint8_t *image = head.take(kMaxArena, &got);

    Arena arena(got);
    std::memcpy(arena.base(), image, got);
    sdmm_heap *heap = nullptr;
    const sdmm_status st = sdmm_heap_attach(arena.base(), arena.len(), &heap);
    if (st != SDMM_OK) {
        FUZZ_CHECK(heap == nullptr, "refused attach (%s) left a heap pointer", sdmm_status_str(st));
        return 0;
    }
    FUZZ_CHECK(heap == reinterpret_cast<sdmm_heap *>(arena.base()), "attach returned another address");
    LooseOps calls(arena, heap);
    Reader in(ops, ops_len);
    // The first byte says whether check + stats also run before and after
    // the calls (op 11 runs them anywhere): a walk that crashes on the
    // garbage must not hide what the other calls do with it.
    const uint8_t walks = in.u8();
    if ((walks & 1) != 0) calls.check_all();
    for (size_t n = 0; n < kMaxOps && !in.empty() && !calls.detached; ++n) calls.step(in, in.u8() % 14);
    if ((walks & 2) != 0 && !calls.detached) calls.check_all();
    return 0;
}
