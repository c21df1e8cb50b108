/* SPDX-License-Identifier: MIT */
/*
 * trees.c: named trees in a txn (ldb_dbi_open, ldb_dbi_drop, ldb_dbi_list,
 * the tree statistics): the env's handle table (dbi.c) joined to the txn's
 * view of the catalog. See trees.h.
 */
#include "trees.h"

#include <string.h>

#include "abi.h"
#include "btree.h"
#include "dbi.h"
#include "error.h"
#include "value.h"

/* Internal to ldb_dbi_open: the handle found died before it was used. */
#define LDB_DBI_GONE (-30199)

static int dbi_open_once(ldb_txn *txn, const char *name, size_t len, unsigned flags,
                         ldb_dbi *dbi)
{
    ldb_dbi h;
    struct tree_desc *t;
    /* Known to this env and alive in this txn (perhaps created in it). */
    if (ldb__dbi_find(txn->env, name, 0, &h) == 0 && ldb__txn_tree(txn, h, &t) == 0) {
        *dbi = h;
        return 0;
    }
    ldb_val v;
    int rc = ldb__btree_get(&txn->pager, &txn->snap.catalog_tree, (const uint8_t *)name,
                            (uint32_t)len, &v);
    if (rc == 0) {
        if (v.size != sizeof(struct tree_desc))
            return LDB_CORRUPT();
    } else if (rc == LDB_NOTFOUND) {
        if (!(flags & LDB_CREATE))
            return LDB_NOTFOUND;
        if (txn->rdonly)
            return LDB_READONLY;
        if (txn->error)
            return txn->error;
    } else {
        return rc;
    }
    /* A slot freshly taken here is pinned by ldb__txn_tree, so it goes back
     * when this txn ends without committing, whatever happens below. */
    TRY(ldb__dbi_find(txn->env, name, 1, &h));
    rc = ldb__txn_tree(txn, h, &t);
    struct txn_dbi *e = txn->dbis ? &txn->dbis[ldb__dbi_slot_of(h)] : NULL;
    if (rc == LDB_INVALID &&
        (e == NULL || e->generation != txn->dbi_generation || e->handle_gen != ldb__dbi_gen_of(h)))
        return LDB_DBI_GONE; /* not loaded: h was given back meanwhile */
    if (rc == LDB_INVALID && (flags & LDB_CREATE) && !txn->rdonly) {
        /* Missing (or dropped in this txn): create it empty. */
        memset(&e->desc, 0, sizeof e->desc);
        e->state = DBI_DIRTY;
        e->generation = txn->dbi_generation;
        txn->mods++;
        txn->adds++;
        rc = ldb__txn_fail(txn, ldb__txn_log(txn, WAL_OP_CREATE, h, NULL, NULL));
    }
    TRY(rc);
    *dbi = h;
    return 0;
}

int ldb_dbi_open(ldb_txn *txn, const char *name, unsigned flags, ldb_dbi *dbi)
{
    /* The library's own trees (dict.h) are not the caller's to change. */
    if (name != NULL && name[0] == LDB__RESERVED_NAME_BYTE)
        return LDB_INVALID;
    return ldb__dbi_open(txn, name, flags, dbi);
}

int ldb__dbi_open(ldb_txn *txn, const char *name, unsigned flags, ldb_dbi *dbi)
{
    TRY(ldb__txn_check(txn, 0));
    if (dbi == NULL || (flags & ~(unsigned)LDB_CREATE))
        return LDB_INVALID;
    if (name == NULL) {
        *dbi = LDB_MAIN;
        return 0;
    }
    size_t len = strlen(name);
    if (len == 0 || len > LDB_MAX_NAME)
        return LDB_INVALID;
    int rc;
    /* Another thread's txn may give a slot back between finding and using
     * it (dbi.h): then look again. */
    for (int round = 0;; round++) {
        rc = dbi_open_once(txn, name, len, flags, dbi);
        if (rc != LDB_DBI_GONE)
            return rc;
        if (round == 8)
            return LDB_INVALID;
    }
}

int ldb_dbi_drop(ldb_txn *txn, ldb_dbi dbi, int delete_tree)
{
    TRY(ldb__txn_check(txn, 1));
    if (txn->error)
        return txn->error;
    if (delete_tree && dbi == LDB_MAIN)
        return LDB_INVALID;
    struct tree_desc *t;
    TRY(ldb__txn_tree(txn, dbi, &t));
    ldb__value_unpin(txn); /* a write: values handed out before are gone */
    TRY(ldb__txn_fail(txn, ldb__btree_drop(&txn->pager, t)));
    TRY(ldb__txn_fail(txn, ldb__txn_log(txn, delete_tree ? WAL_OP_DELETE : WAL_OP_EMPTY, dbi,
                                        NULL, NULL)));
    txn->mods++;
    if (!delete_tree) {
        ldb__txn_tree_dirty(txn, dbi);
        return 0;
    }
    char name[LDB_MAX_NAME + 1];
    int pinned;
    TRY(ldb__txn_fail(txn, ldb__dbi_use(txn->env, dbi, 0, name, &pinned)));
    int rc = ldb__btree_del(&txn->pager, &txn->snap.catalog_tree, (const uint8_t *)name,
                            (uint32_t)strlen(name));
    if (rc < 0 && rc != LDB_NOTFOUND) /* NOTFOUND: created in this txn */
        return ldb__txn_fail(txn, rc);
    txn->dbis[ldb__dbi_slot_of(dbi)].state = DBI_DELETED;
    txn->dbi_deletes++;
    return 0;
}

int ldb__dbi_stat(ldb_txn *txn, ldb_dbi dbi, ldb_tree_stat *st)
{
    TRY(ldb__txn_check(txn, 0));
    if (st == NULL)
        return LDB_INVALID;
    struct tree_desc *t;
    TRY(ldb__txn_tree(txn, dbi, &t));
    st->entries = t->entries;
    st->depth = t->depth;
    st->branch_pages = t->branch_pages;
    st->leaf_pages = t->leaf_pages;
    st->overflow_pages = t->overflow_pages;
    return 0;
}

int ldb_dbi_list(ldb_txn *txn, ldb_tree_fn fn, void *ctx)
{
    TRY(ldb__txn_check(txn, 0));
    /* A write txn writes its new trees' names into the catalog only when
     * it commits, so its catalog is not yet the whole story. */
    if (fn == NULL || !txn->rdonly)
        return LDB_INVALID;
    struct ldb__path path;
    int rc = ldb__btree_first(&txn->pager, &txn->snap.catalog_tree, &path);
    while (rc == 0) {
        ldb_val k, v;
        char name[LDB_MAX_NAME + 1];
        TRY(ldb__btree_entry(&txn->pager, &path, &k, &v));
        if (k.size == 0 || k.size > LDB_MAX_NAME || v.size != sizeof(struct tree_desc) ||
            memchr(k.data, '\0', k.size) != NULL)
            return LDB_CORRUPT();
        memcpy(name, k.data, k.size);
        name[k.size] = '\0';
        if (name[0] == LDB__RESERVED_NAME_BYTE)
            goto next; /* the library's own (dict.h) */
        int stop = fn(ctx, name);
        if (stop != 0)
            return stop;
    next:
        rc = ldb__btree_next(&txn->pager, &path);
    }
    return rc == LDB_NOTFOUND ? 0 : rc;
}
