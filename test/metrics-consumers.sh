#!/bin/sh
# SPDX-License-Identifier: MIT
# The operators' surface against its real consumers (issue 13):
#  - `lightningdb metrics` passes `promtool check metrics` (Debian's
#    prometheus package);
#  - `lightningdb metrics --textfile DIR` is read by Debian's
#    prometheus-node-exporter's textfile collector: a scrape over HTTP on
#    127.0.0.1 shows our samples;
#  - `lightningdb health` exit codes follow the monitoring-plugin convention
#    (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
# Parts whose tool is missing are skipped with a message; exit 77 if all are.
# Ends with "N passed, N failed".
set -u
tool=./tools/lightningdb
[ -x "$tool" ] || { echo "no $tool: run from the build directory"; exit 77; }
work=$(mktemp -d "${LDB_TEST_TMPDIR:-/tmp}/metrics-consumers.XXXXXX")
exporter_pid=
cleanup() {
    [ -n "$exporter_pid" ] && kill "$exporter_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
passed=0
failed=0
ran=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAILED: $*"; }

db=$work/db.ldb
printf '# lightningdb-dump 1\n6b31 7631\n6b32 7632\n# end: 2 entries\n' | "$tool" load "$db" >/dev/null ||
    { echo "cannot build a database"; exit 1; }

# health: exit codes
expect_health() {
    want=$1
    shift
    out=$("$tool" health "$@")
    rc=$?
    case $out in
    "LIGHTNINGDB "*) ;;
    *) bad "health $*: status line '$out'"; return ;;
    esac
    [ "$rc" = "$want" ] && ok "health $* -> $rc" || bad "health $* -> $rc, want $want: $out"
}
ran=1
expect_health 0 "$db"
expect_health 1 "$db" --disk-warn 0
expect_health 2 "$db" --disk-crit 0
expect_health 2 "$work/missing.ldb"
expect_health 3 "$db" --lag-warn nonsense
expect_health 2 "$db" --file-crit 0

# promtool
if command -v promtool >/dev/null 2>&1; then
    "$tool" metrics "$db" >"$work/m.prom" && promtool check metrics <"$work/m.prom" &&
        ok "promtool check metrics" || bad "promtool check metrics"
else
    echo "skipped: promtool not installed (Debian package prometheus)"
fi

# node_exporter's textfile collector, scraped over HTTP
fetch() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsS "$1"
    else
        python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"
    fi
}
exporter=$(command -v prometheus-node-exporter || true)
if [ -n "$exporter" ] && { command -v curl || command -v python3; } >/dev/null 2>&1; then
    mkdir "$work/textfile"
    "$tool" metrics --textfile "$work/textfile" "$db" || bad "metrics --textfile"
    ls "$work/textfile"/*.tmp >/dev/null 2>&1 && bad "a temporary file was left behind"
    port=$((20000 + $$ % 20000))
    "$exporter" --web.listen-address="127.0.0.1:$port" --collector.disable-defaults \
        --collector.textfile --collector.textfile.directory="$work/textfile" \
        >"$work/exporter.log" 2>&1 &
    exporter_pid=$!
    scraped=
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
        scraped=$(fetch "http://127.0.0.1:$port/metrics" 2>/dev/null) && break
        sleep 0.5
    done
    if printf '%s\n' "$scraped" | grep -q "^lightningdb_last_txn_id{db=\"$db\"} 1\$"; then
        ok "node_exporter serves lightningdb_last_txn_id"
    else
        bad "node_exporter scrape lacks our samples"
        tail -5 "$work/exporter.log"
    fi
    printf '%s\n' "$scraped" | grep -q 'node_textfile_scrape_error 0' &&
        ok "textfile collector read the file without error" ||
        bad "textfile collector reported an error"
else
    echo "skipped: prometheus-node-exporter (or curl/python3) not installed"
fi
echo "$passed passed, $failed failed"
[ "$ran" = 1 ] || exit 77
[ "$failed" = 0 ]
