/* SPDX-License-Identifier: MIT */
/*
 * cmd_check.c: verifying a database (check: every page and tree, through
 * ldb_check) and rescuing one whose log is damaged (salvage: ldb_salvage
 * into a new database).
 */
#include <stdio.h>

#include "cli.h"
#include "lightningdb.h"

/* ---- check --------------------------------------------------------------- */

static int cmd_check(int argc, char **argv)
{
    struct args a;
    ldb_env *env = NULL;
    int rc, status;

    if ((rc = parse_args("check", argc, argv, OPT_IMMUTABLE, &a)) != 0)
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
    rc = ldb_check(env, stdout);
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
    "PATH [--immutable]",
    "verify every page and tree; exit 4 if damaged",
    "      --immutable         open a file nothing changes (no lock file, no log)\n"
};

const struct command command_salvage = {
    "salvage", cmd_salvage,
    "PATH DEST",
    "keep what precedes a damaged log in a new database",
    ""
};
