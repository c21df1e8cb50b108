/* SPDX-License-Identifier: MIT */
/*
 * wal.c: encoding, sealing and reading log records (see wal.h). The file
 * handling (appending, growing, syncing, resetting) is the txn layer's, which
 * holds the locks that order it.
 */
#include "wal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "checksum.h"
#include "error.h"
#include "format.h"
#include "os.h"

void ldb__wal_buf_free(struct ldb__wal_buf *b)
{
    ldb__free(b->data);
    memset(b, 0, sizeof *b);
}

#ifdef LDB_TEST_HOOKS
static uint64_t record_max_hook;

void ldb__wal_set_record_max(uint64_t max)
{
    record_max_hook = max & ~(uint64_t)7;
}

static uint64_t record_max(void)
{
    return record_max_hook ? record_max_hook : WAL_RECORD_MAX;
}
#else
static uint64_t record_max(void)
{
    return WAL_RECORD_MAX;
}
#endif

static int buf_reserve(struct ldb__wal_buf *b, size_t need)
{
    if (b->cap >= need)
        return 0;
    uint8_t *d = ldb__array_grow(b->data, &b->cap, need, 1, 4096);
    if (d == NULL)
        return -ENOMEM;
    b->data = d;
    return 0;
}

static uint64_t pad8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

int ldb__wal_buf_add(struct ldb__wal_buf *b, const struct ldb__wal_op *op, uint64_t limit)
{
    /* W5: the op's fields are u8, u16 and u32. */
    if (op->name_len > UINT8_MAX || op->key_len > UINT16_MAX || op->value_len > UINT32_MAX)
        return LDB_TOOBIG;
    if (b->too_big)
        return 0;
    if (b->len == 0)
        b->len = WAL_RECORD_HEADER;
    uint64_t need = (uint64_t)b->len + WAL_OP_HEADER + op->name_len + op->key_len + op->value_len;
    uint64_t max = limit < record_max() ? limit : record_max();
    if (pad8(need) > max || need > SIZE_MAX) {
        b->too_big = 1;
        ldb__free(b->data);
        b->data = NULL;
        b->cap = b->len = 0;
        return 0;
    }
    TRY(buf_reserve(b, (size_t)need));
    uint8_t *p = b->data + b->len;
    p[0] = (uint8_t)op->type;
    p[1] = (uint8_t)op->name_len;
    ldb__st_le16(p + 2, (uint16_t)op->key_len);
    ldb__st_le32(p + 4, (uint32_t)op->value_len);
    p += WAL_OP_HEADER;
    if (op->name_len)
        memcpy(p, op->name, op->name_len);
    p += op->name_len;
    if (op->key_len)
        memcpy(p, op->key, op->key_len);
    p += op->key_len;
    if (op->value_len)
        memcpy(p, op->value, op->value_len);
    b->len = (size_t)need;
    b->nops++;
    return 0;
}

int ldb__wal_buf_seal(struct ldb__wal_buf *b, const struct ldb__wal_seal *s, size_t *len_out,
                      uint32_t *crc)
{
    if (b->len == 0)
        b->len = WAL_RECORD_HEADER;
    uint64_t len = pad8(b->len);
    if (len > record_max())
        return LDB_TOOBIG; /* wal_buf_add keeps records below it (W5) */
    TRY(buf_reserve(b, (size_t)len));
    memset(b->data + b->len, 0, (size_t)len - b->len);
    ldb__st_le32(b->data + 4, (uint32_t)len);
    ldb__st_le64(b->data + 8, s->txnid);
    ldb__st_le64(b->data + 16, s->salt);
    ldb__st_le32(b->data + 24, b->nops);
    ldb__st_le32(b->data + 28, s->prev_crc);
    ldb__st_le64(b->data + 32, s->time_us);
    ldb__st_le64(b->data + 40, s->durable_txnid);
    uint32_t c = ldb__crc32c(ldb__wal_first_crc(s->salt), b->data + 4, (size_t)len - 4);
    ldb__st_le32(b->data, c);
    b->len = (size_t)len;
    *len_out = (size_t)len;
    *crc = c;
    return 0;
}

uint32_t ldb__wal_first_crc(uint64_t salt)
{
    return (uint32_t)salt;
}

void ldb__wal_header_encode(uint8_t out[WAL_HEADER_SIZE], uint64_t salt, uint64_t checkpoint,
                            uint64_t db_id)
{
    memset(out, 0, WAL_HEADER_SIZE);
    ldb__st_le64(out, WAL_MAGIC);
    ldb__st_le32(out + 8, WAL_VERSION);
    ldb__st_le64(out + 16, salt);
    ldb__st_le64(out + 24, checkpoint);
    ldb__st_le64(out + 32, db_id);
    ldb__st_le32(out + 40, ldb__crc32c(0, out, 40));
}

int ldb__wal_header_decode(const uint8_t in[WAL_HEADER_SIZE], unsigned *version, uint64_t *salt,
                           uint64_t *checkpoint, uint64_t *db_id)
{
    uint64_t magic = ldb__ld_le64(in);
    uint32_t v = ldb__ld_le32(in + 8), c = ldb__ld_le32(in + 40);
    if (magic != WAL_MAGIC || c != ldb__crc32c(0, in, 40))
        return LDB_CORRUPT();
    if (v != WAL_VERSION && v != WAL_VERSION_1)
        return LDB_VERSION;
    *version = v;
    *salt = ldb__ld_le64(in + 16);
    *checkpoint = ldb__ld_le64(in + 24);
    *db_id = ldb__ld_le64(in + 32);
    return 0;
}

int ldb__wal_reader_open(struct ldb__wal_reader *r, int fd, uint64_t size, uint64_t db_id)
{
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->size = size;
    r->offset = WAL_HEADER_SIZE;
    r->version = WAL_VERSION;
    if (size < WAL_HEADER_SIZE) {
        r->offset = size; /* no header: an empty log */
        r->ignored = 1;
        return 0;
    }
    uint8_t h[WAL_HEADER_SIZE];
    uint64_t checkpoint, log_db = 0;
    TRY(ldb__os_pread_full(fd, h, sizeof h, 0));
    int rc = ldb__wal_header_decode(h, &r->version, &r->salt, &checkpoint, &log_db);
    if (rc == LDB_VERSION)
        return rc;
    if (rc == 0 && log_db != db_id) {
        r->offset = size; /* another database's log: nothing of ours in it */
        r->ignored = 1;
        return 0;
    }
    if (rc < 0) {
        /* A torn header: a reset that did not finish. The checkpoint it was
         * resetting for is durable, so there is nothing to replay; but if a
         * record says otherwise, the header was damaged later (W4). */
        r->header_damaged = 1;
        r->version = WAL_VERSION;
        return 0;
    }
    r->prev_crc = ldb__wal_first_crc(r->salt);
    return 0;
}

/* Bring len bytes at off into r->buf. */
static int reader_load(struct ldb__wal_reader *r, uint64_t off, uint64_t len)
{
    if (len > SIZE_MAX)
        return -ENOMEM;
    if (len > r->cap) {
        uint8_t *b = ldb__realloc(r->buf, (size_t)len);
        if (b == NULL)
            return -ENOMEM;
        r->buf = b;
        r->cap = (size_t)len;
    }
    return ldb__os_pread_full(r->fd, r->buf, (size_t)len, off);
}

/* The fields of a record header both versions share. */
struct rec_head {
    uint32_t crc, len, nops, prev_crc;
    uint64_t txnid, salt, time_us, durable_txnid;
};

static void head_decode(const uint8_t *h, unsigned version, struct rec_head *o)
{
    o->crc = ldb__ld_le32(h);
    o->len = ldb__ld_le32(h + 4);
    o->txnid = ldb__ld_le64(h + 8);
    o->salt = ldb__ld_le64(h + 16);
    o->nops = ldb__ld_le32(h + 24);
    o->prev_crc = o->time_us = o->durable_txnid = 0;
    if (version == WAL_VERSION) {
        o->prev_crc = ldb__ld_le32(h + 28);
        o->time_us = ldb__ld_le64(h + 32);
        o->durable_txnid = ldb__ld_le64(h + 40);
    }
}

/* Whether a header's length can be a record at off. */
static int len_fits(const struct ldb__wal_reader *r, uint64_t off, uint32_t len, uint32_t hsize)
{
    return len >= hsize && len % 8 == 0 && len <= r->size - off;
}

int ldb__wal_reader_next(struct ldb__wal_reader *r, struct ldb__wal_record *rec)
{
    uint32_t hsize = r->version == WAL_VERSION ? WAL_RECORD_HEADER : WAL_RECORD_HEADER_V1;
    if (r->header_damaged || r->offset > r->size || r->size - r->offset < hsize)
        return 0;
    uint8_t h[WAL_RECORD_HEADER];
    TRY(ldb__os_pread_full(r->fd, h, hsize, r->offset));
    struct rec_head rh;
    head_decode(h, r->version, &rh);
    if (rh.salt != r->salt || !len_fits(r, r->offset, rh.len, hsize))
        return 0; /* the end, or a torn or stale record (W2) */
    TRY(reader_load(r, r->offset, rh.len));
    if (r->version == WAL_VERSION) {
        if (ldb__crc32c(ldb__wal_first_crc(r->salt), r->buf + 4, rh.len - 4u) != rh.crc ||
            rh.prev_crc != r->prev_crc || rh.durable_txnid >= rh.txnid)
            return 0;
    } else if (ldb__crc32c(r->prev_crc, r->buf + 4, rh.len - 4u) != rh.crc) {
        return 0;
    }
    rec->txnid = rh.txnid;
    rec->time_us = rh.time_us;
    rec->durable_txnid = rh.durable_txnid;
    rec->offset = r->offset;
    rec->len = rh.len;
    rec->nops = rh.nops;
    rec->ops = r->buf + hsize;
    rec->ops_len = rh.len - hsize;
    r->prev_crc = rh.crc;
    r->offset += rh.len;
    return 1;
}

/* ---- scanning past damage (W4) ------------------------------------------------ */

#define SCAN_CHUNK (1u << 20)

/* CRC32C of len bytes of the log at off, continuing from crc. */
static int crc_of_range(int fd, uint64_t off, uint64_t len, uint32_t *crc, uint8_t *tmp)
{
    while (len > 0) {
        size_t n = len < SCAN_CHUNK ? (size_t)len : SCAN_CHUNK;
        TRY(ldb__os_pread_full(fd, tmp, n, off));
        *crc = ldb__crc32c(*crc, tmp, n);
        off += n;
        len -= n;
    }
    return 0;
}

/* Whether a version-2 record of this generation (of any, with the header
 * damaged) passes its own checks at off; its header is h. */
static int scan_candidate(const struct ldb__wal_reader *r, uint64_t off, const uint8_t *h,
                          uint8_t *tmp, struct rec_head *rh, int *ok)
{
    *ok = 0;
    head_decode(h, WAL_VERSION, rh);
    if (r->header_damaged ? rh->salt == 0 : rh->salt != r->salt)
        return 0;
    if (!len_fits(r, off, rh->len, WAL_RECORD_HEADER) || rh->durable_txnid >= rh->txnid)
        return 0;
    uint32_t c = ldb__crc32c(ldb__wal_first_crc(rh->salt), h + 4, WAL_RECORD_HEADER - 4);
    TRY(crc_of_range(r->fd, off + WAL_RECORD_HEADER, rh->len - WAL_RECORD_HEADER, &c, tmp));
    *ok = c == rh->crc;
    return 0;
}

int ldb__wal_reader_find_durable(struct ldb__wal_reader *r, uint64_t from, uint64_t txnid,
                                 uint64_t *proof)
{
    *proof = 0;
    if (r->version != WAL_VERSION || r->ignored)
        return 0;
    if (r->header_damaged || from < WAL_HEADER_SIZE)
        from = WAL_HEADER_SIZE;
    uint8_t *chunk = ldb__malloc(SCAN_CHUNK), *tmp = ldb__malloc(SCAN_CHUNK);
    int rc = chunk && tmp ? 0 : -ENOMEM;
    uint64_t base = 0, have = 0; /* chunk holds the log's bytes [base, base + have) */
    for (uint64_t off = pad8(from); rc == 0 && off < r->size &&
                                    r->size - off >= WAL_RECORD_HEADER;) {
        if (off < base || off + WAL_RECORD_HEADER > base + have) {
            base = off;
            have = r->size - off < SCAN_CHUNK ? r->size - off : SCAN_CHUNK;
            rc = ldb__os_pread_full(r->fd, chunk, (size_t)have, base);
            if (rc < 0)
                break;
        }
        struct rec_head rh;
        int ok;
        rc = scan_candidate(r, off, chunk + (off - base), tmp, &rh, &ok);
        if (rc == 0 && ok && rh.durable_txnid >= txnid) {
            *proof = off;
            break;
        }
        off += rc == 0 && ok ? rh.len : 8u; /* a whole record holds no other */
    }
    ldb__free(chunk);
    ldb__free(tmp);
    return rc;
}

void ldb__wal_reader_close(struct ldb__wal_reader *r)
{
    ldb__free(r->buf);
    r->buf = NULL;
}

int ldb__wal_op_next(const uint8_t *ops, size_t len, size_t *pos, struct ldb__wal_op *op)
{
    size_t p = *pos;
    if (len - p < WAL_OP_HEADER)
        return LDB_CORRUPT();
    op->type = ops[p];
    op->name_len = ops[p + 1];
    op->key_len = ldb__ld_le16(ops + p + 2);
    op->value_len = ldb__ld_le32(ops + p + 4);
    p += WAL_OP_HEADER;
    uint64_t body = (uint64_t)op->name_len + op->key_len + op->value_len;
    if (body > len - p || op->type < WAL_OP_PUT || op->type > WAL_OP_PUT_COMPRESSED)
        return LDB_CORRUPT();
    op->name = ops + p;
    op->key = op->name + op->name_len;
    op->value = op->key + op->key_len;
    *pos = p + (size_t)body;
    return 0;
}
