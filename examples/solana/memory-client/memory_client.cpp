// memory_client.cpp -- a program that keeps its temporary typed data in the
// memory service (examples/solana/memory-service) through cross-program
// invocation, signing as its program-derived address ["sdmm-client", bump]:
// only this program can produce that signature, so only it can reach the
// blocks it allocated -- the same binary deployed under another program id
// has another address and is refused.
//
// Accounts: [service program, heap account (w), this program's PDA]
// Instructions (data[0] = op, data[1] = PDA bump):
//   0 STORE     u32 n, u64 seed  -> allocates n u64 = seed, seed+1, ...; return u64 handle
//   1 LOAD      u64 handle, u32 n -> reads them back; return the bytes
//   2 ROUNDTRIP u32 n, u64 seed  -> alloc + write + read + free, checks the values
//   3 FREE      u64 handle
//   4 NOTHING                    -> the same entry and account parsing, no CPI (CU baseline)
// Errors: the service's error propagates; 1 bad data, 2 missing accounts,
// 3 values read back were wrong.
#include "sdmm.h"
#include "sdmm_sbf.h"

namespace {

constexpr uint64_t kBadData = 1;
constexpr uint64_t kMissingAccounts = 2;
constexpr uint64_t kWrongValue = 3;
constexpr uint64_t kMaxN = 64;  // u64 elements per call: fits one instruction and the return data

struct Ctx {
    const SolParameters *p;
    SolAccountMeta metas[2];
    SolSignerSeed seed[2];
    SolSignerSeeds signer;
    uint8_t bump;
};

uint64_t invoke(Ctx &c, const uint8_t *data, uint64_t len) {
    SolInstruction ix;
    ix.program_id = c.p->accounts[0].key;
    ix.accounts = c.metas;
    ix.account_len = 2;
    ix.data = data;
    ix.data_len = len;
    return sol_invoke_signed_c(&ix, c.p->accounts, c.p->accounts_len, &c.signer, 1);
}

void put_le(uint8_t *p, uint64_t v, uint64_t bytes) {
    for (uint64_t i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t service_alloc(Ctx &c, uint64_t n, uint64_t *handle) {
    uint8_t d[6] = {1, SDMM_TAG_U64};
    put_le(d + 2, n, 4);
    const uint64_t st = invoke(c, d, sizeof d);
    if (st != 0) return st;
    SolPubkey from;
    if (sol_get_return_data(reinterpret_cast<uint8_t *>(handle), 8, &from) != 8) return kWrongValue;
    return 0;
}

uint64_t service_write(Ctx &c, uint64_t handle, uint64_t n, uint64_t seed) {
    uint8_t d[14 + kMaxN * 8];
    d[0] = 2;
    put_le(d + 1, handle, 8);
    d[9] = SDMM_TAG_U64;
    put_le(d + 10, 0, 4);
    for (uint64_t i = 0; i < n; ++i) put_le(d + 14 + 8 * i, seed + i, 8);
    return invoke(c, d, 14 + 8 * n);
}

uint64_t service_read(Ctx &c, uint64_t handle, uint64_t n, uint64_t *out) {
    uint8_t d[18];
    d[0] = 3;
    put_le(d + 1, handle, 8);
    d[9] = SDMM_TAG_U64;
    put_le(d + 10, 0, 4);
    put_le(d + 14, 8 * n, 4);
    const uint64_t st = invoke(c, d, sizeof d);
    if (st != 0) return st;
    SolPubkey from;
    if (sol_get_return_data(reinterpret_cast<uint8_t *>(out), 8 * n, &from) != 8 * n) return kWrongValue;
    return 0;
}

uint64_t service_free(Ctx &c, uint64_t handle) {
    uint8_t d[10];
    d[0] = 4;
    put_le(d + 1, handle, 8);
    d[9] = SDMM_TAG_U64;
    return invoke(c, d, sizeof d);
}

uint64_t run(const SolParameters &p) {
    if (p.data_len < 2) return kBadData;
    const uint8_t *d = p.data;
    if (d[0] == 4) return 0;
    if (p.accounts_len < 3) return kMissingAccounts;
    Ctx c;
    c.p = &p;
    c.metas[0].pubkey = p.accounts[1].key;
    c.metas[0].is_writable = 1;
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

    uint64_t handle = 0;
    uint64_t values[kMaxN];
    switch (d[0]) {
        case 0:
        case 2: {
            if (p.data_len < 14) return kBadData;
            const uint64_t n = sbf_le(d + 2, 4);
            const uint64_t seed = sbf_le(d + 6, 8);
            if (n == 0 || n > kMaxN) return kBadData;
            uint64_t st = service_alloc(c, n, &handle);
            if (st == 0) st = service_write(c, handle, n, seed);
            if (st != 0 || d[0] == 0) {
                if (st == 0) sol_set_return_data(reinterpret_cast<const uint8_t *>(&handle), 8);
                return st;
            }
            st = service_read(c, handle, n, values);
            if (st != 0) return st;
            for (uint64_t i = 0; i < n; ++i)
                if (values[i] != seed + i) return kWrongValue;
            return service_free(c, handle);
        }
        case 1: {
            if (p.data_len < 14) return kBadData;
            handle = sbf_le(d + 2, 8);
            const uint64_t n = sbf_le(d + 10, 4);
            if (n == 0 || n > kMaxN) return kBadData;
            const uint64_t st = service_read(c, handle, n, values);
            if (st == 0) sol_set_return_data(reinterpret_cast<const uint8_t *>(values), 8 * n);
            return st;
        }
        case 3:
            if (p.data_len < 10) return kBadData;
            return service_free(c, sbf_le(d + 2, 8));
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
