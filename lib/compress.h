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
/* With a trained dictionary (dict.h) smaller values pay: zstd then needs
 * no in-value history, and ~17 bytes of frame and header overhead are
 * what is left to beat. */
#define LDB_COMPRESS_MIN_DICT_VALUE 64u

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

/* The dictionary id a stored value's header names (0: none). */
static inline uint32_t ldb__compress_dict_id(const uint8_t *stored)
{
    return (uint32_t)stored[1] | (uint32_t)stored[2] << 8 | (uint32_t)stored[3] << 16;
}
/* ldb__decompress_value for a value that may name a dictionary: ddict is
 * the one it names (ldb__compress_ddict_new), NULL when it names none. */
int ldb__decompress_value_dict(const uint8_t *stored, uint32_t len, const void *ddict, uint8_t *dst,
                               uint32_t raw);

/* ---- zstd dictionaries (dict.c keeps them; these are the codec's side) --- */

/* The largest dictionary id a value header holds. */
#define LDB_DICT_ID_MAX 0xFFFFFFu

/* Train a dictionary of at most cap bytes into dict from n samples laid
 * end to end in samples (sizes[i] bytes each): *len is its size.
 * LDB_INVALID if zstd finds them too few or too alike to train on, or
 * this build has no zstd. */
int ldb__compress_train(void *dict, size_t cap, const void *samples, const size_t *sizes,
                        unsigned n, size_t *len);
/* Digested forms of a dictionary's bytes (which they copy): a compression
 * one at a level, a decompression one. NULL: no memory, or bytes zstd
 * cannot load (damage). */
void *ldb__compress_cdict_new(const void *dict, size_t len, int level);
void *ldb__compress_ddict_new(const void *dict, size_t len);
void ldb__compress_cdict_free(void *cdict);
void ldb__compress_ddict_free(void *ddict);
/* ldb__compress_value with zstd and the dictionary cdict, whose id the
 * header records. */
int ldb__compress_value_dict(struct ldb__compressor *c, const void *cdict, uint32_t id,
                             const void *src, uint32_t n, uint8_t *dst, uint32_t cap,
                             uint32_t *out);

#endif
