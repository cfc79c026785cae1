/* sbf_mem_shims.c -- memory operations of run-time length for SBF code that
 * upstream LLVM's BPF backend cannot lower itself ("A call to built-in
 * function 'memcpy' is not supported"): sbf-rust.sh redirects such
 * llvm.memcpy/memmove/memset intrinsics here, to the runtime's syscalls. */
#include <stdint.h>

void sol_memcpy_(void *dst, const void *src, uint64_t n);
void sol_memmove_(void *dst, const void *src, uint64_t n);
void sol_memset_(void *dst, uint8_t value, uint64_t n);

/* A zero-length call must not reach the syscall with a dangling pointer. */
void sdmm_sbf_memcpy(void *dst, const void *src, uint64_t n) {
    if (n != 0) sol_memcpy_(dst, src, n);
}
void sdmm_sbf_memmove(void *dst, const void *src, uint64_t n) {
    if (n != 0) sol_memmove_(dst, src, n);
}
void sdmm_sbf_memset(void *dst, uint8_t value, uint64_t n) {
    if (n != 0) sol_memset_(dst, value, n);
}
