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

static bool serves(const q_window *w, const char *area, uint32_t *weight)
{
    for (int k = 0; k < w->nareas; k++)
        if (strcmp(w->areas[k], area) == 0) {
            if (weight != NULL)
                *weight = w->weights[k];
            return true;
        }
    return false;
}

/* The tickets of area b a shared window calls before a ticket of area a
 * issued at `issued`: those whose weighted wait is longer now (the green
 * ones with their head start, the appointments due). */
static double older(const queue *q, const q_window *w, const char *a, const char *b, int64_t issued,
                    int64_t now)
{
    const q_policy *pol = queue_policy(q);
    uint32_t wa = 1, wb = 1;
    int64_t cut;

    serves(w, a, &wa);
    serves(w, b, &wb);
    cut = now - (now - issued) * (int64_t)wa / (int64_t)wb;
    return (double)(queue_waiting_before(q, b, Q_NORMAL, cut) +
                    queue_waiting_before(q, b, Q_GREEN, cut + pol->green_boost_ms) +
                    queue_waiting_before(q, b, Q_APPOINTMENT, now + pol->appointment_early_ms + 1));
}

/* The visits to other areas window w makes before it calls a ticket of
 * area issued at `issued`, ms: of each other area it serves, the older
 * tickets in the share of that area's open windows w is. */
static int64_t shared_work(const queue *q, const q_window *w, const char *area, int64_t issued,
                           int64_t now)
{
    double work = 0;

    for (int k = 0; k < w->nareas; k++) {
        const char *b = w->areas[k];
        size_t all = 0;
        if (strcmp(b, area) == 0)
            continue;
        for (size_t i = 0; queue_window_at(q, i) != NULL; i++)
            all +=
                queue_window_at(q, i)->state == QW_OPEN && serves(queue_window_at(q, i), b, NULL);
        work += older(q, w, area, b, issued, now) / (double)all *
                (double)(mean_service(q, b) + CALL_MS);
    }
    return (int64_t)work;
}

static int64_t wait_behind(const queue *q, const char *area, size_t ahead, int64_t issued,
                           int64_t now)
{
    int64_t free_ms[64]; /* per open window serving area: free again, from now */
    size_t n = 0;
    int64_t visit = mean_service(q, area) + CALL_MS;

    for (size_t i = 0; queue_window_at(q, i) != NULL && n < sizeof free_ms / sizeof free_ms[0];
         i++) {
        const q_window *w = queue_window_at(q, i);
        if (w->state == QW_OPEN && serves(w, area, NULL))
            free_ms[n++] = free_in(q, w, now) + shared_work(q, w, area, issued, now);
    }
    if (ahead > AHEAD_MAX)
        ahead = AHEAD_MAX;
    /* No window open: as one window would serve them, so the figure still
     * grows with the queue (the hall shows "windows closed" beside it). */
    if (n == 0)
        return (int64_t)ahead * visit;
    for (size_t called = 0;; called++) {
        size_t first = 0;
        for (size_t i = 1; i < n; i++)
            if (free_ms[i] < free_ms[first])
                first = i;
        if (called == ahead)
            return free_ms[first];
        free_ms[first] += visit;
    }
}

int64_t est_ticket_wait(const queue *q, uint64_t id, int64_t now)
{
    const q_ticket *t = queue_ticket(q, id);
    size_t ahead;

    if (t == NULL || (t->state != Q_WAITING && t->state != Q_RESERVED))
        return -1;
    ahead = queue_ahead(q, id, now);
    /* queue_ahead counts a green ticket's own class only; the ordinary
     * tickets that waited longer than its head start come first too. */
    if (t->priority == Q_GREEN && t->target_window == 0)
        ahead += queue_waiting_before(q, t->area, Q_NORMAL,
                                      t->issued_ms - queue_policy(q)->green_boost_ms);
    return wait_behind(q, t->area, ahead, t->issued_ms, now);
}

int64_t est_area_wait(const queue *q, const char *area, int64_t now)
{
    if (area == NULL || queue_area(q, area) == NULL)
        return -1;
    return wait_behind(q, area, queue_waiting(q, area), now, now);
}

uint32_t est_seconds(int64_t ms)
{
    if (ms <= 0)
        return 0;
    if (ms / 1000 >= UINT32_MAX)
        return UINT32_MAX;
    return (uint32_t)((ms + 500) / 1000);
}
