//! sdmm-sys against Rust arena allocators over the same fixed arena.
//!
//!   sdmm-bench-arena WORKLOAD ALLOCATOR STEPS WARMUP   (random | lifo)
//!   sdmm-bench-arena efficiency ALLOCATOR MIN MAX SEEDS
//!
//! ALLOCATOR: sdmm | talc | rlsf | linked_list | buddy | none (harness alone).
//! The method is the native harness's (bench/native/workloads.cpp): WARMUP
//! untimed passes (`warmup_rep`), then one timed pass (`measured_rep`), which
//! callgrind counts alone when run with `--toggle-collect=*measured_rep*`.
//! Prints wall-clock and thread CPU nanoseconds per step of the timed pass.
//! Every allocator manages the same kind of arena (a 4 MiB static buffer for
//! speed, 32 KiB for efficiency) and gets the same request stream (xorshift,
//! fixed seed). Requests are 8-byte aligned, which is what sdmm guarantees.
//! For efficiency, control structures that live outside the arena (rlsf's
//! and buddy's) are subtracted from the arena they are given, so every
//! allocator pays for its metadata out of the same 32 KiB.
use std::alloc::Layout;
use std::mem::MaybeUninit;
use std::ptr::NonNull;

const SLOTS: usize = 1024;
const BIG_ARENA: usize = 4 << 20;
const SMALL_ARENA: usize = 32 * 1024;

#[repr(align(64))]
struct Arena<const N: usize>([u8; N]);

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// What the harness needs from an allocator: bytes in, something to give back.
trait Allocator {
    type Slot;
    fn alloc(&mut self, size: usize) -> Option<Self::Slot>;
    fn free(&mut self, slot: Self::Slot);
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).expect("valid layout")
}

// ---- sdmm: the safe typed API; a block frees itself when dropped ----------
struct Sdmm<'h>(&'h sdmm_sys::Heap<'h>);
impl<'h> Allocator for Sdmm<'h> {
    type Slot = sdmm_sys::U8Block<'h>;
    fn alloc(&mut self, size: usize) -> Option<Self::Slot> {
        self.0.alloc_u8(size).ok()
    }
    fn free(&mut self, slot: Self::Slot) {
        drop(slot);
    }
}

// ---- peers: their raw (unsafe) interfaces, as a GlobalAlloc would use them ----
struct Talc(talc::Talc<talc::ErrOnOom>);
impl Allocator for Talc {
    type Slot = (NonNull<u8>, usize);
    fn alloc(&mut self, size: usize) -> Option<Self::Slot> {
        // SAFETY: size is nonzero.
        unsafe { self.0.malloc(layout(size)) }
            .ok()
            .map(|p| (p, size))
    }
    fn free(&mut self, (p, size): Self::Slot) {
        // SAFETY: p came from malloc with this layout.
        unsafe { self.0.free(p, layout(size)) }
    }
}

type RlsfTlsf<'a> = rlsf::Tlsf<'a, u16, u16, 12, 16>;
struct Rlsf<'a>(RlsfTlsf<'a>);
impl<'a> Allocator for Rlsf<'a> {
    type Slot = NonNull<u8>;
    fn alloc(&mut self, size: usize) -> Option<Self::Slot> {
        self.0.allocate(layout(size))
    }
    fn free(&mut self, p: Self::Slot) {
        // SAFETY: p came from allocate with alignment 8.
        unsafe { self.0.deallocate(p, 8) }
    }
}

struct LinkedList(linked_list_allocator::Heap);
impl Allocator for LinkedList {
    type Slot = (NonNull<u8>, usize);
    fn alloc(&mut self, size: usize) -> Option<Self::Slot> {
        self.0
            .allocate_first_fit(layout(size))
            .ok()
            .map(|p| (p, size))
    }
    fn free(&mut self, (p, size): Self::Slot) {
        // SAFETY: p came from allocate_first_fit with this layout.
        unsafe { self.0.deallocate(p, layout(size)) }
    }
}

struct Buddy(buddy_system_allocator::Heap<32>);
impl Allocator for Buddy {
    type Slot = (NonNull<u8>, usize);
    fn alloc(&mut self, size: usize) -> Option<Self::Slot> {
        self.0.alloc(layout(size)).ok().map(|p| (p, size))
    }
    fn free(&mut self, (p, size): Self::Slot) {
        self.0.dealloc(p, layout(size))
    }
}

struct Nothing;
impl Allocator for Nothing {
    type Slot = usize;
    fn alloc(&mut self, size: usize) -> Option<usize> {
        Some(std::hint::black_box(size))
    }
    fn free(&mut self, slot: usize) {
        std::hint::black_box(slot);
    }
}

#[inline(never)]
fn random<A: Allocator>(a: &mut A, steps: u64) {
    let mut slots: Vec<Option<A::Slot>> = (0..SLOTS).map(|_| None).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..steps {
        let r = rng.next();
        let slot = &mut slots[(r as usize) & (SLOTS - 1)];
        if let Some(s) = slot.take() {
            a.free(s);
        }
        *slot = std::hint::black_box(a.alloc(8 + ((r >> 10) % 505) as usize));
    }
    for s in slots.into_iter().flatten() {
        a.free(s);
    }
}

/// Sizes drawn with the native harness's seed (not cycled; bench/README.md).
#[inline(never)]
fn lifo<A: Allocator>(a: &mut A, steps: u64) {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for _ in 0..steps {
        if let Some(s) = std::hint::black_box(a.alloc(16 + ((rng.next() >> 10) % 241) as usize)) {
            a.free(s);
        }
    }
}

/// One seed of the efficiency workload: live requested bytes / arena at the
/// first failed allocation.
fn one_seed<A: Allocator>(a: &mut A, min: usize, max: usize, seed: u64) -> f64 {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut live: Vec<(A::Slot, usize)> = Vec::new();
    let mut live_bytes = 0usize;
    loop {
        let r = rng.next();
        if live.is_empty() || r % 10 < 6 {
            let n = min + ((r >> 8) % (max - min + 1) as u64) as usize;
            match a.alloc(n) {
                Some(s) => {
                    live.push((s, n));
                    live_bytes += n;
                }
                None => break,
            }
        } else {
            let i = ((r >> 8) % live.len() as u64) as usize;
            let (s, n) = live.swap_remove(i);
            live_bytes -= n;
            a.free(s);
        }
    }
    for (s, _) in live {
        a.free(s);
    }
    live_bytes as f64 / SMALL_ARENA as f64
}

fn mean(seeds: u64, mut per_seed: impl FnMut(u64) -> f64) -> f64 {
    (1..=seeds).map(&mut per_seed).sum::<f64>() / seeds as f64
}

fn arena_slice<const N: usize>() -> &'static mut [u8] {
    &mut Box::leak(Box::new(Arena::<N>([0; N]))).0
}

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}
extern "C" {
    // From the C library std already links (x86-64 Linux layout).
    fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
}
const CLOCK_MONOTONIC: i32 = 1;
const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

fn now_ns(clock: i32) -> f64 {
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
}

fn pass<A: Allocator>(a: &mut A, workload: &str, steps: u64) {
    match workload {
        "random" => random(a, steps),
        "lifo" => lifo(a, steps),
        _ => panic!("unknown workload {workload}"),
    }
}

// Two functions, so callgrind can count the second alone; the volatile
// stores differ so that they are never merged into one symbol.
static mut PASS_KIND: u8 = 0;
#[inline(never)]
fn warmup_rep<A: Allocator>(a: &mut A, workload: &str, steps: u64) {
    // SAFETY: single-threaded harness; a plain volatile store.
    unsafe { std::ptr::write_volatile(std::ptr::addr_of_mut!(PASS_KIND), 1) };
    pass(a, workload, steps);
}
#[inline(never)]
fn measured_rep<A: Allocator>(a: &mut A, workload: &str, steps: u64) {
    // SAFETY: as above.
    unsafe { std::ptr::write_volatile(std::ptr::addr_of_mut!(PASS_KIND), 2) };
    pass(a, workload, steps);
}

/// Wall-clock and CPU nanoseconds per step of the timed pass.
fn timed<A: Allocator>(a: &mut A, workload: &str, steps: u64, warmup: u32) -> (f64, f64) {
    for _ in 0..warmup {
        warmup_rep(a, workload, steps);
    }
    let (w0, c0) = (now_ns(CLOCK_MONOTONIC), now_ns(CLOCK_THREAD_CPUTIME_ID));
    measured_rep(a, workload, steps);
    let (c1, w1) = (now_ns(CLOCK_THREAD_CPUTIME_ID), now_ns(CLOCK_MONOTONIC));
    ((w1 - w0) / steps as f64, (c1 - c0) / steps as f64)
}

fn run(workload: &str, allocator: &str, steps: u64, warmup: u32) -> (f64, f64) {
    match allocator {
        "sdmm" => {
            let heap = sdmm_sys::Heap::new(arena_slice::<BIG_ARENA>()).expect("heap");
            timed(&mut Sdmm(&heap), workload, steps, warmup)
        }
        "talc" => timed(
            &mut make_talc(arena_slice::<BIG_ARENA>()),
            workload,
            steps,
            warmup,
        ),
        "rlsf" => timed(
            &mut make_rlsf(arena_slice::<BIG_ARENA>()),
            workload,
            steps,
            warmup,
        ),
        "linked_list" => timed(
            &mut make_linked(arena_slice::<BIG_ARENA>()),
            workload,
            steps,
            warmup,
        ),
        "buddy" => timed(
            &mut make_buddy(arena_slice::<BIG_ARENA>()),
            workload,
            steps,
            warmup,
        ),
        "none" => timed(&mut Nothing, workload, steps, warmup),
        _ => panic!("unknown allocator {allocator}"),
    }
}

fn make_talc(arena: &'static mut [u8]) -> Talc {
    let mut t = talc::Talc::new(talc::ErrOnOom);
    // SAFETY: the arena is ours for the rest of the process.
    unsafe {
        t.claim(talc::Span::from_base_size(arena.as_mut_ptr(), arena.len()))
            .expect("claim")
    };
    Talc(t)
}
fn make_rlsf(arena: &'static mut [u8]) -> Rlsf<'static> {
    let mut t = RlsfTlsf::new();
    // SAFETY: reinterpreting initialised bytes as MaybeUninit is always sound.
    let mem = unsafe { &mut *(arena as *mut [u8] as *mut [MaybeUninit<u8>]) };
    t.insert_free_block(mem);
    Rlsf(t)
}
fn make_linked(arena: &'static mut [u8]) -> LinkedList {
    // SAFETY: the arena is ours and unused.
    LinkedList(unsafe { linked_list_allocator::Heap::new(arena.as_mut_ptr(), arena.len()) })
}
fn make_buddy(arena: &'static mut [u8]) -> Buddy {
    let mut h = buddy_system_allocator::Heap::<32>::new();
    // SAFETY: the arena is ours and unused.
    unsafe { h.init(arena.as_mut_ptr() as usize, arena.len()) };
    Buddy(h)
}

fn run_efficiency(allocator: &str, min: usize, max: usize, seeds: u64) -> f64 {
    // One 32 KiB arena, reused: each seed builds a fresh allocator on it.
    let base: *mut u8 = arena_slice::<SMALL_ARENA>().as_mut_ptr();
    let fresh = |outside_metadata: usize| -> &'static mut [u8] {
        // SAFETY: one allocator at a time uses the arena; the previous one is gone.
        unsafe { std::slice::from_raw_parts_mut(base, SMALL_ARENA - outside_metadata) }
    };
    match allocator {
        "sdmm" => mean(seeds, |seed| {
            let heap = sdmm_sys::Heap::new(fresh(0)).expect("heap");
            one_seed(&mut Sdmm(&heap), min, max, seed)
        }),
        "talc" => mean(seeds, |seed| {
            let outside = std::mem::size_of::<talc::Talc<talc::ErrOnOom>>();
            one_seed(&mut make_talc(fresh(outside)), min, max, seed)
        }),
        "rlsf" => mean(seeds, |seed| {
            one_seed(
                &mut make_rlsf(fresh(std::mem::size_of::<RlsfTlsf>())),
                min,
                max,
                seed,
            )
        }),
        "linked_list" => mean(seeds, |seed| {
            let outside = std::mem::size_of::<linked_list_allocator::Heap>();
            one_seed(&mut make_linked(fresh(outside)), min, max, seed)
        }),
        "buddy" => mean(seeds, |seed| {
            let outside = std::mem::size_of::<buddy_system_allocator::Heap<32>>();
            one_seed(&mut make_buddy(fresh(outside)), min, max, seed)
        }),
        _ => panic!("unknown allocator {allocator}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() >= 6 && args[1] == "efficiency" {
        let (min, max, seeds) = (
            args[3].parse().unwrap(),
            args[4].parse().unwrap(),
            args[5].parse().unwrap(),
        );
        let e = run_efficiency(&args[2], min, max, seeds);
        println!(
            "{{\"workload\":\"efficiency\",\"allocator\":\"{}\",\"min\":{min},\"max\":{max},\"seeds\":{seeds},\"efficiency\":{e:.4}}}",
            args[2]
        );
        return;
    }
    if args.len() != 5 {
        eprintln!(
            "usage: {} random|lifo ALLOCATOR STEPS WARMUP | efficiency ALLOCATOR MIN MAX SEEDS",
            args[0]
        );
        std::process::exit(2);
    }
    let steps: u64 = args[3].parse().expect("steps");
    let warmup: u32 = args[4].parse().expect("warmup");
    let (wall, cpu) = run(&args[1], &args[2], steps, warmup);
    println!(
        "{{\"peer\":\"rust\",\"workload\":\"{}\",\"allocator\":\"{}\",\"steps\":{steps},\"warmup\":{warmup},\"wall_ns\":{wall:.3},\"cpu_ns\":{cpu:.3},\"max_rss_kib\":0}}",
        args[1], args[2]
    );
}
