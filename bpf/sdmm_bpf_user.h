/*
 * sdmm_bpf_user.h -- user-space side of sdmm in BPF (tests, benchmark, example
 * loader): load a linked BPF object with a verifier log per program, report
 * the verifier's processed-instruction count, run programs through
 * BPF_PROG_TEST_RUN, copy the pool out of the kernel.
 *
 * Header-only (static functions) so each small tool stays one file; needs
 * libbpf (-lbpf).
 */
#ifndef SDMM_BPF_USER_H
#define SDMM_BPF_USER_H

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sdmm_bpf.h"

/* ctest's SKIP_RETURN_CODE: the machine does not let us use bpf(). */
#define SDMM_BPF_SKIP 77

#define SDMM_BPF_LOG_BYTES (1u << 20)
#define SDMM_BPF_MAX_PROGS 16

typedef struct sdmm_bpf_loaded {
    struct bpf_object *obj;
    int nprogs;
    struct bpf_program *progs[SDMM_BPF_MAX_PROGS];
    char *logs[SDMM_BPF_MAX_PROGS];
} sdmm_bpf_loaded;

static int sdmm_bpf_quiet_print(enum libbpf_print_level level, const char *fmt, va_list args) {
    if (level == LIBBPF_DEBUG) return 0;
    return vfprintf(stderr, fmt, args);
}

/* Can this process load and run BPF programs at all? On refusal, prints the
 * reason and returns SDMM_BPF_SKIP so the test is reported as skipped. */
static int sdmm_bpf_probe(void) {
    /* The smallest program: r0 = 0; exit. */
    const struct bpf_insn insns[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
        {.code = BPF_JMP | BPF_EXIT},
    };
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .prog_flags = BPF_F_SLEEPABLE); /* syscall programs sleep */
    int fd = bpf_prog_load(BPF_PROG_TYPE_SYSCALL, "sdmm_probe", "GPL", insns, 2, &opts);
    if (fd < 0) {
        int err = errno;
        /* Only a refusal is a reason to skip; anything else is a failure. */
        if (err == EPERM || err == EACCES || err == ENOSYS) {
            printf(
                "SKIP: bpf(BPF_PROG_LOAD) refused: %s (errno %d); the kernel eBPF tests need root or "
                "CAP_BPF + CAP_PERFMON (+ CAP_NET_ADMIN for XDP)\n",
                strerror(err), err);
            return SDMM_BPF_SKIP;
        }
        printf("FAIL: probe program not loaded: %s (errno %d)\n", strerror(err), err);
        return 1;
    }
    close(fd);
    return 0;
}

/* "processed N insns" from a level-4 verifier log, or -1. */
static long sdmm_bpf_processed_insns(const char *log) {
    const char *p = log ? strstr(log, "processed ") : NULL;
    return p ? strtol(p + 10, NULL, 10) : -1;
}

/* Opens and loads every program of `path` (but the one named `except`, if
 * not NULL) with a statistics log each. On a verifier refusal, reloads with
 * the full log and prints its tail. */
static int sdmm_bpf_load_except(const char *path, sdmm_bpf_loaded *out, const char *except) {
    memset(out, 0, sizeof *out);
    libbpf_set_print(sdmm_bpf_quiet_print);
    for (int attempt = 0; attempt < 2; ++attempt) {
        out->obj = bpf_object__open_file(path, NULL);
        if (!out->obj) {
            fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
            return -1;
        }
        struct bpf_program *prog;
        out->nprogs = 0;
        bpf_object__for_each_program(prog, out->obj) {
            if (out->nprogs == SDMM_BPF_MAX_PROGS) break;
            int i = out->nprogs++;
            out->progs[i] = prog;
            if (except && strcmp(bpf_program__name(prog), except) == 0)
                bpf_program__set_autoload(prog, false);
            if (!out->logs[i]) out->logs[i] = calloc(1, SDMM_BPF_LOG_BYTES);
            bpf_program__set_log_buf(prog, out->logs[i], SDMM_BPF_LOG_BYTES);
            bpf_program__set_log_level(prog, attempt == 0 ? 4 : 1 | 4);
        }
        int err = bpf_object__load(out->obj);
        if (err == 0) return 0;
        fprintf(stderr, "loading %s failed: %s\n", path, strerror(-err));
        for (int i = 0; i < out->nprogs; ++i) {
            const char *log = out->logs[i];
            size_t len = strlen(log);
            if (len == 0) continue;
            fprintf(stderr, "---- verifier log of %s (tail) ----\n%s\n", bpf_program__name(out->progs[i]),
                    len > 6000 ? log + len - 6000 : log);
        }
        bpf_object__close(out->obj);
        out->obj = NULL;
    }
    return -1;
}

static inline int sdmm_bpf_load(const char *path, sdmm_bpf_loaded *out) {
    return sdmm_bpf_load_except(path, out, NULL);
}

static struct bpf_program *sdmm_bpf_prog(const sdmm_bpf_loaded *l, const char *name, long *insns) {
    for (int i = 0; i < l->nprogs; ++i)
        if (strcmp(bpf_program__name(l->progs[i]), name) == 0) {
            if (insns) *insns = sdmm_bpf_processed_insns(l->logs[i]);
            return l->progs[i];
        }
    fprintf(stderr, "no program %s\n", name);
    exit(1);
}

static void sdmm_bpf_unload(sdmm_bpf_loaded *l) {
    if (l->obj) bpf_object__close(l->obj);
    for (int i = 0; i < SDMM_BPF_MAX_PROGS; ++i) free(l->logs[i]);
    memset(l, 0, sizeof *l);
}

/* Runs a syscall program once on `ctx` (read and written back); returns its
 * return value, or exits on a failed run. */
static __u32 sdmm_bpf_run_syscall(struct bpf_program *prog, void *ctx, size_t ctx_size) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = ctx, .ctx_size_in = (__u32)ctx_size);
    int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
    if (err) {
        fprintf(stderr, "BPF_PROG_TEST_RUN of %s failed: %s\n", bpf_program__name(prog), strerror(errno));
        exit(1);
    }
    return opts.retval;
}

/* Copies the pool (the .data.sdmm_pool map's single value) out of the kernel. */
static int sdmm_bpf_read_pool(const sdmm_bpf_loaded *l, void *buf) {
    struct bpf_map *map = bpf_object__find_map_by_name(l->obj, SDMM_BPF_POOL_SECTION);
    if (!map) {
        fprintf(stderr, "no map %s\n", SDMM_BPF_POOL_SECTION);
        return -1;
    }
    __u32 zero = 0;
    return bpf_map_lookup_elem(bpf_map__fd(map), &zero, buf);
}

#endif /* SDMM_BPF_USER_H */
