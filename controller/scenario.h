/*
 * scenario — the arrival patterns of a simulated hall day and the random
 * source that plays them, shared by the discrete-event simulation (des.h)
 * and hallday, so that both play the same days. Pure: no I/O, no clock.
 *
 * A pattern is a shape over the hall's hours (SCEN_OPEN_HOUR to
 * SCEN_CLOSE_HOUR, hall-local): a multiplier per hour whose mean over the
 * open hours is 1, so that a rate of 60 an hour still brings 60 citizens an
 * hour on average over the day. Arrivals are a Poisson process whose rate
 * is constant within each hour.
 */
#ifndef ONEWINDOW_SCENARIO_H
#define ONEWINDOW_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#define SCEN_OPEN_HOUR  9  /* the simulated hall opens at 09:00 */
#define SCEN_CLOSE_HOUR 17 /* and takes its last citizen before 17:00 */
#define SCEN_HOUR_MS    3600000LL

/* splitmix64: small, seedable, the same sequence on every machine. */
typedef struct scen_rng {
    uint64_t state;
} scen_rng;

void scen_seed(scen_rng *r, uint64_t seed);
uint64_t scen_next(scen_rng *r);
/* Uniform in [0, 1). */
double scen_unit(scen_rng *r);
/* Lognormal with the given mean and shape sigma (sigma 0: the mean). */
double scen_lognormal(scen_rng *r, double mean, double sigma);

typedef struct scen_pattern {
    const char *name;
    double shape[24]; /* per hall-local hour; 0 outside the hall's hours */
} scen_pattern;

/* The pattern of that name (flat, morning_peak, lunch_dip), NULL if none. */
const scen_pattern *scen_pattern_find(const char *name);
/* The patterns in a fixed order; NULL past the end. */
const scen_pattern *scen_pattern_at(size_t i);

/* The next arrival after t_ms (ms after local midnight) when arrivals come
 * at rate_per_h[hour] an hour, or -1 when none comes before end_ms. */
int64_t scen_next_arrival(const double rate_per_h[24], scen_rng *r, int64_t t_ms, int64_t end_ms);
/* The same for a day without end played from the opening: t_ms counts
 * from the opening, the pattern's hours follow each other from
 * SCEN_OPEN_HOUR and start again after the last (hallday runs until it is
 * stopped). rate_per_h is the mean rate over the open hours, > 0. */
int64_t scen_pattern_next(const scen_pattern *p, double rate_per_h, scen_rng *r, int64_t t_ms);

#endif
