/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the input is a data file. Opened LDB_RDONLY (with a lock file)
 * and LDB_IMMUTABLE (without), every tree walked both ways, ldb_check run.
 * A damaged file must give an error, never a crash, a leak or a hang.
 */
#include <stdio.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned modes[2] = {LDB_RDONLY, LDB_IMMUTABLE};
    char path[300];

    snprintf(path, sizeof path, "%s/db", fuzz_dir());
    for (int i = 0; i < 2; i++) {
        ldb_options o = {0};
        ldb_env *env;

        fuzz_dir_clean();
        fuzz_write_file(path, data, size);
        o.flags = modes[i];
        if (ldb_open(path, &o, &env) == 0) {
            fuzz_walk_env(env);
            ldb_close(env);
        }
    }
    fuzz_dir_clean();
    return 0;
}
