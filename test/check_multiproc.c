/* SPDX-License-Identifier: MIT */
/*
 * Many processes, one database (issue 3).
 *
 * The workload: version c of the database is "counter" = c in LDB_MAIN, the
 * same counter in the named tree "mirror", and NCOMP companion keys "c:NN"
 * in LDB_MAIN whose presence and value are functions of c (a few are absent
 * in each version; values run from 8 bytes to past 5 KiB, so some live in
 * overflow pages). A reader that sees counter c must see exactly version c
 * everywhere, and nothing else in LDB_MAIN (a killed writer's "junk:" keys
 * must never show).
 *
 * Suites:
 *  - readers: one writer process and three LDB_RDONLY reader processes; every
 *    snapshot is one version, never older than a commit acknowledged before
 *    the read txn began, never going backwards, held snapshots stay put.
 *  - kill: SIGKILL a reader inside a read txn, a writer inside a write txn and
 *    a writer committing in a loop, LDB_KILL_ROUNDS times (default 60) at
 *    random moments (LDB_TEST_SEED picks the moments). Each acknowledged
 *    commit is reported through a pipe after ldb_txn_commit returned 0; after
 *    each kill the survivor finds every acknowledged version (the one in
 *    flight may be applied or not), takes the writer mutex, ldb_check passes,
 *    and ldb_reader_check brings readers_used back to its baseline. One
 *    moment is aimed at (white-box): a writer dying inside the publish step.
 *  - permissions (root only): LDB_RDONLY by uid 65534 on root's 0644 files
 *    in a 0755 directory.
 *  - fork: a child using its parent's env and txns gets LDB_INVALID and
 *    disturbs nothing of the parent's; a process opening, reading and
 *    closing an env of its own does not wait for another process's writer.
 *  - stat: readers_used, oldest_reader_txn_id and the lag of a reader held
 *    in another process; dead readers cleared by ldb_reader_check, by a full
 *    reader table and by a writer whose free pages they hold back.
 *  - closerace (test hooks; issue 9): a closer that found another process
 *    still open waits in that window while the other closes and a third
 *    opens and closes in a loop; the lock file is never laid out again
 *    under the closer, no one crashes, a write txn then commits, every
 *    commit is there and ldb_check passes.
 *
 * Children never call Check's asserts: they print what went wrong to stderr
 * and _exit with a code the parent asserts on. Every wait is bounded.
 */
#include "testutil.h"
#include "txn.h" /* white-box: the lock file's snapshot buffers (test_killed_mid_publish),
                   * the kept thread id (test_thread_id_kept_per_thread) */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NCOMP 50
#define VAL_MAX 5200

/* ---- failure text (one per process; children print it before exiting) ----------- */

static uint64_t test_seed(void)
{
    uint64_t s = tu_env_u64("LDB_TEST_SEED", 0);
    if (s == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
    }
    return s;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the versioned workload ------------------------------------------------------- */

static int comp_present(uint64_t c, int i)
{
    return (c + 3 * (uint64_t)i) % 11 != 7;
}

static size_t comp_len(uint64_t c, int i)
{
    if (i % 10 == 9)
        return 2100 + (size_t)((c * 131 + (uint64_t)i) % 3000);
    return 8 + (size_t)((c * 37 + (uint64_t)i * 101) % 600);
}

static size_t comp_fill(uint64_t c, int i, uint8_t *buf)
{
    size_t n = comp_len(c, i);
    memcpy(buf, &c, 8);
    uint64_t x = c * 1000003u + (uint64_t)i + 1;
    for (size_t j = 8; j < n; j++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[j] = (uint8_t)x;
    }
    return n;
}

static void comp_key(int i, char *kb)
{
    snprintf(kb, 8, "c:%02d", i);
}

static ldb_val u64_val(const uint64_t *x)
{
    ldb_val v = {8, x};
    return v;
}

static int open_mirror(ldb_env *env, int create, ldb_dbi *dbi)
{
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, create ? 0 : LDB_TXN_RDONLY, &txn);
    if (rc)
        return tu_fail("open_mirror: txn_begin: %s", ldb_strerror(rc));
    rc = ldb_dbi_open(txn, "mirror", create ? LDB_CREATE : 0, dbi);
    if (rc) {
        ldb_txn_abort(txn);
        return tu_fail("open_mirror: dbi_open: %s", ldb_strerror(rc));
    }
    rc = ldb_txn_commit(txn);
    return rc ? tu_fail("open_mirror: commit: %s", ldb_strerror(rc)) : 0;
}

/* Make txn hold version c (the puts and deletes only). */
static int put_version(ldb_txn *txn, ldb_dbi mirror, uint64_t c)
{
    uint8_t buf[VAL_MAX];
    char kb[8];
    ldb_val k = tu_str("counter"), v = u64_val(&c);
    int rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
    if (rc == 0)
        rc = ldb_put(txn, mirror, &k, &v, 0);
    for (int i = 0; rc == 0 && i < NCOMP; i++) {
        comp_key(i, kb);
        k = tu_str(kb);
        if (comp_present(c, i)) {
            v = (ldb_val){comp_fill(c, i, buf), buf};
            rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
        } else {
            rc = ldb_del(txn, LDB_MAIN, &k);
            if (rc == LDB_NOTFOUND)
                rc = 0;
        }
    }
    return rc ? tu_fail("put_version %" PRIu64 ": %s", c, ldb_strerror(rc)) : 0;
}

/* One write txn that turns the database into version c. */
static int write_version(ldb_env *env, ldb_dbi mirror, uint64_t c)
{
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, 0, &txn);
    if (rc)
        return tu_fail("write_version %" PRIu64 ": txn_begin: %s", c, ldb_strerror(rc));
    if (put_version(txn, mirror, c)) {
        ldb_txn_abort(txn);
        return -1;
    }
    rc = ldb_txn_commit(txn);
    return rc ? tu_fail("write_version %" PRIu64 ": commit: %s", c, ldb_strerror(rc)) : 0;
}

/* Check txn holds exactly one version and nothing else in LDB_MAIN; *out = c.
 * expect != 0: it must be that version. */
static int verify_version(ldb_txn *txn, ldb_dbi mirror, uint64_t expect, uint64_t *out)
{
    uint8_t buf[VAL_MAX];
    char kb[8];
    uint64_t c, m;
    ldb_val k = tu_str("counter"), v;
    int rc = ldb_get(txn, LDB_MAIN, &k, &v);
    if (rc || v.size != 8)
        return tu_fail("get counter: %s (size %zu)", ldb_strerror(rc), rc ? (size_t)0 : v.size);
    memcpy(&c, v.data, 8);
    if (expect && c != expect)
        return tu_fail("counter %" PRIu64 ", want %" PRIu64, c, expect);
    rc = ldb_get(txn, mirror, &k, &v);
    if (rc || v.size != 8)
        return tu_fail("version %" PRIu64 ": mirror counter: %s", c, ldb_strerror(rc));
    memcpy(&m, v.data, 8);
    if (m != c)
        return tu_fail("counter %" PRIu64 " but mirror counter %" PRIu64 " in one snapshot", c, m);
    int present = 0;
    for (int i = 0; i < NCOMP; i++) {
        comp_key(i, kb);
        k = tu_str(kb);
        rc = ldb_get(txn, LDB_MAIN, &k, &v);
        if (!comp_present(c, i)) {
            if (rc != LDB_NOTFOUND)
                return tu_fail("version %" PRIu64 ": %s should be absent: %s", c, kb,
                             ldb_strerror(rc));
            continue;
        }
        present++;
        if (rc)
            return tu_fail("version %" PRIu64 ": get %s: %s", c, kb, ldb_strerror(rc));
        size_t n = comp_fill(c, i, buf);
        if (v.size != n || memcmp(v.data, buf, n) != 0) {
            uint64_t seen = 0;
            if (v.size >= 8)
                memcpy(&seen, v.data, 8);
            return tu_fail("version %" PRIu64 ": %s has %zu bytes of version %" PRIu64
                         ", want %zu bytes",
                         c, kb, v.size, seen, n);
        }
    }
    /* Nothing else in LDB_MAIN: the whole tree is the counter and the companions. */
    ldb_cursor *cur;
    rc = ldb_cursor_open(txn, LDB_MAIN, &cur);
    if (rc)
        return tu_fail("cursor_open: %s", ldb_strerror(rc));
    int seen = 0;
    while ((rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) == 0) {
        int is_comp = k.size == 4 && memcmp(k.data, "c:", 2) == 0;
        int is_counter = k.size == 7 && memcmp(k.data, "counter", 7) == 0;
        if (!is_comp && !is_counter) {
            ldb_cursor_close(cur);
            return tu_fail("version %" PRIu64 ": stray key '%.*s' (a dead txn's write?)", c,
                         (int)(k.size > 40 ? 40 : k.size), (const char *)k.data);
        }
        seen += is_comp;
    }
    ldb_cursor_close(cur);
    if (rc != LDB_NOTFOUND)
        return tu_fail("version %" PRIu64 ": scan: %s", c, ldb_strerror(rc));
    if (seen != present)
        return tu_fail("version %" PRIu64 ": scan finds %d companions, want %d", c, seen, present);
    if (out)
        *out = c;
    return 0;
}

/* A new database at version 1 (with the mirror tree). */
static void create_db(const char *path, const ldb_options *opts)
{
    ldb_env *env = tu_open(path, opts);
    ldb_dbi mirror;
    ck_assert_msg(open_mirror(env, 1, &mirror) == 0, "%s", tu_fail_msg);
    ck_assert_msg(write_version(env, mirror, 1) == 0, "%s", tu_fail_msg);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
}

/* Counter of a fresh read txn, the whole version verified (0 on error). */
static uint64_t read_version(ldb_env *env, ldb_dbi mirror)
{
    ldb_txn *txn;
    uint64_t c = 0;
    if (ldb_txn_begin(env, LDB_TXN_RDONLY, &txn) != 0)
        return 0;
    if (verify_version(txn, mirror, 0, &c) != 0)
        c = 0;
    ldb_txn_abort(txn);
    return c;
}

/* ---- process plumbing -------------------------------------------------------------- */


static void expect_child_ok(pid_t pid, int timeout_s, const char *what)
{
    int st = tu_wait_child(pid, timeout_s, what);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: child %s %d (its stderr says why)",
                  what, WIFEXITED(st) ? "exited with" : "died of signal",
                  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

static void kill_child(pid_t pid)
{
    int status;
    ck_assert(kill(pid, SIGKILL) == 0);
    ck_assert(waitpid(pid, &status, 0) == pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "child ended before it was killed (status 0x%x)", (unsigned)status);
}

static int write_full(int fd, const void *p, size_t n)
{
    const char *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read exactly n bytes; 0 on success, -1 on EOF or error, bounded by
 * timeout_ms (-1: forever). */
static int read_full(int fd, void *p, size_t n, int timeout_ms)
{
    char *b = p;
    double end = now_s() + timeout_ms / 1000.0;
    while (n > 0) {
        if (timeout_ms >= 0) {
            int left = (int)((end - now_s()) * 1000);
            struct pollfd pfd = {fd, POLLIN, 0};
            if (left < 0 || poll(&pfd, 1, left) <= 0)
                return -1;
        }
        ssize_t r = read(fd, b, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

static void *shared_alloc(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_msg(p != MAP_FAILED, "mmap: %s", strerror(errno));
    memset(p, 0, n);
    return p;
}

/* In a child: open path and the mirror tree, or exit. */
static ldb_env *child_open(const char *path, unsigned flags, int sync_mode, ldb_dbi *mirror)
{
    ldb_options o = {0};
    o.flags = flags;
    o.sync_mode = sync_mode;
    ldb_env *env;
    int rc = ldb_open(path, &o, &env);
    if (rc) {
        tu_fail("child open(%s, flags %u): %s", path, flags, ldb_strerror(rc));
        tu_child_exit(10);
    }
    if (open_mirror(env, 0, mirror))
        tu_child_exit(11);
    return env;
}

static ldb_stat stat_of(ldb_env *env)
{
    ldb_stat st;
    int rc = ldb_stat_env(env, &st);
    ck_assert_msg(rc == 0, "stat_env: %s", ldb_strerror(rc));
    return st;
}

/* ---- (a) one writer, three LDB_RDONLY reader processes ----------------------------- */

enum { NREADERS = 3 };

struct shared_a {
    _Atomic uint64_t acked;         /* newest version whose commit returned 0 */
    _Atomic int readers_ready;
    _Atomic uint64_t checks[NREADERS];    /* snapshots a reader verified */
    _Atomic uint64_t distinct[NREADERS];  /* versions it saw */
    _Atomic uint64_t holds[NREADERS];     /* snapshots it held across commits */
};

static void reader_a(const char *path, struct shared_a *sh, int id, uint64_t final, uint64_t seed)
{
    ldb_dbi mirror;
    ldb_env *env = child_open(path, LDB_RDONLY, LDB_SYNC_FULL, &mirror);
    ldb_txn *txn = NULL;
    uint64_t last = 0, rng = seed, c;
    double deadline = now_s() + 90;
    atomic_fetch_add(&sh->readers_ready, 1);
    for (uint64_t it = 0;; it++) {
        if (now_s() > deadline) {
            tu_fail("reader %d: still at version %" PRIu64 " of %" PRIu64 " after 90 s", id, last,
                  final);
            tu_child_exit(20);
        }
        /* Anything acknowledged before the txn begins is in its snapshot. */
        uint64_t acked = atomic_load(&sh->acked);
        int rc;
        if (txn != NULL && (tu_rand(&rng) & 1)) {
            ldb_txn_reset(txn);
            rc = ldb_txn_renew(txn);
            if (rc) {
                tu_fail("reader %d: renew: %s", id, ldb_strerror(rc));
                tu_child_exit(21);
            }
        } else {
            ldb_txn_abort(txn);
            txn = NULL;
            rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
            if (rc) {
                tu_fail("reader %d: txn_begin: %s", id, ldb_strerror(rc));
                tu_child_exit(22);
            }
        }
        if (verify_version(txn, mirror, 0, &c)) {
            fprintf(stderr, "reader %d: ", id);
            tu_child_exit(23);
        }
        if (c < acked) {
            tu_fail("reader %d: snapshot at version %" PRIu64 " but %" PRIu64
                  " was acknowledged before the txn began",
                  id, c, acked);
            tu_child_exit(24);
        }
        if (c < last) {
            tu_fail("reader %d: version went back from %" PRIu64 " to %" PRIu64, id, last, c);
            tu_child_exit(25);
        }
        if (ldb_txn_id(txn) < c) {
            tu_fail("reader %d: txn id %" PRIu64 " below the version %" PRIu64 " it sees", id,
                  ldb_txn_id(txn), c);
            tu_child_exit(26);
        }
        if (c != last)
            atomic_fetch_add(&sh->distinct[id], 1);
        last = c;
        atomic_fetch_add(&sh->checks[id], 1);
        if (it % 8 == 3 && c < final) {
            /* Hold this snapshot while the writer goes on; it must not move. */
            uint64_t a0 = atomic_load(&sh->acked);
            for (int spin = 0; spin < 2000 && atomic_load(&sh->acked) < a0 + 2; spin++)
                usleep(100);
            uint64_t again;
            if (verify_version(txn, mirror, c, &again)) {
                tu_fail("reader %d: held snapshot of version %" PRIu64 " changed: %s", id, c,
                      tu_fail_msg);
                tu_child_exit(27);
            }
            atomic_fetch_add(&sh->holds[id], 1);
        }
        if (c == final && it >= 50)
            break;
    }
    ldb_txn_abort(txn);
    tu_child_exit(ldb_close(env) ? 28 : 0);
}

static void writer_a(const char *path, struct shared_a *sh, uint64_t final)
{
    ldb_dbi mirror;
    ldb_env *env = child_open(path, 0, LDB_SYNC_OFF, &mirror);
    for (int ms = 0; atomic_load(&sh->readers_ready) < NREADERS; ms++) {
        if (ms > 30000) {
            tu_fail("writer: readers not ready after 30 s");
            tu_child_exit(30);
        }
        usleep(1000);
    }
    for (uint64_t c = 2; c <= final; c++) {
        if (write_version(env, mirror, c))
            tu_child_exit(31);
        atomic_store(&sh->acked, c);
        if (c % 64 == 0)
            sched_yield();
    }
    tu_child_exit(ldb_close(env) ? 32 : 0);
}

START_TEST(test_writer_and_rdonly_readers)
{
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "a.db");
    create_db(path, NULL);
    uint64_t final = tu_env_u64("LDB_MP_COMMITS", 3000), seed = test_seed();
    struct shared_a *sh = shared_alloc(sizeof *sh);
    atomic_store(&sh->acked, 1);
    pid_t readers[NREADERS], writer;
    for (int r = 0; r < NREADERS; r++) {
        readers[r] = fork();
        ck_assert(readers[r] >= 0);
        if (readers[r] == 0)
            reader_a(path, sh, r, final, seed + (uint64_t)r * 7919);
    }
    writer = fork();
    ck_assert(writer >= 0);
    if (writer == 0)
        writer_a(path, sh, final);
    expect_child_ok(writer, 120, "writer");
    char what[64];
    for (int r = 0; r < NREADERS; r++) {
        snprintf(what, sizeof what, "reader %d", r);
        expect_child_ok(readers[r], 120, what);
    }
    for (int r = 0; r < NREADERS; r++) {
        ck_assert_msg(atomic_load(&sh->distinct[r]) >= 2,
                      "reader %d saw %" PRIu64 " versions: it never saw the writer's progress", r,
                      (uint64_t)atomic_load(&sh->distinct[r]));
        fprintf(stderr, "readers: reader %d verified %" PRIu64 " snapshots of %" PRIu64
                        " versions, held %" PRIu64 " across commits\n",
                r, (uint64_t)atomic_load(&sh->checks[r]), (uint64_t)atomic_load(&sh->distinct[r]),
                (uint64_t)atomic_load(&sh->holds[r]));
    }
    ldb_env *env = tu_open(path, NULL);
    ldb_dbi mirror;
    ck_assert_msg(open_mirror(env, 0, &mirror) == 0, "%s", tu_fail_msg);
    ck_assert_msg(read_version(env, mirror) == final, "final version %" PRIu64 ", want %" PRIu64
                  " (%s)", read_version(env, mirror), final, tu_fail_msg);
    ldb_stat st = stat_of(env);
    ck_assert_msg(st.readers_used == 0, "readers_used %u after every reader exited",
                  (unsigned)st.readers_used);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    munmap(sh, sizeof *sh);
}
END_TEST

/* ---- (b) SIGKILL at random moments --------------------------------------------------- */

enum kill_kind { KILL_READER, KILL_IN_TXN, KILL_IN_COMMIT, KILL_BOTH, KILL_KINDS };

static const char *const kind_name[] = {"reader in a read txn", "writer inside a write txn",
                                        "writer committing in a loop",
                                        "reader and committing writer at once"};

/* A reader child: read txns in a loop (some held, some reset and renewed),
 * each verified; 'r' once inside the first. hold_forever: begin one and wait. */
static void reader_loop_child(const char *path, int ready_fd, int hold_forever, uint64_t seed)
{
    ldb_dbi mirror;
    ldb_env *env = child_open(path, LDB_RDONLY, LDB_SYNC_FULL, &mirror);
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
    if (rc) {
        tu_fail("reader child: txn_begin: %s", ldb_strerror(rc));
        tu_child_exit(40);
    }
    if (verify_version(txn, mirror, 0, NULL))
        tu_child_exit(41);
    write_full(ready_fd, "r", 1);
    if (hold_forever)
        for (;;)
            pause();
    uint64_t rng = seed;
    for (;;) {
        uint64_t r = tu_rand(&rng);
        if (r & 1) {
            ldb_txn_reset(txn);
            rc = ldb_txn_renew(txn);
        } else {
            ldb_txn_abort(txn);
            rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
        }
        if (rc) {
            tu_fail("reader child: begin/renew: %s", ldb_strerror(rc));
            tu_child_exit(42);
        }
        if (verify_version(txn, mirror, 0, NULL))
            tu_child_exit(43);
        if ((r >> 8) % 4 == 0)
            usleep((useconds_t)((r >> 16) % 2000)); /* inside the txn */
    }
}

/* A writer child inside one write txn: the next version's puts, then 'w',
 * then junk puts and deletes until it is killed. */
static void writer_in_txn_child(const char *path, int ready_fd, uint64_t seed)
{
    ldb_dbi mirror;
    ldb_env *env = child_open(path, 0, LDB_SYNC_FULL, &mirror);
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, 0, &txn);
    if (rc) {
        tu_fail("writer child: txn_begin: %s", ldb_strerror(rc));
        tu_child_exit(50);
    }
    ldb_val k = tu_str("counter"), v;
    uint64_t c;
    if ((rc = ldb_get(txn, LDB_MAIN, &k, &v)) != 0) {
        tu_fail("writer child: get counter: %s", ldb_strerror(rc));
        tu_child_exit(51);
    }
    memcpy(&c, v.data, 8);
    if (put_version(txn, mirror, c + 1))
        tu_child_exit(52);
    write_full(ready_fd, "w", 1);
    uint64_t rng = seed;
    uint8_t buf[VAL_MAX];
    memset(buf, 0xAB, sizeof buf);
    for (uint64_t n = 0;; n++) {
        uint64_t r = tu_rand(&rng);
        char kb[32];
        snprintf(kb, sizeof kb, "junk:%06" PRIu64, r % 5000);
        k = tu_str(kb);
        if (r % 5 == 0) {
            rc = ldb_del(txn, LDB_MAIN, &k);
            if (rc == LDB_NOTFOUND)
                rc = 0;
        } else {
            v = (ldb_val){(size_t)((r >> 20) % 3000), buf};
            rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
        }
        if (rc) {
            tu_fail("writer child: junk write: %s", ldb_strerror(rc));
            tu_child_exit(53);
        }
        if (n % 1000 == 999)
            usleep(100);
    }
}

/* A writer child committing versions in a loop; each version whose commit
 * returned 0 is written to ack_fd (8 bytes) right after. 's' first. */
static void writer_commit_child(const char *path, int ack_fd, int sync_mode)
{
    ldb_dbi mirror;
    ldb_env *env = child_open(path, 0, sync_mode, &mirror);
    write_full(ack_fd, "s", 1);
    for (;;) {
        ldb_txn *txn;
        int rc = ldb_txn_begin(env, 0, &txn);
        if (rc) {
            tu_fail("committing child: txn_begin: %s", ldb_strerror(rc));
            tu_child_exit(60);
        }
        ldb_val k = tu_str("counter"), v;
        uint64_t c;
        if ((rc = ldb_get(txn, LDB_MAIN, &k, &v)) != 0) {
            tu_fail("committing child: get counter: %s", ldb_strerror(rc));
            tu_child_exit(61);
        }
        memcpy(&c, v.data, 8);
        c++;
        if (put_version(txn, mirror, c))
            tu_child_exit(62);
        rc = ldb_txn_commit(txn);
        if (rc) {
            tu_fail("committing child: commit of %" PRIu64 ": %s", c, ldb_strerror(rc));
            tu_child_exit(63);
        }
        if (write_full(ack_fd, &c, 8))
            tu_child_exit(64);
    }
}

static pid_t fork_or_fail(void)
{
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    return pid;
}

/* Take the writer slot from the main thread, waiting at most 30 s: blocking
 * (guarded by an alarm: a hang ends the test with a message) or polling with
 * LDB_TXN_NOWAIT. */
static void on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "\nblocking write txn_begin hung for 30 s after the holder died\n";
    ssize_t w = write(2, m, sizeof m - 1);
    (void)w;
    _exit(99);
}

static ldb_txn *begin_write_within_30s(ldb_env *env, int blocking, const char *why, uint64_t seed)
{
    ldb_txn *txn = NULL;
    int rc;
    if (blocking) {
        signal(SIGALRM, on_alarm);
        alarm(30);
        rc = ldb_txn_begin(env, 0, &txn);
        alarm(0);
    } else {
        double end = now_s() + 30;
        while ((rc = ldb_txn_begin(env, LDB_TXN_NOWAIT, &txn)) == LDB_BUSY && now_s() < end)
            usleep(1000);
    }
    ck_assert_msg(rc == 0, "seed %" PRIu64 ": %s write txn_begin after %s: %s", seed,
                  blocking ? "blocking" : "NOWAIT", why, ldb_strerror(rc));
    return txn;
}

/* Read every 8-byte ack (and the leading 's') the child wrote before it died.
 * Returns the last acknowledged version, or prev if none. */
static uint64_t drain_acks(int fd, uint64_t prev, int *saw_start)
{
    /* Acks are written whole (8 bytes < PIPE_BUF), so when the pipe is empty
     * no ack is half read. */
    uint8_t buf[4096], partial[8];
    size_t have = 0;
    uint64_t last = prev;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            ck_abort_msg("read acks: %s", strerror(errno));
        }
        for (ssize_t i = 0; i < n; i++) {
            if (!*saw_start) {
                ck_assert_msg(buf[i] == 's', "ack pipe: start byte 0x%x", buf[i]);
                *saw_start = 1;
                continue;
            }
            partial[have++] = buf[i];
            if (have == 8) {
                uint64_t c;
                memcpy(&c, partial, 8);
                ck_assert_msg(c == last + 1, "acks: %" PRIu64 " after %" PRIu64, c, last);
                last = c;
                have = 0;
            }
        }
    }
    ck_assert_msg(have == 0, "a torn 8-byte ack in the pipe");
    return last;
}

START_TEST(test_kill_rounds)
{
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "k.db");
    char pathbuf[4096];
    snprintf(pathbuf, sizeof pathbuf, "%s", path);
    path = pathbuf;
    create_db(path, NULL);
    uint64_t seed = test_seed(), rng = seed;
    int rounds = (int)tu_env_u64("LDB_KILL_ROUNDS", 60);
    fprintf(stderr, "kill: %d rounds, LDB_TEST_SEED=%" PRIu64 "\n", rounds, seed);

    ldb_env *env = tu_open(path, NULL);
    ldb_dbi mirror;
    ck_assert_msg(open_mirror(env, 0, &mirror) == 0, "%s", tu_fail_msg);
    uint64_t acked = 1;          /* every version up to this one was acknowledged */
    ldb_txn *held = NULL;        /* the parent's own long reader (baseline 1) */
    uint64_t held_version = 0;
    int stats[KILL_KINDS][2] = {{0}}; /* rounds; rounds where the in-flight txn landed */
    int cleared_total = 0, reopen_rounds = 0;

    for (int round = 0; round < rounds; round++) {
        enum kill_kind kind = (enum kill_kind)(round % KILL_KINDS);
        uint64_t r = tu_rand(&rng);
        unsigned delay_us = (unsigned)(r % 40000);
        int deterministic_reader = (round / KILL_KINDS) % 3 == 0;
        int sync_mode = (r >> 32) & 1 ? LDB_SYNC_FULL : LDB_SYNC_OFF;
        char ctx[160];
        snprintf(ctx, sizeof ctx, "seed %" PRIu64 " round %d (%s, %u us)", seed, round,
                 kind_name[kind], delay_us);

        /* Every 10 rounds the parent toggles a long-held read txn of its own. */
        if (round % 10 == 0) {
            if (held) {
                ck_assert_msg(verify_version(held, mirror, held_version, NULL) == 0,
                              "%s: parent's held reader: %s", ctx, tu_fail_msg);
                ldb_txn_abort(held);
                held = NULL;
            } else {
                ck_assert_int_eq(ldb_txn_begin(env, LDB_TXN_RDONLY, &held), 0);
                ck_assert_msg(verify_version(held, mirror, 0, &held_version) == 0, "%s: %s", ctx,
                              tu_fail_msg);
            }
        }
        uint32_t baseline = held ? 1 : 0;

        int rp[2] = {-1, -1}, ap[2] = {-1, -1};
        pid_t reader = -1, writer = -1;
        if (kind == KILL_READER || kind == KILL_BOTH) {
            ck_assert(pipe(rp) == 0);
            reader = fork_or_fail();
            if (reader == 0) {
                close(rp[0]);
                reader_loop_child(path, rp[1], kind == KILL_READER && deterministic_reader, r);
            }
            close(rp[1]);
            ck_assert_msg(read_full(rp[0], (char[1]){0}, 1, 30000) == 0,
                          "%s: reader child did not start", ctx);
        }
        if (kind == KILL_IN_TXN) {
            ck_assert(pipe(rp) == 0);
            writer = fork_or_fail();
            if (writer == 0) {
                close(rp[0]);
                writer_in_txn_child(path, rp[1], r);
            }
            close(rp[1]);
            char b = 0;
            ck_assert_msg(read_full(rp[0], &b, 1, 30000) == 0 && b == 'w',
                          "%s: writer child did not get into its txn", ctx);
            ldb_txn *t;
            int rc = ldb_txn_begin(env, LDB_TXN_NOWAIT, &t);
            ck_assert_msg(rc == LDB_BUSY, "%s: NOWAIT write txn while a child writes: %s", ctx,
                          ldb_strerror(rc));
        }
        int saw_start = 0;
        if (kind == KILL_IN_COMMIT || kind == KILL_BOTH) {
            ck_assert(pipe(ap) == 0);
            writer = fork_or_fail();
            if (writer == 0) {
                close(ap[0]);
                if (rp[0] >= 0)
                    close(rp[0]);
                writer_commit_child(path, ap[1], sync_mode);
            }
            close(ap[1]);
            char b = 0;
            ck_assert_msg(read_full(ap[0], &b, 1, 30000) == 0 && b == 's',
                          "%s: committing child did not start", ctx);
            saw_start = 1;
        }
        if (kind == KILL_READER && deterministic_reader) {
            ldb_stat st = stat_of(env);
            ck_assert_msg(st.readers_used == baseline + 1,
                          "%s: readers_used %u with the child's reader open, want %u", ctx,
                          (unsigned)st.readers_used, baseline + 1);
        }

        /* The random moment; acks are read as they come so the pipe never fills. */
        double end = now_s() + delay_us / 1e6;
        if (ap[0] >= 0)
            fcntl(ap[0], F_SETFL, O_NONBLOCK);
        while (now_s() < end) {
            if (ap[0] >= 0) {
                struct pollfd pfd = {ap[0], POLLIN, 0};
                int left = (int)((end - now_s()) * 1000) + 1;
                if (poll(&pfd, 1, left) > 0)
                    acked = drain_acks(ap[0], acked, &saw_start);
            } else {
                usleep((useconds_t)((end - now_s()) * 1e6) + 1);
            }
        }
        if (writer > 0 && reader > 0 && (r & 2)) {
            kill_child(reader);
            kill_child(writer);
        } else {
            if (writer > 0)
                kill_child(writer);
            if (reader > 0)
                kill_child(reader);
        }
        if (ap[0] >= 0) {
            acked = drain_acks(ap[0], acked, &saw_start);
            close(ap[0]);
        }
        if (rp[0] >= 0)
            close(rp[0]);
        if (kind == KILL_READER && deterministic_reader) {
            ldb_stat st = stat_of(env);
            ck_assert_msg(st.readers_used == baseline + 1,
                          "%s: readers_used %u right after the reader was killed, want %u (its "
                          "slot is left until reader_check)",
                          ctx, (unsigned)st.readers_used, baseline + 1);
        }

        /* Every few rounds the survivor is a fresh open (the lock file laid
         * out again from the data file); otherwise the env that stayed open. */
        if (round % 7 == 6) {
            if (held) {
                ldb_txn_abort(held);
                held = NULL;
                baseline = 0;
            }
            ck_assert_int_eq(ldb_close(env), 0);
            env = tu_open(path, NULL);
            ck_assert_msg(open_mirror(env, 0, &mirror) == 0, "%s", tu_fail_msg);
            reopen_rounds++;
        }

        /* Readers first: a new read txn sees an acknowledged version or the one in flight. */
        uint64_t seen = 0;
        ldb_txn *txn;
        ck_assert_int_eq(ldb_txn_begin(env, LDB_TXN_RDONLY, &txn), 0);
        ck_assert_msg(verify_version(txn, mirror, 0, &seen) == 0, "%s: reader after the kill: %s",
                      ctx, tu_fail_msg);
        ldb_txn_abort(txn);
        ck_assert_msg(seen == acked || (seen == acked + 1 && writer > 0 && kind != KILL_IN_TXN),
                      "%s: a reader sees version %" PRIu64 ", last acknowledged %" PRIu64, ctx,
                      seen, acked);

        /* Dead readers' slots are cleared by ldb_reader_check (before any
         * write txn, which may clear them on its own). */
        int cleared = -1;
        int rc = ldb_reader_check(env, &cleared);
        ck_assert_msg(rc == 0, "%s: reader_check: %s", ctx, ldb_strerror(rc));
        ck_assert_msg(cleared >= 0 && cleared <= (reader > 0), "%s: reader_check cleared %d", ctx,
                      cleared);
        if (kind == KILL_READER && deterministic_reader && round % 7 != 6)
            ck_assert_msg(cleared == 1, "%s: reader_check cleared %d slots of the dead reader",
                          ctx, cleared);
        cleared_total += cleared;
        if (kind == KILL_READER) {
            ldb_stat st0 = stat_of(env);
            ck_assert_msg(st0.readers_used == baseline,
                          "%s: readers_used %u after reader_check, want %u", ctx,
                          (unsigned)st0.readers_used, baseline);
        }

        /* The writer slot comes back; the dead txn left nothing. */
        txn = begin_write_within_30s(env, round & 1, kind_name[kind], seed);
        uint64_t now;
        ck_assert_msg(verify_version(txn, mirror, 0, &now) == 0, "%s: writer after the kill: %s",
                      ctx, tu_fail_msg);
        ck_assert_msg(now == acked || (now == acked + 1 && kind >= KILL_IN_COMMIT),
                      "%s: version %" PRIu64 " in the next write txn, last acknowledged %" PRIu64,
                      ctx, now, acked);
        ck_assert_msg(now >= seen, "%s: the writer sees %" PRIu64 ", older than a reader's %" PRIu64,
                      ctx, now, seen);
        ck_assert_msg(ldb_txn_id(txn) > now, "%s: write txn id %" PRIu64 " not above version %"
                      PRIu64, ctx, ldb_txn_id(txn), now);
        stats[kind][0]++;
        stats[kind][1] += now == acked + 1;
        ck_assert_msg(put_version(txn, mirror, now + 1) == 0, "%s: %s", ctx, tu_fail_msg);
        rc = ldb_txn_commit(txn);
        ck_assert_msg(rc == 0, "%s: commit after the kill: %s", ctx, ldb_strerror(rc));
        acked = now + 1;

        /* Readers_used back to its baseline. (Also checked again here: the
         * write txn may have cleared dead slots itself, when they held free
         * pages back or their writer died.) */
        cleared = -1;
        rc = ldb_reader_check(env, &cleared);
        ck_assert_msg(rc == 0 && cleared == 0, "%s: second reader_check: %s, cleared %d", ctx,
                      ldb_strerror(rc), cleared);
        ldb_stat st = stat_of(env);
        ck_assert_msg(st.readers_used == baseline, "%s: readers_used %u after reader_check, want %u",
                      ctx, (unsigned)st.readers_used, baseline);
        ck_assert_msg(st.oldest_reader_txn_id == (held ? ldb_txn_id(held) : 0),
                      "%s: oldest_reader_txn_id %" PRIu64 ", want %" PRIu64, ctx,
                      st.oldest_reader_txn_id, held ? ldb_txn_id(held) : 0);
        ck_assert_msg(st.last_txn_id >= acked, "%s: last_txn_id %" PRIu64 " < %" PRIu64, ctx,
                      st.last_txn_id, acked);
        ck_assert_msg(read_version(env, mirror) == acked, "%s: version %" PRIu64 " after commit of %"
                      PRIu64 " (%s)", ctx, read_version(env, mirror), acked, tu_fail_msg);
        if (held)
            ck_assert_msg(verify_version(held, mirror, held_version, NULL) == 0,
                          "%s: parent's held reader: %s", ctx, tu_fail_msg);
        tu_check_env(env);
    }
    ldb_txn_abort(held);
    ck_assert_int_eq(ldb_close(env), 0);

    /* A fresh open sees the last acknowledged version, and the file checks. */
    env = tu_open(path, NULL);
    ck_assert_msg(open_mirror(env, 0, &mirror) == 0, "%s", tu_fail_msg);
    ck_assert_msg(read_version(env, mirror) == acked, "reopen: version %" PRIu64 ", want %" PRIu64,
                  read_version(env, mirror), acked);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    for (int k = 0; k < KILL_KINDS; k++)
        fprintf(stderr, "kill: %-40s %2d rounds, in-flight txn landed in %d\n", kind_name[k],
                stats[k][0], stats[k][1]);
    fprintf(stderr, "kill: %d dead reader slots cleared, %d rounds reopened\n", cleared_total,
            reopen_rounds);
}
END_TEST

/* A writer killed inside the publish step of its commit, between the two
 * stores to its snapshot buffer's sequence number (a window of a few
 * instructions the random kills above cannot aim at): simulated by leaving
 * that sequence odd, as the dead writer would, then SIGKILL. The next
 * writer must still publish a snapshot new readers can take; a reader that
 * spins on the buffer forever is a hang (checked in a child, bounded). */
START_TEST(test_killed_mid_publish)
{
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "p.db");
    create_db(path, NULL);
    ldb_env *env = tu_open(path, NULL);
    ldb_dbi mirror;
    ck_assert_msg(open_mirror(env, 0, &mirror) == 0, "%s", tu_fail_msg);
    for (int round = 0; round < 2; round++) {
        uint64_t c = read_version(env, mirror);
        pid_t pid = fork_or_fail();
        if (pid == 0) {
            ldb_dbi cm;
            ldb_env *ce = child_open(path, 0, LDB_SYNC_FULL, &cm);
            ldb_txn *w;
            if (ldb_txn_begin(ce, 0, &w) || put_version(w, cm, c + 1))
                tu_child_exit(110);
            /* ldb__lock_publish's first store: seq odd, "being written". */
            uint64_t id = ldb_txn_id(w);
            __atomic_add_fetch(&ce->lock.hdr->snaps[id & 1].seq, 1, __ATOMIC_SEQ_CST);
            raise(SIGKILL);
            tu_child_exit(111);
        }
        int st;
        ck_assert(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st));
        ldb_txn *txn = begin_write_within_30s(env, 1, "a writer killed mid-publish", 0);
        uint64_t now;
        ck_assert_msg(verify_version(txn, mirror, c, &now) == 0, "%s", tu_fail_msg);
        ck_assert_msg(put_version(txn, mirror, c + 1) == 0, "%s", tu_fail_msg);
        int rc = ldb_txn_commit(txn);
        ck_assert_msg(rc == 0, "commit after a writer died mid-publish: %s", ldb_strerror(rc));
        /* A new reader, in another process so a spin cannot hang the test. */
        pid = fork_or_fail();
        if (pid == 0) {
            ldb_dbi cm;
            ldb_env *ce = child_open(path, LDB_RDONLY, LDB_SYNC_FULL, &cm);
            uint64_t v = read_version(ce, cm);
            if (v != c + 1) {
                tu_fail("reader sees version %" PRIu64 ", want %" PRIu64 " (%s)", v, c + 1,
                      tu_fail_msg);
                tu_child_exit(112);
            }
            tu_child_exit(ldb_close(ce) ? 113 : 0);
        }
        expect_child_ok(pid, 10, "read txn_begin after a writer died mid-publish");
        ck_assert_msg(read_version(env, mirror) == c + 1, "%s", tu_fail_msg);
    }
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
}
END_TEST

/* ---- (c) LDB_RDONLY without write permission ------------------------------------- */

enum { NOBODY = 65534 };

/* Names in dir, sorted, joined by spaces. */
static void list_dir(const char *dir, char *out, size_t n)
{
    struct dirent **names;
    int k = scandir(dir, &names, NULL, alphasort);
    out[0] = '\0';
    ck_assert_msg(k >= 0, "scandir(%s): %s", dir, strerror(errno));
    for (int i = 0; i < k; i++) {
        if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..")) {
            strncat(out, names[i]->d_name, n - strlen(out) - 2);
            strncat(out, " ", n - strlen(out) - 1);
        }
        free(names[i]);
    }
    free(names);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (d == NULL)
        return -1;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

/* 1 if /proc/self/maps names path (a leaked map of a failed open). */
static int mapped(const char *path)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[8192];
    int found = 0;
    if (f == NULL)
        return 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, path) != NULL;
    fclose(f);
    return found;
}

/* 1 if every directory from / down to dir lets others search it. */
static int reachable_by_others(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (;;) {
        struct stat sb;
        if (stat(p[0] ? p : "/", &sb) != 0 || !(sb.st_mode & S_IXOTH))
            return 0;
        char *slash = strrchr(p, '/');
        if (slash == NULL || p[0] == '\0')
            return 1;
        *slash = '\0';
    }
}

static int become_nobody(void)
{
    if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
        return tu_fail("cannot become uid %d: %s", NOBODY, strerror(errno));
    if (geteuid() != NOBODY || access("/proc/self/status", R_OK) != 0)
        return tu_fail("uid %d: euid %d", NOBODY, (int)geteuid());
    return 0;
}

/* As nobody: ldb_open(flags) must fail with -EACCES or LDB_READONLY and leave
 * no handle, no descriptor and no map behind. Exit code 0 = as expected;
 * writes the rc to rc_fd. */
static void nobody_open_fails(const char *path, unsigned flags, int rc_fd)
{
    if (become_nobody())
        tu_child_exit(70);
    for (int attempt = 0; attempt < 3; attempt++) {
        int fds = count_fds();
        ldb_env *env = (ldb_env *)(uintptr_t)0x1;
        ldb_options o = {0};
        o.flags = flags;
        int rc = ldb_open(path, &o, &env);
        write_full(rc_fd, &rc, sizeof rc);
        if (rc == 0) {
            tu_fail("nobody: open(flags %u) of root's 0644 files succeeded", flags);
            ldb_close(env);
            tu_child_exit(71);
        }
        if (rc != -EACCES && rc != LDB_READONLY) {
            tu_fail("nobody: open(flags %u): %s (%d), want -EACCES or LDB_READONLY", flags,
                  ldb_strerror(rc), rc);
            tu_child_exit(72);
        }
        if (env != (ldb_env *)(uintptr_t)0x1) {
            tu_fail("nobody: failed open(flags %u) wrote *env", flags);
            tu_child_exit(73);
        }
        if (count_fds() != fds) {
            tu_fail("nobody: failed open(flags %u) leaked %d descriptors", flags,
                    count_fds() - fds);
            tu_child_exit(74);
        }
        if (mapped(path)) {
            tu_fail("nobody: failed open(flags %u) left %s mapped", flags, path);
            tu_child_exit(75);
        }
    }
    tu_child_exit(0);
}

static int nobody_open_expect_fail(const char *path, unsigned flags)
{
    int p[2];
    ck_assert(pipe(p) == 0);
    pid_t pid = fork_or_fail();
    if (pid == 0) {
        close(p[0]);
        nobody_open_fails(path, flags, p[1]);
    }
    close(p[1]);
    char what[128];
    snprintf(what, sizeof what, "uid %d opening root's database (flags %u)", NOBODY, flags);
    expect_child_ok(pid, 30, what);
    int rc = 0;
    ck_assert(read_full(p[0], &rc, sizeof rc, 1000) == 0);
    close(p[0]);
    return rc;
}

/* As nobody, LDB_RDONLY where the lock file is writable: it works. Reads
 * version want; a write txn gives LDB_READONLY; then (sync through the pipes)
 * it waits for the parent's next commit and must see it. */
static void nobody_reader(const char *path, uint64_t want, int go_fd, int done_fd)
{
    if (become_nobody())
        tu_child_exit(80);
    ldb_dbi mirror;
    ldb_env *env = child_open(path, LDB_RDONLY, LDB_SYNC_FULL, &mirror);
    ldb_txn *txn;
    uint64_t c = 0;
    if (ldb_txn_begin(env, LDB_TXN_RDONLY, &txn) || verify_version(txn, mirror, want, &c))
        tu_child_exit(81);
    ldb_txn *w;
    int rc = ldb_txn_begin(env, 0, &w);
    if (rc != LDB_READONLY) {
        tu_fail("nobody: write txn on an LDB_RDONLY env: %s", ldb_strerror(rc));
        tu_child_exit(82);
    }
    ldb_stat st;
    if ((rc = ldb_stat_env(env, &st)) != 0 || st.readers_used < 1) {
        tu_fail("nobody: stat_env: %s, readers_used %u", ldb_strerror(rc),
                (unsigned)st.readers_used);
        tu_child_exit(83);
    }
    write_full(done_fd, "1", 1);
    char b;
    if (read_full(go_fd, &b, 1, 30000) != 0)
        tu_child_exit(84);
    if (verify_version(txn, mirror, want, NULL)) /* the old snapshot holds */
        tu_child_exit(85);
    ldb_txn_abort(txn);
    if (read_version(env, mirror) != want + 1) {
        tu_fail("nobody: sees version %" PRIu64 " after root committed %" PRIu64 " (%s)",
              read_version(env, mirror), want + 1, tu_fail_msg);
        tu_child_exit(86);
    }
    tu_child_exit(ldb_close(env) ? 87 : 0);
}

START_TEST(test_rdonly_without_write_permission)
{
    if (geteuid() != 0) {
        fprintf(stderr, "permissions: SKIPPED: needs root to setuid to uid %d\n", NOBODY);
        return;
    }
    /* A directory uid 65534 can reach: the test tree may sit under a 0700
     * directory (CI's mktemp -d); then this one goes straight under /tmp. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    ck_assert(chmod(dir, 0755) == 0);
    int fallback = !reachable_by_others(dir);
    if (fallback) {
        snprintf(dir, sizeof dir, "/tmp/ldbperm.XXXXXX");
        ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
        ck_assert(chmod(dir, 0755) == 0);
    }
    char path[4200], lock[4300], listing[1024], after[1024];
    snprintf(path, sizeof path, "%s/p.db", dir);
    snprintf(lock, sizeof lock, "%s-lock", path);
    ldb_options o = {0};
    o.file_mode = 0644;
    create_db(path, &o);
    struct stat sb;
    ck_assert(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0644 && sb.st_uid == 0);

    /* 1. The lock file exists and is not writable to this process. */
    ck_assert_msg(stat(lock, &sb) == 0 && (sb.st_mode & 0777) == 0644 && sb.st_uid == 0,
                  "lock file %s: mode %o", lock, (unsigned)(sb.st_mode & 0777));
    list_dir(dir, listing, sizeof listing);
    int rc = nobody_open_expect_fail(path, LDB_RDONLY);
    list_dir(dir, after, sizeof after);
    ck_assert_str_eq(after, listing);
    fprintf(stderr, "permissions: LDB_RDONLY with a read-only lock file: %s (%d)\n",
            ldb_strerror(rc), rc);
    rc = nobody_open_expect_fail(path, 0);
    list_dir(dir, after, sizeof after);
    ck_assert_str_eq(after, listing);
    fprintf(stderr, "permissions: read-write open of root's files: %s (%d)\n", ldb_strerror(rc),
            rc);

    /* 2. No lock file, and the directory is not writable: none is created. */
    ck_assert(unlink(lock) == 0);
    list_dir(dir, listing, sizeof listing);
    rc = nobody_open_expect_fail(path, LDB_RDONLY);
    list_dir(dir, after, sizeof after);
    ck_assert_msg(strcmp(after, listing) == 0, "files after a failed open: '%s', before '%s'",
                  after, listing);
    fprintf(stderr, "permissions: LDB_RDONLY, no lock file, directory 0755: %s (%d)\n",
            ldb_strerror(rc), rc);

    /* 3. The lock file is shared read-write (0666): LDB_RDONLY works, with
     *    root's writer open at the same time and with nobody as first opener. */
    ldb_env *env = tu_open(path, &o);
    ck_assert(chmod(lock, 0666) == 0);
    ldb_dbi mirror;
    ck_assert_msg(open_mirror(env, 0, &mirror) == 0, "%s", tu_fail_msg);
    for (int pass = 0; pass < 2; pass++) {
        uint64_t v = read_version(env, mirror);
        if (pass == 1) {
            /* Nobody else has it open: the reader lays the lock file out. */
            ck_assert_int_eq(ldb_close(env), 0);
            env = NULL;
        }
        int go[2], done[2];
        ck_assert(pipe(go) == 0 && pipe(done) == 0);
        pid_t pid = fork_or_fail();
        if (pid == 0) {
            close(go[1]);
            close(done[0]);
            nobody_reader(path, v, go[0], done[1]);
        }
        close(go[0]);
        close(done[1]);
        char b;
        ck_assert_msg(read_full(done[0], &b, 1, 30000) == 0,
                      "pass %d: uid %d could not read root's database with LDB_RDONLY and a "
                      "0666 lock file",
                      pass, NOBODY);
        if (env == NULL) {
            env = tu_open(path, &o);
            ck_assert_msg(open_mirror(env, 0, &mirror) == 0, "%s", tu_fail_msg);
        }
        ck_assert_msg(write_version(env, mirror, v + 1) == 0, "%s", tu_fail_msg);
        write_full(go[1], "g", 1);
        expect_child_ok(pid, 30, "uid 65534 reader");
        close(go[1]);
        close(done[0]);
    }
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    list_dir(dir, after, sizeof after);
    ck_assert_msg(strcmp(after, "p.db p.db-lock ") == 0 || strcmp(after, "p.db p.db-lock p.db-wal ") == 0,
                  "files: %s", after);
    if (fallback) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        ck_assert(system(cmd) == 0);
    }
}
END_TEST

/* ---- (d) a forked child and its parent's env ------------------------------------------ */

/* Loop test, _i = how the child tries to end what it inherited: 0 reset and
 * commit the parent's read txn and abort its reset one, 1 abort the read txn,
 * 2 commit the parent's write txn, 3 abort it, 4 close the parent's env. */

static int expect_invalid(const char *what, int rc)
{
    if (rc != LDB_INVALID) {
        /* Every one is reported, not only the first. */
        fprintf(stderr, "child: %s on the parent's env: %s, want LDB_INVALID\n", what,
                ldb_strerror(rc));
        return tu_fail("child: %s on the parent's env: %s, want LDB_INVALID", what,
                     ldb_strerror(rc));
    }
    return 0;
}

START_TEST(test_fork_child_gets_invalid)
{
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "d.db");
    create_db(path, NULL);
    ldb_env *env = tu_open(path, NULL);
    ldb_dbi mirror;
    ck_assert_msg(open_mirror(env, 0, &mirror) == 0, "%s", tu_fail_msg);
    ck_assert_msg(write_version(env, mirror, 2) == 0, "%s", tu_fail_msg);

    /* At the fork the parent holds a read txn with a cursor, a reset read
     * txn, and a write txn with an uncommitted put. */
    ldb_txn *rd, *idle, *wr;
    ldb_cursor *cur;
    ck_assert_int_eq(ldb_txn_begin(env, LDB_TXN_RDONLY, &rd), 0);
    ck_assert_int_eq(ldb_cursor_open(rd, LDB_MAIN, &cur), 0);
    ldb_val k, v;
    ck_assert_int_eq(ldb_cursor_get(cur, &k, &v, LDB_FIRST), 0);
    ck_assert_int_eq(ldb_txn_begin(env, LDB_TXN_RDONLY, &idle), 0);
    ldb_txn_reset(idle);
    ck_assert_int_eq(ldb_txn_begin(env, 0, &wr), 0);
    ldb_val pk = tu_str("pending"), pv = tu_str("parent's uncommitted write");
    ck_assert_int_eq(ldb_put(wr, LDB_MAIN, &pk, &pv, 0), 0);
    ldb_stat before = stat_of(env);
    ck_assert_msg(before.readers_used == 1, "readers_used %u", (unsigned)before.readers_used);

    pid_t pid = fork_or_fail();
    if (pid == 0) {
        int bad = 0;
        ldb_txn *t = NULL;
        ldb_stat st;
        ldb_dbi d;
        ldb_val key = tu_str("counter"), val;
        bad |= expect_invalid("read txn_begin", ldb_txn_begin(env, LDB_TXN_RDONLY, &t));
        bad |= expect_invalid("write txn_begin", ldb_txn_begin(env, 0, &t));
        bad |= expect_invalid("NOWAIT txn_begin", ldb_txn_begin(env, LDB_TXN_NOWAIT, &t));
        bad |= expect_invalid("ldb_get via the parent's read txn", ldb_get(rd, LDB_MAIN, &key, &val));
        bad |= expect_invalid("ldb_get via the parent's write txn", ldb_get(wr, LDB_MAIN, &key, &val));
        bad |= expect_invalid("ldb_put via the parent's write txn",
                              ldb_put(wr, LDB_MAIN, &key, &key, 0));
        bad |= expect_invalid("ldb_del via the parent's write txn", ldb_del(wr, LDB_MAIN, &key));
        bad |= expect_invalid("cursor_get on the parent's cursor",
                              ldb_cursor_get(cur, &key, &val, LDB_NEXT));
        bad |= expect_invalid("cursor_open on the parent's txn", ldb_cursor_open(rd, LDB_MAIN, &cur));
        bad |= expect_invalid("dbi_open via the parent's txn", ldb_dbi_open(rd, "mirror", 0, &d));
        bad |= expect_invalid("dbi_stat via the parent's txn",
                              ldb_dbi_stat(rd, LDB_MAIN, &(ldb_tree_stat){0}));
        bad |= expect_invalid("txn_renew of the parent's reset txn", ldb_txn_renew(idle));
        bad |= expect_invalid("stat_env", ldb_stat_env(env, &st));
        bad |= expect_invalid("reader_check", ldb_reader_check(env, NULL));
        bad |= expect_invalid("sync", ldb_sync(env));
        bad |= expect_invalid("check", ldb_check(env, NULL));
        /* Ending the parent's txns here must not end them in the parent:
         * the read txn's reader slot and the write txn's pages are shared.
         * One way of ending per run (_i), so each is reported on its own. */
        switch (_i) {
        case 0:
            ldb_txn_reset(rd);
            bad |= expect_invalid("commit of the parent's read txn", ldb_txn_commit(rd));
            ldb_txn_abort(idle);
            break;
        case 1:
            ldb_txn_abort(rd);
            break;
        case 2:
            bad |= expect_invalid("commit of the parent's write txn", ldb_txn_commit(wr));
            break;
        case 3:
            ldb_txn_abort(wr);
            break;
        default:
            bad |= expect_invalid("close", ldb_close(env));
            break;
        }
        /* The child's own env works; it does not see the parent's pending
         * write, and the writer slot is the parent's. */
        ldb_env *ce;
        ldb_dbi cm;
        if (ldb_open(path, NULL, &ce) != 0 || open_mirror(ce, 0, &cm) != 0) {
            tu_fail("child: own env: %s", tu_fail_msg);
            tu_child_exit(90);
        }
        uint64_t cv = read_version(ce, cm);
        if (cv != 2) {
            fprintf(stderr, "child: own env sees version %" PRIu64 ", want 2 as the parent "
                    "committed it: %s\n", cv, tu_fail_msg);
            tu_child_exit(91);
        }
        int rc = ldb_txn_begin(ce, LDB_TXN_NOWAIT, &t);
        if (rc != LDB_BUSY) {
            tu_fail("child: NOWAIT write txn while the parent writes: %s", ldb_strerror(rc));
            if (rc == 0)
                ldb_txn_abort(t);
            tu_child_exit(92);
        }
        /* The child's own env is not closed here: closing while another
         * process holds the writer is test_close_during_foreign_write's. */
        tu_child_exit(bad ? 94 : 0);
    }
    /* The parent's side first (what the child's calls did to it), then what
     * the child itself found. */
    int child_status = tu_wait_child(pid, 30, "child using its parent's env");

    /* The parent's txns are as they were. */
    ldb_stat st = stat_of(env);
    ck_assert_msg(st.readers_used == 1 && st.oldest_reader_txn_id == ldb_txn_id(rd),
                  "after the child: readers_used %u (want 1), oldest %" PRIu64 " (want %" PRIu64
                  "): the child released the parent's reader slot",
                  (unsigned)st.readers_used, st.oldest_reader_txn_id, ldb_txn_id(rd));
    ck_assert_msg(st.last_txn_id == before.last_txn_id,
                  "last_txn_id %" PRIu64 " -> %" PRIu64 ": the child committed the parent's txn",
                  before.last_txn_id, st.last_txn_id);
    ck_assert_int_eq(ldb_cursor_get(cur, &k, &v, LDB_NEXT), 0);
    ldb_val got;
    ck_assert_int_eq(ldb_get(wr, LDB_MAIN, &pk, &got), 0);
    ck_assert_int_eq(ldb_txn_renew(idle), 0);
    ldb_cursor_close(cur);
    int rc = ldb_txn_commit(wr);
    ck_assert_msg(rc == 0, "the parent's commit after the fork: %s", ldb_strerror(rc));
    /* The held snapshot survives many rewrites (its pages are not reused). */
    ldb_txn *t;
    ck_assert_int_eq(ldb_txn_begin(env, 0, &t), 0);
    ck_assert_int_eq(ldb_del(t, LDB_MAIN, &pk), 0);
    ck_assert_int_eq(ldb_txn_commit(t), 0);
    for (uint64_t c = 3; c < 40; c++)
        ck_assert_msg(write_version(env, mirror, c) == 0, "%s", tu_fail_msg);
    ck_assert_msg(verify_version(rd, mirror, 2, NULL) == 0, "the parent's read txn: %s",
                  tu_fail_msg);
    ck_assert_msg(verify_version(idle, mirror, 2, NULL) == 0, "renewed txn: %s", tu_fail_msg);
    ldb_txn_abort(rd);
    ldb_txn_abort(idle);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    ck_assert_msg(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0,
                  "child using its parent's env: status 0x%x, exit %d (its stderr says why)",
                  (unsigned)child_status, WIFEXITED(child_status) ? WEXITSTATUS(child_status) : -1);
}
END_TEST

/* Opening, reading and closing an env of one's own must not wait for a write
 * txn that another process holds (a worker process restarting while a long
 * write runs elsewhere). _i: 0 read-write env, 1 LDB_RDONLY. */
START_TEST(test_close_during_foreign_write)
{
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "c.db");
    create_db(path, NULL);
    ldb_env *env = tu_open(path, NULL);
    ldb_dbi mirror;
    ck_assert_msg(open_mirror(env, 0, &mirror) == 0, "%s", tu_fail_msg);
    ck_assert_msg(write_version(env, mirror, 2) == 0, "%s", tu_fail_msg);
    ldb_txn *wr;
    ck_assert_int_eq(ldb_txn_begin(env, 0, &wr), 0);
    ck_assert_msg(put_version(wr, mirror, 3) == 0, "%s", tu_fail_msg);
    pid_t pid = fork_or_fail();
    if (pid == 0) {
        for (int round = 0; round < 3; round++) {
            ldb_dbi cm;
            ldb_env *ce = child_open(path, _i ? LDB_RDONLY : 0, LDB_SYNC_FULL, &cm);
            uint64_t cv = read_version(ce, cm);
            if (cv != 2) {
                tu_fail("child: sees version %" PRIu64 ", want 2 (%s)", cv, tu_fail_msg);
                tu_child_exit(95);
            }
            int rc = ldb_close(ce);
            if (rc) {
                tu_fail("child: close: %s", ldb_strerror(rc));
                tu_child_exit(96);
            }
        }
        tu_child_exit(0);
    }
    int st = tu_wait_child(pid, 20, _i ? "LDB_RDONLY open/read/close while another process writes"
                                    : "open/read/close while another process writes");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: status 0x%x", (unsigned)st);
    int rc = ldb_txn_commit(wr);
    ck_assert_msg(rc == 0, "commit: %s", ldb_strerror(rc));
    ck_assert_msg(read_version(env, mirror) == 3, "%s", tu_fail_msg);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
}
END_TEST

/* ---- (e) stat: readers in other processes ------------------------------------------ */

/* A child that holds read txns on command: 'b' begin (replies its txn id),
 * 'n' reset+renew (replies the id), 'r' reset (replies 0), 'q' quit. */
static void holder_child(const char *path, unsigned flags, int cmd_fd, int reply_fd)
{
    ldb_dbi mirror;
    ldb_env *env = child_open(path, flags, LDB_SYNC_FULL, &mirror);
    ldb_txn *txn = NULL;
    for (;;) {
        char c;
        if (read_full(cmd_fd, &c, 1, -1) != 0)
            tu_child_exit(0);
        uint64_t id = 0;
        int rc = 0;
        if (c == 'b') {
            rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
            if (rc == 0 && verify_version(txn, mirror, 0, NULL))
                tu_child_exit(100);
            id = rc ? 0 : ldb_txn_id(txn);
        } else if (c == 'n') {
            ldb_txn_reset(txn);
            rc = ldb_txn_renew(txn);
            id = ldb_txn_id(txn);
        } else if (c == 'r') {
            ldb_txn_reset(txn);
        } else if (c == 'q') {
            ldb_txn_abort(txn);
            tu_child_exit(ldb_close(env) ? 101 : 0);
        }
        if (rc) {
            tu_fail("holder: '%c': %s", c, ldb_strerror(rc));
            tu_child_exit(102);
        }
        write_full(reply_fd, &id, 8);
    }
}

typedef struct holder {
    pid_t pid;
    int cmd, reply;
} holder;

static holder start_holder(const char *path, unsigned flags)
{
    int c[2], r[2];
    ck_assert(pipe(c) == 0 && pipe(r) == 0);
    holder h;
    h.pid = fork_or_fail();
    if (h.pid == 0) {
        close(c[1]);
        close(r[0]);
        holder_child(path, flags, c[0], r[1]);
    }
    close(c[0]);
    close(r[1]);
    h.cmd = c[1];
    h.reply = r[0];
    return h;
}

static uint64_t holder_do(holder *h, char what)
{
    uint64_t id = 0;
    ck_assert(write_full(h->cmd, &what, 1) == 0);
    ck_assert_msg(read_full(h->reply, &id, 8, 30000) == 0, "holder child did not answer '%c'",
                  what);
    return id;
}

static void holder_end(holder *h, int kill_it)
{
    if (kill_it) {
        kill_child(h->pid);
    } else {
        ck_assert(write_full(h->cmd, "q", 1) == 0);
        expect_child_ok(h->pid, 30, "holder");
    }
    close(h->cmd);
    close(h->reply);
}

START_TEST(test_stat_shows_other_process_reader)
{
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "e.db");
    create_db(path, NULL);
    ldb_options o = {0};
    o.sync_mode = LDB_SYNC_OFF;
    ldb_env *env = tu_open(path, &o);
    ldb_dbi mirror;
    ck_assert_msg(open_mirror(env, 0, &mirror) == 0, "%s", tu_fail_msg);
    ldb_stat st = stat_of(env);
    ck_assert_msg(st.readers_used == 0 && st.oldest_reader_txn_id == 0,
                  "no readers: used %u oldest %" PRIu64, (unsigned)st.readers_used,
                  st.oldest_reader_txn_id);
    uint64_t c = 1;

    holder h = start_holder(path, LDB_RDONLY);
    uint64_t id = holder_do(&h, 'b');
    st = stat_of(env);
    ck_assert_msg(id == st.last_txn_id, "the child's txn id %" PRIu64 ", last_txn_id %" PRIu64, id,
                  st.last_txn_id);
    ck_assert_msg(st.readers_used == 1, "readers_used %u with a reader in another process",
                  (unsigned)st.readers_used);
    ck_assert_msg(st.oldest_reader_txn_id == id, "oldest_reader_txn_id %" PRIu64 ", the other "
                  "process's reader is on %" PRIu64, st.oldest_reader_txn_id, id);
    uint64_t lag = st.last_txn_id - st.oldest_reader_txn_id;
    ck_assert_msg(lag == 0, "lag %" PRIu64 " before any commit", lag);
    for (int step = 1; step <= 5; step++) {
        for (int i = 0; i < 10; i++)
            ck_assert_msg(write_version(env, mirror, ++c) == 0, "%s", tu_fail_msg);
        st = stat_of(env);
        ck_assert_msg(st.readers_used == 1 && st.oldest_reader_txn_id == id,
                      "after %d commits: used %u oldest %" PRIu64, step * 10,
                      (unsigned)st.readers_used, st.oldest_reader_txn_id);
        uint64_t l = st.last_txn_id - st.oldest_reader_txn_id;
        ck_assert_msg(l == lag + 10, "lag %" PRIu64 " after 10 more commits, was %" PRIu64, l, lag);
        lag = l;
    }
    /* A second reader, in this process, on the newest snapshot: the oldest stays. */
    ldb_txn *mine;
    ck_assert_int_eq(ldb_txn_begin(env, LDB_TXN_RDONLY, &mine), 0);
    st = stat_of(env);
    ck_assert_msg(st.readers_used == 2 && st.oldest_reader_txn_id == id,
                  "two readers: used %u oldest %" PRIu64, (unsigned)st.readers_used,
                  st.oldest_reader_txn_id);
    /* The other process renews: its reader moves to the newest snapshot. */
    uint64_t id2 = holder_do(&h, 'n');
    st = stat_of(env);
    ck_assert_msg(id2 == st.last_txn_id && st.oldest_reader_txn_id == ldb_txn_id(mine),
                  "after renew: child on %" PRIu64 ", last %" PRIu64 ", oldest %" PRIu64, id2,
                  st.last_txn_id, st.oldest_reader_txn_id);
    ldb_txn_abort(mine);
    st = stat_of(env);
    ck_assert_msg(st.readers_used == 1 && st.oldest_reader_txn_id == id2 &&
                      st.last_txn_id == st.oldest_reader_txn_id,
                  "after renew: used %u oldest %" PRIu64 " last %" PRIu64,
                  (unsigned)st.readers_used, st.oldest_reader_txn_id, st.last_txn_id);
    /* A reset txn holds no snapshot. */
    holder_do(&h, 'r');
    st = stat_of(env);
    ck_assert_msg(st.readers_used == 0 && st.oldest_reader_txn_id == 0,
                  "reset reader in another process: used %u oldest %" PRIu64,
                  (unsigned)st.readers_used, st.oldest_reader_txn_id);
    id = holder_do(&h, 'n');
    for (int i = 0; i < 7; i++)
        ck_assert_msg(write_version(env, mirror, ++c) == 0, "%s", tu_fail_msg);

    /* Killed while it holds the snapshot: the slot stays until cleared. */
    holder_end(&h, 1);
    st = stat_of(env);
    ck_assert_msg(st.readers_used == 1 && st.oldest_reader_txn_id == id &&
                      st.last_txn_id - id == 7,
                  "killed reader: used %u oldest %" PRIu64 " (want %" PRIu64 ") lag %" PRIu64,
                  (unsigned)st.readers_used, st.oldest_reader_txn_id, id,
                  st.last_txn_id - st.oldest_reader_txn_id);
    int cleared = -1;
    ck_assert_int_eq(ldb_reader_check(env, &cleared), 0);
    ck_assert_msg(cleared == 1, "reader_check cleared %d", cleared);
    st = stat_of(env);
    ck_assert_msg(st.readers_used == 0 && st.oldest_reader_txn_id == 0,
                  "after reader_check: used %u oldest %" PRIu64, (unsigned)st.readers_used,
                  st.oldest_reader_txn_id);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
}
END_TEST

/* A dead reader is cleared without ldb_reader_check: by the writer, when the
 * pages it holds back are what the writer needs, so the file stops growing. */
START_TEST(test_writer_clears_dead_reader)
{
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "w.db");
    create_db(path, NULL);
    ldb_options o = {0};
    o.sync_mode = LDB_SYNC_OFF;
    ldb_env *env = tu_open(path, &o);
    ldb_dbi mirror;
    ck_assert_msg(open_mirror(env, 0, &mirror) == 0, "%s", tu_fail_msg);
    uint64_t c = 1;
    /* Settle the file size first. */
    for (int i = 0; i < 100; i++)
        ck_assert_msg(write_version(env, mirror, ++c) == 0, "%s", tu_fail_msg);
    holder h = start_holder(path, LDB_RDONLY);
    uint64_t id = holder_do(&h, 'b');
    holder_end(&h, 1);
    ldb_stat st = stat_of(env);
    ck_assert_msg(st.readers_used == 1 && st.oldest_reader_txn_id == id,
                  "dead reader: used %u oldest %" PRIu64, (unsigned)st.readers_used,
                  st.oldest_reader_txn_id);
    uint64_t pages0 = st.pages_used + st.pages_free;
    for (int i = 0; i < 400; i++)
        ck_assert_msg(write_version(env, mirror, ++c) == 0, "%s", tu_fail_msg);
    st = stat_of(env);
    ck_assert_msg(st.readers_used == 0,
                  "readers_used %u (oldest %" PRIu64 ") after 400 commits with a dead reader "
                  "holding pages back: the writer did not clear its slot",
                  (unsigned)st.readers_used, st.oldest_reader_txn_id);
    uint64_t pages1 = st.pages_used + st.pages_free;
    ck_assert_msg(pages1 < pages0 * 3, "file grew from %" PRIu64 " to %" PRIu64 " pages", pages0,
                  pages1);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
}
END_TEST

/* A full reader table whose slots belong to dead processes: the next reader
 * clears them itself. */
START_TEST(test_full_table_of_dead_readers)
{
    enum { MAXR = 6 };
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "t.db");
    ldb_options o = {0};
    o.max_readers = MAXR;
    create_db(path, &o);
    ldb_env *env = tu_open(path, &o);
    ldb_dbi mirror;
    ck_assert_msg(open_mirror(env, 0, &mirror) == 0, "%s", tu_fail_msg);
    holder hs[MAXR];
    for (int i = 0; i < MAXR; i++) {
        hs[i] = start_holder(path, i % 2 ? LDB_RDONLY : 0);
        holder_do(&hs[i], 'b');
    }
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
    ck_assert_msg(rc == LDB_BUSY, "read txn with %d of %d slots held by live processes: %s", MAXR,
                  MAXR, ldb_strerror(rc));
    for (int i = 0; i < MAXR; i++)
        holder_end(&hs[i], 1);
    ck_assert_msg(write_version(env, mirror, 2) == 0, "%s", tu_fail_msg);
    rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
    ck_assert_msg(rc == 0, "read txn with every slot held by dead processes: %s", ldb_strerror(rc));
    ck_assert_msg(verify_version(txn, mirror, 2, NULL) == 0, "%s", tu_fail_msg);
    ldb_txn_abort(txn);
    /* All slots usable again. */
    ldb_txn *t[MAXR];
    for (int i = 0; i < MAXR; i++) {
        rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &t[i]);
        ck_assert_msg(rc == 0, "read txn %d of %d after the dead were cleared: %s", i + 1, MAXR,
                      ldb_strerror(rc));
    }
    for (int i = 0; i < MAXR; i++)
        ldb_txn_abort(t[i]);
    ldb_stat st = stat_of(env);
    ck_assert_msg(st.readers_used == 0, "readers_used %u", (unsigned)st.readers_used);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
}
END_TEST

#ifdef LDB_TEST_HOOKS
/* ---- (f) close race: a closer that finds another process still open (issue 9) ---- */

#define RACE_COMMITS 40
static int race_win_fd = -1;
static volatile int race_relaid;

/* In the closer, after its "am I alone" test failed: say so, wait while the
 * other process closes and new ones open, then see whether the lock file
 * under our mapping was laid out again (lay_out zeroes the commit count). */
static void race_not_alone(struct ldb__lock *lk)
{
    (void)!write(race_win_fd, "w", 1);
    usleep(400 * 1000);
    if (__atomic_load_n(&lk->hdr->commits, __ATOMIC_ACQUIRE) < RACE_COMMITS)
        race_relaid = 1;
}

static void race_child(const char *path, int closer, int go_fd, int say_fd)
{
    ldb_dbi mirror;
    ldb_env *env = child_open(path, 0, LDB_SYNC_FULL, &mirror);
    for (int i = 0; closer && i < RACE_COMMITS; i++) {
        char k[16];
        snprintf(k, sizeof k, "race:%02d", i);
        ldb_val key = tu_str(k);
        ldb_txn *txn;
        int rc = ldb_txn_begin(env, 0, &txn);
        if (rc == 0)
            rc = ldb_put(txn, LDB_MAIN, &key, &key, 0);
        if (rc == 0)
            rc = ldb_txn_commit(txn);
        if (rc) {
            tu_fail("closer: commit %d: %s", i, ldb_strerror(rc));
            tu_child_exit(90);
        }
    }
    char c;
    if (write_full(say_fd, "r", 1) != 0 || read_full(go_fd, &c, 1, 30000) != 0)
        tu_child_exit(91);
    race_win_fd = say_fd;
    ldb__lock_test_not_alone = closer ? race_not_alone : NULL;
    int rc = ldb_close(env);
    if (rc) {
        tu_fail("%s: close: %s", closer ? "closer" : "other", ldb_strerror(rc));
        tu_child_exit(92);
    }
    if (race_relaid) {
        tu_fail("closer: the lock file was laid out again while it still used it");
        tu_child_exit(93);
    }
    tu_child_exit(0);
}

static pid_t race_start(const char *path, int closer, int *go, int *say)
{
    int g[2], s[2];
    ck_assert(pipe(g) == 0 && pipe(s) == 0);
    pid_t pid = fork_or_fail();
    if (pid == 0) {
        close(g[1]);
        close(s[0]);
        race_child(path, closer, g[0], s[1]);
    }
    close(g[0]);
    close(s[1]);
    *go = g[1];
    *say = s[0];
    char c;
    ck_assert_msg(read_full(*say, &c, 1, 30000) == 0 && c == 'r', "child did not get ready");
    return pid;
}

/* The writer's thread id is kept per thread (lock.c): each thread gets
 * its own, and a forked child (its thread inherits the forking thread's
 * copy) gets the child's, not the parent's. */
static pid_t kernel_thread_id(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static void *note_thread_id(void *arg)
{
    pid_t *ids = arg;
    ids[0] = ldb__lock_thread_id();
    ids[1] = ldb__lock_thread_id(); /* the kept one */
    ids[2] = kernel_thread_id();
    return NULL;
}

START_TEST(test_thread_id_kept_per_thread)
{
    pid_t mine = ldb__lock_thread_id();
    ck_assert_int_eq(mine, kernel_thread_id());
    ck_assert_int_eq(ldb__lock_thread_id(), mine);
    pid_t other[3];
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, note_thread_id, other), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(other[0], other[2]);
    ck_assert_int_eq(other[1], other[2]);
    ck_assert_int_ne(other[0], mine);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        pid_t id = ldb__lock_thread_id();
        _exit(id == kernel_thread_id() && id != mine && ldb__lock_thread_id() == id ? 0 : 1);
    }
    int status = tu_wait_child(child, 60, "child asking its thread id");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the forked child's thread id is not its own (status %d)", status);
}
END_TEST

/* Two processes have the database open; one closes and, in the window
 * after it found the other still there, the other closes and a third opens
 * and closes in a loop. The closer must never find the lock file laid out
 * again under it (nor crash on it), the writer mutex must work afterwards,
 * and every commit must be there. */
START_TEST(test_close_race_new_first_opener)
{
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "r.db");
    create_db(path, NULL);
    int a_go, a_say, b_go, b_say;
    pid_t a = race_start(path, 1, &a_go, &a_say);
    pid_t b = race_start(path, 0, &b_go, &b_say);
    char c;
    ck_assert(write_full(a_go, "g", 1) == 0);
    ck_assert_msg(read_full(a_say, &c, 1, 30000) == 0 && c == 'w', "closer never found b open");
    ck_assert(write_full(b_go, "g", 1) == 0);
    expect_child_ok(b, 30, "the other process closing");
    int rounds = 0, st = 0;
    while (waitpid(a, &st, WNOHANG) == 0) {
        ldb_env *env = tu_open(path, NULL);
        ck_assert_int_eq(ldb_close(env), 0);
        rounds++;
    }
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "closer: status 0x%x after %d opens (its stderr says why)", (unsigned)st, rounds);
    pid_t w = fork_or_fail();
    if (w == 0) {
        ldb_dbi m;
        ldb_env *env = child_open(path, 0, LDB_SYNC_FULL, &m);
        int rc = write_version(env, m, 2);
        tu_child_exit(rc || ldb_close(env) ? 94 : 0);
    }
    expect_child_ok(w, 20, "a write txn after the race");
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    for (int i = 0; i < RACE_COMMITS; i++) {
        char k[16];
        snprintf(k, sizeof k, "race:%02d", i);
        tu_expect_str(txn, LDB_MAIN, k, k);
    }
    ldb_txn_abort(txn);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    close(a_go);
    close(a_say);
    close(b_go);
    close(b_say);
}
END_TEST
#endif

static Suite *multiproc_suite(void)
{
    Suite *s = suite_create("multiproc");
    TCase *tc = tcase_create("readers");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_writer_and_rdonly_readers);
    suite_add_tcase(s, tc);
    tc = tcase_create("kill");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_kill_rounds);
    tcase_add_test(tc, test_killed_mid_publish);
    suite_add_tcase(s, tc);
    tc = tcase_create("permissions");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_rdonly_without_write_permission);
    suite_add_tcase(s, tc);
    tc = tcase_create("fork");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_fork_child_gets_invalid, 0, 5);
    tcase_add_loop_test(tc, test_close_during_foreign_write, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("stat");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_stat_shows_other_process_reader);
    tcase_add_test(tc, test_writer_clears_dead_reader);
    tcase_add_test(tc, test_full_table_of_dead_readers);
    suite_add_tcase(s, tc);
#ifdef LDB_TEST_HOOKS
    tc = tcase_create("closerace");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_close_race_new_first_opener);
    suite_add_tcase(s, tc);
    tc = tcase_create("threadid");
    tcase_add_test(tc, test_thread_id_kept_per_thread);
    suite_add_tcase(s, tc);
#endif
    return s;
}

int main(void)
{
    Suite *suites[] = {multiproc_suite()};
    return tu_run_suites(suites, 1);
}
