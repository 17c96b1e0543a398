/*
 * test_estimate — the estimated wait (controller/estimate.c): on a small
 * engine, a free window calls at once, busy windows free up after the
 * visit and the walk, the tickets ahead are shared among the windows, a
 * final ticket has no estimate; and the backtest (controller/backtest.c):
 * on simulated days of several seeds with the flat, morning-peak and
 * lunch-dip patterns, the estimator's median and p90 absolute errors are
 * both below those of the formula it replaced ("people ahead × median
 * service time ÷ open windows"); the patterns (controller/scenario.c)
 * and a flat day's arrivals as hallday drew them before patterns.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "backtest.h"
#include "estimate.h"
#include "queue.h"

#define T0  1765152000000LL /* a Monday 00:00 UTC */
#define MIN 60000LL

static clk_zone *zone;
static queue *q;

static void setup(void)
{
    q_policy pol = {.green_boost_ms = 15 * MIN,
                    .max_recalls = 2,
                    .reserve_ms = MIN,
                    .rollover_hour = 3,
                    .number_digits = 3,
                    .lease_first = 900,
                    .lease_band = 90,
                    .lease_block = 10};
    q_journal none = {0};
    q_area a = {.code = "A", .name = "A", .prefix = "A"};
    q_error err;

    zone = clk_zone_new("UTC");
    ck_assert_ptr_nonnull(zone);
    q = queue_new(&pol, zone, &none);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(queue_add_area(q, &a, &err), 0);
    for (uint32_t no = 1; no <= 2; no++) {
        q_window w = {.no = no, .name = "w", .type = QW_INTAKE, .nareas = 1, .weights = {1}};
        snprintf(w.areas[0], sizeof w.areas[0], "A");
        ck_assert_int_eq(queue_add_window(q, &w, &err), 0);
    }
}

static void teardown(void)
{
    queue_free(q);
    clk_zone_free(zone);
}

static uint64_t issue(int64_t now)
{
    q_issue req = {.area = "A", .matter = "", .kiosk = "k", .masked_name = ""};
    const q_ticket *t;
    q_error err;

    ck_assert_int_eq(queue_issue(q, &req, now, &t, &err), 0);
    ck_assert_int_eq(queue_printed(q, t->id, now, &t, &err), 0);
    return t->id;
}

START_TEST(free_window_calls_at_once)
{
    q_error err;
    int64_t now = T0 + 9 * 60 * MIN;

    ck_assert_int_eq(queue_sign_in(q, 1, "c1", now, &err), 0);
    uint64_t id = issue(now);
    ck_assert_int_eq(est_ticket_wait(q, id, now), 0);
    ck_assert_int_eq(est_area_wait(q, "A", now), 60 * 1000 + 5 * MIN); /* behind it: one visit */
    ck_assert_int_eq(est_area_wait(q, "nope", now), -1);
    ck_assert_int_eq(est_ticket_wait(q, 999, now), -1);
}
END_TEST

START_TEST(busy_windows_share_the_queue)
{
    const q_ticket *t;
    char why[Q_REASON_MAX];
    q_error err;
    int64_t now = T0 + 9 * 60 * MIN;
    uint64_t id[5];

    ck_assert_int_eq(queue_sign_in(q, 1, "c1", now, &err), 0);
    ck_assert_int_eq(queue_sign_in(q, 2, "c2", now, &err), 0);
    for (int i = 0; i < 5; i++)
        id[i] = issue(now - (5 - i) * MIN);
    ck_assert_int_eq(queue_call_next(q, 1, now, &t, why, &err), 0);
    ck_assert_int_eq(queue_call_next(q, 2, now, &t, why, &err), 0);
    /* Both windows: the walk (1 min) and a visit (5 min, no history yet)
     * ahead, then one ticket each every 6 minutes. */
    ck_assert_int_eq(est_ticket_wait(q, id[2], now), 6 * MIN);
    ck_assert_int_eq(est_ticket_wait(q, id[3], now), 6 * MIN);
    ck_assert_int_eq(est_ticket_wait(q, id[4], now), 12 * MIN);
    ck_assert_int_eq(est_area_wait(q, "A", now), 12 * MIN);
    /* A visit longer than the mean still takes a while to end. */
    ck_assert_int_eq(queue_start(q, 1, id[0], now, &t, &err), 0);
    ck_assert_int_eq(est_ticket_wait(q, id[2], now + 20 * MIN), 5 * MIN / 4);
    /* A called ticket has no estimate; the wire rounds to seconds. */
    ck_assert_int_eq(est_ticket_wait(q, id[0], now), -1);
    ck_assert_uint_eq(est_seconds(-1), 0);
    ck_assert_uint_eq(est_seconds(1499), 1);
    ck_assert_uint_eq(est_seconds(1500), 2);
}
END_TEST

START_TEST(beats_the_old_formula)
{
    static const char *const patterns[] = {"flat", "morning_peak", "lunch_dip"};
    const uint64_t seeds[] = {1, 2, 3, 4, 5, 6};

    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
        des_day day;
        backtest_row row;
        char err[160] = "";
        backtest_hall(&day, scen_pattern_find(patterns[i]), 60);
        ck_assert_msg(backtest_run(&day, seeds, 6, &row, err, sizeof err) == 0, "%s", err);
        printf("%-13s tickets %zu  old median %.0f p90 %.0f  new median %.0f p90 %.0f (s)\n",
               patterns[i], row.tickets, row.base_median_s, row.base_p90_s, row.est_median_s,
               row.est_p90_s);
        ck_assert_uint_gt(row.tickets, 6 * 400);
        ck_assert_double_lt(row.est_median_s, row.base_median_s);
        ck_assert_double_lt(row.est_p90_s, row.base_p90_s);
    }
}
END_TEST

START_TEST(patterns)
{
    const scen_pattern *p;

    for (size_t i = 0; (p = scen_pattern_at(i)) != NULL; i++) {
        double sum = 0;
        for (int h = 0; h < 24; h++) {
            ck_assert(p->shape[h] >= 0);
            if (h < SCEN_OPEN_HOUR || h >= SCEN_CLOSE_HOUR)
                ck_assert_double_eq(p->shape[h], 0);
            sum += p->shape[h];
        }
        ck_assert_double_eq_tol(sum, SCEN_CLOSE_HOUR - SCEN_OPEN_HOUR, 1e-9);
        ck_assert_ptr_eq(scen_pattern_find(p->name), p);
    }
    /* Flat: one exponential gap per arrival, hallday's sequence before
     * patterns, across the end of the pattern's day. */
    scen_rng a, b;
    int64_t t = 0, u = 0;
    scen_seed(&a, 7);
    scen_seed(&b, 7);
    for (int i = 0; i < 2000; i++) {
        t = scen_pattern_next(scen_pattern_find("flat"), 60, &a, t);
        u += (int64_t)(-log(1.0 - scen_unit(&b)) * 3600000.0 / 60) + 1;
        ck_assert_int_eq(t, u);
    }
    ck_assert_int_gt(t, 9 * SCEN_HOUR_MS);
    /* Morning peak: the first hour much busier than the last. */
    size_t first = 0, last = 0;
    scen_seed(&a, 7);
    for (t = scen_pattern_next(scen_pattern_find("morning_peak"), 600, &a, 0); t < 8 * SCEN_HOUR_MS;
         t = scen_pattern_next(scen_pattern_find("morning_peak"), 600, &a, t)) {
        first += t < SCEN_HOUR_MS;
        last += t >= 7 * SCEN_HOUR_MS;
    }
    ck_assert_uint_gt(first, 2 * last);
    /* No arrivals at all, and none after the end. */
    double none[24] = {0}, some[24] = {[10] = 60};
    ck_assert_int_eq(scen_next_arrival(none, &a, 0, 24 * SCEN_HOUR_MS), -1);
    t = scen_next_arrival(some, &a, 0, 24 * SCEN_HOUR_MS);
    ck_assert(t >= 10 * SCEN_HOUR_MS && t < 11 * SCEN_HOUR_MS);
    ck_assert_int_eq(scen_next_arrival(some, &a, 11 * SCEN_HOUR_MS, 24 * SCEN_HOUR_MS), -1);
}
END_TEST

START_TEST(bad_days_refused)
{
    des_day day;
    des_result r;
    char err[160];

    backtest_hall(&day, scen_pattern_find("flat"), 60);
    day.service_s[1] = -1;
    ck_assert_int_eq(des_run(&day, 1, NULL, NULL, &r, err, sizeof err), -1);
    backtest_hall(&day, scen_pattern_find("flat"), 60);
    day.arrivals[0][10] = NAN;
    ck_assert_int_eq(des_run(&day, 1, NULL, NULL, &r, err, sizeof err), -1);
    day.nareas = 0;
    ck_assert_int_eq(des_run(&day, 1, NULL, NULL, &r, err, sizeof err), -1);
    ck_assert_ptr_null(scen_pattern_find("tuesday"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("estimate");
    TCase *tc = tcase_create("engine");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, free_window_calls_at_once);
    tcase_add_test(tc, busy_windows_share_the_queue);
    suite_add_tcase(s, tc);
    tc = tcase_create("backtest");
    tcase_add_test(tc, beats_the_old_formula);
    tcase_add_test(tc, patterns);
    tcase_add_test(tc, bad_days_refused);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
