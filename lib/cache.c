/* SPDX-License-Identifier: MIT */
/*
 * cache.c: the sharded, byte-bounded ARC of cache.h, with a hit path that
 * takes no lock.
 *
 * Each shard: a chained hash index with a fixed number of buckets over
 * resident entries (T1, T2) and ghosts (B1, B2: entries with no data, kept
 * for their key and size), four circular lists with a sentinel link each
 * (LRU at head.next, MRU at head.prev), the target p, a limbo of entries
 * that left the index, and a mutex over all of it except the chain reads.
 *
 * Hits: a lookup with a txn's pins walks a chain with atomic loads, checks
 * the entry's list, pins it (an atomic increment) and sets its reference
 * bit (a store only when the bit is clear, so hot entries are not written
 * on every hit). The move to T2's MRU end that ARC makes on a hit is
 * deferred: when a miss makes room, an entry at T1's LRU end with its bit
 * set moves to T2's MRU end first, and one at T2's LRU end goes back to
 * T2's MRU end, each clearing the bit (CAR's second chance, Bansal and
 * Modha, FAST 2004). Ghost hits adapt p as in ARC.
 *
 * Freeing: an entry (resident or ghost) that leaves the index goes to its
 * shard's limbo stamped with a new epoch r (the cache's counter, bumped).
 * A lookup publishes the epoch it starts in, in its txn's pins, before it
 * walks, and 0 when done. A limbo entry whose r is at most every running
 * lookup's epoch can no longer be reached by any walk: the limbo drops its
 * reference (refs counts one for the cache or the limbo and one per pin)
 * and the last reference frees it. The bucket arrays never change, so no
 * walk ever reads a freed array. The publication is a seq_cst exchange and
 * the walk's loads and the unlinking stores are seq_cst: either the walk
 * sees the entry unlinked or the reclaimer sees the lookup's epoch.
 */
#include "cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

enum { LIST_T1, LIST_T2, LIST_B1, LIST_B2, NLISTS, LIST_NONE = 0xFF };

#define LINK_ENTRY(l) \
    ((struct ldb__cache_entry *)(void *)((char *)(l) - offsetof(struct ldb__cache_entry, link)))

struct arc_list {
    struct ldb__cache_link head; /* sentinel: head.next is the LRU end */
    uint64_t bytes, count;
};

struct shard {
    pthread_mutex_t mutex;
    struct arc_list list[NLISTS];
    struct ldb__cache_link limbo; /* oldest retirement first */
    uint64_t capacity;            /* c, in bytes */
    uint64_t p;                   /* target bytes of T1 */
    struct ldb__cache_entry **buckets; /* chain heads (atomic) */
    size_t mask;                       /* buckets - 1, a power of two less one */
    uint64_t hits, misses;             /* (atomic) */
} __attribute__((aligned(64)));

struct ldb__cache {
    unsigned nshards; /* power of two */
    struct shard *shards;
    uint64_t epoch; /* (atomic) from 1: a lookup's 0 means none runs */
    uint64_t hits;  /* (atomic) hits added from released pins */
    pthread_mutex_t slots_mutex; /* over the list of registered pins */
    struct ldb__pins *slots;
};

/* A zeroed header with room for size bytes of data, on a cache line of its
 * own (cache.h: a hit reads one line of it). */
static struct ldb__cache_entry *entry_alloc(uint32_t size)
{
    void *p;
    size_t n = (sizeof(struct ldb__cache_entry) + size + 63) & ~(size_t)63;
    if (ldb__memalign(&p, 64, n) != 0)
        return NULL;
    memset(p, 0, sizeof(struct ldb__cache_entry));
    return p;
}

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

static struct shard *shard_of(struct ldb__cache *c, uint64_t h)
{
    return &c->shards[(unsigned)(h >> 48) & (c->nshards - 1)];
}

static void link_init(struct ldb__cache_link *h)
{
    h->prev = h->next = h;
}

static void link_remove(struct ldb__cache_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
}

static void link_append(struct ldb__cache_link *h, struct ldb__cache_link *l)
{
    l->prev = h->prev;
    l->next = h;
    h->prev->next = l;
    h->prev = l;
}

/* About one bucket per 512 bytes of capacity, 64 to 65,536 per shard:
 * fixed, so that a walking lookup never meets a replaced array. */
static size_t buckets_for(uint64_t capacity)
{
    size_t n = 64;
    while (n < ((size_t)1 << 16) && (uint64_t)n * 512 < capacity)
        n *= 2;
    return n;
}

static int shard_init(struct shard *s, uint64_t capacity)
{
    memset(s, 0, sizeof *s);
    size_t n = buckets_for(capacity);
    s->buckets = ldb__calloc(n, sizeof *s->buckets);
    if (s->buckets == NULL)
        return -ENOMEM;
    s->mask = n - 1;
    pthread_mutex_init(&s->mutex, NULL);
    for (unsigned l = 0; l < NLISTS; l++)
        link_init(&s->list[l].head);
    link_init(&s->limbo);
    s->capacity = capacity;
    return 0;
}

int ldb__cache_open(size_t bytes, unsigned nshards, struct ldb__cache **out)
{
    if (nshards == 0 || (nshards & (nshards - 1)) || nshards > 1024)
        return LDB_INVALID;
    struct ldb__cache *c = ldb__calloc(1, sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    c->shards = aligned_alloc(64, nshards * sizeof *c->shards);
    if (c->shards == NULL) {
        ldb__free(c);
        return -ENOMEM;
    }
    c->epoch = 1;
    pthread_mutex_init(&c->slots_mutex, NULL);
    for (unsigned i = 0; i < nshards; i++) {
        if (shard_init(&c->shards[i], bytes / nshards) < 0) {
            ldb__cache_close(c);
            return -ENOMEM;
        }
        c->nshards = i + 1;
    }
    *out = c;
    return 0;
}

static void free_all(struct ldb__cache_link *h)
{
    struct ldb__cache_link *l = h->next;
    while (l != h) {
        struct ldb__cache_link *next = l->next;
        ldb__free(LINK_ENTRY(l));
        l = next;
    }
}

void ldb__cache_close(struct ldb__cache *c)
{
    if (c == NULL)
        return;
    for (unsigned i = 0; i < c->nshards; i++) {
        struct shard *s = &c->shards[i];
        for (unsigned l = 0; l < NLISTS; l++)
            free_all(&s->list[l].head);
        free_all(&s->limbo); /* no pins are held: the limbo's is the last */
        ldb__free(s->buckets);
        pthread_mutex_destroy(&s->mutex);
    }
    pthread_mutex_destroy(&c->slots_mutex);
    ldb__free(c->shards);
    ldb__free(c);
}

/* ---- the index: walked without the lock, changed under it ------------------ */

static struct ldb__cache_entry **bucket(struct shard *s, uint64_t h)
{
    return &s->buckets[h & s->mask];
}

static struct ldb__cache_entry *index_find(struct shard *s, const struct ldb__cache_key *k,
                                           uint64_t h)
{
    struct ldb__cache_entry *e = __atomic_load_n(bucket(s, h), __ATOMIC_SEQ_CST);
    while (e != NULL && !key_eq(&e->key, k))
        e = __atomic_load_n(&e->hnext, __ATOMIC_SEQ_CST);
    return e;
}

static void index_add(struct shard *s, struct ldb__cache_entry *e, uint64_t h)
{
    struct ldb__cache_entry **b = bucket(s, h);
    __atomic_store_n(&e->hnext, __atomic_load_n(b, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
    __atomic_store_n(b, e, __ATOMIC_RELEASE); /* publishes key and data */
}

/* Unlink e; its own hnext stays, so a walk standing on it goes on. */
static void index_remove(struct shard *s, struct ldb__cache_entry *e)
{
    struct ldb__cache_entry **pp = bucket(s, key_hash(&e->key)), *cur;
    while ((cur = __atomic_load_n(pp, __ATOMIC_RELAXED)) != e) {
        if (cur == NULL)
            return;
        pp = &cur->hnext;
    }
    __atomic_store_n(pp, __atomic_load_n(&e->hnext, __ATOMIC_RELAXED), __ATOMIC_SEQ_CST);
}

/* ---- lists, limbo (shard lock held) ----------------------------------------- */

static void list_add(struct shard *s, unsigned l, struct ldb__cache_entry *e)
{
    link_append(&s->list[l].head, &e->link);
    s->list[l].bytes += charge(e);
    s->list[l].count++;
    __atomic_store_n(&e->list, (uint8_t)l, __ATOMIC_RELAXED);
}

static void list_del(struct shard *s, struct ldb__cache_entry *e)
{
    unsigned l = e->list;
    link_remove(&e->link);
    s->list[l].bytes -= charge(e);
    s->list[l].count--;
    __atomic_store_n(&e->list, (uint8_t)LIST_NONE, __ATOMIC_RELAXED);
}

static struct ldb__cache_entry *list_lru(struct shard *s, unsigned l)
{
    struct ldb__cache_link *h = &s->list[l].head;
    return h->next == h ? NULL : LINK_ENTRY(h->next);
}

static uint64_t resident(const struct shard *s)
{
    return s->list[LIST_T1].bytes + s->list[LIST_T2].bytes;
}

static void entry_release(struct ldb__cache_entry *e)
{
    if (__atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) == 0)
        ldb__free(e);
}

/* e (off its list) leaves the index for the limbo. */
static void retire(struct ldb__cache *c, struct shard *s, struct ldb__cache_entry *e)
{
    index_remove(s, e);
    e->retired = __atomic_add_fetch(&c->epoch, 1, __ATOMIC_SEQ_CST);
    link_append(&s->limbo, &e->link);
}

/* The smallest epoch a running lookup started in (UINT64_MAX: none runs). */
static uint64_t oldest_lookup(struct ldb__cache *c)
{
    uint64_t min = UINT64_MAX;
    pthread_mutex_lock(&c->slots_mutex);
    for (struct ldb__pins *p = c->slots; p != NULL; p = p->rnext) {
        uint64_t e = __atomic_load_n(&p->epoch, __ATOMIC_SEQ_CST);
        if (e != 0 && e < min)
            min = e;
    }
    pthread_mutex_unlock(&c->slots_mutex);
    return min;
}

/* Drop the limbo's reference to what no walk can reach any more. */
static void limbo_reclaim(struct ldb__cache *c, struct shard *s)
{
    if (s->limbo.next == &s->limbo)
        return;
    uint64_t oldest = oldest_lookup(c);
    while (s->limbo.next != &s->limbo) {
        struct ldb__cache_entry *e = LINK_ENTRY(s->limbo.next);
        if (e->retired > oldest)
            return;
        link_remove(&e->link);
        entry_release(e);
    }
}

/* ---- the policy (shard lock held) -------------------------------------------- */

/* Read and clear e's reference bit. A hit that sets it in between is lost,
 * as in CLOCK. */
static int take_ref(struct ldb__cache_entry *e)
{
    if (!__atomic_load_n(&e->referenced, __ATOMIC_RELAXED))
        return 0;
    __atomic_store_n(&e->referenced, 0, __ATOMIC_RELAXED);
    return 1;
}

/* T1's LRU entry once the deferred hits at that end have moved to T2. */
static struct ldb__cache_entry *t1_victim(struct shard *s)
{
    struct ldb__cache_entry *e;
    while ((e = list_lru(s, LIST_T1)) != NULL && take_ref(e)) {
        list_del(s, e);
        list_add(s, LIST_T2, e);
    }
    return e;
}

/* T2's LRU entry once those hit since they were last looked at have gone
 * back to the MRU end (at most one turn of the list). */
static struct ldb__cache_entry *t2_victim(struct shard *s)
{
    uint64_t turns = s->list[LIST_T2].count;
    struct ldb__cache_entry *e;
    while ((e = list_lru(s, LIST_T2)) != NULL && turns-- > 0 && take_ref(e)) {
        list_del(s, e);
        list_add(s, LIST_T2, e);
    }
    return e;
}

/* Evict resident e to ghost list gl: a data-less ghost takes its key and
 * size; e goes to the limbo (freed when no walk nor pin can reach it). */
static void evict(struct ldb__cache *c, struct shard *s, struct ldb__cache_entry *e, unsigned gl)
{
    list_del(s, e);
    retire(c, s, e);
    /* A ghost has no data and is never hit: no need for a line of its own. */
    struct ldb__cache_entry *g = ldb__malloc(sizeof *g);
    if (g == NULL)
        return; /* no ghost: the policy forgets the key, still correct */
    memset(g, 0, sizeof *g);
    g->key = e->key;
    g->size = e->size;
    g->refs = 1;
    list_add(s, gl, g); /* charged as e was: the paper counts it so */
    index_add(s, g, key_hash(&g->key));
}

static void ghost_drop(struct ldb__cache *c, struct shard *s, struct ldb__cache_entry *g)
{
    list_del(s, g);
    retire(c, s, g);
}

/* The paper's REPLACE, repeated until need more bytes fit: evict from T1
 * when it is over its target p (or at it, for a B2 hit), else from T2. */
static void replace(struct ldb__cache *c, struct shard *s, uint64_t need, int hit_b2)
{
    while (resident(s) + need > s->capacity) {
        struct ldb__cache_entry *t1 = t1_victim(s), *t2;
        uint64_t t1b = s->list[LIST_T1].bytes;
        if (t1 != NULL &&
            (t1b > s->p || (hit_b2 && t1b >= s->p) || list_lru(s, LIST_T2) == NULL))
            evict(c, s, t1, LIST_B1);
        else if ((t2 = t2_victim(s)) != NULL)
            evict(c, s, t2, LIST_B2);
        else
            return;
    }
}

/* Keep the directory at the paper's sizes: T1 + B1 <= c, all four <= 2c. */
static void trim_ghosts(struct ldb__cache *c, struct shard *s)
{
    struct ldb__cache_entry *g;
    while (s->list[LIST_T1].bytes + s->list[LIST_B1].bytes > s->capacity &&
           (g = list_lru(s, LIST_B1)) != NULL)
        ghost_drop(c, s, g);
    for (;;) {
        uint64_t all = resident(s) + s->list[LIST_B1].bytes + s->list[LIST_B2].bytes;
        if (all <= 2 * s->capacity)
            return;
        if ((g = list_lru(s, LIST_B2)) == NULL && (g = list_lru(s, LIST_B1)) == NULL)
            return;
        ghost_drop(c, s, g);
    }
}

/* Cases II and III: a ghost hit adapts p, and e goes to T2. */
static void insert_ghost_hit(struct ldb__cache *c, struct shard *s, struct ldb__cache_entry *ghost,
                             struct ldb__cache_entry *e)
{
    uint64_t need = charge(e);
    int in_b1 = ghost->list == LIST_B1;
    uint64_t b1 = s->list[LIST_B1].bytes, b2 = s->list[LIST_B2].bytes;
    if (in_b1) {
        uint64_t d = b1 && b2 > b1 ? need * (b2 / b1) : need;
        s->p = s->p + d > s->capacity ? s->capacity : s->p + d;
    } else {
        uint64_t d = b2 && b1 > b2 ? need * (b1 / b2) : need;
        s->p = s->p > d ? s->p - d : 0;
    }
    ghost_drop(c, s, ghost);
    replace(c, s, need, !in_b1);
    list_add(s, LIST_T2, e);
}

/* Case IV: new to the directory. If T1 alone fills the cache its LRU
 * entries go without a ghost, as in the paper. */
static void insert_new(struct ldb__cache *c, struct shard *s, struct ldb__cache_entry *e)
{
    uint64_t need = charge(e);
    struct ldb__cache_entry *t;
    while (s->list[LIST_T1].bytes + need > s->capacity && list_lru(s, LIST_B1) == NULL &&
           (t = t1_victim(s)) != NULL) {
        list_del(s, t);
        retire(c, s, t);
    }
    replace(c, s, need, 0);
    list_add(s, LIST_T1, e);
}

/* Apply T1's deferred hits all along the list, for the figures. */
static void settle_t1(struct shard *s)
{
    struct ldb__cache_link *h = &s->list[LIST_T1].head, *l = h->next;
    while (l != h) {
        struct ldb__cache_link *next = l->next;
        struct ldb__cache_entry *e = LINK_ENTRY(l);
        if (take_ref(e)) {
            list_del(s, e);
            list_add(s, LIST_T2, e);
        }
        l = next;
    }
}

/* ---- the calls ------------------------------------------------------------ */

static int is_resident(struct ldb__cache_entry *e)
{
    uint8_t l = __atomic_load_n(&e->list, __ATOMIC_RELAXED);
    return l == LIST_T1 || l == LIST_T2;
}

/* A hit: pin e and mark it referenced (written only when it was not). */
static void hit(struct ldb__cache_entry *e)
{
    __atomic_add_fetch(&e->refs, 1, __ATOMIC_RELAXED);
    if (!__atomic_load_n(&e->referenced, __ATOMIC_RELAXED))
        __atomic_store_n(&e->referenced, 1, __ATOMIC_RELAXED);
}

static void slot_register(struct ldb__cache *c, struct ldb__pins *p)
{
    pthread_mutex_lock(&c->slots_mutex);
    p->rprev = NULL;
    p->rnext = c->slots;
    if (c->slots != NULL)
        c->slots->rprev = p;
    c->slots = p;
    p->registered = 1;
    pthread_mutex_unlock(&c->slots_mutex);
}

static void slot_unregister(struct ldb__cache *c, struct ldb__pins *p)
{
    pthread_mutex_lock(&c->slots_mutex);
    if (p->rprev != NULL)
        p->rprev->rnext = p->rnext;
    else
        c->slots = p->rnext;
    if (p->rnext != NULL)
        p->rnext->rprev = p->rprev;
    p->registered = 0;
    pthread_mutex_unlock(&c->slots_mutex);
}

static struct ldb__cache_entry *get_locked(struct shard *s, const struct ldb__cache_key *key,
                                           uint64_t h)
{
    pthread_mutex_lock(&s->mutex);
    struct ldb__cache_entry *e = index_find(s, key, h);
    if (e != NULL && is_resident(e)) {
        hit(e);
        __atomic_add_fetch(&s->hits, 1, __ATOMIC_RELAXED);
    } else {
        e = NULL;
        __atomic_add_fetch(&s->misses, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&s->mutex);
    return e;
}

struct ldb__cache_entry *ldb__cache_get(struct ldb__cache *c, const struct ldb__cache_key *key,
                                        struct ldb__pins *pins)
{
    uint64_t h = key_hash(key);
    struct shard *s = shard_of(c, h);
    if (pins == NULL)
        return get_locked(s, key, h);
    if (!pins->registered)
        slot_register(c, pins);
    __atomic_exchange_n(&pins->epoch, __atomic_load_n(&c->epoch, __ATOMIC_SEQ_CST),
                        __ATOMIC_SEQ_CST);
    struct ldb__cache_entry *e = index_find(s, key, h);
    if (e != NULL && is_resident(e)) {
        hit(e); /* pinned inside the lookup: the limbo cannot have freed it */
        pins->hits++;
    } else {
        e = NULL;
        __atomic_add_fetch(&s->misses, 1, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&pins->epoch, 0, __ATOMIC_RELEASE);
    return e;
}

struct ldb__cache_entry *ldb__cache_entry_new(uint32_t size)
{
    struct ldb__cache_entry *e = entry_alloc(size);
    if (e == NULL)
        return NULL;
    e->size = size;
    e->refs = 1;
    e->list = LIST_NONE;
    return e;
}

struct ldb__cache_entry *ldb__cache_insert(struct ldb__cache *c, const struct ldb__cache_key *key,
                                           struct ldb__cache_entry *e)
{
    uint64_t h = key_hash(key);
    struct shard *s = shard_of(c, h);
    if (charge(e) > s->capacity)
        return e; /* never fits: stays private */
    e->key = *key;
    pthread_mutex_lock(&s->mutex);
    struct ldb__cache_entry *old = index_find(s, key, h);
    if (old != NULL && is_resident(old)) {
        __atomic_add_fetch(&old->refs, 1, __ATOMIC_RELAXED); /* decompressed first elsewhere */
        pthread_mutex_unlock(&s->mutex);
        ldb__free(e);
        return old;
    }
    e->refs = 2; /* the caller's pin and the cache's */
    if (old != NULL)
        insert_ghost_hit(c, s, old, e);
    else
        insert_new(c, s, e);
    index_add(s, e, h);
    trim_ghosts(c, s);
    limbo_reclaim(c, s);
    pthread_mutex_unlock(&s->mutex);
    return e;
}

void ldb__cache_unpin(struct ldb__cache *c, struct ldb__cache_entry *e)
{
    (void)c;
    entry_release(e); /* a private entry, or an evicted one, goes with its last pin */
}

void ldb__cache_stats(struct ldb__cache *c, struct ldb__cache_stats *st)
{
    memset(st, 0, sizeof *st);
    st->hits = __atomic_load_n(&c->hits, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < c->nshards; i++) {
        struct shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mutex);
        st->hits += __atomic_load_n(&s->hits, __ATOMIC_RELAXED);
        st->misses += __atomic_load_n(&s->misses, __ATOMIC_RELAXED);
        st->bytes += resident(s);
        if (i == 0) {
            settle_t1(s);
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
    struct ldb__cache_entry **v = ldb__array_grow(p->v, &p->cap, p->len + 1, sizeof *v, 16);
    if (v == NULL)
        return -ENOMEM;
    p->v = v;
    return 0;
}

void ldb__pins_add(struct ldb__pins *p, struct ldb__cache_entry *e)
{
    p->v[p->len++] = e;
}

void ldb__pins_release(struct ldb__cache *c, struct ldb__pins *p)
{
    for (size_t i = 0; i < p->len; i++)
        entry_release(p->v[i]);
    p->len = 0;
    if (p->hits != 0) {
        __atomic_add_fetch(&c->hits, p->hits, __ATOMIC_RELAXED);
        p->hits = 0;
    }
}

void ldb__pins_free(struct ldb__cache *c, struct ldb__pins *p)
{
    ldb__pins_release(c, p);
    ldb__free(p->v);
    p->v = NULL;
    p->cap = 0;
    if (p->registered)
        slot_unregister(c, p);
}

#ifdef LDB_TEST_HOOKS
void ldb__cache_test_lock(struct ldb__cache *c, int lock)
{
    for (unsigned i = 0; i < c->nshards; i++) {
        if (lock)
            pthread_mutex_lock(&c->shards[i].mutex);
        else
            pthread_mutex_unlock(&c->shards[i].mutex);
    }
}
#endif
