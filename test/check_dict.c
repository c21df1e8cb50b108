/* SPDX-License-Identifier: MIT */
/*
 * check_dict: zstd dictionaries per tree (ldb_dbi_train_dict, dict.c).
 *
 *  shrink   small values (200-byte JSON records, log lines) that zstd
 *           barely compresses alone shrink with a trained dictionary
 *           (ldb_dbi_compress_stat's bytes); get and cursors both ways, in
 *           the writing txn and after; reopened with zstd, LZ4 and none;
 *  retrain  a second dictionary gets the next id, values of both read, a
 *           training in an aborted txn leaves nothing behind (its id is
 *           given again, to other bytes, and reads right);
 *  args     refusals: a read txn, sizes out of range, too few values, the
 *           reserved tree's name; ldb_dbi_list does not show it;
 *  copies   ldb_backup (page copy and compact) carries the dictionaries;
 *  replay   a writer that trains and commits, then dies (no close): the
 *           log brings dictionary and values back; one that dies before
 *           its commit leaves none;
 *  damage   a damaged dictionary (checksum sealed again) and a value naming
 *           an id no dictionary has give LDB_CORRUPTED and ldb_check
 *           findings, never a crash.
 *  missing  (a build without zstd, which skips every case above, saying
 *           so): training is refused with LDB_INVALID, and a value that
 *           names a dictionary reads as LDB_VERSION, not as damage.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compress.h"
#include "dict.h"
#include "page.h"

#define NREC 3000

static const char *countries[] = {"DE", "FR", "US", "JP", "BR", "IN", "NL"};
static const char *plans[] = {"free", "pro", "team", "enterprise"};
static const char *tags[] = {"beta", "mobile", "desktop", "api", "newsletter", "trial"};

/* A JSON-like record of ~200 bytes: the same field names and small
 * vocabularies in every record, numbers that differ. */
static size_t json_record(char *buf, size_t cap, unsigned i, uint64_t *s)
{
    uint64_t r = tu_rand(s);
    int n = snprintf(buf, cap,
                     "{\"id\":%u,\"user\":\"user%05u\",\"email\":\"user%05u@example.com\","
                     "\"country\":\"%s\",\"plan\":\"%s\",\"created\":\"2026-%02u-%02uT%02u:%02u:"
                     "%02uZ\",\"active\":%s,\"score\":%u,\"tags\":[\"%s\",\"%s\"]}",
                     i, (unsigned)(r % 100000), (unsigned)(r % 100000), countries[r % 7],
                     plans[r / 7 % 4], (unsigned)(r / 3 % 12 + 1), (unsigned)(r / 5 % 28 + 1),
                     (unsigned)(r / 11 % 24), (unsigned)(r / 13 % 60), (unsigned)(r / 17 % 60),
                     r / 19 % 2 ? "true" : "false", (unsigned)(r / 23 % 1000), tags[r / 29 % 6],
                     tags[r / 31 % 6]);
    return (size_t)n;
}

/* A log line of ~120-160 bytes. */
static size_t log_line(char *buf, size_t cap, unsigned i, uint64_t *s)
{
    static const char *lvl[] = {"INFO", "WARN", "DEBUG", "ERROR"};
    static const char *msg[] = {"request served", "connection reset by peer",
                                "cache miss for key", "retrying upstream", "slow query"};
    uint64_t r = tu_rand(s);
    int n = snprintf(buf, cap,
                     "2026-12-05T14:%02u:%02u.%03uZ %s [svc-%u] %s path=/v1/items/%u "
                     "req=%08x user=%u ms=%u seq=%u",
                     (unsigned)(r % 60), (unsigned)(r / 60 % 60), (unsigned)(r / 7 % 1000),
                     lvl[r / 11 % 4], (unsigned)(r / 13 % 8), msg[r / 17 % 5],
                     (unsigned)(r / 19 % 100000), (unsigned)(r / 23), (unsigned)(r / 29 % 10000),
                     (unsigned)(r / 31 % 5000), i);
    return (size_t)n;
}

typedef size_t (*gen_fn)(char *, size_t, unsigned, uint64_t *);

struct records {
    char v[NREC][512];
    size_t len[NREC];
    uint64_t total;
};

static void records_make(struct records *r, gen_fn gen, uint64_t seed)
{
    uint64_t s = seed;
    r->total = 0;
    for (unsigned i = 0; i < NREC; i++) {
        r->len[i] = gen(r->v[i], sizeof r->v[i], i, &s);
        r->total += r->len[i];
    }
}

static void key_of(unsigned i, char k[16])
{
    snprintf(k, 16, "k%06u", i);
}

static void records_put(ldb_txn *w, ldb_dbi dbi, const struct records *r, unsigned from,
                        unsigned to)
{
    char k[16];
    for (unsigned i = from; i < to; i++) {
        key_of(i, k);
        tu_put_bytes(w, dbi, k, strlen(k), r->v[i], r->len[i]);
    }
}

static void records_expect(ldb_txn *t, ldb_dbi dbi, const struct records *r, unsigned from,
                           unsigned to)
{
    char k[16];
    for (unsigned i = from; i < to; i++) {
        key_of(i, k);
        tu_expect_bytes(t, dbi, k, strlen(k), r->v[i], r->len[i]);
    }
}

/* Cursors in both directions see exactly records [0, n). */
static void records_walk(ldb_txn *t, ldb_dbi dbi, const struct records *r, unsigned n)
{
    ldb_cursor *c;
    ldb_val k, v;
    TU_RC_OK(ldb_cursor_open(t, dbi, &c));
    unsigned i = 0;
    for (int rc = ldb_cursor_get(c, &k, &v, LDB_FIRST); rc == 0;
         rc = ldb_cursor_get(c, &k, &v, LDB_NEXT), i++) {
        TU_REQUIRE(i < n && v.size == r->len[i] && memcmp(v.data, r->v[i], v.size) == 0,
                   "forward entry %u", i);
    }
    ck_assert_uint_eq(i, n);
    for (int rc = ldb_cursor_get(c, &k, &v, LDB_LAST); rc == 0;
         rc = ldb_cursor_get(c, &k, &v, LDB_PREV)) {
        i--;
        TU_REQUIRE(v.size == r->len[i] && memcmp(v.data, r->v[i], v.size) == 0,
                   "backward entry %u", i);
    }
    ck_assert_uint_eq(i, 0);
    ldb_cursor_close(c);
}

/* Bytes the tree's values take as stored: the compressed ones' stored
 * size plus the plain ones' own. */
static uint64_t stored_total(ldb_env *env, ldb_dbi dbi, uint64_t raw_total, uint64_t *ncomp)
{
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_compress_stat cs;
    TU_RC_OK(ldb_dbi_compress_stat(r, dbi, &cs));
    ldb_txn_abort(r);
    if (ncomp)
        *ncomp = cs.compressed;
    return cs.stored_bytes + (raw_total - cs.raw_bytes);
}

static ldb_options zopts(int codec)
{
    ldb_options o = {0};
    o.compression = codec;
    return o;
}

static int have_zstd(void)
{
    if (ldb__compress_have_codec(LDB_COMPRESS_ZSTD))
        return 1;
    fprintf(stderr, "check_dict: built without zstd: its cases are skipped\n");
    return 0;
}

/* ---- shrink ------------------------------------------------------------------ */

static void reopen_and_read(const char *path, int codec, const struct records *r)
{
    ldb_options o = zopts(codec);
    ldb_env *env = tu_open(path, &o);
    ldb_txn *t = tu_begin(env, LDB_TXN_RDONLY);
    records_expect(t, LDB_MAIN, r, 0, NREC);
    records_walk(t, LDB_MAIN, r, NREC);
    ldb_txn_abort(t);
    /* ...and writes there go on (with the dictionary only under zstd). */
    ldb_txn *w = tu_begin(env, 0);
    records_put(w, LDB_MAIN, r, 0, 10);
    records_expect(w, LDB_MAIN, r, 0, NREC);
    TU_RC_OK(ldb_txn_commit(w));
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
}

START_TEST(test_dict_shrinks_small_values)
{
    static struct records r;
    records_make(&r, _i ? log_line : json_record, 5);
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = zopts(LDB_COMPRESS_ZSTD);
    ldb_env *env = tu_open(path, &o);
    ldb_txn *w = tu_begin(env, 0);
    records_put(w, LDB_MAIN, &r, 0, NREC);
    TU_RC_OK(ldb_txn_commit(w));
    uint64_t plain = stored_total(env, LDB_MAIN, r.total, NULL);

    w = tu_begin(env, 0);
    uint32_t id = 0;
    TU_RC_OK(ldb_dbi_train_dict(w, LDB_MAIN, 8192, &id));
    ck_assert_uint_eq(id, 1);
    records_put(w, LDB_MAIN, &r, 0, NREC); /* again: now with the dictionary */
    records_expect(w, LDB_MAIN, &r, 0, NREC);
    records_walk(w, LDB_MAIN, &r, NREC);
    TU_RC_OK(ldb_txn_commit(w));
    uint64_t ncomp = 0, with = stored_total(env, LDB_MAIN, r.total, &ncomp);
    fprintf(stderr, "check_dict: %s: %llu raw bytes, %llu stored alone, %llu with a dictionary\n",
            _i ? "log lines" : "JSON", (unsigned long long)r.total, (unsigned long long)plain,
            (unsigned long long)with);
    ck_assert_uint_eq(ncomp, NREC);
    TU_REQUIRE(with * 10 < plain * 6, "with a dictionary %llu bytes, alone %llu",
               (unsigned long long)with, (unsigned long long)plain);
    ldb_txn *t = tu_begin(env, LDB_TXN_RDONLY);
    records_expect(t, LDB_MAIN, &r, 0, NREC);
    records_walk(t, LDB_MAIN, &r, NREC);
    ldb_txn_abort(t);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));

    reopen_and_read(path, LDB_COMPRESS_ZSTD, &r);
    reopen_and_read(path, LDB_COMPRESS_NONE, &r);
    if (ldb__compress_have_codec(LDB_COMPRESS_LZ4))
        reopen_and_read(path, LDB_COMPRESS_LZ4, &r);
    tu_remove_dir(dir);
}
END_TEST

/* ---- retrain ------------------------------------------------------------------- */

START_TEST(test_dict_retrain)
{
    static struct records json, logs, other;
    records_make(&json, json_record, 7);
    records_make(&logs, log_line, 8);
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = zopts(LDB_COMPRESS_ZSTD);
    ldb_env *env = tu_open(path, &o);
    ldb_dbi a, b;
    ldb_txn *w = tu_begin(env, 0);
    TU_RC_OK(ldb_dbi_open(w, "a", LDB_CREATE, &a));
    TU_RC_OK(ldb_dbi_open(w, "b", LDB_CREATE, &b));
    records_put(w, a, &json, 0, NREC);
    uint32_t id;
    TU_RC_OK(ldb_dbi_train_dict(w, a, 4096, &id));
    ck_assert_uint_eq(id, 1);
    records_put(w, a, &json, 0, NREC / 2); /* half under dictionary 1 */
    TU_RC_OK(ldb_txn_commit(w));

    /* Retrain on log lines now in the tree's other half: id 2; the first
     * half keeps reading through dictionary 1. */
    w = tu_begin(env, 0);
    records_put(w, a, &logs, NREC / 2, NREC);
    TU_RC_OK(ldb_dbi_train_dict(w, a, 4096, &id));
    ck_assert_uint_eq(id, 2);
    records_put(w, a, &logs, NREC / 2, NREC);
    TU_RC_OK(ldb_txn_commit(w));

    /* A training that aborts leaves nothing: the next one is id 3 again,
     * with other bytes, and the env's cache did not keep the first. */
    records_make(&other, log_line, 99);
    w = tu_begin(env, 0);
    records_put(w, b, &json, 0, NREC);
    TU_RC_OK(ldb_dbi_train_dict(w, b, 4096, &id));
    ck_assert_uint_eq(id, 3);
    records_put(w, b, &json, 0, NREC);
    records_expect(w, b, &json, 0, NREC);
    ldb_txn_abort(w);
    w = tu_begin(env, 0);
    records_put(w, b, &other, 0, NREC);
    TU_RC_OK(ldb_dbi_train_dict(w, b, 2048, &id));
    ck_assert_uint_eq(id, 3);
    records_put(w, b, &other, 0, NREC);
    TU_RC_OK(ldb_txn_commit(w));

    for (int round = 0; round < 3; round++) {
        ldb_txn *t = tu_begin(env, LDB_TXN_RDONLY);
        TU_RC_OK(ldb_dbi_open(t, "a", 0, &a));
        TU_RC_OK(ldb_dbi_open(t, "b", 0, &b));
        records_expect(t, a, &json, 0, NREC / 2);
        records_expect(t, a, &logs, NREC / 2, NREC);
        records_expect(t, b, &other, 0, NREC);
        ldb_txn_abort(t);
        tu_check_env(env);
        TU_RC_OK(ldb_close(env));
        o = zopts(round == 0 ? LDB_COMPRESS_NONE : LDB_COMPRESS_ZSTD);
        env = tu_open(path, &o);
    }
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* ---- args ------------------------------------------------------------------------- */

static int collect_name(void *ctx, const char *name)
{
    int *n = ctx;
    TU_REQUIRE(name[0] != LDB__RESERVED_NAME_BYTE, "ldb_dbi_list showed \"%s\"", name + 1);
    (*n)++;
    return 0;
}

START_TEST(test_dict_refusals)
{
    static struct records r;
    records_make(&r, json_record, 9);
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = zopts(LDB_COMPRESS_ZSTD);
    ldb_env *env = tu_open(path, &o);
    ldb_txn *w = tu_begin(env, 0);
    ldb_dbi t;
    TU_RC_OK(ldb_dbi_open(w, "t", LDB_CREATE, &t));
    TU_RC_IS(ldb_dbi_train_dict(w, t, 4096, NULL), LDB_INVALID); /* empty */
    records_put(w, t, &r, 0, 4);
    TU_RC_IS(ldb_dbi_train_dict(w, t, 4096, NULL), LDB_INVALID); /* too few */
    records_put(w, t, &r, 0, NREC);
    TU_RC_IS(ldb_dbi_train_dict(w, t, 100, NULL), LDB_INVALID);
    TU_RC_IS(ldb_dbi_train_dict(w, t, (2u << 20), NULL), LDB_INVALID);
    TU_RC_IS(ldb_dbi_train_dict(w, 12345, 4096, NULL), LDB_INVALID);
    TU_RC_OK(ldb_dbi_train_dict(w, t, 0, NULL)); /* the refusals left the txn usable */
    TU_RC_OK(ldb_txn_commit(w));
    ldb_txn *rd = tu_begin(env, LDB_TXN_RDONLY);
    TU_RC_IS(ldb_dbi_train_dict(rd, t, 4096, NULL), LDB_READONLY);
    ldb_dbi h;
    TU_RC_IS(ldb_dbi_open(rd, LDB__DICT_TREE, 0, &h), LDB_INVALID);
    int n = 0;
    TU_RC_OK(ldb_dbi_list(rd, collect_name, &n));
    ck_assert_int_eq(n, 1);
    ldb_txn_abort(rd);
    w = tu_begin(env, 0);
    TU_RC_IS(ldb_dbi_open(w, LDB__DICT_TREE, LDB_CREATE, &h), LDB_INVALID);
    ldb_txn_abort(w);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* ---- copies ------------------------------------------------------------------------- */

START_TEST(test_dict_backup)
{
    static struct records r;
    records_make(&r, json_record, 11);
    char dir[512], path[600], dest[700];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    snprintf(dest, sizeof dest, "%s/copy", dir);
    ldb_options o = zopts(LDB_COMPRESS_ZSTD);
    ldb_env *env = tu_open(path, &o);
    ldb_txn *w = tu_begin(env, 0);
    records_put(w, LDB_MAIN, &r, 0, NREC);
    TU_RC_OK(ldb_dbi_train_dict(w, LDB_MAIN, 4096, NULL));
    records_put(w, LDB_MAIN, &r, 0, NREC);
    TU_RC_OK(ldb_txn_commit(w));
    uint64_t want = stored_total(env, LDB_MAIN, r.total, NULL);
    TU_RC_OK(ldb_backup(env, dest, _i ? LDB_BACKUP_COMPACT : 0));
    TU_RC_OK(ldb_close(env));
    o = zopts(LDB_COMPRESS_NONE);
    env = tu_open(dest, &o);
    ck_assert_uint_eq(stored_total(env, LDB_MAIN, r.total, NULL), want);
    ldb_txn *t = tu_begin(env, LDB_TXN_RDONLY);
    records_expect(t, LDB_MAIN, &r, 0, NREC);
    ldb_txn_abort(t);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* ---- replay -------------------------------------------------------------------------- */

static void child_train(const char *path, const struct records *r, int commit)
{
    ldb_options o = zopts(LDB_COMPRESS_ZSTD);
    ldb_env *env;
    ldb_txn *w;
    if (ldb_open(path, &o, &env) != 0 || ldb_txn_begin(env, 0, &w) != 0)
        _exit(2);
    char k[16];
    for (unsigned i = 0; i < NREC; i++) {
        key_of(i, k);
        if (ldb_put(w, LDB_MAIN, &(ldb_val){strlen(k), k}, &(ldb_val){r->len[i], r->v[i]}, 0))
            _exit(3);
    }
    if (ldb_dbi_train_dict(w, LDB_MAIN, 4096, NULL) != 0)
        _exit(4);
    for (unsigned i = 0; i < NREC; i++) {
        key_of(i, k);
        if (ldb_put(w, LDB_MAIN, &(ldb_val){strlen(k), k}, &(ldb_val){r->len[i], r->v[i]}, 0))
            _exit(5);
    }
    if (commit && ldb_txn_commit(w) != 0)
        _exit(6);
    _exit(0); /* no close, no abort: as if killed */
}

START_TEST(test_dict_replay)
{
    static struct records r;
    records_make(&r, json_record, 13);
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    for (int commit = 0; commit < 2; commit++) {
        pid_t pid = fork();
        if (pid == 0)
            child_train(path, &r, commit);
        int status = tu_wait_child(pid, 120, "writer");
        TU_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer status %d", status);
        ldb_options o = zopts(LDB_COMPRESS_NONE);
        ldb_env *env = tu_open(path, &o);
        ldb_txn *t = tu_begin(env, LDB_TXN_RDONLY);
        uint64_t ncomp = 0;
        if (commit) {
            records_expect(t, LDB_MAIN, &r, 0, NREC);
            uint64_t with = stored_total(env, LDB_MAIN, r.total, &ncomp);
            ck_assert_uint_eq(ncomp, NREC);
            TU_REQUIRE(with < r.total / 2, "%llu stored bytes after replay",
                       (unsigned long long)with);
        } else {
            ck_assert_uint_eq(tu_tree_stat(t, LDB_MAIN).entries, 0);
        }
        ldb_txn_abort(t);
        tu_check_env(env);
        TU_RC_OK(ldb_close(env));
    }
    tu_remove_dir(dir);
}
END_TEST

/* ---- damage ------------------------------------------------------------------------- */

/* The file as bytes, and back. */
static uint8_t *file_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    uint8_t *img = tu_xmalloc(*len);
    fseek(f, 0, SEEK_SET);
    ck_assert_uint_eq(fread(img, 1, *len, f), *len);
    fclose(f);
    return img;
}

static void file_write(const char *path, const uint8_t *img, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(img, 1, len, f), len);
    fclose(f);
}

/* The stored dictionary record of id 1 (CRC32C + dictionary), copied. */
static uint8_t *dict_record(ldb_env *env, size_t *len)
{
    ldb_txn *t = tu_begin(env, LDB_TXN_RDONLY);
    ldb_dbi d;
    TU_RC_OK(ldb__dbi_open(t, LDB__DICT_TREE, 0, &d));
    ldb_val v;
    TU_RC_OK(ldb_get(t, d, &(ldb_val){5, "d\0\0\0\1"}, &v));
    uint8_t *rec = tu_dup_bytes(v.data, v.size);
    *len = v.size;
    ldb_txn_abort(t);
    return rec;
}

/* The leaf node naming the bare run at page run gets the checksum of the
 * run's bytes as they now are; its leaf is sealed again. */
static void reseal_bare_run(uint8_t *img, size_t len, uint64_t run)
{
    for (uint64_t p = 2; (p + 1) * 4096 <= len; p++) {
        uint8_t *pg = img + p * 4096;
        if (ldb__le16(PAGE_CHDR(pg)->type) != PAGE_LEAF || ldb__le64(PAGE_CHDR(pg)->pgno) != p)
            continue;
        for (unsigned i = 0; i < ldb__le16(PAGE_CHDR(pg)->count); i++) {
            struct page_node n;
            if (ldb__page_node(pg, 4096, i, &n) != 0 || !n.bare ||
                ldb__page_overflow_pgno(&n) != run)
                continue;
            uint8_t *ref = (uint8_t *)(uintptr_t)n.value;
            ldb__st_le32(ref + RUN_REF_CHECKSUM,
                         ldb__bare_run_checksum(ref + RUN_REF_TXNID, img + run * 4096,
                                                n.value_size));
            ldb__page_seal(pg, 4096);
            return;
        }
    }
    ck_abort_msg("no leaf names the bare run at page %llu", (unsigned long long)run);
}

static void expect_corrupted(const char *path, const char *finding)
{
    ldb_options o = zopts(LDB_COMPRESS_ZSTD);
    ldb_env *env = tu_open(path, &o);
    ldb_txn *t = tu_begin(env, LDB_TXN_RDONLY);
    ldb_val got, k = tu_str("k000000");
    TU_RC_IS(ldb_get(t, LDB_MAIN, &k, &got), LDB_CORRUPTED);
    ldb_cursor *c;
    TU_RC_OK(ldb_cursor_open(t, LDB_MAIN, &c));
    TU_RC_IS(ldb_cursor_get(c, &k, &got, LDB_FIRST), LDB_CORRUPTED);
    ldb_cursor_close(c);
    ldb_txn_abort(t);
    char *report = NULL;
    size_t rlen = 0;
    FILE *rf = open_memstream(&report, &rlen);
    TU_RC_IS(ldb_check(env, rf), LDB_CORRUPTED);
    fclose(rf);
    TU_REQUIRE(strstr(report, finding) != NULL, "report: %s", report);
    free(report);
    TU_RC_OK(ldb_close(env));
}

START_TEST(test_dict_damage)
{
    static struct records r;
    records_make(&r, json_record, 17);
    char dir[512], path[600], good[700];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    snprintf(good, sizeof good, "%s/good", dir);
    ldb_options o = zopts(LDB_COMPRESS_ZSTD);
    ldb_env *env = tu_open(path, &o);
    ldb_txn *w = tu_begin(env, 0);
    records_put(w, LDB_MAIN, &r, 0, NREC);
    TU_RC_OK(ldb_dbi_train_dict(w, LDB_MAIN, 4096, NULL));
    records_put(w, LDB_MAIN, &r, 0, 1);
    TU_RC_OK(ldb_txn_commit(w));
    TU_RC_OK(ldb_checkpoint(env));
    size_t rlen, flen;
    uint8_t *rec = dict_record(env, &rlen);
    /* k000000's stored form, as the writer made it. */
    ldb_val dv = {rlen - 4, rec + 4};
    void *cd = ldb__compress_cdict_new(dv.data, dv.size, 0);
    struct ldb__compressor comp = {0};
    uint8_t st[512];
    uint32_t slen;
    TU_RC_OK(ldb__compress_value_dict(&comp, cd, 1, r.v[0], (uint32_t)r.len[0], st, sizeof st,
                                      &slen));
    TU_REQUIRE(slen > 0, "k000000 did not compress");
    ldb__compressor_destroy(&comp);
    ldb__compress_cdict_free(cd);
    TU_RC_OK(ldb_close(env));
    uint8_t *img = file_read(path, &flen);
    file_write(good, img, flen);

    /* 1: a byte of the dictionary changed, its run's checksum (in the leaf
     * node that names the bare run) made again and the leaf sealed: only
     * the dictionary's own checksum can tell. */
    uint8_t *at = memmem(img, flen, rec, rlen);
    ck_assert_ptr_nonnull(at);
    size_t page = (size_t)(at - img);
    ck_assert_uint_eq(page % 4096, 0);
    at[rlen / 2] ^= 0x20;
    reseal_bare_run(img, flen, page / 4096);
    file_write(path, img, flen);
    expect_corrupted(path, "dictionary 1 is damaged");

    /* 2: a value names dictionary 77, which no one stored. */
    free(img);
    img = file_read(good, &flen);
    at = memmem(img, flen, st, slen);
    ck_assert_ptr_nonnull(at);
    at[1] = 77;
    page = (size_t)(at - img) / 4096 * 4096;
    ldb__page_seal(img + page, 4096);
    file_write(path, img, flen);
    expect_corrupted(path, "compressed value");
    free(img);
    free(rec);
    tu_remove_dir(dir);
}
END_TEST

/* ---- missing: a build without zstd ------------------------------------------- */

START_TEST(test_dict_without_zstd)
{
    if (ldb__compress_have_codec(LDB_COMPRESS_ZSTD))
        return; /* the cases above cover this build */
    static struct records r;
    records_make(&r, json_record, 19);
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *w = tu_begin(env, 0);
    records_put(w, LDB_MAIN, &r, 0, NREC);
    TU_RC_IS(ldb_dbi_train_dict(w, LDB_MAIN, 4096, NULL), LDB_INVALID);
    TU_RC_OK(ldb_txn_commit(w)); /* the refusal left the txn usable */
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    /* A value a full build compressed with dictionary 1: a sound header,
     * a codec this build lacks, so LDB_VERSION and not damage. */
    uint8_t stored[64] = {0};
    struct value_header h = {LDB_COMPRESS_ZSTD, {1, 0, 0}, ldb__to_le32(1000)};
    memcpy(stored, &h, sizeof h);
    int codec;
    uint32_t raw;
    TU_RC_IS(ldb__compress_header(stored, sizeof stored, &codec, &raw), LDB_VERSION);
    tu_remove_dir(dir);
}
END_TEST

static Suite *dict_suite(void)
{
    Suite *s = suite_create("dict");
    TCase *tm = tcase_create("missing");
    tcase_add_test(tm, test_dict_without_zstd);
    suite_add_tcase(s, tm);
    if (!have_zstd())
        return s;
    TCase *tc = tcase_create("shrink");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_dict_shrinks_small_values, 0, 2);
    tcase_add_test(tc, test_dict_retrain);
    tcase_add_test(tc, test_dict_refusals);
    suite_add_tcase(s, tc);
    tc = tcase_create("copies");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_dict_backup, 0, 2);
    tcase_add_test(tc, test_dict_replay);
    tcase_add_test(tc, test_dict_damage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {dict_suite()};
    return tu_run_suites(suites, 1);
}
