#!/usr/bin/env bash
# Compiles the allocator core and the C boundary for the BPF target with
# upstream clang and fails on anything a BPF (or SBF) object cannot have:
# a compile error or warning (including "A call to built-in function ... is
# not supported"), an undefined symbol (a library call, a float helper such as
# __adddf3), a writable global (.data/.bss: SBF has no mutable globals).
# Prints the .text size of the core.
set -euo pipefail
out=${1:-build/bpf-core}
here=$(cd "$(dirname "$0")/.." && pwd)
clangxx=${CLANGXX:-clang++-22}
command -v "$clangxx" >/dev/null || { echo "missing $clangxx (run tools/setup.sh)"; exit 1; }
mkdir -p "$out"
# The flags of every BPF build, from their one place.
mapfile -t flags < <(sh "$here/bpf/flags.sh" c++)
for src in cpp/core/heap.cpp ffi/sdmm.cpp; do
  "$clangxx" "${flags[@]}" -c "$here/$src" -o "$out/$(basename "$src" .cpp).o"
done
status=0
# A symbol one object uses and the other defines is fine (they link together).
defined=$(llvm-nm-22 --defined-only "$out"/*.o | awk 'NF==3 {print $3}' | sort -u)
undefined=$(llvm-nm-22 --undefined-only "$out"/*.o | awk '$1=="U" {print $2}' | sort -u | comm -23 - <(echo "$defined"))
if [ -n "$undefined" ]; then echo "FAIL the core calls outside itself:"; echo "$undefined"; status=1; fi
for obj in "$out"/*.o; do
  if llvm-objdump-22 -h "$obj" | grep -Eq ' \.(data|bss)'; then
    echo "FAIL $obj has writable globals:"; llvm-objdump-22 -h "$obj" | grep -E ' \.(data|bss)'; status=1
  fi
done
text=0
for obj in "$out"/*.o; do
  t=$(llvm-size-22 -A "$obj" | awk '$1 ~ /^\.text/ {s += $2} END {print s+0}')
  text=$((text + t))
done
echo "BPF .text of core + C boundary: $text bytes"
[ $status = 0 ] && echo "bpf core: ok"
exit $status
