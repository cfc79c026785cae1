// Using a block after freeing it: `free` consumes the block.
fn main() {
    let mut arena = [0u8; 1024];
    let heap = sdmm_sys::Heap::new(&mut arena).unwrap();
    let block = heap.alloc_u64(4).unwrap();
    block.free().unwrap();
    let _x = block[0];
}
