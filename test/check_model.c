/* SPDX-License-Identifier: MIT */
/*
 * Randomized model test: an in-memory sorted map per tree is the reference,
 * and every operation the test runs on the database it also runs on the
 * model, then compares the two.
 *
 * Each round is one write txn of a random size (puts that mostly overwrite,
 * NOOVERWRITE puts, deletes, gets, cursor deletes) on LDB_MAIN and a few named
 * trees. About one txn in seven is aborted: the model keeps an undo log of
 * the txn's changes and replays it backwards, so after either outcome it
 * equals the committed database. Now and then the test compares everything
 * (forward and backward cursor scans, SEEK and SEEK_EXACT at random keys,
 * entry counts), and closes and reopens the env.
 *
 * test_model_4k runs with the default 4 KiB pages and LDB_SYNC_FULL;
 * test_model_64k with 64 KiB pages and LDB_SYNC_OFF.
 *
 * LDB_MODEL_OPS sets the number of operations (default 100000) and
 * LDB_MODEL_SEED the seed; every failure message names the seed and the
 * operation number, so a failing run can be replayed exactly.
 */
#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTREES 4            /* LDB_MAIN and three named trees */
#define MAX_KEY 64
#define MAX_VAL 3000

static const char *const tree_names[NTREES] = {NULL, "alpha", "beta", "gamma"};

/* ---- the model: one sorted array of entries per tree ---------------------- */

typedef struct ment {
    uint8_t *key;
    size_t klen;
    uint8_t *val;
    size_t vlen;
} ment;

typedef struct mtree {
    ment *e;
    size_t n, cap;
} mtree;

/* One change of the running txn, enough to undo it. */
typedef struct mundo {
    int tree;
    uint8_t *key;
    size_t klen;
    int had;      /* the key was there before the change */
    uint8_t *val; /* its old value (owned) when had */
    size_t vlen;
} mundo;

typedef struct model {
    uint64_t seed;
    uint64_t rng;
    uint64_t op;      /* operations run so far, for messages */
    uint64_t ntxn;
    mtree t[NTREES];
    mundo *undo;
    size_t nundo, capundo;
    /* the database side */
    const char *path;
    ldb_options opts;
    ldb_env *env;
    ldb_dbi dbi[NTREES];
    uint64_t last_id; /* newest committed txn id */
    /* key families: shared prefixes so that many keys are prefixes of others */
    uint8_t family[8][MAX_KEY];
} model;

/* Fail the test, naming the seed and the operation. Not ck_assert_msg: that
 * one writes to Check's pipe on every success, which is slow in these loops. */
#define MCHECK(m, cond, fmt, ...)                                                        \
    do {                                                                                 \
        if (!(cond))                                                                     \
            ck_abort_msg("[seed %" PRIu64 " op %" PRIu64 " txn %" PRIu64 "] " fmt,       \
                         (m)->seed, (m)->op, (m)->ntxn, ##__VA_ARGS__);                  \
    } while (0)

/* Index of the first entry >= key; *found tells whether it is equal. */
static size_t mtree_lower(const mtree *t, const void *k, size_t kl, int *found)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tu_key_cmp(t->e[mid].key, t->e[mid].klen, k, kl) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < t->n && tu_key_cmp(t->e[lo].key, t->e[lo].klen, k, kl) == 0;
    return lo;
}

static ment *mtree_find(const mtree *t, const void *k, size_t kl)
{
    int found;
    size_t i = mtree_lower(t, k, kl, &found);
    return found ? &t->e[i] : NULL;
}

/* Insert a new entry at i, taking ownership of key and val. */
static void mtree_insert_at(mtree *t, size_t i, uint8_t *key, size_t kl, uint8_t *val,
                            size_t vl)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->e = realloc(t->e, t->cap * sizeof *t->e);
        ck_assert_ptr_nonnull(t->e);
    }
    memmove(&t->e[i + 1], &t->e[i], (t->n - i) * sizeof *t->e);
    t->e[i] = (ment){key, kl, val, vl};
    t->n++;
}

static void mtree_remove_at(mtree *t, size_t i, int free_key, int free_val)
{
    if (free_key)
        free(t->e[i].key);
    if (free_val)
        free(t->e[i].val);
    memmove(&t->e[i], &t->e[i + 1], (t->n - i - 1) * sizeof *t->e);
    t->n--;
}

static void mtree_free(mtree *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->e[i].key);
        free(t->e[i].val);
    }
    free(t->e);
    memset(t, 0, sizeof *t);
}

static mundo *undo_push(model *m, int tree, const void *k, size_t kl)
{
    if (m->nundo == m->capundo) {
        m->capundo = m->capundo ? m->capundo * 2 : 64;
        m->undo = realloc(m->undo, m->capundo * sizeof *m->undo);
        ck_assert_ptr_nonnull(m->undo);
    }
    mundo *u = &m->undo[m->nundo++];
    *u = (mundo){tree, tu_dup_bytes(k, kl), kl, 0, NULL, 0};
    return u;
}

/* Model put: records the undo entry, then changes the tree. */
static void model_put(model *m, int tree, const void *k, size_t kl, const void *v, size_t vl)
{
    mtree *t = &m->t[tree];
    mundo *u = undo_push(m, tree, k, kl);
    int found;
    size_t i = mtree_lower(t, k, kl, &found);
    if (found) {
        u->had = 1;
        u->val = t->e[i].val; /* ownership moves to the undo log */
        u->vlen = t->e[i].vlen;
        t->e[i].val = tu_dup_bytes(v, vl);
        t->e[i].vlen = vl;
    } else {
        mtree_insert_at(t, i, tu_dup_bytes(k, kl), kl, tu_dup_bytes(v, vl), vl);
    }
}

/* Model delete of an entry known to be present. */
static void model_del(model *m, int tree, const void *k, size_t kl)
{
    mtree *t = &m->t[tree];
    int found;
    size_t i = mtree_lower(t, k, kl, &found);
    ck_assert(found);
    mundo *u = undo_push(m, tree, k, kl);
    u->had = 1;
    u->val = t->e[i].val;
    u->vlen = t->e[i].vlen;
    mtree_remove_at(t, i, 1, 0);
}

static void model_commit(model *m)
{
    for (size_t i = 0; i < m->nundo; i++) {
        free(m->undo[i].key);
        free(m->undo[i].val);
    }
    m->nundo = 0;
}

static void model_rollback(model *m)
{
    while (m->nundo > 0) {
        mundo *u = &m->undo[--m->nundo];
        mtree *t = &m->t[u->tree];
        int found;
        size_t i = mtree_lower(t, u->key, u->klen, &found);
        if (!u->had) {
            ck_assert(found);
            mtree_remove_at(t, i, 1, 1);
            free(u->key);
        } else if (found) {
            free(t->e[i].val);
            t->e[i].val = u->val;
            t->e[i].vlen = u->vlen;
            free(u->key);
        } else {
            mtree_insert_at(t, i, u->key, u->klen, u->val, u->vlen);
        }
    }
}

/* ---- generators ------------------------------------------------------------ */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint64_t rnd(model *m, uint64_t n)
{
    return n ? tu_rand(&m->rng) % n : 0;
}

/* A key from a skewed distribution: half the time one of 64 hot ids, mostly
 * one of a few thousand warm ids, sometimes fresh random bytes. Ids map to
 * keys deterministically; keys of one family share a prefix, and a third of
 * the ids give pure prefixes of their family's string, so shorter-first
 * ordering is exercised. Lengths lean short; 1-byte keys collide a lot. */
static size_t gen_key(model *m, uint8_t *buf)
{
    uint64_t r = rnd(m, 100);
    if (r < 90) {
        uint64_t id = r < 50 ? rnd(m, 64) : rnd(m, 3000);
        uint64_t h = mix64(id + 0x1234567ull);
        size_t len = 1 + (size_t)(((h & 63) * ((h >> 6) & 63)) / 63);
        if (len > MAX_KEY)
            len = MAX_KEY;
        memcpy(buf, m->family[id % 8], len);
        if (id % 3 != 0) {
            uint64_t t = mix64(id);
            buf[len - 1] = (uint8_t)t;
            if (len > 1)
                buf[len - 2] ^= (uint8_t)(t >> 8) & 3;
        }
        return len;
    }
    size_t len = 1 + (size_t)rnd(m, MAX_KEY);
    static const uint8_t alphabet[] = {0x00, 0x01, 'a', 'b', 0x7f, 0x80, 0xfe, 0xff};
    for (size_t i = 0; i < len; i++)
        buf[i] = alphabet[rnd(m, sizeof alphabet)];
    return len;
}

/* 0..3000 bytes: mostly small, a fifth above 1 KiB (overflow pages at 4 KiB). */
static size_t gen_val(model *m, uint8_t *buf)
{
    uint64_t r = rnd(m, 100);
    size_t len;
    if (r < 40)
        len = (size_t)rnd(m, 33);
    else if (r < 70)
        len = 33 + (size_t)rnd(m, 468);
    else if (r < 80)
        len = 500 + (size_t)rnd(m, 525);
    else
        len = 1025 + (size_t)rnd(m, MAX_VAL - 1025 + 1);
    for (size_t i = 0; i < len; i += 8) {
        uint64_t x = tu_rand(&m->rng);
        size_t n = len - i < 8 ? len - i : 8;
        memcpy(buf + i, &x, n);
    }
    return len;
}

/* ---- database side ----------------------------------------------------------- */

/* Open (or, with LDB_CREATE, create) the named trees. Creation runs in a
 * write txn; opening existing trees in a read txn, whose commit keeps the
 * handles too. */
static void db_open_trees(model *m, unsigned flags)
{
    ldb_txn *txn;
    int rc = ldb_txn_begin(m->env, (flags & LDB_CREATE) ? 0 : LDB_TXN_RDONLY, &txn);
    MCHECK(m, rc == 0, "txn_begin: %s", ldb_strerror(rc));
    m->dbi[0] = LDB_MAIN;
    for (int i = 1; i < NTREES; i++) {
        rc = ldb_dbi_open(txn, tree_names[i], flags, &m->dbi[i]);
        MCHECK(m, rc == 0, "dbi_open(%s): %s", tree_names[i], ldb_strerror(rc));
    }
    rc = ldb_txn_commit(txn);
    MCHECK(m, rc == 0, "commit: %s", ldb_strerror(rc));
}

static void db_reopen(model *m)
{
    if (m->env) {
        int rc = ldb_close(m->env);
        MCHECK(m, rc == 0, "close: %s", ldb_strerror(rc));
    }
    m->env = tu_open(m->path, &m->opts);
    ldb_stat st;
    int rc = ldb_stat_env(m->env, &st);
    MCHECK(m, rc == 0, "stat_env: %s", ldb_strerror(rc));
    /* Closing may have shrunk the file, which commits a txn of the
     * library's own (ids are not the application's commits alone). */
    MCHECK(m, st.last_txn_id >= m->last_id && st.last_txn_id <= m->last_id + 3,
           "last_txn_id %" PRIu64 " after reopen, want %" PRIu64 " (+ at most 3)", st.last_txn_id,
           m->last_id);
    m->last_id = st.last_txn_id;
    MCHECK(m, st.page_size == (m->opts.page_size ? m->opts.page_size : 4096u),
           "page_size %u after reopen", (unsigned)st.page_size);
    db_open_trees(m, 0); /* handles do not outlive their env */
}

/* A key in hex for messages (at most MAX_KEY bytes are shown). */
static const char *hex(const void *p, size_t n)
{
    static char buf[4][2 * MAX_KEY + 8];
    static int next;
    char *b = buf[next++ & 3];
    const uint8_t *s = p;
    size_t k = 0;
    for (size_t i = 0; i < n && i < MAX_KEY; i++, k += 2)
        snprintf(b + k, 3, "%02x", s[i]);
    snprintf(b + k, 8, "%s", n == 0 ? "''" : n > MAX_KEY ? "..." : "");
    return b;
}

static void expect_entry(model *m, int tree, const ment *e, const ldb_val *k, const ldb_val *v,
                         const char *what)
{
    MCHECK(m, k->size == e->klen && memcmp(k->data, e->key, e->klen) == 0,
           "tree %d %s: key %s, want %s", tree, what, hex(k->data, k->size),
           hex(e->key, e->klen));
    MCHECK(m, v->size == e->vlen && (e->vlen == 0 || memcmp(v->data, e->val, e->vlen) == 0),
           "tree %d %s: key %s: value of %zu bytes differs from the model's %zu bytes", tree,
           what, hex(e->key, e->klen), v->size, e->vlen);
}

/* Compare one tree in full through txn: both directions, entry count, and
 * SEEK / SEEK_EXACT at random keys. */
static void compare_tree(model *m, ldb_txn *txn, int tree, int nseeks)
{
    mtree *t = &m->t[tree];
    ldb_cursor *cur;
    ldb_val k, v;
    int rc = ldb_cursor_open(txn, m->dbi[tree], &cur);
    MCHECK(m, rc == 0, "cursor_open: %s", ldb_strerror(rc));

    size_t i = 0;
    for (rc = ldb_cursor_get(cur, &k, &v, LDB_FIRST); rc == 0;
         rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) {
        MCHECK(m, i < t->n, "tree %d forward scan: extra key %s after %zu entries", tree,
               hex(k.data, k.size), t->n);
        expect_entry(m, tree, &t->e[i], &k, &v, "forward scan");
        i++;
    }
    MCHECK(m, rc == LDB_NOTFOUND, "tree %d forward scan ends with %s", tree, ldb_strerror(rc));
    MCHECK(m, i == t->n, "tree %d forward scan: %zu entries, model has %zu", tree, i, t->n);

    i = t->n;
    for (rc = ldb_cursor_get(cur, &k, &v, LDB_LAST); rc == 0;
         rc = ldb_cursor_get(cur, &k, &v, LDB_PREV)) {
        MCHECK(m, i > 0, "tree %d backward scan: extra key %s", tree, hex(k.data, k.size));
        i--;
        expect_entry(m, tree, &t->e[i], &k, &v, "backward scan");
    }
    MCHECK(m, rc == LDB_NOTFOUND, "tree %d backward scan ends with %s", tree, ldb_strerror(rc));
    MCHECK(m, i == 0, "tree %d backward scan stopped %zu entries short", tree, i);

    uint8_t kb[MAX_KEY];
    for (int s = 0; s < nseeks; s++) {
        size_t kl;
        if (t->n > 0 && rnd(m, 2) == 0) { /* an existing key, sometimes cut short */
            const ment *e = &t->e[rnd(m, t->n)];
            kl = e->klen > 1 && rnd(m, 3) == 0 ? 1 + (size_t)rnd(m, e->klen - 1) : e->klen;
            memcpy(kb, e->key, kl);
        } else {
            kl = gen_key(m, kb);
        }
        int found;
        size_t at = mtree_lower(t, kb, kl, &found);
        k = (ldb_val){kl, kb};
        rc = ldb_cursor_get(cur, &k, &v, LDB_SEEK);
        if (at == t->n) {
            MCHECK(m, rc == LDB_NOTFOUND, "tree %d SEEK %s past the end: %s", tree, hex(kb, kl),
                   ldb_strerror(rc));
        } else {
            MCHECK(m, rc == 0, "tree %d SEEK %s: %s", tree, hex(kb, kl), ldb_strerror(rc));
            expect_entry(m, tree, &t->e[at], &k, &v, "SEEK");
            /* The cursor is positioned: step both ways from there. */
            rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT);
            if (at + 1 < t->n) {
                MCHECK(m, rc == 0, "tree %d NEXT after SEEK: %s", tree, ldb_strerror(rc));
                expect_entry(m, tree, &t->e[at + 1], &k, &v, "NEXT after SEEK");
                rc = ldb_cursor_get(cur, &k, &v, LDB_PREV);
                MCHECK(m, rc == 0, "tree %d PREV after NEXT: %s", tree, ldb_strerror(rc));
                expect_entry(m, tree, &t->e[at], &k, &v, "PREV after NEXT");
            } else {
                MCHECK(m, rc == LDB_NOTFOUND, "tree %d NEXT at the end: %s", tree,
                       ldb_strerror(rc));
            }
            rc = ldb_cursor_get(cur, &k, &v, LDB_CURRENT);
            MCHECK(m, rc == 0, "tree %d CURRENT: %s", tree, ldb_strerror(rc));
            expect_entry(m, tree, &t->e[at], &k, &v, "CURRENT");
        }
        k = (ldb_val){kl, kb};
        rc = ldb_cursor_get(cur, &k, &v, LDB_SEEK_EXACT);
        if (found) {
            MCHECK(m, rc == 0, "tree %d SEEK_EXACT %s: %s", tree, hex(kb, kl), ldb_strerror(rc));
            expect_entry(m, tree, &t->e[at], &k, &v, "SEEK_EXACT");
        } else {
            MCHECK(m, rc == LDB_NOTFOUND, "tree %d SEEK_EXACT of absent %s: %s", tree,
                   hex(kb, kl), ldb_strerror(rc));
        }
    }
    ldb_cursor_close(cur);

    ldb_tree_stat ts;
    rc = ldb_dbi_stat(txn, m->dbi[tree], &ts);
    MCHECK(m, rc == 0, "dbi_stat: %s", ldb_strerror(rc));
    MCHECK(m, ts.entries == t->n, "tree %d dbi_stat entries %" PRIu64 ", model %zu", tree,
           ts.entries, t->n);
    MCHECK(m, (ts.depth == 0) == (t->n == 0), "tree %d depth %u with %zu entries", tree,
           (unsigned)ts.depth, t->n);
}

/* Everything, in a fresh read txn. */
static void compare_all(model *m)
{
    ldb_txn *txn;
    int rc = ldb_txn_begin(m->env, LDB_TXN_RDONLY, &txn);
    MCHECK(m, rc == 0, "read txn_begin: %s", ldb_strerror(rc));
    MCHECK(m, ldb_txn_id(txn) == m->last_id, "read txn id %" PRIu64 ", last commit %" PRIu64,
           ldb_txn_id(txn), m->last_id);
    for (int i = 0; i < NTREES; i++)
        compare_tree(m, txn, i, 200);
    rc = ldb_txn_commit(txn);
    MCHECK(m, rc == 0, "read txn commit: %s", ldb_strerror(rc));
}

/* A few random gets in a read txn against the committed model. */
static void spot_check(model *m, int n)
{
    ldb_txn *txn;
    int rc = ldb_txn_begin(m->env, LDB_TXN_RDONLY, &txn);
    MCHECK(m, rc == 0, "read txn_begin: %s", ldb_strerror(rc));
    uint8_t kb[MAX_KEY];
    for (int i = 0; i < n; i++) {
        int tree = (int)rnd(m, NTREES);
        size_t kl = gen_key(m, kb);
        ldb_val k = {kl, kb}, v;
        rc = ldb_get(txn, m->dbi[tree], &k, &v);
        const ment *e = mtree_find(&m->t[tree], kb, kl);
        if (e) {
            MCHECK(m, rc == 0, "tree %d get %s: %s", tree, hex(kb, kl), ldb_strerror(rc));
            expect_entry(m, tree, e, &k, &v, "get in read txn");
        } else {
            MCHECK(m, rc == LDB_NOTFOUND, "tree %d get of absent %s: %s", tree, hex(kb, kl),
                   ldb_strerror(rc));
        }
    }
    ldb_txn_abort(txn);
}

/* Delete through a cursor: SEEK to a random key, delete what it lands on,
 * then NEXT must give the entry after it. */
static void cursor_delete(model *m, ldb_txn *txn, int tree)
{
    mtree *t = &m->t[tree];
    uint8_t kb[MAX_KEY];
    size_t kl = gen_key(m, kb);
    int found;
    size_t at = mtree_lower(t, kb, kl, &found);
    ldb_cursor *cur;
    int rc = ldb_cursor_open(txn, m->dbi[tree], &cur);
    MCHECK(m, rc == 0, "cursor_open: %s", ldb_strerror(rc));
    ldb_val k = {kl, kb}, v;
    rc = ldb_cursor_get(cur, &k, &v, LDB_SEEK);
    if (at == t->n) {
        MCHECK(m, rc == LDB_NOTFOUND, "tree %d SEEK %s past the end: %s", tree, hex(kb, kl),
               ldb_strerror(rc));
        ldb_cursor_close(cur);
        return;
    }
    MCHECK(m, rc == 0, "tree %d SEEK %s: %s", tree, hex(kb, kl), ldb_strerror(rc));
    expect_entry(m, tree, &t->e[at], &k, &v, "SEEK before cursor_del");
    uint8_t victim[MAX_KEY];
    size_t vkl = t->e[at].klen;
    memcpy(victim, t->e[at].key, vkl);
    rc = ldb_cursor_del(cur);
    MCHECK(m, rc == 0, "tree %d cursor_del %s: %s", tree, hex(victim, vkl), ldb_strerror(rc));
    model_del(m, tree, victim, vkl);
    rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT);
    if (at < t->n) {
        MCHECK(m, rc == 0, "tree %d NEXT after cursor_del: %s", tree, ldb_strerror(rc));
        expect_entry(m, tree, &t->e[at], &k, &v, "NEXT after cursor_del");
    } else {
        MCHECK(m, rc == LDB_NOTFOUND, "tree %d NEXT after deleting the last entry: %s", tree,
               ldb_strerror(rc));
    }
    ldb_cursor_close(cur);
}

/* One operation inside the write txn. */
static void one_op(model *m, ldb_txn *txn, uint8_t *vbuf)
{
    uint8_t kb[MAX_KEY];
    uint64_t r = rnd(m, 100);
    int tree = rnd(m, 5) < 2 ? 0 : 1 + (int)rnd(m, NTREES - 1);
    size_t kl = gen_key(m, kb);
    ldb_val k = {kl, kb}, v;
    const ment *e = mtree_find(&m->t[tree], kb, kl);
    int rc;

    if (r < 55) { /* put: mostly overwrites, given the skew */
        size_t vl = gen_val(m, vbuf);
        v = (ldb_val){vl, vbuf};
        rc = ldb_put(txn, m->dbi[tree], &k, &v, 0);
        MCHECK(m, rc == 0, "tree %d put %s (%zu bytes): %s", tree, hex(kb, kl), vl,
               ldb_strerror(rc));
        model_put(m, tree, kb, kl, vbuf, vl);
    } else if (r < 65) { /* NOOVERWRITE put */
        size_t vl = gen_val(m, vbuf);
        v = (ldb_val){vl, vbuf};
        rc = ldb_put(txn, m->dbi[tree], &k, &v, LDB_NOOVERWRITE);
        if (e) {
            MCHECK(m, rc == LDB_EXISTS, "tree %d NOOVERWRITE put of present %s: %s", tree,
                   hex(kb, kl), ldb_strerror(rc));
        } else {
            MCHECK(m, rc == 0, "tree %d NOOVERWRITE put of absent %s: %s", tree, hex(kb, kl),
                   ldb_strerror(rc));
            model_put(m, tree, kb, kl, vbuf, vl);
        }
    } else if (r < 80) { /* delete */
        rc = ldb_del(txn, m->dbi[tree], &k);
        if (e) {
            MCHECK(m, rc == 0, "tree %d del %s: %s", tree, hex(kb, kl), ldb_strerror(rc));
            model_del(m, tree, kb, kl);
        } else {
            MCHECK(m, rc == LDB_NOTFOUND, "tree %d del of absent %s: %s", tree, hex(kb, kl),
                   ldb_strerror(rc));
        }
    } else if (r < 97) { /* get, seeing the txn's own writes */
        rc = ldb_get(txn, m->dbi[tree], &k, &v);
        if (e) {
            MCHECK(m, rc == 0, "tree %d get %s: %s", tree, hex(kb, kl), ldb_strerror(rc));
            expect_entry(m, tree, e, &k, &v, "get in write txn");
        } else {
            MCHECK(m, rc == LDB_NOTFOUND, "tree %d get of absent %s: %s", tree, hex(kb, kl),
                   ldb_strerror(rc));
        }
    } else {
        cursor_delete(m, txn, tree);
    }
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return dflt;
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    return *end == '\0' ? (uint64_t)v : dflt;
}

static void run_model(unsigned page_size, int sync_mode, uint64_t default_seed)
{
    model *m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    m->seed = env_u64("LDB_MODEL_SEED", default_seed);
    m->rng = m->seed;
    uint64_t total = env_u64("LDB_MODEL_OPS", 100000);
    fprintf(stderr, "check_model: page_size %u, sync_mode %d, seed %" PRIu64 ", %" PRIu64 " ops\n",
            page_size, sync_mode, m->seed, total);
    for (int f = 0; f < 8; f++)
        for (int i = 0; i < MAX_KEY; i++)
            m->family[f][i] = (uint8_t)mix64(m->seed * 131 + (uint64_t)f * 977 + (uint64_t)i);

    char *dir = strdup(tu_tmpdir());
    m->path = strdup(tu_path(dir, "model.db"));
    m->opts.page_size = page_size;
    m->opts.sync_mode = sync_mode;
    m->env = tu_open(m->path, &m->opts);
    db_open_trees(m, LDB_CREATE);
    {
        ldb_stat st;
        int rc = ldb_stat_env(m->env, &st);
        MCHECK(m, rc == 0, "stat_env: %s", ldb_strerror(rc));
        m->last_id = st.last_txn_id;
    }

    uint8_t *vbuf = tu_xmalloc(MAX_VAL + 8);
    uint64_t next_compare = 5000, next_reopen = 20000;
    while (m->op < total) {
        /* Txn sizes: mostly small, sometimes a few hundred operations. */
        uint64_t size = rnd(m, 4) == 0 ? 1 + rnd(m, 400) : 1 + rnd(m, 30);
        ldb_txn *txn;
        int rc = ldb_txn_begin(m->env, 0, &txn);
        MCHECK(m, rc == 0, "write txn_begin: %s", ldb_strerror(rc));
        uint64_t id = ldb_txn_id(txn);
        if (id != m->last_id + 1) {
            /* A checkpoint at begin may have shrunk the file, which commits
             * a txn of the library's own: still the newest id + 1. */
            ldb_stat st;
            rc = ldb_stat_env(m->env, &st);
            MCHECK(m, rc == 0, "stat_env: %s", ldb_strerror(rc));
            MCHECK(m, id == st.last_txn_id + 1 && id > m->last_id + 1 && id <= m->last_id + 4,
                   "write txn id %" PRIu64 ", last commit %" PRIu64 ", newest id %" PRIu64, id,
                   m->last_id, st.last_txn_id);
        }
        for (uint64_t i = 0; i < size && m->op < total; i++, m->op++) {
            one_op(m, txn, vbuf);
            if (rnd(m, 2000) == 0) /* the txn sees exactly its own writes */
                compare_tree(m, txn, (int)rnd(m, NTREES), 20);
        }
        if (rnd(m, 7) == 0) {
            ldb_txn_abort(txn);
            model_rollback(m);
        } else {
            int changed = m->nundo > 0;
            rc = ldb_txn_commit(txn);
            MCHECK(m, rc == 0, "commit: %s", ldb_strerror(rc));
            model_commit(m);
            if (changed) {
                m->last_id = id;
            } else {
                /* A txn that changed nothing may or may not use up its id. */
                ldb_stat st;
                rc = ldb_stat_env(m->env, &st);
                MCHECK(m, rc == 0, "stat_env: %s", ldb_strerror(rc));
                MCHECK(m, st.last_txn_id == id || st.last_txn_id == id - 1,
                       "last_txn_id %" PRIu64 " after committing txn %" PRIu64
                       " that changed nothing",
                       st.last_txn_id, id);
                m->last_id = st.last_txn_id;
            }
        }
        m->ntxn++;
        if (rnd(m, 10) == 0)
            spot_check(m, 20);
        if (m->op >= next_compare) {
            compare_all(m);
            ldb_stat st;
            rc = ldb_stat_env(m->env, &st);
            MCHECK(m, rc == 0, "stat_env: %s", ldb_strerror(rc));
            MCHECK(m, st.last_txn_id == m->last_id, "last_txn_id %" PRIu64 ", want %" PRIu64,
                   st.last_txn_id, m->last_id);
            MCHECK(m, st.readers_used == 0, "readers_used %u with no reader open",
                   (unsigned)st.readers_used);
            next_compare += 5000;
        }
        if (m->op >= next_reopen) {
            db_reopen(m);
            compare_all(m);
            next_reopen += 20000;
        }
    }

    compare_all(m);
    tu_check_env(m->env);
    db_reopen(m);
    compare_all(m);
    tu_check_env(m->env);
    int rc = ldb_close(m->env);
    MCHECK(m, rc == 0, "close: %s", ldb_strerror(rc));

    for (int i = 0; i < NTREES; i++)
        mtree_free(&m->t[i]);
    free(m->undo);
    free(vbuf);
    free((void *)m->path);
    free(m);
    tu_remove_dir(dir);
    free(dir);
}

START_TEST(test_model_4k)
{
    run_model(0, LDB_SYNC_FULL, 0x5EED0001ull);
}
END_TEST

START_TEST(test_model_64k)
{
    run_model(65536, LDB_SYNC_OFF, 0x5EED0002ull);
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("random");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_model_4k);
    tcase_add_test(tc, test_model_64k);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {model_suite()};
    return tu_run_suites(suites, 1);
}
