#!/usr/bin/env bash
# clang-format (no diff) and clang-tidy (warnings are errors) over the
# shared-heap service: service/, its header, its C++ wrapper, tests and bench.
# Usage: tests/service/lint-service.sh BUILD_DIR (with compile_commands.json)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?build dir}
cd "$here"
sources=(service/*.cpp ffi/sdmm_shared.h ffi/sdmm_shared_layout.h tests/service/*.cpp bench/service/*.cpp)
[ -e cpp/include/sdmm/shared.hpp ] && sources+=(cpp/include/sdmm/shared.hpp)
clang-format-22 --dry-run --Werror "${sources[@]}"
echo "clang-format: ${#sources[@]} files clean"
tidy=(service/shared.cpp tests/service/test_shared.cpp)
[ -e bench/service/shm_bench.cpp ] && grep -q shm_bench.cpp "$build/compile_commands.json" && tidy+=(bench/service/shm_bench.cpp)
if out=$(clang-tidy-22 -p "$build" --quiet "${tidy[@]}" 2>&1); then
  echo "clang-tidy: clean"
else
  grep -v -E '^[0-9]+ warnings? generated' <<<"$out" >&2
  exit 1
fi
