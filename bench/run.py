#!/usr/bin/env python3
"""Runs sdmm and its peers side by side and writes bench/REPORT.md + plots.

    python3 bench/run.py                 # the reference run (all constants below)
    python3 bench/run.py --steps 100000 --reps 1 --out /tmp/quick   # a quick look
    python3 bench/run.py --smoke OUTDIR  # tiny sizes: proves the pipeline works

Method (bench/README.md): every row is one command line,
`<harness> WORKLOAD ALLOCATOR STEPS WARMUP_PASSES`, which runs WARMUP_PASSES
untimed passes and then one timed pass of STEPS steps. The same command is
run REPS times natively for the time (thread CPU time; the REPS runs of all
rows are interleaved, so a burst of load from elsewhere hits every row a
little instead of one row entirely) and once under callgrind, counting only
the timed pass (--toggle-collect=*measured_rep*): time and instructions
describe the same steps. Every row is then checked: instructions per cycle
outside IPC_RANGE at the measured clock means the two figures cannot both
be right, and REPORT.md says so.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = ["glibc", "jemalloc", "mimalloc", "tcmalloc"]
RUST_PEERS = ["sdmm", "talc", "rlsf", "linked_list", "buddy"]
WORKLOADS = ["random", "lifo", "typed"]

# ---- the method: every number of the reference run, in one place -----------
STEPS = 1_000_000       # steps per pass, native workloads
RUST_STEPS = 100_000    # steps per pass, Rust arena workloads (linked_list is O(n) per call)
WARMUP_PASSES = 1       # untimed, uncounted passes before the measured one, same process
REPS = 5                # timed runs per row (median, min, max); callgrind runs once (exact)
SEEDS = 1000            # heap efficiency: seeds averaged
IPC_RANGE = (0.2, 6.0)  # instructions per cycle a row may imply before it is flagged
SUBSET_SLACK = 1.10     # a row without zero-fill this much slower than its zero-filling twin is flagged
# glibc's memset clears >= 2 KiB with `rep stosb`, which callgrind counts once
# per byte: with the threshold out of reach memset uses its AVX2 loop, natively
# and under valgrind alike, so the count is of instructions actually executed.
ENV = dict(os.environ, GLIBC_TUNABLES="glibc.cpu.x86_rep_stosb_threshold=0x7fffffffffffffff")
SMOKE = dict(steps=2000, rust_steps=2000, reps=1, seeds=10)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, env=ENV, **kw).stdout


def build(build_dir):
    sh(["cmake", "-S", ROOT, "-B", build_dir, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
        "-DSDMM_BUILD_BENCH=ON", "-DSDMM_BUILD_TESTS=OFF"])
    sh(["cmake", "--build", build_dir, "-j2"])
    return os.path.join(build_dir, "bench", "native")


def build_rust(target_dir):
    """The Rust arena harness (bench/rust): sdmm-sys against talc, rlsf, ..."""
    env = dict(ENV, CARGO_TARGET_DIR=target_dir)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=os.path.join(HERE, "rust"), env=env,
                   check=True)
    return os.path.join(target_dir, "release", "sdmm-bench-arena")


def command(exe, workload, alloc, steps):
    return [exe, workload, alloc, str(steps), str(WARMUP_PASSES)]


def run_once(cmd):
    out = sh(cmd)
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


def callgrind_ir(cmd, steps):
    """Instructions per step of the timed pass of `cmd`, which runs exactly as it does natively."""
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           "--collect-atstart=no", "--toggle-collect=*measured_rep*"] + cmd,
                          text=True, capture_output=True, check=True, env=ENV)
    m = re.search(r"Collected : (\d+)", proc.stderr)
    if m is None or int(m.group(1)) == 0:
        raise RuntimeError(f"callgrind counted nothing in measured_rep: {' '.join(cmd)}")
    return int(m.group(1)) / steps


def clock_ghz(bindir):
    """The clock the benchmarks ran at, measured (the harness's dependent-add chain), and the
    nominal one from /proc/cpuinfo."""
    measured = json.loads(sh([os.path.join(bindir, "bench_glibc"), "clock"]).strip())["clock_ghz"]
    nominal = None
    try:
        with open("/proc/cpuinfo") as f:
            mhz = [float(line.split(":")[1]) for line in f if line.startswith("cpu MHz")]
        nominal = max(mhz) / 1000 if mhz else None
    except OSError:
        pass
    return measured, nominal


def ipc_warning(name, gross_ir, ns, ghz):
    """A sentence if `gross_ir` instructions in `ns` nanoseconds at `ghz` is not a possible IPC."""
    if ns <= 0 or ghz is None:
        return None
    ipc = gross_ir / (ns * ghz)
    lo, hi = IPC_RANGE
    if lo <= ipc <= hi:
        return None
    return (f"**WARNING** {name}: {gross_ir:.0f} instructions/step (harness included) in {ns:.1f} ns at "
            f"{ghz:.2f} GHz is {ipc:.2f} instructions per cycle, outside [{lo}, {hi}]: the time and the "
            "count cannot describe the same work.")


def subset_warning(name, sub_ns, super_name, super_ns):
    if sub_ns <= super_ns * SUBSET_SLACK:
        return None
    return (f"**WARNING** {name} ({sub_ns:.1f} ns) is slower than {super_name} ({super_ns:.1f} ns), which does "
            "the same and clears the memory too: one of the two times is not the allocator's.")


def check_the_checks():
    """The smoke run's proof that the checks can fire: a count far above what the time allows, one
    far below, a plausible row, and an uninit row slower than its zero-filling twin."""
    ghz = 3.0
    assert ipc_warning("too many", gross_ir=1000, ns=10, ghz=ghz) is not None  # 33 per cycle
    assert ipc_warning("too few", gross_ir=10, ns=1000, ghz=ghz) is not None  # 0.003 per cycle
    assert ipc_warning("plausible", gross_ir=300, ns=50, ghz=ghz) is None  # 2 per cycle
    assert subset_warning("uninit", 320, "zeroed", 179) is not None
    assert subset_warning("uninit", 100, "zeroed", 179) is None


class Row:
    def __init__(self, suite, workload, label, exe, alloc, steps):
        self.suite, self.workload, self.label = suite, workload, label
        self.cmd = command(exe, workload, alloc, steps)
        self.steps = steps
        self.samples = []
        self.gross_ir = None
        self.net_ir = None

    def time(self):
        return {"median": statistics.median(s["cpu_ns"] for s in self.samples),
                "min": min(s["cpu_ns"] for s in self.samples),
                "max": max(s["cpu_ns"] for s in self.samples),
                "wall_median": statistics.median(s["wall_ns"] for s in self.samples),
                "max_rss_kib": max(s["max_rss_kib"] for s in self.samples)}


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
    ap.add_argument("--out", default=HERE, help="where REPORT.md, results.json and the plots go")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--bindir", help="use already-built benchmark binaries")
    ap.add_argument("--steps", type=int, default=STEPS, help="steps per pass (cut-down runs only)")
    ap.add_argument("--reps", type=int, default=REPS, help="timed runs per row (cut-down runs only)")
    args = ap.parse_args()

    smoke = args.smoke is not None
    if smoke:
        check_the_checks()
    outdir = args.smoke if smoke else args.out
    params = dict(SMOKE) if smoke else dict(steps=args.steps, rust_steps=max(1, args.steps * RUST_STEPS // STEPS),
                                            reps=args.reps, seeds=SEEDS)
    reference = not smoke and args.steps == STEPS and args.reps == REPS
    if not reference and os.path.abspath(outdir) == HERE:
        sys.exit("a cut-down run would overwrite the reference report: give --out DIR")
    bindir = args.bindir or build(args.build_dir)
    rust_bin = build_rust(os.path.abspath(os.path.join(args.build_dir, "rust-target")))
    steps, rust_steps = params["steps"], params["rust_steps"]

    def native(peer):
        return os.path.join(bindir, f"bench_{peer}")

    rows = []  # timed and counted
    for workload in WORKLOADS:
        rows.append(Row("native", workload, "sdmm (typed, zero-filled)", native("glibc"), "sdmm", steps))
        rows.append(Row("native", workload, "sdmm (no zero-fill)", native("glibc"), "sdmm_uninit", steps))
        for peer in PEERS:
            rows.append(Row("native", workload, f"{peer} calloc", native(peer), "calloc", steps))
            rows.append(Row("native", workload, f"{peer} malloc", native(peer), "malloc", steps))
    for workload in ["random", "lifo"]:
        for entry in ["free_ref", "free_handle", "free_ptr"]:
            rows.append(Row("free", workload, f"sdmm_{entry}", native("glibc"), f"sdmm_{entry}", steps))
        for alloc in RUST_PEERS:
            rows.append(Row("rust", workload, alloc, rust_bin, alloc, rust_steps))
    # The harness alone, per executable and workload: counted only.
    harness = {}
    for row in rows:
        key = (row.cmd[0], row.workload)
        if key not in harness:
            harness[key] = Row(row.suite, row.workload, "none", row.cmd[0], "none", row.steps)

    ghz, nominal = clock_ghz(bindir)
    for rep in range(params["reps"]):
        for row in rows:
            row.samples.append(run_once(row.cmd))
        print(f"timed round {rep + 1}/{params['reps']}", file=sys.stderr)
    ghz = max(ghz, clock_ghz(bindir)[0])
    for h in harness.values():
        h.gross_ir = callgrind_ir(h.cmd, h.steps)
    for row in rows:
        row.gross_ir = callgrind_ir(row.cmd, row.steps)
        row.net_ir = row.gross_ir - harness[(row.cmd[0], row.workload)].gross_ir
        print(f"{row.suite:6} {row.workload:6} {row.label:26} {row.time()['median']:8.2f} ns "
              f"{row.net_ir:8.1f} Ir", file=sys.stderr)

    efficiency_rows = [efficiency(bindir, lo, hi, params["seeds"]) for lo, hi in [(8, 1024), (8, 128)]]
    rust_efficiency = []
    for lo, hi in [(8, 1024), (8, 128)]:
        for alloc in RUST_PEERS:
            out = sh([rust_bin, "efficiency", alloc, str(lo), str(hi), str(params["seeds"])])
            rust_efficiency.append(json.loads(out.strip().splitlines()[-1]))

    write_report(outdir, rows, harness, efficiency_rows, rust_efficiency, params, ghz, nominal, smoke,
                 reference)


def write_report(outdir, rows, harness, efficiency_rows, rust_efficiency, params, ghz, nominal, smoke,
                 reference):
    os.makedirs(outdir, exist_ok=True)
    by = {(r.suite, r.workload, r.label): r for r in rows}
    load = statistics.median(s["wall_ns"] / s["cpu_ns"] for r in rows for s in r.samples if s["cpu_ns"] > 0)
    warnings_total = 0
    lines = ["# sdmm benchmark report", "",
             "Generated by `python3 bench/run.py` (method: `bench/README.md`). Every row is one command: "
             f"{WARMUP_PASSES} untimed warm-up pass, then one measured pass of {params['steps']:,} steps "
             f"({params['rust_steps']:,} for the Rust arena harness), each pass from an empty working set. "
             f"**ns/step**: thread CPU time of the measured pass, median of {params['reps']} run(s) "
             "[min–max], the runs of all rows interleaved. **instructions/step**: callgrind over that same "
             "measured pass, one run (the count is exact), net of the harness alone. "
             f"**IPC**: instructions per cycle those two imply (harness included) at {ghz:.2f} GHz, the clock "
             "measured on a chain of dependent adds" + (f" (/proc/cpuinfo says {nominal:.2f} GHz)" if nominal
                                                        else "") +
             f"; rows outside {IPC_RANGE[0]}..{IPC_RANGE[1]} are flagged, and so is a row without zero-fill "
             f"more than {SUBSET_SLACK:.2f}× slower than its zero-filling twin. Wall-clock time was {load:.2f}× "
             "CPU time (median over runs): the machine's load during the run.", ""]
    if smoke:
        lines += ["**Smoke run: sizes are tiny, numbers mean nothing.**", ""]
    elif not reference:
        lines += ["**Cut-down run (steps or repetitions differ from the constants in run.py): not the "
                  "reference report.**", ""]

    def table(suite, workload, labels, base_label, base_name, rss, pairs=()):
        nonlocal warnings_total
        base = by[(suite, workload, base_label)]
        head = (f"| allocator | ns/step | ratio to {base_name} | instructions/step | ratio | IPC |"
                + (" max RSS KiB |" if rss else ""))
        out = [head, "|---" * (head.count("|") - 1) + "|"]
        warns = []
        for label in labels:
            r = by[(suite, workload, label)]
            t = r.time()
            ipc = r.gross_ir / (t["median"] * ghz) if t["median"] > 0 else float("nan")
            out.append(f"| {label} | {t['median']:.2f} [{t['min']:.2f}–{t['max']:.2f}] | "
                       f"{t['median'] / base.time()['median']:.2f} | {r.net_ir:.1f} | "
                       f"{r.net_ir / base.net_ir:.2f} | {ipc:.2f} |" + (f" {t['max_rss_kib']} |" if rss else ""))
            w = ipc_warning(f"{workload} / {label}", r.gross_ir, t["median"], ghz)
            if w:
                warns.append(w)
        for sub, sup in pairs:
            ts, tp = by[(suite, workload, sub)].time()["median"], by[(suite, workload, sup)].time()["median"]
            w = subset_warning(f"{workload} / {sub}", ts, sup, tp)
            if w:
                warns.append(w)
        warnings_total += len(warns)
        return out + ([""] + warns if warns else [])

    native_labels = ["sdmm (typed, zero-filled)", "sdmm (no zero-fill)"] + [
        f"{p} {k}" for p in PEERS for k in ["calloc", "malloc"]]
    for workload, title in [("random", "Random working set: 1024 slots, 8..512 B, free+alloc per step"),
                            ("lifo", "LIFO alloc+free pair, 16..256 B"),
                            ("typed", "Typed mix: u64 / pubkey / signature arrays of 1..64 elements")]:
        harness_ir = harness[(by[("native", workload, "sdmm (typed, zero-filled)")].cmd[0], workload)].gross_ir
        lines += [f"## {title}", "", f"Harness alone: {harness_ir:.1f} instructions/step.", ""]
        pairs = [("sdmm (no zero-fill)", "sdmm (typed, zero-filled)")] + [
            (f"{p} malloc", f"{p} calloc") for p in PEERS]
        lines += table("native", workload, native_labels, "mimalloc calloc", "mimalloc calloc", True, pairs)
        png = f"{workload}_instructions.png"
        if plot(os.path.join(outdir, png), f"{title} - instructions per step (callgrind)", native_labels,
                [by[("native", workload, label)].net_ir for label in native_labels], "instructions/step"):
            lines += ["", f"![{workload}]({png})"]
        lines.append("")
    lines += ["## sdmm's free entry points", "",
              "The same typed zero-filled allocation, freed by `sdmm_free_ref` (the block), "
              "`sdmm_free_handle` (handle + tag: what the typed rows above use) or `sdmm_free_ptr` "
              "(element pointer + tag: what the no-zero-fill rows use, as an allocator adapter would).", ""]
    for workload in ["random", "lifo"]:
        lines += [f"### {workload}", ""]
        lines += table("free", workload, ["sdmm_free_ref", "sdmm_free_handle", "sdmm_free_ptr"],
                       "sdmm_free_ref", "free_ref", False)
        lines.append("")
    lines += ["## Heap efficiency in a 32 KiB arena", "",
              f"Allocate with probability 0.6 (always when nothing is live) or free a random block; stop at "
              f"the first failed allocation; live requested bytes / 32768, mean of {params['seeds']} seeds. "
              "Control structures count against the 32 KiB.", "",
              "| sizes | sdmm | control bytes | header bytes/block |", "|---|---|---|---|"]
    for e in efficiency_rows:
        lines.append(f"| {e['min']}..{e['max']} | {e['efficiency']:.3f} | {e['control_bytes']} | {e['header_bytes']} |")
    lines.append("")
    lines += ["## Rust arena allocators over the same arena (bench/rust)", "",
              "sdmm through `sdmm-sys`'s safe typed API (`heap.alloc_u8(n)`, zero-filled, freed on drop, "
              "which calls `sdmm_free_ref`) against the raw interfaces of talc 4, rlsf 0.2 (TLSF), "
              "linked_list_allocator 0.10 (first fit) and buddy_system_allocator 0.11, none of which "
              "zero-fill. 4 MiB arena, 8-byte alignment. Same method as above.", ""]
    for workload in ["random", "lifo"]:
        lines += [f"### {workload}", ""]
        lines += table("rust", workload, RUST_PEERS, "talc", "talc", False)
        lines.append("")
    lines += ["### Heap efficiency, 32 KiB (metadata outside the arena is subtracted from it)", "",
              "| sizes | " + " | ".join(RUST_PEERS) + " |", "|---" * (len(RUST_PEERS) + 1) + "|"]
    for lo, hi in [(8, 1024), (8, 128)]:
        vals = {e["allocator"]: e["efficiency"] for e in rust_efficiency if e["min"] == lo and e["max"] == hi}
        lines.append(f"| {lo}..{hi} | " + " | ".join(f"{vals[a]:.3f}" for a in RUST_PEERS) + " |")
    lines.append("")
    # The README's two tables, from this same run, ready to paste.
    eff = {(e["min"], e["max"]): e["efficiency"] for e in efficiency_rows}
    reff = {(e["allocator"], e["min"], e["max"]): e["efficiency"] for e in rust_efficiency}
    lines += ["## For the README (this run)", "",
              "| sizes | **sdmm** | talc | rlsf (TLSF) | buddy | linked_list (O(n) first fit) |",
              "|---|---|---|---|---|---|"]
    for lo, hi in [(8, 1024), (8, 128)]:
        lines.append(f"| {lo}..{hi} B | **{eff[(lo, hi)]:.3f}** | " + " | ".join(
            f"{reff[(a, lo, hi)]:.3f}" for a in ["talc", "rlsf", "buddy", "linked_list"]) + " |")
    speed = [("sdmm typed (zero-filled)", ("native", "random", "sdmm (typed, zero-filled)")),
             ("sdmm, no zero-fill", ("native", "random", "sdmm (no zero-fill)")),
             ("mimalloc calloc", ("native", "random", "mimalloc calloc")),
             ("mimalloc malloc", ("native", "random", "mimalloc malloc")),
             ("glibc calloc", ("native", "random", "glibc calloc")),
             ("sdmm, safe Rust API", ("rust", "random", "sdmm")),
             ("talc (Rust)", ("rust", "random", "talc")), ("rlsf (Rust)", ("rust", "random", "rlsf"))]
    lines += ["", "| | " + " | ".join(name for name, _ in speed) + " |", "|---" * (len(speed) + 1) + "|",
              "| instructions/step | " + " | ".join(f"{by[k].net_ir:.0f}" for _, k in speed) + " |",
              "| ns/step | " + " | ".join(f"{by[k].time()['median']:.0f}" for _, k in speed) + " |", ""]
    with open(os.path.join(outdir, "REPORT.md"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump({"params": dict(params, warmup_passes=WARMUP_PASSES, ipc_range=IPC_RANGE,
                                  reference=reference, glibc_tunables=ENV["GLIBC_TUNABLES"]),
                   "clock_ghz": ghz, "cpuinfo_ghz": nominal,
                   "rows": [{"suite": r.suite, "workload": r.workload, "label": r.label, "command": r.cmd[1:],
                             "executable": os.path.basename(r.cmd[0]), "samples": r.samples,
                             "time": r.time(), "gross_ir": r.gross_ir, "net_ir": r.net_ir} for r in rows],
                   "harness_ir": [{"executable": os.path.basename(k[0]), "workload": k[1], "gross_ir": h.gross_ir}
                                  for k, h in harness.items()],
                   "efficiency": efficiency_rows, "rust_efficiency": rust_efficiency}, f, indent=1)
    print(f"wrote {os.path.join(outdir, 'REPORT.md')} ({warnings_total} IPC warnings)", file=sys.stderr)


if __name__ == "__main__":
    main()
