#!/usr/bin/env python3
"""sbpf_relink.py -- turn one upstream-LLVM BPF relocatable object into an
SBPF v0 shared object that Agave's loader (and LiteSVM) accepts.

Why this exists: `ld.lld` refuses BPF, and the existing relinker on crates.io
(`sbpf-linker`) links through LLVM itself: 0.2.x needs LLVM 23, 0.1.x LLVM
19..21, while both LLVMs on this machine (Debian's llvm-22 and rustc's) are 22.
The input here is already one fully linked module (llvm-link + opt + llc), so
what is left is a static relink, done below with nothing but the standard
library.

What the loader wants (solana-sbpf, lenient v0 parser):
  * ELF64 LE, ET_DYN, EM_BPF, e_flags 0 (= SBPF v0);
  * exactly one `.text`, sh_addr == sh_offset, e_entry inside it;
  * read-only data only in `.rodata` (also sh_addr == sh_offset), mapped at
    0x1_0000_0000 + vaddr -- so every address is resolved here, statically;
  * no .bss and no writable .data (SBF programs have no mutable globals);
  * section names <= 15 bytes, sections in file order;
  * `call imm` with imm != -1 is pc-relative (in instructions);
  * a syscall is `call -1` plus an R_BPF_64_32 relocation in the dynamic
    relocation table against a .dynsym name (the loader hashes the name).

Usage: sbpf_relink.py IN.o OUT.so [--entry entrypoint] [--map]
"""
import struct
import sys

EM_BPF = 247
ET_REL, ET_DYN = 1, 3
SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA = 0, 1, 2, 3, 4
SHT_DYNAMIC, SHT_NOBITS, SHT_REL, SHT_DYNSYM = 6, 8, 9, 11
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4
SHN_UNDEF, SHN_ABS, SHN_COMMON = 0, 0xFFF1, 0xFFF2
STT_FUNC, STT_SECTION = 2, 3
STB_GLOBAL = 1
R_BPF_NONE, R_BPF_64_64, R_BPF_64_ABS64, R_BPF_64_ABS32 = 0, 1, 2, 3
R_BPF_64_NODYLD32, R_BPF_64_32 = 4, 10
DT_NULL, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT = 0, 5, 6, 10, 11
DT_REL, DT_RELSZ, DT_RELENT = 17, 18, 19
MM_PROGRAM_START = 0x1_0000_0000
OP_CALL_IMM, OP_CALL_REG, OP_LDDW = 0x85, 0x8D, 0x18

# The SBPF v0 instruction set: lddw; loads and stores of 1/2/4/8 bytes;
# 32- and 64-bit ALU (add sub mul div or and lsh rsh neg mod xor mov arsh,
# immediate and register forms) and le/be; jumps, call, callx, exit.
_ALU_OPS = (0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0, 0xC0)
_JMP_OPS = (0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0, 0xD0)
SBPF_V0_OPCODES = frozenset(
    [0x18, 0x61, 0x69, 0x71, 0x79, 0x62, 0x6A, 0x72, 0x7A, 0x63, 0x6B, 0x73, 0x7B, 0xD4, 0xDC, 0x05, 0x85, 0x8D, 0x95]
    + [cls | op | src for cls in (0x04, 0x07) for op in _ALU_OPS for src in (0x00, 0x08) if not (op == 0x80 and src)]
    + [0x05 | op | src for op in _JMP_OPS for src in (0x00, 0x08)])

# Names upstream LLVM calls that are really Agave syscalls under another name.
RENAMED_CALLS = {"__bpf_trap": "abort"}


class RelinkError(Exception):
    pass


def cstr(blob, off):
    end = blob.index(b"\0", off)
    return blob[off:end].decode()


class Obj:
    """The parts of an ELF64 LE relocatable object the relink needs."""

    def __init__(self, data):
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise RelinkError("not an ELF64 little-endian file")
        (e_type, e_machine, _v, _entry, _phoff, shoff, _flags, _ehsize, _phes, _phnum,
         shentsize, shnum, shstrndx) = struct.unpack_from("<HHIQQQIHHHHHH", data, 16)
        if e_type != ET_REL or e_machine != EM_BPF:
            raise RelinkError(f"want a BPF relocatable object (ET_REL, EM_BPF), got type {e_type} machine {e_machine}")
        self.data = data
        self.sections = []
        for i in range(shnum):
            f = struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
            self.sections.append(dict(zip(
                ("name_off", "type", "flags", "addr", "offset", "size", "link", "info", "align", "entsize"), f)))
        names = self.bytes_of(self.sections[shstrndx])
        for s in self.sections:
            s["name"] = cstr(names, s["name_off"])
        self.symbols = []
        for s in self.sections:
            if s["type"] == SHT_SYMTAB:
                strtab = self.bytes_of(self.sections[s["link"]])
                blob = self.bytes_of(s)
                for k in range(len(blob) // 24):
                    name_off, info, other, shndx, value, size = struct.unpack_from("<IBBHQQ", blob, k * 24)
                    self.symbols.append(dict(name=cstr(strtab, name_off), info=info, shndx=shndx,
                                             value=value, size=size, type=info & 0xF, bind=info >> 4))

    def bytes_of(self, s):
        if s["type"] == SHT_NOBITS:
            return b""
        return self.data[s["offset"]:s["offset"] + s["size"]]


def align(n, a):
    return (n + a - 1) & ~(a - 1) if a > 1 else n


def relink(data, entry="entrypoint", log=None):
    obj = Obj(data)
    out_text, out_ro = bytearray(), bytearray()
    place = {}  # input section index -> ("text" | "ro", offset inside the output section)
    for i, s in enumerate(obj.sections):
        if not (s["flags"] & SHF_ALLOC) or s["size"] == 0:
            continue
        if s["type"] not in (SHT_PROGBITS, SHT_NOBITS):
            continue  # e.g. .llvm_addrsig is not allocated anyway
        if s["flags"] & SHF_EXECINSTR:
            off = align(len(out_text), 8)
            out_text.extend(b"\0" * (off - len(out_text)))
            out_text.extend(obj.bytes_of(s))
            place[i] = ("text", off)
        elif s["flags"] & SHF_WRITE or s["type"] == SHT_NOBITS:
            raise RelinkError(f"writable section {s['name']} ({s['size']} bytes): SBF programs have no "
                              "mutable globals -- keep state in the heap region or account data")
        else:
            off = align(len(out_ro), max(1, min(s["align"], 16)))
            out_ro.extend(b"\0" * (off - len(out_ro)))
            out_ro.extend(obj.bytes_of(s))
            place[i] = ("ro", off)
    if not out_text:
        raise RelinkError("no code")

    # File layout: ELF header, .text, .rodata, .dynamic, .dynsym, .dynstr,
    # .rel.dyn, .shstrtab, section headers. Every vaddr equals its file offset.
    text_off = 64
    ro_off = align(text_off + len(out_text), 8)

    def vaddr(sec_index, value):
        kind, off = place[sec_index]
        return (text_off if kind == "text" else ro_off) + off + value

    syscalls = []  # names in .dynsym order
    dynrel = []  # (r_offset, symbol index)

    def syscall_index(name):
        name = RENAMED_CALLS.get(name, name)
        if not (name.startswith("sol_") or name == "abort"):
            raise RelinkError(f"undefined symbol {name}: only Solana syscalls (sol_*, abort) may stay "
                              "undefined; link it into the program")
        if name not in syscalls:
            syscalls.append(name)
        return syscalls.index(name) + 1

    def target_buf(kind):
        return out_text if kind == "text" else out_ro

    for rs in obj.sections:
        if rs["type"] == SHT_RELA:
            raise RelinkError(f"RELA section {rs['name']}: BPF objects use REL")
        if rs["type"] != SHT_REL or rs["info"] not in place:
            continue  # relocations of debug or dropped sections
        kind, base = place[rs["info"]]
        buf = target_buf(kind)
        blob = obj.bytes_of(rs)
        for k in range(len(blob) // 16):
            r_offset, r_info = struct.unpack_from("<QQ", blob, k * 16)
            rtype, rsym = r_info & 0xFFFFFFFF, r_info >> 32
            sym = obj.symbols[rsym]
            at = base + r_offset  # inside the output section
            here = (text_off if kind == "text" else ro_off) + at  # file offset == vaddr
            defined = sym["shndx"] not in (SHN_UNDEF, SHN_ABS, SHN_COMMON) and sym["shndx"] < 0xFF00
            if defined and sym["shndx"] not in place:
                raise RelinkError(f"relocation against {sym['name'] or 'a section'} in dropped section "
                                  f"{obj.sections[sym['shndx']]['name']}")
            if rtype == R_BPF_NONE:
                continue
            if rtype == R_BPF_64_32:
                if kind != "text" or buf[at] != OP_CALL_IMM:
                    raise RelinkError(f"R_BPF_64_32 at {here:#x} is not on a call instruction")
                imm = struct.unpack_from("<i", buf, at + 4)[0]
                if not defined:
                    struct.pack_into("<i", buf, at + 4, -1)
                    dynrel.append((here, syscall_index(sym["name"])))
                    continue
                # REL addend of a call: the target is (imm + 1) instructions
                # after the symbol (imm == -1 for a call to the symbol itself).
                target = vaddr(sym["shndx"], sym["value"]) + (imm + 1) * 8
                rel = (target - (here + 8)) // 8
                if (target - here) % 8 or not -(1 << 31) <= rel < (1 << 31) or rel == -1:
                    raise RelinkError(f"call at {here:#x} to {target:#x} cannot be encoded")
                struct.pack_into("<i", buf, at + 4, rel)
            elif rtype == R_BPF_64_64:
                if kind != "text" or buf[at] != OP_LDDW:
                    raise RelinkError(f"R_BPF_64_64 at {here:#x} is not on a lddw")
                if not defined:
                    raise RelinkError(f"address of undefined symbol {sym['name']} taken")
                addend = struct.unpack_from("<I", buf, at + 4)[0]
                addr = MM_PROGRAM_START + vaddr(sym["shndx"], sym["value"]) + addend
                struct.pack_into("<I", buf, at + 4, addr & 0xFFFFFFFF)
                struct.pack_into("<I", buf, at + 12, addr >> 32)
            elif rtype == R_BPF_64_ABS64:
                if not defined:
                    raise RelinkError(f"address of undefined symbol {sym['name']} stored in data")
                addend = struct.unpack_from("<Q", buf, at)[0]
                struct.pack_into("<Q", buf, at, MM_PROGRAM_START + vaddr(sym["shndx"], sym["value"]) + addend)
            else:
                # ABS32 cannot hold a VM address (they start at 2^32): it comes
                # from PIC lookup tables -- compile with --relocation-model=static.
                raise RelinkError(f"relocation type {rtype} at {here:#x} in {obj.sections[rs['info']]['name']} "
                                  "is not supported (use --relocation-model=static)")

    # Only SBPF v0 instructions: anything else (JMP32 from -mcpu=v3, the
    # sign-extending loads and moves of v4, ...) would load and then fault.
    pc = 0
    while pc < len(out_text):
        op = out_text[pc]
        if op not in SBPF_V0_OPCODES:
            raise RelinkError(f"instruction {pc // 8} has opcode {op:#04x}, which SBPF v0 does not have "
                              "(compile with -mcpu=v2)")
        pc += 16 if op == OP_LDDW else 8

    # SBPF v0 reads the callx register from imm; upstream puts it in dst.
    for pc in range(0, len(out_text), 8):
        if out_text[pc] == OP_CALL_REG:
            dst = out_text[pc + 1] & 0xF
            struct.pack_into("<i", out_text, pc + 4, dst)

    entries = [s for s in obj.symbols if s["name"] == entry and s["shndx"] in place]
    if not entries or place[entries[0]["shndx"]][0] != "text":
        raise RelinkError(f"no function named {entry}")
    e_entry = vaddr(entries[0]["shndx"], entries[0]["value"])

    # ---- assemble the output file ----
    out = bytearray(64)
    out.extend(out_text)
    sections = [dict(name="", type=SHT_NULL, flags=0, addr=0, offset=0, size=0, link=0, info=0, align=0, entsize=0)]
    sections.append(dict(name=".text", type=SHT_PROGBITS, flags=SHF_ALLOC | SHF_EXECINSTR, addr=text_off,
                         offset=text_off, size=len(out_text), link=0, info=0, align=8, entsize=0))
    if out_ro:
        out.extend(b"\0" * (ro_off - len(out)))
        out.extend(out_ro)
        sections.append(dict(name=".rodata", type=SHT_PROGBITS, flags=SHF_ALLOC, addr=ro_off, offset=ro_off,
                             size=len(out_ro), link=0, info=0, align=8, entsize=0))

    def add_section(name, stype, payload, flags=SHF_ALLOC, link=0, info=0, entsize=0, al=8):
        off = align(len(out), al)
        out.extend(b"\0" * (off - len(out)))
        out.extend(payload)
        sections.append(dict(name=name, type=stype, flags=flags, addr=off if flags & SHF_ALLOC else 0, offset=off,
                             size=len(payload), link=link, info=info, align=al, entsize=entsize))
        return len(sections) - 1, off

    if dynrel:
        dynstr = bytearray(b"\0")
        dynsym = bytearray(24)
        for name in syscalls:
            dynsym.extend(struct.pack("<IBBHQQ", len(dynstr), (STB_GLOBAL << 4) | 0, 0, SHN_UNDEF, 0, 0))
            dynstr.extend(name.encode() + b"\0")
        rel = b"".join(struct.pack("<QQ", off, (idx << 32) | R_BPF_64_32) for off, idx in dynrel)
        # .dynamic first: its size is known before the addresses it lists.
        dyn_count = 8
        dyn_idx, dyn_off = add_section(".dynamic", SHT_DYNAMIC, b"\0" * (16 * dyn_count), SHF_ALLOC | SHF_WRITE,
                                       entsize=16)
        sym_idx, sym_off = add_section(".dynsym", SHT_DYNSYM, dynsym, entsize=24, info=1)
        str_idx, str_off = add_section(".dynstr", SHT_STRTAB, dynstr, al=1)
        sections[sym_idx]["link"] = str_idx
        sections[dyn_idx]["link"] = str_idx
        rel_idx, rel_off = add_section(".rel.dyn", SHT_REL, rel, entsize=16, link=sym_idx)
        dyn = [(DT_REL, rel_off), (DT_RELSZ, len(rel)), (DT_RELENT, 16), (DT_SYMTAB, sym_off),
               (DT_SYMENT, 24), (DT_STRTAB, str_off), (DT_STRSZ, len(dynstr)), (DT_NULL, 0)]
        struct.pack_into("<" + "qQ" * dyn_count, out, dyn_off, *[v for pair in dyn for v in pair])

    shstr = bytearray(b"\0")
    for s in sections[1:]:
        if len(s["name"]) > 15:
            raise RelinkError(f"section name {s['name']} longer than 15 bytes")
        s["name_off"] = len(shstr)
        shstr.extend(s["name"].encode() + b"\0")
    sections.append(dict(name=".shstrtab", name_off=len(shstr), type=SHT_STRTAB, flags=0, addr=0, offset=0,
                         size=0, link=0, info=0, align=1, entsize=0))
    shstr.extend(b".shstrtab\0")
    sections[0]["name_off"] = 0
    sections[-1]["offset"] = len(out)
    sections[-1]["size"] = len(shstr)
    out.extend(shstr)
    shoff = align(len(out), 8)
    out.extend(b"\0" * (shoff - len(out)))
    for s in sections:
        out.extend(struct.pack("<IIQQQQIIQQ", s["name_off"], s["type"], s["flags"], s["addr"], s["offset"],
                               s["size"], s["link"], s["info"], s["align"], s["entsize"]))
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    struct.pack_into("<16sHHIQQQIHHHHHH", out, 0, ident, ET_DYN, EM_BPF, 1, e_entry, 0, shoff, 0, 64, 56, 0, 64,
                     len(sections), len(sections) - 1)
    if log:
        log(f"text {len(out_text)} B, rodata {len(out_ro)} B, syscalls {syscalls}, {len(dynrel)} syscall sites, "
            f"entry {e_entry:#x}, file {len(out)} B")
    return bytes(out)


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    entry = "entrypoint"
    for a in argv[1:]:
        if a.startswith("--entry="):
            entry = a.split("=", 1)[1]
    if len(args) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    with open(args[0], "rb") as f:
        data = f.read()
    try:
        result = relink(data, entry, log=(lambda m: print(m)) if "--map" in argv else None)
    except RelinkError as e:
        print(f"sbpf_relink: {args[0]}: {e}", file=sys.stderr)
        return 1
    with open(args[1], "wb") as f:
        f.write(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
