#!/bin/sh
# SPDX-License-Identifier: MIT
# The lightningdb command's surface (issue 13): `help COMMAND` and
# `COMMAND --help` for every subcommand the overview lists; usage errors
# exit 2 with the command's usage line; the documented exit codes (0 OK,
# 1 failed, 2 usage, 3 cannot open, 4 damaged); --json output of stat,
# readers and health parsed by python3's json module (when python3 is
# there). Ends with "N passed, N failed".
set -u
tool=./tools/lightningdb
[ -x "$tool" ] || { echo "no $tool: run from the build directory"; exit 77; }
work=$(mktemp -d "${LDB_TEST_TMPDIR:-/tmp}/tool-cli.XXXXXX")
reader1= reader2=
trap 'kill $reader1 $reader2 2>/dev/null; rm -rf "$work"' EXIT
db=$work/db.ldb
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAILED: $*"; }
expect_rc() { # description, exit code, command...
    what=$1 want=$2
    shift 2
    "$@" >"$work/out" 2>"$work/err" </dev/null
    rc=$?
    if [ "$rc" = "$want" ]; then ok; else bad "$what: exit $rc, want $want"; cat "$work/err"; fi
}
expect_err() { # description, text stderr must contain
    if grep -q -- "$2" "$work/err"; then ok; else bad "$1: stderr lacks '$2'"; cat "$work/err"; fi
}
expect_out() { # description, text stdout must contain
    if grep -q -- "$2" "$work/out"; then ok; else bad "$1: stdout lacks '$2'"; cat "$work/out"; fi
}

printf '# lightningdb-dump 1\n6b31 7631\n# end: 1 entries\n' | "$tool" load "$db" >/dev/null

# ---- help -------------------------------------------------------------------
expect_rc "help" 0 "$tool" help
commands=$(sed -n '/^Commands:/,/^$/p' "$work/out" | sed -n 's/^  \([a-z][a-z-]*\).*/\1/p')
[ "$(echo "$commands" | wc -w)" -ge 16 ] && ok || bad "overview lists too few commands: $commands"
for c in $commands; do
    expect_rc "help $c" 0 "$tool" help "$c"
    expect_out "help $c" "^Usage: lightningdb $c"
    cp "$work/out" "$work/help1"
    [ "$c" = help ] && continue
    expect_rc "$c --help" 0 "$tool" "$c" --help
    cmp -s "$work/out" "$work/help1" && ok || bad "$c --help differs from help $c"
    expect_rc "$c -h" 0 "$tool" "$c" -h
done
expect_rc "--version" 0 "$tool" --version
expect_out "--version" "^lightningdb "
expect_rc "-V" 0 "$tool" -V
expect_rc "help of an unknown command" 2 "$tool" help nosuch
expect_rc "an unknown command" 2 "$tool" nosuch
expect_err "an unknown command" "unknown command 'nosuch'"

# ---- usage errors: exit 2 and the command's usage line ------------------------
for c in stat check dump load readers checkpoint get put del scan trees metrics backup salvage; do
    expect_rc "$c without PATH" 2 "$tool" "$c"
    expect_err "$c without PATH" "^Usage: lightningdb $c "
done
expect_rc "an unknown option" 2 "$tool" stat "$db" --bogus
expect_err "an unknown option" "^Usage: lightningdb stat PATH"
expect_rc "an extra operand" 2 "$tool" check "$db" extra
expect_rc "version takes no arguments" 2 "$tool" version extra
expect_rc "health's bad arguments are UNKNOWN" 3 "$tool" health "$db" --lag-warn x

# ---- exit codes ---------------------------------------------------------------
expect_rc "OK" 0 "$tool" check "$db"
expect_rc "an operation that fails (missing key)" 1 "$tool" get "$db" nokey
expect_rc "a missing database" 3 "$tool" stat "$work/missing.ldb"
expect_err "a missing database" "missing.ldb: cannot open"
expect_rc "a directory" 3 "$tool" check "$work"
if [ "$(id -u)" != 0 ]; then
    cp "$db" "$work/noperm.ldb" && chmod 000 "$work/noperm.ldb"
    expect_rc "no permission" 3 "$tool" stat "$work/noperm.ldb"
fi
# A refused lock file is named as such (not the data file). As root, run
# as nobody (setpriv), the files nobody's.
as_user= perm_skip=
if [ "$(id -u)" = 0 ]; then
    if command -v setpriv >/dev/null; then
        as_user="setpriv --reuid=65534 --regid=65534 --clear-groups"
        chmod 711 "$work"
        # nobody must reach the tool and the work directory: a private
        # directory above either (one made by mktemp -d) forbids it.
        $as_user "$tool" --version >/dev/null 2>&1 && $as_user test -x "$work" ||
            perm_skip="user nobody cannot reach $tool or $work"
    else
        perm_skip="root without setpriv"
    fi
fi
if [ -z "$perm_skip" ]; then
    mkdir "$work/perm"
    cp "$db" "$work/perm/p.ldb"
    "$tool" stat "$work/perm/p.ldb" >/dev/null
    chmod 444 "$work/perm/p.ldb-lock"
    [ -z "$as_user" ] || chown -R 65534:65534 "$work/perm"
    expect_rc "a lock file this user may not write" 3 $as_user "$tool" stat "$work/perm/p.ldb"
    expect_err "names the lock file" "permission denied: $work/perm/p.ldb-lock (read and write)"
    chmod 644 "$work/perm/p.ldb-lock"
    chmod 555 "$work/perm"
    rm -f "$work/perm/p.ldb-lock"
    expect_rc "no lock file, a directory this user may not write" 3 \
        $as_user "$tool" stat "$work/perm/p.ldb"
    expect_err "names the directory" "cannot create $work/perm/p.ldb-lock in $work/perm"
    chmod 755 "$work/perm"
else
    echo "SKIPPED: permission messages ($perm_skip)"
fi

# A file that is not a database (text, random bytes, empty) is refused as
# such, exit 3, without leaving a -lock file beside it.
printf 'hello\n' >"$work/text.ldb"
head -c 65536 /dev/urandom >"$work/random.ldb"
: >"$work/empty.ldb"
for f in text random empty; do
    for c in stat check dump metrics; do
        expect_rc "$f file: $c" 3 "$tool" $c "$work/$f.ldb"
        expect_err "$f file: $c" "$f.ldb: not a Lightning DB database"
    done
    expect_rc "$f file: health" 2 "$tool" health "$work/$f.ldb"
    expect_out "$f file: health" "CRITICAL - .*not a Lightning DB database"
    [ ! -e "$work/$f.ldb-lock" ] && ok || bad "$f file: a -lock file was left behind"
done
# A database whose meta page and tree page are damaged (not its magic).
cp "$db" "$work/junk.ldb"
printf 'xxxxxxxx' | dd of="$work/junk.ldb" bs=1 seek=100 conv=notrunc 2>/dev/null
psz=$("$tool" stat "$db" | sed -n 's/^page size: *//p')
head -c "$psz" /dev/zero | tr '\0' 'x' |
    dd of="$work/junk.ldb" bs="$psz" seek=2 conv=notrunc 2>/dev/null
rm -f "$work/junk.ldb-lock" "$work/junk.ldb-wal"
expect_rc "a damaged database: check" 4 "$tool" check "$work/junk.ldb"
expect_out "a damaged database: check" "CORRUPTED"
expect_rc "a damaged database: stat" 4 "$tool" stat "$work/junk.ldb"
expect_err "a damaged database: stat" "junk.ldb: .*LDB_CORRUPTED"
expect_rc "a damaged database: dump" 4 "$tool" dump "$work/junk.ldb"

# ---- health against live readers: the lag thresholds, a dead process's slot ------
# A scan whose output nobody reads keeps its read txn open.
big=$work/big.ldb
{ echo '# lightningdb-dump 1'; i=0; while [ $i -lt 3000 ]; do printf '%08x %0200x\n' $i $i; i=$((i + 1)); done
  echo '# end: 3000 entries'; } | "$tool" load "$big" >/dev/null
mkfifo "$work/f1" "$work/f2"
"$tool" scan "$big" >"$work/f1" 2>/dev/null &
reader1=$!
exec 7<"$work/f1"
"$tool" scan "$big" >"$work/f2" 2>/dev/null &
reader2=$!
exec 6<"$work/f2"
sleep 1
for k in a b c; do "$tool" put "$big" "$k" v; done
expect_rc "health, readers 3 txns behind" 0 "$tool" health "$big"
expect_out "health, readers" "readers=2 lag_txns=3"
expect_rc "health --lag-warn 3" 1 "$tool" health "$big" --lag-warn 3
expect_out "health --lag-warn 3" "WARNING - .*oldest reader 3 txns behind"
expect_rc "health --lag-crit 3" 2 "$tool" health "$big" --lag-warn 1 --lag-crit 3
expect_out "health --lag-crit 3" "CRITICAL - .*oldest reader 3 txns behind"
kill -9 "$reader2"
wait "$reader2" 2>/dev/null
expect_rc "health, a dead process's reader slot" 1 "$tool" health "$big"
expect_out "health, a dead process's reader slot" "WARNING - .*1 reader slot(s) of dead processes"
expect_rc "readers clears it" 0 "$tool" readers "$big"
expect_out "readers clears it" "^cleared: *1$"
expect_out "and lists the live one" "^  pid $reader1 *txn "
expect_rc "health after readers" 0 "$tool" health "$big"
kill "$reader1"
exec 7<&- 6<&-
wait "$reader1" 2>/dev/null
reader1= reader2=
expect_rc "check of the database the readers held" 0 "$tool" check "$big"

# ---- --json: valid JSON with the figures the text shows ---------------------------
if command -v python3 >/dev/null; then
    json_get() { # KEY path through the object on stdin, e.g. tree.entries
        python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(json.dumps(v))' "$1"
    }
    odd=$(printf 'we"ird\001')
    "$tool" put "$db" --tree "$odd" k v
    expect_rc "stat --json" 0 "$tool" stat "$db" --json
    check_json() { # description, key, expected value
        got=$(json_get "$2" <"$work/out" 2>&1)
        if [ "$got" = "$3" ]; then ok; else bad "$1: $2 is $got, want $3"; fi
    }
    check_json "stat --json" tree.entries 1
    check_json "stat --json" tree.name '"main"'
    want=$("$tool" stat "$db" | sed -n 's/^last txn id: *//p')
    check_json "stat --json" last_txn_id "$want"
    check_json "stat --json" readers_used 0
    expect_rc "stat --json of a named tree" 0 "$tool" stat "$db" --json --tree "$odd"
    check_json "a tree name with a quote and a control byte" tree.name '"we\"ird\u0001"'
    expect_rc "readers --json" 0 "$tool" readers "$db" --json
    check_json "readers --json" slots '[]'
    check_json "readers --json" readers_max "$("$tool" stat "$db" | sed -n 's/^readers max: *//p')"
    expect_rc "health --json" 0 "$tool" health "$db" --json
    check_json "health --json" status '"OK"'
    check_json "health --json" code 0
    expect_rc "health --json, critical" 2 "$tool" health "$work/missing.ldb" --json
    check_json "health --json, critical" status '"CRITICAL"'
    python3 -m json.tool "$work/out" >/dev/null && ok || bad "health --json is not JSON"
    expect_rc "health --json, file warning" 1 "$tool" health "$db" --json --file-warn 0
    check_json "health --json, file warning" status '"WARNING"'
else
    echo "SKIPPED: --json checks (no python3)"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
