// sdmm-sys quickstart: typed blocks in a caller-given arena, no unsafe.
// (Plain comments: rust/tests/quickstart.rs include!s this file.)
use sdmm_sys::{Error, Heap};

fn main() -> Result<(), Error> {
    let mut arena = [0u8; 4096];
    let heap = Heap::new(&mut arena)?;
    let mut balances = heap.alloc_u64(100)?; // 100 zero-filled u64s inside `arena`
    balances[7] = 42;
    let keys = heap.alloc_pubkey(2)?; // [Pubkey; 2], 32 bytes each
    assert_eq!(heap.alloc_u8(0).unwrap_err(), Error::ZeroCount); // errors are values

    // Keep a block as a handle (it stays allocated), own it again later.
    let saved = heap.alloc_u32_from(&[1, 2, 3])?.into_handle();
    let record = heap.resolve_u32(saved)?; // &heap: other blocks stay usable
    assert_eq!(heap.resolve_u32(saved).unwrap_err(), Error::Claimed); // one owner
    println!(
        "sum {} over {} balances, {} keys, record {saved} = {:?}",
        balances.iter().sum::<u64>(),
        balances.len(),
        keys.len(),
        &record[..]
    );
    Ok(()) // the blocks free themselves here and cannot outlive `heap`
}
