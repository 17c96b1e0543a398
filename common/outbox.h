/*
 * outbox — messages from a worker thread to its owner on an event loop's
 * thread, delivered in the order they were pushed.
 *
 * A driver's worker thread makes the blocking calls and pushes what it
 * learns (outbox_push, any thread). The first push after a delivery posts
 * one drain with ev_post(); the drain hands the whole list to the owner's
 * deliver function on the loop's thread. If ev_post fails (ENOMEM), the
 * next push or outbox_retry() posts the drain again, so a worker that
 * calls outbox_retry() on every turn never strands a message.
 *
 * The owner closes the outbox once its worker has stopped: outbox_close()
 * hands back what was never delivered (the owner delivers or frees it)
 * and no deliver call happens after it, even from a drain already posted
 * (the outbox then lives until that drain ran, or ev_free()). So the owner
 * may free itself right after closing.
 *
 * The outbox has its own lock; the deliver function runs without it, so
 * it may call into the owner freely. A worker may push while holding its
 * own lock (the outbox never takes the owner's).
 */
#ifndef ONEWINDOW_OUTBOX_H
#define ONEWINDOW_OUTBOX_H

#include "ev.h"

/* The first member of every message the outbox carries. */
typedef struct outbox_msg {
    struct outbox_msg *next;
} outbox_msg;

/* Receives the messages (a list in push order, linked by next) on the
 * loop's thread; they are the owner's from then on. */
typedef void outbox_deliver_fn(void *arg, outbox_msg *list);

typedef struct outbox outbox;

/* NULL with errno (ENOMEM, or the mutex's error). */
outbox *outbox_new(ev_loop *loop, outbox_deliver_fn *deliver, void *arg);
void outbox_push(outbox *o, outbox_msg *m);
/* Post the drain if messages wait and none is on its way. */
void outbox_retry(outbox *o);
/* Loop thread, after the last push: stop delivering, return what was not
 * delivered (in order, NULL if nothing), and free the outbox (now, or
 * after the drain already posted). NULL is fine. */
outbox_msg *outbox_close(outbox *o);

#endif
