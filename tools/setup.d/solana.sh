#!/usr/bin/env bash
# Extras of the Solana consumers (the SBF cross tools clang-22/llvm-22 come
# from tools/setup.sh). Idempotent and quick when everything is installed:
#   - tests/solana/node_modules: LiteSVM + @solana/kit from the committed
#     lockfile (`npm ci`), redone only when the lockfile changed;
#   - Debian's rustc-web/cargo-web/rust-web-src (1.96, bookworm-security):
#     the one Rust here with rust-src for -Zbuild-std, which the Rust on-chain
#     program (examples/solana/rust-heap-demo) needs; rustup cannot fetch
#     rust-src for the bpfel target. It installs /usr/bin/rustc and
#     /usr/bin/cargo and leaves any rustup toolchain in ~/.cargo/bin alone.
set -euo pipefail
cd "$(dirname "$0")/../.."

dir=tests/solana
if command -v npm >/dev/null; then
  stamp=$dir/node_modules/.sdmm-package-lock.json
  if [ ! -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
    echo "setup solana: npm ci in $dir"
    # npm (10/11) refuses `npm ci` when the lockfile lacks litesvm's native
    # packages for other platforms (npm/cli#8320), which a lockfile made on
    # one platform does when the registry does not serve them all; `npm install
    # --no-save` then installs the same pinned versions and writes nothing.
    (cd "$dir" && { npm ci --no-audit --no-fund --loglevel=silent ||
      { echo "setup solana: npm ci refused the lockfile; npm install --no-save (same pinned versions)";
        npm install --no-save --no-audit --no-fund --loglevel=error; }; })
    [ -d "$dir/node_modules/litesvm" ] && cp "$dir/package-lock.json" "$stamp"
  fi
else
  echo "setup solana: npm not found; the solana.* LiteSVM tests will SKIP"
fi

# Debian's rustc-web/cargo-web/rust-web-src (the Rust on-chain program) are in
# tools/setup.sh's package list, with everything else from Debian.
