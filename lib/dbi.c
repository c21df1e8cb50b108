/* SPDX-License-Identifier: MIT */
/*
 * dbi.c: the env's table of named-tree handles (see dbi.h).
 */
#include "dbi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

int ldb__dbi_table_init(ldb_env *env)
{
    env->dbi_table = ldb__calloc(env->opts.max_dbs, sizeof *env->dbi_table);
    return env->dbi_table ? 0 : -ENOMEM;
}

void ldb__dbi_table_free(ldb_env *env)
{
    if (env->dbi_table == NULL)
        return;
    for (unsigned i = 0; i < env->opts.max_dbs; i++)
        ldb__free(env->dbi_table[i].name);
    ldb__free(env->dbi_table);
    env->dbi_table = NULL;
}

static ldb_dbi handle_of(const ldb_env *env, unsigned slot)
{
    uint32_t gen = env->dbi_table[slot].generation & ((1u << (32 - LDB_DBI_SLOT_BITS)) - 1);
    return (ldb_dbi)slot | (ldb_dbi)gen << LDB_DBI_SLOT_BITS;
}

int ldb__dbi_find(ldb_env *env, const char *name, int add, ldb_dbi *dbi)
{
    int rc = LDB_NOTFOUND;
    pthread_mutex_lock(&env->mutex);
    unsigned free_slot = 0;
    for (unsigned i = 1; i < env->opts.max_dbs; i++) {
        const char *n = env->dbi_table[i].name;
        if (n == NULL) {
            if (free_slot == 0)
                free_slot = i;
        } else if (strcmp(n, name) == 0) {
            *dbi = handle_of(env, i);
            rc = 0;
            break;
        }
    }
    if (rc != 0 && add) {
        if (free_slot == 0) {
            rc = LDB_DBS_FULL;
        } else if ((env->dbi_table[free_slot].name = ldb__strdup(name)) == NULL) {
            rc = -ENOMEM;
        } else {
            *dbi = handle_of(env, free_slot);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&env->mutex);
    return rc;
}

/* The slot dbi names while it is live, else NULL (env->mutex held). */
static struct ldb__dbi_slot *live_slot(ldb_env *env, ldb_dbi dbi)
{
    unsigned i = ldb__dbi_slot_of(dbi);
    if (i == 0 || i >= env->opts.max_dbs)
        return NULL;
    struct ldb__dbi_slot *s = &env->dbi_table[i];
    if (s->name == NULL || handle_of(env, i) != dbi)
        return NULL;
    return s;
}

static void give_back(struct ldb__dbi_slot *s)
{
    ldb__free(s->name);
    s->name = NULL;
    s->generation++;
    s->pins = 0;
    s->kept = 0;
}

int ldb__dbi_use(ldb_env *env, ldb_dbi dbi, int pin, char *name, int *pinned)
{
    *pinned = 0;
    int rc = LDB_INVALID;
    pthread_mutex_lock(&env->mutex);
    struct ldb__dbi_slot *s = live_slot(env, dbi);
    if (s != NULL) {
        strcpy(name, s->name);
        if (pin && !s->kept) {
            s->pins++;
            *pinned = 1;
        }
        rc = 0;
    }
    pthread_mutex_unlock(&env->mutex);
    return rc;
}

void ldb__dbi_unpin(ldb_env *env, ldb_dbi dbi, int committed)
{
    pthread_mutex_lock(&env->mutex);
    struct ldb__dbi_slot *s = live_slot(env, dbi);
    if (s != NULL) {
        if (s->pins > 0)
            s->pins--;
        if (committed)
            s->kept = 1;
        else if (s->pins == 0 && !s->kept)
            give_back(s);
    }
    pthread_mutex_unlock(&env->mutex);
}

void ldb__dbi_release(ldb_env *env, ldb_dbi dbi)
{
    pthread_mutex_lock(&env->mutex);
    struct ldb__dbi_slot *s = live_slot(env, dbi);
    if (s != NULL)
        give_back(s);
    pthread_mutex_unlock(&env->mutex);
}
