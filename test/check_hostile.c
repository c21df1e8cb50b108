/* SPDX-License-Identifier: MIT */
/*
 * check_hostile: files and inputs made by someone who means harm, or by an
 * unlucky operator (issue 9): each must end in a clean error from the
 * library and a non-zero exit from the command, never a crash, a hang, a
 * write through a link, or data taken for something it is not.
 *
 *  - crafted: meta pages with resealed checksums whose page counts or tree
 *    roots wrap npages * page_size; overflow runs longer than the file; a
 *    lock file publishing a wrapped snapshot. LDB_CORRUPTED from open, get,
 *    cursors, del and ldb_check; `lightningdb dump/check/stat/load` exit 4.
 *  - files: side files (-lock, -wal) that are symbolic links, FIFOs,
 *    directories, hard links or another user's are refused and left as they
 *    were; a data path that is a FIFO, directory or device is refused at
 *    once with nothing made beside it; pages of zeros are not taken for a
 *    database to create; side files take the data file's permission bits;
 *    ldb_check reports a damaged meta page; load refuses a truncated dump
 *    followed by another, malformed trailers and data after the trailer;
 *    an env with a smaller max_size reads a file another env grew.
 *  - big: a value of the stated maximum, 2 GiB, more than one system call
 *    moves (slow); the same loops with every call capped by a test hook.
 *
 * Tests that run the command find it at LDB_TOOL (set by Makefile.am).
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "btree.h"
#include "format.h"
#include "handle.h"
#include "lock.h"
#include "os.h"
#include "page.h"

#ifndef LDB_TOOL
#error "LDB_TOOL must name the lightningdb command"
#endif

/* ---- helpers ----------------------------------------------------------------- */

#define PSIZE 4096u
#define BIG_VALUE (3 * PSIZE) /* an overflow run of four pages */

/* Run the command with args (NULL-terminated), stdin from in_path (or
 * /dev/null), stdout and stderr to /dev/null; returns its wait status. */
static int run_tool(const char *in_path, const char *const *args)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int in = open(in_path ? in_path : "/dev/null", O_RDONLY);
        int out = open("/dev/null", O_WRONLY);
        if (in < 0 || out < 0)
            _exit(127);
        dup2(in, 0);
        dup2(out, 1);
        if (getenv("LDB_TEST_VERBOSE") == NULL)
            dup2(out, 2);
        char *argv[16];
        int n = 0;
        argv[n++] = (char *)LDB_TOOL;
        for (; args[n - 1] != NULL && n < 15; n++)
            argv[n] = (char *)args[n - 1];
        argv[n] = NULL;
        execv(LDB_TOOL, argv);
        _exit(127);
    }
    return tu_wait_child(pid, 60, args[0]);
}

/* The command must exit with code want, not die of a signal. */
static void expect_tool_exit(const char *in_path, int want, const char *const *args)
{
    int st = run_tool(in_path, args);
    TU_REQUIRE(!WIFSIGNALED(st), "lightningdb %s %s: killed by signal %d", args[0],
               args[1] ? args[1] : "", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    TU_REQUIRE(WIFEXITED(st) && WEXITSTATUS(st) == want, "lightningdb %s: exit %d, want %d",
               args[0], WIFEXITED(st) ? WEXITSTATUS(st) : -1, want);
}

/* The read-only subcommands and load all refuse the database (exit 4:
 * damaged, lightningdb(1)). */
static void expect_tool_refuses(const char *path)
{
    char dump[4200];
    snprintf(dump, sizeof dump, "%s.dump", path);
    FILE *f = fopen(dump, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "# lightningdb-dump 1\n6b31 7631\n# end: 1 entries\n");
    fclose(f);
    const char *stat_args[] = {"stat", path, NULL};
    const char *check_args[] = {"check", path, NULL};
    const char *dump_args[] = {"dump", path, NULL};
    const char *load_args[] = {"load", path, NULL};
    expect_tool_exit(NULL, 4, stat_args);
    expect_tool_exit(NULL, 4, check_args);
    expect_tool_exit(NULL, 4, dump_args);
    expect_tool_exit(dump, 4, load_args);
    unlink(dump);
}

/* A closed database of 4 KiB pages: 200 small entries and one value in an
 * overflow run under "big". Both meta pages hold the last checkpoint. */
static void make_db(const char *path)
{
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, 0);
    for (int i = 0; i < 200; i++) {
        char k[16], v[32];
        snprintf(k, sizeof k, "k%04d", i);
        snprintf(v, sizeof v, "value %d", i);
        tu_put_str(txn, LDB_MAIN, k, v);
    }
    uint8_t *big = tu_xmalloc(BIG_VALUE);
    tu_fill_pattern(big, BIG_VALUE, 7);
    tu_put_bytes(txn, LDB_MAIN, "big", 3, big, BIG_VALUE);
    free(big);
    TU_RC_OK(ldb_txn_commit(txn));
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
}

/* Rewrite meta page slot with edit applied, checksum resealed: a page that
 * passes every check a meta page alone can make. */
static void craft_meta(const char *path, unsigned slot, void (*edit)(struct meta_page *, void *),
                       void *arg)
{
    uint8_t image[LDB_META_BYTES];
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, image, sizeof image, (off_t)slot * PSIZE), (ssize_t)sizeof image);
    struct meta_page m;
    memcpy(&m, image, sizeof m);
    ck_assert_uint_eq(m.magic, LDB_MAGIC);
    edit(&m, arg);
    memcpy(image, &m, sizeof m);
    ldb__page_seal(image, sizeof image);
    ck_assert_int_eq(pwrite(fd, image, sizeof image, (off_t)slot * PSIZE), (ssize_t)sizeof image);
    close(fd);
}

static void craft_both_metas(const char *path, void (*edit)(struct meta_page *, void *), void *arg)
{
    craft_meta(path, 0, edit, arg);
    craft_meta(path, 1, edit, arg);
}

/* Every way in refuses the file: ldb_open (plain, read-only, immutable) and
 * the command. */
static void expect_open_corrupted(const char *path)
{
    ldb_env *env = NULL;
    ldb_options ro = {.flags = LDB_RDONLY}, imm = {.flags = LDB_IMMUTABLE};
    TU_RC_IS(ldb_open(path, NULL, &env), LDB_CORRUPTED);
    TU_RC_IS(ldb_open(path, &ro, &env), LDB_CORRUPTED);
    TU_RC_IS(ldb_open(path, &imm, &env), LDB_CORRUPTED);
    expect_tool_refuses(path);
}

/* ---- crafted meta pages and runs (bug 7) --------------------------------------- */

static void set_npages(struct meta_page *m, void *arg)
{
    m->npages = *(uint64_t *)arg;
}

/* npages * 4096 wraps to a few pages: the file-size check must not be
 * fooled into letting readers past the map. */
START_TEST(test_meta_npages_wraps)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    make_db(path);
    uint64_t counts[] = {(1ull << 52) + 3, (1ull << 52) + 1, UINT64_MAX, (1ull << 63) + 2};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        craft_both_metas(path, set_npages, &counts[i]);
        expect_open_corrupted(path);
    }
    tu_remove_dir(dir);
}
END_TEST

static void set_huge_root(struct meta_page *m, void *arg)
{
    (void)arg;
    m->npages = (1ull << 52) + 3;
    m->main_tree.root = (1ull << 52) + 2;
    m->main_tree.leaf_pages = UINT64_MAX;
    m->main_tree.entries = UINT64_MAX;
    m->free_tree.root = (1ull << 52) + 1;
}

/* Tree roots far past the file, made "valid" by a wrapped page count. */
START_TEST(test_meta_huge_roots)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    make_db(path);
    craft_both_metas(path, set_huge_root, NULL);
    expect_open_corrupted(path);
    tu_remove_dir(dir);
}
END_TEST

/* A page count just past what the file holds (no wrap): a truncated file. */
START_TEST(test_meta_npages_past_file)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    make_db(path);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    uint64_t n = (uint64_t)st.st_size / PSIZE + 1;
    craft_both_metas(path, set_npages, &n);
    expect_open_corrupted(path);
    tu_remove_dir(dir);
}
END_TEST

/* The first page of the overflow run holding "big". */
static uint64_t find_overflow_page(const uint8_t *file, size_t len)
{
    for (uint64_t p = 2; (p + 1) * PSIZE <= len; p++) {
        const struct page_header *h = (const void *)(file + p * PSIZE);
        if (ldb__le16(h->type) == PAGE_OVERFLOW && ldb__le64(h->pgno) == p)
            return p;
    }
    ck_abort_msg("no overflow run in the file");
    return 0;
}

/* Every call that reaches the run refuses it; the rest of the tree reads. */
static void expect_run_refused(const char *path)
{
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    ldb_val k = tu_str("big"), v;
    TU_RC_IS(ldb_get(txn, LDB_MAIN, &k, &v), LDB_CORRUPTED);
    tu_expect_str(txn, LDB_MAIN, "k0007", "value 7");
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(txn, LDB_MAIN, &cur));
    ldb_val ck = tu_str("big"), cv;
    TU_RC_IS(ldb_cursor_get(cur, &ck, &cv, LDB_SEEK_EXACT), LDB_CORRUPTED);
    int rc, n = 0;
    ck = tu_str("a");
    for (rc = ldb_cursor_get(cur, &ck, &cv, LDB_FIRST); rc == 0;
         rc = ldb_cursor_get(cur, &ck, &cv, LDB_NEXT))
        n++;
    TU_RC_IS(rc, LDB_CORRUPTED); /* "big" sorts first */
    ldb_cursor_close(cur);
    ldb_txn_abort(txn);
    TU_RC_IS(ldb_check(env, NULL), LDB_CORRUPTED);
    txn = tu_begin(env, 0);
    TU_RC_IS(ldb_del(txn, LDB_MAIN, &k), LDB_CORRUPTED);
    ldb_txn_abort(txn);
    TU_RC_OK(ldb_close(env));
    const char *check_args[] = {"check", path, NULL};
    const char *dump_args[] = {"dump", path, NULL};
    expect_tool_exit(NULL, 4, check_args);
    expect_tool_exit(NULL, 4, dump_args);
}

/* A headed overflow run (formats 1..3; the test hook writes one) whose
 * page count reaches past the file, up to one whose byte length is as
 * large as the 32-bit count allows. (Bare runs of format 4 have no count:
 * check_runs crafts their extent.) */
START_TEST(test_overflow_run_too_long)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb__btree_headed_runs = 1;
    make_db(path);
    ldb__btree_headed_runs = 0;
    size_t len;
    uint8_t *file = tu_read_file(path, &len);
    uint64_t ov = find_overflow_page(file, len);
    uint32_t counts[] = {UINT32_MAX, 0x80000000u, 0x00100001u, (uint32_t)(len / PSIZE - ov + 1)};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        struct page_header h;
        memcpy(&h, file + ov * PSIZE, sizeof h);
        h.aux = ldb__to_le32(counts[i]);
        tu_write_at(path, &h, sizeof h, ov * PSIZE);
        expect_run_refused(path);
    }
    free(file);
    tu_remove_dir(dir);
}
END_TEST

/* Another process's lock file publishes a snapshot whose page count wraps:
 * a new read txn refuses it instead of reading past the map. */
START_TEST(test_lock_snapshot_wraps)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    make_db(path);
    ldb_env *env = tu_open(path, NULL);
    struct ldb__snapshot snap;
    TU_RC_OK(ldb__lock_read_published(&env->lock, &snap));
    struct ldb__snapshot bad = snap;
    bad.txnid++;
    bad.npages = (1ull << 52) + 3;
    TU_RC_OK(ldb__lock_publish_newer(&env->lock, &bad));
    ldb_txn *txn = NULL;
    TU_RC_IS(ldb_txn_begin(env, LDB_TXN_RDONLY, &txn), LDB_CORRUPTED);
    struct ldb__commit_state cs;
    TU_RC_OK(ldb__lock_state_read(&env->lock, &cs));
    cs.snap.npages = (1ull << 52) + 3;
    TU_RC_OK(ldb__lock_state_write(&env->lock, &cs));
    TU_RC_IS(ldb_txn_begin(env, 0, &txn), LDB_CORRUPTED);
    /* Left as it was, the shared state serves again. */
    cs.snap.npages = snap.npages;
    TU_RC_OK(ldb__lock_state_write(&env->lock, &cs));
    bad.npages = snap.npages;
    bad.txnid++;
    TU_RC_OK(ldb__lock_publish_newer(&env->lock, &bad));
    (void)ldb_close(env); /* its checkpoint may see the bumped ids: no matter */
    tu_remove_dir(dir);
}
END_TEST

/* In a child (a hang is killed and reported), a process attaching to the
 * database: its open, or else its first read txn, must refuse a lock file
 * whose published snapshot cannot be read consistently. */
static void expect_snapshot_refused(const char *path)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        ldb_env *env = NULL;
        ldb_txn *txn = NULL;
        int rc = ldb_open(path, NULL, &env);
        if (rc == 0)
            rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
        _exit(rc == LDB_CORRUPTED ? 0 : 1);
    }
    int status = tu_wait_child(pid, 20, "reader on a damaged lock file");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "a read txn did not report the damaged lock file");
}

/* A damaged lock file whose published id names a snapshot buffer holding
 * another txn, or a buffer left "being written" forever: readers answer
 * LDB_CORRUPTED in bounded time instead of spinning forever (the seqlock
 * retry found by fuzz_lock). */
START_TEST(test_lock_snapshot_inconsistent)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    make_db(path);
    ldb_env *env = tu_open(path, NULL);
    struct ldb__lock_header *h = env->lock.hdr;
    uint64_t id = h->published_txnid;
    struct ldb__snapshot_buffer *b = &h->snaps[id & 1];

    ldb_txn *txn = NULL;
    b->snap.txnid = id + 2; /* names another txn */
    expect_snapshot_refused(path);
    TU_RC_IS(ldb_txn_begin(env, LDB_TXN_RDONLY, &txn), LDB_CORRUPTED);
    b->snap.txnid = id;
    b->seq |= 1; /* being written, by no one */
    expect_snapshot_refused(path);
    TU_RC_IS(ldb_txn_begin(env, LDB_TXN_RDONLY, &txn), LDB_CORRUPTED);
    b->seq++;

    /* Repaired, it serves again, and the data is whole. */
    TU_RC_OK(ldb_txn_begin(env, LDB_TXN_RDONLY, &txn));
    ldb_txn_abort(txn);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

#ifdef __GLIBC__
/* A child process that opens the database, begins a write txn and commits
 * it; it exits 0 when that gives want (0: it commits one). */
static pid_t start_writer(const char *path, int want)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        ldb_env *env = NULL;
        ldb_txn *txn = NULL;
        int rc = ldb_open(path, NULL, &env);
        if (rc == 0)
            rc = ldb_txn_begin(env, 0, &txn);
        if (rc == 0)
            rc = ldb_txn_commit(txn);
        _exit(rc == want ? 0 : 1);
    }
    return pid;
}

/* Wait for start_writer's child (a hang is killed and reported). */
static void wait_writer(pid_t pid, int want, const char *what)
{
    int status = tu_wait_child(pid, 20, what);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: not %d", what, want);
}

static void expect_writer_gets(const char *path, int want, const char *what)
{
    wait_writer(start_writer(path, want), want, what);
}

/* A live process that has no file of ours open. */
static pid_t start_bystander(void)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        pause();
        _exit(0);
    }
    return pid;
}

static pid_t dead_pid(void)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return pid;
}

/* A damaged lock file held open by another process (here, this one): a
 * mutex whose type was overwritten, or whose lock word names a dead thread
 * or one of a process without the lock file open, can never be released.
 * Openers and writers answer LDB_CORRUPTED in bounded time instead of
 * waiting forever (the hang fuzz_lock found: test/fuzz/corpus/lock/mutex-hang). A live
 * holder is still waited for. */
START_TEST(test_lock_mutex_damaged)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    make_db(path);
    ldb_env *env = tu_open(path, NULL);
    struct ldb__lock_header *h = env->lock.hdr;
    pthread_mutex_t saved = h->state_mutex;

    /* Turned plain, locked with waiters: the fuzz reproducer's shape. */
    h->state_mutex.__data.__kind = 0;
    h->state_mutex.__data.__lock = 2;
    expect_writer_gets(path, LDB_CORRUPTED, "opener of a lock file with a plain mutex");
    ldb_txn *txn = NULL;
    TU_RC_IS(ldb_txn_begin(env, 0, &txn), LDB_CORRUPTED);
    h->state_mutex = saved;

    pid_t bystander = start_bystander();
    saved = h->writer_mutex;
    h->writer_mutex.__data.__lock = (int)bystander;
    expect_writer_gets(path, LDB_CORRUPTED, "writer on a mutex a bystander holds");
    h->writer_mutex.__data.__lock = (int)dead_pid();
    expect_writer_gets(path, LDB_CORRUPTED, "writer on a mutex a dead thread holds");
    h->writer_mutex = saved;
    kill(bystander, SIGKILL);
    waitpid(bystander, NULL, 0);

    /* A live holder with the file open: waited for over several slices. */
    TU_RC_OK(ldb_txn_begin(env, 0, &txn));
    pid_t pid = start_writer(path, 0);
    usleep(1200 * 1000);
    TU_RC_OK(ldb_txn_commit(txn));
    wait_writer(pid, 0, "writer behind a live holder");
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST
#endif

/* ---- side files and the data file's kind (bugs 8, 10) ------------------------ */

#define PRECIOUS "a file some other program owns; it must not change\n"

/* A file standing for someone else's (e.g. a root-owned one). */
static void make_victim(const char *path)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(PRECIOUS, f);
    fclose(f);
}

static void expect_victim_intact(const char *path)
{
    size_t len;
    uint8_t *b = tu_read_file(path, &len);
    TU_REQUIRE(len == strlen(PRECIOUS) && memcmp(b, PRECIOUS, len) == 0,
               "%s was changed through a side file (now %zu bytes)", path, len);
    free(b);
}

static void side_path(char *out, size_t n, const char *path, const char *suffix)
{
    snprintf(out, n, "%s%s", path, suffix);
}

/* Open with flags in a child (so a hang is caught); returns ldb_open's code. */
static int open_in_child(const char *path, unsigned flags)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        ldb_options o = {.flags = flags};
        ldb_env *env = NULL;
        int rc = ldb_open(path, &o, &env);
        if (rc == 0)
            rc = ldb_close(env);
        ssize_t w = write(fds[1], &rc, sizeof rc);
        _exit(w == (ssize_t)sizeof rc ? 0 : 1);
    }
    close(fds[1]);
    int st = tu_wait_child(pid, 20, "ldb_open");
    int rc = 1;
    ssize_t r = read(fds[0], &rc, sizeof rc);
    close(fds[0]);
    TU_REQUIRE(WIFEXITED(st) && WEXITSTATUS(st) == 0 && r == (ssize_t)sizeof rc,
               "ldb_open child died (status %d)", st);
    return rc;
}

/* The lock file is a symbolic link to someone else's file: every open
 * refuses it with -ELOOP, and the file it names keeps its bytes. */
START_TEST(test_lock_symlink_refused)
{
    char dir[4096], path[4200], lock[4300], victim[4300];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    make_db(path);
    side_path(lock, sizeof lock, path, "-lock");
    side_path(victim, sizeof victim, dir, "/victim");
    make_victim(victim);
    ck_assert_int_eq(unlink(lock), 0);
    ck_assert_int_eq(symlink(victim, lock), 0);
    TU_RC_IS(open_in_child(path, LDB_RDONLY), -ELOOP);
    TU_RC_IS(open_in_child(path, 0), -ELOOP);
    const char *stat_args[] = {"stat", path, NULL};
    const char *cp_args[] = {"checkpoint", path, NULL};
    expect_tool_exit(NULL, 3, stat_args);
    expect_tool_exit(NULL, 3, cp_args);
    expect_victim_intact(victim);
    /* A dangling link is not followed to create its target either. */
    char ghost[4300];
    side_path(ghost, sizeof ghost, dir, "/ghost");
    ck_assert_int_eq(unlink(lock), 0);
    ck_assert_int_eq(symlink(ghost, lock), 0);
    TU_RC_IS(open_in_child(path, 0), -ELOOP);
    TU_REQUIRE(access(ghost, F_OK) != 0, "the link's target was created");
    /* Put right, the database opens. */
    ck_assert_int_eq(unlink(lock), 0);
    ldb_env *env = tu_open(path, NULL);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* The log is a symbolic link: a writable open (and checkpoint) would
 * truncate its target; a read-only open would read it. All refuse. */
START_TEST(test_wal_symlink_refused)
{
    char dir[4096], path[4200], wal[4300], victim[4300];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    make_db(path);
    side_path(wal, sizeof wal, path, "-wal");
    side_path(victim, sizeof victim, dir, "/victim");
    make_victim(victim);
    unlink(wal);
    ck_assert_int_eq(symlink(victim, wal), 0);
    TU_RC_IS(open_in_child(path, 0), -ELOOP);
    TU_RC_IS(open_in_child(path, LDB_RDONLY), -ELOOP);
    const char *cp_args[] = {"checkpoint", path, NULL};
    const char *load_args[] = {"load", path, NULL};
    const char *stat_args[] = {"stat", path, NULL};
    expect_tool_exit(NULL, 3, cp_args);
    expect_tool_exit(NULL, 3, load_args);
    expect_tool_exit(NULL, 3, stat_args);
    expect_victim_intact(victim);
    ck_assert_int_eq(unlink(wal), 0);
    ldb_env *env = tu_open(path, NULL);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* Side files that are not regular files (a FIFO would also block a
 * read-only open of the log), hard links to another file, and files of
 * another owner: refused, each with its own code, nothing changed. */
START_TEST(test_side_file_kinds_refused)
{
    char dir[4096], path[4200], lock[4300], wal[4300], victim[4300];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    make_db(path);
    side_path(lock, sizeof lock, path, "-lock");
    side_path(wal, sizeof wal, path, "-wal");
    side_path(victim, sizeof victim, dir, "/victim");
    make_victim(victim);

    ck_assert_int_eq(unlink(lock), 0);
    ck_assert_int_eq(mkfifo(lock, 0600), 0);
    TU_RC_IS(open_in_child(path, LDB_RDONLY), LDB_INVALID);
    TU_RC_IS(open_in_child(path, 0), LDB_INVALID);
    ck_assert_int_eq(unlink(lock), 0);
    ck_assert_int_eq(mkdir(lock, 0700), 0);
    TU_RC_IS(open_in_child(path, 0), LDB_INVALID);
    ck_assert_int_eq(rmdir(lock), 0);

    unlink(wal);
    ck_assert_int_eq(mkfifo(wal, 0600), 0);
    TU_RC_IS(open_in_child(path, LDB_RDONLY), LDB_INVALID);
    TU_RC_IS(open_in_child(path, 0), LDB_INVALID);
    ck_assert_int_eq(unlink(wal), 0);

    /* A hard link to a file of the same owner (the data file's). */
    unlink(lock);
    ck_assert_int_eq(link(victim, lock), 0);
    TU_RC_IS(open_in_child(path, LDB_RDONLY), -EMLINK);
    ck_assert_int_eq(unlink(lock), 0);
    ck_assert_int_eq(link(victim, wal), 0);
    TU_RC_IS(open_in_child(path, 0), -EMLINK);
    ck_assert_int_eq(unlink(wal), 0);
    expect_victim_intact(victim);

    if (geteuid() == 0) {
        /* Another user's file in the side file's place. */
        unlink(lock);
        make_victim(lock);
        ck_assert_int_eq(chown(lock, 4321, 4321), 0);
        TU_RC_IS(open_in_child(path, LDB_RDONLY), -EPERM);
        expect_victim_intact(lock);
        ck_assert_int_eq(unlink(lock), 0);
        make_victim(wal);
        ck_assert_int_eq(chown(wal, 4321, 4321), 0);
        TU_RC_IS(open_in_child(path, 0), -EPERM);
        expect_victim_intact(wal);
        ck_assert_int_eq(unlink(wal), 0);
    } else {
        fprintf(stderr, "test_side_file_kinds_refused: not root, owner check not exercised\n");
    }
    ldb_env *env = tu_open(path, NULL);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* A path that names a FIFO, a directory or a device is not a database: the
 * open refuses it at once (a FIFO opened read-only used to block forever)
 * and leaves no "<path>-lock" or "<path>-wal" behind. */
START_TEST(test_data_file_not_regular)
{
    char dir[4096], path[4200], lock[4300], wal[4300];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    side_path(lock, sizeof lock, path, "-lock");
    side_path(wal, sizeof wal, path, "-wal");
    for (int kind = 0; kind < 3; kind++) {
        if (kind == 0)
            ck_assert_int_eq(mkfifo(path, 0600), 0);
        else if (kind == 1)
            ck_assert_int_eq(mkdir(path, 0700), 0);
        else
            ck_assert_int_eq(symlink("/dev/null", path), 0); /* the device, by a link */
        unsigned flags[] = {LDB_RDONLY, 0, LDB_NOCREATE, LDB_IMMUTABLE};
        for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
            int rc = open_in_child(path, flags[i]);
            TU_REQUIRE(rc == LDB_INVALID, "kind %d flags %u: ldb_open -> %d (%s)", kind,
                       flags[i], rc, ldb_strerror(rc));
            TU_REQUIRE(access(lock, F_OK) != 0 && access(wal, F_OK) != 0,
                       "kind %d flags %u: a side file was left beside it", kind, flags[i]);
        }
        const char *stat_args[] = {"stat", path, NULL};
        expect_tool_exit(NULL, 3, stat_args);
        TU_REQUIRE(access(lock, F_OK) != 0, "the command left a lock file");
        if (kind == 1)
            ck_assert_int_eq(rmdir(path), 0);
        else
            ck_assert_int_eq(unlink(path), 0);
    }
    tu_remove_dir(dir);
}
END_TEST

/* Side files created for an existing database take the data file's
 * permission bits (a log beside a 0600 file must not be 0644); file_mode
 * applies to a data file the open creates, masked by the umask. */
START_TEST(test_file_modes)
{
    char dir[4096], path[4200], lock[4300], wal[4300];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    side_path(lock, sizeof lock, path, "-lock");
    side_path(wal, sizeof wal, path, "-wal");
    struct stat st;
    mode_t old = umask(027);
    ldb_options o = {.file_mode = 0666};
    ldb_env *env = tu_open(path, &o);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0640);
    ck_assert_int_eq(stat(lock, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0640);
    ck_assert_int_eq(stat(wal, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0640);
    TU_RC_OK(ldb_close(env));

    umask(0);
    ck_assert_int_eq(chmod(path, 0600), 0);
    ck_assert_int_eq(unlink(lock), 0);
    ck_assert_int_eq(unlink(wal), 0);
    env = tu_open(path, NULL); /* file_mode 0 = 0644: not for an existing file */
    ck_assert_int_eq(stat(lock, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(stat(wal, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ldb_txn *txn = tu_begin(env, 0);
    tu_put_str(txn, LDB_MAIN, "k", "v");
    TU_RC_OK(ldb_txn_commit(txn));
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));

    char other[4300];
    side_path(other, sizeof other, dir, "/exact");
    o.file_mode = 0604;
    env = tu_open(other, &o);
    ck_assert_int_eq(stat(other, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0604); /* umask 0: exactly file_mode */
    TU_RC_OK(ldb_close(env));
    umask(old);
    tu_remove_dir(dir);
}
END_TEST

static void write_zeros(const char *path, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    if (n) {
        uint8_t *z = calloc(1, n);
        ck_assert_int_eq(write(fd, z, n), (ssize_t)n);
        free(z);
    }
    close(fd);
}

static void expect_zeros_untouched(const char *path, size_t n)
{
    size_t len;
    uint8_t *b = tu_read_file(path, &len);
    ck_assert_uint_eq(len, n);
    for (size_t i = 0; i < len; i++)
        TU_REQUIRE(b[i] == 0, "byte %zu of the refused file was written", i);
    free(b);
}

/* Pages of zeros are someone's file, not a database this open may create:
 * refused with LDB_CORRUPTED and left as they were. Only a file this open
 * created, an empty one, or what a creation that died leaves (at most a
 * meta page's worth of zeros beside its lock file, or meta 0 alone) is
 * (re)initialised. */
START_TEST(test_zero_file_refused)
{
    char dir[4096], path[4200], lock[4300];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    side_path(lock, sizeof lock, path, "-lock");
    size_t sizes[] = {8192, 4096, 65536, 131072, 1 << 20, 512};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        write_zeros(path, sizes[i]);
        unlink(lock);
        ldb_env *env = NULL;
        TU_RC_IS(ldb_open(path, NULL, &env), LDB_CORRUPTED);
        expect_zeros_untouched(path, sizes[i]);
        const char *load_args[] = {"load", path, NULL};
        expect_tool_exit(NULL, 4, load_args);
        expect_zeros_untouched(path, sizes[i]);
    }
    /* A creation that died after the size reached the disk, before its meta
     * page did: 512 zeros beside the lock file's creation mark are ours. */
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    struct {
        uint64_t magic, dev, ino;
    } mark = {0x4145524342444C4CULL, (uint64_t)st.st_dev, (uint64_t)st.st_ino};
    int lfd = open(lock, O_RDWR | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(lfd, 0);
    ck_assert_int_eq(write(lfd, &mark, sizeof mark), (ssize_t)sizeof mark);
    close(lfd);
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, 0);
    tu_put_str(txn, LDB_MAIN, "k", "v");
    TU_RC_OK(ldb_txn_commit(txn));
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    /* But 8 KiB of zeros are not a creation of ours, mark or not. */
    write_zeros(path, 8192);
    ck_assert_int_eq(stat(path, &st), 0);
    mark.ino = (uint64_t)st.st_ino;
    lfd = open(lock, O_RDWR | O_TRUNC);
    ck_assert_int_ge(lfd, 0);
    ck_assert_int_eq(write(lfd, &mark, sizeof mark), (ssize_t)sizeof mark);
    close(lfd);
    TU_RC_IS(ldb_open(path, NULL, &env), LDB_CORRUPTED);
    expect_zeros_untouched(path, 8192);
    /* Meta 0 alone, synced, the file not yet grown: created again. */
    write_zeros(path, 0);
    env = tu_open(path, NULL);
    TU_RC_OK(ldb_close(env));
    size_t len;
    uint8_t *b = tu_read_file(path, &len);
    write_zeros(path, 0);
    tu_write_at(path, b, LDB_META_BYTES, 0);
    free(b);
    env = tu_open(path, NULL);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    /* An empty file is a database not yet begun. */
    write_zeros(path, 0);
    unlink(lock);
    env = tu_open(path, NULL);
    txn = tu_begin(env, 0);
    tu_put_str(txn, LDB_MAIN, "k", "v");
    TU_RC_OK(ldb_txn_commit(txn));
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* A regular file that holds no database (text, random bytes, a file too
 * short for a meta page) is refused with LDB_CORRUPTED before anything is
 * made beside it, under every open mode, and is left as it was. */
START_TEST(test_foreign_file_refused)
{
    char dir[4096], path[4200], lock[4300], wal[4300];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    side_path(lock, sizeof lock, path, "-lock");
    side_path(wal, sizeof wal, path, "-wal");
    uint8_t *content = tu_xmalloc(20000);
    for (size_t i = 0; i < 20000; i++)
        content[i] = (uint8_t)"not a database; "[i % 16];
    size_t sizes[] = {20000, 4096, 29};
    for (int kind = 0; kind < 3; kind++) {
        if (kind == 1)
            tu_fill_pattern(content, sizes[kind], 77);
        write_zeros(path, 0);
        tu_write_at(path, content, sizes[kind], 0);
        unsigned flags[] = {0, LDB_RDONLY, LDB_NOCREATE, LDB_IMMUTABLE};
        for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
            int rc = open_in_child(path, flags[i]);
            TU_REQUIRE(rc == LDB_CORRUPTED, "kind %d flags %u: ldb_open -> %d (%s)", kind,
                       flags[i], rc, ldb_strerror(rc));
            TU_REQUIRE(access(lock, F_OK) != 0 && access(wal, F_OK) != 0,
                       "kind %d flags %u: a side file was left beside it", kind, flags[i]);
        }
        size_t len;
        uint8_t *b = tu_read_file(path, &len);
        ck_assert_uint_eq(len, sizes[kind]);
        ck_assert_int_eq(memcmp(b, content, len), 0);
        free(b);
    }
    free(content);
    tu_remove_dir(dir);
}
END_TEST

/* ---- ldb_check and the meta pages (bug 10) ------------------------------------ */

static char *check_report(ldb_env *env, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    *rc = ldb_check(env, f);
    fclose(f);
    return buf;
}

/* One meta page damaged: the database opens and reads from the other, but
 * ldb_check reports the damage (LDB_CORRUPTED) and so does the command. A
 * database never checkpointed has meta 1 all zeros: not a finding. */
START_TEST(test_check_reports_damaged_meta)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_env *env = tu_open(path, NULL);
    int rc;
    char *rep = check_report(env, &rc);
    TU_REQUIRE(rc == 0, "fresh database: ldb_check %d: %s", rc, rep);
    free(rep);
    TU_RC_OK(ldb_close(env));
    make_db(path);
    size_t len;
    uint8_t *orig = tu_read_file(path, &len);
    for (unsigned slot = 0; slot < 2; slot++) {
        tu_write_at(path, orig, len, 0);
        uint8_t b = orig[slot * PSIZE + 100] ^ 0x40;
        tu_write_at(path, &b, 1, slot * PSIZE + 100);
        env = tu_open(path, NULL);
        ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
        tu_expect_str(txn, LDB_MAIN, "k0042", "value 42");
        ldb_txn_abort(txn);
        rep = check_report(env, &rc);
        TU_RC_IS(rc, LDB_CORRUPTED);
        char want[64];
        snprintf(want, sizeof want, "meta page %u is damaged", slot);
        TU_REQUIRE(strstr(rep, want) != NULL, "report does not say '%s': %s", want, rep);
        free(rep);
        TU_RC_OK(ldb_close(env));
        const char *check_args[] = {"check", path, NULL};
        expect_tool_exit(NULL, 4, check_args);
    }
    /* A meta page resealed but naming more pages than the file holds. */
    tu_write_at(path, orig, len, 0);
    uint64_t n = len / PSIZE + 5;
    craft_meta(path, 1, set_npages, &n);
    env = tu_open(path, NULL);
    rep = check_report(env, &rc);
    TU_RC_IS(rc, LDB_CORRUPTED);
    TU_REQUIRE(strstr(rep, "meta page 1 is damaged") != NULL, "report: %s", rep);
    free(rep);
    TU_RC_OK(ldb_close(env));
    /* Whole again: clean. */
    tu_write_at(path, orig, len, 0);
    env = tu_open(path, NULL);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(orig);
    tu_remove_dir(dir);
}
END_TEST

/* ---- load's input (bug 10) ---------------------------------------------------- */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Run load on text; returns its exit code, and its stderr in err. */
static int load_text(const char *path, const char *text, char *err, size_t errcap)
{
    char in[4300], errpath[4300];
    snprintf(in, sizeof in, "%s.in", path);
    snprintf(errpath, sizeof errpath, "%s.err", path);
    write_text(in, text);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int i = open(in, O_RDONLY), o = open("/dev/null", O_WRONLY),
            e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (i < 0 || o < 0 || e < 0)
            _exit(127);
        dup2(i, 0);
        dup2(o, 1);
        dup2(e, 2);
        execl(LDB_TOOL, LDB_TOOL, "load", path, (char *)NULL);
        _exit(127);
    }
    int st = tu_wait_child(pid, 60, "load");
    TU_REQUIRE(WIFEXITED(st), "load died of signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    size_t len;
    uint8_t *b = tu_read_file(errpath, &len);
    snprintf(err, errcap, "%.*s", (int)len, (const char *)b);
    free(b);
    unlink(in);
    unlink(errpath);
    return WEXITSTATUS(st);
}

static void expect_load_refused(const char *path, const char *text, const char *line_tag)
{
    char err[4096];
    int code = load_text(path, text, err, sizeof err);
    TU_REQUIRE(code == 1, "load accepted (exit %d):\n%s", code, text);
    TU_REQUIRE(strstr(err, line_tag) != NULL, "load's error does not name %s: %s", line_tag, err);
}

#define HDR "# lightningdb-dump 1\n# tree: main\n"

/* Strict dump input: a truncated dump followed by a whole one, a signed or
 * otherwise malformed trailer count, data after the trailer and a missing
 * trailer are each refused, with the line named. */
START_TEST(test_load_strict)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    expect_load_refused(path, HDR "6131 7631\n6132 7632\n" HDR "6133 7633\n# end: 1 entries\n",
                        "stdin:5:");
    expect_load_refused(path, HDR "6131 7631\n# end: -18446744073709551615 entries\n",
                        "stdin:4:");
    expect_load_refused(path, HDR "6131 7631\n# end: +1 entries\n", "stdin:4:");
    expect_load_refused(path, HDR "6131 7631\n# end:  1 entries\n", "stdin:4:");
    expect_load_refused(path, HDR "6131 7631\n# end: 1 entries junk\n", "stdin:4:");
    expect_load_refused(path, HDR "6131 7631\n# end: 1\n", "stdin:4:");
    expect_load_refused(path, HDR "6131 7631\n# end: 18446744073709551617 entries\n",
                        "stdin:4:");
    expect_load_refused(path, HDR "6131 7631\n# end: 1 entries\n6132 7632\n", "stdin:5:");
    expect_load_refused(path, HDR "6131 7631\n# end: 1 entries\n" HDR "6132 7632\n# end: 1 entries\n",
                        "stdin:5:");
    expect_load_refused(path, HDR "6131 7631\n6132 7632\n", "trailer");
    expect_load_refused(path, "# lightningdb-dump -1\n6131 7631\n", "stdin:1:");
    /* What dump writes loads; so does a hand-written list. */
    char err[4096];
    TU_REQUIRE(load_text(path, HDR "6131 7631\n6132 -\n# end: 2 entries\n\n", err, sizeof err) == 0,
               "a whole dump was refused: %s", err);
    TU_REQUIRE(load_text(path, "6133 7633\n", err, sizeof err) == 0, "hand-written: %s", err);
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_str(txn, LDB_MAIN, "a1", "v1");
    tu_expect_str(txn, LDB_MAIN, "a2", "");
    tu_expect_str(txn, LDB_MAIN, "a3", "v3");
    ldb_txn_abort(txn);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    tu_remove_dir(dir);
}
END_TEST

/* ---- an env with a smaller max_size (bug 10) ------------------------------------ */

/* Another env (here in the same process, as another process would) grows
 * the file far past this env's max_size: this env's readers see everything,
 * its writers may delete and reuse the file's pages, and only growing the
 * file past its own max_size gives LDB_FULL. */
START_TEST(test_small_max_size_env)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    ldb_options small = {.max_size = 1u << 20};
    ldb_env *s = tu_open(path, &small);
    ldb_env *big = tu_open(path, NULL);
    uint8_t v[1000];
    for (int round = 0; round < 8; round++) {
        ldb_txn *txn = tu_begin(big, 0);
        for (int i = 0; i < 1000; i++) {
            char k[32];
            snprintf(k, sizeof k, "r%d-%04d", round, i);
            tu_fill_pattern(v, sizeof v, (uint64_t)round * 1000 + (uint64_t)i);
            tu_put_bytes(txn, LDB_MAIN, k, strlen(k), v, sizeof v);
        }
        TU_RC_OK(ldb_txn_commit(txn));
    }
    ldb_stat st = tu_env_stat(big);
    TU_REQUIRE(st.file_size > 4 * small.max_size, "file only %llu bytes",
               (unsigned long long)st.file_size);
    ldb_txn *r = NULL;
    TU_RC_OK(ldb_txn_begin(s, LDB_TXN_RDONLY, &r));
    tu_fill_pattern(v, sizeof v, 7 * 1000 + 999);
    tu_expect_bytes(r, LDB_MAIN, "r7-0999", 7, v, sizeof v);
    ldb_cursor *cur;
    TU_RC_OK(ldb_cursor_open(r, LDB_MAIN, &cur));
    ldb_val ck, cv;
    int n = 0, rc;
    while ((rc = ldb_cursor_get(cur, &ck, &cv, LDB_NEXT)) == 0)
        n++;
    TU_RC_IS(rc, LDB_NOTFOUND);
    ck_assert_int_eq(n, 8000);
    ldb_cursor_close(cur);
    ldb_txn_abort(r);
    ldb_txn *w = tu_begin(s, 0);
    for (int i = 0; i < 1000; i++) {
        char k[32];
        snprintf(k, sizeof k, "r0-%04d", i);
        ldb_val key = tu_str(k);
        TU_RC_OK(ldb_del(w, LDB_MAIN, &key));
    }
    TU_RC_OK(ldb_txn_commit(w));
    /* Growing the file is still bounded by this env's max_size. */
    w = tu_begin(s, 0);
    uint8_t *huge = tu_xmalloc((size_t)st.file_size);
    memset(huge, 'x', (size_t)st.file_size);
    ldb_val hk = tu_str("huge"), hv = {(size_t)st.file_size, huge};
    rc = ldb_put(w, LDB_MAIN, &hk, &hv, 0);
    if (rc == 0)
        rc = ldb_txn_commit(w);
    else
        ldb_txn_abort(w);
    TU_RC_IS(rc, LDB_FULL);
    free(huge);
    r = tu_begin(big, LDB_TXN_RDONLY);
    tu_expect_absent(r, LDB_MAIN, "r0-0000");
    tu_fill_pattern(v, sizeof v, 1000);
    tu_expect_bytes(r, LDB_MAIN, "r1-0000", 7, v, sizeof v);
    ldb_txn_abort(r);
    tu_check_env(s);
    tu_check_env(big);
    TU_RC_OK(ldb_close(s));
    TU_RC_OK(ldb_close(big));
    tu_remove_dir(dir);
}
END_TEST

/* ---- values up to the stated maximum (bug 10) --------------------------------- */

#ifdef LDB_TEST_HOOKS
/* Every read and write of the os layer moving at most a few bytes per
 * system call (as Linux moves at most 0x7ffff000): a value's run, the log
 * and the meta pages still go whole to the file and back. */
START_TEST(test_io_in_small_calls)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    const size_t big = (3u << 20) + 123;
    uint8_t *vb = tu_xmalloc(big);
    tu_fill_pattern(vb, big, 99);
    ldb__os_io_cap_set(4093);
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, 0);
    tu_put_bytes(txn, LDB_MAIN, "big", 3, vb, big);
    tu_put_str(txn, LDB_MAIN, "small", "logged");
    TU_RC_OK(ldb_txn_commit(txn));
    txn = tu_begin(env, 0);
    tu_put_str(txn, LDB_MAIN, "again", "in the log");
    TU_RC_OK(ldb_txn_commit(txn));
    TU_RC_OK(ldb_close(env));
    env = tu_open(path, NULL);
    txn = tu_begin(env, LDB_TXN_RDONLY);
    tu_expect_bytes(txn, LDB_MAIN, "big", 3, vb, big);
    tu_expect_str(txn, LDB_MAIN, "again", "in the log");
    ldb_txn_abort(txn);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    ldb__os_io_cap_set(0);
    free(vb);
    tu_remove_dir(dir);
}
END_TEST
#endif

/* The header's stated maximum, 2 GiB, is a value that takes more than one
 * pwrite/pread (Linux moves at most 0x7ffff000 bytes per call): it is
 * stored and read back whole; one byte more is LDB_TOOBIG. Slow (2 GiB
 * written and synced: minutes on a busy machine); skipped without 8 GiB of
 * free memory or with LDB_TEST_QUICK set. */
START_TEST(test_value_2gib)
{
    long pages = sysconf(_SC_AVPHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psz > 0 && (uint64_t)pages * (uint64_t)psz < (8ull << 30)) {
        fprintf(stderr, "test_value_2gib: skipped, less than 8 GiB of free memory\n");
        return;
    }
    if (getenv("LDB_TEST_QUICK") != NULL) {
        fprintf(stderr, "test_value_2gib: skipped (LDB_TEST_QUICK)\n");
        return;
    }
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    const size_t max = (size_t)1 << 31;
    uint8_t *vb = tu_xmalloc(max + 1);
    tu_fill_pattern(vb, max + 1, 2);
    ldb_env *env = tu_open(path, NULL);
    ldb_txn *txn = tu_begin(env, 0);
    ldb_val k = tu_str("max"), v = {max + 1, vb};
    TU_RC_IS(ldb_put(txn, LDB_MAIN, &k, &v, 0), LDB_TOOBIG);
    v.size = max;
    TU_RC_OK(ldb_put(txn, LDB_MAIN, &k, &v, 0));
    TU_RC_OK(ldb_txn_commit(txn));
    TU_RC_OK(ldb_close(env));
    env = tu_open(path, NULL);
    txn = tu_begin(env, LDB_TXN_RDONLY);
    ldb_val out;
    TU_RC_OK(ldb_get(txn, LDB_MAIN, &k, &out));
    TU_REQUIRE(out.size == max && memcmp(out.data, vb, max) == 0, "2 GiB value read back wrong");
    ldb_txn_abort(txn);
    tu_check_env(env);
    TU_RC_OK(ldb_close(env));
    free(vb);
    tu_remove_dir(dir);
}
END_TEST

static Suite *hostile_suite(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("crafted");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_meta_npages_wraps);
    tcase_add_test(tc, test_meta_huge_roots);
    tcase_add_test(tc, test_meta_npages_past_file);
    tcase_add_test(tc, test_overflow_run_too_long);
    tcase_add_test(tc, test_lock_snapshot_wraps);
    tcase_add_test(tc, test_lock_snapshot_inconsistent);
#ifdef __GLIBC__
    tcase_add_test(tc, test_lock_mutex_damaged);
#endif
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_lock_symlink_refused);
    tcase_add_test(tc, test_wal_symlink_refused);
    tcase_add_test(tc, test_side_file_kinds_refused);
    tcase_add_test(tc, test_data_file_not_regular);
    tcase_add_test(tc, test_foreign_file_refused);
    tcase_add_test(tc, test_file_modes);
    tcase_add_test(tc, test_zero_file_refused);
    tcase_add_test(tc, test_check_reports_damaged_meta);
    tcase_add_test(tc, test_load_strict);
    tcase_add_test(tc, test_small_max_size_env);
#ifdef LDB_TEST_HOOKS
    tcase_add_test(tc, test_io_in_small_calls);
#endif
    suite_add_tcase(s, tc);
    /* Slow: 2 GiB written, synced and read back. */
    tc = tcase_create("big");
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, test_value_2gib);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {hostile_suite()};
    return tu_run_suites(suites, 1);
}
