#!/bin/sh
# SPDX-License-Identifier: MIT
# train-dict through the command (issue 10): 2000 JSON-like records of
# ~180 bytes, loaded with -o compression=zstd, barely compress alone;
# `train-dict --rewrite` stores them with a dictionary (`stat` counts them
# all compressed and more bytes saved), the dump is unchanged, `check`
# passes, a second training gets id 2, backups carry the dictionary, a
# plain open reads it all; bad sizes and trees fail with the documented
# exit statuses, and `trees` does not show the dictionary tree.
# Ends with a Check-style summary line (CI counts test cases from it).
name=tool-dict
. "${srcdir:-.}/test/tool-lib.sh"

grep -q "^#define HAVE_ZSTD 1" config.h || { echo "tool-dict: built without ZSTD: skipped"; exit 77; }

awk 'BEGIN {
    for (i = 32; i < 127; i++) ord[sprintf("%c", i)] = i
    split("DE FR US JP BR IN NL", cc, " ")
    split("free pro team enterprise", plan, " ")
    split("beta mobile desktop api newsletter trial", tag, " ")
    srand(7)
    print "# lightningdb-dump 1"
    print "# tree: main"
    for (n = 0; n < 2000; n++) {
        u = int(rand() * 100000)
        s = sprintf("{\"id\":%d,\"user\":\"user%05d\",\"email\":\"user%05d@example.com\",\"country\":\"%s\",\"plan\":\"%s\",\"created\":\"2026-%02d-%02dT%02d:%02d:00Z\",\"active\":%s,\"score\":%d,\"tags\":[\"%s\"]}",
                    n, u, u, cc[int(rand() * 7) + 1], plan[int(rand() * 4) + 1],
                    int(rand() * 12) + 1, int(rand() * 28) + 1, int(rand() * 24),
                    int(rand() * 60), rand() < 0.5 ? "true" : "false", int(rand() * 1000),
                    tag[int(rand() * 6) + 1])
        k = sprintf("rec%06d", n)
        hk = ""; hv = ""
        for (i = 1; i <= length(k); i++) hk = hk sprintf("%02x", ord[substr(k, i, 1)])
        for (i = 1; i <= length(s); i++) hv = hv sprintf("%02x", ord[substr(s, i, 1)])
        print hk " " hv
    }
    print "# end: 2000 entries"
}' >"$dir/in.dump"

field() { # path, field name of `stat`
    "$tool" stat "$1" | sed -n "s/^  $2: *//p"
}

db=$dir/db.ldb
check "load" sh -c "'$tool' -o compression=zstd load '$db' <'$dir/in.dump' >/dev/null"
before=$(field "$db" "bytes saved")
out=$("$tool" train-dict "$db" --size 4096)
check "train-dict prints id 1 (got '$out')" test "$out" = "dictionary id:        1"
out=$("$tool" train-dict "$db" --size=4096 --rewrite)
check "train-dict --rewrite: id 2 and 2000 values (got '$out')" test "$out" = "dictionary id:        2
values rewritten:     2000"
n=$(field "$db" "values compressed")
check "all 2000 compressed with the dictionary (got '$n')" test "$n" = 2000
after=$(field "$db" "bytes saved")
check "bytes saved grew past 200000 (from '$before' to '$after')" test "${after:-0}" -gt 200000 -a "${after:-0}" -gt "${before:-0}"
check "check" sh -c "'$tool' check '$db' >/dev/null"
check "dump = what was loaded" sh -c "'$tool' dump '$db' | cmp -s - '$dir/in.dump'"
check "a plain open dumps the same" sh -c "'$tool' -o compression=none dump '$db' | cmp -s - '$dir/in.dump'"
check "lz4 open dumps the same" sh -c "'$tool' -o compression=lz4 dump '$db' | cmp -s - '$dir/in.dump'"
check "trees does not list the dictionary tree" sh -c "test -z \"\$('$tool' trees '$db')\""
for how in "" --compact; do
    copy=$dir/copy$how
    check "backup $how" sh -c "'$tool' backup '$db' '$copy' $how >/dev/null"
    check "check copy $how" sh -c "'$tool' check '$copy' --immutable >/dev/null"
    check "copy $how dumps the same" sh -c "'$tool' dump '$copy' --immutable | cmp -s - '$dir/in.dump'"
    check "copy $how stays compressed" test "$(field "$copy" "values compressed")" = 2000
done

# Refusals: the library's (exit 1), the command line's (exit 2).
"$tool" train-dict "$db" --size 100 >/dev/null 2>&1
check "--size 100: exit 1 (got $?)" test $? -eq 1
"$tool" train-dict "$db" --tree nosuch >/dev/null 2>&1
check "--tree nosuch: exit 1 (got $?)" test $? -eq 1
"$tool" train-dict "$db" --size abc >/dev/null 2>&1
check "--size abc: exit 2 (got $?)" test $? -eq 2
"$tool" train-dict "$db" --size >/dev/null 2>&1
check "--size without BYTES: exit 2 (got $?)" test $? -eq 2
check "check after the refusals" sh -c "'$tool' check '$db' >/dev/null"

summary
