#!/usr/bin/env bash
# sbf/flags.sh -- every cross-compile setting of the SBF port, written once.
#
# Sourced by the build scripts (tools/sbpf-relink/sbf-build.sh, sbf-rust.sh),
# which then use the arrays below; run as a command it prints one setting,
# one word per line, for readers that are not bash (CMake, Python):
#
#   bash sbf/flags.sh tools | cflags | cxxflags | c_std | core | opt | llc
#
# Why these values (notes/solana-sbf.md has the experiments):
#   -mcpu=v2            SBPF v0 has no JMP32 (v3/v4 emit opcode 0x16).
#   -ffreestanding, -fno-builtin
#                       no libc on SBF; no loop turned into a memset call.
#   -bpf-stack-size     SBF frames are 4 KiB (upstream BPF assumes 512 B).
#   static relocations  PIC lookup tables become ABS32 relocations that no SBF
#                       address fits in.
#   internalize         only `entrypoint` stays visible, so opt can inline and
#                       drop everything else.
# No system include directory is needed: with -ffreestanding clang's own
# <stdint.h>/<stddef.h> serve, and nothing else is included.

sbf_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# The tools: Debian's clang-22 / llvm-22 (rustc-web's LLVM is 22 too, so its
# bitcode passes through them).
SBF_CC=clang-22
SBF_CXX=clang++-22
SBF_LLVM_LINK=llvm-link-22
SBF_OPT=opt-22
SBF_LLC=llc-22
SBF_LLVM_AR=llvm-ar-22
SBF_LLVM_DIS=llvm-dis-22
SBF_LLVM_AS=llvm-as-22
SBF_TOOLS=("$SBF_CC" "$SBF_CXX" "$SBF_LLVM_LINK" "$SBF_OPT" "$SBF_LLC" "$SBF_LLVM_AR" "$SBF_LLVM_DIS"
           "$SBF_LLVM_AS" python3)
# Every C and C++ translation unit, program or core, to LLVM bitcode.
SBF_CFLAGS=(-target bpf -mcpu=v2 -O2 -ffreestanding -fno-builtin -fno-stack-protector
            -mllvm -bpf-stack-size=4096 -Wall -Wextra -Werror -emit-llvm
            -I"$sbf_root/ffi" -I"$sbf_root/sbf")
SBF_C_STD=(-std=c11)
SBF_CXXFLAGS=(-std=c++20 -fno-exceptions -fno-rtti -fno-strict-aliasing)
# The core (cpp/core/heap.cpp, ffi/sdmm.cpp) gets the SBF platform hooks.
SBF_CORE_FLAGS=(-include "$sbf_root/sbf/sdmm_sbf_platform.h")
SBF_CORE_SOURCES=("$sbf_root/cpp/core/heap.cpp" "$sbf_root/ffi/sdmm.cpp")
# Whole-program optimisation of the linked bitcode.
SBF_OPT_FLAGS=(--relocation-model=static '-passes=internalize,default<O2>'
               -internalize-public-api-list=entrypoint)
# Lowering to an upstream BPF object, which sbpf_relink.py turns into SBPF v0.
SBF_LLC_FLAGS=(--relocation-model=static -march=bpfel -mcpu=v2 -bpf-stack-size=4096 -O2 -filetype=obj)
SBF_RELINK="$sbf_root/tools/sbpf-relink/sbpf_relink.py"

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  case "${1:-}" in
    tools) printf '%s\n' "${SBF_TOOLS[@]}" ;;
    cflags) printf '%s\n' "${SBF_CFLAGS[@]}" ;;
    c_std) printf '%s\n' "${SBF_C_STD[@]}" ;;
    cxxflags) printf '%s\n' "${SBF_CXXFLAGS[@]}" ;;
    core) printf '%s\n' "${SBF_CORE_FLAGS[@]}" ;;
    opt) printf '%s\n' "${SBF_OPT_FLAGS[@]}" ;;
    llc) printf '%s\n' "${SBF_LLC_FLAGS[@]}" ;;
    *) echo "usage: $0 tools|cflags|c_std|cxxflags|core|opt|llc" >&2; exit 2 ;;
  esac
fi
