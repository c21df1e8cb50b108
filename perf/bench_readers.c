/* SPDX-License-Identifier: MIT */
/*
 * bench_readers.c: random reads from several processes on one database, and
 * the memory those processes share (issue 3). Lightning DB and, when
 * configure found it (HAVE_LMDB), LMDB side by side.
 *
 * For each engine: load N keys (16-byte zero-padded decimal, ascending, in
 * one batch per 100,000 keys, unsynced, then one durable sync) with values of
 * V bytes (pseudo-random, incompressible; the first 8 bytes are the key's
 * number). Then for P = 1, 2, 4 reader processes, each opening the database
 * on its own, read-only:
 *
 *  1. reads the whole database once (a cursor scan that touches every byte
 *     of every value), then samples /proc/self/status (VmRSS, RssAnon,
 *     RssFile, RssShmem) and /proc/self/smaps_rollup (Pss): the data is
 *     mapped from the page cache, so RssFile is about the database size in
 *     every process while RssAnon stays small and Pss splits the file
 *     between the processes;
 *  2. waits until every reader is ready, then does random gets for T
 *     seconds, one read txn per get kept alive with reset/renew (LMDB:
 *     mdb_txn_reset/mdb_txn_renew), checking each value's length and key
 *     number. ops/s is summed over the processes.
 *
 * Every (engine, P) pair runs R times, engines interleaved, and the median
 * is reported with its ratio to LMDB's. Usage:
 *
 *   bench_readers [-n keys] [-v value_bytes] [-G] [-t seconds] [-r reps]
 *                 [-p 1,2,4] [-d dir] [-e ldb,lmdb] [-k]
 *
 *   -G  1 GiB of values: N = 2^30 / V keys (V = 1,024 unless -v says)
 *   -k  keep the databases
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "lightningdb.h"
#include "pipe_io.h"
#ifdef HAVE_LMDB
#include <lmdb.h>
#endif

const char *const bench_prog = "bench_readers";

#define KEY_SIZE 16
#define MAX_PROCS 16
#define BATCH 100000

static struct config {
    uint64_t n;
    size_t vsize;
    double secs;
    int reps;
    int procs[8], nprocs;
    const char *dir;
    int keep;
    int want_ldb, want_lmdb;
} cfg = {1000000, 100, 3.0, 3, {1, 2, 4}, 3, NULL, 0, 1, 1};

/* Key number i as 16 zero-padded decimal digits (i mod 10^16), formatted
 * as ldb_bench formats its keys: snprintf took ~1,900 instructions a key,
 * more than either engine's get, and diluted the ratio of the two. */
static void key_fmt(char *k, uint64_t i)
{
    for (int p = KEY_SIZE - 1; p >= 0; p--) {
        k[p] = (char)('0' + i % 10);
        i /= 10;
    }
}

/* Value of key i: its number, then pseudo-random bytes. */
static void val_fill(uint64_t i, unsigned char *v, size_t n)
{
    uint64_t x = i * 0x9E3779B97F4A7C15ull + 0x1234567;
    memcpy(v, &i, n < 8 ? n : 8);
    for (size_t j = 8; j < n; j++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v[j] = (unsigned char)(x >> 24);
    }
}

static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static int check_val(uint64_t i, const void *p, size_t n)
{
    uint64_t got;
    if (n != cfg.vsize)
        return -1;
    memcpy(&got, p, 8);
    return got == i ? 0 : -1;
}

/* ---- engines ----------------------------------------------------------------------- */

/* What a reader needs: open, scan all, one get in its own read txn. */
struct engine {
    const char *name;
    const char *file; /* the data file, for its size */
    void (*load)(const char *dir);
    void *(*open_reader)(const char *dir);
    uint64_t (*scan)(void *h); /* sum of every value byte; aborts on error */
    int (*get)(void *h, uint64_t i);
    void (*close)(void *h);
};

/* Lightning DB */

struct ldb_reader {
    ldb_env *env;
    ldb_txn *txn;
};

static void ldb_die(const char *what, int rc)
{
    bench_die("ldb: %s: %s", what, ldb_strerror(rc));
}

static void ldb_load(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/data.ldb", dir);
    ldb_options o = {0};
    o.sync_mode = LDB_SYNC_OFF;
    ldb_env *env;
    int rc = ldb_open(path, &o, &env);
    if (rc)
        ldb_die("open", rc);
    unsigned char *v = malloc(cfg.vsize);
    char k[KEY_SIZE];
    for (uint64_t i = 0; i < cfg.n;) {
        ldb_txn *txn;
        if ((rc = ldb_txn_begin(env, 0, &txn)) != 0)
            ldb_die("txn_begin", rc);
        for (uint64_t end = i + BATCH; i < end && i < cfg.n; i++) {
            key_fmt(k, i);
            val_fill(i, v, cfg.vsize);
            ldb_val kv = {KEY_SIZE, k}, vv = {cfg.vsize, v};
            if ((rc = ldb_put(txn, LDB_MAIN, &kv, &vv, LDB_APPEND)) != 0)
                ldb_die("put", rc);
        }
        if ((rc = ldb_txn_commit(txn)) != 0)
            ldb_die("commit", rc);
    }
    if ((rc = ldb_sync(env)) != 0)
        ldb_die("sync", rc);
    if ((rc = ldb_close(env)) != 0)
        ldb_die("close", rc);
    free(v);
}

static void *ldb_open_reader(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/data.ldb", dir);
    struct ldb_reader *r = calloc(1, sizeof *r);
    ldb_options o = {0};
    o.flags = LDB_RDONLY;
    int rc = ldb_open(path, &o, &r->env);
    if (rc)
        ldb_die("open (LDB_RDONLY)", rc);
    if ((rc = ldb_txn_begin(r->env, LDB_TXN_RDONLY, &r->txn)) != 0)
        ldb_die("read txn_begin", rc);
    ldb_txn_reset(r->txn);
    return r;
}

static uint64_t ldb_scan(void *h)
{
    struct ldb_reader *r = h;
    ldb_txn *txn;
    ldb_cursor *cur;
    int rc;
    if ((rc = ldb_txn_begin(r->env, LDB_TXN_RDONLY, &txn)) != 0 ||
        (rc = ldb_cursor_open(txn, LDB_MAIN, &cur)) != 0)
        ldb_die("scan", rc);
    uint64_t sum = 0, count = 0;
    ldb_val k, v;
    while ((rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) == 0) {
        const unsigned char *p = v.data;
        for (size_t j = 0; j < v.size; j++)
            sum += p[j];
        count++;
    }
    if (rc != LDB_NOTFOUND || count != cfg.n)
        bench_die("ldb: scan found %" PRIu64 " keys: %s", count, ldb_strerror(rc));
    ldb_cursor_close(cur);
    ldb_txn_abort(txn);
    return sum;
}

static int ldb_get1(void *h, uint64_t i)
{
    struct ldb_reader *r = h;
    char k[KEY_SIZE];
    key_fmt(k, i);
    ldb_val kv = {KEY_SIZE, k}, v;
    int rc = ldb_txn_renew(r->txn);
    if (rc == 0)
        rc = ldb_get(r->txn, LDB_MAIN, &kv, &v);
    if (rc == 0)
        rc = check_val(i, v.data, v.size);
    ldb_txn_reset(r->txn);
    return rc;
}

static void ldb_close_reader(void *h)
{
    struct ldb_reader *r = h;
    ldb_txn_abort(r->txn);
    ldb_close(r->env);
    free(r);
}

static const struct engine engine_ldb = {"ldb", "data.ldb", ldb_load, ldb_open_reader,
                                         ldb_scan, ldb_get1, ldb_close_reader};

#ifdef HAVE_LMDB
/* LMDB: the same keys and values; MDB_NOSYNC load, MDB_APPEND; readers
 * MDB_RDONLY with one txn reset/renewed around each get. */

struct lmdb_reader {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
};

static void lmdb_die(const char *what, int rc)
{
    bench_die("lmdb: %s: %s", what, mdb_strerror(rc));
}

static size_t lmdb_mapsize(void)
{
    size_t need = (size_t)(cfg.n * (cfg.vsize + KEY_SIZE + 16) * 2);
    size_t m = (size_t)8 << 30;
    return need > m ? need : m;
}

static MDB_env *lmdb_env(const char *dir, unsigned flags)
{
    MDB_env *env;
    int rc;
    if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_mapsize(env, lmdb_mapsize())) != 0 ||
        (rc = mdb_env_set_maxreaders(env, 126)) != 0 ||
        (rc = mdb_env_open(env, dir, flags, 0644)) != 0)
        lmdb_die("open", rc);
    return env;
}

static void lmdb_load(const char *dir)
{
    MDB_env *env = lmdb_env(dir, MDB_NOSYNC);
    MDB_dbi dbi;
    unsigned char *v = malloc(cfg.vsize);
    char k[KEY_SIZE];
    int rc;
    for (uint64_t i = 0; i < cfg.n;) {
        MDB_txn *txn;
        if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
            (rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0)
            lmdb_die("txn_begin", rc);
        for (uint64_t end = i + BATCH; i < end && i < cfg.n; i++) {
            key_fmt(k, i);
            val_fill(i, v, cfg.vsize);
            MDB_val kv = {KEY_SIZE, k}, vv = {cfg.vsize, v};
            if ((rc = mdb_put(txn, dbi, &kv, &vv, MDB_APPEND)) != 0)
                lmdb_die("put", rc);
        }
        if ((rc = mdb_txn_commit(txn)) != 0)
            lmdb_die("commit", rc);
    }
    if ((rc = mdb_env_sync(env, 1)) != 0)
        lmdb_die("sync", rc);
    mdb_env_close(env);
    free(v);
}

static void *lmdb_open_reader(const char *dir)
{
    struct lmdb_reader *r = calloc(1, sizeof *r);
    int rc;
    r->env = lmdb_env(dir, MDB_RDONLY);
    if ((rc = mdb_txn_begin(r->env, NULL, MDB_RDONLY, &r->txn)) != 0 ||
        (rc = mdb_dbi_open(r->txn, NULL, 0, &r->dbi)) != 0)
        lmdb_die("read txn_begin", rc);
    mdb_txn_reset(r->txn);
    return r;
}

static uint64_t lmdb_scan(void *h)
{
    struct lmdb_reader *r = h;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc;
    if ((rc = mdb_txn_begin(r->env, NULL, MDB_RDONLY, &txn)) != 0 ||
        (rc = mdb_cursor_open(txn, r->dbi, &cur)) != 0)
        lmdb_die("scan", rc);
    uint64_t sum = 0, count = 0;
    MDB_val k, v;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        const unsigned char *p = v.mv_data;
        for (size_t j = 0; j < v.mv_size; j++)
            sum += p[j];
        count++;
    }
    if (rc != MDB_NOTFOUND || count != cfg.n)
        bench_die("lmdb: scan found %" PRIu64 " keys: %s", count, mdb_strerror(rc));
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return sum;
}

static int lmdb_get1(void *h, uint64_t i)
{
    struct lmdb_reader *r = h;
    char k[KEY_SIZE];
    key_fmt(k, i);
    MDB_val kv = {KEY_SIZE, k}, v;
    int rc = mdb_txn_renew(r->txn);
    if (rc == 0)
        rc = mdb_get(r->txn, r->dbi, &kv, &v);
    if (rc == 0)
        rc = check_val(i, v.mv_data, v.mv_size);
    mdb_txn_reset(r->txn);
    return rc;
}

static void lmdb_close_reader(void *h)
{
    struct lmdb_reader *r = h;
    mdb_txn_abort(r->txn);
    mdb_env_close(r->env);
    free(r);
}

static const struct engine engine_lmdb = {"lmdb", "data.mdb", lmdb_load, lmdb_open_reader,
                                          lmdb_scan, lmdb_get1, lmdb_close_reader};
#endif

/* ---- memory ------------------------------------------------------------------------- */

struct mem {
    double vm_rss, rss_anon, rss_file, rss_shmem, pss; /* MiB */
};

static double kb_field(const char *file, const char *name)
{
    FILE *f = fopen(file, "r");
    char line[256];
    double v = -1;
    size_t n = strlen(name);
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            v = strtod(line + n + 1, NULL) / 1024.0;
            break;
        }
    fclose(f);
    return v;
}

static struct mem mem_now(void)
{
    struct mem m;
    m.vm_rss = kb_field("/proc/self/status", "VmRSS");
    m.rss_anon = kb_field("/proc/self/status", "RssAnon");
    m.rss_file = kb_field("/proc/self/status", "RssFile");
    m.rss_shmem = kb_field("/proc/self/status", "RssShmem");
    m.pss = kb_field("/proc/self/smaps_rollup", "Pss");
    return m;
}

/* ---- one run: P reader processes --------------------------------------------------- */

struct proc_report {
    int ok;
    uint64_t ops, errors;
    double start, end;
    struct mem after_scan, after_reads;
    char err[160];
};

/* Wait for EOF on fd: the parent closes it once every reader got this far. */
static void barrier_wait(int fd)
{
    char c;
    while (read(fd, &c, 1) < 0 && errno == EINTR)
        ;
}

/* Memory is sampled when every reader is at the same point (between two
 * barriers), so shared pages are divided among all of them. */
static void reader_proc(const struct engine *e, const char *dir, uint64_t seed, int ready_fd,
                        const int go_fd[4], int out_fd)
{
    struct proc_report pr;
    memset(&pr, 0, sizeof pr);
    void *h = e->open_reader(dir);
    volatile uint64_t sum = e->scan(h);
    (void)sum;
    write_all(ready_fd, "r", 1);
    barrier_wait(go_fd[0]);
    pr.after_scan = mem_now();
    write_all(ready_fd, "m", 1);
    barrier_wait(go_fd[1]);
    pr.start = bench_now_sec();
    double end = pr.start + cfg.secs;
    uint64_t s = seed;
    for (;;) {
        for (int b = 0; b < 1024; b++) {
            if (e->get(h, rnd(&s) % cfg.n) != 0)
                pr.errors++;
            pr.ops++;
        }
        if (bench_now_sec() >= end)
            break;
    }
    pr.end = bench_now_sec();
    write_all(ready_fd, "d", 1);
    barrier_wait(go_fd[2]);
    pr.after_reads = mem_now();
    write_all(ready_fd, "s", 1); /* nobody unmaps before everyone has sampled */
    barrier_wait(go_fd[3]);
    pr.ok = pr.errors == 0;
    if (!pr.ok)
        snprintf(pr.err, sizeof pr.err, "%" PRIu64 " gets failed or returned a wrong value",
                 pr.errors);
    e->close(h);
    write_all(out_fd, &pr, sizeof pr);
    _exit(0);
}

struct run {
    double ops_per_sec;
    struct mem scan_avg, reads_avg; /* per process, averaged */
    double anon_total, pss_total;   /* summed over processes, after the reads */
};

static int run_readers(const struct engine *e, const char *dir, int procs, int rep, struct run *out)
{
    int ready[2], go[4][2], res[2];
    pid_t pids[MAX_PROCS];
    if (pipe(ready) || pipe(go[0]) || pipe(go[1]) || pipe(go[2]) || pipe(go[3]) || pipe(res))
        bench_die("pipe: %s", strerror(errno));
    for (int p = 0; p < procs; p++) {
        fflush(stdout);
        pids[p] = fork();
        if (pids[p] < 0)
            bench_die("fork: %s", strerror(errno));
        if (pids[p] == 0) {
            int go_rd[4];
            close(ready[0]);
            close(res[0]);
            for (int g = 0; g < 4; g++) {
                close(go[g][1]);
                go_rd[g] = go[g][0];
            }
            reader_proc(e, dir, 0x5EED0000u + (uint64_t)rep * 977 + (uint64_t)p * 7919 + 1,
                        ready[1], go_rd, res[1]);
        }
    }
    close(ready[1]);
    close(res[1]);
    for (int g = 0; g < 4; g++)
        close(go[g][0]);
    /* Four barriers: scanned; memory sampled (start the clock); reads done;
     * memory sampled again. */
    for (int g = 0; g < 4; g++) {
        char c;
        for (int p = 0; p < procs; p++)
            if (read_all(ready[0], &c, 1) != 1)
                bench_die("%s: a reader process died", e->name);
        close(go[g][1]);
    }
    memset(out, 0, sizeof *out);
    double start = 1e300, end = 0;
    uint64_t ops = 0;
    int ok = 1;
    for (int p = 0; p < procs; p++) {
        struct proc_report pr;
        if (read_all(res[0], &pr, sizeof pr) != sizeof pr)
            bench_die("%s: a reader process died", e->name);
        if (!pr.ok) {
            fprintf(stderr, "%s: reader: %s\n", e->name, pr.err);
            ok = 0;
        }
        ops += pr.ops;
        start = pr.start < start ? pr.start : start;
        end = pr.end > end ? pr.end : end;
        double *a = &out->scan_avg.vm_rss, *b = &out->reads_avg.vm_rss;
        const double *sa = &pr.after_scan.vm_rss, *sb = &pr.after_reads.vm_rss;
        for (int f = 0; f < 5; f++) {
            a[f] += sa[f] / procs;
            b[f] += sb[f] / procs;
        }
        out->anon_total += pr.after_reads.rss_anon;
        out->pss_total += pr.after_reads.pss;
    }
    for (int p = 0; p < procs; p++)
        waitpid(pids[p], NULL, 0);
    close(ready[0]);
    close(res[0]);
    out->ops_per_sec = (double)ops / (end - start);
    return ok ? 0 : -1;
}

/* ---- driver ------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double file_mib(const char *dir, const char *name)
{
    char p[8500];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0 ? (double)sb.st_size / (1024.0 * 1024.0) : -1;
}

static void parse_procs(const char *s)
{
    cfg.nprocs = 0;
    while (*s && cfg.nprocs < 8) {
        int p = atoi(s);
        if (p < 1 || p > MAX_PROCS)
            bench_die("-p: process counts 1..%d", MAX_PROCS);
        cfg.procs[cfg.nprocs++] = p;
        s = strchr(s, ',');
        if (!s)
            break;
        s++;
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_readers [-n keys] [-v value_bytes] [-G] [-t seconds] "
                    "[-r reps] [-p 1,2,4] [-d dir] [-e ldb,lmdb] [-k]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int opt, gib = 0, vset = 0;
    while ((opt = getopt(argc, argv, "n:v:Gt:r:p:d:e:kh")) != -1) {
        switch (opt) {
        case 'n': cfg.n = strtoull(optarg, NULL, 0); break;
        case 'v': cfg.vsize = (size_t)strtoull(optarg, NULL, 0); vset = 1; break;
        case 'G': gib = 1; break;
        case 't': cfg.secs = atof(optarg); break;
        case 'r': cfg.reps = atoi(optarg); break;
        case 'p': parse_procs(optarg); break;
        case 'd': cfg.dir = optarg; break;
        case 'e':
            cfg.want_ldb = strstr(optarg, "ldb") != NULL;
            cfg.want_lmdb = strstr(optarg, "lmdb") != NULL;
            break;
        case 'k': cfg.keep = 1; break;
        default: usage();
        }
    }
    if (gib) {
        if (!vset)
            cfg.vsize = 1024;
        cfg.n = ((uint64_t)1 << 30) / (cfg.vsize ? cfg.vsize : 1);
    }
    if (cfg.n == 0 || cfg.vsize < 8 || cfg.secs <= 0 || cfg.reps < 1 || cfg.nprocs < 1)
        usage();

    const struct engine *engines[2];
    int ne = 0;
    if (cfg.want_ldb)
        engines[ne++] = &engine_ldb;
#ifdef HAVE_LMDB
    if (cfg.want_lmdb)
        engines[ne++] = &engine_lmdb;
#else
    if (cfg.want_lmdb)
        fprintf(stderr, "bench_readers: built without LMDB (HAVE_LMDB): LMDB not measured\n");
#endif
    if (ne == 0)
        bench_die("no engine selected");

    char base[4096];
    if (cfg.dir) {
        snprintf(base, sizeof base, "%s/bench_readers.XXXXXX", cfg.dir);
    } else {
        const char *t = getenv("TMPDIR");
        snprintf(base, sizeof base, "%s/bench_readers.XXXXXX", t && *t ? t : "/tmp");
    }
    if (mkdtemp(base) == NULL)
        bench_die("mkdtemp(%s): %s", base, strerror(errno));

    printf("bench_readers: %" PRIu64 " keys x %zu-byte values (%.0f MiB of values), "
           "%.1f s per run, median of %d, engines interleaved, in %s\n",
           cfg.n, cfg.vsize, (double)cfg.n * (double)cfg.vsize / (1024.0 * 1024.0), cfg.secs,
           cfg.reps, base);
    char dirs[2][4200];
    double file_size[2];
    for (int e = 0; e < ne; e++) {
        snprintf(dirs[e], sizeof dirs[e], "%s/%s", base, engines[e]->name);
        if (mkdir(dirs[e], 0755) != 0)
            bench_die("mkdir %s: %s", dirs[e], strerror(errno));
        /* Loaded in a child: the readers fork from this process, and must not
         * inherit (as copy-on-write private memory) what the load allocated. */
        double t0 = bench_now_sec();
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0)
            bench_die("fork: %s", strerror(errno));
        if (pid == 0) {
            engines[e]->load(dirs[e]);
            _exit(0);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            bench_die("%s: load failed", engines[e]->name);
        file_size[e] = file_mib(dirs[e], engines[e]->file);
        printf("  %-5s loaded in %.1f s, data file %.0f MiB\n", engines[e]->name, bench_now_sec() - t0,
               file_size[e]);
        fflush(stdout);
    }

    /* results[e][p][rep] */
    static struct run results[2][8][64];
    if (cfg.reps > 64)
        cfg.reps = 64;
    for (int rep = 0; rep < cfg.reps; rep++)
        for (int pi = 0; pi < cfg.nprocs; pi++)
            for (int k = 0; k < ne; k++) {
                int e = (k + rep + pi) % ne; /* rotate who goes first */
                if (run_readers(engines[e], dirs[e], cfg.procs[pi], rep, &results[e][pi][rep]))
                    bench_die("%s: readers failed", engines[e]->name);
            }

    printf("\nrandom gets, one read txn per get (reset/renew), aggregate over processes:\n");
    printf("%-5s %5s %12s %12s %8s\n", "", "procs", "ops/s", "per process", "vs lmdb");
    double med[2][8];
    for (int e = 0; e < ne; e++)
        for (int pi = 0; pi < cfg.nprocs; pi++) {
            double v[64];
            for (int r = 0; r < cfg.reps; r++)
                v[r] = results[e][pi][r].ops_per_sec;
            qsort(v, (size_t)cfg.reps, sizeof v[0], cmp_double);
            med[e][pi] = v[cfg.reps / 2];
        }
    for (int pi = 0; pi < cfg.nprocs; pi++)
        for (int e = 0; e < ne; e++) {
            char ratio[16] = "";
            if (ne == 2 && strcmp(engines[1]->name, "lmdb") == 0)
                snprintf(ratio, sizeof ratio, "%.2fx", med[e][pi] / med[1][pi]);
            printf("%-5s %5d %12.0f %12.0f %8s\n", engines[e]->name, cfg.procs[pi], med[e][pi],
                   med[e][pi] / cfg.procs[pi], ratio);
        }
    for (int e = 0; e < ne; e++)
        if (cfg.nprocs > 1)
            printf("%-5s scaling %d -> %d processes: %.2fx\n", engines[e]->name, cfg.procs[0],
                   cfg.procs[cfg.nprocs - 1], med[e][cfg.nprocs - 1] / med[e][0]);

    printf("\nmemory per reader process (MiB; last repetition), after reading the whole "
           "database / after the random reads:\n");
    printf("%-5s %5s %9s %17s %17s %17s %17s %10s %10s\n", "", "procs", "file", "VmRSS",
           "RssAnon", "RssFile", "Pss", "sum Anon", "sum Pss");
    for (int pi = 0; pi < cfg.nprocs; pi++)
        for (int e = 0; e < ne; e++) {
            const struct run *r = &results[e][pi][cfg.reps - 1];
            printf("%-5s %5d %9.0f %8.1f/%8.1f %8.1f/%8.1f %8.1f/%8.1f %8.1f/%8.1f %10.1f %10.1f\n",
                   engines[e]->name, cfg.procs[pi], file_size[e], r->scan_avg.vm_rss,
                   r->reads_avg.vm_rss, r->scan_avg.rss_anon, r->reads_avg.rss_anon,
                   r->scan_avg.rss_file, r->reads_avg.rss_file, r->scan_avg.pss,
                   r->reads_avg.pss, r->anon_total, r->pss_total);
        }
    printf("(RssFile: page-cache pages mapped by the process, shared with every other reader; "
           "RssAnon: private memory; Pss: each shared page divided among the processes mapping "
           "it, so sum Pss ~ file + private memory, whatever the number of processes)\n");

    if (!cfg.keep) {
        char cmd[4300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_readers: could not remove %s\n", base);
    }
    return 0;
}
