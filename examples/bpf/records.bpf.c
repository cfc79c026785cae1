// A per-sender record table built from typed sdmm allocations, kept by an XDP
// program. For every "transfer" packet it finds the sender's record (a hash
// map from a 64-bit hash of the key to two sdmm handles), creates it on first
// sight -- an sdmm pubkey holding the full 32-byte key, an sdmm u64[4] of
// counters -- and updates the counters in place. A syscall program removes a
// sender and frees both allocations. The loader (records.c) reads the same
// heap from user space with the native sdmm build.
//
// Linked with the default sdmm_bpf.o, whose calls take a try-lock: XDP runs
// on every CPU that receives packets, and they all share the one pool; a call
// made while another CPU is inside the heap returns SDMM_ERR_BUSY and is
// simply tried again (RETRY_BUSY). (The
// map update below can race with another CPU inserting the same sender; the
// loser frees its two blocks, so nothing leaks, and counts its packet in the
// winner's record.) What the lock does not
// cover: `remove` freeing a record while a packet of that sender is being
// counted on another CPU. The write stays inside the pool (the verifier sees
// to that) but may land in a block already freed; a real deployment removes
// senders when their traffic has stopped, or defers the free (e.g. marks the
// record and frees it from the next `remove` sweep).
#include <linux/bpf.h>
// (after linux/bpf.h, which defines the types it uses)
#include <bpf/bpf_helpers.h>

#include "records.h"
#include "sdmm_bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u64);
    __type(value, struct record);
} records SEC(".maps");

// A call that found the heap busy (another CPU inside it for a moment), tried
// again a bounded number of times.
#define RETRY_BUSY(call)                                                    \
    ({                                                                      \
        __u64 r_ = (call);                                                  \
        for (int i_ = 0; i_ < 16 && r_ == SDMM_ERR_BUSY; ++i_) r_ = (call); \
        r_;                                                                 \
    })

// Events the loader reports: allocation failures, hash collisions.
__u64 alloc_failures;
__u64 collisions;

// FNV-1a over the key's four words: the map key.
static __always_inline __u64 key_hash(const __u64 *w) {
    __u64 h = 0xcbf29ce484222325ull;
#pragma unroll
    for (int i = 0; i < 4; ++i) h = (h ^ w[i]) * 0x100000001b3ull;
    return h;
}

static __always_inline int same_key(const sdmm_pubkey *stored, const __u64 *w) {
    const __u64 *s = (const __u64 *)stored->bytes;
    return s[0] == w[0] && s[1] == w[1] && s[2] == w[2] && s[3] == w[3];
}

SEC("syscall") int init(void *ctx) { return (int)sdmm_bpf_init(SDMM_INIT_ZEROED); }

SEC("xdp") int count_transfers(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct transfer_packet *p = data;
    if ((void *)(p + 1) > end) return XDP_PASS;  // not ours

    __u64 key[4];
    __builtin_memcpy(key, p->sender, sizeof key);
    __u64 h = key_hash(key);
    struct record *rec = bpf_map_lookup_elem(&records, &h);
    if (rec && !same_key(sdmm_bpf_pubkey_at(rec->key, 0), key)) {
        __sync_fetch_and_add(&collisions, 1);
        return XDP_PASS;
    }
    if (!rec) {
        struct record fresh = {RETRY_BUSY(sdmm_bpf_alloc_pubkey(1)),
                               RETRY_BUSY(sdmm_bpf_alloc_u64(COUNTERS))};
        if (!SDMM_BPF_IS_VALUE(fresh.key) || !SDMM_BPF_IS_VALUE(fresh.counters)) {
            // Give back whichever half succeeded: nothing leaks.
            if (SDMM_BPF_IS_VALUE(fresh.key)) RETRY_BUSY(sdmm_bpf_free_pubkey(fresh.key));
            if (SDMM_BPF_IS_VALUE(fresh.counters)) RETRY_BUSY(sdmm_bpf_free_u64(fresh.counters));
            __sync_fetch_and_add(&alloc_failures, 1);
            return XDP_PASS;
        }
        __builtin_memcpy(sdmm_bpf_pubkey_at(fresh.key, 0)->bytes, key, sizeof key);
        if (bpf_map_update_elem(&records, &h, &fresh, BPF_NOEXIST) != 0) {
            // Another CPU inserted this sender first: give back ours and
            // count the packet in its record.
            RETRY_BUSY(sdmm_bpf_free_pubkey(fresh.key));
            RETRY_BUSY(sdmm_bpf_free_u64(fresh.counters));
        }
        rec = bpf_map_lookup_elem(&records, &h);
        if (!rec) return XDP_PASS;
    }
    // The counters, through the checked accessor (NULL if the handle were
    // stale or of another type) for the first and the cheap one for the rest.
    // Atomic adds: other CPUs may count the same sender at the same time.
    uint64_t *packets = sdmm_bpf_u64_get(rec->counters, PACKETS);
    if (!packets) return XDP_PASS;
    __sync_fetch_and_add(packets, 1);
    __sync_fetch_and_add(sdmm_bpf_u64_at(rec->counters, BYTES), (__u64)(end - data));
    __sync_fetch_and_add(sdmm_bpf_u64_at(rec->counters, AMOUNT), (__u64)p->amount);
    *sdmm_bpf_u64_at(rec->counters, LAST_SEEN_NS) = bpf_ktime_get_ns();
    return XDP_PASS;
}

// Removes a sender: frees its two allocations, deletes its map entry.
SEC("syscall") int remove(struct remove_request *req) {
    __u64 key[4];
    __builtin_memcpy(key, req->sender, sizeof key);
    __u64 h = key_hash(key);
    struct record *rec = bpf_map_lookup_elem(&records, &h);
    if (!rec || !same_key(sdmm_bpf_pubkey_at(rec->key, 0), key)) {
        req->status = REMOVE_NOT_FOUND;
        return 0;
    }
    __u32 st = (__u32)RETRY_BUSY(sdmm_bpf_free_pubkey(rec->key));
    __u32 st2 = (__u32)RETRY_BUSY(sdmm_bpf_free_u64(rec->counters));
    bpf_map_delete_elem(&records, &h);
    req->status = st != SDMM_OK ? st : st2;
    return 0;
}
