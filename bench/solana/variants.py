#!/usr/bin/env python3
"""variants.py -- where do sdmm's compute units go on SBF?

Builds heap-demo over modified copies of the core (each variant removes one
safety check or changes one mechanism), runs the per-operation benchmark of
bench.mjs on each (LiteSVM, exact CU), and prints the difference to the
unmodified core. A variant whose text no longer matches the core is reported
as such (the core moved on), never silently measured as the baseline.

usage: bench/solana/variants.py [OUT_DIR]            (needs clang-22/llvm-22, node, tests/solana/node_modules)
       bench/solana/variants.py --profile [OUT_DIR]  (per-function CU of the steady state, via sbf_profile.py)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEAP = "cpp/core/heap.cpp"


def class_table(entries):
    """The class_of edit: a constexpr table for blocks of fewer than `entries` granules."""
    return (HEAP, "inline u64 class_of(const sdmm_heap *heap, u64 block_bytes) {\n"
                  "    const u64 granules = block_bytes >> 3;\n",
            f"struct SmallClassTable {{\n    uint8_t at[{entries}];\n}};\n"
            "constexpr SmallClassTable make_small_class_table() {\n    SmallClassTable t{};\n"
            f"    for (u64 g = 0; g < {entries}; ++g) {{\n        u64 fl = 0;\n"
            "        while ((g >> (fl + 1)) != 0) ++fl;\n"
            "        t.at[g] = static_cast<uint8_t>(g < 8 ? g : 4 * fl - 4 + ((g >> (fl - 2)) & 3));\n    }\n"
            "    return t;\n}\ninline constexpr SmallClassTable kSmallClass = make_small_class_table();\n"
            "inline u64 class_of(const sdmm_heap *heap, u64 block_bytes) {\n"
            "    const u64 granules = block_bytes >> 3;\n"
            f"    if (granules < {entries}) return kSmallClass.at[granules];\n")

# name -> (what it measures, [(file, old, new), ...])
VARIANTS = {
    "baseline": ("the core as it is", []),
    "no-magic-check": ("heap_ok: only the null/alignment test, no magic word load+compare", [
        (HEAP, "(reinterpret_cast<uintptr_t>(heap) & 7) == 0 && control(heap).magic == kMagic;",
         "(reinterpret_cast<uintptr_t>(heap) & 7) == 0;"),
    ]),
    "no-start-map": ("block-start map: neither checked by free nor maintained by alloc/free", [
        (HEAP, "    if (!is_block_start(heap, off)) return gone;\n", ""),
        (HEAP, "    toggle_block_start(heap, off);\n    Control &c = control(heap);\n    c.allocated += size;",
         "    Control &c = control(heap);\n    c.allocated += size;"),
        (HEAP, "    c.live_blocks -= 1;\n    toggle_block_start(heap, off);", "    c.live_blocks -= 1;"),
        (HEAP, "inline void toggle_block_start(", "[[maybe_unused]] inline void toggle_block_start("),
    ]),
    "no-generation-check": ("free/resolve do not compare the handle's generation", [
        (HEAP, "    if ((w1 & kGenerationMask) != ((handle >> 32) & kGenerationMask)) return gone;\n", ""),
    ]),
    "no-pointer-check": ("free does not check that the block's pointer matches its handle", [
        (HEAP, "    if (block->as.raw != reinterpret_cast<uint64_t>(base_of(heap) + off + kHeader))\n"
               "        return SDMM_ERR_INVALID_BLOCK;\n", "    (void)off;\n"),
    ]),
    "no-stats": ("no allocated / peak / live-block counters", [
        (HEAP, "    c.allocated += size;\n    c.live_blocks += 1;\n"
               "    if (c.allocated > c.peak_allocated) c.peak_allocated = c.allocated;\n", "    (void)c;\n"),
        (HEAP, "    c.allocated -= size;\n    c.live_blocks -= 1;\n", "    (void)c;\n"),
    ]),
    "class-table": ("size class of blocks < 512 B from a 64-entry table instead of de Bruijn log2",
                    [class_table(64)]),
    "class-table-4k": ("size class of blocks < 4 KiB from a 512-entry table (512 B of rodata)", [class_table(512)]),
    "combined": ("class-table-4k + no-stats + no-magic-check (what the core could drop or change cheaply)",
                 [class_table(512)]),
}
# A design prototype, not a check: per-size LIFO lists of freed small blocks
# (16..264 B, exact granule count) in front of the coalescing heap. free()
# validates the block as before, clears its start bit (stale handles and
# double frees are still refused) and pushes it; alloc() pops an exact fit,
# zero-fills it and publishes it; when the heap proper has no block, the
# lists are flushed into it (bounded: at most the memory they hold) and the
# allocation retried. heap_check() does not know these blocks: measurement only.
VARIANTS["quick-lists"] = ("PROTOTYPE: exact-size LIFO lists for blocks <= 264 B before coalescing", [
    (HEAP, "    u64 oom_count;\n};", "    u64 oom_count;\n    u32 quick[32];\n};"),
    (HEAP, "static_assert(kControlBytes == 96,", "static_assert(kControlBytes == 224,"),
    (HEAP, "    make_free(heap, off, size, prev_used);\n}\n\n}  // namespace",
     "    make_free(heap, off, size, prev_used);\n}\n\n"
     "SDMM_HOT bool quick_push(sdmm_heap *heap, u64 off) {\n"
     "    const u64 size = block_size(heap, off);\n    const u64 g = size >> 3;\n"
     "    if (g > 33) return false;\n    Control &c = control(heap);\n"
     "    c.allocated -= size;\n    c.live_blocks -= 1;\n    toggle_block_start(heap, off);\n"
     "    word(heap, off + 4) = c.quick[g - 2];\n    c.quick[g - 2] = static_cast<u32>(off);\n    return true;\n}\n"
     "bool quick_flush(sdmm_heap *heap) {\n    Control &c = control(heap);\n    bool any = false;\n"
     "    for (u64 i = 0; i < 32; ++i) {\n        u64 q = c.quick[i];\n        c.quick[i] = 0;\n"
     "        while (q != 0) {\n            const u64 next = word(heap, q + 4);\n"
     "            toggle_block_start(heap, q);\n            c.allocated += block_size(heap, q);\n"
     "            c.live_blocks += 1;\n            release(heap, q);\n            q = next;\n            any = true;\n"
     "        }\n    }\n    return any;\n}\n\n}  // namespace"),
    (HEAP, "    release(heap, off);\n    return SDMM_OK;\n}\n\nsdmm_status resolve(",
     "    if (!quick_push(heap, off)) release(heap, off);\n    return SDMM_OK;\n}\n\nsdmm_status resolve("),
    (HEAP, "    const u64 off = take_free_block(heap, need);\n    if (off == 0) {\n",
     "    {\n        Control &qc = control(heap);\n        const u64 g = need >> 3;\n        if (g <= 33) {\n"
     "            const u64 q = qc.quick[g - 2];\n            if (q != 0) {\n"
     "                qc.quick[g - 2] = word(heap, q + 4);\n"
     "                if (fill == Fill::kZero) SDMM_ZERO(bytes_at(heap, q + kHeader), round8(bytes));\n"
     "                publish(heap, q, need, tag, bytes, out);\n                return SDMM_OK;\n            }\n"
     "        }\n    }\n"
     "    u64 off = take_free_block(heap, need);\n    if (off == 0 && quick_flush(heap)) off = take_free_block(heap, need);\n"
     "    if (off == 0) {\n"),
])
VARIANTS["quick-lists+combined"] = ("the prototype plus the combined cheap changes",
                                    VARIANTS["quick-lists"][1] + [class_table(512)])
VARIANTS["combined"][1].extend(VARIANTS["no-stats"][1] + VARIANTS["no-magic-check"][1])
VARIANTS["quick-lists+combined"][1].extend(VARIANTS["no-magic-check"][1])
# Platform-hook variants (sbf/sdmm_sbf_platform.h): -D flags.
HOOKS = {
    "zero-syscall-always": ("every zero-fill through sol_memset_", ["SDMM_SBF_INLINE_ZERO_MAX=0u"]),
    "zero-inline-64": ("zero-fills up to 64 B as an inline word loop", ["SDMM_SBF_INLINE_ZERO_MAX=64u"]),
    "zero-inline-256": ("zero-fills up to 256 B as an inline word loop", ["SDMM_SBF_INLINE_ZERO_MAX=256u"]),
}


def build(core_dir, out_dir, defines=()):
    env = dict(os.environ, SDMM_SBF_CORE_DIR=core_dir)
    args = ["bash", os.path.join(ROOT, "tools/sbpf-relink/sbf-build.sh"), "-o", os.path.join(out_dir, "heap-demo.so"),
            "--core"]
    for d in defines:
        args += ["-D", d]
    args.append(os.path.join(ROOT, "examples/solana/heap-demo/heap_demo.cpp"))
    subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL)


def measure(out_dir):
    env = dict(os.environ, SDMM_BENCH_PER_OP_ONLY="1")
    res = subprocess.run(["node", os.path.join(ROOT, "bench/solana/bench.mjs"), out_dir], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


# --profile: the core's hot helpers made out-of-line (call overhead added, a
# few CU each) so sbf_profile.py can charge instructions to each of them.
NOINLINE = [(HEAP, "#define SDMM_HOT [[gnu::always_inline]] inline", "#define SDMM_HOT [[gnu::noinline]]")] + [
    (HEAP, f"inline {sig}", f"[[gnu::noinline]] {sig}") for sig in (
        "u64 class_of(", "bool is_block_start(", "void toggle_block_start(", "u64 first_class_from(",
        "void raise_clean_from(", "bool heap_ok(", "void scrub_absorbed_header(")]


def profile(work):
    core = os.path.join(work, "noinline", "src")
    out = os.path.join(work, "noinline", "sbf")
    shutil.rmtree(os.path.join(work, "noinline"), ignore_errors=True)
    os.makedirs(out)
    for sub in ("cpp", "ffi"):
        shutil.copytree(os.path.join(ROOT, sub), os.path.join(core, sub))
    for f, old, new in NOINLINE:
        path = os.path.join(core, f)
        text = open(path).read()
        if text.count(old) != 1:
            print(f"the core no longer has `{old.strip()}`: profile without that change")
            continue
        open(path, "w").write(text.replace(old, new))
    build(core, out)
    so = os.path.join(out, "heap-demo.so")
    # heap-demo BENCH, 256 KiB heap: kind 4 (steady state) and kind 5 (its harness), 400 steps.
    for kind in (4, 5):
        data = bytes([1]) + (256 * 1024).to_bytes(4, "little") + bytes([kind]) + (400).to_bytes(4, "little")
        print(f"== heap-demo BENCH kind {kind}, 400 steps (helpers out of line)")
        subprocess.run([sys.executable, os.path.join(ROOT, "bench/solana/sbf_profile.py"), so, data.hex()], check=True)


def main():
    if "--profile" in sys.argv:
        sys.argv.remove("--profile")
        profile(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="sdmm-profile-"))
        return
    work = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="sdmm-variants-")
    rows = []
    for name, (what, edits) in list(VARIANTS.items()) + [(k, (w, None)) for k, (w, _) in HOOKS.items()]:
        core = os.path.join(work, name, "src")
        out = os.path.join(work, name, "sbf")
        shutil.rmtree(os.path.join(work, name), ignore_errors=True)
        os.makedirs(out)
        for sub in ("cpp", "ffi"):
            shutil.copytree(os.path.join(ROOT, sub), os.path.join(core, sub))
        ok = True
        for f, old, new in edits or []:
            path = os.path.join(core, f)
            text = open(path).read()
            if text.count(old) != 1:
                ok = False
                break
            open(path, "w").write(text.replace(old, new))
        if not ok:
            rows.append((name, what, None))
            continue
        try:
            build(core, out, HOOKS[name][1] if name in HOOKS else ())
            rows.append((name, what, measure(out)))
        except subprocess.CalledProcessError as e:
            rows.append((name, what, f"failed: {e}"))
    base = rows[0][2]
    keys = ["alloc_fresh", "free", "alloc_free_pair_steady"]
    print("| variant | alloc fresh | free | free+alloc steady | what changes |")
    print("|---|---|---|---|---|")
    for name, what, r in rows:
        if r is None or isinstance(r, str):
            why = r or "n/a: the core no longer has the text this variant edits"
            print(f"| {name} | {why} | | | {what} |")
            continue
        cells = [f"{r[k]:.1f}" + ("" if name == "baseline" else f" ({r[k] - base[k]:+.1f})") for k in keys]
        print(f"| {name} | " + " | ".join(cells) + f" | {what} |")


if __name__ == "__main__":
    main()
