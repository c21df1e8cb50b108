#!/bin/sh
# SPDX-License-Identifier: MIT
# s390x (big-endian): the file format is the same on both byte orders.
# test/endian_cross.c and every file of lib/ are built twice, natively and
# with Debian's gcc-s390x-linux-gnu (run under qemu-s390x), without the
# optional libraries. A database one build writes (overflow runs, deletes,
# a named tree, txns left in the log to replay) the other reads, checks,
# changes and backs up, and the first checks the result: both directions.
# With --all-lib (CI), the cross compile is warnings-fatal. Run from the
# build directory; exit 77 (skipped) without the cross compiler or qemu.
srcdir=${srcdir:-.}
cc=s390x-linux-gnu-gcc
command -v $cc >/dev/null 2>&1 || { echo "cross-s390x: no $cc"; exit 77; }
command -v qemu-s390x >/dev/null 2>&1 || { echo "cross-s390x: no qemu-s390x"; exit 77; }
out=test/cross-s390x.d
rm -rf "$out" && mkdir -p "$out" || exit 99
flags="-std=gnu11 -O2 -Wall -Wextra -Wshadow -Wstrict-prototypes -D_GNU_SOURCE \
    -DPACKAGE_VERSION=\"cross\" -I$srcdir/lib -Iinclude -I$srcdir/include"
werror=
[ "${1:-}" = --all-lib ] && werror=-Werror
# shellcheck disable=SC2086 # $flags is a list
$cc $flags $werror -static -pthread -o "$out/endian_s390x" "$srcdir/test/endian_cross.c" \
    "$srcdir"/lib/*.c -lm || exit 1
echo "cross-s390x: $(ls "$srcdir"/lib/*.c | wc -l) files of lib/ compiled for s390x"
# shellcheck disable=SC2086
${CC:-cc} $flags -pthread -o "$out/endian_native" "$srcdir/test/endian_cross.c" \
    "$srcdir"/lib/*.c -lm || exit 1
native="$out/endian_native"
s390x="qemu-s390x $out/endian_s390x"
# One direction: $1 writes, $2 reads and changes, $1 checks the result.
trip() {
    dir=$out/$3
    mkdir -p "$dir" || exit 99
    $1 write "$dir" || { echo "cross-s390x: $3: write failed"; exit 1; }
    rm -f "$dir/db.ldb-lock" # host-local: never moved between machines
    $2 read "$dir" || { echo "cross-s390x: $3: read failed"; exit 1; }
    rm -f "$dir"/*-lock
    $1 verify "$dir" || { echo "cross-s390x: $3: verify failed"; exit 1; }
}
trip "$s390x" "$native" s390x-to-native
trip "$native" "$s390x" native-to-s390x
rm -rf "$out"
echo "cross-s390x: both directions read, replayed and checked"
