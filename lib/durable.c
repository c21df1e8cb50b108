/* SPDX-License-Identifier: MIT */
/*
 * durable.c: see durable.h (and wal.h for the log's invariants).
 */
#include "durable.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "archive.h"
#include "error.h"
#include "meta.h"
#include "os.h"
#include "wal.h"

int ldb__panic(ldb_env *env, int shared)
{
    __atomic_store_n(&env->panic, 1, __ATOMIC_RELEASE);
    if (shared)
        __atomic_store_n(&env->lock.hdr->log_failed, 1, __ATOMIC_RELEASE);
    return LDB_PANIC;
}

int ldb__log_failed(ldb_env *env)
{
    return __atomic_load_n(&env->panic, __ATOMIC_ACQUIRE) ||
           __atomic_load_n(&env->lock.hdr->log_failed, __ATOMIC_ACQUIRE);
}

void ldb__durable_raise(ldb_env *env, uint64_t txnid)
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
int ldb__log_make_room(ldb_env *env, struct ldb__commit_state *cs, uint64_t need_end)
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
        return ldb__panic(env, 1);
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
    TRY(ldb__log_make_room(env, &next, WAL_HEADER_SIZE + (1u << 20)));
    uint8_t header[WAL_HEADER_SIZE];
    ldb__wal_header_encode(header, salt, checkpoint, env->db_id);
    TRY(ldb__os_pwrite_full(env->wal_fd, header, sizeof header, 0));
    next.wal_end = WAL_HEADER_SIZE;
    next.wal_salt = salt;
    next.wal_prev_crc = ldb__wal_first_crc(salt);
    *cs = next;
    return 0;
}

/* Record the result of archiving a generation (archive.h): a failure
 * leaves the log as it is (A2) and is tried again by ldb_checkpoint, or by
 * a due checkpoint once the log has grown by another wal_max_bytes. */
static int archive_result(ldb_env *env, int rc, uint64_t end)
{
    env->archive_rc = rc;
    if (rc < 0) {
        __atomic_add_fetch(&env->archive_failures, 1, __ATOMIC_RELAXED);
        env->archive_retry_end = end + env->opts.wal_max_bytes;
    } else {
        env->archive_retry_end = 0;
    }
    return rc;
}

static int archive_copy(ldb_env *env, uint64_t first, uint64_t last, uint64_t end)
{
    TRY(ldb__archive_copy(env->archive_fd, env->wal_fd, env->db_id, first, last, end,
                          env->opts.file_mode));
    __atomic_add_fetch(&env->archive_segments, 1, __ATOMIC_RELAXED);
    return 0;
}

/* Before a checkpoint recycles the generation: its records (txns after its
 * header's checkpoint, up to last, in bytes [0, end)) into the archive. */
static int archive_generation(ldb_env *env, uint64_t last, uint64_t end)
{
    if (env->archive_fd < 0)
        return 0;
    uint8_t h[WAL_HEADER_SIZE];
    unsigned version;
    uint64_t salt, checkpoint, db_id;
    int rc = ldb__os_pread_full(env->wal_fd, h, sizeof h, 0);
    if (rc == 0)
        rc = ldb__wal_header_decode(h, &version, &salt, &checkpoint, &db_id);
    if (rc == 0 && checkpoint < last)
        rc = archive_copy(env, checkpoint + 1, last, end);
    return archive_result(env, rc, end);
}

/* Before ldb__log_start recycles the log found at open: whatever records
 * it holds that the data file has (recovery replayed them, or a crash came
 * between a checkpoint and its reset), up to txn upto. */
static int archive_found_log(ldb_env *env, uint64_t upto)
{
    if (env->archive_fd < 0)
        return 0;
    uint64_t first, last, end;
    int rc = ldb__archive_scan(env->wal_fd, env->db_id, upto, &first, &last, &end);
    if (rc == 0 && first <= last)
        rc = archive_copy(env, first, last, end);
    return archive_result(env, rc, end);
}

/* The checkpoint proper (the writer and sync mutexes held): make cs's
 * snapshot the data file's meta page. */
static int write_checkpoint(ldb_env *env, const struct ldb__commit_state *cs)
{
    struct ldb__lock_header *h = env->lock.hdr;
    /* fsync, not fdatasync: the file may have grown since the last one. */
    if (ldb__os_fsync(env->fd) < 0)
        return ldb__panic(env, 0);
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
        return ldb__panic(env, 0);
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

int ldb__checkpoint_locked(ldb_env *env, const struct ldb__commit_state *pending)
{
    if (ldb__log_failed(env))
        return LDB_PANIC;
    TRY(ldb__lock_sync_acquire(&env->lock, 0));
    struct ldb__commit_state cs;
    int rc = 0;
    if (pending)
        cs = *pending;
    else
        CHECK_GOTO(rc, ldb__lock_state_read(&env->lock, &cs), out);
    uint64_t c = cs.snap.txnid, start = ldb__now_ns();
    if (c != __atomic_load_n(&env->lock.hdr->checkpoint_txnid, __ATOMIC_ACQUIRE)) {
        CHECK_GOTO(rc, write_checkpoint(env, &cs), out);
        ldb__hist_since(&env->checkpoint_duration, start);
        if (pending)
            CHECK_GOTO(rc, ldb__lock_state_write(&env->lock, &cs), out);
        ldb__durable_raise(env, c);
        CHECK_GOTO(rc, ldb__lock_publish_newer(&env->lock, &cs.snap), out);
    }
    /* A fresh log generation; its header reaches the disk with the first
     * record's sync (until then the old header's records are all <= c and
     * are skipped). If there is no room for it, the old generation goes on:
     * recovery skips its records up to the checkpoint. */
    /* A txn committed as a checkpoint (pending) has no record in the log;
     * with an archive, only one past WAL_RECORD_MAX does that. */
    if (cs.wal_end > WAL_HEADER_SIZE &&
        archive_generation(env, pending ? c - 1 : c, cs.wal_end) == 0 &&
        log_reset(env, &cs, ldb__new_salt(), c) == 0)
        rc = ldb__lock_state_write(&env->lock, &cs);
out:
    ldb__lock_sync_release(&env->lock);
    ldb__lock_durable_wake(&env->lock);
    return rc;
}

int ldb__log_start(ldb_env *env)
{
    TRY(ldb__lock_sync_acquire(&env->lock, 0));
    struct ldb__commit_state cs;
    int rc = ldb__lock_state_read(&env->lock, &cs);
    if (rc == 0)
        rc = archive_found_log(env, cs.snap.txnid);
    if (rc == 0)
        rc = log_reset(env, &cs, ldb__new_salt(), cs.snap.txnid);
    if (rc == 0 && ldb__os_fsync(env->wal_fd) < 0)
        rc = ldb__panic(env, 1);
    if (rc == 0)
        rc = ldb__lock_state_write(&env->lock, &cs);
    ldb__lock_sync_release(&env->lock);
    return rc;
}

/* Is a checkpoint due with the log's end at wal_end? Past wal_max_bytes,
 * except under LDB_SYNC_OFF: there the checkpoint waits while the log stays
 * under SYNC_OFF_LOG_DEFER times that and the pages held for the next
 * checkpoint (the file growth it would give back) stay under a sixteenth
 * of wal_max_bytes. A bulk load into new pages (ascending keys, a fill of
 * an empty database) then pays one sync at its end instead of one data
 * file fsync per wal_max_bytes of log: 4 fewer in 256 MiB of 1 KiB values,
 * 0.3-0.5 s of a 1.3 s load (docs/benchmarks.md). Its cost: a longer log
 * for a crash to replay. Under LDB_SYNC_FULL the log is synced per commit
 * anyway and its room is preallocated, and with a log archive each
 * checkpoint closes a segment (operations.md promises one per
 * wal_max_bytes): both keep the plain limit. held counts only this
 * process's commits: another writer's held pages can delay a checkpoint
 * to 8x at most. Nothing about durability depends on when a checkpoint
 * happens (design.md). */
#define SYNC_OFF_LOG_DEFER 8
static int log_due(ldb_env *env, uint64_t wal_end)
{
    uint64_t max = env->opts.wal_max_bytes;
    if (wal_end <= max)
        return 0;
    if (env->opts.sync_mode == LDB_SYNC_FULL || env->archive_fd >= 0 ||
        wal_end / SYNC_OFF_LOG_DEFER > max)
        return 1;
    uint64_t cp = __atomic_load_n(&env->lock.hdr->checkpoint_txnid, __ATOMIC_ACQUIRE);
    uint64_t held = cp == env->held_since ? env->held_pages : 0;
    return held * env->page_size > max / 16;
}

int ldb__checkpoint_if_due(ldb_env *env)
{
    /* Never while recovering: a checkpoint or a new log generation now would
     * overwrite the log that recovery is still reading (and would need if it
     * crashed before finishing). */
    if (env->wal_fd < 0 || env->recovering)
        return 0;
    struct ldb__commit_state cs;
    TRY(ldb__lock_state_read(&env->lock, &cs));
    if (cs.wal_end < WAL_HEADER_SIZE) {
        /* The first opener was read-only and started no log generation:
         * start one (the data file's meta is the newest txn: nothing has
         * been committed since). */
        return ldb__log_start(env);
    }
    /* Due when the log is long (log_due: later under LDB_SYNC_OFF while few
     * freed pages wait). Never earlier because many freed pages wait for a
     * checkpoint (W3): those are pages of the last checkpoint's tree, so
     * they never exceed one copy of it, and checkpointing early to reuse
     * them costs a random bulk load most of its time in write-back (1,000
     * txns of 1,000 random puts into 1M keys, checkpointing whenever they
     * passed a quarter of the file: 30 checkpoints, 1.9 GB written, 66K
     * puts/s, file 275 MB; by log size only: 0.5 GB, 115K puts/s, 393 MB).
     * A smaller wal_max_bytes, or ldb_checkpoint(), keeps the file smaller. */
    if (!log_due(env, cs.wal_end) || cs.wal_end < env->archive_retry_end)
        return 0;
    return ldb__checkpoint_locked(env, NULL);
}

void ldb__checkpoint_note_held(ldb_env *env, uint64_t pages)
{
    uint64_t cp = __atomic_load_n(&env->lock.hdr->checkpoint_txnid, __ATOMIC_ACQUIRE);
    if (cp != env->held_since) { /* a checkpoint (any process's) freed them */
        env->held_since = cp;
        env->held_pages = 0;
    }
    env->held_pages += pages;
}

/* 4 MiB: chosen by measurement (docs/benchmarks.md, "The log handed to the
 * disk as it grows"). */
#define LOG_WRITEBACK_BYTES (4u << 20)

#ifdef LDB_TEST_HOOKS
void (*ldb__log_write_back_hook)(uint64_t off, uint64_t len);
#endif

void ldb__log_write_back(ldb_env *env, uint64_t salt, uint64_t log_end)
{
    if (salt != env->log_written_back_salt || log_end < env->log_written_back) {
        /* A new generation: it writes the log from its start. */
        env->log_written_back_salt = salt;
        env->log_written_back = 0;
    }
    uint64_t from = env->log_written_back;
    if (log_end - from < LOG_WRITEBACK_BYTES)
        return;
    if (ldb__io_start_writeback(&env->io, env->wal_fd, env->wal_sync_fd, from, log_end - from) != 0)
        return; /* the last one still runs: this range joins the next */
#ifdef LDB_TEST_HOOKS
    if (ldb__log_write_back_hook != NULL)
        ldb__log_write_back_hook(from, log_end - from);
#endif
    env->log_written_back = log_end;
}

/* Sync the log for every record appended so far (the sync mutex held). */
static int sync_all_appended(ldb_env *env)
{
    struct ldb__commit_state now;
    TRY(ldb__lock_state_read(&env->lock, &now));
    if (ldb__log_failed(env) || ldb__io_datasync(&env->io, env->wal_fd) < 0)
        return ldb__panic(env, 1);
    ldb__durable_raise(env, now.snap.txnid);
    return ldb__lock_publish_newer(&env->lock, &now.snap);
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
    if (ldb__log_failed(env))
        return LDB_PANIC;
    TRY(ldb__lock_sync_acquire(&env->lock, 0));
    struct ldb__commit_state cs;
    int rc = ldb__lock_state_read(&env->lock, &cs);
    if (rc < 0) {
        ldb__lock_sync_release(&env->lock);
        return rc;
    }
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
        if (ldb__log_failed(env))
            return LDB_PANIC;
        int rc = ldb__lock_sync_acquire(&env->lock, 1);
        if (rc == 0)
            return sync_through(env, txnid);
        if (rc != LDB_BUSY)
            return ldb__panic(env, 1);
        ldb__lock_durable_wait(&env->lock, seen, 2000);
    }
}

int ldb__wait_durable(ldb_env *env, uint64_t txnid)
{
    struct ldb__lock_header *h = env->lock.hdr;
    __atomic_add_fetch(&h->durable_waiters, 1, __ATOMIC_SEQ_CST);
    int rc = wait_durable_loop(env, txnid);
    __atomic_sub_fetch(&h->durable_waiters, 1, __ATOMIC_ACQ_REL);
    return rc;
}
