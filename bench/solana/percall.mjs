// percall.mjs -- compute units of each single alloc and free on SBF, sdmm
// against the Solana SDK's bump allocator built the same way, in LiteSVM.
//
// Workload (issue 9, item 3): typed u64 blocks of 8..256 B (1..32 elements,
// uniform), 32 live blocks, steady state with reuse: each step frees a random
// live block and allocates a new one; 256 warm-up steps, then 2000 timed
// steps (two seeds x 1000). Every call is bracketed on-chain by two
// sol_log_compute_units_ readings; the cost of an empty bracket, measured in
// the same run, is subtracted (examples/solana/alloc-timing, tests/solana/timing.mjs).
// What is counted: argument set-up, the call, the allocator with its
// zero-fill, the return. The bump allocator (the SDK's: cursor in the first
// word, bumping down, dealloc does nothing) gets the same calls; its free is a
// no-op the compiler removes.
//
// usage: node bench/solana/percall.mjs SBF_DIR [--json OUT.json]
import { writeFileSync } from "node:fs";
import { newSvm } from "../../tests/solana/lib.mjs";
import { FREE_KIND, percall, summary, unlimitedLogs } from "../../tests/solana/timing.mjs";

const GOAL = 60;
const { svm, ids, payer } = await newSvm({ sdmm: "alloc-timing", bump: "alloc-timing-bump" });
unlimitedLogs(svm);
const rows = [];
const results = {};
let empty = null;
for (const [name, prog, freeKind] of [
  ["sdmm (free by handle: sdmm_free_handle)", "sdmm", FREE_KIND.handle],
  ["sdmm (free by block: sdmm_free_ref)", "sdmm", FREE_KIND.ref],
  ["sdmm (free by pointer: sdmm_free_ptr)", "sdmm", FREE_KIND.ptr],
  ["SDK bump allocator (never frees)", "bump", FREE_KIND.handle],
]) {
  const alloc = [];
  const free = [];
  for (const seed of [1, 2]) {
    const r = await percall(svm, payer, ids[prog], { seed, freeKind });
    alloc.push(...r.alloc);
    free.push(...r.free);
    empty = r.empty;
  }
  results[name] = { alloc: summary(alloc), free: summary(free) };
  rows.push([name, results[name]]);
}
const f1 = (x) => (Number.isInteger(x) ? String(x) : x.toFixed(1));
console.log(`\n### CU per call, u64 blocks of 8..256 B, 32 live, steady state with reuse (2000 timed steps; empty bracket ${empty} CU subtracted)\n`);
console.log("| allocator | alloc mean | median | p99 | max | free mean | median | p99 | max |");
console.log("|---|---|---|---|---|---|---|---|---|");
for (const [name, r] of rows) {
  const a = r.alloc;
  const fr = r.free;
  console.log(`| ${name} | ${f1(a.mean)} | ${a.median} | ${a.p99} | ${a.max} | ${f1(fr.mean)} | ${fr.median} | ${fr.p99} | ${fr.max} |`);
}
const s = results["sdmm (free by handle: sdmm_free_handle)"];
console.log(`\nGoal alloc <= ${GOAL} CU and free <= ${GOAL} CU (per call, worst of the steady state): ` +
  `alloc max ${s.alloc.max}, free max ${s.free.max} -> ${s.alloc.max <= GOAL && s.free.max <= GOAL ? "met" : "NOT met"}` +
  ` (means: alloc ${f1(s.alloc.mean)}, free ${f1(s.free.mean)})`);

// The Rust program (examples/solana/rust-heap-demo, op STRINGS): String /
// Vec<u64> / Vec<String> work with sdmm-sys's GlobalHeap as the global
// allocator, against the same program built with the SDK's bump allocator
// (--features bump). CU of the whole program for R1 and R2 rounds; per round
// = the difference / (R2 - R1), so entry and fixed costs cancel. R2 is small
// enough for the bump allocator's 32 KiB.
const rust = {};
const { existsSync } = await import("node:fs");
const { soPath, ix, cat, le, send, readLe } = await import("../../tests/solana/lib.mjs");
if (existsSync(soPath("rust-heap-demo")) && existsSync(soPath("rust-heap-demo-bump"))) {
  const r2 = await newSvm({ sdmm: "rust-heap-demo", bump: "rust-heap-demo-bump" });
  const R1 = 16;
  const R2 = 64;
  for (const prog of ["sdmm", "bump"]) {
    const cu = {};
    for (const n of [R1, R2]) {
      const r = await send(r2.svm, r2.payer, [ix(r2.ids[prog], [], cat([3], le(n, 4)))]);
      if (!r.ok) throw new Error(`rust-heap-demo (${prog}) STRINGS ${n}: ${r.err}`);
      cu[n] = { cu: r.programCu, checksum: readLe(r.ret, 8, 8) };
    }
    rust[prog] = { [`total_${R2}_rounds`]: cu[R2].cu, per_round: (cu[R2].cu - cu[R1].cu) / (R2 - R1), checksum: String(cu[R2].checksum) };
  }
  if (rust.sdmm.checksum !== rust.bump.checksum) throw new Error("the two Rust builds disagree on the result");
  console.log(`\n### Rust String/Vec workload (rust-heap-demo STRINGS, GlobalHeap vs the SDK bump allocator)\n`);
  console.log(`| global allocator | CU per round | CU for ${R2} rounds (whole program) |\n|---|---|---|`);
  console.log(`| sdmm-sys GlobalHeap | ${f1(rust.sdmm.per_round)} | ${rust.sdmm[`total_${R2}_rounds`]} |`);
  console.log(`| SDK bump allocator | ${f1(rust.bump.per_round)} | ${rust.bump[`total_${R2}_rounds`]} |`);
  console.log(`\nsdmm / bump per round: ${(rust.sdmm.per_round / rust.bump.per_round).toFixed(2)}x`);
} else {
  console.log("\n(rust-heap-demo.so / rust-heap-demo-bump.so not built: Rust workload skipped)");
}
const out = process.argv.indexOf("--json");
if (out > 0) writeFileSync(process.argv[out + 1], JSON.stringify({ empty_bracket: empty, results, rust }, null, 2));
