#!/bin/sh
# SPDX-License-Identifier: MIT
# Rerun the log and crash suites on the plain pwrite/fdatasync backend
# (LDB_IO_BACKEND=sync: no io_uring at all), and the log suite with the
# linked io_uring write + fdatasync of a durable commit, which only
# LDB_IO_BACKEND=io_uring sets up (io.h), so make check covers every path
# besides the default one (plain writes, io_uring only for the log's
# write-back), including LDB_SYNC_OFF records written on a kernel worker.
# With LDB_TEST_QUICK set (the shortened CI builds), the log suite alone:
# build 1 runs both, and the backend is a few plain system calls that the
# crash suite's fault loops only repeat.
# Ends with one Check-style summary line adding up both suites (CI counts
# test cases from the last such line of a log). Exit 77 (skipped) when the
# suites were not built (no Check library).
status=0
ran=0
checks=0
failures=0
errors=0
out=${TMPDIR:-/tmp}/ldb-sync-backend.$$
trap 'rm -f "$out"' EXIT
runs="sync:test/check_wal sync:test/check_crash io_uring:test/check_wal"
[ -n "${LDB_TEST_QUICK:-}" ] && runs="sync:test/check_wal io_uring:test/check_wal"
for run in $runs; do
    backend=${run%%:*}
    t=${run#*:}
    [ -x "$t" ] || continue
    ran=1
    echo "== $t with LDB_IO_BACKEND=$backend"
    LDB_IO_BACKEND=$backend "./$t" >"$out" 2>&1 || status=1
    cat "$out"
    line=$(grep -E '^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$out" | tail -n 1)
    if [ -n "$line" ]; then
        checks=$((checks + $(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')))
        failures=$((failures + $(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')))
        errors=$((errors + $(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')))
    else
        errors=$((errors + 1)) # died before its summary
        status=1
    fi
done
[ "$ran" = 1 ] || exit 77
if [ "$checks" -gt 0 ]; then
    pct=$(((checks - failures - errors) * 100 / checks))
else
    pct=0
fi
echo "$pct%: Checks: $checks, Failures: $failures, Errors: $errors"
exit $status
