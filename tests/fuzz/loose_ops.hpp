// loose_ops.hpp -- calls on a heap whose bytes cannot be trusted (attached
// garbage, or a heap a caller has overflowed). No status is predicted: the
// only rules are that nothing is read or written outside the arena (ASan),
// nothing crashes or hangs, every block returned with SDMM_OK lies inside the
// arena, and statistics stay within what the arena can hold.
#pragma once

#include "fuzz_common.hpp"

namespace fuzz {

struct Held {  // a block a call returned; its pointer as an arena offset
    uint64_t handle;
    uint32_t tag;
    uint32_t len;
    size_t off;
    bool trusted;  // handed out while the heap was known to be intact
};

class LooseOps {
  public:
    LooseOps(Arena &arena, sdmm_heap *heap) : arena_(arena), heap_(heap) {}

    std::vector<Held> held;
    bool trusted = false;   // new blocks are marked with it
    bool detached = false;  // a re-attach was refused: stop

    sdmm_heap *heap() const { return heap_; }
    sdmm_block block_of(const Held &h) const {
        sdmm_block b{};
        b.tag = h.tag;
        b.len = h.len;
        b.handle = h.handle;
        b.as.raw = reinterpret_cast<uintptr_t>(arena_.base() + h.off);
        return b;
    }

    void check_all() {
        (void)sdmm_heap_check(heap_);
        sdmm_stats s;
        sdmm_heap_stats(heap_, &s);
        check_stats_bounded(arena_, s, "stats");
        sdmm_heap_counters(heap_, &s);
        check_stats_bounded(arena_, s, "counters");
        // (The counters are all 0 when the geometry does not check out;
        // sdmm_heap_allocated does not look at it.)
        FUZZ_CHECK(s.capacity == 0 || sdmm_heap_allocated(heap_) == s.allocated,
                   "sdmm_heap_allocated disagrees with the counters");
        // The block walk: bounded by the arena, whatever it holds.
        uint64_t cursor = 0, seen = 0;
        sdmm_block_info info;
        while (sdmm_heap_next_block(heap_, &cursor, &info) == 1) {
            FUZZ_CHECK(info.offset + info.bytes <= arena_.len() && ++seen <= arena_.len() / 16,
                       "the walk left the arena or did not end");
        }
    }

    // One call decoded from the input. Returns false when the op byte is
    // not one of the shared ones (the target may have its own).
    bool step(Reader &in, uint8_t op) {
        switch (op) {
            case 0:
            case 1:
            case 2:
                alloc(in);
                return true;
            case 3:
                alloc_aligned(in);
                return true;
            case 4:
            case 5:
                free_block(in);
                return true;
            case 6:
                free_handle(in);
                return true;
            case 7:
                free_ptr(in);
                return true;
            case 8:
                resize(in);
                return true;
            case 9:
                resolve(in);
                return true;
            case 10:
                from_ptr(in);
                return true;
            case 11:
                check_all();
                return true;
            case 12:
                reattach(in);
                return true;
            case 13:
                grow(in);
                return true;
            default:
                return false;
        }
    }

  private:
    Arena &arena_;
    sdmm_heap *heap_;

    void keep(const sdmm_block &b, const char *what) {
        check_block_in_arena(arena_, b, what);
        if (held.size() >= 256) held.erase(held.begin());
        held.push_back(
            {b.handle, b.tag, b.len, arena_.offset_of(reinterpret_cast<void *>(b.as.raw)), trusted});
    }
    void drop(uint64_t handle) {
        for (size_t i = 0; i < held.size(); ++i)
            if (held[i].handle == handle) {
                held.erase(held.begin() + static_cast<ptrdiff_t>(i));
                return;
            }
    }
    // A handle: one we hold, or a made-up one at any granule of the arena.
    uint64_t pick_handle(Reader &in) {
        if ((in.u8() & 3) != 0 && !held.empty()) return held[in.below(held.size())].handle;
        const uint64_t off = in.below(arena_.len() + 16);
        return (in.u64() & ~uint64_t{0xFFFFFFFF}) | ((in.u8() & 1) != 0 ? off : off & ~uint64_t{7});
    }
    const void *pick_pointer(Reader &in) {
        if ((in.u8() & 3) != 0 && !held.empty()) return arena_.base() + held[in.below(held.size())].off;
        return arena_.base() + in.below(arena_.len() + 1);  // compared, never read by us
    }

    void alloc(Reader &in) {
        sdmm_block out;
        const sdmm_status st = (in.u8() & 1) != 0
                                   ? kAllocInto[pick_tag(in)](heap_, pick_count(in), &out)
                                   : sdmm_alloc_tagged_into(heap_, pick_any_tag(in), pick_count(in), &out);
        if (st == SDMM_OK) keep(out, "alloc");
    }
    void alloc_aligned(Reader &in) {
        sdmm_block out;
        const uint64_t align = pick_align(in);
        const uint64_t bytes = pick_aligned_bytes(in);
        const sdmm_status st = (in.u8() & 1) != 0 ? sdmm_alloc_aligned_into(heap_, bytes, align, &out)
                                                  : sdmm_alloc_aligned_uninit_into(heap_, bytes, align, &out);
        if (st == SDMM_OK) keep(out, "alloc_aligned");
    }
    void free_block(Reader &in) {
        if (held.empty()) return;
        const Held h = held[in.below(held.size())];
        const sdmm_block b = block_of(h);
        if (sdmm_free_ref(heap_, &b) == SDMM_OK) drop(h.handle);
    }
    void free_handle(Reader &in) {
        const uint64_t handle = pick_handle(in);
        if (sdmm_free_handle(heap_, handle, pick_any_tag(in)) == SDMM_OK) drop(handle);
    }
    void free_ptr(Reader &in) {
        const void *p = pick_pointer(in);
        if (sdmm_free_ptr(heap_, p, pick_any_tag(in)) == SDMM_OK) {
            for (const auto &h : held)
                if (arena_.base() + h.off == p) {
                    drop(h.handle);
                    break;
                }
        }
    }
    void resize(Reader &in) {
        if (held.empty()) return;
        const Held h = held[in.below(held.size())];
        const sdmm_block b = block_of(h);
        sdmm_block out;
        if (sdmm_resize_into(heap_, &b, pick_count(in), &out) == SDMM_OK) {
            drop(h.handle);
            keep(out, "resize");
        }
    }
    void resolve(Reader &in) {
        sdmm_block out;
        if (sdmm_resolve_into(heap_, pick_handle(in), pick_any_tag(in), &out) == SDMM_OK)
            check_block_in_arena(arena_, out, "resolve");
    }
    void from_ptr(Reader &in) {
        sdmm_block out;
        if (sdmm_block_from_ptr_into(heap_, pick_pointer(in), pick_any_tag(in), &out) == SDMM_OK)
            check_block_in_arena(arena_, out, "block_from_ptr");
    }
    // Attach again, in place or after moving the arena: whatever it says,
    // the held blocks' offsets stay meaningful.
    // Growth to a length the arena really has (the caller's promise); the
    // heap's own record of its reserve is untrusted bytes like the rest.
    void grow(Reader &in) {
        const uint64_t to = in.below(arena_.len() + 1);
        const sdmm_status st = sdmm_heap_grow(heap_, to);
        FUZZ_CHECK(st == SDMM_OK || st == SDMM_ERR_TOO_LARGE || st == SDMM_ERR_CORRUPTED ||
                       st == SDMM_ERR_INVALID_HEAP,
                   "grow: %s", sdmm_status_str(st));
    }

    void reattach(Reader &in) {
        if ((in.u8() & 1) != 0) arena_.move();
        sdmm_heap *h = nullptr;
        const sdmm_status st = sdmm_heap_attach(arena_.base(), arena_.len(), &h);
        FUZZ_CHECK(st != SDMM_OK || h == reinterpret_cast<sdmm_heap *>(arena_.base()), "attach: heap %p",
                   static_cast<void *>(h));
        // A refused heap is not used again: the caller has no heap pointer.
        heap_ = h;
        if (st != SDMM_OK) detached = true;
    }
};

}  // namespace fuzz
