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
 * Pins: every entry handed out is pinned (an atomic count in the entry).
 * The txn keeps the list (struct ldb__pins) and unpins at its end, or at its
 * next write in a write txn. An evicted entry leaves the index and the
 * lists at once but its memory stays until the last pin goes, so a pointer
 * returned to a caller is never freed under it; the byte bound counts only
 * entries in the cache, not evicted ones still pinned.
 *
 * Shards: the key's hash picks one of nshards independent ARCs, each with
 * its own mutex and cache_size / nshards bytes.
 *
 * The hit path takes no lock. A lookup walks the shard's hash chains with
 * atomic loads, pins the entry it finds and sets its reference bit; the
 * list moves that ARC makes on a hit are made later, under the shard lock,
 * by the next miss that has to evict (CAR's idea: Bansal and Modha, FAST
 * 2004). What leaves the index is freed only when no lookup that could
 * still be walking over it is running (an epoch per txn, see cache.c).
 *
 * ARC in bytes: T1 (seen once), T2 (seen again), ghosts B1 and B2 (keys and
 * sizes of what T1 and T2 evicted). A hit moves the entry to T2's MRU end
 * (deferred as above); a miss whose key is in B1 grows the target p of T1
 * (recency was evicted too soon), one in B2 shrinks it; replacement evicts
 * from T1 while T1 is over p, else from T2. The paper counts pages; here
 * every list counts bytes and p moves by the entry's size scaled as the
 * paper scales 1.
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

/* A place in a circular doubly linked list (the ARC lists, the limbo). */
struct ldb__cache_link {
    struct ldb__cache_link *prev, *next;
};

/* An entry starts on a cache line (entries with data are allocated 64-byte
 * aligned; ghosts are not, never being hit)
 * and what a hit reads or writes comes first, within 42 bytes: a hit
 * touches that one line of the entry before its data (which starts at
 * byte 72, after the fields only the shard lock's holder uses). */
struct ldb__cache_entry {
    /* Fields marked (atomic) are read and written with __atomic builtins. */
    struct ldb__cache_entry *hnext;         /* hash chain, walked without the lock (atomic) */
    struct ldb__cache_key key;              /* set before it is indexed, then fixed */
    uint32_t size;                          /* bytes of data */
    uint32_t refs;                          /* pins, plus one while cached or in limbo (atomic) */
    uint8_t referenced;                     /* hit since the policy last looked (atomic) */
    uint8_t list;                           /* enum in cache.c: its list, or none (atomic) */
    /* Not read by a hit: */
    struct ldb__cache_link link;            /* its list or the limbo: shard lock */
    uint64_t retired;                       /* the epoch it left the index at */
    uint8_t data[];
};

/* The pins a txn holds, the hits it has not yet added to the cache's count,
 * and its lookup epoch (0 when no lookup runs; see cache.c). Zeroed before
 * first use; a txn's pins are used by one thread at a time. */
struct ldb__pins {
    struct ldb__cache_entry **v;
    size_t len, cap;
    uint64_t hits;
    uint64_t epoch;                  /* (atomic) */
    struct ldb__pins *rprev, *rnext; /* the cache's list of lookup slots */
    int registered;
};

int ldb__cache_open(size_t bytes, unsigned nshards, struct ldb__cache **out);
/* Free everything (no pins may be held). */
void ldb__cache_close(struct ldb__cache *c);
/* A pinned entry for key, or NULL (a miss). With pins (the caller's txn's)
 * the lookup takes no lock and the hit is counted in pins until they are
 * released; without, it takes the shard lock (for tests and tools). The
 * caller records the pin itself (ldb__pins_add). */
struct ldb__cache_entry *ldb__cache_get(struct ldb__cache *c, const struct ldb__cache_key *key,
                                        struct ldb__pins *pins);
/* A private entry of size bytes to fill (pinned once, not in the cache). */
struct ldb__cache_entry *ldb__cache_entry_new(uint32_t size);
/* Put a filled private entry in the cache under key. Returns the entry now
 * cached for key, pinned: e itself, or (when another thread put one in
 * first) that one, e being freed. An entry too big for a shard stays
 * private. Takes the shard lock. */
struct ldb__cache_entry *ldb__cache_insert(struct ldb__cache *c, const struct ldb__cache_key *key,
                                           struct ldb__cache_entry *e);
void ldb__cache_unpin(struct ldb__cache *c, struct ldb__cache_entry *e);

struct ldb__cache_stats {
    uint64_t hits, misses, bytes;
    /* shard 0's ARC state, for the policy tests */
    uint64_t p, t1, t2, b1, b2;
};
/* The figures; shard 0's deferred hits are applied first, so that its
 * lists are what ARC would show. */
void ldb__cache_stats(struct ldb__cache *c, struct ldb__cache_stats *st);

/* Make room for one more pin (call before getting the entry, so that
 * recording it cannot fail), record one, release all. */
int ldb__pins_reserve(struct ldb__pins *p);
void ldb__pins_add(struct ldb__pins *p, struct ldb__cache_entry *e);
void ldb__pins_release(struct ldb__cache *c, struct ldb__pins *p);
void ldb__pins_free(struct ldb__cache *c, struct ldb__pins *p);

#ifdef LDB_TEST_HOOKS
/* Take (lock != 0) or drop every shard's lock: a test shows that hits do
 * not need it. */
void ldb__cache_test_lock(struct ldb__cache *c, int lock);
#endif

#endif
