// timing.mjs -- drives examples/solana/alloc-timing, where every alloc and
// free is bracketed on-chain by two sol_log_compute_units_ readings, and
// turns its log into per-call compute units net of an empty bracket.
import { LiteSVM } from "litesvm";
import { cat, ix, le, send } from "./lib.mjs";

export const REGION = 256 * 1024; // the heap region every timing transaction requests
export const KIND = ["alloc", "free_handle", "free_ref", "free_ptr", "free_stale", "resize"];
export const FREE_KIND = { handle: 0, ref: 1, ptr: 2 };
const EMPTY_BRACKETS = 8; // kEmptyBrackets of alloc_timing.cpp

// A LiteSVM without the 10 KB log limit (a run logs thousands of readings).
export function unlimitedLogs(svm) {
  return svm.withLogBytesLimit();
}

async function run(svm, payer, program, data) {
  const r = await send(svm, payer, [ix(program, [], data)], { heap: REGION });
  if (!r.ok) throw new Error(`alloc-timing failed: ${r.err?.slice(0, 200)} (${r.logs.slice(-3).join(" | ")})`);
  if (r.logs.some((l) => /Log truncated/.test(l))) throw new Error("the log was truncated: call unlimitedLogs(svm)");
  // The program's own lines, in order: meter readings and records.
  const lines = [];
  for (const l of r.logs) {
    let m = /^Program consumption: (\d+) units remaining$/.exec(l);
    if (m) { lines.push({ meter: Number(m[1]) }); continue; }
    m = /^Program log: (0x[0-9a-f]+), (0x[0-9a-f]+), (0x[0-9a-f]+), 0x0, 0x0$/.exec(l);
    if (m) lines.push({ rec: [Number(m[1]), Number(m[2]), Number(m[3])] });
  }
  // The empty brackets first: all equal, or the bracket is not exact.
  const empties = [];
  for (let i = 0; i < EMPTY_BRACKETS; i++) empties.push(lines[2 * i].meter - lines[2 * i + 1].meter);
  if (empties.some((e) => e !== empties[0] || Number.isNaN(e))) throw new Error(`empty brackets differ: ${empties}`);
  return { empty: empties[0], lines: lines.slice(2 * EMPTY_BRACKETS), programCu: r.programCu };
}

// Steady state of `window` live u64 blocks of 1..maxN elements: per step one
// free (by `freeKind`) and one alloc, each timed. -> { empty, alloc[], free[] }
export async function percall(svm, payer, program, { arena = 224 * 1024, window = 32, warmup = 256, steps = 1000, seed = 1,
  freeKind = FREE_KIND.handle, maxN = 32 } = {}) {
  const data = cat([0], le(arena, 4), le(window, 4), le(warmup, 4), le(steps, 4), le(seed, 4), [freeKind, maxN]);
  const { empty, lines } = await run(svm, payer, program, data);
  if (lines.length !== 4 * steps) throw new Error(`expected ${4 * steps} readings, got ${lines.length}`);
  const cu = (i) => lines[i].meter - lines[i + 1].meter - empty;
  const free = [];
  const alloc = [];
  for (let s = 0; s < steps; s++) {
    free.push(cu(4 * s));
    alloc.push(cu(4 * s + 2));
  }
  return { empty, alloc, free };
}

// A long random run of alloc / free / resize of every type and size (sdmm
// only). -> { empty, records: [{ kind, status, cu, bytes }] }
export async function stress(svm, payer, program, { arena = 64 * 1024, steps = 1500, seed = 1 } = {}) {
  const { empty, lines, programCu } = await run(svm, payer, program, cat([1], le(arena, 4), le(steps, 4), le(seed, 4)));
  const records = [];
  for (let i = 0; i + 2 < lines.length + 0; i += 3) {
    const [a, b, rec] = [lines[i], lines[i + 1], lines[i + 2]];
    if (a.meter === undefined || b.meter === undefined || rec.rec === undefined)
      throw new Error(`log out of order at reading ${i}`);
    records.push({ kind: KIND[rec.rec[0]], status: rec.rec[1], bytes: rec.rec[2], cu: a.meter - b.meter - empty });
  }
  if (records.length !== steps) throw new Error(`expected ${steps} records, got ${records.length}`);
  return { empty, records, programCu };
}

// mean, median, p99, max of a list of integers.
export function summary(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
  return { n: s.length, mean: s.reduce((a, b) => a + b, 0) / s.length, median: q(0.5), p99: q(0.99), max: s[s.length - 1],
    min: s[0] };
}
export { LiteSVM };
