#!/usr/bin/env bash
# ./run demo: the drop-in malloc (host/) under real programs, and one of the
# mistakes it catches.
# usage: tools/demo.d/host.sh BUILD_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
so="$build/host/libsdmm-malloc.so"
echo "== Drop-in malloc: python3 under LD_PRELOAD=build/host/libsdmm-malloc.so"
LD_PRELOAD="$so" SDMM_MALLOC_STATS=1 /usr/bin/python3 -c 'd = {i: str(i) * 3 for i in range(200000)}; print("python3 built a dict of", len(d), "strings")'
echo "== Drop-in malloc: a double free is caught (the process aborts with one line)"
line=$( (LD_PRELOAD="$so" "$build/tests/host/host_mistakes" double_free >/dev/null) 2>&1 | grep '^sdmm:' || true)
echo "${line:-(no message: the mistake went undetected)}"
[ -n "$line" ]
