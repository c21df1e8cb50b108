/* SPDX-License-Identifier: MIT */
/*
 * bench_rocksdb.c: RocksDB (C API) behind the benchmark's engine interface.
 *
 * Settings (BENCH.md): every option default except create_if_missing; the
 * WAL on; WriteBatch writes with sync=false for the fills, then one
 * rocksdb_flush_wal(sync) at the end; sync=true for fillsync, where
 * concurrent writers share syncs through RocksDB's own write grouping.
 * A get is a plain Get on the newest state (RocksDB's implicit snapshot),
 * through rocksdb_get_pinned to spare the value copy into a malloc'ed
 * buffer; a scan is one iterator. The variant rocksdb-lz4 sets LZ4
 * compression (Debian's default build compresses with Snappy).
 */
#include <rocksdb/c.h>
#include <stdlib.h>

#include "bench.h"

struct rocks_db {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *wopts;
    rocksdb_readoptions_t *ropts;
};

struct rocks_thread {
    struct rocks_db *db;
    rocksdb_writebatch_t *batch;
};

/* Report and free a RocksDB error string; -1 if there was one. */
static int rocks_check(const char *what, char *err)
{
    if (!err)
        return 0;
    bench_error("rocksdb", "%s: %s", what, err);
    rocksdb_free(err);
    return -1;
}

static int rocks_open_codec(const char *dir, int durable, int lz4, void **out)
{
    struct rocks_db *db = calloc(1, sizeof *db);
    char *err = NULL;

    if (!db) {
        bench_error("rocksdb", "calloc failed");
        return -1;
    }
    db->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(db->opts, 1);
    if (lz4)
        rocksdb_options_set_compression(db->opts, rocksdb_lz4_compression);
    db->db = rocksdb_open(db->opts, dir, &err);
    if (rocks_check("rocksdb_open", err)) {
        rocksdb_options_destroy(db->opts);
        free(db);
        return -1;
    }
    db->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(db->wopts, durable ? 1 : 0);
    db->ropts = rocksdb_readoptions_create();
    *out = db;
    return 0;
}

static int rocks_open(const char *dir, int durable, void **out)
{
    return rocks_open_codec(dir, durable, 0, out);
}

static int rocks_open_lz4(const char *dir, int durable, void **out)
{
    return rocks_open_codec(dir, durable, 1, out);
}

/* A read-only instance: RocksDB lets any number of them open a database. */
static int rocks_open_reader(const char *dir, void **out)
{
    struct rocks_db *db = calloc(1, sizeof *db);
    char *err = NULL;

    if (!db) {
        bench_error("rocksdb", "calloc failed");
        return -1;
    }
    db->opts = rocksdb_options_create();
    db->db = rocksdb_open_for_read_only(db->opts, dir, 0, &err);
    if (rocks_check("rocksdb_open_for_read_only", err)) {
        rocksdb_options_destroy(db->opts);
        free(db);
        return -1;
    }
    db->wopts = rocksdb_writeoptions_create();
    db->ropts = rocksdb_readoptions_create();
    *out = db;
    return 0;
}

static void rocks_close(void *p)
{
    struct rocks_db *db = p;

    rocksdb_close(db->db);
    rocksdb_readoptions_destroy(db->ropts);
    rocksdb_writeoptions_destroy(db->wopts);
    rocksdb_options_destroy(db->opts);
    free(db);
}

static int rocks_sync(void *p)
{
    struct rocks_db *db = p;
    char *err = NULL;

    rocksdb_flush_wal(db->db, 1, &err);
    return rocks_check("rocksdb_flush_wal", err);
}

static int rocks_thread_open(void *p, void **out)
{
    struct rocks_thread *th = calloc(1, sizeof *th);

    if (!th) {
        bench_error("rocksdb", "calloc failed");
        return -1;
    }
    th->db = p;
    th->batch = rocksdb_writebatch_create();
    *out = th;
    return 0;
}

static void rocks_thread_close(void *p)
{
    struct rocks_thread *th = p;

    rocksdb_writebatch_destroy(th->batch);
    free(th);
}

static int rocks_batch_begin(void *p)
{
    struct rocks_thread *th = p;

    rocksdb_writebatch_clear(th->batch);
    return 0;
}

static int rocks_batch_put(void *p, const void *key, size_t klen, const void *val,
                           size_t vlen)
{
    struct rocks_thread *th = p;

    rocksdb_writebatch_put(th->batch, key, klen, val, vlen);
    return 0;
}

static int rocks_batch_commit(void *p)
{
    struct rocks_thread *th = p;
    char *err = NULL;

    rocksdb_write(th->db->db, th->db->wopts, th->batch, &err);
    rocksdb_writebatch_clear(th->batch);
    return rocks_check("rocksdb_write", err);
}

static int rocks_get(void *p, const void *key, size_t klen, void *buf, size_t cap,
                     size_t *vlen)
{
    struct rocks_thread *th = p;
    rocksdb_pinnableslice_t *ps;
    const char *v;
    char *err = NULL;
    size_t n;

    ps = rocksdb_get_pinned(th->db->db, th->db->ropts, key, klen, &err);
    if (rocks_check("rocksdb_get_pinned", err))
        return -1;
    if (!ps)
        return BENCH_NOTFOUND;
    v = rocksdb_pinnableslice_value(ps, &n);
    memcpy(buf, v, n < cap ? n : cap);
    *vlen = n;
    rocksdb_pinnableslice_destroy(ps);
    return 0;
}

static int rocks_scan(void *p, struct scan_acc *acc)
{
    struct rocks_thread *th = p;
    rocksdb_iterator_t *it = rocksdb_create_iterator(th->db->db, th->db->ropts);
    char *err = NULL;

    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);

        bench_scan_visit(acc, k, kl, v, vl);
    }
    rocksdb_iter_get_error(it, &err);
    rocksdb_iter_destroy(it);
    return rocks_check("iterator", err);
}

static int rocks_put_durable(void *p, const void *key, size_t klen, const void *val,
                             size_t vlen)
{
    struct rocks_thread *th = p;
    char *err = NULL;

    rocksdb_put(th->db->db, th->db->wopts, key, klen, val, vlen, &err);
    return rocks_check("rocksdb_put", err);
}

const struct engine engine_rocksdb_lz4 = {
    .name = "rocksdb-lz4",
    .values_only = 1,
    .open = rocks_open_lz4,
    .open_reader = rocks_open_reader,
    .close = rocks_close,
    .sync = rocks_sync,
    .thread_open = rocks_thread_open,
    .thread_close = rocks_thread_close,
    .batch_begin = rocks_batch_begin,
    .batch_put = rocks_batch_put,
    .batch_append = NULL,
    .batch_commit = rocks_batch_commit,
    .get = rocks_get,
    .scan = rocks_scan,
    .put_durable = rocks_put_durable,
    .disk_usage = bench_dir_usage,
};

const struct engine engine_rocksdb = {
    .name = "rocksdb",
    .open = rocks_open,
    .open_reader = rocks_open_reader,
    .close = rocks_close,
    .sync = rocks_sync,
    .thread_open = rocks_thread_open,
    .thread_close = rocks_thread_close,
    .batch_begin = rocks_batch_begin,
    .batch_put = rocks_batch_put,
    .batch_append = NULL,
    .batch_commit = rocks_batch_commit,
    .get = rocks_get,
    .scan = rocks_scan,
    .put_durable = rocks_put_durable,
    .disk_usage = bench_dir_usage,
};
