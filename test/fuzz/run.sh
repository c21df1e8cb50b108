#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs each libFuzzer target (a --enable-fuzzing build, from its top build
# directory) for SECONDS, starting from the seed corpus in SRCDIR/test/fuzz.
# New inputs go to a scratch corpus; a crash, leak or timeout (-timeout=10)
# leaves its input in test/fuzz/artifacts/ and fails the run.
# Usage: run.sh SRCDIR [SECONDS [TARGET...]]
# The api target (a sequence of calls, with simulated power losses, checked
# against a model) needs a build with --enable-test-hooks.
set -eu
srcdir=$1
secs=${2:-60}
shift 2 2>/dev/null || shift $#
targets=${*:-datafile wal lock api}
mkdir -p test/fuzz/artifacts
rc=0
for t in $targets; do
    scratch=$(mktemp -d "${TMPDIR:-/tmp}/ldb-corpus.XXXXXX")
    echo "fuzz: $t for ${secs}s"
    if ! ./test/fuzz/fuzz_$t -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix=test/fuzz/artifacts/$t- \
        "$scratch" "$srcdir/test/fuzz/corpus/$t" 2>test/fuzz/$t.log; then
        echo "fuzz: $t FAILED (see test/fuzz/$t.log and test/fuzz/artifacts/)"
        tail -n 40 test/fuzz/$t.log
        rc=1
    fi
    grep -E 'stat::number_of_executed_units|Done [0-9]+ runs' test/fuzz/$t.log || true
    rm -rf "$scratch"
done
exit $rc
