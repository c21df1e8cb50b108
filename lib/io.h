/* SPDX-License-Identifier: MIT */
/*
 * io.h: the log's I/O backend: plain pwrite/fdatasync, and io_uring where
 * the kernel allows it and it pays. Both do the same things; io_uring can
 * link a write and an fdatasync in one submission (a kernel worker writes
 * and syncs while the caller goes on), and can hand a write (or a write-back
 * hint) to a kernel worker, so a commit's record is copied while its pages
 * are.
 *
 * The backend is chosen at open, by the environment variable
 * LDB_IO_BACKEND: "sync", no ring at all; "io_uring", both rings, appends
 * on a kernel worker; unset (or anything else), the append ring for the
 * LDB_SYNC_OFF log's background syncs only (ldb__io_start_writeback):
 * every record is written with pwrite; a durable commit's write-back is
 * started at once with sync_file_range (the disk writes it while the
 * caller writes the txn's pages), and fdatasync waits for it and flushes.
 * On the machine of docs/benchmarks.md the kernel worker's wake-ups cost
 * more than the work they took off the committing thread: a durable
 * commit spent 10-30 us more outside the disk with the linked
 * submission, and an LDB_SYNC_OFF load of 1M ascending puts took
 * 0.54 s with its records on the worker against 0.40 s with pwrite. A
 * ring needs liburing at build time and a kernel that allows one (old
 * kernels and seccomp filters refuse it); without it every path is plain.
 * Errors come back as -errno, like os.c.
 */
#ifndef LDB_IO_H
#define LDB_IO_H

#include <stddef.h>
#include <stdint.h>

#include "histogram.h"

struct ldb__ring; /* opaque: io.c owns the liburing state */

struct ldb__io {
    struct ldb__ring *ring; /* NULL: the plain syscall backend */
    /* The submission in flight. */
    int fd;
    const void *buf;
    size_t len;
    uint64_t off;
    int injected_sync_error;
    int used_ring;
    uint64_t submitted_ns; /* when the write+sync in flight was submitted */
    /* Every log sync this env waited for: fdatasync alone, or a linked
     * write + fdatasync from submission to completion. */
    struct ldb__histogram sync_latency;
    /* The writer's log append in flight (ldb__io_append_start), on a ring
     * of its own: the one above belongs to the sync mutex's holder. */
    struct ldb__ring *append_ring;
    int append_fd;
    const void *append_buf;
    size_t append_len;
    uint64_t append_off;
    int ring_appends;   /* appends go to append_ring (LDB_IO_BACKEND=io_uring) */
    int append_pending; /* submitted to append_ring, not yet reaped */
    int writeback_pending; /* a write-back on append_ring, not yet reaped */
};

/* Set up the backend; never fails for want of io_uring (falls back). */
int ldb__io_init(struct ldb__io *io);
void ldb__io_destroy(struct ldb__io *io);
/* "io_uring", "sync, io_uring appends", "sync, io_uring write-back" or
 * "sync". */
const char *ldb__io_backend(const struct ldb__io *io);

int ldb__io_write(struct ldb__io *io, int fd, const void *buf, size_t len, uint64_t off);
int ldb__io_datasync(struct ldb__io *io, int fd);
/* Write then fdatasync, the sync ordered after the write, in two halves so
 * the caller can let others go on between them: submit (one io_uring
 * submission of the write linked to the sync; without the linked ring, the
 * write itself and the start of its write-back), then wait (the
 * completions; without the linked ring, the fdatasync). buf must stay
 * valid until wait returns. wait returns 0 only if both succeeded. One
 * submitter per io at a time (the caller holds the log's sync mutex). */
int ldb__io_submit_write_sync(struct ldb__io *io, int fd, const void *buf, size_t len,
                              uint64_t off);
int ldb__io_wait_write_sync(struct ldb__io *io);

/* Write len bytes of buf at off of fd on a kernel worker thread, so that
 * the caller can work on the other core meanwhile (the commit writes its
 * data pages while the kernel copies its log record); append_wait returns
 * once the whole write is in the kernel (what a pwrite promises) or failed,
 * and buf must stay unchanged until then. A start that fails wrote nothing
 * and needs no wait. Without appends on the ring (the default and plain
 * backends, a record of 1 GiB or more, the power-loss simulation) start is
 * a plain pwrite and wait returns 0. One append in flight at a time: only
 * the writer appends. */
int ldb__io_append_start(struct ldb__io *io, int fd, const void *buf, size_t len, uint64_t off);
int ldb__io_append_wait(struct ldb__io *io);

/* Get len bytes at off of fd to the disk early, on a kernel worker of the
 * append ring so that the caller never waits for the disk. With sync_fd
 * (fd's file, opened again; -1 if none) an fdatasync of it: a disk whose
 * cache is flushed at every sync (this VM's: the final fdatasync of a
 * 124 MB log took 50-70 ms even with every page written back) pays it a
 * few MiB at a time while the load runs. Its result is ignored: through
 * its own open file it cannot take an error from fd's next fdatasync,
 * to which the kernel still reports it. Without sync_fd a write-back hint
 * (ldb__os_start_writeback). Without the ring, that hint on this thread.
 * 0 if started; LDB_BUSY (nothing done) while the last one still runs.
 * Only the writer calls it, as for appends. */
int ldb__io_start_writeback(struct ldb__io *io, int fd, int sync_fd, uint64_t off,
                            uint64_t len);

#ifdef LDB_TEST_HOOKS
/* Background syncs ldb__io_start_writeback submitted, in this process. */
extern uint64_t ldb__io_writeback_syncs;
#endif

#endif
