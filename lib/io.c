/* SPDX-License-Identifier: MIT */
/*
 * io.c: see io.h. The rings are small and private to the env; only the
 * holder of the log's sync mutex submits to the first (set up only when
 * LDB_IO_BACKEND=io_uring asks for it), only the writer (the writer mutex)
 * to the append ring, so they need no lock of their own. A short write is
 * finished with the plain path, so the caller always gets all-or-error.
 */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "os.h"

#ifdef HAVE_LIBURING
#include <liburing.h>

struct ldb__ring {
    struct io_uring ring;
};

static struct ldb__ring *ring_new(unsigned entries)
{
    struct ldb__ring *r = ldb__calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    if (io_uring_queue_init(entries, &r->ring, 0) < 0) {
        ldb__free(r);
        return NULL;
    }
    return r;
}

static void ring_free(struct ldb__ring *r)
{
    if (r) {
        io_uring_queue_exit(&r->ring);
        ldb__free(r);
    }
}

static int ring_setup(struct ldb__io *io, int linked_sync)
{
    /* NULL: that path takes the plain system calls. */
    io->append_ring = ring_new(2);
    if (linked_sync)
        io->ring = ring_new(4);
    return io->append_ring != NULL || io->ring != NULL ? 0 : -ENOSYS;
}

static void ring_teardown(struct ldb__io *io)
{
    ring_free(io->ring);
    ring_free(io->append_ring);
    io->ring = NULL;
    io->append_ring = NULL;
}

#else
struct ldb__ring {
    int unused;
};
static int ring_setup(struct ldb__io *io, int linked_sync)
{
    (void)io;
    (void)linked_sync;
    return -ENOSYS;
}
static void ring_teardown(struct ldb__io *io)
{
    (void)io;
}
#endif

int ldb__io_init(struct ldb__io *io)
{
    memset(io, 0, sizeof *io);
    const char *want = getenv("LDB_IO_BACKEND");
    if (want != NULL && strcmp(want, "sync") == 0)
        return 0;
    /* The linked write + fdatasync, and appends on a kernel worker, only
     * when asked for: on the machine of docs/benchmarks.md ("issue 11,
     * durable commits, sync3 branch" and "Appends written on the writer's
     * own thread") the worker's wake-ups cost more than the copy they took
     * off the committing thread. By default the ring only starts the log's
     * write-back. */
    int asked = want != NULL && strcmp(want, "io_uring") == 0;
    if (ring_setup(io, asked) == 0) /* refused or unavailable: the plain path */
        io->ring_appends = asked && io->append_ring != NULL;
    return 0;
}

void ldb__io_destroy(struct ldb__io *io)
{
    ring_teardown(io);
}

const char *ldb__io_backend(const struct ldb__io *io)
{
    if (io->ring != NULL)
        return "io_uring";
    if (io->ring_appends)
        return "sync, io_uring appends";
    return io->append_ring != NULL ? "sync, io_uring write-back" : "sync";
}

/* Fault injection applies to both backends (test builds only); the power
 * loss simulation records writes in os.c, so it takes the plain path. */
#ifdef LDB_TEST_HOOKS
#define IO_FAULT(kind) ldb__os_fault_check(kind)
#define CRASHSIM_ACTIVE() ldb__os_crashsim_active()
uint64_t ldb__io_writeback_syncs;
#else
#define IO_FAULT(kind) 0
#define CRASHSIM_ACTIVE() 0
#endif
#define USE_RING(ring, len) ((ring) != NULL && (len) < (1u << 30) && !CRASHSIM_ACTIVE())

int ldb__io_write(struct ldb__io *io, int fd, const void *buf, size_t len, uint64_t off)
{
    (void)io; /* appends under the writer mutex: plain pwrite, never waits on the ring */
    return ldb__os_pwrite_full(fd, buf, len, off);
}

int ldb__io_datasync(struct ldb__io *io, int fd)
{
    uint64_t start = ldb__now_ns();
    int rc = ldb__os_fdatasync(fd);
    ldb__hist_since(&io->sync_latency, start);
    return rc;
}

int ldb__io_submit_write_sync(struct ldb__io *io, int fd, const void *buf, size_t len,
                              uint64_t off)
{
    io->fd = fd;
    io->buf = buf;
    io->len = len;
    io->off = off;
    io->injected_sync_error = 0;
    io->used_ring = 0;
    io->submitted_ns = ldb__now_ns();
#ifdef HAVE_LIBURING
    if (USE_RING(io->ring, len)) {
        io->used_ring = 1;
        int e = IO_FAULT(LDB_FAULT_WRITE);
        if (e)
            return -e;
        io->injected_sync_error = IO_FAULT(LDB_FAULT_SYNC);
        struct io_uring *r = &io->ring->ring;
        struct io_uring_sqe *w = io_uring_get_sqe(r), *f = NULL;
        if (w != NULL)
            f = io_uring_get_sqe(r);
        if (w == NULL || f == NULL)
            return -EBUSY; /* cannot happen: the ring is ours and drained */
        io_uring_prep_write(w, fd, buf, (unsigned)len, off);
        io_uring_sqe_set_data(w, (void *)(uintptr_t)0);
        w->flags |= IOSQE_IO_LINK;
        io_uring_prep_fsync(f, fd, IORING_FSYNC_DATASYNC);
        io_uring_sqe_set_data(f, (void *)(uintptr_t)1);
        int rc = io_uring_submit(r);
        return rc < 0 ? rc : 0;
    }
#endif
    TRY(ldb__os_pwrite_full(fd, buf, len, off));
    /* The disk starts on the record now, while the caller writes the txn's
     * pages; wait's fdatasync then waits for that write (or writes again
     * what it missed) and flushes. A failed start costs only the head
     * start: the fdatasync reports any write error. */
    ldb__os_start_writeback(fd, off, len);
    return 0;
}

static int wait_write_sync(struct ldb__io *io);

int ldb__io_wait_write_sync(struct ldb__io *io)
{
    int rc = wait_write_sync(io);
    ldb__hist_since(&io->sync_latency, io->submitted_ns);
    return rc;
}

static int wait_write_sync(struct ldb__io *io)
{
#ifdef HAVE_LIBURING
    if (io->used_ring) {
        int res[2] = {-EIO, -EIO};
        for (int i = 0; i < 2; i++) {
            struct io_uring_cqe *cqe;
            int rc;
            do
                rc = io_uring_wait_cqe(&io->ring->ring, &cqe);
            while (rc == -EINTR);
            if (rc < 0)
                return rc;
            uintptr_t idx = (uintptr_t)io_uring_cqe_get_data(cqe);
            if (idx < 2)
                res[idx] = cqe->res;
            io_uring_cqe_seen(&io->ring->ring, cqe);
        }
        if (res[0] < 0)
            return res[0];
        if ((size_t)res[0] != io->len) {
            /* A short write broke the link: finish on the plain path. */
            size_t done = (size_t)res[0];
            TRY(ldb__os_pwrite_full(io->fd, (const char *)io->buf + done, io->len - done,
                                    io->off + done));
            return ldb__os_fdatasync(io->fd);
        }
        if (io->injected_sync_error)
            return -io->injected_sync_error;
        return res[1] < 0 ? res[1] : 0;
    }
#endif
    return ldb__os_fdatasync(io->fd);
}

/* Tags telling the append ring's completions apart. */
#define TAG_APPEND 1
#define TAG_WRITEBACK 2

int ldb__io_append_start(struct ldb__io *io, int fd, const void *buf, size_t len, uint64_t off)
{
    io->append_pending = 0;
#ifdef HAVE_LIBURING
    if (io->ring_appends && USE_RING(io->append_ring, len)) {
        int e = IO_FAULT(LDB_FAULT_WRITE);
        if (e)
            return -e;
        struct io_uring *r = &io->append_ring->ring;
        struct io_uring_sqe *w = io_uring_get_sqe(r);
        if (w == NULL)
            return -EBUSY; /* cannot happen: one append at a time, reaped */
        io_uring_prep_write(w, fd, buf, (unsigned)len, off);
        io_uring_sqe_set_data64(w, TAG_APPEND);
        /* Straight to a worker: submitted inline, the copy would run on
         * this thread before io_uring_submit returned. */
        w->flags |= IOSQE_ASYNC;
        int rc = io_uring_submit(r);
        if (rc < 0)
            return rc; /* not submitted: nothing written */
        io->append_fd = fd;
        io->append_buf = buf;
        io->append_len = len;
        io->append_off = off;
        io->append_pending = 1;
        return 0;
    }
#endif
    return ldb__os_pwrite_full(fd, buf, len, off);
}

int ldb__io_append_wait(struct ldb__io *io)
{
#ifdef HAVE_LIBURING
    if (io->append_pending) {
        struct io_uring_cqe *cqe;
        int rc;
        for (;;) {
            do
                rc = io_uring_wait_cqe(&io->append_ring->ring, &cqe);
            while (rc == -EINTR || rc == -EAGAIN);
            if (rc < 0)
                return rc; /* cannot happen with a submission in flight */
            if (io_uring_cqe_get_data64(cqe) != TAG_WRITEBACK)
                break;
            /* A write-back's result: a hint, whatever it says. */
            io_uring_cqe_seen(&io->append_ring->ring, cqe);
            io->writeback_pending = 0;
        }
        int res = cqe->res;
        io_uring_cqe_seen(&io->append_ring->ring, cqe);
        io->append_pending = 0;
        if (res < 0)
            return res;
        size_t done = (size_t)res;
        if (done < io->append_len) /* a short write: finish on the plain path */
            return ldb__os_pwrite_full(io->append_fd, (const char *)io->append_buf + done,
                                       io->append_len - done, io->append_off + done);
        return 0;
    }
#endif
    (void)io;
    return 0;
}

int ldb__io_start_writeback(struct ldb__io *io, int fd, int sync_fd, uint64_t off, uint64_t len)
{
#ifdef HAVE_LIBURING
    if (io->append_ring != NULL && !io->append_pending) {
        struct io_uring *r = &io->append_ring->ring;
        struct io_uring_cqe *cqe;
        if (io->writeback_pending && io_uring_peek_cqe(r, &cqe) == 0) {
            io_uring_cqe_seen(r, cqe); /* only a write-back can be there */
            io->writeback_pending = 0;
        }
        if (io->writeback_pending)
            return LDB_BUSY;
        struct io_uring_sqe *s = io_uring_get_sqe(r);
        if (s == NULL)
            return LDB_BUSY;
        if (sync_fd >= 0 && !CRASHSIM_ACTIVE()) {
            /* A whole sync, not only a start: the disk's cache is flushed
             * a few MiB at a time while the load runs, not all at its end
             * (io.h). Not under the power-loss simulation, which knows
             * only the syncs os.c makes. */
            io_uring_prep_fsync(s, sync_fd, IORING_FSYNC_DATASYNC);
#ifdef LDB_TEST_HOOKS
            __atomic_fetch_add(&ldb__io_writeback_syncs, 1, __ATOMIC_RELAXED);
#endif
        } else {
            /* 0 bytes: to the end of the file, for a range past 32 bits. */
            unsigned nbytes = len > UINT32_MAX ? 0 : (unsigned)len;
            io_uring_prep_sync_file_range(s, fd, nbytes, off, SYNC_FILE_RANGE_WRITE);
        }
        io_uring_sqe_set_data64(s, TAG_WRITEBACK);
        s->flags |= IOSQE_ASYNC; /* a worker waits for the disk's queue, not us */
        if (io_uring_submit(r) < 0)
            return LDB_BUSY;
        io->writeback_pending = 1;
        return 0;
    }
#endif
    (void)io;
    (void)sync_fd;
    ldb__os_start_writeback(fd, off, len);
    return 0;
}
