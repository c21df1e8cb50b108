/*
 * freelist.h: which pages a write txn may reuse, and the free tree that
 * remembers the rest across commits.
 *
 * The free tree maps (txn id T, chunk) to page numbers that T stopped using
 * (plus pages T had reclaimed but not used). Pages under T may be reused
 * once no reader can reach them: T <= the oldest snapshot any reader holds
 * (the published snapshot counts as a reader). The writer loads such
 * records oldest first into its pool, deleting them from the tree; at
 * commit it writes what it freed and what is left of its pool under its own
 * id (ldb__freelist_save), so every page below the high-water mark is, at
 * every commit, in exactly one tree or in the free tree (ldb_check checks).
 *
 * Pages a txn allocated and then released again never reached the disk's
 * trees: they go straight back to the pool.
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
    uint64_t reuse_bound;        /* records with txn id <= this may be loaded */
    int bound_known;
    int records_exhausted;       /* no more loadable records */
    int held_back;               /* a record exists but a reader holds it */
    int busy;                    /* inside a free-tree edit: do not recurse */
};

void ldb__freelist_init(struct ldb__freelist *fl);
void ldb__freelist_destroy(struct ldb__freelist *fl);

/* Take n contiguous reusable pages (*pgno = 0 if none). Loads records from
 * the free tree (through pg, editing free_tree) when the pool runs dry. */
int ldb__freelist_take(struct ldb__freelist *fl, struct ldb__pager *pg, struct tree_desc *free_tree,
                       uint32_t n, pgno_t *pgno);
/* Give back pages: dirty (allocated by this txn) ones to the pool, committed
 * ones to the freed list. */
int ldb__freelist_give(struct ldb__freelist *fl, pgno_t pgno, uint32_t n, int was_dirty);
/* Write this txn's record(s) into the free tree. Call last before commit. */
int ldb__freelist_save(struct ldb__freelist *fl, struct ldb__pager *pg,
                       struct tree_desc *free_tree, uint64_t txnid);
/* Pages listed in a free tree (for statistics). */
int ldb__freelist_count(const struct ldb__pager *pg, const struct tree_desc *free_tree,
                        uint64_t *pages);

#endif
