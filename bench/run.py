#!/usr/bin/env python3
"""Runs sdmm and its peers side by side and writes bench/REPORT.md + plots.

    python3 bench/run.py                 # full run (a few minutes)
    python3 bench/run.py --smoke OUTDIR  # tiny sizes: proves the pipeline works

Method (see bench/README.md): every allocator runs the same workload binary
in the same invocation of this script. Times are medians of --reps runs with
min and max; instruction counts come from valgrind --tool=callgrind and are
net of start-up: (Ir at 3N steps - Ir at N steps) / 2N, minus the harness
alone (allocator "none"), so they are exact and repeatable.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = ["glibc", "jemalloc", "mimalloc", "tcmalloc"]
RUST_PEERS = ["sdmm", "talc", "rlsf", "linked_list", "buddy"]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def build(build_dir):
    sh(["cmake", "-S", ROOT, "-B", build_dir, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
        "-DSDMM_BUILD_BENCH=ON", "-DSDMM_BUILD_TESTS=OFF"])
    sh(["cmake", "--build", build_dir])
    return os.path.join(build_dir, "bench", "native")


def build_rust(target_dir):
    """The Rust arena harness (bench/rust): sdmm-sys against talc, rlsf, ..."""
    env = dict(os.environ, CARGO_TARGET_DIR=target_dir)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=os.path.join(HERE, "rust"), env=env,
                   check=True)
    return os.path.join(target_dir, "release", "sdmm-bench-arena")


def binary(bindir, peer):
    return bindir if peer == "rust" else os.path.join(bindir, f"bench_{peer}")


def run_times(bindir, peer, workload, alloc, steps, reps):
    out = sh([binary(bindir, peer), workload, alloc, str(steps), str(reps)])
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    ns = [r["ns"] for r in rows]
    return {"median": statistics.median(ns), "min": min(ns), "max": max(ns),
            "max_rss_kib": max(r["max_rss_kib"] for r in rows)}


def callgrind_ir(bindir, peer, workload, alloc, steps):
    def total(n):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "cg.out")
            proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                   binary(bindir, peer), workload, alloc, str(n), "1"],
                                  text=True, capture_output=True, check=True)
            for line in proc.stderr.splitlines():
                if "Collected :" in line:
                    return int(line.split(":")[-1].strip())
        raise RuntimeError("no callgrind total")
    return (total(3 * steps) - total(steps)) / (2 * steps)


def efficiency(bindir, lo, hi, seeds):
    out = sh([os.path.join(bindir, "bench_glibc"), "efficiency", str(lo), str(hi), str(seeds)])
    return json.loads(out.strip().splitlines()[-1])


def plot(path_png, title, labels, values, ylabel):
    """A bar chart with gnuplot (Debian's gnuplot-nox); skipped if absent."""
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as dat:
            for label, value in zip(labels, values):
                dat.write(f'"{label}" {value}\n')
        script = (f'set terminal pngcairo size 900,420; set output "{path_png}";'
                  f'set title "{title}"; set ylabel "{ylabel}"; set style fill solid 0.8;'
                  'set boxwidth 0.7; set xtics rotate by -30; set grid ytics; unset key;'
                  f'plot "{dat.name}" using 2:xtic(1) with boxes lc rgb "#3b6ea5",'
                  f' "" using 0:2:(sprintf("%.1f",$2)) with labels offset 0,0.7')
        subprocess.run(["gnuplot", "-e", script], check=True, capture_output=True)
        os.unlink(dat.name)
        return True
    except (FileNotFoundError, subprocess.CalledProcessError):
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", metavar="OUTDIR", help="tiny run into OUTDIR (used by the tests)")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--bindir", help="use already-built benchmark binaries")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()

    smoke = args.smoke is not None
    outdir = args.smoke if smoke else HERE
    steps = 20000 if smoke else 10_000_000
    cg_steps = 2000 if smoke else 200_000
    reps = 1 if smoke else args.reps
    seeds = 10 if smoke else 1000
    bindir = args.bindir or build(args.build_dir)

    results = {"time": {}, "ir": {}, "rss": {}, "efficiency": []}
    rows = []  # (workload, label, peer, alloc)
    for workload in ["random", "lifo", "typed"]:
        rows.append((workload, "sdmm (typed, zero-filled)", "glibc", "sdmm"))
        rows.append((workload, "sdmm (no zero-fill)", "glibc", "sdmm_uninit"))
        for peer in PEERS:
            rows.append((workload, f"{peer} calloc", peer, "calloc"))
            rows.append((workload, f"{peer} malloc", peer, "malloc"))
    harness = {w: callgrind_ir(bindir, "glibc", w, "none", cg_steps) for w in ["random", "lifo", "typed"]}
    for workload, label, peer, alloc in rows:
        t = run_times(bindir, peer, workload, alloc, steps, reps)
        results["time"][(workload, label)] = t
        results["ir"][(workload, label)] = callgrind_ir(bindir, peer, workload, alloc, cg_steps) - harness[workload]
        print(f"{workload:7} {label:28} {t['median']:7.2f} ns  {results['ir'][(workload, label)]:7.1f} Ir",
              file=sys.stderr)
    for lo, hi in [(8, 1024), (8, 128)]:
        results["efficiency"].append(efficiency(bindir, lo, hi, seeds))

    # Rust arena allocators over the same fixed arena (ratios to talc).
    rust_bin = build_rust(os.path.abspath(os.path.join(args.build_dir, "rust-target")))
    rust_steps = steps // 10 if not smoke else steps  # linked_list_allocator is O(n) per operation
    results["rust"] = {"time": {}, "ir": {}, "efficiency": []}
    for workload in ["random", "lifo"]:
        base_ir = callgrind_ir(rust_bin, "rust", workload, "none", cg_steps // 10)
        for alloc in RUST_PEERS:
            t = run_times(rust_bin, "rust", workload, alloc, rust_steps, reps)
            ir = callgrind_ir(rust_bin, "rust", workload, alloc, cg_steps // 10) - base_ir
            results["rust"]["time"][(workload, alloc)] = t
            results["rust"]["ir"][(workload, alloc)] = ir
            print(f"rust {workload:7} {alloc:12} {t['median']:8.2f} ns {ir:8.1f} Ir", file=sys.stderr)
    for lo, hi in [(8, 1024), (8, 128)]:
        for alloc in RUST_PEERS:
            out = sh([rust_bin, "efficiency", alloc, str(lo), str(hi), str(seeds)])
            results["rust"]["efficiency"].append(json.loads(out.strip().splitlines()[-1]))

    write_report(outdir, results, rows, harness, steps, cg_steps, reps, seeds, smoke)


def write_report(outdir, results, rows, harness, steps, cg_steps, reps, seeds, smoke):
    os.makedirs(outdir, exist_ok=True)
    lines = ["# sdmm benchmark report", "",
             "Generated by `python3 bench/run.py` (method: `bench/README.md`). "
             f"{steps:,} steps per timed run, median of {reps} runs [min–max]; instructions per step "
             f"from callgrind over {cg_steps:,}/{3 * cg_steps:,} steps, net of the harness "
             f"({', '.join(f'{w}: {v:.1f}' for w, v in harness.items())} Ir/step).", ""]
    if smoke:
        lines += ["**Smoke run: sizes are tiny, numbers mean nothing.**", ""]
    for workload, title in [("random", "Random working set: 1024 slots, 8..512 B, free+alloc per step"),
                            ("lifo", "LIFO alloc+free pair, 16..256 B"),
                            ("typed", "Typed mix: u64 / pubkey / signature arrays of 1..64 elements")]:
        base_label = "mimalloc calloc"
        base_t = results["time"][(workload, base_label)]["median"]
        base_ir = results["ir"][(workload, base_label)]
        lines += [f"## {title}", "",
                  "| allocator | ns/step | ratio to mimalloc calloc | instructions/step | ratio | max RSS KiB |",
                  "|---|---|---|---|---|---|"]
        labels, irs = [], []
        for w, label, _, _ in rows:
            if w != workload:
                continue
            t = results["time"][(w, label)]
            ir = results["ir"][(w, label)]
            labels.append(label)
            irs.append(ir)
            lines.append(f"| {label} | {t['median']:.2f} [{t['min']:.2f}–{t['max']:.2f}] | "
                         f"{t['median'] / base_t:.2f} | {ir:.1f} | {ir / base_ir:.2f} | {t['max_rss_kib']} |")
        png = f"{workload}_instructions.png"
        if plot(os.path.join(outdir, png), f"{title} - instructions per step (callgrind)", labels, irs,
                "instructions/step"):
            lines += ["", f"![{workload}]({png})"]
        lines.append("")
    lines += ["## Heap efficiency in a 32 KiB arena", "",
              f"Allocate with probability 0.6 (always when nothing is live) or free a random block; stop at "
              f"the first failed allocation; live requested bytes / 32768, mean of {seeds} seeds. Control "
              "structures count against the 32 KiB.", "",
              "| sizes | sdmm | control bytes | header bytes/block |", "|---|---|---|---|"]
    for e in results["efficiency"]:
        lines.append(f"| {e['min']}..{e['max']} | {e['efficiency']:.3f} | {e['control_bytes']} | {e['header_bytes']} |")
    lines.append("")
    rust = results["rust"]
    lines += ["## Rust arena allocators over the same arena (bench/rust)", "",
              "sdmm through `sdmm-sys`'s safe typed API (`heap.alloc_u8(n)`, zero-filled, freed on drop) "
              "against the raw interfaces of talc 4, rlsf 0.2 (TLSF), linked_list_allocator 0.10 (first fit) "
              "and buddy_system_allocator 0.11, none of which zero-fill. 4 MiB arena, 8-byte alignment.", ""]
    for workload in ["random", "lifo"]:
        base_t = rust["time"][(workload, "talc")]["median"]
        base_ir = rust["ir"][(workload, "talc")]
        lines += [f"### {workload}", "", "| allocator | ns/step | ratio to talc | instructions/step | ratio |",
                  "|---|---|---|---|---|"]
        for alloc in RUST_PEERS:
            t = rust["time"][(workload, alloc)]
            ir = rust["ir"][(workload, alloc)]
            lines.append(f"| {alloc} | {t['median']:.2f} [{t['min']:.2f}–{t['max']:.2f}] | {t['median'] / base_t:.2f} "
                         f"| {ir:.1f} | {ir / base_ir:.2f} |")
        lines.append("")
    lines += ["### Heap efficiency, 32 KiB (metadata outside the arena is subtracted from it)", "",
              "| sizes | " + " | ".join(RUST_PEERS) + " |", "|---" * (len(RUST_PEERS) + 1) + "|"]
    for lo, hi in [(8, 1024), (8, 128)]:
        vals = {e["allocator"]: e["efficiency"] for e in rust["efficiency"] if e["min"] == lo and e["max"] == hi}
        lines.append(f"| {lo}..{hi} | " + " | ".join(f"{vals[a]:.3f}" for a in RUST_PEERS) + " |")
    lines.append("")
    with open(os.path.join(outdir, "REPORT.md"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump({"time": {f"{k[0]}/{k[1]}": v for k, v in results["time"].items()},
                   "ir": {f"{k[0]}/{k[1]}": v for k, v in results["ir"].items()},
                   "harness_ir": harness, "efficiency": results["efficiency"],
                   "rust_time": {f"{k[0]}/{k[1]}": v for k, v in results["rust"]["time"].items()},
                   "rust_ir": {f"{k[0]}/{k[1]}": v for k, v in results["rust"]["ir"].items()},
                   "rust_efficiency": results["rust"]["efficiency"]}, f, indent=1)
    print(f"wrote {os.path.join(outdir, 'REPORT.md')}", file=sys.stderr)


if __name__ == "__main__":
    main()
