/* SPDX-License-Identifier: MIT */
/*
 * archive.c: segments of the log archive: names, copies, listing and
 * reading (see archive.h). Below the txn layer: durable.c calls it with the
 * locks that order checkpoints held, restore.c reads what it wrote.
 */
#include "archive.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "os.h"
#include "wal.h"

#ifdef LDB_TEST_HOOKS
void (*ldb__archive_step_hook)(enum ldb__archive_step step);
#endif

void ldb__archive_name(char out[LDB_ARCHIVE_NAME_MAX], uint64_t db_id, uint64_t first,
                       uint64_t last)
{
    snprintf(out, LDB_ARCHIVE_NAME_MAX, "%016" PRIx64 "-%020" PRIu64 "-%020" PRIu64 "%s", db_id,
             first, last, LDB_ARCHIVE_SUFFIX);
}

/* n digits of base at s into *v (no sign, no overflow past 64 bits). */
static int parse_field(const char *s, size_t n, int base, uint64_t *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        int d;
        if (s[i] >= '0' && s[i] <= '9')
            d = s[i] - '0';
        else if (base == 16 && s[i] >= 'a' && s[i] <= 'f')
            d = s[i] - 'a' + 10;
        else
            return 0;
        if (__builtin_mul_overflow(*v, (uint64_t)base, v) ||
            __builtin_add_overflow(*v, (uint64_t)d, v))
            return 0;
    }
    return 1;
}

int ldb__archive_parse_name(const char *name, uint64_t *db_id, uint64_t *first, uint64_t *last)
{
    /* Exactly the form ldb__archive_name writes. */
    if (strlen(name) != 16 + 1 + 20 + 1 + 20 + strlen(LDB_ARCHIVE_SUFFIX) || name[16] != '-' ||
        name[37] != '-' || strcmp(name + 58, LDB_ARCHIVE_SUFFIX) != 0)
        return 0;
    return parse_field(name, 16, 16, db_id) && parse_field(name + 17, 20, 10, first) &&
           parse_field(name + 38, 20, 10, last) && *first <= *last;
}

int ldb__archive_copy(int dirfd, int wal_fd, uint64_t db_id, uint64_t first, uint64_t last,
                      uint64_t end, unsigned mode)
{
    char name[LDB_ARCHIVE_NAME_MAX], tmp[LDB_ARCHIVE_NAME_MAX + 8];
    ldb__archive_name(name, db_id, first, last);
    snprintf(tmp, sizeof tmp, ".%s.tmp", name);
    int fd = -1, rc;
    /* O_TRUNC: a temporary that a crash left is started again. */
    TRY(ldb__os_openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC, mode, &fd));
    CHECK_GOTO(rc, ldb__os_copy_range(wal_fd, fd, 0, end), drop);
    ARCHIVE_STEP(LDB_ARCHIVE_COPIED);
    CHECK_GOTO(rc, ldb__os_fsync(fd), drop);
    ARCHIVE_STEP(LDB_ARCHIVE_SYNCED);
    /* Replacing a segment of the same name is harmless: the same txns, from
     * a generation that was archived but not reset before a crash. */
    CHECK_GOTO(rc, ldb__os_renameat(dirfd, tmp, name), drop);
    ARCHIVE_STEP(LDB_ARCHIVE_RENAMED);
    ldb__os_close(fd);
    rc = ldb__os_fsync(dirfd);
    if (rc == -EINVAL)
        rc = 0; /* a filesystem that cannot sync a directory */
    if (rc == 0)
        ARCHIVE_STEP(LDB_ARCHIVE_DONE);
    return rc;
drop:
    ldb__os_close(fd);
    (void)ldb__os_unlinkat(dirfd, tmp);
    return rc;
}

int ldb__archive_scan(int wal_fd, uint64_t db_id, uint64_t upto, uint64_t *first, uint64_t *last,
                      uint64_t *end)
{
    *first = 1;
    *last = 0;
    *end = 0;
    uint64_t size;
    TRY(ldb__os_file_size(wal_fd, &size));
    struct ldb__wal_reader r;
    int rc = ldb__wal_reader_open(&r, wal_fd, size, db_id);
    if (rc < 0 || r.ignored || r.header_damaged)
        goto out;
    uint8_t h[WAL_HEADER_SIZE];
    unsigned version;
    uint64_t salt, checkpoint, log_db;
    CHECK_GOTO(rc, ldb__os_pread_full(wal_fd, h, sizeof h, 0), out);
    CHECK_GOTO(rc, ldb__wal_header_decode(h, &version, &salt, &checkpoint, &log_db), out);
    *first = checkpoint + 1;
    *last = checkpoint;
    struct ldb__wal_record rec;
    while ((rc = ldb__wal_reader_next(&r, &rec)) > 0 && rec.txnid == *last + 1 &&
           rec.txnid <= upto) {
        *last = rec.txnid;
        *end = rec.offset + rec.len;
    }
out:
    ldb__wal_reader_close(&r);
    return rc < 0 ? rc : 0;
}

/* ---- listing ---------------------------------------------------------------- */

struct seg_list {
    struct ldb__archive_seg *v;
    size_t n, cap;
};

static int list_one(void *ctx, const char *name)
{
    struct seg_list *l = ctx;
    struct ldb__archive_seg s;
    if (!ldb__archive_parse_name(name, &s.db_id, &s.first, &s.last))
        return 0; /* not a segment (a temporary, or someone else's file) */
    if (l->n == l->cap) {
        struct ldb__archive_seg *v = ldb__array_grow(l->v, &l->cap, l->n + 1, sizeof *v, 32);
        if (v == NULL)
            return -ENOMEM;
        l->v = v;
    }
    snprintf(s.name, sizeof s.name, "%s", name);
    l->v[l->n++] = s;
    return 0;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b;
}

static int seg_cmp(const void *a, const void *b)
{
    const struct ldb__archive_seg *x = a, *y = b;
    int c = cmp_u64(x->db_id, y->db_id);
    if (c == 0)
        c = cmp_u64(x->first, y->first);
    return c ? c : cmp_u64(x->last, y->last);
}

int ldb__archive_list(int dirfd, struct ldb__archive_seg **segs, size_t *n)
{
    struct seg_list l = {0};
    int rc = ldb__os_list_dir(dirfd, list_one, &l);
    if (rc < 0) {
        ldb__free(l.v);
        return rc;
    }
    if (l.n > 1)
        qsort(l.v, l.n, sizeof *l.v, seg_cmp);
    *segs = l.v;
    *n = l.n;
    return 0;
}

int ldb__archive_inspect(int fd, struct ldb__archive_info *info)
{
    memset(info, 0, sizeof *info);
    TRY(ldb__os_file_size(fd, &info->bytes));
    if (info->bytes < WAL_HEADER_SIZE)
        return LDB_CORRUPT();
    uint8_t h[WAL_HEADER_SIZE];
    uint64_t salt, checkpoint;
    TRY(ldb__os_pread_full(fd, h, sizeof h, 0));
    TRY(ldb__wal_header_decode(h, &info->version, &salt, &checkpoint, &info->db_id));
    struct ldb__wal_reader r;
    int rc = ldb__wal_reader_open(&r, fd, info->bytes, info->db_id);
    info->first_txn = checkpoint + 1;
    info->last_txn = checkpoint;
    info->valid_end = WAL_HEADER_SIZE;
    struct ldb__wal_record rec;
    while (rc == 0 && (rc = ldb__wal_reader_next(&r, &rec)) > 0 && rec.txnid == info->last_txn + 1) {
        if (info->records++ == 0)
            info->first_time_us = rec.time_us;
        info->last_time_us = rec.time_us;
        info->last_txn = rec.txnid;
        info->valid_end = rec.offset + rec.len;
        rc = 0;
    }
    ldb__wal_reader_close(&r);
    return rc < 0 ? rc : 0;
}

int ldb__archive_txn_time(int fd, uint64_t txnid, uint64_t *time_us)
{
    struct ldb__archive_info info;
    TRY(ldb__archive_inspect(fd, &info));
    struct ldb__wal_reader r;
    int rc = ldb__wal_reader_open(&r, fd, info.bytes, info.db_id), found = 0;
    struct ldb__wal_record rec;
    while (rc == 0 && !found && (rc = ldb__wal_reader_next(&r, &rec)) > 0) {
        rc = 0;
        if (rec.txnid == txnid) {
            *time_us = rec.time_us;
            found = 1;
        }
    }
    ldb__wal_reader_close(&r);
    return rc < 0 ? rc : found;
}
