/* SPDX-License-Identifier: MIT */
/*
 * pipe_io.h: whole reads and writes on the pipes between a benchmark driver
 * and the children it forks (perf/bench.c, perf/bench_readers.c).
 */
#ifndef LDB_PERF_PIPE_IO_H
#define LDB_PERF_PIPE_IO_H

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

/* Write all n bytes, resuming after signals: 0, or -1 on an error. */
static inline int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read up to n bytes, stopping early only at end of file or an error:
 * the bytes read. */
static inline size_t read_all(int fd, void *p, size_t n)
{
    char *c = p;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, c + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

#endif
