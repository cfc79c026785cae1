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
    # Every feature (allocator-api2 included): its tests and doc tests.
    cargo test --locked --all-features
    ;;
  clippy)
    cargo clippy --version >/dev/null 2>&1 || skip "clippy component missing (rustup component add clippy)"
    cargo clippy --locked --all-targets -- -D warnings
    cargo clippy --locked --all-targets --all-features -- -D warnings
    # The no_std path (what a Solana program builds) must stay clean too,
    # with and without the allocator-api2 impl.
    cargo clippy --locked --lib --no-default-features -- -D warnings
    cargo clippy --locked --lib --no-default-features --features alloc -- -D warnings
    cargo clippy --locked --lib --no-default-features --features allocator-api2 -- -D warnings
    # The API docs build without a warning (broken intra-doc links, ...),
    # as users build them and as docs.rs does (all features).
    RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --quiet
    RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --quiet --all-features
    ;;
  fmt)
    cargo fmt --version >/dev/null 2>&1 || skip "rustfmt component missing (rustup component add rustfmt)"
    cargo fmt --check
    # The other crates of the repository: the Solana Rust demo, the benchmarks.
    cargo fmt --check --manifest-path examples/solana/rust-heap-demo/Cargo.toml
    cargo fmt --check --manifest-path bench/rust/Cargo.toml
    ;;
  bindings_drift)
    bash tools/gen-bindings.sh --check
    ;;
  publish_dry_run)
    # What `cargo publish` would do, short of uploading: package, check the
    # manifest, build the packaged sources alone (the cc path, as a user's
    # build does). Cargo warns that the test and bench targets are dropped
    # (their files stay in the repository on purpose); any other warning
    # fails the step. Needs the crates.io index: without a network, the
    # offline `cargo package` (same packaging and build) stands in.
    unset SDMM_LIB_DIR
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
    if ! cargo publish --locked --dry-run --allow-dirty 2>&1 | tee "$log"; then
      if grep -q -E 'failed to (update|get|download|query)|HTTP request|network|resolve host' "$log"; then
        echo "(no network for the crates.io index; verifying with an offline cargo package)"
        cargo package --locked --allow-dirty --offline 2>&1 | tee "$log"
      else
        exit 1
      fi
    fi
    if grep '^warning:' "$log" | grep -v -E '^warning: (ignoring (test|benchmark) `[^`]*` as `rust/(tests|benches)/[^`]*` is not included in the published package|aborting upload due to dry run)$'; then
      echo "FAIL: unexpected warnings from cargo publish --dry-run (above)"
      exit 1
    fi
    ;;
  package_consumer)
    bash rust/tests/package_consumer.sh "$1"
    ;;
  *)
    echo "unknown step $step" >&2
    exit 2
    ;;
esac
