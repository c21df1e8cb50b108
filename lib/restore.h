/* SPDX-License-Identifier: MIT */
/*
 * restore.h: test hooks of restore.c (ldb_restore, ldb_restore_follow),
 * which has no internal callers: its interface is the public header.
 */
#ifndef LDB_RESTORE_H
#define LDB_RESTORE_H

#ifdef LDB_TEST_HOOKS
/* The steps of building a restored database, in order; a test kills the
 * process at one of them: nothing may be half-built at dest. */
enum ldb__restore_step {
    LDB_RESTORE_COPIED = 1, /* the backup copied to the temporary */
    LDB_RESTORE_BUILT,      /* replayed, checked, closed; not renamed */
    LDB_RESTORE_RENAMED     /* at dest, its directory not synced */
};
/* If set, called at each step. */
extern void (*ldb__restore_step_hook)(enum ldb__restore_step step);
#endif

#endif
