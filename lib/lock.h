/* SPDX-License-Identifier: MIT */
/*
 * lock.h: the lock file <path>-lock, shared memory for every process that
 * has the database open.
 *
 * It holds: the writer mutex (process-shared and robust: a writer that dies
 * hands it on), the published snapshot (what a new reader starts from), and
 * the reader table (one cache line per read txn: pid and snapshot id). It
 * is rebuilt from the data file by the first process to open it (the one
 * that gets flock(LOCK_EX)); every opener then holds flock(LOCK_SH) for as
 * long as it has the database open, so "first" means "no one else has it
 * open" and nothing in it matters after a crash.
 *
 * Readiness (invariant L): a later opener attaches only to a file marked
 * ready, and the first opener marks it so only once its recovery is
 * durable (the recovery's checkpoint and the new log generation), just
 * before it downgrades to LOCK_SH. A first opener that dies or fails
 * before then leaves the file not ready (it empties the file as soon as it
 * holds LOCK_EX), and whoever finds it so becomes the first opener and
 * recovers again: no process ever builds on half a recovery.
 *
 * Closing (invariant C): a process never touches the file's memory, the
 * log or the data file's meta after it may have lost its flock, and no one
 * lays the file out again while another process still has it mapped. So
 * the shared flock is never converted once held (on Linux a refused
 * LOCK_SH -> LOCK_EX|LOCK_NB conversion drops the shared lock). "Am I the
 * last one" is asked of a second lock, an OFD fcntl lock on byte 0 (the
 * presence lock) that every opener takes shared before its flock and holds
 * until it closes the file: a closer tries to make it exclusive, which
 * when refused leaves everything held; when granted, openers wait for the
 * presence lock until the closer has closed the file.
 *
 * Reader registration (invariant R): a reader stores its snapshot id in its
 * slot before it reads the published snapshot, then checks the published id
 * has not moved; the writer reads the slots only after publishing. So a
 * writer that reuses pages freed by txn T (T <= every registered id and <=
 * the published id) never takes a page some reader can still reach.
 *
 * Slot ownership (invariant S): a slot's owner word is (generation, pid),
 * one 64-bit atomic; pid 0 = free. Only the owner writes the slot's txnid.
 * A claim is one compare-and-swap from (g, 0) to (g + 1, pid); the owner
 * frees it by storing (g + 1, 0). A process that finds an owner dead
 * reclaims the slot by a compare-and-swap from exactly the (g, pid) it saw
 * to (g + 1, its own pid): so a checker that is late (the slot was freed and
 * claimed again meanwhile: another generation) fails and changes nothing,
 * and the one that succeeds owns the slot while it resets txnid, then frees
 * it as an owner does. No registration of a live reader is ever touched,
 * and the reader's own path (begin/end: stores to txnid) has no atomic
 * read-modify-write.
 *
 * Snapshot buffers: two, indexed by txn id parity, each under a sequence
 * lock, so a reader never uses a half-written snapshot.
 */
#ifndef LDB_LOCK_H
#define LDB_LOCK_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "format.h"
#include "mutex.h"

#define LDB_READER_IDLE UINT64_MAX

/* What a reader needs to walk one committed state. */
struct ldb__snapshot {
    uint64_t txnid;
    uint64_t npages;
    struct tree_desc main_tree, catalog_tree, free_tree;
};

struct ldb__reader_slot {
    uint64_t owner;  /* pid (low 32 bits, 0 = free) and generation (high 32
                        bits, bumped by every claim); atomic (invariant S) */
    uint64_t txnid;  /* snapshot id, or LDB_READER_IDLE; atomic; written by
                        the owner only */
    uint64_t began;  /* CLOCK_MONOTONIC_COARSE ns when the owner last began a
                        read txn (stored before txnid); atomic; owner only */
    uint8_t pad[40]; /* one cache line per slot: no false sharing */
};
_Static_assert(sizeof(struct ldb__reader_slot) == 64, "reader slot is a cache line");

struct ldb__snapshot_buffer {
    uint64_t seq; /* odd while being written */
    struct ldb__snapshot snap;
};

/* The newest committed state, which the next writer builds on (readers see
 * the published snapshot, which lags it until the commit is durable), and
 * where the log continues. Guarded by state_mutex; double-buffered so a
 * process dying mid-update leaves the previous state whole. */
struct ldb__commit_state {
    struct ldb__snapshot snap;
    uint64_t wal_end;      /* offset of the next log record */
    uint32_t wal_prev_crc; /* the checksum the next record chains from */
    uint32_t reserved;
    uint64_t wal_salt;     /* this log generation's salt */
    uint64_t wal_size;     /* the log's room: under LDB_SYNC_FULL zero-filled
                              up to here; the next zero-fill starts here, so
                              it is never below wal_end */
    /* Bytes allocated to the data file: at most its real size (only
     * writers grow it, under the writer mutex). Kept here so that a txn
     * needs no fstat: querying a file's times makes the kernel (Linux >=
     * 6.13, multigrain timestamps) stamp every following write finely, and
     * then each log fdatasync writes the log's inode too. */
    uint64_t data_size;
};

struct ldb__lock_header {
    uint64_t magic;
    uint32_t version;
    uint32_t max_readers;
    uint32_t page_size;
    uint32_t ready;           /* atomic: 1 once the first opener's recovery
                                 is durable (see ldb__lock_open) */
    uint64_t published_txnid; /* atomic */
    uint64_t commits;         /* atomic: commits by every process */
    pthread_mutex_t writer_mutex;
    pthread_mutex_t sync_mutex;  /* held by the one process syncing the log */
    pthread_mutex_t state_mutex; /* guards state[] and state_idx */
    uint64_t durable_txnid;      /* atomic: every txn <= this is durable */
    uint32_t durable_seq;        /* atomic futex word: bumped when it rises */
    uint32_t durable_waiters;    /* atomic: committers waiting for a sync */
    uint64_t checkpoint_txnid;   /* atomic: the data file's meta is this txn */
    uint64_t checkpoints;        /* atomic */
    uint32_t log_failed;         /* atomic: a log write or sync failed after
                                    its txn was visible: every env panics */
    uint32_t reserved2;
    uint32_t meta_slot;          /* which meta page holds the checkpoint */
    uint32_t state_idx;
    struct ldb__commit_state state[2];
    uint8_t pad[64];
    struct ldb__snapshot_buffer snaps[2];
};

struct ldb__lock {
    struct ldb__lock_header *hdr;
    struct ldb__reader_slot *slots;
    size_t map_len;
    int fd;        /* -1 for a private (immutable) lock */
    pid_t pid;
    int mark_found; /* a creation mark was in the file (ldb__lock_open) */
    uint64_t mark_dev, mark_ino;
    struct ldb__mutex_home home; /* the lock file: its mutexes' holders have it open */
};

/* Open or create the lock file and take flock(LOCK_EX) if no one else has
 * it open (*first = 1; the file is emptied at once) or LOCK_SH otherwise
 * (*first = 0), once the file is ready: one that is not was left by a first
 * opener that died or failed before its recovery ended, and then this
 * opener competes to become the first itself (invariant L). It is a side
 * file that others may plant (ldb__os_open_side: no symbolic link, a
 * regular file owned by owner). */
int ldb__lock_open(struct ldb__lock *lk, const char *lock_path, unsigned mode, unsigned owner,
                   int *first);
/* The first opener (flock(LOCK_EX), before ldb__lock_init) is about to
 * create the database in the data file (dev, ino): say so durably in the
 * lock file, which ldb__lock_init later overwrites. A creation that dies
 * leaves the mark; the next first opener's ldb__lock_open notes it before
 * it empties the file, and ldb__lock_was_creating then says (1) whether it
 * names this data file: the half-written file is that opener's to create. */
int ldb__lock_mark_creating(struct ldb__lock *lk, uint64_t dev, uint64_t ino);
int ldb__lock_was_creating(struct ldb__lock *lk, uint64_t dev, uint64_t ino);
/* As the first opener: lay out a fresh header from the data file's newest
 * meta (and the log's state), not yet ready. */
int ldb__lock_init(struct ldb__lock *lk, unsigned max_readers, uint32_t page_size,
                   const struct ldb__commit_state *cs, unsigned meta_slot);
/* Whether this process is now the only one with the database open (tries
 * to make its presence lock exclusive, never converting its flock;
 * invariant C). When it is, no other process opens the database until this
 * one closes the lock file; when not, everything stays held. */
int ldb__lock_alone(struct ldb__lock *lk);
#ifdef LDB_TEST_HOOKS
/* Called by ldb__lock_alone when another process still has the database
 * open, before it returns: a test widens the closer's window there. */
extern void (*ldb__lock_test_not_alone)(struct ldb__lock *lk);
#endif
/* As the first opener, once recovery's checkpoint and the new log
 * generation are durable: mark the file ready and downgrade to LOCK_SH. */
int ldb__lock_ready(struct ldb__lock *lk);
/* As a later opener: map and check what the first opener laid out. */
int ldb__lock_attach(struct ldb__lock *lk, uint32_t page_size);
/* A lock in private memory for LDB_IMMUTABLE (no file, no other process). */
int ldb__lock_open_private(struct ldb__lock *lk, unsigned max_readers,
                           const struct ldb__commit_state *cs, unsigned meta_slot);
void ldb__lock_close(struct ldb__lock *lk);

/* Writer mutex. *owner_died is set when the previous holder died. */
int ldb__lock_writer(struct ldb__lock *lk, int nowait, int *owner_died);
/* Only the thread that took the writer mutex can release it (it is an
 * error-checking mutex): an error here means the writer stays held. */
int ldb__lock_writer_release(struct ldb__lock *lk);
/* The calling thread's kernel id, and whether the thread with that id (in
 * this process) has exited: the kernel has then handed on any robust mutex
 * it held, the writer's included. */
pid_t ldb__lock_thread_id(void);
int ldb__lock_thread_gone(pid_t tid);
/* The log-sync mutex and the commit-state mutex (robust, like the writer's;
 * lock order: writer, then sync, then state). */
int ldb__lock_sync_acquire(struct ldb__lock *lk, int nowait);
void ldb__lock_sync_release(struct ldb__lock *lk);
/* Copy or replace the commit state (takes state_mutex). */
__attribute__((warn_unused_result))
int ldb__lock_state_read(struct ldb__lock *lk, struct ldb__commit_state *out);
__attribute__((warn_unused_result))
int ldb__lock_state_write(struct ldb__lock *lk, const struct ldb__commit_state *in);
/* Committers waiting for the log to become durable past their txn sleep
 * on durable_seq (a process-shared futex) rather than queueing on the sync
 * mutex, so one sync releases all of them at once. */
void ldb__lock_durable_wait(struct ldb__lock *lk, uint32_t seen, int timeout_us);
void ldb__lock_durable_wake(struct ldb__lock *lk);
/* Publish snap if it is newer than what readers see (takes state_mutex). */
__attribute__((warn_unused_result))
int ldb__lock_publish_newer(struct ldb__lock *lk, const struct ldb__snapshot *snap);

/* The coarse clock (a few ms resolution, no hardware counter read): a
 * reader's age is for operators, and this is on every read txn's path. */
static inline uint64_t ldb__lock_coarse_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Reader slots. */
int ldb__lock_reader_claim(struct ldb__lock *lk, unsigned *slot);
void ldb__lock_reader_release(struct ldb__lock *lk, unsigned slot);
/* Register in slot and copy the newest published snapshot (invariant R).
 * LDB_CORRUPTED (slot left idle) if the lock file's published id and
 * snapshot buffers disagree even with no publisher running: bounded, never
 * a spin forever on a damaged lock file. */
int ldb__lock_reader_begin(struct ldb__lock *lk, unsigned slot, struct ldb__snapshot *snap);
/* Register in slot on snapshot id again if id is still the published one
 * (invariant R, as reader_begin): 1 if so, and the caller's copy of that
 * snapshot is current (a published id names one snapshot, never changed);
 * 0, unregistered, if a newer one was published. Renews of a read txn on
 * a quiet database so touch the published id and the slot, no more. */
/* Inline, as ldb__lock_reader_end: a service renews and resets a read txn
 * around every get, and the two calls were ~15 of a pair's ~120
 * instructions. The sequentially consistent store and the load after it
 * are the one full barrier of a renew (x86: the xchg, ~40% of a pair's
 * time): without it the load of the published id could be answered before
 * the slot's store is visible to a writer that publishes and then reads
 * the slots, and that writer could reuse pages this snapshot reaches
 * (invariant R). The release store of reader_end needs none: a late
 * unregistration only holds pages back a little longer. */
static inline int ldb__lock_reader_rejoin(struct ldb__lock *lk, unsigned slot, uint64_t id)
{
    const uint64_t *published = &lk->hdr->published_txnid;
    struct ldb__reader_slot *s = &lk->slots[slot];
    if (__atomic_load_n(published, __ATOMIC_SEQ_CST) != id)
        return 0;
    __atomic_store_n(&s->began, ldb__lock_coarse_now_ns(), __ATOMIC_RELAXED);
    __atomic_store_n(&s->txnid, id, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(published, __ATOMIC_SEQ_CST) == id)
        return 1;
    /* A commit slipped in: leave the slot as reader_begin expects to find
     * it, never registered on a snapshot the caller will not use. */
    __atomic_store_n(&s->txnid, LDB_READER_IDLE, __ATOMIC_RELEASE);
    return 0;
}
static inline void ldb__lock_reader_end(struct ldb__lock *lk, unsigned slot)
{
    __atomic_store_n(&lk->slots[slot].txnid, LDB_READER_IDLE, __ATOMIC_RELEASE);
}
/* Copy the newest published snapshot without registering (the writer). */
int ldb__lock_read_published(struct ldb__lock *lk, struct ldb__snapshot *snap);
void ldb__lock_publish(struct ldb__lock *lk, const struct ldb__snapshot *snap);
/* The oldest snapshot any reader may be on: min of the registered ids and
 * the published one. Call after publishing (invariant R). */
uint64_t ldb__lock_oldest_snapshot(struct ldb__lock *lk);
/* Free slots of dead processes (invariant S); how many. */
int ldb__lock_reader_check(struct ldb__lock *lk, int *cleared);
/* Call fn(ctx, pid, txnid, alive) for every claimed slot (txnid
 * LDB_READER_IDLE: no snapshot; alive 0: the process is gone) until it
 * returns nonzero; returns that or 0. Reads only. */
int ldb__lock_reader_visit(struct ldb__lock *lk, int (*fn)(void *, uint32_t, uint64_t, int),
                           void *ctx);
/* Readers now registered and the oldest registered id (0 if none). */
void ldb__lock_reader_stats(struct ldb__lock *lk, uint32_t *used, uint64_t *oldest);
/* How long the longest-open read txn (all processes) has been open, in ns;
 * 0 without readers. */
uint64_t ldb__lock_reader_longest_ns(struct ldb__lock *lk);

#ifdef LDB_TEST_HOOKS
/* Called by ldb__lock_reader_check between finding a slot's owner dead and
 * reclaiming the slot, so tests can widen that window; NULL for none. */
void ldb__lock_set_reclaim_hook(void (*hook)(unsigned slot));
/* How many rounds an opener waits for a lock file that some process holds
 * open but that is not ready, before LDB_CORRUPTED (fuzzing: fewer). */
void ldb__lock_set_not_ready_rounds(unsigned rounds);
#endif

#endif
