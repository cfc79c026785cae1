#!/usr/bin/env python3
"""Drop-in malloc benchmark: every allocator preloaded into the same programs.

    python3 bench/malloc/run.py [--lib build/host/libsdmm-malloc.so] [--reps 5]
                                [--scale 1.0] [--out bench/malloc]

Programs: the classic stress programs of bench/malloc/stress.cpp (compiled
here with g++ -O2) and real programs doing allocation-heavy work (Debian's
python3 and sqlite3). Allocators: glibc (nothing preloaded), jemalloc,
mimalloc, tcmalloc, scudo and sdmm, each by LD_PRELOAD into the same binary.

Each repetition runs every program once with every allocator, the allocators
in a fresh random order each time (interleaved: a burst of load from
elsewhere on this shared machine lands on one repetition of every
allocator, not on all repetitions of one). Each run is timed by
/usr/bin/time (wall-clock seconds, user+system CPU seconds, peak RSS). Every
run's output must equal glibc's (checksums), or the run is an error.
Writes REPORT.md, results.json and a plot (gnuplot, if present) into --out.
"""
import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LIBDIR = "/usr/lib/x86_64-linux-gnu"

# Scale of each stress program at --scale 1 (about a second with glibc here).
STRESS = {
    "churn": 80,
    "tree": 60,
    "larson": 15,
    "xthread": 8,
    "mstress": 3,
}
MULTI_THREADED = {"larson", "xthread", "mstress"}

SQLITE_SQL = """
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, payload BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
INSERT INTO t SELECT i, printf('name-%08d-%s', i, hex(i * 7919)), i % 97, zeroblob(i % 300) FROM n;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp ON t(grp, id);
SELECT grp, count(*), sum(length(payload)) FROM t GROUP BY grp ORDER BY grp LIMIT 3;
UPDATE t SET name = upper(name) WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT sum(id), total(length(name)) FROM t;
SELECT count(*) FROM (SELECT DISTINCT substr(name, 1, 9) FROM t);
"""


def find_scudo():
    try:
        out = subprocess.run(["dpkg", "-L", "libclang-rt-22-dev"], capture_output=True, text=True).stdout
    except OSError:
        return None
    for line in out.splitlines():
        if line.endswith("libclang_rt.scudo_standalone-x86_64.so"):
            return line
    return None


def allocators(sdmm_lib):
    table = {
        "glibc": None,
        "jemalloc": f"{LIBDIR}/libjemalloc.so.2",
        "mimalloc": f"{LIBDIR}/libmimalloc.so",
        "tcmalloc": f"{LIBDIR}/libtcmalloc_minimal.so",
        "scudo": find_scudo(),
        "sdmm": sdmm_lib,
    }
    missing = [name for name, path in table.items() if name != "glibc" and (not path or not os.path.exists(path))]
    if missing:
        sys.exit(f"missing allocator libraries: {missing} (tools/setup.sh installs them; build sdmm first)")
    return table


def programs(stress_bin, scale, workdir):
    progs = {}
    for name, base in STRESS.items():
        n = max(1, round(base * scale))
        progs[name] = {"cmd": [stress_bin, name, str(n)], "kind": "stress", "args": f"{name} {n}"}
    script = os.path.join(ROOT, "tests", "host", "alloc_heavy.py")
    progs["python3"] = {"cmd": ["/usr/bin/python3", script], "kind": "real", "args": "tests/host/alloc_heavy.py"}
    rows = max(1000, round(150000 * scale))
    sql = os.path.join(workdir, "bench.sql")
    with open(sql, "w") as f:
        f.write(SQLITE_SQL.format(rows=rows))
    progs["sqlite3"] = {
        "cmd": ["sh", "-c", f"rm -f {workdir}/b.db && exec /usr/bin/sqlite3 {workdir}/b.db < {sql}"],
        "kind": "real",
        "args": f"{rows} rows: insert, index, group, update, delete",
    }
    return progs


def run_one(cmd, lib):
    env = dict(os.environ)
    env.pop("SDMM_MALLOC_STATS", None)
    if lib:
        env["LD_PRELOAD"] = lib
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        # -o: the measurement goes to a file of its own, not mixed with stderr.
        full = ["/usr/bin/time", "-o", tf.name, "-f", "%e %U %S %M"] + cmd
        p = subprocess.run(full, env=env, capture_output=True, text=True)
        fields = tf.read().split()
    if p.returncode != 0 or len(fields) < 4:
        return None, p.stdout + p.stderr
    wall, user, system, rss_kb = float(fields[-4]), float(fields[-3]), float(fields[-2]), int(fields[-1])
    return {"wall": wall, "cpu": user + system, "rss_mib": rss_kb / 1024.0}, p.stdout


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default=os.path.join(ROOT, "build", "host", "libsdmm-malloc.so"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--only", default="", help="comma-separated program names")
    ap.add_argument("--render", action="store_true", help="rewrite REPORT.md from --out/results.json")
    args = ap.parse_args()
    if args.render:
        with open(os.path.join(args.out, "results.json")) as f:
            saved = json.load(f)
        for k in ("reps", "scale", "only"):
            setattr(args, k, saved["args"][k])
        progs = {k: {"args": v, "kind": "stress" if k in STRESS else "real"} for k, v in saved["programs"].items()}
        allocs = saved["allocators"]
        summary = summarise(progs, allocs, saved["samples"])
        plot(args.out, progs, allocs, summary)
        write_report(args, progs, allocs, saved["samples"], summary, saved["errors"], saved.get("seconds", 0))
        return
    lib = os.path.abspath(args.lib)
    allocs = allocators(lib)
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="sdmm-bench-malloc-")
    stress_bin = os.path.join(work, "stress")
    subprocess.run(["g++", "-O2", "-std=c++20", "-pthread", os.path.join(HERE, "stress.cpp"), "-o", stress_bin],
                   check=True)
    progs = programs(stress_bin, args.scale, work)
    if args.only:
        progs = {k: v for k, v in progs.items() if k in args.only.split(",")}

    # Reference outputs (glibc), then the interleaved repetitions.
    reference = {}
    for name, prog in progs.items():
        r, out = run_one(prog["cmd"], None)
        if r is None:
            sys.exit(f"{name} fails with glibc: {out[-2000:]}")
        reference[name] = out
    samples = {name: {a: [] for a in allocs} for name in progs}
    errors = []
    rng = random.Random(12345)
    started = time.time()
    for rep in range(args.reps):
        for name, prog in progs.items():
            order = list(allocs)
            rng.shuffle(order)
            for a in order:
                r, out = run_one(prog["cmd"], allocs[a])
                if r is None:
                    errors.append(f"{name} / {a} (rep {rep + 1}): failed: {out[-300:]!r}")
                    continue
                if out != reference[name]:
                    errors.append(f"{name} / {a} (rep {rep + 1}): output differs from glibc's")
                    continue
                samples[name][a].append(r)
        print(f"rep {rep + 1}/{args.reps} done ({time.time() - started:.0f} s)", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)

    summary = summarise(progs, allocs, samples)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"args": vars(args), "programs": {k: v["args"] for k, v in progs.items()},
                   "allocators": {k: v for k, v in allocs.items()}, "samples": samples,
                   "errors": errors, "summary": summary, "seconds": time.time() - started}, f, indent=1)
    plot(args.out, progs, allocs, summary)
    write_report(args, progs, allocs, samples, summary, errors, time.time() - started)
    print(open(os.path.join(args.out, "REPORT.md")).read())


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def summarise(progs, allocs, samples):
    s = {}
    for name in progs:
        s[name] = {}
        for a in allocs:
            xs = samples[name][a]
            if not xs:
                continue
            s[name][a] = {
                "wall": med([x["wall"] for x in xs]), "wall_min": min(x["wall"] for x in xs),
                "wall_max": max(x["wall"] for x in xs),
                "cpu": med([x["cpu"] for x in xs]), "cpu_min": min(x["cpu"] for x in xs),
                "cpu_max": max(x["cpu"] for x in xs),
                "rss": med([x["rss_mib"] for x in xs]), "rss_min": min(x["rss_mib"] for x in xs),
                "rss_max": max(x["rss_mib"] for x in xs), "n": len(xs),
            }
    return s


def rel_geomean(summary, names, alloc, key, base="mimalloc"):
    ratios = []
    for n in names:
        if alloc in summary[n] and base in summary[n]:
            b = max(summary[n][base][key], 0.005)
            ratios.append(max(summary[n][alloc][key], 0.005) / b)
    return geomean(ratios) if ratios else float("nan")


def plot(out, progs, allocs, summary):
    if not shutil.which("gnuplot"):
        return
    names = list(progs)
    dat = os.path.join(out, "plot.dat")
    with open(dat, "w") as f:
        f.write("program " + " ".join(allocs) + "\n")
        for n in names:
            base = summary[n].get("mimalloc", {}).get("wall", float("nan"))
            f.write(n + " " + " ".join(f"{summary[n].get(a, {}).get('wall', float('nan')) / base:.3f}"
                                       for a in allocs) + "\n")
    script = f"""
set terminal png size 1000,450
set output '{os.path.join(out, "time_vs_mimalloc.png")}'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel 'median wall time / mimalloc'
set title 'bench/malloc: time relative to mimalloc (lower is better)'
set key outside right
set grid ytics
set yrange [0:*]
plot for [i=2:{len(allocs) + 1}] '{dat}' using i:xtic(1) title columnheader(i)
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=False)
    os.remove(dat)


def write_report(args, progs, allocs, samples, summary, errors, seconds):
    names = list(progs)
    stress_names = [n for n in names if progs[n]["kind"] == "stress"]
    lines = []
    w = lines.append
    w("# Drop-in malloc benchmark (`bench/malloc/run.py`)")
    w("")
    w(f"Command: `python3 bench/malloc/run.py --reps {args.reps} --scale {args.scale}`"
      f"{' --only ' + args.only if args.only else ''} — {seconds:.0f} s on this machine "
      f"({os.cpu_count()} CPUs, shared). Every program runs once per repetition with each allocator "
      "preloaded, the allocators in a fresh random order each repetition; every output equals glibc's.")
    w("")
    w("Time is wall-clock seconds (median of the repetitions, min–max below it); peak RSS is the "
      "median maximum resident set in MiB. Allocators: glibc (nothing preloaded), "
      + ", ".join(f"{a} (`{os.path.basename(p)}`)" for a, p in allocs.items() if p) + ".")
    w("")
    w("## Programs")
    w("")
    w("| program | kind | arguments |")
    w("|---|---|---|")
    for n in names:
        w(f"| {n} | {progs[n]['kind']}{' (threads)' if n in MULTI_THREADED else ''} | `{progs[n]['args']}` |")
    w("")
    def metric_table(title, key, digits, intro=None):
        w(title)
        w("")
        if intro:
            w(intro)
            w("")
        w("| program | " + " | ".join(allocs) + " |")
        w("|---|" + "---|" * len(allocs))
        for n in names:
            cells = []
            for a in allocs:
                c = summary[n].get(a)
                cells.append("—" if c is None else
                             f"{c[key]:.{digits}f} [{c[key + '_min']:.{digits}f}–{c[key + '_max']:.{digits}f}]")
            w(f"| {n} | " + " | ".join(cells) + " |")
        w("")

    metric_table("## Time (s): median, [min–max]", "wall", 2)
    metric_table("## CPU time (s, user + system): median, [min–max]", "cpu", 2,
                 "Less disturbed by other load on the machine than wall time (a program waiting for a core is not "
                 "charged), but blind to time a multi-threaded program spends blocked.")
    metric_table("## Peak RSS (MiB): median, [min–max]", "rss", 1)
    w("## Geometric means relative to mimalloc")
    w("")
    w("| | " + " | ".join(allocs) + " |")
    w("|---|" + "---|" * len(allocs))
    for label, group in (("stress programs", stress_names), ("all programs", names)):
        w(f"| time, {label} | " + " | ".join(f"{rel_geomean(summary, group, a, 'wall'):.2f}" for a in allocs) + " |")
        w(f"| CPU time, {label} | " + " | ".join(f"{rel_geomean(summary, group, a, 'cpu'):.2f}" for a in allocs)
          + " |")
        w(f"| peak RSS, {label} | " + " | ".join(f"{rel_geomean(summary, group, a, 'rss'):.2f}" for a in allocs)
          + " |")
    w("")
    w("## Goals of issue 10 (stress programs; sdmm)")
    w("")
    t = rel_geomean(summary, stress_names, "sdmm", "wall")
    r = rel_geomean(summary, stress_names, "sdmm", "rss")
    c = rel_geomean(summary, stress_names, "sdmm", "cpu")
    w(f"- geometric-mean time within 1.1x of mimalloc: **{t:.2f}x — {'met' if t <= 1.1 else 'not met'}** "
      f"(CPU time: {c:.2f}x)")
    w(f"- geometric-mean peak RSS within 1.1x of mimalloc: **{r:.2f}x — {'met' if r <= 1.1 else 'not met'}**")
    worst = []
    for n in names:
        s = summary[n].get("sdmm")
        if not s:
            continue
        for peer in ("glibc", "scudo"):
            p = summary[n].get(peer)
            if p and s["wall"] > 1.1 * p["wall"]:
                worst.append(f"{n}: {s['wall'] / p['wall']:.2f}x {peer}")
    w("- on no program more than 10 % slower than glibc or scudo: **"
      + ("met" if not worst else "not met — " + "; ".join(worst)) + "**")
    w("")
    w("![time relative to mimalloc](time_vs_mimalloc.png)")
    w("")
    if errors:
        w("## Errors")
        w("")
        for e in errors:
            w(f"- {e}")
        w("")
    w("Every sample is in `results.json` (wall and CPU seconds, RSS) with the exact commands' arguments.")
    with open(os.path.join(args.out, "REPORT.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
