/* SPDX-License-Identifier: MIT */
/*
 * bench_leveldb.c: LevelDB (C API) behind the benchmark's engine interface.
 *
 * Settings (BENCH.md): every option default except create_if_missing; the
 * log on; WriteBatch writes with sync=false for the fills; sync=true for
 * fillsync, where LevelDB groups concurrent writers' records under one sync.
 * The C API has no "sync the log" call, so the fills' final durable sync is
 * an empty batch written with sync=true (LevelDB logs and syncs it).
 * leveldb_get returns a malloc'ed copy: that copy is the C API's cost.
 */
#include <leveldb/c.h>
#include <stdlib.h>

#include "bench.h"

struct level_db {
    leveldb_t *db;
    leveldb_options_t *opts;
    leveldb_writeoptions_t *wopts;
    leveldb_writeoptions_t *sync_wopts;
    leveldb_readoptions_t *ropts;
};

struct level_thread {
    struct level_db *db;
    leveldb_writebatch_t *batch;
};

static int level_check(const char *what, char *err)
{
    if (!err)
        return 0;
    bench_error("leveldb", "%s: %s", what, err);
    leveldb_free(err);
    return -1;
}

static int level_open(const char *dir, int durable, void **out)
{
    struct level_db *db = calloc(1, sizeof *db);
    char *err = NULL;

    if (!db) {
        bench_error("leveldb", "calloc failed");
        return -1;
    }
    db->opts = leveldb_options_create();
    leveldb_options_set_create_if_missing(db->opts, 1);
    db->db = leveldb_open(db->opts, dir, &err);
    if (level_check("leveldb_open", err)) {
        leveldb_options_destroy(db->opts);
        free(db);
        return -1;
    }
    db->wopts = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(db->wopts, durable ? 1 : 0);
    db->sync_wopts = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(db->sync_wopts, 1);
    db->ropts = leveldb_readoptions_create();
    *out = db;
    return 0;
}

static void level_close(void *p)
{
    struct level_db *db = p;

    leveldb_close(db->db);
    leveldb_readoptions_destroy(db->ropts);
    leveldb_writeoptions_destroy(db->sync_wopts);
    leveldb_writeoptions_destroy(db->wopts);
    leveldb_options_destroy(db->opts);
    free(db);
}

static int level_sync(void *p)
{
    struct level_db *db = p;
    leveldb_writebatch_t *empty = leveldb_writebatch_create();
    char *err = NULL;

    leveldb_write(db->db, db->sync_wopts, empty, &err);
    leveldb_writebatch_destroy(empty);
    return level_check("leveldb_write(sync)", err);
}

static int level_thread_open(void *p, void **out)
{
    struct level_thread *th = calloc(1, sizeof *th);

    if (!th) {
        bench_error("leveldb", "calloc failed");
        return -1;
    }
    th->db = p;
    th->batch = leveldb_writebatch_create();
    *out = th;
    return 0;
}

static void level_thread_close(void *p)
{
    struct level_thread *th = p;

    leveldb_writebatch_destroy(th->batch);
    free(th);
}

static int level_batch_begin(void *p)
{
    struct level_thread *th = p;

    leveldb_writebatch_clear(th->batch);
    return 0;
}

static int level_batch_put(void *p, const void *key, size_t klen, const void *val,
                           size_t vlen)
{
    struct level_thread *th = p;

    leveldb_writebatch_put(th->batch, key, klen, val, vlen);
    return 0;
}

static int level_batch_commit(void *p)
{
    struct level_thread *th = p;
    char *err = NULL;

    leveldb_write(th->db->db, th->db->wopts, th->batch, &err);
    leveldb_writebatch_clear(th->batch);
    return level_check("leveldb_write", err);
}

static int level_get(void *p, const void *key, size_t klen, void *buf, size_t cap,
                     size_t *vlen)
{
    struct level_thread *th = p;
    char *err = NULL, *v;
    size_t n;

    v = leveldb_get(th->db->db, th->db->ropts, key, klen, &n, &err);
    if (level_check("leveldb_get", err))
        return -1;
    if (!v)
        return BENCH_NOTFOUND;
    memcpy(buf, v, n < cap ? n : cap);
    *vlen = n;
    leveldb_free(v);
    return 0;
}

static int level_scan(void *p, struct scan_acc *acc)
{
    struct level_thread *th = p;
    leveldb_iterator_t *it = leveldb_create_iterator(th->db->db, th->db->ropts);
    char *err = NULL;

    for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it); leveldb_iter_next(it)) {
        size_t kl, vl;
        const char *k = leveldb_iter_key(it, &kl);
        const char *v = leveldb_iter_value(it, &vl);

        bench_scan_visit(acc, k, kl, v, vl);
    }
    leveldb_iter_get_error(it, &err);
    leveldb_iter_destroy(it);
    return level_check("iterator", err);
}

static int level_put_durable(void *p, const void *key, size_t klen, const void *val,
                             size_t vlen)
{
    struct level_thread *th = p;
    char *err = NULL;

    leveldb_put(th->db->db, th->db->wopts, key, klen, val, vlen, &err);
    return level_check("leveldb_put", err);
}

const struct engine engine_leveldb = {
    .name = "leveldb",
    .open = level_open,
    .open_reader = NULL, /* one process at a time (its LOCK file) */
    .close = level_close,
    .sync = level_sync,
    .thread_open = level_thread_open,
    .thread_close = level_thread_close,
    .batch_begin = level_batch_begin,
    .batch_put = level_batch_put,
    .batch_append = NULL,
    .batch_commit = level_batch_commit,
    .get = level_get,
    .scan = level_scan,
    .put_durable = level_put_durable,
    .disk_usage = bench_dir_usage,
};
