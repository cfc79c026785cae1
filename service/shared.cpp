// shared.cpp -- sdmm heaps shared by processes (ffi/sdmm_shared.h).
//
// Segment layout (offsets from the mapping start; ffi/sdmm_shared_layout.h,
// service/README.md):
//
//   [Header | state: counters | owners[max/8] | arena (room: max) | checkpoint of state | log]
//
//  Header      magic, geometry, the robust mutex, the client table, the
//              journal words (log length, pending entry, checkpoint flag).
//  state       everything a mutating call changes: per-client bytes used and
//              the arena's current length, one owner byte per 8-byte granule
//              of the arena (client + 1, 0: none) and the sdmm arena itself
//              (an ordinary sdmm heap, laid out to grow to max).
//  checkpoint  a copy of the state taken when the log was empty.
//  log         one entry per mutating call since the checkpoint: the call,
//              its arguments, its result.
//
// Recovery. The core's calls are deterministic functions of the arena bytes
// (no clock, no address in alloc/free/resize/resolve), so the state after
// the k logged calls is the checkpoint with those calls replayed. A client
// killed inside a call leaves `pending` = its entry + 1. The next locker
// replays the committed entries on a private copy of the checkpoint, then
// writes that copy's metadata -- everything but the elements of live blocks
// -- over the live arena. The interrupted call is rolled back; the element
// bytes it may have overwritten (a free or resize writes links into the
// block) were saved in its entry and are put back.
#include <sdmm_shared.h>
#include <sdmm_shared_layout.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace {

using u8 = uint8_t;
using u32 = uint32_t;
using u64 = uint64_t;

// The segment's layout is public (ffi/sdmm_shared_layout.h: the `sdmm` tool
// reads it too); these are its names here.
using Header = sdmm_shm_header;
using Client = sdmm_shm_client;
using Entry = sdmm_shm_entry;
using Geometry = sdmm_shm_geometry;
using State = sdmm_shm_state;

constexpr char kMagic[8] = {'S', 'D', 'M', 'M', 'S', 'H', 'M', '1'};
constexpr u32 kVersion = SDMM_SHM_VERSION;
constexpr u64 kPage = SDMM_SHM_PAGE;
constexpr u32 kMaxClients = SDMM_SHARED_MAX_CLIENTS;
constexpr u64 kWindow = SDMM_SHM_WINDOW_BYTES;  // bytes of a block saved per window before a free or resize
constexpr u32 kWindows = SDMM_SHM_WINDOWS;

static_assert(sizeof kMagic == sizeof(SDMM_SHM_MAGIC) - 1 && SDMM_SHM_CLIENTS == kMaxClients);
static_assert(sizeof(pthread_mutex_t) <= SDMM_SHM_LOCK_BYTES &&
              offsetof(Header, lock) % alignof(pthread_mutex_t) == 0);

enum : u32 { kSlotFree = SDMM_SHM_SLOT_FREE, kSlotLive = SDMM_SHM_SLOT_LIVE };
enum : u8 {
    kOpAlloc = SDMM_SHM_OP_ALLOC,
    kOpFree = SDMM_SHM_OP_FREE,
    kOpResize = SDMM_SHM_OP_RESIZE,
    kOpGrow = SDMM_SHM_OP_GROW
};

// The header's atomic words are plain integers in the C layout; every access
// to them goes through these.
template <class T>
T load_acquire(T &v) {
    return std::atomic_ref<T>(v).load(std::memory_order_acquire);
}
template <class T>
T load_relaxed(T &v) {
    return std::atomic_ref<T>(v).load(std::memory_order_relaxed);
}
template <class T>
void store_release(T &v, T x) {
    std::atomic_ref<T>(v).store(x, std::memory_order_release);
}
template <class T>
void store_relaxed(T &v, T x) {
    std::atomic_ref<T>(v).store(x, std::memory_order_relaxed);
}

pthread_mutex_t *mutex_of(Header *h) { return reinterpret_cast<pthread_mutex_t *>(h->lock); }

u64 round_up(u64 v, u64 a) { return (v + a - 1) / a * a; }

void read_boot_id(char out[40]) {
    std::memset(out, 0, 40);
    FILE *f = std::fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f == nullptr) return;
    if (std::fgets(out, 40, f) == nullptr) out[0] = 0;
    std::fclose(f);
}

// Field 22 of /proc/PID/stat: the start time, which tells a reused pid apart.
u64 process_start_time(int pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = std::fopen(path, "r");
    if (f == nullptr) return 0;
    char buf[1024];
    const size_t got = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[got] = 0;
    const char *p = std::strrchr(buf, ')');  // the command name may hold spaces
    if (p == nullptr) return 0;
    int field = 2;
    for (; *p != 0 && field < 22; ++p) {
        if (*p == ' ') ++field;
    }
    return std::strtoull(p, nullptr, 10);
}

bool process_alive(int pid, u64 start_time) {
    if (pid <= 0) return false;
    if (kill(pid, 0) != 0 && errno == ESRCH) return false;
    const u64 now = process_start_time(pid);
    return now == 0 || start_time == 0 || now == start_time;
}

u64 charge(u32 tag, u64 n) { return sdmm_shm_charge(n * sdmm_tag_size(tag)); }

// The mutable state of one heap, at some address (the live mapping, or a
// private copy for replay).
struct View {
    State *state;
    u64 *usage;  // state->usage
    u8 *owners;
    u8 *arena;
    sdmm_heap *heap;
};

u64 element_offset(const View &v, const sdmm_block &b) {
    return b.as.raw - reinterpret_cast<uintptr_t>(v.arena);
}

// One mutating call on a view. The same code runs live and in replay, so a
// replay reproduces the live results exactly.
void apply(View &v, Entry &e) {
    sdmm_block b{};
    e.result = 0;
    if (e.op == kOpGrow) {
        e.status = sdmm_heap_grow(v.heap, e.n);
        if (e.status == SDMM_OK) v.state->arena_bytes = e.n;
        return;
    }
    if (e.op == kOpAlloc) {
        e.status = sdmm_alloc_tagged_into(v.heap, e.tag, e.n, &b);
        if (e.status != SDMM_OK) return;
        v.owners[element_offset(v, b) / 8] = static_cast<u8>(e.owner + 1);
        v.usage[e.owner] += charge(e.tag, e.n);
        e.result = b.handle;
        return;
    }
    e.status = sdmm_resolve_into(v.heap, e.handle, e.tag, &b);
    if (e.status != SDMM_OK) return;
    const u64 off = element_offset(v, b);
    const u64 old_charge = charge(b.tag, b.len);
    if (e.op == kOpFree) {
        e.status = sdmm_free_handle(v.heap, e.handle, e.tag);
        if (e.status != SDMM_OK) return;
        v.owners[off / 8] = 0;
        v.usage[e.owner] -= old_charge;
        return;
    }
    sdmm_block nb{};
    e.status = sdmm_resize_into(v.heap, &b, e.n, &nb);
    if (e.status != SDMM_OK) return;
    v.owners[off / 8] = 0;
    v.owners[element_offset(v, nb) / 8] = static_cast<u8>(e.owner + 1);
    v.usage[e.owner] = v.usage[e.owner] - old_charge + charge(e.tag, e.n);
    e.result = nb.handle;
}

}  // namespace

struct sdmm_shared {
    Header *hdr;
    u8 *base;
    u64 bytes;
    u32 client;
    u32 flags;
    View live;
    Entry *log;
    Geometry g;  // validated at open; never re-read from the header
};

namespace {

View view_at(const Geometry &g, u8 *state_base_minus_off) {
    View v{};
    v.state = reinterpret_cast<State *>(state_base_minus_off + g.usage_off);
    v.usage = v.state->usage;
    v.owners = state_base_minus_off + g.owners_off;
    v.arena = state_base_minus_off + g.arena_off;
    v.heap = nullptr;
    return v;
}

constexpr u64 kArenaEnd = 64;  // bytes at the arena's end every checkpoint copies (sentinel, top footer)

// Copies the part of a state that can hold metadata: the usage counters, the
// owners and the arena below the high-water mark, and the arena's end.
// (The mark is read once and clamped: it is shared memory.)
u64 hw_of(const Header *h, const Geometry &g) {
    const u64 hw = *static_cast<const volatile u64 *>(&h->high_water);
    return hw < g.arena_max ? hw : g.arena_max;
}

// The arena's current length as a state records it, read once and clamped
// to the room (it is shared memory; the heap check catches a wrong one).
u64 arena_len_of(const State *st, const Geometry &g) {
    const u64 len = *static_cast<const volatile u64 *>(&st->arena_bytes) & ~u64{7};
    if (len < SDMM_SHM_MIN_ARENA) return SDMM_SHM_MIN_ARENA;
    return len < g.arena_max ? len : g.arena_max;
}

void copy_state(u8 *dst, const u8 *src, const Geometry &g, u64 hw) {
    const u64 owners = g.owners_off - g.usage_off, arena = g.arena_off - g.usage_off;
    const u64 len = arena_len_of(reinterpret_cast<const State *>(src), g);
    if (hw > len) hw = len;
    std::memcpy(dst, src, owners);
    std::memcpy(dst + owners, src + owners, hw / 8);
    std::memcpy(dst + arena, src + arena, hw);
    std::memcpy(dst + arena + len - kArenaEnd, src + arena + len - kArenaEnd, kArenaEnd);
}

void take_checkpoint(sdmm_shared *s) {
    Header *h = s->hdr;
    store_release(h->ckpt_busy, 1u);
    copy_state(s->base + s->g.ckpt_off, s->base + s->g.usage_off, s->g, hw_of(h, s->g));
    store_release(h->log_len, u64{0});
    store_release(h->ckpt_busy, 0u);
}

// Sum of charges per owner and owners of exactly the live blocks: the side
// table agrees with the heap; and the state's arena length is the heap's
// (capacity + control bytes: its recorded length).
bool owners_agree(const View &v, const Header *h, const Geometry &g) {
    sdmm_stats counters{};
    sdmm_heap_counters(v.heap, &counters);
    if (counters.capacity + counters.control_bytes != v.state->arena_bytes) return false;
    u64 sums[kMaxClients] = {};
    uint64_t cursor = 0;
    sdmm_block_info info;
    u64 live = 0;
    while (sdmm_heap_next_block(v.heap, &cursor, &info) != 0) {
        if (info.state != SDMM_BLOCK_LIVE) continue;
        const u64 off = info.offset + SDMM_BLOCK_HEADER_BYTES;
        const u8 o = v.owners[off / 8];
        if (o == 0 || o > kMaxClients) return false;
        sums[o - 1] += charge(info.tag, info.len);
        ++live;
    }
    u64 marked = 0;
    // No owner byte is ever set at or above the high-water mark.
    const u64 hw = hw_of(h, g);
    for (u64 i = 0; i < hw / 8; ++i) marked += v.owners[i] != 0;
    if (marked != live) return false;
    for (u32 c = 0; c < kMaxClients; ++c) {
        if (sums[c] != v.usage[c]) return false;
    }
    return true;
}

// Rebuilds the live state from the checkpoint and the committed log entries.
// `inflight`: the entry of the interrupted call (rolled back), or null.
bool rebuild(sdmm_shared *s, const Entry *inflight) {
    Header *h = s->hdr;
    // A private copy: fresh anonymous pages read as zero, so only the part
    // a checkpoint holds is copied (and touched).
    const Geometry &g = s->g;
    const u64 hw = hw_of(h, g);
    const u64 copy_len = round_up(g.state_len, kPage);
    void *mem = mmap(nullptr, copy_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return false;
    auto *copy = static_cast<u8 *>(mem);
    copy_state(copy, s->base + g.ckpt_off, g, hw);
    View v = view_at(g, copy - g.usage_off);
    bool ok = sdmm_heap_attach(v.arena, g.arena_max, &v.heap) == SDMM_OK;
    const u64 n = load_acquire(h->log_len);
    for (u64 i = 0; ok && i < n && i < g.log_cap; ++i) {
        Entry e = s->log[i];
        if (e.owner >= kMaxClients) {
            ok = false;
            break;
        }
        apply(v, e);
        ok = e.status == s->log[i].status && e.result == s->log[i].result;
    }
    ok = ok && n <= g.log_cap && sdmm_heap_check(v.heap) == SDMM_OK;
    if (ok) {
        // The side tables are metadata: copy them whole, as far as a block
        // can be (the live arena may be longer: a growth rolled back). In
        // the arena, copy everything except the elements of the blocks live
        // in the rebuilt heap, which their clients may be using right now.
        const u64 len = arena_len_of(v.state, g), live_len = arena_len_of(s->live.state, g);
        std::memcpy(s->live.state, v.state, sizeof(State) + (len > live_len ? len : live_len) / 8);
        u8 *dst = s->live.arena;
        uint64_t cursor = 0;
        sdmm_block_info info;
        u64 done = 0;
        while (sdmm_heap_next_block(v.heap, &cursor, &info) != 0) {
            if (info.state != SDMM_BLOCK_LIVE) continue;
            const u64 start = info.offset + SDMM_BLOCK_HEADER_BYTES;
            const u64 end = start + u64{info.len} * sdmm_tag_size(info.tag);
            std::memcpy(dst + done, v.arena + done, start - done);
            done = end;
        }
        // Above the high-water mark only the end holds metadata.
        const u64 top = hw < len ? hw : len;
        if (done < top) std::memcpy(dst + done, v.arena + done, top - done);
        const u64 tail = len - kArenaEnd;
        if (done < tail) done = tail;
        if (done < len) std::memcpy(dst + done, v.arena + done, len - done);
        if (inflight != nullptr) {
            for (u32 w = 0; w < inflight->nwin && w < kWindows; ++w) {
                const u64 off = inflight->win_off[w], wlen = inflight->win_len[w];
                if (wlen <= kWindow && off + wlen <= len) std::memcpy(dst + off, inflight->win[w], wlen);
            }
        }
    }
    munmap(copy, copy_len);
    return ok;
}

// Called with the lock held after EOWNERDEAD (or after a reboot).
void recover(sdmm_shared *s) {
    Header *h = s->hdr;
    ++h->recoveries;
    if (load_acquire(h->ckpt_busy) != 0) {
        // Killed while copying the checkpoint: the state itself is whole.
        take_checkpoint(s);
    }
    const u64 p = load_acquire(h->pending);
    const u64 n = load_acquire(h->log_len);
    const bool inflight = p != 0 && p == n + 1 && n < s->g.log_cap;
    if (!inflight) store_release(h->pending, u64{0});
    if (!inflight && sdmm_heap_check(s->live.heap) == SDMM_OK && owners_agree(s->live, h, s->g)) return;
    ++h->rollbacks;
    if (!rebuild(s, inflight ? &s->log[p - 1] : nullptr) || sdmm_heap_check(s->live.heap) != SDMM_OK ||
        !owners_agree(s->live, h, s->g)) {
        h->unrecoverable = 1;
        return;
    }
    store_release(h->pending, u64{0});
    take_checkpoint(s);
}

sdmm_status lock(sdmm_shared *s) {
    Header *h = s->hdr;
    const int r = pthread_mutex_lock(mutex_of(h));
    if (r == EOWNERDEAD) {
        recover(s);
        pthread_mutex_consistent(mutex_of(h));
    } else if (r != 0) {
        return r == ENOTRECOVERABLE ? SDMM_SHARED_ERR_UNRECOVERABLE : SDMM_SHARED_ERR_SYSTEM;
    }
    if (h->unrecoverable != 0) {
        pthread_mutex_unlock(mutex_of(h));
        return SDMM_SHARED_ERR_UNRECOVERABLE;
    }
    return SDMM_OK;
}

void unlock(sdmm_shared *s) { pthread_mutex_unlock(mutex_of(s->hdr)); }

struct Guard {
    sdmm_shared *s;
    ~Guard() { unlock(s); }
};

// Logs, applies and commits one mutating call (lock held).
sdmm_status run(sdmm_shared *s, Entry &e) {
    Header *h = s->hdr;
    u64 n = load_relaxed(h->log_len);
    if (n >= s->g.log_cap) {
        take_checkpoint(s);
        n = 0;
    }
    Entry &slot = s->log[n];
    slot = e;
    store_release(h->pending, n + 1);
    apply(s->live, slot);
    if (slot.result != 0) {
        // A generous bound on where the block ends (class rounding, header).
        const u64 end = (slot.result & 0xFFFFFFF8u) + 2 * charge(slot.tag, slot.n) + kArenaEnd;
        if (end > h->high_water) h->high_water = end < s->g.arena_max ? end : s->g.arena_max;
    }
    store_release(h->log_len, n + 1);
    store_release(h->pending, u64{0});
    e = slot;
    return e.status;
}

void save_window(const sdmm_shared *s, Entry &e, u64 elem_off, u64 elem_bytes, u64 at) {
    if (at >= elem_bytes || e.nwin >= kWindows) return;
    const u64 len = elem_bytes - at < kWindow ? elem_bytes - at : kWindow;
    e.win_off[e.nwin] = static_cast<u32>(elem_off + at);
    e.win_len[e.nwin] = static_cast<u32>(len);
    std::memcpy(e.win[e.nwin], s->live.arena + elem_off + at, len);
    ++e.nwin;
}

// Resolves `handle` and checks the caller may free or resize it.
sdmm_status owned_block(sdmm_shared *s, u64 handle, u32 tag, sdmm_block *b, u32 *owner) {
    const sdmm_status st = sdmm_resolve_into(s->live.heap, handle, tag, b);
    if (st != SDMM_OK) return st;
    const u8 o = s->live.owners[element_offset(s->live, *b) / 8];
    if (o == 0 || o > kMaxClients) return SDMM_ERR_CORRUPTED;
    *owner = o - 1u;
    if (*owner != s->client && (load_relaxed(s->hdr->clients[*owner].grants) & (u64{1} << s->client)) == 0) {
        return SDMM_SHARED_ERR_NOT_OWNER;
    }
    return SDMM_OK;
}

// The core refused a block for lack of room: no free block large enough, or
// larger than the whole arena as it is now.
bool room_refused(sdmm_status st) { return st == SDMM_ERR_OUT_OF_MEMORY || st == SDMM_ERR_TOO_LARGE; }

// After an allocation or resize found no room: grows the arena (lock held),
// doubling it or more, to make room for a block of `need` bytes, capped at
// the room. A journalled call like the others (kOpGrow). False when it
// cannot grow or the block could not fit even in the whole room.
bool grow_for(sdmm_shared *s, u64 need) {
    const u64 len = arena_len_of(s->live.state, s->g), room = s->g.arena_max;
    sdmm_stats counters{};
    sdmm_heap_counters(s->live.heap, &counters);
    if (len >= room || need > room - counters.control_bytes) return false;
    u64 target = round_up(len + 2 * need, kPage);
    if (target < 2 * len) target = 2 * len;
    if (target > room) target = room;
    Entry e{};
    e.op = kOpGrow;
    e.owner = static_cast<u8>(s->client);
    e.n = static_cast<u32>(target);
    return run(s, e) == SDMM_OK;
}

// A refused call that returns a block: the empty block carries the status.
sdmm_status fail(sdmm_block *out, sdmm_status st) {
    if (out == nullptr) return st;
    *out = sdmm_block{};
    out->status = st;
    return st;
}

bool client_alive(const Client &c) {
    return load_relaxed(c.state) == kSlotLive && process_alive(c.pid, c.start_time);
}

// Claims a client slot (lock held).
sdmm_status join(sdmm_shared *s) {
    Header *h = s->hdr;
    const int pid = getpid();
    for (u32 i = 0; i < kMaxClients; ++i) {
        Client &c = h->clients[i];
        const bool free = load_relaxed(c.state) == kSlotFree;
        const bool abandoned = !free && !client_alive(c) && s->live.usage[i] == 0;
        if (!free && !abandoned) continue;
        c.pid = pid;
        c.start_time = process_start_time(pid);
        store_relaxed(c.quota, u64{SDMM_SHARED_UNLIMITED});
        store_relaxed(c.grants, u64{0});
        store_release(c.state, u32{kSlotLive});
        s->client = i;
        return SDMM_OK;
    }
    return SDMM_SHARED_ERR_NO_CLIENT;
}

void init_mutex(pthread_mutex_t *m) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
}

// An arena size as a segment has it: at least SDMM_SHM_MIN_ARENA, whole
// pages, at most SDMM_SHM_MAX_ARENA.
u64 arena_size(u64 bytes) {
    const u64 room = round_up(bytes < SDMM_SHM_MIN_ARENA ? u64{SDMM_SHM_MIN_ARENA} : bytes, kPage);
    return room < SDMM_SHM_MAX_ARENA ? room : u64{SDMM_SHM_MAX_ARENA};
}

// A new segment with an arena of `initial` bytes laid out to grow to the room.
sdmm_status init_segment(u8 *base, const Geometry &g, u64 initial) {
    auto *h = new (base) Header{};
    std::memcpy(h->magic, kMagic, sizeof kMagic);
    h->version = kVersion;
    h->segment_bytes = g.total;
    h->arena_max = g.arena_max;
    h->state_off = g.usage_off;
    h->state_len = g.state_len;
    h->usage_off = g.usage_off;
    h->owners_off = g.owners_off;
    h->arena_off = g.arena_off;
    h->ckpt_off = g.ckpt_off;
    h->log_off = g.log_off;
    h->log_cap = g.log_cap;
    h->mutex_bytes = sizeof(pthread_mutex_t);
    read_boot_id(h->boot_id);
    init_mutex(mutex_of(h));
    sdmm_heap *heap = nullptr;
    auto *state = reinterpret_cast<State *>(base + g.usage_off);
    state->arena_bytes = initial;
    const sdmm_status st =
        sdmm_heap_init_reserve(base + g.arena_off, initial, g.arena_max, SDMM_INIT_ZEROED, &heap);
    if (st != SDMM_OK) return st;
    sdmm_stats stats{};
    sdmm_heap_counters(heap, &stats);
    h->high_water = stats.control_bytes + kArenaEnd;
    // The checkpoints rely on this: a fresh heap is one free block that
    // reaches the last kArenaEnd bytes (where the sentinel is).
    uint64_t cursor = 0;
    sdmm_block_info first{};
    if (sdmm_heap_next_block(heap, &cursor, &first) == 0 ||
        first.offset + first.bytes + kArenaEnd < initial || first.offset + 8 > h->high_water ||
        stats.capacity + stats.control_bytes != initial) {
        return SDMM_SHARED_ERR_LAYOUT;
    }
    copy_state(base + g.ckpt_off, base + g.usage_off, g, h->high_water);
    return SDMM_OK;
}

bool layout_ok(const Header *h, u64 size) {
    if (std::memcmp(h->magic, kMagic, sizeof kMagic) != 0 || h->version != kVersion ||
        h->mutex_bytes != sizeof(pthread_mutex_t) || h->segment_bytes > size) {
        return false;
    }
    Geometry g{};
    return sdmm_shm_geometry_of(h->arena_max, &g) != 0 && g.total == h->segment_bytes &&
           g.usage_off == h->usage_off && g.owners_off == h->owners_off && g.arena_off == h->arena_off &&
           g.ckpt_off == h->ckpt_off && g.log_off == h->log_off && g.log_cap == h->log_cap &&
           g.state_len == h->state_len && h->state_off == h->usage_off &&
           load_acquire(h->log_len) <= h->log_cap;
}

}  // namespace

extern "C" {

sdmm_status sdmm_shared_open(const char *name, size_t bytes, uint32_t flags, sdmm_shared **out) {
    return sdmm_shared_open_reserve(name, bytes, bytes, flags, out);
}

sdmm_status sdmm_shared_open_reserve(const char *name, size_t bytes, size_t max_bytes, uint32_t flags,
                                     sdmm_shared **out) {
    if (out == nullptr || name == nullptr) return SDMM_ERR_INVALID_HEAP;
    *out = nullptr;
    // The sizes of a heap this call may create, checked before anything is
    // touched. The segment is laid out for the room (owner table,
    // checkpoint, log); the core's start map for the room (room / 64 bytes)
    // lives in the initial arena, so that must be at least room / 32.
    const u64 initial = arena_size(bytes);
    Geometry g{};
    if (bytes != 0) {
        if (max_bytes < bytes) return SDMM_ERR_TOO_LARGE;
        if (sdmm_shm_geometry_of(arena_size(max_bytes), &g) == 0) return SDMM_SHARED_ERR_LAYOUT;
        if (initial < g.arena_max && initial < g.arena_max / 32) return SDMM_ERR_ARENA_TOO_SMALL;
    }
    const bool file = (flags & SDMM_SHARED_FILE) != 0;
    int oflags = O_RDWR | O_CLOEXEC;
    if ((flags & SDMM_SHARED_CREATE) != 0) oflags |= O_CREAT;
    if ((flags & (SDMM_SHARED_CREATE | SDMM_SHARED_EXCL)) == (SDMM_SHARED_CREATE | SDMM_SHARED_EXCL)) {
        oflags |= O_EXCL;
    }
    const int fd = file ? open(name, oflags, 0600) : shm_open(name, oflags, 0600);
    if (fd < 0) return SDMM_SHARED_ERR_SYSTEM;
    // Creation and the after-reboot repair happen under an advisory lock on
    // the object, so two processes opening at once see one initialisation.
    if (flock(fd, LOCK_EX) != 0) {
        close(fd);
        return SDMM_SHARED_ERR_SYSTEM;
    }
    sdmm_status st = SDMM_OK;
    struct stat sb{};
    fstat(fd, &sb);
    bool created = false;
    u64 size = static_cast<u64>(sb.st_size);
    // A creator that died before finishing left `ready` 0: start over (we
    // hold the advisory lock, so nobody else is initialising it).
    u32 ready = 0;
    if (size >= sizeof(Header) &&
        pread(fd, &ready, sizeof ready, static_cast<off_t>(offsetof(Header, ready))) == sizeof ready &&
        ready == 0 && (flags & SDMM_SHARED_CREATE) != 0 && bytes != 0) {
        if (ftruncate(fd, 0) != 0) {
            flock(fd, LOCK_UN);
            close(fd);
            return SDMM_SHARED_ERR_SYSTEM;
        }
        size = 0;
    }
    if (size == 0) {
        if ((flags & SDMM_SHARED_CREATE) == 0 || bytes == 0) {
            flock(fd, LOCK_UN);
            close(fd);
            return SDMM_SHARED_ERR_LAYOUT;
        }
        // Sized for the room at once: pages nobody touched cost nothing
        // (tmpfs and files are sparse), and no process ever has to remap.
        if (ftruncate(fd, static_cast<off_t>(g.total)) != 0) {
            flock(fd, LOCK_UN);
            close(fd);
            return SDMM_SHARED_ERR_SYSTEM;
        }
        size = g.total;
        created = true;
    }
    if (size < sizeof(Header)) {
        flock(fd, LOCK_UN);
        close(fd);
        return SDMM_SHARED_ERR_LAYOUT;
    }
    void *map = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        flock(fd, LOCK_UN);
        close(fd);
        return SDMM_SHARED_ERR_SYSTEM;
    }
    auto *base = static_cast<u8 *>(map);
    // malloc + placement new: the library needs no C++ runtime (for ports).
    void *mem = std::malloc(sizeof(sdmm_shared));
    auto *s = mem != nullptr ? new (mem) sdmm_shared{} : nullptr;
    if (s == nullptr) st = SDMM_SHARED_ERR_SYSTEM;
    if (st == SDMM_OK && created) st = init_segment(base, g, initial);
    auto *h = reinterpret_cast<Header *>(base);
    if (st == SDMM_OK && !layout_ok(h, size)) st = SDMM_SHARED_ERR_LAYOUT;
    if (st == SDMM_OK) {
        s->hdr = h;
        s->base = base;
        s->bytes = size;
        s->flags = flags;
        // This process's copy of the geometry, read once; every access
        // below stays inside it, and it inside the mapping.
        const u64 arena_max = *static_cast<volatile u64 *>(&h->arena_max);
        if (sdmm_shm_geometry_of(arena_max, &s->g) == 0 || s->g.total > size) st = SDMM_SHARED_ERR_LAYOUT;
        s->live = view_at(s->g, base);
        s->log = reinterpret_cast<Entry *>(base + s->g.log_off);
        // The heap is its arena; sdmm_heap_attach validates it below, under
        // the lock (it reads the top block, which other clients change).
        s->live.heap = reinterpret_cast<sdmm_heap *>(s->live.arena);
    }
    if (st == SDMM_OK && !created) {
        if (sdmm_shared_same_boot(h->boot_id) == 0) {
            // First opener since a reboot: no process of this boot holds the
            // lock or a slot. The lock word may name a thread of the old boot.
            init_mutex(mutex_of(h));
            for (Client &c : h->clients) c.pid = 0;
            read_boot_id(h->boot_id);
            recover(s);
        }
    }
    if (st == SDMM_OK) {
        st = lock(s);
        if (st == SDMM_OK) {
            sdmm_heap *heap = nullptr;
            st = sdmm_heap_attach(s->live.arena, s->g.arena_max, &heap);
            if (st == SDMM_OK) st = join(s);
            if (created && st == SDMM_OK) h->admin = s->client;
            unlock(s);
        }
    }
    if (created && st == SDMM_OK) store_release(h->ready, 1u);
    flock(fd, LOCK_UN);
    close(fd);
    if (st != SDMM_OK) {
        munmap(map, size);
        std::free(s);
        return st;
    }
    *out = s;
    return SDMM_OK;
}

sdmm_status sdmm_shared_close(sdmm_shared *s) {
    if (s == nullptr) return SDMM_ERR_INVALID_HEAP;
    if (lock(s) == SDMM_OK) {
        Client &c = s->hdr->clients[s->client];
        // Detached: its blocks stay (with the grants it gave: a peer may
        // still be freeing what it was sent), and anyone may reap them.
        c.pid = 0;
        if (s->live.usage[s->client] == 0) {
            store_relaxed(c.grants, u64{0});
            store_release(c.state, u32{kSlotFree});
        }
        unlock(s);
    }
    munmap(s->base, s->bytes);
    std::free(s);
    return SDMM_OK;
}

sdmm_status sdmm_shared_unlink(const char *name, uint32_t flags) {
    if (name == nullptr) return SDMM_ERR_INVALID_HEAP;
    const int r = (flags & SDMM_SHARED_FILE) != 0 ? unlink(name) : shm_unlink(name);
    return r == 0 ? sdmm_status{SDMM_OK} : sdmm_status{SDMM_SHARED_ERR_SYSTEM};
}

sdmm_status sdmm_shared_sync(sdmm_shared *s) {
    if (s == nullptr) return SDMM_ERR_INVALID_HEAP;
    return msync(s->base, s->bytes, MS_SYNC) == 0 ? sdmm_status{SDMM_OK}
                                                  : sdmm_status{SDMM_SHARED_ERR_SYSTEM};
}

sdmm_status sdmm_shared_alloc(sdmm_shared *s, uint32_t tag, uint32_t n, sdmm_block *out) {
    if (s == nullptr || out == nullptr) return fail(out, SDMM_ERR_INVALID_HEAP);
    sdmm_status st = lock(s);
    if (st != SDMM_OK) return fail(out, st);
    Guard g{s};
    const Client &me = s->hdr->clients[s->client];
    if (sdmm_tag_size(tag) != 0 && n != 0 &&
        s->live.usage[s->client] + charge(tag, n) > load_relaxed(me.quota)) {
        return fail(out, SDMM_SHARED_ERR_QUOTA);
    }
    Entry e{};
    do {
        e = Entry{};
        e.op = kOpAlloc;
        e.owner = static_cast<u8>(s->client);
        e.tag = tag;
        e.n = n;
        st = run(s, e);
    } while (room_refused(st) && grow_for(s, charge(tag, n)));
    if (st != SDMM_OK) return fail(out, st);
    return sdmm_resolve_into(s->live.heap, e.result, tag, out);
}

sdmm_status sdmm_shared_free(sdmm_shared *s, uint64_t handle, uint32_t expected_tag) {
    if (s == nullptr) return SDMM_ERR_INVALID_HEAP;
    sdmm_status st = lock(s);
    if (st != SDMM_OK) return st;
    Guard g{s};
    sdmm_block b{};
    u32 owner = 0;
    st = owned_block(s, handle, expected_tag, &b, &owner);
    if (st != SDMM_OK) return st;
    Entry e{};
    e.op = kOpFree;
    e.owner = static_cast<u8>(owner);
    e.tag = expected_tag;
    e.handle = handle;
    const u64 off = element_offset(s->live, b), bytes = u64{b.len} * sdmm_tag_size(b.tag);
    save_window(s, e, off, bytes, 0);
    if (bytes > kWindow) save_window(s, e, off, bytes, bytes - kWindow);
    return run(s, e);
}

sdmm_status sdmm_shared_resize(sdmm_shared *s, uint64_t handle, uint32_t expected_tag, uint32_t new_len,
                               sdmm_block *out) {
    if (s == nullptr || out == nullptr) return fail(out, SDMM_ERR_INVALID_HEAP);
    sdmm_status st = lock(s);
    if (st != SDMM_OK) return fail(out, st);
    Guard g{s};
    sdmm_block b{};
    u32 owner = 0;
    st = owned_block(s, handle, expected_tag, &b, &owner);
    if (st == SDMM_OK && new_len != 0 &&
        s->live.usage[owner] - charge(b.tag, b.len) + charge(b.tag, new_len) >
            load_relaxed(s->hdr->clients[owner].quota)) {
        st = SDMM_SHARED_ERR_QUOTA;
    }
    if (st != SDMM_OK) return fail(out, st);
    Entry e{};
    do {
        e = Entry{};
        e.op = kOpResize;
        e.owner = static_cast<u8>(owner);
        e.tag = expected_tag;
        e.n = new_len;
        e.handle = handle;
        const u64 off = element_offset(s->live, b), bytes = u64{b.len} * sdmm_tag_size(b.tag);
        const u64 split = round_up(u64{new_len} * sdmm_tag_size(b.tag), 8);
        save_window(s, e, off, bytes, 0);
        save_window(s, e, off, bytes, split < 8 ? 8 : split);
        save_window(s, e, off, bytes, bytes > kWindow ? bytes - kWindow : 0);
        st = run(s, e);
    } while (room_refused(st) && grow_for(s, charge(b.tag, new_len)));
    if (st != SDMM_OK) return fail(out, st);
    return sdmm_resolve_into(s->live.heap, e.result, expected_tag, out);
}

sdmm_status sdmm_shared_resolve(sdmm_shared *s, uint64_t handle, uint32_t expected_tag, sdmm_block *out) {
    if (s == nullptr || out == nullptr) return fail(out, SDMM_ERR_INVALID_HEAP);
    const sdmm_status st = lock(s);
    if (st != SDMM_OK) return fail(out, st);
    Guard g{s};
    return sdmm_resolve_into(s->live.heap, handle, expected_tag, out);
}

sdmm_status sdmm_shared_grant(sdmm_shared *s, uint32_t to, int allow) {
    if (s == nullptr) return SDMM_ERR_INVALID_HEAP;
    if (to >= kMaxClients) return SDMM_SHARED_ERR_BAD_CLIENT;
    std::atomic_ref<u64> grants(s->hdr->clients[s->client].grants);
    if (allow != 0) {
        grants.fetch_or(u64{1} << to);
    } else {
        grants.fetch_and(~(u64{1} << to));
    }
    return SDMM_OK;
}

sdmm_status sdmm_shared_set_quota(sdmm_shared *s, uint32_t client, uint64_t bytes) {
    if (s == nullptr) return SDMM_ERR_INVALID_HEAP;
    if (client >= kMaxClients) return SDMM_SHARED_ERR_BAD_CLIENT;
    if (s->client != s->hdr->admin) return SDMM_SHARED_ERR_NOT_ADMIN;
    store_relaxed(s->hdr->clients[client].quota, bytes);
    return SDMM_OK;
}

sdmm_status sdmm_shared_reap(sdmm_shared *s, uint32_t client) {
    if (s == nullptr) return SDMM_ERR_INVALID_HEAP;
    if (client >= kMaxClients || client == s->client) return SDMM_SHARED_ERR_BAD_CLIENT;
    sdmm_status st = lock(s);
    if (st != SDMM_OK) return st;
    Guard g{s};
    Client &c = s->hdr->clients[client];
    if (load_relaxed(c.state) != kSlotLive || client_alive(c)) {
        return SDMM_SHARED_ERR_BAD_CLIENT;
    }
    // Collect its blocks first (the walk must not run across frees).
    struct Victim {
        u64 handle;
        u32 tag;
    };
    Victim *list = nullptr;
    size_t count = 0, cap = 0;
    uint64_t cursor = 0;
    sdmm_block_info info;
    while (sdmm_heap_next_block(s->live.heap, &cursor, &info) != 0) {
        if (info.state != SDMM_BLOCK_LIVE) continue;
        if (s->live.owners[(info.offset + SDMM_BLOCK_HEADER_BYTES) / 8] != client + 1) continue;
        if (count == cap) {
            cap = cap == 0 ? 64 : cap * 2;
            void *grown = std::realloc(list, cap * sizeof(Victim));
            if (grown == nullptr) {
                std::free(list);
                return SDMM_SHARED_ERR_SYSTEM;
            }
            list = static_cast<Victim *>(grown);
        }
        list[count++] = Victim{info.handle, info.tag};
    }
    for (size_t i = 0; i < count && st == SDMM_OK; ++i) {
        Entry e{};
        e.op = kOpFree;
        e.owner = static_cast<u8>(client);
        e.tag = list[i].tag;
        e.handle = list[i].handle;
        st = run(s, e);
    }
    std::free(list);
    if (st != SDMM_OK) return st;
    if (s->live.usage[client] != 0) return SDMM_ERR_CORRUPTED;
    store_release(c.state, u32{kSlotFree});
    return SDMM_OK;
}

sdmm_status sdmm_shared_check(sdmm_shared *s) {
    if (s == nullptr) return SDMM_ERR_INVALID_HEAP;
    sdmm_status st = lock(s);
    if (st != SDMM_OK) return st;
    Guard g{s};
    st = sdmm_heap_check(s->live.heap);
    if (st == SDMM_OK && !owners_agree(s->live, s->hdr, s->g)) st = SDMM_ERR_CORRUPTED;
    return st;
}

sdmm_status sdmm_shared_info_get(sdmm_shared *s, sdmm_shared_info *out) {
    if (s == nullptr || out == nullptr) return SDMM_ERR_INVALID_HEAP;
    const sdmm_status st = lock(s);
    if (st != SDMM_OK) return st;
    Guard g{s};
    *out = sdmm_shared_info{};
    out->client = s->client;
    out->admin = s->hdr->admin;
    out->used = s->live.usage[s->client];
    out->quota = load_relaxed(s->hdr->clients[s->client].quota);
    out->recoveries = s->hdr->recoveries;
    out->rollbacks = s->hdr->rollbacks;
    out->arena_bytes = arena_len_of(s->live.state, s->g);
    out->arena_max_bytes = s->g.arena_max;
    out->segment_bytes = s->bytes;
    sdmm_heap_counters(s->live.heap, &out->stats);
    return SDMM_OK;
}

sdmm_status sdmm_shared_owner(sdmm_shared *s, uint64_t handle, uint32_t expected_tag, uint32_t *owner) {
    if (s == nullptr || owner == nullptr) return SDMM_ERR_INVALID_HEAP;
    sdmm_status st = lock(s);
    if (st != SDMM_OK) return st;
    Guard g{s};
    sdmm_block b{};
    st = sdmm_resolve_into(s->live.heap, handle, expected_tag, &b);
    if (st != SDMM_OK) return st;
    const u8 o = s->live.owners[element_offset(s->live, b) / 8];
    if (o == 0 || o > kMaxClients) return SDMM_ERR_CORRUPTED;
    *owner = o - 1u;
    return SDMM_OK;
}

uint32_t sdmm_shared_client(const sdmm_shared *s) { return s != nullptr ? s->client : UINT32_MAX; }

int sdmm_shared_process_alive(int32_t pid, uint64_t start_time) {
    return process_alive(pid, start_time) ? 1 : 0;
}

int sdmm_shared_same_boot(const char recorded[40]) {
    char boot[40];
    read_boot_id(boot);
    return recorded != nullptr && std::memcmp(boot, recorded, sizeof boot) == 0 ? 1 : 0;
}

const sdmm_heap *sdmm_shared_heap(const sdmm_shared *s) { return s != nullptr ? s->live.heap : nullptr; }

const char *sdmm_shared_status_str(uint32_t status) {
    switch (status) {
        case SDMM_SHARED_ERR_NOT_OWNER:
            return "the block belongs to another client, which granted this one nothing";
        case SDMM_SHARED_ERR_QUOTA:
            return "the owner's byte quota would be exceeded";
        case SDMM_SHARED_ERR_SYSTEM:
            return "an operating-system call failed (see errno)";
        case SDMM_SHARED_ERR_NO_CLIENT:
            return "every client slot of the shared heap is in use";
        case SDMM_SHARED_ERR_LAYOUT:
            return "not a shared heap of this version, or too small";
        case SDMM_SHARED_ERR_UNRECOVERABLE:
            return "recovery after a dead client failed";
        case SDMM_SHARED_ERR_NOT_ADMIN:
            return "only the creating client may do this";
        case SDMM_SHARED_ERR_BAD_CLIENT:
            return "no such client, or it is still alive";
        default:
            return sdmm_status_str(status);
    }
}

}  // extern "C"
