/*
 * fuzz_catalog — libFuzzer target for the catalog import
 * (controller/catalog.c): the input is a catalog file, parsed once as CSV
 * and once as JSON with catalog_parse(), as hallctl's import does after
 * reading the file.
 *
 * Promises checked:
 *   - a refused file gives NULL with errno EINVAL (or ENOMEM) and a
 *     non-empty one-line reason that names the file;
 *   - an accepted catalog keeps catalog.h's rules: 1 to CATALOG_AREAS_MAX
 *     areas with valid, unique codes and prefixes and exactly one general
 *     area; matters with valid, unique codes in known areas, names that
 *     catalog_name_ok() accepts, texts and lists within their limits;
 *   - what is accepted, the rest of the hall accepts: the store takes it
 *     with store_replace_catalog() (on a scratch database) and gives back
 *     the same areas and matters in the same order, and the queue engine
 *     takes every area;
 *   - nothing leaks (LeakSanitizer).
 * Any broken promise aborts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "clk.h"
#include "fuzzsupport.h"
#include "queue.h"
#include "store.h"

#define ERR_MAX 1024

static store *db;
static clk_zone *zone;

/* What the store gives back, compared row by row with the catalog. */
struct readback {
    const catalog *c;
    size_t n;
};

static void check_areas(const catalog *c)
{
    const q_area *a = catalog_areas(c);
    size_t n = catalog_area_count(c), general = 0;

    FZ_CHECK(n >= 1 && n <= CATALOG_AREAS_MAX);
    for (size_t i = 0; i < n; i++) {
        size_t plen = strlen(a[i].prefix);

        FZ_CHECK(catalog_code_ok(a[i].code));
        FZ_CHECK(catalog_name_ok(a[i].name, sizeof a[i].name));
        FZ_CHECK(plen >= 1 && plen <= 3 &&
                 strspn(a[i].prefix, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == plen);
        general += a[i].general;
        for (size_t j = 0; j < i; j++) {
            FZ_CHECK(strcmp(a[i].code, a[j].code) != 0);
            FZ_CHECK(strcmp(a[i].prefix, a[j].prefix) != 0);
        }
    }
    FZ_CHECK(general == 1);
}

/* A list: one item per line, each one line of at most CATALOG_ITEM_MAX
 * bytes, at most CATALOG_ITEMS_MAX of them. */
static void check_list(const char *list)
{
    size_t items = 0;

    FZ_CHECK(list != NULL);
    for (const char *p = list; *p != '\0'; items++) {
        size_t n = strcspn(p, "\n");

        FZ_CHECK(n <= CATALOG_ITEM_MAX);
        p += n + (p[n] == '\n');
    }
    FZ_CHECK(items <= CATALOG_ITEMS_MAX);
}

static void check_text(const char *text)
{
    FZ_CHECK(text != NULL && strlen(text) <= CATALOG_TEXT_MAX);
    for (const char *p = text; *p != '\0'; p++)
        FZ_CHECK(!((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t') && *p != 0x7f);
}

static void check_matters(const catalog *c)
{
    const q_area *a = catalog_areas(c);
    const store_matter *m = catalog_matters(c);
    size_t na = catalog_area_count(c), n = catalog_matter_count(c);

    FZ_CHECK(n <= CATALOG_MATTERS_MAX);
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;

        FZ_CHECK(catalog_code_ok(m[i].code));
        FZ_CHECK(catalog_name_ok(m[i].name, sizeof m[i].name));
        while (k < na && strcmp(a[k].code, m[i].area) != 0)
            k++;
        FZ_CHECK(k < na);
        check_text(m[i].conditions);
        check_text(m[i].sample);
        check_list(m[i].materials);
        check_list(m[i].review_points);
        for (size_t j = 0; j < i; j++)
            FZ_CHECK(strcmp(m[i].code, m[j].code) != 0);
    }
}

/* The catalog's areas in its order, then those earlier inputs' catalogs
 * had and this one does not, retired. */
static int area_back(void *arg, const q_area *a)
{
    struct readback *r = arg;

    if (a->retired) {
        FZ_CHECK(r->n == catalog_area_count(r->c));
        for (size_t i = 0; i < catalog_area_count(r->c); i++)
            FZ_CHECK(strcmp(catalog_areas(r->c)[i].code, a->code) != 0);
        return 0;
    }
    FZ_CHECK(r->n < catalog_area_count(r->c));
    const q_area *want = &catalog_areas(r->c)[r->n];
    FZ_CHECK(strcmp(a->code, want->code) == 0 && strcmp(a->name, want->name) == 0);
    FZ_CHECK(strcmp(a->prefix, want->prefix) == 0 && a->general == want->general);
    r->n++;
    return 0;
}

static int matter_back(void *arg, const store_matter *m)
{
    struct readback *r = arg;

    FZ_CHECK(r->n < catalog_matter_count(r->c));
    const store_matter *want = &catalog_matters(r->c)[r->n];
    FZ_CHECK(strcmp(m->code, want->code) == 0 && strcmp(m->name, want->name) == 0);
    FZ_CHECK(strcmp(m->area, want->area) == 0);
    FZ_CHECK(strcmp(m->conditions, want->conditions) == 0);
    FZ_CHECK(strcmp(m->materials, want->materials) == 0);
    FZ_CHECK(strcmp(m->sample, want->sample) == 0);
    FZ_CHECK(strcmp(m->review_points, want->review_points) == 0);
    FZ_CHECK(m->in_one_window == want->in_one_window && m->online_doable == want->online_doable);
    r->n++;
    return 0;
}

static void store_it(const catalog *c)
{
    struct readback r = {c, 0};
    size_t count = 0;

    if (store_replace_catalog(db, catalog_areas(c), catalog_area_count(c), catalog_matters(c),
                              catalog_matter_count(c), 0) < 0) {
        fprintf(stderr, "fuzz_catalog: the store refused an accepted catalog: %s\n",
                store_errmsg(db));
        abort();
    }
    FZ_CHECK(store_count_matters(db, NULL, &count) == 0 && count == catalog_matter_count(c));
    FZ_CHECK(store_load_areas(db, area_back, &r) == 0 && r.n == catalog_area_count(c));
    r.n = 0;
    FZ_CHECK(store_load_matters(db, matter_back, &r) == 0 && r.n == catalog_matter_count(c));
}

static void no_ticket(void *ctx, const q_ticket *t)
{
    (void)ctx, (void)t;
}

static void no_window(void *ctx, const q_window *w)
{
    (void)ctx, (void)w;
}

static void no_lease(void *ctx, const q_lease *l)
{
    (void)ctx, (void)l;
}

static void no_event(void *ctx, const q_event *e)
{
    (void)ctx, (void)e;
}

static void engine_takes(const catalog *c)
{
    const q_journal journal = {no_ticket, no_window, no_lease, no_event, NULL};
    const q_policy policy = {
        .max_recalls = 2,
        .reserve_ms = 120000,
        .rollover_hour = 3,
        .number_digits = 3,
        .lease_first = 900,
        .lease_band = 100,
        .lease_block = 20,
    };
    queue *q = queue_new(&policy, zone, &journal);
    q_error err;

    FZ_CHECK(q != NULL);
    for (size_t i = 0; i < catalog_area_count(c); i++)
        FZ_CHECK(queue_add_area(q, &catalog_areas(c)[i], &err) == 0);
    queue_free(q);
}

static void one(const char *name, catalog_format fmt, const uint8_t *data, size_t size)
{
    char err[ERR_MAX] = "";
    catalog *c;

    errno = 0;
    c = catalog_parse(name, (const char *)data, size, fmt, err, sizeof err);
    if (c == NULL) {
        FZ_CHECK(errno == EINVAL || errno == ENOMEM);
        FZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
        FZ_CHECK(errno == ENOMEM || strncmp(err, name, strlen(name)) == 0);
        return;
    }
    check_areas(c);
    check_matters(c);
    store_it(c);
    engine_takes(c);
    catalog_free(c);
}

static void close_all(void)
{
    store_close(db);
    clk_zone_free(zone);
}

static void setup(void)
{
    char err[ERR_MAX];
    char *path = fz_path(fz_scratch_dir(), "catalog.db");

    db = store_open(path, "fuzz-hall", STORE_ADMIN, err, sizeof err);
    if (db == NULL) {
        fprintf(stderr, "fuzz_catalog: %s\n", err);
        abort();
    }
    free(path);
    zone = clk_zone_new("Asia/Shanghai");
    FZ_CHECK(zone != NULL);
    atexit(close_all);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;

    if (!ready) {
        setup();
        ready = true;
    }
    one("catalog.csv", CATALOG_CSV, data, size);
    one("catalog.json", CATALOG_JSON, data, size);
    return 0;
}
