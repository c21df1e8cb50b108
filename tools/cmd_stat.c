/* SPDX-License-Identifier: MIT */
/*
 * cmd_stat.c: the subcommands that show the database's figures: stat (the
 * file, the log, the readers and one tree) and readers (the reader table,
 * slot by slot, after freeing the slots of dead processes).
 */
#include <inttypes.h>
#include <stdio.h>

#include "cli.h"
#include "lightningdb.h"

/* ---- stat ---------------------------------------------------------------- */

static void json_u64(int *first, const char *name, uint64_t v)
{
    json_key(stdout, first, name);
    printf("%" PRIu64, v);
}

/* The figures stat prints, as one JSON object. */
static void stat_json(const struct args *a, const ldb_stat *st, const ldb_tree_stat *ts,
                      const ldb_compress_stat *cs)
{
    int first = 1;
    putchar('{');
    json_key(stdout, &first, "path");
    json_string(stdout, a->path);
    json_u64(&first, "page_size", st->page_size);
    json_u64(&first, "file_size", st->file_size);
    json_u64(&first, "max_size", st->max_size);
    json_u64(&first, "pages_used", st->pages_used);
    json_u64(&first, "pages_free", st->pages_free);
    json_u64(&first, "last_txn_id", st->last_txn_id);
    json_u64(&first, "wal_size", st->wal_size);
    json_u64(&first, "checkpoints", st->checkpoints);
    json_u64(&first, "readers_used", st->readers_used);
    json_u64(&first, "readers_max", st->readers_max);
    json_u64(&first, "oldest_reader_txn_id", st->oldest_reader_txn_id);
    json_u64(&first, "oldest_reader_lag",
             st->readers_used ? st->last_txn_id - st->oldest_reader_txn_id : 0);
    json_u64(&first, "oldest_reader_lag_us", st->oldest_reader_lag_us);
    json_u64(&first, "cache_hits", st->cache_hits);
    json_u64(&first, "cache_misses", st->cache_misses);
    json_u64(&first, "cache_bytes", st->cache_bytes);
    json_key(stdout, &first, "tree");
    printf("{\"name\": ");
    json_string(stdout, a->tree != NULL ? a->tree : "main");
    printf(", \"entries\": %" PRIu64 ", \"depth\": %" PRIu32 ", \"branch_pages\": %" PRIu64
           ", \"leaf_pages\": %" PRIu64 ", \"overflow_pages\": %" PRIu64
           ", \"values_compressed\": %" PRIu64 ", \"bytes_saved\": %" PRIu64 "}\n}\n",
           ts->entries, ts->depth, ts->branch_pages, ts->leaf_pages, ts->overflow_pages,
           cs->compressed, cs->raw_bytes - cs->stored_bytes);
}

static int cmd_stat(int argc, char **argv)
{
    struct args a;
    ldb_env *env = NULL;
    ldb_txn *txn = NULL;
    ldb_stat st;
    ldb_space sp;
    ldb_tree_stat ts;
    ldb_compress_stat cs;
    ldb_dbi dbi;
    int rc, status = 0;

    if ((rc = parse_args("stat", argc, argv, OPT_TREE | OPT_IMMUTABLE | OPT_JSON, &a)) != 0)
        return rc;
    if ((rc = open_env(&a, LDB_RDONLY, LDB_SYNC_FULL, &env)) != 0)
        return open_status(rc);

    /* The tree first (a missing tree prints nothing), and its read txn ended
     * before ldb_stat_env, so that our own reader is not counted. */
    if ((status = read_tree(&a, env, &txn, &dbi)) != 0)
        goto out;
    rc = ldb_dbi_stat(txn, dbi, &ts);
    if (rc == 0)
        rc = ldb_dbi_compress_stat(txn, dbi, &cs);
    if (rc != 0) {
        status = fail(&a, "tree stat", rc);
        goto out;
    }
    ldb_txn_abort(txn);
    txn = NULL;
    rc = ldb_stat_env(env, &st);
    if (rc == 0)
        rc = ldb_stat_space(env, &sp, sizeof sp);
    if (rc != 0) {
        status = fail(&a, "stat", rc);
        goto out;
    }

    if (a.json) {
        stat_json(&a, &st, &ts, &cs);
        goto out;
    }
    printf("path:                 %s\n", a.path);
    printf("page size:            %" PRIu32 "\n", st.page_size);
    printf("file size:            %" PRIu64 "\n", st.file_size);
    printf("max size:             %" PRIu64 "\n", st.max_size);
    printf("pages used:           %" PRIu64 "\n", st.pages_used);
    printf("pages free:           %" PRIu64 "\n", st.pages_free);
    printf("last txn id:          %" PRIu64 "\n", st.last_txn_id);
    printf("wal size:             %" PRIu64 "\n", st.wal_size);
    printf("checkpoints:          %" PRIu64 "\n", st.checkpoints);
    printf("readers used:         %" PRIu32 "\n", st.readers_used);
    printf("readers max:          %" PRIu32 "\n", st.readers_max);
    printf("oldest reader txn id: %" PRIu64 "\n", st.oldest_reader_txn_id);
    /* How many commits the oldest reader is behind: what it holds back. */
    printf("oldest reader lag:    %" PRIu64 "\n",
           st.readers_used ? st.last_txn_id - st.oldest_reader_txn_id : 0);
    printf("oldest reader open:   %.3f s\n", (double)st.oldest_reader_lag_us / 1e6);
    /* Where the file's pages are, and why free ones wait (readers: until
     * the oldest reader ends; checkpoint: until the next one). */
    printf("file pages:           %" PRIu64 "\n", sp.file_pages);
    printf("pages reusable:       %" PRIu64 "\n", sp.reusable_pages);
    printf("pages reader-held:    %" PRIu64 "\n", sp.reader_held_pages);
    printf("pages checkpoint-held: %" PRIu64 "\n", sp.checkpoint_held_pages);
    printf("pages unused:         %" PRIu64 "\n", sp.unused_pages);
    printf("pages reserved:       %" PRIu64 "\n", sp.reserve_pages);
    printf("checkpoint txn id:    %" PRIu64 "\n", sp.checkpoint_txn_id);
    printf("tree:                 %s\n", a.tree != NULL ? a.tree : "main");
    printf("  entries:            %" PRIu64 "\n", ts.entries);
    printf("  depth:              %" PRIu32 "\n", ts.depth);
    printf("  branch pages:       %" PRIu64 "\n", ts.branch_pages);
    printf("  leaf pages:         %" PRIu64 "\n", ts.leaf_pages);
    printf("  overflow pages:     %" PRIu64 "\n", ts.overflow_pages);
    printf("  values compressed:  %" PRIu64 "\n", cs.compressed);
    printf("  bytes saved:        %" PRIu64 "\n", cs.raw_bytes - cs.stored_bytes);
    /* This process's own cache: it read nothing compressed, so these say
     * only that the cache is there (a long-lived program reads its own
     * figures with ldb_stat_env). */
    printf("cache hits:           %" PRIu64 "\n", st.cache_hits);
    printf("cache misses:         %" PRIu64 "\n", st.cache_misses);
    printf("cache bytes:          %" PRIu64 "\n", st.cache_bytes);
out:
    ldb_txn_abort(txn);
    status = close_env(&a, env, status);
    return status ? status : output_failed();
}

/* ---- readers ------------------------------------------------------------- */

static int print_reader(void *ctx, int pid, uint64_t txn_id, int alive)
{
    (void)ctx;
    if (txn_id != 0)
        printf("  pid %-10d txn %-12" PRIu64 " %s\n", pid, txn_id, alive ? "" : "(dead)");
    else
        printf("  pid %-10d no snapshot      %s\n", pid, alive ? "" : "(dead)");
    return 0;
}

/* One slot as a JSON object: txn_id null for a reset read txn. */
static int json_reader(void *ctx, int pid, uint64_t txn_id, int alive)
{
    int *n = ctx;
    printf("%s{\"pid\": %d, \"txn_id\": ", (*n)++ ? ", " : "", pid);
    if (txn_id != 0)
        printf("%" PRIu64, txn_id);
    else
        printf("null");
    printf(", \"alive\": %s}", alive ? "true" : "false");
    return 0;
}

static int cmd_readers(int argc, char **argv)
{
    struct args a;
    ldb_env *env = NULL;
    ldb_stat st;
    int cleared = 0, rc, status = 0;

    if ((rc = parse_args("readers", argc, argv, OPT_JSON, &a)) != 0)
        return rc;
    if ((rc = open_env(&a, LDB_RDONLY, LDB_SYNC_FULL, &env)) != 0)
        return open_status(rc);
    rc = ldb_reader_check(env, &cleared);
    if (rc != 0) {
        status = fail(&a, "reader check", rc);
        goto out;
    }
    rc = ldb_stat_env(env, &st);
    if (rc != 0) {
        status = fail(&a, "stat", rc);
        goto out;
    }
    if (a.json) {
        int first = 1;
        putchar('{');
        json_key(stdout, &first, "path");
        json_string(stdout, a.path);
        json_u64(&first, "cleared", (uint64_t)cleared);
        json_u64(&first, "readers_used", st.readers_used);
        json_u64(&first, "readers_max", st.readers_max);
        json_u64(&first, "oldest_reader_txn_id", st.oldest_reader_txn_id);
        json_u64(&first, "last_txn_id", st.last_txn_id);
        json_key(stdout, &first, "slots");
        putchar('[');
        int n = 0;
        rc = ldb_reader_list(env, json_reader, &n);
        printf("]\n}\n");
        if (rc != 0)
            status = fail(&a, "reader list", rc);
        goto out;
    }
    printf("cleared:              %d\n", cleared);
    printf("readers used:         %" PRIu32 "\n", st.readers_used);
    printf("readers max:          %" PRIu32 "\n", st.readers_max);
    printf("oldest reader txn id: %" PRIu64 "\n", st.oldest_reader_txn_id);
    printf("last txn id:          %" PRIu64 "\n", st.last_txn_id);
    printf("slots in use:\n");
    rc = ldb_reader_list(env, print_reader, NULL);
    if (rc != 0)
        status = fail(&a, "reader list", rc);
out:
    status = close_env(&a, env, status);
    return status ? status : output_failed();
}

const struct command command_stat = {
    "stat", cmd_stat,
    "PATH [--tree NAME] [--json] [--immutable]",
    "figures of the database and of one tree",
    "  -t, --tree NAME         the tree to show (the main tree without it)\n"
    "      --json              one JSON object instead of text\n"
    "      --immutable         open a file nothing changes (no lock file, no log)\n"
};

const struct command command_readers = {
    "readers", cmd_readers,
    "PATH [--json]",
    "free stale reader slots; list readers in use",
    "      --json              one JSON object instead of text\n"
};
