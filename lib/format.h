/* SPDX-License-Identifier: MIT */
/*
 * format.h: every on-disk structure, byte for byte (docs/format.md says the
 * same in prose). All integers are little-endian fixed width, except the
 * search hints and free-tree keys, which are big-endian so that comparing
 * them as integers or bytes gives key order. Multi-byte fields of the
 * structs below have the types le16_t, le32_t and le64_t, which only the
 * byte-order helpers (ldb__le16() to read, ldb__to_le16() to write, ...)
 * open: a field read in place does not compile, so big-endian hosts read
 * the same files. On little-endian hosts the helpers are plain loads and
 * stores. Bytes that are not a struct field (node headers, log records)
 * are read with ldb__ld_le16() and friends.
 *
 * A data file is an array of pages of page_size bytes (4096..65536):
 *   page 0, 1   meta pages, written alternately (txn id parity picks one)
 *   page 2..    branch, leaf and overflow pages; free ones are listed in the
 *               free tree
 *
 * Branch and leaf pages:
 *   [page_header 32 B][slot 0][slot 1]...[slot n-1] ...free... [nodes]
 * Slots (8 B each) grow up from byte 32, nodes are packed from the end of the
 * page down to heap_start. Slots are in key order; nodes in any order.
 * A slot holds the node's offset and a 4-byte hint: the key bytes that follow
 * the page's common prefix (prefix_len bytes, shared by every key in the
 * page), big-endian, zero-padded. A search compares hints first and reads a
 * node only to break a tie, so most comparisons stay in the slot array.
 *
 * Overflow runs: a value too large to sit in a leaf is stored in
 * consecutive pages, contiguous (no header between pages), so ldb_get can
 * return one pointer into the map. A bare run (NODE_BARE, format 4) is
 * the value's bytes alone, ceil(size / page_size) pages: what identifies
 * and checks it (page number, writing txn, checksum) is in the leaf node's
 * run_ref. A headed run (formats 1..3, still read) starts with a
 * page_header (type OVERFLOW, aux = npages) and the node holds its pgno.
 */
#ifndef LDB_FORMAT_H
#define LDB_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LDB_HOST_LE 1
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define LDB_HOST_LE 0
#else
#error "unknown host byte order (__BYTE_ORDER__)"
#endif

typedef uint64_t pgno_t;

/* A little-endian field of an on-disk struct. A struct, not an integer, so
 * that the compiler refuses a read or write that skips the helpers. */
typedef struct { uint16_t raw; } le16_t;
typedef struct { uint32_t raw; } le32_t;
typedef struct { uint64_t raw; } le64_t;

/* Between host order and little- or big-endian (either direction). */
static inline uint16_t ldb__swap_le16(uint16_t v) { return LDB_HOST_LE ? v : __builtin_bswap16(v); }
static inline uint32_t ldb__swap_le32(uint32_t v) { return LDB_HOST_LE ? v : __builtin_bswap32(v); }
static inline uint64_t ldb__swap_le64(uint64_t v) { return LDB_HOST_LE ? v : __builtin_bswap64(v); }
static inline uint16_t ldb__swap_be16(uint16_t v) { return LDB_HOST_LE ? __builtin_bswap16(v) : v; }
static inline uint32_t ldb__swap_be32(uint32_t v) { return LDB_HOST_LE ? __builtin_bswap32(v) : v; }
static inline uint64_t ldb__swap_be64(uint64_t v) { return LDB_HOST_LE ? __builtin_bswap64(v) : v; }

/* Struct fields: the value of a field, and the field holding a value. */
static inline uint16_t ldb__le16(le16_t f) { return ldb__swap_le16(f.raw); }
static inline uint32_t ldb__le32(le32_t f) { return ldb__swap_le32(f.raw); }
static inline uint64_t ldb__le64(le64_t f) { return ldb__swap_le64(f.raw); }
static inline le16_t ldb__to_le16(uint16_t v) { return (le16_t){ldb__swap_le16(v)}; }
static inline le32_t ldb__to_le32(uint32_t v) { return (le32_t){ldb__swap_le32(v)}; }
static inline le64_t ldb__to_le64(uint64_t v) { return (le64_t){ldb__swap_le64(v)}; }

/* Loads and stores at any (unaligned) byte address. */
static inline uint16_t ldb__ld_le16(const void *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return ldb__swap_le16(v);
}
static inline uint32_t ldb__ld_le32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return ldb__swap_le32(v);
}
static inline uint64_t ldb__ld_le64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return ldb__swap_le64(v);
}
static inline uint16_t ldb__ld_be16(const void *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return ldb__swap_be16(v);
}
static inline uint32_t ldb__ld_be32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return ldb__swap_be32(v);
}
static inline uint64_t ldb__ld_be64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return ldb__swap_be64(v);
}
static inline void ldb__st_le16(void *p, uint16_t v)
{
    v = ldb__swap_le16(v);
    memcpy(p, &v, 2);
}
static inline void ldb__st_le32(void *p, uint32_t v)
{
    v = ldb__swap_le32(v);
    memcpy(p, &v, 4);
}
static inline void ldb__st_le64(void *p, uint64_t v)
{
    v = ldb__swap_le64(v);
    memcpy(p, &v, 8);
}
static inline void ldb__st_be32(void *p, uint32_t v)
{
    v = ldb__swap_be32(v);
    memcpy(p, &v, 4);
}
static inline void ldb__st_be64(void *p, uint64_t v)
{
    v = ldb__swap_be64(v);
    memcpy(p, &v, 8);
}

#define LDB_MAGIC 0x3142444C474E544CULL /* "LTNGLDB1" as LE bytes */
/* Version 2 added compressed values (NODE_COMPRESSED): a version 1 reader
 * would return their stored bytes as the value, so it must refuse them.
 * Version 1 files have no such node and read as they are; the first
 * checkpoint rewrites their meta page as version 2. */
/* Version 4 added bare overflow runs (NODE_BARE): a version 3 reader would
 * take their 20-byte run_ref for an 8-byte pgno and the run for a page.
 * Headed runs of older files stay readable beside them. */
#define LDB_FORMAT_VERSION 4u
#define LDB_FORMAT_VERSION_MIN 1u
#define LDB_MIN_PAGE_SIZE 4096u
#define LDB_MAX_PAGE_SIZE 65536u
#define LDB_META_PAGES 2u
/* The meta checksum covers the first META_BYTES of the meta page (the rest
 * is zero): a meta page can be validated before the page size is known. */
#define LDB_META_BYTES 512u
/* Deepest tree accepted: a fanout of at least 4 makes 32 levels more than
 * any file can hold; deeper means a damaged (cyclic) tree. */
#define LDB_MAX_DEPTH 32u

enum ldb_page_type {
    PAGE_META = 1,
    PAGE_BRANCH = 2,
    PAGE_LEAF = 3,
    PAGE_OVERFLOW = 4,
};

struct page_header {
    le32_t checksum;   /* CRC32C of bytes [4, page end) (overflow: run end) */
    le16_t type;       /* enum ldb_page_type */
    le16_t count;      /* slots (entries) in a branch or leaf page */
    le64_t pgno;       /* this page's number: catches misdirected writes */
    le64_t txnid;      /* the txn that wrote this page */
    le32_t aux;        /* branch/leaf: heap_start; overflow: npages */
    le16_t prefix_len; /* branch/leaf: bytes every key of the page shares */
    le16_t reserved;   /* zero */
};
_Static_assert(sizeof(struct page_header) == 32, "page header is 32 bytes");
_Static_assert(offsetof(struct page_header, pgno) == 8, "pgno at 8");
_Static_assert(offsetof(struct page_header, aux) == 24, "aux at 24");
#define PAGE_HEADER_SIZE 32u

struct page_slot {
    le32_t hint;   /* 4 key bytes after the page prefix, big-endian, as a
                    * number (stored little-endian, like every field) */
    le32_t offset; /* node offset from the page start */
};
_Static_assert(sizeof(struct page_slot) == 8, "slot is 8 bytes");

/* Leaf node: header, key, then the value inline, or an overflow page number
 * (8 bytes, little-endian), or a run_ref (NODE_BARE, 20 bytes). Nodes sit
 * at any byte offset: their fields are read with ldb__rd16() and friends
 * (page.h), not through these structs. */
struct leaf_node {
    le16_t key_size;
    uint8_t flags;        /* NODE_OVERFLOW: value lives in an overflow run */
    uint8_t reserved;
    le32_t value_size;    /* the value's full size, inline or not */
    /* key_size bytes of key, then value_size bytes or a pgno_t */
};
_Static_assert(sizeof(struct leaf_node) == 8, "leaf node header is 8 bytes");
#define LEAF_NODE_HEADER 8u
#define NODE_OVERFLOW 0x1u
/* The stored value (inline or in the overflow run) is a value_header and a
 * compressed payload; value_size counts the stored bytes. Format 2 on. */
#define NODE_COMPRESSED 0x2u
/* With NODE_OVERFLOW: the run is bare (no page header) and the node holds
 * a run_ref, not a pgno. Format 4 on. */
#define NODE_BARE 0x4u
#define NODE_FLAGS_KNOWN (NODE_OVERFLOW | NODE_COMPRESSED | NODE_BARE)

/* What a bare run's leaf node holds in place of the value (nodes sit at any
 * offset: read with ldb__ld_le64() and friends at these offsets). The run
 * is ceil(value_size / page_size) pages from pgno: the value's bytes, then
 * zeros to the end of its last page. txnid is the txn that wrote the run:
 * with pgno it names the value for the value cache (a run is never written
 * again until freed, and reuse stamps a newer id). checksum is the CRC32C
 * of the 8 txnid bytes as stored followed by the value's bytes: a damaged
 * txnid cannot name another value in the cache unnoticed. */
struct run_ref {
    le64_t pgno;
    le64_t txnid;
    le32_t checksum;
};
#define RUN_REF_PGNO 0u
#define RUN_REF_TXNID 8u
#define RUN_REF_CHECKSUM 16u
#define RUN_REF_SIZE 20u
_Static_assert(offsetof(struct run_ref, checksum) == RUN_REF_CHECKSUM, "checksum at 16");

/* The first bytes of a compressed value. codec is LDB_COMPRESS_LZ4 (a raw
 * LZ4 block) or LDB_COMPRESS_ZSTD (one zstd frame); raw_size is the size
 * the payload must decompress to, exactly. */
struct value_header {
    uint8_t codec;
    uint8_t dict[3];     /* dictionary id, 24 bits little-endian; 0: none
                            (format 3; zero in format 2) */
    le32_t raw_size;
    /* the compressed payload: value_size - VALUE_HEADER_SIZE bytes */
};
_Static_assert(sizeof(struct value_header) == 8, "value header is 8 bytes");
#define VALUE_HEADER_SIZE 8u

/* Branch node: the child's page number, then the key. Slot 0's key is
 * empty (it stands for minus infinity); slot i > 0 holds the smallest key
 * of child i's subtree or a shorter separator between children. */
struct branch_node {
    le64_t child;
    le16_t key_size;
    /* key_size bytes of key */
};
#define BRANCH_NODE_HEADER 10u

/* A tree's descriptor: in the meta page for the main, catalog and free
 * trees, and as the catalog's value for each named tree. */
struct tree_desc {
    uint64_t root;           /* 0 when the tree is empty */
    uint64_t entries;
    uint64_t branch_pages;
    uint64_t leaf_pages;
    uint64_t overflow_pages;
    uint32_t depth;          /* 0 empty, 1 a lone leaf */
    uint32_t flags;          /* zero */
};
_Static_assert(sizeof(struct tree_desc) == 48, "tree descriptor is 48 bytes");

/* On disk as below, all little-endian; in memory in host order except the
 * header (ldb__meta_swap converts). */
struct meta_page {
    struct page_header header; /* type PAGE_META, pgno 0 or 1 */
    uint64_t magic;            /* LDB_MAGIC */
    uint32_t version;          /* LDB_FORMAT_VERSION */
    uint32_t page_size;
    uint64_t txnid;            /* the txn this meta commits */
    uint64_t npages;           /* pages in use: 0..npages-1 (the high-water mark) */
    struct tree_desc main_tree;
    struct tree_desc catalog_tree;
    struct tree_desc free_tree;
    uint64_t db_id;            /* random at creation: ties the log to this file */
};
_Static_assert(offsetof(struct meta_page, magic) == 32, "magic at 32");
_Static_assert(offsetof(struct meta_page, main_tree) == 64, "main tree at 64");
_Static_assert(offsetof(struct meta_page, db_id) == 208, "db id at 208");
_Static_assert(sizeof(struct meta_page) == 216, "meta is 216 bytes");
_Static_assert(sizeof(struct meta_page) <= LDB_META_BYTES, "meta fits its checksum span");

/* Tree descriptors and meta pages are used in host order in memory (a
 * txn's working copies); these convert the stored little-endian form. A
 * meta page's header stays in stored form (it is a page_header). */
static inline void ldb__tree_desc_swap(struct tree_desc *t)
{
    t->root = ldb__swap_le64(t->root);
    t->entries = ldb__swap_le64(t->entries);
    t->branch_pages = ldb__swap_le64(t->branch_pages);
    t->leaf_pages = ldb__swap_le64(t->leaf_pages);
    t->overflow_pages = ldb__swap_le64(t->overflow_pages);
    t->depth = ldb__swap_le32(t->depth);
    t->flags = ldb__swap_le32(t->flags);
}
/* A descriptor from its stored bytes (a catalog value: 48 bytes). */
static inline void ldb__tree_desc_load(struct tree_desc *t, const void *stored)
{
    memcpy(t, stored, sizeof *t);
    ldb__tree_desc_swap(t);
}
/* A descriptor's stored bytes. */
static inline void ldb__tree_desc_store(void *stored, const struct tree_desc *t)
{
    struct tree_desc le = *t;
    ldb__tree_desc_swap(&le);
    memcpy(stored, &le, sizeof le);
}
static inline void ldb__meta_swap(struct meta_page *m)
{
    m->magic = ldb__swap_le64(m->magic);
    m->version = ldb__swap_le32(m->version);
    m->page_size = ldb__swap_le32(m->page_size);
    m->txnid = ldb__swap_le64(m->txnid);
    m->npages = ldb__swap_le64(m->npages);
    ldb__tree_desc_swap(&m->main_tree);
    ldb__tree_desc_swap(&m->catalog_tree);
    ldb__tree_desc_swap(&m->free_tree);
    m->db_id = ldb__swap_le64(m->db_id);
}

/* Free tree: key = txn id (8 B big-endian) + chunk number (4 B big-endian);
 * value = up to FREE_CHUNK_PAGES page numbers (8 B little-endian each) that
 * the txn stopped using. Chunks numbered from HELD_CHUNK up list pages of the
 * trees of the checkpoint before the txn (see freelist.h). */
#define FREE_KEY_SIZE 12u
#define FREE_CHUNK_PAGES 64u
#define HELD_CHUNK 0x80000000u

#endif
