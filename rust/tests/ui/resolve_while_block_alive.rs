// Resolving a handle while a block is alive could yield a second owner of
// the same memory: resolve needs the heap exclusively.
fn main() {
    let mut arena = [0u8; 1024];
    let mut heap = sdmm_sys::Heap::new(&mut arena).unwrap();
    let block = heap.alloc_u64(1).unwrap();
    let twin = heap.resolve_u64(block.handle()).unwrap();
    drop((block, twin));
}
