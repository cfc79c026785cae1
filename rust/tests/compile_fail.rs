//! What the type system must refuse: each file under rust/tests/ui/ is a
//! program a user could write that would be a memory error at run time,
//! and it must not compile (with the error recorded next to it). The
//! recorded messages are rustc 1.95's; after a toolchain change, check the
//! new ones are still about the same misuse and re-record them with
//! `TRYBUILD=overwrite cargo test --test compile_fail`.
#[test]
fn misuse_does_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("rust/tests/ui/*.rs");
}
