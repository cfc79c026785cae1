/*
 * mistakes.c -- one mistake per run, for death.sh (run with libsdmm-malloc.so
 * preloaded). Prints "ptr=<the address handed back>" first, then makes the
 * mistake; sdmm must abort with one line naming that address.
 * `clean` does every kind of correct free (and must exit 0).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdmm.h"

static void show(const void *p) {
    printf("ptr=%p\n", p);
    fflush(stdout);
}

static void *sym(const char *name) {
    void *f = dlsym(RTLD_DEFAULT, name);
    if (f == NULL) {
        printf("SKIP: %s not found (not run under libsdmm-malloc.so?)\n", name);
        exit(77);
    }
    return f;
}

static void *g_shared;
static void *free_twice(void *arg) {
    (void)arg;
    free(g_shared);
    free(g_shared);
    return NULL;
}
static void *free_once(void *arg) {
    free(arg);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    const char *m = argv[1];
    static char static_buffer[64];
    char *volatile sink = NULL;
    if (strcmp(m, "double_free") == 0) {
        char *p = malloc(40);
        show(p);
        free(p);
        free(p);
    } else if (strcmp(m, "double_free_big") == 0) {
        char *p = malloc(5000); /* too big for the exact-size caches: coalesced at once */
        char *keep = malloc(100);
        show(p);
        free(p);
        free(p);
        free(keep);
    } else if (strcmp(m, "double_free_large") == 0) {
        char *p = malloc(3u << 20);
        show(p);
        free(p);
        free(p);
    } else if (strcmp(m, "foreign_stack") == 0) {
        char local[32];
        sink = local;
        show(local);
        free(local);
    } else if (strcmp(m, "foreign_static") == 0) {
        show(static_buffer);
        free(static_buffer);
    } else if (strcmp(m, "interior") == 0) {
        char *p = malloc(64);
        show(p + 16);
        free(p + 16);
    } else if (strcmp(m, "interior_large") == 0) {
        char *p = malloc(3u << 20);
        show(p + 4096);
        free(p + 4096);
    } else if (strcmp(m, "realloc_freed") == 0) {
        char *p = malloc(32);
        show(p);
        free(p);
        p = realloc(p, 64);
        sink = p;
    } else if (strcmp(m, "typed_block") == 0) {
        /* A block of the typed process heap handed to free(). */
        sdmm_heap *(*default_heap)(void);
        sdmm_status (*alloc_u64)(sdmm_heap *, uint32_t, sdmm_block *);
        *(void **)&default_heap = sym("sdmm_default_heap"); /* POSIX: dlsym results are callable */
        *(void **)&alloc_u64 = sym("sdmm_alloc_u64_into");
        sdmm_block b;
        if (alloc_u64(default_heap(), 4, &b) != SDMM_OK) return 3;
        show(b.as.u64);
        free(b.as.u64);
    } else if (strcmp(m, "user_heap_block") == 0) {
        /* A block of the caller's own sdmm heap (an arena inside a malloc block). */
        sdmm_status (*init)(void *, size_t, sdmm_heap **);
        sdmm_status (*alloc_u8)(sdmm_heap *, uint32_t, sdmm_block *);
        *(void **)&init = sym("sdmm_heap_init");
        *(void **)&alloc_u8 = sym("sdmm_alloc_u8_into");
        void *arena = malloc(4096);
        sdmm_heap *heap;
        sdmm_block b;
        if (init(arena, 4096, &heap) != SDMM_OK || alloc_u8(heap, 16, &b) != SDMM_OK) return 3;
        show(b.as.u8);
        free(b.as.u8);
    } else if (strcmp(m, "cross_thread_double_free") == 0) {
        /* Another thread frees the main thread's block twice: the owner finds
           it when it next allocates. */
        pthread_t t;
        g_shared = malloc(48);
        show(g_shared);
        pthread_create(&t, NULL, free_twice, NULL);
        pthread_join(t, NULL);
        sink = malloc(16);
    } else if (strcmp(m, "clean") == 0) {
        /* Correct use of everything: must never abort. */
        for (int i = 0; i < 1000; ++i) {
            char *a = malloc((size_t)i * 37 + 1), *b = calloc(3, (size_t)i + 1), *c = malloc(3u << 20);
            a = realloc(a, (size_t)i * 91 + 7);
            void *d = NULL;
            if (posix_memalign(&d, 256, 100) != 0) return 4;
            pthread_t t;
            pthread_create(&t, NULL, free_once, a);
            pthread_join(t, NULL);
            free(b);
            free(c);
            free(d);
        }
        free(NULL);
        puts("clean");
        return 0;
    } else {
        return 2;
    }
    (void)sink;
    puts("NOT DETECTED");
    return 0;
}
