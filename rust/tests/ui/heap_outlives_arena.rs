// A heap escaping the arena it lives in.
fn main() {
    let heap;
    {
        let mut arena = [0u8; 1024];
        heap = sdmm_sys::Heap::new(&mut arena).unwrap();
    }
    let _b = heap.alloc_u8(1);
}
