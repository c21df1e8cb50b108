/* SPDX-License-Identifier: MIT */
/*
 * check_readpath: the read path's shortcuts keep their promises (issue 15).
 *
 *  - A read txn renewed with nothing committed since keeps its snapshot
 *    without copying it again (ldb__lock_reader_rejoin), but it must still
 *    register in its reader slot: a writer that commits afterwards and
 *    reuses pages must never take one the renewed txn can reach. A renew
 *    after a commit must see the commit. The rejoin registers only on
 *    the id still published, and leaves the slot unregistered otherwise.
 *  - ldb_get walks down without a path and the page search reads only
 *    keys (no page_node for each probe): the bounds checks those moved
 *    into must still fire on damaged branch and leaf pages, so a damaged
 *    file answers LDB_CORRUPTED, never a wild read (the ASan build of
 *    make check would catch the read).
 *  - A scan in a read txn steps from leaf to leaf without the general
 *    cursor path (cursor.c, scan_next), copies back only the path levels
 *    the step changed, and asks the next leaf's lines into the cache
 *    ahead: every entry still comes in order with its value (inline or in
 *    an overflow run), a scan turned around at any point walks back over
 *    the same entries (the upper levels of the path are right), and a
 *    damaged leaf or branch met on the way answers LDB_CORRUPTED, leaving
 *    the cursor on the last good entry when the step itself failed.
 *  - A read txn's point search (a get, a cursor seek) asks for the whole
 *    of each page in the two lowest levels of a tree when it fetches the
 *    page (up to 4 KiB of it), and for no more of the pages above; a
 *    write txn's search and a scan ask for no whole page (btree.c,
 *    fetch_page).
 */
#include "testutil.h"

#include "btree.h"
#include "format.h"
#include "lock.h"
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

/* Where the txn's reader slot is registered (0: nowhere, as after a reset). */
static uint64_t own_registration(ldb_env *env)
{
    struct slot_seen seen = {getpid(), 0, 0};
    TU_RC_OK(ldb_reader_list(env, find_own_slot, &seen));
    ck_assert_int_le(seen.found, 1);
    return seen.found ? seen.txn_id : 0;
}

/* The rejoin (inline in lock.h, the whole of a quiet renew's registration)
 * registers only on the id that is still published: asked for any other,
 * it leaves the slot unregistered, so the renew takes a fresh snapshot. */
START_TEST(test_rejoin_only_published)
{
    const char *dir = tu_tmpdir();
    ldb_env *env = tu_open(tu_path(dir, "j.db"), NULL);
    write_all(env, 0);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    uint64_t id = ldb_txn_id(r);
    ldb_txn_reset(r);
    struct ldb__lock *lk = &env->lock;

    ck_assert_int_eq(ldb__lock_reader_rejoin(lk, r->slot, id + 1), 0);
    ck_assert_uint_eq(own_registration(env), 0);
    ck_assert_int_eq(ldb__lock_reader_rejoin(lk, r->slot, id - 1), 0);
    ck_assert_uint_eq(own_registration(env), 0);
    ck_assert_int_eq(ldb__lock_reader_rejoin(lk, r->slot, id), 1);
    ck_assert_uint_eq(own_registration(env), id);
    ldb__lock_reader_end(lk, r->slot);
    ck_assert_uint_eq(own_registration(env), 0);

    /* After a commit the old id is no longer published: the renew goes
     * the long way and registers on the new one. */
    write_all(env, 1);
    ck_assert_int_eq(ldb__lock_reader_rejoin(lk, r->slot, id), 0);
    ck_assert_uint_eq(own_registration(env), 0);
    TU_RC_OK(ldb_txn_renew(r));
    ck_assert_uint_gt(ldb_txn_id(r), id);
    ck_assert_uint_eq(own_registration(env), ldb_txn_id(r));
    expect_gen(r, 1);
    ldb_txn_abort(r);
    ck_assert_uint_eq(own_registration(env), 0);

    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* Bytes the search of one get asked for ahead (ldb__btree_prefetched). */
static uint64_t prefetched_by_get(ldb_txn *txn, unsigned i)
{
    char k[32];
    ldb_val kv, v;
    key_of(k, sizeof k, i);
    kv.data = k;
    kv.size = strlen(k);
    uint64_t before = __atomic_load_n(&ldb__btree_prefetched, __ATOMIC_RELAXED);
    TU_RC_OK(ldb_get(txn, LDB_MAIN, &kv, &v));
    return __atomic_load_n(&ldb__btree_prefetched, __ATOMIC_RELAXED) - before;
}

/* n keys in a database of psize-byte pages; gets in a read txn ask for
 * the pages of the two lowest levels (the whole page, at most 4 KiB of it,
 * past the header line), a write txn's for none of them, and neither does
 * a scan. */
static void expect_low_levels_prefetched(unsigned psize, unsigned n, unsigned want_depth)
{
    const char *dir = tu_tmpdir();
    ldb_options o;
    memset(&o, 0, sizeof o);
    o.page_size = psize;
    ldb_env *env = tu_open(tu_path(dir, "p.db"), &o);
    ldb_txn *load = tu_begin(env, 0);
    char k[32], val[96];
    for (unsigned i = 0; i < n; i++) {
        key_of(k, sizeof k, i);
        val_of(val, sizeof val, i, 0);
        tu_put_str(load, LDB_MAIN, k, val);
    }
    TU_RC_OK(ldb_txn_commit(load));
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_tree_stat st;
    TU_RC_OK(ldb_dbi_stat(r, LDB_MAIN, &st));
    ck_assert_uint_eq(st.depth, want_depth);
    uint64_t span = (psize < 4096 ? psize : 4096) - 64;
    uint64_t levels = want_depth < 2 ? want_depth : 2;
    for (unsigned i = 0; i < n; i += 97)
        ck_assert_uint_eq(prefetched_by_get(r, i), levels * span);
    uint64_t before = __atomic_load_n(&ldb__btree_prefetched, __ATOMIC_RELAXED);
    ldb_cursor *c;
    ldb_val ck, cv;
    unsigned seen = 0;
    TU_RC_OK(ldb_cursor_open(r, LDB_MAIN, &c));
    while (ldb_cursor_get(c, &ck, &cv, LDB_NEXT) == 0)
        seen++;
    ldb_cursor_close(c);
    ck_assert_uint_eq(seen, n);
    ck_assert_uint_eq(__atomic_load_n(&ldb__btree_prefetched, __ATOMIC_RELAXED), before);
    ldb_txn_abort(r);
    ldb_txn *w = tu_begin(env, 0);
    for (unsigned i = 0; i < n; i += 97)
        ck_assert_uint_eq(prefetched_by_get(w, i), 0);
    ldb_txn_abort(w);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}

START_TEST(test_low_levels_prefetched)
{
    expect_low_levels_prefetched(4096, 40000, 3); /* root, branches, leaves */
    expect_low_levels_prefetched(65536, NKEYS, 2); /* a root over leaves */
    expect_low_levels_prefetched(4096, 20, 1);     /* a root leaf */
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

/* Leaf: its header says branch, so the header check refuses it. */
static void leaf_type_branch(uint8_t *page)
{
    struct page_header *h = (struct page_header *)(void *)page;
    h->type = ldb__to_le16(PAGE_BRANCH);
}

/* Build a database, damage every page of one type with fn, and expect
 * every get to answer LDB_CORRUPTED; and, unless want_prefetched is
 * negative, each get to ask for that many bytes ahead (prefetched_by_get). */
static void expect_gets_corrupted_prefetching(uint16_t type, damage_fn fn, long want_prefetched)
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
        uint64_t before = __atomic_load_n(&ldb__btree_prefetched, __ATOMIC_RELAXED);
        int rc = ldb_get(r, LDB_MAIN, &key, &val);
        ck_assert_msg(rc == LDB_CORRUPTED, "get %s: %s", k, ldb_strerror(rc));
        if (want_prefetched >= 0)
            ck_assert_uint_eq(__atomic_load_n(&ldb__btree_prefetched, __ATOMIC_RELAXED) - before,
                              (uint64_t)want_prefetched);
    }
    ldb_txn_abort(r);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}

static void expect_gets_corrupted(uint16_t type, damage_fn fn)
{
    expect_gets_corrupted_prefetching(type, fn, -1);
}

/* A page's header is checked before its lines are asked for: a get waits
 * for the header line first, not behind the page's 63 other lines, and a
 * page whose header is damaged is not asked for. In a tree of depth 2
 * (NKEYS keys: a root over leaves, both asked for whole), a get whose
 * leaf says it is a branch asks for the root's lines alone. */
START_TEST(test_damaged_header_not_prefetched)
{
    const char *dir = tu_tmpdir();
    ldb_env *env = tu_open(tu_path(dir, "d.db"), NULL);
    write_all(env, 0);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ck_assert_uint_eq(tu_tree_stat(r, LDB_MAIN).depth, 2);
    ldb_txn_abort(r);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
    expect_gets_corrupted_prefetching(PAGE_LEAF, leaf_type_branch, (long)PSIZE - 64);
}
END_TEST

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

/* ---- scans ----------------------------------------------------------- */

#define SCAN_KEYS 4000
#define SCAN_KLEN 150
#define SCAN_BIG 3000 /* past the inline limit of a 4 KiB page: overflow run */

/* Long keys, so that a few thousand make a tree of depth 3 or more. */
static size_t scan_key(uint8_t *buf, unsigned i)
{
    memset(buf, 'k', SCAN_KLEN);
    char num[16];
    snprintf(num, sizeof num, "%08u", i);
    memcpy(buf + SCAN_KLEN - 8, num, 8);
    return SCAN_KLEN;
}

/* Every 61st value is big (an overflow run), the rest inline. */
static size_t scan_val(uint8_t *buf, unsigned i)
{
    size_t len = i % 61 == 7 ? SCAN_BIG : 20 + i % 50;
    tu_fill_pattern(buf, len, 1000 + i);
    return len;
}

static void scan_expect_entry(const ldb_val *k, const ldb_val *v, unsigned i)
{
    uint8_t kb[SCAN_KLEN], vb[SCAN_BIG];
    size_t kl = scan_key(kb, i), vl = scan_val(vb, i);
    ck_assert_msg(k->size == kl && memcmp(k->data, kb, kl) == 0, "entry %u: wrong key", i);
    ck_assert_msg(v->size == vl && memcmp(v->data, vb, vl) == 0, "entry %u: wrong value", i);
}

/* Entries are written in a scrambled order, so leaves are not in file
 * order and are half to fully used, as after random puts. */
static ldb_env *scan_db(const char *path)
{
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *w = tu_begin(env, 0);
    uint8_t kb[SCAN_KLEN], vb[SCAN_BIG];
    for (unsigned j = 0; j < SCAN_KEYS; j++) {
        unsigned i = (j * 1543u) % SCAN_KEYS; /* 1543 is prime to 4000 */
        size_t kl = scan_key(kb, i), vl = scan_val(vb, i);
        tu_put_bytes(w, LDB_MAIN, kb, kl, vb, vl);
    }
    TU_RC_OK(ldb_txn_commit(w));
    tu_check_env(env);
    return env;
}

START_TEST(test_scan_every_entry)
{
    const char *dir = tu_tmpdir();
    ldb_env *env = scan_db(tu_path(dir, "d.db"));
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_tree_stat st = tu_tree_stat(r, LDB_MAIN);
    ck_assert_uint_ge(st.depth, 3); /* steps that climb one and two levels */
    ldb_cursor *c;
    TU_RC_OK(ldb_cursor_open(r, LDB_MAIN, &c));
    ldb_val k, v;
    unsigned n = 0;
    int rc;
    while ((rc = ldb_cursor_get(c, &k, &v, LDB_NEXT)) == 0)
        scan_expect_entry(&k, &v, n++);
    TU_RC_IS(rc, LDB_NOTFOUND);
    ck_assert_uint_eq(n, SCAN_KEYS);
    /* At the end the cursor stays on the last entry. */
    TU_RC_OK(ldb_cursor_get(c, &k, &v, LDB_CURRENT));
    scan_expect_entry(&k, &v, SCAN_KEYS - 1);
    /* Keys only, and values only, from the fast step too. */
    TU_RC_OK(ldb_cursor_get(c, &k, NULL, LDB_FIRST));
    for (unsigned i = 1; i < SCAN_KEYS; i++) {
        TU_RC_OK(ldb_cursor_get(c, i % 2 ? NULL : &k, i % 2 ? &v : NULL, LDB_NEXT));
        ldb_val cur_k, cur_v;
        TU_RC_OK(ldb_cursor_get(c, &cur_k, &cur_v, LDB_CURRENT));
        scan_expect_entry(&cur_k, &cur_v, i);
    }
    ldb_cursor_close(c);
    ldb_txn_abort(r);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* Forward from a seek to entry `from` up to entry `to`, then all the way
 * back: after leaf steps the path's upper levels must lead back. */
static void scan_turn(ldb_cursor *c, unsigned from, unsigned to)
{
    uint8_t kb[SCAN_KLEN];
    ldb_val key = {scan_key(kb, from), kb}, k, v;
    TU_RC_OK(ldb_cursor_get(c, &key, &v, LDB_SEEK));
    for (unsigned i = from + 1; i <= to; i++) {
        TU_RC_OK(ldb_cursor_get(c, &k, &v, LDB_NEXT));
        scan_expect_entry(&k, &v, i);
    }
    for (unsigned i = to; i-- > 0;) {
        TU_RC_OK(ldb_cursor_get(c, &k, &v, LDB_PREV));
        scan_expect_entry(&k, &v, i);
    }
    TU_RC_IS(ldb_cursor_get(c, &k, &v, LDB_PREV), LDB_NOTFOUND);
}

START_TEST(test_scan_turns_back)
{
    const char *dir = tu_tmpdir();
    ldb_env *env = scan_db(tu_path(dir, "d.db"));
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_cursor *c;
    TU_RC_OK(ldb_cursor_open(r, LDB_MAIN, &c));
    for (unsigned to = 1; to < SCAN_KEYS; to = to * 3 + 1)
        scan_turn(c, to / 2, to);
    scan_turn(c, 0, SCAN_KEYS - 1);
    ldb_cursor_close(c);
    ldb_txn_abort(r);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* Damage every page of the given type except the one holding the first
 * key, scan from the start in a read txn, and expect the good entries in
 * order, then LDB_CORRUPTED; *cur_rc: what LDB_CURRENT says after it
 * (the entry it is on, when the step failed before moving). */
static unsigned scan_until_damage(uint16_t type, damage_fn fn, int *cur_rc, unsigned *cur_at)
{
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "d.db");
    ldb_env *env = scan_db(path);
    TU_RC_OK(ldb_close(env));

    uint8_t first[SCAN_KLEN];
    scan_key(first, 0);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t page[PSIZE];
    unsigned damaged = 0;
    for (off_t off = 0; pread(fd, page, PSIZE, off) == (ssize_t)PSIZE; off += PSIZE) {
        struct page_header *h = (struct page_header *)(void *)page;
        if (off < 2 * (off_t)PSIZE || ldb__le16(h->type) != type || ldb__le16(h->count) == 0 ||
            (type == PAGE_LEAF && memmem(page, PSIZE, first, sizeof first) != NULL))
            continue;
        fn(page);
        ck_assert_int_eq(pwrite(fd, page, PSIZE, off), (ssize_t)PSIZE);
        damaged++;
    }
    close(fd);
    ck_assert_uint_gt(damaged, 0);

    env = tu_open(path, NULL);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_cursor *c;
    TU_RC_OK(ldb_cursor_open(r, LDB_MAIN, &c));
    ldb_val k, v;
    unsigned n = 0;
    int rc;
    while ((rc = ldb_cursor_get(c, &k, &v, LDB_NEXT)) == 0)
        scan_expect_entry(&k, &v, n++);
    ck_assert_msg(rc == LDB_CORRUPTED, "after %u entries: %s", n, ldb_strerror(rc));
    *cur_rc = ldb_cursor_get(c, &k, &v, LDB_CURRENT);
    *cur_at = SCAN_KEYS;
    for (unsigned i = 0; *cur_rc == 0 && i < n; i++) {
        uint8_t kb[SCAN_KLEN];
        if (k.size == scan_key(kb, i) && memcmp(k.data, kb, k.size) == 0)
            *cur_at = i;
    }
    /* Asked again, the scan still refuses (no step past the damage). */
    TU_RC_IS(ldb_cursor_get(c, &k, &v, LDB_NEXT), LDB_CORRUPTED);
    ldb_cursor_close(c);
    ldb_txn_abort(r);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
    return n;
}

/* Leaf: the page count is 0, which no leaf of a tree may have. */
static void leaf_emptied(uint8_t *page)
{
    struct page_header *h = (struct page_header *)(void *)page;
    h->count = ldb__to_le16(0);
}

/* Branch: every child pointer but the first names a page past any file's
 * end (so the descent to the first leaf works, and the first step from
 * one leaf to the next, and the look ahead at it, meet the damage). */
static void branch_child_far(uint8_t *page)
{
    struct page_header *h = (struct page_header *)(void *)page;
    struct page_slot *slots = (struct page_slot *)(void *)(page + PAGE_HEADER_SIZE);
    for (unsigned i = 1; i < ldb__le16(h->count); i++) {
        uint32_t off = ldb__le32(slots[i].offset);
        if (off + BRANCH_NODE_HEADER <= PSIZE)
            ldb__st_le64(page + off, (uint64_t)1 << 40);
    }
}

START_TEST(test_scan_damaged_node)
{
    int cur_rc;
    unsigned at, n = scan_until_damage(PAGE_LEAF, leaf_key_too_long, &cur_rc, &at);
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_lt(n, SCAN_KEYS);
    /* The step reached the damaged leaf; its nodes stay unreadable. */
    TU_RC_IS(cur_rc, LDB_CORRUPTED);
}
END_TEST

START_TEST(test_scan_damaged_leaf_header)
{
    int cur_rc;
    unsigned at, n = scan_until_damage(PAGE_LEAF, leaf_emptied, &cur_rc, &at);
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_lt(n, SCAN_KEYS);
    /* The step failed on fetching the leaf: the cursor did not move. */
    TU_RC_OK(cur_rc);
    ck_assert_uint_eq(at, n - 1);
}
END_TEST

START_TEST(test_scan_damaged_child_pointer)
{
    int cur_rc;
    unsigned at, n = scan_until_damage(PAGE_BRANCH, branch_child_far, &cur_rc, &at);
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_lt(n, SCAN_KEYS);
    TU_RC_OK(cur_rc);
    ck_assert_uint_eq(at, n - 1);
}
END_TEST

static Suite *readpath_suite(void)
{
    Suite *s = suite_create("readpath");
    TCase *tc = tcase_create("renew");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_renew_quiet_registers);
    tcase_add_test(tc, test_rejoin_only_published);
    tcase_add_test(tc, test_low_levels_prefetched);
    suite_add_tcase(s, tc);
    tc = tcase_create("damage");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_damaged_branch_key);
    tcase_add_test(tc, test_damaged_leaf_key);
    tcase_add_test(tc, test_damaged_leaf_offset);
    tcase_add_test(tc, test_damaged_header_not_prefetched);
    suite_add_tcase(s, tc);
    tc = tcase_create("scan");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_scan_every_entry);
    tcase_add_test(tc, test_scan_turns_back);
    tcase_add_test(tc, test_scan_damaged_node);
    tcase_add_test(tc, test_scan_damaged_leaf_header);
    tcase_add_test(tc, test_scan_damaged_child_pointer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {readpath_suite()};
    return tu_run_suites(suites, 1);
}
