//! `allocator_api2::alloc::Allocator` for `&Heap` and `&SharedHeap`
//! (feature `allocator-api2`).
//!
//! Every non-empty allocation is one claimed `u8` block of the heap:
//! `sdmm_alloc_claimed_into` for zero-filled memory of alignment up to 8,
//! otherwise the C entry points meant for allocator adapters
//! (`sdmm_alloc_aligned_uninit_into` / `sdmm_alloc_aligned_into`) followed
//! by `sdmm_claim_into`; `sdmm_free_ptr` (one validation of the pointer) to
//! free, `sdmm_block_from_ptr_into` + `sdmm_resize_into` (which keeps the
//! claim) for grow and shrink. Zero-size layouts never reach the C side.

use core::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator, Layout};

use crate::{count_drop_failure, ffi, Access, Heap, Local, Locked, SharedHeap};

/// The alignment of every block start the core picks by itself (a block
/// `sdmm_resize_into` moves lands there): resizing is used only for layouts
/// that ask for no more.
const NATURAL_ALIGN: usize = 8;

/// Up to this many bytes, `allocate` takes a zero-filled block born claimed
/// (`sdmm_alloc_claimed_into`) rather than an uninitialised one claimed
/// afterwards (`sdmm_claim_into`, which validates the block a second time).
/// Measured with callgrind, an allocate + deallocate pair of 16..256 bytes:
/// 324 instructions zero-filled and born claimed, 485 uninitialised and
/// then claimed (330 before blocks were claimed). glibc's AVX2 memset
/// clears 4 KiB in roughly the 150 instructions the second validation costs.
const ZERO_FILL_INSTEAD_OF_CLAIM: usize = 4096;

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

/// The allocator operations on one heap: its C heap and how it is reached
/// ([`Access`]: no lock for a `Heap`, the lock and the counters for a
/// `SharedHeap`).
struct Raw<A: Access> {
    heap: NonNull<ffi::sdmm_heap>,
    ctx: A::Ctx,
}

// By hand: a derive would ask `A: Copy` of the marker types.
impl<A: Access> Clone for Raw<A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A: Access> Copy for Raw<A> {}

impl<A: Access> Raw<A> {
    /// A `u8` block of `layout.size()` bytes aligned to `layout.align()`,
    /// zero-filled or left as the arena holds it, and claimed: like every
    /// block this crate hands out, it has one owner, so `resolve_u8` cannot
    /// make a second one from its handle (which safe code could guess).
    ///
    /// # Safety
    /// `heap` is a live heap and `ctx` its context, both alive and in place
    /// for as long as the block is allocated.
    unsafe fn allocate_bytes(
        self,
        layout: Layout,
        zeroed: bool,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return dangling(layout);
        }
        let heap = self.heap.as_ptr();
        let mut out = ffi::sdmm_block::default();
        // SAFETY: caller contract.
        let guard = unsafe { A::enter(self.ctx) };
        let status = match u32::try_from(layout.size()) {
            // The common case, the natural alignment: born claimed, one
            // call. Also for `allocate` (uninitialised) up to
            // ZERO_FILL_INSTEAD_OF_CLAIM bytes: clearing them costs less than
            // the separate claim below.
            // SAFETY: live heap, valid out-pointer.
            Ok(n)
                if layout.align() <= NATURAL_ALIGN
                    && (zeroed || layout.size() <= ZERO_FILL_INSTEAD_OF_CLAIM) =>
            unsafe { ffi::sdmm_alloc_claimed_into(heap, ffi::SDMM_TAG_U8, n, &mut out) },
            // The C contract has no claimed twin of the aligned and the
            // uninitialised allocation: allocate, then claim.
            _ => {
                // SAFETY: live heap, valid out-pointer.
                let status = unsafe { crate::global::alloc_layout(heap, layout, zeroed, &mut out) };
                if status == ffi::SDMM_OK {
                    let mut claimed = ffi::sdmm_block::default();
                    // SAFETY: live heap, the block just made (no owner yet).
                    let claim = unsafe {
                        ffi::sdmm_claim_into(heap, out.handle, ffi::SDMM_TAG_U8, &mut claimed)
                    };
                    if claim != ffi::SDMM_OK {
                        // Only damaged metadata gets here: give the block back.
                        // SAFETY: live heap; the core validates the block.
                        unsafe { ffi::sdmm_free_ref(heap, &out) };
                        return Err(AllocError);
                    }
                }
                status
            }
        };
        drop(guard);
        if status != ffi::SDMM_OK {
            return Err(AllocError);
        }
        let bytes = block_bytes(&out, layout.size())?;
        debug_assert_eq!(bytes.cast::<u8>().as_ptr() as usize % layout.align(), 0);
        Ok(bytes)
    }

    /// Frees the non-empty block of `size` bytes starting at `ptr`. The core
    /// validates the pointer (a live `u8` block start of this heap) and
    /// refuses anything else without changing the heap; such a refusal,
    /// which only damaged metadata can cause, is counted in
    /// [`crate::drop_free_failures`].
    ///
    /// # Safety
    /// As [`Raw::allocate_bytes`].
    unsafe fn deallocate_bytes(self, ptr: NonNull<u8>, _size: usize) {
        // SAFETY: caller contract.
        let guard = unsafe { A::enter(self.ctx) };
        // SAFETY: live heap; the core validates `ptr` before it touches the
        // block and changes nothing if it is refused.
        let status = unsafe {
            ffi::sdmm_free_ptr(self.heap.as_ptr(), ptr.as_ptr().cast(), ffi::SDMM_TAG_U8)
        };
        drop(guard);
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
    /// by this heap through the trait, with `old` fitting it; and as
    /// [`Raw::allocate_bytes`].
    unsafe fn reallocate_bytes(
        self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if old.size() == 0 {
            // A dangling pointer: nothing to keep or free.
            // SAFETY: caller contract.
            return unsafe { self.allocate_bytes(new, true) };
        }
        if new.size() == 0 {
            // SAFETY: caller contract.
            unsafe { self.deallocate_bytes(ptr, old.size()) };
            return dangling(new);
        }
        if old.align() <= NATURAL_ALIGN && new.align() <= NATURAL_ALIGN {
            let new_len = u32::try_from(new.size()).map_err(|_| AllocError)?;
            let heap = self.heap.as_ptr();
            let mut out = ffi::sdmm_block::default();
            // SAFETY: caller contract.
            let guard = unsafe { A::enter(self.ctx) };
            // SAFETY: live heap, valid out-pointer. The core validates `ptr`
            // (a live u8 block start of this heap, which the caller promises)
            // once; a failed resize leaves the old block as it was, as the
            // trait requires. A moved block is 8-aligned, which is enough
            // for `new`, and keeps its claim.
            let status = unsafe {
                ffi::sdmm_resize_ptr_into(
                    heap,
                    ptr.as_ptr().cast(),
                    ffi::SDMM_TAG_U8,
                    new_len,
                    &mut out,
                )
            };
            drop(guard);
            if status != ffi::SDMM_OK {
                return Err(AllocError);
            }
            return block_bytes(&out, new.size());
        }
        // A stronger alignment than the core keeps when it moves a block:
        // allocate, copy, free (the trait's default behaviour).
        // SAFETY: caller contract.
        let fresh = unsafe { self.allocate_bytes(new, true)? };
        // SAFETY: `ptr` holds `old.size()` bytes (caller contract), `fresh`
        // at least `new.size()`; two distinct live blocks do not overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(
                ptr.as_ptr(),
                fresh.cast::<u8>().as_ptr(),
                old.size().min(new.size()),
            );
            self.deallocate_bytes(ptr, old.size());
        }
        Ok(fresh)
    }
}

/// The trait's methods, forwarded to [`Raw`] by both impls.
macro_rules! allocator_methods {
    () => {
        #[inline]
        fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
            // SAFETY: the heap is borrowed for as long as `self` lives (see
            // the impl's SAFETY comment), and so is its context.
            unsafe { self.raw_alloc().allocate_bytes(layout, false) }
        }

        #[inline]
        fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
            // SAFETY: as in `allocate`.
            unsafe { self.raw_alloc().allocate_bytes(layout, true) }
        }

        #[inline]
        unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
            // Zero-size layouts got a dangling pointer, which is no block.
            if layout.size() != 0 {
                // SAFETY: as in `allocate`; `ptr` is a block of this heap.
                unsafe { self.raw_alloc().deallocate_bytes(ptr, layout.size()) }
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
            unsafe {
                self.raw_alloc()
                    .reallocate_bytes(ptr, old_layout, new_layout)
            }
        }

        #[inline]
        unsafe fn grow_zeroed(
            &self,
            ptr: NonNull<u8>,
            old_layout: Layout,
            new_layout: Layout,
        ) -> Result<NonNull<[u8]>, AllocError> {
            // SAFETY: the contracts are the same; `grow` zero-fills every new
            // byte already (the helper does), which is what this one adds.
            unsafe { self.grow(ptr, old_layout, new_layout) }
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
            unsafe {
                self.raw_alloc()
                    .reallocate_bytes(ptr, old_layout, new_layout)
            }
        }
    };
}

impl Heap<'_> {
    #[inline]
    fn raw_alloc(&self) -> Raw<Local> {
        Raw {
            heap: self.raw,
            ctx: (),
        }
    }
}

impl SharedHeap<'_> {
    #[inline]
    fn raw_alloc(&self) -> Raw<Locked> {
        Raw {
            heap: self.raw(),
            ctx: self.ctx(),
        }
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
// Each is claimed, so `resolve_u8` refuses its handle (`Error::Claimed`):
// no typed block can alias a collection's memory.
unsafe impl Allocator for &Heap<'_> {
    allocator_methods!();
}

/// `allocator_api2`'s collections over a [`SharedHeap`], from any thread:
/// as for `&Heap`, with every call taking the heap's lock (and counted in
/// its [`SharedHeap::counters`]). `&SharedHeap` is `Send` and `Sync`, so a
/// `Vec<T, &SharedHeap>` of `Send` elements is `Send`. Requires the
/// `allocator-api2` feature.
///
/// ```
/// use allocator_api2::vec::Vec;
/// use sdmm_sys::SharedHeap;
///
/// let heap = SharedHeap::owned(64 * 1024)?;
/// let lists: std::vec::Vec<Vec<u32, &SharedHeap>> = std::thread::scope(|s| {
///     let workers: std::vec::Vec<_> = (0..4u32)
///         .map(|t| {
///             let heap = &heap;
///             s.spawn(move || {
///                 let mut v = Vec::new_in(heap);
///                 v.extend((0..100).map(|i| i * t));
///                 v
///             })
///         })
///         .collect();
///     workers.into_iter().map(|w| w.join().unwrap()).collect()
/// });
/// assert_eq!(lists.iter().map(|v| v.iter().sum::<u32>()).sum::<u32>(), 4950 * 6);
/// assert_eq!(heap.counters().live_blocks, 4);
/// drop(lists);
/// assert_eq!(heap.counters().live_blocks, 0);
/// # Ok::<(), sdmm_sys::Error>(())
/// ```
// SAFETY: as for `&Heap`; and every call on the heap's metadata holds the
// shared heap's lock, so calls from several threads never overlap.
unsafe impl Allocator for &SharedHeap<'_> {
    allocator_methods!();
}
