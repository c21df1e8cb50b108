/* SPDX-License-Identifier: MIT */
/*
 * benchutil.h: the clock and the fatal-error exit that the stand-alone
 * benchmark programs (bench_readers, bench_backup, bench_archive) share,
 * and the generator, values and medians of the profiling pairs (prof_getpair,
 * prof_scan).
 * Header-only: each program is one source file linked on its own.
 */
#ifndef LDB_PERF_BENCHUTIL_H
#define LDB_PERF_BENCHUTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Nanoseconds on clock clk (CLOCK_THREAD_CPUTIME_ID for a thread's CPU). */
static inline double bench_now_ns(clockid_t clk)
{
    struct timespec t;
    clock_gettime(clk, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* splitmix64: the next of a fixed pseudo-random sequence from *s. */
static inline uint64_t bench_splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The len pseudo-random bytes of key number i's value. */
static inline void bench_value_of(long i, unsigned char *val, int len)
{
    uint64_t s = (uint64_t)i + 1;
    for (int q = 0; q < len; q += 8) {
        uint64_t r = bench_splitmix(&s);
        memcpy(val + q, &r, q + 8 <= len ? 8 : (size_t)(len - q));
    }
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of v[0..n) (sorts v). */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif /* LDB_PERF_BENCHUTIL_H */
