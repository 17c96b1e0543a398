/*
 * stats — the hall's figures from its event log (docs/statistics.md): per
 * hour, day, week, month, area, matter, window or clerk, the tickets
 * issued, served, no-show, transferred, cancelled, offline-issued and
 * booked; the wait and the service time (p50, p90, max); the ratings and
 * the satisfaction rate; a histogram of the waits. And the reform's
 * indicators from the catalog: the shares of matters accepted at one
 * window and doable online, for the hall and per area. And the profile
 * (profile.h) staffing advice reads.
 *
 * Everything is read on a read-only store (STORE_READER) inside one read
 * transaction, through store_scan_events() and the catalog loaders, and
 * aggregated here in C: never in halld's loop. Errors: NULL or -1 with a
 * reason in err; nothing is printed.
 *
 * Definitions, as docs/statistics.md says them: issued counts ISSUED and
 * OFFLINE_JOINED events (a reservation voided later counts too); served,
 * FINISHED; the wait is a ticket's first call's (issue to first call);
 * the service, start to finish; an event counts in the bucket of its own
 * time (hour: hall-local hour of the event; day, week (ISO), month: its
 * business day) and of its own area, matter, window and clerk. A
 * percentile is the nearest rank over whole seconds. Satisfaction =
 * ratings 3..5 over all ratings, none when nothing was rated.
 */
#ifndef ONEWINDOW_STATS_H
#define ONEWINDOW_STATS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "clk.h"
#include "profile.h"
#include "store.h"

typedef enum stats_by {
    STATS_BY_HOUR,
    STATS_BY_DAY,
    STATS_BY_WEEK,
    STATS_BY_MONTH,
    STATS_BY_AREA,
    STATS_BY_MATTER,
    STATS_BY_WINDOW,
    STATS_BY_CLERK,
} stats_by;

#define STATS_HIST_BUCKETS  13  /* 5-minute buckets of the wait; the last holds the rest */
#define STATS_HIST_BUCKET_S 300 /* seconds per bucket */
#define STATS_KEY_MAX       40
#define STATS_MAX_DAYS      3660 /* the longest range a report covers */

typedef struct stats_row {
    char key[STATS_KEY_MAX];   /* "09", "2026-12-07", "2026-W49", "2026-12", a code, a number */
    char name[Q_NAME_MAX * 2]; /* area, matter, window or clerk name; "" if none */
    uint64_t issued, served, no_show, transferred, cancelled, offline, appointments;
    uint64_t waits, services; /* how many waits and services were measured */
    uint32_t wait_p50_s, wait_p90_s, wait_max_s;
    uint32_t service_p50_s, service_p90_s, service_max_s;
    uint64_t ratings[5]; /* level 1..5 */
    uint64_t rated;
    double satisfaction; /* (levels 3..5) / rated; negative when rated is 0 */
} stats_row;

typedef struct stats_report {
    int32_t from, to; /* business days, yyyymmdd */
    stats_by by;
    size_t nrows;
    stats_row *rows; /* in key order (windows by number) */
    stats_row total; /* key "total" */
    uint64_t hist[STATS_HIST_BUCKETS];
} stats_report;

/* "hour", "day", ... and back: -1 for an unknown name. */
int stats_by_parse(const char *name);
const char *stats_by_name(stats_by by);
/* A business day written YYYYMMDD, a real date: 0 and *out, or -1. */
int stats_day_parse(const char *text, int32_t *out);
/* Whether from..to is a range a report covers (from <= to, at most
 * STATS_MAX_DAYS days): 0, or -1 with the reason in err. */
int stats_range_check(int32_t from, int32_t to, char *err, size_t errlen);

/* The report of business days from..to, by one key; zone is the hall's
 * (hall-local hours). The caller's to stats_report_free(). */
stats_report *stats_report_run(store *reader, const clk_zone *zone, int32_t from, int32_t to,
                               stats_by by, char *err, size_t errlen);
void stats_report_free(stats_report *r);
/* The report as docs/api.md shows it (GET /api/v1/report); NULL if out of
 * memory. */
json_t *stats_report_json(const stats_report *r);
/* The same figures as CSV (RFC 4180, a header line, the rows, then the
 * total): a string of the caller's to free(), NULL if out of memory. */
char *stats_report_csv(const stats_report *r);

/* The reform's indicators (docs/statistics.md). */
#define STATS_ONE_WINDOW_TARGET 0.80
#define STATS_ONLINE_TARGET     0.95

typedef struct stats_matter_ref {
    char code[Q_CODE_MAX];
    char name[Q_NAME_MAX * 2];
} stats_matter_ref;

typedef struct stats_share {
    size_t matters, one_window, online;
    double one_window_share, online_share; /* negative when matters is 0 */
} stats_share;

typedef struct stats_area_ind {
    char area[Q_CODE_MAX];
    char name[Q_NAME_MAX];
    stats_share share;
    /* The area's matters not in one-window acceptance, when its share is
     * below target (else none); the same for online. */
    size_t nbelow_one_window, nbelow_online;
    stats_matter_ref *below_one_window, *below_online;
} stats_area_ind;

typedef struct stats_indicators {
    stats_share hall;
    size_t nareas;
    stats_area_ind *areas; /* active areas, in catalog order */
} stats_indicators;

stats_indicators *stats_indicators_run(store *reader, char *err, size_t errlen);
void stats_indicators_free(stats_indicators *ind);
json_t *stats_indicators_json(const stats_indicators *ind);

/* Arrivals (tickets issued) and open windows per area, weekday (0 =
 * Sunday) and hall-local hour, the mean over the weeks of from..to, and
 * each area's mean service time (profile.h). A window counts as open for
 * each area it serves (by today's window set-up) while a clerk is signed
 * in and it is not paused. Areas past PROFILE_AREAS_MAX are left out. */
int stats_load_profile(store *reader, int32_t from_day, int32_t to_day, profile *out, char *err,
                       size_t errlen);
/* The same in the hall's zone: stats_load_profile() counts hours in
 * Asia/Shanghai, the zone of the halls it serves. */
int stats_load_profile_zone(store *reader, const clk_zone *zone, int32_t from_day, int32_t to_day,
                            profile *out, char *err, size_t errlen);

#endif
