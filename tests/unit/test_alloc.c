/*
 * test_alloc — the queue engine's allocation policy: green channel, due and
 * early appointments, aging against priority, area weights, no starvation
 * under a stream of green tickets, windows serving only their areas,
 * transfers to a window, recall and automatic no-show, closed windows, the
 * pick reason in the journal, and 2000 picks over 100k waiting tickets
 * checked against a brute-force reading of the rules. All times are
 * explicit: nothing here reads a clock.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "queuefix.h"

#define MIN (60 * 1000LL)

/* ---- Engine fixture (the shared parts are in queuefix) --------------------- */

static clk_zone *zone;
static qf_rec log_;
static queue *q;
static int64_t T0; /* 2026-03-10 09:00 in Shanghai */

static q_policy policy(void)
{
    return qf_policy(10 * MIN, MIN);
}

/* A window serving "A:1,B:2" (area:weight), signed in. */
static void add_window(queue *e, uint32_t no, const char *spec)
{
    qf_add_window(e, no, spec, "c1", T0 - 60 * MIN);
}

static void setup(void)
{
    q_policy p = policy();

    T0 = qf_sh(2026, 3, 10, 9, 0, 0);
    zone = qf_shanghai();
    q = qf_engine(&p, zone, &log_);
    qf_add_area(q, "A", "不动产登记", "A");
    qf_add_area(q, "B", "社保医保", "B");
    qf_add_area(q, "C", "公安户政", "C");
}

static void teardown(void)
{
    queue_free(q);
    q = NULL;
    clk_zone_free(zone);
    qf_rec_clear(&log_);
}

/* A ticket issued and printed at `at`: WAITING. */
static uint64_t waiting_at(queue *e, const char *area, q_priority p, int64_t at, int64_t slot)
{
    q_issue req = {.area = area, .priority = p, .appointment_ms = slot, .kiosk = "K1"};
    const q_ticket *t;
    q_error err;
    uint64_t id;

    ck_assert_msg(queue_issue(e, &req, at, &t, &err) == 0, "%s", err.message);
    id = t->id;
    ck_assert_msg(queue_printed(e, id, at, &t, &err) == 0, "%s", err.message);
    ck_assert_int_eq(t->state, Q_WAITING);
    return id;
}

/* call_next that must succeed; returns the ticket called. */
static uint64_t call(queue *e, uint32_t window, int64_t now, char *reason)
{
    char why[Q_REASON_MAX];
    const q_ticket *t;
    q_error err;

    ck_assert_msg(queue_call_next(e, window, now, &t, reason != NULL ? reason : why, &err) == 0,
                  "window %u: %s", window, err.message);
    return t->id;
}

static void serve(queue *e, uint32_t window, uint64_t id, int64_t now)
{
    q_error err;

    ck_assert_msg(queue_start(e, window, id, now, NULL, &err) == 0, "%s", err.message);
    ck_assert_msg(queue_finish(e, window, id, now, NULL, &err) == 0, "%s", err.message);
}

/* ---- Priority classes ------------------------------------------------------ */

START_TEST(green_first)
{
    char why[Q_REASON_MAX];
    uint64_t n, g;

    add_window(q, 1, "A:1");
    n = waiting_at(q, "A", Q_NORMAL, T0, 0);
    g = waiting_at(q, "A", Q_GREEN, T0 + 5 * MIN, 0);
    ck_assert_uint_eq(call(q, 1, T0 + 10 * MIN, why), g);
    ck_assert_str_eq(why, "green channel, waited 5m (+30m boost)");
    serve(q, 1, g, T0 + 11 * MIN);
    ck_assert_uint_eq(call(q, 1, T0 + 12 * MIN, why), n);
    ck_assert_str_eq(why, "longest weighted wait 12m in 不动产登记 (weight 1)");
}
END_TEST

START_TEST(appointments_due_and_early)
{
    char why[Q_REASON_MAX];
    uint64_t n, due, later;
    q_error err;

    add_window(q, 1, "A:1");
    /* 10:30 slot, due from 10:20 (early 10 min). */
    later = waiting_at(q, "A", Q_APPOINTMENT, T0, qf_sh(2026, 3, 10, 10, 30, 0));
    due = waiting_at(q, "A", Q_APPOINTMENT, T0 + MIN, qf_sh(2026, 3, 10, 9, 20, 0));
    n = waiting_at(q, "A", Q_NORMAL, T0 - 5 * MIN, 0);

    /* 09:15: the 09:20 slot is due (score -5m + 15m = 10m), the normal
     * ticket waited 20m: the normal one wins. */
    ck_assert_uint_eq(call(q, 1, T0 + 15 * MIN, why), n);
    serve(q, 1, n, T0 + 16 * MIN);
    /* Now only appointments: the due one goes first. */
    ck_assert_uint_eq(call(q, 1, T0 + 17 * MIN, why), due);
    ck_assert_str_eq(why, "appointment due 09:20, waited 16m (+15m boost)");
    serve(q, 1, due, T0 + 18 * MIN);
    /* A fresh normal ticket beats the appointment that is not due yet. */
    n = waiting_at(q, "A", Q_NORMAL, T0 + 19 * MIN, 0);
    ck_assert_uint_eq(call(q, 1, T0 + 19 * MIN, why), n);
    serve(q, 1, n, T0 + 20 * MIN);
    /* Nothing else: the early appointment is called rather than nobody. */
    ck_assert_uint_eq(call(q, 1, T0 + 21 * MIN, why), later);
    ck_assert_str_eq(why, "early appointment due 10:30 (nothing else waiting)");
    serve(q, 1, later, T0 + 22 * MIN);
    ck_assert_int_eq(queue_call_next(q, 1, T0 + 23 * MIN, NULL, why, &err), -1);
    ck_assert_int_eq(err.code, QERR_QUEUE_EMPTY);

    /* A due appointment beats an equally old normal ticket by its boost. */
    n = waiting_at(q, "A", Q_NORMAL, T0 + 30 * MIN, 0);
    due = waiting_at(q, "A", Q_APPOINTMENT, T0 + 30 * MIN, T0 + 30 * MIN);
    ck_assert_uint_eq(call(q, 1, T0 + 40 * MIN, why), due);
    ck_assert_str_eq(why, "appointment due 09:30, waited 10m (+15m boost)");
}
END_TEST

START_TEST(aging_beats_fresh_green)
{
    uint64_t n, g;

    add_window(q, 1, "A:1");
    /* Waited 31 min against a fresh green (0 + 30 min): normal first. */
    n = waiting_at(q, "A", Q_NORMAL, T0, 0);
    g = waiting_at(q, "A", Q_GREEN, T0 + 31 * MIN, 0);
    ck_assert_uint_eq(call(q, 1, T0 + 31 * MIN, NULL), n);
    serve(q, 1, n, T0 + 31 * MIN);
    ck_assert_uint_eq(call(q, 1, T0 + 32 * MIN, NULL), g);
    serve(q, 1, g, T0 + 32 * MIN);

    /* Waited 29 min: the green one still goes first. */
    n = waiting_at(q, "A", Q_NORMAL, T0 + 40 * MIN, 0);
    g = waiting_at(q, "A", Q_GREEN, T0 + 69 * MIN, 0);
    ck_assert_uint_eq(call(q, 1, T0 + 69 * MIN, NULL), g);
    serve(q, 1, g, T0 + 69 * MIN);
    ck_assert_uint_eq(call(q, 1, T0 + 70 * MIN, NULL), n);
}
END_TEST

START_TEST(area_weights)
{
    char why[Q_REASON_MAX];
    uint64_t a, b;

    add_window(q, 1, "A:1,B:2");
    /* A waited 10 min (score 10), B 5 min at weight 2 (score 10): a tie,
     * which goes to the older ticket. */
    a = waiting_at(q, "A", Q_NORMAL, T0, 0);
    b = waiting_at(q, "B", Q_NORMAL, T0 + 5 * MIN, 0);
    ck_assert_uint_eq(call(q, 1, T0 + 10 * MIN, why), a);
    ck_assert_str_eq(why, "longest weighted wait 10m in 不动产登记 (weight 1)");
    serve(q, 1, a, T0 + 10 * MIN);
    ck_assert_uint_eq(call(q, 1, T0 + 10 * MIN, NULL), b);
    serve(q, 1, b, T0 + 10 * MIN);
    /* One second more of waiting at weight 2 wins. */
    a = waiting_at(q, "A", Q_NORMAL, T0 + 20 * MIN, 0);
    b = waiting_at(q, "B", Q_NORMAL, T0 + 25 * MIN - 1000, 0);
    ck_assert_uint_eq(call(q, 1, T0 + 30 * MIN, why), b);
    ck_assert_str_eq(why, "longest weighted wait 5m01s in 社保医保 (weight 2)");
    serve(q, 1, b, T0 + 30 * MIN);
    ck_assert_uint_eq(call(q, 1, T0 + 31 * MIN, NULL), a);
}
END_TEST

START_TEST(ties_go_to_lower_id)
{
    uint64_t first, second;

    add_window(q, 1, "A:1,B:1");
    first = waiting_at(q, "B", Q_NORMAL, T0, 0);
    second = waiting_at(q, "A", Q_NORMAL, T0, 0);
    ck_assert_uint_lt(first, second);
    ck_assert_uint_eq(call(q, 1, T0 + MIN, NULL), first);
    serve(q, 1, first, T0 + MIN);
    ck_assert_uint_eq(call(q, 1, T0 + MIN, NULL), second);
}
END_TEST

/* A green ticket every 30 s, two windows each calling every 60 s, one
 * normal ticket waiting from the start: the greens go first only until the
 * normal ticket has waited the green boost. */
START_TEST(no_starvation)
{
    const int64_t boost = policy().green_boost_ms;
    uint64_t n, cur[3] = {0, 0, 0};
    int64_t called_at = -1;
    int greens_before = 0;

    add_window(q, 1, "A:1");
    add_window(q, 2, "A:1");
    n = waiting_at(q, "A", Q_NORMAL, T0, 0);
    for (int step = 0; step < 6 * 60 * 2 && called_at < 0; step++) {
        int64_t now = T0 + step * 30 * 1000;
        uint32_t w = (uint32_t)(1 + step % 2);

        waiting_at(q, "A", Q_GREEN, now, 0);
        if (cur[w] != 0)
            serve(q, w, cur[w], now);
        cur[w] = call(q, w, now, NULL);
        if (cur[w] == n)
            called_at = now;
        else
            greens_before++;
    }
    ck_assert_msg(called_at >= 0, "the normal ticket was never called");
    ck_assert_int_ge(called_at - T0, boost - MIN);
    ck_assert_int_le(called_at - T0, boost + 3 * MIN);
    ck_assert_int_ge(greens_before, 55);
}
END_TEST

/* ---- Windows --------------------------------------------------------------- */

START_TEST(window_serves_only_its_areas)
{
    char why[Q_REASON_MAX];
    q_error err;
    uint64_t a, b;

    add_window(q, 1, "A:1");
    add_window(q, 2, "B:1");
    a = waiting_at(q, "A", Q_GREEN, T0, 0);
    ck_assert_int_eq(queue_call_next(q, 2, T0 + MIN, NULL, why, &err), -1);
    ck_assert_int_eq(err.code, QERR_QUEUE_EMPTY);
    b = waiting_at(q, "B", Q_NORMAL, T0 + 2 * MIN, 0);
    ck_assert_uint_eq(call(q, 2, T0 + 3 * MIN, NULL), b);
    ck_assert_uint_eq(call(q, 1, T0 + 3 * MIN, NULL), a);
    ck_assert_uint_eq(queue_window(q, 1)->current, a);
    ck_assert_uint_eq(queue_window(q, 2)->current, b);
}
END_TEST

START_TEST(transfer_to_window_first_there_only)
{
    char why[Q_REASON_MAX];
    uint64_t old, x, fresh;
    q_error err;

    add_window(q, 1, "A:1");
    add_window(q, 2, "A:1");
    add_window(q, 3, "C:1"); /* serves nothing of A */
    old = waiting_at(q, "A", Q_GREEN, T0 - 60 * MIN, 0);
    x = waiting_at(q, "A", Q_NORMAL, T0, 0);
    ck_assert_uint_eq(call(q, 1, T0 + MIN, NULL), old);
    serve(q, 1, old, T0 + 2 * MIN);
    ck_assert_uint_eq(call(q, 1, T0 + 3 * MIN, NULL), x);
    ck_assert_int_eq(queue_start(q, 1, x, T0 + 3 * MIN, NULL, &err), 0);
    ck_assert_int_eq(queue_transfer(q, 1, x, NULL, 3, T0 + 4 * MIN, NULL, &err), 0);
    ck_assert_uint_eq(queue_ticket(q, x)->target_window, 3);
    ck_assert_uint_eq(queue_waiting(q, "A"), 0);

    /* Window 2 serves A but does not get it; window 3 does, before its own
     * older ticket. */
    waiting_at(q, "C", Q_GREEN, T0 - 90 * MIN, 0);
    fresh = waiting_at(q, "A", Q_NORMAL, T0 + 5 * MIN, 0);
    ck_assert_uint_eq(call(q, 2, T0 + 6 * MIN, NULL), fresh);
    ck_assert_uint_eq(call(q, 3, T0 + 6 * MIN, why), x);
    ck_assert_str_eq(why, "transferred to this window, waited 6m");
    ck_assert_uint_eq(queue_ticket(q, x)->issued_ms, (uint64_t)T0);
    ck_assert_str_eq(queue_ticket(q, x)->area, "A");
}
END_TEST

START_TEST(recall_then_no_show)
{
    char why[Q_REASON_MAX], want[32];
    const q_ticket *t;
    const qf_entry *e;
    uint64_t a, b;
    q_error err;
    size_t mark;

    add_window(q, 1, "A:1");
    a = waiting_at(q, "A", Q_NORMAL, T0, 0);
    b = waiting_at(q, "A", Q_NORMAL, T0 + MIN, 0);
    ck_assert_uint_eq(call(q, 1, T0 + 2 * MIN, NULL), a);
    for (unsigned i = 1; i <= 2; i++) {
        mark = log_.n;
        ck_assert_int_eq(queue_call_next(q, 1, T0 + (2 + i) * MIN, &t, why, &err), 0);
        ck_assert_uint_eq(t->id, a);
        ck_assert_int_eq(t->state, Q_CALLED);
        ck_assert_uint_eq(t->recalls, i);
        ck_assert_uint_eq(log_.n, mark + 2); /* ticket, event */
        e = qf_last_event(&log_);
        ck_assert_int_eq(e->kind, QE_RECALLED);
        ck_assert_uint_eq(e->ticket, a);
        ck_assert_uint_eq(e->window, 1);
        snprintf(want, sizeof want, "recall %u", i);
        ck_assert_str_eq(e->detail, want);
        ck_assert_str_eq(why, want);
    }
    /* Past max_recalls (2): a no-show, and b called in the same call. */
    mark = log_.n;
    ck_assert_int_eq(queue_call_next(q, 1, T0 + 5 * MIN, &t, why, &err), 0);
    ck_assert_uint_eq(t->id, b);
    ck_assert_int_eq(t->state, Q_CALLED);
    ck_assert_int_eq(queue_ticket(q, a)->state, Q_NO_SHOW);
    ck_assert_uint_eq(queue_ticket(q, a)->window_no, 0);
    ck_assert_uint_eq(log_.n, mark + 6);
    ck_assert_int_eq(log_.e[mark].what, 'T');
    ck_assert_uint_eq(log_.e[mark].ticket, a);
    ck_assert_int_eq(log_.e[mark + 1].what, 'W');
    ck_assert_int_eq(log_.e[mark + 2].kind, QE_NO_SHOW);
    ck_assert_str_eq(log_.e[mark + 2].detail, "no answer after 2 recalls");
    ck_assert_int_eq(log_.e[mark + 3].what, 'T');
    ck_assert_uint_eq(log_.e[mark + 3].ticket, b);
    ck_assert_int_eq(log_.e[mark + 4].what, 'W');
    ck_assert_int_eq(log_.e[mark + 5].kind, QE_CALLED);
    ck_assert_uint_eq(log_.e[mark + 5].ticket, b);

    /* b too, with nothing else waiting: the call still succeeds (the
     * no-show is a change) and names the no-show ticket. */
    call(q, 1, T0 + 6 * MIN, NULL);
    call(q, 1, T0 + 7 * MIN, NULL);
    ck_assert_int_eq(queue_call_next(q, 1, T0 + 8 * MIN, &t, why, &err), 0);
    ck_assert_uint_eq(t->id, b);
    ck_assert_int_eq(t->state, Q_NO_SHOW);
    ck_assert_str_eq(why, "no answer after 2 recalls; nothing else waiting");
    ck_assert_uint_eq(queue_window(q, 1)->current, 0);
    ck_assert_int_eq(queue_call_next(q, 1, T0 + 9 * MIN, &t, why, &err), -1);
    ck_assert_int_eq(err.code, QERR_QUEUE_EMPTY);
}
END_TEST

START_TEST(serving_window_must_finish)
{
    char why[Q_REASON_MAX];
    uint64_t a;
    q_error err;
    size_t mark;

    add_window(q, 3, "A:1");
    a = waiting_at(q, "A", Q_NORMAL, T0, 0);
    waiting_at(q, "A", Q_NORMAL, T0, 0);
    call(q, 3, T0 + MIN, NULL);
    ck_assert_int_eq(queue_start(q, 3, a, T0 + MIN, NULL, &err), 0);
    mark = log_.n;
    ck_assert_int_eq(queue_call_next(q, 3, T0 + 2 * MIN, NULL, why, &err), -1);
    ck_assert_int_eq(err.code, QERR_ILLEGAL_STATE);
    ck_assert_str_eq(err.message, "window 3 is serving A001: finish it first");
    ck_assert_uint_eq(log_.n, mark);
}
END_TEST

START_TEST(closed_or_paused_window_refused)
{
    char why[Q_REASON_MAX];
    q_error err;
    size_t mark;

    add_window(q, 1, "A:1");
    waiting_at(q, "A", Q_NORMAL, T0, 0);
    ck_assert_int_eq(queue_pause(q, 1, "lunch", T0, &err), 0);
    mark = log_.n;
    ck_assert_int_eq(queue_call_next(q, 1, T0 + MIN, NULL, why, &err), -1);
    ck_assert_int_eq(err.code, QERR_WINDOW_CLOSED);
    ck_assert_int_eq(queue_sign_out(q, 1, T0 + MIN, &err), 0);
    ck_assert_int_eq(queue_call_next(q, 1, T0 + MIN, NULL, why, &err), -1);
    ck_assert_int_eq(err.code, QERR_WINDOW_CLOSED);
    ck_assert_uint_eq(log_.n, mark + 2); /* the sign-out only */
    ck_assert_int_eq(queue_call_next(q, 9, T0 + MIN, NULL, why, &err), -1);
    ck_assert_int_eq(err.code, QERR_NOT_FOUND);
    ck_assert_uint_eq(queue_waiting(q, "A"), 1);
}
END_TEST

START_TEST(pick_reason_in_called_event)
{
    char why[Q_REASON_MAX];
    const qf_entry *e;
    uint64_t g;

    add_window(q, 4, "A:1");
    g = waiting_at(q, "A", Q_GREEN, T0, 0);
    ck_assert_uint_eq(call(q, 4, T0 + 3 * MIN + 12000, why), g);
    e = qf_last_event(&log_);
    ck_assert_int_eq(e->kind, QE_CALLED);
    ck_assert_uint_eq(e->ticket, g);
    ck_assert_uint_eq(e->window, 4);
    ck_assert_str_eq(e->detail, "green channel, waited 3m12s (+30m boost)");
    ck_assert_str_eq(e->detail, why);
    ck_assert_int_eq(log_.e[log_.n - 2].what, 'W');
    ck_assert_int_eq(log_.e[log_.n - 3].what, 'T');
}
END_TEST

/* ---- Estimates -------------------------------------------------------------- */

START_TEST(estimates)
{
    uint64_t n[5], g, r;
    q_issue req = {.area = "A", .priority = Q_NORMAL};
    const q_ticket *t;
    q_error err;

    add_window(q, 1, "A:1");
    ck_assert_int_eq(queue_service_estimate(q, "A"), 5 * MIN);
    /* Served 1..60 minutes: the median of the last 50 (11..60). */
    for (int i = 1; i <= 60; i++) {
        int64_t at = T0 + i * 100 * MIN;
        uint64_t id = waiting_at(q, "A", Q_NORMAL, at, 0);

        ck_assert_uint_eq(call(q, 1, at, NULL), id);
        ck_assert_int_eq(queue_start(q, 1, id, at, NULL, &err), 0);
        ck_assert_int_eq(queue_finish(q, 1, id, at + i * MIN, NULL, &err), 0);
    }
    ck_assert_int_eq(queue_service_estimate(q, "A"), (35 * MIN + 36 * MIN) / 2);
    ck_assert_int_eq(queue_service_estimate(q, "B"), 5 * MIN);

    for (int i = 0; i < 5; i++)
        n[i] = waiting_at(q, "A", Q_NORMAL, T0 + 7000 * MIN + i * MIN, 0);
    ck_assert_uint_eq(queue_ahead(q, n[0], T0 + 7010 * MIN), 0);
    ck_assert_uint_eq(queue_ahead(q, n[4], T0 + 7010 * MIN), 4);
    g = waiting_at(q, "A", Q_GREEN, T0 + 7008 * MIN, 0);
    ck_assert_uint_eq(queue_ahead(q, g, T0 + 7010 * MIN), 0);
    ck_assert_uint_eq(queue_ahead(q, n[0], T0 + 7010 * MIN), 1);
    ck_assert_uint_eq(queue_ahead(q, n[4], T0 + 7010 * MIN), 5);
    /* A reservation counts as if it joined now. */
    ck_assert_int_eq(queue_issue(q, &req, T0 + 7010 * MIN, &t, &err), 0);
    r = t->id;
    ck_assert_uint_eq(queue_ahead(q, r, T0 + 7010 * MIN), 6);
    ck_assert_uint_eq(queue_waiting(q, "A"), 6);
    ck_assert_uint_eq(queue_ahead(q, 999999, T0), 0);
}
END_TEST

/* ---- 100k waiting tickets against a brute-force reference ----------------- */

#define NAREAS   6
#define NWINDOWS 8
#define NTICKETS 100000
#define NPICKS   2000

typedef struct model {
    uint64_t id;
    int area;
    q_priority prio;
    int64_t issued, slot;
} model;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* The rules of queue.h read directly: every waiting ticket of the
 * window's areas scored, ties to the older issue time, then the lower id;
 * otherwise the earliest not-yet-due appointment. */
static size_t reference_pick(const model *m, size_t n, const uint32_t *weight, int64_t now,
                             const q_policy *p, const char **kind)
{
    size_t best = SIZE_MAX, early = SIZE_MAX;
    int64_t best_score = 0;

    for (size_t i = 0; i < n; i++) {
        const model *t = &m[i];
        int64_t score;

        if (weight[t->area] == 0)
            continue;
        if (t->prio == Q_APPOINTMENT && t->slot - p->appointment_early_ms > now) {
            if (early == SIZE_MAX || t->slot < m[early].slot ||
                (t->slot == m[early].slot &&
                 (t->issued < m[early].issued ||
                  (t->issued == m[early].issued && t->id < m[early].id))))
                early = i;
            continue;
        }
        if (t->prio == Q_APPOINTMENT)
            score = (int64_t)weight[t->area] * (now - t->slot) + p->appointment_boost_ms;
        else
            score = (int64_t)weight[t->area] * (now - t->issued) +
                    (t->prio == Q_GREEN ? p->green_boost_ms : 0);
        if (best == SIZE_MAX || score > best_score ||
            (score == best_score &&
             (t->issued < m[best].issued || (t->issued == m[best].issued && t->id < m[best].id)))) {
            best = i;
            best_score = score;
        }
    }
    if (best == SIZE_MAX) {
        *kind = "early appointment";
        return early;
    }
    *kind = m[best].prio == Q_GREEN         ? "green channel"
            : m[best].prio == Q_APPOINTMENT ? "appointment due"
                                            : "longest weighted wait";
    return best;
}

/* A random waiting ticket issued at `at`, in the engine and the model. */
static void model_issue(queue *e, model *t, int64_t at, int64_t base)
{
    static const char *codes[NAREAS] = {"A", "B", "C", "D", "E", "F"};
    uint64_t r = rng() % 100;

    t->area = (int)(rng() % NAREAS);
    t->prio = r < 70 ? Q_NORMAL : r < 90 ? Q_GREEN : Q_APPOINTMENT;
    t->issued = at;
    t->slot = t->prio == Q_APPOINTMENT ? base + (int64_t)(rng() % 600) * MIN : 0;
    t->id = waiting_at(e, codes[t->area], t->prio, t->issued, t->slot);
}

/* initial waiting tickets, then `picks` calls at random windows, each
 * checked against reference_pick; with churn, random issues and cancels
 * (tickets leaving from the middle of the heaps) between the calls, so
 * that small heaps show any misplaced ticket soon. */
static void model_run(size_t initial, int picks, bool churn)
{
    static const char *codes[NAREAS] = {"A", "B", "C", "D", "E", "F"};
    uint32_t weights[NWINDOWS + 1][NAREAS];
    size_t cap = initial + 2 * (size_t)picks, n = 0;
    q_policy p = policy();
    model *m = calloc(cap, sizeof *m);
    int64_t base = T0 - 4 * 60 * MIN;
    int checked = 0;
    queue *e;

    ck_assert_ptr_nonnull(m);
    e = queue_new(&p, zone, NULL);
    ck_assert_ptr_nonnull(e);
    for (int i = 0; i < NAREAS; i++) {
        char name[16];

        snprintf(name, sizeof name, "area %s", codes[i]);
        qf_add_area(e, codes[i], name, codes[i]);
    }
    memset(weights, 0, sizeof weights);
    for (uint32_t w = 1; w <= NWINDOWS; w++) {
        char spec[64] = "";
        int k = 1 + (int)(rng() % 4);

        for (int j = 0; j < k; j++) {
            int a = (int)(rng() % NAREAS);
            size_t len = strlen(spec);

            if (weights[w][a] != 0)
                continue;
            weights[w][a] = 1 + (uint32_t)(rng() % 5);
            snprintf(spec + len, sizeof spec - len, "%s%s:%u", len > 0 ? "," : "", codes[a],
                     weights[w][a]);
        }
        add_window(e, w, spec);
    }
    /* Issue times on whole minutes, so that ties are common. */
    for (size_t i = 0; i < initial; i++)
        model_issue(e, &m[n++], base + (int64_t)(rng() % 240) * MIN, base);
    for (int k = 0; k < picks; k++) {
        uint32_t w = 1 + (uint32_t)(rng() % NWINDOWS);
        int64_t now = T0 + k * 3000;
        char why[Q_REASON_MAX];
        const char *kind = "";
        const q_ticket *t;
        q_error err;
        size_t want;

        /* Churn: 1.5 tickets in, 0.5 out besides the call, on average. */
        for (int i = churn ? 1 + (int)(rng() % 2) : 0; i > 0; i--)
            model_issue(e, &m[n++], now - (int64_t)(rng() % 120) * MIN, base);
        if (churn && rng() % 2 == 0 && n > 0) {
            want = (size_t)(rng() % n);
            ck_assert_int_eq(queue_cancel(e, 0, m[want].id, "left", now, NULL, &err), 0);
            m[want] = m[--n];
        }
        want = reference_pick(m, n, weights[w], now, &p, &kind);
        if (want == SIZE_MAX) {
            ck_assert_int_eq(queue_call_next(e, w, now, &t, why, &err), -1);
            ck_assert_int_eq(err.code, QERR_QUEUE_EMPTY);
            continue;
        }
        ck_assert_msg(queue_call_next(e, w, now, &t, why, &err) == 0, "%s", err.message);
        ck_assert_msg(t->id == m[want].id, "pick %d at window %u: got %llu (%s), want %llu (%s)", k,
                      w, (unsigned long long)t->id, why, (unsigned long long)m[want].id, kind);
        ck_assert_msg(strncmp(why, kind, strlen(kind)) == 0, "reason '%s', want '%s'", why, kind);
        ck_assert_int_eq(queue_cancel(e, w, t->id, "test", now, NULL, &err), 0);
        m[want] = m[--n];
        checked++;
    }
    ck_assert_int_gt(checked, picks / 2);
    for (int i = 0; i < NAREAS; i++)
        n -= queue_waiting(e, codes[i]);
    ck_assert_uint_eq(n, 0);
    queue_free(e);
    free(m);
}

START_TEST(brute_force_100k)
{
    model_run(NTICKETS, NPICKS, false);
}
END_TEST

START_TEST(brute_force_churn)
{
    model_run(2000, 20000, true);
}
END_TEST

static Suite *alloc_suite(void)
{
    Suite *s = suite_create("allocation");
    TCase *tc = tcase_create("policy");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, green_first);
    tcase_add_test(tc, appointments_due_and_early);
    tcase_add_test(tc, aging_beats_fresh_green);
    tcase_add_test(tc, area_weights);
    tcase_add_test(tc, ties_go_to_lower_id);
    tcase_add_test(tc, no_starvation);
    tcase_add_test(tc, window_serves_only_its_areas);
    tcase_add_test(tc, transfer_to_window_first_there_only);
    tcase_add_test(tc, recall_then_no_show);
    tcase_add_test(tc, serving_window_must_finish);
    tcase_add_test(tc, closed_or_paused_window_refused);
    tcase_add_test(tc, pick_reason_in_called_event);
    tcase_add_test(tc, estimates);
    suite_add_tcase(s, tc);

    tc = tcase_create("scale");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, brute_force_100k);
    tcase_add_test(tc, brute_force_churn);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(alloc_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
