/* SPDX-License-Identifier: MIT */
/*
 * Damaged files: no input may crash or hang the library.
 *
 * The test builds one database (a few thousand keys, some values in overflow
 * pages, a named tree, a free list with pages in it), checkpoints it, then
 * commits NWAL more txns that live only in the write-ahead log and copies the
 * data file and the log while the env is still open: a crash image, so every
 * open of a copy runs recovery. Then it damages copies of that image round
 * after round: bytes flipped anywhere and in the meta pages, pages zeroed,
 * torn pages (the second half from another page), truncations to any length,
 * a garbage lock file, a damaged, truncated, garbage or missing log. For
 * each copy a forked child opens it (LDB_RDONLY, which recovers through a
 * writable handle; LDB_IMMUTABLE; then default options), gets keys, scans
 * both ways, runs ldb_check, writes and commits.
 * The child must end normally: a signal (SIGSEGV, SIGBUS, SIGABRT, a
 * sanitizer's abort) or a hang fails the round. Inside the child:
 *  - every code returned must be 0, an LDB_* code or a negative errno;
 *  - the states a damaged copy may read as, without an error, are: the last
 *    checkpoint ("zz-marker" present) plus a prefix of the logged txns (keys
 *    w001.. in order); the checkpoint before it (its meta page damaged: no
 *    marker, and then no logged txn either); and, for a data file truncated
 *    to 0 bytes, a new empty database. Data that reads back otherwise with no
 *    error must not pass ldb_check too;
 *  - if reads met LDB_CORRUPTED, ldb_check on the same snapshot must not
 *    report a clean database;
 *  - on a database ldb_check found clean, a commit must leave it clean.
 * Across rounds at least some damage must be detected (LDB_CORRUPTED).
 *
 * LDB_DAMAGE_ROUNDS sets the rounds (default 300), LDB_DAMAGE_SEED the seed.
 * A failing round's damaged files are kept and their path printed.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NMAIN 3000
#define NEXTRA 500 /* written, then deleted: the free list has pages */
#define NNAMED 400
#define NWAL 12    /* txns committed after the last checkpoint */
#define VAL_MAX 13000
#define MARKER "zz-marker"
#define CHILD_TIMEOUT_S 20
#define NKINDS 12

/* What a child found, in memory shared with the parent. */
typedef struct probe_result {
    int corrupted;   /* bit per phase: 1 open, 2 read, 4 check, 8 write */
    int opened;      /* bit per mode that opened */
    int clean_check; /* bit per mode whose ldb_check returned 0 */
    int marker_lost; /* reads gave the checkpoint before the last one */
    int wal_seen;    /* the most logged txns a mode read (-1: not known) */
    char msg[1024];
} probe_result;

enum {
    EXIT_OK = 0,
    EXIT_BADCODE = 2,      /* a code that is neither 0, LDB_* nor -errno */
    EXIT_UNDETECTED = 3,   /* wrong data read back, and ldb_check says clean */
    EXIT_CHECK_MISSED = 4, /* reads met LDB_CORRUPTED, ldb_check says clean */
    EXIT_COMMIT_BROKE = 5, /* a commit on a clean database left it unclean or lost data */
    EXIT_RDONLY_WROTE = 6, /* a write txn began on a read-only env */
    EXIT_SETUP = 9,
};

static const char *exit_meaning(int code)
{
    switch (code) {
    case 1: return "exit 1: a sanitizer report, most likely";
    case EXIT_BADCODE: return "a call returned a code outside 0 / LDB_* / -errno";
    case EXIT_UNDETECTED: return "wrong data read back with no error, and ldb_check passed";
    case EXIT_CHECK_MISSED: return "reads met LDB_CORRUPTED but ldb_check passed";
    case EXIT_COMMIT_BROKE: return "a commit on a database ldb_check passed broke it";
    case EXIT_RDONLY_WROTE: return "a write txn began on a read-only env";
    case EXIT_SETUP: return "child setup failed";
    default: return "unexpected exit code";
    }
}

/* ---- the database's contents ------------------------------------------------------ */

static void fill_bytes(uint64_t seed, uint8_t *buf, size_t n)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 7;
    for (size_t j = 0; j < n; j++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        buf[j] = (uint8_t)(x >> 56);
    }
}

/* version 0 is overwritten by version 1, the final contents */
static size_t main_val(unsigned i, int version, uint8_t *buf)
{
    size_t n = i % 50 == 0 ? 1500 + (size_t)((i * 37u) % 6000) : (size_t)((i * 13u) % 200);
    if (version == 0)
        n = (n * 3) / 4;
    fill_bytes((uint64_t)i * 2 + 1 + ((uint64_t)version << 40), buf, n);
    return n;
}

static size_t named_val(unsigned i, uint8_t *buf)
{
    size_t n = i % 10 == 0 ? 5000 + (size_t)((i * 101u) % 8000) : 20 + (size_t)((i * 7u) % 300);
    fill_bytes((uint64_t)i * 2 + 0x100000, buf, n);
    return n;
}

/* The value of w<j>, put by logged txn j (1..NWAL). */
static size_t wal_val(unsigned j, uint8_t *buf)
{
    size_t n = j % 3 == 0 ? 1200 + (size_t)j * 150 : 10 + (size_t)j * 17;
    fill_bytes((uint64_t)j + 0x200000, buf, n);
    return n;
}

static size_t main_key(unsigned i, char *kb)
{
    return (size_t)snprintf(kb, 16, "key%06u", i);
}

static size_t named_key(unsigned i, char *kb)
{
    return (size_t)snprintf(kb, 16, "n%05u", i);
}

static size_t wal_key(unsigned j, char *kb)
{
    return (size_t)snprintf(kb, 16, "w%03u", j);
}

static void put_or_fail(ldb_txn *txn, ldb_dbi dbi, const char *k, size_t kl, const void *v,
                        size_t vl)
{
    ldb_val key = {kl, k}, val = {vl, v};
    int rc = ldb_put(txn, dbi, &key, &val, 0);
    ck_assert_msg(rc == 0, "put %.*s: %s", (int)kl, k, ldb_strerror(rc));
}

static ldb_txn *begin_or_fail(ldb_env *env, unsigned flags)
{
    ldb_txn *txn;
    int rc = ldb_txn_begin(env, flags, &txn);
    ck_assert_msg(rc == 0, "txn_begin: %s", ldb_strerror(rc));
    return txn;
}

static void commit_or_fail(ldb_txn *txn)
{
    int rc = ldb_txn_commit(txn);
    ck_assert_msg(rc == 0, "commit: %s", ldb_strerror(rc));
}

static void side_path(char *out, size_t n, const char *path, const char *suffix)
{
    snprintf(out, n, "%s%s", path, suffix);
}

/* Build the database at work, and leave a crash image of it at pristine
 * (data file and log). The last checkpointed txn only adds MARKER; after it
 * come NWAL logged txns, txn j adding w<j>. Returns the page size. */
static unsigned build_db(const char *work, const char *pristine, unsigned page_size,
                         uint64_t *wal_used)
{
    static uint8_t buf[VAL_MAX];
    char kb[16], from[4200], to[4200];
    ldb_options opts = {0};
    opts.page_size = page_size;
    ldb_env *env = tu_open(work, &opts);
    ldb_txn *txn;
    for (unsigned base = 0; base < NMAIN + NEXTRA; base += 500) {
        txn = begin_or_fail(env, 0);
        for (unsigned i = base; i < base + 500 && i < NMAIN + NEXTRA; i++)
            put_or_fail(txn, LDB_MAIN, kb, main_key(i, kb), buf, main_val(i, 0, buf));
        commit_or_fail(txn);
    }
    txn = begin_or_fail(env, 0);
    ldb_dbi named;
    int rc = ldb_dbi_open(txn, "named", LDB_CREATE, &named);
    ck_assert_msg(rc == 0, "dbi_open: %s", ldb_strerror(rc));
    for (unsigned i = 0; i < NNAMED; i++)
        put_or_fail(txn, named, kb, named_key(i, kb), buf, named_val(i, buf));
    commit_or_fail(txn);
    for (unsigned r = 0; r < 3; r++) { /* the final values, in three txns */
        txn = begin_or_fail(env, 0);
        for (unsigned i = r; i < NMAIN; i += 3)
            put_or_fail(txn, LDB_MAIN, kb, main_key(i, kb), buf, main_val(i, 1, buf));
        commit_or_fail(txn);
    }
    txn = begin_or_fail(env, 0);
    for (unsigned i = NMAIN; i < NMAIN + NEXTRA; i++) {
        ldb_val k = {main_key(i, kb), kb};
        rc = ldb_del(txn, LDB_MAIN, &k);
        ck_assert_msg(rc == 0, "del: %s", ldb_strerror(rc));
    }
    commit_or_fail(txn);
    rc = ldb_checkpoint(env);
    ck_assert_msg(rc == 0, "checkpoint: %s", ldb_strerror(rc));
    txn = begin_or_fail(env, 0);
    put_or_fail(txn, LDB_MAIN, MARKER, strlen(MARKER), "last", 4);
    commit_or_fail(txn);
    rc = ldb_checkpoint(env);
    ck_assert_msg(rc == 0, "checkpoint: %s", ldb_strerror(rc));
    for (unsigned j = 1; j <= NWAL; j++) {
        txn = begin_or_fail(env, 0);
        put_or_fail(txn, LDB_MAIN, kb, wal_key(j, kb), buf, wal_val(j, buf));
        commit_or_fail(txn);
    }
    tu_check_env(env);
    ldb_stat st;
    rc = ldb_stat_env(env, &st);
    ck_assert_msg(rc == 0, "stat_env: %s", ldb_strerror(rc));
    ck_assert_msg(st.pages_free > 0, "the built database has no free pages");
    ck_assert_msg(st.wal_size > 0, "the last %d txns are not in the log", NWAL);
    *wal_used = 64 + st.wal_size; /* the log's header, then its records */
    /* The crash image: copies taken while the env is open and idle. */
    ck_assert_int_eq(tu_copy_file(work, pristine), 0);
    side_path(from, sizeof from, work, "-wal");
    side_path(to, sizeof to, pristine, "-wal");
    ck_assert_msg(tu_copy_file(from, to) == 0, "no log at %s", from);
    side_path(from, sizeof from, work, "-lock");
    side_path(to, sizeof to, pristine, "-lock.template");
    if (access(from, F_OK) == 0)
        ck_assert_int_eq(tu_copy_file(from, to), 0);
    ck_assert_int_eq(ldb_close(env), 0);
    return st.page_size;
}

/* ---- the child's probe ------------------------------------------------------------------ */

typedef struct probe {
    probe_result *res;
    off_t file_size;
    int mode;         /* 0 LDB_RDONLY, 1 LDB_IMMUTABLE, 2 default */
    int anomalies;    /* wrong data read back with rc 0, this env */
    int read_corrupt; /* reads met LDB_CORRUPTED, this env */
    int marker;       /* -1 unknown, 0 absent, 1 present */
    int wal;          /* logged txns visible: -1 unknown, else 0..NWAL */
    int empty;        /* the file had 0 bytes: an open may make it a new, empty database */
    uint64_t rng;
} probe;

static const char *const mode_name[3] = {"RDONLY", "IMMUTABLE", "default"};
static const unsigned mode_flags[3] = {LDB_RDONLY, LDB_IMMUTABLE, 0};

__attribute__((format(printf, 2, 3))) static void anomaly(probe *p, const char *fmt, ...)
{
    p->anomalies++;
    if (p->res->msg[0] == '\0') {
        int n = snprintf(p->res->msg, sizeof p->res->msg, "[%s] ", mode_name[p->mode]);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->res->msg + n, sizeof p->res->msg - (size_t)n, fmt, ap);
        va_end(ap);
    }
}

static int code_allowed(int rc)
{
    return rc == 0 || (rc >= LDB_PANIC && rc <= LDB_NOTFOUND) || (rc < 0 && rc > -4096);
}

static void child_exit(probe_result *res, int code)
{
    if (code)
        fprintf(stderr, "damage child: %s: %s\n", exit_meaning(code), res->msg);
    fflush(stderr);
    _exit(code);
}

/* Every return code goes through here. */
static int note(probe *p, int rc, int phase, const char *call)
{
    if (!code_allowed(rc)) {
        snprintf(p->res->msg, sizeof p->res->msg, "[%s] %s returned %d", mode_name[p->mode],
                 call, rc);
        child_exit(p->res, EXIT_BADCODE);
    }
    if (rc == LDB_CORRUPTED) {
        p->res->corrupted |= phase;
        if (phase == 2)
            p->read_corrupt = 1;
    }
    return rc;
}

/* Read every byte of a returned key or value: a wild pointer faults here,
 * in the child. 0 if its size is impossible (larger than the file). */
static int touch(probe *p, const ldb_val *v)
{
    if (v->size > (size_t)p->file_size + 65536 || (v->size && v->data == NULL))
        return 0;
    volatile uint8_t sum = 0;
    const uint8_t *b = v->data;
    for (size_t i = 0; i < v->size; i++)
        sum ^= b[i];
    (void)sum;
    return 1;
}

/* Touch v; does it equal want? */
static int touch_and_compare(probe *p, const ldb_val *v, const void *want, size_t wl)
{
    return touch(p, v) && v->size == wl && (wl == 0 || memcmp(v->data, want, wl) == 0);
}

static int parse_num(const ldb_val *k, const char *prefix, size_t digits, unsigned *out)
{
    size_t pl = strlen(prefix);
    if (k->size != pl + digits || memcmp(k->data, prefix, pl) != 0)
        return 0;
    unsigned n = 0;
    for (size_t i = pl; i < k->size; i++) {
        uint8_t c = ((const uint8_t *)k->data)[i];
        if (c < '0' || c > '9')
            return 0;
        n = n * 10 + (unsigned)(c - '0');
    }
    *out = n;
    return 1;
}

/* Is key one the state allows in this tree? Sets its expected value. */
static int legit_entry(probe *p, int tree, const ldb_val *k, uint8_t *vb, size_t *vl)
{
    unsigned n;
    if (p->empty || k->size > 64)
        return 0;
    if (tree == 1) {
        if (!parse_num(k, "n", 5, &n) || n >= NNAMED)
            return 0;
        *vl = named_val(n, vb);
        return 1;
    }
    if (parse_num(k, "key", 6, &n)) {
        if (n >= NMAIN)
            return 0;
        *vl = main_val(n, 1, vb);
        return 1;
    }
    if (parse_num(k, "w", 3, &n)) {
        if (n < 1 || n > NWAL || (p->wal >= 0 && n > (unsigned)p->wal) || p->marker == 0)
            return 0;
        *vl = wal_val(n, vb);
        return 1;
    }
    if (k->size == strlen(MARKER) && memcmp(k->data, MARKER, k->size) == 0) {
        if (p->marker == 0)
            return 0;
        memcpy(vb, "last", 4);
        *vl = 4;
        return 1;
    }
    return 0;
}

/* How many entries the tree has in the state read; -1 if not known. */
static long tree_count(probe *p, int tree)
{
    if (p->empty)
        return 0;
    if (tree == 1)
        return NNAMED;
    if (p->marker < 0 || p->wal < 0)
        return -1;
    return NMAIN + p->wal + p->marker;
}

static int key_cmp(const ldb_val *a, const ldb_val *b)
{
    return tu_key_cmp(a->data, a->size, b->data, b->size);
}

/* A full scan, forward (dir 0) or backward (1): every entry one the state
 * allows, with its value, in strict order, and (when the state is known)
 * as many as it has. Stops at the first error or anomaly. */
static void scan(probe *p, ldb_txn *txn, ldb_dbi dbi, int tree, int dir)
{
    static uint8_t vb[VAL_MAX];
    static uint8_t prev[64];
    ldb_val pk = {0, prev};
    const char *dname = dir ? "backward" : "forward";
    ldb_cursor *cur;
    if (note(p, ldb_cursor_open(txn, dbi, &cur), 2, "cursor_open"))
        return;
    long want = tree_count(p, tree), seen = 0;
    ldb_val k, v;
    int rc;
    for (rc = ldb_cursor_get(cur, &k, &v, dir ? LDB_LAST : LDB_FIRST); rc == 0;
         rc = ldb_cursor_get(cur, &k, &v, dir ? LDB_PREV : LDB_NEXT)) {
        size_t vl = 0;
        if (seen > NMAIN + NNAMED + NWAL + 1) {
            anomaly(p, "tree %d %s scan: no end after %ld entries", tree, dname, seen);
            break;
        }
        if (!touch(p, &k) || !legit_entry(p, tree, &k, vb, &vl)) {
            anomaly(p, "tree %d %s scan, entry %ld: a key (%zu bytes) that should not be there",
                    tree, dname, seen, k.size);
            break;
        }
        if (!touch_and_compare(p, &v, vb, vl)) {
            anomaly(p, "tree %d %s scan, entry %ld (%.*s): value differs", tree, dname, seen,
                    (int)k.size, (const char *)k.data);
            break;
        }
        if (seen > 0 && (dir ? key_cmp(&k, &pk) >= 0 : key_cmp(&k, &pk) <= 0)) {
            anomaly(p, "tree %d %s scan, entry %ld (%.*s): out of order", tree, dname, seen,
                    (int)k.size, (const char *)k.data);
            break;
        }
        memcpy(prev, k.data, k.size);
        pk.size = k.size;
        seen++;
    }
    if (rc == LDB_NOTFOUND) {
        if (want >= 0 && seen != want)
            anomaly(p, "tree %d %s scan: %ld entries, want %ld", tree, dname, seen, want);
    } else if (rc != 0) {
        note(p, rc, 2, "cursor_get");
    }
    ldb_cursor_close(cur);
}

static void random_gets(probe *p, ldb_txn *txn, ldb_dbi dbi, int tree, int n)
{
    static uint8_t vb[VAL_MAX];
    char kb[16];
    for (int j = 0; j < n; j++) {
        unsigned idx = (unsigned)(tu_rand(&p->rng) % (tree ? NNAMED + 50 : NMAIN + NEXTRA + 50));
        size_t kl = tree ? named_key(idx, kb) : main_key(idx, kb);
        int present = !p->empty && idx < (tree ? NNAMED : NMAIN);
        ldb_val k = {kl, kb}, v;
        int rc = note(p, ldb_get(txn, dbi, &k, &v), 2, "get");
        if (rc == 0) {
            size_t vl = tree ? named_val(idx, vb) : main_val(idx, 1, vb);
            if (!present)
                anomaly(p, "tree %d get %s: found a key that is not there", tree, kb);
            else if (!touch_and_compare(p, &v, vb, vl))
                anomaly(p, "tree %d get %s: value differs (%zu bytes, want %zu)", tree, kb,
                        v.size, vl);
        } else if (rc == LDB_NOTFOUND && present) {
            anomaly(p, "tree %d get %s: not found", tree, kb);
        }
    }
}

/* Which state does txn read: the marker, and how many logged txns. */
static void read_state(probe *p, ldb_txn *txn)
{
    static uint8_t vb[VAL_MAX];
    char kb[16];
    ldb_val k = tu_str(MARKER), v;
    int rc = note(p, ldb_get(txn, LDB_MAIN, &k, &v), 2, "get marker");
    p->marker = -1;
    if (rc == 0 && touch_and_compare(p, &v, "last", 4))
        p->marker = 1;
    else if (rc == 0)
        anomaly(p, "marker value differs");
    else if (rc == LDB_NOTFOUND)
        p->marker = 0;
    if (p->empty && p->marker == 1)
        anomaly(p, "a database made from an empty file has the marker");
    else if (p->marker == 0 && !p->empty)
        p->res->marker_lost = 1;

    int found_upto = 0, gap = 0, unknown = 0;
    for (unsigned j = 1; j <= NWAL; j++) {
        k = (ldb_val){wal_key(j, kb), kb};
        rc = note(p, ldb_get(txn, LDB_MAIN, &k, &v), 2, "get");
        if (rc == 0) {
            size_t vl = wal_val(j, vb);
            if (!touch_and_compare(p, &v, vb, vl))
                anomaly(p, "logged txn %u: value differs", j);
            else if (gap)
                anomaly(p, "logged txn %u is there, an earlier one is not: not a prefix", j);
            else
                found_upto = (int)j;
        } else if (rc == LDB_NOTFOUND) {
            gap = 1;
        } else {
            unknown = 1;
        }
    }
    p->wal = unknown ? -1 : found_upto;
    if (p->wal > 0 && p->empty)
        anomaly(p, "a database made from an empty file has logged txns");
    if (p->wal > 0 && p->marker == 0)
        anomaly(p, "%d logged txns replayed on the checkpoint before the last: not a prefix",
                p->wal);
    if (p->wal > p->res->wal_seen)
        p->res->wal_seen = p->wal;
}

/* The read phase: one read txn; then ldb_check on the same (newest) snapshot. */
static int read_phase(probe *p, ldb_env *env)
{
    ldb_txn *txn;
    p->anomalies = 0;
    p->read_corrupt = 0;
    p->marker = -1;
    p->wal = -1;
    if (note(p, ldb_txn_begin(env, LDB_TXN_RDONLY, &txn), 2, "txn_begin(RDONLY)") == 0) {
        read_state(p, txn);
        ldb_dbi named;
        int rc = note(p, ldb_dbi_open(txn, "named", 0, &named), 2, "dbi_open");
        if (rc == LDB_NOTFOUND && !p->empty)
            anomaly(p, "the named tree is gone");
        else if (rc == 0 && p->empty)
            anomaly(p, "a database made from an empty file has the named tree");
        random_gets(p, txn, LDB_MAIN, 0, 200);
        scan(p, txn, LDB_MAIN, 0, 0);
        scan(p, txn, LDB_MAIN, 0, 1);
        ldb_tree_stat ts;
        long want = tree_count(p, 0);
        if (note(p, ldb_dbi_stat(txn, LDB_MAIN, &ts), 2, "dbi_stat") == 0 && want >= 0 &&
            ts.entries != (uint64_t)want)
            anomaly(p, "dbi_stat entries %" PRIu64 ", want %ld", ts.entries, want);
        if (rc == 0) {
            random_gets(p, txn, named, 1, 60);
            scan(p, txn, named, 1, 0);
            scan(p, txn, named, 1, 1);
        }
        ldb_txn_abort(txn);
    }
    int crc = note(p, ldb_check(env, NULL), 4, "check");
    if (crc == 0) {
        p->res->clean_check |= 1 << p->mode;
        if (p->anomalies)
            child_exit(p->res, EXIT_UNDETECTED);
        if (p->read_corrupt) {
            if (!p->res->msg[0])
                snprintf(p->res->msg, sizeof p->res->msg, "[%s] reads met LDB_CORRUPTED",
                         mode_name[p->mode]);
            child_exit(p->res, EXIT_CHECK_MISSED);
        }
    }
    return crc;
}

/* The write phase: a few puts and a delete, committed. */
static void write_phase(probe *p, ldb_env *env, int was_clean)
{
    static uint8_t vb[VAL_MAX];
    char kb[16];
    ldb_txn *txn;
    int rc = note(p, ldb_txn_begin(env, 0, &txn), 8, "txn_begin(write)");
    if (p->mode != 2) {
        if (rc == 0) {
            ldb_txn_abort(txn);
            snprintf(p->res->msg, sizeof p->res->msg, "[%s] write txn_begin returned 0",
                     mode_name[p->mode]);
            child_exit(p->res, EXIT_RDONLY_WROTE);
        }
        return;
    }
    if (rc)
        return;
    for (int i = 0; i < 5 && rc == 0; i++) {
        snprintf(kb, sizeof kb, "zzz-new%d", i);
        ldb_val k = tu_str(kb), v = {(size_t)(i * 700), vb};
        memset(vb, 'a' + i, (size_t)(i * 700));
        rc = note(p, ldb_put(txn, LDB_MAIN, &k, &v, 0), 8, "put");
    }
    if (rc == 0) {
        ldb_val k = {main_key(7, kb), kb};
        rc = note(p, ldb_del(txn, LDB_MAIN, &k), 8, "del");
        if (rc == LDB_NOTFOUND && was_clean && !p->empty)
            anomaly(p, "del of key 7: not found");
        if (rc == LDB_NOTFOUND)
            rc = 0;
    }
    rc = note(p, ldb_txn_commit(txn), 8, "commit");
    if (rc != 0 || !was_clean)
        return;
    /* The database was clean and the commit went through: it must read back
     * and stay clean. */
    p->anomalies = 0;
    if (note(p, ldb_txn_begin(env, LDB_TXN_RDONLY, &txn), 8, "txn_begin(RDONLY)") == 0) {
        for (int i = 0; i < 5; i++) {
            snprintf(kb, sizeof kb, "zzz-new%d", i);
            ldb_val k = tu_str(kb), v;
            memset(vb, 'a' + i, (size_t)(i * 700));
            rc = note(p, ldb_get(txn, LDB_MAIN, &k, &v), 8, "get");
            if (rc != 0 || !touch_and_compare(p, &v, vb, (size_t)(i * 700)))
                anomaly(p, "after commit: %s: %s", kb, rc ? ldb_strerror(rc) : "value differs");
        }
        ldb_val k = {main_key(7, kb), kb}, v;
        if (note(p, ldb_get(txn, LDB_MAIN, &k, &v), 8, "get") != LDB_NOTFOUND)
            anomaly(p, "after commit: deleted %s is there", kb);
        for (unsigned i = 8; i < NMAIN && !p->empty; i += 97) {
            k = (ldb_val){main_key(i, kb), kb};
            size_t vl = main_val(i, 1, vb);
            rc = note(p, ldb_get(txn, LDB_MAIN, &k, &v), 8, "get");
            if (rc != 0 || !touch_and_compare(p, &v, vb, vl))
                anomaly(p, "after commit: old key %s: %s", kb,
                        rc ? ldb_strerror(rc) : "value differs");
        }
        for (unsigned j = 1; p->wal > 0 && j <= (unsigned)p->wal; j++) {
            k = (ldb_val){wal_key(j, kb), kb};
            size_t vl = wal_val(j, vb);
            rc = note(p, ldb_get(txn, LDB_MAIN, &k, &v), 8, "get");
            if (rc != 0 || !touch_and_compare(p, &v, vb, vl))
                anomaly(p, "after commit: logged txn %u: %s", j,
                        rc ? ldb_strerror(rc) : "value differs");
        }
        ldb_txn_abort(txn);
    } else {
        anomaly(p, "after commit: read txn_begin failed");
    }
    rc = note(p, ldb_check(env, NULL), 8, "check after commit");
    if (rc != 0 || p->anomalies) {
        if (!p->res->msg[0])
            snprintf(p->res->msg, sizeof p->res->msg, "[default] ldb_check after commit: %s",
                     ldb_strerror(rc));
        child_exit(p->res, EXIT_COMMIT_BROKE);
    }
}

/* The child's work on one damaged file. Never returns. */
static void probe_file(const char *path, probe_result *res, uint64_t seed)
{
    memset(res, 0, sizeof *res);
    res->wal_seen = -1;
    struct stat sb;
    if (stat(path, &sb) != 0)
        child_exit(res, EXIT_SETUP);
    for (int mode = 0; mode < 3; mode++) {
        probe p = {.res = res, .file_size = sb.st_size, .mode = mode,
                   .empty = sb.st_size == 0, .rng = seed + (uint64_t)mode};
        ldb_options opts = {0};
        opts.flags = mode_flags[mode];
        ldb_env *env = NULL;
        if (note(&p, ldb_open(path, &opts, &env), 1, "open") != 0)
            continue;
        res->opened |= 1 << mode;
        if (stat(path, &sb) == 0 && sb.st_size > p.file_size) /* recovery may grow it */
            p.file_size = sb.st_size;
        int crc = read_phase(&p, env);
        write_phase(&p, env, crc == 0);
        note(&p, ldb_close(env), 8, "close");
        if (stat(path, &sb) != 0)
            sb.st_size = p.file_size;
    }
    child_exit(res, EXIT_OK);
}

/* ---- damage ---------------------------------------------------------------------------- */

typedef struct damage_ctx {
    uint64_t rng;
    unsigned page_size;
    const char *lock_template; /* a live lock file, or NULL */
    probe_result *res;
    int rounds_corrupted, rounds_opened_default, rounds_clean, rounds_marker_lost;
    int rounds_wal_partial; /* read back some but not all logged txns */
    int failures;
    char failmsg[4096];
} damage_ctx;

static uint64_t rnd(damage_ctx *d, uint64_t n)
{
    return n ? tu_rand(&d->rng) % n : 0;
}

static uint8_t *read_all(const char *path, size_t *len)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    uint8_t *b = malloc((size_t)sb.st_size + 1);
    size_t got = 0;
    while (b && got < (size_t)sb.st_size) {
        ssize_t n = read(fd, b + got, (size_t)sb.st_size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return b;
}

static void write_all(const char *path, const uint8_t *b, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    size_t put = 0;
    while (put < len) {
        ssize_t n = write(fd, b + put, len - put);
        ck_assert_msg(n > 0, "write %s: %s", path, strerror(errno));
        put += (size_t)n;
    }
    close(fd);
}

static void flip_bytes(damage_ctx *d, uint8_t *b, size_t len, size_t lo, size_t hi, int n,
                       char *desc, size_t dl)
{
    if (hi > len)
        hi = len;
    if (lo >= hi)
        return;
    size_t used = strlen(desc);
    for (int i = 0; i < n; i++) {
        size_t at = lo + (size_t)rnd(d, hi - lo);
        uint8_t x = (uint8_t)(1 + rnd(d, 255));
        b[at] ^= x;
        if (i < 6 && used + 24 < dl)
            used += (size_t)snprintf(desc + used, dl - used, " %zu^%02x", at, x);
    }
}

/* Damage the data file (kinds 0..8) in memory; describe what was done.
 * Returns the new length. */
static size_t damage_data(damage_ctx *d, int kind, uint8_t *b, size_t len, char *desc,
                          size_t dl)
{
    size_t ps = d->page_size, npages = len / ps;
    switch (kind) {
    case 0:   /* 1..50 flips anywhere */
    case 7:   /* 1..3 flips anywhere */
    case 8: { /* 1 flip anywhere: the likeliest to change a value and nothing else */
        int n = kind == 8 ? 1 : kind == 7 ? 1 + (int)rnd(d, 3) : 1 + (int)rnd(d, 50);
        snprintf(desc, dl, "%d byte flips:", n);
        flip_bytes(d, b, len, 0, len, n, desc, dl);
        return len;
    }
    case 1: { /* flips in the meta pages, always hitting offset 0 or page_size */
        int n = 1 + (int)rnd(d, 8);
        size_t first = rnd(d, 2) ? ps : 0;
        b[first] ^= 0x01;
        snprintf(desc, dl, "meta flips: %zu^01 +%d:", first, n);
        flip_bytes(d, b, len, 0, rnd(d, 3) == 0 ? 64 : 2 * ps, n, desc, dl);
        return len;
    }
    case 2: { /* zero a page; the meta pages now and then */
        size_t pg = rnd(d, 5) == 0 ? rnd(d, 2) : rnd(d, npages);
        memset(b + pg * ps, 0, ps);
        snprintf(desc, dl, "page %zu zeroed", pg);
        return len;
    }
    case 3: { /* torn page: second half from another page */
        size_t p1 = rnd(d, 6) == 0 ? rnd(d, 2) : rnd(d, npages), p2 = rnd(d, npages);
        memcpy(b + p1 * ps + ps / 2, b + p2 * ps + ps / 2, ps / 2);
        snprintf(desc, dl, "page %zu torn with page %zu", p1, p2);
        return len;
    }
    case 4: { /* truncation */
        size_t to;
        switch (rnd(d, 7)) {
        case 0: to = 0; break;
        case 1: to = (size_t)rnd(d, ps); break;
        case 2: to = ps + (size_t)rnd(d, ps); break;
        case 3: to = (size_t)rnd(d, npages) * ps; break;
        case 4: to = len - 1 - (size_t)rnd(d, 16); break;
        case 5: to = len - ps; break;
        default: to = (size_t)rnd(d, len); break;
        }
        snprintf(desc, dl, "truncated to %zu of %zu bytes", to, len);
        return to;
    }
    case 5: { /* flips near the end, where the last commits wrote */
        int n = 1 + (int)rnd(d, 20);
        size_t lo = len > 16 * ps ? len - 16 * ps : 0;
        snprintf(desc, dl, "%d flips in the last pages:", n);
        flip_bytes(d, b, len, lo, len, n, desc, dl);
        return len;
    }
    default: { /* a mix */
        size_t pg = rnd(d, npages);
        memset(b + pg * ps + rnd(d, ps / 2), 0, ps / 4);
        int n = 1 + (int)rnd(d, 10);
        snprintf(desc, dl, "mix: part of page %zu zeroed, %d flips:", pg, n);
        flip_bytes(d, b, len, 0, len, n, desc, dl);
        if (rnd(d, 2)) {
            size_t p1 = rnd(d, npages), p2 = rnd(d, npages);
            memcpy(b + p1 * ps + ps / 2, b + p2 * ps + ps / 2, ps / 2);
        }
        return len;
    }
    }
}

/* Damage the log (kinds 10, 11) where its records are: its first n bytes
 * (the file may be longer, preallocated). *len = (size_t)-1: remove the
 * file. The buffer has room for 65536 bytes more than *len. */
static void damage_wal(damage_ctx *d, int kind, uint8_t *b, size_t *len, size_t n, char *desc,
                       size_t dl)
{
    if (n > *len)
        n = *len;
    if (kind == 10) {
        int flips = 1 + (int)rnd(d, 10);
        int header = rnd(d, 3) == 0;
        snprintf(desc, dl, "log: %d flips%s:", flips, header ? " in its header" : "");
        flip_bytes(d, b, n, 0, header ? 64 : n, flips, desc, dl);
        return;
    }
    switch (rnd(d, 6)) {
    case 0:
        *len = (size_t)-1;
        snprintf(desc, dl, "log removed");
        return;
    case 1:
        *len = (size_t)rnd(d, 64);
        snprintf(desc, dl, "log truncated to %zu bytes (inside its header)", *len);
        return;
    case 2:
        *len = n > 0 ? n - 1 - (size_t)rnd(d, n < 200 ? n : 200) : 0;
        snprintf(desc, dl, "log's tail torn: %zu of %zu bytes", *len, n);
        return;
    case 3:
        *len = (size_t)rnd(d, n + 1);
        snprintf(desc, dl, "log truncated to %zu of %zu bytes", *len, n);
        return;
    case 4: { /* garbage after the header */
        size_t extra = (size_t)rnd(d, 65536), end = n + extra;
        if (end > *len + 65536)
            end = *len + 65536;
        for (size_t i = 64; i < end; i++)
            b[i] = (uint8_t)tu_rand(&d->rng);
        if (end > *len)
            *len = end;
        snprintf(desc, dl, "log: random bytes from 64 to %zu", end);
        return;
    }
    default: { /* a record's region zeroed */
        size_t at = 64 + (size_t)rnd(d, n > 64 ? n - 64 : 1), z = 8 + (size_t)rnd(d, 512);
        if (at + z > n)
            z = n > at ? n - at : 0;
        memset(b + at, 0, z);
        snprintf(desc, dl, "log: %zu bytes zeroed at %zu", z, at);
        return;
    }
    }
}

static void garbage_lock(damage_ctx *d, const char *lock, char *desc, size_t dl)
{
    size_t len = 1 + (size_t)rnd(d, 16384);
    size_t tl = 0;
    uint8_t *t = d->lock_template ? read_all(d->lock_template, &tl) : NULL;
    uint8_t *g = malloc(len + tl + 1);
    ck_assert_ptr_nonnull(g);
    const char *how;
    switch (rnd(d, 4)) {
    case 0:
        for (size_t i = 0; i < len; i++)
            g[i] = (uint8_t)tu_rand(&d->rng);
        how = "random bytes";
        break;
    case 1:
        memset(g, 0xff, len);
        how = "0xff bytes";
        break;
    case 2:
        memset(g, 0, len);
        how = "zero bytes";
        break;
    default:
        if (t && tl > 0) { /* a live lock file with a few bytes changed */
            len = tl;
            memcpy(g, t, tl);
            for (int i = 0; i < 8; i++)
                g[rnd(d, len)] ^= (uint8_t)(1 + rnd(d, 255));
            how = "a live lock file, 8 bytes flipped";
        } else {
            for (size_t i = 0; i < len; i++)
                g[i] = (uint8_t)(tu_rand(&d->rng) & 0x0f);
            how = "small random bytes";
        }
        break;
    }
    write_all(lock, g, len);
    snprintf(desc, dl, "garbage lock file: %zu bytes of %s", len, how);
    free(g);
    free(t);
}

/* Fork a child to probe path; returns 0 if it ended well, else describes why. */
static int run_child(damage_ctx *d, const char *path, uint64_t seed, char *why, size_t wl)
{
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0)
        probe_file(path, d->res, seed);
    int status = 0;
    for (long ms = 0;; ms += 2) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        ck_assert_msg(r == 0, "waitpid: %s", strerror(errno));
        if (ms >= CHILD_TIMEOUT_S * 1000L) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            snprintf(why, wl, "hang: the child was still running after %d s", CHILD_TIMEOUT_S);
            return -1;
        }
        usleep(2000);
    }
    if (WIFSIGNALED(status)) {
        snprintf(why, wl, "the child died of signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
        return -1;
    }
    if (WEXITSTATUS(status) != 0) {
        snprintf(why, wl, "child exit %d: %s: %s", WEXITSTATUS(status),
                 exit_meaning(WEXITSTATUS(status)), d->res->msg);
        return -1;
    }
    return 0;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return dflt;
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    return *end == '\0' ? (uint64_t)v : dflt;
}

static probe_result *shared_result(void)
{
    void *m = mmap(NULL, sizeof(probe_result), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    ck_assert_msg(m != MAP_FAILED, "mmap: %s", strerror(errno));
    return m;
}

/* Lay down a copy of the crash image (data, wal, no lock file) at path. */
static void place_copy(const char *path, const uint8_t *data, size_t dlen, const uint8_t *wal,
                       size_t wlen)
{
    char side[4200];
    side_path(side, sizeof side, path, "-lock");
    unlink(side);
    side_path(side, sizeof side, path, "-wal");
    unlink(side);
    if (wal && wlen != (size_t)-1)
        write_all(side, wal, wlen);
    write_all(path, data, dlen);
}

typedef struct image {
    char *dir, *pristine, *lock_template;
    unsigned page_size;
    uint8_t *data, *wal;
    size_t dlen, wlen;
    uint64_t wal_used; /* bytes of the log in use: header and records */
} image;

static void make_image(image *im, unsigned page_size)
{
    char side[4200];
    im->dir = strdup(tu_tmpdir());
    im->pristine = strdup(tu_path(im->dir, "pristine.db"));
    im->page_size = build_db(tu_path(im->dir, "work.db"), im->pristine, page_size, &im->wal_used);
    side_path(side, sizeof side, im->pristine, "-lock.template");
    im->lock_template = access(side, F_OK) == 0 ? strdup(side) : NULL;
    im->data = read_all(im->pristine, &im->dlen);
    ck_assert_ptr_nonnull(im->data);
    ck_assert_msg(im->dlen >= 2 * (size_t)im->page_size, "pristine file of %zu bytes", im->dlen);
    side_path(side, sizeof side, im->pristine, "-wal");
    im->wal = read_all(side, &im->wlen);
    ck_assert_ptr_nonnull(im->wal);
}

static void free_image(image *im)
{
    free(im->dir);
    free(im->pristine);
    free(im->lock_template);
    free(im->data);
    free(im->wal);
}

static void run_rounds(unsigned page_size, uint64_t default_seed, uint64_t rounds)
{
    damage_ctx d = {0};
    image im = {0};
    uint64_t seed = env_u64("LDB_DAMAGE_SEED", default_seed);
    d.rng = seed;
    make_image(&im, page_size);
    d.page_size = im.page_size;
    d.lock_template = im.lock_template;
    d.res = shared_result();
    fprintf(stderr, "check_damage: page_size %u, seed %" PRIu64 ", %" PRIu64 " rounds\n",
            d.page_size, seed, rounds);

    uint8_t *work = malloc(im.dlen);
    uint8_t *wwork = malloc(im.wlen + 65536);
    ck_assert(work && wwork);
    char *path = strdup(tu_path(im.dir, "damaged.db"));
    char lockpath[4200];
    side_path(lockpath, sizeof lockpath, path, "-lock");

    for (uint64_t r = 0; r < rounds; r++) {
        char desc[512] = "", why[1400];
        memcpy(work, im.data, im.dlen);
        memcpy(wwork, im.wal, im.wlen);
        size_t len = im.dlen, wlen = im.wlen;
        int kind = (int)(r % NKINDS);
        if (kind <= 8)
            len = damage_data(&d, kind, work, im.dlen, desc, sizeof desc);
        else if (kind == 9)
            snprintf(desc, sizeof desc, "data and log intact");
        else
            damage_wal(&d, kind, wwork, &wlen, (size_t)im.wal_used, desc, sizeof desc);
        place_copy(path, work, len, wwork, wlen);
        if (kind == 9 || rnd(&d, 40) == 0) { /* the lock file too */
            size_t dl = strlen(desc);
            snprintf(desc + dl, sizeof desc - dl, "; ");
            garbage_lock(&d, lockpath, desc + dl + 2, sizeof desc - dl - 2);
        }
        if (run_child(&d, path, seed ^ (r * 0x9E37), why, sizeof why) != 0) {
            /* Keep the damaged input for replay. */
            char keep[4200];
            snprintf(keep, sizeof keep, "%s/failed-round-%" PRIu64 ".db", im.dir, r);
            place_copy(keep, work, len, wwork, wlen);
            d.failures++;
            size_t fl = strlen(d.failmsg);
            if (fl + 200 < sizeof d.failmsg)
                snprintf(d.failmsg + fl, sizeof d.failmsg - fl,
                         "\n  round %" PRIu64 " (%.300s): %.600s [input kept: %.300s]", r, desc,
                         why, keep);
            fprintf(stderr, "check_damage: round %" PRIu64 " (%s): %s\n", r, desc, why);
            continue;
        }
        if (d.res->corrupted)
            d.rounds_corrupted++;
        if (d.res->opened & 4)
            d.rounds_opened_default++;
        if (d.res->clean_check & 4)
            d.rounds_clean++;
        if (d.res->marker_lost)
            d.rounds_marker_lost++;
        if (d.res->wal_seen >= 0 && d.res->wal_seen < NWAL)
            d.rounds_wal_partial++;
    }
    fprintf(stderr,
            "check_damage: %" PRIu64 " rounds: %d failed, %d met LDB_CORRUPTED, %d opened "
            "(default), %d checked clean, %d fell back to the checkpoint before the last, %d "
            "recovered part of the log\n",
            rounds, d.failures, d.rounds_corrupted, d.rounds_opened_default, d.rounds_clean,
            d.rounds_marker_lost, d.rounds_wal_partial);
    ck_assert_msg(d.failures == 0, "seed %" PRIu64 ": %d of %" PRIu64 " rounds failed:%s", seed,
                  d.failures, rounds, d.failmsg);
    ck_assert_msg(rounds < 2 * NKINDS || d.rounds_corrupted > 0,
                  "no round of %" PRIu64 " met LDB_CORRUPTED: the damage goes undetected",
                  rounds);
    munmap(d.res, sizeof *d.res);
    free(work);
    free(wwork);
    free(path);
    tu_remove_dir(im.dir);
    free_image(&im);
}

/* ---- tests ---------------------------------------------------------------------------- */

/* The undamaged crash image: recovery replays the whole log, the result is
 * clean with every key there, and the probe agrees. */
START_TEST(test_undamaged_copy)
{
    static uint8_t vb[VAL_MAX];
    char kb[16];
    image im = {0};
    make_image(&im, 0);
    char *copy = strdup(tu_path(im.dir, "copy.db"));
    place_copy(copy, im.data, im.dlen, im.wal, im.wlen);

    /* LDB_IMMUTABLE cannot replay the log: LDB_READONLY. LDB_RDONLY recovers
     * (through a writable handle, this process may write); after that an
     * LDB_IMMUTABLE open reads everything too, as does a default one. */
    ldb_options opts = {0};
    opts.flags = LDB_IMMUTABLE;
    ldb_env *env = NULL;
    int rc = ldb_open(copy, &opts, &env);
    if (rc == 0)
        ldb_close(env);
    ck_assert_msg(rc == LDB_READONLY, "IMMUTABLE open of a database needing recovery: %s",
                  ldb_strerror(rc));
    for (int mode = 0; mode < 3; mode++) {
        opts.flags = mode_flags[mode];
        env = NULL;
        rc = ldb_open(copy, &opts, &env);
        ck_assert_msg(rc == 0, "open (%s) of the crash image: %s", mode_name[mode],
                      ldb_strerror(rc));
        tu_check_env(env);
        ldb_txn *txn = begin_or_fail(env, LDB_TXN_RDONLY);
        ldb_dbi named;
        rc = ldb_dbi_open(txn, "named", 0, &named);
        ck_assert_msg(rc == 0, "dbi_open: %s", ldb_strerror(rc));
        for (unsigned i = 0; i < NMAIN + NEXTRA; i++) {
            ldb_val k = {main_key(i, kb), kb}, v;
            rc = ldb_get(txn, LDB_MAIN, &k, &v);
            if (i >= NMAIN) {
                ck_assert_msg(rc == LDB_NOTFOUND, "deleted %s: %s", kb, ldb_strerror(rc));
                continue;
            }
            size_t vl = main_val(i, 1, vb);
            ck_assert_msg(rc == 0, "get %s: %s", kb, ldb_strerror(rc));
            ck_assert_msg(v.size == vl && memcmp(v.data, vb, vl) == 0, "%s differs", kb);
        }
        for (unsigned i = 0; i < NNAMED; i++) {
            ldb_val k = {named_key(i, kb), kb}, v;
            size_t vl = named_val(i, vb);
            rc = ldb_get(txn, named, &k, &v);
            ck_assert_msg(rc == 0, "get %s: %s", kb, ldb_strerror(rc));
            ck_assert_msg(v.size == vl && memcmp(v.data, vb, vl) == 0, "%s differs", kb);
        }
        ldb_val k = tu_str(MARKER), v;
        rc = ldb_get(txn, LDB_MAIN, &k, &v);
        ck_assert_msg(rc == 0 && v.size == 4 && memcmp(v.data, "last", 4) == 0, "marker: %s",
                      ldb_strerror(rc));
        for (unsigned j = 1; j <= NWAL; j++) {
            k = (ldb_val){wal_key(j, kb), kb};
            rc = ldb_get(txn, LDB_MAIN, &k, &v);
            size_t vl = wal_val(j, vb);
            ck_assert_msg(rc == 0, "%s: logged txn %u after recovery: %s", mode_name[mode], j,
                          ldb_strerror(rc));
            ck_assert_msg(v.size == vl && memcmp(v.data, vb, vl) == 0, "logged txn %u differs",
                          j);
        }
        ldb_txn_abort(txn);
        ck_assert_int_eq(ldb_close(env), 0);
    }

    /* The child's probe on an intact image: no corruption anywhere. */
    damage_ctx d = {0};
    d.res = shared_result();
    char why[1400];
    place_copy(copy, im.data, im.dlen, im.wal, im.wlen);
    ck_assert_msg(run_child(&d, copy, 1, why, sizeof why) == 0, "%s", why);
    ck_assert_msg(d.res->corrupted == 0, "an intact copy met LDB_CORRUPTED (phases %#x): %s",
                  d.res->corrupted, d.res->msg);
    ck_assert_msg(d.res->opened == 7 && d.res->clean_check == 7,
                  "intact copy: opened modes %#x, clean checks %#x", d.res->opened,
                  d.res->clean_check);
    ck_assert_msg(!d.res->marker_lost, "intact copy lost its last checkpoint");
    ck_assert_msg(d.res->wal_seen == NWAL, "intact copy: %d of %d logged txns recovered",
                  d.res->wal_seen, NWAL);

    /* Both meta pages destroyed: not a database any more. */
    uint8_t *b = malloc(im.dlen);
    ck_assert_ptr_nonnull(b);
    memcpy(b, im.data, im.dlen);
    memset(b, 0, 2 * (size_t)im.page_size);
    for (int mode = 0; mode < 3; mode++) {
        place_copy(copy, b, im.dlen, im.wal, im.wlen);
        opts.flags = mode_flags[mode];
        env = NULL;
        rc = ldb_open(copy, &opts, &env);
        if (rc == 0)
            ldb_close(env);
        ck_assert_msg(rc == LDB_CORRUPTED, "open (%s) with both meta pages zeroed: %s",
                      mode_name[mode], ldb_strerror(rc));
    }
    free(b);
    munmap(d.res, sizeof *d.res);
    free(copy);
    tu_remove_dir(im.dir);
    free_image(&im);
}
END_TEST

START_TEST(test_damage_rounds)
{
    run_rounds(0, 0xDA3A6E01ull, env_u64("LDB_DAMAGE_ROUNDS", 300));
}
END_TEST

START_TEST(test_damage_rounds_16k)
{
    uint64_t rounds = env_u64("LDB_DAMAGE_ROUNDS", 300) / 3;
    run_rounds(16384, 0xDA3A6E02ull, rounds ? rounds : 1);
}
END_TEST

static Suite *damage_suite(void)
{
    Suite *s = suite_create("damage");
    TCase *tc = tcase_create("files");
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, test_undamaged_copy);
    tcase_add_test(tc, test_damage_rounds);
    tcase_add_test(tc, test_damage_rounds_16k);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {damage_suite()};
    return tu_run_suites(suites, 1);
}
