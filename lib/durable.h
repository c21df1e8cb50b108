/* SPDX-License-Identifier: MIT */
/*
 * durable.h: making committed txns durable, at the env level: the log's
 * room, its syncs shared by every committer (group commit), checkpoints
 * and log generations. commit.h builds the commit of one txn on these.
 *
 * Group commit: a committer whose record is appended waits until a sync
 * that began after the append has finished. The first waiter to find the
 * sync mutex free syncs the log for every record appended so far, by any
 * thread or process; the others sleep on a futex in the lock file and wake
 * when it completes.
 *
 * A checkpoint (log past wal_max_bytes, ldb_checkpoint, close): fsync the
 * data file, write the meta page for the newest committed txn into the slot
 * that does not hold the current checkpoint, fdatasync, then start the log
 * afresh under a new salt.
 *
 * A failed fsync or fdatasync is never retried: the env panics (and so does
 * every env on the database if the log itself failed after a txn was made
 * visible to the next writer).
 *
 * Locks, always taken in this order: the writer mutex, the sync mutex, the
 * state mutex (all robust and process-shared, in the lock file).
 */
#ifndef LDB_DURABLE_H
#define LDB_DURABLE_H

#include <stdint.h>

#include "handle.h"

/* Mark the env failed (shared: every env on the database, through the lock
 * file); returns LDB_PANIC. */
int ldb__panic(ldb_env *env, int shared);
/* Nonzero if this env, or the log of any env on the database, failed. */
int ldb__log_failed(ldb_env *env);
/* Record that every txn up to txnid is durable. */
void ldb__durable_raise(ldb_env *env, uint64_t txnid);
/* A new random salt for a log generation. */
uint64_t ldb__new_salt(void);
/* Make the log file hold need_end bytes (cs->wal_size grows; a full disk
 * fails here). */
int ldb__log_make_room(ldb_env *env, struct ldb__commit_state *cs, uint64_t need_end);
/* Wait until txn txnid, appended, is durable, syncing the log ourselves
 * when no one else is (a failure is a panic). */
int ldb__wait_durable(ldb_env *env, uint64_t txnid);
/* Make every committed txn durable and visible (ldb_sync). */
int ldb__log_sync(ldb_env *env);
/* Checkpoint the committed state, or with pending != NULL a txn that is
 * not committed yet (its pages are written): it becomes committed only if
 * its checkpoint succeeds. The caller holds the writer mutex. */
int ldb__checkpoint_locked(ldb_env *env, const struct ldb__commit_state *pending);
/* Checkpoint if the log has passed its limit (under LDB_SYNC_OFF a later
 * one while few pages wait for it); the caller holds the writer mutex. */
int ldb__checkpoint_if_due(ldb_env *env);
/* A commit freed pages pages of the checkpointed trees (they wait for the
 * next checkpoint); the caller holds the writer mutex. */
void ldb__checkpoint_note_held(ldb_env *env, uint64_t pages);
/* Under LDB_SYNC_OFF, once the log appended by this env's commits since
 * the last call passes LOG_WRITEBACK_BYTES, start writing it to the disk
 * (no wait), so that the sync that makes it durable (ldb_sync, a
 * checkpoint, the kernel's own write-back) finds it mostly written. The
 * caller holds the writer mutex and has appended up to log_end in the
 * generation of salt. */
void ldb__log_write_back(ldb_env *env, uint64_t salt, uint64_t log_end);
#ifdef LDB_TEST_HOOKS
/* Called with each range ldb__log_write_back hands to the disk. */
extern void (*ldb__log_write_back_hook)(uint64_t off, uint64_t len);
#endif
/* Start a new log generation after the newest committed txn, its header
 * synced (the caller holds the writer mutex; a failed sync panics). */
int ldb__log_start(ldb_env *env);

#endif
