#!/bin/sh
# SPDX-License-Identifier: MIT
# Run every program of examples/ in a fresh directory and compare what it
# prints with examples/NAME.expected, so the examples never rot; README's own
# example (examples/readme, extracted from README) must print "world".
# make check builds them first (test/examples.sh.log depends on them); one
# missing is a failure, not a skip, so that they cannot quietly stop running.
srcdir=${srcdir:-.}
tmp=${LDB_TEST_TMPDIR:-${TMPDIR:-/tmp}}
build=$(pwd)
status=0
ran=0
for ex in cursors named_trees readers snapshot bulk_load readme; do
    if [ ! -x "examples/$ex" ]; then
        echo "examples: examples/$ex was not built"
        status=1
        continue
    fi
    ran=$((ran + 1))
    dir=$(mktemp -d "$tmp/example-$ex.XXXXXX") || exit 99
    if [ "$ex" = readme ]; then
        expect=$dir/expect
        echo world >"$expect"
    else
        expect=$srcdir/examples/$ex.expected
    fi
    if ! (cd "$dir" && "$build/examples/$ex" "$dir" >"$dir/stdout"); then
        echo "examples: $ex failed"
        status=1
    elif ! diff -u "$expect" "$dir/stdout"; then
        echo "examples: $ex printed something else"
        status=1
    else
        echo "examples: $ex ok"
        rm -rf "$dir"
    fi
done
echo "examples: $ran run"
exit $status
