# Included by cmake/sdmm_bpf.cmake: the BPF benchmark (bench/bpf/run.sh runs
# it properly; ctest only runs a smoke pass).
sdmm_add_bpf_object(sdmm_bpf_bench_progs SOURCES ${PROJECT_SOURCE_DIR}/bench/bpf/sdmm_bench.bpf.c)
# The same programs over the per-type specialised allocator (bpf/sdmm_bpf.cpp).
sdmm_add_bpf_object(sdmm_bpf_bench_progs_specialized SOURCES ${PROJECT_SOURCE_DIR}/bench/bpf/sdmm_bench.bpf.c
                    CORE ${SDMM_BPF_DIR}/sdmm_bpf_specialized.o)
sdmm_add_bpf_loader(sdmm_bpf_bench ${PROJECT_SOURCE_DIR}/bench/bpf/bench_bpf.c)
add_dependencies(sdmm_bpf_bench sdmm_bpf_bench_progs sdmm_bpf_bench_progs_specialized)
# Smoke run; fails if verifying the 100-pair program (3.3k instructions when
# written) grows past 6000.
add_test(NAME bpf.bench_smoke COMMAND ${CMAKE_COMMAND} -E env SDMM_BPF_MAX_INSNS=6000
         $<TARGET_FILE:sdmm_bpf_bench> ${sdmm_bpf_bench_progs_OBJECT} 20 3)
set_tests_properties(bpf.bench_smoke PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
