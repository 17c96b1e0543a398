/*
 * staffing — how many windows each area needs, per hour of the week, to
 * keep the 90th percentile of the wait under the hall's target, from a
 * profile of the recent weeks (profile.h: arrivals, open windows, service
 * time). Queueing theory: each area and hour is an M/M/c queue (Erlang C)
 * whose servers are the area's windows and whose service is the mean
 * service time plus the walk after each call. Pure: no I/O.
 *
 * The p90 wait of c windows at offered load a = arrivals × service
 * (erlangs), for a < c:
 *
 *     P(wait > t) = C(c, a) · exp(-(c - a) · t / service)
 *     p90         = 0 when C(c, a) <= 0.1, else service · ln(10 · C(c, a)) / (c - a)
 *
 * where C is the Erlang C probability of waiting at all; for a >= c the
 * queue grows without end (p90 infinite). docs/staffing.md has the
 * model, its limits and its check against the simulation (staffcheck.h).
 */
#ifndef ONEWINDOW_STAFFING_H
#define ONEWINDOW_STAFFING_H

#include <jansson.h>
#include <stdbool.h>

#include "profile.h"

#define STAFFING_WINDOWS_MAX    64  /* advice never goes past this many windows */
#define STAFFING_CALL_S         60  /* a call to the start: the walk to the window */
#define STAFFING_TARGET_DEFAULT 900 /* seconds: the p90 wait of a hall that sets none */
/* Seconds of a visit in an area whose services were never measured (a new
 * area, or one whose tickets were all no-shows): the queue engine's own
 * assumption before it has seen a service (queue_service_estimate). */
#define STAFFING_SERVICE_UNMEASURED_S 300

/* The p90 wait, seconds, of `windows` windows serving arrivals_per_h
 * citizens an hour whose visits take service_s (the walk added here): 0
 * for no arrivals, INFINITY when the windows cannot keep up. -1/EINVAL
 * for a negative or non-finite figure, or no service time. */
int staffing_p90(double arrivals_per_h, double service_s, int windows, double *p90_s);
/* The fewest windows whose p90 wait is at most target_p90_s (0 when
 * nobody arrives). -1/EINVAL for bad figures (a target <= 0 among them),
 * -1/ERANGE when even STAFFING_WINDOWS_MAX windows miss the target. */
int staffing_windows(double arrivals_per_h, double service_s, double target_p90_s, int *windows);

typedef struct staffing_hour {
    double arrivals_per_h;
    int current; /* the profile's open windows, rounded */
    int advised;
    double current_p90_s; /* INFINITY when the current windows cannot keep up */
    double advised_p90_s;
    bool misses; /* current_p90_s over the target */
} staffing_hour;

typedef struct staffing_advice {
    double target_p90_s;
    int weeks;
    int nareas;
    char area[PROFILE_AREAS_MAX][PROFILE_CODE_MAX];
    double service_s[PROFILE_AREAS_MAX];
    bool service_measured[PROFILE_AREAS_MAX];     /* false: STAFFING_SERVICE_UNMEASURED_S assumed */
    staffing_hour hour[PROFILE_AREAS_MAX][7][24]; /* weekday 0 = Sunday, hour */
} staffing_advice;

/* The advice for every area and hour of the week of p. 0, or -1 with a
 * reason (EINVAL: a bad target or a negative or non-finite figure in p,
 * naming it). A service time of 0 in p is "not measured". */
int staffing_advise(const profile *p, double target_p90_s, staffing_advice *out, char *err,
                    size_t errlen);
/* The advice as GET /api/v1/staffing answers it (docs/api.md): the hours
 * with arrivals or open windows, per area. names[i] is area i's name (NULL
 * or a NULL entry: the code). NULL when out of memory. */
json_t *staffing_json(const staffing_advice *a, const char *const *names);

#endif
