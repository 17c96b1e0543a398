/*
 * hallsim — the hall in simulated time, for the figures in
 * docs/performance.md:
 *
 *   hallsim backtest [--seeds N] [--rate R] [--pattern NAME]...
 *       the estimated wait against the real wait on the backtest's hall
 *       (controller/backtest.h), one line per pattern: tickets, the median
 *       and p90 absolute error of the old formula and of the estimator,
 *       the median wait, and the CPU time of a simulated day;
 *   hallsim staffing [--seeds N] [--target S]
 *       the staffing advice (controller/staffing.h) for an example week
 *       of one area, and its check on the simulation: per hour with
 *       arrivals, the current and advised windows with the p90 wait each
 *       gives by Erlang C and on the simulated weeks.
 *
 * Seeds are 1..N. Exit status: 0, 1 when a run fails, 2 for bad usage.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backtest.h"
#include "scenario.h"
#include "staffcheck.h"
#include "staffing.h"

#define SEEDS_MAX 100

static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

static void usage(FILE *f)
{
    fprintf(f, "usage: hallsim backtest [--seeds N] [--rate R] [--pattern NAME]...\n"
               "       hallsim staffing [--seeds N] [--target S]\n"
               "patterns: flat, morning_peak, lunch_dip (default: all)\n");
}

static int backtest(uint64_t *seeds, size_t nseeds, double rate, const char **names, size_t nnames)
{
    printf("%-13s %5s %8s | %-17s | %-17s | %8s | %s\n", "pattern", "seeds", "tickets",
           "old formula (s)", "estimator (s)", "wait (s)", "ms per day");
    printf("%-13s %5s %8s | %8s %8s | %8s %8s | %8s |\n", "", "", "", "median", "p90", "median",
           "p90", "median");
    for (size_t i = 0; i < nnames; i++) {
        const scen_pattern *p = scen_pattern_find(names[i]);
        des_day day;
        backtest_row row;
        char err[160];
        backtest_hall(&day, p, rate);
        if (backtest_run(&day, seeds, nseeds, &row, err, sizeof err) < 0) {
            fprintf(stderr, "hallsim: %s: %s\n", names[i], err);
            return 1;
        }
        printf("%-13s %5zu %8zu | %8.0f %8.0f | %8.0f %8.0f | %8.0f | %.1f\n", names[i], nseeds,
               row.tickets, row.base_median_s, row.base_p90_s, row.est_median_s, row.est_p90_s,
               row.wait_median_s, row.sim_ms_per_day);
    }
    return 0;
}

/* One area open Monday to Friday, 09:00 to 17:00, morning-peak arrivals
 * of 30 an hour and a Monday opening twice as busy, staffed with six
 * windows every hour: Monday's first hour misses the target. */
static void example(profile *p)
{
    const scen_pattern *peak = scen_pattern_find("morning_peak");

    memset(p, 0, sizeof *p);
    p->nareas = 1;
    strcpy(p->area[0], "intake");
    p->service_s[0] = 420;
    p->weeks = 4;
    for (int d = 1; d <= 5; d++)
        for (int h = SCEN_OPEN_HOUR; h < SCEN_CLOSE_HOUR; h++) {
            p->arrivals[0][d][h] = 30 * peak->shape[h] * (d == 1 && h == SCEN_OPEN_HOUR ? 2 : 1);
            p->open_windows[0][d][h] = 6;
        }
}

static void say_p90(double s)
{
    if (isfinite(s))
        printf(" %7.0f", s);
    else
        printf(" %7s", "never");
}

static int staffing(uint64_t *seeds, size_t nseeds, double target)
{
    static profile p;
    static staffing_advice adv;
    static staffcheck_result now, advised;
    static int cur[PROFILE_AREAS_MAX][7][24], want[PROFILE_AREAS_MAX][7][24];
    char err[160];

    example(&p);
    if (staffing_advise(&p, target, &adv, err, sizeof err) < 0) {
        fprintf(stderr, "hallsim: %s\n", err);
        return 1;
    }
    for (int d = 0; d < 7; d++)
        for (int h = 0; h < 24; h++) {
            cur[0][d][h] = adv.hour[0][d][h].current;
            want[0][d][h] = adv.hour[0][d][h].advised;
        }
    if (staffcheck_week(&p, cur, seeds, nseeds, &now, err, sizeof err) < 0 ||
        staffcheck_week(&p, want, seeds, nseeds, &advised, err, sizeof err) < 0) {
        fprintf(stderr, "hallsim: %s\n", err);
        return 1;
    }
    printf("target p90 %.0f s, service %.0f s, %zu simulated weeks\n", target, p.service_s[0],
           nseeds);
    printf("%-9s %8s | %7s %7s %7s | %7s %7s %7s | %s\n", "hour", "arrivals", "current", "erlang",
           "sim", "advised", "erlang", "sim", "misses");
    for (int d = 0; d < 7; d++)
        for (int h = 0; h < 24; h++) {
            const staffing_hour *x = &adv.hour[0][d][h];
            if (x->arrivals_per_h == 0)
                continue;
            printf("%s %02d:00 %8.1f | %7d", days[d], h, x->arrivals_per_h, x->current);
            say_p90(x->current_p90_s);
            say_p90(now.p90_s[0][d][h]);
            printf(" | %7d", x->advised);
            say_p90(x->advised_p90_s);
            say_p90(advised.p90_s[0][d][h]);
            printf(" | %s\n", x->misses ? "yes" : "");
        }
    printf("week p90: current");
    say_p90(now.week_p90_s[0]);
    printf(" s, advised");
    say_p90(advised.week_p90_s[0]);
    printf(" s\n");
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"seeds", required_argument, NULL, 's'},   {"rate", required_argument, NULL, 'r'},
        {"pattern", required_argument, NULL, 'p'}, {"target", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    const char *names[8];
    size_t nnames = 0, nseeds = 5;
    double rate = 60, target = STAFFING_TARGET_DEFAULT;
    uint64_t seeds[SEEDS_MAX];
    char *end;
    int opt;

    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 's':
            nseeds = strtoul(optarg, &end, 10);
            if (*end != '\0' || nseeds < 1 || nseeds > SEEDS_MAX) {
                fprintf(stderr, "hallsim: --seeds %s: 1 to %d\n", optarg, SEEDS_MAX);
                return 2;
            }
            break;
        case 'r':
            rate = strtod(optarg, &end);
            if (*end != '\0' || !(rate > 0 && rate <= 1000)) {
                fprintf(stderr, "hallsim: --rate %s: more than 0, at most 1000 an hour\n", optarg);
                return 2;
            }
            break;
        case 't':
            target = strtod(optarg, &end);
            if (*end != '\0' || !(target > 0 && target <= 86400)) {
                fprintf(stderr, "hallsim: --target %s: seconds, more than 0\n", optarg);
                return 2;
            }
            break;
        case 'p':
            if (scen_pattern_find(optarg) == NULL || nnames == sizeof names / sizeof names[0]) {
                fprintf(stderr, "hallsim: --pattern %s: unknown (or too many)\n", optarg);
                return 2;
            }
            names[nnames++] = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    for (size_t i = 0; i < nseeds; i++)
        seeds[i] = i + 1;
    if (nnames == 0)
        for (const scen_pattern *p; (p = scen_pattern_at(nnames)) != NULL;)
            names[nnames++] = p->name;
    if (optind == argc - 1 && strcmp(argv[optind], "backtest") == 0)
        return backtest(seeds, nseeds, rate, names, nnames);
    if (optind == argc - 1 && strcmp(argv[optind], "staffing") == 0)
        return staffing(seeds, nseeds, target);
    usage(stderr);
    return 2;
}
