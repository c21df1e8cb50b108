/* SPDX-License-Identifier: MIT */
/*
 * recovery.c: log replay at open (see recovery.h).
 */
#include "recovery.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "commit.h"
#include "error.h"
#include "os.h"
#include "wal.h"

#ifdef LDB_TEST_HOOKS
void (*ldb__recovery_step_hook)(uint64_t replayed);
#endif

int ldb__recovery_pending(const char *wal_path, uint64_t meta_txnid, uint64_t db_id,
                          int *pending)
{
    *pending = 0;
    int fd, rc = ldb__os_open(wal_path, O_RDONLY, 0, &fd);
    if (rc == -ENOENT)
        return 0;
    TRY(rc);
    uint64_t size;
    struct ldb__wal_reader r;
    CHECK_GOTO(rc, ldb__os_file_size(fd, &size), out);
    CHECK_GOTO(rc, ldb__wal_reader_open(&r, fd, size, db_id), out);
    for (;;) {
        uint64_t txnid;
        const uint8_t *ops;
        size_t len;
        uint32_t nops;
        rc = ldb__wal_reader_next(&r, &txnid, &ops, &len, &nops);
        if (rc <= 0)
            break;
        if (txnid == meta_txnid + 1) {
            *pending = 1;
            break;
        }
    }
    ldb__wal_reader_close(&r);
out:
    ldb__os_close(fd);
    return rc < 0 ? rc : 0;
}

/* The named trees one replayed txn touches, found by name in the catalog
 * rather than through the opener's handle table: the log may name more
 * trees than this opener's max_dbs allows (several processes wrote it,
 * each within its own), and recovery must complete whatever the opener's
 * limits. Their descriptors go into the catalog at the end of the txn, as
 * a txn's open trees do at commit. */
struct replay_tree {
    const uint8_t *name; /* in the record being replayed */
    uint32_t name_len;
    enum dbi_state state; /* DBI_MISSING, DBI_CLEAN, DBI_DIRTY or DBI_DELETED */
    struct tree_desc desc;
};

struct replay_trees {
    struct replay_tree *v;
    size_t n, cap;
};

/* The entry for the tree op names, loaded from the catalog on first use. */
static int replay_tree(ldb_txn *txn, struct replay_trees *rt, const struct ldb__wal_op *op,
                       struct replay_tree **out)
{
    if (op->name_len > LDB_MAX_NAME || memchr(op->name, 0, op->name_len) != NULL)
        return LDB_CORRUPT();
    for (size_t i = 0; i < rt->n; i++) {
        struct replay_tree *e = &rt->v[i];
        if (e->name_len == op->name_len && memcmp(e->name, op->name, op->name_len) == 0) {
            *out = e;
            return 0;
        }
    }
    if (rt->n == rt->cap) {
        size_t cap = rt->cap ? rt->cap * 2 : 16;
        struct replay_tree *v = realloc(rt->v, cap * sizeof *v);
        if (v == NULL)
            return -ENOMEM;
        rt->v = v;
        rt->cap = cap;
    }
    struct replay_tree *e = &rt->v[rt->n];
    e->name = op->name;
    e->name_len = op->name_len;
    ldb_val v;
    int rc = ldb__btree_get(&txn->pager, &txn->snap.catalog_tree, op->name, op->name_len, &v);
    if (rc == LDB_NOTFOUND) {
        e->state = DBI_MISSING;
    } else {
        TRY(rc);
        if (v.size != sizeof(struct tree_desc))
            return LDB_CORRUPT();
        memcpy(&e->desc, v.data, sizeof e->desc);
        e->state = DBI_CLEAN;
    }
    rt->n++;
    *out = e;
    return 0;
}

/* A key (and value) as the op that logged it had to have them. */
static int check_op_sizes(ldb_env *env, const struct ldb__wal_op *op)
{
    if (op->key_len == 0 || op->key_len > env->key_max || op->value_len > LDB_MAX_VALUE_SIZE)
        return LDB_CORRUPT();
    return 0;
}

static int apply_op(ldb_txn *txn, struct replay_trees *rt, const struct ldb__wal_op *op)
{
    struct ldb__pager *pg = &txn->pager;
    struct replay_tree *e = NULL;
    struct tree_desc *t = &txn->snap.main_tree;
    if (op->name_len == 0) {
        if (op->type == WAL_OP_CREATE || op->type == WAL_OP_DELETE)
            return LDB_CORRUPT(); /* LDB_MAIN is neither created nor deleted */
    } else {
        TRY(replay_tree(txn, rt, op, &e));
        int live = e->state == DBI_CLEAN || e->state == DBI_DIRTY;
        if (op->type == WAL_OP_CREATE) {
            if (!live) {
                memset(&e->desc, 0, sizeof e->desc);
                e->state = DBI_DIRTY;
            }
            return 0;
        }
        if (!live)
            return LDB_CORRUPT();
        t = &e->desc;
    }
    int rc;
    switch (op->type) {
    case WAL_OP_PUT:
        TRY(check_op_sizes(txn->env, op));
        rc = ldb__btree_put(pg, t, op->key, op->key_len, op->value, op->value_len, 0);
        break;
    case WAL_OP_DEL:
        TRY(check_op_sizes(txn->env, op));
        rc = ldb__btree_del(pg, t, op->key, op->key_len);
        break;
    case WAL_OP_EMPTY:
        rc = ldb__btree_drop(pg, t);
        break;
    case WAL_OP_DELETE:
        rc = ldb__btree_drop(pg, t);
        if (rc == 0)
            rc = ldb__btree_del(pg, &txn->snap.catalog_tree, op->name, op->name_len);
        if (rc == LDB_NOTFOUND)
            rc = 0; /* created in this txn: not in the catalog yet */
        break;
    default:
        return LDB_CORRUPT();
    }
    if (rc == 0 && e != NULL)
        e->state = op->type == WAL_OP_DELETE ? DBI_DELETED : DBI_DIRTY;
    /* The op succeeded when it was logged; failing now means the log and
     * the data file disagree. */
    return rc == LDB_NOTFOUND || rc == LDB_EXISTS || rc == LDB_INVALID || rc == LDB_TOOBIG
               ? LDB_CORRUPT()
               : rc;
}

/* The changed trees' descriptors into the catalog. */
static int save_trees(ldb_txn *txn, const struct replay_trees *rt)
{
    for (size_t i = 0; i < rt->n; i++) {
        const struct replay_tree *e = &rt->v[i];
        if (e->state == DBI_DIRTY)
            TRY(ldb__btree_put(&txn->pager, &txn->snap.catalog_tree, e->name, e->name_len,
                               &e->desc, sizeof e->desc, 0));
    }
    return 0;
}

static int replay_record(ldb_env *env, struct replay_trees *rt, uint64_t txnid,
                         const uint8_t *ops, size_t len, uint32_t nops)
{
    ldb_txn *txn;
    TRY(ldb_txn_begin(env, 0, &txn));
    txn->replaying = 1;
    rt->n = 0;
    int rc = txn->id == txnid ? 0 : LDB_CORRUPT();
    size_t pos = 0;
    for (uint32_t i = 0; rc == 0 && i < nops; i++) {
        struct ldb__wal_op op;
        rc = ldb__wal_op_next(ops, len, &pos, &op);
        if (rc == 0)
            rc = apply_op(txn, rt, &op);
    }
    if (rc == 0)
        rc = save_trees(txn, rt);
    if (rc < 0) {
        ldb_txn_abort(txn);
        return rc;
    }
    /* An empty txn still consumes its id, as it did when it committed. */
    txn->mods++;
    return ldb_txn_commit(txn);
}

int ldb__recover(ldb_env *env, uint64_t meta_txnid, uint64_t *replayed)
{
    *replayed = 0;
    uint64_t size;
    TRY(ldb__os_file_size(env->wal_fd, &size));
    struct ldb__wal_reader r;
    TRY(ldb__wal_reader_open(&r, env->wal_fd, size, env->db_id));
    uint64_t expect = meta_txnid + 1;
    struct replay_trees rt = {0};
    int rc;
    for (;;) {
        uint64_t txnid;
        const uint8_t *ops;
        size_t len;
        uint32_t nops;
        rc = ldb__wal_reader_next(&r, &txnid, &ops, &len, &nops);
        if (rc <= 0)
            break;
        if (txnid < expect)
            continue; /* already in the checkpoint */
        if (txnid != expect)
            break; /* a gap: what follows cannot be applied */
        rc = replay_record(env, &rt, txnid, ops, len, nops);
        if (rc < 0)
            break;
        expect++;
        (*replayed)++;
#ifdef LDB_TEST_HOOKS
        if (ldb__recovery_step_hook)
            ldb__recovery_step_hook(*replayed);
#endif
    }
    ldb__wal_reader_close(&r);
    free(rt.v);
    return rc < 0 ? rc : 0;
}
