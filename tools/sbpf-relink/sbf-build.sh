#!/usr/bin/env bash
# sbf-build.sh -- compile C/C++ (and optionally the sdmm core) into an SBPF v0
# program with upstream clang, the pipeline measured in notes/solana-sbf.md:
#   clang -target bpf -mcpu=v2 -emit-llvm  (each source)  ->  llvm-link
#   -> opt (internalize all but `entrypoint`, O2, static relocation model)
#   -> llc -march=bpfel -mcpu=v2  ->  sbpf_relink.py  ->  OUT.so
# v2, not v3/v4: SBPF v0 has no JMP32 (opcode 0x16). Static relocation model:
# PIC lookup tables produce ABS32 relocations no SBF address fits in.
#
# usage: sbf-build.sh -o OUT.so [-D NAME[=V]]... [-I DIR]... [--core] [--bc EXTRA.bc]... SRC...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="" ; defs=() ; incs=() ; srcs=() ; bcs=() ; core=0
while (($#)); do
  case "$1" in
    -o) out=$2; shift 2 ;;
    -D) defs+=("-D$2"); shift 2 ;;
    -D*) defs+=("$1"); shift ;;
    -I) incs+=("-I$2"); shift 2 ;;
    --core) core=1; shift ;;
    --bc) bcs+=("$2"); shift 2 ;;
    *) srcs+=("$1"); shift ;;
  esac
done
[ -n "$out" ] || { echo "sbf-build: -o OUT.so is required" >&2; exit 2; }
for tool in clang-22 clang++-22 llvm-link-22 opt-22 llc-22 python3; do
  command -v "$tool" >/dev/null || { echo "sbf-build: missing $tool (run tools/setup.sh)" >&2; exit 1; }
done
work="${out%.so}.d"
rm -rf "$work"; mkdir -p "$work"
common=(-target bpf -mcpu=v2 -O2 -ffreestanding -fno-builtin -fno-stack-protector -mllvm -bpf-stack-size=4096
        -Wall -Wextra -Werror -emit-llvm -I"$root/ffi" -I"$root/examples/solana/include"
        -I/usr/include/x86_64-linux-gnu "${incs[@]}" "${defs[@]}")
cxx=(clang++-22 -std=c++20 -fno-exceptions -fno-rtti -fno-strict-aliasing "${common[@]}")
cc=(clang-22 -std=c11 "${common[@]}")
n=0
compile() {  # compile SRC [extra flags...]
  local src=$1; shift
  n=$((n + 1))
  local bc="$work/$n-$(basename "$src").bc"
  case "$src" in
    *.c) "${cc[@]}" "$@" -c "$src" -o "$bc" ;;
    *) "${cxx[@]}" "$@" -c "$src" -o "$bc" ;;
  esac
  bcs+=("$bc")
}
for src in "${srcs[@]}"; do compile "$src"; done
# SDMM_SBF_CORE_DIR: a copy of the repository's cpp/ and ffi/ to build the core
# from instead (bench/solana/variants.sh measures modified cores that way).
core_root=${SDMM_SBF_CORE_DIR:-$root}
if ((core)); then
  for src in "$core_root/cpp/core/heap.cpp" "$core_root/ffi/sdmm.cpp"; do
    compile "$src" -include "$root/examples/solana/include/sdmm_sbf_platform.h"
  done
fi
llvm-link-22 "${bcs[@]}" -o "$work/linked.bc"
opt-22 --relocation-model=static -passes='internalize,default<O2>' -internalize-public-api-list=entrypoint \
  "$work/linked.bc" -o "$work/opt.bc"
llc-22 --relocation-model=static -march=bpfel -mcpu=v2 -bpf-stack-size=4096 -O2 -filetype=obj \
  "$work/opt.bc" -o "$work/program.o"
python3 "$here/sbpf_relink.py" "$work/program.o" "$out"
