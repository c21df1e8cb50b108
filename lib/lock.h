/*
 * lock.h: the lock file <path>-lock, shared memory for every process that
 * has the database open.
 *
 * It holds: the writer mutex (process-shared and robust: a writer that dies
 * hands it on), the published snapshot (what a new reader starts from), and
 * the reader table (one cache line per read txn: pid and snapshot id). It
 * is rebuilt from the data file by the first process to open it (the one
 * that gets flock(LOCK_EX)); every opener then holds flock(LOCK_SH) for as
 * long as it has the database open, so "first" means "no one else has it
 * open" and nothing in it matters after a crash.
 *
 * Reader registration (invariant R): a reader stores its snapshot id in its
 * slot before it reads the published snapshot, then checks the published id
 * has not moved; the writer reads the slots only after publishing. So a
 * writer that reuses pages freed by txn T (T <= every registered id and <=
 * the published id) never takes a page some reader can still reach.
 *
 * Snapshot buffers: two, indexed by txn id parity, each under a sequence
 * lock, so a reader never uses a half-written snapshot.
 */
#ifndef LDB_LOCK_H
#define LDB_LOCK_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "format.h"

#define LDB_READER_IDLE UINT64_MAX

/* What a reader needs to walk one committed state. */
struct ldb__snapshot {
    uint64_t txnid;
    uint64_t npages;
    struct tree_desc main_tree, catalog_tree, free_tree;
};

struct ldb__reader_slot {
    uint32_t pid;    /* 0 = free; atomic */
    uint32_t reserved;
    uint64_t txnid;  /* snapshot id, or LDB_READER_IDLE; atomic */
    uint8_t pad[48]; /* one cache line per slot: no false sharing */
};
_Static_assert(sizeof(struct ldb__reader_slot) == 64, "reader slot is a cache line");

struct ldb__snapshot_buffer {
    uint64_t seq; /* odd while being written */
    struct ldb__snapshot snap;
};

struct ldb__lock_header {
    uint64_t magic;
    uint32_t version;
    uint32_t max_readers;
    uint32_t page_size;
    uint32_t reserved;
    uint64_t published_txnid; /* atomic */
    uint64_t commits;         /* atomic: commits by every process */
    pthread_mutex_t writer_mutex;
    uint8_t pad[64];
    struct ldb__snapshot_buffer snaps[2];
};

struct ldb__lock {
    struct ldb__lock_header *hdr;
    struct ldb__reader_slot *slots;
    size_t map_len;
    int fd;        /* -1 for a private (immutable) lock */
    pid_t pid;
};

/* Open or create the lock file and take flock(LOCK_EX) if no one else has
 * it open (*first = 1) or LOCK_SH otherwise. */
int ldb__lock_open(struct ldb__lock *lk, const char *lock_path, unsigned mode, int *first);
/* As the first opener: lay out a fresh header from the data file's newest
 * meta, then downgrade to a shared flock. */
int ldb__lock_init(struct ldb__lock *lk, unsigned max_readers, uint32_t page_size,
                   const struct ldb__snapshot *snap);
/* As a later opener: map and check what the first opener laid out. */
int ldb__lock_attach(struct ldb__lock *lk, uint32_t page_size);
/* A lock in private memory for LDB_IMMUTABLE (no file, no other process). */
int ldb__lock_open_private(struct ldb__lock *lk, unsigned max_readers,
                           const struct ldb__snapshot *snap);
void ldb__lock_close(struct ldb__lock *lk);

/* Writer mutex. *owner_died is set when the previous holder died. */
int ldb__lock_writer(struct ldb__lock *lk, int nowait, int *owner_died);
void ldb__lock_writer_release(struct ldb__lock *lk);

/* Reader slots. */
int ldb__lock_reader_claim(struct ldb__lock *lk, unsigned *slot);
void ldb__lock_reader_release(struct ldb__lock *lk, unsigned slot);
/* Register in slot and copy the newest published snapshot (invariant R). */
void ldb__lock_reader_begin(struct ldb__lock *lk, unsigned slot, struct ldb__snapshot *snap);
void ldb__lock_reader_end(struct ldb__lock *lk, unsigned slot);
/* Copy the newest published snapshot without registering (the writer). */
void ldb__lock_read_published(struct ldb__lock *lk, struct ldb__snapshot *snap);
void ldb__lock_publish(struct ldb__lock *lk, const struct ldb__snapshot *snap);
/* The oldest snapshot any reader may be on: min of the registered ids and
 * the published one. Call after publishing (invariant R). */
uint64_t ldb__lock_oldest_snapshot(struct ldb__lock *lk);
/* Free slots of dead processes; how many. */
int ldb__lock_reader_check(struct ldb__lock *lk, int *cleared);
/* Readers now registered and the oldest registered id (0 if none). */
void ldb__lock_reader_stats(struct ldb__lock *lk, uint32_t *used, uint64_t *oldest);

#endif
