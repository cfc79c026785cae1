// memory_service.test.mjs -- the memory-service program (sdmm heaps in
// account data) and a client program using it through CPI, in LiteSVM.
// usage: node memory_service.test.mjs SBF_DIR
import {
  cat, check, customError, done, fundedSigner, generateKeyPairSigner, getProgramDerivedAddress, ix, lamports, le,
  loadTypes, newSvm, readLe, readonly, send, signerMeta, writable,
} from "./lib.mjs";

// The element types come from the one type table (ffi/sdmm_types.def), read
// by the C preprocessor at build time (lib.mjs loadTypes).
const ROWS = loadTypes();
const TYPES = ROWS.map((t) => t.name);
const SIZE = ROWS.map((t) => t.size);
const E = { badData: 1, missing: 2, notSigner: 3, badHeap: 4, denied: 5, already: 6, range: 7 };
const S = (status) => 0x100 + status; // sdmm status as a custom error
const ST = { zero: 1, tooLarge: 2, oom: 3, invalidHeap: 4, invalidBlock: 7, tagMismatch: 9, stale: 10 };

const { svm, ids, payer } = await newSvm({
  service: "memory-service", client: "memory-client", client2: "memory-client",
});

async function heapAccount(bytes, owner = ids.service) {
  const a = (await generateKeyPairSigner()).address;
  svm.setAccount({
    address: a, data: new Uint8Array(bytes), executable: false, lamports: lamports(1_000_000_000_000n),
    programAddress: owner, space: BigInt(bytes), exists: true,
  });
  return a;
}
const svc = (accounts, data) => ix(ids.service, accounts, data);
const alloc = (heap, owner, tag, n) => svc([writable(heap), signerMeta(owner)], cat([1, tag], le(n, 4)));
const write = (heap, owner, h, tag, off, bytes) =>
  svc([writable(heap), signerMeta(owner)], cat([2], le(h, 8), [tag], le(off, 4), bytes));
const read = (heap, owner, h, tag, off, n) =>
  svc([readonly(heap), signerMeta(owner)], cat([3], le(h, 8), [tag], le(off, 4), le(n, 4)));
const free = (heap, owner, h, tag) => svc([writable(heap), signerMeta(owner)], cat([4], le(h, 8), [tag]));
const stats = async (heap) => {
  const r = await send(svm, payer, [svc([readonly(heap)], [5])]);
  return [0, 8, 16, 24].map((o) => Number(readLe(r.ret, o, 8)));
};
const run = (ixs, opts) => send(svm, payer, ixs, opts);

// ---- a heap account larger than any transaction's heap (256 KiB max) ----
const HEAP_BYTES = 512 * 1024;
const heap = await heapAccount(HEAP_BYTES);
let r = await run([svc([writable(heap)], [0])]);
check(r.ok, `init a ${HEAP_BYTES}-byte heap account: ${r.err}`);
r = await run([svc([writable(heap)], [0])]);
check(customError(r) === E.already, "init twice -> ALREADY_INITIALIZED");
let [live, , capacity, chk] = await stats(heap);
check(live === 0 && capacity > 500 * 1024 && chk === 0, `fresh heap stats live=${live} capacity=${capacity} check=${chk}`);

const alice = await fundedSigner(svm);
const bob = await fundedSigner(svm);

// ---- every type: allocate, write every byte, read back (later tx), free ----
const handles = [];
for (let t = 1; t <= TYPES.length; t++) {
  const n = 5;
  r = await run([alloc(heap, alice, t, n)]);
  check(r.ok && r.ret.length === 8, `alloc ${TYPES[t - 1]} x${n}: ${r.err}`);
  const h = readLe(r.ret, 0, 8);
  const bytes = Uint8Array.from({ length: n * SIZE[t - 1] }, (_, i) => (i * 7 + t) & 0xff);
  r = await run([write(heap, alice, h, t, 0, bytes)]);
  check(r.ok, `write ${TYPES[t - 1]}: ${r.err}`);
  handles.push({ t, h, bytes });
}
[live, , , chk] = await stats(heap);
check(live === TYPES.length && chk === 0, `${TYPES.length} live blocks after allocating every type (live=${live}, check=${chk})`);
for (const { t, h, bytes } of handles) {
  r = await run([read(heap, alice, h, t, 0, bytes.length)]);
  check(r.ok && Buffer.from(r.ret).equals(Buffer.from(bytes)), `read back ${TYPES[t - 1]} in a later transaction`);
  // Fresh elements were zero-filled: a block allocated and not written reads zeros (checked below for u64).
}

// ---- reading writes nothing: the heap account passed read-only ----
// sdmm_heap_attach must write nothing, so a block can be resolved and read
// from a heap account the transaction passes read-only. This LiteSVM does not
// map read-only account data read-only: it refuses a changed read-only
// account after the instruction (ReadonlyDataModified), so a write of the
// same value -- e.g. attach rewriting a flag word -- passes here yet faults
// where the runtime maps the data read-only. Hence the account's bytes must be
// identical after the calls, with the account passed read-only and writable
// (where nothing would stop a write).
const heapBytes = () => Buffer.from(svm.getAccount(heap).data);
for (const [how, meta] of [["read-only", readonly], ["writable", writable]]) {
  const before = heapBytes();
  const { t, h, bytes } = handles[3];
  r = await run([svc([meta(heap), signerMeta(alice)], cat([3], le(h, 8), [t], le(0, 4), le(bytes.length, 4)))]);
  check(r.ok && Buffer.from(r.ret).equals(Buffer.from(bytes)), `READ resolves the block with the heap account ${how}: ${r.err}`);
  r = await run([svc([meta(heap)], [5])]);
  check(r.ok && Number(readLe(r.ret, 24, 8)) === 0, `STATS (attach + stats + heap check) with the heap account ${how}: ${r.err}`);
  r = await run([read(heap, bob, h, t, 0, 8)]);
  check(customError(r) === E.denied, `a refused READ with the heap account ${how}`);
  check(heapBytes().equals(before), `the heap account's ${before.length} bytes are unchanged by READ/STATS (${how})`);
}
// The comparison above can fail: a call that writes changes the bytes.
{
  const before = heapBytes();
  r = await run([write(heap, alice, handles[3].h, handles[3].t, 0, [1, 2, 3, 4, 5, 6, 7, 8])]);
  check(r.ok && !heapBytes().equals(before), "a WRITE changes the account's bytes (the comparison sees writes)");
  r = await run([write(heap, alice, handles[3].h, handles[3].t, 0, handles[3].bytes.slice(0, 8))]);
  check(r.ok && heapBytes().equals(before), "writing the old bytes back restores them");
}

// ---- access control: bob cannot read, write or free alice's blocks ----
const victim = handles[3]; // u64
r = await run([read(heap, bob, victim.h, victim.t, 0, 8)]);
check(customError(r) === E.denied, "foreign signer read -> ACCESS_DENIED");
r = await run([write(heap, bob, victim.h, victim.t, 0, [1, 2, 3, 4, 5, 6, 7, 8])]);
check(customError(r) === E.denied, "foreign signer write -> ACCESS_DENIED");
r = await run([free(heap, bob, victim.h, victim.t)]);
check(customError(r) === E.denied, "foreign signer free -> ACCESS_DENIED");
r = await run([svc([readonly(heap), readonly(alice.address)], cat([3], le(victim.h, 8), [victim.t], le(0, 4), le(8, 4)))]);
check(customError(r) === E.notSigner, "owner account that did not sign -> NOT_SIGNER");
r = await run([read(heap, alice, victim.h, victim.t, 0, victim.bytes.length)]);
check(r.ok && Buffer.from(r.ret).equals(Buffer.from(victim.bytes)), "alice's data intact after the refused attempts");

// ---- bad inputs get errors, not panics ----
const bad = [
  ["empty instruction", svc([writable(heap)], []), E.badData],
  ["unknown op", svc([writable(heap), signerMeta(alice)], [9, 0, 0, 0, 0, 0, 0, 0, 0, 4]), E.badData],
  ["short alloc", svc([writable(heap), signerMeta(alice)], [1, 4]), E.badData],
  ["no owner account", svc([writable(heap)], cat([1, 4], le(1, 4))), E.missing],
  ["alloc tag 0", alloc(heap, alice, 0, 1), S(ST.tagMismatch)],
  ["alloc tag 99", alloc(heap, alice, 99, 1), S(ST.tagMismatch)],
  ["alloc n = 0", alloc(heap, alice, 4, 0), S(ST.zero)],
  ["alloc too large", alloc(heap, alice, 13, 0x7fffffff), S(ST.tooLarge)],
  ["read with wrong tag", read(heap, alice, victim.h, 5, 0, 8), S(ST.tagMismatch)],
  ["read a made-up handle", read(heap, alice, 0x123456n, 4, 0, 8), S(ST.invalidBlock)],
  ["read past the block", read(heap, alice, victim.h, victim.t, 0, victim.bytes.length + 1), E.range],
  ["write past the block", write(heap, alice, victim.h, victim.t, victim.bytes.length - 4, le(0, 8)), E.range],
  ["read more than return data holds", read(heap, alice, victim.h, victim.t, 0, 5000), E.range],
];
for (const [what, instr, want] of bad) {
  r = await run([instr]);
  check(!r.ok && customError(r) === want, `${what} -> error ${want} (got ${customError(r)}, ok=${r.ok})`);
  check(!r.logs.some((l) => /panicked|Access violation|unsupported/i.test(l)), `${what}: no VM fault`);
}
const stranger = await heapAccount(4096, payer.address); // not owned by the service
r = await run([alloc(stranger, alice, 4, 1)]);
check(customError(r) === E.badHeap, "heap account owned by another program -> BAD_HEAP_ACCOUNT");
const blank = await heapAccount(4096);
r = await run([alloc(blank, alice, 4, 1)]);
check(customError(r) === S(ST.invalidHeap), "uninitialised heap account -> INVALID_HEAP");
const garbage = await heapAccount(4096);
svm.setAccount({ address: garbage, data: Uint8Array.from({ length: 4096 }, (_, i) => (i * 131) & 0xff),
  executable: false, lamports: lamports(1_000_000_000n), programAddress: ids.service, space: 4096n, exists: true });
r = await run([alloc(garbage, alice, 4, 1)]);
check(customError(r) === S(ST.invalidHeap), "random bytes as a heap -> INVALID_HEAP");

// ---- free every type; a freed handle is stale ----
for (const { t, h } of handles) {
  r = await run([free(heap, alice, h, t)]);
  check(r.ok, `free ${TYPES[t - 1]}: ${r.err}`);
}
r = await run([free(heap, alice, victim.h, victim.t)]);
check(customError(r) === S(ST.stale), "double free -> STALE_HANDLE (generation no longer matches)");
[live, , , chk] = await stats(heap);
check(live === 0 && chk === 0, `all blocks freed, heap consistent (live=${live}, check=${chk})`);

// ---- a block larger than one transaction's heap ----
const BIG = 300 * 1024;
r = await run([alloc(heap, alice, 1, BIG)]);
check(r.ok, `alloc a ${BIG}-byte u8 block in the account heap: ${r.err}`);
const bigH = readLe(r.ret, 0, 8);
r = await run([write(heap, alice, bigH, 1, BIG - 4, [9, 8, 7, 6])]);
check(r.ok, "write at the end of the big block");
r = await run([read(heap, alice, bigH, 1, BIG - 8, 8)]);
check(r.ok && [...r.ret].join() === "0,0,0,0,9,8,7,6", `read the end of the big block: ${[...r.ret]}`);
r = await run([alloc(heap, alice, 1, BIG)]);
check(customError(r) === S(ST.oom), `a second ${BIG}-byte block does not fit -> OUT_OF_MEMORY (${customError(r)})`);
r = await run([free(heap, alice, bigH, 1)]);
check(r.ok, "free the big block");
r = await run([alloc(heap, alice, 1, BIG)]);
check(r.ok, "after the free, the space is reused");
r = await run([free(heap, alice, readLe(r.ret, 0, 8), 1)]);
check(r.ok, "free it again");

// ---- a program using the service through CPI, across transactions ----
const pda = async (prog) => getProgramDerivedAddress({ programAddress: prog, seeds: ["sdmm-client"] });
const [pda1, bump1] = await pda(ids.client);
const [pda2, bump2] = await pda(ids.client2);
const cli = (prog, p, data) => ix(prog, [readonly(ids.service), writable(heap), readonly(p)], data);
r = await run([cli(ids.client, pda1, cat([0, bump1], le(8, 4), le(1000n, 8)))]);
check(r.ok && r.ret.length === 8, `client STORE through CPI: ${r.err}`);
const ch = readLe(r.ret, 0, 8);
svm.expireBlockhash();
r = await run([cli(ids.client, pda1, cat([1, bump1], le(ch, 8), le(8, 4)))]);
const got = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => Number(readLe(r.ret, 8 * i, 8)));
check(r.ok && got.join() === "1000,1001,1002,1003,1004,1005,1006,1007", `client LOAD in a later transaction: ${got}`);
r = await run([cli(ids.client2, pda2, cat([1, bump2], le(ch, 8), le(8, 4)))]);
check(customError(r) === E.denied, "another program (its own PDA) reading the client's block -> ACCESS_DENIED");
r = await run([cli(ids.client2, pda2, cat([3, bump2], le(ch, 8)))]);
check(customError(r) === E.denied, "another program freeing the client's block -> ACCESS_DENIED");
r = await run([read(heap, alice, ch, 4, 0, 8)]);
check(customError(r) === E.denied, "a wallet reading the client's block -> ACCESS_DENIED");
r = await run([cli(ids.client2, pda1, cat([1, bump1], le(ch, 8), le(8, 4)))]);
check(!r.ok, "another program cannot sign for the client's PDA");
r = await run([cli(ids.client, pda1, cat([3, bump1], le(ch, 8)))]);
check(r.ok, `client FREE: ${r.err}`);
r = await run([cli(ids.client, pda1, cat([1, bump1], le(ch, 8), le(8, 4)))]);
check(customError(r) === S(ST.stale), "client LOAD after FREE -> STALE_HANDLE");

// ---- CU of a CPI round trip (alloc + write + read + free of 8 u64) ----
// A CPI copies the caller's view of every account it passes (data / 250
// bytes per CU), so the heap account's size shows in the figure: measured on
// the big account and on a 16 KiB one.
const small = await heapAccount(16 * 1024);
r = await run([svc([writable(small)], [0])]);
check(r.ok, "init a 16 KiB heap account");
const cpiCu = {};
for (const [name, acct] of [["512 KiB", heap], ["16 KiB", small]]) {
  const cliOn = (p, data) => ix(ids.client, [readonly(ids.service), writable(acct), readonly(p)], data);
  r = await run([cliOn(pda1, cat([2, bump1], le(8, 4), le(7n, 8)))]);
  check(r.ok, `client ROUNDTRIP on the ${name} heap: ${r.err}`);
  const base = await run([cliOn(pda1, cat([4, bump1]))]);
  check(base.ok, "client NOTHING");
  cpiCu[name] = r.programCu - base.programCu;
  console.log(`CU: memory-service CPI round trip (alloc+write+read+free of 8 u64), ${name} heap account = ` +
    `${cpiCu[name]} (client ROUNDTRIP ${r.programCu} - NOTHING ${base.programCu})`);
}
[live, , , chk] = await stats(heap);
check(live === 0 && chk === 0, `heap empty and consistent at the end (live=${live}, check=${chk})`);
done("solana.memory_service");
