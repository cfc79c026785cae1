#!/usr/bin/env bash
# Build-cost numbers of sdmm-sys (benchmark, not a test):
#   1. cold `cargo build` of sdmm-sys itself (lib only, dev and release),
#   2. cold build of a fresh consumer crate depending on the packaged crate,
#   3. size added to a release binary by using the typed API.
# Run from the repository root:  bash rust/benches/measure-build.sh [WORK_DIR]
# Uses only crates already fetched (offline); the C++ core is compiled by cc.
set -euo pipefail
work=${1:-/tmp/sdmm-measure}
root=$(pwd)
unset SDMM_LIB_DIR
rm -rf "$work"
mkdir -p "$work"
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

for profile in dev release; do
  flag=""; [ $profile = release ] && flag=--release
  t=$(date +%s%N)
  cargo build --quiet --offline --locked --lib $flag --target-dir "$work/self-$profile"
  echo "cold cargo build of sdmm-sys ($profile, lib, incl. cc crate + C++ core): $(ms "$t") ms"
done

cargo package --quiet --offline --locked --allow-dirty --no-verify --target-dir "$work/pkg"
mkdir -p "$work/unpacked" && tar xzf "$work"/pkg/package/sdmm-sys-*.crate -C "$work/unpacked"
pkg=$(ls -d "$work"/unpacked/sdmm-sys-*)

make_crate() {  # name, main.rs body, with-dependency?
  (cd "$work" && cargo new --quiet --vcs none --bin "$1")
  printf '%s\n' "$2" >"$work/$1/src/main.rs"
  if [ "$3" = yes ]; then (cd "$work/$1" && cargo add --quiet --offline --path "$pkg"); fi
  printf '\n[profile.release]\nstrip = true\n' >>"$work/$1/Cargo.toml"
}
make_crate baseline 'fn main() {
    let v: Vec<u64> = std::env::args().map(|a| a.len() as u64).collect();
    println!("{}", v.iter().sum::<u64>());
}' no
make_crate consumer 'fn main() {
    let mut arena = vec![0u8; 1 << 16];
    let heap = sdmm_sys::Heap::new(&mut arena).unwrap();
    let mut v = heap.alloc_u64(16).unwrap();
    for (slot, a) in v.iter_mut().zip(std::env::args()) { *slot = a.len() as u64; }
    let k = heap.alloc_pubkey(2).unwrap();
    println!("{} {}", v.iter().sum::<u64>(), k.len());
}' yes

for c in baseline consumer; do
  t=$(date +%s%N)
  (cd "$work/$c" && cargo build --quiet --offline --release)
  echo "cold release build of the $c crate: $(ms "$t") ms"
done
t=$(date +%s%N)
(cd "$work/consumer" && cargo build --quiet --offline)
echo "cold dev build of the consumer crate: $(ms "$t") ms"
b=$(stat -c %s "$work/baseline/target/release/baseline")
c=$(stat -c %s "$work/consumer/target/release/consumer")
echo "release binary (stripped): baseline $b B, consumer $c B, added by sdmm-sys $((c - b)) B"
