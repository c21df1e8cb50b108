/* SPDX-License-Identifier: MIT */
/*
 * bulk_load.c: load sorted data fast with LDB_APPEND.
 *
 * Usage: bulk_load DIR (the database is DIR/bulk.ldb). Puts 20000 keys in
 * ascending order with LDB_APPEND, which adds each at the end of the tree
 * without searching it and fills the leaf pages fully, then shows that a
 * key out of order is refused with LDB_EXISTS (and the txn goes on).
 */
#include <lightningdb.h>
#include <stdio.h>
#include <string.h>

#define TRY(what, expr)                                                      \
    do {                                                                     \
        int rc_ = (expr);                                                    \
        if (rc_ != 0) {                                                      \
            fprintf(stderr, "%s: %s\n", what, ldb_strerror(rc_));            \
            return 1;                                                        \
        }                                                                    \
    } while (0)

#define N 20000

int main(int argc, char **argv)
{
    char path[4096], kb[32], vb[32];
    ldb_env *env;
    ldb_txn *txn;
    ldb_val k, v;
    ldb_tree_stat st;

    if (argc != 2) {
        fprintf(stderr, "usage: bulk_load DIR\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/bulk.ldb", argv[1]);
    TRY("open", ldb_open(path, NULL, &env));
    TRY("begin", ldb_txn_begin(env, 0, &txn));
    for (int i = 0; i < N; i++) {
        /* Zero-padded numbers sort as their values do (memcmp order). */
        k.size = (size_t)snprintf(kb, sizeof kb, "user:%08d", i);
        k.data = kb;
        v.size = (size_t)snprintf(vb, sizeof vb, "score %d", i % 100);
        v.data = vb;
        TRY("append", ldb_put(txn, LDB_MAIN, &k, &v, LDB_APPEND));
    }
    /* A key that does not sort after the last one. */
    k.size = (size_t)snprintf(kb, sizeof kb, "user:%08d", 5);
    int rc = ldb_put(txn, LDB_MAIN, &k, &v, LDB_APPEND);
    printf("out-of-order append: %s\n", rc == LDB_EXISTS ? "LDB_EXISTS" : ldb_strerror(rc));
    TRY("commit", ldb_txn_commit(txn));

    TRY("begin", ldb_txn_begin(env, LDB_TXN_RDONLY, &txn));
    TRY("stat", ldb_dbi_stat(txn, LDB_MAIN, &st));
    printf("entries: %llu\n", (unsigned long long)st.entries);
    /* Full leaves: 20000 entries of ~31 bytes on 4 KiB pages. */
    printf("leaf pages under 200: %s\n", st.leaf_pages < 200 ? "yes" : "no");
    ldb_txn_abort(txn);
    TRY("check", ldb_check(env, stderr));
    TRY("close", ldb_close(env));
    return 0;
}
