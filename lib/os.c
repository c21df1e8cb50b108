/* SPDX-License-Identifier: MIT */
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
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
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
#define FAULT(kind)                                 \
    do {                                            \
        int fault_err_ = ldb__os_fault_check(kind); \
        if (fault_err_)                             \
            return -fault_err_;                     \
    } while (0)

/* Bytes one read or write system call may move (0: no cap), as Linux moves
 * at most 0x7ffff000 per call: the full-I/O loops must finish the rest. */
static size_t io_cap;

void ldb__os_io_cap_set(size_t max_per_call)
{
    __atomic_store_n(&io_cap, max_per_call, __ATOMIC_RELAXED);
}

static size_t capped(size_t len)
{
    size_t cap = __atomic_load_n(&io_cap, __ATOMIC_RELAXED);
    return cap != 0 && len > cap ? cap : len;
}

/* Whether this write system call is the one LDB_FAULT_SHORT picked. */
static int short_write_due(void)
{
    uint64_t n = __atomic_add_fetch(&faults.calls[LDB_FAULT_SHORT], 1, __ATOMIC_RELAXED);
    return faults.trigger[LDB_FAULT_SHORT] != 0 && n == faults.trigger[LDB_FAULT_SHORT];
}

/* ---- power-loss simulation ---- */
#include <pthread.h>

struct unsynced_write {
    dev_t dev;
    ino_t ino;
    int fd;
    uint64_t off;
    size_t len;
    uint8_t *old; /* the bytes before the write (zeros past the old end) */
};

static struct {
    pthread_mutex_t mu;
    int on;
    uint64_t rng;
    struct unsynced_write *w;
    size_t n, cap;
} crashsim = {.mu = PTHREAD_MUTEX_INITIALIZER};

static uint64_t sim_rand(void)
{
    uint64_t x = crashsim.rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    crashsim.rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

void ldb__os_crashsim_start(uint64_t seed)
{
    pthread_mutex_lock(&crashsim.mu);
    crashsim.on = 1;
    crashsim.rng = seed ? seed : 1;
    pthread_mutex_unlock(&crashsim.mu);
}

int ldb__os_crashsim_active(void)
{
    return __atomic_load_n(&crashsim.on, __ATOMIC_ACQUIRE);
}

static void crashsim_before_write(int fd, uint64_t off, size_t len)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return;
    uint8_t *old = calloc(1, len ? len : 1);
    if (old == NULL)
        return;
    ssize_t got = pread(fd, old, len, (off_t)off);
    (void)got; /* short near the end: the rest stays zero */
    pthread_mutex_lock(&crashsim.mu);
    if (crashsim.n == crashsim.cap) {
        size_t cap = crashsim.cap ? crashsim.cap * 2 : 256;
        struct unsynced_write *w = realloc(crashsim.w, cap * sizeof *w);
        if (w == NULL) {
            pthread_mutex_unlock(&crashsim.mu);
            free(old);
            return;
        }
        crashsim.w = w;
        crashsim.cap = cap;
    }
    crashsim.w[crashsim.n++] = (struct unsynced_write){st.st_dev, st.st_ino, fd, off, len, old};
    pthread_mutex_unlock(&crashsim.mu);
}

static void crashsim_synced(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return;
    pthread_mutex_lock(&crashsim.mu);
    size_t keep = 0;
    for (size_t i = 0; i < crashsim.n; i++) {
        struct unsynced_write *w = &crashsim.w[i];
        if (w->dev == st.st_dev && w->ino == st.st_ino)
            free(w->old);
        else
            crashsim.w[keep++] = *w;
    }
    crashsim.n = keep;
    pthread_mutex_unlock(&crashsim.mu);
}

int ldb__os_crashsim_crash(void)
{
    pthread_mutex_lock(&crashsim.mu);
    int undone = 0;
    for (size_t i = crashsim.n; i-- > 0;) {
        struct unsynced_write *w = &crashsim.w[i];
        uint64_t r = sim_rand() % 3;
        if (r == 1) { /* dropped */
            if (pwrite(w->fd, w->old, w->len, (off_t)w->off) >= 0)
                undone++;
        } else if (r == 2 && w->len > 0) { /* torn: some sectors old, some new */
            for (size_t s = 0; s < w->len; s += 512) {
                size_t n = w->len - s < 512 ? w->len - s : 512;
                if (sim_rand() & 1)
                    (void)!pwrite(w->fd, w->old + s, n, (off_t)(w->off + s));
            }
            undone++;
        }
        free(w->old);
    }
    crashsim.n = 0;
    crashsim.on = 0;
    pthread_mutex_unlock(&crashsim.mu);
    return undone;
}
void ldb__os_crashsim_stop(void)
{
    pthread_mutex_lock(&crashsim.mu);
    for (size_t i = 0; i < crashsim.n; i++)
        free(crashsim.w[i].old);
    crashsim.n = 0;
    crashsim.on = 0;
    pthread_mutex_unlock(&crashsim.mu);
}
#define CRASHSIM_WRITE(fd, off, len)             \
    do {                                         \
        if (ldb__os_crashsim_active())           \
            crashsim_before_write(fd, off, len); \
    } while (0)
#define CRASHSIM_SYNCED(fd)             \
    do {                                \
        if (ldb__os_crashsim_active())  \
            crashsim_synced(fd);        \
    } while (0)
#else
#define capped(len) (len)
#define FAULT(kind) ((void)0)
#define CRASHSIM_WRITE(fd, off, len) ((void)0)
#define CRASHSIM_SYNCED(fd) ((void)0)
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

int ldb__os_stat(int fd, struct ldb__os_file *out)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    out->size = (uint64_t)st.st_size;
    out->uid = st.st_uid;
    out->mode = (unsigned)st.st_mode & 07777u;
    out->nlink = (uint64_t)st.st_nlink;
    out->dev = (uint64_t)st.st_dev;
    out->ino = (uint64_t)st.st_ino;
    out->regular = S_ISREG(st.st_mode) != 0;
    return 0;
}

/* Opened with O_NONBLOCK (so a FIFO cannot block the open), the file is
 * known to be regular: give it ordinary blocking semantics back. */
static int clear_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

int ldb__os_open_regular(const char *path, int flags, unsigned mode, int *fd, int *created,
                         struct ldb__os_file *info)
{
    *created = 0;
    int f = -1, rc = -ENOENT;
    /* Open what is there; create only what is not (O_EXCL), so *created
     * says whether this call made the file. Another process may create it
     * between the two: then open it again. */
    for (int tries = 0; tries < 100 && rc == -ENOENT; tries++) {
        rc = ldb__os_open(path, (flags & ~(O_CREAT | O_EXCL)) | O_NONBLOCK, 0, &f);
        if (rc != -ENOENT || !(flags & O_CREAT))
            break;
        rc = ldb__os_open(path, flags | O_EXCL | O_NONBLOCK, mode, &f);
        if (rc == 0)
            *created = 1;
        else if (rc == -EEXIST)
            rc = -ENOENT;
    }
    if (rc == -EISDIR)
        return LDB_INVALID; /* opened for writing: a directory says so */
    TRY(rc);
    rc = ldb__os_stat(f, info);
    if (rc == 0 && !info->regular)
        rc = LDB_INVALID; /* a directory, FIFO, device or socket */
    if (rc == 0)
        rc = clear_nonblock(f);
    if (rc < 0) {
        close(f);
        return rc;
    }
    *fd = f;
    return 0;
}

int ldb__os_open_side(const char *path, int flags, unsigned mode, unsigned owner, int *fd,
                      int *created)
{
    struct ldb__os_file info;
    int f;
    TRY(ldb__os_open_regular(path, flags | O_NOFOLLOW, mode, &f, created, &info));
    int rc = 0;
    if (!*created && info.uid != owner)
        rc = -EPERM; /* planted by another user */
    else if (info.nlink != 1)
        rc = -EMLINK; /* another name for some other file */
    if (rc < 0) {
        close(f);
        return rc;
    }
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
        ssize_t n = pread(fd, p, capped(len), (off_t)off);
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
        int cnt = iovcnt > IOV_MAX ? IOV_MAX : iovcnt;
#ifdef LDB_TEST_HOOKS
        size_t total = 0;
        for (int i = 0; i < cnt; i++)
            total += iov[i].iov_len;
        CRASHSIM_WRITE(fd, off, total);
        struct iovec saved = iov[0];
        int shorten = short_write_due();
        if (shorten && iov[0].iov_len > 1) {
            iov[0].iov_len /= 2;
            cnt = 1;
        } else if (capped(total) < total) {
            shorten = 1;
            cnt = 1;
            iov[0].iov_len = capped(iov[0].iov_len);
        }
        ssize_t n = pwritev(fd, iov, cnt, (off_t)off);
        if (shorten)
            iov[0].iov_len = saved.iov_len;
#else
        ssize_t n = pwritev(fd, iov, cnt, (off_t)off);
#endif
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
    if (fsync(fd) != 0)
        return -errno;
    CRASHSIM_SYNCED(fd);
    return 0;
}

int ldb__os_fdatasync(int fd)
{
    FAULT(LDB_FAULT_SYNC);
    if (fdatasync(fd) != 0)
        return -errno;
    CRASHSIM_SYNCED(fd);
    return 0;
}

void ldb__os_start_writeback(int fd, uint64_t off, uint64_t len)
{
#ifdef LDB_TEST_HOOKS
    if (ldb__os_fault_check(LDB_FAULT_WRITEBACK))
        return; /* an injected failure: the hint is lost, as a failed call's */
#endif
    (void)sync_file_range(fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
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

int ldb__os_truncate(int fd, uint64_t size)
{
    return ftruncate(fd, (off_t)size) == 0 ? 0 : -errno;
}

int ldb__os_extend_zeroed(int fd, uint64_t from, uint64_t to)
{
    static const uint8_t zeros[65536];
    FAULT(LDB_FAULT_GROW); /* growing a file, like ldb__os_grow */
    while (from < to) {
        size_t n = to - from < sizeof zeros ? (size_t)(to - from) : sizeof zeros;
        TRY(ldb__os_pwrite_full(fd, zeros, n, from));
        from += n;
    }
    return 0;
}

/* No heap here: this is the last step of a backup, after the rename put the
 * copy in place, and running out of memory then would report failure for
 * a copy that is there (check_oom). */
int ldb__os_fsync_parent_dir(const char *path)
{
    char copy[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof copy)
        return -ENAMETOOLONG;
    memcpy(copy, path, n + 1);
    int fd = -1, rc = ldb__os_open(dirname(copy), O_RDONLY | O_DIRECTORY, 0, &fd);
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

/* ---- backups ------------------------------------------------------------- */

int ldb__os_exists(const char *path, int *exists)
{
    struct stat st;
    if (lstat(path, &st) == 0) {
        *exists = 1;
        return 0;
    }
    if (errno != ENOENT)
        return -errno;
    *exists = 0;
    return 0;
}

/* A non-blocking fd said EAGAIN: wait until it takes more. */
static int wait_writable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    while (poll(&p, 1, -1) < 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

int ldb__os_write_all(int fd, const void *buf, size_t len)
{
    FAULT(LDB_FAULT_WRITE);
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                TRY(wait_writable(fd));
                continue;
            }
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int ldb__os_send_file(int out_fd, int in_fd, uint64_t off, size_t len, size_t *sent)
{
    *sent = 0;
    FAULT(LDB_FAULT_WRITE);
    while (*sent < len) {
        off_t o = (off_t)(off + *sent);
        ssize_t n = sendfile(out_fd, in_fd, &o, len - *sent);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                TRY(wait_writable(out_fd));
                continue;
            }
            return -errno;
        }
        if (n == 0)
            return LDB_CORRUPT(); /* the data file ends before its pages */
        *sent += (size_t)n;
    }
    return 0;
}

int ldb__os_lock_nowait(int fd)
{
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            return LDB_BUSY;
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

int ldb__os_same_file(int fd, const char *path, int *same)
{
    struct stat a, b;
    if (fstat(fd, &a) != 0)
        return -errno;
    if (stat(path, &b) != 0) {
        if (errno != ENOENT)
            return -errno;
        *same = 0;
        return 0;
    }
    *same = a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    return 0;
}

int ldb__os_is_regular(int fd, int *regular)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    *regular = S_ISREG(st.st_mode) != 0;
    return 0;
}

int ldb__os_rename_noreplace(const char *from, const char *to)
{
    int err = 0;
#ifdef LDB_TEST_HOOKS
    err = ldb__os_fault_check(LDB_FAULT_RENAME);
#endif
    if (err == 0) {
        if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
            return 0;
        err = errno;
    }
    if (err != EINVAL && err != ENOSYS && err != EOPNOTSUPP)
        return -err;
    /* No RENAME_NOREPLACE here (NFS): link refuses an existing name just
     * the same. Dying between the two calls leaves from behind as well. */
    if (link(from, to) != 0)
        return -errno;
    (void)unlink(from);
    return 0;
}

int ldb__os_unlink(const char *path)
{
    return unlink(path) == 0 ? 0 : -errno;
}

/* ---- the log archive ---- */

int ldb__os_open_dir(const char *path, int *fd)
{
    return ldb__os_open(path, O_RDONLY | O_DIRECTORY, 0, fd);
}

int ldb__os_openat(int dirfd, const char *name, int flags, unsigned mode, int *fd)
{
    int f;
    do
        f = openat(dirfd, name, flags | O_CLOEXEC, (mode_t)mode);
    while (f < 0 && errno == EINTR);
    if (f < 0)
        return -errno;
    *fd = f;
    return 0;
}

int ldb__os_renameat(int dirfd, const char *from, const char *to)
{
    return renameat(dirfd, from, dirfd, to) == 0 ? 0 : -errno;
}

int ldb__os_unlinkat(int dirfd, const char *name)
{
    return unlinkat(dirfd, name, 0) == 0 ? 0 : -errno;
}

/* The copy through a buffer, where copy_file_range cannot (another
 * filesystem before Linux 5.3, or none at all). */
static int copy_by_buffer(int in_fd, int out_fd, uint64_t off, uint64_t len)
{
    size_t cap = 1u << 20;
    uint8_t *buf = malloc(cap);
    if (buf == NULL)
        return -ENOMEM;
    int rc = 0;
    while (rc == 0 && len > 0) {
        size_t n = len < cap ? (size_t)len : cap;
        rc = ldb__os_pread_full(in_fd, buf, n, off);
        if (rc == 0)
            rc = ldb__os_pwrite_full(out_fd, buf, n, off);
        off += n;
        len -= n;
    }
    free(buf);
    return rc;
}

int ldb__os_copy_range(int in_fd, int out_fd, uint64_t off, uint64_t len)
{
    FAULT(LDB_FAULT_COPY);
    uint64_t done = 0;
    while (done < len) {
        loff_t in_off = (loff_t)(off + done), out_off = in_off;
        ssize_t n = copy_file_range(in_fd, &in_off, out_fd, &out_off, (size_t)(len - done), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && done == 0 &&
            (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP))
            return copy_by_buffer(in_fd, out_fd, off, len);
        if (n < 0)
            return -errno;
        if (n == 0)
            return LDB_CORRUPT(); /* the source ends before len */
        done += (uint64_t)n;
    }
    return 0;
}

int ldb__os_list_dir(int dirfd, int (*fn)(void *ctx, const char *name), void *ctx)
{
    int fd = dup(dirfd);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int err = errno;
        close(fd);
        return -err;
    }
    rewinddir(d);
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (e == NULL) {
            rc = errno ? -errno : 0;
            break;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        rc = fn(ctx, e->d_name);
        if (rc != 0)
            break;
    }
    closedir(d);
    return rc;
}
