/* SPDX-License-Identifier: MIT */
/*
 * A deterministic transaction workload, its in-memory model, and the process
 * plumbing of the durability suites (check_wal, check_crash, check_kill).
 *
 * Workload: txn number j of a run is a function of (params, seed, j) only:
 * puts (small, medium and overflow values), deletes, cursor deletes, named
 * tree creation, emptying and deletion, over LDB_MAIN and three named trees;
 * some txns are aborted. What each op does depends on the state it meets
 * (a delete of an absent key changes nothing), and the model interprets it
 * exactly as the database does, so a parent process can rebuild what a child
 * committed from the txn numbers the child reported.
 *
 * Model: one sorted array per tree, an undo log so a state can be applied
 * forward txn by txn and rolled back, and an order-independent 64-bit
 * fingerprint (a sum of per-entry hashes) so "the database equals the model
 * after some prefix of the committed txns" costs one scan of the database
 * and one fingerprint per prefix. A match found by fingerprint is then
 * confirmed entry by entry.
 *
 * Plumbing: a child reports through a pipe, one fixed-size wl_msg per event
 * (small enough that a write is atomic); the parent reads them with a
 * deadline, so a hung child fails the test instead of hanging it. Children
 * never call Check's asserts: they print why they failed and _exit non-zero.
 */
#ifndef LDB_TEST_WORKLOAD_H
#define LDB_TEST_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lightningdb.h"

#define WL_TREES 4     /* LDB_MAIN and three named trees */
#define WL_MAX_OPS 48  /* ops in one txn, at most */
#define WL_KEY_MAX 160 /* bytes of a generated key, at most */

enum wl_op_kind {
    WL_PUT = 1,    /* named tree: created first if missing */
    WL_DEL,        /* LDB_NOTFOUND is fine */
    WL_CURSOR_DEL, /* seek key, then delete up to count entries from there on */
    WL_CREATE,     /* ldb_dbi_open(LDB_CREATE) of a named tree */
    WL_EMPTY,      /* ldb_dbi_drop(.., 0) */
    WL_DELETE,     /* ldb_dbi_drop(.., 1) of a named tree */
};

typedef struct wl_op {
    uint8_t kind;
    uint8_t tree;   /* 0 = LDB_MAIN, 1..3 the named trees */
    uint16_t count; /* WL_CURSOR_DEL: entries to delete */
    uint32_t key;   /* key index, see wl_key() */
    uint32_t vlen;  /* WL_PUT: value bytes, see wl_value() */
} wl_op;

typedef struct wl_txn {
    uint64_t j; /* its number in the workload; names its value bytes */
    int abort;  /* run the ops, then abort instead of committing */
    unsigned nops;
    wl_op ops[WL_MAX_OPS];
} wl_txn;

typedef struct wl_params {
    unsigned keys;      /* key indexes per tree; 0 = 400 */
    unsigned max_ops;   /* an ordinary txn has 1..max_ops ops; 0 = 8 */
    unsigned abort_pct; /* percent of txns aborted */
    unsigned big_every; /* one txn in big_every is a bulk load of 16..30 values
                           of 6..14 KB (0: never) */
    unsigned max_vlen;  /* cap on ordinary values; 0 = 9000 */
    /* If set and it returns 1 for j, txn j is the one it filled in (hand
     * written txns among the generated ones). */
    int (*script)(uint64_t j, wl_txn *t);
} wl_params;

extern const char *const wl_tree_names[WL_TREES];

/* Txn j of the workload (params p, seed). */
void wl_gen(const wl_params *p, uint64_t seed, uint64_t j, wl_txn *t);
/* The bytes of key index idx (buf holds WL_KEY_MAX); returns the length. */
size_t wl_key(uint32_t idx, uint8_t *buf);
/* The value of op opi of txn j: its first 8 bytes are j (when it has them). */
void wl_value(uint64_t j, unsigned opi, uint32_t vlen, uint8_t *buf);

/* Where wl_run stopped. */
enum wl_stage { WL_STAGE_BEGIN = 1, WL_STAGE_OP, WL_STAGE_ABORTED, WL_STAGE_COMMIT };

/* Run t in one write txn of env: begin, the ops, then abort (t->abort) or
 * commit, calling before_commit (if not NULL) just before ldb_txn_commit
 * with the txn's id. Returns the result of the stage it stopped at (0 for
 * an abort), which *stage names. An op that fails with anything but the
 * LDB_NOTFOUND the workload expects stops the txn (it is aborted). */
typedef void wl_before_commit(const wl_txn *t, uint64_t txn_id, void *arg);
int wl_run(ldb_env *env, const wl_txn *t, wl_before_commit *before_commit, void *arg,
           enum wl_stage *stage);
/* A before_commit that reports WL_MSG_COMMIT (j, the txn id in aux). */
void wl_report_commit(const wl_txn *t, uint64_t txn_id, void *arg);

/* ---- the model ------------------------------------------------------------ */

typedef struct wl_model wl_model;

wl_model *wl_model_new(void);
void wl_model_free(wl_model *m);
/* Apply t's ops (whatever t->abort says: the caller decides what committed). */
void wl_model_apply(wl_model *m, const wl_txn *t);
/* Apply txn j of the workload (p, seed). */
void wl_model_apply_j(wl_model *m, const wl_params *p, uint64_t seed, uint64_t j);
/* A position in the undo log, to roll back to. */
size_t wl_model_mark(const wl_model *m);
void wl_model_rollback(wl_model *m, size_t mark);
/* Forget the undo log: the current state becomes the base. */
void wl_model_forget(wl_model *m);
uint64_t wl_model_fp(const wl_model *m);
/* Entries in all trees. */
size_t wl_model_entries(const wl_model *m);

/* The fingerprint of the newest snapshot of env, computed like the model's. */
int wl_db_fp(ldb_env *env, uint64_t *fp);
/* Compare env's newest snapshot with m entry by entry: 0 equal, 1 different
 * (msg says where first), or a negative ldb error. */
int wl_db_diff(ldb_env *env, const wl_model *m, char *msg, size_t msg_size);

/* The model is at the base state, before js[0]; js[0..n) are the txns whose
 * commit began, in order. Find the largest k in [lo, n] such that env holds
 * exactly the state after js[0..k), and leave the model there; returns k,
 * or -1 if there is none (the model is then left after js[0..lo)). */
long wl_match_prefix(ldb_env *env, wl_model *m, const wl_params *p, uint64_t seed,
                     const uint64_t *js, size_t n, size_t lo);

/* ---- child processes and their reports ----------------------------------- */

enum wl_msg_type {
    WL_MSG_COMMIT = 1, /* the commit of txn j begins; aux: its txn id */
    WL_MSG_ACK,        /* txn j committed: ldb_txn_commit returned 0 */
    WL_MSG_FAIL,       /* txn j (or the call aux names) failed with rc */
    WL_MSG_DURABLE,    /* ldb_sync or ldb_checkpoint returned 0 */
    WL_MSG_INFO,       /* a figure for the parent: j names it, aux holds it */
};

typedef struct wl_msg {
    uint32_t type;
    int32_t rc;
    uint64_t j;
    uint64_t aux;
} wl_msg;

typedef struct wl_log {
    wl_msg *m;
    size_t n, cap;
} wl_log;

/* What a child's reports say about its commits. Commits are ordered by
 * their txn ids (and by report order among equal ids: a txn that changed
 * nothing does not use up its id), so the reports of several threads give
 * the order in which their txns reached the log, and an acknowledged txn
 * vouches for every txn before it: the sync that made it durable covered
 * them. Not so a txn that changed nothing (its commit writes and waits for
 * nothing), which is why generated txns always put something. */
typedef struct wl_outcome {
    uint64_t *js; /* txns that may be in the database, in commit order:
                     acknowledged ones, and those whose commit began but
                     never answered (one per thread at most), or answered
                     LDB_PANIC */
    size_t n;
    size_t acked;   /* js[0..acked) must be there: they were acknowledged,
                       or came before one that was */
    size_t durable; /* js[0..durable) were acknowledged before a successful
                       ldb_sync or ldb_checkpoint (one thread only: with
                       several, a sync may not cover a txn acknowledged
                       while it ran) */
    size_t failed;  /* commits that returned an error other than LDB_PANIC */
    int panicked;   /* some call returned LDB_PANIC */
} wl_outcome;

/* The child's end of the report pipe (-1 in the parent). */
extern int wl_report_fd;

/* Fork a child with a report pipe: returns 0 in the child, the pid in the
 * parent (*rfd: the read end). Fails the test if fork fails. */
pid_t wl_fork(int *rfd);
void wl_send(uint32_t type, uint64_t j, int rc, uint64_t aux);
/* In a child: print why on stderr and _exit(code). */
__attribute__((format(printf, 2, 3), noreturn)) void wl_child_exit(int code, const char *fmt, ...);

/* Read reports until EOF or until timeout_ms passes; returns 1 at EOF. */
int wl_read(int rfd, wl_log *log, int timeout_ms);
/* Read to EOF and reap the child; a child still running after timeout_s
 * is killed and the test fails (a hang). Closes rfd; returns the status. */
int wl_finish(pid_t pid, int rfd, wl_log *log, int timeout_s, const char *what);
/* SIGKILL the child, reap it, read what it had written; closes rfd. Fails
 * the test if the child had exited on its own with a non-zero code. */
void wl_kill(pid_t pid, int rfd, wl_log *log);
/* Fail the test unless the status is a normal exit with code 0. */
void wl_expect_exit0(int status, const char *what);
void wl_log_free(wl_log *log);
void wl_outcome_of(const wl_log *log, wl_outcome *o);
void wl_outcome_free(wl_outcome *o);

/* Round counts from the environment: tu_env_u64 (testutil.h).
 * LDB_TEST_SEED if set, else a fresh one; printed so a run can be replayed. */
uint64_t wl_test_seed(const char *suite);
/* LDB_TEST_COMPRESSION (none, lz4, zstd, zstd-dict; unset = none): the
 * codec the crash, kill and log suites open with (wl_options sets it),
 * and, when one is set, values (wl_value) that compress. zstd-dict is
 * zstd where every eighth txn also trains a dictionary for the main tree
 * (ldb_dbi_train_dict, in the txn: it lands or not with its ops). */
int wl_compression(void);
void wl_options(ldb_options *o);
uint64_t wl_mix(uint64_t x);
double wl_now(void);

/* Open env and require that it equals the model after the largest possible
 * prefix in [lo, n] of js, run ldb_check on it and leave the model there;
 * what names the round in failure messages, and log (may be NULL) is the
 * round's reports, printed on a failure. Returns the open env. */
ldb_env *wl_open_and_match(const char *path, const ldb_options *opts, wl_model *m,
                           const wl_params *p, uint64_t seed, const uint64_t *js, size_t n,
                           size_t lo, const char *what, const wl_log *log, size_t *k);

#endif
