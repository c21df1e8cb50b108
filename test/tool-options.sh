#!/bin/sh
# SPDX-License-Identifier: MIT
# The lightningdb command's options text (issue 13): -o KEY=VALUE before or
# after the command, and LIGHTNINGDB_OPTIONS, reach ldb_open; a bad key or
# value is a usage error (exit 2) that names it. Ends "N passed, N failed".
set -u
tool=./tools/lightningdb
[ -x "$tool" ] || { echo "no $tool: run from the build directory"; exit 77; }
work=$(mktemp -d "${LDB_TEST_TMPDIR:-/tmp}/tool-options.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
check() { # description, then a command whose success is the check
    what=$1
    shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $what"; fi
}
dump='# lightningdb-dump 1
6b 76
# end: 1 entries'

printf '%s\n' "$dump" | "$tool" -o page_size=16KiB load "$work/a.ldb" >/dev/null
check "-o before the command sets the page size" \
    sh -c "'$tool' stat '$work/a.ldb' | grep -q '^page size: *16384\$'"
printf '%s\n' "$dump" | "$tool" load "$work/b.ldb" -o page_size=32KiB >/dev/null
check "-o after the command" \
    sh -c "'$tool' stat '$work/b.ldb' | grep -q '^page size: *32768\$'"
printf '%s\n' "$dump" | LIGHTNINGDB_OPTIONS='page_size=8KiB' "$tool" load "$work/c.ldb" >/dev/null
check "LIGHTNINGDB_OPTIONS" \
    sh -c "'$tool' stat '$work/c.ldb' | grep -q '^page size: *8192\$'"
printf '%s\n' "$dump" | LIGHTNINGDB_OPTIONS='page_size=8KiB' "$tool" -o page_size=64KiB \
    load "$work/d.ldb" >/dev/null
check "-o overrides the environment" \
    sh -c "'$tool' stat '$work/d.ldb' | grep -q '^page size: *65536\$'"
check "max_readers reaches the lock file" \
    sh -c "'$tool' stat '$work/a.ldb' -o max_readers=9 | grep -q '^readers max: *9\$'"

"$tool" stat "$work/a.ldb" -o cache_sise=1MiB >/dev/null 2>"$work/err"
rc=$?
check "a bad key exits 2" test "$rc" = 2
check "and names the key" grep -q "unknown option 'cache_sise'" "$work/err"
LIGHTNINGDB_OPTIONS='sync_mode=maybe' "$tool" stat "$work/a.ldb" >/dev/null 2>"$work/err"
rc=$?
check "a bad environment value exits 2" test "$rc" = 2
check "and names the variable and value" \
    grep -q "LIGHTNINGDB_OPTIONS: sync_mode: bad value 'maybe'" "$work/err"
"$tool" -o max_size=99999999999999999999 stat "$work/a.ldb" >/dev/null 2>"$work/err"
check "an overflowing size exits 2" test $? = 2
printf '%s\n' "$dump" | sed 's/^6b 76$/6c 77/' | "$tool" -o rdonly=1 load "$work/a.ldb" \
    >/dev/null 2>&1
check "-o rdonly=1 makes load fail" test $? = 1
check "and nothing was written" sh -c "'$tool' dump '$work/a.ldb' | grep -q '^6b 76\$' &&
    ! '$tool' dump '$work/a.ldb' | grep -q '^6c'"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
