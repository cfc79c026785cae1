/*
 * sdmm_shared_layout.h -- the bytes of a process-shared sdmm heap (ffi/sdmm_shared.h),
 * shared by the service (service/shared.cpp) and the tools that read a segment
 * from outside (the `sdmm` command-line tool, cli/). C, <stdint.h> only.
 *
 * One mapping (a POSIX shared-memory object or a file), native byte order,
 * offsets from its start, every part page-aligned:
 *
 *   [0, usage_off)               sdmm_shm_header: magic, geometry, the lock,
 *                                the client table, the journal words
 *   [usage_off, owners_off)      state: sdmm_shm_state (bytes charged per client,
 *                                the arena's current length)
 *   [owners_off, +arena_max/8)   state: the owner table, one byte per 8-byte
 *                                granule of the arena: client + 1 of the live
 *                                block whose elements start there, 0 elsewhere
 *   [arena_off, +arena_max)      state: the arena, an sdmm heap of
 *                                sdmm_shm_state.arena_bytes bytes laid out to
 *                                grow to arena_max (sdmm_heap_init_reserve)
 *   [ckpt_off, +state_len)       a copy of the state (the checkpoint)
 *   [log_off, +log_cap entries)  sdmm_shm_entry: the calls since the checkpoint
 *
 * sdmm_shm_geometry_of(arena_max) gives every offset; a segment is valid only
 * if its header records exactly those. A block's charge (what counts against
 * its owner's quota and usage) is sdmm_shm_charge(len * element size).
 * Atomic fields (ready, log_len, pending, ckpt_busy, client state, quota,
 * grants) are written by the service with atomic stores; a reader from
 * outside sees a snapshot and must treat every byte as untrusted.
 */
#ifndef SDMM_SHARED_LAYOUT_H
#define SDMM_SHARED_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define SDMM_SHM_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define SDMM_SHM_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

#define SDMM_SHM_MAGIC "SDMMSHM1" /* the first 8 bytes (no terminating zero) */
#define SDMM_SHM_VERSION 3u       /* 3: growth (sdmm_shm_state.arena_bytes); 2: the lock in a 64-byte slot */
#define SDMM_SHM_PAGE 4096u
#define SDMM_SHM_CLIENTS 64u           /* = SDMM_SHARED_MAX_CLIENTS */
#define SDMM_SHM_MIN_ARENA 65536u      /* smallest arena (and arena_max) */
#define SDMM_SHM_MAX_ARENA 0xFFFFF000u /* largest arena_max: 32-bit offsets, page-aligned */
#define SDMM_SHM_LOCK_BYTES 64u        /* room for the pthread_mutex_t */
#define SDMM_SHM_MIN_LOG 4096u         /* log entries at least; else arena_max / 512 */
#define SDMM_SHM_WINDOWS 3u            /* element windows saved per free / resize */
#define SDMM_SHM_WINDOW_BYTES 16u

/* sdmm_shm_client.state */
#define SDMM_SHM_SLOT_FREE 0u
#define SDMM_SHM_SLOT_LIVE 1u /* in use: by a process (pid), or detached (pid 0) while it owns blocks */

/* sdmm_shm_entry.op */
#define SDMM_SHM_OP_ALLOC 1u
#define SDMM_SHM_OP_FREE 2u
#define SDMM_SHM_OP_RESIZE 3u
#define SDMM_SHM_OP_GROW 4u /* n: the arena's new length */

typedef struct sdmm_shm_client {
    uint32_t state;      /* SDMM_SHM_SLOT_FREE or _LIVE */
    int32_t pid;         /* 0: detached (closed with blocks left, or found after a reboot) */
    uint64_t start_time; /* of the process (/proc/PID/stat field 22): tells a reused pid apart */
    uint64_t quota;      /* bytes it may be charged (UINT64_MAX: unlimited) */
    uint64_t grants;     /* bit j: client j may free and resize this client's blocks */
} sdmm_shm_client;

typedef struct sdmm_shm_header {
    char magic[8];                     /* SDMM_SHM_MAGIC */
    uint32_t version;                  /* SDMM_SHM_VERSION */
    uint32_t ready;                    /* 1 once the creator finished the segment */
    uint64_t segment_bytes;            /* geometry.total */
    uint64_t arena_max;                /* the arena's room: the most it grows to */
    uint64_t state_off;                /* = usage_off */
    uint64_t state_len;                /* geometry.state_len */
    uint64_t usage_off;                /* the sdmm_shm_state */
    uint64_t owners_off;               /* the owner table */
    uint64_t arena_off;                /* the arena */
    uint64_t ckpt_off;                 /* the checkpoint */
    uint64_t log_off;                  /* the log */
    uint64_t log_cap;                  /* entries the log holds */
    uint64_t mutex_bytes;              /* sizeof(pthread_mutex_t) of the creator */
    char boot_id[40];                  /* /proc/sys/kernel/random/boot_id when the pids were recorded */
    uint8_t lock[SDMM_SHM_LOCK_BYTES]; /* a process-shared robust pthread mutex */
    uint32_t admin;                    /* the creating client */
    uint32_t unrecoverable;            /* 1: a recovery failed, every call refuses */
    uint64_t recoveries;               /* dead lock holders found */
    uint64_t rollbacks;                /* of them: the state was rebuilt */
    uint64_t log_len;                  /* committed entries since the checkpoint */
    uint64_t pending;                  /* entry index + 1 of the call in progress; 0: none */
    uint32_t ckpt_busy;                /* 1 while the checkpoint is being copied */
    uint32_t reserved;
    uint64_t high_water; /* arena offset above which no block was ever handed out */
    sdmm_shm_client clients[SDMM_SHM_CLIENTS];
} sdmm_shm_header;

typedef struct sdmm_shm_state {
    uint64_t usage[SDMM_SHM_CLIENTS]; /* bytes charged to each client: sum of its blocks' charges */
    uint64_t arena_bytes;             /* the arena's current length (<= arena_max; grows) */
    uint64_t reserved[7];             /* zero */
} sdmm_shm_state;

typedef struct sdmm_shm_entry {
    uint8_t op;    /* SDMM_SHM_OP_* */
    uint8_t owner; /* the client charged */
    uint8_t nwin;  /* element windows saved */
    uint8_t reserved;
    uint32_t tag;
    uint32_t n;      /* element count (alloc, resize), new arena length (grow) */
    uint32_t status; /* the call's status, once committed */
    uint64_t handle; /* argument (free, resize) */
    uint64_t result; /* handle returned (alloc, resize) */
    uint32_t win_off[SDMM_SHM_WINDOWS];
    uint32_t win_len[SDMM_SHM_WINDOWS];
    uint8_t win[SDMM_SHM_WINDOWS][SDMM_SHM_WINDOW_BYTES];
} sdmm_shm_entry;

SDMM_SHM_ASSERT(sizeof(sdmm_shm_client) == 32, "client slot layout");
SDMM_SHM_ASSERT(offsetof(sdmm_shm_header, arena_max) == 24, "header layout");
SDMM_SHM_ASSERT(offsetof(sdmm_shm_header, usage_off) == 48, "header layout");
SDMM_SHM_ASSERT(offsetof(sdmm_shm_header, boot_id) == 104, "header layout");
SDMM_SHM_ASSERT(offsetof(sdmm_shm_header, lock) == 144 && offsetof(sdmm_shm_header, lock) % 8 == 0,
                "header layout");
SDMM_SHM_ASSERT(offsetof(sdmm_shm_header, admin) == 208, "header layout");
SDMM_SHM_ASSERT(offsetof(sdmm_shm_header, log_len) == 232, "header layout");
SDMM_SHM_ASSERT(offsetof(sdmm_shm_header, high_water) == 256, "header layout");
SDMM_SHM_ASSERT(offsetof(sdmm_shm_header, clients) == 264, "header layout");
SDMM_SHM_ASSERT(sizeof(sdmm_shm_header) == 264 + sizeof(sdmm_shm_client) * SDMM_SHM_CLIENTS, "header layout");
SDMM_SHM_ASSERT(sizeof(sdmm_shm_header) <= SDMM_SHM_PAGE, "the header fits its page");
SDMM_SHM_ASSERT(offsetof(sdmm_shm_state, arena_bytes) == sizeof(uint64_t) * SDMM_SHM_CLIENTS &&
                    sizeof(sdmm_shm_state) == 576,
                "state layout");
SDMM_SHM_ASSERT(offsetof(sdmm_shm_entry, handle) == 16 && sizeof(sdmm_shm_entry) == 104, "log entry layout");

/* Where everything is, for an arena of room arena_max. */
typedef struct sdmm_shm_geometry {
    uint64_t arena_max;
    uint64_t usage_off; /* = the state's start */
    uint64_t owners_off;
    uint64_t arena_off;
    uint64_t state_len; /* usage_off .. end of the arena's room */
    uint64_t ckpt_off;
    uint64_t log_off;
    uint64_t log_cap;
    uint64_t total; /* bytes of the segment */
} sdmm_shm_geometry;

static inline uint64_t sdmm_shm_round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

/* Fills *g and returns 1 when arena_max is a valid room (a multiple of the
 * page in [SDMM_SHM_MIN_ARENA, SDMM_SHM_MAX_ARENA]); returns 0 otherwise. */
static inline int sdmm_shm_geometry_of(uint64_t arena_max, sdmm_shm_geometry *g) {
    if (arena_max < SDMM_SHM_MIN_ARENA || arena_max > SDMM_SHM_MAX_ARENA || arena_max % SDMM_SHM_PAGE != 0)
        return 0;
    const uint64_t hdr = sdmm_shm_round_up(sizeof(sdmm_shm_header), SDMM_SHM_PAGE);
    g->arena_max = arena_max;
    g->usage_off = hdr;
    g->owners_off = hdr + sizeof(sdmm_shm_state);
    g->arena_off = sdmm_shm_round_up(g->owners_off + arena_max / 8, SDMM_SHM_PAGE);
    g->state_len = g->arena_off + arena_max - hdr;
    g->ckpt_off = sdmm_shm_round_up(hdr + g->state_len, SDMM_SHM_PAGE);
    g->log_cap = arena_max / 512 < SDMM_SHM_MIN_LOG ? SDMM_SHM_MIN_LOG : arena_max / 512;
    g->log_off = sdmm_shm_round_up(g->ckpt_off + g->state_len, SDMM_SHM_PAGE);
    g->total = sdmm_shm_round_up(g->log_off + g->log_cap * sizeof(sdmm_shm_entry), SDMM_SHM_PAGE);
    return 1;
}

/* Bytes a block of `element_bytes` (len * element size) is charged: its
 * 8-byte header and its elements rounded up to 8. */
static inline uint64_t sdmm_shm_charge(uint64_t element_bytes) { return 8 + (element_bytes + 7) / 8 * 8; }

#endif /* SDMM_SHARED_LAYOUT_H */
