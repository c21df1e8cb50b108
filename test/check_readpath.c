/* SPDX-License-Identifier: MIT */
/*
 * check_readpath: the read path's shortcuts keep their promises (issue 15).
 *
 *  - A read txn renewed with nothing committed since keeps its snapshot
 *    without copying it again (ldb__lock_reader_rejoin), but it must still
 *    register in its reader slot: a writer that commits afterwards and
 *    reuses pages must never take one the renewed txn can reach. A renew
 *    after a commit must see the commit.
 *  - ldb_get walks down without a path and the page search reads only
 *    keys (no page_node for each probe): the bounds checks those moved
 *    into must still fire on damaged branch and leaf pages, so a damaged
 *    file answers LDB_CORRUPTED, never a wild read (the ASan build of
 *    make check would catch the read).
 */
#include "testutil.h"

#include "format.h"

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

static void val_of(char *buf, size_t cap, unsigned i, unsigned gen)
{
    snprintf(buf, cap, "value-%u-of-key-%u-padded-to-fill-the-pages-a-little", gen, i);
}

/* NKEYS keys with generation gen's values, in one txn. */
static void write_all(ldb_env *env, unsigned gen)
{
    ldb_txn *w = tu_begin(env, 0);
    char k[32], v[96];
    for (unsigned i = 0; i < NKEYS; i++) {
        key_of(k, sizeof k, i);
        val_of(v, sizeof v, i, gen);
        tu_put_str(w, LDB_MAIN, k, v);
    }
    TU_RC_OK(ldb_txn_commit(w));
}

static void expect_gen(ldb_txn *txn, unsigned gen)
{
    char k[32], v[96];
    for (unsigned i = 0; i < NKEYS; i += 7) {
        key_of(k, sizeof k, i);
        val_of(v, sizeof v, i, gen);
        tu_expect_str(txn, LDB_MAIN, k, v);
    }
}

struct slot_seen {
    int pid;
    uint64_t txn_id;
    int found;
};

static int find_own_slot(void *ctx, int pid, uint64_t txn_id, int alive)
{
    struct slot_seen *s = ctx;
    (void)alive;
    if (pid == s->pid && txn_id != 0) { /* 0: reset, no snapshot */
        s->txn_id = txn_id;
        s->found++;
    }
    return 0;
}

START_TEST(test_renew_quiet_registers)
{
    const char *dir = tu_tmpdir();
    ldb_env *env = tu_open(tu_path(dir, "r.db"), NULL);
    write_all(env, 0);

    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    uint64_t id0 = ldb_txn_id(r);
    ldb_txn_reset(r);
    struct slot_seen seen = {getpid(), 0, 0};
    TU_RC_OK(ldb_reader_list(env, find_own_slot, &seen));
    ck_assert_int_eq(seen.found, 0); /* reset: registered nowhere */

    /* Nothing committed: the renew keeps the snapshot and registers on it. */
    TU_RC_OK(ldb_txn_renew(r));
    ck_assert_uint_eq(ldb_txn_id(r), id0);
    TU_RC_OK(ldb_reader_list(env, find_own_slot, &seen));
    ck_assert_int_eq(seen.found, 1);
    ck_assert_uint_eq(seen.txn_id, id0);

    /* Writers rewrite everything over and over, reusing whatever pages
     * they may: none the renewed txn reads. */
    for (unsigned g = 1; g <= 6; g++)
        write_all(env, g);
    expect_gen(r, 0);
    ldb_txn_reset(r);

    /* A renew after commits sees the newest. */
    TU_RC_OK(ldb_txn_renew(r));
    ck_assert_uint_gt(ldb_txn_id(r), id0);
    expect_gen(r, 6);
    ldb_txn_reset(r);
    /* And a second quiet renew stays on it. */
    uint64_t id6 = 0;
    TU_RC_OK(ldb_txn_renew(r));
    id6 = ldb_txn_id(r);
    expect_gen(r, 6);
    ldb_txn_reset(r);
    TU_RC_OK(ldb_txn_renew(r));
    ck_assert_uint_eq(ldb_txn_id(r), id6);
    ldb_txn_abort(r);

    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* How a page of the given type is damaged in place. */
typedef void (*damage_fn)(uint8_t *page);

/* Branch: every separator key claims 0xffff bytes, past the page's end. */
static void branch_key_too_long(uint8_t *page)
{
    struct page_header *h = (struct page_header *)(void *)page;
    struct page_slot *slots = (struct page_slot *)(void *)(page + PAGE_HEADER_SIZE);
    for (unsigned i = 0; i < ldb__le16(h->count); i++) {
        uint32_t off = ldb__le32(slots[i].offset);
        if (off + BRANCH_NODE_HEADER <= PSIZE) {
            uint16_t big = 0xffff;
            memcpy(page + off + 8, &big, 2);
        }
    }
}

/* Leaf: every key claims 0xffff bytes. */
static void leaf_key_too_long(uint8_t *page)
{
    struct page_header *h = (struct page_header *)(void *)page;
    struct page_slot *slots = (struct page_slot *)(void *)(page + PAGE_HEADER_SIZE);
    for (unsigned i = 0; i < ldb__le16(h->count); i++) {
        uint32_t off = ldb__le32(slots[i].offset);
        if (off + LEAF_NODE_HEADER <= PSIZE) {
            uint16_t big = 0xffff;
            memcpy(page + off, &big, 2);
        }
    }
}

/* Leaf: every node's offset points into the slot array itself. */
static void leaf_offset_in_slots(uint8_t *page)
{
    struct page_header *h = (struct page_header *)(void *)page;
    struct page_slot *slots = (struct page_slot *)(void *)(page + PAGE_HEADER_SIZE);
    for (unsigned i = 0; i < ldb__le16(h->count); i++)
        slots[i].offset = ldb__to_le32(PAGE_HEADER_SIZE);
}

/* Build a database, damage every page of one type with fn, and expect
 * every get to answer LDB_CORRUPTED. */
static void expect_gets_corrupted(uint16_t type, damage_fn fn)
{
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "d.db");
    ldb_env *env = tu_open(path, NULL);
    write_all(env, 0);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));

    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t page[PSIZE];
    unsigned damaged = 0;
    for (off_t off = 0; pread(fd, page, PSIZE, off) == (ssize_t)PSIZE; off += PSIZE) {
        struct page_header *h = (struct page_header *)(void *)page;
        if (off < 2 * (off_t)PSIZE || ldb__le16(h->type) != type || ldb__le16(h->count) == 0)
            continue;
        fn(page);
        ck_assert_int_eq(pwrite(fd, page, PSIZE, off), (ssize_t)PSIZE);
        damaged++;
    }
    close(fd);
    ck_assert_uint_gt(damaged, 0);

    env = tu_open(path, NULL);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    char k[32];
    for (unsigned i = 0; i < NKEYS; i += 97) {
        key_of(k, sizeof k, i);
        ldb_val key = tu_str(k), val;
        int rc = ldb_get(r, LDB_MAIN, &key, &val);
        ck_assert_msg(rc == LDB_CORRUPTED, "get %s: %s", k, ldb_strerror(rc));
    }
    ldb_txn_abort(r);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}

START_TEST(test_damaged_branch_key)
{
    expect_gets_corrupted(PAGE_BRANCH, branch_key_too_long);
}
END_TEST

START_TEST(test_damaged_leaf_key)
{
    expect_gets_corrupted(PAGE_LEAF, leaf_key_too_long);
}
END_TEST

START_TEST(test_damaged_leaf_offset)
{
    expect_gets_corrupted(PAGE_LEAF, leaf_offset_in_slots);
}
END_TEST

static Suite *readpath_suite(void)
{
    Suite *s = suite_create("readpath");
    TCase *tc = tcase_create("renew");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_renew_quiet_registers);
    suite_add_tcase(s, tc);
    tc = tcase_create("damage");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_damaged_branch_key);
    tcase_add_test(tc, test_damaged_leaf_key);
    tcase_add_test(tc, test_damaged_leaf_offset);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {readpath_suite()};
    return tu_run_suites(suites, 1);
}
