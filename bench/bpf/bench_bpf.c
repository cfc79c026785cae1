// Times typed alloc+free pairs inside BPF: sdmm against the kernel's
// bpf_obj_new/bpf_obj_drop, in the same run, with BPF_PROG_TEST_RUN's
// in-kernel timer (XDP programs, `repeat` runs per measurement). Also prints
// the verifier's processed-instruction count of every program and the size of
// the code each one loads.
//
//   bench_bpf OBJECT [REPEAT] [ROUNDS]
//
// Each program does 100 pairs per run; ns per pair = (program - empty loop) /
// 100, median over ROUNDS rounds in which the programs alternate.
#include <inttypes.h>
#include <stdint.h>

#include "sdmm.h"
#include "sdmm_bpf_user.h"

#define PAIRS 100
#define MAX_ROUNDS 101

static const char *const kTimed[] = {"empty_loop", "sdmm_pairs", "sdmm_pubkey_pairs", "obj_pairs"};
#define NTIMED (sizeof kTimed / sizeof kTimed[0])

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

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s OBJECT [REPEAT] [ROUNDS]\n", argv[0]);
        return 2;
    }
    const __u32 repeat = argc > 2 ? (__u32)atol(argv[2]) : 2000;
    int rounds = argc > 3 ? atoi(argv[3]) : 11;
    if (rounds < 1) rounds = 1;
    if (rounds > MAX_ROUNDS) rounds = MAX_ROUNDS;
    int probe = sdmm_bpf_probe();
    if (probe) return probe;
    sdmm_bpf_loaded l;
    if (sdmm_bpf_load(argv[1], &l) != 0) return 1;

    printf("verifier (processed instructions; loaded code: xlated / jited bytes):\n");
    for (int i = 0; i < l.nprogs; ++i) {
        struct bpf_prog_info info;
        __u32 len = sizeof info;
        memset(&info, 0, sizeof info);
        bpf_obj_get_info_by_fd(bpf_program__fd(l.progs[i]), &info, &len);
        printf("  %-20s %6ld insns   %6u / %6u bytes\n", bpf_program__name(l.progs[i]),
               sdmm_bpf_processed_insns(l.logs[i]), info.xlated_prog_len, info.jited_prog_len);
    }

    long status_ret = sdmm_bpf_run_syscall(sdmm_bpf_prog(&l, "setup", NULL), NULL, 0);
    if (status_ret != SDMM_OK) {
        fprintf(stderr, "heap init in BPF: %s\n", sdmm_status_str((uint32_t)status_ret));
        return 1;
    }

    static __u32 samples[NTIMED][MAX_ROUNDS];
    for (int r = 0; r < rounds; ++r)
        for (size_t p = 0; p < NTIMED; ++p)
            samples[p][r] = time_xdp(sdmm_bpf_prog(&l, kTimed[p], NULL), repeat);
    __u32 median[NTIMED];
    for (size_t p = 0; p < NTIMED; ++p) {
        qsort(samples[p], (size_t)rounds, sizeof(__u32), cmp_u32);
        median[p] = samples[p][rounds / 2];
    }
    printf("\n%d rounds x %u runs x %d pairs; median ns per run, ns per alloc+free pair (net of the loop):\n",
           rounds, repeat, PAIRS);
    for (size_t p = 0; p < NTIMED; ++p) {
        double pair = p == 0 ? 0.0 : ((double)median[p] - (double)median[0]) / PAIRS;
        printf("  %-20s %8u ns/run", kTimed[p], median[p]);
        if (p) printf("   %7.1f ns/pair", pair);
        printf("\n");
    }
    double sdmm = ((double)median[1] - (double)median[0]) / PAIRS;
    double obj = ((double)median[3] - (double)median[0]) / PAIRS;
    printf("\nsdmm u64 pair %.1f ns vs bpf_obj_new/bpf_obj_drop %.1f ns: %.1fx faster\n", sdmm, obj,
           sdmm > 0 ? obj / sdmm : 0.0);

    // The pool after the runs: every pair freed, the heap intact.
    static _Alignas(8) uint8_t pool[SDMM_BPF_POOL_BYTES + SDMM_BPF_SLACK];
    sdmm_heap *heap = NULL;
    if (sdmm_bpf_read_pool(&l, pool) != 0 || sdmm_heap_attach(pool, SDMM_BPF_POOL_BYTES, &heap) != SDMM_OK ||
        sdmm_heap_check(heap) != SDMM_OK) {
        fprintf(stderr, "the pool is not an intact heap after the runs\n");
        return 1;
    }
    sdmm_stats st;
    sdmm_heap_stats(heap, &st);
    printf("pool after the runs: heap check ok, %" PRIu64 " live blocks\n", st.live_blocks);
    sdmm_bpf_unload(&l);
    return st.live_blocks == 0 ? 0 : 1;
}
