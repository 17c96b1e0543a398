/*
 * test_states — the ticket and window state machines of the queue engine.
 * Every legal transition (a table) must give the right state and exactly
 * the expected journal records; every other (state, operation) pair must be
 * refused and leave the ticket, the windows and the journal byte-for-byte
 * as they were. Then the finer rules: acting on another window's ticket,
 * rejoin time, transfers, hold and release, the window life, reservation
 * expiry, how long final tickets are kept, and a restore into a fresh
 * engine that must behave exactly as the original.
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

/* The journal since mark as a string of record letters, "TWE". */
static const char *pattern(const qf_rec *r, size_t mark)
{
    static char s[64];
    size_t i;

    for (i = 0; mark + i < r->n && i + 1 < sizeof s; i++)
        s[i] = r->e[mark + i].what;
    s[i] = '\0';
    return s;
}

static q_policy policy(void)
{
    return qf_policy(60 * MIN, 10 * MIN);
}

/* Windows serve A and B; window 3 has no clerk signed in. */
static queue *engine(const q_policy *p)
{
    queue *e = qf_engine(p, zone, &log_);

    qf_add_area(e, "A", "综合受理", "A");
    qf_add_area(e, "B", "社保医保", "B");
    qf_add_window(e, 1, "A:1,B:1", "c1", T0 - 60 * MIN);
    qf_add_window(e, 2, "A:1,B:1", "c2", T0 - 60 * MIN);
    qf_add_window(e, 3, "A:1,B:1", NULL, 0);
    return e;
}

static void setup(void)
{
    q_policy p = policy();

    T0 = qf_sh(2026, 3, 10, 9, 0, 0);
    zone = qf_shanghai();
    q = engine(&p);
}

static void teardown(void)
{
    queue_free(q);
    q = NULL;
    clk_zone_free(zone);
    qf_rec_clear(&log_);
}

static uint64_t issue(queue *e, const char *area, q_priority p, int64_t at)
{
    q_issue req = {.area = area, .priority = p, .appointment_ms = at, .kiosk = "K1"};
    const q_ticket *t;
    q_error err;

    ck_assert_msg(queue_issue(e, &req, at, &t, &err) == 0, "%s", err.message);
    return t->id;
}

static uint64_t waiting_at(queue *e, const char *area, q_priority p, int64_t at)
{
    uint64_t id = issue(e, area, p, at);
    q_error err;

    ck_assert_msg(queue_printed(e, id, at, NULL, &err) == 0, "%s", err.message);
    return id;
}

static uint64_t call(queue *e, uint32_t window, int64_t now)
{
    char why[Q_REASON_MAX];
    const q_ticket *t;
    q_error err;

    ck_assert_msg(queue_call_next(e, window, now, &t, why, &err) == 0, "%s", err.message);
    return t->id;
}

/* ---- The tables ---------------------------------------------------------- */

/* The states a ticket can be in, plus a no-show whose rejoin time ended. */
enum { S_ENDED = Q_CANCELLED + 1, NSTATES };

enum op {
    OP_PRINTED,
    OP_VOID,
    OP_CALL_NEXT,
    OP_RECALL,
    OP_NO_SHOW,
    OP_START,
    OP_FINISH,
    OP_TRANSFER_AREA,
    OP_TRANSFER_WINDOW,
    OP_HOLD,
    OP_RELEASE,
    OP_CANCEL_WINDOW,
    OP_CANCEL_HALL,
    OP_REJOIN,
    NOPS
};

static const char *const op_names[NOPS] = {
    "printed",
    "void",
    "call_next",
    "recall",
    "no_show",
    "start",
    "finish",
    "transfer to area",
    "transfer to window",
    "hold",
    "release",
    "cancel by window",
    "cancel by hall",
    "rejoin",
};

static const char *state_label(int s)
{
    return s == S_ENDED ? "NO_SHOW (rejoin ended)" : queue_state_name((q_state)s);
}

/* A ticket of area A in state s, at window 1 where it is at a window. */
static uint64_t make(queue *e, int s)
{
    uint64_t id = issue(e, "A", Q_NORMAL, T0);

    if (s == Q_RESERVED)
        return id;
    if (s == Q_VOID) {
        QF_OK(queue_void(e, id, "paper jam", T0, NULL, &err_));
        return id;
    }
    QF_OK(queue_printed(e, id, T0 + 1000, NULL, &err_));
    if (s == Q_WAITING)
        return id;
    if (s == Q_CANCELLED) {
        QF_OK(queue_cancel(e, 0, id, "left", T0 + 2 * MIN, NULL, &err_));
        return id;
    }
    ck_assert_uint_eq(call(e, 1, T0 + 2 * MIN), id);
    if (s == Q_CALLED)
        return id;
    if (s == Q_NO_SHOW || s == S_ENDED) {
        QF_OK(queue_no_show(e, 1, id, T0 + 3 * MIN, NULL, &err_));
        if (s == S_ENDED)
            ck_assert_int_eq(queue_tick(e, T0 + 63 * MIN), 0);
        return id;
    }
    if (s == Q_HOLD) {
        QF_OK(queue_hold(e, 1, id, T0 + 3 * MIN, NULL, &err_));
        return id;
    }
    QF_OK(queue_start(e, 1, id, T0 + 3 * MIN, NULL, &err_));
    if (s == Q_SERVING)
        return id;
    QF_OK(queue_finish(e, 1, id, T0 + 4 * MIN, NULL, &err_));
    ck_assert_int_eq(s, Q_DONE);
    return id;
}

/* Runs op on ticket id as window `window` (1 normally). */
static int run(queue *e, enum op op, uint32_t window, uint64_t id, int64_t now,
               const q_ticket **out, q_error *err)
{
    char why[Q_REASON_MAX];

    switch (op) {
    case OP_PRINTED:
        return queue_printed(e, id, now, out, err);
    case OP_VOID:
        return queue_void(e, id, "x", now, out, err);
    case OP_CALL_NEXT:
        return queue_call_next(e, window, now, out, why, err);
    case OP_RECALL:
        return queue_recall(e, window, id, now, out, err);
    case OP_NO_SHOW:
        return queue_no_show(e, window, id, now, out, err);
    case OP_START:
        return queue_start(e, window, id, now, out, err);
    case OP_FINISH:
        return queue_finish(e, window, id, now, out, err);
    case OP_TRANSFER_AREA:
        return queue_transfer(e, window, id, "B", 0, now, out, err);
    case OP_TRANSFER_WINDOW:
        return queue_transfer(e, window, id, NULL, window == 2 ? 1 : 2, now, out, err);
    case OP_HOLD:
        return queue_hold(e, window, id, now, out, err);
    case OP_RELEASE:
        return queue_release(e, window, id, now, out, err);
    case OP_CANCEL_WINDOW:
        return queue_cancel(e, window, id, "left", now, out, err);
    case OP_CANCEL_HALL:
        return queue_cancel(e, 0, id, "left", now, out, err);
    case OP_REJOIN:
        return queue_rejoin(e, id, now, out, err);
    case NOPS:
        break;
    }
    ck_abort_msg("bad op");
    return -1;
}

static int64_t op_time(int s)
{
    return s == S_ENDED ? T0 + 70 * MIN : T0 + 5 * MIN;
}

typedef struct legal {
    int from;
    enum op op;
    q_state to;
    const char *journal;
    q_event_kind event;
} legal;

static const legal legal_moves[] = {
    {Q_RESERVED, OP_PRINTED, Q_WAITING, "TE", QE_PRINTED},
    {Q_RESERVED, OP_VOID, Q_VOID, "TE", QE_VOIDED},
    {Q_WAITING, OP_CALL_NEXT, Q_CALLED, "TWE", QE_CALLED},
    {Q_WAITING, OP_CANCEL_WINDOW, Q_CANCELLED, "TE", QE_CANCELLED},
    {Q_WAITING, OP_CANCEL_HALL, Q_CANCELLED, "TE", QE_CANCELLED},
    {Q_CALLED, OP_CALL_NEXT, Q_CALLED, "TE", QE_RECALLED},
    {Q_CALLED, OP_RECALL, Q_CALLED, "TE", QE_RECALLED},
    {Q_CALLED, OP_NO_SHOW, Q_NO_SHOW, "TWE", QE_NO_SHOW},
    {Q_CALLED, OP_START, Q_SERVING, "TE", QE_STARTED},
    {Q_CALLED, OP_TRANSFER_AREA, Q_WAITING, "TWE", QE_TRANSFERRED},
    {Q_CALLED, OP_TRANSFER_WINDOW, Q_WAITING, "TWE", QE_TRANSFERRED},
    {Q_CALLED, OP_HOLD, Q_HOLD, "TWE", QE_HELD},
    {Q_CALLED, OP_CANCEL_WINDOW, Q_CANCELLED, "TWE", QE_CANCELLED},
    {Q_CALLED, OP_CANCEL_HALL, Q_CANCELLED, "TWE", QE_CANCELLED},
    {Q_SERVING, OP_FINISH, Q_DONE, "TWE", QE_FINISHED},
    {Q_SERVING, OP_TRANSFER_AREA, Q_WAITING, "TWE", QE_TRANSFERRED},
    {Q_SERVING, OP_TRANSFER_WINDOW, Q_WAITING, "TWE", QE_TRANSFERRED},
    {Q_SERVING, OP_HOLD, Q_HOLD, "TWE", QE_HELD},
    {Q_HOLD, OP_RELEASE, Q_WAITING, "TE", QE_RELEASED},
    {Q_HOLD, OP_CANCEL_WINDOW, Q_CANCELLED, "TE", QE_CANCELLED},
    {Q_HOLD, OP_CANCEL_HALL, Q_CANCELLED, "TE", QE_CANCELLED},
    {Q_NO_SHOW, OP_REJOIN, Q_WAITING, "TE", QE_REJOINED},
    {Q_NO_SHOW, OP_CANCEL_HALL, Q_CANCELLED, "TE", QE_CANCELLED},
};
#define NLEGAL ((int)(sizeof legal_moves / sizeof legal_moves[0]))

static const legal *find_legal(int s, enum op op)
{
    for (int i = 0; i < NLEGAL; i++)
        if (legal_moves[i].from == s && legal_moves[i].op == op)
            return &legal_moves[i];
    return NULL;
}

START_TEST(legal_transitions)
{
    const legal *m = &legal_moves[_i];
    const q_ticket *t;
    q_error err;
    uint64_t id = make(q, m->from);
    size_t mark = log_.n;
    const qf_entry *e;

    ck_assert_msg(run(q, m->op, 1, id, op_time(m->from), &t, &err) == 0, "%s from %s: %s",
                  op_names[m->op], state_label(m->from), err.message);
    ck_assert_uint_eq(t->id, id);
    ck_assert_msg(t->state == m->to, "%s from %s gave %s", op_names[m->op], state_label(m->from),
                  queue_state_name(t->state));
    ck_assert_int_eq(queue_ticket(q, id)->state, m->to);
    ck_assert_str_eq(pattern(&log_, mark), m->journal);
    e = qf_last_event(&log_);
    ck_assert_int_eq(e->kind, m->event);
    ck_assert_uint_eq(e->ticket, id);
    /* The ticket record is the ticket after the change. */
    ck_assert_int_eq(log_.e[mark].t.state, m->to);
    ck_assert_int_eq(memcmp(&log_.e[mark].t, t, sizeof *t), 0);
    /* Window 1 holds exactly its CALLED or SERVING ticket. */
    if (m->to == Q_CALLED || m->to == Q_SERVING)
        ck_assert_uint_eq(queue_window(q, 1)->current, id);
    else
        ck_assert_uint_eq(queue_window(q, 1)->current, 0);
    if (strchr(m->journal, 'W') != NULL)
        ck_assert_int_eq(memcmp(&log_.e[mark + 1].w, queue_window(q, 1), sizeof(q_window)), 0);
    ck_assert_uint_eq(t->window_no,
                      m->to == Q_CALLED || m->to == Q_SERVING || m->to == Q_HOLD ? 1 : 0);
}
END_TEST

typedef struct snapshot {
    q_ticket t;
    q_window w[3];
    size_t journal;
    size_t waiting[2];
} snapshot;

static void snap(const queue *e, uint64_t id, snapshot *s)
{
    memset(s, 0, sizeof *s);
    memcpy(&s->t, queue_ticket(e, id), sizeof s->t);
    for (uint32_t i = 0; i < 3; i++)
        memcpy(&s->w[i], queue_window(e, i + 1), sizeof s->w[i]);
    s->journal = log_.n;
    s->waiting[0] = queue_waiting(e, "A");
    s->waiting[1] = queue_waiting(e, "B");
}

/* Refused, with code, and nothing changed. */
static void expect_refused(queue *e, enum op op, uint32_t window, uint64_t id, int s,
                           q_errcode code)
{
    snapshot before, after;
    const q_ticket *t = &before.t;
    q_error err;

    snap(e, id, &before);
    ck_assert_msg(run(e, op, window, id, op_time(s), &t, &err) == -1, "%s on %s was allowed",
                  op_names[op], state_label(s));
    ck_assert_msg(err.code == code, "%s on %s: code %d (%s), want %d", op_names[op], state_label(s),
                  err.code, err.message, code);
    ck_assert_ptr_null(t);
    ck_assert(err.message[0] != '\0');
    snap(e, id, &after);
    ck_assert_msg(memcmp(&before, &after, sizeof before) == 0, "%s on %s changed something",
                  op_names[op], state_label(s));
}

START_TEST(illegal_pairs)
{
    int s = Q_RESERVED + _i / NOPS;
    enum op op = (enum op)(_i % NOPS);
    q_errcode code = QERR_ILLEGAL_STATE;
    q_error err;
    uint64_t id;

    if (find_legal(s, op) != NULL)
        return;
    id = make(q, s);
    /* call_next does not name a ticket: with nothing at or for the window
     * it finds nothing to call. */
    if (op == OP_CALL_NEXT && s != Q_SERVING)
        code = QERR_QUEUE_EMPTY;
    expect_refused(q, op, 1, id, s, code);
    /* The sentence names the ticket and its state. */
    run(q, op, 1, id, op_time(s), NULL, &err);
    if (code == QERR_ILLEGAL_STATE) {
        const char *want = queue_state_name(queue_ticket(q, id)->state);

        if (op == OP_CALL_NEXT)
            want = "window 1 is serving A001: finish it first";
        else if (op == OP_REJOIN && s == S_ENDED)
            want = "A001 cannot rejoin: rejoin time ended";
        else if (op == OP_CANCEL_HALL && s == S_ENDED)
            want = "A001 cannot be cancelled: its rejoin time ended";
        ck_assert_msg(strncmp(err.message, "A001", 4) == 0 || op == OP_CALL_NEXT, "message '%s'",
                      err.message);
        ck_assert_msg(strstr(err.message, want) != NULL, "message '%s', want '%s'", err.message,
                      want);
    }
}
END_TEST

START_TEST(messages)
{
    uint64_t id = make(q, Q_CALLED);
    q_error err;

    ck_assert_int_eq(queue_finish(q, 1, id, T0 + 5 * MIN, NULL, &err), -1);
    ck_assert_int_eq(err.code, QERR_ILLEGAL_STATE);
    ck_assert_str_eq(err.message, "A001 is CALLED, not SERVING");
    ck_assert_int_eq(queue_start(q, 2, id, T0 + 5 * MIN, NULL, &err), -1);
    ck_assert_int_eq(err.code, QERR_FORBIDDEN);
    ck_assert_str_eq(err.message, "A001 is called to window 1, not 2");
    ck_assert_int_eq(queue_start(q, 1, 4242, T0 + 5 * MIN, NULL, &err), -1);
    ck_assert_int_eq(err.code, QERR_NOT_FOUND);
    ck_assert_int_eq(queue_start(q, 7, id, T0 + 5 * MIN, NULL, &err), -1);
    ck_assert_int_eq(err.code, QERR_NOT_FOUND);
    ck_assert_int_eq(queue_start(q, 0, id, T0 + 5 * MIN, NULL, &err), -1);
    ck_assert_int_eq(err.code, QERR_BAD_REQUEST);
    ck_assert_str_eq(queue_strerror(QERR_LEASE_EXHAUSTED), "no offline numbers left");
    ck_assert_str_eq(queue_state_name(Q_NO_SHOW), "NO_SHOW");
    ck_assert_str_eq(queue_window_type_name(QW_COMPLAINT), "complaint");
    ck_assert_int_eq(queue_window_type_parse("issuance"), QW_ISSUANCE);
    ck_assert_int_eq(queue_window_type_parse("Issuance"), -1);
    ck_assert_int_eq(queue_window_type_parse(NULL), -1);
}
END_TEST

/* Window 2 may not act on what is at window 1. */
START_TEST(other_windows_ticket)
{
    static const enum op at_window[] = {OP_RECALL,          OP_NO_SHOW, OP_START,
                                        OP_FINISH,          OP_HOLD,    OP_TRANSFER_AREA,
                                        OP_TRANSFER_WINDOW, OP_RELEASE, OP_CANCEL_WINDOW};
    static const int states[] = {Q_CALLED, Q_SERVING, Q_HOLD};
    static const char *const how[] = {"called to", "being served at", "held by"};
    char want[Q_REASON_MAX];

    for (int k = 0; k < 3; k++) {
        uint64_t id;

        teardown();
        setup();
        id = make(q, states[k]);
        snprintf(want, sizeof want, "A001 is %s window 1, not 2", how[k]);
        for (size_t i = 0; i < sizeof at_window / sizeof at_window[0]; i++) {
            q_error err;

            expect_refused(q, at_window[i], 2, id, states[k], QERR_FORBIDDEN);
            run(q, at_window[i], 2, id, T0 + 5 * MIN, NULL, &err);
            ck_assert_str_eq(err.message, want);
        }
    }
}
END_TEST

/* ---- Finer rules ------------------------------------------------------------ */

START_TEST(rejoin_keeps_place_or_goes_last)
{
    for (int keep = 0; keep < 2; keep++) {
        q_policy p = policy();
        const q_ticket *t;
        uint64_t a, b;
        q_error err;
        queue *e;

        p.rejoin_keeps_place = keep;
        e = engine(&p);
        a = waiting_at(e, "A", Q_NORMAL, T0);
        b = waiting_at(e, "A", Q_NORMAL, T0 + MIN);
        ck_assert_uint_eq(call(e, 1, T0 + 2 * MIN), a);
        QF_OK(queue_no_show(e, 1, a, T0 + 3 * MIN, NULL, &err_));
        ck_assert_int_eq(queue_rejoin(e, a, T0 + 4 * MIN, &t, &err), 0);
        ck_assert_int_eq(t->state, Q_WAITING);
        ck_assert_int_eq(t->issued_ms, keep ? T0 : T0 + 4 * MIN);
        ck_assert_str_eq(qf_last_event(&log_)->detail,
                         keep ? "keeps its place" : "at the end of the queue");
        ck_assert_uint_eq(call(e, 1, T0 + 5 * MIN), keep ? a : b);
        queue_free(e);
    }
}
END_TEST

START_TEST(rejoin_time_ends)
{
    uint64_t a = make(q, Q_NO_SHOW), b;
    q_policy p = policy();
    q_error err;
    queue *e;

    /* Just inside the hour: still allowed (checked on a copy of the state
     * by rejoining a second ticket). */
    b = waiting_at(q, "A", Q_NORMAL, T0 + 4 * MIN);
    ck_assert_uint_eq(call(q, 1, T0 + 4 * MIN), b);
    QF_OK(queue_no_show(q, 1, b, T0 + 4 * MIN, NULL, &err_));
    QF_OK(queue_rejoin(q, b, T0 + 64 * MIN - 1, NULL, &err_));
    /* a no-showed at T0+3m: at T0+63m its hour is over, tick or not. */
    expect_refused(q, OP_REJOIN, 0, a, S_ENDED, QERR_ILLEGAL_STATE);
    ck_assert_int_eq(queue_rejoin(q, a, T0 + 63 * MIN, NULL, &err), -1);
    ck_assert_str_eq(err.message, "A001 cannot rejoin: rejoin time ended");
    ck_assert_int_eq(queue_tick(q, T0 + 63 * MIN), 0);
    ck_assert_int_eq(queue_ticket(q, a)->state, Q_NO_SHOW);
    ck_assert_int_eq(queue_rejoin(q, a, T0 + 50 * MIN, NULL, &err), -1);
    ck_assert_str_eq(err.message, "A001 cannot rejoin: rejoin time ended");

    /* A hall without rejoin. */
    p.rejoin_ms = 0;
    e = engine(&p);
    a = make(e, Q_NO_SHOW);
    ck_assert_int_eq(queue_rejoin(e, a, T0 + 3 * MIN, NULL, &err), -1);
    ck_assert_int_eq(err.code, QERR_ILLEGAL_STATE);
    ck_assert_str_eq(err.message, "A001 cannot rejoin: this hall does not allow it");
    queue_free(e);
}
END_TEST

START_TEST(transfer_keeps_issue_time)
{
    uint64_t a = make(q, Q_SERVING), later;
    const q_ticket *t;
    snapshot before, after;
    q_error err;

    /* Unknown targets and bad requests change nothing. */
    snap(q, a, &before);
    ck_assert_int_eq(queue_transfer(q, 1, a, "Z", 0, T0 + 5 * MIN, NULL, &err), -1);
    ck_assert_int_eq(err.code, QERR_NOT_FOUND);
    ck_assert_int_eq(queue_transfer(q, 1, a, NULL, 9, T0 + 5 * MIN, NULL, &err), -1);
    ck_assert_int_eq(err.code, QERR_NOT_FOUND);
    ck_assert_int_eq(queue_transfer(q, 1, a, "B", 2, T0 + 5 * MIN, NULL, &err), -1);
    ck_assert_int_eq(err.code, QERR_BAD_REQUEST);
    ck_assert_int_eq(queue_transfer(q, 1, a, "", 0, T0 + 5 * MIN, NULL, &err), -1);
    ck_assert_int_eq(err.code, QERR_BAD_REQUEST);
    ck_assert_int_eq(queue_transfer(q, 1, a, NULL, 1, T0 + 5 * MIN, NULL, &err), -1);
    ck_assert_int_eq(err.code, QERR_BAD_REQUEST);
    snap(q, a, &after);
    ck_assert_int_eq(memcmp(&before, &after, sizeof before), 0);

    later = waiting_at(q, "B", Q_NORMAL, T0 + 4 * MIN);
    ck_assert_int_eq(queue_transfer(q, 1, a, "B", 0, T0 + 5 * MIN, &t, &err), 0);
    ck_assert_int_eq(t->state, Q_WAITING);
    ck_assert_int_eq(t->issued_ms, T0);
    ck_assert_str_eq(t->area, "B");
    ck_assert_str_eq(t->number, "A001");
    ck_assert_str_eq(qf_last_event(&log_)->detail, "to area B");
    ck_assert_uint_eq(queue_waiting(q, "A"), 0);
    ck_assert_uint_eq(queue_waiting(q, "B"), 2);
    /* Its old issue time puts it before the B ticket issued later. */
    ck_assert_uint_eq(call(q, 2, T0 + 6 * MIN), a);
    ck_assert_uint_eq(call(q, 1, T0 + 6 * MIN), later);
}
END_TEST

START_TEST(hold_and_release)
{
    uint64_t a = make(q, Q_CALLED), b;
    char why[Q_REASON_MAX];
    const q_ticket *t;
    q_error err;

    b = waiting_at(q, "A", Q_NORMAL, T0 + 2 * MIN);
    QF_OK(queue_hold(q, 1, a, T0 + 3 * MIN, &t, &err_));
    ck_assert_int_eq(t->state, Q_HOLD);
    ck_assert_uint_eq(t->window_no, 1);
    ck_assert_uint_eq(queue_window(q, 1)->current, 0);
    /* The window is free for the next citizen. */
    ck_assert_uint_eq(call(q, 1, T0 + 4 * MIN), b);
    QF_OK(queue_start(q, 1, b, T0 + 4 * MIN, NULL, &err_));
    QF_OK(queue_finish(q, 1, b, T0 + 5 * MIN, NULL, &err_));
    /* Released: back to window 1's own queue, not to window 2. */
    QF_OK(queue_release(q, 1, a, T0 + 6 * MIN, &t, &err_));
    ck_assert_int_eq(t->state, Q_WAITING);
    ck_assert_uint_eq(t->target_window, 1);
    ck_assert_int_eq(t->issued_ms, T0);
    ck_assert_int_eq(queue_call_next(q, 2, T0 + 7 * MIN, NULL, why, &err), -1);
    ck_assert_int_eq(err.code, QERR_QUEUE_EMPTY);
    ck_assert_uint_eq(call(q, 1, T0 + 7 * MIN), a);
}
END_TEST

START_TEST(cancel_frees_window)
{
    uint64_t a = make(q, Q_CALLED), b;
    const q_ticket *t;

    b = waiting_at(q, "A", Q_NORMAL, T0 + 2 * MIN);
    QF_OK(queue_cancel(q, 0, a, "citizen left", T0 + 3 * MIN, &t, &err_));
    ck_assert_int_eq(t->state, Q_CANCELLED);
    ck_assert_uint_eq(t->window_no, 0);
    ck_assert_str_eq(qf_last_event(&log_)->detail, "citizen left");
    ck_assert_uint_eq(qf_last_event(&log_)->window, 0);
    ck_assert_uint_eq(queue_window(q, 1)->current, 0);
    ck_assert_uint_eq(call(q, 1, T0 + 4 * MIN), b);
    /* Any window may cancel a waiting ticket. */
    b = waiting_at(q, "B", Q_NORMAL, T0 + 5 * MIN);
    QF_OK(queue_cancel(q, 2, b, "", T0 + 6 * MIN, NULL, &err_));
    ck_assert_uint_eq(queue_waiting(q, "B"), 0);
}
END_TEST

/* [queue] citizen_limit: one live ticket per card and area (a refusal
 * changes nothing); other areas, other cards and tickets without a card
 * are not limited; a missed ticket that may rejoin still counts, a
 * cancelled one no longer; 0 lifts the limit. */
START_TEST(citizen_limit)
{
    q_policy p = policy();
    uint8_t h1[Q_HASH_LEN] = {1}, h2[Q_HASH_LEN] = {2};
    q_issue req = {.area = "A", .kiosk = "K1", .citizen_hash = h1};
    const q_ticket *t, *first;
    q_error err;

    p.citizen_limit = 1;
    ck_assert_int_eq(queue_set_policy(q, &p), 0);
    QF_OK(queue_issue(q, &req, T0, &t, &err_));
    uint64_t a = t->id;
    char number[Q_NUMBER_MAX];
    snprintf(number, sizeof number, "%s", t->number);
    QF_OK(queue_printed(q, a, T0, NULL, &err_));
    size_t mark = log_.n;
    ck_assert_int_eq(queue_issue(q, &req, T0 + MIN, &t, &err), -1);
    ck_assert_int_eq(err.code, QERR_CITIZEN_LIMIT);
    ck_assert_ptr_nonnull(strstr(err.message, number));
    ck_assert_uint_eq(log_.n, mark);
    ck_assert_uint_eq(queue_citizen_live(q, "A", h1, &first), 1);
    ck_assert_uint_eq(first->id, a);
    req.area = "B";
    QF_OK(queue_issue(q, &req, T0 + MIN, &t, &err_));
    req.area = "A";
    req.citizen_hash = h2;
    QF_OK(queue_issue(q, &req, T0 + MIN, &t, &err_));
    req.citizen_hash = NULL;
    QF_OK(queue_issue(q, &req, T0 + MIN, &t, &err_));
    /* Missed, it may rejoin: still counts; cancelled: no longer. */
    ck_assert_uint_eq(call(q, 1, T0 + 2 * MIN), a);
    QF_OK(queue_no_show(q, 1, a, T0 + 3 * MIN, NULL, &err_));
    req.citizen_hash = h1;
    ck_assert_int_eq(queue_issue(q, &req, T0 + 4 * MIN, &t, &err), -1);
    QF_OK(queue_cancel(q, 0, a, "citizen at the kiosk", T0 + 5 * MIN, &t, &err_));
    ck_assert_int_eq(t->state, Q_CANCELLED);
    QF_OK(queue_issue(q, &req, T0 + 6 * MIN, &t, &err_));
    /* No limit. */
    p.citizen_limit = 0;
    ck_assert_int_eq(queue_set_policy(q, &p), 0);
    QF_OK(queue_issue(q, &req, T0 + 7 * MIN, &t, &err_));
    ck_assert_uint_eq(queue_citizen_live(q, "A", h1, NULL), 2);
    /* Today's ticket by its number. */
    ck_assert_uint_eq(queue_ticket_by_number(q, queue_day(q), number)->id, a);
    ck_assert_ptr_null(queue_ticket_by_number(q, queue_day(q), "Z999"));
}
END_TEST

START_TEST(window_life)
{
    uint64_t a;
    q_error err;
    size_t mark;
    const qf_entry *e;

    /* Window 3 is CLOSED. */
    ck_assert_int_eq(queue_window(q, 3)->state, QW_CLOSED);
    ck_assert_int_eq(queue_pause(q, 3, "x", T0, &err), -1);
    ck_assert_int_eq(err.code, QERR_ILLEGAL_STATE);
    ck_assert_int_eq(queue_resume(q, 3, T0, &err), -1);
    ck_assert_int_eq(err.code, QERR_ILLEGAL_STATE);
    ck_assert_int_eq(queue_sign_out(q, 3, T0, &err), -1);
    ck_assert_int_eq(err.code, QERR_ILLEGAL_STATE);
    ck_assert_int_eq(queue_sign_in(q, 3, "", T0, &err), -1);
    ck_assert_int_eq(err.code, QERR_BAD_REQUEST);
    ck_assert_int_eq(queue_sign_in(q, 9, "c3", T0, &err), -1);
    ck_assert_int_eq(err.code, QERR_NOT_FOUND);
    mark = log_.n;
    QF_OK(queue_sign_in(q, 3, "c3", T0, &err_));
    ck_assert_str_eq(pattern(&log_, mark), "WE");
    e = qf_last_event(&log_);
    ck_assert_int_eq(e->kind, QE_WINDOW_SIGN_IN);
    ck_assert_str_eq(e->clerk, "c3");
    ck_assert_uint_eq(e->ticket, 0);
    ck_assert_int_eq(queue_window(q, 3)->state, QW_OPEN);
    ck_assert_str_eq(queue_window(q, 3)->clerk, "c3");
    ck_assert_int_eq(queue_sign_in(q, 3, "c4", T0, &err), -1);
    ck_assert_int_eq(err.code, QERR_ILLEGAL_STATE);
    ck_assert_int_eq(queue_resume(q, 3, T0, &err), -1);
    QF_OK(queue_pause(q, 3, "lunch", T0, &err_));
    ck_assert_str_eq(qf_last_event(&log_)->detail, "lunch");
    ck_assert_int_eq(queue_window(q, 3)->state, QW_PAUSED);
    ck_assert_int_eq(queue_pause(q, 3, "x", T0, &err), -1);
    ck_assert_int_eq(queue_sign_in(q, 3, "c4", T0, &err), -1);
    QF_OK(queue_resume(q, 3, T0, &err_));
    ck_assert_int_eq(qf_last_event(&log_)->kind, QE_WINDOW_RESUMED);

    /* Serving: pausing is fine, signing out is not. */
    a = waiting_at(q, "A", Q_NORMAL, T0);
    ck_assert_uint_eq(call(q, 3, T0 + MIN), a);
    ck_assert_int_eq(queue_sign_out(q, 3, T0 + MIN, &err), -1);
    ck_assert_int_eq(err.code, QERR_ILLEGAL_STATE);
    ck_assert_str_eq(err.message,
                     "window 3 has called A001: mark it no-show, cancel or transfer it first");
    QF_OK(queue_start(q, 3, a, T0 + 2 * MIN, NULL, &err_));
    mark = log_.n;
    ck_assert_int_eq(queue_sign_out(q, 3, T0 + 2 * MIN, &err), -1);
    ck_assert_str_eq(err.message, "window 3 is serving A001: finish or transfer it first");
    ck_assert_uint_eq(log_.n, mark);
    ck_assert_int_eq(queue_window(q, 3)->state, QW_OPEN);
    QF_OK(queue_pause(q, 3, "", T0 + 2 * MIN, &err_));
    ck_assert_int_eq(queue_sign_out(q, 3, T0 + 2 * MIN, &err), -1);
    QF_OK(queue_finish(q, 3, a, T0 + 3 * MIN, NULL, &err_));
    mark = log_.n;
    QF_OK(queue_sign_out(q, 3, T0 + 3 * MIN, &err_));
    ck_assert_str_eq(pattern(&log_, mark), "WE");
    ck_assert_int_eq(log_.e[mark].w.state, QW_CLOSED);
    ck_assert_str_eq(log_.e[mark].w.clerk, "");
    ck_assert_str_eq(qf_last_event(&log_)->clerk, "c3");
    ck_assert_int_eq(qf_last_event(&log_)->kind, QE_WINDOW_SIGN_OUT);
}
END_TEST

START_TEST(reservation_expiry)
{
    uint64_t a = issue(q, "A", Q_NORMAL, T0), b;
    q_error err;

    ck_assert_int_eq(queue_tick(q, T0 + 10 * MIN - 1), 0);
    ck_assert_int_eq(queue_ticket(q, a)->state, Q_RESERVED);
    ck_assert_int_eq(queue_next_due(q), T0 + 10 * MIN);
    b = issue(q, "A", Q_NORMAL, T0 + MIN);
    ck_assert_int_eq(queue_tick(q, T0 + 10 * MIN), 1);
    ck_assert_int_eq(queue_ticket(q, a)->state, Q_VOID);
    ck_assert_int_eq(queue_ticket(q, b)->state, Q_RESERVED);
    ck_assert_int_eq(qf_last_event(&log_)->kind, QE_EXPIRED);
    ck_assert_uint_eq(qf_last_event(&log_)->ticket, a);
    ck_assert(queue_ticket(q, a)->expired);
    QF_OK(queue_printed(q, b, T0 + 10 * MIN, NULL, &err_));
    ck_assert_int_eq(queue_tick(q, T0 + 30 * MIN), 0);
    ck_assert_int_eq(queue_ticket(q, b)->state, Q_WAITING);

    /* The citizen holds a: its late PRINTED revives it, with its issue
     * time, ahead of b; a second PRINTED is refused. */
    size_t mark = log_.n;
    const q_ticket *t;
    QF_OK(queue_printed(q, a, T0 + 31 * MIN, &t, &err_));
    ck_assert_int_eq(t->state, Q_WAITING);
    ck_assert(!t->expired);
    ck_assert_int_eq(t->issued_ms, T0);
    ck_assert_int_eq(qf_last_event(&log_)->kind, QE_REVIVED);
    ck_assert_uint_eq(log_.n, mark + 2); /* the ticket, its event */
    ck_assert_int_eq(queue_printed(q, a, T0 + 32 * MIN, NULL, &err), -1);
    ck_assert_str_eq(err.message, "A001 is WAITING, not RESERVED");
    QF_OK(queue_call_next(q, 1, T0 + 33 * MIN, &t, NULL, &err_));
    ck_assert_uint_eq(t->id, a);

    /* A ticket its kiosk voided is not revived. */
    uint64_t c = issue(q, "A", Q_NORMAL, T0 + 40 * MIN);
    QF_OK(queue_void(q, c, "paper out", T0 + 40 * MIN, NULL, &err_));
    mark = log_.n;
    ck_assert_int_eq(queue_printed(q, c, T0 + 41 * MIN, NULL, &err), -1);
    ck_assert_int_eq(err.code, QERR_ILLEGAL_STATE);
    ck_assert_uint_eq(log_.n, mark);
}
END_TEST

/* Final tickets are kept through the next business day, then dropped; the
 * engine does not grow over days. */
START_TEST(final_tickets_are_dropped)
{
    uint64_t first = 0, last = 0;

    for (int day = 0; day < 6; day++) {
        int64_t base = T0 + day * 24 * 60 * MIN;

        ck_assert_int_ge(queue_tick(q, base), 0);
        for (int i = 0; i < 50; i++) {
            uint64_t id = waiting_at(q, "A", Q_NORMAL, base + i * MIN);

            ck_assert_uint_eq(call(q, 1, base + i * MIN), id);
            QF_OK(queue_start(q, 1, id, base + i * MIN, NULL, &err_));
            QF_OK(queue_finish(q, 1, id, base + i * MIN + 1000, NULL, &err_));
            if (i == 0)
                first = id;
            last = id;
        }
        ck_assert_int_eq(queue_ticket(q, last)->state, Q_DONE);
        if (day >= 2) {
            /* Day-2's tickets are gone, yesterday's kept. */
            ck_assert_ptr_null(queue_ticket(q, first - 100));
            ck_assert_ptr_null(queue_ticket(q, first - 51));
            ck_assert_ptr_nonnull(queue_ticket(q, first - 50));
            ck_assert_ptr_nonnull(queue_ticket(q, first - 1));
        }
    }
}
END_TEST

/* ---- Out of memory ---------------------------------------------------------- */

/* Step k of a run that makes the engine allocate: fresh heaps, records, a
 * lease, an area, a window, restores. */
static int oom_step(queue *e, int k, uint64_t *ids, q_error *err)
{
    q_issue normal = {.area = "A", .priority = Q_NORMAL};
    q_issue green = {.area = "B", .priority = Q_GREEN};
    q_offline off = {.kiosk = "K1", .area = "A", .number = "A500", .priority = Q_NORMAL};
    q_area area = {.code = "C", .name = "area C", .prefix = "C"};
    q_window win = {.no = 4, .name = "window 4", .type = QW_HELP, .nareas = 1};
    q_ticket x = {.id = 40, .number = "B040", .day = 20260310, .seq = 40, .area = "B"};
    q_lease l = {.id = 9, .kiosk = "K2", .area = "B", .day = 20260310, .first = 700, .count = 50};
    int64_t now = T0 + k * MIN;
    const q_ticket *t;
    int rc = -1;

    switch (k) {
    case 0:
    case 2:
    case 18:
        rc = queue_issue(e, k == 2 ? &green : &normal, now, &t, err);
        if (rc == 0)
            ids[k == 0 ? 0 : k == 2 ? 1 : 3] = t->id;
        return rc;
    case 1:
    case 3:
        return queue_printed(e, ids[k / 2], now, NULL, err);
    case 4:
        return queue_call_next(e, 1, now, NULL, NULL, err);
    case 5:
        return queue_no_show(e, 1, ids[1], now, NULL, err);
    case 6:
        return queue_rejoin(e, ids[1], now, NULL, err);
    case 7:
        return queue_call_next(e, 2, now, NULL, NULL, err);
    case 8:
        return queue_transfer(e, 2, ids[1], NULL, 1, now, NULL, err);
    case 9:
        return queue_call_next(e, 1, now, NULL, NULL, err);
    case 10:
        return queue_hold(e, 1, ids[1], now, NULL, err);
    case 11:
        return queue_release(e, 1, ids[1], now, NULL, err);
    case 12:
        return queue_grant_lease(e, "K1", "A", now, NULL, err);
    case 13:
        off.issued_ms = now - MIN;
        rc = queue_offline_join(e, &off, now, &t, err);
        if (rc == 0)
            ids[2] = t->id;
        return rc;
    case 14:
        return queue_add_area(e, &area, err);
    case 15:
        strcpy(win.areas[0], "C");
        win.weights[0] = 1;
        return queue_add_window(e, &win, err);
    case 16:
        x.state = Q_WAITING;
        x.issued_ms = x.state_ms = T0;
        return queue_restore_ticket(e, &x, err);
    case 17:
        return queue_restore_lease(e, &l, err);
    }
    ck_abort_msg("no step %d", k);
    return -1;
}

typedef struct world {
    q_ticket t[64];
    bool present[64];
    q_window w[5];
    const q_area *areas[5];
    size_t journal, waiting[3];
} world;

static void look(const queue *e, world *x)
{
    memset(x, 0, sizeof *x);
    for (uint64_t id = 0; id < 64; id++)
        if (queue_ticket(e, id) != NULL) {
            memcpy(&x->t[id], queue_ticket(e, id), sizeof x->t[id]);
            x->present[id] = true;
        }
    for (uint32_t i = 0; i < 5; i++)
        if (queue_window(e, i) != NULL)
            memcpy(&x->w[i], queue_window(e, i), sizeof x->w[i]);
    for (size_t i = 0; i < 5; i++)
        x->areas[i] = queue_area_at(e, i);
    x->journal = log_.n;
    x->waiting[0] = queue_waiting(e, "A");
    x->waiting[1] = queue_waiting(e, "B");
    x->waiting[2] = queue_waiting(e, "C");
}

/* Every allocation a request makes may fail: the request is refused with
 * QERR_NOMEM and the engine is exactly as before; retried, it succeeds. */
START_TEST(out_of_memory)
{
    uint64_t ids[8] = {0};
    int failures = 0;

    for (int k = 0; k <= 18; k++) {
        for (unsigned n = 1;; n++) {
            world before, after;
            q_error err;
            int rc;

            look(q, &before);
            queue_fail_alloc(q, n);
            rc = oom_step(q, k, ids, &err);
            queue_fail_alloc(q, 0);
            if (rc == 0)
                break;
            ck_assert_msg(err.code == QERR_NOMEM, "step %d, allocation %u: %s", k, n, err.message);
            look(q, &after);
            ck_assert_msg(memcmp(&before, &after, sizeof before) == 0,
                          "step %d changed the engine when allocation %u failed", k, n);
            failures++;
            ck_assert_uint_lt(n, 10);
        }
    }
    ck_assert_int_ge(failures, 12);
    /* No id was used up by a refused request. */
    ck_assert_uint_eq(ids[0], 1);
    ck_assert_uint_eq(ids[1], 2);
    ck_assert_uint_eq(ids[2], 3);
    ck_assert_uint_eq(ids[3], 41); /* past the restored ticket 40 */
    ck_assert_str_eq(queue_ticket(q, ids[0])->number, "A001");
    ck_assert_str_eq(queue_ticket(q, ids[3])->number, "A002");
    ck_assert_uint_eq(queue_ticket(q, ids[1])->target_window, 1);
    ck_assert_str_eq(queue_ticket(q, 3)->number, "A500");
    ck_assert_int_eq(queue_ticket(q, 40)->state, Q_WAITING);
    ck_assert_uint_eq(queue_waiting(q, "B"), 1);
}
END_TEST

/* ---- Restore ---------------------------------------------------------------- */

/* The latest journaled copy of each ticket and window. */
static void latest(const qf_rec *r, q_ticket *tickets, size_t ntickets, q_window *windows)
{
    for (size_t i = 0; i < r->n; i++) {
        const qf_entry *x = &r->e[i];

        if (x->what == 'T' && x->t.id < ntickets)
            memcpy(&tickets[x->t.id], &x->t, sizeof x->t);
        if (x->what == 'W' && x->w.no >= 1 && x->w.no <= 3)
            memcpy(&windows[x->w.no], &x->w, sizeof x->w);
    }
}

/* Every field equal (padding aside). */
static void same_ticket(const q_ticket *x, const q_ticket *y)
{
    ck_assert_uint_eq(x->id, y->id);
    ck_assert_str_eq(x->number, y->number);
    ck_assert_int_eq(x->day, y->day);
    ck_assert_uint_eq(x->seq, y->seq);
    ck_assert_str_eq(x->area, y->area);
    ck_assert_str_eq(x->matter, y->matter);
    ck_assert_int_eq(x->state, y->state);
    ck_assert_int_eq(x->priority, y->priority);
    ck_assert_int_eq(x->issued_ms, y->issued_ms);
    ck_assert_int_eq(x->state_ms, y->state_ms);
    ck_assert_int_eq(x->reserved_until_ms, y->reserved_until_ms);
    ck_assert_int_eq(x->appointment_ms, y->appointment_ms);
    ck_assert_uint_eq(x->window_no, y->window_no);
    ck_assert_uint_eq(x->target_window, y->target_window);
    ck_assert_uint_eq(x->recalls, y->recalls);
    ck_assert_int_eq(x->offline, y->offline);
    ck_assert_str_eq(x->kiosk, y->kiosk);
    ck_assert_str_eq(x->masked_name, y->masked_name);
    ck_assert_int_eq(x->has_citizen, y->has_citizen);
    ck_assert_int_eq(memcmp(x->citizen_hash, y->citizen_hash, Q_HASH_LEN), 0);
}

static void same_window(const q_window *x, const q_window *y)
{
    ck_assert_uint_eq(x->no, y->no);
    ck_assert_str_eq(x->name, y->name);
    ck_assert_int_eq(x->type, y->type);
    ck_assert_int_eq(x->state, y->state);
    ck_assert_str_eq(x->clerk, y->clerk);
    ck_assert_uint_eq(x->current, y->current);
    ck_assert_int_eq(x->nareas, y->nareas);
    for (int i = 0; i < x->nareas; i++) {
        ck_assert_str_eq(x->areas[i], y->areas[i]);
        ck_assert_uint_eq(x->weights[i], y->weights[i]);
    }
}

/* Runs step k of a fixed script on e, two windows taking turns; the
 * outcome as text. */
static void script_step(queue *e, int k, char *out, size_t len)
{
    int64_t now = T0 + 30 * MIN + k * MIN;
    uint32_t w = 1 + (uint32_t)(k / 6 % 2);
    uint64_t cur = queue_window(e, w)->current;
    const q_ticket *t = NULL;
    char why[Q_REASON_MAX] = "";
    q_error err = {0};
    int rc = 0, n = 0;
    q_issue req = {.area = k % 4 < 2 ? "A" : "B",
                   .priority = (q_priority)(k % 3),
                   .appointment_ms = now - 5 * MIN};

    switch (k % 6) {
    case 0:
    case 1:
        rc = queue_call_next(e, w, now, &t, why, &err);
        break;
    case 2:
        rc = queue_issue(e, &req, now, &t, &err);
        if (rc == 0 && k % 5 != 0)
            rc = queue_printed(e, t->id, now, &t, &err);
        break;
    case 3:
        if (cur != 0 && queue_ticket(e, cur)->state == Q_CALLED)
            rc = k / 6 % 3 == 2 ? queue_no_show(e, w, cur, now, &t, &err)
                                : queue_start(e, w, cur, now, &t, &err);
        break;
    case 4:
        if (cur != 0 && k / 6 % 4 == 1)
            rc = queue_hold(e, w, cur, now, &t, &err);
        else if (cur != 0 && k / 6 % 4 == 3)
            rc = queue_transfer(e, w, cur, "B", 0, now, &t, &err);
        else if (cur != 0)
            rc = queue_finish(e, w, cur, now, &t, &err);
        break;
    case 5:
        rc = queue_tick(e, now);
        for (uint64_t id = 1; id < 64; id++) {
            const q_ticket *x = queue_ticket(e, id);

            if (x != NULL && x->state == Q_HOLD)
                n += queue_release(e, x->window_no, id, now, NULL, &err) == 0;
            else if (x != NULL && x->state == Q_NO_SHOW && k / 6 % 2 == 0)
                n += 10 * (queue_rejoin(e, id, now, NULL, &err) == 0);
        }
        break;
    }
    snprintf(out, len, "rc %d/%d err %d ticket %llu %s state %d recalls %u window %u reason '%s'",
             rc, n, err.code, t != NULL ? (unsigned long long)t->id : 0ull,
             t != NULL ? t->number : "-", t != NULL ? (int)t->state : 0, t != NULL ? t->recalls : 0,
             t != NULL ? t->window_no : 0, why);
}

START_TEST(restore_behaves_the_same)
{
    q_ticket tickets[64];
    q_window windows[4];
    q_policy p = policy();
    uint64_t ids[12];
    q_journal none = {0};
    queue *b;
    q_error err;

    /* A mixed hall: waiting of every class, one serving, one called and
     * recalled, one held, one no-show, one transferred to a window, one
     * reserved, and some final ones. */
    ids[0] = waiting_at(q, "A", Q_NORMAL, T0);
    ids[1] = waiting_at(q, "A", Q_GREEN, T0 + MIN);
    ids[2] = waiting_at(q, "A", Q_APPOINTMENT, T0 + 2 * MIN);
    ids[3] = waiting_at(q, "B", Q_NORMAL, T0 + 3 * MIN);
    ids[4] = waiting_at(q, "B", Q_GREEN, T0 + 4 * MIN);
    ids[5] = waiting_at(q, "A", Q_NORMAL, T0 + 5 * MIN);
    ids[6] = waiting_at(q, "B", Q_NORMAL, T0 + 6 * MIN);
    ids[7] = issue(q, "A", Q_NORMAL, T0 + 7 * MIN);
    ids[8] = waiting_at(q, "A", Q_NORMAL, T0 + 8 * MIN);
    ids[9] = waiting_at(q, "B", Q_NORMAL, T0 + 9 * MIN);
    ck_assert_uint_eq(call(q, 1, T0 + 10 * MIN), ids[1]);
    QF_OK(queue_start(q, 1, ids[1], T0 + 10 * MIN, NULL, &err_));
    ck_assert_uint_eq(call(q, 2, T0 + 11 * MIN), ids[4]);
    QF_OK(queue_hold(q, 2, ids[4], T0 + 11 * MIN, NULL, &err_));
    ck_assert_uint_eq(call(q, 2, T0 + 12 * MIN), ids[2]);
    QF_OK(queue_no_show(q, 2, ids[2], T0 + 12 * MIN, NULL, &err_));
    ck_assert_uint_eq(call(q, 2, T0 + 13 * MIN), ids[0]);
    QF_OK(queue_start(q, 2, ids[0], T0 + 13 * MIN, NULL, &err_));
    QF_OK(queue_transfer(q, 2, ids[0], NULL, 1, T0 + 14 * MIN, NULL, &err_));
    ck_assert_uint_eq(call(q, 2, T0 + 15 * MIN), ids[3]);
    QF_OK(queue_start(q, 2, ids[3], T0 + 15 * MIN, NULL, &err_));
    QF_OK(queue_finish(q, 2, ids[3], T0 + 20 * MIN, NULL, &err_));
    QF_OK(queue_cancel(q, 0, ids[9], "left", T0 + 20 * MIN, NULL, &err_));
    ck_assert_uint_eq(call(q, 2, T0 + 21 * MIN), ids[5]);
    call(q, 2, T0 + 22 * MIN); /* a recall */
    ck_assert_int_eq(queue_ticket(q, ids[5])->recalls, 1);

    /* Restore from the journal alone into a fresh engine. */
    memset(tickets, 0, sizeof tickets);
    memset(windows, 0, sizeof windows);
    latest(&log_, tickets, 64, windows);
    b = queue_new(&p, zone, &none);
    ck_assert_ptr_nonnull(b);
    qf_add_area(b, "A", "综合受理", "A");
    qf_add_area(b, "B", "社保医保", "B");
    for (uint32_t w = 1; w <= 3; w++) {
        if (windows[w].no == 0) {
            windows[w] = *queue_window(q, w);
            windows[w].current = 0;
        }
        ck_assert_msg(queue_add_window(b, &windows[w], &err) == 0, "%s", err.message);
    }
    for (uint64_t id = 1; id < 64; id++)
        if (tickets[id].id != 0)
            ck_assert_msg(queue_restore_ticket(b, &tickets[id], &err) == 0, "%s", err.message);
    /* Restoring twice, or into an unknown window, is refused. */
    ck_assert_int_eq(queue_restore_ticket(b, &tickets[ids[1]], &err), -1);
    tickets[ids[6]].id = 60;
    tickets[ids[6]].state = Q_SERVING;
    tickets[ids[6]].window_no = 1;
    ck_assert_int_eq(queue_restore_ticket(b, &tickets[ids[6]], &err), -1);
    ck_assert_int_eq(err.code, QERR_ILLEGAL_STATE);
    tickets[ids[6]].window_no = 9;
    ck_assert_int_eq(queue_restore_ticket(b, &tickets[ids[6]], &err), -1);
    ck_assert_int_eq(err.code, QERR_NOT_FOUND);

    for (uint64_t id = 1; id < 64; id++) {
        const q_ticket *x = queue_ticket(q, id), *y = queue_ticket(b, id);

        ck_assert_msg((x == NULL) == (y == NULL), "ticket %llu", (unsigned long long)id);
        if (x != NULL)
            same_ticket(x, y);
    }
    for (uint32_t w = 1; w <= 3; w++)
        same_window(queue_window(q, w), queue_window(b, w));
    ck_assert_uint_eq(queue_waiting(q, "A"), queue_waiting(b, "A"));
    ck_assert_uint_eq(queue_waiting(q, "B"), queue_waiting(b, "B"));

    /* The same script on both gives the same answers. */
    for (int k = 0; k < 120; k++) {
        char x[2 * Q_REASON_MAX], y[2 * Q_REASON_MAX];

        script_step(q, k, x, sizeof x);
        script_step(b, k, y, sizeof y);
        ck_assert_msg(strcmp(x, y) == 0, "step %d: %s / %s", k, x, y);
    }
    queue_free(b);
}
END_TEST

static Suite *states_suite(void)
{
    Suite *s = suite_create("ticket states");
    TCase *tc = tcase_create("tables");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, legal_transitions, 0, NLEGAL);
    tcase_add_loop_test(tc, illegal_pairs, 0, (NSTATES - Q_RESERVED) * NOPS);
    tcase_add_test(tc, messages);
    tcase_add_test(tc, other_windows_ticket);
    suite_add_tcase(s, tc);

    tc = tcase_create("rules");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, rejoin_keeps_place_or_goes_last);
    tcase_add_test(tc, rejoin_time_ends);
    tcase_add_test(tc, transfer_keeps_issue_time);
    tcase_add_test(tc, hold_and_release);
    tcase_add_test(tc, cancel_frees_window);
    tcase_add_test(tc, citizen_limit);
    tcase_add_test(tc, window_life);
    tcase_add_test(tc, reservation_expiry);
    tcase_add_test(tc, final_tickets_are_dropped);
    tcase_add_test(tc, out_of_memory);
    tcase_add_test(tc, restore_behaves_the_same);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(states_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
