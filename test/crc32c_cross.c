/* SPDX-License-Identifier: MIT */
/*
 * crc32c_cross.c: the CRC32C paths of lib/checksum.c against the table
 * path and a known vector, without Check, for a cross-compiled build run
 * under qemu-user (test/cross-arm64.sh): Check is not installed for the
 * target. check_checksum covers the same natively. Known answers: the
 * iSCSI vectors of RFC 3720 (B.4), and one digest of the checksums of
 * every length and alignment the sweep below takes, fixed here and
 * therefore the same on x86-64 (cross-arm64.sh runs this natively too)
 * and arm64. Exit 0 when every comparison holds; with --want-hw, only if
 * the hardware path was used.
 */
#include <stdio.h>
#include <string.h>

#include "checksum.h"

/* The sweep's digest: the CRC32C of every checksum (little-endian). */
#define SWEEP_DIGEST 0xEE37770Bu

static int known_answers(void)
{
    static const struct {
        unsigned char fill, step; /* byte i = fill + i * step */
        uint32_t crc;
    } rfc3720[] = {{0x00, 0, 0x8A9136AAu}, {0xFF, 0, 0x62A8AB43u},
                   {0x00, 1, 0x46DD794Eu}, {0x1F, 0xFF, 0x113FDB5Cu}};
    int bad = 0;
    if (ldb__crc32c(0, "123456789", 9) != 0xE3069283u) {
        printf("crc32c(\"123456789\") = %08x, want e3069283\n", ldb__crc32c(0, "123456789", 9));
        bad++;
    }
    for (size_t v = 0; v < sizeof rfc3720 / sizeof rfc3720[0]; v++) {
        unsigned char b[32];
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)(rfc3720[v].fill + i * rfc3720[v].step);
        if (ldb__crc32c(0, b, sizeof b) != rfc3720[v].crc) {
            printf("RFC 3720 vector %zu: %08x, want %08x\n", v, ldb__crc32c(0, b, sizeof b),
                   rfc3720[v].crc);
            bad++;
        }
    }
    return bad;
}

int main(int argc, char **argv)
{
    int want_hw = argc > 1 && strcmp(argv[1], "--want-hw") == 0;
    static unsigned char buf[4096 + 16];
    int bad = 0;

    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 131 + (i >> 7));
    uint32_t digest = 0;
    bad += known_answers();
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len <= 4096; len += len < 80 ? 1 : 61) {
            uint32_t sw = ldb__crc32c_sw(7, buf + off, len);
            if (ldb__crc32c(7, buf + off, len) != sw ||
                ldb__crc32c_hw_serial(7, buf + off, len) != sw) {
                printf("mismatch at offset %zu, length %zu\n", off, len);
                bad++;
            }
            unsigned char le[4] = {(unsigned char)sw, (unsigned char)(sw >> 8),
                                   (unsigned char)(sw >> 16), (unsigned char)(sw >> 24)};
            digest = ldb__crc32c_sw(digest, le, sizeof le);
        }
    if (digest != SWEEP_DIGEST) {
        printf("sweep digest %08x, want %08x\n", digest, SWEEP_DIGEST);
        bad++;
    }
    printf("crc32c: hardware path %s, %d mismatches\n",
           ldb__crc32c_hw_available() ? "used" : "not available", bad);
    return bad != 0 || (want_hw && !ldb__crc32c_hw_available());
}
