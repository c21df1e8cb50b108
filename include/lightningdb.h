/* SPDX-License-Identifier: MIT */
/**
 * @file lightningdb.h
 * @brief Lightning DB: an embedded, transactional key-value store.
 *
 * A copy-on-write B+tree in one memory-mapped file. One writer at a time
 * (across every process that has the database open), any number of readers,
 * each on a consistent snapshot, never blocked by the writer or each other.
 *
 * Conventions that hold for every function below:
 *  - Every `int` function returns 0 on success, or a negative code: one of the
 *    `LDB_*` codes, or `-errno` for an operating-system error (`-ENOENT`,
 *    `-EACCES`, `-ENOSPC`, ...). ldb_strerror() names any of them.
 *  - Handles are opaque. Passing NULL, or a handle of the wrong kind, gives
 *    #LDB_INVALID where that is detectable.
 *  - Keys are byte strings ordered by `memcmp`, a shorter key first on a tie.
 *
 * Thread rules: an ::ldb_env may be shared by any number of threads. A txn
 * and its cursors are used by one thread at a time; a read txn may move
 * between threads, a write txn stays on the thread that began it (its commit
 * or abort elsewhere is refused: ldb_txn_commit()). A thread may hold read
 * txns while it runs a write txn.
 *
 * Processes: any number of processes may open the same path at once. A
 * process that forks must not use its parent's env in the child: every call
 * on it there gives #LDB_INVALID. Open a new env in the child instead.
 */
#ifndef LIGHTNINGDB_H
#define LIGHTNINGDB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* LDB_VERSION_MAJOR, _MINOR, _PATCH, _STRING, _NUMBER: written by configure,
 * installed beside this header. */
#include "lightningdb_version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define LDB_API __attribute__((visibility("default")))
#else
#define LDB_API
#endif

/** @name Handles and values */
/**@{*/
typedef struct ldb_env ldb_env;       /**< an open database: data file, lock file, log */
typedef struct ldb_txn ldb_txn;       /**< a read or write transaction */
typedef struct ldb_cursor ldb_cursor; /**< an ordered position in one tree */
typedef unsigned int ldb_dbi;         /**< a tree (named sub-database) handle */
/** The main tree: always valid, never opened. */
#define LDB_MAIN ((ldb_dbi)0)

/** A byte string: a key or a value. */
typedef struct ldb_val {
    size_t size;      /**< length in bytes */
    const void *data; /**< the bytes; never written through by the library */
} ldb_val;
/**@}*/

/** @name Result codes
 * Besides these, functions return `-errno` for operating-system errors. */
/**@{*/
#define LDB_NOTFOUND (-30001)  /**< no such key; cursor moved past either end */
#define LDB_EXISTS (-30002)    /**< #LDB_NOOVERWRITE or #LDB_APPEND and the key is in the way */
#define LDB_CORRUPTED (-30003) /**< a checksum or structural check failed */
#define LDB_FULL (-30004)      /**< ldb_options.max_size reached */
#define LDB_BUSY (-30005)      /**< writer held (#LDB_TXN_NOWAIT), or no reader slot free */
#define LDB_INVALID (-30006)   /**< bad argument or misuse (wrong txn kind, bad flags) */
#define LDB_TOOBIG (-30007)    /**< key or value over its limit */
#define LDB_READONLY (-30008)  /**< write through a read-only env or txn */
#define LDB_VERSION (-30009)   /**< file format this build cannot read */
#define LDB_PANIC (-30010)     /**< fatal I/O error (e.g. fsync failed): close and reopen */
#define LDB_DBS_FULL (-30011)  /**< ldb_options.max_dbs named trees are open in this env */
#define LDB_MISMATCH (-30012)  /**< files of different databases (a backup and an archive) */
/**@}*/

/**
 * @brief A description of a result code.
 * @param rc any int: 0, an `LDB_*` code, `-errno`, or anything else.
 * @return a static string, never NULL.
 */
LDB_API const char *ldb_strerror(int rc);

/** @brief The library version, `"MAJOR.MINOR.PATCH"`, digits only: the
 *  version of the library the program runs against, where
 *  #LDB_VERSION_STRING is the one it was compiled against. */
LDB_API const char *ldb_version(void);

/** @name Environment flags (ldb_options.flags) */
/**@{*/
/** This handle never writes the database; write txns give #LDB_READONLY. */
#define LDB_RDONLY 0x1
/** Fail with `-ENOENT` instead of creating a missing database. */
#define LDB_NOCREATE 0x2
/** A file nothing will change (a snapshot copy, read-only media): implies
 *  #LDB_RDONLY; no lock file is created or used; any number of processes. */
#define LDB_IMMUTABLE 0x4
/**@}*/

/** @name Durability (ldb_options.sync_mode) */
/**@{*/
/** Default. A commit that returned 0 survives a process crash, an OS crash
 *  and power loss. */
#define LDB_SYNC_FULL 0
/** Commits are appended to the write-ahead log without waiting for a sync.
 *  A committed txn survives a crash of the process; after an OS crash or
 *  power loss the database opens to some prefix of the committed txns,
 *  never a damaged state. ldb_sync() makes every committed txn durable. */
#define LDB_SYNC_OFF 1
/**@}*/

/** @name Compression (ldb_options.compression)
 * With #LDB_COMPRESS_LZ4 or #LDB_COMPRESS_ZSTD, a value of 160 bytes or more
 * is stored compressed when that saves at least an eighth of it, else as it
 * is. Each stored value records its codec: a database written under any
 * setting reads under any other, and the setting may change between opens
 * (it only decides how new values are written). A tree whose recent values
 * kept failing to compress stops trying for a while and probes again later.
 * Compressed values are returned decompressed, from a cache of
 * ldb_options.cache_size bytes shared by the env's threads.
 * A library built without a codec (configure --without-lz4 or
 * --without-zstd) refuses it: ldb_open() with it gives #LDB_INVALID, and
 * reading a value stored with it gives #LDB_VERSION. */
/**@{*/
#define LDB_COMPRESS_NONE 0
#define LDB_COMPRESS_LZ4 1
#define LDB_COMPRESS_ZSTD 2
/**@}*/

/**
 * @brief Options for ldb_open(). All-zero means every default.
 */
typedef struct ldb_options {
    unsigned flags;    /**< #LDB_RDONLY | #LDB_NOCREATE | #LDB_IMMUTABLE */
    int sync_mode;     /**< #LDB_SYNC_FULL (0, default) or #LDB_SYNC_OFF */
    unsigned page_size; /**< 0 = 4096; a power of two 4096..65536, fixed at creation
                             (an existing database keeps its own) */
    uint64_t max_size; /**< largest this env's write txns may grow the data
                            file; 0 = 1 TiB. A file another env grew past it
                            still reads whole (the map follows the file), and
                            write txns may use the pages it already holds. */
    size_t cache_size; /**< bytes of cache for decompressed values (an ARC,
                            split in 16 shards; a value over a sixteenth of it
                            is decompressed per read and not cached); 0 = 64 MiB */
    int compression;   /**< #LDB_COMPRESS_NONE (0), #LDB_COMPRESS_LZ4 or
                            #LDB_COMPRESS_ZSTD: how this env writes values */
    int compression_level; /**< zstd: ZSTD_minCLevel() (negative, fastest) to
                            ZSTD_maxCLevel(), 0 = zstd's default (3). LZ4: 0..2
                            the default compressor, -1..-65537 LZ4 fast with
                            acceleration -level, 3..12 LZ4HC at that level.
                            Must be 0 with #LDB_COMPRESS_NONE. */
    unsigned max_readers;  /**< concurrent read txns, all processes; 0 = 126.
                                The first process to open the database sets it. */
    unsigned max_dbs;      /**< named trees open at once in this env; 0 = 128 */
    uint64_t wal_max_bytes; /**< checkpoint once the write-ahead log is this big;
                                 0 = 64 MiB. A txn whose log record would pass
                                 half of it commits as a checkpoint instead.
                                 Under #LDB_SYNC_OFF, without an archive_dir,
                                 the checkpoint waits (the log up to 8 times
                                 this) while the commits since the last one
                                 hold back under a sixteenth of it in pages. */
    unsigned file_mode;    /**< permission bits of a data file that ldb_open()
                                creates; 0 = 0644. Masked by the process umask,
                                as open(2) does. Side files created beside an
                                existing data file take its permission bits
                                (also masked by the umask), not file_mode. */
    unsigned reserved;     /**< ignored: fills the padding after file_mode, which
                                programs built against 0.1.0 may leave unset */
    const char *archive_dir; /**< NULL = no log archive. A directory (it must
                                exist) where each log generation is kept,
                                made durable, before a checkpoint recycles it:
                                what ldb_restore() replays on top of a backup.
                                Opened once by ldb_open() (a relative path is
                                taken from the working directory then); the
                                string need not outlive the call. Every
                                process that writes the database should set
                                it: one that does not recycles the log
                                without archiving it (a gap ldb_restore()
                                reports). With an archive, a txn goes through
                                the log however large (up to 4 GiB of log).
                                See ldb_checkpoint() for a failure to archive. */
    /* New fields go here, at the end and nowhere else, each one meaning its
     * default when zero (see "Growing structs" above ldb_open()). */
} ldb_options;

/*
 * Growing structs.
 * ::ldb_options, ::ldb_stat and ::ldb_tree_stat are allocated by callers, and
 * later versions add fields to them (at the end only). So that a program
 * keeps working against a newer library, and a newer program against an
 * older one, each function that takes one has two entry points:
 *  - `ldb_open_sized()`, `ldb_stat_env_sized()`, `ldb_dbi_stat_sized()` take
 *    the struct's size as the caller's header had it. The function-like
 *    macros ldb_open(), ldb_stat_env() and ldb_dbi_stat() call them with
 *    `sizeof`, so code written as `ldb_open(path, &opts, &env)` uses them.
 *  - The functions ldb_open(), ldb_stat_env() and ldb_dbi_stat() themselves
 *    (reached by programs built against 0.1.0, by taking their address, or
 *    as `(ldb_open)(...)`) mean the 0.1.0 struct, forever.
 *
 * The size rule (as the Linux kernel's clone3 and openat2): a size smaller
 * than 0.1.0's struct gives #LDB_INVALID. Options: fields past the caller's
 * size take their defaults; a caller's struct larger than the library knows
 * is accepted only if every byte the library does not know is zero, else
 * #LDB_INVALID. Figures: the library writes exactly the caller's size and
 * zeroes the fields it does not know. Zero-initialize the structs you pass
 * (`ldb_options o = {0};` or memset), so unknown fields and padding are 0.
 */

/**
 * @brief Set options from text, as an operator writes them:
 * `"sync_mode=off,cache_size=256MiB,compression=zstd:3,max_readers=512"`.
 *
 * Items are `key=value`, separated by commas or newlines; spaces and tabs
 * around keys and values are ignored. Each key sets one field of @p opts and leaves the
 * others as they are, so a program can apply its defaults, then a
 * configuration file, then a command line. Keys: `sync_mode` (`full`,
 * `off`), `page_size`, `max_size`, `cache_size`, `wal_max_bytes` (sizes:
 * digits with an optional unit `B`, `K`/`k`/`KiB`, `M`/`MiB`, `G`/`GiB`,
 * `T`/`TiB` (powers of 1024) or `KB`, `MB`, `GB`, `TB` (powers of 1000)),
 * `max_readers`, `max_dbs` (counts), `compression` (`none`, `lz4`, `zstd`;
 * the last two optionally `:LEVEL`, a negative level included; without it
 * the level is reset to the codec's default, 0), `compression_level`,
 * `file_mode` (octal), `archive_dir` (a path; empty for none; the string
 * is kept by the library for the life of the process, one copy per
 * distinct path), and the flags `rdonly`, `nocreate`, `immutable`
 * (`1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`). Values are checked
 * for form and for overflow here; for range (a page size that is not a
 * power of two, say) by ldb_open().
 *
 * The library never reads the environment or any file for options: the
 * program chooses where the text comes from (the `lightningdb` command
 * reads `LIGHTNINGDB_OPTIONS` and `-o KEY=VALUE`).
 *
 * @param opts options to change; untouched unless every item is good.
 * @param text the items.
 * @param err where to write a message naming the bad key or value (may be
 *            NULL; always NUL-terminated when @p errlen > 0).
 * @param errlen size of @p err.
 * @retval 0 all items applied.
 * @retval LDB_INVALID an unknown key, a malformed or too large value, NULL
 *         @p opts or @p text; nothing was changed.
 */
#define ldb_options_parse(opts, text, err, errlen) \
    ldb_options_parse_sized((opts), sizeof(ldb_options), (text), (err), (errlen))
/** ldb_options_parse() for a caller whose ::ldb_options is @p opts_size
 *  bytes (the macro above passes the size this header was built with). */
LDB_API int ldb_options_parse_sized(ldb_options *opts, size_t opts_size, const char *text,
                                    char *err, size_t errlen);

/**
 * @brief Open (and create, unless told not to) a database.
 *
 * A crash left behind is recovered here: the first process to open the
 * database replays the write-ahead log into the data file. A read-only
 * handle that finds a log to replay does so if this process may write the
 * files, else gives #LDB_READONLY.
 *
 * @param path the data file. The side files `<path>-lock` (shared state of
 *             the processes that have it open) and `<path>-wal` (the
 *             write-ahead log, not with #LDB_RDONLY) are created beside it;
 *             #LDB_IMMUTABLE creates and uses neither. No other file is created.
 *             path must be a regular file (or missing, to be created): a
 *             FIFO, directory or device is refused before any side file is
 *             made. Whoever can write the directory could plant the side
 *             files, so they are opened without following symbolic links
 *             and an existing one must be a regular file, owned by the data
 *             file's owner, with no other name (not a hard link); else the
 *             open fails and the file is left untouched. An existing file
 *             is created as a database only if it is empty, or is what a
 *             creation that died part-way left; other contents that are not
 *             a database (pages of zeros, say) give #LDB_CORRUPTED.
 * @param opts options, or NULL for every default.
 * @param[out] env the new handle, set only on success.
 * @retval 0 success.
 * @retval LDB_INVALID NULL path or env; an option out of range (page_size not a
 *         power of two in 4096..65536, unknown sync_mode, compression or flag bits);
 *         path, `<path>-lock` or `<path>-wal` is not a regular file (a FIFO,
 *         directory, device or socket).
 * @retval -ELOOP `<path>-lock` or `<path>-wal` is a symbolic link.
 * @retval -EPERM `<path>-lock` or `<path>-wal` exists and belongs to another
 *         user than the data file does.
 * @retval -EMLINK `<path>-lock` or `<path>-wal` has another name (a hard link).
 * @retval -ENOENT missing database with #LDB_RDONLY, #LDB_IMMUTABLE or #LDB_NOCREATE.
 * @retval LDB_CORRUPTED no valid meta page: the file is not a database
 *         (then no `-lock` or `-wal` file is made beside it), is an existing
 *         file of zeros, or is damaged; or a record of the write-ahead log
 *         that was durable is damaged (a later record proves it): no file
 *         was changed, and ldb_salvage() can keep the txns before the damage.
 * @retval LDB_VERSION a database of a format this build cannot read.
 * @retval LDB_READONLY the database needs recovery and this handle cannot
 *         write it (#LDB_IMMUTABLE, or #LDB_RDONLY without write permission).
 * @retval -errno the operating system refused (`-EACCES`, `-ENOSPC`, ...);
 *         with ldb_options.archive_dir: the directory cannot be opened, or
 *         the log a previous run left could not be archived (the log is
 *         kept as it was).
 */
LDB_API int ldb_open(const char *path, const ldb_options *opts, ldb_env **env);

/**
 * @brief ldb_open() for a caller whose ::ldb_options is @p opts_size bytes.
 *
 * The ldb_open() macro calls this with `sizeof(ldb_options)`; see "Growing
 * structs". Fields past @p opts_size take their defaults.
 * @retval LDB_INVALID besides ldb_open()'s cases: @p opts_size smaller than
 *         0.1.0's ::ldb_options, or larger than this library's with a byte
 *         it does not know set (an option it cannot honour).
 */
LDB_API int ldb_open_sized(const char *path, const ldb_options *opts, size_t opts_size,
                           ldb_env **env);
/** Route calls to the sized entry point with the size compiled here. */
#define ldb_open(path, opts, env) ldb_open_sized((path), (opts), sizeof(ldb_options), (env))

/**
 * @brief Close a database and free the handle.
 *
 * Every txn of this env must have ended. The committed txns are made durable
 * first (they already are with #LDB_SYNC_FULL), and the log is folded into
 * the data file (a checkpoint) unless another process is writing at that
 * moment: closing never waits for another process's write txn.
 * @retval 0 success (the handle is freed also when an error is returned).
 * @retval LDB_INVALID NULL or not an env; txns still open (nothing is freed
 *         then); or called in a forked child on its parent's env (the child's
 *         copy of the handle is freed, nothing shared is touched).
 * @retval LDB_PANIC a sync failed.
 * @retval -errno with ldb_options.archive_dir: the log could not be archived
 *         (the checkpoint was made; the log is kept, and the next ldb_open()
 *         with the archive archives it).
 */
LDB_API int ldb_close(ldb_env *env);

/**
 * @brief Make every committed txn durable (useful with #LDB_SYNC_OFF): one
 * fdatasync of the write-ahead log. A no-op on a read-only env.
 * @retval 0 success; #LDB_PANIC the sync failed (the env refuses further writes).
 */
LDB_API int ldb_sync(ldb_env *env);

/**
 * @brief Fold the write-ahead log into the data file: sync the data file,
 * write a meta page for the newest committed txn, and start the log afresh.
 * Also happens automatically when the log passes ldb_options.wal_max_bytes
 * and on ldb_close(). Waits for the writer like a write txn. Pages freed
 * from the last checkpoint's data are reused only after the next one, so
 * between checkpoints the file can grow by up to one copy of that data;
 * calling this (or a smaller wal_max_bytes) keeps the file smaller.
 *
 * With ldb_options.archive_dir, the log's records are first copied into
 * the archive as a segment file and made durable there. If that fails
 * (the directory is gone, the disk is full), the checkpoint itself still
 * stands but the log is not started afresh: it keeps every record and goes
 * on growing, this call returns the error, ldb_stat.archive_failures
 * counts it, and the next checkpoint archives the whole log again (an
 * automatic one waits until the log has grown by another wal_max_bytes).
 * No txn is ever left out of the archive by a failure.
 * @retval 0 success; #LDB_READONLY a read-only env; #LDB_PANIC a sync failed.
 * @retval -errno archiving the log failed (see above): the checkpoint was made.
 */
LDB_API int ldb_checkpoint(ldb_env *env);

/** ldb_checkpoint_ex() flag: #LDB_BUSY instead of waiting for the writer. */
#define LDB_CHECKPOINT_NOWAIT 0x1

/**
 * @brief ldb_checkpoint() with @p flags: 0, or #LDB_CHECKPOINT_NOWAIT to
 * return at once when another thread or process holds the writer (a tool
 * that must not hang behind a long write txn retries, or gives up).
 * @retval 0 success; #LDB_BUSY the writer is held and
 * #LDB_CHECKPOINT_NOWAIT was given; #LDB_READONLY a read-only env;
 * #LDB_INVALID an unknown flag, or this thread runs a write txn;
 * #LDB_PANIC a sync failed.
 */
LDB_API int ldb_checkpoint_ex(ldb_env *env, unsigned flags);

/** @name Transactions */
/**@{*/
#define LDB_TXN_RDONLY 0x1 /**< a read-only snapshot */
#define LDB_TXN_NOWAIT 0x2 /**< for a write txn: #LDB_BUSY instead of waiting for the writer */
/**@}*/

/**
 * @brief Begin a transaction.
 *
 * A read txn (#LDB_TXN_RDONLY) sees the database exactly as of its begin and
 * holds one reader slot until it is aborted or committed. A write txn waits
 * for the one writer slot shared by every process (or gives #LDB_BUSY with
 * #LDB_TXN_NOWAIT); it sees its own writes.
 *
 * @retval 0 success, *txn set.
 * @retval LDB_BUSY writer held and #LDB_TXN_NOWAIT; or every reader slot taken.
 * @retval LDB_READONLY a write txn on an env opened #LDB_RDONLY.
 * @retval LDB_INVALID bad flags; env used in a forked child; this thread
 *         already runs a write txn.
 * @retval LDB_PANIC the env has had a fatal I/O error.
 */
LDB_API int ldb_txn_begin(ldb_env *env, unsigned flags, ldb_txn **txn);

/**
 * @brief Commit a txn and free it, whether or not it succeeds, except when a
 * write txn is committed on a thread other than the one that began it while
 * that thread still runs.
 *
 * A write txn holds the writer slot, a mutex only the thread that began the
 * txn can release. On another thread commit is refused with #LDB_INVALID and
 * commits nothing: while the thread that began the txn runs, the txn is not
 * freed and stays open, unchanged, until that thread commits or aborts it;
 * if that thread has exited (the writer slot was handed on when it did), the
 * txn is freed.
 *
 * For a read txn this just ends it. A write txn that met an error other than
 * a refused put or del (see ldb_put()) does not commit: the error it met is
 * returned and nothing of it is applied. With #LDB_SYNC_FULL a write txn
 * returns once it is durable (one fdatasync of the log, shared with the
 * commits of other threads and processes meanwhile); one that changed
 * nothing returns once every txn it could see is durable.
 * @retval 0 committed (and durable with #LDB_SYNC_FULL).
 * @retval LDB_FULL / -ENOSPC out of room; nothing applied, the env stays usable.
 * @retval LDB_PANIC a sync failed; close and reopen.
 * @retval LDB_INVALID not a txn; or a write txn on a thread other than the
 *         one that began it (nothing is committed; the txn is freed only if
 *         that thread has exited).
 */
LDB_API int ldb_txn_commit(ldb_txn *txn);

/**
 * @brief Abandon a txn and free it (and its cursors' use of it). NULL is a
 * no-op; so is a write txn on a thread other than the one that began it while
 * that thread still runs (the txn stays open for it to end: see
 * ldb_txn_commit()).
 */
LDB_API void ldb_txn_abort(ldb_txn *txn);

/**
 * @brief The txn's id: for a write txn, the id it commits as (newest committed
 * + 1); for a read txn, the id of the newest commit in its snapshot. 0 for NULL.
 */
LDB_API uint64_t ldb_txn_id(const ldb_txn *txn);

/**
 * @brief Read txn only: release the snapshot, keep the handle (and its reader
 * slot) for ldb_txn_renew(). No syscall, no lock, no allocation. Cursors of the
 * txn must be closed first.
 */
LDB_API void ldb_txn_reset(ldb_txn *txn);

/**
 * @brief Read txn only, after ldb_txn_reset(): take the newest snapshot.
 * @retval 0 success; #LDB_INVALID not a reset read txn.
 */
LDB_API int ldb_txn_renew(ldb_txn *txn);

/** @name Trees */
/**@{*/
#define LDB_CREATE 0x40000 /**< ldb_dbi_open(): create the tree if missing */
/**@}*/

/**
 * @brief Open a named tree.
 *
 * The handle stays valid for the life of the env once the txn that opened it
 * commits (a read txn's commit counts), until a committed txn deletes the
 * tree. If every txn that opened it ends without committing (an aborted
 * create, or an open in an aborted txn), it is given back: it then gives
 * #LDB_INVALID, never another tree, and counts no more against
 * ldb_options.max_dbs. Names are 1..255 bytes; names that begin with the
 * byte 0x01 are the library's own (#LDB_INVALID) and ldb_dbi_list() skips
 * them.
 * @param name the tree's name; NULL for #LDB_MAIN.
 * @retval LDB_NOTFOUND missing and no #LDB_CREATE.
 * @retval LDB_READONLY #LDB_CREATE of a missing tree in a read txn.
 * @retval LDB_DBS_FULL ldb_options.max_dbs named trees are open in this env
 * already (a handle is given back when every txn that opened it ended
 * without committing, or when a commit deleted its tree).
 * @retval LDB_INVALID a bad name length or flags.
 */
LDB_API int ldb_dbi_open(ldb_txn *txn, const char *name, unsigned flags, ldb_dbi *dbi);

/**
 * @brief Empty a tree (@p delete_tree 0) or delete it (1), in a write txn.
 * #LDB_MAIN can be emptied, not deleted. Once the txn commits, the deleted
 * tree's handle gives #LDB_INVALID (in every txn of this env), and its slot
 * counts no more against ldb_options.max_dbs.
 */
LDB_API int ldb_dbi_drop(ldb_txn *txn, ldb_dbi dbi, int delete_tree);

/**
 * @brief Called by ldb_dbi_list() once per named tree, in name order.
 * @return 0 to go on; anything else stops the walk and is returned.
 */
typedef int (*ldb_tree_fn)(void *ctx, const char *name);

/**
 * @brief List the named trees of a read txn's snapshot (#LDB_MAIN is not
 * named and not listed).
 * @param txn a read txn (a write txn's catalog is complete only once it
 *            commits: #LDB_INVALID).
 * @param fn called with each name (valid during the call only).
 * @retval 0 every tree listed; #LDB_INVALID a write txn or NULL fn;
 *         #LDB_CORRUPTED a damaged catalog; else what @p fn returned.
 */
LDB_API int ldb_dbi_list(ldb_txn *txn, ldb_tree_fn fn, void *ctx);

/** Shape and size of one tree. */
typedef struct ldb_tree_stat {
    uint64_t entries;        /**< keys in the tree */
    uint32_t depth;          /**< levels: 0 empty, 1 a single leaf */
    uint64_t branch_pages, leaf_pages, overflow_pages;
    /* New fields go here, at the end (see "Growing structs"). */
} ldb_tree_stat;

/** @brief Statistics of one tree, as the txn sees it. */
LDB_API int ldb_dbi_stat(ldb_txn *txn, ldb_dbi dbi, ldb_tree_stat *st);
/** @brief ldb_dbi_stat() for a caller whose ::ldb_tree_stat is @p st_size
 *  bytes (see "Growing structs"). */
LDB_API int ldb_dbi_stat_sized(ldb_txn *txn, ldb_dbi dbi, ldb_tree_stat *st, size_t st_size);
/** Route calls to the sized entry point with the size compiled here. */
#define ldb_dbi_stat(txn, dbi, st) ldb_dbi_stat_sized((txn), (dbi), (st), sizeof(ldb_tree_stat))

/** How one tree's values are stored (ldb_dbi_compress_stat()). */
typedef struct ldb_compress_stat {
    uint64_t values;           /**< entries in the tree */
    uint64_t compressed;       /**< of them, stored compressed */
    uint64_t stored_bytes;     /**< bytes the compressed ones take, headers included */
    uint64_t raw_bytes;        /**< bytes the compressed ones hold decompressed;
                                    raw_bytes - stored_bytes is what compression saves */
    /* New fields go here, at the end (see "Growing structs"). */
} ldb_compress_stat;

/**
 * @brief Count a tree's compressed values and the bytes they save, as the
 * txn sees it. Reads every leaf (and the first page of every compressed
 * overflow value): its cost grows with the tree.
 * @retval 0 success; #LDB_INVALID bad handle or NULL @p st;
 * @retval LDB_CORRUPTED a damaged page or value header was met.
 */
LDB_API int ldb_dbi_compress_stat(ldb_txn *txn, ldb_dbi dbi, ldb_compress_stat *st);
/** @brief ldb_dbi_compress_stat() for a caller whose ::ldb_compress_stat is
 *  @p st_size bytes (see "Growing structs"). */
LDB_API int ldb_dbi_compress_stat_sized(ldb_txn *txn, ldb_dbi dbi, ldb_compress_stat *st,
                                        size_t st_size);
/** Route calls to the sized entry point with the size compiled here. */
#define ldb_dbi_compress_stat(txn, dbi, st)                                                        \
    ldb_dbi_compress_stat_sized((txn), (dbi), (st), sizeof(ldb_compress_stat))

/**
 * @brief Train a zstd dictionary on a sample of a tree's values and make it
 * the tree's: from then on, in envs opened with #LDB_COMPRESS_ZSTD, the
 * tree's values of 64 bytes or more are compressed with it (without one the
 * threshold is 160 bytes), so that small values alike in form (JSON
 * records, log lines of 100-500 bytes) compress too.
 *
 * The sample is about 100 times @p dict_bytes of the tree's values (at most
 * 32 MiB), every k-th value in key order so it spans the whole tree, each
 * cut at 16 KiB; zstd's ZDICT_trainFromBuffer() trains on it. The
 * dictionary is stored in the database (an internal tree: the log, backups,
 * recovery and ldb_check cover it) under a new id, recorded in each value
 * compressed with it. A dictionary is never changed: training again makes a
 * new id, and values written under an older one keep reading. Any env reads
 * them, whatever its ldb_options.compression (#LDB_COMPRESS_NONE included);
 * a build without zstd reads them as #LDB_VERSION. The work is part of the
 * write txn: it commits or aborts with it.
 *
 * Training reads the tree and takes seconds for large samples (zstd's
 * trainer uses ~6 MB besides the sample); values already stored keep their
 * form until they are written again.
 * @param txn a write txn.
 * @param dbi the tree whose values to sample.
 * @param dict_bytes the dictionary's size, 1024 .. 1 MiB; 0 for 32 KiB.
 * @param[out] id the new dictionary's id (1 .. 2^24-1); may be NULL.
 * @retval 0 success.
 * @retval LDB_READONLY a read txn.
 * @retval LDB_INVALID bad arguments; fewer than 8 values; zstd found the
 *         sample too small or too varied to train on; a build without zstd.
 * @retval LDB_FULL 2^24-1 dictionaries were made in this database already.
 * @retval LDB_CORRUPTED a damaged page or value was met.
 */
LDB_API int ldb_dbi_train_dict(ldb_txn *txn, ldb_dbi dbi, size_t dict_bytes, uint32_t *id);

/** @name Put flags */
/**@{*/
#define LDB_NOOVERWRITE 0x10 /**< #LDB_EXISTS if the key is there */
#define LDB_APPEND 0x20      /**< the key sorts after every key in the tree (bulk
                                  load, pages filled fully); #LDB_EXISTS otherwise */
/**@}*/

/**
 * @brief Look a key up.
 *
 * @param[out] val set on success. val->data points into read-only memory valid
 *             until the txn ends or, in a write txn, until its next write
 *             (the map for a plain value, the env's cache for a compressed one).
 * @retval LDB_NOTFOUND no such key.
 * @retval LDB_INVALID empty key, bad handle.
 * @retval LDB_TOOBIG key longer than ldb_max_key_size().
 * @retval LDB_CORRUPTED a damaged page or compressed value was met.
 * @retval -ENOMEM no memory to decompress a compressed value into.
 */
LDB_API int ldb_get(ldb_txn *txn, ldb_dbi dbi, const ldb_val *key, ldb_val *val);

/**
 * @brief Insert or replace a key's value, in a write txn.
 *
 * Keys are 1..ldb_max_key_size() bytes; values 0 bytes to 2 GiB (2^31 bytes,
 * inclusive). A put refused
 * with #LDB_EXISTS, #LDB_TOOBIG, #LDB_INVALID or #LDB_READONLY changes nothing
 * and leaves the txn usable; any other error fails the txn (its commit then
 * returns that error). @p key and @p val may point at what ldb_get() or
 * ldb_cursor_get() returned in this txn (a value written back, or under
 * another key or tree): the put takes the bytes as they were when it began.
 * @retval LDB_EXISTS #LDB_NOOVERWRITE and the key exists; #LDB_APPEND and the
 *         key does not sort after the tree's last key.
 * @retval LDB_TOOBIG key or value over its limit.
 * @retval LDB_READONLY a read txn.
 * @retval LDB_FULL the file would pass ldb_options.max_size.
 */
LDB_API int ldb_put(ldb_txn *txn, ldb_dbi dbi, const ldb_val *key, const ldb_val *val,
                    unsigned flags);

/**
 * @brief Delete a key, in a write txn.
 * @retval LDB_NOTFOUND the key is absent (the txn stays usable).
 */
LDB_API int ldb_del(ldb_txn *txn, ldb_dbi dbi, const ldb_val *key);

/** @brief The longest key this env accepts (at least 511; depends on page size). */
LDB_API size_t ldb_max_key_size(const ldb_env *env);

/** @name Cursors */
/**@{*/
/** Cursor moves for ldb_cursor_get(). */
typedef enum ldb_cursor_op {
    LDB_FIRST,      /**< the first key */
    LDB_LAST,       /**< the last key */
    LDB_NEXT,       /**< the next key; on a fresh cursor, the first */
    LDB_PREV,       /**< the previous key; on a fresh cursor, the last */
    LDB_SEEK,       /**< the first key >= *key */
    LDB_SEEK_EXACT, /**< exactly *key, else #LDB_NOTFOUND */
    LDB_CURRENT     /**< the entry under the cursor again */
} ldb_cursor_op;
/**@}*/

/** @brief Open a cursor on tree @p dbi; close it before its txn ends. */
LDB_API int ldb_cursor_open(ldb_txn *txn, ldb_dbi dbi, ldb_cursor **cur);

/** @brief Close a cursor. NULL is a no-op. */
LDB_API void ldb_cursor_close(ldb_cursor *cur);

/**
 * @brief Move the cursor and return the entry it lands on.
 *
 * @param key in: the key sought (#LDB_SEEK, #LDB_SEEK_EXACT); out: the key found.
 *            May be NULL for other ops.
 * @param val out: the value (may be NULL). Same lifetime as ldb_get()'s.
 * @retval LDB_NOTFOUND moved past either end, no key >= *key, or (#LDB_CURRENT)
 *         the cursor is unpositioned or its entry was deleted. A cursor that
 *         moved past an end stays on the entry it was on.
 */
LDB_API int ldb_cursor_get(ldb_cursor *cur, ldb_val *key, ldb_val *val, ldb_cursor_op op);

/**
 * @brief Delete the entry under the cursor, in a write txn. #LDB_NEXT then
 * returns the entry after it, #LDB_PREV the one before it.
 * @retval LDB_NOTFOUND the cursor is not on an entry.
 */
LDB_API int ldb_cursor_del(ldb_cursor *cur);

/** @name Operations */
/**@{*/
/** Figures for a whole env, see ldb_stat_env(). */
typedef struct ldb_stat {
    uint64_t last_txn_id;           /**< the newest committed txn id */
    uint32_t page_size;
    uint64_t file_size, max_size;   /**< bytes */
    uint64_t pages_used, pages_free; /**< pages in trees (and meta) / free for reuse */
    uint64_t wal_size;              /**< bytes of log records since the last checkpoint */
    uint32_t readers_used, readers_max; /**< open read txns, all processes */
    uint64_t oldest_reader_txn_id;  /**< snapshot of the oldest open reader; 0 when none */
    uint64_t cache_hits, cache_misses, cache_bytes; /**< this env's cache of decompressed
                                         values: lookups that found the value, lookups
                                         that decompressed it, bytes held now */
    uint64_t commits;               /**< write txns committed through this env */
    uint64_t checkpoints;           /**< checkpoints by every process since the
                                         database was last opened by a first process */
    uint64_t archive_segments;      /**< log segments this env wrote to
                                         ldb_options.archive_dir */
    uint64_t archive_failures;      /**< attempts to archive a log generation that
                                         failed in this env (the log was kept) */
    uint64_t oldest_reader_lag_us;  /**< how long the longest-open read txn, all
                                         processes, has been open (microseconds, a
                                         few ms resolution); 0 when none */
    /* New fields go here, at the end (see "Growing structs"). */
} ldb_stat;

/** @brief Fill @p st with the env's figures. */
LDB_API int ldb_stat_env(ldb_env *env, ldb_stat *st);
/** @brief ldb_stat_env() for a caller whose ::ldb_stat is @p st_size bytes
 *  (see "Growing structs"). */
LDB_API int ldb_stat_env_sized(ldb_env *env, ldb_stat *st, size_t st_size);
/** Route calls to the sized entry point with the size compiled here. */
#define ldb_stat_env(env, st) ldb_stat_env_sized((env), (st), sizeof(ldb_stat))

/**
 * Where the data file's pages are, and why free ones are held back; see
 * ldb_stat_space(). Counts are pages of page_size bytes. free_pages is the
 * sum of reusable_pages, reader_held_pages and checkpoint_held_pages.
 * New fields are only ever added at the end.
 */
typedef struct ldb_space {
    uint32_t page_size;
    uint64_t file_pages;            /**< the data file's size */
    uint64_t used_pages;            /**< in the trees (and the two meta pages) */
    uint64_t free_pages;            /**< below the high-water mark and in no tree */
    uint64_t reusable_pages;        /**< ... that the next write txn may take */
    uint64_t reader_held_pages;     /**< ... freed after the oldest open reader's
                                         snapshot: held until that reader ends */
    uint64_t checkpoint_held_pages; /**< ... pages of the last checkpoint's trees,
                                         freed since: held until the next checkpoint
                                         (which a writer out of room forces) */
    uint64_t unused_pages;          /**< past the high-water mark: allocated and never
                                         used (the growth step and the reserve) */
    uint64_t reserve_pages;         /**< kept for txns that only delete, so they commit
                                         on a full disk (see the man page); a put does
                                         not take a page past the high-water mark unless
                                         this many stay unused after it */
    uint64_t last_txn_id;           /**< the snapshot these figures are of */
    uint64_t oldest_reader_txn_id;  /**< the oldest open reader's snapshot; 0 = none */
    uint64_t checkpoint_txn_id;     /**< the txn the data file's meta page holds */
} ldb_space;

/**
 * @brief Fill @p sp with the data file's space figures (a read txn of its
 * own, which walks the free tree: cost in proportion to the free pages).
 * @param size sizeof(ldb_space) as the caller knows it: a caller built
 * against an older, shorter struct gets only the fields it knows.
 * @retval #LDB_INVALID @p sp is NULL or @p size is 0.
 * @retval #LDB_BUSY every reader slot is taken.
 */
LDB_API int ldb_stat_space(ldb_env *env, ldb_space *sp, size_t size);

/**
 * @brief Verify the newest snapshot: every page checksum, key order, tree
 * shape and entry counts, that every page is used or free exactly once,
 * that every compressed value decompresses to its recorded size; and both
 * meta pages. A damaged meta page is a finding (#LDB_CORRUPTED)
 * even though the database opens and reads from the other one: that one is
 * then the only copy, and the next misfortune loses the database. (Meta
 * page 1 of a database never checkpointed is all zeros: not a finding.)
 * @param report where findings are written in words (may be NULL).
 * @retval 0 all good; #LDB_CORRUPTED something is wrong (see the report).
 */
LDB_API int ldb_check(ldb_env *env, FILE *report);

/** ldb_backup() flag: write only the pages in use, renumbered, every tree
 *  rebuilt with full pages and no free pages: the smallest file. Without it
 *  the copy keeps every page at its number (pages free in the snapshot are
 *  written as zeros). */
#define LDB_BACKUP_COMPACT 0x1

/**
 * @brief Progress of a backup, for ldb_backup_ex().
 *
 * Called on the thread running the backup: once with @p done 0 before the
 * first byte, then about every 4 MiB written, and once with @p done equal
 * to @p total at the end (before the file is synced and renamed).
 * @param ctx the pointer given to ldb_backup_ex().
 * @param done bytes of the copy written so far.
 * @param total bytes the copy will have (the exact size of the file).
 * @return 0 to go on; anything else stops the backup, which then fails with
 *         `-ECANCELED` (and leaves nothing at the destination path).
 */
typedef int (*ldb_backup_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/**
 * @brief Write a consistent copy of the database to a new file, while
 * writers go on.
 *
 * The copy is the newest committed snapshot when the call begins (the one
 * a read txn begun then would see), including the txns that live only in
 * the write-ahead log so far: the copy needs no log. It holds one reader
 * slot for its duration (so, like any long read txn, it keeps the pages of
 * that snapshot from being reused, and the database file may grow
 * meanwhile), and never the writer.
 *
 * The copy is written to `<dest_path>.ldb-backup-tmp` in the same directory,
 * fsynced, renamed to @p dest_path (never replacing anything there), and the
 * directory fsynced: nothing appears at @p dest_path until the copy is
 * complete and durable. A process killed midway leaves only the temporary,
 * which the next backup to the same @p dest_path reuses (it is safe to
 * delete when no backup runs). The copy opens normally (it then gets its own
 * lock file and log) and with #LDB_IMMUTABLE, and has the same database id
 * as the original.
 *
 * @param dest_path the new file; its directory must exist.
 * @param flags 0 or #LDB_BACKUP_COMPACT.
 * @retval 0 the copy is at @p dest_path, synced.
 * @retval -EEXIST @p dest_path (or a log `<dest_path>-wal` beside it)
 *         exists; nothing was written and it is left as it was.
 * @retval LDB_BUSY another backup to the same @p dest_path is running, or
 *         every reader slot is taken.
 * @retval LDB_INVALID bad env, NULL path, unknown flags.
 * @retval LDB_CORRUPTED a damaged page was met (#LDB_BACKUP_COMPACT checks
 *         every page it copies).
 * @retval -errno the operating system refused (`-ENOSPC`, `-EACCES`, ...);
 *         the temporary is removed.
 */
LDB_API int ldb_backup(ldb_env *env, const char *dest_path, unsigned flags);

/**
 * @brief Stream the same copy as ldb_backup() (the same bytes) to a file
 * descriptor: a pipe, a socket, stdout, a file.
 *
 * Written sequentially from the descriptor's position, with no seeking, so
 * `lightningdb backup PATH - | ssh host 'cat > copy'` works. A non-blocking
 * descriptor is waited on. If @p fd is a regular file it is fsynced at the
 * end; otherwise durability is the reader's business. @p fd is not closed.
 * A pipe whose reader has gone raises `SIGPIPE` as any write does (ignore
 * it to get `-EPIPE` instead). On an error part of the copy may have been
 * written: the reader must treat a stream that ended early as worthless
 * (the tool's exit status says whether it is whole).
 * @param fd an open descriptor, written and not closed.
 * @param flags 0 or #LDB_BACKUP_COMPACT.
 * @retval 0 the whole copy was written.
 * @retval LDB_INVALID bad env, negative fd, unknown flags.
 * @retval LDB_BUSY every reader slot is taken.
 * @retval LDB_CORRUPTED a damaged page was met.
 * @retval -errno a write failed (`-EPIPE`, `-ENOSPC`, ...).
 */
LDB_API int ldb_backup_fd(ldb_env *env, int fd, unsigned flags);

/**
 * @brief ldb_backup() (@p dest_path set, @p fd -1) or ldb_backup_fd()
 * (@p dest_path NULL, @p fd >= 0), reporting progress.
 * @param progress called as ::ldb_backup_progress_fn says; may be NULL.
 * @param ctx passed to @p progress.
 * @retval -ECANCELED @p progress returned nonzero.
 * @retval LDB_INVALID both or neither of @p dest_path and @p fd given.
 * Other results: as ldb_backup() and ldb_backup_fd().
 */
LDB_API int ldb_backup_ex(ldb_env *env, const char *dest_path, int fd, unsigned flags,
                          ldb_backup_progress_fn progress, void *ctx);

/**
 * @brief ldb_check(), telling @p progress how far it got: how many of the
 * snapshot's pages it has walked (every few thousand, and once with
 * done == total at the end of the walk), so that a long check can show a
 * rate and the time left.
 * @param progress called as ::ldb_backup_progress_fn says, but its result is
 *        ignored: a check always runs to its end. May be NULL.
 * @param ctx passed to @p progress.
 * Results: as ldb_check().
 */
LDB_API int ldb_check_ex(ldb_env *env, FILE *report, ldb_backup_progress_fn progress,
                         void *ctx);

/**
 * @brief Keep what precedes damage in a database's write-ahead log, in a
 * new database.
 *
 * When a record of the log that was durable is damaged, ldb_open() fails
 * with #LDB_CORRUPTED and changes no file: recovery never drops committed
 * txns on its own. This is the decision to drop them, made by a person: the
 * data file at @p path is copied whole to @p dest and its log up to the last
 * record recovery can apply (the txns before the damage); opening the copy
 * then replays them, checkpoints, and ldb_check() verifies the result. The
 * files of @p path are only read. Run it while no process has @p path
 * open. Works on an undamaged database too (a copy with its log folded in).
 * @param path the damaged database (its data file).
 * @param dest the new database; neither it nor `<dest>-wal` nor
 *             `<dest>-lock` may exist.
 * @param report what was kept and what was given up, in words, and
 *               ldb_check()'s findings (may be NULL).
 * @retval 0 @p dest holds the txns before the damage and passed ldb_check().
 * @retval LDB_INVALID NULL or empty path or dest.
 * @retval -EEXIST @p dest (or a side file of it) exists, or is @p path.
 * @retval LDB_CORRUPTED @p path has no valid meta page, or the result failed
 *         ldb_check() (see the report); @p dest is then removed.
 * @retval LDB_VERSION a format this build cannot read.
 * @retval -errno the operating system refused (`-ENOENT`, `-ENOSPC`, ...);
 *         nothing is left at @p dest.
 */
LDB_API int ldb_salvage(const char *path, const char *dest, FILE *report);

/**
 * @brief Build a new database from a backup and the log archive, as of a
 * txn id, a commit time, or the newest archived txn (point-in-time
 * recovery).
 *
 * The archive is the directory that ldb_options.archive_dir named while the
 * database ran: one segment file per log generation,
 * `<database id>-<first txn>-<last txn>.ldblog`. The backup (ldb_backup(),
 * or any copy of the data file) is copied to `<dest>.ldb-restore-tmp`, the
 * segments after its txn id are replayed into the copy in order (the same
 * replay as recovery at ldb_open()), stopping before the first txn past the
 * target; the result is checked with ldb_check(), synced, and renamed to
 * @p dest, which must not exist and is never replaced. An interrupted
 * restore leaves nothing at @p dest (at most the temporary, which the next
 * restore to @p dest starts afresh). The sources are only read.
 *
 * @p dest gets a new database id: its history diverges from the original's
 * at the target, so its own archived segments are never taken for the
 * original's (of the same txn ids). The original's backups and archive do
 * not apply to it; a copy of @p dest is its first backup.
 *
 * @param backup_path the backup: its meta page gives the txn id to start
 *        from and the database id the segments must carry.
 * @param archive_dir the archive directory. Other files in it are ignored.
 * @param dest_path the new database (the data file alone, no side files).
 * @param to_txn the last txn to apply; 0 for no limit.
 * @param to_time_us apply only txns committed at or before this time
 *        (microseconds since the epoch, UTC, the wall clock of the process
 *        that committed them); 0 for no limit. With both 0, every archived
 *        txn after the backup is applied.
 * @param[out] restored_txn the txn id @p dest holds (may be NULL).
 * @param err a message naming the missing txns, file or damage (may be
 *        NULL; NUL-terminated when @p errlen > 0).
 * @param errlen size of @p err.
 * @retval 0 @p dest holds the state at the target and passed ldb_check().
 * @retval LDB_INVALID NULL arguments; the backup is newer than @p to_txn, or
 *         than @p to_time_us (known when the archive still holds the
 *         segment with the backup's txn).
 * @retval -EEXIST @p dest or `<dest>-wal` exists (left untouched).
 * @retval LDB_MISMATCH the archive's segments are of another database than
 *         the backup (a segment's name or header).
 * @retval LDB_NOTFOUND a gap: no segment holds some txns between the backup
 *         and the target (@p err names them: segments were pruned, or a
 *         process wrote the database without the archive); or the archive
 *         ends before the target txn or time (its newest txns are still in
 *         the database's log: ldb_checkpoint() archives them).
 * @retval LDB_CORRUPTED a segment is damaged before the target, or the
 *         backup is not a database.
 * @retval LDB_VERSION a time target over a segment of log format 1, which
 *         holds no commit times (txn targets read it).
 * @retval -errno the operating system refused; nothing is left at @p dest.
 */
LDB_API int ldb_restore(const char *backup_path, const char *archive_dir, const char *dest_path,
                        uint64_t to_txn, uint64_t to_time_us, uint64_t *restored_txn,
                        char *err, size_t errlen);

/**
 * @brief ldb_restore(), telling @p progress how far it got: the txns past
 * the backup replayed so far (@p done) of those the archive holds up to the
 * target (@p total), after each segment, and once at the end with done ==
 * total (a time target may end before the last segment's txns).
 * @param progress called as ::ldb_backup_progress_fn says, but its result is
 *        ignored. May be NULL.
 * @param ctx passed to @p progress.
 * Other parameters and results: as ldb_restore().
 */
LDB_API int ldb_restore_ex(const char *backup_path, const char *archive_dir,
                           const char *dest_path, uint64_t to_txn, uint64_t to_time_us,
                           uint64_t *restored_txn, ldb_backup_progress_fn progress, void *ctx,
                           char *err, size_t errlen);

/**
 * @brief Keep a read-only replica up to date from a log archive: one round
 * of `lightningdb restore --follow`.
 *
 * If @p replica_path does not exist, it is built as ldb_restore() builds a
 * database to the newest archived txn (nothing at @p replica_path until it
 * is complete), except that it keeps the original's database id, so that
 * the original's later segments apply to it. If it exists, the archive's
 * segments holding txns after the replica's newest are applied to it, in
 * order; a segment only partly newer is applied from the txn after the
 * replica's. Call it again whenever new segments may have arrived (by any
 * file transport: rsync, NFS, an object-store sync).
 *
 * Each archived txn is applied as one write txn with the txn id it had on
 * the original, so processes that open the replica (#LDB_RDONLY) while it
 * is applied see only whole txns, each a state the original had; the
 * replica is checkpointed after each segment. The applied commits are not
 * synced one by one: a crash part-way loses at most the segment in
 * progress, which the next call applies again.
 *
 * The replica trails the original by the txns not yet archived: those of
 * the original's current log generation, which is archived at its next
 * checkpoint (when the log passes ldb_options.wal_max_bytes, at
 * ldb_checkpoint(), at the last ldb_close()), plus the transport's delay.
 * A smaller wal_max_bytes or a periodic ldb_checkpoint() on the original
 * bounds it.
 *
 * Nothing else may write the replica (its txn ids must stay the
 * original's), and one process at a time follows it.
 *
 * @param backup_path a backup of the original, to build the replica from;
 *        may be NULL once the replica exists.
 * @param archive_dir the original's archive directory.
 * @param replica_path the replica's data file.
 * @param[out] replica_txn the replica's newest txn afterwards, also after an
 *        error that stopped part-way (may be NULL; 0 if not known).
 * @param err a message naming the missing txns, file or damage (may be
 *        NULL; NUL-terminated when @p errlen > 0).
 * @param errlen size of @p err.
 * @retval 0 every segment after the replica's txn was applied (none is
 *         fine).
 * @retval LDB_INVALID NULL @p archive_dir or @p replica_path.
 * @retval -ENOENT no replica and no @p backup_path.
 * @retval LDB_MISMATCH the archive's segments are of another database than
 *         the replica (or the backup); nothing was applied.
 * @retval LDB_NOTFOUND a gap: the oldest segment after the replica's txn
 *         starts later than the txn after it (@p err names the missing
 *         txns); what came before the gap was applied. A transport that
 *         delivers files out of order can show one for a while.
 * @retval LDB_CORRUPTED a segment's records stop before its name's last
 *         txn (damage, or a copy still being written under its final
 *         name); the whole txns before the damage were applied.
 * @retval -errno the operating system refused; or ldb_open()'s errors for
 *         the replica.
 */
LDB_API int ldb_restore_follow(const char *backup_path, const char *archive_dir,
                               const char *replica_path, uint64_t *replica_txn, char *err,
                               size_t errlen);

/** A segment of a log archive, as ldb_archive_list() reports it. The
 *  library fills it; later versions may add fields at the end. */
typedef struct ldb_archive_segment {
    const char *name;       /**< its file name in the directory */
    uint64_t db_id;         /**< the database it belongs to */
    uint64_t first_txn;     /**< the txns it holds, from its name */
    uint64_t last_txn;
    uint64_t first_time_us; /**< commit time of its first and last txn, in
                                 microseconds since the epoch (0: log format 1) */
    uint64_t last_time_us;
    uint64_t bytes;         /**< its size */
    unsigned version;       /**< its log format version */
    int status;             /**< 0 if whole; #LDB_CORRUPTED if damaged (its
                                 records stop short of last_txn); #LDB_MISMATCH
                                 if its header names another database than its
                                 name; #LDB_VERSION, or -errno if unreadable */
} ldb_archive_segment;

/** @brief Called by ldb_archive_list() for each segment; nonzero stops the
 *  listing, which returns that value. @p seg is valid during the call. */
typedef int (*ldb_archive_fn)(void *ctx, const ldb_archive_segment *seg);

/**
 * @brief List the segments of a log archive (ldb_options.archive_dir), in
 * order of database id, then txn id, each read through and checked.
 * @retval 0 every segment was listed (a damaged one is listed with its status).
 * @retval LDB_INVALID NULL @p dir or @p fn.
 * @retval -errno the directory cannot be read; or what @p fn returned.
 */
LDB_API int ldb_archive_list(const char *dir, ldb_archive_fn fn, void *ctx);

/**
 * @brief Remove the archive's segments that a restore from this backup
 * never needs: those of the backup's database whose txns are all at or
 * before the backup's txn id. Segments of other databases stay.
 * @param[out] removed how many were removed (may be NULL).
 * @retval 0 done (the directory is synced when something was removed).
 * @retval LDB_MISMATCH the archive holds segments, none of the backup's
 *         database: nothing was removed.
 * @retval LDB_CORRUPTED @p backup_path is not a database.
 * @retval LDB_INVALID NULL @p dir or @p backup_path.
 * @retval -errno the operating system refused.
 */
LDB_API int ldb_archive_prune(const char *dir, const char *backup_path, uint64_t *removed);

/**
 * @brief Free the reader slots left by processes that died.
 * @param[out] cleared how many were freed (may be NULL).
 */
LDB_API int ldb_reader_check(ldb_env *env, int *cleared);

/**
 * @brief Called by ldb_reader_list() once per claimed reader slot.
 * @param ctx the pointer given to ldb_reader_list().
 * @param pid the process that holds the slot.
 * @param txn_id the snapshot the slot's read txn is on; 0 when the txn holds
 *        no snapshot (it was reset, see ldb_txn_reset()).
 * @param alive 0 if that process has died (ldb_reader_check() would free the
 *        slot), 1 if it lives (or cannot be probed).
 * @return 0 to go on; anything else stops the walk and is returned by
 *         ldb_reader_list().
 */
typedef int (*ldb_reader_fn)(void *ctx, int pid, uint64_t txn_id, int alive);

/**
 * @brief List the reader table: every slot in use, in every process.
 *
 * Only looks: a slot of a dead process is reported with @p alive = 0 and
 * left as it is (ldb_reader_check() frees such slots). Slots change while
 * the walk goes on; each is read once.
 * @retval 0 all slots visited; #LDB_INVALID a NULL env or fn; otherwise
 *         what @p fn returned to stop the walk.
 */
LDB_API int ldb_reader_list(ldb_env *env, ldb_reader_fn fn, void *ctx);

/**
 * @brief Write the env's figures in the Prometheus text exposition format.
 *
 * Every name starts with `lightningdb_` and carries its unit (`_bytes`,
 * `_seconds`, `_total`); every sample has a `db` label holding the path
 * the env was opened with. Gauges describe the whole database as every
 * process sees it (file, pages, log, readers, the oldest reader's lag in
 * txns). `lightningdb_database_commits_total` and
 * `lightningdb_checkpoints_total` count every process's since the lock
 * file was last built; `lightningdb_commits_total`, the cache counters and
 * the histograms of commit latency, log sync latency and checkpoint
 * duration are this env's (this process's) since it was opened. The full
 * list is in lightningdb(3).
 * @param out where to write; flushed before returning.
 * @retval 0 written; #LDB_INVALID a NULL env or out; `-EIO` writing failed.
 */
LDB_API int ldb_metrics(ldb_env *env, FILE *out);
/**@}*/

#ifdef __cplusplus
}
#endif

#endif /* LIGHTNINGDB_H */
