/* SPDX-License-Identifier: MIT */
/* Unit tests of CRC32C: known vectors, and hardware == software everywhere. */
#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "testutil.h"

START_TEST(known_vectors)
{
    /* The standard check value of CRC-32C over "123456789". */
    ck_assert_uint_eq(ldb__crc32c(0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(ldb__crc32c_sw(0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(ldb__crc32c(0, "", 0), 0);
    /* 32 zero bytes (RFC 3720, B.4). */
    unsigned char zeros[32] = {0};
    ck_assert_uint_eq(ldb__crc32c(0, zeros, sizeof zeros), 0x8A9136AAu);
    unsigned char ones[32];
    memset(ones, 0xff, sizeof ones);
    ck_assert_uint_eq(ldb__crc32c(0, ones, sizeof ones), 0x62A8AB43u);
}
END_TEST

START_TEST(hw_matches_sw_all_lengths_and_alignments)
{
    unsigned char buf[4200];
    uint64_t s = 42;
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)tu_rand(&s);
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len + off <= sizeof buf; len += (len < 64 ? 1 : 97)) {
            uint32_t sw = ldb__crc32c_sw(0, buf + off, len);
            ck_assert_uint_eq(ldb__crc32c(0, buf + off, len), sw);
            ck_assert_uint_eq(ldb__crc32c_hw_serial(0, buf + off, len), sw);
            ck_assert_uint_eq(ldb__crc32c_fold128(0, buf + off, len), sw);
        }
}
END_TEST

/* The folding path takes over at 64 bytes, handles 16-byte lanes after the
 * 64-byte rounds, and folds a running CRC into its first lane; the wide one
 * (where the CPU has it) takes over at 128 bytes, with 32-byte lanes after
 * its 128-byte rounds, then 16-byte ones: every length around those
 * boundaries, continuing from a non-zero CRC, on every path. */
START_TEST(fast_path_boundaries_with_running_crc)
{
    unsigned char buf[600];
    uint64_t s = 9;
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)tu_rand(&s);
    for (size_t len = 0; len <= 300; len++) {
        uint32_t start = 0xDEADBEEFu ^ (uint32_t)len;
        uint32_t sw = ldb__crc32c_sw(start, buf + 1, len);
        ck_assert_uint_eq(ldb__crc32c(start, buf + 1, len), sw);
        ck_assert_uint_eq(ldb__crc32c_hw_serial(start, buf + 1, len), sw);
        ck_assert_uint_eq(ldb__crc32c_fold128(start, buf + 1, len), sw);
    }
}
END_TEST

START_TEST(incremental_equals_whole)
{
    unsigned char buf[1000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 7);
    uint32_t whole = ldb__crc32c(0, buf, sizeof buf);
    for (size_t cut = 0; cut <= sizeof buf; cut += 37)
        ck_assert_uint_eq(ldb__crc32c(ldb__crc32c(0, buf, cut), buf + cut, sizeof buf - cut), whole);
}
END_TEST

START_TEST(detects_every_single_bit_flip)
{
    unsigned char page[4096];
    uint64_t s = 7;
    for (size_t i = 0; i < sizeof page; i++)
        page[i] = (unsigned char)tu_rand(&s);
    uint32_t good = ldb__crc32c(0, page, sizeof page);
    for (size_t bit = 0; bit < sizeof page * 8; bit += 13) {
        page[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        ck_assert_uint_ne(ldb__crc32c(0, page, sizeof page), good);
        page[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checksum");
    TCase *tc = tcase_create("crc32c");
    tcase_set_timeout(tc, 120); /* slower under ASan or a loaded machine */
    tcase_add_test(tc, known_vectors);
    tcase_add_test(tc, hw_matches_sw_all_lengths_and_alignments);
    tcase_add_test(tc, fast_path_boundaries_with_running_crc);
    tcase_add_test(tc, incremental_equals_whole);
    tcase_add_test(tc, detects_every_single_bit_flip);
    suite_add_tcase(s, tc);
    return tu_run_suites(&s, 1);
}
