/* SPDX-License-Identifier: MIT */
/*
 * histogram.h: latency histograms that a hot path can feed for the price of
 * a clock read and three relaxed atomic adds.
 *
 * Buckets are fixed (a 1-2.5-5 ladder from 10 us to 10 s) so an observation
 * never allocates or locks and the exposition (metrics.c) can print them as
 * a Prometheus histogram with cumulative "le" buckets. Each env keeps its
 * own (the figures are this process's); counts only grow.
 */
#ifndef LDB_HISTOGRAM_H
#define LDB_HISTOGRAM_H

#include <stdint.h>

#define LDB_HIST_BOUNDS 19

struct ldb__histogram {
    uint64_t buckets[LDB_HIST_BOUNDS + 1]; /* last: above every bound (+Inf) */
    uint64_t count;
    uint64_t sum_ns;
};

/* The buckets' upper bounds in nanoseconds, ascending. */
extern const uint64_t ldb__hist_bounds_ns[LDB_HIST_BOUNDS];

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t ldb__now_ns(void);
/* Record one duration (thread-safe, lock-free). */
void ldb__hist_observe(struct ldb__histogram *h, uint64_t ns);
/* Record the time since start_ns. */
void ldb__hist_since(struct ldb__histogram *h, uint64_t start_ns);
/* A consistent-enough copy for printing (each field read atomically). */
void ldb__hist_read(const struct ldb__histogram *h, struct ldb__histogram *out);

#endif
