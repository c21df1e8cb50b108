/* SPDX-License-Identifier: MIT */
/*
 * dbi.h: the env's table of named-tree handles (ldb_dbi).
 *
 * A handle names a slot of the table and the slot's generation: the slot
 * in the low 16 bits (max_dbs is at most 32768), the generation above. A
 * slot holds a tree's name from the first open of it in this env until it
 * is given back, which bumps its generation, so a stale handle gives
 * LDB_INVALID rather than naming whatever tree takes the slot next (until
 * the 16-bit generation wraps, after 65,536 reuses of one slot). LDB_MAIN
 * is handle 0 and has no slot.
 *
 * Lifetime (API.md: a handle opened in a txn that commits stays valid for
 * the life of the env):
 *  - a txn that uses a slot not yet kept pins it (pins counts such txns);
 *  - a txn that used it and commits keeps it: kept, it stays until a
 *    commit deletes its tree;
 *  - when the last pinning txn ends without committing (an aborted create,
 *    or an open in a txn that aborted) and no commit kept it, it is given
 *    back;
 *  - a commit that deleted the tree gives it back (ldb__dbi_release), under
 *    the writer mutex, so the next writer never finds the deleted tree's
 *    slot by its name.
 *
 * Everything here is guarded by env->mutex.
 */
#ifndef LDB_DBI_H
#define LDB_DBI_H

#include <stdint.h>

#include "handle.h"

#define LDB_DBI_SLOT_BITS 16

struct ldb__dbi_slot {
    char *name;          /* NULL: free */
    uint32_t generation; /* the low 16 bits go into handles */
    uint32_t pins;       /* txns using it while it is not kept */
    int kept;            /* a txn that used it committed */
};

static inline unsigned ldb__dbi_slot_of(ldb_dbi dbi)
{
    return dbi & ((1u << LDB_DBI_SLOT_BITS) - 1);
}

static inline uint32_t ldb__dbi_gen_of(ldb_dbi dbi)
{
    return dbi >> LDB_DBI_SLOT_BITS;
}

int ldb__dbi_table_init(ldb_env *env);
void ldb__dbi_table_free(ldb_env *env);
/* The handle of the slot holding name; with add, take a free slot if none
 * does (LDB_DBS_FULL when every slot is taken). LDB_NOTFOUND otherwise. */
int ldb__dbi_find(ldb_env *env, const char *name, int add, ldb_dbi *dbi);
/* Check dbi (a named tree's handle) is live, copy its name (LDB_MAX_NAME
 * + 1 bytes), and pin it if pin is set and the slot is not kept (*pinned).
 * LDB_INVALID for a handle that names no live slot. */
int ldb__dbi_use(ldb_env *env, ldb_dbi dbi, int pin, char *name, int *pinned);
/* A txn that pinned dbi ended: committed, it keeps the slot; if not, the
 * slot is given back once no txn pins it and none kept it. A no-op if the
 * slot was given back already (its generation moved on). */
void ldb__dbi_unpin(ldb_env *env, ldb_dbi dbi, int committed);
/* A committed txn deleted dbi's tree: give the slot back. */
void ldb__dbi_release(ldb_env *env, ldb_dbi dbi);

#endif
