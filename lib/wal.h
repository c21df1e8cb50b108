/* SPDX-License-Identifier: MIT */
/*
 * wal.h: the write-ahead log <path>-wal.
 *
 * What it owns: the log's bytes. A commit appends one record holding the
 * txn's logical changes (puts, deletes, tree creations and drops); the data
 * file's pages for that txn are written too (without a sync) so readers can
 * see them, but it is the record that makes the txn durable. A checkpoint
 * syncs the data file, writes a meta page for the newest txn and starts the
 * log afresh. Recovery replays, on top of the newest valid meta page, every
 * record after it, in order, stopping at the first that fails its checks;
 * unless a later record proves the one that failed was durable (W4).
 *
 * Format (little-endian), version 2:
 *   header, 64 bytes at offset 0:
 *     0  u64 magic "TNGLWAL1"     8  u32 version (2)   12 u32 reserved
 *     16 u64 salt (random per log generation)
 *     24 u64 checkpoint txn id (records before it are stale)
 *     32 u64 database id (the meta page's: a log beside another database's
 *        data file is ignored)
 *     40 u32 CRC32C of bytes 0..39          44..63 zero
 *   records from offset 64, each a multiple of 8 bytes:
 *     0  u32 crc: CRC32C of bytes [4, len), seeded with the low 32 bits of
 *        the salt: each record checks on its own
 *     4  u32 len: bytes in the record, header and padding included
 *        (at most WAL_RECORD_MAX)
 *     8  u64 txn id (consecutive from the checkpoint's + 1)
 *     16 u64 salt (the header's)
 *     24 u32 number of ops
 *     28 u32 prev crc: the previous record's crc (the first record: the
 *        low 32 bits of the salt)
 *     32 u64 commit time: wall clock, microseconds since the epoch
 *     40 u64 durable txn id: every txn up to it was durable when this
 *        record was appended (always below the record's own txn id)
 *     48 ops, packed: u8 type, u8 tree name length, u16 key length,
 *        u32 value length, then name, key and value bytes
 *     zero padding to a multiple of 8
 *
 * Version 1 (0.1.0; read for recovery, never written): the same header
 * with version 1; records have a 32-byte header: bytes 0..27 as above
 * except that the crc is seeded with the previous record's crc (a chain),
 * 28 u32 reserved, ops from 32. A v1 record after damage cannot be
 * checked, so W4 does not apply: recovery stops at the first failure.
 *
 * Invariants:
 *  W1 a record is appended only at the log's end, under the writer mutex,
 *     and becomes visible only once written: a full disk fails the commit
 *     before anything is visible (under LDB_SYNC_FULL already when making
 *     room, so that appends never change the file's size);
 *  W2 the salt and the prev crc make a stale record (from an earlier
 *     generation, or the tail of a longer record that a dead writer left and
 *     a later one overwrote) fail its checks, so recovery stops there;
 *  W3 pages freed by a txn after the last checkpoint are not reused before
 *     the next one: the checkpointed trees stay intact for recovery;
 *  W4 a torn tail is never durable: the txns in it were not acknowledged
 *     (or only under LDB_SYNC_OFF, which promises a prefix). So where the
 *     records stop passing their checks, recovery scans on (8-byte steps)
 *     for later records of the generation that pass theirs; one whose
 *     durable txn id reaches the next txn recovery needs proves that txn
 *     was durable and lies in the damage: then recovery refuses with
 *     LDB_CORRUPTED before it changes any file;
 *  W5 every length fits its field: a record past WAL_RECORD_MAX makes the
 *     txn commit as a checkpoint; a name, key or value too long for its
 *     op field is refused (LDB_TOOBIG; the API's limits are below them).
 */
#ifndef LDB_WAL_H
#define LDB_WAL_H

#include <stddef.h>
#include <stdint.h>

#define WAL_MAGIC 0x314C41574C474E54ULL /* "TNGLWAL1" as LE bytes */
#define WAL_VERSION 2u
#define WAL_VERSION_1 1u
#define WAL_HEADER_SIZE 64u
#define WAL_RECORD_HEADER 48u
#define WAL_RECORD_HEADER_V1 32u
#define WAL_OP_HEADER 8u
/* The largest record: the largest multiple of 8 its u32 length holds. */
#define WAL_RECORD_MAX 0xFFFFFFF8u

enum wal_op_type {
    WAL_OP_PUT = 1,
    WAL_OP_DEL = 2,
    WAL_OP_CREATE = 3,     /* create an empty named tree */
    WAL_OP_EMPTY = 4,      /* ldb_dbi_drop(.., 0) */
    WAL_OP_DELETE = 5,     /* ldb_dbi_drop(.., 1) */
    WAL_OP_PUT_COMPRESSED = 6, /* a put whose value is the stored form of a
                                  compressed value (format.h, value_header):
                                  replay stores it as it is */
};

/* A txn's log record being built: WAL_RECORD_HEADER bytes reserved at the
 * start, then the ops. */
struct ldb__wal_buf {
    uint8_t *data;
    size_t len, cap;
    uint32_t nops;
    int too_big; /* past the limit: the txn commits as a checkpoint */
};

/* One op; the lengths are the caller's own (wal_buf_add checks that they
 * fit the op's fields, W5). */
struct ldb__wal_op {
    unsigned type;
    const uint8_t *name;
    size_t name_len;
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
};

/* What a record's header says besides its length and ops. */
struct ldb__wal_seal {
    uint64_t txnid;
    uint64_t salt;
    uint32_t prev_crc;      /* the previous record's crc (W2) */
    uint64_t time_us;       /* commit time, microseconds since the epoch */
    uint64_t durable_txnid; /* every txn up to it is durable (W4) */
};

void ldb__wal_buf_free(struct ldb__wal_buf *b);
/* Append an op unless the record would pass limit bytes or WAL_RECORD_MAX
 * (then only too_big is set and the buffer is dropped). LDB_TOOBIG if a
 * length does not fit its field. */
int ldb__wal_buf_add(struct ldb__wal_buf *b, const struct ldb__wal_op *op, uint64_t limit);
/* Finish the record: header, padding and its crc. *len is its length, *crc
 * the crc the next record names as its previous one. */
int ldb__wal_buf_seal(struct ldb__wal_buf *b, const struct ldb__wal_seal *s, size_t *len,
                      uint32_t *crc);

/* The header. */
void ldb__wal_header_encode(uint8_t out[WAL_HEADER_SIZE], uint64_t salt, uint64_t checkpoint,
                            uint64_t db_id);
/* LDB_CORRUPTED if it fails its checks, LDB_VERSION for a version this
 * build cannot read; *version is 1 or 2. */
int ldb__wal_header_decode(const uint8_t in[WAL_HEADER_SIZE], unsigned *version, uint64_t *salt,
                           uint64_t *checkpoint, uint64_t *db_id);
uint32_t ldb__wal_first_crc(uint64_t salt);

/* A record read back. */
struct ldb__wal_record {
    uint64_t txnid;
    uint64_t time_us;       /* 0 in a version-1 log */
    uint64_t durable_txnid; /* 0 in a version-1 log */
    uint64_t offset, len;   /* where it lies in the log */
    uint32_t nops;
    const uint8_t *ops;     /* valid until the next call */
    size_t ops_len;
};

/* Reading a log for recovery: call next until it returns 0 (no more valid
 * records). */
struct ldb__wal_reader {
    int fd;
    unsigned version;   /* of the log (1 or 2) */
    int header_damaged; /* the header failed its checks: no salt is known */
    int ignored;        /* no header, or another database's log */
    uint64_t size, offset;
    uint64_t salt;
    uint32_t prev_crc;
    uint8_t *buf;
    size_t cap;
};
/* A log whose header names another database id reads as empty. */
int ldb__wal_reader_open(struct ldb__wal_reader *r, int fd, uint64_t size, uint64_t db_id);
/* 1 with a record, 0 where the records stop (r->offset: there). */
int ldb__wal_reader_next(struct ldb__wal_reader *r, struct ldb__wal_record *rec);
/* After next returned 0 or a record the caller will not apply: scan the
 * rest of the log from `from` for records of this generation that pass
 * their own checks (W4). *proof is the offset of the first whose durable
 * txn id is at least txnid, or 0 if none is. A version-1 log has none. */
int ldb__wal_reader_find_durable(struct ldb__wal_reader *r, uint64_t from, uint64_t txnid,
                                 uint64_t *proof);
void ldb__wal_reader_close(struct ldb__wal_reader *r);
/* Decode op i of a record's ops area; *pos advances. LDB_CORRUPTED on a
 * malformed op. */
int ldb__wal_op_next(const uint8_t *ops, size_t len, size_t *pos, struct ldb__wal_op *op);

#ifdef LDB_TEST_HOOKS
/* Lower the largest record (W5) to max bytes (0: WAL_RECORD_MAX again), so
 * a test can cross the boundary without writing 4 GiB. */
void ldb__wal_set_record_max(uint64_t max);
#endif

#endif
