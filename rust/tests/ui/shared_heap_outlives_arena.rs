// A shared heap handed to a thread that may outlive the arena.
fn main() {
    let mut arena = [0u8; 1024];
    let heap = sdmm_sys::SharedHeap::new(sdmm_sys::Heap::new(&mut arena).unwrap());
    std::thread::spawn(move || heap.alloc_u8(1).map(drop));
}
