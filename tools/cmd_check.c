/* SPDX-License-Identifier: MIT */
/*
 * cmd_check.c: verifying a database (check: every page and tree, through
 * ldb_check) and rescuing one whose log is damaged (salvage: ldb_salvage
 * into a new database).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "lightningdb.h"

/* ---- check --------------------------------------------------------------- */

/* ldb_check_ex's progress: pages walked of the snapshot's pages. */
static int show_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct progress *p = ctx;
    p->total = total;
    progress_update(p, done);
    return 0;
}

/* ldb_check with its report on stdout, and a progress line when wanted. */
static int check_with_progress(const struct args *a, ldb_env *env)
{
    struct progress p;
    progress_start(&p, a, "check", "pages", 0);
    int rc = ldb_check_ex(env, stdout, p.on ? show_progress : NULL, &p);
    progress_end(&p, p.total);
    return rc;
}

static int cmd_check(int argc, char **argv)
{
    struct args a;
    ldb_env *env = NULL;
    int rc, status;

    if ((rc = parse_args("check", argc, argv, OPT_IMMUTABLE | OPT_PROGRESS, &a)) != 0)
        return rc;
    rc = open_env(&a, LDB_RDONLY, LDB_SYNC_FULL, &env);
    if (rc == LDB_CORRUPTED || rc == LDB_VERSION) {
        printf("%s: CORRUPTED\n", a.path);
        output_failed();
        return EXIT_DAMAGED;
    }
    if (rc != 0)
        return open_status(rc);

    fflush(stdout);
    rc = check_with_progress(&a, env);
    fflush(stdout);
    if (rc == 0) {
        printf("%s: OK\n", a.path);
        status = 0;
    } else if (rc == LDB_CORRUPTED) {
        printf("%s: CORRUPTED\n", a.path);
        status = EXIT_DAMAGED;
    } else {
        status = fail(&a, "check", rc);
    }
    status = close_env(&a, env, status);
    return output_failed() ? 1 : status;
}

/* ---- salvage ------------------------------------------------------------- */

/* ldb_salvage: the person's decision to give up what lies in a damaged
 * log, made on a copy. The library says what was kept, on stdout. */
static int cmd_salvage(int argc, char **argv)
{
    struct args a;
    int rc;

    if ((rc = parse_args("salvage", argc, argv, OPT_DEST, &a)) != 0)
        return rc;
    rc = ldb_salvage(a.path, a.dest, stdout);
    if (rc != 0)
        return fail(&a, "salvage", rc);
    return output_failed();
}

const struct command command_check = {
    "check", cmd_check,
    "PATH [--progress | --quiet] [--immutable]",
    "verify every page and tree; exit 4 if damaged",
    "      --progress          show pages checked, rate and time left on stderr\n"
    "                          (default: on a terminal)\n"
    "  -q, --quiet             show no progress\n"
    "      --immutable         open a file nothing changes (no lock file, no log)\n"
};

const struct command command_salvage = {
    "salvage", cmd_salvage,
    "PATH DEST",
    "keep what precedes a damaged log in a new database",
    ""
};
