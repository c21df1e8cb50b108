/* SPDX-License-Identifier: MIT */
/*
 * Memory allocation for the whole library: every malloc, calloc, realloc,
 * strdup, posix_memalign and free of lib/ goes through these wrappers.
 *
 * A release build maps them straight onto libc (static inline: no cost, no
 * symbol). A build with --enable-test-hooks routes them through alloc.c,
 * where a test can make the n-th allocation from now fail, once or from then
 * on, as memory running out would: the out-of-memory loops of
 * test/check_oom.c fail each allocation of an operation in turn and require
 * a clean -ENOMEM, nothing leaked and the database intact. Code that frees
 * what one of these returned must use ldb__free.
 */
#ifndef LDB_ALLOC_H
#define LDB_ALLOC_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef LDB_TEST_HOOKS
void *ldb__malloc(size_t n);
void *ldb__calloc(size_t n, size_t size);
void *ldb__realloc(void *p, size_t n);
char *ldb__strdup(const char *s);
/* posix_memalign's contract: 0 or an errno value (ENOMEM). */
int ldb__memalign(void **p, size_t align, size_t n);
void ldb__free(void *p);

/* Make the nth allocation from now fail (nth = 1: the next one); with
 * persist, every one after it fails too. nth = 0 turns failures off. */
void ldb__alloc_fail_set(uint64_t nth, int persist);
/* Allocations made since the process started (failed ones included). */
uint64_t ldb__alloc_calls(void);
/* Allocations failed since the last ldb__alloc_fail_set. */
uint64_t ldb__alloc_failed(void);
#else
static inline void *ldb__malloc(size_t n)
{
    return malloc(n);
}
static inline void *ldb__calloc(size_t n, size_t size)
{
    return calloc(n, size);
}
static inline void *ldb__realloc(void *p, size_t n)
{
    return realloc(p, n);
}
static inline char *ldb__strdup(const char *s)
{
    return strdup(s);
}
static inline int ldb__memalign(void **p, size_t align, size_t n)
{
    return posix_memalign(p, align, n);
}
static inline void ldb__free(void *p)
{
    free(p);
}
#endif

/* Growing an array: items holds *cap elements of elem bytes; make room
 * for at least need, doubling from *cap (from first when it is 0). Returns
 * the array, moved or not, with *cap updated; or NULL (out of memory, or a
 * size that overflows: the caller's -ENOMEM) with items and *cap as they
 * were. Callers test need > *cap themselves, where it is cheap. */
void *ldb__array_grow(void *items, size_t *cap, size_t need, size_t elem, size_t first);

/* A new string: a followed by b (a file's name beside another: "-wal",
 * "-lock", a temporary suffix); NULL when out of memory. */
char *ldb__str_concat(const char *a, const char *b);

#endif
