#!/bin/sh
# SPDX-License-Identifier: MIT
# Compressed values through the command (issue 10): a dump loaded with
# -o compression=zstd (and lz4) dumps back the same, `stat` counts its
# compressed values and bytes saved, `check` passes; the dump of the
# compressed database loaded with compression off dumps the same again;
# `backup` and `backup --compact` copies dump the same and stay compressed.
# Ends with a Check-style summary line (CI counts test cases from it).
name=tool-compress
. "${srcdir:-.}/test/tool-lib.sh"

for codec in ZSTD LZ4; do
    grep -q "^#define HAVE_$codec 1" config.h ||
        { echo "tool-compress: built without $codec: skipped"; exit 77; }
done

# 200 log-line values of ~700 bytes (inline, compressible), 3 of 9000
# bytes (overflow runs), short ones (below the threshold): in hex.
line="2026-12-05T18:00:00 INFO [api] request served id=12345 ms=17 "
hexline=$(printf '%s' "$line" | od -An -v -tx1 | tr -d ' \n')
v700=""
i=0
while [ $i -lt 11 ]; do v700="$v700$hexline"; i=$((i + 1)); done
v9000=""
i=0
while [ $i -lt 13 ]; do v9000="$v9000$v700"; i=$((i + 1)); done
{
    echo "# lightningdb-dump 1"
    echo "# tree: main"
    i=0
    while [ $i -lt 200 ]; do
        printf '6b%06d %s%08x\n' $i "$v700" $i
        i=$((i + 1))
    done
    for i in 1 2 3; do printf '6f76%02d %s\n' $i "$v9000"; done
    i=0
    while [ $i -lt 20 ]; do
        printf '73%04d 76616c7565%04x\n' $i $i
        i=$((i + 1))
    done
    echo "# end: 223 entries"
} >"$dir/in.dump"

compressed_count() { # path: the "values compressed" figure of `stat`
    "$tool" stat "$1" | sed -n 's/^  values compressed: *//p'
}
saved() {
    "$tool" stat "$1" | sed -n 's/^  bytes saved: *//p'
}

for codec in zstd lz4; do
    db=$dir/$codec.ldb
    check "$codec: load" sh -c "'$tool' -o compression=$codec load '$db' <'$dir/in.dump' >/dev/null"
    check "$codec: check" sh -c "'$tool' check '$db' >/dev/null"
    "$tool" dump "$db" >"$dir/$codec.dump"
    check "$codec: dump = what was loaded" cmp -s "$dir/in.dump" "$dir/$codec.dump"
    n=$(compressed_count "$db")
    check "$codec: stat counts 203 compressed values (got '$n')" test "$n" = 203
    s=$(saved "$db")
    check "$codec: stat shows bytes saved (got '$s')" test "${s:-0}" -gt 100000
    if command -v python3 >/dev/null; then
        # stat --json: the same figures per tree, and the cache's.
        j=$("$tool" stat "$db" --json | python3 -c 'import json, sys
v = json.load(sys.stdin)
t = v["tree"]
print(t["values_compressed"], t["bytes_saved"], v["cache_hits"] + v["cache_misses"] + v["cache_bytes"])')
        check "$codec: stat --json counts them (got '$j')" test "$j" = "203 $s 0"
    fi
    # Back through a dump into a database written with compression off.
    check "$codec: reload plain" sh -c "'$tool' load '$dir/$codec-plain.ldb' <'$dir/$codec.dump' >/dev/null"
    check "$codec: plain has none compressed" test "$(compressed_count "$dir/$codec-plain.ldb")" = 0
    check "$codec: plain dump = original" sh -c "'$tool' dump '$dir/$codec-plain.ldb' | cmp -s - '$dir/in.dump'"
    for how in "" --compact; do
        copy=$dir/$codec-copy$how
        check "$codec: backup $how" sh -c "'$tool' backup '$db' '$copy' $how >/dev/null"
        check "$codec: check copy $how" sh -c "'$tool' check '$copy' --immutable >/dev/null"
        check "$codec: copy $how dumps the same" sh -c "'$tool' dump '$copy' --immutable | cmp -s - '$dir/in.dump'"
        check "$codec: copy $how stays compressed" test "$(compressed_count "$copy")" = 203
    done
done

summary
