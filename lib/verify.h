/* SPDX-License-Identifier: MIT */
/*
 * verify.h: the verifier behind ldb_check(), shared by tests and the tool.
 * It walks every tree of one snapshot from the pages in the map, checking
 * checksums, page structure, key order against the separators above, depth
 * and counts against each descriptor, and that every page below the
 * high-water mark is used by exactly one tree or listed free exactly once.
 */
#ifndef LDB_VERIFY_H
#define LDB_VERIFY_H

#include <stdio.h>

#include "txn.h"

/* Verify the snapshot of read txn txn; findings go to report (may be NULL);
 * progress (may be NULL) is told the pages walked so far, of all of them. */
int ldb__check_snapshot(ldb_txn *txn, FILE *report, ldb_backup_progress_fn progress,
                        void *ctx);

#endif
