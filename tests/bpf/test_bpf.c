// Kernel tests of sdmm in BPF: loads tests/bpf/sdmm_test.bpf.c (linked with
// the BPF build of the core) into the real verifier and runs its programs
// with BPF_PROG_TEST_RUN.
//
//   test_bpf types    OBJ   every type allocated, accessed and freed inside BPF
//   test_bpf statuses OBJ   the contract's error statuses returned inside BPF
//   test_bpf smp      OBJ   the `stress` program on two CPUs at the same time:
//                           no failed check, every block freed, heap intact
//                           (for the locked build, the default sdmm_bpf.o)
//   test_bpf progtypes OBJ  the default build loaded in every program type that
//                           may call global functions (XDP, tc, syscall,
//                           kprobe, tracepoint, raw_tp, fentry), each run or
//                           triggered 10 times: every check inside passes
//   test_bpf busy     OBJ   the heap's try-lock held (as by another CPU, or a
//                           program this one interrupted): calls that change
//                           the heap return SDMM_ERR_BUSY and change nothing
//   test_bpf random   OBJ [STEPS]  a random alloc/free/resize/resolve sequence,
//                           replayed on the native build of the same core:
//                           every result (status, handle = generation + tag +
//                           offset) must be equal, and so must the final arena
//                           bytes; the kernel's pool must pass the native
//                           sdmm_heap_check.
//
// Exit 0 = pass, 1 = fail, 77 = skipped (bpf() refused; the reason is printed).
#define _GNU_SOURCE  // sched_setaffinity, CPU_SET
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "sdmm.h"
#include "sdmm_bpf_user.h"
#include "sdmm_test.h"

static int failures;
#define CHECK(cond, ...)                                           \
    do {                                                           \
        if (!(cond)) {                                             \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            printf(__VA_ARGS__);                                   \
            printf("\n");                                          \
            failures++;                                            \
        }                                                          \
    } while (0)

static void print_insns(const sdmm_bpf_loaded *l, const char *name) {
    long insns = -1;
    sdmm_bpf_prog(l, name, &insns);
    printf("verifier: program %-10s processed %ld insns\n", name, insns);
}

// ---- every type -------------------------------------------------------------------

static int test_types(const sdmm_bpf_loaded *l) {
    print_insns(l, "all_types");
    struct sdmm_test_report rep;
    memset(&rep, 0, sizeof rep);
    __u32 ret = sdmm_bpf_run_syscall(sdmm_bpf_prog(l, "all_types", NULL), &rep, sizeof rep);
    CHECK(ret == 0 && rep.failed_step == 0,
          "all_types failed at step %u (100+tag: alloc, 200: get, 300: "
          "bounds, 400: zero fill, 500: write/read, 600: free, 700: get after free, 800: double free)",
          rep.failed_step);
    CHECK(rep.count == 2 * (SDMM_TAG_COUNT - 1), "%u results", rep.count);
    for (__u32 tag = 1; tag < SDMM_TAG_COUNT && tag <= rep.count; ++tag) {
        __u64 h = rep.handle[tag - 1];
        CHECK(rep.status[tag - 1] == SDMM_OK, "alloc %s: %s", sdmm_tag_name(tag),
              sdmm_status_str(rep.status[tag - 1]));
        CHECK(((h >> 32) & 0xF) == tag, "handle of %s carries tag %u", sdmm_tag_name(tag),
              (unsigned)((h >> 32) & 0xF));
        printf("  %-9s handle 0x%016" PRIx64 " offset %u: allocated, zero-filled, written, freed\n",
               sdmm_tag_name(tag), (uint64_t)h, (unsigned)(__u32)h);
    }
    return 0;
}

// ---- error statuses -----------------------------------------------------------------

static const struct {
    __u32 status;
    const char *what;
} kStatusCases[] = {
    {SDMM_OK, "init"},
    {SDMM_ERR_ZERO_COUNT, "alloc_u32(0)"},
    {SDMM_ERR_TOO_LARGE, "alloc_signature(0xFFFFFFFF)"},
    {SDMM_OK, "alloc_u8(40000)"},
    {SDMM_ERR_OUT_OF_MEMORY, "second alloc_u8(40000)"},
    {SDMM_OK, "free_u8(first)"},
    {SDMM_OK, "alloc_u64(3) = a"},
    {SDMM_ERR_TAG_MISMATCH, "free_pubkey(a)"},
    {SDMM_ERR_TAG_MISMATCH, "resolve(a, I64)"},
    {SDMM_OK, "resolve(a, U64)"},
    {SDMM_OK, "free_u64(a)"},
    {SDMM_ERR_DOUBLE_FREE, "free_u64(a) again"},
    {SDMM_ERR_STALE_HANDLE, "resolve(a) after free"},
    {SDMM_OK, "alloc_u64(3) = b, same block"},
    {SDMM_ERR_STALE_HANDLE, "resolve(a) after reuse"},
    {SDMM_ERR_DOUBLE_FREE, "free_u64(a) after reuse"},
    {SDMM_ERR_STALE_HANDLE, "resize(a) after reuse"},
    {SDMM_ERR_INVALID_BLOCK, "free_u64(b + 4): misaligned"},
    {SDMM_ERR_INVALID_BLOCK, "free_u64(b at 0xFFFF0): outside"},
    {SDMM_ERR_INVALID_BLOCK, "free_u64(0x12345): misaligned"},
    {SDMM_ERR_TAG_MISMATCH, "free(b, TAG_NONE)"},
    {SDMM_ERR_TAG_MISMATCH, "alloc(tag 99)"},
    {SDMM_ERR_ZERO_COUNT, "resize(b, 0)"},
    {SDMM_OK, "free_u64(b)"},
};

static int test_statuses(const sdmm_bpf_loaded *l) {
    print_insns(l, "statuses");
    struct sdmm_test_report rep;
    memset(&rep, 0, sizeof rep);
    sdmm_bpf_run_syscall(sdmm_bpf_prog(l, "statuses", NULL), &rep, sizeof rep);
    const __u32 n = sizeof kStatusCases / sizeof kStatusCases[0];
    CHECK(rep.count == n, "%u results, expected %u", rep.count, n);
    for (__u32 i = 0; i < n && i < rep.count; ++i) {
        CHECK(rep.status[i] == kStatusCases[i].status, "%s: got %s, expected %s", kStatusCases[i].what,
              sdmm_status_str(rep.status[i]), sdmm_status_str(kStatusCases[i].status));
        printf("  %-30s -> %s\n", kStatusCases[i].what, sdmm_status_str(rep.status[i]));
    }
    // The same story on the native build gives the same statuses (the table
    // above is the contract, not a transcript of the BPF run).
    return 0;
}

// ---- random sequence against the native build -----------------------------------------

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static _Alignas(8) uint8_t native_arena[SDMM_BPF_POOL_BYTES];
static _Alignas(8) uint8_t kernel_pool[SDMM_BPF_POOL_BYTES + SDMM_BPF_SLACK];

// The native twin of one `op` run, returning what the BPF API returns.
static __u64 native_op(const struct sdmm_test_op_ctx *c) {
    sdmm_heap *heap = (sdmm_heap *)native_arena;  // may be uninitialised: that is a status too
    sdmm_block b, out;
    memset(&b, 0, sizeof b);
    b.tag = c->tag;
    b.handle = c->handle;
    b.as.raw = (uint64_t)(uintptr_t)native_arena + (c->handle & 0xFFFFFFF8u) + SDMM_BLOCK_HEADER_BYTES;
    sdmm_status st;
    switch (c->op) {
        case SDMM_OP_INIT:
            return sdmm_heap_init_flags(native_arena, sizeof native_arena, c->n, &heap);
        case SDMM_OP_ALLOC:
        case SDMM_OP_ALLOC_TAGGED:
            st = sdmm_alloc_tagged_into(heap, c->tag, c->n, &out);
            return st == SDMM_OK ? out.handle : st;
        case SDMM_OP_FREE:
        case SDMM_OP_FREE_TAGGED:
            return sdmm_free_handle(heap, c->handle, c->tag);
        case SDMM_OP_RESOLVE:
            st = sdmm_resolve_into(heap, c->handle, c->tag, &out);
            if (st != SDMM_OK) return st;
            return ((__u64)out.len << 32) | (__u64)((uint8_t *)out.as.u8 - native_arena);
        case SDMM_OP_RESIZE:
            st = sdmm_resize_into(heap, &b, c->n, &out);
            return st == SDMM_OK ? out.handle : st;
    }
    return ~0ull;
}

#define SLOTS 256
struct slot {
    __u64 handle;
    __u32 tag;
    __u32 live;
};

static int test_random(const sdmm_bpf_loaded *l, long steps) {
    print_insns(l, "op");
    struct bpf_program *prog = sdmm_bpf_prog(l, "op", NULL);
    struct slot slots[SLOTS];
    __u64 graveyard[64];
    memset(slots, 0, sizeof slots);
    memset(graveyard, 0, sizeof graveyard);
    long counts[8] = {0}, errors = 0, ops = 0;

    for (long step = -1; step < steps && failures == 0; ++step) {
        struct sdmm_test_op_ctx c;
        memset(&c, 0, sizeof c);
        __u32 r = (__u32)(rnd() % 100);
        struct slot *s = &slots[rnd() % SLOTS];
        if (step == -1) {  // before init: no heap in the pool
            c.op = SDMM_OP_ALLOC, c.tag = SDMM_TAG_U64, c.n = 1;
        } else if (step == 0 || step == steps / 2) {  // fresh pool first (known zero), later a reset
            c.op = SDMM_OP_INIT, c.n = step == 0 ? SDMM_INIT_ZEROED : 0;
            memset(slots, 0, sizeof slots);
        } else if (r < 45 && !s->live) {
            c.op = rnd() % 2 ? SDMM_OP_ALLOC : SDMM_OP_ALLOC_TAGGED;
            c.tag = 1 + (__u32)(rnd() % (SDMM_TAG_COUNT - 1));
            // Mostly small, some large enough to run the 64 KiB pool out of memory.
            const __u32 r2 = (__u32)(rnd() % 32);
            __u32 bytes = (__u32)(rnd() % (r2 == 0 ? 16384 : r2 < 5 ? 4096 : 256));
            c.n = bytes >> sdmm_tag_size(c.tag) / 8 ? bytes / sdmm_tag_size(c.tag)
                                                    : bytes / sdmm_tag_size(c.tag);
            if (c.n == 0) c.n = 1;
            if (rnd() % 100 == 0) c.n = 0;                      // zero count
            if (rnd() % 200 == 0) c.n = 0xFFFFFFFFu;            // too large
            if (rnd() % 200 == 0) c.tag = (__u32)(rnd() % 20);  // unknown or NONE tag (tagged op only)
            if (c.tag == 0 || c.tag >= SDMM_TAG_COUNT) c.op = SDMM_OP_ALLOC_TAGGED;
        } else if (r < 80 && s->live) {
            c.op = rnd() % 2 ? SDMM_OP_FREE : SDMM_OP_FREE_TAGGED;
            c.handle = s->handle, c.tag = s->tag;
        } else if (r < 85 && s->live) {  // wrong tag
            c.op = SDMM_OP_FREE, c.handle = s->handle, c.tag = 1 + (s->tag % (SDMM_TAG_COUNT - 1));
        } else if (r < 90) {  // a freed (maybe reused) handle, or garbage
            c.op = rnd() % 2 ? SDMM_OP_FREE : SDMM_OP_RESOLVE;
            c.handle = rnd() % 8 ? graveyard[rnd() % 64] : rnd();
            c.tag = c.handle ? (__u32)((c.handle >> 32) & 0xF) : SDMM_TAG_U8;
            if (c.tag == 0 || c.tag >= SDMM_TAG_COUNT) c.op = SDMM_OP_FREE_TAGGED;
        } else if (r < 95 && s->live) {
            c.op = SDMM_OP_RESOLVE, c.handle = s->handle, c.tag = s->tag;
        } else if (s->live) {
            c.op = SDMM_OP_RESIZE, c.handle = s->handle, c.tag = s->tag;
            c.n = 1 + (__u32)(rnd() % (512 / sdmm_tag_size(s->tag) + 1));
        } else {
            continue;
        }
        struct sdmm_test_op_ctx k = c;
        __u32 ret = sdmm_bpf_run_syscall(prog, &k, sizeof k);
        __u64 expect = native_op(&c);
        ops++;
        counts[c.op]++;
        CHECK(ret == 0 && k.result == expect,
              "step %ld op %u tag %u n %u handle 0x%" PRIx64 ": BPF 0x%" PRIx64 " native 0x%" PRIx64, step,
              c.op, c.tag, c.n, (uint64_t)c.handle, (uint64_t)k.result, (uint64_t)expect);
        if (!SDMM_BPF_IS_VALUE(expect) && c.op != SDMM_OP_INIT && expect != SDMM_OK) errors++;
        // Track the model.
        if ((c.op == SDMM_OP_ALLOC || c.op == SDMM_OP_ALLOC_TAGGED) && SDMM_BPF_IS_VALUE(expect)) {
            s->handle = expect, s->tag = c.tag, s->live = 1;
        } else if ((c.op == SDMM_OP_FREE || c.op == SDMM_OP_FREE_TAGGED) && expect == SDMM_OK && s->live &&
                   c.handle == s->handle) {
            graveyard[rnd() % 64] = s->handle;
            s->live = 0;
        } else if (c.op == SDMM_OP_RESIZE && SDMM_BPF_IS_VALUE(expect)) {
            if (expect != s->handle) graveyard[rnd() % 64] = s->handle;
            s->handle = expect;
        }
    }
    printf(
        "random: %ld operations (alloc %ld, alloc_tagged %ld, free %ld, free_tagged %ld, resolve %ld, "
        "resize %ld, init %ld), %ld refused with an error status; every result equal to the native build: "
        "%s\n",
        ops, counts[SDMM_OP_ALLOC], counts[SDMM_OP_ALLOC_TAGGED], counts[SDMM_OP_FREE],
        counts[SDMM_OP_FREE_TAGGED], counts[SDMM_OP_RESOLVE], counts[SDMM_OP_RESIZE], counts[SDMM_OP_INIT],
        errors, failures ? "NO" : "yes");
    CHECK(ops >= 10000, "only %ld operations", ops);

    // The whole arena: byte for byte the same, but for the control word that
    // records whether the CPU has LZCNT (a per-attach CPU fact, not heap state).
    CHECK(sdmm_bpf_read_pool(l, kernel_pool) == 0, "cannot read the pool map");
    const size_t flags_at = 28;
    long diff = 0;
    for (size_t i = 0; i < SDMM_BPF_POOL_BYTES; ++i)
        if ((i < flags_at || i >= flags_at + 4) && kernel_pool[i] != native_arena[i]) diff++;
    CHECK(diff == 0, "%ld arena bytes differ between the kernel pool and the native arena", diff);
    sdmm_heap *kheap = NULL;
    CHECK(sdmm_heap_attach(kernel_pool, SDMM_BPF_POOL_BYTES, &kheap) == SDMM_OK, "attach to the kernel pool");
    CHECK(sdmm_heap_check(kheap) == SDMM_OK, "the kernel pool fails sdmm_heap_check");
    sdmm_stats ks, ns;
    sdmm_heap_stats(kheap, &ks);
    sdmm_heap_stats((sdmm_heap *)native_arena, &ns);
    CHECK(memcmp(&ks, &ns, sizeof ks) == 0, "stats differ");
    printf("arena: %ld bytes differ; kernel pool passes sdmm_heap_check; %" PRIu64 " live blocks, %" PRIu64
           " bytes allocated, peak %" PRIu64 ", %" PRIu64 " out-of-memory refusals\n",
           diff, ks.live_blocks, ks.allocated, ks.peak_allocated, ks.oom_count);
    return 0;
}

// ---- two CPUs at once ---------------------------------------------------------------

struct stress_thread {
    struct bpf_program *prog;
    int cpu;
    __u32 repeat;
    int err;
};

static void *stress_on_cpu(void *arg) {
    struct stress_thread *t = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(t->cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) t->err = errno;
    unsigned char packet[64] = {0};
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet, .data_size_in = sizeof packet,
                .repeat = (int)t->repeat);
    if (bpf_prog_test_run_opts(bpf_program__fd(t->prog), &opts) != 0) t->err = errno;
    return NULL;
}

static int test_smp(const sdmm_bpf_loaded *l) {
    print_insns(l, "stress");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 2) {
        printf("SKIP: one CPU online, nothing runs concurrently\n");
        return SDMM_BPF_SKIP;
    }
    struct sdmm_test_op_ctx init = {.op = SDMM_OP_INIT};
    sdmm_bpf_run_syscall(sdmm_bpf_prog(l, "op", NULL), &init, sizeof init);
    CHECK(init.result == SDMM_OK, "init: %s", sdmm_status_str((uint32_t)init.result));
    struct stress_thread t[2] = {{sdmm_bpf_prog(l, "stress", NULL), 0, 20000, 0},
                                 {sdmm_bpf_prog(l, "stress", NULL), 1, 20000, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; ++i) pthread_create(&th[i], NULL, stress_on_cpu, &t[i]);
    for (int i = 0; i < 2; ++i) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; ++i) CHECK(t[i].err == 0, "CPU %d: %s", t[i].cpu, strerror(t[i].err));

    struct sdmm_stress_counts counts = {0, 0, 0};
    struct bpf_map *map = bpf_object__find_map_by_name(l->obj, ".data.stress");
    __u32 zero = 0;
    CHECK(map && bpf_map_lookup_elem(bpf_map__fd(map), &zero, &counts) == 0, "cannot read the counters");
    CHECK(counts.runs == 40000, "%llu runs", (unsigned long long)counts.runs);
    CHECK(counts.failures == 0, "%llu failed checks (blocks shared or lost between CPUs)",
          (unsigned long long)counts.failures);
    CHECK(sdmm_bpf_read_pool(l, kernel_pool) == 0, "cannot read the pool");
    sdmm_heap *heap = NULL;
    CHECK(sdmm_heap_attach(kernel_pool, SDMM_BPF_POOL_BYTES, &heap) == SDMM_OK, "attach");
    CHECK(heap && sdmm_heap_check(heap) == SDMM_OK,
          "the pool fails sdmm_heap_check after the concurrent runs");
    sdmm_stats st;
    sdmm_heap_stats(heap, &st);
    CHECK(st.live_blocks == 0, "%" PRIu64 " blocks left live", st.live_blocks);
    printf(
        "smp: %llu runs of 8 allocations on CPUs 0 and 1 at once, %llu calls found the heap busy "
        "(retried), %llu failed checks, heap %s, %" PRIu64 " live blocks\n",
        (unsigned long long)counts.runs, (unsigned long long)counts.busy, (unsigned long long)counts.failures,
        heap && sdmm_heap_check(heap) == SDMM_OK ? "intact" : "DAMAGED", st.live_blocks);
    return 0;
}

// ---- every program type ------------------------------------------------------------

#define PROGTYPE_RUNS 10

static const char *const kProgtypeNames[SDMM_PROGTYPE_COUNT_USED] = {
    [SDMM_PROGTYPE_SYSCALL] = "on_syscall",
    [SDMM_PROGTYPE_XDP] = "on_xdp",
    [SDMM_PROGTYPE_TC] = "on_tc",
    [SDMM_PROGTYPE_KPROBE] = "on_kprobe",
    [SDMM_PROGTYPE_TRACEPOINT] = "on_tracepoint",
    [SDMM_PROGTYPE_RAW_TP] = "on_raw_tp",
    [SDMM_PROGTYPE_FENTRY] = "on_fentry",
    [SDMM_PROGTYPE_TP_BTF] = "on_tp_btf",
};

// Whether this kernel lets any fentry program load: a two-instruction one
// attached to bpf_fentry_test1. (Some kernels refuse every trampoline
// program, fentry/fexit/lsm, with EPERM even to root; then ours is not loaded.)
static int fentry_permitted(void) {
    const struct bpf_insn insns[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
        {.code = BPF_JMP | BPF_EXIT},
    };
    int id = libbpf_find_vmlinux_btf_id("bpf_fentry_test1", BPF_TRACE_FENTRY);
    if (id < 0) {
        printf("fentry: bpf_fentry_test1 not in the kernel's BTF (%d): not tested\n", id);
        return 0;
    }
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FENTRY,
                .attach_btf_id = (__u32)id);
    int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "sdmm_fentry_probe", "GPL", insns, 2, &opts);
    if (fd < 0) {
        printf("fentry: this kernel refuses even a two-instruction fentry program (%s): not tested\n",
               strerror(errno));
        return 0;
    }
    close(fd);
    return 1;
}

static int progtype_counts_rw(const sdmm_bpf_loaded *l, struct sdmm_progtype_counts *c, int write) {
    struct bpf_map *map = bpf_object__find_map_by_name(l->obj, ".data.progtypes");
    __u32 zero = 0;
    if (!map) return -1;
    return write ? bpf_map_update_elem(bpf_map__fd(map), &zero, c, BPF_ANY)
                 : bpf_map_lookup_elem(bpf_map__fd(map), &zero, c);
}

static void test_run_n(struct bpf_program *prog, int with_packet) {
    unsigned char packet[64] = {0};  // an Ethernet-sized frame of zeros
    for (int i = 0; i < PROGTYPE_RUNS; ++i) {
        LIBBPF_OPTS(bpf_test_run_opts, opts);
        if (with_packet) opts.data_in = packet, opts.data_size_in = sizeof packet;
        int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
        CHECK(err == 0, "test run of %s: %s", bpf_program__name(prog), strerror(errno));
    }
}

// libbpf attaches tracepoints through tracefs; mount it where it is missing.
static int have_tracefs(void) {
    struct stat st;
    if (stat("/sys/kernel/tracing/events", &st) == 0 || stat("/sys/kernel/debug/tracing/events", &st) == 0)
        return 1;
    if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0) return 1;
    printf("SKIP: tracefs is not mounted and cannot be (%s): no tracepoint program run\n", strerror(errno));
    return 0;
}

static int test_progtypes(const sdmm_bpf_loaded *l, int with_fentry) {
    int skipped = 0;
    __u32 st = sdmm_bpf_run_syscall(sdmm_bpf_prog(l, "setup", NULL), NULL, 0);
    CHECK(st == SDMM_OK, "init: %s", sdmm_status_str(st));
    struct sdmm_progtype_counts c;
    memset(&c, 0, sizeof c);
    c.tgid = (__u32)getpid();
    CHECK(progtype_counts_rw(l, &c, 1) == 0, "cannot set the tgid");

    test_run_n(sdmm_bpf_prog(l, "on_syscall", NULL), 0);
    test_run_n(sdmm_bpf_prog(l, "on_xdp", NULL), 1);
    test_run_n(sdmm_bpf_prog(l, "on_tc", NULL), 1);
    test_run_n(sdmm_bpf_prog(l, "on_raw_tp", NULL), 0);
    struct bpf_link *links[4] = {NULL, NULL, NULL, NULL};
    // Kernels built without CONFIG_KPROBES verify kprobe programs but have no
    // kprobe event source to attach them to.
    struct stat kprobe_pmu;
    const int with_kprobes = stat("/sys/bus/event_source/devices/kprobe", &kprobe_pmu) == 0;
    if (with_kprobes) {
        links[0] = bpf_program__attach(sdmm_bpf_prog(l, "on_kprobe", NULL));
        CHECK(links[0] != NULL, "attach kprobe: %s", strerror(errno));
    }
    if (have_tracefs()) {
        links[1] = bpf_program__attach(sdmm_bpf_prog(l, "on_tracepoint", NULL));
        CHECK(links[1] != NULL, "attach tracepoint: %s", strerror(errno));
    } else {
        skipped = 1;
    }
    links[2] = bpf_program__attach(sdmm_bpf_prog(l, "on_tp_btf", NULL));
    CHECK(links[2] != NULL, "attach tp_btf: %s", strerror(errno));
    if (with_fentry) {
        links[3] = bpf_program__attach(sdmm_bpf_prog(l, "on_fentry", NULL));
        CHECK(links[3] != NULL, "attach fentry: %s", strerror(errno));
    }
    for (int i = 0; i < PROGTYPE_RUNS; ++i) syscall(SYS_getppid);
    if (links[3]) test_run_n(sdmm_bpf_prog(l, "on_fentry", NULL), 0);
    for (int i = 0; i < 4; ++i)
        if (links[i]) bpf_link__destroy(links[i]);

    CHECK(progtype_counts_rw(l, &c, 0) == 0, "cannot read the counters");
    for (int t = 0; t < SDMM_PROGTYPE_COUNT_USED; ++t) {
        long insns = -1;
        struct bpf_program *prog = sdmm_bpf_prog(l, kProgtypeNames[t], &insns);
        const char *type = libbpf_bpf_prog_type_str(bpf_program__type(prog));
        if (t == SDMM_PROGTYPE_FENTRY && !with_fentry) {
            printf("  %-14s %-14s not loaded: the kernel refuses fentry programs\n", "tracing",
                   kProgtypeNames[t]);
            continue;
        }
        if (t == SDMM_PROGTYPE_KPROBE && !with_kprobes) {
            printf("  %-14s %-14s loaded (verifier: %5ld insns), not run: this kernel has no kprobes\n", type,
                   kProgtypeNames[t], insns);
            continue;
        }
        if (t == SDMM_PROGTYPE_TRACEPOINT && skipped) {
            printf("  %-14s %-14s loaded (%ld insns), not run (no tracefs)\n", type, kProgtypeNames[t],
                   insns);
            continue;
        }
        // The kprobe and tp_btf hooks also fire on the process's other calls.
        const int at_least = t == SDMM_PROGTYPE_KPROBE || t == SDMM_PROGTYPE_TP_BTF;
        printf(
            "  %-14s %-14s loaded (verifier: %5ld insns), runs with every check passed: %llu (%s %d), "
            "failed %llu, busy %llu\n",
            type, kProgtypeNames[t], insns, (unsigned long long)c.ok[t], at_least ? ">=" : "of",
            PROGTYPE_RUNS, (unsigned long long)c.failed[t], (unsigned long long)c.busy[t]);
        CHECK((at_least ? c.ok[t] >= PROGTYPE_RUNS : c.ok[t] == PROGTYPE_RUNS) && c.failed[t] == 0 &&
                  c.busy[t] == 0,
              "%s: %llu ok, %llu failed, %llu busy", kProgtypeNames[t], (unsigned long long)c.ok[t],
              (unsigned long long)c.failed[t], (unsigned long long)c.busy[t]);
    }
    CHECK(sdmm_bpf_read_pool(l, kernel_pool) == 0, "cannot read the pool");
    sdmm_heap *heap = NULL;
    CHECK(sdmm_heap_attach(kernel_pool, SDMM_BPF_POOL_BYTES, &heap) == SDMM_OK &&
              sdmm_heap_check(heap) == SDMM_OK,
          "the pool is not an intact heap afterwards");
    sdmm_stats s;
    if (heap) {
        sdmm_heap_stats(heap, &s);
        CHECK(s.live_blocks == 0, "%" PRIu64 " blocks left live", s.live_blocks);
    }
    return skipped && failures == 0 ? SDMM_BPF_SKIP : 0;
}

// ---- the try-lock held -----------------------------------------------------------------

static int set_lock_word(const sdmm_bpf_loaded *l, __u32 value) {
    struct bpf_map *map = bpf_object__find_map_by_name(l->obj, ".data.sdmm_lock");
    __u32 zero = 0;
    if (!map) return -1;
    __u64 word = value;  // the section is 8 bytes: the u32 word and padding
    return bpf_map_update_elem(bpf_map__fd(map), &zero, &word, BPF_ANY);
}

static __u64 run_op(struct bpf_program *prog, __u32 op, __u32 tag, __u32 n, __u64 handle) {
    struct sdmm_test_op_ctx c = {.op = op, .tag = tag, .n = n, .handle = handle};
    sdmm_bpf_run_syscall(prog, &c, sizeof c);
    return c.result;
}

static int test_busy(const sdmm_bpf_loaded *l) {
    struct bpf_program *op = sdmm_bpf_prog(l, "op", NULL);
    CHECK(run_op(op, SDMM_OP_INIT, 0, 0, 0) == SDMM_OK, "init");
    const __u64 h = run_op(op, SDMM_OP_ALLOC, SDMM_TAG_U64, 4, 0);
    CHECK(SDMM_BPF_IS_VALUE(h), "alloc: %s", sdmm_status_str((__u32)h));
    CHECK(sdmm_bpf_read_pool(l, kernel_pool) == 0, "read the pool");
    static _Alignas(8) uint8_t before[SDMM_BPF_POOL_BYTES + SDMM_BPF_SLACK];
    memcpy(before, kernel_pool, sizeof before);

    CHECK(set_lock_word(l, 1) == 0, "cannot set the lock word");
    const struct {
        __u32 op, tag, n;
        __u64 handle, expect;
        const char *what;
    } cases[] = {
        {SDMM_OP_ALLOC, SDMM_TAG_U64, 1, 0, SDMM_ERR_BUSY, "alloc_u64(1)"},
        {SDMM_OP_ALLOC_TAGGED, SDMM_TAG_PUBKEY, 1, 0, SDMM_ERR_BUSY, "alloc(PUBKEY, 1)"},
        {SDMM_OP_FREE, SDMM_TAG_U64, 0, h, SDMM_ERR_BUSY, "free_u64(h)"},
        {SDMM_OP_RESIZE, SDMM_TAG_U64, 9, h, SDMM_ERR_BUSY, "resize(h, 9)"},
        {SDMM_OP_INIT, 0, 0, 0, SDMM_ERR_BUSY, "init"},
        {SDMM_OP_RESOLVE, SDMM_TAG_U64, 0, h, (4ull << 32) | (((__u32)h & ~7u) + SDMM_BLOCK_HEADER_BYTES),
         "resolve(h): reads without the lock"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        const __u64 got = run_op(op, cases[i].op, cases[i].tag, cases[i].n, cases[i].handle);
        CHECK(got == cases[i].expect, "%s with the lock held: 0x%" PRIx64 ", expected 0x%" PRIx64,
              cases[i].what, (uint64_t)got, (uint64_t)cases[i].expect);
        printf("  lock held: %-36s -> %s\n", cases[i].what,
               SDMM_BPF_IS_VALUE(got) ? "a value" : sdmm_status_str((__u32)got));
    }
    CHECK(sdmm_bpf_read_pool(l, kernel_pool) == 0, "read the pool");
    CHECK(memcmp(before, kernel_pool, sizeof before) == 0, "a refused call changed the pool");
    CHECK(set_lock_word(l, 0) == 0, "cannot clear the lock word");
    CHECK(run_op(op, SDMM_OP_FREE, SDMM_TAG_U64, 0, h) == SDMM_OK, "free after the lock is free again");
    printf(
        "busy: every call that changes the heap refused while the lock is held, the pool unchanged; "
        "free succeeds once it is released\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s types|statuses|smp|progtypes|busy|random OBJECT [STEPS]\n", argv[0]);
        return 2;
    }
    int probe = sdmm_bpf_probe();
    if (probe) return probe;
    sdmm_bpf_loaded l;
    const int with_fentry = strcmp(argv[1], "progtypes") != 0 || fentry_permitted();
    if (sdmm_bpf_load_except(argv[2], &l, with_fentry ? NULL : "on_fentry") != 0) return 1;
    if (strcmp(argv[1], "types") == 0)
        test_types(&l);
    else if (strcmp(argv[1], "statuses") == 0)
        test_statuses(&l);
    else if (strcmp(argv[1], "smp") == 0) {
        if (test_smp(&l) == SDMM_BPF_SKIP) return SDMM_BPF_SKIP;
    } else if (strcmp(argv[1], "progtypes") == 0) {
        if (test_progtypes(&l, with_fentry) == SDMM_BPF_SKIP) {
            sdmm_bpf_unload(&l);
            return SDMM_BPF_SKIP;
        }
    } else if (strcmp(argv[1], "busy") == 0)
        test_busy(&l);
    else if (strcmp(argv[1], "random") == 0)
        test_random(&l, argc > 3 ? atol(argv[3]) : 12000);
    else {
        fprintf(stderr, "unknown test %s\n", argv[1]);
        failures++;
    }
    sdmm_bpf_unload(&l);
    printf("%s\n", failures ? "FAILED" : "PASSED");
    return failures ? 1 : 0;
}
