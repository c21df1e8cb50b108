/* SPDX-License-Identifier: MIT */
/*
 * endian_cross.c: the file format is the same on big- and little-endian
 * hosts. test/cross-s390x.sh builds this program twice from lib/'s sources,
 * natively and for s390x (run under qemu-s390x), and hands a database from
 * one to the other: neither Check nor the optional libraries are needed.
 *
 *   endian_cross write DIR   state 1: a few thousand keys (overflow values
 *                            among them), deletes, overwrites and a named
 *                            tree, checkpointed; then state 2: more txns
 *                            left in the log only (the process ends without
 *                            closing, so the next open replays them)
 *   endian_cross read DIR    opens (replaying the log), checks state 2,
 *                            writes state 3 (reusing free pages the other
 *                            host listed), checkpoints, backs up to
 *                            DIR/copy.ldb and DIR/compact.ldb
 *   endian_cross verify DIR  checks state 3 in the database and both copies
 *
 * Every step ends with ldb_check. The lock file is host-local (format.md):
 * the script removes it before the other host opens the files.
 */
#include <lightningdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 3000     /* main-tree keys of state 1 */
#define ADDED 200  /* keys state 2 adds after them */
#define SIDE 500   /* keys of the named tree */
#define VMAX 12000 /* largest value */

/* qemu-user cannot reserve the default 1 TiB of address space. */
static const ldb_options opts = {.max_size = 256u << 20};

#define TRY(what, expr)                                                         \
    do {                                                                        \
        int rc_ = (expr);                                                       \
        if (rc_ != 0) {                                                         \
            fprintf(stderr, "endian_cross: %s: %s\n", what, ldb_strerror(rc_)); \
            exit(1);                                                            \
        }                                                                       \
    } while (0)

/* Value of key i written in generation gen: every 40th one is large enough
 * for an overflow run. */
static size_t value_of(unsigned i, unsigned gen, uint8_t *buf)
{
    size_t n = i % 40 == 1 ? 2500 + (i * 37u + gen * 1000u) % 9000 : 1 + (i * 13u + gen) % 300;
    for (size_t k = 0; k < n; k++)
        buf[k] = (uint8_t)(i * 31u + k * 7u + gen * 101u);
    return n;
}

/* The generation key i of the main tree has in state s, -1 if absent. */
static int main_gen(unsigned i, int s)
{
    int g = i < N ? 0 : -1;
    if (i < N && i % 7 == 3)
        g = -1;
    else if (i < N && i % 11 == 5)
        g = 1;
    if (s >= 2) {
        if (i < N && i % 13 == 4)
            g = -1;
        if (i >= N)
            g = 2;
    }
    if (s >= 3) {
        if (i % 17 == 0)
            g = -1;
        else if (i % 19 == 0)
            g = 3;
    }
    return g;
}

static int side_gen(unsigned j, int s)
{
    return s >= 2 && j % 5 == 0 ? -1 : 0;
}

static ldb_val key_of(char *buf, const char *fmt, unsigned i)
{
    ldb_val k = {(size_t)snprintf(buf, 16, fmt, i), buf};
    return k;
}

static void put(ldb_txn *txn, ldb_dbi dbi, const char *fmt, unsigned i, unsigned gen)
{
    static uint8_t vb[VMAX];
    char kb[16];
    ldb_val k = key_of(kb, fmt, i), v = {value_of(i, gen, vb), vb};
    TRY("put", ldb_put(txn, dbi, &k, &v, 0));
}

static void del(ldb_txn *txn, ldb_dbi dbi, const char *fmt, unsigned i)
{
    char kb[16];
    ldb_val k = key_of(kb, fmt, i);
    TRY("del", ldb_del(txn, dbi, &k));
}

/* Walk the tree with a cursor and compare every key and value with the
 * model (gen(i, s) for i < n). */
static int check_tree(ldb_txn *txn, ldb_dbi dbi, const char *fmt, unsigned n,
                      int (*gen)(unsigned, int), int s, const char *what)
{
    static uint8_t want[VMAX];
    ldb_cursor *c;
    ldb_val k, v;
    unsigned i = 0, found = 0;
    int bad = 0, rc;
    TRY("cursor", ldb_cursor_open(txn, dbi, &c));
    while ((rc = ldb_cursor_get(c, &k, &v, LDB_NEXT)) == 0) {
        while (i < n && gen(i, s) < 0)
            i++;
        char kb[16];
        ldb_val wk = i < n ? key_of(kb, fmt, i) : (ldb_val){0, kb};
        size_t wn = i < n ? value_of(i, (unsigned)gen(i, s), want) : 0;
        if (i >= n || k.size != wk.size || memcmp(k.data, wk.data, k.size) != 0 ||
            v.size != wn || memcmp(v.data, want, wn) != 0) {
            fprintf(stderr, "endian_cross: %s: entry %u: %.*s differs from the model\n", what,
                    found, (int)k.size, (const char *)k.data);
            bad = 1;
            break;
        }
        found++;
        i++;
    }
    ldb_cursor_close(c);
    if (!bad && rc != LDB_NOTFOUND)
        TRY("cursor next", rc);
    while (!bad && i < n && gen(i, s) < 0)
        i++;
    if (!bad && i < n) {
        fprintf(stderr, "endian_cross: %s: key %u missing\n", what, i);
        bad = 1;
    }
    /* And a point lookup of each key, present or not. */
    for (unsigned j = 0; !bad && j < n; j++) {
        char kb[16];
        ldb_val key = key_of(kb, fmt, j);
        rc = ldb_get(txn, dbi, &key, &v);
        if ((gen(j, s) < 0) != (rc == LDB_NOTFOUND) || (rc != 0 && rc != LDB_NOTFOUND)) {
            fprintf(stderr, "endian_cross: %s: get %s: %s\n", what, kb, ldb_strerror(rc));
            bad = 1;
        }
    }
    return bad;
}

/* Check state s of the database at path, and ldb_check it. */
static void check_state(const char *path, int s)
{
    ldb_env *env;
    ldb_txn *txn;
    ldb_dbi side;
    TRY(path, ldb_open(path, &opts, &env));
    TRY("begin", ldb_txn_begin(env, LDB_TXN_RDONLY, &txn));
    TRY("open side", ldb_dbi_open(txn, "side", 0, &side));
    int bad = check_tree(txn, LDB_MAIN, "k%06u", N + ADDED, main_gen, s, "main") |
              check_tree(txn, side, "s%05u", SIDE, side_gen, s, "side");
    ldb_txn_abort(txn);
    TRY("check", ldb_check(env, stderr));
    TRY("close", ldb_close(env));
    if (bad)
        exit(1);
    printf("%s: state %d as written, ldb_check clean\n", path, s);
}

static void do_write(const char *path)
{
    ldb_env *env;
    ldb_txn *txn;
    ldb_dbi side;
    TRY(path, ldb_open(path, &opts, &env));
    TRY("begin", ldb_txn_begin(env, 0, &txn));
    TRY("create side", ldb_dbi_open(txn, "side", LDB_CREATE, &side));
    for (unsigned i = 0; i < N; i++)
        put(txn, LDB_MAIN, "k%06u", i, 0);
    for (unsigned j = 0; j < SIDE; j++)
        put(txn, side, "s%05u", j, 0);
    TRY("commit", ldb_txn_commit(txn));
    TRY("begin", ldb_txn_begin(env, 0, &txn));
    for (unsigned i = 0; i < N; i++)
        if (i % 7 == 3)
            del(txn, LDB_MAIN, "k%06u", i);
        else if (i % 11 == 5)
            put(txn, LDB_MAIN, "k%06u", i, 1);
    TRY("commit", ldb_txn_commit(txn));
    TRY("checkpoint", ldb_checkpoint(env));
    /* State 2: in the log only. */
    TRY("begin", ldb_txn_begin(env, 0, &txn));
    for (unsigned i = 0; i < N; i++)
        if (i % 13 == 4 && main_gen(i, 1) >= 0)
            del(txn, LDB_MAIN, "k%06u", i);
    for (unsigned i = N; i < N + ADDED; i++)
        put(txn, LDB_MAIN, "k%06u", i, 2);
    TRY("commit", ldb_txn_commit(txn));
    TRY("begin", ldb_txn_begin(env, 0, &txn));
    TRY("open side", ldb_dbi_open(txn, "side", 0, &side));
    for (unsigned j = 0; j < SIDE; j += 5)
        del(txn, side, "s%05u", j);
    TRY("commit", ldb_txn_commit(txn));
    TRY("check", ldb_check(env, stderr));
    printf("%s: written, the last two txns in the log only\n", path);
    fflush(stdout);
    _exit(0); /* no ldb_close: the next open replays the log */
}

static void do_read(const char *path, const char *dir)
{
    char copy[4096], compact[4096];
    ldb_env *env;
    ldb_txn *txn;
    check_state(path, 2);
    TRY(path, ldb_open(path, &opts, &env));
    TRY("begin", ldb_txn_begin(env, 0, &txn));
    for (unsigned i = 0; i < N + ADDED; i++)
        if (i % 17 == 0 && main_gen(i, 2) >= 0)
            del(txn, LDB_MAIN, "k%06u", i);
        else if (i % 17 != 0 && i % 19 == 0)
            put(txn, LDB_MAIN, "k%06u", i, 3);
    TRY("commit", ldb_txn_commit(txn));
    TRY("checkpoint", ldb_checkpoint(env));
    snprintf(copy, sizeof copy, "%s/copy.ldb", dir);
    snprintf(compact, sizeof compact, "%s/compact.ldb", dir);
    TRY("backup", ldb_backup(env, copy, 0));
    TRY("compact backup", ldb_backup(env, compact, LDB_BACKUP_COMPACT));
    TRY("check", ldb_check(env, stderr));
    TRY("close", ldb_close(env));
    check_state(path, 3);
}

int main(int argc, char **argv)
{
    char path[4096];
    if (argc != 3) {
        fprintf(stderr, "usage: endian_cross write|read|verify DIR\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/db.ldb", argv[2]);
    printf("%s-endian host: ", *(const uint8_t *)&(uint16_t){1} ? "little" : "big");
    if (strcmp(argv[1], "write") == 0) {
        do_write(path);
    } else if (strcmp(argv[1], "read") == 0) {
        do_read(path, argv[2]);
    } else if (strcmp(argv[1], "verify") == 0) {
        check_state(path, 3);
        snprintf(path, sizeof path, "%s/copy.ldb", argv[2]);
        check_state(path, 3);
        snprintf(path, sizeof path, "%s/compact.ldb", argv[2]);
        check_state(path, 3);
    } else {
        return 2;
    }
    return 0;
}
