/* SPDX-License-Identifier: MIT */
/*
 * alloc.c: the failing allocator of test builds (see alloc.h). Built only
 * with --enable-test-hooks; release builds inline the libc calls.
 *
 * One process-wide counter of allocations and one trigger, both atomic, so
 * allocations from several threads are counted without a lock; a test that
 * sets the trigger runs its operation on one thread, so "the nth" is
 * deterministic.
 */
#include "alloc.h"

#include <errno.h>
#include <string.h>

#ifdef LDB_TEST_HOOKS
static struct {
    uint64_t calls;   /* allocations so far */
    uint64_t trigger; /* the call that fails first (0: none) */
    int persist;      /* every call after the trigger fails too */
    uint64_t failed;  /* failures since the trigger was set */
} hook;

void ldb__alloc_fail_set(uint64_t nth, int persist)
{
    uint64_t now = __atomic_load_n(&hook.calls, __ATOMIC_RELAXED);
    __atomic_store_n(&hook.persist, persist, __ATOMIC_RELAXED);
    __atomic_store_n(&hook.failed, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&hook.trigger, nth ? now + nth : 0, __ATOMIC_RELEASE);
}

uint64_t ldb__alloc_calls(void)
{
    return __atomic_load_n(&hook.calls, __ATOMIC_RELAXED);
}

uint64_t ldb__alloc_failed(void)
{
    return __atomic_load_n(&hook.failed, __ATOMIC_RELAXED);
}

/* Count one allocation; 1 if it is to fail. */
static int alloc_fails(void)
{
    uint64_t n = __atomic_add_fetch(&hook.calls, 1, __ATOMIC_RELAXED);
    uint64_t t = __atomic_load_n(&hook.trigger, __ATOMIC_ACQUIRE);
    if (t == 0 || n < t || (n > t && !__atomic_load_n(&hook.persist, __ATOMIC_RELAXED)))
        return 0;
    __atomic_add_fetch(&hook.failed, 1, __ATOMIC_RELAXED);
    return 1;
}

void *ldb__malloc(size_t n)
{
    if (alloc_fails()) {
        errno = ENOMEM;
        return NULL;
    }
    return malloc(n);
}

void *ldb__calloc(size_t n, size_t size)
{
    if (alloc_fails()) {
        errno = ENOMEM;
        return NULL;
    }
    return calloc(n, size);
}

void *ldb__realloc(void *p, size_t n)
{
    if (alloc_fails()) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, n);
}

char *ldb__strdup(const char *s)
{
    if (alloc_fails()) {
        errno = ENOMEM;
        return NULL;
    }
    return strdup(s);
}

int ldb__memalign(void **p, size_t align, size_t n)
{
    if (alloc_fails())
        return ENOMEM;
    return posix_memalign(p, align, n);
}

void ldb__free(void *p)
{
    free(p);
}
#else
/* ISO C wants a translation unit to declare something. */
typedef int ldb__alloc_unused;
#endif

void *ldb__array_grow(void *items, size_t *cap, size_t need, size_t elem, size_t first)
{
    size_t n = *cap ? *cap : first;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return NULL;
        n *= 2;
    }
    if (elem != 0 && n > SIZE_MAX / elem)
        return NULL;
    void *p = ldb__realloc(items, n * elem);
    if (p != NULL)
        *cap = n;
    return p;
}

char *ldb__str_concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = ldb__malloc(la + lb + 1);
    if (s != NULL) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}
