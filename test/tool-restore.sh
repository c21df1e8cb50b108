#!/bin/sh
# SPDX-License-Identifier: MIT
# lightningdb restore and archive (issue 12), end to end through the
# command, as docs/operations.md's worked example: writes with the archive
# on, a backup, more writes, a time noted, a bad write; then a restore to
# that time has the state before the bad write, --latest and --to-txn what
# they say, each passing check; the listing shows the segments with txn and
# time ranges; a deleted middle segment is reported as a gap naming the
# txns (exit 1, nothing at DEST); --prune-before removes only segments
# wholly at or before the backup; --follow builds a replica and applies a
# new segment, and stops with exit 0 on SIGTERM. Ends with a Check-style
# summary line.
name=tool-restore
. "${srcdir:-.}/test/tool-lib.sh"

must() { # a step the checks build on: counted as a check
    checks=$((checks + 1))
    "$@" || fail "$*"
}
mkdir -p "$dir/arch" || exit 1
db=$dir/db
export LIGHTNINGDB_OPTIONS="archive_dir=$dir/arch,wal_max_bytes=4096"

must sh -c "$tool load '$db' </dev/null >/dev/null" # an empty database, txn 0
i=0
while [ $i -lt 20 ]; do # txns 1..20, each command's close archives its log
    must "$tool" put "$db" "key$i" "value$i"
    i=$((i + 1))
done
must "$tool" put "$db" balance 100                           # txn 21
check "backup" sh -c "$tool backup '$db' '$dir/backup' >/dev/null"
must "$tool" put "$db" balance 150                           # txn 22
must "$tool" put "$db" key3 changed                          # txn 23
sleep 1.1
before=$(date '+%Y-%m-%d %H:%M:%S')
sleep 1.1
must "$tool" put "$db" balance 0                             # txn 24: the bad write
must "$tool" del "$db" key4                                  # txn 25

list=$("$tool" archive "$dir/arch")
check "archive lists segments" test "$(echo "$list" | grep -c '\.ldblog  txns ')" -ge 10
check "archive shows times" sh -c "echo '$list' | grep -q '  20[0-9][0-9]-[0-9][0-9]-[0-9][0-9] '"
check "archive reaches txn 25" sh -c "echo '$list' | grep -q '\.\.25 '"

check "restore to the time before the bad write" \
    sh -c "$tool restore '$dir/backup' --archive '$dir/arch' --to-time '$before' '$dir/r-time' >/dev/null"
check "  balance as before" test "$("$tool" get "$dir/r-time" balance)" = 150
check "  key3 as before" test "$("$tool" get "$dir/r-time" key3)" = changed
check "  key4 still there" test "$("$tool" get "$dir/r-time" key4)" = value4
check "  check passes" sh -c "$tool check '$dir/r-time' >/dev/null"
check "restore --latest" \
    sh -c "$tool restore '$dir/backup' --archive '$dir/arch' --latest '$dir/r-latest' >/dev/null"
check "  balance 0" test "$("$tool" get "$dir/r-latest" balance)" = 0
check "  check passes" sh -c "$tool check '$dir/r-latest' >/dev/null"
out=$("$tool" restore "$dir/backup" --archive "$dir/arch" --to-txn 22 "$dir/r-22")
check "restore --to-txn 22 says so" sh -c "echo '$out' | grep -q 'to txn 22'"
check "  balance 150" test "$("$tool" get "$dir/r-22" balance)" = 150
check "  key3 not yet changed" test "$("$tool" get "$dir/r-22" key3)" = value3
"$tool" restore "$dir/backup" --archive "$dir/arch" --to-txn 22 --progress "$dir/r-p" \
    >/dev/null 2>"$dir/perr"
check "restore --progress: txns replayed, to 100%" \
    grep -Eq 'restore: 100% ([0-9]+) of \1 txns, [0-9]+/s' "$dir/perr"
"$tool" restore "$dir/backup" --archive "$dir/arch" --to-txn 22 "$dir/r-q" >/dev/null 2>"$dir/perr"
check "  none when stderr is not a terminal" test ! -s "$dir/perr"

"$tool" restore "$dir/backup" --archive "$dir/arch" --latest "$dir/r-latest" >/dev/null 2>&1
check "existing DEST: exit 1" test $? -eq 1
"$tool" restore "$dir/backup" --archive "$dir/arch" "$dir/r-none" >/dev/null 2>&1
check "no target: exit 2" test $? -eq 2
"$tool" restore "$dir/backup" --archive "$dir/arch" --to-time "yesterday" "$dir/r-none" \
    >/dev/null 2>&1
check "bad time: exit 2" test $? -eq 2

# --follow: the replica is built, takes each new segment as it appears, and
# SIGTERM ends it with exit 0. Reads of the replica go without the
# primary's options (its archive is not the replica's).
wait_for() { # up to 60 s for a command to succeed
    n=0
    while [ $n -lt 300 ]; do
        "$@" && return 0
        sleep 0.2
        n=$((n + 1))
    done
    return 1
}
"$tool" restore "$dir/backup" --archive "$dir/arch" --follow --interval 0.2 "$dir/replica" \
    >"$dir/follow.out" 2>&1 &
fpid=$!
check "follow: built at txn 25" wait_for grep -q 'replica: at txn 25$' "$dir/follow.out"
must "$tool" put "$db" balance 300 # txn 26: its close archives it
check "follow: took txn 26" wait_for grep -q 'replica: at txn 26$' "$dir/follow.out"
check "  the replica reads it" \
    test "$(LIGHTNINGDB_OPTIONS= "$tool" get "$dir/replica" balance)" = 300
kill -TERM $fpid
wait $fpid
check "follow: SIGTERM, exit 0" test $? -eq 0
check "  check passes" sh -c "LIGHTNINGDB_OPTIONS= $tool check '$dir/replica' >/dev/null"
"$tool" restore "$dir/backup" --archive "$dir/arch" --follow --interval 0.2 "$dir/r-none" \
    --to-txn 3 >/dev/null 2>&1
check "follow with a target: exit 2" test $? -eq 2

# A middle segment after the backup goes missing: a gap, named.
seg=$(ls "$dir/arch" | grep -- '-00000000000000000023-' | head -1)
check "found the segment of txn 23" test -n "$seg"
[ -n "$seg" ] && rm -f "$dir/arch/$seg"
err=$("$tool" restore "$dir/backup" --archive "$dir/arch" --latest "$dir/r-gap" 2>&1)
check "gap: exit 1" test $? -eq 1
check "gap: names txns 23..23" sh -c "echo '$err' | grep -q 'txns 23\.\.23'"
check "gap: nothing at DEST" test ! -e "$dir/r-gap"
check "gap: listed" sh -c "$tool archive '$dir/arch' | grep -q 'gap: txns 23..23'"

n_before=$(ls "$dir/arch" | grep -c '\.ldblog$')
out=$("$tool" archive "$dir/arch" --prune-before "$dir/backup")
check "prune says how many" sh -c "echo '$out' | grep -q 'removed 21 segments'"
check "prune left the rest" test "$(ls "$dir/arch" | grep -c '\.ldblog$')" -eq $((n_before - 21))
check "restore to txn 22 after prune" \
    sh -c "$tool restore '$dir/backup' --archive '$dir/arch' --to-txn 22 '$dir/r-pruned' >/dev/null"

summary
