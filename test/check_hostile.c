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
 *    cursors, del and ldb_check; `lightningdb dump/check/stat/load` exit 1.
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

#include "format.h"
#include "handle.h"
#include "lock.h"
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

/* The read-only subcommands and load all refuse the database (exit 1). */
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
    expect_tool_exit(NULL, 1, stat_args);
    expect_tool_exit(NULL, 1, check_args);
    expect_tool_exit(NULL, 1, dump_args);
    expect_tool_exit(dump, 1, load_args);
    unlink(dump);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    uint8_t *b = tu_xmalloc((size_t)st.st_size + 1);
    ck_assert_int_eq(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
    close(fd);
    *len = (size_t)st.st_size;
    return b;
}

static void write_at(const char *path, const void *b, size_t len, uint64_t off)
{
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, b, len, (off_t)off), (ssize_t)len);
    close(fd);
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
        if (h->type == PAGE_OVERFLOW && h->pgno == p)
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
    expect_tool_exit(NULL, 1, check_args);
    expect_tool_exit(NULL, 1, dump_args);
}

/* An overflow run whose page count reaches past the file, up to one whose
 * byte length is as large as the 32-bit count allows. */
START_TEST(test_overflow_run_too_long)
{
    char dir[4096], path[4200];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    make_db(path);
    size_t len;
    uint8_t *file = read_file(path, &len);
    uint64_t ov = find_overflow_page(file, len);
    uint32_t counts[] = {UINT32_MAX, 0x80000000u, 0x00100001u, (uint32_t)(len / PSIZE - ov + 1)};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        struct page_header h;
        memcpy(&h, file + ov * PSIZE, sizeof h);
        h.aux = counts[i];
        write_at(path, &h, sizeof h, ov * PSIZE);
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
    ldb__lock_read_published(&env->lock, &snap);
    struct ldb__snapshot bad = snap;
    bad.txnid++;
    bad.npages = (1ull << 52) + 3;
    ldb__lock_publish_newer(&env->lock, &bad);
    ldb_txn *txn = NULL;
    TU_RC_IS(ldb_txn_begin(env, LDB_TXN_RDONLY, &txn), LDB_CORRUPTED);
    struct ldb__commit_state cs;
    ldb__lock_state_read(&env->lock, &cs);
    cs.snap.npages = (1ull << 52) + 3;
    ldb__lock_state_write(&env->lock, &cs);
    TU_RC_IS(ldb_txn_begin(env, 0, &txn), LDB_CORRUPTED);
    /* Left as it was, the shared state serves again. */
    cs.snap.npages = snap.npages;
    ldb__lock_state_write(&env->lock, &cs);
    bad.npages = snap.npages;
    bad.txnid++;
    ldb__lock_publish_newer(&env->lock, &bad);
    (void)ldb_close(env); /* its checkpoint may see the bumped ids: no matter */
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
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {hostile_suite()};
    return tu_run_suites(suites, 1);
}
