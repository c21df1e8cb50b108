/* SPDX-License-Identifier: MIT */
/*
 * dict.h: zstd dictionaries per tree (ldb_dbi_train_dict), stored in the
 * database and looked up by id.
 *
 * Where they live: a named tree of the catalog, LDB__DICT_TREE, whose name
 * begins with the byte 0x01 (names so reserved are refused by
 * ldb_dbi_open and not listed by ldb_dbi_list). Being a tree like the
 * others, the log carries its puts, recovery replays them, backups copy it
 * and ldb_check walks it. Its keys (docs/format.md):
 *   "d" + id (4 bytes, big-endian)  CRC32C (4 bytes LE) + the dictionary
 *   "n"                              the last id given (4 bytes LE)
 *   "t" + tree name ("" for LDB_MAIN) the tree's current id (4 bytes LE)
 * A dictionary is never changed or removed: retraining adds one with the
 * next id and points "t" at it; values written under the old id keep
 * reading.
 *
 * Caching: a committed dictionary id names the same bytes forever, so the
 * env keeps the loaded ones (struct ldb__dict_cache: digested zstd forms,
 * mutex-guarded, for the life of the env). Dictionaries trained by a write
 * txn are the txn's own until it ends (an aborted id is given again to
 * the next training, with other bytes): they never enter the env's cache
 * before they are committed; lookups through the txn find them first.
 *
 * Layer: beside value.c, over the txn and trees.c (it reads and writes a
 * tree).
 */
#ifndef LDB_DICT_H
#define LDB_DICT_H

#include <stddef.h>
#include <stdint.h>

#include "trees.h"

/* A reserved name (trees.h): ldb_dbi_open refuses it. */
#define LDB__DICT_TREE "\001ldb-dict"

/* Dictionary sizes ldb_dbi_train_dict accepts, and its default. */
#define LDB__DICT_MIN_BYTES 1024u
#define LDB__DICT_MAX_BYTES (1u << 20)
#define LDB__DICT_DEFAULT_BYTES (32u << 10)

struct ldb__dict_cache;

int ldb__dict_cache_open(struct ldb__dict_cache **out);
void ldb__dict_cache_close(struct ldb__dict_cache *c);

/* Train a dictionary for dbi's values in the write txn and make it the
 * tree's (ldb_dbi_train_dict). */
int ldb__dict_train(ldb_txn *txn, ldb_dbi dbi, size_t bytes, uint32_t *id);
/* Writer: the dictionary for dbi's zstd values as txn sees it: *id 0 and
 * *cdict NULL when the tree has none. */
int ldb__dict_for_put(ldb_txn *txn, ldb_dbi dbi, uint32_t *id, const void **cdict);
/* 1 while dict.c stores its own records (they are never compressed). */
int ldb__dict_storing(const ldb_txn *txn);
/* Decompress a stored value (compress.h) into dst (raw bytes), with the
 * dictionary it names, if any: LDB_CORRUPTED if that one is missing or
 * damaged. */
int ldb__dict_decompress(ldb_txn *txn, const uint8_t *stored, uint32_t len, uint8_t *dst,
                         uint32_t raw);
/* The txn ends: its own dictionaries and lookups go. */
void ldb__dict_txn_free(ldb_txn *txn);
/* ldb_check: every record of the dictionary tree is sound (each
 * dictionary's checksum and zstd's own load of it, every tree's id named
 * by a dictionary). bad(ctx, text) for each problem; returns how many. */
uint64_t ldb__dict_check(ldb_txn *txn, void (*bad)(void *ctx, const char *what), void *ctx);

#endif
