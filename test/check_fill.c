/* SPDX-License-Identifier: MIT */
/*
 * check_fill: how full random inserts leave the leaves (issue 10). Before a
 * full leaf splits, an adjacent sibling under the same parent with room
 * takes a share of its entries (btree.c, share_leaf), so a random load
 * leaves the leaves fuller than the 50/50 split's ~69%.
 *
 *  - Random inserts reach an average leaf fill no 50/50 split reaches, and
 *    every key reads back, in order both ways.
 *  - A share into the right sibling and one into the left, each forced by
 *    a fixed key order over entries of known size: no leaf is added.
 *  - A new separator that does not fit the parent: the leaf splits, as a
 *    fixed key order with long keys forces.
 *  - Overflow runs, compressed and plain values mixed, with deletes.
 *
 * The share counters are test hooks (btree.h). Every test ends with
 * ldb_check.
 */
#include "testutil.h"

#include "btree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PSIZE 4096u
#define USABLE (PSIZE - 32u)            /* a leaf's bytes past its header */
#define ENTRY_OVERHEAD (8u + 8u)        /* slot and leaf node header */

static uint64_t shares(int right)
{
    return __atomic_load_n(&ldb__btree_shares[right], __ATOMIC_RELAXED);
}

static uint64_t refused(void)
{
    return __atomic_load_n(&ldb__btree_share_refused, __ATOMIC_RELAXED);
}

/* Every entry of the tree, forward then backward: strictly ordered and as
 * many as want; each value checked by check(key, value) if given. */
static void scan_both_ways(ldb_txn *txn, ldb_dbi dbi, uint64_t want,
                           void (*check)(const ldb_val *k, const ldb_val *v))
{
    for (int dir = 0; dir < 2; dir++) {
        ldb_cursor *cur;
        TU_RC_OK(ldb_cursor_open(txn, dbi, &cur));
        ldb_val k, v;
        uint8_t prev[1024];
        size_t plen = 0;
        uint64_t n = 0;
        int rc;
        while ((rc = ldb_cursor_get(cur, &k, &v, dir ? LDB_PREV : LDB_NEXT)) == 0) {
            if (n > 0) {
                int c = tu_key_cmp(prev, plen, k.data, k.size);
                TU_REQUIRE(dir ? c > 0 : c < 0, "scan %s: entry %llu out of order",
                           dir ? "backward" : "forward", (unsigned long long)n);
            }
            TU_REQUIRE(k.size <= sizeof prev, "key of %zu bytes", k.size);
            memcpy(prev, k.data, k.size);
            plen = k.size;
            if (check)
                check(&k, &v);
            n++;
        }
        TU_RC_IS(rc, LDB_NOTFOUND);
        TU_REQUIRE(n == want, "scan %s: %llu entries, want %llu", dir ? "backward" : "forward",
                   (unsigned long long)n, (unsigned long long)want);
        ldb_cursor_close(cur);
    }
}

/* A fresh database of PSIZE pages, without syncs, values stored with codec. */
static ldb_env *fresh_open(char **path, int codec)
{
    *path = tu_new_db_path();
    ldb_options o = {0};
    o.sync_mode = LDB_SYNC_OFF;
    o.page_size = PSIZE;
    o.compression = codec;
    return tu_open(*path, &o);
}

/* Puts the keys "<prefix><order[j] as %08u>" in txns of per_txn puts, each
 * value made by make_val(buf, i), which returns its length. */
static void put_in_order(ldb_env *env, const char *prefix, const uint32_t *order, uint32_t n,
                         uint32_t per_txn, size_t (*make_val)(uint8_t *buf, uint32_t i))
{
    char k[32];
    static uint8_t v[8192];
    for (uint32_t j = 0; j < n;) {
        ldb_txn *w = tu_begin(env, 0);
        for (uint32_t end = j + per_txn; j < end && j < n; j++) {
            int klen = snprintf(k, sizeof k, "%s%08u", prefix, order[j]);
            tu_put_bytes(w, LDB_MAIN, k, (size_t)klen, v, make_val(v, order[j]));
        }
        TU_RC_OK(ldb_txn_commit(w));
    }
}

/* ---- random inserts: the average leaf fill ------------------------------------ */

#define FILL_N 30000u
#define FILL_KEY 12u
#define FILL_VAL 100u

static size_t fill_val(uint8_t *v, uint32_t i)
{
    tu_fill_pattern(v, FILL_VAL, i);
    return FILL_VAL;
}

static void fill_check(const ldb_val *k, const ldb_val *v)
{
    unsigned i;
    uint8_t want[FILL_VAL];
    TU_REQUIRE(k->size == FILL_KEY && sscanf((const char *)k->data, "key-%08u", &i) == 1,
               "odd key");
    fill_val(want, i);
    TU_REQUIRE(v->size == FILL_VAL && memcmp(v->data, want, FILL_VAL) == 0, "value of %u", i);
}

START_TEST(test_random_fill)
{
    char *path;
    ldb_env *env = fresh_open(&path, LDB_COMPRESS_NONE);
    uint32_t *order = tu_iota(FILL_N);
    tu_shuffle(order, FILL_N, 7);
    uint64_t left0 = shares(0), right0 = shares(1);
    put_in_order(env, "key-", order, FILL_N, 1000, fill_val); /* 1,000 per txn, as the benchmarks */
    char k[FILL_KEY + 1];
    uint8_t v[FILL_VAL];
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_tree_stat st = tu_tree_stat(r, LDB_MAIN);
    ck_assert_uint_eq(st.entries, FILL_N);
    /* Bytes the entries take (slot, node header, key, value) over the
     * leaves' room: a 50/50 split leaves ~0.69 (ln 2), measured 0.70 on
     * this load; sharing with siblings ~0.80. */
    double fill = (double)FILL_N * (ENTRY_OVERHEAD + FILL_KEY + FILL_VAL) /
                  ((double)st.leaf_pages * USABLE);
    TU_REQUIRE(fill > 0.75, "average leaf fill %.3f (%llu leaves), want > 0.75", fill,
               (unsigned long long)st.leaf_pages);
    TU_REQUIRE(shares(0) > left0 && shares(1) > right0, "shares: %llu left, %llu right",
               (unsigned long long)(shares(0) - left0),
               (unsigned long long)(shares(1) - right0));
    scan_both_ways(r, LDB_MAIN, FILL_N, fill_check);
    for (uint32_t i = 0; i < FILL_N; i += 7) {
        snprintf(k, sizeof k, "key-%08u", i);
        fill_val(v, i);
        tu_expect_bytes(r, LDB_MAIN, k, FILL_KEY, v, FILL_VAL);
    }
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(order);
    free(path);
}
END_TEST

/* ---- a share forced each way -------------------------------------------------- */

/* Keys "k0000010" and values that make every entry exactly 1,000 bytes: a
 * leaf holds four, a fifth does not fit. */
#define BIG_KEY 8u
#define BIG_VAL (1000u - ENTRY_OVERHEAD - BIG_KEY)

static void big_put(ldb_txn *w, unsigned i)
{
    char k[BIG_KEY + 1];
    uint8_t v[BIG_VAL];
    snprintf(k, sizeof k, "k%07u", i);
    tu_fill_pattern(v, BIG_VAL, i);
    tu_put_bytes(w, LDB_MAIN, k, BIG_KEY, v, BIG_VAL);
}

static void big_del(ldb_txn *w, unsigned i)
{
    char k[BIG_KEY + 1];
    snprintf(k, sizeof k, "k%07u", i);
    ldb_val kv = tu_val(k, BIG_KEY);
    TU_RC_OK(ldb_del(w, LDB_MAIN, &kv));
}

static void big_check(const ldb_val *k, const ldb_val *v)
{
    unsigned i;
    uint8_t want[BIG_VAL];
    TU_REQUIRE(k->size == BIG_KEY && sscanf((const char *)k->data, "k%07u", &i) == 1, "odd key");
    tu_fill_pattern(want, BIG_VAL, i);
    TU_REQUIRE(v->size == BIG_VAL && memcmp(v->data, want, BIG_VAL) == 0, "value of %u", i);
}

/* Ascending puts keep each left page full: 10..40 fill a leaf, 50 starts
 * the next. Then 15 goes into the full first leaf, whose only sibling, the
 * right one, has room for two more: it takes a share, no leaf is added. */
START_TEST(test_share_right)
{
    char *path;
    ldb_env *env = fresh_open(&path, LDB_COMPRESS_NONE);
    ldb_txn *w = tu_begin(env, 0);
    for (unsigned i = 10; i <= 60; i += 10)
        big_put(w, i);
    ldb_tree_stat before = tu_tree_stat(w, LDB_MAIN);
    ck_assert_uint_eq(before.leaf_pages, 2);
    uint64_t left0 = shares(0), right0 = shares(1);
    big_put(w, 15);
    ldb_tree_stat after = tu_tree_stat(w, LDB_MAIN);
    ck_assert_uint_eq(after.leaf_pages, 2);
    ck_assert_uint_eq(shares(1) - right0, 1);
    ck_assert_uint_eq(shares(0) - left0, 0);
    scan_both_ways(w, LDB_MAIN, 7, big_check);
    TU_RC_OK(ldb_txn_commit(w));
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    scan_both_ways(r, LDB_MAIN, 7, big_check);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(path);
}
END_TEST

/* Leaves [10 20] (30 and 40 deleted), [50 60 70 80] full, [90 100 110]: 55
 * goes into the full middle leaf; its left sibling has more room than its
 * right one and takes the share. In a txn of its own, so the left sibling
 * is copied from the file by the share. */
START_TEST(test_share_left)
{
    char *path;
    ldb_env *env = fresh_open(&path, LDB_COMPRESS_NONE);
    ldb_txn *w = tu_begin(env, 0);
    for (unsigned i = 10; i <= 110; i += 10)
        big_put(w, i);
    big_del(w, 30);
    big_del(w, 40);
    ck_assert_uint_eq(tu_tree_stat(w, LDB_MAIN).leaf_pages, 3);
    TU_RC_OK(ldb_txn_commit(w));
    uint64_t left0 = shares(0), right0 = shares(1);
    w = tu_begin(env, 0);
    big_put(w, 55);
    ck_assert_uint_eq(tu_tree_stat(w, LDB_MAIN).leaf_pages, 3);
    ck_assert_uint_eq(shares(0) - left0, 1);
    ck_assert_uint_eq(shares(1) - right0, 0);
    TU_RC_OK(ldb_txn_commit(w));
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    scan_both_ways(r, LDB_MAIN, 10, big_check);
    ldb_txn_abort(r);
    tu_check_env(env);
    /* And after a reopen, from the file. */
    TU_RC_OK(ldb_close(env));
    env = tu_open(path, NULL);
    r = tu_begin(env, LDB_TXN_RDONLY);
    scan_both_ways(r, LDB_MAIN, 10, big_check);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(path);
}
END_TEST

/* ---- a separator that does not fit the parent ---------------------------------- */

/* Keys of 901 bytes: a group letter, 897 'x' and three digits; values make
 * each entry 1,000 bytes (four to a leaf). Two keys of one group differ
 * only in their digits: the separator between them is ~900 bytes; between
 * groups, one byte. */
#define LONG_KEY 901u
#define LONG_VAL (1000u - ENTRY_OVERHEAD - LONG_KEY)

static void long_key(char *buf, char group, unsigned n)
{
    char digits[8];
    buf[0] = group;
    memset(buf + 1, 'x', LONG_KEY - 4);
    snprintf(digits, sizeof digits, "%03u", n);
    memcpy(buf + LONG_KEY - 3, digits, 3);
}

static void long_put(ldb_txn *w, char group, unsigned n)
{
    char k[LONG_KEY];
    uint8_t v[LONG_VAL];
    long_key(k, group, n);
    tu_fill_pattern(v, LONG_VAL, (uint64_t)group << 16 | n);
    tu_put_bytes(w, LDB_MAIN, k, LONG_KEY, v, LONG_VAL);
}

static void long_expect(ldb_txn *r, char group, unsigned n)
{
    char k[LONG_KEY];
    uint8_t v[LONG_VAL];
    long_key(k, group, n);
    tu_fill_pattern(v, LONG_VAL, (uint64_t)group << 16 | n);
    tu_expect_bytes(r, LDB_MAIN, k, LONG_KEY, v, LONG_VAL);
}

/* Ascending puts of e000..e190 and f000 leave six leaves: four full of
 * e-keys, [e160 e170 e180 e190] full, [f000]; the root holds four long
 * separators and a one-byte one ("f"), 355 bytes free. e175 goes into the
 * full fifth leaf; its right sibling has room, but the even share puts the
 * boundary between e175 and e180, whose ~900-byte separator does not fit
 * the root in place of "f": the leaf splits (and the root with it). */
START_TEST(test_separator_refused)
{
    char *path;
    ldb_env *env = fresh_open(&path, LDB_COMPRESS_NONE);
    ldb_txn *w = tu_begin(env, 0);
    for (unsigned n = 0; n < 200; n += 10)
        long_put(w, 'e', n);
    long_put(w, 'f', 0);
    ldb_tree_stat before = tu_tree_stat(w, LDB_MAIN);
    ck_assert_uint_eq(before.leaf_pages, 6);
    ck_assert_uint_eq(before.depth, 2);
    uint64_t refused0 = refused(), shares0 = shares(0) + shares(1);
    long_put(w, 'e', 175);
    ldb_tree_stat after = tu_tree_stat(w, LDB_MAIN);
    ck_assert_uint_eq(refused() - refused0, 1);
    ck_assert_uint_eq(shares(0) + shares(1) - shares0, 0);
    ck_assert_uint_eq(after.leaf_pages, 7);
    ck_assert_uint_eq(after.depth, 3);
    TU_RC_OK(ldb_txn_commit(w));
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    scan_both_ways(r, LDB_MAIN, 22, NULL);
    for (unsigned n = 0; n < 200; n += 10)
        long_expect(r, 'e', n);
    long_expect(r, 'e', 175);
    long_expect(r, 'f', 0);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(path);
}
END_TEST

/* ---- overflow runs and compressed values mixed in ------------------------------ */

#define MIX_N 6000u

/* Value i: its length and bytes. Every 13th is past a leaf's inline limit
 * (an overflow run), every 3rd is text that zstd shrinks, the rest are
 * pattern bytes it does not. */
static size_t mix_val(uint8_t *buf, uint32_t i)
{
    size_t len = i % 13 == 0 ? 2500 + i % 3000 : 40 + (i * 37u) % 600;
    if (i % 3 == 0) {
        static const char words[] = "GET /index.html 200 user=alice agent=curl ";
        for (size_t j = 0; j < len; j++)
            buf[j] = (uint8_t)words[(j + i) % (sizeof words - 1)];
    } else {
        tu_fill_pattern(buf, len, i);
    }
    return len;
}

static void mix_check(const ldb_val *k, const ldb_val *v)
{
    unsigned i;
    static uint8_t want[8192];
    TU_REQUIRE(sscanf((const char *)k->data, "mix-%08u", &i) == 1, "odd key");
    size_t len = mix_val(want, i);
    TU_REQUIRE(v->size == len && memcmp(v->data, want, len) == 0, "value of %u", i);
}

START_TEST(test_mixed_values)
{
    char *path;
    ldb_env *env = fresh_open(&path, LDB_COMPRESS_ZSTD);
    uint32_t *order = tu_iota(MIX_N);
    tu_shuffle(order, MIX_N, 5);
    uint64_t left0 = shares(0), right0 = shares(1);
    put_in_order(env, "mix-", order, MIX_N, 500, mix_val);
    char k[16];
    static uint8_t v[8192];
    TU_REQUIRE(shares(0) > left0 && shares(1) > right0, "shares: %llu left, %llu right",
               (unsigned long long)(shares(0) - left0),
               (unsigned long long)(shares(1) - right0));
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_tree_stat st = tu_tree_stat(r, LDB_MAIN);
    ck_assert_uint_gt(st.overflow_pages, 0);
    ldb_compress_stat cs;
    TU_RC_OK(ldb_dbi_compress_stat(r, LDB_MAIN, &cs));
    ck_assert_uint_gt(cs.compressed, 0);
    ck_assert_uint_lt(cs.compressed, cs.values);
    scan_both_ways(r, LDB_MAIN, MIX_N, mix_check);
    ldb_txn_abort(r);
    tu_check_env(env);
    /* Delete every other key, put half of them back: shares and merges. */
    ldb_txn *w = tu_begin(env, 0);
    for (uint32_t i = 0; i < MIX_N; i += 2) {
        snprintf(k, sizeof k, "mix-%08u", i);
        ldb_val kv = tu_val(k, 12);
        TU_RC_OK(ldb_del(w, LDB_MAIN, &kv));
    }
    for (uint32_t i = 0; i < MIX_N; i += 4) {
        snprintf(k, sizeof k, "mix-%08u", i);
        tu_put_bytes(w, LDB_MAIN, k, 12, v, mix_val(v, i));
    }
    TU_RC_OK(ldb_txn_commit(w));
    r = tu_begin(env, LDB_TXN_RDONLY);
    scan_both_ways(r, LDB_MAIN, MIX_N / 2 + MIX_N / 4, mix_check);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(order);
    free(path);
}
END_TEST

static Suite *fill_suite(void)
{
    Suite *s = suite_create("fill");
    TCase *tc = tcase_create("share");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_random_fill);
    tcase_add_test(tc, test_share_right);
    tcase_add_test(tc, test_share_left);
    tcase_add_test(tc, test_separator_refused);
    tcase_add_test(tc, test_mixed_values);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {fill_suite()};
    return tu_run_suites(suites, 1);
}
