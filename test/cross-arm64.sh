#!/bin/sh
# SPDX-License-Identifier: MIT
# arm64: lib/checksum.c cross-compiled with Debian's gcc-aarch64-linux-gnu,
# its CRC32C paths (the ARMv8 crc32c instructions, the tables) checked
# against each other under qemu-aarch64 -cpu max (which has the
# instructions: --want-hw fails if they went unused). The same program
# built natively first: both must give its known answers (RFC 3720's
# vectors and a digest of a sweep of lengths and alignments), so arm64's
# checksums are the host's. With --all-lib (CI),
# every file of lib/ is compiled for arm64 first, warnings fatal. Run from
# the build directory; exit 77 (skipped) without the cross compiler or qemu.
srcdir=${srcdir:-.}
cc=aarch64-linux-gnu-gcc
command -v $cc >/dev/null 2>&1 || { echo "cross-arm64: no $cc"; exit 77; }
command -v qemu-aarch64 >/dev/null 2>&1 || { echo "cross-arm64: no qemu-aarch64"; exit 77; }
out=test/cross-arm64.d
rm -rf "$out" && mkdir -p "$out" || exit 99
xcc() {
    $cc -std=gnu11 -O2 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -D_GNU_SOURCE -DPACKAGE_VERSION='"cross"' \
        -I"$srcdir/lib" -Iinclude -I"$srcdir/include" "$@"
}
if [ "${1:-}" = --all-lib ]; then
    n=0
    for f in "$srcdir"/lib/*.c; do
        xcc -c "$f" -o "$out/$(basename "${f%.c}").o" || exit 1
        n=$((n + 1))
    done
    echo "cross-arm64: $n files of lib/ compiled for arm64"
fi
${CC:-cc} -std=gnu11 -O2 -D_GNU_SOURCE -DPACKAGE_VERSION='"native"' -I"$srcdir/lib" -Iinclude \
    -I"$srcdir/include" -pthread -o "$out/crc32c_native" "$srcdir/test/crc32c_cross.c" \
    "$srcdir/lib/checksum.c" || exit 1
printf 'native: ' && "$out/crc32c_native" || exit 1
xcc -static -pthread -o "$out/crc32c_cross" "$srcdir/test/crc32c_cross.c" \
    "$srcdir/lib/checksum.c" || exit 1
printf 'arm64:  ' && qemu-aarch64 -cpu max "$out/crc32c_cross" --want-hw || exit 1
rm -rf "$out"
