//! [`HostHeap`]: the process heap of sdmm's host runtime as a
//! `#[global_allocator]` (feature `host`, Linux).

use core::alloc::{GlobalAlloc, Layout};

// The entry points of `ffi/sdmm_host.h` this type uses (the committed
// bindings cover `sdmm.h` only).
extern "C" {
    fn sdmm_host_malloc(size: usize) -> *mut core::ffi::c_void;
    fn sdmm_host_calloc(count: usize, size: usize) -> *mut core::ffi::c_void;
    fn sdmm_host_realloc(ptr: *mut core::ffi::c_void, size: usize) -> *mut core::ffi::c_void;
    fn sdmm_host_aligned_alloc(align: usize, size: usize) -> *mut core::ffi::c_void;
    fn sdmm_host_free(ptr: *mut core::ffi::c_void);
}

/// What `sdmm_host_malloc` guarantees: every block is 16-byte aligned.
const HOST_ALIGN: usize = 16;

/// The host runtime's process heap (`host/`, the runtime behind
/// `libsdmm-malloc.so`) as a global allocator: each thread allocates from a
/// heap of its own over `mmap`ed arenas, with no global lock; a block freed
/// by another thread goes back to its owner through a lock-free queue;
/// large blocks are mapped on their own. Unlike [`crate::StaticHeap`] and
/// [`crate::GlobalHeap`], which put one arena behind one spin lock, it
/// scales with threads and grows with the program (more arenas as needed).
///
/// Every free is checked by the core: a pointer the runtime never handed out
/// aborts the process with one line naming it (which safe Rust cannot
/// cause).
///
/// ```
/// use sdmm_sys::HostHeap;
///
/// #[global_allocator]
/// static ALLOC: HostHeap = HostHeap;
///
/// let words: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
/// let handle = std::thread::spawn(move || words.len()); // freed on another thread
/// assert_eq!(handle.join().unwrap(), 1000);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct HostHeap;

// SAFETY: the runtime is thread-safe (per-thread heaps, atomic remote-free
// queues), returns blocks of at least the requested size and alignment, and
// never hands out a live block twice; `dealloc`/`realloc` receive only
// pointers it returned (the trait's contract).
unsafe impl GlobalAlloc for HostHeap {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain C calls; NULL is the trait's failure value.
        unsafe {
            if layout.align() <= HOST_ALIGN {
                sdmm_host_malloc(layout.size()).cast()
            } else {
                sdmm_host_aligned_alloc(layout.align(), layout.size()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= HOST_ALIGN {
            // SAFETY: a plain C call; the block comes back zeroed.
            unsafe { sdmm_host_calloc(1, layout.size()).cast() }
        } else {
            // SAFETY: the trait's contract, passed on.
            let p = unsafe { self.alloc(layout) };
            if !p.is_null() {
                // SAFETY: `p` holds at least `layout.size()` bytes.
                unsafe { core::ptr::write_bytes(p, 0, layout.size()) };
            }
            p
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (the trait's contract).
        unsafe { sdmm_host_free(ptr.cast()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= HOST_ALIGN {
            // SAFETY: `ptr` came from this allocator; on failure (NULL) the
            // old block is left as it was, as the trait requires.
            return unsafe { sdmm_host_realloc(ptr.cast(), new_size).cast() };
        }
        // A stronger alignment than realloc keeps: allocate, copy, free.
        // SAFETY: the trait's contract; `new_size` is non-zero and the new
        // layout valid (the trait's contract too).
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let fresh = self.alloc(new_layout);
            if !fresh.is_null() {
                core::ptr::copy_nonoverlapping(ptr, fresh, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            fresh
        }
    }
}
