#!/bin/sh
# SPDX-License-Identifier: MIT
# Run every program of examples/ in a fresh directory and compare what it
# prints with examples/NAME.out, so the examples never rot; README's own
# example (examples/readme, extracted from README) must print "world".
# Exit 77 (skipped) when they were not built.
srcdir=${srcdir:-.}
tmp=${LDB_TEST_TMPDIR:-${TMPDIR:-/tmp}}
build=$(pwd)
status=0
ran=0
for ex in cursors named_trees readers snapshot bulk_load readme; do
    [ -x "examples/$ex" ] || continue
    ran=$((ran + 1))
    dir=$(mktemp -d "$tmp/example-$ex.XXXXXX") || exit 99
    if [ "$ex" = readme ]; then
        expect=$dir/expect
        echo world >"$expect"
    else
        expect=$srcdir/examples/$ex.out
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
[ "$ran" -gt 0 ] || exit 77
echo "examples: $ran run"
exit $status
