/* SPDX-License-Identifier: MIT */
/*
 * check_compress: compressed values (LZ4, zstd) and the ARC cache of their
 * decompressed form.
 *
 *  codec    the wrappers alone: round trips, and damaged or truncated
 *           stored values give LDB_CORRUPTED, never an overrun (run it
 *           under ASan);
 *  values   each codec: sizes below, at and above the threshold, inline and
 *           overflow, text-like and random bytes; get and cursors in both
 *           directions, in the writing txn and after commit; overwrite and
 *           delete; ldb_dbi_compress_stat's figures;
 *  reopen   a file written with one codec reopened with the other, with
 *           none and with other levels, read and written again;
 *  adaptive random values stop being tried and cost little;
 *  arc      the policy alone: the byte bound under a long scan, a hot set
 *           surviving a scan, ghost hits moving p;
 *  threads  readers check every value against the writer's history while
 *           it overwrites and deletes (pages freed and reused);
 *  copies   ldb_backup (page copy and compact rebuild) and ldb_salvage keep
 *           compressed values as stored; the cache figures in ldb_stat_env
 *           and ldb_metrics;
 *  damage   a damaged compressed value gives LDB_CORRUPTED from get and a
 *           finding from ldb_check;
 *  missing  (a build configured --without-zstd or --without-lz4, which
 *           skips every case above that needs a codec, saying so): the
 *           codec it lacks is refused by ldb_open with LDB_INVALID, and a
 *           value stored with it reads as LDB_VERSION, not as damage.
 */
#include "testutil.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache.h"
#include "compress.h"
#include "page.h"
#include "wal.h"

/* ---- values ------------------------------------------------------------------ */

/* Text-like bytes (log lines from small vocabularies and numbers): about
 * 2x smaller under either codec from ~200 bytes up. */
static void fill_text(uint8_t *buf, size_t len, uint64_t seed)
{
    static const char *lvl[] = {"INFO", "WARN", "DEBUG", "ERROR"};
    static const char *svc[] = {"api", "db", "auth", "cache", "queue"};
    static const char *msg[] = {"request served", "connection reset by peer",
                                "cache miss for key", "retrying upstream", "slow query"};
    uint64_t s = seed * 2654435761u + 1;
    size_t o = 0;
    char line[160];
    while (o < len) {
        uint64_t r = tu_rand(&s);
        int n = snprintf(line, sizeof line, "2026-12-05T14:%02u:%02u %s [%s] %s id=%u ms=%u\n",
                         (unsigned)(r % 60), (unsigned)(r / 60 % 60), lvl[r % 4], svc[r / 7 % 5],
                         msg[r / 11 % 5], (unsigned)(r / 13 % 100000), (unsigned)(r / 17 % 5000));
        size_t l = (size_t)n < len - o ? (size_t)n : len - o;
        memcpy(buf + o, line, l);
        o += l;
    }
}

enum kind { TEXT, RANDOM };

static void make_value(uint8_t *buf, size_t len, enum kind k, uint64_t seed)
{
    if (k == TEXT)
        fill_text(buf, len, seed);
    else
        tu_fill_pattern(buf, len, seed);
}

static ldb_options codec_opts(int codec, int level)
{
    ldb_options o = {0};
    o.compression = codec;
    o.compression_level = level;
    return o;
}

static const int codecs[] = {LDB_COMPRESS_LZ4, LDB_COMPRESS_ZSTD};

/* ---- codec ------------------------------------------------------------------- */

START_TEST(test_codec_round_trip_and_damage)
{
    int codec = codecs[_i];
    struct ldb__compressor c = {0};
    size_t n = 4000;
    uint8_t *src = tu_xmalloc(n), *st = tu_xmalloc(n), *out = tu_xmalloc(n);
    fill_text(src, n, 7);
    uint32_t len;
    TU_RC_OK(ldb__compress_value(&c, codec, 0, src, (uint32_t)n, st, (uint32_t)n, &len));
    TU_REQUIRE(len > VALUE_HEADER_SIZE && len < n / 2, "%u stored bytes for %zu of text", len, n);
    int cd;
    uint32_t raw;
    TU_RC_OK(ldb__compress_header(st, len, &cd, &raw));
    ck_assert_int_eq(cd, codec);
    ck_assert_uint_eq(raw, n);
    TU_RC_OK(ldb__decompress_value(st, len, out, raw));
    ck_assert_int_eq(memcmp(src, out, n), 0);
    /* Too small a destination: nothing stored, no error. */
    TU_RC_OK(ldb__compress_value(&c, codec, 0, src, (uint32_t)n, st, 40, &len));
    ck_assert_uint_eq(len, 0);
    TU_RC_OK(ldb__compress_value(&c, codec, 0, src, (uint32_t)n, st, (uint32_t)n, &len));

    /* Truncations and a wrong recorded size must be refused. */
    uint64_t seed = 99;
    for (uint32_t cut = VALUE_HEADER_SIZE + 1; cut < len; cut += 7)
        TU_RC_IS(ldb__decompress_value(st, cut, out, raw), LDB_CORRUPTED);
    uint8_t *bad = tu_xmalloc(len);
    memcpy(bad, st, len);
    uint32_t other = raw - 1;
    memcpy(bad + 4, &other, 4);
    uint8_t *small = tu_xmalloc(other);
    TU_RC_IS(ldb__decompress_value(bad, len, small, other), LDB_CORRUPTED);
    free(small);
    bad[0] = 9; /* unknown codec */
    TU_RC_IS(ldb__compress_header(bad, len, &cd, &raw), LDB_CORRUPTED);
    /* Random damage to the payload: an error or some bytes, never an overrun
     * (ASan watches the exact-size destination). */
    uint8_t *exact = tu_xmalloc(n);
    for (int round = 0; round < 2000; round++) {
        memcpy(bad, st, len);
        for (int f = 0; f < 1 + round % 4; f++) {
            uint32_t at = VALUE_HEADER_SIZE + (uint32_t)(tu_rand(&seed) % (len - VALUE_HEADER_SIZE));
            bad[at] ^= (uint8_t)(1 + tu_rand(&seed) % 255);
        }
        int rc = ldb__decompress_value(bad, len, exact, (uint32_t)n);
        TU_REQUIRE(rc == 0 || rc == LDB_CORRUPTED, "round %d: %d", round, rc);
    }
    free(exact);
    free(bad);
    ldb__compressor_destroy(&c);
    free(src);
    free(st);
    free(out);
}
END_TEST

START_TEST(test_codec_levels)
{
    ck_assert_int_eq(ldb__compress_check_options(LDB_COMPRESS_NONE, 0), 0);
    ck_assert_int_eq(ldb__compress_check_options(LDB_COMPRESS_NONE, 1), LDB_INVALID);
    ck_assert_int_eq(ldb__compress_check_options(LDB_COMPRESS_ZSTD, -5), 0);
    ck_assert_int_eq(ldb__compress_check_options(LDB_COMPRESS_ZSTD, 19), 0);
    ck_assert_int_eq(ldb__compress_check_options(LDB_COMPRESS_ZSTD, 1000), LDB_INVALID);
    ck_assert_int_eq(ldb__compress_check_options(LDB_COMPRESS_LZ4, -100), 0);
    ck_assert_int_eq(ldb__compress_check_options(LDB_COMPRESS_LZ4, 12), 0);
    ck_assert_int_eq(ldb__compress_check_options(LDB_COMPRESS_LZ4, 13), LDB_INVALID);
    ck_assert_int_eq(ldb__compress_check_options(7, 0), LDB_INVALID);
    /* ldb_open refuses what the codec refuses. */
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = codec_opts(LDB_COMPRESS_LZ4, 13);
    ldb_env *env;
    TU_RC_IS(ldb_open(path, &o, &env), LDB_INVALID);
    o = codec_opts(LDB_COMPRESS_NONE, 3);
    TU_RC_IS(ldb_open(path, &o, &env), LDB_INVALID);
    /* Every level class of both codecs writes values that read back. */
    int levels[][2] = {{LDB_COMPRESS_LZ4, -20}, {LDB_COMPRESS_LZ4, 0}, {LDB_COMPRESS_LZ4, 9},
                       {LDB_COMPRESS_ZSTD, -7}, {LDB_COMPRESS_ZSTD, 0}, {LDB_COMPRESS_ZSTD, 12}};
    uint8_t v[3000];
    for (unsigned i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        o = codec_opts(levels[i][0], levels[i][1]);
        env = tu_open(path, &o);
        ldb_txn *w = tu_begin(env, 0);
        fill_text(v, sizeof v, i);
        tu_put_bytes(w, LDB_MAIN, &i, sizeof i, v, sizeof v);
        TU_RC_OK(ldb_txn_commit(w));
        TU_RC_OK(ldb_close(env));
    }
    env = tu_open(path, NULL);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    for (unsigned i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        fill_text(v, sizeof v, i);
        tu_expect_bytes(r, LDB_MAIN, &i, sizeof i, v, sizeof v);
    }
    ldb_compress_stat cs;
    TU_RC_OK(ldb_dbi_compress_stat(r, LDB_MAIN, &cs));
    ck_assert_uint_eq(cs.values, 6);
    ck_assert_uint_eq(cs.compressed, 6);
    ck_assert_uint_eq(cs.raw_bytes, 6 * sizeof v);
    TU_REQUIRE(cs.stored_bytes < cs.raw_bytes / 2, "stored %llu", (unsigned long long)cs.stored_bytes);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* ---- a model of the main tree -------------------------------------------------- */

#define NKEYS 96u

struct model {
    int present[NKEYS];
    uint32_t size[NKEYS];
    enum kind kind[NKEYS];
    uint64_t seed[NKEYS];
};

static const uint32_t sizes[] = {1,    100,  159,  160,  161,  400,  1500,
                                 2000, 2600, 5000, 20000, 70000};

static void key_of(unsigned i, char *k)
{
    snprintf(k, 16, "key%05u", i);
}

static void model_put(ldb_txn *w, struct model *m, unsigned i, uint32_t size, enum kind kind,
                      uint64_t seed)
{
    char k[16];
    key_of(i, k);
    uint8_t *v = tu_xmalloc(size);
    make_value(v, size, kind, seed);
    tu_put_bytes(w, LDB_MAIN, k, strlen(k), v, size);
    free(v);
    m->present[i] = 1;
    m->size[i] = size;
    m->kind[i] = kind;
    m->seed[i] = seed;
}

/* Every key by get, then the whole tree by cursor forward and backward. */
static void model_verify(ldb_txn *txn, const struct model *m)
{
    uint8_t *v = tu_xmalloc(70000);
    char k[16];
    unsigned n = 0;
    for (unsigned i = 0; i < NKEYS; i++) {
        key_of(i, k);
        if (!m->present[i]) {
            tu_expect_absent(txn, LDB_MAIN, k);
            continue;
        }
        n++;
        make_value(v, m->size[i], m->kind[i], m->seed[i]);
        tu_expect_bytes(txn, LDB_MAIN, k, strlen(k), v, m->size[i]);
    }
    for (int dir = 0; dir < 2; dir++) {
        ldb_cursor *c;
        TU_RC_OK(ldb_cursor_open(txn, LDB_MAIN, &c));
        ldb_val kv, vv;
        unsigned seen = 0;
        int i = dir == 0 ? -1 : (int)NKEYS;
        int rc;
        while ((rc = ldb_cursor_get(c, &kv, &vv, dir == 0 ? LDB_NEXT : LDB_PREV)) == 0) {
            do
                i += dir == 0 ? 1 : -1;
            while (i >= 0 && i < (int)NKEYS && !m->present[i]);
            TU_REQUIRE(i >= 0 && i < (int)NKEYS, "cursor past the model");
            key_of((unsigned)i, k);
            TU_REQUIRE(kv.size == strlen(k) && memcmp(kv.data, k, kv.size) == 0, "cursor key");
            make_value(v, m->size[i], m->kind[i], m->seed[i]);
            TU_REQUIRE(vv.size == m->size[i] && memcmp(vv.data, v, vv.size) == 0,
                       "cursor value of %s (%zu bytes, want %u)", k, vv.size, m->size[i]);
            seen++;
        }
        TU_RC_IS(rc, LDB_NOTFOUND);
        ck_assert_uint_eq(seen, n);
        ldb_cursor_close(c);
    }
    free(v);
}

START_TEST(test_values_round_trip)
{
    int codec = codecs[_i];
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = codec_opts(codec, 0);
    ldb_env *env = tu_open(path, &o);
    static struct model m;
    memset(&m, 0, sizeof m);
    unsigned nsizes = sizeof sizes / sizeof sizes[0], text_big = 0, text_eligible = 0;
    ldb_txn *w = tu_begin(env, 0);
    for (unsigned i = 0; i < NKEYS; i++) {
        enum kind kind = i % 3 == 2 ? RANDOM : TEXT;
        uint32_t size = sizes[i % nsizes];
        model_put(w, &m, i, size, kind, i);
        text_big += kind == TEXT && size >= 1000;
        text_eligible += kind == TEXT && size >= LDB_COMPRESS_MIN_VALUE;
    }
    model_verify(w, &m); /* the writer's own dirty pages */
    TU_RC_OK(ldb_txn_commit(w));
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    model_verify(r, &m); /* committed: through the cache */
    model_verify(r, &m); /* again: hits */
    ldb_compress_stat cs;
    TU_RC_OK(ldb_dbi_compress_stat(r, LDB_MAIN, &cs));
    ck_assert_uint_eq(cs.values, NKEYS);
    TU_REQUIRE(cs.compressed >= text_big && cs.compressed <= text_eligible,
               "%llu compressed, want %u..%u", (unsigned long long)cs.compressed, text_big,
               text_eligible);
    TU_REQUIRE(cs.raw_bytes - cs.stored_bytes > cs.raw_bytes / 3, "saved too little");
    ldb_txn_abort(r);
    ldb_stat st = tu_env_stat(env);
    TU_REQUIRE(st.cache_hits > 0 && st.cache_misses > 0 && st.cache_bytes > 0,
               "cache figures %llu %llu %llu", (unsigned long long)st.cache_hits,
               (unsigned long long)st.cache_misses, (unsigned long long)st.cache_bytes);

    /* Overwrite with other sizes and kinds, delete some, read back. */
    uint64_t s = 5;
    for (int round = 0; round < 3; round++) {
        w = tu_begin(env, 0);
        for (unsigned j = 0; j < NKEYS / 2; j++) {
            unsigned i = (unsigned)(tu_rand(&s) % NKEYS);
            char k[16];
            key_of(i, k);
            if (tu_rand(&s) % 4 == 0) {
                int rc = ldb_del(w, LDB_MAIN, &(ldb_val){strlen(k), k});
                TU_REQUIRE(rc == (m.present[i] ? 0 : LDB_NOTFOUND), "del %s: %d", k, rc);
                m.present[i] = 0;
            } else {
                model_put(w, &m, i, sizes[tu_rand(&s) % nsizes],
                          tu_rand(&s) % 3 ? TEXT : RANDOM, tu_rand(&s));
            }
        }
        model_verify(w, &m);
        TU_RC_OK(ldb_txn_commit(w));
        r = tu_begin(env, LDB_TXN_RDONLY);
        model_verify(r, &m);
        ldb_txn_abort(r);
    }
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    /* And after reopening (nothing in the cache). */
    env = tu_open(path, &o);
    r = tu_begin(env, LDB_TXN_RDONLY);
    model_verify(r, &m);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* A value got in a write txn stays valid through its own later put of it
 * (the pin is dropped only after the write). */
START_TEST(test_put_of_value_got)
{
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = codec_opts(LDB_COMPRESS_ZSTD, 0);
    ldb_env *env = tu_open(path, &o);
    uint8_t v[3000];
    fill_text(v, sizeof v, 1);
    ldb_txn *w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "filler", "x");
    tu_put_bytes(w, LDB_MAIN, "a", 1, v, sizeof v);
    TU_RC_OK(ldb_txn_commit(w));
    w = tu_begin(env, 0);
    ldb_val got, ka = tu_str("a"), kb = tu_str("b");
    TU_RC_OK(ldb_get(w, LDB_MAIN, &ka, &got));
    TU_RC_OK(ldb_put(w, LDB_MAIN, &kb, &got, 0));
    TU_RC_OK(ldb_get(w, LDB_MAIN, &kb, &got));
    TU_RC_OK(ldb_put(w, LDB_MAIN, &ka, &got, 0)); /* over its own source */
    tu_expect_bytes(w, LDB_MAIN, "a", 1, v, sizeof v);
    tu_expect_bytes(w, LDB_MAIN, "b", 1, v, sizeof v);
    TU_RC_OK(ldb_txn_commit(w));
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_bytes(r, LDB_MAIN, "a", 1, v, sizeof v);
    tu_expect_bytes(r, LDB_MAIN, "b", 1, v, sizeof v);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* Named trees compress too, each with its own adaptive state, and their
 * values survive a reopen. */
START_TEST(test_named_trees)
{
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = codec_opts(LDB_COMPRESS_ZSTD, 0);
    o.max_dbs = 4;
    ldb_env *env = tu_open(path, &o);
    uint8_t v[2000];
    const char *names[] = {"a", "b", "c", "d"};
    for (int round = 0; round < 2; round++) {
        ldb_txn *w = tu_begin(env, 0);
        for (unsigned t = 0; t < 4; t++) {
            ldb_dbi dbi;
            TU_RC_OK(ldb_dbi_open(w, names[t], LDB_CREATE, &dbi));
            for (unsigned i = 0; i < 50; i++) {
                if (t == 3)
                    tu_fill_pattern(v, sizeof v, i); /* incompressible */
                else
                    fill_text(v, sizeof v, t * 1000 + i);
                tu_put_bytes(w, dbi, &i, sizeof i, v, sizeof v);
            }
        }
        TU_RC_OK(ldb_txn_commit(w));
    }
    TU_RC_OK(ldb_close(env));
    env = tu_open(path, &o);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    for (unsigned t = 0; t < 4; t++) {
        ldb_dbi dbi;
        TU_RC_OK(ldb_dbi_open(r, names[t], 0, &dbi));
        for (unsigned i = 0; i < 50; i++) {
            if (t == 3)
                tu_fill_pattern(v, sizeof v, i);
            else
                fill_text(v, sizeof v, t * 1000 + i);
            tu_expect_bytes(r, dbi, &i, sizeof i, v, sizeof v);
        }
        ldb_compress_stat cs;
        TU_RC_OK(ldb_dbi_compress_stat(r, dbi, &cs));
        ck_assert_uint_eq(cs.values, 50);
        ck_assert_uint_eq(cs.compressed, t == 3 ? 0 : 50);
    }
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* ---- reopen under other settings ---------------------------------------------------- */

START_TEST(test_reopen_other_codecs)
{
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    static struct model m;
    memset(&m, 0, sizeof m);
    int settings[][2] = {{codecs[_i], 0},          {codecs[1 - _i], 0}, {LDB_COMPRESS_NONE, 0},
                         {codecs[_i], _i ? 19 : 9}, {LDB_COMPRESS_ZSTD, -5}};
    uint64_t s = 11;
    unsigned nsizes = sizeof sizes / sizeof sizes[0];
    for (unsigned round = 0; round < sizeof settings / sizeof settings[0]; round++) {
        ldb_options o = codec_opts(settings[round][0], settings[round][1]);
        ldb_env *env = tu_open(path, &o);
        ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
        model_verify(r, &m);
        ldb_txn_abort(r);
        ldb_txn *w = tu_begin(env, 0);
        for (unsigned j = 0; j < NKEYS / 2; j++) {
            unsigned i = (unsigned)(tu_rand(&s) % NKEYS);
            model_put(w, &m, i, sizes[tu_rand(&s) % nsizes], TEXT, tu_rand(&s));
        }
        TU_RC_OK(ldb_txn_commit(w));
        r = tu_begin(env, LDB_TXN_RDONLY);
        model_verify(r, &m);
        ldb_txn_abort(r);
        tu_check_env(env);
        TU_RC_OK(ldb_close(env));
    }
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    model_verify(r, &m);
    ldb_txn_abort(r);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* Recovery stores a logged compressed value as it was logged, whatever the
 * codec of the env that replays it. */
START_TEST(test_replay_keeps_stored_form)
{
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    uint8_t v[4000];
    fill_text(v, sizeof v, 3);
    pid_t pid = fork();
    if (pid == 0) {
        ldb_options o = codec_opts(LDB_COMPRESS_LZ4, 0);
        ldb_env *env;
        if (ldb_open(path, &o, &env) != 0)
            _exit(2);
        ldb_txn *w;
        if (ldb_txn_begin(env, 0, &w) != 0)
            _exit(3);
        for (unsigned i = 0; i < 20; i++) {
            ldb_val k = {sizeof i, &i}, val = {sizeof v, v};
            if (ldb_put(w, LDB_MAIN, &k, &val, 0) != 0)
                _exit(4);
        }
        if (ldb_txn_commit(w) != 0)
            _exit(5);
        _exit(0); /* no close: the log holds the txn */
    }
    int status = tu_wait_child(pid, 60, "writer");
    TU_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer status %d", status);
    ldb_options o = codec_opts(LDB_COMPRESS_ZSTD, 0);
    ldb_env *env = tu_open(path, &o);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    for (unsigned i = 0; i < 20; i++)
        tu_expect_bytes(r, LDB_MAIN, &i, sizeof i, v, sizeof v);
    ldb_compress_stat cs;
    TU_RC_OK(ldb_dbi_compress_stat(r, LDB_MAIN, &cs));
    ck_assert_uint_eq(cs.compressed, 20);
    /* LZ4's stored form, not zstd's: compare with what LZ4 makes of it. */
    struct ldb__compressor c = {0};
    uint8_t st[sizeof v];
    uint32_t len;
    TU_RC_OK(ldb__compress_value(&c, LDB_COMPRESS_LZ4, 0, v, sizeof v, st, sizeof st, &len));
    ldb__compressor_destroy(&c);
    ck_assert_uint_eq(cs.stored_bytes, 20ull * len);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* ---- adaptive ------------------------------------------------------------------------- */

START_TEST(test_adaptive_random_values)
{
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = codec_opts(LDB_COMPRESS_ZSTD, 0);
    ldb_env *env = tu_open(path, &o);
    uint8_t v[1024];
    ldb_txn *w = tu_begin(env, 0);
    for (unsigned i = 0; i < 2000; i++) {
        tu_fill_pattern(v, sizeof v, i);
        tu_put_bytes(w, LDB_MAIN, &i, sizeof i, v, sizeof v);
    }
    /* Then text again: compression resumes after a probe. */
    for (unsigned i = 2000; i < 6000; i++) {
        fill_text(v, sizeof v, i);
        tu_put_bytes(w, LDB_MAIN, &i, sizeof i, v, sizeof v);
    }
    TU_RC_OK(ldb_txn_commit(w));
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_compress_stat cs;
    TU_RC_OK(ldb_dbi_compress_stat(r, LDB_MAIN, &cs));
    TU_REQUIRE(cs.compressed > 3000 && cs.compressed <= 4000, "%llu compressed",
               (unsigned long long)cs.compressed);
    for (unsigned i = 0; i < 6000; i += 37) {
        if (i < 2000)
            tu_fill_pattern(v, sizeof v, i);
        else
            fill_text(v, sizeof v, i);
        tu_expect_bytes(r, LDB_MAIN, &i, sizeof i, v, sizeof v);
    }
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* ---- the ARC policy ---------------------------------------------------------------------- */

#define ESIZE 1000u
#define ECHARGE (ESIZE + sizeof(struct ldb__cache_entry))

static struct ldb__cache_key ck(uint64_t i)
{
    return (struct ldb__cache_key){i + 2, 1, 32};
}

/* Look key i up; on a miss put a fresh entry in. Returns 1 on a hit. */
static int touch(struct ldb__cache *c, uint64_t i)
{
    struct ldb__cache_key k = ck(i);
    struct ldb__cache_entry *e = ldb__cache_get(c, &k, NULL);
    int hit = e != NULL;
    if (!hit) {
        e = ldb__cache_entry_new(ESIZE);
        memset(e->data, (int)i, ESIZE);
        e = ldb__cache_insert(c, &k, e);
    }
    TU_REQUIRE(e->data[0] == (uint8_t)i, "entry %llu holds another's bytes", (unsigned long long)i);
    ldb__cache_unpin(c, e);
    return hit;
}

/* What a hit reads of an entry lies in one cache line: entries start on a
 * 64-byte boundary with the hit's fields in the first line; as allocated,
 * as cached, and as the cache hands them back. */
START_TEST(test_cache_entry_one_line)
{
    TU_REQUIRE(offsetof(struct ldb__cache_entry, hnext) < 64 &&
                   offsetof(struct ldb__cache_entry, list) < 64 &&
                   offsetof(struct ldb__cache_entry, referenced) < 64 &&
                   offsetof(struct ldb__cache_entry, refs) < 64 &&
                   offsetof(struct ldb__cache_entry, size) < 64 &&
                   offsetof(struct ldb__cache_entry, key) + sizeof(struct ldb__cache_key) <= 64,
               "a hit's fields span two lines");
    TU_REQUIRE(sizeof(struct ldb__cache_entry) <= 72, "a %zu-byte header",
               sizeof(struct ldb__cache_entry));
    struct ldb__cache *c;
    TU_RC_OK(ldb__cache_open(64 * ECHARGE, 1, &c));
    for (uint32_t size = 1; size <= 4096; size = size * 3 + 1) {
        struct ldb__cache_key k = ck(size);
        struct ldb__cache_entry *e = ldb__cache_entry_new(size);
        ck_assert_ptr_nonnull(e);
        TU_REQUIRE((uintptr_t)e % 64 == 0, "a %u-byte entry at %p", size, (void *)e);
        memset(e->data, 0xA5, size); /* ASan: the whole size is there */
        e = ldb__cache_insert(c, &k, e);
        ldb__cache_unpin(c, e);
        struct ldb__cache_entry *h = ldb__cache_get(c, &k, NULL);
        TU_REQUIRE(h == e && (uintptr_t)h % 64 == 0 && h->size == size &&
                       h->data[size - 1] == 0xA5,
                   "the hit for a %u-byte entry", size);
        ldb__cache_unpin(c, h);
    }
    ldb__cache_close(c);
}
END_TEST

START_TEST(test_arc_bound_under_scan)
{
    struct ldb__cache *c;
    size_t cap = 64 * ECHARGE;
    TU_RC_OK(ldb__cache_open(cap, 1, &c));
    struct ldb__cache_stats st;
    /* A pinned entry outlives its eviction. */
    struct ldb__cache_key k0 = ck(100000);
    struct ldb__cache_entry *held = ldb__cache_insert(c, &k0, ldb__cache_entry_new(ESIZE));
    memset(held->data, 0x5A, ESIZE);
    for (uint64_t i = 0; i < 640; i++) {
        touch(c, i);
        ldb__cache_stats(c, &st);
        TU_REQUIRE(st.bytes <= cap, "%llu bytes in a %zu-byte cache", (unsigned long long)st.bytes,
                   cap);
        TU_REQUIRE(st.t1 + st.b1 <= cap && st.t1 + st.t2 + st.b1 + st.b2 <= 2 * cap,
                   "directory over its bounds");
    }
    ck_assert_ptr_null(ldb__cache_get(c, &k0, NULL));
    for (unsigned j = 0; j < ESIZE; j++)
        TU_REQUIRE(held->data[j] == 0x5A, "a pinned entry changed");
    ldb__cache_unpin(c, held);
    ldb__cache_stats(c, &st);
    TU_REQUIRE(st.bytes > cap / 2, "the cache is nearly empty after a scan");
    ldb__cache_close(c);
}
END_TEST

START_TEST(test_arc_hot_set_survives_scan)
{
    struct ldb__cache *c;
    TU_RC_OK(ldb__cache_open(64 * ECHARGE, 1, &c));
    for (int pass = 0; pass < 2; pass++)
        for (uint64_t i = 0; i < 32; i++)
            touch(c, i); /* the hot set, hit twice: in T2 */
    /* A one-pass scan of 640 keys: an LRU of 64 would keep none of the hot set. */
    for (uint64_t i = 1000; i < 1640; i++)
        touch(c, i);
    unsigned hits = 0;
    for (uint64_t i = 0; i < 32; i++)
        hits += (unsigned)touch(c, i);
    ck_assert_uint_eq(hits, 32);
    ldb__cache_close(c);
}
END_TEST

START_TEST(test_arc_ghost_hits_move_p)
{
    struct ldb__cache *c;
    TU_RC_OK(ldb__cache_open(16 * ECHARGE, 1, &c));
    struct ldb__cache_stats st;
    for (int pass = 0; pass < 2; pass++)
        for (uint64_t i = 0; i < 16; i++)
            touch(c, i); /* T2 full */
    ldb__cache_stats(c, &st);
    ck_assert_uint_eq(st.t2, 16 * ECHARGE);
    ck_assert_uint_eq(st.p, 0);
    touch(c, 100); /* T1 empty: T2's LRU (key 0) goes to B2 */
    touch(c, 101); /* T1 over p = 0: key 100 goes to B1 */
    ldb__cache_stats(c, &st);
    ck_assert_uint_eq(st.b1, ECHARGE);
    ck_assert_uint_eq(st.b2, ECHARGE);
    ck_assert_int_eq(touch(c, 100), 0); /* a B1 ghost hit: recency wanted more room */
    ldb__cache_stats(c, &st);
    uint64_t p1 = st.p;
    TU_REQUIRE(p1 > 0, "a B1 hit left p at %llu", (unsigned long long)p1);
    ck_assert_int_eq(touch(c, 0), 0); /* a B2 ghost hit: frequency wanted it */
    ldb__cache_stats(c, &st);
    TU_REQUIRE(st.p < p1, "a B2 hit moved p from %llu to %llu", (unsigned long long)p1,
               (unsigned long long)st.p);
    ldb__cache_close(c);
}
END_TEST

#ifdef LDB_TEST_HOOKS
struct hit_arg {
    struct ldb__cache *c;
    int done, hit;
};

static void *hit_main(void *p)
{
    struct hit_arg *a = p;
    struct ldb__pins pins = {0};
    struct ldb__cache_key k = ck(7);
    struct ldb__cache_entry *e = ldb__pins_reserve(&pins) == 0 ? ldb__cache_get(a->c, &k, &pins)
                                                                : NULL;
    if (e != NULL) {
        ldb__pins_add(&pins, e);
        a->hit = e->data[0] == 7;
    }
    ldb__pins_free(a->c, &pins);
    __atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* A txn's hit takes no lock: it completes while another thread holds
 * every shard's lock (a miss would wait for it). */
START_TEST(test_cache_hit_takes_no_lock)
{
    struct hit_arg a = {0};
    TU_RC_OK(ldb__cache_open(64 * ECHARGE, 4, &a.c));
    touch(a.c, 7);
    ldb__cache_test_lock(a.c, 1);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, hit_main, &a), 0);
    for (int i = 0; i < 500 && !__atomic_load_n(&a.done, __ATOMIC_ACQUIRE); i++)
        usleep(10000);
    int done = __atomic_load_n(&a.done, __ATOMIC_ACQUIRE);
    ldb__cache_test_lock(a.c, 0);
    pthread_join(th, NULL);
    TU_REQUIRE(done, "a hit waited 5 s for a shard lock");
    ck_assert_int_eq(a.hit, 1);
    ldb__cache_close(a.c);
}
END_TEST
#endif

/* Threads hitting, missing and inserting on a cache that evicts all the
 * time (so entries go to the limbo and are freed while others look up):
 * every entry handed out holds its own key's bytes until unpinned, and
 * the bound holds. ASan and TSan check the rest. */
#define CT_THREADS 4
#define CT_KEYS 300u

struct ct_arg {
    struct ldb__cache *c;
    uint64_t seed;
    unsigned bad;
};

static uint32_t ct_size(uint64_t i)
{
    return 64 + (uint32_t)(i * 37 % 2000);
}

static void *ct_main(void *p)
{
    struct ct_arg *a = p;
    struct ldb__pins pins = {0};
    uint64_t s = a->seed;
    for (unsigned op = 0; op < 20000; op++) {
        uint64_t i = tu_rand(&s) % CT_KEYS;
        struct ldb__cache_key k = ck(i);
        if (ldb__pins_reserve(&pins) != 0)
            break;
        struct ldb__cache_entry *e = ldb__cache_get(a->c, &k, &pins);
        if (e == NULL) {
            e = ldb__cache_entry_new(ct_size(i));
            memset(e->data, (int)i, ct_size(i));
            e = ldb__cache_insert(a->c, &k, e);
        }
        ldb__pins_add(&pins, e);
        if (e->size != ct_size(i) || e->data[0] != (uint8_t)i || e->data[e->size - 1] != (uint8_t)i)
            a->bad++;
        if (tu_rand(&s) % 8 == 0) { /* a txn's end: check all it holds, then let go */
            for (size_t j = 0; j < pins.len; j++)
                a->bad += pins.v[j]->data[pins.v[j]->size / 2] != pins.v[j]->data[0];
            ldb__pins_release(a->c, &pins);
        }
    }
    ldb__pins_free(a->c, &pins);
    return NULL;
}

START_TEST(test_cache_threads)
{
    struct ldb__cache *c;
    size_t cap = 40 * 1100;
    TU_RC_OK(ldb__cache_open(cap, 2, &c));
    struct ct_arg args[CT_THREADS];
    pthread_t th[CT_THREADS];
    for (int t = 0; t < CT_THREADS; t++) {
        args[t] = (struct ct_arg){c, 11 + (uint64_t)t, 0};
        ck_assert_int_eq(pthread_create(&th[t], NULL, ct_main, &args[t]), 0);
    }
    for (int t = 0; t < CT_THREADS; t++) {
        pthread_join(th[t], NULL);
        ck_assert_uint_eq(args[t].bad, 0);
    }
    struct ldb__cache_stats st;
    ldb__cache_stats(c, &st);
    TU_REQUIRE(st.bytes <= cap, "%llu bytes in a %zu-byte cache", (unsigned long long)st.bytes, cap);
    TU_REQUIRE(st.hits > 0 && st.misses > 0, "hits %llu misses %llu", (unsigned long long)st.hits,
               (unsigned long long)st.misses);
    ldb__cache_close(c);
}
END_TEST

/* ---- readers against a writer ------------------------------------------------------------ */

#define TKEYS 64u
#define TROUNDS 150u

/* history[r][k]: the version of key k after commit r (0 = absent), and the
 * txn id of commit r. Versions encode in the value's first 4 bytes. */
static uint32_t history[TROUNDS + 1][TKEYS];
static uint64_t history_txn[TROUNDS + 1];
static volatile int rounds_done;

static uint32_t tsize(unsigned k, uint32_t ver)
{
    return 200 + (k * 131 + ver * 977) % 9000;
}

static void tvalue(uint8_t *v, unsigned k, uint32_t ver)
{
    uint32_t n = tsize(k, ver);
    fill_text(v, n, (uint64_t)k << 32 | ver);
    memcpy(v, &ver, 4);
}

struct reader_arg {
    ldb_env *env;
    int failed;
    char msg[256];
};

static void *reader_main(void *p)
{
    struct reader_arg *a = p;
    uint8_t *want = tu_xmalloc(10000);
    while (!__atomic_load_n(&rounds_done, __ATOMIC_ACQUIRE) && !a->failed) {
        ldb_txn *r;
        if (ldb_txn_begin(a->env, LDB_TXN_RDONLY, &r) != 0) {
            a->failed = 1;
            break;
        }
        uint64_t id = ldb_txn_id(r);
        int round = -1;
        for (int i = 0; i <= (int)TROUNDS; i++)
            if (__atomic_load_n(&history_txn[i], __ATOMIC_ACQUIRE) == id)
                round = i;
        for (unsigned k = 0; round >= 0 && k < TKEYS && !a->failed; k++) {
            ldb_val key = {sizeof k, &k}, v;
            int rc = ldb_get(r, LDB_MAIN, &key, &v);
            uint32_t ver = history[round][k];
            if (ver == 0) {
                if (rc != LDB_NOTFOUND)
                    snprintf(a->msg, sizeof a->msg, "key %u: %d, want absent at %d", k, rc, round),
                        a->failed = 1;
                continue;
            }
            tvalue(want, k, ver);
            if (rc != 0 || v.size != tsize(k, ver) || memcmp(v.data, want, v.size) != 0)
                snprintf(a->msg, sizeof a->msg, "key %u at round %d: rc %d, %zu bytes", k, round,
                         rc, rc == 0 ? v.size : 0),
                    a->failed = 1;
        }
        ldb_txn_abort(r);
    }
    free(want);
    return NULL;
}

START_TEST(test_readers_and_writer)
{
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = codec_opts(codecs[_i], 0);
    o.cache_size = 256 << 10; /* small: evictions and ghosts all the time */
    ldb_env *env = tu_open(path, &o);
    uint8_t *v = tu_xmalloc(10000);
    uint64_t s = 3;
    memset(history, 0, sizeof history);
    ldb_txn *w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "\xff", "end");
    TU_RC_OK(ldb_txn_commit(w));
    w = tu_begin(env, LDB_TXN_RDONLY);
    __atomic_store_n(&history_txn[0], ldb_txn_id(w), __ATOMIC_RELEASE);
    ldb_txn_abort(w);
    struct reader_arg args[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (struct reader_arg){env, 0, ""};
        ck_assert_int_eq(pthread_create(&th[i], NULL, reader_main, &args[i]), 0);
    }
    for (unsigned round = 1; round <= TROUNDS; round++) {
        memcpy(history[round], history[round - 1], sizeof history[round]);
        w = tu_begin(env, 0);
        for (unsigned j = 0; j < 8; j++) {
            unsigned k = (unsigned)(tu_rand(&s) % TKEYS);
            ldb_val key = {sizeof k, &k};
            if (tu_rand(&s) % 5 == 0) {
                int rc = ldb_del(w, LDB_MAIN, &key);
                TU_REQUIRE(rc == 0 || rc == LDB_NOTFOUND, "del %d", rc);
                history[round][k] = 0;
            } else {
                uint32_t ver = round * 16 + j + 1;
                tvalue(v, k, ver);
                ldb_val val = {tsize(k, ver), v};
                TU_RC_OK(ldb_put(w, LDB_MAIN, &key, &val, 0));
                history[round][k] = ver;
            }
        }
        uint64_t id = ldb_txn_id(w);
        TU_RC_OK(ldb_txn_commit(w));
        __atomic_store_n(&history_txn[round], id, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&rounds_done, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        TU_REQUIRE(!args[i].failed, "reader %d: %s", i, args[i].msg);
    }
    ldb_stat st = tu_env_stat(env);
    TU_REQUIRE(st.cache_hits > 0 && st.cache_bytes <= o.cache_size, "cache %llu hits %llu bytes",
               (unsigned long long)st.cache_hits, (unsigned long long)st.cache_bytes);
    free(v);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* ---- damage ---------------------------------------------------------------------------- */

START_TEST(test_damaged_value)
{
    int codec = codecs[_i];
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = codec_opts(codec, 0);
    ldb_env *env = tu_open(path, &o);
    uint8_t v[1500];
    fill_text(v, sizeof v, 42);
    ldb_txn *w = tu_begin(env, 0);
    tu_put_bytes(w, LDB_MAIN, "k", 1, v, sizeof v);
    TU_RC_OK(ldb_txn_commit(w));
    TU_RC_OK(ldb_close(env));
    /* Find the stored form in the file (it is deterministic) and change the
     * size its header records. */
    struct ldb__compressor c = {0};
    uint8_t st[sizeof v];
    uint32_t len;
    TU_RC_OK(ldb__compress_value(&c, codec, 0, v, sizeof v, st, sizeof st, &len));
    ldb__compressor_destroy(&c);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long fsize = ftell(f);
    uint8_t *img = tu_xmalloc((size_t)fsize);
    fseek(f, 0, SEEK_SET);
    ck_assert_uint_eq(fread(img, 1, (size_t)fsize, f), (size_t)fsize);
    uint8_t *at = memmem(img, (size_t)fsize, st, len);
    ck_assert_ptr_nonnull(at);
    uint32_t wrong = (uint32_t)sizeof v + 100;
    memcpy(at + 4, &wrong, 4);
    /* Seal the page again, so that only the value is wrong. */
    size_t page = (size_t)(at - img) / 4096 * 4096;
    ldb__page_seal(img + page, 4096);
    fseek(f, (long)page, SEEK_SET);
    ck_assert_uint_eq(fwrite(img + page, 4096, 1, f), 1);
    fclose(f);
    free(img);
    env = tu_open(path, &o);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_val got, kk = tu_str("k");
    TU_RC_IS(ldb_get(r, LDB_MAIN, &kk, &got), LDB_CORRUPTED);
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(r, LDB_MAIN, &cur));
    TU_RC_IS(ldb_cursor_get(cur, &kk, &got, LDB_FIRST), LDB_CORRUPTED);
    ldb_cursor_close(cur);
    ldb_txn_abort(r);
    char *report = NULL;
    size_t rlen = 0;
    FILE *rf = open_memstream(&report, &rlen);
    TU_RC_IS(ldb_check(env, rf), LDB_CORRUPTED);
    fclose(rf);
    TU_REQUIRE(strstr(report, "compressed value") != NULL, "report: %s", report);
    free(report);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* ---- copies: backup, salvage, metrics ------------------------------------------------ */

/* A model with compressed values inline and on overflow pages, plain ones
 * (short, random) and freed pages (overwrites and deletes), committed. */
static void fill_for_copies(ldb_env *env, struct model *m)
{
    uint64_t s = 21;
    unsigned nsizes = sizeof sizes / sizeof sizes[0];
    memset(m, 0, sizeof *m);
    for (int round = 0; round < 3; round++) {
        ldb_txn *w = tu_begin(env, 0);
        for (unsigned i = 0; i < NKEYS; i++) {
            if (round == 2 && i % 5 == 0) {
                char k[16];
                key_of(i, k);
                TU_RC_OK(ldb_del(w, LDB_MAIN, &(ldb_val){strlen(k), k}));
                m->present[i] = 0;
            } else if (round == 0 || tu_rand(&s) % 2) {
                model_put(w, m, i, sizes[(i + (unsigned)round) % nsizes],
                          i % 4 == 3 ? RANDOM : TEXT, tu_rand(&s));
            }
        }
        TU_RC_OK(ldb_txn_commit(w));
    }
}

static ldb_compress_stat compress_stat_of(ldb_env *env)
{
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    ldb_compress_stat cs;
    TU_RC_OK(ldb_dbi_compress_stat(r, LDB_MAIN, &cs));
    ldb_txn_abort(r);
    return cs;
}

/* dest reads as the model with compression off, keeps the stored form
 * (the same compressed count and bytes as want), passes ldb_check, and
 * takes writes. */
static void expect_copy(const char *dest, const struct model *m, const ldb_compress_stat *want)
{
    ldb_options o = codec_opts(LDB_COMPRESS_NONE, 0);
    ldb_env *env = tu_open(dest, &o);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    model_verify(r, m);
    ldb_txn_abort(r);
    ldb_compress_stat cs = compress_stat_of(env);
    TU_REQUIRE(cs.compressed > 0 && cs.compressed == want->compressed &&
                   cs.stored_bytes == want->stored_bytes && cs.raw_bytes == want->raw_bytes,
               "%s: %llu compressed in %llu bytes, want %llu in %llu", dest,
               (unsigned long long)cs.compressed, (unsigned long long)cs.stored_bytes,
               (unsigned long long)want->compressed, (unsigned long long)want->stored_bytes);
    tu_check_env(env);
    ldb_txn *w = tu_begin(env, 0);
    tu_put_str(w, LDB_MAIN, "after", "the copy");
    TU_RC_OK(ldb_txn_commit(w));
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
}

/* ldb_backup copies compressed values as they are stored: the page copy
 * and the compact rebuild (which renumbers overflow runs and rebuilds
 * leaves) alike. */
START_TEST(test_backup_keeps_stored_form)
{
    unsigned flags = _i ? LDB_BACKUP_COMPACT : 0;
    char dir[512], path[600], dest[700];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    snprintf(dest, sizeof dest, "%s/copy", dir);
    ldb_options o = codec_opts(codecs[_i], 0);
    ldb_env *env = tu_open(path, &o);
    static struct model m;
    fill_for_copies(env, &m);
    ldb_compress_stat want = compress_stat_of(env);
    TU_RC_OK(ldb_backup(env, dest, flags));
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    expect_copy(dest, &m, &want);
    tu_remove_dir(dir);
}
END_TEST

/* ldb_salvage replays the kept log records (compressed puts, op 6) into
 * the copy as they were logged: here a crashed writer's whole log, then
 * the same log with a record in the middle damaged (the txns before it
 * are kept). */
START_TEST(test_salvage_keeps_compressed_ops)
{
    char dir[512], path[600], dest[700], ends_path[700];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    snprintf(ends_path, sizeof ends_path, "%s/ends", dir);
    enum { TXNS = 8, PER_TXN = 6 };
    uint8_t v[3000];
    pid_t pid = fork();
    if (pid == 0) {
        ldb_options o = codec_opts(LDB_COMPRESS_ZSTD, 0);
        ldb_env *env;
        uint64_t ends[TXNS];
        if (ldb_open(path, &o, &env) != 0)
            _exit(2);
        for (unsigned t = 0; t < TXNS; t++) {
            ldb_txn *w;
            if (ldb_txn_begin(env, 0, &w) != 0)
                _exit(3);
            for (unsigned i = 0; i < PER_TXN; i++) {
                unsigned key = t * PER_TXN + i;
                fill_text(v, sizeof v, key);
                ldb_val k = {sizeof key, &key}, val = {i % 2 ? sizeof v : 500, v};
                if (ldb_put(w, LDB_MAIN, &k, &val, 0) != 0)
                    _exit(4);
            }
            ldb_stat st;
            if (ldb_txn_commit(w) != 0 || ldb_stat_env(env, &st) != 0)
                _exit(5);
            ends[t] = st.wal_size;
        }
        FILE *f = fopen(ends_path, "w");
        if (f == NULL || fwrite(ends, sizeof ends, 1, f) != 1 || fclose(f) != 0)
            _exit(6);
        _exit(0); /* no close: the log holds every txn */
    }
    int status = tu_wait_child(pid, 60, "writer");
    TU_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer status %d", status);
    uint64_t ends[TXNS];
    FILE *f = fopen(ends_path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(ends, sizeof ends, 1, f), 1);
    fclose(f);
    for (int damaged = 0; damaged < 2; damaged++) {
        snprintf(dest, sizeof dest, "%s/salvaged%d", dir, damaged);
        if (damaged) {
            /* A byte in txn 5's record (the log's header precedes the
             * records: wal_size counts from its end). */
            char wal[700];
            snprintf(wal, sizeof wal, "%s-wal", path);
            int fd = open(wal, O_RDWR);
            ck_assert_int_ge(fd, 0);
            off_t at = (off_t)(WAL_HEADER_SIZE + (ends[3] + ends[4]) / 2);
            uint8_t b;
            ck_assert_int_eq(pread(fd, &b, 1, at), 1);
            b ^= 0x10;
            ck_assert_int_eq(pwrite(fd, &b, 1, at), 1);
            close(fd);
        }
        TU_RC_OK(ldb_salvage(path, dest, NULL));
        unsigned kept = damaged ? 4 * PER_TXN : TXNS * PER_TXN;
        ldb_env *env = tu_open(dest, NULL);
        ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
        for (unsigned key = 0; key < TXNS * PER_TXN; key++) {
            if (key >= kept) {
                tu_expect_absent_bytes(r, LDB_MAIN, &key, sizeof key);
                continue;
            }
            fill_text(v, sizeof v, key);
            tu_expect_bytes(r, LDB_MAIN, &key, sizeof key, v, key % 2 ? sizeof v : 500);
        }
        ldb_compress_stat cs;
        TU_RC_OK(ldb_dbi_compress_stat(r, LDB_MAIN, &cs));
        ck_assert_uint_eq(cs.values, kept);
        ck_assert_uint_eq(cs.compressed, kept);
        ldb_txn_abort(r);
        tu_check_env(env);
        TU_RC_OK(ldb_close(env));
    }
    tu_remove_dir(dir);
}
END_TEST

/* The exposition text has the sample "NAME{labels} want". */
static void expect_metric(const char *text, const char *name, uint64_t want)
{
    char head[128], tail[64];
    snprintf(head, sizeof head, "\n%s{", name);
    snprintf(tail, sizeof tail, "} %llu\n", (unsigned long long)want);
    const char *at = strstr(text, head);
    TU_REQUIRE(at != NULL, "no sample of %s", name);
    at = strchr(at, '}');
    TU_REQUIRE(at != NULL && strncmp(at, tail, strlen(tail)) == 0, "%s: want %llu, got '%.40s'",
               name, (unsigned long long)want, at ? at : "");
}

/* The cache figures are real in ldb_stat_env and in ldb_metrics' text. */
START_TEST(test_metrics_show_cache)
{
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = codec_opts(LDB_COMPRESS_LZ4, 0);
    ldb_env *env = tu_open(path, &o);
    uint8_t v[1000];
    ldb_txn *w = tu_begin(env, 0);
    for (unsigned i = 0; i < 10; i++) {
        fill_text(v, sizeof v, i);
        tu_put_bytes(w, LDB_MAIN, &i, sizeof i, v, sizeof v);
    }
    TU_RC_OK(ldb_txn_commit(w));
    ldb_stat st = tu_env_stat(env);
    ck_assert_uint_eq(st.cache_hits + st.cache_misses + st.cache_bytes, 0);
    for (int pass = 0; pass < 3; pass++) {
        ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
        for (unsigned i = 0; i < 10; i++) {
            fill_text(v, sizeof v, i);
            tu_expect_bytes(r, LDB_MAIN, &i, sizeof i, v, sizeof v);
        }
        ldb_txn_abort(r);
    }
    st = tu_env_stat(env);
    ck_assert_uint_eq(st.cache_misses, 10);
    ck_assert_uint_eq(st.cache_hits, 20);
    TU_REQUIRE(st.cache_bytes >= 10 * sizeof v, "cache bytes %llu",
               (unsigned long long)st.cache_bytes);
    char *text = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&text, &len);
    TU_RC_OK(ldb_metrics(env, mf));
    fclose(mf);
    expect_metric(text, "lightningdb_cache_hits_total", st.cache_hits);
    expect_metric(text, "lightningdb_cache_misses_total", st.cache_misses);
    expect_metric(text, "lightningdb_cache_size_bytes", st.cache_bytes);
    free(text);
    /* The sized entry point: a size below the first struct is refused, a
     * larger one gets its tail zeroed. */
    struct {
        ldb_compress_stat cs;
        uint64_t more;
    } big;
    memset(&big, 0xAB, sizeof big);
    ldb_txn *r = tu_begin(env, LDB_TXN_RDONLY);
    TU_RC_IS(ldb_dbi_compress_stat_sized(r, LDB_MAIN, &big.cs, 8), LDB_INVALID);
    TU_RC_OK(ldb_dbi_compress_stat_sized(r, LDB_MAIN, &big.cs, sizeof big));
    ck_assert_uint_eq(big.cs.compressed, 10);
    ck_assert_uint_eq(big.more, 0);
    ldb_txn_abort(r);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* ---- missing: a build without a codec --------------------------------------- */

START_TEST(test_missing_codec)
{
    int codec = codecs[_i];
    if (ldb__compress_have_codec(codec))
        return; /* this build has it: the cases above cover it */
    ck_assert_int_eq(ldb__compress_check_options(codec, 0), LDB_INVALID);
    char dir[512], path[600];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = codec_opts(codec, 0);
    ldb_env *env;
    TU_RC_IS(ldb_open(path, &o, &env), LDB_INVALID);
    /* A sound stored value of that codec (as a full build writes it): the
     * header is valid, the codec is not here. */
    uint8_t stored[64] = {0};
    struct value_header h = {(uint8_t)codec, {0, 0, 0}, ldb__to_le32(1000)};
    memcpy(stored, &h, sizeof h);
    int got_codec;
    uint32_t raw;
    TU_RC_IS(ldb__compress_header(stored, sizeof stored, &got_codec, &raw), LDB_VERSION);
    uint8_t out[1000];
    TU_RC_IS(ldb__decompress_value(stored, sizeof stored, out, sizeof out), LDB_VERSION);
    /* A bad header is still damage, with or without the codec. */
    stored[0] = 9;
    TU_RC_IS(ldb__compress_header(stored, sizeof stored, &got_codec, &raw), LDB_CORRUPTED);
    tu_remove_dir(dir);
}
END_TEST

/* Both codecs are in this build (configure found libzstd and liblz4);
 * else the cases that need them are skipped, saying so. */
static int have_codecs(void)
{
    int ok = 1;
    for (unsigned i = 0; i < sizeof codecs / sizeof codecs[0]; i++)
        if (!ldb__compress_have_codec(codecs[i])) {
            fprintf(stderr, "check_compress: built without %s: its cases are skipped\n",
                    codecs[i] == LDB_COMPRESS_LZ4 ? "lz4" : "zstd");
            ok = 0;
        }
    return ok;
}

static Suite *compress_suite(void)
{
    Suite *s = suite_create("compress");
    TCase *tc = tcase_create("missing");
    tcase_add_loop_test(tc, test_missing_codec, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("arc");
    tcase_add_test(tc, test_cache_entry_one_line);
    tcase_add_test(tc, test_arc_bound_under_scan);
    tcase_add_test(tc, test_arc_hot_set_survives_scan);
    tcase_add_test(tc, test_arc_ghost_hits_move_p);
    suite_add_tcase(s, tc);
    if (!have_codecs())
        return s;

    tc = tcase_create("codec");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_codec_round_trip_and_damage, 0, 2);
    tcase_add_test(tc, test_codec_levels);
    suite_add_tcase(s, tc);

    tc = tcase_create("values");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_values_round_trip, 0, 2);
    tcase_add_test(tc, test_put_of_value_got);
    tcase_add_test(tc, test_named_trees);
    tcase_add_loop_test(tc, test_reopen_other_codecs, 0, 2);
    tcase_add_test(tc, test_replay_keeps_stored_form);
    tcase_add_test(tc, test_adaptive_random_values);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_readers_and_writer, 0, 2);
    tcase_add_test(tc, test_cache_threads);
#ifdef LDB_TEST_HOOKS
    tcase_add_test(tc, test_cache_hit_takes_no_lock);
#endif
    suite_add_tcase(s, tc);

    tc = tcase_create("copies");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_backup_keeps_stored_form, 0, 2);
    tcase_add_test(tc, test_salvage_keeps_compressed_ops);
    tcase_add_test(tc, test_metrics_show_cache);
    suite_add_tcase(s, tc);

    tc = tcase_create("damage");
    tcase_add_loop_test(tc, test_damaged_value, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {compress_suite()};
    return tu_run_suites(suites, 1);
}
