/* SPDX-License-Identifier: MIT */
/*
 * space.h: the data file's room: its growth, the reserve that lets a txn
 * which only deletes commit on a full disk, the shrink at checkpoints, and
 * the figures of what is free and why (ldb_stat_space).
 *
 * The reserve (invariant S1): every txn that adds data (a put, a tree
 * creation) may take a page past the high-water mark only if the file then
 * still holds ldb__space_reserve() allocated pages past it (growing the file
 * to keep them, in chunks; a full disk fails that txn with -ENOSPC, a full
 * max_size with LDB_FULL, though the page itself would have fit). Txns that
 * only delete (and recovery's replay of committed txns) may use those pages.
 * Before either kind fails for room, pages of the checkpointed trees that
 * wait for the next checkpoint are freed by one (ldb__space_unlock_held).
 * The log needs no reserve: a txn whose record finds no room in the log
 * commits as a checkpoint instead (commit.c), which writes nothing new to
 * either file but the pages it already wrote and a meta page in place.
 *
 * The shrink (invariant S2): after a checkpoint, free pages that run up to
 * the high-water mark and that no reader can reach (freed at or before the
 * oldest reader's snapshot; pages of the checkpointed trees only once the
 * new checkpoint is durable) are cut: one internal txn takes them out of
 * the free tree, lowers the high-water mark and commits as a checkpoint;
 * only once that meta page is synced is the file truncated, to the new mark
 * plus the reserve. A crash before the truncate leaves a longer file than
 * the meta needs, which is harmless; a crash before the meta is synced
 * leaves the previous checkpoint, whose pages are all still in the file.
 *
 * The fallback stays whole (invariant S3): the file is never cut below a
 * page that either meta page on disk names, the older one included, so a
 * newest meta damaged later still opens from a complete fallback. The
 * checkpoint's unsynced copy of its meta in the other slot (durable.c) is
 * synced before the cut, so that the fallback is normally that copy and
 * the cut gives back everything.
 *
 * Growth is bounded by limit = max(max_size, the file's size): an env with
 * a smaller max_size than the file (another env grew it) may use every page
 * the file holds, and its map is made to cover what it takes.
 */
#ifndef LDB_SPACE_H
#define LDB_SPACE_H

#include <stdint.h>

#include "txn.h"

/* Pages kept allocated past the high-water mark for txns that only delete. */
uint64_t ldb__space_reserve(const ldb_env *env, const struct ldb__snapshot *snap);
/* Make the data file hold `pages` pages (in chunks); txn->file_size and the
 * lock file's data_size follow it. */
int ldb__space_grow(ldb_txn *txn, uint64_t pages);
/* n new pages past txn's high-water mark (S1): -ENOSPC or LDB_FULL if there
 * is no room for them, or no room for them and the reserve. */
int ldb__space_extend(ldb_txn *txn, uint32_t n, pgno_t *pgno);
/* Out of room with pages waiting for a checkpoint: checkpoint the committed
 * state (txn's parent) so txn may load them. 1 if it did, 0 if there was
 * nothing to gain. */
int ldb__space_unlock_held(ldb_txn *txn);
/* After a checkpoint (the writer mutex held): cut the file's free end (S2).
 * relocate (ldb_close, ldb_checkpoint): when free pages are many but not at
 * the end, first copy live pages from the end into them (one more
 * checkpoint), so the cut gives them back. */
int ldb__space_trim(ldb_env *env, int relocate);

#endif
