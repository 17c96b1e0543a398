/*
 * probe — see probe.h. Plain blocking POSIX I/O: these measure the kernel,
 * so nothing of the project's own plumbing is in the path.
 */
#include "probe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define PROBE_BLOCK     4096
#define PROBE_FILE_SIZE (4u << 20) /* the fsync probe writes round this */
#define PROBE_MSG       64
#define PROBE_WARMUP    10 /* round trips not recorded */
#define PROBE_TIMEOUT_S 5

/* ---- fsync ------------------------------------------------------------------ */

int probe_fsync(const char *dir, unsigned count, lat *l, char *err, size_t errlen)
{
    uint8_t block[PROBE_BLOCK];
    char path[4096];
    int fd;

    if ((size_t)snprintf(path, sizeof path, "%s/hallbench-fsync.XXXXXX", dir) >= sizeof path) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    if ((fd = mkstemp(path)) < 0) {
        snprintf(err, errlen, "cannot create a file in %s: %s", dir, strerror(errno));
        return -1;
    }
    /* Gone from the directory at once: nothing is left behind, whatever
     * happens; the open descriptor keeps the file. */
    unlink(path);
    /* Preallocate with real writes, made durable, so the measured writes
     * overwrite allocated blocks (as a reused WAL does) and fdatasync has
     * no metadata to flush. */
    memset(block, 0, sizeof block);
    for (unsigned off = 0; off < PROBE_FILE_SIZE; off += PROBE_BLOCK) {
        if (pwrite(fd, block, PROBE_BLOCK, off) != PROBE_BLOCK) {
            snprintf(err, errlen, "cannot write in %s: %s", dir, strerror(errno));
            close(fd);
            return -1;
        }
    }
    if (fsync(fd) < 0) {
        snprintf(err, errlen, "fsync in %s: %s", dir, strerror(errno));
        close(fd);
        return -1;
    }
    for (unsigned i = 0; i < count; i++) {
        off_t off = (off_t)(i % (PROBE_FILE_SIZE / PROBE_BLOCK)) * PROBE_BLOCK;
        memset(block, (int)(i & 0xff), 16);
        int64_t t0 = lat_now_ns();
        if (pwrite(fd, block, PROBE_BLOCK, off) != PROBE_BLOCK || fdatasync(fd) < 0) {
            snprintf(err, errlen, "write + fdatasync in %s: %s", dir, strerror(errno));
            close(fd);
            return -1;
        }
        lat_record(l, lat_now_ns() - t0);
    }
    close(fd);
    return 0;
}

/* ---- rtt -------------------------------------------------------------------- */

/* Read or write exactly len bytes; false on EOF, error or timeout. */
static bool full_io(int fd, void *data, size_t len, bool writing)
{
    uint8_t *p = data;

    while (len > 0) {
        ssize_t n = writing ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static void set_options(int fd)
{
    int one = 1;
    struct timeval tv = {PROBE_TIMEOUT_S, 0};

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* The echo server: one connection, echoed until it closes. */
static void *echo_main(void *arg)
{
    int lfd = *(int *)arg, fd;
    uint8_t msg[PROBE_MSG];

    while ((fd = accept(lfd, NULL, NULL)) < 0 && errno == EINTR)
        ;
    if (fd < 0)
        return NULL;
    set_options(fd);
    while (full_io(fd, msg, sizeof msg, false) && full_io(fd, msg, sizeof msg, true))
        ;
    close(fd);
    return NULL;
}

int probe_rtt(unsigned count, lat *l, char *err, size_t errlen)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof addr;
    uint8_t msg[PROBE_MSG];
    pthread_t echo;
    int lfd = -1, fd = -1, rc = -1;
    bool started = false;

    if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 1) < 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0) {
        snprintf(err, errlen, "cannot listen on loopback: %s", strerror(errno));
        goto out;
    }
    /* The accept must not wait forever if the connect below fails. */
    struct timeval tv = {PROBE_TIMEOUT_S, 0};
    setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (pthread_create(&echo, NULL, echo_main, &lfd) != 0) {
        snprintf(err, errlen, "cannot start the echo thread");
        goto out;
    }
    started = true;
    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        snprintf(err, errlen, "cannot connect over loopback: %s", strerror(errno));
        goto out;
    }
    set_options(fd);
    memset(msg, 'x', sizeof msg);
    for (unsigned i = 0; i < count + PROBE_WARMUP; i++) {
        int64_t t0 = lat_now_ns();
        errno = 0;
        if (!full_io(fd, msg, sizeof msg, true) || !full_io(fd, msg, sizeof msg, false)) {
            snprintf(err, errlen, "echo over loopback failed: %s",
                     errno ? strerror(errno) : "connection closed");
            goto out;
        }
        if (i >= PROBE_WARMUP)
            lat_record(l, lat_now_ns() - t0);
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (started)
        pthread_join(echo, NULL);
    if (lfd >= 0)
        close(lfd);
    return rc;
}

/* ---- process ---------------------------------------------------------------- */

int probe_process(pid_t pid, long *rss_kib, long *fds, char *err, size_t errlen)
{
    char path[64], line[256];
    FILE *f;

    *rss_kib = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    if ((f = fopen(path, "r")) == NULL) {
        snprintf(err, errlen, "process %ld: %s", (long)pid, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0) {
            char *end;
            long v = strtol(line + 6, &end, 10);
            if (end != line + 6 && v >= 0)
                *rss_kib = v;
        }
    fclose(f);
    if (*rss_kib < 0) {
        snprintf(err, errlen, "process %ld: no VmRSS in %s", (long)pid, path);
        return -1;
    }

    snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
    DIR *d = opendir(path);
    if (d == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct dirent *e;
    *fds = 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            (*fds)++;
    closedir(d);
    return 0;
}
