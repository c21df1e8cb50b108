/* SPDX-License-Identifier: MIT */
/*
 * Named-tree handles and max_dbs (issue 9, bug 10): running out of handle
 * slots has its own code (LDB_DBS_FULL, not LDB_FULL's "max_size"); an
 * aborted create, an open in an aborted txn and a deleted tree give their
 * slot back, and their old handle then gives LDB_INVALID rather than
 * naming the tree that takes the slot next; handles of committed opens
 * stay valid.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ldb_env *open_small(const char *path, unsigned max_dbs)
{
    ldb_options o = {.max_dbs = max_dbs};
    return tu_open(path, &o);
}

static void put_str(ldb_txn *txn, ldb_dbi dbi, const char *k, const char *v)
{
    ldb_val key = tu_str(k), val = tu_str(v);
    TU_RC_OK(ldb_put(txn, dbi, &key, &val, 0));
}

/* The value of k in dbi as a string ("" if absent), or the error. */
static int get_str(ldb_txn *txn, ldb_dbi dbi, const char *k, char *out, size_t cap)
{
    ldb_val key = tu_str(k), val;
    out[0] = '\0';
    int rc = ldb_get(txn, dbi, &key, &val);
    if (rc == 0)
        snprintf(out, cap, "%.*s", (int)val.size, (const char *)val.data);
    return rc;
}

static void create_trees(const char *path, const char *const *names, int n)
{
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn;
    TU_RC_OK(ldb_txn_begin(env, 0, &txn));
    for (int i = 0; i < n; i++) {
        ldb_dbi d;
        TU_RC_OK(ldb_dbi_open(txn, names[i], LDB_CREATE, &d));
        put_str(txn, d, "k", names[i]);
    }
    TU_RC_OK(ldb_txn_commit(txn));
    ck_assert_int_eq(ldb_close(env), 0);
}

START_TEST(test_dbs_full_has_its_own_code)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = open_small(path, 2);
    ldb_txn *txn;
    ldb_dbi a, b, c;
    TU_RC_OK(ldb_txn_begin(env, 0, &txn));
    TU_RC_OK(ldb_dbi_open(txn, "a", LDB_CREATE, &a));
    TU_RC_OK(ldb_dbi_open(txn, "b", LDB_CREATE, &b));
    ck_assert_int_eq(ldb_dbi_open(txn, "c", LDB_CREATE, &c), LDB_DBS_FULL);
    /* A refusal: the txn goes on and commits what it did. */
    put_str(txn, a, "k", "va");
    TU_RC_OK(ldb_txn_commit(txn));
    ck_assert_int_ne(LDB_DBS_FULL, LDB_FULL);
    ck_assert_ptr_nonnull(strstr(ldb_strerror(LDB_DBS_FULL), "max_dbs"));
    ck_assert_ptr_null(strstr(ldb_strerror(LDB_DBS_FULL), "max_size"));
    ck_assert_ptr_nonnull(strstr(ldb_strerror(LDB_FULL), "max_size"));
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    tu_remove_dir(dir);
}
END_TEST

START_TEST(test_aborted_create_gives_slot_back)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = open_small(path, 1);
    ldb_txn *txn;
    ldb_dbi a, b;
    char v[64];
    /* Many aborted creates: the one slot comes back each time. */
    ldb_dbi first = 0;
    for (int i = 0; i < 50; i++) {
        TU_RC_OK(ldb_txn_begin(env, 0, &txn));
        TU_RC_OK(ldb_dbi_open(txn, "a", LDB_CREATE, &a));
        put_str(txn, a, "k", "va");
        ldb_txn_abort(txn);
        if (i == 0)
            first = a;
    }
    TU_RC_OK(ldb_txn_begin(env, 0, &txn));
    int rc = ldb_dbi_open(txn, "b", LDB_CREATE, &b);
    ck_assert_msg(rc == 0, "create after aborted creates: %s", ldb_strerror(rc));
    ck_assert_uint_ne(b, a);
    ck_assert_uint_ne(b, first);
    put_str(txn, b, "k", "vb");
    /* The aborted create's handle names nothing now, not tree b. */
    ck_assert_int_eq(get_str(txn, a, "k", v, sizeof v), LDB_INVALID);
    ck_assert_int_eq(get_str(txn, first, "k", v, sizeof v), LDB_INVALID);
    ldb_val key = tu_str("x"), val = tu_str("y");
    ck_assert_int_eq(ldb_put(txn, a, &key, &val, 0), LDB_INVALID);
    TU_RC_OK(ldb_txn_commit(txn));

    TU_RC_OK(ldb_txn_begin(env, LDB_TXN_RDONLY, &txn));
    ck_assert_int_eq(ldb_dbi_open(txn, "a", 0, &a), LDB_NOTFOUND);
    TU_RC_OK(get_str(txn, b, "k", v, sizeof v));
    ck_assert_str_eq(v, "vb");
    ck_assert_int_eq(get_str(txn, first, "k", v, sizeof v), LDB_INVALID);
    ldb_txn_abort(txn);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    tu_remove_dir(dir);
}
END_TEST

START_TEST(test_deleted_tree_gives_slot_back)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = open_small(path, 1);
    ldb_txn *txn;
    ldb_dbi a, a2, b;
    char v[64];
    TU_RC_OK(ldb_txn_begin(env, 0, &txn));
    TU_RC_OK(ldb_dbi_open(txn, "a", LDB_CREATE, &a));
    put_str(txn, a, "k", "va");
    TU_RC_OK(ldb_txn_commit(txn));

    /* A delete that aborts leaves the handle alone. */
    TU_RC_OK(ldb_txn_begin(env, 0, &txn));
    TU_RC_OK(ldb_dbi_drop(txn, a, 1));
    ldb_txn_abort(txn);
    TU_RC_OK(ldb_txn_begin(env, 0, &txn));
    TU_RC_OK(get_str(txn, a, "k", v, sizeof v));
    ck_assert_str_eq(v, "va");
    /* Deleted, then created again in the same txn: one live tree, same slot. */
    TU_RC_OK(ldb_dbi_drop(txn, a, 1));
    TU_RC_OK(ldb_dbi_open(txn, "a", LDB_CREATE, &a2));
    put_str(txn, a2, "k", "va2");
    TU_RC_OK(ldb_txn_commit(txn));
    TU_RC_OK(ldb_txn_begin(env, 0, &txn));
    TU_RC_OK(get_str(txn, a2, "k", v, sizeof v));
    ck_assert_str_eq(v, "va2");
    /* A committed delete gives the slot back. */
    TU_RC_OK(ldb_dbi_drop(txn, a2, 1));
    TU_RC_OK(ldb_txn_commit(txn));

    TU_RC_OK(ldb_txn_begin(env, 0, &txn));
    ck_assert_int_eq(get_str(txn, a2, "k", v, sizeof v), LDB_INVALID);
    int rc = ldb_dbi_open(txn, "b", LDB_CREATE, &b);
    ck_assert_msg(rc == 0, "create after a delete: %s", ldb_strerror(rc));
    ck_assert_uint_ne(b, a2);
    put_str(txn, b, "k", "vb");
    ck_assert_int_eq(get_str(txn, a2, "k", v, sizeof v), LDB_INVALID);
    TU_RC_OK(ldb_txn_commit(txn));
    TU_RC_OK(ldb_txn_begin(env, LDB_TXN_RDONLY, &txn));
    ck_assert_int_eq(get_str(txn, a2, "k", v, sizeof v), LDB_INVALID);
    TU_RC_OK(get_str(txn, b, "k", v, sizeof v));
    ck_assert_str_eq(v, "vb");
    ldb_txn_abort(txn);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    tu_remove_dir(dir);
}
END_TEST

/* A read txn's open: kept if the txn commits, given back if it aborts and
 * no other txn that opened it committed. */
START_TEST(test_read_opens_kept_only_by_commit)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    static const char *const names[] = {"a", "b", "c"};
    create_trees(path, names, 3);
    ldb_env *env = open_small(path, 1);
    ldb_txn *t1, *t2;
    ldb_dbi a, a1, b, c;
    char v[64];
    TU_RC_OK(ldb_txn_begin(env, LDB_TXN_RDONLY, &t1));
    TU_RC_OK(ldb_dbi_open(t1, "a", 0, &a));
    ldb_txn_abort(t1);
    TU_RC_OK(ldb_txn_begin(env, LDB_TXN_RDONLY, &t1));
    int rc = ldb_dbi_open(t1, "b", 0, &b);
    ck_assert_msg(rc == 0, "open after an aborted read txn's open: %s", ldb_strerror(rc));
    ck_assert_int_eq(get_str(t1, a, "k", v, sizeof v), LDB_INVALID);
    /* Two txns open b; the first aborts, the second commits: kept. */
    TU_RC_OK(ldb_txn_begin(env, LDB_TXN_RDONLY, &t2));
    TU_RC_OK(ldb_dbi_open(t2, "b", 0, &a1));
    ck_assert_uint_eq(a1, b);
    ldb_txn_abort(t1);
    TU_RC_OK(get_str(t2, b, "k", v, sizeof v));
    ck_assert_str_eq(v, "b");
    TU_RC_OK(ldb_txn_commit(t2));
    TU_RC_OK(ldb_txn_begin(env, LDB_TXN_RDONLY, &t1));
    TU_RC_OK(get_str(t1, b, "k", v, sizeof v));
    ck_assert_str_eq(v, "b");
    ck_assert_int_eq(ldb_dbi_open(t1, "c", 0, &c), LDB_DBS_FULL);
    ldb_txn_abort(t1);
    /* A handle used across reset and renew stays pinned by its txn. */
    TU_RC_OK(ldb_txn_begin(env, LDB_TXN_RDONLY, &t1));
    TU_RC_OK(get_str(t1, b, "k", v, sizeof v));
    ldb_txn_reset(t1);
    TU_RC_OK(ldb_txn_renew(t1));
    TU_RC_OK(get_str(t1, b, "k", v, sizeof v));
    ck_assert_str_eq(v, "b");
    ldb_txn_abort(t1);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    tu_remove_dir(dir);
}
END_TEST

/* A write txn that opens an existing tree and commits nothing keeps it. */
START_TEST(test_empty_write_commit_keeps_handle)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    static const char *const names[] = {"a", "b"};
    create_trees(path, names, 2);
    ldb_env *env = open_small(path, 1);
    ldb_txn *txn;
    ldb_dbi a, b;
    char v[64];
    TU_RC_OK(ldb_txn_begin(env, 0, &txn));
    TU_RC_OK(ldb_dbi_open(txn, "a", 0, &a));
    TU_RC_OK(ldb_txn_commit(txn));
    TU_RC_OK(ldb_txn_begin(env, 0, &txn));
    TU_RC_OK(get_str(txn, a, "k", v, sizeof v));
    ck_assert_str_eq(v, "a");
    ck_assert_int_eq(ldb_dbi_open(txn, "b", 0, &b), LDB_DBS_FULL);
    put_str(txn, a, "k2", "v2");
    TU_RC_OK(ldb_txn_commit(txn));
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    tu_remove_dir(dir);
}
END_TEST

static Suite *dbi_suite(void)
{
    Suite *s = suite_create("dbi");
    TCase *tc = tcase_create("handles");
    tcase_add_test(tc, test_dbs_full_has_its_own_code);
    tcase_add_test(tc, test_aborted_create_gives_slot_back);
    tcase_add_test(tc, test_deleted_tree_gives_slot_back);
    tcase_add_test(tc, test_read_opens_kept_only_by_commit);
    tcase_add_test(tc, test_empty_write_commit_keeps_handle);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {dbi_suite()};
    return tu_run_suites(suites, 1);
}
