#!/bin/sh
# SPDX-License-Identifier: MIT
# lightningdb backup (issue 12), end to end through the command: a copy to a
# file, a compact one, one streamed to stdout, each checked with --immutable
# and dumped equal to the original; an existing DEST is refused (exit 1,
# left as it was); usage errors exit 2. Ends with a Check-style summary line
# (CI counts test cases from it).
name=tool-backup
. "${srcdir:-.}/test/tool-lib.sh"

# A database with a main tree and a named tree, some values on overflow pages.
big=$(head -c 6000 /dev/zero | tr '\0' 'a' | od -An -v -tx1 | tr -d ' \n')
{
    echo "# lightningdb-dump 1"
    i=0
    while [ $i -lt 300 ]; do
        printf '6b6579%06d 76616c7565%04x\n' $i $i
        i=$((i + 1))
    done
    echo "6269670a $big"
    echo "# end: 301 entries"
} >"$dir/main.dump"
check "load main" sh -c "$tool load '$dir/db' <'$dir/main.dump' >/dev/null"
check "load named" sh -c "$tool load '$dir/db' --tree users <'$dir/main.dump' >/dev/null"

check "backup" sh -c "$tool backup '$dir/db' '$dir/plain' >/dev/null"
check "backup --compact" sh -c "$tool backup '$dir/db' '$dir/compact' --compact >/dev/null"
check "backup to stdout" sh -c "$tool backup '$dir/db' - >'$dir/streamed'"
check "streamed = file" cmp -s "$dir/plain" "$dir/streamed"
"$tool" dump "$dir/db" --tree users >"$dir/want.dump"
for copy in plain compact streamed; do
    check "check $copy" sh -c "$tool check '$dir/$copy' --immutable >/dev/null"
    check "dump $copy" sh -c "$tool dump '$dir/$copy' --immutable --tree users >'$dir/got.dump'"
    check "$copy = original" cmp -s "$dir/want.dump" "$dir/got.dump"
done
check "compact <= plain" test "$(wc -c <"$dir/compact")" -le "$(wc -c <"$dir/plain")"

echo precious >"$dir/taken"
"$tool" backup "$dir/db" "$dir/taken" >/dev/null 2>&1
check "existing DEST: exit 1" test $? -eq 1
check "existing DEST untouched" test "$(cat "$dir/taken")" = precious
"$tool" backup "$dir/db" >/dev/null 2>&1
check "missing DEST: exit 2" test $? -eq 2
"$tool" backup "$dir/db" "$dir/x" --tree users >/dev/null 2>&1
check "unknown option: exit 2" test $? -eq 2
check "no DEST left by a usage error" test ! -e "$dir/x"

summary
