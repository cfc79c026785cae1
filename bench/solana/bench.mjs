// bench.mjs -- compute units of sdmm as an SBF program's heap, against the
// bump allocator built from the same source the same way, in LiteSVM (CU =
// executed sBPF instructions + syscall costs, exact and repeatable).
//
// Method: each figure is a difference of two runs of the heap-demo BENCH op
// with n = N1 and n = N2 operations, minus the same difference for a harness
// run that makes identical calls to do-nothing functions, divided by N2 - N1.
// Fixed costs (entry, input parsing, heap init, logging) cancel; what stays
// is one allocator call: call, typed dispatch, alloc with zero-fill, or free.
// Requests are typed arrays of 16..256 B (pubkey x1..8, u64 x2..32), chosen
// by xorshift with a fixed seed. The benchmark heap is 256 KiB (RequestHeapFrame)
// so N2 fresh allocations fit; the 32 KiB totals come from the demo workload.
//
// usage: node bench/solana/bench.mjs SBF_DIR   (also run by ctest as solana.bench)
import { readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  SBF_DIR, cat, customError, generateKeyPairSigner, getProgramDerivedAddress, ix, lamports, le, newSvm, readLe, readonly,
  send, writable,
} from "../../tests/solana/lib.mjs";

const N1 = 256;
const N2 = 512;
const HEAP = 256 * 1024;
// SDMM_BENCH_PER_OP_ONLY=1: only sdmm's per-operation figures, as JSON (for
// bench/solana/variants.py, which builds heap-demo over modified cores).
const perOpOnly = process.env.SDMM_BENCH_PER_OP_ONLY === "1";
const { svm, ids, payer } = await newSvm(perOpOnly ? { sdmm: "heap-demo" } : {
  sdmm: "heap-demo", bump: "heap-demo-bump", service: "memory-service", client: "memory-client",
});
let failed = false;

async function benchCu(prog, kind, n) {
  const r = await send(svm, payer, [ix(ids[prog], [], cat([1], le(HEAP, 4), [kind], le(n, 4)))], { heap: HEAP });
  if (!r.ok) {
    console.log(`FAIL ${prog} bench kind ${kind} n ${n}: ${r.err}`);
    failed = true;
  }
  return r.programCu;
}
async function perOp(prog, kind, harness, opsPerN = 1) {
  const d = (await benchCu(prog, kind, N2)) - (await benchCu(prog, kind, N1));
  const h = (await benchCu(prog, harness, N2)) - (await benchCu(prog, harness, N1));
  return (d - h) / ((N2 - N1) * opsPerN);
}

const results = {};
for (const prog of perOpOnly ? ["sdmm"] : ["sdmm", "bump"]) {
  const alloc = await perOp(prog, 1, 0); // fresh memory
  const allocThenFree = await perOp(prog, 3, 2); // the same allocations, then each block freed
  const steady = await perOp(prog, 4, 5); // free one + alloc one, 16 live blocks
  const free = allocThenFree - alloc;
  // No "alloc reusing" figure derived as steady - free: the free of kind 3
  // (in allocation order) is not the free of the steady state. Per-call
  // figures are measured directly by bench/solana/percall.mjs.
  results[prog] = {
    alloc_fresh: alloc,
    free,
    alloc_free_pair_steady: steady,
  };
}

// The per-function profiler (sbf_profile.py, an interpreter) must agree with
// the SVM: between two runs, CU = instructions + 10 per sol_memset_ (its cost
// for sizes under 2.5 KB).
{
  const { execFileSync } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const profiler = fileURLToPath(new URL("./sbf_profile.py", import.meta.url));
  const hex = (n) => Buffer.from(cat([1], le(HEAP, 4), [4], le(n, 4))).toString("hex");
  const prof = (n) => JSON.parse(execFileSync("python3", [profiler, "--totals", join(SBF_DIR, "heap-demo.so"), hex(n)]));
  const [p1, p2] = [prof(64), prof(128)];
  const predicted = (p2.instructions - p1.instructions) + 10 * ((p2.syscalls.sol_memset_ ?? 0) - (p1.syscalls.sol_memset_ ?? 0));
  const measured = (await benchCu("sdmm", 4, 128)) - (await benchCu("sdmm", 4, 64));
  if (predicted !== measured) {
    console.log(`FAIL sbf_profile.py disagrees with LiteSVM: ${predicted} vs ${measured} CU`);
    failed = true;
  } else if (!perOpOnly) {
    console.log(`sbf_profile.py agrees with LiteSVM to the CU (${measured} CU for 64 more steady-state steps)`);
  }
}

if (perOpOnly) {
  console.log(JSON.stringify(results.sdmm));
  process.exit(failed ? 1 : 0);
}

// Operations each allocator completes in the default 32 KiB heap (the demo workload).
async function workload(prog, rounds) {
  return send(svm, payer, [ix(ids[prog], [], cat([0], le(0, 4), le(rounds, 4)))]);
}
let r = await workload("bump", 1000);
const bumpLine = r.logs.find((l) => /^Program log: 0x/.test(l)) ?? "";
const bumpOps = r.ok ? null : parseInt(bumpLine.split(" ")[2], 16);
let sdmmRounds = 0;
let sdmmOps = 0;
let sdmmCu = 0;
for (const rounds of [1000, 900, 800, 600, 400]) {
  r = await workload("sdmm", rounds);
  if (r.ok) {
    sdmmRounds = rounds;
    sdmmOps = Number(readLe(r.ret, 0, 8));
    sdmmCu = r.programCu;
    break;
  }
}

// The memory service: a CPI round trip (alloc + write + read + free of 8 u64):
// one batched CPI (client op 2) and four one-operation CPIs (client op 5),
// each measured after one warm-up round trip on the fresh account.
// Service instruction data: little-endian u64 words, word 0 = op | tag << 8 | count << 32
// (examples/solana/memory-service/memory_service.cpp).
const w0 = (op, tag, count) => le(BigInt(op) | (BigInt(tag) << 8n) | (BigInt(count) << 32n), 8);
const { signerMeta } = await import("../../tests/solana/lib.mjs");
const initData = cat(w0(0, 0, 64), le(1n << 40n, 8)); // 64 owner slots, a quota no test reaches
async function cpiRoundTrip(bytes) {
  const heap = (await generateKeyPairSigner()).address;
  svm.setAccount({ address: heap, data: new Uint8Array(bytes), executable: false, lamports: lamports(10n ** 12n),
    programAddress: ids.service, space: BigInt(bytes), exists: true });
  await send(svm, payer, [ix(ids.service, [writable(heap), signerMeta(payer)], initData)]);
  const [pda, bump] = await getProgramDerivedAddress({ programAddress: ids.client, seeds: ["sdmm-client"] });
  const accts = [readonly(ids.service), writable(heap), readonly(pda)];
  const out = {};
  for (const [name, op] of [["batched", 2], ["four", 5]]) {
    await send(svm, payer, [ix(ids.client, accts, cat([op, bump], le(8, 4), le(5n, 8)))]);
    const rt = await send(svm, payer, [ix(ids.client, accts, cat([op, bump], le(8, 4), le(5n, 8)))]);
    const base = await send(svm, payer, [ix(ids.client, accts, [4, bump])]);
    if (!rt.ok || !base.ok) {
      console.log(`FAIL CPI round trip (${name}) on a ${bytes}-byte heap: ${rt.err ?? base.err} ${customError(rt)}`);
      failed = true;
    }
    out[name] = rt.programCu - base.programCu;
  }
  return out;
}
const cpi = {};
for (const kib of [16, 64, 256, 512, 1024]) cpi[`${kib} KiB`] = await cpiRoundTrip(kib * 1024);

// Each memory-service instruction on its own (a wallet as the owner, no CPI):
// the program's CU for the instruction, everything included (entry, input
// parsing, sdmm_heap_attach, the operation, return data).
async function serviceOps(bytes) {
  const heap = (await generateKeyPairSigner()).address;
  svm.setAccount({ address: heap, data: new Uint8Array(bytes), executable: false, lamports: lamports(10n ** 12n),
    programAddress: ids.service, space: BigInt(bytes), exists: true });
  const owner = await generateKeyPairSigner();
  svm.airdrop(owner.address, lamports(10n ** 9n));
  const acc = [writable(heap), signerMeta(owner)];
  const out = {};
  const step = async (name, data) => {
    const r = await send(svm, payer, [ix(ids.service, name === "init" ? [writable(heap), signerMeta(payer)] : acc, data)]);
    if (!r.ok) { console.log(`FAIL memory-service ${name}: ${r.err}`); failed = true; }
    out[name] = r.programCu;
    return r;
  };
  await step("init", initData);
  const a = await step("alloc", w0(1, 4, 8));
  const h = readLe(a.ret, 0, 8);
  await step("write", cat(w0(2, 4, 64), le(h, 8), le(0, 8), new Uint8Array(64)));
  await step("read", cat(w0(3, 4, 64), le(h, 8), le(0, 8)));
  await step("free", cat(w0(4, 4, 0), le(h, 8)));
  return out;
}
const service = { "16 KiB": await serviceOps(16 * 1024), "512 KiB": await serviceOps(512 * 1024) };

const sizes = Object.fromEntries(readdirSync(SBF_DIR).filter((f) => f.endsWith(".so"))
  .map((f) => [f, statSync(join(SBF_DIR, f)).size]));

const f = (x) => (x === null ? "—" : x.toFixed(1));
console.log("\n### Solana compute units per operation, averaged over runs (typed arrays of 16..256 B; net of the harness)\n");
console.log("Averages from differences of whole runs; each call timed on its own: bench/solana/percall.mjs.\n");
console.log("| allocator | alloc, fresh memory | free (in allocation order) | free + alloc, steady state |");
console.log("|---|---|---|---|");
console.log(`| sdmm | ${f(results.sdmm.alloc_fresh)} | ${f(results.sdmm.free)} | ${f(results.sdmm.alloc_free_pair_steady)} |`);
console.log(`| bump (same build) | ${f(results.bump.alloc_fresh)} | — (never frees) | — |`);
console.log("\n### Operations completed in the default 32 KiB heap (heap-demo workload, 2 allocs + 2 frees per round)\n");
console.log(`- bump: out of memory after ${bumpOps} operations`);
console.log(`- sdmm: ${sdmmRounds} rounds = ${sdmmOps} operations completed (${sdmmCu} CU; the limit is the ` +
  "1.4M CU budget of a transaction, not memory)");
console.log("\n### memory-service CPI round trip (alloc + write + read + free of 8 u64)\n");
console.log("| heap account | 1 batched CPI | 4 CPIs |\n|---|---|---|");
for (const [k, v] of Object.entries(cpi)) console.log(`| ${k} | ${v.batched} | ${v.four} |`);
console.log("\n### memory-service instructions on their own (CU of the program, 8 u64, wallet owner)\n");
console.log("| heap account | init | alloc | write | read | free |\n|---|---|---|---|---|---|");
for (const [k, v] of Object.entries(service))
  console.log(`| ${k} | ${v.init} | ${v.alloc} | ${v.write} | ${v.read} | ${v.free} |`);
console.log("\n### Program sizes\n");
for (const [k, v] of Object.entries(sizes)) console.log(`- ${k}: ${v} bytes`);
writeFileSync(join(SBF_DIR, "bench.json"), JSON.stringify({ per_op: results, bump_ops_32k: bumpOps,
  sdmm_rounds_32k: sdmmRounds, sdmm_ops_32k: sdmmOps, cpi_round_trip: cpi, service_ops: service, so_sizes: sizes }, null, 2));
if (bumpOps === null || sdmmOps <= bumpOps) {
  console.log("FAIL the demo no longer shows the bump allocator running out where sdmm completes");
  failed = true;
}
process.exit(failed ? 1 : 0);
