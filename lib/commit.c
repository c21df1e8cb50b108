/*
 * commit.c: the commit protocol and checkpoints (see commit.h for the steps
 * and wal.h for the log's invariants).
 *
 * Locks, always taken in this order: the writer mutex, the sync mutex, the
 * state mutex (all robust and process-shared, in the lock file).
 */
#include "commit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "meta.h"
#include "os.h"
#include "page.h"

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

/* Page buffers written by one pwritev at most: a run of consecutive pages.
 * Not longer: a write spanning many pages makes the kernel cache them as
 * one large folio (Linux >= 6.16 on ext4), and every later one-page write
 * into such a folio walks all its blocks: with unbounded runs that cost a
 * random bulk load 12% of its time. */
#define WRITE_RUN_MAX 16

/* Checksum every dirty page and write them in runs of consecutive page
 * numbers. */
static int write_dirty_pages(ldb_txn *txn)
{
    struct ldb__dirty_table *t = &txn->dirty;
    uint32_t psize = txn->env->page_size;
    struct ldb__dirty_entry *list = malloc((t->count ? t->count : 1) * sizeof *list);
    if (list == NULL)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < t->cap; i++) {
        struct ldb__dirty_entry *e = &t->slots[i];
        if (e->pgno != 0 && (uintptr_t)e->buf > 1)
            list[n++] = *e;
    }
    if (n > 1)
        qsort(list, n, sizeof *list, cmp_dirty);
    int rc = 0;
    struct iovec iov[WRITE_RUN_MAX];
    for (size_t i = 0; i < n && rc == 0;) {
        int cnt = 0;
        pgno_t next = list[i].pgno;
        uint64_t off = next * (uint64_t)psize;
        while (i < n && list[i].pgno == next && cnt < WRITE_RUN_MAX) {
            size_t len = (size_t)list[i].npages * psize;
            ldb__page_seal(list[i].buf, len);
            iov[cnt].iov_base = list[i].buf;
            iov[cnt].iov_len = len;
            cnt++;
            next += list[i].npages;
            i++;
        }
        rc = ldb__os_pwritev_full(txn->env->fd, iov, cnt, off);
    }
    free(list);
    return rc;
}

/* Grow the data file to hold every page, in chunks. Its new size is made
 * durable by the next checkpoint's fsync, before any meta page refers to
 * the new pages. */
static int grow_data_file(ldb_txn *txn)
{
    ldb_env *env = txn->env;
    uint64_t need = txn->snap.npages * env->page_size;
    if (need <= txn->file_size)
        return 0;
    /* Small chunks: growth costs no sync of its own (the next checkpoint's
     * fsync covers it), so there is no reason to hold much unused space. */
    uint64_t chunk = txn->file_size / 64;
    if (chunk < (1u << 20))
        chunk = 1u << 20;
    if (chunk > (8u << 20))
        chunk = 8u << 20;
    uint64_t target = need + chunk;
    target -= target % env->page_size;
    if (target > env->opts.max_size)
        target = env->opts.max_size - env->opts.max_size % env->page_size;
    if (target < need)
        target = need;
    int rc = ldb__os_grow(env->fd, target);
    if (rc < 0 && target > need) {
        target = need;
        rc = ldb__os_grow(env->fd, need); /* the disk may still hold what we need */
    }
    if (rc == 0)
        txn->file_size = target;
    return rc;
}

static int panic(ldb_env *env, int shared)
{
    __atomic_store_n(&env->panic, 1, __ATOMIC_RELEASE);
    if (shared)
        __atomic_store_n(&env->lock.hdr->log_failed, 1, __ATOMIC_RELEASE);
    return LDB_PANIC;
}

static int log_failed(ldb_env *env)
{
    return __atomic_load_n(&env->panic, __ATOMIC_ACQUIRE) ||
           __atomic_load_n(&env->lock.hdr->log_failed, __ATOMIC_ACQUIRE);
}

static void raise_durable(ldb_env *env, uint64_t txnid)
{
    uint64_t cur = __atomic_load_n(&env->lock.hdr->durable_txnid, __ATOMIC_ACQUIRE);
    while (cur < txnid &&
           !__atomic_compare_exchange_n(&env->lock.hdr->durable_txnid, &cur, txnid, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        ;
}

uint64_t ldb__new_salt(void)
{
    uint64_t salt = 0;
    if (getrandom(&salt, sizeof salt, GRND_NONBLOCK) != sizeof salt) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        salt = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 16);
    }
    return salt | 1; /* never 0 */
}

/* The log file's room: extended in chunks of written zeros, and its size
 * made durable with fsync when it changes, so appends never change the
 * file's size or its block map and an fdatasync after them has no metadata
 * to flush. A full disk fails here, before the txn is visible. */
static int log_make_room(ldb_env *env, struct ldb__commit_state *cs, uint64_t need_end)
{
    if (need_end <= cs->wal_size)
        return 0;
    if (env->opts.sync_mode == LDB_SYNC_OFF) {
        /* No fdatasync to keep cheap: the append itself grows the file (a
         * full disk fails that write, still before the txn is visible), and
         * ldb_sync's fdatasync covers the new size. Zero-filling here cost a
         * bulk load an fsync per chunk. */
        cs->wal_size = need_end;
        return 0;
    }
    uint64_t chunk = cs->wal_size / 4;
    if (chunk < (1u << 20))
        chunk = 1u << 20;
    uint64_t target = need_end + chunk;
    /* Zeros, not fallocate: appends into preallocated-but-unwritten blocks
     * would make every fdatasync commit a metadata change as well. */
    TRY(ldb__os_extend_zeroed(env->wal_fd, cs->wal_size, target));
    if (ldb__os_fsync(env->wal_fd) < 0)
        return panic(env, 1);
    cs->wal_size = target;
    return 0;
}

/* Write a fresh log header (salt, checkpoint) and make the file's room for
 * records; fills the log fields of *cs. */
static int log_reset(ldb_env *env, struct ldb__commit_state *cs, uint64_t salt, uint64_t checkpoint)
{
    /* Room first: if the disk is full, the old generation stays in use
     * (nothing was changed) rather than a new header with nowhere to go. */
    struct ldb__commit_state next = *cs;
    TRY(ldb__os_file_size(env->wal_fd, &next.wal_size));
    TRY(log_make_room(env, &next, WAL_HEADER_SIZE + (1u << 20)));
    uint8_t header[WAL_HEADER_SIZE];
    ldb__wal_header_encode(header, salt, checkpoint, env->db_id);
    TRY(ldb__os_pwrite_full(env->wal_fd, header, sizeof header, 0));
    next.wal_end = WAL_HEADER_SIZE;
    next.wal_salt = salt;
    next.wal_prev_crc = ldb__wal_first_crc(salt);
    *cs = next;
    return 0;
}

/* The checkpoint proper (the writer and sync mutexes held): make cs's
 * snapshot the data file's meta page. */
static int write_checkpoint(ldb_env *env, const struct ldb__commit_state *cs)
{
    struct ldb__lock_header *h = env->lock.hdr;
    /* fsync, not fdatasync: the file may have grown since the last one. */
    if (ldb__os_fsync(env->fd) < 0)
        return panic(env, 0);
    struct meta_page m;
    ldb__meta_init(&m, env->page_size);
    m.txnid = cs->snap.txnid;
    m.npages = cs->snap.npages;
    m.db_id = env->db_id;
    m.main_tree = cs->snap.main_tree;
    m.catalog_tree = cs->snap.catalog_tree;
    m.free_tree = cs->snap.free_tree;
    unsigned slot = h->meta_slot ^ 1u;
    TRY(ldb__meta_write(env->fd, &m, slot)); /* failed: the old meta stands */
    if (ldb__os_fdatasync(env->fd) < 0)
        return panic(env, 0);
    /* A second copy in the other slot, unsynced and best effort: if the new
     * meta page is damaged later, opening falls back to this same checkpoint
     * rather than an older one whose log is gone. A torn copy is harmless:
     * the synced one is valid. */
    (void)ldb__meta_write(env->fd, &m, slot ^ 1u);
    h->meta_slot = slot;
    __atomic_store_n(&h->checkpoint_txnid, cs->snap.txnid, __ATOMIC_RELEASE);
    __atomic_add_fetch(&h->checkpoints, 1, __ATOMIC_RELAXED);
    return 0;
}

/* Checkpoint the committed state, or with pending != NULL a txn that is
 * not committed yet (its pages are written): it becomes committed only if
 * its checkpoint succeeds. The caller holds the writer mutex. */
static int checkpoint(ldb_env *env, const struct ldb__commit_state *pending)
{
    if (log_failed(env))
        return LDB_PANIC;
    TRY(ldb__lock_sync_acquire(&env->lock, 0));
    struct ldb__commit_state cs;
    if (pending)
        cs = *pending;
    else
        ldb__lock_state_read(&env->lock, &cs);
    int rc = 0;
    uint64_t c = cs.snap.txnid;
    if (c != __atomic_load_n(&env->lock.hdr->checkpoint_txnid, __ATOMIC_ACQUIRE)) {
        CHECK_GOTO(rc, write_checkpoint(env, &cs), out);
        if (pending)
            ldb__lock_state_write(&env->lock, &cs);
        raise_durable(env, c);
        ldb__lock_publish_newer(&env->lock, &cs.snap);
    }
    /* A fresh log generation; its header reaches the disk with the first
     * record's sync (until then the old header's records are all <= c and
     * are skipped). If there is no room for it, the old generation goes on:
     * recovery skips its records up to the checkpoint. */
    if (cs.wal_end > WAL_HEADER_SIZE && log_reset(env, &cs, ldb__new_salt(), c) == 0)
        ldb__lock_state_write(&env->lock, &cs);
out:
    ldb__lock_sync_release(&env->lock);
    ldb__lock_durable_wake(&env->lock);
    return rc;
}

int ldb__log_start(ldb_env *env)
{
    TRY(ldb__lock_sync_acquire(&env->lock, 0));
    struct ldb__commit_state cs;
    ldb__lock_state_read(&env->lock, &cs);
    int rc = log_reset(env, &cs, ldb__new_salt(), cs.snap.txnid);
    if (rc == 0 && ldb__os_fsync(env->wal_fd) < 0)
        rc = panic(env, 1);
    if (rc == 0)
        ldb__lock_state_write(&env->lock, &cs);
    ldb__lock_sync_release(&env->lock);
    return rc;
}

int ldb__checkpoint_locked(ldb_env *env)
{
    return checkpoint(env, NULL);
}

int ldb__checkpoint_if_due(ldb_env *env)
{
    /* Never while recovering: a checkpoint or a new log generation now would
     * overwrite the log that recovery is still reading (and would need if it
     * crashed before finishing). */
    if (env->wal_fd < 0 || env->recovering)
        return 0;
    struct ldb__commit_state cs;
    ldb__lock_state_read(&env->lock, &cs);
    if (cs.wal_end < WAL_HEADER_SIZE) {
        /* The first opener was read-only and started no log generation:
         * start one (the data file's meta is the newest txn: nothing has
         * been committed since). */
        return ldb__log_start(env);
    }
    /* Due when the log is long. Not when many freed pages wait for a
     * checkpoint (W3): those are pages of the last checkpoint's tree, so
     * they never exceed one copy of it, and checkpointing early to reuse
     * them costs a random bulk load most of its time in write-back (1,000
     * txns of 1,000 random puts into 1M keys, checkpointing whenever they
     * passed a quarter of the file: 30 checkpoints, 1.9 GB written, 66K
     * puts/s, file 275 MB; by log size only: 0.5 GB, 115K puts/s, 393 MB).
     * A smaller wal_max_bytes, or ldb_checkpoint(), keeps the file smaller. */
    if (cs.wal_end <= env->opts.wal_max_bytes)
        return 0;
    return ldb__checkpoint_locked(env);
}

/* Sync the log for every record appended so far (the sync mutex held). */
static int sync_all_appended(ldb_env *env)
{
    struct ldb__commit_state now;
    ldb__lock_state_read(&env->lock, &now);
    if (log_failed(env) || ldb__io_datasync(&env->io, env->wal_fd) < 0)
        return panic(env, 1);
    raise_durable(env, now.snap.txnid);
    ldb__lock_publish_newer(&env->lock, &now.snap);
    return 0;
}

/* With the sync mutex held: sync unless txn txnid is durable already, then
 * release the mutex and wake whoever waits for a sync. */
static int sync_through(ldb_env *env, uint64_t txnid)
{
    int rc = 0;
    if (__atomic_load_n(&env->lock.hdr->durable_txnid, __ATOMIC_ACQUIRE) < txnid)
        rc = sync_all_appended(env);
    ldb__lock_sync_release(&env->lock);
    ldb__lock_durable_wake(&env->lock);
    return rc;
}

int ldb__log_sync(ldb_env *env)
{
    if (env->wal_fd < 0)
        return 0;
    if (log_failed(env))
        return LDB_PANIC;
    TRY(ldb__lock_sync_acquire(&env->lock, 0));
    struct ldb__commit_state cs;
    ldb__lock_state_read(&env->lock, &cs);
    return sync_through(env, cs.snap.txnid);
}

/* Wait until txn txnid (appended) is durable, syncing ourselves when no one
 * else is. Committed already: a failure here is a panic, never "failed". */
static int wait_durable_loop(ldb_env *env, uint64_t txnid)
{
    struct ldb__lock_header *h = env->lock.hdr;
    for (;;) {
        uint32_t seen = __atomic_load_n(&h->durable_seq, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&h->durable_txnid, __ATOMIC_ACQUIRE) >= txnid)
            return 0;
        if (log_failed(env))
            return LDB_PANIC;
        int rc = ldb__lock_sync_acquire(&env->lock, 1);
        if (rc == 0)
            return sync_through(env, txnid);
        if (rc != LDB_BUSY)
            return panic(env, 1);
        ldb__lock_durable_wait(&env->lock, seen, 2000);
    }
}

static int wait_durable(ldb_env *env, uint64_t txnid)
{
    struct ldb__lock_header *h = env->lock.hdr;
    __atomic_add_fetch(&h->durable_waiters, 1, __ATOMIC_SEQ_CST);
    int rc = wait_durable_loop(env, txnid);
    __atomic_sub_fetch(&h->durable_waiters, 1, __ATOMIC_ACQ_REL);
    return rc;
}

/* Steps 3-6 of commit.h for a sealed record. */
static int append_and_publish(ldb_txn *txn, struct ldb__commit_state *cs, size_t rec_len)
{
    ldb_env *env = txn->env;
    const uint8_t *rec = txn->log.data;
    uint64_t off = cs->wal_end - rec_len;
    int sync_full = env->opts.sync_mode == LDB_SYNC_FULL;
    if (!sync_full) {
        TRY(ldb__io_write(&env->io, env->wal_fd, rec, rec_len, off));
        ldb__lock_state_write(&env->lock, cs);
        ldb__lock_publish_newer(&env->lock, &cs->snap);
        return 0;
    }
    /* Alone (no sync in flight, no one waiting for one): the write and its
     * sync go out as one submission, and the next txn starts building while
     * the sync runs. With others waiting, a sync of ours would cover only
     * this record; appending and joining the next group sync covers more. */
    int rc = 0;
    if (__atomic_load_n(&env->lock.hdr->durable_waiters, __ATOMIC_ACQUIRE) == 0 &&
        ldb__lock_sync_acquire(&env->lock, 1) == 0) {
        rc = ldb__io_submit_write_sync(&env->io, env->wal_fd, rec, rec_len, off);
        if (rc < 0) {
            ldb__lock_sync_release(&env->lock); /* nothing is visible yet */
            return rc;
        }
        ldb__lock_state_write(&env->lock, cs);
        ldb__txn_release_writer(txn);
        if (ldb__io_wait_write_sync(&env->io) < 0) {
            /* The next writer may already build on this txn: no env on this
             * database may trust the log now. */
            rc = panic(env, 1);
        } else {
            raise_durable(env, cs->snap.txnid);
            ldb__lock_publish_newer(&env->lock, &cs->snap);
        }
        ldb__lock_sync_release(&env->lock);
        ldb__lock_durable_wake(&env->lock);
        return rc;
    }
    /* A sync is in flight: append, let the next txn start, then wait until
     * a sync covers this record: the one in flight, if it started after the
     * append, or one we issue ourselves for everyone who appended meanwhile
     * as soon as the sync mutex is free. */
    TRY(ldb__io_write(&env->io, env->wal_fd, rec, rec_len, off));
    ldb__lock_state_write(&env->lock, cs);
    ldb__txn_release_writer(txn);
    return wait_durable(env, cs->snap.txnid);
}

/* A txn too large for the log: its pages are in the data file already, so
 * a checkpoint makes it durable with far fewer bytes written. Until that
 * checkpoint succeeds the txn is not committed (a failure leaves no trace). */
static int commit_as_checkpoint(ldb_txn *txn, struct ldb__commit_state *cs)
{
    return checkpoint(txn->env, cs);
}

int ldb__commit(ldb_txn *txn)
{
    ldb_env *env = txn->env;
    if (log_failed(env))
        return LDB_PANIC;
    TRY(save_catalog(txn));
    TRY(ldb__freelist_save(&txn->freelist, &txn->pager, &txn->snap.free_tree, txn->id));
    TRY(grow_data_file(txn));
    TRY(write_dirty_pages(txn));
    struct ldb__commit_state cs;
    ldb__lock_state_read(&env->lock, &cs);
    cs.snap = txn->snap;
    cs.snap.txnid = txn->id;
    cs.data_size = txn->file_size;
    int rc;
    if (txn->replaying) {
        /* Recovery: the record is in the log already; it checkpoints last. */
        ldb__lock_state_write(&env->lock, &cs);
        ldb__lock_publish_newer(&env->lock, &cs.snap);
        rc = 0;
    } else if (txn->log.too_big) {
        rc = commit_as_checkpoint(txn, &cs);
    } else {
        uint32_t crc;
        size_t rec_len = ldb__wal_buf_seal(&txn->log, txn->id, cs.wal_salt, cs.wal_prev_crc, &crc);
        if (rec_len == 0)
            return -ENOMEM;
        TRY(log_make_room(env, &cs, cs.wal_end + rec_len));
        cs.wal_end += rec_len;
        cs.wal_prev_crc = crc;
        rc = append_and_publish(txn, &cs, rec_len);
    }
    if (rc == 0) {
        __atomic_add_fetch(&env->commits, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&env->lock.hdr->commits, 1, __ATOMIC_RELAXED);
    }
    return rc;
}

int ldb_txn_commit(ldb_txn *txn)
{
    if (txn == NULL || txn->magic != LDB_TXN_MAGIC)
        return LDB_INVALID;
    int rc = 0;
    if (ldb__env_check(txn->env) != 0)
        rc = LDB_INVALID; /* a forked child: the txn is the parent's */
    else if (!txn->rdonly && txn->error)
        rc = txn->error;
    else if (!txn->rdonly && txn->mods != 0)
        rc = ldb__commit(txn);
    else if (!txn->rdonly && txn->env->wal_fd >= 0 && txn->env->opts.sync_mode == LDB_SYNC_FULL) {
        /* Nothing to write, but the txn may have read txns that are committed
         * and not yet durable (writers build on them before their sync):
         * "committed" must not vouch for what a crash could take back. */
        uint64_t seen = txn->snap.txnid;
        ldb__txn_release_writer(txn);
        rc = wait_durable(txn->env, seen);
    }
    ldb__txn_free(txn);
    return rc;
}
