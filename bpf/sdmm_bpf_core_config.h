// sdmm_bpf_core_config.h -- how the kernel build configures the core. Also
// force-included into the native twin the BPF tests compare against, so both
// make the same decisions byte for byte.
#pragma once

// The exact-size caches are off in the kernel build for now: draining them
// before an out-of-memory answer is a loop of up to SDMM_CACHE_LIMIT
// coalescing releases, which the verifier walks path by path (over its
// 1M-instruction limit when inlined into one global function).
#define SDMM_CACHE_LIMIT 0

// No address arithmetic on the pool: salt and first generation come from
// the pool length only.
#define SDMM_ENTROPY(arena) 0ull

// Structural checks off: every offset is masked into the pool
// (SDMM_OFFSET_MASK), so no arena byte can move an access outside it, and
// the typed accessors bound every element access; the checks of the
// caller's handles (start map, generation, tag) stay. With them on, the
// verifier walks ~20x more paths through alloc and free.
#define SDMM_HARDENED 0

// The size classes come from a table that covers the whole pool (8 KiB of
// read-only data for the default 64 KiB pool): one load per class, no
// branch to a log2 fallback that the verifier would walk as a second path
// each time. Pools larger than 128 KiB keep the 512-entry table.
#if defined(SDMM_BPF_POOL_LOG2) && SDMM_BPF_POOL_LOG2 <= 17
#define SDMM_CLASS_TABLE_GRANULES (SDMM_BPF_POOL_BYTES / 8)
#define SDMM_CLASS_TABLE_COVERS_ARENA 1
#endif
