#!/usr/bin/env bash
# sbf-rust.sh -- build a no_std Rust staticlib crate (bpfel-unknown-none,
# Debian's rustc-web + -Zbuild-std=core,alloc) into an SBPF v0 program, with
# the sdmm core compiled by clang and linked in at the LLVM bitcode level.
#
# The bpfel target emits bitcode, so no linker runs: the archive's members
# are llvm-link'ed with the core, optimised with everything but `entrypoint`
# internalised, and lowered with llc -mcpu=v2, then relinked by sbpf_relink.py.
# What upstream BPF cannot lower from rustc's IR (sret returns, run-time
# length memcpy/memset, 64-bit overflow multiplies) is rewritten by
# bpf_ir_fixups.py into equivalents it can (shims over the Solana syscalls in
# sbf_mem_shims.c, plain arithmetic).
#
# usage: sbf-rust.sh CRATE_DIR OUT.so TARGET_DIR [CARGO_FEATURES]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
crate=$(cd "$1" && pwd)
out=$2
target_dir=$3
features=${4:-}
cargo=${SDMM_SBF_CARGO:-/usr/bin/cargo}
[ -x "$cargo" ] || { echo "sbf-rust: $cargo missing (tools/setup.d/solana.sh installs cargo-web)" >&2; exit 1; }
work="${out%.so}.d"
rm -rf "$work"; mkdir -p "$work/empty" "$work/ar"

# sdmm-sys's build script would compile the core for the host-less bpfel
# target with cc; hand it an empty archive instead (SDMM_LIB_DIR) -- the core
# comes in below as bitcode, built with the SBF platform hooks.
llvm-ar-22 rc "$work/empty/libsdmm.a"
name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$crate/Cargo.toml" | head -1 | tr - _)
(cd "$crate" && RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 SDMM_LIB_DIR="$work/empty" CARGO_TARGET_DIR="$target_dir" \
  "$cargo" build --release --target bpfel-unknown-none -Zbuild-std=core,alloc --quiet ${features:+--features "$features"})
lib="$target_dir/bpfel-unknown-none/release/lib$name.a"
(cd "$work/ar" && llvm-ar-22 x "$lib")

# The core and the shims as bitcode (same flags as the C++ programs).
flags=(-target bpf -mcpu=v2 -O2 -ffreestanding -fno-builtin -fno-stack-protector -Wall -Wextra -Werror
       -emit-llvm -I"$root/ffi" -I"$root/examples/solana/include" -I/usr/include/x86_64-linux-gnu)
for src in "$root/cpp/core/heap.cpp" "$root/ffi/sdmm.cpp"; do
  clang++-22 -std=c++20 -fno-exceptions -fno-rtti -fno-strict-aliasing "${flags[@]}" \
    -include "$root/examples/solana/include/sdmm_sbf_platform.h" -c "$src" -o "$work/$(basename "$src").bc"
done
clang-22 -std=c11 "${flags[@]}" -c "$here/sbf_mem_shims.c" -o "$work/shims.bc"

# The crate's own module first; core/alloc/compiler_builtins only for what it uses.
mapfile -t members < <(ls "$work"/ar/*.o 2>/dev/null || true)
own=() ; deps=()
for m in "${members[@]}"; do
  case "$(basename "$m")" in "$name"-*) own+=("$m") ;; *) deps+=("$m") ;; esac
done
llvm-link-22 "${own[@]}" "$work/heap.cpp.bc" "$work/sdmm.cpp.bc" -o "$work/own.bc"
# --only-needed takes from each member what is needed so far; a member may need
# one listed before it, so repeat the list until nothing new comes in.
cp "$work/own.bc" "$work/linked.bc"
for pass in 1 2 3 4 5 6; do
  llvm-link-22 "$work/linked.bc" --only-needed "${deps[@]}" -o "$work/next.bc"
  if cmp -s "$work/next.bc" "$work/linked.bc"; then break; fi
  mv "$work/next.bc" "$work/linked.bc"
done
opt-22 --relocation-model=static -passes='internalize,default<O2>' -internalize-public-api-list=entrypoint \
  "$work/linked.bc" -o "$work/opt.bc"
# What the BPF backend cannot lower, rewritten (bpf_ir_fixups.py), before and
# after the last optimisation (which may form new memcpy idioms from loops).
llvm-dis-22 "$work/opt.bc" -o "$work/opt.ll"
python3 "$here/bpf_ir_fixups.py" "$work/opt.ll" "$work/fixed.ll"
llvm-as-22 "$work/fixed.ll" -o "$work/fixed.bc"
llvm-link-22 "$work/fixed.bc" "$work/shims.bc" -o "$work/final.bc"
opt-22 --relocation-model=static -passes='internalize,default<O2>' -internalize-public-api-list=entrypoint \
  "$work/final.bc" -o "$work/final.opt.bc"
llvm-dis-22 "$work/final.opt.bc" -o "$work/final.ll"
python3 "$here/bpf_ir_fixups.py" "$work/final.ll" "$work/final.fixed.ll"
llc-22 --relocation-model=static -march=bpfel -mcpu=v2 -bpf-stack-size=4096 -O2 -filetype=obj \
  "$work/final.fixed.ll" -o "$work/program.o"
python3 "$here/sbpf_relink.py" "$work/program.o" "$out"
