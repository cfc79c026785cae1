//! `SharedHeap`: one typed heap, several threads, no `unsafe` in this file.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;

use sdmm_sys::{Counters, Error, Handle, Heap, Locked, SharedHeap, Stats, U64Block};

/// The counters agree with the full statistics: exactly for blocks, refusals
/// and capacity; `allocated` at most 8 bytes per live block below.
fn assert_counters_match(c: Counters, s: Stats) {
    assert_eq!(
        (c.live_blocks, c.oom_count, c.capacity),
        (s.live_blocks, s.oom_count, s.capacity),
        "{c:?} vs {s:?}"
    );
    assert!(
        c.allocated <= s.allocated && s.allocated <= c.allocated + 8 * c.live_blocks,
        "{c:?} vs {s:?}"
    );
    assert!(c.peak_allocated <= s.peak_allocated, "{c:?} vs {s:?}");
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn threads_allocate_fill_and_free_concurrently() {
    let heap = SharedHeap::owned(1 << 20).unwrap();
    let kept: Vec<Vec<U64Block<'_, Locked>>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4u64)
            .map(|t| {
                let heap = &heap;
                s.spawn(move || {
                    let mut rng = Rng(0x9E37_79B9 + t);
                    let mut mine: Vec<U64Block<'_, Locked>> = Vec::new();
                    for step in 0..5_000u64 {
                        let r = rng.next();
                        if r % 3 == 0 && !mine.is_empty() {
                            let b = mine.swap_remove((r >> 8) as usize % mine.len());
                            assert!(b.iter().all(|&x| x == t), "another thread wrote here");
                        } else if r % 7 == 0 && !mine.is_empty() {
                            let i = (r >> 8) as usize % mine.len();
                            mine[i].resize(1 + (r >> 20) as usize % 60).unwrap();
                            mine[i].fill(t);
                        } else {
                            let n = 1 + (r >> 8) as usize % 40;
                            mine.push(heap.alloc_u64_from(&vec![t; n]).unwrap());
                        }
                        if step % 1000 == 0 {
                            let _ = heap.counters(); // readers never stall the others long
                        }
                    }
                    mine
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let live: usize = kept.iter().map(Vec::len).sum();
    assert_eq!(heap.counters().live_blocks as usize, live);
    assert_counters_match(heap.counters(), heap.stats());
    heap.check().unwrap();
    // Blocks made on the workers are dropped here (or on any thread).
    std::thread::scope(|s| {
        for per_thread in kept {
            s.spawn(move || drop(per_thread));
        }
    });
    let c = heap.counters();
    assert_eq!((c.live_blocks, c.allocated), (0, 0));
    assert_counters_match(c, heap.stats());
    heap.check().unwrap();
}

#[test]
fn one_handle_gets_one_owner_across_threads() {
    const THREADS: usize = 4;
    let heap = SharedHeap::owned(64 * 1024).unwrap();
    let barrier = Barrier::new(THREADS);
    for round in 0..200u32 {
        let h = heap.alloc_u32_from(&[round]).unwrap().into_handle();
        let winners = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    barrier.wait();
                    match heap.resolve_u32(h) {
                        Ok(block) => {
                            winners.fetch_add(1, Ordering::Relaxed);
                            assert_eq!(block[0], round);
                            // Keep it until every thread has tried.
                            barrier.wait();
                            let _ = block.into_handle();
                        }
                        Err(e) => {
                            assert_eq!(e, Error::Claimed);
                            barrier.wait();
                        }
                    }
                });
            }
        });
        assert_eq!(winners.load(Ordering::Relaxed), 1, "round {round}");
        heap.resolve_u32(h).unwrap().free().unwrap();
    }
    assert_eq!(heap.counters().live_blocks, 0);
    heap.check().unwrap();
}

#[test]
fn counters_follow_every_change_without_a_walk() {
    let mut arena = vec![0u8; 32 * 1024];
    let heap = SharedHeap::new(Heap::new(&mut arena).unwrap());
    let start = heap.counters();
    assert_eq!(
        (start.live_blocks, start.allocated, start.oom_count),
        (0, 0, 0)
    );
    assert_counters_match(start, heap.stats());
    let mut rng = Rng(42);
    let mut live: Vec<U64Block<'_, Locked>> = Vec::new();
    let mut detached: Vec<Handle> = Vec::new();
    let mut refusals = 0;
    for _ in 0..4000 {
        let r = rng.next();
        match r % 6 {
            0 | 1 => match heap.alloc_u64(1 + (r >> 8) as usize % 700) {
                Ok(b) => live.push(b),
                Err(e) => {
                    assert_eq!(e, Error::OutOfMemory);
                    refusals += 1;
                }
            },
            2 if !live.is_empty() => {
                let i = (r >> 8) as usize % live.len();
                match live[i].resize(1 + (r >> 20) as usize % 900) {
                    Ok(()) => {}
                    Err(e) => {
                        assert_eq!(e, Error::OutOfMemory);
                        refusals += 1;
                    }
                }
            }
            3 if !live.is_empty() => {
                drop(live.swap_remove((r >> 8) as usize % live.len()));
            }
            4 if !live.is_empty() => {
                detached.push(
                    live.swap_remove((r >> 8) as usize % live.len())
                        .into_handle(),
                );
            }
            5 if !detached.is_empty() => {
                let h = detached.swap_remove((r >> 8) as usize % detached.len());
                live.push(heap.resolve_u64(h).unwrap());
            }
            _ => {}
        }
        let c = heap.counters();
        assert_eq!(c.live_blocks as usize, live.len() + detached.len());
        assert_counters_match(c, heap.stats());
    }
    assert!(refusals > 0, "the workload must reach out-of-memory");
    assert_eq!(heap.counters().oom_count, refusals);
    drop(live);
    for h in detached {
        heap.resolve_u64(h).unwrap();
    }
    let end = heap.counters();
    assert_eq!((end.live_blocks, end.allocated), (0, 0));
    assert!(end.peak_allocated > 16 * 1024);
    assert_counters_match(end, heap.stats());
}

#[test]
fn counters_start_from_the_heap_they_share() {
    let mut arena = vec![0u8; 16 * 1024];
    let (a, b) = {
        let heap = Heap::new(&mut arena).unwrap();
        let a = heap.alloc_pubkey(3).unwrap().into_handle();
        let b = heap.alloc_u8(5).unwrap().into_handle();
        let _ = heap.alloc_u64(1 << 20); // one refusal
        (a, b)
    };
    let mut copy = vec![0u8; 16 * 1024];
    copy.copy_from_slice(&arena);
    let mut heap: SharedHeap<'_> = Heap::attach(&mut copy).unwrap().into();
    let c = heap.counters();
    assert_eq!(c, {
        let s = heap.stats();
        let mut want = Counters::default();
        want.capacity = s.capacity;
        want.allocated = s.allocated;
        want.peak_allocated = s.peak_allocated;
        want.live_blocks = 2;
        want.oom_count = 0; // TooLarge is not out-of-memory
        want
    });
    drop(heap.resolve_pubkey(a).unwrap());
    let k = heap.resolve_u8(b).unwrap();
    std::mem::forget(k);
    assert_eq!(heap.resolve_u8(b).unwrap_err(), Error::Claimed);
    heap.reclaim(b).unwrap();
    let k = heap.resolve_u8(b).unwrap();
    assert_eq!(k, [0; 5]);
    drop(k);
    let c = heap.counters();
    assert_eq!((c.live_blocks, c.allocated), (0, 0));
    let back: Heap<'_> = heap.into_inner();
    assert_eq!(back.stats().live_blocks, 0);
    back.check().unwrap();
}

#[test]
fn a_shared_heap_prints_its_figures() {
    let heap = SharedHeap::owned(8192).unwrap();
    let _b = heap.alloc_i64(2).unwrap();
    let text = format!("{heap:?}");
    assert!(
        text.starts_with("SharedHeap { arena_len: 8192, live_blocks: 1, allocated: 24"),
        "{text}"
    );
    let block = format!("{_b:?}");
    assert!(block.starts_with("I64Block { handle: Handle {"), "{block}");
}
