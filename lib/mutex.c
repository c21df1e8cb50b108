/* SPDX-License-Identifier: MIT */
/*
 * mutex.c: bounded locking of the lock file's shared robust mutexes (see
 * mutex.h for when a wait is judged endless).
 */
#include "mutex.h"

#include <dirent.h>
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"

/* A waiter looks at the holder this often; damage is declared only after two
 * looks in a row agree, so a holder caught between two states is not. */
#define MUTEX_SLICE_MS 200

int ldb__mutex_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t attr;
    int rc = pthread_mutexattr_init(&attr);
    if (rc == 0)
        rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (rc == 0)
        rc = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
    if (rc == 0)
        rc = pthread_mutex_init(m, &attr);
    pthread_mutexattr_destroy(&attr);
    return -rc;
}

#ifdef __GLIBC__
/* The type word glibc gives our mutexes, learnt from a local one. */
static int expected_kind(void)
{
    static int kind = -1;
    int k = __atomic_load_n(&kind, __ATOMIC_RELAXED);
    if (k == -1) {
        pthread_mutex_t probe;
        if (ldb__mutex_init(&probe) != 0)
            return -1;
        k = probe.__data.__kind;
        pthread_mutex_destroy(&probe);
        __atomic_store_n(&kind, k, __ATOMIC_RELAXED);
    }
    return k;
}

int ldb__mutex_check(const pthread_mutex_t *m)
{
    int k = expected_kind();
    if (k != -1 && __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) != k)
        return LDB_CORRUPT();
    return 0;
}

/* Whether process pid has the file (dev, ino) open. Unknown (no /proc, not
 * allowed to look): yes, so that only a sure answer stops a wait. */
static int has_file_open(pid_t pid, const struct ldb__mutex_home *home)
{
    char dir[64], path[64 + sizeof ((struct dirent *)0)->d_name];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno != ENOENT || access("/proc/self/fd", X_OK) != 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        found = e->d_name[0] != '.' && stat(path, &st) == 0 &&
                (uint64_t)st.st_dev == home->dev && (uint64_t)st.st_ino == home->ino;
    }
    closedir(d);
    return found;
}

/* Whether the holder the lock word names could still release m. */
static int holder_can_release(const pthread_mutex_t *m, const struct ldb__mutex_home *home)
{
    uint32_t w = (uint32_t)__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED);
    if (w == 0 || (w & FUTEX_OWNER_DIED))
        return 1; /* free now, or marked: the next try takes it */
    pid_t tid = (pid_t)(w & FUTEX_TID_MASK);
    if (tid == 0)
        return 0; /* locked, by no one */
    /* kill(2) accepts a thread id and answers for the thread's process. */
    if (kill(tid, 0) != 0 && errno == ESRCH)
        return 0;
    return home->ino == 0 || has_file_open(tid, home);
}
#else
int ldb__mutex_check(const pthread_mutex_t *m)
{
    (void)m;
    return 0;
}

static int holder_can_release(const pthread_mutex_t *m, const struct ldb__mutex_home *home)
{
    (void)m;
    (void)home;
    return 1;
}
#endif

/* pthread_mutex_lock in slices; ENOTRECOVERABLE when the holder cannot
 * release it (twice in a row). */
static int sliced_lock(pthread_mutex_t *m, const struct ldb__mutex_home *home)
{
#if defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer's timedlock does not count EOWNERDEAD as taken (it
     * then reports the unlock); its plain lock does. No slices there. */
    (void)home;
    return pthread_mutex_lock(m);
#endif
    unsigned doubts = 0;
    for (;;) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        long ns = t.tv_nsec + MUTEX_SLICE_MS * 1000000L;
        t.tv_sec += ns / 1000000000L;
        t.tv_nsec = ns % 1000000000L;
        int rc = pthread_mutex_timedlock(m, &t);
        if (rc != ETIMEDOUT)
            return rc;
        if (ldb__mutex_check(m) != 0)
            return ENOTRECOVERABLE;
        doubts = holder_can_release(m, home) ? 0 : doubts + 1;
        if (doubts == 2)
            return ENOTRECOVERABLE;
    }
}

int ldb__mutex_lock(pthread_mutex_t *m, const struct ldb__mutex_home *home, int nowait,
                    int *owner_died)
{
    *owner_died = 0;
    TRY(ldb__mutex_check(m));
    int rc = nowait ? pthread_mutex_trylock(m) : sliced_lock(m, home);
    switch (rc) {
    case 0:
        return 0;
    case EOWNERDEAD:
        /* The holder died. What it guarded is left whole by design (see
         * each caller of the lock file's mutexes), so take over. */
        pthread_mutex_consistent(m);
        *owner_died = 1;
        return 0;
    case EBUSY:
        return LDB_BUSY;
    case EDEADLK:
        return LDB_INVALID; /* this thread already holds it */
    case ENOTRECOVERABLE:
    case EINVAL:
        return LDB_CORRUPT(); /* see mutex.h; EINVAL: a type no mutex has */
    default:
        return -rc;
    }
}
