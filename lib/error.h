/* SPDX-License-Identifier: MIT */
/*
 * Result codes and the macros that propagate them.
 *
 * Every internal function returns int: 0 on success or a negative code (an
 * LDB_* code or -errno). Errors are propagated with TRY (return at once) and
 * CHECK_GOTO (record the code and jump to the function's one cleanup label).
 * Damage found in bytes read from disk is reported through LDB_CORRUPT(),
 * which records where it was noticed, so a report can say which check fired.
 */
#ifndef LDB_ERROR_H
#define LDB_ERROR_H

#include "lightningdb.h"

#define TRY(expr)                   \
    do {                            \
        int try_rc_ = (expr);       \
        if (try_rc_ < 0)            \
            return try_rc_;         \
    } while (0)

#define CHECK_GOTO(rc, expr, label) \
    do {                            \
        (rc) = (expr);              \
        if ((rc) < 0)               \
            goto label;             \
    } while (0)

/* Record where corruption was detected and yield LDB_CORRUPTED. */
#define LDB_CORRUPT() ldb__corrupt_at(__FILE__, __LINE__)
int ldb__corrupt_at(const char *file, int line);

/* The last place corruption was reported in this thread ("file:line"), or "". */
const char *ldb__corrupt_where(void);

#if defined(__GNUC__)
#define LDB_LIKELY(x) __builtin_expect(!!(x), 1)
#define LDB_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define LDB_LIKELY(x) (x)
#define LDB_UNLIKELY(x) (x)
#endif

#endif
