#!/bin/sh
# SPDX-License-Identifier: MIT
# Every source file of the distribution carries the licence line: line 1,
# or line 2 after a "#!" line. The files are found by where they live, not
# by a list, so a new file that forgets the line fails make check.
# Run from make check (which sets srcdir) or by hand from the source tree.
srcdir=${srcdir:-.}
cd "$srcdir" || exit 99
tag='SPDX-License-Identifier: MIT'
missing=0
checked=0
files=$(
    ls Makefile.am configure.ac lightningdb.pc.in 2>/dev/null
    ls .ci/run docs/man/*.[0-9] 2>/dev/null
    find include lib tools test perf examples -type f \
        \( -name '*.c' -o -name '*.h' -o -name '*.in' -o -name '*.sh' \
           -o -name '*.map' \) 2>/dev/null
)
for f in $files; do
    # Files a configure run writes into an in-tree build carry the tag of
    # their .in template; config.h is autoheader's.
    case $f in */config.h) continue ;; esac
    checked=$((checked + 1))
    if head -n 1 "$f" | grep -q '^#!'; then
        line=$(sed -n 2p "$f")
    else
        line=$(sed -n 1p "$f")
    fi
    case $line in
    *"$tag"*) ;;
    *)
        echo "spdx: $f: no '$tag' on its first line"
        missing=$((missing + 1))
        ;;
    esac
done
echo "spdx: $checked files checked, $missing without the licence line"
[ "$checked" -gt 0 ] || exit 99
[ "$missing" -eq 0 ]
