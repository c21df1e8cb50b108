/* SPDX-License-Identifier: MIT */
/*
 * pager.c: the dirty-page table, an open-addressing hash from page number
 * to the txn's private copy. Lookups happen on every page a write txn
 * touches, so it is a flat array with linear probing and a cheap hash.
 */
#include "pager.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define TOMBSTONE ((uint8_t *)(uintptr_t)1)

/* Every table starts at this many slots and doubles. */
#define DIRTY_FIRST_CAP 256

static inline size_t hash_pgno(pgno_t pgno, size_t cap)
{
    return (size_t)((pgno * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

const uint8_t *ldb__dirty_find(const struct ldb__dirty_table *t, pgno_t pgno)
{
    if (t->cap == 0)
        return NULL;
    for (size_t i = hash_pgno(pgno, t->cap);; i = (i + 1) & (t->cap - 1)) {
        const struct ldb__dirty_entry *e = &t->slots[i];
        if (e->pgno == pgno && e->buf != TOMBSTONE)
            return e->buf;
        if (e->pgno == 0)
            return NULL;
    }
}

#ifdef LDB_TEST_HOOKS
uint64_t ldb__dirty_grows;
#endif

/* A zeroed slot array of ncap slots, or of the pool's spare's size if that
 * is larger (and this table is past its first size). */
static struct ldb__dirty_entry *dirty_slots(struct ldb__dirty_table *t, size_t *ncap)
{
    struct ldb__buffer_pool *pool = t->pool;
    if (t->cap == 0 && pool != NULL && pool->first_slots != NULL && *ncap == DIRTY_FIRST_CAP) {
        struct ldb__dirty_entry *ns = pool->first_slots;
        pool->first_slots = NULL;
        return ns;
    }
    if (t->cap != 0 && pool != NULL && pool->spare_cap >= *ncap) {
        struct ldb__dirty_entry *ns = pool->spare_slots;
        *ncap = pool->spare_cap;
        pool->spare_slots = NULL;
        pool->spare_cap = 0;
        return ns;
    }
    return ldb__calloc(*ncap, sizeof(struct ldb__dirty_entry));
}

/* Whether t's slot array, of the first size, goes back to the pool for the
 * next txn's start (zeroed by the caller): the pool has none now. */
static int keeps_first_slots(const struct ldb__dirty_table *t)
{
    return t->pool != NULL && t->cap == DIRTY_FIRST_CAP && t->pool->first_slots == NULL;
}

/* The table's old slot array after a grow. */
static void dirty_slots_release(struct ldb__dirty_table *t)
{
    if (keeps_first_slots(t)) {
        memset(t->slots, 0, t->cap * sizeof *t->slots);
        t->pool->first_slots = t->slots;
    } else {
        ldb__free(t->slots);
    }
}

static int dirty_grow(struct ldb__dirty_table *t)
{
    size_t ncap = t->cap ? t->cap * 2 : DIRTY_FIRST_CAP;
    if (t->count * 4 < t->cap) /* mostly tombstones: rehash in place size */
        ncap = t->cap;
    struct ldb__dirty_entry *ns = dirty_slots(t, &ncap);
    if (ns == NULL)
        return -ENOMEM;
#ifdef LDB_TEST_HOOKS
    __atomic_fetch_add(&ldb__dirty_grows, 1, __ATOMIC_RELAXED);
#endif
    for (size_t i = 0; i < t->cap; i++) {
        struct ldb__dirty_entry *e = &t->slots[i];
        if (e->pgno == 0 || e->buf == TOMBSTONE)
            continue;
        size_t j = hash_pgno(e->pgno, ncap);
        while (ns[j].pgno != 0)
            j = (j + 1) & (ncap - 1);
        ns[j] = *e;
    }
    dirty_slots_release(t);
    t->slots = ns;
    t->cap = ncap;
    t->tombstones = 0;
    return 0;
}

int ldb__dirty_add(struct ldb__dirty_table *t, pgno_t pgno, uint8_t *buf, uint32_t npages)
{
    if ((t->count + t->tombstones + 1) * 4 > t->cap * 3)
        TRY(dirty_grow(t));
    size_t i = hash_pgno(pgno, t->cap);
    while (t->slots[i].pgno != 0 && t->slots[i].buf != TOMBSTONE)
        i = (i + 1) & (t->cap - 1);
    if (t->slots[i].buf == TOMBSTONE)
        t->tombstones--;
    t->slots[i].pgno = pgno;
    t->slots[i].buf = buf;
    t->slots[i].npages = npages;
    t->slots[i].bare = 0;
    t->count++;
    return 0;
}

void ldb__dirty_set_bare(struct ldb__dirty_table *t, pgno_t pgno)
{
    if (t->cap == 0)
        return;
    for (size_t i = hash_pgno(pgno, t->cap);; i = (i + 1) & (t->cap - 1)) {
        struct ldb__dirty_entry *e = &t->slots[i];
        if (e->pgno == pgno && e->buf != TOMBSTONE) {
            e->bare = 1;
            return;
        }
        if (e->pgno == 0)
            return;
    }
}

uint8_t *ldb__dirty_remove(struct ldb__dirty_table *t, pgno_t pgno)
{
    if (t->cap == 0)
        return NULL;
    for (size_t i = hash_pgno(pgno, t->cap);; i = (i + 1) & (t->cap - 1)) {
        struct ldb__dirty_entry *e = &t->slots[i];
        if (e->pgno == pgno && e->buf != TOMBSTONE) {
            uint8_t *buf = e->buf;
            e->buf = TOMBSTONE; /* keep pgno so probe chains stay intact */
            t->count--;
            t->tombstones++;
            return buf;
        }
        if (e->pgno == 0)
            return NULL;
    }
}

/* Only the slots in use are written: a small txn's table is mostly empty,
 * and reading it is cheaper than clearing it. */
void ldb__dirty_clear(struct ldb__dirty_table *t)
{
    static const struct ldb__dirty_entry empty;
    for (size_t i = 0; i < t->cap; i++) {
        struct ldb__dirty_entry *e = &t->slots[i];
        if (e->pgno == 0)
            continue;
        if (e->buf != TOMBSTONE)
            ldb__buffer_put(t->pool, e->buf, e->npages);
        *e = empty;
    }
    t->count = 0;
    t->tombstones = 0;
}

void ldb__dirty_destroy(struct ldb__dirty_table *t)
{
    ldb__dirty_clear(t); /* all zeros now */
    struct ldb__buffer_pool *pool = t->pool;
    if (keeps_first_slots(t)) {
        pool->first_slots = t->slots;
    } else if (pool != NULL && t->cap > pool->spare_cap) {
        ldb__free(pool->spare_slots);
        pool->spare_slots = t->slots;
        pool->spare_cap = t->cap;
    } else {
        ldb__free(t->slots);
    }
    t->slots = NULL;
    t->cap = 0;
}

static uint8_t *buffer_alloc(uint32_t page_size, uint32_t npages)
{
    void *p = NULL;
    size_t len = (size_t)page_size * npages;
    if (ldb__memalign(&p, 4096, len) != 0)
        return NULL;
    memset(p, 0, len);
    return p;
}

/* At most this many spare pages are kept (16 MiB of 4 KiB pages). */
#define POOL_MAX 4096u

uint8_t *ldb__buffer_get(struct ldb__buffer_pool *pool, uint32_t npages)
{
    if (pool != NULL && npages == 1 && pool->len > 0)
        return pool->bufs[--pool->len]; /* not zeroed: see ldb__buffer_get */
    return buffer_alloc(pool ? pool->page_size : 4096, npages);
}

void ldb__buffer_put(struct ldb__buffer_pool *pool, uint8_t *buf, uint32_t npages)
{
    if (buf == NULL)
        return;
    if (pool != NULL && npages == 1 && pool->len < POOL_MAX) {
        if (pool->len == pool->cap) {
            uint8_t **nb =
                ldb__array_grow(pool->bufs, &pool->cap, pool->len + 1, sizeof *nb, 256);
            if (nb == NULL) {
                ldb__free(buf);
                return;
            }
            pool->bufs = nb;
        }
        pool->bufs[pool->len++] = buf;
        return;
    }
    ldb__free(buf);
}

void ldb__buffer_pool_destroy(struct ldb__buffer_pool *pool)
{
    for (size_t i = 0; i < pool->len; i++)
        ldb__free(pool->bufs[i]);
    ldb__free(pool->bufs);
    ldb__free(pool->spare_slots);
    ldb__free(pool->first_slots);
    memset(pool, 0, sizeof *pool);
}

void ldb__written_note(struct ldb__written *w, const uint8_t *page, pgno_t pgno)
{
    if (pgno >= LDB_WRITTEN_MAX)
        return;
    if (pgno >= w->len) {
        uint64_t nlen = w->len ? w->len : 1024;
        while (nlen <= pgno)
            nlen *= 2;
        if (nlen > LDB_WRITTEN_MAX)
            nlen = LDB_WRITTEN_MAX;
        struct ldb__written_page *nv = ldb__realloc(w->v, nlen * sizeof *nv);
        if (nv == NULL)
            return;
        memset(nv + w->len, 0, (nlen - w->len) * sizeof *nv);
        w->v = nv;
        w->len = nlen;
    }
    const struct page_header *h = (const struct page_header *)(const void *)page;
    w->v[pgno].txnid_lo = (uint32_t)ldb__le64(h->txnid);
    w->v[pgno].checksum = ldb__le32(h->checksum);
}

void ldb__written_destroy(struct ldb__written *w)
{
    ldb__free(w->v);
    w->v = NULL;
    w->len = 0;
}
