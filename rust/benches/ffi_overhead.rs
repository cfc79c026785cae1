//! Cost of the safe Rust layer over the raw C call, for an alloc+free pair.
//!
//! Wall clock (min of several runs, ns per pair):
//!     cargo bench --bench ffi_overhead          (taskset -c 1 for a steadier number)
//! Instructions per pair (valgrind), one loop per run:
//!     cargo bench --no-run                  # prints the binary's path
//!     valgrind --tool=callgrind --toggle-collect=sdmm_bench_raw_loop  BIN raw  100000
//!     valgrind --tool=callgrind --toggle-collect=sdmm_bench_safe_loop BIN safe 100000
//! ("Collected" / 100000 = instructions per pair; `cargo bench` passes
//! `--bench`, which is ignored.)
use std::hint::black_box;
use std::time::Instant;

use sdmm_sys::{ffi, Heap};

/// The raw C contract: pointer twins, status checked, as a careful C user
/// would; the same calls the safe layer makes (a block born claimed, freed
/// by handle), so the difference is the layer itself.
///
/// # Safety
/// `heap` must be a live heap.
#[no_mangle]
#[inline(never)]
pub unsafe fn sdmm_bench_raw_loop(heap: *mut ffi::sdmm_heap, iters: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..iters {
        let mut b = ffi::sdmm_block::default();
        // SAFETY: caller contract.
        unsafe {
            if ffi::sdmm_alloc_claimed_into(heap, ffi::SDMM_TAG_U64, black_box(8), &mut b)
                == ffi::SDMM_OK
            {
                *b.as_.u64_ = i;
                acc = acc.wrapping_add(*b.as_.u64_);
                ffi::sdmm_free_handle(heap, b.handle, ffi::SDMM_TAG_U64);
            }
        }
    }
    acc
}

/// The safe API: `alloc_u64` returning a `Result<U64Block>`, free on drop.
#[no_mangle]
#[inline(never)]
pub fn sdmm_bench_safe_loop(heap: &Heap<'_>, iters: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..iters {
        if let Ok(mut b) = heap.alloc_u64(black_box(8)) {
            b[0] = i;
            acc = acc.wrapping_add(b[0]);
        }
    }
    acc
}

/// Minimum ns per pair of each loop over `rounds` interleaved runs, so a
/// load change on a shared machine hits both alike.
fn ns_per_pair(
    raw: impl Fn(u64) -> u64,
    safe: impl Fn(u64) -> u64,
    iters: u64,
    rounds: u32,
) -> (f64, f64) {
    let time = |f: &dyn Fn(u64) -> u64| {
        let t = Instant::now();
        black_box(f(iters));
        t.elapsed().as_nanos() as f64 / iters as f64
    };
    let (mut best_raw, mut best_safe) = (f64::MAX, f64::MAX);
    for _ in 0..rounds {
        best_raw = best_raw.min(time(&raw));
        best_safe = best_safe.min(time(&safe));
    }
    (best_raw, best_safe)
}

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let mut arena = vec![0u8; 1 << 20];
    let heap = Heap::new(&mut arena).expect("heap");
    // A second, raw heap for the C loop, so both loops start from the same state.
    let mut arena2 = vec![0u64; (1 << 20) / 8];
    let mut c_heap: *mut ffi::sdmm_heap = std::ptr::null_mut();
    // SAFETY: the arena outlives every use of c_heap.
    let st = unsafe { ffi::sdmm_heap_init(arena2.as_mut_ptr().cast(), 1 << 20, &mut c_heap) };
    assert_eq!(st, ffi::SDMM_OK);

    match args.get(1).map(String::as_str) {
        Some("raw") => {
            let n = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
            // SAFETY: c_heap is live.
            println!("raw {}", unsafe { sdmm_bench_raw_loop(c_heap, n) });
        }
        Some("safe") => {
            let n = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
            println!("safe {}", sdmm_bench_safe_loop(&heap, n));
        }
        _ => {
            let iters = 5_000_000;
            // Warm up both. SAFETY (every C-loop call below): c_heap is live.
            black_box(unsafe { sdmm_bench_raw_loop(c_heap, iters / 10) });
            black_box(sdmm_bench_safe_loop(&heap, iters / 10));
            let (raw_ns, safe_ns) = ns_per_pair(
                |n| unsafe { sdmm_bench_raw_loop(c_heap, n) },
                |n| sdmm_bench_safe_loop(&heap, n),
                iters,
                15,
            );
            println!("alloc_u64(8)+free pair, min of 15 interleaved runs of {iters}:");
            println!("  raw C (sdmm_alloc_claimed_into + sdmm_free_handle): {raw_ns:.2} ns");
            println!("  safe Rust (heap.alloc_u64 + drop):                 {safe_ns:.2} ns");
            println!(
                "  overhead:                                           {:.2} ns",
                safe_ns - raw_ns
            );
        }
    }
}
