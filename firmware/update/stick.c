/*
 * stick — the stick reader and its protocol (see stick.h). Divisions: names;
 * the reader process; the kiosk side.
 *
 * The kiosk side and the reader talk over a SOCK_SEQPACKET socket pair, one
 * request and one answer at a time. A request is a struct request and, for
 * OP_OPEN and OP_RECEIPT, a name or the receipt text; an answer is a struct
 * answer and, for OP_SCAN and OP_READ, its payload. Both run from the same
 * binary, so the structs are exchanged as they are.
 */
#include "stick.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READ_MAX    65536 /* bytes per read request */
#define MSG_MAX     (READ_MAX + 64)
#define TMP_RECEIPT STICK_RECEIPT ".tmp"
#define ORPHANS_MAX 8
#define READER_FD   3 /* the reader's end of the socket, its only descriptor beyond stdio */

enum op { OP_SCAN = 1, OP_OPEN, OP_READ, OP_RECEIPT };

struct request {
    uint32_t op;
    uint32_t len; /* payload bytes; for OP_READ the bytes wanted */
    uint64_t off;
};

struct answer {
    int32_t err;   /* errno of the reader, 0 if done */
    uint32_t len;  /* payload bytes */
    uint64_t size; /* OP_OPEN: file size; OP_SCAN: entries */
    char type;     /* OP_OPEN and the first answer: the entry's type */
};

/* ---- names ----------------------------------------------------------------- */

/* Length of the printable UTF-8 character at p: not a control character,
 * DEL, a C1 control, an overlong form or a surrogate. 0 if there is none.
 * Stops at the terminating NUL, which no test below accepts. */
static size_t printable(const unsigned char *p)
{
    unsigned lo = 0x80, hi = 0xbf;

    if (p[0] >= 0x20 && p[0] < 0x7f)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        return p[1] >= (p[0] == 0xc2 ? 0xa0 : 0x80) && p[1] <= 0xbf ? 2 : 0;
    if (p[0] >= 0xe0 && p[0] <= 0xef) {
        lo = p[0] == 0xe0 ? 0xa0 : 0x80;
        hi = p[0] == 0xed ? 0x9f : 0xbf;
        return p[1] >= lo && p[1] <= hi && p[2] >= 0x80 && p[2] <= 0xbf ? 3 : 0;
    }
    if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        lo = p[0] == 0xf0 ? 0x90 : 0x80;
        hi = p[0] == 0xf4 ? 0x8f : 0xbf;
        return p[1] >= lo && p[1] <= hi && p[2] >= 0x80 && p[2] <= 0xbf && p[3] >= 0x80 &&
                       p[3] <= 0xbf
                   ? 4
                   : 0;
    }
    return 0;
}

void stick_escape(const char *text, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t o = 0;

    if (cap == 0)
        return;
    while (*p != '\0') {
        size_t n = printable(p), len = n;
        char esc[8];
        const char *piece = (const char *)p;

        if (*p == '\\') {
            piece = "\\\\";
            len = 2;
        } else if (n == 0) {
            snprintf(esc, sizeof esc, "\\x%02x", *p);
            piece = esc;
            len = 4;
            n = 1;
        }
        if (o + len >= cap)
            break;
        memcpy(out + o, piece, len);
        o += len;
        p += n;
    }
    out[o] = '\0';
}

const char *stick_refusal(const char *name, char type)
{
    const unsigned char *p = (const unsigned char *)name;
    size_t len = strlen(name);

    if (len == 0 || len > STICK_NAME_MAX || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0)
        return "The file name is not valid.";
    while (*p != '\0') {
        size_t n = printable(p);
        if (n == 0)
            return "The file name holds control characters or bytes that are not UTF-8; "
                   "rename the file.";
        p += n;
    }
    switch (type) {
    case STICK_REGULAR:
        return NULL;
    case STICK_SYMLINK:
        return "It is a symbolic link; kupd follows no links on a USB stick.";
    case STICK_FIFO:
        return "It is a FIFO, not a regular file; it was not opened.";
    case STICK_CHARDEV:
    case STICK_BLOCKDEV:
        return "It is a device node, not a regular file; it was not opened.";
    case STICK_FOLDER:
        return "It is a folder, not a bundle file.";
    case STICK_SOCKET:
        return "It is a socket, not a regular file; it was not opened.";
    default:
        return "It cannot be examined; it was not opened.";
    }
}

/* ---- the test hook --------------------------------------------------------- */

/* KUPD_STICK_FAULT: "eio@N" or "hang@N" into *kind ('e', 'h') and *at; 0
 * with *kind 0 when unset, -1 when malformed. */
static int fault_parse(int *kind, uint64_t *at)
{
    const char *v = getenv("KUPD_STICK_FAULT"), *num;
    char *end;

    *kind = 0;
    *at = 0;
    if (v == NULL || *v == '\0')
        return 0;
    if (strncmp(v, "eio@", 4) == 0) {
        *kind = 'e';
        num = v + 4;
    } else if (strncmp(v, "hang@", 5) == 0) {
        *kind = 'h';
        num = v + 5;
    } else {
        return -1;
    }
    if (*num < '0' || *num > '9')
        return -1;
    errno = 0;
    *at = strtoull(num, &end, 10);
    return errno != 0 || *end != '\0' ? -1 : 0;
}

int stick_fault_env_ok(void)
{
    int kind;
    uint64_t at;

    if (fault_parse(&kind, &at) < 0) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

/* ---- the reader process ---------------------------------------------------- */

static char type_of(mode_t mode)
{
    if (S_ISREG(mode))
        return STICK_REGULAR;
    if (S_ISLNK(mode))
        return STICK_SYMLINK;
    if (S_ISFIFO(mode))
        return STICK_FIFO;
    if (S_ISCHR(mode))
        return STICK_CHARDEV;
    if (S_ISBLK(mode))
        return STICK_BLOCKDEV;
    if (S_ISDIR(mode))
        return STICK_FOLDER;
    if (S_ISSOCK(mode))
        return STICK_SOCKET;
    return STICK_UNKNOWN;
}

/* Send the answer a with the a->len payload bytes already at out +
 * sizeof *a. A kiosk side that went away ends the reader. */
static void reply(struct answer *a, uint8_t *out)
{
    memcpy(out, a, sizeof *a);
    if (send(READER_FD, out, sizeof *a + a->len, MSG_NOSIGNAL) < 0)
        _exit(0);
}

/* The folder: mount itself, or mount/folder if it is a real folder. */
static int open_folder(const char *mount, const char *folder, struct answer *a)
{
    struct stat st;
    int mfd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC), dfd;

    a->type = STICK_FOLDER;
    if (mfd < 0 || folder == NULL) {
        a->err = mfd < 0 ? errno : 0;
        return mfd;
    }
    if (fstatat(mfd, folder, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        a->err = errno;
        close(mfd);
        return -1;
    }
    a->type = type_of(st.st_mode);
    if (!S_ISDIR(st.st_mode)) {
        a->err = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
        close(mfd);
        return -1;
    }
    dfd = openat(mfd, folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    a->err = dfd < 0 ? errno : 0;
    close(mfd);
    return dfd;
}

static void serve_scan(int dfd, uint8_t *out)
{
    struct answer a = {0};
    size_t used = sizeof a;
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;

    if (d == NULL) {
        a.err = errno;
        if (fd >= 0)
            close(fd);
        reply(&a, out);
        return;
    }
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        struct stat st;

        if (e->d_name[0] == '.' || n <= 4 || n > STICK_NAME_MAX ||
            strcmp(e->d_name + n - 4, ".kub") != 0)
            continue;
        if (a.size == STICK_ENTRIES_MAX) {
            a.err = E2BIG;
            break;
        }
        out[used++] =
            (uint8_t)(fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? type_of(st.st_mode)
                                                                             : STICK_UNKNOWN);
        out[used++] = (uint8_t)n;
        memcpy(out + used, e->d_name, n);
        used += n;
        a.size++;
        errno = 0;
    }
    if (a.err == 0 && errno != 0)
        a.err = errno;
    closedir(d);
    a.len = a.err == 0 ? (uint32_t)(used - sizeof a) : 0;
    reply(&a, out);
}

/* Open a bundle: its type first (a FIFO or a device is never opened), then
 * O_NONBLOCK|O_NOFOLLOW, then the same regular file again. Returns the new
 * descriptor or -1. */
static int serve_open(int dfd, const uint8_t *req, size_t len, uint8_t *out)
{
    char name[STICK_NAME_MAX + 1];
    struct stat st, again;
    struct answer a = {0};
    int fd = -1;

    if (len == 0 || len > STICK_NAME_MAX || memchr(req, '/', len) != NULL ||
        memchr(req, '\0', len) != NULL) {
        a.err = EINVAL;
        goto out;
    }
    memcpy(name, req, len);
    name[len] = '\0';
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        a.err = errno;
        goto out;
    }
    a.type = type_of(st.st_mode);
    if (!S_ISREG(st.st_mode))
        goto out;
    fd = openat(dfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        a.err = errno;
        goto out;
    }
    if (fstat(fd, &again) < 0 || !S_ISREG(again.st_mode) || again.st_dev != st.st_dev ||
        again.st_ino != st.st_ino) {
        a.err = ESTALE;
        close(fd);
        fd = -1;
        goto out;
    }
    a.size = (uint64_t)again.st_size;
out:
    reply(&a, out);
    return fd;
}

static void serve_read(int fd, const struct request *rq, int fault, uint64_t fault_at, uint8_t *out)
{
    struct answer a = {0};
    size_t got = 0;

    if (fd < 0) {
        a.err = EBADF;
    } else if (rq->len > READ_MAX) {
        a.err = EINVAL;
    } else if (fault != 0 && rq->off + rq->len > fault_at) {
        if (fault == 'h')
            for (;;)
                pause();
        a.err = EIO;
    }
    while (a.err == 0 && got < rq->len) {
        ssize_t n = pread(fd, out + sizeof a + got, rq->len - got, (off_t)(rq->off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            a.err = errno;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    a.len = a.err == 0 ? (uint32_t)got : 0;
    reply(&a, out);
}

/* The receipt: a fresh file under a temporary name (a link or anything
 * else already there is removed, never followed), then a rename. */
static void serve_receipt(int dfd, const uint8_t *text, size_t len, uint8_t *out)
{
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
    struct answer a = {0};
    int fd = openat(dfd, TMP_RECEIPT, flags, 0644);

    if (fd < 0 && errno == EEXIST && unlinkat(dfd, TMP_RECEIPT, 0) == 0)
        fd = openat(dfd, TMP_RECEIPT, flags, 0644);
    if (fd < 0) {
        a.err = errno;
        reply(&a, out);
        return;
    }
    while (a.err == 0 && len > 0) {
        ssize_t n = write(fd, text, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            a.err = n < 0 ? errno : EIO;
        else {
            text += n;
            len -= (size_t)n;
        }
    }
    if (a.err == 0 && fsync(fd) < 0)
        a.err = errno;
    if (close(fd) < 0 && a.err == 0)
        a.err = errno;
    if (a.err == 0 && renameat(dfd, TMP_RECEIPT, dfd, STICK_RECEIPT) < 0)
        a.err = errno;
    if (a.err == 0 && fsync(dfd) < 0 && errno != EINVAL)
        a.err = errno;
    if (a.err != 0)
        unlinkat(dfd, TMP_RECEIPT, 0);
    reply(&a, out);
}

/* The reader: answers requests until the kiosk side closes its end. */
static void reader(const char *mount, const char *folder) __attribute__((noreturn));

static void reader(const char *mount, const char *folder)
{
    uint8_t *in = malloc(MSG_MAX), *out = malloc(MSG_MAX);
    struct answer a = {0};
    struct request rq;
    uint64_t fault_at;
    int fault, dfd = -1, fd = -1;

    fault_parse(&fault, &fault_at);
    if (in == NULL || out == NULL)
        a.err = ENOMEM;
    else
        dfd = open_folder(mount, folder, &a);
    if (out != NULL)
        reply(&a, out);
    if (dfd < 0)
        _exit(0);
    for (;;) {
        ssize_t n = recv(READER_FD, in, MSG_MAX, 0);

        if (n < (ssize_t)sizeof rq)
            _exit(0);
        memcpy(&rq, in, sizeof rq);
        switch (rq.op) {
        case OP_SCAN:
            serve_scan(dfd, out);
            break;
        case OP_OPEN:
            if (fd >= 0)
                close(fd);
            fd = serve_open(dfd, in + sizeof rq, (size_t)n - sizeof rq, out);
            break;
        case OP_READ:
            serve_read(fd, &rq, fault, fault_at, out);
            break;
        case OP_RECEIPT:
            serve_receipt(dfd, in + sizeof rq, (size_t)n - sizeof rq, out);
            break;
        default:
            _exit(0);
        }
    }
}

/* ---- the kiosk side -------------------------------------------------------- */

struct stick {
    pid_t pid; /* the reader, -1 once it is gone or given up on */
    int sock;  /* -1 once the session is over */
    int dead;  /* errno that ended the session, 0 while the reader answers */
    uint64_t bytes_read;
    uint8_t req[MSG_MAX]; /* the request being sent */
    uint8_t msg[MSG_MAX]; /* the last answer */
};

/* Readers that did not die when killed: stuck in the kernel on a hung
 * device until their I/O ends. They are reaped later, never waited for. */
static pid_t orphans[ORPHANS_MAX];

static int orphans_alive(void)
{
    int alive = 0;

    for (int i = 0; i < ORPHANS_MAX; i++) {
        if (orphans[i] > 0 && waitpid(orphans[i], NULL, WNOHANG) != 0)
            orphans[i] = 0;
        alive += orphans[i] > 0;
    }
    return alive;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Let the reader exit for up to grace_ms, then kill it; one that still
 * does not go within 100 ms more is stuck and becomes an orphan. */
static void finish(pid_t pid, int grace_ms)
{
    for (int waited = 0; waited <= grace_ms + 100; waited += 5) {
        if (waitpid(pid, NULL, WNOHANG) != 0)
            return;
        if (waited == grace_ms)
            kill(pid, SIGKILL);
        nap_ms(5);
    }
    for (int i = 0; i < ORPHANS_MAX; i++)
        if (orphans[i] == 0) {
            orphans[i] = pid;
            return;
        }
}

/* The session is over: the reader is killed and left behind. */
static int end(stick *s, int err)
{
    if (s->sock >= 0)
        close(s->sock);
    s->sock = -1;
    if (s->pid > 0)
        finish(s->pid, 0);
    s->pid = -1;
    if (s->dead == 0)
        s->dead = err;
    errno = s->dead;
    return -1;
}

/* The next answer within the deadline: its header in *a, its payload at
 * s->msg + sizeof *a. Returns the payload length or -1 (the session is
 * over: ETIMEDOUT, or EIO when the reader died or spoke nonsense). */
static ssize_t receive(stick *s, struct answer *a)
{
    struct pollfd pfd = {.fd = s->sock, .events = POLLIN};
    long long deadline = now_ms() + STICK_DEADLINE_MS;
    ssize_t n;

    for (;;) {
        long long left = deadline - now_ms();
        int r = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        if (r > 0)
            break;
        if (r == 0)
            return end(s, ETIMEDOUT);
        if (errno != EINTR)
            return end(s, EIO);
    }
    n = recv(s->sock, s->msg, sizeof s->msg, MSG_TRUNC | MSG_DONTWAIT);
    if (n < (ssize_t)sizeof *a || n > (ssize_t)sizeof s->msg)
        return end(s, EIO);
    memcpy(a, s->msg, sizeof *a);
    if (a->len != (size_t)n - sizeof *a)
        return end(s, EIO);
    return (ssize_t)a->len;
}

/* One request (with rq.len bytes of data, if data is not NULL) and its
 * answer. */
static ssize_t call(stick *s, struct request rq, const void *data, struct answer *a)
{
    size_t len = sizeof rq + (data != NULL ? rq.len : 0);

    if (s->dead != 0) {
        errno = s->dead;
        return -1;
    }
    if (len > sizeof s->req) {
        errno = E2BIG;
        return -1;
    }
    memcpy(s->req, &rq, sizeof rq);
    if (data != NULL)
        memcpy(s->req + sizeof rq, data, rq.len);
    if (send(s->sock, s->req, len, MSG_NOSIGNAL) < 0)
        return end(s, EIO);
    return receive(s, a);
}

static void say_over(const stick *s, char *why, size_t cap)
{
    if (s->dead == ETIMEDOUT)
        snprintf(why, cap,
                 "The USB stick did not answer within %d seconds: it is failing or was pulled; "
                 "nothing was changed.",
                 STICK_DEADLINE_MS / 1000);
    else
        snprintf(why, cap, "The USB stick stopped answering (%s): it was pulled or failed.",
                 strerror(s->dead));
}

stick *stick_open(const char *mount, const char *folder, char *why, size_t cap)
{
    struct answer a;
    stick *s;
    int sv[2], e;

    if (orphans_alive() > 0) {
        snprintf(why, cap, "An earlier USB stick still does not answer; remove it first.");
        errno = EBUSY;
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        e = errno;
        free(s);
        snprintf(why, cap, "The USB stick reader cannot be started (%s).", strerror(e));
        errno = e;
        return NULL;
    }
    s->pid = fork();
    if (s->pid == 0) {
        /* Only the socket stays open: no descriptor of the kiosk's (the
         * updater lock above all) may be held by a reader stuck in the
         * kernel. */
        close(sv[0]);
        if (sv[1] != READER_FD && dup2(sv[1], READER_FD) < 0)
            _exit(0);
        if (sv[1] < READER_FD)
            close(sv[1]);
        close_range(READER_FD + 1, ~0U, 0);
        reader(mount, folder);
    }
    close(sv[1]);
    s->sock = sv[0];
    if (s->pid < 0) {
        e = errno;
        close(s->sock);
        free(s);
        snprintf(why, cap, "The USB stick reader cannot be started (%s).", strerror(e));
        errno = e;
        return NULL;
    }
    if (receive(s, &a) < 0 || a.err != 0) {
        e = s->dead != 0 ? s->dead : a.err;
        if (s->dead != 0)
            say_over(s, why, cap);
        else if (e == ENOENT && folder != NULL)
            snprintf(why, cap, "There is no folder %s on the USB stick.", folder);
        else if (e == ENOENT)
            snprintf(why, cap, "The folder of the bundle does not exist.");
        else if (e == ELOOP)
            snprintf(why, cap,
                     "The update folder is a symbolic link; kupd follows no links on a USB "
                     "stick.");
        else if (e == ENOTDIR)
            snprintf(why, cap, "The update folder is not a folder.");
        else
            snprintf(why, cap, "The update folder cannot be opened (%s).", strerror(e));
        stick_free(s);
        errno = e;
        return NULL;
    }
    return s;
}

void stick_free(stick *s)
{
    if (s == NULL)
        return;
    if (s->sock >= 0)
        close(s->sock); /* an idle reader sees the end and exits */
    if (s->pid > 0)
        finish(s->pid, STICK_DEADLINE_MS);
    free(s);
}

static int by_name(const void *x, const void *y)
{
    return strcmp(((const struct stick_entry *)x)->name, ((const struct stick_entry *)y)->name);
}

int stick_scan(stick *s, struct stick_entry *e, size_t cap, char *why, size_t wcap)
{
    struct request rq = {.op = OP_SCAN};
    struct answer a;
    ssize_t n = call(s, rq, NULL, &a);
    const uint8_t *p = s->msg + sizeof a, *stop = p + (n > 0 ? n : 0);
    size_t count = 0;

    if (n < 0) {
        say_over(s, why, wcap);
        return -1;
    }
    if (a.err != 0) {
        if (a.err == E2BIG)
            snprintf(why, wcap, "The update folder holds more than %d bundles.", STICK_ENTRIES_MAX);
        else
            snprintf(why, wcap, "The update folder cannot be read (%s).", strerror(a.err));
        errno = a.err;
        return -1;
    }
    while (p < stop) {
        size_t len = stop - p >= 2 ? p[1] : 0;
        if (len == 0 || (size_t)(stop - p) < 2 + len || memchr(p + 2, '\0', len) != NULL ||
            memchr(p + 2, '/', len) != NULL) {
            end(s, EIO);
            say_over(s, why, wcap);
            return -1;
        }
        if (count == cap) {
            snprintf(why, wcap, "The update folder holds more than %zu bundles.", cap);
            errno = E2BIG;
            return -1;
        }
        e[count].type = (char)p[0];
        memcpy(e[count].name, p + 2, len);
        e[count].name[len] = '\0';
        count++;
        p += 2 + len;
    }
    qsort(e, count, sizeof *e, by_name);
    return (int)count;
}

int stick_open_file(stick *s, const char *name, uint64_t *size, char *why, size_t cap)
{
    const char *no = stick_refusal(name, STICK_REGULAR);
    struct request rq = {.op = OP_OPEN, .len = (uint32_t)strlen(name)};
    struct answer a;

    if (no != NULL) {
        snprintf(why, cap, "%s", no);
        errno = EINVAL;
        return -1;
    }
    if (call(s, rq, name, &a) < 0) {
        say_over(s, why, cap);
        return -1;
    }
    if (a.err == 0 && a.type != STICK_REGULAR) {
        snprintf(why, cap, "%s", stick_refusal(name, a.type));
        errno = EINVAL;
        return -1;
    }
    if (a.err == ESTALE)
        snprintf(why, cap, "The file changed while it was opened; kupd reads regular files only.");
    else if (a.err == ENOENT)
        snprintf(why, cap, "The file does not exist.");
    else if (a.err != 0)
        snprintf(why, cap, "The file cannot be opened (%s).", strerror(a.err));
    if (a.err != 0) {
        errno = a.err;
        return -1;
    }
    *size = a.size;
    return 0;
}

ssize_t stick_read(stick *s, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;

    while (got < len) {
        struct request rq = {.op = OP_READ,
                             .len = (uint32_t)(len - got < READ_MAX ? len - got : READ_MAX),
                             .off = off + got};
        struct answer a;
        ssize_t n = call(s, rq, NULL, &a);

        if (n < 0)
            return -1;
        if (a.err != 0) {
            errno = a.err;
            return -1;
        }
        if ((size_t)n > rq.len)
            return end(s, EIO);
        memcpy((uint8_t *)buf + got, s->msg + sizeof a, (size_t)n);
        got += (size_t)n;
        s->bytes_read += (uint64_t)n;
        if ((size_t)n < rq.len)
            break;
    }
    return (ssize_t)got;
}

int stick_alive(const stick *s)
{
    return s->dead == 0;
}

uint64_t stick_bytes_read(const stick *s)
{
    return s->bytes_read;
}

int stick_write_receipt(stick *s, const char *text)
{
    struct request rq = {.op = OP_RECEIPT, .len = (uint32_t)strlen(text)};
    struct answer a;

    if (strlen(text) > STICK_RECEIPT_MAX) {
        errno = E2BIG;
        return -1;
    }
    if (call(s, rq, text, &a) < 0)
        return -1;
    if (a.err != 0) {
        errno = a.err;
        return -1;
    }
    return 0;
}
