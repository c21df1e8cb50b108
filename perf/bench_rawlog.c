/* SPDX-License-Identifier: MIT */
/*
 * bench_rawlog.c: the durable-commit workloads' bare I/O pattern, with no
 * database around it: a reference row in the fillsync tables, not a peer.
 *
 * put_durable() appends one record (8-byte header, key, value, padded to 8
 * bytes) to a preallocated log under a mutex, then waits until an
 * fdatasync that began after its append has finished. The first waiter
 * with no sync in flight issues the sync for every record appended so far
 * (leader/follower group commit, as LevelDB and our own log do it). A write
 * txn of any engine built on a log costs at least this, so its commits/s
 * here is about the most such an engine can reach on this disk and CPU.
 * The log grows in 4 MiB chunks of written zeros, fsynced, so that an
 * fdatasync after an append flushes data only (as ldb's log under
 * LDB_SYNC_FULL).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define RAWLOG_CHUNK ((off_t)4 << 20)

struct rawlog {
    int fd;
    pthread_mutex_t append_mutex; /* the tail; held while appending */
    off_t tail, allocated;
    pthread_mutex_t sync_mutex; /* the counters below */
    pthread_cond_t synced;
    uint64_t appended, durable;
    int syncing;
};

static int rawlog_fail(const char *what)
{
    bench_error("rawlog", "%s: %s", what, strerror(errno));
    return -1;
}

static int write_all(int fd, const void *buf, size_t len, off_t off)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t w = pwrite(fd, p, len, off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
        off += w;
    }
    return 0;
}

/* Extend the log by one chunk of written zeros, made durable. */
static int rawlog_grow(struct rawlog *log)
{
    static const char zeros[65536];

    for (off_t o = 0; o < RAWLOG_CHUNK; o += (off_t)sizeof zeros)
        if (write_all(log->fd, zeros, sizeof zeros, log->allocated + o))
            return rawlog_fail("pwrite");
    if (fsync(log->fd))
        return rawlog_fail("fsync");
    log->allocated += RAWLOG_CHUNK;
    return 0;
}

static int rawlog_open(const char *dir, int durable, void **out)
{
    char path[4096];
    struct rawlog *log = calloc(1, sizeof *log);

    (void)durable;
    if (!log || bench_path(path, sizeof path, dir, "log")) {
        free(log);
        bench_error("rawlog", "calloc failed or directory name too long");
        return -1;
    }
    log->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log->fd < 0) {
        free(log);
        return rawlog_fail("open");
    }
    pthread_mutex_init(&log->append_mutex, NULL);
    pthread_mutex_init(&log->sync_mutex, NULL);
    pthread_cond_init(&log->synced, NULL);
    if (rawlog_grow(log)) {
        close(log->fd);
        free(log);
        return -1;
    }
    *out = log;
    return 0;
}

static void rawlog_close(void *db)
{
    struct rawlog *log = db;

    close(log->fd);
    pthread_cond_destroy(&log->synced);
    pthread_mutex_destroy(&log->sync_mutex);
    pthread_mutex_destroy(&log->append_mutex);
    free(log);
}

static int rawlog_sync(void *db)
{
    struct rawlog *log = db;

    return fdatasync(log->fd) ? rawlog_fail("fdatasync") : 0;
}

static int rawlog_thread_open(void *db, void **th)
{
    *th = db;
    return 0;
}

static void rawlog_thread_close(void *th)
{
    (void)th;
}

/* Wait until record number seq is covered by a finished sync, issuing the
 * sync ourselves when none is in flight. */
static int rawlog_wait_durable(struct rawlog *log, uint64_t seq)
{
    int rc = 0;

    pthread_mutex_lock(&log->sync_mutex);
    while (log->durable < seq && rc == 0) {
        if (log->syncing) {
            pthread_cond_wait(&log->synced, &log->sync_mutex);
            continue;
        }
        uint64_t target = log->appended;

        log->syncing = 1;
        pthread_mutex_unlock(&log->sync_mutex);
        rc = fdatasync(log->fd) ? rawlog_fail("fdatasync") : 0;
        pthread_mutex_lock(&log->sync_mutex);
        log->syncing = 0;
        if (rc == 0 && target > log->durable)
            log->durable = target;
        pthread_cond_broadcast(&log->synced);
    }
    pthread_mutex_unlock(&log->sync_mutex);
    return rc;
}

static int rawlog_put_durable(void *th, const void *key, size_t klen, const void *val,
                              size_t vlen)
{
    struct rawlog *log = th;
    unsigned char rec[512];
    size_t len = (8 + klen + vlen + 7) & ~(size_t)7;
    uint64_t seq;

    if (len > sizeof rec) {
        bench_error("rawlog", "record of %zu bytes too long", len);
        return -1;
    }
    memset(rec, 0, len);
    memcpy(rec, &len, 4);
    memcpy(rec + 8, key, klen);
    memcpy(rec + 8 + klen, val, vlen);
    pthread_mutex_lock(&log->append_mutex);
    if (log->tail + (off_t)len > log->allocated && rawlog_grow(log)) {
        pthread_mutex_unlock(&log->append_mutex);
        return -1;
    }
    if (write_all(log->fd, rec, len, log->tail)) {
        pthread_mutex_unlock(&log->append_mutex);
        return rawlog_fail("pwrite");
    }
    log->tail += (off_t)len;
    /* Counted under the append mutex, so record numbers follow log order. */
    pthread_mutex_lock(&log->sync_mutex);
    seq = ++log->appended;
    pthread_mutex_unlock(&log->sync_mutex);
    pthread_mutex_unlock(&log->append_mutex);
    return rawlog_wait_durable(log, seq);
}

const struct engine engine_rawlog = {
    .name = "rawlog",
    .sync_only = 1,
    .open = rawlog_open,
    .close = rawlog_close,
    .sync = rawlog_sync,
    .thread_open = rawlog_thread_open,
    .thread_close = rawlog_thread_close,
    .put_durable = rawlog_put_durable,
    .disk_usage = bench_dir_usage,
};
