//! The Rust view of the type and status tables against the C library itself.
//!
//! This test includes the same generated table as the crate
//! (`$OUT_DIR/sdmm_tables.rs`, made by build.rs from the .def files) with its
//! own macros, so every row -- including one added later -- is checked:
//! tag values, element sizes and names as the compiled C reports them
//! (`sdmm_tag_size`, `sdmm_tag_name`, `sdmm_status_str`), and a real
//! allocation of every type through the safe API.
use std::ffi::CStr;
use std::mem::{align_of, offset_of, size_of};

// `crate::ffi::…` / `crate::Pubkey` paths of the generated table resolve here.
#[allow(unused_imports)]
use sdmm_sys::*;

fn c_str(p: *const std::ffi::c_char) -> &'static str {
    assert!(!p.is_null());
    // SAFETY: the C side returns pointers to static NUL-terminated literals.
    unsafe { CStr::from_ptr(p) }.to_str().expect("ASCII")
}

macro_rules! sdmm_element_aliases {
    ($( ($Camel:ident, $ty:ty, $name:literal) ),* $(,)?) => {
        #[test]
        fn element_aliases_are_the_c_structs() {
            $(
                assert_eq!(size_of::<sdmm_sys::$Camel>(), size_of::<$ty>(), $name);
                assert_eq!(align_of::<sdmm_sys::$Camel>(), align_of::<$ty>(), $name);
            )*
        }
    };
}

macro_rules! sdmm_types {
    ($( ($name:literal, $Camel:ident, $Block:ident, $elem:ty, $ctag:path, $tagv:literal, $log2:literal,
         $alloc:ident, $alloc_from:ident, $resolve:ident, $into:path) ),* $(,)?) => {
        #[test]
        fn every_tag_matches_the_c_library() {
            let mut seen = 0u32;
            $(
                let tag = Tag::$Camel;
                assert_eq!(tag.raw(), $ctag, $name);
                assert_eq!($Block::TAG, tag);
                // SAFETY: plain C functions over integers.
                let (c_size, c_name) = unsafe { (ffi::sdmm_tag_size(tag.raw()), c_str(ffi::sdmm_tag_name(tag.raw()))) };
                assert_eq!(c_size as usize, size_of::<$elem>(), "element size of {}", $name);
                assert_eq!(tag.size(), size_of::<$elem>(), $name);
                assert_eq!(c_name, $name);
                assert_eq!(tag.name(), $name);
                assert!(align_of::<$elem>() <= 8, $name);
                seen += 1;
            )*
            assert_eq!(seen, ffi::SDMM_TAG_COUNT - 1, "rows in the table vs SDMM_TAG_COUNT");
            assert_eq!(Tag::ALL.len() as u32, seen);
            // SAFETY: as above.
            unsafe {
                assert_eq!(ffi::sdmm_tag_size(ffi::SDMM_TAG_NONE), 0);
                assert_eq!(ffi::sdmm_tag_size(ffi::SDMM_TAG_COUNT), 0);
                assert_eq!(c_str(ffi::sdmm_tag_name(ffi::SDMM_TAG_NONE)), "none");
            }
        }

        #[test]
        fn every_type_allocates_resolves_and_resizes() {
            let mut arena = vec![0u8; 64 * 1024];
            let heap = Heap::new(&mut arena).unwrap();
            $(
                {
                    let b = heap.$alloc(5).expect($name);
                    assert_eq!(b.len(), 5);
                    assert!(b.iter().all(|e| *e == <$elem>::default()), "zero-filled {}", $name);
                    assert_eq!(b.as_ptr() as usize % align_of::<$elem>(), 0);
                    let h = b.into_handle();
                    assert_eq!(heap.stats().live_blocks, 1, "detached, still allocated");
                    let mut back = heap.$resolve(h).expect($name);
                    back.resize(9).expect($name);
                    assert_eq!(back.len(), 9);
                    assert!(back.iter().all(|e| *e == <$elem>::default()), "grown part zero {}", $name);
                    drop(back);
                    assert_eq!(heap.stats().live_blocks, 0);
                    assert_eq!(heap.$resolve(h).unwrap_err(), Error::StaleHandle, $name);
                    assert_eq!(heap.$alloc(0).unwrap_err(), Error::ZeroCount, $name);
                    assert_eq!(heap.$alloc(usize::MAX).unwrap_err(), Error::TooLarge, $name);
                    assert_eq!(heap.$alloc(u32::MAX as usize).unwrap_err(), Error::TooLarge, $name);
                }
            )*
            heap.check().unwrap();
            assert_eq!(heap.stats().live_blocks, 0);
        }

        #[test]
        fn every_type_is_built_from_slices_and_behaves_like_one() {
            use core::borrow::{Borrow, BorrowMut};
            let mut arena = vec![0u8; 64 * 1024];
            let heap = Heap::new(&mut arena).unwrap();
            $(
                {
                    // SAFETY: every element type is plain integers or bytes
                    // (any bit pattern is valid) and at most 64 bytes.
                    let v: $elem = unsafe { core::mem::transmute_copy(&[0x5Au8; 64]) };
                    assert_ne!(v, <$elem>::default(), $name);
                    let src = [<$elem>::default(), v, v];
                    let mut b = heap.$alloc_from(&src).expect($name);
                    assert_eq!(b.handle().tag(), Some(Tag::$Camel), $name);
                    assert_eq!(Tag::try_from($tagv), Ok(Tag::$Camel), $name);
                    assert_eq!(b, src, $name);
                    assert!(b == src[..], $name);
                    assert_eq!(b, &src[..], $name);
                    assert_eq!(AsRef::<[$elem]>::as_ref(&b), &src[..], $name);
                    assert_eq!(Borrow::<[$elem]>::borrow(&b), &src[..], $name);
                    assert_eq!((&b).into_iter().filter(|e| **e == v).count(), 2, $name);
                    for e in &mut b {
                        *e = v;
                    }
                    assert_eq!(b, [v; 3], $name);
                    AsMut::<[$elem]>::as_mut(&mut b)[0] = <$elem>::default();
                    BorrowMut::<[$elem]>::borrow_mut(&mut b)[2] = <$elem>::default();
                    assert_eq!(b, [<$elem>::default(), v, <$elem>::default()], $name);
                    assert_eq!(heap.$alloc_from(&[]).unwrap_err(), Error::ZeroCount, $name);
                }
            )*
            assert_eq!(heap.stats().live_blocks, 0);
            heap.check().unwrap();
        }
    };
}

// Block types are covered row by row through `sdmm_types!` above.
macro_rules! sdmm_block_type {
    ($($row:tt)*) => {};
}

macro_rules! sdmm_statuses {
    ($( ($Camel:ident, $cvalue:path, $value:literal, $message:literal) ),* $(,)?) => {
        #[test]
        fn every_status_matches_the_c_library() {
            let mut seen = 0u32;
            $(
                let e = Error::$Camel;
                assert_eq!(e.code(), $cvalue);
                // SAFETY: plain C function over an integer.
                let c_message = c_str(unsafe { ffi::sdmm_status_str(e.code()) });
                assert_eq!(c_message, $message);
                assert_eq!(e.to_string(), c_message, "Display is the C message");
                assert_eq!(Error::from_code(e.code()), Some(e));
                seen += 1;
            )*
            assert_eq!(seen, ffi::SDMM_STATUS_COUNT - 1, "every status but OK");
            assert_eq!(Error::ALL.len() as u32, seen);
            // SAFETY: as above.
            assert_eq!(c_str(unsafe { ffi::sdmm_status_str(ffi::SDMM_OK) }), "ok");
        }
    };
}

include!(concat!(env!("OUT_DIR"), "/sdmm_tables.rs"));

#[test]
fn block_layout_matches_the_contract() {
    // The contract's layout (DESIGN.md): 4 x u32, u64 handle, 8-byte union.
    assert_eq!(size_of::<ffi::sdmm_block>(), 32);
    assert_eq!(align_of::<ffi::sdmm_block>(), 8);
    assert_eq!(offset_of!(ffi::sdmm_block, tag), 0);
    assert_eq!(offset_of!(ffi::sdmm_block, status), 4);
    assert_eq!(offset_of!(ffi::sdmm_block, len), 8);
    assert_eq!(offset_of!(ffi::sdmm_block, reserved), 12);
    assert_eq!(offset_of!(ffi::sdmm_block, handle), 16);
    assert_eq!(offset_of!(ffi::sdmm_block, as_), 24);
    assert_eq!(size_of::<ffi::sdmm_block_data>(), 8);
    assert_eq!(size_of::<ffi::sdmm_stats>(), 64);
    // 128-bit integers are two u64 halves, 8-aligned on every target (not
    // Rust's u128, whose alignment differs between ABIs).
    assert_eq!((size_of::<U128>(), align_of::<U128>()), (16, 8));
    assert_eq!((size_of::<I128>(), align_of::<I128>()), (16, 8));
    assert_eq!((size_of::<Pubkey>(), align_of::<Pubkey>()), (32, 1));
    assert_eq!((size_of::<Signature>(), align_of::<Signature>()), (64, 1));
}

#[test]
fn by_value_and_pointer_forms_agree() {
    // The raw layer is usable directly: the by-value host form and the
    // pointer twin give the same block shape.
    let mut arena = vec![0u64; 1024];
    let mut heap: *mut ffi::sdmm_heap = std::ptr::null_mut();
    // SAFETY: the arena outlives every use of `heap` below.
    unsafe {
        assert_eq!(
            ffi::sdmm_heap_init(arena.as_mut_ptr().cast(), 8192, &mut heap),
            ffi::SDMM_OK
        );
        let a = ffi::sdmm_alloc_u64(heap, 10);
        let mut b = ffi::sdmm_block::default();
        assert_eq!(ffi::sdmm_alloc_u64_into(heap, 10, &mut b), ffi::SDMM_OK);
        assert_eq!(
            (a.status, a.tag, a.len),
            (ffi::SDMM_OK, ffi::SDMM_TAG_U64, 10)
        );
        assert_eq!(
            (b.status, b.tag, b.len),
            (ffi::SDMM_OK, ffi::SDMM_TAG_U64, 10)
        );
        assert_ne!(a.handle, b.handle);
        assert_eq!(ffi::sdmm_free(heap, a), ffi::SDMM_OK);
        assert_eq!(ffi::sdmm_free(heap, a), ffi::SDMM_ERR_DOUBLE_FREE);
        assert_eq!(ffi::sdmm_free_ref(heap, &b), ffi::SDMM_OK);
        assert_eq!(ffi::sdmm_heap_check(heap), ffi::SDMM_OK);
    }
}

#[test]
fn stats_take_every_field_of_the_c_struct() {
    let raw = ffi::sdmm_stats {
        capacity: 1,
        allocated: 2,
        peak_allocated: 3,
        live_blocks: 4,
        largest_free: 5,
        oom_count: 6,
        free_blocks: 7,
        control_bytes: 8,
    };
    let s = Stats::from(raw);
    assert_eq!(
        [
            s.capacity,
            s.allocated,
            s.peak_allocated,
            s.live_blocks,
            s.largest_free,
            s.oom_count,
            s.free_blocks,
            s.control_bytes
        ],
        [1, 2, 3, 4, 5, 6, 7, 8]
    );
    // What the heap reports is the C library's own numbers.
    let mut arena = vec![0u64; 512];
    // SAFETY: u8 view of the u64 buffer (no alignment or validity needs).
    let bytes = unsafe { std::slice::from_raw_parts_mut(arena.as_mut_ptr().cast::<u8>(), 4096) };
    let heap = Heap::new(bytes).unwrap();
    let _block = heap.alloc_u32(7).unwrap();
    assert_eq!(heap.stats().live_blocks, 1);
    assert_eq!(heap.stats().control_bytes + heap.stats().capacity, 4096);
}
