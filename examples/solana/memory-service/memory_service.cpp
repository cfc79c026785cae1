// memory_service.cpp -- a Solana program that keeps other programs' (and
// wallets') typed data for them in sdmm heaps that live in account data.
//
// A heap account is an account owned by this program whose data is one sdmm
// heap. The runtime maps account data at a different address in every
// invocation, so the heap is reopened with sdmm_heap_attach each time: all
// of sdmm's links are offsets from the heap start, and handles are
// position-independent. A heap account can be far larger than the 32..256
// KiB VM heap of one transaction (up to the 10 MiB account limit).
//
// Ownership: every block belongs to the signer that allocated it -- a wallet,
// or a program signing for its program-derived address through
// invoke_signed. The owner's pubkey is stored inside the block, in front of
// the caller's elements (ceil(32 / element size) extra elements of the
// block's own type), so the check is O(1) and costs no second lookup. A
// different signer gets ACCESS_DENIED for read, write and free.
//
// Instructions (data[0] = op, little-endian fields; accounts in order):
//   0 INIT                                  [heap (w)]
//   1 ALLOC  u8 tag, u32 n                  [heap (w), owner (s)]  -> return u64 handle
//   2 WRITE  u64 handle, u8 tag, u32 byte offset, bytes...  [heap (w), owner (s)]
//   3 READ   u64 handle, u8 tag, u32 byte offset, u32 bytes [heap, owner (s)] -> return the bytes
//   4 FREE   u64 handle, u8 tag             [heap (w), owner (s)]
//   5 STATS                                 [heap] -> return u64 live blocks, allocated, capacity, check
// Errors (custom program errors): see the constants below; 0x100 + an sdmm status.
#include "sdmm.h"
#include "sdmm_sbf.h"

namespace {

// Custom program errors.
constexpr uint64_t kBadData = 1;          // instruction data too short or malformed
constexpr uint64_t kMissingAccounts = 2;  // fewer accounts than the instruction needs
constexpr uint64_t kNotSigner = 3;        // the owner account did not sign
constexpr uint64_t kBadHeapAccount = 4;   // heap account not owned by this program, or not writable
constexpr uint64_t kAccessDenied = 5;     // the block belongs to another signer
constexpr uint64_t kAlreadyInitialized = 6;
constexpr uint64_t kOutOfRange = 7;      // byte range outside the caller's elements
constexpr uint64_t kSdmmStatus = 0x100;  // + sdmm_status

constexpr uint64_t kOwnerBytes = 32;
constexpr uint64_t kMaxReturn = 1024;  // the runtime's return-data limit

// Elements of the block's own type that hold the owner in front of the data.
uint64_t prefix_elements(uint32_t tag) {
    const uint64_t size = sdmm_tag_size(tag);
    return (kOwnerBytes + size - 1) / size;  // unsigned division: SBF has it (not the signed one)
}

// Opens the heap in the account and resolves `handle` as a block of `tag`
// owned by `owner`. On success *user points at the caller's bytes.
// Always inlined: BPF calls take at most five arguments.
[[gnu::always_inline]] inline uint64_t open_owned(sdmm_heap *heap, uint64_t handle, uint32_t tag,
                                                  const SolPubkey *owner, uint8_t **user,
                                                  uint64_t *user_bytes, sdmm_block *block) {
    const uint64_t st = sdmm_resolve_into(heap, handle, tag, block);
    if (st != SDMM_OK) return kSdmmStatus + st;
    const auto *stored = reinterpret_cast<const SolPubkey *>(block->as.u8);
    if (!sol_pubkey_eq(stored, owner)) return kAccessDenied;
    const uint64_t prefix = prefix_elements(tag) * sdmm_tag_size(tag);
    *user = block->as.u8 + prefix;
    *user_bytes = uint64_t{block->len} * sdmm_tag_size(tag) - prefix;
    return 0;
}

uint64_t run(const SolParameters &p) {
    const uint8_t *d = p.data;
    const uint64_t len = p.data_len;
    if (len < 1) return kBadData;
    const uint8_t op = d[0];
    if (p.accounts_len < 1) return kMissingAccounts;
    SolAccountInfo &acct = p.accounts[0];
    if (!sol_pubkey_eq(acct.owner, p.program_id)) return kBadHeapAccount;
    if (op != 3 && op != 5 && !acct.is_writable) return kBadHeapAccount;
    // Account data is 8-aligned in the input; the heap's own header checks
    // the rest (magic, version, geometry seal).
    sdmm_heap *heap = nullptr;
    if (op == 0) {
        if (sdmm_heap_attach(acct.data, acct.data_len, &heap) == SDMM_OK) return kAlreadyInitialized;
        const uint64_t st = sdmm_heap_init(acct.data, acct.data_len, &heap);
        return st == SDMM_OK ? 0 : kSdmmStatus + st;
    }
    uint64_t st = sdmm_heap_attach(acct.data, acct.data_len, &heap);
    if (st != SDMM_OK) return kSdmmStatus + st;
    if (op == 5) {
        sdmm_stats s;
        sdmm_heap_stats(heap, &s);
        const uint64_t out[4] = {s.live_blocks, s.allocated, s.capacity, sdmm_heap_check(heap)};
        sol_set_return_data(reinterpret_cast<const uint8_t *>(out), sizeof out);
        return 0;
    }
    if (p.accounts_len < 2) return kMissingAccounts;
    const SolAccountInfo &owner = p.accounts[1];
    if (!owner.is_signer) return kNotSigner;

    if (op == 1) {  // ALLOC u8 tag, u32 n
        if (len < 6) return kBadData;
        const auto tag = static_cast<uint32_t>(d[1]);
        const uint64_t n = sbf_le(d + 2, 4);
        if (tag == SDMM_TAG_NONE || tag >= SDMM_TAG_COUNT) return kSdmmStatus + SDMM_ERR_TAG_MISMATCH;
        if (n == 0) return kSdmmStatus + SDMM_ERR_ZERO_COUNT;
        const uint64_t total = n + prefix_elements(tag);
        if (total > 0xFFFFFFFFu) return kSdmmStatus + SDMM_ERR_TOO_LARGE;
        sdmm_block b;
        st = sdmm_alloc_tagged_into(heap, tag, static_cast<uint32_t>(total), &b);
        if (st != SDMM_OK) return kSdmmStatus + st;
        sol_memcpy_(b.as.u8, owner.key->x, kOwnerBytes);
        sol_set_return_data(reinterpret_cast<const uint8_t *>(&b.handle), 8);
        return 0;
    }
    if (op < 2 || op > 4 || len < 10) return kBadData;
    const uint64_t handle = sbf_le(d + 1, 8);
    const auto tag = static_cast<uint32_t>(d[9]);
    if (tag == SDMM_TAG_NONE || tag >= SDMM_TAG_COUNT) return kSdmmStatus + SDMM_ERR_TAG_MISMATCH;
    sdmm_block b;
    uint8_t *user = nullptr;
    uint64_t user_bytes = 0;
    st = open_owned(heap, handle, tag, owner.key, &user, &user_bytes, &b);
    if (st != 0) return st;
    switch (op) {
        case 2: {  // WRITE: u32 offset, bytes
            if (len < 14 || !acct.is_writable) return kBadData;
            const uint64_t off = sbf_le(d + 10, 4);
            const uint64_t n = len - 14;
            if (off > user_bytes || n > user_bytes - off) return kOutOfRange;
            sol_memcpy_(user + off, d + 14, n);
            return 0;
        }
        case 3: {  // READ: u32 offset, u32 bytes
            if (len < 18) return kBadData;
            const uint64_t off = sbf_le(d + 10, 4);
            const uint64_t n = sbf_le(d + 14, 4);
            if (off > user_bytes || n > user_bytes - off || n > kMaxReturn) return kOutOfRange;
            sol_set_return_data(user + off, n);
            return 0;
        }
        case 4:  // FREE: the owner check above needed the block resolved; the free
                 // itself goes by handle (no second descriptor/pointer check).
            st = sdmm_free_handle(heap, handle, tag);
            return st == SDMM_OK ? 0 : kSdmmStatus + st;
        default:
            return kBadData;
    }
}

}  // namespace

extern "C" uint64_t entrypoint(const uint8_t *input) {
    SolAccountInfo accounts[2];
    SolParameters params;
    params.accounts = accounts;
    sol_deserialize(input, &params, 2);
    return run(params);
}
