// The BPF side of the kernel tests: programs the real verifier must accept,
// run with BPF_PROG_TEST_RUN by test_bpf.c. Everything per type is generated
// from ffi/sdmm_types.def.
#include <linux/bpf.h>
// (after linux/bpf.h, which defines the types it uses)
#include <bpf/bpf_helpers.h>

#include "sdmm_bpf.h"
#include "sdmm_test.h"

char LICENSE[] SEC("license") = "GPL";

static __always_inline __u64 typed_alloc(__u32 tag, __u32 n) {
    switch (tag) {
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2) \
    case SDMM_TAG_##TAG:                               \
        return sdmm_bpf_alloc_##name(n);
#include "sdmm_types.def"
#undef SDMM_TYPE
        default:
            return sdmm_bpf_alloc(tag, n);
    }
}

static __always_inline __u64 typed_free(__u64 handle, __u32 tag) {
    switch (tag) {
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2) \
    case SDMM_TAG_##TAG:                               \
        return sdmm_bpf_free_##name(handle);
#include "sdmm_types.def"
#undef SDMM_TYPE
        default:
            return sdmm_bpf_free(handle, tag);
    }
}

// One operation per run, chosen by the caller.
SEC("syscall") int op(struct sdmm_test_op_ctx *ctx) {
    __u64 r;
    switch (ctx->op) {
        case SDMM_OP_INIT:
            r = sdmm_bpf_init(ctx->n);
            break;
        case SDMM_OP_ALLOC:
            r = typed_alloc(ctx->tag, ctx->n);
            break;
        case SDMM_OP_ALLOC_TAGGED:
            r = sdmm_bpf_alloc(ctx->tag, ctx->n);
            break;
        case SDMM_OP_FREE:
            r = typed_free(ctx->handle, ctx->tag);
            break;
        case SDMM_OP_FREE_TAGGED:
            r = sdmm_bpf_free(ctx->handle, ctx->tag);
            break;
        case SDMM_OP_RESOLVE:
            r = sdmm_bpf_resolve(ctx->handle, ctx->tag);
            break;
        case SDMM_OP_RESIZE:
            r = sdmm_bpf_resize(ctx->handle, ctx->tag, ctx->n);
            break;
        default:
            return 1;
    }
    ctx->result = r;
    return 0;
}

// Results are gathered in a global (the verifier refuses variable offsets
// into the context) and copied out at the end.
struct sdmm_test_report report;

static __always_inline int publish(struct sdmm_test_report *ctx, __u32 failed_step) {
    report.failed_step = failed_step;
    __builtin_memcpy(ctx, &report, sizeof report);
    return (int)failed_step;
}

static __always_inline void record(struct sdmm_test_report *rep, __u32 status, __u64 handle) {
    __u32 i = rep->count;
    if (i < SDMM_TEST_MAX_STATUSES) {
        rep->status[i] = status;
        rep->handle[i] = handle;
        rep->count = i + 1;
    }
}

// The error statuses of the contract, produced inside BPF. The runner
// compares the list with the expected one (test_bpf.c, kStatusCases).
SEC("syscall") int statuses(struct sdmm_test_report *ctx) {
    struct sdmm_test_report *rep = &report;
    rep->count = 0;
    record(rep, sdmm_bpf_init(0), 0);
    __u64 h = sdmm_bpf_alloc_u32(0);
    record(rep, sdmm_bpf_status(h), h);  // zero count
    h = sdmm_bpf_alloc_signature(0xFFFFFFFFu);
    record(rep, sdmm_bpf_status(h), h);  // too large
    __u64 big = sdmm_bpf_alloc_u8(40000);
    record(rep, sdmm_bpf_status(big), big);  // ok
    h = sdmm_bpf_alloc_u8(40000);
    record(rep, sdmm_bpf_status(h), h);       // out of memory
    record(rep, sdmm_bpf_free_u8(big), big);  // ok
    __u64 a = sdmm_bpf_alloc_u64(3);
    record(rep, sdmm_bpf_status(a), a);                                    // ok
    record(rep, sdmm_bpf_free_pubkey(a), a);                               // tag mismatch (free)
    record(rep, sdmm_bpf_status(sdmm_bpf_resolve(a, SDMM_TAG_I64)), a);    // tag mismatch (resolve)
    record(rep, sdmm_bpf_status(sdmm_bpf_resolve(a, SDMM_TAG_U64)), a);    // ok
    record(rep, sdmm_bpf_free_u64(a), a);                                  // ok
    record(rep, sdmm_bpf_free_u64(a), a);                                  // double free
    record(rep, sdmm_bpf_status(sdmm_bpf_resolve(a, SDMM_TAG_U64)), a);    // stale handle
    __u64 b = sdmm_bpf_alloc_u64(3);                                       // reuses a's block
    record(rep, sdmm_bpf_status(b), b);                                    // ok
    record(rep, sdmm_bpf_status(sdmm_bpf_resolve(a, SDMM_TAG_U64)), a);    // stale (reused)
    record(rep, sdmm_bpf_free_u64(a), a);                                  // double free (reused)
    record(rep, sdmm_bpf_status(sdmm_bpf_resize(a, SDMM_TAG_U64, 9)), a);  // stale handle
    record(rep, sdmm_bpf_free_u64(b + 4), b + 4);                          // invalid block (misaligned)
    __u64 far = (b & ~0xFFFFFFFFull) | 0xFFFF0;
    record(rep, sdmm_bpf_free_u64(far), far);                              // invalid block (outside)
    record(rep, sdmm_bpf_free_u64(0x12345), 0x12345);                      // invalid block (garbage)
    record(rep, sdmm_bpf_free(b, 0), b);                                   // tag mismatch (tag NONE)
    record(rep, sdmm_bpf_status(sdmm_bpf_alloc(99, 1)), 0);                // unknown tag
    record(rep, sdmm_bpf_status(sdmm_bpf_resize(b, SDMM_TAG_U64, 0)), b);  // zero count
    record(rep, sdmm_bpf_free_u64(b), b);                                  // ok
    return publish(ctx, 0);
}

// Every type of the table: allocate through its typed call, check the
// elements are zero and writable through the checked and unchecked
// accessors, that the length is enforced, free, and that the freed handle is
// refused afterwards.
SEC("syscall") int all_types(struct sdmm_test_report *ctx) {
    struct sdmm_test_report *rep = &report;
    rep->count = 0;
    if (sdmm_bpf_init(0) != SDMM_OK) return publish(ctx, 1);
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2)                                \
    {                                                                                 \
        __u64 h = sdmm_bpf_alloc_##name(3);                                           \
        record(rep, sdmm_bpf_status(h), h);                                           \
        if (!SDMM_BPF_IS_VALUE(h)) return publish(ctx, 100 + SDMM_TAG_##TAG);         \
        c_type *last = sdmm_bpf_##name##_get(h, 2);                                   \
        if (!last) return publish(ctx, 200 + SDMM_TAG_##TAG);                         \
        if (sdmm_bpf_##name##_get(h, 3)) return publish(ctx, 300 + SDMM_TAG_##TAG);   \
        __u8 *bytes = (__u8 *)last;                                                   \
        _Pragma("unroll") for (__u32 k = 0; k < sizeof(c_type); ++k) {                \
            if (bytes[k] != 0) return publish(ctx, 400 + SDMM_TAG_##TAG);             \
            bytes[k] = (__u8)(SDMM_TAG_##TAG + k);                                    \
        }                                                                             \
        __u8 *again = (__u8 *)sdmm_bpf_##name##_at(h, 2);                             \
        if (again[sizeof(c_type) - 1] != (__u8)(SDMM_TAG_##TAG + sizeof(c_type) - 1)) \
            return publish(ctx, 500 + SDMM_TAG_##TAG);                                \
    }
#include "sdmm_types.def"
#undef SDMM_TYPE
    // Free in table order through the typed frees; each handle once.
    __u32 i = 0;
#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2)                                                  \
    {                                                                                                   \
        __u64 h = rep->handle[i++ & (SDMM_TEST_MAX_STATUSES - 1)];                                      \
        __u32 st = sdmm_bpf_free_##name(h);                                                             \
        record(rep, st, h);                                                                             \
        if (st != SDMM_OK) return publish(ctx, 600 + SDMM_TAG_##TAG);                                   \
        if (sdmm_bpf_##name##_get(h, 0)) return publish(ctx, 700 + SDMM_TAG_##TAG);                     \
        if (sdmm_bpf_free_##name(h) != SDMM_ERR_DOUBLE_FREE) return publish(ctx, 800 + SDMM_TAG_##TAG); \
    }
#include "sdmm_types.def"
#undef SDMM_TYPE
    return publish(ctx, 0);
}

// ---- several CPUs at once -------------------------------------------------------

// Failed checks and runs of `stress`, in their own section so the runner
// finds them at offset 0 of the map ".data.stress".
struct sdmm_stress_counts stress_counts SEC(".data.stress");

// Eight blocks of u64 held at once, each filled with a pattern unique to this
// CPU and block, checked after all are written, then freed. Run on two CPUs
// at the same time (test_bpf smp), a heap without the lock hands the same
// memory to both or loses blocks; the pattern check, the statuses and the
// final heap check catch it. A call that finds the heap busy (the other CPU
// is inside it) returns SDMM_ERR_BUSY: counted, and retried.

// One call retried while the heap is busy: bpf_loop runs `attempt` until it
// returns 1 (any result but SDMM_ERR_BUSY), at most 2^20 times.
struct retry {
    __u64 handle;  // in: the block to free; out: what alloc returned
    __u32 n;       // alloc: element count; 0 = free `handle`
    __u32 status;  // free's status
    __u64 busy;    // SDMM_ERR_BUSY results seen
};

static long attempt(__u32 i, void *ctx) {
    struct retry *r = ctx;
    if (r->n != 0) {
        __u64 h = sdmm_bpf_alloc_u64(r->n);
        if (h == SDMM_ERR_BUSY) return r->busy++, 0;
        r->handle = h;
        return 1;
    }
    __u32 st = sdmm_bpf_free_u64(r->handle);
    if (st == SDMM_ERR_BUSY) return r->busy++, 0;
    r->status = st;
    return 1;
}

static __always_inline __u64 alloc_retrying(__u32 n) {
    struct retry r = {.handle = SDMM_ERR_BUSY, .n = n};
    bpf_loop(1u << 20, attempt, &r, 0);
    __sync_fetch_and_add(&stress_counts.busy, r.busy);
    return r.handle;
}

static __always_inline __u32 free_retrying(__u64 h) {
    struct retry r = {.handle = h, .n = 0, .status = SDMM_ERR_BUSY};
    bpf_loop(1u << 20, attempt, &r, 0);
    __sync_fetch_and_add(&stress_counts.busy, r.busy);
    return r.status;
}

static __always_inline int stress_failed(void) {
    __sync_fetch_and_add(&stress_counts.failures, 1);
    return XDP_DROP;
}

SEC("xdp") int stress(struct xdp_md *ctx) {
    __u64 h[8];
    __u64 cpu = bpf_get_smp_processor_id();
    __sync_fetch_and_add(&stress_counts.runs, 1);
    // Any failed check ends the run (short paths keep the verifier's work
    // small; a leak after a failure does not matter, the test fails anyway).
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        h[i] = alloc_retrying(1 + (i & 3));
        if (!SDMM_BPF_IS_VALUE(h[i])) return stress_failed();
#pragma unroll
        for (int k = 0; k < 1 + (i & 3); ++k) *sdmm_bpf_u64_at(h[i], k) = (cpu << 32) | (__u64)(i * 8 + k);
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) {
#pragma unroll
        for (int k = 0; k < 1 + (i & 3); ++k) {
            uint64_t *e = sdmm_bpf_u64_get(h[i], k);
            if (!e || *e != ((cpu << 32) | (__u64)(i * 8 + k))) return stress_failed();
        }
        if (free_retrying(h[i]) != SDMM_OK) return stress_failed();
    }
    return XDP_PASS;
}
