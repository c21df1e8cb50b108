/* SPDX-License-Identifier: MIT */
/*
 * abi.h: the public structs a caller allocates (ldb_options, ldb_stat,
 * ldb_tree_stat) as they were in 0.1.0, and the internal calls behind the
 * sized public entry points of abi.c.
 *
 * A program built against 0.1.0 passes structs of exactly these layouts to
 * the unsized entry points (ldb_open, ldb_stat_env, ldb_dbi_stat), which must
 * read and write these bytes and no more, forever. The current header's
 * structs start with the same fields at the same offsets (checked in
 * abi.c); fields added since follow them. Never edit these copies: a new
 * field goes into include/lightningdb.h, at the end of its struct.
 */
#ifndef LDB_ABI_H
#define LDB_ABI_H

#include "lightningdb.h"

struct ldb__options_0_1 {
    unsigned flags;
    int sync_mode;
    unsigned page_size;
    uint64_t max_size;
    size_t cache_size;
    int compression;
    int compression_level;
    unsigned max_readers;
    unsigned max_dbs;
    uint64_t wal_max_bytes;
    unsigned file_mode;
};

struct ldb__stat_0_1 {
    uint64_t last_txn_id;
    uint32_t page_size;
    uint64_t file_size, max_size;
    uint64_t pages_used, pages_free;
    uint64_t wal_size;
    uint32_t readers_used, readers_max;
    uint64_t oldest_reader_txn_id;
    uint64_t cache_hits, cache_misses, cache_bytes;
    uint64_t commits;
    uint64_t checkpoints;
};

struct ldb__tree_stat_0_1 {
    uint64_t entries;
    uint32_t depth;
    uint64_t branch_pages, leaf_pages, overflow_pages;
};

/* ldb_compress_stat as it first was (0.2 development): what the unsized
 * ldb_dbi_compress_stat means. */
struct ldb__compress_stat_0_2 {
    uint64_t values, compressed, stored_bytes, raw_bytes;
};

/* The calls behind the public ones, on structs of the current header's
 * size: opts may be NULL (every default); st is filled in whole. */
int ldb__env_open(const char *path, const ldb_options *opts, ldb_env **env);
int ldb__env_stat(ldb_env *env, ldb_stat *st);
int ldb__dbi_stat(ldb_txn *txn, ldb_dbi dbi, ldb_tree_stat *st);
int ldb__dbi_compress_stat(ldb_txn *txn, ldb_dbi dbi, ldb_compress_stat *st);

#endif
