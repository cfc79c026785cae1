// memory_service.cpp -- a Solana program that keeps other programs' (and
// wallets') typed data for them in sdmm heaps that live in account data.
//
// A heap account is an account owned by this program holding a small header,
// an owner table and one sdmm heap (layout: memory_service_layout.h). The
// runtime maps account data at a different address in every invocation, so
// the heap is reopened with sdmm_heap_attach each time (it writes nothing):
// all of sdmm's links are offsets from the heap start, and handles are
// position-independent. A heap account can be far larger than the 32..256
// KiB VM heap of one transaction (up to the 10 MiB account limit).
//
// Owners and quotas: every block belongs to the signer that allocated it -- a
// wallet, or a program signing for its program-derived address through
// invoke_signed. Each signer gets a slot in the owner table on its first
// allocation: its key, its quota in bytes and the bytes and blocks it holds.
// A block records its owner's slot index (u32) in a prefix of elements of
// its own type in front of the caller's elements (4 bytes for u8/u16 blocks,
// one element for the wider types), so the owner check is one load and one
// key comparison. Only the owner -- or the delegate it named with DELEGATE --
// reads, writes, resizes or frees a block; any other signer gets
// ACCESS_DENIED. A delegate acts on the owner's blocks and its quota; what it
// allocates is its own. An allocation or resize that would take
// the owner past its quota fails with QUOTA_EXCEEDED: the bytes counted are
// the heap's own (sdmm_heap_allocated before and after, headers and rounding
// included), and a failed instruction is rolled back by the runtime, so the
// check is exact and costs nothing to undo.
//
// Instruction data is a sequence of little-endian u64 words (the runtime
// places it 8-aligned, so every field is one aligned load). Word 0 of every
// instruction and operation: bits 0-7 the op, 8-15 the tag, 32-63 a count.
//   0 INIT      slots in the count; word 1: default quota in bytes   [heap (w), authority (s)]
//   5 STATS                                  [heap] -> u64 live blocks, allocated, capacity,
//                                               check, owners, sum of owners' used bytes
//   7 SET_QUOTA words 1-4: owner pubkey; word 5: quota        [heap (w), authority (s)]
//   8 OWNER     words 1-4: owner pubkey      [heap] -> u64 quota, used, blocks; delegate pubkey
//   9 DELEGATE  words 1-4: delegate pubkey (all zero: none)   [heap (w), owner (s)]
//   block operations, one or several in one instruction (a batch):
//                                            [heap (w; read-only if all are READ), owner (s)]
//   1 ALLOC     count = elements                                  -> u64 handle
//   6 RESIZE    count = elements; word 1: ref                     -> u64 new handle
//   4 FREE      word 1: ref
//   3 READ      count = bytes; word 1: ref; word 2: byte offset   -> the bytes
//   2 WRITE     count = bytes; word 1: ref; word 2: byte offset; the bytes, padded to 8
// `ref` is a u64 handle; with 0x80 set in the op byte it is instead the index
// of a handle made earlier in the same instruction (by ALLOC or RESIZE, in
// order), so alloc + write + read + free is one instruction. The results of
// the operations are returned together, in order, as the return data (at
// most 1024 bytes). Offsets and byte counts are of the caller's elements
// (after the owner prefix). A failing operation fails the whole instruction
// (nothing of it stays); its index is logged.
// Errors (custom program errors): the constants below; 0x100 + an sdmm status.
#include "memory_service_layout.h"
#include "sdmm.h"
#include "sdmm_sbf.h"

namespace {

// Custom program errors.
constexpr uint64_t kBadData = 1;          // instruction data too short or malformed
constexpr uint64_t kMissingAccounts = 2;  // fewer accounts than the instruction needs
constexpr uint64_t kNotSigner = 3;        // the owner (or authority) account did not sign
constexpr uint64_t kBadHeapAccount = 4;   // heap account not owned by this program, or not writable
constexpr uint64_t kAccessDenied = 5;     // the block belongs to another signer
constexpr uint64_t kAlreadyInitialized = 6;
constexpr uint64_t kOutOfRange = 7;      // byte range outside the caller's elements, or return data full
constexpr uint64_t kQuotaExceeded = 8;   // the owner's bytes would pass its quota
constexpr uint64_t kOwnerTableFull = 9;  // no free slot for a new owner
constexpr uint64_t kNotAuthority = 10;   // SET_QUOTA by another signer than INIT's
constexpr uint64_t kZeroKey[4] = {0, 0, 0, 0};
constexpr uint64_t kSdmmStatus = 0x100;  // + sdmm_status

constexpr uint64_t kMaxReturn = 1024;  // the runtime's return-data limit
constexpr uint8_t kRefFlag = 0x80;
constexpr uint64_t kMaxRefs = 16;

// The service's view of one heap account.
struct Account {
    sdmm_svc_header *hdr;
    sdmm_svc_owner *owners;
    sdmm_heap *heap;
};

// Checks the header and attaches the heap; writes nothing.
uint64_t open_account(const SolAccountInfo &acct, Account *a) {
    if (acct.data_len < SDMM_SVC_HEADER_BYTES) return kSdmmStatus + SDMM_ERR_INVALID_HEAP;
    a->hdr = reinterpret_cast<sdmm_svc_header *>(acct.data);
    const uint64_t slots = a->hdr->slots;
    const uint64_t arena = a->hdr->arena_offset;
    if (a->hdr->magic != SDMM_SVC_MAGIC || a->hdr->version != SDMM_SVC_VERSION ||
        slots > SDMM_SVC_MAX_SLOTS || a->hdr->owners > slots || arena != sdmm_svc_arena_offset(slots) ||
        arena >= acct.data_len)
        return kSdmmStatus + SDMM_ERR_INVALID_HEAP;
    a->owners = reinterpret_cast<sdmm_svc_owner *>(acct.data + SDMM_SVC_HEADER_BYTES);
    const uint64_t st = sdmm_heap_attach(acct.data + arena, acct.data_len - arena, &a->heap);
    return st == SDMM_OK ? 0 : kSdmmStatus + st;
}

bool key_eq(const uint8_t *stored, const SolPubkey *key) {
    return sol_pubkey_eq(reinterpret_cast<const SolPubkey *>(stored), key) != 0;
}

const SolPubkey *zero_key() { return reinterpret_cast<const SolPubkey *>(kZeroKey); }

// The slot of `key`, or hdr->owners if it has none.
uint64_t find_owner(const Account &a, const SolPubkey *key) {
    const uint64_t n = a.hdr->owners;
    uint64_t i = 0;
    while (i < n && !key_eq(a.owners[i].key, key)) ++i;
    return i;
}

// The state of one batch: who signs, its slot, the handles it made, the
// return data it gathers.
struct Batch {
    Account acct;
    const SolPubkey *signer;
    uint64_t slot;  // the signer's slot, or ~0 until an ALLOC needs it
    // The blocks this batch made (ALLOC, RESIZE), resolved: a reference to
    // one needs no second lookup. A freed or resized one gets handle 0.
    sdmm_block refs[kMaxRefs];
    uint64_t nrefs;
    uint64_t allocated;  // the heap's allocated bytes after the last operation
    uint64_t out_len;
    alignas(8) uint8_t out[kMaxReturn];
};

// Resolves `handle` as a block of `tag` that the signer owns or is the
// owner's delegate for; on success *user_bytes is the number of the caller's
// bytes (after the owner prefix).
[[gnu::always_inline]] inline uint64_t open_owned(const Batch &b, uint64_t handle, uint32_t tag,
                                                  sdmm_block *block, uint64_t *user_bytes) {
    const uint64_t st = sdmm_resolve_into(b.acct.heap, handle, tag, block);
    if (st != SDMM_OK) return kSdmmStatus + st;
    const uint64_t slot = *block->as.u32;  // blocks are 8-aligned
    if (slot >= b.acct.hdr->owners) return kAccessDenied;
    const sdmm_svc_owner &o = b.acct.owners[slot];
    if (!key_eq(o.key, b.signer) && (!key_eq(o.delegate, b.signer) || key_eq(o.delegate, zero_key())))
        return kAccessDenied;
    const uint64_t size = sdmm_tag_size(tag);
    const uint64_t prefix = sdmm_svc_prefix_elements(static_cast<uint32_t>(size)) * size;
    *user_bytes = uint64_t{block->len} * size - prefix;
    return 0;
}

uint64_t push_result(Batch &b, const uint8_t *bytes, uint64_t n) {
    if (n > kMaxReturn - b.out_len) return kOutOfRange;
    sol_memcpy_(b.out + b.out_len, bytes, n);
    b.out_len += n;
    return 0;
}

uint64_t push_block(Batch &b, const sdmm_block &blk) {
    const uint64_t handle = blk.handle;
    if (b.nrefs < kMaxRefs) b.refs[b.nrefs++] = blk;
    if ((b.out_len & 7) != 0 || b.out_len > kMaxReturn - 8)  // after a READ of odd length, or full
        return push_result(b, reinterpret_cast<const uint8_t *>(&handle), 8);
    *reinterpret_cast<uint64_t *>(b.out + b.out_len) = handle;
    b.out_len += 8;
    return 0;
}

// The signer's slot, made on its first allocation (quota: the default).
uint64_t signer_slot(Batch &b, uint64_t *slot) {
    if (b.slot == ~uint64_t{0}) {
        const uint64_t i = find_owner(b.acct, b.signer);
        if (i == b.acct.hdr->owners) {
            if (i >= b.acct.hdr->slots) return kOwnerTableFull;
            sdmm_svc_owner &o = b.acct.owners[i];
            // Four word stores each, cheaper than a syscall's 10 CU minimum:
            // slots and pubkeys in the input are 8-aligned (as sol_pubkey_eq
            // relies on).
            auto *key = reinterpret_cast<uint64_t *>(o.key);
            auto *delegate = reinterpret_cast<uint64_t *>(o.delegate);
            const auto *signer = reinterpret_cast<const uint64_t *>(b.signer->x);
            for (uint64_t k = 0; k < 4; ++k) {
                key[k] = signer[k];
                delegate[k] = 0;
            }
            o.quota = b.acct.hdr->default_quota;
            o.used = 0;
            o.blocks = 0;
            b.acct.hdr->owners = static_cast<uint32_t>(i + 1);
        }
        b.slot = i;
    }
    *slot = b.slot;
    return 0;
}

// Charges (or refunds) the heap's change of allocated bytes since the last
// operation to `slot`; b.allocated follows the heap.
uint64_t charge(Batch &b, uint64_t slot, uint64_t block_delta) {
    sdmm_svc_owner &o = b.acct.owners[slot];
    const uint64_t before = b.allocated;
    const uint64_t after = sdmm_heap_allocated(b.acct.heap);
    b.allocated = after;
    if (after >= before) {
        o.used += after - before;
        if (o.used > o.quota) return kQuotaExceeded;
    } else {
        const uint64_t freed = before - after;
        o.used = freed > o.used ? 0 : o.used - freed;
    }
    o.blocks += block_delta;  // +1, 0 or ~0 (-1): unsigned wrap-around
    return 0;
}

// One block operation at w[0..words); *used is set to the words it takes.
uint64_t run_op(Batch &b, const uint64_t *w, uint64_t words, bool writable, uint64_t *used) {
    const uint64_t w0 = w[0];
    const uint64_t op = w0 & 0x7F;
    const auto tag = static_cast<uint32_t>((w0 >> 8) & 0xFF);
    const uint64_t count = w0 >> 32;
    if (tag == SDMM_TAG_NONE || tag >= SDMM_TAG_COUNT) return kSdmmStatus + SDMM_ERR_TAG_MISMATCH;
    if (op != 3 && !writable) return kBadHeapAccount;
    if (op == 1) {  // ALLOC
        *used = 1;
        if (count == 0) return kSdmmStatus + SDMM_ERR_ZERO_COUNT;
        const uint64_t total = count + sdmm_svc_prefix_elements(sdmm_tag_size(tag));
        if (total > 0xFFFFFFFFu) return kSdmmStatus + SDMM_ERR_TOO_LARGE;
        uint64_t slot = 0;
        uint64_t st = signer_slot(b, &slot);
        if (st != 0) return st;
        sdmm_block blk;
        st = sdmm_alloc_tagged_into(b.acct.heap, tag, static_cast<uint32_t>(total), &blk);
        if (st != SDMM_OK) return kSdmmStatus + st;
        *blk.as.u32 = static_cast<uint32_t>(slot);
        st = charge(b, slot, 1);
        return st != 0 ? st : push_block(b, blk);
    }
    if (op < 2 || op > 6 || op == 5 || words < 2) return kBadData;
    sdmm_block local;
    sdmm_block *blk = &local;
    uint64_t user_bytes = 0;
    uint64_t st = 0;
    // WRITE / READ: word 2 the offset, then (WRITE) the bytes
    *used = op == 2 ? 3 + ((count + 7) >> 3) : op == 3 ? 3 : 2;
    if (*used > words) return kBadData;
    if ((w0 & kRefFlag) != 0) {  // a block of this batch: resolved already, the signer's
        if (w[1] >= b.nrefs) return kBadData;
        blk = &b.refs[w[1]];
        if (blk->handle == 0) return kSdmmStatus + SDMM_ERR_STALE_HANDLE;
        if (blk->tag != tag) return kSdmmStatus + SDMM_ERR_TAG_MISMATCH;
        const uint64_t size = sdmm_tag_size(tag);
        user_bytes = uint64_t{blk->len} * size - sdmm_svc_prefix_elements(static_cast<uint32_t>(size)) * size;
    } else {
        st = open_owned(b, w[1], tag, blk, &user_bytes);
        if (st != 0) return st;
    }
    if (op == 2 || op == 3) {
        const uint64_t off = w[2];
        if (off > user_bytes || count > user_bytes - off) return kOutOfRange;
        uint8_t *user = blk->as.u8 + (uint64_t{blk->len} * sdmm_tag_size(tag) - user_bytes) + off;
        if (op == 3) return push_result(b, user, count);
        sol_memcpy_(user, w + 3, count);
        return 0;
    }
    if (blk != &local) {
        local = *blk;
        blk = &local;
    }
    const uint64_t slot = *blk->as.u32;
    const uint64_t handle = blk->handle;
    // The block leaves this batch's references (freed, or moved by resize).
    for (uint64_t i = 0; i < b.nrefs; ++i)
        if (b.refs[i].handle == handle) b.refs[i].handle = 0;
    if (op == 4) {  // FREE. The owner check needed the block resolved; the
                    // free goes by handle (no second descriptor/pointer check).
        st = sdmm_free_handle(b.acct.heap, handle, tag);
        if (st != SDMM_OK) return kSdmmStatus + st;
        return charge(b, slot, ~uint64_t{0});
    }
    // RESIZE (op 6)
    if (count == 0) return kSdmmStatus + SDMM_ERR_ZERO_COUNT;
    const uint64_t total = count + sdmm_svc_prefix_elements(sdmm_tag_size(tag));
    if (total > 0xFFFFFFFFu) return kSdmmStatus + SDMM_ERR_TOO_LARGE;
    st = sdmm_resize_into(b.acct.heap, blk, static_cast<uint32_t>(total), &local);
    if (st != SDMM_OK) return kSdmmStatus + st;
    st = charge(b, slot, 0);
    return st != 0 ? st : push_block(b, local);
}

uint64_t run_batch(const SolParameters &p, Batch &b) {
    const SolAccountInfo &acct = p.accounts[0];
    if (p.accounts_len < 2) return kMissingAccounts;
    const SolAccountInfo &owner = p.accounts[1];
    if (!owner.is_signer) return kNotSigner;
    b.signer = owner.key;
    b.slot = ~uint64_t{0};
    b.nrefs = 0;
    b.out_len = 0;
    b.allocated = sdmm_heap_allocated(b.acct.heap);
    const auto *w = reinterpret_cast<const uint64_t *>(p.data);
    const uint64_t words = p.data_len >> 3;
    uint64_t pos = 0;
    for (uint64_t index = 0; pos < words; ++index) {
        uint64_t used = 0;
        const uint64_t st = run_op(b, w + pos, words - pos, acct.is_writable != 0, &used);
        if (st != 0) {
            sol_log_64_(0x0bad0b, index, st, 0, 0);  // which operation of the batch failed
            return st;
        }
        pos += used;
    }
    if (b.out_len != 0) sol_set_return_data(b.out, b.out_len);
    return 0;
}

uint64_t run(const SolParameters &p) {
    // Whole words only, and 8-aligned (where the runtime puts instruction data).
    if (p.data_len < 8 || (p.data_len & 7) != 0 || (reinterpret_cast<uint64_t>(p.data) & 7) != 0)
        return kBadData;
    const auto *w = reinterpret_cast<const uint64_t *>(p.data);
    const uint64_t words = p.data_len >> 3;
    const uint64_t op = w[0] & 0xFF;
    if (p.accounts_len < 1) return kMissingAccounts;
    SolAccountInfo &acct = p.accounts[0];
    if (!sol_pubkey_eq(acct.owner, p.program_id)) return kBadHeapAccount;
    const bool read_only_op = (op & 0x7F) == 3 || op == 5 || op == 8;
    if (!read_only_op && !acct.is_writable) return kBadHeapAccount;
    Batch b;
    if (op == 0) {  // INIT
        if (words < 2) return kBadData;
        if (p.accounts_len < 2) return kMissingAccounts;
        if (!p.accounts[1].is_signer) return kNotSigner;
        if (open_account(acct, &b.acct) == 0 ||
            (acct.data_len >= 8 &&
             reinterpret_cast<const sdmm_svc_header *>(acct.data)->magic == SDMM_SVC_MAGIC))
            return kAlreadyInitialized;
        const uint64_t slots = w[0] >> 32;
        const uint64_t arena = sdmm_svc_arena_offset(slots);
        if (slots == 0) return kBadData;  // nobody could allocate
        if (slots > SDMM_SVC_MAX_SLOTS || arena >= acct.data_len)
            return kSdmmStatus + SDMM_ERR_ARENA_TOO_SMALL;
        sdmm_heap *heap = nullptr;
        const uint64_t st = sdmm_heap_init(acct.data + arena, acct.data_len - arena, &heap);
        if (st != SDMM_OK) return kSdmmStatus + st;
        auto *h = reinterpret_cast<sdmm_svc_header *>(acct.data);
        h->magic = SDMM_SVC_MAGIC;
        h->version = SDMM_SVC_VERSION;
        h->arena_offset = static_cast<uint32_t>(arena);
        h->slots = static_cast<uint32_t>(slots);
        h->owners = 0;
        h->default_quota = w[1];
        sol_memcpy_(h->authority, p.accounts[1].key->x, 32);
        return 0;
    }
    uint64_t st = open_account(acct, &b.acct);
    if (st != 0) return st;
    const sdmm_svc_header &h = *b.acct.hdr;
    if (op == 5) {  // STATS
        sdmm_stats s;
        sdmm_heap_stats(b.acct.heap, &s);
        uint64_t used = 0;
        for (uint64_t i = 0; i < h.owners; ++i) used += b.acct.owners[i].used;
        const uint64_t out[6] = {s.live_blocks, s.allocated, s.capacity, sdmm_heap_check(b.acct.heap),
                                 h.owners,      used};
        sol_set_return_data(reinterpret_cast<const uint8_t *>(out), sizeof out);
        return 0;
    }
    if (op == 7 || op == 8) {  // SET_QUOTA / OWNER: words 1-4 the owner's pubkey
        if (words < (op == 7 ? 6u : 5u)) return kBadData;
        const auto *key = reinterpret_cast<const SolPubkey *>(w + 1);
        const uint64_t i = find_owner(b.acct, key);
        if (op == 8) {
            uint64_t out[7] = {h.default_quota, 0, 0, 0, 0, 0, 0};
            if (i < h.owners) {
                out[0] = b.acct.owners[i].quota;
                out[1] = b.acct.owners[i].used;
                out[2] = b.acct.owners[i].blocks;
                sol_memcpy_(out + 3, b.acct.owners[i].delegate, 32);
            }
            sol_set_return_data(reinterpret_cast<const uint8_t *>(out), sizeof out);
            return 0;
        }
        if (p.accounts_len < 2) return kMissingAccounts;
        if (!p.accounts[1].is_signer) return kNotSigner;
        if (!key_eq(h.authority, p.accounts[1].key)) return kNotAuthority;
        b.signer = key;
        b.slot = ~uint64_t{0};
        uint64_t slot = 0;
        st = signer_slot(b, &slot);
        if (st != 0) return st;
        b.acct.owners[slot].quota = w[5];
        return 0;
    }
    if (op == 9) {  // DELEGATE: words 1-4 the delegate's pubkey
        if (words < 5) return kBadData;
        if (p.accounts_len < 2) return kMissingAccounts;
        if (!p.accounts[1].is_signer) return kNotSigner;
        b.signer = p.accounts[1].key;
        b.slot = ~uint64_t{0};
        uint64_t slot = 0;
        st = signer_slot(b, &slot);
        if (st != 0) return st;
        sol_memcpy_(b.acct.owners[slot].delegate, w + 1, 32);
        return 0;
    }
    return run_batch(p, b);
}

}  // namespace

extern "C" uint64_t entrypoint(const uint8_t *input) {
    SolAccountInfo accounts[2];
    SolParameters params;
    params.accounts = accounts;
    sol_deserialize(input, &params, 2);
    return run(params);
}
