/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the input is the lock file of a small valid database. The
 * first input byte picks whether a first handle is already open when the
 * damaged lock file is written (then the second opener takes the attach
 * path) or not (then the opener finds the file with no live owner). Each
 * handle that opens walks, checks and commits a write.
 */
#include <stdio.h>

#include "fuzz.h"

static void use(ldb_env *env)
{
    ldb_txn *txn;

    fuzz_walk_env(env);
    if (ldb_txn_begin(env, LDB_TXN_NOWAIT, &txn) == 0) {
        ldb_val k = {3, "fzk"}, v = {3, "fzv"};
        if (ldb_put(txn, LDB_MAIN, &k, &v, 0) == 0)
            (void)ldb_txn_commit(txn);
        else
            ldb_txn_abort(txn);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[300], lock[310];
    ldb_env *first = NULL, *second;
    ldb_options o = {0};
    int attach = size > 0 && (data[0] & 1);

    snprintf(path, sizeof path, "%s/db", fuzz_dir());
    snprintf(lock, sizeof lock, "%s-lock", path);
    o.sync_mode = LDB_SYNC_OFF;
    /* A small valid database to start from. */
    if (ldb_open(path, &o, &first) != 0)
        return 0;
    use(first);
    if (!attach) {
        ldb_close(first);
        first = NULL;
    }
    if (size > 0)
        fuzz_write_file(lock, data + 1, size - 1);
    if (ldb_open(path, &o, &second) == 0) {
        use(second);
        ldb_close(second);
    }
    if (first != NULL)
        ldb_close(first);
    fuzz_dir_clean();
    return 0;
}
