//! `#[global_allocator]` types over an sdmm heap.
//!
//! - [`GlobalHeap`]: over a fixed memory region (the Solana heap region, a
//!   linker-provided area, …).
//! - [`StaticHeap`]: owns its arena inline, for a `static` on hosts.
//!
//! Locking: on targets with threads every call takes a small spin lock (an
//! `AtomicBool` with backoff; with `std` it yields to the scheduler while
//! waiting, see `lock.rs`). On single-threaded targets (`target_os =
//! "solana"`, BPF/SBF architectures) there is no lock and no atomic
//! instruction at all.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;

use crate::{ffi, lock, Stats};

/// Start of the Solana VM heap region (`MM_HEAP_START`).
pub const SOLANA_HEAP_START: usize = 0x3_0000_0000;
/// Size of the Solana heap region a program gets by default (32 KiB).
pub const SOLANA_HEAP_LEN: usize = 32 * 1024;
/// Largest heap region a transaction can request (`RequestHeapFrame`, 256 KiB).
pub const SOLANA_HEAP_MAX_LEN: usize = 256 * 1024;

/// What every global heap shares: a lock, and nothing else.
///
/// No state outside the arena: the heap is created on first use by noticing
/// that the arena does not hold one yet (the core answers
/// `SDMM_ERR_INVALID_HEAP`), so on single-threaded targets a `static`
/// allocator is never written -- SBF programs have no writable statics -- and
/// the hot path pays nothing for the lazy start.
struct Inner {
    lock: lock::Lock,
    /// Whether the arena is all zero before first use (init may skip clearing).
    zeroed: bool,
    /// The length the heap may grow to when it runs out (0: it does not grow).
    reserve: usize,
}

/// How much a growable heap adds to its end each time it runs out.
const GROW_STEP: usize = 16 * 1024;

/// A refusal a larger heap may not give: out of memory, or too large for
/// the heap's current length (which may still be below its reserve).
fn runs_out(status: ffi::sdmm_status) -> bool {
    status == ffi::SDMM_ERR_OUT_OF_MEMORY || status == ffi::SDMM_ERR_TOO_LARGE
}

impl Inner {
    const fn new(zeroed: bool) -> Inner {
        Inner {
            lock: lock::Lock::new(),
            zeroed,
            reserve: 0,
        }
    }

    const fn growable(zeroed: bool, reserve: usize) -> Inner {
        Inner {
            lock: lock::Lock::new(),
            zeroed,
            reserve,
        }
    }

    /// Creates the heap in `arena[..len]` (laid out for the reserve, if
    /// any); false if none can live there.
    fn init(&self, arena: *mut u8, len: usize) -> bool {
        let flags = if self.zeroed {
            ffi::SDMM_INIT_ZEROED
        } else {
            0
        };
        let mut heap: *mut ffi::sdmm_heap = core::ptr::null_mut();
        // SAFETY: the constructors' contracts make `arena[..len]` ours (and
        // the reserve's bytes, once the heap grows into them).
        unsafe {
            ffi::sdmm_heap_init_reserve(arena.cast(), len, self.reserve, flags, &mut heap)
                == ffi::SDMM_OK
        }
    }

    /// After a request of `bytes` ran out: moves the heap's end by
    /// `GROW_STEP` (at most to the reserve). False if it cannot grow any
    /// more, or if the request could not fit even at the reserve (then
    /// nothing past the heap's end is touched: the refusal is returned).
    fn grow(&self, heap: *mut ffi::sdmm_heap, bytes: usize) -> bool {
        if self.reserve == 0 {
            return false;
        }
        let mut c = ffi::sdmm_stats::default();
        // SAFETY: a heap (the caller's allocation just ran on it), valid out-pointer.
        unsafe { ffi::sdmm_heap_counters(heap, &mut c) };
        // The heap's current length: its blocks, its control and the sentinel.
        let (Ok(current), Ok(control)) = (
            usize::try_from(c.capacity + c.control_bytes),
            usize::try_from(c.control_bytes),
        ) else {
            return false;
        };
        let most = self.reserve.saturating_sub(control);
        if current >= self.reserve
            || bytes.saturating_add(ffi::SDMM_BLOCK_HEADER_BYTES as usize) > most
        {
            return false;
        }
        let next = current.saturating_add(GROW_STEP).min(self.reserve);
        // SAFETY: the constructor's contract: the region up to the reserve is
        // ours once the program's memory reaches it (on Solana: the heap frame
        // the transaction requested; past it the access fails the transaction,
        // as running out of memory would).
        unsafe { ffi::sdmm_heap_grow(heap, next) == ffi::SDMM_OK }
    }

    /// Runs `op` on the heap with the lock held; if the arena holds no heap
    /// yet, creates it and runs `op` again. `op` returns its C status and
    /// its result.
    fn run<R>(
        &self,
        arena: *mut u8,
        len: usize,
        mut op: impl FnMut(*mut ffi::sdmm_heap) -> (ffi::sdmm_status, R),
    ) -> (ffi::sdmm_status, R) {
        let _guard = self.lock.lock();
        let first = op(arena.cast());
        if first.0 != ffi::SDMM_ERR_INVALID_HEAP || !self.init(arena, len) {
            return first;
        }
        op(arena.cast())
    }

    fn alloc(&self, arena: *mut u8, len: usize, layout: Layout, zero: bool) -> *mut u8 {
        let (status, out) = self.run(arena, len, |heap| {
            let mut out = ffi::sdmm_block::default();
            loop {
                // SAFETY: a heap or not (the core checks), valid out-pointer.
                let status = unsafe { alloc_layout(heap, layout, zero, &mut out) };
                if !runs_out(status) || !self.grow(heap, layout.size()) {
                    return (status, out);
                }
            }
        });
        if status == ffi::SDMM_OK {
            element_ptr(&out)
        } else {
            core::ptr::null_mut()
        }
    }

    fn dealloc(&self, arena: *mut u8, ptr: *mut u8) {
        let _guard = self.lock.lock();
        let heap: *mut ffi::sdmm_heap = arena.cast();
        // SAFETY: the core checks that the arena holds a heap and that `ptr`
        // is a live block start of it (one validation); anything else changes
        // nothing. dealloc cannot report an error: a refused pointer is ignored.
        unsafe {
            ffi::sdmm_free_ptr(heap, ptr.cast(), ffi::SDMM_TAG_U8);
        }
    }

    /// In-place growth or shrink when the alignment is the heap's natural one
    /// (8); `None` means "use the generic alloc + copy + free".
    fn realloc(
        &self,
        arena: *mut u8,
        ptr: *mut u8,
        layout: Layout,
        new_size: usize,
    ) -> Option<*mut u8> {
        if layout.align() > 8 {
            return None;
        }
        let new_len = u32::try_from(new_size).ok()?;
        let _guard = self.lock.lock();
        let heap: *mut ffi::sdmm_heap = arena.cast();
        let mut out = ffi::sdmm_block::default();
        loop {
            // SAFETY: the core checks the heap and `ptr` (one validation, by
            // pointer); on failure the old block is left intact, as
            // GlobalAlloc::realloc requires.
            let status = unsafe {
                ffi::sdmm_resize_ptr_into(heap, ptr.cast(), ffi::SDMM_TAG_U8, new_len, &mut out)
            };
            if status == ffi::SDMM_OK {
                return Some(element_ptr(&out));
            }
            if !runs_out(status) || !self.grow(heap, new_size) {
                return Some(core::ptr::null_mut());
            }
        }
    }

    /// The statistics, with the lock held for the free-list walk of
    /// `sdmm_heap_stats` only: the heap is validated with the O(1)
    /// `sdmm_heap_attach` (which writes nothing), not with the walk of every
    /// block that `sdmm_heap_check` does, so other threads wait for as many
    /// steps as the heap has free blocks, not live ones. (The stats walk is
    /// bounded and checks every link it follows, like every core call.)
    fn stats(&self, arena: *mut u8, len: usize) -> Option<Stats> {
        let (status, s) = self.run(arena, len, |heap| {
            let mut s = ffi::sdmm_stats::default();
            let mut attached: *mut ffi::sdmm_heap = core::ptr::null_mut();
            // SAFETY: `arena[..len]` is this allocator's (constructors'
            // contracts); attach only reads it and validates the control
            // structure, so stats only ever reads a heap.
            let status =
                unsafe { ffi::sdmm_heap_attach(heap.cast(), len.max(self.reserve), &mut attached) };
            if status == ffi::SDMM_OK {
                // SAFETY: a valid heap, valid out-pointer.
                unsafe { ffi::sdmm_heap_stats(attached, &mut s) };
            }
            (status, s)
        });
        (status == ffi::SDMM_OK).then(|| Stats::from(s))
    }

    fn check(&self, arena: *mut u8, len: usize) -> Result<(), crate::Error> {
        // SAFETY: the core validates the heap before walking it.
        let (status, ()) = self.run(arena, len, |heap| {
            (unsafe { ffi::sdmm_heap_check(heap) }, ())
        });
        crate::Error::check(status)
    }
}

/// A `u8` block for `layout` (its size and alignment), zero-filled or not:
/// the one call the global allocators and the `Allocator` impl make for a
/// layout.
///
/// # Safety
/// `heap` is a heap or an arena the core may refuse (it checks); `out` is
/// written on success and on failure.
pub(crate) unsafe fn alloc_layout(
    heap: *mut ffi::sdmm_heap,
    layout: Layout,
    zeroed: bool,
    out: &mut ffi::sdmm_block,
) -> ffi::sdmm_status {
    // SAFETY: the caller's contract; the core checks size and alignment (a
    // power of two, as Layout ensures).
    unsafe {
        if zeroed {
            ffi::sdmm_alloc_aligned_into(heap, layout.size(), layout.align(), out)
        } else {
            ffi::sdmm_alloc_aligned_uninit_into(heap, layout.size(), layout.align(), out)
        }
    }
}

fn element_ptr(block: &ffi::sdmm_block) -> *mut u8 {
    // SAFETY: every union member is a pointer; read it as one (see RawBlock::elements).
    unsafe { (&raw const block.as_).cast::<*mut u8>().read() }
}

/// A `#[global_allocator]` over a fixed memory region, created on first use.
///
/// # Solana programs
///
/// The SVM maps a zeroed heap region at [`SOLANA_HEAP_START`] of 32 KiB
/// ([`SOLANA_HEAP_LEN`]), or up to 256 KiB when the transaction requests a
/// bigger heap frame (`ComputeBudgetInstruction::request_heap_frame`). The
/// default Solana allocator is a bump allocator that never frees; sdmm
/// replaces it with a real `free`. The `entrypoint!` macro of
/// `solana-program` installs the bump allocator unless the program's crate
/// has a feature named `custom-heap` enabled (the `custom-heap` convention),
/// so a program:
///
/// 1. declares and enables the feature in its `Cargo.toml`:
///    ```toml
///    [features]
///    default = ["custom-heap"]
///    custom-heap = []
///
///    [dependencies]
///    sdmm-sys = { version = "0.1", default-features = false }
///    ```
/// 2. installs sdmm as the global allocator (the region must be no larger
///    than the heap frame every transaction of the program requests):
///    ```
///    #[cfg(target_os = "solana")]
///    #[global_allocator]
///    // SAFETY: the SVM maps SOLANA_HEAP_LEN zeroed bytes at SOLANA_HEAP_START
///    // for the whole invocation, and nothing else uses that region.
///    static ALLOC: sdmm_sys::GlobalHeap = unsafe {
///        sdmm_sys::GlobalHeap::from_region(sdmm_sys::SOLANA_HEAP_START, sdmm_sys::SOLANA_HEAP_LEN, true)
///    };
///    ```
///
/// On Solana no lock is taken (single-threaded VM), and with `zeroed = true`
/// fresh memory is not cleared again. All heap state lives in the region:
/// the `static` itself is never written (SBF programs have no writable
/// statics), and the heap is created by the first allocation.
pub struct GlobalHeap {
    start: usize,
    len: usize,
    inner: Inner,
}

// SAFETY: all mutation of the region happens with
// `inner.lock` held (or on a single-threaded target).
unsafe impl Sync for GlobalHeap {}

impl GlobalHeap {
    /// An allocator over `len` bytes at address `start` (8-aligned).
    ///
    /// # Safety
    /// `start..start + len` must be valid, writable memory for the rest of
    /// the program, used by nothing but this allocator; if `zeroed`, it must
    /// be all zero before the first allocation.
    #[must_use]
    pub const unsafe fn from_region(start: usize, len: usize, zeroed: bool) -> GlobalHeap {
        GlobalHeap {
            start,
            len,
            inner: Inner::new(zeroed),
        }
    }

    /// An allocator that starts over `len` bytes at `start` and, each time it
    /// runs out, moves its end by 16 KiB, up to `reserve` bytes — on Solana,
    /// into the larger heap frame a transaction requested
    /// (`ComputeBudgetInstruction::request_heap_frame`), which the SDK's own
    /// allocator ignores. The heap is laid out for the reserve from the
    /// start: its block-start map (`reserve / 64` bytes) comes out of the
    /// first `len` bytes.
    ///
    /// ```
    /// #[cfg(target_os = "solana")]
    /// #[global_allocator]
    /// // SAFETY: the SVM maps the requested heap frame (32 KiB by default)
    /// // at SOLANA_HEAP_START; past the frame an access fails the
    /// // transaction, as running out would.
    /// static ALLOC: sdmm_sys::GlobalHeap = unsafe {
    ///     sdmm_sys::GlobalHeap::from_region_growable(
    ///         sdmm_sys::SOLANA_HEAP_START,
    ///         sdmm_sys::SOLANA_HEAP_LEN,
    ///         sdmm_sys::SOLANA_HEAP_MAX_LEN,
    ///         true,
    ///     )
    /// };
    /// ```
    ///
    /// # Safety
    /// As [`GlobalHeap::from_region`] for `start..start + len`; the bytes up
    /// to `start + reserve` are used by nothing else, and each becomes
    /// memory the program may write before the heap grows over it — or
    /// touching it ends the program (the Solana heap frame: the transaction
    /// fails exactly as when it runs out of memory).
    #[must_use]
    pub const unsafe fn from_region_growable(
        start: usize,
        len: usize,
        reserve: usize,
        zeroed: bool,
    ) -> GlobalHeap {
        GlobalHeap {
            start,
            len,
            inner: Inner::growable(zeroed, reserve),
        }
    }

    fn arena(&self) -> *mut u8 {
        // The region is given as an address (e.g. the Solana heap region) by
        // the constructor's contract: there is no Rust allocation to take
        // provenance from.
        self.start as *mut u8
    }

    /// Statistics of the heap (`None` if the region cannot hold a heap).
    ///
    /// Holds the allocator's lock for a walk of the free lists (O(free
    /// blocks), as `sdmm_heap_stats`); the heap is validated in O(1) first,
    /// not by the walk of every block that [`GlobalHeap::check`] does.
    #[must_use]
    pub fn stats(&self) -> Option<Stats> {
        self.inner.stats(self.arena(), self.len)
    }

    /// Verifies every invariant of the heap.
    ///
    /// # Errors
    /// [`crate::Error::Corrupted`] if something else wrote into the region,
    /// [`crate::Error::InvalidHeap`] if the region cannot hold a heap.
    pub fn check(&self) -> Result<(), crate::Error> {
        self.inner.check(self.arena(), self.len)
    }
}

// SAFETY: blocks come from the sdmm heap with the requested size and
// alignment, stay valid until freed, and are never handed out twice.
unsafe impl GlobalAlloc for GlobalHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.inner.alloc(self.arena(), self.len, layout, false)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.inner.alloc(self.arena(), self.len, layout, true)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        self.inner.dealloc(self.arena(), ptr);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match self.inner.realloc(self.arena(), ptr, layout, new_size) {
            Some(p) => p,
            // SAFETY: forwarded caller contract.
            None => unsafe { realloc_by_copy(self, ptr, layout, new_size) },
        }
    }
}

/// A `#[global_allocator]` (or any shared allocator) that owns its arena of
/// `BYTES` bytes inline: a `static` of it lives in `.bss`, zero at start, so
/// the heap never clears fresh memory twice.
///
/// Not for Solana programs: the arena is a writable static, which SBF
/// programs do not have; use [`GlobalHeap::from_region`] there.
///
/// ```
/// use std::alloc::{GlobalAlloc, Layout};
///
/// // In a program: #[global_allocator] static A: sdmm_sys::StaticHeap<{ 1 << 20 }> = ...;
/// static A: sdmm_sys::StaticHeap<{ 64 * 1024 }> = sdmm_sys::StaticHeap::new();
///
/// let layout = Layout::from_size_align(100, 16).unwrap();
/// // SAFETY: non-zero size; freed with the same allocator and layout.
/// unsafe {
///     let p = A.alloc(layout);
///     assert!(!p.is_null() && p as usize % 16 == 0);
///     A.dealloc(p, layout);
/// }
/// assert_eq!(A.stats().unwrap().live_blocks, 0);
/// ```
#[repr(C, align(16))]
pub struct StaticHeap<const BYTES: usize> {
    arena: UnsafeCell<[u8; BYTES]>,
    inner: Inner,
}

// SAFETY: the arena is only touched with `inner.lock` held
// (or on a single-threaded target).
unsafe impl<const BYTES: usize> Sync for StaticHeap<BYTES> {}

impl<const BYTES: usize> StaticHeap<BYTES> {
    /// An allocator with a zeroed arena of `BYTES` bytes; the heap is
    /// created on the first allocation. `BYTES` must be at least
    /// `ffi::SDMM_MIN_ARENA_BYTES` for any allocation to succeed.
    #[must_use]
    pub const fn new() -> StaticHeap<BYTES> {
        StaticHeap {
            arena: UnsafeCell::new([0; BYTES]),
            inner: Inner::new(true),
        }
    }

    fn arena(&self) -> *mut u8 {
        self.arena.get().cast()
    }

    /// Statistics of the heap (`None` if `BYTES` cannot hold a heap).
    ///
    /// Holds the allocator's lock, so every thread's allocations wait, for a
    /// walk of the free lists only (O(free blocks), as `sdmm_heap_stats`):
    /// the heap is validated in O(1) first, not by the walk of every block
    /// that [`StaticHeap::check`] does (and holds the lock for).
    ///
    /// ```
    /// use std::alloc::{GlobalAlloc, Layout};
    ///
    /// static A: sdmm_sys::StaticHeap<{ 64 * 1024 }> = sdmm_sys::StaticHeap::new();
    /// assert_eq!(A.stats().unwrap().live_blocks, 0); // creates the heap
    /// let layout = Layout::from_size_align(40, 8).unwrap();
    /// // SAFETY: non-zero size; freed below with the same allocator and layout.
    /// let p = unsafe { A.alloc(layout) };
    /// let s = A.stats().unwrap();
    /// assert_eq!((s.live_blocks, s.allocated), (1, 48));
    /// // SAFETY: allocated above with `layout`.
    /// unsafe { A.dealloc(p, layout) };
    /// ```
    #[must_use]
    pub fn stats(&self) -> Option<Stats> {
        self.inner.stats(self.arena(), BYTES)
    }

    /// Verifies every invariant of the heap.
    ///
    /// # Errors
    /// [`crate::Error::Corrupted`], or [`crate::Error::InvalidHeap`] if
    /// `BYTES` cannot hold a heap.
    pub fn check(&self) -> Result<(), crate::Error> {
        self.inner.check(self.arena(), BYTES)
    }
}

impl<const BYTES: usize> Default for StaticHeap<BYTES> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: as for GlobalHeap.
unsafe impl<const BYTES: usize> GlobalAlloc for StaticHeap<BYTES> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.inner.alloc(self.arena(), BYTES, layout, false)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.inner.alloc(self.arena(), BYTES, layout, true)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        self.inner.dealloc(self.arena(), ptr);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match self.inner.realloc(self.arena(), ptr, layout, new_size) {
            Some(p) => p,
            // SAFETY: forwarded caller contract.
            None => unsafe { realloc_by_copy(self, ptr, layout, new_size) },
        }
    }
}

/// GlobalAlloc's default realloc (alloc, copy, free), for over-aligned blocks.
///
/// # Safety
/// The contract of `GlobalAlloc::realloc`.
unsafe fn realloc_by_copy(
    a: &impl GlobalAlloc,
    ptr: *mut u8,
    layout: Layout,
    new_size: usize,
) -> *mut u8 {
    let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
        return core::ptr::null_mut();
    };
    // SAFETY: caller contract: new_size is non-zero and valid for the align.
    let new = unsafe { a.alloc(new_layout) };
    if !new.is_null() {
        // SAFETY: both blocks are live and at least min(old, new) bytes long.
        unsafe {
            core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            a.dealloc(ptr, layout);
        }
    }
    new
}
