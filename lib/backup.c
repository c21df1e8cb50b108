/* SPDX-License-Identifier: MIT */
/*
 * backup.c: ldb_backup and ldb_backup_fd (see backup.h for the two shapes
 * of copy and the meta page they carry).
 *
 * A backup to a path writes "<path>.ldb-backup-tmp" in the same directory,
 * holding flock(LOCK_EX) on it (a second backup to the same path gets
 * LDB_BUSY; one that finds the temporary unlocked knows its writer died and
 * reuses it), fsyncs it, renames it to the path without ever replacing
 * anything there, and fsyncs the directory. So the path shows nothing, or a
 * complete and durable copy.
 *
 * Who holds what: the backup holds one reader slot (its read txn) from the
 * first byte to the last, never the writer mutex. Every page it reads is in
 * that snapshot, which no writer changes while the slot holds it; pages free
 * in the snapshot may be rewritten by writers meanwhile, which is why they
 * are never read.
 */
#include "backup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "btree.h"
#include "checksum.h"
#include "error.h"
#include "meta.h"
#include "os.h"
#include "page.h"

#define OUT_BUF_BYTES (1u << 20) /* pages gathered into one write */
#define SEND_CHUNK (16u << 20)   /* bytes per sendfile: bounds progress gaps */
#define PROGRESS_STEP (4u << 20)

/* ---- the sequential output ------------------------------------------------ */

struct out {
    int fd;        /* -1 in a dry pass: only count */
    int data_fd;   /* the data file, source of sendfile */
    const uint8_t *map;
    /* Write from the map, not sendfile: always unless fd is a regular file.
     * sendfile into a pipe or a socket queues references to the data
     * file's cached pages, not copies; once the backup ends its snapshot, a
     * writer may reuse those pages while the reader of the pipe has yet to
     * read them (a test caught copies taking later commits' bytes so). */
    int no_sendfile;
    uint8_t *buf;  /* bytes gathered, not yet written */
    size_t len;
    uint64_t done, total, next_report;
    ldb_backup_progress_fn progress;
    void *ctx;
};

static int out_report(struct out *o)
{
    if (o->fd < 0 || o->progress == NULL || o->done < o->next_report || o->done >= o->total)
        return 0;
    o->next_report = o->done + PROGRESS_STEP;
    return o->progress(o->ctx, o->done, o->total) ? -ECANCELED : 0;
}

static int out_flush(struct out *o)
{
    if (o->fd < 0 || o->len == 0)
        return 0;
    size_t n = o->len;
    o->len = 0;
    return ldb__os_write_all(o->fd, o->buf, n);
}

/* Append n bytes (n <= OUT_BUF_BYTES). */
static int out_bytes(struct out *o, const void *p, size_t n)
{
    if (o->fd >= 0) {
        if (o->len + n > OUT_BUF_BYTES)
            TRY(out_flush(o));
        memcpy(o->buf + o->len, p, n);
        o->len += n;
    }
    o->done += n;
    return out_report(o);
}

static int out_zeros(struct out *o, uint64_t n)
{
    static const uint8_t zeros[65536];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        TRY(out_bytes(o, zeros, k));
        n -= k;
    }
    return 0;
}

/* n bytes of the data file at off, all inside the snapshot: copied by the
 * kernel where it can (sendfile), else written from the map. */
static int out_file_range(struct out *o, uint64_t off, uint64_t n)
{
    while (n > 0) {
        size_t k = n < SEND_CHUNK ? (size_t)n : SEND_CHUNK;
        if (o->fd >= 0) {
            TRY(out_flush(o));
            size_t sent = 0;
            int rc = -ENOSYS;
            if (!o->no_sendfile)
                rc = ldb__os_send_file(o->fd, o->data_fd, off, k, &sent);
            if ((rc == -EINVAL || rc == -ENOSYS) && sent == 0) {
                o->no_sendfile = 1;
                rc = ldb__os_write_all(o->fd, o->map + off, k);
            }
            TRY(rc);
        }
        o->done += k;
        off += k;
        n -= k;
        TRY(out_report(o));
    }
    return 0;
}

/* ---- reading the snapshot ------------------------------------------------------ */

struct backup {
    const struct ldb__pager *pg;
    const struct ldb__snapshot *snap;
    uint64_t db_id;
    uint32_t psize;
    int verify;        /* check checksums of what is copied (compact, real pass) */
    pgno_t next_pgno;  /* compact: the next page number to hand out */
    uint8_t *scratch;  /* one page */
    uint8_t *level_pages[LDB_MAX_DEPTH]; /* compact: one page per tree level */
    struct out out;
};

typedef int (*visit_fn)(struct backup *b, const struct page_node *n, void *arg);

struct walk {
    struct backup *b;
    const struct tree_desc *t;
    visit_fn visit;
    void *arg;
    const uint8_t *prev_key; /* NULL before the first entry */
    uint32_t prev_len;
};

/* Every page is checked before use (bytes from disk): its type for its
 * level, its number, that it is not empty; keys must rise strictly across
 * the whole walk, which also stops a damaged tree that reaches a page twice. */
static int walk_page(struct walk *w, pgno_t pgno, unsigned level)
{
    struct backup *b = w->b;
    const uint8_t *p = NULL;
    TRY(ldb__pager_get(b->pg, pgno, &p));
    int leaf = level + 1 == w->t->depth;
    TRY(ldb__page_check_header(p, b->psize, leaf ? PAGE_LEAF : PAGE_BRANCH));
    const struct page_header *h = PAGE_CHDR(p);
    if (ldb__le16(h->count) == 0 || ldb__le64(h->pgno) != pgno)
        return LDB_CORRUPT();
    if (b->verify && !ldb__page_checksum_ok(p, b->psize))
        return LDB_CORRUPT();
    for (unsigned i = 0; i < ldb__le16(h->count); i++) {
        struct page_node n;
        TRY(ldb__page_node(p, b->psize, i, &n));
        if (!leaf) {
            TRY(walk_page(w, n.child, level + 1));
            continue;
        }
        if (w->prev_key && ldb__key_cmp(w->prev_key, w->prev_len, n.key, n.key_size) >= 0)
            return LDB_CORRUPT();
        w->prev_key = n.key;
        w->prev_len = n.key_size;
        TRY(w->visit(b, &n, w->arg));
    }
    return 0;
}

/* Call visit on every entry of tree t, in key order. */
static int walk_tree(struct backup *b, const struct tree_desc *t, visit_fn visit, void *arg)
{
    if (t->root == 0)
        return 0;
    if (t->depth == 0 || t->depth > LDB_MAX_DEPTH)
        return LDB_CORRUPT();
    struct walk w = {b, t, visit, arg, NULL, 0};
    return walk_page(&w, t->root, 0);
}

/* Both meta pages, describing the copy. */
static int out_meta(struct backup *b, uint64_t npages, const struct tree_desc *main_tree,
                    const struct tree_desc *catalog, const struct tree_desc *free_tree)
{
    struct meta_page m;
    ldb__meta_init(&m, b->psize);
    m.txnid = b->snap->txnid;
    m.npages = npages;
    m.main_tree = *main_tree;
    m.catalog_tree = *catalog;
    m.free_tree = *free_tree;
    m.db_id = b->db_id;
    memset(b->scratch, 0, b->psize);
    for (unsigned slot = 0; slot < LDB_META_PAGES; slot++) {
        ldb__meta_encode(&m, slot, b->scratch);
        TRY(out_bytes(&b->out, b->scratch, b->psize));
    }
    return 0;
}

/* ---- plain copy ---------------------------------------------------------------- */

struct pgno_set {
    pgno_t *items;
    size_t len, cap;
};

static int collect_free(struct backup *b, const struct page_node *n, void *arg)
{
    struct pgno_set *s = arg;
    ldb_val v;
    TRY(ldb__btree_node_value(b->pg, n, &v));
    if (n->key_size != FREE_KEY_SIZE || v.size % sizeof(pgno_t) != 0)
        return LDB_CORRUPT();
    for (size_t i = 0; i < v.size / sizeof(pgno_t); i++) {
        pgno_t p = ldb__rd64((const uint8_t *)v.data + i * sizeof p);
        if (p < LDB_META_PAGES || p >= b->snap->npages)
            return LDB_CORRUPT();
        if (s->len == s->cap) {
            pgno_t *items = ldb__array_grow(s->items, &s->cap, s->len + 1, sizeof *items, 1024);
            if (items == NULL)
                return -ENOMEM;
            s->items = items;
        }
        s->items[s->len++] = p;
    }
    return 0;
}

static int cmp_pgno(const void *a, const void *b)
{
    pgno_t x = *(const pgno_t *)a, y = *(const pgno_t *)b;
    return x < y ? -1 : x > y;
}

/* The snapshot's pages in order: runs of used pages from the data file,
 * runs of free ones as zeros. */
static int copy_pages(struct backup *b, const struct pgno_set *fr)
{
    uint64_t psize = b->psize, npages = b->snap->npages;
    size_t i = 0;
    for (pgno_t p = LDB_META_PAGES; p < npages;) {
        pgno_t next_free = i < fr->len ? fr->items[i] : npages;
        if (p < next_free) {
            TRY(out_file_range(&b->out, p * psize, (next_free - p) * psize));
            p = next_free;
            continue;
        }
        uint64_t run = 0;
        while (i < fr->len && fr->items[i] == p + run) {
            i++;
            run++;
        }
        if (i < fr->len && fr->items[i] < p + run)
            return LDB_CORRUPT(); /* a page listed free twice */
        TRY(out_zeros(&b->out, run * psize));
        p += run;
    }
    return 0;
}

static int copy_plain(struct backup *b)
{
    struct pgno_set fr = {0};
    int rc;
    CHECK_GOTO(rc, walk_tree(b, &b->snap->free_tree, collect_free, &fr), out);
    if (fr.len)
        qsort(fr.items, fr.len, sizeof *fr.items, cmp_pgno);
    b->out.total = b->snap->npages * (uint64_t)b->psize;
    if (b->out.progress)
        CHECK_GOTO(rc, b->out.progress(b->out.ctx, 0, b->out.total) ? -ECANCELED : 0, out);
    CHECK_GOTO(rc, out_meta(b, b->snap->npages, &b->snap->main_tree, &b->snap->catalog_tree,
                            &b->snap->free_tree),
               out);
    rc = copy_pages(b, &fr);
out:
    ldb__free(fr.items);
    return rc;
}

/* ---- compact copy: trees rebuilt bottom-up ----------------------------------------- */

/* One level of a tree being built (0 = leaves). */
struct level {
    uint8_t *page;     /* the page being filled; NULL in a dry pass */
    uint32_t count;    /* slots */
    uint32_t used;     /* bytes of slots and nodes */
    const uint8_t *sep; /* the key its parent routes by (NULL: leftmost) */
    uint32_t sep_len;
};

struct builder {
    struct backup *b;
    struct level lv[LDB_MAX_DEPTH];
    unsigned levels;
    const uint8_t *last_key; /* the last entry added */
    uint32_t last_len;
    struct tree_desc t;
};

static uint32_t room_of(const struct backup *b)
{
    return b->psize - PAGE_HEADER_SIZE;
}

/* The shortest prefix of next that sorts after prev (prev < next): the
 * separator a parent needs between the two pages. */
static uint32_t separator_len(const uint8_t *prev, uint32_t plen, const uint8_t *next,
                              uint32_t nlen)
{
    uint32_t n = plen < nlen ? plen : nlen, i = 0;
    while (i < n && prev[i] == next[i])
        i++;
    return i + 1 < nlen ? i + 1 : nlen;
}

static void level_reset(struct builder *bd, unsigned l)
{
    struct level *lv = &bd->lv[l];
    lv->count = 0;
    lv->used = 0;
    if (lv->page)
        ldb__page_init(lv->page, bd->b->psize, l == 0 ? PAGE_LEAF : PAGE_BRANCH,
                       bd->b->snap->txnid);
}

static int level_open(struct builder *bd, unsigned l)
{
    struct backup *b = bd->b;
    if (l < bd->levels)
        return 0;
    if (l >= LDB_MAX_DEPTH)
        return LDB_CORRUPT(); /* only a damaged source could be this deep */
    struct level *lv = &bd->lv[l];
    lv->page = NULL;
    if (b->out.fd >= 0) {
        if (b->level_pages[l] == NULL && (b->level_pages[l] = ldb__malloc(b->psize)) == NULL)
            return -ENOMEM;
        lv->page = b->level_pages[l];
    }
    lv->sep = NULL;
    lv->sep_len = 0;
    bd->levels = l + 1;
    level_reset(bd, l);
    return 0;
}

/* Give level l's page the next page number and write it. */
static int emit_page(struct builder *bd, unsigned l, pgno_t *pgno)
{
    struct backup *b = bd->b;
    uint8_t *p = bd->lv[l].page;
    *pgno = b->next_pgno++;
    if (l == 0)
        bd->t.leaf_pages++;
    else
        bd->t.branch_pages++;
    if (p != NULL) {
        struct page_header *h = PAGE_HDR(p);
        h->pgno = ldb__to_le64(*pgno);
        uint32_t slots_end =
            PAGE_HEADER_SIZE + ldb__le16(h->count) * (uint32_t)sizeof(struct page_slot);
        memset(p + slots_end, 0, ldb__le32(h->aux) - slots_end); /* no stale bytes in the copy */
        ldb__page_seal(p, b->psize);
    }
    return out_bytes(&b->out, p, b->psize);
}

static int add_child(struct builder *bd, unsigned l, const uint8_t *sep, uint32_t sep_len,
                     pgno_t child);

/* Level l's page is full: write it, hand it to its parent, start afresh. */
static int flush_level(struct builder *bd, unsigned l)
{
    pgno_t pgno;
    TRY(emit_page(bd, l, &pgno));
    TRY(add_child(bd, l + 1, bd->lv[l].sep, bd->lv[l].sep_len, pgno));
    level_reset(bd, l);
    return 0;
}

static int add_child(struct builder *bd, unsigned l, const uint8_t *sep, uint32_t sep_len,
                     pgno_t child)
{
    struct backup *b = bd->b;
    TRY(level_open(bd, l));
    struct level *lv = &bd->lv[l];
    uint32_t need = (uint32_t)sizeof(struct page_slot) + ldb__branch_node_size(sep_len);
    if (lv->count > 0 && lv->used + need > room_of(b)) {
        TRY(flush_level(bd, l));
        lv->sep = sep;
        lv->sep_len = sep_len;
    }
    uint32_t klen = lv->count == 0 ? 0 : sep_len; /* slot 0 stands for minus infinity */
    if (lv->page)
        ldb__page_insert_branch(lv->page, b->psize, lv->count, sep, klen, child);
    lv->used += (uint32_t)sizeof(struct page_slot) + ldb__branch_node_size(klen);
    lv->count++;
    return 0;
}

/* The source's bare run for n, renumbered to the next free numbers and
 * written now: its bytes as they are (the checksum in the ref covers the
 * value and the txn id, not the page number). ref gets the new run_ref. */
static int copy_bare_run(struct builder *bd, const struct page_node *n, uint8_t *ref)
{
    struct backup *b = bd->b;
    pgno_t from = ldb__page_overflow_pgno(n);
    uint64_t run = ldb__bare_run_pages(n->value_size, b->psize);
    const uint8_t *p = NULL;
    TRY(ldb__pager_get(b->pg, from, &p));
    if (run == 0 || run > b->snap->npages - from)
        return LDB_CORRUPT();
    if (b->out.fd >= 0 && b->verify &&
        ldb__bare_run_checksum(n->value + RUN_REF_TXNID, p, n->value_size) !=
            ldb__rd32(n->value + RUN_REF_CHECKSUM))
        return LDB_CORRUPT();
    memcpy(ref, n->value, RUN_REF_SIZE);
    ldb__st_le64(ref + RUN_REF_PGNO, b->next_pgno);
    b->next_pgno += run;
    bd->t.overflow_pages += run;
    return out_file_range(&b->out, from * (uint64_t)b->psize, run * b->psize);
}

/* The source's overflow run for n, renumbered to the next free numbers and
 * written now (before the leaf that names it). */
static int copy_overflow(struct builder *bd, const struct page_node *n, pgno_t *to)
{
    struct backup *b = bd->b;
    pgno_t from = ldb__page_overflow_pgno(n);
    const uint8_t *p = NULL;
    TRY(ldb__pager_get(b->pg, from, &p));
    const struct page_header *h = PAGE_CHDR(p);
    if (ldb__le16(h->type) != PAGE_OVERFLOW || ldb__le64(h->pgno) != from ||
        ldb__le32(h->aux) == 0 ||
        from + ldb__le32(h->aux) > b->snap->npages ||
        PAGE_HEADER_SIZE + (uint64_t)n->value_size > (uint64_t)ldb__le32(h->aux) * b->psize)
        return LDB_CORRUPT();
    uint64_t run = (uint64_t)ldb__le32(h->aux) * b->psize;
    *to = b->next_pgno;
    b->next_pgno += ldb__le32(h->aux);
    bd->t.overflow_pages += ldb__le32(h->aux);
    if (b->out.fd >= 0) {
        if (b->verify && !ldb__page_checksum_ok(p, (size_t)run))
            return LDB_CORRUPT();
        /* Only the header changes (its page number): reseal the run from
         * the new first page and the old rest. */
        memcpy(b->scratch, p, b->psize);
        PAGE_HDR(b->scratch)->pgno = ldb__to_le64(*to);
        uint32_t crc = ldb__crc32c(0, b->scratch + 4, b->psize - 4);
        PAGE_HDR(b->scratch)->checksum =
            ldb__to_le32(ldb__crc32c(crc, p + b->psize, (size_t)run - b->psize));
    }
    TRY(out_bytes(&b->out, b->scratch, b->psize));
    return out_file_range(&b->out, (from + 1) * (uint64_t)b->psize, run - b->psize);
}

/* Append one entry (a leaf node of the source, or a made-up catalog entry
 * with flags 0) to the tree being built. */
static int add_entry(struct builder *bd, const struct page_node *n, uint8_t node_flags)
{
    struct backup *b = bd->b;
    TRY(level_open(bd, 0));
    struct level *lv = &bd->lv[0];
    uint32_t need = (uint32_t)sizeof(struct page_slot) + n->node_size;
    if (lv->count > 0 && lv->used + need > room_of(b)) {
        uint32_t sl = separator_len(bd->last_key, bd->last_len, n->key, n->key_size);
        TRY(flush_level(bd, 0));
        lv->sep = n->key;
        lv->sep_len = sl;
    }
    pgno_t ov = 0;
    uint8_t ref[RUN_REF_SIZE]; /* the run's pgno or run_ref as the node stores it */
    if (n->bare) {
        TRY(copy_bare_run(bd, n, ref));
    } else if (n->overflow) {
        TRY(copy_overflow(bd, n, &ov));
        ldb__st_le64(ref, ov);
    }
    if (lv->page) {
        const void *v = n->overflow ? (const void *)ref : (const void *)n->value;
        ldb__page_insert_leaf(lv->page, b->psize, lv->count, n->key, n->key_size, v,
                              n->value_size, node_flags);
        /* Keep flag bits this code does not know of (a codec tag, say). */
        lv->page[ldb__le32(PAGE_SLOTS(lv->page)[lv->count].offset) + 2] = node_flags;
    }
    lv->used += need;
    lv->count++;
    bd->t.entries++;
    bd->last_key = n->key;
    bd->last_len = n->key_size;
    return 0;
}

static int build_visit(struct backup *b, const struct page_node *n, void *arg)
{
    (void)b;
    return add_entry(arg, n, n->key[2 - (int)LEAF_NODE_HEADER]);
}

/* Write what is left at each level, bottom up; the top page is the root. */
static int builder_finish(struct builder *bd, struct tree_desc *out)
{
    memset(out, 0, sizeof *out);
    if (bd->levels == 0)
        return 0;
    for (unsigned l = 0;; l++) {
        if (l + 1 == bd->levels) {
            pgno_t root;
            TRY(emit_page(bd, l, &root));
            bd->t.root = root;
            bd->t.depth = bd->levels;
            break;
        }
        TRY(flush_level(bd, l));
    }
    *out = bd->t;
    return 0;
}

static int build_tree(struct backup *b, const struct tree_desc *src, struct tree_desc *dst)
{
    struct builder bd;
    memset(&bd, 0, sizeof bd);
    bd.b = b;
    TRY(walk_tree(b, src, build_visit, &bd));
    return builder_finish(&bd, dst);
}

/* The named trees, in catalog order: the name (in the map) and the trees. */
struct named_tree {
    const uint8_t *name;
    uint32_t len;
    struct tree_desc src, dst;
};

struct catalog {
    struct named_tree *items;
    size_t len, cap;
};

static int collect_catalog(struct backup *b, const struct page_node *n, void *arg)
{
    struct catalog *c = arg;
    ldb_val v;
    TRY(ldb__btree_node_value(b->pg, n, &v));
    if (v.size != sizeof(struct tree_desc) || n->key_size > LDB_MAX_NAME)
        return LDB_CORRUPT();
    if (c->len == c->cap) {
        struct named_tree *items =
            ldb__array_grow(c->items, &c->cap, c->len + 1, sizeof *items, 16);
        if (items == NULL)
            return -ENOMEM;
        c->items = items;
    }
    struct named_tree *e = &c->items[c->len++];
    e->name = n->key;
    e->len = n->key_size;
    ldb__tree_desc_load(&e->src, v.data);
    memset(&e->dst, 0, sizeof e->dst);
    return 0;
}

struct layout {
    uint64_t npages;
    struct tree_desc main_tree, catalog;
};

/* One pass over the snapshot: the named trees, the main tree, then the
 * catalog naming the new roots. */
static int compact_pass(struct backup *b, struct catalog *cat, struct layout *lay)
{
    b->next_pgno = LDB_META_PAGES;
    for (size_t i = 0; i < cat->len; i++)
        TRY(build_tree(b, &cat->items[i].src, &cat->items[i].dst));
    TRY(build_tree(b, &b->snap->main_tree, &lay->main_tree));
    struct builder bd;
    memset(&bd, 0, sizeof bd);
    bd.b = b;
    for (size_t i = 0; i < cat->len; i++) {
        const struct named_tree *e = &cat->items[i];
        struct page_node n = {0};
        uint8_t stored[sizeof e->dst];
        ldb__tree_desc_store(stored, &e->dst);
        n.key = e->name;
        n.key_size = e->len;
        n.value = stored;
        n.value_size = sizeof e->dst;
        n.node_size = ldb__leaf_node_size(e->len, sizeof e->dst, 0);
        TRY(add_entry(&bd, &n, 0));
    }
    TRY(builder_finish(&bd, &lay->catalog));
    lay->npages = b->next_pgno;
    return 0;
}

static int copy_compact(struct backup *b)
{
    struct catalog cat = {0};
    struct layout dry, real;
    int rc;
    CHECK_GOTO(rc, walk_tree(b, &b->snap->catalog_tree, collect_catalog, &cat), out);
    int fd = b->out.fd;
    b->out.fd = -1;
    rc = compact_pass(b, &cat, &dry);
    b->out.fd = fd;
    if (rc < 0)
        goto out;
    b->out.done = 0;
    b->out.total = dry.npages * (uint64_t)b->psize;
    if (b->out.progress)
        CHECK_GOTO(rc, b->out.progress(b->out.ctx, 0, b->out.total) ? -ECANCELED : 0, out);
    struct tree_desc no_free = {0};
    CHECK_GOTO(rc, out_meta(b, dry.npages, &dry.main_tree, &dry.catalog, &no_free), out);
    b->verify = 1;
    CHECK_GOTO(rc, compact_pass(b, &cat, &real), out);
    /* The same snapshot twice gives the same layout; anything else means
     * the meta page already written is wrong. */
    if (memcmp(&dry, &real, sizeof dry) != 0)
        rc = LDB_CORRUPT();
out:
    ldb__free(cat.items);
    return rc;
}

int ldb__backup_stream(ldb_txn *txn, int fd, unsigned flags, ldb_backup_progress_fn progress,
                       void *ctx)
{
    ldb_env *env = txn->env;
    struct backup b;
    memset(&b, 0, sizeof b);
    b.pg = &txn->pager;
    b.snap = &txn->snap;
    b.db_id = env->db_id;
    b.psize = env->page_size;
    b.out = (struct out){.fd = fd, .data_fd = env->fd, .map = txn->pager.map, .progress = progress,
                         .ctx = ctx, .next_report = PROGRESS_STEP};
    int regular;
    int rc = ldb__os_is_regular(fd, &regular);
    if (rc < 0)
        return rc;
    b.out.no_sendfile = !regular;
    rc = -ENOMEM;
    b.scratch = ldb__malloc(b.psize);
    b.out.buf = ldb__malloc(OUT_BUF_BYTES);
    if (b.scratch == NULL || b.out.buf == NULL)
        goto out;
    rc = flags & LDB_BACKUP_COMPACT ? copy_compact(&b) : copy_plain(&b);
    if (rc == 0)
        rc = out_flush(&b.out);
    if (rc == 0 && b.out.done != b.out.total)
        rc = LDB_CORRUPT();
    if (rc == 0 && progress && progress(ctx, b.out.total, b.out.total))
        rc = -ECANCELED;
out:
    for (unsigned i = 0; i < LDB_MAX_DEPTH; i++)
        ldb__free(b.level_pages[i]);
    ldb__free(b.scratch);
    ldb__free(b.out.buf);
    return rc;
}

/* ---- the public calls ---------------------------------------------------------- */

static int backup_to_fd(ldb_env *env, int fd, unsigned flags, ldb_backup_progress_fn progress,
                        void *ctx)
{
    ldb_txn *txn;
    TRY(ldb_txn_begin(env, LDB_TXN_RDONLY, &txn));
    int rc = ldb__backup_stream(txn, fd, flags, progress, ctx);
    ldb_txn_abort(txn);
    return rc;
}

/* Open and lock the temporary, emptied. A temporary left by a backup that
 * died is unlocked and reused; a locked one belongs to a backup running now
 * (LDB_BUSY). After the lock, check the name still leads to the file we
 * locked: the backup that held it may have renamed it into place. */
static int tmp_open(const char *tmp, unsigned mode, int *out)
{
    for (int tries = 0; tries < 16; tries++) {
        int fd = -1, same = 0;
        TRY(ldb__os_open(tmp, O_WRONLY | O_CREAT, mode, &fd));
        int rc = ldb__os_lock_nowait(fd);
        if (rc == 0)
            rc = ldb__os_same_file(fd, tmp, &same);
        if (rc == 0 && same)
            rc = ldb__os_truncate(fd, 0);
        if (rc == 0 && same) {
            *out = fd;
            return 0;
        }
        ldb__os_close(fd);
        if (rc < 0)
            return rc;
    }
    return LDB_BUSY;
}

static int refuse_existing(const char *dest, const char *wal)
{
    int exists;
    TRY(ldb__os_exists(dest, &exists));
    if (!exists)
        TRY(ldb__os_exists(wal, &exists)); /* a log there would be replayed into the copy */
    return exists ? -EEXIST : 0;
}

static int backup_to_path(ldb_env *env, const char *dest, unsigned flags,
                          ldb_backup_progress_fn progress, void *ctx)
{
    if (dest[0] == '\0')
        return LDB_INVALID;
    char *tmp = ldb__str_concat(dest, LDB_BACKUP_TMP_SUFFIX), *wal = ldb__str_concat(dest, "-wal");
    int fd = -1, rc = -ENOMEM;
    if (tmp == NULL || wal == NULL)
        goto out;
    CHECK_GOTO(rc, refuse_existing(dest, wal), out);
    CHECK_GOTO(rc, tmp_open(tmp, env->opts.file_mode, &fd), out);
    CHECK_GOTO(rc, backup_to_fd(env, fd, flags, progress, ctx), drop);
    CHECK_GOTO(rc, ldb__os_fsync(fd), drop);
    CHECK_GOTO(rc, ldb__os_rename_noreplace(tmp, dest), drop);
    rc = ldb__os_fsync_parent_dir(dest);
    goto out;
drop:
    (void)ldb__os_unlink(tmp); /* still locked: no other backup is using it */
out:
    ldb__os_close(fd);
    ldb__free(tmp);
    ldb__free(wal);
    return rc;
}

int ldb_backup_ex(ldb_env *env, const char *dest_path, int fd, unsigned flags,
                  ldb_backup_progress_fn progress, void *ctx)
{
    TRY(ldb__env_check(env));
    if ((flags & ~(unsigned)LDB_BACKUP_COMPACT) || (dest_path == NULL) == (fd < 0))
        return LDB_INVALID;
    if (dest_path != NULL)
        return backup_to_path(env, dest_path, flags, progress, ctx);
    TRY(backup_to_fd(env, fd, flags, progress, ctx));
    int regular;
    TRY(ldb__os_is_regular(fd, &regular));
    return regular ? ldb__os_fsync(fd) : 0;
}

int ldb_backup(ldb_env *env, const char *dest_path, unsigned flags)
{
    if (dest_path == NULL)
        return LDB_INVALID;
    return ldb_backup_ex(env, dest_path, -1, flags, NULL, NULL);
}

int ldb_backup_fd(ldb_env *env, int fd, unsigned flags)
{
    if (fd < 0)
        return LDB_INVALID;
    return ldb_backup_ex(env, NULL, fd, flags, NULL, NULL);
}
