#!/bin/sh
# SPDX-License-Identifier: MIT
# The unit suites on another architecture: `test/qemu-suites.sh ARCH [SUITE...]`
# (ARCH: s390x, big-endian, or arm64) cross-compiles lib/ and each Check
# suite with Debian's cross compiler, links them statically against the
# foreign Check (check:ARCH, multiarch) and runs them under qemu-user.
#
# The build is the test-hook one (-DLDB_TEST_HOOKS) with LZ4 and zstd
# when liblz4-dev:ARCH and libzstd-dev:ARCH are there (a Debian point
# release can leave the foreign zstd package older than the native one,
# which multiarch refuses: CI then unpacks it under LDB_CROSS_ROOT) and
# the log on pwrite (qemu-user has no io_uring).
# The default map is 1 GiB: qemu reserves the guest's address space up
# front and refuses a 64 GiB map.
#
# Left out: the suites that kill processes or depend on a dead owner's
# robust mutex (qemu-user does not implement set_robust_list: kill, crash,
# multiproc, readers, snapshot), the ones that time threads against each
# other (emulation is 10-50x slower: transfer), and the ones that run the
# lightningdb command (hostile, metrics).
# Run from a configured build directory; exit 77 when the cross compiler,
# qemu or the foreign Check is missing.
srcdir=${srcdir:-.}
arch=${1:-s390x}
[ $# -gt 0 ] && shift
case $arch in
s390x) triple=s390x-linux-gnu qemu=qemu-s390x ;;
arm64) triple=aarch64-linux-gnu qemu=qemu-aarch64 ;;
*) echo "qemu-suites: unknown architecture '$arch' (s390x or arm64)" >&2; exit 2 ;;
esac
# s390x, big-endian, runs every suite qemu can. arm64 is little-endian like
# x86-64 and has an unsigned char like s390x: what is its own is the CRC32C
# path, so it runs the suites of the format, the codecs and the log.
case $arch in
s390x) suites="check_page check_checksum check_options check_abi check_api check_btree
    check_cursor check_dbi check_catalog check_model check_compress check_dict check_damage
    check_wal check_recovery check_waldamage check_backup check_restore check_space
    check_immutable check_writepath check_readpath check_runs" ;;
arm64) suites="check_page check_checksum check_btree check_cursor check_compress check_wal
    check_recovery" ;;
esac
suites=${*:-$suites}
cc=$triple-gcc
libdir=/usr/lib/$triple
command -v "$cc" >/dev/null 2>&1 || { echo "qemu-suites: no $cc"; exit 77; }
command -v "$qemu" >/dev/null 2>&1 || { echo "qemu-suites: no $qemu"; exit 77; }
[ -f "$libdir/libcheck.a" ] || { echo "qemu-suites: no check:$arch ($libdir/libcheck.a)"; exit 77; }

out=test/qemu-$arch.d
rm -rf "$out" && mkdir -p "$out/obj" || exit 99
version=$(sed -n 's/^#define PACKAGE_VERSION //p' config.h)
[ -n "$version" ] || { echo "qemu-suites: run from a configured build directory" >&2; exit 99; }
defs="-DLDB_TEST_HOOKS=1 -DLDB_TEST_DEFAULT_MAX_SIZE=(1ULL<<30) -DPACKAGE_VERSION=$version"
libs="-lcheck -lsubunit -lm -lrt"
flags="-std=gnu11 -O1 -g0 -D_GNU_SOURCE -I$srcdir/lib -Iinclude -I$srcdir/include -I$srcdir/test"
if [ -f "$libdir/liblz4.a" ]; then
    defs="$defs -DHAVE_LZ4=1"
    libs="-llz4 $libs"
fi
# zstd: libzstd-dev:ARCH, or the package unpacked under $LDB_CROSS_ROOT/ARCH
# (`dpkg-deb -x`) where multiarch refuses it beside a newer native one.
zroot=${LDB_CROSS_ROOT:-/opt/ldb-cross}/$arch
if [ -f "$libdir/libzstd.a" ]; then
    defs="$defs -DHAVE_ZSTD=1"
    libs="-lzstd $libs"
elif [ -f "$zroot/usr/lib/$triple/libzstd.a" ]; then
    defs="$defs -DHAVE_ZSTD=1"
    flags="$flags -I$zroot/usr/include"
    libs="-L$zroot/usr/lib/$triple -lzstd $libs"
fi
case $defs in
*HAVE_ZSTD*) ;;
*) echo "qemu-suites: $arch: no zstd for $arch: the zstd cases skip" ;;
esac

# lib/ and the test helpers once, then one static program per suite.
for f in "$srcdir"/lib/*.c "$srcdir"/test/testutil.c "$srcdir"/test/workload.c \
    "$srcdir"/test/v1log.c; do
    o=$out/obj/$(basename "$f" .c).o
    # shellcheck disable=SC2086 # $flags and $defs are lists
    $cc $flags $defs -c -o "$o" "$f" 2>"$o.err" || { cat "$o.err"; exit 1; }
done
failed=
ran=0
for s in $suites; do
    [ -f "$srcdir/test/$s.c" ] || { echo "qemu-suites: no suite $s" >&2; exit 2; }
    # shellcheck disable=SC2086
    $cc $flags $defs -static -pthread -o "$out/$s" "$srcdir/test/$s.c" "$out"/obj/*.o $libs ||
        exit 1
    dir=$out/run-$s
    mkdir -p "$dir"
    t0=$(date +%s)
    # Loops shortened as in CI's TSan step: emulation is slow, and the
    # native make check runs them in full.
    if (cd "$dir" && CK_DEFAULT_TIMEOUT=600 LDB_TEST_QUICK=1 \
        LDB_DAMAGE_ROUNDS=${LDB_DAMAGE_ROUNDS:-40} LDB_WAL_TAIL_ROUNDS=${LDB_WAL_TAIL_ROUNDS:-10} \
        $qemu "../$s" >log 2>&1); then
        echo "qemu-suites: $arch: $s ($(($(date +%s) - t0)) s): $(tail -n 1 "$dir/log")"
    else
        echo "qemu-suites: $arch: $s FAILED:"
        tail -n 30 "$dir/log"
        failed="$failed $s"
    fi
    ran=$((ran + 1))
done
[ -z "$failed" ] || { echo "qemu-suites: $arch: failed:$failed"; exit 1; }
rm -rf "$out"
echo "qemu-suites: $arch: $ran suites passed under $qemu"
