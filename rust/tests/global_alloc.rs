//! sdmm as the process's `#[global_allocator]`: every Box, Vec, String and
//! the test harness itself live in a `StaticHeap`.
use std::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeMap;

use sdmm_sys::{GlobalHeap, StaticHeap};

#[global_allocator]
static GLOBAL: StaticHeap<{ 32 << 20 }> = StaticHeap::new();

#[test]
fn collections_live_in_the_sdmm_heap() {
    let before = GLOBAL.stats().unwrap().live_blocks;
    let mut v: Vec<u64> = Vec::new();
    for i in 0..100_000 {
        v.push(i); // grows by realloc
    }
    assert_eq!(v.iter().sum::<u64>(), 100_000 * 99_999 / 2);
    let mut m = BTreeMap::new();
    for i in 0..10_000u32 {
        m.insert(i, i.to_string());
    }
    m.retain(|k, _| k % 3 == 0);
    assert_eq!(m.len(), 3334);
    assert!(GLOBAL.stats().unwrap().live_blocks > before);
    drop((v, m));
    GLOBAL.check().unwrap();
}

#[test]
fn threads_share_it_under_the_lock() {
    let workers: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut keep = Vec::new();
                for i in 0..20_000usize {
                    let b = vec![t as u8; 1 + (i * 7 + t) % 300].into_boxed_slice();
                    if i % 5 == 0 {
                        keep.push(b);
                    }
                }
                keep.iter().all(|b| b.iter().all(|&x| x == t as u8))
            })
        })
        .collect();
    for w in workers {
        assert!(w.join().unwrap());
    }
    GLOBAL.check().unwrap();
}

#[test]
fn alignment_zeroing_realloc_and_refusals() {
    // A private instance, so the numbers are ours alone.
    static A: StaticHeap<{ 256 * 1024 }> = StaticHeap::new();
    // SAFETY: non-zero sizes; every block is freed with A and its layout.
    unsafe {
        for align in [1usize, 8, 16, 64, 4096] {
            let l = Layout::from_size_align(100, align).unwrap();
            let p = A.alloc_zeroed(l);
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "align {align}");
            assert!(std::slice::from_raw_parts(p, 100).iter().all(|&b| b == 0));
            p.write_bytes(0xEE, 100);
            // Grow: contents kept (in place or moved, either path).
            let q = A.realloc(p, l, 5000);
            assert!(!q.is_null());
            assert_eq!(q as usize % align, 0, "realloc keeps align {align}");
            assert!(std::slice::from_raw_parts(q, 100)
                .iter()
                .all(|&b| b == 0xEE));
            A.dealloc(q, Layout::from_size_align(5000, align).unwrap());
        }
        assert_eq!(A.stats().unwrap().live_blocks, 0);
        // Too big: null, not a crash; the heap is intact.
        assert!(A
            .alloc(Layout::from_size_align(1 << 30, 8).unwrap())
            .is_null());
        // A pointer that is not ours is ignored by dealloc.
        let mut local = 0u64;
        A.dealloc((&raw mut local).cast(), Layout::new::<u64>());
        A.check().unwrap();
    }
    // An arena too small for any heap refuses everything.
    static TINY: StaticHeap<64> = StaticHeap::new();
    // SAFETY: non-zero size.
    assert!(unsafe { TINY.alloc(Layout::new::<u8>()) }.is_null());
    assert!(TINY.stats().is_none());
}

#[test]
fn region_heap_over_caller_memory() {
    // What a Solana program does with 0x300000000, here over leaked memory.
    let region: &'static mut [u64] = Box::leak(vec![0u64; 4096].into_boxed_slice());
    let start = region.as_mut_ptr() as usize;
    // SAFETY: the leaked region is valid forever, zero, and used by nothing else.
    let heap = unsafe { GlobalHeap::from_region(start, 4096 * 8, true) };
    let l = Layout::from_size_align(48, 8).unwrap();
    // SAFETY: non-zero size, freed with the same allocator.
    unsafe {
        let p = heap.alloc(l);
        assert!(!p.is_null());
        assert!((start..start + 4096 * 8).contains(&(p as usize)));
        assert_eq!(heap.stats().unwrap().live_blocks, 1);
        heap.dealloc(p, l);
    }
    assert_eq!(heap.stats().unwrap().live_blocks, 0);
    heap.check().unwrap();
}

#[test]
fn a_solana_sized_region_reuses_freed_memory() {
    // The Solana default: 32 KiB, zeroed. The stock Solana allocator is a
    // bump allocator: 100 allocations of 1 KiB would exhaust it three times
    // over. With sdmm, freed memory comes back.
    let region: &'static mut [u64] =
        Box::leak(vec![0u64; sdmm_sys::SOLANA_HEAP_LEN / 8].into_boxed_slice());
    // SAFETY: leaked, zero, used by nothing else.
    let heap = unsafe {
        GlobalHeap::from_region(
            region.as_mut_ptr() as usize,
            sdmm_sys::SOLANA_HEAP_LEN,
            true,
        )
    };
    let capacity = heap.stats().unwrap().capacity;
    assert!(
        capacity >= 30 * 1024,
        "control overhead stays small: capacity {capacity}"
    );
    let l = Layout::from_size_align(1024, 8).unwrap();
    for _ in 0..100 {
        // SAFETY: non-zero size, freed with the same allocator.
        unsafe {
            let p = heap.alloc_zeroed(l);
            assert!(!p.is_null());
            heap.dealloc(p, l);
        }
    }
    let s = heap.stats().unwrap();
    assert_eq!((s.live_blocks, s.oom_count), (0, 0));
    assert!(s.peak_allocated <= 2 * 1024);
    heap.check().unwrap();
}

#[test]
fn a_growable_global_heap_moves_its_end_when_it_runs_out() {
    use std::alloc::{GlobalAlloc, Layout};
    // A region of 256 KiB; the heap starts over its first 32 KiB.
    let region: &'static mut [u64] = Box::leak(vec![0u64; 256 * 1024 / 8].into_boxed_slice());
    let start = region.as_mut_ptr() as usize;
    // SAFETY: the region is leaked: valid, writable and ours for the rest of
    // the program; it is zero.
    let heap =
        unsafe { sdmm_sys::GlobalHeap::from_region_growable(start, 32 * 1024, 256 * 1024, true) };
    let layout = Layout::from_size_align(40 * 1024, 8).unwrap();
    // SAFETY: non-zero sizes; every block is freed below with its layout.
    unsafe {
        let a = heap.alloc(layout); // more than the first 32 KiB hold
        assert!(!a.is_null());
        a.write_bytes(1, layout.size());
        let b = heap.alloc(layout);
        assert!(!b.is_null());
        let grown = heap.realloc(b, layout, 150 * 1024);
        assert!(!grown.is_null());
        let s = heap.stats().unwrap();
        assert!(s.capacity > 190 * 1024, "{s:?}");
        assert!(
            heap.alloc(Layout::from_size_align(200 * 1024, 8).unwrap())
                .is_null(),
            "past the reserve"
        );
        heap.dealloc(a, layout);
        heap.dealloc(grown, Layout::from_size_align(150 * 1024, 8).unwrap());
    }
    heap.check().unwrap();
    assert_eq!(heap.stats().unwrap().live_blocks, 0);
}
