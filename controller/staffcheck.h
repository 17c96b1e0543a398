/*
 * staffcheck — staffing checked on simulated weeks: each area's week is
 * played on the discrete-event simulation (des.h) with the profile's
 * arrivals and mean service time and a given number of windows per hour of
 * the week, and the p90 wait of the tickets issued in each hour is
 * measured. Used to check the Erlang C advice (staffing.h), which assumes
 * a steady state each hour, against a queue that carries its backlog from
 * one hour to the next and whose visits are lognormal, not exponential.
 * Pure: simulated time, no I/O.
 */
#ifndef ONEWINDOW_STAFFCHECK_H
#define ONEWINDOW_STAFFCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "profile.h"

typedef struct staffcheck_result {
    /* p90 wait (issue to first call), seconds, of the tickets issued in
     * each area, weekday and hour over all the seeds' weeks; INFINITY when
     * one of the ten slowest was never called; 0 without tickets */
    double p90_s[PROFILE_AREAS_MAX][7][24];
    size_t tickets[PROFILE_AREAS_MAX][7][24];
    double week_p90_s[PROFILE_AREAS_MAX]; /* over the whole week */
} staffcheck_result;

/* Play p's week once per seed with windows[a][d][h] windows (0 to 32) for
 * area a in weekday d and hour h. 0 and *out, or -1 with a reason. */
int staffcheck_week(const profile *p, const int (*windows)[7][24], const uint64_t *seeds,
                    size_t nseeds, staffcheck_result *out, char *err, size_t errlen);

#endif
