/* SPDX-License-Identifier: MIT */
/*
 * mutex.h: the lock file's mutexes (process-shared, robust, error-checking),
 * locked so that no damage to the file can make a wait endless.
 *
 * They live in a file any process with write access may damage. A waiter
 * therefore waits in slices and, between them, asks whether the recorded
 * holder could still release the mutex. It could not when:
 *   - the mutex's type was overwritten (a robust mutex turned plain records
 *     no owner, and the kernel never frees it on its holder's death);
 *   - the recorded owner thread is gone, yet the kernel, which marks every
 *     dead owner of a robust mutex at its exit, did not mark it;
 *   - the owner is a thread of a process that does not have the lock file
 *     open (a number some damage wrote, which happens to be a live thread).
 * Any of these is damage: LDB_CORRUPTED. A live holder, however long it
 * holds (a long write txn holds the writer mutex), is waited for.
 * The checks read glibc's mutex layout; elsewhere only the slices remain.
 */
#ifndef LDB_MUTEX_H
#define LDB_MUTEX_H

#include <pthread.h>
#include <stdint.h>

/* The file the mutexes live in: a holder must have it open. dev = ino = 0
 * (a private, process-local lock): not checked. */
struct ldb__mutex_home {
    uint64_t dev, ino;
};

int ldb__mutex_init(pthread_mutex_t *m);
/* 0 when the mutex's type is the one ldb__mutex_init gives; LDB_CORRUPTED
 * otherwise (checked at attach, before any wait on it). */
int ldb__mutex_check(const pthread_mutex_t *m);
/* Lock m: 0, LDB_BUSY (nowait, held), LDB_INVALID (this thread holds it),
 * LDB_CORRUPTED (damaged: see above), or -errno. *owner_died is set when
 * its last holder died holding it. */
int ldb__mutex_lock(pthread_mutex_t *m, const struct ldb__mutex_home *home, int nowait,
                    int *owner_died);

#endif
