/*
 * staffcheck — see staffcheck.h. Each area is played alone (its windows
 * serve only it, as the profile counts them), one simulated day per
 * weekday and seed; the walk after a call averages STAFFING_CALL_S, the
 * minute the advice adds to each visit.
 */
#include "staffcheck.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "des.h"
#include "staffing.h"

#define SIGMA 0.5 /* the shape of the simulated service times */

struct waits {
    double *v;
    size_t n, cap;
};

static int push(struct waits *w, double v)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        double *grown = realloc(w->v, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        w->v = grown;
        w->cap = cap;
    }
    w->v[w->n++] = v;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double p90(struct waits *w)
{
    if (w->n == 0)
        return 0;
    qsort(w->v, w->n, sizeof w->v[0], cmp_double);
    size_t i = (size_t)(0.9 * (double)w->n + 0.999999);
    return w->v[i == 0 ? 0 : i - 1];
}

static void day_of(const profile *p, const int (*windows)[7][24], int a, int d, des_day *day)
{
    int most = 0;

    memset(day, 0, sizeof *day);
    day->nareas = 1;
    snprintf(day->area[0], sizeof day->area[0], "%.*s", PROFILE_CODE_MAX - 1, p->area[a]);
    day->service_s[0] = p->service_s[a];
    day->service_sigma = SIGMA;
    day->walk_min_s = STAFFING_CALL_S / 2;
    day->walk_max_s = STAFFING_CALL_S * 3 / 2;
    for (int h = 0; h < 24; h++) {
        day->arrivals[0][h] = p->arrivals[a][d][h];
        if (windows[a][d][h] > most)
            most = windows[a][d][h];
    }
    day->nwindows = most;
    for (int i = 0; i < most; i++) {
        day->window[i].areas = 1;
        for (int h = 0; h < 24; h++)
            if (windows[a][d][h] > i)
                day->window[i].open_hours |= 1u << h;
    }
}

int staffcheck_week(const profile *p, const int (*windows)[7][24], const uint64_t *seeds,
                    size_t nseeds, staffcheck_result *out, char *err, size_t errlen)
{
    struct waits hour[24] = {{0}}, week = {0};
    int rc = 0;

    memset(out, 0, sizeof *out);
    if (p->nareas < 0 || p->nareas > PROFILE_AREAS_MAX) {
        snprintf(err, errlen, "a profile of 0 to 16 areas");
        errno = EINVAL;
        return -1;
    }
    for (int a = 0; a < p->nareas && rc == 0; a++) {
        week.n = 0;
        for (int d = 0; d < 7 && rc == 0; d++) {
            des_day day;
            for (int h = 0; h < 24; h++) {
                if (windows[a][d][h] < 0 || windows[a][d][h] > DES_WINDOWS_MAX) {
                    snprintf(err, errlen, "area %.*s: 0 to 32 windows an hour",
                             PROFILE_CODE_MAX - 1, p->area[a]);
                    errno = EINVAL;
                    rc = -1;
                }
                hour[h].n = 0;
            }
            if (rc < 0)
                break;
            day_of(p, windows, a, d, &day);
            for (size_t s = 0; s < nseeds && rc == 0; s++) {
                des_result r;
                if (des_run(&day, seeds[s] * 7 + (uint64_t)d, NULL, NULL, &r, err, errlen) < 0) {
                    rc = -1;
                    break;
                }
                for (size_t i = 0; i < r.n && rc == 0; i++) {
                    const des_ticket *t = &r.ticket[i];
                    double w =
                        t->called_ms < 0 ? INFINITY : (double)(t->called_ms - t->issued_ms) / 1000;
                    if (push(&hour[t->hour], w) < 0 || push(&week, w) < 0) {
                        snprintf(err, errlen, "out of memory");
                        errno = ENOMEM;
                        rc = -1;
                    }
                }
                des_result_free(&r);
            }
            for (int h = 0; h < 24 && rc == 0; h++) {
                out->tickets[a][d][h] = hour[h].n;
                out->p90_s[a][d][h] = p90(&hour[h]);
            }
        }
        if (rc == 0)
            out->week_p90_s[a] = p90(&week);
    }
    for (int h = 0; h < 24; h++)
        free(hour[h].v);
    free(week.v);
    return rc;
}
