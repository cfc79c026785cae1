// rust_heap_demo.test.mjs -- the no_std Rust program whose #[global_allocator]
// and typed blocks are sdmm-sys, in LiteSVM.
// usage: node rust_heap_demo.test.mjs SBF_DIR
import { existsSync } from "node:fs";
import { cat, check, customError, done, ix, le, newSvm, readLe, send, soPath } from "./lib.mjs";

if (!existsSync(soPath("rust-heap-demo"))) {
  console.log("SKIP: rust-heap-demo.so was not built (needs Debian's rustc-web/cargo-web/rust-web-src: " +
    "tools/setup.d/solana.sh)");
  process.exit(77);
}
const haveBump = existsSync(soPath("rust-heap-demo-bump"));
const { svm, ids, payer } = await newSvm(haveBump ? { rust: "rust-heap-demo", bump: "rust-heap-demo-bump" }
  : { rust: "rust-heap-demo" });
const run = (data) => send(svm, payer, [ix(ids.rust, [], data)]);
const noFault = (r) => !r.logs.some((l) => /Access violation|unsupported BPF|panic/i.test(l));

// Vec<u64> / Vec<[u8; 32]> through the sdmm global allocator, built and dropped in a loop.
const ROUNDS = 300;
let r = await run(cat([0], le(ROUNDS, 4)));
check(r.ok && noFault(r), `Vec workload of ${ROUNDS} rounds in 32 KiB: ${r.err}`);
const ops = Number(readLe(r.ret, 0, 8));
check(ops === ROUNDS * 2 + (ROUNDS - 4) * 2, `operations ${ops}`);
let want = 0n;
for (let k = 0n; k < BigInt(ROUNDS); k++) want += (k + 1n + ((k * 5n) & 30n)) + ((k) & 0xffn);
check(readLe(r.ret, 8, 8) === want, `checksum ${readLe(r.ret, 8, 8)} (want ${want})`);
console.log(`rust-heap-demo: ${ROUNDS} rounds of Vec build/drop, ${ops} operations, ${r.programCu} CU`);

// The same program with Solana's default bump allocator runs out of memory.
check(haveBump, "rust-heap-demo-bump.so was built alongside");
if (haveBump) {
  r = await send(svm, payer, [ix(ids.bump, [], cat([0], le(ROUNDS, 4)))]);
  check(!r.ok && r.logs.some((l) => /rust-heap-demo: panic/.test(l)),
    "with the bump allocator the same workload fails (allocation failure -> panic handler -> abort)");
  let fits = 0;
  for (const n of [5, 10, 20, 40, 80, 160]) {
    const rb = await send(svm, payer, [ix(ids.bump, [], cat([0], le(n, 4)))]);
    if (rb.ok) fits = n;
  }
  check(fits > 0 && fits < ROUNDS, `the bump build works for short runs (${fits} rounds fit in 32 KiB)`);
  console.log(`rust-heap-demo-bump: out of memory before ${ROUNDS} rounds; the largest tested run that fits: ${fits} rounds`);
}

// sdmm-sys typed blocks (pubkey, u64, and more types) inside a heap that lives in a Vec.
r = await run(cat([1], le(200, 4)));
check(r.ok && noFault(r), `typed blocks: ${r.err} ${customError(r)}`);
check(Number(readLe(r.ret, 0, 8)) === 405, `typed blocks allocated and freed: ${readLe(r.ret, 0, 8)}`);

// String / Vec<u64> / Vec<String> work through the global allocator, same
// result as computed here (and as the bump build gives, where it fits).
function stringsChecksum(rounds) {
  const window = [];
  let sum = 0n;
  for (let r = 0; r < rounds; r++) {
    const key = `acct-${r}` + "/seed".repeat(r & 3);
    let values = 0n;
    for (let i = 0; i < 4 + (r & 15); i++) values += BigInt(r * i);
    const joined = `${key}-x`;
    sum += BigInt(joined.length) + values;
    if (window.length === 8) window.shift();
    window.push(joined);
  }
  return sum + BigInt(window.reduce((a, k) => a + k.length, 0));
}
for (const n of [1, 40, 300]) {
  r = await run(cat([3], le(n, 4)));
  check(r.ok && noFault(r) && readLe(r.ret, 8, 8) === stringsChecksum(n),
    `STRINGS ${n} rounds: checksum ${readLe(r.ret, 8, 8)} (want ${stringsChecksum(n)}) ${r.err ?? ""}`);
}
if (haveBump) {
  r = await send(svm, payer, [ix(ids.bump, [], cat([3], le(40, 4)))]);
  check(r.ok && readLe(r.ret, 8, 8) === stringsChecksum(40), `bump build, STRINGS 40 rounds: ${r.err ?? "same checksum"}`);
}

// Errors are values on-chain too.
r = await run([2]);
const st = [0, 1, 2, 3, 4].map((i) => Number(readLe(r.ret, 8 * i, 8)));
check(r.ok && st.join() === "1,2,3,0,1", `ZeroCount, TooLarge, OutOfMemory, Ok, refused Vec reserve: ${st}`);

// Growth into a larger heap frame: 100 KiB in one Vec. With a 128 KiB frame
// the heap grows from 32 KiB into it; with the default 32 KiB frame growing
// touches memory the VM did not map, and the transaction fails as it would on
// running out; the bump build ignores the frame and runs out either way.
const BIG_KIB = 100;
const bigSum = (() => { const n = BigInt(BIG_KIB * 128); return (n * (n - 1n)) / 2n; })(); // sum of 0..n-1
r = await send(svm, payer, [ix(ids.rust, [], cat([4], le(BIG_KIB, 4)))], { heap: 128 * 1024 });
check(r.ok && readLe(r.ret, 8, 8) === bigSum,
  `a ${BIG_KIB} KiB Vec in a 128 KiB heap frame (the heap grew into it): ${r.err ?? "checksum ok"}`);
r = await send(svm, payer, [ix(ids.rust, [], cat([4], le(BIG_KIB, 4)))]);
check(!r.ok, `the same Vec without a larger frame fails the transaction (${r.err ? "failed" : "succeeded?"})`);
r = await send(svm, payer, [ix(ids.rust, [], cat([4], le(20, 4)))]);
check(r.ok, `a 20 KiB Vec needs no larger frame: ${r.err ?? "ok"}`);
if (haveBump) {
  r = await send(svm, payer, [ix(ids.bump, [], cat([4], le(BIG_KIB, 4)))], { heap: 128 * 1024 });
  check(!r.ok, `the SDK bump allocator ignores the 128 KiB frame: the ${BIG_KIB} KiB Vec fails (${r.err ? "failed" : "succeeded?"})`);
}

// Bad instruction data: an error code, not a panic.
for (const data of [[], [9, 0, 0, 0, 0], [0, 1]]) {
  r = await run(data);
  check(!r.ok && customError(r) === 1 && noFault(r), `bad data [${data}] -> error 1 (${customError(r)})`);
}
done("solana.rust_heap_demo");
