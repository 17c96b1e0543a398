/*
 * printer_net — the "net" backend: one TCP connection per call to the
 * printer's raw port. printer_net.h describes what it promises.
 *
 * The sockets are non-blocking and every wait is a poll() bounded by the
 * call's deadline, so no call outlives its timeout whatever the printer
 * or the network does. Calls run on the printer's worker thread.
 */
#include "printer_net.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net.h"

#define DEFAULT_PORT 9100

/* DLE EOT 1, 2, 3 and 4 in one write; one answer byte each, in order. */
static const uint8_t status_query[] = {0x10, 0x04, 0x01, 0x10, 0x04, 0x02,
                                       0x10, 0x04, 0x03, 0x10, 0x04, 0x04};

struct net_be {
    char host[sizeof((printer_conf *)0)->net.address];
    int port;
    char name[sizeof((printer_conf *)0)->net.address + 8]; /* "host:port" for messages */
};

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until deadline: 1 ready, 0 deadline passed, -1
 * error (errno). */
static int wait_fd(int fd, short events, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        struct pollfd pfd = {.fd = fd, .events = events};
        int r;

        if (left <= 0)
            return 0;
        r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* A connected socket, or -1 with the result in *res and a sentence. */
static int connect_printer(const struct net_be *n, long long deadline, printer_result *res,
                           char *detail, size_t detaillen)
{
    char err[NET_ERR_LEN];
    int fd = net_connect(n->host, n->port, err), soerr = 0, w;
    socklen_t len = sizeof soerr;

    if (fd < 0) {
        *res = PRINTER_OFFLINE;
        snprintf(detail, detaillen, "net printer %s: %s", n->name, err);
        return -1;
    }
    w = wait_fd(fd, POLLOUT, deadline);
    if (w == 0) {
        *res = PRINTER_TIMEOUT;
        snprintf(detail, detaillen, "net printer %s: no connection within the timeout", n->name);
        close(fd);
        return -1;
    }
    if (w < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0) {
        *res = PRINTER_OFFLINE;
        snprintf(detail, detaillen, "net printer %s: cannot connect: %s", n->name,
                 strerror(soerr != 0 ? soerr : errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Send data[0..len) by deadline; the bytes the socket took go to *sent. */
static printer_result send_all(const struct net_be *n, int fd, const uint8_t *data, size_t len,
                               long long deadline, size_t *sent, char *detail, size_t detaillen)
{
    *sent = 0;
    while (*sent < len) {
        /* MSG_NOSIGNAL: a printer that closed the connection is an error
         * for this call, not a signal for the process. */
        ssize_t w = send(fd, data + *sent, len - *sent, MSG_NOSIGNAL);
        int r;

        if (w > 0) {
            *sent += (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            snprintf(detail, detaillen, "net printer %s: send failed: %s", n->name,
                     strerror(errno));
            return PRINTER_IO;
        }
        r = wait_fd(fd, POLLOUT, deadline);
        if (r == 0) {
            snprintf(detail, detaillen, "net printer %s stopped taking data", n->name);
            return PRINTER_TIMEOUT;
        }
        if (r < 0) {
            snprintf(detail, detaillen, "net printer %s: %s", n->name, strerror(errno));
            return PRINTER_IO;
        }
    }
    return PRINTER_OK;
}

static printer_result net_print(void *be, const uint8_t *data, size_t len, int timeout_ms,
                                char *detail, size_t detaillen)
{
    const struct net_be *n = be;
    long long deadline = now_ms() + timeout_ms;
    printer_result r;
    char why[192];
    size_t sent;
    int fd = connect_printer(n, deadline, &r, detail, detaillen);

    if (fd < 0)
        return r;
    r = send_all(n, fd, data, len, deadline, &sent, why, sizeof why);
    close(fd);
    if (r != PRINTER_OK)
        snprintf(detail, detaillen, "%s after %zu of %zu bytes", why, sent, len);
    return r;
}

static printer_result net_status(void *be, escpos_status *out, int timeout_ms, char *detail,
                                 size_t detaillen)
{
    const struct net_be *n = be;
    long long deadline = now_ms() + timeout_ms;
    uint8_t answer[4];
    escpos_status st = {0, 0};
    size_t got = 0, sent;
    printer_result r;
    int fd = connect_printer(n, deadline, &r, detail, detaillen);

    if (fd < 0)
        return r;
    r = send_all(n, fd, status_query, sizeof status_query, deadline, &sent, detail, detaillen);
    while (r == PRINTER_OK && got < sizeof answer) {
        ssize_t g = recv(fd, answer + got, sizeof answer - got, 0);
        int w;

        if (g > 0) {
            got += (size_t)g;
            continue;
        }
        if (g == 0) {
            snprintf(detail, detaillen, "net printer %s closed the connection after %zu of 4 bytes",
                     n->name, got);
            r = PRINTER_IO;
        } else if (errno != EAGAIN && errno != EINTR) {
            snprintf(detail, detaillen, "net printer %s: %s", n->name, strerror(errno));
            r = PRINTER_IO;
        } else if ((w = wait_fd(fd, POLLIN, deadline)) == 0) {
            snprintf(detail, detaillen, "net printer %s: no status answer within %d ms (%zu of 4)",
                     n->name, timeout_ms, got);
            r = PRINTER_TIMEOUT;
        } else if (w < 0) {
            snprintf(detail, detaillen, "net printer %s: %s", n->name, strerror(errno));
            r = PRINTER_IO;
        }
    }
    close(fd);
    if (r != PRINTER_OK)
        return r;
    for (int q = 1; q <= 4; q++) {
        escpos_status one;

        if (escpos_status_dle(q, answer[q - 1], &one) != 0) {
            snprintf(detail, detaillen, "net printer %s: bad answer %02x to DLE EOT %d", n->name,
                     answer[q - 1], q);
            return PRINTER_IO;
        }
        escpos_status_merge(&st, &one);
    }
    *out = st;
    return PRINTER_OK;
}

static int net_open(const printer_conf *conf, void **be, char *err, size_t errlen)
{
    const char *a = conf->net.address;
    struct net_be *n;

    if (memchr(a, '\0', sizeof conf->net.address) == NULL || a[0] == '\0') {
        if (err != NULL)
            snprintf(err, errlen, "net printer: no address in the configuration");
        errno = EINVAL;
        return -1;
    }
    n = calloc(1, sizeof *n);
    if (n == NULL) {
        if (err != NULL)
            snprintf(err, errlen, "net printer: out of memory");
        return -1;
    }
    /* "host:port", "[v6]:port", or a bare host (no colon) on port 9100. */
    if (strchr(a, ':') == NULL) {
        snprintf(n->host, sizeof n->host, "%s", a);
        n->port = DEFAULT_PORT;
    } else if (net_parse_hostport(a, n->host, sizeof n->host, &n->port) != 0) {
        if (err != NULL)
            snprintf(err, errlen, "net printer: bad address '%s' (want host:port or host)", a);
        free(n);
        errno = EINVAL;
        return -1;
    }
    snprintf(n->name, sizeof n->name, "%s", a);
    *be = n;
    return 0;
}

static void net_close(void *be)
{
    free(be);
}

static const struct printer_ops net_ops = {
    .name = "net",
    .open = net_open,
    .print = net_print,
    .status = net_status,
    .close = net_close,
};

const struct printer_ops *printer_net_backend(void)
{
    return &net_ops;
}
