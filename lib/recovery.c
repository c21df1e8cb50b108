/* SPDX-License-Identifier: MIT */
/*
 * recovery.c: log replay at open (see recovery.h).
 */
#include "recovery.h"

#include <errno.h>
#include <fcntl.h>
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

/* The handle of the tree an op names (empty name: LDB_MAIN). */
static int op_tree(ldb_txn *txn, const struct ldb__wal_op *op, unsigned flags, ldb_dbi *dbi)
{
    if (op->name_len == 0) {
        *dbi = LDB_MAIN;
        return 0;
    }
    char name[LDB_MAX_NAME + 1];
    memcpy(name, op->name, op->name_len);
    name[op->name_len] = '\0';
    if (strlen(name) != op->name_len)
        return LDB_CORRUPT();
    int rc = ldb_dbi_open(txn, name, flags, dbi);
    return rc == LDB_NOTFOUND ? LDB_CORRUPT() : rc;
}

static int apply_op(ldb_txn *txn, const struct ldb__wal_op *op)
{
    ldb_dbi dbi;
    TRY(op_tree(txn, op, op->type == WAL_OP_CREATE ? LDB_CREATE : 0, &dbi));
    ldb_val key = {op->key_len, op->key}, val = {op->value_len, op->value};
    int rc;
    switch (op->type) {
    case WAL_OP_PUT:
        rc = ldb_put(txn, dbi, &key, &val, 0);
        break;
    case WAL_OP_DEL:
        rc = ldb_del(txn, dbi, &key);
        break;
    case WAL_OP_CREATE:
        rc = 0;
        break;
    case WAL_OP_EMPTY:
        rc = ldb_dbi_drop(txn, dbi, 0);
        break;
    default:
        rc = ldb_dbi_drop(txn, dbi, 1);
        break;
    }
    /* The op succeeded when it was logged; failing now means the log and
     * the data file disagree. */
    return rc == LDB_NOTFOUND || rc == LDB_EXISTS || rc == LDB_INVALID ? LDB_CORRUPT() : rc;
}

static int replay_record(ldb_env *env, uint64_t txnid, const uint8_t *ops, size_t len,
                         uint32_t nops)
{
    ldb_txn *txn;
    TRY(ldb_txn_begin(env, 0, &txn));
    txn->replaying = 1;
    int rc = txn->id == txnid ? 0 : LDB_CORRUPT();
    size_t pos = 0;
    for (uint32_t i = 0; rc == 0 && i < nops; i++) {
        struct ldb__wal_op op;
        rc = ldb__wal_op_next(ops, len, &pos, &op);
        if (rc == 0)
            rc = apply_op(txn, &op);
    }
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
        rc = replay_record(env, txnid, ops, len, nops);
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
    return rc < 0 ? rc : 0;
}
