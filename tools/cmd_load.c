/* SPDX-License-Identifier: MIT */
/*
 * cmd_load.c: load, the text dump writes (cmd_dump.c describes both
 * formats) or LMDB's mdb_dump writes, from stdin into the database, in ONE
 * write txn: a load that fails anywhere (a bad line, a truncated stream, a
 * full disk) aborts it and leaves the database as it was. (The price: the
 * whole load's pages are held by one txn until its commit.)
 *
 * The format is told by the first line that is not blank: "VERSION=" is
 * mdb_dump's; "# lightningdb-dump 1" one tree (into --tree NAME, else the
 * main tree; its "# tree:" line is only informational); "# lightningdb-dump
 * 2" every tree (each section into the tree it names); anything else is a
 * hand-written list of "KEYHEX VALHEX" lines (into --tree or the main tree).
 *
 * Our formats are parsed strictly: numbers are plain decimal digits; in
 * format 1 a second header before the trailer (a truncated dump followed by
 * another) and any line after the trailer are errors; in format 2 entries
 * only come inside a section, and the stream ends with "# end-dump". Other
 * lines starting with '#' and blank lines are ignored. mdb_dump's
 * "format=print" (printable bytes as themselves, a backslash as "\\", any
 * other byte as "\XX") is read as well as "format=bytevalue"; a dump of a
 * tree with duplicate keys ("duplicates=1") is refused, as is a VERSION
 * other than 3.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cli.h"
#include "lightningdb.h"

#define DUMP_HEADER "# lightningdb-dump"
#define DUMP_TREE "# tree:"
#define DUMP_TREE_HEX "# tree-hex:"
#define DUMP_END "# end:"
#define DUMP_END_ALL "# end-dump:"

enum input { IN_UNKNOWN, IN_LIST, IN_ONE, IN_ALL, IN_MDB };
enum mdb_state { MDB_BETWEEN, MDB_HEADER, MDB_DATA };

struct loader {
    const struct args *a;
    ldb_env *env;
    ldb_txn *txn;          /* the load's one write txn */
    ldb_dbi dbi;           /* the current section's tree, once opened */
    int have_dbi;
    char *tree;            /* its name (NULL: --tree, or the main tree) */
    int append;            /* keys so far arrived in order: try LDB_APPEND */
    enum input in;
    uint64_t lineno;
    uint64_t total, trees; /* entries put; trees loaded into */
    /* our formats */
    int in_section;        /* between a header or "# tree:" and its "# end:" */
    uint64_t section;      /* entries in the current section */
    uint64_t header_line, trailer_line;
    /* mdb_dump's */
    enum mdb_state mdb;
    int mdb_print;         /* format=print */
    int have_key;          /* a key line read, its value line to come */
    ldb_val key;           /* that key (in key_buf) */
    unsigned char *key_buf;
    size_t key_cap;
    int blocks;
};

/* "lightningdb: stdin:LINE: <message>"; returns EXIT_FAILED. */
__attribute__((format(printf, 2, 3))) static int bad_line(const struct loader *l,
                                                          const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: stdin:%" PRIu64 ": ", prog, l->lineno);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_FAILED;
}

/* ---- decoding ---------------------------------------------------------------- */

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

/* mdb_dump -p: "\\" a backslash, "\XX" a byte in hex, else the byte. */
static int decode_print(char *s, size_t len, size_t *out_len)
{
    unsigned char *out = (unsigned char *)s;
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\') {
            out[n++] = (unsigned char)s[i];
        } else if (i + 1 < len && s[i + 1] == '\\') {
            out[n++] = '\\';
            i++;
        } else {
            int hi = i + 2 < len ? hex_value((unsigned char)s[i + 1]) : -1;
            int lo = hi < 0 ? -1 : hex_value((unsigned char)s[i + 2]);
            if (lo < 0)
                return -1;
            out[n++] = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
    }
    *out_len = n;
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

/* ---- putting ----------------------------------------------------------------- */

/* Begin a section: its entries go to tree name (NULL: --tree or main). */
static int section_begin(struct loader *l, const char *name)
{
    free(l->tree);
    l->tree = NULL;
    if (name != NULL && (l->tree = strdup(name)) == NULL)
        return fail(l->a, "load", -ENOMEM);
    l->have_dbi = 0;
    l->append = 1;
    l->section = 0;
    return 0;
}

/* The current section's tree, created if missing. */
static int section_tree(struct loader *l)
{
    const char *name = l->tree != NULL ? l->tree : l->a->tree;
    int rc;

    if (l->have_dbi)
        return 0;
    l->dbi = LDB_MAIN;
    if (name != NULL && (rc = ldb_dbi_open(l->txn, name, LDB_CREATE, &l->dbi)) != 0) {
        fprintf(stderr, "%s: %s: open tree '%s': %s\n", prog, l->a->path, name,
                ldb_strerror(rc));
        return rc == LDB_CORRUPTED ? EXIT_DAMAGED : EXIT_FAILED;
    }
    l->have_dbi = 1;
    l->trees++;
    return 0;
}

static int loader_put(struct loader *l, const ldb_val *key, const ldb_val *val)
{
    int rc = section_tree(l);
    if (rc != 0)
        return rc;
    rc = LDB_EXISTS;
    if (l->append) {
        rc = ldb_put(l->txn, l->dbi, key, val, LDB_APPEND);
        if (rc == LDB_EXISTS)
            l->append = 0; /* out of order (or a key twice): plain puts from here */
    }
    if (rc == LDB_EXISTS)
        rc = ldb_put(l->txn, l->dbi, key, val, 0);
    if (rc != 0)
        return bad_line(l, "put: %s", ldb_strerror(rc));
    l->section++;
    l->total++;
    return 0;
}

/* ---- our formats ------------------------------------------------------------- */

static int ours_header(struct loader *l, const char *line)
{
    uint64_t fmt;
    if (parse_dump_count(line + strlen(DUMP_HEADER), "", &fmt) != 0 || (fmt != 1 && fmt != 2))
        return bad_line(l, "unsupported dump format '%s'", line + strlen(DUMP_HEADER));
    if (l->in == IN_ONE && l->in_section)
        return bad_line(l, "a dump begins before the one begun at line %" PRIu64
                        " ended (no '%s' trailer: truncated?)", l->header_line, DUMP_END);
    if (l->in != IN_UNKNOWN)
        return bad_line(l, "a second dump header (line %" PRIu64 " began this one)",
                        l->header_line);
    if (fmt == 2 && l->a->tree != NULL)
        return bad_line(l, "a dump of every tree (dump --all) loads each tree into its "
                        "own: drop --tree");
    l->in = fmt == 1 ? IN_ONE : IN_ALL;
    l->in_section = fmt == 1;
    l->header_line = l->lineno;
    return section_begin(l, NULL);
}

static int ours_end(struct loader *l, const char *line)
{
    uint64_t want;
    if (parse_dump_count(line + strlen(DUMP_END), " entries", &want) != 0)
        return bad_line(l, "malformed trailer '%s'", line);
    if (!l->in_section || want != l->section)
        return bad_line(l, "trailer says %" PRIu64 " entries, %" PRIu64 " read%s", want,
                        l->section, l->in == IN_UNKNOWN || l->in == IN_LIST ? " (no header)" : "");
    /* An empty tree is still created, as it was dumped. */
    int rc = section_tree(l);
    if (rc != 0)
        return rc;
    l->in_section = 0;
    if (l->in != IN_ALL)
        l->trailer_line = l->lineno; /* format 2 goes on to "# end-dump" */
    return 0;
}

/* Format 2's section lines: "# tree:", "# tree-hex:", "# end-dump:". */
static int ours_all_line(struct loader *l, char *line)
{
    if (strncmp(line, DUMP_TREE_HEX, strlen(DUMP_TREE_HEX)) == 0) {
        char *hex = line + strlen(DUMP_TREE_HEX);
        size_t n;
        while (is_blank((unsigned char)*hex))
            hex++;
        if (!l->in_section || l->section > 0 || l->have_dbi)
            return bad_line(l, "'%s' belongs right after a '%s' line", DUMP_TREE_HEX, DUMP_TREE);
        if (decode_hex(hex, strlen(hex), &n) != 0 || n == 0 || memchr(hex, '\0', n) != NULL)
            return bad_line(l, "bad tree name");
        hex[n] = '\0';
        return section_begin(l, hex);
    }
    if (strncmp(line, DUMP_TREE, strlen(DUMP_TREE)) == 0) {
        if (l->in_section)
            return bad_line(l, "a tree begins before the last one's '%s' trailer", DUMP_END);
        l->in_section = 1;
        return section_begin(l, NULL); /* the main tree unless a tree-hex line follows */
    }
    uint64_t want;
    if (parse_dump_count(line + strlen(DUMP_END_ALL), " trees", &want) != 0)
        return bad_line(l, "malformed trailer '%s'", line);
    if (l->in_section)
        return bad_line(l, "the dump ends inside a tree (no '%s' trailer)", DUMP_END);
    if (want != l->trees)
        return bad_line(l, "trailer says %" PRIu64 " trees, %" PRIu64 " read", want, l->trees);
    l->trailer_line = l->lineno;
    return 0;
}

static int ours_comment(struct loader *l, char *line)
{
    if (strncmp(line, DUMP_HEADER, strlen(DUMP_HEADER)) == 0)
        return ours_header(l, line);
    if (strncmp(line, DUMP_END_ALL, strlen(DUMP_END_ALL)) == 0 && l->in == IN_ALL)
        return ours_all_line(l, line);
    if (strncmp(line, DUMP_END, strlen(DUMP_END)) == 0)
        return ours_end(l, line);
    if ((strncmp(line, DUMP_TREE, strlen(DUMP_TREE)) == 0 ||
         strncmp(line, DUMP_TREE_HEX, strlen(DUMP_TREE_HEX)) == 0) && l->in == IN_ALL)
        return ours_all_line(l, line);
    return 0; /* a comment */
}

static int ours_line(struct loader *l, char *line)
{
    ldb_val key, val;
    const char *why;

    if (l->trailer_line != 0)
        /* What follows the last trailer is another dump (or the rest of a
         * damaged one), never part of this one. */
        return bad_line(l, "data after the dump's trailer (line %" PRIu64 ")", l->trailer_line);
    if (line[0] == '#')
        return ours_comment(l, line);
    if (l->in == IN_UNKNOWN)
        l->in = IN_LIST;
    if (l->in == IN_ALL && !l->in_section)
        return bad_line(l, "an entry outside a tree's section");
    if ((why = parse_entry(line, &key, &val)) != NULL)
        return bad_line(l, "%s", why);
    return loader_put(l, &key, &val);
}

/* ---- mdb_dump's format ------------------------------------------------------- */

static int mdb_header_line(struct loader *l, const char *line)
{
    if (strcmp(line, "HEADER=END") == 0) {
        l->mdb = MDB_DATA;
        return 0;
    }
    if (strncmp(line, "format=", 7) == 0) {
        if (strcmp(line + 7, "bytevalue") != 0 && strcmp(line + 7, "print") != 0)
            return bad_line(l, "unsupported mdb_dump %s", line);
        l->mdb_print = strcmp(line + 7, "print") == 0;
    } else if (strncmp(line, "database=", 9) == 0) {
        if (line[9] == '\0')
            return bad_line(l, "empty database name");
        /* --tree (one block only) loads it under another name */
        return l->a->tree != NULL ? 0 : section_begin(l, line + 9);
    } else if (strncmp(line, "type=", 5) == 0) {
        if (strcmp(line + 5, "btree") != 0)
            return bad_line(l, "unsupported mdb_dump %s", line);
    } else if (strcmp(line, "duplicates=1") == 0) {
        return bad_line(l, "a tree with duplicate keys (LMDB's MDB_DUPSORT) cannot be loaded");
    } else if (strchr(line, '=') == NULL) {
        return bad_line(l, "malformed mdb_dump header line '%s'", line);
    }
    return 0; /* mapsize=, maxreaders=, db_pagesize=, ...: not ours to follow */
}

static int mdb_data_line(struct loader *l, char *line, size_t len)
{
    size_t n;
    if (strcmp(line, "DATA=END") == 0) {
        if (l->have_key)
            return bad_line(l, "a key without its value before DATA=END");
        l->mdb = MDB_BETWEEN;
        return section_tree(l); /* an empty tree is still created */
    }
    if (line[0] != ' ')
        return bad_line(l, "an mdb_dump data line starts with a blank");
    if ((l->mdb_print ? decode_print : decode_hex)(line + 1, len - 1, &n) != 0)
        return bad_line(l, "%s", l->mdb_print ? "bad escape" : "not pairs of hex digits");
    if (!l->have_key) {
        if (n == 0)
            return bad_line(l, "empty key");
        if (n > l->key_cap) {
            unsigned char *b = realloc(l->key_buf, n);
            if (b == NULL)
                return fail(l->a, "load", -ENOMEM);
            l->key_buf = b;
            l->key_cap = n;
        }
        memcpy(l->key_buf, line + 1, n);
        l->key.data = l->key_buf;
        l->key.size = n;
        l->have_key = 1;
        return 0;
    }
    ldb_val val = {n, line + 1};
    l->have_key = 0;
    return loader_put(l, &l->key, &val);
}

static int mdb_line(struct loader *l, char *line, size_t len)
{
    switch (l->mdb) {
    case MDB_BETWEEN:
        if (len == 0)
            return 0;
        if (strcmp(line, "VERSION=3") != 0)
            return bad_line(l, strncmp(line, "VERSION=", 8) == 0 ? "unsupported mdb_dump %s"
                                                                 : "expected VERSION=3, not '%s'",
                            line);
        if (l->blocks++ > 0 && l->a->tree != NULL)
            return bad_line(l, "a second tree in the dump: drop --tree");
        l->mdb = MDB_HEADER;
        l->mdb_print = 0;
        return section_begin(l, NULL);
    case MDB_HEADER:
        return mdb_header_line(l, line);
    case MDB_DATA:
        return mdb_data_line(l, line, len);
    }
    return 0;
}

/* ---- the command ------------------------------------------------------------- */

/* Strip the line end (and, except for mdb_dump's data lines, whose blanks
 * are data, trailing blanks); returns the new length. */
static size_t chomp(char *s, size_t len, int keep_blanks)
{
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' ||
                       (!keep_blanks && is_blank((unsigned char)s[len - 1]))))
        s[--len] = '\0';
    return len;
}

static int load_line(struct loader *l, char *line, size_t got)
{
    size_t len = chomp(line, got, l->in == IN_MDB && l->mdb == MDB_DATA);
    if (strlen(line) != len)
        return bad_line(l, "NUL byte in line");
    if (l->in == IN_UNKNOWN && strncmp(line, "VERSION=", 8) == 0)
        l->in = IN_MDB;
    if (l->in == IN_MDB)
        return mdb_line(l, line, len);
    if (len == 0)
        return 0;
    return ours_line(l, line);
}

/* What a whole stream must have ended with. */
static int load_finish(struct loader *l)
{
    if (l->in == IN_MDB && l->mdb != MDB_BETWEEN)
        return bad_line(l, "the dump ends inside a tree (no DATA=END: truncated?)");
    if (l->in == IN_ONE && l->in_section)
        return bad_line(l, "dump ends without its '%s' trailer (truncated?)", DUMP_END);
    if (l->in == IN_ALL && l->trailer_line == 0)
        return bad_line(l, "dump ends without its '%s' trailer (truncated?)", DUMP_END_ALL);
    /* A hand-written list or an empty input still creates --tree. */
    return l->in == IN_ALL || l->in == IN_MDB ? 0 : section_tree(l);
}

static int load_stream(struct loader *l, struct progress *p)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    uint64_t bytes = 0;
    int status = 0;

    while (status == 0 && (got = getline(&line, &cap, stdin)) >= 0) {
        l->lineno++;
        bytes += (uint64_t)got;
        status = load_line(l, line, (size_t)got);
        progress_update(p, bytes);
    }
    if (status == 0 && ferror(stdin)) {
        fprintf(stderr, "%s: reading standard input: %s\n", prog, strerror(errno));
        status = EXIT_FAILED;
    }
    if (status == 0)
        status = load_finish(l);
    progress_end(p, bytes);
    free(line);
    return status;
}

static int cmd_load(int argc, char **argv)
{
    struct args a;
    struct loader l;
    struct progress p;
    struct stat st;
    int rc, status;

    if ((rc = parse_args("load", argc, argv, OPT_TREE | OPT_WAIT | OPT_PROGRESS, &a)) != 0)
        return rc;
    memset(&l, 0, sizeof l);
    l.a = &a;
    /* One commit, made durable by one ldb_sync at the end. */
    if ((rc = open_env(&a, 0, LDB_SYNC_OFF, &l.env)) != 0)
        return open_status(rc);
    if ((status = begin_write(&a, l.env, &l.txn)) != 0)
        goto out;
    progress_start(&p, &a, "load", "bytes",
                   fstat(0, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0);
    section_begin(&l, NULL);
    if ((status = load_stream(&l, &p)) != 0)
        goto out;
    rc = ldb_txn_commit(l.txn);
    l.txn = NULL;
    if (rc == 0)
        rc = ldb_sync(l.env);
    if (rc != 0) {
        status = fail(&a, "commit", rc);
        goto out;
    }
    printf("loaded %" PRIu64 " entries into %" PRIu64 " tree%s\n", l.total, l.trees,
           l.trees == 1 ? "" : "s");
out:
    if (status != 0 && l.env != NULL)
        fprintf(stderr, "%s: %s: nothing was loaded (the load is one txn)\n", prog, a.path);
    ldb_txn_abort(l.txn);
    free(l.tree);
    free(l.key_buf);
    status = close_env(&a, l.env, status);
    return status ? status : output_failed();
}

const struct command command_load = {
    "load", cmd_load,
    "PATH [--tree NAME] [--nowait | --timeout SEC] < DUMP",
    "put a dump's entries (ours or mdb_dump's) in one txn",
    "  -t, --tree NAME         the tree to load a one-tree dump into (created if\n"
    "                          missing; default: the main tree)\n"
    WAIT_HELP
    "      --progress          show progress on stderr (default: when it is a terminal)\n"
    "  -q, --quiet             show no progress\n"
};
