/*
 * stats_from_events: a scripted hall day played on the queue engine, its
 * journal written to a real store, and the report of stats.h compared,
 * figure by figure, with figures the test computes from the script alone
 * (its own times, areas, windows and clerks): per hour, area, matter,
 * window and clerk, and the day's total and wait histogram. Also: the
 * structured columns of the events are covered by the hash chain, and an
 * edit of one of them is found; a hall whose events were written before
 * those columns existed is migrated: its old rows still verify, and their
 * columns are filled from its tickets and events.
 */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queuefix.h"
#include "stats.h"
#include "store.h"
#include "testsupport.h"

#define HALL "test-hall"
#define DAY  20261207 /* a Monday */

static char *dir;
static char db[PATH_MAX];
static clk_zone *zone;

static void setup(void)
{
    dir = ts_tmpdir("stats");
    snprintf(db, sizeof db, "%s/hall.db", dir);
    zone = qf_shanghai();
}

static void teardown(void)
{
    clk_zone_free(zone);
    ts_rmtree(dir);
    free(dir);
}

/* ---- The engine's journal, written to the store ----------------------------- */

static void j_ticket(void *ctx, const q_ticket *t)
{
    ck_assert_msg(store_put_ticket(ctx, t) == 0, "%s", store_errmsg(ctx));
}

static void j_window(void *ctx, const q_window *w)
{
    ck_assert_msg(store_put_window(ctx, w) == 0, "%s", store_errmsg(ctx));
}

static void j_lease(void *ctx, const q_lease *l)
{
    ck_assert_msg(store_put_lease(ctx, l) == 0, "%s", store_errmsg(ctx));
}

static void j_event(void *ctx, const q_event *e)
{
    ck_assert_msg(store_append_event(ctx, e, "test") == 0, "%s", store_errmsg(ctx));
}

/* ---- The script --------------------------------------------------------------- */

/* One step at hh:mm:ss of DAY: I issue (ticket, area, matter; P an
 * appointment at slot hh:mm), L a lease, O an offline upload issued at
 * the slot time, C a call at a window (the ticket the engine must call),
 * S start, F finish, R rate (level), N no-show, T transfer to area, X the
 * hall cancels. */
struct step {
    int h, m, s;
    char op;
    int t; /* the script's ticket 1..9 */
    const char *area, *matter;
    int window, level;
    int slot_h, slot_m;
};

static const struct step script[] = {
    {.h = 9, .m = 0, .s = 0, .op = 'I', .t = 1, .area = "A", .matter = "m1"},
    {.h = 9, .m = 2, .s = 0, .op = 'I', .t = 2, .area = "A", .matter = "m2"},
    {.h = 9, .m = 5, .s = 0, .op = 'I', .t = 3, .area = "A", .matter = "m1"},
    {.h = 9, .m = 6, .s = 0, .op = 'I', .t = 4, .area = "B", .matter = "m3"},
    {.h = 9, .m = 10, .s = 0, .op = 'C', .t = 1, .window = 1},
    {.h = 9, .m = 11, .s = 0, .op = 'S', .t = 1, .window = 1},
    {.h = 9, .m = 12, .s = 0, .op = 'C', .t = 2, .window = 2},
    {.h = 9, .m = 13, .s = 0, .op = 'S', .t = 2, .window = 2},
    {.h = 9, .m = 15, .s = 0, .op = 'C', .t = 4, .window = 3},
    {.h = 9, .m = 16, .s = 0, .op = 'S', .t = 4, .window = 3},
    {.h = 9, .m = 20, .s = 0, .op = 'F', .t = 1, .window = 1},
    {.h = 9, .m = 21, .s = 0, .op = 'R', .t = 1, .window = 1, .level = 5},
    {.h = 9, .m = 25, .s = 0, .op = 'F', .t = 2, .window = 2},
    {.h = 9, .m = 25, .s = 30, .op = 'R', .t = 2, .window = 2, .level = 2},
    {.h = 9, .m = 30, .s = 0, .op = 'C', .t = 3, .window = 1},
    {.h = 9, .m = 31, .s = 0, .op = 'N', .t = 3, .window = 1},
    {.h = 9, .m = 40, .s = 0, .op = 'F', .t = 4, .window = 3},
    {.h = 9, .m = 41, .s = 0, .op = 'R', .t = 4, .window = 3, .level = 4},
    {.h = 9, .m = 45, .s = 0, .op = 'L', .t = 0, .area = "A"},
    {.h = 10,
     .m = 0,
     .s = 0,
     .op = 'O',
     .t = 5,
     .area = "A",
     .matter = "m2",
     .slot_h = 9,
     .slot_m = 50},
    {.h = 10, .m = 1, .s = 0, .op = 'I', .t = 6, .area = "A", .matter = "m1"},
    {.h = 10,
     .m = 2,
     .s = 0,
     .op = 'P',
     .t = 7,
     .area = "B",
     .matter = "m3",
     .slot_h = 10,
     .slot_m = 30},
    {.h = 10, .m = 3, .s = 0, .op = 'I', .t = 8, .area = "A", .matter = "m2"},
    {.h = 10, .m = 5, .s = 0, .op = 'X', .t = 8},
    {.h = 10, .m = 10, .s = 0, .op = 'C', .t = 5, .window = 1},
    {.h = 10, .m = 11, .s = 0, .op = 'S', .t = 5, .window = 1},
    {.h = 10, .m = 12, .s = 0, .op = 'C', .t = 6, .window = 2},
    {.h = 10, .m = 13, .s = 0, .op = 'S', .t = 6, .window = 2},
    {.h = 10, .m = 14, .s = 0, .op = 'T', .t = 6, .area = "B", .window = 2},
    {.h = 10, .m = 20, .s = 0, .op = 'F', .t = 5, .window = 1},
    {.h = 10, .m = 21, .s = 0, .op = 'R', .t = 5, .window = 1, .level = 3},
    {.h = 10, .m = 25, .s = 0, .op = 'C', .t = 6, .window = 3},
    {.h = 10, .m = 26, .s = 0, .op = 'S', .t = 6, .window = 3},
    {.h = 10, .m = 36, .s = 0, .op = 'F', .t = 6, .window = 3},
    {.h = 10, .m = 37, .s = 0, .op = 'R', .t = 6, .window = 3, .level = 1},
    {.h = 10, .m = 40, .s = 0, .op = 'C', .t = 7, .window = 3},
    {.h = 10, .m = 41, .s = 0, .op = 'S', .t = 7, .window = 3},
    {.h = 10, .m = 50, .s = 0, .op = 'F', .t = 7, .window = 3},
    {.h = 11, .m = 0, .s = 0, .op = 'I', .t = 9, .area = "A", .matter = "m1"},
    {.h = 11, .m = 5, .s = 0, .op = 'C', .t = 9, .window = 1},
    {.h = 11, .m = 6, .s = 0, .op = 'S', .t = 9, .window = 1},
    {.h = 11, .m = 30, .s = 0, .op = 'F', .t = 9, .window = 1},
    {.h = 11, .m = 31, .s = 0, .op = 'R', .t = 9, .window = 1, .level = 5},
};

static const char *const clerk_of[] = {"", "c1", "c2", "c3"};

/* ---- The figures, from the script alone ------------------------------------- */

struct want {
    char key[STATS_KEY_MAX];
    unsigned issued, served, no_show, transferred, cancelled, offline, appointments;
    unsigned nwait, nservice;
    uint32_t wait[32], service[32];
    unsigned ratings[5];
};

struct wants {
    struct want w[32];
    int n;
};

static struct want *want_of(struct wants *ws, const char *key)
{
    for (int i = 0; i < ws->n; i++)
        if (strcmp(ws->w[i].key, key) == 0)
            return &ws->w[i];
    ck_assert_int_lt(ws->n, 32);
    struct want *w = &ws->w[ws->n++];
    memset(w, 0, sizeof *w);
    snprintf(w->key, sizeof w->key, "%s", key);
    return w;
}

/* What the script says happened, one fact at a time, each with the keys
 * it counts under. */
struct fact {
    char what; /* i issued, o offline, a appointment, w wait, s service, n, t, x, r */
    int hour;
    const char *area, *matter;
    int window;
    uint32_t value; /* seconds, or a rating level */
};

static struct fact facts[128];
static int nfacts;

static void fact(char what, const struct step *st, const char *area, const char *matter, int window,
                 uint32_t value)
{
    ck_assert_int_lt(nfacts, 128);
    facts[nfacts++] = (struct fact){what, st->h, area, matter, window, value};
}

static void add_fact(struct want *w, const struct fact *f)
{
    switch (f->what) {
    case 'i':
        w->issued++;
        break;
    case 'o':
        w->issued++;
        w->offline++;
        break;
    case 'a':
        w->issued++;
        w->appointments++;
        break;
    case 'w':
        w->wait[w->nwait++] = f->value;
        break;
    case 's':
        w->served++;
        w->service[w->nservice++] = f->value;
        break;
    case 'n':
        w->no_show++;
        break;
    case 't':
        w->transferred++;
        break;
    case 'x':
        w->cancelled++;
        break;
    case 'r':
        w->ratings[f->value - 1]++;
        break;
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The p-th percentile as docs/statistics.md defines it: sorted, the
 * value at rank ceil(p/100 * n). */
static uint32_t pct(uint32_t *v, unsigned n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_u32);
    unsigned rank = (unsigned)ceil(p / 100.0 * n);
    return v[rank ? rank - 1 : 0];
}

static void check_row(const stats_row *got, struct want *w)
{
    const char *k = w->key;

    ck_assert_msg(got->issued == w->issued, "%s issued %llu, want %u", k,
                  (unsigned long long)got->issued, w->issued);
    ck_assert_msg(got->served == w->served, "%s served", k);
    ck_assert_msg(got->no_show == w->no_show, "%s no_show", k);
    ck_assert_msg(got->transferred == w->transferred, "%s transferred", k);
    ck_assert_msg(got->cancelled == w->cancelled, "%s cancelled", k);
    ck_assert_msg(got->offline == w->offline, "%s offline", k);
    ck_assert_msg(got->appointments == w->appointments, "%s appointments", k);
    ck_assert_msg(got->waits == w->nwait, "%s waits", k);
    ck_assert_msg(got->services == w->nservice, "%s services", k);
    ck_assert_msg(got->wait_p50_s == pct(w->wait, w->nwait, 50), "%s wait p50 %u", k,
                  got->wait_p50_s);
    ck_assert_msg(got->wait_p90_s == pct(w->wait, w->nwait, 90), "%s wait p90", k);
    ck_assert_msg(got->wait_max_s == (w->nwait ? w->wait[w->nwait - 1] : 0), "%s wait max", k);
    ck_assert_msg(got->service_p50_s == pct(w->service, w->nservice, 50), "%s service p50", k);
    ck_assert_msg(got->service_p90_s == pct(w->service, w->nservice, 90), "%s service p90", k);
    ck_assert_msg(got->service_max_s == (w->nservice ? w->service[w->nservice - 1] : 0),
                  "%s service max", k);
    unsigned rated = 0, good = 0;
    for (int i = 0; i < 5; i++) {
        ck_assert_msg(got->ratings[i] == w->ratings[i], "%s ratings[%d]", k, i);
        rated += w->ratings[i];
        good += i >= 2 ? w->ratings[i] : 0;
    }
    ck_assert_msg(got->rated == rated, "%s rated", k);
    if (rated == 0)
        ck_assert_msg(got->satisfaction < 0, "%s satisfaction without ratings", k);
    else
        ck_assert_msg(fabs(got->satisfaction - (double)good / rated) < 1e-12, "%s satisfaction", k);
}

/* Compare a report with the script's figures grouped by keyf. */
static void compare(const stats_report *r, void (*keyf)(const struct fact *, char *, size_t),
                    bool all_hours)
{
    struct wants ws = {.n = 0};
    char key[STATS_KEY_MAX];

    if (all_hours)
        for (int h = 0; h < 24; h++) {
            snprintf(key, sizeof key, "%02d", h);
            want_of(&ws, key);
        }
    for (int i = 0; i < nfacts; i++) {
        keyf(&facts[i], key, sizeof key);
        if (*key != '\0')
            add_fact(want_of(&ws, key), &facts[i]);
    }
    ck_assert_uint_eq(r->nrows, (unsigned)ws.n);
    for (int i = 0; i < ws.n; i++) {
        const stats_row *got = NULL;
        for (size_t j = 0; j < r->nrows; j++)
            if (strcmp(r->rows[j].key, ws.w[i].key) == 0)
                got = &r->rows[j];
        ck_assert_msg(got != NULL, "no row %s", ws.w[i].key);
        check_row(got, &ws.w[i]);
    }
}

static void by_hour(const struct fact *f, char *k, size_t n)
{
    snprintf(k, n, "%02d", f->hour);
}

static void by_area(const struct fact *f, char *k, size_t n)
{
    snprintf(k, n, "%s", f->area);
}

static void by_matter(const struct fact *f, char *k, size_t n)
{
    snprintf(k, n, "%s", f->matter);
}

static void by_window(const struct fact *f, char *k, size_t n)
{
    if (f->window)
        snprintf(k, n, "%d", f->window);
    else
        *k = '\0';
}

static void by_clerk(const struct fact *f, char *k, size_t n)
{
    snprintf(k, n, "%s", clerk_of[f->window]);
}

static void by_nothing(const struct fact *f, char *k, size_t n)
{
    (void)f;
    snprintf(k, n, "2026-12-07");
}

/* ---- Playing the script -------------------------------------------------------- */

static void setup_hall(store *s, queue *q)
{
    q_area areas[] = {
        {.code = "A", .name = "综合受理", .prefix = "A", .general = true},
        {.code = "B", .name = "不动产登记", .prefix = "B"},
    };
    store_matter matters[] = {
        {.code = "m1", .name = "社保卡申领", .area = "A", .in_one_window = true},
        {.code = "m2", .name = "公积金提取", .area = "A", .in_one_window = true},
        {.code = "m3", .name = "不动产登记", .area = "B"},
    };
    q_error err;

    ck_assert_msg(store_replace_catalog(s, areas, 2, matters, 3, DAY) == 0, "%s", store_errmsg(s));
    for (int i = 0; i < 2; i++)
        ck_assert_msg(queue_add_area(q, &areas[i], &err) == 0, "%s", err.message);
    for (uint32_t no = 1; no <= 3; no++) {
        q_window w = qf_window(no, no < 3 ? "A:1" : "B:1");
        store_clerk c = {.active = true};
        snprintf(c.id, sizeof c.id, "%s", clerk_of[no]);
        snprintf(c.name, sizeof c.name, "clerk %u", no);
        ck_assert_msg(store_save_window(s, &w) == 0, "%s", store_errmsg(s));
        ck_assert_msg(store_save_clerk(s, &c) == 0, "%s", store_errmsg(s));
        ck_assert_msg(queue_add_window(q, &w, &err) == 0, "%s", err.message);
        ck_assert_msg(queue_sign_in(q, no, c.id, qf_sh(2026, 12, 7, 8, 55, 0), &err) == 0, "%s",
                      err.message);
    }
}

static void play(store *s, queue *q)
{
    uint64_t id[10] = {0};
    int64_t issued[10] = {0}, started[10] = {0};
    const char *area[10] = {0}, *matter[10] = {0};
    bool called[10] = {false};
    const q_ticket *t;
    const q_lease *l = NULL;
    char why[Q_REASON_MAX];
    q_error err;

    nfacts = 0;
    for (size_t i = 0; i < sizeof script / sizeof script[0]; i++) {
        const struct step *st = &script[i];
        int64_t now = qf_sh(2026, 12, 7, st->h, st->m, st->s);
        int k = st->t;
        int rc = 0;

        switch (st->op) {
        case 'I':
        case 'P': {
            q_issue req = {.area = st->area, .matter = st->matter, .kiosk = "kiosk-1"};
            if (st->op == 'P') {
                req.priority = Q_APPOINTMENT;
                req.appointment_ms = qf_sh(2026, 12, 7, st->slot_h, st->slot_m, 0);
            }
            rc = queue_issue(q, &req, now, &t, &err);
            if (rc == 0) {
                id[k] = t->id;
                rc = queue_printed(q, id[k], now, &t, &err);
            }
            issued[k] = now;
            area[k] = st->area;
            matter[k] = st->matter;
            fact(st->op == 'P' ? 'a' : 'i', st, area[k], matter[k], 0, 0);
            break;
        }
        case 'L':
            rc = queue_grant_lease(q, "kiosk-1", st->area, now, &l, &err);
            break;
        case 'O': {
            char number[Q_NUMBER_MAX];
            snprintf(number, sizeof number, "%s%03u", st->area, l->first);
            q_offline off = {.kiosk = "kiosk-1",
                             .area = st->area,
                             .number = number,
                             .issued_ms = qf_sh(2026, 12, 7, st->slot_h, st->slot_m, 0),
                             .matter = st->matter};
            rc = queue_offline_join(q, &off, now, &t, &err);
            if (rc == 0)
                id[k] = t->id;
            issued[k] = off.issued_ms;
            area[k] = st->area;
            matter[k] = st->matter;
            fact('o', st, area[k], matter[k], 0, 0);
            break;
        }
        case 'C':
            rc = queue_call_next(q, (uint32_t)st->window, now, &t, why, &err);
            if (rc == 0)
                ck_assert_msg(t->id == id[k], "step %zu called ticket %llu, want %llu", i,
                              (unsigned long long)t->id, (unsigned long long)id[k]);
            if (!called[k])
                fact('w', st, area[k], matter[k], st->window, (uint32_t)((now - issued[k]) / 1000));
            called[k] = true;
            break;
        case 'S':
            rc = queue_start(q, (uint32_t)st->window, id[k], now, &t, &err);
            started[k] = now;
            break;
        case 'F':
            rc = queue_finish(q, (uint32_t)st->window, id[k], now, &t, &err);
            fact('s', st, area[k], matter[k], st->window, (uint32_t)((now - started[k]) / 1000));
            break;
        case 'R':
            rc = queue_rate(q, (uint32_t)st->window, id[k], st->level, now, &t, &err);
            fact('r', st, area[k], matter[k], st->window, (uint32_t)st->level);
            break;
        case 'N':
            rc = queue_no_show(q, (uint32_t)st->window, id[k], now, &t, &err);
            fact('n', st, area[k], matter[k], st->window, 0);
            break;
        case 'T':
            rc = queue_transfer(q, (uint32_t)st->window, id[k], st->area, 0, now, &t, &err);
            fact('t', st, area[k], matter[k], st->window, 0);
            area[k] = st->area;
            break;
        case 'X':
            rc = queue_cancel(q, 0, id[k], "citizen left", now, &t, &err);
            fact('x', st, area[k], matter[k], 0, 0);
            break;
        }
        ck_assert_msg(rc == 0, "step %zu (%c): %s", i, st->op, err.message);
    }
    (void)s;
}

static stats_report *report(store *rd, stats_by by)
{
    char err[256];
    stats_report *r = stats_report_run(rd, zone, DAY, DAY, by, err, sizeof err);

    ck_assert_msg(r != NULL, "%s", err);
    return r;
}

START_TEST(test_scripted_day)
{
    char err[256];
    store *s = store_open(db, HALL, STORE_DAEMON, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    q_policy pol = qf_policy(0, 60000);
    q_journal j = {j_ticket, j_window, j_lease, j_event, s};
    queue *q = queue_new(&pol, zone, &j);
    ck_assert_ptr_nonnull(q);
    setup_hall(s, q);
    play(s, q);

    store *rd = store_open(db, HALL, STORE_READER, err, sizeof err);
    ck_assert_msg(rd != NULL, "%s", err);

    stats_report *r = report(rd, STATS_BY_HOUR);
    ck_assert_uint_eq(r->nrows, 24);
    compare(r, by_hour, true);
    /* The total is the whole script; the histogram counts its waits. */
    struct wants all = {.n = 0};
    for (int i = 0; i < nfacts; i++)
        add_fact(want_of(&all, "total"), &facts[i]);
    check_row(&r->total, &all.w[0]);
    uint64_t hist[STATS_HIST_BUCKETS] = {0}, sum = 0;
    for (unsigned i = 0; i < all.w[0].nwait; i++) {
        unsigned b = all.w[0].wait[i] / 300;
        hist[b < STATS_HIST_BUCKETS - 1 ? b : STATS_HIST_BUCKETS - 1]++;
    }
    for (int i = 0; i < STATS_HIST_BUCKETS; i++) {
        ck_assert_msg(r->hist[i] == hist[i], "histogram bucket %d", i);
        sum += r->hist[i];
    }
    ck_assert_uint_eq(sum, 8); /* every ticket called: all but the cancelled one */
    stats_report_free(r);

    r = report(rd, STATS_BY_AREA);
    compare(r, by_area, false);
    ck_assert_str_eq(r->rows[0].name, "综合受理");
    stats_report_free(r);
    r = report(rd, STATS_BY_MATTER);
    compare(r, by_matter, false);
    ck_assert_str_eq(r->rows[2].name, "不动产登记");
    stats_report_free(r);
    r = report(rd, STATS_BY_WINDOW);
    compare(r, by_window, false);
    ck_assert_str_eq(r->rows[0].key, "1");
    ck_assert_str_eq(r->rows[0].name, "window 1");
    stats_report_free(r);
    r = report(rd, STATS_BY_CLERK);
    compare(r, by_clerk, false);
    ck_assert_str_eq(r->rows[1].name, "clerk 2");
    stats_report_free(r);
    r = report(rd, STATS_BY_DAY);
    compare(r, by_nothing, false);
    stats_report_free(r);
    r = report(rd, STATS_BY_WEEK);
    ck_assert_uint_eq(r->nrows, 1);
    ck_assert_str_eq(r->rows[0].key, "2026-W50");
    stats_report_free(r);
    r = report(rd, STATS_BY_MONTH);
    ck_assert_str_eq(r->rows[0].key, "2026-12");
    stats_report_free(r);
    /* A day before: nothing, every hour zero. */
    r = stats_report_run(rd, zone, DAY - 1, DAY - 1, STATS_BY_HOUR, err, sizeof err);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->total.issued, 0);
    ck_assert(r->total.satisfaction < 0);
    stats_report_free(r);

    /* The profile: Monday's arrivals per hour and area, the mean service. */
    profile p;
    ck_assert_msg(stats_load_profile(rd, zone, DAY, DAY, &p, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(p.weeks, 1);
    ck_assert_int_eq(p.nareas, 2);
    ck_assert_str_eq(p.area[0], "A");
    ck_assert(p.arrivals[0][1][9] == 3 && p.arrivals[0][1][10] == 3 && p.arrivals[0][1][11] == 1);
    ck_assert(p.arrivals[1][1][9] == 1 && p.arrivals[1][1][10] == 1);
    ck_assert(fabs(p.service_s[1] - (1440 + 600 + 540) / 3.0) < 1e-9);
    /* Windows 1 and 2 (area A) open from 08:55 to the last event (11:31). */
    ck_assert(fabs(p.open_windows[0][1][8] - 2 * 5 / 60.0) < 1e-9);
    ck_assert(fabs(p.open_windows[0][1][10] - 2) < 1e-9);
    ck_assert(fabs(p.open_windows[1][1][9] - 1) < 1e-9);
    store_close(rd);
    queue_free(q);
    store_close(s);
}
END_TEST

/* The structured columns are in the hash: an edit of any is found. */
START_TEST(test_columns_hashed)
{
    char err[256];
    store *s = store_open(db, HALL, STORE_DAEMON, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    q_event e = {.kind = QE_FINISHED,
                 .at_ms = 1765069200000,
                 .day = DAY,
                 .ticket_id = 7,
                 .window_no = 2,
                 .clerk = "c2",
                 .detail = "served 9m",
                 .area = "A",
                 .matter = "m1",
                 .duration_ms = 540000,
                 .reason = ""};
    ck_assert_int_eq(store_append_event(s, &e, "test"), 0);
    e.kind = QE_RATED;
    e.rating = 4;
    e.duration_ms = 0;
    ck_assert_int_eq(store_append_event(s, &e, "test"), 0);
    e.rating = 9;
    ck_assert_int_eq(store_append_event(s, &e, "test"), -1); /* no such level */
    uint64_t n;
    ck_assert_int_eq(store_verify_events(s, &n), 0);
    ck_assert_uint_eq(n, 2);
    store_close(s);

    static const char *const edits[] = {
        "UPDATE events SET area = 'B' WHERE seq = 1",
        "UPDATE events SET matter = 'm2' WHERE seq = 1",
        "UPDATE events SET duration_ms = 1000 WHERE seq = 1",
        "UPDATE events SET rating = 5 WHERE seq = 2",
        "UPDATE events SET reason = 'x' WHERE seq = 2",
        "UPDATE events SET chain = 0 WHERE seq = 2",
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        /* Each edit on a copy of the file. */
        sqlite3 *raw;
        char *msg = NULL, sql[300];
        char copy[PATH_MAX + 16];
        snprintf(copy, sizeof copy, "%s/edit%zu.db", dir, i);
        ck_assert_int_eq(ts_system("cp '%s' '%s'", db, copy), 0);
        ck_assert_int_eq(sqlite3_open(copy, &raw), SQLITE_OK);
        snprintf(sql, sizeof sql, "DROP TRIGGER events_no_update; %s;", edits[i]);
        ck_assert_msg(sqlite3_exec(raw, sql, NULL, NULL, &msg) == SQLITE_OK, "%s", msg);
        sqlite3_close(raw);
        store *c = store_open(copy, HALL, STORE_ADMIN, err, sizeof err);
        ck_assert_msg(c != NULL, "%s", err);
        ck_assert_msg(store_verify_events(c, &n) == -1, "%s not found", edits[i]);
        ck_assert_msg(strstr(store_errmsg(c), "(the row was edited)") != NULL, "%s",
                      store_errmsg(c));
        store_close(c);
    }
}
END_TEST

/* ---- A hall of the release before the structured columns --------------------- */

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* An old row (chain 0), hashed as that release hashed it (store.h). */
static void old_event(sqlite3 *raw, uint8_t prev[32], uint64_t seq, int64_t at, int kind,
                      uint64_t ticket, uint32_t window, const char *clerk, const char *detail)
{
    uint8_t fixed[36], len[4], hash[32];
    unsigned int n = 32;
    const char *strs[3] = {clerk, detail, "win"};
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    put_be(fixed, seq, 8);
    put_be(fixed + 8, (uint64_t)at, 8);
    put_be(fixed + 16, DAY, 4);
    put_be(fixed + 20, (uint64_t)kind, 4);
    put_be(fixed + 24, ticket, 8);
    put_be(fixed + 32, window, 4);
    ck_assert(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1);
    EVP_DigestUpdate(md, prev, 32);
    EVP_DigestUpdate(md, fixed, sizeof fixed);
    for (int i = 0; i < 3; i++) {
        put_be(len, strlen(strs[i]), 4);
        EVP_DigestUpdate(md, len, sizeof len);
        EVP_DigestUpdate(md, strs[i], strlen(strs[i]));
    }
    ck_assert(EVP_DigestFinal_ex(md, hash, &n) == 1);
    EVP_MD_CTX_free(md);
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(raw,
                                        "INSERT INTO events(seq, at_ms, day, kind, ticket_id, "
                                        "window_no, clerk, detail, device, prev_hash, hash) "
                                        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'win', ?9, ?10)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    sqlite3_bind_int64(st, 2, at);
    sqlite3_bind_int(st, 3, DAY);
    sqlite3_bind_int(st, 4, kind);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)ticket);
    sqlite3_bind_int(st, 6, (int)window);
    sqlite3_bind_text(st, 7, clerk, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, detail, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 9, prev, 32, SQLITE_STATIC);
    sqlite3_bind_blob(st, 10, hash, 32, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    memcpy(prev, hash, 32);
}

struct seen {
    store_event_row e[16];
    char area[16][Q_CODE_MAX], matter[16][Q_CODE_MAX], reason[16][Q_EVENT_REASON_MAX];
    int n;
};

static int keep_row(void *arg, const store_event_row *e)
{
    struct seen *s = arg;

    ck_assert_int_lt(s->n, 16);
    s->e[s->n] = *e;
    snprintf(s->area[s->n], Q_CODE_MAX, "%s", e->area);
    snprintf(s->matter[s->n], Q_CODE_MAX, "%s", e->matter);
    snprintf(s->reason[s->n], Q_EVENT_REASON_MAX, "%s", e->reason);
    s->n++;
    return 0;
}

/* The schema version of a hall before migration 13 gave the events their
 * structured columns (controller/store.c). */
#define SCHEMA_BEFORE_STRUCTURED_EVENTS 12

START_TEST(test_old_hall_migrated)
{
    char err[256];
    store *s = store_open(db, HALL, STORE_DAEMON, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    int version = store_schema_version(s);
    int64_t t0 = qf_sh(2026, 12, 7, 9, 0, 0);
    q_ticket t = {.id = 1,
                  .number = "A001",
                  .day = DAY,
                  .seq = 1,
                  .area = "B",
                  .matter = "m3",
                  .state = Q_DONE,
                  .priority = Q_GREEN,
                  .issued_ms = t0,
                  .state_ms = t0 + 900000,
                  .served_window = 3,
                  .rating = 4,
                  .rated_ms = t0 + 960000,
                  .transferred = true};
    q_ticket t2 = {.id = 2,
                   .number = "A002",
                   .day = DAY,
                   .seq = 2,
                   .area = "A",
                   .matter = "m1",
                   .state = Q_CANCELLED,
                   .issued_ms = t0 + 60000,
                   .state_ms = t0 + 600000};
    ck_assert_int_eq(store_put_ticket(s, &t), 0);
    ck_assert_int_eq(store_put_ticket(s, &t2), 0);
    store_close(s);

    /* The file as the release before wrote it: no structured columns, and
     * its events hashed without them; nor the tables of the migrations
     * after (the screens of 14). */
    sqlite3 *raw;
    char *msg = NULL, sql[512];
    ck_assert_int_eq(sqlite3_open(db, &raw), SQLITE_OK);
    snprintf(sql, sizeof sql,
             "ALTER TABLE events DROP COLUMN area; ALTER TABLE events DROP COLUMN matter; "
             "ALTER TABLE events DROP COLUMN duration_ms; ALTER TABLE events DROP COLUMN rating; "
             "ALTER TABLE events DROP COLUMN reason; ALTER TABLE events DROP COLUMN chain; "
             "DROP TABLE screens; PRAGMA user_version = %d;",
             SCHEMA_BEFORE_STRUCTURED_EVENTS);
    ck_assert_msg(sqlite3_exec(raw, sql, NULL, NULL, &msg) == SQLITE_OK, "%s", msg);
    uint8_t prev[32] = {0};
    old_event(raw, prev, 1, t0, QE_ISSUED, 1, 0, "", "");
    old_event(raw, prev, 2, t0 + 60000, QE_ISSUED, 2, 0, "", "");
    old_event(raw, prev, 3, t0 + 300000, QE_CALLED, 1, 1, "c1", "longest wait");
    old_event(raw, prev, 4, t0 + 360000, QE_TRANSFERRED, 1, 1, "c1", "to area B");
    old_event(raw, prev, 5, t0 + 480000, QE_CALLED, 1, 3, "c3", "longest wait");
    old_event(raw, prev, 6, t0 + 500000, QE_STARTED, 1, 3, "c3", "");
    old_event(raw, prev, 7, t0 + 600000, QE_CANCELLED, 2, 0, "", "citizen left");
    old_event(raw, prev, 8, t0 + 900000, QE_FINISHED, 1, 3, "c3", "served 6m40s");
    old_event(raw, prev, 9, t0 + 960000, QE_RATED, 1, 3, "c3", "level 4");
    old_event(raw, prev, 10, t0 + 970000, QE_WINDOW_PAUSED, 0, 3, "c3", "lunch");
    sqlite3_close(raw);

    /* Opened by this release: migrated; the old rows verify as they are,
     * a new row is of chain 1, and the whole verifies. */
    s = store_open(db, HALL, STORE_DAEMON, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_int_eq(store_schema_version(s), version);
    uint64_t n;
    ck_assert_msg(store_verify_events(s, &n) == 0, "%s", store_errmsg(s));
    ck_assert_uint_eq(n, 10);
    q_event e = {.kind = QE_WINDOW_RESUMED,
                 .at_ms = t0 + 3600000,
                 .day = DAY,
                 .window_no = 3,
                 .clerk = "c3",
                 .detail = "",
                 .area = "",
                 .matter = "",
                 .reason = ""};
    ck_assert_int_eq(store_append_event(s, &e, "win"), 0);
    ck_assert_msg(store_verify_events(s, &n) == 0, "%s", store_errmsg(s));
    ck_assert_uint_eq(n, 11);

    struct seen seen = {.n = 0};
    ck_assert_int_eq(store_scan_events(s, DAY, DAY, 0xffffffffu, keep_row, &seen), 0);
    ck_assert_int_eq(seen.n, 11);
    ck_assert_str_eq(seen.area[0], "B"); /* the ticket's last area */
    ck_assert_str_eq(seen.matter[0], "m3");
    ck_assert_str_eq(seen.reason[0], "green");
    ck_assert_str_eq(seen.reason[1], "normal");
    ck_assert_str_eq(seen.reason[2], "first");
    ck_assert_int_eq(seen.e[2].duration_ms, 300000);
    ck_assert_str_eq(seen.reason[3], "B");
    ck_assert_str_eq(seen.reason[4], "again");
    ck_assert_int_eq(seen.e[4].duration_ms, 0);
    ck_assert_str_eq(seen.reason[6], "hall");
    ck_assert_int_eq(seen.e[6].duration_ms, 540000);
    ck_assert_int_eq(seen.e[7].duration_ms, 400000);
    ck_assert_int_eq(seen.e[8].rating, 4);
    ck_assert_str_eq(seen.reason[9], "lunch");
    ck_assert_str_eq(seen.area[9], "");

    /* And the report reads them. */
    store *rd = store_open(db, HALL, STORE_READER, err, sizeof err);
    ck_assert_msg(rd != NULL, "%s", err);
    stats_report *r = report(rd, STATS_BY_DAY);
    ck_assert_uint_eq(r->total.issued, 2);
    ck_assert_uint_eq(r->total.served, 1);
    ck_assert_uint_eq(r->total.cancelled, 1);
    ck_assert_uint_eq(r->total.transferred, 1);
    ck_assert_uint_eq(r->total.wait_max_s, 300);
    ck_assert_uint_eq(r->total.service_max_s, 400);
    ck_assert_uint_eq(r->total.ratings[3], 1);
    stats_report_free(r);
    store_close(rd);
    store_close(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats_from_events");
    TCase *tc = tcase_create("events");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_scripted_day);
    tcase_add_test(tc, test_columns_hashed);
    tcase_add_test(tc, test_old_hall_migrated);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
