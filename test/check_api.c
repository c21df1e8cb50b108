/* SPDX-License-Identifier: MIT */
/*
 * check_api: the public API's argument checks and limits, one clause of the
 * contract (include/lightningdb.h) per test: NULL handles, bad options and
 * flags, key and value limits, read-only txns and envs, put flags, result
 * strings, txn ids, the single writer, ldb_close misuse, env statistics,
 * persistence, the fixed page size, max_size (LDB_FULL), reset/renew, and
 * tree handle errors.
 *
 * Only public names are used. Every test runs in its own forked child on a
 * fresh directory, and every test that writes ends with ldb_check.
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


/* ---- helpers ----------------------------------------------------------------- */

static char *side_path(const char *path, const char *suffix)
{
    size_t n = strlen(path) + strlen(suffix) + 1;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    snprintf(p, n, "%s%s", path, suffix);
    return p;
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static uint8_t *pattern(size_t len, uint64_t seed)
{
    uint8_t *p = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(p);
    tu_fill_pattern(p, len, seed);
    return p;
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void close_ok(ldb_env *env)
{
    TU_RC_OK(ldb_close(env));
}

/* ---- NULL handles and bad arguments ------------------------------------------ */

START_TEST(test_null_handles)
{
    char *path = tu_new_db_path();
    ldb_env *env = NULL;
    TU_RC_IS(ldb_open(NULL, NULL, &env), LDB_INVALID);
    ck_assert_ptr_null(env);
    TU_RC_IS(ldb_open(path, NULL, NULL), LDB_INVALID);
    env = tu_open(path, NULL);

    TU_RC_IS(ldb_close(NULL), LDB_INVALID);
    TU_RC_IS(ldb_sync(NULL), LDB_INVALID);
    ldb_txn *txn = NULL;
    TU_RC_IS(ldb_txn_begin(NULL, 0, &txn), LDB_INVALID);
    TU_RC_IS(ldb_txn_begin(NULL, LDB_TXN_RDONLY, &txn), LDB_INVALID);
    ck_assert_ptr_null(txn);
    TU_RC_IS(ldb_txn_begin(env, 0, NULL), LDB_INVALID);
    TU_RC_IS(ldb_txn_begin(env, LDB_TXN_RDONLY, NULL), LDB_INVALID);
    TU_RC_IS(ldb_txn_commit(NULL), LDB_INVALID);
    ldb_txn_abort(NULL);
    ck_assert_uint_eq(ldb_txn_id(NULL), 0);
    ldb_txn_reset(NULL);
    TU_RC_IS(ldb_txn_renew(NULL), LDB_INVALID);

    ldb_stat st;
    TU_RC_IS(ldb_stat_env(NULL, &st), LDB_INVALID);
    TU_RC_IS(ldb_stat_env(env, NULL), LDB_INVALID);
    TU_RC_IS(ldb_check(NULL, NULL), LDB_INVALID);
    int cleared = -1;
    TU_RC_IS(ldb_reader_check(NULL, &cleared), LDB_INVALID);
    TU_RC_OK(ldb_reader_check(env, NULL));
    TU_RC_OK(ldb_check(env, NULL));

    /* The refused ldb_txn_begin(env, 0, NULL) must not have kept the writer. */
    txn = tu_begin(env, LDB_TXN_NOWAIT);
    ldb_dbi dbi = 99;
    ldb_val k = tu_str("k"), v = tu_str("v"), out;
    ldb_tree_stat ts;
    ldb_cursor *cur = NULL;

    TU_RC_IS(ldb_dbi_open(NULL, "t", LDB_CREATE, &dbi), LDB_INVALID);
    TU_RC_IS(ldb_dbi_open(txn, "t", LDB_CREATE, NULL), LDB_INVALID);
    TU_RC_IS(ldb_dbi_drop(NULL, LDB_MAIN, 0), LDB_INVALID);
    TU_RC_IS(ldb_dbi_stat(NULL, LDB_MAIN, &ts), LDB_INVALID);
    TU_RC_IS(ldb_dbi_stat(txn, LDB_MAIN, NULL), LDB_INVALID);

    TU_RC_IS(ldb_put(NULL, LDB_MAIN, &k, &v, 0), LDB_INVALID);
    TU_RC_IS(ldb_put(txn, LDB_MAIN, NULL, &v, 0), LDB_INVALID);
    TU_RC_IS(ldb_put(txn, LDB_MAIN, &k, NULL, 0), LDB_INVALID);
    TU_RC_IS(ldb_get(NULL, LDB_MAIN, &k, &out), LDB_INVALID);
    TU_RC_IS(ldb_get(txn, LDB_MAIN, NULL, &out), LDB_INVALID);
    TU_RC_IS(ldb_del(NULL, LDB_MAIN, &k), LDB_INVALID);
    TU_RC_IS(ldb_del(txn, LDB_MAIN, NULL), LDB_INVALID);

    TU_RC_IS(ldb_cursor_open(NULL, LDB_MAIN, &cur), LDB_INVALID);
    TU_RC_IS(ldb_cursor_open(txn, LDB_MAIN, NULL), LDB_INVALID);
    ldb_cursor_close(NULL);
    TU_RC_IS(ldb_cursor_get(NULL, &k, &out, LDB_FIRST), LDB_INVALID);
    TU_RC_IS(ldb_cursor_del(NULL), LDB_INVALID);

    /* The txn survived every refusal. */
    TU_RC_OK(ldb_put(txn, LDB_MAIN, &k, &v, 0));
    /* A NULL val pointer for ldb_get: refused or answered, never a crash. */
    int rc = ldb_get(txn, LDB_MAIN, &k, NULL);
    TU_REQUIRE(rc == 0 || rc == LDB_INVALID, "ldb_get(val NULL): %s", ldb_strerror(rc));

    TU_RC_OK(ldb_cursor_open(txn, LDB_MAIN, &cur));
    TU_RC_IS(ldb_cursor_get(cur, NULL, &out, LDB_SEEK), LDB_INVALID);
    TU_RC_IS(ldb_cursor_get(cur, NULL, &out, LDB_SEEK_EXACT), LDB_INVALID);
    /* key and val may be NULL for the other ops */
    TU_RC_OK(ldb_cursor_get(cur, NULL, NULL, LDB_FIRST));
    ldb_val ck = {0, NULL};
    TU_RC_OK(ldb_cursor_get(cur, &ck, NULL, LDB_CURRENT));
    ck_assert_uint_eq(ck.size, 1);
    ck_assert_mem_eq(ck.data, "k", 1);
    ldb_cursor_close(cur);

    TU_RC_OK(ldb_txn_commit(txn));
    txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(txn, LDB_MAIN, "k", "v");
    ldb_txn_abort(txn);
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

/* ldb_val with a size but no data: a bad argument, never a dereference. */
START_TEST(test_null_data_pointers)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, 0);
    ldb_val badk = {3, NULL}, k = tu_str("key"), v = tu_str("val"), badv = {3, NULL};
    ldb_val out;
    TU_RC_IS(ldb_put(txn, LDB_MAIN, &badk, &v, 0), LDB_INVALID);
    TU_RC_IS(ldb_get(txn, LDB_MAIN, &badk, &out), LDB_INVALID);
    TU_RC_IS(ldb_del(txn, LDB_MAIN, &badk), LDB_INVALID);
    TU_RC_IS(ldb_put(txn, LDB_MAIN, &k, &badv, 0), LDB_INVALID);
    tu_expect_absent(txn, LDB_MAIN, "key");
    /* A zero-length value may have NULL data. */
    ldb_val empty = {0, NULL};
    TU_RC_OK(ldb_put(txn, LDB_MAIN, &k, &empty, 0));
    tu_expect_bytes(txn, LDB_MAIN, "key", 3, "", 0);
    tu_put_str(txn, LDB_MAIN, "other", "x");
    TU_RC_OK(ldb_txn_commit(txn));
    txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_bytes(txn, LDB_MAIN, "key", 3, "", 0);
    tu_expect_str(txn, LDB_MAIN, "other", "x");
    ldb_txn_abort(txn);
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

static void expect_open_invalid(const char *path, const ldb_options *o, const char *what)
{
    ldb_env *env = NULL;
    int rc = ldb_open(path, o, &env);
    TU_REQUIRE(rc == LDB_INVALID, "ldb_open with %s: %d (%s), want LDB_INVALID", what, rc,
            ldb_strerror(rc));
    TU_REQUIRE(env == NULL, "ldb_open with %s set *env on failure", what);
}

static void bad_options_against(const char *path)
{
    static const unsigned bad_pages[] = {1000, 3000, 131072, 6144, 2048, 4095, 4097,
                                         65535, 65537, 12288, 1u << 31, 1};
    char what[64];
    for (size_t i = 0; i < sizeof bad_pages / sizeof bad_pages[0]; i++) {
        ldb_options o = {0};
        o.page_size = bad_pages[i];
        snprintf(what, sizeof what, "page_size %u", bad_pages[i]);
        expect_open_invalid(path, &o, what);
    }
    static const int bad_sync[] = {2, 3, -1, 100, INT_MIN};
    for (size_t i = 0; i < sizeof bad_sync / sizeof bad_sync[0]; i++) {
        ldb_options o = {0};
        o.sync_mode = bad_sync[i];
        snprintf(what, sizeof what, "sync_mode %d", bad_sync[i]);
        expect_open_invalid(path, &o, what);
    }
    static const int bad_comp[] = {3, -1, 100};
    for (size_t i = 0; i < sizeof bad_comp / sizeof bad_comp[0]; i++) {
        ldb_options o = {0};
        o.compression = bad_comp[i];
        snprintf(what, sizeof what, "compression %d", bad_comp[i]);
        expect_open_invalid(path, &o, what);
    }
    static const int bad_level[][2] = {{LDB_COMPRESS_NONE, 3},  {LDB_COMPRESS_LZ4, 13},
                                       {LDB_COMPRESS_LZ4, -70000}, {LDB_COMPRESS_ZSTD, 1000},
                                       {LDB_COMPRESS_ZSTD, -1000000}};
    for (size_t i = 0; i < sizeof bad_level / sizeof bad_level[0]; i++) {
        ldb_options o = {0};
        o.compression = bad_level[i][0];
        o.compression_level = bad_level[i][1];
        snprintf(what, sizeof what, "compression %d level %d", bad_level[i][0], bad_level[i][1]);
        expect_open_invalid(path, &o, what);
    }
    static const unsigned bad_flags[] = {0x8, 0x10, 0x100, 0x80000000u, LDB_CREATE,
                                         LDB_RDONLY | 0x40};
    for (size_t i = 0; i < sizeof bad_flags / sizeof bad_flags[0]; i++) {
        ldb_options o = {0};
        o.flags = bad_flags[i];
        snprintf(what, sizeof what, "flags %#x", bad_flags[i]);
        expect_open_invalid(path, &o, what);
    }
}

START_TEST(test_bad_options)
{
    char *path = tu_new_db_path();
    /* On a path with no database... */
    bad_options_against(path);
    /* ...and on an existing one. */
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, 0);
    tu_put_str(txn, LDB_MAIN, "a", "1");
    TU_RC_OK(ldb_txn_commit(txn));
    close_ok(env);
    bad_options_against(path);
    env = tu_open(path, NULL);
    txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(txn, LDB_MAIN, "a", "1");
    ldb_txn_abort(txn);
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

START_TEST(test_valid_page_sizes)
{
    char *dir = strdup(tu_tmpdir());
    unsigned sizes[] = {0, 4096, 8192, 16384, 32768, 65536};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "db%u", sizes[i]);
        ldb_options o = {0};
        o.page_size = sizes[i];
        ldb_env *env = tu_open(tu_path(dir, name), &o);
        ldb_stat st = tu_env_stat(env);
        unsigned want = sizes[i] ? sizes[i] : 4096;
        ck_assert_uint_eq(st.page_size, want);
        size_t mks = ldb_max_key_size(env);
        TU_REQUIRE(mks >= 511 && mks < want, "page %u: max key size %zu", want, mks);
        ldb_txn *txn = tu_begin(env, 0);
        tu_put_str(txn, LDB_MAIN, "key", name);
        TU_RC_OK(ldb_txn_commit(txn));
        txn = tu_begin(env, LDB_TXN_RDONLY);
        tu_expect_str(txn, LDB_MAIN, "key", name);
        ldb_txn_abort(txn);
        tu_check_env(env);
        close_ok(env);
    }
    free(dir);
}
END_TEST

START_TEST(test_missing_path_enoent)
{
    char *path = tu_new_db_path();
    char *lock = side_path(path, "-lock");
    static const unsigned flags[] = {LDB_NOCREATE, LDB_RDONLY, LDB_IMMUTABLE,
                                     LDB_RDONLY | LDB_NOCREATE};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        ldb_options o = {0};
        o.flags = flags[i];
        ldb_env *env = NULL;
        int rc = ldb_open(path, &o, &env);
        TU_REQUIRE(rc == -ENOENT, "flags %#x on a missing path: %d (%s), want -ENOENT", flags[i],
                rc, ldb_strerror(rc));
        TU_REQUIRE(env == NULL, "env set on failure");
        TU_REQUIRE(!file_exists(path), "flags %#x created the data file", flags[i]);
        TU_REQUIRE(!file_exists(lock), "flags %#x created the lock file", flags[i]);
    }
    /* A directory that does not exist: the OS error comes back as -errno. */
    char *deep = side_path(path, ".nodir/db");
    ldb_env *env = NULL;
    TU_RC_IS(ldb_open(deep, NULL, &env), -ENOENT);
    ck_assert_ptr_null(env);

    /* Without those flags it is created, and then NOCREATE opens it. */
    env = tu_open(path, NULL);
    close_ok(env);
    ldb_options o = {0};
    o.flags = LDB_NOCREATE;
    env = tu_open(path, &o);
    tu_check_env(env);
    close_ok(env);
    free(deep);
    free(lock);
    free(path);
}
END_TEST

START_TEST(test_unknown_flags)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = NULL;
    TU_RC_IS(ldb_txn_begin(env, 0x4, &txn), LDB_INVALID);
    TU_RC_IS(ldb_txn_begin(env, 0x100, &txn), LDB_INVALID);
    TU_RC_IS(ldb_txn_begin(env, LDB_CREATE, &txn), LDB_INVALID);
    txn = tu_begin(env, 0); /* the refusals kept no writer slot */
    ldb_val k = tu_str("k"), v = tu_str("v");
    TU_RC_IS(ldb_put(txn, LDB_MAIN, &k, &v, 0x1), LDB_INVALID);
    TU_RC_IS(ldb_put(txn, LDB_MAIN, &k, &v, 0x40), LDB_INVALID);
    TU_RC_IS(ldb_put(txn, LDB_MAIN, &k, &v, LDB_CREATE), LDB_INVALID);
    tu_expect_absent(txn, LDB_MAIN, "k");
    ldb_dbi dbi;
    TU_RC_IS(ldb_dbi_open(txn, "t", LDB_CREATE | 0x1, &dbi), LDB_INVALID);
    TU_RC_IS(ldb_dbi_open(txn, "t", 0x80000000u, &dbi), LDB_INVALID);
    TU_RC_IS(ldb_dbi_open(txn, "t", 0, &dbi), LDB_NOTFOUND); /* not created by the above */
    tu_put_str(txn, LDB_MAIN, "k", "v");
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(txn, LDB_MAIN, &cur));
    ldb_val ok, ov;
    TU_RC_IS(ldb_cursor_get(cur, &ok, &ov, (ldb_cursor_op)99), LDB_INVALID);
    TU_RC_IS(ldb_cursor_get(cur, &ok, &ov, (ldb_cursor_op)-1), LDB_INVALID);
    TU_RC_OK(ldb_cursor_get(cur, &ok, &ov, LDB_FIRST));
    ck_assert_uint_eq(ok.size, 1);
    ldb_cursor_close(cur);
    TU_RC_OK(ldb_txn_commit(txn));
    txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(txn, LDB_MAIN, "k", "v");
    ldb_txn_abort(txn);
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

START_TEST(test_strerror)
{
    static const int codes[] = {LDB_NOTFOUND, LDB_EXISTS,  LDB_CORRUPTED, LDB_FULL,
                                LDB_BUSY,     LDB_INVALID, LDB_TOOBIG,    LDB_READONLY,
                                LDB_VERSION,  LDB_PANIC,   LDB_DBS_FULL};
    const size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        const char *s = ldb_strerror(codes[i]);
        TU_REQUIRE(s != NULL && s[0] != '\0', "ldb_strerror(%d) empty", codes[i]);
        for (size_t j = 0; j < i; j++)
            TU_REQUIRE(strcmp(s, ldb_strerror(codes[j])) != 0,
                    "codes %d and %d share the text '%s'", codes[i], codes[j], s);
        TU_REQUIRE(strcmp(s, ldb_strerror(0)) != 0, "code %d reads as success", codes[i]);
    }
    static const int others[] = {0,        -ENOENT,  -EACCES, -ENOSPC, -EIO,  -EEXIST,
                                 12345,    -12345,   INT_MIN, INT_MAX, -1,    1,
                                 -29999,   -30000,   -30011,  -30100,  30001, -100000,
                                 -4095,    -4096,    ENOENT,  -INT_MAX};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        const char *s = ldb_strerror(others[i]);
        TU_REQUIRE(s != NULL, "ldb_strerror(%d) is NULL", others[i]);
        TU_REQUIRE(strlen(s) < 4096, "ldb_strerror(%d) is not a sane string", others[i]);
    }
    for (int rc = -30050; rc <= -29950; rc++)
        TU_REQUIRE(ldb_strerror(rc) != NULL, "ldb_strerror(%d) is NULL", rc);
    for (int rc = -300; rc <= 300; rc++)
        TU_REQUIRE(ldb_strerror(rc) != NULL, "ldb_strerror(%d) is NULL", rc);
}
END_TEST

START_TEST(test_version)
{
    const char *v = ldb_version();
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(v, "0.1.0");
    int dots = 0;
    for (const char *p = v; *p; p++) {
        TU_REQUIRE((*p >= '0' && *p <= '9') || *p == '.', "'%c' in version %s", *p, v);
        dots += *p == '.';
    }
    ck_assert_int_eq(dots, 2);
    ck_assert_ptr_eq(ldb_version(), v); /* static */
}
END_TEST

/* ---- key and value limits ---------------------------------------------------- */

START_TEST(test_empty_key)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, 0);
    tu_put_str(txn, LDB_MAIN, "a", "1");
    ldb_val empty = {0, ""}, emptynull = {0, NULL}, v = tu_str("x"), out;
    const ldb_val *ks[2] = {&empty, &emptynull};
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(txn, LDB_MAIN, &cur));
    for (int i = 0; i < 2; i++) {
        ldb_val k = *ks[i];
        TU_RC_IS(ldb_put(txn, LDB_MAIN, &k, &v, 0), LDB_INVALID);
        TU_RC_IS(ldb_put(txn, LDB_MAIN, &k, &v, LDB_NOOVERWRITE), LDB_INVALID);
        TU_RC_IS(ldb_put(txn, LDB_MAIN, &k, &v, LDB_APPEND), LDB_INVALID);
        TU_RC_IS(ldb_get(txn, LDB_MAIN, &k, &out), LDB_INVALID);
        TU_RC_IS(ldb_del(txn, LDB_MAIN, &k), LDB_INVALID);
        k = *ks[i];
        TU_RC_IS(ldb_cursor_get(cur, &k, &out, LDB_SEEK), LDB_INVALID);
        k = *ks[i];
        TU_RC_IS(ldb_cursor_get(cur, &k, &out, LDB_SEEK_EXACT), LDB_INVALID);
    }
    ldb_cursor_close(cur);
    /* The txn is still usable and the refused puts changed nothing. */
    tu_put_str(txn, LDB_MAIN, "b", "2");
    ldb_tree_stat ts;
    TU_RC_OK(ldb_dbi_stat(txn, LDB_MAIN, &ts));
    ck_assert_uint_eq(ts.entries, 2);
    TU_RC_OK(ldb_txn_commit(txn));

    txn = tu_begin(env, LDB_TXN_RDONLY);
    TU_RC_IS(ldb_get(txn, LDB_MAIN, &empty, &out), LDB_INVALID);
    TU_RC_OK(ldb_cursor_open(txn, LDB_MAIN, &cur));
    ldb_val k = empty;
    TU_RC_IS(ldb_cursor_get(cur, &k, &out, LDB_SEEK), LDB_INVALID);
    ldb_cursor_close(cur);
    tu_expect_str(txn, LDB_MAIN, "a", "1");
    tu_expect_str(txn, LDB_MAIN, "b", "2");
    TU_RC_OK(ldb_dbi_stat(txn, LDB_MAIN, &ts));
    ck_assert_uint_eq(ts.entries, 2);
    ldb_txn_abort(txn);
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

static const unsigned key_page_sizes[] = {4096, 8192, 65536};

START_TEST(test_max_key_size)
{
    unsigned ps = key_page_sizes[_i];
    char *path = tu_new_db_path();
    ldb_options o = {0};
    o.page_size = ps;
    o.sync_mode = LDB_SYNC_OFF;
    ldb_env *env = tu_open(path, &o);
    size_t mks = ldb_max_key_size(env);
    TU_REQUIRE(mks >= 511, "page %u: ldb_max_key_size %zu < 511", ps, mks);
    TU_REQUIRE(mks < ps, "page %u: ldb_max_key_size %zu not below the page size", ps, mks);

    uint8_t *kb = pattern(mks + 1, 7);
    kb[mks - 2] = 'a'; /* the keys made below all have 'z' there */
    ldb_val kmax = tu_val(kb, mks), kover = tu_val(kb, mks + 1), v = tu_str("max"), out;
    ldb_txn *txn = tu_begin(env, 0);
    TU_RC_OK(ldb_put(txn, LDB_MAIN, &kmax, &v, 0));
    tu_expect_bytes(txn, LDB_MAIN, kb, mks, "max", 3);
    TU_RC_IS(ldb_put(txn, LDB_MAIN, &kover, &v, 0), LDB_TOOBIG);
    TU_RC_IS(ldb_put(txn, LDB_MAIN, &kover, &v, LDB_NOOVERWRITE), LDB_TOOBIG);
    TU_RC_IS(ldb_get(txn, LDB_MAIN, &kover, &out), LDB_TOOBIG);
    TU_RC_IS(ldb_del(txn, LDB_MAIN, &kover), LDB_TOOBIG);
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(txn, LDB_MAIN, &cur));
    ldb_val ck = kover;
    TU_RC_IS(ldb_cursor_get(cur, &ck, &out, LDB_SEEK), LDB_TOOBIG);
    ck = kover;
    TU_RC_IS(ldb_cursor_get(cur, &ck, &out, LDB_SEEK_EXACT), LDB_TOOBIG);
    ck = kmax;
    TU_RC_OK(ldb_cursor_get(cur, &ck, &out, LDB_SEEK_EXACT));
    TU_REQUIRE(ck.size == mks && memcmp(ck.data, kb, mks) == 0, "cursor key differs");
    ldb_cursor_close(cur);
    /* The refusals left the txn usable. */
    TU_RC_OK(ldb_del(txn, LDB_MAIN, &kmax));
    TU_RC_IS(ldb_get(txn, LDB_MAIN, &kmax, &out), LDB_NOTFOUND);
    TU_RC_OK(ldb_put(txn, LDB_MAIN, &kmax, &v, 0));

    /* Many maximal keys sharing a long prefix, in scattered order, with
     * values from tiny to overflowing: branch pages must hold them too. */
    enum { NK = 300 };
    uint64_t rng = ps;
    uint8_t *keys = malloc((size_t)NK * mks);
    ck_assert_ptr_nonnull(keys);
    for (int i = 0; i < NK; i++) {
        uint8_t *k = keys + (size_t)i * mks;
        memcpy(k, kb, mks);
        uint32_t perm = (uint32_t)((i * 7919u) % NK);
        k[0] = (uint8_t)(perm & 1 ? 0x00 : 0xFF); /* some before, some after kmax */
        k[mks - 4] = (uint8_t)(perm >> 8);
        k[mks - 3] = (uint8_t)perm;
        k[mks - 2] = 'z';
        k[mks - 1] = (uint8_t)(tu_rand(&rng) & 0x7F);
    }
    for (int i = 0; i < NK; i++) {
        size_t vl = i % 10 == 0 ? 2 * (size_t)ps + (size_t)i : (size_t)(i % 50);
        uint8_t *vb = pattern(vl, (uint64_t)i);
        tu_put_bytes(txn, LDB_MAIN, keys + (size_t)i * mks, mks, vb, vl);
        free(vb);
    }
    TU_RC_OK(ldb_txn_commit(txn));
    close_ok(env);

    env = tu_open(path, &o);
    ck_assert_uint_eq(ldb_max_key_size(env), mks);
    txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_bytes(txn, LDB_MAIN, kb, mks, "max", 3);
    for (int i = 0; i < NK; i++) {
        size_t vl = i % 10 == 0 ? 2 * (size_t)ps + (size_t)i : (size_t)(i % 50);
        uint8_t *vb = pattern(vl, (uint64_t)i);
        tu_expect_bytes(txn, LDB_MAIN, keys + (size_t)i * mks, mks, vb, vl);
        free(vb);
    }
    ldb_tree_stat ts;
    TU_RC_OK(ldb_dbi_stat(txn, LDB_MAIN, &ts));
    ck_assert_uint_eq(ts.entries, NK + 1);
    TU_REQUIRE(ts.depth >= 2, "page %u: %d max-size keys fit a depth-%u tree", ps, NK + 1,
            ts.depth);
    ldb_txn_abort(txn);
    tu_check_env(env);
    close_ok(env);
    free(keys);
    free(kb);
    free(path);
}
END_TEST

START_TEST(test_zero_length_values)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, 0);
    ldb_val k1 = tu_str("empty"), k2 = tu_str("nulldata"), v1 = {0, ""}, v2 = {0, NULL};
    TU_RC_OK(ldb_put(txn, LDB_MAIN, &k1, &v1, 0));
    TU_RC_OK(ldb_put(txn, LDB_MAIN, &k2, &v2, 0));
    tu_put_str(txn, LDB_MAIN, "grow", "");
    tu_put_str(txn, LDB_MAIN, "grow", "0123456789");
    tu_put_str(txn, LDB_MAIN, "grow", "");
    tu_expect_bytes(txn, LDB_MAIN, "empty", 5, "", 0);
    tu_expect_bytes(txn, LDB_MAIN, "nulldata", 8, "", 0);
    tu_expect_bytes(txn, LDB_MAIN, "grow", 4, "", 0);
    TU_RC_OK(ldb_txn_commit(txn));
    close_ok(env);

    env = tu_open(path, NULL);
    txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_bytes(txn, LDB_MAIN, "empty", 5, "", 0);
    tu_expect_bytes(txn, LDB_MAIN, "nulldata", 8, "", 0);
    tu_expect_bytes(txn, LDB_MAIN, "grow", 4, "", 0);
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(txn, LDB_MAIN, &cur));
    ldb_val ck, cv;
    int n = 0, rc;
    while ((rc = ldb_cursor_get(cur, &ck, &cv, LDB_NEXT)) == 0) {
        ck_assert_uint_eq(cv.size, 0);
        n++;
    }
    TU_RC_IS(rc, LDB_NOTFOUND);
    ck_assert_int_eq(n, 3);
    ldb_cursor_close(cur);
    ldb_txn_abort(txn);
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

START_TEST(test_huge_value)
{
    const size_t big = (size_t)64 << 20;
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    uint8_t *vb = pattern(big, 64);
    ldb_txn *txn = tu_begin(env, 0);
    tu_put_str(txn, LDB_MAIN, "a", "before");
    tu_put_bytes(txn, LDB_MAIN, "big", 3, vb, big);
    tu_put_str(txn, LDB_MAIN, "c", "after");
    tu_expect_bytes(txn, LDB_MAIN, "big", 3, vb, big);
    TU_RC_OK(ldb_txn_commit(txn));

    txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_bytes(txn, LDB_MAIN, "big", 3, vb, big);
    tu_expect_str(txn, LDB_MAIN, "a", "before");
    tu_expect_str(txn, LDB_MAIN, "c", "after");
    ldb_tree_stat ts;
    TU_RC_OK(ldb_dbi_stat(txn, LDB_MAIN, &ts));
    ldb_stat st = tu_env_stat(env);
    TU_REQUIRE(ts.overflow_pages >= big / st.page_size, "overflow_pages %llu for 64 MiB",
            (unsigned long long)ts.overflow_pages);
    ldb_txn_abort(txn);
    tu_check_env(env);
    close_ok(env);

    env = tu_open(path, NULL);
    txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_bytes(txn, LDB_MAIN, "big", 3, vb, big);
    ldb_txn_abort(txn);

    txn = tu_begin(env, 0);
    tu_put_str(txn, LDB_MAIN, "big", "small now");
    TU_RC_OK(ldb_txn_commit(txn));
    txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(txn, LDB_MAIN, "big", "small now");
    TU_RC_OK(ldb_dbi_stat(txn, LDB_MAIN, &ts));
    ck_assert_uint_eq(ts.overflow_pages, 0);
    ldb_txn_abort(txn);
    tu_check_env(env);
    close_ok(env);
    free(vb);
    free(path);
}
END_TEST

START_TEST(test_value_too_big)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, 0);
    tu_put_str(txn, LDB_MAIN, "k", "old");
    static const char small[16] = "0123456789abcde";
    ldb_val k = tu_str("k"), k2 = tu_str("k2");
    /* Sizes far over the limit with a tiny buffer behind them: the library
     * must refuse them from the size alone, without reading the bytes. */
    ldb_val v1 = {(size_t)1 << 40, small}, v2 = {SIZE_MAX, small},
            v3 = {SIZE_MAX / 2 + 1, small};
    TU_RC_IS(ldb_put(txn, LDB_MAIN, &k, &v1, 0), LDB_TOOBIG);
    TU_RC_IS(ldb_put(txn, LDB_MAIN, &k2, &v2, 0), LDB_TOOBIG);
    TU_RC_IS(ldb_put(txn, LDB_MAIN, &k2, &v3, LDB_NOOVERWRITE), LDB_TOOBIG);
    ldb_val kbig = {SIZE_MAX, small};
    ldb_val out;
    TU_RC_IS(ldb_put(txn, LDB_MAIN, &kbig, &k, 0), LDB_TOOBIG);
    TU_RC_IS(ldb_get(txn, LDB_MAIN, &kbig, &out), LDB_TOOBIG);
    tu_expect_str(txn, LDB_MAIN, "k", "old");
    tu_expect_absent(txn, LDB_MAIN, "k2");
    tu_put_str(txn, LDB_MAIN, "k2", "new");
    TU_RC_OK(ldb_txn_commit(txn));
    txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(txn, LDB_MAIN, "k", "old");
    tu_expect_str(txn, LDB_MAIN, "k2", "new");
    ldb_txn_abort(txn);
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

/* ---- read-only txns and envs ------------------------------------------------- */

static void seed_db(const char *path)
{
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, 0);
    tu_put_str(txn, LDB_MAIN, "a", "1");
    tu_put_str(txn, LDB_MAIN, "b", "2");
    ldb_dbi t;
    TU_RC_OK(ldb_dbi_open(txn, "tree", LDB_CREATE, &t));
    tu_put_str(txn, t, "x", "in tree");
    TU_RC_OK(ldb_txn_commit(txn));
    tu_check_env(env);
    close_ok(env);
}

START_TEST(test_readonly_txn_writes)
{
    char *path = tu_new_db_path();
    seed_db(path);
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    ldb_val k = tu_str("a"), nk = tu_str("new"), missing = tu_str("zz"), v = tu_str("v");
    TU_RC_IS(ldb_put(txn, LDB_MAIN, &nk, &v, 0), LDB_READONLY);
    TU_RC_IS(ldb_put(txn, LDB_MAIN, &k, &v, 0), LDB_READONLY);
    TU_RC_IS(ldb_put(txn, LDB_MAIN, &nk, &v, LDB_APPEND), LDB_READONLY);
    TU_RC_IS(ldb_del(txn, LDB_MAIN, &k), LDB_READONLY);
    TU_RC_IS(ldb_del(txn, LDB_MAIN, &missing), LDB_READONLY);
    ldb_dbi t;
    TU_RC_OK(ldb_dbi_open(txn, "tree", 0, &t));
    TU_RC_IS(ldb_put(txn, t, &nk, &v, 0), LDB_READONLY);
    TU_RC_IS(ldb_dbi_drop(txn, t, 0), LDB_READONLY);
    TU_RC_IS(ldb_dbi_drop(txn, t, 1), LDB_READONLY);
    TU_RC_IS(ldb_dbi_drop(txn, LDB_MAIN, 0), LDB_READONLY);
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(txn, LDB_MAIN, &cur));
    ldb_val ck, cv;
    TU_RC_OK(ldb_cursor_get(cur, &ck, &cv, LDB_FIRST));
    TU_RC_IS(ldb_cursor_del(cur), LDB_READONLY);
    TU_RC_OK(ldb_cursor_get(cur, &ck, &cv, LDB_CURRENT));
    ck_assert_uint_eq(ck.size, 1);
    ck_assert_mem_eq(ck.data, "a", 1);
    ldb_cursor_close(cur);
    /* still a working read txn */
    tu_expect_str(txn, LDB_MAIN, "a", "1");
    tu_expect_str(txn, t, "x", "in tree");
    tu_expect_absent(txn, LDB_MAIN, "new");
    TU_RC_OK(ldb_txn_commit(txn)); /* committing a read txn just ends it */

    txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(txn, LDB_MAIN, "a", "1");
    tu_expect_str(txn, LDB_MAIN, "b", "2");
    tu_expect_str(txn, t, "x", "in tree");
    ldb_tree_stat ts;
    TU_RC_OK(ldb_dbi_stat(txn, LDB_MAIN, &ts));
    ck_assert_uint_eq(ts.entries, 2);
    ldb_txn_abort(txn);
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

START_TEST(test_rdonly_env)
{
    char *path = tu_new_db_path();
    seed_db(path);
    size_t before_len;
    uint8_t *before = tu_read_file(path, &before_len);

    ldb_options o = {0};
    o.flags = LDB_RDONLY;
    ldb_env *env = tu_open(path, &o);
    ldb_txn *txn = NULL;
    TU_RC_IS(ldb_txn_begin(env, 0, &txn), LDB_READONLY);
    TU_RC_IS(ldb_txn_begin(env, LDB_TXN_NOWAIT, &txn), LDB_READONLY);
    txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(txn, LDB_MAIN, "a", "1");
    tu_expect_str(txn, LDB_MAIN, "b", "2");
    ldb_dbi t;
    TU_RC_IS(ldb_dbi_open(txn, "missing", LDB_CREATE, &t), LDB_READONLY);
    TU_RC_IS(ldb_dbi_open(txn, "missing", 0, &t), LDB_NOTFOUND);
    TU_RC_OK(ldb_dbi_open(txn, "tree", LDB_CREATE, &t)); /* exists: CREATE is harmless */
    tu_expect_str(txn, t, "x", "in tree");
    ldb_val k = tu_str("a"), v = tu_str("v");
    TU_RC_IS(ldb_put(txn, LDB_MAIN, &k, &v, 0), LDB_READONLY);
    TU_RC_IS(ldb_del(txn, LDB_MAIN, &k), LDB_READONLY);
    ldb_txn_abort(txn);
    ldb_stat st = tu_env_stat(env);
    ck_assert_uint_eq(st.page_size, 4096);
    TU_RC_OK(ldb_check(env, NULL));
    close_ok(env);

    size_t after_len;
    uint8_t *after = tu_read_file(path, &after_len);
    TU_REQUIRE(after_len == before_len && memcmp(before, after, before_len) == 0,
            "an LDB_RDONLY session changed the data file");

    env = tu_open(path, NULL);
    txn = tu_begin(env, 0);
    tu_put_str(txn, LDB_MAIN, "c", "3");
    TU_RC_OK(ldb_txn_commit(txn));
    tu_check_env(env);
    close_ok(env);
    free(before);
    free(after);
    free(path);
}
END_TEST

START_TEST(test_immutable_env)
{
    char *path = tu_new_db_path();
    seed_db(path);
    char *lock = side_path(path, "-lock");
    unlink(lock);
    ldb_options o = {0};
    o.flags = LDB_IMMUTABLE;
    ldb_env *env = tu_open(path, &o);
    ldb_env *env2 = tu_open(path, &o); /* any number of openers */
    ldb_txn *txn = NULL;
    TU_RC_IS(ldb_txn_begin(env, 0, &txn), LDB_READONLY);
    txn = tu_begin(env, LDB_TXN_RDONLY);
    ldb_txn *txn2 = tu_begin(env2, LDB_TXN_RDONLY);
    tu_expect_str(txn, LDB_MAIN, "a", "1");
    tu_expect_str(txn2, LDB_MAIN, "b", "2");
    ldb_dbi t;
    TU_RC_OK(ldb_dbi_open(txn, "tree", 0, &t));
    tu_expect_str(txn, t, "x", "in tree");
    ldb_txn_abort(txn2);
    ldb_txn_abort(txn);
    TU_RC_OK(ldb_check(env, NULL));
    close_ok(env2);
    close_ok(env);
    TU_REQUIRE(!file_exists(lock), "LDB_IMMUTABLE created %s", lock);
    free(lock);
    free(path);
}
END_TEST

/* ---- put flags and deletes --------------------------------------------------- */

START_TEST(test_nooverwrite)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, 0);
    ldb_val k = tu_str("k"), v1 = tu_str("first"), v2 = tu_str("second value");
    TU_RC_OK(ldb_put(txn, LDB_MAIN, &k, &v1, LDB_NOOVERWRITE));
    TU_RC_IS(ldb_put(txn, LDB_MAIN, &k, &v2, LDB_NOOVERWRITE), LDB_EXISTS);
    tu_expect_str(txn, LDB_MAIN, "k", "first");
    tu_put_str(txn, LDB_MAIN, "j", "usable");
    TU_RC_OK(ldb_txn_commit(txn));

    txn = tu_begin(env, 0);
    TU_RC_IS(ldb_put(txn, LDB_MAIN, &k, &v2, LDB_NOOVERWRITE), LDB_EXISTS);
    tu_expect_str(txn, LDB_MAIN, "k", "first");
    ldb_val l = tu_str("l");
    TU_RC_OK(ldb_put(txn, LDB_MAIN, &l, &v2, LDB_NOOVERWRITE));
    TU_RC_OK(ldb_put(txn, LDB_MAIN, &k, &v2, 0)); /* a plain put still replaces */
    TU_RC_OK(ldb_del(txn, LDB_MAIN, &l));
    TU_RC_OK(ldb_put(txn, LDB_MAIN, &l, &v1, LDB_NOOVERWRITE)); /* deleted: free again */
    TU_RC_OK(ldb_txn_commit(txn));

    close_ok(env);
    env = tu_open(path, NULL);
    txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(txn, LDB_MAIN, "k", "second value");
    tu_expect_str(txn, LDB_MAIN, "j", "usable");
    tu_expect_str(txn, LDB_MAIN, "l", "first");
    ldb_txn_abort(txn);
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

/* Every key of dbi in order, as one string "k1=v1,k2=v2," (printable data only). */
static void expect_scan(ldb_txn *txn, ldb_dbi dbi, const char *want)
{
    char got[4096] = "";
    size_t at = 0;
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(txn, dbi, &cur));
    ldb_val k, v;
    int rc;
    while ((rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) == 0) {
        for (size_t i = 0; i < k.size && at < sizeof got - 8; i++) {
            char c = ((const char *)k.data)[i];
            got[at++] = c ? c : '0';
        }
        got[at++] = '=';
        for (size_t i = 0; i < v.size && at < sizeof got - 8; i++)
            got[at++] = ((const char *)v.data)[i];
        got[at++] = ',';
        got[at] = '\0';
    }
    TU_RC_IS(rc, LDB_NOTFOUND);
    ldb_cursor_close(cur);
    ck_assert_str_eq(got, want);
}

START_TEST(test_append_order)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, 0);
    ldb_val v = tu_str("v");
#define APPEND(k) (ldb_put(txn, LDB_MAIN, &(ldb_val){sizeof(k) - 1, k}, &v, LDB_APPEND))
    TU_RC_OK(APPEND("b")); /* empty tree: anything appends */
    TU_RC_OK(APPEND("d"));
    TU_RC_IS(APPEND("d"), LDB_EXISTS); /* equal to the last */
    TU_RC_IS(APPEND("c"), LDB_EXISTS);
    TU_RC_IS(APPEND("a"), LDB_EXISTS);
    TU_RC_IS(APPEND("cz"), LDB_EXISTS);
    TU_RC_OK(APPEND("d\0")); /* "d" < "d\0" */
    TU_RC_IS(APPEND("d"), LDB_EXISTS);
    tu_put_str(txn, LDB_MAIN, "c", "plain");
    TU_RC_OK(APPEND("e"));
    expect_scan(txn, LDB_MAIN, "b=v,c=plain,d=v,d0=v,e=v,");
    /* Another tree appends against its own last key. */
    ldb_dbi t;
    TU_RC_OK(ldb_dbi_open(txn, "t", LDB_CREATE, &t));
    TU_RC_OK(ldb_put(txn, t, &(ldb_val){1, "a"}, &v, LDB_APPEND));
    TU_RC_IS(ldb_put(txn, t, &(ldb_val){1, "a"}, &v, LDB_APPEND), LDB_EXISTS);
    TU_RC_OK(ldb_txn_commit(txn));

    txn = tu_begin(env, 0);
    TU_RC_IS(APPEND("a"), LDB_EXISTS); /* the order persists across txns */
    TU_RC_IS(APPEND("e"), LDB_EXISTS);
    TU_RC_OK(APPEND("f"));
    TU_RC_OK(ldb_del(txn, LDB_MAIN, &(ldb_val){1, "f"}));
    TU_RC_OK(APPEND("f")); /* the last key was deleted: "e" is last again */
#undef APPEND
    TU_RC_OK(ldb_txn_commit(txn));
    txn = tu_begin(env, LDB_TXN_RDONLY);
    expect_scan(txn, LDB_MAIN, "b=v,c=plain,d=v,d0=v,e=v,f=v,");
    expect_scan(txn, t, "a=v,");
    ldb_txn_abort(txn);
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

START_TEST(test_del_missing)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, 0);
    ldb_val x = tu_str("x"), a = tu_str("a"), c = tu_str("c");
    TU_RC_IS(ldb_del(txn, LDB_MAIN, &x), LDB_NOTFOUND); /* empty tree */
    tu_put_str(txn, LDB_MAIN, "a", "1");
    tu_put_str(txn, LDB_MAIN, "b", "2");
    TU_RC_IS(ldb_del(txn, LDB_MAIN, &c), LDB_NOTFOUND);
    TU_RC_OK(ldb_del(txn, LDB_MAIN, &a));
    TU_RC_IS(ldb_del(txn, LDB_MAIN, &a), LDB_NOTFOUND);
    ldb_dbi t;
    TU_RC_OK(ldb_dbi_open(txn, "t", LDB_CREATE, &t));
    tu_put_str(txn, t, "c", "tree");
    TU_RC_IS(ldb_del(txn, LDB_MAIN, &c), LDB_NOTFOUND); /* only in the other tree */
    TU_RC_OK(ldb_txn_commit(txn));

    txn = tu_begin(env, 0);
    TU_RC_IS(ldb_del(txn, LDB_MAIN, &a), LDB_NOTFOUND);
    TU_RC_IS(ldb_del(txn, t, &a), LDB_NOTFOUND);
    tu_put_str(txn, LDB_MAIN, "z", "26");
    TU_RC_OK(ldb_txn_commit(txn));
    txn = tu_begin(env, LDB_TXN_RDONLY);
    expect_scan(txn, LDB_MAIN, "b=2,z=26,");
    expect_scan(txn, t, "c=tree,");
    ldb_txn_abort(txn);
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

/* ---- txn ids ----------------------------------------------------------------- */

START_TEST(test_txn_ids)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_stat st = tu_env_stat(env);
    uint64_t L = st.last_txn_id;
    ck_assert_uint_eq(st.commits, 0);

    ldb_txn *r0 = tu_begin(env, LDB_TXN_RDONLY);
    ck_assert_uint_eq(ldb_txn_id(r0), L);
    ldb_txn_abort(r0);

    ldb_txn *w = tu_begin(env, 0);
    ck_assert_uint_eq(ldb_txn_id(w), L + 1);
    tu_put_str(w, LDB_MAIN, "a", "1");
    ck_assert_uint_eq(ldb_txn_id(w), L + 1);
    TU_RC_OK(ldb_txn_commit(w));
    st = tu_env_stat(env);
    ck_assert_uint_eq(st.last_txn_id, L + 1);
    ck_assert_uint_eq(st.commits, 1);

    w = tu_begin(env, 0);
    ck_assert_uint_eq(ldb_txn_id(w), L + 2);
    tu_put_str(w, LDB_MAIN, "b", "aborted");
    ldb_txn_abort(w);
    st = tu_env_stat(env);
    ck_assert_uint_eq(st.last_txn_id, L + 1);
    ck_assert_uint_eq(st.commits, 1);

    ldb_txn *r1 = tu_begin(env, LDB_TXN_RDONLY);
    ck_assert_uint_eq(ldb_txn_id(r1), L + 1);
    w = tu_begin(env, 0); /* a thread may hold read txns while it writes */
    ck_assert_uint_eq(ldb_txn_id(w), L + 2);
    tu_put_str(w, LDB_MAIN, "b", "2");
    TU_RC_OK(ldb_txn_commit(w));
    ck_assert_uint_eq(ldb_txn_id(r1), L + 1);
    tu_expect_absent(r1, LDB_MAIN, "b");
    ldb_txn *r2 = tu_begin(env, LDB_TXN_RDONLY);
    ck_assert_uint_eq(ldb_txn_id(r2), L + 2);
    tu_expect_str(r2, LDB_MAIN, "b", "2");
    st = tu_env_stat(env);
    ck_assert_uint_eq(st.last_txn_id, L + 2);
    ck_assert_uint_eq(st.commits, 2);
    ldb_txn_abort(r1);
    TU_RC_OK(ldb_txn_commit(r2));
    st = tu_env_stat(env);
    ck_assert_uint_eq(st.commits, 2); /* read commits are not counted */
    tu_check_env(env);
    close_ok(env);

    env = tu_open(path, NULL);
    st = tu_env_stat(env);
    ck_assert_uint_eq(st.last_txn_id, L + 2);
    ck_assert_uint_eq(st.commits, 0);
    r1 = tu_begin(env, LDB_TXN_RDONLY);
    ck_assert_uint_eq(ldb_txn_id(r1), L + 2);
    ldb_txn_abort(r1);
    w = tu_begin(env, 0);
    ck_assert_uint_eq(ldb_txn_id(w), L + 3);
    tu_put_str(w, LDB_MAIN, "c", "3");
    TU_RC_OK(ldb_txn_commit(w));
    st = tu_env_stat(env);
    ck_assert_uint_eq(st.last_txn_id, L + 3);
    ck_assert_uint_eq(st.commits, 1);
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

/* ---- the single writer ------------------------------------------------------- */

struct holder {
    ldb_env *env;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state; /* 0 starting, 1 holding the write txn, 2 told to commit, 3 done */
    int hold_ms; /* > 0: commit after this long instead of waiting to be told */
    int rc_begin, rc_put, rc_commit;
    uint64_t id;
    double commit_started; /* now_sec() just before its ldb_txn_commit */
};

static void holder_set(struct holder *h, int state)
{
    pthread_mutex_lock(&h->mu);
    h->state = state;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

static void holder_wait(struct holder *h, int state)
{
    pthread_mutex_lock(&h->mu);
    while (h->state < state)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
}

static void *hold_writer(void *arg)
{
    struct holder *h = arg;
    ldb_txn *txn = NULL;
    h->rc_begin = ldb_txn_begin(h->env, 0, &txn);
    if (h->rc_begin != 0) {
        holder_set(h, 3);
        return NULL;
    }
    h->id = ldb_txn_id(txn);
    ldb_val k = tu_str("held"), v = tu_str("yes");
    h->rc_put = ldb_put(txn, LDB_MAIN, &k, &v, 0);
    holder_set(h, 1);
    if (h->hold_ms > 0) {
        struct timespec ts = {h->hold_ms / 1000, (long)(h->hold_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    } else {
        holder_wait(h, 2);
    }
    h->commit_started = now_sec();
    h->rc_commit = ldb_txn_commit(txn);
    holder_set(h, 3);
    return NULL;
}

static void holder_init(struct holder *h, ldb_env *env, int hold_ms)
{
    memset(h, 0, sizeof *h);
    h->env = env;
    h->hold_ms = hold_ms;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
}

START_TEST(test_nowait_busy)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    struct holder h;
    holder_init(&h, env, 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, hold_writer, &h), 0);
    holder_wait(&h, 1);
    TU_RC_OK(h.rc_begin);
    TU_RC_OK(h.rc_put);

    ldb_txn *txn = NULL;
    TU_RC_IS(ldb_txn_begin(env, LDB_TXN_NOWAIT, &txn), LDB_BUSY);
    TU_RC_IS(ldb_txn_begin(env, LDB_TXN_NOWAIT, &txn), LDB_BUSY);
    /* A checkpoint needs the writer too: with NOWAIT it says so at once. */
    TU_RC_IS(ldb_checkpoint_ex(env, LDB_CHECKPOINT_NOWAIT), LDB_BUSY);
    TU_RC_IS(ldb_checkpoint_ex(env, 0x80), LDB_INVALID);
    /* Readers are not blocked, and do not see the uncommitted put. */
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_absent(r, LDB_MAIN, "held");
    ldb_txn_abort(r);

    holder_set(&h, 2);
    pthread_join(th, NULL);
    TU_RC_OK(h.rc_commit);

    txn = tu_begin(env, LDB_TXN_NOWAIT);
    ck_assert_uint_eq(ldb_txn_id(txn), h.id + 1);
    tu_expect_str(txn, LDB_MAIN, "held", "yes");
    tu_put_str(txn, LDB_MAIN, "after", "1");
    TU_RC_OK(ldb_txn_commit(txn));
    TU_RC_OK(ldb_checkpoint_ex(env, LDB_CHECKPOINT_NOWAIT));
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

START_TEST(test_begin_waits_for_writer)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    struct holder h;
    holder_init(&h, env, 300);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, hold_writer, &h), 0);
    holder_wait(&h, 1);
    TU_RC_OK(h.rc_begin);
    ldb_txn *txn = tu_begin(env, 0); /* blocks until the holder commits */
    double began = now_sec();
    pthread_join(th, NULL);
    TU_RC_OK(h.rc_commit);
    TU_REQUIRE(began >= h.commit_started,
            "a second writer began %.3f s before the first one committed",
            h.commit_started - began);
    ck_assert_uint_eq(ldb_txn_id(txn), h.id + 1);
    tu_expect_str(txn, LDB_MAIN, "held", "yes");
    tu_put_str(txn, LDB_MAIN, "second", "2");
    TU_RC_OK(ldb_txn_commit(txn));
    txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(txn, LDB_MAIN, "held", "yes");
    tu_expect_str(txn, LDB_MAIN, "second", "2");
    ldb_txn_abort(txn);
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

/* Its own tcase, with a short timeout: a library that does not detect this
 * would deadlock. */
START_TEST(test_second_write_txn_same_thread)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "a", "1");
    ldb_txn *w2 = NULL;
    TU_RC_IS(ldb_txn_begin(env, LDB_TXN_NOWAIT, &w2), LDB_INVALID);
    TU_RC_IS(ldb_txn_begin(env, 0, &w2), LDB_INVALID);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY); /* read txns are fine */
    tu_expect_absent(r, LDB_MAIN, "a");
    ldb_txn_abort(r);
    tu_put_str(w, LDB_MAIN, "b", "2");
    TU_RC_OK(ldb_txn_commit(w));
    w = tu_begin(env, 0); /* and once it ended, a new one begins */
    tu_expect_str(w, LDB_MAIN, "a", "1");
    TU_RC_OK(ldb_txn_commit(w));
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

/* A write txn is ended on another thread: the writer mutex belongs to the
 * thread that began it, so commit refuses (LDB_INVALID, nothing committed)
 * and abort does nothing, leaving the txn open for its own thread. Before,
 * commit returned 0 and the mutex stayed held: every writer waited forever. */
struct end_elsewhere {
    ldb_txn *txn;
    int commit_rc;
};

static void *end_elsewhere_run(void *arg)
{
    struct end_elsewhere *e = arg;
    e->commit_rc = ldb_txn_commit(e->txn);
    if (e->commit_rc == LDB_INVALID)
        ldb_txn_abort(e->txn); /* refused too: the txn must stay whole */
    return NULL;
}

static int end_elsewhere(ldb_txn *txn)
{
    struct end_elsewhere e = {txn, 1};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, end_elsewhere_run, &e), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    return e.commit_rc;
}

struct writer_thread {
    ldb_env *env;
    int rc;
};

static void *writer_thread_run(void *arg)
{
    struct writer_thread *w = arg;
    ldb_txn *txn = NULL;
    w->rc = ldb_txn_begin(w->env, 0, &txn);
    if (w->rc == 0) {
        ldb_val k = tu_str("t"), v = tu_str("4");
        w->rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
        if (w->rc == 0)
            w->rc = ldb_txn_commit(txn);
        else
            ldb_txn_abort(txn);
    }
    return NULL;
}

/* Begins a write txn, puts, and exits without ending it. */
static void *begin_and_exit(void *arg)
{
    struct writer_thread *w = arg;
    ldb_txn *txn = NULL;
    w->rc = ldb_txn_begin(w->env, 0, &txn);
    if (w->rc == 0) {
        ldb_val k = tu_str("e"), v = tu_str("6");
        w->rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
    }
    return txn;
}

START_TEST(test_write_txn_ended_on_other_thread)
{
    char dir[4096], path[4096];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "a", "1");
    TU_RC_IS(end_elsewhere(w), LDB_INVALID);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_absent(r, LDB_MAIN, "a"); /* nothing committed */
    TU_RC_OK(end_elsewhere(r));         /* a read txn may move between threads */

    /* Still open and whole on its own thread. */
    tu_expect_str(w, LDB_MAIN, "a", "1");
    tu_put_str(w, LDB_MAIN, "b", "2");
    TU_RC_OK(ldb_txn_commit(w));

    /* Nothing is left wedged: a writer in another process, and one on
     * another thread, begin and commit (a hang fails the test). */
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        ldb_env *e2 = tu_open(path, NULL);
        ldb_txn *t2 = tu_begin(e2, 0);
        tu_put_str(t2, LDB_MAIN, "c", "3");
        TU_RC_OK(ldb_txn_commit(t2));
        TU_RC_OK(ldb_close(e2));
        _exit(0);
    }
    int status = tu_wait_child(pid, 20, "writer in another process");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (status %d)",
                  status);
    struct writer_thread wt = {env, 1};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, writer_thread_run, &wt), 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    ck_assert_msg(pthread_timedjoin_np(t, NULL, &until) == 0, "writer thread wedged");
    TU_RC_OK(wt.rc);

    /* Aborted on another thread: nothing happens; on its own: ended. */
    w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "d", "5");
    struct end_elsewhere e = {w, 0};
    ck_assert_int_eq(pthread_create(&t, NULL, end_elsewhere_run, &e), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    tu_expect_str(w, LDB_MAIN, "d", "5");
    ldb_txn_abort(w);

    /* The thread that began it exited (the kernel handed the writer on):
     * commit elsewhere commits nothing and frees it; the next writer goes. */
    if (!tu_robust_mutexes())
        fprintf(stderr, "same-thread-writer: no robust mutexes (qemu-user?): "
                        "the exited-thread part is skipped\n");
    for (int end = 0; end < 2 && tu_robust_mutexes(); end++) {
        struct writer_thread bt = {env, 1};
        void *ret = NULL;
        ck_assert_int_eq(pthread_create(&t, NULL, begin_and_exit, &bt), 0);
        ck_assert_int_eq(pthread_join(t, &ret), 0);
        TU_RC_OK(bt.rc);
        if (end == 0)
            TU_RC_IS(ldb_txn_commit(ret), LDB_INVALID);
        else
            ldb_txn_abort(ret);
        w = tu_begin(env, 0);
        tu_expect_absent(w, LDB_MAIN, "e");
        TU_RC_OK(ldb_txn_commit(w));
    }

    r = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(r, LDB_MAIN, "a", "1");
    tu_expect_str(r, LDB_MAIN, "b", "2");
    tu_expect_str(r, LDB_MAIN, "c", "3");
    tu_expect_str(r, LDB_MAIN, "t", "4");
    tu_expect_absent(r, LDB_MAIN, "d");
    ldb_txn_abort(r);
    tu_check_env(env);
    close_ok(env);
    tu_remove_dir(dir);
}
END_TEST

START_TEST(test_close_with_open_txn)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "a", "1");
    TU_RC_OK(ldb_txn_commit(w));

    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    TU_RC_IS(ldb_close(env), LDB_INVALID);
    tu_expect_str(r, LDB_MAIN, "a", "1"); /* nothing was freed */
    ldb_txn_abort(r);

    w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "b", "2");
    TU_RC_IS(ldb_close(env), LDB_INVALID);
    tu_put_str(w, LDB_MAIN, "c", "3");
    TU_RC_OK(ldb_txn_commit(w));

    r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_txn_reset(r); /* a reset txn is still a txn of the env */
    TU_RC_IS(ldb_close(env), LDB_INVALID);
    TU_RC_OK(ldb_txn_renew(r));
    tu_expect_str(r, LDB_MAIN, "c", "3");
    ldb_txn_abort(r);

    tu_check_env(env);
    close_ok(env);
    env = tu_open(path, NULL);
    r = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(r, LDB_MAIN, "a", "1");
    tu_expect_str(r, LDB_MAIN, "b", "2");
    tu_expect_str(r, LDB_MAIN, "c", "3");
    ldb_txn_abort(r);
    close_ok(env);
    free(path);
}
END_TEST

/* ---- reset / renew ----------------------------------------------------------- */

START_TEST(test_reset_renew)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "a", "1");
    TU_RC_OK(ldb_txn_commit(w));

    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    uint64_t id1 = ldb_txn_id(r);
    tu_expect_str(r, LDB_MAIN, "a", "1");
    ldb_stat st = tu_env_stat(env);
    ck_assert_uint_eq(st.readers_used, 1);
    ck_assert_uint_eq(st.oldest_reader_txn_id, id1);
    /* Open for at least 60 ms (the coarse clock ticks every few ms). */
    usleep(60 * 1000);
    st = tu_env_stat(env);
    ck_assert_uint_ge(st.oldest_reader_lag_us, 50 * 1000);
    ck_assert_uint_lt(st.oldest_reader_lag_us, 60ull * 1000 * 1000);

    w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "b", "2");
    TU_RC_OK(ldb_txn_commit(w));
    tu_expect_absent(r, LDB_MAIN, "b");

    ldb_txn_reset(r);
    st = tu_env_stat(env);
    ck_assert_uint_eq(st.readers_used, 0);
    ck_assert_uint_eq(st.oldest_reader_txn_id, 0);
    ck_assert_uint_eq(st.oldest_reader_lag_us, 0);

    w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "c", "3");
    TU_RC_OK(ldb_txn_commit(w));
    st = tu_env_stat(env);

    TU_RC_OK(ldb_txn_renew(r));
    ck_assert_uint_eq(ldb_txn_id(r), st.last_txn_id);
    TU_REQUIRE(ldb_txn_id(r) > id1, "renewed txn kept its old id");
    tu_expect_str(r, LDB_MAIN, "b", "2");
    tu_expect_str(r, LDB_MAIN, "c", "3");
    st = tu_env_stat(env);
    ck_assert_uint_eq(st.readers_used, 1);
    ck_assert_uint_eq(st.oldest_reader_txn_id, ldb_txn_id(r));

    /* Renew only after reset. */
    TU_RC_IS(ldb_txn_renew(r), LDB_INVALID);
    tu_expect_str(r, LDB_MAIN, "c", "3");

    /* Many cycles: each sees the newest commit. */
    for (int i = 0; i < 50; i++) {
        ldb_txn_reset(r);
        w = tu_begin(env, 0);
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        tu_put_str(w, LDB_MAIN, "n", v);
        TU_RC_OK(ldb_txn_commit(w));
        TU_RC_OK(ldb_txn_renew(r));
        tu_expect_str(r, LDB_MAIN, "n", v);
    }
    ldb_txn_reset(r);
    ldb_txn_abort(r); /* reset + abort frees it */
    st = tu_env_stat(env);
    ck_assert_uint_eq(st.readers_used, 0);
    ck_assert_uint_eq(st.oldest_reader_txn_id, 0);

    /* Renew of a write txn is misuse. */
    w = tu_begin(env, 0);
    TU_RC_IS(ldb_txn_renew(w), LDB_INVALID);
    tu_put_str(w, LDB_MAIN, "d", "4");
    TU_RC_OK(ldb_txn_commit(w));
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

/* One txn rewriting keys "key00000".."key<nk-1>" with vl-byte values of
 * pattern round * nk + i; expect_round() checks one of them. */
static void rewrite_round(ldb_env *env, int round, int nk, size_t vl)
{
    uint8_t val[1024];
    char key[32];
    ck_assert_uint_le(vl, sizeof val);
    ldb_txn *w = tu_begin(env, 0);
    for (int i = 0; i < nk; i++) {
        snprintf(key, sizeof key, "key%05d", i);
        tu_fill_pattern(val, vl, (uint64_t)round * nk + i);
        tu_put_bytes(w, LDB_MAIN, key, strlen(key), val, vl);
    }
    TU_RC_OK(ldb_txn_commit(w));
}

static void expect_round(ldb_txn *txn, int round, int nk, size_t vl, int i)
{
    uint8_t val[1024];
    char key[32];
    snprintf(key, sizeof key, "key%05d", i);
    tu_fill_pattern(val, vl, (uint64_t)round * nk + i);
    tu_expect_bytes(txn, LDB_MAIN, key, strlen(key), val, vl);
}

/* A reset txn holds no pages back: overwrite commits keep reusing pages. */
START_TEST(test_reset_holds_no_pages)
{
    char *path = tu_new_db_path();
    ldb_options o = {0};
    o.sync_mode = LDB_SYNC_OFF;
    o.wal_max_bytes = 1u << 20; /* if there is a log, checkpoint often */
    ldb_env *env = tu_open(path, &o);
    enum { NK = 200, VL = 200, ROUNDS = 200 };
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    uint64_t warm = 0;
    for (int round = 0; round < ROUNDS; round++) {
        if (round == 1)
            ldb_txn_reset(r);
        rewrite_round(env, round, NK, VL);
        if (round == 20)
            warm = tu_env_stat(env).file_size;
    }
    ldb_stat st = tu_env_stat(env);
    /* Without reuse the last 180 rounds would add ~180 * 12 leaf pages (8+ MiB). */
    TU_REQUIRE(st.file_size <= warm + (2u << 20),
            "file grew from %llu to %llu bytes while a reset read txn existed",
            (unsigned long long)warm, (unsigned long long)st.file_size);
    TU_RC_OK(ldb_txn_renew(r));
    expect_round(r, ROUNDS - 1, NK, VL, 7);
    ldb_txn_abort(r);
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

/* Pages freed from the last checkpoint's tree cannot be reused before the
 * next checkpoint, but pages written since can: with the log limit out of
 * reach (no automatic checkpoint), endless rewrites grow the file by at
 * most one copy of the checkpointed tree, and after a checkpoint the held
 * pages are reused. */
START_TEST(test_held_pages_bound_the_file)
{
    char *path = tu_new_db_path();
    ldb_options o = {0};
    o.sync_mode = LDB_SYNC_OFF;
    o.wal_max_bytes = 1ull << 40;
    ldb_env *env = tu_open(path, &o);
    enum { NK = 1000, VL = 100, ROUNDS = 300 };
    uint64_t filled = 0, rewritten = 0;
    for (int round = 0; round < 2 * ROUNDS; round++) {
        rewrite_round(env, round, NK, VL);
        if (round == 0) {
            TU_RC_OK(ldb_checkpoint(env));
            filled = tu_env_stat(env).file_size;
        }
        if (round == ROUNDS) {
            /* 300 rewrites of all ~40 leaves freed ~12,000 pages (47 MiB). */
            rewritten = tu_env_stat(env).file_size;
            TU_REQUIRE(rewritten <= 2 * filled + (2u << 20), "file grew from %llu to %llu bytes",
                       (unsigned long long)filled, (unsigned long long)rewritten);
            TU_RC_OK(ldb_checkpoint(env));
        }
    }
    uint64_t end = tu_env_stat(env).file_size;
    TU_REQUIRE(end <= rewritten + (1u << 20),
               "held pages not reused after the checkpoint: %llu -> %llu bytes",
               (unsigned long long)rewritten, (unsigned long long)end);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    expect_round(r, 2 * ROUNDS - 1, NK, VL, 123);
    ldb_txn_abort(r);
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

/* ---- env statistics, readers, persistence ------------------------------------ */

START_TEST(test_stat_env)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_stat st = tu_env_stat(env);
    ck_assert_uint_eq(st.page_size, 4096);
#if defined(LDB_TEST_DEFAULT_MAX_SIZE)
    ck_assert_uint_eq(st.max_size, LDB_TEST_DEFAULT_MAX_SIZE); /* test/qemu-suites.sh */
#elif defined(__SANITIZE_THREAD__)
    ck_assert_uint_eq(st.max_size, (uint64_t)1 << 36); /* lib/env.h: TSan's default */
#else
    ck_assert_uint_eq(st.max_size, (uint64_t)1 << 40);
#endif
    ck_assert_uint_eq(st.readers_max, 126);
    ck_assert_uint_eq(st.readers_used, 0);
    ck_assert_uint_eq(st.oldest_reader_txn_id, 0);
    ck_assert_uint_eq(st.commits, 0);
    close_ok(env);

    free(path);
    path = tu_new_db_path();
    ldb_options o = {0};
    o.page_size = 8192;
    o.max_size = (uint64_t)256 << 20;
    o.max_readers = 10;
    env = tu_open(path, &o);
    st = tu_env_stat(env);
    ck_assert_uint_eq(st.page_size, 8192);
    ck_assert_uint_eq(st.max_size, (uint64_t)256 << 20);
    ck_assert_uint_eq(st.readers_max, 10);
    ck_assert_uint_eq(st.readers_used, 0);
    TU_REQUIRE(st.file_size >= 2 * 8192 && st.file_size % 8192 == 0 &&
                st.file_size <= st.max_size,
            "file_size %llu", (unsigned long long)st.file_size);
    TU_REQUIRE((st.pages_used + st.pages_free) * 8192 <= st.file_size,
            "pages_used %llu + pages_free %llu exceed the file (%llu bytes)",
            (unsigned long long)st.pages_used, (unsigned long long)st.pages_free,
            (unsigned long long)st.file_size);
    TU_REQUIRE(st.pages_used >= 2, "pages_used %llu: the meta pages count",
            (unsigned long long)st.pages_used);

    ldb_txn *r[3];
    for (int i = 0; i < 3; i++) {
        ldb_txn *w = tu_begin(env, 0);
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        tu_put_str(w, LDB_MAIN, k, "v");
        TU_RC_OK(ldb_txn_commit(w));
        r[i] = tu_begin(env, LDB_TXN_RDONLY);
    }
    st = tu_env_stat(env);
    ck_assert_uint_eq(st.readers_used, 3);
    ck_assert_uint_eq(st.oldest_reader_txn_id, ldb_txn_id(r[0]));
    ck_assert_uint_eq(st.commits, 3);
    ck_assert_uint_eq(st.last_txn_id, ldb_txn_id(r[2]));
    TU_REQUIRE(ldb_txn_id(r[0]) < ldb_txn_id(r[1]) && ldb_txn_id(r[1]) < ldb_txn_id(r[2]),
            "reader ids not increasing");

    ldb_txn *w = tu_begin(env, 0); /* a write txn is not a reader */
    st = tu_env_stat(env);
    ck_assert_uint_eq(st.readers_used, 3);
    tu_put_str(w, LDB_MAIN, "k3", "v");
    TU_RC_OK(ldb_txn_commit(w));

    ldb_txn_abort(r[0]);
    st = tu_env_stat(env);
    ck_assert_uint_eq(st.readers_used, 2);
    ck_assert_uint_eq(st.oldest_reader_txn_id, ldb_txn_id(r[1]));
    ck_assert_uint_eq(st.commits, 4);
    TU_RC_OK(ldb_txn_commit(r[1]));
    ldb_txn_abort(r[2]);
    st = tu_env_stat(env);
    ck_assert_uint_eq(st.readers_used, 0);
    ck_assert_uint_eq(st.oldest_reader_txn_id, 0);
    TU_REQUIRE(st.pages_used > 2, "pages_used %llu with a non-empty tree",
            (unsigned long long)st.pages_used);
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

START_TEST(test_max_readers)
{
    char *path = tu_new_db_path();
    ldb_options o = {0};
    o.max_readers = 4;
    ldb_env *env = tu_open(path, &o);
    ldb_txn *w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "a", "1");
    TU_RC_OK(ldb_txn_commit(w));
    ldb_txn *r[4];
    for (int i = 0; i < 4; i++)
        r[i] = tu_begin(env, LDB_TXN_RDONLY);
    ldb_txn *extra = NULL;
    TU_RC_IS(ldb_txn_begin(env, LDB_TXN_RDONLY, &extra), LDB_BUSY);
    /* The writer does not need a reader slot. */
    w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "b", "2");
    TU_RC_OK(ldb_txn_commit(w));
    /* A reset txn keeps its slot. */
    ldb_txn_reset(r[3]);
    TU_RC_IS(ldb_txn_begin(env, LDB_TXN_RDONLY, &extra), LDB_BUSY);
    TU_RC_OK(ldb_txn_renew(r[3]));
    tu_expect_str(r[3], LDB_MAIN, "b", "2");
    ldb_txn_abort(r[0]);
    extra = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(extra, LDB_MAIN, "b", "2");
    tu_expect_absent(r[1], LDB_MAIN, "b");
    ldb_txn_abort(extra);
    for (int i = 1; i < 4; i++)
        ldb_txn_abort(r[i]);
    ck_assert_uint_eq(tu_env_stat(env).readers_used, 0);
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

START_TEST(test_reopen_persistence)
{
    char *dir = strdup(tu_tmpdir());
    char *path = strdup(tu_path(dir, "db"));
    ldb_env *env = tu_open(path, NULL);
    char k[32], v[64];
    for (int t = 0; t < 3; t++) {
        ldb_txn *w = tu_begin(env, 0);
        for (int i = t * 1000; i < (t + 1) * 1000; i++) {
            snprintf(k, sizeof k, "key%06d", i);
            snprintf(v, sizeof v, "value-%d-%d", i, i * 31);
            tu_put_str(w, LDB_MAIN, k, v);
        }
        TU_RC_OK(ldb_txn_commit(w));
    }
    ldb_txn *w = tu_begin(env, 0);
    for (int i = 0; i < 3000; i += 3) {
        snprintf(k, sizeof k, "key%06d", i);
        TU_RC_OK(ldb_del(w, LDB_MAIN, &(ldb_val){strlen(k), k}));
    }
    ldb_dbi t;
    TU_RC_OK(ldb_dbi_open(w, "named", LDB_CREATE, &t));
    tu_put_str(w, t, "inside", "tree");
    TU_RC_OK(ldb_txn_commit(w));
    uint64_t last = tu_env_stat(env).last_txn_id;
    tu_check_env(env);
    close_ok(env);

    /* Only the data file and its side files (API.md: -lock, -wal) exist. */
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        TU_REQUIRE(strcmp(de->d_name, "db") == 0 || strcmp(de->d_name, "db-lock") == 0 ||
                    strcmp(de->d_name, "db-wal") == 0,
                "unexpected file %s beside the database", de->d_name);
    }
    closedir(d);

    for (int pass = 0; pass < 2; pass++) {
        ldb_options o = {0};
        o.flags = pass ? LDB_RDONLY : 0;
        env = tu_open(path, &o);
        ck_assert_uint_eq(tu_env_stat(env).last_txn_id, last);
        ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
        for (int i = 0; i < 3000; i++) {
            snprintf(k, sizeof k, "key%06d", i);
            if (i % 3 == 0) {
                tu_expect_absent(r, LDB_MAIN, k);
            } else {
                snprintf(v, sizeof v, "value-%d-%d", i, i * 31);
                tu_expect_str(r, LDB_MAIN, k, v);
            }
        }
        TU_RC_OK(ldb_dbi_open(r, "named", 0, &t));
        tu_expect_str(r, t, "inside", "tree");
        ldb_tree_stat ts;
        TU_RC_OK(ldb_dbi_stat(r, LDB_MAIN, &ts));
        ck_assert_uint_eq(ts.entries, 2000);
        ldb_txn_abort(r);
        TU_RC_OK(ldb_check(env, NULL));
        close_ok(env);
    }
    free(path);
    free(dir);
}
END_TEST

START_TEST(test_checkpoint)
{
    TU_RC_IS(ldb_checkpoint(NULL), LDB_INVALID);
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_stat st0 = tu_env_stat(env);
    ldb_txn *w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "a", "1");
    TU_RC_OK(ldb_txn_commit(w));
    ldb_stat st = tu_env_stat(env);
    TU_REQUIRE(st.wal_size > 0, "a small commit left no log (wal_size 0)");

    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY); /* a reader across the checkpoint */
    w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "b", "2");
    TU_RC_OK(ldb_txn_commit(w));
    TU_RC_OK(ldb_checkpoint(env));
    st = tu_env_stat(env);
    ck_assert_uint_eq(st.wal_size, 0);
    TU_REQUIRE(st.checkpoints > st0.checkpoints, "checkpoints %llu -> %llu",
            (unsigned long long)st0.checkpoints, (unsigned long long)st.checkpoints);
    tu_expect_str(r, LDB_MAIN, "a", "1");
    tu_expect_absent(r, LDB_MAIN, "b");
    ldb_txn_abort(r);
    TU_RC_OK(ldb_checkpoint(env)); /* nothing to fold: still fine */
    r = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(r, LDB_MAIN, "a", "1");
    tu_expect_str(r, LDB_MAIN, "b", "2");
    ldb_txn_abort(r);
    w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "c", "3");
    TU_RC_OK(ldb_txn_commit(w));
    tu_check_env(env);
    TU_RC_OK(ldb_sync(env));
    close_ok(env);

    ldb_options o = {0};
    o.flags = LDB_RDONLY;
    env = tu_open(path, &o);
    TU_RC_IS(ldb_checkpoint(env), LDB_READONLY);
    TU_RC_OK(ldb_sync(env)); /* a no-op on a read-only env */
    r = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(r, LDB_MAIN, "a", "1");
    tu_expect_str(r, LDB_MAIN, "b", "2");
    tu_expect_str(r, LDB_MAIN, "c", "3");
    ldb_txn_abort(r);
    close_ok(env);
    free(path);
}
END_TEST

START_TEST(test_page_size_fixed)
{
    char *path = tu_new_db_path();
    ldb_options o = {0};
    o.page_size = 16384;
    ldb_env *env = tu_open(path, &o);
    size_t mks = ldb_max_key_size(env);
    ldb_txn *w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "k", "v");
    TU_RC_OK(ldb_txn_commit(w));
    close_ok(env);

    static const unsigned others[] = {4096, 0, 65536, 8192};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        ldb_options o2 = {0};
        o2.page_size = others[i];
        env = tu_open(path, &o2);
        ldb_stat st = tu_env_stat(env);
        TU_REQUIRE(st.page_size == 16384, "reopened with page_size %u: stat says %u", others[i],
                st.page_size);
        ck_assert_uint_eq(ldb_max_key_size(env), mks);
        ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
        tu_expect_str(r, LDB_MAIN, "k", "v");
        ldb_txn_abort(r);
        w = tu_begin(env, 0);
        char k[16];
        snprintf(k, sizeof k, "k%zu", i);
        tu_put_str(w, LDB_MAIN, k, "more");
        TU_RC_OK(ldb_txn_commit(w));
        tu_check_env(env);
        close_ok(env);
    }
    ldb_options bad = {0};
    bad.page_size = 1000;
    expect_open_invalid(path, &bad, "page_size 1000 on an existing database");
    free(path);
}
END_TEST

/* ---- max_size: LDB_FULL ------------------------------------------------------ */

#define FULL_VAL 400
#define FULL_BATCH 200

static void full_key(char *buf, size_t n, int txn, int i)
{
    snprintf(buf, n, "t%05d-%03d", txn, i);
}

/* One txn of FULL_BATCH puts; 0 if it committed, else LDB_FULL (asserted). */
static int full_batch(ldb_env *env, int t)
{
    uint8_t val[FULL_VAL];
    char k[32];
    ldb_txn *w = tu_begin(env, 0);
    int put_rc = 0;
    for (int i = 0; i < FULL_BATCH; i++) {
        full_key(k, sizeof k, t, i);
        tu_fill_pattern(val, FULL_VAL, (uint64_t)t * 1000 + (uint64_t)i);
        ldb_val kv = tu_str(k), vv = tu_val(val, FULL_VAL);
        put_rc = ldb_put(w, LDB_MAIN, &kv, &vv, 0);
        if (put_rc != 0)
            break;
    }
    TU_REQUIRE(put_rc == 0 || put_rc == LDB_FULL, "put in txn %d: %s", t, ldb_strerror(put_rc));
    int rc = ldb_txn_commit(w);
    if (put_rc == LDB_FULL)
        TU_REQUIRE(rc == LDB_FULL, "put gave LDB_FULL, then commit gave %d (%s)", rc,
                ldb_strerror(rc));
    else
        TU_REQUIRE(rc == 0 || rc == LDB_FULL, "commit of txn %d: %s", t, ldb_strerror(rc));
    return rc;
}

static void expect_full_batch(ldb_txn *r, int t, int present)
{
    uint8_t val[FULL_VAL];
    char k[32];
    for (int i = 0; i < FULL_BATCH; i++) {
        full_key(k, sizeof k, t, i);
        if (present) {
            tu_fill_pattern(val, FULL_VAL, (uint64_t)t * 1000 + (uint64_t)i);
            tu_expect_bytes(r, LDB_MAIN, k, strlen(k), val, FULL_VAL);
        } else {
            tu_expect_absent(r, LDB_MAIN, k);
        }
    }
}

START_TEST(test_full_many_txns)
{
    char *path = tu_new_db_path();
    ldb_options o = {0};
    o.max_size = 2u << 20;
    ldb_env *env = tu_open(path, &o);
    int committed = 0, failed = -1;
    for (int t = 0; t < 200; t++) {
        if (full_batch(env, t) != 0) {
            failed = t;
            break;
        }
        committed++;
    }
    TU_REQUIRE(failed >= 0, "200 txns of ~80 KB fit a 2 MiB max_size");
    TU_REQUIRE(committed >= 3, "only %d txns of ~80 KB fit in 2 MiB", committed);
    ldb_stat st = tu_env_stat(env);
    TU_REQUIRE(st.file_size <= o.max_size, "file_size %llu over max_size",
            (unsigned long long)st.file_size);
    ck_assert_uint_eq(st.commits, (uint64_t)committed);

    /* Everything committed before reads back; nothing of the failed txn. */
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ck_assert_uint_eq(ldb_txn_id(r), st.last_txn_id);
    for (int t = 0; t < committed; t++)
        expect_full_batch(r, t, 1);
    expect_full_batch(r, failed, 0);
    ldb_txn_abort(r);
    tu_check_env(env);

    /* The next write txn takes the id the failed one would have had. */
    ldb_txn *w = tu_begin(env, 0);
    ck_assert_uint_eq(ldb_txn_id(w), st.last_txn_id + 1);
    ldb_txn_abort(w);

    /* A txn that only deletes commits on a full database. */
    w = tu_begin(env, 0);
    char k[32];
    for (int t = 1; t < committed; t++)
        for (int i = 0; i < FULL_BATCH; i++) {
            full_key(k, sizeof k, t, i);
            TU_RC_OK(ldb_del(w, LDB_MAIN, &(ldb_val){strlen(k), k}));
        }
    TU_RC_OK(ldb_txn_commit(w));
    tu_check_env(env);

    /* The room it freed takes new commits. */
    int refill = committed - 2 < 3 ? committed - 2 : 3;
    for (int t = 0; t < refill; t++)
        TU_RC_OK(full_batch(env, 1000 + t));
    r = tu_begin(env, LDB_TXN_RDONLY);
    expect_full_batch(r, 0, 1);
    for (int t = 1; t < committed; t++)
        expect_full_batch(r, t, 0);
    for (int t = 0; t < refill; t++)
        expect_full_batch(r, 1000 + t, 1);
    ldb_txn_abort(r);
    tu_check_env(env);
    close_ok(env);

    env = tu_open(path, &o);
    r = tu_begin(env, LDB_TXN_RDONLY);
    expect_full_batch(r, 0, 1);
    for (int t = 0; t < refill; t++)
        expect_full_batch(r, 1000 + t, 1);
    ldb_txn_abort(r);
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

START_TEST(test_full_single_value)
{
    char *path = tu_new_db_path();
    ldb_options o = {0};
    o.max_size = 1u << 20;
    ldb_env *env = tu_open(path, &o);
    ldb_txn *w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "small", "kept");
    TU_RC_OK(ldb_txn_commit(w));

    size_t big = 4u << 20;
    uint8_t *vb = pattern(big, 4);
    w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "neighbour", "lost with the txn");
    ldb_val k = tu_str("big"), v = tu_val(vb, big);
    int rc = ldb_put(w, LDB_MAIN, &k, &v, 0);
    TU_REQUIRE(rc == 0 || rc == LDB_FULL, "put of 4 MiB under a 1 MiB max_size: %s",
            ldb_strerror(rc));
    int crc = ldb_txn_commit(w);
    TU_REQUIRE(crc == LDB_FULL, "commit after a 4 MiB put (put gave %d) under 1 MiB: %d (%s)",
            rc, crc, ldb_strerror(crc));

    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(r, LDB_MAIN, "small", "kept");
    tu_expect_absent(r, LDB_MAIN, "big");
    tu_expect_absent(r, LDB_MAIN, "neighbour");
    ldb_txn_abort(r);
    ldb_stat st = tu_env_stat(env);
    TU_REQUIRE(st.file_size <= o.max_size, "file_size %llu over max_size",
            (unsigned long long)st.file_size);
    tu_check_env(env);

    w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "small2", "fits");
    TU_RC_OK(ldb_txn_commit(w));
    r = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(r, LDB_MAIN, "small2", "fits");
    ldb_txn_abort(r);
    tu_check_env(env);
    close_ok(env);
    free(vb);
    free(path);
}
END_TEST

/* ---- tree handle errors ------------------------------------------------------ */

/* ldb_check_ex reports its walk: done never falls or passes total, and the
 * last report is done == total (the snapshot's pages); the result is
 * ldb_check's. */
struct check_progress {
    unsigned calls;
    uint64_t done, total;
    int went_back;
};

static int note_check_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct check_progress *cp = ctx;
    if (done < cp->done || done > total || (cp->calls && total != cp->total))
        cp->went_back = 1;
    cp->calls++;
    cp->done = done;
    cp->total = total;
    return 1; /* ignored: the check goes on */
}

START_TEST(test_check_progress)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *w = tu_begin(env, 0);
    char k[32], v[600];
    memset(v, 'v', sizeof v - 1);
    v[sizeof v - 1] = '\0';
    for (int i = 0; i < 40000; i++) { /* ~6,800 pages */
        snprintf(k, sizeof k, "key%06d", i);
        tu_put_str(w, LDB_MAIN, k, v);
    }
    TU_RC_OK(ldb_txn_commit(w));
    struct check_progress cp = {0};
    TU_RC_OK(ldb_check_ex(env, NULL, note_check_progress, &cp));
    ck_assert_uint_ge(cp.calls, 3); /* > 4096 pages: reports along the way */
    ck_assert_int_eq(cp.went_back, 0);
    ck_assert_uint_eq(cp.done, cp.total);
    ldb_space sp;
    TU_RC_OK(ldb_stat_space(env, &sp, sizeof sp));
    ck_assert_uint_eq(cp.total, sp.used_pages + sp.free_pages);
    TU_RC_OK(ldb_check_ex(env, NULL, NULL, NULL));
    TU_RC_OK(ldb_close(env));
    free(path);
}
END_TEST

START_TEST(test_dbi_errors)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *w = tu_begin(env, 0);
    ldb_dbi t, m = 77;
    TU_RC_OK(ldb_dbi_open(w, NULL, 0, &m));
    ck_assert_uint_eq(m, LDB_MAIN);
    TU_RC_IS(ldb_dbi_open(w, "t", 0, &t), LDB_NOTFOUND);
    TU_RC_OK(ldb_dbi_open(w, "t", LDB_CREATE, &t));
    TU_REQUIRE(t != LDB_MAIN, "a named tree got the LDB_MAIN handle");
    tu_put_str(w, t, "k", "v");
    TU_RC_OK(ldb_txn_commit(w));

    w = tu_begin(env, 0);
    const ldb_dbi bad[] = {12345, t + 1000, (ldb_dbi)-1};
    ldb_val k = tu_str("k"), v = tu_str("v"), out;
    ldb_tree_stat ts;
    ldb_cursor *cur = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TU_RC_IS(ldb_get(w, bad[i], &k, &out), LDB_INVALID);
        TU_RC_IS(ldb_put(w, bad[i], &k, &v, 0), LDB_INVALID);
        TU_RC_IS(ldb_del(w, bad[i], &k), LDB_INVALID);
        TU_RC_IS(ldb_cursor_open(w, bad[i], &cur), LDB_INVALID);
        TU_RC_IS(ldb_dbi_stat(w, bad[i], &ts), LDB_INVALID);
        TU_RC_IS(ldb_dbi_drop(w, bad[i], 0), LDB_INVALID);
        TU_RC_IS(ldb_dbi_drop(w, bad[i], 1), LDB_INVALID);
    }
    TU_RC_IS(ldb_dbi_drop(w, LDB_MAIN, 1), LDB_INVALID); /* main: empty, never delete */
    ldb_dbi x;
    TU_RC_IS(ldb_dbi_open(w, "", LDB_CREATE, &x), LDB_INVALID);
    char name[300];
    memset(name, 'n', sizeof name);
    name[256] = '\0';
    int rc = ldb_dbi_open(w, name, LDB_CREATE, &x);
    TU_REQUIRE(rc == LDB_INVALID || rc == LDB_TOOBIG, "256-byte tree name: %d (%s)", rc,
            ldb_strerror(rc));
    name[255] = '\0';
    TU_RC_OK(ldb_dbi_open(w, name, LDB_CREATE, &x));
    tu_put_str(w, x, "long", "name");
    tu_expect_str(w, t, "k", "v"); /* the txn survived every refusal */
    TU_RC_OK(ldb_txn_commit(w));

    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_dbi y;
    TU_RC_IS(ldb_dbi_open(r, "missing", 0, &y), LDB_NOTFOUND);
    TU_RC_IS(ldb_dbi_open(r, "missing", LDB_CREATE, &y), LDB_READONLY);
    TU_RC_OK(ldb_dbi_open(r, "t", LDB_CREATE, &y)); /* exists */
    tu_expect_str(r, y, "k", "v");
    TU_RC_OK(ldb_dbi_open(r, name, 0, &y));
    tu_expect_str(r, y, "long", "name");
    TU_RC_IS(ldb_get(r, 12345, &k, &out), LDB_INVALID);
    ldb_txn_abort(r);

    /* A deleted tree's handle is invalid, and its name is gone. */
    w = tu_begin(env, 0);
    TU_RC_OK(ldb_dbi_drop(w, t, 1));
    TU_RC_OK(ldb_txn_commit(w));
    w = tu_begin(env, 0);
    TU_RC_IS(ldb_get(w, t, &k, &out), LDB_INVALID);
    TU_RC_IS(ldb_put(w, t, &k, &v, 0), LDB_INVALID);
    TU_RC_IS(ldb_dbi_open(w, "t", 0, &y), LDB_NOTFOUND);
    tu_put_str(w, LDB_MAIN, "main", "ok");
    TU_RC_OK(ldb_txn_commit(w));
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

START_TEST(test_max_dbs)
{
    char *path = tu_new_db_path();
    ldb_options o = {0};
    o.max_dbs = 2;
    ldb_env *env = tu_open(path, &o);
    ldb_txn *w = tu_begin(env, 0);
    ldb_dbi a, b, c;
    TU_RC_OK(ldb_dbi_open(w, "a", LDB_CREATE, &a));
    TU_RC_OK(ldb_dbi_open(w, "b", LDB_CREATE, &b));
    TU_RC_IS(ldb_dbi_open(w, "c", LDB_CREATE, &c), LDB_DBS_FULL);
    tu_put_str(w, a, "k", "a");
    tu_put_str(w, b, "k", "b");
    TU_RC_OK(ldb_txn_commit(w));
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(r, a, "k", "a");
    tu_expect_str(r, b, "k", "b");
    TU_RC_IS(ldb_dbi_open(r, "c", 0, &c), LDB_NOTFOUND);
    ldb_txn_abort(r);
    tu_check_env(env);
    close_ok(env);
    free(path);
}
END_TEST

/* ---- writes of keys and values read in the same write txn ---------------------- */

/* get, a cursor and put hand out pointers into the txn's own pages: the leaf
 * a put rewrites, the overflow run it frees. Writing such a pointer back
 * (to the same key, another key, another tree) must write what it pointed
 * at when the write began, to the tree and to the log. */

enum alias_case {
    ALIAS_SELF_OVERFLOW,  /* v = get(big); put(big, v) */
    ALIAS_SELF_INLINE,    /* v = get(k); put(k, v) */
    ALIAS_SELF_PREFIX,    /* v = get(k); put(k, first part of v) */
    ALIAS_OVERFLOW_SHRINK, /* v = get(big); put(big, a part of v: inline, then smaller run) */
    ALIAS_NEW_KEYS,       /* v = get(k); put(new key in k's leaf, v), until it splits */
    ALIAS_OTHER_KEY,      /* v = get(k); put(k2, v), k2 in k's leaf with another size */
    ALIAS_CURSOR,         /* cursor (k, v): put(k, part of v) or del(k) */
    ALIAS_OVERFLOW_ELSEWHERE, /* v = get(big); put(big2, v); put(other tree, v) */
    ALIAS_INLINE_OTHER_TREE,  /* v = get(k); put(other tree, k, v) */
    ALIAS_CASES
};

#define ALIAS_BIG 100000
#define ALIAS_KEYS 40
#define ALIAS_MODEL_MAX 200

/* What the trees must hold: (tree, key) -> value, or absent. */
struct alias_model {
    int n;
    ldb_dbi dbi[ALIAS_MODEL_MAX];
    char key[ALIAS_MODEL_MAX][16];
    uint8_t *val[ALIAS_MODEL_MAX]; /* NULL: deleted */
    size_t len[ALIAS_MODEL_MAX];
};

static void alias_set(struct alias_model *m, ldb_dbi dbi, const char *k, const void *v, size_t n)
{
    int i = 0;
    while (i < m->n && !(m->dbi[i] == dbi && strcmp(m->key[i], k) == 0))
        i++;
    ck_assert_int_lt(i, ALIAS_MODEL_MAX);
    if (i == m->n) {
        m->n++;
        m->dbi[i] = dbi;
        snprintf(m->key[i], sizeof m->key[i], "%s", k);
    } else {
        free(m->val[i]);
    }
    m->val[i] = v ? tu_dup_bytes(v, n) : NULL;
    m->len[i] = n;
}

static void alias_expect(ldb_txn *txn, const struct alias_model *m)
{
    for (int i = 0; i < m->n; i++) {
        if (m->val[i])
            tu_expect_bytes(txn, m->dbi[i], m->key[i], strlen(m->key[i]), m->val[i], m->len[i]);
        else
            tu_expect_absent(txn, m->dbi[i], m->key[i]);
    }
}

static void alias_get(ldb_txn *txn, ldb_dbi dbi, const char *k, ldb_val *v)
{
    ldb_val key = tu_str(k);
    TU_RC_OK(ldb_get(txn, dbi, &key, v));
}

/* put k = v, where v may point into the txn's pages; the model learns what v
 * held before the put. */
static void alias_put(ldb_txn *txn, struct alias_model *m, ldb_dbi dbi, const char *k, ldb_val v)
{
    uint8_t *want = tu_dup_bytes(v.data, v.size);
    ldb_val key = tu_str(k);
    TU_RC_OK(ldb_put(txn, dbi, &key, &v, 0));
    alias_set(m, dbi, k, want, v.size);
    free(want);
}

static void alias_cursor(ldb_txn *txn, struct alias_model *m)
{
    ldb_cursor *c;
    TU_RC_OK(ldb_cursor_open(txn, LDB_MAIN, &c));
    ldb_val k, v;
    int i = 0;
    for (int rc = ldb_cursor_get(c, &k, &v, LDB_FIRST); rc == 0;
         rc = ldb_cursor_get(c, &k, &v, LDB_NEXT), i++) {
        if (k.size != 4 || memcmp(k.data, "a", 1) != 0)
            continue; /* the "a%03d" keys only */
        char name[16];
        snprintf(name, sizeof name, "%.*s", (int)k.size, (const char *)k.data);
        if (i % 3 == 2) {
            TU_RC_OK(ldb_del(txn, LDB_MAIN, &k));
            alias_set(m, LDB_MAIN, name, NULL, 0);
        } else {
            /* Key and value both from the cursor. */
            uint8_t *want = tu_dup_bytes(v.data, v.size / 2);
            ldb_val half = {v.size / 2, v.data};
            TU_RC_OK(ldb_put(txn, LDB_MAIN, &k, &half, 0));
            alias_set(m, LDB_MAIN, name, want, v.size / 2);
            free(want);
        }
    }
    ldb_cursor_close(c);
}

static void alias_run(ldb_txn *txn, struct alias_model *m, enum alias_case which, ldb_dbi other)
{
    ldb_val v;
    char name[16];
    switch (which) {
    case ALIAS_SELF_OVERFLOW:
        alias_get(txn, LDB_MAIN, "big", &v);
        alias_put(txn, m, LDB_MAIN, "big", v);
        break;
    case ALIAS_SELF_INLINE:
        for (int i = 0; i < ALIAS_KEYS; i += 3) {
            snprintf(name, sizeof name, "a%03d", i);
            alias_get(txn, LDB_MAIN, name, &v);
            alias_put(txn, m, LDB_MAIN, name, v);
        }
        break;
    case ALIAS_SELF_PREFIX:
        for (int i = 0; i < ALIAS_KEYS; i += 3) {
            snprintf(name, sizeof name, "a%03d", i);
            alias_get(txn, LDB_MAIN, name, &v);
            v.size = v.size * 2 / 3;
            alias_put(txn, m, LDB_MAIN, name, v);
        }
        break;
    case ALIAS_OVERFLOW_SHRINK:
        alias_get(txn, LDB_MAIN, "big", &v);
        v.size = 300;
        alias_put(txn, m, LDB_MAIN, "big", v);
        alias_get(txn, LDB_MAIN, "big2", &v);
        v.size = ALIAS_BIG / 2;
        alias_put(txn, m, LDB_MAIN, "big2", v);
        break;
    case ALIAS_NEW_KEYS:
        for (int i = 0; i < 60; i++) {
            snprintf(name, sizeof name, "a010_%02d", i);
            alias_get(txn, LDB_MAIN, "a010", &v);
            alias_put(txn, m, LDB_MAIN, name, v);
        }
        break;
    case ALIAS_OTHER_KEY:
        for (int i = 0; i + 7 < ALIAS_KEYS; i += 2) {
            snprintf(name, sizeof name, "a%03d", i);
            alias_get(txn, LDB_MAIN, name, &v);
            snprintf(name, sizeof name, "a%03d", i + 7);
            alias_put(txn, m, LDB_MAIN, name, v);
        }
        break;
    case ALIAS_CURSOR:
        alias_cursor(txn, m);
        break;
    case ALIAS_OVERFLOW_ELSEWHERE:
        alias_get(txn, LDB_MAIN, "big", &v);
        alias_put(txn, m, LDB_MAIN, "big2", v);
        alias_get(txn, LDB_MAIN, "big", &v);
        alias_put(txn, m, other, "big", v);
        alias_get(txn, LDB_MAIN, "big", &v);
        alias_put(txn, m, other, "a005", v);
        break;
    case ALIAS_INLINE_OTHER_TREE:
        for (int i = 0; i < ALIAS_KEYS; i += 4) {
            snprintf(name, sizeof name, "a%03d", i);
            alias_get(txn, LDB_MAIN, name, &v);
            alias_put(txn, m, other, name, v);
        }
        break;
    case ALIAS_CASES:
        break;
    }
}

/* Case _i / 2; odd _i first rewrites the pages involved in the same txn, so
 * that the pointers lead into the txn's dirty copies rather than the map.
 * The txn commits in a child that dies without closing: the reopen rebuilds
 * it from the log, which must hold the same bytes as the tree did. */
START_TEST(test_put_aliased_values)
{
    enum alias_case which = (enum alias_case)(_i / 2);
    int dirty = _i % 2;
    char dir[4096], path[4096];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    struct alias_model m = {0};
    uint8_t *big = pattern(ALIAS_BIG, 1), *big2 = pattern(ALIAS_BIG, 2);
    ldb_dbi other;
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, 0);
    TU_RC_OK(ldb_dbi_open(txn, "other", LDB_CREATE, &other));
    for (int i = 0; i < ALIAS_KEYS; i++) {
        char k[16];
        uint8_t v[80];
        snprintf(k, sizeof k, "a%03d", i);
        tu_fill_pattern(v, sizeof v, 100 + (uint64_t)i);
        tu_put_bytes(txn, LDB_MAIN, k, strlen(k), v, 40 + (size_t)i % 30);
        alias_set(&m, LDB_MAIN, k, v, 40 + (size_t)i % 30);
        tu_put_bytes(txn, other, k, strlen(k), v, 20);
        alias_set(&m, other, k, v, 20);
    }
    tu_put_bytes(txn, LDB_MAIN, "big", 3, big, ALIAS_BIG);
    alias_set(&m, LDB_MAIN, "big", big, ALIAS_BIG);
    tu_put_bytes(txn, LDB_MAIN, "big2", 4, big2, ALIAS_BIG);
    alias_set(&m, LDB_MAIN, "big2", big2, ALIAS_BIG);
    TU_RC_OK(ldb_txn_commit(txn));
    close_ok(env);

    /* The writes commit in a child that dies without closing, so the
     * reopen rebuilds them from the log: it must hold what the tree did. */
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        env = tu_open(path, NULL);
        txn = tu_begin(env, 0);
        ldb_dbi o;
        TU_RC_OK(ldb_dbi_open(txn, "other", 0, &o));
        ck_assert_uint_eq(o, other);
        if (dirty) {
            tu_put_bytes(txn, LDB_MAIN, "big", 3, big2, ALIAS_BIG);
            alias_set(&m, LDB_MAIN, "big", big2, ALIAS_BIG);
            tu_put_bytes(txn, LDB_MAIN, "a001", 4, "x", 1);
            alias_set(&m, LDB_MAIN, "a001", "x", 1);
            tu_put_bytes(txn, other, "a001", 4, "y", 1);
            alias_set(&m, other, "a001", "y", 1);
        }
        alias_run(txn, &m, which, other);
        alias_expect(txn, &m);
        TU_RC_OK(ldb_txn_commit(txn));
        txn = tu_begin(env, LDB_TXN_RDONLY);
        alias_expect(txn, &m);
        ldb_txn_abort(txn);
        tu_check_env(env);
        FILE *f = fopen(tu_path(dir, "model"), "w");
        ck_assert_ptr_nonnull(f);
        for (int i = 0; i < m.n; i++) {
            fprintf(f, "%u %s %zu %d\n", (unsigned)m.dbi[i], m.key[i], m.len[i], m.val[i] != NULL);
            if (m.val[i])
                fwrite(m.val[i], 1, m.len[i], f);
        }
        ck_assert_int_eq(fclose(f), 0);
        _exit(0); /* no close, no checkpoint */
    }
    int status = tu_wait_child(pid, 120, "aliased writes");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (status %d)",
                  status);
    for (int i = 0; i < m.n; i++)
        free(m.val[i]);
    memset(&m, 0, sizeof m);
    FILE *f = fopen(tu_path(dir, "model"), "r");
    ck_assert_ptr_nonnull(f);
    unsigned d;
    char k[16];
    size_t len;
    int present;
    while (fscanf(f, "%u %15s %zu %d", &d, k, &len, &present) == 4) {
        fgetc(f);
        uint8_t *v = tu_xmalloc(len + 1);
        if (present)
            ck_assert_uint_eq(fread(v, 1, len, f), len);
        alias_set(&m, (ldb_dbi)d, k, present ? v : NULL, len);
        free(v);
    }
    fclose(f);
    ck_assert_int_gt(m.n, 2 * ALIAS_KEYS);

    env = tu_open(path, NULL);
    txn = tu_begin(env, LDB_TXN_RDONLY);
    ldb_dbi o;
    TU_RC_OK(ldb_dbi_open(txn, "other", 0, &o));
    ck_assert_uint_eq(o, other);
    alias_expect(txn, &m);
    ldb_txn_abort(txn);
    tu_check_env(env);
    close_ok(env);
    for (int i = 0; i < m.n; i++)
        free(m.val[i]);
    free(big);
    free(big2);
    tu_remove_dir(dir);
}
END_TEST

static Suite *api_suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("arguments");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_null_handles);
    tcase_add_test(tc, test_null_data_pointers);
    tcase_add_test(tc, test_bad_options);
    tcase_add_test(tc, test_valid_page_sizes);
    tcase_add_test(tc, test_missing_path_enoent);
    tcase_add_test(tc, test_unknown_flags);
    tcase_add_test(tc, test_strerror);
    tcase_add_test(tc, test_version);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_empty_key);
    tcase_add_loop_test(tc, test_max_key_size, 0,
                        (int)(sizeof key_page_sizes / sizeof key_page_sizes[0]));
    tcase_add_test(tc, test_zero_length_values);
    tcase_add_test(tc, test_huge_value);
    tcase_add_test(tc, test_value_too_big);
    suite_add_tcase(s, tc);

    tc = tcase_create("txn");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_readonly_txn_writes);
    tcase_add_test(tc, test_rdonly_env);
    tcase_add_test(tc, test_immutable_env);
    tcase_add_test(tc, test_nooverwrite);
    tcase_add_test(tc, test_append_order);
    tcase_add_test(tc, test_del_missing);
    tcase_add_test(tc, test_txn_ids);
    tcase_add_test(tc, test_nowait_busy);
    tcase_add_test(tc, test_begin_waits_for_writer);
    tcase_add_test(tc, test_close_with_open_txn);
    tcase_add_test(tc, test_reset_renew);
    tcase_add_test(tc, test_reset_holds_no_pages);
    tcase_add_test(tc, test_held_pages_bound_the_file);
    suite_add_tcase(s, tc);

    /* A library that misses this would deadlock: fail fast instead. */
    tc = tcase_create("same-thread-writer");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_second_write_txn_same_thread);
    tcase_add_test(tc, test_write_txn_ended_on_other_thread);
    suite_add_tcase(s, tc);

    tc = tcase_create("env");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_stat_env);
    tcase_add_test(tc, test_max_readers);
    tcase_add_test(tc, test_reopen_persistence);
    tcase_add_test(tc, test_page_size_fixed);
    tcase_add_test(tc, test_checkpoint);
    suite_add_tcase(s, tc);

    tc = tcase_create("full");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_full_many_txns);
    tcase_add_test(tc, test_full_single_value);
    suite_add_tcase(s, tc);

    tc = tcase_create("aliasing");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_put_aliased_values, 0, 2 * ALIAS_CASES);
    suite_add_tcase(s, tc);

    tc = tcase_create("dbi");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_check_progress);
    tcase_add_test(tc, test_dbi_errors);
    tcase_add_test(tc, test_max_dbs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {api_suite()};
    return tu_run_suites(suites, 1);
}
