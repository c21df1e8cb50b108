/* SPDX-License-Identifier: MIT */
/*
 * cmd_archive.c: the point-in-time recovery subcommands, thin over the
 * library (ldb_restore, ldb_restore_follow, ldb_archive_list,
 * ldb_archive_prune):
 *
 *   lightningdb restore BACKUP --archive DIR (--to-txn N | --to-time TIME | --latest) DEST
 *   lightningdb restore BACKUP --archive DIR --follow [--interval SEC] DEST
 *   lightningdb archive DIR [--prune-before BACKUP]
 *
 * TIME is "YYYY-MM-DD HH:MM:SS[.ffffff]" in local time (as TZ says; the
 * commit times in the log are UTC microseconds, the conversion is here), or
 * "@SECONDS[.ffffff]" since the epoch. The archive itself is written by the
 * library whenever a database is opened with archive_dir set (-o
 * archive_dir=DIR for this command's own subcommands).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "lightningdb.h"

/* ".ffffff" (1 to 6 digits) at s into microseconds; 0 or -1. */
static int parse_fraction(const char *s, uint64_t *us)
{
    *us = 0;
    if (*s == '\0')
        return 0;
    if (*s != '.' || s[1] == '\0')
        return -1;
    uint64_t scale = 100000;
    for (s++; *s; s++, scale /= 10) {
        if (*s < '0' || *s > '9' || scale == 0)
            return -1;
        *us += (uint64_t)(*s - '0') * scale;
    }
    return 0;
}

/* "YYYY-MM-DD HH:MM:SS[.ffffff]" (local time) or "@SECONDS[.ffffff]" into
 * microseconds since the epoch: 0, or -1. */
static int parse_time_us(const char *s, uint64_t *out)
{
    uint64_t frac;
    if (s[0] == '@') {
        char whole[32];
        size_t n = strcspn(s + 1, ".");
        uint64_t sec;
        if (n == 0 || n >= sizeof whole)
            return -1;
        memcpy(whole, s + 1, n);
        whole[n] = '\0';
        if (parse_u64(whole, &sec) != 0 || parse_fraction(s + 1 + n, &frac) != 0 ||
            sec > UINT64_MAX / 1000000u - 1)
            return -1;
        *out = sec * 1000000u + frac;
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
    if (rest == NULL || parse_fraction(rest, &frac) != 0)
        return -1;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == (time_t)-1 || t < 0)
        return -1;
    *out = (uint64_t)t * 1000000u + frac;
    return 0;
}

/* "YYYY-MM-DD HH:MM:SS.ffffff" in local time, or "-" for 0 (log format 1). */
static void format_time(uint64_t us, char *buf, size_t len)
{
    if (us == 0) {
        snprintf(buf, len, "-");
        return;
    }
    time_t t = (time_t)(us / 1000000u);
    struct tm tm;
    char whole[32];
    localtime_r(&t, &tm);
    strftime(whole, sizeof whole, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf, len, "%s.%06u", whole, (unsigned)(us % 1000000u));
}

/* ---- restore ------------------------------------------------------------- */

static int restore_usage(const char *why)
{
    return usage_error("restore: %s (restore BACKUP --archive DIR (--to-txn N | --to-time "
                       "\"YYYY-MM-DD HH:MM:SS\" | --latest | --follow [--interval SEC]) DEST)",
                       why);
}

/* ---- restore --follow ----------------------------------------------------- */

static volatile sig_atomic_t follow_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    follow_stop = 1;
}

/* SIGINT and SIGTERM end the loop after the round in progress; without
 * SA_RESTART they also cut the sleep between rounds short. */
static void catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void sleep_unless_stopped(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    if (!follow_stop)
        (void)nanosleep(&ts, NULL);
}

/* Whether a follow round's error may go away by itself: a gap or a short
 * segment while a transport is still delivering files. */
static int follow_transient(int rc)
{
    return rc == LDB_NOTFOUND || rc == LDB_CORRUPTED;
}

/* Apply new segments to the replica every interval seconds until SIGINT or
 * SIGTERM (exit 0), or an error that waiting cannot fix (exit 1). */
static int follow(const char *backup, const char *archive, const char *dest, double interval)
{
    catch_stop_signals();
    uint64_t shown = UINT64_MAX;
    char err[512], last_err[512] = "";
    while (!follow_stop) {
        uint64_t txn = 0;
        int rc = ldb_restore_follow(backup, archive, dest, &txn, err, sizeof err);
        if (rc != 0 && !follow_transient(rc)) {
            fprintf(stderr, "%s: restore: %s: %s\n", prog, dest, err[0] ? err : ldb_strerror(rc));
            return 1;
        }
        if (rc != 0 && strcmp(err, last_err) != 0)
            fprintf(stderr, "%s: restore: %s: %s (waiting)\n", prog, dest, err);
        snprintf(last_err, sizeof last_err, "%s", rc != 0 ? err : "");
        if (txn != shown && txn != 0) {
            printf("%s: at txn %" PRIu64 "\n", dest, txn);
            fflush(stdout);
            shown = txn;
        }
        sleep_unless_stopped(interval);
    }
    return output_failed();
}

/* ldb_restore_ex's progress: txns replayed of those to replay. */
static int show_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct progress *p = ctx;
    p->total = total;
    progress_update(p, done);
    return 0;
}

/* One restore to a target, with a progress line when wanted. */
static int restore_once(const struct args *pa, const char *backup, const char *archive,
                        const char *dest, uint64_t to_txn, uint64_t to_time)
{
    char err[512];
    uint64_t got = 0;
    struct progress p;
    progress_start(&p, pa, "restore", "txns", 0);
    int rc = ldb_restore_ex(backup, archive, dest, to_txn, to_time, &got,
                            p.on ? show_progress : NULL, &p, err, sizeof err);
    progress_end(&p, rc == 0 ? p.total : 0);
    if (rc != 0) {
        fprintf(stderr, "%s: restore: %s: %s\n", prog, dest, err[0] ? err : ldb_strerror(rc));
        if (err[0] && strstr(err, "LDB_") == NULL)
            fprintf(stderr, "%s: restore: %s\n", prog, ldb_strerror(rc));
        return 1;
    }
    printf("%s: restored from %s and %s to txn %" PRIu64 "\n", dest, backup, archive, got);
    return output_failed();
}

static int cmd_restore(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"archive", required_argument, NULL, 'a'}, {"to-txn", required_argument, NULL, 'n'},
        {"to-time", required_argument, NULL, 't'}, {"latest", no_argument, NULL, 'l'},
        {"follow", no_argument, NULL, 'f'},        {"interval", required_argument, NULL, 'i'},
        {"progress", no_argument, NULL, 'P'},      {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    struct args pa; /* only its progress choice: -1 = on a terminal */
    memset(&pa, 0, sizeof pa);
    pa.progress = -1;
    const char *archive = NULL;
    uint64_t to_txn = 0, to_time = 0;
    int targets = 0, c, following = 0;
    double interval = -1;
    char *end;
    /* argv holds the operands and options after "restore" (as every
     * subcommand's); getopt sees it with a program name in front. */
    optind = 0;
    while ((c = getopt_long(argc + 1, argv - 1, "q", longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            archive = optarg;
            break;
        case 'P':
        case 'q':
            pa.progress = c == 'P';
            break;
        case 'n':
            if (parse_u64(optarg, &to_txn) != 0 || to_txn == 0)
                return restore_usage("--to-txn wants a txn id above 0");
            targets++;
            break;
        case 't':
            if (parse_time_us(optarg, &to_time) != 0 || to_time == 0)
                return restore_usage("--to-time wants \"YYYY-MM-DD HH:MM:SS[.ffffff]\" "
                                     "or @SECONDS");
            targets++;
            break;
        case 'l':
            targets++;
            break;
        case 'f':
            following = 1;
            targets++;
            break;
        case 'i':
            interval = strtod(optarg, &end);
            if (*optarg == '\0' || *end != '\0' || !(interval >= 0 && interval <= 86400))
                return restore_usage("--interval wants seconds, 0 to 86400");
            break;
        default:
            return restore_usage("unknown option");
        }
    }
    if (argc + 1 - optind != 2 || archive == NULL || targets != 1)
        return restore_usage("wants BACKUP, DEST, --archive and one target");
    if (interval >= 0 && !following)
        return restore_usage("--interval goes with --follow");
    const char *backup = argv[optind - 1], *dest = argv[optind];
    if (following)
        return follow(backup, archive, dest, interval >= 0 ? interval : 10);
    return restore_once(&pa, backup, archive, dest, to_txn, to_time);
}

/* ---- archive ------------------------------------------------------------- */

struct listing {
    uint64_t db_id, next_txn; /* to report gaps between segments */
    int damaged;
};

static int print_segment(void *ctx, const ldb_archive_segment *s)
{
    struct listing *l = ctx;
    char t0[48], t1[48];
    if (s->db_id == l->db_id && s->first_txn > l->next_txn)
        printf("  gap: txns %" PRIu64 "..%" PRIu64 " are in no segment\n", l->next_txn,
               s->first_txn - 1);
    if (s->db_id != l->db_id || s->last_txn + 1 > l->next_txn)
        l->next_txn = s->last_txn + 1;
    l->db_id = s->db_id;
    format_time(s->first_time_us, t0, sizeof t0);
    format_time(s->last_time_us, t1, sizeof t1);
    printf("%s  txns %" PRIu64 "..%" PRIu64 "  %s .. %s  %" PRIu64 " bytes  v%u  %s\n", s->name,
           s->first_txn, s->last_txn, t0, t1, s->bytes, s->version,
           s->status ? ldb_strerror(s->status) : "ok");
    l->damaged |= s->status != 0;
    return 0;
}

static int cmd_archive(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"prune-before", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    const char *backup = NULL;
    int c;
    optind = 0;
    while ((c = getopt_long(argc + 1, argv - 1, "", longopts, NULL)) != -1) {
        if (c != 'p')
            return usage_error("archive: unknown option (archive DIR [--prune-before BACKUP])");
        backup = optarg;
    }
    if (argc + 1 - optind != 1)
        return usage_error("archive: wants DIR (archive DIR [--prune-before BACKUP])");
    const char *dir = argv[optind - 1];
    int rc;
    if (backup != NULL) {
        uint64_t removed = 0;
        rc = ldb_archive_prune(dir, backup, &removed);
        if (rc != 0) {
            fprintf(stderr, "%s: archive: %s: prune before %s: %s\n", prog, dir, backup,
                    ldb_strerror(rc));
            return 1;
        }
        printf("%s: removed %" PRIu64 " segment%s wholly at or before %s\n", dir, removed,
               removed == 1 ? "" : "s", backup);
        return output_failed();
    }
    struct listing l = {0};
    rc = ldb_archive_list(dir, print_segment, &l);
    if (rc != 0) {
        fprintf(stderr, "%s: archive: %s: %s\n", prog, dir, ldb_strerror(rc));
        return 1;
    }
    return l.damaged ? 1 : output_failed();
}

const struct command command_restore = {
    "restore", cmd_restore,
    "BACKUP --archive DIR (--to-txn N | --to-time TIME | --latest | --follow) DEST",
    "build DEST from a backup and the log archive (to a txn, a time, or following it)",
    "      --archive DIR       the log archive (ldb_options.archive_dir)\n"
    "      --to-txn N          stop after txn N\n"
    "      --to-time TIME      stop at the last txn committed at or before TIME\n"
    "                          (\"YYYY-MM-DD HH:MM:SS[.ffffff]\" local time, or @SECONDS)\n"
    "      --latest            replay every archived record\n"
    "      --follow            build DEST if missing, then apply new segments as they\n"
    "                          appear, until SIGINT or SIGTERM\n"
    "      --interval SEC      with --follow: look for new segments every SEC seconds\n"
    "                          (default 10)\n"
    "      --progress          show txns replayed, rate and time left on stderr\n"
    "                          (default: on a terminal; not with --follow)\n"
    "  -q, --quiet             show no progress\n",
};

const struct command command_archive = {
    "archive", cmd_archive,
    "DIR [--prune-before BACKUP]",
    "list the log archive's segments, or remove those a backup covers",
    "      --prune-before BACKUP  remove the segments wholly older than BACKUP\n",
};
