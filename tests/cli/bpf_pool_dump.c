// bpf_pool_dump.c -- a real kernel BPF pool for the tests of the `sdmm` tool:
// loads the BPF test object (tests/bpf/sdmm_test.bpf.c linked with sdmm_bpf.o),
// builds a heap inside the kernel with its `op` program (BPF_PROG_TEST_RUN),
// copies the `.data.sdmm_pool` map value out and writes it in the BPF pool
// dump format of cli/README.md; writes what the BPF calls returned as the
// expectation.
//
//   bpf_pool_dump OBJECT OUT EXPECT.json
// Exit 0 ok, 1 failure, 77 bpf() refused (reason printed).
#include <stdint.h>

#include "sdmm.h"
#include "sdmm_bpf_user.h"
#include "sdmm_test.h"

static __u64 run_op(struct bpf_program *prog, __u32 op, __u32 tag, __u32 n, __u64 handle) {
    struct sdmm_test_op_ctx c = {.op = op, .tag = tag, .n = n, .handle = handle};
    if (sdmm_bpf_run_syscall(prog, &c, sizeof c) != 0) {
        fprintf(stderr, "op program refused op %u\n", op);
        exit(1);
    }
    return c.result;
}

static void put_le(uint8_t *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) p[i] = (uint8_t)(v >> (8 * i));
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: bpf_pool_dump OBJECT OUT EXPECT.json\n");
        return 2;
    }
    int probe = sdmm_bpf_probe();
    if (probe != 0) return probe;
    sdmm_bpf_loaded l;
    if (sdmm_bpf_load(argv[1], &l) != 0) return 1;
    struct bpf_program *op = sdmm_bpf_prog(&l, "op", NULL);
    if (run_op(op, SDMM_OP_INIT, 0, 0, 0) != SDMM_OK) {
        fprintf(stderr, "init failed\n");
        return 1;
    }
    // Blocks of three types; every fourth one freed again.
    uint64_t blocks[SDMM_TAG_COUNT] = {0}, elements[SDMM_TAG_COUNT] = {0};
    const uint32_t tags[3] = {SDMM_TAG_U64, SDMM_TAG_PUBKEY, SDMM_TAG_U8};
    for (int i = 0; i < 12; ++i) {
        const uint32_t tag = tags[i % 3];
        const uint32_t n = 1 + (uint32_t)i * 3;
        const __u64 h = run_op(op, SDMM_OP_ALLOC_TAGGED, tag, n, 0);
        if (!SDMM_BPF_IS_VALUE(h)) {
            fprintf(stderr, "alloc failed: %s\n", sdmm_status_str((uint32_t)h));
            return 1;
        }
        if (i % 4 == 3) {
            if (run_op(op, SDMM_OP_FREE_TAGGED, tag, 0, h) != SDMM_OK) {
                fprintf(stderr, "free failed\n");
                return 1;
            }
        } else {
            blocks[tag] += 1;
            elements[tag] += n;
        }
    }
    static _Alignas(8) uint8_t dump[32 + SDMM_BPF_POOL_BYTES + SDMM_BPF_SLACK];
    memcpy(dump, "SDMMBPF1", 8);
    put_le(dump + 8, 1, 4);
    put_le(dump + 12, SDMM_BPF_POOL_BYTES, 4);
    put_le(dump + 16, SDMM_BPF_SLACK, 4);
    if (sdmm_bpf_read_pool(&l, dump + 32) != 0) {
        fprintf(stderr, "reading the pool map failed\n");
        return 1;
    }
    sdmm_bpf_unload(&l);
    FILE *f = fopen(argv[2], "wb");
    if (!f || fwrite(dump, 1, sizeof dump, f) != sizeof dump || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", argv[2]);
        return 1;
    }
    f = fopen(argv[3], "w");
    if (!f) return 1;
    fprintf(f, "{\"arena_bytes\":%u,\"types\":{", SDMM_BPF_POOL_BYTES);
    int first = 1;
    for (uint32_t t = 1; t < SDMM_TAG_COUNT; ++t)
        if (blocks[t]) {
            fprintf(f, "%s\"%s\":{\"blocks\":%llu,\"elements\":%llu}", first ? "" : ",", sdmm_tag_name(t),
                    (unsigned long long)blocks[t], (unsigned long long)elements[t]);
            first = 0;
        }
    fprintf(f, "}}\n");
    return fclose(f) == 0 ? 0 : 1;
}
