/*
 * stats — the hall's figures from its event log. See stats.h.
 *
 * Layout: dates (days, ISO weeks); the groups of a report and their
 * values; the scan; percentiles and rows; JSON and CSV; the indicators;
 * the profile.
 */
#include "stats.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Dates ---------------------------------------------------------------- */

static int64_t day_number(int32_t key)
{
    return clk_date_days((clk_date){key / 10000, key / 100 % 100, key % 100});
}

/* ISO 8601 week: the week belongs to the year of its Thursday. */
static void iso_week(int32_t key, int *year, int *week)
{
    int64_t days = day_number(key);
    int wd = (clk_days_weekday(days) + 6) % 7; /* Monday 0 */
    int64_t thursday = days - wd + 3;
    clk_date t = clk_days_date(thursday);

    *year = t.year;
    *week = (int)((thursday - clk_date_days((clk_date){t.year, 1, 1})) / 7 + 1);
}

int stats_day_parse(const char *text, int32_t *out)
{
    int y, m, d;

    if (text == NULL || strlen(text) != 8 || strspn(text, "0123456789") != 8)
        return -1;
    y = (text[0] - '0') * 1000 + (text[1] - '0') * 100 + (text[2] - '0') * 10 + (text[3] - '0');
    m = (text[4] - '0') * 10 + (text[5] - '0');
    d = (text[6] - '0') * 10 + (text[7] - '0');
    if (y < 1970 || m < 1 || m > 12 || d < 1)
        return -1;
    clk_date back = clk_days_date(clk_date_days((clk_date){y, m, d}));
    if (back.year != y || back.month != m || back.day != d) /* 20260230 */
        return -1;
    *out = y * 10000 + m * 100 + d;
    return 0;
}

int stats_range_check(int32_t from, int32_t to, char *err, size_t errlen)
{
    if (from > to) {
        snprintf(err, errlen, "from %d is after to %d", (int)from, (int)to);
        return -1;
    }
    if (day_number(to) - day_number(from) + 1 > STATS_MAX_DAYS) {
        snprintf(err, errlen, "from %d to %d is more than %d days", (int)from, (int)to,
                 STATS_MAX_DAYS);
        return -1;
    }
    return 0;
}

static const char *const by_names[] = {"hour", "day",    "week",   "month",
                                       "area", "matter", "window", "clerk"};

int stats_by_parse(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof by_names / sizeof by_names[0]; i++)
        if (strcmp(name, by_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *stats_by_name(stats_by by)
{
    return (unsigned)by < sizeof by_names / sizeof by_names[0] ? by_names[by] : "?";
}

/* ---- Groups --------------------------------------------------------------- */

/* Whole seconds, the unit of every percentile. */
struct values {
    uint32_t *v;
    size_t n, cap;
};

struct group {
    stats_row row;
    struct values wait, service;
};

struct scan {
    const clk_zone *zone;
    stats_by by;
    struct group total;
    struct group *g;
    size_t ng, gcap;
    size_t *slot; /* open addressing over g by key: index + 1, 0 empty */
    size_t nslot;
    uint64_t hist[STATS_HIST_BUCKETS];
    bool nomem;
    /* The last time-keyed group (the log is in time order, so most events
     * fall in the group of the one before): its index + 1 (0 none), for
     * the business day last_day, or the UTC range [hour_lo, hour_hi) of
     * its local hour. */
    size_t last_g;
    int32_t last_day;
    int64_t hour_lo, hour_hi;
};

static int values_add(struct values *vs, int64_t ms)
{
    if (vs->n == vs->cap) {
        size_t cap = vs->cap ? vs->cap * 2 : 64;
        uint32_t *v = realloc(vs->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        vs->v = v;
        vs->cap = cap;
    }
    int64_t s = ms / 1000;
    vs->v[vs->n++] = s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
    return 0;
}

static uint64_t key_hash(const char *k)
{
    uint64_t h = 1469598103934665603u;

    for (; *k; k++)
        h = (h ^ (uint8_t)*k) * 1099511628211u;
    return h;
}

static int grow_slots(struct scan *sc)
{
    size_t n = sc->nslot ? sc->nslot * 2 : 64;
    size_t *slot = calloc(n, sizeof *slot);

    if (slot == NULL)
        return -1;
    for (size_t i = 0; i < sc->ng; i++) {
        size_t j = key_hash(sc->g[i].row.key) & (n - 1);
        while (slot[j] != 0)
            j = (j + 1) & (n - 1);
        slot[j] = i + 1;
    }
    free(sc->slot);
    sc->slot = slot;
    sc->nslot = n;
    return 0;
}

static struct group *group_of(struct scan *sc, const char *key)
{
    if (sc->ng * 2 >= sc->nslot && grow_slots(sc) < 0)
        return NULL;
    size_t j = key_hash(key) & (sc->nslot - 1);
    for (; sc->slot[j] != 0; j = (j + 1) & (sc->nslot - 1))
        if (strcmp(sc->g[sc->slot[j] - 1].row.key, key) == 0)
            return &sc->g[sc->slot[j] - 1];
    if (sc->ng == sc->gcap) {
        size_t cap = sc->gcap ? sc->gcap * 2 : 32;
        struct group *g = realloc(sc->g, cap * sizeof *g);
        if (g == NULL)
            return NULL;
        sc->g = g;
        sc->gcap = cap;
    }
    struct group *g = &sc->g[sc->ng];
    memset(g, 0, sizeof *g);
    snprintf(g->row.key, sizeof g->row.key, "%s", key);
    sc->slot[j] = ++sc->ng;
    return g;
}

/* A code as a key, cut to fit (codes are shorter): snprintf's cost at
 * every event shows in a year's report. */
static void copy_key(char *key, size_t len, const char *code)
{
    size_t n = strnlen(code, len - 1);

    memcpy(key, code, n);
    key[n] = '\0';
}

/* The key of e's group; "" when e has none (an issue by window). */
static void key_of(const struct scan *sc, const store_event_row *e, char *key, size_t len)
{
    int y, w;
    clk_civil c;

    switch (sc->by) {
    case STATS_BY_HOUR:
        clk_to_civil(sc->zone, e->at_ms, &c);
        snprintf(key, len, "%02d", c.hour);
        break;
    case STATS_BY_DAY:
        snprintf(key, len, "%04d-%02d-%02d", (int)(e->day / 10000), (int)(e->day / 100 % 100),
                 (int)(e->day % 100));
        break;
    case STATS_BY_WEEK:
        iso_week(e->day, &y, &w);
        snprintf(key, len, "%04d-W%02d", y, w);
        break;
    case STATS_BY_MONTH:
        snprintf(key, len, "%04d-%02d", (int)(e->day / 10000), (int)(e->day / 100 % 100));
        break;
    case STATS_BY_AREA:
        copy_key(key, len, e->area);
        break;
    case STATS_BY_MATTER:
        copy_key(key, len, e->matter);
        break;
    case STATS_BY_WINDOW:
        if (e->window_no != 0)
            snprintf(key, len, "%u", e->window_no);
        else
            *key = '\0';
        break;
    case STATS_BY_CLERK:
        copy_key(key, len, e->clerk);
        break;
    }
}

static int count(struct group *g, const store_event_row *e)
{
    stats_row *r = &g->row;

    switch (e->kind) {
    case QE_ISSUED:
        r->issued++;
        r->appointments += strcmp(e->reason, "appointment") == 0;
        break;
    case QE_OFFLINE_JOINED:
        r->issued++;
        r->offline++;
        break;
    case QE_CALLED:
        if (strcmp(e->reason, "first") == 0)
            return values_add(&g->wait, e->duration_ms);
        break;
    case QE_FINISHED:
        r->served++;
        return values_add(&g->service, e->duration_ms);
    case QE_NO_SHOW:
        r->no_show++;
        break;
    case QE_TRANSFERRED:
        r->transferred++;
        break;
    case QE_CANCELLED:
        r->cancelled++;
        break;
    case QE_RATED:
        if (e->rating >= 1 && e->rating <= 5) {
            r->ratings[e->rating - 1]++;
            r->rated++;
        }
        break;
    default:
        break;
    }
    return 0;
}

#define BIT(k) (1u << (k))
#define REPORT_KINDS                                                                               \
    (BIT(QE_ISSUED) | BIT(QE_OFFLINE_JOINED) | BIT(QE_CALLED) | BIT(QE_FINISHED) |                 \
     BIT(QE_NO_SHOW) | BIT(QE_TRANSFERRED) | BIT(QE_CANCELLED) | BIT(QE_RATED))

static int on_event(void *arg, const store_event_row *e)
{
    struct scan *sc = arg;
    char key[STATS_KEY_MAX];
    struct group *g;

    if (count(&sc->total, e) < 0)
        goto nomem;
    if (e->kind == QE_CALLED && strcmp(e->reason, "first") == 0) {
        int64_t b = e->duration_ms / 1000 / STATS_HIST_BUCKET_S;
        sc->hist[b < STATS_HIST_BUCKETS - 1 ? b : STATS_HIST_BUCKETS - 1]++;
    }
    if (sc->last_g != 0 &&
        (sc->by == STATS_BY_HOUR ? e->at_ms >= sc->hour_lo && e->at_ms < sc->hour_hi
                                 : sc->by <= STATS_BY_MONTH && e->day == sc->last_day))
        return count(&sc->g[sc->last_g - 1], e) < 0 ? (sc->nomem = true, 1) : 0;
    key_of(sc, e, key, sizeof key);
    if (*key == '\0')
        return 0;
    if ((g = group_of(sc, key)) == NULL || count(g, e) < 0)
        goto nomem;
    if (sc->by <= STATS_BY_MONTH) {
        sc->last_g = (size_t)(g - sc->g) + 1;
        sc->last_day = e->day;
        if (sc->by == STATS_BY_HOUR) {
            clk_civil c;
            clk_to_civil(sc->zone, e->at_ms, &c);
            sc->hour_lo = e->at_ms - (((int64_t)c.minute * 60 + c.second) * 1000 + c.ms);
            sc->hour_hi = sc->hour_lo + 3600000;
        }
    }
    return 0;
nomem:
    sc->nomem = true;
    return 1;
}

/* ---- Rows ----------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least p % of the values at or
 * below it. */
static uint32_t rank(const struct values *vs, unsigned p)
{
    size_t i = (vs->n * p + 99) / 100;
    return vs->v[i > 0 ? i - 1 : 0];
}

static void finish_row(struct group *g)
{
    stats_row *r = &g->row;

    if (g->wait.n > 0) {
        qsort(g->wait.v, g->wait.n, sizeof *g->wait.v, cmp_u32);
        r->wait_p50_s = rank(&g->wait, 50);
        r->wait_p90_s = rank(&g->wait, 90);
        r->wait_max_s = g->wait.v[g->wait.n - 1];
    }
    if (g->service.n > 0) {
        qsort(g->service.v, g->service.n, sizeof *g->service.v, cmp_u32);
        r->service_p50_s = rank(&g->service, 50);
        r->service_p90_s = rank(&g->service, 90);
        r->service_max_s = g->service.v[g->service.n - 1];
    }
    r->waits = g->wait.n;
    r->services = g->service.n;
    r->satisfaction =
        r->rated > 0 ? (double)(r->ratings[2] + r->ratings[3] + r->ratings[4]) / (double)r->rated
                     : -1.0;
    free(g->wait.v);
    free(g->service.v);
    g->wait = g->service = (struct values){0};
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(((const stats_row *)a)->key, ((const stats_row *)b)->key);
}

static int cmp_window(const void *a, const void *b)
{
    unsigned long x = strtoul(((const stats_row *)a)->key, NULL, 10);
    unsigned long y = strtoul(((const stats_row *)b)->key, NULL, 10);
    return (x > y) - (x < y);
}

/* Names of the rows' keys, from the catalog and the registry. */
static stats_row *row_by_key(stats_report *r, const char *key)
{
    for (size_t i = 0; i < r->nrows; i++)
        if (strcmp(r->rows[i].key, key) == 0)
            return &r->rows[i];
    return NULL;
}

static int name_area(void *arg, const q_area *a)
{
    stats_row *row = row_by_key(arg, a->code);

    if (row != NULL && row->name[0] == '\0')
        snprintf(row->name, sizeof row->name, "%s", a->name);
    return 0;
}

static int name_window(void *arg, const q_window *w)
{
    char key[16];
    stats_row *row;

    snprintf(key, sizeof key, "%u", w->no);
    if ((row = row_by_key(arg, key)) != NULL)
        snprintf(row->name, sizeof row->name, "%s", w->name);
    return 0;
}

static int name_clerk(void *arg, const store_clerk *c)
{
    stats_row *row = row_by_key(arg, c->id);

    if (row != NULL)
        snprintf(row->name, sizeof row->name, "%s", c->name);
    return 0;
}

static int name_rows(store *st, stats_report *r)
{
    switch (r->by) {
    case STATS_BY_AREA:
        return store_load_areas(st, name_area, r);
    case STATS_BY_MATTER:
        for (size_t i = 0; i < r->nrows; i++)
            if (store_matter_name(st, r->rows[i].key, r->rows[i].name, sizeof r->rows[i].name) < 0)
                return -1;
        return 0;
    case STATS_BY_WINDOW:
        return store_load_windows(st, name_window, r);
    case STATS_BY_CLERK:
        return store_load_clerks(st, name_clerk, r);
    default:
        return 0;
    }
}

static int failf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int failf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static void scan_free(struct scan *sc)
{
    for (size_t i = 0; i < sc->ng; i++) {
        free(sc->g[i].wait.v);
        free(sc->g[i].service.v);
    }
    free(sc->total.wait.v);
    free(sc->total.service.v);
    free(sc->g);
    free(sc->slot);
}

stats_report *stats_report_run(store *reader, const clk_zone *zone, int32_t from, int32_t to,
                               stats_by by, char *err, size_t errlen)
{
    struct scan sc = {.zone = zone, .by = by};
    stats_report *r = NULL;
    int rc;

    if ((unsigned)by > STATS_BY_CLERK) {
        failf(err, errlen, "unknown grouping %d", (int)by);
        return NULL;
    }
    if (stats_range_check(from, to, err, errlen) < 0)
        return NULL;
    if (by == STATS_BY_HOUR) /* every hour, for charts: an empty one is a zero */
        for (int h = 0; h < 24; h++) {
            char key[4];
            snprintf(key, sizeof key, "%02d", h);
            if (group_of(&sc, key) == NULL)
                goto nomem;
        }
    if (store_read_begin(reader) < 0) {
        failf(err, errlen, "%s", store_errmsg(reader));
        goto out;
    }
    rc = store_scan_events(reader, from, to, REPORT_KINDS, on_event, &sc);
    if (rc != 0 && !sc.nomem) {
        store_read_end(reader);
        failf(err, errlen, "%s", store_errmsg(reader));
        goto out;
    }
    if (sc.nomem) {
        store_read_end(reader);
        goto nomem;
    }
    if ((r = calloc(1, sizeof *r)) == NULL ||
        (sc.ng > 0 && (r->rows = calloc(sc.ng, sizeof *r->rows)) == NULL)) {
        store_read_end(reader);
        goto nomem;
    }
    r->from = from;
    r->to = to;
    r->by = by;
    for (size_t i = 0; i < sc.ng; i++) {
        finish_row(&sc.g[i]);
        r->rows[r->nrows++] = sc.g[i].row;
    }
    finish_row(&sc.total);
    r->total = sc.total.row;
    snprintf(r->total.key, sizeof r->total.key, "total");
    memcpy(r->hist, sc.hist, sizeof r->hist);
    if (r->nrows > 1) /* rows is NULL when there are none */
        qsort(r->rows, r->nrows, sizeof *r->rows, by == STATS_BY_WINDOW ? cmp_window : cmp_key);
    rc = name_rows(reader, r);
    store_read_end(reader);
    if (rc != 0) {
        failf(err, errlen, "%s", store_errmsg(reader));
        stats_report_free(r);
        r = NULL;
    }
    goto out;
nomem:
    failf(err, errlen, "out of memory");
    stats_report_free(r);
    r = NULL;
out:
    scan_free(&sc);
    return r;
}

void stats_report_free(stats_report *r)
{
    if (r == NULL)
        return;
    free(r->rows);
    free(r);
}

/* ---- JSON and CSV --------------------------------------------------------- */

static json_t *row_json(const stats_row *r, bool named)
{
    json_t *o = json_pack(
        "{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:[I,I,I,I,I],s:I}", "key",
        r->key, "issued", (json_int_t)r->issued, "served", (json_int_t)r->served, "no_show",
        (json_int_t)r->no_show, "transferred", (json_int_t)r->transferred, "cancelled",
        (json_int_t)r->cancelled, "offline", (json_int_t)r->offline, "appointments",
        (json_int_t)r->appointments, "wait_p50_s", (json_int_t)r->wait_p50_s, "wait_p90_s",
        (json_int_t)r->wait_p90_s, "wait_max_s", (json_int_t)r->wait_max_s, "service_p50_s",
        (json_int_t)r->service_p50_s, "service_p90_s", (json_int_t)r->service_p90_s,
        "service_max_s", (json_int_t)r->service_max_s, "ratings", (json_int_t)r->ratings[0],
        (json_int_t)r->ratings[1], (json_int_t)r->ratings[2], (json_int_t)r->ratings[3],
        (json_int_t)r->ratings[4], "rated", (json_int_t)r->rated);

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "satisfaction",
                        r->satisfaction >= 0 ? json_real(r->satisfaction) : json_null());
    if (named)
        json_object_set_new(o, "name", json_string(r->name));
    return o;
}

json_t *stats_report_json(const stats_report *r)
{
    bool named = r->by >= STATS_BY_AREA;
    json_t *rows = json_array(), *hist = json_array(), *o;

    for (size_t i = 0; rows != NULL && i < r->nrows; i++)
        if (json_array_append_new(rows, row_json(&r->rows[i], named)) < 0) {
            json_decref(rows);
            rows = NULL;
        }
    for (size_t i = 0; hist != NULL && i < STATS_HIST_BUCKETS; i++)
        if (json_array_append_new(hist, json_integer((json_int_t)r->hist[i])) < 0) {
            json_decref(hist);
            hist = NULL;
        }
    if (rows == NULL || hist == NULL) {
        json_decref(rows);
        json_decref(hist);
        return NULL;
    }
    o = json_pack("{s:i,s:i,s:s,s:o,s:o,s:{s:i,s:o}}", "from", (int)r->from, "to", (int)r->to, "by",
                  stats_by_name(r->by), "rows", rows, "total", row_json(&r->total, false),
                  "wait_histogram", "bucket_s", STATS_HIST_BUCKET_S, "counts", hist);
    return o;
}

struct text {
    char *p;
    size_t n, cap;
    bool nomem;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->nomem)
        return;
    va_start(ap, fmt);
    n = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? t->cap - t->n : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->nomem = true;
        return;
    }
    if (t->p == NULL || t->n + (size_t)n >= t->cap) {
        size_t cap = (t->cap ? t->cap : 1024) * 2 + (size_t)n;
        char *p = realloc(t->p, cap);
        if (p == NULL) {
            t->nomem = true;
            return;
        }
        t->p = p;
        t->cap = cap;
        va_start(ap, fmt);
        vsnprintf(t->p + t->n, t->cap - t->n, fmt, ap);
        va_end(ap);
    }
    t->n += (size_t)n;
}

/* A CSV field: quoted when it holds a comma, a quote or a line break. */
static void csv_field(struct text *t, const char *v)
{
    if (strpbrk(v, ",\"\r\n") == NULL) {
        text_add(t, "%s", v);
        return;
    }
    text_add(t, "\"");
    for (const char *q; (q = strchr(v, '"')) != NULL; v = q + 1)
        text_add(t, "%.*s\"\"", (int)(q - v), v);
    text_add(t, "%s\"", v);
}

static void csv_row(struct text *t, const stats_row *r)
{
    csv_field(t, r->key);
    text_add(t, ",");
    csv_field(t, r->name);
    text_add(t,
             ",%llu,%llu,%llu,%llu,%llu,%llu,%llu,%u,%u,%u,%u,%u,%u,%llu,%llu,%llu,%llu,%llu,%llu,",
             (unsigned long long)r->issued, (unsigned long long)r->served,
             (unsigned long long)r->no_show, (unsigned long long)r->transferred,
             (unsigned long long)r->cancelled, (unsigned long long)r->offline,
             (unsigned long long)r->appointments, r->wait_p50_s, r->wait_p90_s, r->wait_max_s,
             r->service_p50_s, r->service_p90_s, r->service_max_s,
             (unsigned long long)r->ratings[0], (unsigned long long)r->ratings[1],
             (unsigned long long)r->ratings[2], (unsigned long long)r->ratings[3],
             (unsigned long long)r->ratings[4], (unsigned long long)r->rated);
    if (r->satisfaction >= 0)
        text_add(t, "%.4f", r->satisfaction);
    text_add(t, "\r\n");
}

char *stats_report_csv(const stats_report *r)
{
    struct text t = {0};

    text_add(&t, "key,name,issued,served,no_show,transferred,cancelled,offline,appointments,"
                 "wait_p50_s,wait_p90_s,wait_max_s,service_p50_s,service_p90_s,service_max_s,"
                 "rating_1,rating_2,rating_3,rating_4,rating_5,rated,satisfaction\r\n");
    for (size_t i = 0; i < r->nrows; i++)
        csv_row(&t, &r->rows[i]);
    csv_row(&t, &r->total);
    if (t.nomem) {
        free(t.p);
        return NULL;
    }
    return t.p;
}

/* ---- Indicators ----------------------------------------------------------- */

struct ind_load {
    stats_indicators *ind;
    bool nomem;
};

static int ind_area(void *arg, const q_area *a)
{
    struct ind_load *l = arg;
    stats_indicators *ind = l->ind;

    if (a->retired)
        return 0;
    stats_area_ind *v = realloc(ind->areas, (ind->nareas + 1) * sizeof *v);
    if (v == NULL) {
        l->nomem = true;
        return 1;
    }
    ind->areas = v;
    v = &ind->areas[ind->nareas++];
    memset(v, 0, sizeof *v);
    snprintf(v->area, sizeof v->area, "%s", a->code);
    snprintf(v->name, sizeof v->name, "%s", a->name);
    return 0;
}

static int add_ref(stats_matter_ref **list, size_t *n, const store_matter *m)
{
    stats_matter_ref *v = realloc(*list, (*n + 1) * sizeof *v);

    if (v == NULL)
        return -1;
    *list = v;
    snprintf(v[*n].code, sizeof v[*n].code, "%s", m->code);
    snprintf(v[*n].name, sizeof v[*n].name, "%s", m->name);
    (*n)++;
    return 0;
}

/* First pass: counts; matters off target are listed now and dropped
 * later for areas at or above target. */
static int ind_matter(void *arg, const store_matter *m)
{
    struct ind_load *l = arg;
    stats_indicators *ind = l->ind;
    stats_area_ind *a = NULL;

    for (size_t i = 0; i < ind->nareas; i++)
        if (strcmp(ind->areas[i].area, m->area) == 0)
            a = &ind->areas[i];
    ind->hall.matters++;
    ind->hall.one_window += m->in_one_window;
    ind->hall.online += m->online_doable;
    if (a == NULL)
        return 0;
    a->share.matters++;
    a->share.one_window += m->in_one_window;
    a->share.online += m->online_doable;
    if ((!m->in_one_window && add_ref(&a->below_one_window, &a->nbelow_one_window, m) < 0) ||
        (!m->online_doable && add_ref(&a->below_online, &a->nbelow_online, m) < 0)) {
        l->nomem = true;
        return 1;
    }
    return 0;
}

static void shares(stats_share *s)
{
    s->one_window_share = s->matters ? (double)s->one_window / (double)s->matters : -1.0;
    s->online_share = s->matters ? (double)s->online / (double)s->matters : -1.0;
}

stats_indicators *stats_indicators_run(store *reader, char *err, size_t errlen)
{
    struct ind_load l = {.ind = calloc(1, sizeof *l.ind)};
    int rc;

    if (l.ind == NULL) {
        failf(err, errlen, "out of memory");
        return NULL;
    }
    if (store_read_begin(reader) < 0) {
        failf(err, errlen, "%s", store_errmsg(reader));
        stats_indicators_free(l.ind);
        return NULL;
    }
    rc = store_load_areas(reader, ind_area, &l);
    if (rc == 0)
        rc = store_load_matters(reader, ind_matter, &l);
    store_read_end(reader);
    if (rc != 0) {
        failf(err, errlen, "%s", l.nomem ? "out of memory" : store_errmsg(reader));
        stats_indicators_free(l.ind);
        return NULL;
    }
    shares(&l.ind->hall);
    for (size_t i = 0; i < l.ind->nareas; i++) {
        stats_area_ind *a = &l.ind->areas[i];
        shares(&a->share);
        if (a->share.one_window_share < 0 || a->share.one_window_share >= STATS_ONE_WINDOW_TARGET) {
            free(a->below_one_window);
            a->below_one_window = NULL;
            a->nbelow_one_window = 0;
        }
        if (a->share.online_share < 0 || a->share.online_share >= STATS_ONLINE_TARGET) {
            free(a->below_online);
            a->below_online = NULL;
            a->nbelow_online = 0;
        }
    }
    return l.ind;
}

void stats_indicators_free(stats_indicators *ind)
{
    if (ind == NULL)
        return;
    for (size_t i = 0; i < ind->nareas; i++) {
        free(ind->areas[i].below_one_window);
        free(ind->areas[i].below_online);
    }
    free(ind->areas);
    free(ind);
}

static json_t *share_or_null(double v)
{
    return v >= 0 ? json_real(v) : json_null();
}

static json_t *refs_json(const stats_matter_ref *v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_pack("{s:s,s:s}", "code", v[i].code, "name", v[i].name));
    return a;
}

static json_t *share_json(const stats_share *s)
{
    json_t *o = json_pack("{s:I,s:I,s:I}", "matters", (json_int_t)s->matters, "one_window",
                          (json_int_t)s->one_window, "online", (json_int_t)s->online);

    if (o != NULL) {
        json_object_set_new(o, "one_window_share", share_or_null(s->one_window_share));
        json_object_set_new(o, "online_share", share_or_null(s->online_share));
    }
    return o;
}

json_t *stats_indicators_json(const stats_indicators *ind)
{
    json_t *areas = json_array();

    for (size_t i = 0; areas != NULL && i < ind->nareas; i++) {
        const stats_area_ind *a = &ind->areas[i];
        json_t *o = share_json(&a->share);
        if (o == NULL) {
            json_decref(areas);
            return NULL;
        }
        json_object_set_new(o, "area", json_string(a->area));
        json_object_set_new(o, "name", json_string(a->name));
        json_object_set_new(o, "below_one_window",
                            refs_json(a->below_one_window, a->nbelow_one_window));
        json_object_set_new(o, "below_online", refs_json(a->below_online, a->nbelow_online));
        json_array_append_new(areas, o);
    }
    if (areas == NULL)
        return NULL;
    return json_pack("{s:f,s:f,s:o,s:o}", "one_window_target", STATS_ONE_WINDOW_TARGET,
                     "online_target", STATS_ONLINE_TARGET, "hall", share_json(&ind->hall), "areas",
                     areas);
}

/* ---- The profile ---------------------------------------------------------- */

#define MAX_WINDOWS 512

struct prof_window {
    uint32_t no;
    int nareas;
    int area[Q_MAX_AREAS_PER_WINDOW]; /* indexes into the profile, -1 if left out */
    bool signed_in, paused;
    int64_t since_ms; /* open since, when open */
};

struct prof {
    const clk_zone *zone;
    profile *p;
    struct prof_window w[MAX_WINDOWS];
    int nw;
    double service_sum[PROFILE_AREAS_MAX];
    uint64_t services[PROFILE_AREAS_MAX];
    int64_t end_ms; /* the last event's time: windows still open count until then */
};

static int prof_area_index(profile *p, const char *code)
{
    for (int i = 0; i < p->nareas; i++)
        if (strcmp(p->area[i], code) == 0)
            return i;
    return -1;
}

static int prof_add_area(void *arg, const q_area *a)
{
    profile *p = arg;

    if (!a->retired && p->nareas < PROFILE_AREAS_MAX)
        snprintf(p->area[p->nareas++], PROFILE_CODE_MAX, "%s", a->code);
    return 0;
}

static int prof_add_window(void *arg, const q_window *w)
{
    struct prof *pr = arg;

    if (pr->nw >= MAX_WINDOWS)
        return 0;
    struct prof_window *pw = &pr->w[pr->nw++];
    memset(pw, 0, sizeof *pw);
    pw->no = w->no;
    for (int i = 0; i < w->nareas && i < Q_MAX_AREAS_PER_WINDOW; i++)
        pw->area[pw->nareas++] = prof_area_index(pr->p, w->areas[i]);
    return 0;
}

/* Add the time window pw was open, from its since_ms to until_ms, hour
 * by local hour, to the open windows of its areas (as window-hours). */
static void prof_open_time(struct prof *pr, const struct prof_window *pw, int64_t until_ms)
{
    int64_t t = pw->since_ms;

    while (t < until_ms) {
        clk_civil c;
        clk_to_civil(pr->zone, t, &c);
        int64_t into = ((int64_t)c.minute * 60 + c.second) * 1000 + c.ms;
        int64_t end = t - into + 3600000;
        if (end > until_ms)
            end = until_ms;
        for (int i = 0; i < pw->nareas; i++)
            if (pw->area[i] >= 0)
                pr->p->open_windows[pw->area[i]][c.wday][c.hour] += (double)(end - t) / 3600000.0;
        t = end;
    }
}

static int prof_event(void *arg, const store_event_row *e)
{
    struct prof *pr = arg;
    struct prof_window *pw = NULL;
    int ai;

    pr->end_ms = e->at_ms;
    if (e->kind == QE_ISSUED || e->kind == QE_OFFLINE_JOINED) {
        if ((ai = prof_area_index(pr->p, e->area)) >= 0) {
            clk_civil c;
            clk_to_civil(pr->zone, e->at_ms, &c);
            pr->p->arrivals[ai][c.wday][c.hour] += 1;
        }
        return 0;
    }
    if (e->kind == QE_FINISHED) {
        if ((ai = prof_area_index(pr->p, e->area)) >= 0) {
            pr->service_sum[ai] += (double)e->duration_ms / 1000.0;
            pr->services[ai]++;
        }
        return 0;
    }
    for (int i = 0; i < pr->nw; i++)
        if (pr->w[i].no == e->window_no)
            pw = &pr->w[i];
    if (pw == NULL)
        return 0;
    bool was_open = pw->signed_in && !pw->paused;
    switch (e->kind) {
    case QE_WINDOW_SIGN_IN:
        pw->signed_in = true;
        pw->paused = false;
        break;
    case QE_WINDOW_SIGN_OUT:
        pw->signed_in = false;
        pw->paused = false;
        break;
    case QE_WINDOW_PAUSED:
        pw->paused = true;
        break;
    case QE_WINDOW_RESUMED:
        pw->paused = false;
        break;
    default:
        return 0;
    }
    bool open = pw->signed_in && !pw->paused;
    if (was_open && !open)
        prof_open_time(pr, pw, e->at_ms);
    else if (!was_open && open)
        pw->since_ms = e->at_ms;
    return 0;
}

int stats_load_profile(store *reader, const clk_zone *zone, int32_t from_day, int32_t to_day,
                       profile *out, char *err, size_t errlen)
{
    struct prof *pr;
    int rc;

    if (stats_range_check(from_day, to_day, err, errlen) < 0)
        return -1;
    if ((pr = calloc(1, sizeof *pr)) == NULL)
        return failf(err, errlen, "out of memory");
    memset(out, 0, sizeof *out);
    pr->zone = zone;
    pr->p = out;
    if (store_read_begin(reader) < 0) {
        free(pr);
        return failf(err, errlen, "%s", store_errmsg(reader));
    }
    rc = store_load_areas(reader, prof_add_area, out);
    if (rc == 0)
        rc = store_load_windows(reader, prof_add_window, pr);
    if (rc == 0)
        rc = store_scan_events(reader, from_day, to_day,
                               BIT(QE_ISSUED) | BIT(QE_OFFLINE_JOINED) | BIT(QE_FINISHED) |
                                   BIT(QE_WINDOW_SIGN_IN) | BIT(QE_WINDOW_SIGN_OUT) |
                                   BIT(QE_WINDOW_PAUSED) | BIT(QE_WINDOW_RESUMED),
                               prof_event, pr);
    store_read_end(reader);
    if (rc != 0) {
        free(pr);
        return failf(err, errlen, "%s", store_errmsg(reader));
    }
    for (int i = 0; i < pr->nw; i++)
        if (pr->w[i].signed_in && !pr->w[i].paused)
            prof_open_time(pr, &pr->w[i], pr->end_ms);
    int64_t days = day_number(to_day) - day_number(from_day) + 1;
    out->weeks = pr->end_ms != 0 ? (int)((days + 6) / 7) : 0;
    for (int a = 0; a < out->nareas; a++) {
        out->service_s[a] = pr->services[a] ? pr->service_sum[a] / (double)pr->services[a] : 0;
        for (int d = 0; out->weeks > 0 && d < 7; d++)
            for (int h = 0; h < 24; h++) {
                out->arrivals[a][d][h] /= out->weeks;
                out->open_windows[a][d][h] /= out->weeks;
            }
    }
    free(pr);
    return 0;
}
