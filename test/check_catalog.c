/* SPDX-License-Identifier: MIT */
/*
 * ldb_dbi_list (issue 13): the named trees of a read txn's snapshot, in
 * name order, as of its begin (not later commits), without LDB_MAIN, after
 * drops and a reopen; a write txn and a NULL callback are refused; a
 * callback's nonzero return stops the walk.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

struct names {
    char buf[4096];
    int count;
};

static int collect(void *ctx, const char *name)
{
    struct names *n = ctx;
    size_t len = strlen(n->buf);
    snprintf(n->buf + len, sizeof n->buf - len, "%s%s", n->count ? "," : "", name);
    n->count++;
    return 0;
}

static int stop_second(void *ctx, const char *name)
{
    (void)name;
    return ++*(int *)ctx == 2 ? 7 : 0;
}

static void create_trees(ldb_env *env, const char *const *names, int n)
{
    ldb_txn *txn = tu_begin(env, 0);
    for (int i = 0; i < n; i++) {
        ldb_dbi dbi;
        TU_RC_OK(ldb_dbi_open(txn, names[i], LDB_CREATE, &dbi));
        tu_put_str(txn, dbi, "k", names[i]);
    }
    tu_put_str(txn, LDB_MAIN, "main-key", "x");
    TU_RC_OK(ldb_txn_commit(txn));
}

static const char *list_now(ldb_env *env, struct names *n)
{
    memset(n, 0, sizeof *n);
    ldb_txn *rd = tu_begin(env, LDB_TXN_RDONLY);
    TU_RC_OK(ldb_dbi_list(rd, collect, n));
    ldb_txn_abort(rd);
    return n->buf;
}

START_TEST(test_list)
{
    static const char *const names[] = {"zeta", "alpha", "mid dle", "Alpha", "alpha2"};
    char dir[512], path[600];
    struct names n;
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = tu_open(path, NULL);
    ck_assert_str_eq(list_now(env, &n), "");
    create_trees(env, names, 5);
    ck_assert_str_eq(list_now(env, &n), "Alpha,alpha,alpha2,mid dle,zeta");

    /* A snapshot lists what it began with, whatever commits later. */
    ldb_txn *old = tu_begin(env, LDB_TXN_RDONLY);
    ldb_txn *w = tu_begin(env, 0);
    ldb_dbi dbi;
    TU_RC_OK(ldb_dbi_open(w, "alpha", 0, &dbi));
    TU_RC_IS(ldb_dbi_list(w, collect, &n), LDB_INVALID);
    TU_RC_OK(ldb_dbi_drop(w, dbi, 1));
    TU_RC_OK(ldb_dbi_open(w, "new", LDB_CREATE, &dbi));
    TU_RC_OK(ldb_txn_commit(w));
    memset(&n, 0, sizeof n);
    TU_RC_OK(ldb_dbi_list(old, collect, &n));
    ck_assert_str_eq(n.buf, "Alpha,alpha,alpha2,mid dle,zeta");
    int calls = 0;
    TU_RC_IS(ldb_dbi_list(old, stop_second, &calls), 7);
    ck_assert_int_eq(calls, 2);
    TU_RC_IS(ldb_dbi_list(old, NULL, NULL), LDB_INVALID);
    ldb_txn_abort(old);
    ck_assert_str_eq(list_now(env, &n), "Alpha,alpha2,mid dle,new,zeta");
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    env = tu_open(path, NULL);
    ck_assert_str_eq(list_now(env, &n), "Alpha,alpha2,mid dle,new,zeta");
    TU_RC_OK(ldb_close(env));
    TU_RC_IS(ldb_dbi_list(NULL, collect, &n), LDB_INVALID);
    tu_remove_dir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("catalog");
    TCase *tc = tcase_create("list");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_list);
    suite_add_tcase(s, tc);
    return tu_run_suites(&s, 1);
}
