/* SPDX-License-Identifier: MIT */
/*
 * LDB_IMMUTABLE (issue 3): a file nothing will change, opened with no lock
 * file and no WAL, by any number of processes at once.
 *
 *  - copy: a byte copy of a closed database opened LDB_IMMUTABLE by several
 *    processes at once; each reads everything; write txns give LDB_READONLY;
 *    no "<path>-lock" or "<path>-wal" appears and the file is unchanged. An
 *    existing lock file beside the original is not touched either.
 *  - crash: a database whose writer was killed (nothing closed, nothing
 *    checkpointed): LDB_IMMUTABLE either sees every commit acknowledged
 *    before the kill, or, when the data file alone is not the whole story
 *    (a WAL still to replay), refuses with LDB_READONLY. Never stale data.
 *  - mount (root, where mount is permitted, else skipped with a message): a
 *    tmpfs in a private mount namespace, the database copied in, remounted
 *    read-only; several processes open it LDB_IMMUTABLE and read it all;
 *    LDB_RDONLY (which needs a lock file) fails cleanly there.
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NKEYS 3000
#define NNAMED 200
#define NPROCS 5

/* ---- the contents ------------------------------------------------------------------ */

static size_t val_len(uint64_t gen, int i)
{
    if (i % 97 == 13)
        return 9000 + (size_t)((uint64_t)i * 31 % 3000); /* overflow pages */
    return 10 + (size_t)(((uint64_t)i * 37 + gen) % 200);
}

static size_t val_fill(uint64_t gen, int i, uint8_t *buf)
{
    size_t n = val_len(gen, i);
    uint64_t x = gen * 0x9E3779B97F4A7C15ull + (uint64_t)i + 1;
    for (size_t j = 0; j < n; j++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[j] = (uint8_t)x;
    }
    return n;
}

/* Generation gen of the database: NKEYS keys in LDB_MAIN, NNAMED in "named",
 * "gen" = gen. */
static int write_gen(ldb_env *env, uint64_t gen)
{
    ldb_txn *txn;
    ldb_dbi named;
    uint8_t buf[12000];
    int rc = ldb_txn_begin(env, 0, &txn);
    if (rc)
        return tu_fail("write_gen: begin: %s", ldb_strerror(rc));
    rc = ldb_dbi_open(txn, "named", LDB_CREATE, &named);
    for (int i = 0; rc == 0 && i < NKEYS + NNAMED; i++) {
        char kb[32];
        snprintf(kb, sizeof kb, "key:%06d", i);
        ldb_val k = tu_str(kb), v = {val_fill(gen, i, buf), buf};
        rc = ldb_put(txn, i < NKEYS ? LDB_MAIN : named, &k, &v, 0);
    }
    if (rc == 0) {
        ldb_val k = tu_str("gen"), v = {8, &gen};
        rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
    }
    if (rc) {
        ldb_txn_abort(txn);
        return tu_fail("write_gen %" PRIu64 ": %s", gen, ldb_strerror(rc));
    }
    rc = ldb_txn_commit(txn);
    return rc ? tu_fail("write_gen %" PRIu64 ": commit: %s", gen, ldb_strerror(rc)) : 0;
}

/* Read everything and compare; *gen_out = the generation found. */
static int verify_all(ldb_env *env, uint64_t want_gen, uint64_t *gen_out)
{
    ldb_txn *txn;
    ldb_dbi named;
    uint8_t buf[12000];
    int rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
    if (rc)
        return tu_fail("verify: read txn_begin: %s", ldb_strerror(rc));
    uint64_t gen = 0;
    ldb_val k = tu_str("gen"), v;
    rc = ldb_get(txn, LDB_MAIN, &k, &v);
    if (rc || v.size != 8) {
        ldb_txn_abort(txn);
        return tu_fail("verify: get gen: %s", ldb_strerror(rc));
    }
    memcpy(&gen, v.data, 8);
    if (want_gen && gen != want_gen) {
        ldb_txn_abort(txn);
        return tu_fail("verify: generation %" PRIu64 ", want %" PRIu64, gen, want_gen);
    }
    rc = ldb_dbi_open(txn, "named", 0, &named);
    if (rc) {
        ldb_txn_abort(txn);
        return tu_fail("verify: dbi_open: %s", ldb_strerror(rc));
    }
    for (int i = 0; i < NKEYS + NNAMED; i++) {
        char kb[32];
        snprintf(kb, sizeof kb, "key:%06d", i);
        k = tu_str(kb);
        rc = ldb_get(txn, i < NKEYS ? LDB_MAIN : named, &k, &v);
        size_t n = val_fill(gen, i, buf);
        if (rc || v.size != n || memcmp(v.data, buf, n) != 0) {
            ldb_txn_abort(txn);
            return tu_fail("verify: gen %" PRIu64 " %s: %s, %zu bytes (want %zu)%s", gen, kb,
                         ldb_strerror(rc), rc ? (size_t)0 : v.size, n,
                         rc == 0 && v.size == n ? ", wrong bytes" : "");
        }
    }
    /* A full scan agrees on the count and the order. */
    ldb_cursor *cur;
    rc = ldb_cursor_open(txn, LDB_MAIN, &cur);
    int count = 0;
    char prev[32] = "";
    while (rc == 0 && (rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT)) == 0) {
        char kb[32];
        snprintf(kb, sizeof kb, "%.*s", (int)(k.size < 31 ? k.size : 31), (const char *)k.data);
        if (strcmp(prev, kb) >= 0) {
            rc = tu_fail("verify: scan order: '%s' after '%s'", kb, prev);
            break;
        }
        snprintf(prev, sizeof prev, "%s", kb);
        count++;
    }
    ldb_cursor_close(cur);
    ldb_txn_abort(txn);
    if (rc != LDB_NOTFOUND)
        return rc == -1 ? -1 : tu_fail("verify: scan: %s", ldb_strerror(rc));
    if (count != NKEYS + 1)
        return tu_fail("verify: scan finds %d keys, want %d", count, NKEYS + 1);
    if (gen_out)
        *gen_out = gen;
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

static int exists(const char *p)
{
    struct stat sb;
    return lstat(p, &sb) == 0;
}

static const char *side(const char *path, const char *suffix)
{
    static char bufs[4][4400];
    static int next;
    char *b = bufs[next++ & 3];
    snprintf(b, sizeof bufs[0], "%s%s", path, suffix);
    return b;
}

static void assert_same_file(const char *path, const uint8_t *before, size_t n)
{
    size_t m;
    uint8_t *now = tu_read_file(path, &m);
    ck_assert_msg(m == n && memcmp(now, before, n) == 0,
                  "%s changed (%zu bytes, was %zu) under LDB_IMMUTABLE", path, m, n);
    free(now);
}

static void listing(const char *dir, char *out, size_t n)
{
    struct dirent **names;
    int k = scandir(dir, &names, NULL, alphasort);
    ck_assert_msg(k >= 0, "scandir(%s): %s", dir, strerror(errno));
    out[0] = '\0';
    for (int i = 0; i < k; i++) {
        if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..")) {
            strncat(out, names[i]->d_name, n - strlen(out) - 2);
            strncat(out, " ", n - strlen(out) - 1);
        }
        free(names[i]);
    }
    free(names);
}

/* A database with generation 1, closed. */
static void make_db(const char *path)
{
    ldb_env *env = tu_open(path, NULL);
    ck_assert_msg(write_gen(env, 1) == 0, "%s", tu_fail_msg);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
}

/* In a child: open path LDB_IMMUTABLE, wait for go (so every process has it
 * open at once), read everything, check writes are refused, close. */
static void immutable_reader(const char *path, uint64_t gen, int ready_fd, int go_fd)
{
    ldb_options o = {0};
    o.flags = LDB_IMMUTABLE;
    ldb_env *env;
    int rc = ldb_open(path, &o, &env);
    if (rc) {
        tu_fail("immutable open of %s: %s", path, ldb_strerror(rc));
        tu_child_exit(10);
    }
    ssize_t w = write(ready_fd, "r", 1);
    char b;
    if (w != 1 || read(go_fd, &b, 1) < 0)
        tu_child_exit(11);
    if (verify_all(env, gen, NULL))
        tu_child_exit(12);
    ldb_txn *txn;
    rc = ldb_txn_begin(env, 0, &txn);
    if (rc != LDB_READONLY) {
        tu_fail("write txn on an LDB_IMMUTABLE env: %s, want LDB_READONLY", ldb_strerror(rc));
        tu_child_exit(13);
    }
    rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
    if (rc == 0) {
        ldb_val k = tu_str("gen"), v = {3, "new"};
        rc = ldb_put(txn, LDB_MAIN, &k, &v, 0);
        ldb_txn_abort(txn);
        if (rc != LDB_READONLY) {
            tu_fail("put in a read txn of an LDB_IMMUTABLE env: %s", ldb_strerror(rc));
            tu_child_exit(14);
        }
    }
    ldb_stat st;
    if ((rc = ldb_stat_env(env, &st)) != 0) {
        tu_fail("stat_env on an LDB_IMMUTABLE env: %s", ldb_strerror(rc));
        tu_child_exit(15);
    }
    if (st.last_txn_id == 0) {
        tu_fail("stat_env: last_txn_id 0");
        tu_child_exit(16);
    }
    rc = ldb_check(env, NULL);
    if (rc) {
        tu_fail("ldb_check on an LDB_IMMUTABLE env: %s", ldb_strerror(rc));
        tu_child_exit(17);
    }
    tu_child_exit(ldb_close(env) ? 18 : 0);
}

/* NPROCS processes open path LDB_IMMUTABLE at once and read it all. */
static void immutable_readers(const char *path, uint64_t gen)
{
    int ready[2], go[2];
    ck_assert(pipe(ready) == 0 && pipe(go) == 0);
    pid_t pids[NPROCS];
    for (int p = 0; p < NPROCS; p++) {
        fflush(stderr);
        pids[p] = fork();
        ck_assert(pids[p] >= 0);
        if (pids[p] == 0) {
            close(ready[0]);
            close(go[1]);
            immutable_reader(path, gen, ready[1], go[0]);
        }
    }
    close(ready[1]);
    close(go[0]);
    int opened = 0;
    char b;
    while (opened < NPROCS && read(ready[0], &b, 1) == 1)
        opened++;
    close(go[1]); /* EOF: every reader goes */
    close(ready[0]);
    for (int p = 0; p < NPROCS; p++) {
        int st = 0;
        pid_t r = 0;
        for (int ms = 0; ms < 60000 && (r = waitpid(pids[p], &st, WNOHANG)) == 0; ms += 2)
            usleep(2000);
        if (r == 0) {
            kill(pids[p], SIGKILL);
            waitpid(pids[p], &st, 0);
            ck_abort_msg("immutable reader %d: still running after 60 s (hang)", p);
        }
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "immutable reader %d: %s %d (its stderr says why)", p,
                      WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    }
    ck_assert_msg(opened == NPROCS, "%d of %d readers opened", opened, NPROCS);
}

/* ---- copy ------------------------------------------------------------------------------ */

START_TEST(test_immutable_copy)
{
    const char *dir = tu_tmpdir();
    char path[4096], copy[4096], before[1024], after[1024];
    snprintf(path, sizeof path, "%s", tu_path(dir, "orig.db"));
    snprintf(copy, sizeof copy, "%s", tu_path(dir, "copy.db"));
    make_db(path);
    ck_assert_int_eq(tu_copy_file(path, copy), 0);
    size_t n;
    uint8_t *bytes = tu_read_file(copy, &n);
    listing(dir, before, sizeof before);

    /* A missing file: -ENOENT and nothing created. */
    ldb_options o = {0};
    o.flags = LDB_IMMUTABLE;
    ldb_env *env;
    int rc = ldb_open(tu_path(dir, "missing.db"), &o, &env);
    ck_assert_msg(rc == -ENOENT, "immutable open of a missing file: %s", ldb_strerror(rc));

    immutable_readers(copy, 1);
    /* Once more, with this process holding it open as well. */
    env = tu_open(copy, &o);
    ck_assert_msg(verify_all(env, 1, NULL) == 0, "%s", tu_fail_msg);
    immutable_readers(copy, 1);
    ldb_txn *txn;
    rc = ldb_txn_begin(env, LDB_TXN_NOWAIT, &txn);
    ck_assert_msg(rc == LDB_READONLY, "NOWAIT write txn, immutable: %s", ldb_strerror(rc));
    ck_assert_int_eq(ldb_close(env), 0);

    ck_assert_msg(!exists(side(copy, "-lock")), "LDB_IMMUTABLE created %s", side(copy, "-lock"));
    ck_assert_msg(!exists(side(copy, "-wal")), "LDB_IMMUTABLE created %s", side(copy, "-wal"));
    listing(dir, after, sizeof after);
    ck_assert_msg(strcmp(before, after) == 0, "files before: %s; after: %s", before, after);
    assert_same_file(copy, bytes, n);
    free(bytes);

    /* The original, closed, with its lock file beside it: immutable opens
     * leave the lock file as it is. */
    if (exists(side(path, "-lock"))) {
        size_t ln;
        uint8_t *lock_bytes = tu_read_file(side(path, "-lock"), &ln);
        struct stat s0, s1;
        ck_assert(stat(side(path, "-lock"), &s0) == 0);
        immutable_readers(path, 1);
        ck_assert(stat(side(path, "-lock"), &s1) == 0);
        assert_same_file(side(path, "-lock"), lock_bytes, ln);
        ck_assert_msg(s0.st_mtim.tv_sec == s1.st_mtim.tv_sec &&
                          s0.st_mtim.tv_nsec == s1.st_mtim.tv_nsec,
                      "LDB_IMMUTABLE touched the lock file");
        free(lock_bytes);
    }
    /* The copy still opens normally (and gets its side files then). */
    env = tu_open(copy, NULL);
    ck_assert_msg(verify_all(env, 1, NULL) == 0, "%s", tu_fail_msg);
    ck_assert_msg(write_gen(env, 2) == 0, "%s", tu_fail_msg);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    env = tu_open(path, NULL);
    ck_assert_msg(verify_all(env, 1, NULL) == 0, "original: %s", tu_fail_msg);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
}
END_TEST

/* ---- crash: never stale data --------------------------------------------------------- */

START_TEST(test_immutable_after_crash)
{
    const char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s", tu_path(dir, "crash.db"));
    make_db(path);
    uint64_t last = 1 + (uint64_t)_i % 2 * 3 + 1; /* 2 or 5 */
    int p[2];
    ck_assert(pipe(p) == 0);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        ldb_options o = {0};
        o.sync_mode = _i < 2 ? LDB_SYNC_FULL : LDB_SYNC_OFF;
        ldb_env *env;
        if (ldb_open(path, &o, &env))
            tu_child_exit(20);
        for (uint64_t g = 2; g <= last; g++)
            if (write_gen(env, g))
                tu_child_exit(21);
        ssize_t w = write(p[1], "c", 1);
        (void)w;
        for (;;)
            pause(); /* killed with the env open: no close, no checkpoint */
    }
    close(p[1]);
    char b;
    ck_assert_msg(read(p[0], &b, 1) == 1, "writer child failed before the kill");
    close(p[0]);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);

    const char *wal = side(path, "-wal");
    struct stat sb;
    int wal_pending = stat(wal, &sb) == 0 && sb.st_size > 0;
    ldb_options o = {0};
    o.flags = LDB_IMMUTABLE;
    ldb_env *env = NULL;
    int rc = ldb_open(path, &o, &env);
    if (rc == 0) {
        uint64_t gen = 0;
        ck_assert_msg(verify_all(env, 0, &gen) == 0, "%s", tu_fail_msg);
        ck_assert_msg(gen == last,
                      "LDB_IMMUTABLE after a crash serves generation %" PRIu64 ", but %" PRIu64
                      " was committed%s: stale data",
                      gen, last, wal_pending ? " (a WAL is beside it)" : "");
        ck_assert_int_eq(ldb_close(env), 0);
        fprintf(stderr, "crash: LDB_IMMUTABLE opened the file after the crash%s and saw every commit\n",
                wal_pending ? " (non-empty WAL beside it)" : "");
    } else {
        ck_assert_msg(rc == LDB_READONLY,
                      "LDB_IMMUTABLE after a crash: %s; want success with every commit, or "
                      "LDB_READONLY when recovery is needed",
                      ldb_strerror(rc));
        ck_assert_msg(wal_pending, "LDB_IMMUTABLE refused (%s) with nothing to recover",
                      ldb_strerror(rc));
        fprintf(stderr, "crash: LDB_IMMUTABLE refused a file that needs recovery: %s\n",
                ldb_strerror(rc));
    }
    /* A normal open recovers; then the immutable open sees it all. */
    env = tu_open(path, NULL);
    ck_assert_msg(verify_all(env, last, NULL) == 0, "after recovery: %s", tu_fail_msg);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    immutable_readers(path, last);
}
END_TEST

/* ---- a read-only mount -------------------------------------------------------------- */

static int try_private_tmpfs(const char *mnt)
{
    if (geteuid() != 0)
        return tu_fail("not root");
    if (unshare(CLONE_NEWNS) != 0)
        return tu_fail("unshare(CLONE_NEWNS): %s", strerror(errno));
    /* Mounts made here stay in this process's namespace (and die with it). */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return tu_fail("mount --make-rprivate /: %s", strerror(errno));
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=64m") != 0)
        return tu_fail("mount -t tmpfs -o size=64m: %s", strerror(errno));
    return 0;
}

START_TEST(test_immutable_readonly_mount)
{
    const char *dir = tu_tmpdir();
    char path[4096], mnt[4096], ro_db[4300], ro_locked[4300];
    snprintf(path, sizeof path, "%s", tu_path(dir, "src.db"));
    snprintf(mnt, sizeof mnt, "%s", tu_path(dir, "mnt"));
    ck_assert(mkdir(mnt, 0755) == 0);
    make_db(path);
    if (try_private_tmpfs(mnt) != 0) {
        fprintf(stderr, "mount: SKIPPED: cannot mount a tmpfs here (%s)\n", tu_fail_msg);
        return;
    }
    snprintf(ro_db, sizeof ro_db, "%s/snap.db", mnt);
    snprintf(ro_locked, sizeof ro_locked, "%s/locked.db", mnt);
    int rc = tu_copy_file(path, ro_db);
    if (rc == 0)
        rc = tu_copy_file(path, ro_locked);
    if (rc == 0 && exists(side(path, "-lock")))
        rc = tu_copy_file(side(path, "-lock"), side(ro_locked, "-lock"));
    if (rc == 0 && mount(NULL, mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL) != 0)
        rc = -errno;
    if (rc != 0) {
        umount2(mnt, MNT_DETACH);
        ck_abort_msg("preparing the read-only mount: %s", strerror(-rc));
    }
    int fd = open(tu_path(mnt, "probe"), O_WRONLY | O_CREAT, 0644);
    ck_assert_msg(fd < 0 && errno == EROFS, "the mount is not read-only");
    char before[1024], after[1024];
    listing(mnt, before, sizeof before);

    immutable_readers(ro_db, 1);
    immutable_readers(ro_locked, 1);

    /* LDB_RDONLY needs a lock file it can write: it fails cleanly. */
    const char *cases[2] = {ro_db, ro_locked};
    for (int c = 0; c < 2; c++) {
        ldb_options o = {0};
        o.flags = LDB_RDONLY;
        ldb_env *env = NULL;
        rc = ldb_open(cases[c], &o, &env);
        ck_assert_msg(rc == -EROFS || rc == -EACCES || rc == LDB_READONLY,
                      "LDB_RDONLY open of %s on a read-only mount: %s (%d), want -EROFS, "
                      "-EACCES or LDB_READONLY",
                      cases[c], ldb_strerror(rc), rc);
        ck_assert_ptr_null(env);
        fprintf(stderr, "mount: LDB_RDONLY on a read-only mount (%s): %s (%d)\n",
                c ? "with a lock file" : "no lock file", ldb_strerror(rc), rc);
        rc = ldb_open(cases[c], NULL, &env);
        ck_assert_msg(rc == -EROFS || rc == -EACCES || rc == LDB_READONLY,
                      "read-write open on a read-only mount: %s (%d)", ldb_strerror(rc), rc);
        ck_assert_ptr_null(env);
    }
    listing(mnt, after, sizeof after);
    ck_assert_str_eq(after, before);
    /* And this process too. */
    ldb_options o = {0};
    o.flags = LDB_IMMUTABLE;
    ldb_env *env = tu_open(ro_db, &o);
    ck_assert_msg(verify_all(env, 1, NULL) == 0, "%s", tu_fail_msg);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
    ck_assert_msg(umount2(mnt, 0) == 0, "umount %s: %s", mnt, strerror(errno));
    /* The source was never touched. */
    env = tu_open(path, NULL);
    ck_assert_msg(verify_all(env, 1, NULL) == 0, "%s", tu_fail_msg);
    tu_check_env(env);
    ck_assert_int_eq(ldb_close(env), 0);
}
END_TEST

static Suite *immutable_suite(void)
{
    Suite *s = suite_create("immutable");
    TCase *tc = tcase_create("copy");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_immutable_copy);
    /* _i: 0,1 LDB_SYNC_FULL, 2,3 LDB_SYNC_OFF; odd: more commits. */
    tcase_add_loop_test(tc, test_immutable_after_crash, 0, 4);
    suite_add_tcase(s, tc);
    tc = tcase_create("mount");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_immutable_readonly_mount);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {immutable_suite()};
    return tu_run_suites(suites, 1);
}
