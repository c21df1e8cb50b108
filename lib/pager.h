/* SPDX-License-Identifier: MIT */
/*
 * pager.h: how a txn reaches pages. A read txn sees only the shared map,
 * bounded by its snapshot's page count; a write txn also has its dirty
 * table (private copies of the pages it changed, by page number) and the
 * allocator callbacks its txn supplies. The btree, cursor and freelist code
 * go through this and nothing else, so they work the same in both kinds.
 *
 * Ownership: the dirty table owns its buffers (page-aligned, one per page,
 * or one per overflow run keyed by the run's first page).
 */
#ifndef LDB_PAGER_H
#define LDB_PAGER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "format.h"

struct ldb__dirty_entry {
    pgno_t pgno;     /* 0 = empty slot (page 0 is a meta page, never dirty) */
    uint8_t *buf;
    uint32_t npages; /* 1, or the length of an overflow run */
    uint32_t bare;   /* a bare overflow run: raw bytes, no header to seal */
};

/* Page buffers kept for reuse by the env's write txns (one at a time per
 * env, under the writer mutex): allocating and faulting in fresh memory for
 * every copied page costs more than the copy. Single pages only. */
struct ldb__buffer_pool {
    uint8_t **bufs;
    size_t len, cap;
    uint32_t page_size;
    /* The largest dirty table a past txn grew, all zeros: a large txn grows
     * into it at once instead of doubling from 256 slots and rehashing at
     * every step (a thousand random puts: four grows per txn). A small txn
     * never needs it, so it never clears the larger table. */
    struct ldb__dirty_entry *spare_slots;
    size_t spare_cap;
    /* A zeroed table of the first size, kept apart from the spare: every
     * txn starts at that size, and took a 6 KiB calloc and a memset of it
     * however few pages it changed. */
    struct ldb__dirty_entry *first_slots;
};

struct ldb__dirty_table {
    struct ldb__buffer_pool *pool; /* where cleared buffers go */
    struct ldb__dirty_entry *slots;
    size_t cap;   /* power of two */
    size_t count;
    size_t tombstones;
};

/* Pages this env's writer wrote to the data file, indexed by page number:
 * the low half of the writing txn's id and the checksum it sealed. A write
 * txn copies a committed page whose header still carries both without
 * checking it again: the map shows what this process wrote moments before
 * (docs/design.md, "Copy-on-write without a second check"). Any other
 * write of that page (another process's writer, a txn whose commit failed
 * and whose id was reused) carries another id or checksum and is checked
 * as any page read from the file. Under the writer mutex; an entry of
 * zeros is empty (no page is stamped with txn id 0). */
struct ldb__written_page {
    uint32_t txnid_lo;
    uint32_t checksum;
};
struct ldb__written {
    struct ldb__written_page *v;
    uint64_t len;
};
/* Pages past this are not remembered (32 MiB of table: 16 GiB of file at
 * 4 KiB pages); they are checked on every copy. */
#define LDB_WRITTEN_MAX (1ull << 22)

/* Write txns: the rightmost root-to-leaf path of the tree whose last write
 * was a put at its end, so that the next put after its last key (an
 * ascending load) starts at that leaf instead of descending from the root
 * and touching the path again (btree.c, "The tail"). Its pages are this
 * txn's dirty copies. Valid only from that put to the next btree write of
 * any tree: every write forgets it first. depth 0: none. */
struct ldb__tail {
    const void *tree;   /* the tree_desc it belongs to */
    unsigned depth;
    pgno_t pgno[LDB_MAX_DEPTH];
    const uint8_t *page[LDB_MAX_DEPTH];
};

struct ldb__pager {
    const uint8_t *map;     /* the data file, mapped read-only */
    uint32_t page_size;
    uint64_t npages;        /* pages a reference may name: the snapshot's
                               high-water mark, or the writer's current one */
    uint64_t txnid;         /* stamped into pages this txn writes */
    struct ldb__dirty_table *dirty; /* NULL in a read txn */
    /* Write txns only: get npages fresh pages (a dirty buffer registered in
     * the table), and give back a page this txn no longer references.
     * written_by is the txn that wrote a committed page (it decides whether
     * the last checkpoint still needs it); 0: read it from the page's
     * header (a bare run has none: its leaf node's run_ref tells). */
    int (*alloc)(void *ctx, uint32_t npages, pgno_t *pgno, uint8_t **buf);
    int (*release)(void *ctx, pgno_t pgno, uint32_t npages, uint64_t written_by);
    void *ctx;
    const struct ldb__written *written; /* write txns: the env's, or NULL */
    struct ldb__tail tail;              /* write txns only */
};

const uint8_t *ldb__dirty_find(const struct ldb__dirty_table *t, pgno_t pgno);
int ldb__dirty_add(struct ldb__dirty_table *t, pgno_t pgno, uint8_t *buf, uint32_t npages);
/* Remove and return the buffer (the caller frees it), or NULL. */
uint8_t *ldb__dirty_remove(struct ldb__dirty_table *t, pgno_t pgno);
/* Mark the entry of pgno (just added) as a bare run: the commit writes it
 * as it is, with no header to checksum (format.h, struct run_ref). */
void ldb__dirty_set_bare(struct ldb__dirty_table *t, pgno_t pgno);
/* Free every buffer and empty the table (keeps its capacity). */
void ldb__dirty_clear(struct ldb__dirty_table *t);
/* Free every buffer; the slot array goes to the pool as its spare if it
 * is larger than the one the pool holds (freed otherwise). */
void ldb__dirty_destroy(struct ldb__dirty_table *t);
/* A page-aligned buffer of npages pages (from the pool if it has one; a
 * pooled buffer holds an old page: whoever fills it overwrites or zeroes
 * all of it, so no stale bytes reach the file), and giving one back. */
uint8_t *ldb__buffer_get(struct ldb__buffer_pool *pool, uint32_t npages);
void ldb__buffer_put(struct ldb__buffer_pool *pool, uint8_t *buf, uint32_t npages);
void ldb__buffer_pool_destroy(struct ldb__buffer_pool *pool);

/* Remember that page (sealed, one page, at pgno) is in the data file now.
 * Best effort: without memory for the table, the page is merely checked
 * again when copied. */
void ldb__written_note(struct ldb__written *w, const uint8_t *page, pgno_t pgno);
void ldb__written_destroy(struct ldb__written *w);

/* 1 if page (the map's copy of pgno) is, by its header, what this env's
 * writer wrote there: its contents need no second check. */
static inline int ldb__written_match(const struct ldb__written *w, const uint8_t *page,
                                     pgno_t pgno)
{
    if (w == NULL || pgno >= w->len)
        return 0;
    const struct page_header *h = (const struct page_header *)(const void *)page;
    const struct ldb__written_page *e = &w->v[pgno];
    return e->txnid_lo != 0 && e->txnid_lo == (uint32_t)ldb__le64(h->txnid) &&
           e->checksum == ldb__le32(h->checksum) && ldb__le64(h->pgno) == pgno;
}

/* The page named pgno: the txn's dirty copy if it has one, else the map.
 * A number outside the snapshot gives LDB_CORRUPTED. */
static inline int ldb__pager_get(const struct ldb__pager *pg, pgno_t pgno, const uint8_t **page)
{
    if (LDB_UNLIKELY(pgno < LDB_META_PAGES || pgno >= pg->npages))
        return LDB_CORRUPT();
    if (pg->dirty != NULL && pg->dirty->count != 0) {
        const uint8_t *d = ldb__dirty_find(pg->dirty, pgno);
        if (d != NULL) {
            *page = d;
            return 0;
        }
    }
    *page = pg->map + (size_t)pgno * pg->page_size;
    return 0;
}

/* 1 if pgno is a dirty (writable) page of this txn. */
static inline int ldb__pager_is_dirty(const struct ldb__pager *pg, pgno_t pgno)
{
    return pg->dirty != NULL && ldb__dirty_find(pg->dirty, pgno) != NULL;
}

#ifdef LDB_TEST_HOOKS
/* Dirty tables grown (a new slot array), in this process: tests see a
 * large txn grow into the spare its predecessor left in one step. */
extern uint64_t ldb__dirty_grows;
#endif

#endif
