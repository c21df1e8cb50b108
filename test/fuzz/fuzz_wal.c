/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the input is the write-ahead log of a fixed small valid data
 * file (test/fuzz/wal-base.db, whose log seeds are in corpus/wal/). The
 * database is opened read-write, so recovery replays whatever of the log it
 * accepts; then every tree is walked and checked, and a write is committed
 * on top of the recovered state.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

#ifndef FUZZ_SRCDIR
#define FUZZ_SRCDIR "."
#endif

static void *base;
static size_t base_size;

static void load_base(void)
{
    FILE *f = fopen(FUZZ_SRCDIR "/test/fuzz/wal-base.db", "rb");
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0)
        abort();
    base_size = (size_t)n;
    base = malloc(base_size);
    rewind(f);
    if (base == NULL || fread(base, 1, base_size, f) != base_size)
        abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[300], wal[310];
    ldb_env *env;
    ldb_options o = {0};

    if (base == NULL)
        load_base();
    snprintf(path, sizeof path, "%s/db", fuzz_dir());
    snprintf(wal, sizeof wal, "%s-wal", path);
    fuzz_write_file(path, base, base_size);
    fuzz_write_file(wal, data, size);
    o.sync_mode = LDB_SYNC_OFF;
    if (ldb_open(path, &o, &env) == 0) {
        ldb_txn *txn;
        fuzz_walk_env(env);
        if (ldb_txn_begin(env, 0, &txn) == 0) {
            ldb_val k = {3, "fzk"}, v = {3, "fzv"};
            if (ldb_put(txn, LDB_MAIN, &k, &v, 0) == 0)
                (void)ldb_txn_commit(txn);
            else
                ldb_txn_abort(txn);
        }
        ldb_close(env);
    }
    fuzz_dir_clean();
    return 0;
}
