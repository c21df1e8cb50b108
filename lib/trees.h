/* SPDX-License-Identifier: MIT */
/*
 * trees.h: named trees in a txn: opening (and creating) them by name,
 * dropping them, listing the catalog.
 *
 * Names beginning with LDB__RESERVED_NAME_BYTE are the library's own trees
 * (the dictionaries of dict.h): ldb_dbi_open refuses them and ldb_dbi_list
 * does not show them; the library opens them with ldb__dbi_open.
 *
 * Layer: over the txn, under dict.c and the API.
 */
#ifndef LDB_TREES_H
#define LDB_TREES_H

#include "txn.h"

/* The first byte of the names the library keeps for its own trees. */
#define LDB__RESERVED_NAME_BYTE '\001'

/* ldb_dbi_open without the refusal of reserved names. */
int ldb__dbi_open(ldb_txn *txn, const char *name, unsigned flags, ldb_dbi *dbi);

#endif
