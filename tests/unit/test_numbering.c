/*
 * test_numbering — display numbers, business days and offline leases in the
 * queue engine: the daily sequence per area, the rollover at 03:00 in
 * Asia/Shanghai (the real zone file), carry-over or closing at the
 * rollover, the online sequence jumping over the lease band, lease blocks
 * that never overlap (also after a restore), offline uploads and their
 * checks, ticket ids, and the zero-padded width.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "queuefix.h"

#define MIN  (60 * 1000LL)
#define HOUR (60 * MIN)

/* ---- Engine fixture (the shared parts are in queuefix) --------------------- */

static clk_zone *zone;
static qf_rec log_;
static queue *q;
static int64_t T0; /* 2026-03-10 09:00 in Shanghai */

/* How many events of kind since mark. */
static int count_events(const qf_rec *r, size_t mark, q_event_kind kind)
{
    int n = 0;

    for (size_t i = mark; i < r->n; i++)
        n += r->e[i].what == 'E' && r->e[i].kind == kind;
    return n;
}

static q_policy policy(void)
{
    return qf_policy(24 * HOUR, 24 * HOUR);
}

/* Windows 1 and 2 serve A and B and are open; window 3 serves C, closed. */
static void add_window(queue *e, uint32_t no)
{
    q_window w = qf_window(no, no == 3 ? "C:1" : "A:1,B:1");
    q_error err;

    if (no != 3) {
        w.state = QW_OPEN;
        strcpy(w.clerk, "c1");
    }
    ck_assert_msg(queue_add_window(e, &w, &err) == 0, "%s", err.message);
}

static queue *engine(const q_policy *p)
{
    queue *e = qf_engine(p, zone, &log_);

    qf_add_area(e, "A", "area A", "A");
    qf_add_area(e, "B", "area B", "B");
    qf_add_area(e, "C", "area C", "C");
    add_window(e, 1);
    add_window(e, 2);
    add_window(e, 3);
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

static const q_ticket *issue(queue *e, const char *area, int64_t at)
{
    q_issue req = {.area = area, .priority = Q_NORMAL, .kiosk = "K1"};
    const q_ticket *t;
    q_error err;

    ck_assert_msg(queue_issue(e, &req, at, &t, &err) == 0, "%s", err.message);
    return t;
}

static uint64_t waiting_at(queue *e, const char *area, int64_t at)
{
    uint64_t id = issue(e, area, at)->id;
    q_error err;

    ck_assert_msg(queue_printed(e, id, at, NULL, &err) == 0, "%s", err.message);
    return id;
}

static const q_lease *grant(queue *e, const char *kiosk, const char *area, int64_t at)
{
    const q_lease *l;
    q_error err;

    ck_assert_msg(queue_grant_lease(e, kiosk, area, at, &l, &err) == 0, "%s", err.message);
    return l;
}

/* ---- Daily sequence and rollover ----------------------------------------- */

START_TEST(daily_sequence_per_area)
{
    const q_ticket *t;

    ck_assert_str_eq(issue(q, "A", T0)->number, "A001");
    ck_assert_str_eq(issue(q, "A", T0 + MIN)->number, "A002");
    ck_assert_str_eq(issue(q, "B", T0 + MIN)->number, "B001");
    t = issue(q, NULL, T0 + 2 * MIN); /* the general area */
    ck_assert_str_eq(t->number, "A003");
    ck_assert_uint_eq(t->seq, 3);
    ck_assert_int_eq(t->day, 20260310);
    ck_assert_str_eq(t->area, "A");
    ck_assert_str_eq(issue(q, "B", T0 + 3 * MIN)->number, "B002");
}
END_TEST

START_TEST(rollover_at_three_in_shanghai)
{
    const q_ticket *t;
    int64_t before = qf_sh(2026, 3, 11, 2, 59, 59) + 999, at = qf_sh(2026, 3, 11, 3, 0, 0);

    issue(q, "A", T0);
    issue(q, "A", T0 + HOUR);
    /* 02:59:59.999 on the 11th still belongs to the 10th. */
    t = issue(q, "A", before);
    ck_assert_str_eq(t->number, "A003");
    ck_assert_int_eq(t->day, 20260310);
    t = issue(q, "A", at);
    ck_assert_str_eq(t->number, "A001");
    ck_assert_int_eq(t->day, 20260311);
    t = issue(q, "B", at);
    ck_assert_str_eq(t->number, "B001");
    ck_assert_str_eq(issue(q, "A", at + 1)->number, "A002");
    /* The timer: nothing to roll over before 03:00, then the 10th closes. */
    ck_assert_int_eq(queue_tick(q, before), 0);
    ck_assert_int_eq(queue_next_due(q), at);
    ck_assert_int_eq(queue_tick(q, at), 3); /* three RESERVED of the 10th */
    ck_assert_int_eq(queue_next_due(q), qf_sh(2026, 3, 12, 3, 0, 0));
}
END_TEST

START_TEST(carry_over_or_close)
{
    for (int carry = 0; carry < 2; carry++) {
        int64_t day2 = qf_sh(2026, 3, 11, 3, 0, 0), later = day2 + 6 * HOUR;
        q_policy p = policy();
        uint64_t w, h, ns, r, c, s;
        const q_ticket *t;
        size_t mark;
        queue *e;

        p.carry_over = carry;
        e = engine(&p);
        w = waiting_at(e, "C", T0); /* window 3 is closed: it waits */
        h = waiting_at(e, "A", T0 + MIN);
        ns = waiting_at(e, "A", T0 + 2 * MIN);
        r = issue(e, "A", T0 + 3 * MIN)->id;
        c = waiting_at(e, "B", T0 + 4 * MIN);
        s = waiting_at(e, "B", T0 + 5 * MIN);
        QF_OK(queue_call_next(e, 1, T0 + 10 * MIN, &t, NULL, &err_));
        ck_assert_uint_eq(t->id, h);
        QF_OK(queue_hold(e, 1, h, T0 + 10 * MIN, NULL, &err_));
        QF_OK(queue_call_next(e, 1, T0 + 11 * MIN, &t, NULL, &err_));
        ck_assert_uint_eq(t->id, ns);
        QF_OK(queue_no_show(e, 1, ns, T0 + 11 * MIN, NULL, &err_));
        QF_OK(queue_call_next(e, 1, T0 + 12 * MIN, &t, NULL, &err_));
        ck_assert_uint_eq(t->id, c);
        QF_OK(queue_start(e, 1, c, T0 + 12 * MIN, NULL, &err_));
        QF_OK(queue_call_next(e, 2, T0 + 13 * MIN, &t, NULL, &err_));
        ck_assert_uint_eq(t->id, s);

        /* 23:00: no rollover yet; 03:00 on the 11th ends the 10th. */
        ck_assert_int_eq(queue_tick(e, qf_sh(2026, 3, 10, 23, 0, 0)), 0);
        mark = log_.n;
        ck_assert_int_eq(queue_tick(e, day2), 4); /* w, h, ns, r */
        ck_assert_int_eq(count_events(&log_, mark, QE_CARRIED_OVER), carry ? 4 : 0);
        ck_assert_int_eq(count_events(&log_, mark, QE_CLOSED_AT_ROLLOVER), carry ? 0 : 4);
        for (size_t i = mark; i < log_.n; i++)
            if (log_.e[i].what == 'E' && log_.e[i].kind == QE_CLOSED_AT_ROLLOVER)
                ck_assert_str_eq(log_.e[i].detail, "day closed");
        ck_assert_int_eq(queue_ticket(e, w)->state, carry ? Q_WAITING : Q_CANCELLED);
        ck_assert_int_eq(queue_ticket(e, h)->state, carry ? Q_HOLD : Q_CANCELLED);
        ck_assert_int_eq(queue_ticket(e, ns)->state, carry ? Q_NO_SHOW : Q_CANCELLED);
        ck_assert_int_eq(queue_ticket(e, r)->state, carry ? Q_RESERVED : Q_CANCELLED);
        ck_assert_str_eq(queue_ticket(e, w)->number, "C001");
        ck_assert_int_eq(queue_ticket(e, w)->issued_ms, T0);
        ck_assert_int_eq(queue_ticket(e, w)->day, 20260310);
        ck_assert_uint_eq(queue_waiting(e, "C"), carry ? 1 : 0);
        /* Tickets at windows stay there until finished. */
        ck_assert_int_eq(queue_ticket(e, c)->state, Q_SERVING);
        ck_assert_int_eq(queue_ticket(e, s)->state, Q_CALLED);
        ck_assert_uint_eq(queue_window(e, 1)->current, c);
        ck_assert_uint_eq(queue_window(e, 2)->current, s);
        QF_OK(queue_finish(e, 1, c, later, NULL, &err_));
        /* The new day starts at 001 in every area. */
        ck_assert_str_eq(issue(e, "A", later)->number, "A001");
        t = issue(e, "C", later);
        ck_assert_str_eq(t->number, "C001");
        ck_assert_int_eq(t->day, 20260311);
        QF_OK(queue_printed(e, t->id, later, NULL, &err_));
        QF_OK(queue_sign_in(e, 3, "c3", later, &err_));
        QF_OK(queue_call_next(e, 3, later, &t, NULL, &err_));
        /* A carried ticket keeps its place before the new day's. */
        ck_assert_str_eq(t->number, "C001");
        ck_assert_int_eq(t->day, carry ? 20260310 : 20260311);
        if (carry) {
            QF_OK(queue_release(e, 1, h, later, NULL, &err_));
            QF_OK(queue_call_next(e, 1, later, &t, NULL, &err_));
            ck_assert_uint_eq(t->id, h);
            QF_OK(queue_rejoin(e, ns, later, &t, &err_));
            ck_assert_int_eq(t->state, Q_WAITING);
        } else {
            ck_assert_int_eq(queue_rejoin(e, ns, later, NULL, NULL), -1);
            ck_assert_int_eq(queue_release(e, 1, h, later, NULL, NULL), -1);
        }
        queue_free(e);
    }
}
END_TEST

/* ---- Leases ----------------------------------------------------------------- */

START_TEST(online_skips_lease_band)
{
    q_policy p = policy();
    const q_lease *l;
    q_error err;
    queue *e;

    p.lease_first = 5;
    p.lease_band = 10;
    p.lease_block = 5;
    e = engine(&p);
    for (int i = 1; i <= 4; i++)
        ck_assert_uint_eq(issue(e, "A", T0)->seq, (unsigned)i);
    ck_assert_str_eq(issue(e, "A", T0)->number, "A015");
    l = grant(e, "K1", "A", T0);
    ck_assert_uint_eq(l->first, 5);
    ck_assert_uint_eq(l->count, 5);
    ck_assert_str_eq(l->kiosk, "K1");
    ck_assert_int_eq(l->day, 20260310);
    ck_assert_str_eq(issue(e, "A", T0)->number, "A016");
    ck_assert_uint_eq(grant(e, "K1", "A", T0)->first, 10);
    ck_assert_int_eq(queue_grant_lease(e, "K2", "A", T0, &l, &err), -1);
    ck_assert_int_eq(err.code, QERR_LEASE_EXHAUSTED);
    ck_assert_ptr_null(l);
    /* Other areas and the next day have their own bands. */
    ck_assert_uint_eq(grant(e, "K2", "B", T0)->first, 5);
    ck_assert_uint_eq(grant(e, "K2", "A", T0 + 24 * HOUR)->first, 5);
    ck_assert_int_eq(queue_grant_lease(e, "", "A", T0, &l, &err), -1);
    ck_assert_int_eq(err.code, QERR_BAD_REQUEST);
    ck_assert_int_eq(queue_grant_lease(e, "K1", "Z", T0, &l, &err), -1);
    ck_assert_int_eq(err.code, QERR_NOT_FOUND);
    queue_free(e);
}
END_TEST

/* Numbers [first, first+count) of area a handed out so far. */
typedef struct range {
    char area[Q_CODE_MAX];
    uint32_t first, count;
} range;

static void check_disjoint(const range *r, size_t n, const q_policy *p)
{
    for (size_t i = 0; i < n; i++) {
        bool leased = r[i].count > 1;

        if (!leased)
            ck_assert_msg(r[i].first < p->lease_first ||
                              r[i].first >= p->lease_first + p->lease_band,
                          "online number %u in the band", r[i].first);
        else
            ck_assert_msg(r[i].first >= p->lease_first &&
                              r[i].first + r[i].count <= p->lease_first + p->lease_band,
                          "lease %u+%u outside the band", r[i].first, r[i].count);
        for (size_t j = 0; j < i; j++)
            if (strcmp(r[i].area, r[j].area) == 0)
                ck_assert_msg(r[i].first + r[i].count <= r[j].first ||
                                  r[j].first + r[j].count <= r[i].first,
                              "%s: %u+%u overlaps %u+%u", r[i].area, r[i].first, r[i].count,
                              r[j].first, r[j].count);
    }
}

START_TEST(leases_never_overlap)
{
    q_policy p = policy();
    range r[200];
    size_t n = 0;
    q_journal none = {0};
    q_error err;
    queue *b;
    int exhausted = 0;

    p.lease_first = 20;
    p.lease_band = 100;
    p.lease_block = 10;
    queue_free(q);
    q = engine(&p);
    /* Online issues and grants interleaved over two areas and kiosks. */
    for (int i = 0; i < 40; i++) {
        const char *area = i % 3 == 0 ? "B" : "A";

        if (i % 2 == 0) {
            const q_ticket *t = issue(q, area, T0 + i * MIN);

            r[n++] = (range){.first = t->seq, .count = 1};
            strcpy(r[n - 1].area, area);
        } else {
            const q_lease *l;

            if (queue_grant_lease(q, i % 4 == 1 ? "K1" : "K2", area, T0 + i * MIN, &l, &err) < 0) {
                ck_assert_int_eq(err.code, QERR_LEASE_EXHAUSTED);
                exhausted++;
                continue;
            }
            r[n++] = (range){.first = l->first, .count = l->count};
            strcpy(r[n - 1].area, l->area);
        }
    }
    check_disjoint(r, n, &p);
    ck_assert_int_gt(exhausted, 0); /* A ran out of its ten blocks */

    /* Restore from the journal into a fresh engine and go on. */
    b = queue_new(&p, zone, &none);
    ck_assert_ptr_nonnull(b);
    qf_add_area(b, "A", "area A", "A");
    qf_add_area(b, "B", "area B", "B");
    for (size_t i = 0; i < log_.n; i++) {
        if (log_.e[i].what == 'L')
            QF_OK(queue_restore_lease(b, &log_.e[i].l, &err_));
        if (log_.e[i].what == 'T')
            QF_OK(queue_restore_ticket(b, &log_.e[i].t, &err_));
    }
    for (int i = 0; i < 10; i++) {
        const q_ticket *t = issue(b, "B", T0 + HOUR);
        const q_lease *l;

        r[n++] = (range){.first = t->seq, .count = 1};
        strcpy(r[n - 1].area, "B");
        if (queue_grant_lease(b, "K3", "B", T0 + HOUR, &l, &err) == 0) {
            r[n++] = (range){.first = l->first, .count = l->count};
            strcpy(r[n - 1].area, "B");
        } else {
            ck_assert_int_eq(err.code, QERR_LEASE_EXHAUSTED);
        }
    }
    ck_assert_int_eq(queue_grant_lease(b, "K3", "A", T0 + HOUR, NULL, &err), -1);
    ck_assert_int_eq(err.code, QERR_LEASE_EXHAUSTED);
    check_disjoint(r, n, &p);
    queue_free(b);
}
END_TEST

/* ---- Offline tickets ------------------------------------------------------- */

static int upload(queue *e, const char *kiosk, const char *number, int64_t issued, int64_t now,
                  const q_ticket **out, q_error *err)
{
    q_offline o = {.kiosk = kiosk,
                   .area = "A",
                   .number = number,
                   .issued_ms = issued,
                   .priority = Q_NORMAL,
                   .matter = "M1",
                   .masked_name = "张*"};

    return queue_offline_join(e, &o, now, out, err);
}

static void expect_upload_refused(queue *e, const char *kiosk, const char *number, int64_t issued,
                                  int64_t now, q_errcode code)
{
    size_t mark = log_.n;
    const q_ticket *t;
    q_error err;

    ck_assert_msg(upload(e, kiosk, number, issued, now, &t, &err) == -1, "%s from %s accepted",
                  number != NULL ? number : "(null)", kiosk);
    ck_assert_msg(err.code == code, "%s from %s: %d %s", number != NULL ? number : "(null)", kiosk,
                  err.code, err.message);
    ck_assert_ptr_null(t);
    ck_assert_uint_eq(log_.n, mark);
}

START_TEST(offline_join_checks)
{
    const int64_t now = T0 + HOUR;
    const q_ticket *t;
    uint64_t online, id;
    q_offline o = {0};
    size_t mark;
    q_error err;

    ck_assert_uint_eq(grant(q, "K1", "A", T0)->first, 500);
    ck_assert_uint_eq(grant(q, "K2", "A", T0)->first, 550);
    online = waiting_at(q, "A", T0 + 20 * MIN);

    mark = log_.n;
    ck_assert_int_eq(upload(q, "K1", "A501", T0 + 10 * MIN, now, &t, &err), 0);
    id = t->id;
    ck_assert_int_gt(id, online);
    ck_assert_int_eq(t->state, Q_WAITING);
    ck_assert(t->offline);
    ck_assert_str_eq(t->number, "A501");
    ck_assert_uint_eq(t->seq, 501);
    ck_assert_int_eq(t->issued_ms, T0 + 10 * MIN);
    ck_assert_int_eq(t->day, 20260310);
    ck_assert_str_eq(t->kiosk, "K1");
    ck_assert_str_eq(t->masked_name, "张*");
    ck_assert_int_eq(count_events(&log_, mark, QE_OFFLINE_JOINED), 1);
    ck_assert_uint_eq(log_.n, mark + 2);

    /* A retry from the same kiosk finds it and changes nothing, even
     * written with more digits. */
    mark = log_.n;
    ck_assert_int_eq(upload(q, "K1", "A501", T0 + 10 * MIN, now + MIN, &t, &err), 0);
    ck_assert_uint_eq(t->id, id);
    ck_assert_int_eq(upload(q, "K1", "A0501", T0 + 10 * MIN, now + MIN, &t, &err), 0);
    ck_assert_uint_eq(t->id, id);
    ck_assert_uint_eq(log_.n, mark);

    /* Numbers of other kiosks, of nobody, of the online range. */
    expect_upload_refused(q, "K2", "A501", T0 + 10 * MIN, now, QERR_FORBIDDEN);
    expect_upload_refused(q, "K1", "A551", T0 + 10 * MIN, now, QERR_FORBIDDEN);
    expect_upload_refused(q, "K1", "A600", T0 + 10 * MIN, now, QERR_FORBIDDEN);
    expect_upload_refused(q, "K1", "A001", T0 + 10 * MIN, now, QERR_FORBIDDEN);
    ck_assert_int_eq(upload(q, "K2", "A501", T0 + 10 * MIN, now, &t, &err), -1);
    ck_assert_str_eq(err.message, "A501 is leased to kiosk K1, not K2");
    /* Not numbers of the area. */
    expect_upload_refused(q, "K1", "B502", T0, now, QERR_BAD_REQUEST);
    expect_upload_refused(q, "K1", "A5x2", T0, now, QERR_BAD_REQUEST);
    expect_upload_refused(q, "K1", "A", T0, now, QERR_BAD_REQUEST);
    expect_upload_refused(q, "K1", "", T0, now, QERR_BAD_REQUEST);
    expect_upload_refused(q, "K1", NULL, T0, now, QERR_BAD_REQUEST);
    expect_upload_refused(q, "K1", "A0000000000502", T0, now, QERR_BAD_REQUEST);
    expect_upload_refused(q, "K1", "A-502", T0, now, QERR_BAD_REQUEST);
    expect_upload_refused(q, "", "A502", T0, now, QERR_BAD_REQUEST);
    /* Times: ahead of halld's clock counts as now (a fast kiosk clock only
     * puts its own ticket later); before the lease was granted (T0, with a
     * minute's slack for the kiosk's clock) is backdating; two days back is
     * another day. */
    ck_assert_int_eq(upload(q, "K1", "A502", now + 5 * HOUR, now, &t, &err), 0);
    ck_assert_int_eq(t->issued_ms, now);
    ck_assert_int_eq(upload(q, "K1", "A503", T0 - 30 * 1000, now, &t, &err), 0);
    ck_assert_int_eq(t->issued_ms, T0 - 30 * 1000);
    uint64_t early = t->id;
    expect_upload_refused(q, "K1", "A506", T0 - 2 * MIN, now, QERR_BAD_REQUEST);
    expect_upload_refused(q, "K1", "A506", T0 - 5 * HOUR, now, QERR_BAD_REQUEST);
    expect_upload_refused(q, "K1", "A504", T0 - 48 * HOUR, now, QERR_BAD_REQUEST);
    /* Offline tickets carry no appointment slot. */
    o = (q_offline){
        .kiosk = "K1", .area = "A", .number = "A505", .issued_ms = T0, .priority = Q_APPOINTMENT};
    ck_assert_int_eq(queue_offline_join(q, &o, now, &t, &err), -1);
    ck_assert_int_eq(err.code, QERR_BAD_REQUEST);

    /* Sorted by the real issue time: before the online ticket of 09:20. */
    QF_OK(queue_call_next(q, 1, now, &t, NULL, &err_));
    ck_assert_uint_eq(t->id, early);
    QF_OK(queue_call_next(q, 2, now, &t, NULL, &err_));
    ck_assert_uint_eq(t->id, id);
}
END_TEST

START_TEST(offline_from_yesterday)
{
    for (int carry = 0; carry < 2; carry++) {
        int64_t day2 = qf_sh(2026, 3, 11, 8, 0, 0);
        q_policy p = policy();
        const q_ticket *t;
        size_t mark;
        q_error err;
        queue *e;

        p.carry_over = carry;
        e = engine(&p);
        ck_assert_uint_eq(grant(e, "K1", "A", T0)->first, 500);
        ck_assert_int_eq(queue_tick(e, T0), 0);
        ck_assert_int_eq(queue_tick(e, day2), 0); /* nothing open */
        /* Yesterday's lease still counts; the day is closed. */
        mark = log_.n;
        ck_assert_int_eq(upload(e, "K1", "A500", qf_sh(2026, 3, 10, 22, 0, 0), day2, &t, &err), 0);
        ck_assert_int_eq(t->day, 20260310);
        ck_assert_int_eq(t->state, carry ? Q_WAITING : Q_CANCELLED);
        ck_assert_int_eq(count_events(&log_, mark, QE_OFFLINE_JOINED), 1);
        ck_assert_int_eq(count_events(&log_, mark, QE_CLOSED_AT_ROLLOVER), carry ? 0 : 1);
        /* Its retry still finds it. */
        ck_assert_int_eq(upload(e, "K1", "A500", qf_sh(2026, 3, 10, 22, 0, 0), day2, &t, &err), 0);
        ck_assert_str_eq(t->number, "A500");
        /* Today's numbers of that range are not leased. */
        expect_upload_refused(e, "K1", "A501", day2 - MIN, day2, QERR_FORBIDDEN);
        queue_free(e);
    }
}
END_TEST

START_TEST(offline_after_restore)
{
    q_journal none = {0};
    q_policy p = policy();
    const q_ticket *t;
    uint64_t id;
    q_error err;
    queue *b;

    grant(q, "K1", "A", T0);
    ck_assert_int_eq(upload(q, "K1", "A510", T0 + MIN, T0 + 2 * MIN, &t, &err), 0);
    id = t->id;
    QF_OK(queue_call_next(q, 1, T0 + 3 * MIN, NULL, NULL, &err_));
    QF_OK(queue_transfer(q, 1, id, "B", 0, T0 + 3 * MIN, NULL, &err_));

    b = queue_new(&p, zone, &none);
    ck_assert_ptr_nonnull(b);
    qf_add_area(b, "A", "area A", "A");
    qf_add_area(b, "B", "area B", "B");
    add_window(b, 1);
    for (size_t i = 0; i < log_.n; i++) {
        if (log_.e[i].what == 'L')
            QF_OK(queue_restore_lease(b, &log_.e[i].l, &err_));
        if (log_.e[i].what == 'T' && log_.e[i].t.state == Q_WAITING &&
            strcmp(log_.e[i].t.area, "B") == 0)
            QF_OK(queue_restore_ticket(b, &log_.e[i].t, &err_));
    }
    /* The transferred offline ticket is found under its number. */
    ck_assert_int_eq(upload(b, "K1", "A510", T0 + MIN, T0 + 5 * MIN, &t, &err), 0);
    ck_assert_uint_eq(t->id, id);
    ck_assert_str_eq(t->area, "B");
    ck_assert_int_eq(upload(b, "K1", "A511", T0 + MIN, T0 + 5 * MIN, &t, &err), 0);
    ck_assert_uint_gt(t->id, id);
    ck_assert_uint_eq(queue_grant_lease(b, "K1", "A", T0 + 5 * MIN, NULL, &err), 0);
    ck_assert_uint_eq(grant(b, "K1", "A", T0 + 5 * MIN)->first, 600);
    queue_free(b);
}
END_TEST

/* ---- Ids, restore, width ---------------------------------------------------- */

START_TEST(ids_never_reused)
{
    uint64_t last = 0;

    for (int i = 0; i < 20; i++) {
        const q_ticket *t = issue(q, i % 2 ? "A" : "B", T0 + i * MIN);
        q_error err;

        ck_assert_uint_gt(t->id, last);
        last = t->id;
        if (i % 3 == 0)
            ck_assert_int_eq(queue_void(q, t->id, "jam", T0 + i * MIN, NULL, &err), 0);
    }
    queue_set_next_id(q, 100);
    ck_assert_uint_eq(issue(q, "A", T0 + HOUR)->id, 100);
    queue_set_next_id(q, 50);
    ck_assert_uint_eq(issue(q, "A", T0 + HOUR)->id, 101);
}
END_TEST

START_TEST(restore_moves_counters)
{
    q_ticket t = {0};
    q_lease l = {0};
    q_error err;

    t.id = 500;
    t.day = 20260310;
    t.seq = 41;
    strcpy(t.number, "A041");
    strcpy(t.area, "A");
    t.state = Q_DONE;
    t.issued_ms = t.state_ms = T0 - HOUR;
    ck_assert_int_eq(queue_restore_ticket(q, &t, &err), 0);
    ck_assert_int_eq(queue_restore_ticket(q, &t, &err), -1); /* twice */
    /* A ticket of an old day does not disturb today's counter. */
    t.id = 20;
    t.day = 20260301;
    t.seq = 300;
    ck_assert_int_eq(queue_restore_ticket(q, &t, &err), 0);
    ck_assert_str_eq(issue(q, "A", T0)->number, "A042");
    ck_assert_uint_eq(issue(q, "A", T0)->id, 502);
    ck_assert_str_eq(issue(q, "B", T0)->number, "B001");

    l.id = 7;
    strcpy(l.kiosk, "K9");
    strcpy(l.area, "B");
    l.day = 20260310;
    l.first = 600;
    l.count = 50;
    ck_assert_int_eq(queue_restore_lease(q, &l, &err), 0);
    ck_assert_uint_eq(grant(q, "K1", "B", T0)->first, 650);
    ck_assert_uint_eq(grant(q, "K1", "B", T0)->id, 9);
    l.count = 0;
    ck_assert_int_eq(queue_restore_lease(q, &l, &err), -1);
    ck_assert_int_eq(err.code, QERR_BAD_REQUEST);
    strcpy(l.area, "Z");
    l.count = 1;
    ck_assert_int_eq(queue_restore_lease(q, &l, &err), -1);
    ck_assert_int_eq(err.code, QERR_NOT_FOUND);
}
END_TEST

START_TEST(number_width)
{
    q_ticket t = {0};
    q_policy p = policy();
    q_error err;
    queue *e;

    t.id = 1;
    t.day = 20260310;
    t.seq = 499;
    strcpy(t.number, "A499");
    strcpy(t.area, "A");
    t.state = Q_DONE;
    t.issued_ms = t.state_ms = T0;
    p.lease_first = 2000;
    e = engine(&p);
    ck_assert_int_eq(queue_restore_ticket(e, &t, &err), 0);
    for (int i = 500; i < 999; i++)
        issue(e, "A", T0);
    ck_assert_str_eq(issue(e, "A", T0)->number, "A999");
    ck_assert_str_eq(issue(e, "A", T0)->number, "A1000");
    ck_assert_str_eq(issue(e, "A", T0)->number, "A1001");
    queue_free(e);

    p = policy();
    p.number_digits = 4;
    e = engine(&p);
    ck_assert_str_eq(issue(e, "A", T0)->number, "A0001");
    ck_assert_str_eq(grant(e, "K1", "B", T0)->kiosk, "K1");
    queue_free(e);

    p.number_digits = 1;
    e = engine(&p);
    for (int i = 1; i < 10; i++)
        issue(e, "B", T0);
    ck_assert_str_eq(issue(e, "B", T0)->number, "B10");
    queue_free(e);
}
END_TEST

/* New numbering settings wait for the next business day: today's numbers
 * were handed out with today's, and a lease band that moved under them
 * could give a kiosk numbers already printed online. */
START_TEST(numbering_changes_at_the_next_day)
{
    q_policy p = policy(), next;
    queue *e = engine(&p);
    int64_t day2 = qf_sh(2026, 3, 11, 3, 0, 0);

    ck_assert_str_eq(issue(e, "A", T0)->number, "A001");
    next = p;
    next.number_digits = 4;
    next.lease_first = 600;
    next.green_boost_ms = 5 * MIN; /* the rest applies at once */
    ck_assert_int_eq(queue_set_policy(e, &next), 0);
    ck_assert_int_eq(queue_policy(e)->green_boost_ms, 5 * MIN);
    ck_assert_uint_eq(queue_policy(e)->number_digits, 3);
    ck_assert_str_eq(issue(e, "A", T0 + MIN)->number, "A002");
    ck_assert_uint_eq(grant(e, "K1", "A", T0 + MIN)->first, p.lease_first);
    /* A bad policy changes nothing. */
    next.reserve_ms = 0;
    ck_assert_int_eq(queue_set_policy(e, &next), -1);
    ck_assert_int_eq(queue_policy(e)->green_boost_ms, 5 * MIN);
    ck_assert_int_eq(queue_tick(e, day2), 2);
    ck_assert_uint_eq(queue_policy(e)->number_digits, 4);
    ck_assert_int_eq(queue_day(e), 20260311);
    ck_assert_str_eq(issue(e, "A", day2 + HOUR)->number, "A0001");
    ck_assert_uint_eq(grant(e, "K1", "A", day2 + HOUR)->first, 600);
    queue_free(e);
}
END_TEST

START_TEST(catalog_checks)
{
    q_policy p = policy();
    q_area a = {0};
    q_window w = {.no = 5, .type = QW_HELP, .nareas = 1, .weights = {1}};
    q_error err;

    for (int i = 0; i < 6; i++) {
        static const struct {
            int field;
            int value;
        } bad[] = {{0, 0}, {0, 10}, {1, 24}, {1, -1}, {2, 0}, {3, 0}};

        p = policy();
        if (bad[i].field == 0)
            p.number_digits = (uint32_t)bad[i].value;
        else if (bad[i].field == 1)
            p.rollover_hour = bad[i].value;
        else if (bad[i].field == 2)
            p.lease_block = 0;
        else
            p.reserve_ms = 0;
        errno = 0;
        ck_assert_ptr_null(queue_new(&p, zone, NULL));
        ck_assert_int_eq(errno, EINVAL);
    }
    strcpy(a.code, "D");
    strcpy(a.name, "area D");
    for (int i = 0; i < 5; i++) {
        static const char *const prefixes[] = {"", "D1", "DEFGHI", "A", "中"};

        snprintf(a.prefix, sizeof a.prefix, "%s", prefixes[i]);
        ck_assert_int_eq(queue_add_area(q, &a, &err), -1);
        ck_assert_int_eq(err.code, QERR_BAD_REQUEST);
    }
    strcpy(a.prefix, "DD");
    QF_OK(queue_add_area(q, &a, &err_));
    ck_assert_str_eq(issue(q, "D", T0)->number, "DD001");
    /* Reloading keeps the area's numbering. */
    strcpy(a.name, "renamed");
    QF_OK(queue_add_area(q, &a, &err_));
    ck_assert_str_eq(queue_area(q, "D")->name, "renamed");
    ck_assert_str_eq(issue(q, "D", T0)->number, "DD002");
    ck_assert_str_eq(queue_area_at(q, 3)->code, "D");
    ck_assert_ptr_null(queue_area_at(q, 4));

    strcpy(w.name, "help desk");
    strcpy(w.areas[0], "Z");
    ck_assert_int_eq(queue_add_window(q, &w, &err), -1);
    ck_assert_int_eq(err.code, QERR_NOT_FOUND);
    strcpy(w.areas[0], "D");
    w.weights[0] = 0;
    ck_assert_int_eq(queue_add_window(q, &w, &err), -1);
    ck_assert_int_eq(err.code, QERR_BAD_REQUEST);
    w.weights[0] = 1;
    w.state = QW_OPEN; /* open needs a clerk */
    ck_assert_int_eq(queue_add_window(q, &w, &err), -1);
    ck_assert_int_eq(err.code, QERR_BAD_REQUEST);
    w.state = QW_CLOSED;
    w.current = 77; /* linked by restore, not taken from here */
    QF_OK(queue_add_window(q, &w, &err_));
    ck_assert_uint_eq(queue_window(q, 5)->current, 0);
    ck_assert_int_eq(queue_window(q, 5)->type, QW_HELP);
    ck_assert_uint_eq(queue_window_at(q, 3)->no, 5);
    ck_assert_ptr_null(queue_window_at(q, 4));
}
END_TEST

static Suite *numbering_suite(void)
{
    Suite *s = suite_create("numbering");
    TCase *tc = tcase_create("days");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, daily_sequence_per_area);
    tcase_add_test(tc, rollover_at_three_in_shanghai);
    tcase_add_test(tc, carry_over_or_close);
    tcase_add_test(tc, numbering_changes_at_the_next_day);
    suite_add_tcase(s, tc);

    tc = tcase_create("leases");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, online_skips_lease_band);
    tcase_add_test(tc, leases_never_overlap);
    tcase_add_test(tc, offline_join_checks);
    tcase_add_test(tc, offline_from_yesterday);
    tcase_add_test(tc, offline_after_restore);
    suite_add_tcase(s, tc);

    tc = tcase_create("ids");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, ids_never_reused);
    tcase_add_test(tc, restore_moves_counters);
    tcase_add_test(tc, number_width);
    tcase_add_test(tc, catalog_checks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(numbering_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
