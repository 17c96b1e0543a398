/*
 * webhook — halld's webhook thread: posts the hall's alert deliveries
 * ([supervise] webhook, docs/supervision.md) to an HTTP(S) receiver, one at
 * a time, oldest first, with libcurl on a worker thread that reports back
 * through an outbox. A delivery is dropped (hall_webhook_drop) once the
 * receiver answered 2xx, and retried with a growing pause (1 s doubling to
 * 60 s) while it does not; one older than [supervise] webhook_give_up is
 * given up with a log line. A delivery is sent only once its change is
 * committed, and dropped only after its answer: at least once, also
 * across a kill -9 of halld.
 */
#ifndef ONEWINDOW_WEBHOOK_H
#define ONEWINDOW_WEBHOOK_H

#include "ev.h"
#include "hall.h"

typedef struct webhook webhook;

/* Start the thread; hall is borrowed. NULL with a reason in err. */
webhook *webhook_new(ev_loop *loop, hall *h, char *err, size_t errlen);
/* Stop the thread (a POST in flight is abandoned: its delivery stays and
 * is sent again after the next start) and free. */
void webhook_free(webhook *w);

#endif
