/* SPDX-License-Identifier: MIT */
/*
 * check_btree: the B+tree's behaviour as the public API shows it. Many keys
 * in ascending, descending and random order (splits), deletes down to an
 * empty tree (merges), values that move between inline and overflow pages,
 * bulk loading with LDB_APPEND (page fill), named trees and the catalog,
 * aborted and own writes, free page reuse, and key shapes that stress the
 * comparison (long shared prefixes, zero bytes, keys that prefix each other).
 *
 * Only public names are used; every test that writes ends with ldb_check.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Assertions that stay off Check's pipe when they pass (ck_assert marks a
 * point on every success, which is slow inside loops). */

/* ---- helpers ----------------------------------------------------------------- */

/* Count a tree's entries with a cursor, checking they come in strict order. */
static uint64_t scan_count(ldb_txn *txn, ldb_dbi dbi)
{
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(txn, dbi, &cur));
    ldb_val k, v, prev = {0, NULL};
    uint8_t *pbuf = NULL;
    uint64_t n = 0;
    int rc;
    while ((rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) == 0) {
        TU_REQUIRE(n == 0 || tu_key_cmp(prev.data, prev.size, k.data, k.size) < 0,
                "scan: entry %llu out of order", (unsigned long long)n);
        free(pbuf);
        pbuf = tu_xmalloc(k.size);
        memcpy(pbuf, k.data, k.size);
        prev = tu_val(pbuf, k.size);
        n++;
    }
    TU_RC_IS(rc, LDB_NOTFOUND);
    free(pbuf);
    ldb_cursor_close(cur);
    return n;
}

/* ---- many keys: the numbered key set ----------------------------------------- */

#define NKEYS 100000

static size_t num_key(char *buf, uint32_t i)
{
    return (size_t)sprintf(buf, "key-%08u", i);
}

static size_t num_val_len(uint32_t i)
{
    return 8 + (i * 7u) % 50;
}

static void expect_num(ldb_txn *txn, ldb_dbi dbi, uint32_t i)
{
    char k[32];
    uint8_t v[64];
    size_t kl = num_key(k, i), vl = num_val_len(i);
    tu_fill_pattern(v, vl, i);
    tu_expect_bytes(txn, dbi, k, kl, v, vl);
}

static void put_num(ldb_txn *txn, ldb_dbi dbi, uint32_t i)
{
    char k[32];
    uint8_t v[64];
    size_t kl = num_key(k, i), vl = num_val_len(i);
    tu_fill_pattern(v, vl, i);
    tu_put_bytes(txn, dbi, k, kl, v, vl);
}

/* A full forward scan must give keys lo..hi-1 step `step`, with their values. */
static void expect_num_scan(ldb_txn *txn, ldb_dbi dbi, uint32_t lo, uint32_t hi, uint32_t step)
{
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(txn, dbi, &cur));
    ldb_val k, v;
    char kb[32];
    uint8_t vb[64];
    uint32_t i = lo;
    int rc;
    while ((rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) == 0) {
        TU_REQUIRE(i < hi, "scan: more entries than expected (extra at %u)", i);
        size_t kl = num_key(kb, i), vl = num_val_len(i);
        tu_fill_pattern(vb, vl, i);
        TU_REQUIRE(k.size == kl && memcmp(k.data, kb, kl) == 0, "scan: entry for %u is '%.*s'",
                i, (int)k.size, (const char *)k.data);
        TU_REQUIRE(v.size == vl && memcmp(v.data, vb, vl) == 0, "scan: value of %u differs", i);
        i += step;
    }
    TU_RC_IS(rc, LDB_NOTFOUND);
    TU_REQUIRE(i >= hi, "scan stopped at %u of %u", i, hi);
    ldb_cursor_close(cur);
}

static const char *const order_names[] = {"ascending", "descending", "random"};

START_TEST(test_insert_many)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    uint32_t *order = tu_iota(NKEYS);
    if (_i == 1)
        for (uint32_t i = 0; i < NKEYS; i++)
            order[i] = NKEYS - 1 - i;
    else if (_i == 2)
        tu_shuffle(order, NKEYS, 42);

    const uint32_t per_txn = NKEYS / 10;
    for (uint32_t t = 0; t < 10; t++) {
        ldb_txn *w = tu_begin(env, 0);
        for (uint32_t j = t * per_txn; j < (t + 1) * per_txn; j++)
            put_num(w, LDB_MAIN, order[j]);
        for (uint32_t j = t * per_txn; j < (t + 1) * per_txn; j += 97)
            expect_num(w, LDB_MAIN, order[j]);
        ck_assert_uint_eq(tu_tree_stat(w, LDB_MAIN).entries, (t + 1) * per_txn);
        TU_RC_OK(ldb_txn_commit(w));
    }

    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    for (uint32_t j = 0; j < NKEYS; j++)
        expect_num(r, LDB_MAIN, order[j]);
    char k[32];
    for (uint32_t i = NKEYS; i < NKEYS + 100; i++) {
        num_key(k, i);
        tu_expect_absent(r, LDB_MAIN, k);
    }
    tu_expect_absent(r, LDB_MAIN, "key-");
    tu_expect_absent(r, LDB_MAIN, "key-0000000");
    tu_expect_absent(r, LDB_MAIN, "key-000000000");
    tu_expect_absent(r, LDB_MAIN, "kez");
    tu_expect_absent(r, LDB_MAIN, "a");
    ldb_tree_stat ts = tu_tree_stat(r, LDB_MAIN);
    ck_assert_uint_eq(ts.entries, NKEYS);
    TU_REQUIRE(ts.depth >= 2 && ts.branch_pages >= 1 && ts.leaf_pages > 100,
            "%s: depth %u, %llu branch, %llu leaf pages for %d keys", order_names[_i],
            ts.depth, (unsigned long long)ts.branch_pages, (unsigned long long)ts.leaf_pages,
            NKEYS);
    ck_assert_uint_eq(ts.overflow_pages, 0);
    expect_num_scan(r, LDB_MAIN, 0, NKEYS, 1);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));

    env = tu_open(path, NULL);
    r = tu_begin(env, LDB_TXN_RDONLY);
    for (uint32_t i = 0; i < NKEYS; i += 89)
        expect_num(r, LDB_MAIN, i);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(order);
    free(path);
}
END_TEST

START_TEST(test_delete_all_random)
{
    char *path = tu_new_db_path();
    ldb_options o = {0};
    o.sync_mode = LDB_SYNC_OFF;
    ldb_env *env = tu_open(path, &o);
    ldb_txn *w = tu_begin(env, 0);
    for (uint32_t i = 0; i < NKEYS; i++)
        put_num(w, LDB_MAIN, i);
    TU_RC_OK(ldb_txn_commit(w));

    uint32_t *order = tu_iota(NKEYS);
    tu_shuffle(order, NKEYS, 7);
    uint8_t *gone = calloc(NKEYS, 1);
    ck_assert_ptr_nonnull(gone);
    uint64_t rng = 99;
    const uint32_t per_txn = NKEYS / 10;
    char k[32];
    for (uint32_t t = 0; t < 10; t++) {
        w = tu_begin(env, 0);
        for (uint32_t j = t * per_txn; j < (t + 1) * per_txn; j++) {
            size_t kl = num_key(k, order[j]);
            TU_RC_OK(ldb_del(w, LDB_MAIN, &(ldb_val){kl, k}));
            gone[order[j]] = 1;
        }
        TU_RC_OK(ldb_txn_commit(w));
        ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
        ck_assert_uint_eq(tu_tree_stat(r, LDB_MAIN).entries, NKEYS - (t + 1) * per_txn);
        for (int s = 0; s < 1000; s++) {
            uint32_t i = (uint32_t)(tu_rand(&rng) % NKEYS);
            if (gone[i]) {
                num_key(k, i);
                tu_expect_absent(r, LDB_MAIN, k);
            } else {
                expect_num(r, LDB_MAIN, i);
            }
        }
        if (t == 4 || t == 8)
            ck_assert_uint_eq(scan_count(r, LDB_MAIN), NKEYS - (t + 1) * per_txn);
        ldb_txn_abort(r);
        if (t == 4 || t == 8)
            tu_check_env(env);
    }

    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_tree_stat ts = tu_tree_stat(r, LDB_MAIN);
    TU_REQUIRE(ts.entries == 0 && ts.depth == 0 && ts.leaf_pages == 0 && ts.branch_pages == 0 &&
                ts.overflow_pages == 0,
            "emptied tree: entries %llu depth %u leaf %llu branch %llu overflow %llu",
            (unsigned long long)ts.entries, ts.depth, (unsigned long long)ts.leaf_pages,
            (unsigned long long)ts.branch_pages, (unsigned long long)ts.overflow_pages);
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(r, LDB_MAIN, &cur));
    ldb_val ck, cv;
    TU_RC_IS(ldb_cursor_get(cur, &ck, &cv, LDB_FIRST), LDB_NOTFOUND);
    TU_RC_IS(ldb_cursor_get(cur, &ck, &cv, LDB_LAST), LDB_NOTFOUND);
    ldb_cursor_close(cur);
    ldb_txn_abort(r);
    tu_check_env(env);

    /* The empty tree grows again. */
    w = tu_begin(env, 0);
    for (uint32_t i = 0; i < 1000; i++)
        put_num(w, LDB_MAIN, i * 3);
    TU_RC_OK(ldb_txn_commit(w));
    r = tu_begin(env, LDB_TXN_RDONLY);
    expect_num_scan(r, LDB_MAIN, 0, 3000, 3);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(gone);
    free(order);
    free(path);
}
END_TEST

/* ---- values: inline and overflow --------------------------------------------- */

static void expect_overflow_for(ldb_txn *txn, size_t vsize, unsigned ps)
{
    ldb_tree_stat ts = tu_tree_stat(txn, LDB_MAIN);
    if (vsize > ps)
        TU_REQUIRE(ts.overflow_pages >= vsize / ps, "a %zu-byte value: %llu overflow pages",
                vsize, (unsigned long long)ts.overflow_pages);
    if (vsize <= 100)
        TU_REQUIRE(ts.overflow_pages == 0, "only small values left, yet %llu overflow pages",
                (unsigned long long)ts.overflow_pages);
}

START_TEST(test_overwrite_sizes)
{
    const unsigned ps = 4096;
    static const size_t sizes[] = {10,     100000, 5,  0,     3 * 4096 + 17, 2 * 4096, 1,
                                   700,    100000, 200000, 50000, 4096,      4097,    3,
                                   300000, 0,      2000,   12};
    const size_t n = sizeof sizes / sizeof sizes[0];
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    uint8_t *buf = tu_xmalloc(300000);

    ldb_txn *w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "j", "left neighbour");
    tu_put_str(w, LDB_MAIN, "l", "right neighbour");
    TU_RC_OK(ldb_txn_commit(w));

    /* One size per txn. */
    for (size_t i = 0; i < n; i++) {
        tu_fill_pattern(buf, sizes[i], i);
        w = tu_begin(env, 0);
        tu_put_bytes(w, LDB_MAIN, "k", 1, buf, sizes[i]);
        tu_expect_bytes(w, LDB_MAIN, "k", 1, buf, sizes[i]);
        expect_overflow_for(w, sizes[i], ps);
        TU_RC_OK(ldb_txn_commit(w));
        ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
        tu_expect_bytes(r, LDB_MAIN, "k", 1, buf, sizes[i]);
        tu_expect_str(r, LDB_MAIN, "j", "left neighbour");
        tu_expect_str(r, LDB_MAIN, "l", "right neighbour");
        ck_assert_uint_eq(tu_tree_stat(r, LDB_MAIN).entries, 3);
        expect_overflow_for(r, sizes[i], ps);
        ldb_txn_abort(r);
        tu_check_env(env);
    }

    /* Every size in one txn, on another key. */
    w = tu_begin(env, 0);
    for (size_t i = 0; i < n; i++) {
        tu_fill_pattern(buf, sizes[i], 100 + i);
        tu_put_bytes(w, LDB_MAIN, "m", 1, buf, sizes[i]);
        tu_expect_bytes(w, LDB_MAIN, "m", 1, buf, sizes[i]);
    }
    TU_RC_OK(ldb_txn_commit(w));
    TU_RC_OK(ldb_close(env));
    env = tu_open(path, NULL);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    tu_fill_pattern(buf, sizes[n - 1], n - 1);
    tu_expect_bytes(r, LDB_MAIN, "k", 1, buf, sizes[n - 1]);
    tu_fill_pattern(buf, sizes[n - 1], 100 + n - 1);
    tu_expect_bytes(r, LDB_MAIN, "m", 1, buf, sizes[n - 1]);
    ck_assert_uint_eq(tu_tree_stat(r, LDB_MAIN).overflow_pages, 0);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(buf);
    free(path);
}
END_TEST

static const unsigned value_page_sizes[] = {4096, 65536};

START_TEST(test_large_values)
{
    const unsigned ps = value_page_sizes[_i];
    static const size_t sizes[] = {1,      2,      100,     1000,    2000,    4000,
                                   4095,   4096,   4097,    8191,    8192,    8193,
                                   12288,  20000,  32768,   65535,   65536,   65537,
                                   100000, 131072, 262144,  500000,  1048575, 1048576,
                                   3,      777,    1 << 19, 1 << 18, 150000,  65536 * 3 + 1};
    const size_t n = sizeof sizes / sizeof sizes[0];
    char *path = tu_new_db_path();
    ldb_options o = {0};
    o.page_size = ps;
    ldb_env *env = tu_open(path, &o);
    uint32_t *order = tu_iota(n);
    tu_shuffle(order, n, ps);
    uint8_t *buf = tu_xmalloc(1 << 20);
    char k[16];
    uint64_t min_overflow = 0;
    for (size_t i = 0; i < n; i++)
        if (sizes[i] > ps)
            min_overflow += sizes[i] / ps;

    ldb_txn *w = tu_begin(env, 0);
    for (size_t j = 0; j < n; j++) {
        size_t i = order[j];
        snprintf(k, sizeof k, "v%03zu", i);
        tu_fill_pattern(buf, sizes[i], i);
        tu_put_bytes(w, LDB_MAIN, k, strlen(k), buf, sizes[i]);
        tu_put_bytes(w, LDB_MAIN, "tiny", 4, k, strlen(k)); /* interleave small writes */
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(k, sizeof k, "v%03zu", i);
        tu_fill_pattern(buf, sizes[i], i);
        tu_expect_bytes(w, LDB_MAIN, k, strlen(k), buf, sizes[i]);
    }
    TU_RC_OK(ldb_txn_commit(w));
    TU_RC_OK(ldb_close(env));

    env = tu_open(path, &o);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    for (size_t i = 0; i < n; i++) {
        snprintf(k, sizeof k, "v%03zu", i);
        tu_fill_pattern(buf, sizes[i], i);
        tu_expect_bytes(r, LDB_MAIN, k, strlen(k), buf, sizes[i]);
    }
    ldb_tree_stat ts = tu_tree_stat(r, LDB_MAIN);
    ck_assert_uint_eq(ts.entries, n + 1);
    TU_REQUIRE(ts.overflow_pages > 0 && ts.overflow_pages >= min_overflow,
            "page %u: %llu overflow pages, at least %llu expected", ps,
            (unsigned long long)ts.overflow_pages, (unsigned long long)min_overflow);
    uint64_t before = ts.overflow_pages;
    ldb_txn_abort(r);
    tu_check_env(env);

    /* Delete every other value; the rest is intact and the overflow runs shrink. */
    w = tu_begin(env, 0);
    for (size_t i = 0; i < n; i += 2) {
        snprintf(k, sizeof k, "v%03zu", i);
        TU_RC_OK(ldb_del(w, LDB_MAIN, &(ldb_val){strlen(k), k}));
    }
    TU_RC_OK(ldb_txn_commit(w));
    r = tu_begin(env, LDB_TXN_RDONLY);
    uint64_t min_left = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(k, sizeof k, "v%03zu", i);
        if (i % 2 == 0) {
            tu_expect_absent(r, LDB_MAIN, k);
            continue;
        }
        tu_fill_pattern(buf, sizes[i], i);
        tu_expect_bytes(r, LDB_MAIN, k, strlen(k), buf, sizes[i]);
        if (sizes[i] > ps)
            min_left += sizes[i] / ps;
    }
    ts = tu_tree_stat(r, LDB_MAIN);
    TU_REQUIRE(ts.overflow_pages < before && ts.overflow_pages >= min_left,
            "after deletes: %llu overflow pages (before %llu, at least %llu)",
            (unsigned long long)ts.overflow_pages, (unsigned long long)before,
            (unsigned long long)min_left);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(buf);
    free(order);
    free(path);
}
END_TEST

/* An overflow run holds exactly ceil(size / page_size) pages (format 4's
 * bare runs: no page header takes room from the value): sizes around one
 * page and several, at 4 KiB and 64 KiB pages, each in its own key, read
 * back in the txn that wrote them, after commit and after reopen; the
 * tree's overflow page count is the sum, and deletes give it all back. */
START_TEST(test_run_exact_pages)
{
    const unsigned ps = value_page_sizes[_i];
    const size_t sizes[] = {ps - 1, ps, ps + 1, 2 * ps, 3 * ps + 1, 5 * ps - 1, 16 * ps};
    const size_t n = sizeof sizes / sizeof sizes[0];
    char *path = tu_new_db_path();
    ldb_options o = {0};
    o.page_size = ps;
    ldb_env *env = tu_open(path, &o);
    uint8_t *buf = tu_xmalloc(16 * ps);
    char k[16];
    uint64_t want = 0;
    ldb_txn *w = tu_begin(env, 0);
    for (size_t i = 0; i < n; i++) {
        snprintf(k, sizeof k, "r%02zu", i);
        tu_fill_pattern(buf, sizes[i], 40 + i);
        tu_put_bytes(w, LDB_MAIN, k, strlen(k), buf, sizes[i]);
        want += (sizes[i] + ps - 1) / ps;
        TU_REQUIRE(tu_tree_stat(w, LDB_MAIN).overflow_pages == want,
                   "page %u: a %zu-byte value: %llu overflow pages in all, %llu expected", ps,
                   sizes[i], (unsigned long long)tu_tree_stat(w, LDB_MAIN).overflow_pages,
                   (unsigned long long)want);
        tu_expect_bytes(w, LDB_MAIN, k, strlen(k), buf, sizes[i]);
    }
    TU_RC_OK(ldb_txn_commit(w));
    for (int reopen = 0; reopen < 2; reopen++) {
        if (reopen) {
            TU_RC_OK(ldb_close(env));
            env = tu_open(path, &o);
        }
        ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
        for (size_t i = 0; i < n; i++) {
            snprintf(k, sizeof k, "r%02zu", i);
            tu_fill_pattern(buf, sizes[i], 40 + i);
            tu_expect_bytes(r, LDB_MAIN, k, strlen(k), buf, sizes[i]);
        }
        ck_assert_uint_eq(tu_tree_stat(r, LDB_MAIN).overflow_pages, want);
        ldb_txn_abort(r);
        tu_check_env(env);
    }
    w = tu_begin(env, 0);
    for (size_t i = 0; i < n; i += 2) {
        snprintf(k, sizeof k, "r%02zu", i);
        TU_RC_OK(ldb_del(w, LDB_MAIN, &(ldb_val){strlen(k), k}));
        want -= (sizes[i] + ps - 1) / ps;
    }
    ck_assert_uint_eq(tu_tree_stat(w, LDB_MAIN).overflow_pages, want);
    TU_RC_OK(ldb_txn_commit(w));
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(buf);
    free(path);
}
END_TEST

/* Random puts, overwrites and deletes of values from 0 bytes to several
 * pages, checked against a model after every txn; some txns are aborted. */
struct vmodel {
    uint8_t present;
    uint32_t len;
    uint64_t seed;
};

static size_t rand_vlen(uint64_t *rng)
{
    uint64_t c = tu_rand(rng) % 10;
    if (c < 5)
        return (size_t)(tu_rand(rng) % 41);
    if (c < 8)
        return (size_t)(40 + tu_rand(rng) % 3000);
    return (size_t)(3000 + tu_rand(rng) % 40000);
}

START_TEST(test_mixed_value_sizes)
{
    enum { NK = 2000, TXNS = 40, OPS = 250 };
    char *path = tu_new_db_path();
    ldb_options o = {0};
    o.sync_mode = LDB_SYNC_OFF;
    ldb_env *env = tu_open(path, &o);
    struct vmodel *m = calloc(NK, sizeof *m), *saved = calloc(NK, sizeof *m);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(saved);
    uint8_t *buf = tu_xmalloc(50000);
    uint64_t rng = 2024, seq = 1;
    char k[32];
    for (int t = 0; t < TXNS; t++) {
        memcpy(saved, m, NK * sizeof *m);
        ldb_txn *w = tu_begin(env, 0);
        for (int op = 0; op < OPS; op++) {
            uint32_t i = (uint32_t)(tu_rand(&rng) % NK);
            size_t kl = (size_t)snprintf(k, sizeof k, "mk%07u", i * 7919u % 10007u);
            uint64_t c = tu_rand(&rng) % 100;
            if (c < 65) {
                size_t vl = rand_vlen(&rng);
                tu_fill_pattern(buf, vl, seq);
                tu_put_bytes(w, LDB_MAIN, k, kl, buf, vl);
                m[i].present = 1;
                m[i].len = (uint32_t)vl;
                m[i].seed = seq++;
            } else if (c < 90) {
                int rc = ldb_del(w, LDB_MAIN, &(ldb_val){kl, k});
                TU_REQUIRE(rc == (m[i].present ? 0 : LDB_NOTFOUND), "del %s: %s", k,
                        ldb_strerror(rc));
                m[i].present = 0;
            } else if (m[i].present) {
                tu_fill_pattern(buf, m[i].len, m[i].seed);
                tu_expect_bytes(w, LDB_MAIN, k, kl, buf, m[i].len);
            } else {
                tu_expect_absent_bytes(w, LDB_MAIN, k, kl);
            }
        }
        if (t % 6 == 5) {
            ldb_txn_abort(w);
            memcpy(m, saved, NK * sizeof *m);
        } else {
            TU_RC_OK(ldb_txn_commit(w));
        }
        ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
        uint64_t live = 0;
        for (uint32_t i = 0; i < NK; i++) {
            size_t kl = (size_t)snprintf(k, sizeof k, "mk%07u", i * 7919u % 10007u);
            if (m[i].present) {
                tu_fill_pattern(buf, m[i].len, m[i].seed);
                tu_expect_bytes(r, LDB_MAIN, k, kl, buf, m[i].len);
                live++;
            } else {
                tu_expect_absent_bytes(r, LDB_MAIN, k, kl);
            }
        }
        ck_assert_uint_eq(tu_tree_stat(r, LDB_MAIN).entries, live);
        ck_assert_uint_eq(scan_count(r, LDB_MAIN), live);
        ldb_txn_abort(r);
        if (t % 10 == 9)
            tu_check_env(env);
    }
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(buf);
    free(saved);
    free(m);
    free(path);
}
END_TEST

/* ---- LDB_APPEND bulk load fills pages ---------------------------------------- */

#define BULK_N 100000
#define BULK_KEY 16
#define BULK_VAL 112

static void bulk_key(char *buf, uint32_t i)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "k%015u", i);
    memcpy(buf, tmp, BULK_KEY);
}

START_TEST(test_append_bulk_load)
{
    char *path = tu_new_db_path();
    ldb_options o = {0};
    o.sync_mode = LDB_SYNC_OFF;
    ldb_env *env = tu_open(path, &o);
    ldb_stat est = tu_env_stat(env);
    const unsigned ps = est.page_size;
    char k[BULK_KEY];
    uint8_t v[BULK_VAL];

    ldb_txn *w = tu_begin(env, 0);
    ldb_dbi app, rnd;
    TU_RC_OK(ldb_dbi_open(w, "appended", LDB_CREATE, &app));
    TU_RC_OK(ldb_dbi_open(w, "random", LDB_CREATE, &rnd));
    for (uint32_t i = 0; i < BULK_N; i++) {
        bulk_key(k, i);
        tu_fill_pattern(v, BULK_VAL, i);
        ldb_val kv = tu_val(k, BULK_KEY), vv = tu_val(v, BULK_VAL);
        int rc = ldb_put(w, app, &kv, &vv, LDB_APPEND);
        TU_REQUIRE(rc == 0, "append of key %u: %s", i, ldb_strerror(rc));
    }
    /* In a tree of several levels, only a key past the last one appends:
     * the first key, one in the middle, one between the last leaf's keys,
     * and the last key itself are refused, and the tree is unchanged. */
    const uint32_t refused[] = {0, BULK_N / 2, BULK_N - 2, BULK_N - 1};
    for (size_t j = 0; j < sizeof refused / sizeof refused[0]; j++) {
        bulk_key(k, refused[j]);
        ldb_val kv = tu_val(k, BULK_KEY), vv = tu_val(v, BULK_VAL);
        TU_RC_IS(ldb_put(w, app, &kv, &vv, LDB_APPEND), LDB_EXISTS);
    }
    ck_assert_uint_eq(tu_tree_stat(w, app).entries, BULK_N);
    TU_RC_OK(ldb_txn_commit(w));

    uint32_t *order = tu_iota(BULK_N);
    tu_shuffle(order, BULK_N, 11);
    w = tu_begin(env, 0);
    for (uint32_t j = 0; j < BULK_N; j++) {
        bulk_key(k, order[j]);
        tu_fill_pattern(v, BULK_VAL, order[j]);
        tu_put_bytes(w, rnd, k, BULK_KEY, v, BULK_VAL);
    }
    TU_RC_OK(ldb_txn_commit(w));

    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_tree_stat a = tu_tree_stat(r, app), b = tu_tree_stat(r, rnd);
    ck_assert_uint_eq(a.entries, BULK_N);
    ck_assert_uint_eq(b.entries, BULK_N);
    /* A generous model of a full page: 16 bytes of per-entry overhead (slot
     * and node header) and 64 of page header. Appended pages must come
     * within 15% of it. */
    const uint64_t per_entry = BULK_KEY + BULK_VAL + 16;
    const uint64_t min_pages = ((uint64_t)BULK_N * per_entry + (ps - 64) - 1) / (ps - 64);
    TU_REQUIRE(a.leaf_pages * 100 <= min_pages * 115,
            "appended: %llu leaf pages, full pages would be ~%llu (limit %llu)",
            (unsigned long long)a.leaf_pages, (unsigned long long)min_pages,
            (unsigned long long)(min_pages * 115 / 100));
    TU_REQUIRE(a.leaf_pages * ps >= (uint64_t)BULK_N * BULK_VAL,
            "appended: %llu leaf pages cannot hold the values",
            (unsigned long long)a.leaf_pages);
    TU_REQUIRE(b.leaf_pages * 100 >= a.leaf_pages * 115,
            "random inserts used %llu leaf pages, appends %llu: appends should pack tighter",
            (unsigned long long)b.leaf_pages, (unsigned long long)a.leaf_pages);
    ck_assert_uint_eq(a.overflow_pages, 0);

    /* Same contents, in order. */
    ldb_cursor *ca, *cb;
    TU_RC_OK(ldb_cursor_open(r, app, &ca));
    TU_RC_OK(ldb_cursor_open(r, rnd, &cb));
    ldb_val ka, va, kb, vb;
    for (uint32_t i = 0; i < BULK_N; i++) {
        TU_RC_OK(ldb_cursor_get(ca, &ka, &va, LDB_NEXT));
        TU_RC_OK(ldb_cursor_get(cb, &kb, &vb, LDB_NEXT));
        bulk_key(k, i);
        tu_fill_pattern(v, BULK_VAL, i);
        TU_REQUIRE(ka.size == BULK_KEY && memcmp(ka.data, k, BULK_KEY) == 0, "append key %u", i);
        TU_REQUIRE(va.size == BULK_VAL && memcmp(va.data, v, BULK_VAL) == 0, "append val %u", i);
        TU_REQUIRE(kb.size == BULK_KEY && memcmp(kb.data, k, BULK_KEY) == 0, "random key %u", i);
        TU_REQUIRE(vb.size == BULK_VAL && memcmp(vb.data, v, BULK_VAL) == 0, "random val %u", i);
    }
    TU_RC_IS(ldb_cursor_get(ca, &ka, &va, LDB_NEXT), LDB_NOTFOUND);
    TU_RC_IS(ldb_cursor_get(cb, &kb, &vb, LDB_NEXT), LDB_NOTFOUND);
    ldb_cursor_close(ca);
    ldb_cursor_close(cb);
    ldb_txn_abort(r);
    tu_check_env(env);

    /* Full pages still take inserts in the middle (they must split). */
    w = tu_begin(env, 0);
    for (uint32_t i = 0; i < BULK_N; i += 1000) {
        char mid[BULK_KEY + 1];
        bulk_key(mid, i);
        mid[BULK_KEY] = 'x';
        tu_put_bytes(w, app, mid, BULK_KEY + 1, "mid", 3);
    }
    TU_RC_OK(ldb_txn_commit(w));
    r = tu_begin(env, LDB_TXN_RDONLY);
    ck_assert_uint_eq(tu_tree_stat(r, app).entries, BULK_N + BULK_N / 1000);
    ck_assert_uint_eq(scan_count(r, app), BULK_N + BULK_N / 1000);
    for (uint32_t i = 0; i < BULK_N; i += 997) {
        bulk_key(k, i);
        tu_fill_pattern(v, BULK_VAL, i);
        tu_expect_bytes(r, app, k, BULK_KEY, v, BULK_VAL);
    }
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(order);
    free(path);
}
END_TEST

/* ---- named trees ------------------------------------------------------------- */

/* The keys of a tree in order, as "k1,k2," (printable keys only). */
static void expect_keys(ldb_txn *txn, ldb_dbi dbi, const char *want)
{
    char got[8192] = "";
    size_t at = 0;
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(txn, dbi, &cur));
    ldb_val k, v;
    int rc;
    while ((rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) == 0 && at + k.size + 2 < sizeof got) {
        memcpy(got + at, k.data, k.size);
        at += k.size;
        got[at++] = ',';
        got[at] = '\0';
    }
    TU_RC_IS(rc, LDB_NOTFOUND);
    ldb_cursor_close(cur);
    ck_assert_str_eq(got, want);
}

START_TEST(test_named_trees)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    static const char *const names[] = {"alpha", "beta", "gamma"};
    static const int counts[] = {100, 50, 10};
    ldb_dbi d[3];
    char k[32], v[32];

    ldb_txn *w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "alpha", "main-alpha"); /* a key named like a tree */
    tu_put_str(w, LDB_MAIN, "k", "main");
    for (int t = 0; t < 3; t++) {
        TU_RC_OK(ldb_dbi_open(w, names[t], LDB_CREATE, &d[t]));
        TU_REQUIRE(d[t] != LDB_MAIN, "tree %s got LDB_MAIN", names[t]);
        for (int j = 0; j < t; j++)
            TU_REQUIRE(d[t] != d[j], "trees %s and %s share a handle", names[t], names[j]);
        tu_put_str(w, d[t], "k", names[t]);
        for (int i = 0; i < counts[t]; i++) {
            snprintf(k, sizeof k, "%c%03d", names[t][0], i);
            snprintf(v, sizeof v, "%s-%d", names[t], i);
            tu_put_str(w, d[t], k, v);
        }
    }
    /* Opening again in the same txn gives the same tree. */
    ldb_dbi again;
    TU_RC_OK(ldb_dbi_open(w, "beta", 0, &again));
    tu_expect_str(w, again, "k", "beta");
    TU_RC_OK(ldb_txn_commit(w));

    for (int pass = 0; pass < 2; pass++) {
        ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
        tu_expect_str(r, LDB_MAIN, "k", "main");
        tu_expect_str(r, LDB_MAIN, "alpha", "main-alpha");
        expect_keys(r, LDB_MAIN, "alpha,k,");
        ck_assert_uint_eq(tu_tree_stat(r, LDB_MAIN).entries, 2);
        for (int t = 0; t < 3; t++) {
            tu_expect_str(r, d[t], "k", names[t]);
            ck_assert_uint_eq(tu_tree_stat(r, d[t]).entries, (uint64_t)counts[t] + 1);
            ck_assert_uint_eq(scan_count(r, d[t]), (uint64_t)counts[t] + 1);
            for (int o = 0; o < 3; o++) {
                snprintf(k, sizeof k, "%c%03d", names[o][0], 0);
                if (o == t) {
                    snprintf(v, sizeof v, "%s-0", names[t]);
                    tu_expect_str(r, d[t], k, v);
                } else {
                    tu_expect_absent(r, d[t], k);
                }
            }
        }
        tu_expect_absent(r, LDB_MAIN, "a000");
        ldb_txn_abort(r);
        if (pass == 0) {
            /* After a reopen the handles come from the catalog by name. */
            TU_RC_OK(ldb_close(env));
            env = tu_open(path, NULL);
            r = tu_begin(env, LDB_TXN_RDONLY);
            for (int t = 0; t < 3; t++)
                TU_RC_OK(ldb_dbi_open(r, names[t], 0, &d[t]));
            TU_RC_OK(ldb_txn_commit(r));
        }
    }

    /* Empty beta (handle stays valid), delete gamma. */
    w = tu_begin(env, 0);
    TU_RC_OK(ldb_dbi_drop(w, d[1], 0));
    ldb_tree_stat ts = tu_tree_stat(w, d[1]);
    TU_REQUIRE(ts.entries == 0 && ts.depth == 0, "emptied tree: %llu entries, depth %u",
            (unsigned long long)ts.entries, ts.depth);
    tu_expect_absent(w, d[1], "k");
    tu_put_str(w, d[1], "k", "beta again");
    TU_RC_OK(ldb_dbi_drop(w, d[2], 1));
    TU_RC_OK(ldb_txn_commit(w));

    w = tu_begin(env, 0);
    ldb_dbi g;
    TU_RC_IS(ldb_dbi_open(w, "gamma", 0, &g), LDB_NOTFOUND);
    ldb_val kk = tu_str("k"), out;
    TU_RC_IS(ldb_get(w, d[2], &kk, &out), LDB_INVALID);
    tu_expect_str(w, d[1], "k", "beta again");
    ck_assert_uint_eq(tu_tree_stat(w, d[1]).entries, 1);
    /* Emptying LDB_MAIN leaves the named trees alone. */
    TU_RC_OK(ldb_dbi_drop(w, LDB_MAIN, 0));
    ck_assert_uint_eq(tu_tree_stat(w, LDB_MAIN).entries, 0);
    tu_expect_str(w, d[0], "k", "alpha");
    TU_RC_OK(ldb_txn_commit(w));
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));

    env = tu_open(path, NULL);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    expect_keys(r, LDB_MAIN, "");
    ldb_dbi a, b;
    TU_RC_OK(ldb_dbi_open(r, "alpha", 0, &a));
    TU_RC_OK(ldb_dbi_open(r, "beta", 0, &b));
    TU_RC_IS(ldb_dbi_open(r, "gamma", 0, &g), LDB_NOTFOUND);
    ck_assert_uint_eq(tu_tree_stat(r, a).entries, 101);
    expect_keys(r, b, "k,");
    ldb_txn_abort(r);
    /* A re-created gamma starts empty. */
    w = tu_begin(env, 0);
    TU_RC_OK(ldb_dbi_open(w, "gamma", LDB_CREATE, &g));
    ck_assert_uint_eq(tu_tree_stat(w, g).entries, 0);
    tu_expect_absent(w, g, "k");
    tu_put_str(w, g, "new", "gamma");
    TU_RC_OK(ldb_txn_commit(w));
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(path);
}
END_TEST

START_TEST(test_handles_across_txns)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *w = tu_begin(env, 0);
    ldb_dbi t, u;
    TU_RC_OK(ldb_dbi_open(w, "t", LDB_CREATE, &t));
    TU_RC_OK(ldb_dbi_open(w, "u", LDB_CREATE, &u));
    tu_put_str(w, t, "first", "1");
    TU_RC_OK(ldb_txn_commit(w));
    /* A handle opened in a read txn that commits is valid too. */
    TU_RC_OK(ldb_close(env));
    env = tu_open(path, NULL);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    TU_RC_OK(ldb_dbi_open(r, "t", 0, &t));
    TU_RC_OK(ldb_txn_commit(r));
    w = tu_begin(env, 0);
    TU_RC_OK(ldb_dbi_open(w, "u", 0, &u));
    TU_RC_OK(ldb_txn_commit(w));

    char k[32];
    for (int i = 0; i < 30; i++) {
        w = tu_begin(env, 0);
        snprintf(k, sizeof k, "t%03d", i);
        tu_put_str(w, t, k, "t");
        snprintf(k, sizeof k, "u%03d", i);
        tu_put_str(w, u, k, "u");
        TU_RC_OK(ldb_txn_commit(w));
        r = tu_begin(env, LDB_TXN_RDONLY);
        tu_expect_str(r, t, "first", "1");
        snprintf(k, sizeof k, "t%03d", i);
        tu_expect_str(r, t, k, "t");
        tu_expect_absent(r, u, k);
        ck_assert_uint_eq(tu_tree_stat(r, u).entries, (uint64_t)i + 1);
        ldb_txn_abort(r);
    }
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(path);
}
END_TEST

/* ---- txn visibility ---------------------------------------------------------- */

START_TEST(test_abort_no_trace)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *w = tu_begin(env, 0);
    ldb_dbi a, b;
    TU_RC_OK(ldb_dbi_open(w, "a", LDB_CREATE, &a));
    TU_RC_OK(ldb_dbi_open(w, "b", LDB_CREATE, &b));
    for (uint32_t i = 0; i < 2000; i++)
        put_num(w, LDB_MAIN, i * 2);
    for (uint32_t i = 0; i < 100; i++)
        put_num(w, a, i);
    for (uint32_t i = 0; i < 50; i++)
        put_num(w, b, i);
    TU_RC_OK(ldb_txn_commit(w));
    tu_check_env(env);
    ldb_stat before = tu_env_stat(env);

    uint8_t *big = tu_xmalloc(200000);
    tu_fill_pattern(big, 200000, 5);
    w = tu_begin(env, 0);
    char k[32];
    for (uint32_t i = 0; i < 500; i++) {
        size_t kl = num_key(k, i * 2);
        tu_put_bytes(w, LDB_MAIN, k, kl, "overwritten", 11);
        kl = num_key(k, 1000 + i * 2);
        TU_RC_OK(ldb_del(w, LDB_MAIN, &(ldb_val){kl, k}));
        put_num(w, LDB_MAIN, i * 2 + 1);
    }
    tu_put_bytes(w, LDB_MAIN, "big", 3, big, 200000);
    ldb_dbi c;
    TU_RC_OK(ldb_dbi_open(w, "c", LDB_CREATE, &c));
    tu_put_str(w, c, "in", "c");
    TU_RC_OK(ldb_dbi_drop(w, a, 0));
    TU_RC_OK(ldb_dbi_drop(w, b, 1));
    ck_assert_uint_eq(tu_tree_stat(w, a).entries, 0);
    ldb_txn_abort(w);

    ldb_stat after = tu_env_stat(env);
    ck_assert_uint_eq(after.last_txn_id, before.last_txn_id);
    ck_assert_uint_eq(after.commits, before.commits);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    expect_num_scan(r, LDB_MAIN, 0, 4000, 2);
    tu_expect_absent(r, LDB_MAIN, "big");
    ldb_dbi x;
    TU_RC_IS(ldb_dbi_open(r, "c", 0, &x), LDB_NOTFOUND);
    TU_RC_OK(ldb_dbi_open(r, "b", 0, &x));
    expect_num_scan(r, x, 0, 50, 1);
    expect_num_scan(r, a, 0, 100, 1);
    ldb_txn_abort(r);
    tu_check_env(env);

    /* Then a committed change lands on the untouched state. */
    w = tu_begin(env, 0);
    put_num(w, LDB_MAIN, 1);
    TU_RC_OK(ldb_txn_commit(w));
    r = tu_begin(env, LDB_TXN_RDONLY);
    expect_num(r, LDB_MAIN, 1);
    expect_num(r, LDB_MAIN, 0);
    expect_num(r, LDB_MAIN, 1000);
    ck_assert_uint_eq(tu_tree_stat(r, LDB_MAIN).entries, 2001);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(big);
    free(path);
}
END_TEST

START_TEST(test_own_writes)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "a", "1");
    TU_RC_OK(ldb_txn_commit(w));

    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "b", "2");
    tu_expect_str(w, LDB_MAIN, "b", "2");
    tu_put_str(w, LDB_MAIN, "a", "one");
    tu_expect_str(w, LDB_MAIN, "a", "one");
    ldb_val ka = tu_str("a");
    TU_RC_OK(ldb_del(w, LDB_MAIN, &ka));
    tu_expect_absent(w, LDB_MAIN, "a");
    tu_put_str(w, LDB_MAIN, "a", "uno");
    expect_keys(w, LDB_MAIN, "a,b,");
    ck_assert_uint_eq(tu_tree_stat(w, LDB_MAIN).entries, 2);
    ldb_dbi t;
    TU_RC_OK(ldb_dbi_open(w, "t", LDB_CREATE, &t));
    tu_put_str(w, t, "x", "y");
    tu_expect_str(w, t, "x", "y");
    for (uint32_t i = 0; i < 5000; i++) /* enough to split and grow the tree */
        put_num(w, LDB_MAIN, i);
    for (uint32_t i = 0; i < 5000; i += 7)
        expect_num(w, LDB_MAIN, i);
    ck_assert_uint_eq(tu_tree_stat(w, LDB_MAIN).entries, 5002);

    /* The reader sees none of it. */
    tu_expect_str(r, LDB_MAIN, "a", "1");
    tu_expect_absent(r, LDB_MAIN, "b");
    tu_expect_absent(r, LDB_MAIN, "key-00000000");
    ldb_dbi y;
    TU_RC_IS(ldb_dbi_open(r, "t", 0, &y), LDB_NOTFOUND);
    TU_RC_OK(ldb_txn_commit(w));
    tu_expect_str(r, LDB_MAIN, "a", "1");
    tu_expect_absent(r, LDB_MAIN, "b");
    ck_assert_uint_eq(tu_tree_stat(r, LDB_MAIN).entries, 1);
    ldb_txn_abort(r);

    r = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(r, LDB_MAIN, "a", "uno");
    tu_expect_str(r, LDB_MAIN, "b", "2");
    tu_expect_str(r, t, "x", "y");
    ck_assert_uint_eq(tu_tree_stat(r, LDB_MAIN).entries, 5002);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(path);
}
END_TEST

/* ---- free page reuse --------------------------------------------------------- */

#define REUSE_B 300
#define REUSE_V 300

static void reuse_key(char *k, int batch, int i)
{
    sprintf(k, "r%06d-%04d", batch, i);
}

static void reuse_insert(ldb_env *env, int batch)
{
    uint8_t v[REUSE_V];
    char k[32];
    ldb_txn *w = tu_begin(env, 0);
    for (int i = 0; i < REUSE_B; i++) {
        reuse_key(k, batch, i);
        tu_fill_pattern(v, REUSE_V, (uint64_t)batch * REUSE_B + i);
        tu_put_bytes(w, LDB_MAIN, k, strlen(k), v, REUSE_V);
    }
    TU_RC_OK(ldb_txn_commit(w));
}

static void reuse_delete(ldb_env *env, int batch)
{
    char k[32];
    ldb_txn *w = tu_begin(env, 0);
    for (int i = 0; i < REUSE_B; i++) {
        reuse_key(k, batch, i);
        TU_RC_OK(ldb_del(w, LDB_MAIN, &(ldb_val){strlen(k), k}));
    }
    TU_RC_OK(ldb_txn_commit(w));
}

static void reuse_expect(ldb_txn *r, int batch)
{
    uint8_t v[REUSE_V];
    char k[32];
    for (int i = 0; i < REUSE_B; i++) {
        reuse_key(k, batch, i);
        tu_fill_pattern(v, REUSE_V, (uint64_t)batch * REUSE_B + i);
        tu_expect_bytes(r, LDB_MAIN, k, strlen(k), v, REUSE_V);
    }
}

START_TEST(test_free_page_reuse)
{
    char *path = tu_new_db_path();
    ldb_options o = {0};
    o.sync_mode = LDB_SYNC_OFF;
    o.wal_max_bytes = 1u << 20; /* if there is a log, checkpoint often */
    ldb_env *env = tu_open(path, &o);
    /* Each round inserts a batch (~25 leaf pages) and deletes the previous
     * one: without reuse the file would grow by ~200 KB a round. */
    const uint64_t slack = 2u << 20;
    uint64_t warm = 0, after_reader = 0;
    ldb_txn *reader = NULL;
    for (int round = 0; round < 300; round++) {
        reuse_insert(env, round);
        if (round > 0)
            reuse_delete(env, round - 1);
        if (round == 30)
            warm = tu_env_stat(env).file_size;
        if (round == 100) {
            TU_REQUIRE(tu_env_stat(env).file_size <= warm + slack,
                    "file grew from %llu to %llu bytes in 70 steady rounds",
                    (unsigned long long)warm, (unsigned long long)tu_env_stat(env).file_size);
            reader = tu_begin(env, LDB_TXN_RDONLY); /* holds its pages back */
        }
        if (round == 130) {
            /* The reader's snapshot survived 30 rounds of churn intact. */
            reuse_expect(reader, 100);
            ck_assert_uint_eq(tu_tree_stat(reader, LDB_MAIN).entries, REUSE_B);
            ldb_txn_abort(reader);
            reader = NULL;
        }
        if (round == 135)
            after_reader = tu_env_stat(env).file_size;
    }
    ldb_stat st = tu_env_stat(env);
    TU_REQUIRE(st.file_size <= after_reader + slack,
            "file grew from %llu to %llu bytes in 165 rounds after the reader ended",
            (unsigned long long)after_reader, (unsigned long long)st.file_size);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    reuse_expect(r, 299);
    ck_assert_uint_eq(tu_tree_stat(r, LDB_MAIN).entries, REUSE_B);
    ck_assert_uint_eq(scan_count(r, LDB_MAIN), REUSE_B);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(path);
}
END_TEST

/* ---- key shapes -------------------------------------------------------------- */

struct bkey {
    uint8_t *k;
    size_t kl;
};

static int bkey_cmp(const void *a, const void *b)
{
    const struct bkey *x = a, *y = b;
    return tu_key_cmp(x->k, x->kl, y->k, y->kl);
}

/* Insert keys (in the given order) with value = the key reversed, then check
 * a scan gives exactly the sorted keys, and every get and SEEK_EXACT works. */
static void check_key_set(ldb_env *env, struct bkey *keys, size_t n)
{
    uint8_t vb[1024];
    ldb_txn *w = tu_begin(env, 0);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < keys[i].kl; j++)
            vb[j] = keys[i].k[keys[i].kl - 1 - j];
        tu_put_bytes(w, LDB_MAIN, keys[i].k, keys[i].kl, vb, keys[i].kl);
    }
    TU_RC_OK(ldb_txn_commit(w));

    qsort(keys, n, sizeof *keys, bkey_cmp);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(r, LDB_MAIN, &cur));
    ldb_val k, v;
    for (size_t i = 0; i < n; i++) {
        TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT));
        TU_REQUIRE(k.size == keys[i].kl && memcmp(k.data, keys[i].k, k.size) == 0,
                "scan entry %zu: key of %zu bytes, want %zu bytes", i, k.size, keys[i].kl);
        for (size_t j = 0; j < keys[i].kl; j++)
            vb[j] = keys[i].k[keys[i].kl - 1 - j];
        TU_REQUIRE(v.size == keys[i].kl && memcmp(v.data, vb, v.size) == 0,
                "scan entry %zu: value differs", i);
    }
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_NEXT), LDB_NOTFOUND);
    for (size_t i = 0; i < n; i += (n > 5000 ? 7 : 1)) {
        k = tu_val(keys[i].k, keys[i].kl);
        TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_SEEK_EXACT));
        TU_REQUIRE(k.size == keys[i].kl && memcmp(k.data, keys[i].k, k.size) == 0,
                "SEEK_EXACT %zu landed elsewhere", i);
        for (size_t j = 0; j < keys[i].kl; j++)
            vb[j] = keys[i].k[keys[i].kl - 1 - j];
        tu_expect_bytes(r, LDB_MAIN, keys[i].k, keys[i].kl, vb, keys[i].kl);
    }
    ldb_cursor_close(cur);
    ck_assert_uint_eq(tu_tree_stat(r, LDB_MAIN).entries, n);
    ldb_txn_abort(r);
    tu_check_env(env);
}

START_TEST(test_shared_prefix_keys)
{
    enum { P = 400, NUM = 5000, VAR = 3000 };
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ck_assert_uint_ge(ldb_max_key_size(env), P + 10);
    size_t n = NUM + VAR + 3;
    struct bkey *keys = tu_xmalloc(n * sizeof *keys);
    size_t at = 0;
    char tail[16];
    for (int i = 0; i < NUM; i++) { /* prefix + 8 digits */
        uint8_t *k = tu_xmalloc(P + 8);
        memset(k, 'p', P);
        snprintf(tail, sizeof tail, "%08d", i * 13);
        memcpy(k + P, tail, 8);
        keys[at++] = (struct bkey){k, P + 8};
    }
    for (int i = 0; i < VAR; i++) { /* one byte of the prefix changed, anywhere */
        uint8_t *k = tu_xmalloc(P + 6);
        memset(k, 'p', P);
        k[(i * 37) % P] = (uint8_t)(i & 1 ? 'o' : 'q');
        snprintf(tail, sizeof tail, "%06d", i);
        memcpy(k + P, tail, 6);
        keys[at++] = (struct bkey){k, P + 6};
    }
    /* the bare prefix, and the prefix + a zero byte / + "0" */
    uint8_t *k0 = tu_xmalloc(P), *k1 = tu_xmalloc(P + 1), *k2 = tu_xmalloc(P + 1);
    memset(k0, 'p', P);
    memset(k1, 'p', P);
    memset(k2, 'p', P);
    k1[P] = 0;
    k2[P] = '0';
    keys[at++] = (struct bkey){k0, P};
    keys[at++] = (struct bkey){k1, P + 1};
    keys[at++] = (struct bkey){k2, P + 1};
    ck_assert_uint_eq(at, n);
    /* scatter the insertion order */
    uint32_t *order = tu_iota(n);
    tu_shuffle(order, n, 3);
    struct bkey *shuffled = tu_xmalloc(n * sizeof *keys);
    for (size_t i = 0; i < n; i++)
        shuffled[i] = keys[order[i]];
    check_key_set(env, shuffled, n);
    TU_RC_OK(ldb_close(env));
    for (size_t i = 0; i < n; i++)
        free(keys[i].k);
    free(shuffled);
    free(order);
    free(keys);
    free(path);
}
END_TEST

START_TEST(test_binary_keys)
{
    char *path = tu_new_db_path();
    ldb_options o = {0};
    o.sync_mode = LDB_SYNC_OFF;
    ldb_env *env = tu_open(path, &o);
    /* every 1-byte and 2-byte key, zero bytes included */
    size_t n = 256 + 65536;
    struct bkey *keys = tu_xmalloc(n * sizeof *keys);
    uint8_t *store = tu_xmalloc(256 + 2 * 65536);
    size_t at = 0;
    for (int a = 0; a < 256; a++) {
        store[a] = (uint8_t)a;
        keys[at++] = (struct bkey){store + a, 1};
    }
    for (int a = 0; a < 65536; a++) {
        uint8_t *p = store + 256 + 2 * a;
        p[0] = (uint8_t)(a >> 8);
        p[1] = (uint8_t)a;
        keys[at++] = (struct bkey){p, 2};
    }
    uint32_t *order = tu_iota(n);
    tu_shuffle(order, n, 17);
    struct bkey *shuffled = tu_xmalloc(n * sizeof *keys);
    for (size_t i = 0; i < n; i++)
        shuffled[i] = keys[order[i]];
    check_key_set(env, shuffled, n);

    /* SEEK among them: {5, 255, 0} lies between {5, 255} and {6}. */
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(r, LDB_MAIN, &cur));
    ldb_val k = {3, "\x05\xff\x00"}, v;
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_SEEK));
    TU_REQUIRE(k.size == 1 && ((const uint8_t *)k.data)[0] == 6, "SEEK 05 ff 00");
    k = (ldb_val){2, "\x00\x00"};
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_SEEK));
    TU_REQUIRE(k.size == 2 && memcmp(k.data, "\x00\x00", 2) == 0, "SEEK 00 00");
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_PREV));
    TU_REQUIRE(k.size == 1 && ((const uint8_t *)k.data)[0] == 0, "before 00 00 comes 00");
    k = (ldb_val){3, "\xff\xff\x00"};
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_SEEK), LDB_NOTFOUND);
    ldb_cursor_close(cur);
    ldb_txn_abort(r);
    TU_RC_OK(ldb_close(env));
    free(shuffled);
    free(order);
    free(store);
    free(keys);
    free(path);
}
END_TEST

START_TEST(test_prefix_keys)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    /* in the order memcmp-then-length sorts them */
    static const struct {
        const char *k;
        size_t n;
    } sorted[] = {
        {"\0", 1},  {"\0\0", 2}, {"\x01", 1}, {"a", 1},    {"a\0", 2},     {"a\0\0", 3},
        {"a\x01", 2}, {"ab", 2}, {"ab\0", 3}, {"abc", 3},  {"b", 1},       {"\xff", 1},
        {"\xff\xff", 2},
    };
    const size_t n = sizeof sorted / sizeof sorted[0];
    ldb_txn *w = tu_begin(env, 0);
    for (size_t i = n; i-- > 0;) {
        char v[8];
        snprintf(v, sizeof v, "%zu", i);
        tu_put_bytes(w, LDB_MAIN, sorted[i].k, sorted[i].n, v, strlen(v));
    }
    TU_RC_OK(ldb_txn_commit(w));

    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(r, LDB_MAIN, &cur));
    ldb_val k, v;
    for (size_t i = 0; i < n; i++) {
        TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT));
        TU_REQUIRE(k.size == sorted[i].n && memcmp(k.data, sorted[i].k, k.size) == 0,
                "entry %zu out of order", i);
        char want[8];
        snprintf(want, sizeof want, "%zu", i);
        TU_REQUIRE(v.size == strlen(want) && memcmp(v.data, want, v.size) == 0,
                "entry %zu: wrong value", i);
    }
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_NEXT), LDB_NOTFOUND);
    for (size_t i = n; i-- > 0;) {
        TU_RC_OK(ldb_cursor_get(cur, &k, &v, i == n - 1 ? LDB_LAST : LDB_PREV));
        TU_REQUIRE(k.size == sorted[i].n && memcmp(k.data, sorted[i].k, k.size) == 0,
                "backward entry %zu out of order", i);
    }
    /* "a" < "a\0" < "ab": SEEK lands on the next one up */
    k = (ldb_val){2, "a\0"};
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_SEEK));
    TU_REQUIRE(k.size == 2 && memcmp(k.data, "a\0", 2) == 0, "SEEK a\\0");
    k = (ldb_val){4, "a\0\0\0"};
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_SEEK));
    TU_REQUIRE(k.size == 2 && memcmp(k.data, "a\x01", 2) == 0, "SEEK a\\0\\0\\0");
    k = (ldb_val){3, "a\x01\0"};
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_SEEK));
    TU_REQUIRE(k.size == 2 && memcmp(k.data, "ab", 2) == 0, "SEEK a\\x01\\0");
    k = (ldb_val){3, "ab\x01"};
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_SEEK));
    TU_REQUIRE(k.size == 3 && memcmp(k.data, "abc", 3) == 0, "SEEK ab\\x01");
    k = (ldb_val){2, "a\x02"};
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_SEEK_EXACT), LDB_NOTFOUND);
    ldb_cursor_close(cur);
    tu_expect_absent_bytes(r, LDB_MAIN, "a\0\0\0", 4);
    tu_expect_absent_bytes(r, LDB_MAIN, "\0\0\0", 3);
    ldb_txn_abort(r);

    w = tu_begin(env, 0);
    TU_RC_OK(ldb_del(w, LDB_MAIN, &(ldb_val){2, "a\0"}));
    TU_RC_OK(ldb_txn_commit(w));
    r = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_bytes(r, LDB_MAIN, "a", 1, "3", 1);
    tu_expect_absent_bytes(r, LDB_MAIN, "a\0", 2);
    tu_expect_bytes(r, LDB_MAIN, "a\0\0", 3, "5", 1);
    ck_assert_uint_eq(tu_tree_stat(r, LDB_MAIN).entries, n - 1);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(path);
}
END_TEST

static Suite *btree_suite(void)
{
    Suite *s = suite_create("btree");
    TCase *tc = tcase_create("many-keys");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_insert_many, 0, 3);
    tcase_add_test(tc, test_delete_all_random);
    suite_add_tcase(s, tc);

    tc = tcase_create("values");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_overwrite_sizes);
    tcase_add_loop_test(tc, test_large_values, 0,
                        (int)(sizeof value_page_sizes / sizeof value_page_sizes[0]));
    tcase_add_loop_test(tc, test_run_exact_pages, 0,
                        (int)(sizeof value_page_sizes / sizeof value_page_sizes[0]));
    tcase_add_test(tc, test_mixed_value_sizes);
    suite_add_tcase(s, tc);

    tc = tcase_create("append");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_append_bulk_load);
    suite_add_tcase(s, tc);

    tc = tcase_create("trees");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_named_trees);
    tcase_add_test(tc, test_handles_across_txns);
    tcase_add_test(tc, test_abort_no_trace);
    tcase_add_test(tc, test_own_writes);
    suite_add_tcase(s, tc);

    tc = tcase_create("space");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_free_page_reuse);
    suite_add_tcase(s, tc);

    tc = tcase_create("keys");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_shared_prefix_keys);
    tcase_add_test(tc, test_binary_keys);
    tcase_add_test(tc, test_prefix_keys);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {btree_suite()};
    return tu_run_suites(suites, 1);
}
