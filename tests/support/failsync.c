/*
 * failsync — an LD_PRELOAD library for tests: while the file named by
 * ONEWINDOW_FAIL_SYNC_FLAG exists, fsync() and fdatasync() of a SQLite
 * write-ahead log ("...-wal") fail with EIO without syncing, as they do
 * when the disk reports a write error. Other files, and every sync while
 * the flag file is absent, go to the C library. No flag variable: no
 * effect at all.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool failing_wal(int fd)
{
    const char *flag = getenv("ONEWINDOW_FAIL_SYNC_FLAG");
    char link[64], path[PATH_MAX];
    ssize_t n;

    if (flag == NULL || access(flag, F_OK) != 0)
        return false;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    if ((n = readlink(link, path, sizeof path - 1)) < 4)
        return false;
    path[n] = '\0';
    return strcmp(path + n - 4, "-wal") == 0;
}

/* The C library's call named name, unless fd is a failing WAL. */
static int sync_or_fail(int fd, const char *name, int (**real)(int))
{
    if (failing_wal(fd)) {
        errno = EIO;
        return -1;
    }
    if (*real == NULL)
        *real = (int (*)(int))dlsym(RTLD_NEXT, name);
    return (*real)(fd);
}

int fdatasync(int fd)
{
    static int (*real)(int);

    return sync_or_fail(fd, "fdatasync", &real);
}

int fsync(int fd)
{
    static int (*real)(int);

    return sync_or_fail(fd, "fsync", &real);
}
