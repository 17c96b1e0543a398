/*
 * statsbench — how long the statistics of stats.h take on a year of a
 * busy hall (docs/performance.md, "Statistics over a year").
 *
 *   statsbench [--days N] [--tickets-per-day N] [--keep | --reports-only] DIR
 *
 * Builds, in DIR/hall.db, a year of working days (N days, Monday to
 * Friday from 2025-01-06): 8 areas, 84 windows with one clerk each, about
 * 8000 tickets a day arriving from 09:00 to 17:00, played on the real
 * queue engine (issue, print, call, start, finish; a no-show in 30 calls,
 * a rating for 7 services in 10) and written through the store's
 * functions as halld writes them, one transaction per day. Then it times,
 * on a read-only connection, the year's report by month and by area and
 * one day's report by hour, and prints the machine, the database's size
 * and the seconds. --reports-only times the reports again on the hall a
 * --keep run left. Not a test: run it by hand (bench/README.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clk.h"
#include "queue.h"
#include "stats.h"
#include "store.h"

#define HALL     "bench-hall"
#define NAREAS   8
#define NWINDOWS 84

/* ---- The journal: into the store, as halld writes it ----------------------- */

static store *st;
static unsigned long long nevents;

static void die(const char *what, const char *why)
{
    fprintf(stderr, "statsbench: %s: %s\n", what, why);
    exit(1);
}

static void j_ticket(void *ctx, const q_ticket *t)
{
    (void)ctx;
    if (store_put_ticket(st, t) < 0)
        die("ticket", store_errmsg(st));
}

static void j_window(void *ctx, const q_window *w)
{
    (void)ctx;
    if (store_put_window(st, w) < 0)
        die("window", store_errmsg(st));
}

static void j_event(void *ctx, const q_event *e)
{
    (void)ctx;
    if (store_append_event(st, e, "bench") < 0)
        die("event", store_errmsg(st));
    nevents++;
}

/* ---- The day's actions, in time order -------------------------------------- */

enum act { A_ISSUE, A_CALL, A_START, A_FINISH };

struct action {
    int64_t t;
    enum act what;
    uint32_t window;
    uint64_t ticket;
};

static struct action *heap;
static size_t nheap, capheap;

static void push(struct action a)
{
    if (nheap == capheap) {
        capheap = capheap ? capheap * 2 : 4096;
        if ((heap = realloc(heap, capheap * sizeof *heap)) == NULL)
            die("memory", strerror(errno));
    }
    size_t i = nheap++;
    while (i > 0 && heap[(i - 1) / 2].t > a.t) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = a;
}

static struct action pop(void)
{
    struct action top = heap[0], last = heap[--nheap];
    size_t i = 0;

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= nheap)
            break;
        if (c + 1 < nheap && heap[c + 1].t < heap[c].t)
            c++;
        if (heap[c].t >= last.t)
            break;
        heap[i] = heap[c];
        i = c;
    }
    if (nheap > 0)
        heap[i] = last;
    return top;
}

static uint64_t rng = 88172645463325252u;

static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static double expo(double mean)
{
    double u = uniform();
    return -mean * __builtin_log(u > 1e-12 ? u : 1e-12);
}

/* Mostly satisfied, as halls report: 55 % level 5, 30 % 4, 10 % 3, 3 % 2,
 * 2 % 1. */
static int rating(void)
{
    double u = uniform();
    return u < 0.02 ? 1 : u < 0.05 ? 2 : u < 0.15 ? 3 : u < 0.45 ? 4 : 5;
}

static const char *const area_codes[NAREAS] = {"A", "B", "C", "D", "E", "F", "G", "H"};

static void play_day(queue *q, const clk_zone *zone, int64_t day_start, int tickets)
{
    const int64_t open = day_start + 9 * 3600000LL, close = day_start + 17 * 3600000LL;
    q_error err;
    const q_ticket *t;
    char why[Q_REASON_MAX];

    (void)zone;
    queue_tick(q, open - 3600000);
    for (int i = 0; i < tickets; i++)
        push((struct action){open + (int64_t)(uniform() * (double)(close - open)), A_ISSUE,
                             (uint32_t)(uniform() * NAREAS), 0});
    for (uint32_t w = 1; w <= NWINDOWS; w++)
        push((struct action){open + (int64_t)w * 1000, A_CALL, w, 0});
    while (nheap > 0) {
        struct action a = pop();
        switch (a.what) {
        case A_ISSUE: {
            q_issue req = {.area = area_codes[a.window],
                           .matter = "",
                           .kiosk = "kiosk-01",
                           .priority = uniform() < 0.05 ? Q_GREEN : Q_NORMAL};
            if (queue_issue(q, &req, a.t, &t, &err) < 0 ||
                queue_printed(q, t->id, a.t, &t, &err) < 0)
                die("issue", err.message);
            break;
        }
        case A_CALL:
            if (a.t > close + 3600000) /* the day's last hour is over */
                break;
            if (queue_call_next(q, a.window, a.t, &t, why, &err) < 0) {
                if (err.code != QERR_QUEUE_EMPTY)
                    die("call", err.message);
                push((struct action){a.t + 30000, A_CALL, a.window, 0});
            } else if (uniform() < 1.0 / 30) {
                if (queue_no_show(q, a.window, t->id, a.t + 60000, &t, &err) < 0)
                    die("no-show", err.message);
                push((struct action){a.t + 61000, A_CALL, a.window, 0});
            } else {
                push((struct action){a.t + 20000 + (int64_t)(uniform() * 40000), A_START, a.window,
                                     t->id});
            }
            break;
        case A_START:
            if (queue_start(q, a.window, a.ticket, a.t, &t, &err) < 0)
                die("start", err.message);
            push(
                (struct action){a.t + 60000 + (int64_t)expo(330000), A_FINISH, a.window, a.ticket});
            break;
        case A_FINISH:
            if (queue_finish(q, a.window, a.ticket, a.t, &t, &err) < 0)
                die("finish", err.message);
            if (uniform() < 0.7 &&
                queue_rate(q, a.window, a.ticket, rating(), a.t + 5000, &t, &err) < 0)
                die("rate", err.message);
            push((struct action){a.t + 10000, A_CALL, a.window, 0});
            break;
        }
    }
}

/* ---- Timing ---------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double timed_report(store *rd, const clk_zone *zone, int32_t from, int32_t to, stats_by by,
                           unsigned long long *issued)
{
    char err[256];
    double t0 = now_s();
    stats_report *r = stats_report_run(rd, zone, from, to, by, err, sizeof err);
    double t = now_s() - t0;

    if (r == NULL)
        die("report", err);
    *issued = (unsigned long long)r->total.issued;
    stats_report_free(r);
    return t;
}

static void machine(void)
{
    char line[512], model[256] = "?";
    FILE *f = fopen("/proc/cpuinfo", "r");

    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "model name", 10) == 0) {
            snprintf(model, sizeof model, "%s", strchr(line, ':') + 2);
            model[strcspn(model, "\n")] = '\0';
            break;
        }
    if (f != NULL)
        fclose(f);
    char load[128] = "?";
    if ((f = fopen("/proc/loadavg", "r")) != NULL) {
        if (fgets(load, sizeof load, f) != NULL)
            load[strcspn(load, "\n")] = '\0';
        fclose(f);
    }
    printf("machine: %s, %ld cores online, load average %s\n", model, sysconf(_SC_NPROCESSORS_ONLN),
           load);
}

#define FIRST_DAY_MS 1736092800000 /* 2025-01-06 00:00 +08:00, a Monday */

/* The first, middle and last of the working days the hall is built on. */
static void working_days(const clk_zone *zone, int days, int32_t *first, int32_t *mid,
                         int32_t *last)
{
    int64_t day_start = FIRST_DAY_MS;

    for (int d = 0; d < days; day_start += 86400000) {
        clk_civil c;
        clk_to_civil(zone, day_start + 12 * 3600000, &c);
        if (c.wday == 0 || c.wday == 6)
            continue;
        *last = c.year * 10000 + c.month * 100 + c.day;
        if (d == 0)
            *first = *last;
        if (d == days / 2)
            *mid = *last;
        d++;
    }
}

/* Build the hall's year in db: the seconds it took. */
static double build_hall(const char *db, const clk_zone *zone, int days, int per_day,
                         uint64_t *max_id)
{
    char err[512];

    unlink(db);
    if ((st = store_open(db, HALL, STORE_DAEMON, err, sizeof err)) == NULL)
        die(db, err);

    q_policy pol = {.green_boost_ms = 1800000,
                    .appointment_boost_ms = 900000,
                    .appointment_early_ms = 600000,
                    .max_recalls = 2,
                    .reserve_ms = 60000,
                    .rollover_hour = 3,
                    .number_digits = 4,
                    .lease_first = 5000,
                    .lease_band = 4000,
                    .lease_block = 50};
    q_journal j = {j_ticket, j_window, NULL, j_event, NULL};
    queue *q = queue_new(&pol, zone, &j);
    if (q == NULL)
        die("queue", strerror(errno));
    q_area areas[NAREAS];
    memset(areas, 0, sizeof areas);
    for (int a = 0; a < NAREAS; a++) {
        snprintf(areas[a].code, sizeof areas[a].code, "%s", area_codes[a]);
        snprintf(areas[a].name, sizeof areas[a].name, "区域 %s", area_codes[a]);
        snprintf(areas[a].prefix, sizeof areas[a].prefix, "%s", area_codes[a]);
        areas[a].general = a == 0;
    }
    if (store_replace_catalog(st, areas, NAREAS, NULL, 0, 0) < 0)
        die("catalog", store_errmsg(st));
    q_error qe;
    for (int a = 0; a < NAREAS; a++)
        if (queue_add_area(q, &areas[a], &qe) < 0)
            die("area", qe.message);
    int64_t first = FIRST_DAY_MS;
    for (uint32_t no = 1; no <= NWINDOWS; no++) {
        q_window w = {.no = no, .type = QW_INTAKE, .state = QW_CLOSED, .nareas = 1};
        snprintf(w.name, sizeof w.name, "窗口 %u", no);
        snprintf(w.areas[0], sizeof w.areas[0], "%s", area_codes[(no - 1) % NAREAS]);
        w.weights[0] = 1;
        store_clerk c = {.active = true};
        snprintf(c.id, sizeof c.id, "c-%u", no);
        snprintf(c.name, sizeof c.name, "办事员 %u", no);
        if (store_save_window(st, &w) < 0 || store_save_clerk(st, &c) < 0)
            die("window", store_errmsg(st));
        if (queue_add_window(q, &w, &qe) < 0 ||
            queue_sign_in(q, no, c.id, first + 8 * 3600000, &qe) < 0)
            die("window", qe.message);
    }

    double t0 = now_s();
    int64_t day_start = first;
    for (int d = 0; d < days; day_start += 86400000) {
        clk_civil c;
        clk_to_civil(zone, day_start + 12 * 3600000, &c);
        if (c.wday == 0 || c.wday == 6)
            continue;
        if (store_begin(st) < 0)
            die("begin", store_errmsg(st));
        play_day(q, zone, day_start, per_day);
        if (store_commit(st) < 0)
            die("commit", store_errmsg(st));
        d++;
    }
    double build = now_s() - t0;
    store_max_ticket_id(st, max_id);
    queue_free(q);
    store_close(st);
    return build;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"days", required_argument, NULL, 'd'},
        {"tickets-per-day", required_argument, NULL, 't'},
        {"keep", no_argument, NULL, 'k'},
        {"reports-only", no_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    int days = 250, per_day = 8000, opt;
    bool keep = false, reports_only = false;
    char err[512], db[4096];

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'd')
            days = atoi(optarg);
        else if (opt == 't')
            per_day = atoi(optarg);
        else if (opt == 'k')
            keep = true;
        else if (opt == 'r')
            reports_only = keep = true;
        else
            return 2;
    }
    if (optind + 1 != argc || days < 1 || days > 366 || per_day < 1) {
        fprintf(stderr, "usage: statsbench [--days N] [--tickets-per-day N] [--keep | "
                        "--reports-only] DIR\n");
        return 2;
    }
    snprintf(db, sizeof db, "%s/hall.db", argv[optind]);
    clk_zone *zone = clk_zone_new("Asia/Shanghai");
    if (zone == NULL)
        die("Asia/Shanghai", strerror(errno));
    int32_t first_day = 0, last_day = 0, mid_day = 0;
    double build = 0;
    uint64_t max_id = 0;
    if (!reports_only)
        build = build_hall(db, zone, days, per_day, &max_id);
    working_days(zone, days, &first_day, &mid_day, &last_day);

    struct stat sb;
    if (stat(db, &sb) < 0)
        die(db, strerror(errno));
    machine();
    if (reports_only)
        printf("hall: %d working days %d..%d, as built before\n", days, (int)first_day,
               (int)last_day);
    else
        printf("hall: %d working days %d..%d, %llu tickets, %llu events, %d windows, %d areas\n",
               days, (int)first_day, (int)last_day, (unsigned long long)max_id, nevents, NWINDOWS,
               NAREAS);
    printf("database: %.0f MiB (%lld bytes)", (double)sb.st_size / 1048576.0,
           (long long)sb.st_size);
    if (!reports_only)
        printf(", built in %.0f s", build);
    printf("\n");

    store *rd = store_open(db, HALL, STORE_READER, err, sizeof err);
    if (rd == NULL)
        die(db, err);
    unsigned long long issued;
    double s = timed_report(rd, zone, first_day, last_day, STATS_BY_MONTH, &issued);
    printf("year report by month: %.2f s (%llu tickets issued)\n", s, issued);
    s = timed_report(rd, zone, first_day, last_day, STATS_BY_AREA, &issued);
    printf("year report by area: %.2f s (%llu tickets issued)\n", s, issued);
    s = timed_report(rd, zone, first_day, last_day, STATS_BY_HOUR, &issued);
    printf("year report by hour: %.2f s (%llu tickets issued)\n", s, issued);
    s = timed_report(rd, zone, mid_day, mid_day, STATS_BY_HOUR, &issued);
    printf("day report by hour (%d): %.3f s (%llu tickets issued)\n", (int)mid_day, s, issued);
    s = timed_report(rd, zone, last_day, last_day, STATS_BY_WINDOW, &issued);
    printf("day report by window (%d): %.3f s (%llu tickets issued)\n", (int)last_day, s, issued);
    store_close(rd);
    clk_zone_free(zone);
    if (!keep) {
        char side[4200];
        unlink(db);
        snprintf(side, sizeof side, "%s-wal", db);
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", db);
        unlink(side);
        snprintf(side, sizeof side, "%s.lock", db);
        unlink(side);
    }
    free(heap);
    return 0;
}
