#!/usr/bin/env bash
# sbf-build.sh -- compile C/C++ (and optionally the sdmm core) into an SBPF v0
# program with upstream clang, the pipeline measured in notes/solana-sbf.md:
#   clang -emit-llvm (each source) -> llvm-link -> opt (internalize all but
#   `entrypoint`) -> llc -> sbpf_relink.py -> OUT.so
# Every flag of those steps is in sbf/flags.sh (and only there).
#
# usage: sbf-build.sh -o OUT.so [-D NAME[=V]]... [-I DIR]... [--core] [--bc EXTRA.bc]... SRC...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$root/sbf/flags.sh"
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
for tool in "${SBF_TOOLS[@]}"; do
  command -v "$tool" >/dev/null || { echo "sbf-build: missing $tool (run tools/setup.sh)" >&2; exit 1; }
done
work="${out%.so}.d"
rm -rf "$work"; mkdir -p "$work"
common=("${SBF_CFLAGS[@]}" "${incs[@]}" "${defs[@]}")
cxx=("$SBF_CXX" "${SBF_CXXFLAGS[@]}" "${common[@]}")
cc=("$SBF_CC" "${SBF_C_STD[@]}" "${common[@]}")
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
  for src in "${SBF_CORE_SOURCES[@]}"; do
    compile "$core_root/${src#"$root/"}" "${SBF_CORE_FLAGS[@]}"
  done
fi
"$SBF_LLVM_LINK" "${bcs[@]}" -o "$work/linked.bc"
"$SBF_OPT" "${SBF_OPT_FLAGS[@]}" "$work/linked.bc" -o "$work/opt.bc"
"$SBF_LLC" "${SBF_LLC_FLAGS[@]}" "$work/opt.bc" -o "$work/program.o"
python3 "$SBF_RELINK" "$work/program.o" "$out"
