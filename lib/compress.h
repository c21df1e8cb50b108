/* SPDX-License-Identifier: MIT */
/*
 * compress.h: the value codecs (LZ4 and zstd, from the system's liblz4 and
 * libzstd) and the compressed value's stored form (format.h, value_header).
 *
 * Layer: beside checksum, below the log and the pages: it knows bytes and
 * codec ids, nothing of trees, txns or the cache.
 *
 * Every decompression is bounded twice: by the destination's size, which
 * is the raw size the header records, and by an exact check that the
 * payload decompressed to that many bytes. Damaged bytes therefore give
 * LDB_CORRUPTED and never a write outside the destination.
 *
 * Levels (ldb_options.compression_level):
 *   zstd: ZSTD_minCLevel() .. ZSTD_maxCLevel(); 0 is zstd's default (3),
 *         negative levels are zstd's fast modes.
 *   LZ4:  0, 1, 2 the default block compressor (acceleration 1);
 *         -1 .. -65537 LZ4 "fast" with acceleration = -level;
 *         3 .. 12 LZ4HC at that level (slower writes, same fast reads).
 */
#ifndef LDB_COMPRESS_H
#define LDB_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "format.h"

/* Values shorter than this are stored as they are: measured in
 * docs/design.md (a codec's own overhead plus our 8-byte header leave
 * nothing to save below it). */
#define LDB_COMPRESS_MIN_VALUE 160u

/* A compressor's reusable state: one per writer (the env's write txns run
 * one at a time), made on first use. */
struct ldb__compressor {
    void *zstd;     /* ZSTD_CCtx */
    void *lz4;      /* LZ4 fast state */
    void *lz4hc;    /* LZ4HC state */
};

/* 1 if this build has codec (LDB_COMPRESS_*; NONE always), else 0:
 * configure --without-zstd or --without-lz4 leave one out. */
int ldb__compress_have_codec(int codec);
/* 0 if codec (LDB_COMPRESS_*) and level are accepted, else LDB_INVALID
 * (also for a codec this build lacks). */
int ldb__compress_check_options(int codec, int level);

/* Compress src into dst as a stored value (header + payload), if that
 * fits in cap bytes. *out is its length, or 0 when it did not fit (not
 * worth storing compressed). */
int ldb__compress_value(struct ldb__compressor *c, int codec, int level, const void *src,
                        uint32_t n, uint8_t *dst, uint32_t cap, uint32_t *out);
void ldb__compressor_destroy(struct ldb__compressor *c);

/* Check a stored value's header: its codec and the size it expands to.
 * LDB_CORRUPTED if it cannot be one of ours; LDB_VERSION if its codec is
 * one this build lacks. */
int ldb__compress_header(const uint8_t *stored, uint32_t len, int *codec, uint32_t *raw);
/* Decompress a stored value into dst, which has exactly raw bytes (from
 * ldb__compress_header). Thread-safe. */
int ldb__decompress_value(const uint8_t *stored, uint32_t len, uint8_t *dst, uint32_t raw);

#endif
