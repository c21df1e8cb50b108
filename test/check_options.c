/* SPDX-License-Identifier: MIT */
/*
 * ldb_options_parse (issue 13): every key, every unit, bad keys and values,
 * overflow, all-or-nothing, a caller's smaller (0.1.0-sized) struct, and
 * text that opens a database with what it says.
 */
#include "testutil.h"

#include <stddef.h>
#include <string.h>

static ldb_options parse_ok(const char *text)
{
    ldb_options o;
    char err[200] = "x";
    memset(&o, 0, sizeof o);
    int rc = ldb_options_parse(&o, text, err, sizeof err);
    TU_REQUIRE(rc == 0, "'%s' -> %d: %s", text, rc, err);
    TU_REQUIRE(err[0] == '\0', "message on success: %s", err);
    return o;
}

/* text must be refused, with a message that contains want. */
static void parse_bad(const char *text, const char *want)
{
    ldb_options o, before;
    char err[200];
    memset(&o, 0, sizeof o);
    o.max_readers = 77;
    before = o;
    int rc = ldb_options_parse(&o, text, err, sizeof err);
    TU_REQUIRE(rc == LDB_INVALID, "'%s' -> %d, want LDB_INVALID", text, rc);
    TU_REQUIRE(strstr(err, want) != NULL, "'%s': message '%s' lacks '%s'", text, err, want);
    TU_REQUIRE(memcmp(&o, &before, sizeof o) == 0, "'%s' changed the options", text);
}

START_TEST(test_every_key)
{
    ldb_options o = parse_ok("sync_mode=off,page_size=8KiB,max_size=2GiB,cache_size=256MiB,"
                             "compression=zstd:3,max_readers=512,max_dbs=9,"
                             "wal_max_bytes=16MiB,file_mode=0600,nocreate=1");
    ck_assert_int_eq(o.sync_mode, LDB_SYNC_OFF);
    ck_assert_uint_eq(o.page_size, 8192);
    ck_assert_uint_eq(o.max_size, 2ull << 30);
    ck_assert_uint_eq(o.cache_size, 256u << 20);
    ck_assert_int_eq(o.compression, LDB_COMPRESS_ZSTD);
    ck_assert_int_eq(o.compression_level, 3);
    ck_assert_uint_eq(o.max_readers, 512);
    ck_assert_uint_eq(o.max_dbs, 9);
    ck_assert_uint_eq(o.wal_max_bytes, 16u << 20);
    ck_assert_uint_eq(o.file_mode, 0600);
    ck_assert_uint_eq(o.flags, LDB_NOCREATE);
    o = parse_ok(" rdonly = 1 \n immutable=yes,compression=lz4, compression_level=-5 ");
    ck_assert_uint_eq(o.flags, LDB_RDONLY | LDB_IMMUTABLE);
    ck_assert_int_eq(o.compression, LDB_COMPRESS_LZ4);
    ck_assert_int_eq(o.compression_level, -5);
    /* A codec without ":LEVEL" takes its default level: never NONE with a
     * level left over, which ldb_open() would refuse. */
    o = parse_ok("compression=zstd:-7,sync_mode=full,compression=none");
    ck_assert_int_eq(o.compression, LDB_COMPRESS_NONE);
    ck_assert_int_eq(o.compression_level, 0);
    ck_assert_int_eq(o.sync_mode, LDB_SYNC_FULL);
    o = parse_ok("compression=zstd:9,compression=lz4");
    ck_assert_int_eq(o.compression, LDB_COMPRESS_LZ4);
    ck_assert_int_eq(o.compression_level, 0);
    o = parse_ok("");
    ck_assert_uint_eq(o.flags, 0);
}
END_TEST

START_TEST(test_units)
{
    static const struct {
        const char *text;
        uint64_t want;
    } cases[] = {
        {"max_size=4096", 4096},           {"max_size=512B", 512},
        {"max_size=4k", 4096},             {"max_size=4K", 4096},
        {"max_size=4KiB", 4096},           {"max_size=4KB", 4000},
        {"max_size=3M", 3u << 20},         {"max_size=3MiB", 3u << 20},
        {"max_size=3MB", 3000000},         {"max_size=5G", 5ull << 30},
        {"max_size=5GiB", 5ull << 30},     {"max_size=5GB", 5000000000ull},
        {"max_size=2T", 2ull << 40},       {"max_size=2TiB", 2ull << 40},
        {"max_size=2TB", 2000000000000ull}, {"max_size=16777215TiB", 16777215ull << 40},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ldb_options o = parse_ok(cases[i].text);
        TU_REQUIRE(o.max_size == cases[i].want, "%s -> %llu", cases[i].text,
                   (unsigned long long)o.max_size);
    }
}
END_TEST

START_TEST(test_bad_input)
{
    parse_bad("cache_sise=1MiB", "unknown option 'cache_sise'");
    parse_bad("sync_mode", "expected key=value");
    parse_bad("sync_mode=sometimes", "sync_mode: bad value 'sometimes'");
    parse_bad("cache_size=12XB", "cache_size: bad value '12XB'");
    parse_bad("cache_size=", "cache_size: bad value ''");
    parse_bad("cache_size=-1", "cache_size: bad value '-1'");
    parse_bad("max_size=5 5", "max_size: bad value '5 5'");
    parse_bad("max_size=18446744073709551616", "max_size: '18446744073709551616' is too large");
    parse_bad("max_size=16777216TiB", "too large");
    parse_bad("max_readers=4294967296", "max_readers: '4294967296' is too large");
    parse_bad("max_readers=1k", "max_readers: bad value '1k'");
    parse_bad("file_mode=0800", "file_mode: bad value '0800'");
    parse_bad("file_mode=17777", "file_mode: bad value '17777'");
    parse_bad("compression=brotli", "compression: bad value 'brotli'");
    parse_bad("compression=zstd:", "compression: bad value 'zstd:'");
    parse_bad("compression=none:3", "compression: bad value 'none:3'");
    parse_bad("compression=zstd:x", "bad value");
    parse_bad("rdonly=maybe", "rdonly: bad value 'maybe'");
    /* all or nothing: a good item before a bad one is not applied */
    parse_bad("max_readers=5,bogus=1", "unknown option 'bogus'");
    char long_item[400];
    memset(long_item, 'a', sizeof long_item - 1);
    long_item[sizeof long_item - 1] = '\0';
    parse_bad(long_item, "too long");
    ldb_options o;
    memset(&o, 0, sizeof o);
    TU_RC_IS(ldb_options_parse(NULL, "a=1", NULL, 0), LDB_INVALID);
    TU_RC_IS(ldb_options_parse(&o, NULL, NULL, 0), LDB_INVALID);
    TU_RC_IS(ldb_options_parse(&o, "bogus=1", NULL, 0), LDB_INVALID);
}
END_TEST

/* A caller built against 0.1.0's header: its struct ends at file_mode. */
START_TEST(test_old_struct_size)
{
    size_t old = offsetof(ldb_options, file_mode) + sizeof(unsigned);
    unsigned char buf[sizeof(ldb_options) + 16];
    memset(buf, 0xA5, sizeof buf);
    memset(buf, 0, old);
    char err[100];
    TU_RC_OK(ldb_options_parse_sized((ldb_options *)(void *)buf, old, "max_readers=9", err,
                                     sizeof err));
    ldb_options got;
    memcpy(&got, buf, sizeof got < old ? sizeof got : old);
    ck_assert_uint_eq(got.max_readers, 9);
    for (size_t i = old; i < sizeof buf; i++)
        TU_REQUIRE(buf[i] == 0xA5, "byte %zu past the caller's struct was written", i);
    TU_RC_IS(ldb_options_parse_sized((ldb_options *)(void *)buf, old - 1, "max_dbs=1", err,
                                     sizeof err),
             LDB_INVALID);
}
END_TEST

START_TEST(test_opens_with_them)
{
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o;
    memset(&o, 0, sizeof o);
    TU_RC_OK(ldb_options_parse(&o, "page_size=16KiB,max_readers=7,sync_mode=off", NULL, 0));
    ldb_env *env = tu_open(path, &o);
    ldb_stat st = tu_env_stat(env);
    ck_assert_uint_eq(st.page_size, 16384);
    ck_assert_uint_eq(st.readers_max, 7);
    ldb_txn *txn = tu_begin(env, 0);
    tu_put_str(txn, LDB_MAIN, "k", "v");
    TU_RC_OK(ldb_txn_commit(txn));
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    /* a value that parses but is out of range: ldb_open says so */
    memset(&o, 0, sizeof o);
    TU_RC_OK(ldb_options_parse(&o, "page_size=5000", NULL, 0));
    ldb_env *bad = NULL;
    TU_RC_IS(ldb_open(path, &o, &bad), LDB_INVALID);
    tu_remove_dir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("options");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_every_key);
    tcase_add_test(tc, test_units);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_old_struct_size);
    tcase_add_test(tc, test_opens_with_them);
    suite_add_tcase(s, tc);
    return tu_run_suites(&s, 1);
}
