/* SPDX-License-Identifier: MIT */
/*
 * prof_getpair: random gets, one read txn each (renew, get, reset), on our
 * database and LMDB's, alternating in slices of 20,000 gets in one
 * process, for the side-by-side numbers of docs/benchmarks.md (issue 15).
 * On a shared machine a run of one engine and then the other meets
 * different load; slices this short meet the same. Each slice is timed
 * by wall clock and by the thread's CPU clock (CLOCK_THREAD_CPUTIME_ID),
 * which does not run while the thread waits for a core, so its ratio
 * stands up to load better (cache contention still counts).
 *
 * Both databases get N keys loaded in ascending order: 16-byte
 * zero-padded decimals, 100-byte values, 1,000 puts per txn (ldb_bench's
 * gets workloads). Prints the median ns per get of each engine over the
 * slices, and the ratios (LMDB's time / ours: above 1 means ours is
 * faster).
 *
 * With THREADS > 1, that many threads run the slices at once, each with
 * its own read txn of each engine and its own keys, all on the same engine
 * at a time (a barrier between slices), so the cores share only what the
 * engines share; the medians are over every thread's slices.
 *
 * With ONLY (ldb or lmdb), that engine alone runs its slices, as
 * ldb_bench runs each engine in a process of its own: no slice of the
 * other evicts its upper levels from the shared L3 between slices. Runs
 * of each alone, alternating, give the ratio.
 *
 * Usage: prof_getpair DIR N SLICES [WARM [THREADS [ONLY]]]    (DIR: an
 *        empty directory; build it with make perf/prof_getpair, run
 *        perf/.libs/prof_getpair with LD_LIBRARY_PATH=lib/.libs; WARM:
 *        warm-up slices per engine, N / 20,000 + 1 unless given or 0:
 *        fewer keep a callgrind run short; THREADS: 1 unless given)
 */
#include <lightningdb.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "benchutil.h"

#define SLICE 20000
#define VALUE_LEN 100
#define MAX_THREADS 8

/* Key number i as 16 zero-padded decimal digits (i < 10^16), formatted as
 * ldb_bench formats its keys: snprintf took ~1,900 instructions a key,
 * more than either engine's get, and diluted the ratio of the two. */
static void key_of(long i, char *k)
{
    uint64_t v = (uint64_t)i;
    for (int p = 15; p >= 0; p--) {
        k[p] = (char)('0' + v % 10);
        v /= 10;
    }
}

static int load_ldb(ldb_env *env, long n)
{
    unsigned char val[VALUE_LEN];
    for (long b = 0; b < n; b += 1000) {
        ldb_txn *t;
        int rc = ldb_txn_begin(env, 0, &t);
        for (long i = b; rc == 0 && i < b + 1000 && i < n; i++) {
            char k[16];
            key_of(i, k);
            bench_value_of(i, val, VALUE_LEN);
            ldb_val kv = {16, k}, vv = {VALUE_LEN, val};
            rc = ldb_put(t, LDB_MAIN, &kv, &vv, LDB_APPEND);
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

static int load_lmdb(MDB_env *env, MDB_dbi dbi, long n)
{
    unsigned char val[VALUE_LEN];
    for (long b = 0; b < n; b += 1000) {
        MDB_txn *t;
        int rc = mdb_txn_begin(env, NULL, 0, &t);
        for (long i = b; rc == 0 && i < b + 1000 && i < n; i++) {
            char k[16];
            key_of(i, k);
            bench_value_of(i, val, VALUE_LEN);
            MDB_val kv = {16, k}, vv = {VALUE_LEN, val};
            rc = mdb_put(t, dbi, &kv, &vv, MDB_APPEND);
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

/* One slice of gets; returns the number found (every key is there). */
static long slice_ldb(ldb_txn *rt, uint64_t *seed, long n, unsigned char *out)
{
    long found = 0;
    for (int g = 0; g < SLICE; g++) {
        char k[16];
        key_of((long)(bench_splitmix(seed) % (uint64_t)n), k);
        ldb_val kv = {16, k}, v;
        if (ldb_txn_renew(rt) != 0)
            return -1;
        if (ldb_get(rt, LDB_MAIN, &kv, &v) == 0) {
            memcpy(out, v.data, v.size < VALUE_LEN ? v.size : VALUE_LEN);
            found++;
        }
        ldb_txn_reset(rt);
    }
    return found;
}

static long slice_lmdb(MDB_txn *rt, MDB_dbi dbi, uint64_t *seed, long n, unsigned char *out)
{
    long found = 0;
    for (int g = 0; g < SLICE; g++) {
        char k[16];
        key_of((long)(bench_splitmix(seed) % (uint64_t)n), k);
        MDB_val kv = {16, k}, v;
        if (mdb_txn_renew(rt) != 0)
            return -1;
        if (mdb_get(rt, dbi, &kv, &v) == 0) {
            memcpy(out, v.mv_data, v.mv_size < VALUE_LEN ? v.mv_size : VALUE_LEN);
            found++;
        }
        mdb_txn_reset(rt);
    }
    return found;
}

/* What every thread shares: the engines and the run's shape. */
struct run {
    ldb_env *le;
    MDB_env *me;
    MDB_dbi dbi;
    long n;
    int slices;
    long warm_slices;
    int only; /* -1: both engines; 0: ours alone; 1: LMDB's alone */
    pthread_barrier_t barrier;
};

/* One thread's txns and slice times (w: wall, c: thread CPU; [0] ours). */
struct worker {
    struct run *r;
    int index;
    double *w[2], *c[2];
    int failed;
};

static void *worker_main(void *p)
{
    struct worker *wk = p;
    struct run *r = wk->r;
    ldb_txn *lr = NULL;
    MDB_txn *mr = NULL;
    if (ldb_txn_begin(r->le, LDB_TXN_RDONLY, &lr) != 0 ||
        mdb_txn_begin(r->me, NULL, MDB_RDONLY, &mr) != 0)
        wk->failed = 1;
    if (lr != NULL)
        ldb_txn_reset(lr);
    if (mr != NULL)
        mdb_txn_reset(mr);
    unsigned char out[VALUE_LEN];
    /* Warm both maps once (a fresh map would otherwise time page faults). */
    uint64_t warm = 7 + 1000003u * (uint64_t)wk->index;
    for (long i = 0; !wk->failed && i < r->warm_slices; i++)
        if ((r->only != 1 && slice_ldb(lr, &warm, r->n, out) < 0) ||
            (r->only != 0 && slice_lmdb(mr, r->dbi, &warm, r->n, out) < 0))
            wk->failed = 1;
    for (int s = 0; s < r->slices; s++) {
        /* Both engines get the same keys in a slice; the first to run
         * alternates; every thread runs the same engine at a time. */
        for (int k = 0; k < 2; k++) {
            int e = (s + k) % 2;
            if (r->only >= 0 && e != r->only)
                continue; /* every thread skips it alike */
            uint64_t seed = 1000 + (uint64_t)s + 7919u * (uint64_t)wk->index;
            pthread_barrier_wait(&r->barrier);
            if (wk->failed)
                continue; /* keep meeting the others at the barrier */
            double w0 = bench_now_ns(CLOCK_MONOTONIC), c0 = bench_now_ns(CLOCK_THREAD_CPUTIME_ID);
            long f = e == 0 ? slice_ldb(lr, &seed, r->n, out)
                            : slice_lmdb(mr, r->dbi, &seed, r->n, out);
            wk->c[e][s] = (bench_now_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / SLICE;
            wk->w[e][s] = (bench_now_ns(CLOCK_MONOTONIC) - w0) / SLICE;
            if (f != SLICE) {
                fprintf(stderr, "prof_getpair: %s found %ld of %d\n", e ? "lmdb" : "ours", f,
                        SLICE);
                wk->failed = 1;
            }
        }
    }
    if (lr != NULL)
        ldb_txn_abort(lr);
    if (mr != NULL)
        mdb_txn_abort(mr);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 7 || atol(argv[2]) <= 0 || atoi(argv[3]) <= 0) {
        fprintf(stderr, "usage: prof_getpair DIR N SLICES [WARM [THREADS [ONLY]]]\n");
        return 2;
    }
    long n = atol(argv[2]);
    int slices = atoi(argv[3]);
    char path[4096];
    snprintf(path, sizeof path, "%s/ldb", argv[1]);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/ldb/data.ldb", argv[1]);
    ldb_options o;
    memset(&o, 0, sizeof o);
    o.sync_mode = LDB_SYNC_OFF;
    o.max_size = 16ull << 30;
    ldb_env *le;
    MDB_env *me;
    MDB_dbi dbi;
    MDB_txn *t;
    /* A DIR a run already loaded is read as it is (LMDB's is loaded last),
     * so that two builds of the library can be compared on the same files. */
    struct stat st;
    char mpath[4096];
    snprintf(mpath, sizeof mpath, "%s/lmdb/data.mdb", argv[1]);
    int loaded = stat(mpath, &st) == 0;
    int rc = ldb_open(path, &o, &le);
    if (rc == 0 && !loaded)
        rc = load_ldb(le, n);
    if (rc != 0) {
        fprintf(stderr, "prof_getpair: ours: %s\n", ldb_strerror(rc));
        return 1;
    }
    snprintf(path, sizeof path, "%s/lmdb", argv[1]);
    mkdir(path, 0755);
    if ((rc = mdb_env_create(&me)) != 0 || (rc = mdb_env_set_mapsize(me, (size_t)16 << 30)) != 0 ||
        (rc = mdb_env_open(me, path, MDB_NOSYNC, 0644)) != 0 ||
        (rc = mdb_txn_begin(me, NULL, 0, &t)) != 0 || (rc = mdb_dbi_open(t, NULL, 0, &dbi)) != 0 ||
        (rc = mdb_txn_commit(t)) != 0 || (!loaded && (rc = load_lmdb(me, dbi, n)) != 0)) {
        fprintf(stderr, "prof_getpair: lmdb: %s\n", mdb_strerror(rc));
        return 1;
    }
    struct run r = {.le = le, .me = me, .dbi = dbi, .n = n, .slices = slices,
                    .warm_slices = argc >= 5 ? atol(argv[4]) : 0};
    if (r.warm_slices <= 0)
        r.warm_slices = n / SLICE + 1;
    int threads = argc >= 6 ? atoi(argv[5]) : 1;
    r.only = argc < 7 ? -1 : strcmp(argv[6], "ldb") == 0 ? 0 : strcmp(argv[6], "lmdb") == 0 ? 1 : -2;
    if (r.only == -2) {
        fprintf(stderr, "prof_getpair: ONLY is ldb or lmdb\n");
        return 2;
    }
    if (threads < 1 || threads > MAX_THREADS) {
        fprintf(stderr, "prof_getpair: THREADS is 1..%d\n", MAX_THREADS);
        return 2;
    }
    pthread_barrier_init(&r.barrier, NULL, (unsigned)threads);
    struct worker wk[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        wk[i] = (struct worker){.r = &r, .index = i};
        for (int e = 0; e < 2; e++) {
            wk[i].w[e] = calloc((size_t)slices, sizeof(double));
            wk[i].c[e] = calloc((size_t)slices, sizeof(double));
            if (wk[i].w[e] == NULL || wk[i].c[e] == NULL)
                return 1;
        }
        if (pthread_create(&tid[i], NULL, worker_main, &wk[i]) != 0)
            return 1;
    }
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        failed |= wk[i].failed;
    }
    pthread_barrier_destroy(&r.barrier);
    if (failed)
        return 1;
    double *w[2], *c[2];
    for (int e = 0; e < 2; e++) {
        w[e] = calloc((size_t)(slices * threads), sizeof(double));
        c[e] = calloc((size_t)(slices * threads), sizeof(double));
        if (w[e] == NULL || c[e] == NULL)
            return 1;
        for (int i = 0; i < threads; i++) {
            memcpy(w[e] + i * slices, wk[i].w[e], (size_t)slices * sizeof(double));
            memcpy(c[e] + i * slices, wk[i].c[e], (size_t)slices * sizeof(double));
        }
    }
    slices *= threads; /* the medians are over every thread's slices */
    double lw = bench_median(w[0], slices), mw = bench_median(w[1], slices);
    double lc = bench_median(c[0], slices), mc = bench_median(c[1], slices);
    printf("n=%ld slices=%d of %d gets, %d thread%s\n", n, slices / threads, SLICE, threads,
           threads > 1 ? "s" : "");
    if (r.only >= 0) { /* one engine alone, as ldb_bench runs each in its own process */
        printf("ns per get, %s alone (median): wall %.0f thread cpu %.0f\n",
               r.only ? "lmdb" : "ours", r.only ? mw : lw, r.only ? mc : lc);
        mdb_env_close(me);
        return ldb_close(le) != 0;
    }
    printf("ns per get, wall (median): ours %.0f lmdb %.0f ratio lmdb/ours %.2fx\n", lw, mw,
           mw / lw);
    printf("ns per get, thread cpu (median): ours %.0f lmdb %.0f ratio lmdb/ours %.2fx\n", lc, mc,
           mc / lc);
    mdb_env_close(me);
    return ldb_close(le) != 0;
}
