/* SPDX-License-Identifier: MIT */
/*
 * Point-in-time recovery (issue 12): the log archive (archive_dir) and
 * ldb_restore, ldb_archive_list, ldb_archive_prune.
 *
 *  - targets: a writer commits a deterministic sequence of txns with a
 *    small wal_max_bytes (many checkpoints, so many segments) and a backup
 *    part-way; restores to several txn ids, to times between commits and
 *    to the newest archived txn each equal the in-memory model at that txn,
 *    pass ldb_check, and say which txn they reached.
 *  - mismatch: a backup with another database's archive, and a segment
 *    whose name was changed to this database's: LDB_MISMATCH.
 *  - gap: a middle segment deleted: LDB_NOTFOUND naming the missing txns;
 *    a target before the gap still restores.
 *  - damaged: a byte flipped inside a segment: LDB_CORRUPTED naming it.
 *  - interrupted: a restore killed part-way (test hook) leaves nothing at
 *    dest; the next one gives the same result as an uninterrupted one.
 *  - killed (SIGKILL from a test hook) at each step of archiving: after
 *    the temporary is written, synced, renamed, and before the log is
 *    reset, at the first and the third segment, and again while the next
 *    open archives the log it found: every acknowledged txn is in the
 *    database, every listed segment is whole, and a restore from the
 *    backup and the archive reaches exactly the database's txn and state.
 *  - restore killed at the 40th replayed txn, after the backup's copy,
 *    after the check and before the rename, after the rename: nothing at
 *    dest before the rename, a whole database after it; a rerun gives the
 *    same database and leaves no temporary.
 *  - follow: a replica built from a backup keeps the original's id and
 *    takes each new segment as it appears (nothing before); a gap is
 *    refused naming the txns and taken once the segment is there; a
 *    segment half-copied applies its whole txns, the rest once complete;
 *    another database's archive, or its segment under this one's name:
 *    LDB_MISMATCH, the replica untouched.
 *  - follow, no trim: megabytes freed at the end of the file (primary and
 *    replica): neither the primary's checkpoint nor the follower's close
 *    commits a space trim txn, so the archive has no hole and the replica
 *    stays at the original's txn, round after round.
 *  - follow reader: a process reading the replica while segments are
 *    applied sees only states of the model at whole txns.
 *  - archive fault: archiving fails (test hook, EIO) at a checkpoint and at
 *    close: the error is returned and counted, the log is kept, the next
 *    checkpoint (or open) archives every txn, and a restore is complete.
 *  - v1: a version-1 log found at open is archived; a txn target replays
 *    it, a time target gives LDB_VERSION.
 *  - prune and list: what the listing reports; prune removes only the
 *    segments wholly at or before the backup.
 */
#include "testutil.h"
#include "v1log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checksum.h"
#include "format.h"
#include "meta.h"
#include "wal.h"
#ifdef LDB_TEST_HOOKS
#include "archive.h"
#include "os.h"
#include "recovery.h"
#include "restore.h"
#endif

/* ---- the sequence and its model ------------------------------------------------ */

#define NKEYS 64
#define MAXTXN 400

/* The model: the value of each key of LDB_MAIN and of tree "t" (0: absent),
 * as the txn that wrote it. */
struct model {
    uint32_t main[NKEYS], tree[NKEYS];
    int tree_exists;
};

/* Txn i's ops, applied to the model and, if txn is not NULL, to the db. */
static void txn_ops(uint64_t i, struct model *m, ldb_txn *txn)
{
    uint64_t rng = i * 0x9E3779B97F4A7C15ull + 1;
    ldb_dbi t = 0;
    if (i == 7) {
        m->tree_exists = 1;
        if (txn)
            TU_RC_OK(ldb_dbi_open(txn, "t", LDB_CREATE, &t));
    } else if (m->tree_exists && txn) {
        TU_RC_OK(ldb_dbi_open(txn, "t", 0, &t));
    }
    for (int k = 0; k < 3; k++) {
        int key = (int)(tu_rand(&rng) % NKEYS), del = tu_rand(&rng) % 4 == 0;
        int in_tree = m->tree_exists && tu_rand(&rng) % 2;
        uint32_t *slot = in_tree ? &m->tree[key] : &m->main[key];
        char kb[16], vb[64];
        snprintf(kb, sizeof kb, "k%03d", key);
        snprintf(vb, sizeof vb, "v%" PRIu64 "-%d-%0*d", i, key, (int)(i % 40), 0);
        if (del) {
            if (txn && *slot)
                TU_RC_OK(ldb_del(txn, in_tree ? t : LDB_MAIN, &(ldb_val){strlen(kb), kb}));
            *slot = 0;
        } else {
            if (txn)
                tu_put_str(txn, in_tree ? t : LDB_MAIN, kb, vb);
            *slot = (uint32_t)i;
        }
    }
}

static void model_at(uint64_t txn, struct model *m)
{
    memset(m, 0, sizeof *m);
    for (uint64_t i = 1; i <= txn; i++)
        txn_ops(i, m, NULL);
}

/* One tree against its model: every key, in both directions. */
static void expect_tree(ldb_txn *txn, ldb_dbi dbi, const uint32_t *vals)
{
    for (int key = 0; key < NKEYS; key++) {
        char kb[16], vb[64];
        snprintf(kb, sizeof kb, "k%03d", key);
        if (vals[key] == 0) {
            tu_expect_absent(txn, dbi, kb);
            continue;
        }
        snprintf(vb, sizeof vb, "v%" PRIu32 "-%d-%0*d", vals[key], key, (int)(vals[key] % 40), 0);
        tu_expect_str(txn, dbi, kb, vb);
    }
    ldb_tree_stat st = tu_tree_stat(txn, dbi);
    uint64_t n = 0;
    for (int key = 0; key < NKEYS; key++)
        n += vals[key] != 0;
    TU_REQUIRE(st.entries == n, "entries %" PRIu64 ", model %" PRIu64, st.entries, n);
}

/* The database at path equals the model after txn want, and passes ldb_check. */
static void expect_db(const char *path, uint64_t want)
{
    struct model m;
    model_at(want, &m);
    /* Read-only: a writable close may commit a space trim txn, which would
     * put a replica one txn ahead of its original. */
    ldb_options o = {0};
    o.flags = LDB_RDONLY;
    ldb_env *env = tu_open(path, &o);
    tu_check_env(env);
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    TU_REQUIRE(ldb_txn_id(txn) == want, "restored txn %" PRIu64 ", want %" PRIu64,
               ldb_txn_id(txn), want);
    expect_tree(txn, LDB_MAIN, m.main);
    ldb_dbi t;
    int rc = ldb_dbi_open(txn, "t", 0, &t);
    TU_REQUIRE(rc == (m.tree_exists ? 0 : LDB_NOTFOUND), "tree t: %d", rc);
    if (rc == 0)
        expect_tree(txn, t, m.tree);
    ldb_txn_abort(txn);
    TU_RC_OK(ldb_close(env));
}

static uint64_t now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

/* A database at <dir>/db, its archive <dir>/arch, and a backup <dir>/backup
 * taken after txn backup_at. */
struct run {
    char dir[4096], path[4200], arch[4200], backup[4200];
    uint64_t after[MAXTXN + 1]; /* a time after txn i committed, before i + 1 */
};

static void run_init(struct run *r)
{
    tu_fresh_db(r->dir, sizeof r->dir, r->path, sizeof r->path);
    snprintf(r->arch, sizeof r->arch, "%s/arch", r->dir);
    snprintf(r->backup, sizeof r->backup, "%s/backup", r->dir);
    ck_assert(mkdir(r->arch, 0755) == 0);
}

static ldb_options run_options(const struct run *r)
{
    ldb_options o = {0};
    o.wal_max_bytes = 4096;
    o.archive_dir = r->arch;
    return o;
}

/* Commit txns from..to (the env is at from - 1), a backup after backup_at
 * (0: none). */
static void commit_txns(struct run *r, ldb_env *env, uint64_t from, uint64_t to,
                        uint64_t backup_at)
{
    struct model m;
    model_at(from - 1, &m);
    for (uint64_t i = from; i <= to; i++) {
        while (now_us() <= r->after[i - 1])
            ; /* txn i's commit time is after r->after[i - 1] */
        ldb_txn *txn = tu_begin(env, 0);
        ck_assert_uint_eq(ldb_txn_id(txn), i);
        txn_ops(i, &m, txn);
        TU_RC_OK(ldb_txn_commit(txn));
        r->after[i] = now_us();
        while (now_us() <= r->after[i])
            ;
        if (i == backup_at)
            TU_RC_OK(ldb_backup(env, r->backup, 0));
    }
}

/* n txns, a backup after backup_at, then a checkpoint: all archived. */
static void run_workload(struct run *r, uint64_t n, uint64_t backup_at)
{
    run_init(r);
    ldb_options o = run_options(r);
    ldb_env *env = tu_open(r->path, &o);
    commit_txns(r, env, 1, n, backup_at);
    TU_RC_OK(ldb_checkpoint(env));
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
}

/* run_workload() on a run of its own (the caller frees it). */
static struct run *new_workload(uint64_t n, uint64_t backup_at)
{
    struct run *r = tu_xmalloc(sizeof *r);
    memset(r, 0, sizeof *r);
    run_workload(r, n, backup_at);
    return r;
}

static int restore(struct run *r, const char *dest, uint64_t to_txn, uint64_t to_time,
                   uint64_t *got, char *err, size_t errlen)
{
    return ldb_restore(r->backup, r->arch, dest, to_txn, to_time, got, err, errlen);
}

static size_t count_segments(const char *arch)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c '\\.ldblog$'", arch);
    FILE *p = popen(cmd, "r");
    ck_assert(p != NULL);
    unsigned long n = 0;
    ck_assert(fscanf(p, "%lu", &n) == 1);
    pclose(p);
    return n;
}

/* ---- tests ----------------------------------------------------------------------- */

/* What ldb_restore_ex told its progress callback. */
struct restore_progress {
    unsigned calls;
    uint64_t done, total;
    int went_back;
};

static int note_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct restore_progress *rp = ctx;
    if (done < rp->done || done > total)
        rp->went_back = 1;
    rp->calls++;
    rp->done = done;
    rp->total = total;
    return 0;
}

START_TEST(test_restore_targets)
{
    struct run *r = new_workload(300, 60);
    ck_assert_uint_ge(count_segments(r->arch), 8);
    static const uint64_t txns[] = {60, 61, 99, 150, 233, 300};
    char dest[4300], err[512];
    uint64_t got;
    for (size_t i = 0; i < sizeof txns / sizeof txns[0]; i++) {
        snprintf(dest, sizeof dest, "%s/to-txn-%" PRIu64, r->dir, txns[i]);
        got = 0;
        int rc = restore(r, dest, txns[i], 0, &got, err, sizeof err);
        TU_REQUIRE(rc == 0, "to txn %" PRIu64 ": %d %s", txns[i], rc, err);
        ck_assert_uint_eq(got, txns[i]);
        expect_db(dest, txns[i]);
    }
    static const uint64_t times[] = {60, 75, 180, 299};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        snprintf(dest, sizeof dest, "%s/to-time-%" PRIu64, r->dir, times[i]);
        int rc = restore(r, dest, 0, r->after[times[i]], &got, err, sizeof err);
        TU_REQUIRE(rc == 0, "to time after %" PRIu64 ": %d %s", times[i], rc, err);
        ck_assert_uint_eq(got, times[i]);
        expect_db(dest, times[i]);
    }
    snprintf(dest, sizeof dest, "%s/latest", r->dir);
    struct restore_progress rp = {0};
    TU_RC_OK(ldb_restore_ex(r->backup, r->arch, dest, 0, 0, &got, note_progress, &rp, err,
                            sizeof err));
    ck_assert_uint_eq(got, 300);
    expect_db(dest, 300);
    /* Reported after each segment past the backup (txn 60), ending at
     * done == total == the 240 txns replayed. */
    ck_assert_uint_ge(rp.calls, 4);
    ck_assert_int_eq(rp.went_back, 0);
    ck_assert_uint_eq(rp.done, 240);
    ck_assert_uint_eq(rp.total, 240);
    /* Its own history from here: a database id of its own, and no segment
     * of the original's restores onto it. */
    ck_assert_uint_ne(tu_db_id_of(dest), tu_db_id_of(r->path));
    char again[4300];
    snprintf(again, sizeof again, "%s/again", r->dir);
    TU_RC_IS(ldb_restore(dest, r->arch, again, 0, 0, &got, err, sizeof err), LDB_MISMATCH);
    /* dest exists: refused, untouched. */
    TU_RC_IS(restore(r, dest, 0, 0, &got, err, sizeof err), -EEXIST);
    expect_db(dest, 300);
    /* Beyond the archive; before the backup. */
    snprintf(dest, sizeof dest, "%s/beyond", r->dir);
    TU_RC_IS(restore(r, dest, 301, 0, &got, err, sizeof err), LDB_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "ends at txn 300"));
    TU_RC_IS(restore(r, dest, 0, now_us() + 1000000, &got, err, sizeof err), LDB_NOTFOUND);
    TU_RC_IS(restore(r, dest, 59, 0, &got, err, sizeof err), LDB_INVALID);
    TU_RC_IS(restore(r, dest, 0, r->after[59], &got, err, sizeof err), LDB_INVALID);
    ck_assert_ptr_nonnull(strstr(err, "after the target time"));
    ck_assert_int_eq(access(dest, F_OK), -1);
    tu_remove_dir(r->arch);
    free(r);
}
END_TEST

/* Segments that continue after a reopen (the log found at open is archived
 * then), and a restore across them. */
START_TEST(test_restore_across_reopen)
{
    struct run *r = tu_xmalloc(sizeof *r);
    memset(r, 0, sizeof *r);
    run_init(r);
    ldb_options o = run_options(r);
    o.wal_max_bytes = 1 << 20; /* no checkpoint until close */
    for (int round = 0; round < 3; round++) {
        ldb_env *env = tu_open(r->path, &o);
        commit_txns(r, env, 1 + 40 * (uint64_t)round, 40 * (uint64_t)round + 40, round ? 0 : 10);
        TU_RC_OK(ldb_close(env));
    }
    ck_assert_uint_eq(count_segments(r->arch), 3);
    char dest[4300], err[512];
    uint64_t got;
    snprintf(dest, sizeof dest, "%s/latest", r->dir);
    TU_RC_OK(restore(r, dest, 0, 0, &got, err, sizeof err));
    ck_assert_uint_eq(got, 120);
    expect_db(dest, 120);
    tu_remove_dir(r->arch);
    free(r);
}
END_TEST

static char first_segment[256];

static int remember(void *ctx, const ldb_archive_segment *s)
{
    int *n = ctx;
    if ((*n)++ == 0)
        snprintf(first_segment, sizeof first_segment, "%s", s->name);
    return 0;
}

START_TEST(test_restore_mismatch)
{
    struct run *a = tu_xmalloc(sizeof *a), *b = tu_xmalloc(sizeof *b);
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    run_workload(a, 80, 20);
    run_workload(b, 80, 20);
    char dest[4300], err[512];
    uint64_t got;
    snprintf(dest, sizeof dest, "%s/mixed", a->dir);
    TU_RC_IS(ldb_restore(a->backup, b->arch, dest, 0, 0, &got, err, sizeof err), LDB_MISMATCH);
    ck_assert_ptr_nonnull(strstr(err, "database"));
    ck_assert_int_eq(access(dest, F_OK), -1);
    /* One of b's segments renamed as a's: refused by its header. */
    int n = 0;
    TU_RC_OK(ldb_archive_list(b->arch, remember, &n));
    ck_assert_int_gt(n, 1);
    char from[4600], to[4600], adb[17];
    n = 0;
    TU_RC_OK(ldb_archive_list(a->arch, remember, &n));
    memcpy(adb, first_segment, 16);
    adb[16] = '\0';
    n = 0;
    TU_RC_OK(ldb_archive_list(b->arch, remember, &n));
    snprintf(from, sizeof from, "%s/%s", b->arch, first_segment);
    snprintf(to, sizeof to, "%s/%s%s", b->arch, adb, first_segment + 16);
    ck_assert(rename(from, to) == 0);
    TU_RC_IS(ldb_restore(a->backup, b->arch, dest, 0, 0, &got, err, sizeof err), LDB_MISMATCH);
    ck_assert_int_eq(access(dest, F_OK), -1);
    /* Prune refuses another database's archive too. */
    uint64_t removed = 9;
    TU_RC_OK(ldb_archive_prune(a->arch, a->backup, &removed));
    tu_remove_dir(a->arch);
    tu_remove_dir(b->arch);
    free(a);
    free(b);
}
END_TEST

struct seg_names {
    char name[64][128];
    uint64_t first[64], last[64], t0[64], t1[64];
    int status[64];
    int n;
};

static int collect(void *ctx, const ldb_archive_segment *s)
{
    struct seg_names *sn = ctx;
    if (sn->n < 64) {
        snprintf(sn->name[sn->n], sizeof sn->name[0], "%s", s->name);
        sn->first[sn->n] = s->first_txn;
        sn->last[sn->n] = s->last_txn;
        sn->t0[sn->n] = s->first_time_us;
        sn->t1[sn->n] = s->last_time_us;
        sn->status[sn->n] = s->status;
        sn->n++;
    }
    return 0;
}

/* The archive's segments as ldb_archive_list() reports them (caller frees). */
static struct seg_names *list_segments(const char *arch)
{
    struct seg_names *sn = tu_xmalloc(sizeof *sn);
    memset(sn, 0, sizeof *sn);
    TU_RC_OK(ldb_archive_list(arch, collect, sn));
    return sn;
}

START_TEST(test_restore_gap)
{
    struct run *r = new_workload(200, 30);
    struct seg_names *sn = list_segments(r->arch);
    ck_assert_int_ge(sn->n, 5);
    /* The listing: consecutive txns, times in order, all whole. */
    for (int i = 0; i < sn->n; i++) {
        ck_assert_int_eq(sn->status[i], 0);
        ck_assert(sn->t0[i] > 0 && sn->t0[i] <= sn->t1[i]);
        if (i > 0)
            ck_assert_uint_eq(sn->first[i], sn->last[i - 1] + 1);
    }
    int mid = sn->n / 2;
    while (sn->first[mid] <= 31)
        mid++;
    char path[4600], want[128], dest[4300], err[512];
    snprintf(path, sizeof path, "%s/%s", r->arch, sn->name[mid]);
    ck_assert(unlink(path) == 0);
    snprintf(want, sizeof want, "txns %" PRIu64 "..%" PRIu64, sn->first[mid], sn->last[mid]);
    uint64_t got;
    snprintf(dest, sizeof dest, "%s/gap", r->dir);
    TU_RC_IS(restore(r, dest, 0, 0, &got, err, sizeof err), LDB_NOTFOUND);
    TU_REQUIRE(strstr(err, want) != NULL, "'%s' does not name %s", err, want);
    ck_assert_int_eq(access(dest, F_OK), -1);
    TU_RC_IS(restore(r, dest, sn->last[mid] + 1, 0, &got, err, sizeof err), LDB_NOTFOUND);
    /* Before the gap: fine. */
    TU_RC_OK(restore(r, dest, sn->first[mid] - 1, 0, &got, err, sizeof err));
    expect_db(dest, sn->first[mid] - 1);
    tu_remove_dir(r->arch);
    free(sn);
    free(r);
}
END_TEST

START_TEST(test_restore_damaged)
{
    struct run *r = new_workload(150, 10);
    struct seg_names *sn = list_segments(r->arch);
    int mid = sn->n / 2;
    char path[4600], dest[4300], err[512];
    snprintf(path, sizeof path, "%s/%s", r->arch, sn->name[mid]);
    struct stat st;
    ck_assert(stat(path, &st) == 0);
    tu_flip_byte(path, (uint64_t)st.st_size / 2, 0x10);
    memset(sn, 0, sizeof *sn);
    TU_RC_OK(ldb_archive_list(r->arch, collect, sn));
    ck_assert_int_eq(sn->status[mid], LDB_CORRUPTED);
    uint64_t got;
    snprintf(dest, sizeof dest, "%s/damaged", r->dir);
    TU_RC_IS(restore(r, dest, 0, 0, &got, err, sizeof err), LDB_CORRUPTED);
    TU_REQUIRE(strstr(err, sn->name[mid]) != NULL, "'%s' does not name the segment", err);
    ck_assert_int_eq(access(dest, F_OK), -1);
    tu_remove_dir(r->arch);
    free(sn);
    free(r);
}
END_TEST

START_TEST(test_restore_prune)
{
    struct run *r = new_workload(200, 100);
    struct seg_names *sn = list_segments(r->arch);
    uint64_t older = 0, removed = 0;
    for (int i = 0; i < sn->n; i++)
        older += sn->last[i] <= 100;
    ck_assert_uint_gt(older, 0);
    TU_RC_OK(ldb_archive_prune(r->arch, r->backup, &removed));
    ck_assert_uint_eq(removed, older);
    ck_assert_uint_eq(count_segments(r->arch), (uint64_t)sn->n - older);
    char dest[4300], err[512];
    uint64_t got;
    snprintf(dest, sizeof dest, "%s/after-prune", r->dir);
    TU_RC_OK(restore(r, dest, 0, 0, &got, err, sizeof err));
    expect_db(dest, 200);
    tu_remove_dir(r->arch);
    free(sn);
    free(r);
}
END_TEST

/* ---- following: a replica -------------------------------------------------------- */

static int follow(struct run *r, const char *replica, uint64_t *got, char *err, size_t errlen)
{
    return ldb_restore_follow(r->backup, r->arch, replica, got, err, errlen);
}

/* Rename segment name in arch to name + suffix, or back (back != 0). */
static void hide_segment(const char *arch, const char *name, int back)
{
    char a[4400], b[4500];
    snprintf(a, sizeof a, "%s/%s", arch, name);
    snprintf(b, sizeof b, "%s.hidden", a);
    ck_assert(rename(back ? b : a, back ? a : b) == 0);
}

static char newest_segment[256];

static int remember_newest(void *ctx, const ldb_archive_segment *s)
{
    (void)ctx;
    snprintf(newest_segment, sizeof newest_segment, "%s", s->name);
    return 0;
}

START_TEST(test_follow_segments)
{
    struct run *r = tu_xmalloc(sizeof *r);
    memset(r, 0, sizeof *r);
    run_init(r);
    ldb_options o = run_options(r);
    o.wal_max_bytes = 1 << 20; /* a segment at each ldb_checkpoint only */
    ldb_env *env = tu_open(r->path, &o);
    char replica[4300], err[512];
    snprintf(replica, sizeof replica, "%s/replica", r->dir);
    uint64_t got = 0;
    TU_RC_IS(ldb_restore_follow(NULL, r->arch, replica, &got, err, sizeof err), -ENOENT);
    commit_txns(r, env, 1, 40, 10);
    TU_RC_OK(ldb_checkpoint(env));
    /* Built from the backup and the archive, with the original's id. */
    TU_RC_OK(follow(r, replica, &got, err, sizeof err));
    ck_assert_uint_eq(got, 40);
    expect_db(replica, 40);
    ck_assert_uint_eq(tu_db_id_of(replica), tu_db_id_of(r->path));
    /* Txns not yet archived are not there; each segment is, as it appears. */
    commit_txns(r, env, 41, 80, 0);
    TU_RC_OK(ldb_restore_follow(NULL, r->arch, replica, &got, err, sizeof err));
    ck_assert_uint_eq(got, 40);
    TU_RC_OK(ldb_checkpoint(env));
    TU_RC_OK(ldb_restore_follow(NULL, r->arch, replica, &got, err, sizeof err));
    ck_assert_uint_eq(got, 80);
    expect_db(replica, 80);
    /* A gap: the segment of 81..120 missing, 121..160 there. */
    commit_txns(r, env, 81, 120, 0);
    TU_RC_OK(ldb_checkpoint(env));
    TU_RC_OK(ldb_archive_list(r->arch, remember_newest, NULL));
    char gap[256];
    snprintf(gap, sizeof gap, "%s", newest_segment);
    commit_txns(r, env, 121, 160, 0);
    TU_RC_OK(ldb_checkpoint(env));
    hide_segment(r->arch, gap, 0);
    TU_RC_IS(follow(r, replica, &got, err, sizeof err), LDB_NOTFOUND);
    TU_REQUIRE(strstr(err, "txns 81..120") != NULL, "gap message: %s", err);
    ck_assert_uint_eq(got, 80);
    expect_db(replica, 80);
    hide_segment(r->arch, gap, 1);
    TU_RC_OK(follow(r, replica, &got, err, sizeof err));
    ck_assert_uint_eq(got, 160);
    /* A segment still arriving (half its bytes under its final name): the
     * whole txns in it are applied, the rest when it is complete. */
    commit_txns(r, env, 161, 200, 0);
    TU_RC_OK(ldb_checkpoint(env));
    TU_RC_OK(ldb_archive_list(r->arch, remember_newest, NULL));
    char seg[4600], saved[4500];
    snprintf(seg, sizeof seg, "%s/%s", r->arch, newest_segment);
    snprintf(saved, sizeof saved, "%s/saved", r->dir);
    ck_assert(rename(seg, saved) == 0);
    struct stat sb;
    ck_assert(stat(saved, &sb) == 0);
    char cmd[9400];
    snprintf(cmd, sizeof cmd, "head -c %lld %s > %s", (long long)sb.st_size / 2, saved, seg);
    ck_assert(system(cmd) == 0);
    TU_RC_IS(follow(r, replica, &got, err, sizeof err), LDB_CORRUPTED);
    TU_REQUIRE(got > 160 && got < 200, "part of a segment: at txn %" PRIu64, got);
    expect_db(replica, got);
    ck_assert(rename(saved, seg) == 0);
    TU_RC_OK(follow(r, replica, &got, err, sizeof err));
    ck_assert_uint_eq(got, 200);
    expect_db(replica, 200);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    /* Another database's archive: refused, the replica untouched. */
    struct run *other = tu_xmalloc(sizeof *other);
    memset(other, 0, sizeof *other);
    run_workload(other, 50, 5);
    TU_RC_IS(ldb_restore_follow(NULL, other->arch, replica, &got, err, sizeof err),
             LDB_MISMATCH);
    expect_db(replica, 200);
    /* A segment of another database under this one's name: refused. */
    TU_RC_OK(ldb_archive_list(other->arch, remember_newest, NULL));
    char from[4600], to[4400], name[128];
    snprintf(from, sizeof from, "%s/%s", other->arch, newest_segment);
    snprintf(name, sizeof name, "%016" PRIx64 "-%020d-%020d.ldblog", tu_db_id_of(r->path), 201,
             260);
    snprintf(to, sizeof to, "%s/%s", r->arch, name);
    ck_assert(rename(from, to) == 0);
    TU_RC_IS(follow(r, replica, &got, err, sizeof err), LDB_MISMATCH);
    expect_db(replica, 200);
    tu_remove_dir(other->arch);
    tu_remove_dir(r->arch);
    free(other);
    free(r);
}
END_TEST

/* A replica whose applied txns freed megabytes at the end of its file: the
 * follower's close must not commit a space trim txn of its own (the next
 * segment's first txn would then be taken as applied). */
START_TEST(test_follow_no_trim)
{
    struct run *r = tu_xmalloc(sizeof *r);
    memset(r, 0, sizeof *r);
    run_init(r);
    ldb_options o = run_options(r);
    o.wal_max_bytes = 64 << 20; /* a segment at each ldb_checkpoint only */
    ldb_env *env = tu_open(r->path, &o);
    TU_RC_OK(ldb_backup(env, r->backup, 0));
    char big[2000], key[32];
    memset(big, 'b', sizeof big);
    for (int t = 0; t < 4; t++) { /* txns 1..4: 4 MB of values */
        ldb_txn *txn = tu_begin(env, 0);
        for (int i = 0; i < 500; i++) {
            snprintf(key, sizeof key, "big%05d", t * 500 + i);
            TU_RC_OK(ldb_put(txn, LDB_MAIN, &(ldb_val){strlen(key), key},
                             &(ldb_val){sizeof big, big}, 0));
        }
        TU_RC_OK(ldb_txn_commit(txn));
    }
    ldb_txn *txn = tu_begin(env, 0); /* txn 5: all gone */
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "big%05d", i);
        TU_RC_OK(ldb_del(txn, LDB_MAIN, &(ldb_val){strlen(key), key}));
    }
    TU_RC_OK(ldb_txn_commit(txn));
    txn = tu_begin(env, 0); /* txn 6 */
    tu_put_str(txn, LDB_MAIN, "k001", "v6-1-000000");
    TU_RC_OK(ldb_txn_commit(txn));
    char replica[4300], err[512];
    snprintf(replica, sizeof replica, "%s/replica", r->dir);
    uint64_t got = 0;
    for (int round = 0; round < 3; round++) {
        TU_RC_OK(ldb_checkpoint(env));
        int rc = follow(r, replica, &got, err, sizeof err);
        TU_REQUIRE(rc == 0, "round %d: %d %s", round, rc, err);
        ldb_options ro = {0};
        ro.flags = LDB_RDONLY;
        ldb_env *renv = tu_open(replica, &ro);
        ldb_txn *rt = tu_begin(renv, LDB_TXN_RDONLY);
        TU_REQUIRE(ldb_txn_id(rt) == 6 + (uint64_t)round, "round %d: replica at txn %" PRIu64,
                   round, ldb_txn_id(rt));
        tu_expect_str(rt, LDB_MAIN, "k001", round ? "again" : "v6-1-000000");
        ldb_txn_abort(rt);
        TU_RC_OK(ldb_close(renv));
        txn = tu_begin(env, 0);
        tu_put_str(txn, LDB_MAIN, "k001", "again");
        TU_RC_OK(ldb_txn_commit(txn));
    }
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(r->arch);
    free(r);
}
END_TEST

/* Whether a snapshot holds exactly the model's state at its txn id; no
 * check asserts (it runs in a child process). */
static int snapshot_matches(ldb_txn *txn)
{
    struct model m;
    model_at(ldb_txn_id(txn), &m);
    ldb_dbi t = 0;
    int rc = ldb_dbi_open(txn, "t", 0, &t);
    if (rc != (m.tree_exists ? 0 : LDB_NOTFOUND))
        return 0;
    for (int tree = 0; tree < 1 + m.tree_exists; tree++) {
        const uint32_t *vals = tree ? m.tree : m.main;
        for (int key = 0; key < NKEYS; key++) {
            char kb[16], vb[64];
            snprintf(kb, sizeof kb, "k%03d", key);
            snprintf(vb, sizeof vb, "v%" PRIu32 "-%d-%0*d", vals[key], key,
                     (int)(vals[key] % 40), 0);
            ldb_val v;
            rc = ldb_get(txn, tree ? t : LDB_MAIN, &(ldb_val){strlen(kb), kb}, &v);
            if (vals[key] == 0 ? rc != LDB_NOTFOUND
                               : rc != 0 || v.size != strlen(vb) || memcmp(v.data, vb, v.size))
                return 0;
        }
    }
    return 1;
}

#define FOLLOW_TXNS 400

/* A reader of the replica in another process: snapshots until it sees
 * FOLLOW_TXNS, writing each new txn id it sees to seen_fd (the test waits
 * for each round's last txn there, so the reader sees every round however
 * the two processes are scheduled). Exit 0: every one was a whole txn and
 * it saw several; 1: a snapshot differed from the model at its txn; 2: too
 * few; 3: errors. */
static void replica_reader(const char *replica, int ready_fd, int seen_fd)
{
    ldb_options o = {0};
    o.flags = LDB_RDONLY;
    ldb_env *env;
    if (ldb_open(replica, &o, &env) < 0)
        _exit(3);
    char c = 1;
    if (write(ready_fd, &c, 1) != 1)
        _exit(3);
    uint64_t seen = 0, last = 0, deadline = now_us() + 120 * 1000000ull;
    while (last < FOLLOW_TXNS && now_us() < deadline) {
        ldb_txn *txn;
        if (ldb_txn_begin(env, LDB_TXN_RDONLY, &txn) < 0)
            _exit(3);
        if (!snapshot_matches(txn))
            _exit(1);
        if (ldb_txn_id(txn) != last) {
            seen++;
            last = ldb_txn_id(txn);
            if (write(seen_fd, &last, sizeof last) != sizeof last)
                _exit(3);
        }
        ldb_txn_abort(txn);
    }
    ldb_close(env);
    _exit(last == FOLLOW_TXNS && seen >= 3 ? 0 : 2);
}

/* Wait until the replica's reader reports a snapshot at txn id `to`. */
static void wait_reader_sees(int seen_fd, uint64_t to)
{
    uint64_t id = 0;
    while (id < to)
        TU_REQUIRE(read(seen_fd, &id, sizeof id) == sizeof id,
                   "the replica's reader stopped before it saw txn %" PRIu64, to);
}

START_TEST(test_follow_reader)
{
    struct run *r = tu_xmalloc(sizeof *r);
    memset(r, 0, sizeof *r);
    run_init(r);
    ldb_options o = run_options(r); /* a segment every ~30 txns */
    ldb_env *env = tu_open(r->path, &o);
    commit_txns(r, env, 1, 20, 20);
    TU_RC_OK(ldb_checkpoint(env));
    char replica[4300], err[512];
    snprintf(replica, sizeof replica, "%s/replica", r->dir);
    uint64_t got = 0;
    TU_RC_OK(follow(r, replica, &got, err, sizeof err));
    ck_assert_uint_eq(got, 20);
    int ready[2], seen[2];
    ck_assert(pipe(ready) == 0 && pipe(seen) == 0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(seen[0]);
        replica_reader(replica, ready[1], seen[1]);
    }
    close(ready[1]);
    close(seen[1]);
    char c;
    ck_assert(read(ready[0], &c, 1) == 1);
    close(ready[0]);
    /* The primary goes on; the replica follows each round's segments. */
    for (uint64_t from = 21; from <= FOLLOW_TXNS; from += 95) {
        uint64_t to = from + 94 < FOLLOW_TXNS ? from + 94 : FOLLOW_TXNS;
        commit_txns(r, env, from, to, 0);
        TU_RC_OK(ldb_checkpoint(env));
        int rc = follow(r, replica, &got, err, sizeof err);
        TU_REQUIRE(rc == 0, "follow: %d %s", rc, err);
        ck_assert_uint_eq(got, to);
        wait_reader_sees(seen[0], to);
    }
    close(seen[0]);
    int status = tu_wait_child(pid, 150, "replica reader");
    TU_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader: status %#x", status);
    expect_db(replica, FOLLOW_TXNS);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(r->arch);
    free(r);
}
END_TEST

#ifdef LDB_TEST_HOOKS
/* Called after each replayed txn (the count is per segment): die at the
 * 40th in all. */
static void die_at_40(uint64_t replayed)
{
    static int calls;
    (void)replayed;
    if (++calls == 40)
        _exit(0);
}

START_TEST(test_restore_interrupted)
{
    struct run *r = new_workload(160, 20);
    char dest[4300], tmp[4400], err[512];
    snprintf(dest, sizeof dest, "%s/restored", r->dir);
    snprintf(tmp, sizeof tmp, "%s.ldb-restore-tmp", dest);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        ldb__recovery_step_hook = die_at_40;
        ldb_restore(r->backup, r->arch, dest, 0, 0, NULL, NULL, 0);
        _exit(3); /* the hook should have ended it */
    }
    int status = tu_wait_child(pid, 60, "restore");
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(access(dest, F_OK), -1);
    ck_assert_int_eq(access(tmp, F_OK), 0); /* it was part-way */
    uint64_t got;
    TU_RC_OK(restore(r, dest, 0, 0, &got, err, sizeof err));
    ck_assert_uint_eq(got, 160);
    expect_db(dest, 160);
    ck_assert_int_eq(access(tmp, F_OK), -1);
    /* A failure part-way (a write fault) removes the temporary. */
    char dest2[4300];
    snprintf(dest2, sizeof dest2, "%s/restored2", r->dir);
    ldb__os_fault_set(LDB_FAULT_SYNC, 3, EIO);
    int rc = restore(r, dest2, 0, 0, &got, err, sizeof err);
    ldb__os_fault_reset();
    ck_assert_int_ne(rc, 0);
    ck_assert_int_eq(access(dest2, F_OK), -1);
    snprintf(tmp, sizeof tmp, "%s.ldb-restore-tmp", dest2);
    ck_assert_int_eq(access(tmp, F_OK), -1);
    tu_remove_dir(r->arch);
    free(r);
}
END_TEST

/* ---- kill -9 while archiving and while restoring ---------------------------------- */

/* Where the child dies: at the nth time it reaches step. */
static int kill_step, kill_nth;

static void kill_at_archive_step(enum ldb__archive_step step)
{
    static int seen;
    if ((int)step == kill_step && ++seen == kill_nth)
        raise(SIGKILL);
}

#define KILL_TXNS 200

/* The child: commit txns 1..KILL_TXNS with the archive on (a checkpoint,
 * so a segment, every ~30 txns), a backup after txn 10, writing each txn
 * id to ack_fd once its commit returned; the hook kills it part-way. */
static void archiving_child(struct run *r, int ack_fd)
{
    ldb__archive_step_hook = kill_at_archive_step;
    ldb_options o = run_options(r);
    ldb_env *env;
    if (ldb_open(r->path, &o, &env) < 0)
        _exit(2);
    struct model m;
    memset(&m, 0, sizeof m);
    for (uint64_t i = 1; i <= KILL_TXNS; i++) {
        ldb_txn *txn;
        if (ldb_txn_begin(env, 0, &txn) < 0)
            _exit(2);
        txn_ops(i, &m, txn);
        if (ldb_txn_commit(txn) < 0 || write(ack_fd, &i, sizeof i) != sizeof i)
            _exit(2);
        if (i == 10 && ldb_backup(env, r->backup, 0) < 0)
            _exit(2);
    }
    (void)ldb_close(env);
    _exit(3); /* the hook should have killed it */
}

/* Run f(r, arg) in a child that must die of SIGKILL. */
static void expect_killed(struct run *r, void (*f)(struct run *, int), int arg, const char *what)
{
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0)
        f(r, arg);
    int status = tu_wait_child(pid, 120, what);
    TU_REQUIRE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "%s: status %#x", what,
               status);
}

/* A child that opens the database with the archive on; the hook kills it
 * while it archives the log it found. */
static void reopening_child(struct run *r, int unused)
{
    (void)unused;
    ldb__archive_step_hook = kill_at_archive_step;
    ldb_options o = run_options(r);
    ldb_env *env;
    if (ldb_open(r->path, &o, &env) == 0)
        (void)ldb_close(env);
    _exit(3);
}

static int segments_valid(void *ctx, const ldb_archive_segment *s)
{
    (void)ctx;
    TU_REQUIRE(s->status == 0, "segment %s: %d", s->name, s->status);
    return 0;
}

/* One round: kill the writer at the nth reach of step (and, with
 * twice, the first reopen at the first reach of it too), reopen, close
 * (which archives the rest); then backup + archive restore to the txn the
 * database holds, no txn missing, equal to the model. */
static void archive_kill_round(int step, int nth, int twice)
{
    struct run *r = tu_xmalloc(sizeof *r);
    memset(r, 0, sizeof *r);
    run_init(r);
    int ack[2];
    ck_assert(pipe(ack) == 0);
    kill_step = step;
    kill_nth = nth;
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        close(ack[0]);
        archiving_child(r, ack[1]);
    }
    close(ack[1]);
    int status = tu_wait_child(pid, 120, "archiving writer");
    TU_REQUIRE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
               "step %d #%d: the writer was not killed (status %#x)", step, nth, status);
    uint64_t acked = 0, v;
    while (read(ack[0], &v, sizeof v) == sizeof v)
        acked = v;
    close(ack[0]);
    ck_assert_uint_gt(acked, 10); /* past the backup */
    if (twice) {
        kill_nth = 1;
        expect_killed(r, reopening_child, 0, "reopen");
    }
    ldb_options o = run_options(r);
    ldb_env *env = tu_open(r->path, &o);
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    uint64_t last = ldb_txn_id(txn);
    ldb_txn_abort(txn);
    /* Every acknowledged txn survived; at most the one in flight more. */
    TU_REQUIRE(last == acked || last == acked + 1, "step %d #%d: db at txn %" PRIu64
               ", acknowledged %" PRIu64, step, nth, last, acked);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    TU_RC_OK(ldb_archive_list(r->arch, segments_valid, NULL));
    char dest[4300], err[512];
    uint64_t got = 0;
    snprintf(dest, sizeof dest, "%s/restored", r->dir);
    int rc = restore(r, dest, 0, 0, &got, err, sizeof err);
    TU_REQUIRE(rc == 0, "step %d #%d%s: restore %d %s", step, nth, twice ? " twice" : "", rc,
               err);
    TU_REQUIRE(got == last, "step %d #%d: restored txn %" PRIu64 ", db %" PRIu64, step, nth, got,
               last);
    expect_db(dest, last);
    tu_remove_dir(r->arch);
    free(r);
}

START_TEST(test_archive_killed)
{
    for (int step = LDB_ARCHIVE_COPIED; step <= LDB_ARCHIVE_DONE; step++) {
        archive_kill_round(step, 1, 0);
        archive_kill_round(step, 3, step % 2);
    }
}
END_TEST

/* The restore child dies at a step (restore.h), or at replayed txn 40
 * (step 0). */
static void kill_at_restore_step(enum ldb__restore_step step)
{
    if ((int)step == kill_step)
        raise(SIGKILL);
}

static void kill_at_40(uint64_t replayed)
{
    static int calls;
    (void)replayed;
    if (++calls == 40)
        raise(SIGKILL);
}

/* A database and its side files. */
static void remove_db(const char *path)
{
    char side[4400];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-lock", path);
    unlink(side);
}

static void restoring_child(struct run *r, int step)
{
    kill_step = step;
    if (step == 0)
        ldb__recovery_step_hook = kill_at_40;
    else
        ldb__restore_step_hook = kill_at_restore_step;
    char dest[4300];
    snprintf(dest, sizeof dest, "%s/restored", r->dir);
    (void)ldb_restore(r->backup, r->arch, dest, 0, 0, NULL, NULL, 0);
    _exit(3);
}

START_TEST(test_restore_killed)
{
    struct run *r = new_workload(160, 20);
    char dest[4300], tmp[4400], err[512];
    snprintf(dest, sizeof dest, "%s/restored", r->dir);
    snprintf(tmp, sizeof tmp, "%s.ldb-restore-tmp", dest);
    for (int step = 0; step <= LDB_RESTORE_RENAMED; step++) {
        expect_killed(r, restoring_child, step, "restore");
        uint64_t got = 0;
        if (step == LDB_RESTORE_RENAMED) {
            /* Killed after the rename: dest is whole, and a rerun refuses
             * to replace it. */
            expect_db(dest, 160);
            TU_RC_IS(restore(r, dest, 0, 0, &got, err, sizeof err), -EEXIST);
        } else {
            TU_REQUIRE(access(dest, F_OK) == -1, "step %d: something at dest", step);
            TU_REQUIRE(access(tmp, F_OK) == 0, "step %d: no temporary", step);
            int rc = restore(r, dest, 0, 0, &got, err, sizeof err);
            TU_REQUIRE(rc == 0, "step %d: rerun %d %s", step, rc, err);
            ck_assert_uint_eq(got, 160);
        }
        expect_db(dest, 160);
        ck_assert_int_eq(access(tmp, F_OK), -1);
        remove_db(dest);
    }
    tu_remove_dir(r->arch);
    free(r);
}
END_TEST

START_TEST(test_archive_fault)
{
    struct run *r = tu_xmalloc(sizeof *r);
    memset(r, 0, sizeof *r);
    run_init(r);
    ldb_options o = run_options(r);
    o.wal_max_bytes = 1 << 20;
    ldb_env *env = tu_open(r->path, &o);
    commit_txns(r, env, 1, 30, 5);
    ldb__os_fault_set(LDB_FAULT_COPY, 1, EIO);
    TU_RC_IS(ldb_checkpoint(env), -EIO);
    ldb_stat st = tu_env_stat(env);
    ck_assert_uint_eq(st.archive_failures, 1);
    ck_assert_uint_eq(st.archive_segments, 0);
    ck_assert_uint_gt(st.wal_size, 0); /* the log was kept */
    ck_assert_uint_eq(count_segments(r->arch), 0);
    commit_txns(r, env, 31, 60, 0);
    TU_RC_OK(ldb_checkpoint(env)); /* archives 1..60 */
    st = tu_env_stat(env);
    ck_assert_uint_eq(st.archive_segments, 1);
    ck_assert_uint_eq(st.wal_size, 0);
    commit_txns(r, env, 61, 90, 0);
    /* At close: the error, and the log stays for the next open. */
    ldb__os_fault_set(LDB_FAULT_COPY, 1, ENOSPC);
    TU_RC_IS(ldb_close(env), -ENOSPC);
    ldb__os_fault_reset();
    ck_assert_uint_eq(count_segments(r->arch), 1);
    /* An open that cannot archive the log fails and keeps it. */
    ldb__os_fault_set(LDB_FAULT_COPY, 1, EIO);
    TU_RC_IS(ldb_open(r->path, &o, &env), -EIO);
    ldb__os_fault_reset();
    env = tu_open(r->path, &o);
    ck_assert_uint_eq(count_segments(r->arch), 2);
    commit_txns(r, env, 91, 100, 0);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    ck_assert_uint_eq(count_segments(r->arch), 3);
    char dest[4300], err[512];
    uint64_t got;
    snprintf(dest, sizeof dest, "%s/restored", r->dir);
    TU_RC_OK(restore(r, dest, 0, 0, &got, err, sizeof err));
    ck_assert_uint_eq(got, 100);
    expect_db(dest, 100);
    /* A missing archive directory fails the open. */
    o.archive_dir = "/nonexistent/archive";
    TU_RC_IS(ldb_open(r->path, &o, &env), -ENOENT);
    tu_remove_dir(r->arch);
    free(r);
}
END_TEST
#endif

/* ---- version 1 ---------------------------------------------------------------- */

/* A version-1 log (v1log.h) with one put per txn: "v1-NN" = "N". */
static void v1_log_write(const char *path, uint64_t db_id, uint64_t txns)
{
    tu_v1_log *l = tu_xmalloc(sizeof *l);
    tu_v1_begin(l, db_id, 0);
    for (uint64_t t = 1; t <= txns; t++) {
        char key[8], val[8];
        snprintf(key, sizeof key, "v1-%02d", (int)t);
        snprintf(val, sizeof val, "%d", (int)t);
        tu_v1_op(l, WAL_OP_PUT, NULL, key, val);
        tu_v1_seal(l, t);
    }
    tu_v1_write(l, path);
    free(l);
}

START_TEST(test_restore_v1_segment)
{
    struct run *r = tu_xmalloc(sizeof *r);
    memset(r, 0, sizeof *r);
    run_init(r);
    ldb_env *env = tu_open(r->path, NULL);
    TU_RC_OK(ldb_backup(env, r->backup, 0)); /* txn 0 */
    TU_RC_OK(ldb_close(env));
    char wal[4300];
    snprintf(wal, sizeof wal, "%s-wal", r->path);
    v1_log_write(wal, tu_db_id_of(r->path), 5);
    ldb_options o = run_options(r);
    env = tu_open(r->path, &o); /* recovers the v1 log, archives it */
    TU_RC_OK(ldb_close(env));
    struct seg_names *sn = list_segments(r->arch);
    ck_assert_int_eq(sn->n, 1);
    ck_assert_uint_eq(sn->first[0], 1);
    ck_assert_uint_eq(sn->last[0], 5);
    ck_assert_uint_eq(sn->t0[0], 0);
    char dest[4300], err[512];
    uint64_t got;
    snprintf(dest, sizeof dest, "%s/v1", r->dir);
    TU_RC_IS(restore(r, dest, 0, now_us(), &got, err, sizeof err), LDB_VERSION);
    ck_assert_int_eq(access(dest, F_OK), -1);
    TU_RC_OK(restore(r, dest, 4, 0, &got, err, sizeof err));
    ck_assert_uint_eq(got, 4);
    env = tu_open(dest, NULL);
    tu_check_env(env);
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(txn, LDB_MAIN, "v1-04", "4");
    tu_expect_absent(txn, LDB_MAIN, "v1-05");
    ldb_txn_abort(txn);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(r->arch);
    free(sn);
    free(r);
}
END_TEST

START_TEST(test_archive_options_text)
{
    ldb_options o = {0};
    char err[128];
    TU_RC_OK(ldb_options_parse(&o, "archive_dir=/var/lib/x/archive,sync_mode=off", err,
                               sizeof err));
    ck_assert_str_eq(o.archive_dir, "/var/lib/x/archive");
    const char *first = o.archive_dir;
    TU_RC_OK(ldb_options_parse(&o, "archive_dir = /var/lib/x/archive", err, sizeof err));
    ck_assert_ptr_eq(o.archive_dir, first); /* one copy per path */
    TU_RC_OK(ldb_options_parse(&o, "archive_dir=", err, sizeof err));
    ck_assert_ptr_null(o.archive_dir);
    /* A caller whose struct has no archive_dir cannot be given one. */
    ldb_options small = {0};
    TU_RC_IS(ldb_options_parse_sized(&small, offsetof(ldb_options, archive_dir), "archive_dir=/a",
                                     err, sizeof err),
             LDB_INVALID);
    ck_assert_ptr_null(small.archive_dir);
}
END_TEST

static Suite *restore_suite(void)
{
    Suite *s = suite_create("restore");
    TCase *tc = tcase_create("restore");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_restore_targets);
    tcase_add_test(tc, test_restore_across_reopen);
    tcase_add_test(tc, test_restore_mismatch);
    tcase_add_test(tc, test_restore_gap);
    tcase_add_test(tc, test_restore_damaged);
    tcase_add_test(tc, test_restore_prune);
    tcase_add_test(tc, test_restore_v1_segment);
    tcase_add_test(tc, test_archive_options_text);
    tcase_add_test(tc, test_follow_segments);
    tcase_add_test(tc, test_follow_reader);
    tcase_add_test(tc, test_follow_no_trim);
#ifdef LDB_TEST_HOOKS
    tcase_add_test(tc, test_restore_interrupted);
    tcase_add_test(tc, test_archive_fault);
    tcase_add_test(tc, test_archive_killed);
    tcase_add_test(tc, test_restore_killed);
#endif
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *s[] = {restore_suite()};
    return tu_run_suites(s, 1);
}
