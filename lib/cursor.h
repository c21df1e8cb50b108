/* SPDX-License-Identifier: MIT */
/*
 * cursor.h: ordered positions in one tree of a txn.
 *
 * A cursor keeps a root-to-leaf path. In a read txn the path stays valid for
 * the txn's life. In a write txn any write may move or copy pages, so a
 * cursor also keeps a copy of its key and the txn's write count when it was
 * positioned; when the count has moved it seeks its key again first (and if
 * the key is gone it stands between its neighbours: NEXT gives the entry
 * after it, PREV the one before).
 */
#ifndef LDB_CURSOR_H
#define LDB_CURSOR_H

#include "btree.h"
#include "txn.h"

enum cursor_state {
    CURSOR_UNSET = 0, /* fresh, or its txn was reset */
    CURSOR_ON,        /* on the entry at path */
    CURSOR_BETWEEN,   /* path is the lower bound of a key no longer there */
};

struct ldb_cursor {
    uint32_t magic;
    struct ldb__cursor_link link; /* its txn (link.txn: NULL once ended) */
    ldb_dbi dbi;
    struct ldb__path path;
    enum cursor_state state;
    uint64_t mods;    /* txn->mods when path was made */
    uint8_t *saved_key; /* write txns: the key at path */
    uint32_t saved_len, saved_cap;
    /* Read txns' scans: the next leaf, and how much of it has been asked
     * into the cache so far (cursor.c, scan_next); NULL when unknown. */
    const uint8_t *ahead;
    uint32_t ahead_off;
};

#endif
