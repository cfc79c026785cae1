# Included by cmake/sdmm_bpf.cmake: the records example (XDP + libbpf loader),
# run by ctest and by `./run demo` (tools/demo.d/bpf.sh).
sdmm_add_bpf_object(sdmm_bpf_records_prog SOURCES ${PROJECT_SOURCE_DIR}/examples/bpf/records.bpf.c
                    INCLUDES ${PROJECT_SOURCE_DIR}/examples/bpf)
sdmm_add_bpf_loader(sdmm_bpf_records ${PROJECT_SOURCE_DIR}/examples/bpf/records.c)
target_include_directories(sdmm_bpf_records PRIVATE ${PROJECT_SOURCE_DIR}/examples/bpf)
find_package(Threads REQUIRED)
target_link_libraries(sdmm_bpf_records PRIVATE Threads::Threads)
add_dependencies(sdmm_bpf_records sdmm_bpf_records_prog)
add_test(NAME bpf.example_records COMMAND sdmm_bpf_records ${sdmm_bpf_records_prog_OBJECT})
set_tests_properties(bpf.example_records PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
