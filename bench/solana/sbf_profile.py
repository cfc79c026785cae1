#!/usr/bin/env python3
"""sbf_profile.py -- where do an SBF program's compute units go, per function?

A small SBPF v0 interpreter (the instruction subset upstream LLVM emits for
-mcpu=v2) that runs a relinked program on a crafted input and counts executed
instructions per function (self and inclusive). On SBF one instruction is one
compute unit, so these are CU; syscalls are counted as calls (their own CU,
e.g. ~10 for sol_memset_, are listed separately). LiteSVM gives the exact
totals; this gives the breakdown it cannot.

Function names come from the object before the relink (`<so>.d/program.o`,
kept by sbf-build.sh), whose single .text maps 1:1 onto the program's.

usage: sbf_profile.py [--totals] PROGRAM.so HEXDATA [HEAP_BYTES]
  e.g. heap-demo steady state, 400 steps:  sbf_profile.py build/solana/heap-demo.so 0100000400049001000000
"""
import struct
import subprocess
import sys
from collections import defaultdict

sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__file__), "../../tools/sbpf-relink"))
import sbpf_relink as R  # noqa: E402

M64 = (1 << 64) - 1
RO, STACK, HEAP, INPUT = 0x1_0000_0000, 0x2_0000_0000, 0x3_0000_0000, 0x4_0000_0000
FRAME = 4096


def sx(v, bits):
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


class Vm:
    def __init__(self, so, obj, heap_bytes):
        self.so = so
        shoff = struct.unpack_from("<Q", so, 40)[0]
        shnum, shstrndx = struct.unpack_from("<HH", so, 60)
        secs = [struct.unpack_from("<IIQQQQIIQQ", so, shoff + 64 * i) for i in range(shnum)]
        names = secs[shstrndx]
        byname = {R.cstr(so[names[4]:names[4] + names[5]], s[0]): s for s in secs}
        t = byname[".text"]
        self.text_off, self.text = t[4], so[t[4]:t[4] + t[5]]
        self.entry = (struct.unpack_from("<Q", so, 24)[0] - self.text_off) // 8
        self.syscall_at = {}
        if ".rel.dyn" in byname:
            rel, dsym, dstr = byname[".rel.dyn"], byname[".dynsym"], byname[".dynstr"]
            strtab = so[dstr[4]:dstr[4] + dstr[5]]
            for k in range(0, rel[5], 16):
                off, info = struct.unpack_from("<QQ", so, rel[4] + k)
                name_off = struct.unpack_from("<I", so, dsym[4] + 24 * (info >> 32))[0]
                self.syscall_at[(off - self.text_off) // 8] = R.cstr(strtab, name_off)
        self.funcs = sorted((s["value"] // 8, s["size"] // 8, s["name"]) for s in R.Obj(obj).symbols
                            if s["type"] == R.STT_FUNC and s["size"])
        self.mem = {RO: bytearray(so), STACK: bytearray(FRAME * 2 * 64), HEAP: bytearray(heap_bytes)}

    def func_of(self, pc):
        for start, size, name in self.funcs:
            if start <= pc < start + size:
                return name
        return f"pc{pc}"

    def region(self, addr, n):
        for base, buf in self.mem.items():
            if base <= addr and addr + n <= base + len(buf):
                return buf, addr - base
        raise RuntimeError(f"access violation at {addr:#x} ({n} bytes)")

    def load(self, addr, n):
        buf, o = self.region(addr, n)
        return int.from_bytes(buf[o:o + n], "little")

    def store(self, addr, n, v):
        buf, o = self.region(addr, n)
        buf[o:o + n] = (v & ((1 << (8 * n)) - 1)).to_bytes(n, "little")

    def syscall(self, name, r):
        if name in ("sol_memset_",):
            buf, o = self.region(r[1], r[3]) if r[3] else (None, 0)
            if r[3]:
                buf[o:o + r[3]] = bytes([r[2] & 0xFF]) * r[3]
        elif name in ("sol_memcpy_", "sol_memmove_"):
            if r[3]:
                data = bytes(self.region(r[2], r[3])[0][self.region(r[2], r[3])[1]:][:r[3]])
                buf, o = self.region(r[1], r[3])
                buf[o:o + r[3]] = data
        elif name == "abort":
            raise RuntimeError("abort")
        return 0

    def run(self, input_bytes):
        self.mem[INPUT] = bytearray(input_bytes)
        r = [0] * 11
        r[1], r[10] = INPUT, STACK + FRAME
        pc = self.entry
        calls = []  # (return pc, saved r6..r9, function name)
        fn = self.func_of(pc)
        self_count = defaultdict(int)
        incl = defaultdict(int)
        sys_count = defaultdict(int)
        calls_to = defaultdict(int)
        calls_to[fn] = 1
        active = [fn]
        counter = 0
        start_of = {}  # function -> counter at entry, for inclusive (non-recursive) counts
        start_of[fn] = 0
        text = self.text
        while True:
            op, regs, off, imm = struct.unpack_from("<BBhi", text, pc * 8)
            dst, src = regs & 0xF, regs >> 4
            counter += 1
            self_count[active[-1]] += 1
            cls = op & 7
            npc = pc + 1
            if op == 0x18:
                imm2 = struct.unpack_from("<i", text, pc * 8 + 12)[0]
                r[dst] = ((imm & 0xFFFFFFFF) | ((imm2 & 0xFFFFFFFF) << 32)) & M64
                npc = pc + 2
            elif cls == 1:  # LDX
                n = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}[op & 0x18]
                r[dst] = self.load((r[src] + off) & M64, n)
            elif cls in (2, 3):  # ST / STX
                n = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}[op & 0x18]
                self.store((r[dst] + off) & M64, n, imm if cls == 2 else r[src])
            elif cls in (4, 7):
                bits = 64 if cls == 7 else 32
                mask = (1 << bits) - 1
                a = r[dst] & mask
                b = (r[src] if op & 8 else (imm & M64 if cls == 7 else imm & 0xFFFFFFFF)) & mask
                if cls == 7 and not op & 8:
                    b = imm & M64
                o = op & 0xF0
                if o == 0x00: v = a + b
                elif o == 0x10: v = a - b
                elif o == 0x20: v = a * b
                elif o == 0x30: v = a // b if b else 0
                elif o == 0x40: v = a | b
                elif o == 0x50: v = a & b
                elif o == 0x60: v = a << (b & (bits - 1))
                elif o == 0x70: v = a >> (b & (bits - 1))
                elif o == 0x80: v = -a
                elif o == 0x90: v = a % b if b else a
                elif o == 0xA0: v = a ^ b
                elif o == 0xB0: v = b
                elif o == 0xC0: v = sx(a, bits) >> (b & (bits - 1))
                else: raise RuntimeError(f"opcode {op:#x} at {pc}")
                r[dst] = v & mask
            elif cls == 5:
                o = op & 0xF0
                if op == 0x85:  # call imm
                    if pc in self.syscall_at:
                        name = self.syscall_at[pc]
                        sys_count[name] += 1
                        r[0] = self.syscall(name, r)
                    else:
                        target = pc + 1 + imm
                        calls.append((npc, r[6:10], r[10]))
                        r[10] += 2 * FRAME
                        npc = target
                        name = self.func_of(target)
                        calls_to[name] += 1
                        active.append(name)
                        if name not in start_of:
                            start_of[name] = counter
                        else:
                            start_of[name] = start_of.get(name, counter)
                        start_of.setdefault(("depth", name), 0)
                elif op == 0x8D:  # callx (v0: register in imm)
                    target = (r[imm] - RO - self.text_off) // 8
                    calls.append((npc, r[6:10], r[10]))
                    r[10] += 2 * FRAME
                    npc = target
                    active.append(self.func_of(target))
                    calls_to[active[-1]] += 1
                    start_of.setdefault(active[-1], counter)
                elif o == 0x90:  # exit
                    name = active.pop()
                    if name not in active:  # outermost activation: charge inclusive
                        incl[name] += counter - start_of.pop(name)
                    if not calls:
                        self.calls = calls_to
                        return self_count, incl, sys_count, counter, r[0]
                    npc, saved, r10 = calls.pop()
                    r[6:10] = saved
                    r[10] = r10
                else:
                    a = r[dst]
                    b = r[src] if op & 8 else imm & M64
                    take = {0x00: True, 0x10: a == b, 0x20: a > b, 0x30: a >= b, 0x40: (a & b) != 0, 0x50: a != b,
                            0x60: sx(a, 64) > sx(b, 64), 0x70: sx(a, 64) >= sx(b, 64), 0xA0: a < b, 0xB0: a <= b,
                            0xC0: sx(a, 64) < sx(b, 64), 0xD0: sx(a, 64) <= sx(b, 64)}[o]
                    if take:
                        npc = pc + 1 + off
            else:
                raise RuntimeError(f"opcode {op:#x} at {pc}")
            pc = npc


def demangle(names):
    try:
        out = subprocess.run(["llvm-cxxfilt-22"], input="\n".join(names), capture_output=True, text=True).stdout
        return out.splitlines()
    except OSError:
        return names


def main():
    totals_only = "--totals" in sys.argv
    sys.argv = [a for a in sys.argv if a != "--totals"]
    so_path, hexdata = sys.argv[1], sys.argv[2]
    heap = int(sys.argv[3]) if len(sys.argv) > 3 else 256 * 1024
    so = open(so_path, "rb").read()
    obj = open(so_path[:-3] + ".d/program.o", "rb").read()
    vm = Vm(so, obj, heap)
    data = bytes.fromhex(hexdata)
    inp = struct.pack("<QQ", 0, len(data)) + data + bytes(32)
    self_count, incl, sys_count, total, ret = vm.run(inp)
    if totals_only:  # for the check against LiteSVM in bench.mjs
        print(__import__("json").dumps({"instructions": total, "syscalls": dict(sys_count), "ret": ret}))
        return
    print(f"total {total} instructions, return {ret:#x}; syscalls: {dict(sys_count)}")
    names = list(self_count)
    pretty = dict(zip(names, demangle(names)))
    print(f"{'self':>9} {'inclusive':>10} {'calls':>7} {'self/call':>9}  function")
    for name, n in sorted(self_count.items(), key=lambda kv: -kv[1]):
        c = vm.calls.get(name, 0)
        per = f"{n / c:9.1f}" if c else f"{'':9}"
        print(f"{n:9d} {incl.get(name, 0):10d} {c:7d} {per}  {pretty[name][:100]}")


if __name__ == "__main__":
    main()
