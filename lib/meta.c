/* SPDX-License-Identifier: MIT */
/*
 * meta.c: reading, choosing and writing the meta pages.
 */
#include "meta.h"

#include <string.h>

#include "checksum.h"
#include "error.h"
#include "os.h"
#include "page.h"

int ldb__meta_check(const uint8_t *image, pgno_t pgno, struct meta_page *out)
{
    struct meta_page m;
    memcpy(&m, image, sizeof m);
    ldb__meta_swap(&m);
    if (m.magic != LDB_MAGIC)
        return LDB_CORRUPT();
    if (!ldb__page_checksum_ok(image, LDB_META_BYTES))
        return LDB_CORRUPT();
    if (m.version < LDB_FORMAT_VERSION_MIN || m.version > LDB_FORMAT_VERSION)
        return LDB_VERSION;
    if (ldb__le16(m.header.type) != PAGE_META || ldb__le64(m.header.pgno) != pgno)
        return LDB_CORRUPT();
    if (m.page_size < LDB_MIN_PAGE_SIZE || m.page_size > LDB_MAX_PAGE_SIZE ||
        (m.page_size & (m.page_size - 1)) != 0)
        return LDB_CORRUPT();
    /* Every page must have a byte offset: callers compare npages *
     * page_size with the file size, so the product may not wrap. */
    uint64_t bytes;
    if (m.npages < LDB_META_PAGES || __builtin_mul_overflow(m.npages, m.page_size, &bytes))
        return LDB_CORRUPT();
    const struct tree_desc *trees[3] = {&m.main_tree, &m.catalog_tree, &m.free_tree};
    for (int i = 0; i < 3; i++) {
        const struct tree_desc *t = trees[i];
        if (t->depth > LDB_MAX_DEPTH || (t->root == 0) != (t->depth == 0) ||
            (t->root != 0 && (t->root < LDB_META_PAGES || t->root >= m.npages)))
            return LDB_CORRUPT();
    }
    *out = m;
    return 0;
}

/* 1 if the 8 bytes at off are the magic (as stored: little-endian), or
 * zeros when zeros_count; 0 if not or the file ends before them. */
static int magic_at(int fd, uint64_t file_size, uint64_t off, int zeros_count, int *found)
{
    static const uint8_t magic[8] = {'L', 'T', 'N', 'G', 'L', 'D', 'B', '1'};
    static const uint8_t zeros[8];
    uint8_t b[8];
    *found = 0;
    if (file_size < off + sizeof b)
        return 0;
    TRY(ldb__os_pread_full(fd, b, sizeof b, off));
    *found = memcmp(b, magic, sizeof b) == 0 || (zeros_count && memcmp(b, zeros, sizeof b) == 0);
    return 0;
}

int ldb__meta_foreign(int fd, uint64_t file_size)
{
    const uint64_t at = offsetof(struct meta_page, magic);
    int found;
    if (file_size == 0)
        return 0;
    TRY(magic_at(fd, file_size, at, 1, &found));
    for (uint64_t ps = LDB_MIN_PAGE_SIZE; !found && ps <= LDB_MAX_PAGE_SIZE; ps *= 2)
        TRY(magic_at(fd, file_size, ps + at, 0, &found));
    return !found;
}

int ldb__meta_read_newest(int fd, uint64_t file_size, struct meta_page *out, unsigned *slot)
{
    uint8_t image[LDB_META_BYTES];
    struct meta_page m0, m1;
    int rc0 = LDB_CORRUPTED, rc1 = LDB_CORRUPTED;
    if (file_size >= LDB_META_BYTES) {
        TRY(ldb__os_pread_full(fd, image, sizeof image, 0));
        rc0 = ldb__meta_check(image, 0, &m0);
    }
    /* Meta 1 sits one page in; without a valid meta 0 the page size is
     * unknown, so try each possible one. */
    for (uint32_t ps = LDB_MIN_PAGE_SIZE; ps <= LDB_MAX_PAGE_SIZE; ps *= 2) {
        if (rc0 == 0 && ps != m0.page_size)
            continue;
        if (file_size < (uint64_t)ps + LDB_META_BYTES)
            break;
        TRY(ldb__os_pread_full(fd, image, sizeof image, ps));
        rc1 = ldb__meta_check(image, 1, &m1);
        if (rc1 == 0 && rc0 == 0 && m1.page_size != m0.page_size)
            rc1 = LDB_CORRUPT();
        if (rc1 == 0 && m1.page_size != ps)
            rc1 = LDB_CORRUPT();
        if (rc1 == 0 || rc0 == 0)
            break;
    }
    if (rc0 == 0 && (rc1 != 0 || m0.txnid >= m1.txnid)) {
        *out = m0;
        *slot = 0;
        return 0;
    }
    if (rc1 == 0) {
        *out = m1;
        *slot = 1;
        return 0;
    }
    return rc0 == LDB_VERSION || rc1 == LDB_VERSION ? LDB_VERSION : LDB_CORRUPTED;
}

void ldb__meta_init(struct meta_page *m, uint32_t page_size)
{
    memset(m, 0, sizeof *m);
    m->header.type = ldb__to_le16(PAGE_META);
    m->magic = LDB_MAGIC;
    m->version = LDB_FORMAT_VERSION;
    m->page_size = page_size;
    m->npages = LDB_META_PAGES;
}

void ldb__meta_encode(struct meta_page *m, unsigned slot, uint8_t image[LDB_META_BYTES])
{
    memset(image, 0, LDB_META_BYTES);
    m->header.type = ldb__to_le16(PAGE_META);
    m->header.pgno = ldb__to_le64(slot);
    m->header.txnid = ldb__to_le64(m->txnid);
    struct meta_page le = *m;
    ldb__meta_swap(&le);
    memcpy(image, &le, sizeof le);
    ldb__page_seal(image, LDB_META_BYTES);
    memcpy(&m->header, image, sizeof m->header); /* the checksum */
}

int ldb__meta_write(int fd, struct meta_page *m, unsigned slot)
{
    uint8_t image[LDB_META_BYTES];
    ldb__meta_encode(m, slot, image);
    return ldb__os_pwrite_full(fd, image, sizeof image, slot * (uint64_t)m->page_size);
}
