/* SPDX-License-Identifier: MIT */
/*
 * cache.c: the sharded, byte-bounded ARC of cache.h.
 *
 * Each shard: a chained hash index over resident entries (T1, T2) and
 * ghosts (B1, B2; entries with no data, kept for their key and size), four
 * circular lists with a sentinel each (LRU at head->next, MRU at
 * head->prev), the target p, and a mutex that guards all of it and the pin
 * counts of its entries. Evicting a resident entry makes a fresh ghost for
 * its key and detaches the entry (list NONE): freed now if unpinned, else
 * by the last unpin.
 */
#include "cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

enum { LIST_T1, LIST_T2, LIST_B1, LIST_B2, NLISTS, LIST_NONE = 0xFF };

/* The sentinel is an entry with no data bytes. clang calls a struct with a
 * flexible array member inside another a GNU extension; gcc and clang both
 * lay it out as intended, and nothing reads head.data. */
#ifdef __clang__
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wgnu-variable-sized-type-not-at-end"
#endif
struct arc_list {
    struct ldb__cache_entry head; /* sentinel: head.next is the LRU end */
    uint64_t bytes;
};
#ifdef __clang__
#pragma clang diagnostic pop
#endif

struct shard {
    pthread_mutex_t mutex;
    struct arc_list list[NLISTS];
    uint64_t capacity; /* c, in bytes */
    uint64_t p;        /* target bytes of T1 */
    struct ldb__cache_entry **buckets;
    size_t nbuckets;   /* power of two */
    size_t count;      /* entries in the index */
    uint64_t hits, misses;
} __attribute__((aligned(64)));

struct ldb__cache {
    unsigned nshards; /* power of two */
    struct shard *shards;
};

/* What an entry costs the bound: its data and its bookkeeping. */
static uint64_t charge(const struct ldb__cache_entry *e)
{
    return (uint64_t)e->size + sizeof *e;
}

static uint64_t key_hash(const struct ldb__cache_key *k)
{
    uint64_t h = k->pgno * 0x9E3779B97F4A7C15ULL;
    h ^= (k->txnid + k->offset * 0xC2B2AE3D27D4EB4FULL) * 0x165667B19E3779F9ULL;
    return h ^ (h >> 29);
}

static int key_eq(const struct ldb__cache_key *a, const struct ldb__cache_key *b)
{
    return a->pgno == b->pgno && a->txnid == b->txnid && a->offset == b->offset;
}

static struct shard *shard_of(struct ldb__cache *c, uint64_t h, unsigned *idx)
{
    *idx = (unsigned)(h >> 48) & (c->nshards - 1);
    return &c->shards[*idx];
}

int ldb__cache_open(size_t bytes, unsigned nshards, struct ldb__cache **out)
{
    if (nshards == 0 || (nshards & (nshards - 1)) || nshards >= CACHE_PRIVATE)
        return LDB_INVALID;
    struct ldb__cache *c = ldb__calloc(1, sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    c->shards = aligned_alloc(64, nshards * sizeof *c->shards);
    if (c->shards == NULL) {
        ldb__free(c);
        return -ENOMEM;
    }
    c->nshards = nshards;
    for (unsigned i = 0; i < nshards; i++) {
        struct shard *s = &c->shards[i];
        memset(s, 0, sizeof *s);
        pthread_mutex_init(&s->mutex, NULL);
        for (unsigned l = 0; l < NLISTS; l++)
            s->list[l].head.prev = s->list[l].head.next = &s->list[l].head;
        s->capacity = bytes / nshards;
    }
    *out = c;
    return 0;
}

void ldb__cache_close(struct ldb__cache *c)
{
    if (c == NULL)
        return;
    for (unsigned i = 0; i < c->nshards; i++) {
        struct shard *s = &c->shards[i];
        for (unsigned l = 0; l < NLISTS; l++) {
            struct ldb__cache_entry *h = &s->list[l].head, *e = h->next;
            while (e != h) {
                struct ldb__cache_entry *next = e->next;
                ldb__free(e);
                e = next;
            }
        }
        ldb__free(s->buckets);
        pthread_mutex_destroy(&s->mutex);
    }
    ldb__free(c->shards);
    ldb__free(c);
}

/* ---- index and lists (shard lock held) ---------------------------------- */

static struct ldb__cache_entry **index_slot(struct shard *s, const struct ldb__cache_key *k,
                                            uint64_t h)
{
    if (s->nbuckets == 0)
        return NULL;
    struct ldb__cache_entry **pp = &s->buckets[h & (s->nbuckets - 1)];
    while (*pp != NULL && !key_eq(&(*pp)->key, k))
        pp = &(*pp)->hnext;
    return pp;
}

static struct ldb__cache_entry *index_find(struct shard *s, const struct ldb__cache_key *k,
                                           uint64_t h)
{
    struct ldb__cache_entry **pp = index_slot(s, k, h);
    return pp ? *pp : NULL;
}

static void index_grow(struct shard *s)
{
    size_t n = s->nbuckets ? s->nbuckets * 2 : 64;
    struct ldb__cache_entry **b = ldb__calloc(n, sizeof *b);
    if (b == NULL)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct ldb__cache_entry *e = s->buckets[i];
        while (e != NULL) {
            struct ldb__cache_entry *next = e->hnext;
            size_t j = key_hash(&e->key) & (n - 1);
            e->hnext = b[j];
            b[j] = e;
            e = next;
        }
    }
    ldb__free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
}

static void index_add(struct shard *s, struct ldb__cache_entry *e, uint64_t h)
{
    if (s->count >= s->nbuckets)
        index_grow(s);
    if (s->nbuckets == 0)
        index_grow(s);
    if (s->nbuckets == 0)
        return; /* not indexed: behaves as a miss next time */
    struct ldb__cache_entry **b = &s->buckets[h & (s->nbuckets - 1)];
    e->hnext = *b;
    *b = e;
    s->count++;
}

static void index_remove(struct shard *s, struct ldb__cache_entry *e)
{
    struct ldb__cache_entry **pp = index_slot(s, &e->key, key_hash(&e->key));
    if (pp != NULL && *pp == e) {
        *pp = e->hnext;
        s->count--;
    }
    e->hnext = NULL;
}

static void list_unlink(struct shard *s, struct ldb__cache_entry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    s->list[e->list].bytes -= charge(e);
    e->list = LIST_NONE;
}

static void list_push_mru(struct shard *s, unsigned l, struct ldb__cache_entry *e)
{
    struct ldb__cache_entry *h = &s->list[l].head;
    e->prev = h->prev;
    e->next = h;
    h->prev->next = e;
    h->prev = e;
    e->list = (uint8_t)l;
    s->list[l].bytes += charge(e);
}

static struct ldb__cache_entry *list_lru(struct shard *s, unsigned l)
{
    struct ldb__cache_entry *h = &s->list[l].head;
    return h->next == h ? NULL : h->next;
}

/* Drop a ghost for good. */
static void ghost_drop(struct shard *s, struct ldb__cache_entry *g)
{
    list_unlink(s, g);
    index_remove(s, g);
    ldb__free(g);
}

/* Evict resident e to ghost list gl: a data-less ghost takes its key and
 * size; e leaves the cache (freed now unless pinned). */
static void evict(struct shard *s, struct ldb__cache_entry *e, unsigned gl)
{
    list_unlink(s, e);
    index_remove(s, e);
    struct ldb__cache_entry *g = ldb__malloc(sizeof *g);
    if (g != NULL) {
        memset(g, 0, sizeof *g);
        g->key = e->key;
        g->size = e->size;
        g->shard = e->shard;
        list_push_mru(s, gl, g); /* charged as e was: the paper counts it so */
        index_add(s, g, key_hash(&g->key));
    }
    if (e->pins == 0)
        ldb__free(e);
}

static uint64_t resident(const struct shard *s)
{
    return s->list[LIST_T1].bytes + s->list[LIST_T2].bytes;
}

/* The paper's REPLACE, repeated until need more bytes fit: evict from T1
 * when it is over its target p (or at it, for a B2 hit), else from T2. */
static void replace(struct shard *s, uint64_t need, int hit_b2)
{
    while (resident(s) + need > s->capacity) {
        struct ldb__cache_entry *t1 = list_lru(s, LIST_T1), *t2 = list_lru(s, LIST_T2);
        uint64_t t1b = s->list[LIST_T1].bytes;
        if (t1 != NULL && (t1b > s->p || (hit_b2 && t1b >= s->p) || t2 == NULL))
            evict(s, t1, LIST_B1);
        else if (t2 != NULL)
            evict(s, t2, LIST_B2);
        else
            return;
    }
}

/* Keep the directory at the paper's sizes: T1 + B1 <= c, all four <= 2c. */
static void trim_ghosts(struct shard *s)
{
    struct ldb__cache_entry *g;
    while (s->list[LIST_T1].bytes + s->list[LIST_B1].bytes > s->capacity &&
           (g = list_lru(s, LIST_B1)) != NULL)
        ghost_drop(s, g);
    for (;;) {
        uint64_t all = resident(s) + s->list[LIST_B1].bytes + s->list[LIST_B2].bytes;
        if (all <= 2 * s->capacity)
            return;
        if ((g = list_lru(s, LIST_B2)) == NULL && (g = list_lru(s, LIST_B1)) == NULL)
            return;
        ghost_drop(s, g);
    }
}

/* ---- the calls ------------------------------------------------------------ */

struct ldb__cache_entry *ldb__cache_get(struct ldb__cache *c, const struct ldb__cache_key *key)
{
    uint64_t h = key_hash(key);
    unsigned si;
    struct shard *s = shard_of(c, h, &si);
    pthread_mutex_lock(&s->mutex);
    struct ldb__cache_entry *e = index_find(s, key, h);
    if (e != NULL && (e->list == LIST_T1 || e->list == LIST_T2)) {
        /* Case I: a hit moves the entry to T2's MRU end. */
        list_unlink(s, e);
        list_push_mru(s, LIST_T2, e);
        e->pins++;
        s->hits++;
    } else {
        e = NULL;
        s->misses++;
    }
    pthread_mutex_unlock(&s->mutex);
    return e;
}

struct ldb__cache_entry *ldb__cache_entry_new(uint32_t size)
{
    struct ldb__cache_entry *e = ldb__malloc(sizeof *e + (size ? size : 1));
    if (e == NULL)
        return NULL;
    memset(e, 0, sizeof *e);
    e->size = size;
    e->pins = 1;
    e->list = LIST_NONE;
    e->shard = CACHE_PRIVATE;
    return e;
}

struct ldb__cache_entry *ldb__cache_insert(struct ldb__cache *c, const struct ldb__cache_key *key,
                                           struct ldb__cache_entry *e)
{
    uint64_t h = key_hash(key);
    unsigned si;
    struct shard *s = shard_of(c, h, &si);
    if (charge(e) > s->capacity)
        return e; /* never fits: stays private */
    pthread_mutex_lock(&s->mutex);
    struct ldb__cache_entry *old = index_find(s, key, h);
    if (old != NULL && (old->list == LIST_T1 || old->list == LIST_T2)) {
        old->pins++; /* another reader decompressed it first */
        pthread_mutex_unlock(&s->mutex);
        ldb__free(e);
        return old;
    }
    e->key = *key;
    e->shard = (uint16_t)si;
    uint64_t need = charge(e);
    if (old != NULL) {
        /* Cases II and III: a ghost hit adapts p, the entry goes to T2. */
        int in_b1 = old->list == LIST_B1;
        uint64_t b1 = s->list[LIST_B1].bytes, b2 = s->list[LIST_B2].bytes;
        if (in_b1) {
            uint64_t d = b1 && b2 > b1 ? need * (b2 / b1) : need;
            s->p = s->p + d > s->capacity ? s->capacity : s->p + d;
        } else {
            uint64_t d = b2 && b1 > b2 ? need * (b1 / b2) : need;
            s->p = s->p > d ? s->p - d : 0;
        }
        ghost_drop(s, old);
        replace(s, need, !in_b1);
        list_push_mru(s, LIST_T2, e);
    } else {
        /* Case IV: new to the directory. If T1 alone fills the cache its
         * LRU entries go without a ghost, as in the paper. */
        struct ldb__cache_entry *t;
        while (s->list[LIST_T1].bytes + need > s->capacity && list_lru(s, LIST_B1) == NULL &&
               (t = list_lru(s, LIST_T1)) != NULL) {
            list_unlink(s, t);
            index_remove(s, t);
            if (t->pins == 0)
                ldb__free(t);
        }
        replace(s, need, 0);
        list_push_mru(s, LIST_T1, e);
    }
    index_add(s, e, h);
    trim_ghosts(s);
    pthread_mutex_unlock(&s->mutex);
    return e;
}

void ldb__cache_unpin(struct ldb__cache *c, struct ldb__cache_entry *e)
{
    if (e->shard == CACHE_PRIVATE) {
        ldb__free(e); /* only its one txn ever saw it */
        return;
    }
    struct shard *s = &c->shards[e->shard];
    pthread_mutex_lock(&s->mutex);
    int dead = --e->pins == 0 && e->list == LIST_NONE;
    pthread_mutex_unlock(&s->mutex);
    if (dead)
        ldb__free(e);
}

void ldb__cache_stats(struct ldb__cache *c, struct ldb__cache_stats *st)
{
    memset(st, 0, sizeof *st);
    for (unsigned i = 0; i < c->nshards; i++) {
        struct shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mutex);
        st->hits += s->hits;
        st->misses += s->misses;
        st->bytes += resident(s);
        if (i == 0) {
            st->p = s->p;
            st->t1 = s->list[LIST_T1].bytes;
            st->t2 = s->list[LIST_T2].bytes;
            st->b1 = s->list[LIST_B1].bytes;
            st->b2 = s->list[LIST_B2].bytes;
        }
        pthread_mutex_unlock(&s->mutex);
    }
}

/* ---- a txn's pins ---------------------------------------------------------- */

int ldb__pins_reserve(struct ldb__pins *p)
{
    if (p->len < p->cap)
        return 0;
    size_t n = p->cap ? p->cap * 2 : 16;
    struct ldb__cache_entry **v = ldb__realloc(p->v, n * sizeof *v);
    if (v == NULL)
        return -ENOMEM;
    p->v = v;
    p->cap = n;
    return 0;
}

void ldb__pins_add(struct ldb__pins *p, struct ldb__cache_entry *e)
{
    p->v[p->len++] = e;
}

void ldb__pins_release(struct ldb__cache *c, struct ldb__pins *p)
{
    for (size_t i = 0; i < p->len; i++)
        ldb__cache_unpin(c, p->v[i]);
    p->len = 0;
}

void ldb__pins_free(struct ldb__cache *c, struct ldb__pins *p)
{
    ldb__pins_release(c, p);
    ldb__free(p->v);
    p->v = NULL;
    p->cap = 0;
}
