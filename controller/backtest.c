/*
 * backtest — see backtest.h.
 */
#include "backtest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "estimate.h"

enum { BASE, EST };

#define AREA_INTAKE   0
#define AREA_ISSUANCE 1
#define AREA_CONSULT  2
#define LUNCH_HOUR    12

void backtest_hall(des_day *d, const scen_pattern *p, double rate)
{
    static const char *const codes[] = {"intake", "issuance", "consult"};
    static const double share[] = {0.6, 0.25, 0.15}, service_s[] = {480, 300, 180};
    uint32_t day = 0, no_lunch;

    memset(d, 0, sizeof *d);
    for (int h = SCEN_OPEN_HOUR; h < SCEN_CLOSE_HOUR; h++)
        day |= 1u << h;
    no_lunch = day & ~(1u << LUNCH_HOUR);
    d->nareas = 3;
    for (int a = 0; a < 3; a++) {
        strcpy(d->area[a], codes[a]);
        d->service_s[a] = service_s[a];
        for (int h = 0; h < 24; h++)
            d->arrivals[a][h] = rate * share[a] * p->shape[h];
    }
    d->service_sigma = 0.5;
    d->walk_min_s = 30;
    d->walk_max_s = 120;
    d->no_show = 0.05;
    d->no_show_wait_s = 120;
    d->green = 0.05;
    const struct {
        uint32_t areas, hours;
    } w[] = {
        {1u << AREA_INTAKE, day},
        {1u << AREA_INTAKE, day},
        {1u << AREA_INTAKE, no_lunch},
        {1u << AREA_INTAKE, no_lunch},
        {1u << AREA_INTAKE | 1u << AREA_ISSUANCE, day},
        {1u << AREA_INTAKE | 1u << AREA_ISSUANCE, day},
        {1u << AREA_ISSUANCE, day},
        {1u << AREA_CONSULT, day},
    };
    d->nwindows = (int)(sizeof w / sizeof w[0]);
    for (int i = 0; i < d->nwindows; i++)
        d->window[i] = (des_window){.areas = w[i].areas, .open_hours = w[i].hours};
}

/* Today's formula before the estimator, as hall.c computed it. */
static int64_t baseline(const queue *q, const q_ticket *t, int64_t now)
{
    size_t open = 0;

    for (size_t i = 0; queue_window_at(q, i) != NULL; i++) {
        const q_window *w = queue_window_at(q, i);
        for (int a = 0; a < w->nareas; a++)
            if (w->state == QW_OPEN && strcmp(w->areas[a], t->area) == 0) {
                open++;
                break;
            }
    }
    return (int64_t)queue_ahead(q, t->id, now) * queue_service_estimate(q, t->area) /
           (int64_t)(open ? open : 1);
}

static void hook(void *ctx, const queue *q, uint64_t id, int64_t now, int64_t est[DES_EST_MAX])
{
    const q_ticket *t = queue_ticket(q, id);

    (void)ctx;
    est[BASE] = baseline(q, t, now);
    est[EST] = est_ticket_wait(q, id, now);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The q-quantile of n sorted values (nearest rank). */
static double quantile(const double *v, size_t n, double q)
{
    size_t i = (size_t)(q * (double)n + 0.999999);

    if (n == 0)
        return 0;
    return v[i == 0 ? 0 : i > n ? n - 1 : i - 1];
}

int backtest_run(const des_day *day, const uint64_t *seeds, size_t nseeds, backtest_row *out,
                 char *err, size_t errlen)
{
    double *e[2] = {NULL, NULL}, *wait = NULL;
    size_t n = 0, cap = 0;
    double cpu_ms = 0;
    int rc = -1;

    memset(out, 0, sizeof *out);
    for (size_t s = 0; s < nseeds; s++) {
        des_result r;
        clock_t c0 = clock();
        if (des_run(day, seeds[s], hook, NULL, &r, err, errlen) < 0)
            goto done;
        cpu_ms += (double)(clock() - c0) * 1000.0 / CLOCKS_PER_SEC;
        if (n + r.n > cap) {
            size_t grown = (n + r.n) * 2;
            double *x = realloc(e[BASE], grown * sizeof *x), *y, *z;
            if (x != NULL)
                e[BASE] = x;
            y = x ? realloc(e[EST], grown * sizeof *y) : NULL;
            if (y != NULL)
                e[EST] = y;
            z = y ? realloc(wait, grown * sizeof *z) : NULL;
            if (z == NULL) {
                des_result_free(&r);
                snprintf(err, errlen, "out of memory");
                errno = ENOMEM;
                goto done;
            }
            wait = z;
            cap = grown;
        }
        for (size_t i = 0; i < r.n; i++) {
            const des_ticket *t = &r.ticket[i];
            if (t->called_ms < 0)
                continue;
            double real = (double)(t->called_ms - t->issued_ms) / 1000;
            wait[n] = real;
            for (int k = BASE; k <= EST; k++) {
                double d = (double)t->est_ms[k] / 1000 - real;
                e[k][n] = d < 0 ? -d : d;
            }
            n++;
        }
        des_result_free(&r);
    }
    if (n > 0) {
        for (int k = BASE; k <= EST; k++)
            qsort(e[k], n, sizeof e[k][0], cmp_double);
        qsort(wait, n, sizeof wait[0], cmp_double);
    }
    out->tickets = n;
    out->base_median_s = quantile(e[BASE], n, 0.5);
    out->base_p90_s = quantile(e[BASE], n, 0.9);
    out->est_median_s = quantile(e[EST], n, 0.5);
    out->est_p90_s = quantile(e[EST], n, 0.9);
    out->wait_median_s = quantile(wait, n, 0.5);
    out->sim_ms_per_day = nseeds ? cpu_ms / (double)nseeds : 0;
    rc = 0;
done:
    free(e[BASE]);
    free(e[EST]);
    free(wait);
    return rc;
}
