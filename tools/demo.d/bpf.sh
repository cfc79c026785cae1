#!/usr/bin/env bash
# ./run demo: sdmm inside a kernel BPF program (examples/bpf/records.bpf.c),
# then a short timing of alloc+free pairs in BPF next to bpf_obj_new/drop.
# Skips with a message where bpf() is not permitted.
set -uo pipefail
build=${1:-build}
echo "== kernel eBPF: per-sender record table of typed sdmm allocations (XDP)"
if [ ! -x "$build/sdmm_bpf_records" ]; then
  echo "skipped: the BPF targets were not built (clang-22, bpftool or libbpf-dev missing?)"
  exit 0
fi
"$build/sdmm_bpf_records" "$build/bpf/sdmm_bpf_records_prog.o"
status=$?
if [ $status = 77 ]; then
  echo "skipped: this process may not load BPF programs (needs root or CAP_BPF + CAP_PERFMON + CAP_NET_ADMIN)"
  exit 0
fi
[ $status = 0 ] || exit $status
echo "== kernel eBPF: alloc+free pairs (short run; bench/bpf/run.sh for the full one)"
"$build/sdmm_bpf_bench" 500 5 "$build/bpf/sdmm_bpf_bench_progs.o" "$build/bpf/sdmm_bpf_bench_progs_unlocked.o" |
  sed -n '/rounds x/,$p'
