# sdmm-sys (the Rust crate at the repository root) inside the CMake build.
#
# ctest runs cargo: the Rust tests, clippy, rustfmt, the bindings drift check,
# a publish dry run and a packaging test, so one `ctest` shows GoogleTest and
# cargo together.
# cargo links the core CMake already compiled (SDMM_LIB_DIR) instead of
# compiling it again with the cc crate, and builds under this build tree
# (CARGO_TARGET_DIR), never in the source tree's target/.

# cargo is looked up by the test driver (rust/tests/ctest-step.sh), which
# reports SKIP when it is missing; ~/.cargo/bin is where rustup puts it.
# The core alone as libsdmm.a for cargo: the `sdmm` library also holds the
# std::pmr adapter, which would drag libstdc++ into every Rust binary.
add_library(sdmm_rust_core STATIC $<TARGET_OBJECTS:sdmm_core>)
set_target_properties(sdmm_rust_core PROPERTIES
  OUTPUT_NAME sdmm
  ARCHIVE_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/rust-lib)

set(SDMM_RUST_ENV
  SDMM_LIB_DIR=${PROJECT_BINARY_DIR}/rust-lib
  CARGO_TARGET_DIR=${PROJECT_BINARY_DIR}/cargo-target
  CARGO_TERM_COLOR=never
  PATH=$ENV{HOME}/.cargo/bin:$ENV{PATH})
set(SDMM_RUST_RUN bash ${PROJECT_SOURCE_DIR}/rust/tests/ctest-step.sh)

function(sdmm_rust_test name)
  add_test(NAME rust.${name}
           COMMAND ${CMAKE_COMMAND} -E env ${SDMM_RUST_ENV} ${SDMM_RUST_RUN} ${name} ${ARGN}
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  # cargo serialises on its target directory anyway; a resource lock keeps
  # ctest's timeout from counting the wait, and the 2 cores for one rustc.
  set_tests_properties(rust.${name} PROPERTIES RESOURCE_LOCK cargo SKIP_RETURN_CODE 77)
endfunction()

sdmm_rust_test(cargo_test)        # unit, integration, proptest, trybuild, doc tests, quickstart
sdmm_rust_test(clippy)            # cargo clippy --all-targets -D warnings (std and no_std)
sdmm_rust_test(fmt)               # cargo fmt --check
sdmm_rust_test(bindings_drift)    # rust/src/ffi.rs == bindgen(ffi/sdmm.h)
sdmm_rust_test(publish_dry_run)   # cargo publish --dry-run: manifest, package contents, packaged build
sdmm_rust_test(package_consumer ${PROJECT_BINARY_DIR}/rust-package)  # cargo package -> fresh crate
