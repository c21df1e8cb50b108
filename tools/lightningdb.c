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
 * This file holds main() and the table of subcommands; cli.c the parts
 * they share; the cmd_*.c files the subcommands themselves (see cli.h for
 * how to add one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lightningdb.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

/* ---- main ---------------------------------------------------------------- */

static int cmd_version(int argc, char **argv)
{
    (void)argv;
    if (argc > 0)
        return usage_error("version: takes no arguments");
    printf("%s %s (library %s)\n", prog, PACKAGE_VERSION, ldb_version());
    return output_failed();
}

static const struct command command_version = {
    "version", cmd_version,
    "",
    "print the tool's and the library's versions",
    "",
};

static int run_help(int argc, char **argv);

static const struct command command_help_itself = {
    "help", run_help,
    "[COMMAND]",
    "print this help, or COMMAND's",
    "",
};

/* Every subcommand, in the order the overview lists them. */
static const struct command *const commands[] = {
    &command_stat,
    &command_get,
    &command_put,
    &command_del,
    &command_scan,
    &command_trees,
    &command_check,
    &command_dump,
    &command_load,
    &command_readers,
    &command_checkpoint,
    &command_train_dict,
    &command_salvage,
    &command_metrics,
    &command_health,
    &command_backup,
    &command_restore,
    &command_archive,
    &command_version,
    &command_help_itself,
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* "  NAME SYNOPSIS  SUMMARY", the summary on a line of its own when the
 * synopsis is long. */
static void overview_line(FILE *out, const char *name, const char *synopsis,
                          const char *summary)
{
    int n = fprintf(out, "  %s%s%s", name, synopsis[0] ? " " : "", synopsis);
    if (n > 29)
        fprintf(out, "\n%-32s%s\n", "", summary);
    else
        fprintf(out, "%*s%s\n", 32 - n, "", summary);
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: %s [-o KEY=VALUE]... COMMAND [ARGS]\n\nCommands:\n", prog);
    for (size_t i = 0; i < N_COMMANDS; i++)
        overview_line(out, commands[i]->name, commands[i]->synopsis, commands[i]->summary);
    fprintf(out,
            "\n"
            "stat, check, dump, readers, metrics, health and backup open the database\n"
            "read-only. stat, check, dump and backup take --immutable: open a file\n"
            "nothing changes, with no lock file and no log. load, checkpoint and\n"
            "train-dict open it for writing.\n"
            "get, put, del, scan and trees take --tree NAME and --format escaped|hex|text\n"
            "(-x: hex) for keys and values; escaped is the default.\n"
            "-o KEY=VALUE (before or after COMMAND, repeatable) and the environment\n"
            "variable LIGHTNINGDB_OPTIONS set ldb_options, e.g. -o cache_size=256MiB.\n"
            "'%s help COMMAND' or '%s COMMAND --help': a command's options.\n"
            "Exit status: 0 success, 1 failure, 2 usage error, 3 cannot open the\n"
            "database, 4 the database is damaged. See lightningdb(1).\n", prog, prog);
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(name, commands[i]->name) == 0)
            return commands[i];
    return NULL;
}

/* --help or -h among a subcommand's arguments (before any "--", after
 * which everything is an operand, as getopt_long has it). */
static int wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}

/* help: the overview; help COMMAND: that command's usage and options. */
static int run_help(int argc, char **argv)
{
    if (argc == 0) {
        usage(stdout);
        return output_failed();
    }
    if (argc > 1)
        return usage_error("help takes at most one COMMAND");
    const struct command *c = find_command(argv[0]);
    if (c == NULL)
        return usage_error("help: unknown command '%s'", argv[0]);
    command_help(stdout, c);
    return output_failed();
}

int main(int argc, char **argv)
{
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
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        cmd = "help";
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0)
        cmd = "version";
    const struct command *c = find_command(cmd);
    if (c == NULL)
        return usage_error("unknown command '%s'", cmd);
    current_command = c;
    if (wants_help(argc - 2, argv + 2)) {
        command_help(stdout, c);
        return output_failed();
    }
    return c->run(argc - 2, argv + 2);
}
