// The same on a shared heap: a block living on another thread still borrows
// the heap, so `reclaim` (which needs `&mut`) cannot run meanwhile.
fn main() {
    let mut arena = [0u8; 1024];
    let mut heap = sdmm_sys::SharedHeap::new(sdmm_sys::Heap::new(&mut arena).unwrap());
    let block = heap.alloc_u64(1).unwrap();
    let h = block.handle();
    std::thread::scope(|s| {
        s.spawn(move || drop(block));
        heap.reclaim(h).unwrap();
    });
}
