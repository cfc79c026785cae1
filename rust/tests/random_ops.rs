//! Random operation sequences against a shadow model.
//!
//! Live blocks of three element types (u8, u64, pubkey) are allocated,
//! written, resized, freed, detached, resolved again (while other blocks
//! live: `resolve_*` takes `&Heap`) and leaked at random; resolving the
//! handle of a block that has an owner must be refused (`Error::Claimed`).
//! After every operation the contents of every block must equal the model
//! (so no block ever overlaps another or loses data), the heap's invariants
//! must hold and its live-block count must match. At the end, detached
//! handles must resolve to their contents, leaked ones only after
//! `reclaim`, and freed ones must be refused.
use proptest::prelude::*;
use sdmm_sys::{Error, Handle, Heap, Pubkey, PubkeyBlock, U64Block, U8Block};

const ARENA: usize = 32 * 1024;

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        kind: u8,
        n: usize,
    },
    Free {
        pick: usize,
    },
    Resize {
        pick: usize,
        n: usize,
    },
    Write {
        pick: usize,
        index: usize,
        value: u64,
    },
    Detach {
        pick: usize,
    },
    /// Resolve a detached handle while the other blocks live.
    Reattach {
        pick: usize,
    },
    /// Try to resolve the handle of a live block: a second owner.
    Twin {
        pick: usize,
    },
    /// `mem::forget` a live block: it stays allocated and claimed.
    Leak {
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, 1usize..600).prop_map(|(kind, n)| Op::Alloc { kind, n }),
        2 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        2 => (any::<usize>(), 1usize..900).prop_map(|(pick, n)| Op::Resize { pick, n }),
        3 => (any::<usize>(), any::<usize>(), any::<u64>())
            .prop_map(|(pick, index, value)| Op::Write { pick, index, value }),
        1 => any::<usize>().prop_map(|pick| Op::Detach { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Reattach { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Twin { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Leak { pick }),
    ]
}

/// A live block of one of the tested types.
enum Live<'h> {
    Bytes(U8Block<'h>),
    Words(U64Block<'h>),
    Keys(PubkeyBlock<'h>),
}

impl Live<'_> {
    fn len(&self) -> usize {
        match self {
            Live::Bytes(b) => b.len(),
            Live::Words(b) => b.len(),
            Live::Keys(b) => b.len(),
        }
    }
    /// Element `i` as the model stores it (a key by its first byte).
    fn get(&self, i: usize) -> u64 {
        match self {
            Live::Bytes(b) => u64::from(b[i]),
            Live::Words(b) => b[i],
            Live::Keys(b) => u64::from(b[i].bytes[0]) | u64::from(b[i].bytes[31]) << 8,
        }
    }
    /// Writes `v` (truncated to the element) and returns what the model stores.
    fn set(&mut self, i: usize, v: u64) -> u64 {
        match self {
            Live::Bytes(b) => {
                b[i] = v as u8;
                v & 0xFF
            }
            Live::Words(b) => {
                b[i] = v;
                v
            }
            Live::Keys(b) => {
                let mut k = Pubkey::default();
                k.bytes[0] = v as u8;
                k.bytes[31] = (v >> 8) as u8;
                b[i] = k;
                v & 0xFFFF
            }
        }
    }
    fn resize(&mut self, n: usize) -> Result<(), Error> {
        match self {
            Live::Bytes(b) => b.resize(n),
            Live::Words(b) => b.resize(n),
            Live::Keys(b) => b.resize(n),
        }
    }
    fn into_handle(self) -> Handle {
        match self {
            Live::Bytes(b) => b.into_handle(),
            Live::Words(b) => b.into_handle(),
            Live::Keys(b) => b.into_handle(),
        }
    }
    fn handle(&self) -> Handle {
        match self {
            Live::Bytes(b) => b.handle(),
            Live::Words(b) => b.handle(),
            Live::Keys(b) => b.handle(),
        }
    }
}

/// Resolves a handle as a live block of its kind.
fn resolve<'h>(heap: &'h Heap<'_>, kind: u8, h: Handle) -> Result<Live<'h>, Error> {
    Ok(match kind {
        0 => Live::Bytes(heap.resolve_u8(h)?),
        1 => Live::Words(heap.resolve_u64(h)?),
        _ => Live::Keys(heap.resolve_pubkey(h)?),
    })
}

/// Reads a detached block back through its handle and frees it.
fn resolve_contents(heap: &Heap<'_>, kind: u8, h: Handle) -> Result<Vec<u64>, Error> {
    let b = resolve(heap, kind, h)?;
    Ok((0..b.len()).map(|i| b.get(i)).collect())
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut arena = vec![0u8; ARENA];
    let mut heap = Heap::new(&mut arena).unwrap();
    let mut detached: Vec<(u8, Handle, Vec<u64>)> = Vec::new();
    let mut leaked: Vec<(u8, Handle, Vec<u64>)> = Vec::new();
    let mut freed: Vec<(u8, Handle)> = Vec::new();
    {
        let mut live: Vec<(u8, Live<'_>, Vec<u64>)> = Vec::new();
        for op in ops {
            match *op {
                Op::Alloc { kind, n } => {
                    let r = match kind {
                        0 => heap.alloc_u8(n).map(Live::Bytes),
                        1 => heap.alloc_u64(n).map(Live::Words),
                        _ => heap.alloc_pubkey(n).map(Live::Keys),
                    };
                    match r {
                        Ok(b) => live.push((kind, b, vec![0; n])),
                        Err(e) => {
                            prop_assert!(matches!(e, Error::OutOfMemory | Error::TooLarge), "{e:?}")
                        }
                    }
                }
                Op::Free { pick } if !live.is_empty() => {
                    let (kind, b, _) = live.swap_remove(pick % live.len());
                    freed.push((kind, b.handle()));
                }
                Op::Resize { pick, n } if !live.is_empty() => {
                    let i = pick % live.len();
                    let (_, b, model) = &mut live[i];
                    match b.resize(n) {
                        Ok(()) => model.resize(n, 0),
                        Err(e) => {
                            prop_assert!(matches!(e, Error::OutOfMemory | Error::TooLarge), "{e:?}")
                        }
                    }
                }
                Op::Write { pick, index, value } if !live.is_empty() => {
                    let i = pick % live.len();
                    let (_, b, model) = &mut live[i];
                    let at = index % model.len();
                    model[at] = b.set(at, value);
                }
                Op::Detach { pick } if !live.is_empty() => {
                    let (kind, b, model) = live.swap_remove(pick % live.len());
                    detached.push((kind, b.into_handle(), model));
                }
                Op::Reattach { pick } if !detached.is_empty() => {
                    let (kind, h, model) = detached.swap_remove(pick % detached.len());
                    match resolve(&heap, kind, h) {
                        Ok(b) => live.push((kind, b, model)),
                        Err(e) => prop_assert!(false, "detached {h} refused: {e:?}"),
                    }
                }
                Op::Twin { pick } if !live.is_empty() => {
                    let (kind, b, _) = &live[pick % live.len()];
                    prop_assert_eq!(
                        resolve(&heap, *kind, b.handle()).err(),
                        Some(Error::Claimed)
                    );
                }
                Op::Leak { pick } if !live.is_empty() => {
                    let (kind, b, model) = live.swap_remove(pick % live.len());
                    leaked.push((kind, b.handle(), model));
                    std::mem::forget(b);
                }
                _ => {}
            }
            // The model after every operation.
            for (_, b, model) in &live {
                prop_assert_eq!(b.len(), model.len());
                for (i, want) in model.iter().enumerate() {
                    prop_assert_eq!(b.get(i), *want);
                }
            }
            prop_assert_eq!(heap.check(), Ok(()));
            prop_assert_eq!(
                heap.stats().live_blocks as usize,
                live.len() + detached.len() + leaked.len()
            );
        }
        for (kind, b, _) in live {
            freed.push((kind, b.handle()));
        }
    }
    // All owned blocks are gone: the heap can be borrowed exclusively.
    for (kind, h, model) in &detached {
        prop_assert_eq!(resolve_contents(&heap, *kind, *h), Ok(model.clone()));
        freed.push((*kind, *h)); // resolving took ownership back; it was freed
    }
    // Leaked blocks kept their claim; `&mut heap` proves their owners gone.
    for (kind, h, model) in &leaked {
        prop_assert_eq!(resolve_contents(&heap, *kind, *h), Err(Error::Claimed));
        prop_assert_eq!(heap.reclaim(*h), Ok(()));
        prop_assert_eq!(resolve_contents(&heap, *kind, *h), Ok(model.clone()));
        freed.push((*kind, *h));
    }
    for (kind, h) in &freed {
        prop_assert_eq!(resolve_contents(&heap, *kind, *h), Err(Error::StaleHandle));
        prop_assert_eq!(heap.reclaim(*h), Err(Error::StaleHandle));
    }
    let s = heap.stats();
    prop_assert_eq!((s.live_blocks, s.allocated), (0, 0));
    prop_assert_eq!(heap.check(), Ok(()));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_match_the_model(ops in prop::collection::vec(op(), 1..120)) {
        run(&ops)?;
    }
}
