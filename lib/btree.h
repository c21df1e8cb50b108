/* SPDX-License-Identifier: MIT */
/*
 * btree.h: the copy-on-write B+tree, one tree at a time.
 *
 * A tree is a tree_desc (root, depth, counts) plus pages reached through a
 * pager. Readers descend from the root of their snapshot; a write copies
 * every page on the root-to-leaf path into the txn's dirty table before it
 * changes it (touch), so no page a reader can reach is ever written.
 *
 * Invariants:
 *  B1 every leaf is at depth desc->depth; pages above are branch pages.
 *  B2 keys in a page are strictly increasing; every key under branch slot i
 *     (i > 0) is >= slot i's key and < slot i+1's key.
 *  B3 no page is empty except a root that is about to be removed.
 *  B4 every page's bounds are checked as it is read: damage gives
 *     LDB_CORRUPTED, never a read outside the page or the snapshot.
 */
#ifndef LDB_BTREE_H
#define LDB_BTREE_H

#include "format.h"
#include "lightningdb.h"
#include "page.h"
#include "pager.h"

/* A root-to-leaf position. page[] are valid until the txn's next write. */
struct ldb__path {
    unsigned depth; /* levels filled: 0 = unpositioned */
    pgno_t pgno[LDB_MAX_DEPTH];
    const uint8_t *page[LDB_MAX_DEPTH];
    unsigned idx[LDB_MAX_DEPTH];
};

/* Largest value accepted: 2 GiB, as the header says (the node stores a
 * 32-bit size; the run's page count fits 32 bits too). Linux moves at most
 * 0x7ffff000 bytes per read or write call: os.c loops until all is moved. */
#define LDB_MAX_VALUE_SIZE 0x80000000u

/* Descend to the leaf where key belongs; path->idx of the leaf is the lower
 * bound (may equal the leaf's count). *exact when the key is there. */
int ldb__btree_seek(const struct ldb__pager *pg, const struct tree_desc *t, const uint8_t *key,
                    uint32_t klen, struct ldb__path *path, int *exact);
/* Where a point read found its key: the leaf (its pgno and the bytes the
 * pager gave) and the key's node there. */
struct ldb__leaf_pos {
    pgno_t pgno;
    const uint8_t *page;
    struct page_node node;
};
/* Find key's entry walking down without a path; LDB_NOTFOUND if absent. */
int ldb__btree_find(const struct ldb__pager *pg, const struct tree_desc *t, const uint8_t *key,
                    uint32_t klen, struct ldb__leaf_pos *pos);
/* ldb__btree_find and the stored value (not decompressed). */
int ldb__btree_get(const struct ldb__pager *pg, const struct tree_desc *t, const uint8_t *key,
                   uint32_t klen, ldb_val *val);
/* The key and value at the path's leaf position. */
int ldb__btree_entry(const struct ldb__pager *pg, const struct ldb__path *path, ldb_val *key,
                     ldb_val *val);
/* Resolve a leaf node's value (inline or overflow run). */
int ldb__btree_node_value(const struct ldb__pager *pg, const struct page_node *n, ldb_val *val);

/* Cursor movement on a path. LDB_NOTFOUND when there is no such entry (the
 * path is then left as it was, for next/prev). */
int ldb__btree_first(const struct ldb__pager *pg, const struct tree_desc *t, struct ldb__path *p);
int ldb__btree_last(const struct ldb__pager *pg, const struct tree_desc *t, struct ldb__path *p);
int ldb__btree_next(const struct ldb__pager *pg, struct ldb__path *p);
int ldb__btree_prev(const struct ldb__pager *pg, struct ldb__path *p);

/* Writes (pager must belong to a write txn). flags: LDB_NOOVERWRITE,
 * LDB_APPEND, LDB__BTREE_COMPRESSED (val is a compressed value's stored
 * form: the node gets NODE_COMPRESSED). */
#define LDB__BTREE_COMPRESSED 0x80000000u
int ldb__btree_put(struct ldb__pager *pg, struct tree_desc *t, const uint8_t *key, uint32_t klen,
                   const void *val, uint32_t vlen, unsigned flags);
int ldb__btree_del(struct ldb__pager *pg, struct tree_desc *t, const uint8_t *key, uint32_t klen);
/* Release every page of the tree and make it empty. */
int ldb__btree_drop(struct ldb__pager *pg, struct tree_desc *t);
/* Copy to new page numbers (the txn's allocator: lowest free first) every
 * page of the tree, and every overflow run, for which want() says yes, with
 * the branch pages above them: the shrink moves live pages off the end of
 * the file this way (space.c). Pages this txn already copied stay. */
int ldb__btree_relocate(struct ldb__pager *pg, struct tree_desc *t,
                        int (*want)(void *ctx, pgno_t pgno, uint32_t npages), void *ctx);

/* Pages of node n's overflow run (n->overflow): from the value size for a
 * bare run, from the header for a headed one (0 if that page is out of
 * range). */
uint64_t ldb__btree_run_pages(const struct ldb__pager *pg, const struct page_node *n);

#ifdef LDB_TEST_HOOKS
/* Nonzero: puts write headed overflow runs, as format 3 and older did, so
 * tests can make such files (with the meta version set back). */
extern int ldb__btree_headed_runs;
/* Committed pages a write txn checked (checksum and structure) before
 * copying them, in this process: tests see which copies skip the check. */
extern uint64_t ldb__btree_copy_checks;
/* Bytes of committed pages a read txn's searches asked for ahead, past
 * each page's header line (fetch, prefetch_page): tests see which levels
 * of a tree are asked for whole. */
extern uint64_t ldb__btree_prefetched;
/* Leaf shares with a sibling instead of a split: [0] into the left one,
 * [1] into the right one; and shares refused because the new separator
 * did not fit the parent (the leaf split instead). */
extern uint64_t ldb__btree_shares[2];
extern uint64_t ldb__btree_share_refused;
/* Puts that descended from the root to find their leaf (the rest started
 * at the tail: btree.c, "The tail"). */
extern uint64_t ldb__btree_put_descents;
#endif

#endif
