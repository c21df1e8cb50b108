/* SPDX-License-Identifier: MIT */
/*
 * histogram.c: see histogram.h.
 *
 * Built with -DLDB_NO_HISTOGRAMS, the clock reads and observations do
 * nothing: only to measure what they cost on the commit path
 * (docs/benchmarks.md); the metrics then show empty histograms.
 */
#include "histogram.h"

#include <time.h>

const uint64_t ldb__hist_bounds_ns[LDB_HIST_BOUNDS] = {
    10000ull,      25000ull,      50000ull,      100000ull,     250000ull,
    500000ull,     1000000ull,    2500000ull,    5000000ull,    10000000ull,
    25000000ull,   50000000ull,   100000000ull,  250000000ull,  500000000ull,
    1000000000ull, 2500000000ull, 5000000000ull, 10000000000ull,
};

uint64_t ldb__now_ns(void)
{
#ifdef LDB_NO_HISTOGRAMS
    return 0;
#endif
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void ldb__hist_observe(struct ldb__histogram *h, uint64_t ns)
{
#ifdef LDB_NO_HISTOGRAMS
    (void)h;
    (void)ns;
    return;
#endif
    unsigned i = 0;
    while (i < LDB_HIST_BOUNDS && ns > ldb__hist_bounds_ns[i])
        i++;
    __atomic_add_fetch(&h->buckets[i], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&h->sum_ns, ns, __ATOMIC_RELAXED);
    /* count last: a reader that sees it sees a bucket for it (or a later
     * observation's), so the cumulative +Inf bucket never exceeds count by
     * more than observations in flight */
    __atomic_add_fetch(&h->count, 1, __ATOMIC_RELEASE);
}

void ldb__hist_since(struct ldb__histogram *h, uint64_t start_ns)
{
    uint64_t now = ldb__now_ns();
    ldb__hist_observe(h, now > start_ns ? now - start_ns : 0);
}

void ldb__hist_read(const struct ldb__histogram *h, struct ldb__histogram *out)
{
    out->count = __atomic_load_n(&h->count, __ATOMIC_ACQUIRE);
    out->sum_ns = __atomic_load_n(&h->sum_ns, __ATOMIC_RELAXED);
    uint64_t total = 0;
    for (unsigned i = 0; i <= LDB_HIST_BOUNDS; i++) {
        out->buckets[i] = __atomic_load_n(&h->buckets[i], __ATOMIC_RELAXED);
        total += out->buckets[i];
    }
    /* Prometheus wants the +Inf bucket equal to _count: observations that
     * landed between the loads are counted in both or neither. */
    out->count = total;
}
