// worst_case.test.mjs -- the worst-case compute units of one alloc and one
// free on SBF, measured, against the bound the README states.
//
// On SBF a compute unit is one executed instruction (syscalls add their
// documented cost), so the most CU any single call takes over a long random
// run is a lower bound of the true worst case that the README's bound must
// not fall below. The run (examples/solana/alloc-timing, op STRESS): random
// alloc / free (by handle, by block, by pointer, of stale handles) / resize
// of every type, requests from 1 byte to twice the arena (out of memory, too
// large, zero elements included), in arenas of 4 KiB (mostly full), 64 KiB
// and 224 KiB; every call bracketed on-chain by compute-meter readings, net
// of an empty bracket. The program itself checks statuses, zero-fill and
// sdmm_heap_check at the end.
//
// The bound is read from ONE place, a line of README.md:
//   Worst case on SBF: alloc ≤ A + bytes/K CU, free ≤ F CU
// (`+ bytes/K` optional; `<=` accepted for `≤`): alloc may also pay for
// zero-filling the request, which sol_memset_ charges at max(10, bytes/250)
// CU, so its bound may grow with the request's bytes. Free is constant.
// usage: node worst_case.test.mjs SBF_DIR
import { readFileSync } from "node:fs";
import { check, done, newSvm } from "./lib.mjs";
import { stress, summary, unlimitedLogs } from "./timing.mjs";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
const LINE = /Worst case on SBF: alloc (?:≤|<=) (\d+)(?: \+ bytes\/(\d+))? CU, free (?:≤|<=) (\d+) CU/;
const m = LINE.exec(readme);
if (!m) {
  console.log("FAIL README.md has no line `Worst case on SBF: alloc ≤ A [+ bytes/K] CU, free ≤ F CU` " +
    "(the stated worst case this test checks); measured figures follow");
}
const bound = m ? { a: Number(m[1]), k: m[2] ? Number(m[2]) : null, f: Number(m[3]) } : null;
const allocBound = (bytes) => bound.a + (bound.k ? Math.floor(bytes / bound.k) : 0);

const { svm, ids, payer } = await newSvm({ sdmm: "alloc-timing" });
unlimitedLogs(svm);
const records = [];
const SEEDS = 8;
const STEPS = 1200; // per transaction: the run, its logging included, must fit the 1.4 M CU budget
for (const arena of [4 * 1024, 64 * 1024, 224 * 1024]) {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = await stress(svm, payer, ids.sdmm, { arena, steps: STEPS, seed });
    records.push(...r.records.map((x) => ({ ...x, arena })));
  }
}
const of = (kinds) => records.filter((x) => kinds.includes(x.kind));
const allocs = of(["alloc"]);
const frees = of(["free_handle", "free_ref", "free_ptr", "free_stale"]);
const resizes = of(["resize"]);
const statuses = (rs) => [...new Set(rs.map((x) => x.status))].sort((a, b) => a - b);
// The run must have reached what it claims to cover, or the maximum says little.
check(records.length === 3 * SEEDS * STEPS, `${records.length} calls timed`);
check([0, 1, 2, 3].every((s) => statuses(allocs).includes(s)),
  `allocs succeeded and failed with ZERO_COUNT, TOO_LARGE, OUT_OF_MEMORY (statuses ${statuses(allocs)})`);
check(allocs.some((x) => x.status === 0 && x.bytes > 64 * 1024), "some successful allocations are larger than 64 KiB");
check(statuses(of(["free_stale"])).length > 0 && !statuses(of(["free_stale"])).includes(0),
  "frees of stale handles were tried and refused");

const worst = (rs, key = (x) => x.cu) => rs.reduce((w, x) => (key(x) > key(w) ? x : w), rs[0]);
const wa = worst(allocs);
const wf = worst(frees);
const wr = worst(resizes);
console.log(`alloc: ${allocs.length} calls, ${JSON.stringify(summary(allocs.map((x) => x.cu)))}; ` +
  `max ${wa.cu} CU (${wa.bytes} B, status ${wa.status})`);
for (const k of [250, 125]) {
  const w = worst(allocs, (x) => x.cu - Math.floor(x.bytes / k));
  console.log(`alloc: max of CU - bytes/${k} = ${w.cu - Math.floor(w.bytes / k)} (${w.cu} CU, ${w.bytes} B)`);
}
const small = allocs.filter((x) => x.bytes <= 256);
console.log(`alloc of <= 256 B: max ${worst(small).cu} CU`);
console.log(`free: ${frees.length} calls, ${JSON.stringify(summary(frees.map((x) => x.cu)))}; max ${wf.cu} CU (${wf.kind})`);
for (const k of ["free_handle", "free_ref", "free_ptr", "free_stale"])
  console.log(`  ${k}: max ${worst(of([k])).cu} CU over ${of([k]).length} calls`);
console.log(`resize (not bounded by the README line): max ${wr.cu} CU (${wr.bytes} B); ` +
  `max CU - bytes/125 = ${(() => { const w = worst(resizes, (x) => x.cu - Math.floor(x.bytes / 125)); return w.cu - Math.floor(w.bytes / 125); })()}`);

if (bound) {
  const overA = allocs.filter((x) => x.cu > allocBound(x.bytes));
  const overF = frees.filter((x) => x.cu > bound.f);
  check(overA.length === 0, `every alloc within ${bound.a}${bound.k ? ` + bytes/${bound.k}` : ""} CU ` +
    `(over: ${overA.length}, e.g. ${overA.slice(0, 3).map((x) => `${x.cu} CU for ${x.bytes} B`).join(", ")})`);
  check(overF.length === 0, `every free within ${bound.f} CU (over: ${overF.length}, worst ${wf.cu} CU ${wf.kind})`);
} else {
  check(false, "README.md states the worst case of alloc and free on SBF");
}
done("solana.worst_case");
