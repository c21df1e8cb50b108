/* SPDX-License-Identifier: MIT */
/*
 * prof_sync: durable single-put commits of two log backends and the bare
 * append + fdatasync they are built on, alternating in short blocks in one
 * process, so the disk's noise (the fdatasync latency of this shared VM
 * moves 2x within minutes) hits all three alike. For issue 11's "time added
 * over rawlog per commit" (docs/benchmarks.md, "issue 11, durable commits,
 * sync3 branch").
 *
 *   plain   LDB_SYNC_FULL, the default backend (LDB_IO_BACKEND unset): the
 *           record's pwrite, its write-back started early, fdatasync
 *   linked  LDB_SYNC_FULL with LDB_IO_BACKEND=io_uring: the record's write
 *           linked to an fdatasync in one io_uring submission
 *   rawlog  a 128-byte record appended to a preallocated file and
 *           fdatasynced (ldb_bench's rawlog with one thread)
 *
 * Each commit is one txn of one put (a 16-byte key, ascending, and a
 * 100-byte value), timed from ldb_txn_begin to ldb_txn_commit's return.
 * Each round runs a block of each in turn (the first of the three rotates);
 * it prints each one's median, 99th percentile and mean latency over all
 * commits, and the median (min..max) over rounds of each block's median
 * minus rawlog's block median of the same round.
 *
 * Usage: prof_sync DIR [ROUNDS [PER_BLOCK]]   (defaults 20 and 200)
 * (libtool wraps the program: LD_LIBRARY_PATH=lib/.libs perf/.libs/prof_sync)
 */
#include <lightningdb.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { PLAIN, LINKED, RAWLOG, VARIANTS };
static const char *const names[VARIANTS] = {"plain", "linked", "rawlog"};

struct variant {
    ldb_env *env;  /* PLAIN, LINKED */
    int fd;        /* RAWLOG */
    uint64_t next; /* next key, or the rawlog's end */
    double *lat;   /* every commit's latency, us */
    size_t n;
};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n ? v[n / 2] : 0;
}

static int open_env(struct variant *v, const char *dir, const char *name, const char *backend)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.ldb", dir, name);
    if (backend)
        setenv("LDB_IO_BACKEND", backend, 1);
    else
        unsetenv("LDB_IO_BACKEND");
    ldb_options o = {.sync_mode = LDB_SYNC_FULL};
    int rc = ldb_open(path, &o, &v->env);
    unsetenv("LDB_IO_BACKEND");
    if (rc != 0)
        fprintf(stderr, "prof_sync: open %s: %s\n", path, ldb_strerror(rc));
    return rc;
}

static int open_rawlog(struct variant *v, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/rawlog", dir);
    v->fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (v->fd < 0)
        return -1;
    /* Written zeros, synced: appends change neither the size nor the block
     * map, as ldb's log under LDB_SYNC_FULL. */
    static const char zeros[65536];
    for (off_t o = 0; o < (64 << 20); o += (off_t)sizeof zeros)
        if (pwrite(v->fd, zeros, sizeof zeros, o) != (ssize_t)sizeof zeros)
            return -1;
    return fsync(v->fd);
}

static int commit_one(struct variant *v, int which)
{
    char key[17], val[100];
    memset(val, 'v', sizeof val);
    snprintf(key, sizeof key, "%016llu", (unsigned long long)v->next++);
    if (which == RAWLOG) {
        char rec[128];
        memcpy(rec, key, 16);
        memcpy(rec + 16, val, sizeof val);
        memset(rec + 116, 0, 12);
        uint64_t off = (v->next * sizeof rec) % (64 << 20);
        if (pwrite(v->fd, rec, sizeof rec, (off_t)off) != (ssize_t)sizeof rec)
            return -1;
        return fdatasync(v->fd);
    }
    ldb_txn *txn;
    ldb_val k = {16, key}, d = {sizeof val, val};
    int rc = ldb_txn_begin(v->env, 0, &txn);
    if (rc == 0 && (rc = ldb_put(txn, LDB_MAIN, &k, &d, 0)) != 0)
        ldb_txn_abort(txn);
    else if (rc == 0)
        rc = ldb_txn_commit(txn);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: prof_sync DIR [ROUNDS [PER_BLOCK]]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    int per = argc > 3 ? atoi(argv[3]) : 200;
    if (rounds < 1 || per < 1)
        return 2;
    struct variant v[VARIANTS] = {{0}};
    if (open_env(&v[PLAIN], argv[1], "plain", NULL) || open_env(&v[LINKED], argv[1], "linked", "io_uring") ||
        open_rawlog(&v[RAWLOG], argv[1])) {
        fprintf(stderr, "prof_sync: cannot open the databases in %s\n", argv[1]);
        return 1;
    }
    double *block = malloc((size_t)per * sizeof *block);
    double *diff[VARIANTS];
    for (int i = 0; i < VARIANTS; i++) {
        v[i].lat = malloc((size_t)rounds * (size_t)per * sizeof *v[i].lat);
        diff[i] = malloc((size_t)rounds * sizeof *diff[i]);
        if (v[i].lat == NULL || diff[i] == NULL || block == NULL)
            return 1;
    }
    for (int r = 0; r < rounds; r++) {
        double med[VARIANTS];
        for (int j = 0; j < VARIANTS; j++) {
            int i = (r + j) % VARIANTS;
            for (int c = 0; c < per; c++) {
                double t0 = now_us();
                if (commit_one(&v[i], i) != 0) {
                    fprintf(stderr, "prof_sync: %s: a commit failed\n", names[i]);
                    return 1;
                }
                block[c] = now_us() - t0;
                v[i].lat[v[i].n++] = block[c];
            }
            med[i] = median(block, (size_t)per);
        }
        for (int i = 0; i < VARIANTS; i++)
            diff[i][r] = med[i] - med[RAWLOG];
    }
    printf("prof_sync: %d rounds of %d commits each; latency us: median, p99, mean; "
           "block median minus rawlog's: median (min..max)\n",
           rounds, per);
    for (int i = 0; i < VARIANTS; i++) {
        double sum = 0;
        for (size_t c = 0; c < v[i].n; c++)
            sum += v[i].lat[c];
        double m = median(v[i].lat, v[i].n); /* sorts: p99 below */
        double d = median(diff[i], (size_t)rounds);
        printf("%-7s %8.1f %8.1f %8.1f  %+7.1f (%+.1f..%+.1f)\n", names[i], m,
               v[i].lat[v[i].n * 99 / 100], sum / (double)v[i].n, d, diff[i][0],
               diff[i][rounds - 1]);
    }
    ldb_close(v[PLAIN].env);
    ldb_close(v[LINKED].env);
    close(v[RAWLOG].fd);
    return 0;
}
