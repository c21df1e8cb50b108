/* SPDX-License-Identifier: MIT */
/* Version-1 logs built by hand (v1log.h). Little-endian, as 0.1.0 wrote
 * them on x86-64, whatever the host's byte order. */
#include "v1log.h"

#include <check.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checksum.h"
#include "format.h"
#include "meta.h"
#include "testutil.h"
#include "wal.h"

void tu_v1_begin(tu_v1_log *l, uint64_t db_id, uint64_t checkpoint)
{
    memset(l, 0, sizeof *l);
    l->salt = 0x5A17ED0123456789ull;
    ldb__st_le64(l->buf, WAL_MAGIC);
    ldb__st_le32(l->buf + 8, 1);
    ldb__st_le64(l->buf + 16, l->salt);
    ldb__st_le64(l->buf + 24, checkpoint);
    ldb__st_le64(l->buf + 32, db_id);
    ldb__st_le32(l->buf + 40, ldb__crc32c(0, l->buf, 40));
    l->len = 64;
    l->prev_crc = (uint32_t)l->salt;
}

void tu_v1_op(tu_v1_log *l, unsigned type, const char *name, const char *key, const char *val)
{
    if (l->rec_len == 0)
        l->rec_len = 32;
    uint8_t *p = l->rec + l->rec_len;
    size_t nl = name ? strlen(name) : 0, kl = key ? strlen(key) : 0, vl = val ? strlen(val) : 0;
    ck_assert(l->rec_len + 8 + nl + kl + vl + 8 <= sizeof l->rec);
    p[0] = (uint8_t)type;
    p[1] = (uint8_t)nl;
    ldb__st_le16(p + 2, (uint16_t)kl);
    ldb__st_le32(p + 4, (uint32_t)vl);
    memcpy(p + 8, name ? name : "", nl);
    memcpy(p + 8 + nl, key ? key : "", kl);
    memcpy(p + 8 + nl + kl, val ? val : "", vl);
    l->rec_len += 8 + nl + kl + vl;
    l->nops++;
}

void tu_v1_seal(tu_v1_log *l, uint64_t txnid)
{
    if (l->rec_len == 0)
        l->rec_len = 32;
    uint32_t len = (uint32_t)((l->rec_len + 7) & ~(size_t)7);
    ck_assert(l->len + len <= sizeof l->buf);
    memset(l->rec + l->rec_len, 0, len - l->rec_len);
    ldb__st_le32(l->rec + 4, len);
    ldb__st_le64(l->rec + 8, txnid);
    ldb__st_le64(l->rec + 16, l->salt);
    ldb__st_le32(l->rec + 24, l->nops);
    ldb__st_le32(l->rec + 28, 0);
    uint32_t c = ldb__crc32c(l->prev_crc, l->rec + 4, len - 4);
    ldb__st_le32(l->rec, c);
    memcpy(l->buf + l->len, l->rec, len);
    l->len += len;
    l->prev_crc = c;
    l->rec_len = 0;
    l->nops = 0;
}

void tu_v1_write(const tu_v1_log *l, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert(fd >= 0);
    ck_assert(write(fd, l->buf, l->len) == (ssize_t)l->len);
    close(fd);
}

uint64_t tu_db_id_of(const char *path)
{
    int fd = open(path, O_RDONLY);
    ck_assert(fd >= 0);
    struct stat sb;
    ck_assert(fstat(fd, &sb) == 0);
    struct meta_page m;
    unsigned slot;
    TU_RC_OK(ldb__meta_read_newest(fd, (uint64_t)sb.st_size, &m, &slot));
    close(fd);
    return m.db_id;
}
