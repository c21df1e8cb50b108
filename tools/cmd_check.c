/* SPDX-License-Identifier: MIT */
/*
 * cmd_check.c: verifying a database (check: every page and tree, through
 * ldb_check) and rescuing one whose log is damaged (salvage: ldb_salvage
 * into a new database).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "lightningdb.h"

/* ---- check --------------------------------------------------------------- */

/* ldb_check is one call that cannot report how far it got: the progress
 * line shows the time it has taken so far, from a thread of its own. */
struct ticker {
    struct progress p;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
};

static void *tick(void *arg)
{
    struct ticker *t = arg;
    pthread_mutex_lock(&t->mu);
    while (!t->done) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&t->cv, &t->mu, &until);
        if (!t->done)
            progress_update(&t->p, (uint64_t)(now_s() - t->p.start));
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* ldb_check with its report on stdout, and the ticker when wanted. */
static int check_ticking(const struct args *a, ldb_env *env)
{
    struct ticker t;
    pthread_t th;
    int rc, started = 0;

    memset(&t, 0, sizeof t);
    progress_start(&t.p, a, "check", "s", 0);
    pthread_mutex_init(&t.mu, NULL);
    pthread_cond_init(&t.cv, NULL);
    if (t.p.on)
        started = pthread_create(&th, NULL, tick, &t) == 0;
    rc = ldb_check(env, stdout);
    pthread_mutex_lock(&t.mu);
    t.done = 1;
    pthread_cond_signal(&t.cv);
    pthread_mutex_unlock(&t.mu);
    if (started)
        pthread_join(th, NULL);
    progress_end(&t.p, (uint64_t)(now_s() - t.p.start));
    pthread_cond_destroy(&t.cv);
    pthread_mutex_destroy(&t.mu);
    return rc;
}

static int cmd_check(int argc, char **argv)
{
    struct args a;
    ldb_env *env = NULL;
    int rc, status;

    if ((rc = parse_args("check", argc, argv, OPT_IMMUTABLE | OPT_PROGRESS, &a)) != 0)
        return rc;
    rc = open_env(&a, LDB_RDONLY, LDB_SYNC_FULL, &env);
    if (rc == LDB_CORRUPTED || rc == LDB_VERSION) {
        printf("%s: CORRUPTED\n", a.path);
        output_failed();
        return EXIT_DAMAGED;
    }
    if (rc != 0)
        return open_status(rc);

    fflush(stdout);
    rc = check_ticking(&a, env);
    fflush(stdout);
    if (rc == 0) {
        printf("%s: OK\n", a.path);
        status = 0;
    } else if (rc == LDB_CORRUPTED) {
        printf("%s: CORRUPTED\n", a.path);
        status = EXIT_DAMAGED;
    } else {
        status = fail(&a, "check", rc);
    }
    status = close_env(&a, env, status);
    return output_failed() ? 1 : status;
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

const struct command command_check = {
    "check", cmd_check,
    "PATH [--progress | --quiet] [--immutable]",
    "verify every page and tree; exit 4 if damaged",
    "      --progress          show the time taken on stderr (default: on a terminal)\n"
    "  -q, --quiet             show no progress\n"
    "      --immutable         open a file nothing changes (no lock file, no log)\n"
};

const struct command command_salvage = {
    "salvage", cmd_salvage,
    "PATH DEST",
    "keep what precedes a damaged log in a new database",
    ""
};
