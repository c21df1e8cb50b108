/* SPDX-License-Identifier: MIT */
/*
 * Recovery as other processes see it (issue 9, bugs 1 and 5).
 *
 *  - race: a log of many committed txns is left by a writer that died; a
 *    first opener A is stopped part-way through replaying it (a test hook
 *    in recovery.c), second openers B (and C) start and wait for the lock
 *    file, then A is killed with SIGKILL, or its recovery fails with an
 *    injected I/O error. Every waiter must open a database holding every
 *    committed txn (the first of them to get the lock file recovers again
 *    from the untouched log), never A's half-replayed state, and the log
 *    must be untouched while A replays.
 *  - trees: two processes create 100 named trees each (each within its
 *    default max_dbs) and are killed; recovery replays all 200 creations
 *    whatever the opener's max_dbs, with the default and with 4.
 *
 * Children never call Check's asserts: they print what went wrong and
 * _exit with a code the parent asserts on. Every wait is bounded.
 */
#include "testutil.h"
#include "os.h"       /* fault injection */
#include "recovery.h" /* ldb__recovery_step_hook */

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RACE_TXNS 4000u
#define EVERY_NAMED 10u /* txn i also puts into tree "side" when i % this == 0 */

static void race_key(unsigned i, char *buf, size_t cap)
{
    snprintf(buf, cap, "key-%06u", i);
}

static size_t race_value(unsigned i, uint8_t *buf)
{
    size_t n = 40 + i % 150;
    for (size_t b = 0; b < n; b++)
        buf[b] = (uint8_t)(i * 31u + b);
    return n;
}

/* Child: commit RACE_TXNS txns, make them durable, then die without closing
 * (so the log holds them all and no checkpoint does). */
static void die_with_log(const char *path)
{
    ldb_options o = {.sync_mode = LDB_SYNC_OFF};
    ldb_env *env;
    int rc = ldb_open(path, &o, &env);
    if (rc) {
        tu_fail("writer open: %s", ldb_strerror(rc));
        tu_child_exit(2);
    }
    for (unsigned i = 0; i < RACE_TXNS; i++) {
        ldb_txn *txn;
        char k[32];
        uint8_t v[200];
        race_key(i, k, sizeof k);
        ldb_val key = tu_str(k), val = {race_value(i, v), v};
        ldb_dbi side = LDB_MAIN;
        rc = ldb_txn_begin(env, 0, &txn);
        if (rc == 0)
            rc = ldb_put(txn, LDB_MAIN, &key, &val, 0);
        if (rc == 0 && i % EVERY_NAMED == 0)
            rc = ldb_dbi_open(txn, "side", LDB_CREATE, &side);
        if (rc == 0 && i % EVERY_NAMED == 0)
            rc = ldb_put(txn, side, &key, &val, 0);
        if (rc == 0)
            rc = ldb_txn_commit(txn);
        if (rc) {
            tu_fail("writer txn %u: %s", i, ldb_strerror(rc));
            tu_child_exit(3);
        }
    }
    rc = ldb_sync(env);
    if (rc) {
        tu_fail("writer sync: %s", ldb_strerror(rc));
        tu_child_exit(4);
    }
    _exit(0); /* no ldb_close: the log is left for recovery */
}

/* 0 if env holds exactly the RACE_TXNS txns' data (tu_fail says otherwise). */
static int race_verify(ldb_env *env)
{
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
    if (rc)
        return tu_fail("read txn: %s", ldb_strerror(rc));
    ldb_dbi side;
    rc = ldb_dbi_open(txn, "side", 0, &side);
    if (rc) {
        ldb_txn_abort(txn);
        return tu_fail("tree side: %s", ldb_strerror(rc));
    }
    unsigned missing = 0, first_missing = 0;
    for (unsigned i = 0; i < RACE_TXNS && rc == 0; i++) {
        char k[32];
        uint8_t v[200];
        race_key(i, k, sizeof k);
        ldb_val key = tu_str(k), got;
        size_t n = race_value(i, v);
        for (int t = 0; t < 2 && rc == 0; t++) {
            if (t == 1 && i % EVERY_NAMED != 0)
                break;
            int r = ldb_get(txn, t ? side : LDB_MAIN, &key, &got);
            if (r == LDB_NOTFOUND) {
                if (missing++ == 0)
                    first_missing = i;
            } else if (r != 0) {
                rc = tu_fail("get %s: %s", k, ldb_strerror(r));
            } else if (got.size != n || memcmp(got.data, v, n) != 0) {
                rc = tu_fail("txn %u's value is wrong", i);
            }
        }
    }
    ldb_txn_abort(txn);
    if (rc == 0 && missing)
        rc = tu_fail("%u committed txns lost, the first txn %u", missing, first_missing);
    return rc;
}

/* ---- the stopped first opener ---------------------------------------------- */

enum stop_mode { STOP_AND_WAIT_FOR_KILL, STOP_THEN_FAIL };

static int hook_report_fd = -1, hook_go_fd = -1;
static uint64_t hook_stop_at;
static enum stop_mode hook_mode;

static void stop_hook(uint64_t replayed)
{
    if (replayed != hook_stop_at)
        return;
    char c = 's';
    if (write(hook_report_fd, &c, 1) != 1)
        _exit(20);
    if (hook_mode == STOP_AND_WAIT_FOR_KILL) {
        for (;;)
            pause();
    }
    if (read(hook_go_fd, &c, 1) != 1)
        _exit(21);
    /* The next write is the next replayed txn's: recovery fails there. */
    ldb__os_fault_set(LDB_FAULT_WRITE, 1, EIO);
}

/* Child A: open, which replays the log and stops in the hook. */
static void stopped_opener(const char *path, enum stop_mode mode, int report_fd, int go_fd)
{
    hook_report_fd = report_fd;
    hook_go_fd = go_fd;
    hook_stop_at = RACE_TXNS / 2;
    hook_mode = mode;
    ldb__recovery_step_hook = stop_hook;
    ldb_env *env;
    int rc = ldb_open(path, NULL, &env);
    if (rc == 0) {
        tu_fail("the stopped opener's open succeeded");
        tu_child_exit(22);
    }
    if (rc != -EIO) {
        tu_fail("the stopped opener's open: %s, not EIO", ldb_strerror(rc));
        tu_child_exit(23);
    }
    tu_child_exit(0);
}

/* Child B: open (waiting for A), find every committed txn, close. */
static void waiting_opener(const char *path)
{
    ldb_env *env;
    int rc = ldb_open(path, NULL, &env);
    if (rc) {
        tu_fail("waiting opener: %s", ldb_strerror(rc));
        tu_child_exit(30);
    }
    if (race_verify(env) != 0)
        tu_child_exit(31);
    if (ldb_check(env, NULL) != 0) {
        ldb_check(env, stderr);
        tu_child_exit(32);
    }
    tu_child_exit(ldb_close(env) ? 33 : 0);
}

/* Wait until pid is blocked waiting for a flock (per /proc/locks). */
static void wait_blocked_on_flock(pid_t pid)
{
    for (int tries = 0; tries < 5000; tries++) {
        FILE *f = fopen("/proc/locks", "r");
        if (f == NULL) {
            usleep(300000); /* no /proc: give it time instead */
            return;
        }
        char line[256];
        int found = 0;
        while (!found && fgets(line, sizeof line, f)) {
            int p;
            if (sscanf(line, "%*s -> %*s %*s %*s %d", &p) == 1 && p == pid)
                found = 1;
        }
        fclose(f);
        if (found)
            return;
        usleep(2000);
    }
    ck_abort_msg("opener %d never waited for the lock file", (int)pid);
}

static void expect_exit0(int status, const char *what)
{
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: status %d", what, status);
}

static void race(enum stop_mode mode, int waiters)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    pid_t w = fork();
    ck_assert_int_ge(w, 0);
    if (w == 0)
        die_with_log(path);
    expect_exit0(tu_wait_child(w, 300, "writer"), "writer");
    char wal[4300];
    snprintf(wal, sizeof wal, "%s-wal", path);
    size_t log_len;
    char *log_before = (char *)tu_read_file(wal, &log_len);

    int rp[2], gp[2];
    ck_assert_int_eq(pipe(rp), 0);
    ck_assert_int_eq(pipe(gp), 0);
    pid_t a = fork();
    ck_assert_int_ge(a, 0);
    if (a == 0) {
        close(rp[0]);
        close(gp[1]);
        stopped_opener(path, mode, rp[1], gp[0]);
    }
    close(rp[1]);
    close(gp[0]);
    struct pollfd pf = {rp[0], POLLIN, 0};
    ck_assert_msg(poll(&pf, 1, 120000) == 1, "the first opener never reached the stop");
    char c;
    ck_assert_int_eq(read(rp[0], &c, 1), 1);

    /* A is stopped half-way: the log must be as the writer left it. */
    size_t log_len_mid;
    char *log_mid = (char *)tu_read_file(wal, &log_len_mid);
    ck_assert_msg(log_len_mid == log_len && memcmp(log_mid, log_before, log_len) == 0,
                  "the log changed during recovery");
    free(log_mid);

    pid_t b[2];
    for (int i = 0; i < waiters; i++) {
        b[i] = fork();
        ck_assert_int_ge(b[i], 0);
        if (b[i] == 0)
            waiting_opener(path);
        wait_blocked_on_flock(b[i]);
    }
    if (mode == STOP_AND_WAIT_FOR_KILL) {
        kill(a, SIGKILL);
        int st = tu_wait_child(a, 60, "first opener");
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "first opener: status %d", st);
    } else {
        ck_assert_int_eq(write(gp[1], "g", 1), 1);
        expect_exit0(tu_wait_child(a, 60, "first opener"), "first opener (open must fail EIO)");
    }
    for (int i = 0; i < waiters; i++)
        expect_exit0(tu_wait_child(b[i], 300, "waiting opener"), "waiting opener");
    close(rp[0]);
    close(gp[1]);
    free(log_before);

    ldb_env *env = tu_open(path, NULL);
    ck_assert_int_eq(race_verify(env), 0);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    tu_remove_dir(dir);
}

START_TEST(test_race_first_opener_killed)
{
    race(STOP_AND_WAIT_FOR_KILL, 2);
}
END_TEST

START_TEST(test_race_first_opener_fails)
{
    race(STOP_THEN_FAIL, 1);
}
END_TEST

/* ---- many named trees --------------------------------------------------------- */

#define MAKER_TREES 100
#define MAKER_KEYS 5

static void tree_name(int maker, int t, char *buf, size_t cap)
{
    snprintf(buf, cap, "maker%d-tree%03d", maker, t);
}

/* Child: create MAKER_TREES trees with MAKER_KEYS keys each (ten trees per
 * txn, under LDB_SYNC_FULL), report, and wait to be killed. */
static void tree_maker(const char *path, int maker, int report_fd)
{
    ldb_env *env;
    int rc = ldb_open(path, NULL, &env);
    for (int t0 = 0; rc == 0 && t0 < MAKER_TREES; t0 += 10) {
        ldb_txn *txn;
        rc = ldb_txn_begin(env, 0, &txn);
        for (int t = t0; rc == 0 && t < t0 + 10; t++) {
            char name[64];
            tree_name(maker, t, name, sizeof name);
            ldb_dbi dbi;
            rc = ldb_dbi_open(txn, name, LDB_CREATE, &dbi);
            for (int k = 0; rc == 0 && k < MAKER_KEYS; k++) {
                char key[16];
                snprintf(key, sizeof key, "k%d", k);
                ldb_val kv = tu_str(key), vv = tu_str(name);
                rc = ldb_put(txn, dbi, &kv, &vv, 0);
            }
        }
        if (rc == 0)
            rc = ldb_txn_commit(txn);
        else
            ldb_txn_abort(txn);
    }
    if (rc) {
        tu_fail("maker %d: %s", maker, ldb_strerror(rc));
        tu_child_exit(40);
    }
    char c = 'd';
    if (write(report_fd, &c, 1) != 1)
        tu_child_exit(41);
    for (;;)
        pause();
}

/* Every tree of both makers with its keys, each tree in a read txn of its
 * own that is aborted (which gives the handle back). */
static void verify_trees(ldb_env *env)
{
    for (int maker = 0; maker < 2; maker++) {
        for (int t = 0; t < MAKER_TREES; t++) {
            char name[64];
            tree_name(maker, t, name, sizeof name);
            ldb_txn *txn;
            TU_RC_OK(ldb_txn_begin(env, LDB_TXN_RDONLY, &txn));
            ldb_dbi dbi;
            int rc = ldb_dbi_open(txn, name, 0, &dbi);
            TU_REQUIRE(rc == 0, "tree %s: %s", name, ldb_strerror(rc));
            ldb_tree_stat st;
            TU_RC_OK(ldb_dbi_stat(txn, dbi, &st));
            TU_REQUIRE(st.entries == MAKER_KEYS, "tree %s: %" PRIu64 " entries", name, st.entries);
            ldb_val kv = tu_str("k3"), v;
            TU_RC_OK(ldb_get(txn, dbi, &kv, &v));
            TU_REQUIRE(v.size == strlen(name) && memcmp(v.data, name, v.size) == 0,
                       "tree %s: wrong value", name);
            ldb_txn_abort(txn);
        }
    }
}

START_TEST(test_recovery_ignores_max_dbs)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    int rp[2];
    ck_assert_int_eq(pipe(rp), 0);
    pid_t maker[2];
    for (int m = 0; m < 2; m++) {
        maker[m] = fork();
        ck_assert_int_ge(maker[m], 0);
        if (maker[m] == 0) {
            close(rp[0]);
            tree_maker(path, m, rp[1]);
        }
        struct pollfd pf = {rp[0], POLLIN, 0};
        ck_assert_msg(poll(&pf, 1, 120000) == 1, "maker %d never finished", m);
        char c;
        ck_assert_int_eq(read(rp[0], &c, 1), 1);
    }
    /* Both have the database open until now: the log holds all 200. */
    for (int m = 0; m < 2; m++) {
        kill(maker[m], SIGKILL);
        tu_wait_child(maker[m], 60, "maker");
    }
    close(rp[0]);
    close(rp[1]);

    ldb_options small = {.max_dbs = 4};
    ldb_env *env = tu_open(path, &small);
    tu_check_env(env);
    verify_trees(env);
    ck_assert_int_eq(ldb_close(env), 0);
    env = tu_open(path, NULL);
    verify_trees(env);
    TU_RC_OK(ldb_checkpoint(env));
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    tu_remove_dir(dir);
}
END_TEST

static Suite *recovery_suite(void)
{
    Suite *s = suite_create("recovery");
    TCase *tc = tcase_create("race");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_race_first_opener_killed);
    tcase_add_test(tc, test_race_first_opener_fails);
    suite_add_tcase(s, tc);
    tc = tcase_create("trees");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_recovery_ignores_max_dbs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {recovery_suite()};
    return tu_run_suites(suites, 1);
}
