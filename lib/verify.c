/* SPDX-License-Identifier: MIT */
/*
 * verify.c: the full verifier (see verify.h). It never trusts a page: every
 * page is checksummed and validated before its contents are used, and a
 * page reached twice is reported rather than walked again, so a damaged
 * (even cyclic) file ends in findings, not a crash or a hang.
 */
#include "verify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "compress.h"
#include "dict.h"
#include "error.h"
#include "meta.h"
#include "os.h"
#include "page.h"

#define MAX_REPORTED 50

/* Pages walked between two progress reports. */
#define PROGRESS_PAGES 4096

struct checker {
    ldb_txn *txn;
    const struct ldb__pager *pg;
    FILE *report;
    uint8_t *seen; /* one bit per page */
    uint64_t npages;
    uint64_t findings;
    ldb_backup_progress_fn progress; /* may be NULL */
    void *progress_ctx;
    uint64_t claimed, next_report; /* pages claimed so far; when to report */
};

static void report_progress(struct checker *ck)
{
    if (ck->progress == NULL || ck->claimed < ck->next_report)
        return;
    ck->next_report = ck->claimed + PROGRESS_PAGES;
    /* Only a report: a check runs to its end (the result is ignored). */
    (void)ck->progress(ck->progress_ctx, ck->claimed, ck->npages);
}

struct tree_count {
    uint64_t entries, branch, leaf, overflow;
};

struct bound {
    const uint8_t *key; /* NULL = unbounded */
    uint32_t len;
};

__attribute__((format(printf, 2, 3))) static void finding(struct checker *ck, const char *fmt, ...)
{
    ck->findings++;
    if (ck->report == NULL || ck->findings > MAX_REPORTED)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(ck->report, fmt, ap);
    va_end(ap);
    fputc('\n', ck->report);
}

/* Claim pages [pgno, pgno+n) for what; 0 if all were unclaimed and in range. */
static int claim(struct checker *ck, uint64_t pgno, uint64_t n, const char *what)
{
    if (pgno < LDB_META_PAGES || pgno >= ck->npages || n > ck->npages - pgno) {
        finding(ck, "%s: page %" PRIu64 " (+%" PRIu64 ") is outside the file's %" PRIu64 " pages",
                what, pgno, n, ck->npages);
        return -1;
    }
    int rc = 0;
    for (uint64_t p = pgno; p < pgno + n; p++) {
        if (ck->seen[p / 8] & (1u << (p % 8))) {
            finding(ck, "%s: page %" PRIu64 " is used twice", what, p);
            rc = -1;
        }
        ck->seen[p / 8] |= (uint8_t)(1u << (p % 8));
    }
    ck->claimed += n;
    report_progress(ck);
    return rc;
}

static int in_bounds(const struct page_node *n, const struct bound *lo, const struct bound *hi)
{
    if (lo->key && ldb__key_cmp(n->key, n->key_size, lo->key, lo->len) < 0)
        return 0;
    if (hi->key && ldb__key_cmp(n->key, n->key_size, hi->key, hi->len) >= 0)
        return 0;
    return 1;
}

/* A bare run: its extent from the value size, its bytes against the
 * checksum in its ref. */
static void check_bare_run(struct checker *ck, const char *tree, const struct page_node *n,
                           struct tree_count *c)
{
    pgno_t ov = ldb__page_overflow_pgno(n);
    uint32_t psize = ck->pg->page_size;
    uint64_t run = ldb__bare_run_pages(n->value_size, psize);
    if (run == 0) {
        finding(ck, "%s: overflow run at %" PRIu64 " holds an empty value", tree, ov);
        return;
    }
    if (claim(ck, ov, run, tree) < 0)
        return;
    c->overflow += run;
    const uint8_t *p = ck->pg->map + ov * psize;
    if (ldb__bare_run_checksum(n->value + RUN_REF_TXNID, p, n->value_size) !=
        ldb__rd32(n->value + RUN_REF_CHECKSUM))
        finding(ck, "%s: overflow run at %" PRIu64 " fails its checksum", tree, ov);
}

static void check_overflow(struct checker *ck, const char *tree, const struct page_node *n,
                           struct tree_count *c)
{
    if (n->bare) {
        check_bare_run(ck, tree, n, c);
        return;
    }
    pgno_t ov = ldb__page_overflow_pgno(n);
    uint32_t psize = ck->pg->page_size;
    if (ov < LDB_META_PAGES || ov >= ck->npages) {
        finding(ck, "%s: overflow page %" PRIu64 " out of range", tree, ov);
        return;
    }
    const uint8_t *p = ck->pg->map + ov * psize;
    const struct page_header *h = PAGE_CHDR(p);
    if (ldb__le16(h->type) != PAGE_OVERFLOW || ldb__le32(h->aux) == 0 || ldb__le64(h->pgno) != ov) {
        finding(ck, "%s: page %" PRIu64 " is not the overflow run it should be", tree, ov);
        return;
    }
    if (claim(ck, ov, ldb__le32(h->aux), tree) < 0)
        return;
    c->overflow += ldb__le32(h->aux);
    if (PAGE_HEADER_SIZE + (uint64_t)n->value_size > (uint64_t)ldb__le32(h->aux) * psize)
        finding(ck, "%s: overflow run at %" PRIu64 " is shorter than its value", tree, ov);
    else if (!ldb__page_checksum_ok(p, (size_t)ldb__le32(h->aux) * psize))
        finding(ck, "%s: overflow run at %" PRIu64 " fails its checksum", tree, ov);
}

/* A compressed value must decompress to exactly its recorded size. */
static void check_compressed(struct checker *ck, const char *tree, const struct page_node *n)
{
    ldb_val v;
    int codec;
    uint32_t raw;
    if (ldb__btree_node_value(ck->pg, n, &v) < 0)
        return; /* the overflow run's own finding says why */
    if (ldb__compress_header(v.data, (uint32_t)v.size, &codec, &raw) < 0) {
        finding(ck, "%s: a compressed value's header is damaged", tree);
        return;
    }
    uint8_t *buf = malloc(raw);
    if (buf == NULL) {
        finding(ck, "%s: no memory to decompress a %" PRIu32 "-byte value", tree, raw);
        return;
    }
    if (ldb__dict_decompress(ck->txn, v.data, (uint32_t)v.size, buf, raw) < 0)
        finding(ck, "%s: a compressed value does not decompress to its %" PRIu32 " bytes", tree,
                raw);
    free(buf);
}

static void walk_page(struct checker *ck, const char *tree, const struct tree_desc *t, pgno_t pgno,
                      unsigned level, struct bound lo, struct bound hi, struct tree_count *c,
                      void (*visit)(struct checker *, const struct page_node *, void *), void *arg)
{
    uint32_t psize = ck->pg->page_size;
    if (claim(ck, pgno, 1, tree) < 0)
        return;
    const uint8_t *p = ck->pg->map + pgno * psize;
    const struct page_header *h = PAGE_CHDR(p);
    if (!ldb__page_checksum_ok(p, psize)) {
        finding(ck, "%s: page %" PRIu64 " fails its checksum", tree, pgno);
        return;
    }
    if (ldb__le64(h->pgno) != pgno)
        finding(ck, "%s: page %" PRIu64 " says it is page %" PRIu64, tree, pgno,
                ldb__le64(h->pgno));
    int leaf = level + 1 == t->depth;
    if (ldb__le16(h->type) != (leaf ? PAGE_LEAF : PAGE_BRANCH)) {
        finding(ck, "%s: page %" PRIu64 " at level %u has type %u", tree, pgno, level,
                ldb__le16(h->type));
        return;
    }
    if (ldb__page_validate(p, psize) < 0) {
        finding(ck, "%s: page %" PRIu64 " is malformed (%s)", tree, pgno, ldb__corrupt_where());
        return;
    }
    if (ldb__le16(h->count) == 0)
        finding(ck, "%s: page %" PRIu64 " is empty", tree, pgno);
    if (leaf)
        c->leaf++;
    else
        c->branch++;
    for (unsigned i = 0; i < ldb__le16(h->count); i++) {
        struct page_node n;
        if (ldb__page_node(p, psize, i, &n) < 0)
            return;
        if ((leaf || i > 0) && !in_bounds(&n, &lo, &hi))
            finding(ck, "%s: page %" PRIu64 " slot %u: key outside its parent's range", tree,
                    pgno, i);
        if (leaf) {
            c->entries++;
            if (n.overflow)
                check_overflow(ck, tree, &n, c);
            if (n.compressed)
                check_compressed(ck, tree, &n);
            if (visit)
                visit(ck, &n, arg);
            continue;
        }
        struct bound clo = i == 0 ? lo : (struct bound){n.key, n.key_size};
        struct bound chi = hi;
        if (i + 1 < ldb__le16(h->count)) {
            struct page_node nx;
            if (ldb__page_node(p, psize, i + 1, &nx) < 0)
                return;
            chi = (struct bound){nx.key, nx.key_size};
        }
        walk_page(ck, tree, t, n.child, level + 1, clo, chi, c, visit, arg);
    }
}

static void walk_tree(struct checker *ck, const char *tree, const struct tree_desc *t,
                      void (*visit)(struct checker *, const struct page_node *, void *), void *arg)
{
    struct tree_count c = {0};
    if (t->root == 0) {
        if (t->depth || t->entries || t->branch_pages || t->leaf_pages || t->overflow_pages)
            finding(ck, "%s: empty tree with non-zero counts", tree);
        return;
    }
    if (t->depth == 0 || t->depth > LDB_MAX_DEPTH) {
        finding(ck, "%s: depth %u is impossible", tree, t->depth);
        return;
    }
    struct bound none = {NULL, 0};
    walk_page(ck, tree, t, t->root, 0, none, none, &c, visit, arg);
    if (c.entries != t->entries || c.branch != t->branch_pages || c.leaf != t->leaf_pages ||
        c.overflow != t->overflow_pages)
        finding(ck,
                "%s: counts differ from its descriptor: entries %" PRIu64 "/%" PRIu64
                ", branch %" PRIu64 "/%" PRIu64 ", leaf %" PRIu64 "/%" PRIu64
                ", overflow %" PRIu64 "/%" PRIu64,
                tree, c.entries, t->entries, c.branch, t->branch_pages, c.leaf, t->leaf_pages,
                c.overflow, t->overflow_pages);
}

static void visit_catalog(struct checker *ck, const struct page_node *n, void *arg)
{
    (void)arg;
    ldb_val v;
    char name[LDB_MAX_NAME + 1];
    if (n->key_size > LDB_MAX_NAME || ldb__btree_node_value(ck->pg, n, &v) < 0 ||
        v.size != sizeof(struct tree_desc)) {
        finding(ck, "catalog: malformed entry");
        return;
    }
    memcpy(name, n->key, n->key_size);
    name[n->key_size] = '\0';
    struct tree_desc t;
    ldb__tree_desc_load(&t, v.data);
    char label[LDB_MAX_NAME + 16];
    snprintf(label, sizeof label, "tree \"%s\"", name);
    walk_tree(ck, label, &t, NULL, NULL);
}

static void visit_free(struct checker *ck, const struct page_node *n, void *arg)
{
    (void)arg;
    ldb_val v;
    if (n->key_size != FREE_KEY_SIZE || ldb__btree_node_value(ck->pg, n, &v) < 0 ||
        v.size % sizeof(pgno_t) != 0) {
        finding(ck, "free tree: malformed record");
        return;
    }
    for (size_t i = 0; i < v.size / sizeof(pgno_t); i++) {
        pgno_t p = ldb__ld_le64((const uint8_t *)v.data + i * sizeof p);
        claim(ck, p, 1, "free list");
    }
}

static void dict_finding(void *ctx, const char *what)
{
    finding(ctx, "%s", what);
}

int ldb__check_snapshot(ldb_txn *txn, FILE *report, ldb_backup_progress_fn progress,
                        void *ctx)
{
    struct checker ck = {.txn = txn, .pg = &txn->pager, .report = report, .npages = txn->snap.npages,
                         .progress = progress, .progress_ctx = ctx, .claimed = LDB_META_PAGES};
    ck.seen = ldb__calloc(ck.npages / 8 + 1, 1);
    if (ck.seen == NULL)
        return -ENOMEM;
    ck.seen[0] |= 3; /* the meta pages */
    walk_tree(&ck, "main tree", &txn->snap.main_tree, NULL, NULL);
    walk_tree(&ck, "catalog", &txn->snap.catalog_tree, visit_catalog, NULL);
    walk_tree(&ck, "free tree", &txn->snap.free_tree, visit_free, NULL);
    (void)ldb__dict_check(txn, dict_finding, &ck); /* finding() counts */
    uint64_t lost = 0;
    for (uint64_t p = 0; p < ck.npages; p++) {
        if (!(ck.seen[p / 8] & (1u << (p % 8)))) {
            if (lost++ < 10)
                finding(&ck, "page %" PRIu64 " is neither used nor free", p);
            else
                ck.findings++;
        }
    }
    ldb__free(ck.seen);
    if (progress != NULL)
        (void)progress(ctx, ck.npages, ck.npages); /* the walk is done */
    if (report) {
        if (ck.findings)
            fprintf(report, "%" PRIu64 " problem(s) found in snapshot %" PRIu64 "\n", ck.findings,
                    txn->snap.txnid);
        else
            fprintf(report, "snapshot %" PRIu64 ": %" PRIu64 " pages, all checks passed\n",
                    txn->snap.txnid, ck.npages);
    }
    return ck.findings ? LDB_CORRUPTED : 0;
}

/* Read meta page slot's image; *state: 0 valid (into *m), 1 never written
 * (all zero), -1 damaged (why says how). */
static int read_meta(ldb_env *env, uint64_t size, unsigned slot, struct meta_page *m, int *state,
                     const char **why)
{
    uint8_t image[LDB_META_BYTES];
    uint64_t off = (uint64_t)slot * env->page_size;
    *state = -1;
    if (size < off + sizeof image) {
        *why = "missing: the file ends before it";
        return 0;
    }
    TRY(ldb__os_pread_full(env->fd, image, sizeof image, off));
    size_t i = 0;
    while (i < sizeof image && image[i] == 0)
        i++;
    uint64_t bytes;
    if (i == sizeof image) {
        *state = 1;
        *why = "all zeros";
    } else if (ldb__meta_check(image, slot, m) < 0) {
        *why = "fails its checks (checksum, magic, page number or bounds)";
    } else if (m->page_size != env->page_size || m->db_id != env->db_id) {
        *why = "belongs to another database or page size";
    } else if (__builtin_mul_overflow(m->npages, m->page_size, &bytes) || bytes > size) {
        *why = "names more pages than the file holds";
    } else {
        *state = 0;
    }
    return 0;
}

/* Both meta pages must be valid: the newest is the database, the other the
 * fallback a damaged newest one (or a checkpoint torn by a crash) opens
 * from. One damaged meta leaves a database that opens and reads, but whose
 * next misfortune loses it: a finding, so LDB_CORRUPTED. The exception is a
 * database never checkpointed: creation writes meta 0 only, and meta 1 is
 * zeros until the first checkpoint. The sync mutex (held by checkpoints)
 * keeps a meta page from being read mid-write. */
static int check_metas(ldb_env *env, struct checker *ck)
{
    uint64_t size;
    TRY(ldb__os_file_size(env->fd, &size));
    int locked = !(env->opts.flags & LDB_IMMUTABLE) && ldb__lock_sync_acquire(&env->lock, 0) == 0;
    struct meta_page m[2];
    int state[2] = {-1, -1}, rc = 0;
    const char *why[2] = {"", ""};
    for (unsigned slot = 0; slot < 2 && rc == 0; slot++)
        rc = read_meta(env, size, slot, &m[slot], &state[slot], &why[slot]);
    if (locked)
        ldb__lock_sync_release(&env->lock);
    TRY(rc);
    for (unsigned slot = 0; slot < 2; slot++) {
        unsigned other = slot ^ 1u;
        if (state[slot] == 0 ||
            (state[slot] == 1 && slot == 1 && state[other] == 0 && m[other].txnid == 0))
            continue;
        if (state[other] == 0)
            finding(ck, "meta page %u is damaged (%s); the database opens from meta page %u "
                    "(txn %" PRIu64 "), which has no fallback now", slot, why[slot], other,
                    m[other].txnid);
        else
            finding(ck, "meta page %u is damaged (%s)", slot, why[slot]);
    }
    return 0;
}

int ldb_check(ldb_env *env, FILE *report)
{
    return ldb_check_ex(env, report, NULL, NULL);
}

int ldb_check_ex(ldb_env *env, FILE *report, ldb_backup_progress_fn progress, void *ctx)
{
    ldb_txn *txn;
    TRY(ldb_txn_begin(env, LDB_TXN_RDONLY, &txn));
    struct checker metas = {.report = report};
    int rc = check_metas(env, &metas);
    if (rc == 0)
        rc = ldb__check_snapshot(txn, report, progress, ctx);
    ldb_txn_abort(txn);
    TRY(rc == LDB_CORRUPTED ? 0 : rc);
    if (metas.findings) {
        if (report)
            fprintf(report, "%" PRIu64 " problem(s) found in the meta pages\n", metas.findings);
        return LDB_CORRUPTED;
    }
    return rc;
}
