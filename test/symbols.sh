#!/bin/sh
# SPDX-License-Identifier: MIT
# The shared library exports only public ldb_ names, each bound to a
# version node of lib/liblightningdb.map, and the 0.1.0 names to
# LIGHTNINGDB_0.1. Exit 77 (skipped) without a shared library or nm.
lib=lib/.libs/liblightningdb.so
[ -e "$lib" ] || { echo "symbols: no $lib (static-only build)"; exit 77; }
command -v nm >/dev/null 2>&1 || { echo "symbols: no nm"; exit 77; }
out=$(nm -D --defined-only "$lib") || exit 99
echo "$out"
status=0
count=0
# Lines are "VALUE TYPE NAME@@NODE"; the nodes themselves are type A.
syms=$(echo "$out" | awk '$2 != "A" { print $3 }')
for s in $syms; do
    count=$((count + 1))
    case $s in
    ldb_[a-z]*@@LIGHTNINGDB_[0-9]*.[0-9]*) ;;
    *)
        echo "symbols: unexpected export: $s"
        status=1
        ;;
    esac
done
for s in ldb_open ldb_strerror ldb_stat_env ldb_dbi_stat ldb_version; do
    echo "$syms" | grep -qx "$s@@LIGHTNINGDB_0.1" ||
        { echo "symbols: $s is not in LIGHTNINGDB_0.1"; status=1; }
done
echo "$syms" | grep -qx 'ldb_open_sized@@LIGHTNINGDB_0.2' ||
    { echo "symbols: ldb_open_sized is not in LIGHTNINGDB_0.2"; status=1; }
[ "$count" -gt 20 ] || { echo "symbols: only $count exports"; status=1; }
echo "symbols: $count exports checked"
exit $status
