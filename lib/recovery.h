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
 * checkpoints and starts a fresh log.
 */
#ifndef LDB_RECOVERY_H
#define LDB_RECOVERY_H

#include <stdint.h>

#include "txn.h"

/* Whether the log at wal_path holds records after meta_txnid (read-only:
 * for handles that cannot recover). A missing log holds none. */
int ldb__recovery_pending(const char *wal_path, uint64_t meta_txnid, uint64_t db_id,
                          int *pending);
/* Replay the log into env (open, writable, first opener); *replayed counts
 * the txns applied. */
int ldb__recover(ldb_env *env, uint64_t meta_txnid, uint64_t *replayed);

#ifdef LDB_TEST_HOOKS
/* If set, called after each replayed txn with the count so far: tests stop
 * (or fail) a recovery part-way through with it. */
extern void (*ldb__recovery_step_hook)(uint64_t replayed);
#endif

#endif
