/* SPDX-License-Identifier: MIT */
/*
 * handle.h: the env handle (struct ldb_env), shared by the threads of a
 * process, and the check every entry point makes on it.
 *
 * Its immutable part (fd, map, page size, options, lock, log) is set at
 * open; the dbi table is guarded by env->mutex; counters are atomics. It
 * sits below txn.h so that the log's durability (durable.c), transactions
 * and opening can all take it without depending on each other.
 */
#ifndef LDB_HANDLE_H
#define LDB_HANDLE_H

#include <pthread.h>
#include <stdint.h>

#include "cache.h"
#include "compress.h"
#include "histogram.h"
#include "io.h"
#include "lightningdb.h"
#include "lock.h"
#include "pager.h"

struct ldb__dict_cache;

#define LDB_ENV_MAGIC 0x4C44424Eu    /* "LDBN" */
#define LDB_TXN_MAGIC 0x4C444254u    /* "LDBT" */
#define LDB_CURSOR_MAGIC 0x4C444243u /* "LDBC" */
#define LDB_DEAD_MAGIC 0xDEADBEEFu
#define LDB_MAX_NAME 255u

struct ldb_env {
    uint32_t magic;
    unsigned fork_generation; /* the process generation that opened it */
    char *path;
    int fd;
    unsigned owner;           /* the data file's owner: side files must be its */
    ldb_options opts;         /* with defaults filled in; file_mode: the data
                                 file's permission bits, for side files */
    uint32_t page_size;
    size_t key_max;
    /* The data file's read-only map and how much of it is mapped (atomic,
     * both: a newer, larger map replaces them when the file outgrows them,
     * and older maps stay mapped until close, since txns still read them). */
    const uint8_t *map;
    size_t map_len;
    struct ldb__old_map *old_maps; /* guarded by mutex */
    struct ldb__lock lock;
    pthread_mutex_t mutex;    /* guards dbi_table and open_txns */
    struct ldb__dbi_slot *dbi_table; /* [max_dbs]; [0] unused (LDB_MAIN); dbi.h */
    unsigned open_txns;
    int panic;                /* a sync failed: writes refused (atomic) */
    uint64_t commits;         /* by this env (atomic) */
    struct ldb__buffer_pool buffers; /* spare page buffers: write txn only */
    struct ldb__written written;     /* pages the writer wrote: pager.h */
    char *wal_path;
    uint64_t db_id;           /* from the meta page: the log must carry it */
    int wal_fd;               /* -1 without a log (read-only and immutable) */
    /* The log again, opened on its own: the background syncs of a bulk
     * load go through it, so an error they see is still reported to the
     * next fdatasync of wal_fd (the kernel reports a write-back error
     * once to each open file). -1 under LDB_SYNC_FULL, which needs none,
     * and where it could not be opened. */
    int wal_sync_fd;
    struct ldb__io io;        /* the log's I/O backend */
    int io_ready;
    int recovering;           /* ldb_open is replaying the log */
    struct ldb__cache *cache; /* decompressed values, all threads (cache.h) */
    struct ldb__compressor compressor; /* the writer's (value.c) */
    struct ldb__adapt *adapt; /* [max_dbs]: per tree, the writer's (value.h) */
    struct ldb__dict_cache *dicts; /* loaded zstd dictionaries (dict.h) */
    /* The log archive (archive.h), -1 without one. The rest is guarded by
     * the writer mutex: the last archiving's result, and the log size at
     * which a failed one is next tried by a checkpoint that is merely due. */
    int archive_fd;
    int archive_rc;
    uint64_t archive_retry_end;
    uint64_t archive_segments, archive_failures; /* by this env (atomic) */
    /* Pages of the checkpointed trees that this process's commits freed
     * since checkpoint held_since (they wait for the next one), for the
     * LDB_SYNC_OFF checkpoint deferral (durable.h). Writer mutex. */
    uint64_t held_pages, held_since;
    /* Where the log's next early write-back starts, in the generation of
     * that salt (LDB_SYNC_OFF, ldb__log_write_back). Writer mutex. */
    uint64_t log_written_back, log_written_back_salt;
    /* This process's latencies, for ldb_metrics (lock-free, see
     * histogram.h); the log syncs' are io.sync_latency. */
    struct ldb__histogram commit_latency;
    struct ldb__histogram checkpoint_duration;
};

/* A map replaced by a larger one, kept until the env closes. */
struct ldb__old_map {
    const uint8_t *addr;
    size_t len;
    struct ldb__old_map *next;
};

/* Make env's map cover at least bytes of the data file (growing it when
 * another process grew the file past it) and return the map to read from
 * (its length at least bytes). Maps only ever grow; the ones they replace
 * stay valid until ldb_close. */
int ldb__env_map_cover(ldb_env *env, uint64_t bytes, const uint8_t **map);
/* Unmap every map of env (at close). */
void ldb__env_unmap_all(ldb_env *env);

/* Forks of this process so far, counted in the child by a pthread_atfork
 * handler (handle.c); read inline by ldb__env_check. */
extern unsigned ldb__fork_count;

/* 0 if env is a usable handle in this process (not a forked child's copy
 * of its parent's env). Inline: every call of the API makes it, and a scan
 * makes one per entry. */
static inline int ldb__env_check(const ldb_env *env)
{
    if (env == NULL || env->magic != LDB_ENV_MAGIC)
        return LDB_INVALID;
    if (LDB_UNLIKELY(env->fork_generation != __atomic_load_n(&ldb__fork_count, __ATOMIC_RELAXED)))
        return LDB_INVALID;
    return 0;
}
void ldb__fork_watch(void);
unsigned ldb__fork_generation(void);

#endif
