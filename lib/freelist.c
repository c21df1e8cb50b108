/* SPDX-License-Identifier: MIT */
/*
 * freelist.c: the writer's pool of reusable pages and the free tree.
 * See freelist.h for the rules.
 */
#include "freelist.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "btree.h"
#include "error.h"

static int list_reserve(struct ldb__pgno_list *l, size_t extra)
{
    if (l->len + extra <= l->cap)
        return 0;
    pgno_t *p = ldb__array_grow(l->items, &l->cap, l->len + extra, sizeof *p, 64);
    if (p == NULL)
        return -ENOMEM;
    l->items = p;
    return 0;
}

static int cmp_desc(const void *a, const void *b)
{
    pgno_t x = *(const pgno_t *)a, y = *(const pgno_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int cmp_asc(const void *a, const void *b)
{
    return -cmp_desc(a, b);
}

/* Digits of 8 bits below RADIX_WIDE_MIN page numbers, 11 above: a pass
 * clears and sums one counter per digit value, and a commit sorts lists of
 * about a thousand, where 2,048 counters a pass cost more than the numbers
 * themselves (docs/benchmarks.md, "Random loads, fifth pass"). */
#define RADIX_BITS_SMALL 8
#define RADIX_BITS_WIDE 11
#define RADIX_WIDE_MIN 8192
#define RADIX_MAX_SIZE (1u << RADIX_BITS_WIDE)

#ifdef LDB_TEST_HOOKS
uint64_t ldb__pgno_sort_passes;
#endif

/* One stable pass of the radix sort: src by the bits-wide digit at shift
 * into dst. */
static void radix_pass(const pgno_t *src, pgno_t *dst, size_t n, unsigned shift, unsigned bits,
                       int descending)
{
    size_t count[RADIX_MAX_SIZE];
    unsigned size = 1u << bits;
    pgno_t mask = size - 1;
    memset(count, 0, size * sizeof *count);
    for (size_t i = 0; i < n; i++)
        count[(src[i] >> shift) & mask]++;
    size_t sum = 0;
    for (unsigned d = 0; d < size; d++) {
        unsigned b = descending ? size - 1 - d : d;
        size_t c = count[b];
        count[b] = sum;
        sum += c;
    }
    for (size_t i = 0; i < n; i++)
        dst[count[(src[i] >> shift) & mask]++] = src[i];
#ifdef LDB_TEST_HOOKS
    __atomic_fetch_add(&ldb__pgno_sort_passes, 1, __ATOMIC_RELAXED);
#endif
}

/* Page numbers are dense and small (a 16 GiB file of 4 KiB pages needs 22
 * bits), so a least-significant-digit radix sort takes a few linear
 * passes: it replaced qsort, which took 16% of a random overwrite's
 * instructions (docs/benchmarks.md). Only the bits that differ between the
 * numbers get a pass: a digit every number shares would leave the order as
 * it is (the commit's dirty list packs an index under each page number,
 * with zero bits between the two). */
void ldb__pgno_sort(pgno_t *v, size_t n, int descending)
{
    if (n < 2)
        return;
    pgno_t any = 0, every = ~(pgno_t)0;
    for (size_t i = 0; i < n; i++) {
        any |= v[i];
        every &= v[i];
    }
    pgno_t differ = any ^ every;
    if (differ == 0)
        return; /* all equal */
    pgno_t *tmp = n >= 256 ? ldb__malloc(n * sizeof *tmp) : NULL;
    if (tmp == NULL) { /* short, or no memory: sorting must not fail */
        qsort(v, n, sizeof *v, descending ? cmp_desc : cmp_asc);
        return;
    }
    unsigned bits = n >= RADIX_WIDE_MIN ? RADIX_BITS_WIDE : RADIX_BITS_SMALL;
    pgno_t mask = ((pgno_t)1 << bits) - 1;
    pgno_t *src = v, *dst = tmp;
    for (unsigned shift = (unsigned)__builtin_ctzll(differ); shift < 64 && (differ >> shift) != 0;
         shift += bits) {
        if (((differ >> shift) & mask) == 0)
            continue;
        radix_pass(src, dst, n, shift, bits, descending);
        pgno_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != v)
        memcpy(v, src, n * sizeof *v);
    ldb__free(tmp);
}

static void sort_pgnos(pgno_t *items, size_t n, int (*cmp)(const void *, const void *))
{
    ldb__pgno_sort(items, n, cmp == cmp_desc);
}

void ldb__freelist_init(struct ldb__freelist *fl)
{
    memset(fl, 0, sizeof *fl);
}

void ldb__freelist_destroy(struct ldb__freelist *fl)
{
    ldb__free(fl->pool.items);
    ldb__free(fl->freed.items);
    ldb__free(fl->held.items);
    memset(fl, 0, sizeof *fl);
}

/* Take n consecutive pages from the pool (sorted largest first, so the
 * smallest page numbers are used first and the file stays compact). */
static int take_from_pool(struct ldb__freelist *fl, uint32_t n, pgno_t *pgno)
{
    struct ldb__pgno_list *p = &fl->pool;
    if (p->len == 0)
        return 0;
    if (n == 1) {
        *pgno = p->items[--p->len];
        return 1;
    }
    uint32_t run = 1;
    for (size_t j = p->len - 1; j > 0; j--) {
        run = p->items[j - 1] == p->items[j] + 1 ? run + 1 : 1;
        if (run == n) {
            /* items[j-1 .. j-1+n) hold the run, descending; its first page
             * is the last of them. */
            size_t start = j - 1;
            *pgno = p->items[start + n - 1];
            memmove(&p->items[start], &p->items[start + n], (p->len - start - n) * sizeof(pgno_t));
            p->len -= n;
            return 1;
        }
    }
    return 0;
}

static uint64_t be64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}

static void free_key(uint8_t key[FREE_KEY_SIZE], uint64_t txnid, uint32_t chunk)
{
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(txnid >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        key[8 + i] = (uint8_t)(chunk >> (24 - 8 * i));
}

static uint32_t be32(const uint8_t *b)
{
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

/* The pool is sorted (descending) up to old, and a record's pages (at most
 * FREE_CHUNK_PAGES, ascending as ldb__freelist_save writes them) follow:
 * make the whole pool sorted by merging the short run in, not by sorting
 * the pool again on every record loaded. */
static void merge_into_pool(struct ldb__pgno_list *p, size_t old)
{
    pgno_t *v = p->items, run[FREE_CHUNK_PAGES];
    size_t n = p->len - old, i, j, k;
    for (i = 0; i < n / 2; i++) {
        pgno_t t = v[old + i];
        v[old + i] = v[old + n - 1 - i];
        v[old + n - 1 - i] = t;
    }
    for (i = 1; i < n && v[old + i - 1] >= v[old + i]; i++)
        ;
    if (i < n || n > FREE_CHUNK_PAGES) { /* not as written: sort it all */
        sort_pgnos(v, p->len, cmp_desc);
        return;
    }
    if (n == 0 || old == 0 || v[old - 1] >= v[old])
        return;
    memcpy(run, v + old, n * sizeof *run);
    /* Fill from the end (the smallest) backwards. */
    for (i = old, j = n, k = p->len; j > 0;)
        v[--k] = i > 0 && v[i - 1] < run[j - 1] ? v[--i] : run[--j];
}

#ifdef LDB_TEST_HOOKS
uint64_t ldb__freelist_records_seen;
#endif

/* The first record a load may take: from the tree's first key, or from
 * the resume point (freelist.h) when one is known. */
static int first_candidate(const struct ldb__freelist *fl, struct ldb__pager *pg,
                           struct tree_desc *ft, struct ldb__path *path)
{
    if (!fl->resume_valid)
        return ldb__btree_first(pg, ft, path);
    int exact;
    TRY(ldb__btree_seek(pg, ft, fl->resume_key, FREE_KEY_SIZE, path, &exact));
    if (path->depth == 0)
        return LDB_NOTFOUND;
    unsigned leaf = path->depth - 1;
    if (path->idx[leaf] < ldb__le16(PAGE_CHDR(path->page[leaf])->count))
        return 0;
    return ldb__btree_next(pg, path); /* past this leaf's last key */
}

/* Move the oldest loadable free record into the pool. 1 if one was loaded,
 * 0 if none can be. */
static int load_record(struct ldb__freelist *fl, struct ldb__pager *pg, struct tree_desc *ft)
{
    struct ldb__path path;
    ldb_val k, v;
    int rc = first_candidate(fl, pg, ft, &path);
    for (;; rc = ldb__btree_next(pg, &path)) {
        if (rc == LDB_NOTFOUND)
            return 0;
        TRY(rc);
        TRY(ldb__btree_entry(pg, &path, &k, &v));
#ifdef LDB_TEST_HOOKS
        __atomic_fetch_add(&ldb__freelist_records_seen, 1, __ATOMIC_RELAXED);
#endif
        if (k.size != FREE_KEY_SIZE || v.size % sizeof(pgno_t) != 0 ||
            v.size > FREE_CHUNK_PAGES * sizeof(pgno_t))
            return LDB_CORRUPT();
        uint64_t txnid = be64(k.data);
        if (txnid > fl->reuse_bound) {
            fl->held_back = 1; /* and every later record: keys are in txn order */
            memcpy(fl->resume_key, k.data, FREE_KEY_SIZE);
            fl->resume_valid = 1;
            return 0;
        }
        if (be32((const uint8_t *)k.data + 8) >= HELD_CHUNK && txnid > fl->checkpoint) {
            fl->held_for_checkpoint = 1;
            continue; /* checkpointed pages: not before the next checkpoint */
        }
        break;
    }
    uint8_t key[FREE_KEY_SIZE];
    memcpy(key, k.data, FREE_KEY_SIZE);
    /* Every record before this one was skipped and stays so until the
     * checkpoint moves (ldb__freelist_checkpointed forgets the point). */
    memcpy(fl->resume_key, key, FREE_KEY_SIZE);
    fl->resume_valid = 1;
    size_t n = v.size / sizeof(pgno_t);
    TRY(list_reserve(&fl->pool, n));
    /* Into the pool first, so deleting the record can use its pages. */
    for (size_t i = 0; i < n; i++) {
        pgno_t p = ldb__ld_le64((const uint8_t *)v.data + i * sizeof p);
        if (p < LDB_META_PAGES || p >= pg->npages)
            return LDB_CORRUPT();
        fl->pool.items[fl->pool.len++] = p;
    }
    merge_into_pool(&fl->pool, fl->pool.len - n);
    fl->busy = 1;
    rc = ldb__btree_del(pg, ft, key, FREE_KEY_SIZE);
    fl->busy = 0;
    TRY(rc);
    return 1;
}

int ldb__freelist_take(struct ldb__freelist *fl, struct ldb__pager *pg, struct tree_desc *ft,
                       uint32_t n, pgno_t *pgno)
{
    *pgno = 0;
    for (;;) {
        if (take_from_pool(fl, n, pgno))
            return 0;
        if (fl->busy || fl->records_exhausted)
            return 0;
        int rc = load_record(fl, pg, ft);
        TRY(rc);
        if (rc == 0) {
            fl->records_exhausted = 1;
            return 0;
        }
    }
}

/* Put pgno into the pool at its place (largest first): a txn gives back a
 * page it allocated one at a time, and sorting the whole pool again for
 * each cost more than the move. */
static void pool_insert(struct ldb__pgno_list *p, pgno_t pgno)
{
    size_t lo = 0, hi = p->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->items[mid] > pgno)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(&p->items[lo + 1], &p->items[lo], (p->len - lo) * sizeof *p->items);
    p->items[lo] = pgno;
    p->len++;
}

int ldb__freelist_give(struct ldb__freelist *fl, pgno_t pgno, uint32_t n, int was_dirty,
                       uint64_t written_by)
{
    struct ldb__pgno_list *l = was_dirty                   ? &fl->pool
                               : written_by > fl->checkpoint ? &fl->freed
                                                             : &fl->held;
    TRY(list_reserve(l, n));
    for (uint32_t i = 0; i < n; i++) {
        if (was_dirty)
            pool_insert(l, pgno + i);
        else
            l->items[l->len++] = pgno + i;
    }
    return 0;
}

/* Whether l is sorted largest first. */
static int sorted_desc(const struct ldb__pgno_list *l)
{
    for (size_t i = 1; i < l->len; i++)
        if (l->items[i - 1] < l->items[i])
            return 0;
    return 1;
}

/* The union of lists a and b (b may be NULL; the pool, largest first),
 * ascending, in a new array: a sorted, then b merged in from its end,
 * not the two sorted again together at every commit. */
static int merged_list(const struct ldb__pgno_list *a, const struct ldb__pgno_list *b, pgno_t **out,
                       size_t *len)
{
    size_t alen = a->len, blen = b ? b->len : 0, n = alen + blen;
    pgno_t *m = ldb__malloc((n ? n : 1) * sizeof *m);
    if (m == NULL)
        return -ENOMEM;
    if (alen)
        memcpy(m, a->items, alen * sizeof *m);
    if (blen && !sorted_desc(b)) { /* not as kept: sort it all */
        memcpy(m + alen, b->items, blen * sizeof *m);
        sort_pgnos(m, n, cmp_asc);
    } else {
        sort_pgnos(m, alen, cmp_asc);
        /* From the largest down: m[i..] and b[j..] still to place, the
         * write position k never below i. */
        for (size_t i = alen, j = 0, k = n; j < blen;)
            m[--k] = i > 0 && m[i - 1] > b->items[j] ? m[--i] : b->items[j++];
    }
    *out = m;
    *len = n;
    return 0;
}

/* Write list under keys (txnid, base + c) for c < *chunks, growing *chunks
 * to fit but never shrinking it (see ldb__freelist_save). */
static int write_chunks(struct ldb__pager *pg, struct tree_desc *ft, uint64_t txnid, uint32_t base,
                        const pgno_t *list, size_t len, uint32_t *chunks)
{
    uint32_t need = (uint32_t)((len + FREE_CHUNK_PAGES - 1) / FREE_CHUNK_PAGES);
    if (need > *chunks)
        *chunks = need;
    for (uint32_t c = 0; c < *chunks; c++) {
        uint8_t key[FREE_KEY_SIZE];
        free_key(key, txnid, base + c);
        size_t from = (size_t)c * FREE_CHUNK_PAGES;
        size_t n = from >= len ? 0 : len - from;
        if (n > FREE_CHUNK_PAGES)
            n = FREE_CHUNK_PAGES;
        uint8_t val[FREE_CHUNK_PAGES * sizeof(pgno_t)]; /* stored: little-endian */
        for (size_t i = 0; i < n; i++)
            ldb__st_le64(val + i * sizeof(pgno_t), list[from + i]);
        TRY(ldb__btree_put(pg, ft, key, FREE_KEY_SIZE, val, (uint32_t)(n * sizeof(pgno_t)), 0));
    }
    return 0;
}

int ldb__freelist_save(struct ldb__freelist *fl, struct ldb__pager *pg, struct tree_desc *ft,
                       uint64_t txnid)
{
    /* Writing the records can itself use pool pages (a split of the free
     * tree) and free pages (its first copy-on-write). Rewrite until what is
     * written equals what is free. Chunk counts never shrink between rounds
     * (no deletes, so no merges that would free pages), so after the first
     * round each further round has strictly fewer pool pages: the loop ends. */
    uint32_t plain_chunks = 0, held_chunks = 0;
    pgno_t *wplain = NULL, *wheld = NULL;
    size_t wplain_len = 0, wheld_len = 0;
    int rc = 0;
    fl->busy = 1;
    fl->resume_valid = 0; /* the records change under any saved point */
    for (int round = 0;; round++) {
        pgno_t *plain, *held;
        size_t plain_len, held_len;
        CHECK_GOTO(rc, merged_list(&fl->freed, &fl->pool, &plain, &plain_len), out);
        rc = merged_list(&fl->held, NULL, &held, &held_len);
        if (rc < 0) {
            ldb__free(plain);
            goto out;
        }
        int same = wplain != NULL && plain_len == wplain_len && held_len == wheld_len &&
                   memcmp(plain, wplain, plain_len * sizeof *plain) == 0 &&
                   memcmp(held, wheld, held_len * sizeof *held) == 0;
        ldb__free(wplain);
        ldb__free(wheld);
        wplain = plain;
        wheld = held;
        wplain_len = plain_len;
        wheld_len = held_len;
        if (same)
            break;
        if (round > 1000) {
            rc = LDB_CORRUPT();
            goto out;
        }
        CHECK_GOTO(rc, write_chunks(pg, ft, txnid, 0, wplain, wplain_len, &plain_chunks), out);
        CHECK_GOTO(rc, write_chunks(pg, ft, txnid, HELD_CHUNK, wheld, wheld_len, &held_chunks), out);
    }
out:
    fl->busy = 0;
    ldb__free(wplain);
    ldb__free(wheld);
    return rc;
}

int ldb__freelist_count(const struct ldb__pager *pg, const struct tree_desc *ft, uint64_t *pages)
{
    struct ldb__path path;
    uint64_t total = 0;
    int rc = ldb__btree_first(pg, ft, &path);
    while (rc == 0) {
        ldb_val k, v;
        TRY(ldb__btree_entry(pg, &path, &k, &v));
        total += v.size / sizeof(pgno_t);
        rc = ldb__btree_next(pg, &path);
    }
    if (rc != LDB_NOTFOUND)
        return rc;
    *pages = total;
    return 0;
}

int ldb__freelist_census(const struct ldb__pager *pg, const struct tree_desc *ft,
                         uint64_t reuse_bound, uint64_t checkpoint, struct ldb__free_census *c)
{
    struct ldb__path path;
    memset(c, 0, sizeof *c);
    int rc = ldb__btree_first(pg, ft, &path);
    while (rc == 0) {
        ldb_val k, v;
        TRY(ldb__btree_entry(pg, &path, &k, &v));
        if (k.size != FREE_KEY_SIZE)
            return LDB_CORRUPT();
        uint64_t txnid = be64(k.data), n = v.size / sizeof(pgno_t);
        if (txnid > reuse_bound)
            c->for_readers += n;
        else if (be32((const uint8_t *)k.data + 8) >= HELD_CHUNK && txnid > checkpoint)
            c->for_checkpoint += n;
        else
            c->reusable += n;
        rc = ldb__btree_next(pg, &path);
    }
    return rc == LDB_NOTFOUND ? 0 : rc;
}

int ldb__freelist_load_all(struct ldb__freelist *fl, struct ldb__pager *pg, struct tree_desc *ft)
{
    int rc;
    while ((rc = load_record(fl, pg, ft)) == 1)
        ;
    if (rc == 0)
        fl->records_exhausted = 1;
    return rc;
}

/* Whether p is in the descending list l, from position *i on (advanced:
 * callers ask for descending p). */
static int in_desc(const pgno_t *l, size_t len, size_t *i, pgno_t p)
{
    while (*i < len && l[*i] > p)
        (*i)++;
    return *i < len && l[*i] == p;
}

int ldb__freelist_tail_run(const struct ldb__freelist *fl, uint64_t npages, uint64_t *run)
{
    /* The freed and held lists: the free tree's own pages, copied as its
     * records were loaded. */
    struct ldb__pgno_list own = {0};
    TRY(list_reserve(&own, fl->freed.len + fl->held.len));
    if (fl->freed.len)
        memcpy(own.items, fl->freed.items, fl->freed.len * sizeof(pgno_t));
    if (fl->held.len)
        memcpy(own.items + fl->freed.len, fl->held.items, fl->held.len * sizeof(pgno_t));
    own.len = fl->freed.len + fl->held.len;
    sort_pgnos(own.items, own.len, cmp_desc);
    uint64_t k = 0;
    size_t i = 0, j = 0;
    while (k < npages - LDB_META_PAGES) {
        pgno_t p = npages - 1 - k;
        if (!in_desc(fl->pool.items, fl->pool.len, &i, p) && !in_desc(own.items, own.len, &j, p))
            break;
        k++;
    }
    ldb__free(own.items);
    *run = k;
    return 0;
}

uint64_t ldb__freelist_cut_tail(struct ldb__freelist *fl, uint64_t npages)
{
    struct ldb__pgno_list *p = &fl->pool; /* largest first */
    size_t k = 0;
    while (k < p->len && p->items[k] == npages - 1 - k)
        k++;
    if (k > 0)
        memmove(p->items, p->items + k, (p->len - k) * sizeof *p->items);
    p->len -= k;
    return k;
}

int ldb__freelist_checkpointed(struct ldb__freelist *fl, uint64_t cp)
{
    TRY(list_reserve(&fl->held, fl->freed.len));
    if (fl->freed.len)
        memcpy(fl->held.items + fl->held.len, fl->freed.items, fl->freed.len * sizeof(pgno_t));
    fl->held.len += fl->freed.len;
    fl->freed.len = 0;
    fl->checkpoint = cp;
    fl->resume_valid = 0; /* held records before the point may load now */
    fl->records_exhausted = 0;
    fl->held_for_checkpoint = 0;
    return 0;
}
