/* SPDX-License-Identifier: MIT */
/*
 * bench_ldb.c: Lightning DB behind the benchmark's engine interface.
 *
 * Settings (BENCH.md): LDB_SYNC_OFF for the fills and one ldb_sync() at
 * their end, inside the clock; LDB_SYNC_FULL (every commit durable) for
 * fillsync; LDB_APPEND for ascending loads; every other option default.
 * Reads keep one read txn handle per thread and ldb_txn_reset/renew it
 * around each get, as API.md recommends for a service answering requests.
 * The database is the file `data.ldb` in the run's directory.
 * The variants ldb-lz4 and ldb-zstd set compression (default level) and
 * nothing else. ldb-zstd-dict is ldb-zstd that trains a dictionary
 * (ldb_dbi_train_dict, default size) in a txn of its own, inside the
 * clock, once the first DICT_AFTER values are committed: the values before
 * it stay compressed without one.
 */
#include <errno.h>
#include <stdlib.h>

#include <lightningdb.h>

#include "bench.h"

struct ldb_db {
    ldb_env *env;
    int dict;     /* ldb-zstd-dict: train a dictionary ... */
    int trained;  /* ... once */
};

/* ldb-zstd-dict trains once this many values are committed. */
#define DICT_AFTER 2000u

struct ldb_thread {
    struct ldb_db *db;
    ldb_txn *rtxn;  /* reset between reads; NULL until the first read */
    ldb_txn *wtxn;  /* the open batch, if any */
};

static int ldb_fail(const char *what, int rc)
{
    bench_error("ldb", "%s: %s (%d)", what, ldb_strerror(rc), rc);
    return -1;
}

static int ldbb_open_opts(const char *dir, int durable, unsigned flags, int compression,
                          void **out)
{
    struct ldb_db *db = calloc(1, sizeof *db);
    ldb_options opts;
    char path[4096];
    int rc;

    if (!db)
        return ldb_fail("calloc", -ENOMEM);
    if (bench_path(path, sizeof path, dir, "data.ldb")) {
        free(db);
        return ldb_fail("path", LDB_INVALID);
    }
    memset(&opts, 0, sizeof opts);
    opts.sync_mode = durable ? LDB_SYNC_FULL : LDB_SYNC_OFF;
    opts.flags = flags;
    opts.compression = compression;
    /* LMDB's map size here: room for every workload, and a map valgrind
     * can make (it refuses the default 1 TiB reservation). */
    opts.max_size = (uint64_t)8 << 30;
    if ((rc = ldb_open(path, &opts, &db->env)) != 0) {
        free(db);
        return ldb_fail("ldb_open", rc);
    }
    *out = db;
    return 0;
}

static int ldbb_open(const char *dir, int durable, void **out)
{
    return ldbb_open_opts(dir, durable, 0, LDB_COMPRESS_NONE, out);
}

static int ldbb_open_lz4(const char *dir, int durable, void **out)
{
    return ldbb_open_opts(dir, durable, 0, LDB_COMPRESS_LZ4, out);
}

static int ldbb_open_zstd(const char *dir, int durable, void **out)
{
    return ldbb_open_opts(dir, durable, 0, LDB_COMPRESS_ZSTD, out);
}

/* Many processes may open one database; a reader opens it read-only. */
static int ldbb_open_zstd_dict(const char *dir, int durable, void **out)
{
    int rc = ldbb_open_opts(dir, durable, 0, LDB_COMPRESS_ZSTD, out);
    if (rc == 0)
        ((struct ldb_db *)*out)->dict = 1;
    return rc;
}

/* ldb-zstd-dict: the dictionary, in a txn of its own, once the main tree
 * has DICT_AFTER values. */
static int ldbb_maybe_train(struct ldb_db *db)
{
    ldb_txn *txn;
    ldb_tree_stat st;
    int rc = ldb_txn_begin(db->env, 0, &txn);
    if (rc)
        return ldb_fail("ldb_txn_begin", rc);
    if ((rc = ldb_dbi_stat(txn, LDB_MAIN, &st)) == 0 && st.entries < DICT_AFTER) {
        ldb_txn_abort(txn);
        return 0;
    }
    if (rc == 0)
        rc = ldb_dbi_train_dict(txn, LDB_MAIN, 0, NULL);
    if (rc) {
        ldb_txn_abort(txn);
        return ldb_fail("ldb_dbi_train_dict", rc);
    }
    if ((rc = ldb_txn_commit(txn)) != 0)
        return ldb_fail("ldb_txn_commit", rc);
    db->trained = 1;
    return 0;
}

static int ldbb_open_reader(const char *dir, void **out)
{
    return ldbb_open_opts(dir, 1, LDB_RDONLY, LDB_COMPRESS_NONE, out);
}

static void ldbb_close(void *p)
{
    struct ldb_db *db = p;
    int rc = ldb_close(db->env);

    if (rc)
        ldb_fail("ldb_close", rc);
    free(db);
}

static int ldbb_sync(void *p)
{
    struct ldb_db *db = p;
    int rc = ldb_sync(db->env);

    return rc ? ldb_fail("ldb_sync", rc) : 0;
}

static int ldbb_thread_open(void *p, void **out)
{
    struct ldb_thread *th = calloc(1, sizeof *th);

    if (!th)
        return ldb_fail("calloc", -ENOMEM);
    th->db = p;
    *out = th;
    return 0;
}

static void ldbb_thread_close(void *p)
{
    struct ldb_thread *th = p;

    ldb_txn_abort(th->wtxn);
    ldb_txn_abort(th->rtxn);
    free(th);
}

static int ldbb_batch_begin(void *p)
{
    struct ldb_thread *th = p;
    int rc = ldb_txn_begin(th->db->env, 0, &th->wtxn);

    if (rc) {
        th->wtxn = NULL;
        return ldb_fail("ldb_txn_begin", rc);
    }
    return 0;
}

static int ldbb_put_flags(struct ldb_thread *th, const void *key, size_t klen,
                          const void *val, size_t vlen, unsigned flags)
{
    ldb_val k = { klen, key }, v = { vlen, val };
    int rc = ldb_put(th->wtxn, LDB_MAIN, &k, &v, flags);

    return rc ? ldb_fail("ldb_put", rc) : 0;
}

static int ldbb_batch_put(void *p, const void *key, size_t klen, const void *val,
                          size_t vlen)
{
    return ldbb_put_flags(p, key, klen, val, vlen, 0);
}

static int ldbb_batch_append(void *p, const void *key, size_t klen, const void *val,
                             size_t vlen)
{
    return ldbb_put_flags(p, key, klen, val, vlen, LDB_APPEND);
}

static int ldbb_batch_commit(void *p)
{
    struct ldb_thread *th = p;
    int rc = ldb_txn_commit(th->wtxn);

    th->wtxn = NULL;
    if (rc)
        return ldb_fail("ldb_txn_commit", rc);
    return th->db->dict && !th->db->trained ? ldbb_maybe_train(th->db) : 0;
}

/* Take the newest snapshot in the thread's read txn. */
static int ldbb_read_begin(struct ldb_thread *th)
{
    int rc;

    if (th->rtxn) {
        rc = ldb_txn_renew(th->rtxn);
    } else {
        rc = ldb_txn_begin(th->db->env, LDB_TXN_RDONLY, &th->rtxn);
        if (rc)
            th->rtxn = NULL;
    }
    return rc ? ldb_fail("read txn", rc) : 0;
}

static int ldbb_get(void *p, const void *key, size_t klen, void *buf, size_t cap,
                    size_t *vlen)
{
    struct ldb_thread *th = p;
    ldb_val k = { klen, key }, v;
    int rc;

    if (ldbb_read_begin(th))
        return -1;
    rc = ldb_get(th->rtxn, LDB_MAIN, &k, &v);
    if (rc == 0) {
        memcpy(buf, v.data, v.size < cap ? v.size : cap);
        *vlen = v.size;
    }
    ldb_txn_reset(th->rtxn);
    if (rc == LDB_NOTFOUND)
        return BENCH_NOTFOUND;
    return rc ? ldb_fail("ldb_get", rc) : 0;
}

static int ldbb_scan(void *p, struct scan_acc *acc)
{
    struct ldb_thread *th = p;
    ldb_cursor *cur;
    ldb_val k, v;
    int rc;

    if (ldbb_read_begin(th))
        return -1;
    if ((rc = ldb_cursor_open(th->rtxn, LDB_MAIN, &cur)) != 0) {
        ldb_txn_reset(th->rtxn);
        return ldb_fail("ldb_cursor_open", rc);
    }
    while ((rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) == 0)
        bench_scan_visit(acc, k.data, k.size, v.data, v.size);
    ldb_cursor_close(cur);
    ldb_txn_reset(th->rtxn);
    return rc == LDB_NOTFOUND ? 0 : ldb_fail("ldb_cursor_get", rc);
}

static int ldbb_put_durable(void *p, const void *key, size_t klen, const void *val,
                            size_t vlen)
{
    struct ldb_thread *th = p;

    if (ldbb_batch_begin(th))
        return -1;
    if (ldbb_batch_put(th, key, klen, val, vlen)) {
        ldb_txn_abort(th->wtxn);
        th->wtxn = NULL;
        return -1;
    }
    return ldbb_batch_commit(th);
}

#define LDBB_OPS                                                                          \
    .open_reader = ldbb_open_reader, .close = ldbb_close, .sync = ldbb_sync,              \
    .thread_open = ldbb_thread_open, .thread_close = ldbb_thread_close,                  \
    .batch_begin = ldbb_batch_begin, .batch_put = ldbb_batch_put,                        \
    .batch_append = ldbb_batch_append, .batch_commit = ldbb_batch_commit, .get = ldbb_get, \
    .scan = ldbb_scan, .put_durable = ldbb_put_durable, .disk_usage = bench_dir_usage

const struct engine engine_ldb_lz4 = {.name = "ldb-lz4", .values_only = 1,
                                      .open = ldbb_open_lz4, LDBB_OPS};
const struct engine engine_ldb_zstd = {.name = "ldb-zstd", .values_only = 1,
                                       .open = ldbb_open_zstd, LDBB_OPS};
const struct engine engine_ldb_zstd_dict = {.name = "ldb-zstd-dict", .values_only = 1,
                                            .open = ldbb_open_zstd_dict, LDBB_OPS};

const struct engine engine_ldb = {
    .name = "ldb",
    .open = ldbb_open,
    .open_reader = ldbb_open_reader,
    .close = ldbb_close,
    .sync = ldbb_sync,
    .thread_open = ldbb_thread_open,
    .thread_close = ldbb_thread_close,
    .batch_begin = ldbb_batch_begin,
    .batch_put = ldbb_batch_put,
    .batch_append = ldbb_batch_append,
    .batch_commit = ldbb_batch_commit,
    .get = ldbb_get,
    .scan = ldbb_scan,
    .put_durable = ldbb_put_durable,
    .disk_usage = bench_dir_usage,
};
