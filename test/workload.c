/* SPDX-License-Identifier: MIT */
/*
 * workload.c: see workload.h.
 */
#include "workload.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

const char *const wl_tree_names[WL_TREES] = {NULL, "t1", "tree-two",
                                             "a-third-tree-with-a-longer-name"};

int wl_report_fd = -1;

/* ---- numbers ------------------------------------------------------------------ */

uint64_t wl_mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t next_rand(uint64_t *s)
{
    *s += 0x9E3779B97F4A7C15ull;
    return wl_mix(*s);
}

double wl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t wl_test_seed(const char *suite)
{
    uint64_t s = tu_env_u64("LDB_TEST_SEED", 0);
    if (s == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s = wl_mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid());
    }
    fprintf(stderr, "%s: LDB_TEST_SEED=%" PRIu64 "\n", suite, s);
    return s;
}

/* ---- the workload ------------------------------------------------------------- */

size_t wl_key(uint32_t idx, uint8_t *buf)
{
    int n = snprintf((char *)buf, WL_KEY_MAX, "k%06u", (unsigned)idx);
    size_t len = (size_t)n;
    /* Every fifth key is long, so some keys share long prefixes. */
    if (idx % 5 == 0) {
        size_t extra = (size_t)(idx * 7u) % 120u;
        memset(buf + len, 'a' + (int)(idx % 26u), extra);
        len += extra;
    }
    return len;
}

int wl_compression(void)
{
    const char *c = getenv("LDB_TEST_COMPRESSION");
    if (c == NULL || *c == '\0' || strcmp(c, "none") == 0)
        return LDB_COMPRESS_NONE;
    return strcmp(c, "lz4") == 0 ? LDB_COMPRESS_LZ4 : LDB_COMPRESS_ZSTD;
}

/* LDB_TEST_COMPRESSION=zstd-dict: zstd, and some txns also train a
 * dictionary for the main tree (wl_run). */
static int wl_dict(void)
{
    const char *c = getenv("LDB_TEST_COMPRESSION");
    return c != NULL && strcmp(c, "zstd-dict") == 0;
}

void wl_options(ldb_options *o)
{
    o->compression = wl_compression();
}

void wl_value(uint64_t j, unsigned opi, uint32_t vlen, uint8_t *buf)
{
    uint64_t x = wl_mix((j << 8) ^ opi) | 1;
    uint32_t i = 0;
    /* Compressed runs want values that compress: runs of 8 equal bytes
     * (either codec halves them at least). */
    unsigned run = wl_compression() != LDB_COMPRESS_NONE ? 8 : 1;
    if (vlen >= 8) {
        memcpy(buf, &j, 8);
        i = 8;
    }
    for (; i < vlen; i++) {
        if (i % run == 0) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        buf[i] = (uint8_t)(x >> 24);
    }
}

static uint32_t gen_vlen(uint64_t r, unsigned cap)
{
    unsigned pct = (unsigned)(r % 100);
    uint64_t s = r >> 8;
    uint32_t v;
    if (pct < 45)
        v = (uint32_t)(s % 65);
    else if (pct < 80)
        v = 64 + (uint32_t)(s % 540);
    else if (pct < 93)
        v = 600 + (uint32_t)(s % 1400);
    else
        v = 2000 + (uint32_t)(s % 7000); /* overflow pages at 4 KiB */
    return v > cap ? cap : v;
}

void wl_gen(const wl_params *p, uint64_t seed, uint64_t j, wl_txn *t)
{
    unsigned keys = p->keys ? p->keys : 400;
    unsigned max_ops = p->max_ops ? p->max_ops : 8;
    unsigned cap = p->max_vlen ? p->max_vlen : 9000;
    if (max_ops > WL_MAX_OPS)
        max_ops = WL_MAX_OPS;
    memset(t, 0, sizeof *t);
    t->j = j;
    if (p->script && p->script(j, t))
        return;
    uint64_t s = wl_mix(seed ^ wl_mix(j));
    t->abort = next_rand(&s) % 100 < p->abort_pct;
    if (p->big_every && next_rand(&s) % p->big_every == 0) {
        t->nops = 16 + (unsigned)(next_rand(&s) % 15);
        for (unsigned i = 0; i < t->nops; i++) {
            wl_op *o = &t->ops[i];
            uint64_t r = next_rand(&s);
            o->kind = WL_PUT;
            o->tree = (uint8_t)(r % 3 == 0 ? 1 + (r >> 4) % 3 : 0);
            o->key = (uint32_t)((r >> 8) % keys);
            o->vlen = 6000 + (uint32_t)((r >> 24) % 8000);
        }
        return;
    }
    t->nops = 1 + (unsigned)(next_rand(&s) % max_ops);
    for (unsigned i = 0; i < t->nops; i++) {
        wl_op *o = &t->ops[i];
        uint64_t r = next_rand(&s);
        unsigned what = (unsigned)(r % 1000);
        unsigned tr = (unsigned)((r >> 10) % 8);
        o->tree = (uint8_t)(tr < 4 ? 0 : tr < 6 ? 1 : tr - 4);
        o->key = (uint32_t)((r >> 16) % keys);
        /* Puts outnumber deletes, so the trees fill up; a tree is emptied
         * or deleted in about one txn in twenty. */
        if (what < 640) {
            o->kind = WL_PUT;
            o->vlen = gen_vlen(next_rand(&s), cap);
        } else if (what < 830) {
            o->kind = WL_DEL;
        } else if (what < 920) {
            o->kind = WL_CURSOR_DEL;
            o->count = (uint16_t)(1 + (r >> 40) % 4);
        } else if (what < 988) {
            o->kind = WL_CREATE;
            if (o->tree == 0)
                o->tree = 1 + (uint8_t)((r >> 40) % 3);
        } else if (what < 994) {
            o->kind = WL_EMPTY;
            /* Emptying LDB_MAIN wipes most of the state: rarely. */
            if (o->tree == 0 && (r >> 40) % 4 != 0)
                o->tree = 1 + (uint8_t)((r >> 44) % 3);
        } else {
            o->kind = WL_DELETE;
            if (o->tree == 0)
                o->tree = 1 + (uint8_t)((r >> 40) % 3);
        }
    }
    /* At least one put: a txn that changes nothing commits without using
     * its id or the log, so its commit says nothing about the txns before
     * it, which the reports' order relies on (see wl_outcome). */
    int puts = 0;
    for (unsigned i = 0; i < t->nops; i++)
        puts += t->ops[i].kind == WL_PUT;
    if (!puts) {
        t->ops[0].kind = WL_PUT;
        t->ops[0].vlen = gen_vlen(next_rand(&s), cap);
    }
}

/* The handle of op o's tree in txn, creating it when the op does; 1 when the
 * tree is missing and the op does nothing. */
static int op_dbi(ldb_txn *txn, const wl_op *o, ldb_dbi *dbi)
{
    if (o->tree == 0) {
        *dbi = LDB_MAIN;
        return 0;
    }
    int create = o->kind == WL_PUT || o->kind == WL_CREATE;
    int rc = ldb_dbi_open(txn, wl_tree_names[o->tree], create ? LDB_CREATE : 0, dbi);
    return rc == LDB_NOTFOUND && !create ? 1 : rc;
}

static int run_op(ldb_txn *txn, const wl_txn *t, unsigned opi, uint8_t *vbuf)
{
    const wl_op *o = &t->ops[opi];
    ldb_dbi dbi;
    int rc = op_dbi(txn, o, &dbi);
    if (rc != 0)
        return rc > 0 ? 0 : rc;
    uint8_t kb[WL_KEY_MAX];
    ldb_val k = {wl_key(o->key, kb), kb};
    switch (o->kind) {
    case WL_PUT: {
        wl_value(t->j, opi, o->vlen, vbuf);
        ldb_val v = {o->vlen, vbuf};
        return ldb_put(txn, dbi, &k, &v, 0);
    }
    case WL_DEL:
        rc = ldb_del(txn, dbi, &k);
        return rc == LDB_NOTFOUND ? 0 : rc;
    case WL_CURSOR_DEL: {
        ldb_cursor *cur;
        rc = ldb_cursor_open(txn, dbi, &cur);
        if (rc)
            return rc;
        ldb_val sk = k, sv;
        rc = ldb_cursor_get(cur, &sk, &sv, LDB_SEEK);
        for (unsigned n = 0; rc == 0 && n < o->count; n++) {
            rc = ldb_cursor_del(cur);
            if (rc == 0 && n + 1 < o->count)
                rc = ldb_cursor_get(cur, &sk, &sv, LDB_NEXT);
        }
        ldb_cursor_close(cur);
        return rc == LDB_NOTFOUND ? 0 : rc;
    }
    case WL_CREATE:
        return 0;
    case WL_EMPTY:
        return ldb_dbi_drop(txn, dbi, 0);
    case WL_DELETE:
        return ldb_dbi_drop(txn, dbi, 1);
    default:
        return LDB_INVALID;
    }
}

void wl_report_commit(const wl_txn *t, uint64_t txn_id, void *arg)
{
    (void)arg;
    wl_send(WL_MSG_COMMIT, t->j, 0, txn_id);
}

int wl_run(ldb_env *env, const wl_txn *t, wl_before_commit *before_commit, void *arg,
           enum wl_stage *stage)
{
    ldb_txn *txn;
    *stage = WL_STAGE_BEGIN;
    int rc = ldb_txn_begin(env, 0, &txn);
    if (rc)
        return rc;
    uint8_t *vbuf = malloc(1u << 16);
    if (vbuf == NULL) {
        ldb_txn_abort(txn);
        return -ENOMEM;
    }
    *stage = WL_STAGE_OP;
    for (unsigned i = 0; rc == 0 && i < t->nops; i++)
        rc = run_op(txn, t, i, vbuf);
    free(vbuf);
    /* A dictionary trained with the txn's ops commits, or not, with them:
     * too few values yet (LDB_INVALID) leaves the txn as it was. */
    if (rc == 0 && wl_dict() && t->j % 8 == 3) {
        rc = ldb_dbi_train_dict(txn, LDB_MAIN, 1024, NULL);
        rc = rc == LDB_INVALID ? 0 : rc;
    }
    if (rc) {
        ldb_txn_abort(txn);
        return rc;
    }
    if (t->abort) {
        *stage = WL_STAGE_ABORTED;
        ldb_txn_abort(txn);
        return 0;
    }
    *stage = WL_STAGE_COMMIT;
    if (before_commit)
        before_commit(t, ldb_txn_id(txn), arg);
    return ldb_txn_commit(txn);
}

/* ---- the model ----------------------------------------------------------------- */

typedef struct wl_entry {
    uint8_t *key, *val;
    uint32_t klen, vlen;
    uint64_t hash;
} wl_entry;

typedef struct wl_tree {
    int exists;
    wl_entry *e;
    size_t n, cap;
    uint64_t sum; /* of the entries' hashes */
} wl_tree;

enum undo_kind { UNDO_ENTRY, UNDO_TREE };

typedef struct wl_undo {
    enum undo_kind kind;
    int tree;
    /* UNDO_ENTRY: the key's entry before (had) or just its key (!had). */
    int had;
    wl_entry old;
    /* UNDO_TREE: the whole tree before. */
    wl_tree saved;
} wl_undo;

struct wl_model {
    wl_tree t[WL_TREES];
    wl_undo *u;
    size_t nu, capu;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001B3ull;
    }
    return h;
}

static uint64_t entry_hash(int tree, const void *k, uint32_t kl, const void *v, uint32_t vl)
{
    uint64_t h = 0xCBF29CE484222325ull ^ wl_mix((uint64_t)tree + 1);
    h = fnv(h, &kl, 4);
    h = fnv(h, k, kl);
    h = fnv(h, &vl, 4);
    h = fnv(h, v, vl);
    return wl_mix(h);
}

static uint64_t tree_mark(int tree)
{
    return wl_mix(0x7265657274ull + (uint64_t)tree);
}

wl_model *wl_model_new(void)
{
    wl_model *m = calloc(1, sizeof *m);
    if (m == NULL)
        abort();
    m->t[0].exists = 1;
    return m;
}

static void entry_free(wl_entry *e)
{
    free(e->key);
    free(e->val);
    e->key = e->val = NULL;
}

static void tree_free(wl_tree *t)
{
    for (size_t i = 0; i < t->n; i++)
        entry_free(&t->e[i]);
    free(t->e);
    memset(t, 0, sizeof *t);
}

void wl_model_forget(wl_model *m)
{
    for (size_t i = 0; i < m->nu; i++) {
        wl_undo *u = &m->u[i];
        if (u->kind == UNDO_ENTRY)
            entry_free(&u->old);
        else
            tree_free(&u->saved);
    }
    m->nu = 0;
}

void wl_model_free(wl_model *m)
{
    if (m == NULL)
        return;
    wl_model_forget(m);
    free(m->u);
    for (int i = 0; i < WL_TREES; i++)
        tree_free(&m->t[i]);
    free(m);
}

static wl_undo *push_undo(wl_model *m)
{
    if (m->nu == m->capu) {
        m->capu = m->capu ? m->capu * 2 : 256;
        m->u = realloc(m->u, m->capu * sizeof *m->u);
        if (m->u == NULL)
            abort();
    }
    wl_undo *u = &m->u[m->nu++];
    memset(u, 0, sizeof *u);
    return u;
}

/* Index of the first entry >= key; *found tells whether it is equal. */
static size_t tree_lower(const wl_tree *t, const void *k, size_t kl, int *found)
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

static void tree_insert_at(wl_tree *t, size_t i, wl_entry e)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->e = realloc(t->e, t->cap * sizeof *t->e);
        if (t->e == NULL)
            abort();
    }
    memmove(&t->e[i + 1], &t->e[i], (t->n - i) * sizeof *t->e);
    t->e[i] = e;
    t->n++;
    t->sum += e.hash;
}

/* Remove entry i and hand it to the caller. */
static wl_entry tree_take(wl_tree *t, size_t i)
{
    wl_entry e = t->e[i];
    memmove(&t->e[i], &t->e[i + 1], (t->n - i - 1) * sizeof *t->e);
    t->n--;
    t->sum -= e.hash;
    return e;
}

/* Set tree[key] = val, with its undo record. */
static void model_put(wl_model *m, int tree, const uint8_t *k, uint32_t kl, const uint8_t *v,
                      uint32_t vl)
{
    wl_tree *t = &m->t[tree];
    int found;
    size_t i = tree_lower(t, k, kl, &found);
    wl_undo *u = push_undo(m);
    u->kind = UNDO_ENTRY;
    u->tree = tree;
    wl_entry e = {tu_dup_bytes(k, kl), tu_dup_bytes(v, vl), kl, vl, entry_hash(tree, k, kl, v, vl)};
    if (found) {
        u->had = 1;
        u->old = tree_take(t, i);
    } else {
        u->old = (wl_entry){tu_dup_bytes(k, kl), NULL, kl, 0, 0};
    }
    tree_insert_at(t, i, e);
}

/* Delete entry i of tree, with its undo record. */
static void model_del_at(wl_model *m, int tree, size_t i)
{
    wl_undo *u = push_undo(m);
    u->kind = UNDO_ENTRY;
    u->tree = tree;
    u->had = 1;
    u->old = tree_take(&m->t[tree], i);
}

/* Replace the whole tree by an empty one that exists or not. */
static void model_reset_tree(wl_model *m, int tree, int exists)
{
    wl_undo *u = push_undo(m);
    u->kind = UNDO_TREE;
    u->tree = tree;
    u->saved = m->t[tree];
    memset(&m->t[tree], 0, sizeof m->t[tree]);
    m->t[tree].exists = exists;
}

void wl_model_apply(wl_model *m, const wl_txn *t)
{
    uint8_t kb[WL_KEY_MAX];
    uint8_t *vbuf = NULL;
    for (unsigned i = 0; i < t->nops; i++) {
        const wl_op *o = &t->ops[i];
        wl_tree *tr = &m->t[o->tree];
        if (!tr->exists && o->kind != WL_PUT && o->kind != WL_CREATE)
            continue; /* a missing named tree: the op does nothing */
        size_t kl = wl_key(o->key, kb);
        int found;
        switch (o->kind) {
        case WL_PUT:
            if (!tr->exists)
                model_reset_tree(m, o->tree, 1);
            if (vbuf == NULL)
                vbuf = tu_xmalloc(1u << 16);
            wl_value(t->j, i, o->vlen, vbuf);
            model_put(m, o->tree, kb, (uint32_t)kl, vbuf, o->vlen);
            break;
        case WL_DEL: {
            size_t at = tree_lower(tr, kb, kl, &found);
            if (found)
                model_del_at(m, o->tree, at);
            break;
        }
        case WL_CURSOR_DEL: {
            size_t at = tree_lower(tr, kb, kl, &found);
            for (unsigned n = 0; n < o->count && at < m->t[o->tree].n; n++)
                model_del_at(m, o->tree, at);
            break;
        }
        case WL_CREATE:
            if (!tr->exists)
                model_reset_tree(m, o->tree, 1);
            break;
        case WL_EMPTY:
            model_reset_tree(m, o->tree, 1);
            break;
        case WL_DELETE:
            model_reset_tree(m, o->tree, 0);
            break;
        }
    }
    free(vbuf);
}

void wl_model_apply_j(wl_model *m, const wl_params *p, uint64_t seed, uint64_t j)
{
    wl_txn t;
    wl_gen(p, seed, j, &t);
    wl_model_apply(m, &t);
}

size_t wl_model_mark(const wl_model *m)
{
    return m->nu;
}

void wl_model_rollback(wl_model *m, size_t mark)
{
    while (m->nu > mark) {
        wl_undo *u = &m->u[--m->nu];
        wl_tree *t = &m->t[u->tree];
        if (u->kind == UNDO_TREE) {
            tree_free(t);
            *t = u->saved;
            continue;
        }
        int found;
        size_t i = tree_lower(t, u->old.key, u->old.klen, &found);
        if (found) {
            wl_entry cur = tree_take(t, i);
            entry_free(&cur);
        }
        if (u->had)
            tree_insert_at(t, i, u->old);
        else
            entry_free(&u->old);
    }
}

uint64_t wl_model_fp(const wl_model *m)
{
    uint64_t fp = 0;
    for (int i = 0; i < WL_TREES; i++)
        if (m->t[i].exists)
            fp += tree_mark(i) + m->t[i].sum;
    return fp;
}

size_t wl_model_entries(const wl_model *m)
{
    size_t n = 0;
    for (int i = 0; i < WL_TREES; i++)
        n += m->t[i].n;
    return n;
}

/* ---- the database side ------------------------------------------------------------ */

/* The handle of tree i in a read txn; 1 if it does not exist. */
static int read_dbi(ldb_txn *txn, int i, ldb_dbi *dbi)
{
    if (i == 0) {
        *dbi = LDB_MAIN;
        return 0;
    }
    int rc = ldb_dbi_open(txn, wl_tree_names[i], 0, dbi);
    return rc == LDB_NOTFOUND ? 1 : rc;
}

int wl_db_fp(ldb_env *env, uint64_t *fp)
{
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
    if (rc)
        return rc;
    uint64_t sum = 0;
    for (int i = 0; rc == 0 && i < WL_TREES; i++) {
        ldb_dbi dbi;
        rc = read_dbi(txn, i, &dbi);
        if (rc == 1) {
            rc = 0;
            continue;
        }
        if (rc)
            break;
        sum += tree_mark(i);
        ldb_cursor *cur;
        rc = ldb_cursor_open(txn, dbi, &cur);
        if (rc)
            break;
        ldb_val k, v;
        while ((rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) == 0)
            sum += entry_hash(i, k.data, (uint32_t)k.size, v.data, (uint32_t)v.size);
        ldb_cursor_close(cur);
        if (rc == LDB_NOTFOUND)
            rc = 0;
    }
    ldb_txn_abort(txn);
    *fp = sum;
    return rc;
}

static void describe(char *out, size_t n, const void *k, size_t kl, const void *v, size_t vl)
{
    uint64_t from = 0;
    if (v != NULL && vl >= 8)
        memcpy(&from, v, 8);
    int shown = (int)(kl < 24 ? kl : 24);
    if (v == NULL)
        snprintf(out, n, "key \"%.*s\"%s (%zu bytes)", shown, (const char *)k, kl > 24 ? "..." : "",
                 kl);
    else
        snprintf(out, n, "key \"%.*s\"%s = %zu bytes (written by txn %" PRIu64 ")", shown,
                 (const char *)k, kl > 24 ? "..." : "", vl, vl >= 8 ? from : 0);
}

int wl_db_diff(ldb_env *env, const wl_model *m, char *msg, size_t msg_size)
{
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
    if (rc)
        return rc;
    int differ = 0;
    char a[160], b[160];
    for (int i = 0; rc == 0 && !differ && i < WL_TREES; i++) {
        const wl_tree *t = &m->t[i];
        const char *tn = i ? wl_tree_names[i] : "LDB_MAIN";
        ldb_dbi dbi;
        rc = read_dbi(txn, i, &dbi);
        if (rc < 0)
            break;
        if ((rc == 0) != (t->exists != 0)) {
            snprintf(msg, msg_size, "tree %s: %s in the database, %s in the model", tn,
                     rc == 0 ? "exists" : "missing", t->exists ? "exists" : "missing");
            differ = 1;
            rc = 0;
            break;
        }
        if (rc == 1) {
            rc = 0;
            continue;
        }
        ldb_cursor *cur;
        rc = ldb_cursor_open(txn, dbi, &cur);
        if (rc)
            break;
        ldb_val k, v;
        size_t idx = 0;
        while ((rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) == 0) {
            if (idx >= t->n) {
                describe(a, sizeof a, k.data, k.size, v.data, v.size);
                snprintf(msg, msg_size, "tree %s: the database has %s past the model's %zu entries",
                         tn, a, t->n);
                differ = 1;
                break;
            }
            const wl_entry *e = &t->e[idx];
            int c = tu_key_cmp(k.data, k.size, e->key, e->klen);
            if (c != 0 || v.size != e->vlen || memcmp(v.data, e->val, e->vlen) != 0) {
                describe(a, sizeof a, k.data, k.size, v.data, v.size);
                describe(b, sizeof b, e->key, e->klen, e->val, e->vlen);
                snprintf(msg, msg_size, "tree %s, entry %zu: database %s, model %s", tn, idx, a, b);
                differ = 1;
                break;
            }
            idx++;
        }
        ldb_cursor_close(cur);
        if (rc == LDB_NOTFOUND) {
            rc = 0;
            if (!differ && idx < t->n) {
                describe(b, sizeof b, t->e[idx].key, t->e[idx].klen, t->e[idx].val, t->e[idx].vlen);
                snprintf(msg, msg_size,
                         "tree %s: the database ends after %zu entries, the model has %zu (next: "
                         "%s)",
                         tn, idx, t->n, b);
                differ = 1;
            }
        }
    }
    ldb_txn_abort(txn);
    return rc < 0 ? rc : differ;
}

long wl_match_prefix(ldb_env *env, wl_model *m, const wl_params *p, uint64_t seed,
                     const uint64_t *js, size_t n, size_t lo)
{
    uint64_t fp;
    if (wl_db_fp(env, &fp) != 0)
        return -1;
    size_t *marks = tu_xmalloc((n + 1) * sizeof *marks);
    long best = -1;
    for (size_t k = 0;; k++) {
        marks[k] = wl_model_mark(m);
        if (k >= lo && wl_model_fp(m) == fp)
            best = (long)k;
        if (k == n)
            break;
        wl_model_apply_j(m, p, seed, js[k]);
    }
    wl_model_rollback(m, marks[best >= 0 ? (size_t)best : lo]);
    free(marks);
    return best;
}

/* The reports of a round that failed, newest last, on stderr. */
static void print_log(const wl_log *log, const char *what)
{
    static const char *const names[] = {"?", "commit", "ack", "fail", "durable", "info"};
    size_t from = log->n > 400 ? log->n - 400 : 0;
    fprintf(stderr, "%s: the child's last %zu reports:\n", what, log->n - from);
    for (size_t i = from; i < log->n; i++) {
        const wl_msg *x = &log->m[i];
        fprintf(stderr, "  %-7s txn %" PRIu64 "%s", x->type <= WL_MSG_INFO ? names[x->type] : "?",
                x->j, x->type == WL_MSG_COMMIT ? " id " : "");
        if (x->type == WL_MSG_COMMIT)
            fprintf(stderr, "%" PRIu64, x->aux);
        if (x->rc)
            fprintf(stderr, " rc %s", ldb_strerror(x->rc));
        fprintf(stderr, "\n");
    }
}

ldb_env *wl_open_and_match(const char *path, const ldb_options *opts, wl_model *m,
                           const wl_params *p, uint64_t seed, const uint64_t *js, size_t n,
                           size_t lo, const char *what, const wl_log *log, size_t *k)
{
    ldb_env *env = NULL;
    int rc = ldb_open(path, opts, &env);
    if (rc && log)
        print_log(log, what);
    ck_assert_msg(rc == 0, "%s: reopen: %s", what, ldb_strerror(rc));
    tu_check_env(env);
    long got = wl_match_prefix(env, m, p, seed, js, n, lo);
    if (got < 0) {
        char msg[512] = "";
        rc = wl_db_diff(env, m, msg, sizeof msg);
        ldb_stat st;
        if (log && ldb_stat_env(env, &st) == 0) {
            print_log(log, what);
            fprintf(stderr, "%s: the database's last_txn_id is %" PRIu64 "\n", what,
                    st.last_txn_id);
        }
        uint64_t last = n ? js[n - 1] : 0, must = lo ? js[lo - 1] : 0;
        ck_abort_msg("%s: the database is not the state after any of txns %zu..%zu of this round "
                     "(%zu may be in it, the first %zu must; txn numbers up to %" PRIu64
                     ", at least through %" PRIu64 "). Against the state after %zu: %s%s",
                     what, lo, n, n, lo, last, must, lo, rc < 0 ? ldb_strerror(rc) : msg,
                     rc == 0 ? "(equal by entries: fingerprint bug?)" : "");
    }
    char msg[512] = "";
    rc = wl_db_diff(env, m, msg, sizeof msg);
    ck_assert_msg(rc == 0, "%s: matched prefix %ld by fingerprint but: %s", what, got,
                  rc < 0 ? ldb_strerror(rc) : msg);
    if (k)
        *k = (size_t)got;
    return env;
}

/* ---- processes ------------------------------------------------------------------ */

pid_t wl_fork(int *rfd)
{
    int p[2];
    ck_assert_msg(pipe(p) == 0, "pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(p[0]);
        wl_report_fd = p[1];
        return 0;
    }
    close(p[1]);
    *rfd = p[0];
    return pid;
}

void wl_send(uint32_t type, uint64_t j, int rc, uint64_t aux)
{
    wl_msg msg = {type, rc, j, aux};
    if (wl_report_fd < 0)
        return;
    ssize_t w;
    do
        w = write(wl_report_fd, &msg, sizeof msg);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)sizeof msg)
        _exit(90); /* the parent is gone */
}

void wl_child_exit(int code, const char *fmt, ...)
{
    if (code != 0) {
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        fprintf(stderr, "child %d exits %d: %s\n", (int)getpid(), code, buf);
    }
    fflush(stderr);
    _exit(code);
}

static void log_add(wl_log *log, const wl_msg *m)
{
    if (log->n == log->cap) {
        log->cap = log->cap ? log->cap * 2 : 256;
        log->m = realloc(log->m, log->cap * sizeof *log->m);
        ck_assert_ptr_nonnull(log->m);
    }
    log->m[log->n++] = *m;
}

/* Bytes of a message split across reads wait here (one reader at a time). */
static uint8_t partial[sizeof(wl_msg)];
static size_t partial_len;

int wl_read(int rfd, wl_log *log, int timeout_ms)
{
    double end = wl_now() + timeout_ms / 1000.0;
    for (;;) {
        int left = (int)((end - wl_now()) * 1000.0);
        if (left < 0)
            left = 0;
        struct pollfd pfd = {rfd, POLLIN, 0};
        int r = poll(&pfd, 1, left);
        if (r < 0 && errno == EINTR)
            continue;
        ck_assert_msg(r >= 0, "poll: %s", strerror(errno));
        if (r == 0)
            return 0;
        uint8_t buf[4096];
        ssize_t got = read(rfd, buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        ck_assert_msg(got >= 0, "read: %s", strerror(errno));
        if (got == 0) {
            ck_assert_msg(partial_len == 0, "a torn report in the pipe");
            return 1;
        }
        for (ssize_t i = 0; i < got; i++) {
            partial[partial_len++] = buf[i];
            if (partial_len == sizeof(wl_msg)) {
                wl_msg m;
                memcpy(&m, partial, sizeof m);
                log_add(log, &m);
                partial_len = 0;
            }
        }
        if (wl_now() >= end)
            return 0;
    }
}

int wl_finish(pid_t pid, int rfd, wl_log *log, int timeout_s, const char *what)
{
    double end = wl_now() + timeout_s;
    int eof = 0;
    while (!eof && wl_now() < end)
        eof = wl_read(rfd, log, 200);
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, eof ? 0 : WNOHANG);
        if (r == pid)
            break;
        ck_assert_msg(r == 0, "waitpid: %s", strerror(errno));
        if (wl_now() >= end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            close(rfd);
            partial_len = 0;
            ck_abort_msg("%s: child still running after %d s (a hang), killed", what, timeout_s);
        }
        usleep(2000);
    }
    close(rfd);
    partial_len = 0;
    return status;
}

void wl_kill(pid_t pid, int rfd, wl_log *log)
{
    int status;
    kill(pid, SIGKILL);
    ck_assert(waitpid(pid, &status, 0) == pid);
    while (!wl_read(rfd, log, 5000))
        ;
    close(rfd);
    partial_len = 0; /* a report the kill cut in half is not one */
    ck_assert_msg(!WIFEXITED(status) || WEXITSTATUS(status) == 0,
                  "the child exited with %d before it was killed (its stderr says why)",
                  WEXITSTATUS(status));
}

void wl_expect_exit0(int status, const char *what)
{
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "%s: child %s %d (its stderr says why)", what,
                  WIFEXITED(status) ? "exited with" : "died of signal",
                  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

void wl_log_free(wl_log *log)
{
    free(log->m);
    memset(log, 0, sizeof *log);
}

/* One reported commit, for wl_outcome_of. */
typedef struct out_entry {
    uint64_t j, id;
    size_t order;  /* its WL_MSG_COMMIT's place in the log */
    size_t ack_at; /* its WL_MSG_ACK's, or SIZE_MAX */
    int failed;    /* answered an error other than LDB_PANIC */
} out_entry;

static int cmp_entry(const void *a, const void *b)
{
    const out_entry *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The newest entry for txn j whose commit has not answered yet. */
static out_entry *find_pending(out_entry *e, size_t n, uint64_t j, const int *answered)
{
    for (size_t i = n; i-- > 0;)
        if (e[i].j == j && !answered[i])
            return &e[i];
    return NULL;
}

void wl_outcome_of(const wl_log *log, wl_outcome *o)
{
    memset(o, 0, sizeof *o);
    out_entry *e = tu_xmalloc((log->n + 1) * sizeof *e);
    int *answered = tu_xmalloc((log->n + 1) * sizeof *answered);
    size_t n = 0, last_durable = 0;
    for (size_t i = 0; i < log->n; i++) {
        const wl_msg *m = &log->m[i];
        out_entry *x;
        switch (m->type) {
        case WL_MSG_COMMIT:
            e[n] = (out_entry){m->j, m->aux, i, SIZE_MAX, 0};
            answered[n++] = 0;
            break;
        case WL_MSG_ACK:
            x = find_pending(e, n, m->j, answered);
            ck_assert_msg(x != NULL, "report: ack of txn %" PRIu64 " whose commit did not begin",
                          m->j);
            x->ack_at = i;
            answered[x - e] = 1;
            break;
        case WL_MSG_FAIL:
            if (m->rc == LDB_PANIC)
                o->panicked = 1;
            x = find_pending(e, n, m->j, answered);
            if (x != NULL) {
                /* A commit that answered LDB_PANIC may have reached the log. */
                answered[x - e] = 1;
                if (m->rc != LDB_PANIC) {
                    x->failed = 1;
                    o->failed++;
                }
            }
            break;
        case WL_MSG_DURABLE:
            last_durable = i + 1;
            break;
        default:
            break;
        }
    }
    size_t keep = 0;
    for (size_t i = 0; i < n; i++)
        if (!e[i].failed)
            e[keep++] = e[i];
    qsort(e, keep, sizeof *e, cmp_entry);
    o->js = tu_xmalloc((keep + 1) * sizeof *o->js);
    for (size_t i = 0; i < keep; i++) {
        o->js[i] = e[i].j;
        if (e[i].ack_at != SIZE_MAX) {
            o->acked = i + 1;
            if (e[i].ack_at < last_durable)
                o->durable = i + 1;
        }
    }
    o->n = keep;
    free(e);
    free(answered);
}

void wl_outcome_free(wl_outcome *o)
{
    free(o->js);
    memset(o, 0, sizeof *o);
}
