/* SPDX-License-Identifier: MIT */
/*
 * bench.h: the engine adapter interface of the side-by-side benchmark.
 *
 * perf/bench.c drives workloads (docs/benchmarks.md, BENCH.md) against every
 * engine through one table of function pointers, so that each engine does
 * exactly the same work around its own calls: the driver formats the keys,
 * picks the values, takes the clock and keeps the statistics; an adapter
 * only maps "begin a batch", "put", "get one key in its own read txn" and so
 * on onto its engine's API, with the settings BENCH.md prescribes.
 *
 * Each adapter (perf/bench_<engine>.c) defines one `const struct engine`
 * below; bench.c lists those that configure found (HAVE_LMDB, ...).
 *
 * Handles and threads: open() returns a database handle shared by the
 * threads of one run; every thread that works on it first calls
 * thread_open() for a context of its own (a reusable read txn, an SQLite
 * connection, a write batch) and passes that context to every operation.
 * A context is used by one thread only. Every run happens in a forked child
 * of the driver, so adapters need no global cleanup.
 *
 * Errors: operations return 0 on success and -1 on failure, after reporting
 * what failed through bench_error() (which keeps the first message for the
 * run's result and prints every one to stderr). get() returns
 * BENCH_NOTFOUND for a missing key.
 */
#ifndef LDB_PERF_BENCH_H
#define LDB_PERF_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/** Length of every key: zero-padded decimal. */
#define BENCH_KEY_SIZE 16

/** get(): the key is absent (not an error for the adapter; the driver
 *  counts it as a failed hit). */
#define BENCH_NOTFOUND 1

/** What a full ordered scan accumulates: every value's bytes go into sum,
 *  so no engine can skip reading them; keys out of order are counted. */
struct scan_acc {
    uint64_t count;
    uint64_t sum;
    uint64_t disorder;
    size_t prev_len;
    unsigned char prev[64];
};

/** Fold one scanned entry into @p acc; adapters call it for each entry. */
static inline void bench_scan_visit(struct scan_acc *acc, const void *key, size_t klen,
                                    const void *val, size_t vlen)
{
    const unsigned char *v = val;
    uint64_t s = 0, w;
    size_t i = 0;
    size_t kl = klen < sizeof acc->prev ? klen : sizeof acc->prev;

    if (acc->count > 0) {
        size_t m = kl < acc->prev_len ? kl : acc->prev_len;
        int c = memcmp(acc->prev, key, m);
        if (c > 0 || (c == 0 && acc->prev_len >= kl))
            acc->disorder++;
    }
    memcpy(acc->prev, key, kl);
    acc->prev_len = kl;
    for (; i + 8 <= vlen; i += 8) {
        memcpy(&w, v + i, 8);
        s += w;
    }
    for (; i < vlen; i++)
        s += v[i];
    acc->sum += s;
    acc->count++;
}

/** How big a database is on disk. */
struct disk_usage {
    uint64_t apparent;  /**< the files' sizes (st_size), as `ls` shows them */
    uint64_t allocated; /**< blocks allocated (st_blocks * 512), as `du` shows them;
                             more than apparent when space is preallocated */
};

/** One engine, as the driver sees it. Every pointer is set unless said. */
struct engine {
    const char *name; /**< short name used by -e and in the tables */
    /** Not a database but a reference (perf/bench_rawlog.c): it runs the
     *  fillsync workloads only, and sets only open, close, sync,
     *  thread_open, thread_close, put_durable and disk_usage. */
    int sync_only;
    /** A variant of another engine with its values compressed
     *  (ldb-lz4, ldb-zstd, rocksdb-lz4): it runs the two value-size
     *  workloads only, bigvalues (incompressible) and textvalues. */
    int values_only;

    /** Open (creating if missing) the database kept in directory @p dir,
     *  which exists. @p durable: 0 = commits need not be durable (the fill
     *  workloads, which call sync() once at the end); 1 = every commit is
     *  durable when it returns (fillsync). */
    int (*open)(const char *dir, int durable, void **db);
    /** Open the database for reading, in a process of its own, while other
     *  processes do the same (the readers workloads). NULL: the engine
     *  allows no such thing; readers report it as failed. */
    int (*open_reader)(const char *dir, void **db);
    /** Close the database; every thread context is closed already. */
    void (*close)(void *db);
    /** Make every committed write durable (the fills' final sync). */
    int (*sync)(void *db);

    /** A context for the calling thread. */
    int (*thread_open)(void *db, void **th);
    void (*thread_close)(void *th);

    /** A write txn (or batch) of many puts, applied atomically at commit. */
    int (*batch_begin)(void *th);
    int (*batch_put)(void *th, const void *key, size_t klen, const void *val, size_t vlen);
    /** As batch_put, for a key known to sort after every key in the
     *  database (the engine's bulk-append path). NULL: none, the driver
     *  uses batch_put. */
    int (*batch_append)(void *th, const void *key, size_t klen, const void *val, size_t vlen);
    int (*batch_commit)(void *th);

    /** Look @p key up in a read txn of its own (begun and ended inside the
     *  call, reusing the thread's handle where the engine allows) and copy
     *  up to @p cap bytes of the value to @p buf; *vlen = its full length.
     *  Returns 0, BENCH_NOTFOUND or -1. */
    int (*get)(void *th, const void *key, size_t klen, void *buf, size_t cap, size_t *vlen);

    /** One ordered pass over every entry in one read txn, calling
     *  bench_scan_visit() on each. */
    int (*scan)(void *th, struct scan_acc *acc);

    /** One txn of one put, committed (durably, on a database opened with
     *  durable = 1) before it returns. Safe to call from many threads,
     *  each with its own context, at once. */
    int (*put_durable)(void *th, const void *key, size_t klen, const void *val, size_t vlen);

    /** The size of the database's files under @p dir, the database being
     *  open. Adapters use bench_dir_usage() unless they know better. */
    void (*disk_usage)(const char *dir, struct disk_usage *du);
};

/** Report a failure of the current run (printf format). Thread-safe; the
 *  first message becomes the run's error in the results. */
void bench_error(const char *engine, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Sum the sizes of every file under @p dir. */
void bench_dir_usage(const char *dir, struct disk_usage *du);

/** Join @p dir and @p name into @p out (of @p cap bytes); -1 if too long. */
int bench_path(char *out, size_t cap, const char *dir, const char *name);

extern const struct engine engine_ldb;
extern const struct engine engine_ldb_lz4;
extern const struct engine engine_ldb_zstd;
extern const struct engine engine_ldb_zstd_dict;
extern const struct engine engine_rocksdb_lz4;
extern const struct engine engine_lmdb;
extern const struct engine engine_rocksdb;
extern const struct engine engine_leveldb;
extern const struct engine engine_sqlite;
extern const struct engine engine_rawlog;

#endif /* LDB_PERF_BENCH_H */
