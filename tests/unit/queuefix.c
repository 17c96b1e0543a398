/*
 * queuefix — see queuefix.h. Everything asserts with Check instead of
 * returning errors: a fixture that cannot be built fails the test using it.
 */
#include "queuefix.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN (60 * 1000LL)

int64_t qf_sh(int y, int mo, int d, int h, int mi, int s)
{
    int64_t era, yoe, doy, doe, days;

    y -= mo <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    days = era * 146097 + doe - 719468;
    return (days * 86400 + h * 3600 + mi * 60 + s - 8 * 3600) * 1000;
}

clk_zone *qf_shanghai(void)
{
    clk_zone *z = clk_zone_new("Asia/Shanghai");

    ck_assert_ptr_nonnull(z);
    return z;
}

/* ---- The journal --------------------------------------------------------------- */

static qf_entry *rec_add(qf_rec *r, char what)
{
    if (r->n == r->cap) {
        r->cap = r->cap != 0 ? r->cap * 2 : 256;
        r->e = realloc(r->e, r->cap * sizeof *r->e);
        ck_assert_ptr_nonnull(r->e);
    }
    memset(&r->e[r->n], 0, sizeof r->e[0]);
    r->e[r->n].what = what;
    return &r->e[r->n++];
}

static void on_ticket(void *ctx, const q_ticket *t)
{
    qf_entry *x = rec_add(ctx, 'T');

    memcpy(&x->t, t, sizeof *t);
    x->ticket = t->id;
}

static void on_window(void *ctx, const q_window *w)
{
    qf_entry *x = rec_add(ctx, 'W');

    memcpy(&x->w, w, sizeof *w);
    x->window = w->no;
}

static void on_lease(void *ctx, const q_lease *l)
{
    memcpy(&rec_add(ctx, 'L')->l, l, sizeof *l);
}

static void on_event(void *ctx, const q_event *e)
{
    qf_entry *x = rec_add(ctx, 'E');

    x->kind = e->kind;
    x->ticket = e->ticket_id;
    x->window = e->window_no;
    snprintf(x->clerk, sizeof x->clerk, "%s", e->clerk);
    snprintf(x->detail, sizeof x->detail, "%s", e->detail);
}

q_journal qf_journal(qf_rec *r)
{
    q_journal j = {on_ticket, on_window, on_lease, on_event, r};

    return j;
}

void qf_rec_clear(qf_rec *r)
{
    free(r->e);
    memset(r, 0, sizeof *r);
}

const qf_entry *qf_last_event(const qf_rec *r)
{
    for (size_t i = r->n; i-- > 0;)
        if (r->e[i].what == 'E')
            return &r->e[i];
    ck_abort_msg("no event recorded");
    return NULL;
}

/* ---- Engines ----------------------------------------------------------------- */

q_policy qf_policy(int64_t rejoin_ms, int64_t reserve_ms)
{
    q_policy p = {
        .green_boost_ms = 30 * MIN,
        .appointment_boost_ms = 15 * MIN,
        .appointment_early_ms = 10 * MIN,
        .max_recalls = 2,
        .rejoin_ms = rejoin_ms,
        .rejoin_keeps_place = true,
        .reserve_ms = reserve_ms,
        .carry_over = false,
        .rollover_hour = 3,
        .number_digits = 3,
        .lease_first = 500,
        .lease_band = 400,
        .lease_block = 50,
    };
    return p;
}

queue *qf_engine(const q_policy *p, const clk_zone *zone, qf_rec *r)
{
    q_journal j = qf_journal(r);
    queue *e = queue_new(p, zone, &j);

    ck_assert_ptr_nonnull(e);
    return e;
}

void qf_add_area(queue *e, const char *code, const char *name, const char *prefix)
{
    q_area a = {0};
    q_error err;

    snprintf(a.code, sizeof a.code, "%s", code);
    snprintf(a.name, sizeof a.name, "%s", name);
    snprintf(a.prefix, sizeof a.prefix, "%s", prefix);
    a.general = strcmp(code, "A") == 0;
    ck_assert_msg(queue_add_area(e, &a, &err) == 0, "%s", err.message);
}

q_window qf_window(uint32_t no, const char *spec)
{
    q_window w = {0};
    char buf[128], *save = NULL;

    w.no = no;
    snprintf(w.name, sizeof w.name, "window %u", no);
    w.type = QW_INTAKE;
    w.state = QW_CLOSED;
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');

        ck_assert_ptr_nonnull(colon);
        *colon = '\0';
        snprintf(w.areas[w.nareas], sizeof w.areas[0], "%s", tok);
        w.weights[w.nareas++] = (uint32_t)atoi(colon + 1);
    }
    return w;
}

void qf_add_window(queue *e, uint32_t no, const char *spec, const char *clerk, int64_t signed_in)
{
    q_window w = qf_window(no, spec);
    q_error err;

    ck_assert_msg(queue_add_window(e, &w, &err) == 0, "%s", err.message);
    if (clerk != NULL)
        ck_assert_msg(queue_sign_in(e, no, clerk, signed_in, &err) == 0, "%s", err.message);
}
