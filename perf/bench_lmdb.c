/* SPDX-License-Identifier: MIT */
/*
 * bench_lmdb.c: LMDB behind the benchmark's engine interface.
 *
 * Settings (BENCH.md): an 8 GiB map; MDB_NOSYNC for the fills (one
 * mdb_env_sync(force) at the end), the default fully synced commits for
 * fillsync; MDB_APPEND for ascending loads; everything else LMDB's default.
 * Reads keep one read txn per thread and mdb_txn_reset/renew it around each
 * get, as LMDB's documentation recommends for request serving.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>

#include "bench.h"

struct lmdb_db {
    MDB_env *env;
    MDB_dbi dbi;
};

struct lmdb_thread {
    struct lmdb_db *db;
    MDB_txn *rtxn;  /* reset between reads; NULL until the first read */
    MDB_txn *wtxn;  /* the open batch, if any */
};

static int lmdb_fail(const char *what, int rc)
{
    bench_error("lmdb", "%s: %s", what, mdb_strerror(rc));
    return -1;
}

static int lmdb_open_flags(const char *dir, unsigned flags, void **out)
{
    struct lmdb_db *db = calloc(1, sizeof *db);
    MDB_txn *txn = NULL;
    int rc;

    if (!db)
        return lmdb_fail("calloc", ENOMEM);
    if ((rc = mdb_env_create(&db->env)) != 0) {
        free(db);
        return lmdb_fail("mdb_env_create", rc);
    }
    if ((rc = mdb_env_set_mapsize(db->env, (size_t)8 << 30)) != 0)
        goto fail;
    if ((rc = mdb_env_open(db->env, dir, flags, 0644)) != 0)
        goto fail;
    if ((rc = mdb_txn_begin(db->env, NULL, flags & MDB_RDONLY, &txn)) != 0)
        goto fail;
    if ((rc = mdb_dbi_open(txn, NULL, 0, &db->dbi)) != 0) {
        mdb_txn_abort(txn);
        goto fail;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        goto fail;
    *out = db;
    return 0;
fail:
    mdb_env_close(db->env);
    free(db);
    return lmdb_fail("open", rc);
}

static int lmdb_open(const char *dir, int durable, void **out)
{
    return lmdb_open_flags(dir, durable ? 0 : MDB_NOSYNC, out);
}

static int lmdb_open_reader(const char *dir, void **out)
{
    return lmdb_open_flags(dir, MDB_RDONLY, out);
}

static void lmdb_close(void *p)
{
    struct lmdb_db *db = p;

    mdb_env_close(db->env);
    free(db);
}

static int lmdb_sync(void *p)
{
    struct lmdb_db *db = p;
    int rc = mdb_env_sync(db->env, 1);

    return rc ? lmdb_fail("mdb_env_sync", rc) : 0;
}

static int lmdb_thread_open(void *p, void **out)
{
    struct lmdb_thread *th = calloc(1, sizeof *th);

    if (!th)
        return lmdb_fail("calloc", ENOMEM);
    th->db = p;
    *out = th;
    return 0;
}

static void lmdb_thread_close(void *p)
{
    struct lmdb_thread *th = p;

    if (th->wtxn)
        mdb_txn_abort(th->wtxn);
    if (th->rtxn)
        mdb_txn_abort(th->rtxn);
    free(th);
}

static int lmdb_batch_begin(void *p)
{
    struct lmdb_thread *th = p;
    int rc = mdb_txn_begin(th->db->env, NULL, 0, &th->wtxn);

    return rc ? lmdb_fail("mdb_txn_begin", rc) : 0;
}

static int lmdb_put_flags(struct lmdb_thread *th, const void *key, size_t klen,
                          const void *val, size_t vlen, unsigned flags)
{
    MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };
    int rc = mdb_put(th->wtxn, th->db->dbi, &k, &v, flags);

    return rc ? lmdb_fail("mdb_put", rc) : 0;
}

static int lmdb_batch_put(void *p, const void *key, size_t klen, const void *val, size_t vlen)
{
    return lmdb_put_flags(p, key, klen, val, vlen, 0);
}

static int lmdb_batch_append(void *p, const void *key, size_t klen, const void *val,
                             size_t vlen)
{
    return lmdb_put_flags(p, key, klen, val, vlen, MDB_APPEND);
}

static int lmdb_batch_commit(void *p)
{
    struct lmdb_thread *th = p;
    int rc = mdb_txn_commit(th->wtxn);

    th->wtxn = NULL;
    return rc ? lmdb_fail("mdb_txn_commit", rc) : 0;
}

/* Take a fresh snapshot in the thread's read txn. */
static int lmdb_read_begin(struct lmdb_thread *th)
{
    int rc;

    if (th->rtxn)
        rc = mdb_txn_renew(th->rtxn);
    else
        rc = mdb_txn_begin(th->db->env, NULL, MDB_RDONLY, &th->rtxn);
    return rc ? lmdb_fail("read txn", rc) : 0;
}

static int lmdb_get(void *p, const void *key, size_t klen, void *buf, size_t cap,
                    size_t *vlen)
{
    struct lmdb_thread *th = p;
    MDB_val k = { klen, (void *)key }, v;
    int rc;

    if (lmdb_read_begin(th))
        return -1;
    rc = mdb_get(th->rtxn, th->db->dbi, &k, &v);
    if (rc == 0) {
        memcpy(buf, v.mv_data, v.mv_size < cap ? v.mv_size : cap);
        *vlen = v.mv_size;
    }
    mdb_txn_reset(th->rtxn);
    if (rc == MDB_NOTFOUND)
        return BENCH_NOTFOUND;
    return rc ? lmdb_fail("mdb_get", rc) : 0;
}

static int lmdb_scan(void *p, struct scan_acc *acc)
{
    struct lmdb_thread *th = p;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    if (lmdb_read_begin(th))
        return -1;
    if ((rc = mdb_cursor_open(th->rtxn, th->db->dbi, &cur)) != 0) {
        mdb_txn_reset(th->rtxn);
        return lmdb_fail("mdb_cursor_open", rc);
    }
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0)
        bench_scan_visit(acc, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
    mdb_cursor_close(cur);
    mdb_txn_reset(th->rtxn);
    return rc == MDB_NOTFOUND ? 0 : lmdb_fail("mdb_cursor_get", rc);
}

static int lmdb_put_durable(void *p, const void *key, size_t klen, const void *val,
                            size_t vlen)
{
    struct lmdb_thread *th = p;

    if (lmdb_batch_begin(th))
        return -1;
    if (lmdb_batch_put(th, key, klen, val, vlen)) {
        mdb_txn_abort(th->wtxn);
        th->wtxn = NULL;
        return -1;
    }
    return lmdb_batch_commit(th);
}

const struct engine engine_lmdb = {
    .name = "lmdb",
    .open = lmdb_open,
    .open_reader = lmdb_open_reader,
    .close = lmdb_close,
    .sync = lmdb_sync,
    .thread_open = lmdb_thread_open,
    .thread_close = lmdb_thread_close,
    .batch_begin = lmdb_batch_begin,
    .batch_put = lmdb_batch_put,
    .batch_append = lmdb_batch_append,
    .batch_commit = lmdb_batch_commit,
    .get = lmdb_get,
    .scan = lmdb_scan,
    .put_durable = lmdb_put_durable,
    .disk_usage = bench_dir_usage,
};
