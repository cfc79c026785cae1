//! Build script of sdmm-sys.
//!
//! 1. Generates the Rust side of the one type table: `ffi/sdmm_types.def` and
//!    `ffi/sdmm_status.def` are read through the C preprocessor (their one
//!    parser) and turned into macro invocations
//!    (`$OUT_DIR/sdmm_tables.rs`, included by `lib.rs`), so a new row in the
//!    .def is a new `Heap::alloc_<name>[_from]` / `<Camel>Block` / `Error` variant
//!    with no Rust edit.
//! 2. Builds the allocator core (`cpp/core/heap.cpp` + `ffi/sdmm.cpp`) with
//!    the `cc` crate, or links a prebuilt `libsdmm.a` from `SDMM_LIB_DIR`
//!    (how the CMake build hands its own library to cargo).
//! 3. Emits `links = "sdmm"` metadata: dependents get `DEP_SDMM_INCLUDE`
//!    (the directory of `sdmm.h`) and `DEP_SDMM_ROOT`.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// One row of `sdmm_types.def`: `SDMM_TYPE(name, TAG, Camel, c_type, size_log2)`.
struct TypeRow {
    name: String,
    tag: String,
    camel: String,
    c_type: String,
    size_log2: u32,
}

/// One row of `sdmm_status.def`: `SDMM_STATUS(NAME, value, message)`.
struct StatusRow {
    name: String,
    value: u32,
    message: String,
}

/// The rows of both tables as the C preprocessor reads them -- the one
/// parser of the .def files (the C, C++, BPF and SBF builds include them;
/// the Solana tests read the same preprocessor output). Each row comes out
/// as one `SDMM_ROW|kind|field|field...` line.
fn table_rows(ffi: &Path, out_dir: &Path) -> Vec<Vec<String>> {
    let template = out_dir.join("sdmm_tables.c");
    fs::write(
        &template,
        "#define SDMM_TYPE(name, TAG, Camel, c_type, size_log2) \\\n\
         SDMM_ROW|type|name|TAG|Camel|c_type|size_log2\n\
         #include \"sdmm_types.def\"\n\
         #define SDMM_STATUS(NAME, value, message) SDMM_ROW|status|NAME|value|message\n\
         #include \"sdmm_status.def\"\n",
    )
    .expect("write the table template");
    let expanded = cc::Build::new()
        .file(&template)
        .include(ffi)
        .cargo_metadata(false)
        .cargo_warnings(false)
        .expand();
    let text = String::from_utf8(expanded).expect("preprocessor output is UTF-8");
    text.lines()
        .map(str::trim)
        .filter(|line| line.starts_with("SDMM_ROW"))
        .map(|row| {
            row.split('|')
                .skip(1)
                .map(|f| f.trim().to_string())
                .collect()
        })
        .collect()
}

fn parse_types(rows: &[Vec<String>]) -> Vec<TypeRow> {
    rows.iter()
        .filter(|f| f[0] == "type")
        .map(|f| {
            assert_eq!(f.len(), 6, "SDMM_TYPE needs 5 fields: {f:?}");
            TypeRow {
                name: f[1].clone(),
                tag: f[2].clone(),
                camel: f[3].clone(),
                c_type: f[4].clone(),
                size_log2: f[5]
                    .parse()
                    .unwrap_or_else(|_| panic!("size_log2 is not a number: {f:?}")),
            }
        })
        .collect()
}

fn parse_statuses(rows: &[Vec<String>]) -> Vec<StatusRow> {
    rows.iter()
        .filter(|f| f[0] == "status")
        .map(|f| {
            assert_eq!(f.len(), 4, "SDMM_STATUS needs 3 fields: {f:?}");
            let message = f[3].clone();
            assert!(
                message.starts_with('"') && message.ends_with('"') && !message.contains('\\'),
                "status message must be a plain string literal: {f:?}"
            );
            StatusRow {
                name: f[1].clone(),
                value: f[2]
                    .parse()
                    .unwrap_or_else(|_| panic!("status value is not a number: {f:?}")),
                message,
            }
        })
        .collect()
}

/// The Rust element type of a C element type. Integers map to Rust
/// integers; the `sdmm_*` structs to their bindgen types (same layout).
fn rust_type(c_type: &str) -> String {
    let int = |prefix: &str, rust: &str| {
        c_type
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix("_t"))
            .filter(|bits| matches!(*bits, "8" | "16" | "32" | "64"))
            .map(|bits| format!("{rust}{bits}"))
    };
    if let Some(t) = int("uint", "u").or_else(|| int("int", "i")) {
        return t;
    }
    if c_type.starts_with("sdmm_")
        && c_type
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return format!("crate::ffi::{c_type}");
    }
    panic!(
        "sdmm_types.def: no Rust mapping for C type `{c_type}`; \
         teach rust_type() in rust/build.rs about it"
    );
}

/// `ERR_ZERO_COUNT` -> `ZeroCount`.
fn camel_of_status(name: &str) -> String {
    let bare = name.strip_prefix("ERR_").unwrap_or(name);
    bare.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn generate(types: &[TypeRow], statuses: &[StatusRow]) -> String {
    let mut out = String::new();
    out.push_str(
        "// @generated by rust/build.rs from ffi/sdmm_types.def and ffi/sdmm_status.def.\n\n",
    );

    // Element type aliases for the struct types (`Pubkey`, `U128`, ...).
    out.push_str("sdmm_element_aliases! {\n");
    for t in types.iter().filter(|t| t.c_type.starts_with("sdmm_")) {
        writeln!(
            out,
            "    ({}, {}, {:?}),",
            t.camel,
            rust_type(&t.c_type),
            t.name
        )
        .unwrap();
    }
    out.push_str("}\n\n");

    // Each row once in the list macro (Tag: needs all rows at once) and once
    // in a macro of its own (a block type and its methods), so a compiler
    // error about one block type quotes one row, not the whole table.
    let rows: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                "({name:?}, {Camel}, {Camel}Block, {elem}, crate::ffi::SDMM_TAG_{TAG}, {tag_value}, \
                 {size_log2}, alloc_{name}, alloc_{name}_from, resolve_{name}, \
                 crate::ffi::sdmm_alloc_{name}_into)",
                name = t.name,
                Camel = t.camel,
                // Struct elements are named by their public alias (`crate::Pubkey`),
                // which is what the docs of the block types then show.
                elem = if t.c_type.starts_with("sdmm_") {
                    format!("crate::{}", t.camel)
                } else {
                    rust_type(&t.c_type)
                },
                TAG = t.tag,
                tag_value = i + 1,
                size_log2 = t.size_log2,
            )
        })
        .collect();
    out.push_str("sdmm_types! {\n");
    for row in &rows {
        writeln!(out, "    {row},").unwrap();
    }
    out.push_str("}\n\n");
    for row in &rows {
        writeln!(out, "sdmm_block_type! {{ {row} }}").unwrap();
    }
    out.push('\n');

    out.push_str("sdmm_statuses! {\n");
    for s in statuses.iter().filter(|s| s.value != 0) {
        writeln!(
            out,
            "    ({camel}, crate::ffi::SDMM_{name}, {value}, {message}),",
            camel = camel_of_status(&s.name),
            name = s.name,
            value = s.value,
            message = s.message,
        )
        .unwrap();
    }
    out.push_str("}\n");
    out
}

fn main() {
    let root =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let ffi = root.join("ffi");
    let core = root.join("cpp").join("core");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));

    // ---- 1. the tables ---------------------------------------------------
    for def in ["sdmm_types.def", "sdmm_status.def"] {
        println!("cargo:rerun-if-changed={}", ffi.join(def).display());
    }
    let rows = table_rows(&ffi, &out_dir);
    let types = parse_types(&rows);
    let statuses = parse_statuses(&rows);
    assert!(!types.is_empty(), "sdmm_types.def has no rows");
    assert!(
        statuses.iter().any(|s| s.value == 0 && s.name == "OK"),
        "sdmm_status.def must define OK = 0"
    );
    fs::write(out_dir.join("sdmm_tables.rs"), generate(&types, &statuses))
        .expect("write sdmm_tables.rs");

    // ---- 2. the library ----------------------------------------------------
    // The shared-heap service (`shm` module: std, Linux) first, so that the
    // core it calls comes after it on the link line.
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if env::var_os("CARGO_FEATURE_STD").is_some() && target_os == "linux" {
        let service = root.join("service").join("shared.cpp");
        println!("cargo:rerun-if-changed={}", service.display());
        for header in ["sdmm_shared.h", "sdmm_shared_layout.h"] {
            println!("cargo:rerun-if-changed={}", ffi.join(header).display());
        }
        cxx_build(&ffi).file(&service).compile("sdmm_shared");
    }
    // The host runtime (feature `host`, Linux), before the core too.
    // `host/runtime.cpp`: per-thread heaps over mmap arenas, the process heap
    // behind `HostHeap`. Always compiled here (the CMake core library holds
    // the core only); it needs pthreads, which std links on Linux.
    let host = env::var_os("CARGO_FEATURE_HOST").is_some()
        && env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if host {
        let runtime = root.join("host").join("runtime.cpp");
        for f in [&runtime, &ffi.join("sdmm_host.h")] {
            println!("cargo:rerun-if-changed={}", f.display());
        }
        cxx_build(&ffi)
            .flag("-pthread")
            .file(&runtime)
            .compile("sdmm_host");
    }

    println!("cargo:rerun-if-env-changed=SDMM_LIB_DIR");
    // SDMM_WERROR=1 makes warnings of the C++ compile errors (the packaging
    // test sets it; users' builds never fail on a new compiler's warning).
    println!("cargo:rerun-if-env-changed=SDMM_WERROR");
    match env::var_os("SDMM_LIB_DIR") {
        Some(dir) if !dir.is_empty() => {
            // A prebuilt static library (the CMake build's). Only the core is
            // needed; it must not pull in libstdc++ (see cmake/sdmm_rust.cmake,
            // which builds a core-only libsdmm.a for this).
            let dir = PathBuf::from(dir);
            let lib = dir.join("libsdmm.a");
            assert!(
                lib.is_file(),
                "SDMM_LIB_DIR={} has no libsdmm.a",
                dir.display()
            );
            println!("cargo:rerun-if-changed={}", lib.display());
            println!("cargo:rustc-link-search=native={}", dir.display());
            println!("cargo:rustc-link-lib=static=sdmm");
            println!("cargo:lib_dir={}", dir.display());
        }
        _ => {
            let sources = [core.join("heap.cpp"), ffi.join("sdmm.cpp")];
            for f in sources.iter().chain(&[
                core.join("heap.hpp"),
                core.join("bits.hpp"),
                core.join("platform.hpp"),
                ffi.join("sdmm.h"),
            ]) {
                println!("cargo:rerun-if-changed={}", f.display());
            }
            cxx_build(&ffi).files(&sources).compile("sdmm");
            println!("cargo:lib_dir={}", out_dir.display());
        }
    }

    // ---- 3. metadata for dependents (DEP_SDMM_INCLUDE, DEP_SDMM_ROOT) ------
    println!("cargo:include={}", ffi.display());
    println!("cargo:root={}", root.display());
}

/// The one C++ configuration of every library this crate compiles (the core,
/// the shared-heap service, the host runtime). None of them needs libstdc++
/// or exceptions/RTTI, which keeps the core usable from no_std targets.
/// SDMM_WERROR=1 makes warnings errors (the packaging test sets it; users'
/// builds never fail on a new compiler's warning).
fn cxx_build(ffi: &Path) -> cc::Build {
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .cpp_link_stdlib(None)
        .flag("-std=c++20")
        .flag("-fno-exceptions")
        .flag("-fno-rtti")
        .flag("-fno-strict-aliasing")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(env::var_os("SDMM_WERROR").is_some())
        .include(ffi);
    build
}
