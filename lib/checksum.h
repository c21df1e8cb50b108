/* SPDX-License-Identifier: MIT */
/*
 * CRC32C (Castagnoli), the checksum of every page and meta page.
 *
 * Chosen over xxHash (XXH3) after measuring both on 4 KiB pages here: the
 * SSE4.2 crc32 instruction gives 4.1-4.3 GB/s, XXH3 5.7 GB/s with SSE2 and
 * 9.5 GB/s only with AVX2 (which would need runtime dispatch), so CRC32C
 * costs at most ~0.5 us more per page, needs no extra dependency, and
 * detects every burst error up to 32 bits. Slicing-by-8 tables (~1 GB/s)
 * serve CPUs without SSE4.2. Three interleaved crc32 streams measured only
 * 1.2x faster on this AMD EPYC; folding with PCLMULQDQ first measured 1.9x
 * (9.2-9.9 vs 4.9-5.3 GB/s on 4092-byte buffers), so that is the fast path.
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
/* The crc32-instruction-only path (tables without SSE4.2), exposed so
 * tests compare it with the folding path. */
uint32_t ldb__crc32c_hw_serial(uint32_t crc, const void *data, size_t len);
/* 1 when buffers of 128 bytes or more take the 256-bit folding path
 * (x86-64 with AVX2 and VPCLMULQDQ). */
int ldb__crc32c_wide_available(void);
/* The 128-bit folding path whatever the CPU offers beyond it (the serial
 * one without PCLMULQDQ), exposed so tests compare it with the wide one. */
uint32_t ldb__crc32c_fold128(uint32_t crc, const void *data, size_t len);

#endif
