/* SPDX-License-Identifier: MIT */
/*
 * value.h: values as callers see them over values as they are stored.
 *
 * Writes: a value of LDB_COMPRESS_MIN_VALUE bytes or more, in an env opened
 * with a codec, is compressed and stored so when that saves at least an
 * eighth (the node gets NODE_COMPRESSED, the bytes a value_header and the
 * payload). The log carries the stored form (WAL_OP_PUT_COMPRESSED), and
 * replay (recovery.c) stores it as it is, whatever this open's codec.
 *
 * Adaptive: per tree (dbi), after ADAPT_FAILS attempts in a row that did not
 * save, the next puts skip compression for a while (doubling up to a cap
 * while probes keep failing); one attempt that saves resets it.
 *
 * Reads: a plain value is a pointer into the map (or the txn's dirty page);
 * a compressed one is a pointer to its decompressed copy in the env's cache
 * (cache.h), pinned by the txn until it ends, is reset, or (a write txn)
 * makes its next write. Values in a write txn's dirty pages are decompressed
 * into private copies, pinned the same way and never cached.
 */
#ifndef LDB_VALUE_H
#define LDB_VALUE_H

#include "txn.h"

/* Per-tree state of the adaptive policy (env->adapt[slot of dbi]), writer
 * only. */
struct ldb__adapt {
    uint32_t fails;   /* attempts in a row that did not save */
    uint32_t skip;    /* puts left to store plain without trying */
    uint32_t backoff; /* the next skip period */
    uint32_t dict_id; /* the dictionary the figures are for: a new one
                         (dict.h) starts them afresh */
};

/* The value to store for val: *stored is val itself or the txn's scratch
 * buffer (valid until its next put); *btree_flags gains
 * LDB__BTREE_COMPRESSED for a compressed one. */
int ldb__value_encode(ldb_txn *txn, ldb_dbi dbi, const ldb_val *val, unsigned flags,
                      ldb_val *stored, unsigned *btree_flags);
/* The key and the caller's value of the entry at path (key or val NULL
 * when not wanted). */
int ldb__value_entry(ldb_txn *txn, const struct ldb__path *path, ldb_val *key, ldb_val *val);
/* ldb_get's read: key's value in tree t, found with no path
 * (LDB_NOTFOUND if absent). */
int ldb__value_get(ldb_txn *txn, const struct tree_desc *t, const uint8_t *key, uint32_t klen,
                   ldb_val *val);
/* Let go of every value the txn handed out. */
void ldb__value_unpin(ldb_txn *txn);

#endif
