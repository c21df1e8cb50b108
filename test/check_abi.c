/* SPDX-License-Identifier: MIT */
/*
 * check_abi.c: what a program built against one version of the header can
 * rely on from the library it runs against: the compile-time version
 * macros agree with ldb_version(), and the caller-allocated structs grow
 * without a break (the rule is in lightningdb.h, "Growing structs"). A
 * program built against 0.1.0 is played by copies of the 0.1.0 structs
 * below, placed against an inaccessible page so that a library reading or
 * writing one byte past them crashes the test. Linked against the shared
 * library, as programs are, not against the internal convenience library.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "testutil.h"

/* The structs exactly as include/lightningdb.h 0.1.0 declared them. */
struct options_0_1 {
    unsigned flags;
    int sync_mode;
    unsigned page_size;
    uint64_t max_size;
    size_t cache_size;
    int compression;
    int compression_level;
    unsigned max_readers;
    unsigned max_dbs;
    uint64_t wal_max_bytes;
    unsigned file_mode;
};
struct stat_0_1 {
    uint64_t last_txn_id;
    uint32_t page_size;
    uint64_t file_size, max_size;
    uint64_t pages_used, pages_free;
    uint64_t wal_size;
    uint32_t readers_used, readers_max;
    uint64_t oldest_reader_txn_id;
    uint64_t cache_hits, cache_misses, cache_bytes;
    uint64_t commits;
    uint64_t checkpoints;
};
struct tree_stat_0_1 {
    uint64_t entries;
    uint32_t depth;
    uint64_t branch_pages, leaf_pages, overflow_pages;
};

/* A struct of `size` bytes ending where an inaccessible page begins. */
static void *guarded(size_t size)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *p = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                            -1, 0);
    ck_assert(p != MAP_FAILED);
    ck_assert_int_eq(mprotect(p + pg, pg, PROT_NONE), 0);
    memset(p, 0, pg);
    return p + pg - size;
}

/* Two entries in LDB_MAIN, committed. */
static void put_two(ldb_env *env)
{
    ldb_txn *txn = tu_begin(env, 0);
    tu_put_str(txn, LDB_MAIN, "a", "1");
    tu_put_str(txn, LDB_MAIN, "b", "2");
    TU_RC_OK(ldb_txn_commit(txn));
}

typedef int (*open_fn)(const char *, const ldb_options *, ldb_env **);
typedef int (*stat_fn)(ldb_env *, ldb_stat *);
typedef int (*tree_stat_fn)(ldb_txn *, ldb_dbi, ldb_tree_stat *);

#if LDB_VERSION_NUMBER < 1000
#error "LDB_VERSION_NUMBER must be usable in #if and at least 0.1.0"
#endif

START_TEST(version_macros_match_the_library)
{
    char want[64];

    snprintf(want, sizeof want, "%d.%d.%d", LDB_VERSION_MAJOR, LDB_VERSION_MINOR,
             LDB_VERSION_PATCH);
    ck_assert_str_eq(ldb_version(), want);
    ck_assert_str_eq(LDB_VERSION_STRING, want);
    ck_assert_int_eq(LDB_VERSION_NUMBER,
                     LDB_VERSION_MAJOR * 1000000 + LDB_VERSION_MINOR * 1000 + LDB_VERSION_PATCH);
    ck_assert_int_ge(LDB_VERSION_MINOR, 0);
    ck_assert_int_lt(LDB_VERSION_MINOR, 1000);
    ck_assert_int_lt(LDB_VERSION_PATCH, 1000);
    /* The error code of the same stem keeps its meaning. */
    ck_assert_int_eq(LDB_VERSION, -30009);
}
END_TEST

/* A 0.1.0 program: its options are honoured, its figures filled, through
 * the unsized entry points and through the sized ones with its sizes. */
START_TEST(old_structs_work_and_nothing_past_them_is_touched)
{
    for (int sized = 0; sized < 2; sized++) {
        char dir[512], path[600];
        tu_fresh_db(dir, sizeof dir, path, sizeof path);
        struct options_0_1 *o = guarded(sizeof *o);
        o->page_size = 8192;
        o->max_readers = 7;
        o->sync_mode = LDB_SYNC_OFF;
        ldb_env *env = NULL;
        if (sized)
            TU_RC_OK(ldb_open_sized(path, (const ldb_options *)o, sizeof *o, &env));
        else
            TU_RC_OK((ldb_open)(path, (const ldb_options *)o, &env));
        put_two(env);

        struct stat_0_1 *st = guarded(sizeof *st);
        if (sized)
            TU_RC_OK(ldb_stat_env_sized(env, (ldb_stat *)st, sizeof *st));
        else
            TU_RC_OK((ldb_stat_env)(env, (ldb_stat *)st));
        ck_assert_uint_eq(st->page_size, 8192);
        ck_assert_uint_eq(st->readers_max, 7);
        ck_assert_uint_eq(st->last_txn_id, 1);
        ck_assert_uint_eq(st->commits, 1);

        ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
        struct tree_stat_0_1 *ts = guarded(sizeof *ts);
        if (sized)
            TU_RC_OK(ldb_dbi_stat_sized(txn, LDB_MAIN, (ldb_tree_stat *)ts, sizeof *ts));
        else
            TU_RC_OK((ldb_dbi_stat)(txn, LDB_MAIN, (ldb_tree_stat *)ts));
        ck_assert_uint_eq(ts->entries, 2);
        ck_assert_uint_eq(ts->depth, 1);
        ck_assert_uint_eq(ts->leaf_pages, 1);
        ldb_txn_abort(txn);
        tu_check_env(env);
        TU_RC_OK(ldb_close(env));
        tu_remove_dir(dir);
    }
}
END_TEST

/* Code written against API.md: the calls through the macros, NULL options,
 * and the functions' addresses. */
START_TEST(api_md_code_compiles_and_runs)
{
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    open_fn open_ptr = ldb_open;
    stat_fn stat_ptr = &ldb_stat_env;
    tree_stat_fn tree_stat_ptr = ldb_dbi_stat;
    ldb_env *env = NULL;
    TU_RC_OK(ldb_open(path, NULL, &env));
    put_two(env);
    TU_RC_OK(ldb_close(env));

    ldb_options o = {0};
    o.flags = LDB_NOCREATE;
    env = NULL;
    TU_RC_OK(open_ptr(path, &o, &env));
    ldb_stat a, b;
    memset(&a, 0xff, sizeof a);
    TU_RC_OK(ldb_stat_env(env, &a));
    TU_RC_OK(stat_ptr(env, &b));
    ck_assert_uint_eq(a.page_size, 4096);
    ck_assert_uint_eq(a.readers_max, 126);
    ck_assert_uint_eq(a.last_txn_id, 1);
    ck_assert_uint_eq(b.page_size, 4096);
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    ldb_tree_stat ts;
    TU_RC_OK(ldb_dbi_stat(txn, LDB_MAIN, &ts));
    ck_assert_uint_eq(ts.entries, 2);
    TU_RC_OK(tree_stat_ptr(txn, LDB_MAIN, &ts));
    ck_assert_uint_eq(ts.entries, 2);
    ldb_txn_abort(txn);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* A program built against a newer header: a zero tail is every default, a
 * field this library does not know is refused, and unknown figures read 0. */
START_TEST(newer_bigger_structs)
{
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    struct {
        ldb_options o;
        uint64_t future[3];
    } big;
    memset(&big, 0, sizeof big);
    big.o.page_size = 16384;
    ldb_env *env = NULL;
    big.future[2] = 1;
    TU_RC_IS(ldb_open_sized(path, &big.o, sizeof big, &env), LDB_INVALID);
    ck_assert_ptr_null(env);
    big.future[2] = 0;
    TU_RC_OK(ldb_open_sized(path, &big.o, sizeof big, &env));
    put_two(env);

    struct {
        ldb_stat st;
        uint64_t future[5];
    } bst;
    memset(&bst, 0xff, sizeof bst);
    TU_RC_OK(ldb_stat_env_sized(env, &bst.st, sizeof bst));
    ck_assert_uint_eq(bst.st.page_size, 16384);
    ck_assert_uint_eq(bst.st.last_txn_id, 1);
    for (int i = 0; i < 5; i++)
        ck_assert_uint_eq(bst.future[i], 0);

    struct {
        ldb_tree_stat st;
        uint32_t future[3];
    } bts;
    memset(&bts, 0xff, sizeof bts);
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    TU_RC_OK(ldb_dbi_stat_sized(txn, LDB_MAIN, &bts.st, sizeof bts));
    ck_assert_uint_eq(bts.st.entries, 2);
    for (int i = 0; i < 3; i++)
        ck_assert_uint_eq(bts.future[i], 0);
    ldb_txn_abort(txn);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* Sizes below 0.1.0's are not a struct any version had. */
START_TEST(sizes_below_0_1_are_refused)
{
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = {0};
    ldb_env *env = NULL;
    TU_RC_IS(ldb_open_sized(path, &o, offsetof(struct options_0_1, file_mode), &env),
             LDB_INVALID);
    ck_assert_ptr_null(env);
    TU_RC_OK(ldb_open_sized(path, NULL, 0, &env)); /* NULL: every default */
    ldb_stat st;
    TU_RC_IS(ldb_stat_env_sized(env, &st, sizeof(struct stat_0_1) - 8), LDB_INVALID);
    TU_RC_IS(ldb_stat_env_sized(env, NULL, sizeof st), LDB_INVALID);
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    ldb_tree_stat ts;
    TU_RC_IS(ldb_dbi_stat_sized(txn, LDB_MAIN, &ts, 8), LDB_INVALID);
    ldb_txn_abort(txn);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("abi");
    TCase *tc = tcase_create("version");
    tcase_add_test(tc, version_macros_match_the_library);
    suite_add_tcase(s, tc);
    tc = tcase_create("growing structs");
    tcase_add_test(tc, old_structs_work_and_nothing_past_them_is_touched);
    tcase_add_test(tc, api_md_code_compiles_and_runs);
    tcase_add_test(tc, newer_bigger_structs);
    tcase_add_test(tc, sizes_below_0_1_are_refused);
    suite_add_tcase(s, tc);
    return tu_run_suites(&s, 1);
}
