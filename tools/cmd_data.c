/* SPDX-License-Identifier: MIT */
/*
 * cmd_data.c: the subcommands that read and write single entries and ranges
 * (get, put, del, scan) and list the named trees (trees).
 *
 * Keys and values on the command line and in the output have one of three
 * forms, chosen with --format (or -x for hex):
 *   escaped (default)  printable ASCII as itself, a backslash as \\, tab,
 *                      newline and carriage return as \t \n \r, any other
 *                      byte as \xHH. Plain text is its own escaped form, so
 *                      this is what people type; and output can be pasted
 *                      back as input.
 *   hex                two hex digits per byte (either case on input).
 *   text               the argument's bytes as they are; output raw (only
 *                      safe for text data).
 * scan prints one "KEY<TAB>VALUE" line per entry (escaped and hex never
 * contain a tab or newline).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum format { FMT_ESCAPED, FMT_HEX, FMT_TEXT };

struct data_args {
    struct args a;
    enum format format;
    const char *prefix, *from, *to; /* scan bounds, in --format */
    uint64_t limit;                 /* scan: 0 = no limit */
    int reverse, keys_only, nooverwrite;
    char *operands[3];
    int n_operands;
};

/* ---- encoding ------------------------------------------------------------ */

static int unescape_char(const char **p, unsigned char *out)
{
    const char *s = *p;
    switch (s[1]) {
    case '\\': *out = '\\'; break;
    case 't': *out = '\t'; break;
    case 'n': *out = '\n'; break;
    case 'r': *out = '\r'; break;
    case 'x': {
        int hi = hex_value(s[2]), lo = hi < 0 ? -1 : hex_value(s[3]);
        if (lo < 0)
            return -1;
        *out = (unsigned char)(hi << 4 | lo);
        *p = s + 4;
        return 0;
    }
    default:
        return -1;
    }
    *p = s + 2;
    return 0;
}

/* Decode text in format fmt into a new buffer (the caller frees *out);
 * -1 on malformed input. */
static int decode(const char *text, enum format fmt, ldb_val *val, unsigned char **out)
{
    size_t n = strlen(text);
    unsigned char *buf = malloc(n + 1), *w = buf;
    if (buf == NULL)
        return -1;
    const char *p = text;
    while (*p) {
        if (fmt == FMT_TEXT) {
            *w++ = (unsigned char)*p++;
        } else if (fmt == FMT_HEX) {
            int hi = hex_value(p[0]), lo = hi < 0 ? -1 : hex_value(p[1]);
            if (lo < 0)
                goto bad;
            *w++ = (unsigned char)(hi << 4 | lo);
            p += 2;
        } else if (*p == '\\') {
            if (unescape_char(&p, w++) < 0)
                goto bad;
        } else {
            *w++ = (unsigned char)*p++;
        }
    }
    val->data = buf;
    val->size = (size_t)(w - buf);
    *out = buf;
    return 0;
bad:
    free(buf);
    return -1;
}

static void encode(FILE *f, const ldb_val *v, enum format fmt)
{
    const unsigned char *p = v->data;
    for (size_t i = 0; i < v->size; i++) {
        unsigned c = p[i];
        if (fmt == FMT_TEXT)
            fputc((int)c, f);
        else if (fmt == FMT_HEX)
            fprintf(f, "%02x", c);
        else if (c == '\\')
            fputs("\\\\", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (c >= 0x20 && c < 0x7f)
            fputc((int)c, f);
        else
            fprintf(f, "\\x%02x", c);
    }
}

/* ---- arguments ----------------------------------------------------------- */

enum { OPT_FORMAT = 256, OPT_PREFIX, OPT_FROM, OPT_TO, OPT_LIMIT, OPT_REVERSE, OPT_KEYS_ONLY,
       OPT_NOOVERWRITE, OPT_IMMUTABLE_FLAG, OPT_NOWAIT, OPT_TIMEOUT };

static int parse_format(const char *s, enum format *f)
{
    if (strcmp(s, "escaped") == 0)
        *f = FMT_ESCAPED;
    else if (strcmp(s, "hex") == 0)
        *f = FMT_HEX;
    else if (strcmp(s, "text") == 0)
        *f = FMT_TEXT;
    else
        return -1;
    return 0;
}

static int apply_option(int c, struct data_args *d)
{
    switch (c) {
    case 't': d->a.tree = optarg; return 0;
    case 'x': d->format = FMT_HEX; return 0;
    case 'o': return add_option_text(optarg, 0);
    case OPT_FORMAT:
        return parse_format(optarg, &d->format) ? usage_error("%s: bad --format '%s' "
                                                              "(escaped, hex or text)",
                                                              d->a.cmd, optarg)
                                                : 0;
    case OPT_PREFIX: d->prefix = optarg; return 0;
    case OPT_FROM: d->from = optarg; return 0;
    case OPT_TO: d->to = optarg; return 0;
    case OPT_LIMIT:
        return parse_u64(optarg, &d->limit) ? usage_error("%s: bad --limit '%s'", d->a.cmd,
                                                            optarg)
                                              : 0;
    case OPT_REVERSE: d->reverse = 1; return 0;
    case OPT_KEYS_ONLY: d->keys_only = 1; return 0;
    case OPT_NOOVERWRITE: d->nooverwrite = 1; return 0;
    case OPT_IMMUTABLE_FLAG: d->a.immutable = 1; return 0;
    case OPT_NOWAIT: d->a.wait_s = 0; return 0;
    case OPT_TIMEOUT: {
        char *end;
        d->a.wait_s = strtod(optarg, &end);
        if (end == optarg || *end != '\0' || !(d->a.wait_s >= 0 && d->a.wait_s <= 1e9))
            return usage_error("%s: --timeout needs SECONDS (a number >= 0)", d->a.cmd);
        return 0;
    }
    default: return usage_error("%s: unknown option; try '%s %s --help'", d->a.cmd, prog,
                                d->a.cmd);
    }
}

/* PATH then want operands; options anywhere. Returns -1 after printing
 * help, 0, or a usage error's exit code. */
static int parse_data_args(const char *cmd, int argc, char **argv, int want, const char *help,
                           struct data_args *d)
{
    static const struct option longopts[] = {
        {"tree", required_argument, NULL, 't'},
        {"hex", no_argument, NULL, 'x'},
        {"option", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"prefix", required_argument, NULL, OPT_PREFIX},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"reverse", no_argument, NULL, OPT_REVERSE},
        {"keys-only", no_argument, NULL, OPT_KEYS_ONLY},
        {"nooverwrite", no_argument, NULL, OPT_NOOVERWRITE},
        {"immutable", no_argument, NULL, OPT_IMMUTABLE_FLAG},
        {"nowait", no_argument, NULL, OPT_NOWAIT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, rc;
    memset(d, 0, sizeof *d);
    d->a.cmd = cmd;
    d->a.wait_s = WAIT_FOREVER;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc + 1, argv - 1, "t:xo:h", longopts, NULL)) != -1) {
        if (c == 'h') {
            printf("Usage: %s %s\n", prog, help);
            return output_failed() ? 1 : -1;
        }
        if ((rc = apply_option(c, d)) != 0)
            return rc;
    }
    int n = argc + 1 - optind;
    if (n != want + 1)
        return usage_error("%s: expects %s", cmd, help);
    d->a.path = argv[optind - 1];
    for (int i = 0; i < want; i++)
        d->operands[i] = argv[optind + i];
    d->n_operands = want;
    if (d->a.tree != NULL && d->a.tree[0] == '\0')
        return usage_error("%s: empty tree name", cmd);
    return 0;
}

/* Decode operand text, or say it is malformed (usage error). */
static int decode_arg(const struct data_args *d, const char *what, const char *text,
                      ldb_val *v, unsigned char **buf)
{
    static const char *const names[] = {"escaped", "hex", "text"};
    if (decode(text, d->format, v, buf) == 0)
        return 0;
    return usage_error("%s: %s '%s' is not valid %s", d->a.cmd, what, text, names[d->format]);
}

/* ---- get ----------------------------------------------------------------- */

#define GET_HELP "get PATH KEY [--tree NAME] [--format escaped|hex|text | -x] [-o KEY=VALUE]"

static int cmd_get(int argc, char **argv)
{
    struct data_args d;
    ldb_env *env = NULL;
    ldb_txn *txn = NULL;
    ldb_dbi dbi;
    ldb_val key, val;
    unsigned char *kbuf = NULL;
    int rc, status = 0;

    if ((rc = parse_data_args("get", argc, argv, 1, GET_HELP, &d)) != 0)
        return rc < 0 ? 0 : rc;
    if ((rc = decode_arg(&d, "KEY", d.operands[0], &key, &kbuf)) != 0)
        return rc;
    if ((rc = open_env(&d.a, LDB_RDONLY, LDB_SYNC_FULL, &env)) != 0)
        status = open_status(rc);
    if (status == 0 && (status = read_tree(&d.a, env, &txn, &dbi)) == 0) {
        rc = ldb_get(txn, dbi, &key, &val);
        if (rc == 0) {
            encode(stdout, &val, d.format);
            putchar('\n');
        } else if (rc == LDB_NOTFOUND) {
            fprintf(stderr, "%s: %s: key not found\n", prog, d.a.path);
            status = 1;
        } else {
            status = fail(&d.a, "get", rc);
        }
    }
    ldb_txn_abort(txn);
    if (env != NULL)
        status = close_env(&d.a, env, status);
    free(kbuf);
    return status ? status : output_failed();
}

/* ---- put and del: one write txn each ---------------------------------------- */

/* Run one put (val != NULL) or del in a write txn and commit it. */
static int write_one(struct data_args *d, const ldb_val *key, const ldb_val *val)
{
    ldb_env *env = NULL;
    ldb_txn *txn = NULL;
    ldb_dbi dbi;
    int rc, status = 0;

    if ((rc = open_env(&d->a, LDB_NOCREATE, LDB_SYNC_FULL, &env)) != 0)
        return open_status(rc);
    if ((status = begin_write(&d->a, env, &txn)) != 0)
        goto out;
    if (open_tree(&d->a, txn, val != NULL ? LDB_CREATE : 0, &dbi) != 0) {
        status = 1;
        goto out;
    }
    rc = val != NULL ? ldb_put(txn, dbi, key, val, d->nooverwrite ? LDB_NOOVERWRITE : 0)
                     : ldb_del(txn, dbi, key);
    if (rc == LDB_NOTFOUND && val == NULL) {
        fprintf(stderr, "%s: %s: key not found\n", prog, d->a.path);
        status = 1;
        goto out;
    }
    if (rc == LDB_EXISTS) {
        fprintf(stderr, "%s: %s: key exists (--nooverwrite)\n", prog, d->a.path);
        status = 1;
        goto out;
    }
    if (rc != 0) {
        status = fail(&d->a, val != NULL ? "put" : "del", rc);
        goto out;
    }
    rc = ldb_txn_commit(txn);
    txn = NULL;
    if (rc != 0)
        status = fail(&d->a, "commit", rc);
out:
    ldb_txn_abort(txn);
    return close_env(&d->a, env, status);
}

/* All of standard input, for "put PATH KEY -". */
static int read_stdin(ldb_val *v, unsigned char **out)
{
    size_t cap = 65536, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf != NULL) {
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (got == 0)
            break;
        if (n == cap) {
            unsigned char *bigger = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (bigger == NULL)
                break;
            buf = bigger;
            cap *= 2;
        }
    }
    if (buf == NULL || ferror(stdin) || !feof(stdin)) {
        free(buf);
        return -1;
    }
    v->data = buf;
    v->size = n;
    *out = buf;
    return 0;
}

#define PUT_HELP "put PATH KEY VALUE|- [--tree NAME] [--nooverwrite] [--format F | -x]"

static int cmd_put(int argc, char **argv)
{
    struct data_args d;
    ldb_val key, val;
    unsigned char *kbuf = NULL, *vbuf = NULL;
    int rc;

    if ((rc = parse_data_args("put", argc, argv, 2, PUT_HELP, &d)) != 0)
        return rc < 0 ? 0 : rc;
    if ((rc = decode_arg(&d, "KEY", d.operands[0], &key, &kbuf)) != 0)
        return rc;
    if (strcmp(d.operands[1], "-") == 0) {
        if (read_stdin(&val, &vbuf) != 0) {
            free(kbuf);
            fprintf(stderr, "%s: put: cannot read the value from standard input\n", prog);
            return 1;
        }
    } else if ((rc = decode_arg(&d, "VALUE", d.operands[1], &val, &vbuf)) != 0) {
        free(kbuf);
        return rc;
    }
    rc = write_one(&d, &key, &val);
    free(kbuf);
    free(vbuf);
    return rc;
}

#define DEL_HELP "del PATH KEY [--tree NAME] [--format F | -x]"

static int cmd_del(int argc, char **argv)
{
    struct data_args d;
    ldb_val key;
    unsigned char *kbuf = NULL;
    int rc;

    if ((rc = parse_data_args("del", argc, argv, 1, DEL_HELP, &d)) != 0)
        return rc < 0 ? 0 : rc;
    if ((rc = decode_arg(&d, "KEY", d.operands[0], &key, &kbuf)) != 0)
        return rc;
    rc = write_one(&d, &key, NULL);
    free(kbuf);
    return rc;
}

/* ---- scan ---------------------------------------------------------------- */

#define SCAN_HELP                                                                       \
    "scan PATH [--tree NAME] [--prefix P] [--from K] [--to K] [--limit N] [--reverse]\n" \
    "       [--keys-only] [--format escaped|hex|text | -x]\n"                            \
    "--from is inclusive, --to exclusive; bounds are in --format"

struct range {
    ldb_val prefix, from, to; /* size 0 data NULL: unbounded */
};

static int key_cmp(const ldb_val *a, const ldb_val *b)
{
    size_t n = a->size < b->size ? a->size : b->size;
    int c = n ? memcmp(a->data, b->data, n) : 0;
    return c ? c : (a->size > b->size) - (a->size < b->size);
}

/* 1 if key is inside the range, 0 past its end in the scan's direction,
 * -1 before its start (only when reversing from the tree's end). */
static int in_range(const struct range *r, const ldb_val *key, int reverse)
{
    if (r->prefix.data != NULL &&
        (key->size < r->prefix.size || memcmp(key->data, r->prefix.data, r->prefix.size) != 0))
        return reverse ? (key_cmp(key, &r->prefix) > 0 ? -1 : 0) : 0;
    if (r->to.data != NULL && key_cmp(key, &r->to) >= 0)
        return reverse ? -1 : 0;
    if (r->from.data != NULL && key_cmp(key, &r->from) < 0)
        return reverse ? 0 : -1;
    return 1;
}

/* Position on the first entry of the scan (its direction's start). */
static int scan_start(ldb_cursor *cur, const struct range *r, int reverse, ldb_val *k,
                      ldb_val *v)
{
    if (!reverse) {
        const ldb_val *lo = &r->from;
        if (r->prefix.data != NULL && (lo->data == NULL || key_cmp(&r->prefix, lo) > 0))
            lo = &r->prefix;
        if (lo->data == NULL || lo->size == 0)
            return ldb_cursor_get(cur, k, v, LDB_FIRST);
        *k = *lo;
        return ldb_cursor_get(cur, k, v, LDB_SEEK);
    }
    /* Backwards: from the first key >= the upper bound, step back once. */
    if (r->to.data != NULL && r->to.size > 0) {
        *k = r->to;
        int rc = ldb_cursor_get(cur, k, v, LDB_SEEK);
        if (rc == 0)
            return ldb_cursor_get(cur, k, v, LDB_PREV);
        if (rc != LDB_NOTFOUND)
            return rc;
    }
    return ldb_cursor_get(cur, k, v, LDB_LAST);
}

static int scan_print(const struct data_args *d, ldb_cursor *cur, const struct range *r)
{
    ldb_val k, v;
    uint64_t n = 0;
    int rc = scan_start(cur, r, d->reverse, &k, &v);
    while (rc == 0 && (d->limit == 0 || n < d->limit)) {
        int where = in_range(r, &k, d->reverse);
        if (where == 0)
            break;
        if (where > 0) {
            encode(stdout, &k, d->format);
            if (!d->keys_only) {
                putchar('\t');
                encode(stdout, &v, d->format);
            }
            putchar('\n');
            n++;
        }
        rc = ldb_cursor_get(cur, &k, &v, d->reverse ? LDB_PREV : LDB_NEXT);
    }
    return rc == LDB_NOTFOUND ? 0 : rc;
}

static int cmd_scan(int argc, char **argv)
{
    struct data_args d;
    struct range r;
    unsigned char *bufs[3] = {NULL, NULL, NULL};
    ldb_env *env = NULL;
    ldb_txn *txn = NULL;
    ldb_cursor *cur = NULL;
    ldb_dbi dbi;
    int rc, status = 0;

    if ((rc = parse_data_args("scan", argc, argv, 0, SCAN_HELP, &d)) != 0)
        return rc < 0 ? 0 : rc;
    memset(&r, 0, sizeof r);
    if ((d.prefix && (rc = decode_arg(&d, "--prefix", d.prefix, &r.prefix, &bufs[0])) != 0) ||
        (d.from && (rc = decode_arg(&d, "--from", d.from, &r.from, &bufs[1])) != 0) ||
        (d.to && (rc = decode_arg(&d, "--to", d.to, &r.to, &bufs[2])) != 0))
        goto out;
    if ((rc = open_env(&d.a, LDB_RDONLY, LDB_SYNC_FULL, &env)) != 0) {
        rc = open_status(rc);
        goto out;
    }
    if ((status = read_tree(&d.a, env, &txn, &dbi)) == 0) {
        rc = ldb_cursor_open(txn, dbi, &cur);
        if (rc == 0)
            rc = scan_print(&d, cur, &r);
        if (rc != 0)
            status = fail(&d.a, "scan", rc);
    }
    ldb_cursor_close(cur);
    ldb_txn_abort(txn);
    status = close_env(&d.a, env, status);
    rc = status ? status : output_failed();
out:
    for (int i = 0; i < 3; i++)
        free(bufs[i]);
    return rc;
}

/* ---- trees --------------------------------------------------------------- */

struct tree_walk {
    struct data_args *d;
    ldb_txn *txn;
    int rc;
};

static int print_tree(void *ctx, const char *name)
{
    struct tree_walk *w = ctx;
    ldb_dbi dbi;
    ldb_tree_stat st;
    int rc = ldb_dbi_open(w->txn, name, 0, &dbi);
    if (rc == 0)
        rc = ldb_dbi_stat(w->txn, dbi, &st);
    if (rc != 0) {
        w->rc = rc;
        return 1;
    }
    ldb_val n = {strlen(name), name};
    encode(stdout, &n, w->d->format == FMT_HEX ? FMT_HEX : FMT_ESCAPED);
    printf("\t%" PRIu64 "\n", st.entries);
    return 0;
}

#define TREES_HELP "trees PATH [--format escaped|hex | -x]: each named tree and its entries"

static int cmd_trees(int argc, char **argv)
{
    struct data_args d;
    ldb_env *env = NULL;
    ldb_txn *txn = NULL;
    int rc, status = 0;

    if ((rc = parse_data_args("trees", argc, argv, 0, TREES_HELP, &d)) != 0)
        return rc < 0 ? 0 : rc;
    if ((rc = open_env(&d.a, LDB_RDONLY, LDB_SYNC_FULL, &env)) != 0)
        return open_status(rc);
    rc = ldb_txn_begin(env, LDB_TXN_RDONLY, &txn);
    if (rc == 0) {
        struct tree_walk w = {&d, txn, 0};
        rc = ldb_dbi_list(txn, print_tree, &w);
        if (rc == 1)
            rc = w.rc;
    }
    if (rc != 0)
        status = fail(&d.a, "list trees", rc);
    ldb_txn_abort(txn);
    status = close_env(&d.a, env, status);
    return status ? status : output_failed();
}

const struct command command_get = {
    "get", cmd_get,
    "PATH KEY",
    "print the value of KEY",
    "  -t, --tree NAME         the tree (the main tree without it)\n"
    "      --format F          keys and values as escaped (default), hex or text\n"
    "  -x, --hex               the same as --format hex\n"
};

const struct command command_put = {
    "put", cmd_put,
    "PATH KEY VALUE|-",
    "set KEY (VALUE '-': read it from stdin)",
    "  -t, --tree NAME         the tree (the main tree without it)\n"
    "      --format F          keys and values as escaped (default), hex or text\n"
    "  -x, --hex               the same as --format hex\n"
    "      --nooverwrite       fail if KEY exists\n"
    WAIT_HELP
};

const struct command command_del = {
    "del", cmd_del,
    "PATH KEY",
    "delete KEY",
    "  -t, --tree NAME         the tree (the main tree without it)\n"
    "      --format F          keys and values as escaped (default), hex or text\n"
    "  -x, --hex               the same as --format hex\n"
    WAIT_HELP
};

const struct command command_scan = {
    "scan", cmd_scan,
    "PATH [--prefix P] [--from K] [--to K] [--limit N] [--reverse] [--keys-only]",
    "print KEY<TAB>VALUE lines of a range",
    "  -t, --tree NAME         the tree (the main tree without it)\n"
    "      --format F          keys and values as escaped (default), hex or text\n"
    "  -x, --hex               the same as --format hex\n"
    "      --prefix P          only keys that begin with P\n"
    "      --from K            start at K (inclusive)\n"
    "      --to K              stop before K (exclusive)\n"
    "      --limit N           at most N entries\n"
    "      --reverse           in descending key order\n"
    "      --keys-only         print keys only\n"
};

const struct command command_trees = {
    "trees", cmd_trees,
    "PATH",
    "list the named trees and their entries",
    "      --format F          names as escaped (default), hex or text\n"
    "  -x, --hex               the same as --format hex\n"
};
