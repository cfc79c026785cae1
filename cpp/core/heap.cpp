// heap.cpp -- the whole sdmm allocator: exact-size caches in front of an O(1)
// segregated-fit arena heap, with every arena byte treated as untrusted.
//
// Arena layout (offsets from the arena start; every link is such an offset):
//
//   [Control | class heads | block-start map | block | block | ... | sentinel]
//
//  Control      geometry, generation counter, handle salt, statistics, the
//               128-bit map of non-empty size classes and the heads of the
//               exact-size caches (kControlBytes).
//  class heads  one u32 offset per size class: the first free block of it.
//  start map    one bit per 8-byte granule, set exactly at the start of every
//               live block. It is what lets free/resize/resolve tell a live
//               block from a foreign pointer, a freed or cached block or the
//               inside of another block without trusting bytes the caller
//               can write.
//  block        an 8-byte header followed by the elements:
//                 word0  size in bytes (multiple of 8) | USED | PREV_USED | CLAIMED
//                 word1  live:    tag (4 bits) | tail (4 bits) | generation (24 bits)
//                        cached:  0 (no generation: no handle matches it); the
//                                 next block of the same cache is at +8
//                        free:    next free block of the same class
//               CLAIMED marks a live block that has an owner outside the heap
//               (a Rust `Block`): sdmm_claim_into refuses a second one.
//               A free block also keeps its previous free block at +8 and a
//               copy of its size in its last 4 bytes (boundary tag), which is
//               how free() finds the block before it when PREV_USED is clear.
//  sentinel     a zero-size USED header at the end, so the last block has a
//               neighbour.
//
// Two tiers:
//
//  1. Exact-size caches (the fast path). A freed block of 16..kCacheMaxBytes
//     bytes is not coalesced: it keeps USED and its start-map bit (to its
//     neighbours and to the map it is still a block), loses its generation
//     (so no handle or pointer reaches it) and is pushed on a LIFO list of blocks of
//     exactly its size. An allocation of
//     that size pops it. At most kCacheLimit blocks are cached; past that a
//     free goes to tier 2. When tier 2 cannot serve an allocation, every
//     cached block is released into it (at most kCacheLimit releases) and
//     the allocation is tried again, so caching never turns a request that
//     would fit into an out-of-memory. Once the heap is half full, an
//     allocation the caches cannot serve releases every cached block first
//     (and frees are no longer cached).
//
//  2. The coalescing heap. Size classes: 4 per power of two. For a block of
//     g granules, g < 8 maps to class g (exact: 16..56 bytes), larger g to
//     4*(fl-1) + the two bits below the leading one, fl = floor(log2 g).
//     Rounding inside a class is at most 25 %. Allocation looks at the head
//     of the request's own class (it may already be big enough), otherwise
//     takes the head of the first non-empty larger class (one
//     count-trailing-zeros over a two-word bitmap), otherwise carves the
//     "top": the free block that ends at the sentinel, kept out of the lists.
//     Free coalesces immediately with both neighbours.
//
// Bounds: no loop of alloc, free, resize or resolve depends on the heap's
// state except the cache drain above, bounded by kCacheLimit. Zero-fill and
// the copy of a moved block are linear in the caller's request.
//
// Untrusted bytes. Everything in the arena -- control fields, links, sizes,
// footers, the start map -- may have been written by someone else (a caller
// overflowing its block, a second process mapping the heap, bytes handed to
// attach). Every offset the heap follows is loaded once into a local,
// checked to lie inside the block area and to agree with what it points at
// (a footer matches the header it leads to, a list neighbour links back, a
// cached block has exactly its cache's size), and only then used, from the
// local copy. Anything else is SDMM_ERR_CORRUPTED, returned before the first
// write of the call. The geometry itself is recomputed from the arena length
// by attach, which writes nothing.
//
// Generations and salt. Each allocation takes the next value of a 24-bit
// counter (never 0) into its header and its handle; a handle whose block was
// freed and reused carries an old generation and is refused. Every handle of
// a heap also carries a 7-bit salt in bits the offset and generation leave
// free (bits 0-2 and 36-39). A new heap draws its salt and its first
// generation from the arena address and, on x86-64, the time stamp counter;
// a heap initialised over an earlier heap continues that heap's generation
// counter and uses the next salt, so no handle of the earlier heap resolves
// in the new one.
#include "heap.hpp"

#include "bits.hpp"

namespace sdmm::core {
namespace {

using u32 = uint32_t;
using u64 = uint64_t;  // hot-path locals are 64-bit: SBF has no 32-bit ALU ops

// The hot helpers are small and called from few places: inlining them keeps
// alloc and free free of call overhead (and under BPF's 5-argument limit).
#define SDMM_HOT [[gnu::always_inline]] inline
// Slow paths stay out of line, so the fast paths are short -- except on BPF,
// where the loader here gives static subprograms no BTF and the verifier
// refuses them ("missing btf func_info"); the BPF layer splits its entry
// points into global functions instead.
#if defined(SDMM_KERNEL_BPF)
#define SDMM_COLD [[gnu::always_inline]] inline
#else
#define SDMM_COLD [[gnu::noinline]]
#endif

constexpr u32 kMagic = 0x4D4D4453u;  // "SDMM"
constexpr u32 kLayoutVersion = 4;    // 3: exact-size caches, handle salt; 4: cache accounts, claims
constexpr u64 kGranule = 8;
constexpr u64 kHeader = SDMM_BLOCK_HEADER_BYTES;
constexpr u64 kMinBlock = 16;
constexpr u64 kUsed = 1;
constexpr u64 kPrevUsed = 2;
constexpr u64 kClaimed = 4;  // a live block with an owner (sdmm_claim_into)
constexpr u64 kFlagBits = 7;
constexpr u64 kGenerationMask = 0xFFFFFF00u;
constexpr u64 kTagMask = 0xFu;
constexpr u64 kTailShift = 4;
constexpr u64 kTailMask = u64{0xF} << kTailShift;
constexpr u64 kMaxClasses = 128;
constexpr u32 kFlagZeroedInit = SDMM_INIT_ZEROED;

// Handles: offset in bits 0-31, header word1 (without the tail) in 32-63,
// and the heap's salt in the bits both leave free.
constexpr u64 kSaltMask = u64{7} | (u64{0xF} << 36);
constexpr u64 salt_bits(u64 salt7) { return (salt7 & 7) | (((salt7 >> 3) & 0xF) << 36); }

// Exact-size caches: one per block size 16, 24, ... kCacheMaxBytes. A
// consumer may shrink the number of cached blocks (0 turns caching off).
constexpr u64 kCacheSizes = 64;
constexpr u64 kCacheMaxBytes = (kCacheSizes + 1) * kGranule;  // 520: 512 bytes of elements
// (256 on hosts; the SBF platform sets 64 and the kernel build 0, see
// their ports: the limit bounds the drain, i.e. the worst single allocation.)
#ifndef SDMM_CACHE_LIMIT
#define SDMM_CACHE_LIMIT 256
#endif
constexpr u64 kCacheLimit = SDMM_CACHE_LIMIT;

// Build level. 1 (the default): every link, footer and neighbour read from
// the arena is checked before it is followed. 0: only the checks of the
// caller's blocks and handles stay (map bit, generation, tag, sizes); for
// targets that confine every access to the arena by other means -- the
// kernel BPF build masks each offset into its pool and its typed accessors
// bound every element access.
#ifndef SDMM_HARDENED
#define SDMM_HARDENED 1
#endif
constexpr bool kHardened = SDMM_HARDENED != 0;
// A structural check: compiled in at the hardened level only.
#define SDMM_CHECK(cond) (!kHardened || (cond))

struct Control {
    u32 magic;
    u32 version;
    u32 arena_len;        // bytes managed, a multiple of 8
    u32 first_block;      // offset of the first block
    u32 sentinel;         // offset of the end sentinel header
    u32 starts_map;       // offset of the block-start map
    u32 class_count;      // size classes with a list head
    u32 flags;            // the init flags (informational)
    u32 seal;             // hash of the geometry, checked by the full walk (check); not a secret
    u32 next_generation;  // the next generation, as header word1 holds it (<< 8); never 0
    u32 top;              // the free block that ends at the sentinel (0: none); never listed
    u32 reserve_len;      // the length the geometry was made for (growth limit); 0: arena_len
    u64 salt;             // salt_bits() of this heap's 7-bit salt
    u64 cache_account;    // the exact-size caches: blocks << 32 | bytes
    u64 nonempty[2];      // bit c: class c has a free block
    // Bytes and blocks taken from the coalescing heap: live and cached
    // blocks. (A cache hit or a free into a cache changes only the cache
    // account; stats subtract it.)
    u64 allocated;
    u64 peak_allocated;
    u64 live_blocks;
    u64 oom_count;
    u32 cache_head[kCacheSizes];  // cache_head[g - 2]: cached blocks of g granules
};
constexpr u64 kControlBytes = sizeof(Control);
static_assert(kControlBytes == 368, "Control is part of the persistent layout");
static_assert(offsetof(Control, cache_account) == 56, "tests/test_contract.cpp damages it by offset");
constexpr u64 kCacheBlock = u64{1} << 32;  // one block in cache_account

// A free block needs its header (size + next link), a prev link at +8 and a
// footer in its last 4 bytes: 16 bytes is the smallest block.
static_assert(kMinBlock == 2 * kGranule, "smallest block is two granules");

// The block for `bytes` of elements: header and elements rounded up to a
// granule, at least kMinBlock.
inline u64 block_bytes_for(u64 bytes) {
    const u64 rounded = (bytes + kHeader + 7) & ~u64{7};
#if defined(SDMM_KERNEL_BPF)
    // Without a branch, which would make the verifier walk everything after
    // it twice: once with the constant 16, once with the range above it.
    // `rounded` is at least one granule, so only 8 is short, by one granule,
    // and its difference with kMinBlock is the only one that wraps.
    u64 short_by = rounded - kMinBlock;
    SDMM_OPAQUE(short_by);
    return rounded + ((short_by >> 63) << 3);
#else
    return rounded < kMinBlock ? kMinBlock : rounded;
#endif
}

// ---- raw access: everything goes through a masked offset --------------------
//
// Loads are volatile: the value checked is the value used, even if another
// writer changes the arena between two statements (the compiler may not
// load a field twice).

inline uint8_t *base_of(sdmm_heap *heap) { return reinterpret_cast<uint8_t *>(heap); }
inline const uint8_t *base_of(const sdmm_heap *heap) { return reinterpret_cast<const uint8_t *>(heap); }
inline Control &control(sdmm_heap *heap) { return *reinterpret_cast<Control *>(heap); }

// (Not on BPF and SBF: the kernel build masks every offset into its pool,
// and an SBF program has its account data to itself while it runs.)
#if defined(__bpf__) || defined(__BPF__)
#define SDMM_LOAD_QUALIFIER
#else
#define SDMM_LOAD_QUALIFIER volatile
#endif
inline u64 load32(const sdmm_heap *heap, u64 off) {
    return *reinterpret_cast<const SDMM_LOAD_QUALIFIER u32 *>(base_of(heap) + (off & SDMM_OFFSET_MASK));
}
inline void store32(sdmm_heap *heap, u64 off, u64 value) {
    *reinterpret_cast<u32 *>(base_of(heap) + (off & SDMM_OFFSET_MASK)) = static_cast<u32>(value);
}
inline u64 load64(const sdmm_heap *heap, u64 off) {
    return *reinterpret_cast<const SDMM_LOAD_QUALIFIER u64 *>(base_of(heap) + (off & SDMM_OFFSET_MASK));
}
inline void store64(sdmm_heap *heap, u64 off, u64 value) {
    *reinterpret_cast<u64 *>(base_of(heap) + (off & SDMM_OFFSET_MASK)) = value;
}
inline uint8_t *bytes_at(sdmm_heap *heap, u64 off) { return base_of(heap) + (off & SDMM_OFFSET_MASK); }
inline u64 round8(u64 n) { return (n + 7) & ~u64{7}; }

#define SDMM_FIELD(name) static_cast<u64>(offsetof(Control, name))
// Control fields, each read once per call into a local.
inline u64 get(const sdmm_heap *heap, u64 field) { return load32(heap, field); }
inline u64 get64(const sdmm_heap *heap, u64 field) { return load64(heap, field); }

// The part of the geometry every call needs, loaded once and checked once.
struct Bounds {
    u64 len;       // arena length
    u64 first;     // first block
    u64 sentinel;  // end sentinel: len - kHeader
    u64 map;       // start map: every map word of an offset below the sentinel lies before `first`
    u64 classes;   // class heads: all lie before `map`
};

// ---- tests the BPF verifier does not learn from --------------------------------
//
// The kernel verifier narrows both operands of a compare-and-branch to what
// each arm implies. Every offset and size here ends up in an address (through
// the pool mask), so those ranges are tracked precisely, and two arms that
// leave different ranges behind cannot be pruned against each other: all the
// code after them is walked once per arm. On that target these tests branch
// on a fresh value derived from the operands (hidden from the compiler, which
// would fold it back), so neither operand is narrowed and both arms leave the
// same state. Elsewhere they are the plain comparisons.
#if defined(SDMM_KERNEL_BPF)
// a == b
inline bool same(u64 a, u64 b) {
    u64 d = a ^ b;
    SDMM_OPAQUE(d);
    return d == 0;
}
// a < b, for a, b < 2^63 (sizes and offsets)
inline bool below(u64 a, u64 b) {
    u64 d = a - b;
    SDMM_OPAQUE(d);
    return (d >> 63) != 0;
}
// v >= kMinBlock
inline bool min_block(u64 v) {
    u64 high = v >> 4;
    SDMM_OPAQUE(high);
    return high != 0;
}
#else
inline bool same(u64 a, u64 b) { return a == b; }
inline bool below(u64 a, u64 b) { return a < b; }
inline bool min_block(u64 v) { return v >= kMinBlock; }
#endif
static_assert(kMinBlock == 16, "min_block tests v >> 4");

// ---- size classes ------------------------------------------------------------

constexpr u64 class_from_log2(u64 granules, u64 fl) {
    return granules < 8 ? granules : 4 * fl - 4 + ((granules >> (fl - 2)) & 3);
}
// BPF and SBF have no count-leading-zeros instruction, and the de Bruijn
// log2 costs ~30 instructions. There, blocks under 4 KiB -- nearly all of
// them -- take their class from a table computed at compile time (512 bytes
// of read-only data). Targets with the instruction use the assembly path.
//
// A port whose arenas are never larger than the table's reach may widen it
// (SDMM_CLASS_TABLE_GRANULES, a power of two) and declare so
// (SDMM_CLASS_TABLE_COVERS_ARENA): every class is then one table load, with
// no log2 fallback. The kernel BPF build does, for its fixed-size pool: a
// branch fewer on every class, which the verifier would otherwise walk both
// ways every time.
#ifndef SDMM_CLASS_TABLE_GRANULES
#define SDMM_CLASS_TABLE_GRANULES 512
#endif
#ifndef SDMM_CLASS_TABLE_COVERS_ARENA
#define SDMM_CLASS_TABLE_COVERS_ARENA 0
#endif
constexpr u64 kClassTableGranules = SDMM_CLASS_TABLE_GRANULES;
static_assert(kClassTableGranules >= 512 && (kClassTableGranules & (kClassTableGranules - 1)) == 0,
              "the class table covers at least 4 KiB and is indexed by a mask");
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

// The x86-64 core uses `lzcnt` when compiled for a CPU that has it and `bsr`
// otherwise (both are one instruction; bsr exists on every x86-64). The
// choice is made at compile time so that no heap state records a CPU fact.
//
// With the structural checks off nothing compares a class with kMaxClasses,
// so the class is masked into the heads' range (a no-op for every block of
// less than 2^32 bytes). On BPF this also gives both arms below one value
// range, and the opaque copy keeps the table test off `block_bytes`: the
// verifier then does not carry two versions of the caller's size (and of
// everything after it) for the two arms.
inline u64 class_of(u64 block_bytes) {
    u64 granules = block_bytes >> 3;
    SDMM_OPAQUE(granules);
    u64 cls = 0;
    if constexpr (!bits::kHaveAsm && SDMM_CLASS_TABLE_COVERS_ARENA) {
        // Every block of the arena is below the table's reach.
        cls = kClassTable.at[granules & (kClassTableGranules - 1)];
    } else if constexpr (!bits::kHaveAsm) {
        if (granules < kClassTableGranules) {
            SDMM_OPAQUE(granules);  // keep the mask for the verifier
            cls = kClassTable.at[granules & (kClassTableGranules - 1)];
        } else {
            cls = class_from_log2(granules, static_cast<u64>(bits::floor_log2_asm(granules, false)));
        }
    } else {
        cls = class_from_log2(granules, static_cast<u64>(bits::floor_log2_asm(granules, false)));
    }
    return kHardened ? cls : cls & (kMaxClasses - 1);
}

// ---- the block-start map -------------------------------------------------------

// Map words are 64-bit and 8-aligned: one load per test, one xor per toggle.
// 64 granules (512 bytes) per word.
inline u64 map_word_at(u64 starts_map, u64 off) { return starts_map + ((off >> 9) << 3); }
inline u64 map_bit(u64 off) { return u64{1} << ((off >> 3) & 63); }

// ---- geometry ------------------------------------------------------------------

struct Geometry {
    u64 arena_len, class_count, starts_map, first_block, sentinel;
};
// The only layout a heap of `arena_len` bytes can have. init writes it, and
// attach and check refuse anything else.
//
// A heap made to grow (sdmm_heap_init_reserve) has the geometry of its
// reserve -- class heads and a start map for every byte it may reach -- and
// its sentinel at its current length.
inline bool geometry_for(u64 arena_len, u64 reserve_len, Geometry *g) {
    if (reserve_len < arena_len || reserve_len > SDMM_MAX_ARENA_BYTES || (reserve_len & 7) != 0 ||
        arena_len < SDMM_MIN_ARENA_BYTES || (arena_len & 7) != 0)
        return false;
    g->arena_len = arena_len;
    // Only classes a block of this arena can reach get a list head.
    g->class_count = class_of(reserve_len - kControlBytes) + 1;
    g->starts_map = kControlBytes + round8(g->class_count * 4);
    const u64 map_bytes = ((reserve_len + 511) >> 9) << 3;  // one bit per granule
    g->first_block = g->starts_map + map_bytes;
    g->sentinel = arena_len - kHeader;
    return g->first_block + kMinBlock <= g->sentinel;
}
// The reserve a control block records (0: none, the heap cannot grow).
inline u64 reserve_of(u64 recorded, u64 arena_len) { return recorded == 0 ? arena_len : recorded; }

// The geometry a heap of `arena_len` bytes and its recorded reserve must
// have, recomputed into *g; false unless the control block records exactly
// it (attach, check and grow refuse anything else).
inline bool recorded_geometry(const sdmm_heap *heap, u64 arena_len, Geometry *g) {
    const u64 reserve = reserve_of(get(heap, SDMM_FIELD(reserve_len)), arena_len);
    return geometry_for(arena_len, reserve, g) && get(heap, SDMM_FIELD(first_block)) == g->first_block &&
           get(heap, SDMM_FIELD(sentinel)) == g->sentinel &&
           get(heap, SDMM_FIELD(starts_map)) == g->starts_map &&
           get(heap, SDMM_FIELD(class_count)) == g->class_count;
}

// The geometry fields of a heap every call relies on, each loaded once.
// The fast paths (a cache hit, a free into a cache, a resolve) check only
// what they use against these copies -- the block inside [first, len), its
// map word before `first` -- which keeps every access inside the arena;
// everything else checks them against each other first (bounds_ok).
SDMM_HOT void read_bounds(const sdmm_heap *heap, Bounds *b) {
    const u64 len = get(heap, SDMM_FIELD(arena_len));
    b->len = len;
    b->first = get(heap, SDMM_FIELD(first_block));
    b->sentinel = len - kHeader;
    b->map = get(heap, SDMM_FIELD(starts_map));
    b->classes = 0;
}
// Offsets derived from checked bounds cannot leave the arena.
SDMM_HOT bool bounds_ok(const Bounds &b) {
    return b.first >= kControlBytes && b.first + kMinBlock + kHeader <= b.len &&
           b.map + (((b.len + 511) >> 9) << 3) <= b.first && b.len <= SDMM_MAX_ARENA_BYTES;
}
SDMM_HOT bool load_bounds(const sdmm_heap *heap, Bounds *b) {
    read_bounds(heap, b);
    return bounds_ok(*b);
}
// The light check of the fast paths: a block of `size` bytes at `off` lies
// inside the block area and its map word before the blocks.
SDMM_HOT bool block_fits(const Bounds &b, u64 off, u64 size) {
    return off >= b.first && off + size + kHeader <= b.len && map_word_at(b.map, off) + 8 <= b.first;
}

// The class heads, for the coalescing heap (not needed by the caches).
inline bool load_classes(const sdmm_heap *heap, Bounds *b) {
    const u64 classes = get(heap, SDMM_FIELD(class_count));
    b->classes = classes;
    return classes <= kMaxClasses && kControlBytes + classes * 4 <= b->map;
}

// off is a granule inside the block area (where a block may start).
SDMM_HOT bool in_blocks(const Bounds &b, u64 off) {
    return off - b.first < b.sentinel - b.first && (off & 7) == 0;
}

// ---- free blocks, checked -----------------------------------------------------------

// A free block as read from the arena: the header agrees with the footer and
// fits before the sentinel. Sets *size.
SDMM_HOT bool free_block_ok(const sdmm_heap *heap, const Bounds &b, u64 off, u64 *size) {
    if (!SDMM_CHECK(in_blocks(b, off))) return false;
    const u64 w0 = load32(heap, off);
    const u64 s = w0 & ~kFlagBits;
    if (!SDMM_CHECK((w0 & kUsed) == 0 && s >= kMinBlock && s <= b.sentinel - off)) return false;
    if (!SDMM_CHECK(load32(heap, off + s - 4) == s)) return false;
    *size = s;
    return true;
}

inline u64 head_offset(u64 cls) { return kControlBytes + (cls << 2); }

// Where a free block is kept, read and checked before anything is written.
struct Unlink {
    u64 off;   // the block
    u64 cls;   // its class (unused for the top)
    u64 next;  // next in its list (0: none)
    u64 prev;  // previous in its list (0: it is the head)
    bool top;  // it is the top, in no list
};

// Checks that `off` (a free block of `size`) is where the heap says it is:
// the top, or a member of its class list whose neighbours link back to it.
SDMM_HOT bool unlink_check(const sdmm_heap *heap, const Bounds &b, u64 off, u64 size, Unlink *u) {
    u->off = off;
    u->top = false;
    if (same(off + size, b.sentinel)) {
        u->top = true;
        return SDMM_CHECK(get(heap, SDMM_FIELD(top)) == off);
    }
    const u64 cls = class_of(size);
    u->cls = cls;
    if (!SDMM_CHECK(cls < kMaxClasses && cls < b.classes)) return false;
    const u64 next = load32(heap, off + 4);
    const u64 prev = load32(heap, off + 8);
    u->next = next;
    u->prev = prev;
    if (!SDMM_CHECK(next == 0 || (in_blocks(b, next) && load32(heap, next + 8) == off))) return false;
    if (prev != 0) return SDMM_CHECK(in_blocks(b, prev) && load32(heap, prev + 4) == off);
    return SDMM_CHECK(load32(heap, head_offset(cls)) == off);
}

// Applies a checked unlink. Writes only offsets unlink_check validated.
SDMM_HOT void unlink_apply(sdmm_heap *heap, const Unlink &u) {
    if (u.top) {
        store32(heap, SDMM_FIELD(top), 0);
        return;
    }
    if (u.prev != 0) {
        store32(heap, u.prev + 4, u.next);
    } else {
        store32(heap, head_offset(u.cls), u.next);
        if (u.next == 0) {
            const u64 at = SDMM_FIELD(nonempty) + (((u.cls >> 6) & 1) << 3);
            store64(heap, at, load64(heap, at) & ~(u64{1} << (u.cls & 63)));
        }
    }
    if (u.next != 0) store32(heap, u.next + 8, u.prev);
}

// unlink_check, and with the structural checks off (nothing to check before
// writing) the unlink itself at once: then no Unlink record stays live
// across the caller's later branches, where the BPF verifier would have to
// walk every combination of them. Callers apply `u` only if kHardened.
SDMM_HOT bool unlink_take(sdmm_heap *heap, const Bounds &b, u64 off, u64 size, Unlink *u) {
    if (!unlink_check(heap, b, off, size, u)) return false;
    if constexpr (!kHardened) unlink_apply(heap, *u);
    return true;
}

// Two checked unlinks of distinct blocks, the second adjusted for the first
// (they may be neighbours in one list).
SDMM_HOT void unlink_both(sdmm_heap *heap, const Unlink &a, Unlink b) {
    unlink_apply(heap, a);
    if (!a.top && !b.top && a.cls == b.cls) {
        if (b.prev == a.off) b.prev = a.prev;
        if (b.next == a.off) b.next = a.next;
    }
    unlink_apply(heap, b);
}

SDMM_HOT void list_insert(sdmm_heap *heap, u64 off, u64 size, u64 head_value) {
    const u64 cls = class_of(size);
    // Unchecked build: every unlink before this insert has been applied
    // already (see release), so the head in the arena is the one to use.
    if constexpr (!kHardened) head_value = load32(heap, head_offset(cls));
    store32(heap, off + 4, head_value);
    store32(heap, off + 8, 0);
    if (head_value != 0) store32(heap, head_value + 8, off);
    store32(heap, head_offset(cls), off);
    const u64 at = SDMM_FIELD(nonempty) + (((cls >> 6) & 1) << 3);
    store64(heap, at, load64(heap, at) | (u64{1} << (cls & 63)));
}

// Writes a free block's header and footer, clears PREV_USED of its
// successor (`next_w0` is the successor's header as read), and files it: the
// top if it ends at the sentinel, else at the front of `head_value`'s list.
SDMM_HOT void make_free(sdmm_heap *heap, const Bounds &b, u64 off, u64 size, u64 prev_used, u64 next_w0,
                        u64 head_value) {
    store32(heap, off, size | prev_used);
    store32(heap, off + size - 4, size);
    store32(heap, off + size, next_w0 & ~kPrevUsed);
    if (same(off + size, b.sentinel)) {
        store32(heap, SDMM_FIELD(top), off);
    } else {
        list_insert(heap, off, size, head_value);
    }
}

// First non-empty class >= cls, or kMaxClasses.
inline u64 first_class_from(const sdmm_heap *heap, u64 cls) {
    if (cls < 64) {
        const u64 low = get64(heap, SDMM_FIELD(nonempty)) & (~u64{0} << cls);
        if (low != 0) return static_cast<u64>(bits::count_trailing_zeros(low));
        cls = 64;
    }
    if (cls < kMaxClasses) {
        const u64 high = get64(heap, SDMM_FIELD(nonempty) + 8) & (~u64{0} << (cls - 64));
        if (high != 0) return 64 + static_cast<u64>(bits::count_trailing_zeros(high));
    }
    return kMaxClasses;
}

// ---- statistics ---------------------------------------------------------------------

SDMM_HOT void count_alloc(sdmm_heap *heap, u64 size) {
    Control &c = control(heap);
    const u64 allocated = c.allocated + size;
    c.allocated = allocated;
    c.live_blocks += 1;
    if (allocated > c.peak_allocated) c.peak_allocated = allocated;
}
SDMM_HOT void count_free(sdmm_heap *heap, u64 size) {
    Control &c = control(heap);
    c.allocated -= size;
    c.live_blocks -= 1;
}

// ---- allocation from the coalescing heap ----------------------------------------------

// Result of the search for a free block of at least `need` bytes.
enum class Take : u32 { kFound, kNone, kCorrupted };

// Finds and checks a free block of at least `need` bytes; on success
// *off/*size describe it and *u is its checked unlink, not yet applied.
SDMM_HOT Take take_free_block(sdmm_heap *heap, const Bounds &b, u64 need, u64 *off_out, u64 *size_out,
                              Unlink *u) {
    const u64 cls = class_of(need);
    u64 off = cls < b.classes ? load32(heap, head_offset(cls)) : 0;
    u64 size = 0;
    if (off != 0) {
        if (!free_block_ok(heap, b, off, &size)) return Take::kCorrupted;
    }
    if (off == 0 || below(size, need)) {
        const u64 bigger = first_class_from(heap, cls + 1);
        if (bigger >= kMaxClasses) {
            // No listed block fits: the top, if it is big enough.
            off = get(heap, SDMM_FIELD(top));
            if (off == 0) return Take::kNone;
            if (!free_block_ok(heap, b, off, &size) || !SDMM_CHECK(off + size == b.sentinel))
                return Take::kCorrupted;
            if (below(size, need)) return Take::kNone;
            u->off = off;
            u->top = true;
            if constexpr (!kHardened) unlink_apply(heap, *u);
            *off_out = off;
            *size_out = size;
            return Take::kFound;
        }
        if (!SDMM_CHECK(bigger < b.classes)) return Take::kCorrupted;
        off = load32(heap, head_offset(bigger));
        if (!free_block_ok(heap, b, off, &size) || !SDMM_CHECK(size >= need)) return Take::kCorrupted;
    }
    if (!unlink_take(heap, b, off, size, u) || !SDMM_CHECK(!u->top)) return Take::kCorrupted;
    *off_out = off;
    *size_out = size;
    return Take::kFound;
}

// The head a new free block of `size` will be pushed in front of once the
// checked unlink `u` is applied (0: empty list). False if it is damaged.
SDMM_HOT bool head_after(const sdmm_heap *heap, const Bounds &b, u64 size, const Unlink &u, u64 *head) {
    const u64 cls = class_of(size);
    if (!SDMM_CHECK(cls < kMaxClasses && cls < b.classes)) return false;
    u64 h = load32(heap, head_offset(cls));
    if (!u.top && u.cls == cls && h == u.off) h = u.next;
    *head = h;
    return SDMM_CHECK(h == 0 || in_blocks(b, h));
}

// The next generation, in place in header word1 (bits 8-31); never 0.
SDMM_HOT u64 next_generation(sdmm_heap *heap) {
    u64 gen = get(heap, SDMM_FIELD(next_generation)) & kGenerationMask;
    if (gen == 0) gen = u64{1} << 8;  // after 2^24 - 1 allocations it comes round
    store32(heap, SDMM_FIELD(next_generation), gen + (u64{1} << 8));
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

// Makes the block at `off` (`size` bytes, header word0 and start-map bit
// already set) live: header word1 and the caller's block.
// (BPF calls take at most 5 arguments: helpers with more are always inlined.)
[[gnu::always_inline]] inline void publish(sdmm_heap *heap, u64 off, u64 size, u64 tag, u64 bytes,
                                           sdmm_block *out) {
    const u64 size_log2 = size_log2_of(tag);
    const u64 tail = size - kHeader - bytes;  // <= 15 by construction
    const u64 w1 = next_generation(heap) | (tail << kTailShift) | tag;
    store32(heap, off + 4, w1);
    out->tag = static_cast<u32>(tag);
    out->status = SDMM_OK;
    out->len = static_cast<u32>(bytes >> size_log2);
    out->reserved = 0;
    out->handle = ((w1 & ~kTailMask) << 32) | off | get64(heap, SDMM_FIELD(salt));
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
    return heap != nullptr && (reinterpret_cast<uintptr_t>(heap) & 7) == 0 && load32(heap, 0) == kMagic;
}

u32 seal_of(u64 arena_len, u64 first_block, u64 starts_map, u64 class_count) {
    u64 h = 0x9E3779B97F4A7C15ull;
    const u64 fields[] = {kMagic,     kLayoutVersion, arena_len, first_block, arena_len - kHeader,
                          starts_map, class_count};
    for (u64 f : fields) h = (h ^ f) * 0x100000001B3ull;
    return static_cast<u32>(h ^ (h >> 32));
}

// ---- freeing ----------------------------------------------------------------------------

// A live block, located and checked: where it is, its header.
struct Live {
    u64 off, w0, w1, size;
};

// release() at the unchecked level (SDMM_HARDENED=0), where nothing is
// checked before the writes: the same reads and writes, but which neighbours
// merge is carried as 0/1 masks rather than as branches, so that the only
// branches are the two unlinks. (The BPF verifier walks a branch on a flag
// that a later branch tests again once per combination of flags -- four
// times for the code after the merges; with masks the arms meet with the same
// state and the code after them is walked once.)
[[maybe_unused]] SDMM_HOT sdmm_status release_unchecked(sdmm_heap *heap, const Bounds &b, const Live &blk) {
    const u64 off = blk.off;
    const u64 size = blk.size;
    const u64 next = off + size;  // <= sentinel: checked by locate
    const u64 next_w0 = load32(heap, next);
    // 1 when the next block is free and not the sentinel: `next` is at most
    // the sentinel, so next - sentinel wraps (top bit set) exactly when it is
    // before it.
    u64 before = next - b.sentinel;
    SDMM_OPAQUE(before);
    u64 merge_next = (before >> 63) & ~next_w0 & kUsed;
    SDMM_OPAQUE(merge_next);
    u64 next_size = (next_w0 & ~kFlagBits) & (0 - merge_next);
    SDMM_OPAQUE(next_size);
    Unlink u{};
    if (merge_next != 0) {
        unlink_check(heap, b, next, next_size, &u);
        unlink_apply(heap, u);
    }
    // The block before, when PREV_USED is clear: its footer is its size.
    u64 merge_prev = (~blk.w0 >> 1) & 1;
    SDMM_OPAQUE(merge_prev);
    const u64 merged_off = off - (load32(heap, off - 4) & (0 - merge_prev));
    const u64 merged_w0 = load32(heap, merged_off);  // the block before's header, or this one's
    u64 prev_size = (merged_w0 & ~kFlagBits) & (0 - merge_prev);
    SDMM_OPAQUE(prev_size);
    if (merge_prev != 0) {
        unlink_check(heap, b, merged_off, prev_size, &u);
        unlink_apply(heap, u);
    }
    const u64 merged_size = size + next_size + prev_size;
    // The header after the merged block: the next block's as read, or (when
    // it merged) the one after it.
    const u64 took_next = 0 - merge_next;
    const u64 after_w0 = (load32(heap, merged_off + merged_size) & took_next) | (next_w0 & ~took_next);
    const u64 map_at = map_word_at(b.map, off);
    store64(heap, map_at, load64(heap, map_at) & ~map_bit(off));
    count_free(heap, size);
    make_free(heap, b, merged_off, merged_size, merged_w0 & kPrevUsed, after_w0, 0);
    return SDMM_OK;
}

// Releases a located live block into the coalescing heap: coalesces with
// free neighbours (each checked first) and files the result. Nothing is
// written unless every neighbour checks out. (At the unchecked level:
// release_unchecked; everything after its dispatch is the checked level.)
SDMM_COLD sdmm_status release(sdmm_heap *heap, const Bounds &bounds, const Live &blk) {
    Bounds b = bounds;
    if (!load_classes(heap, &b)) return SDMM_ERR_CORRUPTED;
    if constexpr (!kHardened) return release_unchecked(heap, b, blk);
    u64 off = blk.off;
    u64 size = blk.size;
    const u64 next = off + size;  // <= sentinel: checked by locate
    const u64 next_w0 = load32(heap, next);
    u64 next_size = 0;
    Unlink un{}, up{};
    const bool merge_next = next != b.sentinel && (next_w0 & kUsed) == 0;
    if (merge_next) {
        if (!free_block_ok(heap, b, next, &next_size) || next_size != (next_w0 & ~kFlagBits) ||
            !unlink_take(heap, b, next, next_size, &un))
            return SDMM_ERR_CORRUPTED;
    }
    const bool merge_prev = (blk.w0 & kPrevUsed) == 0;
    u64 prev = 0, prev_size = 0, prev_w0 = 0;
    if (merge_prev) {
        const u64 footer = load32(heap, off - 4);
        if (footer < kMinBlock || footer > off - b.first || (footer & 7) != 0) return SDMM_ERR_CORRUPTED;
        prev = off - footer;
        prev_w0 = load32(heap, prev);
        if (!free_block_ok(heap, b, prev, &prev_size) || prev_size != footer ||
            (prev_w0 & kPrevUsed) == 0 ||  // no two free neighbours
            !unlink_take(heap, b, prev, prev_size, &up) || up.top)
            return SDMM_ERR_CORRUPTED;
    }
    u64 merged_off = merge_prev ? prev : off;
    u64 merged_size = size + next_size + prev_size;
    u64 head = 0;
    if (merged_off + merged_size != b.sentinel) {
        // The list it joins may be one of those it leaves: check the head as
        // it will be after the unlinks.
        const u64 cls = class_of(merged_size);
        if (cls >= kMaxClasses || cls >= b.classes) return SDMM_ERR_CORRUPTED;
        head = load32(heap, head_offset(cls));
        if (merge_next && !un.top && un.cls == cls && head == next) head = un.next;
        if (merge_prev && up.cls == cls && head == prev)
            head = up.next == next && merge_next ? un.next : up.next;
        if (head != 0 && !in_blocks(b, head)) return SDMM_ERR_CORRUPTED;
    }
    const u64 after = merged_off + merged_size;
    const u64 after_w0 = merge_next ? load32(heap, after) : next_w0;

    // Every read is checked: write.
    const u64 map_at = map_word_at(b.map, off);
    store64(heap, map_at, load64(heap, map_at) & ~map_bit(off));
    count_free(heap, size);
    if (merge_next && merge_prev) {
        unlink_both(heap, un, up);
    } else if (merge_next) {
        unlink_apply(heap, un);
    } else if (merge_prev) {
        unlink_apply(heap, up);
    }
    const u64 prev_used = merge_prev ? prev_w0 & kPrevUsed : blk.w0 & kPrevUsed;
    make_free(heap, b, merged_off, merged_size, prev_used, after_w0, head);
    return SDMM_OK;
}

// The head of the exact-size cache of blocks of `size` bytes (16..kCacheMaxBytes).
inline u64 cache_head_at(u64 size) { return SDMM_FIELD(cache_head) + (((size >> 3) - 2) << 2); }

// Frees a located live block (`b` as read, checked by locate only): into
// its exact-size cache when there is room, else into the coalescing heap.
SDMM_HOT sdmm_status free_located(sdmm_heap *heap, const Bounds &b, const Live &blk) {
    const u64 size = blk.size;
    if constexpr (kCacheLimit > 0) {
        const u64 account = get64(heap, SDMM_FIELD(cache_account));
        // Caching defers coalescing; in a heap more than half full that costs
        // the big requests their room (the 32 KiB efficiency benchmark), so
        // there a freed block is coalesced at once.
        const u64 taken = get64(heap, SDMM_FIELD(allocated));
        if (size <= kCacheMaxBytes && account < kCacheLimit * kCacheBlock && taken * 2 < b.len - b.first) {
            const u64 head_at = cache_head_at(size);
            store32(heap, blk.off, blk.w0 & ~kClaimed);
            store32(heap, blk.off + 4, 0);
            store32(heap, blk.off + 8, load32(heap, head_at));
            store32(heap, head_at, blk.off);
            store64(heap, SDMM_FIELD(cache_account), account + kCacheBlock + size);
            return SDMM_OK;
        }
    }
    if (!bounds_ok(b)) return SDMM_ERR_CORRUPTED;
    return release(heap, b, blk);
}

// Pops a cached block of exactly `need` bytes (<= kCacheMaxBytes) into *blk
// (map word read, header checked); false if the cache is empty or damaged
// (*corrupt says which).
SDMM_HOT bool cache_pop(sdmm_heap *heap, const Bounds &b, u64 need, Live *blk, bool *corrupt) {
    const u64 head_at = cache_head_at(need);
    const u64 off = load32(heap, head_at);
    if (off == 0) return false;
    *corrupt = true;
    if (!block_fits(b, off, need) || (off & 7) != 0) return false;
    const u64 w0 = load32(heap, off);
    // A cached block: used, no generation, exactly this size, and a block
    // start (the map says so: a header forged inside another block is refused).
    if ((w0 & ~kPrevUsed) != (need | kUsed) || load32(heap, off + 4) != 0) return false;
    if ((load64(heap, map_word_at(b.map, off)) & map_bit(off)) == 0) return false;
    // The next link is checked when it is popped in turn.
    const u64 next = load32(heap, off + 8);
    const u64 account = get64(heap, SDMM_FIELD(cache_account));
    if (account < kCacheBlock + need) return false;
    *corrupt = false;
    store32(heap, head_at, next);
    store64(heap, SDMM_FIELD(cache_account), account - kCacheBlock - need);
    blk->off = off;
    blk->w0 = w0;
    blk->size = need;
    return true;
}

// Releases every cached block into the coalescing heap (at most
// kCacheLimit). Stops at the first damaged one.
sdmm_status drain_caches(sdmm_heap *heap, const Bounds &b) {
    u64 budget = kCacheLimit;
    for (u64 i = 0; i < kCacheSizes; ++i) {
        const u64 need = (i + 2) << 3;
        while (budget != 0) {
            Live blk;
            bool corrupt = false;
            if (!cache_pop(heap, b, need, &blk, &corrupt)) {
                if (corrupt) return SDMM_ERR_CORRUPTED;
                break;
            }
            budget -= 1;
            const sdmm_status st = release(heap, b, blk);
            if (st != SDMM_OK) {
                // Put it back where it was: nothing is lost.
                store32(heap, cache_head_at(need), blk.off);
                store64(heap, SDMM_FIELD(cache_account),
                        get64(heap, SDMM_FIELD(cache_account)) + kCacheBlock + need);
                return st;
            }
        }
    }
    return SDMM_OK;
}

// ---- locating a block the caller hands back -------------------------------------------

// Finds the live block a handle names. `gone` is the status for a block that
// was live once (freed, or freed and reused).
SDMM_HOT sdmm_status locate(const sdmm_heap *heap, const Bounds &b, u64 handle, Live *blk, sdmm_status gone) {
    if ((handle & kSaltMask) != get64(heap, SDMM_FIELD(salt))) return SDMM_ERR_INVALID_BLOCK;
    if ((handle >> 40) == 0) return SDMM_ERR_INVALID_BLOCK;  // no generation: no handle of ours
    const u64 off = handle & 0xFFFFFFF8u;
    if (off < b.first || off + kMinBlock + kHeader > b.len) return SDMM_ERR_INVALID_BLOCK;
    const u64 map_at = map_word_at(b.map, off);
    if (map_at + 8 > b.first) return SDMM_ERR_CORRUPTED;
    const u64 map_value = load64(heap, map_at);
    if ((map_value & map_bit(off)) == 0) return gone;
    const u64 w0 = load32(heap, off);
    const u64 w1 = load32(heap, off + 4);
    const u64 size = w0 & ~kFlagBits;
    if ((w0 & kUsed) == 0 || size < kMinBlock || off + size + kHeader > b.len) return SDMM_ERR_CORRUPTED;
    if ((w1 & kGenerationMask) != ((handle >> 32) & kGenerationMask)) return gone;  // also cached: 0
    if ((w1 & kTagMask) != ((handle >> 32) & kTagMask)) return SDMM_ERR_INVALID_BLOCK;
    blk->off = off;
    blk->w0 = w0;
    blk->w1 = w1;
    blk->size = size;
    return SDMM_OK;
}

// locate() for a caller that names the type it expects (free, resolve and
// claim by handle): the block must be of that type.
SDMM_HOT sdmm_status locate_typed(const sdmm_heap *heap, const Bounds &b, u64 handle, u64 expected_tag,
                                  Live *blk, sdmm_status gone) {
    const sdmm_status status = locate(heap, b, handle, blk, gone);
    if (status != SDMM_OK) return status;
    return (blk->w1 & kTagMask) == expected_tag ? SDMM_OK : SDMM_ERR_TAG_MISMATCH;
}

// locate() for a block the caller holds: its pointer must match its handle.
SDMM_HOT sdmm_status locate_block(const sdmm_heap *heap, const Bounds &b, const sdmm_block *block, Live *blk,
                                  sdmm_status gone) {
    if (block == nullptr) return SDMM_ERR_INVALID_BLOCK;
    const u64 tag = block->tag;
    const u64 handle = block->handle;
    if (tag == SDMM_TAG_NONE || tag >= SDMM_TAG_COUNT) return SDMM_ERR_INVALID_BLOCK;
    if (block->as.raw != reinterpret_cast<uint64_t>(base_of(heap) + (handle & 0xFFFFFFF8u) + kHeader))
        return SDMM_ERR_INVALID_BLOCK;
    if (((handle >> 32) & kTagMask) != tag) return SDMM_ERR_TAG_MISMATCH;
    return locate(heap, b, handle, blk, gone);
}

// The handle of a located live block.
inline u64 handle_of(const sdmm_heap *heap, const Live &blk) {
    return ((blk.w1 & ~kTailMask) << 32) | blk.off | get64(heap, SDMM_FIELD(salt));
}

// Fills *out with a located live block of `tag`.
// The element count of a located live block (its tail checked by tail_ok).
inline u32 elements_of(const Live &blk) {
    const u64 bytes = blk.size - kHeader - ((blk.w1 >> kTailShift) & 0xF);
    return static_cast<u32>(bytes >> size_log2_of(blk.w1 & kTagMask));
}

inline void describe(sdmm_heap *heap, const Live &blk, sdmm_block *out) {
    out->tag = static_cast<u32>(blk.w1 & kTagMask);
    out->status = SDMM_OK;
    out->len = elements_of(blk);
    out->reserved = 0;
    out->handle = handle_of(heap, blk);
    out->as.raw = reinterpret_cast<uint64_t>(bytes_at(heap, blk.off + kHeader));
}

// A live header whose tag is no type or whose tail does not fit its size is
// damaged (a caller wrote over it).
inline bool tail_ok(const Live &blk) {
    const u64 tag = blk.w1 & kTagMask;
    // At least one element: the tail leaves room for one of the tag's size.
    return tag != SDMM_TAG_NONE && tag < SDMM_TAG_COUNT &&
           ((blk.w1 >> kTailShift) & 0xF) + (u64{1} << size_log2_of(tag)) <= blk.size - kHeader;
}

// Checks the pointer to a block's elements and locates the block.
SDMM_HOT sdmm_status locate_pointer(const sdmm_heap *heap, const Bounds &b, const void *elements, Live *blk) {
    const uintptr_t p = reinterpret_cast<uintptr_t>(elements);
    const uintptr_t base = reinterpret_cast<uintptr_t>(base_of(heap));
    // (wraps for a pointer below the arena: refused as too far)
    const u64 off = p - base - kHeader;
    if ((off & ~u64{0xFFFFFFF8u}) != 0 || off < b.first || off + kMinBlock + kHeader > b.len)
        return SDMM_ERR_INVALID_BLOCK;
    const u64 map_at = map_word_at(b.map, off);
    if (map_at + 8 > b.first) return SDMM_ERR_CORRUPTED;
    const u64 map_value = load64(heap, map_at);
    if ((map_value & map_bit(off)) == 0) return SDMM_ERR_INVALID_BLOCK;
    const u64 w0 = load32(heap, off);
    const u64 size = w0 & ~kFlagBits;
    if ((w0 & kUsed) == 0 || size < kMinBlock || off + size + kHeader > b.len) return SDMM_ERR_CORRUPTED;
    const u64 w1 = load32(heap, off + 4);
    if ((w1 & kGenerationMask) == 0) return SDMM_ERR_INVALID_BLOCK;  // cached
    blk->off = off;
    blk->w0 = w0;
    blk->w1 = w1;
    blk->size = size;
    return SDMM_OK;
}

// ---- allocation ---------------------------------------------------------------------------

// Takes the free block found by take_free_block for a block of `need`
// bytes (`lead` bytes in front of it become a free block of their own, for
// aligned allocations): checks every list head it will write, then unlinks,
// splits and marks it used. On success *blk holds the used block and its map
// word; its elements are not cleared.
SDMM_HOT sdmm_status carve(sdmm_heap *heap, const Bounds &b, u64 off, u64 size, const Unlink &u, u64 lead,
                           u64 need, Live *blk) {
    const u64 w0 = load32(heap, off);
    const u64 end = off + size;  // <= sentinel: free_block_ok
    const u64 rest = size - lead - need;
    const bool split = min_block(rest);
    u64 lead_head = 0, rest_head = 0;
    if constexpr (kHardened) {
        if (lead != 0 && !head_after(heap, b, lead, u, &lead_head)) return SDMM_ERR_CORRUPTED;
        if (split && end != b.sentinel) {
            if (!head_after(heap, b, rest, u, &rest_head)) return SDMM_ERR_CORRUPTED;
            if (lead != 0 && class_of(lead) == class_of(rest)) rest_head = off;  // the lead is filed first
        }
    }
    const u64 at = off + lead;
    const u64 map_at = map_word_at(b.map, at);
    const u64 map_value = load64(heap, map_at);
    if (!SDMM_CHECK((map_value & map_bit(at)) == 0)) return SDMM_ERR_CORRUPTED;
    const u64 end_w0 = load32(heap, end);

    if constexpr (kHardened) unlink_apply(heap, u);  // else applied by take_free_block
    u64 prev_used = w0 & kPrevUsed;
    if (lead != 0) {
        // Its predecessor is used (no two free neighbours), its successor is
        // the block being carved.
        store32(heap, off, lead | prev_used);
        store32(heap, at - 4, lead);
        list_insert(heap, off, lead, lead_head);
        prev_used = 0;
    }
    u64 used = size - lead;
    if (split) {
        make_free(heap, b, at + need, rest, kPrevUsed, end_w0, rest_head);
        used = need;
    } else {
        store32(heap, end, end_w0 | kPrevUsed);
    }
    store32(heap, at, used | kUsed | prev_used);
    store64(heap, map_at, map_value | map_bit(at));
    blk->off = at;
    blk->w0 = used | kUsed | prev_used;
    blk->size = used;
    return SDMM_OK;
}

// Finds a free block of at least `search` bytes in the coalescing heap,
// draining the caches once if nothing fits.
SDMM_HOT sdmm_status find_free(sdmm_heap *heap, Bounds &b, u64 search, u64 *off, u64 *size, Unlink *u) {
    if (!load_classes(heap, &b)) return SDMM_ERR_CORRUPTED;
    Take t = take_free_block(heap, b, search, off, size, u);
    if constexpr (kCacheLimit > 0) {
        // Drain only when it can help: a block of `search` bytes needs that
        // many bytes outside live blocks.
        const u64 account = get64(heap, SDMM_FIELD(cache_account));
        const u64 live = get64(heap, SDMM_FIELD(allocated)) - (account & 0xFFFFFFFFu);
        if (t == Take::kNone && account != 0 && search <= b.sentinel - b.first - live) {
            const sdmm_status st = drain_caches(heap, b);
            if (st != SDMM_OK) return st;
            t = take_free_block(heap, b, search, off, size, u);
        }
    }
    if (t == Take::kCorrupted) return SDMM_ERR_CORRUPTED;
    if (t == Take::kNone) {
        Control &c = control(heap);
        c.oom_count += 1;
        return SDMM_ERR_OUT_OF_MEMORY;
    }
    return SDMM_OK;
}

// A block of `need` bytes from the coalescing heap.
sdmm_status alloc_slow(sdmm_heap *heap, const Bounds &bounds, u64 need, Live *blk) {
    Bounds b = bounds;
    if constexpr (kCacheLimit > 0) {
        // A small request its own cache could not serve: the smallest cached
        // block that could is returned to the coalescing heap first, as if
        // it had never been cached, so caching does not push small requests
        // onto fresh memory (the 32 KiB efficiency measures that).
        // (Only once the heap is a quarter full: before, there is room.)
        // Once it is half full, frees are no longer cached (free_located),
        // and what the caches still hold is released at once: blocks kept
        // out of coalescing there cost the big requests their room.
        const u64 taken = get64(heap, SDMM_FIELD(allocated));
        if (taken * 2 >= b.sentinel - b.first && get64(heap, SDMM_FIELD(cache_account)) != 0) {
            if (!load_classes(heap, &b)) return SDMM_ERR_CORRUPTED;
            const sdmm_status st = drain_caches(heap, b);
            if (st != SDMM_OK) return st;
        }
        const bool crowded = taken * 4 >= b.sentinel - b.first;
        for (u64 bigger = need + kGranule; crowded && bigger <= kCacheMaxBytes; bigger += kGranule) {
            if (load32(heap, SDMM_FIELD(cache_head) + (((bigger >> 3) - 2) << 2)) == 0) continue;
            Live cached{};
            bool corrupt = false;
            if (!cache_pop(heap, b, bigger, &cached, &corrupt)) return SDMM_ERR_CORRUPTED;
            const sdmm_status st = release(heap, b, cached);
            if (st != SDMM_OK) return st;
            break;
        }
    }
    u64 off = 0, size = 0;
    Unlink u{};
    const sdmm_status st = find_free(heap, b, need, &off, &size, &u);
    if (st != SDMM_OK) return st;
    const sdmm_status carved = carve(heap, b, off, size, u, 0, need, blk);
    if (carved == SDMM_OK) count_alloc(heap, blk->size);
    return carved;
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

sdmm_status init(void *arena, size_t len, size_t reserve, uint32_t flags, sdmm_heap **out) {
    if (out == nullptr) return SDMM_ERR_INVALID_HEAP;
    *out = nullptr;
    if (arena == nullptr) return SDMM_ERR_INVALID_HEAP;
    if ((reinterpret_cast<uintptr_t>(arena) & 7) != 0) return SDMM_ERR_MISALIGNED;
    if (len < SDMM_MIN_ARENA_BYTES) return SDMM_ERR_ARENA_TOO_SMALL;
    const u64 arena_len = (len > SDMM_MAX_ARENA_BYTES ? u64{SDMM_MAX_ARENA_BYTES} : len) & ~u64{7};
    u64 reserve_len = (reserve > SDMM_MAX_ARENA_BYTES ? u64{SDMM_MAX_ARENA_BYTES} : reserve) & ~u64{7};
    if (reserve_len <= arena_len) reserve_len = 0;  // no growth: the plain layout
    auto *heap = static_cast<sdmm_heap *>(arena);
    Geometry g{};
    if (!geometry_for(arena_len, reserve_of(reserve_len, arena_len), &g)) return SDMM_ERR_ARENA_TOO_SMALL;

    // Salt and first generation. Over an earlier heap: continue its counter
    // with the next salt, so none of its handles resolves here.
    u64 salt7 = 0, generation = 1;
    Control &c = control(heap);
    if (load32(heap, 0) == kMagic && load32(heap, 4) == kLayoutVersion) {
        const u64 old_salt = get64(heap, SDMM_FIELD(salt));
        salt7 = ((old_salt & 7) | (((old_salt >> 36) & 0xF) << 3)) + 1;
        generation = get(heap, SDMM_FIELD(next_generation)) >> 8;
    } else {
        u64 seed = arena_len ^ SDMM_ENTROPY(arena);
        seed = (seed ^ (seed >> 29)) * 0xBF58476D1CE4E5B9ull;
        seed ^= seed >> 32;
        salt7 = seed;
        generation = seed >> 8;
    }
    generation = (generation << 8) & kGenerationMask;
    if (generation == 0) generation = u64{1} << 8;

    SDMM_ZERO(arena, g.first_block);  // control, heads, start map
    c.version = kLayoutVersion;
    c.arena_len = static_cast<u32>(arena_len);
    c.first_block = static_cast<u32>(g.first_block);
    c.sentinel = static_cast<u32>(g.sentinel);
    c.starts_map = static_cast<u32>(g.starts_map);
    c.class_count = static_cast<u32>(g.class_count);
    c.flags = flags & kFlagZeroedInit;
    c.next_generation = static_cast<u32>(generation);
    c.reserve_len = static_cast<u32>(reserve_len);
    c.salt = salt_bits(salt7);
    c.seal = seal_of(arena_len, g.first_block, g.starts_map, g.class_count);
    c.magic = kMagic;

    store32(heap, g.sentinel, kUsed);  // size 0, previous block free
    store32(heap, g.sentinel + 4, 0);
    const Bounds b{g.arena_len, g.first_block, g.sentinel, g.starts_map, g.class_count};
    make_free(heap, b, g.first_block, g.sentinel - g.first_block, kPrevUsed, kUsed, 0);
    *out = heap;
    return SDMM_OK;
}

sdmm_status attach(void *arena, size_t len, sdmm_heap **out) {
    if (out == nullptr) return SDMM_ERR_INVALID_HEAP;
    *out = nullptr;
    if (arena == nullptr) return SDMM_ERR_INVALID_HEAP;
    if ((reinterpret_cast<uintptr_t>(arena) & 7) != 0) return SDMM_ERR_MISALIGNED;
    if (len < SDMM_MIN_ARENA_BYTES) return SDMM_ERR_ARENA_TOO_SMALL;
    const auto *heap = static_cast<const sdmm_heap *>(arena);
    if (load32(heap, 0) != kMagic || get(heap, SDMM_FIELD(version)) != kLayoutVersion)
        return SDMM_ERR_INVALID_HEAP;
    // The whole geometry is recomputed from the recorded length, which must
    // fit the memory we were given now; anything else is refused.
    const u64 arena_len = get(heap, SDMM_FIELD(arena_len));
    if (arena_len > len) return SDMM_ERR_ARENA_TOO_SMALL;
    Geometry g{};
    if (!recorded_geometry(heap, arena_len, &g)) return SDMM_ERR_CORRUPTED;
    const u64 salt = get64(heap, SDMM_FIELD(salt));
    const u64 sentinel_w0 = load32(heap, g.sentinel);
    if ((salt & ~kSaltMask) != 0 || (sentinel_w0 & ~kPrevUsed) != kUsed ||
        get64(heap, SDMM_FIELD(cache_account)) > kCacheLimit * kCacheBlock + kCacheLimit * kCacheMaxBytes)
        return SDMM_ERR_CORRUPTED;
    const Bounds b{g.arena_len, g.first_block, g.sentinel, g.starts_map, g.class_count};
    const u64 top = get(heap, SDMM_FIELD(top));
    u64 top_size = 0;
    if (top != 0 && (!free_block_ok(heap, b, top, &top_size) || top + top_size != g.sentinel))
        return SDMM_ERR_CORRUPTED;
    *out = static_cast<sdmm_heap *>(arena);
    return SDMM_OK;
}

namespace {
// Every allocation the caches do not serve, and every error.
SDMM_COLD sdmm_status alloc_general(sdmm_heap *heap, uint32_t tag, uint64_t count, Fill fill,
                                    sdmm_block *out) {
    if (!heap_ok(heap)) return fail(out, SDMM_ERR_INVALID_HEAP);
    if (count == 0) return fail(out, SDMM_ERR_ZERO_COUNT);
    Bounds b;
    if (!load_bounds(heap, &b)) return fail(out, SDMM_ERR_CORRUPTED);
    // count < 2^32 and size_log2 <= 6: the product cannot overflow 64 bits.
    if (count > 0xFFFFFFFFu) return fail(out, SDMM_ERR_TOO_LARGE);
    const u64 bytes = count << size_log2_of(tag);
    if (bytes > b.sentinel - b.first - kHeader) return fail(out, SDMM_ERR_TOO_LARGE);
    const u64 need = block_bytes_for(bytes);

    Live blk;
    bool corrupt = false;
    if (kCacheLimit == 0 || need > kCacheMaxBytes || !cache_pop(heap, b, need, &blk, &corrupt)) {
        if (corrupt) return fail(out, SDMM_ERR_CORRUPTED);
        const sdmm_status st = alloc_slow(heap, b, need, &blk);
        if (st != SDMM_OK) return fail(out, st);
    }
    if (fill != Fill::kUninit) SDMM_ZERO(bytes_at(heap, blk.off + kHeader), round8(bytes));
    if (fill == Fill::kZeroClaimed) store32(heap, blk.off, blk.w0 | kClaimed);
    publish(heap, blk.off, blk.size, tag, bytes, out);
    return SDMM_OK;
}
}  // namespace

// The fast path: a cache hit, checked, with everything loaded once and
// used from the checked copy. Anything else -- a miss, an error, a cache
// that does not check out -- goes to alloc_general, which starts over and
// reports what it finds.
namespace {
[[gnu::always_inline]] inline sdmm_status alloc_fast(sdmm_heap *heap, uint32_t tag, uint64_t count, Fill fill,
                                                     sdmm_block *out) {
    if constexpr (kCacheLimit != 0) {
        if (count - 1 < kCacheMaxBytes && out != nullptr && heap_ok(heap)) {
            const u64 bytes = count << size_log2_of(tag);
            const u64 need = round8(bytes + kHeader);  // >= kMinBlock: bytes >= 1
            const u64 head_at = cache_head_at(need);
            const u64 off = need <= kCacheMaxBytes ? load32(heap, head_at) : 0;
            const u64 len = get(heap, SDMM_FIELD(arena_len));
            const u64 first = get(heap, SDMM_FIELD(first_block));
            const u64 map_at = map_word_at(get(heap, SDMM_FIELD(starts_map)), off);
            // In the block area, aligned, its map word before the blocks; a
            // cached block of this size (used, no generation) and a block
            // start; the account holds it. The next link is checked when it
            // is popped in turn.
            if (off == 0 || off < first || off + need + kHeader > len || (off & 7) != 0 || map_at + 8 > first)
                return alloc_general(heap, tag, count, fill, out);
            const u64 w0 = load32(heap, off);
            if ((w0 & ~kPrevUsed) != (need | kUsed) || load32(heap, off + 4) != 0 ||
                (load64(heap, map_at) & map_bit(off)) == 0)
                return alloc_general(heap, tag, count, fill, out);
            const u64 account = get64(heap, SDMM_FIELD(cache_account));
            if (account < kCacheBlock + need) return alloc_general(heap, tag, count, fill, out);
            store32(heap, head_at, load32(heap, off + 8));
            store64(heap, SDMM_FIELD(cache_account), account - kCacheBlock - need);
            if (fill == Fill::kZeroClaimed) store32(heap, off, w0 | kClaimed);
            const u64 generation = next_generation(heap);
            store32(heap, off + 4, generation | ((need - kHeader - bytes) << kTailShift) | tag);
            out->tag = tag;
            out->status = SDMM_OK;
            out->len = static_cast<u32>(count);
            out->reserved = 0;
            out->handle = ((generation | tag) << 32) | off | get64(heap, SDMM_FIELD(salt));
            out->as.raw = reinterpret_cast<uint64_t>(bytes_at(heap, off + kHeader));
            if (fill != Fill::kUninit) SDMM_ZERO_SMALL(bytes_at(heap, off + kHeader), round8(bytes));
            return SDMM_OK;
        }
    }
    if (out == nullptr) return SDMM_ERR_INVALID_BLOCK;
    return alloc_general(heap, tag, count, fill, out);
}
}  // namespace

// The typed allocations' entry: zero-filled, no dispatch on the fill.
sdmm_status alloc_zeroed(sdmm_heap *heap, uint32_t tag, uint64_t count, sdmm_block *out) {
    return alloc_fast(heap, tag, count, Fill::kZero, out);
}

// One copy of the fast path per fill: each is short, with `fill` a constant.
sdmm_status alloc(sdmm_heap *heap, uint32_t tag, uint64_t count, Fill fill, sdmm_block *out) {
    switch (fill) {
        case Fill::kZero:
            return alloc_fast(heap, tag, count, Fill::kZero, out);
        case Fill::kUninit:
            return alloc_fast(heap, tag, count, Fill::kUninit, out);
        default:
            return alloc_fast(heap, tag, count, Fill::kZeroClaimed, out);
    }
}

sdmm_status alloc_aligned(sdmm_heap *heap, uint64_t bytes, uint64_t align, Fill fill, sdmm_block *out) {
    if (out == nullptr) return SDMM_ERR_INVALID_BLOCK;
    if (!heap_ok(heap)) return fail(out, SDMM_ERR_INVALID_HEAP);
    if (align == 0 || (align & (align - 1)) != 0) return fail(out, SDMM_ERR_MISALIGNED);
    if (bytes > 0xFFFFFFFFu) return fail(out, SDMM_ERR_TOO_LARGE);
    if (align <= kGranule) return alloc(heap, SDMM_TAG_U8, bytes, fill, out);
    if (bytes == 0) return fail(out, SDMM_ERR_ZERO_COUNT);
    Bounds b;
    if (!load_bounds(heap, &b)) return fail(out, SDMM_ERR_CORRUPTED);
    const u64 capacity = b.sentinel - b.first;
    if (align > capacity || bytes > capacity) return fail(out, SDMM_ERR_TOO_LARGE);

    const u64 need = round8(bytes + kHeader);
    // Big enough to hold an aligned start with either no lead or a lead that
    // is itself a block (>= kMinBlock), whatever the free block's address.
    const u64 search = need + align + kMinBlock;
    if (search > capacity) return fail(out, SDMM_ERR_TOO_LARGE);
    u64 off = 0, size = 0;
    Unlink u{};
    sdmm_status st = find_free(heap, b, search, &off, &size, &u);
    if (st != SDMM_OK) return fail(out, st);
    const uintptr_t payload = reinterpret_cast<uintptr_t>(bytes_at(heap, off + kHeader));
    u64 lead = ((payload + align - 1) & ~(align - 1)) - payload;
    if (lead != 0 && lead < kMinBlock) lead += align;
    Live blk;
    st = carve(heap, b, off, size, u, lead, need, &blk);
    if (st != SDMM_OK) return fail(out, st);
    count_alloc(heap, blk.size);
    if (fill != Fill::kUninit) SDMM_ZERO(bytes_at(heap, blk.off + kHeader), round8(bytes));
    if (fill == Fill::kZeroClaimed) store32(heap, blk.off, blk.w0 | kClaimed);
    publish(heap, blk.off, blk.size, SDMM_TAG_U8, bytes, out);
    return SDMM_OK;
}

namespace {
// The general frees: every check, every status.
SDMM_COLD sdmm_status free_general(sdmm_heap *heap, const sdmm_block *block) {
    if (!heap_ok(heap)) return SDMM_ERR_INVALID_HEAP;
    Bounds b;
    read_bounds(heap, &b);  // checked by locate
    Live blk;
    const sdmm_status status = locate_block(heap, b, block, &blk, SDMM_ERR_DOUBLE_FREE);
    if (status != SDMM_OK) return status;
    return free_located(heap, b, blk);
}

SDMM_COLD sdmm_status free_handle_general(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag) {
    if (!heap_ok(heap)) return SDMM_ERR_INVALID_HEAP;
    Bounds b;
    read_bounds(heap, &b);  // checked by locate
    Live blk;
    const sdmm_status status = locate_typed(heap, b, handle, expected_tag, &blk, SDMM_ERR_DOUBLE_FREE);
    if (status != SDMM_OK) return status;
    return free_located(heap, b, blk);
}

SDMM_COLD sdmm_status free_pointer_general(sdmm_heap *heap, const void *elements, uint32_t expected_tag) {
    if (!heap_ok(heap)) return SDMM_ERR_INVALID_HEAP;
    Bounds b;
    read_bounds(heap, &b);  // checked by locate
    Live blk;
    const sdmm_status status = locate_pointer(heap, b, elements, &blk);
    if (status != SDMM_OK) return status;
    if ((blk.w1 & kTagMask) != expected_tag) return SDMM_ERR_TAG_MISMATCH;
    return free_located(heap, b, blk);
}

// The fast path of every free: the live block at `off` goes into its
// exact-size cache if it checks out and there is room. `want` is what its
// header word1 must hold under `mask` (generation and tag from a handle, or
// just the tag). False: nothing was written, take the general path.
SDMM_HOT bool free_to_cache(sdmm_heap *heap, u64 off, u64 want, u64 mask) {
    if constexpr (kCacheLimit == 0) {
        return false;
    } else {
        const u64 len = get(heap, SDMM_FIELD(arena_len));
        const u64 first = get(heap, SDMM_FIELD(first_block));
        const u64 map_at = map_word_at(get(heap, SDMM_FIELD(starts_map)), off);
        if (off < first || off + kMinBlock + kHeader > len || map_at + 8 > first) return false;
        const u64 map_value = load64(heap, map_at);
        const u64 w0 = load32(heap, off);
        const u64 w1 = load32(heap, off + 4);
        const u64 size = w0 & ~kFlagBits;
        // A live block start (map bit, USED, a generation: not cached) of a
        // cached size that fits, named right.
        if ((map_value & map_bit(off)) == 0 || (w0 & kUsed) == 0 ||
            size - kMinBlock > kCacheMaxBytes - kMinBlock || off + size + kHeader > len ||
            ((w1 ^ want) & mask) != 0 || (w1 & kGenerationMask) == 0)
            return false;
        const u64 account = get64(heap, SDMM_FIELD(cache_account));
        const u64 taken = get64(heap, SDMM_FIELD(allocated));
        // Caching defers coalescing; in a heap more than half full that costs
        // the big requests their room (the 32 KiB efficiency benchmark), so
        // there a freed block is coalesced at once (the general path).
        if (account >= kCacheLimit * kCacheBlock || taken * 2 >= len - first) return false;
        const u64 head_at = cache_head_at(size);
        store32(heap, off, w0 & ~kClaimed);
        store32(heap, off + 4, 0);
        store32(heap, off + 8, load32(heap, head_at));
        store32(heap, head_at, off);
        store64(heap, SDMM_FIELD(cache_account), account + kCacheBlock + size);
        return true;
    }
}
}  // namespace

sdmm_status free(sdmm_heap *heap, const sdmm_block *block) {
    if (block != nullptr && heap_ok(heap)) {
        const u64 handle = block->handle;
        const u64 tag = block->tag;
        const u64 off = handle & 0xFFFFFFF8u;
        if ((handle & kSaltMask) == get64(heap, SDMM_FIELD(salt)) && ((handle >> 32) & kTagMask) == tag &&
            block->as.raw == reinterpret_cast<uint64_t>(base_of(heap) + off + kHeader) &&
            free_to_cache(heap, off, handle >> 32, kGenerationMask | kTagMask))
            return SDMM_OK;
    }
    return free_general(heap, block);
}

sdmm_status free_handle(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag) {
    if (heap_ok(heap) && (handle & kSaltMask) == get64(heap, SDMM_FIELD(salt)) &&
        ((handle >> 32) & kTagMask) == expected_tag &&
        free_to_cache(heap, handle & 0xFFFFFFF8u, handle >> 32, kGenerationMask | kTagMask))
        return SDMM_OK;
    return free_handle_general(heap, handle, expected_tag);
}

sdmm_status free_pointer(sdmm_heap *heap, const void *elements, uint32_t expected_tag) {
    if (heap_ok(heap)) {
        const u64 off =
            reinterpret_cast<uintptr_t>(elements) - reinterpret_cast<uintptr_t>(base_of(heap)) - kHeader;
        // (a pointer below the arena wraps: refused as more than 4 GiB away)
        if ((off & ~u64{0xFFFFFFF8u}) == 0 && expected_tag <= kTagMask &&
            free_to_cache(heap, off, expected_tag, kTagMask))
            return SDMM_OK;
    }
    return free_pointer_general(heap, elements, expected_tag);
}

sdmm_status resolve(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag, sdmm_block *out) {
    if (out == nullptr) return SDMM_ERR_INVALID_BLOCK;
    if (!heap_ok(heap)) return fail(out, SDMM_ERR_INVALID_HEAP);
    Bounds b;
    read_bounds(heap, &b);  // checked by locate
    Live blk;
    const sdmm_status status = locate_typed(heap, b, handle, expected_tag, &blk, SDMM_ERR_STALE_HANDLE);
    if (status != SDMM_OK) return fail(out, status);
    if (!tail_ok(blk)) return fail(out, SDMM_ERR_CORRUPTED);
    describe(heap, blk, out);
    return SDMM_OK;
}

sdmm_status claim(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag, sdmm_block *out) {
    if (out == nullptr) return SDMM_ERR_INVALID_BLOCK;
    if (!heap_ok(heap)) return fail(out, SDMM_ERR_INVALID_HEAP);
    Bounds b;
    read_bounds(heap, &b);  // checked by locate
    Live blk;
    const sdmm_status status = locate_typed(heap, b, handle, expected_tag, &blk, SDMM_ERR_STALE_HANDLE);
    if (status != SDMM_OK) return fail(out, status);
    if (!tail_ok(blk)) return fail(out, SDMM_ERR_CORRUPTED);
    if ((blk.w0 & kClaimed) != 0) return fail(out, SDMM_ERR_CLAIMED);
    store32(heap, blk.off, blk.w0 | kClaimed);
    describe(heap, blk, out);
    return SDMM_OK;
}

sdmm_status unclaim(sdmm_heap *heap, uint64_t handle, uint32_t expected_tag) {
    if (!heap_ok(heap)) return SDMM_ERR_INVALID_HEAP;
    Bounds b;
    read_bounds(heap, &b);  // checked by locate
    Live blk;
    const sdmm_status status = locate_typed(heap, b, handle, expected_tag, &blk, SDMM_ERR_STALE_HANDLE);
    if (status != SDMM_OK) return status;
    if ((blk.w0 & kClaimed) != 0) store32(heap, blk.off, blk.w0 & ~kClaimed);
    return SDMM_OK;
}

sdmm_status from_pointer(sdmm_heap *heap, const void *elements, uint32_t expected_tag, sdmm_block *out) {
    if (out == nullptr) return SDMM_ERR_INVALID_BLOCK;
    if (!heap_ok(heap)) return fail(out, SDMM_ERR_INVALID_HEAP);
    Bounds b;
    read_bounds(heap, &b);  // checked by locate
    Live blk;
    const sdmm_status status = locate_pointer(heap, b, elements, &blk);
    if (status != SDMM_OK) return fail(out, status);
    if ((blk.w1 & kTagMask) != expected_tag) return fail(out, SDMM_ERR_TAG_MISMATCH);
    if ((blk.w1 & kGenerationMask) == 0 || !tail_ok(blk)) return fail(out, SDMM_ERR_CORRUPTED);
    describe(heap, blk, out);
    return SDMM_OK;
}

namespace {
// Resizes a located live block (`b` checked by load_bounds). Inlined into
// its two callers: a call here costs SBF programs a spill of every local.
SDMM_HOT sdmm_status resize_located(sdmm_heap *heap, Bounds &b, const Live &blk, uint64_t new_len,
                                    sdmm_block *out) {
    if (!tail_ok(blk)) return fail(out, SDMM_ERR_CORRUPTED);
    if (new_len == 0) return fail(out, SDMM_ERR_ZERO_COUNT);
    const u64 tag = blk.w1 & kTagMask;
    const u64 size_log2 = size_log2_of(tag);
    if (new_len > 0xFFFFFFFFu) return fail(out, SDMM_ERR_TOO_LARGE);
    const u64 new_bytes = new_len << size_log2;
    if (new_bytes > b.sentinel - b.first - kHeader) return fail(out, SDMM_ERR_TOO_LARGE);
    const u64 need = block_bytes_for(new_bytes);

    if (!load_classes(heap, &b)) return fail(out, SDMM_ERR_CORRUPTED);
    const u64 off = blk.off;
    u64 size = blk.size;
    const u64 old_bytes = size - kHeader - ((blk.w1 >> kTailShift) & 0xF);
    const u64 next = off + size;
    const u64 next_w0 = load32(heap, next);
    u64 next_free = 0;
    Unlink un{};
    if (next != b.sentinel && (next_w0 & kUsed) == 0) {
        if (!free_block_ok(heap, b, next, &next_free) || !SDMM_CHECK(next_free == (next_w0 & ~kFlagBits)) ||
            !unlink_check(heap, b, next, next_free, &un))
            return fail(out, SDMM_ERR_CORRUPTED);
    }

    if (need <= size + next_free) {
        // In place: absorb the free neighbour if needed, give back the excess.
        const u64 total = size + next_free;
        const u64 rest = total - need;
        const bool split = rest >= kMinBlock;
        u64 head = 0;
        if (split && off + total != b.sentinel) {
            const u64 cls = class_of(rest);
            if (!SDMM_CHECK(cls < kMaxClasses && cls < b.classes)) return fail(out, SDMM_ERR_CORRUPTED);
            head = load32(heap, head_offset(cls));
            if (next_free != 0 && !un.top && un.cls == cls && head == next) head = un.next;
            if (!SDMM_CHECK(head == 0 || in_blocks(b, head))) return fail(out, SDMM_ERR_CORRUPTED);
        }
        const u64 after_w0 = next_free != 0 ? load32(heap, off + total) : next_w0;
        if (next_free != 0) unlink_apply(heap, un);
        if (split) {
            make_free(heap, b, off + need, rest, kPrevUsed, after_w0, head);
            size = need;
        } else {
            size = total;
            store32(heap, off + size, after_w0 | kPrevUsed);
        }
        Control &c = control(heap);
        const u64 allocated = c.allocated - blk.size + size;
        c.allocated = allocated;
        if (allocated > c.peak_allocated) c.peak_allocated = allocated;
        store32(heap, off, size | kUsed | (blk.w0 & (kPrevUsed | kClaimed)));
        if (new_bytes > old_bytes)
            SDMM_ZERO(bytes_at(heap, off + kHeader + old_bytes), new_bytes - old_bytes);
        const u64 w1 = (blk.w1 & ~kTailMask) | ((size - kHeader - new_bytes) << kTailShift);
        store32(heap, off + 4, w1);
        out->tag = static_cast<u32>(tag);
        out->status = SDMM_OK;
        out->len = static_cast<u32>(new_len);
        out->reserved = 0;
        out->handle = ((w1 & ~kTailMask) << 32) | off | get64(heap, SDMM_FIELD(salt));
        out->as.raw = reinterpret_cast<uint64_t>(bytes_at(heap, off + kHeader));
        return SDMM_OK;
    }

    // Move: allocate first so a failure leaves the old block untouched.
    sdmm_block moved;
    const sdmm_status st = alloc(heap, static_cast<uint32_t>(tag), new_len, Fill::kUninit, &moved);
    if (st != SDMM_OK) return fail(out, st);
    const u64 new_off = moved.handle & 0xFFFFFFF8u;
    if ((blk.w0 & kClaimed) != 0)
        store32(heap, new_off, load32(heap, new_off) | kClaimed);  // the owner moves
    const u64 keep = old_bytes < new_bytes ? old_bytes : new_bytes;
    SDMM_COPY(bytes_at(heap, new_off + kHeader), bytes_at(heap, off + kHeader), keep);
    if (new_bytes > keep) SDMM_ZERO(bytes_at(heap, new_off + kHeader + keep), new_bytes - keep);
    // The old block was located before the allocation, which touched only
    // other blocks (and possibly drained caches into its neighbours): find it
    // again so its neighbours are read as they are now.
    Live again{};
    if (locate(heap, b, handle_of(heap, blk), &again, SDMM_ERR_STALE_HANDLE) == SDMM_OK)
        free_located(heap, b, again);
    *out = moved;
    return SDMM_OK;
}
}  // namespace

sdmm_status resize(sdmm_heap *heap, const sdmm_block *block, uint64_t new_len, sdmm_block *out) {
    if (out == nullptr) return SDMM_ERR_INVALID_BLOCK;
    if (!heap_ok(heap)) return fail(out, SDMM_ERR_INVALID_HEAP);
    Bounds b;
    if (!load_bounds(heap, &b)) return fail(out, SDMM_ERR_CORRUPTED);
    Live blk;
    const sdmm_status status = locate_block(heap, b, block, &blk, SDMM_ERR_STALE_HANDLE);
    if (status != SDMM_OK) return fail(out, status);
    return resize_located(heap, b, blk, new_len, out);
}

sdmm_status resize_pointer(sdmm_heap *heap, const void *elements, uint32_t expected_tag, uint64_t new_len,
                           sdmm_block *out) {
    if (out == nullptr) return SDMM_ERR_INVALID_BLOCK;
    if (!heap_ok(heap)) return fail(out, SDMM_ERR_INVALID_HEAP);
    Bounds b;
    if (!load_bounds(heap, &b)) return fail(out, SDMM_ERR_CORRUPTED);
    Live blk;
    const sdmm_status status = locate_pointer(heap, b, elements, &blk);
    if (status != SDMM_OK) return fail(out, status);
    if ((blk.w1 & kTagMask) != expected_tag) return fail(out, SDMM_ERR_TAG_MISMATCH);
    return resize_located(heap, b, blk, new_len, out);
}

sdmm_status grow(sdmm_heap *heap, uint64_t new_len) {
    if (!heap_ok(heap)) return SDMM_ERR_INVALID_HEAP;
    Bounds b;
    if (!load_bounds(heap, &b)) return SDMM_ERR_CORRUPTED;
    const u64 reserve = reserve_of(get(heap, SDMM_FIELD(reserve_len)), b.len);
    Geometry g{};
    // The layout must be the one its reserve gives (as attach checks it).
    if (!recorded_geometry(heap, b.len, &g) || g.first_block != b.first || g.starts_map != b.map)
        return SDMM_ERR_CORRUPTED;
    const u64 target = new_len & ~u64{7};
    if (target > reserve) return SDMM_ERR_TOO_LARGE;
    if (target < b.len + kMinBlock) return SDMM_OK;  // nothing a block could use
    const u64 added = target - b.len;
    const u64 sentinel_w0 = load32(heap, b.sentinel);
    if ((sentinel_w0 & ~kPrevUsed) != kUsed) return SDMM_ERR_CORRUPTED;
    // The free block that ends at the old sentinel (the top) grows into the
    // new bytes; without one, the old sentinel's place starts a new top.
    const u64 top = get(heap, SDMM_FIELD(top));
    u64 top_off = b.sentinel, top_size = added, top_prev = sentinel_w0 & kPrevUsed;
    if (top == 0 && top_prev == 0) return SDMM_ERR_CORRUPTED;  // a free block there must be the top
    if (top != 0) {
        u64 size = 0;
        if (!free_block_ok(heap, b, top, &size) || top + size != b.sentinel || (sentinel_w0 & kPrevUsed) != 0)
            return SDMM_ERR_CORRUPTED;
        top_off = top;
        top_size = size + added;
        top_prev = load32(heap, top) & kPrevUsed;
    }
    // Every read is checked: write. The new sentinel first, then the top.
    const u64 sentinel = target - kHeader;
    store32(heap, sentinel, kUsed);  // size 0, the block before it free
    store32(heap, sentinel + 4, 0);
    store32(heap, top_off, top_size | top_prev);
    store32(heap, top_off + top_size - 4, top_size);
    Control &c = control(heap);
    c.top = static_cast<u32>(top_off);
    c.sentinel = static_cast<u32>(sentinel);
    c.seal = seal_of(target, b.first, b.map, get(heap, SDMM_FIELD(class_count)));
    c.arena_len = static_cast<u32>(target);
    return SDMM_OK;
}

sdmm_status trim(sdmm_heap *heap) {
    if (!heap_ok(heap)) return SDMM_ERR_INVALID_HEAP;
    Bounds b;
    if (!load_bounds(heap, &b)) return SDMM_ERR_CORRUPTED;
    return drain_caches(heap, b);
}

// ---- invariants and statistics (walks; not O(1)) ---------------------------------
//
// Both read only through checked offsets and bound every loop by the arena's
// size, whatever the arena holds.

sdmm_status check(const sdmm_heap *heap) {
    if (!heap_ok(heap)) return SDMM_ERR_INVALID_HEAP;
    const u64 arena_len = get(heap, SDMM_FIELD(arena_len));
    Geometry g{};
    if (!recorded_geometry(heap, arena_len, &g) ||
        get(heap, SDMM_FIELD(seal)) != seal_of(arena_len, g.first_block, g.starts_map, g.class_count) ||
        (get64(heap, SDMM_FIELD(salt)) & ~kSaltMask) != 0)
        return SDMM_ERR_CORRUPTED;
    const Bounds b{g.arena_len, g.first_block, g.sentinel, g.starts_map, g.class_count};
    const u64 sentinel_w0 = load32(heap, g.sentinel);
    if ((sentinel_w0 & ~kPrevUsed) != kUsed) return SDMM_ERR_CORRUPTED;
    const u64 top = get(heap, SDMM_FIELD(top));

    // 1. Walk the blocks in address order.
    u64 off = g.first_block;
    u64 prev_was_used = 1;  // the first block has no predecessor: PREV_USED
    u64 live_blocks = 0, live_bytes = 0, cached_blocks = 0, cached_bytes = 0, free_blocks = 0;
    while (off < g.sentinel) {
        const u64 w0 = load32(heap, off);
        const u64 size = w0 & ~kFlagBits;
        if (size < kMinBlock || size > g.sentinel - off) return SDMM_ERR_CORRUPTED;
        if (((w0 & kPrevUsed) != 0) != (prev_was_used != 0)) return SDMM_ERR_CORRUPTED;
        const bool used = (w0 & kUsed) != 0;
        const bool mapped = (load64(heap, map_word_at(g.starts_map, off)) & map_bit(off)) != 0;
        if (mapped != used) return SDMM_ERR_CORRUPTED;
        const u64 w1 = used ? load32(heap, off + 4) : 0;
        if (used && w1 == 0) {
            if ((w0 & kClaimed) != 0) return SDMM_ERR_CORRUPTED;
            cached_blocks += 1;  // must be in a cache (checked below)
            cached_bytes += size;
        } else if (used) {
            const u64 tag = w1 & kTagMask;
            const u64 tail = (w1 >> kTailShift) & 0xF;
            if (tag == SDMM_TAG_NONE || tag >= SDMM_TAG_COUNT || (w1 & kGenerationMask) == 0 ||
                tail > size - kHeader - 1)
                return SDMM_ERR_CORRUPTED;
            live_blocks += 1;
            live_bytes += size;
        } else {
            if (!prev_was_used || (w0 & kClaimed) != 0) return SDMM_ERR_CORRUPTED;  // two free neighbours
            // The free block that ends at the sentinel is the top, and only it.
            if ((off + size == g.sentinel) != (off == top)) return SDMM_ERR_CORRUPTED;
            if (load32(heap, off + size - 4) != size) return SDMM_ERR_CORRUPTED;
            free_blocks += 1;
        }
        prev_was_used = used ? 1 : 0;
        off += size;
    }
    if (off != g.sentinel || ((sentinel_w0 & kPrevUsed) != 0) != (prev_was_used != 0))
        return SDMM_ERR_CORRUPTED;
    if (live_blocks + cached_blocks != get64(heap, SDMM_FIELD(live_blocks)) ||
        live_bytes + cached_bytes != get64(heap, SDMM_FIELD(allocated)))
        return SDMM_ERR_CORRUPTED;

    // 2. The start map has no bit but at live and cached block starts.
    u64 map_bits = 0;
    for (u64 at = g.starts_map; at < g.first_block; at += 8)
        map_bits += static_cast<u64>(__builtin_popcountll(load64(heap, at)));
    if (map_bits != live_blocks + cached_blocks) return SDMM_ERR_CORRUPTED;

    // 3. Every cache: exact size, used and cached, no more than counted.
    const u64 account = get64(heap, SDMM_FIELD(cache_account));
    const u64 cached = account >> 32;
    if (cached > kCacheLimit || (account & 0xFFFFFFFFu) != cached_bytes)
        return SDMM_ERR_CORRUPTED;  // also bounds the walk below
    u64 seen = 0;
    for (u64 i = 0; i < kCacheSizes; ++i) {
        const u64 need = (i + 2) << 3;
        for (u64 at = load32(heap, SDMM_FIELD(cache_head) + (i << 2)); at != 0; at = load32(heap, at + 8)) {
            if (!in_blocks(b, at) || need > g.sentinel - at ||
                (load32(heap, at) & ~kPrevUsed) != (need | kUsed) || load32(heap, at + 4) != 0 ||
                ++seen > cached)
                return SDMM_ERR_CORRUPTED;
        }
    }
    if (seen != cached || cached != cached_blocks || cached > kCacheLimit) return SDMM_ERR_CORRUPTED;

    // 4. Every free list: right class, consistent links, bounded length.
    u64 listed = 0;
    for (u64 cls = 0; cls < kMaxClasses; ++cls) {
        const bool marked = ((get64(heap, SDMM_FIELD(nonempty) + ((cls >> 6) << 3)) >> (cls & 63)) & 1) != 0;
        const u64 head = cls < g.class_count ? load32(heap, head_offset(cls)) : 0;
        if (marked != (head != 0)) return SDMM_ERR_CORRUPTED;
        u64 prev = 0;
        for (u64 at = head; at != 0; at = load32(heap, at + 4)) {
            u64 size = 0;
            if (!free_block_ok(heap, b, at, &size) || load32(heap, at + 8) != prev || class_of(size) != cls ||
                at == top || ++listed > free_blocks)
                return SDMM_ERR_CORRUPTED;
            prev = at;
        }
    }
    if (listed + (top != 0 ? 1 : 0) != free_blocks) return SDMM_ERR_CORRUPTED;
    return SDMM_OK;
}

namespace {
// Bytes in live blocks: cached blocks count as taken in the control block;
// here they are free.
u64 live_bytes(const sdmm_heap *heap) {
    return get64(heap, SDMM_FIELD(allocated)) - (get64(heap, SDMM_FIELD(cache_account)) & 0xFFFFFFFFu);
}

// The figures the control block keeps (O(1)), for counters() and stats().
void put_counters(const sdmm_heap *heap, const Bounds &b, sdmm_stats *out) {
    out->capacity = b.sentinel - b.first;
    const u64 account = get64(heap, SDMM_FIELD(cache_account));
    out->allocated = live_bytes(heap);
    out->peak_allocated = get64(heap, SDMM_FIELD(peak_allocated));
    out->live_blocks = get64(heap, SDMM_FIELD(live_blocks)) - (account >> 32);
    out->oom_count = get64(heap, SDMM_FIELD(oom_count));
    out->control_bytes = b.first + kHeader;  // the sentinel is overhead too
}
}  // namespace

void counters(const sdmm_heap *heap, sdmm_stats *out) {
    if (out == nullptr) return;
    *out = sdmm_stats{};
    if (!heap_ok(heap)) return;
    Bounds b;
    if (load_bounds(heap, &b)) put_counters(heap, b, out);
}

uint64_t allocated(const sdmm_heap *heap) { return heap_ok(heap) ? live_bytes(heap) : 0; }

bool next_block(const sdmm_heap *heap, uint64_t *cursor, sdmm_block_info *out) {
    if (cursor == nullptr || out == nullptr) return false;
    *out = sdmm_block_info{};
    if (!heap_ok(heap)) return false;
    Bounds b;
    if (!load_bounds(heap, &b)) return false;
    const u64 off = *cursor == 0 ? b.first : *cursor;
    if (off < b.first || off >= b.sentinel || (off & 7) != 0) return false;
    const u64 w0 = load32(heap, off);
    const u64 size = w0 & ~kFlagBits;
    if (size < kMinBlock || size > b.sentinel - off) return false;
    out->offset = off;
    out->bytes = size;
    if ((w0 & kUsed) != 0) {
        const u64 w1 = load32(heap, off + 4);
        if ((w1 & kGenerationMask) == 0) {
            out->state = SDMM_BLOCK_CACHED;
        } else {
            const Live blk{off, w0, w1, size};
            if (!tail_ok(blk)) return false;
            out->state = SDMM_BLOCK_LIVE;
            out->tag = static_cast<u32>(w1 & kTagMask);
            out->len = elements_of(blk);
            out->handle = handle_of(heap, blk);
            out->claimed = (w0 & kClaimed) != 0 ? 1 : 0;
        }
    } else {
        out->state = SDMM_BLOCK_FREE;
    }
    *cursor = off + size;
    return true;
}

void stats(const sdmm_heap *heap, sdmm_stats *out) {
    if (out == nullptr) return;
    *out = sdmm_stats{};
    if (!heap_ok(heap)) return;
    Bounds b;
    if (!load_bounds(heap, &b)) return;
    put_counters(heap, b, out);
    const u64 block_limit = out->capacity / kMinBlock;
    const u64 top = get(heap, SDMM_FIELD(top));
    u64 size = 0;
    if (top != 0 && free_block_ok(heap, b, top, &size)) {
        out->free_blocks = 1;
        out->largest_free = size - kHeader;
    }
    const u64 class_count = load_classes(heap, &b) ? b.classes : 0;
    for (u64 cls = 0; cls < class_count && cls < kMaxClasses; ++cls) {
        for (u64 at = load32(heap, head_offset(cls)); at != 0 && out->free_blocks <= block_limit;
             at = load32(heap, at + 4)) {
            if (!free_block_ok(heap, b, at, &size)) break;
            out->free_blocks += 1;
            if (size - kHeader > out->largest_free) out->largest_free = size - kHeader;
        }
    }
    // Cached blocks are free memory too: counted, and an allocation of their
    // size gets them.
    u64 seen = 0;
    for (u64 i = 0; i < kCacheSizes; ++i) {
        for (u64 at = load32(heap, SDMM_FIELD(cache_head) + (i << 2)); at != 0 && seen < kCacheLimit;
             at = load32(heap, at + 8)) {
            if (!in_blocks(b, at)) break;
            seen += 1;
            if ((i + 1) * kGranule > out->largest_free) out->largest_free = (i + 1) * kGranule;
        }
    }
    out->free_blocks += seen;
}

}  // namespace sdmm::core
