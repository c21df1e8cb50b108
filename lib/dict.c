/* SPDX-License-Identifier: MIT */
/*
 * dict.c: training, storing and looking up the zstd dictionaries of trees
 * (see dict.h for where they live and why the cache is safe).
 */
#include "dict.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "checksum.h"
#include "compress.h"
#include "error.h"
#include "page.h"

/* Training reads about this many bytes of samples per byte of dictionary
 * (zstd's advice is ~100), at most SAMPLE_MAX in all, and no more than
 * SAMPLE_CUT bytes of any one value (dictionaries are for small values). */
#define SAMPLE_RATIO 100u
#define SAMPLE_MAX (32u << 20)
#define SAMPLE_CUT (16u << 10)

/* One loaded dictionary. */
struct ldb__dict {
    uint32_t id;
    void *ddict;    /* zstd's digested form for decompression */
    void *cdict;    /* and for compression, made by the writer on first use */
    uint8_t *bytes; /* the dictionary, for making cdict */
    size_t len;
};

struct ldb__dict_cache {
    pthread_mutex_t mutex;
    struct ldb__dict **v; /* loaded dictionaries: pointers stay valid until close */
    size_t n, cap;
};

/* A write txn's own: the trees' ids it looked up, and dictionaries it
 * trained (not committed yet). */
struct ldb__dict_txn {
    struct {
        ldb_dbi dbi;
        uint32_t id;
    } *memo;
    size_t nmemo, capmemo;
    struct ldb__dict **own;
    unsigned nown;
    int storing;
};

/* ---- little helpers -------------------------------------------------- */

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void dict_key(uint8_t k[5], uint32_t id)
{
    k[0] = 'd';
    for (int i = 0; i < 4; i++)
        k[1 + i] = (uint8_t)(id >> (8 * (3 - i))); /* big-endian: id order */
}

static void dict_free(struct ldb__dict *d)
{
    if (d == NULL)
        return;
    ldb__compress_ddict_free(d->ddict);
    ldb__compress_cdict_free(d->cdict);
    ldb__free(d->bytes);
    ldb__free(d);
}

/* A dictionary record's bytes (CRC32C + dictionary) made into one loaded. */
static int dict_make(uint32_t id, const uint8_t *rec, size_t len, struct ldb__dict **out)
{
    if (len <= 4 || get_le32(rec) != ldb__crc32c(0, rec + 4, len - 4))
        return LDB_CORRUPT();
    struct ldb__dict *d = ldb__calloc(1, sizeof *d);
    if (d == NULL)
        return -ENOMEM;
    d->id = id;
    d->len = len - 4;
    d->bytes = ldb__malloc(d->len);
    if (d->bytes == NULL) {
        dict_free(d);
        return -ENOMEM;
    }
    memcpy(d->bytes, rec + 4, d->len);
    d->ddict = ldb__compress_ddict_new(d->bytes, d->len);
    if (d->ddict == NULL) {
        dict_free(d);
        return LDB_CORRUPT(); /* sound checksum, yet no dictionary zstd loads */
    }
    *out = d;
    return 0;
}

/* ---- the env's cache ---------------------------------------------------- */

int ldb__dict_cache_open(struct ldb__dict_cache **out)
{
    struct ldb__dict_cache *c = ldb__calloc(1, sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    pthread_mutex_init(&c->mutex, NULL);
    *out = c;
    return 0;
}

void ldb__dict_cache_close(struct ldb__dict_cache *c)
{
    if (c == NULL)
        return;
    for (unsigned i = 0; i < c->n; i++)
        dict_free(c->v[i]);
    ldb__free(c->v);
    pthread_mutex_destroy(&c->mutex);
    ldb__free(c);
}

static struct ldb__dict *cache_find_locked(struct ldb__dict_cache *c, uint32_t id)
{
    for (unsigned i = 0; i < c->n; i++)
        if (c->v[i]->id == id)
            return c->v[i];
    return NULL;
}

/* Add d (or find the one another thread added first, and free d). */
static int cache_add(struct ldb__dict_cache *c, struct ldb__dict **d)
{
    pthread_mutex_lock(&c->mutex);
    struct ldb__dict *old = cache_find_locked(c, (*d)->id);
    int rc = 0;
    if (old != NULL) {
        dict_free(*d);
        *d = old;
    } else if (c->n == c->cap) {
        struct ldb__dict **v = ldb__array_grow(c->v, &c->cap, c->n + 1, sizeof *v, 8);
        if (v == NULL)
            rc = -ENOMEM;
        else
            c->v = v;
    }
    if (rc == 0 && old == NULL)
        c->v[c->n++] = *d;
    pthread_mutex_unlock(&c->mutex);
    if (rc < 0)
        dict_free(*d);
    return rc;
}

/* ---- reading the dictionary tree ---------------------------------------- */

/* The dictionary tree's descriptor in txn's committed catalog (a write
 * txn writes a new tree's descriptor there only at commit: what it adds
 * itself it finds among its own). LDB_NOTFOUND: no dictionary yet. */
static int dict_tree(ldb_txn *txn, struct tree_desc *t)
{
    ldb_val v;
    TRY(ldb__btree_get(&txn->pager, &txn->snap.catalog_tree, (const uint8_t *)LDB__DICT_TREE,
                       (uint32_t)strlen(LDB__DICT_TREE), &v));
    if (v.size != sizeof *t)
        return LDB_CORRUPT();
    ldb__tree_desc_load(t, v.data);
    return 0;
}

/* The stored bytes of a dictionary tree record (never compressed). */
static int record_get(ldb_txn *txn, const struct tree_desc *t, const uint8_t *key, uint32_t klen,
                      ldb_val *v)
{
    struct ldb__path path;
    int exact;
    TRY(ldb__btree_seek(&txn->pager, t, key, klen, &path, &exact));
    if (!exact)
        return LDB_NOTFOUND;
    struct page_node n;
    unsigned leaf = path.depth - 1;
    TRY(ldb__page_node(path.page[leaf], txn->pager.page_size, path.idx[leaf], &n));
    if (n.compressed)
        return LDB_CORRUPT();
    return ldb__btree_node_value(&txn->pager, &n, v);
}

static struct ldb__dict *own_find(const ldb_txn *txn, uint32_t id)
{
    const struct ldb__dict_txn *dt = txn->dict;
    for (unsigned i = 0; dt != NULL && i < dt->nown; i++)
        if (dt->own[i]->id == id)
            return dt->own[i];
    return NULL;
}

/* The dictionary id as txn sees it: its own, the env's, or loaded now. A
 * value that names an id no dictionary has is damage. */
static int dict_find(ldb_txn *txn, uint32_t id, struct ldb__dict **out)
{
    struct ldb__dict *d = own_find(txn, id);
    if (d != NULL) {
        *out = d;
        return 0;
    }
    struct ldb__dict_cache *c = txn->env->dicts;
    pthread_mutex_lock(&c->mutex);
    d = cache_find_locked(c, id);
    pthread_mutex_unlock(&c->mutex);
    if (d != NULL) {
        *out = d;
        return 0;
    }
    struct tree_desc t;
    uint8_t key[5];
    ldb_val v;
    dict_key(key, id);
    int rc = dict_tree(txn, &t);
    if (rc == 0)
        rc = record_get(txn, &t, key, sizeof key, &v);
    if (rc == LDB_NOTFOUND)
        return LDB_CORRUPT();
    TRY(rc);
    TRY(dict_make(id, v.data, v.size, &d));
    TRY(cache_add(c, &d));
    *out = d;
    return 0;
}

int ldb__dict_decompress(ldb_txn *txn, const uint8_t *stored, uint32_t len, uint8_t *dst,
                         uint32_t raw)
{
    uint32_t id = len > VALUE_HEADER_SIZE ? ldb__compress_dict_id(stored) : 0;
    struct ldb__dict *d = NULL;
    if (id != 0)
        TRY(dict_find(txn, id, &d));
    return ldb__decompress_value_dict(stored, len, d ? d->ddict : NULL, dst, raw);
}

/* ---- the writer's side ---------------------------------------------------- */

static int txn_state(ldb_txn *txn, struct ldb__dict_txn **out)
{
    if (txn->dict == NULL && (txn->dict = ldb__calloc(1, sizeof *txn->dict)) == NULL)
        return -ENOMEM;
    *out = txn->dict;
    return 0;
}

static int memo_set(struct ldb__dict_txn *dt, ldb_dbi dbi, uint32_t id)
{
    for (unsigned i = 0; i < dt->nmemo; i++) {
        if (dt->memo[i].dbi == dbi) {
            dt->memo[i].id = id;
            return 0;
        }
    }
    if (dt->nmemo == dt->capmemo) {
        void *m = ldb__array_grow(dt->memo, &dt->capmemo, dt->nmemo + 1, sizeof *dt->memo, 4);
        if (m == NULL)
            return -ENOMEM;
        dt->memo = m;
    }
    dt->memo[dt->nmemo].dbi = dbi;
    dt->memo[dt->nmemo++].id = id;
    return 0;
}

/* The key "t" + dbi's name. */
static int tree_key(ldb_txn *txn, ldb_dbi dbi, uint8_t *key, uint32_t *klen)
{
    key[0] = 't';
    *klen = 1;
    if (dbi == LDB_MAIN)
        return 0;
    char name[LDB_MAX_NAME + 1];
    int pinned;
    TRY(ldb__dbi_use(txn->env, dbi, 0, name, &pinned));
    size_t n = strlen(name);
    memcpy(key + 1, name, n);
    *klen = (uint32_t)(1 + n);
    return 0;
}

/* The committed id of dbi's dictionary, 0 for none. */
static int tree_dict_id(ldb_txn *txn, ldb_dbi dbi, uint32_t *id)
{
    *id = 0;
    struct tree_desc t;
    int rc = dict_tree(txn, &t);
    if (rc == LDB_NOTFOUND)
        return 0;
    TRY(rc);
    uint8_t key[LDB_MAX_NAME + 2];
    uint32_t klen;
    ldb_val v;
    TRY(tree_key(txn, dbi, key, &klen));
    rc = record_get(txn, &t, key, klen, &v);
    if (rc == LDB_NOTFOUND)
        return 0;
    TRY(rc);
    if (v.size != 4 || (*id = get_le32(v.data)) == 0 || *id > LDB_DICT_ID_MAX)
        return LDB_CORRUPT();
    return 0;
}

int ldb__dict_for_put(ldb_txn *txn, ldb_dbi dbi, uint32_t *id, const void **cdict)
{
    struct ldb__dict_txn *dt;
    *id = 0;
    *cdict = NULL;
    TRY(txn_state(txn, &dt));
    unsigned i = 0;
    while (i < dt->nmemo && dt->memo[i].dbi != dbi)
        i++;
    if (i == dt->nmemo) {
        uint32_t found;
        TRY(tree_dict_id(txn, dbi, &found));
        TRY(memo_set(dt, dbi, found));
    }
    if (dt->memo[i].id == 0)
        return 0;
    struct ldb__dict *d;
    TRY(dict_find(txn, dt->memo[i].id, &d));
    /* Only the writer makes or uses cdict, one write txn at a time. */
    if (d->cdict == NULL &&
        (d->cdict = ldb__compress_cdict_new(d->bytes, d->len, txn->env->opts.compression_level)) ==
            NULL)
        return -ENOMEM;
    *id = d->id;
    *cdict = d->cdict;
    return 0;
}

int ldb__dict_storing(const ldb_txn *txn)
{
    return txn->dict != NULL && txn->dict->storing;
}

void ldb__dict_txn_free(ldb_txn *txn)
{
    struct ldb__dict_txn *dt = txn->dict;
    if (dt == NULL)
        return;
    for (unsigned i = 0; i < dt->nown; i++)
        dict_free(dt->own[i]);
    ldb__free(dt->own);
    ldb__free(dt->memo);
    ldb__free(dt);
    txn->dict = NULL;
}

/* ---- training ---------------------------------------------------------- */

struct samples {
    uint8_t *buf;
    size_t len, cap;
    size_t *sizes;
    size_t n, ncap;
};

/* Append one value of the tree (decompressed if need be), cut at SAMPLE_CUT. */
static int sample_add(ldb_txn *txn, struct samples *s, const struct page_node *n)
{
    ldb_val sv;
    TRY(ldb__btree_node_value(&txn->pager, n, &sv));
    uint32_t raw = (uint32_t)sv.size;
    if (n->compressed) {
        int codec;
        TRY(ldb__compress_header(sv.data, (uint32_t)sv.size, &codec, &raw));
    }
    if (raw == 0 || s->len + raw > s->cap)
        return 0; /* the budget is spent; smaller ones may still fit */
    if (s->n == s->ncap) {
        size_t *z = ldb__array_grow(s->sizes, &s->ncap, s->n + 1, sizeof *z, 1024);
        if (z == NULL)
            return -ENOMEM;
        s->sizes = z;
    }
    uint8_t *dst = s->buf + s->len;
    if (n->compressed)
        TRY(ldb__dict_decompress(txn, sv.data, (uint32_t)sv.size, dst, raw));
    else
        memcpy(dst, sv.data, raw);
    if (raw > SAMPLE_CUT)
        raw = SAMPLE_CUT;
    s->sizes[s->n++] = raw;
    s->len += raw;
    return 0;
}

/* Every k-th value of the tree t, k chosen so the samples spread over the
 * whole tree within the budget. */
static int samples_collect(ldb_txn *txn, const struct tree_desc *t, struct samples *s)
{
    uint64_t pages = t->leaf_pages + t->overflow_pages;
    uint64_t per = t->entries ? pages * txn->pager.page_size / t->entries + 1 : 1;
    uint64_t k = t->entries * per / s->cap + 1;
    struct ldb__path path;
    uint64_t i = 0;
    int rc = ldb__btree_first(&txn->pager, t, &path);
    while (rc == 0 && s->len + 64 < s->cap) {
        if (i++ % k == 0) {
            unsigned leaf = path.depth - 1;
            struct page_node n;
            TRY(ldb__page_node(path.page[leaf], txn->pager.page_size, path.idx[leaf], &n));
            TRY(sample_add(txn, s, &n));
        }
        rc = ldb__btree_next(&txn->pager, &path);
    }
    return rc == LDB_NOTFOUND ? 0 : rc;
}

/* Train on dbi's values: *d the new dictionary (its id still 0). */
static int dict_train_bytes(ldb_txn *txn, ldb_dbi dbi, size_t bytes, struct ldb__dict **d)
{
    struct tree_desc *t;
    TRY(ldb__txn_tree(txn, dbi, &t));
    struct samples s = {0};
    s.cap = bytes * SAMPLE_RATIO < SAMPLE_MAX ? bytes * SAMPLE_RATIO : SAMPLE_MAX;
    uint8_t *rec = ldb__malloc(4 + bytes);
    s.buf = ldb__malloc(s.cap);
    int rc = rec && s.buf ? samples_collect(txn, t, &s) : -ENOMEM;
    size_t len = 0;
    if (rc == 0)
        rc = s.n < 8 ? LDB_INVALID : ldb__compress_train(rec + 4, bytes, s.buf, s.sizes, s.n, &len);
    if (rc == 0) {
        put_le32(rec, ldb__crc32c(0, rec + 4, len));
        rc = dict_make(0, rec, 4 + len, d);
    }
    ldb__free(s.buf);
    ldb__free(s.sizes);
    ldb__free(rec);
    return rc;
}

/* Store d under the next id and make it dbi's: *id. */
static int dict_store(ldb_txn *txn, ldb_dbi dbi, struct ldb__dict *d, uint32_t *id)
{
    ldb_dbi ddbi;
    TRY(ldb__dbi_open(txn, LDB__DICT_TREE, LDB_CREATE, &ddbi));
    struct tree_desc *t;
    TRY(ldb__txn_tree(txn, ddbi, &t));
    ldb_val v;
    uint32_t last = 0;
    int rc = record_get(txn, t, (const uint8_t *)"n", 1, &v);
    if (rc == 0 && v.size != 4)
        return LDB_CORRUPT();
    if (rc == 0)
        last = get_le32(v.data);
    else if (rc != LDB_NOTFOUND)
        return rc;
    if (last >= LDB_DICT_ID_MAX)
        return LDB_FULL;
    *id = d->id = last + 1;
    uint8_t dkey[5], tkey[LDB_MAX_NAME + 2], num[4];
    uint32_t tlen;
    TRY(tree_key(txn, dbi, tkey, &tlen));
    dict_key(dkey, d->id);
    uint8_t *rec = ldb__malloc(4 + d->len);
    if (rec == NULL)
        return -ENOMEM;
    put_le32(rec, ldb__crc32c(0, d->bytes, d->len));
    memcpy(rec + 4, d->bytes, d->len);
    put_le32(num, d->id);
    txn->dict->storing = 1;
    rc = ldb__txn_put(txn, ddbi, &(ldb_val){sizeof dkey, dkey}, &(ldb_val){4 + d->len, rec}, 0);
    if (rc == 0)
        rc = ldb__txn_put(txn, ddbi, &(ldb_val){1, (void *)"n"}, &(ldb_val){4, num}, 0);
    if (rc == 0)
        rc = ldb__txn_put(txn, ddbi, &(ldb_val){tlen, tkey}, &(ldb_val){4, num}, 0);
    txn->dict->storing = 0;
    ldb__free(rec);
    return rc;
}

int ldb__dict_train(ldb_txn *txn, ldb_dbi dbi, size_t bytes, uint32_t *id)
{
    if (txn->error)
        return txn->error;
    if (!ldb__compress_have_codec(LDB_COMPRESS_ZSTD))
        return LDB_INVALID; /* a build without zstd */
    if (bytes == 0)
        bytes = LDB__DICT_DEFAULT_BYTES;
    if (bytes < LDB__DICT_MIN_BYTES || bytes > LDB__DICT_MAX_BYTES)
        return LDB_INVALID;
    struct ldb__dict_txn *dt;
    TRY(txn_state(txn, &dt));
    /* Room first: once stored, the txn must find it among its own. */
    struct ldb__dict **own = ldb__realloc(dt->own, (dt->nown + 1) * sizeof *own);
    if (own == NULL)
        return -ENOMEM;
    dt->own = own;
    struct ldb__dict *d = NULL;
    TRY(dict_train_bytes(txn, dbi, bytes, &d));
    int rc = ldb__txn_fail(txn, dict_store(txn, dbi, d, id));
    if (rc == 0)
        rc = ldb__txn_fail(txn, memo_set(dt, dbi, d->id));
    if (rc < 0) {
        dict_free(d); /* not stored, or the txn failed */
        return rc;
    }
    dt->own[dt->nown++] = d; /* freed with the txn */
    return 0;
}

/* ---- ldb_check ------------------------------------------------------------ */

static uint64_t check_record(ldb_txn *txn, const struct tree_desc *t, const ldb_val *k,
                             const struct page_node *n, uint32_t *last,
                             void (*bad)(void *, const char *), void *ctx)
{
    char msg[160];
    const uint8_t *key = k->data;
    ldb_val v;
    if (n->compressed || ldb__btree_node_value(&txn->pager, n, &v) < 0) {
        bad(ctx, "dictionaries: a record is compressed or unreadable");
        return 1;
    }
    if (key[0] == 'd' && k->size == 5) {
        uint32_t id = (uint32_t)key[1] << 24 | (uint32_t)key[2] << 16 | key[3] << 8 | key[4];
        struct ldb__dict *d = NULL;
        int rc = id == 0 || id > LDB_DICT_ID_MAX ? LDB_CORRUPTED
                                                  : dict_make(id, v.data, v.size, &d);
        dict_free(d);
        if (rc == 0 || rc == -ENOMEM)
            return 0;
        snprintf(msg, sizeof msg, "dictionaries: dictionary %u is damaged", id);
        bad(ctx, msg);
        return 1;
    }
    if (k->size == 1 && key[0] == 'n' && v.size == 4) {
        *last = get_le32(v.data);
        return 0;
    }
    if (key[0] == 't' && v.size == 4) {
        uint8_t dk[5];
        ldb_val dv;
        dict_key(dk, get_le32(v.data));
        if (record_get(txn, t, dk, sizeof dk, &dv) == 0)
            return 0;
        snprintf(msg, sizeof msg, "dictionaries: tree \"%.*s\" names dictionary %u, not stored",
                 (int)(k->size - 1), key + 1, get_le32(v.data));
        bad(ctx, msg);
        return 1;
    }
    bad(ctx, "dictionaries: a malformed record");
    return 1;
}

uint64_t ldb__dict_check(ldb_txn *txn, void (*bad)(void *ctx, const char *what), void *ctx)
{
    struct tree_desc t;
    int rc = dict_tree(txn, &t);
    if (rc == LDB_NOTFOUND)
        return 0;
    if (rc < 0) {
        bad(ctx, "dictionaries: the tree's catalog entry is damaged");
        return 1;
    }
    uint64_t found = 0;
    uint32_t last = 0, top = 0;
    struct ldb__path path;
    rc = ldb__btree_first(&txn->pager, &t, &path);
    while (rc == 0) {
        unsigned leaf = path.depth - 1;
        struct page_node n;
        if (ldb__page_node(path.page[leaf], txn->pager.page_size, path.idx[leaf], &n) < 0)
            break; /* the tree walk reports the page */
        ldb_val k = {n.key_size, (void *)n.key};
        found += check_record(txn, &t, &k, &n, &last, bad, ctx);
        if (n.key_size == 5 && n.key[0] == 'd')
            top = (uint32_t)n.key[1] << 24 | (uint32_t)n.key[2] << 16 | n.key[3] << 8 | n.key[4];
        rc = ldb__btree_next(&txn->pager, &path);
    }
    if (top > last) {
        bad(ctx, "dictionaries: a dictionary's id is past the last id given");
        found++;
    }
    return found;
}
