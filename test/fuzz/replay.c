/* SPDX-License-Identifier: MIT */
/*
 * The plain driver of a fuzz target: runs every file of the target's seed
 * corpus (FUZZ_CORPUS, or the directories and files named on the command
 * line) through LLVMFuzzerTestOneInput() once. Built with the normal
 * compiler into every `make check`, so the corpus, including each crash a
 * fuzzer ever found, is replayed on every build.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        return 1;
    }
    buf = malloc((size_t)n + 1);
    rewind(f);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        return 1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 0;
}

static int run_path(const char *path, int *count)
{
    struct stat st;
    struct dirent **names;
    int n, bad = 0;
    char p[4096];

    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: no such file\n", path);
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (*count)++;
        return run_file(path);
    }
    n = scandir(path, &names, NULL, alphasort); /* sorted: a deterministic order */
    if (n < 0)
        return 1;
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", path, names[i]->d_name);
            bad |= run_path(p, count);
        }
        free(names[i]);
    }
    free(names);
    return bad;
}

int main(int argc, char **argv)
{
    int bad = 0, count = 0;

    if (argc < 2) {
        bad = run_path(FUZZ_CORPUS, &count);
    } else {
        for (int i = 1; i < argc; i++)
            bad |= run_path(argv[i], &count);
    }
    printf("replay: %d inputs run%s\n", count, bad ? ", some unreadable" : "");
    return bad || count == 0 ? 1 : 0;
}
