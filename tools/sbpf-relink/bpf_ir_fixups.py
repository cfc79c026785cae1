#!/usr/bin/env python3
"""bpf_ir_fixups.py IN.ll OUT.ll -- rewrite textual LLVM IR so that upstream
LLVM's BPF backend can lower code rustc emits (used by sbf-rust.sh).

Three things the BPF backend refuses, each rewritten into an equivalent:
  * `sret` parameters ("aggregate returns are not supported"): the attribute
    is only an ABI hint -- the callee already writes through the pointer the
    caller passes -- so dropping it from definitions and calls together keeps
    the meaning.
  * llvm.memcpy/memmove/memset with a run-time length, or a constant one too
    long to expand inline ("A call to built-in function 'memcpy' is not
    supported"): calls to shims over the Solana syscalls (sbf_mem_shims.c).
  * llvm.umul.with.overflow.i64 (lowered through a 128-bit multiply, i.e. a
    `__multi3` library call): a 64-bit multiply plus an exact overflow test
    with one unsigned division (SBF has udiv).
"""
import re
import sys

MEM = re.compile(r"call void @llvm\.(memcpy|memmove|memset)\.[\w.]+\(ptr(?: [\w()]+)* (%[\w.]+), "
                 r"(ptr|i8)(?: [\w()]+)* (%[\w.]+|-?\d+), i64(?: range\([^)]*\))? (%[\w.]+|\d+), "
                 r"i1 (?:false|true)\)")
# Constant-length operations the backend expands inline up to a limit; longer
# ones fail like run-time lengths do, so they go to the shims too.
INLINE_MAX = 256
UMUL = re.compile(r"^(\s*)(%[\w.]+) = (?:tail )?call \{ i64, i1 \} @llvm\.umul\.with\.overflow\.i64\("
                  r"i64 (?:noundef )?(%[\w.]+|-?\d+), i64 (?:noundef )?(%[\w.]+|-?\d+)\)(.*)$", re.M)
SRET = re.compile(r" sret\(\[[^\]]*\]\)| sret\(%[\w.]+\)| sret\(\{[^}]*\}\)")
DECLS = {
    "memcpy": "declare void @sdmm_sbf_memcpy(ptr, ptr, i64)",
    "memmove": "declare void @sdmm_sbf_memmove(ptr, ptr, i64)",
    "memset": "declare void @sdmm_sbf_memset(ptr, i8, i64)",
}


def fix(src):
    counts = {"sret": 0, "mem": 0, "umul": 0}
    src, counts["sret"] = SRET.subn("", src)

    used = set()

    def mem(m):
        length = m.group(5)
        if not length.startswith("%") and int(length) <= INLINE_MAX:
            return m.group(0)
        used.add(m.group(1))
        return f"call void @sdmm_sbf_{m.group(1)}(ptr {m.group(2)}, {m.group(3)} {m.group(4)}, i64 {length})"

    before = src
    src = MEM.sub(mem, src)
    counts["mem"] = sum(1 for a, b in zip(before.splitlines(), src.splitlines()) if a != b)

    def umul(m):
        ind, res, a, b = m.group(1), m.group(2), m.group(3), m.group(4)
        t = "sbf.umul." + res[1:].replace('"', "")  # %12.p would not parse: prefix the name
        return "\n".join([
            f"{ind}%{t}.p = mul i64 {a}, {b}",
            f"{ind}%{t}.nz = icmp ne i64 {a}, 0",
            f"{ind}%{t}.d = select i1 %{t}.nz, i64 {a}, i64 1",
            f"{ind}%{t}.q = udiv i64 %{t}.p, %{t}.d",
            f"{ind}%{t}.ne = icmp ne i64 %{t}.q, {b}",
            f"{ind}%{t}.ov = and i1 %{t}.nz, %{t}.ne",
            f"{ind}%{t}.s = insertvalue {{ i64, i1 }} poison, i64 %{t}.p, 0",
            f"{ind}{res} = insertvalue {{ i64, i1 }} %{t}.s, i1 %{t}.ov, 1",
        ])

    src, counts["umul"] = UMUL.subn(umul, src)
    for name in sorted(used):
        if f"@sdmm_sbf_{name}(" not in src.split(DECLS[name])[0] or DECLS[name] not in src:
            if not re.search(rf"^(declare|define) [^\n]*@sdmm_sbf_{name}\(", src, re.M):
                src += "\n" + DECLS[name] + "\n"
    return src, counts


def main():
    src = open(sys.argv[1]).read()
    out, counts = fix(src)
    open(sys.argv[2], "w").write(out)
    print(f"bpf_ir_fixups: {counts['sret']} sret attributes dropped, {counts['mem']} memory intrinsics "
          f"to syscall shims, {counts['umul']} 64-bit overflow multiplies expanded")


if __name__ == "__main__":
    main()
