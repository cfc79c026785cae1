#!/bin/sh
# The one place the kernel BPF compile settings are written. Prints the
# clang flags, one per line, for a BPF object of the given language:
#
#   bpf/flags.sh c      a BPF program in C that uses sdmm (sdmm_bpf.h)
#   bpf/flags.sh c++    the allocator core compiled for BPF (bpf/sdmm_bpf.cpp,
#                       tools/check-bpf-core.sh)
#
# Read by cmake/sdmm_bpf.cmake (execute_process) and by the shell tools
# (`mapfile -t flags < <(sh bpf/flags.sh c++)`), so a flag changed here changes
# everywhere. The kernel's UAPI headers (asm/types.h) live in the host's
# multiarch include directory, asked of the host toolchain (gcc/cc
# -print-multiarch, else dpkg-architecture), never spelled out.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
lang=${1:-c}
case "$lang" in
  c | c++) ;;
  *) echo "bpf/flags.sh: unknown language '$lang' (c or c++)" >&2; exit 2 ;;
esac

multiarch=""
for cc in "${CC:-}" gcc cc; do
  [ -n "$cc" ] || continue
  command -v "$cc" >/dev/null 2>&1 || continue
  multiarch=$("$cc" -print-multiarch 2>/dev/null || true)
  [ -n "$multiarch" ] && break
done
if [ -z "$multiarch" ] && command -v dpkg-architecture >/dev/null 2>&1; then
  multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || true)
fi

# -mcpu=v3: 32-bit jumps and ALU, atomics (kernel >= 5.12). -ffreestanding: no
# libc headers (the BPF target has none) and no loop turned into a memset call.
printf '%s\n' -target bpf -mcpu=v3 -O2 -g -ffreestanding -Wall -Wextra -Werror
printf '%s\n' "-I$here/bpf" "-I$here/ffi"
if [ -n "$multiarch" ] && [ -d "/usr/include/$multiarch" ]; then
  printf '%s\n' "-I/usr/include/$multiarch"
fi
if [ "$lang" = c ]; then
  printf '%s\n' -Wno-unused-parameter
else
  printf '%s\n' -std=c++20 -fno-builtin -fno-exceptions -fno-rtti -fno-strict-aliasing
fi
