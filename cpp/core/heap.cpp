// heap.cpp -- the whole sdmm allocator: an O(1) segregated-fit arena heap.
//
// Arena layout (offsets from the arena start; every link is such an offset):
//
//   [Control | class heads | block-start map | block | block | ... | sentinel]
//
//  Control      geometry, generation counter, statistics, the 128-bit map of
//               non-empty size classes (kControlBytes).
//  class heads  one u32 offset per size class: the first free block of it.
//  start map    one bit per 8-byte granule, set exactly at the start of every
//               live block. It is what lets free/resize/resolve tell a live
//               block from a foreign pointer, a freed block or the inside of
//               another block without trusting bytes the caller can write.
//  block        an 8-byte header followed by the elements:
//                 word0  size in bytes (multiple of 8) | USED | PREV_USED
//                 word1  used:  tag (4 bits) | tail (4 bits) | generation (24 bits)
//                        free:  next free block of the same class
//               A free block also keeps its previous free block at +8 and a
//               copy of its size in its last 4 bytes (boundary tag), which is
//               how free() finds the block before it when PREV_USED is clear.
//  sentinel     a zero-size USED header at the end, so the last block has a
//               neighbour and coalescing needs no bounds check.
//
// Size classes: 4 per power of two. For a block of g granules, g < 8 maps to
// class g (exact: 16..56 bytes), larger g to 4*(fl-1) + the two bits below
// the leading one, fl = floor(log2 g). Worst-case rounding inside a class is
// 25 % at the bottom of an octave and 12.5 % on average.
//
// Allocation looks at the head of the request's own class (it may already be
// big enough), otherwise takes the head of the first non-empty larger class:
// every block there is big enough, found with one count-trailing-zeros over a
// two-word bitmap. Only when no listed block fits is the "top" used: the free
// block that ends at the sentinel (dlmalloc's top chunk). It is kept out of
// the lists, so carving from it and freeing next to it -- the common case
// for a young heap and for LIFO use -- costs no list operation. Free coalesces immediately with both
// neighbours. Both are O(1): no loop depends on the heap's state. The invariant checker (check()) walks every
// block and every list.
//
// Generations: each allocation takes the next value of a 24-bit counter
// (never 0) into its header and its handle. A handle whose block was freed
// and reused carries an old generation and is refused; one pointing inside a
// merged block finds no bit in the start map and is refused too.
#include "heap.hpp"

#include "bits.hpp"

namespace sdmm::core {
namespace {

using u32 = uint32_t;
using u64 = uint64_t;  // hot-path locals are 64-bit: SBF has no 32-bit ALU ops

// The hot helpers are small and called from few places: inlining them keeps
// alloc and free free of call overhead (and under BPF's 5-argument limit).
#define SDMM_HOT [[gnu::always_inline]] inline

constexpr u32 kMagic = 0x4D4D4453u;  // "SDMM"
constexpr u32 kLayoutVersion = 2;    // 2: the top block
constexpr u64 kGranule = 8;
constexpr u64 kHeader = SDMM_BLOCK_HEADER_BYTES;
constexpr u64 kMinBlock = 16;
constexpr u64 kUsed = 1;
constexpr u64 kPrevUsed = 2;
constexpr u64 kFlagBits = 7;
constexpr u64 kGenerationMask = 0xFFFFFF00u;
constexpr u64 kTagMask = 0xFu;
constexpr u64 kTailShift = 4;
constexpr u32 kFlagZeroedInit = SDMM_INIT_ZEROED;
constexpr u32 kFlagHasLzcnt = 0x100;  // set per attach: a CPU fact, not a heap fact
constexpr u64 kMaxClasses = 128;

struct Control {
    u32 magic;
    u32 version;
    u32 arena_len;    // bytes managed, a multiple of 8
    u32 first_block;  // offset of the first block
    u32 sentinel;     // offset of the end sentinel header
    u32 starts_map;   // offset of the block-start map
    u32 class_count;
    u32 flags;
    u32 seal;             // hash of the geometry: tells a heap from random bytes
    u32 next_generation;  // 1..0xFFFFFF
    u32 clean_from;       // bytes at and above are zero, but for free-block metadata
    u32 top;              // the free block that ends at the sentinel (0: none); never listed
    u64 nonempty[2];      // bit c: class c has a free block
    u64 allocated;
    u64 peak_allocated;
    u64 live_blocks;
    u64 oom_count;
};
constexpr u64 kControlBytes = sizeof(Control);
static_assert(kControlBytes == 96, "Control is part of the persistent layout");

// A free block needs its header (size + next link), a prev link at +8 and a
// footer in its last 4 bytes: 16 bytes is the smallest block.
static_assert(kMinBlock == 2 * kGranule, "smallest block is two granules");

// ---- raw access: everything goes through a masked offset --------------------

inline uint8_t *base_of(sdmm_heap *heap) { return reinterpret_cast<uint8_t *>(heap); }
inline const uint8_t *base_of(const sdmm_heap *heap) { return reinterpret_cast<const uint8_t *>(heap); }
inline Control &control(sdmm_heap *heap) { return *reinterpret_cast<Control *>(heap); }
inline const Control &control(const sdmm_heap *heap) { return *reinterpret_cast<const Control *>(heap); }
inline u32 &word(sdmm_heap *heap, u64 off) {
    return *reinterpret_cast<u32 *>(base_of(heap) + (off & SDMM_OFFSET_MASK));
}
inline u32 word(const sdmm_heap *heap, u64 off) {
    return *reinterpret_cast<const u32 *>(base_of(heap) + (off & SDMM_OFFSET_MASK));
}
inline uint8_t *bytes_at(sdmm_heap *heap, u64 off) { return base_of(heap) + (off & SDMM_OFFSET_MASK); }

inline u64 block_size(const sdmm_heap *heap, u64 off) { return word(heap, off) & ~kFlagBits; }
inline bool is_used(const sdmm_heap *heap, u64 off) { return (word(heap, off) & kUsed) != 0; }
inline u64 round8(u64 n) { return (n + 7) & ~u64{7}; }

// ---- size classes ------------------------------------------------------------

constexpr u64 class_from_log2(u64 granules, u64 fl) {
    return granules < 8 ? granules : 4 * fl - 4 + ((granules >> (fl - 2)) & 3);
}
// BPF and SBF have no count-leading-zeros instruction, and the de Bruijn
// log2 costs ~30 instructions (a quarter of an SBF alloc+free, measured by
// bench/solana/variants.py). There, blocks under 4 KiB -- nearly all of them
// -- take their class from a table computed at compile time (512 bytes of
// read-only data). Targets with the instruction use the assembly path.
constexpr u64 kClassTableGranules = 512;
struct ClassTable {
    uint8_t at[kClassTableGranules];
};
constexpr ClassTable make_class_table() {
    ClassTable table{};
    for (u64 g = 0; g < kClassTableGranules; ++g) {
        u64 fl = 0;
        while ((u64{2} << fl) <= g) ++fl;
        table.at[g] = static_cast<uint8_t>(g < 2 ? g : class_from_log2(g, fl));
    }
    return table;
}
inline constexpr ClassTable kClassTable = make_class_table();

inline u64 class_of(const sdmm_heap *heap, u64 block_bytes) {
    u64 granules = block_bytes >> 3;
    if constexpr (!bits::kHaveAsm) {
        if (granules < kClassTableGranules) {
            SDMM_OPAQUE(granules);  // keep the mask for the verifier
            return kClassTable.at[granules & (kClassTableGranules - 1)];
        }
    }
    const bool lzcnt = (control(heap).flags & kFlagHasLzcnt) != 0;
    return class_from_log2(granules, static_cast<u64>(bits::floor_log2_asm(granules, lzcnt)));
}

// ---- the block-start map -------------------------------------------------------

inline u64 map_word_offset(const sdmm_heap *heap, u64 off) {
    return control(heap).starts_map + ((off >> 9) << 3);  // 64 granules (512 bytes) per word
}
// Map words are 64-bit and 8-aligned: one load per test, one xor per toggle.
inline u64 &map_word(sdmm_heap *heap, u64 at) {
    return *reinterpret_cast<u64 *>(base_of(heap) + (at & SDMM_OFFSET_MASK));
}
inline bool is_block_start(const sdmm_heap *heap, u64 off) {
    const u64 bits = map_word(const_cast<sdmm_heap *>(heap), map_word_offset(heap, off));
    return ((bits >> ((off >> 3) & 63)) & 1) != 0;
}
inline void toggle_block_start(sdmm_heap *heap, u64 off) {
    map_word(heap, map_word_offset(heap, off)) ^= u64{1} << ((off >> 3) & 63);
}

// ---- free lists ------------------------------------------------------------------

inline u64 head_offset(u64 cls) { return kControlBytes + (cls << 2); }

// `nonempty[(cls >> 6) & 1]`: classes are < 128, so the mask changes no value,
// but it lets the BPF verifier bound an index computed from a table lookup.
SDMM_HOT void list_insert(sdmm_heap *heap, u64 off, u64 size) {
    const u64 cls = class_of(heap, size);
    const u64 head = word(heap, head_offset(cls));
    word(heap, off + 4) = static_cast<u32>(head);
    word(heap, off + 8) = 0;
    if (head != 0) word(heap, head + 8) = static_cast<u32>(off);
    word(heap, head_offset(cls)) = static_cast<u32>(off);
    control(heap).nonempty[(cls >> 6) & 1] |= u64{1} << (cls & 63);
}

SDMM_HOT void list_remove(sdmm_heap *heap, u64 off, u64 size) {
    const u64 cls = class_of(heap, size);
    const u64 next = word(heap, off + 4);
    const u64 prev = word(heap, off + 8);
    if (prev != 0) {
        word(heap, prev + 4) = static_cast<u32>(next);
    } else {
        word(heap, head_offset(cls)) = static_cast<u32>(next);
        if (next == 0) control(heap).nonempty[(cls >> 6) & 1] &= ~(u64{1} << (cls & 63));
    }
    if (next != 0) word(heap, next + 8) = static_cast<u32>(prev);
}

// First non-empty class >= cls, or kMaxClasses.
inline u64 first_class_from(const sdmm_heap *heap, u64 cls) {
    const Control &c = control(heap);
    if (cls < 64) {
        const u64 low = c.nonempty[0] & (~u64{0} << cls);
        if (low != 0) return static_cast<u64>(bits::count_trailing_zeros(low));
        cls = 64;
    }
    if (cls < kMaxClasses) {
        const u64 high = c.nonempty[1] & (~u64{0} << (cls - 64));
        if (high != 0) return 64 + static_cast<u64>(bits::count_trailing_zeros(high));
    }
    return kMaxClasses;
}

// Removes and returns a free block of at least `need` bytes, 0 if none.
SDMM_HOT u64 take_free_block(sdmm_heap *heap, u64 need) {
    const u64 cls = class_of(heap, need);
    u64 off = word(heap, head_offset(cls));
    if (off == 0 || block_size(heap, off) < need) {
        const u64 bigger = first_class_from(heap, cls + 1);
        if (bigger >= kMaxClasses) {
            // No listed block fits: the top, if it is big enough.
            Control &c = control(heap);
            off = c.top;
            if (off == 0 || block_size(heap, off) < need) return 0;
            c.top = 0;
            return off;
        }
        off = word(heap, head_offset(bigger));
    }
    list_remove(heap, off, block_size(heap, off));
    return off;
}

// Turns [off, off + size) -- in no list -- into a free block with its
// footer, tells its successor, and lists it; or, if it ends at the
// sentinel, makes it the top.
SDMM_HOT void make_free(sdmm_heap *heap, u64 off, u64 size, u64 prev_used_flag) {
    word(heap, off) = static_cast<u32>(size | prev_used_flag);
    word(heap, off + size - 4) = static_cast<u32>(size);
    word(heap, off + size) &= ~static_cast<u32>(kPrevUsed);
    Control &c = control(heap);
    if (off + size == c.sentinel) {
        c.top = static_cast<u32>(off);
    } else {
        list_insert(heap, off, size);
    }
}

// Takes a free neighbour out of wherever it is kept (its list, or the top).
SDMM_HOT void unlink_free(sdmm_heap *heap, u64 off, u64 size) {
    Control &c = control(heap);
    if (off == c.top) {
        c.top = 0;
    } else {
        list_remove(heap, off, size);
    }
}

inline void raise_clean_from(sdmm_heap *heap, u64 end) {
    Control &c = control(heap);
    if (end > c.clean_from) c.clean_from = static_cast<u32>(end);
}

// Metadata of a free block that lies in never-used memory must be wiped when
// that block is absorbed into another: only the live free blocks' metadata
// is allowed above clean_from.
inline void scrub_absorbed_header(sdmm_heap *heap, u64 off) {
    if (off + kMinBlock > control(heap).clean_from) SDMM_ZERO(bytes_at(heap, off), kMinBlock);
}

// Marks [off, off + size) used, splitting off a free tail when it is at
// least a block. Returns the size the block finally has.
SDMM_HOT u64 carve(sdmm_heap *heap, u64 off, u64 size, u64 need, u64 prev_used_flag) {
    if (size - need >= kMinBlock) {
        make_free(heap, off + need, size - need, kPrevUsed);
        size = need;
    } else {
        word(heap, off + size) |= static_cast<u32>(kPrevUsed);
    }
    word(heap, off) = static_cast<u32>(size | kUsed | prev_used_flag);
    return size;
}

SDMM_HOT u64 next_generation(sdmm_heap *heap) {
    Control &c = control(heap);
    const u64 gen = c.next_generation;
    c.next_generation = gen >= 0xFFFFFF ? 1 : static_cast<u32>(gen + 1);
    return gen;
}

// log2 of the element size per tag, padded to 16 entries (0xFF: no such tag)
// and always indexed with `tag & kTagMask`: the mask changes nothing for a
// valid tag, and lets the BPF verifier bound the load whatever the compiler
// did to the range checks before it.
constexpr uint8_t kSizeLog2[16] = {
    0xFF,
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2) size_log2,
#include "../../ffi/sdmm_types.def"
#undef SDMM_TYPE
};
inline u64 size_log2_of(u64 tag) {
    SDMM_OPAQUE(tag);
    return kSizeLog2[tag & kTagMask];
}
static_assert(SDMM_TAG_COUNT <= 16, "tags live in 4 header bits");

// Fills the header's second word and the caller's block; counts the block.
// (BPF calls take at most 5 arguments: helpers with more are always inlined.)
[[gnu::always_inline]] inline void publish(sdmm_heap *heap, u64 off, u64 size, u64 tag, u64 bytes,
                                           sdmm_block *out) {
    const u64 size_log2 = size_log2_of(tag);
    const u64 tail = size - kHeader - bytes;  // <= 15 by construction
    const u64 w1 = (next_generation(heap) << 8) | (tail << kTailShift) | tag;
    word(heap, off + 4) = static_cast<u32>(w1);
    toggle_block_start(heap, off);
    Control &c = control(heap);
    c.allocated += size;
    c.live_blocks += 1;
    if (c.allocated > c.peak_allocated) c.peak_allocated = c.allocated;
    out->tag = static_cast<u32>(tag);
    out->status = SDMM_OK;
    out->len = static_cast<u32>(bytes >> size_log2);
    out->reserved = 0;
    out->handle = ((w1 & ~(u64{0xF} << kTailShift)) << 32) | off;
    out->as.raw = reinterpret_cast<uint64_t>(bytes_at(heap, off + kHeader));
}

inline sdmm_status fail(sdmm_block *out, sdmm_status status) {
    out->tag = SDMM_TAG_NONE;
    out->status = status;
    out->len = 0;
    out->reserved = 0;
    out->handle = 0;
    out->as.raw = 0;
    return status;
}

inline bool heap_ok(const sdmm_heap *heap) {
    return heap != nullptr && (reinterpret_cast<uintptr_t>(heap) & 7) == 0 && control(heap).magic == kMagic;
}

u32 seal_of(const Control &c) {
    u64 h = 0x9E3779B97F4A7C15ull;
    const u32 fields[] = {c.magic,    c.version,    c.arena_len,   c.first_block,
                          c.sentinel, c.starts_map, c.class_count, c.flags & kFlagZeroedInit};
    for (u32 f : fields) h = (h ^ f) * 0x100000001B3ull;
    return static_cast<u32>(h ^ (h >> 32));
}

// Zero-fills `bytes` (a multiple of 8) of a new block's elements, skipping
// memory known to be still zero. Two words may hold metadata of the free
// block this one was carved from even above clean_from: its free-list link
// (first word of the elements) and its footer (last word of the block), so
// they are always cleared when they are part of the elements.
SDMM_HOT void zero_elements(sdmm_heap *heap, u64 payload, u64 bytes, u64 block_end) {
    const u64 clean = control(heap).clean_from;
    const u64 want_end = payload + bytes;
    u64 end = want_end < clean ? want_end : clean;
    if (end < payload + kGranule) end = payload + kGranule;
    SDMM_ZERO(bytes_at(heap, payload), end - payload);
    if (want_end == block_end && end < block_end) SDMM_ZERO(bytes_at(heap, block_end - kGranule), kGranule);
}

// Finds the live block a caller hands back. `gone` is the status for a block
// that was live once (freed, or freed and reused).
SDMM_HOT sdmm_status locate(const sdmm_heap *heap, u64 handle, u64 *off_out, sdmm_status gone) {
    const Control &c = control(heap);
    const u64 off = handle & 0xFFFFFFFFu;
    // One unsigned compare covers both ends of [first_block, sentinel).
    if (off - c.first_block >= u64{c.sentinel} - c.first_block || (off & 7) != 0)
        return SDMM_ERR_INVALID_BLOCK;
    if (!is_block_start(heap, off)) return gone;
    const u64 w0 = word(heap, off);
    const u64 w1 = word(heap, off + 4);
    const u64 size = w0 & ~kFlagBits;
    if ((w0 & kUsed) == 0 || size < kMinBlock || off + size > c.sentinel) return SDMM_ERR_CORRUPTED;
    if ((w1 & kGenerationMask) != ((handle >> 32) & kGenerationMask)) return gone;
    if ((w1 & kTagMask) != ((handle >> 32) & kTagMask)) return SDMM_ERR_INVALID_BLOCK;
    *off_out = off;
    return SDMM_OK;
}

// locate() for a block the caller holds: its pointer must match its handle.
SDMM_HOT sdmm_status locate_block(const sdmm_heap *heap, const sdmm_block *block, u64 *off_out,
                                  sdmm_status gone) {
    if (block == nullptr || block->tag == SDMM_TAG_NONE || block->tag >= SDMM_TAG_COUNT)
        return SDMM_ERR_INVALID_BLOCK;
    const u64 off = block->handle & 0xFFFFFFFFu;
    if (block->as.raw != reinterpret_cast<uint64_t>(base_of(heap) + off + kHeader))
        return SDMM_ERR_INVALID_BLOCK;
    if (((block->handle >> 32) & kTagMask) != block->tag) return SDMM_ERR_TAG_MISMATCH;
    return locate(heap, block->handle, off_out, gone);
}

// Releases a located block: coalesces with free neighbours, lists the result.
SDMM_HOT void release(sdmm_heap *heap, u64 off) {
    Control &c = control(heap);
    const u64 w0 = word(heap, off);
    u64 size = w0 & ~kFlagBits;
    c.allocated -= size;
    c.live_blocks -= 1;
    toggle_block_start(heap, off);

    const u64 next = off + size;
    const u64 next_w0 = word(heap, next);
    if ((next_w0 & kUsed) == 0) {
        const u64 next_size = next_w0 & ~kFlagBits;
        unlink_free(heap, next, next_size);
        scrub_absorbed_header(heap, next);
        size += next_size;
    }
    u64 prev_used = w0 & kPrevUsed;
    if (prev_used == 0) {
        const u64 prev_size = word(heap, off - 4);
        off -= prev_size;
        unlink_free(heap, off, prev_size);
        size += prev_size;
        prev_used = word(heap, off) & kPrevUsed;  // always set: no two free neighbours
    }
    make_free(heap, off, size, prev_used);
}

}  // namespace

// ---- public core -------------------------------------------------------------------

uint64_t size_class(uint64_t granules, bool has_lzcnt) {
    return class_from_log2(granules, static_cast<u64>(bits::floor_log2_asm(granules, has_lzcnt)));
}
uint64_t size_class_table(uint64_t granules) {
    return granules < kClassTableGranules ? kClassTable.at[granules] : size_class_portable(granules);
}
uint64_t size_class_portable(uint64_t granules) {
    return class_from_log2(granules, static_cast<u64>(bits::floor_log2_portable(granules)));
}
uint32_t tag_size_log2(uint32_t tag) {
    return tag != SDMM_TAG_NONE && tag < SDMM_TAG_COUNT ? static_cast<uint32_t>(size_log2_of(tag)) : 0xFF;
}

sdmm_status init(void *arena, size_t len, uint32_t flags, sdmm_heap **out) {
    if (out == nullptr) return SDMM_ERR_INVALID_HEAP;
    *out = nullptr;
    if (arena == nullptr) return SDMM_ERR_INVALID_HEAP;
    if ((reinterpret_cast<uintptr_t>(arena) & 7) != 0) return SDMM_ERR_MISALIGNED;
    if (len < SDMM_MIN_ARENA_BYTES) return SDMM_ERR_ARENA_TOO_SMALL;
    const u64 arena_len = (len > SDMM_MAX_ARENA_BYTES ? u64{SDMM_MAX_ARENA_BYTES} : len) & ~u64{7};
    auto *heap = static_cast<sdmm_heap *>(arena);

    // Only classes a block of this arena can reach get a list head.
    const bool lzcnt = bits::cpu_has_lzcnt();
    const u64 class_count = size_class((arena_len - kControlBytes) >> 3, lzcnt) + 1;
    const u64 starts_map = kControlBytes + round8(class_count * 4);
    const u64 map_bytes = ((arena_len >> 9) + 1) << 3;  // one bit per granule
    const u64 first_block = starts_map + map_bytes;
    const u64 sentinel = arena_len - kHeader;
    if (first_block + kMinBlock > sentinel) return SDMM_ERR_ARENA_TOO_SMALL;

    SDMM_ZERO(arena, first_block);  // control, heads, start map
    Control &c = control(heap);
    c.version = kLayoutVersion;
    c.arena_len = static_cast<u32>(arena_len);
    c.first_block = static_cast<u32>(first_block);
    c.sentinel = static_cast<u32>(sentinel);
    c.starts_map = static_cast<u32>(starts_map);
    c.class_count = static_cast<u32>(class_count);
    c.flags = (flags & kFlagZeroedInit) | (lzcnt ? kFlagHasLzcnt : 0);
    c.next_generation = 1;
    c.clean_from = static_cast<u32>((flags & kFlagZeroedInit) != 0 ? first_block : sentinel);
    c.magic = kMagic;
    c.seal = seal_of(c);

    word(heap, sentinel) = static_cast<u32>(kUsed);  // size 0, previous block free
    word(heap, sentinel + 4) = 0;
    make_free(heap, first_block, sentinel - first_block, kPrevUsed);
    *out = heap;
    return SDMM_OK;
}

sdmm_status attach(void *arena, size_t len, sdmm_heap **out) {
    if (out == nullptr) return SDMM_ERR_INVALID_HEAP;
    *out = nullptr;
    if (arena == nullptr) return SDMM_ERR_INVALID_HEAP;
    if ((reinterpret_cast<uintptr_t>(arena) & 7) != 0) return SDMM_ERR_MISALIGNED;
    if (len < SDMM_MIN_ARENA_BYTES) return SDMM_ERR_ARENA_TOO_SMALL;
    auto *heap = static_cast<sdmm_heap *>(arena);
    Control &c = control(heap);
    if (c.magic != kMagic || c.version != kLayoutVersion || c.seal != seal_of(c))
        return SDMM_ERR_INVALID_HEAP;
    // The geometry must fit the memory we were given now.
    if (c.arena_len > len) return SDMM_ERR_ARENA_TOO_SMALL;
    if (c.sentinel != c.arena_len - kHeader || c.first_block + kMinBlock > c.sentinel ||
        c.class_count > kMaxClasses || (c.top != 0 && (c.top < c.first_block || c.top >= c.sentinel)))
        return SDMM_ERR_CORRUPTED;
    c.flags = (c.flags & ~kFlagHasLzcnt) | (bits::cpu_has_lzcnt() ? kFlagHasLzcnt : 0);
    *out = heap;
    return SDMM_OK;
}

sdmm_status alloc(sdmm_heap *heap, uint32_t tag, uint64_t count, Fill fill, sdmm_block *out) {
    if (out == nullptr) return SDMM_ERR_INVALID_BLOCK;
    if (!heap_ok(heap)) return fail(out, SDMM_ERR_INVALID_HEAP);
    if (count == 0) return fail(out, SDMM_ERR_ZERO_COUNT);
    const u64 capacity = control(heap).sentinel - control(heap).first_block;
    // count < 2^32 and size_log2 <= 6: the product cannot overflow 64 bits.
    if (count > 0xFFFFFFFFu) return fail(out, SDMM_ERR_TOO_LARGE);
    const u64 bytes = count << size_log2_of(tag);
    if (bytes > capacity - kHeader) return fail(out, SDMM_ERR_TOO_LARGE);
    u64 need = round8(bytes + kHeader);
    if (need < kMinBlock) need = kMinBlock;

    const u64 off = take_free_block(heap, need);
    if (off == 0) {
        control(heap).oom_count += 1;
        return fail(out, SDMM_ERR_OUT_OF_MEMORY);
    }
    const u64 size = carve(heap, off, block_size(heap, off), need, kPrevUsed);
    if (fill == Fill::kZero) zero_elements(heap, off + kHeader, round8(bytes), off + size);
    raise_clean_from(heap, off + size);
    publish(heap, off, size, tag, bytes, out);
    return SDMM_OK;
}

sdmm_status alloc_aligned(sdmm_heap *heap, uint64_t bytes, uint64_t align, Fill fill, sdmm_block *out) {
    if (out == nullptr) return SDMM_ERR_INVALID_BLOCK;
    if (!heap_ok(heap)) return fail(out, SDMM_ERR_INVALID_HEAP);
    if (align == 0 || (align & (align - 1)) != 0) return fail(out, SDMM_ERR_MISALIGNED);
    if (bytes > 0xFFFFFFFFu) return fail(out, SDMM_ERR_TOO_LARGE);
    if (align <= kGranule) return alloc(heap, SDMM_TAG_U8, bytes, fill, out);
    if (bytes == 0) return fail(out, SDMM_ERR_ZERO_COUNT);
    const u64 capacity = control(heap).sentinel - control(heap).first_block;
    if (align > capacity || bytes > capacity) return fail(out, SDMM_ERR_TOO_LARGE);

    const u64 need = round8(bytes + kHeader);
    // Big enough to hold an aligned start with either no lead or a lead that
    // is itself a block (>= kMinBlock), whatever the free block's address.
    const u64 search = need + align + kMinBlock;
    if (search > capacity) return fail(out, SDMM_ERR_TOO_LARGE);
    u64 off = take_free_block(heap, search);
    if (off == 0) {
        control(heap).oom_count += 1;
        return fail(out, SDMM_ERR_OUT_OF_MEMORY);
    }
    u64 size = block_size(heap, off);
    const uintptr_t payload = reinterpret_cast<uintptr_t>(bytes_at(heap, off + kHeader));
    u64 lead = ((payload + align - 1) & ~(align - 1)) - payload;
    if (lead != 0 && lead < kMinBlock) lead += align;
    u64 prev_used = kPrevUsed;
    if (lead != 0) {
        // The lead becomes a free block of its own; the aligned block's
        // predecessor is then free.
        word(heap, off) = static_cast<u32>(lead | kPrevUsed);
        word(heap, off + lead - 4) = static_cast<u32>(lead);
        list_insert(heap, off, lead);
        off += lead;
        size -= lead;
        prev_used = 0;
    }
    size = carve(heap, off, size, need, prev_used);
    if (fill == Fill::kZero) zero_elements(heap, off + kHeader, round8(bytes), off + size);
    raise_clean_from(heap, off + size);
    publish(heap, off, size, SDMM_TAG_U8, bytes, out);
    return SDMM_OK;
}

sdmm_status free(sdmm_heap *heap, const sdmm_block *block) {
    if (!heap_ok(heap)) return SDMM_ERR_INVALID_HEAP;
    u64 off = 0;
    const sdmm_status status = locate_block(heap, block, &off, SDMM_ERR_DOUBLE_FREE);
    if (status != SDMM_OK) return status;
    release(heap, off);
    return SDMM_OK;
}

sdmm_status free_handle(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag) {
    if (!heap_ok(heap)) return SDMM_ERR_INVALID_HEAP;
    u64 off = 0;
    const sdmm_status status = locate(heap, handle, &off, SDMM_ERR_DOUBLE_FREE);
    if (status != SDMM_OK) return status;
    if ((word(heap, off + 4) & kTagMask) != expected_tag) return SDMM_ERR_TAG_MISMATCH;
    release(heap, off);
    return SDMM_OK;
}

sdmm_status free_pointer(sdmm_heap *heap, const void *elements, uint32_t expected_tag) {
    if (!heap_ok(heap)) return SDMM_ERR_INVALID_HEAP;
    const uintptr_t p = reinterpret_cast<uintptr_t>(elements);
    const uintptr_t b = reinterpret_cast<uintptr_t>(base_of(heap));
    const Control &c = control(heap);
    if (p < b + c.first_block + kHeader || p >= b + c.sentinel) return SDMM_ERR_INVALID_BLOCK;
    const u64 off = p - b - kHeader;
    if ((off & 7) != 0 || !is_block_start(heap, off)) return SDMM_ERR_INVALID_BLOCK;
    const u64 w0 = word(heap, off);
    const u64 size = w0 & ~kFlagBits;
    if ((w0 & kUsed) == 0 || size < kMinBlock || off + size > c.sentinel) return SDMM_ERR_CORRUPTED;
    if ((word(heap, off + 4) & kTagMask) != expected_tag) return SDMM_ERR_TAG_MISMATCH;
    release(heap, off);
    return SDMM_OK;
}

sdmm_status resolve(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag, sdmm_block *out) {
    if (out == nullptr) return SDMM_ERR_INVALID_BLOCK;
    if (!heap_ok(heap)) return fail(out, SDMM_ERR_INVALID_HEAP);
    u64 off = 0;
    const sdmm_status status = locate(heap, handle, &off, SDMM_ERR_STALE_HANDLE);
    if (status != SDMM_OK) return fail(out, status);
    const u64 w1 = word(heap, off + 4);
    const u64 tag = w1 & kTagMask;
    if (tag != expected_tag) return fail(out, SDMM_ERR_TAG_MISMATCH);
    const u64 size_log2 = size_log2_of(tag);
    const u64 bytes = block_size(heap, off) - kHeader - ((w1 >> kTailShift) & 0xF);
    out->tag = static_cast<u32>(tag);
    out->status = SDMM_OK;
    out->len = static_cast<u32>(bytes >> size_log2);
    out->reserved = 0;
    out->handle = handle;
    out->as.raw = reinterpret_cast<uint64_t>(bytes_at(heap, off + kHeader));
    return SDMM_OK;
}

sdmm_status resize(sdmm_heap *heap, const sdmm_block *block, uint64_t new_len, sdmm_block *out) {
    if (out == nullptr) return SDMM_ERR_INVALID_BLOCK;
    if (!heap_ok(heap)) return fail(out, SDMM_ERR_INVALID_HEAP);
    u64 off = 0;
    const sdmm_status status = locate_block(heap, block, &off, SDMM_ERR_STALE_HANDLE);
    if (status != SDMM_OK) return fail(out, status);
    if (new_len == 0) return fail(out, SDMM_ERR_ZERO_COUNT);
    const u64 tag = block->tag;
    const u64 size_log2 = size_log2_of(tag);
    const u64 capacity = control(heap).sentinel - control(heap).first_block;
    const u64 new_bytes = new_len << size_log2;
    if (new_bytes > capacity - kHeader) return fail(out, SDMM_ERR_TOO_LARGE);
    u64 need = round8(new_bytes + kHeader);
    if (need < kMinBlock) need = kMinBlock;

    const u64 w0 = word(heap, off);
    const u64 w1 = word(heap, off + 4);
    u64 size = w0 & ~kFlagBits;
    const u64 old_bytes = size - kHeader - ((w1 >> kTailShift) & 0xF);
    const u64 next = off + size;
    const u64 next_w0 = word(heap, next);
    const u64 next_free = (next_w0 & kUsed) == 0 ? next_w0 & ~kFlagBits : 0;

    if (need <= size + next_free) {
        // In place: absorb the free neighbour if needed, give back the excess.
        Control &c = control(heap);
        c.allocated -= size;
        if (next_free != 0) {
            unlink_free(heap, next, next_free);
            scrub_absorbed_header(heap, next);  // it may end up inside the split-off tail
            size += next_free;
        }
        // The split-off tail (if any) borders a used block: the free
        // neighbour, if there was one, has just been absorbed.
        size = carve(heap, off, size, need, w0 & kPrevUsed);
        c.allocated += size;
        if (c.allocated > c.peak_allocated) c.peak_allocated = c.allocated;
        if (new_bytes > old_bytes)
            SDMM_ZERO(bytes_at(heap, off + kHeader + old_bytes), new_bytes - old_bytes);
        word(heap, off + 4) =
            static_cast<u32>((w1 & ~(u64{0xF} << kTailShift)) | ((size - kHeader - new_bytes) << kTailShift));
        raise_clean_from(heap, off + size);
        out->tag = static_cast<u32>(tag);
        out->status = SDMM_OK;
        out->len = static_cast<u32>(new_len);
        out->reserved = 0;
        out->handle = block->handle;
        out->as.raw = reinterpret_cast<uint64_t>(bytes_at(heap, off + kHeader));
        return SDMM_OK;
    }

    // Move: allocate first so a failure leaves the old block untouched.
    sdmm_block moved;
    const sdmm_status st = alloc(heap, static_cast<uint32_t>(tag), new_len, Fill::kUninit, &moved);
    if (st != SDMM_OK) return fail(out, st);
    const u64 new_off = moved.handle & 0xFFFFFFFFu;
    SDMM_COPY(bytes_at(heap, new_off + kHeader), bytes_at(heap, off + kHeader), old_bytes);
    SDMM_ZERO(bytes_at(heap, new_off + kHeader + old_bytes), new_bytes - old_bytes);
    release(heap, off);
    *out = moved;
    return SDMM_OK;
}

sdmm_status from_pointer(sdmm_heap *heap, const void *elements, uint32_t expected_tag, sdmm_block *out) {
    if (out == nullptr) return SDMM_ERR_INVALID_BLOCK;
    if (!heap_ok(heap)) return fail(out, SDMM_ERR_INVALID_HEAP);
    const uintptr_t p = reinterpret_cast<uintptr_t>(elements);
    const uintptr_t b = reinterpret_cast<uintptr_t>(base_of(heap));
    const Control &c = control(heap);
    if (p < b + c.first_block + kHeader || p >= b + c.sentinel) return fail(out, SDMM_ERR_INVALID_BLOCK);
    const u64 off = p - b - kHeader;
    if ((off & 7) != 0 || !is_block_start(heap, off)) return fail(out, SDMM_ERR_INVALID_BLOCK);
    const u64 w1 = word(heap, off + 4);
    const u64 handle = ((w1 & ~(u64{0xF} << kTailShift)) << 32) | off;
    return resolve(heap, handle, expected_tag, out);
}

// ---- invariants and statistics (walks; not O(1)) ---------------------------------

sdmm_status check(const sdmm_heap *heap) {
    if (!heap_ok(heap)) return SDMM_ERR_INVALID_HEAP;
    const Control &c = control(heap);
    if (c.seal != seal_of(c) || c.sentinel != c.arena_len - kHeader || c.class_count > kMaxClasses ||
        c.first_block + kMinBlock > c.sentinel)
        return SDMM_ERR_CORRUPTED;
    if (word(heap, c.sentinel) != kUsed && word(heap, c.sentinel) != (kUsed | kPrevUsed))
        return SDMM_ERR_CORRUPTED;

    // 1. Walk the blocks in address order.
    u64 off = c.first_block;
    u64 prev_was_used = 1;  // the first block has no predecessor: PREV_USED
    u64 used_blocks = 0, used_bytes = 0, free_blocks = 0;
    while (off < c.sentinel) {
        const u64 w0 = word(heap, off);
        const u64 size = w0 & ~kFlagBits;
        if (size < kMinBlock || off + size > c.sentinel) return SDMM_ERR_CORRUPTED;
        if (((w0 & kPrevUsed) != 0) != (prev_was_used != 0)) return SDMM_ERR_CORRUPTED;
        const bool used = (w0 & kUsed) != 0;
        if (used != is_block_start(heap, off)) return SDMM_ERR_CORRUPTED;
        if (used) {
            const u64 w1 = word(heap, off + 4);
            const u64 tag = w1 & kTagMask;
            const u64 tail = (w1 >> kTailShift) & 0xF;
            if (tag == SDMM_TAG_NONE || tag >= SDMM_TAG_COUNT || (w1 & kGenerationMask) == 0 ||
                tail > size - kHeader - 1)
                return SDMM_ERR_CORRUPTED;
            used_blocks += 1;
            used_bytes += size;
        } else {
            if (!prev_was_used) return SDMM_ERR_CORRUPTED;  // two free neighbours
            // The free block that ends at the sentinel is the top, and only it.
            if ((off + size == c.sentinel) != (off == c.top)) return SDMM_ERR_CORRUPTED;
            if (word(heap, off + size - 4) != size) return SDMM_ERR_CORRUPTED;
            free_blocks += 1;
        }
        prev_was_used = used ? 1 : 0;
        off += size;
    }
    if (off != c.sentinel || ((word(heap, off) & kPrevUsed) != 0) != (prev_was_used != 0))
        return SDMM_ERR_CORRUPTED;
    if (used_blocks != c.live_blocks || used_bytes != c.allocated) return SDMM_ERR_CORRUPTED;

    // 2. The start map has no bit but at live block starts.
    u64 map_bits = 0;
    for (u64 at = c.starts_map; at < c.first_block; at += 4) {
        const u64 w = word(heap, at);
        map_bits += static_cast<u64>(__builtin_popcountll(w));
    }
    if (map_bits != used_blocks) return SDMM_ERR_CORRUPTED;

    // 3. Every free list: right class, consistent links, bounded length.
    u64 listed = 0;
    for (u64 cls = 0; cls < kMaxClasses; ++cls) {
        const bool marked = ((c.nonempty[(cls >> 6) & 1] >> (cls & 63)) & 1) != 0;
        const u64 head = cls < c.class_count ? word(heap, head_offset(cls)) : 0;
        if (marked != (head != 0)) return SDMM_ERR_CORRUPTED;
        u64 prev = 0;
        for (u64 at = head; at != 0; at = word(heap, at + 4)) {
            if (at < c.first_block || at >= c.sentinel || (at & 7) != 0 || is_used(heap, at) ||
                word(heap, at + 8) != prev || class_of(heap, block_size(heap, at)) != cls || at == c.top ||
                ++listed > free_blocks)
                return SDMM_ERR_CORRUPTED;
            prev = at;
        }
    }
    if (listed + (c.top != 0 ? 1 : 0) != free_blocks) return SDMM_ERR_CORRUPTED;
    return SDMM_OK;
}

void stats(const sdmm_heap *heap, sdmm_stats *out) {
    if (out == nullptr) return;
    *out = sdmm_stats{};
    if (!heap_ok(heap)) return;
    const Control &c = control(heap);
    out->capacity = c.sentinel - c.first_block;
    out->allocated = c.allocated;
    out->peak_allocated = c.peak_allocated;
    out->live_blocks = c.live_blocks;
    out->oom_count = c.oom_count;
    out->control_bytes = c.first_block + kHeader;  // the sentinel is overhead too
    if (c.top != 0) {
        out->free_blocks = 1;
        out->largest_free = block_size(heap, c.top) - kHeader;
    }
    const u64 block_limit = out->capacity / kMinBlock;
    for (u64 cls = 0; cls < c.class_count && cls < kMaxClasses; ++cls) {
        for (u64 at = word(heap, head_offset(cls)); at != 0 && out->free_blocks <= block_limit;
             at = word(heap, at + 4)) {
            out->free_blocks += 1;
            const u64 size = block_size(heap, at);
            if (size - kHeader > out->largest_free) out->largest_free = size - kHeader;
        }
    }
}

}  // namespace sdmm::core
