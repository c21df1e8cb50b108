/* SPDX-License-Identifier: MIT */
/*
 * readers.c: many reader processes on one database while a writer goes on.
 *
 * Usage: readers DIR (the database is DIR/counter.ldb). Commits 100 keys,
 * then forks 4 reader processes. Each opens its own env (an env is never
 * used across fork) read-only, takes a snapshot, and counts the keys: it
 * sees exactly the 100 keys committed before its snapshot, though the
 * parent keeps committing meanwhile. Readers never wait for the writer.
 */
#include <lightningdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NREADERS 4
#define NKEYS 100

static int put_keys(ldb_env *env, int from, int to)
{
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, 0, &txn);
    for (int i = from; rc == 0 && i < to; i++) {
        char kb[16];
        ldb_val k = {(size_t)snprintf(kb, sizeof kb, "key%05d", i), kb}, v = {1, "v"};
        rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
    }
    if (rc != 0) {
        ldb_txn_abort(txn);
        return rc;
    }
    return ldb_txn_commit(txn);
}

/* A reader process: its own env, one snapshot, a count, then the snapshot
 * is held for a moment while the parent commits more. */
static int reader(const char *path, int ready_fd)
{
    ldb_options opts = {0};
    ldb_env *env;
    ldb_txn *txn;
    ldb_cursor *cur;
    ldb_val k, v;
    int n = 0, rc;

    opts.flags = LDB_RDONLY;
    if (ldb_open(path, &opts, &env) != 0 || ldb_txn_begin(env, LDB_TXN_RDONLY, &txn) != 0)
        return 1;
    /* The snapshot is taken: let the parent write. */
    if (write(ready_fd, "r", 1) != 1)
        return 1;
    usleep(100 * 1000);
    if (ldb_cursor_open(txn, LDB_MAIN, &cur) != 0)
        return 1;
    while ((rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) == 0)
        n++;
    ldb_cursor_close(cur);
    ldb_txn_abort(txn);
    ldb_close(env);
    return rc == LDB_NOTFOUND && n == NKEYS ? 0 : 1;
}

int main(int argc, char **argv)
{
    char path[4096];
    ldb_env *env;
    int fds[2], ok = 0;
    pid_t pids[NREADERS];

    if (argc != 2) {
        fprintf(stderr, "usage: readers DIR\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/counter.ldb", argv[1]);
    if (ldb_open(path, NULL, &env) != 0 || put_keys(env, 0, NKEYS) != 0)
        return 1;
    if (pipe(fds) != 0)
        return 1;
    for (int i = 0; i < NREADERS; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            close(fds[0]);
            _exit(reader(path, fds[1]));
        }
    }
    close(fds[1]);
    /* Once every reader holds its snapshot, commit 50 more keys. */
    for (int i = 0; i < NREADERS; i++) {
        char c;
        if (read(fds[0], &c, 1) != 1)
            break;
    }
    if (put_keys(env, NKEYS, NKEYS + 50) != 0)
        return 1;
    for (int i = 0; i < NREADERS; i++) {
        int status;
        if (waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status) &&
            WEXITSTATUS(status) == 0)
            ok++;
    }
    printf("%d of %d readers saw exactly %d keys\n", ok, NREADERS, NKEYS);

    ldb_stat st;
    ldb_tree_stat ts;
    ldb_txn *txn;
    if (ldb_txn_begin(env, LDB_TXN_RDONLY, &txn) != 0)
        return 1;
    if (ldb_dbi_stat(txn, LDB_MAIN, &ts) != 0)
        return 1;
    ldb_txn_abort(txn);
    if (ldb_stat_env(env, &st) != 0 || ldb_check(env, stderr) != 0)
        return 1;
    printf("the database now holds %llu keys; open readers: %u\n",
           (unsigned long long)ts.entries, (unsigned)st.readers_used);
    return ldb_close(env) == 0 && ok == NREADERS ? 0 : 1;
}
