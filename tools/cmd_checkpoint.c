/* SPDX-License-Identifier: MIT */
/*
 * cmd_checkpoint.c: checkpoint, folding the write-ahead log into the data
 * file on demand (ldb_checkpoint), with the log's size before and after.
 */
#include <inttypes.h>
#include <stdio.h>

#include "cli.h"
#include "lightningdb.h"

/* ---- checkpoint ---------------------------------------------------------- */

/* ldb_checkpoint on a writable env. Opening it may itself recover (the first
 * opener replays the log and checkpoints), and closing checkpoints again if
 * anything committed meanwhile; the figures printed are those around the
 * ldb_checkpoint call. It needs the writer: --nowait and --timeout say
 * how long to wait for another process's write txn. */
static int cmd_checkpoint(int argc, char **argv)
{
    struct args a;
    ldb_env *env = NULL;
    ldb_stat before, after;
    int rc, status = 0;

    if ((rc = parse_args("checkpoint", argc, argv, OPT_WAIT, &a)) != 0)
        return rc;
    if ((rc = open_env(&a, LDB_NOCREATE, LDB_SYNC_FULL, &env)) != 0)
        return open_status(rc);
    rc = ldb_stat_env(env, &before);
    if (rc != 0) {
        status = fail(&a, "stat", rc);
        goto out;
    }
    rc = checkpoint_waiting(&a, env);
    if (rc != 0) {
        status = rc == LDB_BUSY ? EXIT_NOOPEN : fail(&a, "checkpoint", rc);
        goto out;
    }
    rc = ldb_stat_env(env, &after);
    if (rc != 0) {
        status = fail(&a, "stat", rc);
        goto out;
    }
    printf("last txn id:          %" PRIu64 "\n", after.last_txn_id);
    printf("wal size before:      %" PRIu64 "\n", before.wal_size);
    printf("wal size after:       %" PRIu64 "\n", after.wal_size);
    printf("checkpoints:          %" PRIu64 "\n", after.checkpoints);
out:
    status = close_env(&a, env, status);
    return status ? status : output_failed();
}

const struct command command_checkpoint = {
    "checkpoint", cmd_checkpoint,
    "PATH [--nowait | --timeout SEC]",
    "fold the write-ahead log into the data file",
    WAIT_HELP
};
