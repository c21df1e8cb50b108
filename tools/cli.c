/* SPDX-License-Identifier: MIT */
/*
 * cli.c: what every subcommand of the lightningdb command shares (declared
 * in cli.h): the common arguments (PATH, --tree, --immutable, -o), the
 * user's options text, opening and closing the database with the messages
 * an operator needs, and the few parsers more than one subcommand uses.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include "cli.h"
#include "lightningdb.h"

const char prog[] = "lightningdb";
const struct command *current_command;

/* Options from the LIGHTNINGDB_OPTIONS environment variable, then each
 * -o KEY=VALUE in order, applied on top of each command's own settings
 * (ldb_options_parse's text form). Checked when given. */
#define MAX_OPTION_TEXTS 64
static const char *option_texts[MAX_OPTION_TEXTS];
static int n_option_texts;


int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (current_command != NULL)
        fprintf(stderr, "Usage: %s %s%s%s\nTry '%s help %s'.\n", prog, current_command->name,
                current_command->synopsis[0] ? " " : "", current_command->synopsis, prog,
                current_command->name);
    else
        fprintf(stderr, "Try '%s help'.\n", prog);
    return EXIT_USAGE;
}

void command_help(FILE *out, const struct command *c)
{
    fprintf(out, "Usage: %s %s%s%s\n%s.\n", prog, c->name, c->synopsis[0] ? " " : "",
            c->synopsis, c->summary);
    if (c->help != NULL && c->help[0] != '\0')
        fprintf(out, "\nOptions:\n%s", c->help);
    fprintf(out, "  -o, --option KEY=VALUE  an ldb_options setting (repeatable; see "
            "lightningdb(1))\n  -h, --help              print this help\n");
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

/* A library error, as "lightningdb: PATH: WHAT: <ldb_strerror>". */
int fail(const struct args *a, const char *what, int rc)
{
    fprintf(stderr, "%s: %s: %s: %s\n", prog, a->path, what, ldb_strerror(rc));
    return rc == LDB_CORRUPTED ? EXIT_DAMAGED : EXIT_FAILED;
}

/* A database that fails its checks is damaged; any other refusal (missing,
 * permission, locked, refused side file, another version) is one to open. */
int open_status(int rc)
{
    return rc == LDB_CORRUPTED ? EXIT_DAMAGED : EXIT_NOOPEN;
}

/* "--name VALUE" or "--name=VALUE": the value (or NULL), and in *used how
 * many arguments it took (0 when s is not --name). */
static const char *option_value(const char *s, const char *next, const char *name, int *used)
{
    size_t n = strlen(name);
    *used = 0;
    if (strncmp(s, name, n) != 0)
        return NULL;
    if (s[n] == '=') {
        *used = 1;
        return s + n + 1;
    }
    if (s[n] != '\0')
        return NULL;
    *used = next != NULL ? 2 : -1;
    return next;
}

/* The options of OPT_WAIT, OPT_JSON, OPT_DUMP and OPT_PROGRESS: how many
 * arguments s (and its value) took, or -1 after a usage error (an option
 * unknown to this command included). */
static int parse_more(const char *s, const char *next, unsigned allowed, struct args *a)
{
    const char *v;
    int used;

    if ((allowed & OPT_WAIT) && strcmp(s, "--nowait") == 0) {
        a->wait_s = 0;
        return 1;
    }
    if ((allowed & OPT_WAIT) && (v = option_value(s, next, "--timeout", &used), used != 0)) {
        char *end;
        double t = v != NULL ? strtod(v, &end) : -1;
        if (v == NULL || end == v || *end != '\0' || !(t >= 0 && t <= 1e9))
            return usage_error("%s: --timeout needs SECONDS (a number >= 0)", a->cmd), -1;
        a->wait_s = t;
        return used;
    }
    if ((allowed & OPT_JSON) && strcmp(s, "--json") == 0) {
        a->json = 1;
        return 1;
    }
    if ((allowed & OPT_DUMP) && strcmp(s, "--all") == 0) {
        a->all = 1;
        return 1;
    }
    if ((allowed & OPT_DUMP) && (v = option_value(s, next, "--format", &used), used != 0)) {
        if (v == NULL || (strcmp(v, "mdb") != 0 && strcmp(v, "lightningdb") != 0))
            return usage_error("%s: --format is lightningdb or mdb", a->cmd), -1;
        a->mdb = strcmp(v, "mdb") == 0;
        return used;
    }
    if ((allowed & OPT_PROGRESS) && (strcmp(s, "--progress") == 0 || strcmp(s, "--quiet") == 0 ||
                                     strcmp(s, "-q") == 0)) {
        a->progress = strcmp(s, "--progress") == 0;
        return 1;
    }
    return usage_error("%s: unknown option '%s'", a->cmd, s), -1;
}

/* Parse "PATH" plus the options in @p allowed, in any order. */
int parse_args(const char *cmd, int argc, char **argv, unsigned allowed,
               struct args *a)
{
    int only_operands = 0;

    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    a->wait_s = WAIT_FOREVER;
    a->progress = -1;
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
                int used = parse_more(s, i + 1 < argc ? argv[i + 1] : NULL, allowed, a);
                if (used < 0)
                    return EXIT_USAGE;
                i += used - 1;
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

/* Whether PATH is a file that holds no database: no "LTNGLDB1" magic at
 * byte 32 of meta page 0 nor of meta page 1 at any page size (docs/format.md).
 * An empty file counts only when the command would not create one. Asked
 * before ldb_open (which refuses such a file with LDB_CORRUPTED, as it does
 * a damaged database), so that it gets its own message and exit code; a
 * database whose other bytes are damaged still opens (and fails its
 * checks) as one. */
int not_a_database(const char *path, unsigned flags)
{
    static const char magic[8] = {'L', 'T', 'N', 'G', 'L', 'D', 'B', '1'};
    char buf[8];
    struct stat st;
    int fd, found = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK); /* a FIFO: no wait */
    if (fd < 0)
        return 0; /* ldb_open says why */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (st.st_size == 0 && !(flags & (LDB_RDONLY | LDB_NOCREATE)))) {
        close(fd);
        return 0;
    }
    /* Zeros where page 0's header is: a database a crash or a disk zeroed,
     * damaged rather than foreign (check_hostile). */
    if (pread(fd, buf, sizeof buf, 32) == (ssize_t)sizeof buf &&
        (memcmp(buf, magic, 8) == 0 || memcmp(buf, "\0\0\0\0\0\0\0\0", 8) == 0))
        found = 1;
    for (off_t ps = 4096; !found && ps <= 65536; ps *= 2)
        found = pread(fd, buf, sizeof buf, ps + 32) == (ssize_t)sizeof buf &&
                memcmp(buf, magic, 8) == 0;
    close(fd);
    return !found;
}

/* After ldb_open's EACCES: which of the three files (or the directory the
 * lock file would be made in) this user may not use, as "PATH-lock (read
 * and write)", so the message names the file refused (docs/format.md's
 * side files; the lock file is opened for writing even by readers). */
static void name_refused_file(const char *path, unsigned flags)
{
    static const char *const suffix[] = {"", "-lock", "-wal"};
    char name[4096], dir[4096];
    int rdonly = (flags & LDB_RDONLY) != 0;

    for (int i = 0; i < 3; i++) {
        int mode = i == 1 || !rdonly ? R_OK | W_OK : R_OK;
        snprintf(name, sizeof name, "%s%s", path, suffix[i]);
        if (access(name, F_OK) != 0) {
            if (i != 1)
                continue;
            snprintf(dir, sizeof dir, "%s", path);
            if (access(dirname(dir), W_OK | X_OK) == 0)
                continue;
            fprintf(stderr, "%s: %s: permission denied: cannot create %s in %s\n", prog,
                    path, name, dir);
            return;
        }
        if (access(name, mode) != 0) {
            fprintf(stderr, "%s: %s: permission denied: %s (%s)\n", prog, path, name,
                    mode & W_OK ? "read and write" : "read");
            return;
        }
    }
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
    if (not_a_database(a->path, opts.flags)) {
        fprintf(stderr, "%s: %s: not a Lightning DB database\n", prog, a->path);
        return LDB_INVALID;
    }
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
    else if (rc == -EACCES)
        name_refused_file(a->path, opts.flags);
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

/* ---- parsers -------------------------------------------------------------- */

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

/* ---- waiting for the writer ------------------------------------------------ */

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run try(ctx) (an attempt that gives LDB_BUSY rather than wait) until it
 * is not LDB_BUSY or a->wait_s runs out; WAIT_FOREVER runs wait(ctx), which
 * blocks, after saying why it may take a while. */
static int with_writer(const struct args *a, int (*attempt)(void *ctx, int nowait), void *ctx)
{
    int rc = attempt(ctx, 1);
    if (rc != LDB_BUSY)
        return rc;
    if (a->wait_s < 0) {
        fprintf(stderr, "%s: %s: waiting for another write txn or checkpoint to end "
                "(--nowait or --timeout SEC not to wait)\n", prog, a->path);
        return attempt(ctx, 0);
    }
    double end = now_s() + a->wait_s;
    while (rc == LDB_BUSY && now_s() < end) {
        sleep_ms(10);
        rc = attempt(ctx, 1);
    }
    if (rc == LDB_BUSY) {
        if (a->wait_s == 0)
            fprintf(stderr, "%s: %s: another write txn or checkpoint is running (--nowait)\n",
                    prog, a->path);
        else
            fprintf(stderr, "%s: %s: another write txn or checkpoint still ran after %g s "
                    "(--timeout)\n", prog, a->path, a->wait_s);
    }
    return rc;
}

struct begin_ctx {
    ldb_env *env;
    ldb_txn **txn;
};

static int try_begin(void *ctx, int nowait)
{
    struct begin_ctx *b = ctx;
    return ldb_txn_begin(b->env, nowait ? LDB_TXN_NOWAIT : 0, b->txn);
}

int begin_write(const struct args *a, ldb_env *env, ldb_txn **txn)
{
    struct begin_ctx b = {env, txn};
    int rc = with_writer(a, try_begin, &b);
    if (rc == 0)
        return 0;
    *txn = NULL;
    if (rc == LDB_BUSY)
        return EXIT_NOOPEN;
    return fail(a, "begin write txn", rc);
}

static int try_checkpoint(void *ctx, int nowait)
{
    return ldb_checkpoint_ex(ctx, nowait ? LDB_CHECKPOINT_NOWAIT : 0);
}

int checkpoint_waiting(const struct args *a, ldb_env *env)
{
    return with_writer(a, try_checkpoint, env);
}

int progress_wanted(const struct args *a)
{
    return a->progress >= 0 ? a->progress : isatty(STDERR_FILENO);
}

/* ---- progress ------------------------------------------------------------- */

void progress_start(struct progress *p, const struct args *a, const char *what,
                    const char *unit, uint64_t total)
{
    memset(p, 0, sizeof *p);
    p->on = progress_wanted(a);
    p->what = what;
    p->unit = unit;
    p->total = total;
    p->start = p->last = now_s();
}

static void progress_draw(struct progress *p, uint64_t done, double now)
{
    double secs = now - p->start, rate = secs > 0 ? (double)done / secs : 0;
    fprintf(stderr, "\r%s: %s: ", prog, p->what);
    if (p->total > 0) {
        double left = rate > 0 && done < p->total ? (double)(p->total - done) / rate : 0;
        fprintf(stderr, "%3d%% %" PRIu64 " of %" PRIu64 " %s, %.0f/s, %.0f s left ",
                (int)(done >= p->total ? 100 : done * 100 / p->total), done, p->total,
                p->unit, rate, left);
    } else {
        fprintf(stderr, "%" PRIu64 " %s, %.0f/s, %.0f s ", done, p->unit, rate, secs);
    }
}

void progress_update(struct progress *p, uint64_t done)
{
    if (!p->on)
        return;
    double now = now_s();
    if (now - p->last < 0.2)
        return;
    p->last = now;
    progress_draw(p, done, now);
}

void progress_end(struct progress *p, uint64_t done)
{
    if (!p->on)
        return;
    progress_draw(p, done, now_s());
    fputc('\n', stderr);
}

/* ---- JSON ------------------------------------------------------------------ */

void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p >= 0x20 && *p < 0x7f)
            fputc(*p, out);
        else
            fprintf(out, "\\u%04x", *p);
    }
    fputc('"', out);
}

void json_key(FILE *out, int *first, const char *name)
{
    fputs(*first ? "\n  " : ",\n  ", out);
    *first = 0;
    json_string(out, name);
    fputs(": ", out);
}
