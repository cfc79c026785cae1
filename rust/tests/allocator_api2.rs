//! `allocator_api2` collections over `&Heap` (feature `allocator-api2`): the
//! memory lies inside the arena, the heap counts the blocks, and everything
//! is given back on drop. `unsafe` only where a test calls the trait itself.
#![deny(unsafe_code)]

use allocator_api2::alloc::{Allocator, Layout};
use allocator_api2::boxed::Box;
use allocator_api2::vec::Vec;
use sdmm_sys::{Handle, Heap, SharedHeap};

/// The arena's address range, to check where collections put their memory.
struct Arena {
    bytes: std::vec::Vec<u8>,
}

impl Arena {
    fn new(len: usize) -> Arena {
        Arena {
            bytes: vec![0; len],
        }
    }

    fn range(&self) -> std::ops::Range<usize> {
        let start = self.bytes.as_ptr() as usize;
        start..start + self.bytes.len()
    }
}

fn inside<T>(range: &std::ops::Range<usize>, elements: &[T]) -> bool {
    let start = elements.as_ptr() as usize;
    range.contains(&start) && start + core::mem::size_of_val(elements) <= range.end
}

fn assert_empty(heap: &Heap) {
    let s = heap.stats();
    assert_eq!((s.live_blocks, s.allocated), (0, 0), "{s:?}");
    heap.check().unwrap();
}

#[test]
fn vec_grows_through_many_reallocations_inside_the_arena() {
    let mut arena = Arena::new(64 * 1024);
    let range = arena.range();
    let heap = Heap::new(&mut arena.bytes).unwrap();
    {
        let mut v: Vec<u64, &Heap> = Vec::new_in(&heap);
        assert_eq!(
            heap.stats().live_blocks,
            0,
            "an empty Vec allocates nothing"
        );
        let mut reallocations = 0;
        let mut capacity = v.capacity();
        for i in 0..3000u64 {
            v.push(i * 3);
            if v.capacity() != capacity {
                capacity = v.capacity();
                reallocations += 1;
                assert!(
                    inside(&range, v.spare_capacity_mut()),
                    "capacity in the arena"
                );
            }
            assert_eq!(heap.stats().live_blocks, 1, "one block, grown or moved");
        }
        assert!(reallocations >= 8, "{reallocations} reallocations");
        assert!(inside(&range, &v));
        assert!(
            v.iter().enumerate().all(|(i, &x)| x == i as u64 * 3),
            "values kept across growth"
        );
        assert!(heap.stats().allocated >= 3000 * 8);

        v.truncate(10);
        v.shrink_to_fit(); // shrink, values kept
        assert_eq!(v.capacity(), 10);
        assert_eq!(v, [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]);
        assert!(heap.stats().allocated < 200);
        v.clear();
        v.shrink_to_fit(); // to zero bytes: the block is freed
        assert_eq!(heap.stats().live_blocks, 0);
        v.push(7);
        assert_eq!(heap.stats().live_blocks, 1);
    }
    assert_empty(&heap);
}

#[test]
fn boxes_and_nested_collections_free_everything_on_drop() {
    let mut arena = Arena::new(64 * 1024);
    let range = arena.range();
    let heap = Heap::new(&mut arena.bytes).unwrap();
    {
        let b = Box::new_in([1u32, 2, 3, 4], &heap);
        assert!(inside(&range, &b[..]));
        assert_eq!(heap.stats().live_blocks, 1);

        // A Vec of byte strings, every one of them in the arena too.
        let mut names: Vec<Vec<u8, &Heap>, &Heap> = Vec::new_in(&heap);
        for i in 0..50 {
            let mut name = Vec::new_in(&heap);
            name.extend_from_slice(format!("account-{i}").as_bytes());
            names.push(name);
        }
        assert_eq!(heap.stats().live_blocks, 1 + 1 + 50);
        assert!(inside(&range, &names));
        assert!(names.iter().all(|n| inside(&range, n)));
        assert_eq!(&names[42][..], b"account-42");
        names.retain(|n| n.len() == 9); // account-0 .. account-9
        assert_eq!(heap.stats().live_blocks, 1 + 1 + 10);
        assert_eq!(&names[9][..], b"account-9");

        // A boxed slice: the Vec's block, moved into a Box.
        let squares: Box<[u64], &Heap> = (1..=5u64)
            .map(|x| x * x)
            .fold(Vec::new_in(&heap), |mut v, x| {
                v.push(x);
                v
            })
            .into_boxed_slice();
        assert_eq!(&squares[..], [1, 4, 9, 16, 25]);
        assert!(inside(&range, &squares));
    }
    assert_empty(&heap);
}

#[test]
fn failures_are_errors_and_leave_the_heap_intact() {
    let mut arena = Arena::new(4096);
    let heap = Heap::new(&mut arena.bytes).unwrap();
    let mut v: Vec<u8, &Heap> = Vec::new_in(&heap);
    v.extend_from_slice(&[5; 100]);
    assert!(v.try_reserve(1 << 20).is_err(), "more than the arena");
    assert!(v.try_reserve_exact(usize::MAX / 4).is_err());
    assert_eq!(
        (v.len(), v[99]),
        (100, 5),
        "unchanged after a refused growth"
    );
    assert!(Box::try_new_in([0u8; 8192], &heap).is_err());
    assert!((&heap)
        .allocate(Layout::from_size_align(1 << 31, 8).unwrap())
        .is_err());
    assert_eq!(heap.stats().live_blocks, 1);
    drop(v);
    assert_empty(&heap);
}

#[test]
fn zero_size_layouts_are_dangling_and_aligned() {
    let mut arena = Arena::new(4096);
    let heap = Heap::new(&mut arena.bytes).unwrap();
    let alloc = &heap;
    for align in [1usize, 2, 8, 64, 4096] {
        let layout = Layout::from_size_align(0, align).unwrap();
        let p = alloc.allocate(layout).unwrap();
        assert_eq!(p.len(), 0);
        assert_eq!(p.cast::<u8>().as_ptr() as usize % align, 0);
        let z = alloc.allocate_zeroed(layout).unwrap();
        assert_eq!(z.cast::<u8>().as_ptr() as usize % align, 0);
    }
    assert_eq!(heap.stats().live_blocks, 0, "no block for zero bytes");
    // Zero-size element types and empty collections never reach the heap.
    let mut units: Vec<(), &Heap> = Vec::new_in(&heap);
    units.extend(std::iter::repeat_n((), 1000));
    let unit = Box::new_in((), &heap);
    assert_eq!((units.len(), *unit), (1000, ()));
    assert_eq!(heap.stats().live_blocks, 0);
    drop((units, unit));
    assert_empty(&heap);
}

#[test]
fn alignments_beyond_the_granule_are_kept_through_growth() {
    #[derive(Clone, Copy, Debug, PartialEq)]
    #[repr(align(64))]
    struct Line([u8; 64]);

    let mut arena = Arena::new(64 * 1024);
    let range = arena.range();
    let heap = Heap::new(&mut arena.bytes).unwrap();
    {
        let mut lines: Vec<Line, &Heap> = Vec::new_in(&heap);
        for i in 0..100u8 {
            lines.push(Line([i; 64]));
            assert_eq!(lines.as_ptr() as usize % 64, 0);
        }
        assert!(inside(&range, &lines));
        assert!(lines.iter().enumerate().all(|(i, l)| l.0 == [i as u8; 64]));
        lines.truncate(3);
        lines.shrink_to_fit();
        assert_eq!(lines.as_ptr() as usize % 64, 0);
        assert_eq!(lines[2], Line([2; 64]));
        let big = Box::new_in(Line([9; 64]), &heap);
        assert_eq!(&*big as *const Line as usize % 64, 0);
        assert_eq!(heap.stats().live_blocks, 2);
    }
    assert_empty(&heap);
}

/// The trait called directly, as collection authors do: the only `unsafe`
/// of this file.
#[test]
#[allow(unsafe_code)]
fn grow_zeroed_keeps_the_old_bytes_and_zeroes_the_rest() {
    let mut arena = Arena::new(16 * 1024);
    let range = arena.range();
    let heap = Heap::new(&mut arena.bytes).unwrap();
    let alloc = &heap;
    // Dirty the arena first, so the zeros below come from the allocator.
    let mut junk: Vec<u8, &Heap> = Vec::new_in(alloc);
    junk.resize(8000, 0xAB);
    drop(junk);
    // align 8: resized by the core (in place, then moved past a neighbour);
    // align 32: allocate + copy + free.
    for (align, neighbour) in [(8usize, false), (8, true), (32, false), (32, true)] {
        let old = Layout::from_size_align(24, align).unwrap();
        let new = Layout::from_size_align(1000, align).unwrap();
        let p = alloc.allocate(old).unwrap().cast::<u8>();
        let next = neighbour.then(|| Box::new_in(0u64, alloc));
        // SAFETY: `p` is a live 24-byte block of `alloc`, `old` fits it; the
        // slices below stay within the sizes the allocator returned and are
        // gone before the next call to it on the same block.
        unsafe {
            core::ptr::write_bytes(p.as_ptr(), 0x5A, old.size());
            let q = alloc.grow_zeroed(p, old, new).unwrap();
            assert_eq!(q.len(), new.size());
            let bytes = core::slice::from_raw_parts(q.cast::<u8>().as_ptr(), q.len());
            assert!(inside(&range, bytes));
            assert_eq!(bytes.as_ptr() as usize % align, 0, "align {align}");
            assert!(
                bytes[..24].iter().all(|&b| b == 0x5A),
                "old bytes kept (align {align})"
            );
            assert!(
                bytes[24..].iter().all(|&b| b == 0),
                "new bytes zero (align {align})"
            );
            let small = Layout::from_size_align(10, align).unwrap();
            let r = alloc.shrink(q.cast(), new, small).unwrap();
            let bytes = core::slice::from_raw_parts(r.cast::<u8>().as_ptr(), r.len());
            assert_eq!((bytes.len(), bytes[9]), (10, 0x5A));
            // A grow from and a shrink to zero bytes: allocate and free.
            let empty = Layout::from_size_align(0, align).unwrap();
            let z = alloc.shrink(r.cast(), small, empty).unwrap();
            assert_eq!(z.len(), 0);
            let g = alloc.grow(z.cast(), empty, small).unwrap();
            assert_eq!(heap.stats().live_blocks, 1 + u64::from(neighbour));
            alloc.deallocate(g.cast(), small);
        }
        drop(next);
        assert_empty(&heap);
    }
}

/// A collection's memory has one owner, the collection: the handle of its
/// block, which safe code can work out (the heap's base from any block, the
/// generation counting up), is refused by `resolve_u8` instead of giving a
/// second, aliasing owner.
#[test]
fn a_collections_block_cannot_be_resolved_as_a_typed_block() {
    let mut arena = Arena::new(8192);
    let heap = Heap::new(&mut arena.bytes).unwrap();
    let probe = heap.alloc_u8(1).unwrap();
    let h = probe.handle();
    let base = probe.as_ptr() as usize - h.offset() as usize - 8;
    let salt = h.to_raw() & (7 | (0xF << 36));
    let guess = |elements: usize, generation: u32| {
        let offset = (elements - base - 8) as u64;
        Handle::from_raw((u64::from(generation) << 40) | (1 << 32) | offset | salt)
    };
    // The guess works: the next typed block's handle is predicted exactly.
    let next = heap.alloc_u8(1).unwrap();
    assert_eq!(
        guess(next.as_ptr() as usize, h.generation() + 1),
        next.handle()
    );
    let mut v: Vec<u8, &Heap> = Vec::new_in(&heap);
    v.extend_from_slice(b"mine");
    let stolen = guess(v.as_ptr() as usize, h.generation() + 2);
    // `Claimed` comes only after the core found a live u8 block there with
    // that generation: the right handle, and refused.
    assert_eq!(
        heap.resolve_u8(stolen).unwrap_err(),
        sdmm_sys::Error::Claimed
    );
    assert_eq!(&v[..], b"mine");
    drop(v);
    assert_eq!(
        heap.resolve_u8(stolen).unwrap_err(),
        sdmm_sys::Error::StaleHandle
    );
    drop((probe, next));
    assert_empty(&heap);
}

#[test]
fn shared_heap_collections_are_counted_without_a_walk() {
    let heap = SharedHeap::owned(256 * 1024).unwrap();
    let per_thread: std::vec::Vec<Vec<u64, &SharedHeap>> = std::thread::scope(|s| {
        let workers: std::vec::Vec<_> = (0..3u64)
            .map(|t| {
                let heap = &heap;
                s.spawn(move || {
                    let mut v = Vec::new_in(heap);
                    for i in 0..2000 {
                        v.push(i * t); // grows by resize, in place or moved
                    }
                    v.truncate(10);
                    v.shrink_to_fit();
                    let boxed = Box::new_in([t; 3], heap);
                    v.extend_from_slice(&*boxed);
                    v
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let c = heap.counters();
    let s = heap.stats();
    assert_eq!((c.live_blocks, s.live_blocks), (3, 3));
    assert!(c.allocated <= s.allocated && s.allocated <= c.allocated + 8 * 3);
    // At least one vector held 2000 u64s at once (the threads may or may not
    // have overlapped).
    assert!(c.peak_allocated >= 8 * 2000, "{c:?}");
    assert_eq!(
        per_thread[2][..],
        [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 2, 2, 2]
    );
    drop(per_thread);
    assert_eq!(
        (heap.counters().live_blocks, heap.counters().allocated),
        (0, 0)
    );
    heap.check().unwrap();
}

/// Every path of `allocate`/`allocate_zeroed` (born claimed; zero-filled
/// instead of uninitialised up to 4 KiB; aligned or large, then claimed)
/// gives a claimed block: its handle, looked up through the C contract, is
/// refused by `resolve_u8` while the allocation lives, and stale after.
#[test]
#[allow(unsafe_code)]
fn every_allocation_path_gives_a_claimed_block() {
    let mut arena = Arena::new(64 * 1024);
    let heap = Heap::new(&mut arena.bytes).unwrap();
    let probe = heap.alloc_u8(1).unwrap();
    // The C heap starts at the arena start the probe's handle counts from.
    let c_heap = probe
        .as_ptr()
        .wrapping_sub(probe.handle().offset() as usize + 8)
        .cast_mut()
        .cast::<sdmm_sys::ffi::sdmm_heap>();
    let alloc = &heap;
    for (size, align, zeroed) in [
        (100, 8, false),
        (100, 8, true),
        (5000, 8, false),
        (5000, 8, true),
        (100, 64, false),
        (100, 64, true),
    ] {
        let layout = Layout::from_size_align(size, align).unwrap();
        let p = if zeroed {
            alloc.allocate_zeroed(layout)
        } else {
            alloc.allocate(layout)
        }
        .unwrap()
        .cast::<u8>();
        let mut block = sdmm_sys::ffi::sdmm_block::default();
        // SAFETY: `c_heap` is this live heap, `p` one of its block starts,
        // `block` a valid out-pointer; the call only reads the heap.
        let status = unsafe {
            sdmm_sys::ffi::sdmm_block_from_ptr_into(
                c_heap,
                p.as_ptr().cast(),
                sdmm_sys::ffi::SDMM_TAG_U8,
                &mut block,
            )
        };
        assert_eq!(status, sdmm_sys::ffi::SDMM_OK);
        let h = Handle::from_raw(block.handle);
        let what = format!("{size} bytes, align {align}, zeroed {zeroed}");
        assert_eq!(
            heap.resolve_u8(h).unwrap_err(),
            sdmm_sys::Error::Claimed,
            "{what}"
        );
        // SAFETY: allocated above with `layout`, not used after.
        unsafe { alloc.deallocate(p, layout) };
        assert_eq!(
            heap.resolve_u8(h).unwrap_err(),
            sdmm_sys::Error::StaleHandle,
            "{what}"
        );
    }
    drop(probe);
    assert_empty(&heap);
}
