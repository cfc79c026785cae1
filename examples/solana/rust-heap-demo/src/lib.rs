//! rust-heap-demo -- a `no_std` Solana program in Rust whose heap is sdmm:
//! `alloc::vec::Vec` and friends go through sdmm (a real `free`, unlike the
//! default bump allocator), and the program also uses sdmm-sys's typed blocks
//! (`heap.alloc_pubkey(n)`, `heap.alloc_u64(n)`) with no `unsafe` in the
//! workload itself.
//!
//! Instruction data: `[0] op`, then little-endian fields:
//!   op 0 WORKLOAD u32 rounds -> Vec<u64> / Vec<[u8; 32]> built and dropped in
//!        a loop through the global allocator; return: u64 ops, u64 checksum
//!   op 1 TYPED    u32 rounds -> typed sdmm blocks (pubkey, u64, every type)
//!        in an sdmm heap that itself lives in a Vec; return: u64 blocks, u64 checksum
//!   op 2 BAD                 -> typed errors as values; return one status per case
//!   op 3 STRINGS  u32 rounds -> String / Vec<u64> / Vec<String> work through the
//!        global allocator (growth by push, concatenation, drops); return:
//!        u64 rounds, u64 checksum (the CU benchmark against the bump build)
//!   op 4 BIG      u32 KiB    -> one Vec<u64> of that many KiB, filled and summed
//!        (more than 32 KiB needs a transaction that requested a larger heap
//!        frame: the heap grows into it); return: u64 KiB, u64 checksum
//! Errors: 1 bad instruction data, 2 wrong value read back, 0x100 + sdmm status.
#![no_std]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
#[cfg(not(feature = "bump"))]
use sdmm_sys::GlobalHeap;
use sdmm_sys::{Error, Heap};

unsafe extern "C" {
    fn sol_log_(message: *const u8, len: u64);
    fn sol_log_64_(a: u64, b: u64, c: u64, d: u64, e: u64);
    fn sol_log_compute_units_();
    fn sol_set_return_data(data: *const u8, len: u64);
    fn abort() -> !;
}

fn log(message: &str) {
    // SAFETY: the syscall reads `len` bytes at `message`.
    unsafe { sol_log_(message.as_ptr(), message.len() as u64) }
}

fn set_return(words: &[u64]) {
    // SAFETY: the syscall copies `len` bytes out of the slice.
    unsafe { sol_set_return_data(words.as_ptr().cast(), (words.len() * 8) as u64) }
}

// ---- the global allocator: sdmm-sys's GlobalHeap over the VM heap region --
//
// The SVM maps a zero-filled heap region at SOLANA_HEAP_START for each
// invocation: 32 KiB, or the larger frame the transaction requested (up to
// 256 KiB). GlobalHeap keeps no state outside that region (SBF programs have
// no mutable globals): the heap is created on first use over the first 32 KiB
// and grows by 16 KiB whenever it runs out, up to 256 KiB -- into the frame,
// if the transaction asked for one; past the frame the access fails the
// transaction, as running out would.
#[cfg(not(feature = "bump"))]
#[global_allocator]
// SAFETY: the region is mapped, zeroed and writable for the whole invocation
// up to the requested frame, and nothing else in this program uses it.
static ALLOCATOR: GlobalHeap = unsafe {
    GlobalHeap::from_region_growable(
        sdmm_sys::SOLANA_HEAP_START,
        sdmm_sys::SOLANA_HEAP_LEN,
        sdmm_sys::SOLANA_HEAP_MAX_LEN,
        true,
    )
};

/// The comparison (feature `bump`): what `solana-program` installs by default
/// -- the cursor in the first 8 bytes of the region, bumping down from its
/// end, and a `dealloc` that does nothing.
#[cfg(feature = "bump")]
struct Bump;

#[cfg(feature = "bump")]
unsafe impl core::alloc::GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        let start = sdmm_sys::SOLANA_HEAP_START;
        let cursor = start as *mut usize;
        // SAFETY: the region is mapped and the first word is the cursor.
        let mut pos = unsafe { cursor.read() };
        if pos == 0 {
            pos = start + sdmm_sys::SOLANA_HEAP_LEN;
        }
        pos = pos.saturating_sub(layout.size()) & !(layout.align().wrapping_sub(1));
        if pos < start + core::mem::size_of::<usize>() {
            return core::ptr::null_mut();
        }
        // SAFETY: as above.
        unsafe { cursor.write(pos) };
        pos as *mut u8
    }
    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: core::alloc::Layout) {}
}

#[cfg(feature = "bump")]
#[global_allocator]
static ALLOCATOR: Bump = Bump;

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    log("rust-heap-demo: panic");
    // SAFETY: the abort syscall ends the program with an error.
    unsafe { abort() }
}

// ---- the workloads (safe code) ---------------------------------------------

const ERR_BAD_DATA: u64 = 1;
const ERR_WRONG_VALUE: u64 = 2;
const ERR_SDMM: u64 = 0x100;

fn sdmm_err(e: Error) -> u64 {
    ERR_SDMM + u64::from(e.code())
}

/// Vec<u64> and Vec<[u8; 32]> built and dropped in a loop, four rounds kept
/// alive: the bump allocator runs out of 32 KiB within ~100 rounds.
fn workload(rounds: u32) -> u64 {
    let mut window: Vec<(Vec<[u8; 32]>, Vec<u64>)> = Vec::with_capacity(4);
    let mut ops = 0u64;
    let mut checksum = 0u64;
    for r in 0..u64::from(rounds) {
        let keys: Vec<[u8; 32]> = (0..1 + (r & 7)).map(|i| [(r + i) as u8; 32]).collect();
        let nums: Vec<u64> = (0..2 + ((r * 5) & 30)).map(|i| r + i).collect();
        checksum = checksum.wrapping_add(nums[nums.len() - 1] + u64::from(keys[0][0]));
        ops += 2;
        if window.len() == 4 {
            window.remove(0);
            ops += 2;
        }
        window.push((keys, nums));
    }
    // SAFETY: syscall without arguments.
    unsafe { sol_log_compute_units_() };
    log("rust-heap-demo: workload done: operations, checksum");
    // SAFETY: syscall taking values.
    unsafe { sol_log_64_(ops, checksum, 0, 0, 0) };
    set_return(&[ops, checksum]);
    0
}

/// Appends `v` in decimal (no `core::fmt`: it costs ~1000 instructions on SBF).
fn push_decimal(s: &mut String, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut n = 0;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &d in digits[..n].iter().rev() {
        s.push(char::from(d));
    }
}

/// A `String`/`Vec`-heavy loop: each round builds a key string piece by piece
/// (several reallocations), grows a `Vec<u64>` by `push` from empty,
/// concatenates, and keeps the last 8 keys in a `Vec<String>` (the oldest is
/// dropped: a free). Everything goes through the global allocator.
fn strings(rounds: u32) -> u64 {
    let mut window: Vec<String> = Vec::new();
    let mut checksum = 0u64;
    for r in 0..u64::from(rounds) {
        let mut key = String::from("acct-");
        push_decimal(&mut key, r);
        for _ in 0..(r & 3) {
            key.push_str("/seed");
        }
        let mut values: Vec<u64> = Vec::new();
        for i in 0..4 + (r & 15) {
            values.push(r * i);
        }
        let joined = [key.as_str(), "-", "x"].concat();
        checksum = checksum.wrapping_add(joined.len() as u64 + values.iter().sum::<u64>());
        if window.len() == 8 {
            window.remove(0);
        }
        window.push(joined);
    }
    checksum = checksum.wrapping_add(window.iter().map(|k| k.len() as u64).sum::<u64>());
    set_return(&[u64::from(rounds), checksum]);
    0
}

/// sdmm-sys's typed blocks, in an sdmm heap that lives in a Vec (itself in
/// the sdmm global heap).
fn typed(rounds: u32) -> Result<u64, u64> {
    let mut arena: Vec<u8> = alloc::vec![0u8; 8 * 1024];
    let heap = Heap::new(&mut arena).map_err(sdmm_err)?;
    let mut blocks = 0u64;
    let mut checksum = 0u64;
    for r in 0..u64::from(rounds) {
        let mut keys = heap.alloc_pubkey(1 + (r & 7) as usize).map_err(sdmm_err)?;
        let mut nums = heap
            .alloc_u64(2 + ((r * 5) & 30) as usize)
            .map_err(sdmm_err)?;
        if nums.iter().any(|&v| v != 0) {
            return Err(ERR_WRONG_VALUE); // typed blocks are zero-filled
        }
        keys[0].bytes[0] = r as u8;
        for (i, v) in nums.iter_mut().enumerate() {
            *v = r + i as u64;
        }
        checksum = checksum.wrapping_add(nums[nums.len() - 1] + u64::from(keys[0].bytes[0]));
        blocks += 2;
        // Dropping `keys` and `nums` frees them.
    }
    // Every other type of the table once, through its own typed method.
    let b1 = heap.alloc_u8(3).map_err(sdmm_err)?;
    let b2 = heap.alloc_i16(3).map_err(sdmm_err)?;
    let b3 = heap.alloc_u128(3).map_err(sdmm_err)?;
    let b4 = heap.alloc_signature(3).map_err(sdmm_err)?;
    let b5 = heap.alloc_hash(3).map_err(sdmm_err)?;
    blocks += 5;
    if b1.len() + b2.len() + b3.len() + b4.len() + b5.len() != 15 || heap.stats().live_blocks != 5 {
        return Err(ERR_WRONG_VALUE);
    }
    drop((b1, b2, b3, b4, b5));
    heap.check().map_err(sdmm_err)?;
    if heap.stats().live_blocks != 0 {
        return Err(ERR_WRONG_VALUE);
    }
    set_return(&[blocks, checksum]);
    Ok(0)
}

/// Errors are values: each case's status (0 = Ok).
fn bad() -> u64 {
    let mut arena = alloc::vec![0u8; 4096];
    let status = |r: Result<(), Error>| r.map_or_else(|e| u64::from(e.code()), |()| 0);
    let Ok(heap) = Heap::new(&mut arena) else {
        return ERR_WRONG_VALUE;
    };
    let zero = status(heap.alloc_u64(0).map(drop));
    let big = status(heap.alloc_signature(1 << 20).map(drop));
    let oom = {
        let _a = heap.alloc_u8(2000);
        status(heap.alloc_u8(2000).map(drop))
    };
    let ok = status(heap.alloc_u64(4).map(drop));
    let mut huge: Vec<u8> = Vec::new();
    let huge_vec = u64::from(huge.try_reserve(1 << 20).is_err()); // global heap: refused, no panic
    set_return(&[zero, big, oom, ok, huge_vec]);
    0
}

/// The program entrypoint: no accounts are used; the input is
/// `u64 accounts = 0, u64 data_len, data, program id`.
///
/// # Safety
/// Called by the SVM with its serialized input.
/// One `Vec<u64>` of `kib` KiB through the global allocator, filled and summed.
fn big(kib: u32) -> u64 {
    let len = kib as usize * 128; // u64 elements
    let mut v: Vec<u64> = Vec::new();
    if v.try_reserve_exact(len).is_err() {
        log("rust-heap-demo: BIG refused");
        return ERR_SDMM + u64::from(Error::OutOfMemory.code());
    }
    v.extend(0..len as u64);
    let sum: u64 = v.iter().sum();
    set_return(&[u64::from(kib), sum]);
    0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn entrypoint(input: *const u8) -> u64 {
    // SAFETY: the loader's input starts with the account count and, with no
    // accounts, the instruction data length and bytes follow.
    let data = unsafe {
        if input.cast::<u64>().read() != 0 {
            return ERR_BAD_DATA;
        }
        let len = input.add(8).cast::<u64>().read() as usize;
        core::slice::from_raw_parts(input.add(16), len)
    };
    let u32_at = |at: usize| {
        data.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    match (data.first(), u32_at(1)) {
        (Some(0), Some(rounds)) => workload(rounds),
        (Some(1), Some(rounds)) => typed(rounds).unwrap_or_else(|e| e),
        (Some(2), _) => bad(),
        (Some(3), Some(rounds)) => strings(rounds),
        (Some(4), Some(kib)) => big(kib),
        _ => ERR_BAD_DATA,
    }
}
