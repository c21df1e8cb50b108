/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the input is the lock file of a small valid database. The
 * first input byte picks whether another process still has the database
 * open when the damaged lock file is written (then this opener takes the
 * attach path) or not (then the opener finds the file with no live owner).
 * The opener that succeeds walks, checks and commits a write.
 *
 * The holder is a child process, killed at the end: its own handle sits on
 * memory that was overwritten under it (its process-shared mutexes too,
 * which glibc may abort on), which no library survives; what is fuzzed is
 * the process that opens the damaged file.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"
#include "lock.h"

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

/* A process that opens the database, writes, and keeps it open until
 * killed; -1 if it could not. */
static pid_t start_holder(const char *path, const ldb_options *o)
{
    int ready[2];
    if (pipe(ready) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        ldb_env *env;
        char ok = ldb_open(path, o, &env) == 0;
        if (ok)
            use(env);
        (void)!write(ready[1], &ok, 1);
        for (;;)
            pause();
    }
    char ok = 0;
    close(ready[1]);
    if (pid > 0 && read(ready[0], &ok, 1) != 1)
        ok = 0;
    close(ready[0]);
    if (pid > 0 && !ok) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        pid = -1;
    }
    return pid;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[300], lock[310];
    ldb_env *env;
    ldb_options o = {0};
    pid_t holder = -1;

#ifdef LDB_TEST_HOOKS
    /* A damaged file held open is reported after ~2.5 s by default: each
     * input would take that long. The loop is the same with fewer rounds. */
    ldb__lock_set_not_ready_rounds(4);
#endif
    snprintf(path, sizeof path, "%s/db", fuzz_dir());
    snprintf(lock, sizeof lock, "%s-lock", path);
    o.sync_mode = LDB_SYNC_OFF;
    /* A small valid database to start from. */
    if (ldb_open(path, &o, &env) != 0)
        return 0;
    use(env);
    ldb_close(env);
    if (size > 0 && (data[0] & 1) && (holder = start_holder(path, &o)) < 0)
        return 0;
    if (size > 0)
        fuzz_write_file(lock, data + 1, size - 1);
    if (ldb_open(path, &o, &env) == 0) {
        use(env);
        ldb_close(env);
    }
    if (holder > 0) {
        kill(holder, SIGKILL);
        waitpid(holder, NULL, 0);
    }
    fuzz_dir_clean();
    return 0;
}
