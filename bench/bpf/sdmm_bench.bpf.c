// Benchmark programs: 100 typed alloc+free pairs per run through sdmm,
// the same through the kernel's bpf_obj_new/bpf_obj_drop, and the bare loop.
// XDP programs, so BPF_PROG_TEST_RUN can repeat them and time them in-kernel.
#include <linux/bpf.h>
// (after linux/bpf.h, which defines the types it uses)
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "sdmm_bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define PAIRS 100

// Something to keep each iteration from being optimised away.
__u64 sink;

// The heap is made once, by this syscall program, before the timed runs.
SEC("syscall") int setup(void *ctx) { return (int)sdmm_bpf_init(SDMM_INIT_ZEROED); }

// 100 x (alloc one u64, write it, free it). Each sdmm call is a global
// function the verifier checks once; the loop is bpf_loop, whose callback it
// checks once too, so the verifier's work does not grow with PAIRS.
static long u64_pair(__u32 i, void *ctx) {
    __u64 h = sdmm_bpf_alloc_u64(1);
    if (!SDMM_BPF_IS_VALUE(h)) return 1;  // stop the loop: the count shows it
    *sdmm_bpf_u64_at(h, 0) = i;
    *(__u64 *)ctx += sdmm_bpf_free_u64(h);
    return 0;
}

SEC("xdp") int sdmm_pairs(struct xdp_md *ctx) {
    __u64 failures = 0;
    long done = bpf_loop(PAIRS, u64_pair, &failures, 0);
    sink = failures;
    return done == PAIRS && failures == 0 ? XDP_PASS : XDP_ABORTED;
}

// The same as a plain bounded loop (the verifier walks every iteration).
SEC("xdp") int sdmm_pairs_unrolled(struct xdp_md *ctx) {
    __u64 acc = 0;
    for (__u32 i = 0; i < PAIRS; ++i) {
        __u64 h = sdmm_bpf_alloc_u64(1);
        if (!SDMM_BPF_IS_VALUE(h)) return XDP_ABORTED;
        *sdmm_bpf_u64_at(h, 0) = i;
        acc += sdmm_bpf_free_u64(h);
    }
    sink = acc;
    return acc == 0 ? XDP_PASS : XDP_ABORTED;
}

// The same with a pubkey-sized element (32 bytes zero-filled per allocation).
static long pubkey_pair(__u32 i, void *ctx) {
    __u64 h = sdmm_bpf_alloc_pubkey(1);
    if (!SDMM_BPF_IS_VALUE(h)) return 1;
    sdmm_bpf_pubkey_at(h, 0)->bytes[0] = (__u8)i;
    *(__u64 *)ctx += sdmm_bpf_free_pubkey(h);
    return 0;
}

SEC("xdp") int sdmm_pubkey_pairs(struct xdp_md *ctx) {
    __u64 failures = 0;
    long done = bpf_loop(PAIRS, pubkey_pair, &failures, 0);
    sink = failures;
    return done == PAIRS && failures == 0 ? XDP_PASS : XDP_ABORTED;
}

// The kernel's own object allocator (kfuncs, kernel >= 6.2; declared here as
// bpf_experimental.h does, which libbpf-dev 1.1 does not ship).
extern void *bpf_obj_new_impl(__u64 local_type_id, void *meta) __ksym;
extern void bpf_obj_drop_impl(void *kptr, void *meta) __ksym;

struct u64_obj {
    __u64 value;
};

static long obj_pair(__u32 i, void *ctx) {
    struct u64_obj *o = bpf_obj_new_impl(bpf_core_type_id_local(struct u64_obj), NULL);
    if (!o) return 1;
    o->value = i;
    *(__u64 *)ctx += o->value;
    bpf_obj_drop_impl(o, NULL);
    return 0;
}

SEC("xdp") int obj_pairs(struct xdp_md *ctx) {
    __u64 acc = 0;
    long done = bpf_loop(PAIRS, obj_pair, &acc, 0);
    sink = acc;
    return done == PAIRS ? XDP_PASS : XDP_ABORTED;
}

// The floor: a plain per-CPU free list of 64 fixed u64 slots (a stack of
// free slot numbers in a per-CPU array map), no checks, no types, no
// zero-fill -- what a program writes by hand when it needs no more.
#define FL_SLOTS 64
struct freelist {
    __u32 top;  // free slots: next[0 .. top)
    __u32 next[FL_SLOTS];
    __u64 obj[FL_SLOTS];
};
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct freelist);
} freelists SEC(".maps");

static long freelist_pair(__u32 i, void *ctx) {
    __u32 zero = 0;
    struct freelist *fl = bpf_map_lookup_elem(&freelists, &zero);
    if (!fl) return 1;
    __u32 top = fl->top;
    if (top == 0 || top > FL_SLOTS) return 1;  // empty
    __u32 slot = fl->next[(top - 1) & (FL_SLOTS - 1)] & (FL_SLOTS - 1);
    fl->top = top - 1;
    fl->obj[slot] = i;  // alloc + write
    *(__u64 *)ctx += fl->obj[slot];
    fl->next[(top - 1) & (FL_SLOTS - 1)] = slot;  // free
    fl->top = top;
    return 0;
}

SEC("xdp") int freelist_pairs(struct xdp_md *ctx) {
    __u32 zero = 0;
    struct freelist *fl = bpf_map_lookup_elem(&freelists, &zero);
    if (!fl) return XDP_ABORTED;
    if (fl->top == 0) {  // first run on this CPU: every slot free
        for (__u32 k = 0; k < FL_SLOTS; ++k) fl->next[k] = k;
        fl->top = FL_SLOTS;
    }
    __u64 acc = 0;
    long done = bpf_loop(PAIRS, freelist_pair, &acc, 0);
    sink = acc;
    return done == PAIRS ? XDP_PASS : XDP_ABORTED;
}

// Two calls of an empty global function per iteration: the floor of any API
// that makes one call per alloc and one per free (each BPF-to-BPF call pays
// the return thunk of CPUs with the SRSO mitigation).
__attribute__((noinline)) __u64 bench_empty_call(__u64 x) { return x + 1; }

static long two_calls(__u32 i, void *ctx) {
    *(__u64 *)ctx += bench_empty_call(i);
    *(__u64 *)ctx += bench_empty_call(i);
    return 0;
}

SEC("xdp") int call_pairs(struct xdp_md *ctx) {
    __u64 acc = 0;
    long done = bpf_loop(PAIRS, two_calls, &acc, 0);
    sink = acc;
    return done == PAIRS ? XDP_PASS : XDP_ABORTED;
}

// The loop alone: subtracted from both to get the cost of a pair.
static long nothing(__u32 i, void *ctx) {
    *(__u64 *)ctx += i;
    return 0;
}

SEC("xdp") int empty_loop(struct xdp_md *ctx) {
    __u64 acc = 0;
    long done = bpf_loop(PAIRS, nothing, &acc, 0);
    sink = acc;
    return done == PAIRS ? XDP_PASS : XDP_ABORTED;
}
