// memory_client.cpp -- a program that keeps its temporary typed data in the
// memory service (examples/solana/memory-service) through cross-program
// invocation, signing as its program-derived address ["sdmm-client", bump]:
// only this program can produce that signature, so only it can reach the
// blocks it allocated -- the same binary deployed under another program id
// has another address and is refused.
//
// Accounts: [service program, heap account (w, or read-only for LOAD), this program's PDA]
// Instructions (data[0] = op, data[1] = PDA bump):
//   0 STORE      u32 n, u64 seed  -> allocates n u64 = seed, seed+1, ...; return u64 handle (one CPI)
//   1 LOAD       u64 handle, u32 n -> reads them back; return the bytes
//   2 ROUNDTRIP  u32 n, u64 seed  -> alloc + write + read + free in one CPI (a batch), checks the values
//   3 FREE       u64 handle
//   4 NOTHING                     -> the same entry and account parsing, no CPI (CU baseline)
//   5 ROUNDTRIP4 u32 n, u64 seed  -> the same round trip as four CPIs, one operation each
// Errors: the service's error propagates; 1 bad data, 2 missing accounts,
// 3 values read back were wrong.
#include "sdmm.h"
#include "sdmm_sbf.h"

namespace {

constexpr uint64_t kBadData = 1;
constexpr uint64_t kMissingAccounts = 2;
constexpr uint64_t kWrongValue = 3;
constexpr uint64_t kMaxN = 64;   // u64 elements per call: fits one instruction and the return data
constexpr uint64_t kRef = 0x80;  // the service's "handle made earlier in this instruction" flag

struct Ctx {
    const SolParameters *p;
    SolAccountMeta metas[2];
    SolSignerSeed seed[2];
    SolSignerSeeds signer;
    uint8_t bump;
};

uint64_t invoke(Ctx &c, const uint64_t *words, uint64_t n_words) {
    SolInstruction ix;
    ix.program_id = c.p->accounts[0].key;
    ix.accounts = c.metas;
    ix.account_len = 2;
    ix.data = reinterpret_cast<const uint8_t *>(words);
    ix.data_len = 8 * n_words;
    return sol_invoke_signed_c(&ix, c.p->accounts, c.p->accounts_len, &c.signer, 1);
}

// The service's operations (little-endian u64 words; word 0 = op | tag << 8
// | count << 32), encoded at w; each returns the words it wrote. With kRef in
// `flags`, `handle` is the index of a handle made earlier in the same batch.
uint64_t op_alloc(uint64_t *w, uint64_t n) {
    w[0] = 1 | (uint64_t{SDMM_TAG_U64} << 8) | (n << 32);
    return 1;
}
uint64_t op_ref(uint64_t *w, uint64_t op, uint64_t count, uint64_t handle) {
    w[0] = op | (uint64_t{SDMM_TAG_U64} << 8) | (count << 32);
    w[1] = handle;
    return 2;
}
uint64_t op_write(uint64_t *w, uint64_t flags, uint64_t handle, uint64_t n, uint64_t seed) {
    op_ref(w, 2 | flags, 8 * n, handle);
    w[2] = 0;  // byte offset
    for (uint64_t i = 0; i < n; ++i) w[3 + i] = seed + i;
    return 3 + n;
}
uint64_t op_read(uint64_t *w, uint64_t flags, uint64_t handle, uint64_t n) {
    op_ref(w, 3 | flags, 8 * n, handle);
    w[2] = 0;
    return 3;
}

// Return data of the last CPI: exactly `n` bytes, or kWrongValue.
uint64_t take_return(uint8_t *out, uint64_t n) {
    SolPubkey from;
    return sol_get_return_data(out, n, &from) == n ? 0 : kWrongValue;
}

uint64_t check_values(const uint64_t *values, uint64_t n, uint64_t seed) {
    for (uint64_t i = 0; i < n; ++i)
        if (values[i] != seed + i) return kWrongValue;
    return 0;
}

uint64_t run(const SolParameters &p) {
    if (p.data_len < 2) return kBadData;
    const uint8_t *d = p.data;
    if (d[0] == 4) return 0;
    if (p.accounts_len < 3) return kMissingAccounts;
    Ctx c;
    c.p = &p;
    c.metas[0].pubkey = p.accounts[1].key;
    c.metas[0].is_writable = p.accounts[1].is_writable;  // read-only is enough for LOAD
    c.metas[0].is_signer = 0;
    c.metas[1].pubkey = p.accounts[2].key;
    c.metas[1].is_writable = 0;
    c.metas[1].is_signer = 1;
    c.bump = d[1];
    static constexpr char kSeed[] = "sdmm-client";
    c.seed[0].addr = reinterpret_cast<const uint8_t *>(kSeed);
    c.seed[0].len = sizeof kSeed - 1;
    c.seed[1].addr = &c.bump;
    c.seed[1].len = 1;
    c.signer.addr = c.seed;
    c.signer.len = 2;

    uint64_t buf[16 + kMaxN];
    uint64_t ret[1 + kMaxN];  // a handle, then the values
    uint64_t handle = 0;
    uint64_t st = 0;
    switch (d[0]) {
        case 0:
        case 2:
        case 5: {
            if (p.data_len < 14) return kBadData;
            const uint64_t n = sbf_le(d + 2, 4);
            const uint64_t seed = sbf_le(d + 6, 8);
            if (n == 0 || n > kMaxN) return kBadData;
            if (d[0] == 5) {  // four CPIs: alloc, write, read, free
                st = invoke(c, buf, op_alloc(buf, n));
                if (st == 0) st = take_return(reinterpret_cast<uint8_t *>(&handle), 8);
                if (st == 0) st = invoke(c, buf, op_write(buf, 0, handle, n, seed));
                if (st == 0) st = invoke(c, buf, op_read(buf, 0, handle, n));
                if (st == 0) st = take_return(reinterpret_cast<uint8_t *>(ret + 1), 8 * n);
                if (st == 0) st = check_values(ret + 1, n, seed);
                return st != 0 ? st : invoke(c, buf, op_ref(buf, 4, 0, handle));
            }
            // One CPI: ALLOC, then WRITE (and for a round trip READ, FREE) of handle #0 of the batch.
            uint64_t at = op_alloc(buf, n);
            at += op_write(buf + at, kRef, 0, n, seed);
            if (d[0] == 2) {
                at += op_read(buf + at, kRef, 0, n);
                at += op_ref(buf + at, 4 | kRef, 0, 0);
            }
            st = invoke(c, buf, at);
            const uint64_t got = d[0] == 2 ? 8 + 8 * n : 8;
            if (st == 0) st = take_return(reinterpret_cast<uint8_t *>(ret), got);
            if (st != 0) return st;
            if (d[0] == 2) return check_values(ret + 1, n, seed);
            sol_set_return_data(reinterpret_cast<const uint8_t *>(ret), 8);
            return 0;
        }
        case 1: {
            if (p.data_len < 14) return kBadData;
            handle = sbf_le(d + 2, 8);
            const uint64_t n = sbf_le(d + 10, 4);
            if (n == 0 || n > kMaxN) return kBadData;
            st = invoke(c, buf, op_read(buf, 0, handle, n));
            if (st == 0) st = take_return(reinterpret_cast<uint8_t *>(ret), 8 * n);
            if (st == 0) sol_set_return_data(reinterpret_cast<const uint8_t *>(ret), 8 * n);
            return st;
        }
        case 3:
            if (p.data_len < 10) return kBadData;
            return invoke(c, buf, op_ref(buf, 4, 0, sbf_le(d + 2, 8)));
        default:
            return kBadData;
    }
}

}  // namespace

extern "C" uint64_t entrypoint(const uint8_t *input) {
    SolAccountInfo accounts[4];
    SolParameters params;
    params.accounts = accounts;
    sol_deserialize(input, &params, 4);
    return run(params);
}
