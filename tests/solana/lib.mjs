// lib.mjs -- shared helpers of the sdmm Solana tests: a LiteSVM (Agave's
// program runtime), programs loaded from the build directory, transactions
// built with @solana/kit, results reduced to what the tests check.
import { LiteSVM } from "litesvm";
import {
  AccountRole, address, appendTransactionMessageInstructions, createTransactionMessage, generateKeyPairSigner,
  getAddressEncoder, getProgramDerivedAddress, lamports, pipe, setTransactionMessageFeePayerSigner,
  signTransactionMessageWithSigners,
} from "@solana/kit";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export { AccountRole, address, generateKeyPairSigner, getProgramDerivedAddress, lamports };

export const SBF_DIR = process.env.SDMM_SBF_DIR ?? process.argv[2];
if (!SBF_DIR || !existsSync(SBF_DIR)) {
  console.error(`usage: node <test> SBF_DIR (the directory with the built .so files); got ${SBF_DIR}`);
  process.exit(2);
}
export const soPath = (name) => join(SBF_DIR, `${name}.so`);

// The element types of the one type table (ffi/sdmm_types.def), in tag order
// (tag = index + 1), as the C preprocessor wrote them at build time
// (sbf/sdmm_types.jsonl.in -> SBF_DIR/sdmm_types.jsonl): { name, TAG, Camel,
// c_type, size_log2, tag, size }.
export function loadTypes() {
  const file = join(SBF_DIR, "sdmm_types.jsonl");
  if (!existsSync(file)) throw new Error(`${file} is missing: build the target sbf_types_json (cmake --build)`);
  const rows = readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
  if (rows.length === 0) throw new Error(`no type rows in ${file}`);
  return rows.map((r, i) => ({ ...r, tag: i + 1, size: 1 << r.size_log2 }));
}

const COMPUTE_BUDGET = address("ComputeBudget111111111111111111111111111111");
const enc = getAddressEncoder();
export const addressBytes = (a) => new Uint8Array(enc.encode(a));

// ---- tiny test runner: every check counts, any failure fails the process ----
let failures = 0;
let checks = 0;
export function check(cond, what) {
  checks += 1;
  if (!cond) {
    failures += 1;
    console.log(`FAIL ${what}`);
  }
}
export function done(name) {
  console.log(`${name}: ${checks - failures}/${checks} checks passed`);
  process.exit(failures ? 1 : 0);
}

export async function newSvm(programs) {
  const svm = new LiteSVM();
  const ids = {};
  for (const [key, file] of Object.entries(programs)) {
    const signer = await generateKeyPairSigner();
    ids[key] = signer.address;
    svm.addProgram(signer.address, readFileSync(soPath(file)));
  }
  const payer = await generateKeyPairSigner();
  svm.airdrop(payer.address, lamports(10_000_000_000n));
  return { svm, ids, payer };
}

export async function fundedSigner(svm) {
  const s = await generateKeyPairSigner();
  svm.airdrop(s.address, lamports(1_000_000_000n));
  return s;
}

function u32le(v) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}
// ComputeBudget instructions: 1 = RequestHeapFrame(u32 bytes), 2 = SetComputeUnitLimit(u32).
const budgetIx = (kind, value) => ({ programAddress: COMPUTE_BUDGET, accounts: [], data: new Uint8Array([kind, ...u32le(value)]) });

// Sends one transaction; returns { ok, cu, programCu, logs, ret, err }.
// programCu is what the runtime logged for the first top-level invocation of
// `programId` ("consumed X of Y"), which stays right even when the VM faults
// (then computeUnitsConsumed() reports the whole budget).
export async function send(svm, payer, instructions, { heap = 0, cuLimit = 1_400_000, signers = [] } = {}) {
  const pre = [budgetIx(2, cuLimit)];
  if (heap) pre.push(budgetIx(1, heap));
  svm.expireBlockhash();
  const msg = pipe(
    createTransactionMessage({ version: 0 }),
    (m) => setTransactionMessageFeePayerSigner(payer, m),
    (m) => svm.setTransactionMessageLifetimeUsingLatestBlockhash(m),
    (m) => appendTransactionMessageInstructions([...pre, ...instructions], m),
  );
  void signers;
  const tx = await signTransactionMessageWithSigners(msg);
  const res = svm.sendTransaction(tx);
  const failed = typeof res.err === "function";
  const meta = failed ? res.meta() : res;
  const logs = meta.logs();
  // Nested invocations log their "consumed" line first: take the top-level
  // program's own line (the last one naming it).
  let programCu = null;
  let top = null;
  for (const line of logs) {
    const inv = /^Program (\w+) invoke \[1\]/.exec(line);
    if (inv && inv[1] !== COMPUTE_BUDGET && top === null) top = inv[1];
    const m = /^Program (\w+) consumed (\d+) of (\d+) compute units/.exec(line);
    if (m && m[1] === top) programCu = Number(m[2]);
  }
  const rd = meta.returnData();
  return {
    ok: !failed,
    cu: Number(meta.computeUnitsConsumed()),
    programCu,
    logs,
    ret: rd ? new Uint8Array(rd.data()) : new Uint8Array(),
    err: failed ? res.toString() : null,
  };
}

// The custom error code of a failed instruction (from the log), or null.
export function customError(r) {
  for (const line of r.logs) {
    const m = /failed: custom program error: 0x([0-9a-f]+)/.exec(line);
    if (m) return parseInt(m[1], 16);
  }
  return null;
}

export const ix = (programAddress, accounts, data) => ({ programAddress, accounts, data: new Uint8Array(data) });
export const signerMeta = (s, writable = false) =>
  ({ address: s.address, role: writable ? AccountRole.WRITABLE_SIGNER : AccountRole.READONLY_SIGNER, signer: s });
export const writable = (a) => ({ address: a, role: AccountRole.WRITABLE });
export const readonly = (a) => ({ address: a, role: AccountRole.READONLY });

// Little-endian encoders for instruction data.
export function le(value, bytes) {
  const out = new Uint8Array(bytes);
  let v = BigInt(value);
  for (let i = 0; i < bytes; i++) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}
export function readLe(buf, off, bytes) {
  let v = 0n;
  for (let i = bytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[off + i]);
  return v;
}
export const cat = (...parts) => Uint8Array.from(parts.flatMap((p) => (p instanceof Uint8Array ? [...p] : p)));
