/* SPDX-License-Identifier: MIT */
/*
 * recovery.h: bringing the data file up to date from the log at open.
 *
 * The first process to open a database (it holds the lock file's exclusive
 * flock, so no one else has it open) reads the newest valid meta page, then
 * replays every log record after it, in order, each as a write txn whose
 * ops are the record's (pages go to free page numbers, so the checkpointed
 * trees stay intact: a crash during recovery just recovers again), stopping
 * at the first record that is torn, stale or out of sequence; then it
 * checkpoints and starts a fresh log. Where it stops, the rest of the log
 * is searched for proof that a txn it needs was durable (wal.h, W4): then
 * the damage is not a torn tail, and recovery refuses before it writes.
 */
#ifndef LDB_RECOVERY_H
#define LDB_RECOVERY_H

#include <stdint.h>

#include "txn.h"

/* What recovery would make of a log: the records it would replay and
 * where it would stop. */
struct ldb__recovery_survey {
    uint64_t records;    /* records it would replay */
    uint64_t last_txnid; /* the txn it would reach (meta_txnid if none) */
    uint64_t keep_end;   /* the log's bytes [0, keep_end) hold them (0: none) */
    uint64_t stop_at;    /* where it stops: damage, a gap or the end */
    uint64_t proof_at;   /* 0, or where a later record proves that the txn
                            after last_txnid was durable: the log is damaged */
};
/* Survey the log open at fd without changing anything. */
int ldb__recovery_survey(int fd, uint64_t meta_txnid, uint64_t db_id,
                         struct ldb__recovery_survey *s);
/* Whether the log at wal_path holds records after meta_txnid (read-only:
 * for handles that cannot recover, and for the first opener before it
 * writes anything). A missing log holds none. LDB_CORRUPTED if damage
 * hides a durable txn. The log is a side file, opened as ldb__os_open_side
 * checks it (owner: the data file's). */
int ldb__recovery_pending(const char *wal_path, unsigned owner, uint64_t meta_txnid,
                          uint64_t db_id, int *pending);
/* Replay the log into env (open, writable, first opener); *replayed counts
 * the txns applied. LDB_CORRUPTED, with nothing applied, if damage hides a
 * durable txn. */
int ldb__recover(ldb_env *env, uint64_t meta_txnid, uint64_t *replayed);

/* Point-in-time restore (restore.c): apply one archived log segment, open
 * at fd, to env (open, writable, env->recovering set so that no checkpoint
 * recycles anything meanwhile), from the txn after env's newest on, with
 * the same replay as recovery, until the segment ends or the next record
 * is past the target. */
struct ldb__replay_stop {
    uint64_t to_txn;     /* apply no txn after it */
    uint64_t to_time_us; /* 0, or apply no record committed after it */
};
struct ldb__replay_result {
    uint64_t applied;      /* records applied */
    uint64_t last_txnid;   /* env's newest txn afterwards */
    uint64_t last_time_us; /* the commit time of the last record applied */
    int stopped;           /* a record past the target was found */
    uint64_t end;          /* where the records stopped passing checks, if not stopped */
    unsigned version;      /* of the segment's log format */
};
/* LDB_VERSION: a time target and a version-1 segment (no commit times). */
int ldb__recovery_replay_segment(ldb_env *env, int fd, uint64_t db_id,
                                 const struct ldb__replay_stop *stop,
                                 struct ldb__replay_result *res);

#ifdef LDB_TEST_HOOKS
/* If set, called after each replayed txn with the count so far: tests stop
 * (or fail) a recovery part-way through with it. */
extern void (*ldb__recovery_step_hook)(uint64_t replayed);
#endif

#endif
