//! The safe layer as a user sees it: no `unsafe` anywhere in this file.
#![forbid(unsafe_code)]

use sdmm_sys::{Error, Handle, Heap, Pubkey, U128};

#[test]
fn blocks_are_zeroed_slices_that_free_on_drop() {
    let mut arena = [0u8; 8192];
    let heap = Heap::new(&mut arena).unwrap();
    {
        let mut balances = heap.alloc_u64(100).unwrap();
        assert_eq!(balances.len(), 100);
        assert!(balances.iter().all(|&b| b == 0));
        balances[7] = 42;
        balances.iter_mut().for_each(|b| *b += 1);
        assert_eq!(balances.iter().sum::<u64>(), 142);
        let mut keys = heap.alloc_pubkey(4).unwrap();
        keys[1] = Pubkey { bytes: [9; 32] };
        assert_eq!(keys[1].bytes[31], 9);
        assert_eq!(heap.stats().live_blocks, 2);
    }
    let s = heap.stats();
    assert_eq!((s.live_blocks, s.allocated), (0, 0));
    heap.check().unwrap();
}

#[test]
fn wide_integers_and_keys_round_trip() {
    let mut arena = vec![0u8; 4096];
    let heap = Heap::new(&mut arena).unwrap();
    let mut big = heap.alloc_u128(3).unwrap();
    big[2] = U128::from(u128::MAX - 5);
    assert_eq!(u128::from(big[2]), u128::MAX - 5);
    let mut signed = heap.alloc_i128(1).unwrap();
    signed[0] = (-7i128).into();
    assert_eq!(signed[0].get(), -7);
}

#[test]
fn errors_are_values_with_messages() {
    let mut arena = [0u8; 1024];
    let heap = Heap::new(&mut arena).unwrap();
    assert_eq!(heap.alloc_u32(0).unwrap_err(), Error::ZeroCount);
    let too_big = heap.alloc_u64(1 << 20).unwrap_err();
    assert_eq!(too_big, Error::TooLarge);
    assert_eq!(
        too_big.to_string(),
        "request overflows or exceeds the largest block of the heap"
    );
    // A std::error::Error, usable with `?` into Box<dyn Error>.
    let boxed: Box<dyn std::error::Error> = Box::new(Error::OutOfMemory);
    assert_eq!(boxed.to_string(), "no free block is large enough");
}

#[test]
fn out_of_memory_is_reported_and_counted_and_recoverable() {
    let mut arena = vec![0u8; 4096];
    let heap = Heap::new(&mut arena).unwrap();
    let mut held = Vec::new();
    let err = loop {
        match heap.alloc_u64(32) {
            Ok(b) => held.push(b),
            Err(e) => break e,
        }
    };
    assert_eq!(err, Error::OutOfMemory);
    assert!(!held.is_empty());
    assert_eq!(heap.stats().oom_count, 1);
    held.clear();
    assert!(
        heap.alloc_u64(32).is_ok(),
        "memory comes back after the blocks drop"
    );
    heap.check().unwrap();
}

#[test]
fn resize_keeps_contents_and_zero_fills() {
    let mut arena = vec![0u8; 16 * 1024];
    let heap = Heap::new(&mut arena).unwrap();
    let mut v = heap.alloc_u32(4).unwrap();
    v.copy_from_slice(&[1, 2, 3, 4]);
    let _neighbour = heap.alloc_u8(1).unwrap(); // forces a move when growing
    v.resize(1000).unwrap();
    assert_eq!(&v[..5], &[1, 2, 3, 4, 0]);
    assert!(v[4..].iter().all(|&x| x == 0));
    v.resize(2).unwrap();
    assert_eq!(&v[..], &[1, 2]);
    assert_eq!(v.resize(0).unwrap_err(), Error::ZeroCount);
    assert_eq!(v.resize(1 << 30).unwrap_err(), Error::TooLarge);
    assert_eq!(
        &v[..],
        &[1, 2],
        "a failed resize leaves the block unchanged"
    );
    heap.check().unwrap();
}

#[test]
fn handles_resolve_by_type_and_never_to_reused_memory() {
    let mut arena = vec![0u8; 8192];
    let heap = Heap::new(&mut arena).unwrap();
    let mut b = heap.alloc_u64(8).unwrap();
    b[0] = 77;
    let h = b.into_handle();

    assert_eq!(heap.resolve_hash(h).unwrap_err(), Error::TagMismatch);
    let back = heap.resolve_u64(h).unwrap();
    assert_eq!((back[0], back.len(), back.handle()), (77, 8, h));
    drop(back); // frees it

    assert_eq!(heap.resolve_u64(h).unwrap_err(), Error::StaleHandle);
    // Reuse the memory: the old handle still refuses.
    let again = heap.alloc_u64(8).unwrap();
    let h2 = again.handle();
    drop(again);
    assert_ne!(h, h2);
    assert_eq!(heap.resolve_u64(h).unwrap_err(), Error::StaleHandle);
    assert_eq!(
        heap.resolve_u64(Handle::from_raw(12345)).unwrap_err(),
        Error::InvalidBlock
    );
    assert_eq!(Handle::from_raw(h.to_raw()), h);
}

#[test]
fn explicit_free_reports_ok() {
    let mut arena = [0u8; 1024];
    let heap = Heap::new(&mut arena).unwrap();
    let b = heap.alloc_i16(3).unwrap();
    assert_eq!(b.free(), Ok(()));
    assert_eq!(heap.stats().live_blocks, 0);
}

#[test]
fn owned_heap_owns_its_memory() {
    let heap = Heap::owned(64 * 1024).unwrap();
    let mut sigs = heap.alloc_signature(10).unwrap();
    sigs[9].bytes[63] = 1;
    assert_eq!(heap.arena_len(), 64 * 1024);
    assert!(heap.stats().capacity > 60 * 1024);
    drop(sigs);
    // The heap can move (it is Send, too) once no block borrows it.
    let heap = std::thread::spawn(move || {
        let b = heap.alloc_u8(3).unwrap();
        assert_eq!(&b[..], &[0, 0, 0]);
        drop(b);
        heap
    })
    .join()
    .unwrap();
    heap.check().unwrap();
    assert_eq!(Heap::owned(10).unwrap_err(), Error::ArenaTooSmall);
    assert_eq!(Heap::owned(usize::MAX).unwrap_err(), Error::TooLarge);
}

/// A zeroed byte buffer from the global allocator; glibc's malloc returns
/// 16-aligned memory, which `Heap::attach` needs (it does not re-align).
fn aligned_buffer(len: usize) -> Vec<u8> {
    let v = vec![0u8; len];
    assert_eq!(
        v.as_ptr() as usize % 8,
        0,
        "test precondition: malloc is 8-aligned"
    );
    v
}

#[test]
fn attach_reopens_a_copied_heap_and_refuses_garbage() {
    let mut first = aligned_buffer(8192);
    let handle;
    {
        let heap = Heap::new(&mut first).unwrap();
        let mut b = heap.alloc_u64(3).unwrap();
        b.copy_from_slice(&[10, 20, 30]);
        handle = b.into_handle(); // stays allocated in the arena
    }
    // Copy the arena elsewhere (an account, a file, another process).
    let mut second = aligned_buffer(8192);
    second.copy_from_slice(&first);
    let heap = Heap::attach(&mut second).unwrap();
    let b = heap.resolve_u64(handle).unwrap();
    assert_eq!(&b[..], &[10, 20, 30]);
    drop(b);
    heap.check().unwrap();

    let mut garbage = aligned_buffer(8192);
    garbage.fill(0xA5);
    assert_eq!(Heap::attach(&mut garbage).unwrap_err(), Error::InvalidHeap);
    assert_eq!(
        Heap::attach(&mut first[1..]).unwrap_err(),
        Error::Misaligned
    );
}

#[test]
fn damaged_arena_is_refused_by_attach() {
    let mut arena = aligned_buffer(8192);
    let handle = {
        let heap = Heap::new(&mut arena).unwrap();
        heap.alloc_u64(4).unwrap().into_handle()
    };
    // Bits 3..31 of a handle are the block's offset (bits 0..2 carry the
    // heap's salt, see sdmm.h): smash the block's 8-byte header.
    let offset = (handle.to_raw() & 0xFFFF_FFF8) as usize;
    arena[offset..offset + 8].fill(0xFF);
    let err = Heap::attach(&mut arena).unwrap_err();
    assert!(
        matches!(err, Error::Corrupted | Error::InvalidHeap),
        "{err:?}"
    );
}

#[test]
fn blocks_work_where_slices_are_expected() {
    fn total<C: AsRef<[u32]>>(c: &C) -> u32 {
        c.as_ref().iter().sum()
    }
    let mut arena = aligned_buffer(8192);
    let heap = Heap::new(&mut arena).unwrap();
    let mut a = heap.alloc_u32_from(&[1, 2, 3]).unwrap();
    for x in &mut a {
        *x += 10;
    }
    assert_eq!(a, [11, 12, 13]);
    assert_eq!((&a).into_iter().count(), 3);
    assert_eq!(total(&a), 36);
    // Every element type has a `_from`; the copy is independent of the source.
    let src = [Pubkey { bytes: [3; 32] }; 5];
    let mut keys = heap.alloc_pubkey_from(&src).unwrap();
    keys[0].bytes[0] = 0;
    assert_eq!((src[0].bytes[0], keys[1], keys.len()), (3, src[1], 5));
    assert_eq!(heap.alloc_u128_from(&[U128::new(9)]).unwrap()[0].get(), 9);
    assert_eq!(heap.alloc_i8_from(&[-1, -2]).unwrap(), [-1i8, -2]);
    assert_eq!(heap.alloc_u16_from(&[]).unwrap_err(), Error::ZeroCount);
    // Larger than the heap can ever give: refused, nothing leaks.
    let huge = vec![0u64; 2048];
    assert_eq!(heap.alloc_u64_from(&huge).unwrap_err(), Error::TooLarge);
    drop((a, keys));
    assert_eq!(heap.stats().live_blocks, 0);
}

#[test]
fn handles_decode_and_print() {
    let mut arena = aligned_buffer(8192);
    let base = arena.as_ptr() as usize;
    let heap = Heap::new(&mut arena).unwrap();
    let first = heap.alloc_hash(1).unwrap();
    let block = heap.alloc_u64_from(&[5]).unwrap();
    let h = block.handle();
    // The offset is that of the block's 8-byte header, from the heap start.
    assert_eq!(
        block.as_ptr() as usize - base,
        h.offset() as usize + 8,
        "{h:?}"
    );
    assert_eq!(h.tag(), Some(sdmm_sys::Tag::U64));
    assert_eq!(first.handle().tag(), Some(sdmm_sys::Tag::Hash));
    assert_ne!(h.generation(), 0);
    assert_ne!(h.generation(), first.handle().generation());
    let shown = h.to_string();
    assert_eq!(
        shown,
        format!("sdmm:u64@{:#x}#g{}", h.offset(), h.generation())
    );
    let debug = format!("{h:?}");
    assert!(
        debug.contains(&format!("{:#018x}", h.to_raw())) && debug.contains("tag: u64"),
        "{debug}"
    );
    // Every tag round-trips through u32, and only tags do.
    for tag in sdmm_sys::Tag::ALL {
        assert_eq!(sdmm_sys::Tag::try_from(u32::from(*tag)), Ok(*tag));
    }
    assert!(sdmm_sys::Tag::try_from(0).is_err());
    assert_eq!(
        Handle::from_raw(0x0F << 32).to_string(),
        "sdmm:tag15@0x0#g0"
    );
}

// ---- one owner per block: claims ------------------------------------------

#[test]
fn blocks_resolve_side_by_side_from_a_shared_heap_reference() {
    let mut arena = aligned_buffer(8192);
    let heap = Heap::new(&mut arena).unwrap();
    let table: Vec<Handle> = (0..4u64)
        .map(|i| heap.alloc_u64_from(&[i; 3]).unwrap().into_handle())
        .collect();
    // Two records at once, and an allocation while they live: `&heap` only.
    let mut a = heap.resolve_u64(table[1]).unwrap();
    let mut b = heap.resolve_u64(table[3]).unwrap();
    let scratch = heap.alloc_u64_from(&[100]).unwrap();
    a[0] += b[2] + scratch[0];
    b[1] = 9;
    assert_eq!(a, [104, 1, 1]);
    assert_eq!(b, [3, 9, 3]);
    drop((a, b, scratch));
    // They were owners: dropping them freed them; the others are untouched.
    assert_eq!(heap.resolve_u64(table[1]).unwrap_err(), Error::StaleHandle);
    assert_eq!(heap.resolve_u64(table[0]).unwrap(), [0, 0, 0]);
    assert_eq!(heap.resolve_u64(table[2]).unwrap(), [2, 2, 2]);
    assert_eq!(heap.stats().live_blocks, 0);
    heap.check().unwrap();
}

#[test]
fn a_block_with_an_owner_cannot_be_resolved_again() {
    let mut arena = aligned_buffer(16 * 1024);
    let heap = Heap::new(&mut arena).unwrap();
    // Born claimed: alloc and alloc_from.
    let mut fresh = heap.alloc_u32(4).unwrap();
    let copied = heap.alloc_hash_from(&[Default::default()]).unwrap();
    assert_eq!(
        heap.resolve_u32(fresh.handle()).unwrap_err(),
        Error::Claimed
    );
    assert_eq!(
        heap.resolve_hash(copied.handle()).unwrap_err(),
        Error::Claimed
    );
    // The claim moves with a block that a resize moves.
    let _neighbour = heap.alloc_u8(1).unwrap();
    let before = fresh.handle();
    fresh.resize(500).unwrap();
    assert_ne!(fresh.handle(), before, "the block moved");
    assert_eq!(
        heap.resolve_u32(fresh.handle()).unwrap_err(),
        Error::Claimed
    );
    assert_eq!(heap.resolve_u32(before).unwrap_err(), Error::StaleHandle);
    // A resolved block is an owner as well.
    fresh[499] = 5;
    let h = fresh.into_handle();
    let owner = heap.resolve_u32(h).unwrap();
    assert_eq!(heap.resolve_u32(h).unwrap_err(), Error::Claimed);
    // The refusals changed nothing: the owner reads, detaches and frees as before.
    assert_eq!((owner.len(), owner[499]), (500, 5));
    let h = owner.into_handle();
    let again = heap.resolve_u32(h).unwrap();
    assert_eq!(again[499], 5);
    assert_eq!(again.free(), Ok(()));
    assert_eq!(heap.resolve_u32(h).unwrap_err(), Error::StaleHandle);
    drop(copied);
    heap.check().unwrap();
}

#[test]
fn a_leaked_owner_is_reclaimed_through_mut_heap() {
    let mut arena = aligned_buffer(8192);
    let h = {
        let mut heap = Heap::new(&mut arena).unwrap();
        let leaked = heap.alloc_u16_from(&[1, 2]).unwrap();
        let h = leaked.handle();
        std::mem::forget(leaked);
        assert_eq!(heap.resolve_u16(h).unwrap_err(), Error::Claimed);
        assert_eq!(heap.stats().live_blocks, 1, "leaked, still allocated");
        heap.reclaim(h).unwrap();
        heap.reclaim(h).unwrap(); // no claim to drop: no error either
        let back = heap.resolve_u16(h).unwrap();
        assert_eq!(back, [1, 2]);
        // Leak it again and leave the heap with the claim in its arena.
        std::mem::forget(back);
        assert_eq!(
            heap.reclaim(Handle::from_raw(12345)),
            Err(Error::InvalidBlock)
        );
        h
    };
    // Reopened elsewhere, the arena still says "claimed": the old owner is
    // gone with the old heap, and `&mut` on the new one proves it.
    let mut copy = aligned_buffer(8192);
    copy.copy_from_slice(&arena);
    let mut heap = Heap::attach(&mut copy).unwrap();
    assert_eq!(heap.resolve_u16(h).unwrap_err(), Error::Claimed);
    heap.reclaim(h).unwrap();
    assert_eq!(heap.resolve_u16(h).unwrap().free(), Ok(()));
    assert_eq!(heap.reclaim(h), Err(Error::StaleHandle));
    heap.check().unwrap();
}
