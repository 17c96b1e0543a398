/*
 * hallctl_report — hallctl's report and indicators. See hallctl_report.h.
 */
#include "hallctl_report.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clk.h"
#include "halld_conf.h"
#include "stats.h"
#include "store.h"

#define DEFAULT_CONFIG "/etc/onewindow/halld.ini"
#define CONFIG_HELP    "  -c, --config FILE   the hall's halld.ini (default " DEFAULT_CONFIG ")\n"

/* The hall's configuration, zone and a read-only connection to its
 * database. */
struct reading {
    struct halld_conf conf;
    clk_zone *zone;
    store *st;
};

static void reading_close(struct reading *r)
{
    store_close(r->st);
    clk_zone_free(r->zone);
    halld_conf_release(&r->conf);
}

static int reading_open(struct reading *r, const char *config)
{
    char err[512];

    memset(r, 0, sizeof *r);
    if (halld_conf_load(&r->conf, config, err, sizeof err) < 0)
        return hallctl_fail("%s", err);
    if ((r->zone = clk_zone_new(r->conf.time_zone)) == NULL) {
        int e = errno;
        reading_close(r);
        return hallctl_fail("%s: [hall] time_zone %s: %s", config, r->conf.time_zone, strerror(e));
    }
    if ((r->st = store_open(r->conf.store_path, r->conf.hall_id, STORE_READER, err, sizeof err)) ==
        NULL) {
        reading_close(r);
        return hallctl_fail("%s", err);
    }
    return 0;
}

/* ==== report ===================================================================== */

#define REPORT_USAGE                                                                               \
    "hallctl report [-c FILE] [--from YYYYMMDD] [--to YYYYMMDD]\n"                                 \
    "                      [--by hour|day|week|month|area|matter|window|clerk]\n"                  \
    "                      [--format text|csv|json]"

static const char report_help[] =
    "Print the hall's figures from its event log (docs/statistics.md): per row\n"
    "the tickets issued, served, no-show, transferred, cancelled, issued offline\n"
    "and booked; the wait (issue to first call) and the service (start to\n"
    "finish), p50, p90 and max in seconds; the ratings and the satisfaction rate\n"
    "(levels 3 to 5 over all rated); then the total. Read beside a running halld.\n"
    "  --from, --to DAY    business days, YYYYMMDD (default: today, both)\n"
    "  --by KEY            one row per hour (hall-local, the days summed), day,\n"
    "                      ISO week, month, area, matter, window or clerk\n"
    "                      (default day)\n"
    "  --format F          text (default), csv or json (as GET /api/v1/report)\n" CONFIG_HELP;

static void pct(char *out, size_t len, double v)
{
    if (v < 0)
        snprintf(out, len, "-");
    else
        snprintf(out, len, "%.1f%%", v * 100);
}

static void text_row(const stats_row *r)
{
    char sat[16];

    pct(sat, sizeof sat, r->satisfaction);
    printf("%-12s %6llu %6llu %6llu %6llu %6llu %6llu %6llu %6u %6u %6u %6u %6u %6u %6llu %6s",
           r->key, (unsigned long long)r->issued, (unsigned long long)r->served,
           (unsigned long long)r->no_show, (unsigned long long)r->transferred,
           (unsigned long long)r->cancelled, (unsigned long long)r->offline,
           (unsigned long long)r->appointments, r->wait_p50_s, r->wait_p90_s, r->wait_max_s,
           r->service_p50_s, r->service_p90_s, r->service_max_s, (unsigned long long)r->rated, sat);
    printf("%s%s\n", r->name[0] ? "  " : "", r->name);
}

static void print_text(const stats_report *r)
{
    printf("report %d..%d by %s\n", (int)r->from, (int)r->to, stats_by_name(r->by));
    printf("%-12s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s\n", "key", "issued",
           "served", "noshow", "transf", "cancel", "offln", "appt", "w.p50", "w.p90", "w.max",
           "s.p50", "s.p90", "s.max", "rated", "satisf");
    for (size_t i = 0; i < r->nrows; i++)
        text_row(&r->rows[i]);
    text_row(&r->total);
    printf("wait histogram (%d s buckets, the last holds the rest):", STATS_HIST_BUCKET_S);
    for (int i = 0; i < STATS_HIST_BUCKETS; i++)
        printf(" %llu", (unsigned long long)r->hist[i]);
    printf("\n");
}

static int report_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int report_usage(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "hallctl: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: %s\n", REPORT_USAGE);
    return 2;
}

static int report(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"by", required_argument, NULL, 'b'},
        {"format", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = DEFAULT_CONFIG, *from_text = NULL, *to_text = NULL, *format = "text";
    int by = STATS_BY_DAY, opt;
    int32_t from = 0, to = 0;
    char err[512];

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'f':
            from_text = optarg;
            if (stats_day_parse(optarg, &from) < 0)
                return report_usage("--from %s: a day is YYYYMMDD, a real date", optarg);
            break;
        case 't':
            to_text = optarg;
            if (stats_day_parse(optarg, &to) < 0)
                return report_usage("--to %s: a day is YYYYMMDD, a real date", optarg);
            break;
        case 'b':
            if ((by = stats_by_parse(optarg)) < 0)
                return report_usage(
                    "--by %s: one of hour, day, week, month, area, matter, window, clerk", optarg);
            break;
        case 'o':
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "csv") != 0 &&
                strcmp(optarg, "json") != 0)
                return report_usage("--format %s: one of text, csv, json", optarg);
            format = optarg;
            break;
        case 'h':
            printf("usage: %s\n%s", REPORT_USAGE, report_help);
            return 0;
        default:
            fprintf(stderr, "usage: %s\n", REPORT_USAGE);
            return 2;
        }
    }
    if (optind != argc)
        return report_usage("unexpected argument %s", argv[optind]);

    struct reading rd;
    if (reading_open(&rd, config) != 0)
        return 1;
    if (to_text == NULL || from_text == NULL) {
        int32_t today =
            clk_date_key(clk_business_day(rd.zone, clk_utc_ms(), (int)rd.conf.rollover_hour));
        if (to_text == NULL)
            to = from_text != NULL && from > today ? from : today;
        if (from_text == NULL)
            from = to;
    }
    if (stats_range_check(from, to, err, sizeof err) < 0) {
        reading_close(&rd);
        return report_usage("%s", err);
    }
    stats_report *r = stats_report_run(rd.st, rd.zone, from, to, (stats_by)by, err, sizeof err);
    int rc = 0;
    if (r == NULL) {
        rc = hallctl_fail("%s", err);
    } else if (strcmp(format, "text") == 0) {
        print_text(r);
    } else if (strcmp(format, "csv") == 0) {
        char *csv = stats_report_csv(r);
        rc = csv != NULL ? (fputs(csv, stdout), 0) : hallctl_fail("out of memory");
        free(csv);
    } else {
        json_t *j = stats_report_json(r);
        rc = j != NULL && json_dumpf(j, stdout, JSON_INDENT(2)) == 0
                 ? (fputc('\n', stdout), 0)
                 : hallctl_fail("out of memory");
        json_decref(j);
    }
    stats_report_free(r);
    reading_close(&rd);
    if (rc == 0 && fflush(stdout) != 0)
        rc = hallctl_fail("cannot write the report: %s", strerror(errno));
    return rc;
}

/* ==== indicators ================================================================= */

#define INDICATORS_USAGE "hallctl indicators [-c FILE] [--format text|json]"

static const char indicators_help[] =
    "Print the reform's indicators from the catalog: the share of the matters\n"
    "accepted at one window (target 80 %) and doable online (target 95 %), for\n"
    "the hall and per area, with the matters that keep an area below target.\n"
    "  --format F          text (default) or json (as GET /api/v1/indicators)\n" CONFIG_HELP;

static void share_line(const char *what, const char *name, const stats_share *s)
{
    char ow[16], on[16];

    pct(ow, sizeof ow, s->one_window_share);
    pct(on, sizeof on, s->online_share);
    printf("%-16s %4zu matters  one-window %4zu %7s  online %4zu %7s%s%s\n", what, s->matters,
           s->one_window, ow, s->online, on, *name ? "  " : "", name);
}

static void print_indicators(const stats_indicators *ind)
{
    printf("targets: one-window %.0f%%, online %.0f%%\n", STATS_ONE_WINDOW_TARGET * 100,
           STATS_ONLINE_TARGET * 100);
    share_line("hall", "", &ind->hall);
    for (size_t i = 0; i < ind->nareas; i++) {
        const stats_area_ind *a = &ind->areas[i];
        share_line(a->area, a->name, &a->share);
        for (size_t k = 0; k < a->nbelow_one_window; k++)
            printf("  not one-window: %s %s\n", a->below_one_window[k].code,
                   a->below_one_window[k].name);
        for (size_t k = 0; k < a->nbelow_online; k++)
            printf("  not online:     %s %s\n", a->below_online[k].code, a->below_online[k].name);
    }
}

static int indicators(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"format", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = DEFAULT_CONFIG, *format = "text";
    char err[512];
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'o':
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "json") != 0) {
                fprintf(stderr, "hallctl: --format %s: one of text, json\nusage: %s\n", optarg,
                        INDICATORS_USAGE);
                return 2;
            }
            format = optarg;
            break;
        case 'h':
            printf("usage: %s\n%s", INDICATORS_USAGE, indicators_help);
            return 0;
        default:
            fprintf(stderr, "usage: %s\n", INDICATORS_USAGE);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "hallctl: unexpected argument %s\nusage: %s\n", argv[optind],
                INDICATORS_USAGE);
        return 2;
    }
    struct reading rd;
    if (reading_open(&rd, config) != 0)
        return 1;
    stats_indicators *ind = stats_indicators_run(rd.st, err, sizeof err);
    int rc = 0;
    if (ind == NULL) {
        rc = hallctl_fail("%s", err);
    } else if (strcmp(format, "json") == 0) {
        json_t *j = stats_indicators_json(ind);
        rc = j != NULL && json_dumpf(j, stdout, JSON_INDENT(2)) == 0
                 ? (fputc('\n', stdout), 0)
                 : hallctl_fail("out of memory");
        json_decref(j);
    } else {
        print_indicators(ind);
    }
    stats_indicators_free(ind);
    reading_close(&rd);
    return rc;
}

const hallctl_verb hallctl_report_verbs[] = {
    {"report", NULL, report,
     "print the hall's figures per hour, day, area, window ... (CSV, JSON)"},
    {"indicators", NULL, indicators, "print the one-window and online shares of the catalog"},
    {NULL, NULL, NULL, NULL},
};
