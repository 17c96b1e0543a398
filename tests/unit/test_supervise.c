/*
 * supervise — the supervision rules (controller/supervise.c) on snapshots
 * built by hand: each rule's levels at its thresholds, overrides by area
 * and window, the parsing of the [supervise] values, the alert life's
 * transitions, subject keys.
 */
#include <check.h>
#include <string.h>

#include "supervise.h"

#define MIN (60LL * 1000)
#define NOW (1000LL * MIN)

static sv_limits lim;

static void setup(void)
{
    sv_limits_default(&lim);
}

static void teardown(void)
{
    sv_limits_release(&lim);
}

/* The level of rule r among the conditions of h, SV_NONE if absent. */
static sv_level level_of(const sv_hall *h, sv_rule r, const char *key)
{
    sv_condition c[64];
    size_t n = sv_evaluate(h, &lim, c, 64);
    char k[96];

    ck_assert_uint_le(n, 64);
    for (size_t i = 0; i < n; i++) {
        sv_subject_key(&c[i], k, sizeof k);
        if (c[i].rule == r && strcmp(k, key) == 0)
            return c[i].level;
    }
    return SV_NONE;
}

START_TEST(wait_and_queue)
{
    sv_area a = {
        .code = "intake", .waiting = 10, .oldest_ticket = 7, .windows_open = 1, .open_hours = true};
    sv_hall h = {.now = NOW, .areas = &a, .nareas = 1};

    a.oldest_ms = NOW - 19 * MIN;
    ck_assert_int_eq(level_of(&h, SV_WAIT_LONG, "area:intake"), SV_NONE);
    a.oldest_ms = NOW - 20 * MIN;
    ck_assert_int_eq(level_of(&h, SV_WAIT_LONG, "area:intake"), SV_WARN);
    a.oldest_ms = NOW - 40 * MIN;
    ck_assert_int_eq(level_of(&h, SV_WAIT_LONG, "area:intake"), SV_CRITICAL);
    /* 10 per open window: warn; 20: critical; no window open counts as one. */
    ck_assert_int_eq(level_of(&h, SV_QUEUE_PER_WINDOW, "area:intake"), SV_WARN);
    a.windows_open = 2;
    ck_assert_int_eq(level_of(&h, SV_QUEUE_PER_WINDOW, "area:intake"), SV_NONE);
    a.windows_open = 0;
    a.waiting = 20;
    ck_assert_int_eq(level_of(&h, SV_QUEUE_PER_WINDOW, "area:intake"), SV_CRITICAL);
    a.waiting = 0;
    ck_assert_int_eq(level_of(&h, SV_WAIT_LONG, "area:intake"), SV_NONE);
}
END_TEST

START_TEST(windows)
{
    const char *const areas[] = {"intake"};
    sv_area a = {.code = "intake",
                 .waiting = 1,
                 .oldest_ms = NOW - 60 * MIN,
                 .open_hours = true,
                 .opened_ms = NOW - 6 * MIN};
    sv_window w = {.no = 3,
                   .state = QW_OPEN,
                   .since_ms = NOW - 6 * MIN,
                   .has_clerk = true,
                   .areas = areas,
                   .nareas = 1};
    sv_hall h = {.now = NOW, .areas = &a, .nareas = 1, .windows = &w, .nwindows = 1};

    ck_assert_int_eq(level_of(&h, SV_WINDOW_IDLE, "window:3"), SV_WARN);
    w.ticket = 5;
    w.ticket_since_ms = NOW - 61 * MIN;
    ck_assert_int_eq(level_of(&h, SV_WINDOW_IDLE, "window:3"), SV_NONE);
    ck_assert_int_eq(level_of(&h, SV_SERVICE_LONG, "window:3"), SV_CRITICAL);
    w.ticket = 0;
    w.state = QW_PAUSED;
    w.since_ms = NOW - 15 * MIN;
    ck_assert_int_eq(level_of(&h, SV_WINDOW_PAUSED_LONG, "window:3"), SV_WARN);
    w.state = QW_CLOSED;
    w.has_clerk = false;
    w.since_ms = NOW - 30 * MIN;
    ck_assert_int_eq(level_of(&h, SV_WINDOW_CLOSED_QUEUE, "window:3"), SV_CRITICAL);
    ck_assert_int_eq(level_of(&h, SV_CLERK_ABSENT, "window:3"), SV_WARN);
    /* A clerk who signed out after the opening is not absent at opening. */
    w.since_ms = NOW - 3 * MIN;
    ck_assert_int_eq(level_of(&h, SV_CLERK_ABSENT, "window:3"), SV_NONE);
    w.since_ms = NOW - 30 * MIN;
    /* Outside opening hours: neither. */
    a.open_hours = false;
    ck_assert_int_eq(level_of(&h, SV_WINDOW_CLOSED_QUEUE, "window:3"), SV_NONE);
    ck_assert_int_eq(level_of(&h, SV_CLERK_ABSENT, "window:3"), SV_NONE);
    /* An override for the window wins over one for its area. */
    a.open_hours = true;
    char err[200];
    ck_assert_int_eq(sv_overrides_parse(&lim,
                                        "window_closed_queue@area:intake = 1m 2m; "
                                        "window_closed_queue@window:3 = off",
                                        err, sizeof err),
                     0);
    ck_assert_int_eq(level_of(&h, SV_WINDOW_CLOSED_QUEUE, "window:3"), SV_NONE);
    w.no = 4;
    ck_assert_int_eq(level_of(&h, SV_WINDOW_CLOSED_QUEUE, "window:4"), SV_CRITICAL);
}
END_TEST

START_TEST(devices_and_ratings)
{
    sv_device d = {.id = "kiosk-01", .reported = true};
    sv_hall h = {.now = NOW, .devices = &d, .ndevices = 1};
    sv_condition c;

    ck_assert_int_eq(level_of(&h, SV_DEVICE_FAULT, "device:kiosk-01"), SV_NONE);
    d.paper_low = true;
    ck_assert_int_eq(level_of(&h, SV_DEVICE_FAULT, "device:kiosk-01"), SV_WARN);
    d.cover_open = true;
    ck_assert_int_eq(level_of(&h, SV_DEVICE_FAULT, "device:kiosk-01"), SV_CRITICAL);
    d.missed = 3;
    ck_assert_int_eq(level_of(&h, SV_DEVICE_SILENT, "device:kiosk-01"), SV_WARN);
    d.missed = 6;
    ck_assert_int_eq(level_of(&h, SV_DEVICE_SILENT, "device:kiosk-01"), SV_CRITICAL);

    ck_assert(!sv_rating(&lim, "intake", 1, 9, 3, &c));
    ck_assert(sv_rating(&lim, "intake", 1, 9, 2, &c));
    ck_assert_int_eq(c.level, SV_WARN);
    ck_assert(sv_rating(&lim, "intake", 1, 9, 1, &c));
    ck_assert_int_eq(c.level, SV_CRITICAL);
    char key[96];
    sv_subject_key(&c, key, sizeof key);
    ck_assert_str_eq(key, "ticket:9");
}
END_TEST

START_TEST(parsing)
{
    sv_limit l;
    char err[200];

    ck_assert_int_eq(sv_limit_parse(SV_WAIT_LONG, "90s 1h", &l, err, sizeof err), 0);
    ck_assert_int_eq(l.warn, 90000);
    ck_assert_int_eq(l.critical, 3600000);
    ck_assert_int_eq(sv_limit_parse(SV_WAIT_LONG, "off", &l, err, sizeof err), 0);
    ck_assert_int_eq(l.warn + l.critical, 0);
    ck_assert_int_eq(sv_limit_parse(SV_WAIT_LONG, "off 30m", &l, err, sizeof err), 0);
    ck_assert_int_eq(sv_limit_parse(SV_WAIT_LONG, "40m 20m", &l, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "wait_long"));
    ck_assert_int_eq(sv_limit_parse(SV_WAIT_LONG, "20 40", &l, err, sizeof err), -1);
    ck_assert_int_eq(sv_limit_parse(SV_QUEUE_PER_WINDOW, "5m 10", &l, err, sizeof err), -1);
    ck_assert_int_eq(sv_limit_parse(SV_RATING_BAD, "1 2", &l, err, sizeof err), -1);
    ck_assert_int_eq(sv_limit_parse(SV_RATING_BAD, "6 1", &l, err, sizeof err), -1);
    ck_assert_int_eq(sv_limit_parse(SV_DEVICE_FAULT, "1 2", &l, err, sizeof err), -1);
    ck_assert_int_eq(sv_limit_parse(SV_WAIT_LONG, "1m 2m 3m", &l, err, sizeof err), -1);

    ck_assert_int_eq(sv_overrides_parse(&lim, "nosuch@area:x = 1m 2m", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "nosuch"));
    ck_assert_int_eq(sv_overrides_parse(&lim, "wait_long@window:x = 1m 2m", err, sizeof err), -1);
    ck_assert_int_eq(sv_overrides_parse(&lim, "wait_long@desk:1 = 1m 2m", err, sizeof err), -1);
    ck_assert_int_eq(sv_overrides_parse(&lim, "wait_long = 1m 2m", err, sizeof err), -1);
    ck_assert_uint_eq(lim.nover, 0); /* a refused text changes nothing */
    ck_assert_int_eq(sv_overrides_parse(&lim, " ; wait_long@area:fund = 1m 2m ;", err, sizeof err),
                     0);
    ck_assert_uint_eq(lim.nover, 1);
    ck_assert_int_eq(sv_limit_for(&lim, SV_WAIT_LONG, "fund", 0).warn, MIN);
    ck_assert_int_eq(sv_limit_for(&lim, SV_WAIT_LONG, "intake", 0).warn, 20 * MIN);
    ck_assert_int_eq(sv_rule_parse("device_silent"), SV_DEVICE_SILENT);
    ck_assert_int_eq(sv_rule_parse("nope"), -1);
}
END_TEST

START_TEST(transitions)
{
    ck_assert(sv_transition_ok(SV_RAISED, SV_RAISED));
    ck_assert(sv_transition_ok(SV_RAISED, SV_ACKNOWLEDGED));
    ck_assert(sv_transition_ok(SV_RAISED, SV_RESOLVED));
    ck_assert(sv_transition_ok(SV_ACKNOWLEDGED, SV_RESOLVED));
    ck_assert(!sv_transition_ok(SV_ACKNOWLEDGED, SV_RAISED));
    ck_assert(!sv_transition_ok(SV_RESOLVED, SV_RAISED));
    ck_assert(!sv_transition_ok(SV_RESOLVED, SV_ACKNOWLEDGED));
    ck_assert_int_eq(sv_state_parse("acknowledged"), SV_ACKNOWLEDGED);
    ck_assert_int_eq(sv_state_parse("gone"), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("supervise");
    TCase *tc = tcase_create("rules");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, wait_and_queue);
    tcase_add_test(tc, windows);
    tcase_add_test(tc, devices_and_ratings);
    tcase_add_test(tc, parsing);
    tcase_add_test(tc, transitions);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
