/* SPDX-License-Identifier: MIT */
/*
 * check_cursor: every cursor op (FIRST LAST NEXT PREV SEEK SEEK_EXACT
 * CURRENT) on an empty tree, a single key and 10k keys (short keys, and wide
 * keys that make a deep tree), moves past either end, SEEK between and past
 * keys, ldb_cursor_del while iterating, cursors in a write txn after puts
 * through ldb_put, cursors of a read txn while other txns commit, and
 * cursors whose txn was reset or ended.
 *
 * The entry set: index i in 0..N-1 has key "c%05u" of 2*i (odd numbers are
 * the gaps SEEK lands between), optionally padded to 400 bytes, and a value
 * of 1 + i % 60 pattern bytes. Only public names are used; every test that
 * writes ends with ldb_check.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define N 10000
#define WIDE_KEY 400

/* ---- helpers ----------------------------------------------------------------- */

static ldb_cursor *cursor(ldb_txn *txn, ldb_dbi dbi)
{
    ldb_cursor *cur = NULL;
    TU_RC_OK(ldb_cursor_open(txn, dbi, &cur));
    ck_assert_ptr_nonnull(cur);
    return cur;
}

/* Key of the number `num` (entries use even numbers). */
static size_t num_key(char *buf, uint32_t num, int wide)
{
    size_t n = (size_t)sprintf(buf, "c%05u", num);
    if (wide) {
        memset(buf + n, 'x', WIDE_KEY - n);
        n = WIDE_KEY;
    }
    buf[n] = '\0';
    return n;
}

static size_t entry_val(uint8_t *buf, uint32_t idx, uint32_t version)
{
    size_t n = 1 + (idx + version) % 60;
    tu_fill_pattern(buf, n, (uint64_t)idx * 131 + version);
    return n;
}

/* The cursor's result must be entry idx (at value version `version`). */
static void expect_entry(const ldb_val *k, const ldb_val *v, uint32_t idx, int wide,
                         uint32_t version, const char *where)
{
    char kb[WIDE_KEY + 1];
    uint8_t vb[64];
    size_t kl = num_key(kb, 2 * idx, wide), vl = entry_val(vb, idx, version);
    TU_REQUIRE(k->size == kl && memcmp(k->data, kb, kl) == 0,
            "%s: key '%.*s' (%zu bytes), want '%.6s' (entry %u)", where,
            (int)(k->size > 12 ? 12 : k->size), (const char *)k->data, k->size, kb, idx);
    TU_REQUIRE(v->size == vl && memcmp(v->data, vb, vl) == 0, "%s: value of entry %u differs",
            where, idx);
}

static void put_entry(ldb_txn *txn, ldb_dbi dbi, uint32_t idx, int wide, uint32_t version)
{
    char kb[WIDE_KEY + 1];
    uint8_t vb[64];
    ldb_val k = {num_key(kb, 2 * idx, wide), kb};
    ldb_val v = {entry_val(vb, idx, version), vb};
    int rc = ldb_put(txn, dbi, &k, &v, 0);
    TU_REQUIRE(rc == 0, "put entry %u: %s", idx, ldb_strerror(rc));
}

static void load_entries(ldb_env *env, ldb_dbi dbi, int wide, uint64_t seed)
{
    uint32_t *order = malloc(N * sizeof *order);
    ck_assert_ptr_nonnull(order);
    for (uint32_t i = 0; i < N; i++)
        order[i] = i;
    uint64_t s = seed;
    for (uint32_t i = N; i > 1; i--) {
        uint32_t j = (uint32_t)(tu_rand(&s) % i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    ldb_txn *w = tu_begin(env, 0);
    for (uint32_t i = 0; i < N; i++)
        put_entry(w, dbi, order[i], wide, 0);
    TU_RC_OK(ldb_txn_commit(w));
    free(order);
}

static void cur_seek(ldb_cursor *cur, const void *k, size_t kl, ldb_val *ok, ldb_val *ov,
                     ldb_cursor_op op, int want_rc)
{
    *ok = (ldb_val){kl, k};
    int rc = ldb_cursor_get(cur, ok, ov, op);
    TU_REQUIRE(rc == want_rc, "%s '%.*s': %d (%s), want %d",
            op == LDB_SEEK ? "SEEK" : "SEEK_EXACT", (int)(kl > 12 ? 12 : kl),
            (const char *)k, rc, ldb_strerror(rc), want_rc);
}

/* Every op on an empty tree gives LDB_NOTFOUND. */
static void expect_empty(ldb_txn *txn, ldb_dbi dbi)
{
    ldb_cursor *cur = cursor(txn, dbi);
    ldb_val k, v;
    static const ldb_cursor_op ops[] = {LDB_FIRST, LDB_LAST,    LDB_NEXT, LDB_PREV,
                                        LDB_CURRENT, LDB_FIRST, LDB_PREV, LDB_NEXT};
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_CURRENT), LDB_NOTFOUND);
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        int rc = ldb_cursor_get(cur, &k, &v, ops[i]);
        TU_REQUIRE(rc == LDB_NOTFOUND, "op %d on an empty tree: %d (%s)", (int)ops[i], rc,
                ldb_strerror(rc));
    }
    cur_seek(cur, "a", 1, &k, &v, LDB_SEEK, LDB_NOTFOUND);
    cur_seek(cur, "a", 1, &k, &v, LDB_SEEK_EXACT, LDB_NOTFOUND);
    cur_seek(cur, "\0", 1, &k, &v, LDB_SEEK, LDB_NOTFOUND);
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_CURRENT), LDB_NOTFOUND);
    ldb_cursor_close(cur);
}

/* ---- empty and single-key trees ---------------------------------------------- */

START_TEST(test_empty_tree)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    expect_empty(r, LDB_MAIN);
    ldb_txn_abort(r);

    ldb_txn *w = tu_begin(env, 0);
    expect_empty(w, LDB_MAIN);
    ldb_dbi t;
    TU_RC_OK(ldb_dbi_open(w, "empty", LDB_CREATE, &t));
    expect_empty(w, t);
    /* main stays empty though the catalog now holds names and another tree keys */
    ldb_dbi u;
    TU_RC_OK(ldb_dbi_open(w, "full", LDB_CREATE, &u));
    ldb_val k = tu_str("k"), v = tu_str("v");
    TU_RC_OK(ldb_put(w, u, &k, &v, 0));
    expect_empty(w, LDB_MAIN);
    expect_empty(w, t);
    TU_RC_OK(ldb_txn_commit(w));

    r = tu_begin(env, LDB_TXN_RDONLY);
    expect_empty(r, LDB_MAIN);
    expect_empty(r, t);
    ldb_txn_abort(r);

    /* emptied by deletes */
    w = tu_begin(env, 0);
    TU_RC_OK(ldb_del(w, u, &k));
    expect_empty(w, u);
    TU_RC_OK(ldb_txn_commit(w));
    r = tu_begin(env, LDB_TXN_RDONLY);
    expect_empty(r, u);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(path);
}
END_TEST

static void expect_m(const ldb_val *k, const ldb_val *v, const char *where)
{
    TU_REQUIRE(k->size == 1 && memcmp(k->data, "m", 1) == 0, "%s: key is not 'm'", where);
    TU_REQUIRE(v->size == 5 && memcmp(v->data, "value", 5) == 0, "%s: value differs", where);
}

START_TEST(test_one_key)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *w = tu_begin(env, 0);
    ldb_val mk = tu_str("m"), mv = tu_str("value");
    TU_RC_OK(ldb_put(w, LDB_MAIN, &mk, &mv, 0));
    TU_RC_OK(ldb_txn_commit(w));

    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_val k, v;
    ldb_cursor *cur = cursor(r, LDB_MAIN);
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_CURRENT), LDB_NOTFOUND); /* unpositioned */
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT)); /* fresh NEXT = FIRST */
    expect_m(&k, &v, "fresh NEXT");
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_NEXT), LDB_NOTFOUND);
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_CURRENT));
    expect_m(&k, &v, "CURRENT after NEXT past the end");
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_PREV), LDB_NOTFOUND);
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_CURRENT));
    expect_m(&k, &v, "CURRENT after PREV past the start");
    ldb_cursor_close(cur);

    cur = cursor(r, LDB_MAIN);
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_PREV)); /* fresh PREV = LAST */
    expect_m(&k, &v, "fresh PREV");
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_FIRST));
    expect_m(&k, &v, "FIRST");
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_LAST));
    expect_m(&k, &v, "LAST");
    cur_seek(cur, "a", 1, &k, &v, LDB_SEEK, 0);
    expect_m(&k, &v, "SEEK a");
    cur_seek(cur, "m", 1, &k, &v, LDB_SEEK, 0);
    expect_m(&k, &v, "SEEK m");
    cur_seek(cur, "l\xff\xff", 3, &k, &v, LDB_SEEK, 0);
    expect_m(&k, &v, "SEEK l ff ff");
    cur_seek(cur, "m\0", 2, &k, &v, LDB_SEEK, LDB_NOTFOUND);
    cur_seek(cur, "n", 1, &k, &v, LDB_SEEK, LDB_NOTFOUND);
    cur_seek(cur, "m", 1, &k, &v, LDB_SEEK_EXACT, 0);
    expect_m(&k, &v, "SEEK_EXACT m");
    cur_seek(cur, "l", 1, &k, &v, LDB_SEEK_EXACT, LDB_NOTFOUND);
    cur_seek(cur, "mm", 2, &k, &v, LDB_SEEK_EXACT, LDB_NOTFOUND);
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_LAST));
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_NEXT), LDB_NOTFOUND);
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_PREV), LDB_NOTFOUND);
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_CURRENT));
    expect_m(&k, &v, "CURRENT at the only key");
    ldb_cursor_close(cur);
    ldb_txn_abort(r);
    TU_RC_OK(ldb_close(env));
    free(path);
}
END_TEST

/* ---- 10k keys: scans, ends, seeks -------------------------------------------- */

static ldb_env *open_loaded(char **path, int wide)
{
    *path = tu_new_db_path();
    ldb_options o = {0};
    o.sync_mode = LDB_SYNC_OFF;
    ldb_env *env = tu_open(*path, &o);
    load_entries(env, LDB_MAIN, wide, 1234 + (uint64_t)wide);
    return env;
}

static void scan_forward(ldb_txn *txn, ldb_dbi dbi, int wide, ldb_cursor_op first)
{
    ldb_cursor *cur = cursor(txn, dbi);
    ldb_val k, v;
    for (uint32_t i = 0; i < N; i++) {
        int rc = ldb_cursor_get(cur, &k, &v, i == 0 ? first : LDB_NEXT);
        TU_REQUIRE(rc == 0, "forward scan at %u: %s", i, ldb_strerror(rc));
        expect_entry(&k, &v, i, wide, 0, "forward scan");
    }
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_NEXT), LDB_NOTFOUND);
    ldb_cursor_close(cur);
}

static void scan_backward(ldb_txn *txn, ldb_dbi dbi, int wide, ldb_cursor_op first)
{
    ldb_cursor *cur = cursor(txn, dbi);
    ldb_val k, v;
    for (uint32_t i = N; i-- > 0;) {
        int rc = ldb_cursor_get(cur, &k, &v, i == N - 1 ? first : LDB_PREV);
        TU_REQUIRE(rc == 0, "backward scan at %u: %s", i, ldb_strerror(rc));
        expect_entry(&k, &v, i, wide, 0, "backward scan");
    }
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_PREV), LDB_NOTFOUND);
    ldb_cursor_close(cur);
}

START_TEST(test_full_scans)
{
    int wide = _i;
    char *path;
    ldb_env *env = open_loaded(&path, wide);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_tree_stat ts = tu_tree_stat(r, LDB_MAIN);
    ck_assert_uint_eq(ts.entries, N);
    if (wide)
        TU_REQUIRE(ts.depth >= 3, "wide keys: depth %u", ts.depth);
    scan_forward(r, LDB_MAIN, wide, LDB_FIRST);
    scan_forward(r, LDB_MAIN, wide, LDB_NEXT); /* fresh cursor */
    scan_backward(r, LDB_MAIN, wide, LDB_LAST);
    scan_backward(r, LDB_MAIN, wide, LDB_PREV); /* fresh cursor */

    /* Zig-zag: NEXT, NEXT, PREV walks across every page boundary both ways. */
    ldb_cursor *cur = cursor(r, LDB_MAIN);
    ldb_val k, v;
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_FIRST));
    for (uint32_t i = 0; i + 2 < N; i++) {
        TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT));
        TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT));
        expect_entry(&k, &v, i + 2, wide, 0, "zig-zag NEXT");
        TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_PREV));
        expect_entry(&k, &v, i + 1, wide, 0, "zig-zag PREV");
        TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_CURRENT));
        expect_entry(&k, &v, i + 1, wide, 0, "zig-zag CURRENT");
    }
    ldb_cursor_close(cur);
    ldb_txn_abort(r);

    /* The same in a write txn, and after a reopen. */
    ldb_txn *w = tu_begin(env, 0);
    scan_forward(w, LDB_MAIN, wide, LDB_FIRST);
    scan_backward(w, LDB_MAIN, wide, LDB_LAST);
    ldb_txn_abort(w);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    env = tu_open(path, NULL);
    r = tu_begin(env, LDB_TXN_RDONLY);
    scan_forward(r, LDB_MAIN, wide, LDB_NEXT);
    scan_backward(r, LDB_MAIN, wide, LDB_PREV);
    ldb_txn_abort(r);
    TU_RC_OK(ldb_close(env));
    free(path);
}
END_TEST

START_TEST(test_past_the_ends)
{
    char *path;
    ldb_env *env = open_loaded(&path, 0);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_cursor *cur = cursor(r, LDB_MAIN);
    ldb_val k, v;

    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_LAST));
    expect_entry(&k, &v, N - 1, 0, 0, "LAST");
    for (int i = 0; i < 3; i++)
        TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_NEXT), LDB_NOTFOUND);
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_CURRENT)); /* stays on the last entry */
    expect_entry(&k, &v, N - 1, 0, 0, "CURRENT after NEXT past the end");
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_PREV));
    expect_entry(&k, &v, N - 2, 0, 0, "PREV after NEXT past the end");
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT));
    expect_entry(&k, &v, N - 1, 0, 0, "NEXT back to the last");

    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_FIRST));
    expect_entry(&k, &v, 0, 0, 0, "FIRST");
    for (int i = 0; i < 3; i++)
        TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_PREV), LDB_NOTFOUND);
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_CURRENT));
    expect_entry(&k, &v, 0, 0, 0, "CURRENT after PREV past the start");
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT));
    expect_entry(&k, &v, 1, 0, 0, "NEXT after PREV past the start");

    /* A full NEXT scan ends on the last entry, and PREV walks back from it. */
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_FIRST));
    uint32_t n = 1;
    int rc;
    while ((rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) == 0)
        n++;
    TU_RC_IS(rc, LDB_NOTFOUND);
    ck_assert_uint_eq(n, N);
    for (uint32_t i = N - 1; i-- > 0;) {
        TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_PREV));
        expect_entry(&k, &v, i, 0, 0, "PREV after a full scan");
    }
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_PREV), LDB_NOTFOUND);
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_CURRENT));
    expect_entry(&k, &v, 0, 0, 0, "CURRENT after a full backward walk");
    ldb_cursor_close(cur);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(path);
}
END_TEST

START_TEST(test_seek)
{
    int wide = _i;
    char *path;
    ldb_env *env = open_loaded(&path, wide);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_cursor *cur = cursor(r, LDB_MAIN);
    ldb_val k, v;
    char kb[WIDE_KEY + 1];
    uint64_t rng = 77;
    for (int probe = 0; probe < 3000; probe++) {
        uint32_t num = (uint32_t)(tu_rand(&rng) % (2 * N + 2)); /* a few past the last */
        size_t kl = num_key(kb, num, wide);
        uint32_t want = (num + 1) / 2; /* first entry index with 2*idx >= num */
        if (want >= N) {
            cur_seek(cur, kb, kl, &k, &v, LDB_SEEK, LDB_NOTFOUND);
            cur_seek(cur, kb, kl, &k, &v, LDB_SEEK_EXACT, LDB_NOTFOUND);
            continue;
        }
        cur_seek(cur, kb, kl, &k, &v, LDB_SEEK, 0);
        expect_entry(&k, &v, want, wide, 0, "SEEK");
        if (want + 1 < N) {
            TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT));
            expect_entry(&k, &v, want + 1, wide, 0, "NEXT after SEEK");
            TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_PREV));
            expect_entry(&k, &v, want, wide, 0, "PREV after SEEK, NEXT");
        }
        if (want > 0) {
            TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_PREV));
            expect_entry(&k, &v, want - 1, wide, 0, "PREV after SEEK");
        } else {
            TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_PREV), LDB_NOTFOUND);
        }
        if (num % 2 == 0) {
            cur_seek(cur, kb, kl, &k, &v, LDB_SEEK_EXACT, 0);
            expect_entry(&k, &v, want, wide, 0, "SEEK_EXACT");
            TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_CURRENT));
            expect_entry(&k, &v, want, wide, 0, "CURRENT after SEEK_EXACT");
        } else {
            cur_seek(cur, kb, kl, &k, &v, LDB_SEEK_EXACT, LDB_NOTFOUND);
        }
    }
    /* Keys around the set: prefixes, extensions, and outside its range. */
    cur_seek(cur, "c", 1, &k, &v, LDB_SEEK, 0);
    expect_entry(&k, &v, 0, wide, 0, "SEEK c");
    cur_seek(cur, "\0", 1, &k, &v, LDB_SEEK, 0);
    expect_entry(&k, &v, 0, wide, 0, "SEEK \\0");
    cur_seek(cur, "c0000", 5, &k, &v, LDB_SEEK, 0);
    expect_entry(&k, &v, 0, wide, 0, "SEEK c0000");
    cur_seek(cur, "c", 1, &k, &v, LDB_SEEK_EXACT, LDB_NOTFOUND);
    cur_seek(cur, "d", 1, &k, &v, LDB_SEEK, LDB_NOTFOUND);
    size_t kl = num_key(kb, 2 * 500, wide);
    kb[kl] = '\0';
    cur_seek(cur, kb, kl + 1, &k, &v, LDB_SEEK, 0); /* one byte longer: the next entry */
    expect_entry(&k, &v, 501, wide, 0, "SEEK key+\\0");
    cur_seek(cur, kb, kl - 1, &k, &v, LDB_SEEK, 0); /* one byte shorter: this one */
    expect_entry(&k, &v, 500, wide, 0, "SEEK key minus its last byte");
    kl = num_key(kb, 2 * (N - 1), wide);
    kb[kl] = '\0';
    cur_seek(cur, kb, kl + 1, &k, &v, LDB_SEEK, LDB_NOTFOUND);
    /* After SEEK past the last, a fresh positioning still works. */
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_LAST));
    expect_entry(&k, &v, N - 1, wide, 0, "LAST after a failed SEEK");
    ldb_cursor_close(cur);
    ldb_txn_abort(r);
    TU_RC_OK(ldb_close(env));
    free(path);
}
END_TEST

/* ---- ldb_cursor_del ----------------------------------------------------------- */

/* A forward scan must give exactly the entries with keep[i] set. */
static void expect_remaining(ldb_txn *txn, ldb_dbi dbi, const uint8_t *keep, int wide)
{
    ldb_cursor *cur = cursor(txn, dbi);
    ldb_val k, v;
    uint64_t n = 0;
    for (uint32_t i = 0; i < N; i++) {
        if (!keep[i])
            continue;
        int rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT);
        TU_REQUIRE(rc == 0, "remaining entry %u: %s", i, ldb_strerror(rc));
        expect_entry(&k, &v, i, wide, 0, "remaining entries");
        n++;
    }
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_NEXT), LDB_NOTFOUND);
    ldb_cursor_close(cur);
    ck_assert_uint_eq(tu_tree_stat(txn, dbi).entries, n);
    char kb[WIDE_KEY + 1];
    for (uint32_t i = 0; i < N; i += 13) {
        ldb_val key = {num_key(kb, 2 * i, wide), kb}, val;
        int rc = ldb_get(txn, dbi, &key, &val);
        TU_REQUIRE(rc == (keep[i] ? 0 : LDB_NOTFOUND), "get entry %u: %s", i, ldb_strerror(rc));
    }
}

START_TEST(test_del_every_other_forward)
{
    int wide = _i;
    char *path;
    ldb_env *env = open_loaded(&path, wide);
    uint8_t *keep = malloc(N);
    ck_assert_ptr_nonnull(keep);
    ldb_txn *w = tu_begin(env, 0);
    ldb_cursor *cur = cursor(w, LDB_MAIN);
    ldb_val k, v;
    int rc = ldb_cursor_get(cur, &k, &v, LDB_FIRST);
    uint32_t idx = 0;
    while (rc == 0) {
        TU_REQUIRE(idx < N, "more entries than loaded");
        expect_entry(&k, &v, idx, wide, 0, "NEXT after cursor_del");
        keep[idx] = idx % 2;
        if (idx % 2 == 0)
            TU_RC_OK(ldb_cursor_del(cur));
        rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT);
        idx++;
    }
    TU_RC_IS(rc, LDB_NOTFOUND);
    ck_assert_uint_eq(idx, N);
    ldb_cursor_close(cur);
    expect_remaining(w, LDB_MAIN, keep, wide);
    TU_RC_OK(ldb_txn_commit(w));

    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    expect_remaining(r, LDB_MAIN, keep, wide);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(keep);
    free(path);
}
END_TEST

START_TEST(test_del_every_other_backward)
{
    int wide = _i;
    char *path;
    ldb_env *env = open_loaded(&path, wide);
    uint8_t *keep = malloc(N);
    ck_assert_ptr_nonnull(keep);
    ldb_txn *w = tu_begin(env, 0);
    ldb_cursor *cur = cursor(w, LDB_MAIN);
    ldb_val k, v;
    int rc = ldb_cursor_get(cur, &k, &v, LDB_LAST);
    uint32_t idx = N;
    while (rc == 0) {
        TU_REQUIRE(idx > 0, "more entries than loaded");
        idx--;
        expect_entry(&k, &v, idx, wide, 0, "PREV after cursor_del");
        keep[idx] = (idx % 3) != 1;
        if (!keep[idx])
            TU_RC_OK(ldb_cursor_del(cur));
        rc = ldb_cursor_get(cur, &k, &v, LDB_PREV);
    }
    TU_RC_IS(rc, LDB_NOTFOUND);
    ck_assert_uint_eq(idx, 0);
    ldb_cursor_close(cur);
    expect_remaining(w, LDB_MAIN, keep, wide);
    TU_RC_OK(ldb_txn_commit(w));
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    expect_remaining(r, LDB_MAIN, keep, wide);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(keep);
    free(path);
}
END_TEST

START_TEST(test_del_details)
{
    char *path;
    ldb_env *env = open_loaded(&path, 0);
    uint8_t *keep = malloc(N);
    ck_assert_ptr_nonnull(keep);
    memset(keep, 1, N);
    ldb_txn *w = tu_begin(env, 0);
    ldb_cursor *cur = cursor(w, LDB_MAIN);
    ldb_val k, v;
    TU_RC_IS(ldb_cursor_del(cur), LDB_NOTFOUND); /* fresh: not on an entry */

    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_FIRST));
    TU_RC_OK(ldb_cursor_del(cur));
    keep[0] = 0;
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_CURRENT), LDB_NOTFOUND); /* its entry is gone */
    TU_RC_IS(ldb_cursor_del(cur), LDB_NOTFOUND);                      /* not twice */
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT));
    expect_entry(&k, &v, 1, 0, 0, "NEXT after del, CURRENT, del");

    /* In the middle: PREV after del gives the one before, then NEXT skips it. */
    char kb[16];
    size_t kl = num_key(kb, 2 * 500, 0);
    cur_seek(cur, kb, kl, &k, &v, LDB_SEEK_EXACT, 0);
    TU_RC_OK(ldb_cursor_del(cur));
    keep[500] = 0;
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_PREV));
    expect_entry(&k, &v, 499, 0, 0, "PREV after del");
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT));
    expect_entry(&k, &v, 501, 0, 0, "NEXT over the deleted entry");

    /* The last entry: PREV after deleting it gives the new last. */
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_LAST));
    TU_RC_OK(ldb_cursor_del(cur));
    keep[N - 1] = 0;
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_PREV));
    expect_entry(&k, &v, N - 2, 0, 0, "PREV after deleting the last");
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_NEXT), LDB_NOTFOUND);

    /* Deleting a run that empties whole pages, then walking on. */
    kl = num_key(kb, 2 * 3000, 0);
    cur_seek(cur, kb, kl, &k, &v, LDB_SEEK, 0);
    for (uint32_t i = 3000; i < 4000; i++) {
        expect_entry(&k, &v, i, 0, 0, "run delete");
        TU_RC_OK(ldb_cursor_del(cur));
        keep[i] = 0;
        TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT));
    }
    expect_entry(&k, &v, 4000, 0, 0, "after the deleted run");
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_PREV));
    expect_entry(&k, &v, 2999, 0, 0, "PREV over the deleted run");
    ldb_cursor_close(cur);
    expect_remaining(w, LDB_MAIN, keep, 0);
    TU_RC_OK(ldb_txn_commit(w));
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    expect_remaining(r, LDB_MAIN, keep, 0);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(keep);
    free(path);
}
END_TEST

/* Delete every entry through the cursor: 0 forward with NEXT, 1 backward with
 * PREV, 2 FIRST + del repeatedly, 3 the same with wide keys (deep tree). */
START_TEST(test_del_all)
{
    int wide = _i == 3;
    char *path;
    ldb_env *env = open_loaded(&path, wide);
    ldb_txn *w = tu_begin(env, 0);
    ldb_cursor *cur = cursor(w, LDB_MAIN);
    ldb_val k, v;
    uint32_t n = 0;
    int rc;
    if (_i == 0) {
        rc = ldb_cursor_get(cur, &k, &v, LDB_FIRST);
        while (rc == 0) {
            expect_entry(&k, &v, n, wide, 0, "delete-all forward");
            TU_RC_OK(ldb_cursor_del(cur));
            n++;
            rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT);
        }
    } else if (_i == 1) {
        rc = ldb_cursor_get(cur, &k, &v, LDB_LAST);
        while (rc == 0) {
            expect_entry(&k, &v, N - 1 - n, wide, 0, "delete-all backward");
            TU_RC_OK(ldb_cursor_del(cur));
            n++;
            rc = ldb_cursor_get(cur, &k, &v, LDB_PREV);
        }
    } else {
        while ((rc = ldb_cursor_get(cur, &k, &v, LDB_FIRST)) == 0) {
            expect_entry(&k, &v, n, wide, 0, "delete-all FIRST");
            TU_RC_OK(ldb_cursor_del(cur));
            n++;
        }
    }
    TU_RC_IS(rc, LDB_NOTFOUND);
    ck_assert_uint_eq(n, N);
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_FIRST), LDB_NOTFOUND);
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_LAST), LDB_NOTFOUND);
    ldb_cursor_close(cur);
    ldb_tree_stat ts = tu_tree_stat(w, LDB_MAIN);
    TU_REQUIRE(ts.entries == 0 && ts.depth == 0 && ts.leaf_pages == 0 && ts.branch_pages == 0,
            "emptied by cursor: entries %llu depth %u leaf %llu branch %llu",
            (unsigned long long)ts.entries, ts.depth, (unsigned long long)ts.leaf_pages,
            (unsigned long long)ts.branch_pages);
    TU_RC_OK(ldb_txn_commit(w));
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    cur = cursor(r, LDB_MAIN);
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_NEXT), LDB_NOTFOUND);
    ldb_cursor_close(cur);
    ck_assert_uint_eq(tu_tree_stat(r, LDB_MAIN).entries, 0);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(path);
}
END_TEST

/* ---- cursors and other writes ------------------------------------------------- */

START_TEST(test_cursor_after_puts)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    uint8_t *keep = calloc(N, 1);
    ck_assert_ptr_nonnull(keep);
    ldb_txn *w = tu_begin(env, 0);
    ldb_cursor *cur = cursor(w, LDB_MAIN); /* opened on an empty tree */
    ldb_val k, v;
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_FIRST), LDB_NOTFOUND);
    for (uint32_t i = 0; i < N; i += 2) {
        put_entry(w, LDB_MAIN, i, 0, 0);
        keep[i] = 1;
    }
    char kb[16];
    size_t kl = num_key(kb, 2 * 500, 0);
    cur_seek(cur, kb, kl, &k, &v, LDB_SEEK_EXACT, 0);
    expect_entry(&k, &v, 500, 0, 0, "SEEK_EXACT after puts");

    /* More puts (the odd entries: splits everywhere) and deletes through ldb_del. */
    for (uint32_t i = 1; i < N; i += 2) {
        put_entry(w, LDB_MAIN, i, 0, 0);
        keep[i] = 1;
    }
    for (uint32_t i = 0; i < N; i += 10) {
        ldb_val key = {num_key(kb, 2 * i, 0), kb};
        TU_RC_OK(ldb_del(w, LDB_MAIN, &key));
        keep[i] = 0;
    }
    /* Repositioned, the cursor sees the txn's tree as it is now. */
    expect_remaining(w, LDB_MAIN, keep, 0);
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_FIRST));
    expect_entry(&k, &v, 1, 0, 0, "FIRST after puts and dels");
    kl = num_key(kb, 2 * 501, 0);
    cur_seek(cur, kb, kl, &k, &v, LDB_SEEK_EXACT, 0);
    expect_entry(&k, &v, 501, 0, 0, "SEEK_EXACT of a newer key");
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT));
    expect_entry(&k, &v, 502, 0, 0, "NEXT after it");
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_PREV));
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_PREV));
    expect_entry(&k, &v, 499, 0, 0, "PREV over a deleted key");
    kl = num_key(kb, 2 * 500, 0);
    cur_seek(cur, kb, kl, &k, &v, LDB_SEEK, 0);
    expect_entry(&k, &v, 501, 0, 0, "SEEK of a deleted key");
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_LAST));
    expect_entry(&k, &v, N - 1, 0, 0, "LAST");

    /* Overwrite with other sizes, then a backward walk sees the new values. */
    for (uint32_t i = 1; i < N; i += 2)
        put_entry(w, LDB_MAIN, i, 0, 7);
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_LAST));
    for (uint32_t i = N; i-- > 0;) {
        if (!keep[i])
            continue;
        if (i != N - 1)
            TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_PREV));
        expect_entry(&k, &v, i, 0, i % 2 ? 7 : 0, "backward after overwrites");
    }
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_PREV), LDB_NOTFOUND);

    /* Mixing cursor_del with ldb_put: delete through the cursor, put, reposition. */
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_FIRST));
    TU_RC_OK(ldb_cursor_del(cur));
    keep[1] = 0;
    put_entry(w, LDB_MAIN, 0, 0, 0);
    keep[0] = 1;
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_FIRST));
    expect_entry(&k, &v, 0, 0, 0, "FIRST after del + put");
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT));
    expect_entry(&k, &v, 2, 0, 0, "NEXT after del + put");
    ldb_cursor_close(cur);
    TU_RC_OK(ldb_txn_commit(w));

    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    cur = cursor(r, LDB_MAIN);
    int rc;
    uint32_t i = 0;
    while ((rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) == 0) {
        while (i < N && !keep[i])
            i++;
        TU_REQUIRE(i < N, "extra entry after the last kept one");
        expect_entry(&k, &v, i, 0, i % 2 ? 7 : 0, "after commit");
        i++;
    }
    TU_RC_IS(rc, LDB_NOTFOUND);
    while (i < N && !keep[i])
        i++;
    ck_assert_uint_eq(i, N);
    ldb_cursor_close(cur);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(keep);
    free(path);
}
END_TEST

/* A positioned cursor keeps iterating correctly across ldb_put and ldb_del
 * of its own txn (the library repositions it on its key): keys put after
 * it are visited, keys put before it or deleted ahead of it are not, and an
 * overwritten current entry shows its new value. */
START_TEST(test_cursor_iterates_across_writes)
{
    char *path;
    ldb_env *env = open_loaded(&path, 0);
    const uint32_t space = 2 * N + 2; /* numbers: even = loaded entries, odd = put here */
    enum { ODD = 255 }; /* ver[] of a key whose value is "odd" */
    uint8_t *present = calloc(space, 1), *ver = calloc(space, 1);
    ck_assert_ptr_nonnull(present);
    ck_assert_ptr_nonnull(ver);
    for (uint32_t i = 0; i < N; i++)
        present[2 * i] = 1;
    ldb_txn *w = tu_begin(env, 0);
    ldb_cursor *cur = cursor(w, LDB_MAIN);
    ldb_val k, v;
    char kb[16];
    uint8_t vb[64];
    uint32_t steps = 0, num = 0;
    int rc = ldb_cursor_get(cur, &k, &v, LDB_FIRST);
    while (rc == 0) {
        /* the entry must be the next present number in the model */
        uint32_t want = steps == 0 ? 0 : num + 1;
        while (want < space && !present[want])
            want++;
        TU_REQUIRE(want < space, "step %u: cursor found '%.*s' past the model's end", steps,
                (int)k.size, (const char *)k.data);
        num = want;
        size_t kl = num_key(kb, num, 0);
        TU_REQUIRE(k.size == kl && memcmp(k.data, kb, kl) == 0,
                "step %u: cursor at '%.*s', want '%s'", steps, (int)k.size,
                (const char *)k.data, kb);
        if (ver[num] == ODD) {
            TU_REQUIRE(v.size == 3 && memcmp(v.data, "odd", 3) == 0, "value of %s", kb);
        } else {
            size_t vl = entry_val(vb, num / 2, ver[num]);
            TU_REQUIRE(v.size == vl && memcmp(v.data, vb, vl) == 0,
                    "value of %s: %zu bytes, want %zu (step %u)", kb, v.size, vl, steps);
        }
        ldb_val odd = {3, "odd"};
        if (steps % 7 == 3 && num + 1 < space && !present[num + 1]) { /* right after it */
            ldb_val key = {num_key(kb, num + 1, 0), kb};
            TU_RC_OK(ldb_put(w, LDB_MAIN, &key, &odd, 0));
            present[num + 1] = 1;
            ver[num + 1] = ODD;
        }
        if (steps % 11 == 5 && num > 0 && !present[num - 1]) { /* right before it */
            ldb_val key = {num_key(kb, num - 1, 0), kb};
            TU_RC_OK(ldb_put(w, LDB_MAIN, &key, &odd, 0));
            present[num - 1] = 1;
            ver[num - 1] = ODD;
        }
        if (steps % 13 == 7 && num % 2 == 0 && num + 4 < space && present[num + 4]) {
            ldb_val key = {num_key(kb, num + 4, 0), kb}; /* two entries ahead */
            TU_RC_OK(ldb_del(w, LDB_MAIN, &key));
            present[num + 4] = 0;
        }
        if (steps % 17 == 9 && ver[num] != ODD) { /* overwrite the current entry */
            ver[num] = 9;
            size_t vl = entry_val(vb, num / 2, 9);
            ldb_val key = {num_key(kb, num, 0), kb}, val = {vl, vb};
            TU_RC_OK(ldb_put(w, LDB_MAIN, &key, &val, 0));
            TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_CURRENT));
            TU_REQUIRE(k.size == key.size && memcmp(k.data, kb, key.size) == 0 && v.size == vl &&
                        memcmp(v.data, vb, vl) == 0,
                    "CURRENT after overwriting %s", kb);
        }
        if (steps == 4000) { /* a burst ahead of the cursor: splits all around it */
            for (uint32_t n = (num + 3) | 1; n < num + 2001 && n < space; n += 2) {
                ldb_val key = {num_key(kb, n, 0), kb};
                TU_RC_OK(ldb_put(w, LDB_MAIN, &key, &odd, 0));
                present[n] = 1;
                ver[n] = ODD;
            }
        }
        steps++;
        rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT);
    }
    TU_RC_IS(rc, LDB_NOTFOUND);
    for (uint32_t n = num + 1; n < space; n++)
        TU_REQUIRE(!present[n], "the cursor stopped at %u before %u", num, n);

    /* The entry under the cursor deleted through ldb_del: CURRENT says so,
     * and the next moves go on from its place. */
    size_t kl = num_key(kb, 2 * 600, 0);
    cur_seek(cur, kb, kl, &k, &v, LDB_SEEK_EXACT, 0);
    ldb_val key = {kl, kb};
    TU_RC_OK(ldb_del(w, LDB_MAIN, &key));
    present[1200] = 0;
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_CURRENT), LDB_NOTFOUND);
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT));
    uint32_t want = 1201;
    while (!present[want])
        want++;
    kl = num_key(kb, want, 0);
    TU_REQUIRE(k.size == kl && memcmp(k.data, kb, kl) == 0, "NEXT after ldb_del of the current");
    ldb_cursor_close(cur);
    TU_RC_OK(ldb_txn_commit(w));

    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    cur = cursor(r, LDB_MAIN);
    uint64_t n = 0;
    for (uint32_t i = 0; i < space; i++) {
        if (!present[i])
            continue;
        TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT));
        kl = num_key(kb, i, 0);
        TU_REQUIRE(k.size == kl && memcmp(k.data, kb, kl) == 0, "after commit: want %s", kb);
        n++;
    }
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_NEXT), LDB_NOTFOUND);
    ldb_cursor_close(cur);
    ck_assert_uint_eq(tu_tree_stat(r, LDB_MAIN).entries, n);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(ver);
    free(present);
    free(path);
}
END_TEST

START_TEST(test_cursor_snapshot)
{
    char *path;
    ldb_env *env = open_loaded(&path, 0);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_cursor *cur = cursor(r, LDB_MAIN);
    ldb_val k, v;
    TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_FIRST));
    for (uint32_t i = 1; i <= N / 2; i++)
        TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT));
    expect_entry(&k, &v, N / 2, 0, 0, "reader mid-way");

    /* Other txns rewrite everything several times and commit. */
    char kb[16];
    for (uint32_t round = 1; round <= 6; round++) {
        ldb_txn *w = tu_begin(env, 0);
        for (uint32_t i = 0; i < N; i++) {
            if ((i + round) % 3 == 0) {
                ldb_val key = {num_key(kb, 2 * i, 0), kb};
                int rc = ldb_del(w, LDB_MAIN, &key);
                TU_REQUIRE(rc == 0 || rc == LDB_NOTFOUND, "del: %s", ldb_strerror(rc));
            } else {
                put_entry(w, LDB_MAIN, i, 0, round);
            }
            if (i % 4 == 0) { /* and new keys between */
                ldb_val key = {num_key(kb, 2 * i + 1, 0), kb};
                ldb_val val = {5, "fresh"};
                TU_RC_OK(ldb_put(w, LDB_MAIN, &key, &val, 0));
            }
        }
        TU_RC_OK(ldb_txn_commit(w));
    }

    /* The reader's cursor goes on over its own snapshot. */
    for (uint32_t i = N / 2 + 1; i < N; i++) {
        TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT));
        expect_entry(&k, &v, i, 0, 0, "reader after commits");
    }
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_NEXT), LDB_NOTFOUND);
    ldb_cursor_close(cur);
    scan_backward(r, LDB_MAIN, 0, LDB_LAST);
    ck_assert_uint_eq(tu_tree_stat(r, LDB_MAIN).entries, N);
    ldb_txn_abort(r);

    /* A new reader sees the last round. */
    r = tu_begin(env, LDB_TXN_RDONLY);
    cur = cursor(r, LDB_MAIN);
    for (uint32_t i = 0; i < N; i++) {
        if (i % 4 == 0) {
            TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT));
            if (i % 3 != 0) { /* (i + 6) % 3: the entry itself survived round 6 */
                expect_entry(&k, &v, i, 0, 6, "new reader");
                TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT));
            }
            size_t kl = num_key(kb, 2 * i + 1, 0);
            TU_REQUIRE(k.size == kl && memcmp(k.data, kb, kl) == 0 && v.size == 5 &&
                        memcmp(v.data, "fresh", 5) == 0,
                    "new reader: fresh key after entry %u", i);
        } else if (i % 3 != 0) {
            TU_RC_OK(ldb_cursor_get(cur, &k, &v, LDB_NEXT));
            expect_entry(&k, &v, i, 0, 6, "new reader");
        }
    }
    TU_RC_IS(ldb_cursor_get(cur, &k, &v, LDB_NEXT), LDB_NOTFOUND);
    ldb_cursor_close(cur);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(path);
}
END_TEST

START_TEST(test_cursors_per_tree)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *w = tu_begin(env, 0);
    ldb_dbi a, b;
    TU_RC_OK(ldb_dbi_open(w, "a", LDB_CREATE, &a));
    TU_RC_OK(ldb_dbi_open(w, "b", LDB_CREATE, &b));
    for (uint32_t i = 0; i < 3000; i++) {
        put_entry(w, LDB_MAIN, i, 0, 0);
        if (i % 2 == 0)
            put_entry(w, a, i, 0, 0);
        if (i % 3 == 0)
            put_entry(w, b, i, 0, 0);
    }
    TU_RC_OK(ldb_txn_commit(w));

    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_cursor *cm = cursor(r, LDB_MAIN), *ca = cursor(r, a), *cb = cursor(r, b);
    ldb_val k, v;
    uint32_t im = 0, ia = 0, ib = 0;
    /* interleaved: main, a and b each walk their own entries */
    for (;;) {
        int rm = ldb_cursor_get(cm, &k, &v, LDB_NEXT);
        if (rm == 0) {
            expect_entry(&k, &v, im, 0, 0, "main cursor");
            im++;
        }
        int ra = ldb_cursor_get(ca, &k, &v, LDB_NEXT);
        if (ra == 0) {
            expect_entry(&k, &v, ia, 0, 0, "tree a cursor");
            ia += 2;
        }
        int rb = ldb_cursor_get(cb, &k, &v, LDB_NEXT);
        if (rb == 0) {
            expect_entry(&k, &v, ib, 0, 0, "tree b cursor");
            ib += 3;
        }
        TU_REQUIRE((rm == 0 || rm == LDB_NOTFOUND) && (ra == 0 || ra == LDB_NOTFOUND) &&
                    (rb == 0 || rb == LDB_NOTFOUND),
                "cursor error");
        if (rm && ra && rb)
            break;
    }
    ck_assert_uint_eq(im, 3000);
    ck_assert_uint_eq(ia, 3000);
    ck_assert_uint_eq(ib, 3000);
    /* a SEEK on tree b for a key only main and a hold lands on b's next */
    char kb[16];
    size_t kl = num_key(kb, 2 * 4, 0);
    cur_seek(cb, kb, kl, &k, &v, LDB_SEEK, 0);
    expect_entry(&k, &v, 6, 0, 0, "SEEK in tree b");
    cur_seek(cb, kb, kl, &k, &v, LDB_SEEK_EXACT, LDB_NOTFOUND);
    ldb_cursor_close(cm);
    ldb_cursor_close(ca);
    ldb_cursor_close(cb);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(path);
}
END_TEST

START_TEST(test_cursor_large_values)
{
    char *path = tu_new_db_path();
    ldb_env *env = tu_open(path, NULL);
    enum { NV = 60 };
    uint8_t *buf = malloc(300000);
    ck_assert_ptr_nonnull(buf);
    ldb_txn *w = tu_begin(env, 0);
    char kb[16];
    for (int i = NV - 1; i >= 0; i--) {
        size_t vl = (size_t)i * 4999;
        tu_fill_pattern(buf, vl, (uint64_t)i);
        snprintf(kb, sizeof kb, "big%03d", i);
        ldb_val key = tu_str(kb), val = {vl, buf};
        TU_RC_OK(ldb_put(w, LDB_MAIN, &key, &val, 0));
    }
    TU_RC_OK(ldb_txn_commit(w));
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_cursor *cur = cursor(r, LDB_MAIN);
    ldb_val k, v;
    for (int pass = 0; pass < 2; pass++) {
        for (int j = 0; j < NV; j++) {
            int i = pass ? NV - 1 - j : j;
            TU_RC_OK(ldb_cursor_get(cur, &k, &v, j == 0 ? (pass ? LDB_LAST : LDB_FIRST)
                                                     : (pass ? LDB_PREV : LDB_NEXT)));
            size_t vl = (size_t)i * 4999;
            tu_fill_pattern(buf, vl, (uint64_t)i);
            snprintf(kb, sizeof kb, "big%03d", i);
            TU_REQUIRE(k.size == strlen(kb) && memcmp(k.data, kb, k.size) == 0, "key %d", i);
            TU_REQUIRE(v.size == vl && (vl == 0 || memcmp(v.data, buf, vl) == 0),
                    "value of %d (%zu bytes) differs", i, vl);
        }
    }
    ldb_cursor_close(cur);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(buf);
    free(path);
}
END_TEST

/* A txn's reset forgets its cursors' positions (after renew, NEXT starts
 * from the first entry again); its end leaves them refusing every call
 * with LDB_INVALID until closed. Closing one cursor of several leaves the
 * others working. */
START_TEST(test_cursors_outlive_their_txn)
{
    char *path;
    ldb_env *env = open_loaded(&path, 0);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_cursor *c1 = cursor(r, LDB_MAIN), *c2 = cursor(r, LDB_MAIN), *c3 = cursor(r, LDB_MAIN);
    ldb_val k, v;
    TU_RC_OK(ldb_cursor_get(c1, &k, &v, LDB_FIRST));
    TU_RC_OK(ldb_cursor_get(c3, &k, &v, LDB_LAST));
    ldb_cursor_close(c2); /* the middle of the txn's list */
    TU_RC_OK(ldb_cursor_get(c1, &k, &v, LDB_NEXT));
    expect_entry(&k, &v, 1, 0, 0, "c1 after closing c2");
    TU_RC_OK(ldb_cursor_get(c3, &k, &v, LDB_PREV));
    expect_entry(&k, &v, N - 2, 0, 0, "c3 after closing c2");

    ldb_txn_reset(r);
    TU_RC_IS(ldb_cursor_get(c1, &k, &v, LDB_NEXT), LDB_INVALID);
    TU_RC_OK(ldb_txn_renew(r));
    TU_RC_OK(ldb_cursor_get(c1, &k, &v, LDB_NEXT)); /* a fresh cursor: the first */
    expect_entry(&k, &v, 0, 0, 0, "c1 after renew");
    TU_RC_OK(ldb_cursor_get(c3, &k, &v, LDB_PREV)); /* and the last */
    expect_entry(&k, &v, N - 1, 0, 0, "c3 after renew");

    TU_RC_OK(ldb_txn_commit(r)); /* ends the read txn */
    TU_RC_IS(ldb_cursor_get(c1, &k, &v, LDB_NEXT), LDB_INVALID);
    TU_RC_IS(ldb_cursor_get(c3, &k, &v, LDB_CURRENT), LDB_INVALID);
    ldb_cursor_close(c3);
    ldb_cursor_close(c1);

    ldb_txn *w = tu_begin(env, 0);
    ldb_cursor *cw = cursor(w, LDB_MAIN);
    TU_RC_OK(ldb_cursor_get(cw, &k, &v, LDB_FIRST));
    ldb_txn_abort(w);
    TU_RC_IS(ldb_cursor_del(cw), LDB_INVALID);
    TU_RC_IS(ldb_cursor_get(cw, &k, &v, LDB_NEXT), LDB_INVALID);
    ldb_cursor_close(cw);

    r = tu_begin(env, LDB_TXN_RDONLY);
    ck_assert_uint_eq(tu_tree_stat(r, LDB_MAIN).entries, N);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(path);
}
END_TEST

static Suite *cursor_suite(void)
{
    Suite *s = suite_create("cursor");
    TCase *tc = tcase_create("small");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_empty_tree);
    tcase_add_test(tc, test_one_key);
    suite_add_tcase(s, tc);

    tc = tcase_create("moves");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_full_scans, 0, 2);
    tcase_add_test(tc, test_past_the_ends);
    tcase_add_loop_test(tc, test_seek, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("delete");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_del_every_other_forward, 0, 2);
    tcase_add_loop_test(tc, test_del_every_other_backward, 0, 2);
    tcase_add_test(tc, test_del_details);
    tcase_add_loop_test(tc, test_del_all, 0, 4);
    suite_add_tcase(s, tc);

    tc = tcase_create("writes");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_cursor_after_puts);
    tcase_add_test(tc, test_cursor_iterates_across_writes);
    tcase_add_test(tc, test_cursor_snapshot);
    tcase_add_test(tc, test_cursors_per_tree);
    tcase_add_test(tc, test_cursor_large_values);
    tcase_add_test(tc, test_cursors_outlive_their_txn);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {cursor_suite()};
    return tu_run_suites(suites, 1);
}
