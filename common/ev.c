/*
 * ev — epoll event loop with a timer heap, deferred frees and cross-thread
 * completions. The contract is in ev.h; this file is laid out as:
 *
 *   1. file events   — a table indexed by fd; epoll in level-triggered mode
 *   2. timers        — a binary min-heap of caller-owned ev_timer structs
 *   3. completions   — a mutex-protected list + eventfd, for worker threads
 *   4. the turn      — ev_run_once() and friends
 *
 * Stale events. epoll_wait() returns a batch; an earlier callback in the
 * batch may delete (and close) an fd that has events later in the batch,
 * and an accept() in between may even reuse the number. Each registration
 * therefore carries a generation, stored with the fd in the epoll data and
 * bumped by ev_fd_del(); an event whose generation no longer matches is
 * dropped, and the mask is read again at dispatch time.
 *
 * Lazy changes. A connection that answers within the turn asks for
 * EV_WRITE when it queues output and drops it when the flush empties the
 * queue: two epoll_ctl() calls per answer for nothing. So a change to a
 * watched fd's mask is only recorded; the turn applies what is still a
 * change just before it sleeps (a flush within the turn cancels it), and
 * dispatch filters events by the recorded mask. Adding and deleting a
 * watch stay immediate: an error belongs to the caller, and a deleted fd
 * may be closed right after.
 */
#include "ev.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define EV_BATCH 256

struct ev_fdrec {
    int mask;     /* EV_READ|EV_WRITE, 0 = not watched */
    int kmask;    /* what epoll has for it; differs from mask while changed */
    bool changed; /* on the loop's list of changes */
    uint32_t gen;
    ev_fd_fn *fn;
    void *arg;
};

struct ev_deferred {
    ev_free_fn *fn;
    void *obj;
};

struct ev_post_node {
    ev_post_fn *fn;
    void *arg;
    struct ev_post_node *next;
};

struct ev_loop {
    int epfd;
    int wakefd; /* eventfd written by ev_post() */

    struct ev_fdrec *fds; /* indexed by fd */
    int nfds;             /* entries in fds */
    int *changed;         /* fds whose mask changed in this turn */
    size_t nchanged, changed_cap;

    ev_timer **heap;
    size_t heap_len, heap_cap;
    uint64_t timer_order;

    int64_t now;
    bool stop;

    ev_hook_fn *before_sleep;
    void *before_sleep_arg;

    struct ev_deferred *deferred;
    size_t deferred_len, deferred_cap;

    pthread_mutex_t post_lock; /* guards the post list */
    struct ev_post_node *post_head, *post_tail;
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ev_loop *ev_new(void)
{
    ev_loop *loop = calloc(1, sizeof *loop);

    if (loop == NULL)
        return NULL;
    loop->epfd = loop->wakefd = -1;
    if (pthread_mutex_init(&loop->post_lock, NULL) != 0) {
        free(loop);
        errno = ENOMEM;
        return NULL;
    }
    if ((loop->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        goto err;
    if ((loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        goto err;
    struct epoll_event ee = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ee) < 0)
        goto err;
    loop->now = mono_ms();
    return loop;
err:
    ev_free(loop);
    return NULL;
}

static void run_deferred(ev_loop *loop)
{
    /* A free function may defer more frees (an object freeing its
     * children); keep going until nothing is left. */
    while (loop->deferred_len > 0) {
        struct ev_deferred d = loop->deferred[--loop->deferred_len];
        d.fn(d.obj);
    }
}

void ev_free(ev_loop *loop)
{
    if (loop == NULL)
        return;
    run_deferred(loop);
    for (struct ev_post_node *n = loop->post_head, *next; n != NULL; n = next) {
        next = n->next;
        free(n);
    }
    for (size_t i = 0; i < loop->heap_len; i++)
        loop->heap[i]->heap_index = EV_TIMER_IDLE;
    if (loop->epfd >= 0)
        close(loop->epfd);
    if (loop->wakefd >= 0)
        close(loop->wakefd);
    pthread_mutex_destroy(&loop->post_lock);
    free(loop->fds);
    free(loop->changed);
    free(loop->heap);
    free(loop->deferred);
    free(loop);
}

/* ---- 1. File events --------------------------------------------------- */

static uint32_t epoll_mask(int mask)
{
    return ((mask & EV_READ) ? EPOLLIN : 0) | ((mask & EV_WRITE) ? EPOLLOUT : 0);
}

static int epoll_apply(ev_loop *loop, int fd, struct ev_fdrec *r, int op)
{
    struct epoll_event ee = {.events = epoll_mask(r->mask),
                             .data.u64 = (uint64_t)r->gen << 32 | (uint32_t)fd};

    if (epoll_ctl(loop->epfd, op, fd, &ee) < 0)
        return -1;
    r->kmask = r->mask;
    return 0;
}

int ev_fd_set(ev_loop *loop, int fd, int mask, ev_fd_fn *fn, void *arg)
{
    if (fd < 0 || (mask & ~(EV_READ | EV_WRITE)) != 0) {
        errno = EINVAL;
        return -1;
    }
    if (mask == 0) {
        ev_fd_del(loop, fd);
        return 0;
    }
    if (fd >= loop->nfds) {
        int n = loop->nfds ? loop->nfds : 64;
        while (n <= fd)
            n *= 2;
        struct ev_fdrec *fds = realloc(loop->fds, (size_t)n * sizeof *fds);
        if (fds == NULL)
            return -1;
        memset(fds + loop->nfds, 0, (size_t)(n - loop->nfds) * sizeof *fds);
        loop->fds = fds;
        loop->nfds = n;
    }
    struct ev_fdrec *r = &loop->fds[fd];
    int old = r->mask;
    r->mask = mask;
    if (r->kmask == 0) {
        if (epoll_apply(loop, fd, r, EPOLL_CTL_ADD) < 0) {
            r->mask = old;
            return -1;
        }
    } else if (mask != r->kmask && !r->changed) {
        if (loop->nchanged == loop->changed_cap) {
            size_t cap = loop->changed_cap ? loop->changed_cap * 2 : 64;
            int *grown = realloc(loop->changed, cap * sizeof *grown);
            if (grown == NULL) { /* no room to defer it: apply it now */
                if (epoll_apply(loop, fd, r, EPOLL_CTL_MOD) < 0) {
                    r->mask = old;
                    return -1;
                }
                goto set;
            }
            loop->changed = grown;
            loop->changed_cap = cap;
        }
        loop->changed[loop->nchanged++] = fd;
        r->changed = true;
    }
set:
    r->fn = fn;
    r->arg = arg;
    return 0;
}

/* Before sleeping: tell epoll the masks that changed in this turn. A
 * change epoll refuses for want of memory stays on the list for the next
 * turn (true: do not sleep meanwhile); one refused because the fd is gone
 * (its owner closed it) is dropped, as the kernel dropped the watch. */
static bool apply_changes(ev_loop *loop)
{
    size_t kept = 0;

    for (size_t i = 0; i < loop->nchanged; i++) {
        int fd = loop->changed[i];
        struct ev_fdrec *r = &loop->fds[fd];
        if (!r->changed)
            continue; /* deleted since */
        if (r->mask == r->kmask || epoll_apply(loop, fd, r, EPOLL_CTL_MOD) == 0 ||
            (errno != ENOMEM && errno != ENOSPC))
            r->changed = false;
        else
            loop->changed[kept++] = fd;
    }
    loop->nchanged = kept;
    return kept > 0;
}

void ev_fd_del(ev_loop *loop, int fd)
{
    if (fd < 0 || fd >= loop->nfds || loop->fds[fd].mask == 0)
        return;
    /* EBADF/ENOENT here means the owner closed the fd first; the kernel has
     * then dropped it from the set already, which is what we want. */
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    loop->fds[fd].mask = 0;
    loop->fds[fd].kmask = 0;
    loop->fds[fd].changed = false;
    loop->fds[fd].gen++;
}

int ev_fd_mask(const ev_loop *loop, int fd)
{
    return fd >= 0 && fd < loop->nfds ? loop->fds[fd].mask : 0;
}

static int dispatch_fd(ev_loop *loop, const struct epoll_event *ee)
{
    int fd = (int)(uint32_t)ee->data.u64;
    uint32_t gen = (uint32_t)(ee->data.u64 >> 32);

    if (fd >= loop->nfds)
        return 0;
    struct ev_fdrec *r = &loop->fds[fd];
    if (r->mask == 0 || r->gen != gen)
        return 0;
    int events = 0;
    if (ee->events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
        events |= EV_READ;
    if (ee->events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        events |= EV_WRITE;
    events &= r->mask;
    if (events == 0)
        return 0;
    r->fn(loop, fd, events, r->arg);
    return 1;
}

/* ---- 2. Timers ---------------------------------------------------------- */

static bool timer_before(const ev_timer *a, const ev_timer *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->order < b->order);
}

static void heap_place(ev_loop *loop, size_t i, ev_timer *t)
{
    loop->heap[i] = t;
    t->heap_index = i;
}

static void heap_up(ev_loop *loop, size_t i)
{
    ev_timer *t = loop->heap[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(t, loop->heap[parent]))
            break;
        heap_place(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_place(loop, i, t);
}

static void heap_down(ev_loop *loop, size_t i)
{
    ev_timer *t = loop->heap[i];

    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= loop->heap_len)
            break;
        if (child + 1 < loop->heap_len && timer_before(loop->heap[child + 1], loop->heap[child]))
            child++;
        if (!timer_before(loop->heap[child], t))
            break;
        heap_place(loop, i, loop->heap[child]);
        i = child;
    }
    heap_place(loop, i, t);
}

static void heap_remove(ev_loop *loop, ev_timer *t)
{
    size_t i = t->heap_index;

    assert(i < loop->heap_len && loop->heap[i] == t);
    t->heap_index = EV_TIMER_IDLE;
    ev_timer *last = loop->heap[--loop->heap_len];
    if (last == t)
        return;
    heap_place(loop, i, last);
    if (i > 0 && timer_before(last, loop->heap[(i - 1) / 2]))
        heap_up(loop, i);
    else
        heap_down(loop, i);
}

void ev_timer_init(ev_timer *t, ev_timer_fn *fn, void *arg)
{
    memset(t, 0, sizeof *t);
    t->heap_index = EV_TIMER_IDLE;
    t->fn = fn;
    t->arg = arg;
}

int ev_timer_start(ev_loop *loop, ev_timer *t, int64_t after_ms)
{
    if (t->heap_index != EV_TIMER_IDLE)
        heap_remove(loop, t);
    else if (loop->heap_len == loop->heap_cap) {
        size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        ev_timer **heap = realloc(loop->heap, cap * sizeof *heap);
        if (heap == NULL)
            return -1;
        loop->heap = heap;
        loop->heap_cap = cap;
    }
    /* The deadline counts from the clock as it is now, not from the start
     * of the turn: a timer must never fire early, however long the
     * callbacks before it took. */
    t->deadline = mono_ms() + (after_ms > 0 ? after_ms : 0);
    t->order = loop->timer_order++;
    loop->heap_len++;
    heap_place(loop, loop->heap_len - 1, t);
    heap_up(loop, loop->heap_len - 1);
    return 0;
}

void ev_timer_stop(ev_loop *loop, ev_timer *t)
{
    if (t->heap_index != EV_TIMER_IDLE)
        heap_remove(loop, t);
}

bool ev_timer_active(const ev_timer *t)
{
    return t->heap_index != EV_TIMER_IDLE;
}

/* Fire the timers due now. Timers (re)started by these callbacks get a
 * later order and wait for the next turn, so a timer that restarts itself
 * with a zero delay cannot starve the loop. */
static int run_timers(ev_loop *loop)
{
    uint64_t started_before = loop->timer_order;
    int ran = 0;

    while (loop->heap_len > 0) {
        ev_timer *t = loop->heap[0];
        if (t->deadline > loop->now || t->order >= started_before)
            break;
        heap_remove(loop, t);
        t->fn(loop, t, t->arg);
        ran++;
    }
    return ran;
}

/* ---- 3. Completions from worker threads ------------------------------- */

int ev_post(ev_loop *loop, ev_post_fn *fn, void *arg)
{
    struct ev_post_node *n = malloc(sizeof *n);
    uint64_t one = 1;

    if (n == NULL)
        return -1;
    n->fn = fn;
    n->arg = arg;
    n->next = NULL;
    pthread_mutex_lock(&loop->post_lock);
    if (loop->post_tail != NULL)
        loop->post_tail->next = n;
    else
        loop->post_head = n;
    loop->post_tail = n;
    pthread_mutex_unlock(&loop->post_lock);
    /* The eventfd counter only saturates after 2^64-2 writes; EAGAIN there
     * would still leave it readable, which is all the wake-up needs. */
    while (write(loop->wakefd, &one, sizeof one) < 0 && errno == EINTR)
        ;
    return 0;
}

int ev_post_cancel(ev_loop *loop, ev_post_fn *fn, void *arg)
{
    struct ev_post_node **at, *gone = NULL;
    int n = 0;

    pthread_mutex_lock(&loop->post_lock);
    loop->post_tail = NULL;
    for (at = &loop->post_head; *at != NULL;) {
        struct ev_post_node *node = *at;

        if (node->fn == fn && node->arg == arg) {
            *at = node->next;
            node->next = gone;
            gone = node;
            n++;
        } else {
            loop->post_tail = node;
            at = &node->next;
        }
    }
    pthread_mutex_unlock(&loop->post_lock);
    while (gone != NULL) {
        struct ev_post_node *next = gone->next;

        free(gone);
        gone = next;
    }
    return n;
}

static int run_posts(ev_loop *loop)
{
    struct ev_post_node *n;
    int ran = 0;

    pthread_mutex_lock(&loop->post_lock);
    n = loop->post_head;
    loop->post_head = loop->post_tail = NULL;
    pthread_mutex_unlock(&loop->post_lock);
    while (n != NULL) {
        struct ev_post_node *next = n->next;
        n->fn(loop, n->arg);
        free(n);
        n = next;
        ran++;
    }
    return ran;
}

static bool posts_pending(ev_loop *loop)
{
    pthread_mutex_lock(&loop->post_lock);
    bool pending = loop->post_head != NULL;
    pthread_mutex_unlock(&loop->post_lock);
    return pending;
}

/* ---- 4. The turn ------------------------------------------------------ */

void ev_set_before_sleep(ev_loop *loop, ev_hook_fn *fn, void *arg)
{
    loop->before_sleep = fn;
    loop->before_sleep_arg = arg;
}

int ev_defer_free(ev_loop *loop, ev_free_fn *free_fn, void *obj)
{
    if (loop->deferred_len == loop->deferred_cap) {
        size_t cap = loop->deferred_cap ? loop->deferred_cap * 2 : 16;
        struct ev_deferred *d = realloc(loop->deferred, cap * sizeof *d);
        if (d == NULL)
            return -1;
        loop->deferred = d;
        loop->deferred_cap = cap;
    }
    loop->deferred[loop->deferred_len++] = (struct ev_deferred){free_fn, obj};
    return 0;
}

int64_t ev_now(const ev_loop *loop)
{
    return loop->now;
}

void ev_update_now(ev_loop *loop)
{
    loop->now = mono_ms();
}

int ev_run_once(ev_loop *loop, int timeout_ms)
{
    struct epoll_event events[EV_BATCH];
    int ran = 0;

    if (loop->before_sleep != NULL)
        loop->before_sleep(loop, loop->before_sleep_arg);

    /* Sleep no longer than the next timer, and not at all when work is
     * already waiting. */
    int wait = timeout_ms;
    if (loop->heap_len > 0) {
        int64_t until = loop->heap[0]->deadline - mono_ms();
        if (until < 0)
            until = 0;
        if (wait < 0 || until < wait)
            wait = until > INT32_MAX ? INT32_MAX : (int)until;
    }
    if (apply_changes(loop) || loop->deferred_len > 0 || loop->stop || posts_pending(loop))
        wait = 0;

    int n = epoll_wait(loop->epfd, events, EV_BATCH, wait);
    if (n < 0) {
        if (errno != EINTR)
            return -1;
        n = 0;
    }
    loop->now = mono_ms();
    for (int i = 0; i < n; i++) {
        if (events[i].data.u64 == UINT64_MAX) {
            uint64_t count;
            while (read(loop->wakefd, &count, sizeof count) < 0 && errno == EINTR)
                ;
            continue;
        }
        ran += dispatch_fd(loop, &events[i]);
    }
    loop->now = mono_ms();
    ran += run_timers(loop);
    ran += run_posts(loop);
    run_deferred(loop);
    return ran;
}

int ev_run(ev_loop *loop)
{
    int rc = 0;

    loop->stop = false;
    while (!loop->stop)
        if ((rc = ev_run_once(loop, -1)) < 0)
            break;
    /* A stop is spent once ev_run() has returned: later turns sleep again. */
    loop->stop = false;
    return rc < 0 ? -1 : 0;
}

void ev_stop(ev_loop *loop)
{
    loop->stop = true;
}
