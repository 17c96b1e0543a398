/*
 * des — a discrete-event simulation of a hall day on the pure queue engine
 * (queue.h): simulated time, no sockets, no store. Citizens of each area
 * arrive as a Poisson process with a rate per hall-local hour (scenario.h
 * draws them); a window signs in at the start of the hours it is open,
 * calls the next ticket by the hall's allocation whenever it is free, the
 * citizen walks up (or never comes: a no-show after a wait), the service
 * takes a lognormal time around the area's mean, and the window calls
 * again. A window that closes with a citizen at it signs out after the
 * visit. After the last hour with arrivals, the windows open in that hour
 * stay until every ticket is called, as a hall serves the numbers it gave.
 *
 * Each ticket's issue time and first call are recorded; a hook sees the
 * engine right after each issue, so an estimator's guess at that moment
 * can be set against the wait that followed (the backtest, backtest.h).
 */
#ifndef ONEWINDOW_DES_H
#define ONEWINDOW_DES_H

#include <stddef.h>
#include <stdint.h>

#include "queue.h"

#define DES_AREAS_MAX   8
#define DES_WINDOWS_MAX 32
#define DES_EST_MAX     2 /* estimates the hook may give per ticket */

typedef struct des_window {
    uint32_t areas;      /* bit i: serves area i */
    uint32_t open_hours; /* bit h: open in hall-local hour h */
} des_window;

typedef struct des_day {
    int nareas;
    char area[DES_AREAS_MAX][Q_CODE_MAX]; /* codes; "" gives "a0", "a1" ... */
    double arrivals[DES_AREAS_MAX][24];   /* citizens an hour, per hall-local hour */
    double service_s[DES_AREAS_MAX];      /* mean service (start to finish), seconds */
    double service_sigma;                 /* lognormal shape of the service, 0: fixed */
    double walk_min_s, walk_max_s;        /* from the call to the start, uniform */
    double no_show;                       /* share of the called who never come */
    double no_show_wait_s;                /* how long a window waits for them */
    double green;                         /* share of green-channel tickets */
    int nwindows;
    des_window window[DES_WINDOWS_MAX];
} des_day;

typedef struct des_ticket {
    uint64_t id;
    int area;
    int hour; /* hall-local hour of the issue */
    q_priority priority;
    int64_t issued_ms; /* ms after midnight */
    int64_t called_ms; /* first call, -1 if never called */
    int64_t est_ms[DES_EST_MAX];
} des_ticket;

typedef struct des_result {
    des_ticket *ticket;
    size_t n;
    int64_t end_ms; /* when the last event happened */
} des_result;

/* Called right after each ticket joins the queue, before any window calls
 * it; it fills est[] (left at 0 otherwise). It must not change the engine. */
typedef void (*des_hook)(void *ctx, const queue *q, uint64_t id, int64_t now,
                         int64_t est[DES_EST_MAX]);

/* One simulated day from seed. 0 and *out filled (des_result_free), or -1
 * with a reason (a bad day: no areas, too many, a negative or non-finite
 * figure; or out of memory). */
int des_run(const des_day *day, uint64_t seed, des_hook hook, void *ctx, des_result *out, char *err,
            size_t errlen);
void des_result_free(des_result *r);

/* The day's base: simulated times are UTC ms since 00:00 of a fixed day,
 * hall-local time being UTC. */
int64_t des_base_ms(void);

#endif
