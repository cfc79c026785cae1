// Dropping a claim while its block is alive would let `resolve_*` make a
// second owner of the same memory: reclaim needs the heap exclusively.
// (Resolving a live block's handle compiles and fails at run time with
// Error::Claimed; see rust/tests/safe_api.rs.)
fn main() {
    let mut arena = [0u8; 1024];
    let mut heap = sdmm_sys::Heap::new(&mut arena).unwrap();
    let block = heap.alloc_u64(1).unwrap();
    heap.reclaim(block.handle()).unwrap();
    let twin = heap.resolve_u64(block.handle()).unwrap();
    drop((block, twin));
}
