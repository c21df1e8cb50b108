#!/bin/sh
# SPDX-License-Identifier: MIT
# configure's --with-liburing/--with-zstd/--with-lz4: asking for one that
# pkg-config cannot find stops configure with an error naming the package
# to install (here pkg-config is pointed at an empty directory), and a bad
# value is refused; lightningdb.pc lists liburing, libzstd and liblz4 in
# Requires.private exactly when the library links them. Run from the build directory.
srcdir=${srcdir:-.}
tmp=$(mktemp -d "${LDB_TEST_TMPDIR:-${TMPDIR:-/tmp}}/configure-with.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
status=0
srcdir=$(cd "$srcdir" && pwd)
mkdir "$tmp/empty" "$tmp/b1"
if (cd "$tmp/b1" && PKG_CONFIG_LIBDIR=$tmp/empty PKG_CONFIG_PATH= \
    "$srcdir/configure" --with-liburing=no --with-zstd=yes >"$tmp/out" 2>&1); then
    echo "configure-with: --with-zstd=yes succeeded without libzstd"
    status=1
fi
grep -q 'error: --with-zstd: libzstd.* not found by pkg-config; install libzstd-dev' "$tmp/out" ||
    { echo "configure-with: no clear error:"; tail -n 5 "$tmp/out"; status=1; }
# A bad value fails before any compiler check.
if (cd "$tmp/b1" && "$srcdir/configure" --with-lz4=maybe >"$tmp/out2" 2>&1); then
    echo "configure-with: --with-lz4=maybe accepted"
    status=1
fi
grep -q 'error: --with-lz4=maybe: use yes, no or auto' "$tmp/out2" ||
    { echo "configure-with: bad value not named:"; tail -n 5 "$tmp/out2"; status=1; }
for dep in LIBURING:liburing:-luring ZSTD:libzstd:-lzstd LZ4:liblz4:-llz4; do
    def=${dep%%:*}
    rest=${dep#*:}
    module=${rest%%:*}
    flag=${rest#*:}
    if grep -q "^#define HAVE_$def 1" config.h; then
        grep -q "^Requires.private:.* $module\( \|\$\)" lightningdb.pc ||
            { echo "configure-with: lightningdb.pc lacks Requires.private: $module"; status=1; }
        grep -q "^Libs.private:.*$flag" lightningdb.pc &&
            { echo "configure-with: $flag in Libs.private as well"; status=1; }
    else
        grep -q "^Requires.private:.* $module" lightningdb.pc &&
            { echo "configure-with: $module required but not built in"; status=1; }
    fi
done
[ "$status" = 0 ] && echo "configure-with: errors clear, lightningdb.pc right"
exit $status
