/* SPDX-License-Identifier: MIT */
/*
 * check_readers: the reader table of the lock file under cleanup races
 * (issue 9, bug 3), white-box through lock.h.
 *
 * A slot whose process died is reclaimed by whoever looks: a writer whose
 * free pages it holds back, a reader finding the table full, ldb_reader_check.
 * Several may look at once, and a new reader may claim the slot the moment it
 * is free. A checker that found the slot's process dead and only then acts
 * (the test hook ldb__lock_set_reclaim_hook widens that window) must not
 * touch a registration made meanwhile: it would let the writer reuse pages
 * that reader still reads.
 *
 * Cases:
 *  - late_checker: deterministic. Checker A finds a dead reader and stops;
 *    checker B reclaims the slot; this process claims it and registers;
 *    then A goes on. The registration must be intact.
 *  - stress: processes that die holding slots, checker processes with random
 *    delays in that window, claimer processes that register and watch their
 *    registration for a while. No registration may ever change under its
 *    owner, and every slot can be had again at the end. (A regression run
 *    of the whole protocol: it seldom catches the old race in its 2 s,
 *    which late_checker reproduces every time.)
 *  - slot_lines: each reader's slot is a cache line of its own, apart from
 *    the header's (issue 15: a get writes its slot twice).
 *
 * Built only with --enable-test-hooks. Children report through their exit
 * status; every wait is bounded.
 */
#include "testutil.h"
#include "lock.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define SNAP_ID 5u /* the published snapshot: nothing commits in these tests */

static void lock_create(struct ldb__lock *lk, const char *path, unsigned max_readers)
{
    int first = 0;
    TU_RC_OK(ldb__lock_open(lk, path, 0644, (unsigned)geteuid(), &first));
    ck_assert_int_eq(first, 1);
    struct ldb__commit_state cs;
    memset(&cs, 0, sizeof cs);
    cs.snap.txnid = SNAP_ID;
    TU_RC_OK(ldb__lock_init(lk, max_readers, PAGE, &cs, 0));
    TU_RC_OK(ldb__lock_ready(lk));
}

/* In a child: the lock file as another process sees it. */
static int lock_attach(struct ldb__lock *lk, const char *path)
{
    int first = 1;
    if (ldb__lock_open(lk, path, 0644, (unsigned)geteuid(), &first) != 0 || first)
        return -1;
    return ldb__lock_attach(lk, PAGE);
}

/* A process that registers as a reader and dies without leaving. */
static void reader_dies(const char *path)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct ldb__lock lk;
        unsigned slot;
        struct ldb__snapshot snap;
        if (lock_attach(&lk, path) != 0 || ldb__lock_reader_claim(&lk, &slot) != 0)
            _exit(1);
        _exit(ldb__lock_reader_begin(&lk, slot, &snap) == 0 ? 0 : 2);
    }
    int status = tu_wait_child(pid, 20, "dying reader");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "dying reader failed");
}

/* ---- late_checker ------------------------------------------------------------ */

static sem_t late_observed, late_go;
static int late_calls;

/* The first checker to reach the window stops there until told to go on. */
static void late_hook(unsigned slot)
{
    (void)slot;
    if (__atomic_fetch_add(&late_calls, 1, __ATOMIC_SEQ_CST) == 0) {
        sem_post(&late_observed);
        sem_wait(&late_go);
    }
}

struct checker {
    struct ldb__lock *lk;
    int cleared;
    int rc;
};

static void *checker_run(void *arg)
{
    struct checker *c = arg;
    c->rc = ldb__lock_reader_check(c->lk, &c->cleared);
    return NULL;
}

START_TEST(test_late_checker)
{
    char dir[4096], path[4096];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    struct ldb__lock lk;
    lock_create(&lk, path, 1);
    reader_dies(path);
    uint32_t used;
    uint64_t oldest;
    ldb__lock_reader_stats(&lk, &used, &oldest);
    ck_assert_uint_eq(used, 1); /* the dead reader's registration */

    ck_assert_int_eq(sem_init(&late_observed, 0, 0), 0);
    ck_assert_int_eq(sem_init(&late_go, 0, 0), 0);
    ldb__lock_set_reclaim_hook(late_hook);
    struct checker a = {&lk, -1, -1};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, checker_run, &a), 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    ck_assert_msg(sem_timedwait(&late_observed, &until) == 0, "checker A never found the slot");

    /* B reclaims the slot, then a new reader claims it and registers. */
    struct checker b = {&lk, -1, -1};
    checker_run(&b);
    TU_RC_OK(b.rc);
    ck_assert_int_eq(b.cleared, 1);
    unsigned slot = 99;
    TU_RC_OK(ldb__lock_reader_claim(&lk, &slot));
    ck_assert_uint_eq(slot, 0);
    struct ldb__snapshot snap;
    TU_RC_OK(ldb__lock_reader_begin(&lk, slot, &snap));
    ck_assert_uint_eq(snap.txnid, SNAP_ID);

    sem_post(&late_go);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ldb__lock_set_reclaim_hook(NULL);
    TU_RC_OK(a.rc);
    ck_assert_int_eq(a.cleared, 0);

    /* The new reader is still registered, and its slot still its own. */
    ldb__lock_reader_stats(&lk, &used, &oldest);
    ck_assert_msg(used == 1 && oldest == SNAP_ID, "registration wiped: %u readers, oldest %llu",
                  (unsigned)used, (unsigned long long)oldest);
    ck_assert_uint_eq(ldb__lock_oldest_snapshot(&lk), SNAP_ID);
    unsigned other;
    TU_RC_IS(ldb__lock_reader_claim(&lk, &other), LDB_BUSY);
    ldb__lock_reader_end(&lk, slot);
    ldb__lock_reader_release(&lk, slot);
    TU_RC_OK(ldb__lock_reader_claim(&lk, &other));
    ck_assert_uint_eq(other, 0);
    ldb__lock_reader_release(&lk, other);
    ldb__lock_close(&lk);
    sem_destroy(&late_observed);
    sem_destroy(&late_go);
    tu_remove_dir(dir);
}
END_TEST

/* ---- stress ------------------------------------------------------------------- */

#define STRESS_SLOTS 4

static uint64_t stress_rng;

static void stress_hook(unsigned slot)
{
    (void)slot;
    usleep((useconds_t)(tu_rand(&stress_rng) % 1000));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void stress_checker(const char *path, double until, uint64_t seed)
{
    struct ldb__lock lk;
    if (lock_attach(&lk, path) != 0)
        _exit(10);
    stress_rng = seed;
    ldb__lock_set_reclaim_hook(stress_hook);
    while (now_s() < until) {
        int cleared;
        if (ldb__lock_reader_check(&lk, &cleared) != 0)
            _exit(11);
    }
    _exit(0);
}

/* Register, then watch the registration for a while: it must stay. */
static void stress_claimer(const char *path, double until, uint64_t seed)
{
    struct ldb__lock lk;
    if (lock_attach(&lk, path) != 0)
        _exit(20);
    uint64_t rng = seed;
    long wiped = 0, rounds = 0;
    while (now_s() < until) {
        unsigned slot;
        if (ldb__lock_reader_claim(&lk, &slot) != 0) {
            usleep(50);
            continue;
        }
        struct ldb__snapshot snap;
        if (ldb__lock_reader_begin(&lk, slot, &snap) != 0)
            _exit(23);
        for (int i = 0; i < 50; i++) {
            if (__atomic_load_n(&lk.slots[slot].txnid, __ATOMIC_SEQ_CST) != SNAP_ID)
                wiped++;
            usleep((useconds_t)(tu_rand(&rng) % 40));
        }
        ldb__lock_reader_end(&lk, slot);
        ldb__lock_reader_release(&lk, slot);
        rounds++;
    }
    if (wiped) {
        fprintf(stderr, "claimer %d: registration changed under it %ld times in %ld rounds\n",
                (int)getpid(), wiped, rounds);
        _exit(21);
    }
    _exit(rounds > 0 ? 0 : 22);
}

/* Readers that claim a slot and die, over and over. */
static void stress_dier(const char *path, double until)
{
    while (now_s() < until) {
        pid_t pid = fork();
        if (pid < 0)
            _exit(30);
        if (pid == 0) {
            struct ldb__lock lk;
            unsigned slot;
            struct ldb__snapshot snap;
            if (lock_attach(&lk, path) == 0 && ldb__lock_reader_claim(&lk, &slot) == 0 &&
                ldb__lock_reader_begin(&lk, slot, &snap) != 0)
                _exit(1);
            _exit(0);
        }
        int status;
        if (waitpid(pid, &status, 0) != pid)
            _exit(31);
        usleep(200);
    }
    _exit(0);
}

START_TEST(test_stress)
{
    char dir[4096], path[4096];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    struct ldb__lock lk;
    lock_create(&lk, path, STRESS_SLOTS);
    double secs = (double)tu_env_u64("LDB_READER_STRESS_MS", 2000) / 1000.0;
    double until = now_s() + secs;
    enum { CHECKERS = 3, CLAIMERS = 2, DIERS = 2, KIDS = CHECKERS + CLAIMERS + DIERS };
    pid_t kids[KIDS];
    fflush(NULL);
    for (int i = 0; i < KIDS; i++) {
        kids[i] = fork();
        ck_assert_int_ge(kids[i], 0);
        if (kids[i] == 0) {
            if (i < CHECKERS)
                stress_checker(path, until, 1000 + (uint64_t)i);
            else if (i < CHECKERS + CLAIMERS)
                stress_claimer(path, until, 2000 + (uint64_t)i);
            else
                stress_dier(path, until);
        }
    }
    for (int i = 0; i < KIDS; i++) {
        int status = tu_wait_child(kids[i], (int)secs + 60, "stress child");
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "child %d (%s) failed: status %d", i,
                      i < CHECKERS ? "checker" : i < CHECKERS + CLAIMERS ? "claimer" : "dier",
                      status);
    }
    /* Every slot can be had again once the dead are cleared. */
    int cleared;
    TU_RC_OK(ldb__lock_reader_check(&lk, &cleared));
    unsigned slots[STRESS_SLOTS];
    for (int i = 0; i < STRESS_SLOTS; i++)
        TU_RC_OK(ldb__lock_reader_claim(&lk, &slots[i]));
    for (int i = 0; i < STRESS_SLOTS; i++)
        ldb__lock_reader_release(&lk, slots[i]);
    ldb__lock_close(&lk);
    tu_remove_dir(dir);
}
END_TEST

/* What a read txn writes (its slot's txnid and start time, on every renew
 * and reset) shares no cache line with another reader's slot or with the
 * header every reader reads (the published txn id): readers in different
 * processes would otherwise take the line from one another on every get. */
START_TEST(test_slot_lines)
{
    char dir[4096], path[4096];
    tu_fresh_db(dir, sizeof dir, path, sizeof path);
    struct ldb__lock lk;
    lock_create(&lk, path, 8);
    const uint8_t *hdr_end = (const uint8_t *)lk.hdr + sizeof *lk.hdr;
    ck_assert((const uint8_t *)&lk.slots[0] >= hdr_end);
    for (unsigned i = 0; i < 8; i++) {
        uintptr_t a = (uintptr_t)&lk.slots[i];
        ck_assert_uint_eq(a % 64, 0);
        ck_assert_uint_eq((uintptr_t)&lk.slots[i].txnid / 64, a / 64);
        ck_assert_uint_eq((uintptr_t)&lk.slots[i].began / 64, a / 64);
        if (i > 0)
            ck_assert_uint_eq(a / 64, (uintptr_t)&lk.slots[i - 1] / 64 + 1);
    }
    ldb__lock_close(&lk);
    tu_remove_dir(dir);
}
END_TEST

static Suite *readers_suite(void)
{
    Suite *s = suite_create("readers");
    TCase *tc = tcase_create("late_checker");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_late_checker);
    tcase_add_test(tc, test_slot_lines);
    suite_add_tcase(s, tc);
    tc = tcase_create("stress");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_stress);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *suites[] = {readers_suite()};
    return tu_run_suites(suites, 1);
}
