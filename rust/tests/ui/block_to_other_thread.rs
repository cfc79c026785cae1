// A block freed from another thread would race with the heap's owner.
fn main() {
    let mut arena = [0u8; 1024];
    let heap = sdmm_sys::Heap::new(&mut arena).unwrap();
    let block = heap.alloc_u64(1).unwrap();
    std::thread::scope(|s| {
        s.spawn(move || drop(block));
    });
}
