/* SPDX-License-Identifier: MIT */
/*
 * meta.h: the two meta pages at the head of the data file.
 *
 * A checkpoint writes the meta page slot that does not hold the newest valid
 * meta, so the previous checkpoint stays intact until the new one is
 * complete: a torn meta write leaves the older one as the newest valid. Each meta page is
 * validated by its magic, version, page size, page number and a CRC32C over
 * its first LDB_META_BYTES.
 */
#ifndef LDB_META_H
#define LDB_META_H

#include <stdint.h>

#include "format.h"

/* Check one meta page image (LDB_META_BYTES long) found at page pgno.
 * LDB_CORRUPTED if damaged, LDB_VERSION if intact but of another format. */
int ldb__meta_check(const uint8_t *image, pgno_t pgno, struct meta_page *out);
/* Read both meta pages of fd and return the valid one with the newest txn
 * id, and which slot (0 or 1) it is in. The page size is learned from the
 * file. */
/* 1 if the file at fd cannot be a database of ours: what page 0 holds where
 * the magic goes (offsetof magic) is neither the magic nor zeros (a zeroed
 * or half-created database is damaged, not foreign), and no page size puts
 * meta 1's magic in the file. 0 otherwise (an empty file too); -errno if
 * it cannot be read. ldb_open asks before it makes any file beside it. */
int ldb__meta_foreign(int fd, uint64_t file_size);
int ldb__meta_read_newest(int fd, uint64_t file_size, struct meta_page *out, unsigned *slot);
/* A fresh meta for an empty database. */
void ldb__meta_init(struct meta_page *m, uint32_t page_size);
/* Seal (checksum) and write m to meta page slot (0 or 1). A checkpoint
 * always writes the slot that does not hold the newest valid meta, so a torn
 * write leaves the previous checkpoint intact. */
int ldb__meta_write(int fd, struct meta_page *m, unsigned slot);
/* Seal m as meta page slot into image (what ldb__meta_write writes; the
 * rest of the page is zero). */
void ldb__meta_encode(struct meta_page *m, unsigned slot, uint8_t image[LDB_META_BYTES]);

#endif
