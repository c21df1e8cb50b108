/* SPDX-License-Identifier: MIT */
/*
 * page.c: one branch or leaf page: bounds-checked node access, the hinted
 * binary search, and edits on dirty copies. See format.h for the layout.
 */
#include "page.h"

#include "checksum.h"

/* The 4 key bytes after the page prefix, big-endian, zero-padded: ordering
 * hints is consistent with ordering keys (a smaller hint means a smaller
 * key; equal hints decide nothing). */
static inline uint32_t key_hint(const uint8_t *rest, uint32_t len)
{
    if (len >= 4)
        return ((uint32_t)rest[0] << 24) | ((uint32_t)rest[1] << 16) | ((uint32_t)rest[2] << 8) |
               rest[3];
    switch (len) {
    case 3:
        return ((uint32_t)rest[0] << 24) | ((uint32_t)rest[1] << 16) | ((uint32_t)rest[2] << 8);
    case 2:
        return ((uint32_t)rest[0] << 24) | ((uint32_t)rest[1] << 16);
    case 1:
        return (uint32_t)rest[0] << 24;
    default:
        return 0;
    }
}

/* Eight bytes at a time: every insert into a page compares its key with a
 * neighbour's here, and byte by byte this loop was a third of the page
 * edits' instructions in an ascending load of 16-byte keys. Loaded as
 * little-endian, the first differing byte is the lowest set byte of the
 * xor on any host. */
static uint32_t common_prefix(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
    uint32_t n = alen < blen ? alen : blen, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x = ldb__ld_le64(a + i) ^ ldb__ld_le64(b + i);
        if (x != 0)
            return i + (uint32_t)__builtin_ctzll(x) / 8;
    }
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

void ldb__page_init(uint8_t *p, uint32_t psize, enum ldb_page_type type, uint64_t txnid)
{
    struct page_header *h = PAGE_HDR(p);
    memset(h, 0, sizeof *h);
    h->type = ldb__to_le16((uint16_t)type);
    h->txnid = ldb__to_le64(txnid);
    h->aux = ldb__to_le32(psize);
}

pgno_t ldb__page_overflow_pgno(const struct page_node *n)
{
    return ldb__rd64(n->value); /* a run_ref starts with it too */
}

uint32_t ldb__bare_run_checksum(const uint8_t *txnid_le, const void *value, size_t len)
{
    return ldb__crc32c(ldb__crc32c(0, txnid_le, 8), value, len);
}

int ldb__page_validate(const uint8_t *p, uint32_t psize)
{
    const struct page_header *h = PAGE_CHDR(p);
    unsigned type = ldb__le16(h->type), count = ldb__le16(h->count);
    uint32_t plen = ldb__le16(h->prefix_len);
    if (type != PAGE_LEAF && type != PAGE_BRANCH)
        return LDB_CORRUPT();
    TRY(ldb__page_check_header(p, psize, (enum ldb_page_type)type));
    unsigned first = type == PAGE_BRANCH ? 1 : 0;
    uint64_t heap_bytes = 0;
    struct page_node prev = {0}, cur, firstkey = {0};
    for (unsigned i = 0; i < count; i++) {
        TRY(ldb__page_node(p, psize, i, &cur));
        heap_bytes += cur.node_size;
        if (i < first) {
            if (cur.key_size != 0)
                return LDB_CORRUPT();
            continue;
        }
        if (i == first)
            firstkey = cur;
        else if (ldb__key_cmp(prev.key, prev.key_size, cur.key, cur.key_size) >= 0)
            return LDB_CORRUPT(); /* keys out of order */
        if (cur.key_size == 0 || cur.key_size < plen ||
            (plen && memcmp(cur.key, firstkey.key, plen) != 0))
            return LDB_CORRUPT();
        if (ldb__le32(PAGE_CSLOTS(p)[i].hint) != key_hint(cur.key + plen, cur.key_size - plen))
            return LDB_CORRUPT();
        prev = cur;
    }
    if (heap_bytes != psize - ldb__le32(h->aux))
        return LDB_CORRUPT(); /* overlapping or stray nodes */
    return 0;
}

/* The key of node idx (< count, which the caller knows), bounds-checked as
 * ldb__page_node checks them but without decoding the rest of the node:
 * the search reads keys only, and builds no page_node for each. The key
 * lies inside the page and holds at least the page's prefix. */
static inline int node_key(const uint8_t *p, uint32_t psize, unsigned idx, unsigned count,
                           int leaf, const uint8_t **key, uint32_t *ksize)
{
    uint64_t off = ldb__le32(PAGE_CSLOTS(p)[idx].offset);
    uint64_t slots_end = PAGE_HEADER_SIZE + (uint64_t)count * sizeof(struct page_slot);
    uint64_t hdr = leaf ? LEAF_NODE_HEADER : BRANCH_NODE_HEADER;
    if (LDB_UNLIKELY(off < slots_end || off + hdr > psize))
        return LDB_CORRUPT();
    const uint8_t *node = p + off;
    if (leaf) {
        /* The search is about to end here: ask for the rest of the node,
         * which the value read will want, before its first line arrives
         * with the node's size. Its next line, and its last by the page's
         * mean node size: a node of 64-128 bytes spans three lines more
         * often than two. (A prefetch never faults; past the page it
         * would only waste a fetch, so it stops at the page's end.) */
        uint64_t mean = (psize - (uint64_t)ldb__le32(PAGE_CHDR(p)->aux)) / count;
        uint64_t last = off + (mean > 64 ? mean : 64) - 1;
        __builtin_prefetch(node + 64);
        __builtin_prefetch(p + (last < psize ? last : psize - 1));
    }
    uint32_t size = ldb__rd16(leaf ? node : node + 8);
    if (LDB_UNLIKELY(off + hdr + size > psize || size < ldb__le16(PAGE_CHDR(p)->prefix_len)))
        return LDB_CORRUPT();
    *key = node + hdr;
    *ksize = size;
    return 0;
}

/* memcmp for the short runs keys are made of, with no call and no byte
 * loop: 8 bytes at a time, then the tail as two overlapping loads (bytes
 * both loads cover are equal by then, so the pair orders as the bytes). */
static inline int bytes_cmp(const uint8_t *a, const uint8_t *b, uint32_t n)
{
    uint64_t x, y;
    while (n >= 8) {
        x = ldb__ld_be64(a);
        y = ldb__ld_be64(b);
        if (x != y)
            return x < y ? -1 : 1;
        a += 8;
        b += 8;
        n -= 8;
    }
    if (n >= 4) {
        x = (uint64_t)ldb__ld_be32(a) << 32 | ldb__ld_be32(a + n - 4);
        y = (uint64_t)ldb__ld_be32(b) << 32 | ldb__ld_be32(b + n - 4);
    } else if (n >= 2) {
        x = (uint64_t)ldb__ld_be16(a) << 16 | ldb__ld_be16(a + n - 2);
        y = (uint64_t)ldb__ld_be16(b) << 16 | ldb__ld_be16(b + n - 2);
    } else if (n == 1) {
        x = a[0];
        y = b[0];
    } else {
        return 0;
    }
    return x < y ? -1 : x > y;
}

/* Where a key shorter than the page prefix goes: it cannot share the
 * prefix, so it sorts before or after every key of the page, as its bytes
 * compare with the first key's. */
static int search_short_key(const uint8_t *p, uint32_t psize, const uint8_t *key, uint32_t klen,
                            unsigned first, unsigned n, int leaf, unsigned *idx)
{
    const uint8_t *nkey = NULL;
    uint32_t nsize = 0;
    TRY(node_key(p, psize, first, n, leaf, &nkey, &nsize));
    *idx = bytes_cmp(key, nkey, klen) <= 0 ? first : n;
    return 0;
}

/* Ask for the slot lines the binary search will read, all at once, so
 * that its probes do not wait for them one after another. A branch page's
 * whole array (up to 32 lines: a branch of short keys holds ~100-200
 * slots, and the upper levels of a large tree are not all in cache); for
 * a larger array, and a leaf's past the lines 0-3 fetch() asked for, the
 * lines of the first three probes. */
static inline void prefetch_slots(const struct page_slot *slots, unsigned first, unsigned n,
                                  int leaf)
{
    if (!leaf && n <= 256) {
        for (const uint8_t *l = (const uint8_t *)&slots[first]; l <= (const uint8_t *)&slots[n - 1];
             l += 64)
            __builtin_prefetch(l);
        __builtin_prefetch(&slots[n - 1]);
    } else if (n > 28) { /* past line 3 */
        for (unsigned k = 1; k < 8; k++)
            __builtin_prefetch(&slots[first + (n - first) * k / 8]);
    }
}

int ldb__page_search(const uint8_t *p, uint32_t psize, const uint8_t *key, uint32_t klen,
                     unsigned *idx, int *exact)
{
    const struct page_header *h = PAGE_CHDR(p);
    const struct page_slot *slots = PAGE_CSLOTS(p);
    int leaf = ldb__le16(h->type) != PAGE_BRANCH;
    unsigned first = leaf ? 0 : 1, n = ldb__le16(h->count);
    const uint8_t *nkey = NULL;
    uint32_t nsize = 0;
    *exact = 0;
    if (n <= first) {
        *idx = first;
        return 0;
    }
    uint32_t plen = ldb__le16(h->prefix_len);
    if (LDB_UNLIKELY(klen < plen))
        return search_short_key(p, psize, key, klen, first, n, leaf, idx);
    prefetch_slots(slots, first, n, leaf);
    /* The hints and the node comparisons below hold for keys that share
     * the page's prefix; whether this one does is checked at the end. */
    uint32_t hint = key_hint(key + plen, klen - plen);
    unsigned lo = first, hi = n, mid = n;
    while (lo < hi) {
        mid = (lo + hi) / 2;
        uint32_t sh = ldb__le32(slots[mid].hint);
        if (sh < hint) {
            lo = mid + 1;
        } else if (sh > hint) {
            hi = mid;
        } else {
            TRY(node_key(p, psize, mid, n, leaf, &nkey, &nsize));
            uint32_t a = nsize - plen, b = klen - plen;
            int c = bytes_cmp(nkey + plen, key + plen, a < b ? a : b);
            if (c == 0)
                c = a < b ? -1 : a > b;
            if (c < 0) {
                lo = mid + 1;
            } else if (c > 0) {
                hi = mid;
            } else {
                *exact = 1;
                break;
            }
        }
    }
    *idx = *exact ? mid : lo;
    if (plen == 0)
        return 0;
    /* A key that does not share the prefix sorts before or after every key
     * of the page. Checked last, against the node this search or its caller
     * reads anyway (the match; else the one before the bound, which
     * ldb__branch_route descends to): checked first, against the first
     * node, it cost one more cache miss in the chain of every page. */
    unsigned v = *exact ? mid : lo > first ? lo - 1 : first;
    if (!*exact) /* on a match, nkey is the match's key */
        TRY(node_key(p, psize, v, n, leaf, &nkey, &nsize));
    int c = bytes_cmp(key, nkey, plen);
    if (c != 0) {
        *idx = c < 0 ? first : n;
        *exact = 0;
    }
    return 0;
}

int ldb__branch_route(const uint8_t *p, uint32_t psize, const uint8_t *key, uint32_t klen,
                      unsigned *idx)
{
    int exact;
    unsigned i;
    TRY(ldb__page_search(p, psize, key, klen, &i, &exact));
    *idx = exact ? i : i - 1;
    return 0;
}

/* Open a gap in the slot array at idx and carve node_size bytes off the
 * heap; returns the node's offset. */
static uint32_t make_room(uint8_t *p, unsigned idx, uint32_t node_size)
{
    struct page_header *h = PAGE_HDR(p);
    struct page_slot *slots = PAGE_SLOTS(p);
    uint32_t aux = ldb__le32(h->aux) - node_size;
    unsigned count = ldb__le16(h->count);
    h->aux = ldb__to_le32(aux);
    memmove(&slots[idx + 1], &slots[idx], (count - idx) * sizeof *slots);
    h->count = ldb__to_le16((uint16_t)(count + 1));
    slots[idx].offset = ldb__to_le32(aux);
    return aux;
}

#ifdef LDB_TEST_HOOKS
uint64_t ldb__page_prefix_updates;
#endif

/* Keep prefix_len and the hints true after inserting key at idx. */
static void update_prefix(uint8_t *p, uint32_t psize, unsigned idx, const uint8_t *key,
                          uint32_t ksize)
{
#ifdef LDB_TEST_HOOKS
    __atomic_fetch_add(&ldb__page_prefix_updates, 1, __ATOMIC_RELAXED);
#endif
    struct page_header *h = PAGE_HDR(p);
    unsigned first = ldb__le16(h->type) == PAGE_BRANCH ? 1 : 0;
    if (idx < first)
        return;
    if (ldb__le16(h->count) == first + 1) {
        h->prefix_len = ldb__to_le16((uint16_t)ksize);
    } else {
        struct page_node other;
        /* Structure is trusted on dirty pages (validated when copied). */
        (void)ldb__page_node(p, psize, idx == first ? first + 1 : first, &other);
        uint32_t l = common_prefix(key, ksize, other.key, other.key_size);
        if (l < ldb__le16(h->prefix_len)) {
            ldb__page_fix_hints(p, psize);
            return;
        }
    }
    uint32_t plen = ldb__le16(h->prefix_len);
    PAGE_SLOTS(p)[idx].hint = ldb__to_le32(key_hint(key + plen, ksize - plen));
}

void ldb__page_place_leaf(uint8_t *p, unsigned idx, const uint8_t *key, uint32_t ksize,
                          const void *value, uint32_t vsize, unsigned node_flags)
{
    int overflow = (node_flags & NODE_OVERFLOW) != 0;
    uint32_t size = ldb__leaf_node_size(ksize, vsize, node_flags);
    uint8_t *node = p + make_room(p, idx, size);
    ldb__st_le16(node, (uint16_t)ksize);
    node[2] = (uint8_t)(node_flags & NODE_FLAGS_KNOWN);
    node[3] = 0;
    ldb__st_le32(node + 4, vsize);
    memcpy(node + LEAF_NODE_HEADER, key, ksize);
    if (overflow) /* stored form */
        memcpy(node + LEAF_NODE_HEADER + ksize, value,
               size - LEAF_NODE_HEADER - ksize);
    else if (vsize)
        memcpy(node + LEAF_NODE_HEADER + ksize, value, vsize);
}

void ldb__page_insert_leaf(uint8_t *p, uint32_t psize, unsigned idx, const uint8_t *key,
                           uint32_t ksize, const void *value, uint32_t vsize,
                           unsigned node_flags)
{
    ldb__page_place_leaf(p, idx, key, ksize, value, vsize, node_flags);
    update_prefix(p, psize, idx, key, ksize);
}

void ldb__page_place_branch(uint8_t *p, unsigned idx, const uint8_t *key, uint32_t ksize,
                            pgno_t child)
{
    uint8_t *node = p + make_room(p, idx, ldb__branch_node_size(ksize));
    ldb__st_le64(node, child);
    ldb__st_le16(node + 8, (uint16_t)ksize);
    if (ksize)
        memcpy(node + BRANCH_NODE_HEADER, key, ksize);
}

void ldb__page_insert_branch(uint8_t *p, uint32_t psize, unsigned idx, const uint8_t *key,
                             uint32_t ksize, pgno_t child)
{
    ldb__page_place_branch(p, idx, key, ksize, child);
    if (idx == 0)
        PAGE_SLOTS(p)[0].hint = ldb__to_le32(0);
    else
        update_prefix(p, psize, idx, key, ksize);
}

void ldb__page_remove(uint8_t *p, uint32_t psize, unsigned idx)
{
    struct page_header *h = PAGE_HDR(p);
    struct page_slot *slots = PAGE_SLOTS(p);
    struct page_node node;
    (void)ldb__page_node(p, psize, idx, &node);
    uint32_t off = ldb__le32(slots[idx].offset), size = node.node_size;
    uint32_t aux = ldb__le32(h->aux);
    unsigned count = ldb__le16(h->count);
    /* Slide the nodes below this one up over it, then fix their offsets. */
    memmove(p + aux + size, p + aux, off - aux);
    for (unsigned i = 0; i < count; i++) {
        uint32_t o = ldb__le32(slots[i].offset);
        if (o < off)
            slots[i].offset = ldb__to_le32(o + size);
    }
    memmove(&slots[idx], &slots[idx + 1], (count - idx - 1) * sizeof *slots);
    h->count = ldb__to_le16((uint16_t)(count - 1));
    h->aux = ldb__to_le32(aux + size);
}

void ldb__page_set_child(uint8_t *p, unsigned idx, pgno_t child)
{
    ldb__st_le64(p + ldb__le32(PAGE_SLOTS(p)[idx].offset), child);
}

void ldb__page_fix_hints(uint8_t *p, uint32_t psize)
{
    struct page_header *h = PAGE_HDR(p);
    struct page_slot *slots = PAGE_SLOTS(p);
    unsigned first = ldb__le16(h->type) == PAGE_BRANCH ? 1 : 0;
    unsigned count = ldb__le16(h->count);
    struct page_node a, b;
    if (count <= first) {
        h->prefix_len = ldb__to_le16(0);
        if (count)
            slots[0].hint = ldb__to_le32(0);
        return;
    }
    (void)ldb__page_node(p, psize, first, &a);
    (void)ldb__page_node(p, psize, count - 1u, &b);
    uint32_t plen = common_prefix(a.key, a.key_size, b.key, b.key_size);
    h->prefix_len = ldb__to_le16((uint16_t)plen);
    if (first)
        slots[0].hint = ldb__to_le32(0);
    for (unsigned i = first; i < count; i++) {
        (void)ldb__page_node(p, psize, i, &a);
        slots[i].hint = ldb__to_le32(key_hint(a.key + plen, a.key_size - plen));
    }
}

void ldb__page_seal(uint8_t *p, size_t bytes)
{
    PAGE_HDR(p)->checksum = ldb__to_le32(ldb__crc32c(0, p + 4, bytes - 4));
}

int ldb__page_checksum_ok(const uint8_t *p, size_t bytes)
{
    return ldb__le32(PAGE_CHDR(p)->checksum) == ldb__crc32c(0, p + 4, bytes - 4);
}
