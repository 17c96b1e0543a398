/*
 * seed — see seed.h.
 *
 * Days are indexed back from today: day 0 is today's business day, day k
 * the k-th before it. For each (day, area) seeding keeps the next
 * sequence number to hand out, started past the highest one the store
 * already holds.
 */
#include "seed.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clk.h"
#include "halld_conf.h"
#include "lat.h"
#include "queue.h"
#include "store.h"

#define SEED_MAX_AREAS 64
#define SEED_DAYS      (SEED_HISTORY_DAYS + 1)
#define SEED_DEVICE    "hallbench"
#define HOUR_MS        (3600LL * 1000)
#define DAY_MS         (24 * HOUR_MS)

struct seed {
    store *s;
    q_policy pol;
    q_area areas[SEED_MAX_AREAS];
    size_t nareas;
    bool too_many_areas;
    int32_t day[SEED_DAYS];       /* yyyymmdd */
    int64_t day_start[SEED_DAYS]; /* UTC ms of the day's rollover */
    uint32_t next_seq[SEED_DAYS][SEED_MAX_AREAS];
    uint64_t next_id;
    size_t in_batch; /* tickets written in the open transaction */
};

static int add_area(void *arg, const q_area *a)
{
    struct seed *sd = arg;

    if (sd->nareas == SEED_MAX_AREAS) {
        sd->too_many_areas = true;
        return 1;
    }
    sd->areas[sd->nareas++] = *a;
    return 0;
}

/* Move the sequences past an existing ticket of one of our days. */
static int note_ticket(void *arg, const q_ticket *t)
{
    struct seed *sd = arg;

    for (int d = 0; d < SEED_DAYS; d++) {
        if (sd->day[d] != t->day)
            continue;
        for (size_t a = 0; a < sd->nareas; a++)
            if (strcmp(sd->areas[a].code, t->area) == 0 && t->seq >= sd->next_seq[d][a])
                sd->next_seq[d][a] = t->seq == UINT32_MAX ? UINT32_MAX : t->seq + 1;
        break;
    }
    return 0;
}

/* The business days and their starts, today and back. */
static void find_days(struct seed *sd, const clk_zone *zone, int64_t now)
{
    int hour = sd->pol.rollover_hour;
    /* The first rollover after "a day ago" is the start of today's
     * business day; each earlier one is found the same way from half a
     * day before it, which holds across daylight-saving changes. */
    int64_t start = clk_next_rollover(zone, now - DAY_MS, hour);

    for (int d = 0; d < SEED_DAYS; d++) {
        if (d > 0)
            start = clk_next_rollover(zone, sd->day_start[d - 1] - DAY_MS - 12 * HOUR_MS, hour);
        sd->day_start[d] = start;
        sd->day[d] = clk_date_key(clk_business_day(zone, start + HOUR_MS, hour));
    }
}

/* The next number of area a on day d, past the offline lease band. */
static int next_number(struct seed *sd, int d, size_t a, q_ticket *t, char *err, size_t errlen)
{
    uint64_t seq = sd->next_seq[d][a];
    uint64_t band_end = (uint64_t)sd->pol.lease_first + sd->pol.lease_band;

    if (seq >= sd->pol.lease_first && seq < band_end)
        seq = band_end;
    if (seq >= UINT32_MAX) {
        snprintf(err, errlen, "area %s has run out of numbers on %d", sd->areas[a].code,
                 (int)sd->day[d]);
        return -1;
    }
    int n = snprintf(t->number, sizeof t->number, "%s%0*" PRIu32, sd->areas[a].prefix,
                     (int)sd->pol.number_digits, (uint32_t)seq);
    if (n < 0 || (size_t)n >= sizeof t->number) {
        snprintf(err, errlen, "number %" PRIu64 " of area %s is too long for a ticket", seq,
                 sd->areas[a].code);
        return -1;
    }
    t->seq = (uint32_t)seq;
    sd->next_seq[d][a] = (uint32_t)seq + 1;
    return 0;
}

/* Write one ticket, committing every SEED_BATCH. */
static int put(struct seed *sd, const q_ticket *t, char *err, size_t errlen)
{
    if (store_put_ticket(sd->s, t) < 0 ||
        (++sd->in_batch == SEED_BATCH && (store_commit(sd->s) < 0 || store_begin(sd->s) < 0))) {
        snprintf(err, errlen, "%s", store_errmsg(sd->s));
        return -1;
    }
    if (sd->in_batch == SEED_BATCH)
        sd->in_batch = 0;
    return 0;
}

/* A ticket of day d, area a, issued at issued, in state state. */
static int make(struct seed *sd, int d, size_t a, int64_t issued, q_state state, char *err,
                size_t errlen)
{
    q_ticket t;

    memset(&t, 0, sizeof t);
    if (next_number(sd, d, a, &t, err, errlen) < 0)
        return -1;
    t.id = sd->next_id++;
    t.day = sd->day[d];
    memcpy(t.area, sd->areas[a].code, sizeof t.area);
    t.state = state;
    t.priority = Q_NORMAL;
    t.issued_ms = issued;
    /* A finished ticket took twenty minutes, well inside its day. */
    t.state_ms = state == Q_DONE ? issued + 20 * 60 * 1000 : issued;
    snprintf(t.kiosk, sizeof t.kiosk, "%s", SEED_DEVICE);
    return put(sd, &t, err, errlen);
}

static int write_tickets(struct seed *sd, uint64_t waiting, uint64_t history, int64_t now,
                         char *err, size_t errlen)
{
    /* History first, oldest day first, so ids grow with time. A day's
     * tickets are issued between 6 and 15 hours after its rollover. */
    for (int d = SEED_HISTORY_DAYS; d >= 1; d--) {
        uint64_t n =
            history / SEED_HISTORY_DAYS + ((uint64_t)(d - 1) < history % SEED_HISTORY_DAYS);
        for (uint64_t i = 0; i < n; i++) {
            int64_t at = sd->day_start[d] + 6 * HOUR_MS + (int64_t)(i * (9 * HOUR_MS) / n);
            if (make(sd, d, (size_t)(i % sd->nareas), at, Q_DONE, err, errlen) < 0)
                return -1;
        }
    }
    /* Today's queue, over the last four hours (or since the rollover). */
    int64_t from = now - 4 * HOUR_MS, to = now - 1000;
    if (from < sd->day_start[0])
        from = sd->day_start[0];
    if (to < from)
        to = from;
    for (uint64_t i = 0; i < waiting; i++) {
        int64_t at = from + (int64_t)((double)(to - from) * (double)i / (double)waiting);
        if (make(sd, 0, (size_t)(i % sd->nareas), at, Q_WAITING, err, errlen) < 0)
            return -1;
    }
    return 0;
}

int seed_run(const char *config, uint64_t waiting, uint64_t history, double *seconds, char *err,
             size_t errlen)
{
    struct halld_conf conf = {0};
    struct seed *sd = calloc(1, sizeof *sd);
    clk_zone *zone = NULL;
    int64_t t0 = lat_now_ns();
    int rc = -1;

    if (sd == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (halld_conf_load(&conf, config, err, errlen) < 0)
        goto out;
    long pid = store_locked_by(conf.store_path);
    if (pid != 0) {
        if (pid > 0)
            snprintf(err, errlen, "halld (pid %ld) is running on %s: stop it first", pid,
                     conf.store_path);
        else
            snprintf(err, errlen, "a controller holds %s: stop it first", conf.store_path);
        goto out;
    }
    if ((zone = clk_zone_new(conf.time_zone)) == NULL) {
        snprintf(err, errlen, "%s: time zone %s: %s", config, conf.time_zone, strerror(errno));
        goto out;
    }
    halld_conf_policy(&conf, &sd->pol);
    if ((sd->s = store_open(conf.store_path, conf.hall_id, STORE_ADMIN, err, errlen)) == NULL)
        goto out;
    if (store_load_areas(sd->s, add_area, sd) < 0 && !sd->too_many_areas) {
        snprintf(err, errlen, "%s", store_errmsg(sd->s));
        goto out;
    }
    if (sd->too_many_areas || sd->nareas == 0) {
        snprintf(err, errlen,
                 sd->nareas ? "the catalog has more than %d areas"
                            : "the hall has no areas: import a catalog first (hallctl catalog "
                              "import)",
                 SEED_MAX_AREAS);
        goto out;
    }
    int64_t now = clk_utc_ms();
    find_days(sd, zone, now);
    for (int d = 0; d < SEED_DAYS; d++)
        for (size_t a = 0; a < sd->nareas; a++)
            sd->next_seq[d][a] = 1;
    uint64_t max_id = 0;
    if (store_load_tickets(sd->s, sd->day[SEED_HISTORY_DAYS], note_ticket, sd) < 0 ||
        store_max_ticket_id(sd->s, &max_id) < 0) {
        snprintf(err, errlen, "%s", store_errmsg(sd->s));
        goto out;
    }
    sd->next_id = max_id + 1;

    if (store_begin(sd->s) < 0) {
        snprintf(err, errlen, "%s", store_errmsg(sd->s));
        goto out;
    }
    if (write_tickets(sd, waiting, history, now, err, errlen) < 0) {
        store_rollback(sd->s);
        goto out;
    }
    if (store_commit(sd->s) < 0) {
        snprintf(err, errlen, "%s", store_errmsg(sd->s));
        goto out;
    }
    char what[160];
    snprintf(what, sizeof what, "seeded %" PRIu64 " waiting and %" PRIu64 " history tickets",
             waiting, history);
    if (store_append_admin_event(sd->s, now, sd->day[0], SEED_DEVICE, SEED_DEVICE, what) < 0) {
        snprintf(err, errlen, "%s", store_errmsg(sd->s));
        goto out;
    }
    *seconds = (double)(lat_now_ns() - t0) / 1e9;
    rc = 0;
out:
    store_close(sd->s);
    clk_zone_free(zone);
    halld_conf_release(&conf);
    free(sd);
    return rc;
}
