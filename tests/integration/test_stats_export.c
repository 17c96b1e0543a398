/*
 * stats_export: a hall day played on the real halld, then its report read
 * as JSON and as CSV from hallweb (GET /api/v1/report) and from hallctl
 * report: the CSV parsed here agrees with the JSON row by row, for every
 * grouping; hallctl's exports are the web's; the indicators agree too.
 * A bad from, to, by or format is refused: hallctl with exit status 2 and
 * a message naming the option, hallweb with 400 and a JSON error; a
 * clerk may not read reports (403).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"
#include "webfixture.h"

#define WEB_CONF "[web]\nport = 0\n"

static hallfix f;
static webfix w;
static char sess[64], csrf[64];
static int day;

/* ---- A small CSV reader (RFC 4180: quoted fields, doubled quotes) -------- */

#define CSV_COLS 32
#define CSV_ROWS 64

struct csv {
    int nrows;
    int ncols[CSV_ROWS];
    char *cell[CSV_ROWS][CSV_COLS];
};

static void csv_parse(const char *text, struct csv *c)
{
    const char *p = text;

    memset(c, 0, sizeof *c);
    while (*p != '\0') {
        ck_assert_int_lt(c->nrows, CSV_ROWS);
        int row = c->nrows++;
        for (;;) {
            char buf[512];
            size_t n = 0;
            if (*p == '"') {
                for (p++; !(*p == '"' && p[1] != '"'); p++) {
                    ck_assert_msg(*p != '\0', "unterminated quote");
                    if (*p == '"')
                        p++;
                    ck_assert_uint_lt(n, sizeof buf - 1);
                    buf[n++] = *p;
                }
                p++;
            } else {
                while (*p != ',' && *p != '\r' && *p != '\n' && *p != '\0') {
                    ck_assert_uint_lt(n, sizeof buf - 1);
                    buf[n++] = *p++;
                }
            }
            buf[n] = '\0';
            ck_assert_int_lt(c->ncols[row], CSV_COLS);
            c->cell[row][c->ncols[row]++] = strdup(buf);
            if (*p == ',') {
                p++;
                continue;
            }
            ck_assert_msg(*p == '\r' && p[1] == '\n', "a CSV line ends in CRLF");
            p += 2;
            break;
        }
    }
}

static void csv_free(struct csv *c)
{
    for (int r = 0; r < c->nrows; r++)
        for (int i = 0; i < c->ncols[r]; i++)
            free(c->cell[r][i]);
}

/* The CSV's rows (after the header; the last is the total) against the
 * JSON's rows and total, column by column under the header's names. */
static void agree(const struct csv *c, json_t *j)
{
    json_t *rows = json_object_get(j, "rows");
    size_t n = json_array_size(rows);

    ck_assert_int_eq(c->nrows, (int)n + 2);
    ck_assert_str_eq(c->cell[0][0], "key");
    for (int r = 1; r < c->nrows; r++) {
        json_t *o = r <= (int)n ? json_array_get(rows, (size_t)r - 1) : json_object_get(j, "total");
        ck_assert_int_eq(c->ncols[r], c->ncols[0]);
        for (int i = 0; i < c->ncols[0]; i++) {
            const char *col = c->cell[0][i], *v = c->cell[r][i];
            json_t *x;
            if (strncmp(col, "rating_", 7) == 0)
                x = json_array_get(json_object_get(o, "ratings"), (size_t)(col[7] - '1'));
            else
                x = json_object_get(o, col);
            if (strcmp(col, "name") == 0 && x == NULL) {
                ck_assert_str_eq(v, ""); /* hours, days: no names */
            } else if (json_is_string(x)) {
                ck_assert_str_eq(v, json_string_value(x));
            } else if (json_is_integer(x)) {
                ck_assert_msg(strtoll(v, NULL, 10) == json_integer_value(x), "row %d %s: %s", r,
                              col, v);
            } else if (json_is_null(x)) {
                ck_assert_str_eq(v, "");
            } else {
                ck_assert_msg(json_is_real(x), "row %d: no %s in the JSON", r, col);
                ck_assert(fabs(strtod(v, NULL) - json_real_value(x)) < 1e-4);
            }
        }
    }
}

/* ---- The hall ------------------------------------------------------------------ */

static void setup(void)
{
    fix_init(&f, 2, WEB_CONF);
    ck_assert_int_eq(web_add_user(&f, "boss", "manager", NULL, "boss-pass-1"), 0);
    ck_assert_int_eq(web_add_user(&f, "clerk1", "clerk", "c-1", "clerk-pass-1"), 0);
    fix_start(&f);
    web_start(&w, &f);

    devlink *kiosk = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    devlink *win1 = fix_device(&f, "win-1", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 1);
    devlink *win2 = fix_device(&f, "win-2", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 2);
    for (int i = 0; i < 6; i++) {
        Hall__Envelope *a =
            fix_issue(kiosk, i < 4 ? "intake" : "",
                      i == 5 ? HALL__PRIORITY__PRIORITY_GREEN : HALL__PRIORITY__PRIORITY_NORMAL);
        ck_assert_int_eq(a->body_case, HALL__ENVELOPE__BODY_ISSUE_REPLY);
        proto_free(fix_printed(kiosk, a->issue_reply->ticket->id));
        proto_free(a);
    }
    proto_free(fix_sign_in(win1, 1, "c-1"));
    proto_free(fix_sign_in(win2, 2, "c-2"));
    for (int i = 0; i < 3; i++) {
        Hall__Envelope *a = fix_window_op(win1, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0);
        ck_assert_int_eq(a->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
        uint64_t id = a->window_reply->ticket->id;
        proto_free(a);
        proto_free(fix_window_op(win1, HALL__ENVELOPE__BODY_START, 1, id));
        proto_free(fix_window_op(win1, HALL__ENVELOPE__BODY_FINISH, 1, id));
    }
    Hall__Envelope *a = fix_window_op(win2, HALL__ENVELOPE__BODY_CALL_NEXT, 2, 0);
    uint64_t id = a->window_reply->ticket->id;
    proto_free(a);
    proto_free(fix_window_op(win2, HALL__ENVELOPE__BODY_NO_SHOW, 2, id));
    devlink_close(kiosk);
    devlink_close(win1);
    devlink_close(win2);
    day = (int)fix_db_int(&f, "SELECT max(day) FROM events");
    ck_assert_int_gt(day, 20000101);
    web_sign_in(&w, "boss", "boss-pass-1", sess, csrf);
}

static void teardown(void)
{
    web_stop(&w);
    fix_stop(&f);
    fix_free(&f);
}

static web_resp get(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static web_resp get(const char *fmt, ...)
{
    char path[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    return web_req(&w, "GET", path, sess, NULL, NULL, NULL);
}

/* hallctl with -c, its stdout into a file of the hall's directory: the
 * exit status, and the file's text in *out (the caller's). */
static int hallctl(char **out, const char *args)
{
    char file[1200];

    snprintf(file, sizeof file, "%s/out.txt", f.dir);
    int rc = ts_system("%s -c %s %s >%s 2>%s/err.txt", HALLCTL_PATH, f.config, args, file, f.dir);
    *out = ts_slurp(file);
    return rc;
}

START_TEST(csv_json_agree)
{
    static const char *const bys[] = {"hour", "day",    "week",   "month",
                                      "area", "matter", "window", "clerk"};

    for (size_t i = 0; i < sizeof bys / sizeof bys[0]; i++) {
        web_resp j = get("/api/v1/report?from=%d&to=%d&by=%s", day, day, bys[i]);
        ck_assert_msg(j.status == 200 && j.json != NULL, "%s: %d %s", bys[i], j.status, j.body);
        ck_assert_str_eq(json_string_value(json_object_get(j.json, "by")), bys[i]);
        web_resp c = get("/api/v1/report?from=%d&to=%d&by=%s&format=csv", day, day, bys[i]);
        ck_assert_int_eq(c.status, 200);
        ck_assert_str_eq(c.content_type, "text/csv; charset=utf-8");
        char want[160];
        snprintf(want, sizeof want, "attachment; filename=\"report-%d-%d-%s.csv\"", day, day,
                 bys[i]);
        ck_assert_str_eq(c.disposition, want);
        struct csv parsed;
        csv_parse(c.body, &parsed);
        agree(&parsed, j.json);
        csv_free(&parsed);

        /* hallctl's exports are the same figures, byte for byte. */
        char args[200], *out;
        snprintf(args, sizeof args, "report --from %d --to %d --by %s --format csv", day, day,
                 bys[i]);
        ck_assert_int_eq(hallctl(&out, args), 0);
        ck_assert_str_eq(out, c.body);
        free(out);
        snprintf(args, sizeof args, "report --from %d --to %d --by %s --format json", day, day,
                 bys[i]);
        ck_assert_int_eq(hallctl(&out, args), 0);
        json_t *hj = json_loads(out, 0, NULL);
        ck_assert_msg(json_equal(hj, j.json), "hallctl's JSON differs: %s", out);
        json_decref(hj);
        free(out);
        web_resp_free(&j);
        web_resp_free(&c);
    }

    /* The figures themselves: 6 issued, 3 served at window 1, a no-show. */
    web_resp j = get("/api/v1/report?from=%d&to=%d&by=window", day, day);
    json_t *total = json_object_get(j.json, "total");
    ck_assert_int_eq(json_integer_value(json_object_get(total, "issued")), 6);
    ck_assert_int_eq(json_integer_value(json_object_get(total, "served")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(total, "no_show")), 1);
    ck_assert(json_is_null(json_object_get(total, "satisfaction")));
    json_t *row = json_array_get(json_object_get(j.json, "rows"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(row, "key")), "1");
    ck_assert_int_eq(json_integer_value(json_object_get(row, "served")), 3);
    json_t *hist = json_object_get(json_object_get(j.json, "wait_histogram"), "counts");
    ck_assert_int_eq(json_integer_value(json_array_get(hist, 0)), 4); /* four first calls */
    web_resp_free(&j);
    /* The text form prints the total. */
    char *out;
    ck_assert_int_eq(hallctl(&out, "report --by area"), 0);
    ck_assert_ptr_nonnull(strstr(out, "total"));
    free(out);

    /* Indicators: the web's and hallctl's agree. */
    web_resp ind = get("/api/v1/indicators");
    ck_assert_int_eq(ind.status, 200);
    ck_assert_int_gt(
        json_integer_value(json_object_get(json_object_get(ind.json, "hall"), "matters")), 0);
    ck_assert_int_eq(hallctl(&out, "indicators --format json"), 0);
    json_t *hj = json_loads(out, 0, NULL);
    ck_assert(json_equal(hj, ind.json));
    json_decref(hj);
    free(out);
    web_resp_free(&ind);
}
END_TEST

START_TEST(bad_requests)
{
    static const struct {
        const char *args, *says;
    } bad[] = {
        {"report --from 2026-12-07", "--from 2026-12-07: a day is YYYYMMDD"},
        {"report --to 20261301", "--to 20261301: a day is YYYYMMDD"},
        {"report --from 20261208 --to 20261207", "from 20261208 is after to 20261207"},
        {"report --by year", "--by year: one of hour, day"},
        {"report --format xml", "--format xml: one of text, csv, json"},
        {"indicators --format csv", "--format csv: one of text, json"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out, err[1200];
        ck_assert_msg(hallctl(&out, bad[i].args) == 2, "%s", bad[i].args);
        free(out);
        snprintf(err, sizeof err, "%s/err.txt", f.dir);
        char *msg = ts_slurp(err);
        ck_assert_msg(strstr(msg, bad[i].says) != NULL, "%s: %s", bad[i].args, msg);
        free(msg);
    }

    static const char *const queries[] = {"from=2026-12-07",
                                          "to=20260230",
                                          "from=20261208&to=20261207",
                                          "by=year",
                                          "format=xml",
                                          "from=19000101&to=20261207",
                                          "by=",
                                          "from=202612071&to=1"};
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        web_resp r = get("/api/v1/report?%s", queries[i]);
        ck_assert_msg(r.status == 400, "%s: %d", queries[i], r.status);
        ck_assert_str_eq(web_error_code(&r), "ERR_BAD_REQUEST");
        const char *en = json_string_value(
            json_object_get(json_object_get(json_object_get(r.json, "error"), "message"), "en"));
        ck_assert_msg(en != NULL && en[0] != '\0', "%s", r.body);
        web_resp_free(&r);
    }

    /* A clerk reads no reports; nobody signed in neither. */
    char cs[64], cc[64];
    web_sign_in(&w, "clerk1", "clerk-pass-1", cs, cc);
    web_resp r = web_req(&w, "GET", "/api/v1/report", cs, NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 403);
    web_resp_free(&r);
    r = web_req(&w, "GET", "/api/v1/indicators", cs, NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 403);
    web_resp_free(&r);
    r = web_req(&w, "GET", "/api/v1/report", NULL, NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 401);
    web_resp_free(&r);
    r = web_req(&w, "POST", "/api/v1/report", sess, csrf, NULL, "{}");
    ck_assert_int_eq(r.status, 405);
    web_resp_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats_export");
    TCase *tc = tcase_create("export");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, csv_json_agree);
    tcase_add_test(tc, bad_requests);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
