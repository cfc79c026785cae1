// sdmm_sbf.h -- the little of the Solana runtime interface the sdmm SBF
// programs use: syscalls, the serialized input, CPI structures. Written for
// upstream clang targeting BPF (-target bpf -mcpu=v2), where there is no
// Solana SDK: everything here follows the ABI of Agave's BPF loader
// (aligned serialization, loader v2/v3).
//
// Rules this header keeps: no mutable globals (SBF has no .data/.bss), no
// struct passed or returned by value (upstream BPF cannot), at most five
// arguments per call, no floats, no signed division.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct SolPubkey {
    uint8_t x[32];
} SolPubkey;

// One account of the input, pointing into the input region (writes to
// *lamports and data go straight back to the runtime).
typedef struct SolAccountInfo {
    const SolPubkey *key;
    uint64_t *lamports;
    uint64_t data_len;
    uint8_t *data;
    const SolPubkey *owner;
    uint64_t rent_epoch;
    uint8_t is_signer;
    uint8_t is_writable;
    uint8_t executable;
} SolAccountInfo;

typedef struct SolAccountMeta {
    const SolPubkey *pubkey;
    uint8_t is_writable;
    uint8_t is_signer;
} SolAccountMeta;

typedef struct SolInstruction {
    const SolPubkey *program_id;
    const SolAccountMeta *accounts;
    uint64_t account_len;
    const uint8_t *data;
    uint64_t data_len;
} SolInstruction;

typedef struct SolSignerSeed {
    const uint8_t *addr;
    uint64_t len;
} SolSignerSeed;

typedef struct SolSignerSeeds {
    const SolSignerSeed *addr;
    uint64_t len;
} SolSignerSeeds;

// ---- syscalls (resolved by name hash at load time) ----
void sol_log_(const char *message, uint64_t len);
void sol_log_64_(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e);
void sol_log_compute_units_(void);
void sol_log_pubkey(const SolPubkey *key);
uint64_t sol_remaining_compute_units(void);
void sol_memcpy_(void *dst, const void *src, uint64_t n);
void sol_memmove_(void *dst, const void *src, uint64_t n);
void sol_memset_(void *dst, uint8_t value, uint64_t n);
void sol_memcmp_(const void *a, const void *b, uint64_t n, int32_t *result);
void sol_set_return_data(const uint8_t *data, uint64_t len);
uint64_t sol_get_return_data(uint8_t *data, uint64_t len, SolPubkey *program_id);
uint64_t sol_invoke_signed_c(const SolInstruction *instruction, const SolAccountInfo *account_infos,
                             uint64_t account_infos_len, const SolSignerSeeds *signers_seeds,
                             uint64_t signers_seeds_len);

#define SOL_LOG(literal) sol_log_((literal), sizeof(literal) - 1)

// The VM heap region: 32 KiB by default, up to 256 KiB when the transaction
// asks for it (ComputeBudget RequestHeapFrame); zero-filled by the runtime.
#define SOL_HEAP_START ((uint8_t *)0x300000000ull)
#define SOL_HEAP_DEFAULT_BYTES (32u * 1024u)
#define SOL_HEAP_MAX_BYTES (256u * 1024u)

// Bytes a program may grow an account by inside one instruction: the loader
// reserves them after every account's data in the input.
#define SOL_MAX_PERMITTED_DATA_INCREASE (10u * 1024u)
#define SOL_NON_DUP_MARKER 0xFFu

typedef struct SolParameters {
    SolAccountInfo *accounts; /* caller-provided array */
    uint64_t accounts_len;    /* accounts filled in (<= capacity) */
    uint64_t accounts_total;  /* accounts in the input */
    const uint8_t *data;
    uint64_t data_len;
    const SolPubkey *program_id;
} SolParameters;

static inline uint64_t sbf_read_u64(const uint8_t *p) { return *(const uint64_t *)p; }

// Parses the input the loader serialized. Accounts past `capacity` are
// skipped (counted in accounts_total). Returns 0 on success.
static inline uint64_t sol_deserialize(const uint8_t *input, SolParameters *params, uint64_t capacity) {
    const uint64_t total = sbf_read_u64(input);
    input += 8;
    params->accounts_total = total;
    params->accounts_len = total < capacity ? total : capacity;
    for (uint64_t i = 0; i < total; ++i) {
        const uint8_t dup = *input;
        input += 1;
        if (dup == SOL_NON_DUP_MARKER) {
            SolAccountInfo info;
            info.is_signer = input[0];
            info.is_writable = input[1];
            info.executable = input[2];
            input += 3 + 4; /* flags, then the original data length (padding for us) */
            info.key = (const SolPubkey *)input;
            input += 32;
            info.owner = (const SolPubkey *)input;
            input += 32;
            info.lamports = (uint64_t *)input;
            input += 8;
            info.data_len = sbf_read_u64(input);
            input += 8;
            info.data = (uint8_t *)input;
            input += info.data_len + SOL_MAX_PERMITTED_DATA_INCREASE;
            input = (const uint8_t *)(((uint64_t)input + 7) & ~(uint64_t)7);
            info.rent_epoch = sbf_read_u64(input);
            input += 8;
            if (i < capacity) params->accounts[i] = info;
        } else {
            input += 7; /* padding */
            if (i < capacity && dup < capacity) params->accounts[i] = params->accounts[dup];
        }
    }
    params->data_len = sbf_read_u64(input);
    input += 8;
    params->data = input;
    input += params->data_len;
    params->program_id = (const SolPubkey *)input;
    return 0;
}

static inline int sol_pubkey_eq(const SolPubkey *a, const SolPubkey *b) {
    const uint64_t *x = (const uint64_t *)a->x;
    const uint64_t *y = (const uint64_t *)b->x;
    /* Pubkeys in the input are 8-aligned; compare four words. */
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) == 0;
}

// Little-endian loads from instruction data at any alignment (byte loads:
// the data follows a u64 length, but fields inside it are packed).
static inline uint64_t sbf_le(const uint8_t *p, uint64_t bytes) {
    uint64_t v = 0;
    for (uint64_t i = 0; i < bytes; ++i) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

#ifdef __cplusplus
}
#endif
