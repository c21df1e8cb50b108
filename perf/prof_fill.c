/* SPDX-License-Identifier: MIT */
/*
 * prof_fill: the bulk-write loops of ldb_bench's fill workloads in a
 * program small enough to run under valgrind, for the instruction-count
 * profiles of docs/benchmarks.md (issue 11). ldb_bench itself cannot be
 * profiled there: valgrind cannot map its 1 TiB max_size.
 *
 *   fillrandom  N puts in a fixed random order into an empty database
 *   overwrite   N puts in another random order: run it on the database a
 *               fillrandom of the same N left
 *   fillseq     N puts in ascending order with LDB_APPEND
 *   fillseqnoappend  the same without LDB_APPEND
 *   oneputseq   N puts in ascending order, one per txn (small commits:
 *               compare LDB_IO_BACKEND=io_uring, records on a kernel
 *               worker, with the default)
 *   big1kseq    N puts of 1 KiB values in ascending order with LDB_APPEND
 *               (bigvalues)
 *   big1krandom N puts of 1 KiB values in a fixed random order
 *   big4krandom N puts of 4 KiB values in a fixed random order
 *
 * Keys are 16-byte zero-padded decimals, values 100 pseudo-random bytes,
 * 1,000 puts per txn (but oneputseq), LDB_SYNC_OFF and one ldb_sync at the end: the bench's
 * settings. max_size is 4 GiB. It prints the data file's size.
 *
 * Usage: prof_fill PATH fillrandom|overwrite|fillseq N
 * Profile: make perf/prof_fill, then
 *   valgrind --tool=callgrind --callgrind-out-file=cg.fillrandom \
 *       ./perf/prof_fill DIR/data.ldb fillrandom 100000
 * (libtool wraps the program: run it as `./libtool --mode=execute valgrind
 * ...` or with LD_LIBRARY_PATH=lib/.libs perf/.libs/prof_fill).
 */
#include <lightningdb.h>
#ifdef HAVE_LMDB
#include <lmdb.h>
#endif
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VALUE_MAX 4096

static int value_len = 100;
static long per_txn = 1000; /* puts per txn */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* 0..n-1, shuffled with seed (ascending without one). */
static long *key_order(long n, uint64_t seed)
{
    long *ord = malloc((size_t)n * sizeof *ord);
    if (ord == NULL)
        return NULL;
    for (long i = 0; i < n; i++)
        ord[i] = i;
    for (long i = n - 1; seed != 0 && i > 0; i--) {
        long j = (long)(splitmix(&seed) % (uint64_t)(i + 1));
        long t = ord[i];
        ord[i] = ord[j];
        ord[j] = t;
    }
    return ord;
}

static int fill(ldb_env *env, const long *ord, long n, unsigned flags)
{
    static unsigned char val[VALUE_MAX];
    uint64_t vs = 1;
    for (long b = 0; b < n; b += per_txn) {
        ldb_txn *t;
        int rc = ldb_txn_begin(env, 0, &t);
        if (rc != 0)
            return rc;
        for (long i = b; i < b + per_txn && i < n; i++) {
            char k[17];
            snprintf(k, sizeof k, "%016ld", ord[i]);
            for (int q = 0; q < value_len; q += 8) {
                uint64_t r = splitmix(&vs);
                memcpy(val + q, &r, q + 8 <= value_len ? 8 : (size_t)(value_len - q));
            }
            ldb_val kv = {16, k}, vv = {(size_t)value_len, val};
            if ((rc = ldb_put(t, LDB_MAIN, &kv, &vv, flags)) != 0) {
                ldb_txn_abort(t);
                return rc;
            }
        }
        if ((rc = ldb_txn_commit(t)) != 0)
            return rc;
    }
    return 0;
}

static void print_space(ldb_env *env)
{
    ldb_space sp;
    if (ldb_stat_space(env, &sp, sizeof sp) != 0)
        return;
    printf("  pages: file %llu used %llu free %llu (reusable %llu reader-held %llu "
           "checkpoint-held %llu) unused %llu reserve %llu\n",
           (unsigned long long)sp.file_pages, (unsigned long long)sp.used_pages,
           (unsigned long long)sp.free_pages, (unsigned long long)sp.reusable_pages,
           (unsigned long long)sp.reader_held_pages,
           (unsigned long long)sp.checkpoint_held_pages, (unsigned long long)sp.unused_pages,
           (unsigned long long)sp.reserve_pages);
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long file_bytes(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0) {
        if (f != NULL)
            fclose(f);
        return 0;
    }
    long len = ftell(f);
    fclose(f);
    return len < 0 ? 0 : (unsigned long long)len;
}

#ifdef HAVE_LMDB
/* The same load into LMDB; its data file's size and how long its final
 * sync took. */
static int fill_lmdb(const char *dir, const long *ord, long n, int append,
                     unsigned long long *size, double *sync_secs)
{
    MDB_env *env;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    if (rc != 0)
        return rc;
    if ((rc = mdb_env_set_mapsize(env, 8ull << 30)) != 0 ||
        (rc = mdb_env_open(env, dir, MDB_NOSYNC, 0644)) != 0) {
        mdb_env_close(env);
        return rc;
    }
    static unsigned char val[VALUE_MAX];
    uint64_t vs = 1;
    for (long b = 0; b < n && rc == 0; b += per_txn) {
        MDB_txn *t;
        if ((rc = mdb_txn_begin(env, NULL, 0, &t)) != 0)
            break;
        if ((rc = mdb_dbi_open(t, NULL, 0, &dbi)) != 0) {
            mdb_txn_abort(t);
            break;
        }
        for (long i = b; i < b + per_txn && i < n && rc == 0; i++) {
            char k[17];
            snprintf(k, sizeof k, "%016ld", ord[i]);
            for (int q = 0; q < value_len; q += 8) {
                uint64_t r = splitmix(&vs);
                memcpy(val + q, &r, q + 8 <= value_len ? 8 : (size_t)(value_len - q));
            }
            MDB_val kv = {16, k}, vv = {(size_t)value_len, val};
            rc = mdb_put(t, dbi, &kv, &vv, append ? MDB_APPEND : 0);
        }
        if (rc != 0)
            mdb_txn_abort(t);
        else
            rc = mdb_txn_commit(t);
    }
    double t0 = now_sec();
    if (rc == 0)
        rc = mdb_env_sync(env, 1);
    *sync_secs = now_sec() - t0;
    mdb_env_close(env);
    char path[4096];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    *size = file_bytes(path);
    return rc;
}
#endif

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int vlen, seq;
        uint64_t seed;
        unsigned flags;
        long per_txn;
    } modes[] = {
        { "fillrandom", 100, 0, 2, 0, 1000 },
        { "overwrite", 100, 0, 3, 0, 1000 },
        { "fillseq", 100, 1, 0, LDB_APPEND, 1000 },
        { "fillseqnoappend", 100, 1, 0, 0, 1000 },
        { "oneputseq", 100, 1, 0, 0, 1 },
        { "big1kseq", 1024, 1, 0, LDB_APPEND, 1000 },
        { "big1krandom", 1024, 0, 2, 0, 1000 },
        { "big4krandom", 4096, 0, 2, 0, 1000 },
    };
    int m = -1, lmdb = argc == 4 && strncmp(argv[2], "lmdb-", 5) == 0;
    if (argc == 4)
        for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
            if (strcmp(argv[2] + (lmdb ? 5 : 0), modes[i].name) == 0)
                m = (int)i;
    long n = argc == 4 ? atol(argv[3]) : 0;
    if (m < 0 || n <= 0) {
        fprintf(stderr, "usage: prof_fill PATH fillrandom|overwrite|fillseq|fillseqnoappend|"
                        "oneputseq|big1kseq|big1krandom|big4krandom N\n");
        return 2;
    }
    value_len = modes[m].vlen;
    per_txn = modes[m].per_txn;
    if (lmdb) {
#ifdef HAVE_LMDB
        long *lord = key_order(n, modes[m].seed);
        unsigned long long size = 0;
        double t0 = now_sec(), sync_secs = 0;
        int lrc = lord == NULL ? ENOMEM
                               : fill_lmdb(argv[1], lord, n, modes[m].flags == LDB_APPEND, &size,
                                           &sync_secs);
        double secs = now_sec() - t0;
        free(lord);
        if (lrc != 0) {
            fprintf(stderr, "prof_fill: lmdb: %s\n", mdb_strerror(lrc));
            return 1;
        }
        printf("%s n=%ld %.3f s (open to close; the sync %.3f s) lmdb data file %llu bytes\n",
               argv[2], n, secs, sync_secs, size);
        return 0;
#else
        fprintf(stderr, "prof_fill: built without LMDB\n");
        return 2;
#endif
    }
    ldb_options o;
    memset(&o, 0, sizeof o);
    o.sync_mode = LDB_SYNC_OFF;
    o.max_size = 4ull << 30;
    ldb_env *env;
    int rc = ldb_open(argv[1], &o, &env);
    if (rc != 0) {
        fprintf(stderr, "prof_fill: open: %s\n", ldb_strerror(rc));
        return 1;
    }
    long *ord = key_order(n, modes[m].seed);
    double t0 = now_sec();
    rc = ord == NULL ? -12 : fill(env, ord, n, modes[m].flags);
    double t1 = now_sec();
    if (rc == 0)
        rc = ldb_sync(env);
    double secs = now_sec() - t0, sync_secs = now_sec() - t1;
    free(ord);
    ldb_stat st;
    if (rc == 0)
        rc = ldb_stat_env(env, &st);
    if (rc == 0) {
        printf("%s n=%ld %.3f s (puts and sync; the sync %.3f s) file=%llu\n", argv[2], n,
               secs, sync_secs, (unsigned long long)st.file_size);
        print_space(env);
    } else {
        fprintf(stderr, "prof_fill: %s\n", ldb_strerror(rc));
    }
    int crc = ldb_close(env);
    if (rc == 0 && crc == 0)
        printf("  after close: data file %llu bytes (data %llu bytes of keys and values)\n",
               file_bytes(argv[1]), (unsigned long long)n * (unsigned long long)(16 + value_len));
    return rc != 0 || crc != 0;
}
