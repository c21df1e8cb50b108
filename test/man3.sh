#!/bin/sh
# SPDX-License-Identifier: MIT
# A man page per public function (issue 13): every LDB_API function of the
# header has docs/man/man3/NAME.3, each page renders with groff -ww without
# a warning (a .so page's target exists), and, where python3 is installed,
# the committed pages are what docs/man/gen-man3 makes of the header now
# (so a changed comment needs `make man3`). Ends "N passed, N failed".
set -u
srcdir=${srcdir:-.}
header=$srcdir/include/lightningdb.h
dir=$srcdir/docs/man/man3
passed=0
failed=0
bad() { failed=$((failed + 1)); echo "FAILED: $*"; }
for f in $(sed -n 's/^LDB_API[^;(]*[ *]\(ldb_[a-z0-9_]*\) *(.*/\1/p' "$header"); do
    page=$dir/$f.3
    if [ ! -f "$page" ]; then
        bad "no man page for $f ($page)"
        continue
    fi
    if head -n 1 "$page" | grep -q '^\.so '; then
        target=$srcdir/docs/man/$(sed -n '1s/^\.so //p' "$page")
        [ -f "$target" ] || { bad "$page: .so target $target missing"; continue; }
    elif command -v groff >/dev/null 2>&1; then
        out=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
        [ -z "$out" ] || { bad "$page: groff: $out"; continue; }
    fi
    passed=$((passed + 1))
done
if command -v python3 >/dev/null 2>&1; then
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/man3.XXXXXX")
    if python3 "$srcdir/docs/man/gen-man3" "$srcdir" "$tmp" && diff -r "$dir" "$tmp" >"$tmp.diff"; then
        passed=$((passed + 1))
    else
        bad "docs/man/man3 is stale: run 'make man3'"
        head -20 "$tmp.diff"
    fi
    rm -rf "$tmp" "$tmp.diff"
else
    echo "skipped: staleness check (no python3)"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
