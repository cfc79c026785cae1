# sdmm_solana.cmake -- Solana on-chain consumers: SBF programs built with
# upstream clang and relinked to SBPF v0 (tools/sbpf-relink), run in LiteSVM
# (Agave's program runtime, from npm) by the `solana.*` tests.
#
#   sdmm_add_sbf_program(NAME SOURCES src... [DEFINES D=V...] [DEPENDS headers...] [WITH_CORE])
#     -> ${SDMM_SBF_DIR}/NAME.so, built with the target `sbf_NAME` (in ALL).
#        WITH_CORE links the sdmm core in, with the SBF platform hooks
#        (sbf/sdmm_sbf_platform.h).
#   ${SDMM_SBF_DIR}/sdmm_types.jsonl: the type table (ffi/sdmm_types.def) as
#        JSON lines, made by the C preprocessor, for the JS tests.
#
# The SBF port itself (headers, every compiler flag) is in sbf/; the flags in
# sbf/flags.sh only, which the build scripts source and this file asks for
# the tool list. Needs clang-22, llvm-22 (llvm-link, opt, llc), python3; the tests need node
# and tests/solana/node_modules (tools/setup.d/solana.sh runs `npm ci`). What
# is missing turns into a test that reports SKIP with the reason.

set(SDMM_SBF_DIR ${PROJECT_BINARY_DIR}/solana)
set(SDMM_SBF_BUILD ${PROJECT_SOURCE_DIR}/tools/sbpf-relink/sbf-build.sh)
set(SDMM_SBF_SKIP 77)

set(SDMM_SBF_PORT ${PROJECT_SOURCE_DIR}/sbf)
set(SDMM_SBF_PORT_FILES ${SDMM_SBF_PORT}/flags.sh ${SDMM_SBF_PORT}/sdmm_sbf.h ${SDMM_SBF_PORT}/sdmm_sbf_platform.h)
execute_process(COMMAND bash ${SDMM_SBF_PORT}/flags.sh tools OUTPUT_VARIABLE _sdmm_sbf_tools
                OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
string(REPLACE "\n" ";" _sdmm_sbf_tools "${_sdmm_sbf_tools}")
set(_sdmm_sbf_missing "")
foreach(tool IN LISTS _sdmm_sbf_tools)
  string(MAKE_C_IDENTIFIER "SDMM_TOOL_${tool}" var)
  find_program(${var} ${tool})
  if(NOT ${var})
    list(APPEND _sdmm_sbf_missing ${tool})
  endif()
endforeach()
find_program(SDMM_NODE node)

function(sdmm_add_sbf_program NAME)
  cmake_parse_arguments(ARG "WITH_CORE" "" "SOURCES;DEFINES;DEPENDS" ${ARGN})
  if(_sdmm_sbf_missing)
    return()
  endif()
  set(out ${SDMM_SBF_DIR}/${NAME}.so)
  set(args -o ${out})
  foreach(d IN LISTS ARG_DEFINES)
    list(APPEND args -D ${d})
  endforeach()
  set(deps ${ARG_SOURCES} ${ARG_DEPENDS} ${SDMM_SBF_BUILD} ${PROJECT_SOURCE_DIR}/tools/sbpf-relink/sbpf_relink.py
      ${SDMM_SBF_PORT_FILES} ${PROJECT_SOURCE_DIR}/ffi/sdmm.h
      ${PROJECT_SOURCE_DIR}/ffi/sdmm_types.def ${PROJECT_SOURCE_DIR}/ffi/sdmm_status.def)
  if(ARG_WITH_CORE)
    list(APPEND args --core)
    list(APPEND deps ${SDMM_CORE_SOURCES} ${PROJECT_SOURCE_DIR}/cpp/core/heap.hpp
         ${PROJECT_SOURCE_DIR}/cpp/core/bits.hpp ${PROJECT_SOURCE_DIR}/cpp/core/platform.hpp)
  endif()
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${SDMM_SBF_DIR}
    COMMAND bash ${SDMM_SBF_BUILD} ${args} ${ARG_SOURCES}
    DEPENDS ${deps}
    COMMENT "SBF program ${NAME}.so"
    VERBATIM)
  add_custom_target(sbf_${NAME} ALL DEPENDS ${out})
endfunction()

# A node test over the built programs; SKIP when node or the npm packages are missing.
function(sdmm_add_solana_test NAME SCRIPT)
  set(script ${PROJECT_SOURCE_DIR}/${SCRIPT})
  add_test(NAME solana.${NAME}
    COMMAND bash -c "
      if [ -n \"$1\" ]; then echo \"SKIP: missing $1 (run tools/setup.sh)\"; exit ${SDMM_SBF_SKIP}; fi
      command -v node >/dev/null || { echo 'SKIP: node is not installed'; exit ${SDMM_SBF_SKIP}; }
      [ -d '${PROJECT_SOURCE_DIR}/tests/solana/node_modules/litesvm' ] || {
        echo 'SKIP: tests/solana/node_modules missing (run tools/setup.d/solana.sh: npm ci)'; exit ${SDMM_SBF_SKIP}; }
      exec node '${script}' '${SDMM_SBF_DIR}'" _ "${_sdmm_sbf_missing}")
  set_tests_properties(solana.${NAME} PROPERTIES SKIP_RETURN_CODE ${SDMM_SBF_SKIP} TIMEOUT 900)
endfunction()

# ---- the type table for the JS tests: parsed by the C preprocessor only ----
set(_sdmm_types_json ${SDMM_SBF_DIR}/sdmm_types.jsonl)
add_custom_command(OUTPUT ${_sdmm_types_json}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${SDMM_SBF_DIR}
  COMMAND ${CMAKE_C_COMPILER} -E -P -x c -I${PROJECT_SOURCE_DIR}/ffi ${SDMM_SBF_PORT}/sdmm_types.jsonl.in
          -o ${_sdmm_types_json}
  DEPENDS ${SDMM_SBF_PORT}/sdmm_types.jsonl.in ${PROJECT_SOURCE_DIR}/ffi/sdmm_types.def
  COMMENT "sdmm_types.jsonl (the type table for the Solana tests)"
  VERBATIM)
add_custom_target(sbf_types_json ALL DEPENDS ${_sdmm_types_json})

# ---- the programs ----
set(_sdmm_sol ${PROJECT_SOURCE_DIR}/examples/solana)
sdmm_add_sbf_program(heap-demo SOURCES ${_sdmm_sol}/heap-demo/heap_demo.cpp WITH_CORE)
# The bump allocator baseline: the same source, built the same way.
sdmm_add_sbf_program(heap-demo-bump SOURCES ${_sdmm_sol}/heap-demo/heap_demo.cpp DEFINES HEAP_DEMO_BUMP WITH_CORE)
sdmm_add_sbf_program(memory-service SOURCES ${_sdmm_sol}/memory-service/memory_service.cpp
  DEPENDS ${_sdmm_sol}/memory-service/memory_service_layout.h WITH_CORE)
sdmm_add_sbf_program(memory-client SOURCES ${_sdmm_sol}/memory-client/memory_client.cpp)
# Every alloc and free timed on its own (bench/solana/percall.mjs, the
# worst-case test), and the SDK's bump allocator built the same way.
sdmm_add_sbf_program(alloc-timing SOURCES ${_sdmm_sol}/alloc-timing/alloc_timing.cpp WITH_CORE)
sdmm_add_sbf_program(alloc-timing-bump SOURCES ${_sdmm_sol}/alloc-timing/alloc_timing.cpp DEFINES TIMING_BUMP)

# The no_std Rust program over sdmm-sys: Debian's rustc-web (1.96, with
# rust-src for -Zbuild-std) builds it for bpfel-unknown-none; without it the
# program is not built and solana.rust_heap_demo reports SKIP.
find_program(SDMM_DEBIAN_CARGO cargo PATHS /usr/bin NO_DEFAULT_PATH)
if(SDMM_DEBIAN_CARGO AND EXISTS /usr/lib/rustlib/src/rust/library AND NOT _sdmm_sbf_missing)
  file(GLOB _sdmm_rust_srcs ${_sdmm_sol}/rust-heap-demo/src/*.rs ${PROJECT_SOURCE_DIR}/rust/src/*.rs)
  set(_sdmm_rust_out ${SDMM_SBF_DIR}/rust-heap-demo.so)
  # Both builds in one command: they share the cargo target directory (and
  # its build of core/alloc), so they must not run in parallel.
  add_custom_command(OUTPUT ${_sdmm_rust_out} ${SDMM_SBF_DIR}/rust-heap-demo-bump.so
    COMMAND ${CMAKE_COMMAND} -E make_directory ${SDMM_SBF_DIR}
    COMMAND bash ${PROJECT_SOURCE_DIR}/tools/sbpf-relink/sbf-rust.sh ${_sdmm_sol}/rust-heap-demo ${_sdmm_rust_out}
            ${SDMM_SBF_DIR}/rust-target
    COMMAND bash ${PROJECT_SOURCE_DIR}/tools/sbpf-relink/sbf-rust.sh ${_sdmm_sol}/rust-heap-demo
            ${SDMM_SBF_DIR}/rust-heap-demo-bump.so ${SDMM_SBF_DIR}/rust-target bump
    DEPENDS ${_sdmm_rust_srcs} ${_sdmm_sol}/rust-heap-demo/Cargo.toml ${PROJECT_SOURCE_DIR}/Cargo.toml
            ${PROJECT_SOURCE_DIR}/rust/build.rs ${SDMM_CORE_SOURCES} ${PROJECT_SOURCE_DIR}/cpp/core/heap.hpp
            ${PROJECT_SOURCE_DIR}/cpp/core/bits.hpp ${PROJECT_SOURCE_DIR}/cpp/core/platform.hpp
            ${PROJECT_SOURCE_DIR}/tools/sbpf-relink/sbf-rust.sh ${PROJECT_SOURCE_DIR}/tools/sbpf-relink/bpf_ir_fixups.py
            ${SDMM_SBF_PORT}/sbf_mem_shims.c ${PROJECT_SOURCE_DIR}/tools/sbpf-relink/sbpf_relink.py
            ${SDMM_SBF_PORT_FILES}
    COMMENT "SBF program rust-heap-demo.so (Rust, -Zbuild-std)"
    VERBATIM)
  add_custom_target(sbf_rust-heap-demo ALL DEPENDS ${_sdmm_rust_out})
endif()

# ---- tests ----
# The relinker's own tests (need clang-22/llc-22 to make input objects).
add_test(NAME solana.relink
  COMMAND bash -c "
    if [ -n \"$1\" ]; then echo \"SKIP: missing $1\"; exit ${SDMM_SBF_SKIP}; fi
    exec python3 '${PROJECT_SOURCE_DIR}/tools/sbpf-relink/test_sbpf_relink.py'" _ "${_sdmm_sbf_missing}")
set_tests_properties(solana.relink PROPERTIES SKIP_RETURN_CODE ${SDMM_SBF_SKIP})
sdmm_add_solana_test(heap_demo tests/solana/heap_demo.test.mjs)
sdmm_add_solana_test(memory_service tests/solana/memory_service.test.mjs)
sdmm_add_solana_test(rust_heap_demo tests/solana/rust_heap_demo.test.mjs)
# The worst case of one alloc / free over a long random run, against README.md's stated bound.
sdmm_add_solana_test(worst_case tests/solana/worst_case.test.mjs)
# Every alloc and free timed on its own (sdmm vs the SDK bump allocator).
sdmm_add_solana_test(percall bench/solana/percall.mjs)
# The benchmark runs in every test run: CU per operation, .so sizes, CPI cost.
sdmm_add_solana_test(bench bench/solana/bench.mjs)
