// Two threads allocating from one heap through &Heap would race.
fn main() {
    let mut arena = [0u8; 1024];
    let heap = sdmm_sys::Heap::new(&mut arena).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| heap.alloc_u8(1).map(drop));
        s.spawn(|| heap.alloc_u8(1).map(drop));
    });
}
