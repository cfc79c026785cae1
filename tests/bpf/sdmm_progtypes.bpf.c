// The default build of sdmm (sdmm_bpf.o) in every program type that may call
// global functions: each program below allocates, writes, reads back and
// frees typed blocks, and counts what happened per program type. test_bpf
// (mode `progtypes`) loads them all -- the load itself is the verifier's
// verdict -- runs or triggers each one, and checks the counts.
#include <linux/bpf.h>
// (after linux/bpf.h, which defines the types it uses)
#include <bpf/bpf_helpers.h>

#include "sdmm_bpf.h"
#include "sdmm_test.h"

char LICENSE[] SEC("license") = "GPL";

// Counters per program type, and the process whose events the tracing
// programs count (set by the runner after loading), in their own section.
struct sdmm_progtype_counts progtype_counts SEC(".data.progtypes");

static __always_inline int ours(void) {
    return (__u32)(bpf_get_current_pid_tgid() >> 32) == progtype_counts.tgid;
}

// Two blocks of two types: zero-filled, written and read through both
// accessors, freed; the freed handle then refused. A call finding the heap
// busy is counted, not retried: nothing else uses this heap during the test.
static __always_inline void exercise(__u32 type) {
    __u32 t = type & (SDMM_PROGTYPE_COUNT - 1);
    __u64 a = sdmm_bpf_alloc_u64(3);
    __u64 k = sdmm_bpf_alloc_pubkey(1);
    if (a == SDMM_ERR_BUSY || k == SDMM_ERR_BUSY) {
        __sync_fetch_and_add(&progtype_counts.busy[t], 1);
        if (SDMM_BPF_IS_VALUE(a)) sdmm_bpf_free_u64(a);
        if (SDMM_BPF_IS_VALUE(k)) sdmm_bpf_free_pubkey(k);
        return;
    }
    int ok = SDMM_BPF_IS_VALUE(a) && SDMM_BPF_IS_VALUE(k);
    if (ok) {
        uint64_t *last = sdmm_bpf_u64_get(a, 2);
        ok = last && *last == 0 && sdmm_bpf_u64_get(a, 3) == 0;
        if (last) *last = 0x5D33 + t;
        sdmm_bpf_pubkey_at(k, 0)->bytes[31] = (__u8)t;
        ok = ok && *sdmm_bpf_u64_at(a, 2) == 0x5D33 + t && sdmm_bpf_pubkey_at(k, 0)->bytes[31] == (__u8)t;
    }
    __u32 fa = SDMM_BPF_IS_VALUE(a) ? sdmm_bpf_free_u64(a) : SDMM_OK;
    __u32 fk = SDMM_BPF_IS_VALUE(k) ? sdmm_bpf_free_pubkey(k) : SDMM_OK;
    ok = ok && fa == SDMM_OK && fk == SDMM_OK && sdmm_bpf_free_u64(a) == SDMM_ERR_DOUBLE_FREE;
    __sync_fetch_and_add(ok ? &progtype_counts.ok[t] : &progtype_counts.failed[t], 1);
}

SEC("syscall") int setup(void *ctx) { return (int)sdmm_bpf_init(0); }

SEC("syscall") int on_syscall(void *ctx) {
    exercise(SDMM_PROGTYPE_SYSCALL);
    return 0;
}

SEC("xdp") int on_xdp(struct xdp_md *ctx) {
    exercise(SDMM_PROGTYPE_XDP);
    return XDP_PASS;
}

SEC("tc") int on_tc(struct __sk_buff *skb) {
    exercise(SDMM_PROGTYPE_TC);
    return 0;  // TC_ACT_OK
}

// getppid(2) from the test process fires the tracepoint and, through
// task_tgid_vnr(), the kprobe (a function every architecture has; the
// process may reach it in other ways too, so the runner expects at least one
// run per getppid).
SEC("kprobe/__task_pid_nr_ns") int on_kprobe(void *ctx) {
    if (ours()) exercise(SDMM_PROGTYPE_KPROBE);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid") int on_tracepoint(void *ctx) {
    if (ours()) exercise(SDMM_PROGTYPE_TRACEPOINT);
    return 0;
}

// Run directly by BPF_PROG_TEST_RUN (raw tracepoint programs accept it).
SEC("raw_tp/sys_enter") int on_raw_tp(void *ctx) {
    exercise(SDMM_PROGTYPE_RAW_TP);
    return 0;
}

// A BTF-typed raw tracepoint (a tracing program, like fentry): every
// system call of the test process, so again at least one per getppid.
SEC("tp_btf/sys_enter") int on_tp_btf(__u64 *ctx) {
    if (ours()) exercise(SDMM_PROGTYPE_TP_BTF);
    return 0;
}

// BPF_PROG_TEST_RUN of a tracing program calls bpf_fentry_test1..., which
// fires it once attached.
SEC("fentry/bpf_fentry_test1") int on_fentry(__u64 *ctx) {
    if (ours()) exercise(SDMM_PROGTYPE_FENTRY);
    return 0;
}
