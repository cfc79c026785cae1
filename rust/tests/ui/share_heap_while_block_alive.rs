// Moving a heap into a SharedHeap while one of its blocks lives: the block's
// drop would then run without the shared heap's lock.
fn main() {
    let mut arena = [0u8; 1024];
    let heap = sdmm_sys::Heap::new(&mut arena).unwrap();
    let block = heap.alloc_u8(1).unwrap();
    let shared = sdmm_sys::SharedHeap::new(heap);
    drop((block, shared));
}
