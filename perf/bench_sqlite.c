/* SPDX-License-Identifier: MIT */
/*
 * bench_sqlite.c: SQLite behind the benchmark's engine interface.
 *
 * Settings (BENCH.md): WAL journal mode; one table
 * `kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID`; prepared statements;
 * synchronous=OFF for the fills and FULL for fillsync; otherwise defaults.
 * Every thread has its own connection (opened SQLITE_OPEN_NOMUTEX, since
 * no connection is shared) with a busy timeout, so concurrent fillsync
 * writers queue on SQLite's write lock. A put is INSERT OR REPLACE.
 * A get is one autocommit SELECT: its own read txn.
 *
 * With synchronous=OFF nothing is ever synced, so the fills' final durable
 * sync fsyncs the database file and its WAL (what a checkpoint with
 * synchronous=FULL would end with, without the checkpoint's copying).
 */
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"

struct sq_db {
    char path[4096];
    int durable;
    sqlite3 *conn;  /* creates the schema; kept open so the WAL stays */
};

struct sq_thread {
    struct sq_db *db;
    sqlite3 *conn;
    sqlite3_stmt *begin, *begin_immediate, *commit, *put, *get, *scan;
};

static int sq_fail(sqlite3 *conn, const char *what, int rc)
{
    bench_error("sqlite", "%s: %s (%d)", what, conn ? sqlite3_errmsg(conn) : sqlite3_errstr(rc),
                rc);
    return -1;
}

static int sq_exec(sqlite3 *conn, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(conn, sql, NULL, NULL, &msg);

    if (rc != SQLITE_OK) {
        bench_error("sqlite", "%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Open a connection with this run's pragmas. */
static int sq_connect(struct sq_db *db, sqlite3 **out)
{
    sqlite3 *conn = NULL;
    int rc = sqlite3_open_v2(db->path, &conn,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);

    if (rc != SQLITE_OK) {
        sq_fail(conn, "sqlite3_open_v2", rc);
        sqlite3_close(conn);
        return -1;
    }
    sqlite3_busy_timeout(conn, 60000);
    if (sq_exec(conn, db->durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF")) {
        sqlite3_close(conn);
        return -1;
    }
    *out = conn;
    return 0;
}

static int sq_open(const char *dir, int durable, void **out)
{
    struct sq_db *db = calloc(1, sizeof *db);

    if (!db) {
        bench_error("sqlite", "calloc failed");
        return -1;
    }
    db->durable = durable;
    if (bench_path(db->path, sizeof db->path, dir, "db.sqlite"))
        goto fail;
    if (sq_connect(db, &db->conn))
        goto fail;
    if (sq_exec(db->conn, "PRAGMA journal_mode=WAL") ||
        sq_exec(db->conn, "CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB) "
                          "WITHOUT ROWID")) {
        sqlite3_close(db->conn);
        goto fail;
    }
    *out = db;
    return 0;
fail:
    free(db);
    return -1;
}

/* Any number of processes may open an SQLite database as usual. */
static int sq_open_reader(const char *dir, void **out)
{
    return sq_open(dir, 0, out);
}

static void sq_close(void *p)
{
    struct sq_db *db = p;

    sqlite3_close(db->conn);
    free(db);
}

static int sq_fsync_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 0; /* no WAL: nothing to sync */
    if (fsync(fd) != 0) {
        bench_error("sqlite", "fsync %s failed", path);
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int sq_sync(void *p)
{
    struct sq_db *db = p;
    char wal[4096 + 8];

    snprintf(wal, sizeof wal, "%s-wal", db->path);
    if (sq_fsync_file(wal) || sq_fsync_file(db->path))
        return -1;
    return 0;
}

static void sq_thread_close(void *p)
{
    struct sq_thread *th = p;

    sqlite3_finalize(th->begin);
    sqlite3_finalize(th->begin_immediate);
    sqlite3_finalize(th->commit);
    sqlite3_finalize(th->put);
    sqlite3_finalize(th->get);
    sqlite3_finalize(th->scan);
    sqlite3_close(th->conn);
    free(th);
}

static int sq_prepare(struct sq_thread *th, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(th->conn, sql, -1, st, NULL);

    return rc == SQLITE_OK ? 0 : sq_fail(th->conn, sql, rc);
}

static int sq_thread_open(void *p, void **out)
{
    struct sq_thread *th = calloc(1, sizeof *th);

    if (!th) {
        bench_error("sqlite", "calloc failed");
        return -1;
    }
    th->db = p;
    if (sq_connect(th->db, &th->conn)) {
        free(th);
        return -1;
    }
    if (sq_prepare(th, "BEGIN", &th->begin) ||
        sq_prepare(th, "BEGIN IMMEDIATE", &th->begin_immediate) ||
        sq_prepare(th, "COMMIT", &th->commit) ||
        sq_prepare(th, "INSERT OR REPLACE INTO kv(k, v) VALUES(?1, ?2)", &th->put) ||
        sq_prepare(th, "SELECT v FROM kv WHERE k = ?1", &th->get) ||
        sq_prepare(th, "SELECT k, v FROM kv ORDER BY k", &th->scan)) {
        sq_thread_close(th);
        return -1;
    }
    *out = th;
    return 0;
}

/* Run a statement that returns no rows; waits out SQLITE_BUSY. */
static int sq_step_done(struct sq_thread *th, sqlite3_stmt *st, const char *what)
{
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_BUSY)
        sqlite3_reset(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : sq_fail(th->conn, what, rc);
}

static int sq_batch_begin(void *p)
{
    struct sq_thread *th = p;

    return sq_step_done(th, th->begin, "BEGIN");
}

static int sq_batch_put(void *p, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct sq_thread *th = p;
    int rc;

    sqlite3_bind_blob(th->put, 1, key, (int)klen, SQLITE_STATIC);
    sqlite3_bind_blob(th->put, 2, val, (int)vlen, SQLITE_STATIC);
    rc = sqlite3_step(th->put);
    sqlite3_reset(th->put);
    return rc == SQLITE_DONE ? 0 : sq_fail(th->conn, "INSERT", rc);
}

static int sq_batch_commit(void *p)
{
    struct sq_thread *th = p;

    return sq_step_done(th, th->commit, "COMMIT");
}

static int sq_get(void *p, const void *key, size_t klen, void *buf, size_t cap, size_t *vlen)
{
    struct sq_thread *th = p;
    int rc;

    sqlite3_bind_blob(th->get, 1, key, (int)klen, SQLITE_STATIC);
    rc = sqlite3_step(th->get);
    if (rc == SQLITE_ROW) {
        const void *v = sqlite3_column_blob(th->get, 0);
        size_t n = (size_t)sqlite3_column_bytes(th->get, 0);

        memcpy(buf, v, n < cap ? n : cap);
        *vlen = n;
        sqlite3_reset(th->get);
        return 0;
    }
    sqlite3_reset(th->get);
    return rc == SQLITE_DONE ? BENCH_NOTFOUND : sq_fail(th->conn, "SELECT", rc);
}

static int sq_scan(void *p, struct scan_acc *acc)
{
    struct sq_thread *th = p;
    int rc;

    while ((rc = sqlite3_step(th->scan)) == SQLITE_ROW) {
        const void *k = sqlite3_column_blob(th->scan, 0);
        size_t kl = (size_t)sqlite3_column_bytes(th->scan, 0);
        const void *v = sqlite3_column_blob(th->scan, 1);
        size_t vl = (size_t)sqlite3_column_bytes(th->scan, 1);

        bench_scan_visit(acc, k, kl, v, vl);
    }
    sqlite3_reset(th->scan);
    return rc == SQLITE_DONE ? 0 : sq_fail(th->conn, "SELECT scan", rc);
}

static int sq_put_durable(void *p, const void *key, size_t klen, const void *val,
                          size_t vlen)
{
    struct sq_thread *th = p;

    if (sq_step_done(th, th->begin_immediate, "BEGIN IMMEDIATE"))
        return -1;
    if (sq_batch_put(th, key, klen, val, vlen)) {
        sqlite3_exec(th->conn, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return sq_step_done(th, th->commit, "COMMIT");
}

const struct engine engine_sqlite = {
    .name = "sqlite",
    .open = sq_open,
    .open_reader = sq_open_reader,
    .close = sq_close,
    .sync = sq_sync,
    .thread_open = sq_thread_open,
    .thread_close = sq_thread_close,
    .batch_begin = sq_batch_begin,
    .batch_put = sq_batch_put,
    .batch_append = NULL,
    .batch_commit = sq_batch_commit,
    .get = sq_get,
    .scan = sq_scan,
    .put_durable = sq_put_durable,
    .disk_usage = bench_dir_usage,
};
