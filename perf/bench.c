/* SPDX-License-Identifier: MIT */
/*
 * bench.c: the side-by-side benchmark of Lightning DB and its peers.
 *
 * What it measures is specified in BENCH.md (docs/benchmarks.md): db_bench
 * style workloads with 16-byte zero-padded decimal keys, 100-byte
 * pseudo-random values (fixed seed, incompressible), batches of 1,000 puts
 * per txn, N = 1,000,000 by default:
 *
 *   fillseq      ascending keys (the engine's append path where it has one),
 *                no per-batch sync, one final durable sync inside the clock
 *   fillrandom   the same keys in a fixed random order (fresh database)
 *   overwrite    N puts over the existing keys, in another fixed random order
 *   readrandom1  N random gets (all hits), one read txn per get, 1 thread
 *   readrandom2  the same split over 2 threads
 *   readseq      one ordered scan reading every value
 *   fillsync1    10,000 txns of one put, each commit durable, 1 thread;
 *                commits/s with p50 and p99 commit latency
 *   fillsync8    the same 10,000 txns from 8 threads (group commit)
 *   bigvalues    262,144 ascending 1 KiB values (256 MiB): MB/s written,
 *                then as many random gets: reads/s; file size
 *   readers1/2/4 (only when -w names them) N random gets from 1, 2 and 4
 *                processes, each opening the database on its own
 *   textvalues   (only when -w names it) as bigvalues, but the values are
 *                log lines (small vocabularies and numbers, ~2.4x smaller
 *                under zstd one value at a time) put in random key order;
 *                for the compressed variants ldb-lz4, ldb-zstd,
 *                ldb-zstd-dict and rocksdb-lz4, which run bigvalues and
 *                textvalues only
 *   gets100k1/2, gets1m1/2, gets10m1/2 (only when -w names them; "gets"
 *                names all six) random gets, one read txn per get, over
 *                databases of 100K, 1M and 10M keys loaded in ascending
 *                order (append mode, untimed) and scanned once (untimed,
 *                so the map is warm), 1 and 2 threads: how the
 *                per-get cost moves with the database's size, in one run
 *
 * Fills report the database's size after their final sync, with the
 * database open: the files' sizes (`ls`) and their allocated blocks (`du`,
 * which counts the space an engine preallocates, e.g. RocksDB's WAL); and
 * the files' sizes once the engine has closed it ("closed MB": ours with
 * the log folded into the data file, RocksDB's memtable flushed). Peak
 * RSS is the run's largest process, mapped file pages included.
 *
 * How it keeps the comparison fair on a shared, noisy 2-core machine:
 *  - Every (workload, engine, repetition) runs in a forked child, which
 *    sends its figures back through a pipe: one engine's heap, threads and
 *    peak RSS never mix with another's, and a crash or hang (alarm) of one
 *    engine is reported and the rest goes on.
 *  - Engines are interleaved inside each repetition (rep 1: workload 1 on
 *    every engine, workload 2 on every engine, ...), and each repetition
 *    starts the engine order one place further, so slow periods of the
 *    machine and the position after a given engine hit everyone alike.
 *    Tables report medians over repetitions and the ratio to LMDB.
 *  - To keep a default run near 15 minutes on a 2-core machine, random-get
 *    runs stop after 5 s (--read-secs; the rate is over the gets done), and
 *    a peer's workload (not ours, not LMDB's) whose first run took over 20 s
 *    is not repeated (--slow-secs); the tables say which.
 *  - Before each run the driver syncfs()es the benchmark's file system
 *    (outside every clock), so writeback left by one run does not land on
 *    the next. Nothing is dropped from the page cache: reads are warm.
 *  - The driver does all key formatting, value choice, timing and checking;
 *    adapters (bench_<engine>.c, interface in bench.h) only call their
 *    engine. Every get's value is compared with the value written; the
 *    gets* workloads format their keys and look up their values' first
 *    bytes before the clock starts, and compare every get's length and
 *    first bytes, every 256th value whole (planned_loop).
 *
 * The chained workloads (overwrite, readrandom*, readseq) work on the
 * database fillrandom left; when fillrandom is not selected, the first of
 * them fills it first, outside the clock.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "pipe_io.h"

/* ---------------------------------------------------------------------------
 * Engines compiled in
 */

static const struct engine *const all_engines[] = {
#ifndef BENCH_NO_LDB
    &engine_ldb,
    &engine_ldb_lz4,
    &engine_ldb_zstd,
    &engine_ldb_zstd_dict,
#endif
#ifdef HAVE_LMDB
    &engine_lmdb,
#endif
#ifdef HAVE_ROCKSDB
    &engine_rocksdb,
    &engine_rocksdb_lz4,
#endif
#ifdef HAVE_LEVELDB
    &engine_leveldb,
#endif
#ifdef HAVE_SQLITE
    &engine_sqlite,
#endif
    &engine_rawlog,
};
#define N_ALL_ENGINES (sizeof all_engines / sizeof all_engines[0])

/* ---------------------------------------------------------------------------
 * Workloads
 */

#define BATCH 1000
#define VAL_SIZE 100
#define BIG_VAL_SIZE 1024
#define VALBUF_SIZE ((size_t)4 << 20) /* random bytes values are cut from */
#define TEXTBUF_SIZE ((size_t)16 << 20) /* log lines textvalues are cut from */
#define SEED_VALUES 0x5eed0001u
#define SEED_FILL 0x5eed0002u
#define SEED_OVERWRITE 0x5eed0003u
#define SEED_READ 0x5eed0004u

enum job_id {
    J_FILLSEQ,
    J_FILLRANDOM,
    J_OVERWRITE,
    J_READRANDOM1,
    J_READRANDOM2,
    J_READSEQ,
    J_FILLSYNC1,
    J_FILLSYNC8,
    J_BIGVALUES,
    J_READERS1,
    J_READERS2,
    J_READERS4,
    J_TEXTVALUES,
    J_GETS100K1,
    J_GETS100K2,
    J_GETS1M1,
    J_GETS1M2,
    J_GETS10M1,
    J_GETS10M2,
    J_COUNT
};

/* Figures a run reports; a job shows some of them. */
enum metric { M_RATE, M_RATE2, M_P50, M_P99, M_FILE, M_CLOSED, M_DISK, M_RSS, M_SECS, M_GETS,
              M_CPU, M_COUNT };

/* How a column of a job's table shows a metric. */
enum col_kind { C_COUNT, C_MB, C_US, C_BYTES_MB, C_KB_MB };

struct column {
    enum metric m;
    const char *label;    /* table header */
    const char *name;     /* RESULT metric name */
    enum col_kind kind;
    int ratio;            /* also show median / LMDB's median */
    int spread;           /* also show min..max over repetitions */
};

/* Which database a job works on (a subdirectory of the engine's dir). */
enum db_slot { DB_SEQ, DB_MAIN, DB_SYNC, DB_BIG, DB_TEXT, DB_G100K, DB_G1M, DB_G10M, DB_SLOTS };
static const char *const db_slot_names[DB_SLOTS] = { "seq",   "main",  "sync", "big",
                                                     "text", "g100k", "g1m",  "g10m" };

/* Gets per run of the gets* workloads (a run also stops after --read-secs):
 * enough for a steady rate whatever the database's size. */
#define SIZED_GETS 2000000

#define MAX_COLS 7

struct job {
    const char *name;
    enum db_slot slot;
    int fresh;      /* starts from an empty database, removed after (but main) */
    int needs_main; /* reads or rewrites what fillrandom wrote */
    int threads;    /* or, for readers*, processes */
    int optin;      /* run only when -w names it */
    struct column cols[MAX_COLS]; /* ends at the first without a label */
    uint64_t keys;  /* gets*: keys its database holds (kept across runs) */
};

#define COLS_FILL                                                                      \
    { { M_RATE, "ops/s", "ops_per_s", C_COUNT, 1, 1 },                                 \
      { M_FILE, "file MB", "file_bytes", C_BYTES_MB, 1, 0 },                           \
      { M_CLOSED, "closed MB", "closed_bytes", C_BYTES_MB, 1, 0 },                     \
      { M_DISK, "du MB", "disk_bytes", C_BYTES_MB, 0, 0 },                             \
      { M_RSS, "peak RSS MB", "peak_rss_kb", C_KB_MB, 0, 0 } }
#define COLS_READ                                                                      \
    { { M_RATE, "ops/s", "ops_per_s", C_COUNT, 1, 1 },                                 \
      { M_RSS, "peak RSS MB", "peak_rss_kb", C_KB_MB, 0, 0 } }
/* gets*: also the readers' CPU time per get (CLOCK_THREAD_CPUTIME_ID, summed
 * over the threads), which time spent waiting for a core on a shared
 * machine does not inflate; its ratio is ours / LMDB's (below 1: faster). */
#define COLS_GETS                                                                      \
    { { M_RATE, "ops/s", "ops_per_s", C_COUNT, 1, 1 },                                 \
      { M_CPU, "cpu ns/get", "cpu_ns_per_get", C_US, 1, 1 },                           \
      { M_RSS, "peak RSS MB", "peak_rss_kb", C_KB_MB, 0, 0 } }
#define COLS_SYNC                                                                      \
    { { M_RATE, "commits/s", "commits_per_s", C_COUNT, 1, 1 },                         \
      { M_P50, "p50 us", "p50_us", C_US, 0, 0 },                                       \
      { M_P99, "p99 us", "p99_us", C_US, 0, 0 },                                       \
      { M_RSS, "peak RSS MB", "peak_rss_kb", C_KB_MB, 0, 0 } }

static const struct job jobs[J_COUNT] = {
    [J_FILLSEQ] = { "fillseq", DB_SEQ, 1, 0, 1, 0, COLS_FILL },
    [J_FILLRANDOM] = { "fillrandom", DB_MAIN, 1, 0, 1, 0, COLS_FILL },
    [J_OVERWRITE] = { "overwrite", DB_MAIN, 0, 1, 1, 0, COLS_FILL },
    [J_READRANDOM1] = { "readrandom1", DB_MAIN, 0, 1, 1, 0, COLS_READ },
    [J_READRANDOM2] = { "readrandom2", DB_MAIN, 0, 1, 2, 0, COLS_READ },
    [J_READSEQ] = { "readseq", DB_MAIN, 0, 1, 1, 0, COLS_READ },
    [J_FILLSYNC1] = { "fillsync1", DB_SYNC, 1, 0, 1, 0, COLS_SYNC },
    [J_FILLSYNC8] = { "fillsync8", DB_SYNC, 1, 0, 8, 0, COLS_SYNC },
    [J_READERS1] = { "readers1", DB_MAIN, 0, 1, 1, 1, COLS_READ },
    [J_READERS2] = { "readers2", DB_MAIN, 0, 1, 2, 1, COLS_READ },
    [J_READERS4] = { "readers4", DB_MAIN, 0, 1, 4, 1, COLS_READ },
    [J_GETS100K1] = { "gets100k1", DB_G100K, 0, 0, 1, 1, COLS_GETS, 100000 },
    [J_GETS100K2] = { "gets100k2", DB_G100K, 0, 0, 2, 1, COLS_GETS, 100000 },
    [J_GETS1M1] = { "gets1m1", DB_G1M, 0, 0, 1, 1, COLS_GETS, 1000000 },
    [J_GETS1M2] = { "gets1m2", DB_G1M, 0, 0, 2, 1, COLS_GETS, 1000000 },
    [J_GETS10M1] = { "gets10m1", DB_G10M, 0, 0, 1, 1, COLS_GETS, 10000000 },
    [J_GETS10M2] = { "gets10m2", DB_G10M, 0, 0, 2, 1, COLS_GETS, 10000000 },
    [J_BIGVALUES] = { "bigvalues", DB_BIG, 1, 0, 1, 0,
                      { { M_RATE, "write MB/s", "write_mb_per_s", C_MB, 1, 1 },
                        { M_RATE2, "reads/s", "reads_per_s", C_COUNT, 1, 1 },
                        { M_FILE, "file MB", "file_bytes", C_BYTES_MB, 1, 0 },
                        { M_CLOSED, "closed MB", "closed_bytes", C_BYTES_MB, 1, 0 },
                        { M_DISK, "du MB", "disk_bytes", C_BYTES_MB, 0, 0 },
                        { M_RSS, "peak RSS MB", "peak_rss_kb", C_KB_MB, 0, 0 } } },
    [J_TEXTVALUES] = { "textvalues", DB_TEXT, 1, 0, 1, 1,
                       { { M_RATE, "write MB/s", "write_mb_per_s", C_MB, 1, 1 },
                         { M_RATE2, "reads/s", "reads_per_s", C_COUNT, 1, 1 },
                         { M_FILE, "file MB", "file_bytes", C_BYTES_MB, 1, 0 },
                         { M_CLOSED, "closed MB", "closed_bytes", C_BYTES_MB, 1, 0 },
                         { M_DISK, "du MB", "disk_bytes", C_BYTES_MB, 0, 0 },
                         { M_RSS, "peak RSS MB", "peak_rss_kb", C_KB_MB, 0, 0 } } },
};

/* Whether engine e does job j at all (the rawlog reference does fillsync only). */
static int engine_runs(const struct engine *e, int j)
{
    if (e->values_only)
        return j == J_BIGVALUES || j == J_TEXTVALUES;
    return !e->sync_only || j == J_FILLSYNC1 || j == J_FILLSYNC8;
}

/* ---------------------------------------------------------------------------
 * Configuration and shared state
 */

struct config {
    uint64_t n;         /* keys in the small-value workloads */
    uint64_t sync_n;    /* fillsync txns */
    uint64_t big_n;     /* bigvalues values */
    int reps;
    int timeout;        /* seconds a run may take before it is killed */
    double read_secs;   /* a run's random gets stop after this long; 0: never */
    double slow_secs;   /* a peer's workload whose first run took longer runs once */
    int unplanned_gets; /* gets* draw, format and check in the clock, as before
                           issue 15's sixth pass (get_loop) */
    const char *parent; /* where the benchmark's directory is made */
    int engine_on[N_ALL_ENGINES > 0 ? N_ALL_ENGINES : 1];
    int job_on[J_COUNT];
};

static struct config cfg;
static unsigned char *valbuf; /* VALBUF_SIZE random bytes, made before any fork */
static unsigned char *textbuf; /* TEXTBUF_SIZE bytes of log lines, likewise */
/* Where values are cut from: valbuf, or textbuf in a textvalues run (set in
 * the run's own child). */
static const unsigned char *valsrc;
static size_t valsrc_size;
static char base_dir[4096];   /* the benchmark's own directory, removed at exit */
static volatile sig_atomic_t interrupted;

/* Why a run did not happen. */
#define SKIP_UNSUPPORTED 1 /* the engine cannot do the workload */
#define SKIP_SLOW 2        /* a peer's slow workload, not repeated (--slow-secs) */

/* What one run sends back to the driver. */
struct run_result {
    int ok;
    int skipped; /* SKIP_UNSUPPORTED or SKIP_SLOW: not run */
    double wall; /* seconds the run's process lived, set by the driver */
    double m[M_COUNT];
    char err[200];
};

/* ---------------------------------------------------------------------------
 * Helpers shared with the adapters
 */

static char first_error[200];
static atomic_int have_error;

void bench_error(const char *engine, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    int n;

    n = snprintf(msg, sizeof msg, "%s: ", engine);
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "  error: %s\n", msg);
    if (atomic_exchange(&have_error, 1) == 0)
        memcpy(first_error, msg, sizeof first_error);
}

int bench_path(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);

    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static struct disk_usage dir_usage_sum; /* nftw has no user argument */

static int dir_usage_visit(const char *path, const struct stat *st, int type,
                           struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (type == FTW_F) {
        dir_usage_sum.apparent += (uint64_t)st->st_size;
        dir_usage_sum.allocated += (uint64_t)st->st_blocks * 512;
    }
    return 0;
}

void bench_dir_usage(const char *dir, struct disk_usage *du)
{
    memset(&dir_usage_sum, 0, sizeof dir_usage_sum);
    nftw(dir, dir_usage_visit, 16, FTW_PHYS);
    *du = dir_usage_sum;
}

static int remove_visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        fprintf(stderr, "ldb_bench: cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

static void remove_tree(const char *dir)
{
    struct stat st;

    if (lstat(dir, &st) == 0)
        nftw(dir, remove_visit, 16, FTW_DEPTH | FTW_PHYS);
}

static double now_sec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------------------
 * Keys, values, orders
 */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 33)) * 0xff51afd7ed558ccdu;
    z = (z ^ (z >> 33)) * 0xc4ceb9fe1a85ec53u;
    return z ^ (z >> 33);
}

/* A uniform draw in [0, n). */
static inline uint64_t draw(uint64_t *s, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)splitmix64(s) * n) >> 64);
}

/* Key number i as 16 zero-padded decimal digits. */
static inline void key_fmt(char *k, uint64_t i)
{
    for (int p = BENCH_KEY_SIZE - 1; p >= 0; p--) {
        k[p] = (char)('0' + i % 10);
        i /= 10;
    }
}

/* The value of key i written by generation gen (0: the fill, 1: overwrite):
 * a slice of the random buffer, at an offset scattered enough that values
 * sharing a page or a block do not share bytes. */
static inline const unsigned char *val_ptr(uint64_t i, unsigned gen, size_t size)
{
    return valsrc + mix64(i * 2 + gen) % (valsrc_size - size);
}

/* Log lines from small vocabularies and random numbers, as services write
 * them: a 1 KiB slice compresses ~2.4x with zstd (level 3) on its own,
 * ~1.8x with LZ4. */
static void make_text(unsigned char *buf, size_t size, uint64_t seed)
{
    static const char *const level[] = { "INFO", "WARN", "DEBUG", "ERROR" };
    static const char *const svc[] = { "api", "db", "auth", "cache", "queue", "worker" };
    static const char *const msg[] = { "request served", "connection reset by peer",
                                       "cache miss for key", "retrying upstream",
                                       "user login ok", "slow query detected",
                                       "flushed batch" };
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

/* A fixed random permutation of 0..n-1. */
static uint32_t *make_order(uint64_t n, uint64_t seed)
{
    uint32_t *o = malloc(n * sizeof *o);

    if (!o)
        return NULL;
    for (uint64_t i = 0; i < n; i++)
        o[i] = (uint32_t)i;
    for (uint64_t i = n - 1; i > 0; i--) {
        uint64_t j = draw(&seed, i + 1);
        uint32_t t = o[i];

        o[i] = o[j];
        o[j] = t;
    }
    return o;
}

/* ---------------------------------------------------------------------------
 * The work itself (in a forked child)
 */

struct ctx {
    const struct engine *e;
    void *db;
    unsigned gen;             /* generation of the values in the database */
};

/* Put keys order[0..n) (or 0..n when order is NULL) in batches of BATCH. */
static int do_fill(struct ctx *c, void *th, const uint32_t *order, uint64_t n, size_t vsize,
                   unsigned gen, int append)
{
    const struct engine *e = c->e;
    int (*put)(void *, const void *, size_t, const void *, size_t) =
        append && e->batch_append ? e->batch_append : e->batch_put;
    char key[BENCH_KEY_SIZE];

    for (uint64_t i = 0; i < n;) {
        uint64_t end = i + BATCH < n ? i + BATCH : n;

        if (e->batch_begin(th))
            return -1;
        for (; i < end; i++) {
            uint64_t k = order ? order[i] : i;

            key_fmt(key, k);
            if (put(th, key, sizeof key, val_ptr(k, gen, vsize), vsize))
                return -1;
        }
        if (e->batch_commit(th))
            return -1;
    }
    return 0;
}

/* Fill (or overwrite) and sync, timed; res gets ops/s and the file size. */
static int run_fill(struct ctx *c, const char *dir, const uint32_t *order, uint64_t n,
                    size_t vsize, unsigned gen, int append, struct run_result *res)
{
    struct disk_usage du;
    void *th;
    double t0, t1;

    if (c->e->thread_open(c->db, &th))
        return -1;
    t0 = now_sec();
    if (do_fill(c, th, order, n, vsize, gen, append) || c->e->sync(c->db)) {
        c->e->thread_close(th);
        return -1;
    }
    t1 = now_sec();
    c->e->thread_close(th);
    res->m[M_SECS] = t1 - t0;
    res->m[M_RATE] = (double)n / (t1 - t0);
    c->e->disk_usage(dir, &du);
    res->m[M_FILE] = (double)du.apparent;
    res->m[M_DISK] = (double)du.allocated;
    return 0;
}

/* What a loop of random gets found. */
struct get_stats {
    uint64_t done, misses, bad;
    int failed;
};

/* Up to n random gets of keys drawn from 0..keys-1, each checked against the
 * value of generation gen; stops early once cfg.read_secs have passed. */
static void get_loop(const struct engine *e, void *th, uint64_t n, uint64_t keys, size_t vsize,
                     unsigned gen, uint64_t seed, unsigned char *buf, struct get_stats *st)
{
    double deadline = cfg.read_secs > 0 ? now_sec() + cfg.read_secs : 0;
    char key[BENCH_KEY_SIZE];
    uint64_t i;

    for (i = 0; i < n; i++) {
        uint64_t k = draw(&seed, keys);
        size_t vlen = 0;
        int rc;

        if ((i & 255) == 255 && deadline > 0 && now_sec() > deadline)
            break;
        key_fmt(key, k);
        rc = e->get(th, key, sizeof key, buf, vsize + 1, &vlen);
        if (rc == BENCH_NOTFOUND) {
            st->misses++;
        } else if (rc) {
            st->failed = 1;
            break;
        } else if (vlen != vsize || memcmp(buf, val_ptr(k, gen, vsize), vlen)) {
            st->bad++;
        }
    }
    st->done = i;
}

/* One get of a gets* run, planned before the clock starts: its key
 * formatted, and the first bytes of the value it must find. Drawing and
 * formatting the key and looking the expected value up in the 4 MiB
 * buffer (a random line, mostly not in cache) cost a get of ours at 100K
 * keys about a third of what the engine does, the same for every engine,
 * and so diluted the ratio of the engines' own costs (docs/benchmarks.md,
 * issue 15, sixth pass). */
struct planned_get {
    char key[BENCH_KEY_SIZE];
    uint32_t k;        /* the key's number, for the full check */
    unsigned char head[4]; /* the value's first bytes */
};

/* n gets' plan (the draws get_loop would make from seed); NULL if out of
 * memory. keys < 2^32 (the gets* workloads: at most 10M). */
static struct planned_get *plan_gets(uint64_t n, uint64_t keys, size_t vsize, unsigned gen,
                                     uint64_t seed)
{
    struct planned_get *plan = malloc(n * sizeof *plan);

    for (uint64_t i = 0; plan != NULL && i < n; i++) {
        uint64_t k = draw(&seed, keys);

        key_fmt(plan[i].key, k);
        plan[i].k = (uint32_t)k;
        memcpy(plan[i].head, val_ptr(k, gen, vsize), sizeof plan[i].head);
    }
    return plan;
}

/* get_loop over a plan: each get's length and first bytes are checked, and
 * every 256th value whole (with the deadline check), so a wrong or torn
 * value still fails the run, at a 256th of the old check's misses. */
static void planned_loop(const struct engine *e, void *th, const struct planned_get *plan,
                         uint64_t n, size_t vsize, unsigned gen, unsigned char *buf,
                         struct get_stats *st)
{
    double deadline = cfg.read_secs > 0 ? now_sec() + cfg.read_secs : 0;
    uint64_t i;

    for (i = 0; i < n; i++) {
        const struct planned_get *g = &plan[i];
        size_t vlen = 0;
        int rc = e->get(th, g->key, sizeof g->key, buf, vsize + 1, &vlen);

        if (rc == BENCH_NOTFOUND) {
            st->misses++;
        } else if (rc) {
            st->failed = 1;
            break;
        } else if (vlen != vsize || memcmp(buf, g->head, sizeof g->head)) {
            st->bad++;
        }
        if ((i & 255) == 255) {
            if (rc == 0 && memcmp(buf, val_ptr(g->k, gen, vsize), vsize))
                st->bad++;
            if (deadline > 0 && now_sec() > deadline) {
                i++;
                break;
            }
        }
    }
    st->done = i;
}

struct reader_arg {
    struct ctx *c;
    pthread_barrier_t *start;
    uint64_t n;        /* gets to do */
    uint64_t keys;     /* drawn from 0..keys-1 */
    size_t vsize;
    uint64_t seed;
    int planned;       /* a gets* run: keys and values planned before the clock */
    double end;
    double cpu_ns;     /* the thread's CPU time in its loop */
    struct get_stats st;
};

static void *reader_main(void *p)
{
    struct reader_arg *a = p;
    const struct engine *e = a->c->e;
    unsigned char *buf = malloc(a->vsize + 1);
    void *th = NULL;
    struct planned_get *plan = NULL;
    int open_rc;

    if (a->planned && buf) {
        plan = plan_gets(a->n, a->keys, a->vsize, a->c->gen, a->seed);
        if (plan == NULL) {
            free(buf);
            buf = NULL;
        }
    }
    open_rc = buf ? e->thread_open(a->c->db, &th) : -1;
    pthread_barrier_wait(a->start);
    double cpu0 = thread_cpu_ns();
    if (open_rc)
        a->st.failed = 1;
    else if (plan)
        planned_loop(e, th, plan, a->n, a->vsize, a->c->gen, buf, &a->st);
    else
        get_loop(e, th, a->n, a->keys, a->vsize, a->c->gen, a->seed, buf, &a->st);
    a->end = now_sec();
    a->cpu_ns = thread_cpu_ns() - cpu0;
    if (!open_rc)
        e->thread_close(th);
    free(plan);
    free(buf);
    return NULL;
}

/* Check what a read run's gets found and record their rate in metric m. */
static int gets_result(const struct engine *e, const struct get_stats *st, double secs,
                       enum metric m, struct run_result *res)
{
    if (st->failed)
        return -1;
    if (st->misses || st->bad) {
        bench_error(e->name, "%" PRIu64 " gets found nothing, %" PRIu64
                    " returned a wrong value", st->misses, st->bad);
        return -1;
    }
    res->m[M_SECS] = secs;
    res->m[m] = (double)st->done / secs;
    res->m[M_GETS] = (double)st->done;
    return 0;
}

/* n random gets over `keys` keys from `threads` threads; res gets gets/s
 * in the metric `m`. Misses and wrong values fail the run. planned: the
 * gets* workloads' loop (planned_loop), for keys < 2^32. */
static int run_reads(struct ctx *c, uint64_t n, uint64_t keys, size_t vsize, int threads,
                     int planned, enum metric m, struct run_result *res)
{
    struct reader_arg a[8];
    pthread_t tid[8];
    pthread_barrier_t start;
    struct get_stats sum = { 0, 0, 0, 0 };
    double t0, t1 = 0, cpu_ns = 0;

    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (int t = 0; t < threads; t++) {
        a[t] = (struct reader_arg){ .c = c, .start = &start, .keys = keys, .vsize = vsize,
                                    .n = n / (uint64_t)threads +
                                         ((uint64_t)t < n % (uint64_t)threads),
                                    .seed = SEED_READ + 0x1000u * (uint64_t)t,
                                    .planned = planned && keys <= UINT32_MAX };
        if (pthread_create(&tid[t], NULL, reader_main, &a[t]) != 0) {
            bench_error(c->e->name, "pthread_create failed");
            exit(1);
        }
    }
    pthread_barrier_wait(&start);
    t0 = now_sec();
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        if (a[t].end > t1)
            t1 = a[t].end;
        sum.done += a[t].st.done;
        sum.misses += a[t].st.misses;
        sum.bad += a[t].st.bad;
        sum.failed |= a[t].st.failed;
        cpu_ns += a[t].cpu_ns;
    }
    pthread_barrier_destroy(&start);
    if (sum.done > 0)
        res->m[M_CPU] = cpu_ns / (double)sum.done;
    return gets_result(c->e, &sum, t1 - t0, m, res);
}

static int run_scan(struct ctx *c, uint64_t n, struct run_result *res)
{
    struct scan_acc acc;
    void *th;
    double t0, t1;
    int rc;

    memset(&acc, 0, sizeof acc);
    if (c->e->thread_open(c->db, &th))
        return -1;
    t0 = now_sec();
    rc = c->e->scan(th, &acc);
    t1 = now_sec();
    c->e->thread_close(th);
    if (rc)
        return -1;
    if (acc.count != n || acc.disorder) {
        bench_error(c->e->name, "scan saw %" PRIu64 " entries (%" PRIu64
                    " out of order), expected %" PRIu64, acc.count, acc.disorder, n);
        return -1;
    }
    res->m[M_SECS] = t1 - t0;
    res->m[M_RATE] = (double)n / (t1 - t0);
    /* Keep the sum alive so no compiler drops the value reads. */
    if (acc.sum == 42)
        fputc('\0', stderr);
    return 0;
}

struct writer_arg {
    struct ctx *c;
    pthread_barrier_t *start;
    uint64_t first, n;  /* txn numbers first..first+n-1 */
    uint64_t *lat;      /* ns per commit, n of them */
    double end;
    int failed;
};

static void *writer_main(void *p)
{
    struct writer_arg *a = p;
    const struct engine *e = a->c->e;
    char key[BENCH_KEY_SIZE];
    void *th = NULL;
    int open_rc = e->thread_open(a->c->db, &th);

    pthread_barrier_wait(a->start);
    if (open_rc) {
        a->failed = 1;
        a->end = now_sec();
        return NULL;
    }
    for (uint64_t i = 0; i < a->n; i++) {
        uint64_t j = a->first + i;
        /* Scattered keys; a repeat among 10^4 of 10^16 is unlikely and
         * would be harmless (an update). */
        uint64_t k = mix64(j) % 10000000000000000u;
        uint64_t t0;

        key_fmt(key, k);
        t0 = now_ns();
        if (e->put_durable(th, key, sizeof key, val_ptr(j, 0, VAL_SIZE), VAL_SIZE)) {
            a->failed = 1;
            break;
        }
        a->lat[i] = now_ns() - t0;
    }
    a->end = now_sec();
    e->thread_close(th);
    return NULL;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

    return a < b ? -1 : a > b;
}

static int run_fillsync(struct ctx *c, uint64_t n, int threads, struct run_result *res)
{
    struct writer_arg a[8];
    pthread_t tid[8];
    pthread_barrier_t start;
    uint64_t *lat = calloc(n ? n : 1, sizeof *lat), first = 0;
    double t0, t1 = 0;
    int failed = 0;

    if (!lat) {
        bench_error(c->e->name, "out of memory");
        return -1;
    }
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (int t = 0; t < threads; t++) {
        uint64_t cnt = n / (uint64_t)threads + ((uint64_t)t < n % (uint64_t)threads);

        a[t] = (struct writer_arg){ .c = c, .start = &start, .first = first, .n = cnt,
                                    .lat = lat + first };
        first += cnt;
        if (pthread_create(&tid[t], NULL, writer_main, &a[t]) != 0) {
            bench_error(c->e->name, "pthread_create failed");
            exit(1);
        }
    }
    pthread_barrier_wait(&start);
    t0 = now_sec();
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        if (a[t].end > t1)
            t1 = a[t].end;
        failed |= a[t].failed;
    }
    pthread_barrier_destroy(&start);
    if (failed) {
        free(lat);
        return -1;
    }
    qsort(lat, n, sizeof *lat, cmp_u64);
    res->m[M_SECS] = t1 - t0;
    res->m[M_RATE] = (double)n / (t1 - t0);
    res->m[M_P50] = n ? (double)lat[n / 2] / 1000.0 : 0;
    res->m[M_P99] = n ? (double)lat[n * 99 / 100] / 1000.0 : 0;
    free(lat);
    return 0;
}

/* What one reader process of the readers* workloads reports. */
struct proc_result {
    double end;
    struct get_stats st;
    char err[200];
};


/* One reader process: open the database on its own, say it is ready, wait
 * for the start (EOF on go_fd), do n gets, report. Never returns. */
static void reader_proc(const struct engine *e, const char *dir, unsigned gen, uint64_t n,
                        uint64_t seed, int ready_fd, int go_fd, int out_fd)
{
    struct proc_result pr;
    unsigned char *buf = malloc(VAL_SIZE + 1);
    void *db = NULL, *th = NULL;
    char c;
    int ok;

    memset(&pr, 0, sizeof pr);
    ok = buf && e->open_reader(dir, &db) == 0;
    if (ok && e->thread_open(db, &th)) {
        e->close(db);
        ok = 0;
    }
    write_all(ready_fd, "r", 1);
    while (read(go_fd, &c, 1) < 0 && errno == EINTR)
        ;
    if (ok)
        get_loop(e, th, n, cfg.n, VAL_SIZE, gen, seed, buf, &pr.st);
    else
        pr.st.failed = 1;
    pr.end = now_sec();
    if (ok) {
        e->thread_close(th);
        e->close(db);
    }
    if (have_error)
        snprintf(pr.err, sizeof pr.err, "%s", first_error);
    write_all(out_fd, &pr, sizeof pr);
    _exit(0);
}

/* cfg.n random gets from `procs` processes, each with the database open on
 * its own; res gets the aggregate gets/s. */
static int run_readers(const struct engine *e, const char *dir, unsigned gen, int procs,
                       struct run_result *res)
{
    int ready[2], go[2], out[2];
    pid_t pids[8];
    struct get_stats sum = { 0, 0, 0, 0 };
    double t0, t1 = 0;
    char c;

    if (pipe(ready) || pipe(go) || pipe(out)) {
        bench_error(e->name, "pipe: %s", strerror(errno));
        return -1;
    }
    for (int p = 0; p < procs; p++) {
        uint64_t n = cfg.n / (uint64_t)procs + ((uint64_t)p < cfg.n % (uint64_t)procs);

        pids[p] = fork();
        if (pids[p] < 0) {
            bench_error(e->name, "fork: %s", strerror(errno));
            exit(1);
        }
        if (pids[p] == 0) {
            close(go[1]);
            close(ready[0]);
            close(out[0]);
            reader_proc(e, dir, gen, n, SEED_READ + 0x1000u * (uint64_t)p, ready[1], go[0],
                        out[1]);
        }
    }
    close(ready[1]);
    close(go[0]);
    close(out[1]);
    for (int p = 0; p < procs; p++)
        read_all(ready[0], &c, 1);
    t0 = now_sec();
    close(go[1]); /* every reader sees EOF: start */
    for (int p = 0; p < procs; p++) {
        struct proc_result pr;

        if (read_all(out[0], &pr, sizeof pr) != sizeof pr) {
            bench_error(e->name, "a reader process died");
            sum.failed = 1;
            break;
        }
        if (pr.end > t1)
            t1 = pr.end;
        sum.done += pr.st.done;
        sum.misses += pr.st.misses;
        sum.bad += pr.st.bad;
        if (pr.st.failed) {
            sum.failed = 1;
            bench_error(e->name, "reader process: %s", pr.err[0] ? pr.err : "failed");
        }
    }
    for (int p = 0; p < procs; p++)
        while (waitpid(pids[p], NULL, 0) < 0 && errno == EINTR)
            ;
    close(ready[0]);
    close(out[0]);
    return gets_result(e, &sum, t1 - t0, M_RATE, res);
}

/* Run job j of engine e on directory dir; prefill: fill the main database
 * first, untimed. gen: generation of the values the main database holds. */
static void child_run(const struct engine *e, enum job_id j, const char *dir, int prefill,
                      unsigned gen, struct run_result *res)
{
    const struct job *jb = &jobs[j];
    struct ctx c = { .e = e, .gen = jb->slot == DB_MAIN ? gen : 0 };
    uint32_t *order = NULL;
    struct rusage ru;
    int durable = j == J_FILLSYNC1 || j == J_FILLSYNC8;
    int rc = -1;

    if (e->open(dir, durable, &c.db))
        return;
    if (prefill && jb->keys) {
        void *th;

        if (e->thread_open(c.db, &th))
            goto out;
        rc = do_fill(&c, th, NULL, jb->keys, VAL_SIZE, 0, 1);
        if (!rc)
            rc = e->sync(c.db);
        e->thread_close(th);
        if (rc)
            goto out;
        rc = -1;
    } else if (prefill) {
        void *th;

        order = make_order(cfg.n, SEED_FILL);
        if (!order || e->thread_open(c.db, &th))
            goto out;
        rc = do_fill(&c, th, order, cfg.n, VAL_SIZE, 0, 0);
        if (!rc)
            rc = e->sync(c.db);
        e->thread_close(th);
        free(order);
        order = NULL;
        if (rc)
            goto out;
        c.gen = 0;
        rc = -1;
    }
    switch (j) {
    case J_FILLSEQ:
        rc = run_fill(&c, dir, NULL, cfg.n, VAL_SIZE, 0, 1, res);
        break;
    case J_FILLRANDOM:
    case J_OVERWRITE:
        order = make_order(cfg.n, j == J_FILLRANDOM ? SEED_FILL : SEED_OVERWRITE);
        if (!order) {
            bench_error(e->name, "out of memory");
            break;
        }
        rc = run_fill(&c, dir, order, cfg.n, VAL_SIZE, j == J_OVERWRITE, 0, res);
        break;
    case J_READRANDOM1:
    case J_READRANDOM2:
        rc = run_reads(&c, cfg.n, cfg.n, VAL_SIZE, jb->threads, 0, M_RATE, res);
        break;
    case J_READSEQ:
        rc = run_scan(&c, cfg.n, res);
        break;
    case J_FILLSYNC1:
    case J_FILLSYNC8:
        rc = run_fillsync(&c, cfg.sync_n, jb->threads, res);
        break;
    case J_BIGVALUES:
    case J_TEXTVALUES: {
        double secs;

        if (j == J_TEXTVALUES) {
            valsrc = textbuf;
            valsrc_size = TEXTBUF_SIZE;
            order = make_order(cfg.big_n, SEED_FILL);
            if (!order)
                break;
        }
        rc = run_fill(&c, dir, order, cfg.big_n, BIG_VAL_SIZE, 0, order == NULL, res);
        if (rc)
            break;
        /* MiB/s of key and value bytes, as db_bench counts them. */
        secs = res->m[M_SECS];
        res->m[M_RATE] = (double)cfg.big_n * (BENCH_KEY_SIZE + BIG_VAL_SIZE) / secs / 1048576.0;
        rc = run_reads(&c, cfg.big_n, cfg.big_n, BIG_VAL_SIZE, 1, 0, M_RATE2, res);
        res->m[M_SECS] = secs;
        break;
    }
    case J_READERS1:
    case J_READERS2:
    case J_READERS4:
        /* The readers open the database themselves; this process lets go. */
        e->close(c.db);
        c.db = NULL;
        rc = run_readers(e, dir, c.gen, jb->threads, res);
        break;
    case J_GETS100K1:
    case J_GETS100K2:
    case J_GETS1M1:
    case J_GETS1M2:
    case J_GETS10M1:
    case J_GETS10M2:
        /* A fresh process maps the file cold: fault it in first, untimed,
         * or a 10M-key run would time page faults, not gets. */
        rc = run_scan(&c, jb->keys, res);
        if (rc == 0)
            rc = run_reads(&c, SIZED_GETS, jb->keys, VAL_SIZE, jb->threads, !cfg.unplanned_gets,
                           M_RATE, res);
        break;
    case J_COUNT:
        break;
    }
out:
    free(order);
    if (c.db)
        e->close(c.db);
    if (rc == 0 && res->m[M_FILE] > 0) { /* a fill: what the closed database takes */
        struct disk_usage du;
        e->disk_usage(dir, &du);
        res->m[M_CLOSED] = (double)du.apparent;
    }
    if (rc == 0 && !atomic_load(&have_error)) {
        /* The largest process of the run: this one or a reader process. */
        getrusage(RUSAGE_SELF, &ru);
        res->m[M_RSS] = (double)ru.ru_maxrss;
        getrusage(RUSAGE_CHILDREN, &ru);
        if ((double)ru.ru_maxrss > res->m[M_RSS])
            res->m[M_RSS] = (double)ru.ru_maxrss;
        res->ok = 1;
    }
}

/* ---------------------------------------------------------------------------
 * The driver
 */

/* Flush everything dirty on the benchmark's file system (not a cache drop). */
static void settle_fs(void)
{
    int fd = open(base_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0) {
        syncfs(fd);
        close(fd);
    }
}

/* Run one job of one engine in a forked child; returns its result. */
static struct run_result run_child(const struct engine *e, enum job_id j, const char *dir,
                                   int prefill, unsigned gen)
{
    struct run_result res;
    int fds[2], status;
    pid_t pid;
    double t0;

    memset(&res, 0, sizeof res);
    settle_fs();
    fflush(NULL);
    t0 = now_sec();
    if (pipe(fds) != 0) {
        snprintf(res.err, sizeof res.err, "pipe: %s", strerror(errno));
        return res;
    }
    pid = fork();
    if (pid < 0) {
        snprintf(res.err, sizeof res.err, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return res;
    }
    if (pid == 0) {
        close(fds[0]);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        alarm((unsigned)cfg.timeout);
        child_run(e, j, dir, prefill, gen, &res);
        if (!res.ok)
            snprintf(res.err, sizeof res.err, "%s", have_error ? first_error : "failed");
        write_all(fds[1], &res, sizeof res);
        _exit(0);
    }
    close(fds[1]);
    if (read_all(fds[0], &res, sizeof res) != sizeof res) {
        memset(&res, 0, sizeof res);
        snprintf(res.err, sizeof res.err, "run died without a result");
    }
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    res.wall = now_sec() - t0;
    if (WIFSIGNALED(status)) {
        res.ok = 0;
        if (WTERMSIG(status) == SIGALRM)
            snprintf(res.err, sizeof res.err, "timed out after %d s", cfg.timeout);
        else
            snprintf(res.err, sizeof res.err, "killed by signal %d (%s)", WTERMSIG(status),
                     strsignal(WTERMSIG(status)));
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0 && res.ok) {
        res.ok = 0;
        snprintf(res.err, sizeof res.err, "exit status %d", WEXITSTATUS(status));
    }
    return res;
}

/* Every run's result: [job][engine][rep]. */
static struct run_result *results;

static struct run_result *result_at(int j, size_t e, int r)
{
    return &results[((size_t)j * N_ALL_ENGINES + e) * (size_t)cfg.reps + (size_t)r];
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;

    return a < b ? -1 : a > b;
}

/* Median (and min, max) of metric m over the successful reps; 0 runs -> -1. */
static int median_of(int j, size_t e, enum metric m, double *med, double *lo, double *hi)
{
    double v[64];
    int k = 0;

    for (int r = 0; r < cfg.reps && k < 64; r++) {
        const struct run_result *rr = result_at(j, e, r);

        if (rr->ok)
            v[k++] = rr->m[m];
    }
    if (k == 0)
        return -1;
    qsort(v, (size_t)k, sizeof v[0], cmp_double);
    *med = k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
    *lo = v[0];
    *hi = v[k - 1];
    return k;
}

/* 1234567.8 -> "1,234,568" */
static const char *fmt_count(char *buf, size_t cap, double x)
{
    char digits[32];
    uint64_t v = x < 0 ? 0 : (uint64_t)(x + 0.5);
    int n = snprintf(digits, sizeof digits, "%" PRIu64, v), o = 0;

    for (int i = 0; i < n && (size_t)o + 2 < cap; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

static const char *fmt_value(char *buf, size_t cap, enum col_kind k, double x)
{
    switch (k) {
    case C_COUNT:
        return fmt_count(buf, cap, x);
    case C_MB:
        snprintf(buf, cap, "%.1f", x);
        return buf;
    case C_US:
        snprintf(buf, cap, "%.0f", x);
        return buf;
    case C_BYTES_MB:
        snprintf(buf, cap, "%.1f", x / 1e6);
        return buf;
    case C_KB_MB:
        snprintf(buf, cap, "%.1f", x / 1024.0);
        return buf;
    }
    return "";
}

static int engine_index(const char *name)
{
    for (size_t i = 0; i < N_ALL_ENGINES; i++)
        if (strcmp(all_engines[i]->name, name) == 0)
            return (int)i;
    return -1;
}

static void describe_job(int j, char *buf, size_t cap)
{
    char a[32], b[32], cap_note[48] = "";

    if (cfg.read_secs > 0)
        snprintf(cap_note, sizeof cap_note, " (or %.3g s)", cfg.read_secs);

    switch ((enum job_id)j) {
    case J_FILLSEQ:
        snprintf(buf, cap, "%s ascending puts (append mode where the engine has one), "
                 "%d per txn, then one durable sync", fmt_count(a, sizeof a, (double)cfg.n),
                 BATCH);
        break;
    case J_FILLRANDOM:
        snprintf(buf, cap, "%s puts in a fixed random order into an empty database, "
                 "%d per txn, then one durable sync", fmt_count(a, sizeof a, (double)cfg.n),
                 BATCH);
        break;
    case J_OVERWRITE:
        snprintf(buf, cap, "%s puts over the existing keys in another random order, "
                 "%d per txn, then one durable sync", fmt_count(a, sizeof a, (double)cfg.n),
                 BATCH);
        break;
    case J_READRANDOM1:
    case J_READRANDOM2:
        snprintf(buf, cap, "%s random gets%s over %s keys, one read txn per get, %d thread%s",
                 fmt_count(a, sizeof a, (double)cfg.n), cap_note,
                 fmt_count(b, sizeof b, (double)cfg.n), jobs[j].threads,
                 jobs[j].threads > 1 ? "s" : "");
        break;
    case J_READSEQ:
        snprintf(buf, cap, "one ordered scan of %s entries reading every value",
                 fmt_count(a, sizeof a, (double)cfg.n));
        break;
    case J_FILLSYNC1:
    case J_FILLSYNC8:
        snprintf(buf, cap, "%s txns of one put, every commit durable, %d thread%s",
                 fmt_count(a, sizeof a, (double)cfg.sync_n), jobs[j].threads,
                 jobs[j].threads > 1 ? "s" : "");
        break;
    case J_BIGVALUES:
        snprintf(buf, cap, "%s ascending 1 KiB values (MiB/s of key+value bytes), "
                 "durable sync at the end; then %s random gets%s",
                 fmt_count(a, sizeof a, (double)cfg.big_n),
                 fmt_count(b, sizeof b, (double)cfg.big_n), cap_note);
        break;
    case J_TEXTVALUES:
        snprintf(buf, cap, "%s 1 KiB values of log lines in random key order (MiB/s of "
                 "key+value bytes), durable sync at the end; then %s random gets%s",
                 fmt_count(a, sizeof a, (double)cfg.big_n),
                 fmt_count(b, sizeof b, (double)cfg.big_n), cap_note);
        break;
    case J_READERS1:
    case J_READERS2:
    case J_READERS4:
        snprintf(buf, cap, "%s random gets%s over %s keys from %d process%s, each with "
                 "the database open on its own, one read txn per get",
                 fmt_count(a, sizeof a, (double)cfg.n), cap_note,
                 fmt_count(b, sizeof b, (double)cfg.n), jobs[j].threads,
                 jobs[j].threads > 1 ? "es" : "");
        break;
    case J_GETS100K1:
    case J_GETS100K2:
    case J_GETS1M1:
    case J_GETS1M2:
    case J_GETS10M1:
    case J_GETS10M2:
        snprintf(buf, cap, "%s random gets%s over %s keys (loaded ascending), one read "
                 "txn per get, %d thread%s", fmt_count(a, sizeof a, (double)SIZED_GETS),
                 cap_note, fmt_count(b, sizeof b, (double)jobs[j].keys), jobs[j].threads,
                 jobs[j].threads > 1 ? "s" : "");
        break;
    case J_COUNT:
        buf[0] = '\0';
        break;
    }
}

static void print_tables(void)
{
    int lmdb = engine_index("lmdb");
    char buf[64], buf2[64], desc[256];

    if (lmdb >= 0 && !cfg.engine_on[lmdb])
        lmdb = -1;
    printf("\n");
    for (int j = 0; j < J_COUNT; j++) {
        const struct job *jb = &jobs[j];

        if (!cfg.job_on[j])
            continue;
        describe_job(j, desc, sizeof desc);
        printf("== %s: %s\n", jb->name, desc);
        printf("%-8s", "engine");
        for (int ci = 0; ci < MAX_COLS && jb->cols[ci].label; ci++) {
            const struct column *col = &jb->cols[ci];

            printf(" %12s", col->label);
            if (col->ratio && lmdb >= 0)
                printf(" %7s", "vs lmdb");
            if (col->spread)
                printf(" %23s", "min..max");
        }
        printf("  runs\n");
        for (size_t e = 0; e < N_ALL_ENGINES; e++) {
            int runs = 0;

            if (!cfg.engine_on[e] || !engine_runs(all_engines[e], j))
                continue;
            printf("%-8s", all_engines[e]->name);
            for (int ci = 0; ci < MAX_COLS && jb->cols[ci].label; ci++) {
                const struct column *col = &jb->cols[ci];
                double med, lo, hi, lmed, llo, lhi;
                int k = median_of(j, e, col->m, &med, &lo, &hi);

                runs = k > 0 ? k : 0;
                if (k < 0) {
                    printf(" %12s",
                           result_at(j, e, 0)->skipped == SKIP_UNSUPPORTED ? "n/a" : "-");
                    if (col->ratio && lmdb >= 0)
                        printf(" %7s", "");
                    if (col->spread)
                        printf(" %23s", "");
                    continue;
                }
                printf(" %12s", fmt_value(buf, sizeof buf, col->kind, med));
                if (col->ratio && lmdb >= 0) {
                    if (median_of(j, (size_t)lmdb, col->m, &lmed, &llo, &lhi) > 0 && lmed > 0) {
                        snprintf(buf, sizeof buf, "%.2fx", med / lmed);
                        printf(" %7s", buf);
                    } else {
                        printf(" %7s", "-");
                    }
                }
                if (col->spread) {
                    char range[64];

                    snprintf(range, sizeof range, "%s..%s",
                             fmt_value(buf, sizeof buf, col->kind, lo),
                             fmt_value(buf2, sizeof buf2, col->kind, hi));
                    printf(" %23s", range);
                }
            }
            printf("  %d/%d", runs, cfg.reps);
            for (int r = 0; r < cfg.reps; r++) {
                const struct run_result *rr = result_at(j, e, r);

                if (rr->skipped) {
                    printf("  (%s)", rr->err);
                    break;
                }
                if (!rr->ok) {
                    printf("  (rep %d: %s)", r + 1, rr->err);
                    break;
                }
            }
            printf("\n");
        }
        printf("\n");
    }

    /* One line per figure, for scripts: RESULT workload engine metric value */
    for (int j = 0; j < J_COUNT; j++) {
        if (!cfg.job_on[j])
            continue;
        for (size_t e = 0; e < N_ALL_ENGINES; e++) {
            double med, lo, hi, lmed, llo, lhi;
            int k;

            if (!cfg.engine_on[e] || !engine_runs(all_engines[e], j))
                continue;
            k = median_of(j, e, M_RATE, &med, &lo, &hi);
            printf("RESULT %s %s runs %d\n", jobs[j].name, all_engines[e]->name, k < 0 ? 0 : k);
            if (k < 0)
                continue;
            for (int ci = 0; ci < MAX_COLS && jobs[j].cols[ci].label; ci++) {
                const struct column *col = &jobs[j].cols[ci];

                median_of(j, e, col->m, &med, &lo, &hi);
                printf("RESULT %s %s %s %.6g\n", jobs[j].name, all_engines[e]->name,
                       col->name, med);
                if (col->ratio && lmdb >= 0 &&
                    median_of(j, (size_t)lmdb, col->m, &lmed, &llo, &lhi) > 0 && lmed > 0)
                    printf("RESULT %s %s %s_vs_lmdb %.4f\n", jobs[j].name,
                           all_engines[e]->name, col->name, med / lmed);
            }
        }
    }
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ldb_bench [options]\n"
            "  -n N          keys in the 100-byte workloads (default 1000000)\n"
            "  -r R          repetitions; tables show medians (default 3)\n"
            "  -e LIST       engines, comma-separated (default: all compiled in:");
    for (size_t i = 0; i < N_ALL_ENGINES; i++)
        fprintf(f, " %s", all_engines[i]->name);
    fprintf(f,
            ")\n"
            "  -w LIST       workloads, comma-separated (default all): fillseq fillrandom\n"
            "                overwrite readrandom (= readrandom1,readrandom2) readseq\n"
            "                fillsync (= fillsync1,fillsync8) bigvalues; and, only when\n"
            "                named, readers (= readers1,readers2,readers4: gets from\n"
            "                that many processes), textvalues (log-line values; the\n"
            "                compressed variants ldb-lz4, ldb-zstd, ldb-zstd-dict and\n"
            "                rocksdb-lz4 run it and bigvalues only) and gets (= gets100k, gets1m, gets10m,\n"
            "                each = 1 and 2 threads, e.g. gets1m1: random gets over\n"
            "                databases of that many keys; 10M keys take ~1.2 GB each)\n"
            "  -d DIR        make the benchmark's directory under DIR (default /tmp);\n"
            "                it is removed at the end\n"
            "  -s N          txns in fillsync (default 10000)\n"
            "  -b N          1 KiB values in bigvalues (default 262144 per million keys)\n"
            "  -t SECS       kill a run after SECS seconds (default 900)\n"
            "  --read-secs S a run's random gets stop after S seconds, the rate being\n"
            "                taken over the gets done (default 5; 0: all N, however long)\n"
            "  --unplanned-gets  the gets* workloads draw and format each key and check\n"
            "                each value whole inside the timed loop (the loop before\n"
            "                issue 15's sixth pass), instead of planning them first\n"
            "  --slow-secs S a workload of a peer (not ldb, not lmdb) whose first run took\n"
            "                more than S seconds is not repeated (default 20; 0: repeat all)\n"
            "  --quick       -n 100000 -s 2000 (the README demo)\n"
            "  --long        bigvalues with 1 GiB (-b 1048576)\n"
            "Output: a table per workload (medians, ratio to LMDB, min..max over runs),\n"
            "then lines \"RESULT workload engine metric value\" for scripts.\n");
}

static uint64_t parse_count(const char *s, const char *opt)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > UINT32_MAX) {
        fprintf(stderr, "ldb_bench: bad %s '%s'\n", opt, s);
        exit(2);
    }
    return v;
}

static void parse_jobs(const char *list)
{
    char *copy = strdup(list), *save = NULL;

    memset(cfg.job_on, 0, sizeof cfg.job_on);
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int found = 0;

        for (int j = 0; j < J_COUNT; j++) {
            size_t len = strlen(t);

            /* "readrandom", "fillsync", "readers" name every count;
             * "gets" every gets* workload, "gets1m" both of that size. */
            if (strcmp(jobs[j].name, t) == 0 ||
                ((strcmp(t, "readrandom") == 0 || strcmp(t, "fillsync") == 0 ||
                  strcmp(t, "readers") == 0 || strcmp(t, "gets") == 0 ||
                  strcmp(t, "gets100k") == 0 || strcmp(t, "gets1m") == 0 ||
                  strcmp(t, "gets10m") == 0) &&
                 strncmp(jobs[j].name, t, len) == 0 &&
                 (strcmp(t, "gets") == 0 || strlen(jobs[j].name) == len + 1))) {
                cfg.job_on[j] = 1;
                found = 1;
            }
        }
        if (!found) {
            fprintf(stderr, "ldb_bench: unknown workload '%s'\n", t);
            exit(2);
        }
    }
    free(copy);
}

static void parse_engines(const char *list)
{
    char *copy = strdup(list), *save = NULL;

    memset(cfg.engine_on, 0, sizeof cfg.engine_on);
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int i = engine_index(t);

        if (i < 0) {
            fprintf(stderr, "ldb_bench: engine '%s' is not compiled in\n", t);
            exit(2);
        }
        cfg.engine_on[i] = 1;
    }
    free(copy);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "quick", no_argument, NULL, 'q' },
        { "long", no_argument, NULL, 'L' },
        { "read-secs", required_argument, NULL, 'R' },
        { "slow-secs", required_argument, NULL, 'S' },
        { "unplanned-gets", no_argument, NULL, 'U' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int n_set = 0, sync_set = 0, big_set = 0, quick = 0, opt;
    struct sigaction sa;
    struct rusage self_ru;
    uint64_t seed = SEED_VALUES;
    double started;

    cfg.n = 1000000;
    cfg.sync_n = 10000;
    cfg.reps = 3;
    cfg.timeout = 900;
    cfg.read_secs = 5;
    cfg.slow_secs = 20;
    cfg.parent = "/tmp";
    for (size_t i = 0; i < N_ALL_ENGINES; i++)
        cfg.engine_on[i] = 1;
    for (int j = 0; j < J_COUNT; j++)
        cfg.job_on[j] = !jobs[j].optin;

    while ((opt = getopt_long(argc, argv, "n:r:e:w:d:s:b:t:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            cfg.n = parse_count(optarg, "-n");
            n_set = 1;
            break;
        case 'r':
            cfg.reps = (int)parse_count(optarg, "-r");
            if (cfg.reps > 64) {
                fprintf(stderr, "ldb_bench: at most 64 repetitions\n");
                return 2;
            }
            break;
        case 'e':
            parse_engines(optarg);
            break;
        case 'w':
            parse_jobs(optarg);
            break;
        case 'd':
            cfg.parent = optarg;
            break;
        case 's':
            cfg.sync_n = parse_count(optarg, "-s");
            sync_set = 1;
            break;
        case 'b':
            cfg.big_n = parse_count(optarg, "-b");
            big_set = 1;
            break;
        case 't':
            cfg.timeout = (int)parse_count(optarg, "-t");
            break;
        case 'q':
            quick = 1;
            break;
        case 'L':
            cfg.big_n = 1048576;
            big_set = 1;
            break;
        case 'U':
            cfg.unplanned_gets = 1;
            break;
        case 'R':
        case 'S': {
            char *end;
            double v = strtod(optarg, &end);

            if (end == optarg || *end || v < 0) {
                fprintf(stderr, "ldb_bench: bad --%s '%s'\n",
                        opt == 'R' ? "read-secs" : "slow-secs", optarg);
                return 2;
            }
            *(opt == 'R' ? &cfg.read_secs : &cfg.slow_secs) = v;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (quick) {
        if (!n_set)
            cfg.n = 100000;
        if (!sync_set)
            cfg.sync_n = 2000;
    }
    if (!big_set) {
        cfg.big_n = cfg.n * 262144 / 1000000;
        if (cfg.big_n < 1000)
            cfg.big_n = 1000;
    }
    if (N_ALL_ENGINES == 0) {
        fprintf(stderr, "ldb_bench: no engine compiled in\n");
        return 2;
    }

    valbuf = malloc(VALBUF_SIZE);
    textbuf = malloc(TEXTBUF_SIZE);
    valsrc = valbuf;
    valsrc_size = VALBUF_SIZE;
    results = calloc((size_t)J_COUNT * N_ALL_ENGINES * (size_t)cfg.reps, sizeof *results);
    if (!valbuf || !textbuf || !results) {
        fprintf(stderr, "ldb_bench: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < VALBUF_SIZE; i += 8) {
        uint64_t r = splitmix64(&seed);

        memcpy(valbuf + i, &r, 8);
    }
    make_text(textbuf, TEXTBUF_SIZE, seed);
    if (bench_path(base_dir, sizeof base_dir, cfg.parent, "ldb_bench.XXXXXX") ||
        !mkdtemp(base_dir)) {
        fprintf(stderr, "ldb_bench: cannot make a directory under %s: %s\n", cfg.parent,
                strerror(errno));
        return 1;
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    printf("ldb_bench: N=%" PRIu64 ", %d repetition%s, fillsync %" PRIu64
           " txns, bigvalues %" PRIu64 " x 1 KiB, in %s\n",
           cfg.n, cfg.reps, cfg.reps > 1 ? "s" : "", cfg.sync_n, cfg.big_n, base_dir);
    if (cfg.read_secs > 0)
        printf("random-get runs stop after %.3g s (rate over the gets done; see --read-secs)\n",
               cfg.read_secs);
    if (cfg.slow_secs > 0 && cfg.reps > 1)
        printf("a peer's workload whose first run takes over %.3g s runs once (see "
               "--slow-secs)\n", cfg.slow_secs);
    printf("engines:");
    for (size_t e = 0; e < N_ALL_ENGINES; e++)
        if (cfg.engine_on[e])
            printf(" %s", all_engines[e]->name);
    printf("\n");
    fflush(stdout);
    started = now_sec();

    {
        /* Per engine: has the main database been filled, with which values;
         * which of the gets* databases are loaded. */
        int main_ok[N_ALL_ENGINES], sized_ok[DB_SLOTS][N_ALL_ENGINES];
        unsigned main_gen[N_ALL_ENGINES];
        size_t order[N_ALL_ENGINES], n_on = 0;
        char dir[4096 + 64], edir[4096 + 32];

        for (size_t e = 0; e < N_ALL_ENGINES; e++) {
            main_ok[e] = 0;
            main_gen[e] = 0;
            for (int sl = 0; sl < DB_SLOTS; sl++)
                sized_ok[sl][e] = 0;
            if (cfg.engine_on[e])
                order[n_on++] = e;
        }
        for (int r = 0; r < cfg.reps && !interrupted; r++) {
            for (int j = 0; j < J_COUNT && !interrupted; j++) {
                const struct job *jb = &jobs[j];

                if (!cfg.job_on[j])
                    continue;
                for (size_t oi = 0; oi < n_on && !interrupted; oi++) {
                    size_t e = order[(oi + (size_t)r) % n_on];
                    const struct engine *eng = all_engines[e];
                    struct run_result *res = result_at(j, e, r);
                    const struct run_result *first = result_at(j, e, 0);
                    int prefill = 0;

                    memset(res, 0, sizeof *res);
                    if (!engine_runs(eng, j)) {
                        res->skipped = SKIP_UNSUPPORTED;
                        snprintf(res->err, sizeof res->err, "a reference for fillsync only");
                        continue;
                    }
                    if ((j == J_READERS1 || j == J_READERS2 || j == J_READERS4) &&
                        !eng->open_reader) {
                        res->skipped = SKIP_UNSUPPORTED;
                        snprintf(res->err, sizeof res->err, "no multi-process open");
                        continue;
                    }
                    /* Peers' slow parts run once, to keep the whole run short;
                     * ours and LMDB's, which the targets compare, always repeat. */
                    if (r > 0 && cfg.slow_secs > 0 && first->ok &&
                        first->wall > cfg.slow_secs && strcmp(eng->name, "ldb") != 0 &&
                        strcmp(eng->name, "lmdb") != 0) {
                        res->skipped = SKIP_SLOW;
                        snprintf(res->err, sizeof res->err,
                                 "run once: the first run took %.1f s", first->wall);
                        fprintf(stderr, "rep %d/%d %-11s %-8s not repeated (%s)\n", r + 1,
                                cfg.reps, jb->name, eng->name, res->err);
                        continue;
                    }
                    snprintf(edir, sizeof edir, "%s/%s", base_dir, eng->name);
                    snprintf(dir, sizeof dir, "%s/%s", edir, db_slot_names[jb->slot]);
                    mkdir(edir, 0755);
                    if (jb->fresh) {
                        remove_tree(dir);
                        if (jb->slot == DB_MAIN)
                            main_ok[e] = 0;
                    }
                    if ((jb->needs_main && !main_ok[e]) || (jb->keys && !sized_ok[jb->slot][e])) {
                        remove_tree(dir);
                        prefill = 1;
                    }
                    mkdir(dir, 0755);
                    *res = run_child(eng, (enum job_id)j, dir, prefill, main_gen[e]);
                    if (jb->keys) {
                        /* Kept for the other thread count and the next rep. */
                        sized_ok[jb->slot][e] = res->ok;
                        if (!res->ok)
                            remove_tree(dir);
                    } else if (jb->slot != DB_MAIN) {
                        remove_tree(dir);
                    } else if (!res->ok) {
                        /* Whatever a failed run left is not a known state. */
                        main_ok[e] = 0;
                        remove_tree(dir);
                    } else {
                        main_ok[e] = 1;
                        if (prefill || j == J_FILLRANDOM)
                            main_gen[e] = 0;
                        if (j == J_OVERWRITE)
                            main_gen[e] = 1;
                    }
                    if (res->ok && res->m[M_GETS] > 0)
                        fprintf(stderr, "rep %d/%d %-11s %-8s %14.0f %s  (%.2f s; %.0f gets)\n",
                                r + 1, cfg.reps, jb->name, eng->name, res->m[M_RATE],
                                j == J_BIGVALUES || j == J_TEXTVALUES ? "MiB/s" : "/s", res->m[M_SECS],
                                res->m[M_GETS]);
                    else if (res->ok)
                        fprintf(stderr, "rep %d/%d %-11s %-8s %14.0f %s  (%.2f s)\n", r + 1,
                                cfg.reps, jb->name, eng->name, res->m[M_RATE],
                                j == J_BIGVALUES || j == J_TEXTVALUES ? "MiB/s" : "/s", res->m[M_SECS]);
                    else
                        fprintf(stderr, "rep %d/%d %-11s %-8s FAILED: %s\n", r + 1, cfg.reps,
                                jb->name, eng->name, res->err);
                }
            }
        }
    }
    remove_tree(base_dir);
    if (interrupted) {
        fprintf(stderr, "ldb_bench: interrupted\n");
        return 130;
    }
    print_tables();
    getrusage(RUSAGE_SELF, &self_ru);
    printf("peak RSS: the whole run's process, mapped file pages included (each run is\n"
           "forked from the driver, which itself peaked at %.1f MB); total time %.0f s\n",
           (double)self_ru.ru_maxrss / 1024.0, now_sec() - started);
    return 0;
}
