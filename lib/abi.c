/* SPDX-License-Identifier: MIT */
/*
 * abi.c: the entry points that take a caller-allocated struct, and the rule
 * that lets those structs grow without breaking programs built against an
 * older header (include/lightningdb.h, "Growing structs", says it for
 * callers).
 *
 * Each struct has two entry points. The sized one (ldb_open_sized, ...)
 * is what the header's function-like macros call, passing the sizeof of
 * the struct the caller was compiled with; the unsized one (ldb_open, ...)
 * is what programs built against 0.1.0 call, and what a caller reaches by
 * taking the function's address, and it means the 0.1.0 size. The rule is
 * the Linux kernel's for clone3 and openat2:
 *  - a size below 0.1.0's is LDB_INVALID;
 *  - in: bytes past the caller's size read as zero, which every field
 *    added since 0.1.0 takes to mean its default; a caller's struct larger
 *    than this library's is accepted only if the bytes this library does
 *    not know are all zero (else LDB_INVALID: an option it cannot honour);
 *  - out: the library writes exactly the caller's size, zeroing any tail it
 *    does not know.
 */
#include <stddef.h>
#include <string.h>

#include "abi.h"
#include "error.h"

/* The current structs begin with the 0.1.0 layout, field for field. */
#define SAME_FIELD(cur, old, f)                                                    \
    _Static_assert(offsetof(cur, f) == offsetof(struct old, f) &&                  \
                       sizeof(((cur *)0)->f) == sizeof(((struct old *)0)->f),      \
                   #cur "." #f " moved: a field was inserted or changed, not added")
SAME_FIELD(ldb_options, ldb__options_0_1, flags);
SAME_FIELD(ldb_options, ldb__options_0_1, sync_mode);
SAME_FIELD(ldb_options, ldb__options_0_1, page_size);
SAME_FIELD(ldb_options, ldb__options_0_1, max_size);
SAME_FIELD(ldb_options, ldb__options_0_1, cache_size);
SAME_FIELD(ldb_options, ldb__options_0_1, compression);
SAME_FIELD(ldb_options, ldb__options_0_1, compression_level);
SAME_FIELD(ldb_options, ldb__options_0_1, max_readers);
SAME_FIELD(ldb_options, ldb__options_0_1, max_dbs);
SAME_FIELD(ldb_options, ldb__options_0_1, wal_max_bytes);
SAME_FIELD(ldb_options, ldb__options_0_1, file_mode);
SAME_FIELD(ldb_stat, ldb__stat_0_1, last_txn_id);
SAME_FIELD(ldb_stat, ldb__stat_0_1, page_size);
SAME_FIELD(ldb_stat, ldb__stat_0_1, file_size);
SAME_FIELD(ldb_stat, ldb__stat_0_1, max_size);
SAME_FIELD(ldb_stat, ldb__stat_0_1, pages_used);
SAME_FIELD(ldb_stat, ldb__stat_0_1, pages_free);
SAME_FIELD(ldb_stat, ldb__stat_0_1, wal_size);
SAME_FIELD(ldb_stat, ldb__stat_0_1, readers_used);
SAME_FIELD(ldb_stat, ldb__stat_0_1, readers_max);
SAME_FIELD(ldb_stat, ldb__stat_0_1, oldest_reader_txn_id);
SAME_FIELD(ldb_stat, ldb__stat_0_1, cache_hits);
SAME_FIELD(ldb_stat, ldb__stat_0_1, cache_misses);
SAME_FIELD(ldb_stat, ldb__stat_0_1, cache_bytes);
SAME_FIELD(ldb_stat, ldb__stat_0_1, commits);
SAME_FIELD(ldb_stat, ldb__stat_0_1, checkpoints);
SAME_FIELD(ldb_tree_stat, ldb__tree_stat_0_1, entries);
SAME_FIELD(ldb_tree_stat, ldb__tree_stat_0_1, depth);
SAME_FIELD(ldb_tree_stat, ldb__tree_stat_0_1, branch_pages);
SAME_FIELD(ldb_tree_stat, ldb__tree_stat_0_1, leaf_pages);
SAME_FIELD(ldb_tree_stat, ldb__tree_stat_0_1, overflow_pages);
SAME_FIELD(ldb_compress_stat, ldb__compress_stat_0_2, values);
SAME_FIELD(ldb_compress_stat, ldb__compress_stat_0_2, compressed);
SAME_FIELD(ldb_compress_stat, ldb__compress_stat_0_2, stored_bytes);
SAME_FIELD(ldb_compress_stat, ldb__compress_stat_0_2, raw_bytes);

/* A field added to ldb_options must start past every byte of the 0.1.0
 * struct, its tail padding included: a 0.1.0 caller may leave that padding
 * unset. `reserved` fills the padding on LP64 and is never read. */
_Static_assert(offsetof(ldb_options, reserved) >= offsetof(struct ldb__options_0_1, file_mode) +
                                                      sizeof(unsigned),
               "ldb_options.reserved must follow file_mode");
_Static_assert(sizeof(ldb_options) >= sizeof(struct ldb__options_0_1),
               "ldb_options shrank below 0.1.0");

/* Copy a caller's struct of size `size` into `dst` (the library's, `cap`
 * bytes) by the rule above. */
static int abi_copy_in(void *dst, size_t cap, const void *src, size_t size, size_t min)
{
    if (size < min)
        return LDB_INVALID;
    memset(dst, 0, cap);
    if (size <= cap) {
        memcpy(dst, src, size);
        return 0;
    }
    const unsigned char *tail = (const unsigned char *)src + cap;
    for (size_t i = 0; i < size - cap; i++)
        if (tail[i] != 0)
            return LDB_INVALID;
    memcpy(dst, src, cap);
    return 0;
}

/* Give the caller `size` bytes of `src` (the library's, `cap` bytes). */
static void abi_copy_out(void *dst, size_t size, const void *src, size_t cap)
{
    if (size <= cap) {
        memcpy(dst, src, size);
    } else {
        memcpy(dst, src, cap);
        memset((unsigned char *)dst + cap, 0, size - cap);
    }
}

int ldb_open_sized(const char *path, const ldb_options *opts, size_t opts_size, ldb_env **env)
{
    if (opts == NULL)
        return ldb__env_open(path, NULL, env);
    ldb_options o;
    TRY(abi_copy_in(&o, sizeof o, opts, opts_size, sizeof(struct ldb__options_0_1)));
    return ldb__env_open(path, &o, env);
}

int(ldb_open)(const char *path, const ldb_options *opts, ldb_env **env)
{
    return ldb_open_sized(path, opts, sizeof(struct ldb__options_0_1), env);
}

int ldb_stat_env_sized(ldb_env *env, ldb_stat *st, size_t st_size)
{
    if (st == NULL || st_size < sizeof(struct ldb__stat_0_1))
        return LDB_INVALID;
    ldb_stat s;
    TRY(ldb__env_stat(env, &s));
    abi_copy_out(st, st_size, &s, sizeof s);
    return 0;
}

int(ldb_stat_env)(ldb_env *env, ldb_stat *st)
{
    return ldb_stat_env_sized(env, st, sizeof(struct ldb__stat_0_1));
}

int ldb_dbi_stat_sized(ldb_txn *txn, ldb_dbi dbi, ldb_tree_stat *st, size_t st_size)
{
    if (st == NULL || st_size < sizeof(struct ldb__tree_stat_0_1))
        return LDB_INVALID;
    ldb_tree_stat s;
    TRY(ldb__dbi_stat(txn, dbi, &s));
    abi_copy_out(st, st_size, &s, sizeof s);
    return 0;
}

int(ldb_dbi_stat)(ldb_txn *txn, ldb_dbi dbi, ldb_tree_stat *st)
{
    return ldb_dbi_stat_sized(txn, dbi, st, sizeof(struct ldb__tree_stat_0_1));
}

int ldb_dbi_compress_stat_sized(ldb_txn *txn, ldb_dbi dbi, ldb_compress_stat *st, size_t st_size)
{
    if (st == NULL || st_size < sizeof(struct ldb__compress_stat_0_2))
        return LDB_INVALID;
    ldb_compress_stat s;
    TRY(ldb__dbi_compress_stat(txn, dbi, &s));
    abi_copy_out(st, st_size, &s, sizeof s);
    return 0;
}

int(ldb_dbi_compress_stat)(ldb_txn *txn, ldb_dbi dbi, ldb_compress_stat *st)
{
    return ldb_dbi_compress_stat_sized(txn, dbi, st, sizeof(struct ldb__compress_stat_0_2));
}
