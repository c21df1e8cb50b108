/* SPDX-License-Identifier: MIT */
/*
 * Shared pieces of the fuzz targets (test/fuzz/fuzz_*.c). Each target is one
 * LLVMFuzzerTestOneInput(); the same object links either into a libFuzzer
 * binary (configure --enable-fuzzing) or into the plain replay driver
 * (replay.c) that `make check` runs over the seed corpus.
 */
#ifndef LDB_TEST_FUZZ_H
#define LDB_TEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "lightningdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fresh empty directory for one run (under /dev/shm when it exists, so a
 * run costs no disk I/O); fuzz_dir_clean() removes what a run left in it. */
const char *fuzz_dir(void);
void fuzz_dir_clean(void);

/* Writes size bytes to path (created or truncated); aborts on failure: a
 * harness that cannot set up its input must not report a clean run. */
void fuzz_write_file(const char *path, const void *data, size_t size);

/* Reads every key of every tree of env, forward then backward, looks every
 * key up with ldb_get, and runs ldb_check. Errors are fine (the input is
 * damaged); crashes, leaks and hangs are the bugs. */
void fuzz_walk_env(ldb_env *env);

#endif
