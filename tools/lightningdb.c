/* SPDX-License-Identifier: MIT */
/*
 * lightningdb: the command-line front end to a Lightning DB database.
 *
 * A thin layer over the public API (include/lightningdb.h) and nothing else:
 * every figure it prints and every verdict it gives comes from a library
 * call, so the tool, the test suites and embedding programs all see the same
 * thing. The subcommands and their output are documented in lightningdb(1)
 * (docs/man/lightningdb.1); keep the two in step.
 *
 * Exit status: 0 success; 1 failure (the library's error is named through
 * ldb_strerror on stderr, or check found corruption); 2 usage error.
 *
 * Subcommands that only look (stat, check, dump, readers, backup) open the
 * database with LDB_RDONLY, so they never change its contents (if a crash
 * left log records to replay, ldb_open replays them first when this process
 * may write the files: that only makes committed txns durable in the data
 * file); --immutable opens it with LDB_IMMUTABLE instead (a copy nothing
 * will change: no lock file, no log). load and checkpoint open it for
 * writing. backup writes only its DEST (a new file, or stdout); salvage
 * only reads the database and writes a new one at DEST.
 *
 * The dump format, read back by load (one tree per dump):
 *
 *     # lightningdb-dump 1          header: format version
 *     # tree: NAME                  informational ("main" for LDB_MAIN)
 *     KEYHEX VALHEX                 one line per entry, in key order
 *     ...
 *     # end: N entries              trailer: how many entry lines precede it
 *
 * KEYHEX and VALHEX are the bytes in hex (dump writes lowercase; load takes
 * either case); an empty value is written "-". Other lines starting with '#'
 * and blank lines are ignored by load, so a dump can be written by hand
 * without header or trailer; when the header is there the trailer must be
 * too, which is how load tells a truncated dump from a whole one. load takes
 * one dump: a second header before the trailer (a truncated dump followed
 * by another) and any line after the trailer are errors, and the header's
 * and trailer's numbers are plain decimal digits, exactly as dump writes them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cli.h"
#include "lightningdb.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif


/* Entries per write txn in load: big enough that commits are few, small
 * enough that a txn's private page copies stay modest. */
#define LOAD_BATCH 10000

#define DUMP_FORMAT 1
#define DUMP_HEADER "# lightningdb-dump"
#define DUMP_TREE "# tree:"
#define DUMP_END "# end:"

const char prog[] = "lightningdb";

/* Options from the LIGHTNINGDB_OPTIONS environment variable, then each
 * -o KEY=VALUE in order, applied on top of each command's own settings
 * (ldb_options_parse's text form). Checked when given. */
#define OPTIONS_ENV "LIGHTNINGDB_OPTIONS"
#define MAX_OPTION_TEXTS 64
static const char *option_texts[MAX_OPTION_TEXTS];
static int n_option_texts;


static void usage(FILE *out)
{
    fprintf(out,
            "Usage: %s [-o KEY=VALUE]... COMMAND [ARGS]\n"
            "\n"
            "Commands:\n"
            "  stat PATH [--tree NAME]     figures of the database and of one tree\n"
            "  get PATH KEY                print the value of KEY\n"
            "  put PATH KEY VALUE|-        set KEY (VALUE '-': read it from stdin)\n"
            "  del PATH KEY                delete KEY\n"
            "  scan PATH [--prefix P] [--from K] [--to K] [--limit N] [--reverse]\n"
            "       [--keys-only]          print KEY<TAB>VALUE lines of a range\n"
            "  trees PATH                  list the named trees and their entries\n"
            "  check PATH                  verify every page and tree; exit 1 if damaged\n"
            "  dump PATH [--tree NAME]     write every entry of a tree to stdout as text\n"
            "  load PATH [--tree NAME]     read a dump from stdin and put its entries\n"
            "  readers PATH                free stale reader slots; list readers in use\n"
            "  checkpoint PATH             fold the write-ahead log into the data file\n"
            "  salvage PATH DEST           copy what precedes damage in PATH's log into a\n"
            "                              new database DEST (PATH is only read)\n"
            "  metrics PATH [--textfile DIR]  figures in Prometheus text format\n"
            "  health PATH [THRESHOLDS]    one-line status for monitors (Nagios codes)\n"
            "  backup PATH DEST [--compact]\n"
            "                              copy the database while it is in use to the\n"
            "                              new file DEST, or to stdout if DEST is '-'\n"
            "  version                     print the tool's and the library's versions\n"
            "  help                        print this help\n"
            "\n"
            "stat, check, dump, readers, metrics, health and backup open the database\n"
            "read-only. stat, check, dump and backup take --immutable: open a file\n"
            "nothing changes, with no lock file and no log. load and checkpoint open it\n"
            "for writing.\n"
            "get, put, del, scan and trees take --tree NAME and --format escaped|hex|text\n"
            "(-x: hex) for keys and values; escaped is the default.\n"
            "-o KEY=VALUE (before or after COMMAND, repeatable) and the environment\n"
            "variable LIGHTNINGDB_OPTIONS set ldb_options, e.g. -o cache_size=256MiB.\n"
            "Exit status: 0 success, 1 failure, 2 usage error. See lightningdb(1).\n",
            prog);
}

int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s help'.\n", prog);
    return EXIT_USAGE;
}

/* Remember an options text (from -o, or the environment when from_env),
 * after checking it parses. */
int add_option_text(const char *text, int from_env)
{
    ldb_options scratch;
    char err[256];
    memset(&scratch, 0, sizeof scratch);
    if (ldb_options_parse(&scratch, text, err, sizeof err) != 0)
        return from_env ? usage_error("%s: %s", OPTIONS_ENV, err)
                        : usage_error("-o %s: %s", text, err);
    if (n_option_texts == MAX_OPTION_TEXTS)
        return usage_error("too many -o options");
    option_texts[n_option_texts++] = text;
    return 0;
}

/* The user's options on top of *o (every text was checked when added). */
void apply_user_options(ldb_options *o)
{
    for (int i = 0; i < n_option_texts; i++)
        (void)ldb_options_parse(o, option_texts[i], NULL, 0);
}

/* A library error, as "lightningdb: PATH: WHAT: <ldb_strerror>". Returns 1. */
int fail(const struct args *a, const char *what, int rc)
{
    fprintf(stderr, "%s: %s: %s: %s\n", prog, a->path, what, ldb_strerror(rc));
    return 1;
}

/* Parse "PATH" plus the options in @p allowed, in any order. */
int parse_args(const char *cmd, int argc, char **argv, unsigned allowed,
               struct args *a)
{
    int only_operands = 0;

    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (!only_operands && s[0] == '-' && s[1] != '\0') {
            if (strcmp(s, "--") == 0) {
                only_operands = 1;
            } else if ((allowed & OPT_TREE) && (strcmp(s, "--tree") == 0 || strcmp(s, "-t") == 0)) {
                if (i + 1 >= argc)
                    return usage_error("%s: %s needs a tree NAME", cmd, s);
                a->tree = argv[++i];
            } else if ((allowed & OPT_TREE) && strncmp(s, "--tree=", 7) == 0) {
                a->tree = s + 7;
            } else if ((allowed & OPT_IMMUTABLE) && strcmp(s, "--immutable") == 0) {
                a->immutable = 1;
            } else if ((allowed & OPT_COMPACT) && strcmp(s, "--compact") == 0) {
                a->compact = 1;
            } else if (strcmp(s, "-o") == 0 || strcmp(s, "--option") == 0) {
                if (i + 1 >= argc)
                    return usage_error("%s: %s needs KEY=VALUE", cmd, s);
                int rc = add_option_text(argv[++i], 0);
                if (rc != 0)
                    return rc;
            } else {
                return usage_error("%s: unknown option '%s'", cmd, s);
            }
            continue;
        }
        if (a->path == NULL)
            a->path = s;
        else if ((allowed & OPT_DEST) && a->dest == NULL)
            a->dest = s;
        else
            return usage_error("%s: unexpected argument '%s'", cmd, s);
    }
    if (a->path == NULL)
        return usage_error("%s: missing PATH", cmd);
    if ((allowed & OPT_DEST) && a->dest == NULL)
        return usage_error("%s: missing DEST", cmd);
    if (a->tree != NULL && a->tree[0] == '\0')
        return usage_error("%s: empty tree name", cmd);
    return 0;
}

int open_env(const struct args *a, unsigned flags, int sync_mode, ldb_env **env)
{
    ldb_options opts;
    int rc;

    memset(&opts, 0, sizeof opts);
    opts.sync_mode = sync_mode;
    apply_user_options(&opts);
    opts.flags |= flags; /* what the command needs (read-only) always holds */
    if (a->immutable)
        opts.flags |= LDB_IMMUTABLE;
    rc = ldb_open(a->path, &opts, env);
    if (rc != 0)
        fail(a, "cannot open", rc);
    if (rc == LDB_CORRUPTED && !a->immutable)
        fprintf(stderr, "%s: %s: if its write-ahead log is what is damaged, '%s salvage %s "
                "DEST' keeps what precedes the damage in a new database DEST\n",
                prog, a->path, prog, a->path);
    /* The side-file checks of ldb_open (lightningdb.3): say which file. */
    if (rc == -ELOOP || rc == -EPERM || rc == -EMLINK)
        fprintf(stderr, "%s: %s: refused: %s-lock or %s-wal is %s; remove it if it is not "
                "the database's own\n", prog, a->path, a->path, a->path,
                rc == -ELOOP ? "a symbolic link" : rc == -EPERM ? "another user's file"
                                                 : "a hard link to another file");
    else if (rc == LDB_INVALID)
        fprintf(stderr, "%s: %s: not a regular file (or its -lock or -wal file is not)\n",
                prog, a->path);
    /* A read-only open refused because the log holds commits to replay. */
    if (rc == LDB_READONLY && (opts.flags & LDB_RDONLY)) {
        fprintf(stderr, "%s: %s: the write-ahead log holds commits to replay (left by a crash),\n",
                prog, a->path);
        if (a->immutable)
            fprintf(stderr, "%s: which --immutable never does: open without it, or run '%s "
                    "checkpoint %s' first\n", prog, prog, a->path);
        else
            fprintf(stderr, "%s: which needs write access to the files: run '%s checkpoint %s' "
                    "as a user who has it\n", prog, prog, a->path);
    }
    return rc;
}

/* Close the env; a failure here (a last sync) fails the command. */
int close_env(const struct args *a, ldb_env *env, int status)
{
    int rc = ldb_close(env);
    if (rc != 0)
        status = fail(a, "close", rc);
    return status;
}

/* The tree named by --tree (LDB_MAIN without it), in @p txn. */
int open_tree(const struct args *a, ldb_txn *txn, unsigned flags, ldb_dbi *dbi)
{
    int rc;

    if (a->tree == NULL) {
        *dbi = LDB_MAIN;
        return 0;
    }
    rc = ldb_dbi_open(txn, a->tree, flags, dbi);
    if (rc == LDB_NOTFOUND)
        fprintf(stderr, "%s: %s: no tree named '%s'\n", prog, a->path, a->tree);
    else if (rc != 0)
        fprintf(stderr, "%s: %s: open tree '%s': %s\n", prog, a->path, a->tree,
                ldb_strerror(rc));
    return rc;
}

/* A read txn on env and the tree named by --tree in it: 0, or 1 after
 * saying why not (*txn is then NULL or still to be aborted by the caller). */
int read_tree(const struct args *a, ldb_env *env, ldb_txn **txn, ldb_dbi *dbi)
{
    int rc = ldb_txn_begin(env, LDB_TXN_RDONLY, txn);
    if (rc != 0) {
        *txn = NULL;
        return fail(a, "begin read txn", rc);
    }
    return open_tree(a, *txn, 0, dbi) != 0 ? 1 : 0;
}

/* stdout failed (disk full, closed pipe): say so once. */
int output_failed(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return 0;
    fprintf(stderr, "%s: write error on standard output: %s\n", prog, strerror(errno));
    return 1;
}

/* ---- stat ---------------------------------------------------------------- */

static int cmd_stat(int argc, char **argv)
{
    struct args a;
    ldb_env *env = NULL;
    ldb_txn *txn = NULL;
    ldb_stat st;
    ldb_tree_stat ts;
    ldb_dbi dbi;
    int rc, status = 0;

    if ((rc = parse_args("stat", argc, argv, OPT_TREE | OPT_IMMUTABLE, &a)) != 0)
        return rc;
    if (open_env(&a, LDB_RDONLY, LDB_SYNC_FULL, &env) != 0)
        return 1;

    /* The tree first (a missing tree prints nothing), and its read txn ended
     * before ldb_stat_env, so that our own reader is not counted. */
    if ((status = read_tree(&a, env, &txn, &dbi)) != 0)
        goto out;
    rc = ldb_dbi_stat(txn, dbi, &ts);
    if (rc != 0) {
        status = fail(&a, "tree stat", rc);
        goto out;
    }
    ldb_txn_abort(txn);
    txn = NULL;
    rc = ldb_stat_env(env, &st);
    if (rc != 0) {
        status = fail(&a, "stat", rc);
        goto out;
    }

    printf("path:                 %s\n", a.path);
    printf("page size:            %" PRIu32 "\n", st.page_size);
    printf("file size:            %" PRIu64 "\n", st.file_size);
    printf("max size:             %" PRIu64 "\n", st.max_size);
    printf("pages used:           %" PRIu64 "\n", st.pages_used);
    printf("pages free:           %" PRIu64 "\n", st.pages_free);
    printf("last txn id:          %" PRIu64 "\n", st.last_txn_id);
    printf("wal size:             %" PRIu64 "\n", st.wal_size);
    printf("checkpoints:          %" PRIu64 "\n", st.checkpoints);
    printf("readers used:         %" PRIu32 "\n", st.readers_used);
    printf("readers max:          %" PRIu32 "\n", st.readers_max);
    printf("oldest reader txn id: %" PRIu64 "\n", st.oldest_reader_txn_id);
    /* How many commits the oldest reader is behind: what it holds back. */
    printf("oldest reader lag:    %" PRIu64 "\n",
           st.readers_used ? st.last_txn_id - st.oldest_reader_txn_id : 0);
    printf("tree:                 %s\n", a.tree != NULL ? a.tree : "main");
    printf("  entries:            %" PRIu64 "\n", ts.entries);
    printf("  depth:              %" PRIu32 "\n", ts.depth);
    printf("  branch pages:       %" PRIu64 "\n", ts.branch_pages);
    printf("  leaf pages:         %" PRIu64 "\n", ts.leaf_pages);
    printf("  overflow pages:     %" PRIu64 "\n", ts.overflow_pages);
out:
    ldb_txn_abort(txn);
    status = close_env(&a, env, status);
    return status ? status : output_failed();
}

/* ---- check --------------------------------------------------------------- */

static int cmd_check(int argc, char **argv)
{
    struct args a;
    ldb_env *env = NULL;
    int rc, status;

    if ((rc = parse_args("check", argc, argv, OPT_IMMUTABLE, &a)) != 0)
        return rc;
    rc = open_env(&a, LDB_RDONLY, LDB_SYNC_FULL, &env);
    if (rc == LDB_CORRUPTED || rc == LDB_VERSION) {
        printf("%s: CORRUPTED\n", a.path);
        output_failed();
        return 1;
    }
    if (rc != 0)
        return 1;

    fflush(stdout);
    rc = ldb_check(env, stdout);
    fflush(stdout);
    if (rc == 0) {
        printf("%s: OK\n", a.path);
        status = 0;
    } else if (rc == LDB_CORRUPTED) {
        printf("%s: CORRUPTED\n", a.path);
        status = 1;
    } else {
        status = fail(&a, "check", rc);
    }
    status = close_env(&a, env, status);
    return output_failed() ? 1 : status;
}

/* ---- dump ---------------------------------------------------------------- */

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

/* A tree name in the header comment: one line, printable. */
static void put_name(FILE *out, const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
        fputc(*p >= 0x20 && *p < 0x7f ? *p : '?', out);
}

static int cmd_dump(int argc, char **argv)
{
    struct args a;
    ldb_env *env = NULL;
    ldb_txn *txn = NULL;
    ldb_cursor *cur = NULL;
    ldb_val key, val;
    ldb_dbi dbi;
    uint64_t n = 0;
    int rc, status = 0;

    if ((rc = parse_args("dump", argc, argv, OPT_TREE | OPT_IMMUTABLE, &a)) != 0)
        return rc;
    if (open_env(&a, LDB_RDONLY, LDB_SYNC_FULL, &env) != 0)
        return 1;
    if ((status = read_tree(&a, env, &txn, &dbi)) != 0)
        goto out;
    rc = ldb_cursor_open(txn, dbi, &cur);
    if (rc != 0) {
        status = fail(&a, "open cursor", rc);
        goto out;
    }

    printf("%s %d\n%s ", DUMP_HEADER, DUMP_FORMAT, DUMP_TREE);
    put_name(stdout, a.tree != NULL ? a.tree : "main");
    putchar('\n');
    while ((rc = ldb_cursor_get(cur, &key, &val, LDB_NEXT)) == 0) {
        put_hex(stdout, key.data, key.size);
        putchar(' ');
        if (val.size == 0)
            putchar('-');
        else
            put_hex(stdout, val.data, val.size);
        putchar('\n');
        n++;
        if ((n & 4095) == 0 && ferror(stdout))
            break;
    }
    if (rc != 0 && rc != LDB_NOTFOUND) {
        /* No trailer: load will see the dump is incomplete. */
        status = fail(&a, "read", rc);
        goto out;
    }
    if (rc == 0) {
        status = output_failed();
        goto out;
    }
    printf("%s %" PRIu64 " entries\n", DUMP_END, n);
    status = output_failed();
out:
    ldb_cursor_close(cur);
    ldb_txn_abort(txn);
    return close_env(&a, env, status);
}

/* ---- load ---------------------------------------------------------------- */

int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode @p len hex digits at @p s into s itself; -1 if not hex pairs. */
static int decode_hex(char *s, size_t len, size_t *out_len)
{
    unsigned char *out = (unsigned char *)s;

    if (len % 2 != 0)
        return -1;
    for (size_t i = 0; i < len; i += 2) {
        int hi = hex_value((unsigned char)s[i]), lo = hex_value((unsigned char)s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    *out_len = len / 2;
    return 0;
}

static int is_blank(int c)
{
    return c == ' ' || c == '\t';
}

/* Split an entry line "KEYHEX VALHEX" and decode both in place. */
static const char *parse_entry(char *line, ldb_val *key, ldb_val *val)
{
    char *k = line, *v, *end;
    size_t klen, vlen, n;

    for (v = k; *v != '\0' && !is_blank((unsigned char)*v); v++)
        ;
    klen = (size_t)(v - k);
    while (is_blank((unsigned char)*v))
        v++;
    for (end = v; *end != '\0' && !is_blank((unsigned char)*end); end++)
        ;
    vlen = (size_t)(end - v);
    while (is_blank((unsigned char)*end))
        end++;
    if (klen == 0)
        return "empty key";
    if (*end != '\0')
        return "more than two fields";
    if (vlen == 0)
        return "missing value (write \"-\" for an empty value)";
    if (decode_hex(k, klen, &n) != 0)
        return "key is not pairs of hex digits";
    key->data = k;
    key->size = n;
    if (vlen == 1 && v[0] == '-') {
        val->data = v;
        val->size = 0;
    } else {
        if (decode_hex(v, vlen, &n) != 0)
            return "value is not pairs of hex digits (or \"-\")";
        val->data = v;
        val->size = n;
    }
    return NULL;
}

struct loader {
    const struct args *a;
    ldb_env *env;
    ldb_txn *txn;       /* the current batch's write txn, or NULL */
    ldb_dbi dbi;
    int have_dbi;       /* the tree handle, valid once its txn committed */
    int append;         /* keys so far arrived in order: try LDB_APPEND */
    size_t batch;       /* entries put in the current txn */
    uint64_t committed; /* entries in committed batches */
};

static int loader_begin(struct loader *l)
{
    int rc = ldb_txn_begin(l->env, 0, &l->txn);
    if (rc != 0) {
        l->txn = NULL;
        return fail(l->a, "begin write txn", rc);
    }
    if (!l->have_dbi) {
        if (open_tree(l->a, l->txn, LDB_CREATE, &l->dbi) != 0) {
            ldb_txn_abort(l->txn);
            l->txn = NULL;
            return 1;
        }
        l->have_dbi = 1;
    }
    return 0;
}

static int loader_commit(struct loader *l)
{
    int rc;

    if (l->txn == NULL)
        return 0;
    rc = ldb_txn_commit(l->txn);
    l->txn = NULL;
    if (rc != 0) {
        if (l->committed == 0)
            l->have_dbi = 0; /* the txn that opened the tree did not commit */
        l->batch = 0;
        return fail(l->a, "commit", rc);
    }
    l->committed += l->batch;
    l->batch = 0;
    return 0;
}

static int loader_put(struct loader *l, const ldb_val *key, const ldb_val *val, int *put_rc)
{
    int rc;

    *put_rc = 0;
    if (l->txn == NULL && loader_begin(l) != 0)
        return 1;
    rc = LDB_EXISTS;
    if (l->append) {
        rc = ldb_put(l->txn, l->dbi, key, val, LDB_APPEND);
        if (rc == LDB_EXISTS)
            l->append = 0; /* out of order (or a key twice): plain puts from here */
    }
    if (rc == LDB_EXISTS)
        rc = ldb_put(l->txn, l->dbi, key, val, 0);
    *put_rc = rc;
    if (rc != 0)
        return 1;
    if (++l->batch == LOAD_BATCH)
        return loader_commit(l);
    return 0;
}

/* Parse " DIGITS<suffix>" exactly (one blank, at least one decimal digit,
 * nothing else): strtoull alone would take a sign ("-18446744073709551615"
 * is 1 to it), blanks and trailing junk. 0, or -1 if s is not so. */
static int parse_dump_count(const char *s, const char *suffix, uint64_t *out)
{
    uint64_t n = 0;
    const char *p = s;

    if (*p++ != ' ' || *p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (n > (UINT64_MAX - d) / 10)
            return -1; /* more than 64 bits */
        n = n * 10 + d;
    }
    if (strcmp(p, suffix) != 0)
        return -1;
    *out = n;
    return 0;
}

/* Strip the line end and trailing blanks; returns the new length. */
static size_t chomp(char *s, size_t len)
{
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || is_blank((unsigned char)s[len - 1])))
        s[--len] = '\0';
    return len;
}

static int cmd_load(int argc, char **argv)
{
    struct args a;
    struct loader l;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    uint64_t lineno = 0, section = 0;
    uint64_t header_line = 0, trailer_line = 0; /* where they were, 0 = not yet */
    int in_dump = 0; /* between a header and its trailer */
    int rc, status = 0;

    if ((rc = parse_args("load", argc, argv, OPT_TREE, &a)) != 0)
        return rc;
    memset(&l, 0, sizeof l);
    l.a = &a;
    l.append = 1;
    /* Batches need not each be durable: one ldb_sync at the end does it. */
    if (open_env(&a, 0, LDB_SYNC_OFF, &l.env) != 0)
        return 1;
    /* Begin at once, so that an empty dump still creates its tree. */
    if (loader_begin(&l) != 0) {
        status = 1;
        goto out;
    }

    while ((got = getline(&line, &cap, stdin)) >= 0) {
        size_t len = chomp(line, (size_t)got);
        ldb_val key, val;
        const char *why;
        int put_rc;

        lineno++;
        if (len == 0)
            continue;
        if (strlen(line) != len) {
            fprintf(stderr, "%s: stdin:%" PRIu64 ": NUL byte in line\n", prog, lineno);
            status = 1;
            break;
        }
        if (trailer_line != 0) {
            /* One dump per load: what follows a trailer is another dump
             * (or the rest of a damaged one), never part of this one. */
            fprintf(stderr, "%s: stdin:%" PRIu64 ": data after the dump's trailer (line %" PRIu64
                    ")\n", prog, lineno, trailer_line);
            status = 1;
            break;
        }
        if (line[0] == '#') {
            if (strncmp(line, DUMP_HEADER, strlen(DUMP_HEADER)) == 0) {
                uint64_t fmt;
                if (parse_dump_count(line + strlen(DUMP_HEADER), "", &fmt) != 0 ||
                    fmt != DUMP_FORMAT) {
                    fprintf(stderr, "%s: stdin:%" PRIu64 ": unsupported dump format '%s'\n",
                            prog, lineno, line + strlen(DUMP_HEADER));
                    status = 1;
                    break;
                }
                if (in_dump) {
                    fprintf(stderr,
                            "%s: stdin:%" PRIu64 ": a dump begins before the one begun at line "
                            "%" PRIu64 " ended (no '%s' trailer: truncated?)\n",
                            prog, lineno, header_line, DUMP_END);
                    status = 1;
                    break;
                }
                in_dump = 1;
                header_line = lineno;
                section = 0;
            } else if (strncmp(line, DUMP_END, strlen(DUMP_END)) == 0) {
                uint64_t want;
                if (parse_dump_count(line + strlen(DUMP_END), " entries", &want) != 0) {
                    fprintf(stderr, "%s: stdin:%" PRIu64 ": malformed trailer '%s'\n", prog,
                            lineno, line);
                    status = 1;
                    break;
                }
                if (!in_dump || want != section) {
                    fprintf(stderr,
                            "%s: stdin:%" PRIu64 ": trailer says %" PRIu64
                            " entries, %" PRIu64 " read%s\n",
                            prog, lineno, want, section, in_dump ? "" : " (no header)");
                    status = 1;
                    break;
                }
                in_dump = 0;
                trailer_line = lineno;
            }
            continue;
        }
        why = parse_entry(line, &key, &val);
        if (why != NULL) {
            fprintf(stderr, "%s: stdin:%" PRIu64 ": %s\n", prog, lineno, why);
            status = 1;
            break;
        }
        if (loader_put(&l, &key, &val, &put_rc) != 0) {
            if (put_rc != 0)
                fprintf(stderr, "%s: stdin:%" PRIu64 ": put: %s\n", prog, lineno,
                        ldb_strerror(put_rc));
            status = 1;
            break;
        }
        section++;
    }
    if (status == 0 && ferror(stdin)) {
        fprintf(stderr, "%s: reading standard input: %s\n", prog, strerror(errno));
        status = 1;
    }
    if (status == 0 && in_dump) {
        fprintf(stderr, "%s: stdin: dump ends without its '%s' trailer (truncated?)\n", prog,
                DUMP_END);
        status = 1;
    }
    /* Every entry before a bad line is kept: commit the batch in hand. */
    if (loader_commit(&l) != 0)
        status = 1;
    if (l.txn == NULL && status == 0) {
        rc = ldb_sync(l.env);
        if (rc != 0)
            status = fail(&a, "sync", rc);
    }
    if (status == 0)
        printf("loaded %" PRIu64 " entries into tree %s\n", l.committed,
               a.tree != NULL ? a.tree : "main");
    else
        fprintf(stderr, "%s: %s: %" PRIu64 " entries were committed before the error\n", prog,
                a.path, l.committed);
out:
    free(line);
    ldb_txn_abort(l.txn);
    status = close_env(&a, l.env, status);
    return status ? status : output_failed();
}

/* ---- readers ------------------------------------------------------------- */

static int print_reader(void *ctx, int pid, uint64_t txn_id, int alive)
{
    (void)ctx;
    if (txn_id != 0)
        printf("  pid %-10d txn %-12" PRIu64 " %s\n", pid, txn_id, alive ? "" : "(dead)");
    else
        printf("  pid %-10d no snapshot      %s\n", pid, alive ? "" : "(dead)");
    return 0;
}

static int cmd_readers(int argc, char **argv)
{
    struct args a;
    ldb_env *env = NULL;
    ldb_stat st;
    int cleared = 0, rc, status = 0;

    if ((rc = parse_args("readers", argc, argv, 0, &a)) != 0)
        return rc;
    if (open_env(&a, LDB_RDONLY, LDB_SYNC_FULL, &env) != 0)
        return 1;
    rc = ldb_reader_check(env, &cleared);
    if (rc != 0) {
        status = fail(&a, "reader check", rc);
        goto out;
    }
    rc = ldb_stat_env(env, &st);
    if (rc != 0) {
        status = fail(&a, "stat", rc);
        goto out;
    }
    printf("cleared:              %d\n", cleared);
    printf("readers used:         %" PRIu32 "\n", st.readers_used);
    printf("readers max:          %" PRIu32 "\n", st.readers_max);
    printf("oldest reader txn id: %" PRIu64 "\n", st.oldest_reader_txn_id);
    printf("last txn id:          %" PRIu64 "\n", st.last_txn_id);
    printf("slots in use:\n");
    rc = ldb_reader_list(env, print_reader, NULL);
    if (rc != 0)
        status = fail(&a, "reader list", rc);
out:
    status = close_env(&a, env, status);
    return status ? status : output_failed();
}

/* ---- checkpoint ---------------------------------------------------------- */

/* ldb_checkpoint on a writable env. Opening it may itself recover (the first
 * opener replays the log and checkpoints), and closing checkpoints again if
 * anything committed meanwhile; the figures printed are those around the
 * ldb_checkpoint call. */
static int cmd_checkpoint(int argc, char **argv)
{
    struct args a;
    ldb_env *env = NULL;
    ldb_stat before, after;
    int rc, status = 0;

    if ((rc = parse_args("checkpoint", argc, argv, 0, &a)) != 0)
        return rc;
    if (open_env(&a, LDB_NOCREATE, LDB_SYNC_FULL, &env) != 0)
        return 1;
    rc = ldb_stat_env(env, &before);
    if (rc != 0) {
        status = fail(&a, "stat", rc);
        goto out;
    }
    rc = ldb_checkpoint(env);
    if (rc != 0) {
        status = fail(&a, "checkpoint", rc);
        goto out;
    }
    rc = ldb_stat_env(env, &after);
    if (rc != 0) {
        status = fail(&a, "stat", rc);
        goto out;
    }
    printf("last txn id:          %" PRIu64 "\n", after.last_txn_id);
    printf("wal size before:      %" PRIu64 "\n", before.wal_size);
    printf("wal size after:       %" PRIu64 "\n", after.wal_size);
    printf("checkpoints:          %" PRIu64 "\n", after.checkpoints);
out:
    status = close_env(&a, env, status);
    return status ? status : output_failed();
}

/* ---- metrics ------------------------------------------------------------- */

/* The textfile collector's file for this database: DIR/lightningdb_<base>.prom,
 * the data file's name with anything but [A-Za-z0-9_] made '_'. */
static void textfile_name(char *out, size_t cap, const char *dir, const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    char *base = basename(copy);
    for (char *p = base; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_'))
            *p = '_';
    snprintf(out, cap, "%s/lightningdb_%s.prom", dir, base);
}

/* Write the exposition to a temporary file in dir and rename it into place,
 * so the collector never reads half a file. */
static int write_textfile(const struct args *a, ldb_env *env, const char *dir)
{
    char final[4200], tmp[4300];
    textfile_name(final, sizeof final, dir, a->path);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", final, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        fprintf(stderr, "%s: %s: %s\n", prog, tmp, strerror(errno));
        return 1;
    }
    int rc = ldb_metrics(env, f);
    if (rc == 0 && (fsync(fileno(f)) != 0 || ferror(f)))
        rc = -errno;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, final) != 0)
        rc = -errno;
    if (rc != 0) {
        unlink(tmp);
        fprintf(stderr, "%s: %s: %s: %s\n", prog, a->path, final, ldb_strerror(rc));
        return 1;
    }
    return 0;
}

static int cmd_metrics(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"textfile", required_argument, NULL, 'T'},
        {"option", required_argument, NULL, 'o'},
        {"immutable", no_argument, NULL, 'I'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct args a;
    const char *dir = NULL;
    ldb_env *env = NULL;
    int c, status = 0;

    memset(&a, 0, sizeof a);
    a.cmd = "metrics";
    optind = 0;
    while ((c = getopt_long(argc + 1, argv - 1, "o:", longopts, NULL)) != -1) {
        if (c == 'T')
            dir = optarg;
        else if (c == 'o') {
            if ((status = add_option_text(optarg, 0)) != 0)
                return status;
        }
        else if (c == 'I')
            a.immutable = 1;
        else if (c == 'h') {
            printf("Usage: %s metrics PATH [--textfile DIR] [--immutable]\n", prog);
            return output_failed();
        } else
            return usage_error("metrics: bad option");
    }
    if (optind != argc)
        return usage_error("metrics: needs exactly one PATH");
    a.path = argv[optind - 1];
    if (open_env(&a, LDB_RDONLY, LDB_SYNC_FULL, &env) != 0)
        return 1;
    if (dir != NULL) {
        status = write_textfile(&a, env, dir);
    } else {
        int rc = ldb_metrics(env, stdout);
        if (rc != 0)
            status = fail(&a, "metrics", rc);
    }
    status = close_env(&a, env, status);
    return status ? status : output_failed();
}

/* ---- health -------------------------------------------------------------- */

/* Nagios plugin exit codes. */
enum { HEALTH_OK, HEALTH_WARNING, HEALTH_CRITICAL, HEALTH_UNKNOWN };
static const char *const health_word[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

struct health {
    int state;
    char why[512];
    /* thresholds */
    double file_warn, file_crit, disk_warn, disk_crit; /* percent used */
    uint64_t lag_warn, lag_crit;                        /* txns */
    uint64_t max_size;                                  /* bytes; 0: the default */
};

/* Raise the state to at least s and add the reason. */
static void health_flag(struct health *h, int s, const char *fmt, ...)
{
    va_list ap;
    size_t n = strlen(h->why);
    if (s > h->state || h->state == HEALTH_UNKNOWN)
        h->state = s;
    if (n + 3 >= sizeof h->why)
        return;
    if (n)
        n += (size_t)snprintf(h->why + n, sizeof h->why - n, "; ");
    va_start(ap, fmt);
    vsnprintf(h->why + n, sizeof h->why - n, fmt, ap);
    va_end(ap);
}

static int count_dead(void *ctx, int pid, uint64_t txn_id, int alive)
{
    (void)pid;
    (void)txn_id;
    if (!alive)
        (*(unsigned *)ctx)++;
    return 0;
}

static double disk_used_percent(const char *path)
{
    char copy[4096];
    struct statvfs vfs;
    snprintf(copy, sizeof copy, "%s", path);
    if (statvfs(dirname(copy), &vfs) != 0 || vfs.f_blocks == 0)
        return -1;
    return 100.0 * (double)(vfs.f_blocks - vfs.f_bavail) / (double)vfs.f_blocks;
}

static void health_figures(struct health *h, const char *path, ldb_env *env, ldb_stat *st,
                           double *disk)
{
    unsigned dead = 0;
    uint64_t lag = st->readers_used ? st->last_txn_id - st->oldest_reader_txn_id : 0;
    double file_pct = 100.0 * (double)st->file_size / (double)st->max_size;
    if (ldb_reader_list(env, count_dead, &dead) == 0 && dead > 0)
        health_flag(h, HEALTH_WARNING, "%u reader slot(s) of dead processes", dead);
    if (lag >= h->lag_crit)
        health_flag(h, HEALTH_CRITICAL, "oldest reader %" PRIu64 " txns behind", lag);
    else if (lag >= h->lag_warn)
        health_flag(h, HEALTH_WARNING, "oldest reader %" PRIu64 " txns behind", lag);
    if (file_pct >= h->file_crit)
        health_flag(h, HEALTH_CRITICAL, "file at %.0f%% of max size", file_pct);
    else if (file_pct >= h->file_warn)
        health_flag(h, HEALTH_WARNING, "file at %.0f%% of max size", file_pct);
    *disk = disk_used_percent(path);
    if (*disk < 0)
        health_flag(h, HEALTH_UNKNOWN, "cannot read the disk's usage");
    else if (*disk >= h->disk_crit)
        health_flag(h, HEALTH_CRITICAL, "disk %.0f%% full", *disk);
    else if (*disk >= h->disk_warn)
        health_flag(h, HEALTH_WARNING, "disk %.0f%% full", *disk);
}

static int parse_percent(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= 0 && v <= 100))
        return -1;
    *out = v;
    return 0;
}

int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int health_options(int argc, char **argv, struct health *h, const char **path)
{
    static const struct option longopts[] = {
        {"file-warn", required_argument, NULL, 'f'}, {"file-crit", required_argument, NULL, 'F'},
        {"disk-warn", required_argument, NULL, 'd'}, {"disk-crit", required_argument, NULL, 'D'},
        {"lag-warn", required_argument, NULL, 'l'},  {"lag-crit", required_argument, NULL, 'L'},
        {"max-size", required_argument, NULL, 'm'},  {"help", no_argument, NULL, 'h'},
        {"option", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    int c, bad = 0;
    optind = 0;
    while ((c = getopt_long(argc + 1, argv - 1, "o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (add_option_text(optarg, 0) != 0)
                return -2;
            break;
        case 'f': bad |= parse_percent(optarg, &h->file_warn); break;
        case 'F': bad |= parse_percent(optarg, &h->file_crit); break;
        case 'd': bad |= parse_percent(optarg, &h->disk_warn); break;
        case 'D': bad |= parse_percent(optarg, &h->disk_crit); break;
        case 'l': bad |= parse_u64(optarg, &h->lag_warn); break;
        case 'L': bad |= parse_u64(optarg, &h->lag_crit); break;
        case 'm': bad |= parse_u64(optarg, &h->max_size); break;
        case 'h':
            printf("Usage: %s health PATH [--file-warn PCT] [--file-crit PCT] [--disk-warn PCT]\n"
                   "       [--disk-crit PCT] [--lag-warn TXNS] [--lag-crit TXNS] [--max-size BYTES]\n",
                   prog);
            return -1;
        default: return -2;
        }
        if (bad)
            return -2;
    }
    if (optind != argc)
        return -2;
    *path = argv[optind - 1];
    return 0;
}

/* Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; one status line on stdout
 * with performance data after '|', as monitoring plugins print it. */
static int cmd_health(int argc, char **argv)
{
    struct health h = {HEALTH_OK, "", 80, 95, 90, 97, 100000, 10000000, 0};
    struct args a;
    ldb_env *env = NULL;
    ldb_options opts;
    ldb_stat st;
    double disk = -1;
    int rc;

    memset(&a, 0, sizeof a);
    memset(&st, 0, sizeof st);
    a.cmd = "health";
    rc = health_options(argc, argv, &h, &a.path);
    if (rc == -1)
        return output_failed() ? HEALTH_UNKNOWN : HEALTH_OK;
    if (rc != 0) {
        printf("LIGHTNINGDB UNKNOWN - bad arguments; try '%s health --help'\n", prog);
        return HEALTH_UNKNOWN;
    }
    memset(&opts, 0, sizeof opts);
    apply_user_options(&opts);
    opts.flags |= LDB_RDONLY;
    if (h.max_size != 0)
        opts.max_size = h.max_size;
    rc = ldb_open(a.path, &opts, &env);
    if (rc == LDB_READONLY)
        health_flag(&h, HEALTH_WARNING, "the log holds commits to replay (run checkpoint)");
    else if (rc != 0)
        health_flag(&h, HEALTH_CRITICAL, "cannot open: %s", ldb_strerror(rc));
    else if ((rc = ldb_stat_env(env, &st)) != 0)
        health_flag(&h, HEALTH_CRITICAL, "stat: %s", ldb_strerror(rc));
    else
        health_figures(&h, a.path, env, &st, &disk);
    if (env != NULL && (rc = ldb_close(env)) != 0)
        health_flag(&h, HEALTH_CRITICAL, "close: %s", ldb_strerror(rc));
    printf("LIGHTNINGDB %s - %s: %s", health_word[h.state], a.path,
           h.why[0] ? h.why : "all checks passed");
    if (env != NULL)
        printf(" | file_bytes=%" PRIu64 "B readers=%" PRIu32 " lag_txns=%" PRIu64
               " disk_used=%.1f%% wal_bytes=%" PRIu64 "B",
               st.file_size, st.readers_used,
               st.readers_used ? st.last_txn_id - st.oldest_reader_txn_id : 0, disk,
               st.wal_size);
    printf("\n");
    return output_failed() ? HEALTH_UNKNOWN : h.state;
}

/* ---- backup -------------------------------------------------------------- */

/* Progress on stderr (only when it is a terminal): one line, redrawn. */
static int show_progress(void *ctx, uint64_t done, uint64_t total)
{
    (void)ctx;
    fprintf(stderr, "\r%s: backup: %3d%% (%" PRIu64 " of %" PRIu64 " MiB)", prog,
            total ? (int)(done * 100 / total) : 100, done >> 20, total >> 20);
    if (done == total)
        fputc('\n', stderr);
    return 0;
}

/* ldb_backup_ex to DEST, or to stdout for "-" (a stream for a pipe, never a
 * terminal). The copy is the newest committed snapshot as the command
 * starts; writers go on meanwhile. */
static int cmd_backup(int argc, char **argv)
{
    struct args a;
    ldb_env *env = NULL;
    int rc, status = 0;

    if ((rc = parse_args("backup", argc, argv, OPT_IMMUTABLE | OPT_COMPACT | OPT_DEST, &a)) != 0)
        return rc;
    int to_stdout = strcmp(a.dest, "-") == 0;
    if (to_stdout && isatty(STDOUT_FILENO)) {
        fprintf(stderr, "%s: backup: refusing to write a database to a terminal; redirect or "
                "pipe standard output\n", prog);
        return EXIT_USAGE;
    }
    if (open_env(&a, LDB_RDONLY, LDB_SYNC_FULL, &env) != 0)
        return 1;
    ldb_backup_progress_fn progress = isatty(STDERR_FILENO) ? show_progress : NULL;
    rc = ldb_backup_ex(env, to_stdout ? NULL : a.dest, to_stdout ? STDOUT_FILENO : -1,
                       a.compact ? LDB_BACKUP_COMPACT : 0, progress, NULL);
    if (rc == -EEXIST) {
        fprintf(stderr, "%s: %s: %s (or %s-wal) exists; a backup goes to a new file only\n",
                prog, a.path, a.dest, a.dest);
        status = 1;
    } else if (rc != 0) {
        status = fail(&a, "backup", rc);
    } else if (!to_stdout) {
        printf("%s: backup of %s complete%s\n", a.dest, a.path, a.compact ? " (compact)" : "");
    }
    status = close_env(&a, env, status);
    return status ? status : output_failed();
}

/* ---- salvage ------------------------------------------------------------- */

/* ldb_salvage: the person's decision to give up what lies in a damaged
 * log, made on a copy. The library says what was kept, on stdout. */
static int cmd_salvage(int argc, char **argv)
{
    struct args a;
    int rc;

    if ((rc = parse_args("salvage", argc, argv, OPT_DEST, &a)) != 0)
        return rc;
    rc = ldb_salvage(a.path, a.dest, stdout);
    if (rc != 0)
        return fail(&a, "salvage", rc);
    return output_failed();
}

/* ---- main ---------------------------------------------------------------- */

static int cmd_version(int argc, char **argv)
{
    (void)argv;
    if (argc > 0)
        return usage_error("version: takes no arguments");
    printf("%s %s (library %s)\n", prog, PACKAGE_VERSION, ldb_version());
    return output_failed();
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } commands[] = {
        {"stat", cmd_stat},   {"check", cmd_check},     {"dump", cmd_dump},
        {"load", cmd_load},   {"readers", cmd_readers}, {"checkpoint", cmd_checkpoint},
        {"metrics", cmd_metrics}, {"health", cmd_health}, {"backup", cmd_backup},
        {"get", cmd_get},     {"put", cmd_put},         {"del", cmd_del},
        {"scan", cmd_scan},   {"trees", cmd_trees},
        {"salvage", cmd_salvage},
        {"version", cmd_version}, {"--version", cmd_version},
    };
    const char *cmd, *env_text = getenv(OPTIONS_ENV);
    int rc;

    if (env_text != NULL && (rc = add_option_text(env_text, 1)) != 0)
        return rc;
    /* -o KEY=VALUE before the command applies to it as after it does */
    while (argc >= 3 && (strcmp(argv[1], "-o") == 0 || strcmp(argv[1], "--option") == 0)) {
        if ((rc = add_option_text(argv[2], 0)) != 0)
            return rc;
        argv += 2;
        argc -= 2;
    }
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    cmd = argv[1];
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return output_failed();
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - 2, argv + 2);
    return usage_error("unknown command '%s'", cmd);
}
