/* SPDX-License-Identifier: MIT */
/*
 * cmd_health.c: health, one status line and a Nagios plugin exit code for
 * monitors: whether the database opens, stale reader slots, a reader holding
 * back pages, the file near its max size, the disk near full.
 */
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "cli.h"
#include "lightningdb.h"

/* ---- health -------------------------------------------------------------- */

/* Nagios plugin exit codes. */
enum { HEALTH_OK, HEALTH_WARNING, HEALTH_CRITICAL, HEALTH_UNKNOWN };
static const char *const health_word[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

struct health {
    int state;
    char why[512];
    /* thresholds */
    double file_warn, file_crit, disk_warn, disk_crit; /* percent used */
    uint64_t lag_warn, lag_crit;                        /* txns */
    uint64_t max_size;                                  /* bytes; 0: the default */
    int json;                                           /* --json */
};

/* Raise the state to at least s and add the reason. */
static void health_flag(struct health *h, int s, const char *fmt, ...)
{
    va_list ap;
    size_t n = strlen(h->why);
    if (s > h->state || h->state == HEALTH_UNKNOWN)
        h->state = s;
    if (n + 3 >= sizeof h->why)
        return;
    if (n)
        n += (size_t)snprintf(h->why + n, sizeof h->why - n, "; ");
    va_start(ap, fmt);
    vsnprintf(h->why + n, sizeof h->why - n, fmt, ap);
    va_end(ap);
}

static int count_dead(void *ctx, int pid, uint64_t txn_id, int alive)
{
    (void)pid;
    (void)txn_id;
    if (!alive)
        (*(unsigned *)ctx)++;
    return 0;
}

static double disk_used_percent(const char *path)
{
    char copy[4096];
    struct statvfs vfs;
    snprintf(copy, sizeof copy, "%s", path);
    if (statvfs(dirname(copy), &vfs) != 0 || vfs.f_blocks == 0)
        return -1;
    return 100.0 * (double)(vfs.f_blocks - vfs.f_bavail) / (double)vfs.f_blocks;
}

static void health_figures(struct health *h, const char *path, ldb_env *env, ldb_stat *st,
                           double *disk)
{
    unsigned dead = 0;
    uint64_t lag = st->readers_used ? st->last_txn_id - st->oldest_reader_txn_id : 0;
    double file_pct = 100.0 * (double)st->file_size / (double)st->max_size;
    if (ldb_reader_list(env, count_dead, &dead) == 0 && dead > 0)
        health_flag(h, HEALTH_WARNING, "%u reader slot(s) of dead processes", dead);
    if (lag >= h->lag_crit)
        health_flag(h, HEALTH_CRITICAL, "oldest reader %" PRIu64 " txns behind", lag);
    else if (lag >= h->lag_warn)
        health_flag(h, HEALTH_WARNING, "oldest reader %" PRIu64 " txns behind", lag);
    if (file_pct >= h->file_crit)
        health_flag(h, HEALTH_CRITICAL, "file at %.0f%% of max size", file_pct);
    else if (file_pct >= h->file_warn)
        health_flag(h, HEALTH_WARNING, "file at %.0f%% of max size", file_pct);
    *disk = disk_used_percent(path);
    if (*disk < 0)
        health_flag(h, HEALTH_UNKNOWN, "cannot read the disk's usage");
    else if (*disk >= h->disk_crit)
        health_flag(h, HEALTH_CRITICAL, "disk %.0f%% full", *disk);
    else if (*disk >= h->disk_warn)
        health_flag(h, HEALTH_WARNING, "disk %.0f%% full", *disk);
}

static int parse_percent(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= 0 && v <= 100))
        return -1;
    *out = v;
    return 0;
}

static int health_options(int argc, char **argv, struct health *h, const char **path)
{
    static const struct option longopts[] = {
        {"file-warn", required_argument, NULL, 'f'}, {"file-crit", required_argument, NULL, 'F'},
        {"disk-warn", required_argument, NULL, 'd'}, {"disk-crit", required_argument, NULL, 'D'},
        {"lag-warn", required_argument, NULL, 'l'},  {"lag-crit", required_argument, NULL, 'L'},
        {"max-size", required_argument, NULL, 'm'},  {"help", no_argument, NULL, 'h'},
        {"option", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    int c, bad = 0;
    optind = 0;
    while ((c = getopt_long(argc + 1, argv - 1, "o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (add_option_text(optarg, 0) != 0)
                return -2;
            break;
        case 'f': bad |= parse_percent(optarg, &h->file_warn); break;
        case 'F': bad |= parse_percent(optarg, &h->file_crit); break;
        case 'd': bad |= parse_percent(optarg, &h->disk_warn); break;
        case 'D': bad |= parse_percent(optarg, &h->disk_crit); break;
        case 'l': bad |= parse_u64(optarg, &h->lag_warn); break;
        case 'L': bad |= parse_u64(optarg, &h->lag_crit); break;
        case 'm': bad |= parse_u64(optarg, &h->max_size); break;
        case 'j': h->json = 1; break;
        case 'h':
            printf("Usage: %s health PATH [--file-warn PCT] [--file-crit PCT] [--disk-warn PCT]\n"
                   "       [--disk-crit PCT] [--lag-warn TXNS] [--lag-crit TXNS] [--max-size BYTES]\n",
                   prog);
            return -1;
        default: return -2;
        }
        if (bad)
            return -2;
    }
    if (optind != argc)
        return -2;
    *path = argv[optind - 1];
    return 0;
}

/* The verdict and the figures as one JSON object (st NULL: not opened). */
static void health_json(const struct health *h, const char *path, const ldb_stat *st,
                        double disk)
{
    int first = 1;
    putchar('{');
    json_key(stdout, &first, "status");
    json_string(stdout, health_word[h->state]);
    json_key(stdout, &first, "code");
    printf("%d", h->state);
    json_key(stdout, &first, "path");
    json_string(stdout, path);
    json_key(stdout, &first, "message");
    json_string(stdout, h->why[0] ? h->why : "all checks passed");
    if (st != NULL) {
        json_key(stdout, &first, "file_bytes");
        printf("%" PRIu64, st->file_size);
        json_key(stdout, &first, "readers");
        printf("%" PRIu32, st->readers_used);
        json_key(stdout, &first, "lag_txns");
        printf("%" PRIu64, st->readers_used ? st->last_txn_id - st->oldest_reader_txn_id : 0);
        json_key(stdout, &first, "disk_used_percent");
        if (disk >= 0)
            printf("%.1f", disk);
        else
            printf("null");
        json_key(stdout, &first, "wal_bytes");
        printf("%" PRIu64, st->wal_size);
    }
    printf("\n}\n");
}

/* Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; one status line on stdout
 * with performance data after '|', as monitoring plugins print it. */
static int cmd_health(int argc, char **argv)
{
    struct health h = {HEALTH_OK, "", 80, 95, 90, 97, 100000, 10000000, 0, 0};
    struct args a;
    ldb_env *env = NULL;
    ldb_options opts;
    ldb_stat st;
    double disk = -1;
    int rc;

    memset(&a, 0, sizeof a);
    memset(&st, 0, sizeof st);
    a.cmd = "health";
    rc = health_options(argc, argv, &h, &a.path);
    if (rc == -1)
        return output_failed() ? HEALTH_UNKNOWN : HEALTH_OK;
    if (rc != 0) {
        printf("LIGHTNINGDB UNKNOWN - bad arguments; try '%s health --help'\n", prog);
        return HEALTH_UNKNOWN;
    }
    memset(&opts, 0, sizeof opts);
    apply_user_options(&opts);
    opts.flags |= LDB_RDONLY;
    if (h.max_size != 0)
        opts.max_size = h.max_size;
    if (not_a_database(a.path, opts.flags))
        health_flag(&h, HEALTH_CRITICAL, "not a Lightning DB database");
    else if ((rc = ldb_open(a.path, &opts, &env)) == LDB_READONLY)
        health_flag(&h, HEALTH_WARNING, "the log holds commits to replay (run checkpoint)");
    else if (rc != 0)
        health_flag(&h, HEALTH_CRITICAL, "cannot open: %s", ldb_strerror(rc));
    else if ((rc = ldb_stat_env(env, &st)) != 0)
        health_flag(&h, HEALTH_CRITICAL, "stat: %s", ldb_strerror(rc));
    else
        health_figures(&h, a.path, env, &st, &disk);
    if (env != NULL && (rc = ldb_close(env)) != 0)
        health_flag(&h, HEALTH_CRITICAL, "close: %s", ldb_strerror(rc));
    if (h.json) {
        health_json(&h, a.path, env != NULL ? &st : NULL, disk);
        return output_failed() ? HEALTH_UNKNOWN : h.state;
    }
    printf("LIGHTNINGDB %s - %s: %s", health_word[h.state], a.path,
           h.why[0] ? h.why : "all checks passed");
    if (env != NULL)
        printf(" | file_bytes=%" PRIu64 "B readers=%" PRIu32 " lag_txns=%" PRIu64
               " disk_used=%.1f%% wal_bytes=%" PRIu64 "B",
               st.file_size, st.readers_used,
               st.readers_used ? st.last_txn_id - st.oldest_reader_txn_id : 0, disk,
               st.wal_size);
    printf("\n");
    return output_failed() ? HEALTH_UNKNOWN : h.state;
}

const struct command command_health = {
    "health", cmd_health,
    "PATH [THRESHOLDS] [--json]",
    "one-line status for monitors (Nagios codes)",
    "      --file-warn PCT     WARNING when the file reaches PCT% of max size (80)\n"
    "      --file-crit PCT     CRITICAL at PCT% of max size (95)\n"
    "      --disk-warn PCT     WARNING when the disk is PCT% full (90)\n"
    "      --disk-crit PCT     CRITICAL when the disk is PCT% full (97)\n"
    "      --lag-warn TXNS     WARNING when the oldest reader is TXNS behind (100000)\n"
    "      --lag-crit TXNS     CRITICAL when it is TXNS behind (10000000)\n"
    "      --max-size BYTES    the max size to measure the file against\n"
    "      --json              the verdict and figures as one JSON object\n"
    "Exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for bad arguments).\n"
};
