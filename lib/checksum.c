/* SPDX-License-Identifier: MIT */
/*
 * checksum.c: CRC32C: carry-less multiply folding (PCLMULQDQ) plus the
 * SSE4.2 crc32 instruction when the CPU has both, crc32 alone when it has
 * only SSE4.2; on arm64 the ARMv8 crc32c instructions when the kernel
 * reports them (HWCAP_CRC32); else slicing-by-8 tables. All give identical
 * results; check_checksum tests so (and test/cross-arm64.sh under
 * qemu-aarch64 for the arm64 path).
 */
#include "checksum.h"

#include <pthread.h>
#include <string.h>

#define CRC32C_POLY_REFLECTED 0x82F63B78u

static uint32_t sw_table[8][256];
static pthread_once_t sw_table_once = PTHREAD_ONCE_INIT;

static void sw_table_build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
        sw_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            sw_table[t][i] = (sw_table[t - 1][i] >> 8) ^ sw_table[0][sw_table[t - 1][i] & 0xff];
}

uint32_t ldb__crc32c_sw(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&sw_table_once, sw_table_build);
    const unsigned char *p = data;
    crc = ~crc;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap64(w); /* the tables take the bytes first to last */
#endif
        w ^= crc;
        crc = sw_table[7][w & 0xff] ^ sw_table[6][(w >> 8) & 0xff] ^
              sw_table[5][(w >> 16) & 0xff] ^ sw_table[4][(w >> 24) & 0xff] ^
              sw_table[3][(w >> 32) & 0xff] ^ sw_table[2][(w >> 40) & 0xff] ^
              sw_table[1][(w >> 48) & 0xff] ^ sw_table[0][w >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ sw_table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>

/* The crc32 instruction is latency-bound to ~5 GB/s here and interleaving
 * streams of it gains little on AMD EPYC, so buffers of 64 bytes or more
 * are first folded with carry-less multiplies (PCLMULQDQ: ~10 GB/s on 4 KiB
 * pages), four 16-byte lanes at a time, down to 16 bytes whose CRC is that
 * of the whole prefix; crc32 finishes.
 *
 * The arithmetic, in GF(2)[x] modulo P (CRC-32C's polynomial): a 16-byte
 * lane loaded little-endian holds, bit i, the coefficient of x^(127-i)
 * (reflected). Moving a lane X forward by N bits is X * x^N; splitting X
 * into its first-processed half H (low qword) and the other half L gives
 * H*x^(N+64) + L*x^N, congruent mod P to H*(x^(N+64) mod P) + L*(x^N mod P),
 * which has fewer than 128 bits. A reflected 64x64 carry-less product comes
 * out multiplied by x once more, so the constants are x^(N+63) and x^(N-1)
 * mod P, stored reflected in a qword. Folding keeps the value congruent to
 * the data's polynomial, and the CRC of data depends only on that residue:
 * the final 16-byte lane is hashed in place of everything before it. */
struct fold_constants {
    uint64_t by1024[2], by768[2], by512[2], by384[2], by256[2], by128[2];
};
static struct fold_constants fold_k;
static int hw_crc, hw_fold, hw_wide;
static pthread_once_t hw_once = PTHREAD_ONCE_INIT;

/* x^n mod P, reflected into the top 32 bits of a qword. */
static uint64_t xpow_mod_reflected(unsigned n)
{
    uint64_t r = 1;
    for (unsigned i = 0; i < n; i++) {
        r <<= 1;
        if (r & (1ull << 32))
            r ^= 0x11EDC6F41ull; /* P, unreflected, with its x^32 term */
    }
    uint64_t out = 0;
    for (int d = 0; d < 32; d++)
        if ((r >> d) & 1)
            out |= 1ull << (63 - d);
    return out;
}

/* VPCLMULQDQ on 256-bit registers: the CPU has it and AVX2, and the OS
 * saves the ymm registers (OSXSAVE, and XCR0's SSE and AVX state bits).
 * leaf1_ecx is CPUID leaf 1's ECX. */
static int wide_available(unsigned leaf1_ecx)
{
    unsigned a, b, c, d;
    if (!(leaf1_ecx & bit_OSXSAVE) || !(leaf1_ecx & bit_AVX) ||
        !__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    if (!(b & bit_AVX2) || !(c & (1u << 10))) /* CPUID.7.0:ECX[10] VPCLMULQDQ */
        return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 6u) == 6u;
}

static void hw_detect(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    hw_crc = (c & bit_SSE4_2) != 0;
    hw_fold = hw_crc && (c & bit_PCLMUL) != 0;
    hw_wide = hw_fold && wide_available(c);
    const unsigned bits[6] = {1024, 768, 512, 384, 256, 128};
    uint64_t *k[6] = {fold_k.by1024, fold_k.by768, fold_k.by512,
                      fold_k.by384,  fold_k.by256, fold_k.by128};
    for (int i = 0; i < 6; i++) {
        k[i][0] = xpow_mod_reflected(bits[i] + 63);
        k[i][1] = xpow_mod_reflected(bits[i] - 1);
    }
}

__attribute__((target("sse4.2"))) static uint64_t hw_crc_tail(uint64_t c, const unsigned char *p,
                                                              size_t len)
{
    while (len > 0 && ((uintptr_t)p & 7)) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        len--;
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return c;
}

__attribute__((target("sse4.2"))) static uint32_t hw_crc32c(uint32_t crc, const void *data,
                                                            size_t len)
{
    return ~(uint32_t)hw_crc_tail(~crc, data, len);
}

__attribute__((target("sse4.2,pclmul"))) static inline __m128i fold(__m128i lane, const uint64_t k[2])
{
    __m128i kk = _mm_set_epi64x((long long)k[1], (long long)k[0]);
    return _mm_xor_si128(_mm_clmulepi64_si128(lane, kk, 0x00),
                         _mm_clmulepi64_si128(lane, kk, 0x11));
}

__attribute__((target("sse4.2,pclmul"))) static uint32_t fold_crc32c(uint32_t crc,
                                                                     const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t c = ~crc;
    if (len >= 64) {
        const __m128i *q = (const __m128i *)p;
        __m128i v0 = _mm_loadu_si128(q), v1 = _mm_loadu_si128(q + 1);
        __m128i v2 = _mm_loadu_si128(q + 2), v3 = _mm_loadu_si128(q + 3);
        /* The incoming CRC acts as if XORed into the first four bytes. */
        v0 = _mm_xor_si128(v0, _mm_cvtsi32_si128((int)(uint32_t)c));
        p += 64;
        len -= 64;
        for (; len >= 64; p += 64, len -= 64) {
            q = (const __m128i *)p;
            v0 = _mm_xor_si128(fold(v0, fold_k.by512), _mm_loadu_si128(q));
            v1 = _mm_xor_si128(fold(v1, fold_k.by512), _mm_loadu_si128(q + 1));
            v2 = _mm_xor_si128(fold(v2, fold_k.by512), _mm_loadu_si128(q + 2));
            v3 = _mm_xor_si128(fold(v3, fold_k.by512), _mm_loadu_si128(q + 3));
        }
        __m128i v = _mm_xor_si128(_mm_xor_si128(fold(v0, fold_k.by384), fold(v1, fold_k.by256)),
                                  _mm_xor_si128(fold(v2, fold_k.by128), v3));
        for (; len >= 16; p += 16, len -= 16)
            v = _mm_xor_si128(fold(v, fold_k.by128), _mm_loadu_si128((const __m128i *)p));
        c = __builtin_ia32_crc32di(0, (uint64_t)_mm_cvtsi128_si64(v));
        c = __builtin_ia32_crc32di(c, (uint64_t)_mm_extract_epi64(v, 1));
    }
    return ~(uint32_t)hw_crc_tail(c, p, len);
}

/* The same folding on 32-byte registers (VPCLMULQDQ), four of them: 128
 * bytes a round, two 16-byte lanes per register, each moved by the same
 * constants as above. The 128-bit loop was compute-bound at ~550 ns per
 * 4 KiB page on this EPYC (a fifth of a random bulk load's user time, in
 * the checksums of the pages a commit writes); this one is ~2.5x faster.
 * At the end the four registers fold into one, the one into a 16-byte
 * lane, and the 128-bit tail takes over. len >= 128. */
__attribute__((target("avx2,vpclmulqdq,sse4.2,pclmul"))) static inline __m256i
fold_wide(__m256i lane, const uint64_t k[2])
{
    __m256i kk = _mm256_set_epi64x((long long)k[1], (long long)k[0], (long long)k[1],
                                   (long long)k[0]);
    return _mm256_xor_si256(_mm256_clmulepi64_epi128(lane, kk, 0x00),
                            _mm256_clmulepi64_epi128(lane, kk, 0x11));
}

__attribute__((target("avx2,vpclmulqdq,sse4.2,pclmul"))) static uint32_t
wide_crc32c(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    const __m256i *q = (const __m256i *)p;
    __m256i y0 = _mm256_loadu_si256(q), y1 = _mm256_loadu_si256(q + 1);
    __m256i y2 = _mm256_loadu_si256(q + 2), y3 = _mm256_loadu_si256(q + 3);
    y0 = _mm256_xor_si256(y0, _mm256_set_epi32(0, 0, 0, 0, 0, 0, 0, (int)~crc));
    p += 128;
    len -= 128;
    for (; len >= 128; p += 128, len -= 128) {
        q = (const __m256i *)p;
        y0 = _mm256_xor_si256(fold_wide(y0, fold_k.by1024), _mm256_loadu_si256(q));
        y1 = _mm256_xor_si256(fold_wide(y1, fold_k.by1024), _mm256_loadu_si256(q + 1));
        y2 = _mm256_xor_si256(fold_wide(y2, fold_k.by1024), _mm256_loadu_si256(q + 2));
        y3 = _mm256_xor_si256(fold_wide(y3, fold_k.by1024), _mm256_loadu_si256(q + 3));
    }
    __m256i y = _mm256_xor_si256(
        _mm256_xor_si256(fold_wide(y0, fold_k.by768), fold_wide(y1, fold_k.by512)),
        _mm256_xor_si256(fold_wide(y2, fold_k.by256), y3));
    for (; len >= 32; p += 32, len -= 32)
        y = _mm256_xor_si256(fold_wide(y, fold_k.by256), _mm256_loadu_si256((const __m256i *)p));
    __m128i v = _mm_xor_si128(fold(_mm256_castsi256_si128(y), fold_k.by128),
                              _mm256_extracti128_si256(y, 1));
    for (; len >= 16; p += 16, len -= 16)
        v = _mm_xor_si128(fold(v, fold_k.by128), _mm_loadu_si128((const __m128i *)p));
    uint64_t c = __builtin_ia32_crc32di(0, (uint64_t)_mm_cvtsi128_si64(v));
    c = __builtin_ia32_crc32di(c, (uint64_t)_mm_extract_epi64(v, 1));
    return ~(uint32_t)hw_crc_tail(c, p, len);
}

int ldb__crc32c_hw_available(void)
{
    pthread_once(&hw_once, hw_detect);
    return hw_crc;
}

int ldb__crc32c_wide_available(void)
{
    pthread_once(&hw_once, hw_detect);
    return hw_wide;
}

uint32_t ldb__crc32c_fold128(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&hw_once, hw_detect);
    return hw_fold ? fold_crc32c(crc, data, len) : ldb__crc32c_hw_serial(crc, data, len);
}

uint32_t ldb__crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&hw_once, hw_detect);
    if (hw_wide && len >= 128)
        return wide_crc32c(crc, data, len);
    if (hw_fold)
        return fold_crc32c(crc, data, len);
    if (hw_crc)
        return hw_crc32c(crc, data, len);
    return ldb__crc32c_sw(crc, data, len);
}

uint32_t ldb__crc32c_hw_serial(uint32_t crc, const void *data, size_t len)
{
    return ldb__crc32c_hw_available() ? hw_crc32c(crc, data, len) : ldb__crc32c_sw(crc, data, len);
}
#elif defined(__aarch64__) && defined(__GNUC__) && defined(__linux__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#include <arm_acle.h>
#include <sys/auxv.h>

#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1ul << 7) /* Linux arm64 uapi <asm/hwcap.h> */
#endif

/* The crc32c instructions are optional in ARMv8.0 (mandatory from v8.1),
 * and the build does not assume them (no -march), so the function using
 * them is compiled for +crc alone and chosen at run time from AT_HWCAP.
 * Eight bytes per instruction. No PMULL folding as on x86-64: without
 * arm64 hardware to measure on, the simple path is the one to keep. */
static int hw_crc;
static pthread_once_t hw_once = PTHREAD_ONCE_INIT;

static void hw_detect(void)
{
    hw_crc = (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
}

__attribute__((target("+crc"))) static uint32_t arm_crc32c(uint32_t crc, const void *data,
                                                           size_t len)
{
    const unsigned char *p = data;
    crc = ~crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        crc = __crc32cd(crc, w);
    }
    for (; len > 0; p++, len--)
        crc = __crc32cb(crc, *p);
    return ~crc;
}

int ldb__crc32c_hw_available(void)
{
    pthread_once(&hw_once, hw_detect);
    return hw_crc;
}

uint32_t ldb__crc32c_hw_serial(uint32_t crc, const void *data, size_t len)
{
    return ldb__crc32c_hw_available() ? arm_crc32c(crc, data, len) : ldb__crc32c_sw(crc, data, len);
}

uint32_t ldb__crc32c(uint32_t crc, const void *data, size_t len)
{
    return ldb__crc32c_hw_serial(crc, data, len);
}
#else
int ldb__crc32c_hw_available(void)
{
    return 0;
}

uint32_t ldb__crc32c_hw_serial(uint32_t crc, const void *data, size_t len)
{
    return ldb__crc32c_sw(crc, data, len);
}

uint32_t ldb__crc32c(uint32_t crc, const void *data, size_t len)
{
    return ldb__crc32c_sw(crc, data, len);
}
#endif
#if !(defined(__x86_64__) && defined(__GNUC__))
/* Only x86-64 has the folding paths. */
int ldb__crc32c_wide_available(void)
{
    return 0;
}

uint32_t ldb__crc32c_fold128(uint32_t crc, const void *data, size_t len)
{
    return ldb__crc32c(crc, data, len);
}
#endif
