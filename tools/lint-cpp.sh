#!/usr/bin/env bash
# clang-format (no diff allowed) and clang-tidy (warnings are errors) over the
# C and C++ sources. Usage: tools/lint-cpp.sh BUILD_DIR (with compile_commands.json)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?build dir}
cd "$here"
# clang-format: every C and C++ file of the project, whatever it is built
# for (host, kernel BPF, SBF); clang-tidy below: the host-built core and tools
# (host/ and service/ have their own tidy runs, host.lint and lint.service).
mapfile -t sources < <(git ls-files '*.c' '*.h' '*.cpp' '*.hpp' 2>/dev/null || true)
if [ ${#sources[@]} = 0 ]; then  # not a git checkout: fall back to find
  mapfile -t sources < <(find cpp ffi tests examples bench cli bpf sbf host service \
    \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.hpp' \) 2>/dev/null)
fi
clang-format-22 --dry-run --Werror "${sources[@]}"
echo "clang-format: ${#sources[@]} files clean"
tidy=(cpp/core/heap.cpp ffi/sdmm.cpp cpp/api/memory_resource.cpp cli/main.cpp cli/source.cpp examples/cpp/shared_heap.cpp)
clang-tidy-22 -p "$build" --quiet "${tidy[@]}" 2>&1 |
  grep -v -E '^[0-9]+ warnings? generated' || true
# Re-run for the exit status (grep above only filtered the noise).
clang-tidy-22 -p "$build" --quiet "${tidy[@]}" >/dev/null 2>&1
echo "clang-tidy: clean"
