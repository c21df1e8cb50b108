# SPDX-License-Identifier: MIT
# What the command's shell tests share, sourced after setting `name`:
# $tool (the built command; exit 77 without it), a scratch directory $dir
# removed at exit, `check DESCRIPTION COMMAND...` (one counted case),
# `fail MESSAGE`, and `summary`: the Check-style line CI counts cases
# from, its status the test's (last command of the script).
tool=./tools/lightningdb
[ -x "$tool" ] || { echo "no $tool: run from the build directory"; exit 77; }
dir=${LDB_TEST_TMPDIR:-${TMPDIR:-/tmp}}/ldb-$name.$$
checks=0
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
check() { # description, then the command
    what=$1
    shift
    checks=$((checks + 1))
    "$@" || fail "$what"
}
summary() {
    echo "$(((checks - failures) * 100 / checks))%: Checks: $checks, Failures: $failures, Errors: 0"
    [ "$failures" -eq 0 ]
}
mkdir -p "$dir" || exit 1
trap 'rm -rf "$dir"' EXIT
