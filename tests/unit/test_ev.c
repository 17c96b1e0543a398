/*
 * test_ev — the event loop's contract (ev.h): timer order and deadlines,
 * stop/restart, fd readiness and deletion within a turn, the before_sleep
 * hook, the order of a turn, deferred frees, completions posted from
 * worker threads, and ev_stop/ev_free.
 *
 * Timing assertions are one-sided where it matters (a timer never fires
 * early, measured on clk_mono_ms(), the loop's clock); upper bounds are
 * loose, since the machine may be loaded.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clk.h"
#include "ev.h"
#include "testsupport.h"

#define SLACK_MS 1000 /* how late a timer may be on a loaded machine */

static ev_loop *loop;

static void reset_state(void);

static void loop_setup(void)
{
    reset_state(); /* for CK_FORK=no, where tests share the process */
    loop = ev_new();
    ck_assert_ptr_nonnull(loop);
}

static void loop_teardown(void)
{
    ev_free(loop);
    loop = NULL;
}

static void sleep_ms(int ms)
{
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000}, NULL);
}

static void make_pipe(int p[2])
{
    ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

/* Runs turns for about ms milliseconds, whatever happens. */
static void run_for(int ms)
{
    int64_t until = clk_mono_ms() + ms;

    while (clk_mono_ms() < until)
        ck_assert_int_ge(ev_run_once(loop, 10), 0);
}

/* ---- Timers ------------------------------------------------------------ */

enum { NTIMERS = 30 };

struct probe {
    ev_timer timer;
    int id;
    int64_t delay, started_lo, started_hi; /* clk_mono_ms() around the start */
    int64_t fired_at;
    int fired;
};

static int fire_log[NTIMERS * 4], fire_count;

static void probe_fired(ev_loop *l, ev_timer *t, void *arg)
{
    struct probe *p = arg;

    ck_assert_ptr_eq(l, loop);
    ck_assert_ptr_eq(t, &p->timer);
    p->fired_at = clk_mono_ms();
    p->fired++;
    ck_assert_int_lt(fire_count, NTIMERS * 4);
    fire_log[fire_count++] = p->id;
}

static void probe_start(struct probe *p, int id, int64_t delay)
{
    memset(p, 0, sizeof *p);
    p->id = id;
    p->delay = delay;
    ev_timer_init(&p->timer, probe_fired, p);
    ck_assert(!ev_timer_active(&p->timer));
    p->started_lo = clk_mono_ms();
    ck_assert_int_eq(ev_timer_start(loop, &p->timer, delay), 0);
    p->started_hi = clk_mono_ms();
    ck_assert(ev_timer_active(&p->timer));
}

static void run_until_count(int n, int timeout_ms)
{
    int64_t until = clk_mono_ms() + timeout_ms;

    while (fire_count < n && clk_mono_ms() < until)
        ck_assert_int_ge(ev_run_once(loop, 50), 0);
    ck_assert_int_eq(fire_count, n);
}

START_TEST(timers_fire_in_deadline_order)
{
    struct probe p[NTIMERS];
    int delays[NTIMERS];

    for (int i = 0; i < NTIMERS; i++)
        delays[i] = i * 200 / (NTIMERS - 1); /* 0..200 ms */
    for (int i = NTIMERS - 1; i > 0; i--) {
        int j = rand() % (i + 1), tmp = delays[i];
        delays[i] = delays[j];
        delays[j] = tmp;
    }
    for (int i = 0; i < NTIMERS; i++)
        probe_start(&p[i], i, delays[i]);
    run_until_count(NTIMERS, 200 + 5 * SLACK_MS);

    for (int i = 0; i < NTIMERS; i++) {
        ck_assert_int_eq(p[i].fired, 1);
        ck_assert(!ev_timer_active(&p[i].timer));
        ck_assert_msg(p[i].fired_at >= p[i].started_lo + p[i].delay,
                      "timer %d (delay %lld) fired %lld ms early", i, (long long)p[i].delay,
                      (long long)(p[i].started_lo + p[i].delay - p[i].fired_at));
        ck_assert_int_le(p[i].fired_at, p[i].started_hi + p[i].delay + SLACK_MS);
    }
    /* Each deadline lies in [started_lo + delay, started_hi + delay]; a
     * timer may fire after the next one only if its deadline could have
     * been the earlier. */
    for (int k = 0; k + 1 < NTIMERS; k++) {
        const struct probe *a = &p[fire_log[k]], *b = &p[fire_log[k + 1]];
        ck_assert_msg(b->started_hi + b->delay >= a->started_lo + a->delay,
                      "timer %d (delay %lld) fired before timer %d (delay %lld)", a->id,
                      (long long)a->delay, b->id, (long long)b->delay);
    }
}
END_TEST

START_TEST(equal_deadlines_fire_in_start_order)
{
    struct probe p[NTIMERS];

    /* All due at once: the deadlines may differ by the clock's tick
     * between starts, but never against the start order. */
    for (int i = 0; i < NTIMERS; i++)
        probe_start(&p[i], i, 0);
    sleep_ms(5);
    run_until_count(NTIMERS, SLACK_MS);
    for (int i = 0; i < NTIMERS; i++)
        ck_assert_int_eq(fire_log[i], i);
}
END_TEST

START_TEST(stop_prevents_firing)
{
    struct probe a, b, c;

    probe_start(&a, 0, 10);
    probe_start(&b, 1, 10);
    probe_start(&c, 2, 0);
    ev_timer_stop(loop, &b.timer);
    ck_assert(!ev_timer_active(&b.timer));
    ev_timer_stop(loop, &b.timer); /* stopping an idle timer is fine */
    ev_timer_stop(loop, &c.timer);
    run_until_count(1, SLACK_MS);
    run_for(100);
    ck_assert_int_eq(a.fired, 1);
    ck_assert_int_eq(b.fired, 0);
    ck_assert_int_eq(c.fired, 0);
}
END_TEST

START_TEST(restart_moves_timer)
{
    struct probe early, late, guard;
    int64_t restarted;

    /* Earlier... */
    probe_start(&early, 0, 60000);
    ck_assert_int_eq(ev_timer_start(loop, &early.timer, 10), 0);
    ck_assert(ev_timer_active(&early.timer));
    /* ...and later: the guard fires in between. */
    probe_start(&late, 1, 10);
    restarted = clk_mono_ms();
    ck_assert_int_eq(ev_timer_start(loop, &late.timer, 300), 0);
    probe_start(&guard, 2, 100);

    run_until_count(3, 300 + 3 * SLACK_MS);
    run_for(50);
    ck_assert_int_eq(early.fired, 1);
    ck_assert_int_eq(late.fired, 1);
    ck_assert_int_le(early.fired_at, early.started_hi + 10 + SLACK_MS);
    ck_assert_int_ge(late.fired_at, restarted + 300);
    ck_assert_int_eq(fire_log[0], 0);
    /* Unless this thread stalled for 200 ms between the two starts. */
    if (guard.started_hi + 100 < restarted + 300) {
        ck_assert_int_eq(fire_log[1], 2);
        ck_assert_int_eq(fire_log[2], 1);
    }
}
END_TEST

struct periodic {
    ev_timer timer;
    int count, limit;
    int64_t at[16];
};

static void periodic_fired(ev_loop *l, ev_timer *t, void *arg)
{
    struct periodic *p = arg;

    p->at[p->count++] = clk_mono_ms();
    if (p->count < p->limit)
        ck_assert_int_eq(ev_timer_start(l, t, 20), 0);
}

START_TEST(self_restart_is_periodic)
{
    struct periodic p = {.limit = 10};

    ev_timer_init(&p.timer, periodic_fired, &p);
    ck_assert_int_eq(ev_timer_start(loop, &p.timer, 20), 0);
    for (int64_t until = clk_mono_ms() + 200 + 5 * SLACK_MS; p.count < 10 && clk_mono_ms() < until;)
        ck_assert_int_ge(ev_run_once(loop, 50), 0);
    run_for(50);
    ck_assert_int_eq(p.count, 10);
    ck_assert(!ev_timer_active(&p.timer));
    for (int i = 1; i < 10; i++)
        ck_assert_int_ge(p.at[i] - p.at[i - 1], 20);
}
END_TEST

/* A zero-delay periodic timer fires once per turn; it must not keep the
 * turn from ending (or fd callbacks from running). */
static void zero_fired(ev_loop *l, ev_timer *t, void *arg)
{
    (*(int *)arg)++;
    ck_assert_int_eq(ev_timer_start(l, t, 0), 0);
}

static void count_fd(ev_loop *l, int fd, int events, void *arg)
{
    (*(int *)arg)++;
}

START_TEST(zero_delay_periodic_does_not_starve)
{
    ev_timer t;
    int fires = 0, fd_calls = 0, p[2];

    make_pipe(p);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_eq(ev_fd_set(loop, p[0], EV_READ, count_fd, &fd_calls), 0);
    ev_timer_init(&t, zero_fired, &fires);
    ck_assert_int_eq(ev_timer_start(loop, &t, 0), 0);
    for (int i = 0; i < 20; i++)
        ck_assert_int_ge(ev_run_once(loop, 0), 0);
    ck_assert_int_ge(fires, 1);
    ck_assert_int_le(fires, 20);
    ck_assert_int_eq(fd_calls, 20);
    ev_timer_stop(loop, &t);
    ev_fd_del(loop, p[0]);
    close(p[0]);
    close(p[1]);
}
END_TEST

struct killer {
    ev_timer timer;
    ev_timer *victim;
    int fired;
};

static void killer_fired(ev_loop *l, ev_timer *t, void *arg)
{
    struct killer *k = arg;

    k->fired++;
    if (k->victim != NULL)
        ev_timer_stop(l, k->victim);
}

START_TEST(timer_stopped_in_same_turn_does_not_fire)
{
    struct killer a = {0}, b = {0};

    /* Both due in the same turn, whichever runs first stops the other. */
    ev_timer_init(&a.timer, killer_fired, &a);
    ev_timer_init(&b.timer, killer_fired, &b);
    a.victim = &b.timer;
    b.victim = &a.timer;
    ck_assert_int_eq(ev_timer_start(loop, &a.timer, 0), 0);
    ck_assert_int_eq(ev_timer_start(loop, &b.timer, 0), 0);
    sleep_ms(5);
    ck_assert_int_eq(ev_run_once(loop, 0), 1);
    run_for(50);
    ck_assert_int_eq(a.fired, 1); /* started first */
    ck_assert_int_eq(b.fired, 0);
}
END_TEST

START_TEST(now_is_cached)
{
    int64_t before = ev_now(loop);

    ck_assert_int_le(before, clk_mono_ms());
    sleep_ms(20);
    ck_assert_int_eq(ev_now(loop), before);
    ev_update_now(loop);
    ck_assert_int_ge(ev_now(loop), before + 20);
    ck_assert_int_le(ev_now(loop), clk_mono_ms());
    ck_assert_int_ge(ev_run_once(loop, 0), 0);
    ck_assert_int_ge(ev_now(loop), before + 20);
}
END_TEST

/* ---- File descriptors -------------------------------------------------- */

struct fdrec {
    int calls, last_events, last_fd;
};

static void fd_record(ev_loop *l, int fd, int events, void *arg)
{
    struct fdrec *r = arg;

    r->calls++;
    r->last_events = events;
    r->last_fd = fd;
}

/* A mask changed and changed back within a turn is as if never changed
 * (the change reaches epoll only before the loop sleeps); a change to an
 * fd its owner closed without ev_fd_del() is dropped, and the loop still
 * sleeps. */
START_TEST(fd_changes_apply_before_sleep)
{
    struct fdrec r = {0};
    int p[2];
    int64_t t0;

    make_pipe(p);
    ck_assert_int_eq(ev_fd_set(loop, p[1], EV_READ, fd_record, &r), 0);
    ck_assert_int_eq(ev_fd_set(loop, p[1], EV_READ | EV_WRITE, fd_record, &r), 0);
    ck_assert_int_eq(ev_fd_mask(loop, p[1]), EV_READ | EV_WRITE);
    ck_assert_int_eq(ev_fd_set(loop, p[1], EV_READ, fd_record, &r), 0);
    ck_assert_int_eq(ev_run_once(loop, 50), 0); /* writable, but not asked */
    ck_assert_int_eq(r.calls, 0);

    ck_assert_int_eq(ev_fd_set(loop, p[1], EV_READ | EV_WRITE, fd_record, &r), 0);
    ck_assert_int_eq(ev_run_once(loop, SLACK_MS), 1);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.last_events, EV_WRITE);
    /* Dropped again: delivery stops at once, before epoll is told. */
    ck_assert_int_eq(ev_fd_set(loop, p[1], EV_READ, fd_record, &r), 0);
    ck_assert_int_eq(ev_run_once(loop, 50), 0);
    ck_assert_int_eq(r.calls, 1);

    /* The owner closes the fd behind the loop's back, then changes its
     * mask: epoll refuses the change; the loop drops it and sleeps. */
    close(p[1]);
    ck_assert_int_eq(ev_fd_set(loop, p[1], EV_READ | EV_WRITE, fd_record, &r), 0);
    t0 = clk_mono_ms();
    ck_assert_int_eq(ev_run_once(loop, 50), 0);
    ck_assert_int_eq(ev_run_once(loop, 50), 0);
    ck_assert_int_ge(clk_mono_ms() - t0, 80); /* slept: no spinning on it */
    ev_fd_del(loop, p[1]);
    close(p[0]);
}
END_TEST

START_TEST(fd_read_events)
{
    struct fdrec r = {0}, r2 = {0};
    int p[2];
    char c;

    make_pipe(p);
    ck_assert_int_eq(ev_fd_set(loop, p[0], EV_READ, fd_record, &r), 0);
    ck_assert_int_eq(ev_fd_mask(loop, p[0]), EV_READ);
    ck_assert_int_eq(ev_fd_mask(loop, p[1]), 0);
    ck_assert_int_eq(ev_run_once(loop, 50), 0);
    ck_assert_int_eq(r.calls, 0);

    ck_assert_int_eq(write(p[1], "ab", 2), 2);
    ck_assert_int_eq(ev_run_once(loop, SLACK_MS), 1);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.last_events, EV_READ);
    ck_assert_int_eq(r.last_fd, p[0]);
    /* Level triggered: unread data is reported again. */
    ck_assert_int_eq(ev_run_once(loop, SLACK_MS), 1);
    ck_assert_int_eq(r.calls, 2);
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    ck_assert_int_eq(ev_run_once(loop, SLACK_MS), 1);
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    ck_assert_int_eq(ev_run_once(loop, 50), 0);
    ck_assert_int_eq(r.calls, 3);

    /* Replacing the callback. */
    ck_assert_int_eq(ev_fd_set(loop, p[0], EV_READ, fd_record, &r2), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_eq(ev_run_once(loop, SLACK_MS), 1);
    ck_assert_int_eq(r.calls, 3);
    ck_assert_int_eq(r2.calls, 1);

    /* A mask of 0 stops delivery, as ev_fd_del() does. */
    ck_assert_int_eq(ev_fd_set(loop, p[0], 0, fd_record, &r2), 0);
    ck_assert_int_eq(ev_fd_mask(loop, p[0]), 0);
    ck_assert_int_eq(ev_run_once(loop, 50), 0);
    ck_assert_int_eq(r2.calls, 1);
    ck_assert_int_eq(ev_fd_set(loop, p[0], EV_READ, fd_record, &r2), 0);
    ck_assert_int_eq(ev_run_once(loop, SLACK_MS), 1);
    ck_assert_int_eq(r2.calls, 2);
    ev_fd_del(loop, p[0]);
    ev_fd_del(loop, p[0]); /* twice is harmless */
    ck_assert_int_eq(ev_fd_mask(loop, p[0]), 0);
    ck_assert_int_eq(ev_run_once(loop, 50), 0);
    ck_assert_int_eq(r2.calls, 2);

    /* The writer going away is reported as readable (EOF to read). */
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    ck_assert_int_eq(ev_fd_set(loop, p[0], EV_READ, fd_record, &r2), 0);
    close(p[1]);
    ck_assert_int_eq(ev_run_once(loop, SLACK_MS), 1);
    ck_assert(r2.last_events & EV_READ);
    ev_fd_del(loop, p[0]);
    close(p[0]);
    ck_assert_int_eq(ev_fd_set(loop, -1, EV_READ, fd_record, &r), -1);
}
END_TEST

START_TEST(fd_write_events)
{
    struct fdrec r = {0};
    char chunk[4096] = {0};
    int p[2];

    make_pipe(p);
    ck_assert_int_eq(ev_fd_set(loop, p[1], EV_WRITE, fd_record, &r), 0);
    ck_assert_int_eq(ev_run_once(loop, SLACK_MS), 1);
    ck_assert_int_eq(r.last_events, EV_WRITE);
    ck_assert_int_eq(r.last_fd, p[1]);
    /* A full pipe is not writable... */
    while (write(p[1], chunk, sizeof chunk) > 0)
        ;
    ck_assert_int_eq(errno, EAGAIN);
    r.calls = 0;
    ck_assert_int_eq(ev_run_once(loop, 50), 0);
    ck_assert_int_eq(r.calls, 0);
    /* ...until drained. */
    while (read(p[0], chunk, sizeof chunk) > 0)
        ;
    ck_assert_int_eq(ev_run_once(loop, SLACK_MS), 1);
    ck_assert_int_eq(r.calls, 1);
    /* Asking for both on a pipe's write end: only EV_WRITE is given. */
    ck_assert_int_eq(ev_fd_set(loop, p[1], EV_READ | EV_WRITE, fd_record, &r), 0);
    ck_assert_int_eq(ev_fd_mask(loop, p[1]), EV_READ | EV_WRITE);
    ck_assert_int_eq(ev_run_once(loop, SLACK_MS), 1);
    ck_assert_int_eq(r.last_events, EV_WRITE);
    ev_fd_del(loop, p[1]);
    close(p[0]);
    close(p[1]);
}
END_TEST

/* Two fds ready in the same turn; whichever callback runs first deletes
 * and closes the other, and puts a fresh pipe (likely reusing the number)
 * in its place with another callback. Neither the closed fd's callback nor
 * the new registration may see the stale event. */
struct pair {
    int rd[2], wr[2];
    int calls[2];
    int fresh[2];
    struct fdrec fresh_rec;
};

static struct pair pair;

static void pair_ready(ev_loop *l, int fd, int events, void *arg)
{
    int me = (int)(intptr_t)arg, other = 1 - me;

    pair.calls[me]++;
    if (pair.rd[other] < 0)
        return;
    ev_fd_del(l, pair.rd[other]);
    close(pair.rd[other]);
    close(pair.wr[other]);
    pair.rd[other] = -1;
    make_pipe(pair.fresh);
    ck_assert_int_eq(ev_fd_set(l, pair.fresh[0], EV_READ, fd_record, &pair.fresh_rec), 0);
}

START_TEST(fd_deleted_in_same_turn_gets_no_event)
{
    int p0[2], p1[2];

    make_pipe(p0);
    make_pipe(p1);
    pair = (struct pair){.rd = {p0[0], p1[0]}, .wr = {p0[1], p1[1]}, .fresh = {-1, -1}};
    ck_assert_int_eq(ev_fd_set(loop, p0[0], EV_READ, pair_ready, (void *)(intptr_t)0), 0);
    ck_assert_int_eq(ev_fd_set(loop, p1[0], EV_READ, pair_ready, (void *)(intptr_t)1), 0);
    ck_assert_int_eq(write(p0[1], "a", 1), 1);
    ck_assert_int_eq(write(p1[1], "b", 1), 1);
    ck_assert_int_eq(ev_run_once(loop, SLACK_MS), 1);
    ck_assert_int_eq(pair.calls[0] + pair.calls[1], 1);
    ck_assert_int_eq(pair.fresh_rec.calls, 0);
    run_for(50);
    ck_assert_int_eq(pair.fresh_rec.calls, 0);
    /* The survivor is still level-triggered, the victim silent. */
    ck_assert(pair.calls[0] == 0 || pair.calls[1] == 0);
    ck_assert_int_gt(pair.calls[0] + pair.calls[1], 1);
    for (int i = 0; i < 2; i++) {
        if (pair.rd[i] >= 0) {
            ev_fd_del(loop, pair.rd[i]);
            close(pair.rd[i]);
            close(pair.wr[i]);
        }
    }
    ck_assert_int_ge(pair.fresh[0], 0);
    ev_fd_del(loop, pair.fresh[0]);
    close(pair.fresh[0]);
    close(pair.fresh[1]);
}
END_TEST

/* ---- The turn: hook, order, deferred frees ----------------------------- */

static int turn;
static char order[16];
static int order_len;

/* Records what ran, in order, for the turn being checked. */
static void note(char what)
{
    if (order_len < (int)sizeof order - 1)
        order[order_len++] = what;
}

static void count_turn(ev_loop *l, void *arg)
{
    turn++;
    note('B');
}

START_TEST(before_sleep_runs_every_turn)
{
    ev_set_before_sleep(loop, count_turn, NULL);
    for (int i = 1; i <= 10; i++) {
        order_len = 0;
        ck_assert_int_ge(ev_run_once(loop, 0), 0);
        ck_assert_int_eq(turn, i);
    }
    ck_assert_int_ge(ev_run_once(loop, 20), 0); /* and when it sleeps */
    ck_assert_int_eq(turn, 11);
    ev_set_before_sleep(loop, NULL, NULL);
    ck_assert_int_ge(ev_run_once(loop, 0), 0);
    ck_assert_int_eq(turn, 11);
}
END_TEST

/* An object closing itself from its own callback, as a client connection
 * does on EOF. */
struct conn {
    int fd, wfd;
    ev_timer timer;
    char scratch[64];
    int deferred_turn;
};

static int frees, free_turn, frees_seen_by_timer = -1, frees_seen_by_post = -1;

static void conn_free(void *obj)
{
    struct conn *c = obj;

    note('F');
    frees++;
    free_turn = turn;
    close(c->wfd);
    free(c);
}

static void see_frees_timer(ev_loop *l, ev_timer *t, void *arg)
{
    note('T');
    frees_seen_by_timer = frees;
}

static void see_frees_post(ev_loop *l, void *arg)
{
    note('P');
    frees_seen_by_post = frees;
}

static void conn_ready(ev_loop *l, int fd, int events, void *arg)
{
    struct conn *c = arg;

    note('D');
    ev_fd_del(l, c->fd);
    close(c->fd);
    ck_assert_int_eq(ev_defer_free(l, conn_free, c), 0);
    /* Still ours until the turn ends. */
    memset(c->scratch, 'x', sizeof c->scratch);
    c->deferred_turn = turn;
    ck_assert_int_eq(frees, 0);
}

START_TEST(deferred_free_after_all_callbacks)
{
    struct conn *c = calloc(1, sizeof *c);
    ev_timer t;
    int p[2];

    make_pipe(p);
    c->fd = p[0];
    c->wfd = p[1];
    ev_set_before_sleep(loop, count_turn, NULL);
    ck_assert_int_eq(ev_fd_set(loop, c->fd, EV_READ, conn_ready, c), 0);
    ev_timer_init(&t, see_frees_timer, NULL);
    ck_assert_int_eq(ev_timer_start(loop, &t, 0), 0);
    ck_assert_int_eq(ev_post(loop, see_frees_post, NULL), 0);
    ck_assert_int_eq(write(p[1], "bye", 3), 3);
    sleep_ms(5);

    ck_assert_int_eq(ev_run_once(loop, SLACK_MS), 3);
    order[order_len] = '\0';
    /* The turn is hook, fds, timers, completions, frees (ev.h). */
    ck_assert_str_eq(order, "BDTPF");
    ck_assert_int_eq(frees, 1);
    ck_assert_int_eq(free_turn, 1);
    ck_assert_int_eq(frees_seen_by_timer, 0);
    ck_assert_int_eq(frees_seen_by_post, 0);
    run_for(50);
    ck_assert_int_eq(frees, 1);
}
END_TEST

static void plain_free(void *obj)
{
    frees++;
    free(obj);
}

START_TEST(ev_free_runs_pending_frees)
{
    ck_assert_int_eq(ev_defer_free(loop, plain_free, malloc(16)), 0);
    ck_assert_int_eq(ev_defer_free(loop, plain_free, malloc(16)), 0);
    ck_assert_int_eq(frees, 0);
    ev_free(loop);
    loop = NULL;
    ck_assert_int_eq(frees, 2);
    ev_free(NULL);
}
END_TEST

/* ---- Worker threads ----------------------------------------------------- */

enum { WORKERS = 4, POSTS = 10000 };

struct completion {
    int worker, seq;
};

static struct completion items[WORKERS][POSTS];
static int next_seq[WORKERS], workers_done, arrived;
static pthread_t loop_thread;
static bool wrong_thread, out_of_order;

static void completion_ran(ev_loop *l, void *arg)
{
    const struct completion *c = arg;

    if (!pthread_equal(pthread_self(), loop_thread))
        wrong_thread = true;
    if (c->seq != next_seq[c->worker]++)
        out_of_order = true;
    arrived++;
}

static void worker_done(ev_loop *l, void *arg)
{
    if (++workers_done == WORKERS)
        ev_stop(l);
}

static void *worker(void *arg)
{
    int w = (int)(intptr_t)arg;

    for (int i = 0; i < POSTS; i++) {
        items[w][i] = (struct completion){w, i};
        if (ev_post(loop, completion_ran, &items[w][i]) != 0)
            return (void *)1;
        if (i % 1000 == 0)
            sched_yield();
    }
    return ev_post(loop, worker_done, NULL) == 0 ? NULL : (void *)1;
}

START_TEST(posts_from_threads_arrive_in_order_on_loop_thread)
{
    pthread_t th[WORKERS];

    loop_thread = pthread_self();
    for (int w = 0; w < WORKERS; w++)
        ck_assert_int_eq(pthread_create(&th[w], NULL, worker, (void *)(intptr_t)w), 0);
    /* No timers, no fds: only the posts can wake the loop. */
    ck_assert_int_eq(ev_run(loop), 0);
    for (int w = 0; w < WORKERS; w++) {
        void *rc;
        ck_assert_int_eq(pthread_join(th[w], &rc), 0);
        ck_assert_ptr_null(rc);
    }
    ck_assert_int_eq(workers_done, WORKERS);
    ck_assert_int_eq(arrived, WORKERS * POSTS);
    ck_assert(!wrong_thread);
    ck_assert(!out_of_order);
    for (int w = 0; w < WORKERS; w++)
        ck_assert_int_eq(next_seq[w], POSTS);
}
END_TEST

static void stop_loop(ev_loop *l, void *arg)
{
    *(int64_t *)arg = clk_mono_ms();
    ev_stop(l);
}

static int64_t stopped_at;

static void *late_stopper(void *arg)
{
    sleep_ms(200);
    return ev_post(loop, stop_loop, &stopped_at) == 0 ? NULL : (void *)1;
}

START_TEST(post_wakes_indefinite_wait)
{
    pthread_t th;
    int64_t start = clk_mono_ms();
    void *rc;

    ck_assert_int_eq(pthread_create(&th, NULL, late_stopper, NULL), 0);
    ck_assert_int_eq(ev_run(loop), 0);
    ck_assert_int_ge(stopped_at, start + 200);
    ck_assert_int_le(clk_mono_ms(), stopped_at + SLACK_MS);
    ck_assert_int_eq(pthread_join(th, &rc), 0);
    ck_assert_ptr_null(rc);
}
END_TEST

/* ev_run_once(-1) sleeps until a post arrives, also after an ev_run()
 * that ended with ev_stop(). */
START_TEST(run_once_sleeps_after_run_stopped)
{
    int64_t start;
    pthread_t th;
    void *rc;

    ck_assert_int_eq(ev_post(loop, stop_loop, &stopped_at), 0);
    ck_assert_int_eq(ev_run(loop), 0);
    start = clk_mono_ms();
    ck_assert_int_eq(pthread_create(&th, NULL, late_stopper, NULL), 0);
    ck_assert_int_eq(ev_run_once(loop, -1), 1);
    ck_assert_int_ge(clk_mono_ms(), start + 200);
    ck_assert_int_eq(pthread_join(th, &rc), 0);
    ck_assert_ptr_null(rc);
}
END_TEST

static void count_post(ev_loop *l, void *arg)
{
    (*(int *)arg)++;
}

/* Posts pending when the loop is freed are dropped, not run. */
START_TEST(ev_free_drops_unrun_posts)
{
    int ran = 0;

    ck_assert_int_eq(ev_post(loop, count_post, &ran), 0);
    ev_free(loop);
    loop = NULL;
    ck_assert_int_eq(ran, 0);
}
END_TEST

static void stop_after_three(ev_loop *l, ev_timer *t, void *arg)
{
    if (++*(int *)arg >= 3)
        ev_stop(l);
    else
        ck_assert_int_eq(ev_timer_start(l, t, 1), 0);
}

START_TEST(stop_ends_run)
{
    ev_timer t;
    int fires = 0;

    ev_timer_init(&t, stop_after_three, &fires);
    ck_assert_int_eq(ev_timer_start(loop, &t, 1), 0);
    ck_assert_int_eq(ev_run(loop), 0);
    ck_assert_int_eq(fires, 3);
    /* ev_run can be entered again. */
    ck_assert_int_eq(ev_timer_start(loop, &t, 1), 0);
    ck_assert_int_eq(ev_run(loop), 0);
    ck_assert_int_eq(fires, 4);
}
END_TEST

static void reset_state(void)
{
    memset(fire_log, 0, sizeof fire_log);
    fire_count = 0;
    turn = order_len = frees = free_turn = 0;
    frees_seen_by_timer = frees_seen_by_post = -1;
    memset(next_seq, 0, sizeof next_seq);
    workers_done = arrived = 0;
    wrong_thread = out_of_order = false;
    stopped_at = 0;
}

static Suite *ev_suite(void)
{
    Suite *s = suite_create("ev");
    TCase *tc = tcase_create("timers");

    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
    tcase_add_test(tc, timers_fire_in_deadline_order);
    tcase_add_test(tc, equal_deadlines_fire_in_start_order);
    tcase_add_test(tc, stop_prevents_firing);
    tcase_add_test(tc, restart_moves_timer);
    tcase_add_test(tc, self_restart_is_periodic);
    tcase_add_test(tc, zero_delay_periodic_does_not_starve);
    tcase_add_test(tc, timer_stopped_in_same_turn_does_not_fire);
    tcase_add_test(tc, now_is_cached);
    suite_add_tcase(s, tc);

    tc = tcase_create("fds");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
    tcase_add_test(tc, fd_read_events);
    tcase_add_test(tc, fd_write_events);
    tcase_add_test(tc, fd_deleted_in_same_turn_gets_no_event);
    suite_add_tcase(s, tc);

    tc = tcase_create("turn");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
    tcase_add_test(tc, before_sleep_runs_every_turn);
    tcase_add_test(tc, deferred_free_after_all_callbacks);
    tcase_add_test(tc, ev_free_runs_pending_frees);
    tcase_add_test(tc, stop_ends_run);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
    tcase_add_test(tc, posts_from_threads_arrive_in_order_on_loop_thread);
    tcase_add_test(tc, post_wakes_indefinite_wait);
    tcase_add_test(tc, run_once_sleeps_after_run_stopped);
    tcase_add_test(tc, ev_free_drops_unrun_posts);
    tcase_add_test(tc, fd_changes_apply_before_sleep);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ev_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
