/* SPDX-License-Identifier: MIT */
/*
 * check_writepath: the write path's shortcuts keep their promises (issue 11).
 *
 *  - A write txn copies a committed page without checking it again when the
 *    page is, by its header, what this env's writer wrote there (pager.h,
 *    struct ldb__written): the copies of a second txn over the same keys
 *    check nothing. A page read from the file (after a reopen) is still
 *    checked, once: the first txn after the open checks every page it
 *    copies, the next none.
 *  - A page of the file that someone else rewrote while the env is open
 *    (another checksum in its header, as any other writer's page has) is
 *    checked when copied: its damage (keys out of order under a valid
 *    checksum) answers LDB_CORRUPTED, not a freshly checksummed copy.
 *  - The radix sort of page numbers (free lists, the dirty list) sorts
 *    like qsort, both ways, for short and long lists and large numbers,
 *    and makes a pass only over the digits in which the numbers differ.
 *  - A txn that loads many free records looks at the held ones (pages of
 *    the checkpointed trees, waiting for the next checkpoint) once, not
 *    once per record it loads; and what it loads is what it should: the
 *    pages it reuses leave the file as large as before, ldb_check passes.
 *  - A split rebuilds its two pages without keeping the prefix and hints
 *    per entry, and makes them true once per page.
 *  - A large txn's dirty table grows into the slot array a large txn
 *    before it left (one grow past the first size, not one per doubling);
 *    a small txn does not take it, and the next large one still finds it.
 *  - A page copied on first touch is given back with its writer's txn id
 *    (read from the copy's source): the release reads no header again.
 *  - An ascending load, with LDB_APPEND or without, starts each put at the
 *    tail (the rightmost path the last put left, btree.c) instead of
 *    descending from the root: a put descends only after a split, a write
 *    elsewhere or at a txn's start. Puts in the middle, deletes at the end,
 *    refused appends, a drop and two trees taking turns between the
 *    appends leave every tree as an in-memory model says.
 */
#include "testutil.h"

#include "btree.h"
#include "format.h"
#include "freelist.h"
#include "page.h"
#include "pager.h"
#include "txn.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NKEYS 3000
#define PSIZE 4096u

static void key_of(char *buf, size_t cap, unsigned i)
{
    snprintf(buf, cap, "key-%08u", i);
}

/* Every key with generation gen's value, in one txn; the page checks its
 * copies did. */
static uint64_t put_all(ldb_env *env, unsigned gen)
{
    uint64_t before = __atomic_load_n(&ldb__btree_copy_checks, __ATOMIC_RELAXED);
    ldb_txn *w = tu_begin(env, 0);
    char k[32], v[96];
    for (unsigned i = 0; i < NKEYS; i++) {
        key_of(k, sizeof k, i);
        snprintf(v, sizeof v, "value-%u-of-key-%u-padded-to-fill-the-pages", gen, i);
        tu_put_str(w, LDB_MAIN, k, v);
    }
    TU_RC_OK(ldb_txn_commit(w));
    return __atomic_load_n(&ldb__btree_copy_checks, __ATOMIC_RELAXED) - before;
}

START_TEST(test_own_pages_checked_once)
{
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "d.db");
    ldb_env *env = tu_open(path, NULL);
    put_all(env, 0);
    ck_assert_uint_eq(put_all(env, 1), 0); /* all copies of pages it wrote */
    ck_assert_uint_eq(put_all(env, 2), 0);
    TU_RC_OK(ldb_close(env));

    env = tu_open(path, NULL);
    uint64_t first = put_all(env, 3);
    ldb_tree_stat ts;
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ts = tu_tree_stat(r, LDB_MAIN);
    ldb_txn_abort(r);
    /* Every leaf and branch of the tree came from the file: each checked. */
    ck_assert_uint_ge(first, ts.leaf_pages + ts.branch_pages);
    ck_assert_uint_eq(put_all(env, 4), 0);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* The newest leaf page of the file (written by the last commit: live). */
static off_t newest_leaf(int fd, uint8_t *page)
{
    uint8_t p[PSIZE];
    uint64_t best = 0;
    off_t at = -1;
    for (off_t off = 2 * (off_t)PSIZE; pread(fd, p, PSIZE, off) == (ssize_t)PSIZE; off += PSIZE) {
        const struct page_header *h = (const struct page_header *)(const void *)p;
        if (ldb__le16(h->type) == PAGE_LEAF && ldb__le16(h->count) > 0 &&
            ldb__le64(h->pgno) == (uint64_t)off / PSIZE &&
            ldb__le64(h->txnid) > best && ldb__page_checksum_ok(p, PSIZE)) {
            best = ldb__le64(h->txnid);
            at = off;
            memcpy(page, p, PSIZE);
        }
    }
    return at;
}

START_TEST(test_rewritten_page_checked)
{
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "d.db");
    ldb_env *env = tu_open(path, NULL);
    put_all(env, 0);
    put_all(env, 1);

    /* Rewrite a live leaf under the open env: its last two slots swapped
     * (keys out of order: the search reads past it, the structure check
     * does not), sealed with a valid checksum (what a page another writer
     * wrote looks like), the header's txn id kept. */
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t page[PSIZE];
    off_t off = newest_leaf(fd, page);
    ck_assert_int_gt(off, 0);
    struct page_header *h = (struct page_header *)(void *)page;
    struct page_slot *slots = (struct page_slot *)(void *)(page + PAGE_HEADER_SIZE);
    ck_assert_uint_ge(ldb__le16(h->count), 2);
    unsigned n = ldb__le16(h->count);
    struct page_slot t = slots[n - 1];
    slots[n - 1] = slots[n - 2];
    slots[n - 2] = t;
    ldb__page_seal(page, PSIZE);
    ck_assert_int_eq(pwrite(fd, page, PSIZE, off), (ssize_t)PSIZE);
    close(fd);

    uint64_t before = __atomic_load_n(&ldb__btree_copy_checks, __ATOMIC_RELAXED);
    ldb_txn *w = tu_begin(env, 0);
    char k[32];
    int rc = 0;
    for (unsigned i = 0; i < NKEYS && rc == 0; i++) {
        key_of(k, sizeof k, i);
        ldb_val key = tu_str(k), val = tu_str("new");
        rc = ldb_put(w, LDB_MAIN, &key, &val, 0);
    }
    ck_assert_msg(rc == LDB_CORRUPTED, "put over a rewritten page: %s", ldb_strerror(rc));
    ck_assert_uint_gt(__atomic_load_n(&ldb__btree_copy_checks, __ATOMIC_RELAXED), before);
    ldb_txn_abort(w);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(test_pgno_sort)
{
    static const size_t sizes[] = {0, 1, 2, 63, 255, 256, 257, 1000, 70000};
    static const unsigned bits[] = {8, 22, 40, 64};
    uint64_t seed = 42;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        for (size_t bi = 0; bi < sizeof bits / sizeof *bits; bi++) {
            size_t n = sizes[si];
            pgno_t *v = tu_xmalloc((n ? n : 1) * sizeof *v);
            pgno_t *want = tu_xmalloc((n ? n : 1) * sizeof *want);
            for (int desc = 0; desc < 2; desc++) {
                for (size_t i = 0; i < n; i++) {
                    uint64_t r = tu_rand(&seed);
                    v[i] = bits[bi] == 64 ? r : r & ((1ull << bits[bi]) - 1);
                    want[i] = v[i];
                }
                qsort(want, n, sizeof *want, cmp_u64);
                ldb__pgno_sort(v, n, desc);
                for (size_t i = 0; i < n; i++)
                    ck_assert_uint_eq(v[i], want[desc ? n - 1 - i : i]);
            }
            free(v);
            free(want);
        }
    }
}
END_TEST

/* The commit's dirty list packs an index (here under 1,000: 10 bits) under
 * each page number (here under 2^16) shifted up 24 bits: 16 + 10 bits
 * differ, 4 passes of 8 bits (two of them over the index) and none over
 * the zero bits between. All page numbers but the low bits equal: one. */
START_TEST(test_pgno_sort_passes)
{
    enum { N = 1000 };
    pgno_t v[N];
    uint64_t seed = 7;
    for (size_t i = 0; i < N; i++)
        v[i] = (tu_rand(&seed) & 0xffff) << 24 | i;
    uint64_t before = __atomic_load_n(&ldb__pgno_sort_passes, __ATOMIC_RELAXED);
    ldb__pgno_sort(v, N, 0);
    ck_assert_uint_eq(__atomic_load_n(&ldb__pgno_sort_passes, __ATOMIC_RELAXED) - before, 4);
    for (size_t i = 1; i < N; i++)
        ck_assert_uint_le(v[i - 1], v[i]);
    for (size_t i = 0; i < N; i++)
        v[i] = (1ull << 40) + (tu_rand(&seed) & 0xff);
    before = __atomic_load_n(&ldb__pgno_sort_passes, __ATOMIC_RELAXED);
    ldb__pgno_sort(v, N, 1);
    ck_assert_uint_eq(__atomic_load_n(&ldb__pgno_sort_passes, __ATOMIC_RELAXED) - before, 1);
    for (size_t i = 1; i < N; i++)
        ck_assert_uint_ge(v[i - 1], v[i]);
}
END_TEST

/* n keys from from on, step apart, with values of 1,000 bytes (three to a
 * page: a txn of many puts needs many pages). */
static void put_range(ldb_env *env, unsigned from, unsigned n, unsigned step, unsigned gen)
{
    ldb_txn *txn = tu_begin(env, 0);
    for (unsigned i = 0; i < n; i++) {
        char kb[32], vb[1000];
        key_of(kb, sizeof kb, (from + i * step) % NKEYS);
        memset(vb, 'a' + (int)(gen % 26), sizeof vb);
        ldb_val k = tu_str(kb), v = tu_val(vb, sizeof vb);
        TU_RC_OK(ldb_put(txn, LDB_MAIN, &k, &v, 0));
    }
    TU_RC_OK(ldb_txn_commit(txn));
}

/* After a checkpoint, each small txn leaves a held record (the checkpointed
 * pages it copied). A txn that rewrites every leaf twice over frees a
 * thousand pages written since the checkpoint: plain records of 64 pages,
 * after all the held ones, which the next such txn loads one after another. */
START_TEST(test_free_records_resume)
{
    enum { SMALL = 60 };
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = {0};
    o.sync_mode = LDB_SYNC_OFF;
    o.wal_max_bytes = 1ull << 30; /* no checkpoint but ours */
    ldb_env *env = tu_open(path, &o);
    for (unsigned b = 0; b < NKEYS; b += 500)
        put_range(env, b, 500, 1, 0);
    TU_RC_OK(ldb_checkpoint(env));
    for (unsigned t = 0; t < SMALL; t++)
        put_range(env, t * 37, 8, 97, t + 1);
    put_range(env, 0, NKEYS, 1, SMALL + 1);
    put_range(env, 0, NKEYS, 1, SMALL + 2);
    uint64_t before = __atomic_load_n(&ldb__freelist_records_seen, __ATOMIC_RELAXED);
    put_range(env, 0, NKEYS, 1, SMALL + 3);
    uint64_t seen = __atomic_load_n(&ldb__freelist_records_seen, __ATOMIC_RELAXED) - before;
    /* The held records of ~SMALL txns and ~16 plain ones, each looked at
     * about once (where a load stopped, twice); from the first record each
     * time it was ~16 * SMALL. */
    TU_REQUIRE(seen > SMALL && seen <= 2 * (SMALL + 16 + 8),
               "records looked at: %llu for %d txns' records", (unsigned long long)seen, SMALL);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    env = tu_open(path, &o);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* A split rebuilds both pages and makes their prefixes and hints true
 * once each, not once per entry it moves; the pages check out and every
 * key reads back. */
START_TEST(test_split_hints_once)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = tu_open(path, NULL);
    static uint8_t val[100];
    unsigned n = 0;
    ldb_txn *txn = tu_begin(env, 0);
    for (;; n++) { /* fill the root leaf: the next even key would split it */
        char kb[32];
        key_of(kb, sizeof kb, 2 * n);
        ldb_val k = tu_str(kb), v = tu_val(val, sizeof val);
        TU_RC_OK(ldb_put(txn, LDB_MAIN, &k, &v, 0));
        if (tu_tree_stat(txn, LDB_MAIN).leaf_pages > 1)
            break;
    }
    ldb_txn_abort(txn);
    txn = tu_begin(env, 0);
    for (unsigned i = 0; i < n; i++) {
        char kb[32];
        key_of(kb, sizeof kb, 2 * i);
        ldb_val k = tu_str(kb), v = tu_val(val, sizeof val);
        TU_RC_OK(ldb_put(txn, LDB_MAIN, &k, &v, 0));
    }
    TU_REQUIRE(tu_tree_stat(txn, LDB_MAIN).leaf_pages == 1, "%u entries fill one leaf", n);
    char kb[32];
    key_of(kb, sizeof kb, n | 1); /* odd: in the middle, not an append */
    ldb_val k = tu_str(kb), v = tu_val(val, sizeof val);
    uint64_t before = __atomic_load_n(&ldb__page_prefix_updates, __ATOMIC_RELAXED);
    TU_RC_OK(ldb_put(txn, LDB_MAIN, &k, &v, 0));
    uint64_t updates = __atomic_load_n(&ldb__page_prefix_updates, __ATOMIC_RELAXED) - before;
    ldb_tree_stat st = tu_tree_stat(txn, LDB_MAIN);
    TU_REQUIRE(st.leaf_pages == 2 && st.entries == n + 1, "%llu leaves, %llu entries",
               (unsigned long long)st.leaf_pages, (unsigned long long)st.entries);
    /* The new root's two children only (its first has no key). */
    TU_REQUIRE(updates <= 1, "%llu per-insert prefix updates for a split of %u entries",
               (unsigned long long)updates, n + 1);
    TU_RC_OK(ldb_txn_commit(txn));
    tu_check_env(env);
    txn = tu_begin(env, LDB_TXN_RDONLY);
    for (unsigned i = 0; i <= n; i++) {
        key_of(kb, sizeof kb, i == n ? n | 1 : 2 * i);
        k = tu_str(kb);
        TU_RC_OK(ldb_get(txn, LDB_MAIN, &k, &v));
        ck_assert_uint_eq(v.size, sizeof val);
    }
    ldb_txn_abort(txn);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* Ascending loads, with and without LDB_APPEND, leave every leaf but the
 * last full: a key past the tree's last one starts a new page and leaves
 * the full one as it is (1 KiB values: three to a page, so a half split
 * would leave pages of one or two). Then a put in the middle still splits
 * evenly, and everything reads back. */
START_TEST(test_ascending_pages_full)
{
    enum { N = 3000, VLEN = 1024, PER_TXN = 100 };
    for (int append = 0; append < 2; append++) {
        char dir[4096], path[4200];
        tu_fresh_db(dir, sizeof dir, path, sizeof path);
        ldb_env *env = tu_open(path, NULL);
        static uint8_t val[VLEN];
        for (int b = 0; b < N; b += PER_TXN) {
            ldb_txn *txn = tu_begin(env, 0);
            for (int i = b; i < b + PER_TXN; i++) {
                char kb[32];
                snprintf(kb, sizeof kb, "asc-%08d", i * 2);
                tu_fill_pattern(val, VLEN, (uint64_t)i);
                ldb_val k = tu_str(kb), v = tu_val(val, VLEN);
                TU_RC_OK(ldb_put(txn, LDB_MAIN, &k, &v, append ? LDB_APPEND : 0));
            }
            TU_RC_OK(ldb_txn_commit(txn));
        }
        ldb_txn *txn = tu_begin(env, 0);
        ldb_tree_stat st = tu_tree_stat(txn, LDB_MAIN);
        TU_REQUIRE(st.entries == N && st.leaf_pages == (N + 2) / 3,
                   "%s: %llu entries in %llu leaves, want %d leaves of 3",
                   append ? "LDB_APPEND" : "no flag", (unsigned long long)st.entries,
                   (unsigned long long)st.leaf_pages, (N + 2) / 3);
        /* A key between two full pages' keys: an ordinary split. */
        char kb[32];
        snprintf(kb, sizeof kb, "asc-%08d", 1001);
        tu_fill_pattern(val, VLEN, 1u << 20);
        ldb_val k = tu_str(kb), v = tu_val(val, VLEN);
        TU_RC_OK(ldb_put(txn, LDB_MAIN, &k, &v, 0));
        TU_RC_OK(ldb_txn_commit(txn));
        txn = tu_begin(env, LDB_TXN_RDONLY);
        for (int i = 0; i < N; i++) {
            snprintf(kb, sizeof kb, "asc-%08d", i * 2);
            tu_fill_pattern(val, VLEN, (uint64_t)i);
            k = tu_str(kb);
            TU_RC_OK(ldb_get(txn, LDB_MAIN, &k, &v));
            TU_REQUIRE(v.size == VLEN && memcmp(v.data, val, VLEN) == 0, "key %d", i * 2);
        }
        ldb_txn_abort(txn);
        tu_check_env(env);
        TU_RC_OK(ldb_close(env));
        tu_remove_dir(dir);
    }
}
END_TEST

/* Dirty-table grows of one put_range txn. */
static uint64_t grows_of(ldb_env *env, unsigned n, unsigned gen)
{
    uint64_t before = __atomic_load_n(&ldb__dirty_grows, __ATOMIC_RELAXED);
    put_range(env, 0, n, 1, gen);
    return __atomic_load_n(&ldb__dirty_grows, __ATOMIC_RELAXED) - before;
}

/* 3,000 values of 1,000 bytes: ~1,000 leaves, dirty in one txn, need a
 * table of 2,048 slots (256, 512, 1,024, 2,048 from empty). */
START_TEST(test_dirty_table_spare)
{
    const char *dir = tu_tmpdir();
    ldb_env *env = tu_open(tu_path(dir, "d.db"), NULL);
    ck_assert_uint_ge(grows_of(env, NKEYS, 0), 4);
    ck_assert_uint_eq(grows_of(env, NKEYS, 1), 2); /* 256, then the spare */
    ck_assert_uint_eq(grows_of(env, 10, 2), 1);    /* small: 256 only */
    ck_assert_uint_eq(grows_of(env, NKEYS, 3), 2); /* the spare is still there */
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    for (unsigned i = 0; i < NKEYS; i++) {
        char kb[32];
        key_of(kb, sizeof kb, i);
        ldb_val k = tu_str(kb), v;
        TU_RC_OK(ldb_get(r, LDB_MAIN, &k, &v));
        TU_REQUIRE(v.size == 1000 && ((const char *)v.data)[999] == 'd', "key %u", i);
    }
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* A txn's table of the first size goes back to the pool cleared slot by
 * slot, tombstones too, and the next txn starts from that same array: a
 * slot left behind would show the next txn a page it never copied. A
 * table that grows past it gives it back zeroed. */
START_TEST(test_dirty_first_table_reused)
{
    struct ldb__buffer_pool pool = {.page_size = 4096};
    struct ldb__dirty_table t = {.pool = &pool};
    for (pgno_t p = 2; p < 50; p++)
        TU_RC_OK(ldb__dirty_add(&t, p, ldb__buffer_get(&pool, 1), 1));
    for (pgno_t p = 2; p < 50; p += 3)
        ldb__buffer_put(&pool, ldb__dirty_remove(&t, p), 1);
    ck_assert_uint_eq(t.cap, 256);
    ck_assert_uint_gt(t.tombstones, 0);
    const struct ldb__dirty_entry *first = t.slots;
    ldb__dirty_destroy(&t);
    ck_assert_ptr_eq(pool.first_slots, first);

    struct ldb__dirty_table next = {.pool = &pool};
    TU_RC_OK(ldb__dirty_add(&next, 60, ldb__buffer_get(&pool, 1), 1));
    ck_assert_ptr_eq(next.slots, first);
    ck_assert_ptr_null(pool.first_slots);
    unsigned used = 0;
    for (size_t i = 0; i < next.cap; i++)
        used += next.slots[i].pgno != 0 || next.slots[i].buf != NULL;
    ck_assert_uint_eq(used, 1);
    for (pgno_t p = 2; p < 50; p++)
        ck_assert_ptr_null(ldb__dirty_find(&next, p));
    ck_assert_ptr_nonnull(ldb__dirty_find(&next, 60));

    /* A txn that grows past the first size gives that array back at once. */
    for (pgno_t p = 100; p < 400; p++)
        TU_RC_OK(ldb__dirty_add(&next, p, ldb__buffer_get(&pool, 1), 1));
    ck_assert_uint_gt(next.cap, 256);
    ck_assert_ptr_eq(pool.first_slots, first);
    for (size_t i = 0; i < 256; i++)
        ck_assert_uint_eq(first[i].pgno, 0);
    ldb__dirty_destroy(&next);
    ck_assert_ptr_eq(pool.first_slots, first);
    ldb__buffer_pool_destroy(&pool);
}
END_TEST

/* A txn over every key copies every leaf and branch on first touch, and
 * gives each old page back: with its writer's id, no header read again. */
START_TEST(test_touch_passes_writer)
{
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "d.db");
    ldb_env *env = tu_open(path, NULL);
    put_all(env, 0);
    uint64_t before = __atomic_load_n(&ldb__txn_release_header_reads, __ATOMIC_RELAXED);
    uint64_t copies = __atomic_load_n(&ldb__btree_copy_checks, __ATOMIC_RELAXED);
    put_all(env, 1);
    ck_assert_uint_eq(__atomic_load_n(&ldb__txn_release_header_reads, __ATOMIC_RELAXED), before);
    TU_RC_OK(ldb_close(env));
    /* After a reopen the copies are checked (and still pass the id on). */
    env = tu_open(path, NULL);
    put_all(env, 2);
    ck_assert_uint_gt(__atomic_load_n(&ldb__btree_copy_checks, __ATOMIC_RELAXED), copies);
    ck_assert_uint_eq(__atomic_load_n(&ldb__txn_release_header_reads, __ATOMIC_RELAXED), before);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

static uint64_t put_descents(void)
{
    return __atomic_load_n(&ldb__btree_put_descents, __ATOMIC_RELAXED);
}

/* An ascending load descends from the root once per split and per txn,
 * not once per put; the tree holds what was put. */
START_TEST(test_ascending_puts_start_at_tail)
{
    enum { N = 6000, VLEN = 100, PER_TXN = 1000 };
    for (int append = 0; append < 2; append++) {
        char dir[4096], path[4200];
        tu_fresh_db(dir, sizeof dir, path, sizeof path);
        ldb_env *env = tu_open(path, NULL);
        uint8_t val[VLEN];
        uint64_t before = put_descents();
        for (int b = 0; b < N; b += PER_TXN) {
            ldb_txn *txn = tu_begin(env, 0);
            for (int i = b; i < b + PER_TXN; i++) {
                char kb[32];
                snprintf(kb, sizeof kb, "%016d", i);
                tu_fill_pattern(val, VLEN, (uint64_t)i);
                ldb_val k = tu_str(kb), v = tu_val(val, VLEN);
                TU_RC_OK(ldb_put(txn, LDB_MAIN, &k, &v, append ? LDB_APPEND : 0));
            }
            TU_RC_OK(ldb_txn_commit(txn));
        }
        uint64_t descents = put_descents() - before;
        ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
        ldb_tree_stat st = tu_tree_stat(txn, LDB_MAIN);
        TU_REQUIRE(st.entries == N, "%llu entries", (unsigned long long)st.entries);
        /* One per txn, one after each split (a new leaf, sometimes a new
         * branch page above it). */
        uint64_t most = N / PER_TXN + st.leaf_pages + st.branch_pages;
        TU_REQUIRE(descents <= most, "%s: %llu descents for %d puts, want <= %llu",
                   append ? "LDB_APPEND" : "no flag", (unsigned long long)descents, N,
                   (unsigned long long)most);
        for (int i = 0; i < N; i++) {
            char kb[32];
            snprintf(kb, sizeof kb, "%016d", i);
            tu_fill_pattern(val, VLEN, (uint64_t)i);
            ldb_val k = tu_str(kb), v;
            TU_RC_OK(ldb_get(txn, LDB_MAIN, &k, &v));
            TU_REQUIRE(v.size == VLEN && memcmp(v.data, val, VLEN) == 0, "key %d", i);
        }
        ldb_txn_abort(txn);
        tu_check_env(env);
        TU_RC_OK(ldb_close(env));
        tu_remove_dir(dir);
    }
}
END_TEST

/* The model of one tree for test_tail_after_other_writes: key i present
 * with value seed gen[i] (0: absent). */
#define TAIL_KEYS 4000
struct tail_model {
    ldb_dbi dbi;
    uint32_t gen[TAIL_KEYS];
    int last; /* greatest present key, -1 if none */
};

static void tail_key(char *kb, size_t cap, int i)
{
    snprintf(kb, cap, "t-%08d", i);
}

static void tail_put(ldb_txn *txn, struct tail_model *m, int i, uint32_t gen, unsigned flags)
{
    char kb[32];
    uint8_t val[200];
    tail_key(kb, sizeof kb, i);
    size_t vlen = 60 + (size_t)(gen * 37u % 140u); /* sizes vary: splits anywhere */
    tu_fill_pattern(val, vlen, gen);
    ldb_val k = tu_str(kb), v = tu_val(val, vlen);
    TU_RC_OK(ldb_put(txn, m->dbi, &k, &v, flags));
    m->gen[i] = gen;
    if (i > m->last)
        m->last = i;
}

static void tail_del(ldb_txn *txn, struct tail_model *m, int i)
{
    char kb[32];
    tail_key(kb, sizeof kb, i);
    ldb_val k = tu_str(kb);
    TU_RC_OK(ldb_del(txn, m->dbi, &k));
    m->gen[i] = 0;
    while (m->last >= 0 && m->gen[m->last] == 0)
        m->last--;
}

/* The tree holds exactly the model's keys and values, in order. */
static void tail_compare(ldb_txn *txn, const struct tail_model *m)
{
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(txn, m->dbi, &cur));
    ldb_val k, v;
    int i = -1, rc;
    while ((rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) == 0) {
        for (i++; i < TAIL_KEYS && m->gen[i] == 0; i++)
            ;
        TU_REQUIRE(i < TAIL_KEYS, "an entry past the model's last");
        char kb[32];
        uint8_t val[200];
        tail_key(kb, sizeof kb, i);
        size_t vlen = 60 + (size_t)(m->gen[i] * 37u % 140u);
        tu_fill_pattern(val, vlen, m->gen[i]);
        TU_REQUIRE(k.size == strlen(kb) && memcmp(k.data, kb, k.size) == 0,
                   "entry where key %d should be", i);
        TU_REQUIRE(v.size == vlen && memcmp(v.data, val, vlen) == 0, "value of key %d", i);
    }
    TU_RC_IS(rc, LDB_NOTFOUND);
    for (i++; i < TAIL_KEYS; i++)
        TU_REQUIRE(m->gen[i] == 0, "key %d missing", i);
    ldb_cursor_close(cur);
}

/* Appends to two trees by turns, with puts in the middle (splits of any
 * page on the rightmost path), deletes of the last keys, refused appends
 * and a drop between them: every put lands where the model says. */
START_TEST(test_tail_after_other_writes)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = tu_open(path, NULL);
    static struct tail_model m[2];
    memset(m, 0, sizeof m);
    ldb_txn *txn = tu_begin(env, 0);
    m[0].dbi = LDB_MAIN;
    TU_RC_OK(ldb_dbi_open(txn, "other", LDB_CREATE, &m[1].dbi));
    m[0].last = m[1].last = -1;
    uint32_t gen = 1;
    uint64_t rs = 7;
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < 400; i++) { /* appends by turns: every third key */
            int key = 3 * (round * 160 + i / 2 % 160);
            struct tail_model *t = &m[i % 2];
            if (key > t->last)
                tail_put(txn, t, key, gen++, (i / 2) % 3 ? LDB_APPEND : 0);
        }
        for (int i = 0; i < 150; i++) { /* the middle: splits anywhere */
            struct tail_model *t = &m[tu_rand(&rs) % 2];
            int key = (int)(tu_rand(&rs) % (uint64_t)(t->last + 1));
            if (key % 3 != 0)
                tail_put(txn, t, key, gen++, 0);
        }
        struct tail_model *t = &m[round % 2];
        int gone = t->last;
        tail_del(txn, t, gone); /* the last key: the tail leaf shrinks */
        char kb[32];
        tail_key(kb, sizeof kb, t->last);
        ldb_val k = tu_str(kb), v = tu_val("x", 1);
        TU_RC_IS(ldb_put(txn, t->dbi, &k, &v, LDB_APPEND), LDB_EXISTS);
        tail_put(txn, t, gone - 1 > t->last ? gone - 1 : gone, gen++, LDB_APPEND);
        if (round % 4 == 3) { /* new txn: the tail is not carried over */
            TU_RC_OK(ldb_txn_commit(txn));
            txn = tu_begin(env, 0);
        }
    }
    /* Emptied, then loaded again from its first key. */
    TU_RC_OK(ldb_dbi_drop(txn, m[1].dbi, 0));
    memset(m[1].gen, 0, sizeof m[1].gen);
    m[1].last = -1;
    for (int i = 0; i < 500; i++)
        tail_put(txn, &m[1], i, gen++, LDB_APPEND);
    tail_compare(txn, &m[0]);
    tail_compare(txn, &m[1]);
    TU_RC_OK(ldb_txn_commit(txn));
    txn = tu_begin(env, LDB_TXN_RDONLY);
    tail_compare(txn, &m[0]);
    tail_compare(txn, &m[1]);
    ldb_txn_abort(txn);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

static Suite *writepath_suite(void)
{
    Suite *s = suite_create("writepath");
    TCase *tc = tcase_create("copies");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_own_pages_checked_once);
    tcase_add_test(tc, test_rewritten_page_checked);
    tcase_add_test(tc, test_pgno_sort);
    tcase_add_test(tc, test_pgno_sort_passes);
    tcase_add_test(tc, test_free_records_resume);
    tcase_add_test(tc, test_split_hints_once);
    tcase_add_test(tc, test_ascending_pages_full);
    tcase_add_test(tc, test_dirty_table_spare);
    tcase_add_test(tc, test_dirty_first_table_reused);
    tcase_add_test(tc, test_touch_passes_writer);
    tcase_add_test(tc, test_ascending_puts_start_at_tail);
    tcase_add_test(tc, test_tail_after_other_writes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *s[] = {writepath_suite()};
    return tu_run_suites(s, 1);
}
