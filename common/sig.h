/*
 * sig — signals as ordinary events of the event loop.
 *
 * The signals given are blocked and read from a signalfd that the loop
 * watches, so a daemon handles SIGTERM or SIGHUP between two callbacks,
 * never in the middle of one, and without flag-setting handlers and their
 * races. SIGPIPE is ignored as well: a write to a closed socket is an EPIPE
 * for the code that made it, not the death of the process.
 */
#ifndef ONEWINDOW_SIG_H
#define ONEWINDOW_SIG_H

#include "ev.h"

typedef struct sig_watch sig_watch;

/* Called on the loop's thread with each signal received. */
typedef void sig_fn(ev_loop *loop, int signo, void *arg);

/* Watch the signals of the 0-terminated list signals. Call before starting
 * threads (the mask is inherited). NULL with errno on failure. */
sig_watch *sig_watch_new(ev_loop *loop, const int *signals, sig_fn *fn, void *arg);
/* Stop watching (the signals stay blocked), before the loop is freed.
 * NULL is fine. */
void sig_watch_free(sig_watch *w);

#endif
