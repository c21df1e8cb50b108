/* SPDX-License-Identifier: MIT */
/*
 * crc32c_cross.c: the CRC32C paths of lib/checksum.c against the table
 * path and a known vector, without Check, for a cross-compiled build run
 * under qemu-user (test/cross-arm64.sh): Check is not installed for the
 * target. check_checksum covers the same natively. Exit 0 when every
 * comparison holds; with --want-hw, only if the hardware path was used.
 */
#include <stdio.h>
#include <string.h>

#include "checksum.h"

int main(int argc, char **argv)
{
    int want_hw = argc > 1 && strcmp(argv[1], "--want-hw") == 0;
    static unsigned char buf[4096 + 16];
    int bad = 0;

    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 131 + (i >> 7));
    if (ldb__crc32c(0, "123456789", 9) != 0xE3069283u) {
        printf("crc32c(\"123456789\") = %08x, want e3069283\n", ldb__crc32c(0, "123456789", 9));
        bad++;
    }
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len <= 4096; len += len < 80 ? 1 : 61) {
            uint32_t sw = ldb__crc32c_sw(7, buf + off, len);
            if (ldb__crc32c(7, buf + off, len) != sw ||
                ldb__crc32c_hw_serial(7, buf + off, len) != sw) {
                printf("mismatch at offset %zu, length %zu\n", off, len);
                bad++;
            }
        }
    printf("crc32c: hardware path %s, %d mismatches\n",
           ldb__crc32c_hw_available() ? "used" : "not available", bad);
    return bad != 0 || (want_hw && !ldb__crc32c_hw_available());
}
