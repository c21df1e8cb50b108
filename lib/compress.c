/* SPDX-License-Identifier: MIT */
/*
 * compress.c: the LZ4 and zstd wrappers behind compress.h.
 *
 * Compression state belongs to the writer (struct ldb__compressor); zstd's
 * decompression context is kept per thread (readers decompress at once on
 * many threads, and a context is too big to build per value), freed by a
 * thread-key destructor when the thread ends.
 *
 * Each codec is optional (configure --without-zstd, --without-lz4): a
 * build without one refuses it in the options (LDB_INVALID, so ldb_open
 * fails) and reads a value it compressed as LDB_VERSION, a format this
 * build cannot read, never as damage.
 */
#include "compress.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef HAVE_LZ4
#include <lz4.h>
#include <lz4hc.h>
#endif
#ifdef HAVE_ZSTD
#include <zdict.h>
#include <zstd.h>
#include <zstd_errors.h>
#endif

#include "alloc.h"
#include "lightningdb.h"

#define LZ4_ACCEL_MAX 65537
/* lz4.h's LZ4_MAX_INPUT_SIZE, a limit of the stored format (format.h's
 * value_header) that holds whether or not this build has LZ4. */
#define LDB_LZ4_MAX_INPUT 0x7E000000u

int ldb__compress_have_codec(int codec)
{
    switch (codec) {
    case LDB_COMPRESS_NONE:
        return 1;
#ifdef HAVE_LZ4
    case LDB_COMPRESS_LZ4:
        return 1;
#endif
#ifdef HAVE_ZSTD
    case LDB_COMPRESS_ZSTD:
        return 1;
#endif
    default:
        return 0;
    }
}

int ldb__compress_check_options(int codec, int level)
{
    switch (codec) {
    case LDB_COMPRESS_NONE:
        return level == 0 ? 0 : LDB_INVALID;
#ifdef HAVE_LZ4
    case LDB_COMPRESS_LZ4:
        return level >= -LZ4_ACCEL_MAX && level <= LZ4HC_CLEVEL_MAX ? 0 : LDB_INVALID;
#endif
#ifdef HAVE_ZSTD
    case LDB_COMPRESS_ZSTD:
        return level == 0 || (level >= ZSTD_minCLevel() && level <= ZSTD_maxCLevel())
                   ? 0
                   : LDB_INVALID;
#endif
    default: /* unknown, or a codec this build lacks */
        return LDB_INVALID;
    }
}

#ifdef HAVE_LZ4

static int lz4_compress(struct ldb__compressor *c, int level, const void *src, uint32_t n,
                        uint8_t *dst, uint32_t cap, size_t *len)
{
    int r;
    if (level >= 3) {
        if (c->lz4hc == NULL && (c->lz4hc = ldb__malloc((size_t)LZ4_sizeofStateHC())) == NULL)
            return -ENOMEM;
        r = LZ4_compress_HC_extStateHC(c->lz4hc, src, (char *)dst, (int)n, (int)cap, level);
    } else {
        if (c->lz4 == NULL && (c->lz4 = ldb__malloc((size_t)LZ4_sizeofState())) == NULL)
            return -ENOMEM;
        r = LZ4_compress_fast_extState(c->lz4, src, (char *)dst, (int)n, (int)cap,
                                       level < 0 ? -level : 1);
    }
    *len = r > 0 ? (size_t)r : 0; /* 0: it did not fit in cap */
    return 0;
}
#endif

#ifdef HAVE_ZSTD

static int zstd_compress(struct ldb__compressor *c, int level, const void *src, uint32_t n,
                         uint8_t *dst, uint32_t cap, size_t *len)
{
    if (c->zstd == NULL && (c->zstd = ZSTD_createCCtx()) == NULL)
        return -ENOMEM;
    size_t r = ZSTD_compressCCtx(c->zstd, dst, cap, src, n, level == 0 ? ZSTD_CLEVEL_DEFAULT : level);
    if (ZSTD_isError(r)) {
        if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
            return -ENOMEM;
        r = 0; /* dstSize_tooSmall: not worth it */
    }
    *len = r;
    return 0;
}
#endif

int ldb__compress_value(struct ldb__compressor *c, int codec, int level, const void *src,
                        uint32_t n, uint8_t *dst, uint32_t cap, uint32_t *out)
{
    *out = 0;
    if (cap <= VALUE_HEADER_SIZE || n > LDB_LZ4_MAX_INPUT)
        return 0;
    size_t len = 0;
    uint32_t room = cap - VALUE_HEADER_SIZE;
    uint8_t *payload = dst + VALUE_HEADER_SIZE;
    (void)c, (void)level, (void)src, (void)room, (void)payload;
    switch (codec) {
#ifdef HAVE_LZ4
    case LDB_COMPRESS_LZ4:
        TRY(lz4_compress(c, level, src, n, payload, room, &len));
        break;
#endif
#ifdef HAVE_ZSTD
    case LDB_COMPRESS_ZSTD:
        TRY(zstd_compress(c, level, src, n, payload, room, &len));
        break;
#endif
    default:
        return LDB_INVALID;
    }
    if (len == 0)
        return 0;
    struct value_header h = {(uint8_t)codec, {0, 0, 0}, ldb__to_le32(n)};
    memcpy(dst, &h, sizeof h);
    *out = (uint32_t)(VALUE_HEADER_SIZE + len);
    return 0;
}

void ldb__compressor_destroy(struct ldb__compressor *c)
{
#ifdef HAVE_ZSTD
    ZSTD_freeCCtx(c->zstd);
#endif
    ldb__free(c->lz4);
    ldb__free(c->lz4hc);
    memset(c, 0, sizeof *c);
}

int ldb__compress_header(const uint8_t *stored, uint32_t len, int *codec, uint32_t *raw)
{
    struct value_header h;
    if (LDB_UNLIKELY(len <= VALUE_HEADER_SIZE))
        return LDB_CORRUPT();
    memcpy(&h, stored, sizeof h);
    uint32_t rsize = ldb__le32(h.raw_size);
    if (LDB_UNLIKELY((h.codec != LDB_COMPRESS_LZ4 && h.codec != LDB_COMPRESS_ZSTD) ||
                     (h.codec != LDB_COMPRESS_ZSTD && ldb__compress_dict_id(stored) != 0) ||
                     rsize == 0 || rsize > 0x7FFFF000u ||
                     (h.codec == LDB_COMPRESS_LZ4 && rsize > LDB_LZ4_MAX_INPUT)))
        return LDB_CORRUPT();
    if (!ldb__compress_have_codec(h.codec))
        return LDB_VERSION; /* sound, but this build has not the codec */
    /* The payload must be able to expand to raw_size, checked before
     * anyone allocates raw_size bytes for it: zstd frames record their
     * content size; an LZ4 block expands at most ~255 times. */
    const uint8_t *payload = stored + VALUE_HEADER_SIZE;
    uint32_t plen = len - VALUE_HEADER_SIZE;
    (void)payload;
#ifdef HAVE_ZSTD
    if (h.codec == LDB_COMPRESS_ZSTD) {
        if (LDB_UNLIKELY(ZSTD_getFrameContentSize(payload, plen) != ldb__le32(h.raw_size)))
            return LDB_CORRUPT();
    } else
#endif
        if (LDB_UNLIKELY(ldb__le32(h.raw_size) > (uint64_t)plen * 255 + 255)) {
        return LDB_CORRUPT();
    }
    *codec = h.codec;
    *raw = ldb__le32(h.raw_size);
    return 0;
}

/* ---- per-thread zstd decompression context ---------------------------- */
#ifdef HAVE_ZSTD

static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static int dctx_key_rc;

static void dctx_free(void *p)
{
    ZSTD_freeDCtx(p);
}

static void dctx_key_make(void)
{
    dctx_key_rc = pthread_key_create(&dctx_key, dctx_free);
}

static ZSTD_DCtx *thread_dctx(void)
{
    if (pthread_once(&dctx_once, dctx_key_make) != 0 || dctx_key_rc != 0)
        return NULL;
    ZSTD_DCtx *d = pthread_getspecific(dctx_key);
    if (d == NULL && (d = ZSTD_createDCtx()) != NULL && pthread_setspecific(dctx_key, d) != 0) {
        ZSTD_freeDCtx(d);
        d = NULL;
    }
    return d;
}
#endif

int ldb__decompress_value(const uint8_t *stored, uint32_t len, uint8_t *dst, uint32_t raw)
{
    return ldb__decompress_value_dict(stored, len, NULL, dst, raw);
}

int ldb__decompress_value_dict(const uint8_t *stored, uint32_t len, const void *ddict, uint8_t *dst,
                               uint32_t raw)
{
    int codec = 0;
    uint32_t want = 0;
    TRY(ldb__compress_header(stored, len, &codec, &want));
    if (LDB_UNLIKELY(want != raw))
        return LDB_INVALID; /* the caller's buffer is not the recorded size */
    const uint8_t *payload = stored + VALUE_HEADER_SIZE;
    uint32_t plen = len - VALUE_HEADER_SIZE;
    (void)payload, (void)plen, (void)dst, (void)ddict;
#ifdef HAVE_LZ4
    if (codec == LDB_COMPRESS_LZ4) {
        int r = LZ4_decompress_safe((const char *)payload, (char *)dst, (int)plen, (int)raw);
        return r >= 0 && (uint32_t)r == raw ? 0 : LDB_CORRUPT();
    }
#endif
#ifndef HAVE_ZSTD
    return LDB_VERSION; /* not reached: ldb__compress_header said so */
#else
    ZSTD_DCtx *d = thread_dctx();
    if (d == NULL)
        return -ENOMEM;
    /* A value that names a dictionary decodes only with it: the caller
     * looked it up by that id (dict.c). */
    if (LDB_UNLIKELY((ldb__compress_dict_id(stored) != 0) != (ddict != NULL)))
        return ddict == NULL ? LDB_CORRUPT() : LDB_INVALID;
    size_t r = ddict ? ZSTD_decompress_usingDDict(d, dst, raw, payload, plen, ddict)
                     : ZSTD_decompressDCtx(d, dst, raw, payload, plen);
    if (ZSTD_isError(r))
        return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? -ENOMEM : LDB_CORRUPT();
    return r == raw ? 0 : LDB_CORRUPT();
#endif
}

/* ---- dictionaries ------------------------------------------------------- */

int ldb__compress_train(void *dict, size_t cap, const void *samples, const size_t *sizes,
                        unsigned n, size_t *len)
{
    *len = 0;
#ifdef HAVE_ZSTD
    size_t r = ZDICT_trainFromBuffer(dict, cap, samples, sizes, n);
    if (ZDICT_isError(r))
        return LDB_INVALID; /* too few samples, or nothing in common */
    *len = r;
    return 0;
#else
    (void)dict, (void)cap, (void)samples, (void)sizes, (void)n;
    return LDB_INVALID;
#endif
}

void *ldb__compress_cdict_new(const void *dict, size_t len, int level)
{
#ifdef HAVE_ZSTD
    return ZSTD_createCDict(dict, len, level == 0 ? ZSTD_CLEVEL_DEFAULT : level);
#else
    (void)dict, (void)len, (void)level;
    return NULL;
#endif
}

void *ldb__compress_ddict_new(const void *dict, size_t len)
{
#ifdef HAVE_ZSTD
    /* zstd takes bytes that are no dictionary of its format as plain
     * content; ours are all trained ones, so anything else is damage. */
    if (ZSTD_getDictID_fromDict(dict, len) == 0)
        return NULL;
    return ZSTD_createDDict(dict, len);
#else
    (void)dict, (void)len;
    return NULL;
#endif
}

void ldb__compress_cdict_free(void *cdict)
{
#ifdef HAVE_ZSTD
    ZSTD_freeCDict(cdict);
#else
    (void)cdict;
#endif
}

void ldb__compress_ddict_free(void *ddict)
{
#ifdef HAVE_ZSTD
    ZSTD_freeDDict(ddict);
#else
    (void)ddict;
#endif
}

int ldb__compress_value_dict(struct ldb__compressor *c, const void *cdict, uint32_t id,
                             const void *src, uint32_t n, uint8_t *dst, uint32_t cap,
                             uint32_t *out)
{
    *out = 0;
    if (cap <= VALUE_HEADER_SIZE || id == 0 || id > LDB_DICT_ID_MAX)
        return id == 0 || id > LDB_DICT_ID_MAX ? LDB_INVALID : 0;
#ifdef HAVE_ZSTD
    if (c->zstd == NULL && (c->zstd = ZSTD_createCCtx()) == NULL)
        return -ENOMEM;
    ZSTD_CCtx *z = c->zstd;
    /* Our header names the dictionary: the frame need not (4 bytes less
     * per value). Parameters stick to the context, so set them each time
     * and take them off after (plain values use the same context). */
    size_t r = ZSTD_CCtx_refCDict(z, cdict);
    if (!ZSTD_isError(r))
        r = ZSTD_CCtx_setParameter(z, ZSTD_c_dictIDFlag, 0);
    if (!ZSTD_isError(r))
        r = ZSTD_compress2(z, dst + VALUE_HEADER_SIZE, cap - VALUE_HEADER_SIZE, src, n);
    ZSTD_CCtx_reset(z, ZSTD_reset_session_and_parameters);
    if (ZSTD_isError(r)) {
        if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
            return -ENOMEM;
        return 0; /* dstSize_tooSmall: not worth it */
    }
    struct value_header h = {LDB_COMPRESS_ZSTD,
                             {(uint8_t)id, (uint8_t)(id >> 8), (uint8_t)(id >> 16)},
                             ldb__to_le32(n)};
    memcpy(dst, &h, sizeof h);
    *out = (uint32_t)(VALUE_HEADER_SIZE + r);
    return 0;
#else
    (void)c, (void)cdict, (void)src, (void)n, (void)dst;
    return LDB_INVALID;
#endif
}
