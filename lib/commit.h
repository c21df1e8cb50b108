/* SPDX-License-Identifier: MIT */
/*
 * commit.h: making a write txn durable and visible.
 *
 * Commit of txn T (the writer mutex held on entry):
 *  1. write the changed trees' descriptors to the catalog and the freed pages
 *     to the free tree; grow the data file if needed;
 *  2. checksum and pwrite T's dirty pages into free page numbers of the data
 *     file (no sync: the log makes T durable, recovery replays T's record
 *     rather than trust them, and no snapshot references them yet);
 *  3. make room in the log file (a full disk fails T here, before anything
 *     is visible: T commits as a checkpoint instead), seal T's record and
 *     append it at the log's end: if no sync is in flight (the sync mutex is
 *     free) BEFORE step 2, its write-back started at once (io.h; with
 *     LDB_IO_BACKEND=io_uring, one submission of the write linked to an
 *     fdatasync), so the pages are written while the disk writes the record
 *     (a page failing then takes the record back, durably: its checksum
 *     overwritten and the log synced); otherwise after step 2, with a plain
 *     write;
 *  4. record T as the newest committed state and release the writer mutex,
 *     so the next txn can start building on T;
 *  5. wait until the log is durable past T: the submission of step 3, or as
 *     the one holding the sync mutex, one fdatasync covering every record
 *     appended so far by any thread or process (group commit);
 *  6. publish the newest durable state to readers.
 * LDB_SYNC_OFF skips the sync and publishes at once, and runs steps 2 and
 * 3 side by side: the record is sealed first and its write handed to a
 * kernel worker (io.h, ldb__io_append_start) while this thread checksums and
 * writes the pages; both writes are complete (in the kernel) before step 4,
 * and a page write that fails after the record was written takes the
 * record back (its checksum overwritten), so a failed commit still leaves
 * no trace. A txn whose record would be too large for the log commits as a
 * checkpoint instead.
 *
 * Checkpoints, the shared syncs and failure semantics: durable.h.
 */
#ifndef LDB_COMMIT_H
#define LDB_COMMIT_H

#include "txn.h"

/* Commit txn (a write txn with changes). */
int ldb__commit(ldb_txn *txn);

#endif
