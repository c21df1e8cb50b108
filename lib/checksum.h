/*
 * CRC32C (Castagnoli), the checksum of every page and meta page.
 *
 * Chosen over xxHash because it needs no extra dependency, detects all burst
 * errors up to 32 bits, and the SSE4.2 crc32 instruction computes it at many
 * GB/s (three interleaved streams); a table-driven fallback serves other CPUs.
 */
#ifndef LDB_CHECKSUM_H
#define LDB_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* CRC32C of len bytes, continuing from crc (start with 0). */
uint32_t ldb__crc32c(uint32_t crc, const void *data, size_t len);
/* The portable implementation, exposed so tests compare both paths. */
uint32_t ldb__crc32c_sw(uint32_t crc, const void *data, size_t len);
/* 1 when the hardware path is in use. */
int ldb__crc32c_hw_available(void);

#endif
