/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the input is a program of API calls, one opcode byte and its
 * argument bytes at a time, run against one database and an in-memory model
 * of it: open and close, a write txn (put, del, get, cursor walks and
 * cursor deletes, dbi open and drop, commit, abort), a read txn kept open
 * across commits (it must go on seeing its snapshot), checkpoint, sync, and
 * a simulated power loss (the os layer's crash simulator drops or tears the
 * writes not yet synced, the env is abandoned unclosed) followed by a
 * reopen that recovers.
 *
 * The model is checked after every commit and abort, and after every
 * reopen: a clean reopen and a power loss under LDB_SYNC_FULL must give
 * exactly the committed state; a power loss under LDB_SYNC_OFF the state
 * after some commit at or after the last one made durable (ldb_sync,
 * ldb_checkpoint, open, close). Any disagreement aborts (a crash for the
 * fuzzer). Every reopen runs ldb_check.
 *
 * Needs the test hooks (the crash simulator, ldb__env_abandon): the libFuzzer
 * binary a build with --enable-test-hooks, the replay the hooked test core.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "fuzz.h"
#include "os.h"

#define NT 4      /* LDB_MAIN and the named trees "a", "b", "c" */
#define NKEYS 40  /* key indexes per tree */
#define HIST 64   /* commits remembered since the last durable point */
#define MAX_OPS 400 /* calls per input: a few seconds at most under ASan */

static const char *const tree_names[NT] = {NULL, "a", "b", "c"};

/* ---- the model ------------------------------------------------------------------ */

struct ent {
    uint8_t present;
    uint8_t seed;
    uint16_t len;
};

struct state {
    uint8_t exists[NT]; /* exists[0] is always 1 */
    struct ent e[NT][NKEYS];
};

/* Key index k's bytes: short keys, and every eighth one long. */
static size_t key_bytes(unsigned k, uint8_t *buf)
{
    size_t n = k % 8 == 7 ? 90 + k : 3;
    buf[0] = 'k';
    buf[1] = (uint8_t)('a' + k / 26);
    buf[2] = (uint8_t)('a' + k % 26);
    for (size_t i = 3; i < n; i++)
        buf[i] = (uint8_t)('0' + (k + i) % 10);
    return n;
}

/* Lengths reach past a page (overflow values). */
static const uint16_t value_lens[8] = {0, 1, 17, 200, 1000, 3000, 5000, 9000};

static void value_bytes(unsigned k, const struct ent *e, uint8_t *buf)
{
    uint32_t x = (uint32_t)(k * 2654435761u) ^ (uint32_t)e->seed * 40503u;
    for (size_t i = 0; i < e->len; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
}

/* Key indexes in the library's key order (memcmp, shorter first on a tie). */
static unsigned order[NKEYS];

static int key_cmp(const void *pa, const void *pb)
{
    uint8_t a[160], b[160];
    size_t la = key_bytes(*(const unsigned *)pa, a), lb = key_bytes(*(const unsigned *)pb, b);
    int c = memcmp(a, b, la < lb ? la : lb);
    return c ? c : (la > lb) - (la < lb);
}

static void init_order(void)
{
    for (unsigned i = 0; i < NKEYS; i++)
        order[i] = i;
    qsort(order, NKEYS, sizeof order[0], key_cmp);
}

#define FAIL(...)                                 \
    do {                                          \
        fprintf(stderr, "fuzz_api: " __VA_ARGS__); \
        fprintf(stderr, "\n");                    \
        abort();                                  \
    } while (0)

/* ---- the run's state ------------------------------------------------------------ */

static struct run {
    const uint8_t *in;
    size_t size, pos;
    char path[300];
    ldb_env *env;
    ldb_options opts;
    ldb_txn *w, *r;             /* the write txn, a read txn */
    struct state committed;     /* what the newest snapshot must hold */
    struct state pending;       /* what the write txn holds */
    struct state snap;          /* what the read txn sees */
    struct state hist[HIST];    /* commits since the last durable point */
    unsigned nhist;             /* hist[0] is that point */
    uint8_t val[9100], key[160];
} R;

static uint8_t next_byte(void)
{
    return R.pos < R.size ? R.in[R.pos++] : 0;
}

static void hist_reset(void)
{
    R.hist[0] = R.committed;
    R.nhist = 1;
}

static void hist_push(void)
{
    if (R.nhist == HIST) { /* forget the oldest: a stricter check, never a wrong one */
        memmove(&R.hist[0], &R.hist[1], (HIST - 1) * sizeof R.hist[0]);
        R.nhist--;
    }
    R.hist[R.nhist++] = R.committed;
}

/* The handle of tree t in txn (created if create), or a result code. */
static int tree_dbi(ldb_txn *txn, unsigned t, int create, ldb_dbi *dbi)
{
    if (t == 0) {
        *dbi = LDB_MAIN;
        return 0;
    }
    return ldb_dbi_open(txn, tree_names[t], create ? LDB_CREATE : 0, dbi);
}

/* 0 if tree t in txn holds exactly s's entries, else 1 (why in msg). */
static int tree_equals(ldb_txn *txn, const struct state *s, unsigned t, char *msg, size_t cap)
{
    ldb_dbi dbi;
    int rc = tree_dbi(txn, t, 0, &dbi);
    if (!s->exists[t]) {
        if (rc == LDB_NOTFOUND)
            return 0;
        snprintf(msg, cap, "tree %u exists (%d)", t, rc);
        return 1;
    }
    if (rc) {
        snprintf(msg, cap, "tree %u: %s", t, ldb_strerror(rc));
        return 1;
    }
    ldb_cursor *cur;
    if ((rc = ldb_cursor_open(txn, dbi, &cur)) != 0) {
        snprintf(msg, cap, "cursor open: %s", ldb_strerror(rc));
        return 1;
    }
    ldb_val k, v;
    rc = ldb_cursor_get(cur, &k, &v, LDB_FIRST);
    int bad = 0;
    for (unsigned i = 0; i < NKEYS && !bad; i++) {
        unsigned ki = order[i];
        const struct ent *e = &s->e[t][ki];
        if (!e->present)
            continue;
        size_t kl = key_bytes(ki, R.key);
        value_bytes(ki, e, R.val);
        if (rc != 0 || k.size != kl || memcmp(k.data, R.key, kl) != 0) {
            snprintf(msg, cap, "tree %u: key %u missing (%s)", t, ki, ldb_strerror(rc));
            bad = 1;
        } else if (v.size != e->len || (e->len && memcmp(v.data, R.val, e->len) != 0)) {
            snprintf(msg, cap, "tree %u: key %u has a wrong value", t, ki);
            bad = 1;
        } else {
            rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT);
        }
    }
    if (!bad && rc != LDB_NOTFOUND) {
        snprintf(msg, cap, "tree %u: an extra key of %zu bytes (%s)", t, k.size,
                 ldb_strerror(rc));
        bad = 1;
    }
    ldb_cursor_close(cur);
    return bad;
}

static int txn_equals(ldb_txn *txn, const struct state *s, char *msg, size_t cap)
{
    for (unsigned t = 0; t < NT; t++)
        if (tree_equals(txn, s, t, msg, cap))
            return 1;
    return 0;
}

/* 0 if the env's newest snapshot holds exactly s. */
static int env_equals(const struct state *s, char *msg, size_t cap)
{
    ldb_txn *txn;
    int rc = ldb_txn_begin(R.env, LDB_TXN_RDONLY, &txn);
    if (rc)
        FAIL("read txn: %s", ldb_strerror(rc));
    int bad = txn_equals(txn, s, msg, cap);
    ldb_txn_abort(txn);
    return bad;
}

static void expect_committed(const char *when)
{
    char msg[200] = "";
    if (env_equals(&R.committed, msg, sizeof msg))
        FAIL("%s: the database is not the committed state: %s", when, msg);
}

/* ---- open, close, crash ---------------------------------------------------------- */

static void end_txns(void)
{
    if (R.w)
        ldb_txn_abort(R.w);
    if (R.r)
        ldb_txn_abort(R.r);
    R.w = R.r = NULL;
}

/* Open (recovering what the last env left) and check the database. */
static void env_open(uint8_t arg)
{
    R.opts = (ldb_options){0};
    R.opts.sync_mode = arg & 1 ? LDB_SYNC_OFF : LDB_SYNC_FULL;
    R.opts.wal_max_bytes = arg & 2 ? 16u << 10 : 0;
    int rc = ldb_open(R.path, &R.opts, &R.env);
    if (rc)
        FAIL("open: %s", ldb_strerror(rc));
    rc = ldb_check(R.env, NULL);
    if (rc && ldb_check(R.env, stderr) != 0)
        FAIL("ldb_check after the open: %s", ldb_strerror(rc));
    ldb__os_crashsim_start(0x9e3779b97f4a7c15ull ^ R.pos);
}

static void env_close(void)
{
    end_txns();
    int rc = ldb_close(R.env);
    R.env = NULL;
    ldb__os_crashsim_stop();
    if (rc)
        FAIL("close: %s", ldb_strerror(rc));
}

/* Lose power: unsynced writes are kept, dropped or torn; the env is left
 * unclosed. Reopen: the state must be one the durability rules allow. */
static void crash_and_reopen(uint8_t arg)
{
    /* Under LDB_SYNC_FULL every commit that returned is durable. */
    unsigned oldest = R.opts.sync_mode == LDB_SYNC_FULL ? R.nhist - 1 : 0;
    end_txns();
    ldb__os_crashsim_crash();
    ldb__env_abandon(R.env);
    R.env = NULL;
    env_open(arg);
    char msg[200] = "";
    for (unsigned i = R.nhist; i-- > oldest;) {
        if (env_equals(&R.hist[i], msg, sizeof msg) == 0) {
            R.committed = R.hist[i];
            hist_reset();
            return;
        }
    }
    FAIL("after a power loss the database is none of the %u states allowed: %s",
         R.nhist - oldest, msg);
}

/* ---- write ops ---------------------------------------------------------------------- */

static void op_put(void)
{
    unsigned t = next_byte() % NT, k = next_byte() % NKEYS;
    uint8_t b = next_byte();
    struct ent e = {1, next_byte(), (uint16_t)(value_lens[b % 8] + (b >> 3) % 7)};
    unsigned flags = b & 0x80 ? LDB_NOOVERWRITE : 0;
    ldb_dbi dbi;
    int rc = tree_dbi(R.w, t, 1, &dbi);
    if (rc)
        FAIL("dbi open with LDB_CREATE: %s", ldb_strerror(rc));
    R.pending.exists[t] = 1;
    ldb_val kv = {key_bytes(k, R.key), R.key};
    value_bytes(k, &e, R.val);
    ldb_val vv = {e.len, R.val};
    rc = ldb_put(R.w, dbi, &kv, &vv, flags);
    int want = flags && R.pending.e[t][k].present ? LDB_EXISTS : 0;
    if (rc != want)
        FAIL("put: %d (%s), want %d", rc, ldb_strerror(rc), want);
    if (rc == 0)
        R.pending.e[t][k] = e;
}

static void op_del(void)
{
    unsigned t = next_byte() % NT, k = next_byte() % NKEYS;
    ldb_dbi dbi;
    int rc = tree_dbi(R.w, t, 0, &dbi);
    if (!R.pending.exists[t]) {
        if (rc != LDB_NOTFOUND)
            FAIL("dbi open of a missing tree: %d", rc);
        return;
    }
    if (rc)
        FAIL("dbi open: %s", ldb_strerror(rc));
    ldb_val kv = {key_bytes(k, R.key), R.key};
    rc = ldb_del(R.w, dbi, &kv);
    int want = R.pending.e[t][k].present ? 0 : LDB_NOTFOUND;
    if (rc != want)
        FAIL("del: %d (%s), want %d", rc, ldb_strerror(rc), want);
    R.pending.e[t][k].present = 0;
}

static void op_drop(void)
{
    unsigned t = next_byte() % NT, del = next_byte() & 1;
    ldb_dbi dbi;
    int rc = tree_dbi(R.w, t, 0, &dbi);
    if (!R.pending.exists[t]) {
        if (rc != LDB_NOTFOUND)
            FAIL("dbi open of a missing tree: %d", rc);
        return;
    }
    if (rc)
        FAIL("dbi open: %s", ldb_strerror(rc));
    if (t == 0)
        del = 0; /* LDB_MAIN is only emptied */
    rc = ldb_dbi_drop(R.w, dbi, (int)del);
    if (rc)
        FAIL("dbi drop: %s", ldb_strerror(rc));
    memset(R.pending.e[t], 0, sizeof R.pending.e[t]);
    if (del)
        R.pending.exists[t] = 0;
}

/* ---- reads: get and cursors, in the write txn or the read txn ------------------------- */

static void op_get(void)
{
    int in_w = next_byte() & 1;
    ldb_txn *txn = in_w ? R.w : R.r;
    const struct state *s = in_w ? &R.pending : &R.snap;
    unsigned t = next_byte() % NT, k = next_byte() % NKEYS;
    if (txn == NULL)
        return;
    ldb_dbi dbi;
    int rc = tree_dbi(txn, t, 0, &dbi);
    if (!s->exists[t]) {
        if (rc != LDB_NOTFOUND)
            FAIL("dbi open of a missing tree in a %s txn: %d", in_w ? "write" : "read", rc);
        return;
    }
    if (rc)
        FAIL("dbi open: %s", ldb_strerror(rc));
    ldb_val kv = {key_bytes(k, R.key), R.key}, v;
    rc = ldb_get(txn, dbi, &kv, &v);
    const struct ent *e = &s->e[t][k];
    if (!e->present) {
        if (rc != LDB_NOTFOUND)
            FAIL("get of a missing key: %d", rc);
        return;
    }
    value_bytes(k, e, R.val);
    if (rc || v.size != e->len || (e->len && memcmp(v.data, R.val, e->len) != 0))
        FAIL("get in a %s txn: %d, or a wrong value", in_w ? "write" : "read", rc);
}

/* The position in order[] of the first present key at or after order[from]
 * (step +1) or at or before it (step -1); -1 if none. */
static int model_seek(const struct state *s, unsigned t, int from, int step)
{
    for (int i = from; i >= 0 && i < NKEYS; i += step)
        if (s->e[t][order[i]].present)
            return i;
    return -1;
}

/* A cursor: position (first, last, or at or after a key), then walk a few
 * steps forward or backward, comparing with the model; in the write txn
 * it may delete where it stands. */
static void op_cursor(void)
{
    uint8_t a = next_byte(), b = next_byte();
    int in_w = a & 1;
    ldb_txn *txn = in_w ? R.w : R.r;
    struct state *s = in_w ? &R.pending : &R.snap;
    unsigned t = (a >> 1) % NT;
    if (txn == NULL || !s->exists[t])
        return;
    ldb_dbi dbi;
    int rc = tree_dbi(txn, t, 0, &dbi);
    ldb_cursor *cur;
    if (rc || (rc = ldb_cursor_open(txn, dbi, &cur)) != 0)
        FAIL("cursor open: %s", ldb_strerror(rc));
    int step = a & 8 ? -1 : 1, pos;
    ldb_val k, v;
    switch ((a >> 4) % 3) {
    case 0:
        rc = ldb_cursor_get(cur, &k, &v, LDB_FIRST);
        pos = model_seek(s, t, 0, 1);
        break;
    case 1:
        rc = ldb_cursor_get(cur, &k, &v, LDB_LAST);
        pos = model_seek(s, t, NKEYS - 1, -1);
        break;
    default: {
        unsigned i = b % NKEYS;
        k = (ldb_val){key_bytes(order[i], R.key), R.key};
        rc = ldb_cursor_get(cur, &k, &v, LDB_SEEK);
        pos = model_seek(s, t, (int)i, 1);
        break;
    }
    }
    for (unsigned n = 0;; n++) {
        if (pos < 0) {
            if (rc != LDB_NOTFOUND)
                FAIL("cursor: found a key past the end (%d)", rc);
            break;
        }
        unsigned ki = order[pos];
        const struct ent *e = &s->e[t][ki];
        size_t kl = key_bytes(ki, R.key);
        value_bytes(ki, e, R.val);
        if (rc || k.size != kl || memcmp(k.data, R.key, kl) != 0 || v.size != e->len ||
            (e->len && memcmp(v.data, R.val, e->len) != 0))
            FAIL("cursor: at key %u got %d or other bytes", ki, rc);
        if (n == (b >> 5))
            break;
        /* Delete here (LDB_NEXT and LDB_PREV then go on from the gap). */
        if (in_w && (b & 0x10) && (n + b) % 3 == 0) {
            rc = ldb_cursor_del(cur);
            if (rc)
                FAIL("cursor del: %s", ldb_strerror(rc));
            s->e[t][ki].present = 0;
        }
        rc = ldb_cursor_get(cur, &k, &v, step > 0 ? LDB_NEXT : LDB_PREV);
        pos = model_seek(s, t, pos + step, step);
    }
    ldb_cursor_close(cur);
}

/* ---- txns ------------------------------------------------------------------------- */

static void op_begin_write(void)
{
    if (R.w)
        return;
    int rc = ldb_txn_begin(R.env, 0, &R.w);
    if (rc)
        FAIL("write txn: %s", ldb_strerror(rc));
    R.pending = R.committed;
}

static void op_begin_read(void)
{
    if (R.r)
        ldb_txn_abort(R.r);
    int rc = ldb_txn_begin(R.env, LDB_TXN_RDONLY, &R.r);
    if (rc)
        FAIL("read txn: %s", ldb_strerror(rc));
    R.snap = R.committed;
    char msg[200] = "";
    if (txn_equals(R.r, &R.snap, msg, sizeof msg))
        FAIL("a new read txn: %s", msg);
}

static void op_commit(void)
{
    if (!R.w)
        return;
    int rc = ldb_txn_commit(R.w);
    R.w = NULL;
    if (rc)
        FAIL("commit: %s", ldb_strerror(rc));
    R.committed = R.pending;
    hist_push();
    expect_committed("after a commit");
    /* A read txn begun before goes on seeing its snapshot. */
    char msg[200] = "";
    if (R.r && txn_equals(R.r, &R.snap, msg, sizeof msg))
        FAIL("a read txn saw a later commit: %s", msg);
}

static void op_abort(void)
{
    if (!R.w)
        return;
    ldb_txn_abort(R.w);
    R.w = NULL;
    expect_committed("after an abort");
}

static void op_durable(uint8_t arg)
{
    if (R.w)
        return; /* a checkpoint waits for the writer: this thread */
    int rc = arg & 1 ? ldb_checkpoint(R.env) : ldb_sync(R.env);
    if (rc)
        FAIL("%s: %s", arg & 1 ? "checkpoint" : "sync", ldb_strerror(rc));
    hist_reset();
}

/* ---- the program ------------------------------------------------------------------ */

static void run_op(uint8_t op)
{
    switch (op % 16) {
    case 0: case 1: case 2: case 3:
        if (R.w)
            op_put();
        else
            op_begin_write();
        break;
    case 4: case 5:
        if (R.w)
            op_del();
        else
            op_begin_write();
        break;
    case 6:
        op_get();
        break;
    case 7:
        op_cursor();
        break;
    case 8: case 9:
        op_commit();
        break;
    case 10:
        op_abort();
        break;
    case 11:
        op_begin_read();
        break;
    case 12:
        if (R.w)
            op_drop();
        break;
    case 13:
        op_durable(next_byte());
        break;
    case 14: { /* close and reopen */
        uint8_t arg = next_byte();
        env_close();
        env_open(arg);
        expect_committed("after a reopen");
        hist_reset();
        break;
    }
    default:
        crash_and_reopen(next_byte());
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        init_order();
        ready = 1;
    }
    memset(&R.committed, 0, sizeof R.committed);
    R.committed.exists[0] = 1;
    R.in = data;
    R.size = size;
    R.pos = 0;
    R.w = R.r = NULL;
    snprintf(R.path, sizeof R.path, "%s/db", fuzz_dir());
    env_open(next_byte());
    hist_reset();
    for (unsigned n = 0; n < MAX_OPS && R.pos < R.size; n++)
        run_op(next_byte());
    /* Whatever was committed survives a clean close. */
    env_close();
    env_open(0);
    expect_committed("at the end");
    env_close();
    fuzz_dir_clean();
    return 0;
}
