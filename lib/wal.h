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
 * record after it, in order, stopping at the first that fails its checks.
 *
 * Format (little-endian):
 *   header, 64 bytes at offset 0:
 *     0  u64 magic "TNGLWAL1"     8  u32 version (1)   12 u32 reserved
 *     16 u64 salt (random per log generation)
 *     24 u64 checkpoint txn id (records before it are stale)
 *     32 u64 database id (the meta page's: a log beside another database's
 *        data file is ignored)
 *     40 u32 CRC32C of bytes 0..39          44..63 zero
 *   records from offset 64, each a multiple of 8 bytes:
 *     0  u32 crc: CRC32C of bytes [4, len), seeded with the previous
 *        record's crc (the first record: the low 32 bits of the salt)
 *     4  u32 len: bytes in the record, header and padding included
 *        (at most WAL_RECORD_MAX)
 *     8  u64 txn id (consecutive from the checkpoint's + 1)
 *     16 u64 salt (the header's)
 *     24 u32 number of ops   28 u32 reserved
 *     32 ops, packed: u8 type, u8 tree name length, u16 key length,
 *        u32 value length, then name, key and value bytes
 *     zero padding to a multiple of 8
 *
 * Invariants:
 *  W1 a record is appended only at the log's end, under the writer mutex,
 *     and becomes visible only once written: a full disk fails the commit
 *     before anything is visible (under LDB_SYNC_FULL already when making
 *     room, so that appends never change the file's size);
 *  W2 the crc chain and the salt make a stale record (from an earlier
 *     generation, or the tail of a longer record that a dead writer left and
 *     a later one overwrote) fail its check, so recovery stops there;
 *  W3 pages freed by a txn after the last checkpoint are not reused before
 *     the next one: the checkpointed trees stay intact for recovery;
 *  W4 every length fits its field: a record past WAL_RECORD_MAX makes the
 *     txn commit as a checkpoint; a name, key or value too long for its
 *     op field is refused (LDB_TOOBIG; the API's limits are below them).
 */
#ifndef LDB_WAL_H
#define LDB_WAL_H

#include <stddef.h>
#include <stdint.h>

#define WAL_MAGIC 0x314C41574C474E54ULL /* "TNGLWAL1" as LE bytes */
#define WAL_VERSION 1u
#define WAL_HEADER_SIZE 64u
#define WAL_RECORD_HEADER 32u
#define WAL_OP_HEADER 8u
/* The largest record: the largest multiple of 8 its u32 length holds. */
#define WAL_RECORD_MAX 0xFFFFFFF8u

enum wal_op_type {
    WAL_OP_PUT = 1,
    WAL_OP_DEL = 2,
    WAL_OP_CREATE = 3,     /* create an empty named tree */
    WAL_OP_EMPTY = 4,      /* ldb_dbi_drop(.., 0) */
    WAL_OP_DELETE = 5,     /* ldb_dbi_drop(.., 1) */
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
 * fit the op's fields, W4). */
struct ldb__wal_op {
    unsigned type;
    const uint8_t *name;
    size_t name_len;
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
};

void ldb__wal_buf_free(struct ldb__wal_buf *b);
/* Append an op unless the record would pass limit bytes or WAL_RECORD_MAX
 * (then only too_big is set and the buffer is dropped). LDB_TOOBIG if a
 * length does not fit its field (W4). */
int ldb__wal_buf_add(struct ldb__wal_buf *b, const struct ldb__wal_op *op, uint64_t limit);
/* Finish the record: header, padding and the chained crc. Returns its
 * length; *crc is the new chain value. */
size_t ldb__wal_buf_seal(struct ldb__wal_buf *b, uint64_t txnid, uint64_t salt, uint32_t prev_crc,
                         uint32_t *crc);

/* The header. */
void ldb__wal_header_encode(uint8_t out[WAL_HEADER_SIZE], uint64_t salt, uint64_t checkpoint,
                            uint64_t db_id);
int ldb__wal_header_decode(const uint8_t in[WAL_HEADER_SIZE], uint64_t *salt, uint64_t *checkpoint,
                           uint64_t *db_id);
uint32_t ldb__wal_first_crc(uint64_t salt);

/* Reading a log for recovery: call next until it returns 0 (no more valid
 * records). */
struct ldb__wal_reader {
    int fd;
    uint64_t size, offset;
    uint64_t salt;
    uint32_t prev_crc;
    uint8_t *buf;
    size_t cap;
};
/* A log whose header names another database id reads as empty. */
int ldb__wal_reader_open(struct ldb__wal_reader *r, int fd, uint64_t size, uint64_t db_id);
/* 1 with a record (payload valid until the next call), 0 at the end. */
int ldb__wal_reader_next(struct ldb__wal_reader *r, uint64_t *txnid, const uint8_t **ops,
                         size_t *ops_len, uint32_t *nops);
void ldb__wal_reader_close(struct ldb__wal_reader *r);
/* Decode op i of a record's ops area; *pos advances. LDB_CORRUPTED on a
 * malformed op. */
int ldb__wal_op_next(const uint8_t *ops, size_t len, size_t *pos, struct ldb__wal_op *op);

#ifdef LDB_TEST_HOOKS
/* Lower the largest record (W4) to max bytes (0: WAL_RECORD_MAX again), so
 * a test can cross the boundary without writing 4 GiB. */
void ldb__wal_set_record_max(uint64_t max);
#endif

#endif
