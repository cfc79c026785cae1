# A smoke run of the benchmark pipeline (tiny sizes): every harness binary,
# callgrind, the report writer and the plots must keep working.
add_test(NAME bench.smoke
         COMMAND python3 ${PROJECT_SOURCE_DIR}/bench/run.py
                 --smoke ${PROJECT_BINARY_DIR}/bench-smoke
                 --bindir ${PROJECT_BINARY_DIR}/bench/native
                 --build-dir ${PROJECT_BINARY_DIR}/bench-smoke-build)
set_tests_properties(bench.smoke PROPERTIES TIMEOUT 600)
add_test(NAME bench.size_class_smoke
         COMMAND ${PROJECT_BINARY_DIR}/bench/native/bench_size_class --benchmark_min_time=0.01)
