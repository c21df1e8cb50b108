/* SPDX-License-Identifier: MIT */
/*
 * api.c: the data calls of the public API (get, put, del, training a
 * tree's dictionary): argument checks, then the txn layer (named trees are
 * opened and dropped in trees.c). Every check that can refuse a call runs before
 * anything changes, so a refused call leaves the txn as it was.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "btree.h"
#include "dict.h"
#include "error.h"
#include "txn.h"
#include "value.h"

static int check_key(const ldb_env *env, const ldb_val *key)
{
    if (key == NULL || key->size == 0 || key->data == NULL)
        return LDB_INVALID;
    if (key->size > env->key_max)
        return LDB_TOOBIG;
    return 0;
}

int ldb_get(ldb_txn *txn, ldb_dbi dbi, const ldb_val *key, ldb_val *val)
{
    TRY(ldb__txn_check(txn, 0));
    if (val == NULL)
        return LDB_INVALID;
    TRY(check_key(txn->env, key));
    struct tree_desc *t;
    TRY(ldb__txn_tree(txn, dbi, &t));
    return ldb__value_get(txn, t, key->data, (uint32_t)key->size, val);
}

int ldb_put(ldb_txn *txn, ldb_dbi dbi, const ldb_val *key, const ldb_val *val, unsigned flags)
{
    TRY(ldb__txn_check(txn, 1));
    if (flags & ~(unsigned)(LDB_NOOVERWRITE | LDB_APPEND))
        return LDB_INVALID;
    TRY(check_key(txn->env, key));
    if (val == NULL || (val->data == NULL && val->size != 0))
        return LDB_INVALID;
    if (val->size > LDB_MAX_VALUE_SIZE)
        return LDB_TOOBIG;
    return ldb__txn_put(txn, dbi, key, val, flags);
}

int ldb_del(ldb_txn *txn, ldb_dbi dbi, const ldb_val *key)
{
    TRY(ldb__txn_check(txn, 1));
    TRY(check_key(txn->env, key));
    return ldb__txn_del(txn, dbi, key);
}

int ldb_dbi_train_dict(ldb_txn *txn, ldb_dbi dbi, size_t dict_bytes, uint32_t *id)
{
    TRY(ldb__txn_check(txn, 1));
    uint32_t got = 0;
    TRY(ldb__dict_train(txn, dbi, dict_bytes, &got));
    if (id != NULL)
        *id = got;
    return 0;
}
