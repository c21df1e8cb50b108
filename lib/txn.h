/*
 * txn.h: the env and txn handles, and the transaction life cycle.
 *
 * Who holds what:
 *  - struct ldb_env is shared by the threads of a process. Its immutable
 *    part (fd, map, page size, options, lock) is set at open; the dbi
 *    table is guarded by env->mutex; counters are atomics.
 *  - A write txn holds the writer mutex (lock file) from begin to commit or
 *    abort; only it changes the data file, the free tree and the published
 *    snapshot.
 *  - A read txn holds one reader slot from its first begin until it is
 *    freed; reset/renew only change the snapshot id in that slot.
 *
 * Commit: see commit.h.
 */
#ifndef LDB_TXN_H
#define LDB_TXN_H

#include <pthread.h>
#include <stdint.h>

#include "btree.h"
#include "freelist.h"
#include "lightningdb.h"
#include "lock.h"
#include "pager.h"
#include "io.h"
#include "wal.h"

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
    ldb_options opts;         /* with defaults filled in */
    uint32_t page_size;
    size_t key_max;
    const uint8_t *map;
    size_t map_len;
    struct ldb__lock lock;
    pthread_mutex_t mutex;    /* guards dbi_names and open_txns */
    char **dbi_names;         /* [max_dbs]; [0] unused (LDB_MAIN) */
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
};

enum dbi_state { DBI_UNKNOWN = 0, DBI_MISSING, DBI_CLEAN, DBI_DIRTY, DBI_DELETED };

struct txn_dbi {
    uint64_t generation; /* valid when equal to the txn's */
    enum dbi_state state;
    struct tree_desc desc;
};

struct ldb_txn {
    uint32_t magic;
    ldb_env *env;
    int rdonly;
    int active;            /* a read txn after reset is inactive */
    uint64_t id;
    struct ldb__snapshot snap; /* read: the snapshot; write: the working trees */
    struct ldb__pager pager;
    uint64_t dbi_generation;
    struct txn_dbi *dbis;  /* [max_dbs], allocated on first named tree use */
    struct ldb_cursor *cursors; /* open cursors, so ending the txn can orphan them */
    uint64_t mods;         /* writes so far: cursors re-seek when it moves */
    /* read txns */
    unsigned slot;
    int has_slot;
    /* write txns */
    struct ldb__dirty_table dirty;
    struct ldb__freelist freelist;
    int error;             /* sticky: the first error that failed the txn */
    int readers_checked;   /* dead readers were looked for in this txn */
    int writer_released;   /* commit handed the writer mutex on early */
    int replaying;         /* recovery: the ops come from the log */
    struct ldb__wal_buf log; /* this txn's log record */
    uint64_t file_size;
};

/* 0 if env is a usable handle in this process (not a forked child's copy
 * of its parent's env: a pthread_atfork handler counts forks). */
int ldb__env_check(const ldb_env *env);
void ldb__fork_watch(void);
unsigned ldb__fork_generation(void);
/* Free a txn: release its reader slot or writer hold (not in a forked
 * child), orphan its cursors. */
void ldb__txn_free(ldb_txn *txn);
/* The tree for dbi in txn (loading a named tree's descriptor on first use). */
int ldb__txn_tree(ldb_txn *txn, ldb_dbi dbi, struct tree_desc **desc);
/* Mark a named tree's descriptor changed (written to the catalog at commit). */
void ldb__txn_tree_dirty(ldb_txn *txn, ldb_dbi dbi);
/* End a write txn's hold on the writer: free its dirty pages (into the
 * env's pool) and release the writer mutex, so the next txn can begin while
 * this one waits for its log sync. */
void ldb__txn_release_writer(ldb_txn *txn);
/* The newest txn whose freed pages a writer may reuse now. */
uint64_t ldb__txn_reuse_bound(ldb_env *env);
/* Check txn is a live handle; want_write: a live write txn. */
int ldb__txn_check(const ldb_txn *txn, int want_write);
/* Writes through a write txn: apply to the tree, mark it changed, and fail
 * the txn on any error that is not a refusal. */
int ldb__txn_put(ldb_txn *txn, ldb_dbi dbi, const ldb_val *key, const ldb_val *val,
                 unsigned flags);
int ldb__txn_del(ldb_txn *txn, ldb_dbi dbi, const ldb_val *key);
/* Add an op (enum wal_op_type) to the txn's log record. */
int ldb__txn_log(ldb_txn *txn, unsigned type, ldb_dbi dbi, const ldb_val *key, const ldb_val *val);
/* Called by cursor.c: detach every cursor (the txn ends or resets). */
void ldb__cursor_orphan_all(ldb_txn *txn, int txn_ending);
/* Record err as the txn's failure (unless it is one that leaves it usable). */
int ldb__txn_fail(ldb_txn *txn, int err);

#endif
