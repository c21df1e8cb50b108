/* SPDX-License-Identifier: MIT */
/*
 * handle.c: see handle.h. An env is usable only in the process that opened
 * it: a fork's child gets a copy whose reader slots and mutex ownership
 * name the parent.
 */
#include "handle.h"

#include <errno.h>
#include <stdlib.h>

#include "alloc.h"
#include "error.h"
#include "os.h"

/* Bumped in the child after fork(). */
unsigned ldb__fork_count;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    __atomic_add_fetch(&ldb__fork_count, 1, __ATOMIC_RELAXED);
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
    return __atomic_load_n(&ldb__fork_count, __ATOMIC_RELAXED);
}

int ldb__env_map_cover(ldb_env *env, uint64_t bytes, const uint8_t **map)
{
    if (LDB_LIKELY(bytes <= __atomic_load_n(&env->map_len, __ATOMIC_ACQUIRE))) {
        *map = __atomic_load_n(&env->map, __ATOMIC_ACQUIRE);
        return 0;
    }
    int rc = 0;
    pthread_mutex_lock(&env->mutex);
    size_t len = env->map_len;
    if (bytes > len) {
        /* Grow by half again at least, so a file growing steadily is
         * remapped a few times, not on every commit. */
        uint64_t want = len + len / 2 > bytes ? len + len / 2 : bytes;
        want = (want + env->page_size - 1) / env->page_size * env->page_size;
        struct ldb__old_map *old = ldb__malloc(sizeof *old);
        void *addr = NULL;
        if (want > SIZE_MAX || want < bytes)
            rc = -ENOMEM;
        else if (old == NULL)
            rc = -ENOMEM;
        else
            rc = ldb__os_map(env->fd, (size_t)want, &addr);
        if (rc == 0) {
            old->addr = env->map;
            old->len = len;
            old->next = env->old_maps;
            env->old_maps = old;
            /* map first: a thread that sees the new length must find a map
             * at least that long. */
            __atomic_store_n(&env->map, (const uint8_t *)addr, __ATOMIC_RELEASE);
            __atomic_store_n(&env->map_len, (size_t)want, __ATOMIC_RELEASE);
        } else {
            ldb__free(old);
        }
    }
    *map = env->map;
    pthread_mutex_unlock(&env->mutex);
    return rc;
}

void ldb__env_unmap_all(ldb_env *env)
{
    while (env->old_maps != NULL) {
        struct ldb__old_map *o = env->old_maps;
        env->old_maps = o->next;
        ldb__os_unmap((void *)o->addr, o->len);
        ldb__free(o);
    }
    if (env->map)
        ldb__os_unmap((void *)env->map, env->map_len);
    env->map = NULL;
}
