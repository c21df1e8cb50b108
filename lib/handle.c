/* SPDX-License-Identifier: MIT */
/*
 * handle.c: see handle.h. An env is usable only in the process that opened
 * it: a fork's child gets a copy whose reader slots and mutex ownership
 * name the parent.
 */
#include "handle.h"

#include "error.h"

/* Bumped in the child after fork(). */
static unsigned fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    __atomic_add_fetch(&fork_generation, 1, __ATOMIC_RELAXED);
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

void ldb__fork_watch(void)
{
    pthread_once(&atfork_once, register_atfork);
}

unsigned ldb__fork_generation(void)
{
    return __atomic_load_n(&fork_generation, __ATOMIC_RELAXED);
}

int ldb__env_check(const ldb_env *env)
{
    if (env == NULL || env->magic != LDB_ENV_MAGIC)
        return LDB_INVALID;
    if (LDB_UNLIKELY(env->fork_generation != __atomic_load_n(&fork_generation, __ATOMIC_RELAXED)))
        return LDB_INVALID;
    return 0;
}
