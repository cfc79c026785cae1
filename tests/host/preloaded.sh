#!/usr/bin/env bash
# preloaded.sh LIB PROGRAM ARGS...: runs PROGRAM with LIB preloaded and
# fails unless it exits 0 AND LIB really served it (its statistics line).
set -uo pipefail
lib=$1; shift
err=$(mktemp); trap 'rm -f "$err"' EXIT
SDMM_MALLOC_STATS=1 LD_PRELOAD="$lib" "$@" 2>"$err"
status=$?
cat "$err" >&2
[ "$status" = 0 ] || { echo "FAIL: exit status $status"; exit 1; }
grep -q '^sdmm stats: mallocs=[1-9]' "$err" || { echo "FAIL: $lib did not serve the program (no statistics line)"; exit 1; }
echo "ok: $(grep '^sdmm stats' "$err" | tail -1)"
