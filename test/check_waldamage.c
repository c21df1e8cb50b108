/*
 * Lengths in the write-ahead log (issue 9, bug 6): every length that goes
 * into a narrower field of a log record is checked, never cut.
 *
 * Suites:
 *  - length: a record at the largest length (lowered through a test hook)
 *    goes to the log, one 8 bytes longer commits as a checkpoint, and both
 *    survive a crash; op lengths that do not fit their fields are refused.
 */
#include "testutil.h"
#include "workload.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wal.h"

/* ---- record and op lengths ---------------------------------------------------------- */

enum { CAP = 16384 };

/* One put of a value making a record of exactly rec_len bytes (a multiple
 * of 8 plus up to 7 bytes of padding). */
static int put_record_of(ldb_env *env, const char *key, size_t rec_len)
{
    size_t vlen = rec_len - WAL_RECORD_HEADER - WAL_OP_HEADER - strlen(key);
    uint8_t *val = tu_xmalloc(vlen);
    tu_fill_pattern(val, vlen, rec_len);
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, 0, &txn);
    if (rc == 0) {
        ldb_val k = tu_str(key), v = {vlen, val};
        rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
        rc = rc ? rc : ldb_txn_commit(txn);
    }
    free(val);
    return rc;
}

static void expect_record_value(ldb_env *env, const char *key, size_t rec_len)
{
    size_t vlen = rec_len - WAL_RECORD_HEADER - WAL_OP_HEADER - strlen(key);
    uint8_t *val = tu_xmalloc(vlen);
    tu_fill_pattern(val, vlen, rec_len);
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_bytes(txn, LDB_MAIN, key, strlen(key), val, vlen);
    ldb_txn_abort(txn);
    free(val);
}

/* The largest record is WAL_RECORD_MAX (a u32 length); the hook lowers it
 * to CAP. With wal_max_bytes out of reach, a record of CAP bytes is
 * logged, one of CAP + 8 commits as a checkpoint; after a crash both and
 * the txns around them are there. Before: a record over 4 GiB had its
 * length cut to 32 bits and went to the log. */
START_TEST(test_record_length_boundary)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = {.wal_max_bytes = 1ull << 40};
    int rfd;
    pid_t pid = wl_fork(&rfd);
    if (pid == 0) {
        ldb__wal_set_record_max(CAP);
        ldb_env *env;
        int rc = ldb_open(path, &o, &env);
        if (rc)
            wl_child_exit(2, "open: %s", ldb_strerror(rc));
        ldb_stat a, b, d;
        ldb_stat_env(env, &a);
        if ((rc = put_record_of(env, "at-cap", CAP)) != 0)
            wl_child_exit(3, "a record of %d bytes: %s", CAP, ldb_strerror(rc));
        ldb_stat_env(env, &b);
        if (b.wal_size - a.wal_size != CAP || b.checkpoints != a.checkpoints)
            wl_child_exit(4, "a record of %d bytes: log %" PRIu64 " -> %" PRIu64
                          ", checkpoints %" PRIu64 " -> %" PRIu64 ", want it logged",
                          CAP, a.wal_size, b.wal_size, a.checkpoints, b.checkpoints);
        if ((rc = put_record_of(env, "past-cap", CAP + 8)) != 0)
            wl_child_exit(5, "a record of %d bytes: %s", CAP + 8, ldb_strerror(rc));
        ldb_stat_env(env, &d);
        if (d.checkpoints != b.checkpoints + 1 || d.wal_size > b.wal_size)
            wl_child_exit(6, "a record of %d bytes: log %" PRIu64 " -> %" PRIu64
                          ", checkpoints %" PRIu64 " -> %" PRIu64 ", want a checkpoint",
                          CAP + 8, b.wal_size, d.wal_size, b.checkpoints, d.checkpoints);
        if ((rc = put_record_of(env, "after", 200)) != 0)
            wl_child_exit(7, "a small record: %s", ldb_strerror(rc));
        wl_child_exit(0, "done"); /* a crash */
    }
    wl_log log = {0};
    wl_expect_exit0(wl_finish(pid, rfd, &log, 60, "length child"), "length child");
    wl_log_free(&log);
    ldb_env *env = tu_open(path, &o);
    expect_record_value(env, "at-cap", CAP);
    expect_record_value(env, "past-cap", CAP + 8);
    expect_record_value(env, "after", 200);
    ck_assert_uint_eq(tu_env_stat(env).last_txn_id, 3);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* Op lengths are checked against their fields (u8 name, u16 key, u32
 * value), not cut to them. */
START_TEST(test_op_length_fields)
{
    static const uint8_t bytes[8] = {0};
    struct ldb__wal_buf b = {0};
    struct ldb__wal_op op = {WAL_OP_PUT, bytes, 0, bytes, 1, bytes, 1};
    op.name_len = 256;
    TU_RC_IS(ldb__wal_buf_add(&b, &op, UINT64_MAX), LDB_TOOBIG);
    op.name_len = 0;
    op.key_len = 65536;
    TU_RC_IS(ldb__wal_buf_add(&b, &op, UINT64_MAX), LDB_TOOBIG);
    op.key_len = 1;
    op.value_len = (size_t)UINT32_MAX + 1;
    TU_RC_IS(ldb__wal_buf_add(&b, &op, UINT64_MAX), LDB_TOOBIG);
    ck_assert_uint_eq(b.nops, 0);
    /* At the boundary: a record of exactly the limit is kept, 8 more is not. */
    op.value_len = 0;
    op.key_len = 8;
    TU_RC_OK(ldb__wal_buf_add(&b, &op, WAL_RECORD_HEADER + WAL_OP_HEADER + 8));
    ck_assert(!b.too_big && b.nops == 1);
    TU_RC_OK(ldb__wal_buf_add(&b, &op, WAL_RECORD_HEADER + 2 * (WAL_OP_HEADER + 8) - 8));
    ck_assert(b.too_big);
    ldb__wal_buf_free(&b);
}
END_TEST

static Suite *waldamage_suite(void)
{
    Suite *s = suite_create("waldamage");
    TCase *tc = tcase_create("length");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_record_length_boundary);
    tcase_add_test(tc, test_op_length_fields);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *s = waldamage_suite();
    return tu_run_suites(&s, 1);
}
