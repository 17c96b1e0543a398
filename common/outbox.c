/*
 * outbox — a worker's messages to the loop's thread. outbox.h has the
 * contract.
 *
 * The outbox's life:
 *
 *     OPEN --outbox_close, no drain waiting--> freed
 *     OPEN --outbox_close, the drain taken up by this turn--> CLOSED
 *          --the drain ran (it does nothing), then the turn's deferred frees--> freed
 *
 * A drain still waiting for a turn is taken back with ev_post_cancel(), so
 * no drain ever runs on a freed outbox, whatever callback closes it.
 */
#include "outbox.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct outbox {
    ev_loop *loop;
    outbox_deliver_fn *deliver;
    void *arg;
    pthread_mutex_t lock;
    outbox_msg *head, *tail; /* guarded */
    bool drain_posted;       /* guarded */
    bool closed;             /* loop thread only */
};

outbox *outbox_new(ev_loop *loop, outbox_deliver_fn *deliver, void *arg)
{
    outbox *o;
    int rc;

    if (loop == NULL || deliver == NULL) {
        errno = EINVAL;
        return NULL;
    }
    if ((o = calloc(1, sizeof *o)) == NULL)
        return NULL;
    if ((rc = pthread_mutex_init(&o->lock, NULL)) != 0) {
        free(o);
        errno = rc;
        return NULL;
    }
    o->loop = loop;
    o->deliver = deliver;
    o->arg = arg;
    return o;
}

static void destroy(void *obj)
{
    outbox *o = obj;

    pthread_mutex_destroy(&o->lock);
    free(o);
}

static void drain(ev_loop *loop, void *arg)
{
    outbox *o = arg;
    outbox_msg *list;

    (void)loop;
    /* Closed: outbox_close took the messages and left the memory to the
     * deferred free that runs after this turn's completions. */
    if (o->closed)
        return;
    pthread_mutex_lock(&o->lock);
    list = o->head;
    o->head = o->tail = NULL;
    o->drain_posted = false;
    pthread_mutex_unlock(&o->lock);
    if (list != NULL)
        o->deliver(o->arg, list);
}

/* With the lock held. */
static void post_locked(outbox *o)
{
    if (o->drain_posted || o->head == NULL)
        return;
    if (ev_post(o->loop, drain, o) == 0)
        o->drain_posted = true;
}

void outbox_push(outbox *o, outbox_msg *m)
{
    m->next = NULL;
    pthread_mutex_lock(&o->lock);
    if (o->tail != NULL)
        o->tail->next = m;
    else
        o->head = m;
    o->tail = m;
    post_locked(o);
    pthread_mutex_unlock(&o->lock);
}

void outbox_retry(outbox *o)
{
    pthread_mutex_lock(&o->lock);
    post_locked(o);
    pthread_mutex_unlock(&o->lock);
}

outbox_msg *outbox_close(outbox *o)
{
    outbox_msg *list;
    bool posted;

    if (o == NULL)
        return NULL;
    assert(!o->closed);
    pthread_mutex_lock(&o->lock);
    list = o->head;
    o->head = o->tail = NULL;
    posted = o->drain_posted;
    pthread_mutex_unlock(&o->lock);
    o->closed = true;
    if (posted && ev_post_cancel(o->loop, drain, o) == 0) {
        /* This turn took the drain up already: it runs before the turn's
         * deferred frees. If even that cannot be arranged (ENOMEM),
         * leaking the outbox is the safe choice. */
        (void)ev_defer_free(o->loop, destroy, o);
        return list;
    }
    destroy(o);
    return list;
}
