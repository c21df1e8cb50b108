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

/* ldb_backup_ex's progress: bytes copied of the copy's size. */
static int show_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct progress *p = ctx;
    p->total = total;
    progress_update(p, done);
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

    if ((rc = parse_args("backup", argc, argv, OPT_IMMUTABLE | OPT_COMPACT | OPT_DEST | OPT_PROGRESS,
                         &a)) != 0)
        return rc;
    int to_stdout = strcmp(a.dest, "-") == 0;
    if (to_stdout && isatty(STDOUT_FILENO)) {
        fprintf(stderr, "%s: backup: refusing to write a database to a terminal; redirect or "
                "pipe standard output\n", prog);
        return EXIT_USAGE;
    }
    if ((rc = open_env(&a, LDB_RDONLY, LDB_SYNC_FULL, &env)) != 0)
        return open_status(rc);
    struct progress p;
    progress_start(&p, &a, "backup", "bytes", 0);
    rc = ldb_backup_ex(env, to_stdout ? NULL : a.dest, to_stdout ? STDOUT_FILENO : -1,
                       a.compact ? LDB_BACKUP_COMPACT : 0, p.on ? show_progress : NULL, &p);
    progress_end(&p, rc == 0 ? p.total : 0);
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
    "PATH DEST [--compact] [--immutable] [--progress | --quiet]",
    "copy the database in use to new file DEST ('-': stdout)",
    "      --compact           leave out free pages (a smaller copy)\n"
    "      --immutable         open a file nothing changes (no lock file, no log)\n"
    "      --progress          show bytes copied, rate and time left on stderr\n"
    "                          (default: on a terminal)\n"
    "  -q, --quiet             show no progress\n"
};
