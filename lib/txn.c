/* SPDX-License-Identifier: MIT */
/*
 * txn.c: beginning and ending transactions, the write txn's page allocator
 * and op log, and the list of a txn's open cursors. Who holds what: txn.h;
 * the commit itself: commit.h.
 */
#include "txn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "alloc.h"
#include "dict.h"
#include "durable.h"
#include "error.h"
#include "meta.h"
#include "os.h"
#include "page.h"
#include "space.h"
#include "value.h"

void ldb__txn_cursor_attach(ldb_txn *txn, struct ldb__cursor_link *link)
{
    link->txn = txn;
    link->lost = 0;
    link->prev = NULL;
    link->next = txn->cursors;
    if (txn->cursors)
        txn->cursors->prev = link;
    txn->cursors = link;
}

void ldb__txn_cursor_detach(struct ldb__cursor_link *link)
{
    if (link->txn == NULL)
        return;
    if (link->prev)
        link->prev->next = link->next;
    else
        link->txn->cursors = link->next;
    if (link->next)
        link->next->prev = link->prev;
    link->txn = NULL;
}

/* The txn resets or ends: its cursors lose their positions (and, when it
 * ends, their txn; they stay allocated until closed). */
static void lose_cursors(ldb_txn *txn, int txn_ending)
{
    for (struct ldb__cursor_link *l = txn->cursors; l != NULL; l = l->next) {
        l->lost = 1;
        if (txn_ending)
            l->txn = NULL;
    }
    if (txn_ending)
        txn->cursors = NULL;
}

/* Which errors leave a write txn usable (API.md: a refused put or del). */
static int error_is_refusal(int err)
{
    return err == LDB_EXISTS || err == LDB_TOOBIG || err == LDB_INVALID ||
           err == LDB_NOTFOUND || err == LDB_READONLY;
}

int ldb__txn_fail(ldb_txn *txn, int err)
{
    if (err < 0 && !txn->rdonly && !error_is_refusal(err) && txn->error == 0)
        txn->error = err;
    return err;
}

/* ---- the write txn's allocator (pager callbacks) ------------------------- */

/* Take n reusable pages (*pgno = 0 if there are none). */
static int take_reusable(ldb_txn *txn, uint32_t n, pgno_t *pgno)
{
    ldb_env *env = txn->env;
    TRY(ldb__freelist_take(&txn->freelist, &txn->pager, &txn->snap.free_tree, n, pgno));
    if (*pgno == 0 && txn->freelist.held_back && !txn->readers_checked) {
        /* Free pages are held back by a reader: if it belongs to a process
         * that died, clear its slot and look again (once per txn). */
        int cleared = 0;
        txn->readers_checked = 1;
        TRY(ldb__lock_reader_check(&env->lock, &cleared));
        if (cleared > 0) {
            txn->freelist.reuse_bound = ldb__txn_reuse_bound(env);
            txn->freelist.records_exhausted = 0;
            txn->freelist.held_back = 0;
            TRY(ldb__freelist_take(&txn->freelist, &txn->pager, &txn->snap.free_tree, n, pgno));
        }
    }
    return 0;
}

static int txn_alloc(void *ctx, uint32_t n, pgno_t *pgno, uint8_t **buf)
{
    ldb_txn *txn = ctx;
    ldb_env *env = txn->env;
    TRY(take_reusable(txn, n, pgno));
    if (*pgno == 0) {
        int rc = ldb__space_extend(txn, n, pgno);
        /* No room: pages waiting for a checkpoint are worth one now. */
        int unlocked = rc == -ENOSPC || rc == LDB_FULL ? ldb__space_unlock_held(txn) : 0;
        TRY(unlocked);
        if (unlocked > 0) {
            TRY(take_reusable(txn, n, pgno));
            rc = *pgno ? 0 : ldb__space_extend(txn, n, pgno);
        }
        TRY(rc);
    }
    /* A damaged lock file's snapshot can name too few pages: never hand
     * out a meta page (the commit would write over it). */
    if (LDB_UNLIKELY(*pgno < LDB_META_PAGES))
        return LDB_CORRUPT();
    uint8_t *b = ldb__buffer_get(&env->buffers, n);
    if (b == NULL)
        return -ENOMEM;
    int rc = ldb__dirty_add(&txn->dirty, *pgno, b, n);
    if (rc < 0) {
        ldb__buffer_put(&env->buffers, b, n);
        return rc;
    }
    *buf = b;
    return 0;
}

#ifdef LDB_TEST_HOOKS
uint64_t ldb__txn_release_header_reads;
#endif

static int txn_release(void *ctx, pgno_t pgno, uint32_t n, uint64_t written_by)
{
    ldb_txn *txn = ctx;
    uint8_t *b = ldb__dirty_remove(&txn->dirty, pgno);
    ldb__buffer_put(&txn->env->buffers, b, n);
    if (b != NULL) {
        written_by = 0;
    } else if (written_by == 0) {
        /* Which txn wrote it decides whether the checkpoint still needs it. */
        const uint8_t *p = NULL;
#ifdef LDB_TEST_HOOKS
        __atomic_fetch_add(&ldb__txn_release_header_reads, 1, __ATOMIC_RELAXED);
#endif
        TRY(ldb__pager_get(&txn->pager, pgno, &p));
        written_by = ldb__le64(PAGE_CHDR(p)->txnid);
    }
    return ldb__freelist_give(&txn->freelist, pgno, n, b != NULL, written_by);
}

/* ---- trees ---------------------------------------------------------------- */

int ldb__txn_catalog_load(ldb_txn *txn, const uint8_t *name, uint32_t len, struct tree_desc *desc,
                          enum dbi_state *state)
{
    ldb_val v;
    int rc = ldb__btree_get(&txn->pager, &txn->snap.catalog_tree, name, len, &v);
    if (rc == LDB_NOTFOUND) {
        *state = DBI_MISSING;
        return 0;
    }
    TRY(rc);
    if (v.size != sizeof(struct tree_desc))
        return LDB_CORRUPT();
    ldb__tree_desc_load(desc, v.data);
    *state = DBI_CLEAN;
    return 0;
}

/* Load what txn's snapshot holds for the named tree dbi into e, checking
 * dbi is live and pinning its slot for this txn unless it is kept. */
static int load_tree(ldb_txn *txn, ldb_dbi dbi, struct txn_dbi *e)
{
    ldb_env *env = txn->env;
    uint32_t gen = ldb__dbi_gen_of(dbi);
    int have_pin = e->pinned && e->pin_gen == gen, pinned;
    char name[LDB_MAX_NAME + 1];
    TRY(ldb__dbi_use(env, dbi, !have_pin, name, &pinned));
    if (pinned) {
        if (e->pinned) /* of a slot given back since: a no-op */
            ldb__dbi_unpin(env, ldb__dbi_slot_of(dbi) | e->pin_gen << LDB_DBI_SLOT_BITS, 0);
        else
            txn->dbi_pins++;
        e->pinned = 1;
        e->pin_gen = gen;
    }
    TRY(ldb__txn_catalog_load(txn, (const uint8_t *)name, (uint32_t)strlen(name), &e->desc,
                              &e->state));
    e->generation = txn->dbi_generation;
    e->handle_gen = gen;
    return 0;
}

int ldb__txn_tree(ldb_txn *txn, ldb_dbi dbi, struct tree_desc **desc)
{
    if (dbi == LDB_MAIN) {
        *desc = &txn->snap.main_tree;
        return 0;
    }
    ldb_env *env = txn->env;
    unsigned slot = ldb__dbi_slot_of(dbi);
    if (slot == 0 || slot >= env->opts.max_dbs)
        return LDB_INVALID;
    if (txn->dbis == NULL) {
        txn->dbis = ldb__calloc(env->opts.max_dbs, sizeof *txn->dbis);
        if (txn->dbis == NULL)
            return -ENOMEM;
    }
    struct txn_dbi *e = &txn->dbis[slot];
    if (e->generation != txn->dbi_generation || e->handle_gen != ldb__dbi_gen_of(dbi))
        TRY(load_tree(txn, dbi, e));
    if (e->state == DBI_MISSING || e->state == DBI_DELETED)
        return LDB_INVALID;
    *desc = &e->desc;
    return 0;
}

void ldb__txn_tree_dirty(ldb_txn *txn, ldb_dbi dbi)
{
    unsigned slot = ldb__dbi_slot_of(dbi);
    if (dbi != LDB_MAIN && txn->dbis != NULL && txn->dbis[slot].state == DBI_CLEAN)
        txn->dbis[slot].state = DBI_DIRTY;
}

/* The txn ends: its pins go (kept if it committed), and if it committed
 * the slots of trees it deleted go back (dbi.h). */
static void settle_handles(ldb_txn *txn)
{
    ldb_env *env = txn->env;
    if (txn->dbis == NULL || (txn->dbi_pins == 0 && txn->dbi_deletes == 0))
        return;
    for (unsigned i = 1; i < env->opts.max_dbs; i++) {
        struct txn_dbi *e = &txn->dbis[i];
        if (txn->committed && txn->dbi_deletes && e->generation == txn->dbi_generation &&
            e->state == DBI_DELETED)
            ldb__dbi_release(env, i | e->handle_gen << LDB_DBI_SLOT_BITS);
        if (e->pinned)
            ldb__dbi_unpin(env, i | e->pin_gen << LDB_DBI_SLOT_BITS, txn->committed);
        e->pinned = 0;
    }
    txn->dbi_pins = 0;
    txn->dbi_deletes = 0;
}

/* ---- begin ------------------------------------------------------------------ */

uint64_t ldb__txn_reuse_bound(ldb_env *env)
{
    /* Pages freed by txn T may be reused once no reader can reach them: T <=
     * every reader's snapshot and the published one (invariant R of lock.h).
     * Pages of the checkpointed trees wait for the next checkpoint too
     * (freelist.h). */
    return ldb__lock_oldest_snapshot(&env->lock);
}

/* Point txn's pager at a map that covers a committed snapshot of npages
 * pages. Another env (with a larger max_size) may have grown the file past
 * this env's map: then map what the file holds. A reader never fails for a
 * writer's size. The count comes from the lock file, which every process
 * that opens the database shares: a product that wraps, or pages the file
 * does not hold (committed pages are written before they are published),
 * are damage. */
static int snapshot_map(ldb_txn *txn, uint64_t npages)
{
    ldb_env *env = txn->env;
    uint64_t bytes, size;
    if (__builtin_mul_overflow(npages, (uint64_t)env->page_size, &bytes))
        return LDB_CORRUPT();
    if (bytes > __atomic_load_n(&env->map_len, __ATOMIC_ACQUIRE)) {
        TRY(ldb__os_file_size(env->fd, &size));
        if (bytes > size)
            return LDB_CORRUPT();
    }
    return ldb__env_map_cover(env, bytes, &txn->pager.map);
}

static int reader_take_snapshot(ldb_txn *txn)
{
    ldb_env *env = txn->env;
    int rc = ldb__lock_reader_begin(&env->lock, txn->slot, &txn->snap);
    if (rc == 0) {
        rc = snapshot_map(txn, txn->snap.npages);
        if (rc < 0)
            ldb__lock_reader_end(&env->lock, txn->slot);
    }
    if (rc < 0) {
        /* What snap holds is not a snapshot the pager covers: a renew must
         * not rejoin it. */
        txn->snap.txnid = LDB_READER_IDLE;
        return rc;
    }
    txn->pager.npages = txn->snap.npages;
    txn->id = txn->snap.txnid;
    txn->dbi_generation++;
    txn->active = 1;
    return 0;
}

static void txn_count(ldb_env *env, int delta)
{
    pthread_mutex_lock(&env->mutex);
    env->open_txns += (unsigned)delta;
    pthread_mutex_unlock(&env->mutex);
}

/* The writer before us died holding the mutex. The commit state it may have
 * been updating is double-buffered, its log record (if any) is either in that
 * state or past the log's end, and its pages went to free page numbers, so
 * there is nothing to undo; only its process's reader slots may be stale. */
static int adopt_dead_writer(ldb_env *env)
{
    int cleared;
    return ldb__lock_reader_check(&env->lock, &cleared);
}

/* Set txn up as a write txn on the newest committed state (the writer
 * mutex held). */
static int setup_write(ldb_env *env, ldb_txn *txn)
{
    struct ldb__commit_state cs;
    TRY(ldb__lock_state_read(&env->lock, &cs));
    txn->snap = cs.snap; /* the newest committed state, durable or not yet */
    TRY(snapshot_map(txn, txn->snap.npages));
    txn->file_size = cs.data_size;
    txn->id = txn->snap.txnid + 1;
    txn->pager.npages = txn->snap.npages;
    txn->pager.txnid = txn->id;
    txn->pager.dirty = &txn->dirty;
    txn->dirty.pool = &env->buffers;
    txn->pager.alloc = txn_alloc;
    txn->pager.release = txn_release;
    txn->pager.ctx = txn;
    txn->pager.written = &env->written;
    txn->pager.tail.depth = 0; /* a path of an earlier txn's pages */
    ldb__freelist_init(&txn->freelist);
    txn->freelist.reuse_bound = ldb__txn_reuse_bound(env);
    txn->freelist.checkpoint = __atomic_load_n(&env->lock.hdr->checkpoint_txnid, __ATOMIC_ACQUIRE);
    txn->dbi_generation = 1;
    txn->active = 1;
    return 0;
}

static int begin_write(ldb_env *env, unsigned flags, ldb_txn *txn)
{
    if (env->opts.flags & LDB_RDONLY)
        return LDB_READONLY;
    if (__atomic_load_n(&env->panic, __ATOMIC_ACQUIRE))
        return LDB_PANIC;
    int died;
    TRY(ldb__lock_writer(&env->lock, (flags & LDB_TXN_NOWAIT) != 0, &died));
    txn->thread = pthread_self();
    txn->tid = ldb__lock_thread_id();
    int rc = 0;
    if (died)
        CHECK_GOTO(rc, adopt_dead_writer(env), fail);
    /* Fold a log that has grown past its limit before building on it, and
     * give back the end of the file that checkpoint freed. */
    uint64_t cp = __atomic_load_n(&env->lock.hdr->checkpoint_txnid, __ATOMIC_ACQUIRE);
    CHECK_GOTO(rc, ldb__checkpoint_if_due(env), fail);
    if (cp != __atomic_load_n(&env->lock.hdr->checkpoint_txnid, __ATOMIC_ACQUIRE))
        CHECK_GOTO(rc, ldb__space_trim(env, 0), fail);
    CHECK_GOTO(rc, setup_write(env, txn), fail);
    return 0;
fail:
    if (ldb__lock_writer_release(&env->lock) < 0)
        rc = ldb__panic(env, 0); /* taken by this thread just now: cannot happen */
    return rc;
}

int ldb__txn_begin_locked(ldb_env *env, ldb_txn **out)
{
    ldb_txn *txn = ldb__calloc(1, sizeof *txn);
    if (txn == NULL)
        return -ENOMEM;
    txn->magic = LDB_TXN_MAGIC;
    txn->env = env;
    txn->internal = 1;
    txn->thread = pthread_self(); /* the caller's, which holds the writer */
    txn->tid = ldb__lock_thread_id();
    txn->pager.map = env->map;
    txn->pager.page_size = env->page_size;
    int rc = setup_write(env, txn);
    if (rc < 0) {
        ldb__free(txn);
        return rc;
    }
    *out = txn;
    return 0;
}

void ldb__txn_end_locked(ldb_txn *txn)
{
    ldb__dirty_destroy(&txn->dirty);
    ldb__freelist_destroy(&txn->freelist);
    ldb__wal_buf_free(&txn->log);
    ldb__free(txn->dbis);
    txn->magic = LDB_DEAD_MAGIC;
    ldb__free(txn);
}

int ldb_txn_begin(ldb_env *env, unsigned flags, ldb_txn **out)
{
    if (out == NULL)
        return LDB_INVALID;
    TRY(ldb__env_check(env));
    if (flags & ~(unsigned)(LDB_TXN_RDONLY | LDB_TXN_NOWAIT))
        return LDB_INVALID;
    ldb_txn *txn = ldb__calloc(1, sizeof *txn);
    if (txn == NULL)
        return -ENOMEM;
    txn->magic = LDB_TXN_MAGIC;
    txn->env = env;
    txn->rdonly = (flags & LDB_TXN_RDONLY) != 0;
    txn->pager.page_size = env->page_size; /* pager.map: set with the snapshot */
    int rc;
    if (txn->rdonly) {
        rc = ldb__lock_reader_claim(&env->lock, &txn->slot);
        if (rc == 0) {
            txn->has_slot = 1;
            rc = reader_take_snapshot(txn);
            if (rc < 0)
                ldb__lock_reader_release(&env->lock, txn->slot);
        }
    } else {
        rc = begin_write(env, flags, txn);
    }
    if (rc < 0) {
        ldb__free(txn);
        return rc;
    }
    txn_count(env, 1);
    *out = txn;
    return 0;
}

/* ---- end -------------------------------------------------------------------- */

int ldb__txn_release_writer(ldb_txn *txn)
{
    /* The page buffers go back to the env's pool, which only the holder of
     * the writer mutex may touch: before the mutex, not after. Handles
     * too: the next writer must not find a deleted tree's slot. */
    ldb__dirty_destroy(&txn->dirty);
    settle_handles(txn);
    txn->writer_released = 1;
    if (ldb__lock_writer_release(&txn->env->lock) < 0)
        return ldb__panic(txn->env, 0);
    return 0;
}

int ldb__txn_own_thread(const ldb_txn *txn)
{
    return txn->rdonly || pthread_equal(txn->thread, pthread_self());
}

int ldb__txn_end_elsewhere(ldb_txn *txn)
{
    /* Only the thread that began the txn can release the writer mutex:
     * while it runs, the txn stays open for it. Once it has exited, the
     * kernel has handed the mutex on (the next writer adopts it as a dead
     * writer's), so free the txn without it, and free its page buffers
     * rather than give them to the env's pool: the pool is the new
     * writer's now. */
    if (ldb__lock_thread_gone(txn->tid)) {
        txn->dirty.pool = NULL;
        ldb__dirty_destroy(&txn->dirty);
        txn->writer_released = 1;
        ldb__txn_free(txn);
    }
    return LDB_INVALID;
}

void ldb__txn_free(ldb_txn *txn)
{
    ldb_env *env = txn->env;
    /* In a forked child the reader slot and the writer mutex are the
     * parent's: free only this process's memory. */
    int owner = ldb__env_check(env) == 0;
    lose_cursors(txn, 1);
    if (owner)
        settle_handles(txn);
    if (txn->rdonly) {
        if (txn->has_slot && owner)
            ldb__lock_reader_release(&env->lock, txn->slot);
    } else {
        if (!txn->writer_released) {
            if (owner)
                (void)ldb__txn_release_writer(txn); /* a failure panics the env */
            else
                ldb__dirty_destroy(&txn->dirty);
        }
        ldb__freelist_destroy(&txn->freelist);
        ldb__wal_buf_free(&txn->log);
    }
    ldb__pins_free(env->cache, &txn->pins);
    ldb__free(txn->cbuf);
    ldb__dict_txn_free(txn);
    ldb__free(txn->dbis);
    txn->magic = LDB_DEAD_MAGIC;
    txn_count(env, -1);
    ldb__free(txn);
}

void ldb_txn_abort(ldb_txn *txn)
{
    if (txn == NULL || txn->magic != LDB_TXN_MAGIC)
        return;
    if (ldb__env_check(txn->env) == 0 && !ldb__txn_own_thread(txn)) {
        (void)ldb__txn_end_elsewhere(txn); /* lightningdb.h says why */
        return;
    }
    ldb__txn_free(txn);
}

uint64_t ldb_txn_id(const ldb_txn *txn)
{
    if (txn == NULL || txn->magic != LDB_TXN_MAGIC)
        return 0;
    return txn->id;
}

void ldb_txn_reset(ldb_txn *txn)
{
    if (txn == NULL || txn->magic != LDB_TXN_MAGIC || !txn->rdonly || !txn->active ||
        ldb__env_check(txn->env) != 0)
        return;
    lose_cursors(txn, 0);
    ldb__value_unpin(txn);
    ldb__lock_reader_end(&txn->env->lock, txn->slot);
    txn->active = 0;
}

int ldb_txn_renew(ldb_txn *txn)
{
    if (txn == NULL || txn->magic != LDB_TXN_MAGIC || !txn->rdonly || txn->active)
        return LDB_INVALID;
    TRY(ldb__env_check(txn->env));
    /* Nothing committed since the last snapshot: keep it, and its map
     * (maps replaced by a remap stay mapped until the env closes). A
     * service renewing per request on a read-mostly database mostly
     * takes this path. */
    if (ldb__lock_reader_rejoin(&txn->env->lock, txn->slot, txn->snap.txnid)) {
        txn->dbi_generation++;
        txn->active = 1;
        return 0;
    }
    return reader_take_snapshot(txn);
}


/* ---- writes ----------------------------------------------------------------- */

int ldb__txn_log(ldb_txn *txn, unsigned type, ldb_dbi dbi, const ldb_val *key, const ldb_val *val)
{
    ldb_env *env = txn->env;
    if (txn->replaying || env->wal_fd < 0 || txn->log.too_big)
        return 0;
    char name[LDB_MAX_NAME + 1];
    size_t name_len = 0; /* LDB_MAIN: no name (and no memset of the buffer per op) */
    if (dbi != LDB_MAIN) {
        int pinned;
        TRY(ldb__dbi_use(env, dbi, 0, name, &pinned));
        name_len = strlen(name);
    }
    struct ldb__wal_op op = {type,
                             (const uint8_t *)name,
                             name_len,
                             key ? key->data : NULL,
                             key ? key->size : 0,
                             val ? val->data : NULL,
                             val ? val->size : 0};
    /* A record over half the log's limit is not worth logging: the txn
     * commits as a checkpoint instead (one more sync, far fewer bytes). */
    /* With an archive, every txn up to WAL_RECORD_MAX goes through the log:
     * one committed as a checkpoint would be missing from the archive. */
    return ldb__wal_buf_add(&txn->log, &op,
                            env->archive_fd >= 0 ? UINT64_MAX : env->opts.wal_max_bytes / 2);
}

/* A write that was refused takes its op back out of the log record (one
 * that made the record too big leaves it so: the txn commits as a
 * checkpoint, which needs no record). */
static void log_take_back(ldb_txn *txn, const struct ldb__wal_buf *before)
{
    if (!txn->log.too_big) {
        txn->log.len = before->len;
        txn->log.nops = before->nops;
    }
}

/* Puts and deletes are logged before they are applied: key and val may
 * point into pages the write rewrites or frees (a key or value read in this
 * txn), and would not hold what was written after it. */
int ldb__txn_put(ldb_txn *txn, ldb_dbi dbi, const ldb_val *key, const ldb_val *val,
                 unsigned flags)
{
    if (txn->error)
        return txn->error;
    struct tree_desc *t;
    TRY(ldb__txn_fail(txn, ldb__txn_tree(txn, dbi, &t)));
    ldb_val stored;
    unsigned bflags;
    txn->adds++; /* before the first page it takes: no reserve for puts */
    struct ldb__wal_buf before = txn->log;
    int rc = ldb__value_encode(txn, dbi, val, flags, &stored, &bflags);
    if (rc == 0)
        rc = ldb__txn_log(txn,
                          bflags & LDB__BTREE_COMPRESSED ? WAL_OP_PUT_COMPRESSED : WAL_OP_PUT,
                          dbi, key, &stored);
    if (rc == 0)
        rc = ldb__btree_put(&txn->pager, t, key->data, (uint32_t)key->size, stored.data,
                            (uint32_t)stored.size, bflags);
    if (rc < 0 && error_is_refusal(rc))
        log_take_back(txn, &before);
    /* Values handed out before are valid until this write: val may be one. */
    ldb__value_unpin(txn);
    if (rc < 0)
        return ldb__txn_fail(txn, rc);
    ldb__txn_tree_dirty(txn, dbi);
    txn->mods++;
    return 0;
}

int ldb__txn_del(ldb_txn *txn, ldb_dbi dbi, const ldb_val *key)
{
    if (txn->error)
        return txn->error;
    struct tree_desc *t;
    TRY(ldb__txn_fail(txn, ldb__txn_tree(txn, dbi, &t)));
    struct ldb__wal_buf before = txn->log;
    int rc = ldb__txn_log(txn, WAL_OP_DEL, dbi, key, NULL);
    if (rc == 0)
        rc = ldb__btree_del(&txn->pager, t, key->data, (uint32_t)key->size);
    if (rc < 0 && error_is_refusal(rc))
        log_take_back(txn, &before);
    ldb__value_unpin(txn); /* after: key may be a value handed out */
    if (rc < 0)
        return ldb__txn_fail(txn, rc);
    ldb__txn_tree_dirty(txn, dbi);
    txn->mods++;
    return 0;
}
