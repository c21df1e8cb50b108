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

#include "checksum.h"
#include "error.h"
#include "os.h"

void ldb__wal_buf_free(struct ldb__wal_buf *b)
{
    free(b->data);
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
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (d == NULL)
        return -ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

static uint64_t pad8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

int ldb__wal_buf_add(struct ldb__wal_buf *b, const struct ldb__wal_op *op, uint64_t limit)
{
    /* W4: the op's fields are u8, u16 and u32. */
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
        free(b->data);
        b->data = NULL;
        b->cap = b->len = 0;
        return 0;
    }
    TRY(buf_reserve(b, (size_t)need));
    uint8_t *p = b->data + b->len;
    uint16_t k16 = (uint16_t)op->key_len;
    uint32_t v32 = (uint32_t)op->value_len;
    p[0] = (uint8_t)op->type;
    p[1] = (uint8_t)op->name_len;
    memcpy(p + 2, &k16, 2);
    memcpy(p + 4, &v32, 4);
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

size_t ldb__wal_buf_seal(struct ldb__wal_buf *b, uint64_t txnid, uint64_t salt, uint32_t prev_crc,
                         uint32_t *crc)
{
    if (b->len == 0)
        b->len = WAL_RECORD_HEADER;
    size_t len = (b->len + 7) & ~(size_t)7;
    /* buf_reserve cannot fail here: cap is a power of two >= 4096 or the
     * header alone, and padding stays within it. */
    if (buf_reserve(b, len) < 0)
        return 0;
    memset(b->data + b->len, 0, len - b->len);
    uint32_t l32 = (uint32_t)len, zero = 0;
    memcpy(b->data + 4, &l32, 4);
    memcpy(b->data + 8, &txnid, 8);
    memcpy(b->data + 16, &salt, 8);
    memcpy(b->data + 24, &b->nops, 4);
    memcpy(b->data + 28, &zero, 4);
    uint32_t c = ldb__crc32c(prev_crc, b->data + 4, len - 4);
    memcpy(b->data, &c, 4);
    b->len = len;
    *crc = c;
    return len;
}

uint32_t ldb__wal_first_crc(uint64_t salt)
{
    return (uint32_t)salt;
}

void ldb__wal_header_encode(uint8_t out[WAL_HEADER_SIZE], uint64_t salt, uint64_t checkpoint,
                            uint64_t db_id)
{
    memset(out, 0, WAL_HEADER_SIZE);
    uint64_t magic = WAL_MAGIC;
    uint32_t version = WAL_VERSION;
    memcpy(out, &magic, 8);
    memcpy(out + 8, &version, 4);
    memcpy(out + 16, &salt, 8);
    memcpy(out + 24, &checkpoint, 8);
    memcpy(out + 32, &db_id, 8);
    uint32_t c = ldb__crc32c(0, out, 40);
    memcpy(out + 40, &c, 4);
}

int ldb__wal_header_decode(const uint8_t in[WAL_HEADER_SIZE], uint64_t *salt, uint64_t *checkpoint,
                           uint64_t *db_id)
{
    uint64_t magic;
    uint32_t version, c;
    memcpy(&magic, in, 8);
    memcpy(&version, in + 8, 4);
    memcpy(&c, in + 40, 4);
    if (magic != WAL_MAGIC || c != ldb__crc32c(0, in, 40))
        return LDB_CORRUPT();
    if (version != WAL_VERSION)
        return LDB_VERSION;
    memcpy(salt, in + 16, 8);
    memcpy(checkpoint, in + 24, 8);
    memcpy(db_id, in + 32, 8);
    return 0;
}

int ldb__wal_reader_open(struct ldb__wal_reader *r, int fd, uint64_t size, uint64_t db_id)
{
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->size = size;
    r->offset = WAL_HEADER_SIZE;
    if (size < WAL_HEADER_SIZE) {
        r->offset = size; /* no header: an empty log */
        return 0;
    }
    uint8_t h[WAL_HEADER_SIZE];
    uint64_t checkpoint, log_db = 0;
    TRY(ldb__os_pread_full(fd, h, sizeof h, 0));
    int rc = ldb__wal_header_decode(h, &r->salt, &checkpoint, &log_db);
    if (rc == LDB_VERSION)
        return rc;
    if (rc == 0 && log_db != db_id) {
        r->offset = size; /* another database's log: nothing of ours in it */
        return 0;
    }
    if (rc < 0) {
        /* A torn header: a reset that did not finish. The checkpoint it was
         * resetting for is durable, so there is nothing to replay. */
        r->offset = size;
        return 0;
    }
    r->prev_crc = ldb__wal_first_crc(r->salt);
    return 0;
}

int ldb__wal_reader_next(struct ldb__wal_reader *r, uint64_t *txnid, const uint8_t **ops,
                         size_t *ops_len, uint32_t *nops)
{
    uint8_t h[WAL_RECORD_HEADER];
    if (r->size - r->offset < WAL_RECORD_HEADER)
        return 0;
    TRY(ldb__os_pread_full(r->fd, h, sizeof h, r->offset));
    uint32_t crc, len;
    uint64_t salt;
    memcpy(&crc, h, 4);
    memcpy(&len, h + 4, 4);
    memcpy(&salt, h + 16, 8);
    if (salt != r->salt || len < WAL_RECORD_HEADER || len % 8 != 0 ||
        len > r->size - r->offset)
        return 0; /* the end, or a torn or stale record (W2) */
    if (len > r->cap) {
        uint8_t *b = realloc(r->buf, len);
        if (b == NULL)
            return -ENOMEM;
        r->buf = b;
        r->cap = len;
    }
    TRY(ldb__os_pread_full(r->fd, r->buf, len, r->offset));
    if (ldb__crc32c(r->prev_crc, r->buf + 4, len - 4) != crc)
        return 0;
    memcpy(txnid, r->buf + 8, 8);
    memcpy(nops, r->buf + 24, 4);
    *ops = r->buf + WAL_RECORD_HEADER;
    *ops_len = len - WAL_RECORD_HEADER;
    r->prev_crc = crc;
    r->offset += len;
    return 1;
}

void ldb__wal_reader_close(struct ldb__wal_reader *r)
{
    free(r->buf);
    r->buf = NULL;
}

int ldb__wal_op_next(const uint8_t *ops, size_t len, size_t *pos, struct ldb__wal_op *op)
{
    size_t p = *pos;
    if (len - p < WAL_OP_HEADER)
        return LDB_CORRUPT();
    uint16_t k16;
    uint32_t v32;
    op->type = ops[p];
    op->name_len = ops[p + 1];
    memcpy(&k16, ops + p + 2, 2);
    op->key_len = k16;
    memcpy(&v32, ops + p + 4, 4);
    op->value_len = v32;
    p += WAL_OP_HEADER;
    uint64_t body = (uint64_t)op->name_len + op->key_len + op->value_len;
    if (body > len - p || op->type < WAL_OP_PUT || op->type > WAL_OP_DELETE)
        return LDB_CORRUPT();
    op->name = ops + p;
    op->key = op->name + op->name_len;
    op->value = op->key + op->key_len;
    *pos = p + (size_t)body;
    return 0;
}
