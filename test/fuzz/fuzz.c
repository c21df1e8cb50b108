/* SPDX-License-Identifier: MIT */
/*
 * Shared pieces of the fuzz targets: the per-run directory and a walk that
 * touches every page a reader can reach (see fuzz.h).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static char dir_path[256];

static void remove_dir(void)
{
    fuzz_dir_clean();
    rmdir(dir_path);
}

const char *fuzz_dir(void)
{
    if (dir_path[0] == '\0') {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(dir_path, sizeof dir_path, "%s/ldb-fz.%ld", base, (long)getpid());
        if (mkdir(dir_path, 0700) != 0)
            abort();
        atexit(remove_dir);
    }
    fuzz_dir_clean();
    return dir_path;
}

void fuzz_dir_clean(void)
{
    DIR *d = opendir(dir_path);
    struct dirent *e;
    char p[512];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir_path, e->d_name);
        unlink(p);
    }
    closedir(d);
}

void fuzz_write_file(const char *path, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const char *p = data;

    if (fd < 0)
        abort();
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n <= 0)
            abort();
        p += n;
        size -= (size_t)n;
    }
    close(fd);
}

/* Walks one tree both ways; a bounded number of steps, so a cycle in a
 * damaged file cannot turn into a hang of the harness itself. */
static void walk_tree(ldb_txn *txn, ldb_dbi dbi)
{
    static const ldb_cursor_op ops[2][2] = {{LDB_FIRST, LDB_NEXT}, {LDB_LAST, LDB_PREV}};
    ldb_cursor *cur;
    ldb_val k, v, got;

    for (int dir = 0; dir < 2; dir++) {
        if (ldb_cursor_open(txn, dbi, &cur) != 0)
            return;
        int rc = ldb_cursor_get(cur, &k, &v, ops[dir][0]);
        for (int n = 0; rc == 0 && n < 100000; n++) {
            if (dir == 0)
                (void)ldb_get(txn, dbi, &k, &got);
            rc = ldb_cursor_get(cur, &k, &v, ops[dir][1]);
        }
        ldb_cursor_close(cur);
    }
}

void fuzz_walk_env(ldb_env *env)
{
    ldb_txn *txn;
    ldb_cursor *cur;
    ldb_val k, v;
    char name[256];

    if (ldb_txn_begin(env, LDB_TXN_RDONLY, &txn) == 0) {
        walk_tree(txn, LDB_MAIN);
        /* Named trees are entries of the main tree: try each key as a name. */
        if (ldb_cursor_open(txn, LDB_MAIN, &cur) == 0) {
            int rc = ldb_cursor_get(cur, &k, &v, LDB_FIRST);
            for (int n = 0; rc == 0 && n < 1000; n++) {
                if (k.size > 0 && k.size < sizeof name && memchr(k.data, 0, k.size) == NULL) {
                    ldb_dbi dbi;
                    memcpy(name, k.data, k.size);
                    name[k.size] = '\0';
                    if (ldb_dbi_open(txn, name, 0, &dbi) == 0)
                        walk_tree(txn, dbi);
                }
                rc = ldb_cursor_get(cur, &k, &v, LDB_NEXT);
            }
            ldb_cursor_close(cur);
        }
        ldb_txn_abort(txn);
    }
    FILE *devnull = fopen("/dev/null", "w");
    (void)ldb_check(env, devnull);
    if (devnull != NULL)
        fclose(devnull);
}
