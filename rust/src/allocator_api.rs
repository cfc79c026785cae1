//! `allocator_api2::alloc::Allocator` for `&Heap` (feature `allocator-api2`).
//!
//! Every non-empty allocation is one `u8` block of the heap, made by the C
//! entry points meant for allocator adapters: `sdmm_alloc_aligned_uninit_into`
//! / `sdmm_alloc_aligned_into`, `sdmm_free_ptr` (one validation of the
//! pointer), `sdmm_block_from_ptr_into` + `sdmm_resize_into` for grow and
//! shrink. Zero-size layouts never reach the C side.

use core::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator, Layout};

use crate::{count_drop_failure, ffi, Heap};

/// The alignment of every block start the core picks by itself (a block
/// `sdmm_resize_into` moves lands there): resizing is used only for layouts
/// that ask for no more.
const NATURAL_ALIGN: usize = 8;

/// The non-null, well-aligned, never dereferenced pointer the trait asks for
/// a zero-size layout: the address `align` itself, without provenance.
#[inline]
fn dangling(layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
    // `align` is a power of two, so never 0: `NonNull::new` always succeeds.
    let ptr =
        NonNull::new(core::ptr::null_mut::<u8>().wrapping_add(layout.align())).ok_or(AllocError)?;
    Ok(NonNull::slice_from_raw_parts(ptr, 0))
}

/// The elements of a block the C side returned with `SDMM_OK`, as the slice
/// the trait returns (`len` bytes).
#[inline]
fn block_bytes(block: &ffi::sdmm_block, len: usize) -> Result<NonNull<[u8]>, AllocError> {
    // SAFETY: every member of the union is an element pointer; reading the
    // bytes as a pointer keeps the provenance C gave it (as RawBlock::from_c).
    let elements = unsafe { (&raw const block.as_).cast::<*mut u8>().read() };
    let elements = NonNull::new(elements).ok_or(AllocError)?;
    Ok(NonNull::slice_from_raw_parts(elements, len))
}

impl Heap<'_> {
    /// A `u8` block of `layout.size()` bytes aligned to `layout.align()`,
    /// zero-filled or left as the arena holds it.
    fn allocate_bytes(&self, layout: Layout, zeroed: bool) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return dangling(layout);
        }
        let heap = self.raw.as_ptr();
        let mut out = ffi::sdmm_block::default();
        // SAFETY: `heap` is this live heap, `out` a valid out-pointer; the
        // core checks size and alignment (a power of two, as Layout ensures).
        let status = unsafe {
            if zeroed {
                ffi::sdmm_alloc_aligned_into(heap, layout.size(), layout.align(), &mut out)
            } else {
                ffi::sdmm_alloc_aligned_uninit_into(heap, layout.size(), layout.align(), &mut out)
            }
        };
        if status != ffi::SDMM_OK {
            return Err(AllocError);
        }
        let bytes = block_bytes(&out, layout.size())?;
        debug_assert_eq!(bytes.cast::<u8>().as_ptr() as usize % layout.align(), 0);
        Ok(bytes)
    }

    /// Frees the non-empty block starting at `ptr`. The core validates the
    /// pointer (a live `u8` block start of this heap) and refuses anything
    /// else without changing the heap; such a refusal, which only damaged
    /// metadata can cause, is counted in [`crate::drop_free_failures`].
    fn deallocate_bytes(&self, ptr: NonNull<u8>) {
        // SAFETY: live heap; the core validates `ptr` before it touches the
        // block and changes nothing if it is refused.
        let status =
            unsafe { ffi::sdmm_free_ptr(self.raw.as_ptr(), ptr.as_ptr().cast(), ffi::SDMM_TAG_U8) };
        if status != ffi::SDMM_OK {
            count_drop_failure();
        }
    }

    /// `grow`, `grow_zeroed` and `shrink` in one: bytes up to the smaller
    /// size are kept, new bytes are zero (the core zero-fills what a resize
    /// adds, so `grow` gets that too).
    ///
    /// # Safety
    /// As the trait's `grow`/`shrink`: `ptr` is a block currently allocated
    /// by this heap through the trait, with `old` fitting it.
    unsafe fn reallocate_bytes(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if old.size() == 0 {
            // A dangling pointer: nothing to keep or free.
            return self.allocate_bytes(new, true);
        }
        if new.size() == 0 {
            self.deallocate_bytes(ptr);
            return dangling(new);
        }
        if old.align() <= NATURAL_ALIGN && new.align() <= NATURAL_ALIGN {
            let new_len = u32::try_from(new.size()).map_err(|_| AllocError)?;
            let heap = self.raw.as_ptr();
            let mut block = ffi::sdmm_block::default();
            let mut out = ffi::sdmm_block::default();
            // SAFETY: live heap, valid out-pointers. The core validates `ptr`
            // (a live u8 block start of this heap, which the caller promises)
            // and the block; a failed resize leaves the old block as it was,
            // as the trait requires. A moved block is 8-aligned, which is
            // enough for `new`.
            let status = unsafe {
                match ffi::sdmm_block_from_ptr_into(
                    heap,
                    ptr.as_ptr().cast(),
                    ffi::SDMM_TAG_U8,
                    &mut block,
                ) {
                    ffi::SDMM_OK => ffi::sdmm_resize_into(heap, &block, new_len, &mut out),
                    refused => refused,
                }
            };
            if status != ffi::SDMM_OK {
                return Err(AllocError);
            }
            return block_bytes(&out, new.size());
        }
        // A stronger alignment than the core keeps when it moves a block:
        // allocate, copy, free (the trait's default behaviour).
        let fresh = self.allocate_bytes(new, true)?;
        // SAFETY: `ptr` holds `old.size()` bytes (caller contract), `fresh`
        // at least `new.size()`; two distinct live blocks do not overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(
                ptr.as_ptr(),
                fresh.cast::<u8>().as_ptr(),
                old.size().min(new.size()),
            );
        }
        self.deallocate_bytes(ptr);
        Ok(fresh)
    }
}

/// `allocator_api2`'s collections over a heap: `Vec::new_in(&heap)`,
/// `Box::new_in(x, &heap)`, and every crate taking an
/// `allocator_api2::alloc::Allocator` (hashbrown, …) keep their memory in the
/// heap's arena, as `u8` blocks (`heap.stats()` counts them). Requires the
/// `allocator-api2` feature.
///
/// Any alignment works (blocks are aligned inside the arena); growing and
/// shrinking resize the block in place when the heap can, for alignments up
/// to 8. Zero-size allocations take no memory of the heap. A refused
/// allocation is `AllocError` (the collections' `try_reserve` and the like
/// return it; `push` and friends call `handle_alloc_error`).
///
/// ```
/// use allocator_api2::{boxed::Box, vec::Vec};
/// use sdmm_sys::Heap;
///
/// let mut arena = [0u8; 4096];
/// let heap = Heap::new(&mut arena)?;
/// let mut ids: Vec<u64, &Heap> = Vec::new_in(&heap);
/// ids.extend(0..100); // grows inside the arena
/// let name = Box::new_in(*b"sdmm", &heap);
/// assert_eq!((ids.iter().sum::<u64>(), &*name), (4950, b"sdmm"));
/// assert_eq!(heap.stats().live_blocks, 2);
/// assert!(ids.try_reserve(1 << 20).is_err()); // more than the arena: an error
/// drop((ids, name));
/// assert_eq!(heap.stats().live_blocks, 0);
/// # Ok::<(), sdmm_sys::Error>(())
/// ```
// SAFETY: a block returned by `allocate` is memory of the arena that stays
// valid and untouched by the heap until it is deallocated: the heap is
// borrowed for as long as the `&Heap` (and so every collection holding it)
// lives, so it can be neither dropped, moved nor reattached meanwhile, and
// every copy of the `&Heap` is the same heap. Blocks of one heap never
// overlap, and each is aligned as its layout asks (checked by the core).
unsafe impl Allocator for &Heap<'_> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.allocate_bytes(layout, false)
    }

    #[inline]
    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.allocate_bytes(layout, true)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // Zero-size layouts got a dangling pointer, which is no block.
        if layout.size() != 0 {
            self.deallocate_bytes(ptr);
        }
    }

    #[inline]
    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        debug_assert!(new_layout.size() >= old_layout.size());
        // SAFETY: the trait's contract for `grow` is the helper's.
        unsafe { self.reallocate_bytes(ptr, old_layout, new_layout) }
    }

    #[inline]
    unsafe fn grow_zeroed(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        debug_assert!(new_layout.size() >= old_layout.size());
        // SAFETY: as in `grow`; the helper zero-fills every new byte.
        unsafe { self.reallocate_bytes(ptr, old_layout, new_layout) }
    }

    #[inline]
    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        debug_assert!(new_layout.size() <= old_layout.size());
        // SAFETY: the trait's contract for `shrink` is the helper's.
        unsafe { self.reallocate_bytes(ptr, old_layout, new_layout) }
    }
}
