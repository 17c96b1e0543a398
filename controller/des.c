/*
 * des — see des.h. The loop jumps from event to event: the next arrival of
 * each area, each window's next step and the hour boundaries where windows
 * open and close. After every event each free open window tries to call,
 * so a ticket that finds a free window is called at its own issue time.
 */
#include "des.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"

#define DAY_MS    (24 * SCEN_HOUR_MS)
#define BASE_DAYS 20430 /* 2025-12-08, a Monday */
#define NEVER     INT64_MAX

enum step { W_CLOSED, W_FREE, W_CALLED, W_SERVING };

struct win {
    enum step step;
    bool closing; /* sign out after the visit */
    bool no_show; /* the called citizen will not come */
    uint64_t ticket;
    int64_t due; /* ms after midnight of the next step; NEVER when free or closed */
};

struct sim {
    const des_day *day;
    queue *q;
    clk_zone *zone;
    scen_rng rng;
    des_hook hook;
    void *ctx;
    des_result *out;
    size_t cap;
    uint64_t first_id; /* id of the first ticket: out->ticket[id - first_id] */
    struct win win[DES_WINDOWS_MAX];
    int64_t arrival[DES_AREAS_MAX];
    int last_hour; /* the last hour with arrivals */
};

int64_t des_base_ms(void)
{
    return (int64_t)BASE_DAYS * DAY_MS;
}

static int fail(char *err, size_t errlen, int e, const char *what)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", what);
    errno = e;
    return -1;
}

static bool finite_nonneg(double v)
{
    return isfinite(v) && v >= 0;
}

static int check_day(const des_day *d, char *err, size_t errlen)
{
    if (d->nareas < 1 || d->nareas > DES_AREAS_MAX)
        return fail(err, errlen, EINVAL, "areas: 1 to 8");
    if (d->nwindows < 0 || d->nwindows > DES_WINDOWS_MAX)
        return fail(err, errlen, EINVAL, "windows: 0 to 32");
    for (int a = 0; a < d->nareas; a++) {
        if (!finite_nonneg(d->service_s[a]) || d->service_s[a] == 0)
            return fail(err, errlen, EINVAL, "a mean service time is not a positive number");
        for (int h = 0; h < 24; h++)
            if (!finite_nonneg(d->arrivals[a][h]))
                return fail(err, errlen, EINVAL, "an arrival rate is not a number >= 0");
    }
    if (!finite_nonneg(d->service_sigma) || !finite_nonneg(d->walk_min_s) ||
        !finite_nonneg(d->walk_max_s) || d->walk_max_s < d->walk_min_s ||
        !finite_nonneg(d->no_show_wait_s) || !finite_nonneg(d->no_show) || d->no_show > 1 ||
        !finite_nonneg(d->green) || d->green > 1)
        return fail(err, errlen, EINVAL, "a walk, no-show or green figure is out of range");
    return 0;
}

static int setup(struct sim *s, char *err, size_t errlen)
{
    const des_day *d = s->day;
    q_policy pol = {
        .green_boost_ms = 15 * 60000,
        .appointment_boost_ms = 10 * 60000,
        .appointment_early_ms = 10 * 60000,
        .max_recalls = 2,
        .reserve_ms = 60000,
        .rollover_hour = 3,
        .number_digits = 4,
        .lease_first = 9000,
        .lease_band = 900,
        .lease_block = 50,
    };
    q_journal none = {0};
    q_error qe;

    if ((s->zone = clk_zone_new("UTC")) == NULL)
        return fail(err, errlen, errno, "time zone UTC not found");
    if ((s->q = queue_new(&pol, s->zone, &none)) == NULL)
        return fail(err, errlen, errno, "queue_new failed");
    for (int a = 0; a < d->nareas; a++) {
        q_area qa = {.prefix = {(char)('A' + a)}};
        if (d->area[a][0] != '\0')
            snprintf(qa.code, sizeof qa.code, "%.*s", Q_CODE_MAX - 1, d->area[a]);
        else
            snprintf(qa.code, sizeof qa.code, "a%d", a);
        snprintf(qa.name, sizeof qa.name, "%s", qa.code);
        if (queue_add_area(s->q, &qa, &qe) < 0)
            return fail(err, errlen, EINVAL, qe.message);
    }
    for (int i = 0; i < d->nwindows; i++) {
        q_window w = {.no = (uint32_t)i + 1, .type = QW_INTAKE, .state = QW_CLOSED};
        snprintf(w.name, sizeof w.name, "window %d", i + 1);
        for (int a = 0; a < d->nareas; a++)
            if (d->window[i].areas & (1u << a)) {
                snprintf(w.areas[w.nareas], sizeof w.areas[0], "%s",
                         queue_area_at(s->q, (size_t)a)->code);
                w.weights[w.nareas++] = 1;
            }
        if (w.nareas == 0)
            return fail(err, errlen, EINVAL, "a window serves no area");
        if (queue_add_window(s->q, &w, &qe) < 0)
            return fail(err, errlen, EINVAL, qe.message);
        s->win[i] = (struct win){.step = W_CLOSED, .due = NEVER};
    }
    s->last_hour = -1;
    for (int a = 0; a < d->nareas; a++)
        for (int h = 0; h < 24; h++)
            if (d->arrivals[a][h] > 0 && h > s->last_hour)
                s->last_hour = h;
    return 0;
}

static des_ticket *record(struct sim *s, uint64_t id)
{
    if (id < s->first_id || id - s->first_id >= s->out->n)
        return NULL;
    return &s->out->ticket[id - s->first_id];
}

static int arrive(struct sim *s, int a, int64_t t, char *err, size_t errlen)
{
    const des_day *d = s->day;
    int64_t now = des_base_ms() + t;
    bool green = scen_unit(&s->rng) < d->green;
    q_issue req = {.area = queue_area_at(s->q, (size_t)a)->code,
                   .matter = "",
                   .priority = green ? Q_GREEN : Q_NORMAL,
                   .kiosk = "sim",
                   .masked_name = ""};
    const q_ticket *tk;
    q_error qe;

    if (queue_issue(s->q, &req, now, &tk, &qe) < 0 ||
        queue_printed(s->q, tk->id, now, &tk, &qe) < 0)
        return fail(err, errlen, qe.code == QERR_NOMEM ? ENOMEM : EINVAL, qe.message);
    if (s->out->n == 0)
        s->first_id = tk->id;
    if (s->out->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        des_ticket *grown = realloc(s->out->ticket, cap * sizeof *grown);
        if (grown == NULL)
            return fail(err, errlen, ENOMEM, "out of memory");
        s->out->ticket = grown;
        s->cap = cap;
    }
    des_ticket *r = &s->out->ticket[s->out->n++];
    *r = (des_ticket){.id = tk->id,
                      .area = a,
                      .hour = (int)(t / SCEN_HOUR_MS),
                      .priority = req.priority,
                      .issued_ms = t,
                      .called_ms = -1};
    if (s->hook != NULL)
        s->hook(s->ctx, s->q, tk->id, now, r->est_ms);
    s->arrival[a] = scen_next_arrival(d->arrivals[a], &s->rng, t, DAY_MS);
    return 0;
}

static void sign_out(struct sim *s, int i, int64_t now)
{
    q_error qe;

    if (queue_sign_out(s->q, (uint32_t)i + 1, now, &qe) == 0)
        s->win[i] = (struct win){.step = W_CLOSED, .due = NEVER};
}

/* Windows at the start of hour h. */
static void hours(struct sim *s, int h, int64_t t)
{
    int64_t now = des_base_ms() + t;
    q_error qe;

    for (int i = 0; i < s->day->nwindows; i++) {
        uint32_t mask = s->day->window[i].open_hours;
        bool open = h < 24 && (mask & (1u << h));
        if (h > s->last_hour && s->last_hour >= 0)
            open = mask & (1u << s->last_hour);
        struct win *w = &s->win[i];
        if (open && w->step == W_CLOSED) {
            char clerk[16];
            snprintf(clerk, sizeof clerk, "c%d", i + 1);
            if (queue_sign_in(s->q, (uint32_t)i + 1, clerk, now, &qe) == 0)
                *w = (struct win){.step = W_FREE, .due = NEVER};
        } else if (open) {
            w->closing = false;
        } else if (w->step == W_FREE) {
            sign_out(s, i, now);
        } else if (w->step != W_CLOSED) {
            w->closing = true;
        }
    }
}

static void calls(struct sim *s, int64_t t)
{
    const des_day *d = s->day;
    int64_t now = des_base_ms() + t;
    const q_ticket *tk;
    char reason[Q_REASON_MAX];
    q_error qe;

    for (int i = 0; i < d->nwindows; i++) {
        struct win *w = &s->win[i];
        if (w->step != W_FREE || queue_call_next(s->q, (uint32_t)i + 1, now, &tk, reason, &qe) < 0)
            continue;
        des_ticket *r = record(s, tk->id);
        if (r != NULL && r->called_ms < 0)
            r->called_ms = t;
        w->step = W_CALLED;
        w->ticket = tk->id;
        w->no_show = scen_unit(&s->rng) < d->no_show;
        double walk = d->walk_min_s + (d->walk_max_s - d->walk_min_s) * scen_unit(&s->rng);
        w->due = t + (int64_t)((w->no_show ? d->no_show_wait_s : walk) * 1000);
    }
}

static void step(struct sim *s, int i, int64_t t)
{
    const des_day *d = s->day;
    struct win *w = &s->win[i];
    int64_t now = des_base_ms() + t;
    uint32_t no = (uint32_t)i + 1;
    const q_ticket *tk;
    q_error qe;

    if (w->step == W_CALLED && !w->no_show &&
        queue_start(s->q, no, w->ticket, now, &tk, &qe) == 0) {
        w->step = W_SERVING;
        w->due = t +
                 (int64_t)(scen_lognormal(&s->rng, d->service_s[record(s, w->ticket)->area],
                                          d->service_sigma) *
                           1000) +
                 1;
        return;
    }
    if (w->step == W_CALLED)
        queue_no_show(s->q, no, w->ticket, now, &tk, &qe);
    else
        queue_finish(s->q, no, w->ticket, now, &tk, &qe);
    w->step = W_FREE;
    w->due = NEVER;
    w->ticket = 0;
    if (w->closing)
        sign_out(s, i, now);
}

static int run(struct sim *s, char *err, size_t errlen)
{
    const des_day *d = s->day;
    int64_t t = 0;
    int next_hour = 0;

    for (int a = 0; a < d->nareas; a++)
        s->arrival[a] = scen_next_arrival(d->arrivals[a], &s->rng, 0, DAY_MS);
    for (;;) {
        int64_t next = next_hour <= 24 ? next_hour * SCEN_HOUR_MS : NEVER;
        for (int a = 0; a < d->nareas; a++)
            if (s->arrival[a] >= 0 && s->arrival[a] < next)
                next = s->arrival[a];
        for (int i = 0; i < d->nwindows; i++)
            if (s->win[i].due < next)
                next = s->win[i].due;
        if (next == NEVER)
            break;
        t = next;
        if (next_hour <= 24 && t == next_hour * SCEN_HOUR_MS)
            hours(s, next_hour++, t);
        for (int a = 0; a < d->nareas; a++)
            if (s->arrival[a] == t && arrive(s, a, t, err, errlen) < 0)
                return -1;
        for (int i = 0; i < d->nwindows; i++)
            if (s->win[i].due == t)
                step(s, i, t);
        calls(s, t);
    }
    s->out->end_ms = t;
    return 0;
}

int des_run(const des_day *day, uint64_t seed, des_hook hook, void *ctx, des_result *out, char *err,
            size_t errlen)
{
    struct sim s = {.day = day, .hook = hook, .ctx = ctx, .out = out};
    int rc;

    *out = (des_result){0};
    if (check_day(day, err, errlen) < 0)
        return -1;
    scen_seed(&s.rng, seed);
    rc = setup(&s, err, errlen) < 0 ? -1 : run(&s, err, errlen);
    queue_free(s.q);
    clk_zone_free(s.zone);
    if (rc < 0)
        des_result_free(out);
    return rc;
}

void des_result_free(des_result *r)
{
    free(r->ticket);
    *r = (des_result){0};
}
