/*
 * backtest — the estimated wait set against the real wait on simulated
 * hall days (des.h): for each ticket, the estimate at its issue by today's
 * estimator (estimate.h) and by the formula it replaced ("people ahead ×
 * median service time ÷ open windows"), and the wait that followed (issue
 * to first call). Pure: simulated time, no I/O.
 *
 * The hall played (backtest_hall) has three areas and eight windows, two
 * of them shared between two areas and two of them closed for the lunch
 * hour, with citizens arriving by a pattern of scenario.h.
 */
#ifndef ONEWINDOW_BACKTEST_H
#define ONEWINDOW_BACKTEST_H

#include <stddef.h>
#include <stdint.h>

#include "des.h"
#include "scenario.h"

typedef struct backtest_row {
    size_t tickets;       /* tickets called, over all seeds */
    double base_median_s; /* absolute error of the old formula, seconds */
    double base_p90_s;
    double est_median_s; /* absolute error of the estimator */
    double est_p90_s;
    double wait_median_s;  /* the real wait, for scale */
    double sim_ms_per_day; /* CPU time a simulated day took, ms */
} backtest_row;

/* The backtest's hall with arrivals by pattern p at rate citizens an hour
 * (mean over the open hours). */
void backtest_hall(des_day *d, const scen_pattern *p, double rate);
/* Play day once per seed; 0 and *out, or -1 with a reason (des_run's). */
int backtest_run(const des_day *day, const uint64_t *seeds, size_t nseeds, backtest_row *out,
                 char *err, size_t errlen);

#endif
