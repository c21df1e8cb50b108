/* SPDX-License-Identifier: MIT */
/*
 * Out of memory (issue 16), after libuv's test-loop-oom and SQLite's malloc
 * tests: each operation below is run again and again, round i making the
 * i-th allocation of the library fail (lib/alloc.h's hook), until a round
 * in which no allocation failed. Every round must end in success or a clean
 * -ENOMEM (never LDB_CORRUPTED, LDB_PANIC or a crash), leak nothing (the
 * sanitizer build's LeakSanitizer checks each test's process at exit), and
 * leave the database consistent: it passes ldb_check and equals the model,
 * in the same env and after a reopen. Each loop runs twice: the i-th
 * allocation failing alone, and every allocation from the i-th on failing
 * (so the error paths cannot allocate their way out).
 *
 * The operations: open of a new database and of an existing one, a write
 * txn (dbi open, puts with overflow values, deletes, a cursor, the commit),
 * close, recovery (open after a writer died leaving its log), backup (plain
 * and compact) and ldb_check; and the growable arrays' helper alone.
 */
#include "testutil.h"
#include "alloc.h" /* the failing-allocator hook */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NKEYS 120u
#define MAX_ROUNDS 100000

/* ---- the model: per tree (LDB_MAIN, "t1") and key, the version in it --------------- */

typedef struct model {
    uint32_t ver[2][NKEYS]; /* 0: absent */
} model;

static void key_of(unsigned k, char *buf)
{
    snprintf(buf, 16, "key-%05u", k);
}

/* One value in five is an overflow value (larger than a page). */
static size_t value_len(unsigned k, uint32_t v)
{
    return (k * 7u + v * 13u) % 5 == 0 ? 5000 : 10 + (k + v) % 100;
}

static void value_of(unsigned k, uint32_t v, uint8_t *buf)
{
    tu_fill_pattern(buf, value_len(k, v), (uint64_t)k << 32 | v);
}

/* Op i (0..23) of txn number step: a put of version step, or a delete, of
 * key *k in tree *t (0: LDB_MAIN, 1: "t1"). */
static int op_of(uint32_t step, unsigned i, unsigned *t, unsigned *k)
{
    *t = i % 2;
    *k = (step * 31u + i * 7u) % NKEYS;
    return (step + i) % 4 == 0; /* 1: a delete */
}

#define OPS 24u

static void model_apply(model *m, uint32_t step)
{
    for (unsigned i = 0; i < OPS; i++) {
        unsigned t, k;
        int del = op_of(step, i, &t, &k);
        m->ver[t][k] = del ? 0 : step;
    }
}

/* Txn number step's ops in txn, then a cursor over the named tree. Returns
 * the first error. */
static int run_ops(ldb_txn *txn, uint32_t step)
{
    ldb_dbi dbi[2] = {LDB_MAIN, 0};
    int rc = ldb_dbi_open(txn, "t1", LDB_CREATE, &dbi[1]);
    if (rc)
        return rc;
    uint8_t val[5000];
    for (unsigned i = 0; i < OPS; i++) {
        unsigned t, k;
        char key[16];
        int del = op_of(step, i, &t, &k);
        key_of(k, key);
        ldb_val kv = tu_str(key);
        if (del) {
            rc = ldb_del(txn, dbi[t], &kv);
            if (rc == LDB_NOTFOUND)
                rc = 0;
        } else {
            value_of(k, step, val);
            ldb_val vv = tu_val(val, value_len(k, step));
            rc = ldb_put(txn, dbi[t], &kv, &vv, 0);
        }
        if (rc)
            return rc;
    }
    ldb_cursor *cur;
    rc = ldb_cursor_open(txn, dbi[1], &cur);
    if (rc)
        return rc;
    ldb_val ck, cv;
    for (int n = 0; n < 5 && rc == 0; n++)
        rc = ldb_cursor_get(cur, &ck, &cv, n ? LDB_NEXT : LDB_FIRST);
    ldb_cursor_close(cur);
    return rc == LDB_NOTFOUND ? 0 : rc;
}

/* The tree holds exactly the keys of ver, with their values; else the test
 * fails, naming what. */
static void expect_tree(ldb_txn *txn, ldb_dbi dbi, const uint32_t *ver, const char *what)
{
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(txn, dbi, &cur));
    ldb_val k, v;
    int rc = ldb_cursor_get(cur, &k, &v, LDB_FIRST);
    uint8_t want[5000];
    for (unsigned i = 0; i < NKEYS; i++) {
        if (ver[i] == 0)
            continue;
        char key[16];
        key_of(i, key);
        TU_REQUIRE(rc == 0, "%s: key %s missing (%s)", what, key, ldb_strerror(rc));
        TU_REQUIRE(k.size == strlen(key) && memcmp(k.data, key, k.size) == 0,
                   "%s: found %.*s where %s should be", what, (int)k.size, (char *)k.data, key);
        value_of(i, ver[i], want);
        TU_REQUIRE(v.size == value_len(i, ver[i]) && memcmp(v.data, want, v.size) == 0,
                   "%s: key %s has the wrong value", what, key);
        rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT);
    }
    TU_REQUIRE(rc == LDB_NOTFOUND, "%s: an extra key %.*s (%s)", what, (int)k.size,
               (char *)k.data, ldb_strerror(rc));
    ldb_cursor_close(cur);
}

static int model_empty(const model *m, int t)
{
    for (unsigned i = 0; i < NKEYS; i++)
        if (m->ver[t][i])
            return 0;
    return 1;
}

/* env equals m and passes ldb_check. */
static void expect_model(ldb_env *env, const model *m, const char *what)
{
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    expect_tree(txn, LDB_MAIN, m->ver[0], what);
    ldb_dbi t1;
    int rc = ldb_dbi_open(txn, "t1", 0, &t1);
    if (model_empty(m, 1)) {
        TU_REQUIRE(rc == 0 || rc == LDB_NOTFOUND, "%s: dbi open: %s", what, ldb_strerror(rc));
        if (rc == 0)
            expect_tree(txn, t1, m->ver[1], what);
    } else {
        TU_REQUIRE(rc == 0, "%s: tree t1: %s", what, ldb_strerror(rc));
        expect_tree(txn, t1, m->ver[1], what);
    }
    ldb_txn_abort(txn);
    tu_check_env(env);
}

/* Commit txns first..last (no failures) into env and m. */
static void commit_steps(ldb_env *env, model *m, uint32_t first, uint32_t last)
{
    for (uint32_t s = first; s <= last; s++) {
        ldb_txn *txn = tu_begin(env, 0);
        TU_RC_OK(run_ops(txn, s));
        TU_RC_OK(ldb_txn_commit(txn));
        model_apply(m, s);
    }
}

/* ---- the loop ------------------------------------------------------------------------ */

static int persist; /* the loop's mode: one failure, or every one from the i-th on */

static void arm(uint64_t i)
{
    ldb__alloc_fail_set(i, persist);
}

/* Disarm; whether an allocation failed since arm(). */
static int disarm(void)
{
    int fired = ldb__alloc_failed() > 0;
    ldb__alloc_fail_set(0, 0);
    return fired;
}

/* The result of a round in which an allocation failed. */
static void expect_clean(int rc, const char *what, uint64_t i)
{
    TU_REQUIRE(rc == 0 || rc == -ENOMEM, "%s, allocation %" PRIu64 " failed: %d (%s), not -ENOMEM",
               what, i, rc, ldb_strerror(rc));
}

static void report(const char *what, uint64_t rounds)
{
    fprintf(stderr, "oom %s (%s): %" PRIu64 " rounds\n", what,
            persist ? "every allocation from the i-th on fails" : "the i-th allocation fails",
            rounds);
}

/* ---- open -------------------------------------------------------------------------- */

START_TEST(test_oom_open_new)
{
    persist = _i;
    model empty = {0};
    uint64_t i;
    for (i = 1; i < MAX_ROUNDS; i++) {
        char dir[4096], path[4200];
        tu_fresh_db(dir, sizeof dir, path, sizeof path);
        ldb_env *env = NULL;
        arm(i);
        int rc = ldb_open(path, NULL, &env);
        int fired = disarm();
        expect_clean(rc, "open of a new database", i);
        if (rc == 0)
            TU_RC_OK(ldb_close(env));
        env = tu_open(path, NULL);
        expect_model(env, &empty, "after an open of a new database failed");
        TU_RC_OK(ldb_close(env));
        tu_remove_dir(dir);
        if (!fired) {
            TU_REQUIRE(rc == 0, "no allocation failed, yet: %s", ldb_strerror(rc));
            break;
        }
    }
    report("open new", i);
}
END_TEST

START_TEST(test_oom_open_existing)
{
    persist = _i;
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    model m = {0};
    ldb_env *env = tu_open(path, NULL);
    commit_steps(env, &m, 1, 10);
    TU_RC_OK(ldb_close(env));
    uint64_t i;
    for (i = 1; i < MAX_ROUNDS; i++) {
        arm(i);
        int rc = ldb_open(path, NULL, &env);
        int fired = disarm();
        expect_clean(rc, "open of an existing database", i);
        if (rc)
            env = tu_open(path, NULL);
        expect_model(env, &m, "after an open of an existing database");
        TU_RC_OK(ldb_close(env));
        if (!fired) {
            TU_REQUIRE(rc == 0, "no allocation failed, yet: %s", ldb_strerror(rc));
            break;
        }
    }
    report("open existing", i);
    tu_remove_dir(dir);
}
END_TEST

/* ---- a write txn -------------------------------------------------------------------- */

/* One txn under the armed hook: begin, ops, commit. Returns the first error
 * (the txn is then aborted) and whether the commit returned 0. */
static int oom_txn(ldb_env *env, model *m, uint32_t step, int *committed)
{
    ldb_txn *txn;
    *committed = 0;
    int rc = ldb_txn_begin(env, 0, &txn);
    if (rc)
        return rc;
    rc = run_ops(txn, step);
    if (rc) {
        ldb_txn_abort(txn);
        return rc;
    }
    rc = ldb_txn_commit(txn);
    if (rc == 0) {
        model_apply(m, step);
        *committed = 1;
    }
    return rc;
}

START_TEST(test_oom_commit)
{
    persist = _i;
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    model m = {0};
    ldb_env *env = tu_open(path, NULL);
    commit_steps(env, &m, 1, 6);
    uint64_t i;
    uint32_t step = 7;
    for (i = 1; i < MAX_ROUNDS; i++, step++) {
        int committed;
        arm(i);
        int rc = oom_txn(env, &m, step, &committed);
        int fired = disarm();
        expect_clean(rc, "write txn", i);
        /* A commit that failed changed nothing: in this env, and after a
         * reopen (every tenth round; recovery replays the log). */
        expect_model(env, &m, "after a write txn");
        if (i % 10 == 0) {
            TU_RC_OK(ldb_close(env));
            env = tu_open(path, NULL);
            expect_model(env, &m, "reopened after a write txn");
        }
        if (!fired) {
            TU_REQUIRE(rc == 0 && committed, "no allocation failed, yet: %s", ldb_strerror(rc));
            break;
        }
    }
    /* The env still takes writes. */
    commit_steps(env, &m, step + 1, step + 3);
    TU_RC_OK(ldb_close(env));
    env = tu_open(path, NULL);
    expect_model(env, &m, "at the end");
    TU_RC_OK(ldb_close(env));
    report("write txn", i);
    tu_remove_dir(dir);
}
END_TEST

/* close (it checkpoints the log into the data file) */
START_TEST(test_oom_close)
{
    persist = _i;
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    model m = {0};
    uint64_t i;
    uint32_t step = 1;
    for (i = 1; i < MAX_ROUNDS; i++, step += 2) {
        ldb_env *env = tu_open(path, NULL);
        commit_steps(env, &m, step, step + 1);
        arm(i);
        int rc = ldb_close(env); /* the handle is gone whatever it returns */
        int fired = disarm();
        expect_clean(rc, "close", i);
        env = tu_open(path, NULL);
        expect_model(env, &m, "after a close");
        TU_RC_OK(ldb_close(env));
        if (!fired) {
            TU_REQUIRE(rc == 0, "no allocation failed, yet: %s", ldb_strerror(rc));
            break;
        }
    }
    report("close", i);
    tu_remove_dir(dir);
}
END_TEST

/* ---- recovery ------------------------------------------------------------------------ */

static void copy_or_fail(const char *from, const char *to)
{
    unlink(to);
    int rc = tu_copy_file(from, to);
    TU_REQUIRE(rc == 0, "copy %s to %s: %s", from, to, strerror(-rc));
}

/* The three files of a database, copied from src to dst (paths of data files). */
static void copy_db(const char *src, const char *dst)
{
    static const char *const side[] = {"", "-wal", "-lock"};
    for (int s = 0; s < 3; s++) {
        char a[4300], b[4300];
        snprintf(a, sizeof a, "%s%s", src, side[s]);
        snprintf(b, sizeof b, "%s%s", dst, side[s]);
        copy_or_fail(a, b);
    }
}

START_TEST(test_oom_recovery)
{
    persist = _i;
    char dir[4096], path[4200], saved[4300];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    snprintf(saved, sizeof saved, "%s/saved", dir);
    model m = {0};
    ldb_env *env = tu_open(path, NULL);
    commit_steps(env, &m, 1, 4);
    TU_RC_OK(ldb_close(env));
    /* A writer commits more and dies without closing: its txns live only in
     * the log. */
    fflush(NULL);
    pid_t pid = fork();
    TU_REQUIRE(pid >= 0, "fork");
    if (pid == 0) {
        if (ldb_open(path, NULL, &env) != 0)
            _exit(2);
        for (uint32_t s = 5; s <= 12; s++) {
            ldb_txn *txn;
            if (ldb_txn_begin(env, 0, &txn) || run_ops(txn, s) || ldb_txn_commit(txn))
                _exit(3);
        }
        _exit(0);
    }
    int status = tu_wait_child(pid, 60, "writer");
    TU_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writer failed: %d", status);
    for (uint32_t s = 5; s <= 12; s++)
        model_apply(&m, s);
    struct stat st;
    snprintf(saved, sizeof saved, "%s-wal", path);
    TU_REQUIRE(stat(saved, &st) == 0 && st.st_size > 0, "no log left to recover");
    snprintf(saved, sizeof saved, "%s/saved", dir);
    copy_db(path, saved);
    uint64_t i;
    for (i = 1; i < MAX_ROUNDS; i++) {
        copy_db(saved, path);
        arm(i);
        int rc = ldb_open(path, NULL, &env);
        int fired = disarm();
        expect_clean(rc, "recovery", i);
        if (rc)
            env = tu_open(path, NULL);
        expect_model(env, &m, "after a recovery");
        TU_RC_OK(ldb_close(env));
        if (!fired) {
            TU_REQUIRE(rc == 0, "no allocation failed, yet: %s", ldb_strerror(rc));
            break;
        }
    }
    report("recovery", i);
    tu_remove_dir(dir);
}
END_TEST

/* ---- backup and check ---------------------------------------------------------------- */

START_TEST(test_oom_backup)
{
    persist = _i / 2;
    unsigned flags = _i % 2 ? LDB_BACKUP_COMPACT : 0;
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    model m = {0};
    ldb_env *env = tu_open(path, NULL);
    commit_steps(env, &m, 1, 4);
    TU_RC_OK(ldb_checkpoint(env));
    commit_steps(env, &m, 5, 8); /* some txns only in the log */
    uint64_t i;
    for (i = 1; i < MAX_ROUNDS; i++) {
        char dest[4300], tmp[4400];
        snprintf(dest, sizeof dest, "%s/copy%" PRIu64, dir, i);
        snprintf(tmp, sizeof tmp, "%s.ldb-backup-tmp", dest);
        arm(i);
        int rc = ldb_backup(env, dest, flags);
        int fired = disarm();
        expect_clean(rc, flags ? "compact backup" : "backup", i);
        struct stat st;
        TU_REQUIRE(stat(tmp, &st) != 0, "round %" PRIu64 ": the backup left its temporary", i);
        if (rc) {
            TU_REQUIRE(stat(dest, &st) != 0, "round %" PRIu64 ": a failed backup left a copy", i);
        } else {
            ldb_options o = {.flags = LDB_IMMUTABLE};
            ldb_env *copy = tu_open(dest, &o);
            expect_model(copy, &m, "the backup");
            TU_RC_OK(ldb_close(copy));
            unlink(dest);
        }
        expect_model(env, &m, "after a backup");
        if (!fired) {
            TU_REQUIRE(rc == 0, "no allocation failed, yet: %s", ldb_strerror(rc));
            break;
        }
    }
    TU_RC_OK(ldb_close(env));
    report(flags ? "compact backup" : "backup", i);
    tu_remove_dir(dir);
}
END_TEST

START_TEST(test_oom_check)
{
    persist = _i;
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    model m = {0};
    ldb_env *env = tu_open(path, NULL);
    commit_steps(env, &m, 1, 8);
    uint64_t i;
    for (i = 1; i < MAX_ROUNDS; i++) {
        arm(i);
        int rc = ldb_check(env, NULL);
        int fired = disarm();
        /* Running out of memory is not damage. */
        expect_clean(rc, "ldb_check", i);
        if (!fired) {
            TU_REQUIRE(rc == 0, "no allocation failed, yet: %s", ldb_strerror(rc));
            break;
        }
    }
    expect_model(env, &m, "after the checks");
    TU_RC_OK(ldb_close(env));
    report("check", i);
    tu_remove_dir(dir);
}
END_TEST

/* The growable arrays' one helper (ldb__array_grow): it doubles from the
 * first size until need fits; out of memory, or a size that overflows, it
 * leaves the array and its capacity as they were. */
START_TEST(test_array_grow)
{
    size_t cap = 0;
    uint32_t *a = ldb__array_grow(NULL, &cap, 1, sizeof *a, 4);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(cap, 4);
    for (uint32_t i = 0; i < 4; i++)
        a[i] = i;
    uint32_t *b = ldb__array_grow(a, &cap, 9, sizeof *a, 4); /* 4 -> 8 -> 16 */
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(cap, 16);
    for (uint32_t i = 0; i < 4; i++)
        ck_assert_uint_eq(b[i], i);
    a = b;
    ldb__alloc_fail_set(1, 0);
    ck_assert_ptr_null(ldb__array_grow(a, &cap, 17, sizeof *a, 4));
    ldb__alloc_fail_set(0, 0);
    ck_assert_uint_eq(cap, 16);
    ck_assert_uint_eq(a[3], 3); /* still the caller's */
    ck_assert_ptr_null(ldb__array_grow(a, &cap, SIZE_MAX / 2 + 2, sizeof *a, 4));
    ck_assert_ptr_null(ldb__array_grow(a, &cap, 17, SIZE_MAX / 8, 4));
    ck_assert_uint_eq(cap, 16);
    ldb__free(a);
}
END_TEST

static Suite *oom_suite(void)
{
    Suite *s = suite_create("oom");
    TCase *tc = tcase_create("oom");
    tcase_set_timeout(tc, 900);
    tcase_add_loop_test(tc, test_oom_open_new, 0, 2);
    tcase_add_loop_test(tc, test_oom_open_existing, 0, 2);
    tcase_add_loop_test(tc, test_oom_commit, 0, 2);
    tcase_add_loop_test(tc, test_oom_close, 0, 2);
    tcase_add_loop_test(tc, test_oom_recovery, 0, 2);
    tcase_add_loop_test(tc, test_oom_backup, 0, 4);
    tcase_add_loop_test(tc, test_oom_check, 0, 2);
    tcase_add_test(tc, test_array_grow);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {oom_suite()};
    return tu_run_suites(suites, 1);
}
