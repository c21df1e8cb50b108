/* SPDX-License-Identifier: MIT */
/*
 * btree.c: search, insert with splits, delete with merges, and drop, on the
 * copy-on-write B+tree described in btree.h.
 *
 * Writes first locate the leaf (ldb__btree_seek), then touch the whole path
 * (copy each page into the dirty table, release the old page number to the
 * txn, repoint the parent), then edit the private copies. A split rebuilds
 * the full page and a fresh right sibling from a list of entries and pushes
 * a separator up, looping toward the root; a delete that leaves a page under
 * a quarter full merges it with a sibling when the two fit in one page.
 */
#include "btree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

static inline uint32_t usable(uint32_t psize)
{
    return psize - PAGE_HEADER_SIZE;
}

/* How much of a page fetch() asks for at once, from its start: all of a
 * page of the default size. (A larger page's nodes lie anywhere in it; its
 * first 4 KiB holds the header and the start of the slot array.) */
#define PREFETCH_SPAN 4096u

#ifdef LDB_TEST_HOOKS
uint64_t ldb__btree_prefetched;
#endif

/* Ask for the lines of a page past its header line, all at once. Four to
 * a step: a loop of one prefetch a step took five instructions a line,
 * ~630 of a get's ~1,870 at 100K keys (callgrind), and perf found a
 * quarter of our get's samples in it. (GCC 12 at -O2 drops the whole loop
 * when a step holds eight prefetches: check the disassembly after a
 * change here.) Spans are whole multiples of 256 bytes (pages are powers
 * of two of at least LDB_MIN_PAGE_SIZE). */
static inline void prefetch_page(const uint8_t *page, uint32_t psize)
{
    uint32_t span = psize < PREFETCH_SPAN ? psize : PREFETCH_SPAN;
    __builtin_prefetch(page + 64);
    __builtin_prefetch(page + 128);
    __builtin_prefetch(page + 192);
    for (uint32_t off = 256; off < span; off += 256) {
        __asm__ volatile("" : : "r"(off)); /* a loop GCC keeps (above) */
        __builtin_prefetch(page + off);
        __builtin_prefetch(page + off + 64);
        __builtin_prefetch(page + off + 128);
        __builtin_prefetch(page + off + 192);
    }
#ifdef LDB_TEST_HOOKS
    __atomic_fetch_add(&ldb__btree_prefetched, span - 64, __ATOMIC_RELAXED);
#endif
}

/* Fetch a page of the tree at level (0 = root) and check it is the kind that
 * level must hold (B1) and not empty (B3); searched: a point search will
 * binary-search it (ldb__btree_seek, ldb__btree_find), not step along it. */
static int fetch_page(const struct ldb__pager *pg, const struct tree_desc *t, pgno_t pgno,
                      unsigned level, int searched, const uint8_t **page)
{
    TRY(ldb__pager_get(pg, pgno, page));
    enum ldb_page_type type = level + 1 == t->depth ? PAGE_LEAF : PAGE_BRANCH;
    /* A read txn's search of a page waits for three lines one after
     * another: the header, the slot the binary search ends on, the node
     * that slot names (the key to compare; in a branch, the child). In
     * the two lowest levels, which hold nearly all of a large tree's
     * pages, none of them is in cache. Asked for together with the
     * header, the rest of the page costs bandwidth (lines of one DRAM
     * page), not latency, and the node's line is there when the search
     * reaches it. The levels above are few pages that stay in cache.
     * Otherwise a leaf's slot lines are asked for (a 4 KiB leaf of small
     * entries has up to ~30 slots: lines 0-3): a write txn's low pages are
     * mostly its own dirty copies, in cache, and a scan asks for the next
     * leaf's lines itself (cursor.c, scan_next).
     * The header is read (and checked) first, the rest asked for after:
     * asked for before it, the 63 lines went to memory ahead of the one
     * line the search waits for first, and gets were ~5% slower in time
     * (docs/benchmarks.md, issue 15, seventh pass). The prefetches do not
     * wait for the check's load: they follow its branches speculatively.
     * A page whose header is damaged is not asked for. */
    TRY(ldb__page_check_header(*page, pg->page_size, type));
    if (LDB_UNLIKELY(ldb__le16(PAGE_CHDR(*page)->count) == 0))
        return LDB_CORRUPT();
    if (searched && level + 2 >= t->depth && pg->dirty == NULL) {
        prefetch_page(*page, pg->page_size);
    } else if (type == PAGE_LEAF) {
        __builtin_prefetch(*page + 64);
        __builtin_prefetch(*page + 128);
        __builtin_prefetch(*page + 192);
    }
    return 0;
}

static int fetch(const struct ldb__pager *pg, const struct tree_desc *t, pgno_t pgno,
                 unsigned level, const uint8_t **page)
{
    return fetch_page(pg, t, pgno, level, 0, page);
}

static int check_desc(const struct tree_desc *t)
{
    if (LDB_UNLIKELY(t->depth == 0 || t->depth > LDB_MAX_DEPTH))
        return LDB_CORRUPT();
    return 0;
}

int ldb__btree_seek(const struct ldb__pager *pg, const struct tree_desc *t, const uint8_t *key,
                    uint32_t klen, struct ldb__path *path, int *exact)
{
    path->depth = 0;
    *exact = 0;
    if (t->root == 0)
        return 0;
    TRY(check_desc(t));
    pgno_t pgno = t->root;
    unsigned leaf = t->depth - 1;
    for (unsigned l = 0; l < leaf; l++) {
        const uint8_t *p = NULL;
        struct page_node n;
        unsigned idx;
        TRY(fetch_page(pg, t, pgno, l, 1, &p));
        TRY(ldb__branch_route(p, pg->page_size, key, klen, &idx));
        TRY(ldb__page_node(p, pg->page_size, idx, &n));
        path->pgno[l] = pgno;
        path->page[l] = p;
        path->idx[l] = idx;
        pgno = n.child;
    }
    const uint8_t *p = NULL;
    TRY(fetch_page(pg, t, pgno, leaf, 1, &p));
    path->pgno[leaf] = pgno;
    path->page[leaf] = p;
    TRY(ldb__page_search(p, pg->page_size, key, klen, &path->idx[leaf], exact));
    path->depth = t->depth;
    return 0;
}

/* LDB_APPEND: a key that sorts after every key in the tree belongs at the
 * end of the rightmost leaf, so walk down the last children without
 * searching and compare with that leaf's last key only. Any other key is
 * refused (LDB_EXISTS), as a searched put with LDB_APPEND refuses it. */
static int seek_append(const struct ldb__pager *pg, const struct tree_desc *t, const uint8_t *key,
                       uint32_t klen, struct ldb__path *path)
{
    TRY(check_desc(t));
    pgno_t pgno = t->root;
    unsigned leaf = t->depth - 1;
    for (unsigned l = 0; l <= leaf; l++) {
        const uint8_t *p = NULL;
        struct page_node n;
        TRY(fetch(pg, t, pgno, l, &p));
        unsigned last = ldb__le16(PAGE_CHDR(p)->count) - 1;
        TRY(ldb__page_node(p, pg->page_size, last, &n));
        path->pgno[l] = pgno;
        path->page[l] = p;
        path->idx[l] = l == leaf ? last + 1 : last;
        if (l == leaf && ldb__key_cmp(key, klen, n.key, n.key_size) <= 0)
            return LDB_EXISTS;
        pgno = n.child;
    }
    path->depth = t->depth;
    return 0;
}

/* A bare run (format.h, struct run_ref): its pages from the ref, its
 * checksum from the ref, verified as a headed run's is. */
static int bare_run_value(const struct ldb__pager *pg, const struct page_node *n, ldb_val *val)
{
    pgno_t ov = ldb__page_overflow_pgno(n);
    uint64_t run = ldb__bare_run_pages(n->value_size, pg->page_size);
    const uint8_t *p = NULL;
    TRY(ldb__pager_get(pg, ov, &p)); /* ov is inside the snapshot */
    if (LDB_UNLIKELY(run == 0 || run > pg->npages - ov))
        return LDB_CORRUPT();
    if (!ldb__pager_is_dirty(pg, ov) &&
        ldb__bare_run_checksum(n->value + RUN_REF_TXNID, p, n->value_size) !=
            ldb__rd32(n->value + RUN_REF_CHECKSUM))
        return LDB_CORRUPT();
    val->size = n->value_size;
    val->data = p;
    return 0;
}

int ldb__btree_node_value(const struct ldb__pager *pg, const struct page_node *n, ldb_val *val)
{
    if (!n->overflow) {
        val->size = n->value_size;
        val->data = n->value;
        return 0;
    }
    if (n->bare)
        return bare_run_value(pg, n, val);
    pgno_t ov = ldb__page_overflow_pgno(n);
    const uint8_t *p = NULL;
    TRY(ldb__pager_get(pg, ov, &p));
    const struct page_header *h = PAGE_CHDR(p);
    uint32_t run = ldb__le32(h->aux);
    if (LDB_UNLIKELY(ldb__le16(h->type) != PAGE_OVERFLOW || run == 0 || ov + run > pg->npages ||
                     PAGE_HEADER_SIZE + (uint64_t)n->value_size >
                         (uint64_t)run * pg->page_size))
        return LDB_CORRUPT();
    /* Large values are verified as they are read: the cost is proportional
     * to what the caller reads anyway, and damage in a big value is the kind
     * that would otherwise go unnoticed. (A txn's own dirty runs are not
     * sealed yet.) */
    if (!ldb__pager_is_dirty(pg, ov) &&
        !ldb__page_checksum_ok(p, (size_t)run * pg->page_size))
        return LDB_CORRUPT();
    val->size = n->value_size;
    val->data = p + PAGE_HEADER_SIZE;
    return 0;
}

uint64_t ldb__btree_run_pages(const struct ldb__pager *pg, const struct page_node *n)
{
    if (n->bare)
        return ldb__bare_run_pages(n->value_size, pg->page_size);
    const uint8_t *p = NULL;
    if (ldb__pager_get(pg, ldb__page_overflow_pgno(n), &p) != 0)
        return 0;
    return ldb__le32(PAGE_CHDR(p)->aux);
}

/* The child pgno of branch node idx, bounds-checked as ldb__page_node
 * checks a branch node (the caller knows idx < count). */
static inline int branch_child(const uint8_t *p, uint32_t psize, unsigned idx, pgno_t *child)
{
    const struct page_header *h = PAGE_CHDR(p);
    uint64_t off = ldb__le32(PAGE_CSLOTS(p)[idx].offset);
    uint64_t slots_end = PAGE_HEADER_SIZE + (uint64_t)ldb__le16(h->count) * sizeof(struct page_slot);
    if (LDB_UNLIKELY(off < slots_end || off + BRANCH_NODE_HEADER > psize ||
                     off + BRANCH_NODE_HEADER + ldb__rd16(p + off + 8) > psize))
        return LDB_CORRUPT();
    *child = ldb__rd64(p + off);
    return 0;
}

/* A point read walks down without recording a path (nothing will step
 * from it), reading each branch's child straight from its node; every
 * page gets the same checks as on any other walk. */
int ldb__btree_find(const struct ldb__pager *pg, const struct tree_desc *t, const uint8_t *key,
                    uint32_t klen, struct ldb__leaf_pos *pos)
{
    if (t->root == 0)
        return LDB_NOTFOUND;
    TRY(check_desc(t));
    pgno_t pgno = t->root;
    unsigned leaf = t->depth - 1, idx;
    const uint8_t *p = NULL;
    for (unsigned l = 0; l < leaf; l++) {
        TRY(fetch_page(pg, t, pgno, l, 1, &p));
        TRY(ldb__branch_route(p, pg->page_size, key, klen, &idx));
        if (LDB_UNLIKELY(idx >= ldb__le16(PAGE_CHDR(p)->count)))
            return LDB_CORRUPT();
        TRY(branch_child(p, pg->page_size, idx, &pgno));
    }
    int exact;
    TRY(fetch_page(pg, t, pgno, leaf, 1, &p));
    TRY(ldb__page_search(p, pg->page_size, key, klen, &idx, &exact));
    if (!exact)
        return LDB_NOTFOUND;
    pos->pgno = pgno;
    pos->page = p;
    return ldb__page_node(p, pg->page_size, idx, &pos->node);
}

int ldb__btree_get(const struct ldb__pager *pg, const struct tree_desc *t, const uint8_t *key,
                   uint32_t klen, ldb_val *val)
{
    struct ldb__leaf_pos pos;
    TRY(ldb__btree_find(pg, t, key, klen, &pos));
    return ldb__btree_node_value(pg, &pos.node, val);
}

int ldb__btree_entry(const struct ldb__pager *pg, const struct ldb__path *path, ldb_val *key,
                     ldb_val *val)
{
    if (path->depth == 0)
        return LDB_NOTFOUND;
    unsigned leaf = path->depth - 1;
    struct page_node n;
    TRY(ldb__page_node(path->page[leaf], pg->page_size, path->idx[leaf], &n));
    if (key) {
        key->size = n.key_size;
        key->data = n.key;
    }
    if (val)
        TRY(ldb__btree_node_value(pg, &n, val));
    return 0;
}

/* Fill path from level down to the leaf, taking the first (or last) child
 * at every level below. */
static int descend_edge(const struct ldb__pager *pg, const struct tree_desc *t,
                        struct ldb__path *path, unsigned level, pgno_t pgno, int last)
{
    for (unsigned l = level; l < t->depth; l++) {
        const uint8_t *p = NULL;
        TRY(fetch(pg, t, pgno, l, &p));
        unsigned idx = last ? ldb__le16(PAGE_CHDR(p)->count) - 1u : 0;
        path->pgno[l] = pgno;
        path->page[l] = p;
        path->idx[l] = idx;
        if (l + 1 < t->depth) {
            struct page_node n;
            TRY(ldb__page_node(p, pg->page_size, idx, &n));
            pgno = n.child;
        }
    }
    path->depth = t->depth;
    return 0;
}

int ldb__btree_first(const struct ldb__pager *pg, const struct tree_desc *t, struct ldb__path *p)
{
    p->depth = 0;
    if (t->root == 0)
        return LDB_NOTFOUND;
    TRY(check_desc(t));
    return descend_edge(pg, t, p, 0, t->root, 0);
}

int ldb__btree_last(const struct ldb__pager *pg, const struct tree_desc *t, struct ldb__path *p)
{
    p->depth = 0;
    if (t->root == 0)
        return LDB_NOTFOUND;
    TRY(check_desc(t));
    return descend_edge(pg, t, p, 0, t->root, 1);
}

/* Step to the neighbouring leaf entry. The tree's depth is the path's. */
static int step(const struct ldb__pager *pg, struct ldb__path *p, int forward)
{
    if (p->depth == 0)
        return LDB_NOTFOUND;
    unsigned leaf = p->depth - 1;
    unsigned count = ldb__le16(PAGE_CHDR(p->page[leaf])->count);
    if (forward ? p->idx[leaf] + 1 < count : p->idx[leaf] > 0) {
        unsigned idx = p->idx[leaf] += forward ? 1 : -1;
        /* Scans touch every node in turn: fetch the next one early. */
        if (forward ? idx + 1 < count : idx > 0) {
            unsigned next = forward ? idx + 1 : idx - 1;
            __builtin_prefetch(p->page[leaf] + ldb__le32(PAGE_CSLOTS(p->page[leaf])[next].offset));
        }
        return 0;
    }
    /* Climb to the nearest level with a sibling in that direction. */
    unsigned l = leaf;
    while (l > 0) {
        l--;
        unsigned c = ldb__le16(PAGE_CHDR(p->page[l])->count);
        if (forward ? p->idx[l] + 1 < c : p->idx[l] > 0)
            break;
        if (l == 0)
            return LDB_NOTFOUND;
    }
    if (leaf == 0)
        return LDB_NOTFOUND;
    /* Descend into a scratch path and copy back only the levels below l
     * (a whole path is ~650 bytes; a scan crosses a leaf every ~30
     * entries): on a damaged page the path stays as it was. */
    struct tree_desc shape = {.depth = p->depth};
    struct ldb__path np;
    unsigned idx = p->idx[l] + (forward ? 1u : -1u);
    struct page_node n;
    TRY(ldb__page_node(p->page[l], pg->page_size, idx, &n));
    TRY(descend_edge(pg, &shape, &np, l + 1, n.child, !forward));
    p->idx[l] = idx;
    for (unsigned i = l + 1; i < p->depth; i++) {
        p->pgno[i] = np.pgno[i];
        p->page[i] = np.page[i];
        p->idx[i] = np.idx[i];
    }
    return 0;
}

int ldb__btree_next(const struct ldb__pager *pg, struct ldb__path *p)
{
    return step(pg, p, 1);
}

int ldb__btree_prev(const struct ldb__pager *pg, struct ldb__path *p)
{
    return step(pg, p, 0);
}

/* ---- writes ------------------------------------------------------------ */

#ifdef LDB_TEST_HOOKS
uint64_t ldb__btree_copy_checks;
uint64_t ldb__btree_shares[2];
uint64_t ldb__btree_share_refused;
#endif

/* Make the page at path level l writable (copy-on-write). The parent, if
 * any, must already be writable. */
static int touch(struct ldb__pager *pg, struct tree_desc *t, struct ldb__path *path, unsigned l)
{
    pgno_t old = path->pgno[l];
    /* The path's pages came from ldb__pager_get: anything but the page's
     * place in the map is already this txn's copy (saves a lookup per level
     * on every put into a dirty path). */
    if (path->page[l] != pg->map + (size_t)old * pg->page_size)
        return 0;
    const uint8_t *d = pg->dirty ? ldb__dirty_find(pg->dirty, old) : NULL;
    if (d != NULL) {
        path->page[l] = d;
        return 0;
    }
    const uint8_t *src = path->page[l];
    /* Never carry damage into a new, freshly checksummed page: a page read
     * from the file is checked, one this env's writer wrote is known. */
    if (!ldb__written_match(pg->written, src, old)) {
#ifdef LDB_TEST_HOOKS
        __atomic_fetch_add(&ldb__btree_copy_checks, 1, __ATOMIC_RELAXED);
#endif
        if (!ldb__page_checksum_ok(src, pg->page_size))
            return LDB_CORRUPT();
        TRY(ldb__page_validate(src, pg->page_size));
    }
    pgno_t np;
    uint8_t *buf;
    TRY(pg->alloc(pg->ctx, 1, &np, &buf));
    memcpy(buf, src, pg->page_size);
    PAGE_HDR(buf)->pgno = ldb__to_le64(np);
    PAGE_HDR(buf)->txnid = ldb__to_le64(pg->txnid);
    /* The copy's source names its writer: the release need not look the
     * page up again to read it. */
    TRY(pg->release(pg->ctx, old, 1, ldb__le64(PAGE_CHDR(src)->txnid)));
    path->pgno[l] = np;
    path->page[l] = buf;
    if (l == 0)
        t->root = np;
    else
        ldb__page_set_child((uint8_t *)path->page[l - 1], path->idx[l - 1], np);
    return 0;
}

static int touch_path(struct ldb__pager *pg, struct tree_desc *t, struct ldb__path *path)
{
    for (unsigned l = 0; l < path->depth; l++)
        TRY(touch(pg, t, path, l));
    return 0;
}

static int new_page(struct ldb__pager *pg, enum ldb_page_type type, pgno_t *pgno, uint8_t **buf)
{
    TRY(pg->alloc(pg->ctx, 1, pgno, buf));
    memset(*buf, 0, pg->page_size);
    ldb__page_init(*buf, pg->page_size, type, pg->txnid);
    PAGE_HDR(*buf)->pgno = ldb__to_le64(*pgno);
    return 0;
}

#ifdef LDB_TEST_HOOKS
int ldb__btree_headed_runs;
#endif

/* A headed run (formats 1..3): only the test hook writes one now, to make
 * the files older builds wrote. ref gets the pgno as the node stores it. */
static int write_headed_run(struct ldb__pager *pg, struct tree_desc *t, const void *val,
                            uint32_t vlen, uint8_t *ref)
{
    uint64_t n = (PAGE_HEADER_SIZE + (uint64_t)vlen + pg->page_size - 1) / pg->page_size;
    uint8_t *buf;
    pgno_t pgno;
    TRY(pg->alloc(pg->ctx, (uint32_t)n, &pgno, &buf));
    struct page_header *h = PAGE_HDR(buf);
    memset(h, 0, sizeof *h);
    h->type = ldb__to_le16(PAGE_OVERFLOW);
    h->pgno = ldb__to_le64(pgno);
    h->txnid = ldb__to_le64(pg->txnid);
    h->aux = ldb__to_le32((uint32_t)n);
    if (vlen)
        memcpy(buf + PAGE_HEADER_SIZE, val, vlen);
    memset(buf + PAGE_HEADER_SIZE + vlen, 0, n * pg->page_size - PAGE_HEADER_SIZE - vlen);
    t->overflow_pages += n;
    ldb__st_le64(ref, pgno);
    return 0;
}

/* Store val in a new bare overflow run (ceil(vlen / page_size) pages, the
 * value and zeros), its run_ref in ref; the checksum is taken now, from the
 * caller's bytes, since nothing writes into a run after this. */
static int write_bare_run(struct ldb__pager *pg, struct tree_desc *t, const void *val,
                          uint32_t vlen, uint8_t ref[RUN_REF_SIZE])
{
    uint64_t n = ldb__bare_run_pages(vlen, pg->page_size);
    if (n == 0)
        return LDB_CORRUPT(); /* no caller: a run holds a value past inline */
    uint8_t *buf;
    pgno_t pgno;
    TRY(pg->alloc(pg->ctx, (uint32_t)n, &pgno, &buf));
    ldb__dirty_set_bare(pg->dirty, pgno);
    memcpy(buf, val, vlen);
    memset(buf + vlen, 0, n * pg->page_size - vlen);
    t->overflow_pages += n;
    ldb__st_le64(ref + RUN_REF_PGNO, pgno);
    ldb__st_le64(ref + RUN_REF_TXNID, pg->txnid);
    ldb__st_le32(ref + RUN_REF_CHECKSUM, ldb__bare_run_checksum(ref + RUN_REF_TXNID, buf, vlen));
    return 0;
}

/* A put's new overflow run: a bare one, with NODE_OVERFLOW | NODE_BARE in
 * *flags (a headed one, NODE_OVERFLOW, only under the test hook). */
static int write_overflow(struct ldb__pager *pg, struct tree_desc *t, const void *val,
                          uint32_t vlen, uint8_t ref[RUN_REF_SIZE], unsigned *flags)
{
#ifdef LDB_TEST_HOOKS
    if (ldb__btree_headed_runs) {
        *flags = NODE_OVERFLOW;
        return write_headed_run(pg, t, val, vlen, ref);
    }
#endif
    *flags = NODE_OVERFLOW | NODE_BARE;
    return write_bare_run(pg, t, val, vlen, ref);
}

static int free_overflow(struct ldb__pager *pg, struct tree_desc *t, const struct page_node *n)
{
    /* Only the run's extent needs to be sound to free it: a damaged value
     * can still be deleted. */
    pgno_t ov = ldb__page_overflow_pgno(n);
    uint64_t npages, written_by = 0;
    if (n->bare) {
        npages = ldb__bare_run_pages(n->value_size, pg->page_size);
        written_by = ldb__rd64(n->value + RUN_REF_TXNID);
        if (ov < LDB_META_PAGES || ov >= pg->npages || npages == 0 ||
            npages > pg->npages - ov || written_by == 0)
            return LDB_CORRUPT();
    } else {
        const uint8_t *p = NULL;
        TRY(ldb__pager_get(pg, ov, &p));
        const struct page_header *h = PAGE_CHDR(p);
        if (ldb__le16(h->type) != PAGE_OVERFLOW || ldb__le32(h->aux) == 0 ||
            ov + ldb__le32(h->aux) > pg->npages)
            return LDB_CORRUPT();
        npages = ldb__le32(h->aux);
    }
    TRY(pg->release(pg->ctx, ov, (uint32_t)npages, written_by));
    t->overflow_pages -= npages;
    return 0;
}

/* An entry of a page being rebuilt: a leaf or a branch node's parts. */
struct entry {
    const uint8_t *key;
    uint32_t ksize;
    const void *value; /* leaf: inline bytes, the overflow pgno (stored, LE)
                          or the run_ref */
    uint32_t vsize;
    int overflow;
    int bare;          /* leaf: NODE_BARE (value is a run_ref) */
    int compressed;    /* leaf: NODE_COMPRESSED */
    pgno_t child;      /* branch */
};

static unsigned node_flags(const struct entry *e)
{
    return (e->overflow ? NODE_OVERFLOW : 0u) | (e->bare ? NODE_BARE : 0u) |
           (e->compressed ? NODE_COMPRESSED : 0u);
}

static uint32_t entry_size(const struct entry *e, int leaf)
{
    return (leaf ? ldb__leaf_node_size(e->ksize, e->vsize, node_flags(e))
                 : ldb__branch_node_size(e->ksize)) +
           (uint32_t)sizeof(struct page_slot);
}

static void append_entry(uint8_t *p, uint32_t psize, const struct entry *e, int leaf,
                         int first_of_branch)
{
    unsigned at = ldb__le16(PAGE_HDR(p)->count);
    if (leaf)
        ldb__page_insert_leaf(p, psize, at, e->key, e->ksize, e->value, e->vsize, node_flags(e));
    else if (first_of_branch)
        ldb__page_insert_branch(p, psize, at, NULL, 0, e->child);
    else
        ldb__page_insert_branch(p, psize, at, e->key, e->ksize, e->child);
}

/* append_entry without the prefix and hint upkeep (ldb__page_place_leaf):
 * the page gets ldb__page_fix_hints after its last entry. */
static void place_entry(uint8_t *p, const struct entry *e, int leaf, int first_of_branch)
{
    unsigned at = ldb__le16(PAGE_HDR(p)->count);
    if (leaf)
        ldb__page_place_leaf(p, at, e->key, e->ksize, e->value, e->vsize, node_flags(e));
    else if (first_of_branch)
        ldb__page_place_branch(p, at, NULL, 0, e->child);
    else
        ldb__page_place_branch(p, at, e->key, e->ksize, e->child);
}

static struct entry node_entry(const struct page_node *n)
{
    struct entry e = {n->key,      n->key_size, n->value,      n->value_size,
                      n->overflow, n->bare,     n->compressed, n->child};
    return e;
}

/* Where to split total entries that do not fit one page: as near the middle
 * (by bytes) as keeps both sides within room bytes. Such a point exists
 * because no entry is over half a page: take k_lo, the first k whose right
 * side fits; its left side is under (total - room) + one entry <= room.
 * Every k in [k_lo, k_hi] fits, k_hi being the last whose left side fits. */
static unsigned split_point(const struct entry *ents, unsigned total, int leaf, uint32_t room)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < total; i++)
        sum += entry_size(&ents[i], leaf);
    unsigned k_lo = 0, k_hi = 0, k_mid = 0;
    uint64_t left = 0;
    for (unsigned k = 1; k < total; k++) {
        left += entry_size(&ents[k - 1], leaf);
        /* A branch page's first key is dropped: the right side is smaller
         * than its entries by that key, so counting it is conservative. */
        if (k_lo == 0 && sum - left <= room)
            k_lo = k;
        if (left <= room)
            k_hi = k;
        if (k_mid == 0 && left >= sum / 2)
            k_mid = k;
    }
    if (k_mid == 0)
        k_mid = total - 1;
    if (k_lo == 0)
        k_lo = total - 1;
    if (k_hi == 0)
        k_hi = 1;
    return k_mid < k_lo ? k_lo : k_mid > k_hi ? k_hi : k_mid;
}

/* Insert ins at idx of the full page at path level `level`, splitting it,
 * and push separators up as far as needed. */
/* The separator of a leaf split: the length of the shortest prefix of b
 * (the right page's first key) that still sorts after a (the left page's
 * last key). */
static uint32_t sep_len(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
    uint32_t m = alen < blen ? alen : blen, l = 0;
    while (l < m && a[l] == b[l])
        l++;
    return l + 1 <= blen ? l + 1 : blen;
}

/* A split of the rightmost page by an append at its end: the page keeps
 * its entries untouched (no copy, no rebuild: a bulk load's pages stay
 * full), *ins alone starts a new right page *rpgno; *slen: how much of
 * ins->key separates them. */
static int split_append(struct ldb__pager *pg, struct tree_desc *t, const uint8_t *page, int leaf,
                        const struct entry *ins, pgno_t *rpgno, uint32_t *slen)
{
    uint32_t psize = pg->page_size;
    *slen = ins->ksize;
    if (leaf) {
        struct page_node last;
        TRY(ldb__page_node(page, psize, ldb__le16(PAGE_CHDR(page)->count) - 1u, &last));
        *slen = sep_len(last.key, last.key_size, ins->key, ins->ksize);
    }
    uint8_t *right;
    TRY(new_page(pg, leaf ? PAGE_LEAF : PAGE_BRANCH, rpgno, &right));
    if (leaf)
        t->leaf_pages++;
    else
        t->branch_pages++;
    append_entry(right, psize, ins, leaf, 1);
    return 0;
}

static int split_insert(struct ldb__pager *pg, struct tree_desc *t, struct ldb__path *path,
                        unsigned level, unsigned idx, struct entry ins, int append)
{
    uint32_t psize = pg->page_size;
    uint8_t *copy = NULL, *sep = NULL;
    struct entry *ents = NULL;
    int rc = 0;
    for (;;) {
        uint8_t *page = (uint8_t *)path->page[level];
        int leaf = ldb__le16(PAGE_HDR(page)->type) == PAGE_LEAF;
        enum ldb_page_type type = leaf ? PAGE_LEAF : PAGE_BRANCH;
        unsigned n = ldb__le16(PAGE_HDR(page)->count), total = n + 1;
        pgno_t rpgno, lpgno = path->pgno[level];
        const uint8_t *skey;
        uint32_t slen;
        if (append && idx == n) {
            /* Appending at the end of the rightmost page: the left page
             * stays as it is (full), the entry starts the right one. */
            CHECK_GOTO(rc, split_append(pg, t, page, leaf, &ins, &rpgno, &slen), out);
            skey = ins.key;
            goto push;
        }
        if (copy == NULL) {
            copy = ldb__malloc(psize);
            sep = ldb__malloc(psize);
            ents = ldb__malloc((psize / sizeof(struct page_slot) + 2) * sizeof *ents);
            if (!copy || !sep || !ents) {
                rc = -ENOMEM;
                goto out;
            }
        }
        memcpy(copy, page, psize);
        for (unsigned i = 0; i < n; i++) {
            struct page_node node;
            CHECK_GOTO(rc, ldb__page_node(copy, psize, i, &node), out);
            ents[i < idx ? i : i + 1] = node_entry(&node);
        }
        ents[idx] = ins;

        /* Split point k: left keeps ents[0..k). Appending at the end of the
         * rightmost page keeps the left page full (bulk loads). */
        unsigned k = split_point(ents, total, leaf, usable(psize));
        uint8_t *right;
        CHECK_GOTO(rc, new_page(pg, type, &rpgno, &right), out);
        if (leaf)
            t->leaf_pages++;
        else
            t->branch_pages++;
        memset(page, 0, psize);
        ldb__page_init(page, psize, type, pg->txnid);
        PAGE_HDR(page)->pgno = ldb__to_le64(lpgno);
        for (unsigned i = 0; i < k; i++)
            place_entry(page, &ents[i], leaf, i == 0);
        for (unsigned i = k; i < total; i++)
            place_entry(right, &ents[i], leaf, i == k);
        ldb__page_fix_hints(page, psize);
        ldb__page_fix_hints(right, psize);

        /* The separator: for leaves the shortest prefix of the right page's
         * first key that still sorts after the left page's last key. */
        slen = leaf ? sep_len(ents[k - 1].key, ents[k - 1].ksize, ents[k].key, ents[k].ksize)
                    : ents[k].ksize;
        memmove(sep, ents[k].key, slen);
        skey = sep;

    push:
        if (level == 0) {
            pgno_t root;
            uint8_t *rp;
            CHECK_GOTO(rc, new_page(pg, PAGE_BRANCH, &root, &rp), out);
            ldb__page_insert_branch(rp, psize, 0, NULL, 0, lpgno);
            ldb__page_insert_branch(rp, psize, 1, skey, slen, rpgno);
            t->root = root;
            t->depth++;
            t->branch_pages++;
            goto out;
        }
        uint8_t *parent = (uint8_t *)path->page[level - 1];
        unsigned pidx = path->idx[level - 1] + 1;
        struct entry up = {.key = skey, .ksize = slen, .child = rpgno};
        if (ldb__page_room(parent) >= entry_size(&up, 0)) {
            ldb__page_insert_branch(parent, psize, pidx, skey, slen, rpgno);
            goto out;
        }
        level--;
        idx = pidx;
        ins = up;
    }
out:
    ldb__free(copy);
    ldb__free(sep);
    ldb__free(ents);
    return rc;
}

static int overlaps(const void *p, size_t n, const void *area, size_t len)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)area;
    return n != 0 && a < b + len && b < a + n;
}

/* The sibling at parent slot sidx of the page at path level `level` (> 0):
 * a copy of path that differs from it at that level and in the parent's
 * slot, ready for touch(). */
static int sibling_path(const struct ldb__pager *pg, const struct tree_desc *t,
                        const struct ldb__path *path, unsigned level, unsigned sidx,
                        struct ldb__path *sp)
{
    struct page_node sn;
    TRY(ldb__page_node(path->page[level - 1], pg->page_size, sidx, &sn));
    *sp = *path;
    sp->pgno[level] = sn.child;
    sp->idx[level - 1] = sidx;
    return fetch(pg, t, sn.child, level, &sp->page[level]);
}

/* Room a sibling must have before a full leaf shares its entries with it,
 * as a fraction of a page (docs/design.md, "Leaf fill", has the measured
 * choice): with less, too few bytes move for the second page written. */
#define SHARE_MIN_ROOM_DIV 4u

/* Which sibling of the full leaf at path level `level` takes a share of its
 * entries: the one with the most room, at least 1/SHARE_MIN_ROOM_DIV of a
 * page; a sibling this txn already copied counts before one it would have
 * to copy. Returns 1 with *sp set, or 0 if neither will do. */
static int pick_sibling(const struct ldb__pager *pg, const struct tree_desc *t,
                        const struct ldb__path *path, unsigned level, struct ldb__path *sp)
{
    const uint8_t *parent = path->page[level - 1];
    unsigned pidx = path->idx[level - 1], pn = ldb__le16(PAGE_CHDR(parent)->count);
    uint32_t least = usable(pg->page_size) / SHARE_MIN_ROOM_DIV, best = 0;
    int found = 0, best_dirty = 0;
    for (int side = -1; side <= 1; side += 2) {
        if ((side < 0 && pidx == 0) || (side > 0 && pidx + 1 >= pn))
            continue;
        struct ldb__path cand;
        TRY(sibling_path(pg, t, path, level, pidx + (unsigned)side, &cand));
        uint32_t room = ldb__page_room(cand.page[level]);
        int dirty = ldb__pager_is_dirty(pg, cand.pgno[level]);
        if (room < least)
            continue;
        if (found && (dirty < best_dirty || (dirty == best_dirty && room <= best)))
            continue;
        *sp = cand;
        best = room;
        best_dirty = dirty;
        found = 1;
    }
    return found;
}

/* Two adjacent leaves (lo first) and an entry to insert, seen as one run
 * of entries in key order: lo's, then hi's, with ins at index q; and how a
 * share splits it: lo keeps [0, k), the parent's separator between them
 * (slot ridx) becomes the first slen bytes of entry k's key. */
struct share {
    const uint8_t *lo, *hi;
    unsigned nlo, total, q, k, ridx;
    int left; /* the sibling is lo */
    const struct entry *ins;
    uint32_t slen;
};

/* Entry i of the run. */
static int share_entry(const struct share *s, uint32_t psize, unsigned i, struct entry *e)
{
    if (i == s->q) {
        *e = *s->ins;
        return 0;
    }
    unsigned j = i < s->q ? i : i - 1;
    struct page_node n;
    TRY(ldb__page_node(j < s->nlo ? s->lo : s->hi, psize, j < s->nlo ? j : j - s->nlo, &n));
    *e = node_entry(&n);
    return 0;
}

/* Where the run splits into the two pages, lo keeping entries [0, *k): from
 * the boundary b0 of today, entries cross it toward the lighter side while
 * that makes the two sides more even (only the entries that move are
 * read). Returns 1 if both sides then fit a page, else 0. */
static int share_point(const struct share *s, uint32_t psize, unsigned b0, unsigned *k)
{
    uint32_t ins = entry_size(s->ins, 1);
    uint64_t left = ldb__page_used(s->lo, psize) + (s->q < b0 ? ins : 0);
    uint64_t right = ldb__page_used(s->hi, psize) + (s->q < b0 ? 0 : ins);
    unsigned b = b0;
    for (;;) {
        int to_right = left > right;
        uint64_t gap = to_right ? left - right : right - left;
        if (to_right ? b <= 1 : b + 1 >= s->total)
            break;
        struct entry e;
        TRY(share_entry(s, psize, to_right ? b - 1 : b, &e));
        uint32_t size = entry_size(&e, 1);
        if (size >= gap)
            break;
        left = to_right ? left - size : left + size;
        right = to_right ? right + size : right - size;
        b = to_right ? b - 1 : b + 1;
    }
    *k = b;
    return left <= usable(psize) && right <= usable(psize);
}

/* Move entries across the boundary of leaves lo and hi (writable, lo first)
 * until lo holds want of them: from lo's end to hi's front or back. (A
 * share moves a few entries: keeping the prefix per insert costs less
 * here than ldb__page_fix_hints over both pages.) */
static int move_entries(uint8_t *lo, uint8_t *hi, uint32_t psize, unsigned want)
{
    for (;;) {
        unsigned n = ldb__le16(PAGE_CHDR(lo)->count);
        if (n == want)
            return 0;
        uint8_t *from = n > want ? lo : hi, *to = n > want ? hi : lo;
        unsigned at = n > want ? n - 1 : 0;
        struct page_node node;
        TRY(ldb__page_node(from, psize, at, &node));
        struct entry e = node_entry(&node);
        if (n > want)
            ldb__page_insert_leaf(to, psize, 0, e.key, e.ksize, e.value, e.vsize, node_flags(&e));
        else
            append_entry(to, psize, &e, 1, 0);
        ldb__page_remove(from, psize, at);
    }
}

/* Whether the full leaf at path level `level` shares with sibling sp (see
 * share_leaf), and how: 1 with *s filled, 0 if it must split. */
static int share_plan(const struct ldb__pager *pg, const struct ldb__path *path,
                      const struct ldb__path *sp, unsigned level, unsigned idx,
                      const struct entry *ins, struct share *s)
{
    uint32_t psize = pg->page_size;
    /* ins may have been read from the sibling in this txn (the caller
     * checked the leaf): it must not move under the put. */
    if (overlaps(ins->key, ins->ksize, sp->page[level], psize) ||
        overlaps(ins->value, ins->vsize, sp->page[level], psize))
        return 0;
    const uint8_t *parent = path->page[level - 1];
    unsigned pidx = path->idx[level - 1], sidx = sp->idx[level - 1];
    s->left = sidx < pidx;
    s->ridx = s->left ? pidx : sidx;
    s->lo = s->left ? sp->page[level] : path->page[level];
    s->hi = s->left ? path->page[level] : sp->page[level];
    s->ins = ins;
    s->nlo = ldb__le16(PAGE_CHDR(s->lo)->count);
    s->total = s->nlo + ldb__le16(PAGE_CHDR(s->hi)->count) + 1;
    s->q = s->left ? s->nlo + idx : idx;
    int r = share_point(s, psize, s->left ? s->nlo : s->nlo + 1, &s->k);
    if (r <= 0)
        return r;
    /* The separator: the shortest prefix of the right page's first key
     * that sorts after the left page's last, in place of the old one. */
    struct entry a, b;
    struct page_node old;
    TRY(share_entry(s, psize, s->k - 1, &a));
    TRY(share_entry(s, psize, s->k, &b));
    TRY(ldb__page_node(parent, psize, s->ridx, &old));
    s->slen = sep_len(a.key, a.ksize, b.key, b.ksize);
    if ((uint64_t)ldb__page_room(parent) + ldb__branch_node_size(old.key_size) <
        ldb__branch_node_size(s->slen)) {
#ifdef LDB_TEST_HOOKS
        __atomic_fetch_add(&ldb__btree_share_refused, 1, __ATOMIC_RELAXED);
#endif
        return 0;
    }
    return 1;
}

/* Carry out share s: copy the sibling (sp), move entries across the
 * boundary, put ins where it belongs, replace the separator. */
static int share_apply(struct ldb__pager *pg, struct tree_desc *t, struct ldb__path *path,
                       struct ldb__path *sp, unsigned level, const struct share *s)
{
    uint32_t psize = pg->page_size;
    struct entry b;
    TRY(share_entry(s, psize, s->k, &b));
    uint8_t *sep = ldb__malloc(s->slen);
    if (sep == NULL)
        return -ENOMEM;
    memcpy(sep, b.key, s->slen); /* before its page changes */
    int rc = touch(pg, t, sp, level);
    if (rc < 0)
        goto out;
    uint8_t *lp = (uint8_t *)(s->left ? sp->page[level] : path->page[level]);
    uint8_t *rp = (uint8_t *)(s->left ? path->page[level] : sp->page[level]);
    const struct entry *ins = s->ins;
    CHECK_GOTO(rc, move_entries(lp, rp, psize, s->k - (s->q < s->k)), out);
    ldb__page_insert_leaf(s->q < s->k ? lp : rp, psize, s->q < s->k ? s->q : s->q - s->k,
                          ins->key, ins->ksize, ins->value, ins->vsize, node_flags(ins));
    uint8_t *parent = (uint8_t *)path->page[level - 1];
    ldb__page_remove(parent, psize, s->ridx);
    ldb__page_insert_branch(parent, psize, s->ridx, sep, s->slen,
                            s->left ? path->pgno[level] : sp->pgno[level]);
#ifdef LDB_TEST_HOOKS
    __atomic_fetch_add(&ldb__btree_shares[!s->left], 1, __ATOMIC_RELAXED);
#endif
    rc = 1;
out:
    ldb__free(sep);
    return rc;
}

/* B*-tree style: before the full leaf at path level `level` splits for ins
 * at idx, an adjacent sibling under the same parent with room takes a share
 * of the entries: entries move across the boundary until the two pages are
 * about even, ins goes where it belongs, and the separator between them in
 * the parent is replaced. Returns 1 if done, 0 if the caller must split (no
 * sibling with room, the two would not fit, or the new separator does not
 * fit the parent), or an error. */
static int share_leaf(struct ldb__pager *pg, struct tree_desc *t, struct ldb__path *path,
                      unsigned level, unsigned idx, const struct entry *ins)
{
    struct ldb__path sp;
    struct share s;
    if (level == 0)
        return 0;
    int r = pick_sibling(pg, t, path, level, &sp);
    if (r > 0)
        r = share_plan(pg, path, &sp, level, idx, ins, &s);
    if (r <= 0)
        return r;
    return share_apply(pg, t, path, &sp, level, &s);
}

/* Whether key or val lies in memory this put rewrites or frees: the leaf
 * (a key or value read from it in this txn, by get or a cursor) or the
 * key's old overflow run. An error here is the put's own to report: it
 * meets the same node next. */
static int put_aliases(const struct ldb__pager *pg, const uint8_t *leaf, unsigned idx, int exact,
                       const void *key, uint32_t klen, const void *val, uint32_t vlen)
{
    uint32_t psize = pg->page_size;
    if (overlaps(key, klen, leaf, psize) || overlaps(val, vlen, leaf, psize))
        return 1;
    struct page_node old;
    const uint8_t *run = NULL;
    if (!exact || ldb__page_node(leaf, psize, idx, &old) != 0 || !old.overflow ||
        ldb__pager_get(pg, ldb__page_overflow_pgno(&old), &run) != 0)
        return 0;
    size_t len = (old.bare ? 0 : PAGE_HEADER_SIZE) + (size_t)old.value_size;
    return overlaps(key, klen, run, len) || overlaps(val, vlen, run, len);
}

/* The put again, from a private copy of key and val. */
static int put_copy(struct ldb__pager *pg, struct tree_desc *t, const uint8_t *key, uint32_t klen,
                    const void *val, uint32_t vlen, unsigned flags)
{
    uint8_t *copy = ldb__malloc((size_t)klen + vlen + 1);
    if (copy == NULL)
        return -ENOMEM;
    if (klen)
        memcpy(copy, key, klen);
    if (vlen)
        memcpy(copy + klen, val, vlen);
    int rc = ldb__btree_put(pg, t, copy, klen, copy + klen, vlen, flags);
    ldb__free(copy);
    return rc;
}

/* The tail (pager.h, struct ldb__tail). An ascending load puts every key
 * after the last: each put would descend from the root to the rightmost
 * leaf, check every page on the way, and look each up in the dirty table
 * to find it is already this txn's copy. The put that ends at the tree's
 * end without splitting keeps its path instead; the next put whose key
 * sorts after that leaf's last key (the tree's greatest) starts there.
 * The path stays the rightmost one while no other write happens, so every
 * btree write forgets it before it changes anything, and only a put that
 * leaves it true (no split, no share, at the end) keeps it. */
#ifdef LDB_TEST_HOOKS
uint64_t ldb__btree_put_descents;
#endif

static void tail_forget(struct ldb__pager *pg)
{
    pg->tail.depth = 0;
}

static void tail_keep(struct ldb__pager *pg, const struct tree_desc *t,
                      const struct ldb__path *path)
{
    struct ldb__tail *tl = &pg->tail;
    tl->tree = t;
    tl->depth = path->depth;
    for (unsigned l = 0; l < path->depth; l++) {
        tl->pgno[l] = path->pgno[l];
        tl->page[l] = path->page[l];
    }
}

/* The last key of a leaf this txn wrote (count >= 1): its structure is
 * trusted, as on every dirty page (checked when copied). */
static const uint8_t *dirty_last_key(const uint8_t *leaf, uint32_t *ksize)
{
    unsigned last = ldb__le16(PAGE_CHDR(leaf)->count) - 1u;
    const uint8_t *node = leaf + ldb__le32(PAGE_CSLOTS(leaf)[last].offset);
    *ksize = ldb__rd16(node);
    return node + LEAF_NODE_HEADER;
}

/* Put the tail's leaf in path if the tail is t's and key sorts after every
 * key of t; 0 if not (the put then descends from the root). Only the leaf
 * level is filled: a put that splits asks tail_branches for the rest. */
static int tail_leaf(const struct ldb__pager *pg, const struct tree_desc *t, const uint8_t *key,
                     uint32_t klen, struct ldb__path *path)
{
    const struct ldb__tail *tl = &pg->tail;
    if (tl->depth == 0 || tl->tree != t || tl->depth != t->depth || tl->pgno[0] != t->root)
        return 0;
    unsigned leaf = tl->depth - 1;
    uint32_t lsize;
    const uint8_t *lkey = dirty_last_key(tl->page[leaf], &lsize);
    if (ldb__key_cmp(key, klen, lkey, lsize) <= 0)
        return 0;
    path->pgno[leaf] = tl->pgno[leaf];
    path->page[leaf] = tl->page[leaf];
    path->idx[leaf] = ldb__le16(PAGE_CHDR(tl->page[leaf])->count);
    path->depth = tl->depth;
    return 1;
}

/* The branch levels of a path tail_leaf filled, from the tail: the put
 * forgot the tail (its depth) but changed none of it yet. */
static void tail_branches(const struct ldb__tail *tl, struct ldb__path *path)
{
    for (unsigned l = 0; l + 1 < path->depth; l++) {
        path->pgno[l] = tl->pgno[l];
        path->page[l] = tl->page[l];
        path->idx[l] = ldb__le16(PAGE_CHDR(tl->page[l])->count) - 1u;
    }
}

/* Whether idx of the leaf at level leafl is past the tree's last key (the
 * rightmost leaf, at its end): an ascending load without LDB_APPEND splits
 * there as with it, keeping the left page full (a random load lands there
 * about once per leaf split of the whole tree, so its pages stay as they
 * are). */
static int at_tree_end(const struct ldb__path *path, unsigned leafl, unsigned idx)
{
    if (idx != ldb__le16(PAGE_CHDR(path->page[leafl])->count))
        return 0;
    for (unsigned l = 0; l < leafl; l++)
        if (path->idx[l] + 1u != ldb__le16(PAGE_CHDR(path->page[l])->count))
            return 0;
    return 1;
}

int ldb__btree_put(struct ldb__pager *pg, struct tree_desc *t, const uint8_t *key, uint32_t klen,
                   const void *val, uint32_t vlen, unsigned flags)
{
    struct ldb__path path;
    int exact = 0;
    uint32_t psize = pg->page_size;
    int from_tail = t->root != 0 && tail_leaf(pg, t, key, klen, &path);
    tail_forget(pg); /* kept again below if this put leaves it true */
    if (from_tail) {
        /* at the tree's end; the path is this txn's copy already */
    } else if (t->root == 0) {
        pgno_t root;
        uint8_t *rp;
        TRY(new_page(pg, PAGE_LEAF, &root, &rp));
        t->root = root;
        t->depth = 1;
        t->leaf_pages = 1;
        path.depth = 1;
        path.pgno[0] = root;
        path.page[0] = rp;
        path.idx[0] = 0;
    } else if (flags & LDB_APPEND) {
#ifdef LDB_TEST_HOOKS
        __atomic_fetch_add(&ldb__btree_put_descents, 1, __ATOMIC_RELAXED);
#endif
        TRY(seek_append(pg, t, key, klen, &path));
        TRY(touch_path(pg, t, &path));
    } else {
#ifdef LDB_TEST_HOOKS
        __atomic_fetch_add(&ldb__btree_put_descents, 1, __ATOMIC_RELAXED);
#endif
        TRY(ldb__btree_seek(pg, t, key, klen, &path, &exact));
        if (exact && (flags & LDB_NOOVERWRITE))
            return LDB_EXISTS;
        TRY(touch_path(pg, t, &path));
    }
    unsigned leafl = path.depth - 1, idx = path.idx[leafl];
    uint8_t *leaf = (uint8_t *)path.page[leafl];
    if (put_aliases(pg, leaf, idx, exact, key, klen, val, vlen))
        return put_copy(pg, t, key, klen, val, vlen, flags);
    int overflow = ldb__leaf_node_size(klen, vlen, 0) > ldb__leaf_inline_max(psize);
    int compressed = (flags & LDB__BTREE_COMPRESSED) != 0;
    if (exact) {
        struct page_node old;
        TRY(ldb__page_node(leaf, psize, idx, &old));
        if (!old.overflow && !overflow && old.value_size == vlen && old.compressed == compressed) {
            if (vlen)
                memcpy((uint8_t *)old.value, val, vlen); /* a dirty page: ours to write */
            return 0;
        }
        if (old.overflow)
            TRY(free_overflow(pg, t, &old));
        ldb__page_remove(leaf, psize, idx);
    }
    uint8_t ref[RUN_REF_SIZE]; /* the run as the node stores it */
    unsigned run_flags = 0;
    if (overflow)
        TRY(write_overflow(pg, t, val, vlen, ref, &run_flags));
    struct entry e = {key,      klen, overflow ? (const void *)ref : val, vlen, overflow,
                      (run_flags & NODE_BARE) != 0, compressed, 0};
    int append = from_tail || (flags & LDB_APPEND) != 0 || at_tree_end(&path, leafl, idx);
    int shared = 0;
    if (ldb__page_room(leaf) >= entry_size(&e, 1)) {
        ldb__page_insert_leaf(leaf, psize, idx, key, klen, e.value, vlen, node_flags(&e));
        if (from_tail)
            pg->tail.depth = path.depth; /* the same path, one entry longer */
        else if (append && !exact)
            tail_keep(pg, t, &path);
    } else if (!append && (shared = share_leaf(pg, t, &path, leafl, idx, &e)) != 0) {
        TRY(shared);
    } else {
        if (from_tail)
            tail_branches(&pg->tail, &path);
        TRY(split_insert(pg, t, &path, leafl, idx, e, append));
    }
    if (!exact)
        t->entries++;
    return 0;
}

/* Remove child slot idx of a branch page; slot 0 must keep an empty key. */
static void remove_child(uint8_t *parent, uint32_t psize, unsigned idx)
{
    ldb__page_remove(parent, psize, idx);
    if (idx == 0 && ldb__le16(PAGE_HDR(parent)->count) > 0) {
        struct page_node n;
        (void)ldb__page_node(parent, psize, 0, &n);
        pgno_t child = n.child;
        ldb__page_remove(parent, psize, 0);
        ldb__page_insert_branch(parent, psize, 0, NULL, 0, child);
    }
}

static void count_page(struct tree_desc *t, const uint8_t *p, int delta)
{
    if (ldb__le16(PAGE_CHDR(p)->type) == PAGE_LEAF)
        t->leaf_pages += (uint64_t)(int64_t)delta;
    else
        t->branch_pages += (uint64_t)(int64_t)delta;
}

/* Collapse an empty root, or a branch root with a single child. */
static int shrink_root(struct ldb__pager *pg, struct tree_desc *t, const uint8_t *root)
{
    for (;;) {
        const struct page_header *h = PAGE_CHDR(root);
        unsigned count = ldb__le16(h->count);
        if (count > 1 || (ldb__le16(h->type) == PAGE_LEAF && count == 1))
            return 0;
        count_page(t, root, -1);
        pgno_t old = t->root;
        if (ldb__le16(h->count) == 0) {
            t->root = 0;
            t->depth = 0;
        } else {
            struct page_node n;
            TRY(ldb__page_node(root, pg->page_size, 0, &n));
            t->root = n.child;
            t->depth--;
        }
        TRY(pg->release(pg->ctx, old, 1, 0));
        if (t->root == 0)
            return 0;
        TRY(fetch(pg, t, t->root, 0, &root));
    }
}

static int rebalance(struct ldb__pager *pg, struct tree_desc *t, struct ldb__path *path,
                     unsigned level)
{
    uint32_t psize = pg->page_size;
    for (;;) {
        uint8_t *page = (uint8_t *)path->page[level];
        const struct page_header *h = PAGE_CHDR(page);
        if (level == 0)
            return shrink_root(pg, t, page);
        uint8_t *parent = (uint8_t *)path->page[level - 1];
        unsigned pidx = path->idx[level - 1];
        if (ldb__le16(h->count) == 0) {
            count_page(t, page, -1);
            TRY(pg->release(pg->ctx, path->pgno[level], 1, 0));
            remove_child(parent, psize, pidx);
            level--;
            continue;
        }
        int is_leaf = ldb__le16(h->type) == PAGE_LEAF;
        if (ldb__page_used(page, psize) >= usable(psize) / 4 &&
            (is_leaf || ldb__le16(h->count) > 1))
            return 0;
        unsigned pn = ldb__le16(PAGE_CHDR(parent)->count);
        if (pn < 2)
            return 0;
        unsigned sidx = pidx + 1 < pn ? pidx + 1 : pidx - 1;
        unsigned lidx = sidx < pidx ? sidx : pidx, ridx = lidx + 1;
        struct page_node sepn;
        TRY(ldb__page_node(parent, psize, ridx, &sepn));
        struct ldb__path sp;
        TRY(sibling_path(pg, t, path, level, sidx, &sp));
        uint64_t merged = (uint64_t)ldb__page_used(page, psize) +
                          ldb__page_used(sp.page[level], psize) + (is_leaf ? 0 : sepn.key_size);
        if (merged > usable(psize))
            return 0;
        TRY(touch(pg, t, &sp, level));
        uint8_t *lp = (uint8_t *)(lidx == pidx ? page : sp.page[level]);
        uint8_t *rp = (uint8_t *)(lidx == pidx ? sp.page[level] : page);
        pgno_t rpgno = lidx == pidx ? sp.pgno[level] : path->pgno[level];
        unsigned rn = ldb__le16(PAGE_CHDR(rp)->count);
        for (unsigned i = 0; i < rn; i++) {
            struct page_node n;
            TRY(ldb__page_node(rp, psize, i, &n));
            struct entry e = node_entry(&n);
            if (!is_leaf && i == 0) { /* slot 0's empty key takes the separator */
                e.key = sepn.key;
                e.ksize = sepn.key_size;
            }
            append_entry(lp, psize, &e, is_leaf, 0);
        }
        count_page(t, rp, -1);
        TRY(pg->release(pg->ctx, rpgno, 1, 0));
        ldb__page_remove(parent, psize, ridx);
        level--;
    }
}

int ldb__btree_del(struct ldb__pager *pg, struct tree_desc *t, const uint8_t *key, uint32_t klen)
{
    struct ldb__path path;
    int exact;
    tail_forget(pg);
    TRY(ldb__btree_seek(pg, t, key, klen, &path, &exact));
    if (!exact)
        return LDB_NOTFOUND;
    TRY(touch_path(pg, t, &path));
    unsigned leafl = path.depth - 1;
    uint8_t *leaf = (uint8_t *)path.page[leafl];
    struct page_node n;
    TRY(ldb__page_node(leaf, pg->page_size, path.idx[leafl], &n));
    if (n.overflow)
        TRY(free_overflow(pg, t, &n));
    ldb__page_remove(leaf, pg->page_size, path.idx[leafl]);
    t->entries--;
    return rebalance(pg, t, &path, leafl);
}

static int drop_subtree(struct ldb__pager *pg, struct tree_desc *t, pgno_t pgno, unsigned level)
{
    const uint8_t *p = NULL;
    TRY(fetch(pg, t, pgno, level, &p));
    unsigned n = ldb__le16(PAGE_CHDR(p)->count);
    for (unsigned i = 0; i < n; i++) {
        struct page_node node;
        TRY(ldb__page_node(p, pg->page_size, i, &node));
        if (level + 1 < t->depth)
            TRY(drop_subtree(pg, t, node.child, level + 1));
        else if (node.overflow)
            TRY(free_overflow(pg, t, &node));
    }
    return pg->release(pg->ctx, pgno, 1, 0);
}

int ldb__btree_drop(struct ldb__pager *pg, struct tree_desc *t)
{
    tail_forget(pg);
    if (t->root != 0) {
        TRY(check_desc(t));
        TRY(drop_subtree(pg, t, t->root, 0));
    }
    memset(t, 0, sizeof *t);
    return 0;
}

/* ---- relocation (the shrink, space.c) ------------------------------------ */

struct relocation {
    struct ldb__pager *pg;
    struct tree_desc *t;
    struct ldb__path path;
    int (*want)(void *ctx, pgno_t pgno, uint32_t npages);
    void *ctx;
};

/* Copy levels 0..l of the path (touch is a no-op for pages already copied). */
static int touch_upto(struct relocation *r, unsigned l)
{
    for (unsigned i = 0; i <= l; i++)
        TRY(touch(r->pg, r->t, &r->path, i));
    return 0;
}

/* Move the overflow runs of the leaf at level l that r->want asks for: the
 * value is read (its checksum verified, so damage is not carried into a new
 * run), written to a new run of the same kind (the node keeps its size, so
 * its ref is rewritten in place) and the old run released. */
static int relocate_runs(struct relocation *r, unsigned l)
{
    uint32_t psize = r->pg->page_size;
    unsigned n = ldb__le16(PAGE_CHDR(r->path.page[l])->count);
    for (unsigned i = 0; i < n; i++) {
        struct page_node node;
        TRY(ldb__page_node(r->path.page[l], psize, i, &node));
        if (!node.overflow)
            continue;
        pgno_t ov = ldb__page_overflow_pgno(&node);
        if (ldb__pager_is_dirty(r->pg, ov))
            continue;
        uint64_t run = ldb__btree_run_pages(r->pg, &node);
        if (run == 0 || run > UINT32_MAX || !r->want(r->ctx, ov, (uint32_t)run))
            continue;
        ldb_val v;
        TRY(ldb__btree_node_value(r->pg, &node, &v)); /* checks the run */
        TRY(touch_upto(r, l));
        uint8_t ref[RUN_REF_SIZE];
        if (node.bare)
            TRY(write_bare_run(r->pg, r->t, v.data, (uint32_t)v.size, ref));
        else
            TRY(write_headed_run(r->pg, r->t, v.data, (uint32_t)v.size, ref));
        TRY(ldb__page_node(r->path.page[l], psize, i, &node));
        TRY(free_overflow(r->pg, r->t, &node));
        /* as the put wrote it: same kind, same size */
        memcpy((uint8_t *)(uintptr_t)node.value, ref, node.bare ? RUN_REF_SIZE : sizeof(pgno_t));
    }
    return 0;
}

static int relocate_level(struct relocation *r, unsigned l)
{
    struct ldb__path *path = &r->path;
    if (!ldb__pager_is_dirty(r->pg, path->pgno[l]) && r->want(r->ctx, path->pgno[l], 1))
        TRY(touch_upto(r, l));
    if (l + 1 == r->t->depth)
        return r->t->overflow_pages ? relocate_runs(r, l) : 0;
    /* Children that are leaves without runs need no visit unless moved. */
    int leaves = l + 2 == r->t->depth && r->t->overflow_pages == 0;
    unsigned n = ldb__le16(PAGE_CHDR(path->page[l])->count);
    for (unsigned i = 0; i < n; i++) {
        pgno_t child = 0;
        TRY(branch_child(path->page[l], r->pg->page_size, i, &child));
        if (leaves && (ldb__pager_is_dirty(r->pg, child) || !r->want(r->ctx, child, 1)))
            continue;
        path->idx[l] = i;
        path->pgno[l + 1] = child;
        TRY(fetch(r->pg, r->t, child, l + 1, &path->page[l + 1]));
        path->depth = l + 2;
        TRY(relocate_level(r, l + 1));
    }
    return 0;
}

int ldb__btree_relocate(struct ldb__pager *pg, struct tree_desc *t,
                        int (*want)(void *ctx, pgno_t pgno, uint32_t npages), void *ctx)
{
    tail_forget(pg);
    if (t->root == 0)
        return 0;
    TRY(check_desc(t));
    struct relocation r = {.pg = pg, .t = t, .want = want, .ctx = ctx};
    r.path.pgno[0] = t->root;
    TRY(fetch(pg, t, t->root, 0, &r.path.page[0]));
    r.path.depth = 1;
    return relocate_level(&r, 0);
}
