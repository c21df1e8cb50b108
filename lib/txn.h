/* SPDX-License-Identifier: MIT */
/*
 * txn.h: the txn handle and the transaction life cycle.
 *
 * Who holds what:
 *  - struct ldb_env (handle.h) is shared by the threads of a process.
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
#include "dbi.h"
#include "freelist.h"
#include "handle.h"
#include "wal.h"

/* An open cursor as its txn knows it: cursor.c embeds one in each cursor,
 * so that a txn that resets or ends can detach its cursors without knowing
 * what a cursor is. */
struct ldb__dict_txn;

struct ldb__cursor_link {
    struct ldb__cursor_link *next, *prev;
    ldb_txn *txn; /* NULL once the txn has ended */
    int lost;     /* the txn was reset or ended: the cursor's position is gone */
};

enum dbi_state { DBI_UNKNOWN = 0, DBI_MISSING, DBI_CLEAN, DBI_DIRTY, DBI_DELETED };

/* What a txn knows of one slot of the env's handle table (dbi.h). */
struct txn_dbi {
    uint64_t generation; /* valid when equal to the txn's */
    uint32_t handle_gen; /* the generation of the handle it was loaded for */
    enum dbi_state state;
    struct tree_desc desc;
    int pinned;          /* this txn pins the slot, at generation pin_gen */
    uint32_t pin_gen;
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
    unsigned dbi_pins;     /* entries of dbis[] pinned */
    unsigned dbi_deletes;  /* trees deleted (ldb_dbi_drop) in this txn */
    int committed;         /* its changes are (or will be) what the next
                              txn sees: its handles are kept */
    struct ldb__cursor_link *cursors; /* open cursors, detached when the txn ends */
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
    pthread_t thread;      /* the thread that began it: the writer mutex's
                              owner, the only one that can release it */
    pid_t tid;             /* that thread's kernel id */
    int replaying;         /* recovery: the ops come from the log */
    int internal;          /* the library's own (the shrink): not counted */
    uint64_t adds;         /* puts and tree creations: none, and the txn
                              may use the reserve (space.h) */
    struct ldb__wal_buf log; /* this txn's log record */
    uint8_t *cbuf;         /* the stored form of the value being put (value.c) */
    uint32_t cbuf_cap;
    struct ldb__dict_txn *dict; /* dictionaries trained and looked up (dict.c) */
    /* both kinds */
    struct ldb__pins pins; /* decompressed values handed out (value.h) */
    uint64_t file_size;
};

/* A write txn for a caller that holds the writer mutex already (the
 * library's own txns); ldb__txn_end_locked frees it, leaving the mutex. */
int ldb__txn_begin_locked(ldb_env *env, ldb_txn **txn);
void ldb__txn_end_locked(ldb_txn *txn);
/* Free a txn: release its reader slot or writer hold (not in a forked
 * child), detach its cursors. */
void ldb__txn_free(ldb_txn *txn);
/* What txn's snapshot's catalog holds for the tree named name: its
 * descriptor in *desc and DBI_CLEAN, or DBI_MISSING; LDB_CORRUPTED for a
 * descriptor of the wrong size. */
int ldb__txn_catalog_load(ldb_txn *txn, const uint8_t *name, uint32_t len, struct tree_desc *desc,
                          enum dbi_state *state);
/* The tree for dbi in txn (loading a named tree's descriptor on first use). */
int ldb__txn_tree(ldb_txn *txn, ldb_dbi dbi, struct tree_desc **desc);
/* Mark a named tree's descriptor changed (written to the catalog at commit). */
void ldb__txn_tree_dirty(ldb_txn *txn, ldb_dbi dbi);
/* End a write txn's hold on the writer: free its dirty pages (into the
 * env's pool) and release the writer mutex, so the next txn can begin while
 * this one waits for its log sync. Failing to release it panics the env
 * (its writers would wait forever) and returns LDB_PANIC. */
int ldb__txn_release_writer(ldb_txn *txn);
/* Whether this thread may end txn: any for a read txn, only the one that
 * began it for a write txn. */
int ldb__txn_own_thread(const ldb_txn *txn);
/* Commit or abort of a write txn on another thread: LDB_INVALID, and the txn
 * is left open for its own thread, or freed if that thread has exited. */
int ldb__txn_end_elsewhere(ldb_txn *txn);
/* The newest txn whose freed pages a writer may reuse now. */
uint64_t ldb__txn_reuse_bound(ldb_env *env);
/* Check txn is a live handle; want_write: a live write txn. Inline: every
 * call of the API makes it, and a scan makes one per entry. */
static inline int ldb__txn_check(const ldb_txn *txn, int want_write)
{
    if (txn == NULL || txn->magic != LDB_TXN_MAGIC)
        return LDB_INVALID;
    TRY(ldb__env_check(txn->env));
    if (want_write && txn->rdonly)
        return LDB_READONLY;
    if (txn->rdonly && !txn->active)
        return LDB_INVALID; /* reset and not renewed */
    return 0;
}
/* Writes through a write txn: apply to the tree, mark it changed, and fail
 * the txn on any error that is not a refusal. */
int ldb__txn_put(ldb_txn *txn, ldb_dbi dbi, const ldb_val *key, const ldb_val *val,
                 unsigned flags);
int ldb__txn_del(ldb_txn *txn, ldb_dbi dbi, const ldb_val *key);
/* Add an op (enum wal_op_type) to the txn's log record. */
int ldb__txn_log(ldb_txn *txn, unsigned type, ldb_dbi dbi, const ldb_val *key, const ldb_val *val);
/* Join a new cursor's link to txn's list; take it out again (if the txn
 * has not ended). */
void ldb__txn_cursor_attach(ldb_txn *txn, struct ldb__cursor_link *link);
void ldb__txn_cursor_detach(struct ldb__cursor_link *link);
/* Record err as the txn's failure (unless it is one that leaves it usable). */
int ldb__txn_fail(ldb_txn *txn, int err);

#ifdef LDB_TEST_HOOKS
/* Pages a write txn gave back whose header it read again to learn their
 * writer, in this process: a copy on first touch passes it along. */
extern uint64_t ldb__txn_release_header_reads;
#endif

#endif
