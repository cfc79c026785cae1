#!/usr/bin/env bash
# ./run demo: two unrelated processes share typed blocks through one named
# heap in POSIX shared memory (examples/cpp/shared_heap.cpp), and the `sdmm`
# tool shows who owns what. Also run by ctest (example.cpp.shared_heap).
# usage: tools/demo.d/shm.sh BUILD_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
example="$build/shared_heap_example"
name="/sdmm-demo-$$"
trap 'rm -f "/dev/shm${name}"' EXIT
echo "== Shared heap: process 1 creates $name and writes 8 prices; process 2 opens it by name and reads them"
read -r handle writer < <("$example" write "$name")
echo "process 1 (client $writer) left block $handle and exited"
"$example" read "$name" "$handle"
if [ -x "$build/cli/sdmm" ]; then
  echo "== sdmm inspect shm:$name (clients, usage, the owner of each block)"
  "$build/cli/sdmm" inspect "shm:$name" --blocks
fi
echo "== Process 3 reaps the exited writer's blocks"
"$example" reap "$name" "$writer"
