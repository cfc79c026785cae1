#!/usr/bin/env python3
"""Tests of sbpf_relink.py on objects compiled here with clang-22 -target bpf.

The relinked programs are also run for real in LiteSVM by the solana.* tests;
these check the file format and every relocation kind in isolation.
"""
import os
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sbpf_relink as R  # noqa: E402


def sbf_setting(name):
    """One setting of sbf/flags.sh (the one place of the SBF compiler flags)."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../sbf/flags.sh")
    return subprocess.run(["bash", script, name], check=True, capture_output=True, text=True).stdout.split("\n")[:-1]


# The programs' flags, straight to an object (no bitcode step) and without the
# warnings-as-errors meant for the repository's sources.
FLAGS = [f for f in sbf_setting("cflags") if f != "-emit-llvm" and not f.startswith("-W")] + ["-c", "-x", "c", "-"]
LLC = sbf_setting("llc")
assert "-mcpu=v2" in FLAGS, "the v3 test below swaps -mcpu=v2 for -mcpu=v3"

PROGRAM = r"""
typedef unsigned long u64;
void sol_log_(const char *, u64);
void sol_log_64_(u64, u64, u64, u64, u64);
static const char *const kNames[3] = {"zero", "one", "two"};   /* ABS64 in .rodata */
__attribute__((noinline, section(".text.cold_path"))) u64 cold(u64 x) { return x * 3 + 1; }
__attribute__((noinline)) u64 twice(u64 x) { return x * 2; }
typedef u64 (*fn)(u64);
u64 entrypoint(const unsigned char *input) {
    volatile fn f = twice;                                   /* callx through a register */
    u64 i = input[0] % 3;
    sol_log_(kNames[i], 3);                                   /* syscall, lddw of rodata */
    sol_log_64_(cold(input[1]), f(input[2]), 0, 0, 0);        /* cross-section call */
    return 0;
}
"""


def compile_c(source, out):
    subprocess.run(["clang-22", *FLAGS, "-o", out], input=source.encode(), check=True)


class Elf:
    def __init__(self, data):
        self.data = data
        self.type, self.machine = struct.unpack_from("<HH", data, 16)
        self.entry, _phoff, shoff = struct.unpack_from("<QQQ", data, 24)
        self.flags = struct.unpack_from("<I", data, 48)[0]
        shnum, shstrndx = struct.unpack_from("<HH", data, 60)
        raw = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + 64 * i) for i in range(shnum)]
        names = raw[shstrndx]
        self.sections = {}
        self.order = []
        for s in raw:
            name = R.cstr(data[names[4]:names[4] + names[5]], s[0])
            self.sections[name] = dict(type=s[1], flags=s[2], addr=s[3], offset=s[4], size=s[5])
            self.order.append(name)

    def insns(self):
        t = self.sections[".text"]
        return [self.data[t["offset"] + i:t["offset"] + i + 8] for i in range(0, t["size"], 8)]


class RelinkTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.obj = os.path.join(self.tmp.name, "p.o")

    def tearDown(self):
        self.tmp.cleanup()

    def relink(self, source):
        compile_c(source, self.obj)
        with open(self.obj, "rb") as f:
            return R.relink(f.read())

    def test_format_the_loader_wants(self):
        elf = Elf(self.relink(PROGRAM))
        self.assertEqual((elf.type, elf.machine, elf.flags), (R.ET_DYN, R.EM_BPF, 0))
        self.assertEqual(elf.order.count(".text"), 1)
        text = elf.sections[".text"]
        self.assertEqual(text["addr"], text["offset"])
        self.assertTrue(text["addr"] <= elf.entry < text["addr"] + text["size"])
        ro = elf.sections[".rodata"]
        self.assertEqual(ro["addr"], ro["offset"])
        offsets = [elf.sections[n]["offset"] for n in elf.order[1:]]
        self.assertEqual(offsets, sorted(offsets), "sections in file order")
        self.assertTrue(all(len(n) <= 15 for n in elf.order))
        self.assertFalse(any(n.startswith((".bss", ".data")) for n in elf.order))

    def test_every_call_resolves(self):
        elf = Elf(self.relink(PROGRAM))
        text = elf.sections[".text"]
        insns = elf.insns()
        # Dynamic relocations: exactly the syscall sites, each on `call -1`.
        rel = elf.sections[".rel.dyn"]
        sites = [struct.unpack_from("<QQ", elf.data, rel["offset"] + k)
                 for k in range(0, rel["size"], 16)]
        self.assertEqual(len(sites), 2)
        for off, info in sites:
            self.assertEqual(info & 0xFFFFFFFF, R.R_BPF_64_32)
            pc = (off - text["offset"]) // 8
            self.assertEqual(insns[pc][0], R.OP_CALL_IMM)
            self.assertEqual(struct.unpack_from("<i", insns[pc], 4)[0], -1)
        site_pcs = {(off - text["offset"]) // 8 for off, _ in sites}
        # Every other call is pc-relative and lands on a function start inside .text.
        targets = []
        for pc, ins in enumerate(insns):
            if ins[0] == R.OP_CALL_IMM and pc not in site_pcs:
                imm = struct.unpack_from("<i", ins, 4)[0]
                target = pc + 1 + imm
                self.assertTrue(0 <= target < len(insns), f"call at {pc} lands outside .text")
                targets.append(target)
        self.assertTrue(targets, "the cross-section call to cold() is a relative call")
        # cold() is alone in .text.cold_path, which the relink appends after .text.
        with open(self.obj, "rb") as f:
            obj = R.Obj(f.read())
        main_text = next(s for s in obj.sections if s["name"] == ".text")
        self.assertIn(R.align(main_text["size"], 8) // 8, targets, "the call to cold() lands on cold()")
        for t in targets:  # a function's first instruction is never the second half of a lddw
            self.assertNotEqual(insns[t - 1][0], R.OP_LDDW)

    def test_rodata_addresses_are_absolute(self):
        elf = Elf(self.relink(PROGRAM))
        ro = elf.sections[".rodata"]
        lo, hi = R.MM_PROGRAM_START + ro["addr"], R.MM_PROGRAM_START + ro["addr"] + ro["size"]
        lddw = []
        insns = elf.insns()
        for pc, ins in enumerate(insns):
            if ins[0] == R.OP_LDDW:
                addr = struct.unpack_from("<I", ins, 4)[0] | struct.unpack_from("<I", insns[pc + 1], 4)[0] << 32
                lddw.append(addr)
        self.assertTrue(any(lo <= a < hi for a in lddw), f"a lddw points into .rodata: {[hex(a) for a in lddw]}")
        # The pointer table in .rodata holds absolute addresses of the strings.
        data = elf.data[ro["offset"]:ro["offset"] + ro["size"]]
        pointers = [struct.unpack_from("<Q", data, i)[0] for i in range(0, len(data) - 7, 8)]
        strings = [p for p in pointers if lo <= p < hi]
        self.assertEqual(len(strings), 3)
        for p, want in zip(strings, [b"zero", b"one", b"two"]):
            off = ro["offset"] + p - lo
            self.assertEqual(elf.data[off:off + len(want)], want)

    def test_callx_register_moves_to_imm(self):
        elf = Elf(self.relink(PROGRAM))
        calls = [ins for ins in elf.insns() if ins[0] == R.OP_CALL_REG]
        self.assertTrue(calls)
        for ins in calls:
            self.assertEqual(struct.unpack_from("<i", ins, 4)[0], ins[1] & 0xF)

    def test_trap_becomes_abort(self):
        out = self.relink("unsigned long entrypoint(const unsigned char *p) {"
                          " if (p[0] == 7) __builtin_trap(); return p[1]; }")
        self.assertIn(b"abort\0", out)
        self.assertNotIn(b"__bpf_trap", out)

    def test_writable_globals_are_refused(self):
        with self.assertRaisesRegex(R.RelinkError, "writable section"):
            self.relink("unsigned long counter; unsigned long entrypoint(const unsigned char *p) {"
                        " return ++counter + p[0]; }")

    def test_undefined_function_is_refused(self):
        with self.assertRaisesRegex(R.RelinkError, "undefined symbol helper"):
            self.relink("unsigned long helper(unsigned long); unsigned long entrypoint(const unsigned char *p) {"
                        " return helper(p[0]); }")

    def test_missing_entrypoint_is_refused(self):
        with self.assertRaisesRegex(R.RelinkError, "no function named entrypoint"):
            self.relink("unsigned long main2(const unsigned char *p) { return p[0]; }")

    def test_non_v0_instructions_are_refused(self):
        src = ("unsigned long entrypoint(const unsigned char *p) { unsigned a = p[0], b = p[1];"
               " return a < b ? 3 : 7; }")
        compile_c(src, self.obj)  # -mcpu=v2: accepted
        with open(self.obj, "rb") as f:
            R.relink(f.read())
        subprocess.run(["clang-22", *[x if x != "-mcpu=v2" else "-mcpu=v3" for x in FLAGS], "-o", self.obj],
                       input=src.encode(), check=True)
        with open(self.obj, "rb") as f:
            data = f.read()
        with self.assertRaisesRegex(R.RelinkError, "SBPF v0 does not have"):
            R.relink(data)

    def test_not_an_object_is_refused(self):
        with self.assertRaises(R.RelinkError):
            R.relink(b"\x7fELF" + b"\0" * 60)
        with self.assertRaises(R.RelinkError):
            R.relink(b"not an elf at all")


class IrFixupsTest(unittest.TestCase):
    """bpf_ir_fixups.py: what the BPF backend refuses, rewritten; the result must
    still be valid IR (llvm-as-22) and lower with llc-22 -march=bpfel."""

    IR = """
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"
target triple = "bpfel"
declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)
declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)
declare { i64, i1 } @llvm.umul.with.overflow.i64(i64, i64)
define void @make(ptr sret([32 x i8]) %out, i64 %v) {
  store i64 %v, ptr %out
  ret void
}
define i64 @entrypoint(ptr %p, ptr %q, i64 %n) {
  %buf = alloca [32 x i8]
  call void @make(ptr sret([32 x i8]) %buf, i64 %n)
  call void @llvm.memcpy.p0.p0.i64(ptr align 1 %p, ptr align 1 %q, i64 %n, i1 false)
  call void @llvm.memset.p0.i64(ptr nonnull align 1 dereferenceable(8192) %p, i8 0, i64 range(i64 1, 0) 8192, i1 false)
  call void @llvm.memset.p0.i64(ptr align 8 %q, i8 0, i64 16, i1 false)
  %12 = call { i64, i1 } @llvm.umul.with.overflow.i64(i64 %n, i64 24)
  %r = extractvalue { i64, i1 } %12, 0
  %o = extractvalue { i64, i1 } %12, 1
  %z = zext i1 %o to i64
  %s = add i64 %r, %z
  ret i64 %s
}
"""

    def test_rewrites_lower_for_bpf(self):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import bpf_ir_fixups as F
        out, counts = F.fix(self.IR)
        self.assertEqual(counts["sret"], 2)
        self.assertEqual(counts["mem"], 2, "the run-time length and the 8 KiB constant; 16 B stays inline")
        self.assertEqual(counts["umul"], 1)
        self.assertIn("llvm.memset.p0.i64(ptr align 8 %q, i8 0, i64 16", out)
        with tempfile.TemporaryDirectory() as d:
            ll, obj = os.path.join(d, "f.ll"), os.path.join(d, "f.o")
            open(ll, "w").write(out)
            subprocess.run(["llc-22", *LLC, ll, "-o", obj], check=True)
            # The original does not lower: the test would be vacuous otherwise.
            open(ll, "w").write(self.IR)
            bad = subprocess.run(["llc-22", *LLC, ll, "-o", obj],
                                 capture_output=True, text=True)
            self.assertNotEqual(bad.returncode, 0)

    def test_overflow_multiply_is_exact(self):
        # The expansion's arithmetic, checked in Python on edge values.
        M = (1 << 64) - 1
        for a, b in [(0, 5), (5, 0), (1 << 32, 1 << 32), ((1 << 32) - 1, (1 << 32) + 1), (M, 1), (M, 2), (3, M // 3)]:
            p = (a * b) & M
            d = a if a else 1
            ov = a != 0 and (p // d) != b
            self.assertEqual(ov, a * b > M, (a, b))


if __name__ == "__main__":
    unittest.main(verbosity=2)
