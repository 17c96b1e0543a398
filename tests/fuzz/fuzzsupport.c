/*
 * fuzzsupport — see fuzzsupport.h.
 */
#include "fuzzsupport.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[4096];

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

void fz_remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_scratch(void)
{
    if (scratch[0] != '\0')
        fz_remove_tree(scratch);
}

void fz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    remove_scratch(); /* abort() skips atexit() */
    abort();
}

static int make_under(const char *base)
{
    int n = snprintf(scratch, sizeof scratch, "%s/onewindow-fuzz-XXXXXX", base);

    return n > 0 && (size_t)n < sizeof scratch && mkdtemp(scratch) != NULL ? 0 : -1;
}

const char *fz_scratch_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    struct stat st;

    if (scratch[0] != '\0')
        return scratch;
    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    if (!(stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0 &&
          make_under("/dev/shm") == 0) &&
        make_under(tmp) < 0) {
        fprintf(stderr, "fuzzsupport: cannot make a scratch directory in %s: %s\n", tmp,
                strerror(errno));
        abort();
    }
    atexit(remove_scratch);
    return scratch;
}

char *fz_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);

    FZ_CHECK(path != NULL);
    snprintf(path, n, "%s/%s", dir, name);
    return path;
}

void fz_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const char *p = data;

    if (fd < 0) {
        fprintf(stderr, "fuzzsupport: %s: %s\n", path, strerror(errno));
        abort();
    }
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "fuzzsupport: writing %s: %s\n", path, strerror(errno));
            abort();
        }
        p += n;
        len -= (size_t)n;
    }
    close(fd);
}
