/* SPDX-License-Identifier: MIT */
/*
 * recovery.c: log replay at open (see recovery.h).
 */
#include "recovery.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "commit.h"
#include "compress.h"
#include "error.h"
#include "os.h"
#include "wal.h"

#ifdef LDB_TEST_HOOKS
void (*ldb__recovery_step_hook)(uint64_t replayed);
#endif
/* The records recovery applies, in order: those after the checkpoint, up
 * to the first that fails its checks or breaks the sequence. */
struct log_walk {
    struct ldb__wal_reader r;
    uint64_t expect;    /* the txn id the next record must carry */
    uint64_t scan_from; /* where the walk stopped: the scan for proof of
                           durable damage starts here (wal.h, W4) */
    uint64_t gap_at;    /* a valid record out of sequence stopped it: there */
    uint64_t gap_durable; /* and its durable txn id */
};

static int walk_open(struct log_walk *w, int fd, uint64_t meta_txnid, uint64_t db_id)
{
    memset(w, 0, sizeof *w);
    w->expect = meta_txnid + 1;
    uint64_t size;
    TRY(ldb__os_file_size(fd, &size));
    return ldb__wal_reader_open(&w->r, fd, size, db_id);
}

/* 1 with the next record to apply, 0 where the walk stops. */
static int walk_next(struct log_walk *w, struct ldb__wal_record *rec)
{
    for (;;) {
        int rc = ldb__wal_reader_next(&w->r, rec);
        if (rc <= 0) {
            w->scan_from = w->r.offset + 8; /* past the record that failed */
            return rc;
        }
        if (rec->txnid < w->expect)
            continue; /* already in the checkpoint */
        if (rec->txnid != w->expect) {
            /* A gap: what follows cannot be applied. */
            w->gap_at = rec->offset;
            w->gap_durable = rec->durable_txnid;
            w->scan_from = w->r.offset;
            return 0;
        }
        w->expect++;
        return 1;
    }
}

int ldb__recovery_survey(int fd, uint64_t meta_txnid, uint64_t db_id,
                         struct ldb__recovery_survey *s)
{
    memset(s, 0, sizeof *s);
    struct log_walk w;
    int rc = walk_open(&w, fd, meta_txnid, db_id);
    if (rc < 0)
        goto out;
    struct ldb__wal_record rec;
    while ((rc = walk_next(&w, &rec)) > 0) {
        s->records++;
        s->keep_end = rec.offset + rec.len;
    }
    if (rc < 0)
        goto out;
    s->last_txnid = w.expect - 1;
    s->stop_at = w.gap_at ? w.gap_at : w.r.offset;
    if (w.gap_at && w.gap_durable >= w.expect)
        s->proof_at = w.gap_at;
    else
        rc = ldb__wal_reader_find_durable(&w.r, w.scan_from, w.expect, &s->proof_at);
out:
    ldb__wal_reader_close(&w.r);
    return rc;
}

int ldb__recovery_pending(const char *wal_path, unsigned owner, uint64_t meta_txnid,
                          uint64_t db_id, int *pending)
{
    *pending = 0;
    int fd, created, rc = ldb__os_open_side(wal_path, O_RDONLY, 0, owner, &fd, &created);
    if (rc == -ENOENT)
        return 0;
    TRY(rc);
    struct ldb__recovery_survey s;
    rc = ldb__recovery_survey(fd, meta_txnid, db_id, &s);
    ldb__os_close(fd);
    TRY(rc);
    if (s.proof_at)
        return LDB_CORRUPT(); /* a durable txn lies in damage (wal.h, W4) */
    *pending = s.records > 0;
    return 0;
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
        struct replay_tree *v = ldb__array_grow(rt->v, &rt->cap, rt->n + 1, sizeof *v, 16);
        if (v == NULL)
            return -ENOMEM;
        rt->v = v;
    }
    struct replay_tree *e = &rt->v[rt->n];
    e->name = op->name;
    e->name_len = op->name_len;
    TRY(ldb__txn_catalog_load(txn, op->name, op->name_len, &e->desc, &e->state));
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
    case WAL_OP_PUT_COMPRESSED: {
        /* The stored form, as it was written: stored as it is (never
         * recompressed under this open's setting). */
        int codec;
        uint32_t raw;
        TRY(check_op_sizes(txn->env, op));
        TRY(ldb__compress_header(op->value, op->value_len, &codec, &raw));
        rc = ldb__btree_put(pg, t, op->key, op->key_len, op->value, op->value_len,
                            LDB__BTREE_COMPRESSED);
        break;
    }
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
        if (e->state != DBI_DIRTY)
            continue;
        uint8_t stored[sizeof e->desc];
        ldb__tree_desc_store(stored, &e->desc);
        TRY(ldb__btree_put(&txn->pager, &txn->snap.catalog_tree, e->name, e->name_len, stored,
                           sizeof stored, 0));
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
    /* The whole log is checked before the first record is applied: damage
     * that hides a durable txn must leave every file as it was (W4). */
    struct ldb__recovery_survey s;
    TRY(ldb__recovery_survey(env->wal_fd, meta_txnid, env->db_id, &s));
    if (s.proof_at)
        return LDB_CORRUPT();
    struct log_walk w;
    struct replay_trees rt = {0};
    int rc = walk_open(&w, env->wal_fd, meta_txnid, env->db_id);
    for (uint64_t i = 0; rc == 0 && i < s.records; i++) {
        struct ldb__wal_record rec;
        rc = walk_next(&w, &rec);
        if (rc == 0)
            rc = LDB_CORRUPT(); /* the log changed since the survey */
        if (rc < 0)
            break;
        rc = replay_record(env, &rt, rec.txnid, rec.ops, rec.ops_len, rec.nops);
        if (rc < 0)
            break;
        (*replayed)++;
#ifdef LDB_TEST_HOOKS
        if (ldb__recovery_step_hook)
            ldb__recovery_step_hook(*replayed);
#endif
    }
    ldb__wal_reader_close(&w.r);
    ldb__free(rt.v);
    return rc < 0 ? rc : 0;
}

/* Whether rec is past the restore's target. */
static int past_target(const struct ldb__wal_record *rec, const struct ldb__replay_stop *stop)
{
    return rec->txnid > stop->to_txn || (stop->to_time_us && rec->time_us > stop->to_time_us);
}

int ldb__recovery_replay_segment(ldb_env *env, int fd, uint64_t db_id,
                                 const struct ldb__replay_stop *stop,
                                 struct ldb__replay_result *res)
{
    memset(res, 0, sizeof *res);
    struct ldb__commit_state cs;
    TRY(ldb__lock_state_read(&env->lock, &cs));
    res->last_txnid = cs.snap.txnid;
    struct log_walk w;
    struct replay_trees rt = {0};
    int rc = walk_open(&w, fd, cs.snap.txnid, db_id);
    res->version = w.r.version;
    if (rc == 0 && stop->to_time_us && w.r.version != WAL_VERSION)
        rc = LDB_VERSION; /* no commit times to stop at */
    struct ldb__wal_record rec;
    while (rc == 0 && (rc = walk_next(&w, &rec)) > 0) {
        if (past_target(&rec, stop)) {
            res->stopped = 1;
            rc = 0;
            break;
        }
        rc = replay_record(env, &rt, rec.txnid, rec.ops, rec.ops_len, rec.nops);
        if (rc < 0)
            break;
        res->applied++;
        res->last_txnid = rec.txnid;
        res->last_time_us = rec.time_us;
#ifdef LDB_TEST_HOOKS
        if (ldb__recovery_step_hook)
            ldb__recovery_step_hook(res->applied);
#endif
    }
    res->end = w.gap_at ? w.gap_at : w.r.offset;
    ldb__wal_reader_close(&w.r);
    ldb__free(rt.v);
    return rc < 0 ? rc : 0;
}
