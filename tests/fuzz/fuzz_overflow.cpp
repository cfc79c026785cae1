// fuzz_overflow.cpp -- libFuzzer target 3: a caller overflows its block.
//
// Input: a 2-byte arena length (SDMM_MIN_ARENA_BYTES .. 64 KiB), then calls. The heap
// starts valid; besides the ordinary calls the input can make the caller
// write 1..64 bytes past the end of one of its blocks' elements, or 1..16
// bytes before them, and then go on using the API (free, alloc, resize,
// resolve, check, stats, re-attach). Statuses may be errors (CORRUPTED, ...)
// but nothing may be read or written outside the arena, nothing may crash,
// and every block returned with SDMM_OK lies inside the arena.
//
// Until the first overflow the heap must pass sdmm_heap_check after every
// call. Overflows start only from blocks handed out before the first one
// (a real block of an intact heap), so every damaging write is one a buggy
// caller could make, clipped to the arena.
#include "loose_ops.hpp"

namespace {
using namespace fuzz;
constexpr size_t kMaxOps = 600;

void overflow(Reader &in, Arena &arena, const LooseOps &calls) {
    std::vector<const Held *> bases;
    for (const auto &h : calls.held)
        if (h.trusted) bases.push_back(&h);
    if (bases.empty()) return;
    const Held &h = *bases[in.below(bases.size())];
    const size_t end = h.off + size_t{h.len} * kTagSize[h.tag];
    size_t at, len;
    if ((in.u8() & 3) != 0) {  // past the end of the elements
        at = end;
        len = 1 + in.below(64);
    } else {  // just before them
        len = 1 + in.below(16);
        at = h.off >= len ? h.off - len : 0;
    }
    if (at >= arena.len()) return;
    if (len > arena.len() - at) len = arena.len() - at;  // the caller's bug stays inside the arena
    size_t got;
    const uint8_t *src = in.take(len, &got);
    std::memcpy(arena.base() + at, src, got);
    if (got < len) std::memset(arena.base() + at + got, 0xFF, len - got);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Reader in(data, size);
    Arena arena(pick_arena_len(in));
    sdmm_heap *heap = nullptr;
    const sdmm_status st = sdmm_heap_init(arena.base(), arena.len(), &heap);
    FUZZ_CHECK(st == SDMM_OK, "init %zu bytes: %s", arena.len(), sdmm_status_str(st));
    LooseOps calls(arena, heap);
    calls.trusted = true;
    for (size_t n = 0; n < kMaxOps && !in.empty() && !calls.detached; ++n) {
        const uint8_t op = in.u8() % 16;
        if (!calls.step(in, op)) {
            overflow(in, arena, calls);
            calls.trusted = false;
        }
        if (calls.trusted && !calls.detached) {
            const sdmm_status check = sdmm_heap_check(calls.heap());
            FUZZ_CHECK(check == SDMM_OK, "intact heap fails heap_check: %s", sdmm_status_str(check));
        }
    }
    if (!calls.detached) calls.check_all();
    return 0;
}
