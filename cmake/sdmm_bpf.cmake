# Kernel eBPF consumer of sdmm (included by the top-level CMakeLists inside
# the tests block).
#
#  - sdmm_bpf_core: bpf/sdmm_bpf.o, the allocator core + C boundary + the
#    scalar-only BPF API (bpf/sdmm_bpf.h) compiled with clang++ -target bpf -g
#    and the flags of bpf/flags.sh.
#  - sdmm_add_bpf_object(<name> SOURCES a.bpf.c ...): compiles BPF programs
#    written in C and links them with sdmm_bpf.o using libbpf's static linker
#    (`bpftool gen object`) into ${CMAKE_CURRENT_BINARY_DIR}/bpf/<name>.o.
#  - tests bpf.* (real verifier + BPF_PROG_TEST_RUN), the example loader, the
#    benchmark runner.
# Needs clang-22, bpftool and libbpf-dev (tools/setup.sh installs them).

find_program(SDMM_BPF_CLANG NAMES clang-22)
find_program(SDMM_BPF_CLANGXX NAMES clang++-22)
find_program(SDMM_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin)
find_library(SDMM_LIBBPF NAMES bpf)
find_path(SDMM_LIBBPF_INCLUDE NAMES bpf/libbpf.h)

if(NOT SDMM_BPF_CLANG OR NOT SDMM_BPF_CLANGXX OR NOT SDMM_BPFTOOL OR NOT SDMM_LIBBPF OR NOT SDMM_LIBBPF_INCLUDE)
  message(WARNING "sdmm BPF: clang-22, bpftool or libbpf missing; the bpf.* tests report SKIP")
  add_test(NAME bpf.toolchain COMMAND ${CMAKE_COMMAND} -E echo
           "SKIP: clang-22, bpftool or libbpf-dev missing (run tools/setup.sh)")
  set_tests_properties(bpf.toolchain PROPERTIES SKIP_REGULAR_EXPRESSION "SKIP:")
  return()
endif()

set(SDMM_BPF_DIR ${PROJECT_BINARY_DIR}/bpf)
file(MAKE_DIRECTORY ${SDMM_BPF_DIR})
# Every compile flag and include path comes from bpf/flags.sh, the one place
# they are written (the shell tools read it too).
function(_sdmm_bpf_flags lang out)
  execute_process(COMMAND sh ${PROJECT_SOURCE_DIR}/bpf/flags.sh ${lang}
                  OUTPUT_VARIABLE flags RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "bpf/flags.sh ${lang} failed (${rc})")
  endif()
  string(STRIP "${flags}" flags)
  string(REPLACE "\n" ";" flags "${flags}")
  set(${out} ${flags} PARENT_SCOPE)
endfunction()
_sdmm_bpf_flags(c SDMM_BPF_C_FLAGS)
_sdmm_bpf_flags(c++ SDMM_BPF_CXX_FLAGS)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/bpf/flags.sh)

# Two builds of bpf/sdmm_bpf.cpp (its header explains the option):
#   sdmm_bpf.o           the default: an atomic try-lock around every call that
#                        changes the heap (SDMM_ERR_BUSY on contention), so
#                        programs of any type on several CPUs share the pool
#   sdmm_bpf_unlocked.o  no lock: one CPU at a time
set(SDMM_BPF_VARIANTS sdmm_bpf sdmm_bpf_unlocked)
set(SDMM_BPF_VARIANT_FLAGS_sdmm_bpf -DSDMM_BPF_LOCKED=1)
set(SDMM_BPF_VARIANT_FLAGS_sdmm_bpf_unlocked -DSDMM_BPF_LOCKED=0)
set(SDMM_BPF_VARIANT_OBJECTS)
foreach(variant IN LISTS SDMM_BPF_VARIANTS)
  set(obj ${SDMM_BPF_DIR}/${variant}.o)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${SDMM_BPF_CLANGXX} ${SDMM_BPF_CXX_FLAGS} ${SDMM_BPF_VARIANT_FLAGS_${variant}}
            -MD -MF ${obj}.d -c ${PROJECT_SOURCE_DIR}/bpf/sdmm_bpf.cpp -o ${obj}
    DEPENDS ${PROJECT_SOURCE_DIR}/bpf/sdmm_bpf.cpp ${PROJECT_SOURCE_DIR}/bpf/flags.sh
    DEPFILE ${obj}.d
    COMMENT "BPF: ${variant}.o (clang++ -target bpf)"
    VERBATIM)
  list(APPEND SDMM_BPF_VARIANT_OBJECTS ${obj})
endforeach()
set(SDMM_BPF_CORE_OBJECT ${SDMM_BPF_DIR}/sdmm_bpf.o)
add_custom_target(sdmm_bpf_core ALL DEPENDS ${SDMM_BPF_VARIANT_OBJECTS})

# sdmm_add_bpf_object(<name> SOURCES <file.bpf.c>... [INCLUDES <dir>...] [CORE <sdmm_bpf object>])
function(sdmm_add_bpf_object name)
  cmake_parse_arguments(ARG "" "CORE" "SOURCES;INCLUDES" ${ARGN})
  if(NOT ARG_CORE)
    set(ARG_CORE ${SDMM_BPF_CORE_OBJECT})
  endif()
  set(objects)
  set(include_flags)
  foreach(dir IN LISTS ARG_INCLUDES)
    list(APPEND include_flags -I${dir})
  endforeach()
  foreach(src IN LISTS ARG_SOURCES)
    get_filename_component(base ${src} NAME_WE)
    set(obj ${SDMM_BPF_DIR}/${name}.${base}.o)
    add_custom_command(
      OUTPUT ${obj}
      COMMAND ${SDMM_BPF_CLANG} ${SDMM_BPF_C_FLAGS} ${include_flags} -MD -MF ${obj}.d -c ${src} -o ${obj}
      DEPENDS ${src} ${PROJECT_SOURCE_DIR}/bpf/flags.sh
      DEPFILE ${obj}.d
      COMMENT "BPF: ${name}: ${base}"
      VERBATIM)
    list(APPEND objects ${obj})
  endforeach()
  set(linked ${SDMM_BPF_DIR}/${name}.o)
  add_custom_command(
    OUTPUT ${linked}
    COMMAND ${SDMM_BPFTOOL} gen object ${linked} ${objects} ${ARG_CORE}
    DEPENDS ${objects} ${ARG_CORE}
    COMMENT "BPF: ${name}: link with sdmm (bpftool gen object)"
  VERBATIM)
  add_custom_target(${name} ALL DEPENDS ${linked})
  set(${name}_OBJECT ${linked} PARENT_SCOPE)
endfunction()

# A user-space tool that loads BPF objects (libbpf) and may use native sdmm
# (sdmm::sdmm, or the library named after NATIVE).
function(sdmm_add_bpf_loader name)
  cmake_parse_arguments(ARG "" "NATIVE" "" ${ARGN})
  if(NOT ARG_NATIVE)
    set(ARG_NATIVE sdmm::sdmm)
  endif()
  add_executable(${name} ${ARG_UNPARSED_ARGUMENTS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/bpf ${SDMM_LIBBPF_INCLUDE})
  target_link_libraries(${name} PRIVATE ${ARG_NATIVE} ${SDMM_LIBBPF})
  sdmm_warnings(${name})
endfunction()

# ---- tests ------------------------------------------------------------------------
# The same test programs linked with each build of the allocator; every build
# must give the native results. On the default (locked) build: bpf.smp runs
# two CPUs at once, bpf.busy holds the try-lock, bpf.progtypes loads it in
# every program type.
# The test loader's native twin: the core with the kernel build's
# configuration, so the random test can compare pools byte for byte.
add_library(sdmm_bpf_twin STATIC ${SDMM_CORE_SOURCES})
target_include_directories(sdmm_bpf_twin PUBLIC ${PROJECT_SOURCE_DIR}/ffi)
target_compile_features(sdmm_bpf_twin PRIVATE cxx_std_20)
target_compile_options(sdmm_bpf_twin PRIVATE -include ${PROJECT_SOURCE_DIR}/bpf/sdmm_bpf_core_config.h)
sdmm_add_bpf_loader(sdmm_bpf_test ${PROJECT_SOURCE_DIR}/tests/bpf/test_bpf.c NATIVE sdmm_bpf_twin)
target_include_directories(sdmm_bpf_test PRIVATE ${PROJECT_SOURCE_DIR}/tests/bpf)
find_package(Threads REQUIRED)
target_link_libraries(sdmm_bpf_test PRIVATE Threads::Threads)
foreach(variant IN LISTS SDMM_BPF_VARIANTS)
  string(REPLACE "sdmm_bpf" "" suffix ${variant})  # "" or _unlocked
  string(REGEX REPLACE "^_" "" label "${suffix}")
  sdmm_add_bpf_object(sdmm_bpf_tests${suffix} SOURCES ${PROJECT_SOURCE_DIR}/tests/bpf/sdmm_test.bpf.c
                      INCLUDES ${PROJECT_SOURCE_DIR}/tests/bpf CORE ${SDMM_BPF_DIR}/${variant}.o)
  add_dependencies(sdmm_bpf_test sdmm_bpf_tests${suffix})
  set(prefix bpf.)
  if(label)
    set(prefix bpf.${label}.)
  endif()
  foreach(t IN ITEMS all_types statuses random)
    set(mode ${t})
    if(t STREQUAL "all_types")
      set(mode types)
    endif()
    add_test(NAME ${prefix}${t} COMMAND sdmm_bpf_test ${mode} ${sdmm_bpf_tests${suffix}_OBJECT})
    set_tests_properties(${prefix}${t} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
  endforeach()
endforeach()
add_test(NAME bpf.smp COMMAND sdmm_bpf_test smp ${sdmm_bpf_tests_OBJECT})
add_test(NAME bpf.busy COMMAND sdmm_bpf_test busy ${sdmm_bpf_tests_OBJECT})
# The default build in every program type that may call global functions.
sdmm_add_bpf_object(sdmm_bpf_progtypes SOURCES ${PROJECT_SOURCE_DIR}/tests/bpf/sdmm_progtypes.bpf.c
                    INCLUDES ${PROJECT_SOURCE_DIR}/tests/bpf)
add_dependencies(sdmm_bpf_test sdmm_bpf_progtypes)
add_test(NAME bpf.progtypes COMMAND sdmm_bpf_test progtypes ${sdmm_bpf_progtypes_OBJECT})
set_tests_properties(bpf.smp bpf.busy bpf.progtypes PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)

# ---- example and benchmark (present once written) ------------------------------------
include(${PROJECT_SOURCE_DIR}/examples/bpf/example.cmake OPTIONAL)
include(${PROJECT_SOURCE_DIR}/bench/bpf/bench.cmake OPTIONAL)
