/* SPDX-License-Identifier: MIT */
/*
 * backup.h: consistent copies of a live database (ldb_backup, ldb_backup_fd,
 * ldb_backup_ex in the public header). Layered above txn: a copy is one
 * read snapshot written out, so writers go on and the writer mutex is
 * never taken.
 *
 * Both kinds of copy are written strictly in file order with no seeking, so
 * one code path feeds a file, a pipe or a socket, and the bytes are the same
 * whichever it is:
 *  - plain: two meta pages describing the snapshot, then its pages 2..n-1
 *    at their own numbers; pages free in the snapshot go out as zeros (a
 *    writer may be reusing them meanwhile, and deleted data stays out of
 *    the copy);
 *  - compact (LDB_BACKUP_COMPACT): every tree rebuilt bottom-up from its
 *    entries in key order, pages filled full, numbered in the order they are
 *    written (overflow runs before the leaf naming them, children before
 *    their parent, the root of each tree last), no free tree. The meta page
 *    comes first in the file but depends on the whole layout, so a dry pass
 *    computes the layout (sizes only: no copying, no checksums), then the
 *    real pass writes it and must arrive at the same figures.
 *
 * The meta page of a copy (both slots, identical) says: the snapshot's txn
 * id, its trees (the compact copy's new roots), the database id of the
 * original. The data file's own meta pages may be older than the snapshot
 * (commits since the last checkpoint live in the log); the copy's pages and
 * meta describe the snapshot itself, so it needs no log.
 */
#ifndef LDB_BACKUP_H
#define LDB_BACKUP_H

#include "txn.h"

/* ldb_backup(env, path) writes "<path>" LDB_BACKUP_TMP_SUFFIX first. */
#define LDB_BACKUP_TMP_SUFFIX ".ldb-backup-tmp"

/* Write the copy of read txn's snapshot to fd, from its position on. */
int ldb__backup_stream(ldb_txn *txn, int fd, unsigned flags, ldb_backup_progress_fn progress,
                       void *ctx);

#endif
