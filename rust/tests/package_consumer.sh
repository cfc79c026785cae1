#!/usr/bin/env bash
# Adoption test: what `cargo add sdmm-sys` users get.
#
# Packages the crate (`cargo package`), unpacks the .crate, creates a fresh
# consumer crate, adds the unpacked package with `cargo add --path`, and
# builds and runs a program using the typed API -- from the published
# contents alone (the C++ core is compiled by the cc crate; SDMM_LIB_DIR is
# unset). The consumer's build script also checks the `links` metadata
# (DEP_SDMM_INCLUDE points at sdmm.h).
#
#   rust/tests/package_consumer.sh WORK_DIR     (run from the repository root)
set -euo pipefail
work=${1:?usage: package_consumer.sh WORK_DIR}
root=$(pwd)
unset SDMM_LIB_DIR
unset CARGO_TARGET_DIR   # the consumer builds cold, in its own target/ under WORK_DIR
export SDMM_WERROR=1   # the cc path must compile the core without a warning
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)

# Try offline first (tools/setup.d/rust.sh fetched everything), then online.
cargo_maybe_offline() {
  cargo "$@" --offline || { echo "(offline attempt failed; retrying online)"; cargo "$@"; }
}

echo "== cargo package"
# --no-verify: the consumer build below is the verification, from the
# unpacked contents; --allow-dirty: the test runs on work trees too.
cargo_maybe_offline package --locked --allow-dirty --no-verify --target-dir "$work/pkg-target"
crate=$(ls "$work"/pkg-target/package/sdmm-sys-*.crate)
listing=$(tar tzf "$crate")
for must in Cargo.toml rust/build.rs rust/src/lib.rs rust/src/ffi.rs cpp/core/heap.cpp \
            cpp/core/platform.hpp cpp/core/bits.hpp ffi/sdmm.h ffi/sdmm.cpp ffi/sdmm_types.def \
            ffi/sdmm_status.def examples/rust/quickstart.rs; do
  grep -q "^sdmm-sys-[^/]*/$must\$" <<<"$listing" || { echo "FAIL: $must missing from $crate"; exit 1; }
done
# Only what building and using the crate needs: no build trees, C++ tests,
# benches, or the Rust tests and their trybuild outputs.
unexpected='/(build|target|tests/[^/]*\.cpp|bench|rust/tests|rust/benches)/'
if grep -q -E "$unexpected" <<<"$listing"; then
  echo "FAIL: unexpected files in the package:"; grep -E "$unexpected" <<<"$listing"; exit 1
fi
echo "$crate: $(wc -l <<<"$listing") files, $(du -k "$crate" | cut -f1) KiB"

mkdir -p "$work/unpacked"
tar xzf "$crate" -C "$work/unpacked"
pkg=$(ls -d "$work"/unpacked/sdmm-sys-*)

echo "== fresh consumer crate"
cd "$work"
cargo new --quiet --vcs none --bin consumer
cd consumer
cargo_maybe_offline add --quiet --path "$pkg"
cat >build.rs <<'RS'
// `links = "sdmm"` metadata reaches direct dependents as DEP_SDMM_*.
fn main() {
    let include = std::env::var("DEP_SDMM_INCLUDE").expect("sdmm-sys exports DEP_SDMM_INCLUDE");
    assert!(std::path::Path::new(&include).join("sdmm.h").is_file(), "no sdmm.h in {include}");
}
RS
cat >src/main.rs <<'RS'
// A user's program: typed blocks, errors as values, no unsafe.
#![forbid(unsafe_code)]
use sdmm_sys::{Error, Heap, Pubkey, SharedHeap};

fn main() -> Result<(), Error> {
    let mut arena = vec![0u8; 16 * 1024];
    let heap = Heap::new(&mut arena)?;
    let mut balances = heap.alloc_u64(100)?;
    balances[7] = 42;
    let mut keys = heap.alloc_pubkey(4)?;
    keys[0] = Pubkey { bytes: [7; 32] };
    assert_eq!(heap.alloc_u8(0).unwrap_err(), Error::ZeroCount);
    let h = keys.into_handle();
    assert_eq!(heap.resolve_hash(h).unwrap_err(), Error::TagMismatch);
    let keys = heap.resolve_pubkey(h)?; // while `balances` lives
    assert_eq!(heap.resolve_pubkey(h).unwrap_err(), Error::Claimed);
    assert_eq!(keys[0].bytes[31], 7);
    let sum: u64 = balances.iter().sum();
    drop((balances, keys));
    assert_eq!(heap.resolve_pubkey(h).unwrap_err(), Error::StaleHandle);
    heap.check()?;
    // The same heap shared between threads.
    let shared = SharedHeap::new(heap);
    std::thread::scope(|s| {
        s.spawn(|| shared.alloc_u32_from(&[1, 2]).map(drop));
    });
    shared.check()?;
    println!("consumer ok: sum {sum}, live blocks {}", shared.counters().live_blocks);
    Ok(())
}
RS
echo "== build and run the consumer"
start=$(date +%s%N)
cargo_maybe_offline build --quiet
echo "cold build of the consumer (sdmm-sys from the package, cc, the C++ core): $(( ($(date +%s%N) - start) / 1000000 )) ms"
out=$(cargo run --quiet --offline)
echo "$out"
[ "$out" = "consumer ok: sum 42, live blocks 0" ] || { echo "FAIL: unexpected output"; exit 1; }
echo "PASS: packaged sdmm-sys builds and works in a fresh crate"
