#!/bin/sh
# SPDX-License-Identifier: MIT
# Rerun the power-loss cases of check_crash and the kill -9 suite
# (check_kill) with values compressed (LDB_TEST_COMPRESSION: zstd, then lz4
# for the kill suite, then both with zstd-dict: txns that also train a
# dictionary), fewer rounds than their own runs: LDB_COMPRESSED_CRASH_ROUNDS
# and LDB_COMPRESSED_KILL_ROUNDS (default 40 and 60), not the suites' own
# LDB_CRASH_ROUNDS and LDB_KILL_ROUNDS, which a CI build may set higher
# for the plain runs. Ends with one Check-style
# summary line adding up the runs (CI counts test cases from the last such
# line of a log). Exit 77 (skipped) when the suites were not built.
status=0
ran=0
checks=0
failures=0
errors=0
out=${TMPDIR:-/tmp}/ldb-compressed.$$
trap 'rm -f "$out"' EXIT
for run in "zstd test/check_crash power" "zstd test/check_kill kill" "lz4 test/check_kill kill" \
    "zstd-dict test/check_crash power" "zstd-dict test/check_kill kill"; do
    codec=${run%% *}
    # A build configured --without-zstd or --without-lz4 (config.h says).
    if ! grep -q "^#define HAVE_$(echo "${codec%%-*}" | tr a-z A-Z) 1" config.h; then
        echo "compressed: built without $codec: the $codec runs are skipped"
        continue
    fi
    rest=${run#* }
    t=${rest%% *}
    case=${rest#* }
    [ -x "$t" ] || continue
    ran=1
    echo "== $t with LDB_TEST_COMPRESSION=$codec"
    CK_RUN_CASE=$case LDB_TEST_COMPRESSION=$codec \
        LDB_CRASH_ROUNDS=${LDB_COMPRESSED_CRASH_ROUNDS:-40} \
        LDB_KILL_ROUNDS=${LDB_COMPRESSED_KILL_ROUNDS:-60} "./$t" >"$out" 2>&1 || status=1
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
