/* SPDX-License-Identifier: MIT */
/*
 * archive.h: the log archive (ldb_options.archive_dir), the half of
 * point-in-time recovery that runs while the database is in use.
 *
 * What it owns: the segment files. The log is one file rewritten in place:
 * a checkpoint starts a new generation by writing a new header at offset 0
 * (durable.c, log_reset), and every process that has the database open
 * keeps the file open. So a generation cannot be archived by renaming the
 * log away or by a hard link to it (both would name the file the next
 * generation overwrites): it is copied, inside the kernel where the
 * filesystem can (copy_file_range; a reflink on XFS and Btrfs), before the
 * header that recycles it is written.
 *
 * A segment is a byte copy of the log's bytes [0, end): its own header
 * (salt, checkpoint txn id = first - 1, database id) and the records of
 * txns first..last, nothing after. Its name says what it holds:
 *     <database id, 16 hex digits>-<first txn, 20 digits>-<last, 20 digits>.ldblog
 * so that a sorted listing is in txn order per database. The database id is
 * the meta page's (the data file's and a backup's) and the log header's.
 *
 * Invariants:
 *  A1 a segment appears under its name only complete: written to a hidden
 *     temporary (".<name>.tmp"), fsynced, renamed, the directory fsynced;
 *  A2 a generation is recycled only after its segment is durable (A1): when
 *     archiving fails, the log is not reset and goes on growing, and the
 *     next checkpoint archives the whole of it (so no txn is ever missing
 *     from the archive because of a failure; segments may overlap);
 *  A3 a segment holds only txns the data file's meta page has made durable
 *     (it is taken after the checkpoint's meta page is synced), so the
 *     archive never holds a txn that a crash took back.
 */
#ifndef LDB_ARCHIVE_H
#define LDB_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#define LDB_ARCHIVE_SUFFIX ".ldblog"
#define LDB_ARCHIVE_NAME_MAX 80

void ldb__archive_name(char out[LDB_ARCHIVE_NAME_MAX], uint64_t db_id, uint64_t first,
                       uint64_t last);
/* 1 if name is a segment's (its fields into the outs), else 0. */
int ldb__archive_parse_name(const char *name, uint64_t *db_id, uint64_t *first, uint64_t *last);

/* Copy the log wal_fd's bytes [0, end), which hold txns first..last, into
 * the directory dirfd as a segment (A1), with permission bits mode. */
int ldb__archive_copy(int dirfd, int wal_fd, uint64_t db_id, uint64_t first, uint64_t last,
                      uint64_t end, unsigned mode);
/* The records a log holds after its header's checkpoint, consecutive and up
 * to txn upto: txns *first..*last in bytes [0, *end) (*last < *first: none).
 * For a log whose end nobody recorded (the one found at open). */
int ldb__archive_scan(int wal_fd, uint64_t db_id, uint64_t upto, uint64_t *first, uint64_t *last,
                      uint64_t *end);

#ifdef LDB_TEST_HOOKS
/* The steps of ldb__archive_copy, in order; a test kills the process at one
 * of them (A1, A2 must hold whichever it is). */
enum ldb__archive_step {
    LDB_ARCHIVE_COPIED = 1, /* the temporary written, not synced */
    LDB_ARCHIVE_SYNCED,     /* the temporary synced, not renamed */
    LDB_ARCHIVE_RENAMED,    /* renamed, the directory not synced */
    LDB_ARCHIVE_DONE        /* durable; the caller has not reset the log */
};
/* If set, called at each step of each copy. */
extern void (*ldb__archive_step_hook)(enum ldb__archive_step step);
#define ARCHIVE_STEP(s)                                                                        \
    do {                                                                                       \
        if (ldb__archive_step_hook)                                                            \
            ldb__archive_step_hook(s);                                                         \
    } while (0)
#else
#define ARCHIVE_STEP(s) ((void)0)
#endif

/* A segment named in a directory. */
struct ldb__archive_seg {
    char name[LDB_ARCHIVE_NAME_MAX];
    uint64_t db_id, first, last; /* from the name */
};
/* Every segment in dirfd, sorted by database id, then first and last txn.
 * The caller frees *segs. */
int ldb__archive_list(int dirfd, struct ldb__archive_seg **segs, size_t *n);

/* What a segment's bytes say, read through the log reader's checks. */
struct ldb__archive_info {
    unsigned version;    /* of the log format (1 or 2) */
    uint64_t db_id;      /* from its header */
    uint64_t records;    /* that pass their checks, consecutive from the first */
    uint64_t first_txn, last_txn;
    uint64_t first_time_us, last_time_us; /* 0 in a version-1 log */
    uint64_t bytes;      /* the file's size */
    uint64_t valid_end;  /* where the records that pass end */
};
/* LDB_CORRUPTED if the header fails its checks, LDB_VERSION for a format
 * this build cannot read. Damage after the header is not an error here: it
 * shows as valid_end < bytes or last_txn short of the name's. */
int ldb__archive_inspect(int fd, struct ldb__archive_info *info);

/* The commit time of txn txnid in the segment open as fd: 1 if found
 * (*time_us set), 0 if not there. */
int ldb__archive_txn_time(int fd, uint64_t txnid, uint64_t *time_us);

#endif
