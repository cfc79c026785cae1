#!/usr/bin/env bash
# sdmm inside kernel BPF: ns per typed alloc+free pair next to
# bpf_obj_new/bpf_obj_drop (same run), the verifier's processed instructions
# per program, and the size of the allocator's BPF code.
#   bench/bpf/run.sh [BUILD_DIR] [REPEAT] [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
repeat=${2:-5000}
rounds=${3:-21}
if [ ! -f "$build/build.ninja" ] && [ ! -f "$build/Makefile" ]; then
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSDMM_BUILD_TESTS=ON >/dev/null
fi
cmake --build "$build" --target sdmm_bpf_bench >/dev/null
for variant in sdmm_bpf sdmm_bpf_unlocked; do
echo "== allocator object bpf/$variant.o (core + C boundary + BPF API, all 13 types)"
llvm-size-22 -A "$build/bpf/$variant.o" | awk '$1 == ".text" || $1 == ".rodata" || $1 ~ /^\.data/ {printf "  %-16s %7d bytes\n", $1, $2}'
echo "  per function (bytes of BPF code; 8 bytes per instruction):"
llvm-nm-22 -S --size-sort --radix=d "$build/bpf/$variant.o" |
  awk '$3 ~ /^[Tt]$/ && ($4 ~ /alloc_u64$|free_u64$|_range$|resolve$|resize$|init$|^sdmm_bpf_alloc$|^sdmm_bpf_free$/) {printf "    %-24s %6d\n", $4, $2}'
done
echo
"$build/sdmm_bpf_bench" "$repeat" "$rounds" "$build/bpf/sdmm_bpf_bench_progs.o" \
  "$build/bpf/sdmm_bpf_bench_progs_unlocked.o"
