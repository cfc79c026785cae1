/*
 * sdmm_host.h -- the host runtime of sdmm (Linux): the process heap of the
 * typed API and the malloc family, over memory from mmap, one heap per
 * thread, thread safe. Built as host/ (libsdmm_host.a; libsdmm-malloc.so
 * exports the same entry points as malloc, free, ... for LD_PRELOAD).
 *
 *     sdmm_heap *heap = sdmm_default_heap();       // the calling thread's heap
 *     sdmm_block b = sdmm_alloc_u64(heap, 100);    // any sdmm.h call on it
 *     sdmm_free(heap, b);                          // same thread: fine
 *     sdmm_default_free(&b);                       // any thread: fine
 *
 * The rule. An sdmm_heap is single-threaded: sdmm_default_heap() returns the
 * heap of the calling thread, and every sdmm.h call on it must be made by
 * that thread. A block may outlive its thread (the heap of a thread that
 * exits is adopted by the next thread that starts) and may be freed by any
 * thread, but only through sdmm_default_free: it frees at once on the owning
 * thread and otherwise queues the block to its owner, which frees it (with
 * the full check) at its next allocation. Calling sdmm_free on another
 * thread's heap is a data race.
 *
 * Design and limits: host/README.md.
 */
#ifndef SDMM_HOST_H
#define SDMM_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "sdmm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The calling thread's typed heap (one arena of SDMM_DEFAULT_HEAP_BYTES,
 * created at the first call); NULL if the system refused the memory. */
sdmm_heap *sdmm_default_heap(void);
/* The arena of the calling thread's typed heap (for sdmm_heap_attach and the
 * C++ sdmm::default_heap()). SDMM_ERR_OUT_OF_MEMORY if it cannot be made. */
sdmm_status sdmm_default_heap_arena(void **arena, size_t *len);
/* Bytes of the arena behind sdmm_default_heap(). */
#define SDMM_DEFAULT_HEAP_BYTES ((size_t)62 << 20)

/* Frees a block of any thread's default heap, from any thread. On the owning
 * thread: sdmm_free_ref's status. From another thread: the block is checked
 * to lie in a default heap (else SDMM_ERR_INVALID_BLOCK) and queued to its
 * owner (SDMM_OK); the owner frees it with the full check, and a block the
 * owner refuses then (freed twice, wrong tag) aborts the process with one
 * line on stderr, as malloc's mistakes do. */
sdmm_status sdmm_default_free(const sdmm_block *block);

/* The malloc family of the runtime (thread safe). libsdmm-malloc.so exports
 * them under the standard names. Mistakes (double free, a pointer sdmm never
 * handed out, an interior pointer, a block of the typed API) abort with one
 * line on stderr naming the address and the mistake. Out of memory and
 * overflowing sizes: NULL with errno = ENOMEM. */
void *sdmm_host_malloc(size_t size);
void *sdmm_host_calloc(size_t count, size_t size);
void *sdmm_host_realloc(void *ptr, size_t size);
void *sdmm_host_aligned_alloc(size_t align, size_t size); /* NULL + EINVAL for a bad alignment */
void sdmm_host_free(void *ptr);
size_t sdmm_host_usable_size(const void *ptr);

/* Process-wide counters (a snapshot; counters of other threads are read
 * without stopping them). */
typedef struct sdmm_host_stats {
    uint64_t mallocs;        /* blocks handed out (malloc family and large) */
    uint64_t frees;          /* blocks freed, local and remote */
    uint64_t remote_frees;   /* of which freed by another thread than the owner */
    uint64_t large_allocs;   /* blocks mapped on their own (above SDMM_HOST_LARGE_BYTES) */
    uint64_t arenas;         /* arenas made */
    uint64_t arena_releases; /* empty arenas whose pages went back to the system */
    uint64_t heaps;          /* thread heaps made */
    uint64_t heap_adoptions; /* heaps of exited threads taken over by new threads */
    uint64_t mapped_bytes;   /* bytes made accessible now (arenas and large blocks) */
    uint64_t peak_mapped_bytes;
    uint64_t mmap_failures; /* reservations the system refused */
} sdmm_host_stats;
void sdmm_host_get_stats(sdmm_host_stats *out);
/* Writes the statistics to `fd` (write(2) only, no allocation). */
void sdmm_host_print_stats(int fd);

/* Requests above this many bytes are mapped on their own. */
#define SDMM_HOST_LARGE_BYTES ((size_t)2 << 20)

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SDMM_HOST_H */
