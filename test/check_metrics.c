/* SPDX-License-Identifier: MIT */
/*
 * Operators' surface (issue 13): ldb_metrics and ldb_reader_list.
 *
 *  - exposition: after N durable commits and a checkpoint, the text holds
 *    the right counters (this handle's and the database's), each histogram
 *    is cumulative with +Inf equal to _count, commit and log sync
 *    histograms counted every commit, every sample carries the db label,
 *    and every line is a comment or "name{labels} value".
 *  - space: the page gauges equal ldb_stat_space's figures; a reader's
 *    held-back pages show while it lives and are gone after.
 *  - two processes: the database-wide commit counter adds up both, the
 *    handle's own counts only its commits.
 *  - archive: with ldb_options.archive_dir, segments archived and (test
 *    hooks) failed attempts are counted, and the exposition stays valid.
 *  - readers: a live reader is listed with its pid and snapshot; a reader
 *    whose process was killed is listed as dead until ldb_reader_check
 *    frees it; a callback's nonzero return stops the walk.
 */
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef LDB_TEST_HOOKS
#include "os.h"
#endif

/* The exposition of env as one string (caller frees). */
static char *metrics_text(ldb_env *env)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    TU_RC_OK(ldb_metrics(env, f));
    fclose(f);
    return buf;
}

/* The value of the sample whose line starts with prefix ("name{...").
 * Fails the test if there is none. */
static double sample(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    const char *line = text;
    while (line != NULL && *line != '\0') {
        if (strncmp(line, prefix, n) == 0) {
            const char *sp = strchr(line + n, ' ');
            ck_assert_ptr_nonnull(sp);
            return strtod(sp + 1, NULL);
        }
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    ck_abort_msg("no sample %s in:\n%s", prefix, text);
    return 0;
}

static void commit_n(ldb_env *env, int n, int base)
{
    for (int i = 0; i < n; i++) {
        char k[32];
        snprintf(k, sizeof k, "key-%06d", base + i);
        ldb_txn *txn = tu_begin(env, 0);
        tu_put_str(txn, LDB_MAIN, k, "value");
        TU_RC_OK(ldb_txn_commit(txn));
    }
}

/* Every line is a "# HELP"/"# TYPE" comment or "lightningdb_x{db=...} v". */
static void expect_well_formed(const char *text)
{
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        ck_assert_ptr_nonnull(end);
        if (line[0] == '#')
            TU_REQUIRE(strncmp(line, "# HELP lightningdb_", 19) == 0 ||
                           strncmp(line, "# TYPE lightningdb_", 19) == 0,
                       "bad comment line: %.*s", (int)(end - line), line);
        else
            TU_REQUIRE(strncmp(line, "lightningdb_", 12) == 0 &&
                           memchr(line, '{', (size_t)(end - line)) &&
                           strstr(line, "db=\"") && strstr(line, "db=\"") < end,
                       "bad sample line: %.*s", (int)(end - line), line);
        line = end + 1;
    }
}

/* The buckets of histogram name are cumulative and end with +Inf == count. */
static double expect_histogram(const char *text, const char *name)
{
    char prefix[128];
    double prev = 0;
    const char *p = text;
    snprintf(prefix, sizeof prefix, "%s_bucket{", name);
    int buckets = 0;
    while ((p = strstr(p, prefix)) != NULL) {
        const char *sp = strchr(p, ' ');
        double v = strtod(sp + 1, NULL);
        TU_REQUIRE(v >= prev, "%s buckets not cumulative", name);
        prev = v;
        buckets++;
        p = sp;
    }
    TU_REQUIRE(buckets == 20, "%s has %d buckets, want 20", name, buckets);
    snprintf(prefix, sizeof prefix, "%s_count{", name);
    double count = sample(text, prefix);
    TU_REQUIRE(prev == count, "%s: +Inf bucket %.0f != count %.0f", name, prev, count);
    return count;
}

START_TEST(test_exposition)
{
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = tu_open(path, NULL);
    commit_n(env, 25, 0);
    TU_RC_OK(ldb_checkpoint(env));
    char *text = metrics_text(env);
    expect_well_formed(text);
    char label[700];
    snprintf(label, sizeof label, "lightningdb_last_txn_id{db=\"%s\"}", path);
    ck_assert_double_eq(sample(text, label), 25);
    ck_assert_double_eq(sample(text, "lightningdb_commits_total{"), 25);
    ck_assert_double_eq(sample(text, "lightningdb_database_commits_total{"), 25);
    TU_REQUIRE(sample(text, "lightningdb_checkpoints_total{") >= 1, "no checkpoint counted");
    ck_assert_double_eq(expect_histogram(text, "lightningdb_commit_duration_seconds"), 25);
    /* Every durable commit waited for a sync; a sync may cover several. */
    double syncs = expect_histogram(text, "lightningdb_log_sync_duration_seconds");
    TU_REQUIRE(syncs >= 1 && syncs <= 25, "log syncs counted: %.0f", syncs);
    TU_REQUIRE(expect_histogram(text, "lightningdb_checkpoint_duration_seconds") >= 1,
               "checkpoint not timed");
    TU_REQUIRE(sample(text, "lightningdb_commit_duration_seconds_sum{") > 0, "no commit time");
    free(text);
    TU_RC_IS(ldb_metrics(env, NULL), LDB_INVALID);
    TU_RC_IS(ldb_metrics(NULL, stdout), LDB_INVALID);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* The space gauges are ldb_stat_space's figures: pages a reader holds back
 * show as reader_held while it lives, and the sum is the free count. */
START_TEST(test_space_gauges)
{
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, 0);
    for (int i = 0; i < 3000; i++) {
        char k[32];
        snprintf(k, sizeof k, "key-%06d", i);
        tu_put_str(txn, LDB_MAIN, k, "a value of some forty bytes, give or take");
    }
    TU_RC_OK(ldb_txn_commit(txn));
    TU_RC_OK(ldb_checkpoint(env));
    ldb_txn *reader = tu_begin(env, LDB_TXN_RDONLY);
    txn = tu_begin(env, 0);
    for (int i = 0; i < 2000; i++) {
        char k[32];
        snprintf(k, sizeof k, "key-%06d", i);
        ldb_val key = tu_str(k);
        TU_RC_OK(ldb_del(txn, LDB_MAIN, &key));
    }
    TU_RC_OK(ldb_txn_commit(txn));
    ldb_space sp;
    TU_RC_OK(ldb_stat_space(env, &sp, sizeof sp));
    char *text = metrics_text(env);
    expect_well_formed(text);
    TU_REQUIRE(sp.reader_held_pages > 0, "the reader holds back no pages");
    ck_assert_double_eq(sample(text, "lightningdb_pages_reader_held{"), (double)sp.reader_held_pages);
    ck_assert_double_eq(sample(text, "lightningdb_pages_checkpoint_held{"),
                        (double)sp.checkpoint_held_pages);
    ck_assert_double_eq(sample(text, "lightningdb_pages_reusable{"), (double)sp.reusable_pages);
    ck_assert_double_eq(sample(text, "lightningdb_pages_unused{"), (double)sp.unused_pages);
    ck_assert_double_eq(sample(text, "lightningdb_pages_reserved{"), (double)sp.reserve_pages);
    free(text);
    ldb_txn_abort(reader);
    text = metrics_text(env);
    ck_assert_double_eq(sample(text, "lightningdb_pages_reader_held{"), 0);
    free(text);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

START_TEST(test_two_processes)
{
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = tu_open(path, NULL);
    commit_n(env, 10, 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        ldb_env *e = NULL;
        int rc = ldb_open(path, NULL, &e);
        if (rc == 0) {
            commit_n(e, 7, 1000);
            rc = ldb_close(e);
        }
        _exit(rc == 0 ? 0 : 1);
    }
    int st = tu_wait_child(pid, 60, "committer");
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char *text = metrics_text(env);
    ck_assert_double_eq(sample(text, "lightningdb_commits_total{"), 10);
    ck_assert_double_eq(sample(text, "lightningdb_database_commits_total{"), 17);
    ck_assert_double_eq(sample(text, "lightningdb_last_txn_id{"), 17);
    free(text);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

struct seen {
    int pid;
    uint64_t txn_id;
    int alive, count;
};

static int find_pid(void *ctx, int pid, uint64_t txn_id, int alive)
{
    struct seen *s = ctx;
    if (pid == s->pid) {
        s->txn_id = txn_id;
        s->alive = alive;
        s->count++;
    }
    return 0;
}

static int stop_at_first(void *ctx, int pid, uint64_t txn_id, int alive)
{
    (void)pid;
    (void)txn_id;
    (void)alive;
    (*(int *)ctx)++;
    return 42;
}

START_TEST(test_reader_list)
{
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = tu_open(path, NULL);
    commit_n(env, 3, 0);
    /* Our own reader: listed, alive, on snapshot 3. */
    ldb_txn *rd = tu_begin(env, LDB_TXN_RDONLY);
    struct seen s = {getpid(), 0, 0, 0};
    TU_RC_OK(ldb_reader_list(env, find_pid, &s));
    ck_assert_int_eq(s.count, 1);
    ck_assert_int_eq(s.alive, 1);
    ck_assert_uint_eq(s.txn_id, 3);
    int calls = 0;
    TU_RC_IS(ldb_reader_list(env, stop_at_first, &calls), 42);
    ck_assert_int_eq(calls, 1);
    ldb_txn_abort(rd);

    /* A child opens a reader on snapshot 4 and is killed holding it. */
    commit_n(env, 1, 100);
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        ldb_env *e = NULL;
        ldb_txn *t = NULL;
        char c = 'x';
        if (ldb_open(path, NULL, &e) != 0 || ldb_txn_begin(e, LDB_TXN_RDONLY, &t) != 0)
            c = 'f';
        if (write(ready[1], &c, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char c = 0;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    ck_assert_int_eq(c, 'x');
    struct seen child = {pid, 0, 0, 0};
    TU_RC_OK(ldb_reader_list(env, find_pid, &child));
    ck_assert_int_eq(child.count, 1);
    ck_assert_int_eq(child.alive, 1);
    ck_assert_uint_eq(child.txn_id, 4);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    child.count = 0;
    TU_RC_OK(ldb_reader_list(env, find_pid, &child));
    ck_assert_int_eq(child.count, 1);
    ck_assert_int_eq(child.alive, 0);
    int cleared = 0;
    TU_RC_OK(ldb_reader_check(env, &cleared));
    ck_assert_int_eq(cleared, 1);
    child.count = 0;
    TU_RC_OK(ldb_reader_list(env, find_pid, &child));
    ck_assert_int_eq(child.count, 0);
    TU_RC_IS(ldb_reader_list(env, NULL, NULL), LDB_INVALID);
    close(ready[0]);
    close(ready[1]);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

START_TEST(test_archive_counters)
{
    char dir[512], path[600], arch[700];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    snprintf(arch, sizeof arch, "%s/arch", dir);
    ck_assert(mkdir(arch, 0755) == 0);
    ldb_options o = {0};
    o.archive_dir = arch;
    ldb_env *env = tu_open(path, &o);
    commit_n(env, 5, 0);
    TU_RC_OK(ldb_checkpoint(env));
    commit_n(env, 5, 5);
#ifdef LDB_TEST_HOOKS
    ldb__os_fault_set(LDB_FAULT_COPY, 1, EIO);
    TU_RC_IS(ldb_checkpoint(env), -EIO);
    ldb__os_fault_reset();
    double failures = 1;
#else
    double failures = 0;
#endif
    TU_RC_OK(ldb_checkpoint(env));
    char *text = metrics_text(env);
    expect_well_formed(text);
    ck_assert_double_eq(sample(text, "lightningdb_archive_segments_total{"), 2);
    ck_assert_double_eq(sample(text, "lightningdb_archive_failures_total{"), failures);
    free(text);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_exposition);
    tcase_add_test(tc, test_archive_counters);
    tcase_add_test(tc, test_space_gauges);
    tcase_add_test(tc, test_two_processes);
    tcase_add_test(tc, test_reader_list);
    suite_add_tcase(s, tc);
    return tu_run_suites(&s, 1);
}
