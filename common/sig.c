/*
 * sig — signals through a signalfd. See sig.h.
 */
#include "sig.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct sig_watch {
    ev_loop *loop;
    int fd;
    sig_fn *fn;
    void *arg;
};

static void on_readable(ev_loop *loop, int fd, int events, void *arg)
{
    sig_watch *w = arg;
    struct signalfd_siginfo si;

    (void)events;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si)
        w->fn(loop, (int)si.ssi_signo, w->arg);
}

sig_watch *sig_watch_new(ev_loop *loop, const int *signals, sig_fn *fn, void *arg)
{
    sig_watch *w = calloc(1, sizeof *w);
    sigset_t set;

    if (w == NULL)
        return NULL;
    w->loop = loop;
    w->fd = -1;
    w->fn = fn;
    w->arg = arg;
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    for (const int *s = signals; *s != 0; s++)
        sigaddset(&set, *s);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
        (w->fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0 ||
        ev_fd_set(loop, w->fd, EV_READ, on_readable, w) < 0) {
        int e = errno;
        sig_watch_free(w);
        errno = e;
        return NULL;
    }
    return w;
}

void sig_watch_free(sig_watch *w)
{
    if (w == NULL)
        return;
    if (w->fd >= 0) {
        ev_fd_del(w->loop, w->fd);
        close(w->fd);
    }
    free(w);
}
