#!/bin/sh
# SPDX-License-Identifier: MIT
# lightningdb get, put, del, scan and trees (issue 13): each against what
# the others and dump show, in all three formats, with binary bytes, named
# trees, bounds, limits, reverse order, and the errors (missing key, bad
# escapes, --nooverwrite). Ends with "N passed, N failed".
set -u
tool=./tools/lightningdb
[ -x "$tool" ] || { echo "no $tool: run from the build directory"; exit 77; }
work=$(mktemp -d "${LDB_TEST_TMPDIR:-/tmp}/tool-data.XXXXXX")
trap 'rm -rf "$work"' EXIT
db=$work/db.ldb
passed=0
failed=0
expect() { # description, expected output, command...
    what=$1 want=$2
    shift 2
    got=$("$@" 2>&1)
    if [ "$got" = "$want" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        printf 'FAILED: %s\n--- want\n%s\n--- got\n%s\n' "$what" "$want" "$got"
    fi
}
expect_rc() { # description, exit code, command...
    what=$1 want=$2
    shift 2
    "$@" >/dev/null 2>&1
    rc=$?
    if [ "$rc" = "$want" ]; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAILED: $what: exit $rc, want $want"; fi
}

printf '# lightningdb-dump 1\n# end: 0 entries\n' | "$tool" load "$db" >/dev/null
expect_rc "put needs an existing database" 3 "$tool" put "$work/none.ldb" k v
for k in apple apricot banana blueberry cherry; do "$tool" put "$db" "$k" "v-$k"; done
expect "get" "v-banana" "$tool" get "$db" banana
expect "scan all" "apple	v-apple
apricot	v-apricot
banana	v-banana
blueberry	v-blueberry
cherry	v-cherry" "$tool" scan "$db"
expect "prefix" "apple	v-apple
apricot	v-apricot" "$tool" scan "$db" --prefix ap
expect "prefix reverse keys-only" "blueberry
banana" "$tool" scan "$db" --prefix b --reverse --keys-only
expect "from/to/limit" "banana	v-banana" "$tool" scan "$db" --from b --to c --limit 1
expect "to is exclusive" "apple
apricot
banana" "$tool" scan "$db" --to blueberry --keys-only
expect "reverse to" "banana
apricot
apple" "$tool" scan "$db" --to blueberry --keys-only --reverse
expect "from is inclusive, reverse" "cherry
blueberry" "$tool" scan "$db" --from blueberry --keys-only --reverse

# binary bytes: every byte value as a key suffix, through escaped and hex
all=""
i=0
while [ $i -lt 256 ]; do all="$all$(printf '%02x' $i)"; i=$((i + 1)); done
"$tool" put "$db" -x "ff00" "$all"
expect "hex round trip" "$all" "$tool" get "$db" -x ff00
expect "escaped output of binary" "\\xff\\x00" sh -c "'$tool' scan '$db' --keys-only --from '\\xff' --limit 1"
"$tool" put "$db" 'tab\there' 'nl\nand\\back'
expect "escaped round trip" 'nl\nand\\back' "$tool" get "$db" 'tab\there'
expect "hex key" "6e6c0a616e645c6261636b" "$tool" get "$db" --format hex 7461620968657265
printf 'from\nstdin\0bytes' | "$tool" put "$db" stdin -
expect "value from stdin" 'from\nstdin\x00bytes' "$tool" get "$db" stdin
"$tool" put "$db" empty ''
expect "empty value" "" "$tool" get "$db" empty
expect "dump agrees with put" "6b 76" sh -c "'$tool' put '$db' k v && '$tool' dump '$db' | grep '^6b '"

# named trees
"$tool" put "$db" --tree logs 1 one
"$tool" put "$db" --tree 'two words' 2 two
expect "trees" "logs	1
two words	1" "$tool" trees "$db"
expect "get in a tree" "one" "$tool" get "$db" --tree logs 1
expect_rc "get in a missing tree" 1 "$tool" get "$db" --tree nope 1

# deletes and errors
"$tool" del "$db" apple
expect_rc "get after del" 1 "$tool" get "$db" apple
expect_rc "del of a missing key" 1 "$tool" del "$db" apple
expect_rc "nooverwrite refuses" 1 "$tool" put "$db" banana x --nooverwrite
expect "and leaves the value" "v-banana" "$tool" get "$db" banana
expect_rc "a bad escape is a usage error" 2 "$tool" get "$db" 'a\q'
expect_rc "odd hex is a usage error" 2 "$tool" get "$db" -x abc
expect_rc "missing operand" 2 "$tool" put "$db" onlykey
expect_rc "bad --limit" 2 "$tool" scan "$db" --limit -1
expect_rc "--help" 0 "$tool" scan --help
expect_rc "check after all of it" 0 "$tool" check "$db"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
