/* SPDX-License-Identifier: MIT */
/*
 * benchutil.h: the clock and the fatal-error exit that the stand-alone
 * benchmark programs (bench_readers, bench_backup, bench_archive) share.
 * Header-only: each program is one source file linked on its own.
 */
#ifndef LDB_PERF_BENCHUTIL_H
#define LDB_PERF_BENCHUTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* The program's name in error messages; each program defines it. */
extern const char *const bench_prog;

/* Seconds on the monotonic clock: only differences mean anything. */
static inline double bench_now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A benchmark that cannot do what it measures stops: print why and exit 1. */
static inline void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", bench_prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

#endif /* LDB_PERF_BENCHUTIL_H */
