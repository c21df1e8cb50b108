/* SPDX-License-Identifier: MIT */
/*
 * value.c: compressing values on the way in and serving them decompressed
 * on the way out (see value.h).
 */
#include "value.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "alloc.h"
#include "compress.h"
#include "dbi.h"
#include "dict.h"
#include "error.h"
#include "page.h"

/* Attempts in a row that fail to save before a tree stops trying, and the
 * skip periods (puts) that follow: doubling from the first to the last
 * while the probe after each keeps failing. */
#define ADAPT_FAILS 8u
#define ADAPT_SKIP_FIRST 32u
#define ADAPT_SKIP_MAX 4096u

static int adapt_should_try(struct ldb__adapt *a)
{
    if (a->skip == 0)
        return 1;
    if (--a->skip == 0)
        a->fails = ADAPT_FAILS - 1; /* the next attempt is a probe */
    return 0;
}

static void adapt_record(struct ldb__adapt *a, int saved)
{
    if (saved) {
        a->fails = 0;
        a->backoff = 0;
        return;
    }
    if (++a->fails < ADAPT_FAILS)
        return;
    a->backoff = a->backoff == 0 ? ADAPT_SKIP_FIRST
                 : a->backoff >= ADAPT_SKIP_MAX ? ADAPT_SKIP_MAX
                                                : a->backoff * 2;
    a->skip = a->backoff;
    a->fails = 0;
}

int ldb__value_encode(ldb_txn *txn, ldb_dbi dbi, const ldb_val *val, unsigned flags,
                      ldb_val *stored, unsigned *btree_flags)
{
    ldb_env *env = txn->env;
    *stored = *val;
    *btree_flags = flags;
    /* Replay stores what the log says, as it says it (recovery.c). */
    if (env->opts.compression == LDB_COMPRESS_NONE || txn->replaying ||
        val->size < LDB_COMPRESS_MIN_DICT_VALUE || ldb__dict_storing(txn))
        return 0;
    uint32_t dict_id = 0;
    const void *cdict = NULL;
    if (env->opts.compression == LDB_COMPRESS_ZSTD)
        TRY(ldb__dict_for_put(txn, dbi, &dict_id, &cdict));
    if (cdict == NULL && val->size < LDB_COMPRESS_MIN_VALUE)
        return 0;
    struct ldb__adapt *a = &env->adapt[ldb__dbi_slot_of(dbi)];
    if (a->dict_id != dict_id)
        *a = (struct ldb__adapt){.dict_id = dict_id};
    if (!adapt_should_try(a))
        return 0;
    uint32_t n = (uint32_t)val->size, cap = n - n / 8; /* must save an eighth */
    if (txn->cbuf_cap < cap) {
        uint8_t *b = ldb__realloc(txn->cbuf, cap);
        if (b == NULL)
            return -ENOMEM;
        txn->cbuf = b;
        txn->cbuf_cap = cap;
    }
    uint32_t len;
    if (cdict != NULL)
        TRY(ldb__compress_value_dict(&env->compressor, cdict, dict_id, val->data, n, txn->cbuf,
                                     cap, &len));
    else
        TRY(ldb__compress_value(&env->compressor, env->opts.compression,
                                env->opts.compression_level, val->data, n, txn->cbuf, cap, &len));
    adapt_record(a, len != 0);
    if (len == 0)
        return 0;
    stored->data = txn->cbuf;
    stored->size = len;
    *btree_flags |= LDB__BTREE_COMPRESSED;
    return 0;
}

/* Decompress the stored value sv of node n into an entry pinned by txn:
 * from the cache when the bytes are committed, privately when they are in
 * this txn's dirty pages. */
static int value_decompress(ldb_txn *txn, pgno_t leaf_pgno, const uint8_t *lp,
                            const struct page_node *n, const ldb_val *sv, ldb_val *val)
{
    const struct ldb__pager *pg = &txn->pager;
    struct ldb__cache_key key;
    int cacheable;
    if (n->bare) {
        /* the run has no header: its ref names it as a header would */
        pgno_t ov = ldb__page_overflow_pgno(n);
        key = (struct ldb__cache_key){ov, ldb__ld_le64(n->value + RUN_REF_TXNID), 0};
        cacheable = !ldb__pager_is_dirty(pg, ov);
    } else if (n->overflow) {
        /* node_value returned the run's bytes after its page header */
        const struct page_header *h = PAGE_CHDR(sv->data - PAGE_HEADER_SIZE);
        key = (struct ldb__cache_key){ldb__le64(h->pgno), ldb__le64(h->txnid), 0};
        cacheable = !ldb__pager_is_dirty(pg, ldb__le64(h->pgno));
    } else {
        key = (struct ldb__cache_key){leaf_pgno, ldb__le64(PAGE_CHDR(lp)->txnid),
                                      (uint32_t)(n->value - lp)};
        cacheable = lp == pg->map + (size_t)leaf_pgno * pg->page_size;
    }
    TRY(ldb__pins_reserve(&txn->pins));
    struct ldb__cache *cache = txn->env->cache;
    struct ldb__cache_entry *e = cacheable ? ldb__cache_get(cache, &key, &txn->pins) : NULL;
    if (e == NULL) {
        /* Checked on a miss only: a hit's entry was decompressed from
         * these very bytes (the key names them) after the same checks, so
         * a hit reads neither them nor their frame header. */
        int codec;
        uint32_t raw;
        TRY(ldb__compress_header(sv->data, (uint32_t)sv->size, &codec, &raw));
        if ((e = ldb__cache_entry_new(raw)) == NULL)
            return -ENOMEM;
        int rc = ldb__dict_decompress(txn, sv->data, (uint32_t)sv->size, e->data, raw);
        if (rc < 0) {
            ldb__cache_unpin(cache, e);
            return rc;
        }
        if (cacheable)
            e = ldb__cache_insert(cache, &key, e);
    }
    ldb__pins_add(&txn->pins, e);
    val->data = e->data;
    val->size = e->size;
    return 0;
}

/* The caller's value of node n of leaf page lp (page number leaf_pgno). */
static int node_value(ldb_txn *txn, pgno_t leaf_pgno, const uint8_t *lp,
                      const struct page_node *n, ldb_val *val)
{
    ldb_val sv;
    TRY(ldb__btree_node_value(&txn->pager, n, &sv));
    if (LDB_LIKELY(!n->compressed)) {
        *val = sv;
        return 0;
    }
    return value_decompress(txn, leaf_pgno, lp, n, &sv, val);
}

int ldb__value_entry(ldb_txn *txn, const struct ldb__path *path, ldb_val *key, ldb_val *val)
{
    if (path->depth == 0)
        return LDB_NOTFOUND;
    const struct ldb__pager *pg = &txn->pager;
    unsigned leaf = path->depth - 1;
    struct page_node n;
    TRY(ldb__page_node(path->page[leaf], pg->page_size, path->idx[leaf], &n));
    if (key) {
        key->size = n.key_size;
        key->data = n.key;
    }
    if (val == NULL)
        return 0;
    return node_value(txn, path->pgno[leaf], path->page[leaf], &n, val);
}

int ldb__value_get(ldb_txn *txn, const struct tree_desc *t, const uint8_t *key, uint32_t klen,
                   ldb_val *val)
{
    struct ldb__leaf_pos pos;
    TRY(ldb__btree_find(&txn->pager, t, key, klen, &pos));
    return node_value(txn, pos.pgno, pos.page, &pos.node, val);
}

void ldb__value_unpin(ldb_txn *txn)
{
    /* Every reset and commit comes here; most txns read no compressed
     * value, and a read txn reset per get should not pay the call. */
    if (txn->pins.len != 0 || txn->pins.hits != 0)
        ldb__pins_release(txn->env->cache, &txn->pins);
}

int ldb__dbi_compress_stat(ldb_txn *txn, ldb_dbi dbi, ldb_compress_stat *st)
{
    TRY(ldb__txn_check(txn, 0));
    memset(st, 0, sizeof *st);
    struct tree_desc *t;
    TRY(ldb__txn_tree(txn, dbi, &t));
    const struct ldb__pager *pg = &txn->pager;
    struct ldb__path path;
    int rc = ldb__btree_first(pg, t, &path);
    while (rc == 0) {
        unsigned leaf = path.depth - 1;
        struct page_node n;
        TRY(ldb__page_node(path.page[leaf], pg->page_size, path.idx[leaf], &n));
        st->values++;
        if (n.compressed) {
            ldb_val sv;
            int codec;
            uint32_t raw;
            TRY(ldb__btree_node_value(pg, &n, &sv));
            TRY(ldb__compress_header(sv.data, (uint32_t)sv.size, &codec, &raw));
            st->compressed++;
            st->stored_bytes += sv.size;
            st->raw_bytes += raw;
        }
        rc = ldb__btree_next(pg, &path);
    }
    return rc == LDB_NOTFOUND ? 0 : rc;
}
