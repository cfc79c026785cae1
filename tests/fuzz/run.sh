#!/usr/bin/env bash
# Runs one fuzz target: replays its regression inputs, then fuzzes for a
# bounded time over its committed corpus and freshly generated seeds.
#
#   tests/fuzz/run.sh TARGET [SECONDS]   TARGET: ops | attach | overflow (default 25 s)
#   tests/fuzz/run.sh TARGET merge       fold what fuzzing found into the
#                                        committed corpus (libFuzzer -merge=1)
#
# Exit status: 0 only if every regression input passes and fuzzing found
# nothing; a finding is saved under $SDMM_FUZZ_WORK/TARGET/artifacts/.
# ctest (fuzz.*) sets SDMM_FUZZ_BIN and SDMM_FUZZ_WORK; by hand they default
# to the build directory ${SDMM_BUILD_DIR:-build} (build it first, e.g.
# cmake --build build --target sdmm_fuzzers).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
target=${1:?usage: run.sh ops|attach|overflow [SECONDS|merge]}
arg=${2:-25}
build=${SDMM_BUILD_DIR:-$here/../../build}
bin_dir=${SDMM_FUZZ_BIN:-$build/tests/fuzz/clang}
work=${SDMM_FUZZ_WORK:-$build/tests/fuzz/work}/$target
fuzzer=$bin_dir/fuzz_$target
corpus=$here/corpus/$target
regressions=$here/regressions/$target
case $target in
  attach) max_len=70000 ;;
  ops | overflow) max_len=8192 ;;
  *) echo "run.sh: unknown target $target" >&2; exit 2 ;;
esac
[ -x "$fuzzer" ] || { echo "run.sh: $fuzzer not built" >&2; exit 1; }
mkdir -p "$work/corpus" "$work/artifacts" "$corpus"
rm -rf "$work/seeds"; mkdir -p "$work/seeds"
"$bin_dir/gen_corpus" "$target" "$work/seeds"

# libFuzzer exits 77 on a finding by default: make it 1 so no ctest SKIP_RETURN_CODE can mistake it.
common=(-error_exitcode=1 -timeout_exitcode=1 -timeout=10 -rss_limit_mb=2048 -max_len=$max_len)

if [ "$arg" = merge ]; then
  rm -rf "$work/merged"; mkdir -p "$work/merged"
  "$fuzzer" "${common[@]}" -merge=1 "$work/merged" "$corpus" "$work/corpus" "$work/seeds"
  rm -f "$corpus"/*
  cp "$work/merged"/* "$corpus"/
  echo "run.sh: $corpus now holds $(find "$corpus" -type f | wc -l) inputs"
  exit 0
fi

status=0
# 1. Every regression input, each on its own so all failures are listed.
failed=()
shopt -s nullglob
inputs=("$regressions"/*)
for input in "${inputs[@]}"; do
  if ! "$fuzzer" "${common[@]}" "$input" >"$work/regression.log" 2>&1; then
    failed+=("$(basename "$input")")
    grep -m3 -E "ERROR: AddressSanitizer|runtime error|FUZZ CHECK FAILED|ERROR: libFuzzer" "$work/regression.log" |
      sed "s|^|  $(basename "$input"): |" || true
  fi
done
total=${#inputs[@]}
if ((${#failed[@]})); then
  echo "fuzz_$target: ${#failed[@]} of $total regression inputs FAIL: ${failed[*]}"
  status=1
else
  echo "fuzz_$target: $total regression inputs pass"
fi

# 2. Fuzz for a bounded time (and a bounded number of runs): new inputs go to
# the work corpus, the committed corpus and the seeds are only read.
seconds=$arg
echo "fuzz_$target: fuzzing for ${seconds}s over $(find "$corpus" -type f | wc -l) committed inputs and $(find "$work/seeds" -type f | wc -l) seeds"
if ! "$fuzzer" "${common[@]}" -max_total_time="$seconds" -runs=20000000 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" "$corpus" "$work/seeds" >"$work/fuzz.log" 2>&1; then
  echo "fuzz_$target: FINDING (input saved under $work/artifacts/):"
  grep -E -A12 "ERROR: AddressSanitizer|runtime error|FUZZ CHECK FAILED|ERROR: libFuzzer" "$work/fuzz.log" | head -40
  status=1
else
  grep -E "^stat::number_of_executed_units|^Done" "$work/fuzz.log" || true
fi
exit $status
