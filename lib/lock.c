/* SPDX-License-Identifier: MIT */
/*
 * lock.c: the lock file, the robust writer mutex and the reader table.
 * See lock.h for the invariants.
 */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "mutex.h"
#include "os.h"

#define LOCK_MAGIC 0x4B434F4C42444C4CULL /* "LLDBLOCK" */
#define LOCK_VERSION 5u /* 4: reader slots owned by a (generation, pid) word;
                           5: the presence lock (see presence_lock) */

static size_t lock_size(unsigned max_readers)
{
    size_t head = (sizeof(struct ldb__lock_header) + 63) & ~(size_t)63;
    return head + (size_t)max_readers * sizeof(struct ldb__reader_slot);
}

static void lock_layout(struct ldb__lock *lk)
{
    size_t head = (sizeof(struct ldb__lock_header) + 63) & ~(size_t)63;
    lk->slots = (struct ldb__reader_slot *)(void *)((uint8_t *)lk->hdr + head);
}

/* The creation mark: the whole lock file while a database is created. */
#define CREATING_MAGIC 0x4145524342444C4CULL /* "LLDBCREA" */
struct creating_mark {
    uint64_t magic;
    uint64_t dev, ino; /* the data file being created */
};

/* As the first opener, before the file is emptied: keep a mark left there. */
static void read_creating_mark(struct ldb__lock *lk)
{
    struct creating_mark m;
    if (ldb__os_pread_full(lk->fd, &m, sizeof m, 0) == 0 && m.magic == CREATING_MAGIC) {
        lk->mark_found = 1;
        lk->mark_dev = m.dev;
        lk->mark_ino = m.ino;
    }
}

int ldb__lock_mark_creating(struct ldb__lock *lk, uint64_t dev, uint64_t ino)
{
    struct creating_mark m = {CREATING_MAGIC, dev, ino};
    TRY(ldb__os_truncate(lk->fd, 0));
    TRY(ldb__os_pwrite_full(lk->fd, &m, sizeof m, 0));
    return ldb__os_fsync(lk->fd);
}

int ldb__lock_was_creating(struct ldb__lock *lk, uint64_t dev, uint64_t ino)
{
    return lk->mark_found && lk->mark_dev == dev && lk->mark_ino == ino;
}

/* Take flock op, retrying EINTR. */
static int flock_retry(int fd, int op)
{
    while (flock(fd, op) != 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

/* The presence lock: an OFD read lock on byte 0 of the lock file, held by
 * every process with the database open, beside its flock, from before its
 * flock until it closes the file. "Am I alone" is a try to make it a write
 * lock: a refused fcntl lock conversion changes nothing (a refused flock
 * conversion on Linux drops the shared flock, which let a new first opener
 * lay the file out again under a closer still using it). OFD locks and
 * flocks do not interact, so the flock protocol is untouched. */
static int presence_lock(int fd, short type, int wait)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    while (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) != 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

/* What a later opener (holding LOCK_SH) finds in the lock file. */
enum lock_file_state { LOCK_FILE_READY, LOCK_FILE_NOT_READY, LOCK_FILE_OTHER_VERSION };

static enum lock_file_state lock_file_state(int fd)
{
    struct ldb__lock_header h;
    uint64_t size;
    if (ldb__os_file_size(fd, &size) < 0 || size < lock_size(0) ||
        ldb__os_pread_full(fd, &h, sizeof h, 0) < 0 || h.magic != LOCK_MAGIC)
        return LOCK_FILE_NOT_READY;
    if (h.version != LOCK_VERSION)
        return LOCK_FILE_OTHER_VERSION;
    return h.ready == 1 ? LOCK_FILE_READY : LOCK_FILE_NOT_READY;
}

/* Rounds of finding the lock file not ready while some other process holds
 * it shared: only openers in this same loop do that, and for microseconds
 * each, unless a process of another build (or not ours at all) holds it, or
 * an open handle's lock file was damaged under it. ~2.5 s of backoff: far
 * more than racing openers need, and a damaged file is reported, not
 * waited on (a libFuzzer hang at 2000 rounds, ~25 s). */
#define NOT_READY_ROUNDS_MAX 200

#ifdef LDB_TEST_HOOKS
static unsigned not_ready_rounds_max = NOT_READY_ROUNDS_MAX;

void ldb__lock_set_not_ready_rounds(unsigned rounds)
{
    not_ready_rounds_max = rounds;
}
#else
#define not_ready_rounds_max NOT_READY_ROUNDS_MAX
#endif

/* Sleep 1..8 ms, holding no flock, so that of several openers that found
 * the lock file not ready one gets it exclusively while the others sleep. */
static void not_ready_backoff(unsigned round)
{
    unsigned us = 1000u << (round < 3 ? round : 3);
    us += (unsigned)(getpid() * 2654435761u + round * 40503u) % us;
    usleep(us);
}

int ldb__lock_open(struct ldb__lock *lk, const char *lock_path, unsigned mode, unsigned owner,
                   int *first)
{
    memset(lk, 0, sizeof *lk);
    lk->fd = -1;
    lk->pid = getpid();
    int created;
    TRY(ldb__os_open_side(lock_path, O_RDWR | O_CREAT, mode, owner, &lk->fd, &created));
    struct stat file;
    int rc = fstat(lk->fd, &file) == 0 ? 0 : -errno;
    if (rc < 0)
        goto fail;
    lk->home.dev = (uint64_t)file.st_dev;
    lk->home.ino = (uint64_t)file.st_ino;
    /* Waits while a closer that found itself alone ends (it may be dropping
     * the log): then it is gone and this opener may well be the first. */
    rc = presence_lock(lk->fd, F_RDLCK, 1);
    if (rc < 0)
        goto fail;
    enum lock_file_state st = LOCK_FILE_NOT_READY;
    for (unsigned round = 0;; round++) {
        if (flock(lk->fd, LOCK_EX | LOCK_NB) == 0) {
            /* No one else has it open: whatever it holds is stale. Empty it
             * before anything else, so that an opener waiting for us never
             * takes it for ready should we die or fail before ldb__lock_ready;
             * but first note a creation mark a dead creator left. */
            read_creating_mark(lk);
            rc = ftruncate(lk->fd, 0) == 0 ? 0 : -errno;
            if (rc < 0)
                break;
            *first = 1;
            return 0;
        }
        if (errno != EWOULDBLOCK) {
            rc = -errno;
            break;
        }
        if (round > 0)
            not_ready_backoff(round);
        /* Blocks while a first opener lays the file out and recovers. */
        CHECK_GOTO(rc, flock_retry(lk->fd, LOCK_SH), fail);
        st = lock_file_state(lk->fd);
        if (st == LOCK_FILE_READY) {
            /* Stays ready while we hold LOCK_SH: only an exclusive holder
             * lays it out again. */
            *first = 0;
            return 0;
        }
        /* Its first opener died or failed before its recovery was durable:
         * its state is half a recovery, which no one may adopt. Become the
         * first opener and recover again from the newest meta page and the
         * log (untouched until that recovery's checkpoint). flock cannot
         * upgrade atomically: unlock and race the other waiters for it. */
        CHECK_GOTO(rc, flock_retry(lk->fd, LOCK_UN), fail);
        if (round >= not_ready_rounds_max) {
            rc = st == LOCK_FILE_OTHER_VERSION ? LDB_VERSION : LDB_CORRUPT();
            break;
        }
    }
fail:
    ldb__os_close(lk->fd);
    lk->fd = -1;
    return rc;
}

static void lay_out(struct ldb__lock *lk, unsigned max_readers, uint32_t page_size,
                    const struct ldb__commit_state *cs, unsigned meta_slot)
{
    struct ldb__lock_header *h = lk->hdr;
    memset(h, 0, lk->map_len);
    h->version = LOCK_VERSION;
    h->max_readers = max_readers;
    h->page_size = page_size;
    h->snaps[cs->snap.txnid & 1].snap = cs->snap;
    h->published_txnid = cs->snap.txnid;
    h->durable_txnid = cs->snap.txnid;
    h->checkpoint_txnid = cs->snap.txnid;
    h->meta_slot = meta_slot;
    h->state[0] = *cs;
    lock_layout(lk);
    for (unsigned i = 0; i < max_readers; i++)
        lk->slots[i].txnid = LDB_READER_IDLE;
}

static int init_mutexes(struct ldb__lock_header *h)
{
    TRY(ldb__mutex_init(&h->writer_mutex));
    TRY(ldb__mutex_init(&h->sync_mutex));
    return ldb__mutex_init(&h->state_mutex);
}

int ldb__lock_init(struct ldb__lock *lk, unsigned max_readers, uint32_t page_size,
                   const struct ldb__commit_state *cs, unsigned meta_slot)
{
    size_t len = lock_size(max_readers);
    if (ftruncate(lk->fd, 0) != 0 || ftruncate(lk->fd, (off_t)len) != 0)
        return -errno;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, lk->fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    lk->hdr = p;
    lk->map_len = len;
    lay_out(lk, max_readers, page_size, cs, meta_slot);
    TRY(init_mutexes(lk->hdr));
    /* The magic goes last: a later opener that sees it sees a whole header. */
    __atomic_store_n(&lk->hdr->magic, LOCK_MAGIC, __ATOMIC_RELEASE);
    return 0;
}

#ifdef LDB_TEST_HOOKS
void (*ldb__lock_test_not_alone)(struct ldb__lock *lk);
#endif

int ldb__lock_alone(struct ldb__lock *lk)
{
    if (lk->fd < 0)
        return 0;
    /* Never a flock conversion (see presence_lock): the shared flock and
     * the read presence lock stay ours whatever the answer, so no one can
     * lay the file out again before we close it. On success no other
     * process has it open, and a new opener waits in ldb__lock_open until
     * we close it. */
    if (presence_lock(lk->fd, F_WRLCK, 0) == 0)
        return 1;
#ifdef LDB_TEST_HOOKS
    if (ldb__lock_test_not_alone != NULL)
        ldb__lock_test_not_alone(lk);
#endif
    return 0;
}

int ldb__lock_ready(struct ldb__lock *lk)
{
    __atomic_store_n(&lk->hdr->ready, 1, __ATOMIC_RELEASE);
    /* flock(2) does not promise this conversion is atomic: a waiter let in
     * between finds the file ready already. */
    return flock_retry(lk->fd, LOCK_SH);
}

int ldb__lock_attach(struct ldb__lock *lk, uint32_t page_size)
{
    uint64_t size;
    TRY(ldb__os_file_size(lk->fd, &size));
    if (size < lock_size(0))
        return LDB_CORRUPT();
    struct ldb__lock_header h;
    TRY(ldb__os_pread_full(lk->fd, &h, sizeof h, 0));
    if (h.magic != LOCK_MAGIC || h.version != LOCK_VERSION || h.ready != 1 ||
        h.page_size != page_size ||
        h.max_readers == 0 || h.max_readers > 65536 || size < lock_size(h.max_readers))
        return LDB_CORRUPT();
    size_t len = lock_size(h.max_readers);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, lk->fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    lk->hdr = p;
    lk->map_len = len;
    lock_layout(lk);
    /* A mutex whose type was overwritten may never be released: refuse the
     * file now rather than wait on it later (mutex.h). */
    int rc = ldb__mutex_check(&lk->hdr->writer_mutex);
    if (rc == 0)
        rc = ldb__mutex_check(&lk->hdr->sync_mutex);
    if (rc == 0)
        rc = ldb__mutex_check(&lk->hdr->state_mutex);
    return rc;
}

int ldb__lock_open_private(struct ldb__lock *lk, unsigned max_readers,
                           const struct ldb__commit_state *cs, unsigned meta_slot)
{
    memset(lk, 0, sizeof *lk);
    lk->fd = -1;
    lk->pid = getpid();
    size_t len = lock_size(max_readers);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    lk->hdr = p;
    lk->map_len = len;
    lay_out(lk, max_readers, 0, cs, meta_slot);
    TRY(init_mutexes(lk->hdr));
    lk->hdr->magic = LOCK_MAGIC;
    return 0;
}

void ldb__lock_close(struct ldb__lock *lk)
{
    if (lk->hdr != NULL)
        munmap(lk->hdr, lk->map_len);
    lk->hdr = NULL;
    if (lk->fd >= 0)
        ldb__os_close(lk->fd); /* releases the flock */
    lk->fd = -1;
}

/* Lock one of the file's mutexes (mutex.h: no damage makes it wait forever). */
static int robust_lock(struct ldb__lock *lk, pthread_mutex_t *m, int nowait, int *owner_died)
{
    return ldb__mutex_lock(m, &lk->home, nowait, owner_died);
}

int ldb__lock_writer(struct ldb__lock *lk, int nowait, int *owner_died)
{
    /* A writer that died never published anything half-done: its pages went
     * to free page numbers and its log record, if any, is either whole and
     * in the commit state or beyond the log's end. */
    return robust_lock(lk, &lk->hdr->writer_mutex, nowait, owner_died);
}

int ldb__lock_writer_release(struct ldb__lock *lk)
{
    return -pthread_mutex_unlock(&lk->hdr->writer_mutex);
}

/* Every write txn asks for its thread's id: kept per thread, so that a
 * commit makes one system call fewer (a tenth of a one-put txn's time
 * under LDB_SYNC_OFF on the machine of docs/benchmarks.md). A forked
 * child's only thread inherits the forking thread's copy, so the child
 * forgets it; without that handler nothing is kept. */
static __thread pid_t this_thread_id;
static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;
static int fork_handler_set;

static void forget_thread_id(void)
{
    this_thread_id = 0;
}

static void set_fork_handler(void)
{
    fork_handler_set = pthread_atfork(NULL, NULL, forget_thread_id) == 0;
}

pid_t ldb__lock_thread_id(void)
{
    if (this_thread_id != 0)
        return this_thread_id;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    pthread_once(&fork_handler_once, set_fork_handler);
    if (fork_handler_set)
        this_thread_id = tid;
    return tid;
}

int ldb__lock_thread_gone(pid_t tid)
{
    /* A thread's robust mutexes are marked "owner died" as it exits, before
     * its id stops answering. (An id reused since answers: still refused.) */
    return syscall(SYS_tgkill, getpid(), tid, 0) != 0 && errno == ESRCH;
}

int ldb__lock_sync_acquire(struct ldb__lock *lk, int nowait)
{
    int died; /* a dead syncer leaves nothing behind: the next one syncs again */
    return robust_lock(lk, &lk->hdr->sync_mutex, nowait, &died);
}

void ldb__lock_sync_release(struct ldb__lock *lk)
{
    pthread_mutex_unlock(&lk->hdr->sync_mutex);
}

static int state_lock(struct ldb__lock *lk)
{
    int died; /* the state is double-buffered: a half-written copy is unused */
    return robust_lock(lk, &lk->hdr->state_mutex, 0, &died);
}

int ldb__lock_state_read(struct ldb__lock *lk, struct ldb__commit_state *out)
{
    TRY(state_lock(lk));
    *out = lk->hdr->state[lk->hdr->state_idx & 1];
    pthread_mutex_unlock(&lk->hdr->state_mutex);
    return 0;
}

int ldb__lock_state_write(struct ldb__lock *lk, const struct ldb__commit_state *in)
{
#ifdef LDB_TEST_HOOKS
    int fault = ldb__os_fault_check(LDB_FAULT_STATE);
    if (fault != 0)
        return fault;
#endif
    TRY(state_lock(lk));
    uint32_t next = (lk->hdr->state_idx + 1) & 1;
    lk->hdr->state[next] = *in;
    __atomic_store_n(&lk->hdr->state_idx, next, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&lk->hdr->state_mutex);
    return 0;
}

void ldb__lock_durable_wait(struct ldb__lock *lk, uint32_t seen, int timeout_us)
{
    struct timespec ts = {0, (long)timeout_us * 1000};
    /* Shared (not FUTEX_PRIVATE): waiters and wakers may be other processes.
     * The timeout bounds the wait should a syncer die before waking. */
    syscall(SYS_futex, &lk->hdr->durable_seq, FUTEX_WAIT, seen, &ts, NULL, 0);
}

void ldb__lock_durable_wake(struct ldb__lock *lk)
{
    /* Sequentially consistent with the waiters' count (incremented before
     * a waiter reads durable_seq): either we see the waiter, or it sees the
     * new sequence number and does not sleep. No waiter, no syscall. */
    __atomic_add_fetch(&lk->hdr->durable_seq, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&lk->hdr->durable_waiters, __ATOMIC_SEQ_CST) != 0)
        syscall(SYS_futex, &lk->hdr->durable_seq, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

int ldb__lock_publish_newer(struct ldb__lock *lk, const struct ldb__snapshot *snap)
{
    TRY(state_lock(lk));
    if (snap->txnid > __atomic_load_n(&lk->hdr->published_txnid, __ATOMIC_ACQUIRE))
        ldb__lock_publish(lk, snap);
    pthread_mutex_unlock(&lk->hdr->state_mutex);
    return 0;
}

/* A slot's owner word (invariant S of lock.h). */
static uint64_t owner_word(uint32_t generation, uint32_t pid)
{
    return (uint64_t)generation << 32 | pid;
}

static uint32_t owner_pid(uint64_t w)
{
    return (uint32_t)w;
}

static uint32_t owner_generation(uint64_t w)
{
    return (uint32_t)(w >> 32);
}

/* Take slot i if its owner word is still seen, as pid, in the next
 * generation. */
static int slot_take(struct ldb__lock *lk, unsigned i, uint64_t seen, uint32_t pid)
{
    uint64_t mine = owner_word(owner_generation(seen) + 1, pid);
    return __atomic_compare_exchange_n(&lk->slots[i].owner, &seen, mine, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_RELAXED);
}

int ldb__lock_reader_claim(struct ldb__lock *lk, unsigned *slot)
{
    uint32_t pid = (uint32_t)lk->pid;
    for (int attempt = 0; attempt < 2; attempt++) {
        for (unsigned i = 0; i < lk->hdr->max_readers; i++) {
            uint64_t w = __atomic_load_n(&lk->slots[i].owner, __ATOMIC_RELAXED);
            if (owner_pid(w) == 0 && slot_take(lk, i, w, pid)) {
                __atomic_store_n(&lk->slots[i].txnid, LDB_READER_IDLE, __ATOMIC_RELEASE);
                *slot = i;
                return 0;
            }
        }
        /* Table full: slots of dead processes may be what fills it. */
        int cleared = 0;
        ldb__lock_reader_check(lk, &cleared);
        if (cleared == 0)
            break;
    }
    return LDB_BUSY;
}

void ldb__lock_reader_release(struct ldb__lock *lk, unsigned slot)
{
    struct ldb__reader_slot *s = &lk->slots[slot];
    __atomic_store_n(&s->txnid, LDB_READER_IDLE, __ATOMIC_RELEASE);
    /* Ours: no one else changes the word while we own it (invariant S). */
    uint64_t w = __atomic_load_n(&s->owner, __ATOMIC_RELAXED);
    __atomic_store_n(&s->owner, owner_word(owner_generation(w), 0), __ATOMIC_RELEASE);
}

static int read_snapshot_buffer(struct ldb__lock *lk, uint64_t id, struct ldb__snapshot *out)
{
    struct ldb__snapshot_buffer *b = &lk->hdr->snaps[id & 1];
    uint64_t s1 = __atomic_load_n(&b->seq, __ATOMIC_ACQUIRE);
    if (s1 & 1)
        return 0;
    /* Field by field with relaxed atomics: a seqlock read that may race. */
    const uint64_t *src = (const uint64_t *)(const void *)&b->snap;
    uint64_t *dst = (uint64_t *)(void *)out;
    for (size_t i = 0; i < sizeof *out / 8; i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&b->seq, __ATOMIC_RELAXED) == s1 && out->txnid == id;
}
_Static_assert(sizeof(struct ldb__snapshot) % 8 == 0, "snapshot copied in words");

/* A publisher keeps a buffer odd for a few dozen stores, under state_mutex.
 * A reader that loses this many races in a row is not racing a publisher
 * that runs: either one was preempted mid-publish, or the lock file is
 * damaged. It then reads under state_mutex, where no publish can run. */
#define SNAPSHOT_SPINS 1024

/* The snapshot read under state_mutex: no publish runs, so the published id
 * and its buffer are still; an inconsistent pair is damage, not a race.
 * With slot != NULL the reader registers first (invariant R holds trivially:
 * nothing can be published between the store and the read). */
static int snapshot_read_locked(struct ldb__lock *lk, uint64_t *slot_txnid,
                                struct ldb__snapshot *snap)
{
    int rc = state_lock(lk);
    if (rc < 0) {
        if (slot_txnid != NULL)
            __atomic_store_n(slot_txnid, LDB_READER_IDLE, __ATOMIC_RELEASE);
        return rc;
    }
    uint64_t id = __atomic_load_n(&lk->hdr->published_txnid, __ATOMIC_SEQ_CST);
    if (slot_txnid != NULL)
        __atomic_store_n(slot_txnid, id, __ATOMIC_SEQ_CST);
    int ok = read_snapshot_buffer(lk, id, snap);
    pthread_mutex_unlock(&lk->hdr->state_mutex);
    if (ok)
        return 0;
    if (slot_txnid != NULL)
        __atomic_store_n(slot_txnid, LDB_READER_IDLE, __ATOMIC_RELEASE);
    return LDB_CORRUPT();
}

int ldb__lock_reader_begin(struct ldb__lock *lk, unsigned slot, struct ldb__snapshot *snap)
{
    struct ldb__reader_slot *s = &lk->slots[slot];
    __atomic_store_n(&s->began, ldb__lock_coarse_now_ns(), __ATOMIC_RELAXED);
    for (unsigned spins = 0; spins < SNAPSHOT_SPINS; spins++) {
        uint64_t id = __atomic_load_n(&lk->hdr->published_txnid, __ATOMIC_SEQ_CST);
        __atomic_store_n(&s->txnid, id, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&lk->hdr->published_txnid, __ATOMIC_SEQ_CST) != id)
            continue; /* a commit slipped in: register again (invariant R) */
        if (read_snapshot_buffer(lk, id, snap))
            return 0;
    }
    return snapshot_read_locked(lk, &s->txnid, snap);
}

int ldb__lock_read_published(struct ldb__lock *lk, struct ldb__snapshot *snap)
{
    for (unsigned spins = 0; spins < SNAPSHOT_SPINS; spins++) {
        uint64_t id = __atomic_load_n(&lk->hdr->published_txnid, __ATOMIC_SEQ_CST);
        if (read_snapshot_buffer(lk, id, snap))
            return 0;
    }
    return snapshot_read_locked(lk, NULL, snap);
}

void ldb__lock_publish(struct ldb__lock *lk, const struct ldb__snapshot *snap)
{
    struct ldb__snapshot_buffer *b = &lk->hdr->snaps[snap->txnid & 1];
    /* Even, even if a writer died between its two stores (which left it
     * odd): otherwise this publish would end odd and readers would spin. */
    uint64_t seq = (__atomic_load_n(&b->seq, __ATOMIC_RELAXED) | 1) - 1;
    __atomic_store_n(&b->seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    const uint64_t *src = (const uint64_t *)(const void *)snap;
    uint64_t *dst = (uint64_t *)(void *)&b->snap;
    for (size_t i = 0; i < sizeof *snap / 8; i++)
        __atomic_store_n(&dst[i], src[i], __ATOMIC_RELAXED);
    __atomic_store_n(&b->seq, seq + 2, __ATOMIC_RELEASE);
    __atomic_store_n(&lk->hdr->published_txnid, snap->txnid, __ATOMIC_SEQ_CST);
}

uint64_t ldb__lock_oldest_snapshot(struct ldb__lock *lk)
{
    uint64_t oldest = __atomic_load_n(&lk->hdr->published_txnid, __ATOMIC_SEQ_CST);
    for (unsigned i = 0; i < lk->hdr->max_readers; i++) {
        uint64_t id = __atomic_load_n(&lk->slots[i].txnid, __ATOMIC_SEQ_CST);
        if (id < oldest)
            oldest = id;
    }
    return oldest;
}

#ifdef LDB_TEST_HOOKS
static void (*reclaim_hook)(unsigned slot);

void ldb__lock_set_reclaim_hook(void (*hook)(unsigned slot))
{
    __atomic_store_n(&reclaim_hook, hook, __ATOMIC_RELEASE);
}

static void reclaim_hook_call(unsigned slot)
{
    void (*hook)(unsigned) = __atomic_load_n(&reclaim_hook, __ATOMIC_ACQUIRE);
    if (hook != NULL)
        hook(slot);
}
#else
#define reclaim_hook_call(slot) ((void)0)
#endif

int ldb__lock_reader_check(struct ldb__lock *lk, int *cleared)
{
    int n = 0;
    for (unsigned i = 0; i < lk->hdr->max_readers; i++) {
        struct ldb__reader_slot *s = &lk->slots[i];
        uint64_t w = __atomic_load_n(&s->owner, __ATOMIC_ACQUIRE);
        uint32_t pid = owner_pid(w);
        if (pid == 0 || pid == (uint32_t)lk->pid)
            continue;
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
            reclaim_hook_call(i);
            /* Only from exactly what was seen dead (invariant S): if the
             * slot was freed and claimed meanwhile, this fails. Then it is
             * ours: its txnid is the dead reader's to reset. */
            if (slot_take(lk, i, w, (uint32_t)lk->pid)) {
                ldb__lock_reader_release(lk, i);
                n++;
            }
        }
    }
    if (cleared)
        *cleared = n;
    return 0;
}

void ldb__lock_reader_stats(struct ldb__lock *lk, uint32_t *used, uint64_t *oldest)
{
    uint32_t u = 0;
    uint64_t o = LDB_READER_IDLE;
    for (unsigned i = 0; i < lk->hdr->max_readers; i++) {
        uint64_t id = __atomic_load_n(&lk->slots[i].txnid, __ATOMIC_ACQUIRE);
        if (id != LDB_READER_IDLE) {
            u++;
            if (id < o)
                o = id;
        }
    }
    *used = u;
    *oldest = u ? o : 0;
}

uint64_t ldb__lock_reader_longest_ns(struct ldb__lock *lk)
{
    uint64_t now = ldb__lock_coarse_now_ns(), longest = 0;
    for (unsigned i = 0; i < lk->hdr->max_readers; i++) {
        const struct ldb__reader_slot *s = &lk->slots[i];
        if (__atomic_load_n(&s->txnid, __ATOMIC_ACQUIRE) == LDB_READER_IDLE)
            continue;
        uint64_t began = __atomic_load_n(&s->began, __ATOMIC_RELAXED);
        if (began != 0 && began < now && now - began > longest)
            longest = now - began;
    }
    return longest;
}

int ldb__lock_reader_visit(struct ldb__lock *lk, int (*fn)(void *, uint32_t, uint64_t, int),
                           void *ctx)
{
    for (unsigned i = 0; i < lk->hdr->max_readers; i++) {
        uint32_t pid = owner_pid(__atomic_load_n(&lk->slots[i].owner, __ATOMIC_ACQUIRE));
        uint64_t id = __atomic_load_n(&lk->slots[i].txnid, __ATOMIC_ACQUIRE);
        if (pid == 0)
            continue;
        /* kill(pid, 0) only probes; EPERM means the process exists */
        int alive = !(kill((pid_t)pid, 0) != 0 && errno == ESRCH);
        int rc = fn(ctx, pid, id, alive);
        if (rc != 0)
            return rc;
    }
    return 0;
}
