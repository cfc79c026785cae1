# Included by cmake/sdmm_bpf.cmake: the BPF benchmark programs linked with
# every build of the allocator (bench/bpf/run.sh runs them properly; ctest
# only runs a smoke pass).
sdmm_add_bpf_loader(sdmm_bpf_bench ${PROJECT_SOURCE_DIR}/bench/bpf/bench_bpf.c)
set(SDMM_BPF_BENCH_OBJECTS)
foreach(variant IN LISTS SDMM_BPF_VARIANTS)
  string(REPLACE "sdmm_bpf" "" suffix ${variant})
  sdmm_add_bpf_object(sdmm_bpf_bench_progs${suffix} SOURCES ${PROJECT_SOURCE_DIR}/bench/bpf/sdmm_bench.bpf.c
                      CORE ${SDMM_BPF_DIR}/${variant}.o)
  add_dependencies(sdmm_bpf_bench sdmm_bpf_bench_progs${suffix})
  list(APPEND SDMM_BPF_BENCH_OBJECTS ${sdmm_bpf_bench_progs${suffix}_OBJECT})
endforeach()
# Smoke run; fails if verifying the 100-pair program over the default build
# grows past 2000, the core issue's goal (bench/bpf/RESULTS.md has today's
# count; the margin absorbs compiler and kernel versions -- a cut of core v2
# once took 23.7k unnoticed under an earlier budget of 8000).
add_test(NAME bpf.bench_smoke COMMAND ${CMAKE_COMMAND} -E env SDMM_BPF_MAX_INSNS=2000
         $<TARGET_FILE:sdmm_bpf_bench> 20 3 ${SDMM_BPF_BENCH_OBJECTS})
set_tests_properties(bpf.bench_smoke PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
