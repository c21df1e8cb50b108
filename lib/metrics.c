/* SPDX-License-Identifier: MIT */
/*
 * metrics.c: ldb_metrics and ldb_reader_list (see metrics.h).
 *
 * The exposition follows the Prometheus text format 0.0.4: one HELP and one
 * TYPE line per family, then its samples. Every sample carries a db label
 * (the path the env was opened with) so that one textfile directory or one
 * scrape can hold several databases without clashes.
 *
 * Whose figures: gauges describe the database as every process sees it;
 * lightningdb_database_commits_total and lightningdb_checkpoints_total count
 * every process's since the lock file was last rebuilt (when no process had
 * the database open); lightningdb_commits_total, the archive and cache
 * counters and the three histograms are this env's (this process's) since it
 * was opened.
 */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

struct exposition {
    FILE *out;
    char label[1024]; /* db="..." escaped */
};

/* The label value escaped as the format asks: backslash, quote, newline. */
static void make_label(struct exposition *x, const char *path)
{
    size_t n = 0, cap = sizeof x->label;
    n += (size_t)snprintf(x->label, cap, "db=\"");
    for (const char *p = path; *p && n + 4 < cap; p++) {
        if (*p == '\\' || *p == '"') {
            x->label[n++] = '\\';
            x->label[n++] = *p;
        } else if (*p == '\n') {
            x->label[n++] = '\\';
            x->label[n++] = 'n';
        } else {
            x->label[n++] = *p;
        }
    }
    x->label[n++] = '"';
    x->label[n] = '\0';
}

static void family(struct exposition *x, const char *name, const char *type, const char *help)
{
    fprintf(x->out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(struct exposition *x, const char *name, uint64_t v, const char *help)
{
    family(x, name, "gauge", help);
    fprintf(x->out, "%s{%s} %" PRIu64 "\n", name, x->label, v);
}

static void counter(struct exposition *x, const char *name, uint64_t v, const char *help)
{
    family(x, name, "counter", help);
    fprintf(x->out, "%s{%s} %" PRIu64 "\n", name, x->label, v);
}

static void histogram(struct exposition *x, const char *name, const struct ldb__histogram *h,
                      const char *help)
{
    struct ldb__histogram c;
    ldb__hist_read(h, &c);
    family(x, name, "histogram", help);
    uint64_t cumulative = 0;
    for (unsigned i = 0; i < LDB_HIST_BOUNDS; i++) {
        cumulative += c.buckets[i];
        fprintf(x->out, "%s_bucket{%s,le=\"%g\"} %" PRIu64 "\n", name, x->label,
                (double)ldb__hist_bounds_ns[i] / 1e9, cumulative);
    }
    fprintf(x->out, "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n", name, x->label, c.count);
    fprintf(x->out, "%s_sum{%s} %.9f\n", name, x->label, (double)c.sum_ns / 1e9);
    fprintf(x->out, "%s_count{%s} %" PRIu64 "\n", name, x->label, c.count);
}

static void database_figures(struct exposition *x, const ldb_stat *st)
{
    gauge(x, "lightningdb_last_txn_id", st->last_txn_id, "Newest committed transaction id.");
    gauge(x, "lightningdb_page_size_bytes", st->page_size, "Page size of the data file.");
    gauge(x, "lightningdb_file_size_bytes", st->file_size, "Size of the data file.");
    gauge(x, "lightningdb_max_size_bytes", st->max_size,
          "Largest the data file may grow (this handle's max_size).");
    gauge(x, "lightningdb_pages_used", st->pages_used,
          "Pages in use by the newest snapshot's trees.");
    gauge(x, "lightningdb_pages_free", st->pages_free,
          "Pages below the high-water mark listed as free.");
    gauge(x, "lightningdb_wal_size_bytes", st->wal_size,
          "Bytes of log records since the last checkpoint.");
    gauge(x, "lightningdb_readers_used", st->readers_used,
          "Read transactions open now, all processes.");
    gauge(x, "lightningdb_readers_max", st->readers_max, "Reader slots in the lock file.");
    uint64_t lag = st->oldest_reader_txn_id && st->last_txn_id > st->oldest_reader_txn_id
                       ? st->last_txn_id - st->oldest_reader_txn_id
                       : 0;
    gauge(x, "lightningdb_oldest_reader_lag_txns", lag,
          "Commits since the oldest open reader's snapshot (0 without readers); "
          "pages those commits freed are held back for it.");
    family(x, "lightningdb_oldest_reader_lag_seconds", "gauge",
           "How long the longest-open read transaction, all processes, has been open "
           "(0 without readers; a few ms resolution).");
    fprintf(x->out, "lightningdb_oldest_reader_lag_seconds{%s} %.3f\n", x->label,
            (double)st->oldest_reader_lag_us / 1e6);
}

/* Where the file's pages are and what free ones wait for (ldb_stat_space):
 * a growing checkpoint_held or reader_held is what keeps the file large. */
static void space_figures(struct exposition *x, const ldb_space *sp)
{
    gauge(x, "lightningdb_pages_reusable", sp->reusable_pages,
          "Free pages the next write transaction may take.");
    gauge(x, "lightningdb_pages_reader_held", sp->reader_held_pages,
          "Free pages held back until the oldest open reader ends.");
    gauge(x, "lightningdb_pages_checkpoint_held", sp->checkpoint_held_pages,
          "Free pages of the last checkpoint's trees, held until the next checkpoint.");
    gauge(x, "lightningdb_pages_unused", sp->unused_pages,
          "Pages past the high-water mark: grown and not yet used.");
    gauge(x, "lightningdb_pages_reserved", sp->reserve_pages,
          "Pages kept for transactions that only delete (full disk).");
}

static void process_figures(struct exposition *x, ldb_env *env, const ldb_stat *st)
{
    uint64_t all = 0;
    if (!(env->opts.flags & LDB_IMMUTABLE))
        all = __atomic_load_n(&env->lock.hdr->commits, __ATOMIC_RELAXED);
    counter(x, "lightningdb_database_commits_total", all,
            "Write transactions committed by every process since the lock file was built.");
    counter(x, "lightningdb_checkpoints_total", st->checkpoints,
            "Checkpoints taken by every process since the lock file was built.");
    counter(x, "lightningdb_commits_total", st->commits,
            "Write transactions committed through this handle.");
    counter(x, "lightningdb_archive_segments_total", st->archive_segments,
            "Log segments this handle wrote to the archive (ldb_options.archive_dir).");
    counter(x, "lightningdb_archive_failures_total", st->archive_failures,
            "Attempts to archive a log generation that failed, this handle (the log "
            "is kept and archived whole by the next checkpoint).");
    counter(x, "lightningdb_cache_hits_total", st->cache_hits,
            "Decompressed-value cache hits, this handle.");
    counter(x, "lightningdb_cache_misses_total", st->cache_misses,
            "Decompressed-value cache misses, this handle.");
    gauge(x, "lightningdb_cache_size_bytes", st->cache_bytes,
          "Bytes of decompressed values held by this handle's cache.");
    histogram(x, "lightningdb_commit_duration_seconds", &env->commit_latency,
              "Write commits through this handle, from ldb_txn_commit to durable.");
    histogram(x, "lightningdb_log_sync_duration_seconds", &env->io.sync_latency,
              "Log syncs this handle waited for (fdatasync, or a linked write and fdatasync).");
    histogram(x, "lightningdb_checkpoint_duration_seconds", &env->checkpoint_duration,
              "Checkpoints taken by this handle.");
}

int ldb_metrics(ldb_env *env, FILE *out)
{
    TRY(ldb__env_check(env));
    if (out == NULL)
        return LDB_INVALID;
    ldb_stat st;
    TRY(ldb_stat_env(env, &st));
    struct exposition x = {.out = out};
    make_label(&x, env->path);
    family(&x, "lightningdb_info", "gauge", "Library version; always 1.");
    fprintf(out, "lightningdb_info{%s,version=\"%s\"} 1\n", x.label, ldb_version());
    database_figures(&x, &st);
    /* The space figures need a reader slot and a walk of the free tree: with
     * every slot taken the scrape goes on without them. */
    ldb_space sp;
    int rc = ldb_stat_space(env, &sp, sizeof sp);
    if (rc == 0)
        space_figures(&x, &sp);
    else if (rc != LDB_BUSY)
        return rc;
    process_figures(&x, env, &st);
    if (fflush(out) != 0 || ferror(out))
        return -EIO;
    return 0;
}

struct reader_walk {
    ldb_reader_fn fn;
    void *ctx;
};

static int visit_reader(void *ctx, uint32_t pid, uint64_t txnid, int alive)
{
    struct reader_walk *w = ctx;
    return w->fn(w->ctx, (int)pid, txnid == LDB_READER_IDLE ? 0 : txnid, alive);
}

int ldb_reader_list(ldb_env *env, ldb_reader_fn fn, void *ctx)
{
    TRY(ldb__env_check(env));
    if (fn == NULL)
        return LDB_INVALID;
    struct reader_walk w = {fn, ctx};
    return ldb__lock_reader_visit(&env->lock, visit_reader, &w);
}
