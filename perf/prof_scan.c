/* SPDX-License-Identifier: MIT */
/*
 * prof_scan: full ordered scans (cursor first/next over every entry,
 * reading every key and value as ldb_bench's readseq does) of our database
 * and LMDB's, alternating in one process, for the side-by-side numbers of
 * docs/benchmarks.md (issue 15). Like prof_getpair, each scan is timed by
 * wall clock and by the thread's CPU clock, which does not run while the
 * thread waits for a core.
 *
 * Both databases get the same N keys (16-byte zero-padded decimals,
 * 100-byte values, 1,000 puts per txn) in ascending order ("seq") or in one
 * fixed random order ("rand", as readseq runs after fillrandom). Prints
 * the median ns per entry of each engine and the ratio (LMDB's time /
 * ours: above 1 means ours is faster) over the rounds after the first,
 * and the first scan's own times (a fresh map: page faults dominate it,
 * as in ldb_bench's readseq, which scans once per process). The scans are scan_ldb() and
 * scan_lmdb(), for callgrind's --toggle-collect. A DIR that a run already
 * loaded is scanned as it is (no second load), so that two builds of the
 * library can be compared on the same files.
 *
 * Usage: prof_scan DIR N seq|rand ROUNDS   (DIR: an empty directory; build
 *        with make perf/prof_scan, run perf/.libs/prof_scan with
 *        LD_LIBRARY_PATH=lib/.libs)
 */
#include <lightningdb.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench.h"
#include "benchutil.h"

#define VALUE_LEN 100
#define BATCH 1000

static int load_ldb(ldb_env *env, const long *order, long n, unsigned flags)
{
    unsigned char val[VALUE_LEN];
    for (long b = 0; b < n; b += BATCH) {
        ldb_txn *t;
        int rc = ldb_txn_begin(env, 0, &t);
        for (long i = b; rc == 0 && i < b + BATCH && i < n; i++) {
            char k[24]; /* 16 digits for every key here */
            snprintf(k, sizeof k, "%016ld", order[i]);
            bench_value_of(order[i], val, VALUE_LEN);
            ldb_val kv = {16, k}, vv = {VALUE_LEN, val};
            rc = ldb_put(t, LDB_MAIN, &kv, &vv, flags);
        }
        if (rc != 0) {
            ldb_txn_abort(t);
            return rc;
        }
        if ((rc = ldb_txn_commit(t)) != 0)
            return rc;
    }
    return ldb_sync(env);
}

static int load_lmdb(MDB_env *env, MDB_dbi dbi, const long *order, long n, unsigned flags)
{
    unsigned char val[VALUE_LEN];
    for (long b = 0; b < n; b += BATCH) {
        MDB_txn *t;
        int rc = mdb_txn_begin(env, NULL, 0, &t);
        for (long i = b; rc == 0 && i < b + BATCH && i < n; i++) {
            char k[24]; /* 16 digits for every key here */
            snprintf(k, sizeof k, "%016ld", order[i]);
            bench_value_of(order[i], val, VALUE_LEN);
            MDB_val kv = {16, k}, vv = {VALUE_LEN, val};
            rc = mdb_put(t, dbi, &kv, &vv, flags);
        }
        if (rc != 0) {
            mdb_txn_abort(t);
            return rc;
        }
        if ((rc = mdb_txn_commit(t)) != 0)
            return rc;
    }
    return mdb_env_sync(env, 1);
}

/* One full scan in a renewed read txn; returns the entries seen. Not
 * static, so that callgrind's --toggle-collect finds them by name. */
long scan_ldb(ldb_txn *rt, struct scan_acc *acc);
long scan_lmdb(MDB_txn *rt, MDB_dbi dbi, struct scan_acc *acc);

__attribute__((noinline)) long scan_ldb(ldb_txn *rt, struct scan_acc *acc)
{
    ldb_cursor *cur;
    ldb_val k, v;
    int rc;
    if (ldb_txn_renew(rt) != 0 || ldb_cursor_open(rt, LDB_MAIN, &cur) != 0)
        return -1;
    while ((rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) == 0)
        bench_scan_visit(acc, k.data, k.size, v.data, v.size);
    ldb_cursor_close(cur);
    ldb_txn_reset(rt);
    return rc == LDB_NOTFOUND ? (long)acc->count : -1;
}

__attribute__((noinline)) long scan_lmdb(MDB_txn *rt, MDB_dbi dbi, struct scan_acc *acc)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;
    if (mdb_txn_renew(rt) != 0 || mdb_cursor_open(rt, dbi, &cur) != 0)
        return -1;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0)
        bench_scan_visit(acc, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
    mdb_cursor_close(cur);
    mdb_txn_reset(rt);
    return rc == MDB_NOTFOUND ? (long)acc->count : -1;
}

static long *key_order(long n, int shuffle)
{
    long *o = malloc((size_t)n * sizeof *o);
    if (o == NULL)
        return NULL;
    for (long i = 0; i < n; i++)
        o[i] = i;
    uint64_t s = 42;
    for (long i = n - 1; shuffle && i > 0; i--) {
        long j = (long)(bench_splitmix(&s) % (uint64_t)(i + 1)), x = o[i];
        o[i] = o[j];
        o[j] = x;
    }
    return o;
}

static int open_both(const char *dir, long n, int shuffle, ldb_env **le, MDB_env **me,
                     MDB_dbi *dbi)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/lmdb/data.mdb", dir);
    int loaded = stat(path, &st) == 0; /* LMDB's is loaded last */
    long *order = key_order(loaded ? 1 : n, shuffle);
    if (order == NULL)
        return 1;
    snprintf(path, sizeof path, "%s/ldb", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/ldb/data.ldb", dir);
    ldb_options o;
    memset(&o, 0, sizeof o);
    o.sync_mode = LDB_SYNC_OFF;
    o.max_size = 16ull << 30;
    int rc = ldb_open(path, &o, le);
    if (rc == 0 && !loaded)
        rc = load_ldb(*le, order, n, shuffle ? 0 : LDB_APPEND);
    if (rc != 0) {
        fprintf(stderr, "prof_scan: ours: %s\n", ldb_strerror(rc));
        return 1;
    }
    snprintf(path, sizeof path, "%s/lmdb", dir);
    mkdir(path, 0755);
    MDB_txn *t;
    if ((rc = mdb_env_create(me)) != 0 || (rc = mdb_env_set_mapsize(*me, (size_t)16 << 30)) != 0 ||
        (rc = mdb_env_open(*me, path, MDB_NOSYNC, 0644)) != 0 ||
        (rc = mdb_txn_begin(*me, NULL, 0, &t)) != 0 || (rc = mdb_dbi_open(t, NULL, 0, dbi)) != 0 ||
        (rc = mdb_txn_commit(t)) != 0 ||
        (!loaded && (rc = load_lmdb(*me, *dbi, order, n, shuffle ? 0 : MDB_APPEND)) != 0)) {
        fprintf(stderr, "prof_scan: lmdb: %s\n", mdb_strerror(rc));
        return 1;
    }
    free(order);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5 || atol(argv[2]) <= 0 || atoi(argv[4]) <= 0 ||
        (strcmp(argv[3], "seq") != 0 && strcmp(argv[3], "rand") != 0)) {
        fprintf(stderr, "usage: prof_scan DIR N seq|rand ROUNDS\n");
        return 2;
    }
    long n = atol(argv[2]);
    int rounds = atoi(argv[4]);
    ldb_env *le;
    MDB_env *me;
    MDB_dbi dbi;
    if (open_both(argv[1], n, strcmp(argv[3], "rand") == 0, &le, &me, &dbi) != 0)
        return 1;
    ldb_txn *lr;
    MDB_txn *mr;
    if (ldb_txn_begin(le, LDB_TXN_RDONLY, &lr) != 0 || mdb_txn_begin(me, NULL, MDB_RDONLY, &mr) != 0)
        return 1;
    ldb_txn_reset(lr);
    mdb_txn_reset(mr);
    double *w[2], *c[2];
    for (int e = 0; e < 2; e++) {
        w[e] = calloc((size_t)rounds + 1, sizeof(double));
        c[e] = calloc((size_t)rounds + 1, sizeof(double));
        if (w[e] == NULL || c[e] == NULL)
            return 1;
    }
    uint64_t sums[2] = {0, 0};
    /* Round 0 warms both maps (a fresh map would time page faults). */
    for (int r = 0; r <= rounds; r++) {
        for (int k = 0; k < 2; k++) {
            int e = (r + k) % 2;
            struct scan_acc acc;
            memset(&acc, 0, sizeof acc);
            double w0 = bench_now_ns(CLOCK_MONOTONIC), c0 = bench_now_ns(CLOCK_THREAD_CPUTIME_ID);
            long f = e == 0 ? scan_ldb(lr, &acc) : scan_lmdb(mr, dbi, &acc);
            c[e][r] = (bench_now_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)n;
            w[e][r] = (bench_now_ns(CLOCK_MONOTONIC) - w0) / (double)n;
            if (f != n || acc.disorder != 0) {
                fprintf(stderr, "prof_scan: %s saw %ld of %ld, %llu out of order\n",
                        e ? "lmdb" : "ours", f, n, (unsigned long long)acc.disorder);
                return 1;
            }
            sums[e] = acc.sum;
        }
    }
    if (sums[0] != sums[1]) {
        fprintf(stderr, "prof_scan: the two scans read different values\n");
        return 1;
    }
    double lw = bench_median(w[0] + 1, rounds), mw = bench_median(w[1] + 1, rounds);
    double lc = bench_median(c[0] + 1, rounds), mc = bench_median(c[1] + 1, rounds);
    printf("n=%ld %s rounds=%d\n", n, argv[3], rounds);
    /* Round 0 is each map's first touch: mostly page faults. */
    printf("first scan (fresh map), ns per entry, wall: ours %.1f lmdb %.1f ratio %.2fx; "
           "thread cpu: ours %.1f lmdb %.1f ratio %.2fx\n",
           w[0][0], w[1][0], w[1][0] / w[0][0], c[0][0], c[1][0], c[1][0] / c[0][0]);
    printf("ns per entry, wall (median): ours %.1f lmdb %.1f ratio lmdb/ours %.2fx\n", lw, mw,
           mw / lw);
    printf("ns per entry, thread cpu (median): ours %.1f lmdb %.1f ratio lmdb/ours %.2fx\n", lc,
           mc, mc / lc);
    ldb_txn_abort(lr);
    mdb_txn_abort(mr);
    mdb_env_close(me);
    return ldb_close(le) != 0;
}
