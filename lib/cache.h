/* SPDX-License-Identifier: MIT */
/*
 * cache.h: the env's cache of decompressed values, an ARC (Megiddo and
 * Modha, "ARC: A Self-Tuning, Low Overhead Replacement Cache", FAST 2003)
 * bounded in bytes.
 *
 * What it owns: decompressed copies of compressed values that sit in
 * committed pages. A copy is keyed by (page number, the txn id in that
 * page's header, the value's offset in the page): a committed page is never
 * written again until it is freed, and a page reused after that carries a
 * newer txn id, so a key can never name two different values. Values in a
 * write txn's own dirty pages are never cached (the page can still change,
 * and an aborted txn's id is used again).
 *
 * Pins: every entry handed out is pinned (a count under its shard's lock).
 * The txn keeps the list (struct ldb__pins) and unpins at its end, or at its
 * next write in a write txn. An evicted entry leaves the index and the
 * lists at once but its memory stays until the last pin goes, so a pointer
 * returned to a caller is never freed under it; the byte bound counts only
 * entries in the cache, not evicted ones still pinned.
 *
 * Shards: the key's hash picks one of nshards independent ARCs, each with
 * its own mutex and cache_size / nshards bytes, so readers on different
 * threads rarely meet on a lock (docs/design.md has the measurement).
 *
 * ARC in bytes: T1 (seen once), T2 (seen again), ghosts B1 and B2 (keys and
 * sizes of what T1 and T2 evicted). A hit moves the entry to T2's MRU end;
 * a miss whose key is in B1 grows the target p of T1 (recency was evicted
 * too soon), one in B2 shrinks it; replacement evicts from T1 while T1 is
 * over p, else from T2. The paper counts pages; here every list counts
 * bytes and p moves by the entry's size scaled as the paper scales 1.
 */
#ifndef LDB_CACHE_H
#define LDB_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct ldb__cache;

struct ldb__cache_key {
    uint64_t pgno;
    uint64_t txnid;
    uint32_t offset;
};

struct ldb__cache_entry {
    struct ldb__cache_entry *hnext;       /* hash chain */
    struct ldb__cache_entry *prev, *next; /* its ARC list */
    struct ldb__cache_key key;
    uint32_t size;     /* bytes of data */
    uint32_t pins;     /* under the shard lock */
    uint8_t list;      /* enum in cache.c: which list, or none */
    uint16_t shard;    /* CACHE_PRIVATE: never in the cache */
    uint8_t data[];
};

#define CACHE_PRIVATE 0xFFFFu

/* The pins a txn holds. */
struct ldb__pins {
    struct ldb__cache_entry **v;
    size_t len, cap;
};

int ldb__cache_open(size_t bytes, unsigned nshards, struct ldb__cache **out);
/* Free everything (no pins may be held). */
void ldb__cache_close(struct ldb__cache *c);
/* A pinned entry for key, or NULL (a miss). */
struct ldb__cache_entry *ldb__cache_get(struct ldb__cache *c, const struct ldb__cache_key *key);
/* A private entry of size bytes to fill (pinned once, not in the cache). */
struct ldb__cache_entry *ldb__cache_entry_new(uint32_t size);
/* Put a filled private entry in the cache under key. Returns the entry now
 * cached for key, pinned: e itself, or (when another thread put one in
 * first) that one, e being freed. An entry too big for a shard stays
 * private. */
struct ldb__cache_entry *ldb__cache_insert(struct ldb__cache *c, const struct ldb__cache_key *key,
                                           struct ldb__cache_entry *e);
void ldb__cache_unpin(struct ldb__cache *c, struct ldb__cache_entry *e);

struct ldb__cache_stats {
    uint64_t hits, misses, bytes;
    /* shard 0's ARC state, for the policy tests */
    uint64_t p, t1, t2, b1, b2;
};
void ldb__cache_stats(struct ldb__cache *c, struct ldb__cache_stats *st);

/* Make room for one more pin (call before getting the entry, so that
 * recording it cannot fail), record one, release all. */
int ldb__pins_reserve(struct ldb__pins *p);
void ldb__pins_add(struct ldb__pins *p, struct ldb__cache_entry *e);
void ldb__pins_release(struct ldb__cache *c, struct ldb__pins *p);
void ldb__pins_free(struct ldb__cache *c, struct ldb__pins *p);

#endif
