#!/usr/bin/env bash
# Demo of the Solana consumers: the heap demo (sdmm vs the bump allocator),
# the memory service used through CPI (one batched CPI against four), an
# account of the service read by the `sdmm` tool, and the CU benchmark, in
# LiteSVM.
# usage: tools/demo.d/solana.sh BUILD_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-build}" && pwd)
sbf="$build/solana"
if [ ! -f "$sbf/heap-demo.so" ] || [ ! -d "$root/tests/solana/node_modules/litesvm" ]; then
  echo "== Solana: skipped (programs or tests/solana/node_modules missing; run ./run test once)"
  exit 0
fi
echo "== Solana heap demo: typed arrays built and dropped in a 32 KiB heap"
node "$root/tests/solana/heap_demo.test.mjs" "$sbf" | grep -E '^heap-demo|checks passed'
echo "== Solana memory service through CPI: quotas, owners, batches"
node "$root/tests/solana/memory_service.test.mjs" "$sbf" | grep -E '^CU|checks passed'
if [ -x "$build/cli/sdmm" ]; then
  echo "== A memory-service account (two owners) as \`sdmm inspect\` reads it from getAccountInfo JSON"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  node "$root/tests/solana/memory_service_dump.mjs" "$sbf" "$work" >/dev/null
  "$build/cli/sdmm" inspect "$work/account.json"
fi
echo "== Solana compute units (bench/solana)"
node "$root/bench/solana/bench.mjs" "$sbf"
