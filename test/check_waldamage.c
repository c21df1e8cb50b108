/* SPDX-License-Identifier: MIT */
/*
 * Damage in the write-ahead log, told apart from a torn tail (issue 9, bugs
 * 2 and 6), and the log format's versions.
 *
 * A "crash" here is a child that commits and _exit()s without ldb_close:
 * only the log holds its txns. Each commit is one record; the child
 * reports the log's end after each, so the parent knows where every record
 * lies and damages the bytes it chooses.
 *
 * Suites:
 *  - durable: a byte flipped in a record that was durable, with records
 *    after it (the case: 100 LDB_SYNC_FULL commits, byte 3000), in
 *    a record's length field, or in the log header: every open (read-write,
 *    LDB_RDONLY, LDB_IMMUTABLE) fails with LDB_CORRUPTED and leaves the data
 *    file and the log byte for byte as they were; then
 *    ldb_salvage builds a new database holding exactly the txns before the
 *    damage, which passes ldb_check and works on, and the source is still
 *    untouched.
 *  - torn: what a crash can leave (the last record cut, garbled, or its
 *    header zeroed; LDB_SYNC_OFF records damaged after the last ldb_sync)
 *    recovers to the record before the damage, as before.
 *  - length: a record at the largest length (lowered through a test hook)
 *    goes to the log, one 8 bytes longer commits as a checkpoint, and both
 *    survive a crash; op lengths that do not fit their fields are refused.
 *  - v1: a version-1 log (0.1.0's), built by hand, is replayed.
 */
#include "testutil.h"
#include "v1log.h"
#include "workload.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checksum.h"
#include "format.h"
#include "meta.h"
#include "wal.h"

enum { NCOMMITS = 100, VLEN = 40 };

/* ---- a crashed database ---------------------------------------------------------- */

typedef struct crashed {
    char dir[4096], data[4200], wal[4300], lock[4300];
    size_t n;              /* commits, txn ids 1..n */
    uint64_t ends[NCOMMITS + 1]; /* ends[i]: the log's end after txn i */
} crashed;

static void value_of(int i, uint8_t out[VLEN])
{
    tu_fill_pattern(out, VLEN, (uint64_t)i);
}

static void key_of(int i, char out[16])
{
    snprintf(out, 16, "k%04d", i);
}

/* In a child: commit txn i (one put), report the log's end. */
static void commit_one(ldb_env *env, int i)
{
    char key[16];
    uint8_t val[VLEN];
    key_of(i, key);
    value_of(i, val);
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, 0, &txn);
    if (rc == 0) {
        ldb_val k = tu_str(key), v = {VLEN, val};
        rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
        rc = rc ? rc : ldb_txn_commit(txn);
    }
    if (rc)
        wl_child_exit(3, "txn %d: %s", i, ldb_strerror(rc));
    ldb_stat st;
    ldb_stat_env(env, &st);
    wl_send(WL_MSG_ACK, (uint64_t)i, 0, WAL_HEADER_SIZE + st.wal_size);
}

/* A child creates a database, commits n txns under sync_mode (with an
 * ldb_sync after txn sync_after, if not 0) and crashes. */
static void make_crashed(crashed *c, int n, int sync_mode, int sync_after)
{
    memset(c, 0, sizeof *c);
    tu_fresh_db(c->dir, sizeof c->dir, c->data, sizeof c->data);
    snprintf(c->wal, sizeof c->wal, "%s-wal", c->data);
    snprintf(c->lock, sizeof c->lock, "%s-lock", c->data);
    c->n = (size_t)n;
    int rfd;
    pid_t pid = wl_fork(&rfd);
    if (pid == 0) {
        ldb_options o = {.sync_mode = sync_mode};
        ldb_env *env;
        int rc = ldb_open(c->data, &o, &env);
        if (rc)
            wl_child_exit(2, "open: %s", ldb_strerror(rc));
        for (int i = 1; i <= n; i++) {
            commit_one(env, i);
            if (i == sync_after && (rc = ldb_sync(env)) != 0)
                wl_child_exit(4, "sync: %s", ldb_strerror(rc));
        }
        wl_child_exit(0, "done"); /* no ldb_close: a crash */
    }
    wl_log log = {0};
    wl_expect_exit0(wl_finish(pid, rfd, &log, 120, "committer"), "committer");
    size_t acks = 0;
    c->ends[0] = WAL_HEADER_SIZE;
    for (size_t x = 0; x < log.n; x++)
        if (log.m[x].type == WL_MSG_ACK && log.m[x].j <= (uint64_t)n) {
            c->ends[log.m[x].j] = log.m[x].aux;
            acks++;
        }
    wl_log_free(&log);
    ck_assert_msg(acks == (size_t)n, "%zu of %d commits acknowledged", acks, n);
}

/* The txn whose record holds log offset off (1..n), or 0. */
static int record_at(const crashed *c, uint64_t off)
{
    for (size_t i = 1; i <= c->n; i++)
        if (off >= c->ends[i - 1] && off < c->ends[i])
            return (int)i;
    return 0;
}

/* ---- files byte for byte ------------------------------------------------------------ */

typedef struct file_image {
    uint8_t *bytes;
    size_t len;
    int exists;
} file_image;

static file_image image_of(const char *file)
{
    file_image im = {0};
    int fd = open(file, O_RDONLY);
    if (fd < 0)
        return im;
    struct stat sb;
    ck_assert(fstat(fd, &sb) == 0);
    im.exists = 1;
    im.len = (size_t)sb.st_size;
    im.bytes = tu_xmalloc(im.len + 1);
    ck_assert(pread(fd, im.bytes, im.len, 0) == (ssize_t)im.len);
    close(fd);
    return im;
}

typedef struct db_image {
    file_image data, wal, lock;
} db_image;

static db_image db_image_of(const crashed *c)
{
    return (db_image){image_of(c->data), image_of(c->wal), {0}};
}

static void expect_same_file(const file_image *was, const char *file, const char *after)
{
    file_image now = image_of(file);
    ck_assert_msg(now.exists == was->exists, "%s after %s: %s", file, after,
                  now.exists ? "created" : "removed");
    ck_assert_msg(now.len == was->len, "%s after %s: %zu bytes, was %zu", file, after, now.len,
                  was->len);
    ck_assert_msg(now.len == 0 || memcmp(now.bytes, was->bytes, now.len) == 0,
                  "%s changed by %s", file, after);
    free(now.bytes);
}

/* The data file and the log, byte for byte. Not the lock file: it holds
 * nothing that matters after a crash, and a first opener empties it as soon
 * as it holds LOCK_EX (lock.h, invariant L). */
static void expect_same_db(const db_image *was, const crashed *c, const char *after)
{
    expect_same_file(&was->data, c->data, after);
    expect_same_file(&was->wal, c->wal, after);
}

static void db_image_free(db_image *im)
{
    free(im->data.bytes);
    free(im->wal.bytes);
    free(im->lock.bytes);
}

/* ---- what a database holds -------------------------------------------------------- */

/* env holds exactly txns 1..k of the committer: their keys and values, no
 * other key, and last txn id k. */
static void expect_txns(ldb_env *env, int k)
{
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    for (int i = 1; i <= k; i++) {
        char key[16];
        uint8_t val[VLEN];
        key_of(i, key);
        value_of(i, val);
        tu_expect_bytes(txn, LDB_MAIN, key, strlen(key), val, VLEN);
    }
    ldb_tree_stat ts = tu_tree_stat(txn, LDB_MAIN);
    ck_assert_msg(ts.entries == (uint64_t)k, "%" PRIu64 " entries, want %d", ts.entries, k);
    ldb_txn_abort(txn);
    ldb_stat st = tu_env_stat(env);
    ck_assert_msg(st.last_txn_id == (uint64_t)k, "last txn %" PRIu64 ", want %d", st.last_txn_id,
                  k);
}

/* Open path, expect txns 1..k, check it, and show that it works on. */
static void expect_db_holds(const char *path, int k)
{
    ldb_env *env = tu_open(path, NULL);
    expect_txns(env, k);
    ldb_txn *txn = tu_begin(env, 0);
    tu_put_str(txn, LDB_MAIN, "after", "works");
    TU_RC_OK(ldb_txn_commit(txn));
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    env = tu_open(path, NULL);
    txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(txn, LDB_MAIN, "after", "works");
    ldb_txn_abort(txn);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
}

/* ---- durable damage is refused, then salvaged -------------------------------------- */

/* Every kind of open fails with LDB_CORRUPTED and changes no file; then
 * salvage keeps txns 1..k in a new database and still changes nothing. */
static void expect_refused_then_salvaged(const crashed *c, int k, const char *what)
{
    static const unsigned flags[] = {0, LDB_RDONLY, LDB_IMMUTABLE};
    static const char *const names[] = {"a read-write open", "an LDB_RDONLY open",
                                        "an LDB_IMMUTABLE open"};
    db_image was = db_image_of(c);
    for (int i = 0; i < 3; i++) {
        ldb_options o = {.flags = flags[i]};
        ldb_env *env = NULL;
        int rc = ldb_open(c->data, &o, &env);
        ck_assert_msg(rc == LDB_CORRUPTED, "%s: %s: %s, want LDB_CORRUPTED", what, names[i],
                      ldb_strerror(rc));
        expect_same_db(&was, c, names[i]);
    }
    char dest[4300];
    snprintf(dest, sizeof dest, "%s/salvaged", c->dir);
    char *text = NULL;
    size_t text_len = 0;
    FILE *report = open_memstream(&text, &text_len);
    ck_assert(report != NULL);
    int rc = ldb_salvage(c->data, dest, report);
    fclose(report);
    ck_assert_msg(rc == 0, "%s: salvage: %s\n%s", what, ldb_strerror(rc), text);
    ck_assert_msg(strstr(text, "proves txn") != NULL, "%s: the report names no damage:\n%s", what,
                  text);
    free(text);
    expect_same_db(&was, c, "salvage");
    /* Salvage makes only new databases. */
    TU_RC_IS(ldb_salvage(c->data, dest, NULL), -EEXIST);
    expect_db_holds(dest, k);
    expect_same_db(&was, c, "opening the salvaged copy");
    db_image_free(&was);
}

/* The case: 100 LDB_SYNC_FULL commits, one byte of the log flipped
 * at offset 3000. Before: a read-only open replayed 52 txns, said nothing
 * and emptied the log. */
START_TEST(test_flip_in_durable_record)
{
    crashed c;
    make_crashed(&c, NCOMMITS, LDB_SYNC_FULL, 0);
    int hit = record_at(&c, 3000);
    ck_assert_msg(hit > 1 && hit < NCOMMITS - 1, "offset 3000 is in record %d", hit);
    tu_flip_byte(c.wal, 3000, 0x10);
    expect_refused_then_salvaged(&c, hit - 1, "byte 3000 flipped");
    tu_remove_dir(c.dir);
}
END_TEST

/* A byte of every part of a middle record, one at a time: crc, length,
 * txn id, salt, prev crc, durable id, an op. */
START_TEST(test_damaged_record_header)
{
    static const unsigned at[] = {0, 4, 5, 8, 16, 28, 40, 50};
    unsigned off = at[_i];
    crashed c;
    make_crashed(&c, 40, LDB_SYNC_FULL, 0);
    int victim = 20;
    char what[64];
    snprintf(what, sizeof what, "byte %u of record %d flipped", off, victim);
    tu_flip_byte(c.wal, c.ends[victim - 1] + off, off == 5 ? 0x80 : 0x01);
    expect_refused_then_salvaged(&c, victim - 1, what);
    tu_remove_dir(c.dir);
}
END_TEST

/* The whole header of a middle record zeroed (as a lost sector would). */
START_TEST(test_zeroed_record_header)
{
    crashed c;
    make_crashed(&c, 40, LDB_SYNC_FULL, 0);
    uint8_t zero[WAL_RECORD_HEADER] = {0};
    tu_write_at(c.wal, zero, sizeof zero, c.ends[9]);
    expect_refused_then_salvaged(&c, 9, "record 10's header zeroed");
    tu_remove_dir(c.dir);
}
END_TEST

/* The log header damaged: its salt is lost, yet the records still prove
 * that they were durable. */
START_TEST(test_damaged_log_header)
{
    crashed c;
    make_crashed(&c, 40, LDB_SYNC_FULL, 0);
    tu_flip_byte(c.wal, 20, 0x04);
    expect_refused_then_salvaged(&c, 0, "a byte of the log header flipped");
    tu_remove_dir(c.dir);
}
END_TEST

/* ---- a torn tail still recovers ---------------------------------------------------- */

enum torn_kind { CUT_LAST, FLIP_LAST, ZERO_LAST_HEADER, GARBLE_LAST_LENGTH, TORN_KINDS };

START_TEST(test_torn_tail_recovers)
{
    enum torn_kind kind = (enum torn_kind)_i;
    crashed c;
    make_crashed(&c, 30, LDB_SYNC_FULL, 0);
    uint64_t last = c.ends[c.n - 1], end = c.ends[c.n];
    switch (kind) {
    case CUT_LAST:
        ck_assert(truncate(c.wal, (off_t)(last + (end - last) / 2)) == 0);
        break;
    case FLIP_LAST:
        tu_flip_byte(c.wal, end - 9, 0x20);
        break;
    case ZERO_LAST_HEADER: {
        uint8_t zero[WAL_RECORD_HEADER] = {0};
        tu_write_at(c.wal, zero, sizeof zero, last);
        break;
    }
    default: {
        uint32_t len = 0x7FFFFFF8u; /* runs past the file */
        tu_write_at(c.wal, &len, 4, last + 4);
        break;
    }
    }
    expect_db_holds(c.data, (int)c.n - 1);
    tu_remove_dir(c.dir);
}
END_TEST

/* Under LDB_SYNC_OFF only what ldb_sync covered is durable: damage past it
 * is a torn tail (a prefix is the promise), damage before it is not. */
START_TEST(test_sync_off_damage)
{
    crashed c;
    make_crashed(&c, 60, LDB_SYNC_OFF, 30);
    /* A copy damaged in record 45 (after the sync): recovers 44. */
    char copy[4300], copy_wal[4400];
    snprintf(copy, sizeof copy, "%s/copy", c.dir);
    snprintf(copy_wal, sizeof copy_wal, "%s-wal", copy);
    TU_RC_OK(tu_copy_file(c.data, copy));
    TU_RC_OK(tu_copy_file(c.wal, copy_wal));
    tu_flip_byte(copy_wal, c.ends[44] + 30, 0x01);
    expect_db_holds(copy, 44);
    /* The original damaged in record 20 (before it): refused. */
    tu_flip_byte(c.wal, c.ends[19] + 30, 0x01);
    expect_refused_then_salvaged(&c, 19, "record 20 of 60 flipped, ldb_sync after 30");
    tu_remove_dir(c.dir);
}
END_TEST

/* ---- record and op lengths ---------------------------------------------------------- */

enum { CAP = 16384 };

/* One put of a value making a record of exactly rec_len bytes (a multiple
 * of 8 plus up to 7 bytes of padding). */
static int put_record_of(ldb_env *env, const char *key, size_t rec_len)
{
    size_t vlen = rec_len - WAL_RECORD_HEADER - WAL_OP_HEADER - strlen(key);
    uint8_t *val = tu_xmalloc(vlen);
    tu_fill_pattern(val, vlen, rec_len);
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, 0, &txn);
    if (rc == 0) {
        ldb_val k = tu_str(key), v = {vlen, val};
        rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
        rc = rc ? rc : ldb_txn_commit(txn);
    }
    free(val);
    return rc;
}

static void expect_record_value(ldb_env *env, const char *key, size_t rec_len)
{
    size_t vlen = rec_len - WAL_RECORD_HEADER - WAL_OP_HEADER - strlen(key);
    uint8_t *val = tu_xmalloc(vlen);
    tu_fill_pattern(val, vlen, rec_len);
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_bytes(txn, LDB_MAIN, key, strlen(key), val, vlen);
    ldb_txn_abort(txn);
    free(val);
}

/* The largest record is WAL_RECORD_MAX (a u32 length); the hook lowers it
 * to CAP. With wal_max_bytes out of reach, a record of CAP bytes is
 * logged, one of CAP + 8 commits as a checkpoint; after a crash both and
 * the txns around them are there. Before: a record over 4 GiB had its
 * length cut to 32 bits and went to the log. */
START_TEST(test_record_length_boundary)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = {.wal_max_bytes = 1ull << 40};
    int rfd;
    pid_t pid = wl_fork(&rfd);
    if (pid == 0) {
        ldb__wal_set_record_max(CAP);
        ldb_env *env;
        int rc = ldb_open(path, &o, &env);
        if (rc)
            wl_child_exit(2, "open: %s", ldb_strerror(rc));
        ldb_stat a, b, d;
        ldb_stat_env(env, &a);
        if ((rc = put_record_of(env, "at-cap", CAP)) != 0)
            wl_child_exit(3, "a record of %d bytes: %s", CAP, ldb_strerror(rc));
        ldb_stat_env(env, &b);
        if (b.wal_size - a.wal_size != CAP || b.checkpoints != a.checkpoints)
            wl_child_exit(4, "a record of %d bytes: log %" PRIu64 " -> %" PRIu64
                          ", checkpoints %" PRIu64 " -> %" PRIu64 ", want it logged",
                          CAP, a.wal_size, b.wal_size, a.checkpoints, b.checkpoints);
        if ((rc = put_record_of(env, "past-cap", CAP + 8)) != 0)
            wl_child_exit(5, "a record of %d bytes: %s", CAP + 8, ldb_strerror(rc));
        ldb_stat_env(env, &d);
        if (d.checkpoints != b.checkpoints + 1 || d.wal_size > b.wal_size)
            wl_child_exit(6, "a record of %d bytes: log %" PRIu64 " -> %" PRIu64
                          ", checkpoints %" PRIu64 " -> %" PRIu64 ", want a checkpoint",
                          CAP + 8, b.wal_size, d.wal_size, b.checkpoints, d.checkpoints);
        if ((rc = put_record_of(env, "after", 200)) != 0)
            wl_child_exit(7, "a small record: %s", ldb_strerror(rc));
        wl_child_exit(0, "done"); /* a crash */
    }
    wl_log log = {0};
    wl_expect_exit0(wl_finish(pid, rfd, &log, 60, "length child"), "length child");
    wl_log_free(&log);
    ldb_env *env = tu_open(path, &o);
    expect_record_value(env, "at-cap", CAP);
    expect_record_value(env, "past-cap", CAP + 8);
    expect_record_value(env, "after", 200);
    ck_assert_uint_eq(tu_env_stat(env).last_txn_id, 3);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* Op lengths are checked against their fields (u8 name, u16 key, u32
 * value), not cut to them. */
START_TEST(test_op_length_fields)
{
    static const uint8_t bytes[8] = {0};
    struct ldb__wal_buf b = {0};
    struct ldb__wal_op op = {WAL_OP_PUT, bytes, 0, bytes, 1, bytes, 1};
    op.name_len = 256;
    TU_RC_IS(ldb__wal_buf_add(&b, &op, UINT64_MAX), LDB_TOOBIG);
    op.name_len = 0;
    op.key_len = 65536;
    TU_RC_IS(ldb__wal_buf_add(&b, &op, UINT64_MAX), LDB_TOOBIG);
    op.key_len = 1;
    op.value_len = (size_t)UINT32_MAX + 1;
    TU_RC_IS(ldb__wal_buf_add(&b, &op, UINT64_MAX), LDB_TOOBIG);
    ck_assert_uint_eq(b.nops, 0);
    /* At the boundary: a record of exactly the limit is kept, 8 more is not. */
    op.value_len = 0;
    op.key_len = 8;
    TU_RC_OK(ldb__wal_buf_add(&b, &op, WAL_RECORD_HEADER + WAL_OP_HEADER + 8));
    ck_assert(!b.too_big && b.nops == 1);
    TU_RC_OK(ldb__wal_buf_add(&b, &op, WAL_RECORD_HEADER + 2 * (WAL_OP_HEADER + 8) - 8));
    ck_assert(b.too_big);
    ldb__wal_buf_free(&b);
}
END_TEST

/* ---- version 1 ---------------------------------------------------------------------- */

/* A database that 0.1.0 left after a crash: its data file at txn 1 and a
 * version-1 log with txns 1..4 (txn 1 is in the checkpoint already) and a
 * torn fifth. Loop 0 opens it read-write, loop 1 LDB_RDONLY. */
START_TEST(test_v1_log_recovers)
{
    char dir[4096], path[4200], wal[4300];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    snprintf(wal, sizeof wal, "%s-wal", path);
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, 0);
    tu_put_str(txn, LDB_MAIN, "one", "1");
    TU_RC_OK(ldb_txn_commit(txn));
    TU_RC_OK(ldb_close(env)); /* checkpointed at txn 1, log emptied */
    tu_v1_log *l = tu_xmalloc(sizeof *l);
    tu_v1_begin(l, tu_db_id_of(path), 0);
    tu_v1_op(l, WAL_OP_PUT, NULL, "one", "1");
    tu_v1_seal(l, 1);
    tu_v1_op(l, WAL_OP_PUT, NULL, "two", "2");
    tu_v1_op(l, WAL_OP_CREATE, "tree", NULL, NULL);
    tu_v1_op(l, WAL_OP_PUT, "tree", "in-tree", "x");
    tu_v1_seal(l, 2);
    tu_v1_op(l, WAL_OP_DEL, NULL, "one", NULL);
    tu_v1_op(l, WAL_OP_PUT, NULL, "three", "3");
    tu_v1_seal(l, 3);
    tu_v1_op(l, WAL_OP_PUT, NULL, "four", "4");
    tu_v1_seal(l, 4);
    size_t keep = l->len;
    tu_v1_op(l, WAL_OP_PUT, NULL, "five", "5");
    tu_v1_seal(l, 5);
    l->buf[l->len - 3] ^= 1; /* torn: fails its crc */
    tu_v1_write(l, wal);
    ck_assert(keep < l->len);
    free(l);
    ldb_options ro = {.flags = LDB_RDONLY};
    env = tu_open(path, _i ? &ro : NULL);
    txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_absent(txn, LDB_MAIN, "one");
    tu_expect_str(txn, LDB_MAIN, "two", "2");
    tu_expect_str(txn, LDB_MAIN, "three", "3");
    tu_expect_str(txn, LDB_MAIN, "four", "4");
    tu_expect_absent(txn, LDB_MAIN, "five");
    ldb_dbi dbi;
    TU_RC_OK(ldb_dbi_open(txn, "tree", 0, &dbi));
    tu_expect_str(txn, dbi, "in-tree", "x");
    ldb_txn_abort(txn);
    ck_assert_uint_eq(tu_env_stat(env).last_txn_id, 4);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    /* It goes on in the current format. */
    env = tu_open(path, NULL);
    txn = tu_begin(env, 0);
    tu_put_str(txn, LDB_MAIN, "five", "5");
    TU_RC_OK(ldb_txn_commit(txn));
    uint8_t h[12];
    int fd = open(wal, O_RDONLY);
    ck_assert(fd >= 0 && pread(fd, h, sizeof h, 0) == (ssize_t)sizeof h);
    close(fd);
    ck_assert_uint_eq(ldb__ld_le32(h + 8), WAL_VERSION);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

static Suite *waldamage_suite(void)
{
    Suite *s = suite_create("waldamage");
    TCase *tc = tcase_create("durable");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_flip_in_durable_record);
    tcase_add_loop_test(tc, test_damaged_record_header, 0, 8);
    tcase_add_test(tc, test_zeroed_record_header);
    tcase_add_test(tc, test_damaged_log_header);
    suite_add_tcase(s, tc);
    tc = tcase_create("torn");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_torn_tail_recovers, 0, TORN_KINDS);
    tcase_add_test(tc, test_sync_off_damage);
    suite_add_tcase(s, tc);
    tc = tcase_create("length");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_record_length_boundary);
    tcase_add_test(tc, test_op_length_fields);
    suite_add_tcase(s, tc);
    tc = tcase_create("v1");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_v1_log_recovers, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *s = waldamage_suite();
    return tu_run_suites(&s, 1);
}
