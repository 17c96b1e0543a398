/*
 * kiosk_hall_hours — the hall calendar from hallctl to the kiosk's screen.
 *
 * A hall made by the real hallctl, with a calendar set by `hallctl
 * calendar`: Monday to Friday 08:30-17:30, lunch 12:00-14:00, the last
 * number at 17:00; Tuesday 2026-12-08 a holiday; Saturday 2026-12-12 a
 * swapped working day with Monday's hours; later "approval" the 24-hour
 * self-service area and "realestate" issuing while no window is open. The
 * real halld runs on an injected hall clock ([clock] start), restarted at
 * each moment of the walk; the kiosk (the library kioskd is made of, in
 * this process, sim printer) follows it over its link. At each moment the
 * test reads the kiosk's screen model (GET /api/state's JSON) and halld's
 * tickets in its database:
 *
 *   - Monday 07:00, before opening, no 24-hour area yet: the kiosk shows
 *     the closed screen (closed_kind "hours", "今天 08:30 开始取号"); an
 *     ISSUE over a kiosk link is refused with ERR_AREA_CLOSED and both
 *     sentences; once "approval" is always open, the kiosk offers it and
 *     issues there, while a take in "intake" gives the error screen
 *     (error_kind "hours"); a refusal among good requests changes nothing
 *     else (the numbers run on);
 *   - Monday 12:10, the lunch break: "今天 14:00 开始取号";
 *   - Monday 17:10, after the last number, before a holiday:
 *     "12月9日（周三）08:30 开始取号";
 *   - Tuesday, the holiday: closed all day, "明天 08:30 开始取号";
 *   - Saturday, the swapped working day: open; with no window open, intake
 *     is refused ("暂无办理该业务的窗口开放"); realestate, configured to
 *     issue then, asks first (confirm) and issues with the citizen's yes;
 *     with window 1 signed in, intake issues;
 *   - Sunday 03:00: the 24-hour area issues, intake does not;
 *   - Monday 08:29 at 4 times real speed: the area opens at 08:30 on the
 *     kiosk's screen with no request at all (halld's push at the
 *     boundary).
 *
 * hallctl's refusals: a bad time names its option, and changes nothing.
 */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clk.h"
#include "hallfixture.h"
#include "kiosk.h"
#include "log.h"
#include "testsupport.h"

#define WAIT_MS 30000

typedef struct kfix {
    hallfix hall;
    ev_loop *loop;
    kiosk_conf conf;
    kiosk *k;
    char ini[1200];
} kfix;

static char *model(kfix *x)
{
    static char text[32768];
    buf b;

    buf_init(&b, 0);
    ck_assert_int_eq(kiosk_state_json(x->k, &b), 0);
    ck_assert_uint_lt(buf_rlen(&b), sizeof text);
    memcpy(text, buf_rdata(&b), buf_rlen(&b));
    text[buf_rlen(&b)] = '\0';
    buf_release(&b);
    return text;
}

static bool has(kfix *x, const char *needle)
{
    return strstr(model(x), needle) != NULL;
}

/* The model's entry of one area, {"code":"...",...}. */
static void area_json(kfix *x, const char *code, char *out, size_t len)
{
    char pat[64];
    const char *m = model(x), *at;

    snprintf(pat, sizeof pat, "{\"code\":\"%s\"", code);
    at = strstr(m, pat);
    ck_assert_msg(at != NULL, "no area %s in %s", code, m);
    size_t n = strcspn(at, "}") + 1;
    ck_assert_uint_lt(n, len);
    memcpy(out, at, n);
    out[n] = '\0';
}

/* Run the loop until the area's entry in the model holds needle. */
static bool area_shows(kfix *x, const char *code, const char *needle)
{
    char a[2048];

    for (int64_t until = clk_mono_ms() + WAIT_MS; clk_mono_ms() < until;) {
        if (strstr(model(x), "\"link\":\"online\"") != NULL) {
            area_json(x, code, a, sizeof a);
            if (strstr(a, needle) != NULL)
                return true;
        }
        ev_run_once(x->loop, 20);
    }
    return false;
}

static bool model_shows(kfix *x, const char *needle)
{
    for (int64_t until = clk_mono_ms() + WAIT_MS; clk_mono_ms() < until;) {
        if (has(x, needle))
            return true;
        ev_run_once(x->loop, 20);
    }
    return false;
}

static void kiosk_up(kfix *x)
{
    char err[512], text[4096];

    snprintf(x->ini, sizeof x->ini, "%s/kioskd.ini", x->hall.dir);
    snprintf(text, sizeof text,
             "[kiosk]\nid = kiosk-01\nlog_level = debug\n"
             "[halld]\naddress = 127.0.0.1:%d\nreconnect_max = 500ms\n"
             "cert = pki/devices/kiosk-01/kiosk-01.crt\nkey = pki/devices/kiosk-01/kiosk-01.key\n"
             "ca = pki/devices/kiosk-01/ca.crt\n"
             "[store]\npath = kiosk.db\n"
             "[flow]\nrequest_timeout = 20s\n"
             "[idcard]\nsealing_key = pki/devices/kiosk-01/seal.pub\n",
             x->hall.port);
    ts_write_file(x->ini, text);
    memset(&x->conf, 0, sizeof x->conf);
    ck_assert_msg(kiosk_conf_load(&x->conf, x->ini, true, err, sizeof err) == 0, "%s", err);
    x->loop = ev_new();
    ck_assert_ptr_nonnull(x->loop);
    x->k = kiosk_new(x->loop, &x->conf, err, sizeof err);
    ck_assert_msg(x->k != NULL, "kiosk_new: %s", err);
}

/* halld again, its hall clock starting at start (hall-local ISO time) at
 * rate. */
static void hall_at(kfix *x, const char *start, const char *rate)
{
    if (x->hall.pid > 0)
        ck_assert_int_eq(fix_stop(&x->hall), 0);
    ck_assert_int_eq(ts_system("sed -i -e 's/^start *=.*/start = %s/' -e 's/^rate *=.*/rate = %s/' "
                               "%s",
                               start, rate, x->hall.config),
                     0);
    fix_start(&x->hall);
    ck_assert_int_eq(
        ts_system("sed -i -e 's/^port *=.*/port = %d/' %s", x->hall.port, x->hall.config), 0);
}

/* A tap on an area's tile, then the screen it leads to: the ticket, the
 * error screen or a question. The model is copied into out. */
static void tap(kfix *x, const char *action, const char *param, char *out, size_t len)
{
    char err[256];

    ck_assert_msg(kiosk_action(x->k, action, param, err, sizeof err) == 0, "%s %s: %s", action,
                  param, err);
    for (int64_t until = clk_mono_ms() + WAIT_MS; clk_mono_ms() < until;) {
        const char *m = model(x);
        if (strstr(m, "\"screen\":\"ticket\"") || strstr(m, "\"screen\":\"error\"") ||
            (strstr(m, "\"confirm\":{") && strstr(m, "\"screen\":\"working\"") == NULL))
            break;
        ev_run_once(x->loop, 20);
    }
    const char *m = model(x);
    ck_assert_uint_lt(strlen(m), len);
    snprintf(out, len, "%s", m);
}

/* Back to the start screen after what tap() showed. */
static void leave(kfix *x, const char *m)
{
    char err[256];

    if (strstr(m, "\"screen\":\"ticket\"") != NULL)
        ck_assert_int_eq(kiosk_action(x->k, "done", "", err, sizeof err), 0);
    else if (strstr(m, "\"screen\":\"error\"") != NULL)
        ck_assert_int_eq(kiosk_action(x->k, "back", "", err, sizeof err), 0);
    for (int64_t until = clk_mono_ms() + WAIT_MS; clk_mono_ms() < until && !kiosk_idle(x->k);)
        ev_run_once(x->loop, 20);
    ck_assert(kiosk_idle(x->k));
}

/* The kiosk's refusal of a take in area, with the sentence it shows. */
static void refused(kfix *x, const char *area, const char *zh, const char *en)
{
    char m[32768];

    tap(x, "take", area, m, sizeof m);
    ck_assert_msg(strstr(m, "\"screen\":\"error\"") != NULL, "%s", m);
    ck_assert_msg(strstr(m, "\"error_kind\":\"hours\"") != NULL, "%s", m);
    ck_assert_msg(strstr(m, zh) != NULL, "no %s in %s", zh, m);
    ck_assert_msg(strstr(m, en) != NULL, "no %s in %s", en, m);
    leave(x, m);
}

/* A take in area that prints a ticket: its number. */
static void issued(kfix *x, const char *area, char *number, size_t len)
{
    char m[32768];

    tap(x, "take", area, m, sizeof m);
    ck_assert_msg(strstr(m, "\"screen\":\"ticket\"") != NULL, "%s", m);
    const char *at = strstr(m, "\"number\":\"");
    ck_assert_ptr_nonnull(at);
    at += strlen("\"number\":\"");
    size_t n = strcspn(at, "\"");
    ck_assert_uint_lt(n, len);
    memcpy(number, at, n);
    number[n] = '\0';
    leave(x, m);
}

static long long tickets(kfix *x, const char *area)
{
    return fix_db_int(&x->hall, "SELECT count(*) FROM tickets WHERE area = '%s'", area);
}

/* An ISSUE over a kiosk link of its own. */
static Hall__Envelope *link_issue(devlink *l, const char *area)
{
    return fix_issue(l, area, HALL__PRIORITY__PRIORITY_NORMAL);
}

START_TEST(test_hall_hours)
{
    kfix x = {0};
    char m[32768], a[2048], number[32], n2[32];

    fix_init(&x.hall, 1, "[clock]\nstart = 2026-12-07T07:00:00+08:00\nrate = 1\n");
    /* The calendar, and hallctl's refusals, which change nothing. */
    ck_assert_int_eq(fix_hallctl(&x.hall, "calendar hours --open 08:30 --close 17:30 "
                                          "--lunch 12:00-14:00 --last 17:00"),
                     0);
    ck_assert_int_eq(fix_hallctl(&x.hall, "calendar holiday --date 2026-12-08 --name 测试假日"), 0);
    ck_assert_int_eq(fix_hallctl(&x.hall, "calendar workday --date 2026-12-12 --as mon"), 0);
    long long events = fix_db_int(&x.hall, "SELECT count(*) FROM events");
    ck_assert_int_eq(fix_hallctl(&x.hall, "calendar hours --open 8:30 --close 17:30"), 1);
    ck_assert(
        ts_file_contains(ts_path(x.hall.dir, "hallctl.log"), "--open 8:30: a time is HH:MM", 1000));
    ck_assert_int_eq(fix_hallctl(&x.hall, "calendar hours --open 08:30 --close 17:30 "
                                          "--last 18:00"),
                     1);
    ck_assert(ts_file_contains(ts_path(x.hall.dir, "hallctl.log"), "--last 18:00:", 1000));
    ck_assert_int_eq(fix_hallctl(&x.hall, "calendar area --area nosuch --always-open yes"), 1);
    ck_assert(ts_file_contains(ts_path(x.hall.dir, "hallctl.log"),
                               "--area nosuch: no area 'nosuch' in the catalog", 1000));
    ck_assert_int_eq(fix_db_int(&x.hall, "SELECT count(*) FROM events"), events);
    ck_assert_int_eq(fix_db_int(&x.hall, "SELECT count(*) FROM calendar_hours"), 5);
    ck_assert_int_eq(fix_hallctl(&x.hall, "calendar show"), 0);
    ck_assert(ts_file_contains(ts_path(x.hall.dir, "hallctl.log"),
                               "mon  08:30-17:30  lunch 12:00-14:00  last number 17:00", 1000));
    ck_assert(ts_file_contains(ts_path(x.hall.dir, "hallctl.log"), "2026-12-08  holiday", 1000));

    /* Monday 07:00: nothing is issued anywhere; the kiosk is closed. */
    hall_at(&x, "2026-12-07T07:00:00+08:00", "1");
    kiosk_up(&x);
    ck_assert_msg(model_shows(&x, "\"closed_kind\":\"hours\""), "%s", model(&x));
    ck_assert(has(&x, "\"screen\":\"closed\""));
    ck_assert(has(&x, "\"hours\":{\"closed\":true,\"opens_zh\":\"今天 08:30 开始取号\","
                      "\"opens_en\":\"Numbers from 08:30 today\"}"));
    /* hallctl queues says so too. */
    ck_assert_int_eq(fix_hallctl(&x.hall, "queues"), 0);
    char *listed = ts_slurp(ts_path(x.hall.dir, "hallctl.log"));
    ck_assert_msg(strstr(listed, "closed: Numbers from 08:30 today") != NULL, "%s", listed);
    free(listed);
    area_json(&x, "intake", a, sizeof a);
    ck_assert_msg(strstr(a, "\"letter\":\"A\"") != NULL, "%s", a);
    ck_assert_msg(strstr(a, "\"closed\":true") != NULL, "%s", a);
    ck_assert_msg(strstr(a, "\"windows_open\":0,\"issue_unstaffed\":false") != NULL, "%s", a);
    devlink *l = fix_device(&x.hall, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    devlink_set_next_id(l, (uint64_t)clk_system_utc_ms() * 1000u);
    Hall__Envelope *r = link_issue(l, "intake");
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_ERROR);
    ck_assert_int_eq(r->error->code, HALL__ERROR_CODE__ERR_AREA_CLOSED);
    ck_assert_str_eq(r->error->message_zh, "现在不在取号时间，今天 08:30 开始取号。");
    ck_assert_ptr_nonnull(strstr(r->error->message, "Numbers from 08:30 today"));
    proto_free(r);
    ck_assert_int_eq(tickets(&x, "intake"), 0);

    /* The 24-hour area: the kiosk opens for it alone. */
    ck_assert_int_eq(fix_hallctl(&x.hall, "calendar area --area approval --always-open yes"), 0);
    ck_assert_msg(area_shows(&x, "approval", "\"closed\":false"), "%s", model(&x));
    ck_assert_msg(model_shows(&x, "\"closed_kind\":\"\""), "%s", model(&x));
    ck_assert(has(&x, "\"hours\":{\"closed\":false"));
    refused(&x, "intake", "现在不在取号时间，今天 08:30 开始取号。",
            "Outside the hours for numbers. Numbers from 08:30 today.");
    issued(&x, "approval", number, sizeof number);
    /* A refusal among good requests changes nothing else. */
    r = link_issue(l, "approval");
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_ISSUE_REPLY);
    snprintf(n2, sizeof n2, "%s", r->issue_reply->ticket->number);
    proto_free(r);
    r = link_issue(l, "intake");
    ck_assert_int_eq(r->error->code, HALL__ERROR_CODE__ERR_AREA_CLOSED);
    proto_free(r);
    r = link_issue(l, "approval");
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_ISSUE_REPLY);
    ck_assert_int_eq(atoi(r->issue_reply->ticket->number + 1), atoi(n2 + 1) + 1);
    ck_assert_int_eq(atoi(n2 + 1), atoi(number + 1) + 1);
    proto_free(r);
    ck_assert_int_eq(tickets(&x, "intake"), 0);
    ck_assert_int_eq(tickets(&x, "approval"), 3);
    devlink_close(l);

    /* Monday 12:10: the lunch break. */
    hall_at(&x, "2026-12-07T12:10:00+08:00", "1");
    ck_assert_msg(area_shows(&x, "intake", "\"opens_zh\":\"今天 14:00 开始取号\""), "%s",
                  model(&x));
    refused(&x, "intake", "今天 14:00 开始取号", "Numbers from 14:00 today");

    /* Monday 17:10: after the last number; Tuesday is a holiday. */
    hall_at(&x, "2026-12-07T17:10:00+08:00", "1");
    ck_assert_msg(area_shows(&x, "intake", "12月9日（周三）08:30 开始取号"), "%s", model(&x));
    refused(&x, "realestate", "12月9日（周三）08:30 开始取号", "Numbers from 08:30 on Wed 9 Dec");

    /* Tuesday 10:00: the holiday. */
    hall_at(&x, "2026-12-08T10:00:00+08:00", "1");
    ck_assert_msg(area_shows(&x, "intake", "\"opens_zh\":\"明天 08:30 开始取号\""), "%s",
                  model(&x));
    refused(&x, "intake", "明天 08:30 开始取号", "Numbers from 08:30 tomorrow");
    ck_assert_int_eq(tickets(&x, "intake"), 0);

    /* Saturday 10:00, a swapped working day: open, but no window is. */
    hall_at(&x, "2026-12-12T10:00:00+08:00", "1");
    ck_assert_msg(area_shows(&x, "intake", "\"closed\":false"), "%s", model(&x));
    refused(&x, "intake", "暂无办理该业务的窗口开放，请稍后再来。",
            "No window for this service is open; please come back later.");
    ck_assert_int_eq(fix_hallctl(&x.hall, "calendar area --area realestate --unstaffed yes"), 0);
    ck_assert_msg(area_shows(&x, "realestate", "\"windows_open\":0,\"issue_unstaffed\":true"), "%s",
                  model(&x));
    tap(&x, "take", "realestate", m, sizeof m);
    ck_assert_msg(strstr(m, "\"confirm\":{\"zh\":\"暂无办理该业务的窗口开放，等候时间未知。"
                            "仍要取号吗？\"") != NULL,
                  "%s", m);
    ck_assert(strstr(m, "\"action\":\"take\",\"param\":\"realestate\"}") != NULL);
    ck_assert_int_eq(tickets(&x, "realestate"), 0);
    /* No: nothing issued, the question gone. */
    char err[256];
    ck_assert_int_eq(kiosk_action(x.k, "confirm", "no", err, sizeof err), 0);
    ck_assert(has(&x, "\"confirm\":null"));
    ck_assert_int_eq(kiosk_action(x.k, "confirm", "yes", err, sizeof err), -1);
    tap(&x, "take", "realestate", m, sizeof m);
    ck_assert(strstr(m, "\"confirm\":{") != NULL);
    tap(&x, "confirm", "yes", m, sizeof m);
    ck_assert_msg(strstr(m, "\"screen\":\"ticket\"") != NULL, "%s", m);
    leave(&x, m);
    ck_assert_int_eq(tickets(&x, "realestate"), 1);
    /* A window opens: intake issues without a question. */
    devlink *w = fix_device(&x.hall, "win-1", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 1);
    devlink_set_next_id(w, (uint64_t)clk_system_utc_ms() * 1000u);
    proto_free(fix_sign_in(w, 1, "c-1"));
    devlink_close(w);
    ck_assert_msg(area_shows(&x, "intake", "\"windows_open\":1"), "%s", model(&x));
    issued(&x, "intake", number, sizeof number);
    ck_assert_int_eq(tickets(&x, "intake"), 1);
    ck_assert_int_eq(fix_db_int(&x.hall,
                                "SELECT count(*) FROM tickets WHERE number = '%s' AND "
                                "state = %d",
                                number, 2),
                     1);

    /* Sunday 03:00: the 24-hour area issues, intake does not. */
    hall_at(&x, "2026-12-13T03:00:00+08:00", "1");
    ck_assert_msg(area_shows(&x, "intake", "\"opens_zh\":\"明天 08:30 开始取号\""), "%s",
                  model(&x));
    issued(&x, "approval", number, sizeof number);
    refused(&x, "intake", "明天 08:30 开始取号", "Numbers from 08:30 tomorrow");
    ck_assert_int_eq(fix_db_int(&x.hall,
                                "SELECT count(*) FROM tickets WHERE area = 'approval' "
                                "AND number = '%s' AND issued_ms >= %lld",
                                number, 1797102000000LL),
                     1);

    /* Monday 08:29 at 4 times real speed: 08:30 comes with no request,
     * and the kiosk's screen follows halld's push. */
    hall_at(&x, "2026-12-14T08:29:00+08:00", "4");
    ck_assert_msg(area_shows(&x, "intake", "\"opens_zh\":\"今天 08:30 开始取号\""), "%s",
                  model(&x));
    ck_assert_msg(area_shows(&x, "intake", "\"closed\":false"), "%s", model(&x));
    area_json(&x, "intake", a, sizeof a);
    ck_assert_msg(strstr(a, "\"opens_zh\":\"\"") != NULL, "%s", a);

    kiosk_free(x.k);
    ev_run_once(x.loop, 0);
    kiosk_conf_release(&x.conf);
    ev_free(x.loop);
    fix_free(&x.hall);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kiosk_hall_hours");
    TCase *tc = tcase_create("hours");
    SRunner *sr;
    int failed;

    log_open("test_kiosk_hours", LOG_LEVEL_INFO, LOG_TO_STDERR);
    tcase_set_timeout(tc, 500);
    tcase_add_test(tc, test_hall_hours);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
