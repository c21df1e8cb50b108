/* SPDX-License-Identifier: MIT */
/*
 * The transfer invariant under contention (issue 3).
 *
 * NACCT accounts "acct:NNNN" hold 8-byte balances, INITIAL each, so the sum
 * is always NACCT * INITIAL. Workers (THREADS threads in this process and,
 * in each of PROCS child processes, PROC_THREADS threads on an env of their
 * own) run random transfers: one write txn reads two balances, moves a random
 * part of one to the other, increments "txcount" and appends "log:<txn id>"
 * = {from, to, amount, worker}. Some txns are aborted on purpose after their
 * writes; some meet a refused put (LDB_NOOVERWRITE) first and go on. A worker
 * counts its acknowledged commits (commit returned 0) and records their txn
 * ids in shared memory. Reader threads in every process sum all balances in
 * read txns the whole time: every sum must be exact, and in each snapshot
 * "txcount" equals the number of log entries.
 *
 * At the end: the sum is exact; txcount = log entries = acknowledged commits
 * of all workers, and the log's txn ids are exactly the acknowledged ones;
 * replaying the log from INITIAL gives every final balance (no update lost,
 * none applied twice); ldb_check passes.
 *
 * LDB_TRANSFER_ITERS scales the work (txns per worker thread, default 120).
 * Threads never call Check's asserts: they record the first failure and stop;
 * children report through their exit status.
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
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NACCT 1000
#define INITIAL 1000u
#define TOTAL ((uint64_t)NACCT * INITIAL)
#define THREADS 64
#define PROCS 3
#define PROC_THREADS 4
#define READERS 4 /* in this process; one more in each child */
#define NWORKERS (THREADS + PROCS * PROC_THREADS)
#define MAX_ITERS 2000

struct log_entry {
    uint32_t from, to;
    uint64_t amount;
    uint32_t worker;
    uint32_t pad;
};

/* Shared by this process and the children (MAP_SHARED before fork). */
struct shared {
    _Atomic int failed;
    _Atomic int fail_claimed;
    char fail_msg[2048];
    _Atomic int workers_done;
    _Atomic uint64_t sums;          /* exact sums verified by readers */
    _Atomic uint64_t log_checks;    /* snapshots where txcount = log entries was checked */
    _Atomic uint64_t aborted;       /* txns aborted on purpose */
    _Atomic uint64_t refused;       /* refused puts survived */
    _Atomic uint64_t busy;          /* LDB_TXN_NOWAIT begins that found the writer held */
    uint64_t acked[NWORKERS];       /* acknowledged commits per worker */
    uint64_t ids[NWORKERS][MAX_ITERS];
};

static struct shared *sh;

/* The first failure of any thread of any process writes the message. */
__attribute__((format(printf, 1, 2))) static int tfail(const char *fmt, ...)
{
    int expect = 0;
    if (atomic_compare_exchange_strong(&sh->fail_claimed, &expect, 1)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sh->fail_msg, sizeof sh->fail_msg, fmt, ap);
        va_end(ap);
    }
    atomic_store(&sh->failed, 1);
    return -1;
}

static void acct_key(uint32_t i, char *kb)
{
    snprintf(kb, 16, "acct:%04u", i);
}

static void log_key(uint64_t id, char *kb)
{
    snprintf(kb, 24, "log:%016" PRIx64, id);
}

static ldb_val u64_val(const uint64_t *x)
{
    ldb_val v = {8, x};
    return v;
}

static int get_u64(ldb_txn *txn, const char *key, uint64_t *out)
{
    ldb_val k = tu_str(key), v;
    int rc = ldb_get(txn, LDB_MAIN, &k, &v);
    if (rc)
        return tfail("get %s: %s", key, ldb_strerror(rc));
    if (v.size != 8)
        return tfail("get %s: %zu bytes", key, v.size);
    memcpy(out, v.data, 8);
    return 0;
}

static int put_u64(ldb_txn *txn, const char *key, uint64_t x)
{
    ldb_val k = tu_str(key), v = u64_val(&x);
    int rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
    return rc ? tfail("put %s: %s", key, ldb_strerror(rc)) : 0;
}

/* ---- workers ------------------------------------------------------------------------ */

typedef struct worker_arg {
    ldb_env *env;
    int id;
    uint64_t iters;
    uint64_t seed;
} worker_arg;

/* One transfer in one write txn. Returns 1 committed (id recorded), 0 aborted
 * on purpose, -1 failure. */
static int transfer(ldb_env *env, int id, uint64_t *rng)
{
    uint64_t r = tu_rand(rng);
    ldb_txn *txn;
    int rc;
    if (r % 4 == 0) {
        /* Poll for the writer slot now and then instead of waiting. */
        while ((rc = ldb_txn_begin(env, LDB_TXN_NOWAIT, &txn)) == LDB_BUSY) {
            atomic_fetch_add(&sh->busy, 1);
            if (atomic_load(&sh->failed))
                return -1;
            sched_yield();
        }
    } else {
        rc = ldb_txn_begin(env, 0, &txn);
    }
    if (rc)
        return tfail("worker %d: write txn_begin: %s", id, ldb_strerror(rc));
    uint32_t from = (uint32_t)(tu_rand(rng) % NACCT), to = (uint32_t)(tu_rand(rng) % (NACCT - 1));
    if (to >= from)
        to++;
    char kf[16], kt[16], kl[24];
    acct_key(from, kf);
    acct_key(to, kt);
    uint64_t bf, bt, count;
    if (get_u64(txn, kf, &bf) || get_u64(txn, kt, &bt) || get_u64(txn, "txcount", &count))
        goto fail;
    uint64_t amount = bf ? tu_rand(rng) % (bf + 1) : 0;
    if ((r >> 8) % 7 == 0) {
        /* A refused put changes nothing and leaves the txn usable. */
        uint64_t junk = 0xDEADBEEF;
        ldb_val k = tu_str(kf), v = u64_val(&junk);
        rc = ldb_put(txn, LDB_MAIN, &k, &v, LDB_NOOVERWRITE);
        if (rc != LDB_EXISTS) {
            tfail("worker %d: NOOVERWRITE put over %s: %s", id, kf, ldb_strerror(rc));
            goto fail;
        }
        uint64_t again;
        if (get_u64(txn, kf, &again))
            goto fail;
        if (again != bf) {
            tfail("worker %d: a refused put changed %s from %" PRIu64 " to %" PRIu64, id, kf, bf,
                  again);
            goto fail;
        }
        atomic_fetch_add(&sh->refused, 1);
    }
    if (put_u64(txn, kf, bf - amount) || put_u64(txn, kt, bt + amount) ||
        put_u64(txn, "txcount", count + 1))
        goto fail;
    uint64_t txid = ldb_txn_id(txn);
    struct log_entry e = {from, to, amount, (uint32_t)id, 0};
    log_key(txid, kl);
    ldb_val k = tu_str(kl), v = {sizeof e, &e};
    rc = ldb_put(txn, LDB_MAIN, &k, &v, LDB_NOOVERWRITE);
    if (rc) {
        tfail("worker %d: put %s (txn id %" PRIu64 "): %s%s", id, kl, txid, ldb_strerror(rc),
              rc == LDB_EXISTS ? ": a txn id was used twice" : "");
        goto fail;
    }
    if ((r >> 16) % 10 == 0) {
        ldb_txn_abort(txn);
        atomic_fetch_add(&sh->aborted, 1);
        return 0;
    }
    rc = ldb_txn_commit(txn);
    if (rc)
        return tfail("worker %d: commit: %s", id, ldb_strerror(rc));
    uint64_t n = sh->acked[id];
    if (n >= MAX_ITERS)
        return tfail("worker %d: more than %d commits", id, MAX_ITERS);
    sh->ids[id][n] = txid;
    sh->acked[id] = n + 1;
    return 1;
fail:
    ldb_txn_abort(txn);
    return -1;
}

static void *worker_main(void *p)
{
    worker_arg *a = p;
    uint64_t rng = a->seed;
    for (uint64_t i = 0; i < a->iters && !atomic_load(&sh->failed); i++)
        if (transfer(a->env, a->id, &rng) < 0)
            break;
    atomic_fetch_add(&sh->workers_done, 1);
    return NULL;
}

/* ---- readers ------------------------------------------------------------------------ */

/* Sum every balance in txn (and, if check_log, compare txcount with the log). */
static int verify_snapshot(ldb_txn *txn, int check_log, const char *who)
{
    ldb_cursor *cur;
    int rc = ldb_cursor_open(txn, LDB_MAIN, &cur);
    if (rc)
        return tfail("%s: cursor_open: %s", who, ldb_strerror(rc));
    ldb_val k = tu_str("acct:"), v;
    uint64_t sum = 0, n = 0;
    for (rc = ldb_cursor_get(cur, &k, &v, LDB_SEEK); rc == 0;
         rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) {
        if (k.size < 5 || memcmp(k.data, "acct:", 5) != 0)
            break;
        if (v.size != 8) {
            ldb_cursor_close(cur);
            return tfail("%s: balance of %zu bytes", who, v.size);
        }
        uint64_t b;
        memcpy(&b, v.data, 8);
        sum += b;
        n++;
    }
    if (rc != 0 && rc != LDB_NOTFOUND) {
        ldb_cursor_close(cur);
        return tfail("%s: scan: %s", who, ldb_strerror(rc));
    }
    if (n != NACCT || sum != TOTAL) {
        ldb_cursor_close(cur);
        return tfail("%s: snapshot %" PRIu64 " sums %" PRIu64 " over %" PRIu64
                     " accounts, want %" PRIu64 " over %d",
                     who, ldb_txn_id(txn), sum, n, TOTAL, NACCT);
    }
    atomic_fetch_add(&sh->sums, 1);
    if (check_log) {
        uint64_t count, logs = 0;
        k = tu_str("log:");
        for (rc = ldb_cursor_get(cur, &k, &v, LDB_SEEK); rc == 0;
             rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) {
            if (k.size < 4 || memcmp(k.data, "log:", 4) != 0)
                break;
            logs++;
        }
        if ((rc != 0 && rc != LDB_NOTFOUND) || get_u64(txn, "txcount", &count)) {
            ldb_cursor_close(cur);
            return tfail("%s: log scan: %s", who, ldb_strerror(rc));
        }
        if (count != logs) {
            ldb_cursor_close(cur);
            return tfail("%s: snapshot %" PRIu64 ": txcount %" PRIu64 " but %" PRIu64
                         " log entries",
                         who, ldb_txn_id(txn), count, logs);
        }
        atomic_fetch_add(&sh->log_checks, 1);
    }
    ldb_cursor_close(cur);
    return 0;
}

typedef struct reader_arg {
    ldb_env *env;
    int id;
    int workers; /* stop once this many workers are done (all of them) */
} reader_arg;

static void *reader_main(void *p)
{
    reader_arg *a = p;
    char who[32];
    snprintf(who, sizeof who, "reader %d.%d", (int)getpid(), a->id);
    ldb_txn *txn = NULL;
    uint64_t last = 0;
    for (uint64_t i = 0; !atomic_load(&sh->failed); i++) {
        int done = atomic_load(&sh->workers_done) >= a->workers;
        int rc;
        if (txn && (i & 1)) {
            ldb_txn_reset(txn);
            rc = ldb_txn_renew(txn);
        } else {
            ldb_txn_abort(txn);
            txn = NULL;
            rc = ldb_txn_begin(a->env, LDB_TXN_RDONLY, &txn);
        }
        if (rc) {
            tfail("%s: begin/renew: %s", who, ldb_strerror(rc));
            break;
        }
        if (ldb_txn_id(txn) < last) {
            tfail("%s: snapshot went back from %" PRIu64 " to %" PRIu64, who, last,
                  ldb_txn_id(txn));
            break;
        }
        last = ldb_txn_id(txn);
        if (verify_snapshot(txn, i % 16 == 0 || done, who))
            break;
        if (done)
            break;
    }
    ldb_txn_abort(txn);
    return NULL;
}

/* ---- a child process: PROC_THREADS workers and one reader on its own env -------------- */

static void child_main(const char *path, int proc, uint64_t iters, uint64_t seed)
{
    ldb_options o = {0};
    /* One child commits with full durability, the others with LDB_SYNC_OFF. */
    o.sync_mode = proc == 0 ? LDB_SYNC_FULL : LDB_SYNC_OFF;
    if (proc == 0)
        iters = iters / 4 + 1;
    ldb_env *env;
    int rc = ldb_open(path, &o, &env);
    if (rc) {
        tfail("child %d: open: %s", proc, ldb_strerror(rc));
        _exit(10);
    }
    pthread_t t[PROC_THREADS], rt;
    worker_arg wa[PROC_THREADS];
    for (int i = 0; i < PROC_THREADS; i++) {
        wa[i] = (worker_arg){env, THREADS + proc * PROC_THREADS + i, iters,
                             seed ^ ((uint64_t)(proc * 100 + i + 1) * 0x9E3779B97F4A7C15ull)};
        if (pthread_create(&t[i], NULL, worker_main, &wa[i]) != 0)
            _exit(11);
    }
    reader_arg ra = {env, 100 + proc, NWORKERS};
    if (pthread_create(&rt, NULL, reader_main, &ra) != 0)
        _exit(12);
    for (int i = 0; i < PROC_THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_join(rt, NULL);
    rc = ldb_close(env);
    if (rc)
        tfail("child %d: close: %s", proc, ldb_strerror(rc));
    _exit(atomic_load(&sh->failed) ? 13 : 0);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(test_transfer_invariant)
{
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert(sh != MAP_FAILED);
    memset(sh, 0, sizeof *sh);
    uint64_t iters = tu_env_u64("LDB_TRANSFER_ITERS", 120);
    if (iters > MAX_ITERS)
        iters = MAX_ITERS;
    uint64_t seed = tu_env_u64("LDB_TEST_SEED", (uint64_t)time(NULL) ^ (uint64_t)getpid());
    fprintf(stderr, "transfer: LDB_TEST_SEED=%" PRIu64 ", %" PRIu64 " txns per worker thread\n",
            seed, iters);
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "bank.db");
    char pathbuf[4096];
    snprintf(pathbuf, sizeof pathbuf, "%s", path);
    path = pathbuf;

    ldb_options o = {0};
    o.sync_mode = LDB_SYNC_OFF;
    ldb_env *env = tu_open(path, &o);
    ldb_txn *txn;
    ck_assert_int_eq(ldb_txn_begin(env, 0, &txn), 0);
    for (uint32_t i = 0; i < NACCT; i++) {
        char kb[16];
        acct_key(i, kb);
        ck_assert_int_eq(put_u64(txn, kb, INITIAL), 0);
    }
    ck_assert_int_eq(put_u64(txn, "txcount", 0), 0);
    ck_assert_int_eq(ldb_txn_commit(txn), 0);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        fflush(stderr);
        pids[p] = fork();
        ck_assert(pids[p] >= 0);
        if (pids[p] == 0)
            child_main(path, p, iters, seed);
    }
    static pthread_t wt[THREADS], rt[READERS];
    static worker_arg wa[THREADS];
    static reader_arg ra[READERS];
    for (int i = 0; i < READERS; i++) {
        ra[i] = (reader_arg){env, i, NWORKERS};
        ck_assert(pthread_create(&rt[i], NULL, reader_main, &ra[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        wa[i] = (worker_arg){env, i, iters, seed + (uint64_t)i * 7919 + 1};
        ck_assert(pthread_create(&wt[i], NULL, worker_main, &wa[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(wt[i], NULL);
    /* Children: at most 120 s each, then a hang. */
    for (int p = 0; p < PROCS; p++) {
        int st = 0;
        pid_t r = 0;
        for (int ms = 0; ms < 120000 && (r = waitpid(pids[p], &st, WNOHANG)) == 0; ms += 5)
            usleep(5000);
        if (r == 0) {
            kill(pids[p], SIGKILL);
            waitpid(pids[p], &st, 0);
            tfail("child %d still running after 120 s (hang), killed", p);
        } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            tfail("child %d: %s %d", p, WIFEXITED(st) ? "exit" : "signal",
                  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        }
    }
    /* A dead child never counts its workers done: don't let readers wait. */
    atomic_store(&sh->workers_done, NWORKERS);
    for (int i = 0; i < READERS; i++)
        pthread_join(rt[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_msg(!atomic_load(&sh->failed), "seed %" PRIu64 ": %s", seed, sh->fail_msg);

    /* Every acknowledged commit, and nothing else, is in the database. */
    uint64_t acked = 0;
    for (int w = 0; w < NWORKERS; w++)
        acked += sh->acked[w];
    uint64_t *ids = malloc((acked ? acked : 1) * sizeof *ids), n = 0;
    ck_assert_ptr_nonnull(ids);
    for (int w = 0; w < NWORKERS; w++)
        for (uint64_t i = 0; i < sh->acked[w]; i++)
            ids[n++] = sh->ids[w][i];
    qsort(ids, n, sizeof *ids, cmp_u64);

    ck_assert_int_eq(ldb_txn_begin(env, LDB_TXN_RDONLY, &txn), 0);
    ck_assert_msg(verify_snapshot(txn, 1, "final") == 0, "%s", sh->fail_msg);
    uint64_t count;
    ck_assert_int_eq(get_u64(txn, "txcount", &count), 0);
    ck_assert_msg(count == acked, "txcount %" PRIu64 ", acknowledged commits %" PRIu64
                  " (%+" PRId64 ")", count, acked, (int64_t)(count - acked));
    static uint64_t bal[NACCT];
    for (uint32_t i = 0; i < NACCT; i++)
        bal[i] = INITIAL;
    ldb_cursor *cur;
    ck_assert_int_eq(ldb_cursor_open(txn, LDB_MAIN, &cur), 0);
    ldb_val k = tu_str("log:"), v;
    uint64_t logs = 0;
    int rc;
    for (rc = ldb_cursor_get(cur, &k, &v, LDB_SEEK); rc == 0;
         rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) {
        if (k.size < 4 || memcmp(k.data, "log:", 4) != 0)
            break;
        char kb[24];
        ck_assert_msg(logs < n, "more log entries than the %" PRIu64 " acknowledged commits", n);
        log_key(ids[logs], kb);
        ck_assert_msg(k.size == strlen(kb) && memcmp(k.data, kb, k.size) == 0,
                      "log entry %" PRIu64 " is '%.*s', acknowledged txn %" PRIu64 " has '%s'",
                      logs, (int)k.size, (const char *)k.data, ids[logs], kb);
        struct log_entry e;
        ck_assert_uint_eq(v.size, sizeof e);
        memcpy(&e, v.data, sizeof e);
        ck_assert(e.from < NACCT && e.to < NACCT && e.worker < NWORKERS);
        ck_assert_msg(bal[e.from] >= e.amount, "replay: txn %" PRIu64 " moves %" PRIu64
                      " from an account holding %" PRIu64, ids[logs], e.amount, bal[e.from]);
        bal[e.from] -= e.amount;
        bal[e.to] += e.amount;
        logs++;
    }
    ck_assert_msg(rc == 0 || rc == LDB_NOTFOUND, "log scan: %s", ldb_strerror(rc));
    ck_assert_msg(logs == n, "%" PRIu64 " log entries, %" PRIu64 " acknowledged commits", logs, n);
    for (uint32_t i = 0; i < NACCT; i++) {
        char kb[16];
        uint64_t b;
        acct_key(i, kb);
        ck_assert_int_eq(get_u64(txn, kb, &b), 0);
        ck_assert_msg(b == bal[i], "%s holds %" PRIu64 ", the log replays to %" PRIu64, kb, b,
                      bal[i]);
    }
    ldb_cursor_close(cur);
    ldb_txn_abort(txn);
    free(ids);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    fprintf(stderr,
            "transfer: %" PRIu64 " commits acknowledged (%.0f/s), %" PRIu64
            " aborted on purpose, %" PRIu64 " refused puts, %" PRIu64 " NOWAIT busy, %" PRIu64
            " exact sums (%" PRIu64 " with the log counted) in %.1f s\n",
            acked, (double)acked / secs, (uint64_t)atomic_load(&sh->aborted),
            (uint64_t)atomic_load(&sh->refused), (uint64_t)atomic_load(&sh->busy),
            (uint64_t)atomic_load(&sh->sums), (uint64_t)atomic_load(&sh->log_checks), secs);
    ck_assert_msg(atomic_load(&sh->sums) >= READERS + PROCS, "readers summed only %" PRIu64 " times",
                  (uint64_t)atomic_load(&sh->sums));
    ck_assert_msg(acked > 0 && atomic_load(&sh->aborted) > 0, "no work done");
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);

    /* And a fresh open agrees. */
    env = tu_open(path, NULL);
    ck_assert_int_eq(ldb_txn_begin(env, LDB_TXN_RDONLY, &txn), 0);
    ck_assert_msg(verify_snapshot(txn, 1, "reopened") == 0, "%s", sh->fail_msg);
    ck_assert_int_eq(get_u64(txn, "txcount", &count), 0);
    ck_assert_uint_eq(count, acked);
    ldb_txn_abort(txn);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    munmap(sh, sizeof *sh);
}
END_TEST

static Suite *transfer_suite(void)
{
    Suite *s = suite_create("transfer");
    TCase *tc = tcase_create("invariant");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_transfer_invariant);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {transfer_suite()};
    return tu_run_suites(suites, 1);
}
