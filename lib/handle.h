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

#include "histogram.h"
#include "io.h"
#include "lightningdb.h"
#include "lock.h"
#include "pager.h"

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
    const uint8_t *map;
    size_t map_len;
    struct ldb__lock lock;
    pthread_mutex_t mutex;    /* guards dbi_table and open_txns */
    struct ldb__dbi_slot *dbi_table; /* [max_dbs]; [0] unused (LDB_MAIN); dbi.h */
    unsigned open_txns;
    int panic;                /* a sync failed: writes refused (atomic) */
    uint64_t commits;         /* by this env (atomic) */
    struct ldb__buffer_pool buffers; /* spare page buffers: write txn only */
    char *wal_path;
    uint64_t db_id;           /* from the meta page: the log must carry it */
    int wal_fd;               /* -1 without a log (read-only and immutable) */
    struct ldb__io io;        /* the log's I/O backend */
    int io_ready;
    int recovering;           /* ldb_open is replaying the log */
    /* This process's latencies, for ldb_metrics (lock-free, see
     * histogram.h); the log syncs' are io.sync_latency. */
    struct ldb__histogram commit_latency;
    struct ldb__histogram checkpoint_duration;
};

/* 0 if env is a usable handle in this process (not a forked child's copy
 * of its parent's env: a pthread_atfork handler counts forks). */
int ldb__env_check(const ldb_env *env);
void ldb__fork_watch(void);
unsigned ldb__fork_generation(void);

#endif
