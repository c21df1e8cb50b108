/* SPDX-License-Identifier: MIT */
/*
 * cmd_metrics.c: metrics, ldb_metrics' Prometheus text to stdout or, with
 * --textfile DIR, atomically into node_exporter's textfile collector.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "lightningdb.h"

/* ---- metrics ------------------------------------------------------------- */

/* The textfile collector's file for this database: DIR/lightningdb_<base>.prom,
 * the data file's name with anything but [A-Za-z0-9_] made '_'. */
static void textfile_name(char *out, size_t cap, const char *dir, const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    char *base = basename(copy);
    for (char *p = base; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_'))
            *p = '_';
    snprintf(out, cap, "%s/lightningdb_%s.prom", dir, base);
}

/* Write the exposition to a temporary file in dir and rename it into place,
 * so the collector never reads half a file. */
static int write_textfile(const struct args *a, ldb_env *env, const char *dir)
{
    char final[4200], tmp[4300];
    textfile_name(final, sizeof final, dir, a->path);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", final, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        fprintf(stderr, "%s: %s: %s\n", prog, tmp, strerror(errno));
        return 1;
    }
    int rc = ldb_metrics(env, f);
    if (rc == 0 && (fsync(fileno(f)) != 0 || ferror(f)))
        rc = -errno;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, final) != 0)
        rc = -errno;
    if (rc != 0) {
        unlink(tmp);
        fprintf(stderr, "%s: %s: %s: %s\n", prog, a->path, final, ldb_strerror(rc));
        return 1;
    }
    return 0;
}

static int cmd_metrics(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"textfile", required_argument, NULL, 'T'},
        {"option", required_argument, NULL, 'o'},
        {"immutable", no_argument, NULL, 'I'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct args a;
    const char *dir = NULL;
    ldb_env *env = NULL;
    int c, rc, status = 0;

    memset(&a, 0, sizeof a);
    a.cmd = "metrics";
    optind = 0;
    while ((c = getopt_long(argc + 1, argv - 1, "o:", longopts, NULL)) != -1) {
        if (c == 'T')
            dir = optarg;
        else if (c == 'o') {
            if ((status = add_option_text(optarg, 0)) != 0)
                return status;
        }
        else if (c == 'I')
            a.immutable = 1;
        else if (c == 'h') {
            printf("Usage: %s metrics PATH [--textfile DIR] [--immutable]\n", prog);
            return output_failed();
        } else
            return usage_error("metrics: bad option");
    }
    if (optind != argc)
        return usage_error("metrics: needs exactly one PATH");
    a.path = argv[optind - 1];
    if ((rc = open_env(&a, LDB_RDONLY, LDB_SYNC_FULL, &env)) != 0)
        return open_status(rc);
    if (dir != NULL) {
        status = write_textfile(&a, env, dir);
    } else {
        rc = ldb_metrics(env, stdout);
        if (rc != 0)
            status = fail(&a, "metrics", rc);
    }
    status = close_env(&a, env, status);
    return status ? status : output_failed();
}

const struct command command_metrics = {
    "metrics", cmd_metrics,
    "PATH [--textfile DIR] [--immutable]",
    "figures in Prometheus text format",
    "      --textfile DIR      write DIR/lightningdb_NAME.prom atomically instead\n"
    "      --immutable         open a file nothing changes (no lock file, no log)\n"
};
