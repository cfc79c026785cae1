# Included by cmake/sdmm_bpf.cmake: the BPF benchmark (bench/bpf/run.sh runs
# it properly; ctest only runs a smoke pass).
sdmm_add_bpf_object(sdmm_bpf_bench_progs SOURCES ${PROJECT_SOURCE_DIR}/bench/bpf/sdmm_bench.bpf.c)
sdmm_add_bpf_loader(sdmm_bpf_bench ${PROJECT_SOURCE_DIR}/bench/bpf/bench_bpf.c)
add_dependencies(sdmm_bpf_bench sdmm_bpf_bench_progs)
add_test(NAME bpf.bench_smoke COMMAND sdmm_bpf_bench ${sdmm_bpf_bench_progs_OBJECT} 20 3)
set_tests_properties(bpf.bench_smoke PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
