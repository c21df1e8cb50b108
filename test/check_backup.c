/* SPDX-License-Identifier: MIT */
/*
 * Hot backup (issue 12): ldb_backup, ldb_backup_fd, ldb_backup_ex.
 *
 *  - live: a writer thread commits a deterministic sequence of txns (puts,
 *    deletes, overflow values, two named trees, a "~seq" key naming the
 *    txn) with a small log limit (so checkpoints come and go) while the main
 *    thread takes plain, compact and piped copies; each copy opens with
 *    LDB_IMMUTABLE and normally, passes ldb_check, and equals exactly the
 *    state after txn ~seq of the writer's sequence (an in-memory replay),
 *    with the matching txn id.
 *  - log_only: commits not yet checkpointed (so only in the log) are in
 *    the copy, which needs no log; the data file alone lacks them.
 *  - compact: after churn, the compact copy is no larger than the plain one,
 *    has no free page, and takes writes normally afterwards.
 *  - stream: the bytes piped by ldb_backup_fd are the bytes ldb_backup
 *    writes, plain and compact; a regular file fd gets them too.
 *  - exists: dest (a file, a directory, or a log beside it) exists:
 *    -EEXIST and nothing touched; a dest that appears during the backup is
 *    not replaced either (with renameat2 and with the link fallback).
 *  - kill: a process killed (SIGKILL) in the middle of a backup leaves
 *    nothing at dest; the next backup reuses its temporary.
 *  - cancel, busy, invalid: progress returning nonzero stops cleanly; a
 *    temporary locked by a running backup gives LDB_BUSY; bad arguments.
 *  - faults (test hooks): a failed write leaves nothing; sendfile refused
 *    falls back to writing from the map with the same result.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backup.h"
#ifdef LDB_TEST_HOOKS
#include "os.h"
#endif

/* ---- the writer's sequence and its model ------------------------------------- */

#define NTREES 3 /* LDB_MAIN, "alpha", "beta" */
#define NKEYS 300
#define OPS 6
#define MAX_VAL 12000

static const char *const tree_names[NTREES] = {NULL, "alpha", "beta"};

struct op {
    int tree, key, del;
    size_t vlen;
    uint64_t stamp; /* seeds the value bytes */
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* Op m of txn seq (seq >= 1). */
static struct op op_of(uint64_t seq, int m)
{
    uint64_t h = mix(seq * 16 + (uint64_t)m);
    struct op o;
    o.tree = (int)(h % NTREES);
    o.key = (int)((h >> 8) % NKEYS);
    o.del = (h >> 20) % 6 == 0;
    o.vlen = (h >> 24) % 23 == 0 ? 3000 + (size_t)((h >> 32) % 9000) : (size_t)((h >> 32) % 200);
    o.stamp = seq * 16 + (uint64_t)m;
    return o;
}

/* The state after txn seq: per tree and key, the op that wrote it (vlen and
 * stamp), or absent. */
struct model {
    uint64_t stamp[NTREES][NKEYS]; /* 0 = absent */
    size_t vlen[NTREES][NKEYS];
};

static void model_at(struct model *md, uint64_t seq)
{
    memset(md, 0, sizeof *md);
    for (uint64_t s = 1; s <= seq; s++) {
        for (int m = 0; m < OPS; m++) {
            struct op o = op_of(s, m);
            md->stamp[o.tree][o.key] = o.del ? 0 : o.stamp;
            md->vlen[o.tree][o.key] = o.vlen;
        }
    }
}

static void key_of(int key, char *buf, size_t cap)
{
    snprintf(buf, cap, "k%05d", key);
}

/* The trees, created empty in txn 1 of a new database. */
static void make_trees(ldb_env *env, ldb_dbi dbis[NTREES])
{
    ldb_txn *txn = tu_begin(env, 0);
    dbis[0] = LDB_MAIN;
    for (int t = 1; t < NTREES; t++)
        TU_RC_OK(ldb_dbi_open(txn, tree_names[t], LDB_CREATE, &dbis[t]));
    TU_RC_OK(ldb_txn_commit(txn));
}

/* Commit txn seq of the sequence. */
static int write_txn(ldb_env *env, const ldb_dbi dbis[NTREES], uint64_t seq)
{
    static __thread uint8_t buf[MAX_VAL];
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, 0, &txn);
    if (rc)
        return tu_fail("txn %" PRIu64 ": begin: %s", seq, ldb_strerror(rc));
    for (int m = 0; rc == 0 && m < OPS; m++) {
        struct op o = op_of(seq, m);
        char kb[16];
        key_of(o.key, kb, sizeof kb);
        ldb_val k = tu_str(kb);
        if (o.del) {
            rc = ldb_del(txn, dbis[o.tree], &k);
            if (rc == LDB_NOTFOUND)
                rc = 0;
        } else {
            tu_fill_pattern(buf, o.vlen, o.stamp);
            ldb_val v = {o.vlen, buf};
            rc = ldb_put(txn, dbis[o.tree], &k, &v, 0);
        }
    }
    if (rc == 0) {
        ldb_val k = tu_str("~seq"), v = {sizeof seq, &seq};
        rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
    }
    if (rc) {
        ldb_txn_abort(txn);
        return tu_fail("txn %" PRIu64 ": write: %s", seq, ldb_strerror(rc));
    }
    rc = ldb_txn_commit(txn);
    return rc ? tu_fail("txn %" PRIu64 ": commit: %s", seq, ldb_strerror(rc)) : 0;
}

/* Compare tree t of txn with the model; tree 0 also holds "~seq". */
static void expect_tree(ldb_txn *txn, ldb_dbi dbi, int t, const struct model *md,
                        const char *what)
{
    static uint8_t want[MAX_VAL];
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(txn, dbi, &cur));
    ldb_val k, v;
    int key = 0, rc;
    while ((rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) == 0) {
        if (t == 0 && k.size == 4 && memcmp(k.data, "~seq", 4) == 0)
            continue;
        while (key < NKEYS && md->stamp[t][key] == 0)
            key++;
        char kb[16];
        TU_REQUIRE(key < NKEYS, "%s: tree %d has an extra key %.*s", what, t, (int)k.size,
                   (const char *)k.data);
        key_of(key, kb, sizeof kb);
        TU_REQUIRE(k.size == strlen(kb) && memcmp(k.data, kb, k.size) == 0,
                   "%s: tree %d: key %.*s where %s was expected", what, t, (int)k.size,
                   (const char *)k.data, kb);
        tu_fill_pattern(want, md->vlen[t][key], md->stamp[t][key]);
        TU_REQUIRE(v.size == md->vlen[t][key] && memcmp(v.data, want, v.size) == 0,
                   "%s: tree %d key %s: wrong value (%zu bytes, want %zu)", what, t, kb,
                   v.size, md->vlen[t][key]);
        key++;
    }
    TU_RC_IS(rc, LDB_NOTFOUND);
    while (key < NKEYS && md->stamp[t][key] == 0)
        key++;
    TU_REQUIRE(key == NKEYS, "%s: tree %d lacks key %d", what, t, key);
    ldb_cursor_close(cur);
}

/* The copy's "~seq" (0 if absent) after checking its every entry against
 * the model at that seq and its txn id against base + seq (a lower bound). */
static uint64_t expect_state(ldb_env *env, uint64_t base_txnid, const char *what)
{
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    uint64_t seq = 0;
    ldb_val k = tu_str("~seq"), v;
    int rc = ldb_get(txn, LDB_MAIN, &k, &v);
    if (rc == 0) {
        TU_REQUIRE(v.size == sizeof seq, "%s: ~seq has %zu bytes", what, v.size);
        memcpy(&seq, v.data, sizeof seq);
    } else {
        TU_RC_IS(rc, LDB_NOTFOUND);
    }
    /* At least base + seq: the library's own txns (a shrink at a
     * checkpoint, space.c) take txn ids between the writer's. */
    TU_REQUIRE(ldb_txn_id(txn) >= base_txnid + seq,
               "%s: txn id %" PRIu64 " but ~seq %" PRIu64 " (base %" PRIu64 ")", what,
               ldb_txn_id(txn), seq, base_txnid);
    static struct model md;
    model_at(&md, seq);
    for (int t = 0; t < NTREES; t++) {
        ldb_dbi dbi = LDB_MAIN;
        if (t > 0 && seq == 0 && ldb_dbi_open(txn, tree_names[t], 0, &dbi) == LDB_NOTFOUND)
            continue; /* the trees are made before txn 1 of the sequence */
        if (t > 0)
            TU_RC_OK(ldb_dbi_open(txn, tree_names[t], 0, &dbi));
        expect_tree(txn, dbi, t, &md, what);
    }
    ldb_txn_abort(txn);
    return seq;
}

/* Open a copy with LDB_IMMUTABLE, then normally: each passes ldb_check
 * and holds one state of the sequence (the same). Returns its seq. */
static uint64_t verify_copy(const char *path, uint64_t base_txnid)
{
    ldb_options o = {0};
    o.flags = LDB_IMMUTABLE;
    ldb_env *env = tu_open(path, &o);
    TU_REQUIRE(ldb_check(env, stderr) == 0, "%s (immutable) fails ldb_check", path);
    uint64_t seq = expect_state(env, base_txnid, path);
    TU_RC_OK(ldb_close(env));
    env = tu_open(path, NULL);
    TU_REQUIRE(ldb_check(env, stderr) == 0, "%s fails ldb_check", path);
    TU_REQUIRE(expect_state(env, base_txnid, path) == seq, "%s: normal open differs", path);
    TU_RC_OK(ldb_close(env));
    return seq;
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    ck_assert_msg(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
    return (uint64_t)st.st_size;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* ---- streaming through a pipe ------------------------------------------------- */

struct drain {
    int in;
    const char *path;
    int go;     /* atomic: start reading */
    int failed;
};

static void *drain_run(void *arg)
{
    struct drain *d = arg;
    int out = open(d->path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    char buf[65536];
    ssize_t n;
    if (out < 0)
        d->failed = 1;
    /* Hold off (at most 1 s, in case the copy does not fit in the pipe):
     * what the copy left in the pipe must stay right while writers reuse
     * pages after the backup has ended its snapshot. */
    for (int i = 0; i < 1000 && !__atomic_load_n(&d->go, __ATOMIC_ACQUIRE); i++)
        usleep(1000);
    while ((n = read(d->in, buf, sizeof buf)) > 0)
        if (out >= 0 && write(out, buf, (size_t)n) != n)
            d->failed = 1;
    if (n < 0)
        d->failed = 1;
    if (out >= 0)
        close(out);
    return NULL;
}

struct writer;
static void wait_commits(struct writer *w, uint64_t at_least);
static uint64_t writer_done(struct writer *w);

/* ldb_backup_fd into a pipe (1 MiB, where allowed) whose reader writes
 * path; with a writer running, the reader starts only once 10 more txns
 * have committed after the backup returned. */
static int backup_via_pipe(ldb_env *env, unsigned flags, const char *path, struct writer *w)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    (void)fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    struct drain d = {p[0], path, w == NULL, 0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, drain_run, &d), 0);
    int rc = ldb_backup_fd(env, p[1], flags);
    if (w != NULL)
        wait_commits(w, writer_done(w) + 10);
    __atomic_store_n(&d.go, 1, __ATOMIC_RELEASE);
    close(p[1]);
    pthread_join(th, NULL);
    close(p[0]);
    ck_assert_msg(!d.failed, "pipe reader failed");
    return rc;
}

/* ---- live: copies taken while a writer commits ------------------------------------- */

struct writer {
    ldb_env *env;
    ldb_dbi dbis[NTREES];
    uint64_t done; /* atomic: txns committed */
    int stop;      /* atomic */
    int failed;
};

static void *writer_run(void *arg)
{
    struct writer *w = arg;
    for (uint64_t seq = 1; !__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE) && seq < 1000000; seq++) {
        if (write_txn(w->env, w->dbis, seq) != 0) {
            w->failed = 1;
            break;
        }
        __atomic_store_n(&w->done, seq, __ATOMIC_RELEASE);
    }
    return NULL;
}

static uint64_t writer_done(struct writer *w)
{
    return __atomic_load_n(&w->done, __ATOMIC_ACQUIRE);
}

static void wait_commits(struct writer *w, uint64_t at_least)
{
    while (__atomic_load_n(&w->done, __ATOMIC_ACQUIRE) < at_least && !w->failed)
        usleep(1000);
}

#define ROUNDS 3

START_TEST(test_backup_live)
{
    char dir[4096], path[4096];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = {0};
    o.sync_mode = _i ? LDB_SYNC_OFF : LDB_SYNC_FULL;
    o.wal_max_bytes = 256 << 10; /* checkpoints during the copies */
    struct writer w = {0};
    w.env = tu_open(path, &o);
    make_trees(w.env, w.dbis);
    uint64_t base = tu_env_stat(w.env).last_txn_id;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, writer_run, &w), 0);
    char names[ROUNDS * 4][64];
    int n = 0;
    for (int r = 0; r < ROUNDS; r++) {
        wait_commits(&w, 20 + (uint64_t)r * 30);
        snprintf(names[n], sizeof names[n], "plain%d", r);
        TU_RC_OK(ldb_backup(w.env, tu_path(dir, names[n++]), 0));
        snprintf(names[n], sizeof names[n], "compact%d", r);
        TU_RC_OK(ldb_backup(w.env, tu_path(dir, names[n++]), LDB_BACKUP_COMPACT));
        snprintf(names[n], sizeof names[n], "piped%d", r);
        TU_RC_OK(backup_via_pipe(w.env, 0, tu_path(dir, names[n++]), &w));
        snprintf(names[n], sizeof names[n], "pipedc%d", r);
        TU_RC_OK(backup_via_pipe(w.env, LDB_BACKUP_COMPACT, tu_path(dir, names[n++]), &w));
    }
    /* The writer must still be committing once the copies have ended: wait
     * for its next commit before stopping it (the stop flag alone may win
     * the race against that commit on a slow machine). */
    uint64_t during = writer_done(&w);
    wait_commits(&w, during + 1);
    __atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    ck_assert_msg(!w.failed, "writer: %s", tu_fail_msg);
    uint64_t final = w.done;
    ck_assert_msg(final > during, "the writer stopped before the copies ended");
    tu_check_env(w.env);
    TU_RC_OK(ldb_close(w.env));
    int mid = 0;
    for (int i = 0; i < n; i++) {
        uint64_t seq = verify_copy(tu_path(dir, names[i]), base);
        ck_assert_msg(seq >= 20 && seq <= final, "%s: ~seq %" PRIu64 " outside 20..%" PRIu64,
                      names[i], seq, final);
        mid += seq < final;
    }
    ck_assert_msg(mid == n, "only %d of %d copies were taken while the writer ran", mid, n);
    tu_remove_dir(dir);
}
END_TEST

/* ---- log_only: commits still only in the log -------------------------------------- */

START_TEST(test_backup_log_only)
{
    char dir[4096], path[4096];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = tu_open(path, NULL);
    ldb_dbi dbis[NTREES];
    make_trees(env, dbis);
    uint64_t base = tu_env_stat(env).last_txn_id;
    TU_RC_OK(ldb_checkpoint(env));
    for (uint64_t seq = 1; seq <= 40; seq++)
        ck_assert_msg(write_txn(env, dbis, seq) == 0, "%s", tu_fail_msg);
    ck_assert_msg(tu_env_stat(env).wal_size > 0, "the commits should be in the log");
    TU_RC_OK(ldb_backup(env, tu_path(dir, "plain"), 0));
    TU_RC_OK(ldb_backup(env, tu_path(dir, "compact"), LDB_BACKUP_COMPACT));
    /* The data file by itself (no log) is still at the checkpoint. */
    ck_assert_int_eq(tu_copy_file(path, tu_path(dir, "raw")), 0);
    ldb_options o = {0};
    o.flags = LDB_IMMUTABLE;
    ldb_env *raw = tu_open(tu_path(dir, "raw"), &o);
    ck_assert_uint_eq(tu_env_stat(raw).last_txn_id, base);
    TU_RC_OK(ldb_close(raw));
    TU_RC_OK(ldb_close(env));
    ck_assert_uint_eq(verify_copy(tu_path(dir, "plain"), base), 40);
    ck_assert_uint_eq(verify_copy(tu_path(dir, "compact"), base), 40);
    env = tu_open(path, NULL);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* ---- compact -------------------------------------------------------------------- */

/* A database after churn: 300 txns of the sequence, then most keys of
 * "alpha" deleted, so many pages are free. */
static ldb_env *churned_db(const char *path, const ldb_options *o, uint64_t *base)
{
    ldb_env *env = tu_open(path, o);
    ldb_dbi dbis[NTREES];
    make_trees(env, dbis);
    *base = tu_env_stat(env).last_txn_id;
    for (uint64_t seq = 1; seq <= 300; seq++)
        ck_assert_msg(write_txn(env, dbis, seq) == 0, "%s", tu_fail_msg);
    TU_RC_OK(ldb_checkpoint(env));
    return env;
}

START_TEST(test_backup_compact)
{
    char dir[4096], path[4096];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options o = {0};
    o.page_size = _i ? 16384 : 0;
    uint64_t base;
    ldb_env *env = churned_db(path, &o, &base);
    TU_RC_OK(ldb_backup(env, tu_path(dir, "plain"), 0));
    TU_RC_OK(ldb_backup(env, tu_path(dir, "compact"), LDB_BACKUP_COMPACT));
    ldb_stat orig = tu_env_stat(env);
    TU_RC_OK(ldb_close(env));
    ck_assert_uint_eq(verify_copy(tu_path(dir, "plain"), base), 300);
    ck_assert_uint_eq(verify_copy(tu_path(dir, "compact"), base), 300);
    uint64_t plain = file_size(tu_path(dir, "plain")), compact = file_size(tu_path(dir, "compact"));
    ck_assert_msg(compact <= plain, "compact %" PRIu64 " > plain %" PRIu64, compact, plain);
    ck_assert_uint_eq(plain, orig.pages_used * orig.page_size + orig.pages_free * orig.page_size);
    o.flags = LDB_IMMUTABLE;
    env = tu_open(tu_path(dir, "compact"), &o);
    ldb_stat st = tu_env_stat(env);
    ck_assert_uint_eq(st.pages_free, 0);
    ck_assert_uint_eq(st.pages_used * st.page_size, compact);
    ck_assert_msg(st.pages_used <= orig.pages_used, "compact uses %" PRIu64 " pages, the original %" PRIu64,
                  st.pages_used, orig.pages_used);
    TU_RC_OK(ldb_close(env));
    /* Full pages take writes: the sequence goes on in the compact copy. */
    env = tu_open(tu_path(dir, "compact"), NULL);
    ldb_dbi dbis[NTREES];
    dbis[0] = LDB_MAIN;
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    for (int t = 1; t < NTREES; t++)
        TU_RC_OK(ldb_dbi_open(txn, tree_names[t], 0, &dbis[t]));
    TU_RC_OK(ldb_txn_commit(txn));
    for (uint64_t seq = 301; seq <= 500; seq++)
        ck_assert_msg(write_txn(env, dbis, seq) == 0, "%s", tu_fail_msg);
    tu_check_env(env);
    ck_assert_uint_eq(expect_state(env, base, "compact, written on"), 500);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* An empty database (txn 0, no tree) copies to a valid empty database. */
START_TEST(test_backup_empty)
{
    char dir[4096], path[4096];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = tu_open(path, NULL);
    TU_RC_OK(ldb_backup(env, tu_path(dir, "plain"), 0));
    TU_RC_OK(ldb_backup(env, tu_path(dir, "compact"), LDB_BACKUP_COMPACT));
    TU_RC_OK(ldb_close(env));
    ck_assert_uint_eq(file_size(tu_path(dir, "compact")), 2 * 4096);
    ck_assert_uint_eq(verify_copy(tu_path(dir, "plain"), 0), 0);
    ck_assert_uint_eq(verify_copy(tu_path(dir, "compact"), 0), 0);
    tu_remove_dir(dir);
}
END_TEST

/* ---- stream: the same bytes through a pipe -------------------------------------------- */

static int same_bytes(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = getc(fa), cb = getc(fb);
        same = ca == cb;
        if (ca == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

START_TEST(test_backup_stream)
{
    char dir[4096], path[4096];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    uint64_t base;
    ldb_env *env = churned_db(path, NULL, &base);
    for (int compact = 0; compact < 2; compact++) {
        unsigned flags = compact ? LDB_BACKUP_COMPACT : 0;
        TU_RC_OK(ldb_backup(env, tu_path(dir, compact ? "file-c" : "file"), flags));
        TU_RC_OK(backup_via_pipe(env, flags, tu_path(dir, compact ? "pipe-c" : "pipe"), NULL));
        int fd = open(tu_path(dir, compact ? "fd-c" : "fd"), O_WRONLY | O_CREAT | O_EXCL, 0644);
        ck_assert_int_ge(fd, 0);
        TU_RC_OK(ldb_backup_fd(env, fd, flags));
        close(fd);
        ck_assert_msg(same_bytes(tu_path(dir, compact ? "file-c" : "file"),
                                 tu_path(dir, compact ? "pipe-c" : "pipe")),
                      "piped copy differs (compact %d)", compact);
        ck_assert_msg(same_bytes(tu_path(dir, compact ? "file-c" : "file"),
                                 tu_path(dir, compact ? "fd-c" : "fd")),
                      "fd copy differs (compact %d)", compact);
    }
    TU_RC_OK(ldb_close(env));
    ck_assert_uint_eq(verify_copy(tu_path(dir, "pipe"), base), 300);
    ck_assert_uint_eq(verify_copy(tu_path(dir, "pipe-c"), base), 300);
    tu_remove_dir(dir);
}
END_TEST

/* ---- exists ------------------------------------------------------------------------ */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void expect_text(const char *path, const char *text)
{
    char buf[256] = {0};
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    ck_assert_msg(n == strlen(text) && memcmp(buf, text, n) == 0, "%s was changed", path);
}

/* Progress callback that creates a file at dest (after the existence
 * check, before the rename). */
static int appear_at_dest(void *ctx, uint64_t done, uint64_t total)
{
    (void)total;
    if (done == 0)
        write_text(ctx, "appeared");
    return 0;
}

START_TEST(test_backup_exists)
{
    char dir[4096], path[4096];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    uint64_t base;
    ldb_env *env = churned_db(path, NULL, &base);
    const char *dest = tu_path(dir, "dest");
    write_text(dest, "precious");
    TU_RC_IS(ldb_backup(env, dest, 0), -EEXIST);
    TU_RC_IS(ldb_backup(env, dest, LDB_BACKUP_COMPACT), -EEXIST);
    expect_text(dest, "precious");
    ck_assert(!exists(tu_path(dir, "dest" LDB_BACKUP_TMP_SUFFIX)));
    /* A directory, and a log of some other database where the copy's would go. */
    ck_assert_int_eq(mkdir(tu_path(dir, "subdir"), 0755), 0);
    TU_RC_IS(ldb_backup(env, tu_path(dir, "subdir"), 0), -EEXIST);
    write_text(tu_path(dir, "other-wal"), "a log");
    TU_RC_IS(ldb_backup(env, tu_path(dir, "other"), 0), -EEXIST);
    ck_assert(!exists(tu_path(dir, "other")));
    expect_text(tu_path(dir, "other-wal"), "a log");
    /* A dest that appears while the copy is written is not replaced
     * (round 1: with the link fallback of filesystems without
     * RENAME_NOREPLACE). */
    for (int round = 0; round < 2; round++) {
        char name[32];
        snprintf(name, sizeof name, "late%d", round);
        char late[4096];
        snprintf(late, sizeof late, "%s", tu_path(dir, name));
#ifdef LDB_TEST_HOOKS
        if (round == 1)
            ldb__os_fault_set(LDB_FAULT_RENAME, 1, EINVAL);
#else
        if (round == 1)
            break;
#endif
        TU_RC_IS(ldb_backup_ex(env, late, -1, 0, appear_at_dest, late), -EEXIST);
        expect_text(late, "appeared");
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s" LDB_BACKUP_TMP_SUFFIX, late);
        ck_assert_msg(!exists(tmp), "temporary left behind (round %d)", round);
    }
#ifdef LDB_TEST_HOOKS
    /* The fallback also publishes. */
    ldb__os_fault_set(LDB_FAULT_RENAME, 1, EINVAL);
    TU_RC_OK(ldb_backup(env, tu_path(dir, "linked"), 0));
    ck_assert(!exists(tu_path(dir, "linked" LDB_BACKUP_TMP_SUFFIX)));
    ldb__os_fault_reset();
#endif
    TU_RC_OK(ldb_close(env));
#ifdef LDB_TEST_HOOKS
    ck_assert_uint_eq(verify_copy(tu_path(dir, "linked"), base), 300);
#endif
    tu_remove_dir(dir);
}
END_TEST

/* ---- kill: SIGKILL in the middle ----------------------------------------------------- */

/* A database of about 24 MiB. */
static void big_db(const char *path)
{
    ldb_env *env = tu_open(path, NULL);
    ldb_dbi dbis[NTREES];
    make_trees(env, dbis);
    for (uint64_t seq = 1; seq <= 100; seq++)
        ck_assert_msg(write_txn(env, dbis, seq) == 0, "%s", tu_fail_msg);
    static uint8_t val[8000];
    ldb_txn *txn = tu_begin(env, 0);
    for (int i = 0; i < 3000; i++) {
        char kb[32];
        snprintf(kb, sizeof kb, "bulk%06d", i);
        tu_fill_pattern(val, sizeof val, (uint64_t)i);
        tu_put_bytes(txn, dbis[1], kb, strlen(kb), val, sizeof val);
    }
    TU_RC_OK(ldb_txn_commit(txn));
    TU_RC_OK(ldb_close(env));
}

struct stopper {
    int fd;          /* tell the parent we are midway */
    uint64_t calls;
};

/* Midway through, tell the parent and wait to be killed. */
static int stop_midway(void *ctx, uint64_t done, uint64_t total)
{
    struct stopper *s = ctx;
    s->calls++;
    if (done > 0 && done >= total / 3 && done < total) {
        char c = 'm';
        if (write(s->fd, &c, 1) != 1)
            _exit(3);
        for (;;)
            pause();
    }
    return 0;
}

START_TEST(test_backup_kill)
{
    char dir[4096], path[4096];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    big_db(path);
    char dest[4096], tmp[4200];
    snprintf(dest, sizeof dest, "%s", tu_path(dir, _i ? "copy-c" : "copy"));
    snprintf(tmp, sizeof tmp, "%s" LDB_BACKUP_TMP_SUFFIX, dest);
    unsigned flags = _i ? LDB_BACKUP_COMPACT : 0;
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        ldb_env *env;
        int rc = ldb_open(path, NULL, &env);
        if (rc) {
            tu_fail("open: %s", ldb_strerror(rc));
            tu_child_exit(2);
        }
        struct stopper s = {p[1], 0};
        rc = ldb_backup_ex(env, dest, -1, flags, stop_midway, &s);
        tu_fail("backup returned %d (%s) after %" PRIu64 " progress calls", rc, ldb_strerror(rc),
                s.calls);
        tu_child_exit(4);
    }
    close(p[1]);
    char c;
    ck_assert_msg(read(p[0], &c, 1) == 1, "the child never got midway");
    ck_assert(exists(tmp));
    ck_assert(!exists(dest));
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int status = tu_wait_child(pid, 60, "backup child");
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(p[0]);
    ck_assert_msg(!exists(dest), "a killed backup left something at dest");
    /* The next backup reuses the stale temporary. */
    ldb_env *env = tu_open(path, NULL);
    TU_RC_OK(ldb_backup(env, dest, flags));
    TU_RC_OK(ldb_close(env));
    ck_assert(!exists(tmp));
    ldb_options o = {0};
    o.flags = LDB_IMMUTABLE;
    env = tu_open(dest, &o);
    tu_check_env(env);
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    ldb_dbi alpha;
    TU_RC_OK(ldb_dbi_open(txn, "alpha", 0, &alpha));
    static uint8_t val[8000];
    tu_fill_pattern(val, sizeof val, 2999);
    tu_expect_bytes(txn, alpha, "bulk002999", 10, val, sizeof val);
    ldb_txn_abort(txn);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* ---- cancel, busy, invalid -------------------------------------------------------------- */

struct progress_log {
    uint64_t calls, last_done, total;
    int monotonic;
    uint64_t cancel_after; /* 0: never */
};

static int log_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct progress_log *l = ctx;
    if (l->calls && done < l->last_done)
        l->monotonic = 0;
    l->calls++;
    l->last_done = done;
    l->total = total;
    return l->cancel_after && l->calls >= l->cancel_after;
}

START_TEST(test_backup_progress_cancel)
{
    char dir[4096], path[4096];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    big_db(path);
    ldb_env *env = tu_open(path, NULL);
    for (int compact = 0; compact < 2; compact++) {
        unsigned flags = compact ? LDB_BACKUP_COMPACT : 0;
        const char *dest = tu_path(dir, compact ? "c" : "p");
        struct progress_log l = {0, 0, 0, 1, 2};
        TU_RC_IS(ldb_backup_ex(env, dest, -1, flags, log_progress, &l), -ECANCELED);
        ck_assert(!exists(dest));
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s" LDB_BACKUP_TMP_SUFFIX, dest);
        ck_assert(!exists(tmp));
        l = (struct progress_log){0, 0, 0, 1, 0};
        TU_RC_OK(ldb_backup_ex(env, dest, -1, flags, log_progress, &l));
        ck_assert_msg(l.calls >= 3 && l.monotonic, "%" PRIu64 " calls", l.calls);
        ck_assert_uint_eq(l.last_done, l.total);
        ck_assert_uint_eq(l.total, file_size(dest));
    }
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

START_TEST(test_backup_busy_and_stale)
{
    char dir[4096], path[4096];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    uint64_t base;
    ldb_env *env = churned_db(path, NULL, &base);
    const char *dest = tu_path(dir, "copy");
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s" LDB_BACKUP_TMP_SUFFIX, dest);
    /* A running backup to the same dest holds the temporary's lock (flock
     * locks belong to an open file, so this process's own backup is
     * refused too). */
    int fd = open(tmp, O_WRONLY | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "partial", 7), 7);
    ck_assert_int_eq(flock(fd, LOCK_EX), 0);
    TU_RC_IS(ldb_backup(env, dest, 0), LDB_BUSY);
    ck_assert(exists(tmp));
    ck_assert(!exists(dest));
    /* Its writer died (the lock is gone): the temporary is reused. */
    close(fd);
    TU_RC_OK(ldb_backup(env, dest, 0));
    ck_assert(!exists(tmp));
    TU_RC_OK(ldb_close(env));
    ck_assert_uint_eq(verify_copy(dest, base), 300);
    tu_remove_dir(dir);
}
END_TEST

START_TEST(test_backup_invalid)
{
    char dir[4096], path[4096];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = tu_open(path, NULL);
    const char *dest = tu_path(dir, "copy");
    TU_RC_IS(ldb_backup(NULL, dest, 0), LDB_INVALID);
    TU_RC_IS(ldb_backup(env, NULL, 0), LDB_INVALID);
    TU_RC_IS(ldb_backup(env, "", 0), LDB_INVALID);
    TU_RC_IS(ldb_backup(env, dest, 0x80), LDB_INVALID);
    TU_RC_IS(ldb_backup_fd(env, -1, 0), LDB_INVALID);
    TU_RC_IS(ldb_backup_fd(NULL, 1, 0), LDB_INVALID);
    TU_RC_IS(ldb_backup_ex(env, dest, 1, 0, NULL, NULL), LDB_INVALID);
    TU_RC_IS(ldb_backup_ex(env, NULL, -1, 0, NULL, NULL), LDB_INVALID);
    TU_RC_IS(ldb_backup(env, tu_path(dir, "no/such/dir"), 0), -ENOENT);
    ck_assert(!exists(dest));
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* ---- faults ------------------------------------------------------------------------- */

#ifdef LDB_TEST_HOOKS
START_TEST(test_backup_faults)
{
    char dir[4096], path[4096];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    uint64_t base;
    ldb_env *env = churned_db(path, NULL, &base);
    /* The n-th write of the copy fails: nothing at dest, no temporary. */
    for (int compact = 0; compact < 2; compact++) {
        unsigned flags = compact ? LDB_BACKUP_COMPACT : 0;
        for (uint64_t nth = 1; nth <= 3; nth++) {
            const char *dest = tu_path(dir, "failed");
            ldb__os_fault_reset();
            ldb__os_fault_set(LDB_FAULT_WRITE, nth, nth == 2 ? ENOSPC : EIO);
            TU_RC_IS(ldb_backup(env, dest, flags), nth == 2 ? -ENOSPC : -EIO);
            ck_assert(!exists(dest));
            ck_assert(!exists(tu_path(dir, "failed" LDB_BACKUP_TMP_SUFFIX)));
        }
        ldb__os_fault_reset();
        ldb__os_fault_set(LDB_FAULT_SYNC, 1, EIO);
        TU_RC_IS(ldb_backup(env, tu_path(dir, "failed"), flags), -EIO);
        ck_assert(!exists(tu_path(dir, "failed")));
    }
    /* sendfile refused (EINVAL, as for an O_APPEND fd): written from the
     * map instead, the same bytes. */
    ldb__os_fault_reset();
    TU_RC_OK(ldb_backup(env, tu_path(dir, "sent"), 0));
    ldb__os_fault_set(LDB_FAULT_WRITE, 2, EINVAL); /* the 1st is the meta pages */
    TU_RC_OK(ldb_backup(env, tu_path(dir, "written"), 0));
    ldb__os_fault_reset();
    ck_assert(same_bytes(tu_path(dir, "sent"), tu_path(dir, "written")));
    TU_RC_OK(ldb_close(env));
    ck_assert_uint_eq(verify_copy(tu_path(dir, "written"), base), 300);
    tu_remove_dir(dir);
}
END_TEST
#endif

static Suite *backup_suite(void)
{
    Suite *s = suite_create("backup");
    TCase *tc = tcase_create("live");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_backup_live, 0, 2); /* 0 LDB_SYNC_FULL, 1 LDB_SYNC_OFF */
    tcase_add_test(tc, test_backup_log_only);
    suite_add_tcase(s, tc);
    tc = tcase_create("copies");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_backup_compact, 0, 2); /* 4 KiB, 16 KiB pages */
    tcase_add_test(tc, test_backup_empty);
    tcase_add_test(tc, test_backup_stream);
    suite_add_tcase(s, tc);
    tc = tcase_create("safety");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_backup_exists);
    tcase_add_loop_test(tc, test_backup_kill, 0, 2); /* plain, compact */
    tcase_add_test(tc, test_backup_progress_cancel);
    tcase_add_test(tc, test_backup_busy_and_stale);
    tcase_add_test(tc, test_backup_invalid);
#ifdef LDB_TEST_HOOKS
    tcase_add_test(tc, test_backup_faults);
#endif
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {backup_suite()};
    return tu_run_suites(suites, 1);
}
