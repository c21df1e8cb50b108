/* SPDX-License-Identifier: MIT */
/* Old files built by hand for the suites that read them: a version-1 log
 * as 0.1.0 wrote it, and the database id a log must name. Not built with
 * the library's encoder, so the library's reader is tested against the
 * format as documented (docs/format.md), not against itself. */
#ifndef LDB_TEST_V1LOG_H
#define LDB_TEST_V1LOG_H

#include <stddef.h>
#include <stdint.h>

/* A version-1 log being built: the header, then records with a 32-byte
 * header whose crc chains from the previous record's. */
typedef struct tu_v1_log {
    uint8_t buf[8192];
    size_t len;
    uint64_t salt;
    uint32_t prev_crc;
    uint8_t rec[4096];
    size_t rec_len;
    uint32_t nops;
} tu_v1_log;

/* Starts a log for the database db_id whose checkpoint is at txn
 * checkpoint. */
void tu_v1_begin(tu_v1_log *l, uint64_t db_id, uint64_t checkpoint);
/* Adds an op (WAL_OP_*) to the record being built; name NULL is the main
 * tree, key and val NULL are empty. */
void tu_v1_op(tu_v1_log *l, unsigned type, const char *name, const char *key, const char *val);
/* Ends the record as txn txnid and appends it to the log. */
void tu_v1_seal(tu_v1_log *l, uint64_t txnid);
/* Writes the log to path (created or truncated). */
void tu_v1_write(const tu_v1_log *l, const char *path);

/* The database id in the newest meta page of the data file at path. */
uint64_t tu_db_id_of(const char *path);

#endif
