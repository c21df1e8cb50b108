#!/bin/sh
# SPDX-License-Identifier: MIT
# The library that make install installs carries none of the test hooks
# (fault injection, crash simulation, the lock and recovery hooks): only the
# test copy of the core that make check builds (lib/libldbtest.la) has them.
# The hooked copy is checked too, so that the names looked for are still the
# hooks' names. Exit 77 (skipped) when configure put the hooks into the
# library itself (--enable-test-hooks) or nm is missing.
grep -q '^#define LDB_TEST_HOOKS' config.h &&
    { echo "nohooks: configured with --enable-test-hooks"; exit 77; }
command -v nm >/dev/null 2>&1 || { echo "nohooks: no nm"; exit 77; }
hooks='ldb__os_fault_set ldb__os_crashsim_start ldb__os_io_cap_set ldb__lock_set_reclaim_hook ldb__lock_test_not_alone ldb__recovery_step_hook ldb__wal_set_record_max ldb__alloc_fail_set ldb__env_abandon ldb__os_crashsim_stop ldb__btree_headed_runs'
status=0
has() { # has FILE NAME: nm of FILE lists NAME
    nm "$1" 2>/dev/null | awk '{ print $NF }' | grep -qx "$2"
}
for lib in lib/.libs/liblightningdb.so lib/.libs/liblightningdb.a; do
    [ -e "$lib" ] || continue
    n=$(nm "$lib" 2>/dev/null | wc -l)
    [ "$n" -gt 100 ] || { echo "nohooks: nm lists only $n symbols of $lib"; status=1; }
    for h in $hooks; do
        if has "$lib" "$h"; then
            echo "nohooks: $lib carries the test hook $h"
            status=1
        fi
    done
    echo "nohooks: $lib: $n symbols, no test hook"
done
test=lib/.libs/libldbtest.a
if [ -e "$test" ]; then
    for h in $hooks; do
        has "$test" "$h" || { echo "nohooks: the test core lacks $h"; status=1; }
    done
fi
exit $status
