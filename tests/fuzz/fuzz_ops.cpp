// fuzz_ops.cpp -- libFuzzer target 1: hostile call sequences against a shadow
// model.
//
// The input picks an arena length (SDMM_MIN_ARENA_BYTES .. 64 KiB) and then a sequence of
// calls covering every function of ffi/sdmm.h, with hostile arguments:
// stale handles, forged handles and blocks, interior, header and foreign
// pointers, wrong and unknown tags, zero and absurd counts, NULL heaps and
// NULL results, re-init and attach (in place and after moving the arena).
// The model knows every live block (handle, tag, length, position, bytes)
// and every handle ever issued, and each call must do what the contract
// says: live blocks resolve to the same bytes and length, freed ones are
// refused, new blocks are zero-filled and disjoint from the live ones, the
// caller's bytes survive every other call, handles are never issued twice,
// and sdmm_heap_check is OK after every call.
#include <unordered_set>

#include "fuzz_common.hpp"

namespace {
using namespace fuzz;

struct Live {
    uint64_t handle;
    uint32_t tag;
    uint32_t len;
    size_t off;  // of the first element, from the arena start
    std::vector<uint8_t> bytes;
};
struct Gone {  // freed in the current heap
    uint64_t handle;
    uint32_t tag;
    size_t off;
};

constexpr size_t kMaxOps = 3000;
constexpr size_t kMaxGone = 64;

class Model {
  public:
    explicit Model(size_t len) : arena_(len) { std::memset(foreign_, 0, sizeof foreign_); }

    void run(Reader &in) {
        init_heap(in.u8() & 1);
        for (size_t n = 0; n < kMaxOps && !in.empty(); ++n) {
            step(in);
            const sdmm_status st = sdmm_heap_check(heap_);
            FUZZ_CHECK(st == SDMM_OK, "heap_check after op %zu (%s): %s", n, last_op_, sdmm_status_str(st));
        }
        verify_all("end");
        check_stats();
    }

  private:
    Arena arena_;
    sdmm_heap *heap_ = nullptr;
    std::vector<Live> live_;
    std::vector<Gone> gone_;
    std::vector<uint64_t> earlier_heaps_;  // handles of heaps re-initialised since
    std::unordered_set<uint64_t> issued_;  // every handle ever issued in this arena
    uint64_t capacity_ = 0, oom_ = 0;
    const char *last_op_ = "init";
    alignas(8) uint8_t foreign_[512];  // zeroes: not a heap

    uint8_t *base() const { return arena_.base(); }
    sdmm_block block_of(const Live &b) const {
        sdmm_block out{};
        out.tag = b.tag;
        out.status = SDMM_OK;
        out.len = b.len;
        out.handle = b.handle;
        out.as.raw = reinterpret_cast<uintptr_t>(base() + b.off);
        return out;
    }
    sdmm_block block_of(const Gone &g) const {
        sdmm_block out{};
        out.tag = g.tag;
        out.len = 1;
        out.handle = g.handle;
        out.as.raw = reinterpret_cast<uintptr_t>(base() + g.off);
        return out;
    }
    Live *live_by_handle(uint64_t h) {
        for (auto &b : live_)
            if (b.handle == h) return &b;
        return nullptr;
    }
    const Gone *gone_by_handle(uint64_t h) const {
        for (const auto &g : gone_)
            if (g.handle == h) return &g;
        return nullptr;
    }
    Live *live_by_ptr(const void *p) {
        for (auto &b : live_)
            if (base() + b.off == p) return &b;
        return nullptr;
    }
    void forget(const Live *b) {
        if (gone_.size() == kMaxGone) gone_.erase(gone_.begin());
        gone_.push_back({b->handle, b->tag, b->off});
        live_.erase(live_.begin() + (b - live_.data()));
    }

    // ---- checks ---------------------------------------------------------

    void verify(const Live &b, const char *what) {
        sdmm_block r;
        const sdmm_status st = sdmm_resolve_into(heap_, b.handle, b.tag, &r);
        FUZZ_CHECK(st == SDMM_OK, "%s: live block %#llx does not resolve: %s", what,
                   static_cast<unsigned long long>(b.handle), sdmm_status_str(st));
        FUZZ_CHECK(r.status == SDMM_OK && r.tag == b.tag && r.len == b.len && r.handle == b.handle &&
                       r.as.raw == reinterpret_cast<uintptr_t>(base() + b.off),
                   "%s: live block %#llx resolves to tag %u len %u handle %#llx, expected tag %u len %u",
                   what, static_cast<unsigned long long>(b.handle), r.tag, r.len,
                   static_cast<unsigned long long>(r.handle), b.tag, b.len);
        FUZZ_CHECK(std::memcmp(base() + b.off, b.bytes.data(), b.bytes.size()) == 0,
                   "%s: the caller's bytes of block %#llx (%zu bytes at +%zu) changed", what,
                   static_cast<unsigned long long>(b.handle), b.bytes.size(), b.off);
    }
    void verify_all(const char *what) {
        for (const auto &b : live_) verify(b, what);
    }
    void check_stats() {
        sdmm_stats s;
        sdmm_heap_stats(heap_, &s);
        check_stats_bounded(arena_, s, "stats");
        uint64_t min_allocated = 0;
        for (const auto &b : live_) min_allocated += b.bytes.size() + SDMM_BLOCK_HEADER_BYTES;
        FUZZ_CHECK(s.live_blocks == live_.size(), "stats: %llu live blocks, model has %zu",
                   static_cast<unsigned long long>(s.live_blocks), live_.size());
        FUZZ_CHECK(s.capacity == capacity_, "stats: capacity %llu changed from %llu",
                   static_cast<unsigned long long>(s.capacity), static_cast<unsigned long long>(capacity_));
        FUZZ_CHECK(
            s.allocated >= min_allocated && s.allocated <= s.capacity && s.peak_allocated >= s.allocated,
            "stats: allocated %llu peak %llu, live blocks need at least %llu, capacity %llu",
            static_cast<unsigned long long>(s.allocated), static_cast<unsigned long long>(s.peak_allocated),
            static_cast<unsigned long long>(min_allocated), static_cast<unsigned long long>(s.capacity));
        FUZZ_CHECK(s.oom_count == oom_, "stats: oom_count %llu, model counted %llu",
                   static_cast<unsigned long long>(s.oom_count), static_cast<unsigned long long>(oom_));
        FUZZ_CHECK(s.capacity + s.control_bytes <= arena_.len(),
                   "stats: capacity + control exceed the arena");
    }

    // A block the heap just handed out: inside the arena, aligned, disjoint
    // from every live block, zero-filled if asked, with a never-seen handle.
    void accept_new(const sdmm_block &b, uint32_t tag, uint64_t len, uint64_t align, bool zeroed,
                    const char *what) {
        check_block_in_arena(arena_, b, what);
        FUZZ_CHECK(b.tag == tag && b.len == len && b.reserved == 0 && b.handle != 0,
                   "%s: got tag %u len %u handle %#llx, asked tag %u len %llu", what, b.tag, b.len,
                   static_cast<unsigned long long>(b.handle), tag, static_cast<unsigned long long>(len));
        FUZZ_CHECK(b.as.raw % align == 0, "%s: %#llx not aligned to %llu", what,
                   static_cast<unsigned long long>(b.as.raw), static_cast<unsigned long long>(align));
        FUZZ_CHECK(issued_.insert(b.handle).second,
                   "%s: handle %#llx was issued before (by this heap or an earlier one in the arena)", what,
                   static_cast<unsigned long long>(b.handle));
        Live fresh{b.handle, tag, b.len, arena_.offset_of(reinterpret_cast<void *>(b.as.raw)), {}};
        const size_t n = static_cast<size_t>(block_bytes(b));
        for (const auto &o : live_)
            FUZZ_CHECK(fresh.off + n <= o.off || o.off + o.bytes.size() <= fresh.off,
                       "%s: new block [+%zu, +%zu) overlaps live block [+%zu, +%zu)", what, fresh.off,
                       fresh.off + n, o.off, o.off + o.bytes.size());
        fresh.bytes.assign(base() + fresh.off, base() + fresh.off + n);
        if (zeroed)
            for (size_t i = 0; i < n; ++i)
                FUZZ_CHECK(fresh.bytes[i] == 0, "%s: byte %zu of a zero-filled block is %u", what, i,
                           fresh.bytes[i]);
        live_.push_back(std::move(fresh));
    }

    // Status of an allocation of `bytes` (align > 8: aligned) that may fail.
    void expect_alloc(sdmm_status st, const sdmm_block &out, uint64_t count, uint64_t bytes, uint64_t align,
                      const char *what) {
        if (count == 0) {
            FUZZ_CHECK(st == SDMM_ERR_ZERO_COUNT, "%s: zero count gave %s", what, sdmm_status_str(st));
        } else if (bytes > capacity_) {
            FUZZ_CHECK(st == SDMM_ERR_TOO_LARGE, "%s: %llu bytes in a %llu-byte heap gave %s", what,
                       static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(capacity_),
                       sdmm_status_str(st));
        } else if (st == SDMM_ERR_TOO_LARGE) {
            // Allowed only near the capacity (headers, alignment lead).
            FUZZ_CHECK(bytes + 2 * align + 64 > capacity_, "%s: %llu bytes (align %llu) too large for %llu",
                       what, static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(align),
                       static_cast<unsigned long long>(capacity_));
        } else {
            FUZZ_CHECK(st == SDMM_OK || st == SDMM_ERR_OUT_OF_MEMORY, "%s: %llu bytes gave %s", what,
                       static_cast<unsigned long long>(bytes), sdmm_status_str(st));
        }
        if (st == SDMM_ERR_OUT_OF_MEMORY) oom_ += 1;
        if (st != SDMM_OK) check_failed_block(out, st, what);
    }

    // ---- argument sources -------------------------------------------------

    // A handle: live, freed, from an earlier heap, mutated or made up.
    uint64_t pick_handle(Reader &in) {
        const uint8_t sel = in.u8() % 8;
        if (sel <= 2 && !live_.empty()) return live_[in.below(live_.size())].handle;
        if (sel == 3 && !gone_.empty()) return gone_[in.below(gone_.size())].handle;
        if (sel == 4 && !earlier_heaps_.empty()) return earlier_heaps_[in.below(earlier_heaps_.size())];
        if (sel == 5 && !live_.empty()) {  // one bit flipped
            return live_[in.below(live_.size())].handle ^ (uint64_t{1} << (in.u8() % 64));
        }
        if (sel == 6 && !live_.empty()) {  // another offset with a live block's upper half
            const uint64_t h = live_[in.below(live_.size())].handle;
            const uint64_t off = in.below(arena_.len() + 64);
            return (h & ~uint64_t{0xFFFFFFFF}) | ((in.u8() & 1) != 0 ? off : off & ~uint64_t{7});
        }
        return in.u64();
    }
    // Mostly the tag the handle's block has (if the model knows it).
    uint32_t tag_for(Reader &in, uint64_t h) {
        if ((in.u8() & 3) != 0) {
            if (const Live *b = live_by_handle(h)) return b->tag;
            if (const Gone *g = gone_by_handle(h)) return g->tag;
        }
        return pick_any_tag(in);
    }
    // A pointer: a live or freed block's elements, inside or just before
    // one, anywhere in or just outside the arena, a foreign buffer, NULL.
    const void *pick_pointer(Reader &in) {
        const uint8_t sel = in.u8() % 9;
        if (sel <= 2 && !live_.empty()) return base() + live_[in.below(live_.size())].off;
        if (sel == 3 && !gone_.empty()) return base() + gone_[in.below(gone_.size())].off;
        if (sel == 4 && !live_.empty()) {
            const Live &b = live_[in.below(live_.size())];
            return base() + b.off + 1 + in.below(b.bytes.size() + 16);  // interior or just past
        }
        if (sel == 5 && !live_.empty()) return base() + live_[in.below(live_.size())].off - 8;  // header
        if (sel == 6) return base() + in.below(arena_.len() + 1);  // pointer arithmetic only: never read
        if (sel == 7) return foreign_ + 8 * in.below(sizeof foreign_ / 8);
        return nullptr;
    }

    // A sdmm_block: live, freed, or a live one with one field forged.
    enum class Kind { kLive, kGone, kForged };
    sdmm_block pick_block(Reader &in, Kind *kind) {
        const uint8_t sel = in.u8() % 8;
        if (sel == 0 && !gone_.empty()) {
            *kind = Kind::kGone;
            return block_of(gone_[in.below(gone_.size())]);
        }
        if (live_.empty()) {
            *kind = Kind::kForged;
            sdmm_block b{};
            b.tag = pick_any_tag(in);
            b.handle = in.u64();
            b.as.raw = reinterpret_cast<uintptr_t>(base() + in.below(arena_.len() + 1));
            return b;
        }
        sdmm_block b = block_of(live_[in.below(live_.size())]);
        *kind = Kind::kLive;
        if (sel == 1) {  // the pointer of another place
            *kind = Kind::kForged;
            b.as.raw = reinterpret_cast<uintptr_t>(pick_pointer(in));
        } else if (sel == 2) {  // another tag
            *kind = Kind::kForged;
            b.tag = pick_any_tag(in);
        } else if (sel == 3) {  // a random handle with the right pointer
            *kind = Kind::kForged;
            b.handle = in.u64();
        } else if (sel == 4) {  // fields the core does not trust anyway
            b.len = in.u32();
            b.status = in.u32();
            b.reserved = in.u32();
        }
        if (*kind == Kind::kForged) {
            // A forgery that happens to name a live or freed block exactly is one.
            for (const auto &l : live_)
                if (l.handle == b.handle && l.tag == b.tag && block_of(l).as.raw == b.as.raw)
                    *kind = Kind::kLive;
            for (const auto &g : gone_)
                if (g.handle == b.handle && g.tag == b.tag && block_of(g).as.raw == b.as.raw)
                    *kind = Kind::kGone;
        }
        return b;
    }

    // After a forged call succeeded: it must have acted on exactly one live
    // block, as if the caller had named it. Returns that block's index.
    size_t find_freed_by_forgery(const char *what) {
        size_t found = live_.size(), count = 0;
        for (size_t i = 0; i < live_.size(); ++i) {
            sdmm_block r;
            if (sdmm_resolve_into(heap_, live_[i].handle, live_[i].tag, &r) != SDMM_OK) {
                found = i;
                count += 1;
            }
        }
        FUZZ_CHECK(count == 1, "%s: a forged argument freed %zu live blocks", what, count);
        return found;
    }

    // ---- the operations ---------------------------------------------------

    void init_heap(bool zeroed) {
        if (heap_ != nullptr) {
            for (const auto &b : live_) earlier_heaps_.push_back(b.handle);
            for (const auto &g : gone_) earlier_heaps_.push_back(g.handle);
            if (earlier_heaps_.size() > 256)
                earlier_heaps_.erase(earlier_heaps_.begin(), earlier_heaps_.end() - 256);
        }
        live_.clear();
        gone_.clear();
        sdmm_status st;
        if (zeroed) {
            std::memset(base(), 0, arena_.len());  // the caller's promise
            st = sdmm_heap_init_flags(base(), arena_.len(), SDMM_INIT_ZEROED, &heap_);
        } else {
            st = sdmm_heap_init(base(), arena_.len(), &heap_);
        }
        FUZZ_CHECK(st == SDMM_OK && heap_ == reinterpret_cast<sdmm_heap *>(base()), "init %zu bytes: %s",
                   arena_.len(), sdmm_status_str(st));
        sdmm_stats s;
        sdmm_heap_stats(heap_, &s);
        capacity_ = s.capacity;
        oom_ = 0;
        FUZZ_CHECK(capacity_ > 0 && capacity_ < arena_.len() && s.live_blocks == 0 && s.allocated == 0,
                   "fresh heap: capacity %llu live %llu", static_cast<unsigned long long>(capacity_),
                   static_cast<unsigned long long>(s.live_blocks));
    }

    void op_alloc(Reader &in) {
        const uint8_t how = in.u8() % 4;
        if (how == 3) {  // run-time tag, possibly invalid
            last_op_ = "alloc_tagged";
            const uint32_t tag = pick_any_tag(in);
            const uint32_t n = pick_count(in);
            sdmm_block out;
            const sdmm_status st = sdmm_alloc_tagged_into(heap_, tag, n, &out);
            if (tag == SDMM_TAG_NONE || tag >= SDMM_TAG_COUNT) {
                FUZZ_CHECK(st == SDMM_ERR_TAG_MISMATCH, "alloc_tagged(tag %u): %s", tag, sdmm_status_str(st));
                check_failed_block(out, st, "alloc_tagged");
                return;
            }
            expect_alloc(st, out, n, uint64_t{n} * kTagSize[tag], 8, "alloc_tagged");
            if (st == SDMM_OK) accept_new(out, tag, n, 8, true, "alloc_tagged");
            return;
        }
        last_op_ = "alloc";
        const uint32_t tag = pick_tag(in);
        const uint32_t n = pick_count(in);
        sdmm_block out;
        sdmm_status st;
        if (how == 0) {
            out = kAllocValue[tag](heap_, n);
            st = out.status;
        } else {
            st = kAllocInto[tag](heap_, n, &out);
            FUZZ_CHECK(out.status == st, "alloc_into returned %u but wrote status %u", st, out.status);
        }
        expect_alloc(st, out, n, uint64_t{n} * kTagSize[tag], 8, "alloc");
        if (st == SDMM_OK) accept_new(out, tag, n, 8, true, "alloc");
    }

    void op_alloc_aligned(Reader &in, bool zeroed) {
        last_op_ = zeroed ? "alloc_aligned" : "alloc_aligned_uninit";
        const uint64_t align = pick_align(in);
        const uint64_t bytes = pick_aligned_bytes(in);
        sdmm_block out;
        sdmm_status st;
        if (zeroed && (in.u8() & 1)) {
            out = sdmm_alloc_aligned(heap_, bytes, align);
            st = out.status;
        } else {
            st = zeroed ? sdmm_alloc_aligned_into(heap_, bytes, align, &out)
                        : sdmm_alloc_aligned_uninit_into(heap_, bytes, align, &out);
        }
        if (align == 0 || (align & (align - 1)) != 0) {
            FUZZ_CHECK(st == SDMM_ERR_MISALIGNED, "%s(align %llu): %s", last_op_,
                       static_cast<unsigned long long>(align), sdmm_status_str(st));
            check_failed_block(out, st, last_op_);
            return;
        }
        if (bytes > 0xFFFFFFFFull) {
            FUZZ_CHECK(st == SDMM_ERR_TOO_LARGE, "%s(%llu bytes): %s", last_op_,
                       static_cast<unsigned long long>(bytes), sdmm_status_str(st));
            check_failed_block(out, st, last_op_);
            return;
        }
        if (align > capacity_ && bytes != 0) {
            FUZZ_CHECK(st == SDMM_ERR_TOO_LARGE, "%s(align %llu): %s", last_op_,
                       static_cast<unsigned long long>(align), sdmm_status_str(st));
            check_failed_block(out, st, last_op_);
            return;
        }
        expect_alloc(st, out, bytes, bytes, align, last_op_);
        if (st == SDMM_OK) accept_new(out, SDMM_TAG_U8, bytes, align, zeroed, last_op_);
    }

    void op_free_ref(Reader &in) {
        last_op_ = "free_ref";
        Kind kind;
        const sdmm_block b = pick_block(in, &kind);
        const bool by_value = in.u8() & 1;
        const sdmm_status st = by_value ? sdmm_free(heap_, b) : sdmm_free_ref(heap_, &b);
        if (kind == Kind::kLive) {
            FUZZ_CHECK(st == SDMM_OK, "free of a live block: %s", sdmm_status_str(st));
            forget(live_by_handle(b.handle));
        } else if (kind == Kind::kGone) {
            FUZZ_CHECK(st == SDMM_ERR_DOUBLE_FREE, "free of a freed block: %s", sdmm_status_str(st));
        } else if (st == SDMM_OK) {
            const size_t i = find_freed_by_forgery("free_ref");
            FUZZ_CHECK(block_of(live_[i]).as.raw == b.as.raw && live_[i].tag == b.tag,
                       "free_ref of a forged block freed another block");
            forget(&live_[i]);
        } else {
            FUZZ_CHECK(is_refusal(st), "free of a forged block: %s", sdmm_status_str(st));
        }
    }

    void op_free_handle(Reader &in) {
        last_op_ = "free_handle";
        const uint64_t h = pick_handle(in);
        const uint32_t tag = tag_for(in, h);
        const sdmm_status st = sdmm_free_handle(heap_, h, tag);
        if (Live *b = live_by_handle(h)) {
            FUZZ_CHECK(st == (b->tag == tag ? SDMM_OK : SDMM_ERR_TAG_MISMATCH),
                       "free_handle of a live block (tag %u, asked %u): %s", b->tag, tag,
                       sdmm_status_str(st));
            if (st == SDMM_OK) forget(b);
        } else if (gone_by_handle(h) != nullptr) {
            FUZZ_CHECK(st == SDMM_ERR_DOUBLE_FREE, "free_handle of a freed block: %s", sdmm_status_str(st));
        } else if (st == SDMM_OK) {
            const size_t i = find_freed_by_forgery("free_handle");
            FUZZ_CHECK(live_[i].tag == tag, "free_handle of a forged handle freed a block of another type");
            forget(&live_[i]);
        } else {
            FUZZ_CHECK(is_refusal(st), "free_handle of a forged or earlier heap's handle: %s",
                       sdmm_status_str(st));
        }
    }

    void op_free_ptr(Reader &in) {
        last_op_ = "free_ptr";
        const void *p = pick_pointer(in);
        const uint32_t tag = pick_any_tag(in);
        const sdmm_status st = sdmm_free_ptr(heap_, p, tag);
        if (Live *b = p != nullptr ? live_by_ptr(p) : nullptr) {
            FUZZ_CHECK(st == (b->tag == tag ? SDMM_OK : SDMM_ERR_TAG_MISMATCH),
                       "free_ptr of a live block (tag %u, asked %u): %s", b->tag, tag, sdmm_status_str(st));
            if (st == SDMM_OK) forget(b);
        } else {
            FUZZ_CHECK(
                is_refusal(st) && st != SDMM_ERR_TAG_MISMATCH, "free_ptr(+%lld) of no live block: %s",
                static_cast<long long>(reinterpret_cast<intptr_t>(p) - reinterpret_cast<intptr_t>(base())),
                sdmm_status_str(st));
        }
    }

    void op_from_ptr(Reader &in) {
        last_op_ = "block_from_ptr";
        const void *p = pick_pointer(in);
        const uint32_t tag = pick_any_tag(in);
        sdmm_block out;
        const sdmm_status st = sdmm_block_from_ptr_into(heap_, p, tag, &out);
        if (Live *b = p != nullptr ? live_by_ptr(p) : nullptr) {
            FUZZ_CHECK(st == (b->tag == tag ? SDMM_OK : SDMM_ERR_TAG_MISMATCH),
                       "block_from_ptr of a live block (tag %u, asked %u): %s", b->tag, tag,
                       sdmm_status_str(st));
            if (st == SDMM_OK) {
                const sdmm_block want = block_of(*b);
                FUZZ_CHECK(out.handle == want.handle && out.len == want.len && out.tag == want.tag &&
                               out.as.raw == want.as.raw,
                           "block_from_ptr returned another block");
                return;
            }
        } else {
            FUZZ_CHECK(is_refusal(st) && st != SDMM_ERR_TAG_MISMATCH, "block_from_ptr of no live block: %s",
                       sdmm_status_str(st));
        }
        check_failed_block(out, st, "block_from_ptr");
    }

    void op_resolve(Reader &in) {
        last_op_ = "resolve";
        const uint64_t h = pick_handle(in);
        const uint32_t tag = tag_for(in, h);
        sdmm_block out;
        sdmm_status st;
        if (in.u8() & 1) {
            out = sdmm_resolve(heap_, h, tag);
            st = out.status;
        } else {
            st = sdmm_resolve_into(heap_, h, tag, &out);
        }
        if (Live *b = live_by_handle(h)) {
            FUZZ_CHECK(st == (b->tag == tag ? SDMM_OK : SDMM_ERR_TAG_MISMATCH),
                       "resolve of a live block (tag %u, asked %u): %s", b->tag, tag, sdmm_status_str(st));
            if (st == SDMM_OK) {
                const sdmm_block want = block_of(*b);
                FUZZ_CHECK(out.handle == want.handle && out.len == want.len && out.tag == want.tag &&
                               out.as.raw == want.as.raw,
                           "resolve returned another block");
                verify(*b, "resolve");
                return;
            }
        } else if (gone_by_handle(h) != nullptr) {
            FUZZ_CHECK(st == SDMM_ERR_STALE_HANDLE, "resolve of a freed block's handle: %s",
                       sdmm_status_str(st));
        } else if (st == SDMM_OK) {
            // A forgery may only ever name a live block, exactly.
            const Live *named = live_by_ptr(reinterpret_cast<void *>(out.as.raw));
            FUZZ_CHECK(named != nullptr && named->tag == out.tag && named->len == out.len,
                       "resolve of forged handle %#llx returned a block that is not live",
                       static_cast<unsigned long long>(h));
            return;
        } else {
            FUZZ_CHECK(is_refusal(st), "resolve of a forged or earlier heap's handle: %s",
                       sdmm_status_str(st));
        }
        check_failed_block(out, st, "resolve");
    }

    void op_resize(Reader &in) {
        last_op_ = "resize";
        Kind kind;
        sdmm_block b = pick_block(in, &kind);
        const sdmm_block named = b;
        const uint32_t n = pick_count(in);
        const bool alias = in.u8() & 1;
        const bool by_value = in.u8() & 1;
        sdmm_block out;
        sdmm_status st;
        if (by_value) {
            out = sdmm_resize(heap_, b, n);
            st = out.status;
        } else if (alias) {
            st = sdmm_resize_into(heap_, &b, n, &b);
            out = b;
        } else {
            st = sdmm_resize_into(heap_, &b, n, &out);
        }
        if (kind == Kind::kGone) {
            FUZZ_CHECK(st == SDMM_ERR_STALE_HANDLE, "resize of a freed block: %s", sdmm_status_str(st));
            check_failed_block(out, st, "resize");
            return;
        }
        if (kind == Kind::kForged) {
            // A forged block is refused (a forgery naming a live block exactly
            // was classified live above).
            FUZZ_CHECK(st != SDMM_OK && is_refusal(st), "resize of a forged block: %s", sdmm_status_str(st));
            check_failed_block(out, st, "resize");
            return;
        }
        Live *old = live_by_handle(named.handle);  // `b` may have been overwritten (aliasing)
        FUZZ_CHECK(old != nullptr, "model: live block lost");
        const uint64_t bytes = uint64_t{n} * kTagSize[old->tag];
        expect_alloc(st, out, n, bytes, 8, "resize");
        if (st != SDMM_OK) {
            verify(*old, "failed resize");
            return;
        }
        check_block_in_arena(arena_, out, "resize");
        FUZZ_CHECK(out.tag == old->tag && out.len == n && out.handle != 0,
                   "resize: tag %u len %u, expected %u %u", out.tag, out.len, old->tag, n);
        std::vector<uint8_t> want = old->bytes;
        want.resize(static_cast<size_t>(bytes), 0);  // grown bytes read as zero
        const size_t new_off = arena_.offset_of(reinterpret_cast<void *>(out.as.raw));
        if (out.handle == old->handle) {
            FUZZ_CHECK(new_off == old->off, "resize kept the handle but moved the elements");
            old->len = n;
            old->bytes = std::move(want);
        } else {
            FUZZ_CHECK(issued_.insert(out.handle).second, "resize: handle %#llx was issued before",
                       static_cast<unsigned long long>(out.handle));
            forget(old);
            for (const auto &o : live_)
                FUZZ_CHECK(new_off + bytes <= o.off || o.off + o.bytes.size() <= new_off,
                           "resize: moved block overlaps a live block");
            live_.push_back({out.handle, out.tag, n, new_off, std::move(want)});
        }
        verify(live_by_handle(out.handle) != nullptr ? *live_by_handle(out.handle) : live_.back(), "resize");
    }

    void op_write(Reader &in) {
        last_op_ = "write";
        if (live_.empty()) return;
        Live &b = live_[in.below(live_.size())];
        const size_t at = in.below(b.bytes.size());
        size_t got;
        const uint8_t *src = in.take(1 + in.below(b.bytes.size() - at), &got);
        std::memcpy(base() + b.off + at, src, got);
        std::memcpy(b.bytes.data() + at, src, got);
    }

    void op_attach(Reader &in) {
        const uint8_t how = in.u8() % 6;
        sdmm_heap *h = reinterpret_cast<sdmm_heap *>(foreign_);
        sdmm_status st;
        if (how <= 1) {
            last_op_ = how == 0 ? "attach" : "attach after a move";
            if (how == 1) arena_.move();
            st = sdmm_heap_attach(base(), arena_.len(), &h);
            FUZZ_CHECK(st == SDMM_OK && h == reinterpret_cast<sdmm_heap *>(base()), "%s: %s", last_op_,
                       sdmm_status_str(st));
            heap_ = h;
            return;
        }
        last_op_ = "attach (refused)";
        if (how == 2) {
            st = sdmm_heap_attach(base(), in.below(arena_.len() & ~size_t{7}), &h);  // shorter
        } else if (how == 3) {
            const size_t k = 1 + in.below(7);
            st = sdmm_heap_attach(base() + k, arena_.len() - k, &h);
        } else if (how == 4) {
            st = sdmm_heap_attach(nullptr, arena_.len(), &h);
        } else {
            st = sdmm_heap_attach(foreign_, sizeof foreign_, &h);
        }
        FUZZ_CHECK(st != SDMM_OK && h == nullptr, "attach with wrong arguments: %s", sdmm_status_str(st));
        FUZZ_CHECK(sdmm_heap_attach(base(), arena_.len(), nullptr) == SDMM_ERR_INVALID_HEAP,
                   "attach with NULL out");
    }

    void op_init(Reader &in) {
        const uint8_t how = in.u8() % 6;
        if (how <= 1) {
            last_op_ = "re-init";
            init_heap(how == 1);
            return;
        }
        last_op_ = "init (refused)";
        sdmm_heap *h = reinterpret_cast<sdmm_heap *>(foreign_);
        sdmm_status st, want;
        if (how == 2) {
            const size_t k = 1 + in.below(7);
            st = sdmm_heap_init(base() + k, arena_.len() - k, &h);
            want = SDMM_ERR_MISALIGNED;
        } else if (how == 3) {
            st = sdmm_heap_init_flags(base(), in.below(SDMM_MIN_ARENA_BYTES), in.u32(), &h);
            want = SDMM_ERR_ARENA_TOO_SMALL;
        } else if (how == 4) {
            st = sdmm_heap_init(nullptr, arena_.len(), &h);
            want = SDMM_ERR_INVALID_HEAP;
        } else {
            st = sdmm_heap_init(base(), arena_.len(), nullptr);
            h = nullptr;
            want = SDMM_ERR_INVALID_HEAP;
        }
        FUZZ_CHECK(st == want && h == nullptr, "init with wrong arguments: %s, expected %s",
                   sdmm_status_str(st), sdmm_status_str(want));
        verify_all("refused init");  // and it wrote nothing
    }

    // NULL heaps, NULL results, a foreign heap: refused, no crash, no write.
    void op_nulls(Reader &in) {
        last_op_ = "null and foreign arguments";
        auto *foreign = reinterpret_cast<sdmm_heap *>(foreign_);
        sdmm_heap *bad = (in.u8() & 1) ? nullptr : foreign;
        const uint32_t tag = pick_any_tag(in);
        const uint32_t n = pick_count(in);
        sdmm_block out;
        const sdmm_block some = live_.empty() ? sdmm_block{} : block_of(live_[in.below(live_.size())]);
        const uint64_t handle = pick_handle(in);
        const void *p = pick_pointer(in);
        switch (in.u8() % 14) {
            case 0:
                FUZZ_CHECK(kAllocInto[pick_tag(in)](bad, n, &out) == SDMM_ERR_INVALID_HEAP,
                           "alloc(bad heap)");
                break;
            case 1:
                FUZZ_CHECK(kAllocInto[pick_tag(in)](heap_, n, nullptr) != SDMM_OK, "alloc(out NULL)");
                break;
            case 2:
                FUZZ_CHECK(sdmm_alloc_tagged_into(heap_, tag, n, nullptr) != SDMM_OK,
                           "alloc_tagged(out NULL)");
                break;
            case 3:
                FUZZ_CHECK(sdmm_alloc_tagged_into(bad, tag, n, &out) != SDMM_OK, "alloc_tagged(bad heap)");
                break;
            case 4:
                FUZZ_CHECK(sdmm_free_ref(bad, &some) == SDMM_ERR_INVALID_HEAP, "free_ref(bad heap)");
                FUZZ_CHECK(sdmm_free_ref(heap_, nullptr) == SDMM_ERR_INVALID_BLOCK, "free_ref(NULL)");
                break;
            case 5:
                FUZZ_CHECK(sdmm_free_handle(bad, handle, tag) == SDMM_ERR_INVALID_HEAP,
                           "free_handle(bad heap)");
                FUZZ_CHECK(sdmm_free_ptr(bad, p, tag) == SDMM_ERR_INVALID_HEAP, "free_ptr(bad heap)");
                break;
            case 6:
                FUZZ_CHECK(sdmm_resolve_into(bad, handle, tag, &out) == SDMM_ERR_INVALID_HEAP,
                           "resolve(bad heap)");
                FUZZ_CHECK(sdmm_resolve_into(heap_, handle, tag, nullptr) != SDMM_OK, "resolve(out NULL)");
                break;
            case 7:
                FUZZ_CHECK(sdmm_resize_into(bad, &some, n, &out) != SDMM_OK, "resize(bad heap)");
                FUZZ_CHECK(sdmm_resize_into(heap_, nullptr, n, &out) == SDMM_ERR_INVALID_BLOCK,
                           "resize(NULL)");
                FUZZ_CHECK(sdmm_resize_into(heap_, &some, n, nullptr) != SDMM_OK, "resize(out NULL)");
                break;
            case 8:
                FUZZ_CHECK(sdmm_alloc_aligned_into(bad, n, 64, &out) == SDMM_ERR_INVALID_HEAP,
                           "aligned(bad heap)");
                FUZZ_CHECK(sdmm_alloc_aligned_into(heap_, n, 64, nullptr) != SDMM_OK, "aligned(out NULL)");
                FUZZ_CHECK(sdmm_alloc_aligned_uninit_into(heap_, n, 8, nullptr) != SDMM_OK,
                           "uninit(out NULL)");
                break;
            case 9:
                FUZZ_CHECK(sdmm_block_from_ptr_into(bad, p, tag, &out) == SDMM_ERR_INVALID_HEAP,
                           "from_ptr(bad heap)");
                FUZZ_CHECK(sdmm_block_from_ptr_into(heap_, p, tag, nullptr) != SDMM_OK, "from_ptr(out NULL)");
                break;
            case 10: {
                FUZZ_CHECK(sdmm_heap_check(bad) == SDMM_ERR_INVALID_HEAP, "check(bad heap)");
                sdmm_stats s;
                std::memset(&s, 0xA5, sizeof s);
                sdmm_heap_stats(bad, &s);
                FUZZ_CHECK(s.capacity == 0 && s.live_blocks == 0 && s.allocated == 0,
                           "stats(bad heap) not zero");
                sdmm_heap_stats(heap_, nullptr);
                break;
            }
            case 11: {
                const uint32_t any = in.u32();
                const char *s = sdmm_status_str(any);
                FUZZ_CHECK(s != nullptr && std::strlen(s) > 0, "status_str(%u)", any);
                const char *name = sdmm_tag_name(any);
                FUZZ_CHECK(name != nullptr && std::strlen(name) > 0, "tag_name(%u)", any);
                FUZZ_CHECK(sdmm_tag_size(any) == (any < SDMM_TAG_COUNT ? kTagSize[any] : 0), "tag_size(%u)",
                           any);
                break;
            }
            case 12:
                FUZZ_CHECK(sdmm_free(bad, some) == SDMM_ERR_INVALID_HEAP, "free(bad heap)");
                FUZZ_CHECK(sdmm_resolve(bad, handle, tag).status == SDMM_ERR_INVALID_HEAP,
                           "resolve(bad heap)");
                break;
            default:
                FUZZ_CHECK(sdmm_heap_attach(base(), arena_.len(), nullptr) == SDMM_ERR_INVALID_HEAP,
                           "attach(NULL)");
                break;
        }
    }

    void step(Reader &in) {
        switch (in.u8() % 20) {
            case 0:
            case 1:
            case 2:
            case 3:
                op_alloc(in);
                break;
            case 4:
                op_alloc_aligned(in, true);
                break;
            case 5:
                op_alloc_aligned(in, false);
                break;
            case 6:
            case 7:
                op_free_ref(in);
                break;
            case 8:
                op_free_handle(in);
                break;
            case 9:
                op_free_ptr(in);
                break;
            case 10:
            case 11:
                op_resize(in);
                break;
            case 12:
                op_resolve(in);
                break;
            case 13:
                op_from_ptr(in);
                break;
            case 14:
            case 15:
                op_write(in);
                break;
            case 16:
                last_op_ = "verify + stats";
                verify_all("verify");
                check_stats();
                break;
            case 17:
                op_attach(in);
                break;
            case 18:
                op_init(in);
                break;
            default:
                op_nulls(in);
                break;
        }
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Reader in(data, size);
    Model model(pick_arena_len(in));
    model.run(in);
    return 0;
}
