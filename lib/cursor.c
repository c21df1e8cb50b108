/* SPDX-License-Identifier: MIT */
/*
 * cursor.c: the public cursor calls over the btree's path movement.
 */
#include "cursor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "value.h"

/* The live txn of a cursor, its position forgotten if the txn was reset
 * since; NULL if the txn has ended. */
static ldb_txn *cursor_txn(ldb_cursor *c)
{
    if (c->link.lost) {
        c->state = CURSOR_UNSET;
        c->path.depth = 0;
        c->link.lost = 0;
    }
    return c->link.txn;
}

int ldb_cursor_open(ldb_txn *txn, ldb_dbi dbi, ldb_cursor **out)
{
    if (out == NULL)
        return LDB_INVALID;
    TRY(ldb__txn_check(txn, 0));
    struct tree_desc *t;
    TRY(ldb__txn_tree(txn, dbi, &t));
    ldb_cursor *c = ldb__calloc(1, sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    c->magic = LDB_CURSOR_MAGIC;
    c->dbi = dbi;
    ldb__txn_cursor_attach(txn, &c->link);
    *out = c;
    return 0;
}

void ldb_cursor_close(ldb_cursor *c)
{
    if (c == NULL || c->magic != LDB_CURSOR_MAGIC)
        return;
    ldb__txn_cursor_detach(&c->link);
    c->magic = LDB_DEAD_MAGIC;
    ldb__free(c->saved_key);
    ldb__free(c);
}

static int save_key(ldb_cursor *c, const ldb_val *key)
{
    if (key->size > c->saved_cap) {
        uint8_t *k = ldb__realloc(c->saved_key, key->size);
        if (k == NULL)
            return -ENOMEM;
        c->saved_key = k;
        c->saved_cap = (uint32_t)key->size;
    }
    memcpy(c->saved_key, key->data, key->size);
    c->saved_len = (uint32_t)key->size;
    return 0;
}

/* From a lower-bound path, which may point one past a leaf's last entry,
 * move onto the first entry >= the key; LDB_NOTFOUND if there is none. */
static int settle_forward(const struct ldb__pager *pg, struct ldb__path *p)
{
    if (p->depth == 0)
        return LDB_NOTFOUND;
    unsigned leaf = p->depth - 1, count = ldb__le16(PAGE_CHDR(p->page[leaf])->count);
    if (p->idx[leaf] < count)
        return 0;
    p->idx[leaf] = count - 1;
    return ldb__btree_next(pg, p);
}

/* From a lower-bound path, move onto the last entry < the key. */
static int settle_backward(const struct ldb__pager *pg, struct ldb__path *p)
{
    if (p->depth == 0)
        return LDB_NOTFOUND;
    unsigned leaf = p->depth - 1;
    if (p->idx[leaf] > 0) {
        p->idx[leaf]--;
        return 0;
    }
    return ldb__btree_prev(pg, p);
}

/* In a write txn, find the cursor's place again after writes. */
static int reposition(ldb_cursor *c, const struct ldb__pager *pg, const struct tree_desc *t)
{
    int exact;
    TRY(ldb__btree_seek(pg, t, c->saved_key, c->saved_len, &c->path, &exact));
    if (!(exact && c->state == CURSOR_ON))
        c->state = CURSOR_BETWEEN;
    c->mods = c->link.txn->mods;
    return 0;
}

/* Return the entry at the cursor's path (it is on an entry). */
static int cursor_result(ldb_cursor *c, ldb_val *key, ldb_val *val)
{
    ldb_val k, v;
    TRY(ldb__value_entry(c->link.txn, &c->path, &k, val ? &v : NULL));
    if (!c->link.txn->rdonly) {
        TRY(save_key(c, &k));
        c->mods = c->link.txn->mods;
    }
    if (key)
        *key = k;
    if (val)
        *val = v;
    return 0;
}

/* A scan entering a leaf: note the leaf after it (its parent's next child,
 * if the parent has one), so that the steps through this leaf can ask its
 * lines into the cache a few at a time, well before they are read. */
static void scan_ahead(ldb_cursor *c, const struct ldb__pager *pg)
{
    const struct ldb__path *p = &c->path;
    c->ahead = NULL;
    if (p->depth < 2)
        return;
    /* Only the child pointer is read (a second full node decode here
     * would keep the compiler from inlining the one in scan_next); the
     * step to that leaf checks the node in full. */
    const uint8_t *bp = p->page[p->depth - 2];
    unsigned idx = p->idx[p->depth - 2] + 1;
    c->ahead_off = 0;
    if (idx >= ldb__le16(PAGE_CHDR(bp)->count))
        return;
    uint64_t off = ldb__le32(PAGE_CSLOTS(bp)[idx].offset);
    if (off + sizeof(pgno_t) > pg->page_size ||
        ldb__pager_get(pg, ldb__rd64(bp + off), &c->ahead) != 0)
        c->ahead = NULL; /* damage is found when the scan gets there */
}

/* The scan's step (NEXT from an entry in a read txn, whose pages never
 * change): the next entry of the leaf, or the first of the next leaf, with
 * its value inline returned straight from the node; the node gets the same
 * bounds checks as on every other path (ldb__page_node). */
static int scan_next(ldb_cursor *c, ldb_txn *txn, ldb_val *key, ldb_val *val)
{
    const struct ldb__pager *pg = &txn->pager;
    struct ldb__path *p = &c->path;
    unsigned leaf = p->depth - 1, idx = p->idx[leaf] + 1;
    if (idx >= ldb__le16(PAGE_CHDR(p->page[leaf])->count)) {
        struct tree_desc *t; /* as on the general path: the tree is still there */
        TRY(ldb__txn_tree(txn, c->dbi, &t));
        TRY(ldb__btree_next(pg, p));
        idx = p->idx[leaf];
        scan_ahead(c, pg);
    }
    if (c->ahead != NULL) {
        /* Two lines per entry: a leaf of 4 KiB holds ~30 entries of this
         * benchmark's size, so most of the next leaf is asked for by the
         * time the scan reaches it. */
        __builtin_prefetch(c->ahead + c->ahead_off);
        __builtin_prefetch(c->ahead + c->ahead_off + 64);
        c->ahead_off += 128;
        if (c->ahead_off >= pg->page_size)
            c->ahead = NULL;
    }
    const uint8_t *page = p->page[leaf];
    struct page_node n;
    TRY(ldb__page_node(page, pg->page_size, idx, &n));
    p->idx[leaf] = idx;
    if (LDB_UNLIKELY(n.overflow || n.compressed))
        return cursor_result(c, key, val);
    /* Scans touch every node in turn: fetch the next one early. */
    if (idx + 1 < ldb__le16(PAGE_CHDR(page)->count))
        __builtin_prefetch(page + ldb__le32(PAGE_CSLOTS(page)[idx + 1].offset));
    if (key) {
        key->size = n.key_size;
        key->data = n.key;
    }
    if (val) {
        val->size = n.value_size;
        val->data = n.value;
    }
    return 0;
}

int ldb_cursor_get(ldb_cursor *c, ldb_val *key, ldb_val *val, ldb_cursor_op op)
{
    if (c == NULL || c->magic != LDB_CURSOR_MAGIC)
        return LDB_INVALID;
    ldb_txn *txn = cursor_txn(c);
    if (txn == NULL)
        return LDB_INVALID;
    TRY(ldb__txn_check(txn, 0));
    const struct ldb__pager *pg = &txn->pager;
    if (op == LDB_NEXT && c->state == CURSOR_ON && txn->rdonly)
        return scan_next(c, txn, key, val);
    struct tree_desc *t;
    TRY(ldb__txn_tree(txn, c->dbi, &t));
    if (!txn->rdonly && c->state != CURSOR_UNSET && c->mods != txn->mods)
        TRY(reposition(c, pg, t));

    /* Steps from an entry work on the cursor's own path (they leave it as
     * it was when they fail); every other move builds a new path first. */
    if ((op == LDB_NEXT || op == LDB_PREV) && c->state == CURSOR_ON) {
        int rc = op == LDB_NEXT ? ldb__btree_next(pg, &c->path) : ldb__btree_prev(pg, &c->path);
        if (rc < 0)
            return rc;
        return cursor_result(c, key, val);
    }
    struct ldb__path p;
    p.depth = 0;
    if (c->state == CURSOR_BETWEEN)
        memcpy(&p, &c->path, sizeof p);
    int rc, exact;
    switch (op) {
    case LDB_FIRST:
        rc = ldb__btree_first(pg, t, &p);
        break;
    case LDB_LAST:
        rc = ldb__btree_last(pg, t, &p);
        break;
    case LDB_NEXT:
        if (c->state == CURSOR_UNSET)
            rc = ldb__btree_first(pg, t, &p);
        else if (c->state == CURSOR_BETWEEN)
            rc = settle_forward(pg, &p);
        else
            rc = ldb__btree_next(pg, &p);
        break;
    case LDB_PREV:
        if (c->state == CURSOR_UNSET)
            rc = ldb__btree_last(pg, t, &p);
        else if (c->state == CURSOR_BETWEEN)
            rc = settle_backward(pg, &p);
        else
            rc = ldb__btree_prev(pg, &p);
        break;
    case LDB_SEEK:
    case LDB_SEEK_EXACT:
        if (key == NULL || key->data == NULL || key->size == 0)
            return LDB_INVALID;
        if (key->size > txn->env->key_max)
            return LDB_TOOBIG;
        rc = ldb__btree_seek(pg, t, key->data, (uint32_t)key->size, &p, &exact);
        if (rc == 0 && op == LDB_SEEK_EXACT && !exact)
            rc = LDB_NOTFOUND;
        else if (rc == 0)
            rc = settle_forward(pg, &p);
        break;
    case LDB_CURRENT:
        if (c->state != CURSOR_ON)
            return LDB_NOTFOUND;
        return cursor_result(c, key, val);
    default:
        return LDB_INVALID;
    }
    if (rc < 0)
        return rc; /* the cursor stays where it was */
    memcpy(&c->path, &p, sizeof p);
    c->state = CURSOR_ON;
    return cursor_result(c, key, val);
}

int ldb_cursor_del(ldb_cursor *c)
{
    if (c == NULL || c->magic != LDB_CURSOR_MAGIC)
        return LDB_INVALID;
    ldb_txn *txn = cursor_txn(c);
    if (txn == NULL)
        return LDB_INVALID;
    TRY(ldb__txn_check(txn, 1));
    struct tree_desc *t;
    TRY(ldb__txn_tree(txn, c->dbi, &t));
    if (c->state != CURSOR_UNSET && c->mods != txn->mods)
        TRY(reposition(c, &txn->pager, t));
    if (c->state != CURSOR_ON)
        return LDB_NOTFOUND;
    ldb_val k = {c->saved_len, c->saved_key};
    TRY(ldb__txn_del(txn, c->dbi, &k));
    /* Its key is saved: the next move seeks it and finds the gap. */
    c->state = CURSOR_BETWEEN;
    c->mods = txn->mods - 1;
    return 0;
}
