/*
 * reader_serial — the "serial" backend (reader_serial.h): open and set up
 * the tty, write a frame, read what arrives, flush after errors.
 *
 * The tty is opened non-blocking with VMIN = VTIME = 0, and poll() bounds
 * every wait, so a reader that stops answering costs the command's timeout
 * and nothing more. tcflush(TCIOFLUSH) after an error drops the rest of a
 * bad answer, so the next command starts in sync.
 */
#include "reader_serial.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "clk.h"

struct serial {
    char device[256];
    speed_t speed;
    int fd; /* -1 while closed: the next send opens it again */
};

static int speed_of(int baud, speed_t *out)
{
    static const struct {
        int baud;
        speed_t speed;
    } speeds[] = {
        {9600, B9600}, {19200, B19200}, {38400, B38400}, {57600, B57600}, {115200, B115200}};

    for (size_t i = 0; i < sizeof speeds / sizeof speeds[0]; i++)
        if (speeds[i].baud == baud) {
            *out = speeds[i].speed;
            return 0;
        }
    return -1;
}

/* Open and set up the tty: raw, 8N1, no flow control, VMIN = VTIME = 0. */
static int tty_open(struct serial *s, char *err, size_t errlen)
{
    struct termios t;
    int fd = open(s->device, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0) {
        int e = errno;

        snprintf(err, errlen, "serial card reader %s: %s", s->device, strerror(e));
        errno = e;
        return -1;
    }
    if (!isatty(fd) || tcgetattr(fd, &t) != 0) {
        snprintf(err, errlen, "serial card reader %s: not a terminal device", s->device);
        close(fd);
        errno = ENOTTY;
        return -1;
    }
    cfmakeraw(&t);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB | CRTSCTS);
    t.c_cflag |= CS8 | CLOCAL | CREAD;
    t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    if (cfsetispeed(&t, s->speed) != 0 || cfsetospeed(&t, s->speed) != 0 ||
        tcsetattr(fd, TCSANOW, &t) != 0) {
        int e = errno;

        snprintf(err, errlen, "serial card reader %s: cannot set 8N1: %s", s->device, strerror(e));
        close(fd);
        errno = e;
        return -1;
    }
    tcflush(fd, TCIOFLUSH);
    s->fd = fd;
    return 0;
}

static void tty_drop(struct serial *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

static void serial_close(void *be)
{
    struct serial *s = be;

    if (s == NULL)
        return;
    tty_drop(s);
    free(s);
}

static int serial_open(const reader_conf *conf, void **be, char *err, size_t errlen)
{
    struct serial *s;
    char ignore[8];

    if (err == NULL) {
        err = ignore;
        errlen = sizeof ignore;
    }
    if (conf->serial.device[0] == '\0') {
        snprintf(err, errlen, "serial card reader: no device configured");
        errno = EINVAL;
        return -1;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "serial card reader: out of memory");
        return -1;
    }
    s->fd = -1;
    snprintf(s->device, sizeof s->device, "%s", conf->serial.device);
    if (speed_of(conf->serial.baud, &s->speed) != 0) {
        snprintf(err, errlen, "serial card reader: unsupported baud rate %d", conf->serial.baud);
        free(s);
        errno = EINVAL;
        return -1;
    }
    if (tty_open(s, err, errlen) != 0) {
        int e = errno;

        free(s);
        errno = e;
        return -1;
    }
    *be = s;
    return 0;
}

/* An I/O error: close, so the next command opens the device again. */
static idcard_result io_error(struct serial *s, const char *what, int e, char *detail,
                              size_t detaillen)
{
    snprintf(detail, detaillen, "%s %s: %s", s->device, what, strerror(e));
    tty_drop(s);
    return IDCARD_IO;
}

static idcard_result serial_send(void *be, const uint8_t *frame, size_t len, int timeout_ms,
                                 char *detail, size_t detaillen)
{
    struct serial *s = be;
    int64_t until = clk_mono_ms() + timeout_ms;
    size_t off = 0;

    if (s->fd < 0 && tty_open(s, detail, detaillen) != 0)
        return IDCARD_IO;
    while (off < len) {
        ssize_t w = write(s->fd, frame + off, len - off);
        struct pollfd p = {.fd = s->fd, .events = POLLOUT};
        int64_t left;

        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return io_error(s, "write", errno, detail, detaillen);
        left = until - clk_mono_ms();
        if (left <= 0 || poll(&p, 1, (int)left) == 0) {
            snprintf(detail, detaillen, "%s: the command could not be sent within %d ms", s->device,
                     timeout_ms);
            return IDCARD_NO_ANSWER;
        }
    }
    return IDCARD_OK;
}

static idcard_result serial_recv(void *be, uint8_t *buf, size_t cap, size_t *got, int timeout_ms,
                                 char *detail, size_t detaillen)
{
    struct serial *s = be;
    int64_t until = clk_mono_ms() + timeout_ms;

    *got = 0;
    if (s->fd < 0) {
        snprintf(detail, detaillen, "%s is closed", s->device);
        return IDCARD_IO;
    }
    for (;;) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        int64_t left = until - clk_mono_ms();
        ssize_t n;
        int rc;

        if (left <= 0)
            return IDCARD_NO_ANSWER;
        rc = poll(&p, 1, (int)left);
        if (rc < 0 && errno != EINTR)
            return io_error(s, "poll", errno, detail, detaillen);
        if (rc <= 0)
            continue;
        n = read(s->fd, buf, cap);
        if (n > 0) {
            *got = (size_t)n;
            return IDCARD_OK;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return io_error(s, "read", errno, detail, detaillen);
        if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
            return io_error(s, "read", EIO, detail, detaillen);
    }
}

static void serial_flush(void *be)
{
    struct serial *s = be;

    if (s->fd >= 0)
        tcflush(s->fd, TCIOFLUSH);
}

static const struct reader_ops serial_ops = {
    .name = "serial",
    .open = serial_open,
    .send = serial_send,
    .recv = serial_recv,
    .flush = serial_flush,
    .close = serial_close,
};

const struct reader_ops *reader_serial_backend(void)
{
    return &serial_ops;
}
