#!/usr/bin/env bash
# Groups crash inputs by crash site: replays each and prints one line
#   <site> <tab> <input>
# where <site> is the first frame inside the core (cpp/core, ffi) with the
# kind of fault, the sanitizer's runtime error location, or the harness check
# that failed. `sort | awk` over the output gives one input per site.
#
#   tests/fuzz/triage.sh TARGET INPUT...
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
target=${1:?usage: triage.sh ops|attach|overflow INPUT...}
shift
build=${SDMM_BUILD_DIR:-$here/../../build}
fuzzer=${SDMM_FUZZ_BIN:-$build/tests/fuzz/clang}/fuzz_$target
# The first stack frame inside the core that is not a raw accessor (word(),
# map_word(), ...: they are where every access happens, not why).
core_frame() {
  grep -E "^ +#[0-9]+ .* in .*(cpp/core/|/ffi/)" <<<"$log" |
    sed -E 's/.* in (sdmm::core::)?(\(anonymous namespace\)::)?([A-Za-z_0-9]+)[^/]*\/.*\/(cpp\/core\/[^:]+|ffi\/[^:]+)(:[0-9]+)?.*/\3 \4\5/' |
    grep -v -E "^(word|map_word|bytes_at|block_size|is_used|is_block_start|toggle_block_start|control|base_of) " |
    awk 'NR == 1 { site = $0 } NR == 2 { site = site " <- " $1 } END { print site }'
}
for input in "$@"; do
  log=$(UBSAN_OPTIONS=print_stacktrace=1 "$fuzzer" -error_exitcode=1 -timeout=10 "$input" 2>&1)
  if [ $? = 0 ]; then
    site="passes"
  elif grep -q "FUZZ CHECK FAILED" <<<"$log"; then
    site="check $(grep -m1 -A1 'FUZZ CHECK FAILED' <<<"$log" | tail -1 | sed -E 's/^ +//; s/(0x)?[0-9a-f]{6,}/N/g; s/[0-9]+/N/g' | cut -c1-70)"
  elif grep -q "runtime error:" <<<"$log"; then
    what=$(grep -m1 'runtime error:' <<<"$log" | sed -E 's/.*runtime error: //; s/ address 0x[0-9a-f]+//; s/ for type.*//; s/0x[0-9a-f]+/N/g; s/[0-9]+/N/g' | cut -c1-50)
    site="ubsan $(core_frame) $what"
  elif grep -q "ERROR: AddressSanitizer\|ERROR: libFuzzer" <<<"$log"; then
    kind=$(grep -m1 -oE "AddressSanitizer: [a-zA-Z-]+|libFuzzer: [a-z -]+" <<<"$log")
    access=$(grep -m1 -oE "(READ|WRITE) (of size [0-9]+|memory access)" <<<"$log")
    site="asan $(core_frame) ${kind#AddressSanitizer: } ${access}"
  else
    site="other $(tail -1 <<<"$log" | cut -c1-60)"
  fi
  printf '%s\t%s\n' "$site" "$input"
done
