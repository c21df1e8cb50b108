/* SPDX-License-Identifier: MIT */
/*
 * The operating-system boundary: files, syncs, growth and the read-only map.
 *
 * Everything above this layer sees errors as negative return values; errno is
 * read here and nowhere else. Writes and syncs go through a table of function
 * pointers so that a build with --enable-test-hooks can inject faults (EIO,
 * ENOSPC, short writes) at the n-th call; release builds call the system
 * directly through the same table.
 */
#ifndef LDB_OS_H
#define LDB_OS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

int ldb__os_open(const char *path, int flags, unsigned mode, int *fd);
void ldb__os_close(int fd);

/* What the library needs to know of an open file. */
struct ldb__os_file {
    uint64_t size;
    unsigned uid;   /* owner */
    unsigned mode;  /* permission bits (07777) */
    uint64_t nlink; /* names it has */
    uint64_t dev, ino; /* which file it is */
    int regular;    /* a regular file (not a directory, FIFO, device) */
};
int ldb__os_stat(int fd, struct ldb__os_file *out);
/* Open path, which must be a regular file: opened with O_NONBLOCK (so a
 * FIFO cannot block the open) and checked with fstat afterwards, else
 * LDB_INVALID and nothing stays open. With O_CREAT in flags the file is
 * created (mode, masked by the umask) only if missing, and *created says
 * whether this call created it. info describes the file opened. */
int ldb__os_open_regular(const char *path, int flags, unsigned mode, int *fd, int *created,
                         struct ldb__os_file *info);
/* Open a database's side file (lock file, log), which others may have
 * planted: as ldb__os_open_regular, and never through a symbolic link
 * (-ELOOP); a file this call did not create must be owned by owner (the
 * data file's owner; else -EPERM) and have no other name (a hard link to
 * some other file; -EMLINK). Refused, the file is left untouched. */
int ldb__os_open_side(const char *path, int flags, unsigned mode, unsigned owner, int *fd,
                      int *created);
/* Read exactly len bytes at off; a read past the end gives LDB_CORRUPTED. */
int ldb__os_pread_full(int fd, void *buf, size_t len, uint64_t off);
/* Write all of buf at off, retrying short writes and EINTR. */
int ldb__os_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
/* Write all of iov (which this call may modify) at off. */
int ldb__os_pwritev_full(int fd, struct iovec *iov, int iovcnt, uint64_t off);
int ldb__os_fsync(int fd);
int ldb__os_fdatasync(int fd);
/* Start writing len bytes at off of fd to the disk without waiting
 * (sync_file_range's SYNC_FILE_RANGE_WRITE): a hint that makes a later
 * sync of them shorter; it promises no durability, and a failure is
 * ignored (a later fsync reports any I/O error). */
void ldb__os_start_writeback(int fd, uint64_t off, uint64_t len);
int ldb__os_file_size(int fd, uint64_t *size);
/* Grow the file to new_size bytes, allocating the blocks (so a later write
 * cannot fail for space) where the filesystem supports it. */
int ldb__os_grow(int fd, uint64_t new_size);
/* Extend the file from byte `from` to `to` by writing zeros. Unlike
 * ldb__os_grow's preallocation, the blocks are then written, so later
 * overwrites of them need no metadata update and an fdatasync after them
 * is a single data flush (what the log's appends want). */
int ldb__os_extend_zeroed(int fd, uint64_t from, uint64_t to);
int ldb__os_truncate(int fd, uint64_t size);
/* fsync the directory holding path, so a file created in it survives. */
int ldb__os_fsync_parent_dir(const char *path);
/* Map len bytes of fd read-only and shared. */
int ldb__os_map(int fd, size_t len, void **addr);
void ldb__os_unmap(void *addr, size_t len);

/* For backups (backup.c): streaming to a descriptor that may be a pipe or a
 * socket (no seeking), and publishing a finished file under its name. */
/* *exists = 1 if something (a file, a directory, a dangling link) is at path. */
int ldb__os_exists(const char *path, int *exists);
/* Write all of buf at fd's position, retrying short writes and EINTR, and
 * waiting (poll) on a non-blocking fd that is full. */
int ldb__os_write_all(int fd, const void *buf, size_t len);
/* Copy len bytes at off of in_fd to out_fd's position inside the kernel
 * (sendfile); *sent says how many went before an error. -EINVAL or -ENOSYS
 * with nothing sent: this pair of files cannot do it, write instead. */
int ldb__os_send_file(int out_fd, int in_fd, uint64_t off, size_t len, size_t *sent);
/* Take flock(LOCK_EX | LOCK_NB) on fd: LDB_BUSY if someone holds it. */
int ldb__os_lock_nowait(int fd);
/* *same = 1 if path names the file open as fd (it was not renamed away). */
int ldb__os_same_file(int fd, const char *path, int *same);
/* *regular = 1 if fd is a regular file (not a pipe, socket or device). */
int ldb__os_is_regular(int fd, int *regular);
/* Rename from to to, never replacing an existing to (-EEXIST then):
 * renameat2(RENAME_NOREPLACE), or where the filesystem lacks it (NFS),
 * link(to) then unlink(from). */
int ldb__os_rename_noreplace(const char *from, const char *to);
int ldb__os_unlink(const char *path);

/* For the log archive (archive.c): files named inside a directory held
 * open, so a relative archive path means what it meant at ldb_open. */
int ldb__os_open_dir(const char *path, int *fd);
int ldb__os_openat(int dirfd, const char *name, int flags, unsigned mode, int *fd);
/* Rename inside dirfd, replacing an existing to. */
int ldb__os_renameat(int dirfd, const char *from, const char *to);
int ldb__os_unlinkat(int dirfd, const char *name);
/* Copy len bytes at off of in_fd to the same offset of out_fd, inside the
 * kernel where it can (copy_file_range: a reflink on filesystems that share
 * blocks), else through a buffer. */
int ldb__os_copy_range(int in_fd, int out_fd, uint64_t off, uint64_t len);
/* Call fn with the name of each entry of the directory open as dirfd
 * (not "." or ".."), until it returns nonzero (that value is returned). */
int ldb__os_list_dir(int dirfd, int (*fn)(void *ctx, const char *name), void *ctx);

#ifdef LDB_TEST_HOOKS
/* Fault injection for tests. Counts calls of each kind; when the count of a
 * kind reaches its trigger, that call fails with the given errno. A trigger
 * of 0 is off. LDB_FAULT_SHORT makes the n-th write system call write only
 * part of its buffer (the error argument is ignored): the caller must finish
 * the write. ldb__os_fault_reset() clears all triggers and counters. */
enum ldb__os_fault_kind {
    LDB_FAULT_WRITE,
    LDB_FAULT_SYNC,
    LDB_FAULT_GROW,
    LDB_FAULT_SHORT,
    LDB_FAULT_RENAME, /* renameat2 fails: ldb__os_rename_noreplace falls back */
    LDB_FAULT_COPY,   /* ldb__os_copy_range (archiving a log generation) */
    LDB_FAULT_WRITEBACK, /* ldb__os_start_writeback: counted; a fault drops the hint */
    LDB_FAULT_STATE, /* ldb__lock_state_write fails with the error as given (an
                      * LDB_ code, as on a damaged state mutex), not -errno */
    LDB_FAULT_KINDS
};
void ldb__os_fault_set(enum ldb__os_fault_kind kind, uint64_t nth_call, int err);
void ldb__os_fault_reset(void);
uint64_t ldb__os_fault_calls(enum ldb__os_fault_kind kind);
/* Count one call of kind; the errno to inject for it, or 0. For I/O done
 * outside this file (the io_uring backend). */
int ldb__os_fault_check(enum ldb__os_fault_kind kind);

/* Power-loss simulation, after SQLite's crash tests. While on, every write
 * remembers the bytes it overwrites, and an fsync/fdatasync of a file
 * forgets that file's remembered writes (they are durable). crash() then
 * walks the writes not yet synced, newest first, and for each, at random
 * (from seed), keeps it, drops it (puts the old bytes back) or tears it
 * (puts the old bytes back over a random part of it, in 512-byte sectors);
 * then turns the simulation off. The caller must exit without closing
 * anything (a process that lost power does not checkpoint). Returns how many
 * writes were dropped or torn. */
void ldb__os_crashsim_start(uint64_t seed);
/* Let each pread/pwrite(v) system call move at most max_per_call bytes (0:
 * no cap), as Linux moves at most 0x7ffff000, so tests reach the loops that
 * finish a partial transfer with small values. */
void ldb__os_io_cap_set(size_t max_per_call);
int ldb__os_crashsim_active(void);
int ldb__os_crashsim_crash(void);
/* Turn the simulation off, forgetting the writes not yet synced (their
 * files were closed: nothing can be undone through them any more). */
void ldb__os_crashsim_stop(void);
#endif

#endif
