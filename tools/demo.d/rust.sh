#!/usr/bin/env bash
# Demo of sdmm-sys: the README's Rust quickstart, linked against the core
# the CMake build in BUILD_DIR compiled.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null; then
  echo "== Rust quickstart: skipped (cargo not found)"
  exit 0
fi
echo "== Rust quickstart (examples/rust/quickstart.rs)"
cd "$root"
SDMM_LIB_DIR="$build/rust-lib" CARGO_TARGET_DIR="$build/cargo-target" \
  cargo run --quiet --locked --release --example quickstart
