/*
 * txn.c: beginning, committing and ending transactions; the write txn's
 * page allocator. The commit protocol and who holds what are in txn.h.
 */
#include "txn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "error.h"
#include "meta.h"
#include "os.h"
#include "page.h"

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

int ldb__txn_check(const ldb_txn *txn, int want_write)
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

/* ---- the write txn's allocator (pager callbacks) ------------------------- */

static int txn_alloc(void *ctx, uint32_t n, pgno_t *pgno, uint8_t **buf)
{
    ldb_txn *txn = ctx;
    ldb_env *env = txn->env;
    TRY(ldb__freelist_take(&txn->freelist, &txn->pager, &txn->snap.free_tree, n, pgno));
    if (*pgno == 0 && txn->freelist.held_back && !txn->readers_checked) {
        /* Free pages are held back by a reader: if it belongs to a process
         * that died, clear its slot and look again (once per txn). */
        int cleared = 0;
        txn->readers_checked = 1;
        TRY(ldb__lock_reader_check(&env->lock, &cleared));
        if (cleared > 0) {
            txn->freelist.reuse_bound = ldb__lock_oldest_snapshot(&env->lock);
            txn->freelist.records_exhausted = 0;
            txn->freelist.held_back = 0;
            TRY(ldb__freelist_take(&txn->freelist, &txn->pager, &txn->snap.free_tree, n, pgno));
        }
    }
    if (*pgno == 0) {
        uint64_t end = txn->snap.npages + n;
        if (end * env->page_size > env->opts.max_size || end * env->page_size > env->map_len)
            return LDB_FULL;
        *pgno = txn->snap.npages;
        txn->snap.npages = end;
        txn->pager.npages = end;
    }
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

static int txn_release(void *ctx, pgno_t pgno, uint32_t n)
{
    ldb_txn *txn = ctx;
    uint8_t *b = ldb__dirty_remove(&txn->dirty, pgno);
    ldb__buffer_put(&txn->env->buffers, b, n);
    return ldb__freelist_give(&txn->freelist, pgno, n, b != NULL);
}

/* ---- trees ---------------------------------------------------------------- */

int ldb__txn_tree(ldb_txn *txn, ldb_dbi dbi, struct tree_desc **desc)
{
    if (dbi == LDB_MAIN) {
        *desc = &txn->snap.main_tree;
        return 0;
    }
    ldb_env *env = txn->env;
    if (dbi >= env->opts.max_dbs)
        return LDB_INVALID;
    if (txn->dbis == NULL) {
        txn->dbis = calloc(env->opts.max_dbs, sizeof *txn->dbis);
        if (txn->dbis == NULL)
            return -ENOMEM;
    }
    struct txn_dbi *e = &txn->dbis[dbi];
    if (e->generation != txn->dbi_generation) {
        char name[LDB_MAX_NAME + 1];
        pthread_mutex_lock(&env->mutex);
        const char *n = env->dbi_names[dbi];
        if (n != NULL)
            strcpy(name, n);
        pthread_mutex_unlock(&env->mutex);
        if (n == NULL)
            return LDB_INVALID;
        ldb_val v;
        int rc = ldb__btree_get(&txn->pager, &txn->snap.catalog_tree, (const uint8_t *)name,
                                (uint32_t)strlen(name), &v);
        if (rc == LDB_NOTFOUND) {
            e->state = DBI_MISSING;
        } else {
            TRY(rc);
            if (v.size != sizeof(struct tree_desc))
                return LDB_CORRUPT();
            memcpy(&e->desc, v.data, sizeof e->desc);
            e->state = DBI_CLEAN;
        }
        e->generation = txn->dbi_generation;
    }
    if (e->state == DBI_MISSING || e->state == DBI_DELETED)
        return LDB_INVALID;
    *desc = &e->desc;
    return 0;
}

void ldb__txn_tree_dirty(ldb_txn *txn, ldb_dbi dbi)
{
    if (dbi != LDB_MAIN && txn->dbis != NULL && txn->dbis[dbi].state == DBI_CLEAN)
        txn->dbis[dbi].state = DBI_DIRTY;
}

/* ---- begin ------------------------------------------------------------------ */

static int reader_take_snapshot(ldb_txn *txn)
{
    ldb_env *env = txn->env;
    ldb__lock_reader_begin(&env->lock, txn->slot, &txn->snap);
    if (txn->snap.npages * env->page_size > env->map_len) {
        /* The file grew past this handle's map (another process opened it
         * with a larger max_size). */
        ldb__lock_reader_end(&env->lock, txn->slot);
        return LDB_FULL;
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

/* The writer before us died. If it had written its meta page but not
 * published, the data file is ahead of the lock file: publish it. */
static int adopt_dead_writer(ldb_env *env)
{
    uint64_t size;
    struct meta_page m;
    TRY(ldb__os_file_size(env->fd, &size));
    TRY(ldb__meta_read_newest(env->fd, size, &m));
    struct ldb__snapshot cur;
    ldb__lock_read_published(&env->lock, &cur);
    if (m.txnid > cur.txnid && m.npages * env->page_size <= size) {
        struct ldb__snapshot s = {m.txnid, m.npages, m.main_tree, m.catalog_tree, m.free_tree};
        ldb__lock_publish(&env->lock, &s);
    }
    int cleared;
    return ldb__lock_reader_check(&env->lock, &cleared);
}

static int begin_write(ldb_env *env, unsigned flags, ldb_txn *txn)
{
    if (env->opts.flags & LDB_RDONLY)
        return LDB_READONLY;
    if (__atomic_load_n(&env->panic, __ATOMIC_ACQUIRE))
        return LDB_PANIC;
    int died;
    TRY(ldb__lock_writer(&env->lock, (flags & LDB_TXN_NOWAIT) != 0, &died));
    int rc = 0;
    if (died)
        CHECK_GOTO(rc, adopt_dead_writer(env), fail);
    ldb__lock_read_published(&env->lock, &txn->snap);
    if (txn->snap.npages * env->page_size > env->map_len) {
        rc = LDB_FULL;
        goto fail;
    }
    CHECK_GOTO(rc, ldb__os_file_size(env->fd, &txn->file_size), fail);
    txn->id = txn->snap.txnid + 1;
    txn->pager.npages = txn->snap.npages;
    txn->pager.txnid = txn->id;
    txn->pager.dirty = &txn->dirty;
    txn->dirty.pool = &env->buffers;
    txn->pager.alloc = txn_alloc;
    txn->pager.release = txn_release;
    txn->pager.ctx = txn;
    ldb__freelist_init(&txn->freelist);
    /* After the previous commit published (invariant R of lock.h). */
    txn->freelist.reuse_bound = ldb__lock_oldest_snapshot(&env->lock);
    txn->dbi_generation = 1;
    txn->active = 1;
    return 0;
fail:
    ldb__lock_writer_release(&env->lock);
    return rc;
}

int ldb_txn_begin(ldb_env *env, unsigned flags, ldb_txn **out)
{
    if (out == NULL)
        return LDB_INVALID;
    TRY(ldb__env_check(env));
    if (flags & ~(unsigned)(LDB_TXN_RDONLY | LDB_TXN_NOWAIT))
        return LDB_INVALID;
    ldb_txn *txn = calloc(1, sizeof *txn);
    if (txn == NULL)
        return -ENOMEM;
    txn->magic = LDB_TXN_MAGIC;
    txn->env = env;
    txn->rdonly = (flags & LDB_TXN_RDONLY) != 0;
    txn->pager.map = env->map;
    txn->pager.page_size = env->page_size;
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
        free(txn);
        return rc;
    }
    txn_count(env, 1);
    *out = txn;
    return 0;
}

/* ---- end -------------------------------------------------------------------- */

static void txn_free(ldb_txn *txn)
{
    ldb_env *env = txn->env;
    ldb__cursor_orphan_all(txn, 1);
    if (txn->rdonly) {
        if (txn->has_slot)
            ldb__lock_reader_release(&env->lock, txn->slot);
    } else {
        ldb__dirty_destroy(&txn->dirty);
        ldb__freelist_destroy(&txn->freelist);
        ldb__lock_writer_release(&env->lock);
    }
    free(txn->dbis);
    txn->magic = LDB_DEAD_MAGIC;
    txn_count(env, -1);
    free(txn);
}

void ldb_txn_abort(ldb_txn *txn)
{
    if (txn == NULL || txn->magic != LDB_TXN_MAGIC)
        return;
    txn_free(txn);
}

uint64_t ldb_txn_id(const ldb_txn *txn)
{
    if (txn == NULL || txn->magic != LDB_TXN_MAGIC)
        return 0;
    return txn->id;
}

void ldb_txn_reset(ldb_txn *txn)
{
    if (txn == NULL || txn->magic != LDB_TXN_MAGIC || !txn->rdonly || !txn->active)
        return;
    ldb__cursor_orphan_all(txn, 0);
    ldb__lock_reader_end(&txn->env->lock, txn->slot);
    txn->active = 0;
}

int ldb_txn_renew(ldb_txn *txn)
{
    if (txn == NULL || txn->magic != LDB_TXN_MAGIC || !txn->rdonly || txn->active)
        return LDB_INVALID;
    TRY(ldb__env_check(txn->env));
    return reader_take_snapshot(txn);
}

/* Write the descriptors of named trees changed by txn into the catalog. */
static int save_catalog(ldb_txn *txn)
{
    ldb_env *env = txn->env;
    if (txn->dbis == NULL)
        return 0;
    for (unsigned i = 1; i < env->opts.max_dbs; i++) {
        struct txn_dbi *e = &txn->dbis[i];
        if (e->generation != txn->dbi_generation || e->state != DBI_DIRTY)
            continue;
        char name[LDB_MAX_NAME + 1];
        pthread_mutex_lock(&env->mutex);
        const char *n = env->dbi_names[i];
        if (n != NULL)
            strcpy(name, n);
        pthread_mutex_unlock(&env->mutex);
        if (n == NULL)
            continue;
        TRY(ldb__btree_put(&txn->pager, &txn->snap.catalog_tree, (const uint8_t *)name,
                           (uint32_t)strlen(name), &e->desc, sizeof e->desc, 0));
        e->state = DBI_CLEAN;
    }
    return 0;
}

static int cmp_dirty(const void *a, const void *b)
{
    pgno_t x = ((const struct ldb__dirty_entry *)a)->pgno;
    pgno_t y = ((const struct ldb__dirty_entry *)b)->pgno;
    return x < y ? -1 : x > y;
}

/* Checksum every dirty page and pwrite them, one call per run of
 * consecutive page numbers. */
static int write_dirty_pages(ldb_txn *txn)
{
    struct ldb__dirty_table *t = &txn->dirty;
    uint32_t psize = txn->env->page_size;
    struct ldb__dirty_entry *list = malloc((t->count ? t->count : 1) * sizeof *list);
    struct iovec *iov = malloc((t->count ? t->count : 1) * sizeof *iov);
    int rc = 0;
    if (list == NULL || iov == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < t->cap; i++) {
        struct ldb__dirty_entry *e = &t->slots[i];
        if (e->pgno != 0 && (uintptr_t)e->buf > 1)
            list[n++] = *e;
    }
    if (n > 1)
        qsort(list, n, sizeof *list, cmp_dirty);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        int cnt = 0;
        pgno_t next = list[i].pgno;
        while (j < n && list[j].pgno == next) {
            ldb__page_seal(list[j].buf, (size_t)list[j].npages * psize);
            iov[cnt].iov_base = list[j].buf;
            iov[cnt].iov_len = (size_t)list[j].npages * psize;
            cnt++;
            next += list[j].npages;
            j++;
        }
        CHECK_GOTO(rc, ldb__os_pwritev_full(txn->env->fd, iov, cnt, list[i].pgno * (uint64_t)psize),
                   out);
        i = j;
    }
out:
    free(list);
    free(iov);
    return rc;
}

/* Grow the file to hold every page, in chunks so growth (and its fsync) is
 * rare. *grew says whether the size changed. */
static int grow_file(ldb_txn *txn, int *grew)
{
    ldb_env *env = txn->env;
    uint64_t need = txn->snap.npages * env->page_size;
    *grew = 0;
    if (need <= txn->file_size)
        return 0;
    uint64_t chunk = txn->file_size / 16;
    if (chunk < (1u << 20))
        chunk = 1u << 20;
    if (chunk > (64u << 20))
        chunk = 64u << 20;
    uint64_t target = need + chunk - need % env->page_size;
    target -= target % env->page_size;
    if (target > env->opts.max_size)
        target = env->opts.max_size - env->opts.max_size % env->page_size;
    if (target < need)
        target = need;
    int rc = ldb__os_grow(env->fd, target);
    if (rc < 0 && target > need)
        rc = ldb__os_grow(env->fd, need); /* the disk may still hold what we need */
    TRY(rc);
    *grew = 1;
    return 0;
}

static int sync_or_panic(ldb_env *env, int full)
{
    int rc = full ? ldb__os_fsync(env->fd) : ldb__os_fdatasync(env->fd);
    if (rc < 0) {
        /* Never retry: the kernel may have dropped the pages it failed on. */
        __atomic_store_n(&env->panic, 1, __ATOMIC_RELEASE);
        return LDB_PANIC;
    }
    return 0;
}

static int commit_write(ldb_txn *txn)
{
    ldb_env *env = txn->env;
    int sync = env->opts.sync_mode == LDB_SYNC_FULL, grew;
    TRY(save_catalog(txn));
    TRY(ldb__freelist_save(&txn->freelist, &txn->pager, &txn->snap.free_tree, txn->id));
    TRY(grow_file(txn, &grew));
    TRY(write_dirty_pages(txn));
    if (__atomic_load_n(&env->panic, __ATOMIC_ACQUIRE))
        return LDB_PANIC;
    if (sync)
        TRY(sync_or_panic(env, grew));
    struct meta_page m;
    ldb__meta_init(&m, env->page_size);
    m.txnid = txn->id;
    m.npages = txn->snap.npages;
    m.main_tree = txn->snap.main_tree;
    m.catalog_tree = txn->snap.catalog_tree;
    m.free_tree = txn->snap.free_tree;
    TRY(ldb__meta_write(env->fd, &m));
    if (sync)
        TRY(sync_or_panic(env, 0));
    txn->snap.txnid = txn->id;
    ldb__lock_publish(&env->lock, &txn->snap);
    __atomic_add_fetch(&env->commits, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&env->lock.hdr->commits, 1, __ATOMIC_RELAXED);
    return 0;
}

int ldb_txn_commit(ldb_txn *txn)
{
    if (txn == NULL || txn->magic != LDB_TXN_MAGIC)
        return LDB_INVALID;
    int rc = 0;
    if (!txn->rdonly && txn->error)
        rc = txn->error;
    else if (!txn->rdonly && txn->mods != 0)
        rc = commit_write(txn);
    txn_free(txn);
    return rc;
}

/* ---- writes ----------------------------------------------------------------- */

int ldb__txn_put(ldb_txn *txn, ldb_dbi dbi, const ldb_val *key, const ldb_val *val,
                 unsigned flags)
{
    if (txn->error)
        return txn->error;
    struct tree_desc *t;
    TRY(ldb__txn_fail(txn, ldb__txn_tree(txn, dbi, &t)));
    int rc = ldb__btree_put(&txn->pager, t, key->data, (uint32_t)key->size, val->data,
                            (uint32_t)val->size, flags);
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
    int rc = ldb__btree_del(&txn->pager, t, key->data, (uint32_t)key->size);
    if (rc < 0)
        return ldb__txn_fail(txn, rc);
    ldb__txn_tree_dirty(txn, dbi);
    txn->mods++;
    return 0;
}
