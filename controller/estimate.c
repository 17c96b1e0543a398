/*
 * estimate — see estimate.h. The figures behind the constants are in
 * docs/estimate.md, with the backtest that chose them.
 */
#include "estimate.h"

#include <stdbool.h>
#include <string.h>

#define SAMPLES   64     /* more than the engine keeps per area */
#define CALL_MS   60000  /* from a call to the start: the walk, a recall, a no-show */
#define TAIL_DIV  4      /* a visit past its mean ends within mean/TAIL_DIV */
#define AHEAD_MAX 100000 /* tickets played out; more is the same wait to the minute */

struct server {
    int64_t free_ms; /* from now */
    int64_t cycle_ms;
};

/* The area's mean service time (not the median: the windows' throughput
 * follows the mean, and service times have a long right tail). */
static int64_t mean_service(const queue *q, const char *area)
{
    int64_t v[SAMPLES], sum = 0;
    size_t n = queue_service_times(q, area, v, SAMPLES);

    if (n == 0)
        return queue_service_estimate(q, area);
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    return sum / (int64_t)n;
}

/* The share of window w's calls that go to area: by the waiting tickets
 * (area counted as at least one: the ticket estimated) and the weights. */
static double share(const queue *q, const q_window *w, const char *area)
{
    double own = 0, all = 0;

    for (int k = 0; k < w->nareas; k++) {
        double n = (double)queue_waiting(q, w->areas[k]);
        bool mine = strcmp(w->areas[k], area) == 0;
        if (mine && n < 1)
            n = 1;
        n *= w->weights[k];
        all += n;
        if (mine)
            own = n;
    }
    return all > 0 ? own / all : 1;
}

/* When window w is free again, ms from now. */
static int64_t free_in(const queue *q, const q_window *w, int64_t now)
{
    const q_ticket *t = w->current ? queue_ticket(q, w->current) : NULL;
    int64_t mean, rest, el;

    if (t == NULL)
        return 0;
    mean = mean_service(q, t->area);
    el = now - t->state_ms;
    if (el < 0)
        el = 0;
    if (t->state == Q_CALLED)
        return (el < CALL_MS ? CALL_MS - el : 0) + mean;
    rest = mean - el;
    return rest > mean / TAIL_DIV ? rest : mean / TAIL_DIV;
}

static int64_t wait_behind(const queue *q, const char *area, size_t ahead, int64_t now)
{
    struct server s[64];
    size_t n = 0;
    int64_t mean = mean_service(q, area);

    for (size_t i = 0; queue_window_at(q, i) != NULL && n < sizeof s / sizeof s[0]; i++) {
        const q_window *w = queue_window_at(q, i);
        bool serves = false;
        for (int k = 0; k < w->nareas && !serves; k++)
            serves = strcmp(w->areas[k], area) == 0;
        if (!serves || w->state != QW_OPEN)
            continue;
        s[n].free_ms = free_in(q, w, now);
        s[n++].cycle_ms = (int64_t)((double)mean / share(q, w, area)) + CALL_MS;
    }
    /* No window open: as one window would serve them, so the figure still
     * grows with the queue (the hall shows "windows closed" beside it). */
    if (n == 0)
        return (int64_t)(ahead < AHEAD_MAX ? ahead : AHEAD_MAX) * (mean + CALL_MS);
    if (ahead > AHEAD_MAX)
        ahead = AHEAD_MAX;
    for (size_t called = 0;; called++) {
        size_t first = 0;
        for (size_t i = 1; i < n; i++)
            if (s[i].free_ms < s[first].free_ms)
                first = i;
        if (called == ahead)
            return s[first].free_ms;
        s[first].free_ms += s[first].cycle_ms;
    }
}

int64_t est_ticket_wait(const queue *q, uint64_t id, int64_t now)
{
    const q_ticket *t = queue_ticket(q, id);

    if (t == NULL || (t->state != Q_WAITING && t->state != Q_RESERVED))
        return -1;
    return wait_behind(q, t->area, queue_ahead(q, id, now), now);
}

int64_t est_area_wait(const queue *q, const char *area, int64_t now)
{
    if (area == NULL || queue_area(q, area) == NULL)
        return -1;
    return wait_behind(q, area, queue_waiting(q, area), now);
}

uint32_t est_seconds(int64_t ms)
{
    if (ms <= 0)
        return 0;
    if (ms / 1000 >= UINT32_MAX)
        return UINT32_MAX;
    return (uint32_t)((ms + 500) / 1000);
}
