/* SPDX-License-Identifier: MIT */
/*
 * kill -9 (issue 4): a child commits deterministic random txns (see
 * workload.h) in a loop and reports each commit through a pipe, before it
 * begins and once ldb_txn_commit returned 0; the parent SIGKILLs it at a
 * random moment (from inside its open to 15 ms of commits after it,
 * some inside ldb_checkpoint and the automatic checkpoints of a small log),
 * then reopens the database, which recovers the dead process's log: ldb_check
 * passes and the database equals the model after every acknowledged txn,
 * plus at most the one txn whose commit was in flight. Both sync modes
 * (a process crash loses nothing acknowledged under LDB_SYNC_OFF either).
 * One round in four commits from 3 threads at once (group commit; then one
 * txn per thread may be in flight, and the txns are ordered by their ids,
 * see wl_outcome). One round in four kills a second child while it opens,
 * that is, while it replays the first one's log, and a third child opens
 * meanwhile, racing that recovery (it waits for the lock file, then finds
 * the recovery finished or, if the second child died first, does it
 * again), and closes: if it took half a recovery for a whole one, its
 * close would checkpoint that and empty the log, and acknowledged txns
 * would be missing from the database.
 *
 * Readers in other processes (LDB_KILL_READERS, default 1) open the database
 * with the committer and walk every tree of snapshot after snapshot (a
 * walk must agree with the tree's entry count) until they are killed too,
 * just after the committer: they hold reader slots and the lock file across
 * its death, and leave dead slots behind for the next opener.
 *
 * One database serves every round of a batch and the model carries over, so
 * late rounds run on a database with history. LDB_KILL_ROUNDS sets the
 * rounds of a batch (default 200), LDB_KILL_BATCHES the batches (default 1,
 * each a test of its own on a fresh database; `make check-long` runs 10 of
 * 100), LDB_TEST_SEED replays a run. At the end the program prints
 * "kill: N passed, N failed" in rounds (a failed round ends its batch).
 */
#include "testutil.h"
#include "workload.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const wl_params kill_params = {.keys = 400, .abort_pct = 10, .big_every = 40};

typedef struct committer_arg {
    ldb_env *env;
    uint64_t seed, j0;
} committer_arg;

/* Commit txns j0, j0+1, ... until killed. */
static void *commit_loop(void *arg)
{
    const committer_arg *a = arg;
    for (uint64_t j = a->j0;; j++) {
        wl_txn t;
        wl_gen(&kill_params, a->seed, j, &t);
        enum wl_stage stage;
        int rc = wl_run(a->env, &t, wl_report_commit, NULL, &stage);
        if (rc)
            wl_child_exit(3, "txn %" PRIu64 " (stage %d): %s", j, (int)stage, ldb_strerror(rc));
        if (stage == WL_STAGE_COMMIT)
            wl_send(WL_MSG_ACK, j, 0, 0);
        if (wl_mix(a->seed ^ j) % 29 == 0) {
            rc = ldb_checkpoint(a->env);
            if (rc)
                wl_child_exit(4, "checkpoint after txn %" PRIu64 ": %s", j, ldb_strerror(rc));
            wl_send(WL_MSG_DURABLE, j, 0, 0);
        }
    }
    return NULL;
}

/* nthreads threads commit on one env until killed; thread i runs txns
 * j0 + i * THREAD_SPAN on. */
enum { THREAD_SPAN = 1000000 };

static void committer(const char *path, const ldb_options *o, uint64_t seed, uint64_t j0,
                      int nthreads)
{
    ldb_env *env;
    int rc = ldb_open(path, o, &env);
    if (rc)
        wl_child_exit(2, "open: %s", ldb_strerror(rc));
    wl_send(WL_MSG_INFO, 0, 0, 0); /* open: the parent's clock starts */
    committer_arg a[4];
    pthread_t th[4];
    for (int i = 0; i < nthreads; i++) {
        a[i] = (committer_arg){env, seed, j0 + (uint64_t)i * THREAD_SPAN};
        if (i + 1 < nthreads && pthread_create(&th[i], NULL, commit_loop, &a[i]) != 0)
            wl_child_exit(5, "pthread_create");
    }
    commit_loop(&a[nthreads - 1]);
}

/* Open (replaying the log of the one killed before) and wait to be killed. */
static void opener(const char *path, const ldb_options *o)
{
    ldb_env *env;
    int rc = ldb_open(path, o, &env);
    if (rc)
        wl_child_exit(2, "open: %s", ldb_strerror(rc));
    for (;;)
        pause();
}

/* Wait delay_us, open (racing the opener above, often waiting for it as it
 * recovers), close (which checkpoints and empties the log when alone). */
static void racing_opener(const char *path, const ldb_options *o, uint64_t delay_us)
{
    usleep((useconds_t)delay_us);
    ldb_env *env;
    int rc = ldb_open(path, o, &env);
    if (rc)
        wl_child_exit(2, "racing open: %s", ldb_strerror(rc));
    rc = ldb_close(env);
    if (rc)
        wl_child_exit(3, "racing close: %s", ldb_strerror(rc));
    _exit(0);
}

/* Walk tree dbi of txn; its entries must be as many as its stat says. */
static void reader_walk(ldb_txn *txn, ldb_dbi dbi)
{
    ldb_tree_stat st;
    ldb_cursor *cur;
    int rc = ldb_dbi_stat(txn, dbi, &st);
    if (rc == 0)
        rc = ldb_cursor_open(txn, dbi, &cur);
    if (rc)
        wl_child_exit(3, "reader: tree stat or cursor: %s", ldb_strerror(rc));
    uint64_t n = 0;
    ldb_val k, v;
    for (rc = ldb_cursor_get(cur, &k, &v, LDB_FIRST); rc == 0;
         rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT))
        n++;
    ldb_cursor_close(cur);
    if (rc != LDB_NOTFOUND || n != st.entries)
        wl_child_exit(4, "reader: walked %" PRIu64 " entries of %" PRIu64 " (%s)", n, st.entries,
                      ldb_strerror(rc));
}

/* Read snapshot after snapshot of every tree until killed. */
static void reader(const char *path, const ldb_options *o)
{
    ldb_env *env;
    int rc = ldb_open(path, o, &env);
    if (rc)
        wl_child_exit(2, "reader open: %s", ldb_strerror(rc));
    for (;;) {
        ldb_txn *txn;
        rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
        if (rc)
            wl_child_exit(2, "reader txn: %s", ldb_strerror(rc));
        for (int t = 0; t < WL_TREES; t++) {
            ldb_dbi dbi = LDB_MAIN;
            rc = t ? ldb_dbi_open(txn, wl_tree_names[t], 0, &dbi) : 0;
            if (rc == 0)
                reader_walk(txn, dbi);
            else if (rc != LDB_NOTFOUND)
                wl_child_exit(2, "reader dbi open: %s", ldb_strerror(rc));
        }
        ldb_txn_abort(txn);
    }
}

/* Let the child run for delay_us microseconds (after_open: from the moment
 * it reports its open done), reading its reports, then kill it. */
static void run_then_kill(pid_t pid, int rfd, wl_log *log, uint64_t delay_us, int after_open)
{
    if (after_open) {
        double give_up = wl_now() + 60;
        while (log->n == 0 && wl_now() < give_up)
            if (wl_read(rfd, log, 100))
                break; /* EOF: the child died on its own; wl_kill reports it */
    }
    double end = wl_now() + (double)delay_us * 1e-6;
    for (;;) {
        double left = end - wl_now();
        if (left <= 0)
            break;
        if (left < 0.002) {
            usleep((useconds_t)(left * 1e6));
            break;
        }
        if (wl_read(rfd, log, (int)(left * 1000)))
            break; /* EOF: the child died on its own; wl_kill reports it */
    }
    wl_kill(pid, rfd, log);
}

/* Rounds passed, over every batch (shared with the forked tests). */
static int *rounds_passed;

START_TEST(test_kill_rounds)
{
    uint64_t seed = wl_test_seed("kill") + (uint64_t)_i * 0x9e3779b97f4a7c15ull;
    int rounds = (int)tu_env_u64("LDB_KILL_ROUNDS", 200);
    int nreaders = (int)tu_env_u64("LDB_KILL_READERS", 1);
    if (nreaders > 4)
        nreaders = 4;
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = tu_open(path, NULL);
    ck_assert_int_eq(ldb_close(env), 0);
    wl_model *m = wl_model_new();
    uint64_t j0 = 1;
    size_t acked_total = 0;
    int landed = 0, in_open = 0, recovery_kills = 0, threaded = 0;
    double t0 = wl_now();
    for (int r = 0; r < rounds; r++) {
        uint64_t x = wl_mix(seed + (uint64_t)r);
        ldb_options o = {.sync_mode = x % 2 ? LDB_SYNC_OFF : LDB_SYNC_FULL,
                         .wal_max_bytes = (x >> 4) % 2 ? 32u << 10 : 1u << 20};
        wl_options(&o);
        /* Mostly while committing, up to 15 ms after the open; one round in
         * eight early, in the open. */
        int in_open_round = (x >> 30) % 8 == 0;
        uint64_t delay = in_open_round ? (x >> 8) % 3000 : (x >> 8) % 15000;
        /* One round in four commits from 3 threads (group commit). */
        int nthreads = (x >> 50) % 4 == 0 ? 3 : 1;
        char what[200];
        snprintf(what, sizeof what,
                 "seed %" PRIu64 " round %d (%s, %d threads, killed %" PRIu64
                 " us after the %s, txns from %" PRIu64 ")",
                 seed, r, x % 2 ? "LDB_SYNC_OFF" : "LDB_SYNC_FULL", nthreads, delay,
                 in_open_round ? "fork" : "open", j0);
        int rfd, reader_fd[4];
        pid_t pid = wl_fork(&rfd), readers[4];
        if (pid == 0)
            committer(path, &o, seed, j0, nthreads);
        for (int i = 0; i < nreaders; i++) {
            readers[i] = wl_fork(&reader_fd[i]);
            if (readers[i] == 0)
                reader(path, &o);
        }
        wl_log log = {0};
        run_then_kill(pid, rfd, &log, delay, !in_open_round);
        for (int i = 0; i < nreaders; i++) {
            wl_log none = {0};
            wl_kill(readers[i], reader_fd[i], &none);
            wl_log_free(&none);
        }
        if ((x >> 40) % 4 == 0) {
            /* Kill the next opener too, likely while it recovers, while a
             * third one opens. */
            pid = wl_fork(&rfd);
            if (pid == 0)
                opener(path, &o);
            int racer_fd;
            pid_t racer = wl_fork(&racer_fd);
            if (racer == 0)
                racing_opener(path, &o, (x >> 44) % 1500);
            wl_log none = {0};
            run_then_kill(pid, rfd, &none, (x >> 42) % 4000, 0);
            wl_expect_exit0(wl_finish(racer, racer_fd, &none, 120, what), what);
            wl_log_free(&none);
            recovery_kills++;
        }
        wl_outcome out;
        wl_outcome_of(&log, &out);
        ck_assert_msg(out.failed == 0 && !out.panicked, "%s: a commit failed", what);
        /* At most one txn in flight per thread beyond the acknowledged ones. */
        ck_assert_msg(out.n <= out.acked + (size_t)nthreads, "%s: %zu commits in flight", what,
                      out.n - out.acked);
        size_t k;
        env = wl_open_and_match(path, &o, m, &kill_params, seed, out.js, out.n, out.acked, what,
                                &log, &k);
        ck_assert_int_eq(ldb_close(env), 0);
        wl_model_forget(m);
        landed += k > out.acked;
        threaded += nthreads > 1;
        in_open += log.n == 0 || (log.n == 1 && log.m[0].type == WL_MSG_INFO);
        acked_total += out.acked;
        uint64_t top = j0;
        for (size_t i = 0; i < log.n; i++)
            if (log.m[i].j > top)
                top = log.m[i].j;
        j0 = top + 1;
        wl_outcome_free(&out);
        wl_log_free(&log);
        __atomic_add_fetch(rounds_passed, 1, __ATOMIC_RELAXED);
    }
    /* The kills must not all come too early to test anything. */
    ck_assert_msg(acked_total >= (size_t)rounds / 2, "only %zu txns acknowledged in %d rounds",
                  acked_total, rounds);
    env = tu_open(path, NULL);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    fprintf(stderr,
            "kill: %d rounds (%d with 3 threads), %zu acknowledged txns, %zu entries at the end; "
            "killed before the first commit %d times, in-flight txns landed %d times, %d openers "
            "killed (each raced by another opener); %.1f s\n",
            rounds, threaded, acked_total, wl_model_entries(m), in_open, landed, recovery_kills,
            wl_now() - t0);
    wl_model_free(m);
    tu_remove_dir(dir);
}
END_TEST

static Suite *kill_suite(void)
{
    Suite *s = suite_create("kill");
    TCase *tc = tcase_create("kill");
    tcase_set_timeout(tc, 900);
    tcase_add_loop_test(tc, test_kill_rounds, 0, (int)tu_env_u64("LDB_KILL_BATCHES", 1));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* Shared with the tests, which Check forks. */
    rounds_passed = mmap(NULL, sizeof *rounds_passed, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (rounds_passed == MAP_FAILED)
        return 99;
    SRunner *sr = srunner_create(kill_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr); /* a failed round ends its batch */
    srunner_free(sr);
    printf("kill: %d passed, %d failed\n", *rounds_passed, failed);
    return failed ? 1 : 0;
}
