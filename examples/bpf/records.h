/* Shared by records.bpf.c and its loader records.c. */
#ifndef SDMM_EXAMPLE_RECORDS_H
#define SDMM_EXAMPLE_RECORDS_H

#include <linux/types.h>

/* The made-up packet the XDP program understands: after the Ethernet header
 * comes the sender's 32-byte public key and an amount. */
struct transfer_packet {
    __u8 eth[14];
    __u8 sender[32];
    __u32 amount;
} __attribute__((packed));

/* Counters kept per sender, as one sdmm u64[COUNTERS] block. */
enum { PACKETS, BYTES, AMOUNT, LAST_SEEN_NS, COUNTERS };

/* The value of the `records` hash map: handles of the sender's two typed sdmm
 * allocations (a pubkey[1] with the full key, a u64[COUNTERS]). */
struct record {
    __u64 key;
    __u64 counters;
};

/* Context of the `remove` syscall program. */
struct remove_request {
    __u8 sender[32];
    __u32 status; /* out: an sdmm status, or REMOVE_NOT_FOUND */
};
#define REMOVE_NOT_FOUND 1000u

#endif
