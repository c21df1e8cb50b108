#!/bin/sh
# SPDX-License-Identifier: MIT
# lightningdb dump and load (issue 13): --all carries every tree (binary
# keys and values: every byte value, empty values, newlines) through one
# stream and back; a load is one txn (a truncated or bad stream leaves the
# database exactly as it was); --format mdb against LMDB's own mdb_load and
# mdb_dump (lmdb-utils; skipped without them), both ways; progress only
# with --progress (never when stderr is a file or pipe); --nowait and
# --timeout against a writer another process holds, and the wait without
# them. Ends "N passed, N failed".
set -u
tool=./tools/lightningdb
[ -x "$tool" ] || { echo "no $tool: run from the build directory"; exit 77; }
work=$(mktemp -d "${LDB_TEST_TMPDIR:-/tmp}/tool-dump.XXXXXX")
holder=
trap '[ -n "$holder" ] && kill "$holder" 2>/dev/null; rm -rf "$work"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAILED: $*"; }
check() { # description, command...
    what=$1
    shift
    if "$@"; then ok; else bad "$what"; fi
}
expect_rc() { # description, exit code, command... (stdin from $in)
    what=$1 want=$2
    shift 2
    "$@" <"${in:-/dev/null}" >"$work/out" 2>"$work/err"
    rc=$?
    if [ "$rc" = "$want" ]; then ok; else bad "$what: exit $rc, want $want"; cat "$work/err"; fi
}

# A database with binary keys and values in the main tree and two named trees.
db=$work/a.ldb
printf '# lightningdb-dump 1\n# end: 0 entries\n' | "$tool" load "$db" >/dev/null
i=0
while [ $i -lt 256 ]; do
    h=$(printf '%02x' $i)
    "$tool" put "$db" -x "6b$h" "00${h}0a${h}ff"
    i=$((i + 1))
done
"$tool" put "$db" -x 0a0d00 ""
"$tool" put "$db" --tree users alice 'line1\nline2'
"$tool" put "$db" --tree users empty ""
"$tool" put "$db" --tree 'odd\tname' -x 00ff 0a
"$tool" put "$db" --tree emptytree k v && "$tool" del "$db" --tree emptytree k

# ---- --all round trip -----------------------------------------------------------
expect_rc "dump --all" 0 "$tool" dump --all "$db"
cp "$work/out" "$work/all.dump"
check "dump --all names every tree" [ "$(grep -c '^# tree: ' "$work/all.dump")" = 4 ]
check "and ends with the stream trailer" [ "$(tail -n 1 "$work/all.dump")" = "# end-dump: 4 trees" ]
in=$work/all.dump expect_rc "load of --all" 0 "$tool" load "$work/b.ldb"
expect_rc "dump --all of the copy" 0 "$tool" dump --all "$work/b.ldb"
check "the copy dumps the same" cmp -s "$work/out" "$work/all.dump"
expect_rc "get in the copy" 0 "$tool" get "$work/b.ldb" --tree users alice
check "a value with a newline" [ "$(cat "$work/out")" = 'line1\nline2' ]
expect_rc "the empty tree is there" 0 "$tool" trees "$work/b.ldb"
check "the empty tree is there" grep -q "^emptytree	0$" "$work/out"
expect_rc "check of the copy" 0 "$tool" check "$work/b.ldb"
expect_rc "--all and --tree" 2 "$tool" dump --all --tree users "$db"

# ---- a load is one txn --------------------------------------------------------------
cp "$db" "$work/c.ldb"
"$tool" dump --all "$work/c.ldb" >"$work/before"
head -n 200 "$work/all.dump" | sed 's/^6b/7a/' >"$work/trunc.dump"
in=$work/trunc.dump expect_rc "a truncated dump is refused" 1 "$tool" load "$work/c.ldb"
check "saying nothing was loaded" grep -q "nothing was loaded" "$work/err"
"$tool" dump --all "$work/c.ldb" >"$work/after"
check "and the database is unchanged" cmp -s "$work/before" "$work/after"
{ sed -n '1,/^# end: /p' "$work/all.dump" | sed 's/^6b/7a/'; echo "zz 00"; } >"$work/badline.dump"
in=$work/badline.dump expect_rc "a bad line after a whole tree" 1 "$tool" load "$work/c.ldb"
check "names the line" grep -q "stdin:$(wc -l <"$work/badline.dump"):" "$work/err"
"$tool" dump --all "$work/c.ldb" >"$work/after"
check "the tree before it was not loaded either" cmp -s "$work/before" "$work/after"
expect_rc "check after the refused loads" 0 "$tool" check "$work/c.ldb"

# ---- the mdb_dump format ----------------------------------------------------------
expect_rc "dump --format mdb" 0 "$tool" dump --all --format mdb "$db"
cp "$work/out" "$work/all.mdb"
check "mdb format header" [ "$(head -n 1 "$work/all.mdb")" = "VERSION=3" ]
in=$work/all.mdb expect_rc "load of our mdb format" 0 "$tool" load "$work/d.ldb"
expect_rc "dump --all of that" 0 "$tool" dump --all "$work/d.ldb"
check "the mdb format round trip" cmp -s "$work/out" "$work/all.dump"
if command -v mdb_load >/dev/null && command -v mdb_dump >/dev/null; then
    # LMDB's names are C strings: leave out the tree with a tab for its own tools
    # (it would load; we compare the rest).
    mkdir "$work/lmdb"
    "$tool" dump --tree users --format mdb "$db" >"$work/users.mdb"
    check "mdb_load reads our dump" mdb_load -f "$work/users.mdb" -s users "$work/lmdb"
    mdb_dump -s users "$work/lmdb" >"$work/lmdb-users.mdb"
    printf 'VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 6b31\n 7631\n 6b32\n \nDATA=END\n' |
        mdb_load -s second "$work/lmdb"
    check "our load reads mdb_dump -a" sh -c "mdb_dump -a '$work/lmdb' | $tool load '$work/e.ldb' >/dev/null"
    expect_rc "dump of the tree LMDB held" 0 "$tool" dump --tree users --format mdb "$work/e.ldb"
    check "LMDB's copy is ours, byte for byte" sh -c "grep -v '^mapsize=\|^maxreaders=\|^db_pagesize=\|^database=' '$work/lmdb-users.mdb' >'$work/x1'; grep -v '^mapsize=\|^database=' '$work/out' >'$work/x2'; cmp -s '$work/x1' '$work/x2'"
    expect_rc "the second tree" 0 "$tool" get "$work/e.ldb" --tree second k2
    check "has its empty value" [ "$(cat "$work/out")" = "" ]
    check "mdb_dump -p (print format) loads" sh -c "mdb_dump -p -s users '$work/lmdb' | $tool load '$work/f.ldb' --tree users >/dev/null"
    expect_rc "and reads back" 0 "$tool" get "$work/f.ldb" --tree users alice
    check "the same value" [ "$(cat "$work/out")" = 'line1\nline2' ]
    expect_rc "check after the mdb loads" 0 "$tool" check "$work/e.ldb"
else
    echo "SKIPPED: mdb_load/mdb_dump (lmdb-utils) not installed"
fi
printf 'VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 6b31\n' >"$work/trunc.mdb"
in=$work/trunc.mdb expect_rc "a truncated mdb dump" 1 "$tool" load "$work/g.ldb"
printf 'VERSION=3\nformat=bytevalue\nduplicates=1\ntype=btree\nHEADER=END\nDATA=END\n' >"$work/dup.mdb"
in=$work/dup.mdb expect_rc "duplicates are refused" 1 "$tool" load "$work/g.ldb"
expect_rc "a bad --format" 2 "$tool" dump --format xml "$db"

# ---- progress: only when asked or on a terminal ------------------------------------
in= expect_rc "dump, stderr a file" 0 "$tool" dump --all "$db"
check "no progress when stderr is not a terminal" [ ! -s "$work/err" ]
in= expect_rc "dump --progress" 0 "$tool" dump --all --progress "$db"
check "progress with --progress" grep -q "dump: 100% 260 of 260 entries" "$work/err"
check "and never on stdout" cmp -s "$work/out" "$work/all.dump"
in=$work/all.dump expect_rc "load --progress" 0 "$tool" load --progress "$work/h.ldb"
check "load's progress in bytes" grep -q "load: 100% $(wc -c <"$work/all.dump") of" "$work/err"
in= expect_rc "check --progress" 0 "$tool" check --progress "$db"
check "check's progress in pages, to 100%" grep -Eq "check: 100% ([0-9]+) of \1 pages" "$work/err"
in= expect_rc "check, quiet" 0 "$tool" check --quiet "$db"
check "no progress with --quiet" [ ! -s "$work/err" ]
in= expect_rc "backup --progress" 0 "$tool" backup --progress "$db" "$work/bk.ldb"
check "backup's progress in bytes, to 100%" grep -Eq "backup: 100% ([0-9]+) of \1 bytes, [0-9]+/s" "$work/err"
in= expect_rc "backup, stderr a file" 0 "$tool" backup "$db" "$work/bk2.ldb"
check "no backup progress when stderr is not a terminal" [ ! -s "$work/err" ]
in= expect_rc "--quiet" 0 "$tool" dump --all --quiet "$db"
check "--quiet shows none" [ ! -s "$work/err" ]

# ---- the writer held by another process: --nowait, --timeout --------------------------
mkfifo "$work/fifo"
"$tool" load "$db" <"$work/fifo" >/dev/null 2>&1 &
holder=$!
exec 9>"$work/fifo" # the loader holds its write txn until its input ends
sleep 1
expect_rc "put --nowait" 3 "$tool" put "$db" k v --nowait
check "says why" grep -q "another write txn or checkpoint is running" "$work/err"
expect_rc "del --timeout 0.3" 3 "$tool" del "$db" k --timeout 0.3
check "says it waited" grep -q "after 0.3 s" "$work/err"
expect_rc "checkpoint --nowait" 3 "$tool" checkpoint "$db" --nowait
in=$work/all.dump expect_rc "load --nowait" 3 "$tool" load "$db" --nowait
expect_rc "a bad --timeout" 2 "$tool" put "$db" k v --timeout soon
# Without either option the command waits, and says for what.
"$tool" put "$db" waited v >/dev/null 2>"$work/wait.err" 9>&- &
waiter=$!
sleep 1
check "a waiting put says why it waits" grep -q "waiting for another write txn" "$work/wait.err"
check "and is still waiting" kill -0 "$waiter"
exec 9>&-
wait "$holder"
holder=
wait "$waiter"
check "the waiting put commits once the writer is free" [ $? = 0 ]
expect_rc "its value is there" 0 "$tool" get "$db" waited
check "the waited value" [ "$(cat "$work/out")" = v ]
expect_rc "put --timeout 5 once the writer is free" 0 "$tool" put "$db" k v --timeout 5
expect_rc "checkpoint --nowait once free" 0 "$tool" checkpoint "$db" --nowait
expect_rc "check at the end" 0 "$tool" check "$db"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
