//! [`SharedHeap`]: a [`Heap`] behind a lock, `Sync`, with the same typed API,
//! and its O(1) [`Counters`].

use core::fmt;
use core::ptr::NonNull;

use crate::{ffi, lock, Error, Handle, Heap, Stats};

/// A heap that threads share: a [`Heap`] with a spin lock inside (like
/// talc's `Talck`), `Sync`, with the typed API of `Heap` — `alloc_<type>`,
/// `alloc_<type>_from`, `resolve_<type>`, [`stats`](SharedHeap::stats),
/// [`check`](SharedHeap::check) — and O(1) [`counters`](SharedHeap::counters).
///
/// Its blocks are `U64Block<'_, Locked>` and so on ([`crate::Locked`]): every
/// call that touches the heap's metadata (allocation, `resolve_*`, and a
/// block's `resize`, `free`, `into_handle` and drop) takes the lock for that
/// one C call, so the blocks are `Send` and `Sync`: made on one thread, they
/// can be filled, sent and dropped on others. Reading and writing a block's
/// elements takes no lock: the block is their only owner. Nothing of this
/// needs `std` (the lock spins with backoff; with `std` it also yields to
/// the scheduler), and on single-threaded targets (Solana, BPF) there is no
/// lock at all.
///
/// ```
/// use sdmm_sys::{Heap, SharedHeap};
///
/// let heap = SharedHeap::new(Heap::owned(64 * 1024)?);
/// let mut handles = std::thread::scope(|s| {
///     let workers: Vec<_> = (0..4u64)
///         .map(|t| {
///             let heap = &heap;
///             s.spawn(move || {
///                 let block = heap.alloc_u64_from(&[t; 10]).unwrap();
///                 block.into_handle() // keep it in the heap, hand back the handle
///             })
///         })
///         .collect();
///     workers.into_iter().map(|w| w.join().unwrap()).collect::<Vec<_>>()
/// });
/// assert_eq!(heap.counters().live_blocks, 4); // O(1), no walk
/// let blocks: Vec<_> = handles.drain(..).map(|h| heap.resolve_u64(h).unwrap()).collect();
/// assert_eq!(blocks.iter().map(|b| b.iter().sum::<u64>()).sum::<u64>(), 60);
/// // Blocks are Send: another thread may drop them (taking the lock).
/// std::thread::scope(|s| s.spawn(move || drop(blocks)).join().unwrap());
/// assert_eq!(heap.counters().live_blocks, 0);
/// # Ok::<(), sdmm_sys::Error>(())
/// ```
///
/// With the `allocator-api2` feature, `&SharedHeap` is an
/// `allocator_api2::alloc::Allocator` too (`Vec::new_in(&shared)` from any
/// thread).
pub struct SharedHeap<'arena> {
    state: SharedState,
    heap: Heap<'arena>,
}

// SAFETY: every use of `heap` through `&SharedHeap` -- the methods below, the
// generated alloc_*/resolve_* methods, the `Locked` blocks and the allocator
// impl -- holds `state.lock` for the C call; nothing else in it is
// mutable. (`Send` comes from `Heap`.)
unsafe impl Sync for SharedHeap<'_> {}

/// The lock of a shared heap; `Locked` blocks point here.
/// (`pub` in a private module: named by the sealed `Access` trait's impl,
/// reachable by no user.)
pub struct SharedState {
    lock: lock::Lock,
}

/// The lock of a [`SharedState`], held.
pub struct StateGuard<'a> {
    _lock: lock::Guard<'a>,
}

impl SharedState {
    #[inline]
    pub(crate) fn enter(&self) -> StateGuard<'_> {
        StateGuard {
            _lock: self.lock.lock(),
        }
    }
}

/// The figures of a heap that cost O(1) to read, from
/// [`SharedHeap::counters`] or [`Heap::counters`]: the core keeps them in its
/// control block (`sdmm_heap_counters`), so reading them walks nothing and a
/// shared heap holds its lock just long enough to copy five words. They are
/// exactly what [`Stats`] says for the same fields.
///
/// ```
/// use sdmm_sys::{Counters, Error, Heap, SharedHeap};
///
/// let mut arena = [0u8; 4096];
/// let heap = SharedHeap::new(Heap::new(&mut arena)?);
/// let block = heap.alloc_u64(10)?; // 8 + 80 bytes
/// let c: Counters = heap.counters();
/// assert_eq!((c.live_blocks, c.allocated, c.oom_count), (1, 88, 0));
/// assert_eq!(c.capacity, heap.stats().capacity);
/// assert!(c.allocated <= heap.stats().allocated); // the walk agrees
/// let half = c.capacity as usize / 2;
/// let big = heap.alloc_u8(half)?;
/// assert_eq!(heap.alloc_u8(half).unwrap_err(), Error::OutOfMemory); // counted
/// drop((block, big));
/// let c = heap.counters();
/// assert_eq!((c.live_blocks, c.allocated, c.oom_count), (0, 0, 1));
/// assert!(c.peak_allocated >= 88 + half as u64);
/// # Ok::<(), sdmm_sys::Error>(())
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Counters {
    /// Bytes available for blocks: the arena minus the control structures.
    pub capacity: u64,
    /// Bytes in live blocks, their headers included.
    pub allocated: u64,
    /// High-water mark of the bytes taken from the heap: live blocks and
    /// recently freed blocks resting in its exact-size caches.
    pub peak_allocated: u64,
    /// Blocks allocated and not yet freed (detached ones included).
    pub live_blocks: u64,
    /// Allocations (and resizes) refused with [`Error::OutOfMemory`].
    pub oom_count: u64,
}

impl<'arena> SharedHeap<'arena> {
    /// Shares `heap` between threads. One walk of its free lists
    /// (`stats`) starts the [`Counters`], so a heap that already holds
    /// blocks ([`Heap::attach`], detached blocks) is counted right.
    ///
    /// ```
    /// use sdmm_sys::{Heap, SharedHeap};
    ///
    /// let mut arena = vec![0u8; 8192];
    /// let heap = Heap::new(&mut arena)?;
    /// let kept = heap.alloc_u64(4)?.into_handle(); // detached, still allocated
    /// let shared = SharedHeap::new(heap);
    /// assert_eq!(shared.counters().live_blocks, 1); // counted from the start
    /// assert_eq!(shared.resolve_u64(kept)?.len(), 4);
    /// # Ok::<(), sdmm_sys::Error>(())
    /// ```
    #[must_use]
    pub fn new(heap: Heap<'arena>) -> SharedHeap<'arena> {
        SharedHeap {
            state: SharedState {
                lock: lock::Lock::new(),
            },
            heap,
        }
    }

    /// The heap again, for one thread (no lock); its blocks are gone (they
    /// borrow the shared heap), and detached ones are still in its arena.
    ///
    /// ```
    /// use sdmm_sys::{Heap, SharedHeap};
    ///
    /// let mut arena = [0u8; 4096];
    /// let shared = SharedHeap::new(Heap::new(&mut arena)?);
    /// let h = shared.alloc_u32_from(&[7])?.into_handle();
    /// let heap: Heap<'_> = shared.into_inner();
    /// assert_eq!(heap.resolve_u32(h)?, [7]);
    /// # Ok::<(), sdmm_sys::Error>(())
    /// ```
    #[must_use]
    pub fn into_inner(self) -> Heap<'arena> {
        self.heap
    }

    /// The size in bytes of the arena the heap manages.
    ///
    /// ```
    /// let mut arena = [0u8; 1003];
    /// let heap = sdmm_sys::SharedHeap::new(sdmm_sys::Heap::new(&mut arena)?);
    /// assert!(heap.arena_len() <= 1000 && heap.arena_len() % 8 == 0); // whole granules
    /// # Ok::<(), sdmm_sys::Error>(())
    /// ```
    #[must_use]
    pub fn arena_len(&self) -> usize {
        self.heap.arena_len()
    }

    /// The O(1) figures of the heap (live blocks, bytes, peak, refused
    /// allocations, capacity): the lock is held to copy them, no walk. See
    /// [`Counters`] for how they relate to [`Stats`].
    ///
    /// ```
    /// let heap = sdmm_sys::SharedHeap::owned(8192)?;
    /// let keys = heap.alloc_pubkey(2)?; // 8 + 64 bytes
    /// let c = heap.counters();
    /// assert_eq!((c.live_blocks, c.allocated, c.peak_allocated), (1, 72, 72));
    /// # drop(keys);
    /// # Ok::<(), sdmm_sys::Error>(())
    /// ```
    #[must_use]
    pub fn counters(&self) -> Counters {
        let _guard = self.state.lock.lock();
        self.heap.counters()
    }

    /// All statistics, as [`Heap::stats`]: with the lock held for a walk of
    /// the free lists (O(free blocks)), during which other threads' heap
    /// calls wait. [`SharedHeap::counters`] is the O(1) part.
    ///
    /// ```
    /// let heap = sdmm_sys::SharedHeap::new(sdmm_sys::Heap::owned(8192)?);
    /// let _block = heap.alloc_hash(3)?;
    /// let s = heap.stats();
    /// assert_eq!((s.live_blocks, s.free_blocks), (1, 1));
    /// # Ok::<(), sdmm_sys::Error>(())
    /// ```
    #[must_use]
    pub fn stats(&self) -> Stats {
        let _guard = self.state.lock.lock();
        self.heap.stats()
    }

    /// Walks every block and list and verifies every invariant of the heap,
    /// as [`Heap::check`], with the lock held for the whole walk.
    ///
    /// ```
    /// let heap = sdmm_sys::SharedHeap::new(sdmm_sys::Heap::owned(8192)?);
    /// let _block = heap.alloc_u8(100)?;
    /// heap.check()?;
    /// # Ok::<(), sdmm_sys::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Corrupted`] (or [`Error::InvalidHeap`]) when the arena was
    /// damaged by something other than this heap.
    pub fn check(&self) -> Result<(), Error> {
        let _guard = self.state.lock.lock();
        self.heap.check()
    }

    /// Drops the claim of a block whose owner was leaked, as
    /// [`Heap::reclaim`]: `&mut self` proves that no block of the heap is
    /// alive, on any thread.
    ///
    /// ```
    /// use sdmm_sys::{Error, Heap, SharedHeap};
    ///
    /// let mut heap = SharedHeap::new(Heap::owned(8192)?);
    /// let h = heap.alloc_u16(4)?.handle();
    /// // The block was a temporary, dropped at the end of the statement:
    /// assert_eq!(heap.resolve_u16(h).unwrap_err(), Error::StaleHandle);
    /// let block = heap.alloc_u16(4)?;
    /// let h = block.handle();
    /// std::mem::forget(block);
    /// assert_eq!(heap.resolve_u16(h).unwrap_err(), Error::Claimed);
    /// heap.reclaim(h)?;
    /// assert_eq!(heap.resolve_u16(h)?.len(), 4);
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Heap::reclaim`].
    pub fn reclaim(&mut self, handle: Handle) -> Result<(), Error> {
        self.heap.reclaim(handle)
    }

    /// The C heap, for the generated methods and the allocator impl.
    #[inline]
    pub(crate) fn raw(&self) -> NonNull<ffi::sdmm_heap> {
        self.heap.raw
    }

    /// What `Locked` blocks keep to reach the lock.
    #[inline]
    pub(crate) fn ctx(&self) -> NonNull<SharedState> {
        NonNull::from(&self.state)
    }
}

#[cfg(feature = "alloc")]
impl SharedHeap<'static> {
    /// A shared heap owning `bytes` bytes of fresh zeroed memory from the
    /// global allocator: `SharedHeap::new(Heap::owned(bytes)?)`.
    ///
    /// ```
    /// let heap = sdmm_sys::SharedHeap::owned(64 * 1024)?;
    /// assert_eq!(heap.arena_len(), 64 * 1024);
    /// # Ok::<(), sdmm_sys::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Heap::owned`].
    pub fn owned(bytes: usize) -> Result<SharedHeap<'static>, Error> {
        Heap::owned(bytes).map(SharedHeap::new)
    }
}

/// [`SharedHeap::new`].
///
/// ```
/// use sdmm_sys::{Heap, SharedHeap};
///
/// let shared: SharedHeap<'static> = Heap::owned(4096)?.into();
/// assert_eq!(shared.counters().live_blocks, 0);
/// # Ok::<(), sdmm_sys::Error>(())
/// ```
impl<'arena> From<Heap<'arena>> for SharedHeap<'arena> {
    fn from(heap: Heap<'arena>) -> SharedHeap<'arena> {
        SharedHeap::new(heap)
    }
}

impl fmt::Debug for SharedHeap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.counters();
        f.debug_struct("SharedHeap")
            .field("arena_len", &self.arena_len())
            .field("live_blocks", &c.live_blocks)
            .field("allocated", &c.allocated)
            .finish_non_exhaustive()
    }
}
