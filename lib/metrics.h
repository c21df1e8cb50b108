/* SPDX-License-Identifier: MIT */
/*
 * metrics.h: ldb_metrics, the Prometheus text exposition of an env's
 * figures (metrics.c). It sits at the top beside env.c: it reads
 * ldb_stat_env, the lock file's shared counters and the env's histograms
 * (histogram.h), and changes nothing.
 */
#ifndef LDB_METRICS_H
#define LDB_METRICS_H

#include "handle.h"

#endif
