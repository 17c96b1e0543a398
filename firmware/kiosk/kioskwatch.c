/*
 * kioskwatch — runs kioskd (or any program given after "--") and restarts
 * it, for kiosks without systemd. It is the manager side of the systemd
 * notify protocol (sd_notify(3)), as systemd runs kioskd.service with
 * Type=notify and WatchdogSec=:
 *
 *   - the child gets NOTIFY_SOCKET (a datagram socket kioskwatch reads),
 *     WATCHDOG_USEC and WATCHDOG_PID;
 *   - READY=1 from the child ends its start; WATCHDOG=1 is a keep-alive;
 *     only datagrams sent by the child's own process count (credentials);
 *   - the child exits, or sends no READY=1 within the start timeout, or
 *     no keep-alive within the watchdog interval after READY=1 (a hung
 *     loop): it is sent SIGABRT, SIGKILL after the kill timeout, and
 *     started again after a backoff that doubles from --restart-min to
 *     --restart-max and is back at the minimum once a child stayed up a
 *     minute.
 *
 *     STARTING --READY=1--> RUNNING --keep-alives stop--> KILLING
 *        |                     |                             |
 *        +--start timeout------+--------------------------> KILLING
 *        +--exits--------------+--exits-----> WAITING <--exits/killed--+
 *     WAITING --backoff--> STARTING
 *
 * SIGTERM or SIGINT: the child gets SIGTERM (SIGKILL after the kill
 * timeout) and kioskwatch exits 0. Logs go to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clk.h"

#define STABLE_MS 60000 /* a child up this long resets the backoff */

enum watch_state { W_STARTING, W_RUNNING, W_KILLING, W_WAITING };

struct watch {
    int64_t watchdog_ms, start_ms, kill_ms, restart_min_ms, restart_max_ms;
    const char *socket_path;
    char *const *argv;
    int sock, sigfd;
    enum watch_state state;
    pid_t child;
    int64_t deadline; /* of the state: start, keep-alive, SIGKILL, restart */
    int64_t started;  /* when the child started */
    int64_t backoff_ms;
    bool stopping;
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;

    fputs("kioskwatch: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kioskwatch [options] -- PROGRAM [ARGS...]\n"
            "  -s, --socket PATH        the notify socket (default /run/onewindow/kioskd.notify)\n"
            "  -w, --watchdog TIME      restart when no WATCHDOG=1 came this long (default 10s)\n"
            "      --start-timeout TIME restart when no READY=1 came this long (default 60s)\n"
            "      --kill-timeout TIME  SIGKILL this long after SIGABRT or SIGTERM (default 5s)\n"
            "      --restart-min TIME   the first wait before a restart (default 1s)\n"
            "      --restart-max TIME   the longest wait before a restart (default 60s)\n"
            "  -h, --help               this text\n"
            "TIME: 500ms, 10s, 2m\n");
}

static int open_socket(struct watch *w)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int on = 1;

    if (strlen(w->socket_path) >= sizeof sa.sun_path || w->socket_path[0] != '/') {
        say("--socket %s: an absolute path shorter than %zu bytes", w->socket_path,
            sizeof sa.sun_path);
        return -1;
    }
    strcpy(sa.sun_path, w->socket_path);
    (void)unlink(w->socket_path);
    if ((w->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0 ||
        setsockopt(w->sock, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) < 0 ||
        bind(w->sock, (struct sockaddr *)&sa, sizeof sa) < 0) {
        say("notify socket %s: %s", w->socket_path, strerror(errno));
        return -1;
    }
    return 0;
}

static void start_child(struct watch *w, int64_t now)
{
    pid_t pid = fork();

    if (pid < 0) {
        say("cannot start %s: %s; trying again", w->argv[0], strerror(errno));
        w->state = W_WAITING;
        w->deadline = now + w->backoff_ms;
        return;
    }
    if (pid == 0) {
        char usec[32], mypid[32];
        sigset_t none;

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        snprintf(usec, sizeof usec, "%lld", (long long)w->watchdog_ms * 1000);
        snprintf(mypid, sizeof mypid, "%ld", (long)getpid());
        if (setenv("NOTIFY_SOCKET", w->socket_path, 1) < 0 ||
            setenv("WATCHDOG_USEC", usec, 1) < 0 || setenv("WATCHDOG_PID", mypid, 1) < 0)
            _exit(127);
        execvp(w->argv[0], w->argv);
        fprintf(stderr, "kioskwatch: cannot run %s: %s\n", w->argv[0], strerror(errno));
        _exit(127);
    }
    say("started %s (pid %ld)", w->argv[0], (long)pid);
    w->child = pid;
    w->started = now;
    w->state = W_STARTING;
    w->deadline = now + w->start_ms;
}

static void kill_child(struct watch *w, int sig, const char *why, int64_t now)
{
    say("%s: sending %s to pid %ld", why, sig == SIGABRT ? "SIGABRT" : "SIGTERM", (long)w->child);
    (void)kill(w->child, sig);
    w->state = W_KILLING;
    w->deadline = now + w->kill_ms;
}

/* The child is gone: wait the backoff, then start it again. */
static void child_gone(struct watch *w, int status, int64_t now)
{
    if (WIFEXITED(status))
        say("pid %ld exited with status %d", (long)w->child, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        say("pid %ld killed by signal %d", (long)w->child, WTERMSIG(status));
    w->child = 0;
    if (now - w->started >= STABLE_MS)
        w->backoff_ms = w->restart_min_ms;
    w->state = W_WAITING;
    w->deadline = now + w->backoff_ms;
    if (!w->stopping)
        say("restarting in %lld ms", (long long)w->backoff_ms);
    w->backoff_ms = w->backoff_ms * 2 > w->restart_max_ms ? w->restart_max_ms : w->backoff_ms * 2;
}

/* The datagrams waiting: READY=1 and WATCHDOG=1 from the child itself. */
static void read_notify(struct watch *w, int64_t now)
{
    char data[4096], ctrl[CMSG_SPACE(sizeof(struct ucred))];

    for (;;) {
        struct iovec iov = {data, sizeof data - 1};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl, .msg_controllen = sizeof ctrl};
        ssize_t n = recvmsg(w->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        pid_t from = 0;

        if (n < 0)
            return;
        data[n] = '\0';
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
                c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
                struct ucred cred;
                memcpy(&cred, CMSG_DATA(c), sizeof cred);
                from = cred.pid;
            }
        if (w->child == 0 || from != w->child || (w->state != W_STARTING && w->state != W_RUNNING))
            continue;
        for (char *line = strtok(data, "\n"); line != NULL; line = strtok(NULL, "\n")) {
            if (strcmp(line, "READY=1") == 0 && w->state == W_STARTING) {
                say("pid %ld is ready", (long)w->child);
                w->state = W_RUNNING;
                w->deadline = now + w->watchdog_ms;
            } else if (strcmp(line, "WATCHDOG=1") == 0 && w->state == W_RUNNING) {
                w->deadline = now + w->watchdog_ms;
            }
        }
    }
}

static void on_deadline(struct watch *w, int64_t now)
{
    switch (w->state) {
    case W_STARTING:
        kill_child(w, SIGABRT, "no READY=1 within the start timeout", now);
        break;
    case W_RUNNING:
        kill_child(w, SIGABRT, "no WATCHDOG=1 within the watchdog interval (hung)", now);
        break;
    case W_KILLING:
        say("pid %ld still there: SIGKILL", (long)w->child);
        (void)kill(w->child, SIGKILL);
        w->deadline = now + w->kill_ms;
        break;
    case W_WAITING:
        if (!w->stopping)
            start_child(w, now);
        break;
    }
}

/* "500ms", "10s", "2m" to ms. */
static int parse_time(const char *opt, const char *text, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno == 0 && end != text && v > 0 && v < 86400000) {
        if (strcmp(end, "ms") == 0)
            *out = v;
        else if (strcmp(end, "s") == 0)
            *out = v * 1000;
        else if (strcmp(end, "m") == 0)
            *out = v * 60000;
        else
            v = -1;
    }
    if (errno != 0 || end == text || v <= 0 || v >= 86400000) {
        say("--%s %s: a time like 500ms, 10s or 2m", opt, text);
        return -1;
    }
    return 0;
}

static int run(struct watch *w)
{
    int64_t now = clk_mono_ms();

    start_child(w, now);
    while (!(w->stopping && w->child == 0)) {
        struct pollfd pf[2] = {{w->sock, POLLIN, 0}, {w->sigfd, POLLIN, 0}};
        int64_t wait = w->deadline - clk_mono_ms();

        if (poll(pf, 2, wait < 0 ? 0 : wait > 60000 ? 60000 : (int)wait) < 0 && errno != EINTR) {
            say("poll: %s", strerror(errno));
            return 1;
        }
        now = clk_mono_ms();
        if (pf[0].revents & POLLIN)
            read_notify(w, now);
        if (pf[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(w->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
                if (si.ssi_signo != SIGCHLD && !w->stopping) {
                    w->stopping = true;
                    if (w->child != 0)
                        kill_child(w, SIGTERM, "stopping", now);
                }
        }
        int status;
        pid_t pid;
        while (w->child != 0 && (pid = waitpid(w->child, &status, WNOHANG)) == w->child)
            child_gone(w, status, now);
        if (now >= w->deadline && !(w->stopping && w->child == 0))
            on_deadline(w, now);
    }
    say("stopped");
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},
        {"watchdog", required_argument, NULL, 'w'},
        {"start-timeout", required_argument, NULL, 'S'},
        {"kill-timeout", required_argument, NULL, 'K'},
        {"restart-min", required_argument, NULL, 'm'},
        {"restart-max", required_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct watch w = {
        .watchdog_ms = 10000,
        .start_ms = 60000,
        .kill_ms = 5000,
        .restart_min_ms = 1000,
        .restart_max_ms = 60000,
        .socket_path = "/run/onewindow/kioskd.notify",
        .sock = -1,
        .sigfd = -1,
        .state = W_WAITING,
    };
    sigset_t set;
    int c, rc = 0;

    while ((c = getopt_long(argc, argv, "+s:w:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            w.socket_path = optarg;
            break;
        case 'w':
            rc = parse_time("watchdog", optarg, &w.watchdog_ms);
            break;
        case 'S':
            rc = parse_time("start-timeout", optarg, &w.start_ms);
            break;
        case 'K':
            rc = parse_time("kill-timeout", optarg, &w.kill_ms);
            break;
        case 'm':
            rc = parse_time("restart-min", optarg, &w.restart_min_ms);
            break;
        case 'M':
            rc = parse_time("restart-max", optarg, &w.restart_max_ms);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (rc < 0)
            return 2;
    }
    if (optind >= argc || w.restart_max_ms < w.restart_min_ms) {
        usage(stderr);
        return 2;
    }
    w.argv = argv + optind;
    w.backoff_ms = w.restart_min_ms;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
        (w.sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
        say("signals: %s", strerror(errno));
        return 1;
    }
    if (open_socket(&w) < 0)
        return 1;
    rc = run(&w);
    close(w.sock);
    (void)unlink(w.socket_path);
    close(w.sigfd);
    return rc;
}
