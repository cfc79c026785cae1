//! The spin lock of the shared heaps ([`crate::SharedHeap`], and the
//! `#[global_allocator]` types of `global.rs`).
//!
//! On targets with threads: an `AtomicBool`, test-and-test-and-set (waiters
//! read the flag and only try the atomic swap when it looks free, so they do
//! not keep stealing the cache line from the holder), with exponential
//! backoff: 1, 2, 4, … 64 `spin_loop` hints between reads, and with `std`
//! a `yield_now` once the backoff is at its cap, which matters on machines
//! with fewer cores than threads. Critical sections are one C call.
//!
//! On single-threaded targets (`target_os = "solana"`, BPF/SBF
//! architectures) there is nothing to exclude: no lock, no atomic
//! instruction (SBF has no writable statics, and the lock is never written).

#[cfg(not(any(target_os = "solana", target_arch = "bpf", target_arch = "sbf")))]
mod imp {
    use core::sync::atomic::{AtomicBool, Ordering};

    pub struct Lock(AtomicBool);

    pub struct Guard<'a>(&'a AtomicBool);

    /// Spins of the backoff before each read, at most (then `yield_now` with std).
    const MAX_SPINS: u32 = 64;

    impl Lock {
        pub const fn new() -> Lock {
            Lock(AtomicBool::new(false))
        }

        #[inline]
        pub fn lock(&self) -> Guard<'_> {
            if self
                .0
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                self.lock_contended();
            }
            Guard(&self.0)
        }

        #[cold]
        fn lock_contended(&self) {
            let mut spins = 1u32;
            loop {
                while self.0.load(Ordering::Relaxed) {
                    if spins < MAX_SPINS {
                        for _ in 0..spins {
                            core::hint::spin_loop();
                        }
                        spins *= 2;
                    } else {
                        #[cfg(feature = "std")]
                        std::thread::yield_now();
                        #[cfg(not(feature = "std"))]
                        for _ in 0..MAX_SPINS {
                            core::hint::spin_loop();
                        }
                    }
                }
                if self
                    .0
                    .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
            }
        }
    }

    impl Drop for Guard<'_> {
        #[inline]
        fn drop(&mut self) {
            self.0.store(false, Ordering::Release);
        }
    }
}

#[cfg(any(target_os = "solana", target_arch = "bpf", target_arch = "sbf"))]
mod imp {
    use core::marker::PhantomData;

    /// Single-threaded target: nothing to exclude.
    pub struct Lock;
    pub struct Guard<'a>(PhantomData<&'a Lock>);

    impl Lock {
        pub const fn new() -> Lock {
            Lock
        }
        #[inline]
        pub fn lock(&self) -> Guard<'_> {
            Guard(PhantomData)
        }
    }
}

pub use imp::{Guard, Lock};
