/*
 * scenario — see scenario.h.
 */
#include "scenario.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define OPEN_HOURS (SCEN_CLOSE_HOUR - SCEN_OPEN_HOUR)

/* Each shape's eight open hours sum to 8. The morning peak is the hall's
 * Monday: people come before work and the queue builds at 09:00; the lunch
 * dip is the break most halls keep between 12:00 and 13:30 with a thin
 * duty window, and the crowd that comes back after it. */
static const scen_pattern patterns[] = {
    {"flat", {[9] = 1, 1, 1, 1, 1, 1, 1, 1}},
    {"morning_peak", {[9] = 1.8, 1.6, 1.2, 0.6, 0.8, 0.8, 0.7, 0.5}},
    {"lunch_dip", {[9] = 1.1, 1.3, 1.2, 0.3, 0.5, 1.2, 1.3, 1.1}},
};

void scen_seed(scen_rng *r, uint64_t seed)
{
    r->state = seed;
}

uint64_t scen_next(scen_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double scen_unit(scen_rng *r)
{
    return (double)(scen_next(r) >> 11) / 9007199254740992.0;
}

double scen_lognormal(scen_rng *r, double mean, double sigma)
{
    if (sigma <= 0)
        return mean;
    /* Box-Muller; 1 - u keeps the logarithm finite. */
    double u = 1.0 - scen_unit(r), v = scen_unit(r);
    double z = sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
    return exp(log(mean) - sigma * sigma / 2 + sigma * z);
}

const scen_pattern *scen_pattern_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof patterns / sizeof patterns[0]; i++)
        if (strcmp(patterns[i].name, name) == 0)
            return &patterns[i];
    return NULL;
}

const scen_pattern *scen_pattern_at(size_t i)
{
    return i < sizeof patterns / sizeof patterns[0] ? &patterns[i] : NULL;
}

/* An exponential gap at rate an hour, ms (at least 1). */
static int64_t gap_ms(scen_rng *r, double rate)
{
    return (int64_t)(-log(1.0 - scen_unit(r)) * (double)SCEN_HOUR_MS / rate) + 1;
}

/* The Poisson process is memoryless: a gap that crosses into an hour of
 * another rate is drawn again from the boundary at the new rate. Hours of
 * the same rate are one stretch, so a flat day draws exactly one gap per
 * arrival (hallday's sequence before patterns existed). */
static int64_t next_in(const double *rate, int nhours, bool wrap, scen_rng *r, int64_t t,
                       int64_t end)
{
    while (end < 0 || t < end) {
        int64_t h = t / SCEN_HOUR_MS;
        if (!wrap && h >= nhours)
            return -1;
        double now = rate[h % nhours];
        int64_t stretch = h + 1;
        while ((wrap || stretch < nhours) && stretch - h <= nhours && rate[stretch % nhours] == now)
            stretch++;
        int64_t boundary = stretch - h > nhours ? -1 : stretch * SCEN_HOUR_MS;
        if (now <= 0) {
            if (boundary < 0)
                return -1;
            t = boundary;
            continue;
        }
        int64_t next = t + gap_ms(r, now);
        if (boundary < 0 || next < boundary)
            return end >= 0 && next >= end ? -1 : next;
        t = boundary;
    }
    return -1;
}

int64_t scen_next_arrival(const double rate_per_h[24], scen_rng *r, int64_t t_ms, int64_t end_ms)
{
    return next_in(rate_per_h, 24, false, r, t_ms, end_ms);
}

int64_t scen_pattern_next(const scen_pattern *p, double rate_per_h, scen_rng *r, int64_t t_ms)
{
    double rate[OPEN_HOURS];

    for (int i = 0; i < OPEN_HOURS; i++)
        rate[i] = p->shape[SCEN_OPEN_HOUR + i] * rate_per_h;
    return next_in(rate, OPEN_HOURS, true, r, t_ms, -1);
}
