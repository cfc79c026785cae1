//! examples/rust/quickstart.rs (the README example) runs as a test.
mod quickstart {
    include!("../../examples/rust/quickstart.rs");

    #[test]
    fn quickstart_runs() {
        main().expect("the README example succeeds");
    }
}
