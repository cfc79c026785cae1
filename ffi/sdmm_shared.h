/*
 * sdmm_shared.h -- typed heaps shared by processes that do not trust each other.
 *
 * One call opens (or creates) a named heap in POSIX shared memory, or in a
 * file for a heap that outlives reboots, mapped at any address:
 *
 *     sdmm_shared *s;
 *     if (sdmm_shared_open("/orders", 1 << 20, SDMM_SHARED_CREATE, &s) != SDMM_OK) ...
 *     sdmm_block b;
 *     sdmm_shared_alloc(s, SDMM_TAG_U64, 8, &b);       // b.as.u64[0..7], zero-filled
 *     send_to_peer(b.handle);                          // any channel: it is a number
 *     ... in the peer: sdmm_shared_resolve(s, handle, SDMM_TAG_U64, &b2): same elements
 *
 * Every call that reads or changes the heap's metadata takes a process-shared
 * robust mutex. A client killed while holding it is detected by the next
 * caller, which restores the heap to the last completed operation (see
 * service/README.md: checkpoint + operation log) before it carries on.
 *
 * Ownership: each block belongs to the client that allocated it. Only its
 * owner -- or a client the owner granted (sdmm_shared_grant) -- frees or
 * resizes it. Any client may resolve (read) any block. Each client has a
 * byte quota (SDMM_SHARED_UNLIMITED by default; the creator sets it).
 *
 * Thread safety: calls on one sdmm_shared are serialised by the lock; a
 * process may use one sdmm_shared from several threads.
 */
#ifndef SDMM_SHARED_H
#define SDMM_SHARED_H

#include <stddef.h>
#include <stdint.h>

#include "sdmm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sdmm_shared sdmm_shared;

/* Flags of sdmm_shared_open. */
#define SDMM_SHARED_CREATE 1u /* create the heap if it does not exist */
#define SDMM_SHARED_EXCL 2u   /* with CREATE: fail if it exists */
#define SDMM_SHARED_FILE 4u   /* `name` is a file path, not a POSIX shared-memory name */

/* Statuses of this layer, after the core's (sdmm_status.def). */
#define SDMM_SHARED_ERR_NOT_OWNER 64u     /* the block belongs to another client that granted nothing */
#define SDMM_SHARED_ERR_QUOTA 65u         /* the owner's byte quota would be exceeded */
#define SDMM_SHARED_ERR_SYSTEM 66u        /* an OS call failed (errno tells which) */
#define SDMM_SHARED_ERR_NO_CLIENT 67u     /* every client slot is in use */
#define SDMM_SHARED_ERR_LAYOUT 68u        /* not a shared heap of this version, or too small */
#define SDMM_SHARED_ERR_UNRECOVERABLE 69u /* recovery after a dead client failed; heap left as is */
#define SDMM_SHARED_ERR_NOT_ADMIN 70u     /* only the creating client may do this */
#define SDMM_SHARED_ERR_BAD_CLIENT 71u    /* no such client, or it is alive (sdmm_shared_reap) */

#define SDMM_SHARED_MAX_CLIENTS 64u
#define SDMM_SHARED_UNLIMITED UINT64_MAX

/* Opens or creates the heap `name` with room for `bytes` of arena (ignored
 * when opening an existing heap; 0 opens only). Joins it as a new client.
 * A heap created here has this client as its admin. It does not grow:
 * sdmm_shared_open_reserve(name, bytes, bytes, flags, out). */
sdmm_status sdmm_shared_open(const char *name, size_t bytes, uint32_t flags, sdmm_shared **out);
/* The same for a heap that grows: created with an arena of `bytes`, it grows
 * (under the lock, journalled like every change) when an allocation or a
 * resize finds no room -- to twice its size or more, at most `max_bytes` --
 * and then retries; other processes see the new size on their next call.
 * Both are rounded up to whole pages, at least 64 KiB. `max_bytes` below
 * `bytes`: SDMM_ERR_TOO_LARGE; `bytes` below max_bytes / 32 (the core's
 * block-start map for the maximum lives in the initial arena):
 * SDMM_ERR_ARENA_TOO_SMALL. Both ignored when opening an existing heap. */
sdmm_status sdmm_shared_open_reserve(const char *name, size_t bytes, size_t max_bytes, uint32_t flags,
                                     sdmm_shared **out);
/* Leaves the heap: the client slot is released when it owns no block (its
 * blocks stay live and keep their owner otherwise). Unmaps; frees `s`. */
sdmm_status sdmm_shared_close(sdmm_shared *s);
/* Removes the name (shm_unlink or unlink); mapped heaps live on. */
sdmm_status sdmm_shared_unlink(const char *name, uint32_t flags);
/* Writes the mapping back to its file (file-backed heaps; msync). */
sdmm_status sdmm_shared_sync(sdmm_shared *s);

sdmm_status sdmm_shared_alloc(sdmm_shared *s, uint32_t tag, uint32_t n, sdmm_block *out);
sdmm_status sdmm_shared_free(sdmm_shared *s, uint64_t handle, uint32_t expected_tag);
sdmm_status sdmm_shared_resize(sdmm_shared *s, uint64_t handle, uint32_t expected_tag, uint32_t new_len,
                               sdmm_block *out);
/* The block a handle names, with pointers into this process's mapping. */
sdmm_status sdmm_shared_resolve(sdmm_shared *s, uint64_t handle, uint32_t expected_tag, sdmm_block *out);

/* Lets client `to` free and resize this client's blocks (allow = 1) or not (0). */
sdmm_status sdmm_shared_grant(sdmm_shared *s, uint32_t to, int allow);
/* Admin only: the byte quota of `client` (SDMM_SHARED_UNLIMITED: none).
 * Each block costs 8 bytes of header plus its elements rounded up to 8. */
sdmm_status sdmm_shared_set_quota(sdmm_shared *s, uint32_t client, uint64_t bytes);
/* Frees every block of a client whose process is gone and releases its
 * slot. Refused (SDMM_SHARED_ERR_BAD_CLIENT) while that process lives. */
sdmm_status sdmm_shared_reap(sdmm_shared *s, uint32_t client);
/* Takes the lock (recovering if needed) and runs sdmm_heap_check. */
sdmm_status sdmm_shared_check(sdmm_shared *s);

typedef struct sdmm_shared_info {
    uint32_t client;          /* this client's id, 0..SDMM_SHARED_MAX_CLIENTS-1 */
    uint32_t admin;           /* the creator's id */
    uint64_t used;            /* bytes charged to this client */
    uint64_t quota;           /* its quota */
    uint64_t recoveries;      /* dead lock holders found since creation */
    uint64_t rollbacks;       /* of them: killed inside an operation (state restored) */
    uint64_t arena_bytes;     /* bytes of the sdmm arena now */
    uint64_t segment_bytes;   /* bytes of the whole mapping */
    sdmm_stats stats;         /* sdmm_heap_counters of the arena */
    uint64_t arena_max_bytes; /* the most the arena grows to (= arena_bytes: it does not grow) */
} sdmm_shared_info;
sdmm_status sdmm_shared_info_get(sdmm_shared *s, sdmm_shared_info *out);
/* The owner of the live block `handle` names, in *owner. */
sdmm_status sdmm_shared_owner(sdmm_shared *s, uint64_t handle, uint32_t expected_tag, uint32_t *owner);
/* This client's id. */
uint32_t sdmm_shared_client(const sdmm_shared *s);
/* Whether the process a client slot records (pid, start_time: field 22 of
 * /proc/PID/stat, 0 if unknown) still runs: the test recovery applies to a
 * lock holder, and what tools such as `sdmm inspect` report. 1 or 0. */
int sdmm_shared_process_alive(int32_t pid, uint64_t start_time);
/* Whether a boot id a segment recorded (its header's 40 bytes, as read from
 * /proc/sys/kernel/random/boot_id) is this boot's: if not, no pid it records
 * can still run. 1 or 0. */
int sdmm_shared_same_boot(const char recorded[40]);
/* The arena, for read-only tools (sdmm_heap_next_block). Unlocked. */
const sdmm_heap *sdmm_shared_heap(const sdmm_shared *s);
/* sdmm_status_str extended with the statuses above. */
const char *sdmm_shared_status_str(uint32_t status);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SDMM_SHARED_H */
