/* SPDX-License-Identifier: MIT */
/*
 * cli.h: what the lightningdb command's files share: the parsed common
 * arguments, messages and exit codes, and opening a database the way every
 * subcommand does (the user's -o options applied under the flags the
 * subcommand needs). cli.c defines these; lightningdb.c holds main() and
 * the table of subcommands; each cmd_*.c file holds a group of subcommands,
 * each described by a struct command.
 *
 * Adding a subcommand: write its run function and its struct command in a
 * cmd_*.c file, declare the struct at the end of this header, add one line
 * to the table in lightningdb.c and the file to Makefile.am, and document
 * it in docs/man/lightningdb.1.
 */
#ifndef LDB_CLI_H
#define LDB_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "lightningdb.h"

/* Exit statuses, documented in lightningdb(1) (EXIT STATUS). health uses
 * the Nagios plugin codes instead. */
#define EXIT_FAILED 1  /* the operation failed (I/O error, key not found, ...) */
#define EXIT_USAGE 2   /* bad arguments; a usage line on stderr */
#define EXIT_NOOPEN 3  /* cannot open: missing, permission, locked, not a database */
#define EXIT_DAMAGED 4 /* the database is damaged (check found damage) */

/* The environment variable holding options text for every subcommand. */
#define OPTIONS_ENV "LIGHTNINGDB_OPTIONS"

extern const char prog[];

/* Which options parse_args accepts. OPT_DEST: a second operand, DEST. */
enum {
    OPT_TREE = 1, OPT_IMMUTABLE = 2, OPT_COMPACT = 4, OPT_DEST = 8,
    OPT_WAIT = 16,     /* --nowait, --timeout SEC */
    OPT_JSON = 32,     /* --json */
    OPT_DUMP = 64,     /* --all, --format ours|mdb */
    OPT_PROGRESS = 128 /* --progress, --quiet */
};

/* How long a command waits for the writer (another write txn or
 * checkpoint, in any process): WAIT_FOREVER (saying so), or seconds. */
#define WAIT_FOREVER (-1.0)
/* The help lines of OPT_WAIT. */
#define WAIT_HELP                                                                          \
    "      --nowait            fail (exit 3) if another write txn or checkpoint runs\n"    \
    "      --timeout SEC       wait at most SEC seconds for it (default: as long as it\n"  \
    "                          takes, saying so)\n"

struct args {
    const char *cmd;  /* the subcommand, for messages */
    const char *path; /* the data file */
    const char *tree; /* a named tree, or NULL for LDB_MAIN */
    int immutable;    /* --immutable: open with LDB_IMMUTABLE */
    const char *dest; /* backup: where the copy goes ("-": stdout) */
    int compact;      /* backup --compact */
    double wait_s;    /* --nowait (0), --timeout SEC, or WAIT_FOREVER */
    int json;         /* --json */
    int all;          /* dump --all: every tree */
    int mdb;          /* dump/load --format mdb: the mdb_dump text format */
    int progress;     /* 1 --progress, 0 --quiet, -1 (default) on a terminal */
};

/* "lightningdb: <message>", the running command's usage line and a hint on
 * stderr; returns EXIT_USAGE. */
__attribute__((format(printf, 1, 2))) int usage_error(const char *fmt, ...);
/* A library error, "lightningdb: PATH: WHAT: <ldb_strerror>"; returns
 * EXIT_DAMAGED for LDB_CORRUPTED, else EXIT_FAILED. */
int fail(const struct args *a, const char *what, int rc);
/* PATH plus the options in allowed (and -o), in any order. */
int parse_args(const char *cmd, int argc, char **argv, unsigned allowed, struct args *a);
/* Remember a -o text (checked now); from_env names the variable instead. */
int add_option_text(const char *text, int from_env);
/* The user's -o / LIGHTNINGDB_OPTIONS on top of *o. */
void apply_user_options(ldb_options *o);
/* Open a->path with the user's options, then flags and sync_mode; says why
 * not on stderr. */
int open_env(const struct args *a, unsigned flags, int sync_mode, ldb_env **env);
/* Whether path is a regular file with no database in it (no magic in
 * either meta page; empty unless flags would create it): asked before
 * ldb_open so that it is named as such and gets no -lock file. */
int not_a_database(const char *path, unsigned flags);
/* The exit status for open_env's failure rc: EXIT_DAMAGED or EXIT_NOOPEN. */
int open_status(int rc);
/* Close; a failure fails the command (returns the new status). */
int close_env(const struct args *a, ldb_env *env, int status);
/* The tree named by --tree (LDB_MAIN without it), saying why not. */
int open_tree(const struct args *a, ldb_txn *txn, unsigned flags, ldb_dbi *dbi);
/* A read txn and the --tree tree in it: 0, or 1 after saying why not. */
int read_tree(const struct args *a, ldb_env *env, ldb_txn **txn, ldb_dbi *dbi);
/* A write txn, waiting for the writer as a->wait_s says: 0, or the exit
 * status after saying why not (EXIT_NOOPEN when the wait ran out). */
int begin_write(const struct args *a, ldb_env *env, ldb_txn **txn);
/* ldb_checkpoint_ex, waiting for the writer as a->wait_s says; returns the
 * library's rc (LDB_BUSY when the wait ran out, after saying so). */
int checkpoint_waiting(const struct args *a, ldb_env *env);
/* Whether long work shows progress on stderr (--progress, --quiet, or
 * whether stderr is a terminal). */
int progress_wanted(const struct args *a);
/* A progress line on stderr, redrawn at most 5 times a second: percent,
 * rate and time left when the total is known, else the count and rate. */
struct progress {
    int on;             /* progress_wanted() */
    const char *what;   /* "dump", "load", ... */
    const char *unit;   /* "entries", "bytes" */
    uint64_t total;     /* 0: unknown */
    double start, last; /* seconds (CLOCK_MONOTONIC) */
};
void progress_start(struct progress *p, const struct args *a, const char *what,
                    const char *unit, uint64_t total);
void progress_update(struct progress *p, uint64_t done);
/* The last figures and a newline. */
void progress_end(struct progress *p, uint64_t done);
/* JSON output (--json): a string, escaped (bytes outside printable ASCII
 * as \u00XX, so any byte string prints as valid JSON), and "name": prefixes. */
void json_string(FILE *out, const char *s);
/* ",\n  "name": " (the first of an object without the comma). */
void json_key(FILE *out, int *first, const char *name);
/* CLOCK_MONOTONIC in seconds. */
double now_s(void);
/* The value of one hex digit, or -1. */
int hex_value(int c);
/* A decimal number of digits only (no sign, no blanks) that fits 64 bits:
 * 0, or -1. */
int parse_u64(const char *s, uint64_t *out);
/* 1 (after saying so) if standard output could not be written. */
int output_failed(void);

/* One subcommand: what main() dispatches on and what help prints. */
struct command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv: the arguments after the name */
    const char *synopsis;              /* the arguments, e.g. "PATH [--tree NAME]" */
    const char *summary;               /* one line for the command overview */
    const char *help;                  /* its options, one per line, for --help */
};

/* The subcommand main() is running (for usage lines), or NULL. */
extern const struct command *current_command;
/* "Usage: lightningdb NAME SYNOPSIS", its summary and its options. */
void command_help(FILE *out, const struct command *c);

/* The subcommands, one per line, grouped by the file that defines them. */
extern const struct command command_stat, command_readers;         /* cmd_stat.c */
extern const struct command command_check, command_salvage;        /* cmd_check.c */
extern const struct command command_dump, command_load;            /* cmd_dump.c */
extern const struct command command_checkpoint;                    /* cmd_checkpoint.c */
extern const struct command command_train_dict;                    /* cmd_dict.c */
extern const struct command command_metrics;                       /* cmd_metrics.c */
extern const struct command command_health;                        /* cmd_health.c */
extern const struct command command_backup;                        /* cmd_backup.c */
extern const struct command command_restore, command_archive;     /* cmd_archive.c */
extern const struct command command_get, command_put, command_del; /* cmd_data.c */
extern const struct command command_scan, command_trees;           /* cmd_data.c */

#endif
