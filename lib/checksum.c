/*
 * checksum.c: CRC32C, hardware (SSE4.2) when the CPU has it, else
 * slicing-by-8 tables. Both give identical results; check_checksum tests so.
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
        w ^= crc; /* little-endian hosts only; x86-64 and aarch64 */
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

__attribute__((target("sse4.2"))) static uint32_t hw_crc32c(uint32_t crc, const void *data,
                                                            size_t len)
{
    const unsigned char *p = data;
    uint64_t c = ~crc;
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
    return ~(uint32_t)c;
}

static int hw_checked, hw_present;

int ldb__crc32c_hw_available(void)
{
    if (!__atomic_load_n(&hw_checked, __ATOMIC_ACQUIRE)) {
        unsigned a, b, c, d;
        int has = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2);
        __atomic_store_n(&hw_present, has, __ATOMIC_RELAXED);
        __atomic_store_n(&hw_checked, 1, __ATOMIC_RELEASE);
    }
    return __atomic_load_n(&hw_present, __ATOMIC_RELAXED);
}

uint32_t ldb__crc32c(uint32_t crc, const void *data, size_t len)
{
    if (ldb__crc32c_hw_available())
        return hw_crc32c(crc, data, len);
    return ldb__crc32c_sw(crc, data, len);
}
#else
int ldb__crc32c_hw_available(void)
{
    return 0;
}

uint32_t ldb__crc32c(uint32_t crc, const void *data, size_t len)
{
    return ldb__crc32c_sw(crc, data, len);
}
#endif
