/* SPDX-License-Identifier: MIT */
/*
 * Snapshot isolation, across threads and processes.
 *
 * The workload most tests share: version c of the database is a counter key
 * "counter" = c in LDB_MAIN, and in the tree "comp" NCOMP companion keys whose
 * presence and value are functions of c (some are deleted in one version and
 * back in the next; values run from 16 bytes to past 2 KiB, so some live in
 * overflow pages), plus "end" = c. A writer commits versions 1, 2, 3, ...;
 * a reader that sees counter c must see exactly version c everywhere else,
 * never a mix, never an older c than a commit that returned before it began,
 * and, for as long as it is open, nothing else.
 *
 * Threads never call Check's asserts: they record the first failure with
 * tfail() and stop; the test's main thread asserts on it after joining.
 * Forked children report through their exit code. Every wait is bounded by
 * iteration counts; wall-clock limits only turn a hang into a failure.
 */
#include "testutil.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NCOMP 24
#define COMP_MAX 2600

/* ---- failure capture for threads and children -------------------------------- */

static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;
static char fail_msg[2048];
static atomic_int failed;

__attribute__((format(printf, 1, 2))) static int tfail(const char *fmt, ...)
{
    pthread_mutex_lock(&fail_mu);
    if (fail_msg[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(fail_msg, sizeof fail_msg, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&fail_mu);
    atomic_store(&failed, 1);
    return -1;
}

static void reset_failures(void)
{
    fail_msg[0] = '\0';
    atomic_store(&failed, 0);
}

#define ASSERT_NO_THREAD_FAILURE() ck_assert_msg(!atomic_load(&failed), "%s", fail_msg)

/* ---- the versioned workload ----------------------------------------------------- */

static int comp_present(uint64_t c, int i)
{
    return (c + (uint64_t)i) % 7 != 3;
}

static size_t comp_len(uint64_t c, int i)
{
    return 16 + (size_t)((c * 31 + (uint64_t)i * 17) % 2500);
}

static void fill_bytes(uint64_t seed, uint8_t *buf, size_t n)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t j = 0; j < n; j++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        buf[j] = (uint8_t)(x >> 56);
    }
}

static size_t comp_fill(uint64_t c, int i, uint8_t *buf)
{
    size_t n = comp_len(c, i);
    uint64_t ii = (uint64_t)i;
    memcpy(buf, &c, 8);
    memcpy(buf + 8, &ii, 8);
    fill_bytes(c * 1000003u + ii, buf + 16, n - 16);
    return n;
}

static void comp_key(int i, char *buf)
{
    snprintf(buf, 16, "c%03d", i);
}

static ldb_val u64_val(const uint64_t *x)
{
    ldb_val v = {8, x};
    return v;
}

/* Create the "comp" tree (in a committed txn, so the handle lasts). */
static ldb_dbi open_comp(ldb_env *env, unsigned flags)
{
    ldb_txn *txn;
    ldb_dbi dbi;
    int rc = ldb_txn_begin(env, (flags & LDB_CREATE) ? 0 : LDB_TXN_RDONLY, &txn);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
    rc = ldb_dbi_open(txn, "comp", flags, &dbi);
    ck_assert_msg(rc == 0, "dbi_open(comp): %s", ldb_strerror(rc));
    rc = ldb_txn_commit(txn);
    ck_assert_msg(rc == 0, "commit: %s", ldb_strerror(rc));
    return dbi;
}

/* Commit version c. Safe in any thread (reports through tfail). */
static int write_version(ldb_env *env, ldb_dbi comp, uint64_t c)
{
    uint8_t buf[COMP_MAX];
    char kb[16];
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, 0, &txn);
    if (rc)
        return tfail("writer: txn_begin for version %" PRIu64 ": %s", c, ldb_strerror(rc));
    ldb_val k = tu_str("counter"), v = u64_val(&c);
    rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
    if (rc)
        goto fail;
    for (int i = 0; i < NCOMP; i++) {
        comp_key(i, kb);
        k = tu_str(kb);
        if (comp_present(c, i)) {
            v = (ldb_val){comp_fill(c, i, buf), buf};
            rc = ldb_put(txn, comp, &k, &v, 0);
        } else {
            rc = ldb_del(txn, comp, &k);
            if (rc == LDB_NOTFOUND)
                rc = 0;
        }
        if (rc)
            goto fail;
    }
    k = tu_str("end");
    v = u64_val(&c);
    rc = ldb_put(txn, comp, &k, &v, 0);
    if (rc)
        goto fail;
    rc = ldb_txn_commit(txn);
    if (rc)
        return tfail("writer: commit of version %" PRIu64 ": %s", c, ldb_strerror(rc));
    return 0;
fail:
    ldb_txn_abort(txn);
    return tfail("writer: version %" PRIu64 ": %s", c, ldb_strerror(rc));
}

/* Check that txn sees one whole version: expect (0 = whichever the counter
 * says) everywhere. With scan, also walk "comp" with a cursor. */
static int verify_version(ldb_txn *txn, ldb_dbi comp, uint64_t expect, int scan, uint64_t *out)
{
    uint8_t buf[COMP_MAX];
    char kb[16];
    ldb_val k = tu_str("counter"), v;
    int rc = ldb_get(txn, LDB_MAIN, &k, &v);
    if (rc)
        return tfail("get counter: %s", ldb_strerror(rc));
    if (v.size != 8)
        return tfail("counter has %zu bytes", v.size);
    uint64_t c;
    memcpy(&c, v.data, 8);
    if (expect && c != expect)
        return tfail("snapshot moved: counter %" PRIu64 ", the txn began at %" PRIu64, c,
                     expect);
    for (int i = 0; i < NCOMP; i++) {
        comp_key(i, kb);
        k = tu_str(kb);
        rc = ldb_get(txn, comp, &k, &v);
        if (!comp_present(c, i)) {
            if (rc != LDB_NOTFOUND)
                return tfail("version %" PRIu64 ": %s should be absent, get gives %s", c, kb,
                             ldb_strerror(rc));
            continue;
        }
        if (rc)
            return tfail("version %" PRIu64 ": get %s: %s", c, kb, ldb_strerror(rc));
        size_t n = comp_fill(c, i, buf);
        if (v.size != n || memcmp(v.data, buf, n) != 0) {
            uint64_t from = 0;
            if (v.size >= 8)
                memcpy(&from, v.data, 8);
            return tfail("version %" PRIu64 ": %s has %zu bytes (of version %" PRIu64
                         "?), want %zu",
                         c, kb, v.size, from, n);
        }
    }
    k = tu_str("end");
    rc = ldb_get(txn, comp, &k, &v);
    if (rc)
        return tfail("version %" PRIu64 ": get end: %s", c, ldb_strerror(rc));
    if (v.size != 8 || memcmp(v.data, &c, 8) != 0)
        return tfail("version %" PRIu64 ": end marker differs", c);
    if (scan) {
        ldb_cursor *cur;
        rc = ldb_cursor_open(txn, comp, &cur);
        if (rc)
            return tfail("cursor_open: %s", ldb_strerror(rc));
        int i = 0;
        for (rc = ldb_cursor_get(cur, &k, &v, LDB_FIRST); rc == 0;
             rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) {
            while (i < NCOMP && !comp_present(c, i))
                i++;
            if (i < NCOMP) {
                comp_key(i, kb);
                size_t n = comp_fill(c, i, buf);
                if (k.size != 4 || memcmp(k.data, kb, 4) != 0 || v.size != n ||
                    memcmp(v.data, buf, n) != 0) {
                    ldb_cursor_close(cur);
                    return tfail("version %" PRIu64 ": scan finds the wrong entry at %s", c,
                                 kb);
                }
                i++;
            } else if (i == NCOMP) {
                if (k.size != 3 || memcmp(k.data, "end", 3) != 0 || v.size != 8 ||
                    memcmp(v.data, &c, 8) != 0) {
                    ldb_cursor_close(cur);
                    return tfail("version %" PRIu64 ": scan: wrong last entry", c);
                }
                i++;
            } else {
                ldb_cursor_close(cur);
                return tfail("version %" PRIu64 ": scan: entries after end", c);
            }
        }
        ldb_cursor_close(cur);
        if (rc != LDB_NOTFOUND)
            return tfail("version %" PRIu64 ": scan ends with %s", c, ldb_strerror(rc));
        if (i != NCOMP + 1)
            return tfail("version %" PRIu64 ": scan stops early", c);
    }
    if (out)
        *out = c;
    return 0;
}

/* ---- shared state of one threaded test -------------------------------------------- */

typedef struct shared {
    ldb_env *env;
    ldb_dbi comp;
    uint64_t commits;          /* the writer commits at least this many versions */
    uint64_t writer_cap;       /* and never more than this */
    int nreaders;
    atomic_uint_fast64_t published; /* newest version whose commit has returned */
    atomic_int writer_done;
    atomic_int readers_satisfied;   /* readers that did what they must before the writer stops */
} shared;

typedef struct reader_arg {
    shared *sh;
    int id;
    uint64_t seed;
    uint64_t iterations;
    uint64_t long_holds;  /* long txns held across the required number of commits */
    int satisfied;
} reader_arg;

static void *writer_main(void *p)
{
    shared *sh = p;
    uint64_t c = atomic_load(&sh->published);
    while (!atomic_load(&failed)) {
        if (c >= sh->commits && atomic_load(&sh->readers_satisfied) >= sh->nreaders)
            break;
        /* Past its own share, the writer only keeps the snapshots moving
         * for readers still at work: a nap per commit leaves them the
         * cores, so the cap counts commits of a stalled reader, not of a
         * writer on a disk (tmpfs) where commits cost no fsync. */
        if (c >= sh->commits)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        if (c >= sh->writer_cap) {
            tfail("writer: readers did not finish their work in %" PRIu64 " commits",
                  sh->writer_cap);
            break;
        }
        if (write_version(sh->env, sh->comp, ++c))
            break;
        atomic_store(&sh->published, c);
    }
    atomic_store(&sh->writer_done, 1);
    return NULL;
}

static shared *shared_setup(const char *path, const ldb_options *opts)
{
    shared *sh = calloc(1, sizeof *sh);
    ck_assert_ptr_nonnull(sh);
    reset_failures();
    sh->env = tu_open(path, opts);
    sh->comp = open_comp(sh->env, LDB_CREATE);
    ck_assert_msg(write_version(sh->env, sh->comp, 1) == 0, "%s", fail_msg);
    atomic_store(&sh->published, 1);
    return sh;
}

/* After the threads: a fresh reader sees the last version; check; close. */
static void shared_finish(shared *sh)
{
    ldb_txn *txn;
    uint64_t c = 0;
    int rc = ldb_txn_begin(sh->env, LDB_TXN_RDONLY, &txn);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
    ck_assert_msg(verify_version(txn, sh->comp, 0, 1, &c) == 0, "%s", fail_msg);
    ck_assert_msg(c == atomic_load(&sh->published), "final version %" PRIu64 ", want %" PRIu64,
                  c, (uint64_t)atomic_load(&sh->published));
    ldb_txn_abort(txn);
    ldb_stat st;
    rc = ldb_stat_env(sh->env, &st);
    ck_assert_msg(rc == 0, "stat_env: %s", ldb_strerror(rc));
    ck_assert_msg(st.readers_used == 0, "readers_used %u after every reader ended",
                  (unsigned)st.readers_used);
    tu_check_env(sh->env);
    rc = ldb_close(sh->env);
    ck_assert_msg(rc == 0, "close: %s", ldb_strerror(rc));
    free(sh);
}

static void run_threads(shared *sh, void *(*reader)(void *), reader_arg *args)
{
    pthread_t w, r[16];
    ck_assert(sh->nreaders <= 16);
    for (int i = 0; i < sh->nreaders; i++) {
        args[i].sh = sh;
        args[i].id = i;
        args[i].seed = 0xABCD0000ull + (uint64_t)i * 7919;
        ck_assert(pthread_create(&r[i], NULL, reader, &args[i]) == 0);
    }
    ck_assert(pthread_create(&w, NULL, writer_main, sh) == 0);
    pthread_join(w, NULL);
    for (int i = 0; i < sh->nreaders; i++)
        pthread_join(r[i], NULL);
}

static void mark_satisfied(reader_arg *a)
{
    if (!a->satisfied) {
        a->satisfied = 1;
        atomic_fetch_add(&a->sh->readers_satisfied, 1);
    }
}

/* ---- (a) readers see one version; long readers keep theirs ----------------------- */

#define LONG_HOLDS_REQUIRED 3

static void *reader_consistent(void *p)
{
    reader_arg *a = p;
    shared *sh = a->sh;
    uint64_t rng = a->seed, last_c = 0, last_id = 0;
    ldb_txn *long_txn = NULL;
    uint64_t long_c = 0, long_until = 0;
    int final_pass = 0;

    while (!atomic_load(&failed)) {
        int done = atomic_load(&sh->writer_done);
        uint64_t pub = atomic_load(&sh->published);
        ldb_txn *txn;
        uint64_t c;
        int rc = ldb_txn_begin(sh->env, LDB_TXN_RDONLY, &txn);
        if (rc) {
            tfail("reader %d: txn_begin: %s", a->id, ldb_strerror(rc));
            break;
        }
        if (verify_version(txn, sh->comp, 0, tu_rand(&rng) % 8 == 0, &c)) {
            ldb_txn_abort(txn);
            break;
        }
        uint64_t id = ldb_txn_id(txn);
        if (tu_rand(&rng) % 2)
            ldb_txn_abort(txn);
        else if ((rc = ldb_txn_commit(txn)) != 0) {
            tfail("reader %d: commit of a read txn: %s", a->id, ldb_strerror(rc));
            break;
        }
        if (c < pub) {
            tfail("reader %d: began after version %" PRIu64 " committed, sees %" PRIu64, a->id,
                  pub, c);
            break;
        }
        if (c < last_c || id < last_id) {
            tfail("reader %d: went backwards: version %" PRIu64 " (txn id %" PRIu64
                  ") after %" PRIu64 " (txn id %" PRIu64 ")",
                  a->id, c, id, last_c, last_id);
            break;
        }
        last_c = c;
        last_id = id;

        /* The long reader: kept until the writer has gone a number of commits
         * past it, verified in full on every pass meanwhile. */
        if (long_txn == NULL && !done) {
            rc = ldb_txn_begin(sh->env, LDB_TXN_RDONLY, &long_txn);
            if (rc) {
                tfail("reader %d: long txn_begin: %s", a->id, ldb_strerror(rc));
                break;
            }
            if (verify_version(long_txn, sh->comp, 0, 1, &long_c))
                break;
            long_until = long_c + 40 + tu_rand(&rng) % 80;
        } else if (long_txn != NULL) {
            if (verify_version(long_txn, sh->comp, long_c, tu_rand(&rng) % 4 == 0, NULL))
                break;
            if (atomic_load(&sh->published) >= long_until || done) {
                if (verify_version(long_txn, sh->comp, long_c, 1, NULL))
                    break;
                if (atomic_load(&sh->published) >= long_until)
                    a->long_holds++;
                ldb_txn_abort(long_txn);
                long_txn = NULL;
                if (a->long_holds >= LONG_HOLDS_REQUIRED)
                    mark_satisfied(a);
            }
        }
        a->iterations++;
        if (final_pass)
            break;
        if (done)
            final_pass = 1; /* one more full round after the writer's last commit */
    }
    if (long_txn)
        ldb_txn_abort(long_txn);
    mark_satisfied(a); /* on failure too, so the writer stops */
    return NULL;
}

START_TEST(test_readers_see_one_version)
{
    const char *dir = tu_tmpdir();
    shared *sh = shared_setup(tu_path(dir, "a.db"), NULL);
    sh->commits = tu_env_u64("LDB_SNAPSHOT_COMMITS", 1500);
    sh->writer_cap = sh->commits * 50;
    sh->nreaders = 4;
    reader_arg args[4];
    memset(args, 0, sizeof args);
    run_threads(sh, reader_consistent, args);
    ASSERT_NO_THREAD_FAILURE();
    for (int i = 0; i < sh->nreaders; i++) {
        ck_assert_msg(args[i].long_holds >= LONG_HOLDS_REQUIRED,
                      "reader %d held only %" PRIu64 " long txns", i, args[i].long_holds);
        ck_assert(args[i].iterations > 0);
    }
    shared_finish(sh);
    tu_remove_dir(dir);
}
END_TEST

/* ---- (b) reset / renew --------------------------------------------------------------- */

#define RENEWS_REQUIRED 2000

static void *reader_renew(void *p)
{
    reader_arg *a = p;
    shared *sh = a->sh;
    uint64_t rng = a->seed, last_c = 0, last_id = 0;
    ldb_txn *txn;
    int final_pass = 0;
    int rc = ldb_txn_begin(sh->env, LDB_TXN_RDONLY, &txn);
    if (rc) {
        tfail("reader %d: txn_begin: %s", a->id, ldb_strerror(rc));
        mark_satisfied(a);
        return NULL;
    }
    while (!atomic_load(&failed)) {
        int done = atomic_load(&sh->writer_done);
        ldb_txn_reset(txn);
        uint64_t pub = atomic_load(&sh->published);
        rc = ldb_txn_renew(txn);
        if (rc) {
            tfail("reader %d: renew: %s", a->id, ldb_strerror(rc));
            break;
        }
        uint64_t c, id = ldb_txn_id(txn);
        if (verify_version(txn, sh->comp, 0, tu_rand(&rng) % 16 == 0, &c))
            break;
        if (c < pub) {
            tfail("reader %d: renewed after version %" PRIu64 " committed, sees %" PRIu64, a->id,
                  pub, c);
            break;
        }
        if (c < last_c || id < last_id) {
            tfail("reader %d: renew went backwards: version %" PRIu64 " id %" PRIu64
                  " after %" PRIu64 " id %" PRIu64,
                  a->id, c, id, last_c, last_id);
            break;
        }
        /* The renewed snapshot stays put while the writer goes on. */
        for (int spin = (int)(tu_rand(&rng) % 3); spin > 0; spin--) {
            sched_yield();
            if (verify_version(txn, sh->comp, c, 0, NULL))
                goto out;
        }
        last_c = c;
        last_id = id;
        if (++a->iterations >= RENEWS_REQUIRED)
            mark_satisfied(a);
        if (final_pass)
            break;
        if (done)
            final_pass = 1;
    }
out:
    ldb_txn_abort(txn);
    mark_satisfied(a);
    return NULL;
}

START_TEST(test_reset_renew)
{
    const char *dir = tu_tmpdir();
    shared *sh = shared_setup(tu_path(dir, "b.db"), NULL);

    /* Single-threaded first: renew needs a reset txn; a reset txn renews to
     * the newest snapshot. */
    ldb_txn *txn;
    uint64_t c;
    int rc = ldb_txn_begin(sh->env, LDB_TXN_RDONLY, &txn);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
    rc = ldb_txn_renew(txn);
    ck_assert_msg(rc == LDB_INVALID, "renew of a live read txn: %s", ldb_strerror(rc));
    ck_assert_msg(verify_version(txn, sh->comp, 1, 1, NULL) == 0, "%s", fail_msg);
    ck_assert_msg(write_version(sh->env, sh->comp, 2) == 0, "%s", fail_msg);
    ck_assert_msg(verify_version(txn, sh->comp, 1, 1, NULL) == 0, "%s", fail_msg);
    ldb_txn_reset(txn);
    ck_assert_msg(write_version(sh->env, sh->comp, 3) == 0, "%s", fail_msg);
    rc = ldb_txn_renew(txn);
    ck_assert_msg(rc == 0, "renew: %s", ldb_strerror(rc));
    ck_assert_msg(verify_version(txn, sh->comp, 0, 1, &c) == 0, "%s", fail_msg);
    ck_assert_msg(c == 3, "renewed txn sees version %" PRIu64 ", want 3", c);
    ldb_txn_reset(txn);
    ldb_txn_abort(txn); /* a reset txn is freed by abort */
    atomic_store(&sh->published, 3);

    sh->commits = tu_env_u64("LDB_SNAPSHOT_COMMITS", 1500);
    sh->writer_cap = sh->commits * 50;
    sh->nreaders = 4;
    reader_arg args[4];
    memset(args, 0, sizeof args);
    run_threads(sh, reader_renew, args);
    ASSERT_NO_THREAD_FAILURE();
    for (int i = 0; i < sh->nreaders; i++)
        ck_assert_msg(args[i].iterations >= RENEWS_REQUIRED, "reader %d renewed %" PRIu64 " times",
                      i, args[i].iterations);
    shared_finish(sh);
    tu_remove_dir(dir);
}
END_TEST

/* ---- (c) many snapshots open at once ------------------------------------------------- */

#define HELD 40

static void *reader_holder(void *p)
{
    reader_arg *a = p;
    shared *sh = a->sh;
    uint64_t rng = a->seed;
    ldb_txn *txns[HELD] = {0};
    uint64_t vers[HELD] = {0};
    int n = 0;
    uint64_t newest = 0;
    int final_pass = 0;

    while (!atomic_load(&failed)) {
        int done = atomic_load(&sh->writer_done);
        /* Wait (by yielding, bounded by the writer's progress) for a version
         * newer than every one held, so each held txn is a distinct snapshot. */
        while (!done && atomic_load(&sh->published) <= newest && !atomic_load(&failed)) {
            sched_yield();
            done = atomic_load(&sh->writer_done);
        }
        if (n == HELD) { /* full: end a random one */
            int victim = (int)(tu_rand(&rng) % HELD);
            if (verify_version(txns[victim], sh->comp, vers[victim], 1, NULL))
                break;
            ldb_txn_abort(txns[victim]);
            txns[victim] = txns[n - 1];
            vers[victim] = vers[n - 1];
            n--;
        }
        int rc = ldb_txn_begin(sh->env, LDB_TXN_RDONLY, &txns[n]);
        if (rc) {
            tfail("holder %d: txn_begin with %d held: %s", a->id, n, ldb_strerror(rc));
            break;
        }
        if (verify_version(txns[n], sh->comp, 0, 0, &vers[n]))
            break;
        if (vers[n] < newest) {
            tfail("holder %d: new txn sees version %" PRIu64 " < %" PRIu64, a->id, vers[n],
                  newest);
            break;
        }
        newest = vers[n];
        n++;
        int distinct = 1;
        for (int i = 0; i < n; i++) {
            if (verify_version(txns[i], sh->comp, vers[i], (int)(tu_rand(&rng) % n) == 0, NULL))
                goto out;
            for (int j = 0; j < i; j++)
                if (vers[j] == vers[i])
                    distinct = 0;
        }
        if (n == HELD && distinct && ++a->long_holds >= 20)
            mark_satisfied(a);
        a->iterations++;
        if (final_pass)
            break;
        if (done)
            final_pass = 1;
    }
out:
    for (int i = 0; i < n; i++) {
        if (!atomic_load(&failed))
            verify_version(txns[i], sh->comp, vers[i], 1, NULL);
        ldb_txn_abort(txns[i]);
    }
    mark_satisfied(a);
    return NULL;
}

START_TEST(test_many_snapshots)
{
    const char *dir = tu_tmpdir();
    ldb_options opts = {0};
    opts.sync_mode = LDB_SYNC_OFF;
    shared *sh = shared_setup(tu_path(dir, "c.db"), &opts);

    /* One thread: a staircase of read txns, each a version older than the
     * next, held while this same thread commits the next version. */
    enum { STAIRS = 60 };
    ldb_txn *txns[STAIRS];
    for (uint64_t v = 1; v <= STAIRS; v++) {
        int rc = ldb_txn_begin(sh->env, LDB_TXN_RDONLY, &txns[v - 1]);
        ck_assert_msg(rc == 0, "txn_begin with %" PRIu64 " held: %s", v - 1, ldb_strerror(rc));
        if (v > 1)
            ck_assert_msg(ldb_txn_id(txns[v - 1]) > ldb_txn_id(txns[v - 2]),
                          "read txn ids do not grow: %" PRIu64 " after %" PRIu64,
                          ldb_txn_id(txns[v - 1]), ldb_txn_id(txns[v - 2]));
        ck_assert_msg(write_version(sh->env, sh->comp, v + 1) == 0, "%s", fail_msg);
        for (uint64_t u = 1; u <= v; u++)
            ck_assert_msg(verify_version(txns[u - 1], sh->comp, u, u == v || u == 1, NULL) == 0,
                          "staircase step %" PRIu64 ", txn %" PRIu64 ": %s", v, u, fail_msg);
    }
    ldb_stat st;
    int rc = ldb_stat_env(sh->env, &st);
    ck_assert_msg(rc == 0, "stat_env: %s", ldb_strerror(rc));
    ck_assert_msg(st.readers_used == STAIRS, "readers_used %u, %d open", (unsigned)st.readers_used,
                  STAIRS);
    ck_assert_msg(st.oldest_reader_txn_id == ldb_txn_id(txns[0]),
                  "oldest_reader_txn_id %" PRIu64 ", oldest reader is %" PRIu64,
                  st.oldest_reader_txn_id, ldb_txn_id(txns[0]));
    for (int i = 0; i < STAIRS; i++)
        ldb_txn_abort(txns[i]);
    rc = ldb_stat_env(sh->env, &st);
    ck_assert_msg(rc == 0, "stat_env: %s", ldb_strerror(rc));
    ck_assert_msg(st.readers_used == 0 && st.oldest_reader_txn_id == 0,
                  "after every reader ended: readers_used %u, oldest %" PRIu64,
                  (unsigned)st.readers_used, st.oldest_reader_txn_id);
    atomic_store(&sh->published, STAIRS + 1);

    /* Threads: two holders of HELD distinct snapshots each, the writer going on. */
    sh->commits = tu_env_u64("LDB_SNAPSHOT_COMMITS", 1500) / 2;
    sh->writer_cap = sh->commits * 50;
    sh->nreaders = 2;
    reader_arg args[2];
    memset(args, 0, sizeof args);
    run_threads(sh, reader_holder, args);
    ASSERT_NO_THREAD_FAILURE();
    for (int i = 0; i < sh->nreaders; i++)
        ck_assert_msg(args[i].long_holds >= 20, "holder %d held %d distinct snapshots only %" PRIu64
                      " times", i, HELD, args[i].long_holds);
    shared_finish(sh);
    tu_remove_dir(dir);
}
END_TEST

/* ---- (d) free-page reuse under an old reader ---------------------------------------- */

static size_t churn_nkeys(int tree, uint64_t gen)
{
    return tree == 0 ? 800 + (size_t)((gen * 37) % 800) : 80 + (size_t)((gen * 13) % 80);
}

static size_t churn_len(int tree, uint64_t gen, size_t i)
{
    if (tree == 0)
        return (size_t)((gen * 7 + i * 13) % 1400);
    return 3000 + (size_t)((gen * 101 + i * 37) % 9000);
}

static size_t churn_fill(int tree, uint64_t gen, size_t i, uint8_t *buf)
{
    size_t n = churn_len(tree, gen, i);
    fill_bytes((gen << 32) ^ ((uint64_t)tree << 24) ^ i, buf, n);
    if (n >= 8) /* the generation in front, to name it in messages */
        memcpy(buf, &gen, 8);
    return n;
}

static void churn_key(size_t i, char *kb)
{
    snprintf(kb, 16, "k%05zu", i);
}

/* Every entry of both trees, byte for byte, in order; and some gets. */
static int verify_gen(ldb_txn *txn, const ldb_dbi *dbi, uint64_t gen, const char *who)
{
    static _Thread_local uint8_t buf[12000];
    char kb[16];
    for (int tree = 0; tree < 2; tree++) {
        size_t n = churn_nkeys(tree, gen), i = 0;
        ldb_cursor *cur;
        ldb_val k, v;
        int rc = ldb_cursor_open(txn, dbi[tree], &cur);
        if (rc)
            return tfail("%s: cursor_open: %s", who, ldb_strerror(rc));
        for (rc = ldb_cursor_get(cur, &k, &v, LDB_FIRST); rc == 0;
             rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT), i++) {
            churn_key(i, kb);
            size_t vl = i < n ? churn_fill(tree, gen, i, buf) : 0;
            if (i >= n || k.size != strlen(kb) || memcmp(k.data, kb, k.size) != 0) {
                ldb_cursor_close(cur);
                return tfail("%s: generation %" PRIu64 " tree %d: entry %zu is not %s", who, gen,
                             tree, i, i < n ? kb : "(none: past the end)");
            }
            if (v.size != vl || memcmp(v.data, buf, vl) != 0) {
                uint64_t from = 0;
                if (v.size >= 8)
                    memcpy(&from, v.data, 8);
                ldb_cursor_close(cur);
                return tfail("%s: generation %" PRIu64 " tree %d key %s: %zu bytes that differ "
                             "(written by generation %" PRIu64 "?), want %zu",
                             who, gen, tree, kb, v.size, from, vl);
            }
        }
        ldb_cursor_close(cur);
        if (rc != LDB_NOTFOUND || i != n)
            return tfail("%s: generation %" PRIu64 " tree %d: scan ends with %s after %zu of %zu",
                         who, gen, tree, ldb_strerror(rc), i, n);
        for (size_t j = 0; j < n; j += 7) {
            churn_key(j, kb);
            k = tu_str(kb);
            rc = ldb_get(txn, dbi[tree], &k, &v);
            size_t vl = churn_fill(tree, gen, j, buf);
            if (rc || v.size != vl || memcmp(v.data, buf, vl) != 0)
                return tfail("%s: generation %" PRIu64 " tree %d get %s: %s", who, gen, tree, kb,
                             rc ? ldb_strerror(rc) : "value differs");
        }
    }
    return 0;
}

/* One generation: empty both trees (three ways, by turns), write them anew,
 * then overwrite a third of the keys with the same bytes from a new copy. */
static void churn_round(ldb_env *env, const ldb_dbi *dbi, uint64_t gen)
{
    static uint8_t buf[12000];
    char kb[16];
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, 0, &txn);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
    for (int tree = 0; tree < 2; tree++) {
        if (gen % 3 == 0) {
            for (size_t i = 0; i < churn_nkeys(tree, gen - 1); i++) {
                churn_key(i, kb);
                ldb_val k = tu_str(kb);
                rc = ldb_del(txn, dbi[tree], &k);
                ck_assert_msg(rc == 0, "gen %" PRIu64 " del %s: %s", gen, kb, ldb_strerror(rc));
            }
        } else if (gen % 3 == 1) {
            ldb_cursor *cur;
            rc = ldb_cursor_open(txn, dbi[tree], &cur);
            ck_assert_msg(rc == 0, "cursor_open: %s", ldb_strerror(rc));
            size_t n = 0;
            for (rc = ldb_cursor_get(cur, NULL, NULL, LDB_FIRST); rc == 0;
                 rc = ldb_cursor_get(cur, NULL, NULL, LDB_NEXT)) {
                rc = ldb_cursor_del(cur);
                ck_assert_msg(rc == 0, "cursor_del: %s", ldb_strerror(rc));
                n++;
            }
            ck_assert_msg(rc == LDB_NOTFOUND, "cursor walk ends with %s", ldb_strerror(rc));
            ck_assert_msg(n == churn_nkeys(tree, gen - 1), "cursor_del removed %zu of %zu", n,
                          churn_nkeys(tree, gen - 1));
            ldb_cursor_close(cur);
        } else {
            rc = ldb_dbi_drop(txn, dbi[tree], 0);
            ck_assert_msg(rc == 0, "dbi_drop(empty): %s", ldb_strerror(rc));
        }
        ldb_tree_stat ts;
        rc = ldb_dbi_stat(txn, dbi[tree], &ts);
        ck_assert_msg(rc == 0 && ts.entries == 0, "tree %d not empty after deleting: %s, %" PRIu64,
                      tree, ldb_strerror(rc), ts.entries);
    }
    rc = ldb_txn_commit(txn);
    ck_assert_msg(rc == 0, "commit: %s", ldb_strerror(rc));

    rc = ldb_txn_begin(env, 0, &txn);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
    for (int tree = 0; tree < 2; tree++)
        for (size_t i = 0; i < churn_nkeys(tree, gen); i++) {
            churn_key(i, kb);
            ldb_val k = tu_str(kb), v = {churn_fill(tree, gen, i, buf), buf};
            rc = ldb_put(txn, dbi[tree], &k, &v, LDB_NOOVERWRITE);
            ck_assert_msg(rc == 0, "gen %" PRIu64 " put %s: %s", gen, kb, ldb_strerror(rc));
        }
    rc = ldb_txn_commit(txn);
    ck_assert_msg(rc == 0, "commit: %s", ldb_strerror(rc));

    rc = ldb_txn_begin(env, 0, &txn);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
    for (int tree = 0; tree < 2; tree++)
        for (size_t i = gen % 3; i < churn_nkeys(tree, gen); i += 3) {
            churn_key(i, kb);
            ldb_val k = tu_str(kb), v = {churn_fill(tree, gen, i, buf), buf};
            rc = ldb_put(txn, dbi[tree], &k, &v, 0);
            ck_assert_msg(rc == 0, "gen %" PRIu64 " overwrite %s: %s", gen, kb, ldb_strerror(rc));
        }
    rc = ldb_txn_commit(txn);
    ck_assert_msg(rc == 0, "commit: %s", ldb_strerror(rc));
}

typedef struct verifier_arg {
    ldb_txn *txn;
    const ldb_dbi *dbi;
    uint64_t gen;
    atomic_int stop;
    uint64_t passes;
} verifier_arg;

static void *verifier_main(void *p)
{
    verifier_arg *va = p;
    for (;;) {
        int stop = atomic_load(&va->stop);
        if (verify_gen(va->txn, va->dbi, va->gen, "old reader (verifier thread)"))
            break;
        va->passes++;
        if (stop || atomic_load(&failed))
            break;
    }
    return NULL;
}

START_TEST(test_old_reader_survives_page_reuse)
{
    reset_failures();
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "d.db");
    ldb_options opts = {0};
    opts.sync_mode = LDB_SYNC_OFF;
    ldb_env *env = tu_open(path, &opts);
    ldb_dbi dbi[2] = {LDB_MAIN, 0};
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, 0, &txn);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
    rc = ldb_dbi_open(txn, "big", LDB_CREATE, &dbi[1]);
    ck_assert_msg(rc == 0, "dbi_open: %s", ldb_strerror(rc));
    rc = ldb_txn_commit(txn);
    ck_assert_msg(rc == 0, "commit: %s", ldb_strerror(rc));

    /* Generations 1..5 with no reader: the free list fills, so the txns
     * after the old reader begins have freed pages to reuse. */
    uint64_t gen = 0;
    { /* generation 0 */
        static uint8_t buf[12000];
        char kb[16];
        rc = ldb_txn_begin(env, 0, &txn);
        ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
        for (int tree = 0; tree < 2; tree++)
            for (size_t i = 0; i < churn_nkeys(tree, 0); i++) {
                churn_key(i, kb);
                ldb_val k = tu_str(kb), v = {churn_fill(tree, 0, i, buf), buf};
                rc = ldb_put(txn, dbi[tree], &k, &v, 0);
                ck_assert_msg(rc == 0, "put: %s", ldb_strerror(rc));
            }
        rc = ldb_txn_commit(txn);
        ck_assert_msg(rc == 0, "commit: %s", ldb_strerror(rc));
    }
    while (gen < 5)
        churn_round(env, dbi, ++gen);

    /* The old reader, checked by another thread while this one churns. */
    ldb_txn *old;
    rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &old);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
    uint64_t old_gen = gen;
    ck_assert_msg(verify_gen(old, dbi, old_gen, "old reader") == 0, "%s", fail_msg);
    verifier_arg va = {.txn = old, .dbi = dbi, .gen = old_gen};
    pthread_t vt;
    ck_assert(pthread_create(&vt, NULL, verifier_main, &va) == 0);

    ldb_txn *mid = NULL;
    uint64_t mid_gen = 0;
    uint64_t rounds = tu_env_u64("LDB_SNAPSHOT_CHURN", 30);
    for (uint64_t r = 0; r < rounds && !atomic_load(&failed); r++) {
        churn_round(env, dbi, ++gen);
        if (r == rounds / 3) { /* a second, younger reader for a while */
            rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &mid);
            ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
            mid_gen = gen;
        }
        if (mid)
            ck_assert_msg(verify_gen(mid, dbi, mid_gen, "younger reader") == 0, "%s", fail_msg);
        if (mid && r == 2 * rounds / 3) {
            ldb_txn_abort(mid);
            mid = NULL;
        }
        ldb_stat st;
        rc = ldb_stat_env(env, &st);
        ck_assert_msg(rc == 0, "stat_env: %s", ldb_strerror(rc));
        ck_assert_msg(st.oldest_reader_txn_id == ldb_txn_id(old),
                      "oldest_reader_txn_id %" PRIu64 ", the old reader is %" PRIu64,
                      st.oldest_reader_txn_id, ldb_txn_id(old));
    }
    atomic_store(&va.stop, 1);
    pthread_join(vt, NULL);
    ASSERT_NO_THREAD_FAILURE();
    ck_assert_msg(va.passes >= 1, "verifier made no pass");
    if (mid)
        ldb_txn_abort(mid);
    ck_assert_msg(verify_gen(old, dbi, old_gen, "old reader at the end") == 0, "%s", fail_msg);
    ldb_txn_abort(old);

    /* Without readers the freed pages come back into use. */
    for (int r = 0; r < 5; r++)
        churn_round(env, dbi, ++gen);
    rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
    ck_assert_msg(verify_gen(txn, dbi, gen, "new reader") == 0, "%s", fail_msg);
    ldb_txn_abort(txn);
    tu_check_env(env);
    rc = ldb_close(env);
    ck_assert_msg(rc == 0, "close: %s", ldb_strerror(rc));

    env = tu_open(path, &opts);
    rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
    rc = ldb_dbi_open(txn, "big", 0, &dbi[1]);
    ck_assert_msg(rc == 0, "dbi_open: %s", ldb_strerror(rc));
    ck_assert_msg(verify_gen(txn, dbi, gen, "after reopen") == 0, "%s", fail_msg);
    ldb_txn_abort(txn);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    tu_remove_dir(dir);
}
END_TEST

/* ---- processes ------------------------------------------------------------------------ */

static void expect_child_ok(pid_t pid, const char *what)
{
    int st = tu_wait_child(pid, 60, what);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: child %s %d", what,
                  WIFEXITED(st) ? "exited with" : "died of signal",
                  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

static void child_exit(int code)
{
    if (code && fail_msg[0])
        fprintf(stderr, "child %d: %s\n", (int)getpid(), fail_msg);
    fflush(stderr);
    _exit(code);
}

static int read_byte(int fd)
{
    char c;
    ssize_t n;
    do
        n = read(fd, &c, 1);
    while (n < 0 && errno == EINTR);
    return n == 1 ? (unsigned char)c : -1;
}

static void write_byte(int fd, int c)
{
    char b = (char)c;
    ssize_t n;
    do
        n = write(fd, &b, 1);
    while (n < 0 && errno == EINTR);
}

/* Read version c of the env's "counter" in a new read txn (0 on error). */
static uint64_t read_counter(ldb_env *env)
{
    ldb_txn *txn;
    ldb_val k = tu_str("counter"), v;
    uint64_t c = 0;
    if (ldb_txn_begin(env, LDB_TXN_RDONLY, &txn) != 0)
        return 0;
    if (ldb_get(txn, LDB_MAIN, &k, &v) == 0 && v.size == 8)
        memcpy(&c, v.data, 8);
    ldb_txn_abort(txn);
    return c;
}

/* (e) two handles on one path in one process. */
typedef struct handle_arg {
    ldb_env *env;
    int rc_nowait;
    int saw_m;
    int rc_commit;
} handle_arg;

/* A write txn with NOWAIT on the second handle (from its own thread: the
 * main thread holds the first handle's write txn). */
static void *second_handle_nowait(void *p)
{
    handle_arg *h = p;
    ldb_txn *txn;
    h->rc_nowait = ldb_txn_begin(h->env, LDB_TXN_NOWAIT, &txn);
    if (h->rc_nowait == 0)
        ldb_txn_abort(txn);
    return NULL;
}

/* A waiting write txn on the second handle: whenever it gets the writer
 * slot, the first handle's txn has committed, so it must see "m". */
static void *second_handle_writer(void *p)
{
    handle_arg *h = p;
    ldb_txn *txn;
    int rc = ldb_txn_begin(h->env, 0, &txn);
    if (rc) {
        h->rc_commit = rc;
        return NULL;
    }
    ldb_val k = tu_str("m"), v;
    h->saw_m = ldb_get(txn, LDB_MAIN, &k, &v) == 0;
    k = tu_str("t");
    v = tu_str("from the second handle");
    rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
    h->rc_commit = rc ? rc : ldb_txn_commit(txn);
    if (rc)
        ldb_txn_abort(txn);
    return NULL;
}

START_TEST(test_two_handles_one_process)
{
    reset_failures();
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "e.db");
    ldb_env *e1 = tu_open(path, NULL);
    ldb_env *e2 = tu_open(path, NULL);
    ldb_dbi c1 = open_comp(e1, LDB_CREATE);
    ldb_dbi c2 = open_comp(e2, 0);

    ck_assert_msg(write_version(e1, c1, 1) == 0, "%s", fail_msg);
    ldb_txn *r2;
    int rc = ldb_txn_begin(e2, LDB_TXN_RDONLY, &r2);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
    ck_assert_msg(verify_version(r2, c2, 1, 1, NULL) == 0, "second handle: %s", fail_msg);
    ck_assert_msg(write_version(e2, c2, 2) == 0, "%s", fail_msg);
    ck_assert_msg(read_counter(e1) == 2, "first handle does not see the second's commit");
    ck_assert_msg(verify_version(r2, c2, 1, 1, NULL) == 0, "old reader: %s", fail_msg);
    ldb_txn *r1;
    rc = ldb_txn_begin(e1, LDB_TXN_RDONLY, &r1);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
    ldb_stat st;
    ck_assert_int_eq(ldb_stat_env(e1, &st), 0);
    ck_assert_msg(st.readers_used == 2, "readers_used %u via handle 1, 2 open (one per handle)",
                  (unsigned)st.readers_used);
    ck_assert_int_eq(ldb_stat_env(e2, &st), 0);
    ck_assert_msg(st.readers_used == 2, "readers_used %u via handle 2", (unsigned)st.readers_used);
    ldb_txn_abort(r2);

    /* One writer across handles: handle 2 gets BUSY with NOWAIT, and its
     * blocking begin returns only after handle 1's txn is over. */
    ldb_txn *w1;
    rc = ldb_txn_begin(e1, 0, &w1);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
    ldb_val k = tu_str("m"), v = tu_str("from the first handle");
    ck_assert_int_eq(ldb_put(w1, LDB_MAIN, &k, &v, 0), 0);
    handle_arg h = {.env = e2};
    pthread_t t;
    ck_assert(pthread_create(&t, NULL, second_handle_nowait, &h) == 0);
    pthread_join(t, NULL);
    ck_assert_msg(h.rc_nowait == LDB_BUSY, "NOWAIT begin on handle 2 while handle 1 writes: %s",
                  ldb_strerror(h.rc_nowait));
    ck_assert(pthread_create(&t, NULL, second_handle_writer, &h) == 0);
    usleep(50 * 1000); /* likely (not necessarily) blocked by now; either way must hold */
    rc = ldb_txn_commit(w1);
    ck_assert_msg(rc == 0, "commit: %s", ldb_strerror(rc));
    pthread_join(t, NULL);
    ck_assert_msg(h.rc_commit == 0, "handle 2 write: %s", ldb_strerror(h.rc_commit));
    ck_assert_msg(h.saw_m, "handle 2's write txn began before handle 1's commit was visible");

    /* Closing handle 2 must not disturb handle 1: its reader keeps its slot
     * and snapshot, even while another process (which cannot know about
     * handle 1 except through the lock file) rewrites everything. */
    ck_assert_int_eq(ldb_close(e2), 0);
    ck_assert_int_eq(ldb_stat_env(e1, &st), 0);
    ck_assert_msg(st.readers_used == 1, "readers_used %u after closing handle 2",
                  (unsigned)st.readers_used);
    ck_assert_msg(verify_version(r1, c1, 2, 1, NULL) == 0, "%s", fail_msg);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        ldb_env *ce;
        if (ldb_open(path, NULL, &ce) != 0)
            child_exit(10);
        ldb_txn *ct;
        ldb_dbi cc;
        if (ldb_txn_begin(ce, LDB_TXN_RDONLY, &ct) || ldb_dbi_open(ct, "comp", 0, &cc) ||
            ldb_txn_commit(ct))
            child_exit(11);
        for (uint64_t c = 3; c < 60; c++)
            if (write_version(ce, cc, c))
                child_exit(12);
        child_exit(ldb_close(ce) ? 13 : 0);
    }
    expect_child_ok(pid, "child rewriting while handle 1 reads");
    ck_assert_msg(verify_version(r1, c1, 2, 1, NULL) == 0,
                  "handle 1's reader after another process rewrote everything: %s", fail_msg);
    ldb_txn_abort(r1);
    ck_assert_msg(read_counter(e1) == 59, "handle 1 sees version %" PRIu64 ", want 59",
                  read_counter(e1));
    ck_assert_msg(write_version(e1, c1, 60) == 0, "%s", fail_msg);
    tu_check_env(e1);
    ck_assert_int_eq(ldb_close(e1), 0);
    tu_remove_dir(dir);
}
END_TEST

/* (e) a child process and the parent see each other's commits, turn by turn. */
START_TEST(test_fork_child_sees_commits)
{
    reset_failures();
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "f.db");
    ldb_env *env = tu_open(path, NULL);
    ldb_dbi comp = open_comp(env, LDB_CREATE);
    ck_assert_msg(write_version(env, comp, 1) == 0, "%s", fail_msg);

    int to_child[2], to_parent[2];
    ck_assert(pipe(to_child) == 0 && pipe(to_parent) == 0);
    enum { TURNS = 40 };
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        close(to_child[1]);
        close(to_parent[0]);
        ldb_env *ce;
        if (ldb_open(path, NULL, &ce) != 0)
            child_exit(10);
        ldb_txn *ct;
        ldb_dbi cc;
        if (ldb_txn_begin(ce, LDB_TXN_RDONLY, &ct) || ldb_dbi_open(ct, "comp", 0, &cc) ||
            ldb_txn_commit(ct))
            child_exit(11);
        for (int turn = 0; turn < TURNS; turn++) {
            if (read_byte(to_child[0]) < 0)
                child_exit(12); /* the parent is gone */
            uint64_t want = 2 * (uint64_t)turn + 1, c = 0;
            if (ldb_txn_begin(ce, LDB_TXN_RDONLY, &ct))
                child_exit(13);
            if (verify_version(ct, cc, 0, 1, &c) || c != want) {
                if (!fail_msg[0])
                    tfail("child sees version %" PRIu64 ", parent committed %" PRIu64, c, want);
                child_exit(14);
            }
            ldb_txn_abort(ct);
            if (write_version(ce, cc, want + 1))
                child_exit(15);
            write_byte(to_parent[1], 'c');
        }
        child_exit(ldb_close(ce) ? 16 : 0);
    }
    close(to_child[0]);
    close(to_parent[1]);
    ldb_txn *held;
    int rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &held);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
    for (int turn = 0; turn < TURNS; turn++) {
        uint64_t mine = 2 * (uint64_t)turn + 1;
        if (turn > 0)
            ck_assert_msg(write_version(env, comp, mine) == 0, "%s", fail_msg);
        write_byte(to_child[1], 'p');
        ck_assert_msg(read_byte(to_parent[0]) == 'c', "child stopped at turn %d", turn);
        ldb_txn *txn;
        uint64_t c = 0;
        rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
        ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
        ck_assert_msg(verify_version(txn, comp, 0, 1, &c) == 0, "%s", fail_msg);
        ck_assert_msg(c == mine + 1, "parent sees version %" PRIu64 ", child committed %" PRIu64,
                      c, mine + 1);
        ldb_txn_abort(txn);
        ck_assert_msg(verify_version(held, comp, 1, turn % 8 == 0, NULL) == 0, "held reader: %s",
                      fail_msg);
    }
    expect_child_ok(pid, "ping-pong child");
    ldb_txn_abort(held);
    close(to_child[1]);
    close(to_parent[0]);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    tu_remove_dir(dir);
}
END_TEST

/* (e) the reader table: max_readers, LDB_BUSY, slots of killed processes. */
START_TEST(test_reader_slots)
{
    reset_failures();
    enum { MAXR = 8 };
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "g.db");
    ldb_options opts = {0};
    opts.max_readers = MAXR;
    ldb_env *env = tu_open(path, &opts);
    ldb_dbi comp = open_comp(env, LDB_CREATE);
    ck_assert_msg(write_version(env, comp, 1) == 0, "%s", fail_msg);

    ldb_txn *r[MAXR + 1];
    for (int i = 0; i < MAXR; i++) {
        int rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &r[i]);
        ck_assert_msg(rc == 0, "read txn %d of %d: %s", i + 1, MAXR, ldb_strerror(rc));
    }
    int rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &r[MAXR]);
    ck_assert_msg(rc == LDB_BUSY, "read txn past max_readers: %s", ldb_strerror(rc));
    ldb_stat st;
    ck_assert_int_eq(ldb_stat_env(env, &st), 0);
    ck_assert_msg(st.readers_used == MAXR && st.readers_max == MAXR, "readers %u of %u",
                  (unsigned)st.readers_used, (unsigned)st.readers_max);
    /* Readers do not block the writer. */
    ck_assert_msg(write_version(env, comp, 2) == 0, "%s", fail_msg);
    for (int i = 0; i < MAXR; i++)
        ck_assert_msg(verify_version(r[i], comp, 1, 0, NULL) == 0, "%s", fail_msg);
    ldb_txn_abort(r[3]);
    rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &r[3]);
    ck_assert_msg(rc == 0, "read txn in a freed slot: %s", ldb_strerror(rc));
    ck_assert_msg(verify_version(r[3], comp, 2, 0, NULL) == 0, "%s", fail_msg);

    /* The limit is for all processes: with MAXR-1 held here, a child gets one. */
    ldb_txn_abort(r[0]);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        ldb_env *ce;
        ldb_txn *a, *b;
        if (ldb_open(path, NULL, &ce) != 0)
            child_exit(10);
        if (ldb_txn_begin(ce, LDB_TXN_RDONLY, &a) != 0)
            child_exit(11);
        int brc = ldb_txn_begin(ce, LDB_TXN_RDONLY, &b);
        if (brc != LDB_BUSY) {
            fprintf(stderr, "child: second read txn with every slot taken: %s\n",
                    ldb_strerror(brc));
            child_exit(12);
        }
        ldb_txn_abort(a);
        child_exit(ldb_close(ce) ? 13 : 0);
    }
    expect_child_ok(pid, "child at the reader limit");
    for (int i = 1; i < MAXR; i++)
        ldb_txn_abort(r[i]);
    ck_assert_int_eq(ldb_stat_env(env, &st), 0);
    ck_assert_msg(st.readers_used == 0, "readers_used %u with none open", (unsigned)st.readers_used);

    /* A child that holds a read txn is killed: ldb_reader_check frees its slot. */
    int ready[2];
    ck_assert(pipe(ready) == 0);
    pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        ldb_env *ce;
        ldb_txn *a;
        if (ldb_open(path, NULL, &ce) != 0)
            child_exit(10);
        if (ldb_txn_begin(ce, LDB_TXN_RDONLY, &a) != 0)
            child_exit(11);
        write_byte(ready[1], 'r');
        for (;;)
            pause();
    }
    close(ready[1]);
    ck_assert_msg(read_byte(ready[0]) == 'r', "child could not begin its read txn");
    close(ready[0]);
    ck_assert_int_eq(ldb_stat_env(env, &st), 0);
    ck_assert_msg(st.readers_used == 1, "readers_used %u with the child's reader open",
                  (unsigned)st.readers_used);
    /* The child's snapshot holds version 2 back; the writer goes on. */
    ck_assert_msg(write_version(env, comp, 3) == 0, "%s", fail_msg);
    ck_assert(kill(pid, SIGKILL) == 0);
    int status;
    ck_assert(waitpid(pid, &status, 0) == pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    int cleared = -1;
    rc = ldb_reader_check(env, &cleared);
    ck_assert_msg(rc == 0, "reader_check: %s", ldb_strerror(rc));
    ck_assert_msg(cleared >= 1, "reader_check cleared %d slots after the holder was killed",
                  cleared);
    ck_assert_int_eq(ldb_stat_env(env, &st), 0);
    ck_assert_msg(st.readers_used == 0, "readers_used %u after reader_check",
                  (unsigned)st.readers_used);
    ck_assert_msg(st.oldest_reader_txn_id == 0, "oldest_reader_txn_id %" PRIu64 " with none",
                  st.oldest_reader_txn_id);
    rc = ldb_reader_check(env, &cleared);
    ck_assert_msg(rc == 0 && cleared == 0, "second reader_check: %s, cleared %d",
                  ldb_strerror(rc), cleared);
    /* Every slot is usable again. */
    for (int i = 0; i < MAXR; i++) {
        rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &r[i]);
        ck_assert_msg(rc == 0, "read txn %d after reader_check: %s", i + 1, ldb_strerror(rc));
    }
    for (int i = 0; i < MAXR; i++) {
        ck_assert_msg(verify_version(r[i], comp, 3, 0, NULL) == 0, "%s", fail_msg);
        ldb_txn_abort(r[i]);
    }
    ck_assert_msg(write_version(env, comp, 4) == 0, "%s", fail_msg);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    tu_remove_dir(dir);
}
END_TEST

/* A writer process killed mid-txn: the writer slot comes back (the lock is
 * robust), and nothing of the dead txn is visible. */
typedef struct begin_arg {
    ldb_env *env;
    int rc;
    ldb_txn *txn;
    atomic_int done;
} begin_arg;

static void *begin_writer(void *p)
{
    begin_arg *b = p;
    b->rc = ldb_txn_begin(b->env, 0, &b->txn);
    atomic_store(&b->done, 1);
    return NULL;
}

START_TEST(test_killed_writer)
{
    reset_failures();
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "w.db");
    ldb_env *env = tu_open(path, NULL);
    ldb_dbi comp = open_comp(env, LDB_CREATE);
    ck_assert_msg(write_version(env, comp, 1) == 0, "%s", fail_msg);

    int ready[2];
    ck_assert(pipe(ready) == 0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        ldb_env *ce;
        ldb_txn *w;
        uint8_t buf[COMP_MAX];
        if (ldb_open(path, NULL, &ce) != 0)
            child_exit(10);
        if (ldb_txn_begin(ce, 0, &w) != 0)
            child_exit(11);
        uint64_t c = 999;
        ldb_val k = tu_str("counter"), v = u64_val(&c);
        if (ldb_put(w, LDB_MAIN, &k, &v, 0))
            child_exit(12);
        for (int i = 0; i < 400; i++) { /* enough to spill pages, if it spills */
            char kb[16];
            snprintf(kb, sizeof kb, "dead%04d", i);
            k = tu_str(kb);
            v = (ldb_val){comp_fill(c, i, buf), buf};
            if (ldb_put(w, LDB_MAIN, &k, &v, 0))
                child_exit(13);
        }
        write_byte(ready[1], 'w');
        for (;;)
            pause();
    }
    close(ready[1]);
    ck_assert_msg(read_byte(ready[0]) == 'w', "child could not begin its write txn");
    close(ready[0]);
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, LDB_TXN_NOWAIT, &txn);
    ck_assert_msg(rc == LDB_BUSY, "NOWAIT write txn while another process writes: %s",
                  ldb_strerror(rc));
    ck_assert(kill(pid, SIGKILL) == 0);
    int status;
    ck_assert(waitpid(pid, &status, 0) == pid);

    begin_arg b = {.env = env};
    pthread_t t;
    ck_assert(pthread_create(&t, NULL, begin_writer, &b) == 0);
    for (int ms = 0; !atomic_load(&b.done) && ms < 30000; ms += 10)
        usleep(10000);
    ck_assert_msg(atomic_load(&b.done), "write txn_begin still waiting 30 s after the writer died");
    pthread_join(t, NULL);
    ck_assert_msg(b.rc == 0, "write txn after the writer died: %s", ldb_strerror(b.rc));
    ldb_val k = tu_str("dead0000"), v;
    rc = ldb_get(b.txn, LDB_MAIN, &k, &v);
    ck_assert_msg(rc == LDB_NOTFOUND, "the dead writer's put is visible: %s", ldb_strerror(rc));
    ldb_txn_abort(b.txn);
    ck_assert_msg(read_counter(env) == 1, "counter %" PRIu64 " after the writer died",
                  read_counter(env));
    ck_assert_msg(write_version(env, comp, 2) == 0, "%s", fail_msg);
    rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
    ck_assert_msg(verify_version(txn, comp, 2, 1, NULL) == 0, "%s", fail_msg);
    ldb_txn_abort(txn);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);

    /* And a fresh open (recovery) sees the same. */
    env = tu_open(path, NULL);
    comp = open_comp(env, 0);
    rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
    ck_assert_msg(verify_version(txn, comp, 2, 1, NULL) == 0, "%s", fail_msg);
    ldb_txn_abort(txn);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    tu_remove_dir(dir);
}
END_TEST

/* (f) a forked child must not use its parent's env: LDB_INVALID, and the
 * parent goes on undisturbed. */
START_TEST(test_fork_parent_env_invalid)
{
    reset_failures();
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "h.db");
    ldb_env *env = tu_open(path, NULL);
    ldb_dbi comp = open_comp(env, LDB_CREATE);
    ck_assert_msg(write_version(env, comp, 1) == 0, "%s", fail_msg);
    ldb_txn *held;
    int rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &held);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));

    for (int round = 0; round < 2; round++) {
        pid_t pid = fork();
        ck_assert(pid >= 0);
        if (pid == 0) {
            ldb_txn *t = NULL;
            int crc = ldb_txn_begin(env, LDB_TXN_RDONLY, &t);
            if (crc != LDB_INVALID) {
                fprintf(stderr, "child: read txn_begin on the parent's env: %s\n",
                        ldb_strerror(crc));
                child_exit(20);
            }
            crc = ldb_txn_begin(env, 0, &t);
            if (crc != LDB_INVALID) {
                fprintf(stderr, "child: write txn_begin on the parent's env: %s\n",
                        ldb_strerror(crc));
                child_exit(21);
            }
            ldb_stat cst;
            crc = ldb_stat_env(env, &cst);
            if (crc != LDB_INVALID) {
                fprintf(stderr, "child: stat_env on the parent's env: %s\n", ldb_strerror(crc));
                child_exit(22);
            }
            if (round == 1) {
                crc = ldb_close(env);
                if (crc != LDB_INVALID) {
                    fprintf(stderr, "child: close of the parent's env: %s\n", ldb_strerror(crc));
                    child_exit(23);
                }
            }
            /* The child's own env works. */
            ldb_env *ce;
            if (ldb_open(path, NULL, &ce) != 0)
                child_exit(24);
            if (read_counter(ce) != (uint64_t)round + 1)
                child_exit(25);
            child_exit(ldb_close(ce) ? 26 : 0);
        }
        expect_child_ok(pid, "child given the parent's env");
        ck_assert_msg(write_version(env, comp, (uint64_t)round + 2) == 0, "%s", fail_msg);
        ck_assert_msg(read_counter(env) == (uint64_t)round + 2, "parent after the child");
    }
    ck_assert_msg(verify_version(held, comp, 1, 1, NULL) == 0, "held reader: %s", fail_msg);
    ldb_stat st;
    ck_assert_int_eq(ldb_stat_env(env, &st), 0);
    ck_assert_msg(st.readers_used == 1, "readers_used %u, the parent holds 1",
                  (unsigned)st.readers_used);
    ldb_txn_abort(held);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    tu_remove_dir(dir);
}
END_TEST

static Suite *snapshot_suite(void)
{
    Suite *s = suite_create("snapshot");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_readers_see_one_version);
    tcase_add_test(tc, test_reset_renew);
    tcase_add_test(tc, test_many_snapshots);
    tcase_add_test(tc, test_old_reader_survives_page_reuse);
    suite_add_tcase(s, tc);
    tc = tcase_create("processes");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_two_handles_one_process);
    tcase_add_test(tc, test_fork_child_sees_commits);
    tcase_add_test(tc, test_reader_slots);
    tcase_add_test(tc, test_killed_writer);
    tcase_add_test(tc, test_fork_parent_env_invalid);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {snapshot_suite()};
    return tu_run_suites(suites, 1);
}
