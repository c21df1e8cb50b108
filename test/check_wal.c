/* SPDX-License-Identifier: MIT */
/*
 * The write-ahead log (issue 4): durability, group commit, checkpoints, and
 * recovery from what a dead process left behind.
 *
 * A "crash" here is a process that commits and then _exit()s without
 * ldb_close (no checkpoint on close): only the log holds its txns, and the
 * next ldb_open must replay it. Power loss is check_crash's subject, kill -9
 * at random moments check_kill's.
 *
 * Suites:
 *  - durability: commits under LDB_SYNC_FULL and LDB_SYNC_OFF read back
 *    after close and reopen, and after a crash (hand-written txns cover named
 *    tree creation, emptying and deletion, deletes, overflow values replaced
 *    and deleted, cursor deletes and an aborted txn, then generated ones);
 *    the data file alone opens to its last checkpoint; ldb_stat_env's
 *    wal_size grows with commits and falls back to the log header at
 *    ldb_checkpoint, checkpoints counts them; the log is checkpointed when it
 *    passes wal_max_bytes; a txn too big for half of it commits as a
 *    checkpoint and never enters the log; a commit whose k-th write fails
 *    (its record or one of its pages) is absent after a crash, under both
 *    sync modes, with and without a commit after it; so is one whose
 *    commit-state write fails after its record was written (alone on the
 *    log and in a group, with and without a power loss).
 *  - group: 8 threads x 300 single-put LDB_SYNC_FULL txns, and 3 processes
 *    x 2 threads x 100, then a crash: every txn is there, ids unique and
 *    consecutive; the sync count is printed (batching).
 *  - tail: the log of a crashed process damaged after the fact (garbage past
 *    its end, cut short, a byte flipped anywhere or in its last record, its
 *    last sector zeroed): recovery replays exactly the records before the
 *    damage, ldb_check passes, the env works on; except that a flipped byte
 *    in a record before the last (durable: a later record says so) makes
 *    ldb_open refuse, and ldb_salvage then keeps exactly those records
 *    (check_waldamage tests that case in depth). Another database's log
 *    put in its place is not replayed.
 *  - rdonly: LDB_RDONLY on a database needing recovery recovers it (root
 *    can write) and reads; LDB_IMMUTABLE gives LDB_READONLY until then; a
 *    user who cannot write the files gets LDB_READONLY (root only).
 *
 * LDB_TEST_SEED replays a run (the seed is printed); LDB_WAL_TAIL_ROUNDS
 * sets the number of damaged logs (default 60).
 */
#include "testutil.h"
#include "workload.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "durable.h"
#include "os.h"
#include "txn.h"
#include "wal.h"

/* ---- helpers ---------------------------------------------------------------- */

static ldb_stat stat_of(ldb_env *env)
{
    ldb_stat st;
    int rc = ldb_stat_env(env, &st);
    ck_assert_msg(rc == 0, "ldb_stat_env: %s", ldb_strerror(rc));
    return st;
}

static void put_kv(ldb_env *env, const char *key, const void *val, size_t vlen)
{
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, 0, &txn);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
    ldb_val k = tu_str(key), v = {vlen, val};
    rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
    ck_assert_msg(rc == 0, "put %s: %s", key, ldb_strerror(rc));
    rc = ldb_txn_commit(txn);
    ck_assert_msg(rc == 0, "commit %s: %s", key, ldb_strerror(rc));
}

/* The value of key in LDB_MAIN must be want (vlen bytes). */
static void expect_kv(ldb_env *env, const char *key, const void *want, size_t vlen)
{
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
    ldb_val k = tu_str(key), v;
    rc = ldb_get(txn, LDB_MAIN, &k, &v);
    ck_assert_msg(rc == 0, "get %s: %s", key, ldb_strerror(rc));
    ck_assert_msg(v.size == vlen && memcmp(v.data, want, vlen) == 0, "get %s: wrong value", key);
    ldb_txn_abort(txn);
}

static void fill(uint8_t *buf, size_t n, uint64_t tag)
{
    wl_value(tag, 0, (uint32_t)n, buf);
}

/* Child side: run txns js[0..n) of the workload on env, reporting each
 * acknowledged one with the log's end after it; any failure ends the child. */
static void child_run(ldb_env *env, const wl_params *p, uint64_t seed, uint64_t from, uint64_t to)
{
    for (uint64_t j = from; j < to; j++) {
        wl_txn t;
        wl_gen(p, seed, j, &t);
        enum wl_stage stage;
        int rc = wl_run(env, &t, wl_report_commit, NULL, &stage);
        if (rc)
            wl_child_exit(3, "txn %" PRIu64 " (stage %d): %s", j, (int)stage, ldb_strerror(rc));
        if (stage == WL_STAGE_COMMIT) {
            ldb_stat st;
            ldb_stat_env(env, &st);
            wl_send(WL_MSG_ACK, j, 0, st.wal_size);
        }
    }
}

static ldb_env *child_open(const char *path, const ldb_options *o)
{
    ldb_env *env;
    int rc = ldb_open(path, o, &env);
    if (rc)
        wl_child_exit(2, "open %s: %s", path, ldb_strerror(rc));
    return env;
}

/* ---- hand-written txns: every kind of change recovery must replay ------------------- */

static void add_op(wl_txn *t, int kind, int tree, uint32_t key, uint32_t vlen, unsigned count)
{
    wl_op *o = &t->ops[t->nops++];
    o->kind = (uint8_t)kind;
    o->tree = (uint8_t)tree;
    o->key = key;
    o->vlen = vlen;
    o->count = (uint16_t)count;
}

enum { SCRIPTED = 10 }; /* txns 1..SCRIPTED are hand-written */

static int script(uint64_t j, wl_txn *t)
{
    switch (j) {
    case 1: /* a named tree created, and overflow values */
        add_op(t, WL_CREATE, 1, 0, 0, 0);
        for (uint32_t k = 1; k <= 20; k++)
            add_op(t, WL_PUT, 1, k, 10 + k, 0);
        for (uint32_t k = 1; k <= 8; k++)
            add_op(t, WL_PUT, 0, k, 5000 + 500 * k, 0);
        return 1;
    case 2: /* a tree created by its first put; a delete */
        for (uint32_t k = 1; k <= 30; k++)
            add_op(t, WL_PUT, 2, k, 300, 0);
        add_op(t, WL_DEL, 0, 3, 0, 0);
        return 1;
    case 3: /* cursor deletes */
        add_op(t, WL_CURSOR_DEL, 1, 5, 0, 6);
        add_op(t, WL_CURSOR_DEL, 0, 0, 0, 2);
        add_op(t, WL_CURSOR_DEL, 2, 28, 0, 5); /* runs off the end */
        return 1;
    case 4: /* a tree emptied, then written again */
        add_op(t, WL_EMPTY, 1, 0, 0, 0);
        add_op(t, WL_PUT, 1, 7, 77, 0);
        return 1;
    case 5: /* a tree deleted; another created empty */
        add_op(t, WL_DELETE, 2, 0, 0, 0);
        add_op(t, WL_CREATE, 3, 0, 0, 0);
        return 1;
    case 6: /* a deleted tree created again; a new empty tree deleted */
        add_op(t, WL_CREATE, 2, 0, 0, 0);
        add_op(t, WL_PUT, 2, 2, 7000, 0);
        add_op(t, WL_DELETE, 3, 0, 0, 0);
        return 1;
    case 7: /* aborted: none of it may show */
        t->abort = 1;
        for (uint32_t k = 100; k < 110; k++)
            add_op(t, WL_PUT, 0, k, 3000, 0);
        add_op(t, WL_DELETE, 1, 0, 0, 0);
        return 1;
    case 8: /* overflow values deleted and replaced by overflow values */
        add_op(t, WL_DEL, 0, 4, 0, 0);
        add_op(t, WL_DEL, 0, 5, 0, 0);
        add_op(t, WL_PUT, 0, 6, 12000, 0);
        return 1;
    case 9: /* an overflow value replaced by a small one, a small by an empty one */
        add_op(t, WL_PUT, 0, 7, 20, 0);
        add_op(t, WL_PUT, 1, 7, 0, 0);
        return 1;
    case 10: /* a tree deleted and created again in one txn, then LDB_MAIN emptied and refilled */
        add_op(t, WL_DELETE, 1, 0, 0, 0);
        add_op(t, WL_PUT, 1, 9, 900, 0);
        add_op(t, WL_EMPTY, 0, 0, 0, 0);
        add_op(t, WL_PUT, 0, 11, 4500, 0);
        return 1;
    default:
        return 0;
    }
}

static const wl_params script_params = {.keys = 300, .abort_pct = 10, .script = script};

/* ---- durability ------------------------------------------------------------------ */

START_TEST(test_reopen_after_close)
{
    const int sync_mode = _i ? LDB_SYNC_OFF : LDB_SYNC_FULL;
    uint64_t seed = wl_test_seed("wal reopen");
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = {.sync_mode = sync_mode};
    ldb_env *env = tu_open(path, &o);
    wl_model *m = wl_model_new();
    for (uint64_t j = 1; j < 120; j++) {
        wl_txn t;
        wl_gen(&script_params, seed, j, &t);
        enum wl_stage stage;
        int rc = wl_run(env, &t, NULL, NULL, &stage);
        ck_assert_msg(rc == 0, "txn %" PRIu64 ": %s", j, ldb_strerror(rc));
        if (stage == WL_STAGE_COMMIT)
            wl_model_apply(m, &t);
    }
    char msg[512] = "";
    ck_assert_msg(wl_db_diff(env, m, msg, sizeof msg) == 0, "before close: %s", msg);
    ck_assert_int_eq(ldb_close(env), 0);
    env = tu_open(path, &o);
    ck_assert_msg(wl_db_diff(env, m, msg, sizeof msg) == 0, "after reopen: %s", msg);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    wl_model_free(m);
    tu_remove_dir(dir);
}
END_TEST

START_TEST(test_recover_after_exit)
{
    const int sync_mode = _i ? LDB_SYNC_OFF : LDB_SYNC_FULL;
    uint64_t seed = wl_test_seed("wal recover");
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = {.sync_mode = sync_mode};
    int rfd;
    pid_t pid = wl_fork(&rfd);
    if (pid == 0) {
        ldb_env *env = child_open(path, &o);
        child_run(env, &script_params, seed, 1, SCRIPTED + 1);
        child_run(env, &script_params, seed, 100, 260);
        wl_child_exit(0, "done"); /* no ldb_close: the log alone holds the txns */
    }
    wl_log log = {0};
    wl_expect_exit0(wl_finish(pid, rfd, &log, 120, "committer"), "committer");
    wl_outcome out;
    wl_outcome_of(&log, &out);
    ck_assert_msg(out.n == out.acked && out.failed == 0, "the child reported failures");
    ck_assert_msg(out.n > 100, "only %zu commits", out.n);

    /* The data file alone is the state of its last checkpoint (the open
     * that created it): nothing of the txns, and consistent. */
    char dir2[4096], path2[4200];
    tu_fresh_db(dir2, sizeof dir2, path2, sizeof path2);
    ck_assert_int_eq(tu_copy_file(path, path2), 0);
    wl_model *m = wl_model_new();
    ldb_env *env = tu_open(path2, &o);
    char msg[512] = "";
    ck_assert_msg(wl_db_diff(env, m, msg, sizeof msg) == 0, "data file without its log: %s", msg);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);

    /* With the log: every acknowledged txn, nothing else. */
    size_t k;
    env = wl_open_and_match(path, &o, m, &script_params, seed, out.js, out.n, out.n,
                            "recovery after exit", &log, &k);
    ldb_stat st = stat_of(env);
    ck_assert_msg(st.wal_size == 0, "wal_size %" PRIu64 " right after recovery", st.wal_size);
    /* The recovered env takes new commits, and they last. */
    put_kv(env, "after-recovery", "x", 1);
    ck_assert_int_eq(ldb_close(env), 0);
    env = tu_open(path, &o);
    expect_kv(env, "after-recovery", "x", 1);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    wl_outcome_free(&out);
    wl_log_free(&log);
    wl_model_free(m);
    tu_remove_dir(dir);
    tu_remove_dir(dir2);
}
END_TEST

/* The start both failing children share: open path, commit "before" =
 * "small", and begin the txn that puts "failed" = *failed_value. Any
 * failure here exits 2. */
static void failing_child_begin(const char *path, int sync_mode, const ldb_val *failed_value,
                                ldb_env **env, ldb_txn **txn)
{
    ldb_options o = {.sync_mode = sync_mode};
    ldb_val kb = tu_str("before"), kf = tu_str("failed"), vs = {5, "small"};
    if (ldb_open(path, &o, env) != 0)
        _exit(2);
    if (ldb_txn_begin(*env, 0, txn) != 0 || ldb_put(*txn, LDB_MAIN, &kb, &vs, 0) != 0 ||
        ldb_txn_commit(*txn) != 0)
        _exit(2);
    if (ldb_txn_begin(*env, 0, txn) != 0 || ldb_put(*txn, LDB_MAIN, &kf, failed_value, 0) != 0)
        _exit(2);
}

/* Child side of test_failed_commit_leaves_no_trace: commit "before", fail
 * the k-th write of the commit of "failed" (a value over several pages),
 * commit "after" if asked, and die without closing; with a power_seed, the
 * power-loss simulation runs from the failing commit on and the power goes
 * before the exit. Exits 0 if "failed" failed, 1 if it committed (the fault
 * came too late), else 2. */
static void failing_commit_child(const char *path, int sync_mode, uint64_t k, int then_commit,
                                 uint64_t power_seed)
{
    uint8_t big[20000];
    fill(big, sizeof big, 7);
    ldb_val ka = tu_str("after"), vs = {5, "small"}, vb = {sizeof big, big};
    ldb_env *env;
    ldb_txn *txn;
    failing_child_begin(path, sync_mode, &vb, &env, &txn);
    if (power_seed)
        ldb__os_crashsim_start(power_seed);
    ldb__os_fault_reset();
    ldb__os_fault_set(LDB_FAULT_WRITE, k, EIO);
    int rc = ldb_txn_commit(txn);
    ldb__os_fault_reset();
    if (rc != 0 && rc != -EIO)
        _exit(2);
    if (then_commit && (ldb_txn_begin(env, 0, &txn) != 0 ||
                        ldb_put(txn, LDB_MAIN, &ka, &vs, 0) != 0 || ldb_txn_commit(txn) != 0))
        _exit(2);
    if (power_seed)
        ldb__os_crashsim_crash();
    _exit(rc == 0 ? 1 : 0); /* no ldb_close: recovery replays the log */
}

/* A commit that fails leaves no trace after a crash, whichever of its
 * writes failed: its log record is written while its data pages are
 * (commit.c; under LDB_SYNC_FULL with the record's sync submitted too), so
 * a page that fails after the record was written must take the record
 * back, or recovery would replay a txn the application was told had
 * failed. Under LDB_SYNC_FULL the record may be durable by then, so taking
 * it back must be durable too: the third round loses power after the
 * failed commit (no later commit's sync covers the take-back). Then the
 * env commits on. */
START_TEST(test_failed_commit_leaves_no_trace)
{
    const int sync_mode = _i == 1 ? LDB_SYNC_OFF : LDB_SYNC_FULL;
    const int power_loss = _i == 2;
    int failures = 0;
    for (uint64_t k = 1; k <= 4; k++) {
        for (int round = 0; round < 2; round++) {
            /* With a power loss, two seeds; a later commit would sync. */
            int then_commit = power_loss ? 0 : round;
            uint64_t power_seed = power_loss ? 2 * k + (uint64_t)round : 0;
            char dir[4096], path[4200];
            tu_fresh_db(dir, sizeof dir, path, sizeof path);
            pid_t pid = fork();
            ck_assert_int_ge(pid, 0);
            if (pid == 0)
                failing_commit_child(path, sync_mode, k, then_commit, power_seed);
            int status = tu_wait_child(pid, 60, "failing committer");
            ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) < 2,
                          "write %" PRIu64 ": the child failed (status %d)", k, status);
            int failed = WEXITSTATUS(status) == 0;
            failures += failed;
            ldb_options o = {.sync_mode = sync_mode};
            ldb_env *env = tu_open(path, &o);
            expect_kv(env, "before", "small", 5);
            ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
            if (failed) {
                tu_expect_absent(txn, LDB_MAIN, "failed");
            } else {
                uint8_t big[20000];
                fill(big, sizeof big, 7);
                tu_expect_bytes(txn, LDB_MAIN, "failed", 6, big, sizeof big);
            }
            if (then_commit)
                tu_expect_str(txn, LDB_MAIN, "after", "small");
            else
                tu_expect_absent(txn, LDB_MAIN, "after");
            ldb_txn_abort(txn);
            tu_check_env(env);
            ck_assert_int_eq(ldb_close(env), 0);
            tu_remove_dir(dir);
        }
    }
    /* The record and the first page writes fail, at least. */
    ck_assert_int_ge(failures, 4);
}
END_TEST

/* Child side of test_failed_state_write_leaves_no_trace: commit "before",
 * then "failed", whose write of the commit state in the lock file fails
 * (as on a damaged state mutex) after its record was written or submitted;
 * in_group holds the sync mutex meanwhile, so the commit takes the group
 * branch (a sync in flight). With a power_seed, the power goes after that.
 * Exits 0 if "failed" failed as asked, else 2. */
static void failing_state_child(const char *path, int sync_mode, int in_group,
                                uint64_t power_seed)
{
    ldb_val vs = {5, "small"};
    ldb_env *env;
    ldb_txn *txn;
    failing_child_begin(path, sync_mode, &vs, &env, &txn);
    if (in_group && ldb__lock_sync_acquire(&env->lock, 0) != 0)
        _exit(2);
    if (power_seed)
        ldb__os_crashsim_start(power_seed);
    ldb__os_fault_reset();
    ldb__os_fault_set(LDB_FAULT_STATE, 1, LDB_CORRUPTED);
    int rc = ldb_txn_commit(txn);
    ldb__os_fault_reset();
    if (in_group)
        ldb__lock_sync_release(&env->lock);
    if (power_seed)
        ldb__os_crashsim_crash();
    _exit(rc == LDB_CORRUPTED ? 0 : 2); /* no ldb_close: recovery replays the log */
}

/* A commit whose commit-state write fails after its record went to the log
 * leaves no trace either: the record is taken back, under LDB_SYNC_FULL
 * durably (the submitted sync, or any later one, may have made it durable;
 * the power-loss rounds fail without that sync). Variants: LDB_SYNC_OFF;
 * LDB_SYNC_FULL alone on the log, and in a group (a sync in flight); each
 * LDB_SYNC_FULL one also with the power lost after the failure. */
START_TEST(test_failed_state_write_leaves_no_trace)
{
    const int sync_mode = _i == 0 ? LDB_SYNC_OFF : LDB_SYNC_FULL;
    const int in_group = _i >= 3;
    const int power_loss = _i == 2 || _i == 4;
    for (uint64_t seed = 1; seed <= (power_loss ? 6u : 1u); seed++) {
        char dir[4096], path[4200];
        tu_fresh_db(dir, sizeof dir, path, sizeof path);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            failing_state_child(path, sync_mode, in_group, power_loss ? seed : 0);
        int status = tu_wait_child(pid, 60, "committer whose state write fails");
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "variant %d seed %" PRIu64 ": the child failed (status %d)", _i, seed,
                      status);
        ldb_options o = {.sync_mode = sync_mode};
        ldb_env *env = tu_open(path, &o);
        expect_kv(env, "before", "small", 5);
        ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
        tu_expect_absent(txn, LDB_MAIN, "failed");
        ldb_txn_abort(txn);
        put_kv(env, "after", "small", 5); /* the env commits on */
        expect_kv(env, "after", "small", 5);
        tu_check_env(env);
        ck_assert_int_eq(ldb_close(env), 0);
        tu_remove_dir(dir);
    }
}
END_TEST

/* Child side of test_log_writeback_starts_early: the write-back start of
 * a commit's record fails, the commit goes on, and the power goes. */
static void writeback_fails_child(const char *path, uint64_t power_seed)
{
    ldb_options o = {.sync_mode = LDB_SYNC_FULL};
    ldb_env *env;
    if (ldb_open(path, &o, &env) != 0)
        _exit(2);
    ldb__os_crashsim_start(power_seed);
    ldb__os_fault_reset();
    ldb__os_fault_set(LDB_FAULT_WRITEBACK, 1, EIO);
    ldb_txn *txn;
    ldb_val k = tu_str("durable"), v = {5, "value"};
    if (ldb_txn_begin(env, 0, &txn) != 0 || ldb_put(txn, LDB_MAIN, &k, &v, 0) != 0)
        _exit(2);
    int rc = ldb_txn_commit(txn);
    uint64_t started = ldb__os_fault_calls(LDB_FAULT_WRITEBACK);
    ldb__os_fault_reset();
    ldb__os_crashsim_crash();
    _exit(rc == 0 && started == 1 ? 0 : 1);
}

/* A durable commit with no sync in flight starts the disk on its record
 * (sync_file_range) before it writes its pages, so that they are written
 * while the record is (io.h): the first page write failing finds the
 * record's write-back started already, once (none with the linked
 * io_uring submission, LDB_IO_BACKEND=io_uring, whose kernel worker writes
 * the record). A start that fails costs nothing but the head start: the
 * commit succeeds, and its fdatasync still makes it durable (a power loss
 * right after it keeps it). */
START_TEST(test_log_writeback_starts_early)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = {.sync_mode = LDB_SYNC_FULL};
    ldb_env *env = tu_open(path, &o);
    put_kv(env, "before", "small", 5);
    int linked = strcmp(ldb__io_backend(&env->io), "io_uring") == 0;
    const char *backend = getenv("LDB_IO_BACKEND");
    if (backend == NULL) /* the linked submission and ring appends are asked for only */
        ck_assert(!linked && !env->io.ring_appends);
    else if (strcmp(backend, "io_uring") == 0)
        ck_assert(env->io.ring_appends == (env->io.append_ring != NULL));
    ldb_txn *txn = tu_begin(env, 0);
    ldb_val k = tu_str("failed"), v = {5, "value"};
    ck_assert_int_eq(ldb_put(txn, LDB_MAIN, &k, &v, 0), 0);
    ldb__os_fault_reset();
    ldb__os_fault_set(LDB_FAULT_WRITE, 2, EIO); /* the record is the first write */
    int rc = ldb_txn_commit(txn);
    uint64_t started = ldb__os_fault_calls(LDB_FAULT_WRITEBACK);
    ldb__os_fault_reset();
    ck_assert_int_eq(rc, -EIO);
    ck_assert_uint_eq(started, linked ? 0 : 1);
    put_kv(env, "after", "small", 5);
    ck_assert_int_eq(ldb_close(env), 0);

    for (uint64_t seed = 1; seed <= 3; seed++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            writeback_fails_child(path, seed);
        int status = tu_wait_child(pid, 60, "committer");
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "the commit failed with its write-back start (status %d)", status);
        env = tu_open(path, &o);
        expect_kv(env, "durable", "value", 5);
        expect_kv(env, "after", "small", 5);
        ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
        tu_expect_absent(r, LDB_MAIN, "failed");
        ldb_txn_abort(r);
        tu_check_env(env);
        ck_assert_int_eq(ldb_close(env), 0);
    }
    tu_remove_dir(dir);
}
END_TEST

START_TEST(test_wal_size_and_checkpoint)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = tu_open(path, NULL);
    ldb_stat st = stat_of(env);
    uint64_t cp0 = st.checkpoints, prev = st.wal_size;
    ck_assert_msg(prev == 0, "wal_size %" PRIu64 " in a new database", prev);
    uint8_t val[300];
    char key[32];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "key-%03d", i);
        fill(val, sizeof val, (uint64_t)i);
        put_kv(env, key, val, sizeof val);
        st = stat_of(env);
        ck_assert_msg(st.wal_size > prev, "commit %d: wal_size %" PRIu64 " after %" PRIu64, i,
                      st.wal_size, prev);
        prev = st.wal_size;
    }
    ck_assert_msg(prev >= 40 * sizeof val, "wal_size %" PRIu64 " after 40 commits", prev);
    ck_assert_msg(st.checkpoints == cp0, "checkpoints %" PRIu64 " before any", st.checkpoints);
    ck_assert_msg(st.commits == 40, "commits %" PRIu64, st.commits);
    ck_assert_int_eq(ldb_checkpoint(env), 0);
    st = stat_of(env);
    ck_assert_msg(st.wal_size == 0, "wal_size %" PRIu64 " after ldb_checkpoint", st.wal_size);
    ck_assert_msg(st.checkpoints == cp0 + 1, "checkpoints %" PRIu64 " after one, want %" PRIu64,
                  st.checkpoints, cp0 + 1);
    ck_assert_msg(st.last_txn_id == 40, "last_txn_id %" PRIu64, st.last_txn_id);
    /* Nothing new: another checkpoint is harmless. */
    ck_assert_int_eq(ldb_checkpoint(env), 0);
    ck_assert_msg(stat_of(env).wal_size == 0, "wal_size after a second checkpoint");
    put_kv(env, "after", "1", 1);
    st = stat_of(env);
    ck_assert_msg(st.wal_size > 0, "wal_size %" PRIu64 " after a commit", st.wal_size);
    ck_assert_int_eq(ldb_checkpoint(env), 0);
    ck_assert_msg(stat_of(env).checkpoints >= cp0 + 2, "checkpoints after a second one");
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "key-%03d", i);
        fill(val, sizeof val, (uint64_t)i);
        expect_kv(env, key, val, sizeof val);
    }
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    env = tu_open(path, NULL);
    ck_assert_msg(stat_of(env).wal_size == 0, "wal_size after reopen");
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "key-%03d", i);
        fill(val, sizeof val, (uint64_t)i);
        expect_kv(env, key, val, sizeof val);
    }
    expect_kv(env, "after", "1", 1);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    tu_remove_dir(dir);
}
END_TEST

enum { AUTO_WAL_MAX = 256 << 10, AUTO_VAL = 3000, AUTO_TXNS = 400 };

/* A child that commits AUTO_TXNS txns of one AUTO_VAL-byte value each under
 * a 256 KiB log limit, checking the log's size and the checkpoints, then
 * crashes. */
START_TEST(test_auto_checkpoint)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = {.wal_max_bytes = AUTO_WAL_MAX};
    int rfd;
    pid_t pid = wl_fork(&rfd);
    if (pid == 0) {
        ldb_env *env = child_open(path, &o);
        ldb_stat st;
        ldb_stat_env(env, &st);
        uint64_t cp0 = st.checkpoints, max_wal = 0;
        uint8_t val[AUTO_VAL];
        char key[32];
        for (int i = 0; i < AUTO_TXNS; i++) {
            snprintf(key, sizeof key, "auto-%04d", i);
            fill(val, sizeof val, (uint64_t)i);
            ldb_txn *txn;
            int rc = ldb_txn_begin(env, 0, &txn);
            ldb_val k = tu_str(key), v = {sizeof val, val};
            if (rc == 0)
                rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
            if (rc == 0)
                rc = ldb_txn_commit(txn);
            if (rc)
                wl_child_exit(3, "commit %d: %s", i, ldb_strerror(rc));
            ldb_stat_env(env, &st);
            if (st.wal_size > max_wal)
                max_wal = st.wal_size;
            /* The log is checkpointed once past its limit, before the next
             * txn adds to it: never more than the limit plus one record. */
            if (st.wal_size > AUTO_WAL_MAX + 2 * AUTO_VAL + 4096)
                wl_child_exit(4, "commit %d: wal_size %" PRIu64 " over the limit %d", i,
                              st.wal_size, AUTO_WAL_MAX);
        }
        uint64_t cps = st.checkpoints - cp0;
        /* 1.2 MB of records through a 256 KiB log. */
        if (cps < 3)
            wl_child_exit(5, "%" PRIu64 " automatic checkpoints for %d KB of log", cps,
                          AUTO_TXNS * AUTO_VAL / 1000);
        fprintf(stderr, "auto checkpoint: %" PRIu64 " checkpoints, largest wal_size %" PRIu64 "\n",
                cps, max_wal);
        wl_child_exit(0, "done");
    }
    wl_log log = {0};
    wl_expect_exit0(wl_finish(pid, rfd, &log, 120, "auto checkpoint child"), "auto checkpoint");
    wl_log_free(&log);
    ldb_env *env = tu_open(path, &o);
    uint8_t val[AUTO_VAL];
    char key[32];
    for (int i = 0; i < AUTO_TXNS; i++) {
        snprintf(key, sizeof key, "auto-%04d", i);
        fill(val, sizeof val, (uint64_t)i);
        expect_kv(env, key, val, sizeof val);
    }
    ck_assert_msg(stat_of(env).last_txn_id == AUTO_TXNS, "last_txn_id %" PRIu64,
                  stat_of(env).last_txn_id);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    tu_remove_dir(dir);
}
END_TEST

/* Commit one put of value tag under key "defer-NNNN"; returns the log's
 * size after it. */
static uint64_t defer_put(ldb_env *env, int i, uint64_t tag)
{
    uint8_t val[AUTO_VAL];
    char key[32];
    snprintf(key, sizeof key, "defer-%04d", i);
    fill(val, sizeof val, tag);
    ldb_txn *txn;
    ck_assert_int_eq(ldb_txn_begin(env, 0, &txn), 0);
    ldb_val k = tu_str(key), v = {sizeof val, val};
    ck_assert_int_eq(ldb_put(txn, LDB_MAIN, &k, &v, 0), 0);
    ck_assert_int_eq(ldb_txn_commit(txn), 0);
    return stat_of(env).wal_size;
}

/* Under LDB_SYNC_OFF the automatic checkpoint of a load into new pages
 * waits until the log passes 8x wal_max_bytes (durable.c, log_due): 1.2 MB
 * of ascending puts through a 256 KiB limit checkpoint not once. Puts over
 * the checkpointed tree hold its pages for the next checkpoint, so they
 * checkpoint at the plain limit as before (the file stays as small). */
/* The ranges ldb__log_write_back handed to the disk, in order. */
static struct {
    uint64_t off, len;
} written_back[64];
static unsigned written_back_count;

static void note_written_back(uint64_t off, uint64_t len)
{
    if (written_back_count < sizeof written_back / sizeof written_back[0])
        written_back[written_back_count++] = (typeof(written_back[0])){off, len};
}

/* Commit txns of 24 x 4 KiB values (a ~100 KB log record each) until the
 * log holds at least bytes; the log's size. */
static uint64_t grow_log(ldb_env *env, uint64_t bytes, int *seq)
{
    uint8_t val[4096];
    char key[32];
    while (stat_of(env).wal_size < bytes) {
        ldb_txn *txn = tu_begin(env, 0);
        for (int i = 0; i < 24; i++, (*seq)++) {
            snprintf(key, sizeof key, "k%07d", *seq);
            fill(val, sizeof val, (uint64_t)*seq);
            ldb_val k = tu_str(key), v = {sizeof val, val};
            TU_RC_OK(ldb_put(txn, LDB_MAIN, &k, &v, 0));
        }
        TU_RC_OK(ldb_txn_commit(txn));
    }
    return stat_of(env).wal_size;
}

/* Under LDB_SYNC_OFF the log is handed to the disk as it grows, every
 * 4 MiB, each range following the last, from the start of each new
 * generation; under LDB_SYNC_FULL (every commit syncs) never. (A range
 * joins the next while the last one still runs on the ring's worker:
 * allowed once per generation here.) */
START_TEST(test_sync_off_writes_log_back)
{
    const uint64_t chunk = 4u << 20, record_max = 110000;
    const int sync_mode = _i == 0 ? LDB_SYNC_OFF : LDB_SYNC_FULL;
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = {.sync_mode = sync_mode};
    ldb_env *env = tu_open(path, &o);
    if (sync_mode == LDB_SYNC_FULL) /* no background syncs, no second open */
        ck_assert_int_eq(env->wal_sync_fd, -1);
    written_back_count = 0;
    ldb__log_write_back_hook = note_written_back;
    int seq = 0;
    uint64_t end = grow_log(env, 3 * chunk + chunk / 2, &seq);
    unsigned first_generation = written_back_count;
    TU_RC_OK(ldb_checkpoint(env));
    uint64_t end2 = grow_log(env, chunk + chunk / 2, &seq);
    ldb__log_write_back_hook = NULL;
    if (sync_mode == LDB_SYNC_FULL) {
        ck_assert_msg(written_back_count == 0, "%u write-backs under LDB_SYNC_FULL",
                      written_back_count);
    } else {
        ck_assert_msg(first_generation >= 2 && first_generation <= 3 &&
                          written_back_count == first_generation + 1,
                      "write-backs: %u in a log of %" PRIu64 " bytes, %u in all",
                      first_generation, end, written_back_count);
        uint64_t at = 0;
        for (unsigned i = 0; i < written_back_count; i++) {
            if (i == first_generation) {
                ck_assert_msg(at + 2 * chunk + record_max > end,
                              "the first generation's write-backs end at %" PRIu64
                              " of %" PRIu64, at, end);
                at = 0; /* the checkpoint started a new generation */
            }
            ck_assert_msg(written_back[i].off == at && written_back[i].len >= chunk,
                          "write-back %u: %" PRIu64 " bytes at %" PRIu64 ", want %" PRIu64
                          "+ at %" PRIu64,
                          i, written_back[i].len, written_back[i].off, chunk, at);
            at += written_back[i].len;
            ck_assert_msg(at <= (i < first_generation ? end : end2),
                          "write-back %u ends at %" PRIu64 ", past the log", i, at);
        }
    }
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    tu_remove_dir(dir);
}
END_TEST

/* Where the env has its ring, those write-backs are whole syncs on a
 * kernel worker (io.h), made through the log opened a second time: the
 * same file, but its own open file (opened read-only, so not a dup of the
 * read-write wal_fd), so that an error the kernel reports to the
 * background sync is still reported to the log's own next fdatasync.
 * Without the ring (LDB_IO_BACKEND=sync) they stay hints. Everything
 * committed reads back after a close and reopen. */
START_TEST(test_sync_off_log_synced_in_background)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = {.sync_mode = LDB_SYNC_OFF};
    ldb_env *env = tu_open(path, &o);
    struct stat log, sync_log;
    ck_assert_int_ge(env->wal_sync_fd, 0);
    ck_assert_int_eq(fstat(env->wal_fd, &log), 0);
    ck_assert_int_eq(fstat(env->wal_sync_fd, &sync_log), 0);
    ck_assert(log.st_dev == sync_log.st_dev && log.st_ino == sync_log.st_ino);
    ck_assert_int_eq(fcntl(env->wal_sync_fd, F_GETFL) & O_ACCMODE, O_RDONLY);
    uint64_t before = __atomic_load_n(&ldb__io_writeback_syncs, __ATOMIC_RELAXED);
    int seq = 0;
    grow_log(env, 3 * (4u << 20), &seq);
    uint64_t syncs = __atomic_load_n(&ldb__io_writeback_syncs, __ATOMIC_RELAXED) - before;
    if (env->io.append_ring != NULL)
        ck_assert_uint_ge(syncs, 2);
    else
        ck_assert_uint_eq(syncs, 0);
    TU_RC_OK(ldb_sync(env));
    ck_assert_int_eq(ldb_close(env), 0);
    env = tu_open(path, &o);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    uint8_t val[4096];
    char key[32];
    for (int i = 0; i < seq; i++) {
        snprintf(key, sizeof key, "k%07d", i);
        fill(val, sizeof val, (uint64_t)i);
        ldb_val k = tu_str(key), v;
        TU_RC_OK(ldb_get(r, LDB_MAIN, &k, &v));
        TU_REQUIRE(v.size == sizeof val && memcmp(v.data, val, sizeof val) == 0, "key %d", i);
    }
    ldb_txn_abort(r);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    tu_remove_dir(dir);
}
END_TEST

START_TEST(test_sync_off_defers_checkpoint)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = {.wal_max_bytes = AUTO_WAL_MAX, .sync_mode = LDB_SYNC_OFF};
    ldb_env *env = tu_open(path, &o);
    uint64_t cp0 = stat_of(env).checkpoints, max_wal = 0;
    for (int i = 0; i < AUTO_TXNS; i++) {
        uint64_t w = defer_put(env, i, (uint64_t)i);
        max_wal = w > max_wal ? w : max_wal;
    }
    ck_assert_msg(stat_of(env).checkpoints == cp0 && max_wal > 4 * AUTO_WAL_MAX,
                  "an ascending load of %d KB checkpointed %" PRIu64 " times (largest log %" PRIu64
                  ")",
                  AUTO_TXNS * AUTO_VAL / 1000, stat_of(env).checkpoints - cp0, max_wal);
    ck_assert_int_eq(ldb_sync(env), 0);
    ck_assert_int_eq(ldb_checkpoint(env), 0);
    /* Overwrites in another order: each copies pages of the checkpointed
     * tree, which wait for the next checkpoint. */
    cp0 = stat_of(env).checkpoints;
    max_wal = 0;
    for (int i = 0; i < AUTO_TXNS; i++) {
        uint64_t w = defer_put(env, (i * 7) % AUTO_TXNS, (uint64_t)(i * 7 % AUTO_TXNS) + 1000);
        max_wal = w > max_wal ? w : max_wal;
    }
    uint64_t cps = stat_of(env).checkpoints - cp0;
    ck_assert_msg(cps >= 3 && max_wal <= AUTO_WAL_MAX + 2 * AUTO_VAL + 4096,
                  "overwrites checkpointed %" PRIu64 " times, largest log %" PRIu64, cps, max_wal);
    ck_assert_int_eq(ldb_close(env), 0);
    env = tu_open(path, &o);
    uint8_t val[AUTO_VAL];
    for (int i = 0; i < AUTO_TXNS; i++) {
        char key[32];
        snprintf(key, sizeof key, "defer-%04d", i);
        fill(val, sizeof val, (uint64_t)i + 1000);
        expect_kv(env, key, val, sizeof val);
    }
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    tu_remove_dir(dir);
}
END_TEST

enum { BIG_VALS = 40, BIG_VAL = 8000 };

/* One txn of BIG_VALS values of BIG_VAL bytes (320 KB, over half of a
 * 256 KiB log limit). */
static int big_txn(ldb_env *env, int tag)
{
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, 0, &txn);
    if (rc)
        return rc;
    uint8_t *val = malloc(BIG_VAL);
    char key[32];
    for (int i = 0; rc == 0 && i < BIG_VALS; i++) {
        snprintf(key, sizeof key, "big-%d-%02d", tag, i);
        fill(val, BIG_VAL, (uint64_t)(tag * 100 + i));
        ldb_val k = tu_str(key), v = {BIG_VAL, val};
        rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
    }
    free(val);
    if (rc) {
        ldb_txn_abort(txn);
        return rc;
    }
    return ldb_txn_commit(txn);
}

static void expect_big(ldb_env *env, int tag)
{
    uint8_t *val = malloc(BIG_VAL);
    char key[32];
    for (int i = 0; i < BIG_VALS; i++) {
        snprintf(key, sizeof key, "big-%d-%02d", tag, i);
        fill(val, BIG_VAL, (uint64_t)(tag * 100 + i));
        expect_kv(env, key, val, BIG_VAL);
    }
    free(val);
}

START_TEST(test_big_txn_commits_as_checkpoint)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = {.wal_max_bytes = AUTO_WAL_MAX};
    int rfd;
    pid_t pid = wl_fork(&rfd);
    if (pid == 0) {
        ldb_env *env = child_open(path, &o);
        char key[32];
        for (int i = 0; i < 5; i++) {
            snprintf(key, sizeof key, "small-%d", i);
            put_kv(env, key, key, strlen(key));
        }
        ldb_stat a, b;
        ldb_stat_env(env, &a);
        int rc = big_txn(env, 1);
        if (rc)
            wl_child_exit(3, "big txn: %s", ldb_strerror(rc));
        ldb_stat_env(env, &b);
        if (b.checkpoints != a.checkpoints + 1)
            wl_child_exit(4, "big txn: checkpoints %" PRIu64 " -> %" PRIu64 ", want one more",
                          a.checkpoints, b.checkpoints);
        if (b.wal_size > a.wal_size + 4096)
            wl_child_exit(5, "big txn: wal_size %" PRIu64 " -> %" PRIu64 ": it went to the log",
                          a.wal_size, b.wal_size);
        for (int i = 5; i < 10; i++) {
            snprintf(key, sizeof key, "small-%d", i);
            put_kv(env, key, key, strlen(key));
        }
        /* The last txn before the crash is a big one too. */
        rc = big_txn(env, 2);
        if (rc)
            wl_child_exit(6, "second big txn: %s", ldb_strerror(rc));
        wl_child_exit(0, "done");
    }
    wl_log log = {0};
    wl_expect_exit0(wl_finish(pid, rfd, &log, 120, "big txn child"), "big txn child");
    wl_log_free(&log);
    ldb_env *env = tu_open(path, &o);
    char key[32];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "small-%d", i);
        expect_kv(env, key, key, strlen(key));
    }
    expect_big(env, 1);
    expect_big(env, 2);
    ck_assert_msg(stat_of(env).last_txn_id == 12, "last_txn_id %" PRIu64, stat_of(env).last_txn_id);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    tu_remove_dir(dir);
}
END_TEST

/* ---- group commit ------------------------------------------------------------------- */

enum { GC_THREADS = 8, GC_TXNS = 300 };

typedef struct gc_thread {
    ldb_env *env;
    int proc, id, ntxn;
    uint64_t *ids;
    int failed_rc, failed_at;
} gc_thread;

static void gc_value(int proc, int th, int n, uint8_t out[24])
{
    snprintf((char *)out, 24, "v%d.%d.%d", proc, th, n);
}

static void *gc_run(void *arg)
{
    gc_thread *g = arg;
    for (int n = 0; n < g->ntxn; n++) {
        char key[32];
        uint8_t val[24] = {0};
        snprintf(key, sizeof key, "g%d-%02d-%04d", g->proc, g->id, n);
        gc_value(g->proc, g->id, n, val);
        ldb_txn *txn;
        int rc = ldb_txn_begin(g->env, 0, &txn);
        if (rc == 0) {
            ldb_val k = tu_str(key), v = {sizeof val, val};
            g->ids[n] = ldb_txn_id(txn);
            rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
            if (rc == 0)
                rc = ldb_txn_commit(txn);
            else
                ldb_txn_abort(txn);
        }
        if (rc) {
            g->failed_rc = rc;
            g->failed_at = n;
            return NULL;
        }
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* In a child: nthreads threads of ntxn txns each on a new env of path;
 * every txn id is reported (WL_MSG_INFO, j = id); then a crash. */
static void gc_child(const char *path, int proc, int nthreads, int ntxn, int go_fd)
{
    ldb_options o = {.sync_mode = LDB_SYNC_FULL};
    ldb_env *env = child_open(path, &o);
    if (go_fd >= 0) {
        char c;
        if (read(go_fd, &c, 1) != 1)
            wl_child_exit(7, "go pipe");
    }
    uint64_t syncs0 = ldb__os_fault_calls(LDB_FAULT_SYNC);
    double t0 = wl_now();
    gc_thread g[GC_THREADS];
    pthread_t th[GC_THREADS];
    for (int i = 0; i < nthreads; i++) {
        g[i] = (gc_thread){env, proc, i, ntxn, calloc((size_t)ntxn, sizeof(uint64_t)), 0, 0};
        if (pthread_create(&th[i], NULL, gc_run, &g[i]) != 0)
            wl_child_exit(8, "pthread_create");
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    double secs = wl_now() - t0;
    uint64_t syncs = ldb__os_fault_calls(LDB_FAULT_SYNC) - syncs0;
    for (int i = 0; i < nthreads; i++) {
        if (g[i].failed_rc)
            wl_child_exit(3, "process %d thread %d txn %d: %s", proc, i, g[i].failed_at,
                          ldb_strerror(g[i].failed_rc));
        for (int n = 0; n < ntxn; n++)
            wl_send(WL_MSG_INFO, g[i].ids[n], 0, (uint64_t)i);
    }
    fprintf(stderr,
            "group commit: process %d, %d threads x %d txns in %.2f s (%.0f commits/s), "
            "%" PRIu64 " syncs, backend %s\n",
            proc, nthreads, ntxn, secs, nthreads * ntxn / secs, syncs, ldb__io_backend(&env->io));
    /* Committing threads that overlap share syncs: fewer syncs than commits
     * (measured: ~4 commits per sync with 8 threads). */
    if (nthreads >= 4 && syncs >= (uint64_t)nthreads * (uint64_t)ntxn)
        wl_child_exit(9, "process %d: %" PRIu64 " syncs for %d commits: no group commit", proc,
                      syncs, nthreads * ntxn);
    wl_child_exit(0, "done");
}

/* After the crash: every txn there, ids unique and consecutive. */
static void gc_verify(const char *path, int nproc, int nthreads, int ntxn, wl_log *log)
{
    size_t total = (size_t)nproc * (size_t)nthreads * (size_t)ntxn;
    uint64_t *ids = malloc(total * sizeof *ids);
    size_t n = 0;
    for (size_t i = 0; i < log->n; i++)
        if (log->m[i].type == WL_MSG_INFO && n < total)
            ids[n++] = log->m[i].j;
    ck_assert_msg(n == total, "%zu txn ids reported, want %zu", n, total);
    qsort(ids, n, sizeof *ids, cmp_u64);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(ids[i] != ids[i - 1], "txn id %" PRIu64 " given to two txns", ids[i]);
    ck_assert_msg(ids[n - 1] - ids[0] == n - 1, "txn ids %" PRIu64 "..%" PRIu64 " for %zu txns",
                  ids[0], ids[n - 1], n);
    ldb_env *env = tu_open(path, NULL);
    ck_assert_msg(stat_of(env).last_txn_id == ids[n - 1], "last_txn_id %" PRIu64 ", want %" PRIu64,
                  stat_of(env).last_txn_id, ids[n - 1]);
    ldb_txn *txn;
    ck_assert_int_eq(ldb_txn_begin(env, LDB_TXN_RDONLY, &txn), 0);
    for (int p = 0; p < nproc; p++)
        for (int t = 0; t < nthreads; t++)
            for (int i = 0; i < ntxn; i++) {
                char key[32];
                uint8_t val[24] = {0};
                snprintf(key, sizeof key, "g%d-%02d-%04d", p, t, i);
                gc_value(p, t, i, val);
                ldb_val k = tu_str(key), v;
                int rc = ldb_get(txn, LDB_MAIN, &k, &v);
                ck_assert_msg(rc == 0, "acknowledged %s lost: %s", key, ldb_strerror(rc));
                ck_assert_msg(v.size == sizeof val && memcmp(v.data, val, sizeof val) == 0,
                              "%s: wrong value", key);
            }
    ldb_tree_stat ts;
    ck_assert_int_eq(ldb_dbi_stat(txn, LDB_MAIN, &ts), 0);
    ck_assert_msg(ts.entries == total, "%" PRIu64 " entries, want %zu", ts.entries, total);
    ldb_txn_abort(txn);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    free(ids);
}

START_TEST(test_group_commit_threads)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    int rfd;
    pid_t pid = wl_fork(&rfd);
    if (pid == 0)
        gc_child(path, 0, GC_THREADS, GC_TXNS, -1);
    wl_log log = {0};
    wl_expect_exit0(wl_finish(pid, rfd, &log, 300, "group commit"), "group commit");
    gc_verify(path, 1, GC_THREADS, GC_TXNS, &log);
    wl_log_free(&log);
    tu_remove_dir(dir);
}
END_TEST

enum { GP_PROCS = 3, GP_THREADS = 2, GP_TXNS = 100 };

START_TEST(test_group_commit_processes)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = tu_open(path, NULL); /* created before the race */
    ck_assert_int_eq(ldb_close(env), 0);
    int go[2];
    ck_assert(pipe(go) == 0);
    pid_t pids[GP_PROCS];
    int rfds[GP_PROCS];
    for (int p = 0; p < GP_PROCS; p++) {
        pids[p] = wl_fork(&rfds[p]);
        if (pids[p] == 0) {
            close(go[1]);
            gc_child(path, p, GP_THREADS, GP_TXNS, go[0]);
        }
    }
    close(go[0]);
    /* Every child opens first, then all start at once. */
    usleep(200000);
    ck_assert(write(go[1], "ggg", GP_PROCS) == GP_PROCS);
    close(go[1]);
    wl_log log = {0};
    for (int p = 0; p < GP_PROCS; p++)
        wl_expect_exit0(wl_finish(pids[p], rfds[p], &log, 300, "group commit process"),
                        "group commit process");
    gc_verify(path, GP_PROCS, GP_THREADS, GP_TXNS, &log);
    wl_log_free(&log);
    tu_remove_dir(dir);
}
END_TEST

/* ---- a damaged log tail --------------------------------------------------------------- */

static const wl_params tail_params = {.keys = 200, .abort_pct = 10, .max_vlen = 3000};

typedef struct crashed_db {
    char dir[4096], data[4200], wal[4200];
    uint64_t seed;
    wl_outcome out;
    uint64_t *ends; /* ends[i]: the log's end (a file offset) after js[0..i) */
} crashed_db;

/* A child creates a database, commits txns 1..ntxn and crashes; a
 * checkpoint after txn checkpoint_after (0: none). */
static void make_crashed(crashed_db *c, uint64_t seed, int ntxn, int checkpoint_after)
{
    memset(c, 0, sizeof *c);
    tu_fresh_db(c->dir, sizeof c->dir, c->data, sizeof c->data);
    snprintf(c->wal, sizeof c->wal, "%s/db-wal", c->dir);
    c->seed = seed;
    int rfd;
    pid_t pid = wl_fork(&rfd);
    if (pid == 0) {
        ldb_env *env = child_open(c->data, NULL);
        ldb_stat st;
        ldb_stat_env(env, &st);
        wl_send(WL_MSG_INFO, 0, 0, st.wal_size);
        if (checkpoint_after) {
            child_run(env, &tail_params, seed, 1, (uint64_t)checkpoint_after + 1);
            int rc = ldb_checkpoint(env);
            if (rc)
                wl_child_exit(4, "checkpoint: %s", ldb_strerror(rc));
            wl_send(WL_MSG_DURABLE, 0, 0, 0);
            child_run(env, &tail_params, seed, (uint64_t)checkpoint_after + 1, (uint64_t)ntxn + 1);
        } else {
            child_run(env, &tail_params, seed, 1, (uint64_t)ntxn + 1);
        }
        wl_child_exit(0, "done");
    }
    wl_log log = {0};
    wl_expect_exit0(wl_finish(pid, rfd, &log, 120, "committer"), "committer");
    wl_outcome_of(&log, &c->out);
    ck_assert_msg(c->out.n == c->out.acked && c->out.failed == 0, "the child reported failures");
    c->ends = calloc(c->out.n + 1, sizeof *c->ends);
    size_t i = 0;
    for (size_t x = 0; x < log.n; x++) {
        /* wal_size counts the records, after the log's header. */
        if (log.m[x].type == WL_MSG_INFO)
            c->ends[0] = WAL_HEADER_SIZE + log.m[x].aux;
        else if (log.m[x].type == WL_MSG_ACK)
            c->ends[++i] = WAL_HEADER_SIZE + log.m[x].aux;
    }
    wl_log_free(&log);
}

/* After a test that passed: its files go too. */
static void free_crashed(crashed_db *c)
{
    wl_outcome_free(&c->out);
    free(c->ends);
    tu_remove_dir(c->dir);
}

/* A copy of the crashed database in a new directory (dir_out); returns its
 * path. */
static const char *copy_crashed(const crashed_db *c, char *dir_out, char *wal_out, size_t size)
{
    static char path[4200];
    tu_fresh_db(dir_out, size, path, sizeof path);
    snprintf(wal_out, size, "%s/db-wal", dir_out);
    ck_assert_int_eq(tu_copy_file(c->data, path), 0);
    ck_assert_int_eq(tu_copy_file(c->wal, wal_out), 0);
    return path;
}

/* The state recovery must reach when the log is damaged from byte p on. */
static size_t prefix_before(const crashed_db *c, uint64_t p)
{
    size_t k = 0;
    for (size_t i = 1; i <= c->out.n; i++)
        if (c->ends[i] <= p)
            k = i;
    return k;
}

static uint8_t byte_at(const char *file, uint64_t off)
{
    int fd = open(file, O_RDONLY);
    ck_assert_msg(fd >= 0, "open %s: %s", file, strerror(errno));
    uint8_t b;
    ck_assert(pread(fd, &b, 1, (off_t)off) == 1);
    close(fd);
    return b;
}

enum tail_damage { GARBAGE_AFTER, TRUNCATE, FLIP_ANY, FLIP_LAST, ZERO_LAST_SECTOR, DAMAGE_KINDS };
static const char *const damage_name[DAMAGE_KINDS] = {
    "garbage after the end", "truncated", "a byte flipped", "a byte of the last record flipped",
    "the last sector zeroed"};

START_TEST(test_tail_damage)
{
    uint64_t seed = wl_test_seed("wal tail");
    crashed_db c;
    make_crashed(&c, seed, 60, 0);
    uint64_t end = c.ends[c.out.n];
    ck_assert_msg(c.ends[0] == WAL_HEADER_SIZE && end > c.ends[0] + 10000,
                  "log %" PRIu64 "..%" PRIu64 " after %zu commits", c.ends[0], end, c.out.n);
    /* Where the last record begins. */
    uint64_t last_start = c.ends[0];
    for (size_t i = 1; i <= c.out.n; i++)
        if (c.ends[i] < end)
            last_start = c.ends[i];
    int rounds = (int)tu_env_u64("LDB_WAL_TAIL_ROUNDS", 60);
    uint64_t rng = seed;
    int landed[DAMAGE_KINDS] = {0};
    for (int r = 0; r < rounds; r++) {
        enum tail_damage kind = (enum tail_damage)(r % DAMAGE_KINDS);
        char dir[4200], wal[4200], what[256];
        const char *path = copy_crashed(&c, dir, wal, sizeof wal);
        uint64_t x = wl_mix(rng + (uint64_t)r);
        uint64_t damage_at = end; /* the first byte that changed */
        switch (kind) {
        case GARBAGE_AFTER: {
            uint8_t junk[6000];
            size_t n = 1 + (size_t)(x % sizeof junk);
            for (size_t i = 0; i < n; i++)
                junk[i] = (uint8_t)wl_mix(x + i);
            if (x & 1) {
                /* Looks like a record: a sane length and the log's salt. */
                uint8_t hdr[WAL_HEADER_SIZE];
                int fd = open(wal, O_RDONLY);
                ck_assert(pread(fd, hdr, sizeof hdr, 0) == (ssize_t)sizeof hdr);
                close(fd);
                uint32_t len = 64;
                memcpy(junk + 4, &len, 4);
                memcpy(junk + 16, hdr + 16, 8);
            }
            tu_write_at(wal, junk, n, end);
            break;
        }
        case TRUNCATE:
            damage_at = x % end;
            ck_assert(truncate(wal, (off_t)damage_at) == 0);
            break;
        case FLIP_ANY:
        case FLIP_LAST: {
            uint64_t lo = kind == FLIP_ANY ? WAL_HEADER_SIZE : last_start;
            damage_at = lo + x % (end - lo);
            uint8_t b = byte_at(wal, damage_at) ^ (uint8_t)(1u << ((x >> 40) % 8));
            tu_write_at(wal, &b, 1, damage_at);
            break;
        }
        case ZERO_LAST_SECTOR: {
            uint64_t from = end > 512 && end - 512 > last_start ? end - 512 : last_start;
            from &= ~(uint64_t)511;
            if (from < last_start)
                from = last_start;
            for (uint64_t p = from; p < end; p++)
                if (byte_at(wal, p) != 0) {
                    damage_at = p;
                    break;
                }
            uint8_t zero[1024] = {0};
            tu_write_at(wal, zero, (size_t)(end - from), from);
            break;
        }
        default:
            break;
        }
        size_t k = kind == GARBAGE_AFTER ? c.out.n : prefix_before(&c, damage_at);
        if (k < c.out.n)
            landed[kind]++;
        snprintf(what, sizeof what,
                 "seed %" PRIu64 " round %d: %s at byte %" PRIu64 " of a %" PRIu64
                 "-byte log (expect the first %zu of %zu txns)",
                 seed, r, damage_name[kind], damage_at, end, k, c.out.n);
        if (kind == FLIP_ANY && damage_at < last_start) {
            /* A record that was durable (the child's commits are
             * LDB_SYNC_FULL), with records after it that say so: not a torn
             * tail. Recovery refuses; salvage keeps what precedes it. */
            ldb_env *bad = NULL;
            int rc = ldb_open(path, NULL, &bad);
            ck_assert_msg(rc == LDB_CORRUPTED, "%s: open: %s, want LDB_CORRUPTED", what,
                          ldb_strerror(rc));
            static char dest[4300];
            snprintf(dest, sizeof dest, "%s/salvaged", dir);
            rc = ldb_salvage(path, dest, NULL);
            ck_assert_msg(rc == 0, "%s: salvage: %s", what, ldb_strerror(rc));
            path = dest;
        }
        wl_model *m = wl_model_new();
        ldb_env *env =
            wl_open_and_match(path, NULL, m, &tail_params, seed, c.out.js, k, k, what, NULL, NULL);
        /* It goes on from there, and what it commits lasts. */
        put_kv(env, "after-damage", what, strlen(what));
        ck_assert_int_eq(ldb_close(env), 0);
        env = tu_open(path, NULL);
        expect_kv(env, "after-damage", what, strlen(what));
        tu_check_env(env);
        ck_assert_int_eq(ldb_close(env), 0);
        wl_model_free(m);
        tu_remove_dir(dir);
    }
    fprintf(stderr, "tail: %d damaged logs, %d/%d/%d/%d/%d lost txns by kind\n", rounds, landed[0],
            landed[1], landed[2], landed[3], landed[4]);
    free_crashed(&c);
}
END_TEST

/* A log from another database is not replayed into this one. Both logs
 * start from the same txn ids, so only the salt can tell them apart. */
START_TEST(test_foreign_log)
{
    uint64_t seed = wl_test_seed("wal foreign");
    crashed_db a, b;
    make_crashed(&a, seed, 40, 10);
    make_crashed(&b, wl_mix(seed), 40, 0);
    ck_assert_msg(a.out.durable > 0, "no checkpoint reported");
    char dir[4200], wal[4200];
    const char *path = copy_crashed(&a, dir, wal, sizeof wal);
    ck_assert_int_eq(tu_copy_file(b.wal, wal), 0);
    /* A's own records after its checkpoint went with its log; what is left
     * is the checkpoint, exactly. */
    char what[200];
    snprintf(what, sizeof what, "seed %" PRIu64 ": a database beside another's log", seed);
    wl_model *m = wl_model_new();
    ldb_env *env = wl_open_and_match(path, NULL, m, &tail_params, seed, a.out.js, a.out.durable,
                                     a.out.durable, what, NULL, NULL);
    put_kv(env, "after", "a", 1);
    ck_assert_int_eq(ldb_close(env), 0);
    env = tu_open(path, NULL);
    expect_kv(env, "after", "a", 1);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    wl_model_free(m);
    free_crashed(&a);
    free_crashed(&b);
    tu_remove_dir(dir);
}
END_TEST

/* ---- read-only opens of a database that needs recovery ----------------------------------- */

START_TEST(test_rdonly_recovers)
{
    uint64_t seed = wl_test_seed("wal rdonly");
    crashed_db c;
    make_crashed(&c, seed, 30, 0);
    wl_model *m = wl_model_new();
    for (size_t i = 0; i < c.out.n; i++)
        wl_model_apply_j(m, &tail_params, seed, c.out.js[i]);
    ldb_env *env = NULL;
    ldb_options imm = {.flags = LDB_IMMUTABLE}, ro = {.flags = LDB_RDONLY};
    int rc = ldb_open(c.data, &imm, &env);
    ck_assert_msg(rc == LDB_READONLY, "LDB_IMMUTABLE open of a database needing recovery: %s",
                  ldb_strerror(rc));
    env = tu_open(c.data, &ro);
    char msg[512] = "";
    ck_assert_msg(wl_db_diff(env, m, msg, sizeof msg) == 0, "LDB_RDONLY after recovery: %s", msg);
    ldb_txn *txn;
    rc = ldb_txn_begin(env, 0, &txn);
    ck_assert_msg(rc == LDB_READONLY, "write txn on LDB_RDONLY: %s", ldb_strerror(rc));
    ck_assert_int_eq(ldb_close(env), 0);
    /* Recovered: now an immutable open finds nothing to replay. */
    env = tu_open(c.data, &imm);
    ck_assert_msg(wl_db_diff(env, m, msg, sizeof msg) == 0, "LDB_IMMUTABLE after recovery: %s",
                  msg);
    ck_assert_int_eq(ldb_close(env), 0);
    env = tu_open(c.data, NULL);
    ck_assert_msg(wl_db_diff(env, m, msg, sizeof msg) == 0, "read-write after recovery: %s", msg);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    wl_model_free(m);
    free_crashed(&c);
}
END_TEST

enum { NOBODY = 65534 };

/* Whether every directory above path lets others in. */
static int reachable_by_others(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (;;) {
        struct stat sb;
        if (stat(buf, &sb) != 0 || !(sb.st_mode & S_IXOTH))
            return 0;
        char *slash = strrchr(buf, '/');
        if (slash == NULL || slash == buf)
            return 1;
        *slash = '\0';
    }
}

START_TEST(test_rdonly_without_write_permission)
{
    if (geteuid() != 0) {
        fprintf(stderr, "rdonly permissions: SKIPPED: needs root to setuid to %d\n", NOBODY);
        return;
    }
    uint64_t seed = wl_test_seed("wal rdonly nobody");
    crashed_db c;
    make_crashed(&c, seed, 20, 0);
    /* A directory uid 65534 can reach, holding the crashed database. */
    char dir[4096], path[4200], lock[4300];
    snprintf(dir, sizeof dir, "%s", c.dir);
    ck_assert(chmod(dir, 0755) == 0);
    if (!reachable_by_others(dir)) {
        snprintf(dir, sizeof dir, "/tmp/ldbwal.XXXXXX");
        ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
        ck_assert(chmod(dir, 0755) == 0);
    }
    snprintf(path, sizeof path, "%s/nobody.db", dir);
    char wal[4300];
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(lock, sizeof lock, "%s-lock", path);
    ck_assert_int_eq(tu_copy_file(c.data, path), 0);
    ck_assert_int_eq(tu_copy_file(c.wal, wal), 0);
    ck_assert_int_eq(tu_copy_file(tu_path(c.dir, "db-lock"), lock), 0);
    ck_assert(chmod(path, 0644) == 0 && chmod(wal, 0644) == 0 && chmod(lock, 0666) == 0);
    int rfd;
    pid_t pid = wl_fork(&rfd);
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
            wl_child_exit(2, "setuid: %s", strerror(errno));
        ldb_options ro = {.flags = LDB_RDONLY};
        ldb_env *env = NULL;
        int rc = ldb_open(path, &ro, &env);
        if (rc != LDB_READONLY)
            wl_child_exit(3,
                          "LDB_RDONLY open by uid %d of root's database needing recovery: "
                          "%s, want LDB_READONLY",
                          NOBODY, ldb_strerror(rc));
        wl_child_exit(0, "done");
    }
    wl_log log = {0};
    wl_expect_exit0(wl_finish(pid, rfd, &log, 60, "uid 65534"), "uid 65534");
    wl_log_free(&log);
    /* Nothing changed: root still recovers every txn. */
    wl_model *m = wl_model_new();
    ldb_env *env = wl_open_and_match(path, NULL, m, &tail_params, seed, c.out.js, c.out.n, c.out.n,
                                     "root after uid 65534 was refused", NULL, NULL);
    ck_assert_int_eq(ldb_close(env), 0);
    wl_model_free(m);
    free_crashed(&c);
    if (strcmp(dir, c.dir) != 0)
        tu_remove_dir(dir);
}
END_TEST

static Suite *wal_suite(void)
{
    Suite *s = suite_create("wal");
    TCase *tc = tcase_create("durability");
    tcase_set_timeout(tc, 900);
    tcase_add_loop_test(tc, test_reopen_after_close, 0, 2);
    tcase_add_loop_test(tc, test_recover_after_exit, 0, 2);
    tcase_add_loop_test(tc, test_failed_commit_leaves_no_trace, 0, 3);
    tcase_add_loop_test(tc, test_failed_state_write_leaves_no_trace, 0, 5);
    tcase_add_test(tc, test_log_writeback_starts_early);
    tcase_add_test(tc, test_wal_size_and_checkpoint);
    tcase_add_test(tc, test_auto_checkpoint);
    tcase_add_test(tc, test_sync_off_defers_checkpoint);
    tcase_add_loop_test(tc, test_sync_off_writes_log_back, 0, 2);
    tcase_add_test(tc, test_sync_off_log_synced_in_background);
    tcase_add_test(tc, test_big_txn_commits_as_checkpoint);
    suite_add_tcase(s, tc);
    tc = tcase_create("group");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_group_commit_threads);
    tcase_add_test(tc, test_group_commit_processes);
    suite_add_tcase(s, tc);
    tc = tcase_create("tail");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_tail_damage);
    tcase_add_test(tc, test_foreign_log);
    suite_add_tcase(s, tc);
    tc = tcase_create("rdonly");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_rdonly_recovers);
    tcase_add_test(tc, test_rdonly_without_write_permission);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {wal_suite()};
    return tu_run_suites(suites, 1);
}
