#!/usr/bin/env bash
# Installs what the build, the tests and the benchmarks need on a fresh Debian
# bookworm machine. Idempotent: does nothing when everything is already there.
set -euo pipefail

debian_packages=(
  cmake ninja-build g++ pkg-config
  libgtest-dev libbenchmark-dev          # tests and micro-benchmarks
  clang-22 lld-22 llvm-22                # BPF / SBF cross builds (upstream clang)
  libclang-rt-22-dev                     # libFuzzer + sanitizer runtimes for tests/fuzz
  clang-format-22 clang-tidy-22          # style and lint
  libbpf-dev bpftool                     # loading into the kernel verifier
  libmimalloc-dev libjemalloc-dev libgoogle-perftools-dev  # native peers
  libboost-dev                           # Boost.Interprocess: the shared-heap peer (bench/service)
  valgrind gnuplot-nox                   # instruction counts, plots
  sqlite3 git python3 time               # host tests: real programs under LD_PRELOAD; bench/malloc
  rustc-web cargo-web rust-web-src       # Rust for SBF (-Zbuild-std): the Solana Rust program
)

missing=()
for p in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
