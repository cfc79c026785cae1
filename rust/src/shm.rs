//! [`ShmHeap`]: an sdmm heap shared by processes (`ffi/sdmm_shared.h`,
//! `service/README.md`), in POSIX shared memory or in a file. Linux, `std`.
//!
//! Every process opens the heap by name with one call and joins it as a
//! client; blocks travel between processes as [`Handle`]s. A client killed
//! at any point (even holding the heap's lock) is recovered from by the next
//! caller; each block has an owner, and each client a byte quota.
//!
//! ```
//! use sdmm_sys::shm::{ShmHeap, CREATE};
//! use sdmm_sys::Tag;
//!
//! let name = format!("/sdmm-doc-{}", std::process::id());
//! let heap = ShmHeap::open(&name, 1 << 20, CREATE)?;
//! let block = heap.alloc(Tag::U64, 8)?;
//! block.write_bytes(0, &42u64.to_ne_bytes());
//! // Another process: ShmHeap::open(&name, 0, 0)?.resolve(handle, Tag::U64)?
//! let same = heap.resolve(block.handle(), Tag::U64)?;
//! let mut first = [0u8; 8];
//! same.read_bytes(0, &mut first);
//! assert_eq!(u64::from_ne_bytes(first), 42);
//! heap.free(block.handle(), Tag::U64)?;
//! # drop(heap);
//! # sdmm_sys::shm::unlink(&name, 0)?;
//! # Ok::<(), sdmm_sys::shm::ShmError>(())
//! ```
//!
//! Elements live in memory other processes may write at the same time, so
//! this module hands out no `&[T]`: [`ShmBlock::read_bytes`] and
//! [`ShmBlock::write_bytes`] copy, and [`ShmBlock::as_ptr`] is for callers
//! that bring their own synchronisation.

use core::ffi::{c_char, c_int};
use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;
use std::ffi::CString;

use crate::{ffi, Error, Handle, Tag};

/// Create the heap if it does not exist (`SDMM_SHARED_CREATE`).
pub const CREATE: u32 = 1;
/// With [`CREATE`]: fail if it exists (`SDMM_SHARED_EXCL`).
pub const EXCL: u32 = 2;
/// The name is a file path, not a POSIX shared-memory name (`SDMM_SHARED_FILE`).
pub const FILE: u32 = 4;
/// No quota (`SDMM_SHARED_UNLIMITED`).
pub const UNLIMITED: u64 = u64::MAX;

#[repr(C)]
struct RawShared {
    _opaque: [u8; 0],
}

/// `sdmm_shared_info`.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default)]
pub struct ShmInfo {
    /// This client's id.
    pub client: u32,
    /// The creating client's id (the admin: it sets quotas).
    pub admin: u32,
    /// Bytes charged to this client.
    pub used: u64,
    /// Its quota ([`UNLIMITED`]: none).
    pub quota: u64,
    /// Dead lock holders found since the heap was created.
    pub recoveries: u64,
    /// Of them, killed inside a call (the state was restored).
    pub rollbacks: u64,
    /// Bytes of the sdmm arena now (it grows, see [`ShmHeap::open_reserve`]).
    pub arena_bytes: u64,
    /// Bytes of the whole mapping.
    pub segment_bytes: u64,
    /// The arena's O(1) counters (`sdmm_heap_counters`).
    pub stats: ffi::sdmm_stats,
    /// The most the arena grows to (`arena_bytes` for a heap that does not grow).
    pub arena_max_bytes: u64,
}

extern "C" {
    fn sdmm_shared_open(
        name: *const c_char,
        bytes: usize,
        flags: u32,
        out: *mut *mut RawShared,
    ) -> u32;
    fn sdmm_shared_open_reserve(
        name: *const c_char,
        bytes: usize,
        max_bytes: usize,
        flags: u32,
        out: *mut *mut RawShared,
    ) -> u32;
    fn sdmm_shared_close(s: *mut RawShared) -> u32;
    fn sdmm_shared_unlink(name: *const c_char, flags: u32) -> u32;
    fn sdmm_shared_sync(s: *mut RawShared) -> u32;
    fn sdmm_shared_alloc(s: *mut RawShared, tag: u32, n: u32, out: *mut ffi::sdmm_block) -> u32;
    fn sdmm_shared_free(s: *mut RawShared, handle: u64, tag: u32) -> u32;
    fn sdmm_shared_resize(
        s: *mut RawShared,
        handle: u64,
        tag: u32,
        new_len: u32,
        out: *mut ffi::sdmm_block,
    ) -> u32;
    fn sdmm_shared_resolve(
        s: *mut RawShared,
        handle: u64,
        tag: u32,
        out: *mut ffi::sdmm_block,
    ) -> u32;
    fn sdmm_shared_grant(s: *mut RawShared, to: u32, allow: c_int) -> u32;
    fn sdmm_shared_set_quota(s: *mut RawShared, client: u32, bytes: u64) -> u32;
    fn sdmm_shared_reap(s: *mut RawShared, client: u32) -> u32;
    fn sdmm_shared_check(s: *mut RawShared) -> u32;
    fn sdmm_shared_info_get(s: *mut RawShared, out: *mut ShmInfo) -> u32;
    fn sdmm_shared_owner(s: *mut RawShared, handle: u64, tag: u32, owner: *mut u32) -> u32;
    fn sdmm_shared_client(s: *const RawShared) -> u32;
}

/// Why a shared-heap call failed: a core status, or one of this layer.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ShmError {
    /// A status of the core ([`Error`]).
    Core(Error),
    /// The block belongs to another client, which granted this one nothing.
    NotOwner,
    /// The owner's byte quota would be exceeded.
    Quota,
    /// An operating-system call failed (`errno`).
    System(i32),
    /// Every client slot is in use.
    NoClient,
    /// Not a shared heap of this version, or too small.
    Layout,
    /// Recovery after a dead client failed; the heap was left as it was.
    Unrecoverable,
    /// Only the creating client may do this.
    NotAdmin,
    /// No such client, or it is alive.
    BadClient,
    /// The name holds a NUL byte.
    BadName,
}

impl ShmError {
    fn check(status: u32) -> Result<(), ShmError> {
        match status {
            0 => Ok(()),
            64 => Err(ShmError::NotOwner),
            65 => Err(ShmError::Quota),
            66 => Err(ShmError::System(
                std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
            )),
            67 => Err(ShmError::NoClient),
            68 => Err(ShmError::Layout),
            69 => Err(ShmError::Unrecoverable),
            70 => Err(ShmError::NotAdmin),
            71 => Err(ShmError::BadClient),
            other => Err(ShmError::Core(
                Error::from_code(other).unwrap_or(Error::Corrupted),
            )),
        }
    }
}

impl fmt::Display for ShmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShmError::Core(e) => f.write_str(e.message()),
            ShmError::NotOwner => {
                f.write_str("the block belongs to another client, which granted this one nothing")
            }
            ShmError::Quota => f.write_str("the owner's byte quota would be exceeded"),
            ShmError::System(errno) => write!(f, "an operating-system call failed (errno {errno})"),
            ShmError::NoClient => f.write_str("every client slot of the shared heap is in use"),
            ShmError::Layout => f.write_str("not a shared heap of this version, or too small"),
            ShmError::Unrecoverable => f.write_str("recovery after a dead client failed"),
            ShmError::NotAdmin => f.write_str("only the creating client may do this"),
            ShmError::BadClient => f.write_str("no such client, or it is still alive"),
            ShmError::BadName => f.write_str("the name holds a NUL byte"),
        }
    }
}

impl std::error::Error for ShmError {}

impl From<Error> for ShmError {
    fn from(e: Error) -> Self {
        ShmError::Core(e)
    }
}

fn c_name(name: &str) -> Result<CString, ShmError> {
    CString::new(name).map_err(|_| ShmError::BadName)
}

/// Removes the name of a heap (`shm_unlink`, or `unlink` with [`FILE`]);
/// processes that have it open keep it.
///
/// # Errors
/// [`ShmError::System`] when there is no such heap.
pub fn unlink(name: &str, flags: u32) -> Result<(), ShmError> {
    let name = c_name(name)?;
    // SAFETY: a valid NUL-terminated string.
    ShmError::check(unsafe { sdmm_shared_unlink(name.as_ptr(), flags) })
}

/// One client of a shared heap: this process's mapping and client slot.
/// Closing (drop) leaves the heap; blocks the client still owns stay.
///
/// `Send` and `Sync`: every call takes the heap's process-shared lock.
pub struct ShmHeap {
    raw: NonNull<RawShared>,
}

// SAFETY: all state is behind the C layer's process-shared mutex; the
// pointer is owned by this value alone.
unsafe impl Send for ShmHeap {}
// SAFETY: as above: concurrent calls serialise on the lock.
unsafe impl Sync for ShmHeap {}

/// A block of a shared heap as this process sees it. It does not free
/// itself: blocks outlive their maker and are freed explicitly (by their
/// owner, or a client it granted).
#[derive(Copy, Clone, Debug)]
pub struct ShmBlock<'heap> {
    handle: u64,
    tag: Tag,
    len: u32,
    ptr: *mut u8,
    _heap: PhantomData<&'heap ShmHeap>,
}

impl ShmBlock<'_> {
    /// The position-independent handle: valid in every process.
    #[must_use]
    pub fn handle(&self) -> Handle {
        Handle::from_raw(self.handle)
    }
    /// The element type.
    #[must_use]
    pub fn tag(&self) -> Tag {
        self.tag
    }
    /// The element count.
    #[must_use]
    pub fn len(&self) -> u32 {
        self.len
    }
    /// Whether the block has no elements (never: the heap refuses 0).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Bytes of elements.
    #[must_use]
    pub fn byte_len(&self) -> usize {
        self.len as usize * self.tag.size()
    }
    /// The first element's address in this process. Other processes may
    /// write the elements at any time: synchronise before making references.
    #[must_use]
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }
    /// Copies elements' bytes from `offset` into `out`; `false` (and no
    /// copy) when the range is outside the block.
    pub fn read_bytes(&self, offset: usize, out: &mut [u8]) -> bool {
        if offset
            .checked_add(out.len())
            .is_none_or(|end| end > self.byte_len())
        {
            return false;
        }
        // SAFETY: the range lies inside the live block's elements, which stay
        // mapped while the heap (the lifetime 'heap) is open.
        unsafe { core::ptr::copy(self.ptr.add(offset), out.as_mut_ptr(), out.len()) };
        true
    }
    /// Copies `bytes` into the elements at `offset`; `false` (and no copy)
    /// when the range is outside the block.
    pub fn write_bytes(&self, offset: usize, bytes: &[u8]) -> bool {
        if offset
            .checked_add(bytes.len())
            .is_none_or(|end| end > self.byte_len())
        {
            return false;
        }
        // SAFETY: as in read_bytes.
        unsafe { core::ptr::copy(bytes.as_ptr(), self.ptr.add(offset), bytes.len()) };
        true
    }
}

impl ShmHeap {
    /// Opens the heap `name` (a POSIX shared-memory name such as
    /// `"/orders"`, or a path with [`FILE`]), creating it with a `bytes`
    /// arena under [`CREATE`], and joins it as a new client.
    ///
    /// # Errors
    /// [`ShmError::System`] (no such heap, no rights), [`ShmError::Layout`],
    /// [`ShmError::NoClient`].
    pub fn open(name: &str, bytes: usize, flags: u32) -> Result<ShmHeap, ShmError> {
        let name = c_name(name)?;
        let mut raw = core::ptr::null_mut();
        // SAFETY: valid string and out pointer.
        ShmError::check(unsafe { sdmm_shared_open(name.as_ptr(), bytes, flags, &mut raw) })?;
        NonNull::new(raw)
            .map(|raw| ShmHeap { raw })
            .ok_or(ShmError::Layout)
    }

    /// [`ShmHeap::open`] for a heap that grows: created with a `bytes`
    /// arena, it grows (to twice its size or more, at most `max_bytes`) when
    /// an allocation or a resize finds no room, and retries.
    ///
    /// # Errors
    /// As [`ShmHeap::open`]; creating with `max_bytes < bytes`:
    /// [`Error::TooLarge`]; with `bytes < max_bytes / 32`:
    /// [`Error::ArenaTooSmall`].
    pub fn open_reserve(
        name: &str,
        bytes: usize,
        max_bytes: usize,
        flags: u32,
    ) -> Result<ShmHeap, ShmError> {
        let name = c_name(name)?;
        let mut raw = core::ptr::null_mut();
        // SAFETY: valid string and out pointer.
        ShmError::check(unsafe {
            sdmm_shared_open_reserve(name.as_ptr(), bytes, max_bytes, flags, &mut raw)
        })?;
        NonNull::new(raw)
            .map(|raw| ShmHeap { raw })
            .ok_or(ShmError::Layout)
    }

    fn block(&self, b: &ffi::sdmm_block) -> Result<ShmBlock<'_>, ShmError> {
        let tag = Tag::ALL
            .iter()
            .copied()
            .find(|t| t.raw() == b.tag)
            .ok_or(ShmError::Core(Error::Corrupted))?;
        Ok(ShmBlock {
            handle: b.handle,
            tag,
            len: b.len,
            // SAFETY: every member of the union holds the elements' address.
            ptr: unsafe { b.as_.u8_ },
            _heap: PhantomData,
        })
    }

    /// `n` zero-filled elements of type `tag`, owned by this client.
    ///
    /// # Errors
    /// [`ShmError::Quota`], or the core's ([`Error::OutOfMemory`], ...).
    pub fn alloc(&self, tag: Tag, n: u32) -> Result<ShmBlock<'_>, ShmError> {
        let mut b = ffi::sdmm_block::default();
        // SAFETY: open heap, valid out pointer.
        ShmError::check(unsafe { sdmm_shared_alloc(self.raw.as_ptr(), tag.raw(), n, &mut b) })?;
        self.block(&b)
    }

    /// The block a handle names, in this process's mapping.
    ///
    /// # Errors
    /// The core's: stale, foreign or forged handle, wrong tag.
    pub fn resolve(&self, handle: Handle, tag: Tag) -> Result<ShmBlock<'_>, ShmError> {
        let mut b = ffi::sdmm_block::default();
        // SAFETY: as in alloc.
        ShmError::check(unsafe {
            sdmm_shared_resolve(self.raw.as_ptr(), handle.to_raw(), tag.raw(), &mut b)
        })?;
        self.block(&b)
    }

    /// Frees a block of this client (or of a client that granted it).
    ///
    /// # Errors
    /// [`ShmError::NotOwner`], or the core's.
    pub fn free(&self, handle: Handle, tag: Tag) -> Result<(), ShmError> {
        // SAFETY: open heap.
        ShmError::check(unsafe { sdmm_shared_free(self.raw.as_ptr(), handle.to_raw(), tag.raw()) })
    }

    /// Resizes a block (same permission as [`free`](Self::free)); the
    /// elements are kept, the handle changes if it moves.
    ///
    /// # Errors
    /// [`ShmError::NotOwner`], [`ShmError::Quota`] (of the owner), the core's.
    pub fn resize(&self, handle: Handle, tag: Tag, new_len: u32) -> Result<ShmBlock<'_>, ShmError> {
        let mut b = ffi::sdmm_block::default();
        // SAFETY: as in alloc.
        ShmError::check(unsafe {
            sdmm_shared_resize(
                self.raw.as_ptr(),
                handle.to_raw(),
                tag.raw(),
                new_len,
                &mut b,
            )
        })?;
        self.block(&b)
    }

    /// Lets client `to` free and resize this client's blocks, or not.
    ///
    /// # Errors
    /// [`ShmError::BadClient`] for an id out of range.
    pub fn grant(&self, to: u32, allow: bool) -> Result<(), ShmError> {
        // SAFETY: open heap.
        ShmError::check(unsafe { sdmm_shared_grant(self.raw.as_ptr(), to, c_int::from(allow)) })
    }

    /// Sets the byte quota of `client` (admin only).
    ///
    /// # Errors
    /// [`ShmError::NotAdmin`], [`ShmError::BadClient`].
    pub fn set_quota(&self, client: u32, bytes: u64) -> Result<(), ShmError> {
        // SAFETY: open heap.
        ShmError::check(unsafe { sdmm_shared_set_quota(self.raw.as_ptr(), client, bytes) })
    }

    /// Frees every block of a client whose process is gone.
    ///
    /// # Errors
    /// [`ShmError::BadClient`] while it lives.
    pub fn reap(&self, client: u32) -> Result<(), ShmError> {
        // SAFETY: open heap.
        ShmError::check(unsafe { sdmm_shared_reap(self.raw.as_ptr(), client) })
    }

    /// The owner of a live block.
    ///
    /// # Errors
    /// The core's, for a handle that names no live block.
    pub fn owner(&self, handle: Handle, tag: Tag) -> Result<u32, ShmError> {
        let mut owner = 0;
        // SAFETY: open heap, valid out pointer.
        ShmError::check(unsafe {
            sdmm_shared_owner(self.raw.as_ptr(), handle.to_raw(), tag.raw(), &mut owner)
        })?;
        Ok(owner)
    }

    /// The invariant walk of the heap and of its owner table.
    ///
    /// # Errors
    /// [`Error::Corrupted`] when it fails.
    pub fn check(&self) -> Result<(), ShmError> {
        // SAFETY: open heap.
        ShmError::check(unsafe { sdmm_shared_check(self.raw.as_ptr()) })
    }

    /// This client's usage, quota, the heap's recovery counts and counters.
    ///
    /// # Errors
    /// [`ShmError::Unrecoverable`] after a failed recovery.
    pub fn info(&self) -> Result<ShmInfo, ShmError> {
        let mut info = ShmInfo::default();
        // SAFETY: open heap, valid out pointer.
        ShmError::check(unsafe { sdmm_shared_info_get(self.raw.as_ptr(), &mut info) })?;
        Ok(info)
    }

    /// Writes a file-backed heap back to its file.
    ///
    /// # Errors
    /// [`ShmError::System`].
    pub fn sync(&self) -> Result<(), ShmError> {
        // SAFETY: open heap.
        ShmError::check(unsafe { sdmm_shared_sync(self.raw.as_ptr()) })
    }

    /// This client's id.
    #[must_use]
    pub fn client(&self) -> u32 {
        // SAFETY: open heap.
        unsafe { sdmm_shared_client(self.raw.as_ptr()) }
    }
}

impl Drop for ShmHeap {
    fn drop(&mut self) {
        // SAFETY: the pointer came from sdmm_shared_open and is closed once.
        unsafe { sdmm_shared_close(self.raw.as_ptr()) };
    }
}

impl fmt::Debug for ShmHeap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShmHeap")
            .field("client", &self.client())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(what: &str) -> std::string::String {
        std::format!("/sdmm-rust-{}-{what}", std::process::id())
    }

    #[test]
    fn two_clients_share_blocks_with_ownership_and_quota() {
        let n = name("own");
        let admin = ShmHeap::open(&n, 1 << 20, CREATE | EXCL).unwrap();
        let peer = ShmHeap::open(&n, 0, 0).unwrap();
        assert_ne!(admin.client(), peer.client());
        let b = admin.alloc(Tag::U64, 4).unwrap();
        assert!(b.write_bytes(8, &7u64.to_ne_bytes()));
        assert!(!b.write_bytes(32, &[1]));
        let seen = peer.resolve(b.handle(), Tag::U64).unwrap();
        let mut word = [0u8; 8];
        assert!(seen.read_bytes(8, &mut word));
        assert_eq!(u64::from_ne_bytes(word), 7);
        assert_eq!(
            peer.resolve(b.handle(), Tag::U32).unwrap_err(),
            ShmError::Core(Error::TagMismatch)
        );
        assert_eq!(peer.free(b.handle(), Tag::U64), Err(ShmError::NotOwner));
        admin.grant(peer.client(), true).unwrap();
        let moved = peer.resize(b.handle(), Tag::U64, 100).unwrap();
        assert!(moved.read_bytes(8, &mut word) && u64::from_ne_bytes(word) == 7);
        assert_eq!(peer.owner(moved.handle(), Tag::U64), Ok(admin.client()));
        peer.free(moved.handle(), Tag::U64).unwrap();
        assert_eq!(peer.set_quota(peer.client(), 1), Err(ShmError::NotAdmin));
        admin.set_quota(peer.client(), 100).unwrap();
        assert!(peer.alloc(Tag::U8, 50).is_ok());
        assert_eq!(peer.alloc(Tag::U8, 50).unwrap_err(), ShmError::Quota);
        assert_eq!(admin.reap(peer.client()), Err(ShmError::BadClient));
        admin.check().unwrap();
        let info = peer.info().unwrap();
        assert_eq!((info.used, info.quota), (64, 100));
        drop(peer);
        drop(admin);
        unlink(&n, 0).unwrap();
        assert!(matches!(ShmHeap::open(&n, 0, 0), Err(ShmError::System(_))));
        assert_eq!(
            ShmHeap::open("/bad\0name", 0, 0).unwrap_err(),
            ShmError::BadName
        );
    }

    #[test]
    fn a_heap_grows_up_to_its_maximum() {
        let n = name("grow");
        assert_eq!(
            ShmHeap::open_reserve(&n, 1 << 20, 1 << 16, CREATE).unwrap_err(),
            ShmError::Core(Error::TooLarge)
        );
        let heap = ShmHeap::open_reserve(&n, 64 << 10, 1 << 20, CREATE | EXCL).unwrap();
        let info = heap.info().unwrap();
        assert_eq!(
            (info.arena_bytes, info.arena_max_bytes),
            (64 << 10, 1 << 20)
        );
        let first = heap.alloc(Tag::U64, 1).unwrap();
        assert!(first.write_bytes(0, &9u64.to_ne_bytes()));
        // Larger than the arena is now: it grows for it.
        let big = heap.alloc(Tag::U8, 100 << 10).unwrap();
        assert!(heap.info().unwrap().arena_bytes > 64 << 10);
        let mut word = [0u8; 8];
        let again = heap.resolve(first.handle(), Tag::U64).unwrap();
        assert!(again.read_bytes(0, &mut word) && u64::from_ne_bytes(word) == 9);
        let mut blocks = 0u32;
        let refused = loop {
            match heap.alloc(Tag::U8, 4000) {
                Ok(_) => blocks += 1,
                Err(e) => break e,
            }
            assert!(blocks < 1000);
        };
        assert_eq!(refused, ShmError::Core(Error::OutOfMemory));
        assert_eq!(heap.info().unwrap().arena_bytes, 1 << 20);
        heap.free(big.handle(), Tag::U8).unwrap();
        heap.check().unwrap();
        drop(heap);
        unlink(&n, 0).unwrap();
    }
}
