#!/usr/bin/env bash
# death.sh LIB MISTAKES: every mistake of mistakes.c, run with LIB preloaded,
# must end in SIGABRT with exactly one "sdmm: FN(ADDR): MISTAKE" line on
# stderr naming the address the program printed. `clean` must exit 0.
set -uo pipefail
lib=$1 prog=$2
failed=0
expect() {  # mode, function, regex of the mistake
  local mode=$1 fn=$2 what=$3 out err status addr lines
  out=$(LD_PRELOAD="$lib" "$prog" "$mode" 2>/tmp/sdmm-death-$$.err); status=$?
  err=$(cat /tmp/sdmm-death-$$.err); rm -f /tmp/sdmm-death-$$.err
  addr=$(sed -n 's/^ptr=//p' <<<"$out")
  lines=$(grep -c '^sdmm: ' <<<"$err")
  if [ "$status" != 134 ] || [ "$lines" != 1 ] || [ -z "$addr" ] ||
     ! grep -Eq "^sdmm: $fn\\($addr\\): $what" <<<"$err"; then
    echo "FAIL $mode: status $status, stdout [$out], stderr [$err], wanted 'sdmm: $fn($addr): $what'"
    failed=1
  else
    echo "ok   $mode: $(grep '^sdmm: ' <<<"$err")"
  fi
}
expect double_free free 'double free'
expect double_free_big free 'double free'
expect double_free_large free 'double free'
expect foreign_stack free 'invalid pointer: not allocated by sdmm \(foreign pointer\)'
expect foreign_static free 'invalid pointer: not allocated by sdmm \(foreign pointer\)'
expect interior free 'invalid pointer: .*interior pointer'
expect interior_large free 'invalid pointer: .*interior pointer'
expect realloc_freed realloc 'double free'
expect typed_block free 'block of another sdmm heap'
expect user_heap_block free 'invalid pointer: .*interior pointer'
expect cross_thread_double_free free 'double free'
out=$(LD_PRELOAD="$lib" "$prog" clean 2>&1); status=$?
if [ "$status" != 0 ] || [ "$out" != clean ]; then echo "FAIL clean: status $status [$out]"; failed=1; else echo "ok   clean: exit 0"; fi
exit $failed
