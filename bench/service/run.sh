#!/usr/bin/env bash
# The shared heap next to Boost.Interprocess, same workload, same run
# (bench/service/REPORT.md). Usage:
#   bench/service/run.sh [BUILD_DIR] [REPS] [OPS_PER_PROCESS] [KILL_TRIALS]
# Builds shm_bench in BUILD_DIR (default build-shm), then: REPS interleaved
# repetitions of {1, 4 processes} x {Boost, sdmm} (the order alternates each
# repetition), medians and spread; then KILL_TRIALS kills of a busy client
# per library, each followed by a fresh client that must finish 1000
# operations within 2 s.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build-shm}
reps=${2:-7}
ops=${3:-1000000}
trials=${4:-40}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$here" -B "$build" -G Ninja -DSDMM_BUILD_TESTS=ON >/dev/null
fi
cmake --build "$build" -j2 --target shm_bench >/dev/null
bench=$build/bench/service/shm_bench
results=$(mktemp)
for ((r = 0; r < reps; r++)); do
  for procs in 1 4; do
    if ((r % 2)); then order="sdmm boost"; else order="boost sdmm"; fi
    for lib in $order; do
      echo "rate $lib $procs $("$bench" rate "$lib" "$procs" "$ops")" >>"$results"
    done
  done
done
for lib in boost sdmm; do
  echo "kill $lib $("$bench" kill "$lib" "$trials")" >>"$results"
done
python3 - "$results" "$reps" "$ops" "$trials" <<'PY'
import statistics, sys
path, reps, ops, trials = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rates, kills = {}, {}
for line in open(path):
    f = line.split()
    if f[0] == "rate":
        rates.setdefault((f[1], int(f[2])), []).append(float(f[3]))
    else:
        kills[f[1]] = list(map(int, f[2:]))
print(f"{reps} interleaved repetitions, {ops} operations per process, 64 MiB heap\n")
print("| processes | library | median ops/s | min | max | sdmm / Boost (medians) |")
print("|---|---|---|---|---|---|")
for procs in (1, 4):
    b = statistics.median(rates[("boost", procs)])
    for lib in ("boost", "sdmm"):
        v = rates[(lib, procs)]
        ratio = f"{statistics.median(v) / b:.2f}x" if lib == "sdmm" else ""
        print(f"| {procs} | {lib} | {statistics.median(v):,.0f} | {min(v):,.0f} | {max(v):,.0f} | {ratio} |")
print(f"\nKill a busy client ({trials} trials each; then a new client must do 1000 operations in 2 s):\n")
print("| library | survived | hung (2 s timeout) | failed | kills that found the lock held |")
print("|---|---|---|---|---|")
for lib in ("boost", "sdmm"):
    s, h, f, held = kills[lib]
    print(f"| {lib} | {s} | {h} | {f} | {held if lib == 'sdmm' else 'not observable'} |")
PY
rm -f "$results"
