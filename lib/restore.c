/* SPDX-License-Identifier: MIT */
/*
 * restore.c: point-in-time recovery: ldb_restore, ldb_restore_follow (a
 * replica kept up to date), and ldb_archive_list and ldb_archive_prune for
 * the archive they read (archive.h).
 *
 * A restore builds a new database from a backup (ldb_backup: its meta page
 * names its txn id and its database id) and the segments of the log
 * archive that follow it, up to a target: a txn id, a commit time, or the
 * newest archived record. It is recovery with a longer log: the backup is
 * copied to "<dest>.ldb-restore-tmp", opened as a database, and each
 * segment is replayed into it by recovery's own replay
 * (ldb__recovery_replay_segment), a checkpoint after each. The copy is
 * checked (ldb_check), closed, its side files removed, given a new
 * database id (renew_db_id), and only then renamed to dest without
 * replacing anything: an interrupted restore leaves
 * nothing at dest, and running it again starts the temporary afresh.
 *
 * A replica (ldb_restore_follow) is built the same way but keeps the
 * original's database id, so that the original's later segments still
 * apply; each later call opens it as a database and replays the segments
 * past its newest txn into it, one committed write txn per archived txn,
 * so readers in other processes see only whole txns of the original.
 *
 * What it refuses, each with a message naming the files or txns:
 *  - segments of another database (by name or by header): LDB_MISMATCH;
 *  - a gap, txns no segment holds between the backup and the target:
 *    LDB_NOTFOUND, naming the missing range;
 *  - a segment whose records stop before its name's last txn (damage):
 *    LDB_CORRUPTED;
 *  - a target the archive does not reach (a txn id past its newest, a
 *    time after its newest record): LDB_NOTFOUND, naming where it ends;
 *  - a time target over a version-1 segment (no commit times): LDB_VERSION.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "archive.h"
#include "durable.h"
#include "env.h"
#include "error.h"
#include "meta.h"
#include "os.h"
#include "recovery.h"
#include "restore.h"

#ifdef LDB_TEST_HOOKS
void (*ldb__restore_step_hook)(enum ldb__restore_step step);
#define RESTORE_STEP(s)                                                                        \
    do {                                                                                       \
        if (ldb__restore_step_hook)                                                            \
            ldb__restore_step_hook(s);                                                         \
    } while (0)
#else
#define RESTORE_STEP(s) ((void)0)
#endif

#define TMP_SUFFIX ".ldb-restore-tmp"

struct restore {
    char *err;
    size_t errlen;
    uint64_t db_id, base_txn; /* the backup's */
    struct ldb__replay_stop stop;
    int archive_fd;
    struct ldb__archive_seg *segs;
    size_t nsegs;
    ldb_env *env;
    uint64_t txn; /* the newest txn in the restored database so far */
    int reached;  /* a record past the target was seen: done */
    uint64_t new_db_id; /* the restored database's */
    int replica;        /* ldb_restore_follow: keep the database id */
    ldb_backup_progress_fn progress; /* txns replayed of those to replay */
    void *progress_ctx;
};

__attribute__((format(printf, 3, 4))) static int say(struct restore *r, int rc,
                                                     const char *fmt, ...)
{
    if (r->err != NULL && r->errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* The database id and txn id of a backup (any data file: its newest meta
 * page). */
static int backup_identity(const char *path, uint64_t *db_id, uint64_t *txnid, uint64_t *size)
{
    int fd = -1;
    TRY(ldb__os_open(path, O_RDONLY, 0, &fd));
    struct meta_page m;
    unsigned slot;
    int rc = ldb__os_file_size(fd, size);
    if (rc == 0)
        rc = ldb__meta_read_newest(fd, *size, &m, &slot);
    ldb__os_close(fd);
    TRY(rc);
    *db_id = m.db_id;
    *txnid = m.txnid;
    return 0;
}

/* The archive's segments of the backup's database: LDB_MISMATCH if it
 * holds segments and none is of that database. */
static int load_segments(struct restore *r, const char *dir)
{
    TRY(ldb__os_open_dir(dir, &r->archive_fd));
    struct ldb__archive_seg *all;
    size_t n, kept = 0;
    TRY(ldb__archive_list(r->archive_fd, &all, &n));
    uint64_t other = 0;
    for (size_t i = 0; i < n; i++) {
        if (all[i].db_id == r->db_id)
            all[kept++] = all[i];
        else
            other = all[i].db_id;
    }
    r->segs = all;
    r->nsegs = kept;
    if (kept == 0 && n > 0)
        return say(r, LDB_MISMATCH,
                   "the archive holds segments of database %016" PRIx64
                   ", not of the backup's %016" PRIx64,
                   other, r->db_id);
    return 0;
}

/* ---- the temporary database -------------------------------------------------- */

struct tmp_names {
    char *data, *lock, *wal, *dest_wal;
};

static int names_init(struct tmp_names *t, const char *dest)
{
    t->data = ldb__str_concat(dest, TMP_SUFFIX);
    t->lock = t->data ? ldb__str_concat(t->data, "-lock") : NULL;
    t->wal = t->data ? ldb__str_concat(t->data, "-wal") : NULL;
    t->dest_wal = ldb__str_concat(dest, "-wal");
    return t->data && t->lock && t->wal && t->dest_wal ? 0 : -ENOMEM;
}

static void names_free(struct tmp_names *t)
{
    ldb__free(t->data);
    ldb__free(t->lock);
    ldb__free(t->wal);
    ldb__free(t->dest_wal);
}

/* Remove the temporary and its side files (missing ones are fine). */
static void tmp_remove(const struct tmp_names *t)
{
    (void)ldb__os_unlink(t->wal);
    (void)ldb__os_unlink(t->lock);
    (void)ldb__os_unlink(t->data);
}

/* The backup's bytes as the temporary data file, synced. */
static int copy_backup(const char *backup, const char *tmp, uint64_t size)
{
    int in = -1, out = -1;
    TRY(ldb__os_open(backup, O_RDONLY, 0, &in));
    int rc = ldb__os_open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644, &out);
    if (rc == 0)
        rc = ldb__os_copy_range(in, out, 0, size);
    if (rc == 0)
        rc = ldb__os_fsync(out);
    ldb__os_close(in);
    ldb__os_close(out);
    return rc;
}

/* A checkpoint between segments: pages the replayed txns freed become
 * reusable only after one (wal.h, W3), so this bounds the file's growth. */
static int checkpoint(ldb_env *env)
{
    int died;
    TRY(ldb__lock_writer(&env->lock, 0, &died));
    int rc = ldb__checkpoint_locked(env, NULL);
    int released = ldb__lock_writer_release(&env->lock);
    return rc < 0 ? rc : released;
}

/* ---- replaying the archive ----------------------------------------------------- */

static int replay_one(struct restore *r, const struct ldb__archive_seg *s)
{
    int fd = -1;
    int rc = ldb__os_openat(r->archive_fd, s->name, O_RDONLY, 0, &fd);
    if (rc < 0)
        return say(r, rc, "segment %s: %s", s->name, ldb_strerror(rc));
    struct ldb__archive_info info;
    rc = ldb__archive_inspect(fd, &info);
    if (rc == 0 && info.db_id != r->db_id)
        rc = say(r, LDB_MISMATCH, "segment %s: its header names database %016" PRIx64, s->name,
                 info.db_id);
    else if (rc < 0)
        rc = say(r, rc, "segment %s: %s", s->name, ldb_strerror(rc));
    struct ldb__replay_result res;
    if (rc == 0) {
        rc = ldb__recovery_replay_segment(r->env, fd, r->db_id, &r->stop, &res);
        if (rc == LDB_VERSION)
            rc = say(r, rc, "segment %s: a version-1 log holds no commit times", s->name);
        else if (rc < 0)
            rc = say(r, rc, "segment %s: replay failed: %s", s->name, ldb_strerror(rc));
    }
    ldb__os_close(fd);
    TRY(rc);
    r->txn = res.last_txnid;
    r->reached = res.stopped;
    if (!res.stopped && r->txn < s->last)
        return say(r, LDB_CORRUPTED,
                   "segment %s is damaged: its records stop after txn %" PRIu64
                   " (byte %" PRIu64 "), short of txn %" PRIu64,
                   s->name, r->txn, res.end, s->last);
    return checkpoint(r->env);
}

/* With a time target: the backup itself must not be newer than it. Its
 * txn's commit time is in the segment that holds it, if the archive still
 * has that one (a prune removes it). */
static int check_backup_time(struct restore *r)
{
    for (size_t i = 0; i < r->nsegs && r->stop.to_time_us && r->base_txn > 0; i++) {
        const struct ldb__archive_seg *s = &r->segs[i];
        if (s->first > r->base_txn || s->last < r->base_txn)
            continue;
        int fd = -1;
        uint64_t t = 0;
        TRY(ldb__os_openat(r->archive_fd, s->name, O_RDONLY, 0, &fd));
        int rc = ldb__archive_txn_time(fd, r->base_txn, &t);
        ldb__os_close(fd);
        if (rc == 1 && t > r->stop.to_time_us)
            return say(r, LDB_INVALID,
                       "the backup is at txn %" PRIu64 ", committed after the target time",
                       r->base_txn);
        if (rc == 1)
            return 0;
    }
    return 0;
}

/* Tell the caller how many txns past the backup are replayed, of as many
 * as the archive holds up to the target (a time target may stop sooner). */
static void report_progress(struct restore *r, int done)
{
    if (r->progress == NULL)
        return;
    uint64_t last = r->nsegs ? r->segs[r->nsegs - 1].last : r->txn;
    if (last > r->stop.to_txn)
        last = r->stop.to_txn;
    uint64_t total = last > r->base_txn ? last - r->base_txn : 0;
    uint64_t sofar = r->txn > r->base_txn ? r->txn - r->base_txn : 0;
    if (done || sofar > total)
        total = sofar;
    (void)r->progress(r->progress_ctx, sofar, total);
}

static int replay_all(struct restore *r)
{
    TRY(check_backup_time(r));
    report_progress(r, 0);
    for (size_t i = 0; i < r->nsegs && !r->reached && r->txn < r->stop.to_txn; i++) {
        const struct ldb__archive_seg *s = &r->segs[i];
        if (s->last <= r->txn)
            continue; /* the backup or an earlier segment has these */
        if (s->first > r->txn + 1)
            return say(r, LDB_NOTFOUND,
                       "the archive has no segment with txns %" PRIu64 "..%" PRIu64
                       " (the next segment is %s)",
                       r->txn + 1, s->first - 1, s->name);
        TRY(replay_one(r, s));
        report_progress(r, 0);
    }
    if (r->reached || r->txn == r->stop.to_txn) {
        report_progress(r, 1);
        return 0;
    }
    if (r->stop.to_txn != UINT64_MAX)
        return say(r, LDB_NOTFOUND,
                   "the archive ends at txn %" PRIu64 ", before the target txn %" PRIu64, r->txn,
                   r->stop.to_txn);
    if (r->stop.to_time_us)
        return say(r, LDB_NOTFOUND,
                   "the archive ends at txn %" PRIu64
                   ", before the target time (a checkpoint on the database archives its log)",
                   r->txn);
    report_progress(r, 1);
    return 0; /* the newest record available */
}

/* A new database id in both meta pages of the finished temporary: the
 * restored database's history diverges from the original's at the target,
 * and its own archive must never be mixed with the original's segments of
 * the same txn ids (a restore would otherwise take the bad history's txns
 * for its own). It is still only the temporary: a crash here leaves
 * nothing at dest. */
static int renew_db_id(const char *path, uint64_t *db_id)
{
    int fd = -1;
    TRY(ldb__os_open(path, O_RDWR, 0, &fd));
    uint64_t size;
    struct meta_page m;
    unsigned slot;
    int rc = ldb__os_file_size(fd, &size);
    if (rc == 0)
        rc = ldb__meta_read_newest(fd, size, &m, &slot);
    if (rc == 0) {
        m.db_id = *db_id = ldb__new_salt();
        rc = ldb__meta_write(fd, &m, slot ^ 1u);
    }
    if (rc == 0)
        rc = ldb__meta_write(fd, &m, slot);
    if (rc == 0)
        rc = ldb__os_fsync(fd);
    ldb__os_close(fd);
    return rc;
}

/* Build the restored database at t->data. */
static int build(struct restore *r, const char *backup, uint64_t size, const struct tmp_names *t)
{
    TRY(copy_backup(backup, t->data, size));
    RESTORE_STEP(LDB_RESTORE_COPIED);
    ldb_options o;
    memset(&o, 0, sizeof o);
    o.flags = LDB_NOCREATE;
    o.max_dbs = 1; /* replay finds trees by name, never through handles */
    TRY(ldb_open(t->data, &o, &r->env));
    r->txn = r->base_txn;
    r->env->recovering = 1; /* no checkpoint recycles anything mid-segment */
    int rc = replay_all(r);
    if (rc == 0) {
        rc = ldb_check(r->env, NULL);
        if (rc < 0)
            rc = say(r, rc, "the restored database fails ldb_check");
    }
    /* Still recovering at the close: its checkpoint, but no space trim,
     * which commits a txn of its own (space.c) that the original does not
     * have: the database would be one txn past the target, and a replica's
     * next segment would be taken as applied up to it. */
    int closed = ldb_close(r->env);
    r->env = NULL;
    TRY(rc);
    TRY(closed);
    /* Its log is empty after the last checkpoint; the lock file is rebuilt
     * by any opener: dest is the data file alone, as a backup is. */
    TRY(ldb__os_unlink(t->wal));
    TRY(ldb__os_unlink(t->lock));
    if (r->replica)
        return 0; /* the original's later segments must apply to it */
    return renew_db_id(t->data, &r->new_db_id);
}

static int refuse_existing(const struct tmp_names *t, const char *dest)
{
    int exists;
    TRY(ldb__os_exists(dest, &exists));
    if (!exists)
        TRY(ldb__os_exists(t->dest_wal, &exists));
    return exists ? -EEXIST : 0;
}

/* The restore proper, into r (set up by the caller): dest must not exist. */
static int restore_into(struct restore *r, const char *backup_path, const char *archive_dir,
                        const char *dest_path)
{
    struct tmp_names t;
    uint64_t size;
    int rc = names_init(&t, dest_path);
    if (rc == 0 && (rc = refuse_existing(&t, dest_path)) < 0)
        goto out; /* nothing of ours to remove */
    if (rc == 0 && (rc = backup_identity(backup_path, &r->db_id, &r->base_txn, &size)) < 0)
        say(r, rc, "backup %s: %s", backup_path, ldb_strerror(rc));
    if (rc == 0 && r->stop.to_txn < r->base_txn)
        rc = say(r, LDB_INVALID,
                 "the backup is at txn %" PRIu64 ", after the target txn %" PRIu64, r->base_txn,
                 r->stop.to_txn);
    if (rc == 0)
        rc = load_segments(r, archive_dir);
    if (rc < 0)
        goto out;
    tmp_remove(&t); /* what an interrupted restore left */
    rc = build(r, backup_path, size, &t);
    if (rc == 0) {
        RESTORE_STEP(LDB_RESTORE_BUILT);
        rc = ldb__os_rename_noreplace(t.data, dest_path);
    }
    if (rc == 0) {
        RESTORE_STEP(LDB_RESTORE_RENAMED);
        rc = ldb__os_fsync_parent_dir(dest_path);
    }
    if (rc < 0 && r->env != NULL)
        (void)ldb_close(r->env);
    if (rc < 0)
        tmp_remove(&t);
out:
    names_free(&t);
    return rc;
}

static void restore_init(struct restore *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->err = err;
    r->errlen = errlen;
    r->archive_fd = -1;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
}

/* What every entry point does last: a message for every error. */
static int restore_done(struct restore *r, int rc)
{
    if (rc < 0 && r->err != NULL && r->errlen > 0 && r->err[0] == '\0')
        say(r, rc, "%s", ldb_strerror(rc));
    ldb__os_close(r->archive_fd);
    ldb__free(r->segs);
    return rc;
}

int ldb_restore(const char *backup_path, const char *archive_dir, const char *dest_path,
                uint64_t to_txn, uint64_t to_time_us, uint64_t *restored_txn, char *err,
                size_t errlen)
{
    return ldb_restore_ex(backup_path, archive_dir, dest_path, to_txn, to_time_us, restored_txn,
                          NULL, NULL, err, errlen);
}

int ldb_restore_ex(const char *backup_path, const char *archive_dir, const char *dest_path,
                   uint64_t to_txn, uint64_t to_time_us, uint64_t *restored_txn,
                   ldb_backup_progress_fn progress, void *ctx, char *err, size_t errlen)
{
    struct restore r;
    restore_init(&r, err, errlen);
    r.progress = progress;
    r.progress_ctx = ctx;
    if (backup_path == NULL || archive_dir == NULL || dest_path == NULL || dest_path[0] == '\0')
        return say(&r, LDB_INVALID, "no backup, archive or destination");
    r.stop.to_txn = to_txn ? to_txn : UINT64_MAX;
    r.stop.to_time_us = to_time_us;
    int rc = restore_into(&r, backup_path, archive_dir, dest_path);
    if (rc == 0 && restored_txn != NULL)
        *restored_txn = r.txn;
    return restore_done(&r, rc);
}

/* ---- following the archive: a replica -------------------------------------------- */

/* Apply the segments after the replica's newest txn. Each archived txn is
 * replayed as one write txn and committed, so a reader in any process sees
 * whole txns, each one a state the original had; a checkpoint after each
 * segment makes it durable. The commits themselves are not synced
 * (LDB_SYNC_OFF): a crash loses at most the txns of the segment being
 * applied, which the next call applies again. */
static int follow_apply(struct restore *r, const char *archive_dir, const char *replica)
{
    ldb_options o;
    memset(&o, 0, sizeof o);
    o.flags = LDB_NOCREATE;
    o.sync_mode = LDB_SYNC_OFF;
    o.max_dbs = 1; /* replay finds trees by name, never through handles */
    int rc = ldb_open(replica, &o, &r->env);
    if (rc < 0)
        return say(r, rc, "replica %s: %s", replica, ldb_strerror(rc));
    struct ldb__commit_state cs;
    rc = ldb__lock_state_read(&r->env->lock, &cs);
    if (rc < 0) {
        (void)ldb_close(r->env);
        r->env = NULL;
        return say(r, rc, "replica %s: %s", replica, ldb_strerror(rc));
    }
    r->db_id = r->env->db_id;
    r->txn = r->base_txn = cs.snap.txnid;
    rc = load_segments(r, archive_dir);
    r->env->recovering = 1; /* no checkpoint recycles anything mid-segment */
    if (rc == 0)
        rc = replay_all(r);
    int closed = ldb_close(r->env); /* recovering: no trim txn (see build) */
    r->env = NULL;
    return rc < 0 ? rc : closed;
}

int ldb_restore_follow(const char *backup_path, const char *archive_dir, const char *replica_path,
                       uint64_t *replica_txn, char *err, size_t errlen)
{
    struct restore r;
    restore_init(&r, err, errlen);
    if (archive_dir == NULL || replica_path == NULL || replica_path[0] == '\0')
        return say(&r, LDB_INVALID, "no archive or replica");
    r.stop.to_txn = UINT64_MAX;
    r.replica = 1;
    int exists;
    int rc = ldb__os_exists(replica_path, &exists);
    if (rc == 0 && !exists && backup_path == NULL)
        rc = say(&r, -ENOENT, "no replica at %s, and no backup to build it from", replica_path);
    else if (rc == 0 && !exists)
        rc = restore_into(&r, backup_path, archive_dir, replica_path);
    else if (rc == 0)
        rc = follow_apply(&r, archive_dir, replica_path);
    if (replica_txn != NULL)
        *replica_txn = r.txn;
    return restore_done(&r, rc);
}

/* ---- the archive, for operators ------------------------------------------------ */

static void describe(int dirfd, const struct ldb__archive_seg *s, ldb_archive_segment *out)
{
    memset(out, 0, sizeof *out);
    out->name = s->name;
    out->db_id = s->db_id;
    out->first_txn = s->first;
    out->last_txn = s->last;
    int fd = -1;
    struct ldb__archive_info info;
    int rc = ldb__os_openat(dirfd, s->name, O_RDONLY, 0, &fd);
    if (rc == 0)
        rc = ldb__archive_inspect(fd, &info);
    ldb__os_close(fd);
    if (rc == 0) {
        out->bytes = info.bytes;
        out->first_time_us = info.first_time_us;
        out->last_time_us = info.last_time_us;
        out->version = info.version;
        if (info.db_id != s->db_id)
            rc = LDB_MISMATCH;
        else if (info.first_txn != s->first || info.last_txn < s->last)
            rc = LDB_CORRUPTED;
    }
    out->status = rc;
}

int ldb_archive_list(const char *dir, ldb_archive_fn fn, void *ctx)
{
    if (dir == NULL || fn == NULL)
        return LDB_INVALID;
    int dirfd = -1;
    TRY(ldb__os_open_dir(dir, &dirfd));
    struct ldb__archive_seg *segs = NULL;
    size_t n = 0;
    int rc = ldb__archive_list(dirfd, &segs, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        ldb_archive_segment seg;
        describe(dirfd, &segs[i], &seg);
        rc = fn(ctx, &seg);
    }
    ldb__free(segs);
    ldb__os_close(dirfd);
    return rc;
}

int ldb_archive_prune(const char *dir, const char *backup_path, uint64_t *removed)
{
    if (dir == NULL || backup_path == NULL)
        return LDB_INVALID;
    uint64_t db_id, txnid, size, count = 0;
    TRY(backup_identity(backup_path, &db_id, &txnid, &size));
    int dirfd = -1;
    TRY(ldb__os_open_dir(dir, &dirfd));
    struct ldb__archive_seg *segs = NULL;
    size_t n = 0, ours = 0;
    int rc = ldb__archive_list(dirfd, &segs, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (segs[i].db_id != db_id)
            continue;
        ours++;
        if (segs[i].last > txnid)
            continue; /* holds txns after the backup: a restore needs it */
        rc = ldb__os_unlinkat(dirfd, segs[i].name);
        if (rc == 0)
            count++;
    }
    if (rc == 0 && count > 0)
        rc = ldb__os_fsync(dirfd);
    if (rc == -EINVAL)
        rc = 0; /* a filesystem that cannot sync a directory */
    if (rc == 0 && ours == 0 && n > 0)
        rc = LDB_MISMATCH;
    ldb__free(segs);
    ldb__os_close(dirfd);
    if (removed != NULL)
        *removed = count;
    return rc;
}
