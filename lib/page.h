/* SPDX-License-Identifier: MIT */
/*
 * page.h: the layout of one branch or leaf page (see format.h): reading
 * nodes with every offset checked against the page bounds, the hinted
 * search, and the edits the B+tree makes on a private (dirty) copy.
 *
 * Readers call only the const functions, on pages of the shared map, and
 * each returns LDB_CORRUPTED instead of reading outside the page. The edit
 * functions run on dirty copies that ldb__page_validate() has checked in
 * full when they were copied, so they may trust the page's structure.
 */
#ifndef LDB_PAGE_H
#define LDB_PAGE_H

#include <stdint.h>
#include <string.h>

#include "error.h"
#include "format.h"

#define PAGE_HDR(p) ((struct page_header *)(void *)(p))
#define PAGE_CHDR(p) ((const struct page_header *)(const void *)(p))
#define PAGE_SLOTS(p) ((struct page_slot *)(void *)((uint8_t *)(p) + PAGE_HEADER_SIZE))
#define PAGE_CSLOTS(p) ((const struct page_slot *)(const void *)((const uint8_t *)(p) + PAGE_HEADER_SIZE))

/* Limits derived from the page size. Keys are at most a quarter of a page
 * (with a node header, an overflow pointer and a slot), so a branch page
 * always has room for four children. A leaf node with its value inline is
 * at most half a page (so values up to ~2 KiB sit beside their keys in 4 KiB
 * pages, three of 1 KiB to a page); bigger values go to overflow runs. Every
 * node being at most half a page is what lets a split always find a point
 * where both halves fit (btree.c, split_point). */
static inline uint32_t ldb__node_max(uint32_t psize)
{
    return (psize - PAGE_HEADER_SIZE) / 4 - (uint32_t)sizeof(struct page_slot);
}
static inline uint32_t ldb__leaf_inline_max(uint32_t psize)
{
    return (psize - PAGE_HEADER_SIZE) / 2 - (uint32_t)sizeof(struct page_slot);
}
static inline uint32_t ldb__key_max(uint32_t psize)
{
    return ldb__node_max(psize) - LEAF_NODE_HEADER - (uint32_t)sizeof(pgno_t);
}
static inline uint32_t ldb__page_used(const uint8_t *p, uint32_t psize)
{
    const struct page_header *h = PAGE_CHDR(p);
    return ldb__le16(h->count) * (uint32_t)sizeof(struct page_slot) +
           (psize - ldb__le32(h->aux));
}
static inline uint32_t ldb__page_room(const uint8_t *p)
{
    const struct page_header *h = PAGE_CHDR(p);
    return ldb__le32(h->aux) - PAGE_HEADER_SIZE -
           ldb__le16(h->count) * (uint32_t)sizeof(struct page_slot);
}

/* A node's parts, as located by ldb__page_node(). */
struct page_node {
    const uint8_t *key;
    uint32_t key_size;
    /* leaf only */
    const uint8_t *value;  /* inline bytes, or where the overflow pgno (or,
                              bare, the run_ref) is */
    uint32_t value_size;   /* the value's full size */
    int overflow;          /* the value is in an overflow run */
    int bare;              /* that run is bare: value is a run_ref */
    int compressed;        /* the stored value is compressed (NODE_COMPRESSED) */
    /* branch only */
    pgno_t child;
    uint32_t node_size;    /* bytes of the node in the heap */
};

void ldb__page_init(uint8_t *p, uint32_t psize, enum ldb_page_type type, uint64_t txnid);
/* Cheap header check done on every page a search visits (inline: a get
 * makes one per level). */
static inline int ldb__page_check_header(const uint8_t *p, uint32_t psize,
                                         enum ldb_page_type type)
{
    const struct page_header *h = PAGE_CHDR(p);
    if (LDB_UNLIKELY(ldb__le16(h->type) != type))
        return LDB_CORRUPT();
    uint64_t slots_end = PAGE_HEADER_SIZE + (uint64_t)ldb__le16(h->count) * sizeof(struct page_slot);
    uint32_t aux = ldb__le32(h->aux);
    if (LDB_UNLIKELY(aux < slots_end || aux > psize || ldb__le16(h->prefix_len) > psize))
        return LDB_CORRUPT();
    return 0;
}
/* Full check of every slot and node: done on pages copied for writing and by
 * ldb_check. */
int ldb__page_validate(const uint8_t *p, uint32_t psize);
/* Little-endian loads of node fields (format.h). */
static inline uint16_t ldb__rd16(const uint8_t *p)
{
    return ldb__ld_le16(p);
}
static inline uint32_t ldb__rd32(const uint8_t *p)
{
    return ldb__ld_le32(p);
}
static inline uint64_t ldb__rd64(const uint8_t *p)
{
    return ldb__ld_le64(p);
}

/* Locate node idx, checking every byte of it lies inside the page. On the
 * hot path of every search and scan, hence inline. */
static inline int ldb__page_node(const uint8_t *p, uint32_t psize, unsigned idx, struct page_node *n)
{
    const struct page_header *h = PAGE_CHDR(p);
    *n = (struct page_node){0}; /* defined even when the page is damaged */
    unsigned count = ldb__le16(h->count);
    if (LDB_UNLIKELY(idx >= count))
        return LDB_CORRUPT();
    uint64_t off = ldb__le32(PAGE_CSLOTS(p)[idx].offset);
    uint64_t slots_end = PAGE_HEADER_SIZE + (uint64_t)count * sizeof(struct page_slot);
    if (ldb__le16(h->type) == PAGE_LEAF) {
        if (LDB_UNLIKELY(off < slots_end || off + LEAF_NODE_HEADER > psize))
            return LDB_CORRUPT();
        const uint8_t *node = p + off;
        n->key_size = ldb__rd16(node);
        n->overflow = (node[2] & NODE_OVERFLOW) != 0;
        n->bare = (node[2] & (NODE_OVERFLOW | NODE_BARE)) == (NODE_OVERFLOW | NODE_BARE);
        n->compressed = (node[2] & NODE_COMPRESSED) != 0;
        n->value_size = ldb__rd32(node + 4);
        n->key = node + LEAF_NODE_HEADER;
        n->value = n->key + n->key_size;
        uint64_t vbytes = n->bare       ? RUN_REF_SIZE
                          : n->overflow ? sizeof(pgno_t)
                                        : n->value_size;
        uint64_t end = off + LEAF_NODE_HEADER + n->key_size + vbytes;
        if (LDB_UNLIKELY(end > psize))
            return LDB_CORRUPT();
        n->node_size = (uint32_t)(end - off);
        n->child = 0;
    } else {
        if (LDB_UNLIKELY(off < slots_end || off + BRANCH_NODE_HEADER > psize))
            return LDB_CORRUPT();
        const uint8_t *node = p + off;
        n->child = ldb__rd64(node);
        n->key_size = ldb__rd16(node + 8);
        n->key = node + BRANCH_NODE_HEADER;
        if (LDB_UNLIKELY(off + BRANCH_NODE_HEADER + n->key_size > psize))
            return LDB_CORRUPT();
        n->node_size = BRANCH_NODE_HEADER + n->key_size;
        n->value = NULL;
        n->value_size = 0;
        n->overflow = 0;
        n->bare = 0;
        n->compressed = 0;
    }
    return 0;
}
pgno_t ldb__page_overflow_pgno(const struct page_node *n);
/* Pages of node n's overflow run, as far as the node tells: a bare run's
 * length follows from the value size; a headed run's is in its header. */
static inline uint64_t ldb__bare_run_pages(uint32_t value_size, uint32_t psize)
{
    return ((uint64_t)value_size + psize - 1) / psize;
}
/* A bare run's checksum (struct run_ref): txnid_le is the ref's 8 stored
 * txnid bytes. */
uint32_t ldb__bare_run_checksum(const uint8_t *txnid_le, const void *value, size_t len);

/* Lower bound: the first index >= first_idx whose key is >= key (count if
 * none); *exact says whether that key equals key. first_idx is 1 in branch
 * pages (slot 0 stands for minus infinity), 0 in leaves. */
int ldb__page_search(const uint8_t *p, uint32_t psize, const uint8_t *key, uint32_t klen,
                     unsigned *idx, int *exact);
/* The child index a branch page routes key to. */
int ldb__branch_route(const uint8_t *p, uint32_t psize, const uint8_t *key, uint32_t klen,
                      unsigned *idx);

/* Node sizes and building. */
/* node_flags: NODE_OVERFLOW and NODE_BARE decide what the value takes
 * (1, NODE_OVERFLOW, is a headed run's pgno). */
static inline uint32_t ldb__leaf_node_size(uint32_t ksize, uint32_t vsize, unsigned node_flags)
{
    uint32_t v = !(node_flags & NODE_OVERFLOW) ? vsize
                 : (node_flags & NODE_BARE)    ? RUN_REF_SIZE
                                               : (uint32_t)sizeof(pgno_t);
    return LEAF_NODE_HEADER + ksize + v;
}
static inline uint32_t ldb__branch_node_size(uint32_t ksize)
{
    return BRANCH_NODE_HEADER + ksize;
}

/* Insert a node at slot idx; the caller made sure it fits (ldb__page_room
 * >= node size + slot). value is the inline value, or the overflow pgno as
 * stored (8 bytes, little-endian: ldb__st_le64), or with NODE_BARE the
 * stored run_ref (20 bytes); node_flags are NODE_OVERFLOW, NODE_BARE and
 * NODE_COMPRESSED. */
void ldb__page_insert_leaf(uint8_t *p, uint32_t psize, unsigned idx, const uint8_t *key,
                           uint32_t ksize, const void *value, uint32_t vsize,
                           unsigned node_flags);
void ldb__page_insert_branch(uint8_t *p, uint32_t psize, unsigned idx, const uint8_t *key,
                             uint32_t ksize, pgno_t child);
/* The same inserts without the prefix and hint upkeep, for building a
 * page from many entries (a split, a share): the caller calls
 * ldb__page_fix_hints once after the last, before anything reads or
 * inserts into the page (kept per insert, a split's rebuild cost ~190
 * instructions an entry, and every shrink of the prefix rewrote all the
 * hints so far). */
void ldb__page_place_leaf(uint8_t *p, unsigned idx, const uint8_t *key, uint32_t ksize,
                          const void *value, uint32_t vsize, unsigned node_flags);
void ldb__page_place_branch(uint8_t *p, unsigned idx, const uint8_t *key, uint32_t ksize,
                            pgno_t child);
void ldb__page_remove(uint8_t *p, uint32_t psize, unsigned idx);
void ldb__page_set_child(uint8_t *p, unsigned idx, pgno_t child);
/* Recompute the common prefix and every hint (after building a page). */
void ldb__page_fix_hints(uint8_t *p, uint32_t psize);
/* Compare two keys: memcmp order, shorter first on a tie. */
static inline int ldb__key_cmp(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
    uint32_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

#ifdef LDB_TEST_HOOKS
/* Inserts that kept the prefix and hints one at a time, in this process. */
extern uint64_t ldb__page_prefix_updates;
#endif

/* Checksums: over bytes [4, bytes) of a page or overflow run. */
#include <stddef.h>
void ldb__page_seal(uint8_t *p, size_t bytes);
int ldb__page_checksum_ok(const uint8_t *p, size_t bytes);

#endif
