#!/bin/sh
# SPDX-License-Identifier: MIT
# Rerun the log and crash suites on the plain pwrite/fdatasync backend
# (LDB_IO_BACKEND=sync), so make check covers it as well as io_uring.
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
suites="test/check_wal test/check_crash"
[ -n "${LDB_TEST_QUICK:-}" ] && suites=test/check_wal
for t in $suites; do
    [ -x "$t" ] || continue
    ran=1
    echo "== $t with LDB_IO_BACKEND=sync"
    LDB_IO_BACKEND=sync "./$t" >"$out" 2>&1 || status=1
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
