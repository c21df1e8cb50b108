/* SPDX-License-Identifier: MIT */
/*
 * commit.c: the commit protocol of one write txn (see commit.h for the
 * steps, durable.h for the syncs and checkpoints it relies on, and wal.h
 * for the log's invariants).
 */
#include "commit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "alloc.h"
#include "durable.h"
#include "error.h"
#include "freelist.h"
#include "os.h"
#include "page.h"
#include "space.h"

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
        /* Live: this txn pins the slot, or it is kept and only a commit
         * that deleted the tree (ours: we hold the writer) gives it back. */
        char name[LDB_MAX_NAME + 1];
        int pinned;
        TRY(ldb__dbi_use(env, i | e->handle_gen << LDB_DBI_SLOT_BITS, 0, name, &pinned));
        uint8_t stored[sizeof e->desc];
        ldb__tree_desc_store(stored, &e->desc);
        TRY(ldb__btree_put(&txn->pager, &txn->snap.catalog_tree, (const uint8_t *)name,
                           (uint32_t)strlen(name), stored, sizeof stored, 0));
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

/* Sort the dirty list by page number: a radix sort of (pgno, index) pairs
 * packed into one word where they fit (always, short of 2^40 pages or 2^24
 * dirty pages in one txn), qsort otherwise or without memory. */
static void sort_dirty(struct ldb__dirty_entry *list, size_t n)
{
    pgno_t max = 0;
    for (size_t i = 0; i < n; i++)
        max = list[i].pgno > max ? list[i].pgno : max;
    uint64_t *keys = NULL;
    struct ldb__dirty_entry *out = NULL;
    if (n >= 256 && n < (1u << 24) && max < (1ull << 40)) {
        keys = ldb__malloc(n * sizeof *keys);
        out = ldb__malloc(n * sizeof *out);
    }
    if (keys == NULL || out == NULL) {
        ldb__free(keys);
        ldb__free(out);
        qsort(list, n, sizeof *list, cmp_dirty);
        return;
    }
    for (size_t i = 0; i < n; i++)
        keys[i] = list[i].pgno << 24 | i;
    ldb__pgno_sort(keys, n, 0);
    for (size_t i = 0; i < n; i++)
        out[i] = list[keys[i] & ((1u << 24) - 1)];
    memcpy(list, out, n * sizeof *list);
    ldb__free(keys);
    ldb__free(out);
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
    struct ldb__dirty_entry *list = ldb__malloc((t->count ? t->count : 1) * sizeof *list);
    if (list == NULL)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < t->cap; i++) {
        struct ldb__dirty_entry *e = &t->slots[i];
        if (e->pgno != 0 && (uintptr_t)e->buf > 1)
            list[n++] = *e;
    }
    if (n > 1)
        sort_dirty(list, n);
    int rc = 0;
    struct iovec iov[WRITE_RUN_MAX];
    for (size_t i = 0; i < n && rc == 0;) {
        int cnt = 0;
        pgno_t next = list[i].pgno;
        uint64_t off = next * (uint64_t)psize;
        while (i < n && list[i].pgno == next && cnt < WRITE_RUN_MAX) {
            size_t len = (size_t)list[i].npages * psize;
            if (!list[i].bare) /* a bare run's checksum is in its leaf node */
                ldb__page_seal(list[i].buf, len);
            iov[cnt].iov_base = list[i].buf;
            iov[cnt].iov_len = len;
            cnt++;
            next += list[i].npages;
            i++;
        }
        rc = ldb__os_pwritev_full(txn->env->fd, iov, cnt, off);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint16_t type = ldb__le16(PAGE_CHDR(list[i].buf)->type);
        if (list[i].npages == 1 && !list[i].bare && (type == PAGE_LEAF || type == PAGE_BRANCH))
            ldb__written_note(&txn->env->written, list[i].buf, list[i].pgno);
    }
    ldb__free(list);
    return rc;
}

/* Make a committed txn visible to readers. It is in the commit state, so
 * the next writer builds on it: if readers cannot be shown it (the lock
 * file's state mutex is damaged), no env may go on. */
static int publish_committed(ldb_env *env, const struct ldb__snapshot *snap)
{
    if (ldb__lock_publish_newer(&env->lock, snap) < 0)
        return ldb__panic(env, 1);
    return 0;
}

/* Make sure recovery cannot replay a record this commit wrote but then
 * failed to stand behind: its checksum is turned into one that never
 * matches. If even that write fails, no env may trust the log. */
static int unwrite_record(ldb_env *env, uint64_t off, uint32_t crc)
{
    uint8_t bad[4];
    ldb__st_le32(bad, ~crc);
    if (ldb__os_pwrite_full(env->wal_fd, bad, sizeof bad, off) < 0)
        return ldb__panic(env, 1);
    return 0;
}

/* Take back a record that a sync (submitted with it, or anyone's later one)
 * may have made durable when its txn then failed: the record is unwritten
 * and that is made durable too. synced: the result of the record's own
 * sync, if one was submitted with it (else 0). A failed sync or unwrite
 * leaves a log no env may trust (a failed sync is never retried). */
static int take_back_durable_record(ldb_env *env, uint64_t off, uint32_t crc, int synced)
{
    TRY(unwrite_record(env, off, crc));
    if (synced < 0 || ldb__io_datasync(&env->io, env->wal_fd) < 0)
        return ldb__panic(env, 1);
    return 0;
}

/* What became of a txn's pages when its append failed: a failure before
 * they were written leaves them to the caller's checkpoint fallback; a
 * failed page write is an error of its own, never a shortage of log room. */
enum txn_pages { PAGES_PENDING, PAGES_WRITTEN, PAGES_FAILED };

static int write_pages_noting(ldb_txn *txn, enum txn_pages *pages)
{
    int rc = write_dirty_pages(txn);
    *pages = rc < 0 ? PAGES_FAILED : PAGES_WRITTEN;
    return rc;
}

/* Steps 2-6 of commit.h for a sealed record under LDB_SYNC_FULL
 * (LDB_SYNC_OFF commits take commit_sync_off); *pages says what became
 * of txn's pages. */
static int append_and_publish(ldb_txn *txn, struct ldb__commit_state *cs, size_t rec_len,
                              uint32_t crc, enum txn_pages *pages)
{
    ldb_env *env = txn->env;
    const uint8_t *rec = txn->log.data;
    uint64_t off = cs->wal_end - rec_len;
    /* Alone (no sync in flight, no one waiting for one): the record's write
     * and its sync are submitted (io.h: a pwrite and the start of its
     * write-back, or one linked io_uring submission), this thread writes
     * the pages while the disk works, and the next txn starts building
     * once they are written.
     * With others waiting, a sync of ours would cover only this record;
     * appending and joining the next group sync covers more. */
    int rc = 0;
    if (__atomic_load_n(&env->lock.hdr->durable_waiters, __ATOMIC_ACQUIRE) == 0 &&
        ldb__lock_sync_acquire(&env->lock, 1) == 0) {
        rc = ldb__io_submit_write_sync(&env->io, env->wal_fd, rec, rec_len, off);
        if (rc < 0) {
            ldb__lock_sync_release(&env->lock); /* nothing is visible yet */
            return rc;
        }
        /* Nothing refers to the pages until the state write below, and
         * recovery replays the record, never trusting them (recovery.h). */
        rc = write_pages_noting(txn, pages);
        if (rc == 0)
            rc = ldb__lock_state_write(&env->lock, cs);
        if (rc < 0) {
            /* The txn is not committed (its caller is told so), but the
             * submitted sync may make its record durable. */
            int synced = ldb__io_wait_write_sync(&env->io); /* the submission ends */
            int taken = take_back_durable_record(env, off, crc, synced);
            ldb__lock_sync_release(&env->lock);
            ldb__lock_durable_wake(&env->lock);
            return taken < 0 ? taken : rc;
        }
        txn->committed = 1; /* the next writer builds on it */
        int released = ldb__txn_release_writer(txn);
        if (ldb__io_wait_write_sync(&env->io) < 0) {
            /* The next writer may already build on this txn: no env on this
             * database may trust the log now. */
            rc = ldb__panic(env, 1);
        } else {
            ldb__durable_raise(env, cs->snap.txnid);
            rc = publish_committed(env, &cs->snap);
        }
        ldb__lock_sync_release(&env->lock);
        ldb__lock_durable_wake(&env->lock);
        return rc < 0 ? rc : released;
    }
    /* A sync is in flight: write the pages, append, let the next txn start,
     * then wait until a sync covers this record: the one in flight, if it
     * started after the append, or one we issue ourselves for everyone who
     * appended meanwhile as soon as the sync mutex is free. */
    TRY(write_pages_noting(txn, pages));
    TRY(ldb__io_write(&env->io, env->wal_fd, rec, rec_len, off));
    rc = ldb__lock_state_write(&env->lock, cs);
    if (rc < 0) {
        /* Appended but not committed: the sync in flight, or any later
         * one, may make the record durable. */
        int taken = take_back_durable_record(env, off, crc, 0);
        return taken < 0 ? taken : rc;
    }
    txn->committed = 1;
    int released = ldb__txn_release_writer(txn);
    rc = ldb__wait_durable(env, cs->snap.txnid);
    return rc < 0 ? rc : released;
}

/* The commit time a record carries: microseconds since the epoch. */
static uint64_t wall_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A txn too large for the log: its pages are in the data file already, so
 * a checkpoint makes it durable with far fewer bytes written. Until that
 * checkpoint succeeds the txn is not committed (a failure leaves no trace). */
static int commit_as_checkpoint(ldb_txn *txn, struct ldb__commit_state *cs)
{
    return ldb__checkpoint_locked(txn->env, cs);
}

/* Finish txn's log record to follow the log's last one (cs): its length
 * and checksum out. */
static int seal_record(ldb_txn *txn, const struct ldb__commit_state *cs, size_t *rec_len,
                       uint32_t *crc)
{
    struct ldb__wal_seal seal = {
        .txnid = txn->id,
        .salt = cs->wal_salt,
        .prev_crc = cs->wal_prev_crc,
        .time_us = wall_clock_us(),
        /* What is durable now, so that a later record can prove a damaged
         * earlier one was (wal.h, W4). */
        .durable_txnid = __atomic_load_n(&txn->env->lock.hdr->durable_txnid, __ATOMIC_ACQUIRE),
    };
    return ldb__wal_buf_seal(&txn->log, &seal, rec_len, crc);
}

/* Steps 3-6 for a logged txn under LDB_SYNC_FULL. No room in the log for
 * its record (a full disk: the log's room is preallocated; under
 * LDB_SYNC_OFF, commit_sync_off, the append grows it; either fails
 * before the txn is visible): the txn commits as a checkpoint, which needs
 * no log room, so a txn that only deletes never needs a reserve in the log
 * (space.h). */
static int append_record(ldb_txn *txn, struct ldb__commit_state *cs)
{
    ldb_env *env = txn->env;
    struct ldb__commit_state before = *cs;
    uint32_t crc;
    size_t rec_len;
    enum txn_pages pages = PAGES_PENDING;
    TRY(seal_record(txn, cs, &rec_len, &crc));
    int rc = ldb__log_make_room(env, cs, cs->wal_end + rec_len);
    if (rc == 0) {
        cs->wal_end += rec_len;
        cs->wal_prev_crc = crc;
        rc = append_and_publish(txn, cs, rec_len, crc, &pages);
    }
    if (rc == -ENOSPC && pages != PAGES_FAILED) {
        /* Nothing was made visible; a partial record past the log's end is
         * a stale tail the CRC chain rejects. */
        if (pages == PAGES_PENDING)
            TRY(write_dirty_pages(txn));
        rc = commit_as_checkpoint(txn, &before);
    }
    return rc;
}

/* Steps 2-6 of commit.h under LDB_SYNC_OFF. With LDB_IO_BACKEND=io_uring
 * the two copies into the page cache overlap: the log record goes to a
 * kernel worker while this thread seals and writes the data pages (by
 * default it is a pwrite before them: io.h says why). Both are complete
 * before anything is visible, so a kill -9 after the return
 * still finds the record, and a reader of the new snapshot finds its pages
 * in the kernel. Pages that fail after the record was written: the record
 * is unwritten, as if it had never been (a failed commit leaves no trace). */
static int commit_sync_off(ldb_txn *txn, struct ldb__commit_state *cs)
{
    ldb_env *env = txn->env;
    struct ldb__commit_state before = *cs;
    uint32_t crc;
    size_t rec_len;
    TRY(seal_record(txn, cs, &rec_len, &crc));
    uint64_t off = cs->wal_end;
    int rc = ldb__log_make_room(env, cs, off + rec_len);
    if (rc == 0)
        rc = ldb__io_append_start(&env->io, env->wal_fd, txn->log.data, rec_len, off);
    int pages = write_dirty_pages(txn);
    if (rc == 0)
        rc = ldb__io_append_wait(&env->io);
    if (pages < 0) {
        if (rc == 0) /* a whole record: recovery would replay it */
            TRY(unwrite_record(env, off, crc));
        return pages;
    }
    if (rc == -ENOSPC) /* as in append_record: no room in the log */
        return commit_as_checkpoint(txn, &before);
    TRY(rc);
    cs->wal_end = off + rec_len;
    cs->wal_prev_crc = crc;
    rc = ldb__lock_state_write(&env->lock, cs);
    if (rc < 0) { /* the whole record is in the kernel: take it back */
        TRY(unwrite_record(env, off, crc));
        return rc;
    }
    txn->committed = 1;
    rc = publish_committed(env, &cs->snap);
    ldb__log_write_back(env, cs->wal_salt, cs->wal_end);
    return rc;
}

int ldb__commit(ldb_txn *txn)
{
    ldb_env *env = txn->env;
    uint64_t start = ldb__now_ns();
    if (ldb__log_failed(env))
        return LDB_PANIC;
    /* Once: a second commit would write over the first one's pages under
     * the same txn id (the shrink's rounds commit txns of their own). */
    if (txn->committed)
        return LDB_INVALID;
    TRY(save_catalog(txn));
    TRY(ldb__freelist_save(&txn->freelist, &txn->pager, &txn->snap.free_tree, txn->id));
    /* Pages past the file's end were grown for as they were taken
     * (space.h); this only catches what the allocator did not see. */
    TRY(ldb__space_grow(txn, txn->snap.npages));
    int logged = !txn->replaying && !txn->log.too_big;
    /* A logged txn under LDB_SYNC_OFF takes commit_sync_off; under
     * LDB_SYNC_FULL append_record (its pages are written while the
     * record's write and sync run, append_and_publish). */
    int overlap = logged && env->opts.sync_mode == LDB_SYNC_OFF;
    if (!logged) /* a logged txn's commit writes them beside its record */
        TRY(write_dirty_pages(txn));
    struct ldb__commit_state cs;
    TRY(ldb__lock_state_read(&env->lock, &cs));
    cs.snap = txn->snap;
    cs.snap.txnid = txn->id;
    cs.data_size = txn->file_size;
    int rc;
    if (overlap) {
        rc = commit_sync_off(txn, &cs);
    } else if (txn->replaying) {
        /* Recovery: the record is in the log already; it checkpoints last. */
        rc = ldb__lock_state_write(&env->lock, &cs);
        if (rc == 0)
            rc = ldb__lock_publish_newer(&env->lock, &cs.snap);
    } else if (!logged) {
        rc = commit_as_checkpoint(txn, &cs);
        txn->committed = rc == 0;
    } else {
        rc = append_record(txn, &cs);
    }
    if (rc == 0 && txn->freelist.held.len)
        ldb__checkpoint_note_held(env, txn->freelist.held.len);
    if (rc == 0 && !txn->internal) {
        __atomic_add_fetch(&env->commits, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&env->lock.hdr->commits, 1, __ATOMIC_RELAXED);
        ldb__hist_since(&env->commit_latency, start);
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
    else if (!ldb__txn_own_thread(txn))
        return ldb__txn_end_elsewhere(txn); /* nothing committed */
    else if (!txn->rdonly && txn->error)
        rc = txn->error;
    else if (!txn->rdonly && txn->mods != 0)
        rc = ldb__commit(txn);
    else if (!txn->rdonly && txn->env->wal_fd >= 0 && txn->env->opts.sync_mode == LDB_SYNC_FULL) {
        /* Nothing to write, but the txn may have read txns that are committed
         * and not yet durable (writers build on them before their sync):
         * "committed" must not vouch for what a crash could take back. */
        uint64_t seen = txn->snap.txnid;
        txn->committed = 1; /* its handles are kept */
        int released = ldb__txn_release_writer(txn);
        rc = ldb__wait_durable(txn->env, seen);
        if (rc == 0)
            rc = released;
    }
    if (rc == 0)
        txn->committed = 1;
    /* A writer not released yet (a failed commit, or one not waiting for a
     * sync) is released here, and its failure reported. */
    if (rc == 0 && !txn->rdonly && !txn->writer_released && ldb__env_check(txn->env) == 0)
        rc = ldb__txn_release_writer(txn);
    ldb__txn_free(txn);
    return rc;
}
