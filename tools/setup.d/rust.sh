#!/usr/bin/env bash
# Extras of sdmm-sys (the Rust crate): the clippy and rustfmt components,
# the pinned bindgen CLI for the bindings drift test, and the crates the
# tests need (cargo fetch), so ctest's Rust steps can also run offline.
# Idempotent and quick when everything is there. Anything that cannot be
# installed turns the matching ctest step into a SKIP with the reason.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$HOME/.cargo/bin:$PATH"
bindgen_version=0.72.1   # keep in step with tools/gen-bindings.sh

if ! command -v cargo >/dev/null; then
  echo "setup.d/rust: cargo not found; the rust.* tests will SKIP (install Rust with rustup)"
  exit 0
fi

if command -v rustup >/dev/null; then
  installed=$(rustup component list --installed 2>/dev/null || true)
  for component in clippy rustfmt; do
    if ! grep -q "^$component" <<<"$installed"; then
      echo "setup.d/rust: installing the $component component"
      rustup component add "$component" ||
        echo "setup.d/rust: could not install $component; rust.${component/rustfmt/fmt} will SKIP"
    fi
  done
fi

if [ "$(bindgen --version 2>/dev/null | awk '{print $2}')" != "$bindgen_version" ]; then
  echo "setup.d/rust: installing bindgen-cli $bindgen_version (a few minutes, once)"
  cargo install --quiet --locked bindgen-cli --version "$bindgen_version" ||
    echo "setup.d/rust: could not install bindgen-cli; rust.bindings_drift will SKIP"
fi

cargo fetch --quiet --locked --manifest-path "$root/Cargo.toml"
