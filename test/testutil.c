/* SPDX-License-Identifier: MIT */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tu_tmpdir(void)
{
    static char buf[4096];
    const char *base = getenv("LDB_TEST_TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    mkdir(base, 0755);
    snprintf(buf, sizeof buf, "%s/ldbtest.XXXXXX", base);
    ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp(%s): %s", buf, strerror(errno));
    return buf;
}

const char *tu_path(const char *dir, const char *name)
{
    static char bufs[4][4096];
    static int next;
    char *b = bufs[next++ & 3];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

char tu_fail_msg[2048];

int tu_fail(const char *fmt, ...)
{
    if (tu_fail_msg[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(tu_fail_msg, sizeof tu_fail_msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void tu_child_exit(int code)
{
    if (code)
        fprintf(stderr, "child %d exits %d: %s\n", (int)getpid(), code,
                tu_fail_msg[0] ? tu_fail_msg : "(no message)");
    fflush(stderr);
    _exit(code);
}

void *tu_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "test: out of memory\n");
        abort();
    }
    return p;
}

uint8_t *tu_dup_bytes(const void *p, size_t n)
{
    uint8_t *d = tu_xmalloc(n);
    if (n)
        memcpy(d, p, n);
    return d;
}

int tu_key_cmp(const void *a, size_t al, const void *b, size_t bl)
{
    size_t m = al < bl ? al : bl;
    int c = m ? memcmp(a, b, m) : 0;
    if (c)
        return c;
    return al < bl ? -1 : al > bl ? 1 : 0;
}

uint64_t tu_env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return dflt;
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    return *end == '\0' && v > 0 ? (uint64_t)v : dflt;
}

int tu_robust_mutexes(void)
{
    void *head;
    size_t len;
    return syscall(SYS_get_robust_list, 0, &head, &len) == 0;
}

int tu_wait_child(int pid, int timeout_s, const char *what)
{
    int status = 0;
    for (long waited_ms = 0;; waited_ms += 2) {
        pid_t r = waitpid((pid_t)pid, &status, WNOHANG);
        if (r == (pid_t)pid)
            return status;
        ck_assert_msg(r == 0, "waitpid: %s", strerror(errno));
        if (waited_ms >= (long)timeout_s * 1000) {
            kill((pid_t)pid, SIGKILL);
            waitpid((pid_t)pid, &status, 0);
            ck_abort_msg("%s: child still running after %d s (hang), killed", what, timeout_s);
        }
        usleep(2000);
    }
}

char *tu_new_db_path(void)
{
    char *p = strdup(tu_path(tu_tmpdir(), "db"));
    ck_assert_ptr_nonnull(p);
    return p;
}

void tu_fresh_db(char *dir, size_t dir_cap, char *path, size_t path_cap)
{
    snprintf(dir, dir_cap, "%s", tu_tmpdir());
    snprintf(path, path_cap, "%s/db", dir);
}

ldb_env *tu_open(const char *path, const ldb_options *opts)
{
    ldb_env *env = NULL;
    int rc = ldb_open(path, opts, &env);
    ck_assert_msg(rc == 0, "ldb_open(%s): %s", path, ldb_strerror(rc));
    ck_assert_ptr_nonnull(env);
    return env;
}

void tu_check_env(ldb_env *env)
{
    char *text = NULL;
    size_t len = 0;
    FILE *report = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(report);
    int rc = ldb_check(env, report);
    fclose(report);
    ck_assert_msg(rc == 0, "ldb_check: %s\n%s", ldb_strerror(rc), text ? text : "");
    free(text);
}

ldb_val tu_str(const char *s)
{
    ldb_val v = {strlen(s), s};
    return v;
}

uint64_t tu_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

uint32_t *tu_iota(size_t n)
{
    uint32_t *a = tu_xmalloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++)
        a[i] = (uint32_t)i;
    return a;
}

void tu_shuffle(uint32_t *a, size_t n, uint64_t seed)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(tu_rand(&seed) % i);
        uint32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

uint8_t *tu_read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    uint8_t *b = tu_xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = pread(fd, b + got, (size_t)st.st_size - got, (off_t)got);
        ck_assert_msg(n > 0, "read %s: %s", path, n < 0 ? strerror(errno) : "short");
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return b;
}

void tu_write_at(const char *path, const void *buf, size_t n, uint64_t off)
{
    int fd = open(path, O_WRONLY);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    ck_assert_msg(pwrite(fd, buf, n, (off_t)off) == (ssize_t)n, "write %s: %s", path,
                  strerror(errno));
    close(fd);
}

uint64_t tu_file_size(const char *path)
{
    struct stat st;
    ck_assert_msg(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
    return (uint64_t)st.st_size;
}

void tu_flip_byte(const char *file, uint64_t off, uint8_t mask)
{
    int fd = open(file, O_RDWR);
    ck_assert_msg(fd >= 0, "open %s: %s", file, strerror(errno));
    uint8_t b;
    ck_assert(pread(fd, &b, 1, (off_t)off) == 1);
    b ^= mask;
    ck_assert(pwrite(fd, &b, 1, (off_t)off) == 1);
    close(fd);
}

int tu_copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY);
    if (in < 0)
        return -errno;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) {
        int e = errno;
        close(in);
        return -e;
    }
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        if (write(out, buf, (size_t)n) != n) {
            rc = -EIO;
            break;
        }
    }
    if (n < 0)
        rc = -errno;
    close(in);
    close(out);
    return rc;
}

void tu_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

ldb_val tu_val(const void *data, size_t size)
{
    ldb_val v = {size, data};
    return v;
}

ldb_txn *tu_begin(ldb_env *env, unsigned flags)
{
    ldb_txn *txn = NULL;
    int rc = ldb_txn_begin(env, flags, &txn);
    TU_REQUIRE(rc == 0, "ldb_txn_begin(%#x): %s", flags, ldb_strerror(rc));
    TU_REQUIRE(txn != NULL, "ldb_txn_begin gave no txn");
    return txn;
}

ldb_stat tu_env_stat(ldb_env *env)
{
    ldb_stat st;
    memset(&st, 0xA5, sizeof st); /* every field must be written */
    TU_RC_OK(ldb_stat_env(env, &st));
    return st;
}

ldb_tree_stat tu_tree_stat(ldb_txn *txn, ldb_dbi dbi)
{
    ldb_tree_stat ts;
    TU_RC_OK(ldb_dbi_stat(txn, dbi, &ts));
    return ts;
}

void tu_fill_pattern(uint8_t *buf, size_t len, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    size_t i = 0;
    while (i + 8 <= len) {
        uint64_t x = tu_rand(&s);
        memcpy(buf + i, &x, 8);
        i += 8;
    }
    if (i < len) {
        uint64_t x = tu_rand(&s);
        memcpy(buf + i, &x, len - i);
    }
}

#define SHOWN(kl) ((int)((kl) > 40 ? 40 : (kl)))

void tu_put_bytes(ldb_txn *txn, ldb_dbi dbi, const void *k, size_t kl, const void *v, size_t vl)
{
    ldb_val key = tu_val(k, kl), val = tu_val(v, vl);
    int rc = ldb_put(txn, dbi, &key, &val, 0);
    TU_REQUIRE(rc == 0, "put (key %zu bytes '%.*s', value %zu bytes): %s", kl, SHOWN(kl),
               (const char *)k, vl, ldb_strerror(rc));
}

void tu_put_str(ldb_txn *txn, ldb_dbi dbi, const char *k, const char *v)
{
    tu_put_bytes(txn, dbi, k, strlen(k), v, strlen(v));
}

void tu_expect_bytes(ldb_txn *txn, ldb_dbi dbi, const void *k, size_t kl, const void *v,
                     size_t vl)
{
    ldb_val key = tu_val(k, kl), val = {0, NULL};
    int rc = ldb_get(txn, dbi, &key, &val);
    TU_REQUIRE(rc == 0, "get (key %zu bytes '%.*s'): %s", kl, SHOWN(kl), (const char *)k,
               ldb_strerror(rc));
    TU_REQUIRE(val.size == vl, "get '%.*s': %zu bytes, want %zu", SHOWN(kl), (const char *)k,
               val.size, vl);
    TU_REQUIRE(vl == 0 || val.data != NULL, "get: NULL data for a %zu-byte value", vl);
    TU_REQUIRE(vl == 0 || memcmp(val.data, v, vl) == 0, "get '%.*s': value bytes differ",
               SHOWN(kl), (const char *)k);
}

void tu_expect_str(ldb_txn *txn, ldb_dbi dbi, const char *k, const char *v)
{
    tu_expect_bytes(txn, dbi, k, strlen(k), v, strlen(v));
}

void tu_expect_absent_bytes(ldb_txn *txn, ldb_dbi dbi, const void *k, size_t kl)
{
    ldb_val key = tu_val(k, kl), val;
    int rc = ldb_get(txn, dbi, &key, &val);
    TU_REQUIRE(rc == LDB_NOTFOUND, "get '%.*s' (%zu bytes): %d (%s), want LDB_NOTFOUND",
               SHOWN(kl), (const char *)k, kl, rc, ldb_strerror(rc));
}

void tu_expect_absent(ldb_txn *txn, ldb_dbi dbi, const char *k)
{
    tu_expect_absent_bytes(txn, dbi, k, strlen(k));
}

int tu_run_suites(Suite **suites, int n)
{
    SRunner *sr = srunner_create(suites[0]);
    for (int i = 1; i < n; i++)
        srunner_add_suite(sr, suites[i]);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
