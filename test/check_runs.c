/* SPDX-License-Identifier: MIT */
/*
 * check_runs: the two overflow run formats (docs/format.md, "Overflow
 * runs"). Format 4 writes bare runs, the value's bytes alone in
 * ceil(size / page_size) pages, with the page number, the writing txn and
 * the checksum in the leaf node; formats 1..3 wrote headed runs, a page
 * header in front of the value. Both are read, freed, relocated, checked
 * and copied.
 *
 *  - damage: a byte flipped anywhere in a bare run's value gives
 *    LDB_CORRUPTED from ldb_get, a cursor and ldb_check; the key can still
 *    be deleted, after which the file checks clean. A leaf whose run
 *    reaches past the file (resealed, so only the extent is wrong) is
 *    refused by get, del and ldb_check.
 *  - old files: a file written with headed runs (the test hook makes them)
 *    and its meta pages set back to version 3 reads back under this build,
 *    takes bare runs beside its headed ones, checks clean, copies
 *    (compact), and its first checkpoint makes it version 4. A version
 *    newer than this build's is refused with LDB_VERSION (what a version 3
 *    build does with a version 4 file).
 *  - the checkpoint's runs: a bare run the last checkpoint's tree holds,
 *    freed after it, is not written over before the next checkpoint (its
 *    writer's txn id comes from its leaf node, not from its bytes).
 *  - relocation: the shrink moves headed and bare runs alike.
 *
 * Every test that writes ends with ldb_check.
 */
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "btree.h"
#include "format.h"
#include "page.h"

#define PSIZE 4096u

/* The page where value (len >= 64 bytes) starts in the file: a bare run
 * starts with the value itself. */
static uint64_t find_run(const char *path, const uint8_t *value)
{
    size_t len;
    uint8_t *file = tu_read_file(path, &len);
    for (uint64_t p = 2; (p + 1) * PSIZE <= len; p++)
        if (memcmp(file + p * PSIZE, value, 64) == 0) {
            free(file);
            return p;
        }
    free(file);
    ck_abort_msg("no bare run starts with the value");
    return 0;
}

/* The meta pages' format version set to version (both slots, resealed). */
static void set_version(const char *path, uint32_t version)
{
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    for (unsigned slot = 0; slot < LDB_META_PAGES; slot++) {
        uint8_t image[LDB_META_BYTES];
        ck_assert_int_eq(pread(fd, image, sizeof image, (off_t)slot * PSIZE),
                         (ssize_t)sizeof image);
        if (ldb__ld_le64(image + offsetof(struct meta_page, magic)) != LDB_MAGIC)
            continue; /* a slot never written */
        ldb__st_le32(image + offsetof(struct meta_page, version), version);
        ldb__page_seal(image, sizeof image);
        ck_assert_int_eq(pwrite(fd, image, sizeof image, (off_t)slot * PSIZE),
                         (ssize_t)sizeof image);
    }
    close(fd);
}

static uint32_t meta_version(const char *path, unsigned slot)
{
    uint8_t image[LDB_META_BYTES];
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, image, sizeof image, (off_t)slot * PSIZE), (ssize_t)sizeof image);
    close(fd);
    return ldb__ld_le32(image + offsetof(struct meta_page, version));
}

/* ---- damage ------------------------------------------------------------------ */

#define BIG (3 * PSIZE + 100) /* a bare run of four pages, the last one short */

/* 300 small entries and one big value under "big". */
static void make_db(const char *path, uint8_t *big)
{
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, 0);
    for (int i = 0; i < 300; i++) {
        char k[16], v[32];
        snprintf(k, sizeof k, "k%04d", i);
        snprintf(v, sizeof v, "value %d", i);
        tu_put_str(txn, LDB_MAIN, k, v);
    }
    tu_fill_pattern(big, BIG, 7);
    tu_put_bytes(txn, LDB_MAIN, "big", 3, big, BIG);
    TU_RC_OK(ldb_txn_commit(txn));
    txn = tu_begin(env, LDB_TXN_RDONLY);
    ck_assert_uint_eq(tu_tree_stat(txn, LDB_MAIN).overflow_pages, 4);
    ldb_txn_abort(txn);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
}

/* "big" is refused by get and by a cursor, the rest reads, ldb_check
 * reports damage; a delete of "big" commits and leaves a clean file. */
static void expect_damage_found(const char *path, const char *what)
{
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    ldb_val k = tu_str("big"), v;
    int rc = ldb_get(txn, LDB_MAIN, &k, &v);
    TU_REQUIRE(rc == LDB_CORRUPTED, "%s: get -> %d, want LDB_CORRUPTED", what, rc);
    tu_expect_str(txn, LDB_MAIN, "k0007", "value 7");
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(txn, LDB_MAIN, &cur));
    ldb_val ck = tu_str("big"), cv;
    TU_RC_IS(ldb_cursor_get(cur, &ck, &cv, LDB_SEEK_EXACT), LDB_CORRUPTED);
    ldb_cursor_close(cur);
    ldb_txn_abort(txn);
    rc = ldb_check(env, NULL);
    TU_REQUIRE(rc == LDB_CORRUPTED, "%s: ldb_check -> %d, want LDB_CORRUPTED", what, rc);
    txn = tu_begin(env, 0);
    TU_RC_OK(ldb_del(txn, LDB_MAIN, &k));
    TU_RC_OK(ldb_txn_commit(txn));
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
}

/* A byte flipped at the first and last byte of the value, at each page
 * boundary inside the run, and in between. */
START_TEST(test_bare_run_damage)
{
    char dir[4096], path[4200], copy[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    snprintf(copy, sizeof copy, "%s/copy.ldb", dir);
    uint8_t *big = tu_xmalloc(BIG);
    make_db(path, big);
    uint64_t run = find_run(path, big);
    const uint64_t offs[] = {0, 1, 77, PSIZE - 1, PSIZE, 2 * PSIZE + 5, 3 * PSIZE, BIG - 1};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "byte %llu of the value flipped",
                 (unsigned long long)offs[i]);
        ck_assert_int_eq(tu_copy_file(path, copy), 0);
        tu_flip_byte(copy, run * PSIZE + offs[i], 0x20);
        expect_damage_found(copy, what);
        char side[4300];
        snprintf(side, sizeof side, "%s-wal", copy);
        unlink(side);
        snprintf(side, sizeof side, "%s-lock", copy);
        unlink(side);
    }
    /* Undamaged, it reads back (the copies above were the damaged ones). */
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_bytes(txn, LDB_MAIN, "big", 3, big, BIG);
    ldb_txn_abort(txn);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(big);
    tu_remove_dir(dir);
}
END_TEST

/* The leaf node of key in the file's leaf pages: its page and offset. */
static void find_node(const uint8_t *file, size_t len, const char *key, uint64_t *page,
                      uint32_t *off)
{
    size_t kl = strlen(key);
    for (uint64_t p = 2; (p + 1) * PSIZE <= len; p++) {
        const uint8_t *pg = file + p * PSIZE;
        if (ldb__le16(PAGE_CHDR(pg)->type) != PAGE_LEAF || ldb__le64(PAGE_CHDR(pg)->pgno) != p)
            continue;
        for (unsigned i = 0; i < ldb__le16(PAGE_CHDR(pg)->count); i++) {
            struct page_node n;
            if (ldb__page_node(pg, PSIZE, i, &n) == 0 && n.key_size == kl &&
                memcmp(n.key, key, kl) == 0 && n.bare) {
                *page = p;
                *off = (uint32_t)(n.key - pg - LEAF_NODE_HEADER);
                return;
            }
        }
    }
    ck_abort_msg("no leaf holds a bare run for %s", key);
}

/* A leaf (resealed: only the extent is wrong) whose run reaches past the
 * file: get, cursor, del and ldb_check refuse it. */
START_TEST(test_bare_run_past_file)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    uint8_t *big = tu_xmalloc(BIG);
    make_db(path, big);
    size_t len;
    uint8_t *file = tu_read_file(path, &len);
    uint64_t leaf;
    uint32_t off;
    find_node(file, len, "big", &leaf, &off);
    uint64_t npages = len / PSIZE;
    const uint32_t sizes[] = {UINT32_MAX, 0x80000000u, (uint32_t)(npages * PSIZE), 0};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *pg = tu_dup_bytes(file + leaf * PSIZE, PSIZE);
        ldb__st_le32(pg + off + 4, sizes[i]);
        ldb__page_seal(pg, PSIZE);
        tu_write_at(path, pg, PSIZE, leaf * PSIZE);
        free(pg);
        ldb_env *env = tu_open(path, NULL);
        ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
        ldb_val k = tu_str("big"), v;
        int rc = ldb_get(txn, LDB_MAIN, &k, &v);
        TU_REQUIRE(rc == LDB_CORRUPTED, "value size %u: get -> %d", sizes[i], rc);
        tu_expect_str(txn, LDB_MAIN, "k0100", "value 100");
        ldb_txn_abort(txn);
        TU_RC_IS(ldb_check(env, NULL), LDB_CORRUPTED);
        txn = tu_begin(env, 0);
        rc = ldb_del(txn, LDB_MAIN, &k);
        TU_REQUIRE(rc == LDB_CORRUPTED, "value size %u: del -> %d", sizes[i], rc);
        ldb_txn_abort(txn);
        TU_RC_OK(ldb_close(env));
    }
    /* The leaf as it was: clean again. */
    tu_write_at(path, file + leaf * PSIZE, PSIZE, leaf * PSIZE);
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_bytes(txn, LDB_MAIN, "big", 3, big, BIG);
    ldb_txn_abort(txn);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(file);
    free(big);
    tu_remove_dir(dir);
}
END_TEST

/* ---- the checkpoint's runs ----------------------------------------------------- */

/* A bare run of the last checkpoint's tree, freed after it, waits for the
 * next checkpoint: recovery starts from that tree. The txn that wrote a
 * run is in its leaf node (its bytes 16..23 are the value's, here 0xFF,
 * which read as a header's txn id would mean "written after the
 * checkpoint" and let the next txns write over the run). The data file
 * alone, as a crash that lost the log would leave it, still holds the
 * checkpoint's value. */
START_TEST(test_checkpoint_run_held)
{
    char dir[4096], path[4200], copy[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    snprintf(copy, sizeof copy, "%s/copy.ldb", dir);
    uint8_t *v = tu_xmalloc(2 * PSIZE);
    memset(v, 0xFF, 2 * PSIZE);
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, 0);
    tu_put_bytes(txn, LDB_MAIN, "v", 1, v, 2 * PSIZE);
    tu_put_str(txn, LDB_MAIN, "a", "small");
    TU_RC_OK(ldb_txn_commit(txn));
    TU_RC_OK(ldb_checkpoint(env));
    txn = tu_begin(env, 0);
    TU_RC_OK(ldb_del(txn, LDB_MAIN, &(ldb_val){1, "v"}));
    TU_RC_OK(ldb_txn_commit(txn));
    uint8_t *w = tu_xmalloc(2 * PSIZE);
    char k[16];
    for (int t = 0; t < 20; t++) {
        txn = tu_begin(env, 0);
        for (int i = 0; i < 5; i++) {
            snprintf(k, sizeof k, "w%02d-%d", t, i);
            tu_fill_pattern(w, 2 * PSIZE, (uint64_t)(t * 5 + i));
            tu_put_bytes(txn, LDB_MAIN, k, strlen(k), w, 2 * PSIZE);
        }
        TU_RC_OK(ldb_txn_commit(txn));
    }
    ck_assert_int_eq(tu_copy_file(path, copy), 0); /* the data file, no log */
    ldb_env *old = tu_open(copy, NULL);
    txn = tu_begin(old, LDB_TXN_RDONLY);
    tu_expect_bytes(txn, LDB_MAIN, "v", 1, v, 2 * PSIZE);
    tu_expect_str(txn, LDB_MAIN, "a", "small");
    ldb_txn_abort(txn);
    tu_check_env(old);
    TU_RC_OK(ldb_close(old));
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(w);
    free(v);
    tu_remove_dir(dir);
}
END_TEST

/* ---- files of format 3 -------------------------------------------------------- */

static const size_t old_sizes[] = {PSIZE - 1, PSIZE, PSIZE + 1, 3 * PSIZE + 1, 20000, 2500};
#define NOLD (sizeof old_sizes / sizeof old_sizes[0])

static void expect_old(ldb_txn *txn, size_t from, size_t step)
{
    uint8_t *buf = tu_xmalloc(3 * PSIZE + 20000);
    char k[16];
    for (size_t i = from; i < NOLD; i += step) {
        snprintf(k, sizeof k, "old%zu", i);
        tu_fill_pattern(buf, old_sizes[i], 100 + i);
        tu_expect_bytes(txn, LDB_MAIN, k, strlen(k), buf, old_sizes[i]);
    }
    free(buf);
}

/* Pages a headed run of n bytes takes (a header in front). */
static uint64_t headed_pages(size_t n)
{
    return (PAGE_HEADER_SIZE + n + PSIZE - 1) / PSIZE;
}

START_TEST(test_format3_file)
{
    char dir[4096], path[4200], compact[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    snprintf(compact, sizeof compact, "%s/compact.ldb", dir);
    uint8_t *buf = tu_xmalloc(3 * PSIZE + 20000);
    char k[16];

    /* A file as a version 3 build wrote it: headed runs, meta version 3. */
    ldb__btree_headed_runs = 1;
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, 0);
    uint64_t want = 0;
    for (size_t i = 0; i < NOLD; i++) {
        snprintf(k, sizeof k, "old%zu", i);
        tu_fill_pattern(buf, old_sizes[i], 100 + i);
        tu_put_bytes(txn, LDB_MAIN, k, strlen(k), buf, old_sizes[i]);
        want += headed_pages(old_sizes[i]);
    }
    TU_RC_OK(ldb_txn_commit(txn));
    TU_RC_OK(ldb_close(env));
    ldb__btree_headed_runs = 0;
    set_version(path, 3);
    ck_assert_uint_eq(meta_version(path, 0), 3);

    /* This build reads it: values, page counts, ldb_check. */
    env = tu_open(path, NULL);
    txn = tu_begin(env, LDB_TXN_RDONLY);
    expect_old(txn, 0, 1);
    ck_assert_uint_eq(tu_tree_stat(txn, LDB_MAIN).overflow_pages, want);
    ldb_txn_abort(txn);
    tu_check_env(env);

    /* Bare runs beside the headed ones: a new key, an old key overwritten,
     * an old key deleted. */
    txn = tu_begin(env, 0);
    tu_fill_pattern(buf, 2 * PSIZE, 7);
    tu_put_bytes(txn, LDB_MAIN, "new", 3, buf, 2 * PSIZE);
    tu_put_bytes(txn, LDB_MAIN, "old0", 4, buf, 2 * PSIZE);
    TU_RC_OK(ldb_del(txn, LDB_MAIN, &(ldb_val){4, "old1"}));
    want += 2 + 2 - headed_pages(old_sizes[0]) - headed_pages(old_sizes[1]);
    TU_RC_OK(ldb_txn_commit(txn));
    txn = tu_begin(env, LDB_TXN_RDONLY);
    ck_assert_uint_eq(tu_tree_stat(txn, LDB_MAIN).overflow_pages, want);
    tu_expect_bytes(txn, LDB_MAIN, "new", 3, buf, 2 * PSIZE);
    tu_expect_bytes(txn, LDB_MAIN, "old0", 4, buf, 2 * PSIZE);
    tu_expect_absent(txn, LDB_MAIN, "old1");
    expect_old(txn, 2, 1);
    ldb_txn_abort(txn);
    tu_check_env(env);
    TU_RC_OK(ldb_backup(env, compact, LDB_BACKUP_COMPACT));
    TU_RC_OK(ldb_close(env));
    ck_assert_uint_eq(meta_version(path, 0), LDB_FORMAT_VERSION);
    ck_assert_uint_eq(meta_version(path, 1), LDB_FORMAT_VERSION);

    /* After the checkpoint, and in the compact copy (runs renumbered). */
    const char *paths[] = {path, compact};
    for (int i = 0; i < 2; i++) {
        env = tu_open(paths[i], NULL);
        txn = tu_begin(env, LDB_TXN_RDONLY);
        tu_expect_bytes(txn, LDB_MAIN, "new", 3, buf, 2 * PSIZE);
        tu_expect_bytes(txn, LDB_MAIN, "old0", 4, buf, 2 * PSIZE);
        expect_old(txn, 2, 1);
        ck_assert_uint_eq(tu_tree_stat(txn, LDB_MAIN).overflow_pages, want);
        ldb_txn_abort(txn);
        tu_check_env(env);
        TU_RC_OK(ldb_close(env));
    }
    free(buf);
    tu_remove_dir(dir);
}
END_TEST

/* A version after this build's is refused cleanly, as a version 3 build
 * refuses the files this one writes. */
START_TEST(test_newer_version_refused)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    uint8_t *big = tu_xmalloc(BIG);
    make_db(path, big);
    ck_assert_uint_eq(meta_version(path, 0), LDB_FORMAT_VERSION);
    set_version(path, LDB_FORMAT_VERSION + 1);
    ldb_env *env = NULL;
    TU_RC_IS(ldb_open(path, NULL, &env), LDB_VERSION);
    set_version(path, LDB_FORMAT_VERSION);
    env = tu_open(path, NULL);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(big);
    tu_remove_dir(dir);
}
END_TEST

/* ---- relocation ------------------------------------------------------------- */

/* Runs of both kinds near the end of the file, most of what lies before
 * them deleted: the shrink moves them down and the file gets smaller. */
START_TEST(test_relocate_both_kinds)
{
    enum { N = 400, KEEP = 40 };
    const size_t vlen = 3 * PSIZE - 10; /* 3 pages bare, 4 headed */
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    uint8_t *buf = tu_xmalloc(vlen);
    char k[16];
    ldb_env *env = tu_open(path, NULL);
    for (int b = 0; b < N; b += 50) {
        ldb_txn *txn = tu_begin(env, 0);
        for (int i = b; i < b + 50; i++) {
            ldb__btree_headed_runs = i % 2; /* odd keys headed, even bare */
            snprintf(k, sizeof k, "r%04d", i);
            tu_fill_pattern(buf, vlen, (uint64_t)i);
            tu_put_bytes(txn, LDB_MAIN, k, strlen(k), buf, vlen);
        }
        TU_RC_OK(ldb_txn_commit(txn));
    }
    ldb__btree_headed_runs = 0;
    TU_RC_OK(ldb_checkpoint(env));
    uint64_t full = tu_file_size(path);
    ldb_txn *txn = tu_begin(env, 0);
    for (int i = 0; i < N - KEEP; i++) {
        snprintf(k, sizeof k, "r%04d", i);
        TU_RC_OK(ldb_del(txn, LDB_MAIN, &(ldb_val){strlen(k), k}));
    }
    TU_RC_OK(ldb_txn_commit(txn));
    TU_RC_OK(ldb_checkpoint(env));
    uint64_t after = tu_file_size(path);
    TU_REQUIRE(after < full / 3, "file %llu bytes with the values, %llu after the deletes",
               (unsigned long long)full, (unsigned long long)after);
    for (int reopen = 0; reopen < 2; reopen++) {
        if (reopen) {
            TU_RC_OK(ldb_close(env));
            env = tu_open(path, NULL);
        }
        txn = tu_begin(env, LDB_TXN_RDONLY);
        for (int i = N - KEEP; i < N; i++) {
            snprintf(k, sizeof k, "r%04d", i);
            tu_fill_pattern(buf, vlen, (uint64_t)i);
            tu_expect_bytes(txn, LDB_MAIN, k, strlen(k), buf, vlen);
        }
        ck_assert_uint_eq(tu_tree_stat(txn, LDB_MAIN).overflow_pages, KEEP / 2 * (3 + 4));
        ldb_txn_abort(txn);
        tu_check_env(env);
    }
    TU_RC_OK(ldb_close(env));
    free(buf);
    tu_remove_dir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runs");
    TCase *tc = tcase_create("damage");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_bare_run_damage);
    tcase_add_test(tc, test_bare_run_past_file);
    tcase_add_test(tc, test_checkpoint_run_held);
    suite_add_tcase(s, tc);
    tc = tcase_create("formats");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_format3_file);
    tcase_add_test(tc, test_newer_version_refused);
    tcase_add_test(tc, test_relocate_both_kinds);
    suite_add_tcase(s, tc);
    return tu_run_suites(&s, 1);
}
