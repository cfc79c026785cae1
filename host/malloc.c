/*
 * malloc.c -- libsdmm-malloc.so: the malloc family of the host runtime under
 * the standard names, for LD_PRELOAD (C++ new/delete follow, as libstdc++'s
 * operators call malloc and free).
 *
 *     LD_PRELOAD=/path/to/libsdmm-malloc.so program
 *     SDMM_MALLOC_STATS=1 LD_PRELOAD=... program   # counters on stderr at exit
 *
 * No dlsym, no constructor needed before the first call: every entry point
 * works from the first instruction of the process (the runtime's per-thread
 * pointer is initial-exec TLS, set up by the loader with the library).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sdmm_host.h"

#define SDMM_EXPORT __attribute__((visibility("default")))

SDMM_EXPORT void *malloc(size_t size) { return sdmm_host_malloc(size); }
SDMM_EXPORT void free(void *ptr) { sdmm_host_free(ptr); }
SDMM_EXPORT void *calloc(size_t count, size_t size) { return sdmm_host_calloc(count, size); }
SDMM_EXPORT void *realloc(void *ptr, size_t size) { return sdmm_host_realloc(ptr, size); }

SDMM_EXPORT void *reallocarray(void *ptr, size_t count, size_t size) {
    size_t total = 0;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return sdmm_host_realloc(ptr, total);
}

SDMM_EXPORT int posix_memalign(void **out, size_t align, size_t size) {
    if (align < sizeof(void *) || (align & (align - 1)) != 0) return EINVAL;
    const int saved = errno;
    void *p = sdmm_host_aligned_alloc(align, size);
    if (p == NULL) {
        const int err = errno;
        errno = saved;
        return err == EINVAL ? EINVAL : ENOMEM;
    }
    *out = p;
    return 0;
}

SDMM_EXPORT void *aligned_alloc(size_t align, size_t size) { return sdmm_host_aligned_alloc(align, size); }

/* memalign rounds a non-power-of-two alignment up, as glibc does. */
SDMM_EXPORT void *memalign(size_t align, size_t size) {
    if (align > ((size_t)1 << 62)) {
        errno = EINVAL;
        return NULL;
    }
    size_t a = 1;
    while (a < align) a <<= 1;
    return sdmm_host_aligned_alloc(a, size);
}

static size_t page_size(void) {
    const long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

SDMM_EXPORT void *valloc(size_t size) { return sdmm_host_aligned_alloc(page_size(), size); }

SDMM_EXPORT void *pvalloc(size_t size) {
    const size_t page = page_size();
    if (size > SIZE_MAX - page) {
        errno = ENOMEM;
        return NULL;
    }
    const size_t rounded = size == 0 ? page : (size + page - 1) & ~(page - 1);
    return sdmm_host_aligned_alloc(page, rounded);
}

SDMM_EXPORT size_t malloc_usable_size(void *ptr) { return sdmm_host_usable_size(ptr); }

/* SDMM_MALLOC_STATS=1: the runtime's counters on stderr when the program
 * ends; SDMM_MALLOC_STATS=/abs/path: appended to that file instead (one line
 * per process, e.g. for every process of a script). */
__attribute__((destructor)) static void sdmm_malloc_report(void) {
    const char *v = getenv("SDMM_MALLOC_STATS");
    if (v == NULL || v[0] == '\0' || strcmp(v, "0") == 0) return;
    if (v[0] == '/') {
        const int fd = open(v, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
            sdmm_host_print_stats(fd);
            close(fd);
        }
        return;
    }
    sdmm_host_print_stats(2);
}
