/* SPDX-License-Identifier: MIT */
/*
 * cmd_dump.c: dump, the entries of one tree (or with --all of every tree)
 * to stdout as text that load (cmd_load.c) reads back, in our format or in
 * the mdb_dump text format, so that LMDB users can migrate through a pipe.
 *
 * Our format, one tree (what dump writes without --all):
 *
 *     # lightningdb-dump 1          header: format version
 *     # tree: NAME                  informational ("main" for LDB_MAIN)
 *     KEYHEX VALHEX                 one line per entry, in key order
 *     ...
 *     # end: N entries              trailer: how many entry lines precede it
 *
 * and every tree (dump --all), format 2: one header, then a section per
 * tree, the main tree first and the named trees in name order, then a
 * stream trailer:
 *
 *     # lightningdb-dump 2
 *     # tree: main                  a section: the main tree (no tree-hex line)
 *     KEYHEX VALHEX ...
 *     # end: N entries
 *     # tree: NAME                  a named tree: NAME printable ('?' for other
 *     # tree-hex: NAMEHEX           bytes), NAMEHEX its exact bytes
 *     ...
 *     # end: M entries
 *     # end-dump: K trees           stream trailer: how many sections precede it
 *
 * KEYHEX and VALHEX are the bytes in hex (dump writes lowercase; load takes
 * either case); an empty value is written "-". The trailers are how load
 * tells a truncated dump from a whole one.
 *
 * --format mdb writes, per tree, what LMDB's mdb_dump writes: "VERSION=3",
 * "format=bytevalue", "database=NAME" for a named tree, "type=btree",
 * "mapsize=" (a hint for mdb_load), "HEADER=END", then a line per key and
 * per value, each a blank and the bytes in hex (a blank alone: empty), and
 * "DATA=END". A tree whose name holds a newline cannot be written so.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lightningdb.h"

static const char hex_digits[] = "0123456789abcdef";

static void put_hex(FILE *out, const void *data, size_t size)
{
    const unsigned char *p = data;
    char buf[8192];
    size_t k = 0;

    for (size_t i = 0; i < size; i++) {
        buf[k++] = hex_digits[p[i] >> 4];
        buf[k++] = hex_digits[p[i] & 15];
        if (k == sizeof buf) {
            fwrite(buf, 1, k, out);
            k = 0;
        }
    }
    if (k > 0)
        fwrite(buf, 1, k, out);
}

/* A tree name in a header comment: one line, printable. */
static void put_name(FILE *out, const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
        fputc(*p >= 0x20 && *p < 0x7f ? *p : '?', out);
}

/* The trees a dump takes: names[i] NULL for the main tree. */
struct tree_set {
    char **names;
    size_t n, cap;
    uint64_t entries; /* in all of them, for the progress line */
};

static int add_tree(void *ctx, const char *name)
{
    struct tree_set *t = ctx;
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        char **names = realloc(t->names, cap * sizeof *names);
        if (names == NULL)
            return -ENOMEM;
        t->names = names;
        t->cap = cap;
    }
    if ((t->names[t->n] = strdup(name)) == NULL)
        return -ENOMEM;
    t->n++;
    return 0;
}

static void free_trees(struct tree_set *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->names[i]);
    free(t->names);
}

/* The main tree and, with --all, every named tree; or the --tree one. */
static int gather_trees(const struct args *a, ldb_txn *txn, struct tree_set *t)
{
    int rc = add_tree(t, a->tree != NULL ? a->tree : "");
    if (rc != 0)
        return rc;
    if (a->tree == NULL) {
        free(t->names[0]);
        t->names[0] = NULL; /* the main tree */
    }
    if (a->all && (rc = ldb_dbi_list(txn, add_tree, t)) != 0)
        return rc;
    for (size_t i = 0; i < t->n; i++) {
        ldb_dbi dbi = LDB_MAIN;
        ldb_tree_stat ts;
        if (t->names[i] != NULL && (rc = ldb_dbi_open(txn, t->names[i], 0, &dbi)) != 0)
            return rc;
        if ((rc = ldb_dbi_stat(txn, dbi, &ts)) != 0)
            return rc;
        t->entries += ts.entries;
    }
    return 0;
}

struct dumper {
    const struct args *a;
    ldb_txn *txn;
    uint64_t mapsize_hint; /* for the mdb format's header */
    uint64_t done;         /* entries written, all trees */
    struct progress prog;
};

static void section_header(struct dumper *d, const char *name)
{
    if (d->a->mdb) {
        printf("VERSION=3\nformat=bytevalue\n");
        if (name != NULL)
            printf("database=%s\n", name);
        printf("type=btree\nmapsize=%" PRIu64 "\nHEADER=END\n", d->mapsize_hint);
        return;
    }
    printf("# tree: ");
    put_name(stdout, name != NULL ? name : "main");
    putchar('\n');
    if (d->a->all && name != NULL) {
        printf("# tree-hex: ");
        put_hex(stdout, name, strlen(name));
        putchar('\n');
    }
}

static void put_entry(const struct dumper *d, const ldb_val *key, const ldb_val *val)
{
    if (d->a->mdb) {
        putchar(' ');
        put_hex(stdout, key->data, key->size);
        fputs("\n ", stdout);
        put_hex(stdout, val->data, val->size);
        putchar('\n');
        return;
    }
    put_hex(stdout, key->data, key->size);
    putchar(' ');
    if (val->size == 0)
        putchar('-');
    else
        put_hex(stdout, val->data, val->size);
    putchar('\n');
}

/* One tree, header to trailer. 0, or the exit status after saying why. */
static int dump_tree(struct dumper *d, const char *name)
{
    ldb_cursor *cur = NULL;
    ldb_val key, val;
    ldb_dbi dbi = LDB_MAIN;
    uint64_t n = 0;
    int rc;

    if (name != NULL && (rc = ldb_dbi_open(d->txn, name, 0, &dbi)) != 0)
        return rc == LDB_NOTFOUND ? (fprintf(stderr, "%s: %s: no tree named '%s'\n", prog,
                                             d->a->path, name), EXIT_FAILED)
                                  : fail(d->a, "open tree", rc);
    if (d->a->mdb && name != NULL && strchr(name, '\n') != NULL) {
        fprintf(stderr, "%s: %s: tree '", prog, d->a->path);
        put_name(stderr, name);
        fprintf(stderr, "': a name with a newline cannot be written in the mdb format\n");
        return EXIT_FAILED;
    }
    if ((rc = ldb_cursor_open(d->txn, dbi, &cur)) != 0)
        return fail(d->a, "open cursor", rc);
    section_header(d, name);
    while ((rc = ldb_cursor_get(cur, &key, &val, LDB_NEXT)) == 0) {
        put_entry(d, &key, &val);
        n++;
        progress_update(&d->prog, ++d->done);
        if ((n & 4095) == 0 && ferror(stdout))
            break;
    }
    ldb_cursor_close(cur);
    if (rc != 0 && rc != LDB_NOTFOUND)
        return fail(d->a, "read", rc); /* no trailer: load sees the dump is incomplete */
    if (rc == 0)
        return output_failed();
    if (d->a->mdb)
        printf("DATA=END\n");
    else
        printf("# end: %" PRIu64 " entries\n", n);
    return 0;
}

/* The mapsize line of the mdb format: room for LMDB's copy, which is
 * about as big as ours, twice over (mdb_load's default is 1 MiB). */
static uint64_t mapsize_hint(ldb_env *env)
{
    ldb_stat st;
    uint64_t size = 0, mib = 1 << 20;
    if (ldb_stat_env(env, &st) == 0)
        size = st.file_size * 2;
    if (size < 64 * mib)
        size = 64 * mib;
    return (size + mib - 1) / mib * mib;
}

static int dump_all(struct dumper *d, const struct tree_set *t)
{
    int status = 0;
    if (!d->a->mdb)
        printf("# lightningdb-dump %d\n", d->a->all ? 2 : 1);
    for (size_t i = 0; i < t->n && status == 0; i++)
        status = dump_tree(d, t->names[i]);
    if (status == 0 && d->a->all && !d->a->mdb)
        printf("# end-dump: %zu trees\n", t->n);
    return status;
}

static int cmd_dump(int argc, char **argv)
{
    struct args a;
    struct tree_set trees;
    struct dumper d;
    ldb_env *env = NULL;
    int rc, status = 0;

    if ((rc = parse_args("dump", argc, argv, OPT_TREE | OPT_IMMUTABLE | OPT_DUMP | OPT_PROGRESS,
                         &a)) != 0)
        return rc;
    if (a.all && a.tree != NULL)
        return usage_error("dump: --all and --tree exclude each other");
    memset(&trees, 0, sizeof trees);
    memset(&d, 0, sizeof d);
    d.a = &a;
    if ((rc = open_env(&a, LDB_RDONLY, LDB_SYNC_FULL, &env)) != 0)
        return open_status(rc);
    if (a.mdb)
        d.mapsize_hint = mapsize_hint(env);
    if ((rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &d.txn)) != 0) {
        status = fail(&a, "begin read txn", rc);
        goto out;
    }
    if ((rc = gather_trees(&a, d.txn, &trees)) != 0) {
        if (rc == LDB_NOTFOUND && a.tree != NULL) {
            fprintf(stderr, "%s: %s: no tree named '%s'\n", prog, a.path, a.tree);
            status = EXIT_FAILED;
        } else {
            status = fail(&a, "list trees", rc);
        }
        goto out;
    }
    progress_start(&d.prog, &a, "dump", "entries", trees.entries);
    status = dump_all(&d, &trees);
    progress_end(&d.prog, d.done);
    if (status == 0)
        status = output_failed();
out:
    free_trees(&trees);
    ldb_txn_abort(d.txn);
    return close_env(&a, env, status);
}

const struct command command_dump = {
    "dump", cmd_dump,
    "PATH [--tree NAME | --all] [--format lightningdb|mdb] [--immutable]",
    "write the entries of a tree (or of all) to stdout as text",
    "  -t, --tree NAME         the tree to dump (the main tree without it)\n"
    "      --all               the main tree and every named tree, in one stream\n"
    "      --format F          lightningdb (default) or mdb (what LMDB's mdb_dump\n"
    "                          writes, for mdb_load)\n"
    "      --progress          show progress on stderr (default: when it is a terminal)\n"
    "  -q, --quiet             show no progress\n"
    "      --immutable         open a file nothing changes (no lock file, no log)\n"
};
