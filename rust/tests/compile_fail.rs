//! What the type system must refuse: each file under rust/tests/ui/ is a
//! program a user could write that would be a memory error at run time,
//! and it must not compile (with the error recorded next to it).
#[test]
fn misuse_does_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("rust/tests/ui/*.rs");
}
