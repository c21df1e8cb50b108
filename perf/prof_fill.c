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
 *
 * Keys are 16-byte zero-padded decimals, values 100 pseudo-random bytes,
 * 1,000 puts per txn, LDB_SYNC_OFF and one ldb_sync at the end: the bench's
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PER_TXN 1000
#define VALUE_LEN 100

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
    unsigned char val[VALUE_LEN];
    uint64_t vs = 1;
    for (long b = 0; b < n; b += PER_TXN) {
        ldb_txn *t;
        int rc = ldb_txn_begin(env, 0, &t);
        if (rc != 0)
            return rc;
        for (long i = b; i < b + PER_TXN && i < n; i++) {
            char k[17];
            snprintf(k, sizeof k, "%016ld", ord[i]);
            for (int q = 0; q < VALUE_LEN; q += 8) {
                uint64_t r = splitmix(&vs);
                memcpy(val + q, &r, q + 8 <= VALUE_LEN ? 8 : VALUE_LEN - q);
            }
            ldb_val kv = {16, k}, vv = {VALUE_LEN, val};
            if ((rc = ldb_put(t, LDB_MAIN, &kv, &vv, flags)) != 0) {
                ldb_txn_abort(t);
                return rc;
            }
        }
        if ((rc = ldb_txn_commit(t)) != 0)
            return rc;
    }
    return ldb_sync(env);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: prof_fill PATH fillrandom|overwrite|fillseq N\n");
        return 2;
    }
    const char *mode = argv[2];
    long n = atol(argv[3]);
    int seq = strcmp(mode, "fillseq") == 0;
    if (n <= 0 || (!seq && strcmp(mode, "fillrandom") != 0 && strcmp(mode, "overwrite") != 0)) {
        fprintf(stderr, "prof_fill: bad mode or N\n");
        return 2;
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
    long *ord = key_order(n, seq ? 0 : strcmp(mode, "overwrite") == 0 ? 3 : 2);
    rc = ord == NULL ? -12 : fill(env, ord, n, seq ? LDB_APPEND : 0);
    free(ord);
    ldb_stat st;
    if (rc == 0)
        rc = ldb_stat_env(env, &st);
    if (rc == 0)
        printf("%s n=%ld file=%llu\n", mode, n, (unsigned long long)st.file_size);
    else
        fprintf(stderr, "prof_fill: %s\n", ldb_strerror(rc));
    int crc = ldb_close(env);
    return rc != 0 || crc != 0;
}
