// A block of a shared heap escaping the heap (and the arena) it lives in.
fn main() {
    let escaped;
    {
        let mut arena = [0u8; 1024];
        let heap = sdmm_sys::SharedHeap::new(sdmm_sys::Heap::new(&mut arena).unwrap());
        escaped = heap.alloc_u64(1).unwrap();
    }
    let _x = escaped[0];
}
