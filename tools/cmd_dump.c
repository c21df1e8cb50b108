/* SPDX-License-Identifier: MIT */
/*
 * cmd_dump.c: dump (one tree to stdout as text) and load (such text from
 * stdin into one tree).
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
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cli.h"
#include "lightningdb.h"

/* Entries per write txn in load: big enough that commits are few, small
 * enough that a txn's private page copies stay modest. */
#define LOAD_BATCH 10000

#define DUMP_FORMAT 1
#define DUMP_HEADER "# lightningdb-dump"
#define DUMP_TREE "# tree:"
#define DUMP_END "# end:"

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
    if ((rc = open_env(&a, LDB_RDONLY, LDB_SYNC_FULL, &env)) != 0)
        return open_status(rc);
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
    if ((rc = open_env(&a, 0, LDB_SYNC_OFF, &l.env)) != 0)
        return open_status(rc);
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

const struct command command_dump = {
    "dump", cmd_dump,
    "PATH [--tree NAME] [--immutable]",
    "write every entry of a tree to stdout as text",
    "  -t, --tree NAME         the tree to dump (the main tree without it)\n"
    "      --immutable         open a file nothing changes (no lock file, no log)\n"
};

const struct command command_load = {
    "load", cmd_load,
    "PATH [--tree NAME]",
    "read a dump from stdin and put its entries",
    "  -t, --tree NAME         the tree to load into (created if missing)\n"
};
