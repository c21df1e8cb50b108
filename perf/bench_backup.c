/* SPDX-License-Identifier: MIT */
/*
 * bench_backup.c: how fast ldb_backup copies a live-sized database, against
 * cp of the same file and, when configure found LMDB (HAVE_LMDB), LMDB's
 * mdb_copy and mdb_copy -c on the same data (issue 12).
 *
 * Both engines are loaded with the same N keys (16-byte zero-padded decimal)
 * in a fixed random order, in txns of 10,000 puts, with V-byte
 * pseudo-random (incompressible) values, then synced; about 1 GiB of file
 * each with the defaults. Then, R times, the copies interleaved:
 *
 *   ldb cp           cp of the data file, then `sync FILE` (fsync)
 *   ldb cp nosync    cp alone
 *   ldb_backup       plain (fsyncs the copy and its directory)
 *   ldb_backup -c    LDB_BACKUP_COMPACT
 *   ldb_backup_fd    plain, into a pipe a thread drains (no file written)
 *   lmdb cp          cp of data.mdb, then sync
 *   mdb_copy         the mdb_copy command, then sync of the copy
 *   mdb_copy -c      with compaction, then sync
 *
 * Every copy reads a warm page cache (the databases were just written; the
 * benchmark never drops caches on a shared machine). MB/s is the source
 * file's size (10^6 bytes) over the wall time; the ratio column divides by
 * the same engine's "cp" median. Usage:
 *
 *   bench_backup [-n keys] [-v value_bytes] [-r reps] [-d dir] [-k]
 *
 *   -k  keep the databases and copies
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "lightningdb.h"
#ifdef HAVE_LMDB
#include <lmdb.h>
#endif

const char *const bench_prog = "bench_backup";

#define KEY_SIZE 16
#define BATCH 10000
#define MAX_REPS 15

static struct config {
    uint64_t n;
    size_t vsize;
    int reps;
    const char *dir;
    int keep;
} cfg = {700000, 1000, 3, NULL, 0};

static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* The i-th key to put: a fixed random permutation of 0..n-1. */
static uint64_t *key_order(void)
{
    uint64_t *order = malloc(cfg.n * sizeof *order), seed = 42;
    if (order == NULL)
        bench_die("out of memory");
    for (uint64_t i = 0; i < cfg.n; i++)
        order[i] = i;
    for (uint64_t i = cfg.n - 1; i > 0; i--) {
        uint64_t j = rnd(&seed) % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    return order;
}

static void key_fmt(char *k, uint64_t i)
{
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%016" PRIu64, i);
    memcpy(k, tmp, KEY_SIZE);
}

static void val_fill(uint64_t i, unsigned char *v, size_t n)
{
    uint64_t x = i * 0x9E3779B97F4A7C15ull + 0x1234567;
    for (size_t j = 0; j < n; j++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v[j] = (unsigned char)(x >> 24);
    }
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static const char *path_in(const char *name)
{
    static char bufs[4][4096];
    static int next;
    char *b = bufs[next++ & 3];
    snprintf(b, sizeof bufs[0], "%s/%s", cfg.dir, name);
    return b;
}

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0)
        bench_die("failed: %s", cmd);
}

/* ---- loading ----------------------------------------------------------------------- */

static void load_ldb(const uint64_t *order)
{
    ldb_env *env;
    ldb_options o = {0};
    o.sync_mode = LDB_SYNC_OFF;
    int rc = ldb_open(path_in("ldb"), &o, &env);
    if (rc)
        bench_die("ldb_open: %s", ldb_strerror(rc));
    unsigned char *v = malloc(cfg.vsize);
    for (uint64_t i = 0; i < cfg.n;) {
        ldb_txn *txn;
        if ((rc = ldb_txn_begin(env, 0, &txn)) != 0)
            bench_die("begin: %s", ldb_strerror(rc));
        for (uint64_t b = 0; b < BATCH && i < cfg.n; b++, i++) {
            char k[KEY_SIZE];
            key_fmt(k, order[i]);
            val_fill(order[i], v, cfg.vsize);
            ldb_val kv = {KEY_SIZE, k}, vv = {cfg.vsize, v};
            if ((rc = ldb_put(txn, LDB_MAIN, &kv, &vv, 0)) != 0)
                bench_die("put: %s", ldb_strerror(rc));
        }
        if ((rc = ldb_txn_commit(txn)) != 0)
            bench_die("commit: %s", ldb_strerror(rc));
    }
    if ((rc = ldb_close(env)) != 0)
        bench_die("close: %s", ldb_strerror(rc));
    free(v);
}

#ifdef HAVE_LMDB
#define MDB_CHECK(expr)                                        \
    do {                                                       \
        int mrc_ = (expr);                                     \
        if (mrc_ != 0)                                         \
            bench_die("%s: %s", #expr, mdb_strerror(mrc_));          \
    } while (0)

static void load_lmdb(const uint64_t *order)
{
    MDB_env *env;
    MDB_dbi dbi;
    if (mkdir(path_in("lmdb"), 0755) != 0 && errno != EEXIST)
        bench_die("mkdir: %s", strerror(errno));
    MDB_CHECK(mdb_env_create(&env));
    MDB_CHECK(mdb_env_set_mapsize(env, 8ull << 30));
    MDB_CHECK(mdb_env_open(env, path_in("lmdb"), MDB_NOSYNC, 0644));
    unsigned char *v = malloc(cfg.vsize);
    for (uint64_t i = 0; i < cfg.n;) {
        MDB_txn *txn;
        MDB_CHECK(mdb_txn_begin(env, NULL, 0, &txn));
        MDB_CHECK(mdb_dbi_open(txn, NULL, 0, &dbi));
        for (uint64_t b = 0; b < BATCH && i < cfg.n; b++, i++) {
            char k[KEY_SIZE];
            key_fmt(k, order[i]);
            val_fill(order[i], v, cfg.vsize);
            MDB_val kv = {KEY_SIZE, k}, vv = {cfg.vsize, v};
            MDB_CHECK(mdb_put(txn, dbi, &kv, &vv, 0));
        }
        MDB_CHECK(mdb_txn_commit(txn));
    }
    MDB_CHECK(mdb_env_sync(env, 1));
    mdb_env_close(env);
    free(v);
}
#endif

/* ---- the copies ------------------------------------------------------------------------ */

static void *drain(void *arg)
{
    int fd = *(int *)arg;
    static char buf[1 << 20];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    return NULL;
}

static void ldb_copy(unsigned flags, int piped)
{
    ldb_env *env;
    int rc = ldb_open(path_in("ldb"), NULL, &env);
    if (rc)
        bench_die("ldb_open: %s", ldb_strerror(rc));
    if (piped) {
        int p[2];
        pthread_t th;
        if (pipe(p) != 0 || pthread_create(&th, NULL, drain, &p[0]) != 0)
            bench_die("pipe: %s", strerror(errno));
        rc = ldb_backup_fd(env, p[1], flags);
        close(p[1]);
        pthread_join(th, NULL);
        close(p[0]);
    } else {
        rc = ldb_backup(env, path_in("copy"), flags);
    }
    if (rc)
        bench_die("backup: %s", ldb_strerror(rc));
    ldb_close(env);
}

enum method {
    LDB_CP,
    LDB_CP_NOSYNC,
    LDB_PLAIN,
    LDB_COMPACT,
    LDB_PIPE,
#ifdef HAVE_LMDB
    LMDB_CP,
    MDB_COPY,
    MDB_COPY_C,
#endif
    METHODS
};

static const char *const method_names[METHODS] = {
    "ldb: cp + sync",  "ldb: cp (no sync)", "ldb: ldb_backup", "ldb: ldb_backup compact",
    "ldb: ldb_backup_fd to a pipe",
#ifdef HAVE_LMDB
    "lmdb: cp + sync", "lmdb: mdb_copy + sync", "lmdb: mdb_copy -c + sync",
#endif
};

/* Run one copy; returns its wall time and the copy's size. */
static double copy_once(enum method m, uint64_t *out_size)
{
    run("rm -rf '%s' '%s'", path_in("copy"), path_in("copydir"));
    double t0 = bench_now_sec();
    switch (m) {
    case LDB_CP:
        run("cp '%s' '%s' && sync '%s'", path_in("ldb"), path_in("copy"), path_in("copy"));
        break;
    case LDB_CP_NOSYNC:
        run("cp '%s' '%s'", path_in("ldb"), path_in("copy"));
        break;
    case LDB_PLAIN:
        ldb_copy(0, 0);
        break;
    case LDB_COMPACT:
        ldb_copy(LDB_BACKUP_COMPACT, 0);
        break;
    case LDB_PIPE:
        ldb_copy(0, 1);
        break;
#ifdef HAVE_LMDB
    case LMDB_CP:
        run("cp '%s/data.mdb' '%s' && sync '%s'", path_in("lmdb"), path_in("copy"),
            path_in("copy"));
        break;
    case MDB_COPY:
    case MDB_COPY_C:
        run("mkdir '%s' && mdb_copy %s '%s' '%s' && sync '%s/data.mdb'", path_in("copydir"),
            m == MDB_COPY_C ? "-c" : "", path_in("lmdb"), path_in("copydir"),
            path_in("copydir"));
        break;
#endif
    default:
        break;
    }
    double t = bench_now_sec() - t0;
    *out_size = file_size(path_in("copy"));
#ifdef HAVE_LMDB
    if (m == MDB_COPY || m == MDB_COPY_C) {
        char p[4200];
        snprintf(p, sizeof p, "%s/data.mdb", path_in("copydir"));
        *out_size = file_size(p);
    }
#endif
    return t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int c;
    char tmpl[] = "/tmp/bench_backup.XXXXXX";
    while ((c = getopt(argc, argv, "n:v:r:d:k")) != -1) {
        switch (c) {
        case 'n':
            cfg.n = strtoull(optarg, NULL, 10);
            break;
        case 'v':
            cfg.vsize = strtoull(optarg, NULL, 10);
            break;
        case 'r':
            cfg.reps = atoi(optarg);
            break;
        case 'd':
            cfg.dir = optarg;
            break;
        case 'k':
            cfg.keep = 1;
            break;
        default:
            fprintf(stderr, "usage: bench_backup [-n keys] [-v value_bytes] [-r reps] [-d dir] [-k]\n");
            return 2;
        }
    }
    if (cfg.n == 0 || cfg.reps < 1 || cfg.reps > MAX_REPS)
        bench_die("bad -n or -r (1..%d)", MAX_REPS);
    if (cfg.dir == NULL && (cfg.dir = mkdtemp(tmpl)) == NULL)
        bench_die("mkdtemp: %s", strerror(errno));
    uint64_t *order = key_order();
    double t0 = bench_now_sec();
    load_ldb(order);
    printf("# loaded %" PRIu64 " keys of %zu-byte values into Lightning DB in %.1f s: %.0f MB\n",
           cfg.n, cfg.vsize, bench_now_sec() - t0, file_size(path_in("ldb")) / 1e6);
#ifdef HAVE_LMDB
    t0 = bench_now_sec();
    load_lmdb(order);
    char mdb[4200];
    snprintf(mdb, sizeof mdb, "%s/data.mdb", path_in("lmdb"));
    printf("# loaded the same into LMDB in %.1f s: %.0f MB\n", bench_now_sec() - t0,
           file_size(mdb) / 1e6);
#endif
    free(order);
    fflush(stdout);
    static double times[METHODS][MAX_REPS];
    uint64_t sizes[METHODS] = {0};
    for (int r = 0; r < cfg.reps; r++)
        for (int m = 0; m < METHODS; m++)
            times[m][r] = copy_once((enum method)m, &sizes[m]);
    printf("| copy | seconds (median of %d) | MB/s | ratio to the same engine's cp + sync | "
           "copy size MB |\n", cfg.reps);
    printf("|---|---|---|---|---|\n");
    double cp_mbs[2] = {0, 0};
    for (int m = 0; m < METHODS; m++) {
        qsort(times[m], (size_t)cfg.reps, sizeof times[m][0], cmp_double);
        double t = times[m][cfg.reps / 2];
        int lmdb = 0;
        uint64_t src = file_size(path_in("ldb"));
#ifdef HAVE_LMDB
        lmdb = m >= LMDB_CP;
        if (lmdb)
            src = file_size(mdb);
#endif
        double mbs = src / 1e6 / t;
        if (m == LDB_CP || (lmdb && cp_mbs[1] == 0))
            cp_mbs[lmdb] = mbs;
        printf("| %s | %.2f | %.0f | %.2f | %.0f |\n", method_names[m], t, mbs, mbs / cp_mbs[lmdb],
               m == LDB_PIPE ? src / 1e6 : sizes[m] / 1e6);
    }
    if (!cfg.keep)
        run("rm -rf '%s'", cfg.dir);
    return 0;
}
