#!/usr/bin/env bash
# One Rust step of ctest (cmake/sdmm_rust.cmake), run from the repository
# root with SDMM_LIB_DIR and CARGO_TARGET_DIR set by CMake. Exit 77 = SKIP,
# with the reason printed.
set -euo pipefail
step=$1
shift

skip() { echo "SKIP: $*"; exit 77; }
command -v cargo >/dev/null || skip "cargo not found (install Rust with rustup)"

case "$step" in
  cargo_test)
    cargo test --locked
    ;;
  clippy)
    cargo clippy --version >/dev/null 2>&1 || skip "clippy component missing (rustup component add clippy)"
    cargo clippy --locked --all-targets -- -D warnings
    # The no_std path (what a Solana program builds) must stay clean too.
    cargo clippy --locked --lib --no-default-features -- -D warnings
    cargo clippy --locked --lib --no-default-features --features alloc -- -D warnings
    # The API docs build without a warning (broken intra-doc links, ...).
    RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --quiet
    ;;
  fmt)
    cargo fmt --version >/dev/null 2>&1 || skip "rustfmt component missing (rustup component add rustfmt)"
    cargo fmt --check
    ;;
  bindings_drift)
    bash tools/gen-bindings.sh --check
    ;;
  package_consumer)
    bash rust/tests/package_consumer.sh "$1"
    ;;
  *)
    echo "unknown step $step" >&2
    exit 2
    ;;
esac
