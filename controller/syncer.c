/*
 * syncer — see syncer.h. The state lives under one mutex; the worker
 * waits on a condition variable for SYNCING and reports through an
 * eventfd that the loop watches.
 */
#include "syncer.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

enum syncer_state { SYNCER_IDLE, SYNCER_SYNCING, SYNCER_DONE };

struct syncer {
    ev_loop *loop;
    syncer_sync_fn *sync_fn;
    syncer_done_fn *done_fn;
    void *arg;
    int efd;
    bool busy; /* the loop thread's own view: started, not yet reported */

    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    enum syncer_state state; /* under lock */
    bool stop;               /* under lock */
    int err;                 /* under lock: the last sync's errno, 0 */
};

static void *worker(void *arg)
{
    syncer *s = arg;
    uint64_t one = 1;

    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (s->state != SYNCER_SYNCING && !s->stop)
            pthread_cond_wait(&s->wake, &s->lock);
        if (s->state != SYNCER_SYNCING)
            break; /* stopping, with nothing in flight */
        pthread_mutex_unlock(&s->lock);
        int err = s->sync_fn(s->arg) < 0 ? (errno ? errno : EIO) : 0;
        pthread_mutex_lock(&s->lock);
        s->err = err;
        s->state = SYNCER_DONE;
        /* The counter only saturates after 2^64-2 writes; it is readable
         * either way, which is all the loop needs. */
        while (write(s->efd, &one, sizeof one) < 0 && errno == EINTR)
            ;
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void on_report(ev_loop *loop, int fd, int events, void *arg)
{
    syncer *s = arg;
    uint64_t count;
    int err;

    (void)loop;
    (void)events;
    while (read(fd, &count, sizeof count) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&s->lock);
    if (s->state != SYNCER_DONE) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    s->state = SYNCER_IDLE;
    err = s->err;
    pthread_mutex_unlock(&s->lock);
    s->busy = false;
    s->done_fn(s->arg, err);
}

syncer *syncer_new(ev_loop *loop, syncer_sync_fn *sync_fn, syncer_done_fn *done_fn, void *arg)
{
    syncer *s = calloc(1, sizeof *s);
    int e;

    if (s == NULL)
        return NULL;
    s->loop = loop;
    s->sync_fn = sync_fn;
    s->done_fn = done_fn;
    s->arg = arg;
    s->state = SYNCER_IDLE;
    if ((s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        free(s);
        return NULL;
    }
    if ((e = pthread_mutex_init(&s->lock, NULL)) != 0)
        goto fail_fd;
    if ((e = pthread_cond_init(&s->wake, NULL)) != 0)
        goto fail_lock;
    if (ev_fd_set(loop, s->efd, EV_READ, on_report, s) < 0) {
        e = errno;
        goto fail_cond;
    }
    if ((e = pthread_create(&s->thread, NULL, worker, s)) != 0) {
        ev_fd_del(loop, s->efd);
        goto fail_cond;
    }
    return s;
fail_cond:
    pthread_cond_destroy(&s->wake);
fail_lock:
    pthread_mutex_destroy(&s->lock);
fail_fd:
    close(s->efd);
    free(s);
    errno = e;
    return NULL;
}

void syncer_free(syncer *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    ev_fd_del(s->loop, s->efd);
    close(s->efd);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int syncer_start(syncer *s)
{
    if (s->busy) {
        errno = EBUSY;
        return -1;
    }
    pthread_mutex_lock(&s->lock);
    assert(s->state == SYNCER_IDLE && !s->stop);
    s->state = SYNCER_SYNCING;
    s->busy = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

bool syncer_busy(const syncer *s)
{
    return s->busy;
}
