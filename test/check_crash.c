/* SPDX-License-Identifier: MIT */
/*
 * Power loss and I/O faults (issue 4), with the io layer's test hooks.
 *
 * Power loss: a child runs deterministic random txns (see workload.h) with
 * the power-loss simulator on (ldb__os_crashsim_start: every write not yet
 * synced is remembered) and reports each commit through a pipe; at a random
 * moment it "loses power": ldb__os_crashsim_crash() keeps, drops or tears
 * each unsynced write at random, and the child _exit()s without closing
 * anything. The moment is either between two txns or at the n-th write or
 * sync of the round (inside a commit, a checkpoint or an open): this file
 * defines pwritev, fsync and fdatasync, which the library's os layer calls,
 * so the n-th call can crash before it happens. Then the parent reopens
 * (recovery), ldb_check passes, and the database must equal the model after
 * some prefix of the txns whose commit began: under LDB_SYNC_FULL at least
 * every acknowledged one, under LDB_SYNC_OFF at least every one that a
 * successful ldb_sync or ldb_checkpoint covered. Under LDB_SYNC_FULL one
 * round in three commits from 4 threads at once (group commit: a sync
 * covers every record appended before it, so a txn that an acknowledged one
 * follows in id order must be there too). Some rounds crash again
 * during the recovery (a child opens with the simulator on and loses power
 * at one of the open's writes or syncs, or right after the open returns)
 * before the parent looks. Small wal_max_bytes make checkpoints frequent, so
 * crashes land in them too.
 *
 * Fault loops: a fixed scenario (open, txns, ldb_sync, ldb_checkpoint, big
 * txns committed as checkpoints, automatic checkpoints, close) is first run
 * clean to count its I/O calls of a kind (ldb__os_fault_calls), then once
 * for every call i, with the i-th failing: write EIO, write ENOSPC, grow
 * ENOSPC, sync EIO, or a short write; each such run once ends with
 * ldb_close and once dies without it (a crash). In the child, every call
 * must end in success or a clean error: the call during which a sync failed
 * answers LDB_PANIC, and so does every later one (never a later commit
 * acknowledged); ENOSPC fails that txn only (no panic, the next commit
 * works); a short write is invisible; after the scenario the env reads
 * back exactly the acknowledged txns. The parent then reopens without
 * faults (recovering, after a crash), runs ldb_check, and finds every
 * acknowledged txn and no failed one (a txn that answered LDB_PANIC may or
 * may not be there).
 *
 * Disk full: posix_fallocate (defined here too) fails with ENOSPC, and so
 * does any write past the end of a file: a commit that needs room fails
 * with -ENOSPC, the env stays usable, a txn that only deletes commits, and
 * after a checkpoint the room it freed takes new data.
 *
 * Shrink: a checkpoint that cuts the free end of the file (space.h, S2)
 * loses power at each of its writes, syncs and its truncate in turn (and
 * once after it returns): the database then opens, passes ldb_check and
 * holds exactly what was committed, and without a crash the file shrank.
 *
 * Environment: LDB_CRASH_ROUNDS (default 100 per sync mode and batch),
 * LDB_FAULT_STRIDE (default 1: every I/O call of the fault loops fails in
 * turn, and the deferred load loses power at every one; k: every k-th,
 * from an offset the seed picks),
 * LDB_CRASH_BATCHES (default 1: each batch is a test of its own, per sync
 * mode, on a fresh database; `make check-long` runs 5 of 100 rounds, 1,000
 * rounds in all), LDB_TEST_SEED to replay a run (every failure names the
 * seed and round). At the end the program prints "power loss: N passed,
 * N failed" in rounds of the power-loss loop (a failed round ends its
 * batch).
 */
#include "testutil.h"
#include "workload.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "os.h"

/* ---- the system calls the os layer makes, overridden ---------------------------------- */

static struct {
    long crash_at;      /* lose power at this write or sync call (0: never) */
    long calls;         /* writes and syncs since crash_at was set */
    int disk_full;      /* posix_fallocate and writes past the end fail with ENOSPC */
    int threads;        /* other threads of the child may be doing I/O */
    unsigned long gate; /* CRASHING, plus the calls inside a system call now */
} io_hook;

#define CRASHING (1ul << 62)

/* Lose power now. Every other thread is stopped at its next write or sync;
 * those inside one are let finish (an unsynced write that landed is then
 * kept, dropped or torn like any other), and a thread whose sync just
 * returned is given time to tell the simulator, which os.c does after the
 * call: otherwise the simulator could drop writes that the sync made
 * durable, and that a commit then acknowledged. */
static void power_loss(void)
{
    __atomic_fetch_or(&io_hook.gate, CRASHING, __ATOMIC_SEQ_CST);
    while ((__atomic_load_n(&io_hook.gate, __ATOMIC_SEQ_CST) & ~CRASHING) != 0)
        usleep(1000);
    if (io_hook.threads)
        usleep(100000);
    ldb__os_crashsim_crash();
    _exit(0);
}

/* A write or sync is about to happen: the crash_at-th loses power first. */
static void io_enter(void)
{
    if (__atomic_add_fetch(&io_hook.gate, 1, __ATOMIC_SEQ_CST) & CRASHING) {
        __atomic_sub_fetch(&io_hook.gate, 1, __ATOMIC_SEQ_CST);
        for (;;)
            pause(); /* the power is going: wait for the _exit */
    }
    if (io_hook.crash_at != 0 &&
        __atomic_add_fetch(&io_hook.calls, 1, __ATOMIC_RELAXED) == io_hook.crash_at) {
        __atomic_sub_fetch(&io_hook.gate, 1, __ATOMIC_SEQ_CST);
        power_loss();
    }
}

static void io_leave(void)
{
    __atomic_sub_fetch(&io_hook.gate, 1, __ATOMIC_SEQ_CST);
}

static int past_end(int fd, const struct iovec *iov, int cnt, off_t off)
{
    struct stat st;
    size_t n = 0;
    for (int i = 0; i < cnt; i++)
        n += iov[i].iov_len;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)off + n > (uint64_t)st.st_size;
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    io_enter();
    ssize_t n;
    if (io_hook.disk_full && past_end(fd, iov, cnt, off)) {
        errno = ENOSPC;
        n = -1;
    } else {
        n = syscall(SYS_pwritev, fd, iov, cnt, (long)off, 0L);
    }
    int e = errno;
    io_leave();
    errno = e;
    return n;
}

int fsync(int fd)
{
    io_enter();
    int r = (int)syscall(SYS_fsync, fd), e = errno;
    io_leave();
    errno = e;
    return r;
}

int fdatasync(int fd)
{
    io_enter();
    int r = (int)syscall(SYS_fdatasync, fd), e = errno;
    io_leave();
    errno = e;
    return r;
}

int posix_fallocate(int fd, off_t off, off_t len)
{
    if (io_hook.disk_full)
        return ENOSPC;
    return syscall(SYS_fallocate, fd, 0, off, len) == 0 ? 0 : errno;
}

/* The shrink's truncate counts as an I/O call, so power can be lost just
 * before it. */
int ftruncate(int fd, off_t len)
{
    io_enter();
    int r = (int)syscall(SYS_ftruncate, fd, len), e = errno;
    io_leave();
    errno = e;
    return r;
}

static void arm_crash(long at)
{
    io_hook.calls = 0;
    io_hook.crash_at = at;
}

/* ---- child side ----------------------------------------------------------------------- */

static const wl_params crash_params = {.keys = 300, .abort_pct = 10, .big_every = 25};

typedef struct crash_round {
    const char *path;
    ldb_options opts;
    uint64_t seed;     /* the workload's */
    uint64_t sim_seed; /* the simulator's */
    uint64_t j0;       /* first txn number; thread i runs j0 + i * 1000 on */
    int ntxn;          /* per thread */
    int nthreads;
    long crash_at; /* 0: after the last txn */
} crash_round;

typedef struct crash_worker {
    const crash_round *c;
    ldb_env *env;
    int id;
} crash_worker;

static void *crash_worker_run(void *arg)
{
    const crash_worker *w = arg;
    const crash_round *c = w->c;
    for (int i = 0; i < c->ntxn; i++) {
        uint64_t j = c->j0 + (uint64_t)w->id * 1000 + (uint64_t)i;
        wl_txn t;
        wl_gen(&crash_params, c->seed, j, &t);
        enum wl_stage stage;
        int rc = wl_run(w->env, &t, wl_report_commit, NULL, &stage);
        if (rc)
            wl_child_exit(3, "txn %" PRIu64 " (stage %d): %s", j, (int)stage, ldb_strerror(rc));
        if (stage == WL_STAGE_COMMIT)
            wl_send(WL_MSG_ACK, j, 0, 0);
        uint64_t x = wl_mix(c->sim_seed + j);
        if (x % 10 == 0 || x % 13 == 1) {
            rc = x % 10 == 0 ? ldb_sync(w->env) : ldb_checkpoint(w->env);
            if (rc)
                wl_child_exit(4, "%s after txn %" PRIu64 ": %s",
                              x % 10 == 0 ? "ldb_sync" : "ldb_checkpoint", j, ldb_strerror(rc));
            wl_send(WL_MSG_DURABLE, j, 0, 0);
        }
    }
    return NULL;
}

/* Run the round's txns (in nthreads threads, on one env) with the simulator
 * on, then lose power. */
static void crash_child(const crash_round *c)
{
    ldb__os_crashsim_start(c->sim_seed);
    io_hook.threads = c->nthreads > 1;
    arm_crash(c->crash_at);
    ldb_env *env;
    int rc = ldb_open(c->path, &c->opts, &env);
    if (rc)
        wl_child_exit(2, "open: %s", ldb_strerror(rc));
    crash_worker w[8];
    pthread_t th[8];
    for (int i = 0; i < c->nthreads; i++) {
        w[i] = (crash_worker){c, env, i};
        if (c->nthreads == 1)
            crash_worker_run(&w[i]);
        else if (pthread_create(&th[i], NULL, crash_worker_run, &w[i]) != 0)
            wl_child_exit(5, "pthread_create");
    }
    for (int i = 0; c->nthreads > 1 && i < c->nthreads; i++)
        pthread_join(th[i], NULL);
    arm_crash(0);
    ldb__os_crashsim_crash();
    _exit(0);
}

/* Open (recovering) with the simulator on, losing power at the crash_at-th
 * write or sync, or right after the open returns. */
static void recovery_crash_child(const char *path, const ldb_options *o, uint64_t sim_seed,
                                 long crash_at)
{
    ldb__os_crashsim_start(sim_seed);
    arm_crash(crash_at);
    ldb_env *env;
    int rc = ldb_open(path, o, &env);
    if (rc)
        wl_child_exit(2, "open during recovery crash: %s", ldb_strerror(rc));
    arm_crash(0);
    ldb__os_crashsim_crash();
    _exit(0);
}

/* ---- power loss rounds ----------------------------------------------------------------- */

/* Power-loss rounds passed, batches begun, batches finished, over every
 * batch (shared with the forked tests). */
static int *rounds_passed;

START_TEST(test_power_loss)
{
    const int sync_mode = _i % 2 ? LDB_SYNC_OFF : LDB_SYNC_FULL;
    const char *mode_name = _i % 2 ? "LDB_SYNC_OFF" : "LDB_SYNC_FULL";
    char suite[64];
    snprintf(suite, sizeof suite, "power loss %s", mode_name);
    uint64_t seed = wl_test_seed(suite) + (uint64_t)(_i / 2) * 0x9e3779b97f4a7c15ull;
    __atomic_add_fetch(&rounds_passed[1], 1, __ATOMIC_RELAXED);
    int rounds = (int)tu_env_u64("LDB_CRASH_ROUNDS", 100);
    const char *dir = tu_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/db", dir);
    ldb_options o = {.sync_mode = sync_mode};
    wl_options(&o);
    ldb_env *env = tu_open(path, &o);
    ck_assert_int_eq(ldb_close(env), 0);
    char dir_copy[4096];
    snprintf(dir_copy, sizeof dir_copy, "%s", dir);
    wl_model *m = wl_model_new();
    uint64_t j0 = 1;
    int at_io = 0, rec_crashes = 0, lost_unacked = 0, lost_undurable = 0, threaded = 0;
    size_t total_commits = 0;
    double t0 = wl_now();
    for (int r = 0; r < rounds; r++) {
        uint64_t x = wl_mix(seed + (uint64_t)r);
        /* Under LDB_SYNC_FULL one round in three commits from 4 threads
         * (group commit); see wl_outcome for why not under LDB_SYNC_OFF. */
        int nthreads = sync_mode == LDB_SYNC_FULL && (x >> 50) % 3 == 0 ? 4 : 1;
        crash_round c = {path, o, seed, wl_mix(x), j0, 1 + (int)(x % 40) / nthreads, nthreads, 0};
        /* Checkpoints every few txns in half the rounds. */
        c.opts.wal_max_bytes = (x >> 6) % 2 ? 16u << 10 : 128u << 10;
        if ((x >> 8) % 2) {
            c.crash_at = 1 + (long)((x >> 16) % (uint64_t)(3 * c.ntxn * nthreads + 10));
            at_io++;
        }
        int rfd;
        pid_t pid = wl_fork(&rfd);
        if (pid == 0)
            crash_child(&c);
        wl_log log = {0};
        char what[256];
        snprintf(what, sizeof what,
                 "%s seed %" PRIu64 " round %d (%d threads x %d txns from %" PRIu64
                 ", crash at I/O %ld)",
                 mode_name, seed, r, nthreads, c.ntxn, j0, c.crash_at);
        wl_expect_exit0(wl_finish(pid, rfd, &log, 120, what), what);
        wl_outcome out;
        wl_outcome_of(&log, &out);
        ck_assert_msg(out.failed == 0 && !out.panicked, "%s: a commit failed", what);
        /* Power lost again while recovering, once or twice. */
        int again = (x >> 32) % 3 == 0 ? 1 + (int)((x >> 34) % 2) : 0;
        for (int a = 0; a < again; a++) {
            long at = (x >> (36 + a)) % 4 == 0 ? 0 : 1 + (long)(wl_mix(x + (uint64_t)a) % 24);
            pid = wl_fork(&rfd);
            if (pid == 0)
                recovery_crash_child(path, &c.opts, wl_mix(x ^ (uint64_t)(a + 1)), at);
            wl_log rlog = {0};
            char rwhat[300];
            snprintf(rwhat, sizeof rwhat, "%s, power lost in recovery at I/O %ld", what, at);
            wl_expect_exit0(wl_finish(pid, rfd, &rlog, 120, rwhat), rwhat);
            wl_log_free(&rlog);
            rec_crashes++;
        }
        size_t lo = sync_mode == LDB_SYNC_FULL ? out.acked : out.durable, k;
        env = wl_open_and_match(path, &c.opts, m, &crash_params, seed, out.js, out.n, lo, what,
                                &log, &k);
        ck_assert_int_eq(ldb_close(env), 0);
        wl_model_forget(m); /* the recovered state is the next round's base */
        if (k < out.acked)
            lost_undurable++;
        else if (k < out.n)
            lost_unacked++;
        total_commits += out.n;
        j0 += 1000 * (uint64_t)nthreads;
        threaded += nthreads > 1;
        wl_outcome_free(&out);
        wl_log_free(&log);
        __atomic_add_fetch(rounds_passed, 1, __ATOMIC_RELAXED);
    }
    env = tu_open(path, &o);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    fprintf(stderr,
            "power loss %s: %d rounds (%d with 4 threads, %d at an I/O call, %d crashes in "
            "recovery), %zu commits, %zu entries at the end; in-flight txns lost %d times, "
            "acknowledged but not yet synced txns lost %d times; %.1f s\n",
            mode_name, rounds, threaded, at_io, rec_crashes, total_commits, wl_model_entries(m),
            lost_unacked, lost_undurable, wl_now() - t0);
    wl_model_free(m);
    tu_remove_dir(dir_copy);
    __atomic_add_fetch(&rounds_passed[2], 1, __ATOMIC_RELAXED);
}
END_TEST

/* Power lost at each write or sync of the open that creates a database (twice
 * each, the simulator choosing differently):
 * the next open must find an empty database (or create it), never a file it
 * cannot open. */
START_TEST(test_power_loss_while_creating)
{
    uint64_t seed = wl_test_seed("power loss while creating");
    /* Count the creation's writes and syncs. */
    const char *dir = tu_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/db", dir);
    int rfd;
    pid_t pid = wl_fork(&rfd);
    if (pid == 0) {
        arm_crash(1L << 40);
        ldb_env *env;
        int rc = ldb_open(path, NULL, &env);
        if (rc)
            wl_child_exit(2, "open: %s", ldb_strerror(rc));
        wl_send(WL_MSG_INFO, 0, 0, (uint64_t)io_hook.calls);
        _exit(0);
    }
    wl_log log = {0};
    wl_expect_exit0(wl_finish(pid, rfd, &log, 60, "counting"), "counting");
    ck_assert_msg(log.n == 1 && log.m[0].aux > 0, "the creation made no writes or syncs");
    long n = (long)log.m[0].aux;
    wl_log_free(&log);
    tu_remove_dir(dir);
    for (long round = 0; round < 2 * n; round++) {
        long at = 1 + round % n;
        dir = tu_tmpdir();
        snprintf(path, sizeof path, "%s/db", dir);
        pid = wl_fork(&rfd);
        if (pid == 0)
            recovery_crash_child(path, NULL, wl_mix(seed + (uint64_t)round), at);
        char what[128];
        snprintf(what, sizeof what, "seed %" PRIu64 ": power lost at I/O %ld of %ld of a creation",
                 seed, at, n);
        wl_expect_exit0(wl_finish(pid, rfd, &log, 60, what), what);
        wl_log_free(&log);
        ldb_env *env = NULL;
        int rc = ldb_open(path, NULL, &env);
        ck_assert_msg(rc == 0, "%s: then open: %s", what, ldb_strerror(rc));
        wl_model *m = wl_model_new();
        char msg[512] = "";
        ck_assert_msg(wl_db_diff(env, m, msg, sizeof msg) == 0, "%s: %s", what, msg);
        tu_check_env(env);
        ldb_txn *txn;
        ck_assert_int_eq(ldb_txn_begin(env, 0, &txn), 0);
        ldb_val k = tu_str("k"), v = tu_str("v");
        ck_assert_int_eq(ldb_put(txn, LDB_MAIN, &k, &v, 0), 0);
        ck_assert_int_eq(ldb_txn_commit(txn), 0);
        tu_check_env(env);
        ck_assert_int_eq(ldb_close(env), 0);
        wl_model_free(m);
        tu_remove_dir(dir);
    }
    fprintf(stderr, "power loss while creating: %ld I/O points\n", n);
}
END_TEST

/* ---- fault loops ------------------------------------------------------------------------ */

typedef struct fault_kind {
    enum ldb__os_fault_kind kind;
    int err;
    const char *name;
} fault_kind;

static const fault_kind fault_kinds[] = {
    {LDB_FAULT_WRITE, EIO, "write EIO"},     {LDB_FAULT_WRITE, ENOSPC, "write ENOSPC"},
    {LDB_FAULT_GROW, ENOSPC, "grow ENOSPC"}, {LDB_FAULT_SYNC, EIO, "sync EIO"},
    {LDB_FAULT_SHORT, 0, "short write"},
};
enum { NFAULT_KINDS = sizeof fault_kinds / sizeof fault_kinds[0] };

/* The scenario: FAULT_STEPS steps on the template database. */
enum { FAULT_J0 = 1000, FAULT_STEPS = 18, FAULT_WAL_MAX = 32 << 10 };
enum fault_step { STEP_TXN, STEP_SYNC, STEP_CHECKPOINT };

static enum fault_step step_kind(int s)
{
    return s == 6 ? STEP_SYNC : s == 11 ? STEP_CHECKPOINT : STEP_TXN;
}

/* Txn FAULT_J0 + 13 is a bulk load larger than half the log's limit: it
 * commits as a checkpoint. */
static int fault_script(uint64_t j, wl_txn *t)
{
    if (j != FAULT_J0 + 13)
        return 0;
    t->nops = 12;
    for (unsigned i = 0; i < t->nops; i++)
        t->ops[i] = (wl_op){WL_PUT, (uint8_t)(i % 3), 0, 7 * i, 3000 + 500 * i};
    return 1;
}

static const wl_params fault_params = {.keys = 300, .abort_pct = 8, .script = fault_script};

static const char *step_name(int s)
{
    static char buf[64];
    switch (step_kind(s)) {
    case STEP_SYNC:
        return "ldb_sync";
    case STEP_CHECKPOINT:
        return "ldb_checkpoint";
    default:
        snprintf(buf, sizeof buf, "txn %d", FAULT_J0 + s);
        return buf;
    }
}

typedef struct fault_state {
    const fault_kind *fk;
    uint64_t nth; /* the failing call (0: none) */
    int panicked;
    int absorbed; /* a call succeeded although the injected fault hit it */
} fault_state;

/* The calls that failed so far in this child, for failure messages. */
static char fault_trace[2048];

static void trace_add(const char *call, int rc)
{
    size_t n = strlen(fault_trace);
    if (n < sizeof fault_trace - 1)
        snprintf(fault_trace + n, sizeof fault_trace - n, "%s%s: %s", n ? "; " : "", call,
                 ldb_strerror(rc));
}

/* In the fault child: fail, saying which calls had failed before. */
#define FAULT_FAIL(code, ...)                                                                      \
    do {                                                                                           \
        fprintf(stderr, "fault child: failed calls so far: %s\n",                                  \
                fault_trace[0] ? fault_trace : "none");                                            \
        wl_child_exit(code, __VA_ARGS__);                                                          \
    } while (0)

static int fault_fired(const fault_state *f)
{
    return f->nth != 0 && ldb__os_fault_calls(f->fk->kind) >= f->nth;
}

/* The rules every call's result must follow; fired_before: the fault had
 * fired before the call; may_fail_after_panic: close, which frees the env
 * whatever happened. */
static void fault_rules(fault_state *f, const char *call, int rc, int fired_before, int is_close)
{
    int fired_here = fault_fired(f) && !fired_before;
    if (rc != 0)
        trace_add(call, rc);
    const fault_kind *fk = f->fk;
    if (fk->kind == LDB_FAULT_SHORT && rc != 0)
        FAULT_FAIL(10, "%s: %s with a short write, which must be invisible", call,
                   ldb_strerror(rc));
    if (rc != 0 && rc != -fk->err && rc != LDB_PANIC)
        FAULT_FAIL(11, "%s: %s, want success, %s or LDB_PANIC", call, ldb_strerror(rc),
                   ldb_strerror(-fk->err));
    if (f->panicked && !is_close && rc != LDB_PANIC)
        FAULT_FAIL(12, "%s: %s after the env answered LDB_PANIC", call, ldb_strerror(rc));
    if (fired_here && fk->kind == LDB_FAULT_SYNC && rc != LDB_PANIC)
        FAULT_FAIL(13, "%s: %s from the call whose sync failed, want LDB_PANIC", call,
                   ldb_strerror(rc));
    /* A call may succeed although one of its writes failed: a write the
     * library can do without (the unsynced second copy of a meta page). If
     * it could not, the state checks catch it: this env's reads after the
     * scenario, and the parent's open after a close or after a crash. */
    if (fired_here && (fk->kind == LDB_FAULT_WRITE || fk->kind == LDB_FAULT_GROW) && rc == 0)
        f->absorbed = 1;
    if (fired_here && fk->err == ENOSPC && rc == LDB_PANIC)
        FAULT_FAIL(15, "%s: ENOSPC made the env panic; it must fail the txn only", call);
    if (!fired_here && fired_before && !f->panicked && rc != 0)
        FAULT_FAIL(16, "%s: %s after a failure that should have left the env usable", call,
                   ldb_strerror(rc));
    if (rc == LDB_PANIC)
        f->panicked = 1;
}

/* One run of the scenario on path with the nth call of kind failing; the
 * child's copy of the model is the template's state. dies: end without
 * ldb_close, like a crash, so the parent's open recovers what it left. */
static void fault_child(const char *path, const fault_kind *fk, uint64_t nth, uint64_t seed,
                        wl_model *m, int dies)
{
    fault_state f = {fk, nth, 0, 0};
    ldb_options o = {.sync_mode = LDB_SYNC_FULL, .wal_max_bytes = FAULT_WAL_MAX};
    wl_options(&o);
    ldb__os_fault_reset();
    if (nth)
        ldb__os_fault_set(fk->kind, nth, fk->err);
    ldb_env *env = NULL;
    int rc = ldb_open(path, &o, &env);
    if (rc) {
        /* A failed open changes nothing; the rules are the same but for
         * LDB_PANIC, which needs an env. */
        if (rc != -fk->err && rc != LDB_PANIC)
            FAULT_FAIL(11, "open: %s, want success or %s", ldb_strerror(rc),
                       ldb_strerror(-fk->err));
        if (fk->kind == LDB_FAULT_SHORT)
            FAULT_FAIL(10, "open: %s with a short write", ldb_strerror(rc));
        wl_send(WL_MSG_INFO, 1, 0, ldb__os_fault_calls(fk->kind));
        _exit(0);
    }
    if (fault_fired(&f) && (fk->kind == LDB_FAULT_WRITE || fk->kind == LDB_FAULT_GROW))
        f.absorbed = 1;
    if (fault_fired(&f) && fk->kind == LDB_FAULT_SYNC)
        FAULT_FAIL(13, "open: succeeded, but one of its syncs failed");
    for (int s = 0; s < FAULT_STEPS; s++) {
        int before = fault_fired(&f);
        const char *name = step_name(s);
        if (step_kind(s) == STEP_TXN) {
            uint64_t j = FAULT_J0 + (uint64_t)s;
            wl_txn t;
            wl_gen(&fault_params, seed, j, &t);
            enum wl_stage stage;
            rc = wl_run(env, &t, wl_report_commit, NULL, &stage);
            if (stage == WL_STAGE_COMMIT && rc == 0) {
                wl_send(WL_MSG_ACK, j, 0, 0);
                wl_model_apply(m, &t);
            } else if (rc != 0) {
                wl_send(WL_MSG_FAIL, j, rc, 0);
            }
        } else {
            rc = step_kind(s) == STEP_SYNC ? ldb_sync(env) : ldb_checkpoint(env);
            wl_send(rc ? WL_MSG_FAIL : WL_MSG_DURABLE, 0, rc, 0);
        }
        fault_rules(&f, name, rc, before, 0);
    }
    if (!f.panicked) {
        /* Everything acknowledged reads back in this env, nothing failed shows. */
        char msg[512] = "";
        rc = wl_db_diff(env, m, msg, sizeof msg);
        if (rc)
            FAULT_FAIL(17, "after the scenario, in the env: %s", rc < 0 ? ldb_strerror(rc) : msg);
    }
    if (!dies) {
        int before = fault_fired(&f);
        rc = ldb_close(env);
        fault_rules(&f, "ldb_close", rc, before, 1);
    }
    wl_send(WL_MSG_INFO, 2, 0, (uint64_t)f.absorbed);
    wl_send(WL_MSG_INFO, 1, 0, ldb__os_fault_calls(fk->kind));
    _exit(0);
}

/* The template: a database with some history, closed cleanly, with no room
 * to spare. */
static wl_model *make_template(const char *path, uint64_t seed)
{
    ldb_options o = {.wal_max_bytes = FAULT_WAL_MAX};
    wl_options(&o);
    ldb_env *env = tu_open(path, &o);
    wl_model *m = wl_model_new();
    for (uint64_t j = 1; j <= 60; j++) {
        wl_txn t;
        wl_gen(&fault_params, seed, j, &t);
        enum wl_stage stage;
        int rc = wl_run(env, &t, NULL, NULL, &stage);
        ck_assert_msg(rc == 0, "template txn %" PRIu64 ": %s", j, ldb_strerror(rc));
        if (stage == WL_STAGE_COMMIT)
            wl_model_apply(m, &t);
    }
    ldb_stat st;
    ck_assert_int_eq(ldb_stat_env(env, &st), 0);
    ck_assert_int_eq(ldb_close(env), 0);
    /* Trimmed to its last page: the scenario's first commit that needs a
     * new page grows the file. */
    ck_assert(truncate(path, (off_t)((st.pages_used + st.pages_free) * st.page_size)) == 0);
    wl_model_forget(m);
    return m;
}

START_TEST(test_fault_loop)
{
    const fault_kind *fk = &fault_kinds[_i];
    char suite[64];
    snprintf(suite, sizeof suite, "faults %s", fk->name);
    uint64_t seed = wl_test_seed(suite);
    char tmpl_dir[4096], tmpl[4200];
    snprintf(tmpl_dir, sizeof tmpl_dir, "%s", tu_tmpdir());
    snprintf(tmpl, sizeof tmpl, "%s/template.db", tmpl_dir);
    wl_model *m = make_template(tmpl, seed);
    uint64_t calls = 0;
    int panics = 0, clean_failures = 0, open_failures = 0, inflight_landed = 0, absorbed = 0;
    double t0 = wl_now();
    /* Round 0 runs clean and counts the calls. Then each call fails once in
     * a run that closes the env at the end and once in a run that dies
     * without closing (the parent's open recovers what it left); short
     * writes, which must change nothing at all, alternate between the two.
     * LDB_FAULT_STRIDE=k (the sanitizer builds, where a run costs 10x)
     * fails every k-th call only, from an offset the seed picks, so that
     * successive runs cover different calls. */
    uint64_t stride = tu_env_u64("LDB_FAULT_STRIDE", 1);
    stride = stride ? stride : 1;
    uint64_t offset = seed % stride;
    int rounds = 0;
    for (uint64_t nth = 0; nth <= calls; nth++) {
        if (nth > 0 && nth % stride != offset)
            continue;
        for (int dies = 0; dies < 2; dies++) {
            if ((nth == 0 && dies) || (fk->kind == LDB_FAULT_SHORT && (int)(nth % 2) != dies))
                continue;
            rounds++;
            char dir[4096], path[4200];
            tu_fresh_db(dir, sizeof dir, path, sizeof path);
            ck_assert_int_eq(tu_copy_file(tmpl, path), 0);
            int rfd;
            pid_t pid = wl_fork(&rfd);
            if (pid == 0)
                fault_child(path, fk, nth, seed, m, dies);
            wl_log log = {0};
            char what[200];
            snprintf(what, sizeof what, "seed %" PRIu64 ": %s at call %" PRIu64 " of %" PRIu64 "%s",
                     seed, fk->name, nth, calls, dies ? ", then a crash" : ", then ldb_close");
            wl_expect_exit0(wl_finish(pid, rfd, &log, 120, what), what);
            ck_assert_msg(log.n > 0 && log.m[log.n - 1].type == WL_MSG_INFO, "%s: no end report",
                          what);
            if (nth == 0) {
                calls = log.m[log.n - 1].aux;
                ck_assert_msg(calls > 0, "the scenario made no %s calls", fk->name);
            }
            wl_outcome out;
            wl_outcome_of(&log, &out);
            if (nth == 0)
                ck_assert_msg(out.failed == 0 && !out.panicked && out.acked == out.n,
                              "%s: failures without a fault", what);
            if (log.n == 1)
                open_failures++;
            for (size_t i = 0; i < log.n; i++)
                absorbed += log.m[i].type == WL_MSG_INFO && log.m[i].j == 2 && log.m[i].aux;
            panics += out.panicked;
            clean_failures += out.failed > 0;
            /* Every acknowledged txn, no failed one; one that answered
             * LDB_PANIC may have reached the log. */
            size_t k;
            ldb_env *env = wl_open_and_match(path, NULL, m, &fault_params, seed, out.js, out.n,
                                             out.acked, what, &log, &k);
            inflight_landed += k > out.acked;
            ck_assert_int_eq(ldb_close(env), 0);
            wl_model_rollback(m, 0);
            wl_outcome_free(&out);
            wl_log_free(&log);
            tu_remove_dir(dir);
        }
    }
    fprintf(stderr,
            "faults %s: %" PRIu64 " I/O points (every %" PRIu64 " from %" PRIu64 "), %d runs; "
            "open failed %d times, a txn failed cleanly %d times, panics %d (the panicked txn "
            "was in the database %d times), the fault absorbed (the call succeeded) %d times; "
            "%.1f s\n",
            fk->name, calls, stride, offset, rounds, open_failures, clean_failures, panics,
            inflight_landed, absorbed, wl_now() - t0);
    wl_model_free(m);
    tu_remove_dir(tmpl_dir);
}
END_TEST

/* ---- a full disk ----------------------------------------------------------------------- */

enum { FULL_VAL = 64 << 10, FULL_MAX_KEYS = 600 };

static int put_tagged(ldb_env *env, int key, int tag)
{
    static uint8_t val[FULL_VAL];
    char kb[32];
    snprintf(kb, sizeof kb, "fill-%04d", key);
    wl_value((uint64_t)tag, 0, FULL_VAL, val);
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, 0, &txn);
    if (rc)
        return rc;
    ldb_val k = tu_str(kb), v = {FULL_VAL, val};
    rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
    if (rc) {
        ldb_txn_abort(txn);
        return rc;
    }
    return ldb_txn_commit(txn);
}

/* Every key of tags[] (0: absent) holds its value. */
static void expect_tags(ldb_env *env, const int *tags, int n, const char *when)
{
    static uint8_t val[FULL_VAL];
    ldb_txn *txn;
    ck_assert_int_eq(ldb_txn_begin(env, LDB_TXN_RDONLY, &txn), 0);
    for (int i = 0; i < n; i++) {
        char kb[32];
        snprintf(kb, sizeof kb, "fill-%04d", i);
        ldb_val k = tu_str(kb), v;
        int rc = ldb_get(txn, LDB_MAIN, &k, &v);
        if (tags[i] == 0) {
            ck_assert_msg(rc == LDB_NOTFOUND, "%s: %s: %s, want absent", when, kb,
                          ldb_strerror(rc));
            continue;
        }
        ck_assert_msg(rc == 0, "%s: %s: %s", when, kb, ldb_strerror(rc));
        wl_value((uint64_t)tags[i], 0, FULL_VAL, val);
        ck_assert_msg(v.size == FULL_VAL && memcmp(v.data, val, FULL_VAL) == 0,
                      "%s: %s: wrong value", when, kb);
    }
    ldb_txn_abort(txn);
}

START_TEST(test_disk_full)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = tu_open(path, NULL);
    static int tags[FULL_MAX_KEYS];
    memset(tags, 0, sizeof tags);
    int n = 0, tag = 1;
    for (; n < 40; n++, tag++) {
        ck_assert_int_eq(put_tagged(env, n, tag), 0);
        tags[n] = tag;
    }
    io_hook.disk_full = 1;
    int rc = 0;
    for (; n < FULL_MAX_KEYS; n++, tag++) {
        rc = put_tagged(env, n, tag);
        if (rc)
            break;
        tags[n] = tag;
    }
    ck_assert_msg(rc == -ENOSPC, "commit on a full disk: %s, want -ENOSPC after %d commits",
                  ldb_strerror(rc), n);
    int full_at = n;
    expect_tags(env, tags, n + 1, "after ENOSPC");
    /* A txn that only deletes commits on a full disk. */
    ldb_txn *txn;
    ck_assert_int_eq(ldb_txn_begin(env, 0, &txn), 0);
    for (int i = 0; i < 20; i++) {
        char kb[32];
        snprintf(kb, sizeof kb, "fill-%04d", i);
        ldb_val k = tu_str(kb);
        ck_assert_int_eq(ldb_del(txn, LDB_MAIN, &k), 0);
    }
    rc = ldb_txn_commit(txn);
    ck_assert_msg(rc == 0, "a txn of deletes on a full disk: %s", ldb_strerror(rc));
    for (int i = 0; i < 20; i++)
        tags[i] = 0;
    rc = ldb_checkpoint(env);
    ck_assert_msg(rc == 0, "checkpoint on a full disk: %s", ldb_strerror(rc));
    /* The room the deletes freed takes new data. */
    for (int i = 0; i < 10; i++, tag++) {
        rc = put_tagged(env, n, tag);
        ck_assert_msg(rc == 0, "put %d after deleting 20 values and a checkpoint: %s", i,
                      ldb_strerror(rc));
        tags[n++] = tag;
    }
    expect_tags(env, tags, n, "after the deletes");
    io_hook.disk_full = 0;
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    env = tu_open(path, NULL);
    expect_tags(env, tags, n, "after reopen");
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    fprintf(stderr, "disk full: ENOSPC after %d values of 64 KiB\n", full_at);
    tu_remove_dir(dir);
}
END_TEST

/* ---- power loss while the file shrinks ---------------------------------------------------- */

enum { SHRINK_KEYS = 64, SHRINK_KEEP = 8, SHRINK_FATES = 4 };

static int del_tagged(ldb_env *env, int from, int to)
{
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, 0, &txn);
    for (int i = from; i < to && rc == 0; i++) {
        char kb[32];
        snprintf(kb, sizeof kb, "fill-%04d", i);
        ldb_val k = tu_str(kb);
        rc = ldb_del(txn, LDB_MAIN, &k);
    }
    if (rc) {
        ldb_txn_abort(txn);
        return rc;
    }
    return ldb_txn_commit(txn);
}

/* Fill SHRINK_KEYS values of 64 KiB, delete all but SHRINK_KEEP (every
 * commit durable), then checkpoint with the simulator on, losing power at
 * its crash_at-th write, sync or truncate (1 << 40: never; then the calls
 * it made and the file's size are reported). keep_last: the values kept
 * are the last ones written, at the file's end, so the checkpoint first
 * moves them into the free pages before them (relocation), then cuts. */
static void shrink_child(const char *path, uint64_t sim_seed, long crash_at, int keep_last)
{
    ldb__os_crashsim_start(sim_seed);
    ldb_env *env;
    int rc = ldb_open(path, NULL, &env);
    if (rc)
        wl_child_exit(2, "open: %s", ldb_strerror(rc));
    for (int i = 0; i < SHRINK_KEYS && rc == 0; i++)
        rc = put_tagged(env, i, i + 1);
    int first = keep_last ? 0 : SHRINK_KEEP, end = keep_last ? SHRINK_KEYS - SHRINK_KEEP : SHRINK_KEYS;
    for (int i = first; i < end && rc == 0; i += 8)
        rc = del_tagged(env, i, i + 8);
    if (rc)
        wl_child_exit(3, "fill and delete: %s", ldb_strerror(rc));
    struct stat st;
    if (stat(path, &st) != 0)
        wl_child_exit(4, "stat");
    wl_send(WL_MSG_INFO, 1, 0, (uint64_t)st.st_size);
    arm_crash(crash_at);
    rc = ldb_checkpoint(env);
    if (rc)
        wl_child_exit(5, "checkpoint: %s", ldb_strerror(rc));
    if (stat(path, &st) != 0)
        wl_child_exit(4, "stat");
    wl_send(WL_MSG_INFO, 2, 0, (uint64_t)st.st_size);
    wl_send(WL_MSG_INFO, 3, 0, (uint64_t)io_hook.calls);
    arm_crash(0);
    ldb__os_crashsim_crash();
    _exit(0);
}

/* The aux of the INFO message numbered j in log (0 if none). */
static uint64_t info_of(const wl_log *log, uint64_t j)
{
    for (size_t i = 0; i < log->n; i++)
        if (log->m[i].type == WL_MSG_INFO && log->m[i].j == j)
            return log->m[i].aux;
    return 0;
}

START_TEST(test_power_loss_in_shrink)
{
    uint64_t seed = wl_test_seed("power loss in shrink");
    int keep_last = _i;
    static int tags[SHRINK_KEYS];
    for (int i = 0; i < SHRINK_KEYS; i++)
        tags[i] = (keep_last ? i >= SHRINK_KEYS - SHRINK_KEEP : i < SHRINK_KEEP) ? i + 1 : 0;
    long calls = 0;
    uint64_t full = 0, shrunk = 0;
    /* Each point SHRINK_FATES times: which unsynced writes a power loss
     * keeps, drops or tears is drawn, and a fallback meta page that names
     * pages past the cut shows only when its copy is lost. */
    for (long run = 0; run <= calls * SHRINK_FATES; run++) {
        long at = (run + SHRINK_FATES - 1) / SHRINK_FATES;
        char dir[4096], path[4200];
        tu_fresh_db(dir, sizeof dir, path, sizeof path);
        int rfd;
        pid_t pid = wl_fork(&rfd);
        if (pid == 0)
            shrink_child(path, wl_mix(seed + (uint64_t)run), at ? at : 1L << 40, keep_last);
        wl_log log = {0};
        char what[160];
        snprintf(what, sizeof what,
                 "seed %" PRIu64 ": power lost at I/O %ld of %ld of a shrink (run %ld%s)", seed,
                 at, calls, run, keep_last ? ", relocating" : "");
        wl_expect_exit0(wl_finish(pid, rfd, &log, 120, what), what);
        if (run == 0) {
            calls = (long)info_of(&log, 3);
            full = info_of(&log, 1);
            shrunk = info_of(&log, 2);
            ck_assert_msg(calls > 0 && shrunk > 0 && shrunk < full / 2,
                          "the checkpoint did not shrink the file: %" PRIu64 " -> %" PRIu64
                          " bytes in %ld I/O calls",
                          full, shrunk, calls);
        }
        wl_log_free(&log);
        ldb_env *env = NULL;
        int rc = ldb_open(path, NULL, &env);
        ck_assert_msg(rc == 0, "%s: then open: %s", what, ldb_strerror(rc));
        tu_check_env(env);
        expect_tags(env, tags, SHRINK_KEYS, what);
        ck_assert_int_eq(ldb_close(env), 0);
        tu_remove_dir(dir);
    }
    fprintf(stderr, "power loss in shrink%s: %ld I/O points; %" PRIu64 " -> %" PRIu64 " bytes\n",
            keep_last ? " (relocating)" : "", calls, full, shrunk);
}
END_TEST

/* ---- power loss during a bulk load whose checkpoint is deferred -------------------------- */

/* An ascending LDB_SYNC_OFF load of LOAD_TXNS txns of LOAD_PUTS values of
 * 1 KiB into an empty database, wal_max_bytes LOAD_WAL_MAX: its log passes
 * wal_max_bytes after ~4 txns, but few pages wait for a checkpoint, so the
 * automatic checkpoint waits until the log passes 8x that (durable.c,
 * log_due); after it each txn copies a path of the checkpointed tree, so
 * the next ones come at the plain limit. ldb_sync after every
 * LOAD_SYNC_EVERY-th txn. */
enum { LOAD_TXNS = 48, LOAD_PUTS = 8, LOAD_SYNC_EVERY = 10, LOAD_WAL_MAX = 32 << 10 };

static void load_key(char *kb, size_t len, int t, int i)
{
    snprintf(kb, len, "load-%04d-%02d", t, i);
}

/* Value i of txn t: not compressible, so each takes its 1 KiB in the log. */
static void load_value(unsigned char *v, int t, int i)
{
    uint64_t x = (uint64_t)(t * LOAD_PUTS + i);
    for (size_t b = 0; b < 1024; b += 8) {
        x = wl_mix(x);
        memcpy(v + b, &x, 8);
    }
}

/* Txn t (from 1) of the load; 0 or an error. */
static int load_txn(ldb_env *env, int t)
{
    static unsigned char v[1024];
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, 0, &txn);
    if (rc)
        return rc;
    for (int i = 0; i < LOAD_PUTS && rc == 0; i++) {
        char kb[32];
        load_key(kb, sizeof kb, t, i);
        load_value(v, t, i);
        ldb_val k = tu_str(kb), val = {.data = v, .size = sizeof v};
        rc = ldb_put(txn, LDB_MAIN, &k, &val, LDB_APPEND);
    }
    if (rc) {
        ldb_txn_abort(txn);
        return rc;
    }
    return ldb_txn_commit(txn);
}

static void load_options(ldb_options *o)
{
    *o = (ldb_options){.sync_mode = LDB_SYNC_OFF, .wal_max_bytes = LOAD_WAL_MAX};
}

/* Run the load with the simulator on, losing power at its crash_at-th
 * write, sync or truncate (1 << 40: never; then the I/O calls and the
 * checkpoints it made are reported as INFO 1 and 2). */
static void load_child(const char *path, uint64_t sim_seed, long crash_at)
{
    ldb__os_crashsim_start(sim_seed);
    ldb_options o;
    load_options(&o);
    ldb_env *env;
    int rc = ldb_open(path, &o, &env);
    if (rc)
        wl_child_exit(2, "open: %s", ldb_strerror(rc));
    ldb_stat st0, st;
    if (ldb_stat_env(env, &st0))
        wl_child_exit(4, "stat");
    arm_crash(crash_at);
    for (int t = 1; t <= LOAD_TXNS; t++) {
        rc = load_txn(env, t);
        if (rc)
            wl_child_exit(3, "txn %d: %s", t, ldb_strerror(rc));
        wl_send(WL_MSG_ACK, (uint64_t)t, 0, 0);
        if (t % LOAD_SYNC_EVERY == 0) {
            rc = ldb_sync(env);
            if (rc)
                wl_child_exit(3, "sync after txn %d: %s", t, ldb_strerror(rc));
            wl_send(WL_MSG_DURABLE, (uint64_t)t, 0, 0);
        }
    }
    if (ldb_stat_env(env, &st))
        wl_child_exit(4, "stat");
    wl_send(WL_MSG_INFO, 1, 0, (uint64_t)io_hook.calls);
    wl_send(WL_MSG_INFO, 2, 0, st.checkpoints - st0.checkpoints);
    arm_crash(0);
    ldb__os_crashsim_crash();
    _exit(0);
}

/* The newest txn a message of type says (0 if none). */
static int last_of(const wl_log *log, uint32_t type)
{
    int t = 0;
    for (size_t i = 0; i < log->n; i++)
        if (log->m[i].type == type && (int)log->m[i].j > t)
            t = (int)log->m[i].j;
    return t;
}

/* The database holds exactly txns 1..k of the load, durable <= k <=
 * acked + 1 (the txn whose commit the power loss cut may be there). */
static void expect_load_prefix(ldb_env *env, int durable, int acked, const char *what)
{
    ldb_txn *txn;
    ck_assert_int_eq(ldb_txn_begin(env, LDB_RDONLY, &txn), 0);
    int k = 0;
    for (int t = 1; t <= LOAD_TXNS; t++) {
        int present = 0;
        for (int i = 0; i < LOAD_PUTS; i++) {
            char kb[32];
            load_key(kb, sizeof kb, t, i);
            ldb_val key = tu_str(kb), v;
            int rc = ldb_get(txn, LDB_MAIN, &key, &v);
            ck_assert_msg(rc == 0 || rc == LDB_NOTFOUND, "%s: get: %s", what, ldb_strerror(rc));
            if (rc == 0) {
                unsigned char want[1024];
                load_value(want, t, i);
                ck_assert_msg(v.size == 1024 && memcmp(v.data, want, 1024) == 0,
                              "%s: txn %d's value %d is damaged", what, t, i);
                present++;
            }
        }
        ck_assert_msg(present == 0 || present == LOAD_PUTS, "%s: txn %d is there in part (%d)",
                      what, t, present);
        ck_assert_msg(present == 0 || k == t - 1, "%s: txn %d is there but not txn %d", what, t,
                      k + 1);
        if (present)
            k = t;
    }
    ldb_txn_abort(txn);
    ck_assert_msg(k >= durable && k <= acked + 1,
                  "%s: recovered txns 1..%d, synced 1..%d, acknowledged 1..%d", what, k, durable,
                  acked);
}

START_TEST(test_power_loss_in_deferred_load)
{
    uint64_t seed = wl_test_seed("power loss in a deferred load");
    long calls = 0;
    uint64_t cps = 0;
    /* LDB_FAULT_STRIDE=k (the sanitizer builds): every k-th I/O point only,
     * from an offset the seed picks, as the fault loops do. */
    long stride = (long)tu_env_u64("LDB_FAULT_STRIDE", 1);
    stride = stride > 0 ? stride : 1;
    long offset = (long)(seed % (uint64_t)stride);
    for (long at = 0; at <= calls; at++) {
        if (at > 0 && at % stride != offset)
            continue;
        char dir[4096], path[4200];
        tu_fresh_db(dir, sizeof dir, path, sizeof path);
        int rfd;
        pid_t pid = wl_fork(&rfd);
        if (pid == 0)
            load_child(path, wl_mix(seed + (uint64_t)at), at ? at : 1L << 40);
        wl_log log = {0};
        char what[160];
        snprintf(what, sizeof what, "seed %" PRIu64 ": power lost at I/O %ld of %ld of a load",
                 seed, at, calls);
        wl_expect_exit0(wl_finish(pid, rfd, &log, 120, what), what);
        if (at == 0) {
            calls = (long)info_of(&log, 1);
            cps = info_of(&log, 2);
            /* Log past wal_max_bytes after ~4 txns: 10 checkpoints at the
             * plain limit; deferred, one at 8x and a few after it. */
            ck_assert_msg(calls > 0 && cps >= 1 && cps <= 5,
                          "%" PRIu64 " checkpoints in the load (%ld I/O calls)", cps, calls);
        }
        ldb_options o;
        load_options(&o);
        ldb_env *env = NULL;
        int rc = ldb_open(path, &o, &env);
        ck_assert_msg(rc == 0, "%s: then open: %s", what, ldb_strerror(rc));
        tu_check_env(env);
        expect_load_prefix(env, last_of(&log, WL_MSG_DURABLE),
                           at ? last_of(&log, WL_MSG_ACK) : LOAD_TXNS, what);
        ck_assert_int_eq(ldb_close(env), 0);
        wl_log_free(&log);
        tu_remove_dir(dir);
    }
    fprintf(stderr,
            "power loss in a deferred load: %ld I/O points (every %ld from %ld), %" PRIu64
            " checkpoints\n",
            calls, stride, offset, cps);
}
END_TEST

static Suite *crash_suite(void)
{
    Suite *s = suite_create("crash");
    TCase *tc = tcase_create("power");
    tcase_set_timeout(tc, 900);
    tcase_add_loop_test(tc, test_power_loss, 0, 2 * (int)tu_env_u64("LDB_CRASH_BATCHES", 1));
    suite_add_tcase(s, tc);
    /* Apart from "power", which the compressed reruns and check-long pick
     * (CK_RUN_CASE=power): creating a file and cutting one off do not
     * depend on how values are encoded, and every I/O point of both is
     * mostly fsyncs, the longest wait of the suite. */
    tc = tcase_create("create_shrink");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_power_loss_while_creating);
    tcase_add_loop_test(tc, test_power_loss_in_shrink, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("load");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_power_loss_in_deferred_load);
    suite_add_tcase(s, tc);
    tc = tcase_create("faults");
    tcase_set_timeout(tc, 900);
    tcase_add_loop_test(tc, test_fault_loop, 0, NFAULT_KINDS);
    tcase_add_test(tc, test_disk_full);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* Shared with the tests, which Check forks. */
    rounds_passed = mmap(NULL, 3 * sizeof *rounds_passed, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (rounds_passed == MAP_FAILED)
        return 99;
    SRunner *sr = srunner_create(crash_suite());
    srunner_run_all(sr, CK_NORMAL);
    int all_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    /* A batch that did not finish failed in one of its rounds. */
    printf("power loss: %d passed, %d failed\n", rounds_passed[0],
           rounds_passed[1] - rounds_passed[2]);
    return all_failed ? 1 : 0;
}
