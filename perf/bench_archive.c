/* SPDX-License-Identifier: MIT */
/*
 * bench_archive.c: what the log archive costs durable commits, and how fast
 * ldb_restore replays it (issue 12).
 *
 * Commit cost: fillsync-like runs (txns of one put of a 16-byte key and a
 * 100-byte value, LDB_SYNC_FULL, T threads) with a small wal_max_bytes so
 * that checkpoints (and with the archive, segment copies) come often; the
 * archive off and on alternate, R rounds each, fresh databases in the same
 * directory, so both see the same load (which goes first alternates from
 * round to round). Reports commits/s per round and each round's on/off, the
 * medians and the median of the rounds' ratios (the figure to quote: a
 * pair run back to back shares the machine's load of the moment).
 *
 * Restore: a backup at txn 0, then the last "on" run's archive, replayed by
 * ldb_restore --latest: txns/s and MB/s of segment bytes.
 *
 *   bench_archive [-s txns] [-t threads] [-r rounds] [-w wal_max_bytes] [-d dir] [-S]
 *
 *   -S  commit with LDB_SYNC_OFF (no fsync per commit): a large archive
 *       quickly, for the restore figure; the commit figures then measure
 *       no durable commits.
 */
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "lightningdb.h"

const char *const bench_prog = "bench_archive";

static struct config {
    uint64_t txns;
    int threads, rounds;
    uint64_t wal_max;
    const char *dir;
    int sync_off; /* -S: LDB_SYNC_OFF, to make a large archive quickly for restore */
} cfg = {10000, 1, 3, 256 << 10, NULL, 0};

struct worker {
    ldb_env *env;
    uint64_t from, n;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    char key[17], val[100];
    memset(val, 'v', sizeof val);
    for (uint64_t i = 0; i < w->n; i++) {
        snprintf(key, sizeof key, "%016" PRIu64, w->from + i);
        ldb_txn *txn;
        int rc = ldb_txn_begin(w->env, 0, &txn);
        if (rc == 0)
            rc = ldb_put(txn, LDB_MAIN, &(ldb_val){16, key}, &(ldb_val){sizeof val, val}, 0);
        if (rc == 0)
            rc = ldb_txn_commit(txn);
        else
            ldb_txn_abort(txn);
        if (rc != 0)
            bench_die("commit: %s", ldb_strerror(rc));
    }
    return NULL;
}

static void rm_tree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_archive: could not remove %s\n", dir);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The checkpoint alone: 15 times, 300 one-put txns (LDB_SYNC_OFF, so the
 * log holds ~50 KiB) then a timed ldb_checkpoint; the median in ms. */
static double checkpoint_ms(const char *rundir, int archive)
{
    char path[4200], arch[4200];
    rm_tree(rundir);
    mkdir(rundir, 0755);
    snprintf(path, sizeof path, "%s/db", rundir);
    snprintf(arch, sizeof arch, "%s/arch", rundir);
    mkdir(arch, 0755);
    ldb_options o = {0};
    o.sync_mode = LDB_SYNC_OFF;
    o.archive_dir = archive ? arch : NULL;
    ldb_env *env;
    int rc = ldb_open(path, &o, &env);
    if (rc != 0)
        bench_die("open: %s", ldb_strerror(rc));
    double ms[15];
    for (int i = 0; i < 15; i++) {
        struct worker w = {env, (uint64_t)i * 300, 300};
        work(&w);
        double t0 = bench_now_sec();
        if ((rc = ldb_checkpoint(env)) != 0)
            bench_die("checkpoint: %s", ldb_strerror(rc));
        ms[i] = (bench_now_sec() - t0) * 1e3;
    }
    ldb_close(env);
    qsort(ms, 15, sizeof ms[0], cmp_d);
    return ms[7];
}

/* One run: commits/s. With archive, the archive is <run>/arch. */
static double run(const char *rundir, int archive, uint64_t *checkpoints)
{
    char path[4200], arch[4200];
    rm_tree(rundir);
    mkdir(rundir, 0755);
    snprintf(path, sizeof path, "%s/db", rundir);
    snprintf(arch, sizeof arch, "%s/arch", rundir);
    mkdir(arch, 0755);
    ldb_options o = {0};
    o.wal_max_bytes = cfg.wal_max;
    o.sync_mode = cfg.sync_off ? LDB_SYNC_OFF : LDB_SYNC_FULL;
    o.archive_dir = archive ? arch : NULL;
    ldb_env *env;
    int rc = ldb_open(path, &o, &env);
    if (rc != 0)
        bench_die("open: %s", ldb_strerror(rc));
    if (archive) {
        char bk[4300];
        snprintf(bk, sizeof bk, "%s/backup", rundir);
        if ((rc = ldb_backup(env, bk, 0)) != 0)
            bench_die("backup: %s", ldb_strerror(rc));
    }
    pthread_t th[64];
    struct worker w[64];
    uint64_t per = cfg.txns / (uint64_t)cfg.threads;
    double t0 = bench_now_sec();
    for (int i = 0; i < cfg.threads; i++) {
        w[i] = (struct worker){env, (uint64_t)i * per, per};
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < cfg.threads; i++)
        pthread_join(th[i], NULL);
    double dt = bench_now_sec() - t0;
    ldb_stat st;
    ldb_stat_env(env, &st);
    *checkpoints = st.checkpoints;
    if ((rc = ldb_close(env)) != 0)
        bench_die("close: %s", ldb_strerror(rc));
    return (double)(per * (uint64_t)cfg.threads) / dt;
}


static uint64_t dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    uint64_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char p[8192];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (strstr(e->d_name, ".ldblog") && stat(p, &sb) == 0)
            n += (uint64_t)sb.st_size;
    }
    if (d)
        closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "s:t:r:w:d:S")) != -1) {
        switch (c) {
        case 's': cfg.txns = strtoull(optarg, NULL, 10); break;
        case 't': cfg.threads = atoi(optarg); break;
        case 'r': cfg.rounds = atoi(optarg); break;
        case 'w': cfg.wal_max = strtoull(optarg, NULL, 10); break;
        case 'd': cfg.dir = optarg; break;
        case 'S': cfg.sync_off = 1; break;
        default:
            fprintf(stderr, "usage: bench_archive [-s txns] [-t threads] [-r rounds] "
                            "[-w wal_max_bytes] [-d dir] [-S]\n");
            return 2;
        }
    }
    if (cfg.threads < 1 || cfg.threads > 64 || cfg.rounds < 1 || cfg.rounds > 15)
        return 2;
    char base[4096];
    snprintf(base, sizeof base, "%s/bench-archive.%d", cfg.dir ? cfg.dir : ".", (int)getpid());
    mkdir(base, 0755);
    double off[15], on[15], ratio[15];
    uint64_t cp_off = 0, cp_on = 0;
    char rundir[4200], ondir[4200];
    snprintf(ondir, sizeof ondir, "%s/on", base);
    snprintf(rundir, sizeof rundir, "%s/off", base);
    for (int r = 0; r < cfg.rounds; r++) {
        /* Alternate which goes first, so that a load that rises or falls
         * through a round does not favour one side. */
        if (r % 2) {
            on[r] = run(ondir, 1, &cp_on);
            off[r] = run(rundir, 0, &cp_off);
        } else {
            off[r] = run(rundir, 0, &cp_off);
            on[r] = run(ondir, 1, &cp_on);
        }
        ratio[r] = on[r] / off[r];
        printf("round %d: archive off %.0f commits/s, on %.0f commits/s, on/off %.3f\n", r + 1,
               off[r], on[r], ratio[r]);
    }
    qsort(off, (size_t)cfg.rounds, sizeof off[0], cmp_d);
    qsort(on, (size_t)cfg.rounds, sizeof on[0], cmp_d);
    qsort(ratio, (size_t)cfg.rounds, sizeof ratio[0], cmp_d);
    double moff = off[cfg.rounds / 2], mon = on[cfg.rounds / 2];
    printf("%" PRIu64 " txns, %d thread%s, wal_max_bytes %" PRIu64
           ": median off %.0f, on %.0f commits/s, on/off %.3f; median of the rounds' "
           "on/off %.3f (range %.3f-%.3f) (checkpoints per run: %" PRIu64 " off, %" PRIu64
           " on)\n",
           cfg.txns, cfg.threads, cfg.threads == 1 ? "" : "s", cfg.wal_max, moff, mon, mon / moff,
           ratio[cfg.rounds / 2], ratio[0], ratio[cfg.rounds - 1], cp_off, cp_on);
    snprintf(rundir, sizeof rundir, "%s/cp", base);
    double c_off = checkpoint_ms(rundir, 0), c_on = checkpoint_ms(rundir, 1);
    double c_off2 = checkpoint_ms(rundir, 0), c_on2 = checkpoint_ms(rundir, 1);
    printf("ldb_checkpoint of ~50 KiB of log, median of 15: archive off %.2f ms, on %.2f ms; "
           "again: off %.2f ms, on %.2f ms\n",
           c_off, c_on, c_off2, c_on2);
    /* Restore speed from the last "on" run. */
    char bk[4300], arch[4300], dest[4300], err[512];
    snprintf(bk, sizeof bk, "%s/on/backup", base);
    snprintf(arch, sizeof arch, "%s/on/arch", base);
    snprintf(dest, sizeof dest, "%s/on/restored", base);
    uint64_t got = 0, bytes = dir_bytes(arch);
    double t0 = bench_now_sec();
    int rc = ldb_restore(bk, arch, dest, 0, 0, &got, err, sizeof err);
    double dt = bench_now_sec() - t0;
    if (rc != 0) {
        fprintf(stderr, "bench_archive: restore: %s\n", err);
        return 1;
    }
    printf("restore: %" PRIu64 " txns, %.1f MB of segments in %.2f s: %.0f txns/s, %.1f MB/s\n",
           got, (double)bytes / 1e6, dt, (double)got / dt, (double)bytes / 1e6 / dt);
    rm_tree(base);
    return 0;
}
