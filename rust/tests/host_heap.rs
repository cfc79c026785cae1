//! `HostHeap` as the process's global allocator: collections, threads,
//! blocks freed on another thread, over-aligned layouts.
#![cfg(all(feature = "host", target_os = "linux"))]

use std::alloc::{GlobalAlloc, Layout};
use std::collections::HashMap;

use sdmm_sys::HostHeap;

#[global_allocator]
static ALLOC: HostHeap = HostHeap;

#[test]
fn collections_work_and_keep_their_contents() {
    let mut map: HashMap<u64, String> = HashMap::new();
    for i in 0..20_000u64 {
        map.insert(i, format!("value {i}"));
    }
    let mut v: Vec<u64> = Vec::new();
    for i in 0..100_000u64 {
        v.push(i * 3);
    }
    assert_eq!(map.len(), 20_000);
    assert_eq!(map[&12_345], "value 12345");
    assert_eq!(v.iter().sum::<u64>(), 3 * (100_000 * 99_999 / 2));
}

#[test]
fn threads_allocate_and_free_each_others_blocks() {
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let producers: Vec<_> = (0..4u8)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..5_000usize {
                    tx.send(vec![t; 1 + (i * 37) % 3000]).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut bytes = 0usize;
    for block in rx {
        // Freed here, on another thread than the one that allocated it.
        assert!(block.iter().all(|&b| b == block[0]));
        bytes += block.len();
    }
    for p in producers {
        p.join().unwrap();
    }
    assert!(bytes > 0);
}

#[test]
fn over_aligned_layouts_are_honoured() {
    for align in [32usize, 64, 4096] {
        for size in [1usize, 100, 5000] {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: non-zero size; freed below with the same layout.
            unsafe {
                let p = ALLOC.alloc_zeroed(layout);
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0);
                assert!(std::slice::from_raw_parts(p, size).iter().all(|&b| b == 0));
                p.write_bytes(0xAB, size);
                let q = ALLOC.realloc(p, layout, size * 2);
                assert!(!q.is_null());
                assert_eq!(q as usize % align, 0);
                assert!(std::slice::from_raw_parts(q, size)
                    .iter()
                    .all(|&b| b == 0xAB));
                ALLOC.dealloc(q, Layout::from_size_align(size * 2, align).unwrap());
            }
        }
    }
}

extern "C" {
    fn sdmm_host_usable_size(ptr: *const core::ffi::c_void) -> usize;
}

#[test]
fn blocks_come_from_the_host_runtime() {
    let b: Box<[u8; 100]> = Box::new([7; 100]);
    // SAFETY: a live block of the global allocator, i.e. of the runtime.
    let usable = unsafe { sdmm_host_usable_size(b.as_ptr().cast()) };
    assert!(
        usable >= 100,
        "the runtime does not know this block: {usable}"
    );
}
