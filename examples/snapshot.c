/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c: serve a read-only copy of a database with LDB_IMMUTABLE.
 *
 * Usage: snapshot DIR. Builds DIR/live.ldb, closes it (which folds the
 * write-ahead log into the data file, so the data file alone is the whole
 * database), copies the data file to DIR/snap.ldb, and serves reads from
 * the copy with LDB_IMMUTABLE: no lock file and no log are created or
 * used, so the copy may sit on read-only media and any number of
 * processes may open it. Writes to it are refused.
 */
#include <lightningdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TRY(what, expr)                                                      \
    do {                                                                     \
        int rc_ = (expr);                                                    \
        if (rc_ != 0) {                                                      \
            fprintf(stderr, "%s: %s\n", what, ldb_strerror(rc_));            \
            return 1;                                                        \
        }                                                                    \
    } while (0)

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[65536];
    size_t n;
    int rc = in && out ? 0 : -1;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            rc = -1;
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        rc = -1;
    return rc;
}

int main(int argc, char **argv)
{
    char live[4096], snap[4096], side[4200];
    ldb_env *env;
    ldb_txn *txn;
    ldb_val k = {4, "city"}, v = {5, "Paris"}, got;
    ldb_options opts = {0};

    if (argc != 2) {
        fprintf(stderr, "usage: snapshot DIR\n");
        return 2;
    }
    snprintf(live, sizeof live, "%s/live.ldb", argv[1]);
    snprintf(snap, sizeof snap, "%s/snap.ldb", argv[1]);

    TRY("open", ldb_open(live, NULL, &env));
    TRY("begin", ldb_txn_begin(env, 0, &txn));
    TRY("put", ldb_put(txn, LDB_MAIN, &k, &v, 0));
    TRY("commit", ldb_txn_commit(txn));
    TRY("close", ldb_close(env)); /* checkpoints: the data file is complete */
    if (copy_file(live, snap) != 0) {
        perror("copy");
        return 1;
    }

    opts.flags = LDB_IMMUTABLE;
    TRY("open snapshot", ldb_open(snap, &opts, &env));
    TRY("begin", ldb_txn_begin(env, LDB_TXN_RDONLY, &txn));
    TRY("get", ldb_get(txn, LDB_MAIN, &k, &got));
    printf("snapshot: city = %.*s\n", (int)got.size, (const char *)got.data);
    ldb_txn_abort(txn);
    int rc = ldb_txn_begin(env, 0, &txn);
    printf("write txn on the snapshot: %s\n",
           rc == LDB_READONLY ? "LDB_READONLY" : ldb_strerror(rc));
    snprintf(side, sizeof side, "%s-lock", snap);
    printf("snapshot lock file: %s\n", access(side, F_OK) == 0 ? "exists" : "none");
    snprintf(side, sizeof side, "%s-wal", snap);
    printf("snapshot log file: %s\n", access(side, F_OK) == 0 ? "exists" : "none");
    TRY("check", ldb_check(env, stderr));
    TRY("close", ldb_close(env));
    return 0;
}
