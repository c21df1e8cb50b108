/* SPDX-License-Identifier: MIT */
/*
 * cmd_backup.c: backup, a consistent copy of a database in use (ldb_backup_ex)
 * to a new file or to stdout, with progress on a terminal.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "lightningdb.h"

/* ---- backup -------------------------------------------------------------- */

/* Progress on stderr (only when it is a terminal): one line, redrawn. */
static int show_progress(void *ctx, uint64_t done, uint64_t total)
{
    (void)ctx;
    fprintf(stderr, "\r%s: backup: %3d%% (%" PRIu64 " of %" PRIu64 " MiB)", prog,
            total ? (int)(done * 100 / total) : 100, done >> 20, total >> 20);
    if (done == total)
        fputc('\n', stderr);
    return 0;
}

/* ldb_backup_ex to DEST, or to stdout for "-" (a stream for a pipe, never a
 * terminal). The copy is the newest committed snapshot as the command
 * starts; writers go on meanwhile. */
static int cmd_backup(int argc, char **argv)
{
    struct args a;
    ldb_env *env = NULL;
    int rc, status = 0;

    if ((rc = parse_args("backup", argc, argv, OPT_IMMUTABLE | OPT_COMPACT | OPT_DEST, &a)) != 0)
        return rc;
    int to_stdout = strcmp(a.dest, "-") == 0;
    if (to_stdout && isatty(STDOUT_FILENO)) {
        fprintf(stderr, "%s: backup: refusing to write a database to a terminal; redirect or "
                "pipe standard output\n", prog);
        return EXIT_USAGE;
    }
    if ((rc = open_env(&a, LDB_RDONLY, LDB_SYNC_FULL, &env)) != 0)
        return open_status(rc);
    ldb_backup_progress_fn progress = isatty(STDERR_FILENO) ? show_progress : NULL;
    rc = ldb_backup_ex(env, to_stdout ? NULL : a.dest, to_stdout ? STDOUT_FILENO : -1,
                       a.compact ? LDB_BACKUP_COMPACT : 0, progress, NULL);
    if (rc == -EEXIST) {
        fprintf(stderr, "%s: %s: %s (or %s-wal) exists; a backup goes to a new file only\n",
                prog, a.path, a.dest, a.dest);
        status = 1;
    } else if (rc != 0) {
        status = fail(&a, "backup", rc);
    } else if (!to_stdout) {
        printf("%s: backup of %s complete%s\n", a.dest, a.path, a.compact ? " (compact)" : "");
    }
    status = close_env(&a, env, status);
    return status ? status : output_failed();
}

const struct command command_backup = {
    "backup", cmd_backup,
    "PATH DEST [--compact] [--immutable]",
    "copy the database in use to new file DEST ('-': stdout)",
    "      --compact           leave out free pages (a smaller copy)\n"
    "      --immutable         open a file nothing changes (no lock file, no log)\n"
};
