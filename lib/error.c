/* SPDX-License-Identifier: MIT */
/*
 * The one table of result codes and their messages, and the corruption
 * breakpoint every "this page is damaged" check funnels through.
 */
#include "error.h"

#include <stdio.h>
#include <string.h>

static const struct {
    int code;
    const char *text;
} error_table[] = {
    {0, "success"},
    {LDB_NOTFOUND, "LDB_NOTFOUND: no such key"},
    {LDB_EXISTS, "LDB_EXISTS: the key exists or is out of order"},
    {LDB_CORRUPTED, "LDB_CORRUPTED: a checksum or structural check failed"},
    {LDB_FULL, "LDB_FULL: the database reached its max_size"},
    {LDB_BUSY, "LDB_BUSY: the writer is busy or no reader slot is free"},
    {LDB_INVALID, "LDB_INVALID: invalid argument or misuse"},
    {LDB_TOOBIG, "LDB_TOOBIG: key or value too big"},
    {LDB_READONLY, "LDB_READONLY: write through a read-only env or txn"},
    {LDB_VERSION, "LDB_VERSION: file format not supported by this build"},
    {LDB_PANIC, "LDB_PANIC: fatal I/O error, close and reopen the env"},
    {LDB_DBS_FULL, "LDB_DBS_FULL: max_dbs named trees are open in this env"},
    {LDB_MISMATCH, "LDB_MISMATCH: the files belong to different databases"},
};

const char *ldb_strerror(int rc)
{
    for (size_t i = 0; i < sizeof error_table / sizeof error_table[0]; i++)
        if (error_table[i].code == rc)
            return error_table[i].text;
    /* Negative errno values; strerror's table is static for known values. */
    if (rc < 0 && rc > -4096) {
        static _Thread_local char buf[128];
        snprintf(buf, sizeof buf, "%s", strerror(-rc));
        return buf;
    }
    return "unknown error code";
}

const char *ldb_version(void)
{
    return PACKAGE_VERSION;
}

static _Thread_local char corrupt_where[96];

int ldb__corrupt_at(const char *file, int line)
{
    const char *base = strrchr(file, '/');
    snprintf(corrupt_where, sizeof corrupt_where, "%s:%d", base ? base + 1 : file, line);
    return LDB_CORRUPTED;
}

const char *ldb__corrupt_where(void)
{
    return corrupt_where;
}
