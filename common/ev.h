/*
 * ev — the event loop of every onewindow daemon (Redis's ae is the model).
 *
 * One thread runs one loop. A turn of the loop is:
 *
 *     before_sleep hook -> epoll_wait -> fd callbacks -> expired timers
 *       -> worker completions (ev_post) -> deferred frees
 *
 * File descriptors are watched for EV_READ and/or EV_WRITE (level
 * triggered). Timers are caller-owned structs kept in a binary min-heap
 * ordered by (deadline, start order) on the monotonic clock, so start and
 * stop cost O(log n) and timers with the same deadline fire in the order
 * they were started. Worker threads hand results back with ev_post(), which
 * is the only function here that may be called from another thread; it wakes
 * the loop through an eventfd.
 *
 * An object must never be freed inside one of its own callbacks: it calls
 * ev_defer_free() instead and is freed at the end of the turn, after every
 * callback of that turn has run.
 *
 * Functions that can fail return -1 and set errno; none prints or exits.
 */
#ifndef ONEWINDOW_EV_H
#define ONEWINDOW_EV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EV_READ  1
#define EV_WRITE 2

typedef struct ev_loop ev_loop;

/* Called with the events (EV_READ|EV_WRITE) that are ready on fd. */
typedef void ev_fd_fn(ev_loop *loop, int fd, int events, void *arg);

typedef struct ev_timer ev_timer;
typedef void ev_timer_fn(ev_loop *loop, ev_timer *timer, void *arg);

/* A timer is owned by the caller (usually embedded in the object it serves)
 * and must stay valid while it is active. Fields are private to ev. */
struct ev_timer {
    int64_t deadline;  /* monotonic ms at which it fires */
    uint64_t order;    /* tie-break: start order */
    size_t heap_index; /* position in the heap, EV_TIMER_IDLE when stopped */
    ev_timer_fn *fn;
    void *arg;
};
#define EV_TIMER_IDLE SIZE_MAX

typedef void ev_hook_fn(ev_loop *loop, void *arg);
typedef void ev_post_fn(ev_loop *loop, void *arg);
typedef void ev_free_fn(void *obj);

/* A new loop; NULL with errno on failure. */
ev_loop *ev_new(void);
/* Frees the loop, running pending deferred frees first. NULL is fine.
 * Posted completions that never ran are dropped. */
void ev_free(ev_loop *loop);

/* Watch fd for mask (EV_READ|EV_WRITE) with fn; replaces any previous mask
 * and callback. A mask of 0 is the same as ev_fd_del(). */
int ev_fd_set(ev_loop *loop, int fd, int mask, ev_fd_fn *fn, void *arg);
/* Stop watching fd. Events of this turn not yet delivered for fd are
 * dropped, so a closed fd's callback never runs after this. */
void ev_fd_del(ev_loop *loop, int fd);
/* The mask fd is watched for, 0 if none. */
int ev_fd_mask(const ev_loop *loop, int fd);

void ev_timer_init(ev_timer *t, ev_timer_fn *fn, void *arg);
/* (Re)start t to fire after_ms milliseconds from now (the monotonic clock
 * read at this call, not the cached ev_now(), so it never fires early).
 * Restarting an active timer moves it. A callback may restart its own timer
 * to make it periodic. Fails only with ENOMEM. */
int ev_timer_start(ev_loop *loop, ev_timer *t, int64_t after_ms);
/* Stop t; stopping an idle timer is fine. */
void ev_timer_stop(ev_loop *loop, ev_timer *t);
bool ev_timer_active(const ev_timer *t);

/* Called at the start of every turn, before the loop sleeps (flush pending
 * writes here, commit a group of requests here). */
void ev_set_before_sleep(ev_loop *loop, ev_hook_fn *fn, void *arg);

/* Free obj with free_fn at the end of the current turn. Fails only with
 * ENOMEM, in which case nothing is freed: the caller still owns obj. */
int ev_defer_free(ev_loop *loop, ev_free_fn *free_fn, void *obj);

/* Thread safe: run fn(loop, arg) on the loop's thread during its next turn.
 * Completions run in the order they were posted. Fails only with ENOMEM. */
int ev_post(ev_loop *loop, ev_post_fn *fn, void *arg);
/* Thread safe: take back the completions fn(arg) still waiting for a
 * turn; returns how many. A completion the current turn has already taken
 * up is not among them: it runs before this turn's deferred frees. */
int ev_post_cancel(ev_loop *loop, ev_post_fn *fn, void *arg);

/* Monotonic milliseconds, read at the start of the current turn (cheap). */
int64_t ev_now(const ev_loop *loop);
/* Re-read the monotonic clock into ev_now(). */
void ev_update_now(ev_loop *loop);

/* Run one turn, sleeping at most timeout_ms (-1: until something happens,
 * bounded by the next timer). Returns the number of callbacks run, or -1
 * with errno if epoll failed. */
int ev_run_once(ev_loop *loop, int timeout_ms);
/* Run turns until ev_stop(). Returns 0, or -1 with errno. */
int ev_run(ev_loop *loop);
/* Make ev_run() return after the current turn. Safe from callbacks only
 * (from another thread, ev_post() a function that calls it). */
void ev_stop(ev_loop *loop);

#endif
