/* SPDX-License-Identifier: MIT */
/*
 * freelist.h: which pages a write txn may reuse, and the free tree that
 * remembers the rest across commits.
 *
 * The free tree maps (txn id T, chunk) to page numbers that T stopped using
 * (plus pages T had reclaimed but not used). Two kinds of chunk:
 *  - plain (chunk < HELD_CHUNK): pages written after the last checkpoint, or
 *    free at it; reusable once no reader can reach them: T <= the oldest
 *    snapshot any reader holds (the published snapshot counts as a reader);
 *  - held (chunk >= HELD_CHUNK): pages of the checkpointed trees (their
 *    header's txn id is <= the checkpoint's). Recovery starts from those
 *    trees, so these wait also for the next checkpoint: T <= checkpoint
 *    (invariant W3 of wal.h).
 * A page written after the checkpoint is never in the checkpointed trees
 * (by induction: writers only ever take pages that are not), which is what
 * lets the common case, a page rewritten many times between checkpoints,
 * be reused at once.
 *
 * The writer loads loadable records oldest first into its pool, deleting
 * them from the tree; at commit it writes what it freed and what is left of
 * its pool under its own id (ldb__freelist_save), so every page below the
 * high-water mark is, at every commit, in exactly one tree or in the free
 * tree (ldb_check checks). Pages a txn allocated and released again go
 * straight back to its pool.
 */
#ifndef LDB_FREELIST_H
#define LDB_FREELIST_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "pager.h"

struct ldb__pgno_list {
    pgno_t *items;
    size_t len, cap;
};

struct ldb__freelist {
    struct ldb__pgno_list pool;  /* reusable now; kept sorted, largest first */
    struct ldb__pgno_list freed; /* committed pages this txn stopped using */
    struct ldb__pgno_list held;  /* ... that belong to the checkpointed trees */
    uint64_t reuse_bound;        /* records with txn id <= this may be loaded */
    uint64_t checkpoint;         /* held records with txn id <= this too */
    int bound_known;
    int records_exhausted;       /* no more loadable records */
    int held_back;               /* a record exists but a reader holds it */
    int held_for_checkpoint;     /* a held record waits for the next checkpoint */
    int busy;                    /* inside a free-tree edit: do not recurse */
    /* Where the next record load starts: every record before resume_key
     * is a held one that waits for the next checkpoint (skipped, not
     * loadable until fl->checkpoint moves). Without it each load walked
     * past all of them from the tree's first key again. */
    int resume_valid;
    uint8_t resume_key[FREE_KEY_SIZE];
};

#ifdef LDB_TEST_HOOKS
/* Free-tree records a load looked at (loaded, skipped or held back), in
 * this process: tests see that a load does not walk the held ones again. */
extern uint64_t ldb__freelist_records_seen;
/* Passes the page-number sort made over its input, in this process. */
extern uint64_t ldb__pgno_sort_passes;
#endif

/* Sort n page numbers, ascending or (descending != 0) descending. */
void ldb__pgno_sort(pgno_t *v, size_t n, int descending);
void ldb__freelist_init(struct ldb__freelist *fl);
void ldb__freelist_destroy(struct ldb__freelist *fl);

/* Take n contiguous reusable pages (*pgno = 0 if none). Loads records from
 * the free tree (through pg, editing free_tree) when the pool runs dry. */
int ldb__freelist_take(struct ldb__freelist *fl, struct ldb__pager *pg, struct tree_desc *free_tree,
                       uint32_t n, pgno_t *pgno);
/* Give back pages: dirty (allocated by this txn) ones to the pool, committed
 * ones to the freed list, or the held list if they were written at or
 * before the checkpoint (written_by = their header's txn id). */
int ldb__freelist_give(struct ldb__freelist *fl, pgno_t pgno, uint32_t n, int was_dirty,
                       uint64_t written_by);
/* Write this txn's record(s) into the free tree. Call last before commit. */
int ldb__freelist_save(struct ldb__freelist *fl, struct ldb__pager *pg,
                       struct tree_desc *free_tree, uint64_t txnid);
/* Pages listed in a free tree (for statistics). */
int ldb__freelist_count(const struct ldb__pager *pg, const struct tree_desc *free_tree,
                        uint64_t *pages);

/* The pages of a free tree by what they wait for: reusable now (record id
 * <= reuse_bound, and a held record's <= checkpoint as well), held for
 * readers (id > reuse_bound), held for the next checkpoint (the rest). */
struct ldb__free_census {
    uint64_t reusable, for_readers, for_checkpoint;
};
int ldb__freelist_census(const struct ldb__pager *pg, const struct tree_desc *free_tree,
                         uint64_t reuse_bound, uint64_t checkpoint, struct ldb__free_census *c);
/* Load every loadable record into the pool (the file's shrink looks at all
 * of them at once). */
int ldb__freelist_load_all(struct ldb__freelist *fl, struct ldb__pager *pg,
                           struct tree_desc *free_tree);
/* How many pages run up to the high-water mark npages free in the pool or
 * freed by this txn (its freed and held lists). */
int ldb__freelist_tail_run(const struct ldb__freelist *fl, uint64_t npages, uint64_t *run);
/* Take the pool's pages that run up to the high-water mark npages (npages
 * - 1, npages - 2, ...) out of it; how many. */
uint64_t ldb__freelist_cut_tail(struct ldb__freelist *fl, uint64_t npages);
/* The writer's parent snapshot was just checkpointed (at txn id cp): its
 * held records up to cp become loadable, and every committed page this txn
 * freed so far belongs to the new checkpoint's trees, so it is held. */
int ldb__freelist_checkpointed(struct ldb__freelist *fl, uint64_t cp);

#endif
