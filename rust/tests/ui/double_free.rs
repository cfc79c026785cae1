// Freeing a block twice.
fn main() {
    let mut arena = [0u8; 1024];
    let heap = sdmm_sys::Heap::new(&mut arena).unwrap();
    let block = heap.alloc_u8(4).unwrap();
    block.free().unwrap();
    block.free().unwrap();
}
