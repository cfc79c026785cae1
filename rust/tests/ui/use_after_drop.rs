// Keeping a reference to a block past the block's drop (which frees it).
fn main() {
    let mut arena = [0u8; 1024];
    let heap = sdmm_sys::Heap::new(&mut arena).unwrap();
    let block = heap.alloc_u32(4).unwrap();
    let view = &block;
    drop(block);
    let _x = view.len();
}
