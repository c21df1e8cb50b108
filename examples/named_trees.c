/* SPDX-License-Identifier: MIT */
/*
 * named_trees.c: several trees (sub-databases) in one database file.
 *
 * Usage: named_trees DIR (the database is DIR/shop.ldb). Creates the trees
 * "users" and "orders" in one transaction, so they commit together, and
 * prints what each holds. The same key lives independently in each tree.
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

static ldb_val str(const char *s)
{
    ldb_val v = {strlen(s), s};
    return v;
}

int main(int argc, char **argv)
{
    char path[4096];
    ldb_env *env;
    ldb_txn *txn;
    ldb_dbi users, orders;
    ldb_val k, v, got;
    ldb_tree_stat st;

    if (argc != 2) {
        fprintf(stderr, "usage: named_trees DIR\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/shop.ldb", argv[1]);
    TRY("open", ldb_open(path, NULL, &env));

    TRY("begin", ldb_txn_begin(env, 0, &txn));
    TRY("users", ldb_dbi_open(txn, "users", LDB_CREATE, &users));
    TRY("orders", ldb_dbi_open(txn, "orders", LDB_CREATE, &orders));
    k = str("42");
    v = str("ada");
    TRY("put user", ldb_put(txn, users, &k, &v, 0));
    v = str("2 books");
    TRY("put order", ldb_put(txn, orders, &k, &v, 0));
    k = str("43");
    v = str("1 lamp");
    TRY("put order", ldb_put(txn, orders, &k, &v, 0));
    TRY("commit", ldb_txn_commit(txn));

    /* The handles stay valid for the life of the env. */
    TRY("begin", ldb_txn_begin(env, LDB_TXN_RDONLY, &txn));
    k = str("42");
    TRY("get user", ldb_get(txn, users, &k, &got));
    printf("users[42] = %.*s\n", (int)got.size, (const char *)got.data);
    TRY("get order", ldb_get(txn, orders, &k, &got));
    printf("orders[42] = %.*s\n", (int)got.size, (const char *)got.data);
    printf("main tree has 42: %s\n", ldb_get(txn, LDB_MAIN, &k, &got) == LDB_NOTFOUND ? "no" : "yes");
    TRY("stat", ldb_dbi_stat(txn, users, &st));
    printf("users: %llu entries\n", (unsigned long long)st.entries);
    TRY("stat", ldb_dbi_stat(txn, orders, &st));
    printf("orders: %llu entries\n", (unsigned long long)st.entries);
    ldb_txn_abort(txn);

    /* Opening a tree that does not exist, without LDB_CREATE. */
    TRY("begin", ldb_txn_begin(env, LDB_TXN_RDONLY, &txn));
    ldb_dbi none;
    int rc = ldb_dbi_open(txn, "nope", 0, &none);
    printf("open missing tree: %s\n", rc == LDB_NOTFOUND ? "LDB_NOTFOUND" : ldb_strerror(rc));
    ldb_txn_abort(txn);

    TRY("check", ldb_check(env, stderr));
    TRY("close", ldb_close(env));
    return 0;
}
