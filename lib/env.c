/* SPDX-License-Identifier: MIT */
/*
 * env.c: ldb_open, ldb_close, ldb_sync, ldb_stat_env, ldb_reader_check.
 *
 * Open order matters. The data file is opened first and must be a regular
 * file, so nothing is created beside a directory, FIFO or device. Then the
 * lock file is opened (and flock'ed) before the data file is initialised or
 * read, so the first opener initialises both while it holds the exclusive
 * lock and later openers only ever see a finished database and lock header.
 * Side files (lock, log) may have been planted by whoever can write the
 * directory: they are opened without following symbolic links and must be
 * regular files of the data file's owner with no other name (os.h).
 */
#include "env.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "abi.h"
#include "alloc.h"
#include "dbi.h"
#include "dict.h"
#include "durable.h"
#include "error.h"
#include "freelist.h"
#include "meta.h"
#include "os.h"
#include "page.h"
#include "recovery.h"
#include "space.h"
#include "value.h"

static int fill_options(const ldb_options *in, ldb_options *o)
{
    if (in)
        *o = *in;
    else
        memset(o, 0, sizeof *o);
    if (o->flags & ~(unsigned)(LDB_RDONLY | LDB_NOCREATE | LDB_IMMUTABLE))
        return LDB_INVALID;
    if (o->flags & LDB_IMMUTABLE)
        o->flags |= LDB_RDONLY;
    if (o->sync_mode != LDB_SYNC_FULL && o->sync_mode != LDB_SYNC_OFF)
        return LDB_INVALID;
    if (o->page_size == 0)
        o->page_size = LDB_DEFAULT_PAGE_SIZE;
    if (o->page_size < LDB_MIN_PAGE_SIZE || o->page_size > LDB_MAX_PAGE_SIZE ||
        (o->page_size & (o->page_size - 1)))
        return LDB_INVALID;
    TRY(ldb__compress_check_options(o->compression, o->compression_level));
    if (o->max_size == 0)
        o->max_size = LDB_DEFAULT_MAX_SIZE;
    if (o->max_size < 4ull * LDB_MAX_PAGE_SIZE)
        return LDB_INVALID;
    if (o->cache_size == 0)
        o->cache_size = LDB_DEFAULT_CACHE_SIZE;
    if (o->max_readers == 0)
        o->max_readers = LDB_DEFAULT_MAX_READERS;
    if (o->max_readers > LDB_MAX_READERS_LIMIT)
        return LDB_INVALID;
    if (o->max_dbs == 0)
        o->max_dbs = LDB_DEFAULT_MAX_DBS;
    if (o->max_dbs > LDB_MAX_DBS_LIMIT)
        return LDB_INVALID;
    o->max_dbs++; /* slot 0 is LDB_MAIN */
    if (o->wal_max_bytes == 0)
        o->wal_max_bytes = LDB_DEFAULT_WAL_MAX;
    if (o->file_mode == 0)
        o->file_mode = LDB_DEFAULT_FILE_MODE;
    if (o->file_mode & ~07777u)
        return LDB_INVALID;
    return 0;
}

/* A new, empty database: meta 0 at txn 0 in two pages, made durable with
 * the directory entry that names it. A creation that dies part-way must be
 * told from a file of someone else's, so (first opener, lock file held
 * exclusively) the lock file is marked first, then meta 0 is written and
 * synced before the file grows: what a death leaves is an empty file, at
 * most LDB_META_BYTES of zeros (the size reached the disk, the bytes did
 * not) beside the mark, or a valid meta 0 at txn 0 in a file not yet grown;
 * never pages of zeros (see half_created). */
static int create_database(ldb_env *env, const struct ldb__os_file *info)
{
    if (!(env->opts.flags & LDB_IMMUTABLE))
        TRY(ldb__lock_mark_creating(&env->lock, info->dev, info->ino));
    struct meta_page m;
    ldb__meta_init(&m, env->opts.page_size);
    m.db_id = ldb__new_salt();
    TRY(ldb__meta_write(env->fd, &m, 0));
    TRY(ldb__os_fdatasync(env->fd));
    TRY(ldb__os_grow(env->fd, 2ull * env->opts.page_size));
    TRY(ldb__os_fsync(env->fd));
    return ldb__os_fsync_parent_dir(env->path);
}

/* 1 if the file holds at most max bytes, all zero. */
static int small_and_zero(int fd, uint64_t size, uint64_t max)
{
    uint8_t buf[LDB_META_BYTES];
    if (size > max || size > sizeof buf || ldb__os_pread_full(fd, buf, (size_t)size, 0) < 0)
        return 0;
    for (size_t i = 0; i < size; i++)
        if (buf[i])
            return 0;
    return 1;
}

/* 1 if the data file is empty (a file this open created is, until another
 * first opener initialises it), or a database whose creation died before it
 * was complete (create_database), so this opener may create it (again); 0
 * for anything else, which an open never overwrites. */
static int half_created(ldb_env *env, const struct ldb__os_file *info)
{
    if (info->size == 0)
        return 1;
    if (small_and_zero(env->fd, info->size, LDB_META_BYTES) &&
        ldb__lock_was_creating(&env->lock, info->dev, info->ino))
        return 1;
    /* Meta 0 written and synced, the file not yet grown: still txn 0 and
     * empty, so nothing is lost by writing it again. */
    struct meta_page m;
    unsigned slot;
    if (ldb__meta_read_newest(env->fd, info->size, &m, &slot) < 0)
        return 0;
    return slot == 0 && m.txnid == 0 && m.npages == LDB_META_PAGES && m.main_tree.root == 0 &&
           m.catalog_tree.root == 0 && m.free_tree.root == 0 &&
           info->size < (uint64_t)m.npages * m.page_size;
}

/* The data file, checked before any side file is made beside it: a regular
 * file (a FIFO would block the open, a directory or device is not a
 * database), created empty if missing and allowed. Side files get its
 * owner and permission bits. */
static int open_data_file(ldb_env *env, int *created, struct ldb__os_file *info)
{
    int rdonly = (env->opts.flags & LDB_RDONLY) != 0;
    int flags = rdonly ? O_RDONLY : O_RDWR;
    if (!rdonly && !(env->opts.flags & LDB_NOCREATE))
        flags |= O_CREAT;
    TRY(ldb__os_open_regular(env->path, flags, env->opts.file_mode, &env->fd, created, info));
    env->owner = info->uid;
    env->opts.file_mode = info->mode & 0777u;
    return 0;
}

/* env->wal_sync_fd: the log's file opened a second time, or -1 (the
 * background syncs are then write-back hints on wal_fd, durable.c). The
 * same file or none: a path swapped between the two opens is refused.
 * Only LDB_SYNC_OFF commits sync in the background (commit.c), and an
 * env's sync mode is fixed at open. */
static void open_log_sync_fd(ldb_env *env)
{
    struct ldb__os_file a, b;
    int fd;
    if (env->opts.sync_mode != LDB_SYNC_OFF)
        return;
    if (ldb__os_open(env->wal_path, O_RDONLY, 0, &fd) != 0)
        return;
    if (ldb__os_stat(env->wal_fd, &a) == 0 && ldb__os_stat(fd, &b) == 0 && a.dev == b.dev &&
        a.ino == b.ino)
        env->wal_sync_fd = fd;
    else
        ldb__os_close(fd);
}

/* The log, for a handle that may write: the first opener creates it if
 * needed, replays it, checkpoints and starts a fresh generation; later
 * openers just open it. */
static int open_log(ldb_env *env, int first, uint64_t meta_txnid)
{
    int created = 0;
    /* Created if missing: a new database, or a data file restored without
     * its log (then the first opener, read-only, had nothing to replay). The
     * first writer starts a generation in it (ldb__checkpoint_if_due). */
    TRY(ldb__os_open_side(env->wal_path, O_RDWR | O_CREAT, env->opts.file_mode, env->owner,
                          &env->wal_fd, &created));
    open_log_sync_fd(env);
    TRY(ldb__io_init(&env->io));
    env->io_ready = 1;
    if (!first)
        return created ? ldb__os_fsync_parent_dir(env->wal_path) : 0;
    uint64_t replayed;
    env->recovering = 1;
    int rc = ldb__recover(env, meta_txnid, &replayed);
    env->recovering = 0;
    TRY(rc);
    int died;
    TRY(ldb__lock_writer(&env->lock, 0, &died));
    rc = replayed ? ldb__checkpoint_locked(env, NULL) : 0;
    if (rc == 0)
        rc = ldb__log_start(env);
    int released = ldb__lock_writer_release(&env->lock);
    TRY(rc);
    TRY(released);
    return created ? ldb__os_fsync_parent_dir(env->wal_path) : 0;
}

static void env_free(ldb_env *env)
{
    ldb__env_unmap_all(env);
    ldb__lock_close(&env->lock);
    ldb__os_close(env->fd);
    ldb__os_close(env->wal_fd);
    ldb__os_close(env->wal_sync_fd);
    ldb__os_close(env->archive_fd);
    if (env->io_ready)
        ldb__io_destroy(&env->io);
    ldb__free(env->wal_path);
    ldb__dbi_table_free(env);
    ldb__buffer_pool_destroy(&env->buffers);
    ldb__written_destroy(&env->written);
    ldb__cache_close(env->cache);
    ldb__compressor_destroy(&env->compressor);
    ldb__free(env->adapt);
    ldb__dict_cache_close(env->dicts);
    pthread_mutex_destroy(&env->mutex);
    env->magic = LDB_DEAD_MAGIC;
    ldb__free(env->path);
    ldb__free(env);
}

#ifdef LDB_TEST_HOOKS
void ldb__env_abandon(ldb_env *env)
{
    env_free(env);
}
#endif

static int open_env(const char *path, const ldb_options *opts, ldb_env **out);

/* Internal: a read-only first opener found a log to replay. */
#define NEEDS_RECOVERY (-30100)

int ldb__env_open(const char *path, const ldb_options *opts, ldb_env **out)
{
    int rc = open_env(path, opts, out);
    /* A read-only first opener found a log to replay. Recovery only makes
     * committed txns durable in the data file, so do it through a writable
     * handle if this process may write the files, then open read-only
     * again (first again only if no one else has it open, and then a writer
     * may have died meanwhile and left a log again: a few rounds). */
    for (int round = 0; rc == NEEDS_RECOVERY; round++) {
        if (round == 3)
            return LDB_BUSY;
        ldb_options rw = *opts;
        rw.flags &= ~(unsigned)LDB_RDONLY;
        rw.flags |= LDB_NOCREATE;
        ldb_env *w;
        rc = open_env(path, &rw, &w);
        if (rc == -EACCES || rc == -EROFS || rc == -EPERM)
            return LDB_READONLY;
        TRY(rc);
        TRY(ldb_close(w));
        rc = open_env(path, opts, out);
    }
    return rc;
}

static int open_env(const char *path, const ldb_options *opts, ldb_env **out)
{
    if (path == NULL || path[0] == '\0' || out == NULL)
        return LDB_INVALID;
    ldb__fork_watch();
    ldb_env *env = ldb__calloc(1, sizeof *env);
    if (env == NULL)
        return -ENOMEM;
    env->fd = -1;
    env->wal_fd = -1;
    env->wal_sync_fd = -1;
    env->archive_fd = -1;
    env->lock.fd = -1;
    pthread_mutex_init(&env->mutex, NULL);
    int rc = fill_options(opts, &env->opts);
    if (rc < 0) {
        ldb__free(env);
        return rc;
    }
    env->fork_generation = ldb__fork_generation();
    env->path = ldb__strdup(path);
    if (env->path == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    int immutable = (env->opts.flags & LDB_IMMUTABLE) != 0, first = 1, created;
    env->wal_path = ldb__str_concat(path, "-wal");
    if (env->wal_path == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    /* The data file first: nothing is made beside a path that is missing
     * (and may not be created) or is not a regular file. */
    struct ldb__os_file info;
    CHECK_GOTO(rc, open_data_file(env, &created, &info), fail);
    CHECK_GOTO(rc, ldb__meta_foreign(env->fd, info.size), fail);
    if (rc == 1) {
        rc = LDB_CORRUPT(); /* someone else's file: make nothing beside it */
        goto fail;
    }
    if (!immutable) {
        char *lock_path = ldb__str_concat(path, "-lock");
        if (lock_path == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        rc = ldb__lock_open(&env->lock, lock_path, env->opts.file_mode, env->owner, &first);
        ldb__free(lock_path);
        if (rc < 0)
            goto fail;
    }
    uint64_t size;
    CHECK_GOTO(rc, ldb__os_file_size(env->fd, &size), fail);
    info.size = size;
    if (half_created(env, &info)) {
        if ((env->opts.flags & LDB_RDONLY) || !first) {
            rc = LDB_CORRUPT(); /* not a database (and not ours to create) */
            goto fail;
        }
        CHECK_GOTO(rc, create_database(env, &info), fail);
        CHECK_GOTO(rc, ldb__os_file_size(env->fd, &size), fail);
    }
    struct meta_page m;
    unsigned meta_slot;
    CHECK_GOTO(rc, ldb__meta_read_newest(env->fd, size, &m, &meta_slot), fail);
    env->page_size = m.page_size;
    env->db_id = m.db_id;
    env->opts.page_size = m.page_size; /* an existing database keeps its own */
    uint64_t used;
    if (__builtin_mul_overflow(m.npages, m.page_size, &used) || used > size) {
        rc = LDB_CORRUPT(); /* the file was truncated */
        goto fail;
    }
    env->key_max = ldb__key_max(env->page_size);
    env->buffers.page_size = env->page_size;
    uint64_t map_len = env->opts.max_size > size ? env->opts.max_size : size;
    map_len = (map_len + env->page_size - 1) / env->page_size * env->page_size;
    if (map_len > SIZE_MAX) {
        rc = LDB_INVALID;
        goto fail;
    }
    env->map_len = (size_t)map_len;
    void *map;
    CHECK_GOTO(rc, ldb__os_map(env->fd, env->map_len, &map), fail);
    env->map = map;
    CHECK_GOTO(rc, ldb__dbi_table_init(env), fail);
    env->adapt = ldb__calloc(env->opts.max_dbs, sizeof *env->adapt);
    if (env->adapt == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    CHECK_GOTO(rc, ldb__cache_open(env->opts.cache_size, LDB_CACHE_SHARDS, &env->cache), fail);
    CHECK_GOTO(rc, ldb__dict_cache_open(&env->dicts), fail);
    struct ldb__commit_state cs;
    memset(&cs, 0, sizeof cs);
    cs.snap = (struct ldb__snapshot){m.txnid, m.npages, m.main_tree, m.catalog_tree, m.free_tree};
    cs.data_size = size;
    int rdonly = (env->opts.flags & LDB_RDONLY) != 0;
    if (immutable || first) {
        /* A handle that cannot replay the log refuses a database that needs
         * it; and damage hiding a durable txn fails every first opener here,
         * before it writes any file, the lock file included. */
        int pending;
        CHECK_GOTO(rc, ldb__recovery_pending(env->wal_path, env->owner, m.txnid, m.db_id,
                                             &pending), fail);
        if (pending && (immutable || rdonly)) {
            rc = immutable ? LDB_READONLY : NEEDS_RECOVERY;
            goto fail;
        }
    }
    if (immutable) {
        CHECK_GOTO(rc, ldb__lock_open_private(&env->lock, env->opts.max_readers, &cs, meta_slot),
                   fail);
    } else if (first) {
        CHECK_GOTO(rc, ldb__lock_init(&env->lock, env->opts.max_readers, env->page_size, &cs,
                                      meta_slot),
                   fail);
    } else {
        CHECK_GOTO(rc, ldb__lock_attach(&env->lock, env->page_size), fail);
    }
    env->magic = LDB_ENV_MAGIC;
    if (!rdonly && env->opts.archive_dir != NULL)
        CHECK_GOTO(rc, ldb__os_open_dir(env->opts.archive_dir, &env->archive_fd), fail);
    env->opts.archive_dir = NULL; /* the caller's string: the descriptor stands for it */
    if (!rdonly)
        CHECK_GOTO(rc, open_log(env, first, m.txnid), fail);
    if (first && !immutable)
        CHECK_GOTO(rc, ldb__lock_ready(&env->lock), fail);
    env->magic = LDB_ENV_MAGIC;
    *out = env;
    return 0;
fail:
    env_free(env);
    return rc;
}

/* The last process to close (it holds the lock file exclusively, and the
 * writer mutex), right after a checkpoint: the log holds nothing needed, so
 * give its space back. A later opener starts a new generation in it. */
static int drop_log(ldb_env *env)
{
    TRY(ldb__os_truncate(env->wal_fd, 0));
    struct ldb__commit_state cs;
    TRY(ldb__lock_state_read(&env->lock, &cs));
    cs.wal_end = 0;
    cs.wal_size = 0;
    return ldb__lock_state_write(&env->lock, &cs);
}

int ldb_close(ldb_env *env)
{
    if (env == NULL || env->magic != LDB_ENV_MAGIC)
        return LDB_INVALID;
    pthread_mutex_lock(&env->mutex);
    unsigned open = env->open_txns;
    pthread_mutex_unlock(&env->mutex);
    if (ldb__env_check(env) != 0) {
        /* A forked child: the handle is the parent's. Free this process's
         * copy of it, touching nothing shared, and say so. */
        env_free(env);
        return LDB_INVALID;
    }
    if (open != 0)
        return LDB_INVALID;
    int rc = 0;
    if (env->wal_fd >= 0 && !__atomic_load_n(&env->panic, __ATOMIC_ACQUIRE)) {
        /* Make this env's LDB_SYNC_OFF commits durable, then fold the log
         * into the data file so the next open has nothing to replay, unless
         * another process is writing: it will checkpoint in its turn, and
         * closing must not wait for it. */
        rc = ldb__log_sync(env);
        int died;
        if (rc == 0 && ldb__lock_writer(&env->lock, 1, &died) == 0) {
            env->archive_rc = 0;
            rc = ldb__checkpoint_locked(env, NULL);
            if (rc == 0) {
                rc = ldb__space_trim(env, 1);
                if (rc == 0)
                    rc = env->archive_rc; /* the log stays for the next open to archive */
            }
            if (rc == 0 && ldb__lock_alone(&env->lock))
                rc = drop_log(env);
            int released = ldb__lock_writer_release(&env->lock);
            if (rc == 0)
                rc = released;
        }
    }
    env_free(env);
    return rc;
}

int ldb_sync(ldb_env *env)
{
    TRY(ldb__env_check(env));
    if (env->opts.flags & LDB_RDONLY)
        return 0;
    return ldb__log_sync(env);
}

int ldb_checkpoint(ldb_env *env)
{
    return ldb_checkpoint_ex(env, 0);
}

int ldb_checkpoint_ex(ldb_env *env, unsigned flags)
{
    TRY(ldb__env_check(env));
    if (flags & ~(unsigned)LDB_CHECKPOINT_NOWAIT)
        return LDB_INVALID;
    if (env->opts.flags & LDB_RDONLY)
        return LDB_READONLY;
    if (__atomic_load_n(&env->panic, __ATOMIC_ACQUIRE))
        return LDB_PANIC;
    int died;
    TRY(ldb__lock_writer(&env->lock, (flags & LDB_CHECKPOINT_NOWAIT) != 0, &died));
    env->archive_rc = 0;
    int rc = ldb__checkpoint_locked(env, NULL);
    if (rc == 0) {
        rc = ldb__space_trim(env, 1);
        if (rc == 0)
            rc = env->archive_rc; /* the checkpoint stands; the log waits for the archive */
    }
    int released = ldb__lock_writer_release(&env->lock);
    return rc < 0 ? rc : released;
}

int ldb__env_stat(ldb_env *env, ldb_stat *st)
{
    TRY(ldb__env_check(env));
    if (st == NULL)
        return LDB_INVALID;
    memset(st, 0, sizeof *st);
    ldb_txn *txn;
    uint64_t free_pages = 0;
    int rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
    if (rc == LDB_BUSY) {
        /* Every reader slot is taken: counting free pages needs a snapshot
         * of its own, so report the rest and no free pages. */
        struct ldb__snapshot snap;
        TRY(ldb__lock_read_published(&env->lock, &snap));
        st->last_txn_id = snap.txnid;
        st->pages_used = snap.npages;
    } else {
        TRY(rc);
        rc = ldb__freelist_count(&txn->pager, &txn->snap.free_tree, &free_pages);
        st->last_txn_id = txn->snap.txnid;
        st->pages_used = txn->snap.npages - free_pages;
        ldb_txn_abort(txn);
        TRY(rc);
    }
    st->pages_free = free_pages;
    st->page_size = env->page_size;
    TRY(ldb__os_file_size(env->fd, &st->file_size));
    st->max_size = env->opts.max_size;
    st->readers_max = env->lock.hdr->max_readers;
    ldb__lock_reader_stats(&env->lock, &st->readers_used, &st->oldest_reader_txn_id);
    st->oldest_reader_lag_us = ldb__lock_reader_longest_ns(&env->lock) / 1000;
    struct ldb__cache_stats cst;
    ldb__cache_stats(env->cache, &cst);
    st->cache_hits = cst.hits;
    st->cache_misses = cst.misses;
    st->cache_bytes = cst.bytes;
    st->commits = __atomic_load_n(&env->commits, __ATOMIC_RELAXED);
    st->checkpoints = __atomic_load_n(&env->lock.hdr->checkpoints, __ATOMIC_RELAXED);
    st->archive_segments = __atomic_load_n(&env->archive_segments, __ATOMIC_RELAXED);
    st->archive_failures = __atomic_load_n(&env->archive_failures, __ATOMIC_RELAXED);
    if (!(env->opts.flags & LDB_IMMUTABLE)) {
        /* The log's state is shared: a read-only env sees the writers'. */
        struct ldb__commit_state cs;
        TRY(ldb__lock_state_read(&env->lock, &cs));
        st->wal_size = cs.wal_end > WAL_HEADER_SIZE ? cs.wal_end - WAL_HEADER_SIZE : 0;
    }
    return 0;
}

int ldb_reader_check(ldb_env *env, int *cleared)
{
    TRY(ldb__env_check(env));
    return ldb__lock_reader_check(&env->lock, cleared);
}

size_t ldb_max_key_size(const ldb_env *env)
{
    if (ldb__env_check(env) != 0)
        return ldb__key_max(LDB_DEFAULT_PAGE_SIZE);
    return env->key_max;
}
