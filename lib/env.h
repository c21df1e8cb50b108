/* SPDX-License-Identifier: MIT */
/*
 * env.h: opening and closing a database (the data file, its map and the
 * lock file). The handle itself is defined in handle.h, which every layer
 * that needs it includes.
 */
#ifndef LDB_ENV_H
#define LDB_ENV_H

#include "txn.h"

/* Defaults of ldb_options (API.md). */
#define LDB_DEFAULT_PAGE_SIZE 4096u
/* A ThreadSanitizer build (--enable-tsan) defaults to 64 GiB: TSan keeps
 * most of the address space for its shadow memory, and what is left for
 * the program does not hold several 1 TiB map reservations (a process with
 * two envs open got ENOMEM from mmap). */
/* The suites run under qemu-user (test/qemu-suites.sh) define their own:
 * qemu reserves the guest's address space up front and cannot give it
 * even one 64 GiB map. */
#if defined(LDB_TEST_DEFAULT_MAX_SIZE)
#define LDB_DEFAULT_MAX_SIZE LDB_TEST_DEFAULT_MAX_SIZE
#elif defined(__SANITIZE_THREAD__)
#define LDB_DEFAULT_MAX_SIZE (1ULL << 36)
#else
#define LDB_DEFAULT_MAX_SIZE (1ULL << 40)
#endif
#define LDB_DEFAULT_CACHE_SIZE (64u << 20)
#define LDB_DEFAULT_MAX_READERS 126u
#define LDB_DEFAULT_MAX_DBS 128u
#define LDB_DEFAULT_WAL_MAX (64ULL << 20)
#define LDB_DEFAULT_FILE_MODE 0644u
#define LDB_MAX_READERS_LIMIT 65536u
#define LDB_MAX_DBS_LIMIT 32768u
/* Independent ARCs the value cache is split into (cache.h): enough that two
 * or four reader threads rarely take the same lock. */
#define LDB_CACHE_SHARDS 16u

#ifdef LDB_TEST_HOOKS
/* Drop env as a process that died would: free the handle and close its
 * files without syncing the log or checkpointing, so the next open recovers
 * (test/fuzz/fuzz_api.c crashes and reopens within one process). No txn
 * may be open. */
void ldb__env_abandon(ldb_env *env);
#endif

#endif
