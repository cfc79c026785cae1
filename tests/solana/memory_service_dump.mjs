// memory_service_dump.mjs -- a memory-service heap account made by the real
// program in LiteSVM, written out for the tests of the `sdmm` tool
// (tests/cli/test_cli.py solana): the account's raw data, the JSON an RPC
// getAccountInfo returns for it, and what the program itself reports
// (STATS, OWNER) plus the blocks this script allocated, as the expectation.
// usage: node memory_service_dump.mjs SBF_DIR OUT_DIR
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  addressBytes, cat, check, done, fundedSigner, generateKeyPairSigner, ix, lamports, le, loadTypes, newSvm, readLe,
  readonly, send, signerMeta, writable,
} from "./lib.mjs";

const OUT = process.argv[3];
if (!OUT) {
  console.error("usage: node memory_service_dump.mjs SBF_DIR OUT_DIR");
  process.exit(2);
}
const ROWS = loadTypes();
const { svm, ids, payer } = await newSvm({ service: "memory-service" });
const BYTES = 32 * 1024;
const heap = (await generateKeyPairSigner()).address;
svm.setAccount({
  address: heap, data: new Uint8Array(BYTES), executable: false, lamports: lamports(1_000_000_000n),
  programAddress: ids.service, space: BigInt(BYTES), exists: true,
});
const svc = (accounts, data) => ix(ids.service, accounts, data);
const w0 = (op, tag, count) => le(BigInt(op) | (BigInt(tag) << 8n) | (BigInt(count) << 32n), 8);
const run = (ixs) => send(svm, payer, ixs);

let r = await run([svc([writable(heap), signerMeta(payer)], cat(w0(0, 0, 8), le(6000n, 8)))]);
check(r.ok, `init: ${r.err}`);
const alice = await fundedSigner(svm);
const bob = await fundedSigner(svm);
const live = [];
// alice: u64, pubkey and u8 blocks; bob: u32 and hash blocks; some freed again.
const plan = [[alice, 4, 10], [alice, 11, 2], [bob, 3, 7], [alice, 1, 33], [bob, 12, 1], [alice, 4, 3], [bob, 3, 50]];
for (const [who, tag, n] of plan) {
  r = await run([svc([writable(heap), signerMeta(who)], w0(1, tag, n))]);
  check(r.ok, `alloc ${tag} x${n}: ${r.err}`);
  live.push({ who, tag, n, h: readLe(r.ret, 0, 8) });
}
for (const i of [1, 4]) {
  const b = live[i];
  r = await run([svc([writable(heap), signerMeta(b.who)], cat(w0(4, b.tag, 0), le(b.h, 8)))]);
  check(r.ok, `free: ${r.err}`);
  b.freed = true;
}
// bob names alice his delegate; alice has none.
r = await run([svc([writable(heap), signerMeta(bob)], cat(le(9, 8), addressBytes(alice.address)))]);
check(r.ok, `delegate: ${r.err}`);
r = await run([svc([readonly(heap)], le(5, 8))]);
const [liveBlocks, allocated, capacity, heapCheck, owners, usedSum] = [0, 8, 16, 24, 32, 40].map((o) =>
  Number(readLe(r.ret, o, 8)));
check(heapCheck === 0 && usedSum === allocated, "the program's own STATS agree");
const ownerRows = [];
for (const who of [alice, bob]) {
  r = await run([svc([readonly(heap)], cat(le(8, 8), addressBytes(who.address)))]);
  const [quota, used, blocks] = [0, 8, 16].map((o) => Number(readLe(r.ret, o, 8)));
  const delegate = who === bob ? alice.address : ""; // OWNER returns it in bytes 24..56
  check(Buffer.from(r.ret.slice(24, 56)).equals(who === bob ? Buffer.from(addressBytes(alice.address)) : Buffer.alloc(32)),
    "OWNER returns the delegate");
  ownerRows.push({ key: who.address, delegate, quota, used, blocks });
}
const types = {};
for (const b of live.filter((x) => !x.freed)) {
  const row = ROWS[b.tag - 1];
  const prefix = row.size >= 4 ? 1 : 4 / row.size;
  const t = (types[row.name] ??= { blocks: 0, elements: 0 });
  t.blocks += 1;
  t.elements += b.n + prefix; // the block holds the owner prefix too
}
const data = Buffer.from(svm.getAccount(heap).data);
writeFileSync(join(OUT, "account.bin"), data);
// What `solana account --output json` / RPC getAccountInfo(encoding base64) give.
writeFileSync(join(OUT, "account.json"), JSON.stringify({
  jsonrpc: "2.0", id: 1,
  result: {
    context: { apiVersion: "2.2.0", slot: 1 },
    value: { data: [data.toString("base64"), "base64"], executable: false, lamports: 1000000000,
      owner: ids.service, rentEpoch: 0, space: data.length },
  },
}));
writeFileSync(join(OUT, "expect.json"), JSON.stringify({
  bytes: data.length, authority: payer.address, default_quota: 6000, slots: 8,
  stats: { live_blocks: liveBlocks, allocated, capacity }, owners_count: owners, owners: ownerRows, types,
}));
check(ownerRows[0].blocks === 3 && ownerRows[1].blocks === 2, "owners hold the blocks the plan left");
console.log(`wrote ${OUT}/account.bin, account.json, expect.json (${data.length} bytes, ${liveBlocks} live blocks)`);
done("memory_service_dump");
