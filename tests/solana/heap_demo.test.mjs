// heap_demo.test.mjs -- sdmm as the heap of an SBF program (heap-demo)
// against the bump allocator (heap-demo-bump), in LiteSVM.
// usage: node heap_demo.test.mjs SBF_DIR
import { cat, check, customError, done, ix, le, loadTypes, newSvm, readLe, send } from "./lib.mjs";

const { svm, ids, payer } = await newSvm({ sdmm: "heap-demo", bump: "heap-demo-bump" });
const demo = (prog, op, heapBytes, rest = []) => ix(ids[prog], [], cat([op], le(heapBytes, 4), rest));
const OOM = 0x100 + 3;
const noFault = (r) => !r.logs.some((l) => /Access violation|unsupported BPF|panicked/i.test(l));

// ---- the workload: typed pubkey/u64 arrays built and dropped in a loop ----
const ROUNDS = 500;
let r = await send(svm, payer, [demo("sdmm", 0, 0, le(ROUNDS, 4))]);
const ops = Number(readLe(r.ret, 0, 8));
const live = Number(readLe(r.ret, 16, 8));
check(r.ok, `sdmm completes ${ROUNDS} rounds in the default 32 KiB heap: ${r.err}`);
check(ops === ROUNDS * 4 - 8, `sdmm did ${ops} allocs+frees (want ${ROUNDS * 4 - 8})`);
check(live === 8, `8 arrays still live at the end (got ${live})`);
check(r.logs.filter((l) => /Program consumption: \d+ units remaining/.test(l)).length === 2,
  "the program logs its compute units (before and after the workload)");
console.log(`heap-demo (sdmm): ${ROUNDS} rounds, ${ops} operations, ${r.programCu} CU`);

r = await send(svm, payer, [demo("bump", 0, 0, le(ROUNDS, 4))]);
check(!r.ok && customError(r) === OOM, `the bump allocator runs out of memory (error ${customError(r)})`);
check(noFault(r), "bump: a clean error, not a fault");
const bumpLine = r.logs.find((l) => /^Program log: 0x/.test(l)) ?? "";
const bumpOps = parseInt(bumpLine.split(" ")[2], 16);
check(bumpOps > 100 && bumpOps < ops, `bump managed ${bumpOps} operations before failing`);
console.log(`heap-demo-bump: out of memory after ${bumpOps} operations (${r.programCu} CU)`);

// ---- every type allocated, checked zero, written, resolved and freed on-chain ----
r = await send(svm, payer, [demo("sdmm", 2, 0, le(3, 4))]);
const nTypes = loadTypes().length;
check(r.ok && Number(readLe(r.ret, 0, 8)) === nTypes,
  `all ${nTypes} types allocated and freed (${r.err ?? readLe(r.ret, 0, 8)})`);
r = await send(svm, payer, [demo("sdmm", 2, 0, le(100, 4))]);
check(r.ok, `all types with 100 elements: ${r.err}`);

// ---- bad input: statuses, and the heap stays intact ----
r = await send(svm, payer, [demo("sdmm", 3, 0)]);
// ZERO_COUNT, TOO_LARGE, TAG_MISMATCH (unknown tag), INVALID_HEAP (null), TAG_MISMATCH (wrong
// tag on free), INVALID_BLOCK (pointer/handle disagree), OK, DOUBLE_FREE, STALE_HANDLE,
// TAG_MISMATCH (resolve), INVALID_BLOCK (made-up handle); sdmm_free_handle with the wrong tag
// TAG_MISMATCH, sdmm_free_ptr of an interior pointer INVALID_BLOCK, sdmm_free_ptr OK,
// sdmm_free_handle again DOUBLE_FREE; heap check OK
check(r.ok && [...r.ret].join() === "1,2,9,4,9,7,0,8,10,9,7,9,7,0,8,0", `bad-input statuses: ${[...r.ret]}`);

const bad = [
  ["too short", ix(ids.sdmm, [], [0, 0]), 1],
  ["unknown op", demo("sdmm", 77, 0, le(1, 4)), 1],
  ["heap larger than 256 KiB", demo("sdmm", 0, 512 * 1024, le(1, 4)), 1],
  ["heap too small for sdmm", demo("sdmm", 0, 100, le(1, 4)), 0x100 + 5],
  ["workload without its count", demo("sdmm", 0, 0), 1],
];
for (const [what, instr, want] of bad) {
  r = await send(svm, payer, [instr]);
  check(!r.ok && customError(r) === want && noFault(r), `${what} -> error ${want} (got ${customError(r)})`);
}

// ---- a larger heap when the transaction requests one ----
const BIG = 8192; // u64 elements = 64 KiB
r = await send(svm, payer, [demo("sdmm", 4, 0, le(BIG, 4))]);
check(!r.ok && customError(r) === 0x100 + 2, `a 64 KiB array does not fit the 32 KiB heap (${customError(r)})`);
r = await send(svm, payer, [demo("sdmm", 4, 256 * 1024, le(BIG, 4))], { heap: 256 * 1024 });
check(r.ok && Number(readLe(r.ret, 0, 8)) === BIG && Number(readLe(r.ret, 8, 8)) === 42,
  `with RequestHeapFrame(256 KiB) the 64 KiB array works: ${r.err}`);
r = await send(svm, payer, [demo("sdmm", 0, 256 * 1024, le(ROUNDS, 4))], { heap: 256 * 1024 });
check(r.ok, `the workload on a 256 KiB heap: ${r.err}`);
done("solana.heap_demo");
