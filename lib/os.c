/*
 * os.c: the only file that calls the operating system for file I/O.
 *
 * Short writes are retried until the whole buffer is written; EINTR is
 * retried; every other failure becomes -errno. An fsync failure is returned
 * to the caller, which must not retry it (the kernel may already have dropped
 * the dirty pages): the env layer turns it into LDB_PANIC.
 */
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

#ifdef LDB_TEST_HOOKS
static struct {
    uint64_t calls[LDB_FAULT_KINDS];
    uint64_t trigger[LDB_FAULT_KINDS];
    int err[LDB_FAULT_KINDS];
} faults;

void ldb__os_fault_set(enum ldb__os_fault_kind kind, uint64_t nth_call, int err)
{
    faults.trigger[kind] = nth_call ? faults.calls[kind] + nth_call : 0;
    faults.err[kind] = err;
}

void ldb__os_fault_reset(void)
{
    memset(&faults, 0, sizeof faults);
}

uint64_t ldb__os_fault_calls(enum ldb__os_fault_kind kind)
{
    return faults.calls[kind];
}

/* Returns the errno to inject for this call of kind, or 0. */
int ldb__os_fault_check(enum ldb__os_fault_kind kind)
{
    uint64_t n = __atomic_add_fetch(&faults.calls[kind], 1, __ATOMIC_RELAXED);
    if (faults.trigger[kind] != 0 && n == faults.trigger[kind])
        return faults.err[kind];
    return 0;
}
#define FAULT(kind)                     \
    do {                                \
        int fault_err_ = ldb__os_fault_check(kind); \
        if (fault_err_)                 \
            return -fault_err_;         \
    } while (0)
#else
#define FAULT(kind) ((void)0)
#endif

int ldb__os_open(const char *path, int flags, unsigned mode, int *fd)
{
    int f;
    do
        f = open(path, flags | O_CLOEXEC, (mode_t)mode);
    while (f < 0 && errno == EINTR);
    if (f < 0)
        return -errno;
    *fd = f;
    return 0;
}

void ldb__os_close(int fd)
{
    if (fd >= 0)
        close(fd);
}

int ldb__os_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return LDB_CORRUPT(); /* the file ends before the data it claims */
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int ldb__os_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
    struct iovec iov = {(void *)buf, len};
    return ldb__os_pwritev_full(fd, &iov, 1, off);
}

int ldb__os_pwritev_full(int fd, struct iovec *iov, int iovcnt, uint64_t off)
{
    FAULT(LDB_FAULT_WRITE);
    while (iovcnt > 0) {
        ssize_t n = pwritev(fd, iov, iovcnt > IOV_MAX ? IOV_MAX : iovcnt, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        off += (uint64_t)n;
        /* Skip what was written; a short write resumes mid-vector. */
        while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

int ldb__os_fsync(int fd)
{
    FAULT(LDB_FAULT_SYNC);
    return fsync(fd) == 0 ? 0 : -errno;
}

int ldb__os_fdatasync(int fd)
{
    FAULT(LDB_FAULT_SYNC);
    return fdatasync(fd) == 0 ? 0 : -errno;
}

int ldb__os_file_size(int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

int ldb__os_grow(int fd, uint64_t new_size)
{
    FAULT(LDB_FAULT_GROW);
    uint64_t cur;
    TRY(ldb__os_file_size(fd, &cur));
    if (new_size <= cur)
        return 0;
    int r;
    do
        r = posix_fallocate(fd, (off_t)cur, (off_t)(new_size - cur));
    while (r == EINTR);
    if (r == 0)
        return 0;
    if (r != EOPNOTSUPP && r != EINVAL)
        return -r;
    /* Filesystems without fallocate: extend sparsely. */
    return ftruncate(fd, (off_t)new_size) == 0 ? 0 : -errno;
}

int ldb__os_fsync_parent_dir(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return -ENOMEM;
    int fd = -1, rc = ldb__os_open(dirname(copy), O_RDONLY | O_DIRECTORY, 0, &fd);
    free(copy);
    if (rc < 0)
        return rc;
    rc = ldb__os_fsync(fd);
    close(fd);
    /* Some filesystems refuse fsync on a directory; that is not a failure. */
    return rc == -EINVAL ? 0 : rc;
}

int ldb__os_map(int fd, size_t len, void **addr)
{
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    *addr = p;
    return 0;
}

void ldb__os_unmap(void *addr, size_t len)
{
    if (addr != NULL)
        munmap(addr, len);
}
