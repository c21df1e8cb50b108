/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the Check suites: a fresh directory per test, paths in it,
 * and shorthands for the calls every test makes. Suites run each test in a
 * forked child (Check's default), so a crash fails one test, not the run.
 */
#ifndef LDB_TESTUTIL_H
#define LDB_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "lightningdb.h"

/* A new empty directory under $LDB_TEST_TMPDIR (or /tmp), unique per call.
 * Returns a static-lifetime string owned by the helper (freed at exit). */
const char *tu_tmpdir(void);

/* "<dir>/<name>" in a buffer owned by the helper. */
const char *tu_path(const char *dir, const char *name);

/* Open with defaults (or opts) and fail the test on error. */
ldb_env *tu_open(const char *path, const ldb_options *opts);

/* ldb_check on env; fails the test (printing the report) if it is not clean. */
void tu_check_env(ldb_env *env);

/* An ldb_val over a NUL-terminated string (without the NUL). */
ldb_val tu_str(const char *s);

/* Deterministic PRNG (xorshift64*), seeded per test. */
uint64_t tu_rand(uint64_t *state);

/* 0, 1, ..., n-1 in a tu_xmalloc'ed array; tu_shuffle permutes an array in
 * place (Fisher-Yates over tu_rand), the same permutation for the same seed. */
uint32_t *tu_iota(size_t n);
void tu_shuffle(uint32_t *a, size_t n, uint64_t seed);

/* Copy a file byte for byte; returns 0 or -errno. */
int tu_copy_file(const char *from, const char *to);

/* A whole file's bytes, malloc'ed with one spare byte (so a text file can
 * be terminated); *len gets its size. Fails the test if it cannot be read. */
uint8_t *tu_read_file(const char *path, size_t *len);

/* Write n bytes at off in an existing file (damage, a crafted header). */
void tu_write_at(const char *path, const void *buf, size_t n, uint64_t off);

/* The size of a file in bytes. */
uint64_t tu_file_size(const char *path);

/* XOR the byte at off in file with mask: the damage of one bit flip (or a
 * few), which the test then expects to be caught. */
void tu_flip_byte(const char *file, uint64_t off, uint8_t mask);

/* Remove dir and the files in it (not subdirectories): a test that passed
 * calls it last, so only failing tests leave their files behind. */
void tu_remove_dir(const char *dir);

/* Wait for child pid at most timeout_s seconds; one still running then is
 * killed and the test fails (a hang). Returns its wait status. */
int tu_wait_child(int pid, int timeout_s, const char *what);

/* Whether the kernel hands a dead thread's robust mutex on (EOWNERDEAD).
 * qemu-user does not implement set_robust_list: a test of a holder that
 * died skips that part there, saying so. */
int tu_robust_mutexes(void);

/* The first failure of this process, in words (children print it as they
 * exit): tu_fail records it unless one is recorded already, returns -1. */
extern char tu_fail_msg[2048];
__attribute__((format(printf, 1, 2))) int tu_fail(const char *fmt, ...);
/* End a forked child with code, printing tu_fail_msg if code is not 0. */
__attribute__((noreturn)) void tu_child_exit(int code);

/* malloc that never returns NULL (out of memory aborts, in a child too),
 * and a copy of n bytes made with it. */
void *tu_xmalloc(size_t n);
uint8_t *tu_dup_bytes(const void *p, size_t n);
/* The library's key order: memcmp, the shorter key first on a tie. */
int tu_key_cmp(const void *a, size_t al, const void *b, size_t bl);

/* A positive number from environment variable name, else dflt. */
uint64_t tu_env_u64(const char *name, uint64_t dflt);

/* "<fresh dir>/db"; the caller frees it. */
char *tu_new_db_path(void);
/* A fresh directory into dir and "<dir>/db" into path, for a test that
 * removes the directory (tu_remove_dir) when it passes. */
void tu_fresh_db(char *dir, size_t dir_cap, char *path, size_t path_cap);

/* Assertions that do not go through Check's pipe when they pass (ck_assert
 * marks a point on every success, which is slow inside loops). */
#define TU_REQUIRE(cond, ...)          \
    do {                               \
        if (!(cond))                   \
            ck_abort_msg(__VA_ARGS__); \
    } while (0)
#define TU_RC_OK(expr)                                                        \
    do {                                                                      \
        int rc_ = (expr);                                                     \
        if (rc_ != 0)                                                         \
            ck_abort_msg("%s -> %d (%s)", #expr, rc_, ldb_strerror(rc_));     \
    } while (0)
#define TU_RC_IS(expr, want)                                                            \
    do {                                                                                \
        int rc_ = (expr), want_ = (want);                                               \
        if (rc_ != want_)                                                               \
            ck_abort_msg("%s -> %d (%s), want %d (%s)", #expr, rc_, ldb_strerror(rc_), \
                         want_, ldb_strerror(want_));                                   \
    } while (0)

/* Shorthands for the API suites; each fails the test on an unexpected
 * result. */
ldb_val tu_val(const void *data, size_t size);
ldb_txn *tu_begin(ldb_env *env, unsigned flags);
ldb_stat tu_env_stat(ldb_env *env);
ldb_tree_stat tu_tree_stat(ldb_txn *txn, ldb_dbi dbi);
/* Deterministic bytes: the same (seed, len) gives the same bytes. */
void tu_fill_pattern(uint8_t *buf, size_t len, uint64_t seed);
void tu_put_bytes(ldb_txn *txn, ldb_dbi dbi, const void *k, size_t kl, const void *v, size_t vl);
void tu_put_str(ldb_txn *txn, ldb_dbi dbi, const char *k, const char *v);
/* The value under k must be exactly v (vl bytes). */
void tu_expect_bytes(ldb_txn *txn, ldb_dbi dbi, const void *k, size_t kl, const void *v,
                     size_t vl);
void tu_expect_str(ldb_txn *txn, ldb_dbi dbi, const char *k, const char *v);
void tu_expect_absent_bytes(ldb_txn *txn, ldb_dbi dbi, const void *k, size_t kl);
void tu_expect_absent(ldb_txn *txn, ldb_dbi dbi, const char *k);

/* Run every suite in an SRunner; returns the process exit status. */
int tu_run_suites(Suite **suites, int n);

#endif
