/*
 * replay — runs fuzz targets without libFuzzer: every file named on the
 * command line, and every file in every directory named there (in name
 * order), goes once through LLVMFuzzerTestOneInput(). This is how gcc and
 * sanitizer builds exercise the checked-in corpus.
 *
 * Exits 0 after at least one input; 1 if an input cannot be read or there
 * were none. A failing input aborts inside the harness.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t size = 0, cap = 0, n;

    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    do {
        if (cap - size < 4096) {
            uint8_t *grown = realloc(data, cap + 65536);

            if (grown == NULL) {
                fprintf(stderr, "replay: %s: out of memory\n", path);
                free(data);
                fclose(f);
                return -1;
            }
            data = grown;
            cap += 65536;
        }
        n = fread(data + size, 1, cap - size, f);
        size += n;
    } while (n > 0);
    if (ferror(f)) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(data);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

/* Replay path, or the files in it if it is a directory. Returns the number
 * of inputs run, or -1. */
static long replay_path(const char *path)
{
    struct dirent **names;
    struct stat st;
    long count = 0;
    int n;

    if (stat(path, &st) < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path) < 0 ? -1 : 1;
    n = scandir(path, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char file[4096];

        if (count >= 0 && names[i]->d_name[0] != '.') {
            int len = snprintf(file, sizeof file, "%s/%s", path, names[i]->d_name);

            if (len < 0 || (size_t)len >= sizeof file) {
                fprintf(stderr, "replay: %s/%s: path too long\n", path, names[i]->d_name);
                count = -1;
            } else if (stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
                count = replay_file(file) < 0 ? -1 : count + 1;
            }
        }
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv)
{
    long total = 0;

    for (int i = 1; i < argc; i++) {
        long n = replay_path(argv[i]);

        if (n < 0)
            return EXIT_FAILURE;
        total += n;
    }
    if (total == 0) {
        fprintf(stderr, "replay: no inputs\n");
        return EXIT_FAILURE;
    }
    printf("replay: %ld inputs, no failure\n", total);
    return EXIT_SUCCESS;
}
