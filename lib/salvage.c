/* SPDX-License-Identifier: MIT */
/*
 * salvage.c: ldb_salvage, keeping what precedes damage in a log that
 * recovery refuses (wal.h, W4).
 *
 * When a durable record of the log is damaged, ldb_open fails with
 * LDB_CORRUPTED and changes nothing: what to give up is a person's choice.
 * Salvage is that choice, made on a copy: the data file is copied whole to
 * DEST, the log only up to the end of the last record recovery can apply
 * (so the copy holds no damage, and nothing after it), and an ordinary
 * ldb_open of DEST then replays that prefix and checkpoints it. The source
 * files are only ever read.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env.h"
#include "alloc.h"
#include "error.h"
#include "meta.h"
#include "os.h"
#include "recovery.h"
#include "wal.h"

#define COPY_CHUNK (1u << 20)

/* The three files of a database: data, log, lock. */
struct db_files {
    char *data, *wal, *lock;
};

static int files_init(struct db_files *f, const char *path)
{
    f->data = ldb__strdup(path);
    f->wal = ldb__str_concat(path, "-wal");
    f->lock = ldb__str_concat(path, "-lock");
    return f->data == NULL || f->wal == NULL || f->lock == NULL ? -ENOMEM : 0;
}

static void files_free(struct db_files *f)
{
    ldb__free(f->data);
    ldb__free(f->wal);
    ldb__free(f->lock);
}

/* Which of DEST's files salvage created (to remove if it fails). */
enum { MADE_DATA = 1, MADE_WAL = 2 };

/* Copy bytes [0, len) of from into a new file at to (created exclusively:
 * salvage never writes over anything), synced; `bit` goes into *made once
 * the file is ours. */
static int copy_prefix(int from, const char *to, uint64_t len, unsigned *made, unsigned bit)
{
    int fd;
    TRY(ldb__os_open(to, O_RDWR | O_CREAT | O_EXCL, LDB_DEFAULT_FILE_MODE, &fd));
    *made |= bit;
    uint8_t *buf = ldb__malloc(COPY_CHUNK);
    int rc = buf ? 0 : -ENOMEM;
    for (uint64_t off = 0; rc == 0 && off < len;) {
        size_t n = len - off < COPY_CHUNK ? (size_t)(len - off) : COPY_CHUNK;
        rc = ldb__os_pread_full(from, buf, n, off);
        if (rc == 0)
            rc = ldb__os_pwrite_full(fd, buf, n, off);
        off += n;
    }
    if (rc == 0)
        rc = ldb__os_fsync(fd);
    ldb__free(buf);
    ldb__os_close(fd);
    return rc;
}

/* Tell the person what the log held and what DEST keeps. */
static void report_survey(FILE *report, const struct ldb__recovery_survey *s, uint64_t meta_txnid,
                          int have_log)
{
    if (report == NULL)
        return;
    fprintf(report, "salvage: checkpoint at txn %" PRIu64 "\n", meta_txnid);
    if (!have_log) {
        fprintf(report, "salvage: no log: keeping the checkpoint\n");
        return;
    }
    fprintf(report, "salvage: log: %" PRIu64 " records to replay, up to txn %" PRIu64
                    "; they stop at offset %" PRIu64 "\n",
            s->records, s->last_txnid, s->stop_at);
    if (s->proof_at)
        fprintf(report,
                "salvage: the log is damaged at or after offset %" PRIu64
                ": the record at offset %" PRIu64 " proves txn %" PRIu64
                " was durable; it and every later txn are given up\n",
                s->stop_at, s->proof_at, s->last_txnid + 1);
    else
        fprintf(report, "salvage: no durable txn lies past that point\n");
}

/* Build DEST from the source's data file (open at data_fd, size bytes)
 * and the first keep_end bytes of its log (wal_fd, -1 if none). */
static int build_dest(const struct db_files *dst, int data_fd, uint64_t size, int wal_fd,
                      uint64_t keep_end, FILE *report, unsigned *made)
{
    TRY(copy_prefix(data_fd, dst->data, size, made, MADE_DATA));
    if (wal_fd >= 0 && keep_end > 0)
        TRY(copy_prefix(wal_fd, dst->wal, keep_end, made, MADE_WAL));
    TRY(ldb__os_fsync_parent_dir(dst->data));
    /* An ordinary open replays the kept records and checkpoints them. */
    ldb_env *env;
    TRY(ldb_open(dst->data, NULL, &env));
    int rc = ldb_check(env, report);
    ldb_stat st;
    if (rc == 0)
        rc = ldb_stat_env(env, &st);
    if (rc == 0 && report != NULL)
        fprintf(report, "salvage: %s holds txns up to %" PRIu64 "; ldb_check passed\n",
                dst->data, st.last_txn_id);
    int crc = ldb_close(env);
    return rc < 0 ? rc : crc;
}

/* Whether any of dst's files exists already. */
static int dest_taken(const struct db_files *dst)
{
    return access(dst->data, F_OK) == 0 || access(dst->wal, F_OK) == 0 ||
           access(dst->lock, F_OK) == 0;
}

int ldb_salvage(const char *path, const char *dest, FILE *report)
{
    if (path == NULL || dest == NULL || path[0] == '\0' || dest[0] == '\0')
        return LDB_INVALID;
    struct db_files src = {0}, dst = {0};
    int data_fd = -1, wal_fd = -1, rc;
    unsigned made = 0;
    CHECK_GOTO(rc, files_init(&src, path), out);
    CHECK_GOTO(rc, files_init(&dst, dest), out);
    if (strcmp(src.data, dst.data) == 0 || dest_taken(&dst)) {
        rc = -EEXIST; /* a new database only: nothing is written over */
        goto out;
    }
    CHECK_GOTO(rc, ldb__os_open(src.data, O_RDONLY, 0, &data_fd), out);
    uint64_t size;
    CHECK_GOTO(rc, ldb__os_file_size(data_fd, &size), out);
    struct meta_page m;
    unsigned slot;
    CHECK_GOTO(rc, ldb__meta_read_newest(data_fd, size, &m, &slot), out);
    struct ldb__recovery_survey s;
    memset(&s, 0, sizeof s);
    rc = ldb__os_open(src.wal, O_RDONLY, 0, &wal_fd);
    if (rc == -ENOENT)
        wal_fd = -1;
    else if (rc < 0)
        goto out;
    if (wal_fd >= 0)
        CHECK_GOTO(rc, ldb__recovery_survey(wal_fd, m.txnid, m.db_id, &s), out);
    report_survey(report, &s, m.txnid, wal_fd >= 0);
    rc = build_dest(&dst, data_fd, size, wal_fd, s.keep_end, report, &made);
out:
    if (rc < 0 && (made & MADE_DATA)) {
        /* A failed salvage leaves no half-built database behind (the log
         * and the lock file are DEST's if its data file is: DEST had none
         * of them when salvage began). */
        unlink(dst.data);
        unlink(dst.wal);
        unlink(dst.lock);
    }
    ldb__os_close(data_fd);
    ldb__os_close(wal_fd);
    files_free(&src);
    files_free(&dst);
    return rc;
}
