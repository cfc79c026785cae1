// A block escaping the heap it lives in.
fn main() {
    let escaped;
    {
        let mut arena = [0u8; 1024];
        let heap = sdmm_sys::Heap::new(&mut arena).unwrap();
        escaped = heap.alloc_pubkey(1).unwrap();
    }
    let _k = escaped[0];
}
