/* SPDX-License-Identifier: MIT */
/*
 * options.c: ldb_options_parse, the text form of ldb_options for operators
 * ("sync_mode=off,cache_size=256MiB,compression=zstd:3").
 *
 * Pure parsing, at the bottom of the library: it touches no file and reads
 * no environment variable (an embedding program decides where the text
 * comes from). Each key sets one field and leaves the others as they are,
 * so a program can layer its defaults, a configuration file and a command
 * line. A bad item changes nothing: the text is parsed into a copy that
 * replaces *opts only when every item was good.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "lightningdb.h"

#define MAX_ITEM 256

enum kind { SIZE, COUNT, MODE, SYNC, CODEC, FLAG, LEVEL, PATH };

struct key {
    const char *name;
    enum kind kind;
    unsigned flag; /* FLAG: the bit */
};

static const struct key keys[] = {
    {"sync_mode", SYNC, 0},         {"page_size", SIZE, 0},
    {"max_size", SIZE, 0},          {"cache_size", SIZE, 0},
    {"compression", CODEC, 0},      {"compression_level", LEVEL, 0},
    {"max_readers", COUNT, 0},      {"max_dbs", COUNT, 0},
    {"wal_max_bytes", SIZE, 0},     {"file_mode", MODE, 0},
    {"rdonly", FLAG, LDB_RDONLY},   {"nocreate", FLAG, LDB_NOCREATE},
    {"immutable", FLAG, LDB_IMMUTABLE}, {"archive_dir", PATH, 0},
};

/* The strings archive_dir= has named, one copy each, kept for the life of
 * the process: the options struct holds a pointer and has no destructor,
 * and a program parses a handful of distinct paths at most. */
static struct interned {
    struct interned *next;
    char s[];
} *interned;
static pthread_mutex_t interned_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *intern(const char *s)
{
    pthread_mutex_lock(&interned_mu);
    struct interned *e = interned;
    while (e != NULL && strcmp(e->s, s) != 0)
        e = e->next;
    if (e == NULL) {
        size_t n = strlen(s) + 1;
        e = ldb__malloc(sizeof *e + n);
        if (e != NULL) {
            memcpy(e->s, s, n);
            e->next = interned;
            interned = e;
        }
    }
    pthread_mutex_unlock(&interned_mu);
    return e ? e->s : NULL;
}

static int say(char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return LDB_INVALID;
}

/* Digits only (no sign, no spaces): strtoull would take "-1" as 2^64-1. */
static int parse_digits(const char *s, int base, uint64_t *out, const char **end)
{
    uint64_t v = 0;
    const char *p = s;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            break;
        int d = *p - '0';
        if (d >= base)
            return -1;
        if (__builtin_mul_overflow(v, (uint64_t)base, &v) ||
            __builtin_add_overflow(v, (uint64_t)d, &v))
            return -ERANGE;
    }
    if (p == s)
        return -1;
    *out = v;
    *end = p;
    return 0;
}

/* "4096", "4KiB", "4k", "256MiB", "1TiB", "1GB" (decimal), "512B". */
static int parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {
        {"", 1},           {"B", 1},
        {"k", 1ull << 10}, {"K", 1ull << 10}, {"KiB", 1ull << 10}, {"KB", 1000ull},
        {"M", 1ull << 20}, {"MiB", 1ull << 20}, {"MB", 1000000ull},
        {"G", 1ull << 30}, {"GiB", 1ull << 30}, {"GB", 1000000000ull},
        {"T", 1ull << 40}, {"TiB", 1ull << 40}, {"TB", 1000000000000ull},
    };
    uint64_t v;
    const char *end;
    int rc = parse_digits(s, 10, &v, &end);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) == 0)
            return __builtin_mul_overflow(v, units[i].mult, out) ? -ERANGE : 0;
    }
    return -1;
}

static int parse_level(const char *s, int *out)
{
    int neg = s[0] == '-';
    uint64_t v;
    const char *end;
    if (parse_digits(s + neg, 10, &v, &end) < 0 || *end != '\0' || v > 1000000)
        return -1;
    *out = neg ? -(int)v : (int)v;
    return 0;
}

/* "none", "lz4", "zstd", optionally ":LEVEL" (not after "none"). The codec
 * and its level go together: without ":LEVEL" the level is the codec's
 * default (0), so "compression=zstd:9,...,compression=none" leaves options
 * ldb_open() accepts, never NONE with a stale level. */
static int parse_codec(const char *s, ldb_options *o)
{
    static const struct {
        const char *name;
        int codec;
    } codecs[] = {{"none", LDB_COMPRESS_NONE}, {"lz4", LDB_COMPRESS_LZ4}, {"zstd", LDB_COMPRESS_ZSTD}};
    const char *colon = strchr(s, ':');
    size_t n = colon ? (size_t)(colon - s) : strlen(s);
    for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++) {
        if (strlen(codecs[i].name) == n && strncmp(s, codecs[i].name, n) == 0) {
            int level = 0;
            if (colon != NULL && (codecs[i].codec == LDB_COMPRESS_NONE ||
                                  parse_level(colon + 1, &level) < 0))
                return -1;
            o->compression = codecs[i].codec;
            o->compression_level = level;
            return 0;
        }
    }
    return -1;
}

static int parse_bool(const char *s, int *out)
{
    if (!strcmp(s, "1") || !strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
        *out = 1;
    else if (!strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
        *out = 0;
    else
        return -1;
    return 0;
}

/* Store v in a field of its own width, refusing what does not fit. */
static int store_count(const char *name, uint64_t v, ldb_options *o)
{
    if (!strcmp(name, "max_size") || !strcmp(name, "wal_max_bytes")) {
        *(!strcmp(name, "max_size") ? &o->max_size : &o->wal_max_bytes) = v;
        return 0;
    }
    if (!strcmp(name, "cache_size")) {
        if (v > SIZE_MAX)
            return -ERANGE;
        o->cache_size = (size_t)v;
        return 0;
    }
    if (v > UINT32_MAX)
        return -ERANGE;
    if (!strcmp(name, "page_size"))
        o->page_size = (unsigned)v;
    else if (!strcmp(name, "max_readers"))
        o->max_readers = (unsigned)v;
    else
        o->max_dbs = (unsigned)v;
    return 0;
}

static int apply(const struct key *k, const char *value, ldb_options *o)
{
    uint64_t v;
    const char *end;
    int b, rc;
    switch (k->kind) {
    case SIZE:
        TRY(parse_size(value, &v));
        return store_count(k->name, v, o);
    case COUNT:
        TRY(parse_digits(value, 10, &v, &end));
        return *end ? -1 : store_count(k->name, v, o);
    case MODE:
        rc = parse_digits(value, 8, &v, &end);
        if (rc < 0 || *end || v > 07777)
            return -1;
        o->file_mode = (unsigned)v;
        return 0;
    case SYNC:
        if (!strcmp(value, "full"))
            o->sync_mode = LDB_SYNC_FULL;
        else if (!strcmp(value, "off"))
            o->sync_mode = LDB_SYNC_OFF;
        else
            return -1;
        return 0;
    case CODEC:
        return parse_codec(value, o);
    case LEVEL:
        return parse_level(value, &o->compression_level);
    case PATH:
        /* Empty: no archive. */
        o->archive_dir = value[0] ? intern(value) : NULL;
        return value[0] && o->archive_dir == NULL ? -ENOMEM : 0;
    case FLAG:
        TRY(parse_bool(value, &b));
        o->flags = b ? o->flags | k->flag : o->flags & ~k->flag;
        return 0;
    }
    return -1;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* One "key=value" item (NUL-terminated); spaces around key and value go. */
static int parse_item(char *item, ldb_options *o, char *err, size_t errlen)
{
    char *eq = strchr(item, '=');
    if (eq == NULL)
        return say(err, errlen, "'%s': expected key=value", item);
    *eq = '\0';
    item = trim(item);
    const char *value = trim(eq + 1);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcmp(item, keys[i].name) != 0)
            continue;
        int rc = apply(&keys[i], value, o);
        if (rc == -ERANGE)
            return say(err, errlen, "%s: '%s' is too large", item, value);
        if (rc == -ENOMEM)
            return say(err, errlen, "%s: out of memory", item);
        if (rc < 0)
            return say(err, errlen, "%s: bad value '%s'", item, value);
        return 0;
    }
    return say(err, errlen, "unknown option '%s'", item);
}

/* The 0.1.0 struct ends with file_mode: no caller's struct is smaller. */
#define OPTIONS_MIN_SIZE (offsetof(ldb_options, file_mode) + sizeof(unsigned))

int ldb_options_parse_sized(ldb_options *opts, size_t opts_size, const char *text, char *err,
                            size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (opts == NULL || text == NULL || opts_size < OPTIONS_MIN_SIZE)
        return say(err, errlen, "no options, no text or a bad options size");
    /* Only the caller's bytes are read and written back: a struct built
     * against an older header is smaller than ours. */
    size_t given = opts_size < sizeof(ldb_options) ? opts_size : sizeof(ldb_options);
    ldb_options copy;
    memset(&copy, 0, sizeof copy);
    memcpy(&copy, opts, given);
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, ",\n");
        char item[MAX_ITEM];
        if (n >= sizeof item)
            return say(err, errlen, "item '%.20s...' is too long", p);
        memcpy(item, p, n);
        item[n] = '\0';
        char *t = trim(item);
        if (*t != '\0')
            TRY(parse_item(t, &copy, err, errlen));
        p += n;
        if (*p)
            p++;
    }
    if (copy.archive_dir != NULL &&
        given < offsetof(ldb_options, archive_dir) + sizeof copy.archive_dir)
        return say(err, errlen, "archive_dir: not in this program's ldb_options");
    memcpy(opts, &copy, given);
    return 0;
}
