#!/usr/bin/env bash
# lint.sh SOURCE_DIR BUILD_DIR: clang-format (no diff) and clang-tidy (no
# warning) over host/ and tests/host/, which tools/lint-cpp.sh does not list.
set -euo pipefail
src=$1 build=$2
for tool in clang-format-22 clang-tidy-22; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool missing (tools/setup.sh installs it)"; exit 77; }
done
cd "$src"
clang-format-22 --dry-run --Werror host/*.cpp host/*.c tests/host/*.cpp tests/host/*.c
echo "clang-format: host/ and tests/host/ clean"
clang-tidy-22 -p "$build" --quiet host/runtime.cpp tests/host/test_host.cpp tests/host/stress.cpp
echo "clang-tidy: clean"
