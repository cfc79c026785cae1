// runtime.cpp -- the host runtime of sdmm: arenas over mmap, one heap per
// thread, remote frees, large blocks, fork and thread exit (host/README.md).
//
// The core (cpp/core/heap.cpp) manages one arena for one thread and calls
// nothing; everything that needs the operating system is here, behind the C
// contract of ffi/sdmm.h only.
//
// Address space is cut in slots of kSlotBytes (64 MiB), each aligned to its
// size. An arena is one slot: [Arena record | state map | sdmm arena ...],
// the rest of the slot stays reserved (PROT_NONE). A large block is one or
// more slots mapped on their own. One table, indexed by address >> 26, says
// what each slot is, so a pointer finds its arena with a shift and one load,
// and a pointer in no slot of ours is foreign.
#include "sdmm_host.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>

namespace sdmm::host {
namespace {

constexpr unsigned kSlotShift = 26;
constexpr uintptr_t kSlotBytes = uintptr_t{1} << kSlotShift;
constexpr unsigned kAddressBits = 47;
constexpr size_t kSlotCount = size_t{1} << (kAddressBits - kSlotShift);
constexpr size_t kPage = 4096;
constexpr size_t kLargeBytes = SDMM_HOST_LARGE_BYTES;

// Slot table entries: a record address (64-aligned) or a pointer (16-aligned)
// with the kind in the low bits.
enum : uintptr_t { kSlotArena = 1, kSlotLarge = 2, kSlotFreedLarge = 3, kKindMask = 15 };
std::atomic<uintptr_t> g_slots[kSlotCount];

// Arena sizes: a thread starts small (the core clears len/64 bytes of start
// map at init, so a small first arena keeps small programs small) and takes
// bigger ones as it needs them.
constexpr size_t kArenaRecordBytes = 256;
constexpr size_t kFirstArenaBytes = size_t{4} << 20;
constexpr size_t kSecondArenaBytes = size_t{16} << 20;
// The largest arena that fits a slot with its record and state map.
constexpr size_t kMaxArenaBytes = SDMM_DEFAULT_HEAP_BYTES;
static_assert(kArenaRecordBytes + kMaxArenaBytes / 64 + 64 + kMaxArenaBytes + kPage <= kSlotBytes,
              "an arena fits its slot");
static_assert(kLargeBytes * 2 <= kFirstArenaBytes, "every arena can hold a block below the large threshold");

constexpr uint64_t kLargeMagic = 0x4C47524D4D445353ull;  // "SSDMMRGL"
constexpr size_t kMetaChunk = size_t{64} << 10;          // ThreadHeap records are carved from these

struct ThreadHeap;

struct Arena {
    sdmm_heap *heap;
    uint8_t *mem;       // the sdmm arena
    size_t len;         // its length as given to sdmm_heap_init
    uintptr_t lo, hi;   // where block elements can be: [lo, hi)
    uint64_t *state;    // two bits per 16 bytes of the arena: the malloc state of a block starting there
    ThreadHeap *owner;  // fixed for the arena's life
    Arena *next;        // the owner's arenas
    int64_t live;       // malloc blocks live in it (owner thread only)
    uintptr_t slot;     // slot base
    size_t mapped;      // bytes of the slot made accessible
    bool typed;         // sdmm_default_heap()'s arena (blocks are not counted)
    bool released;      // pages given back; initialised again before its next use
};
static_assert(sizeof(Arena) <= kArenaRecordBytes, "the record fits its place");

struct Large {
    uint64_t magic;
    uintptr_t base;  // the mapping
    size_t mapped;   // its bytes
    void *ptr;       // the block
    size_t usable;   // bytes from ptr to the end of the mapping
};

enum : int { kOwned = 1, kAbandoned = 2, kOrphaned = 3 };

struct Counters {
    uint64_t mallocs, frees, remote_frees, large_allocs, arenas, arena_releases;
};

// Block sizes. The runtime asks the core for blocks whose size (elements +
// the 8-byte header) is a multiple of 16 (see arena_create); above 1 KiB and
// up to 4 KiB it rounds further, to 8 sizes per doubling (at most 12.5 %
// more), so freed blocks of nearby sizes share a front-cache list.
constexpr size_t kFrontMaxBlock = 4096;
constexpr size_t kFrontMaxRequest = kFrontMaxBlock - SDMM_BLOCK_HEADER_BYTES;
constexpr size_t block_for(size_t n) {
    size_t b = n <= 8 ? 16 : (n + SDMM_BLOCK_HEADER_BYTES + 15) & ~size_t{15};
    if (b > 1024 && b <= kFrontMaxBlock) {
        const size_t step = b > 2048 ? 256 : 128;
        b = (b + step - 1) & ~(step - 1);
    }
    return b;
}
// Element bytes asked of the core for a request of n bytes.
constexpr size_t fit16(size_t n) { return block_for(n) - SDMM_BLOCK_HEADER_BYTES; }

// The front cache: blocks the program freed, kept per block size (16..1024
// bytes in steps of 16, then the rounded sizes up to 4 KiB) and handed out
// again without a call into the core. To the core they stay live; to the
// runtime they are freed (state map), so a second free of one is still a
// double free.
constexpr size_t kFrontClasses = 81;
// The list of a block size; 0 for a size no list keeps.
constexpr size_t front_index(size_t b) {
    if (b <= 1024) return (b & 15) == 0 ? b >> 4 : 0;
    if (b <= 2048) return (b & 127) == 0 ? 64 + ((b - 1024) >> 7) : 0;
    if (b <= kFrontMaxBlock) return (b & 255) == 0 ? 72 + ((b - 2048) >> 8) : 0;
    return 0;
}
static_assert(front_index(kFrontMaxBlock) == kFrontClasses - 1 && front_index(block_for(1000)) == 63 &&
                  front_index(block_for(1017)) == 65 && front_index(1040) == 0,
              "front-cache lists cover the rounded sizes");
struct Front {
    void *head;  // linked through the blocks' first word
    uint32_t count;
    uint32_t limit;   // 0: not grown yet (the base limit)
    uint64_t misses;  // allocations of this size the cache could not serve
};
// How many blocks each size keeps: about 16 KiB of them (at least 8) at
// first. A size whose cache overflows after at least as many misses as it
// holds (bursts: a tree built, then dropped) doubles its limit, up to
// 1 MiB of blocks; returning the cache to the core resets it.
struct FrontLimits {
    uint32_t base[kFrontClasses];
    uint32_t cap[kFrontClasses];
};
constexpr FrontLimits make_front_limits() {
    FrontLimits l{};
    for (size_t b = 16; b <= kFrontMaxBlock; b += 16) {
        const size_t c = front_index(b);
        if (c == 0) continue;
        const size_t n = (size_t{16} << 10) / b;
        l.base[c] = static_cast<uint32_t>(n < 8 ? 8 : n);
        const size_t m = (size_t{1} << 20) / b;
        l.cap[c] = static_cast<uint32_t>(m < l.base[c] ? l.base[c] : m);
    }
    return l;
}
constexpr FrontLimits kFrontLimit = make_front_limits();

struct alignas(64) ThreadHeap {
    // Blocks other threads freed, linked through their first word: the next
    // node's address in bits 0-55, the block's tag in bits 56-63.
    std::atomic<uintptr_t> remote;
    alignas(64) Arena *current;
    Arena *arenas;
    Arena *typed;
    size_t arena_count;
    std::atomic<int> state;
    ThreadHeap *next_all;
    ThreadHeap *next_abandoned;
    Counters count;
    Front front[kFrontClasses];
};

// ---- process-wide state (the lock guards heap lists and slot reservation) ----

pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
ThreadHeap *g_all_heaps = nullptr;
ThreadHeap *g_abandoned = nullptr;
uint8_t *g_meta_next = nullptr;  // bump region for ThreadHeap records
size_t g_meta_left = 0;
pthread_key_t g_key;
bool g_key_ready = false;
std::atomic<bool> g_atfork_done{false};
std::atomic<uint64_t> g_heaps{0}, g_adoptions{0}, g_mapped{0}, g_peak_mapped{0}, g_mmap_failures{0};
std::atomic<uint64_t> g_large_frees{0};
std::atomic<uintptr_t> g_hint{0};
// Freed slot ranges kept reserved (PROT_NONE) for reuse: no mapping of
// someone else can land in them meanwhile.
struct Range {
    uintptr_t base;
    size_t slots;
};
constexpr size_t kSpareRanges = 32;
Range g_spare[kSpareRanges];
size_t g_spare_count = 0;

[[gnu::tls_model("initial-exec")]] constinit thread_local ThreadHeap *tl_heap = nullptr;

inline size_t round_up(size_t n, size_t to) { return (n + to - 1) & ~(to - 1); }

void note_mapped(int64_t delta) {
    const uint64_t now = g_mapped.fetch_add(static_cast<uint64_t>(delta), std::memory_order_relaxed) +
                         static_cast<uint64_t>(delta);
    uint64_t peak = g_peak_mapped.load(std::memory_order_relaxed);
    while (now > peak && !g_peak_mapped.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
}

// ---- one clear line, then abort (no allocation) ------------------------------

size_t put(char *buf, size_t at, size_t cap, const char *s) {
    while (*s != '\0' && at + 1 < cap) buf[at++] = *s++;
    return at;
}

size_t put_hex(char *buf, size_t at, size_t cap, uintptr_t v) {
    char digits[2 + 16];
    size_t n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v != 0);
    at = put(buf, at, cap, "0x");
    while (n > 0 && at + 1 < cap) buf[at++] = digits[--n];
    return at;
}

size_t put_dec(char *buf, size_t at, size_t cap, uint64_t v) {
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0 && at + 1 < cap) buf[at++] = digits[--n];
    return at;
}

void write_all(int fd, const char *buf, size_t n) {
    while (n > 0) {
        const ssize_t w = write(fd, buf, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR) continue;
            return;
        }
        buf += w;
        n -= static_cast<size_t>(w);
    }
}

[[noreturn]] void die(const char *fn, const void *p, const char *mistake) {
    char line[320];
    size_t n = put(line, 0, sizeof line, "sdmm: ");
    n = put(line, n, sizeof line, fn);
    n = put(line, n, sizeof line, "(");
    n = put_hex(line, n, sizeof line, reinterpret_cast<uintptr_t>(p));
    n = put(line, n, sizeof line, "): ");
    n = put(line, n, sizeof line, mistake);
    line[n++] = '\n';
    write_all(2, line, n);
    abort();
}

// ---- address space -------------------------------------------------------------

void *map_at(uintptr_t hint, size_t bytes, int prot) {
    void *p =
        mmap(reinterpret_cast<void *>(hint), bytes, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
}

// `slots` consecutive slots, reserved (PROT_NONE), or 0. Takes a spare
// range first, then asks at a hint (one call when the kernel agrees), then
// over-reserves and trims.
uintptr_t reserve_slots(size_t slots) {
    const size_t bytes = slots << kSlotShift;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_spare_count; ++i) {
        if (g_spare[i].slots != slots) continue;
        const uintptr_t base = g_spare[i].base;
        g_spare[i] = g_spare[--g_spare_count];
        pthread_mutex_unlock(&g_lock);
        return base;
    }
    pthread_mutex_unlock(&g_lock);
    uintptr_t hint = g_hint.load(std::memory_order_relaxed);
    if (hint == 0) {
        // 16 TiB up, plus a per-process random offset of up to 4 TiB.
        uint64_t seed = reinterpret_cast<uintptr_t>(&hint) ^ static_cast<uint64_t>(getpid());
#if defined(__x86_64__)
        seed ^= __builtin_ia32_rdtsc();
#endif
        seed = (seed ^ (seed >> 31)) * 0x9E3779B97F4A7C15ull;
        const uintptr_t start = (uintptr_t{1} << 44) + ((seed >> 40) & 0xFFFF) * kSlotBytes;
        uintptr_t expected = 0;
        g_hint.compare_exchange_strong(expected, start);
        hint = g_hint.load(std::memory_order_relaxed);
    }
    hint = g_hint.fetch_add(bytes, std::memory_order_relaxed);
    void *p = nullptr;
    if (hint + bytes < (uintptr_t{1} << kAddressBits)) p = map_at(hint, bytes, PROT_NONE);
    auto at = reinterpret_cast<uintptr_t>(p);
    if (p != nullptr && (at & (kSlotBytes - 1)) == 0 && at + bytes <= (uintptr_t{1} << kAddressBits))
        return at;
    if (p != nullptr) munmap(p, bytes);
    p = map_at(0, bytes + kSlotBytes, PROT_NONE);
    if (p == nullptr) {
        g_mmap_failures.fetch_add(1, std::memory_order_relaxed);
        return 0;
    }
    at = reinterpret_cast<uintptr_t>(p);
    const uintptr_t base = round_up(at, kSlotBytes);
    if (base > at) munmap(p, base - at);
    const uintptr_t end = at + bytes + kSlotBytes;
    if (end > base + bytes) munmap(reinterpret_cast<void *>(base + bytes), end - base - bytes);
    if (base + bytes > (uintptr_t{1} << kAddressBits)) {
        munmap(reinterpret_cast<void *>(base), bytes);
        g_mmap_failures.fetch_add(1, std::memory_order_relaxed);
        return 0;
    }
    return base;
}

// Gives the pages of a range back and keeps it reserved (or unmaps it when
// enough ranges are spare).
void unreserve_slots(uintptr_t base, size_t slots) {
    const size_t bytes = slots << kSlotShift;
    pthread_mutex_lock(&g_lock);
    if (g_spare_count < kSpareRanges) {
        // Fresh PROT_NONE pages over the old ones: the memory goes back.
        if (mmap(reinterpret_cast<void *>(base), bytes, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) != MAP_FAILED) {
            g_spare[g_spare_count++] = Range{base, slots};
            pthread_mutex_unlock(&g_lock);
            return;
        }
    }
    pthread_mutex_unlock(&g_lock);
    munmap(reinterpret_cast<void *>(base), bytes);
}

inline size_t slot_index(uintptr_t p) { return p >> kSlotShift; }
inline uintptr_t slot_entry(uintptr_t p) {
    const size_t i = slot_index(p);
    return i < kSlotCount ? g_slots[i].load(std::memory_order_acquire) : 0;
}

// ---- arenas ----------------------------------------------------------------------

// Initialises (or re-initialises) the core heap of an arena. The layout was
// chosen at creation so that every block of a malloc arena starts its
// elements on 16 bytes (see arena_create).
bool arena_init(Arena *a, uint32_t flags) {
    sdmm_heap *heap = nullptr;
    if (sdmm_heap_init_flags(a->mem, a->len, flags, &heap) != SDMM_OK) return false;
    a->heap = heap;
    return true;
}

// The block area of a fresh heap: its first block's offset and capacity.
void block_area(const Arena *a, uint64_t *first, uint64_t *capacity) {
    sdmm_stats st;
    sdmm_heap_stats(a->heap, &st);
    *first = st.control_bytes - SDMM_BLOCK_HEADER_BYTES;  // stats count the sentinel as control
    *capacity = st.capacity;
}

// A new arena of about `len` bytes for `owner`, or nullptr.
//
// malloc must return 16-byte aligned memory; the core aligns blocks to 8.
// If the first block's elements start on 16 bytes and the block area is a
// multiple of 16, and every block the runtime asks for has a multiple of 16
// bytes (elements + the 8-byte header), then every split, merge and cached
// block keeps that, and every block starts its elements on 16 bytes without
// the aligned path. The arena start (shifted by 0 or 8) and length (less 0
// or 8) are chosen here for that.
Arena *arena_create(ThreadHeap *owner, size_t len, bool typed) {
    const uintptr_t slot = reserve_slots(1);
    if (slot == 0) return nullptr;
    const size_t state_bytes = typed ? 0 : round_up(len / 64 + 8, 64);
    const uintptr_t mem0 = slot + kArenaRecordBytes + state_bytes;  // 64-aligned
    const size_t mapped = round_up(mem0 + 16 + len - slot, kPage);
    if (mapped > kSlotBytes ||
        mprotect(reinterpret_cast<void *>(slot), mapped, PROT_READ | PROT_WRITE) != 0) {
        g_mmap_failures.fetch_add(1, std::memory_order_relaxed);
        unreserve_slots(slot, 1);
        return nullptr;
    }
    note_mapped(static_cast<int64_t>(mapped));
    auto *a = reinterpret_cast<Arena *>(slot);
    a->owner = owner;
    a->slot = slot;
    a->mapped = mapped;
    a->typed = typed;
    a->state = typed ? nullptr : reinterpret_cast<uint64_t *>(slot + kArenaRecordBytes);
    bool ok = false;
    uint32_t flags = SDMM_INIT_ZEROED;  // only the first try sees untouched memory
    for (int attempt = 0; attempt < 4 && !ok; ++attempt) {
        a->mem = reinterpret_cast<uint8_t *>(mem0 + ((attempt & 1) != 0 ? 8 : 0));
        a->len = len - ((attempt & 2) != 0 ? 8 : 0);
        if (!arena_init(a, flags)) break;
        flags = 0;
        uint64_t first = 0, capacity = 0;
        block_area(a, &first, &capacity);
        ok = typed || (((reinterpret_cast<uintptr_t>(a->mem) + first + SDMM_BLOCK_HEADER_BYTES) & 15) == 0 &&
                       (capacity & 15) == 0);
        a->lo = reinterpret_cast<uintptr_t>(a->mem) + first + SDMM_BLOCK_HEADER_BYTES;
        a->hi = reinterpret_cast<uintptr_t>(a->mem) + first + capacity;
    }
    if (!ok) die("sdmm_host", a->mem, "internal error: no arena layout keeps blocks 16-byte aligned");
    a->next = nullptr;
    a->live = 0;
    a->released = false;
    g_slots[slot_index(slot)].store(slot | kSlotArena, std::memory_order_release);
    owner->count.arenas += 1;
    return a;
}

// An empty malloc arena gives its pages back (it stays the owner's and is
// initialised again when next used: the pages read as zero then).
void arena_release(ThreadHeap *h, Arena *a) {
    const uintptr_t from = round_up(reinterpret_cast<uintptr_t>(a->state), kPage);
    const uintptr_t to = a->slot + a->mapped;
    if (to > from) madvise(reinterpret_cast<void *>(from), to - from, MADV_DONTNEED);
    // The state map's first page shares the record's page: clear what is in it.
    memset(a->state, 0, from - reinterpret_cast<uintptr_t>(a->state));
    a->released = true;
    h->count.arena_releases += 1;
}

inline bool arena_ready(Arena *a) {
    if (!a->released) return true;
    if (!arena_init(a, SDMM_INIT_ZEROED)) return false;
    a->released = false;
    return true;
}

// ---- thread heaps ------------------------------------------------------------------

void drain(ThreadHeap *h);
void flush_front(ThreadHeap *h);

void heap_exit(void *value) {
    auto *h = static_cast<ThreadHeap *>(value);
    if (h == nullptr) return;
    drain(h);
    flush_front(h);
    pthread_mutex_lock(&g_lock);
    h->state.store(kAbandoned, std::memory_order_relaxed);
    h->next_abandoned = g_abandoned;
    g_abandoned = h;
    pthread_mutex_unlock(&g_lock);
    if (tl_heap == h) tl_heap = nullptr;
}

void fork_prepare() { pthread_mutex_lock(&g_lock); }
void fork_parent() { pthread_mutex_unlock(&g_lock); }
// In the child only the forking thread runs. The other threads' heaps may
// have been mid-operation: they are never used again (their blocks stay
// allocated; frees of them are queued and never drained).
void fork_child() {
    pthread_mutex_init(&g_lock, nullptr);
    for (ThreadHeap *h = g_all_heaps; h != nullptr; h = h->next_all) {
        if (h != tl_heap && h->state.load(std::memory_order_relaxed) == kOwned)
            h->state.store(kOrphaned, std::memory_order_relaxed);
    }
}

[[gnu::noinline]] ThreadHeap *acquire_heap() {
    pthread_mutex_lock(&g_lock);
    if (!g_key_ready) {
        if (pthread_key_create(&g_key, heap_exit) != 0) {
            pthread_mutex_unlock(&g_lock);
            return nullptr;
        }
        g_key_ready = true;
    }
    ThreadHeap *h = g_abandoned;
    if (h != nullptr) {
        g_abandoned = h->next_abandoned;
        g_adoptions.fetch_add(1, std::memory_order_relaxed);
    } else {
        if (g_meta_left < sizeof(ThreadHeap)) {
            void *chunk = map_at(0, kMetaChunk, PROT_READ | PROT_WRITE);
            if (chunk == nullptr) {
                pthread_mutex_unlock(&g_lock);
                g_mmap_failures.fetch_add(1, std::memory_order_relaxed);
                return nullptr;
            }
            note_mapped(static_cast<int64_t>(kMetaChunk));
            g_meta_next = static_cast<uint8_t *>(chunk);
            g_meta_left = kMetaChunk;
        }
        h = reinterpret_cast<ThreadHeap *>(g_meta_next);  // fresh mapping: all zero
        g_meta_next += sizeof(ThreadHeap);
        g_meta_left -= sizeof(ThreadHeap);
        h->next_all = g_all_heaps;
        g_all_heaps = h;
        g_heaps.fetch_add(1, std::memory_order_relaxed);
    }
    h->state.store(kOwned, std::memory_order_relaxed);
    pthread_mutex_unlock(&g_lock);
    tl_heap = h;
    pthread_setspecific(g_key, h);  // may allocate (then from h)
    if (!g_atfork_done.exchange(true)) pthread_atfork(fork_prepare, fork_parent, fork_child);
    drain(h);
    return h;
}

inline ThreadHeap *my_heap() {
    ThreadHeap *h = tl_heap;
    return h != nullptr ? h : acquire_heap();
}

// ---- freeing ------------------------------------------------------------------------

// The malloc state of the 16 bytes at p: 0 never a block start (as far as
// malloc knows), kLive handed out, kFreed freed by the program (in the front
// cache or back in the core).
enum : uint64_t { kStateLive = 1, kStateFreed = 2 };
inline uint64_t &state_word(Arena *a, uintptr_t p, unsigned *shift) {
    const size_t g = (p - reinterpret_cast<uintptr_t>(a->mem)) >> 4;
    *shift = static_cast<unsigned>(g & 31) * 2;
    return a->state[g >> 5];
}
inline void set_live(Arena *a, uintptr_t p) {
    unsigned s = 0;
    uint64_t &w = state_word(a, p, &s);
    w = (w & ~(uint64_t{3} << s)) | (kStateLive << s);
}
inline uint64_t state_of(Arena *a, uintptr_t p) {
    unsigned s = 0;
    return (state_word(a, p, &s) >> s) & 3;
}
// The arena of a block known to be in one of ours: its record is at the
// slot's start.
inline Arena *arena_of_own(const void *p) {
    return reinterpret_cast<Arena *>(reinterpret_cast<uintptr_t>(p) & ~(kSlotBytes - 1));
}
// Bytes of the core block at p (8-byte header included), from its header
// (see front_check: used only when that layout was verified).
inline size_t block_size(const void *p) { return *(static_cast<const uint32_t *>(p) - 2) & ~uint32_t{7}; }

// The front cache relies on the core's block header keeping the block size
// (a multiple of 8) in its first 32-bit word, below 3 flag bits (README:
// "8-byte header: size and flags"). Checked once on real blocks; if the
// core ever lays it out otherwise, the front cache stays off.
std::atomic<int> g_front{0};  // 0: not checked, 1: on, 2: off
void front_check(Arena *a) {
    sdmm_block small, big;
    bool ok = sdmm_alloc_aligned_uninit_into(a->heap, 24, 8, &small) == SDMM_OK;
    ok = sdmm_alloc_aligned_uninit_into(a->heap, 1000, 8, &big) == SDMM_OK && ok;
    ok = ok && block_size(small.as.u8) == 32 && block_size(big.as.u8) == 1008;
    if (small.status == SDMM_OK) sdmm_free_ptr(a->heap, small.as.u8, SDMM_TAG_U8);
    if (big.status == SDMM_OK) sdmm_free_ptr(a->heap, big.as.u8, SDMM_TAG_U8);
    g_front.store(ok ? 1 : 2, std::memory_order_relaxed);
}

// The one line for a block the runtime or the core refused.
[[noreturn]] void refuse(const char *fn, Arena *a, const void *p, sdmm_status st) {
    const auto u = reinterpret_cast<uintptr_t>(p);
    if (st == SDMM_ERR_TAG_MISMATCH)
        die(fn, p, "block of another sdmm heap (a typed block of sdmm_default_heap), not of malloc");
    if (st == SDMM_ERR_CORRUPTED)
        die(fn, p, "heap metadata around the block is damaged (a write outside a block?)");
    if (a != nullptr && !a->typed && (u & 15) == 0 && u >= a->lo && u < a->hi &&
        state_of(a, u) == kStateFreed)
        die(fn, p, "double free (the block is already free)");
    die(fn, p, "invalid pointer: inside an sdmm arena but not the start of a live block (interior pointer)");
}

// A malloc block the program hands back, on its owner's thread: must be live
// (else the mistake is named); becomes freed. Returns its arena.
inline void take_live(Arena *a, void *p, const char *fn) {
    const auto u = reinterpret_cast<uintptr_t>(p);
    if (u < a->lo || u >= a->hi || (u & 15) != 0) refuse(fn, a, p, SDMM_ERR_INVALID_BLOCK);
    unsigned s = 0;
    uint64_t &w = state_word(a, u, &s);
    if (((w >> s) & 3) != kStateLive) refuse(fn, a, p, SDMM_ERR_INVALID_BLOCK);
    w ^= uint64_t{3} << s;  // live -> freed
}

// Gives a block back to its arena's core heap.
void to_core(ThreadHeap *h, Arena *a, void *p, const char *fn) {
    const sdmm_status st = sdmm_free_ptr(a->heap, p, SDMM_TAG_U8);
    if (st != SDMM_OK) refuse(fn, a, p, st);
    if (--a->live == 0 && a != h->current) arena_release(h, a);
}

// Frees a malloc block of an arena the calling thread owns: into the front
// cache if there is room for its size, else into the core.
inline void free_owned(ThreadHeap *h, Arena *a, void *p, const char *fn) {
    take_live(a, p, fn);
    h->count.frees += 1;
    if (g_front.load(std::memory_order_relaxed) == 1) {
        const size_t size = block_size(p);
        const size_t cls = front_index(size);
        if (cls != 0) {
            Front &f = h->front[cls];
            if (f.limit == 0) f.limit = kFrontLimit.base[cls];
            if (f.count >= f.limit && f.misses >= f.limit && f.limit < kFrontLimit.cap[cls]) {
                f.misses -= f.limit;
                f.limit *= 2;
            }
            if (f.count < f.limit) {
                *static_cast<void **>(p) = f.head;
                f.head = p;
                f.count += 1;
                return;
            }
        }
    }
    to_core(h, a, p, fn);
}

// Returns every block of the front cache to the core.
void flush_front(ThreadHeap *h) {
    for (Front &f : h->front) {
        while (f.head != nullptr) {
            void *p = f.head;
            f.head = *static_cast<void **>(p);
            to_core(h, arena_of_own(p), p, "free");
        }
        f.count = 0;
        f.limit = 0;
        f.misses = 0;
    }
}

// Frees a block of an arena the calling thread owns (malloc or typed).
void free_local(ThreadHeap *h, Arena *a, void *p, uint32_t tag, const char *fn) {
    if (!a->typed) {
        free_owned(h, a, p, fn);
        return;
    }
    const sdmm_status st = sdmm_free_ptr(a->heap, p, tag);
    if (st != SDMM_OK) refuse(fn, a, p, st);
    h->count.frees += 1;
}

void drain(ThreadHeap *h) {
    uintptr_t list = h->remote.exchange(0, std::memory_order_acquire);
    while (list != 0) {
        void *p = reinterpret_cast<void *>(list);
        const uint64_t word = *static_cast<const uint64_t *>(p);
        list = word & ((uint64_t{1} << 56) - 1);
        const auto tag = static_cast<uint32_t>(word >> 56);
        const uintptr_t e = slot_entry(reinterpret_cast<uintptr_t>(p));
        auto *a = reinterpret_cast<Arena *>(e & ~kKindMask);
        h->count.remote_frees += 1;
        free_local(h, a, p, tag, a->typed ? "sdmm_default_free" : "free");
    }
}

// Queues a block to its owner. The block must lie in the arena's block area
// at a possible element start; the owner checks the rest when it drains.
void free_remote(Arena *a, void *p, uint32_t tag, const char *fn) {
    const auto u = reinterpret_cast<uintptr_t>(p);
    if (u < a->lo || u >= a->hi || (u & (a->typed ? 7 : 15)) != 0)
        die(fn, p, "invalid pointer: inside an sdmm arena but not the start of a block (interior pointer)");
    ThreadHeap *owner = a->owner;
    uintptr_t head = owner->remote.load(std::memory_order_relaxed);
    do {
        *static_cast<uint64_t *>(p) = head | (uint64_t{tag} << 56);
    } while (
        !owner->remote.compare_exchange_weak(head, u, std::memory_order_release, std::memory_order_relaxed));
}

// ---- large blocks ------------------------------------------------------------------

// Freed large mappings kept with their pages, for the next large blocks
// (a program that allocates and frees big buffers in a loop would otherwise
// pay a mapping and a page fault per page each time). Bounded in count and
// bytes; the oldest goes back to the system first.
struct CachedLarge {
    uintptr_t base;
    size_t mapped;
};
constexpr size_t kLargeCacheEntries = 8;
constexpr size_t kLargeCacheBytes = size_t{32} << 20;
CachedLarge g_large_cache[kLargeCacheEntries];
size_t g_large_cached = 0;
size_t g_large_cached_bytes = 0;

inline size_t slots_of(size_t mapped) { return round_up(mapped, kSlotBytes) >> kSlotShift; }

// A cached mapping of at least `mapped` bytes (and not more than twice
// that), or 0.
uintptr_t large_from_cache(size_t mapped, size_t *got) {
    pthread_mutex_lock(&g_lock);
    size_t best = kLargeCacheEntries;
    for (size_t i = 0; i < g_large_cached; ++i) {
        const size_t m = g_large_cache[i].mapped;
        if (m >= mapped && m / 2 <= mapped && (best == kLargeCacheEntries || m < g_large_cache[best].mapped))
            best = i;
    }
    uintptr_t base = 0;
    if (best != kLargeCacheEntries) {
        base = g_large_cache[best].base;
        *got = g_large_cache[best].mapped;
        g_large_cached_bytes -= *got;
        for (size_t i = best + 1; i < g_large_cached; ++i) g_large_cache[i - 1] = g_large_cache[i];
        g_large_cached -= 1;
    }
    pthread_mutex_unlock(&g_lock);
    return base;
}

void *large_alloc(size_t n, size_t align, bool zero) {
    if (align > kSlotBytes) {  // slots are the largest alignment mappings get here
        errno = ENOMEM;
        return nullptr;
    }
    const size_t lead = round_up(sizeof(Large), align < 16 ? 16 : align);
    if (n > (size_t{1} << kAddressBits) - lead - kSlotBytes) {
        errno = ENOMEM;
        return nullptr;
    }
    size_t mapped = round_up(lead + n, kPage);
    uintptr_t base = large_from_cache(mapped, &mapped);
    const bool reused = base != 0;
    if (!reused) {
        base = reserve_slots(slots_of(mapped));
        if (base == 0 || mprotect(reinterpret_cast<void *>(base), mapped, PROT_READ | PROT_WRITE) != 0) {
            if (base != 0) unreserve_slots(base, slots_of(mapped));
            errno = ENOMEM;
            return nullptr;
        }
        note_mapped(static_cast<int64_t>(mapped));
    }
    auto *l = reinterpret_cast<Large *>(base);
    l->magic = kLargeMagic;
    l->base = base;
    l->mapped = mapped;
    l->ptr = reinterpret_cast<void *>(base + lead);
    l->usable = mapped - lead;
    if (reused && zero) memset(l->ptr, 0, n);  // fresh pages are zero already
    for (size_t i = 0; i < slots_of(mapped); ++i)
        g_slots[slot_index(base) + i].store(base | kSlotLarge, std::memory_order_release);
    ThreadHeap *h = tl_heap;
    if (h != nullptr) h->count.large_allocs += 1;
    return l->ptr;
}

void large_free(Large *l, void *p, const char *fn) {
    if (l->magic != kLargeMagic) die(fn, p, "heap metadata of a large block is damaged");
    if (p != l->ptr) die(fn, p, "invalid pointer: inside a large block but not its start (interior pointer)");
    const uintptr_t base = l->base;
    const size_t mapped = l->mapped;
    for (size_t i = 0; i < slots_of(mapped); ++i) {
        g_slots[slot_index(base) + i].store(reinterpret_cast<uintptr_t>(p) | kSlotFreedLarge,
                                            std::memory_order_release);
    }
    g_large_frees.fetch_add(1, std::memory_order_relaxed);
    CachedLarge evict{0, 0};
    bool kept = false;
    pthread_mutex_lock(&g_lock);
    if (mapped <= kLargeCacheBytes / 2) {
        if (g_large_cached == kLargeCacheEntries || g_large_cached_bytes + mapped > kLargeCacheBytes) {
            if (g_large_cached > 0) {  // the oldest makes room
                evict = g_large_cache[0];
                g_large_cached_bytes -= evict.mapped;
                for (size_t i = 1; i < g_large_cached; ++i) g_large_cache[i - 1] = g_large_cache[i];
                g_large_cached -= 1;
            }
        }
        if (g_large_cached < kLargeCacheEntries && g_large_cached_bytes + mapped <= kLargeCacheBytes) {
            g_large_cache[g_large_cached++] = CachedLarge{base, mapped};
            g_large_cached_bytes += mapped;
            kept = true;
        }
    }
    pthread_mutex_unlock(&g_lock);
    if (evict.base != 0) {
        note_mapped(-static_cast<int64_t>(evict.mapped));
        unreserve_slots(evict.base, slots_of(evict.mapped));
    }
    if (!kept) {
        note_mapped(-static_cast<int64_t>(mapped));
        unreserve_slots(base, slots_of(mapped));
    }
}

// Where a pointer handed back to free/realloc/... lives. Dies on a pointer
// that is in no arena or large block.
struct Where {
    Arena *arena;  // or
    Large *large;
};
Where locate(const void *p, const char *fn) {
    const uintptr_t e = slot_entry(reinterpret_cast<uintptr_t>(p));
    switch (e & kKindMask) {
        case kSlotArena:
            return Where{reinterpret_cast<Arena *>(e & ~kKindMask), nullptr};
        case kSlotLarge:
            return Where{nullptr, reinterpret_cast<Large *>(e & ~kKindMask)};
        case kSlotFreedLarge:
            if ((e & ~kKindMask) == reinterpret_cast<uintptr_t>(p))
                die(fn, p, "double free (the large block is already free)");
            break;
        default:
            break;
    }
    die(fn, p, "invalid pointer: not allocated by sdmm (foreign pointer)");
}

// ---- allocation ------------------------------------------------------------------------

inline bool try_arena(Arena *a, size_t bytes, size_t align, bool zero, sdmm_block *out) {
    if (!arena_ready(a)) return false;
    const sdmm_status st = zero ? sdmm_alloc_aligned_into(a->heap, bytes, align, out)
                                : sdmm_alloc_aligned_uninit_into(a->heap, bytes, align, out);
    return st == SDMM_OK;
}

// Every allocation the current arena could not serve.
[[gnu::noinline]] void *alloc_slow(ThreadHeap *h, size_t bytes, size_t align, bool zero) {
    sdmm_block b;
    Arena *found = nullptr;
    // The other arenas, newest first (at most 8 tries before a new arena).
    size_t tries = 0;
    for (Arena *a = h->arenas; a != nullptr && tries < 8; a = a->next) {
        if (a == h->current) continue;
        ++tries;
        if (try_arena(a, bytes, align, zero, &b)) {
            found = a;
            break;
        }
    }
    if (found == nullptr && h->current != nullptr) {
        // The front cache back into the core first: it may make the room.
        flush_front(h);
        if (try_arena(h->current, bytes, align, zero, &b)) found = h->current;
    }
    if (found == nullptr) {
        size_t len = h->arena_count == 0   ? kFirstArenaBytes
                     : h->arena_count == 1 ? kSecondArenaBytes
                                           : kMaxArenaBytes;
        Arena *a = arena_create(h, len, false);
        if (a != nullptr) {
            a->next = h->arenas;
            h->arenas = a;
            h->arena_count += 1;
            if (g_front.load(std::memory_order_relaxed) == 0) front_check(a);
            if (try_arena(a, bytes, align, zero, &b)) found = a;
        } else {
            // No new memory: every arena we have, however many.
            for (Arena *o = h->arenas; o != nullptr && found == nullptr; o = o->next)
                if (try_arena(o, bytes, align, zero, &b)) found = o;
        }
    }
    if (found == nullptr) {
        errno = ENOMEM;
        return nullptr;
    }
    h->current = found;
    found->live += 1;
    h->count.mallocs += 1;
    set_live(found, reinterpret_cast<uintptr_t>(b.as.u8));
    return b.as.u8;
}

inline void *alloc(size_t n, size_t align, bool zero) {
    ThreadHeap *h = my_heap();
    if (h == nullptr) {
        errno = ENOMEM;
        return nullptr;
    }
    if (h->remote.load(std::memory_order_relaxed) != 0) drain(h);
    if (n > kLargeBytes || align > kLargeBytes / 4) {
        void *p = large_alloc(n, align, zero);
        if (p != nullptr) h->count.mallocs += 1;
        return p;
    }
    const size_t bytes = fit16(n);
    if (n <= kFrontMaxRequest && align <= 16) {
        Front &f = h->front[front_index(bytes + SDMM_BLOCK_HEADER_BYTES)];
        void *p = f.head;
        if (p != nullptr) {
            void *next = *static_cast<void **>(p);
            f.head = next;
            f.count -= 1;
            __builtin_prefetch(next);  // the next pop's link
            set_live(arena_of_own(p), reinterpret_cast<uintptr_t>(p));
            h->count.mallocs += 1;
            if (zero) memset(p, 0, bytes);
            return p;
        }
        f.misses += 1;
    }
    // Alignments up to 16 come from the layout (arena_create); the core's
    // aligned path only for larger ones.
    const size_t core_align = align <= 16 ? 8 : align;
    Arena *a = h->current;
    sdmm_block b;
    if (a != nullptr && !a->released) {
        const sdmm_status st = zero ? sdmm_alloc_aligned_into(a->heap, bytes, core_align, &b)
                                    : sdmm_alloc_aligned_uninit_into(a->heap, bytes, core_align, &b);
        if (st == SDMM_OK) {
            a->live += 1;
            h->count.mallocs += 1;
            set_live(a, reinterpret_cast<uintptr_t>(b.as.u8));
            return b.as.u8;
        }
    }
    return alloc_slow(h, bytes, core_align, zero);
}

// Bytes a block holds, read from its header: for threads that do not own
// its arena (the size field of a live block's header does not change).
size_t block_bytes_unowned(const void *p) {
    const auto *hdr = static_cast<const uint32_t *>(p) - 2;
    const uint32_t w0 = __atomic_load_n(hdr, __ATOMIC_RELAXED);
    return (w0 & ~uint32_t{7}) - SDMM_BLOCK_HEADER_BYTES;
}

// ---- typed process heap ------------------------------------------------------------

Arena *typed_arena() {
    ThreadHeap *h = my_heap();
    if (h == nullptr) return nullptr;
    if (h->remote.load(std::memory_order_relaxed) != 0) drain(h);
    if (h->typed == nullptr) h->typed = arena_create(h, kMaxArenaBytes, true);
    return h->typed;
}

}  // namespace
}  // namespace sdmm::host

using sdmm::host::Arena;
using sdmm::host::die;

extern "C" {

sdmm_heap *sdmm_default_heap(void) {
    Arena *a = sdmm::host::typed_arena();
    return a != nullptr ? a->heap : nullptr;
}

sdmm_status sdmm_default_heap_arena(void **arena, size_t *len) {
    Arena *a = sdmm::host::typed_arena();
    if (a == nullptr) return SDMM_ERR_OUT_OF_MEMORY;
    if (arena != nullptr) *arena = a->mem;
    if (len != nullptr) *len = a->len;
    return SDMM_OK;
}

sdmm_status sdmm_default_free(const sdmm_block *block) {
    using namespace sdmm::host;
    if (block == nullptr || block->tag == SDMM_TAG_NONE || block->tag >= SDMM_TAG_COUNT)
        return SDMM_ERR_INVALID_BLOCK;
    const auto u = static_cast<uintptr_t>(block->as.raw);
    const uintptr_t e = slot_entry(u);
    if ((e & kKindMask) != kSlotArena) return SDMM_ERR_INVALID_BLOCK;
    auto *a = reinterpret_cast<Arena *>(e & ~kKindMask);
    if (!a->typed || u < a->lo || u >= a->hi || (u & 7) != 0) return SDMM_ERR_INVALID_BLOCK;
    ThreadHeap *h = tl_heap;
    if (a->owner == h) {
        const sdmm_status st = sdmm_free_ref(a->heap, block);
        if (st == SDMM_OK) h->count.frees += 1;
        return st;
    }
    free_remote(a, reinterpret_cast<void *>(u), block->tag, "sdmm_default_free");
    return SDMM_OK;
}

// ---- the malloc family -------------------------------------------------------------

void *sdmm_host_malloc(size_t size) { return sdmm::host::alloc(size, 16, false); }

void *sdmm_host_calloc(size_t count, size_t size) {
    size_t total = 0;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return nullptr;
    }
    return sdmm::host::alloc(total, 16, true);
}

void *sdmm_host_aligned_alloc(size_t align, size_t size) {
    if (align == 0 || (align & (align - 1)) != 0) {
        errno = EINVAL;
        return nullptr;
    }
    return sdmm::host::alloc(size, align, false);
}

void sdmm_host_free(void *ptr) {
    using namespace sdmm::host;
    if (ptr == nullptr) return;
    const Where w = locate(ptr, "free");
    if (w.large != nullptr) {
        large_free(w.large, ptr, "free");
        return;
    }
    Arena *a = w.arena;
    if (a->typed)
        die("free", ptr, "block of another sdmm heap (sdmm_default_heap's typed arena), not of malloc");
    ThreadHeap *h = tl_heap;
    if (a->owner == h) {
        free_owned(h, a, ptr, "free");
    } else {
        free_remote(a, ptr, SDMM_TAG_U8, "free");
    }
}

size_t sdmm_host_usable_size(const void *ptr) {
    using namespace sdmm::host;
    if (ptr == nullptr) return 0;
    const Where w = locate(ptr, "malloc_usable_size");
    if (w.large != nullptr) {
        if (ptr != w.large->ptr) die("malloc_usable_size", ptr, "invalid pointer: inside a large block");
        return w.large->usable;
    }
    Arena *a = w.arena;
    if (a->typed)
        die("malloc_usable_size", ptr, "block of another sdmm heap (sdmm_default_heap's typed arena)");
    if (a->owner != tl_heap) return block_bytes_unowned(ptr);
    const auto u = reinterpret_cast<uintptr_t>(ptr);
    if (u < a->lo || u >= a->hi || (u & 15) != 0 || state_of(a, u) != kStateLive)
        refuse("malloc_usable_size", a, ptr, SDMM_ERR_INVALID_BLOCK);
    sdmm_block b;
    const sdmm_status st = sdmm_block_from_ptr_into(a->heap, ptr, SDMM_TAG_U8, &b);
    if (st != SDMM_OK) refuse("malloc_usable_size", a, ptr, st);
    return b.len;
}

void *sdmm_host_realloc(void *ptr, size_t size) {
    using namespace sdmm::host;
    if (ptr == nullptr) return sdmm_host_malloc(size);
    if (size == 0) {
        sdmm_host_free(ptr);
        return nullptr;
    }
    const Where w = locate(ptr, "realloc");
    size_t old = 0;
    if (w.large != nullptr) {
        if (ptr != w.large->ptr)
            die("realloc", ptr, "invalid pointer: inside a large block but not its start");
        old = w.large->usable;
        if (size <= old && size > kLargeBytes / 2) return ptr;  // shrinks in place (pages stay)
    } else {
        Arena *a = w.arena;
        if (a->typed) die("realloc", ptr, "block of another sdmm heap (sdmm_default_heap's typed arena)");
        ThreadHeap *h = tl_heap;
        if (a->owner == h) {
            const auto u = reinterpret_cast<uintptr_t>(ptr);
            if (u < a->lo || u >= a->hi || (u & 15) != 0 || state_of(a, u) != kStateLive)
                refuse("realloc", a, ptr, SDMM_ERR_INVALID_BLOCK);
            sdmm_block b;
            sdmm_status st = sdmm_block_from_ptr_into(a->heap, ptr, SDMM_TAG_U8, &b);
            if (st != SDMM_OK) refuse("realloc", a, ptr, st);
            old = b.len;
            if (size <= kLargeBytes) {
                sdmm_block out;
                st = sdmm_resize_into(a->heap, &b, static_cast<uint32_t>(fit16(size)), &out);
                if (st == SDMM_OK) {
                    if (out.as.u8 != ptr) {
                        take_live(a, ptr, "realloc");
                        set_live(a, reinterpret_cast<uintptr_t>(out.as.u8));
                        h->count.mallocs += 1;
                        h->count.frees += 1;
                    }
                    return out.as.u8;
                }
                if (st != SDMM_ERR_OUT_OF_MEMORY && st != SDMM_ERR_TOO_LARGE) refuse("realloc", a, ptr, st);
            }
        } else {
            old = block_bytes_unowned(ptr);
        }
    }
    void *q = sdmm_host_malloc(size);
    if (q == nullptr) return nullptr;  // the old block stays
    memcpy(q, ptr, old < size ? old : size);
    sdmm_host_free(ptr);
    return q;
}

// ---- statistics -------------------------------------------------------------------

void sdmm_host_get_stats(sdmm_host_stats *out) {
    using namespace sdmm::host;
    if (out == nullptr) return;
    *out = sdmm_host_stats{};
    pthread_mutex_lock(&g_lock);
    for (ThreadHeap *h = g_all_heaps; h != nullptr; h = h->next_all) {
        const Counters c = h->count;  // owners may be counting meanwhile: a snapshot
        out->mallocs += c.mallocs;
        out->frees += c.frees;
        out->remote_frees += c.remote_frees;
        out->large_allocs += c.large_allocs;
        out->arenas += c.arenas;
        out->arena_releases += c.arena_releases;
    }
    pthread_mutex_unlock(&g_lock);
    out->frees += g_large_frees.load(std::memory_order_relaxed);
    out->heaps = g_heaps.load(std::memory_order_relaxed);
    out->heap_adoptions = g_adoptions.load(std::memory_order_relaxed);
    out->mapped_bytes = g_mapped.load(std::memory_order_relaxed);
    out->peak_mapped_bytes = g_peak_mapped.load(std::memory_order_relaxed);
    out->mmap_failures = g_mmap_failures.load(std::memory_order_relaxed);
}

void sdmm_host_print_stats(int fd) {
    using namespace sdmm::host;
    sdmm_host_stats s;
    sdmm_host_get_stats(&s);
    char buf[1024];
    size_t n = 0;
    const struct {
        const char *name;
        uint64_t value;
    } rows[] = {
        {"mallocs", s.mallocs},
        {"frees", s.frees},
        {"remote_frees", s.remote_frees},
        {"large_allocs", s.large_allocs},
        {"arenas", s.arenas},
        {"arena_releases", s.arena_releases},
        {"heaps", s.heaps},
        {"heap_adoptions", s.heap_adoptions},
        {"mapped_bytes", s.mapped_bytes},
        {"peak_mapped_bytes", s.peak_mapped_bytes},
        {"mmap_failures", s.mmap_failures},
    };
    n = put(buf, n, sizeof buf, "sdmm stats:");
    for (const auto &r : rows) {
        n = put(buf, n, sizeof buf, " ");
        n = put(buf, n, sizeof buf, r.name);
        n = put(buf, n, sizeof buf, "=");
        n = put_dec(buf, n, sizeof buf, r.value);
    }
    buf[n++] = '\n';
    write_all(fd, buf, n);
}

}  // extern "C"
