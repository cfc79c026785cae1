#!/usr/bin/env bash
# sbf-rust.sh -- build a no_std Rust staticlib crate (bpfel-unknown-none,
# Debian's rustc-web + -Zbuild-std=core,alloc) into an SBPF v0 program, with
# the sdmm core compiled by clang and linked in at the LLVM bitcode level.
#
# The bpfel target emits bitcode, so no linker runs: the archive's members
# are llvm-link'ed with the core, optimised with everything but `entrypoint`
# internalised, and lowered with llc, then relinked by sbpf_relink.py.
# What upstream BPF cannot lower from rustc's IR (sret returns, run-time
# length memcpy/memset, 64-bit overflow multiplies) is rewritten by
# bpf_ir_fixups.py into equivalents it can (shims over the Solana syscalls in
# sbf/sbf_mem_shims.c, plain arithmetic). Compiler flags: sbf/flags.sh.
#
# usage: sbf-rust.sh CRATE_DIR OUT.so TARGET_DIR [CARGO_FEATURES]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$root/sbf/flags.sh"
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
"$SBF_LLVM_AR" rc "$work/empty/libsdmm.a"
name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$crate/Cargo.toml" | head -1 | tr - _)
(cd "$crate" && RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 SDMM_LIB_DIR="$work/empty" CARGO_TARGET_DIR="$target_dir" \
  "$cargo" build --release --target bpfel-unknown-none -Zbuild-std=core,alloc --quiet ${features:+--features "$features"})
lib="$target_dir/bpfel-unknown-none/release/lib$name.a"
(cd "$work/ar" && "$SBF_LLVM_AR" x "$lib")

# The core and the shims as bitcode (the flags of the C++ programs).
for src in "${SBF_CORE_SOURCES[@]}"; do
  "$SBF_CXX" "${SBF_CXXFLAGS[@]}" "${SBF_CFLAGS[@]}" "${SBF_CORE_FLAGS[@]}" -c "$src" -o "$work/$(basename "$src").bc"
done
"$SBF_CC" "${SBF_C_STD[@]}" "${SBF_CFLAGS[@]}" -c "$root/sbf/sbf_mem_shims.c" -o "$work/shims.bc"

# The crate's own module first; core/alloc/compiler_builtins only for what it uses.
mapfile -t members < <(ls "$work"/ar/*.o 2>/dev/null || true)
own=() ; deps=()
for m in "${members[@]}"; do
  case "$(basename "$m")" in "$name"-*) own+=("$m") ;; *) deps+=("$m") ;; esac
done
"$SBF_LLVM_LINK" "${own[@]}" "$work/heap.cpp.bc" "$work/sdmm.cpp.bc" -o "$work/own.bc"
# --only-needed takes from each member what is needed so far; a member may need
# one listed before it, so repeat the list until nothing new comes in.
cp "$work/own.bc" "$work/linked.bc"
for pass in 1 2 3 4 5 6; do
  "$SBF_LLVM_LINK" "$work/linked.bc" --only-needed "${deps[@]}" -o "$work/next.bc"
  if cmp -s "$work/next.bc" "$work/linked.bc"; then break; fi
  mv "$work/next.bc" "$work/linked.bc"
done
"$SBF_OPT" "${SBF_OPT_FLAGS[@]}" "$work/linked.bc" -o "$work/opt.bc"
# What the BPF backend cannot lower, rewritten (bpf_ir_fixups.py), before and
# after the last optimisation (which may form new memcpy idioms from loops).
"$SBF_LLVM_DIS" "$work/opt.bc" -o "$work/opt.ll"
python3 "$here/bpf_ir_fixups.py" "$work/opt.ll" "$work/fixed.ll"
"$SBF_LLVM_AS" "$work/fixed.ll" -o "$work/fixed.bc"
"$SBF_LLVM_LINK" "$work/fixed.bc" "$work/shims.bc" -o "$work/final.bc"
"$SBF_OPT" "${SBF_OPT_FLAGS[@]}" "$work/final.bc" -o "$work/final.opt.bc"
"$SBF_LLVM_DIS" "$work/final.opt.bc" -o "$work/final.ll"
python3 "$here/bpf_ir_fixups.py" "$work/final.ll" "$work/final.fixed.ll"
"$SBF_LLC" "${SBF_LLC_FLAGS[@]}" "$work/final.fixed.ll" -o "$work/program.o"
python3 "$SBF_RELINK" "$work/program.o" "$out"
