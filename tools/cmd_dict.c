/* SPDX-License-Identifier: MIT */
/*
 * cmd_dict.c: train-dict, a zstd dictionary for one tree
 * (ldb_dbi_train_dict), and optionally every value of the tree written
 * again so that it is stored with it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lightningdb.h"

/* Values written again per txn by --rewrite: a txn holds its dirty pages in
 * memory until it commits, so a large tree goes in steps. */
#define REWRITE_BATCH 20000u

/* Write again up to REWRITE_BATCH values of dbi from *from (the key to
 * start at; empty: the first), in txn; *from becomes the key after the
 * last one written (empty when the tree is done). */
static int rewrite_batch(ldb_txn *txn, ldb_dbi dbi, uint8_t **from, size_t *from_len,
                         uint64_t *done)
{
    ldb_cursor *cur;
    int rc = ldb_cursor_open(txn, dbi, &cur);
    if (rc != 0)
        return rc;
    ldb_val k = {*from_len, *from}, v;
    rc = ldb_cursor_get(cur, &k, &v, *from_len ? LDB_SEEK : LDB_FIRST);
    for (unsigned n = 0; rc == 0 && n < REWRITE_BATCH; n++) {
        /* Copies: a value handed out is valid until the txn's next write. */
        uint8_t *kc = malloc(k.size), *vc = malloc(v.size ? v.size : 1);
        if (kc == NULL || vc == NULL) {
            free(kc);
            free(vc);
            rc = LDB_INVALID;
            break;
        }
        memcpy(kc, k.data, k.size);
        memcpy(vc, v.data, v.size);
        ldb_val kv = {k.size, kc}, vv = {v.size, vc};
        rc = ldb_put(txn, dbi, &kv, &vv, 0);
        free(vc);
        free(*from);
        *from = kc;
        *from_len = kv.size;
        if (rc == 0) {
            (*done)++;
            rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT);
        }
    }
    if (rc == 0) { /* the batch is full: the next starts at the key after */
        uint8_t *kc = malloc(k.size);
        if (kc == NULL)
            rc = LDB_INVALID;
        else {
            memcpy(kc, k.data, k.size);
            free(*from);
            *from = kc;
            *from_len = k.size;
        }
    } else if (rc == LDB_NOTFOUND) {
        *from_len = 0; /* the end */
        rc = 0;
    }
    ldb_cursor_close(cur);
    return rc;
}

static int rewrite_all(const struct args *a, ldb_env *env, uint64_t *done)
{
    uint8_t *from = NULL;
    size_t from_len = 0;
    int status = 0;
    do {
        ldb_txn *txn;
        ldb_dbi dbi;
        if ((status = begin_write(a, env, &txn)) != 0)
            break;
        int rc = open_tree(a, txn, 0, &dbi) != 0 ? LDB_NOTFOUND : 0;
        if (rc == 0)
            rc = rewrite_batch(txn, dbi, &from, &from_len, done);
        if (rc == 0)
            rc = ldb_txn_commit(txn);
        else
            ldb_txn_abort(txn);
        if (rc != 0) {
            status = fail(a, "rewrite", rc);
            break;
        }
    } while (from_len != 0);
    free(from);
    return status;
}

/* --size BYTES and --rewrite, taken out of argv (parse_args knows neither). */
static int take_own_options(int *argc, char **argv, uint64_t *size, int *rewrite)
{
    int out = 0;
    for (int i = 0; i < *argc; i++) {
        const char *s = argv[i];
        const char *num = NULL;
        if (strcmp(s, "--") == 0) {
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        }
        if (strcmp(s, "--rewrite") == 0) {
            *rewrite = 1;
            continue;
        }
        if (strcmp(s, "--size") == 0) {
            if (i + 1 >= *argc)
                return usage_error("train-dict: --size needs BYTES");
            num = argv[++i];
        } else if (strncmp(s, "--size=", 7) == 0) {
            num = s + 7;
        }
        if (num != NULL) {
            if (parse_u64(num, size) != 0 || *size == 0)
                return usage_error("train-dict: --size: '%s' is not a number of bytes", num);
            continue;
        }
        argv[out++] = argv[i];
    }
    *argc = out;
    return 0;
}

/* Train in one write txn (it commits or not as a whole), then, with
 * --rewrite, write every value of the tree again in batches under
 * compression=zstd (the user's -o may say otherwise), so that the values
 * already stored take the dictionary too. */
static int cmd_train_dict(int argc, char **argv)
{
    struct args a;
    ldb_env *env = NULL;
    uint64_t size = 0, rewritten = 0;
    int rewrite = 0, rc, status = 0;

    if ((rc = take_own_options(&argc, argv, &size, &rewrite)) != 0)
        return rc;
    if (rewrite && (rc = add_option_text("compression=zstd", 0)) != 0)
        return rc;
    if ((rc = parse_args("train-dict", argc, argv, OPT_TREE | OPT_WAIT, &a)) != 0)
        return rc;
    if ((rc = open_env(&a, LDB_NOCREATE, LDB_SYNC_FULL, &env)) != 0)
        return open_status(rc);
    ldb_txn *txn;
    ldb_dbi dbi;
    uint32_t id = 0;
    if ((status = begin_write(&a, env, &txn)) != 0)
        goto out;
    rc = open_tree(&a, txn, 0, &dbi) != 0 ? LDB_NOTFOUND : 0;
    if (rc == 0 && (rc = ldb_dbi_train_dict(txn, dbi, (size_t)size, &id)) == 0)
        rc = ldb_txn_commit(txn);
    else
        ldb_txn_abort(txn);
    if (rc != 0) {
        if (rc == LDB_INVALID)
            fprintf(stderr, "%s: %s: a dictionary needs zstd in this build, --size from 1024 "
                    "to 1048576, and at least 8 values alike enough to train on\n", prog,
                    a.path);
        status = rc == LDB_NOTFOUND ? EXIT_FAILED : fail(&a, "train-dict", rc);
        goto out;
    }
    printf("dictionary id:        %" PRIu32 "\n", id);
    if (rewrite && (status = rewrite_all(&a, env, &rewritten)) == 0)
        printf("values rewritten:     %" PRIu64 "\n", rewritten);
out:
    status = close_env(&a, env, status);
    return status ? status : output_failed();
}

const struct command command_train_dict = {
    "train-dict", cmd_train_dict,
    "PATH [--tree NAME] [--size BYTES] [--rewrite]",
    "train a zstd dictionary for a tree's values",
    "  -t, --tree NAME         the tree (the main tree without it)\n"
    "      --size BYTES        the dictionary's size, 1024 to 1048576 (default 32768)\n"
    "      --rewrite           then write every value of the tree again, with\n"
    "                          compression=zstd (unless -o says otherwise), so the\n"
    "                          stored ones take the dictionary too\n"
    WAIT_HELP
};
