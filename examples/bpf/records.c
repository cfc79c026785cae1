// Loader of records.bpf.c: sends "transfer" packets from a few senders
// through the XDP program (BPF_PROG_TEST_RUN), prints the per-sender record
// table -- read from user space by attaching the native sdmm build to a copy of
// the kernel's pool and resolving the handles the BPF program stored -- then
// removes half of the senders and checks their memory came back; finally two
// CPUs count packets of one new sender at the same time.
//
//   sdmm_bpf_records OBJECT
// Exit 0 = ok, 1 = failure, 77 = bpf() refused (reason printed).
#define _GNU_SOURCE  // sched_setaffinity
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>

#include "records.h"
#include "sdmm.h"
#include "sdmm_bpf_user.h"

#define SENDERS 16
#define PACKETS_SENT 2000

static _Alignas(8) uint8_t pool[SDMM_BPF_POOL_BYTES + SDMM_BPF_SLACK];

static void make_sender(int i, uint8_t key[32]) {
    for (int b = 0; b < 32; ++b) key[b] = (uint8_t)(i * 37 + b * 11 + 1);
}

// The heap as user space sees it now.
static sdmm_heap *snapshot(const sdmm_bpf_loaded *l) {
    sdmm_heap *heap = NULL;
    if (sdmm_bpf_read_pool(l, pool) != 0 || sdmm_heap_attach(pool, SDMM_BPF_POOL_BYTES, &heap) != SDMM_OK ||
        sdmm_heap_check(heap) != SDMM_OK) {
        fprintf(stderr, "the kernel's pool is not an intact sdmm heap\n");
        exit(1);
    }
    return heap;
}

static int print_table(const sdmm_bpf_loaded *l, uint64_t *total_packets) {
    sdmm_heap *heap = snapshot(l);
    int fd = bpf_map__fd(bpf_object__find_map_by_name(l->obj, "records"));
    __u64 key, next;
    int rows = 0;
    *total_packets = 0;
    printf("  %-18s %8s %8s %10s\n", "sender", "packets", "bytes", "amount");
    for (int more = bpf_map_get_next_key(fd, NULL, &next); more == 0;
         more = bpf_map_get_next_key(fd, &key, &next)) {
        key = next;
        struct record rec;
        if (bpf_map_lookup_elem(fd, &key, &rec) != 0) continue;
        // The handles the BPF program stored, resolved by the native build.
        sdmm_block k = sdmm_resolve(heap, rec.key, SDMM_TAG_PUBKEY);
        sdmm_block c = sdmm_resolve(heap, rec.counters, SDMM_TAG_U64);
        if (k.status != SDMM_OK || c.status != SDMM_OK || c.len != COUNTERS) {
            fprintf(stderr, "record %016llx: %s / %s\n", (unsigned long long)key, sdmm_status_str(k.status),
                    sdmm_status_str(c.status));
            return -1;
        }
        printf("  %02x%02x%02x%02x%02x%02x...%02x  %8" PRIu64 " %8" PRIu64 " %10" PRIu64 "\n",
               k.as.pubkey->bytes[0], k.as.pubkey->bytes[1], k.as.pubkey->bytes[2], k.as.pubkey->bytes[3],
               k.as.pubkey->bytes[4], k.as.pubkey->bytes[5], k.as.pubkey->bytes[31], c.as.u64[PACKETS],
               c.as.u64[BYTES], c.as.u64[AMOUNT]);
        *total_packets += c.as.u64[PACKETS];
        rows++;
    }
    sdmm_stats st;
    sdmm_heap_stats(heap, &st);
    printf("  %d records; heap: %" PRIu64 " live blocks, %" PRIu64 " bytes allocated of %" PRIu64 "\n", rows,
           st.live_blocks, st.allocated, st.capacity);
    return rows;
}

// One CPU sending `repeat` copies of a packet through the XDP program.
struct sender_thread {
    int fd;
    int cpu;
    struct transfer_packet packet;
    int err;
};

static void *send_on_cpu(void *arg) {
    struct sender_thread *t = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(t->cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = &t->packet, .data_size_in = sizeof t->packet,
                .repeat = 5000);
    if (bpf_prog_test_run_opts(t->fd, &opts) != 0) t->err = errno;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s OBJECT\n", argv[0]);
        return 2;
    }
    int probe = sdmm_bpf_probe();
    if (probe) return probe;
    sdmm_bpf_loaded l;
    if (sdmm_bpf_load(argv[1], &l) != 0) return 1;
    long insns = 0;
    struct bpf_program *xdp = sdmm_bpf_prog(&l, "count_transfers", &insns);
    printf("count_transfers verified: %ld instructions processed\n", insns);
    __u32 st = sdmm_bpf_run_syscall(sdmm_bpf_prog(&l, "init", NULL), NULL, 0);
    if (st != SDMM_OK) {
        fprintf(stderr, "init: %s\n", sdmm_status_str(st));
        return 1;
    }

    // Packets from SENDERS senders, sender i sending amount i each time.
    uint64_t expected = 0;
    for (int n = 0; n < PACKETS_SENT; ++n) {
        struct transfer_packet p;
        memset(&p, 0, sizeof p);
        int sender = (n * 7 + n / 3) % SENDERS;
        make_sender(sender, p.sender);
        p.amount = (__u32)sender;
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = &p, .data_size_in = sizeof p);
        if (bpf_prog_test_run_opts(bpf_program__fd(xdp), &opts) != 0 || opts.retval != XDP_PASS) {
            fprintf(stderr, "XDP run failed\n");
            return 1;
        }
        expected++;
    }
    uint64_t total = 0;
    printf("after %d packets:\n", PACKETS_SENT);
    int rows = print_table(&l, &total);
    int ok = rows == SENDERS && total == expected;

    // Remove every other sender: both typed allocations are freed.
    for (int i = 0; i < SENDERS; i += 2) {
        struct remove_request req;
        memset(&req, 0, sizeof req);
        make_sender(i, req.sender);
        sdmm_bpf_run_syscall(sdmm_bpf_prog(&l, "remove", NULL), &req, sizeof req);
        ok &= req.status == SDMM_OK;
        // A second removal finds nothing.
        sdmm_bpf_run_syscall(sdmm_bpf_prog(&l, "remove", NULL), &req, sizeof req);
        ok &= req.status == REMOVE_NOT_FOUND;
    }
    printf("after removing %d senders:\n", SENDERS / 2);
    rows = print_table(&l, &total);
    sdmm_stats after;
    sdmm_heap_stats(snapshot(&l), &after);
    ok &= rows == SENDERS / 2 && after.live_blocks == 2 * (SENDERS / 2);

    // Two CPUs, one new sender: both may try to create its record at once and
    // both update its counters; every packet must be counted exactly once.
    struct sender_thread th[2];
    pthread_t id[2];
    for (int i = 0; i < 2; ++i) {
        memset(&th[i], 0, sizeof th[i]);
        th[i].fd = bpf_program__fd(xdp);
        th[i].cpu = i;
        make_sender(SENDERS, th[i].packet.sender);
        th[i].packet.amount = 1;
        pthread_create(&id[i], NULL, send_on_cpu, &th[i]);
    }
    for (int i = 0; i < 2; ++i) pthread_join(id[i], NULL), ok &= th[i].err == 0;
    uint64_t before = total;
    printf("after 2 x 5000 packets of one new sender from CPUs 0 and 1 at once:\n");
    rows = print_table(&l, &total);
    ok &= rows == SENDERS / 2 + 1 && total - before == 10000;
    sdmm_heap_stats(snapshot(&l), &after);
    ok &= after.live_blocks == 2 * (SENDERS / 2 + 1);
    sdmm_bpf_unload(&l);
    printf("%s\n", ok ? "records example: ok" : "records example: FAILED");
    return ok ? 0 : 1;
}
