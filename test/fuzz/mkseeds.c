/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpus of the fuzz targets into DIR (test/fuzz/ of the
 * source tree): small valid data files, the base data file of the log target
 * with logs of a few commits on it, and lock files of a live and of a closed
 * database. Run by hand (`make fuzz-seeds`); the output is committed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static const char *out;

static void *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    long n;
    void *buf;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0)
        abort();
    buf = malloc((size_t)n + 1);
    rewind(f);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
        abort();
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/* Copies src to OUT/name, with an optional leading byte. */
static void save(const char *src, const char *name, int prefix)
{
    char dst[4096];
    size_t n;
    uint8_t *buf = slurp(src, &n), *w = malloc(n + 1);

    snprintf(dst, sizeof dst, "%s/%s", out, name);
    /* Data files grow in big steps: drop the all-zero pages at the end so
     * the committed seeds stay small (the database reads them the same). */
    while (n >= 8192 && n % 4096 == 0) {
        size_t i = n - 4096;
        while (i < n && buf[i] == 0)
            i++;
        if (i < n)
            break;
        n -= 4096;
    }
    if (prefix >= 0)
        w[0] = (uint8_t)prefix;
    memcpy(w + (prefix >= 0), buf, n);
    fuzz_write_file(dst, w, n + (prefix >= 0));
    free(buf);
    free(w);
}

#define OK(x) do { if ((x) != 0) { fprintf(stderr, "mkseeds: %s failed\n", #x); exit(1); } } while (0)

/* One txn: nkeys puts into LDB_MAIN and, when tree is set, a named tree. */
static void fill(ldb_env *env, int round, int nkeys, const char *tree, size_t vsize)
{
    ldb_txn *txn;
    ldb_dbi dbi = LDB_MAIN;
    char kb[32], vb[2048];

    OK(ldb_txn_begin(env, 0, &txn));
    if (tree != NULL)
        OK(ldb_dbi_open(txn, tree, LDB_CREATE, &dbi));
    memset(vb, 'a' + round, sizeof vb);
    for (int i = 0; i < nkeys; i++) {
        ldb_val k = {(size_t)snprintf(kb, sizeof kb, "k%03d-%d", i, round), kb};
        ldb_val v = {vsize, vb};
        OK(ldb_put(txn, LDB_MAIN, &k, &v, 0));
        if (dbi != LDB_MAIN)
            OK(ldb_put(txn, dbi, &k, &v, 0));
    }
    if (round > 0) {
        ldb_val k = {6, "k000-0"};
        (void)ldb_del(txn, LDB_MAIN, &k);
    }
    OK(ldb_txn_commit(txn));
}

static void put_runs(ldb_env *env)
{
    static const size_t sizes[] = {4095, 4096, 4097, 9000, 5000};
    static uint8_t vb[9000];
    ldb_txn *txn;
    char kb[16];

    for (size_t i = 0; i < sizeof vb; i++)
        vb[i] = (uint8_t)(i * 7 + i / 251);
    OK(ldb_txn_begin(env, 0, &txn));
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        ldb_val k = {(size_t)snprintf(kb, sizeof kb, "run%zu", i), kb};
        ldb_val v = {sizes[i], vb};
        OK(ldb_put(txn, LDB_MAIN, &k, &v, 0));
    }
    OK(ldb_txn_commit(txn));
    OK(ldb_txn_begin(env, 0, &txn));
    ldb_val k = {4, "run1"}, k3 = {4, "run3"}, v = {6000, vb + 1};
    OK(ldb_del(txn, LDB_MAIN, &k));
    OK(ldb_put(txn, LDB_MAIN, &k3, &v, 0));
    OK(ldb_txn_commit(txn));
}

int main(int argc, char **argv)
{
    char path[300], p2[320], name[400];
    ldb_env *env;
    ldb_options o = {0};

    if (argc != 2) {
        fprintf(stderr, "usage: mkseeds DIR\n");
        return 2;
    }
    out = argv[1];
    o.sync_mode = LDB_SYNC_OFF;
    snprintf(path, sizeof path, "%s/db", fuzz_dir());

    /* Data files: empty, flat, with named trees and an overflow value. */
    OK(ldb_open(path, &o, &env));
    OK(ldb_close(env));
    save(path, "corpus/datafile/empty.db", -1);
    OK(ldb_open(path, &o, &env));
    fill(env, 0, 40, NULL, 20);
    OK(ldb_close(env));
    save(path, "corpus/datafile/flat.db", -1);
    OK(ldb_open(path, &o, &env));
    fill(env, 1, 200, "tree-a", 30);
    fill(env, 2, 3, "tree-b", 1500);
    OK(ldb_close(env));
    save(path, "corpus/datafile/trees.db", -1);
    /* Compressed values (NODE_COMPRESSED), inline and on overflow pages,
     * one tree per codec. */
    fuzz_dir_clean();
    o.compression = LDB_COMPRESS_ZSTD;
    OK(ldb_open(path, &o, &env));
    fill(env, 3, 30, "zstd", 400);
    fill(env, 4, 4, "zstd", 1900);
    OK(ldb_close(env));
    o.compression = LDB_COMPRESS_LZ4;
    OK(ldb_open(path, &o, &env));
    fill(env, 5, 30, "lz4", 400);
    fill(env, 6, 4, "lz4", 1900);
    OK(ldb_close(env));
    o.compression = LDB_COMPRESS_NONE;
    save(path, "corpus/datafile/compressed.db", -1);

    /* Bare overflow runs (format 4): a page short of a page, a page, a
     * page and a byte, several pages; one deleted, one overwritten. */
    fuzz_dir_clean();
    OK(ldb_open(path, &o, &env));
    put_runs(env);
    OK(ldb_close(env));
    save(path, "corpus/datafile/runs.db", -1);

    /* The log target's base, then logs of commits on top of it. */
    fuzz_dir_clean();
    OK(ldb_open(path, &o, &env));
    fill(env, 0, 20, "tree-a", 20);
    OK(ldb_close(env));
    save(path, "wal-base.db", -1);
    OK(ldb_open(path, &o, &env));
    snprintf(p2, sizeof p2, "%s-wal", path);
    save(p2, "corpus/wal/empty.wal", -1);
    fill(env, 1, 5, NULL, 20);
    save(p2, "corpus/wal/one.wal", -1);
    fill(env, 2, 10, "tree-a", 30);
    fill(env, 3, 2, "tree-c", 1500);
    save(p2, "corpus/wal/three.wal", -1);

    /* Lock files: of a live handle (attach path) and of a closed one. */
    snprintf(p2, sizeof p2, "%s-lock", path);
    snprintf(name, sizeof name, "corpus/lock/live.lock");
    save(p2, name, 1);
    OK(ldb_close(env));
    save(p2, "corpus/lock/closed.lock", 0);

    /* A log of compressed puts (op 6) on the same base. */
    fuzz_dir_clean();
    snprintf(p2, sizeof p2, "%s/wal-base.db", out);
    {
        size_t n;
        void *base = slurp(p2, &n);
        fuzz_write_file(path, base, n);
        free(base);
    }
    o.compression = LDB_COMPRESS_ZSTD;
    OK(ldb_open(path, &o, &env));
    snprintf(p2, sizeof p2, "%s-wal", path);
    fill(env, 4, 3, "tree-a", 600);
    fill(env, 5, 2, NULL, 1900);
    save(p2, "corpus/wal/compressed.wal", -1);
    OK(ldb_close(env));
    fuzz_dir_clean();
    return 0;
}
