// Times typed alloc+free pairs inside BPF: sdmm against the kernel's
// bpf_obj_new/bpf_obj_drop, in the same run, with BPF_PROG_TEST_RUN's
// in-kernel timer (XDP programs, `repeat` runs per measurement). Also prints
// the verifier's processed-instruction count of every program and the size of
// the code each one loads.
//
//   bench_bpf REPEAT ROUNDS OBJECT...
// (each OBJECT: the benchmark programs linked with one build of sdmm_bpf.o)
//
// Each program does 100 pairs per run; ns per pair = (program - empty loop) /
// 100, median over ROUNDS rounds in which the programs alternate.
#include <inttypes.h>
#include <stdint.h>

#include "sdmm.h"
#include "sdmm_bpf_user.h"

#define PAIRS 100
#define MAX_ROUNDS 101
#define MAX_TIMED 14

struct timed {
    const char *label;
    struct bpf_program *prog;
    __u32 samples[MAX_ROUNDS];
    __u32 median;
};

static int cmp_u32(const void *a, const void *b) {
    __u32 x = *(const __u32 *)a, y = *(const __u32 *)b;
    return x < y ? -1 : x > y;
}

// Average ns per run over `repeat` runs, or 0 if the program did not pass.
static __u32 time_xdp(struct bpf_program *prog, __u32 repeat) {
    unsigned char packet[64] = {0};
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet, .data_size_in = sizeof packet,
                .repeat = (int)repeat);
    if (bpf_prog_test_run_opts(bpf_program__fd(prog), &opts) != 0) {
        fprintf(stderr, "test run of %s failed: %s\n", bpf_program__name(prog), strerror(errno));
        exit(1);
    }
    if (opts.retval != 2 /* XDP_PASS */) {
        fprintf(stderr, "%s returned %u: an allocation failed\n", bpf_program__name(prog), opts.retval);
        exit(1);
    }
    return opts.duration;
}

static void print_verifier(const char *title, const sdmm_bpf_loaded *l) {
    printf("verifier, %s (processed instructions; loaded code: xlated / jited bytes):\n", title);
    for (int i = 0; i < l->nprogs; ++i) {
        struct bpf_prog_info info;
        __u32 len = sizeof info;
        memset(&info, 0, sizeof info);
        bpf_obj_get_info_by_fd(bpf_program__fd(l->progs[i]), &info, &len);
        printf("  %-20s %6ld insns   %6u / %6u bytes\n", bpf_program__name(l->progs[i]),
               sdmm_bpf_processed_insns(l->logs[i]), info.xlated_prog_len, info.jited_prog_len);
    }
}

// Makes the heap (the `setup` program) and checks it afterwards.
static int setup(const sdmm_bpf_loaded *l) {
    __u32 st = sdmm_bpf_run_syscall(sdmm_bpf_prog(l, "setup", NULL), NULL, 0);
    if (st != SDMM_OK) fprintf(stderr, "heap init in BPF: %s\n", sdmm_status_str(st));
    return st == SDMM_OK ? 0 : -1;
}

static int pool_intact(const sdmm_bpf_loaded *l) {
    static _Alignas(8) uint8_t pool[SDMM_BPF_POOL_BYTES + SDMM_BPF_SLACK];
    sdmm_heap *heap = NULL;
    if (sdmm_bpf_read_pool(l, pool) != 0 || sdmm_heap_attach(pool, SDMM_BPF_POOL_BYTES, &heap) != SDMM_OK ||
        sdmm_heap_check(heap) != SDMM_OK)
        return 0;
    sdmm_stats st;
    sdmm_heap_stats(heap, &st);
    return st.live_blocks == 0;
}

#define MAX_OBJECTS 4

// "dir/sdmm_bpf_bench_unlocked.o" -> "unlocked" (the build of the allocator).
static const char *variant_of(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    static char names[MAX_OBJECTS][64];
    static int next;
    char *out = names[next++ % MAX_OBJECTS];
    const char *v = strstr(base, "progs");
    v = v ? v + 5 : base;
    if (*v == '_') v++;
    snprintf(out, 64, "%s", *v == '.' || *v == 0 ? "locked (default)" : v);
    char *dot = strstr(out, ".o");
    if (dot) *dot = 0;
    return out;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr,
                "usage: %s REPEAT ROUNDS OBJECT...   (each OBJECT: the programs linked with one build)\n",
                argv[0]);
        return 2;
    }
    const __u32 repeat = (__u32)atol(argv[1]);
    int rounds = atoi(argv[2]);
    if (rounds < 1) rounds = 1;
    if (rounds > MAX_ROUNDS) rounds = MAX_ROUNDS;
    const int nobj = argc - 3 < MAX_OBJECTS ? argc - 3 : MAX_OBJECTS;
    int probe = sdmm_bpf_probe();
    if (probe) return probe;

    static sdmm_bpf_loaded l[MAX_OBJECTS];
    static struct timed t[MAX_TIMED];
    const char *label[MAX_OBJECTS];
    int n = 0;
    for (int o = 0; o < nobj; ++o) {
        label[o] = variant_of(argv[3 + o]);
        if (sdmm_bpf_load(argv[3 + o], &l[o]) != 0 || setup(&l[o]) != 0) return 1;
        char title[96];
        snprintf(title, sizeof title, "allocator build: %s", label[o]);
        print_verifier(title, &l[o]);
    }
    // A budget for the 100-pair program of the first object (bpf.bench_smoke
    // sets one), so a core change that makes verification explode fails a test.
    const char *budget = getenv("SDMM_BPF_MAX_INSNS");
    long pairs_insns = -1;
    sdmm_bpf_prog(&l[0], "sdmm_pairs", &pairs_insns);
    if (budget && pairs_insns > atol(budget)) {
        fprintf(stderr, "FAIL: sdmm_pairs needs %ld verifier instructions, budget %s\n", pairs_insns, budget);
        return 1;
    }

    static char names[MAX_TIMED][96];
    t[n++] = (struct timed){.label = "empty loop", .prog = sdmm_bpf_prog(&l[0], "empty_loop", NULL)};
    for (int o = 0; o < nobj && n + 5 < MAX_TIMED; ++o) {
        snprintf(names[n], sizeof names[n], "sdmm u64, %s", label[o]);
        t[n].label = names[n], t[n].prog = sdmm_bpf_prog(&l[o], "sdmm_pairs", NULL), n++;
        snprintf(names[n], sizeof names[n], "sdmm pubkey, %s", label[o]);
        t[n].label = names[n], t[n].prog = sdmm_bpf_prog(&l[o], "sdmm_pubkey_pairs", NULL), n++;
    }
    t[n++] =
        (struct timed){.label = "two empty global calls", .prog = sdmm_bpf_prog(&l[0], "call_pairs", NULL)};
    t[n++] = (struct timed){.label = "per-CPU free list (no checks)",
                            .prog = sdmm_bpf_prog(&l[0], "freelist_pairs", NULL)};
    t[n++] = (struct timed){.label = "bpf_obj_new/drop u64", .prog = sdmm_bpf_prog(&l[0], "obj_pairs", NULL)};

    // Rounds alternate the programs, so drift and noise hit them alike.
    for (int r = 0; r < rounds; ++r)
        for (int p = 0; p < n; ++p) t[p].samples[r] = time_xdp(t[p].prog, repeat);
    for (int p = 0; p < n; ++p) {
        qsort(t[p].samples, (size_t)rounds, sizeof(__u32), cmp_u32);
        t[p].median = t[p].samples[rounds / 2];
    }
    printf("\n%d rounds x %u runs x %d pairs; median ns per run, ns per alloc+free pair (net of the loop):\n",
           rounds, repeat, PAIRS);
    double pair[MAX_TIMED];
    for (int p = 0; p < n; ++p) {
        pair[p] = ((double)t[p].median - (double)t[0].median) / PAIRS;
        printf("  %-34s %8u ns/run", t[p].label, t[p].median);
        if (p) printf("   %7.1f ns/pair", pair[p]);
        printf("\n");
    }
    const double obj = pair[n - 1];
    for (int p = 1; p < n - 3; ++p)
        printf("  %-34s %4.1fx faster than bpf_obj_new/bpf_obj_drop\n", t[p].label,
               pair[p] > 0 ? obj / pair[p] : 0.0);

    // The pools after the runs: every pair freed, the heaps intact.
    int ok = 1;
    for (int o = 0; o < nobj; ++o) ok &= pool_intact(&l[o]), sdmm_bpf_unload(&l[o]);
    printf("pools after the runs: %s\n", ok ? "heap check ok, 0 live blocks" : "DAMAGED or leaking");
    return ok ? 0 : 1;
}
