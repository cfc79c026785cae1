/* Shared between the test BPF programs and their user-space runner. */
#ifndef SDMM_TEST_BPF_H
#define SDMM_TEST_BPF_H

#include <linux/types.h>

/* One operation of the `op` program (the random sequence is replayed one op
 * per BPF_PROG_TEST_RUN, the same op on the native heap). */
enum sdmm_test_op {
    SDMM_OP_INIT = 1,     /* flags = n */
    SDMM_OP_ALLOC,        /* typed call chosen by tag (a switch generated from the table) */
    SDMM_OP_ALLOC_TAGGED, /* sdmm_bpf_alloc(tag, n) */
    SDMM_OP_FREE,         /* typed free chosen by tag */
    SDMM_OP_FREE_TAGGED,  /* sdmm_bpf_free(handle, tag) */
    SDMM_OP_RESOLVE,
    SDMM_OP_RESIZE,
};

struct sdmm_test_op_ctx {
    __u32 op;
    __u32 tag;
    __u32 n;
    __u32 pad;
    __u64 handle;
    __u64 result; /* out: what the call returned */
};

#define SDMM_TEST_MAX_STATUSES 32

/* The `statuses` and `all_types` programs: step-by-step results. */
struct sdmm_test_report {
    __u32 count;
    __u32 failed_step; /* all_types: 0 = success, else the failing check */
    __u32 status[SDMM_TEST_MAX_STATUSES];
    __u64 handle[SDMM_TEST_MAX_STATUSES];
};

/* Counters of the `stress` program (several CPUs at once). */
struct sdmm_stress_counts {
    __u64 failures;
    __u64 runs;
    __u64 busy; /* SDMM_ERR_BUSY results (retried) */
};

/* The `progtypes` object: one program per program type (index below). */
enum sdmm_progtype {
    SDMM_PROGTYPE_SYSCALL,
    SDMM_PROGTYPE_XDP,
    SDMM_PROGTYPE_TC,
    SDMM_PROGTYPE_KPROBE,
    SDMM_PROGTYPE_TRACEPOINT,
    SDMM_PROGTYPE_RAW_TP,
    SDMM_PROGTYPE_FENTRY,
    SDMM_PROGTYPE_TP_BTF,
    SDMM_PROGTYPE_COUNT_USED,
    SDMM_PROGTYPE_COUNT = 8 /* a power of two: the index is masked */
};

struct sdmm_progtype_counts {
    __u64 ok[SDMM_PROGTYPE_COUNT];     /* runs whose every check passed */
    __u64 failed[SDMM_PROGTYPE_COUNT]; /* runs with a failed check */
    __u64 busy[SDMM_PROGTYPE_COUNT];   /* runs that found the heap busy */
    __u32 tgid;                        /* the tracing programs count this process only */
    __u32 pad;
};

#endif
