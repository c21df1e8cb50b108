/* SPDX-License-Identifier: MIT */
/*
 * cursors.c: an ordered walk and a key range with a cursor.
 *
 * Usage: cursors DIR (the database is DIR/fruit.ldb). Puts five keys, then
 * prints every key from "b" up to (not including) "d" in order, and the
 * whole tree backwards.
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

int main(int argc, char **argv)
{
    static const char *fruit[] = {"date", "apple", "fig", "cherry", "banana"};
    char path[4096];
    ldb_env *env;
    ldb_txn *txn;
    ldb_cursor *cur;
    ldb_val key, val;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: cursors DIR\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/fruit.ldb", argv[1]);
    TRY("open", ldb_open(path, NULL, &env));

    /* Keys come back sorted whatever order they were put in. */
    TRY("begin", ldb_txn_begin(env, 0, &txn));
    for (size_t i = 0; i < sizeof fruit / sizeof fruit[0]; i++) {
        ldb_val k = {strlen(fruit[i]), fruit[i]}, v = {1, "x"};
        TRY("put", ldb_put(txn, LDB_MAIN, &k, &v, 0));
    }
    TRY("commit", ldb_txn_commit(txn));

    TRY("begin", ldb_txn_begin(env, LDB_TXN_RDONLY, &txn));
    TRY("cursor", ldb_cursor_open(txn, LDB_MAIN, &cur));

    /* The range [b, d): seek to the first key >= "b", stop at "d". */
    printf("from b to d:");
    key.size = 1;
    key.data = "b";
    for (rc = ldb_cursor_get(cur, &key, &val, LDB_SEEK); rc == 0;
         rc = ldb_cursor_get(cur, &key, &val, LDB_NEXT)) {
        if (memcmp(key.data, "d", 1) >= 0)
            break;
        printf(" %.*s", (int)key.size, (const char *)key.data);
    }
    printf("\n");
    if (rc != 0 && rc != LDB_NOTFOUND)
        TRY("range", rc);

    /* Backwards: on a fresh position LDB_LAST, then LDB_PREV to the end. */
    printf("backwards:");
    for (rc = ldb_cursor_get(cur, &key, &val, LDB_LAST); rc == 0;
         rc = ldb_cursor_get(cur, &key, &val, LDB_PREV))
        printf(" %.*s", (int)key.size, (const char *)key.data);
    printf("\n");
    if (rc != LDB_NOTFOUND)
        TRY("walk", rc);

    ldb_cursor_close(cur);
    ldb_txn_abort(txn);
    TRY("check", ldb_check(env, stderr));
    TRY("close", ldb_close(env));
    return 0;
}
