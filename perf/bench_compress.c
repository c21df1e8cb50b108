/* SPDX-License-Identifier: MIT */
/*
 * bench_compress: the measurements behind the compression choices of issue
 * 10 (docs/benchmarks.md quotes each with its command).
 *
 *   threshold  log-line values of 64..1024 bytes: per codec, the share
 *              stored compressed (the stored form, 8-byte header + payload,
 *              saves an eighth), the stored/raw ratio, and the pages a tree
 *              of such values takes against plain (inline values: more
 *              entries per leaf).
 *   random     puts of random (incompressible) 1 KiB values with zstd on
 *              against off, alternating rounds in one run: the adaptive skip.
 *   size       N log-line values of 1 KiB in random key order (the
 *              textvalues workload of ldb_bench), plain, LZ4 and zstd: the
 *              data file after ldb_close (checkpointed, empty log) and the
 *              largest log seen; then what those files are up against: the
 *              bytes of the keys and the values compressed one at a time
 *              (no page, node or slot) and, built with it, RocksDB's LZ4
 *              file closed.
 *   dict       the codec alone on the same 1 KiB values: zstd per value at
 *              levels 1, 3, 9, 19, and with a dictionary trained (libzstd's
 *              ZDICT_trainFromBuffer) on the first 2,000 values: what a
 *              per-tree dictionary buys, codec alone (`size` and `small`
 *              measure the built one through the database).
 *   threads    warm random gets of compressed values from 1 and then 2
 *              threads (the cache's lock-free hits), plain values and LMDB
 *              (built with it: plain values, same keys) alongside.
 *   gets       warm random gets from one thread, a fixed number (-g, default
 *              1,000,000) per engine: zstd (all in the cache), plain, and
 *              LMDB and RocksDB with LZ4 (when built with them) on the
 *              same values, each loop in a function of its own (gets_zstd,
 *              gets_plain, gets_lmdb, gets_rocksdb) so that callgrind can
 *              compare them; wall and CPU rates.
 *   small      small values through the database, zstd without and with a
 *              trained dictionary (ldb_dbi_train_dict after the first
 *              2,000 values): ~200-byte JSON records, and log lines of
 *              100-500 bytes; stored/raw, pages in use, the file closed.
 *   zipf       a cache a quarter the size of the values, a Zipfian key
 *              stream (then the same with a scan mixed in): gets/s, and
 *              the cache's hit rate against a plain LRU of the same byte
 *              bound driven by the same keys.
 * `size` includes zstd with a dictionary trained the same way.
 *
 * Usage: bench_compress [-n N] [-d DIR] [-r ROUNDS] [-c off|zstd|lz4] [-g GETS]
 *                       threshold|random|size|dict|threads|gets|small|zipf...
 * (-c limits `random` to one codec: for instruction counts under callgrind;
 * and `size` to one row: plain, lz4, zstd, zstd:19 or zstd+dict.)
 * Timings are wall clock: on a shared machine, compare the ratios of one
 * run, not absolute rates (or count instructions under callgrind).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zdict.h>
#include <zstd.h>
#ifdef BENCH_LMDB
#include <lmdb.h>
#endif
#ifdef BENCH_ROCKSDB
#include <rocksdb/c.h>
#endif

#include "lightningdb.h"

#define VALUE_SIZE 1024u

static uint64_t n_values = 100000;
static const char *parent = "/tmp";
static int rounds = 3;          /* -r: rounds of random and threads */
static const char *only = NULL; /* -c: random runs only this codec */
static uint64_t n_gets = 1000000; /* -g: gets per engine in `gets` */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The log lines of ldb_bench's textvalues workload (perf/bench.c). */
static void make_text(unsigned char *buf, size_t size, uint64_t seed)
{
    static const char *const level[] = {"INFO", "WARN", "DEBUG", "ERROR"};
    static const char *const svc[] = {"api", "db", "auth", "cache", "queue", "worker"};
    static const char *const msg[] = {"request served", "connection reset by peer",
                                      "cache miss for key", "retrying upstream",
                                      "user login ok", "slow query detected", "flushed batch"};
    char line[256];
    size_t o = 0;
    while (o < size) {
        uint64_t r = splitmix64(&seed);
        int n = snprintf(line, sizeof line,
                         "2026-12-05T14:%02u:%02u.%03uZ %s [%s] %s id=%u latency_ms=%u\n",
                         (unsigned)(r % 60), (unsigned)(r >> 8) % 60, (unsigned)(r >> 16) % 1000,
                         level[(r >> 26) % 4], svc[(r >> 28) % 6], msg[(r >> 32) % 7],
                         (unsigned)(r >> 35) % 100000, (unsigned)(r >> 52) % 5000);
        size_t len = (size_t)n < size - o ? (size_t)n : size - o;
        memcpy(buf + o, line, len);
        o += len;
    }
}

#define TEXT_SIZE ((size_t)16 << 20)
static unsigned char *text;

/* Value i of size len, cut from the text at a pseudo-random place. */
static const unsigned char *text_value(uint64_t i, size_t len)
{
    uint64_t s = i * 2 + 1;
    return text + splitmix64(&s) % (TEXT_SIZE - len);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#define OK(x)                                                                                      \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ != 0) {                                                                            \
            fprintf(stderr, "bench_compress: %s: %s\n", #x, ldb_strerror(rc_));                   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static char dir[512];

static void db_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static void db_remove(const char *path)
{
    char p[700];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-lock", path);
    unlink(p);
}

static uint64_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* Pages in use (file size minus free pages, which a fill in random order
 * leaves few of): what the values really take. */
static uint64_t used_bytes(ldb_env *env)
{
    ldb_stat st;
    OK(ldb_stat_env(env, &st));
    return st.pages_used * st.page_size;
}

static ldb_env *open_db(const char *path, int codec, int level)
{
    ldb_options o = {0};
    o.sync_mode = LDB_SYNC_OFF;
    o.compression = codec;
    o.compression_level = level;
    o.max_size = (uint64_t)8 << 30; /* a smaller map: valgrind refuses 1 TiB */
    ldb_env *env;
    OK(ldb_open(path, &o, &env));
    return env;
}

/* Keys 0..n-1 in a random order, big-endian so the order is the number's. */
static uint32_t *shuffled(uint64_t n, uint64_t seed)
{
    uint32_t *o = malloc(n * sizeof *o);
    if (o == NULL)
        exit(1);
    for (uint64_t i = 0; i < n; i++)
        o[i] = (uint32_t)i;
    for (uint64_t i = n - 1; i > 0; i--) {
        uint64_t j = splitmix64(&seed) % (i + 1);
        uint32_t t = o[i];
        o[i] = o[j];
        o[j] = t;
    }
    return o;
}

static void key_of(uint32_t i, unsigned char k[8])
{
    snprintf((char *)k, 8, "%07u", i);
}

/* Put values 0..n-1 (size len, text or random) in the order given, 1000
 * per txn. Returns the seconds it took; *log_max the largest log seen. */
static double fill(ldb_env *env, const uint32_t *order, uint64_t n, size_t len, int random,
                   uint64_t *log_max)
{
    static unsigned char rnd[VALUE_SIZE * 2];
    double t0 = now();
    ldb_txn *txn = NULL;
    for (uint64_t x = 0; x < n; x++) {
        if (txn == NULL)
            OK(ldb_txn_begin(env, 0, &txn));
        uint32_t i = order ? order[x] : (uint32_t)x;
        unsigned char k[8];
        key_of(i, k);
        ldb_val kv = {7, k}, vv = {len, (void *)text_value(i, len)};
        if (random) {
            uint64_t s = i + 7;
            for (size_t b = 0; b < len; b += 8) {
                uint64_t r = splitmix64(&s);
                memcpy(rnd + b, &r, 8);
            }
            vv.data = rnd;
        }
        OK(ldb_put(txn, LDB_MAIN, &kv, &vv, 0));
        if (x % 1000 == 999 || x + 1 == n) {
            OK(ldb_txn_commit(txn));
            txn = NULL;
            if (log_max) {
                ldb_stat st;
                OK(ldb_stat_env(env, &st));
                if (st.wal_size > *log_max)
                    *log_max = st.wal_size;
            }
        }
    }
    return now() - t0;
}

/* ---- threshold -------------------------------------------------------------------- */

/* n values of len bytes through ldb_put under codec, checkpointed: the
 * pages the tree takes, and what ldb_dbi_compress_stat says was stored. */
static uint64_t threshold_fill(size_t len, uint64_t n, int codec, ldb_compress_stat *cs)
{
    char path[600];
    db_path(path, sizeof path, "threshold.ldb");
    db_remove(path);
    ldb_env *env = open_db(path, codec, 0);
    fill(env, NULL, n, len, 0, NULL);
    OK(ldb_checkpoint(env));
    uint64_t used = used_bytes(env);
    ldb_txn *r;
    OK(ldb_txn_begin(env, LDB_TXN_RDONLY, &r));
    OK(ldb_dbi_compress_stat(r, LDB_MAIN, cs));
    ldb_txn_abort(r);
    OK(ldb_close(env));
    db_remove(path);
    return used;
}

static void run_threshold(void)
{
    static const size_t sizes[] = {64, 96, 128, 144, 160, 176, 192, 224, 256, 384, 512, 1024};
    uint64_t n = n_values < 20000 ? n_values : 20000;
    printf("threshold: %" PRIu64 " log-line values per size, in key order, zstd level 3 and LZ4 "
           "default; 'stored' = share of values stored compressed (saving an eighth), "
           "'s/r' = stored bytes / raw bytes over all values, 'pages' = pages the tree takes\n",
           n);
    printf("%6s | %7s %6s | %7s %6s | %11s %11s %11s | %9s %9s\n", "bytes", "zstd", "s/r", "lz4",
           "s/r", "plain pages", "zstd pages", "lz4 pages", "zstd/plain", "lz4/plain");
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t len = sizes[si];
        ldb_compress_stat cs[3];
        uint64_t pages[3];
        const int codec_of[3] = {LDB_COMPRESS_NONE, LDB_COMPRESS_ZSTD, LDB_COMPRESS_LZ4};
        double share[3], ratio[3];
        for (int c = 0; c < 3; c++) {
            pages[c] = threshold_fill(len, n, codec_of[c], &cs[c]) / 4096;
            share[c] = (double)cs[c].compressed / (double)cs[c].values;
            /* a value stored plain counts with its own size */
            ratio[c] = (double)(cs[c].stored_bytes + (cs[c].values - cs[c].compressed) * len) /
                       (double)(cs[c].values * len);
        }
        printf("%6zu | %6.0f%% %6.3f | %6.0f%% %6.3f | %11" PRIu64 " %11" PRIu64 " %11" PRIu64
               " | %9.3f %9.3f\n",
               len, share[1] * 100, ratio[1], share[2] * 100, ratio[2], pages[0], pages[1],
               pages[2], (double)pages[1] / (double)pages[0], (double)pages[2] / (double)pages[0]);
        fflush(stdout);
    }
}

/* ---- random ----------------------------------------------------------------------- */

static void run_random(void)
{
    uint64_t n = n_values;
    printf("random: %" PRIu64 " puts of random 1 KiB values, 1000 per txn, LDB_SYNC_OFF, "
           "rounds alternating off/zstd/lz4\n",
           n);
    double best[3] = {1e30, 1e30, 1e30}, sum[3] = {0, 0, 0};
    const int codecs[3] = {LDB_COMPRESS_NONE, LDB_COMPRESS_ZSTD, LDB_COMPRESS_LZ4};
    const char *names[3] = {"off", "zstd", "lz4"};
    for (int round = 0; round < rounds; round++) {
        for (int c = 0; c < 3; c++) {
            if (only != NULL && strcmp(only, names[c]) != 0)
                continue;
            char path[600];
            db_path(path, sizeof path, "random.ldb");
            db_remove(path);
            ldb_env *env = open_db(path, codecs[c], 0);
            uint32_t *order = shuffled(n, 99);
            double t = fill(env, order, n, VALUE_SIZE, 1, NULL);
            free(order);
            OK(ldb_close(env));
            db_remove(path);
            sum[c] += t;
            if (t < best[c])
                best[c] = t;
            printf("  round %d %-4s %8.0f puts/s\n", round, names[c], (double)n / t);
            fflush(stdout);
        }
    }
    for (int c = 0; c < 3; c++)
        if (only == NULL)
            printf("%-4s best %8.0f puts/s, mean %8.0f; best vs off %.3f, mean vs off %.3f\n",
               names[c], (double)n / best[c], (double)n * rounds / sum[c], best[0] / best[c],
               sum[0] / sum[c]);
}

/* ---- size ------------------------------------------------------------------------- */

/* Values put before a dictionary is trained (size, small). */
#define DICT_AFTER 2000u

/* A dictionary for the main tree (default size), in a txn of its own. */
static void train(ldb_env *env)
{
    ldb_txn *txn;
    OK(ldb_txn_begin(env, 0, &txn));
    OK(ldb_dbi_train_dict(txn, LDB_MAIN, 0, NULL));
    OK(ldb_txn_commit(txn));
}

static void size_limits(uint64_t n, uint64_t plain_file);

static void run_size(void)
{
    uint64_t n = n_values;
    printf("size: %" PRIu64 " log-line values of 1 KiB (%.1f MiB), random key order, 1000 per "
           "txn, LDB_SYNC_OFF\n",
           n, (double)n * VALUE_SIZE / 1048576.0);
    struct {
        const char *name;
        int codec, level, dict;
    } runs[] = {{"plain", LDB_COMPRESS_NONE, 0, 0},
                {"lz4", LDB_COMPRESS_LZ4, 0, 0},
                {"zstd", LDB_COMPRESS_ZSTD, 0, 0},
                {"zstd:19", LDB_COMPRESS_ZSTD, 19, 0},
                {"zstd+dict", LDB_COMPRESS_ZSTD, 0, 1}};
    uint64_t plain_file = 0, plain_open = 0;
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        char path[600], wal[700];
        db_path(path, sizeof path, "size.ldb");
        snprintf(wal, sizeof wal, "%s-wal", path);
        db_remove(path);
        if ((runs[r].dict && n <= DICT_AFTER) || (only && strcmp(only, runs[r].name) != 0))
            continue;
        ldb_env *env = open_db(path, runs[r].codec, runs[r].level);
        uint32_t *order = shuffled(n, 42);
        uint64_t log_max = 0;
        double t;
        if (runs[r].dict) { /* a dictionary once DICT_AFTER values are in */
            t = fill(env, order, DICT_AFTER, VALUE_SIZE, 0, &log_max);
            double t0 = now();
            train(env);
            t += now() - t0;
            t += fill(env, order + DICT_AFTER, n - DICT_AFTER, VALUE_SIZE, 0, &log_max);
        } else {
            t = fill(env, order, n, VALUE_SIZE, 0, &log_max);
        }
        free(order);
        uint64_t open_total = file_size(path) + file_size(wal);
        ldb_txn *txn;
        ldb_compress_stat cs;
        OK(ldb_txn_begin(env, LDB_TXN_RDONLY, &txn));
        OK(ldb_dbi_compress_stat(txn, LDB_MAIN, &cs));
        ldb_txn_abort(txn);
        uint64_t used = used_bytes(env);
        /* The file holds pages freed during the fill (they wait for a
         * checkpoint); a compact copy is what the data needs. */
        char copy[700];
        snprintf(copy, sizeof copy, "%s.compact", path);
        unlink(copy);
        OK(ldb_backup(env, copy, LDB_BACKUP_COMPACT));
        uint64_t compact = file_size(copy);
        unlink(copy);
        OK(ldb_close(env));
        uint64_t closed = file_size(path) + file_size(wal);
        if (r == 0) {
            plain_file = closed;
            plain_open = open_total;
        }
        printf("%-8s %7.0f puts/s | open: data+log %7.1f MB (%.3f) | closed: %7.1f MB (%.3f), "
               "pages used %7.1f MB | compact copy %7.1f MB | largest log %6.1f MB | "
               "values stored/raw %.3f\n",
               runs[r].name, (double)n / t, open_total / 1e6, (double)open_total / plain_open,
               closed / 1e6, (double)closed / plain_file, used / 1e6, compact / 1e6,
               log_max / 1e6,
               cs.compressed ? (double)(cs.stored_bytes + (cs.values - cs.compressed) *
                                                              VALUE_SIZE) /
                                   (double)(cs.values * VALUE_SIZE)
                             : 1.0);
        fflush(stdout);
        db_remove(path);
    }
    if (only == NULL)
        size_limits(n, plain_file);
}

/* ---- dict ------------------------------------------------------------------------- */

/* dict measures values the training sample did not include. */
#define HELD_OUT 1000000u

/* Stored bytes (our 8-byte header included) of values first..first+n-1
 * compressed one at a time with cctx at level, through cdict if not NULL. */
static uint64_t dict_stored(ZSTD_CCtx *cctx, ZSTD_CDict *cdict, int level, uint64_t first,
                            uint64_t n)
{
    static unsigned char out[2 * VALUE_SIZE];
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        const unsigned char *v = text_value(i + first, VALUE_SIZE);
        size_t r = cdict ? ZSTD_compress_usingCDict(cctx, out, sizeof out, v, VALUE_SIZE, cdict)
                         : ZSTD_compressCCtx(cctx, out, sizeof out, v, VALUE_SIZE, level);
        if (ZSTD_isError(r))
            exit(1);
        total += 8 + (r < VALUE_SIZE - VALUE_SIZE / 8 ? r : VALUE_SIZE);
    }
    return total;
}

static void run_dict(void)
{
    uint64_t n = n_values < 50000 ? n_values : 50000;
    enum { SAMPLES = 2000 };
    printf("dict: %" PRIu64 " log-line values of 1 KiB, one at a time; stored/raw with our "
           "8-byte header (a value that saves less than an eighth counts whole)\n",
           n);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    static const int levels[] = {1, 3, 9, 19};
    for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++)
        printf("  no dictionary, level %2d: %.3f\n", levels[l],
               (double)dict_stored(cctx, NULL, levels[l], HELD_OUT, n) / (double)(n * VALUE_SIZE));
    unsigned char *samples = malloc((size_t)SAMPLES * VALUE_SIZE);
    size_t *sizes = malloc(SAMPLES * sizeof *sizes);
    if (samples == NULL || sizes == NULL)
        exit(1);
    for (size_t i = 0; i < SAMPLES; i++) {
        memcpy(samples + i * VALUE_SIZE, text_value(i, VALUE_SIZE), VALUE_SIZE);
        sizes[i] = VALUE_SIZE;
    }
    static const size_t dict_sizes[] = {4096, 16384, 65536};
    for (size_t d = 0; d < sizeof dict_sizes / sizeof dict_sizes[0]; d++) {
        unsigned char *dict = malloc(dict_sizes[d]);
        size_t len = ZDICT_trainFromBuffer(dict, dict_sizes[d], samples, sizes, SAMPLES);
        if (ZDICT_isError(len)) {
            printf("  dictionary of %zu bytes: %s\n", dict_sizes[d], ZDICT_getErrorName(len));
            free(dict);
            continue;
        }
        for (size_t l = 1; l < sizeof levels / sizeof levels[0]; l += 2) {
            ZSTD_CDict *cd = ZSTD_createCDict(dict, len, levels[l]);
            printf("  dictionary of %6zu bytes (from the first %d values), level %2d: %.3f\n",
                   len, SAMPLES, levels[l],
                   (double)dict_stored(cctx, cd, levels[l], HELD_OUT, n) / (double)(n * VALUE_SIZE));
            ZSTD_freeCDict(cd);
        }
        free(dict);
    }
    free(samples);
    free(sizes);
    ZSTD_freeCCtx(cctx);
}

/* ---- small -------------------------------------------------------------------------- */

/* Value i of the small workloads into buf: a JSON-like record of ~200
 * bytes (json), or a run of log lines cut to 100-500 bytes. */
static size_t small_value(char *buf, uint64_t i, int json)
{
    static const char *const country[] = {"DE", "FR", "US", "JP", "BR", "IN", "NL"};
    static const char *const plan[] = {"free", "pro", "team", "enterprise"};
    static const char *const tag[] = {"beta", "mobile", "desktop", "api", "newsletter"};
    uint64_t s = i * 7 + 3, r = splitmix64(&s);
    if (!json) {
        size_t len = 100 + (size_t)(r % 401);
        memcpy(buf, text_value(i, len), len);
        return len;
    }
    return (size_t)sprintf(
        buf,
        "{\"id\":%" PRIu64 ",\"user\":\"user%05u\",\"email\":\"user%05u@example.com\","
        "\"country\":\"%s\",\"plan\":\"%s\",\"created\":\"2026-%02u-%02uT%02u:%02u:%02uZ\","
        "\"active\":%s,\"score\":%u,\"tags\":[\"%s\",\"%s\"]}",
        i, (unsigned)(r % 100000), (unsigned)(r % 100000), country[(r >> 17) % 7],
        plan[(r >> 20) % 4], (unsigned)((r >> 22) % 12 + 1), (unsigned)((r >> 26) % 28 + 1),
        (unsigned)((r >> 31) % 24), (unsigned)((r >> 36) % 60), (unsigned)((r >> 42) % 60),
        (r >> 48) & 1 ? "true" : "false", (unsigned)((r >> 50) % 1000), tag[(r >> 58) % 5],
        tag[(r >> 61) % 5]);
}

static void small_fill(ldb_env *env, const uint32_t *order, uint64_t from, uint64_t to,
                       int json, uint64_t *raw)
{
    ldb_txn *txn = NULL;
    char v[600];
    for (uint64_t x = from; x < to; x++) {
        if (txn == NULL)
            OK(ldb_txn_begin(env, 0, &txn));
        unsigned char k[8];
        key_of(order[x], k);
        size_t len = small_value(v, order[x], json);
        *raw += len;
        ldb_val kv = {7, k}, vv = {len, v};
        OK(ldb_put(txn, LDB_MAIN, &kv, &vv, 0));
        if (x % 1000 == 999 || x + 1 == to) {
            OK(ldb_txn_commit(txn));
            txn = NULL;
        }
    }
}

static void run_small(void)
{
    uint64_t n = n_values;
    printf("small: %" PRIu64 " values, random key order, 1000 per txn, LDB_SYNC_OFF; "
           "dictionary (default size) trained after the first %u values\n",
           n, DICT_AFTER);
    for (int json = 1; json >= 0; json--) {
        for (int dict = 0; dict < 3; dict++) {
            char path[600];
            db_path(path, sizeof path, "small.ldb");
            db_remove(path);
            ldb_env *env = open_db(path, dict ? LDB_COMPRESS_ZSTD : LDB_COMPRESS_NONE, 0);
            uint32_t *order = shuffled(n, 42);
            uint64_t raw = 0, first = n < DICT_AFTER ? n : DICT_AFTER;
            small_fill(env, order, 0, first, json, &raw);
            if (dict == 2)
                train(env);
            small_fill(env, order, first, n, json, &raw);
            free(order);
            ldb_txn *txn;
            ldb_compress_stat cs;
            OK(ldb_txn_begin(env, LDB_TXN_RDONLY, &txn));
            OK(ldb_dbi_compress_stat(txn, LDB_MAIN, &cs));
            ldb_txn_abort(txn);
            uint64_t used = used_bytes(env);
            OK(ldb_close(env));
            uint64_t stored = cs.stored_bytes + (raw - cs.raw_bytes);
            printf("%-10s %-13s %9.1f MB raw | compressed %5.1f %% | stored/raw %.3f | pages "
                   "used %7.1f MB | file closed %7.1f MB\n",
                   json ? "json-200" : "log-100-500",
                   dict == 0 ? "plain" : dict == 1 ? "zstd" : "zstd+dict", raw / 1e6,
                   100.0 * (double)cs.compressed / (double)cs.values,
                   (double)stored / (double)raw, used / 1e6, file_size(path) / 1e6);
            fflush(stdout);
            db_remove(path);
        }
    }
}

/* ---- threads ---------------------------------------------------------------------- */

/* A reader: ours (env) or LMDB's (menv) on the same values; keys drawn at
 * random, or taken in turn from stream when there is one. */
struct reader {
    ldb_env *env;
#ifdef BENCH_LMDB
    MDB_env *menv;
    MDB_dbi mdbi;
#endif
#ifdef BENCH_ROCKSDB
    rocksdb_t *rdb;
    rocksdb_readoptions_t *rro;
#endif
    uint64_t n, seed;
    const uint32_t *stream;
    uint64_t stream_len;
    uint64_t count; /* stop after this many gets (0: after secs) */
    double secs;
    double cpu; /* the thread's CPU seconds */
    uint64_t gets;
};

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint32_t next_key(struct reader *rd, uint64_t *s, uint64_t i)
{
    if (rd->stream != NULL)
        return rd->stream[i % rd->stream_len];
    return (uint32_t)(splitmix64(s) % rd->n);
}

static int reader_done(const struct reader *rd, uint64_t gets, double stop)
{
    if (rd->stream != NULL)
        return gets >= rd->stream_len;
    if (rd->count != 0)
        return gets >= rd->count;
    return gets % 1024 == 0 && now() >= stop;
}

static void *read_loop_ldb(void *arg)
{
    struct reader *rd = arg;
    ldb_txn *txn;
    OK(ldb_txn_begin(rd->env, LDB_TXN_RDONLY, &txn));
    double t0 = now(), stop = t0 + rd->secs, c0 = thread_cpu();
    uint64_t gets = 0, s = rd->seed, sum = 0;
    while (!reader_done(rd, gets, stop)) {
        unsigned char k[8];
        key_of(next_key(rd, &s, gets), k);
        ldb_val kv = {7, k}, v;
        OK(ldb_get(txn, LDB_MAIN, &kv, &v));
        sum += ((const unsigned char *)v.data)[v.size / 2];
        gets++;
        if (gets % 4096 == 0) { /* renew: pins are released per txn */
            ldb_txn_reset(txn);
            OK(ldb_txn_renew(txn));
        }
    }
    ldb_txn_abort(txn);
    rd->secs = now() - t0;
    rd->cpu = thread_cpu() - c0;
    rd->gets = gets + (sum == 0xFFFFFFFFFFFFFFFFull);
    return NULL;
}

#ifdef BENCH_LMDB
#define MDB_OK(x)                                                                                  \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ != 0) {                                                                            \
            fprintf(stderr, "bench_compress: %s: %s\n", #x, mdb_strerror(rc_));                   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* The same loop over LMDB (values stored plain), a txn renewed as often. */
static void *read_loop_lmdb(void *arg)
{
    struct reader *rd = arg;
    MDB_txn *txn;
    MDB_OK(mdb_txn_begin(rd->menv, NULL, MDB_RDONLY, &txn));
    double t0 = now(), stop = t0 + rd->secs, c0 = thread_cpu();
    uint64_t gets = 0, s = rd->seed, sum = 0;
    while (!reader_done(rd, gets, stop)) {
        unsigned char k[8];
        key_of(next_key(rd, &s, gets), k);
        MDB_val kv = {7, k}, v;
        MDB_OK(mdb_get(txn, rd->mdbi, &kv, &v));
        sum += ((const unsigned char *)v.mv_data)[v.mv_size / 2];
        gets++;
        if (gets % 4096 == 0) {
            mdb_txn_reset(txn);
            MDB_OK(mdb_txn_renew(txn));
        }
    }
    mdb_txn_abort(txn);
    rd->secs = now() - t0;
    rd->cpu = thread_cpu() - c0;
    rd->gets = gets + (sum == 0xFFFFFFFFFFFFFFFFull);
    return NULL;
}

/* An LMDB environment in its own directory holding values 0..n-1 as fill
 * puts them in ours (key order). */
static MDB_env *lmdb_fill(const char *path, uint64_t n, MDB_dbi *dbi)
{
    MDB_env *e;
    mkdir(path, 0700);
    MDB_OK(mdb_env_create(&e));
    MDB_OK(mdb_env_set_mapsize(e, (size_t)4 << 30));
    MDB_OK(mdb_env_open(e, path, MDB_NOSYNC | MDB_NOMETASYNC, 0600));
    MDB_txn *txn = NULL;
    for (uint64_t i = 0; i < n; i++) {
        if (txn == NULL) {
            MDB_OK(mdb_txn_begin(e, NULL, 0, &txn));
            MDB_OK(mdb_dbi_open(txn, NULL, 0, dbi));
        }
        unsigned char k[8];
        key_of((uint32_t)i, k);
        MDB_val kv = {7, k}, vv = {VALUE_SIZE, (void *)text_value(i, VALUE_SIZE)};
        MDB_OK(mdb_put(txn, *dbi, &kv, &vv, 0));
        if (i % 1000 == 999 || i + 1 == n) {
            MDB_OK(mdb_txn_commit(txn));
            txn = NULL;
        }
    }
    return e;
}

static void lmdb_remove(const char *path)
{
    char p[700];
    snprintf(p, sizeof p, "%s/data.mdb", path);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", path);
    unlink(p);
    rmdir(path);
}
#endif

/* The same n log-line values in each engine the warm-get runs compare: ours
 * with zstd and plain, and LMDB's (when built with it). */
struct engines {
    char pz[600], pp[600];
    ldb_env *z, *p;
    struct reader rz, rp;
#ifdef BENCH_LMDB
    char pm[600];
    struct reader lm;
#endif
};

static void engine_path(char *out, size_t cap, const char *run, const char *what)
{
    char name[64];
    snprintf(name, sizeof name, "%s-%s", run, what);
    db_path(out, cap, name);
}

static void engines_open(struct engines *e, const char *run, uint64_t n)
{
    engine_path(e->pz, sizeof e->pz, run, "zstd.ldb");
    engine_path(e->pp, sizeof e->pp, run, "plain.ldb");
    db_remove(e->pz);
    db_remove(e->pp);
    e->z = open_db(e->pz, LDB_COMPRESS_ZSTD, 0);
    e->p = open_db(e->pp, LDB_COMPRESS_NONE, 0);
    fill(e->z, NULL, n, VALUE_SIZE, 0, NULL);
    fill(e->p, NULL, n, VALUE_SIZE, 0, NULL);
    e->rz = (struct reader){.env = e->z, .n = n};
    e->rp = (struct reader){.env = e->p, .n = n};
#ifdef BENCH_LMDB
    engine_path(e->pm, sizeof e->pm, run, "lmdb");
    e->lm = (struct reader){.n = n};
    e->lm.menv = lmdb_fill(e->pm, n, &e->lm.mdbi);
#endif
}

static void engines_close(struct engines *e)
{
#ifdef BENCH_LMDB
    mdb_env_close(e->lm.menv);
    lmdb_remove(e->pm);
#endif
    OK(ldb_close(e->z));
    OK(ldb_close(e->p));
    db_remove(e->pz);
    db_remove(e->pp);
}

/* Gets per second of `threads` readers like proto, each with its own seed;
 * *per_cpu (unless NULL): gets per CPU second of the readers, which a busy
 * machine disturbs less than the clock (threads waiting for a core). */
static double gets_per_sec(const struct reader *proto, void *(*loop)(void *), int threads,
                           double secs, double *per_cpu)
{
    struct reader rd[2];
    pthread_t th[2];
    for (int t = 0; t < threads; t++) {
        rd[t] = *proto;
        rd[t].seed = 1000 + (uint64_t)t;
        rd[t].secs = secs;
        pthread_create(&th[t], NULL, loop, &rd[t]);
    }
    double rate = 0, gets = 0, cpu = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        rate += (double)rd[t].gets / rd[t].secs;
        gets += (double)rd[t].gets;
        cpu += rd[t].cpu;
    }
    if (per_cpu != NULL)
        *per_cpu = gets / cpu;
    return rate;
}

/* Wall-clock rates of 1 and 2 threads, and gets per CPU second of each. */
struct rates {
    double r1, r2, c1, c2;
};

static struct rates measure(const struct reader *proto, void *(*loop)(void *))
{
    struct rates r;
    r.r1 = gets_per_sec(proto, loop, 1, 2.0, &r.c1);
    r.r2 = gets_per_sec(proto, loop, 2, 2.0, &r.c2);
    return r;
}

static double ldb_rate(ldb_env *env, uint64_t n, int threads, double secs)
{
    struct reader proto = {.env = env, .n = n};
    return gets_per_sec(&proto, read_loop_ldb, threads, secs, NULL);
}

static void print_rates(const char *name, const struct rates *r)
{
    printf("    %-10s 1 thread %8.0f/s, 2 threads %8.0f/s (x%.2f); per CPU s: 1 thread %8.0f, "
           "2 threads %8.0f (x%.2f)\n",
           name, r->r1, r->r2, r->r2 / r->r1, r->c1, r->c2, r->c2 / r->c1);
}

static void run_threads(void)
{
    uint64_t n = n_values < 50000 ? n_values : 50000;
    printf("threads: %" PRIu64 " log-line values of 1 KiB, warm random gets (cache holds all), "
           "2 s per run, rounds alternating\n",
           n);
    struct engines e;
    engines_open(&e, "threads", n);
    ldb_rate(e.z, n, 1, 1.0); /* warm the cache */
    for (int round = 0; round < rounds; round++) {
        struct rates zr = measure(&e.rz, read_loop_ldb), pr = measure(&e.rp, read_loop_ldb);
        printf("  round %d:\n", round);
        print_rates("zstd", &zr);
        print_rates("plain", &pr);
        printf("    zstd/plain per CPU s: 1 thread %.2f, 2 threads %.2f\n", zr.c1 / pr.c1,
               zr.c2 / pr.c2);
#ifdef BENCH_LMDB
        struct rates mr = measure(&e.lm, read_loop_lmdb);
        print_rates("LMDB plain", &mr);
        printf("    zstd/LMDB per CPU s: 1 thread %.2f, 2 threads %.2f; wall: %.2f, %.2f\n",
               zr.c1 / mr.c1, zr.c2 / mr.c2, zr.r1 / mr.r1, zr.r2 / mr.r2);
#endif
        ldb_stat st;
        OK(ldb_stat_env(e.z, &st));
        printf("    cache hits %" PRIu64 " misses %" PRIu64 "\n", st.cache_hits, st.cache_misses);
        fflush(stdout);
    }
    engines_close(&e);
}

#ifdef BENCH_ROCKSDB
static void rocks_ok(const char *what, char *err)
{
    if (err != NULL) {
        fprintf(stderr, "bench_compress: %s: %s\n", what, err);
        exit(1);
    }
}

/* The same loop over RocksDB: a pinned get (no copy), its block cache warm. */
static void *read_loop_rocksdb(void *arg)
{
    struct reader *rd = arg;
    double t0 = now(), stop = t0 + rd->secs, c0 = thread_cpu();
    uint64_t gets = 0, s = rd->seed, sum = 0;
    while (!reader_done(rd, gets, stop)) {
        unsigned char k[8];
        key_of(next_key(rd, &s, gets), k);
        char *err = NULL;
        rocksdb_pinnableslice_t *ps = rocksdb_get_pinned(rd->rdb, rd->rro, (const char *)k, 7, &err);
        rocks_ok("rocksdb_get_pinned", err);
        size_t len;
        const char *v = rocksdb_pinnableslice_value(ps, &len);
        if (v == NULL) {
            fprintf(stderr, "bench_compress: rocksdb: a key is missing\n");
            exit(1);
        }
        sum += (unsigned char)v[len / 2];
        rocksdb_pinnableslice_destroy(ps);
        gets++;
    }
    rd->secs = now() - t0;
    rd->cpu = thread_cpu() - c0;
    rd->gets = gets + (sum == 0xFFFFFFFFFFFFFFFFull);
    return NULL;
}

/* RocksDB with LZ4 (as ldb_bench's rocksdb-lz4) holding values 0..n-1,
 * flushed and compacted so that gets read LZ4 blocks from SST files through
 * a block cache of cache_size bytes (the same as ours), not the memtable. */
static rocksdb_t *rocksdb_fill(const char *path, uint64_t n, size_t cache_size)
{
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_compression(o, rocksdb_lz4_compression);
    rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
    rocksdb_cache_t *cache = rocksdb_cache_create_lru(cache_size);
    rocksdb_block_based_options_set_block_cache(t, cache);
    rocksdb_options_set_block_based_table_factory(o, t);
    char *err = NULL;
    rocksdb_t *db = rocksdb_open(o, path, &err);
    rocks_ok("rocksdb_open", err);
    rocksdb_writeoptions_t *w = rocksdb_writeoptions_create();
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    for (uint64_t i = 0; i < n; i++) {
        unsigned char k[8];
        key_of((uint32_t)i, k);
        rocksdb_writebatch_put(b, (const char *)k, 7, (const char *)text_value(i, VALUE_SIZE),
                               VALUE_SIZE);
        if (i % 1000 == 999 || i + 1 == n) {
            rocksdb_write(db, w, b, &err);
            rocks_ok("rocksdb_write", err);
            rocksdb_writebatch_clear(b);
        }
    }
    rocksdb_writebatch_destroy(b);
    rocksdb_writeoptions_destroy(w);
    rocksdb_flushoptions_t *f = rocksdb_flushoptions_create();
    rocksdb_flush(db, f, &err);
    rocks_ok("rocksdb_flush", err);
    rocksdb_flushoptions_destroy(f);
    rocksdb_compact_range(db, NULL, 0, NULL, 0);
    /* the options, table options and cache stay referenced by the db */
    return db;
}

static void rocksdb_remove(const char *path)
{
    rocksdb_options_t *o = rocksdb_options_create();
    char *err = NULL;
    rocksdb_destroy_db(o, path, &err);
    free(err);
    rocksdb_options_destroy(o);
}
#endif

/* Bytes of the regular files in dbdir (a RocksDB database's directory). */
static uint64_t dir_bytes(const char *dbdir)
{
    DIR *d = opendir(dbdir);
    uint64_t total = 0;
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dbdir, de->d_name);
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
            total += (uint64_t)sb.st_size;
    }
    if (d != NULL)
        closedir(d);
    return total;
}

/* What `size`'s rows are up against, in the same run: the bytes any store
 * that compresses each value alone needs for these keys and values (zstd's
 * default level, our 8-byte header, no node, slot or page: a tree packed
 * without a byte of air), and RocksDB's LZ4 file (blocks of many values
 * compressed together), flushed, compacted and closed. */
static void size_limits(uint64_t n, uint64_t plain_file)
{
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    uint64_t floor = 7 * n + dict_stored(cctx, NULL, ZSTD_CLEVEL_DEFAULT, 0, n);
    ZSTD_freeCCtx(cctx);
    printf("per-value floor: keys + values zstd'ed one at a time %7.1f MB (%.3f of plain's "
           "closed file)\n",
           floor / 1e6, (double)floor / plain_file);
#ifdef BENCH_ROCKSDB
    char path[600];
    db_path(path, sizeof path, "size.rocksdb");
    rocksdb_remove(path);
    rocksdb_close(rocksdb_fill(path, n, 8u << 20));
    uint64_t closed = dir_bytes(path);
    printf("RocksDB LZ4: closed %7.1f MB (%.3f of plain's closed file)\n", closed / 1e6,
           (double)closed / plain_file);
    rocksdb_remove(path);
#endif
    fflush(stdout);
}

/* ---- gets: one thread, a fixed count, for callgrind ------------------------------- */

/* One timed run of a fixed number of gets; the rate per CPU second in *cpu. */
static double fixed_gets(const struct reader *proto, void *(*loop)(void *), double *cpu)
{
    struct reader rd = *proto;
    rd.seed = 1000;
    rd.count = n_gets;
    loop(&rd);
    *cpu = (double)rd.gets / rd.cpu;
    return (double)rd.gets / rd.secs;
}

/* A function per engine, so that callgrind's profile tells them apart
 * (the phase store keeps the compiler from folding them into one). */
static volatile int gets_phase;

static __attribute__((noinline)) double gets_zstd(const struct reader *r, double *cpu)
{
    gets_phase = 1;
    return fixed_gets(r, read_loop_ldb, cpu);
}

static __attribute__((noinline)) double gets_plain(const struct reader *r, double *cpu)
{
    gets_phase = 2;
    return fixed_gets(r, read_loop_ldb, cpu);
}

#ifdef BENCH_LMDB
static __attribute__((noinline)) double gets_lmdb(const struct reader *r, double *cpu)
{
    gets_phase = 3;
    return fixed_gets(r, read_loop_lmdb, cpu);
}
#endif

#ifdef BENCH_ROCKSDB
static __attribute__((noinline)) double gets_rocksdb(const struct reader *r, double *cpu)
{
    gets_phase = 4;
    return fixed_gets(r, read_loop_rocksdb, cpu);
}
#endif

static void run_gets(void)
{
    uint64_t n = n_values < 50000 ? n_values : 50000;
    printf("gets: %" PRIu64 " log-line values of 1 KiB, %" PRIu64
           " warm random gets per engine and round, one thread\n",
           n, n_gets);
    struct engines e;
    engines_open(&e, "gets", n);
#ifdef BENCH_ROCKSDB
    char pr[600];
    db_path(pr, sizeof pr, "gets-rocksdb");
    struct reader rr = {.n = n};
    rr.rdb = rocksdb_fill(pr, n, (size_t)64 << 20 /* our default cache_size */);
    rr.rro = rocksdb_readoptions_create();
#endif
    struct reader warm = e.rz;
    warm.stream = shuffled(n, 7);
    warm.stream_len = n;
    read_loop_ldb(&warm); /* every value once: all in the cache */
#ifdef BENCH_ROCKSDB
    struct reader rwarm = rr;
    rwarm.stream = warm.stream;
    rwarm.stream_len = n;
    read_loop_rocksdb(&rwarm); /* every block once: all in the block cache */
#endif
    free((void *)warm.stream);
    for (int round = 0; round < rounds; round++) {
        double cz, cp, wz = gets_zstd(&e.rz, &cz), wp = gets_plain(&e.rp, &cp);
        printf("  round %d: zstd %.0f/s (CPU %.0f/s), plain %.0f/s (CPU %.0f/s), zstd/plain "
               "CPU %.2f\n",
               round, wz, cz, wp, cp, cz / cp);
#ifdef BENCH_LMDB
        double cm, wm = gets_lmdb(&e.lm, &cm);
        printf("           LMDB plain %.0f/s (CPU %.0f/s); zstd/LMDB wall %.2f, CPU %.2f\n", wm,
               cm, wz / wm, cz / cm);
#endif
#ifdef BENCH_ROCKSDB
        double cr, wr = gets_rocksdb(&rr, &cr);
        printf("           RocksDB LZ4 %.0f/s (CPU %.0f/s); zstd/RocksDB wall %.2f, CPU %.2f\n",
               wr, cr, wz / wr, cz / cr);
#endif
        fflush(stdout);
    }
    ldb_stat st;
    OK(ldb_stat_env(e.z, &st));
    printf("  cache hits %" PRIu64 " misses %" PRIu64 "\n", st.cache_hits, st.cache_misses);
#ifdef BENCH_ROCKSDB
    rocksdb_readoptions_destroy(rr.rro);
    rocksdb_close(rr.rdb);
    rocksdb_remove(pr);
#endif
    engines_close(&e);
}

/* ---- zipf -------------------------------------------------------------------------- */

#define ZIPF_THETA 0.99
/* What an entry costs the cache's bound beyond its data (sizeof struct
 * ldb__cache_entry, lib/cache.h): the LRU below is charged the same. */
#define ENTRY_OVERHEAD 72u

/* count keys of 0..n-1 drawn from a Zipfian distribution (Gray et al.,
 * "Quickly generating billion-record synthetic databases", as YCSB does),
 * the ranks scattered over the key space by a fixed permutation so the hot
 * keys are not neighbours in the tree. */
static uint32_t *zipf_stream(uint64_t n, uint64_t count, uint64_t seed)
{
    double zetan = 0, zeta2 = 1 + pow(0.5, ZIPF_THETA);
    for (uint64_t i = 1; i <= n; i++)
        zetan += pow(1.0 / (double)i, ZIPF_THETA);
    double alpha = 1 / (1 - ZIPF_THETA);
    double eta = (1 - pow(2.0 / (double)n, 1 - ZIPF_THETA)) / (1 - zeta2 / zetan);
    uint32_t *perm = shuffled(n, 99), *out = malloc(count * sizeof *out);
    if (out == NULL)
        exit(1);
    for (uint64_t i = 0; i < count; i++) {
        double u = (double)(splitmix64(&seed) >> 11) / 9007199254740992.0, uz = u * zetan;
        uint64_t rank = uz < 1                          ? 0
                        : uz < 1 + pow(0.5, ZIPF_THETA) ? 1
                                                        : (uint64_t)((double)n *
                                                                     pow(eta * u - eta + 1, alpha));
        out[i] = perm[rank < n ? rank : n - 1];
    }
    free(perm);
    return out;
}

/* A plain LRU of the same byte bound, driven by the same keys: the hits
 * of its second half (the first half warms it, as the first half of the
 * real run warms the cache). */
static uint64_t lru_hits(const uint32_t *stream, uint64_t count, uint64_t n, uint64_t bound)
{
    uint32_t *prev = malloc((n + 1) * sizeof *prev), *next = malloc((n + 1) * sizeof *next);
    unsigned char *in = calloc(n, 1);
    if (prev == NULL || next == NULL || in == NULL)
        exit(1);
    uint32_t head = (uint32_t)n; /* sentinel: next[head] is the LRU end */
    prev[head] = next[head] = head;
    uint64_t bytes = 0, hits = 0, charge = VALUE_SIZE + ENTRY_OVERHEAD;
    for (uint64_t i = 0; i < count; i++) {
        uint32_t k = stream[i];
        if (in[k]) {
            hits += i >= count / 2;
            next[prev[k]] = next[k];
            prev[next[k]] = prev[k];
        } else {
            for (; bytes + charge > bound; bytes -= charge) {
                uint32_t v = next[head];
                next[head] = next[v];
                prev[next[v]] = head;
                in[v] = 0;
            }
            in[k] = 1;
            bytes += charge;
        }
        prev[k] = prev[head];
        next[k] = head;
        next[prev[head]] = k;
        prev[head] = k;
    }
    free(prev);
    free(next);
    free(in);
    return hits;
}

/* Gets/s of one reader over stream[from..from+count), and the cache's
 * hits and misses in it. */
static double zipf_run(ldb_env *env, const uint32_t *stream, uint64_t count, uint64_t *hits,
                       uint64_t *misses)
{
    ldb_stat a, b;
    OK(ldb_stat_env(env, &a));
    struct reader proto = {.env = env, .stream = stream, .stream_len = count};
    double rate = gets_per_sec(&proto, read_loop_ldb, 1, 0, NULL);
    OK(ldb_stat_env(env, &b));
    *hits = b.cache_hits - a.cache_hits;
    *misses = b.cache_misses - a.cache_misses;
    return rate;
}

/* The Zipfian stream with a scan mixed in: after every 8,000 gets, 2,000
 * keys in order from where the last scan stopped (a fifth of the gets, a
 * one-pass sweep of the key space over the run): what an LRU lets push its
 * hot set out. */
static void mix_scans(uint32_t *stream, uint64_t count, uint64_t n)
{
    uint64_t at = 0;
    for (uint64_t i = 0; i < count; i++)
        if (i % 10000 >= 8000)
            stream[i] = (uint32_t)(at++ % n);
}

/* One stream against the cache (a fresh open) and the LRU. */
static void zipf_compare(const char *name, const char *path, const ldb_options *o, ldb_env *plain,
                         const uint32_t *stream, uint64_t count, uint64_t n)
{
    ldb_env *z;
    OK(ldb_open(path, o, &z));
    uint64_t h, m, ph, pm, half = count / 2, measured = count - half;
    zipf_run(z, stream, half, &h, &m);
    double rz = zipf_run(z, stream + half, measured, &h, &m);
    zipf_run(plain, stream, half, &ph, &pm);
    double rp = zipf_run(plain, stream + half, measured, &ph, &pm);
    uint64_t lh = lru_hits(stream, count, n, o->cache_size);
    printf("  %s: zstd %9.0f gets/s, plain %9.0f gets/s (x%.2f); hit rate ARC %.4f (%" PRIu64
           " misses), LRU %.4f (%" PRIu64 " misses): ARC has x%.3f of LRU's misses\n",
           name, rz, rp, rz / rp, (double)h / (double)(h + m), m, (double)lh / (double)measured,
           measured - lh, (double)m / (double)(measured - lh));
    fflush(stdout);
    OK(ldb_close(z));
}

static void run_zipf(void)
{
    uint64_t n = n_values, count = 8 * n;
    printf("zipf: %" PRIu64 " log-line values of 1 KiB, zstd, cache_size a quarter of the "
           "values, %" PRIu64 " gets (Zipfian, theta %.2f): the first half warms, the second "
           "is measured\n",
           n, count, ZIPF_THETA);
    char pz[600], pp[600];
    db_path(pz, sizeof pz, "zipf-zstd.ldb");
    db_path(pp, sizeof pp, "zipf-plain.ldb");
    db_remove(pz);
    db_remove(pp);
    ldb_options o = {0};
    o.sync_mode = LDB_SYNC_OFF;
    o.compression = LDB_COMPRESS_ZSTD;
    o.cache_size = n * VALUE_SIZE / 4;
    o.max_size = (uint64_t)8 << 30;
    ldb_env *z, *p = open_db(pp, LDB_COMPRESS_NONE, 0);
    OK(ldb_open(pz, &o, &z));
    fill(z, NULL, n, VALUE_SIZE, 0, NULL);
    fill(p, NULL, n, VALUE_SIZE, 0, NULL);
    OK(ldb_close(z));
    uint32_t *stream = zipf_stream(n, count, 7);
    zipf_compare("zipf", pz, &o, p, stream, count, n);
    mix_scans(stream, count, n);
    zipf_compare("zipf + scans", pz, &o, p, stream, count, n);
    free(stream);
    OK(ldb_close(p));
    db_remove(pz);
    db_remove(pp);
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i += 2) {
        if (i + 1 >= argc)
            break;
        if (strcmp(argv[i], "-n") == 0)
            n_values = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "-d") == 0)
            parent = argv[i + 1];
        else if (strcmp(argv[i], "-r") == 0)
            rounds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-c") == 0)
            only = argv[i + 1];
        else if (strcmp(argv[i], "-g") == 0)
            n_gets = strtoull(argv[i + 1], NULL, 10);
        else
            break;
    }
    if (i >= argc || n_values < 1000) {
        fprintf(stderr, "usage: bench_compress [-n N>=1000] [-d DIR] [-r ROUNDS] [-c off|zstd|lz4] [-g GETS] "
                        "threshold|random|size|dict|threads|gets|small|zipf...\n");
        return 2;
    }
    text = malloc(TEXT_SIZE);
    if (text == NULL)
        return 1;
    make_text(text, TEXT_SIZE, 12345);
    snprintf(dir, sizeof dir, "%s/bench_compress.XXXXXX", parent);
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "bench_compress: mkdtemp under %s: %s\n", parent, strerror(errno));
        return 1;
    }
    for (; i < argc; i++) {
        if (strcmp(argv[i], "threshold") == 0)
            run_threshold();
        else if (strcmp(argv[i], "random") == 0)
            run_random();
        else if (strcmp(argv[i], "size") == 0)
            run_size();
        else if (strcmp(argv[i], "dict") == 0)
            run_dict();
        else if (strcmp(argv[i], "threads") == 0)
            run_threads();
        else if (strcmp(argv[i], "gets") == 0)
            run_gets();
        else if (strcmp(argv[i], "small") == 0)
            run_small();
        else if (strcmp(argv[i], "zipf") == 0)
            run_zipf();
        else
            fprintf(stderr, "bench_compress: unknown measurement %s\n", argv[i]);
    }
    rmdir(dir);
    free(text);
    return 0;
}
