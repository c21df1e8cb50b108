/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the page layout: hinted search against a linear scan,
 * inserts and removes keeping order and hints, and bounds checks that turn
 * damaged slots and nodes into LDB_CORRUPTED.
 */
#include <stdlib.h>
#include <string.h>

#include "page.h"
#include "testutil.h"

#define PS 4096u

static int cmp_keys(const uint8_t *a, uint32_t al, const uint8_t *b, uint32_t bl)
{
    return ldb__key_cmp(a, al, b, bl);
}

/* Fill a leaf with keys sharing a long prefix, in random insertion order. */
static unsigned fill_leaf(uint8_t *p, uint64_t seed, const char *prefix)
{
    ldb__page_init(p, PS, PAGE_LEAF, 1);
    uint64_t s = seed;
    unsigned n = 0;
    for (int tries = 0; tries < 400; tries++) {
        char key[64];
        int len = snprintf(key, sizeof key, "%s%llu", prefix,
                           (unsigned long long)(tu_rand(&s) % 100000));
        unsigned idx;
        int exact;
        ck_assert_int_eq(ldb__page_search(p, PS, (const uint8_t *)key, (uint32_t)len, &idx, &exact), 0);
        if (exact)
            continue;
        uint32_t need = ldb__leaf_node_size((uint32_t)len, 8, 0) + 8;
        if (ldb__page_room(p) < need)
            break;
        ldb__page_insert_leaf(p, PS, idx, (const uint8_t *)key, (uint32_t)len, "valuexyz", 8, 0);
        n++;
    }
    return n;
}

START_TEST(search_matches_linear_scan)
{
    uint8_t *p = aligned_alloc(4096, PS);
    const char *prefixes[] = {"", "user:", "0000000000", "a", "zzzzzzzzzzzzzzzzzzzzzzzz"};
    for (int pi = 0; pi < 5; pi++) {
        unsigned n = fill_leaf(p, 100 + (uint64_t)pi, prefixes[pi]);
        ck_assert_uint_gt(n, 10);
        ck_assert_int_eq(ldb__page_validate(p, PS), 0);
        uint64_t s = 999;
        for (int q = 0; q < 2000; q++) {
            char key[64];
            int len;
            if (q % 3 == 0)
                len = snprintf(key, sizeof key, "%s%llu", prefixes[pi],
                               (unsigned long long)(tu_rand(&s) % 100000));
            else
                len = snprintf(key, sizeof key, "%.*s%llu", (int)(tu_rand(&s) % 8), prefixes[pi],
                               (unsigned long long)(tu_rand(&s) % 1000));
            if (len == 0)
                continue;
            unsigned idx;
            int exact;
            ck_assert_int_eq(ldb__page_search(p, PS, (const uint8_t *)key, (uint32_t)len, &idx, &exact), 0);
            unsigned want = 0;
            int want_exact = 0;
            for (; want < ldb__le16(PAGE_HDR(p)->count); want++) {
                struct page_node nd;
                ck_assert_int_eq(ldb__page_node(p, PS, want, &nd), 0);
                int c = cmp_keys(nd.key, nd.key_size, (const uint8_t *)key, (uint32_t)len);
                if (c >= 0) {
                    want_exact = c == 0;
                    break;
                }
            }
            ck_assert_uint_eq(idx, want);
            ck_assert_int_eq(exact, want_exact);
        }
    }
    free(p);
}
END_TEST

/* The page prefix is the bytes all keys share, exactly, wherever the keys
 * first differ: before, inside and after each 8-byte word compared at once,
 * and where one key is a prefix of the other. */
START_TEST(prefix_is_exact_at_every_length)
{
    uint8_t *p = aligned_alloc(4096, PS);
    for (uint32_t shared = 0; shared <= 26; shared++) {
        for (int kind = 0; kind < 3; kind++) {
            uint8_t a[40], b[40];
            for (uint32_t i = 0; i < sizeof a; i++)
                a[i] = b[i] = (uint8_t)('a' + i % 26);
            uint32_t alen = shared + 5, blen = shared + 3;
            if (kind == 0) {
                b[shared] = (uint8_t)(a[shared] + 1); /* b > a */
            } else if (kind == 1) {
                a[shared] = (uint8_t)(b[shared] + 0x80); /* a > b, high bit */
            } else if (shared > 0) {
                blen = shared; /* b is a prefix of a (keys are never empty) */
            } else {
                continue;
            }
            int b_first = ldb__key_cmp(b, blen, a, alen) < 0;
            ldb__page_init(p, PS, PAGE_LEAF, 1);
            /* The larger key first, then the smaller before it. */
            ldb__page_insert_leaf(p, PS, 0, b_first ? a : b, b_first ? alen : blen, "v", 1, 0);
            ldb__page_insert_leaf(p, PS, 0, b_first ? b : a, b_first ? blen : alen, "v", 1, 0);
            ck_assert_uint_eq(ldb__le16(PAGE_HDR(p)->prefix_len), shared);
            ck_assert_msg(ldb__page_validate(p, PS) == 0, "shared %u kind %d", shared, kind);
            unsigned idx;
            int exact;
            ck_assert_int_eq(ldb__page_search(p, PS, a, alen, &idx, &exact), 0);
            ck_assert_int_eq(exact, 1);
            ck_assert_uint_eq(idx, b_first ? 1 : 0);
        }
    }
    free(p);
}
END_TEST

START_TEST(remove_keeps_order_and_heap)
{
    uint8_t *p = aligned_alloc(4096, PS);
    unsigned n = fill_leaf(p, 5, "key-");
    uint64_t s = 3;
    while (n > 0) {
        unsigned idx = (unsigned)(tu_rand(&s) % n);
        uint32_t room_before = ldb__page_room(p);
        struct page_node nd;
        ck_assert_int_eq(ldb__page_node(p, PS, idx, &nd), 0);
        uint32_t size = nd.node_size;
        ldb__page_remove(p, PS, idx);
        n--;
        ck_assert_uint_eq(ldb__le16(PAGE_HDR(p)->count), n);
        ck_assert_uint_eq(ldb__page_room(p), room_before + size + 8);
        ck_assert_int_eq(ldb__page_validate(p, PS), 0);
    }
    ck_assert_uint_eq(ldb__page_used(p, PS), 0);
    free(p);
}
END_TEST

START_TEST(branch_routing)
{
    uint8_t *p = aligned_alloc(4096, PS);
    ldb__page_init(p, PS, PAGE_BRANCH, 1);
    ldb__page_insert_branch(p, PS, 0, NULL, 0, 100);
    ldb__page_insert_branch(p, PS, 1, (const uint8_t *)"m", 1, 101);
    ldb__page_insert_branch(p, PS, 2, (const uint8_t *)"t", 1, 102);
    ck_assert_int_eq(ldb__page_validate(p, PS), 0);
    struct { const char *k; unsigned child; } cases[] = {
        {"a", 0}, {"l", 0}, {"lzzz", 0}, {"m", 1}, {"m\x01", 1}, {"s", 1}, {"t", 2}, {"zz", 2}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned idx;
        ck_assert_int_eq(ldb__branch_route(p, PS, (const uint8_t *)cases[i].k,
                                           (uint32_t)strlen(cases[i].k), &idx), 0);
        ck_assert_msg(idx == cases[i].child, "%s routed to %u", cases[i].k, idx);
    }
    free(p);
}
END_TEST

/* A branch page whose keys share a prefix: every key routes to the child
 * a linear scan picks, those that do not share the prefix (shorter, or
 * differing inside it, on either side) included. The search checks the
 * prefix last, on the node it routes to, so the hint search before it
 * runs on keys it does not apply to: its answer must not leak out. */
START_TEST(branch_search_matches_linear_scan)
{
    uint8_t *p = aligned_alloc(4096, PS);
    const char *prefixes[] = {"user:", "0000000000", "m"};
    for (int pi = 0; pi < 3; pi++) {
        ldb__page_init(p, PS, PAGE_BRANCH, 1);
        ldb__page_insert_branch(p, PS, 0, NULL, 0, 1000);
        unsigned n = 1;
        for (unsigned i = 1; i < 150; i++) {
            char key[64];
            int len = snprintf(key, sizeof key, "%s%05u", prefixes[pi], 100 + 37 * i);
            if (ldb__page_room(p) < ldb__branch_node_size((uint32_t)len) + 8)
                break;
            ldb__page_insert_branch(p, PS, n, (const uint8_t *)key, (uint32_t)len, 1000 + n);
            n++;
        }
        ck_assert_uint_gt(n, 50);
        ck_assert_int_eq(ldb__page_validate(p, PS), 0);
        ck_assert_uint_eq(ldb__le16(PAGE_HDR(p)->prefix_len), strlen(prefixes[pi]) + 1);
        uint64_t s = 77;
        for (int q = 0; q < 3000; q++) {
            char key[64];
            int len;
            if (q % 3 == 0) /* shares the prefix */
                len = snprintf(key, sizeof key, "%s%05llu", prefixes[pi],
                               (unsigned long long)(tu_rand(&s) % 7000));
            else if (q % 3 == 1) /* a cut prefix: shorter, or sorting before it */
                len = snprintf(key, sizeof key, "%.*s%llu", (int)(tu_rand(&s) % 6), prefixes[pi],
                               (unsigned long long)(tu_rand(&s) % 100000));
            else /* the prefix with one byte changed: before or after the page */
                len = snprintf(key, sizeof key, "%s%05llu", prefixes[pi],
                               (unsigned long long)(tu_rand(&s) % 7000));
            if (q % 3 == 2)
                key[tu_rand(&s) % strlen(prefixes[pi])] ^= (char)(1 + tu_rand(&s) % 0x7e);
            if (len == 0)
                continue;
            unsigned idx;
            ck_assert_int_eq(ldb__branch_route(p, PS, (const uint8_t *)key, (uint32_t)len, &idx),
                             0);
            unsigned want = 0; /* the last child whose separator is <= key */
            for (unsigned i = 1; i < n; i++) {
                struct page_node nd;
                ck_assert_int_eq(ldb__page_node(p, PS, i, &nd), 0);
                if (cmp_keys(nd.key, nd.key_size, (const uint8_t *)key, (uint32_t)len) <= 0)
                    want = i;
            }
            ck_assert_msg(idx == want, "%.*s routed to %u, not %u", len, key, idx, want);
        }
        /* The node the prefix is checked on (the one routed to), damaged:
         * its key shorter than the prefix. */
        char key[64];
        int len = snprintf(key, sizeof key, "%s%05u", prefixes[pi], 100 + 37 * 20 + 1);
        uint8_t *node = p + ldb__le32(PAGE_SLOTS(p)[20].offset);
        uint16_t tiny = 0;
        memcpy(node + 8, &tiny, 2);
        unsigned idx;
        ck_assert_int_eq(ldb__branch_route(p, PS, (const uint8_t *)key, (uint32_t)len, &idx),
                         LDB_CORRUPTED);
    }
    free(p);
}
END_TEST

START_TEST(damaged_slots_are_caught)
{
    uint8_t *p = aligned_alloc(4096, PS);
    unsigned n = fill_leaf(p, 9, "k");
    ck_assert_uint_gt(n, 2);
    struct page_node nd;
    /* An offset pointing past the page. */
    uint32_t saved = ldb__le32(PAGE_SLOTS(p)[1].offset);
    PAGE_SLOTS(p)[1].offset = ldb__to_le32(PS - 2);
    ck_assert_int_eq(ldb__page_node(p, PS, 1, &nd), LDB_CORRUPTED);
    ck_assert_int_eq(ldb__page_validate(p, PS), LDB_CORRUPTED);
    /* An offset into the slot array. */
    PAGE_SLOTS(p)[1].offset = ldb__to_le32(8);
    ck_assert_int_eq(ldb__page_node(p, PS, 1, &nd), LDB_CORRUPTED);
    PAGE_SLOTS(p)[1].offset = ldb__to_le32(saved);
    ck_assert_int_eq(ldb__page_validate(p, PS), 0);
    /* A key size running past the page. */
    uint8_t *node = p + ldb__le32(PAGE_SLOTS(p)[0].offset);
    uint16_t ks;
    memcpy(&ks, node, 2);
    uint16_t huge = 0xffff;
    memcpy(node, &huge, 2);
    ck_assert_int_eq(ldb__page_node(p, PS, 0, &nd), LDB_CORRUPTED);
    memcpy(node, &ks, 2);
    /* A slot count larger than the page can hold. */
    uint16_t count = ldb__le16(PAGE_HDR(p)->count);
    PAGE_HDR(p)->count = ldb__to_le16(5000);
    ck_assert_int_eq(ldb__page_check_header(p, PS, PAGE_LEAF), LDB_CORRUPTED);
    PAGE_HDR(p)->count = ldb__to_le16(count);
    /* Wrong type. */
    ck_assert_int_eq(ldb__page_check_header(p, PS, PAGE_BRANCH), LDB_CORRUPTED);
    /* Keys out of order are caught by validation. */
    PAGE_SLOTS(p)[0].offset = PAGE_SLOTS(p)[1].offset;
    ck_assert_int_eq(ldb__page_validate(p, PS), LDB_CORRUPTED);
    free(p);
}
END_TEST

START_TEST(checksum_seal_and_verify)
{
    uint8_t *p = aligned_alloc(4096, PS);
    fill_leaf(p, 11, "x");
    ldb__page_seal(p, PS);
    ck_assert(ldb__page_checksum_ok(p, PS));
    p[PS - 1] ^= 1;
    ck_assert(!ldb__page_checksum_ok(p, PS));
    free(p);
}
END_TEST

START_TEST(limits_follow_page_size)
{
    for (uint32_t ps = 4096; ps <= 65536; ps *= 2) {
        ck_assert_uint_ge(ldb__key_max(ps), 511);
        /* Four maximal nodes with their slots fit in one page. */
        ck_assert_uint_le(4 * (ldb__node_max(ps) + 8), ps - PAGE_HEADER_SIZE);
    }
}
END_TEST

/* Keys whose 4 hint bytes are all 0xff share the largest hint: the search
 * must take the whole run of them (the run's end cannot be found as "the
 * first hint above", there is none), and a damaged node inside the run
 * still gives LDB_CORRUPTED. */
START_TEST(search_runs_of_the_largest_hint)
{
    uint8_t *p = aligned_alloc(4096, PS);
    ldb__page_init(p, PS, PAGE_LEAF, 1);
    uint8_t key[8] = {'a'};
    ldb__page_insert_leaf(p, PS, 0, key, 1, "v", 1, 0); /* no page prefix */
    memset(key, 0xff, 4);
    for (unsigned i = 0; i < 40; i++) {
        key[4] = (uint8_t)(2 * i + 1);
        ldb__page_insert_leaf(p, PS, 1 + i, key, 5, "v", 1, 0);
    }
    ck_assert_int_eq(ldb__page_validate(p, PS), 0);
    unsigned idx;
    int exact;
    for (unsigned t = 0; t <= 80; t++) {
        key[4] = (uint8_t)t;
        ck_assert_int_eq(ldb__page_search(p, PS, key, 5, &idx, &exact), 0);
        ck_assert_int_eq(exact, t % 2);
        ck_assert_uint_eq(idx, 1 + t / 2);
    }
    ck_assert_int_eq(ldb__page_search(p, PS, key, 4, &idx, &exact), 0);
    ck_assert_int_eq(exact, 0);
    ck_assert_uint_eq(idx, 1);
    /* A key size running past the page, in the middle of the run. */
    uint8_t *node = p + ldb__le32(PAGE_SLOTS(p)[20].offset);
    uint16_t huge = 0xffff;
    memcpy(node, &huge, 2);
    key[4] = 39;
    ck_assert_int_eq(ldb__page_search(p, PS, key, 5, &idx, &exact), LDB_CORRUPTED);
    free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("page");
    TCase *tc = tcase_create("layout");
    /* The randomized search comparison takes a second alone, more under ASan
     * or beside other builds: Check's 4 s default is too tight. */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, search_matches_linear_scan);
    tcase_add_test(tc, remove_keeps_order_and_heap);
    tcase_add_test(tc, prefix_is_exact_at_every_length);
    tcase_add_test(tc, branch_routing);
    tcase_add_test(tc, branch_search_matches_linear_scan);
    tcase_add_test(tc, damaged_slots_are_caught);
    tcase_add_test(tc, search_runs_of_the_largest_hint);
    tcase_add_test(tc, checksum_seal_and_verify);
    tcase_add_test(tc, limits_follow_page_size);
    suite_add_tcase(s, tc);
    return tu_run_suites(&s, 1);
}
