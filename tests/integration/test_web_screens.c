/*
 * web_screens — the big screens' tokens (docs/dashboard.md) end to end:
 * the real hallctl issues one (printed once, kept only as its SHA-256),
 * the real hallweb answers GET /api/v1/screen/data with it and nothing
 * beyond masked names (no clerk, no citizen hash), follows the change feed
 * with it, and refuses an unknown or revoked token with 401 and a
 * sentence in Chinese and English; only an administrator issues, lists
 * and revokes over the API, each change an audit event; wrong tokens from
 * one address are throttled (429) as wrong passwords are. And
 * GET /api/v1/queues carries halld's estimated wait per area.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"
#include "webfixture.h"

#define WEB_CONF "[web]\nport = 0\naccount_failures = 3\naddress_failures = 50\n"

static void expect_error(web_resp *r, int status, const char *code)
{
    json_t *m = json_object_get(json_object_get(r->json, "error"), "message");

    ck_assert_msg(r->status == status && strcmp(web_error_code(r), code) == 0,
                  "expected %d %s, got %d %s", status, code, r->status, r->body);
    ck_assert_msg(json_string_value(json_object_get(m, "zh")) &&
                      json_string_value(json_object_get(m, "en")),
                  "an error without its Chinese and English message: %s", r->body);
    web_resp_free(r);
}

/* The token hallctl printed last for a screen ("screen NAME: token T"). */
static void printed_token(hallfix *f, const char *name, char token[80])
{
    char path[1100], want[64];
    char *log, *at, *last = NULL;

    snprintf(path, sizeof path, "%s/hallctl.log", f->dir);
    snprintf(want, sizeof want, "screen %s: token ", name);
    log = ts_slurp(path);
    ck_assert_ptr_nonnull(log);
    for (at = strstr(log, want); at != NULL; at = strstr(at + 1, want))
        last = at;
    ck_assert_msg(last != NULL, "hallctl printed no token for %s:\n%s", name, log);
    ck_assert_int_eq(sscanf(last + strlen(want), "%79[0-9a-f]", token), 1);
    ck_assert_int_eq(strlen(token), 64);
    ck_assert_msg(strstr(log, "path /screen?token=") != NULL, "no path printed");
    free(log);
}

static web_resp screen_get(webfix *w, const char *what, const char *token)
{
    char path[300];

    snprintf(path, sizeof path, "/api/v1/%s%stoken=%s", what, strchr(what, '?') ? "&" : "?", token);
    return web_req(w, "GET", path, NULL, NULL, NULL, NULL);
}

START_TEST(screens)
{
    char wall[80], token2[80], admin[64], admin_csrf[64], boss[64], boss_csrf[64];
    hallfix f;
    webfix w;
    web_resp r;

    fix_init(&f, 2, WEB_CONF);
    ck_assert_int_eq(web_add_user(&f, "root", "admin", NULL, "root-pass-1"), 0);
    ck_assert_int_eq(web_add_user(&f, "boss", "manager", NULL, "boss-pass-1"), 0);
    ck_assert_int_eq(fix_hallctl(&f, "screen add wall-1"), 0);
    printed_token(&f, "wall-1", wall);
    /* Kept only as its hash; a live screen's name is not issued twice. */
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM screens WHERE token_sha256 = '%s'", wall),
                     0);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM screens WHERE name = 'wall-1' AND "
                                    "length(token_sha256) = 64 AND revoked_ms = 0"),
                     1);
    ck_assert_int_ne(fix_hallctl(&f, "screen add wall-1"), 0);
    ck_assert_int_ne(fix_hallctl(&f, "screen add Wall_Bad"), 0);
    fix_start(&f);
    web_start(&w, &f);

    /* The hall at work: window 1 open with a ticket called, two waiting. */
    devlink *kiosk = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    devlink *win = fix_device(&f, "win-1", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 1);
    proto_free(fix_sign_in(win, 1, "c-1"));
    for (int i = 0; i < 3; i++) {
        Hall__Envelope *a = fix_issue(kiosk, "intake", HALL__PRIORITY__PRIORITY_NORMAL);
        ck_assert_int_eq(a->body_case, HALL__ENVELOPE__BODY_ISSUE_REPLY);
        proto_free(fix_printed(kiosk, a->issue_reply->ticket->id));
        proto_free(a);
    }
    proto_free(fix_window_op(win, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0));

    r = screen_get(&w, "screen/data", wall);
    ck_assert_msg(r.status == 200, "screen data: %d %s", r.status, r.body);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "screen")), "wall-1");
    ck_assert_msg(json_is_integer(json_object_get(r.json, "server_time_ms")), "%s", r.body);
    json_t *win1 = json_array_get(json_object_get(r.json, "windows"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(win1, "no")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(win1, "state")), "open");
    ck_assert_msg(strlen(json_string_value(json_object_get(win1, "ticket"))) > 0, "%s", r.body);
    size_t i;
    json_t *q;
    bool intake = false;
    json_array_foreach(json_object_get(r.json, "queues"), i,
                       q) if (strcmp(json_string_value(json_object_get(q, "area")), "intake") == 0)
    {
        intake = true;
        ck_assert_int_eq(json_integer_value(json_object_get(q, "waiting")), 2);
        ck_assert_msg(json_is_integer(json_object_get(q, "longest_wait_s")), "%s", r.body);
        ck_assert_msg(json_object_get(q, "est_wait_s") != NULL, "%s", r.body);
    }
    ck_assert_msg(intake, "no intake queue: %s", r.body);
    json_t *today = json_object_get(r.json, "today");
    ck_assert_int_eq(json_integer_value(json_object_get(today, "issued")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(today, "served")), 0);
    ck_assert_msg(json_is_null(json_object_get(today, "satisfaction")), "%s", r.body);
    ck_assert_msg(json_is_integer(json_object_get(r.json, "open_alerts")), "%s", r.body);
    /* Nothing beyond masked names: no clerk, no citizen. */
    ck_assert_msg(strstr(r.body, "c-1") == NULL && strstr(r.body, "clerk") == NULL &&
                      strstr(r.body, "citizen") == NULL,
                  "the wall sees more than it may: %s", r.body);
    web_resp_free(&r);

    /* The change feed with the token, without a session. */
    r = screen_get(&w, "events", wall);
    ck_assert_msg(r.status == 200 && json_is_integer(json_object_get(r.json, "seq")), "%d %s",
                  r.status, r.body);
    web_resp_free(&r);

    /* A wrong token: 401 with both sentences; none at all too. */
    char wrong[80];
    snprintf(wrong, sizeof wrong, "%s", wall);
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    expect_error((r = screen_get(&w, "screen/data", wrong), &r), 401, "ERR_SCREEN");
    expect_error((r = web_req(&w, "GET", "/api/v1/screen/data", NULL, NULL, NULL, NULL), &r), 401,
                 "ERR_SCREEN");
    r = screen_get(&w, "screen/data", wall); /* the right one clears the count */
    ck_assert_int_eq(r.status, 200);
    web_resp_free(&r);

    /* Only an administrator issues, lists and revokes. */
    web_sign_in(&w, "root", "root-pass-1", admin, admin_csrf);
    web_sign_in(&w, "boss", "boss-pass-1", boss, boss_csrf);
    expect_error(
        (r = web_req(&w, "POST", "/api/v1/screens", boss, boss_csrf, NULL, "{\"name\":\"wall-2\"}"),
         &r),
        403, "ERR_FORBIDDEN");
    expect_error((r = web_req(&w, "GET", "/api/v1/screens", boss, NULL, NULL, NULL), &r), 403,
                 "ERR_FORBIDDEN");
    expect_error(
        (r = web_req(&w, "POST", "/api/v1/screens/wall-1/revoke", boss, boss_csrf, NULL, NULL), &r),
        403, "ERR_FORBIDDEN");
    expect_error((r = web_req(&w, "POST", "/api/v1/screens", admin, admin_csrf, NULL,
                              "{\"name\":\"Bad Name\"}"),
                  &r),
                 400, "ERR_BAD_REQUEST");
    expect_error((r = web_req(&w, "POST", "/api/v1/screens", admin, admin_csrf, NULL,
                              "{\"name\":\"wall-1\"}"),
                  &r),
                 409, "ERR_ILLEGAL_STATE");
    r = web_req(&w, "POST", "/api/v1/screens", admin, admin_csrf, NULL, "{\"name\":\"wall-2\"}");
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    snprintf(token2, sizeof token2, "%s", json_string_value(json_object_get(r.json, "token")));
    ck_assert_int_eq(strlen(token2), 64);
    ck_assert_msg(strstr(json_string_value(json_object_get(r.json, "path")), token2) != NULL, "%s",
                  r.body);
    web_resp_free(&r);
    r = screen_get(&w, "screen/data", token2);
    ck_assert_int_eq(r.status, 200);
    web_resp_free(&r);
    r = web_req(&w, "GET", "/api/v1/screens", admin, NULL, NULL, NULL);
    ck_assert_msg(r.status == 200 && json_array_size(json_object_get(r.json, "screens")) == 2 &&
                      strstr(r.body, wall) == NULL && strstr(r.body, token2) == NULL,
                  "%d %s", r.status, r.body);
    web_resp_free(&r);

    /* Revoked over the API and with hallctl: refused from the next request. */
    r = web_req(&w, "POST", "/api/v1/screens/wall-2/revoke", admin, admin_csrf, NULL, NULL);
    ck_assert_msg(r.status == 200 && json_is_true(json_object_get(r.json, "changed")), "%d %s",
                  r.status, r.body);
    web_resp_free(&r);
    expect_error((r = screen_get(&w, "screen/data", token2), &r), 401, "ERR_SCREEN");
    expect_error((r = screen_get(&w, "events", token2), &r), 401, "ERR_SCREEN");
    ck_assert_int_eq(fix_hallctl(&f, "screen revoke wall-1"), 0);
    expect_error((r = screen_get(&w, "screen/data", wall), &r), 401, "ERR_SCREEN");
    ck_assert_int_eq(fix_hallctl(&f, "screen list"), 0);
    expect_error(
        (r = web_req(&w, "POST", "/api/v1/screens/nowhere/revoke", admin, admin_csrf, NULL, NULL),
         &r),
        404, "ERR_NOT_FOUND");

    /* Wrong tokens from one address are throttled as wrong passwords are:
     * the third in a row (account_failures) locks, the right one too. */
    ck_assert_int_eq(fix_hallctl(&f, "screen add wall-3"), 0);
    char wall3[80];
    printed_token(&f, "wall-3", wall3);
    expect_error((r = screen_get(&w, "screen/data", wrong), &r), 429, "ERR_LOCKED");
    expect_error((r = screen_get(&w, "screen/data", wall3), &r), 429, "ERR_LOCKED");

    /* The queues carry halld's estimate of the wait. */
    r = web_req(&w, "GET", "/api/v1/queues", boss, NULL, NULL, NULL);
    ck_assert_msg(r.status == 200 && json_is_integer(json_object_get(r.json, "server_time_ms")),
                  "%d %s", r.status, r.body);
    q = json_array_get(json_object_get(r.json, "queues"), 0);
    ck_assert_msg(q != NULL && json_is_integer(json_object_get(q, "est_wait_s")),
                  "no estimated wait: %s", r.body);
    web_resp_free(&r);
    /* The windows say since when they are in their state. */
    r = web_req(&w, "GET", "/api/v1/windows", boss, NULL, NULL, NULL);
    win1 = json_array_get(json_object_get(r.json, "windows"), 0);
    ck_assert_msg(json_is_integer(json_object_get(win1, "since_ms")) &&
                      json_is_null(json_object_get(
                          json_array_get(json_object_get(r.json, "windows"), 1), "since_ms")),
                  "%s", r.body);
    web_resp_free(&r);

    /* Every issue and revocation in the audit chain; never a token. */
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events WHERE detail LIKE '%%screen "
                                    "wall-%% issued a token%%'"),
                     3);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events WHERE detail LIKE "
                                    "'web: screen wall-2 revoked%%' AND clerk = 'root'"),
                     1);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events WHERE detail LIKE "
                                    "'%%screen wall-1 revoked%%' AND device = 'hallctl'"),
                     1);
    ck_assert_int_eq(fix_db_int(&f,
                                "SELECT count(*) FROM events WHERE detail LIKE '%%%s%%' OR "
                                "detail LIKE '%%%s%%'",
                                wall, token2),
                     0);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM screens WHERE revoked_ms > 0 AND "
                                    "revoked_by = 'root' AND name = 'wall-2'"),
                     1);

    devlink_close(kiosk);
    devlink_close(win);
    web_stop(&w);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    ck_assert_int_eq(fix_hallctl(&f, "audit verify"), 0);
    fix_free(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("web_screens");
    TCase *tc = tcase_create("screens");
    SRunner *sr;
    int failed;

    signal(SIGPIPE, SIG_IGN);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, screens);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
