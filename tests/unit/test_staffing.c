/*
 * test_staffing — staffing advice (controller/staffing.c): Erlang C
 * against a value worked by hand; the advice grows with the arrivals,
 * advises no window for no arrivals, and refuses negative and non-finite
 * figures; and on simulated weeks (controller/staffcheck.c) of a hall
 * with one under-staffed hour, today's staffing misses the target in that
 * hour, and the advised staffing keeps the p90 wait under it there, in
 * every busy hour and over the week. The JSON has the contract's shape.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "staffcheck.h"
#include "staffing.h"

#define TARGET   900.0
#define BUSY_DOW 3  /* Wednesday */
#define BUSY_H   10 /* 10:00 */

START_TEST(erlang_c_by_hand)
{
    double p90;

    /* A visit of 600 s (540 + the walk), 6 an hour: one erlang. Two
     * windows: C(2, 1) = 1/3, p90 = 600 ln(10/3) / (2 - 1). */
    ck_assert_int_eq(staffing_p90(6, 600 - STAFFING_CALL_S, 2, &p90), 0);
    ck_assert_double_eq_tol(p90, 600 * log(10.0 / 3), 0.01);
    ck_assert_int_eq(staffing_p90(6, 540, 1, &p90), 0);
    ck_assert(isinf(p90));
    ck_assert_int_eq(staffing_p90(6, 540, 20, &p90), 0);
    ck_assert_double_eq(p90, 0);
}
END_TEST

START_TEST(monotone_zero_and_refusals)
{
    int n, last = 0;
    double p90;

    for (double rate = 0; rate <= 400; rate += 2.5) {
        ck_assert_int_eq(staffing_windows(rate, 420, TARGET, &n), 0);
        ck_assert_int_ge(n, last);
        last = n;
    }
    ck_assert_int_gt(last, 20);
    ck_assert_int_eq(staffing_windows(0, 420, TARGET, &n), 0);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(staffing_windows(0.1, 420, TARGET, &n), 0);
    ck_assert_int_eq(n, 1);
    /* A tighter target never needs fewer windows. */
    for (double target = 1800; target >= 60; target -= 60) {
        ck_assert_int_eq(staffing_windows(50, 420, target, &n), 0);
        ck_assert_int_ge(n, last - 100);
    }
    const double bad[] = {-1, NAN, INFINITY};
    for (size_t i = 0; i < 3; i++) {
        errno = 0;
        ck_assert_int_eq(staffing_windows(bad[i], 420, TARGET, &n), -1);
        ck_assert_int_eq(errno, EINVAL);
        ck_assert_int_eq(staffing_windows(10, bad[i], TARGET, &n), -1);
        ck_assert_int_eq(staffing_windows(10, 420, bad[i], &n), -1);
        ck_assert_int_eq(staffing_p90(bad[i], 420, 3, &p90), -1);
    }
    ck_assert_int_eq(staffing_windows(10, 0, TARGET, &n), -1);
    ck_assert_int_eq(staffing_windows(10, 420, 0, &n), -1);
    ck_assert_int_eq(staffing_p90(10, 420, -1, &p90), -1);
    errno = 0;
    ck_assert_int_eq(staffing_windows(100000, 420, TARGET, &n), -1);
    ck_assert_int_eq(errno, ERANGE);
}
END_TEST

/* One area, Monday to Friday 09:00-17:00, 24 an hour, with six windows;
 * Wednesday 10:00 brings 60 an hour. */
static void week(profile *p)
{
    memset(p, 0, sizeof *p);
    p->nareas = 1;
    strcpy(p->area[0], "intake");
    p->service_s[0] = 420;
    p->weeks = 4;
    for (int d = 1; d <= 5; d++)
        for (int h = SCEN_OPEN_HOUR; h < SCEN_CLOSE_HOUR; h++) {
            p->arrivals[0][d][h] = d == BUSY_DOW && h == BUSY_H ? 60 : 24;
            p->open_windows[0][d][h] = 6;
        }
}

START_TEST(advice_holds_on_simulated_weeks)
{
    static profile p;
    static staffing_advice adv;
    static staffcheck_result now, advised;
    static int cur[PROFILE_AREAS_MAX][7][24], want[PROFILE_AREAS_MAX][7][24];
    const uint64_t seeds[] = {11, 12, 13, 14, 15, 16, 17, 18};
    char err[160] = "";

    week(&p);
    ck_assert_int_eq(staffing_advise(&p, TARGET, &adv, err, sizeof err), 0);
    for (int d = 0; d < 7; d++)
        for (int h = 0; h < 24; h++) {
            const staffing_hour *x = &adv.hour[0][d][h];
            cur[0][d][h] = x->current;
            want[0][d][h] = x->advised;
            ck_assert_int_eq(x->misses, d == BUSY_DOW && h == BUSY_H);
            if (p.arrivals[0][d][h] == 0)
                ck_assert_int_eq(x->advised, 0);
        }
    ck_assert_int_gt(want[0][BUSY_DOW][BUSY_H], 6);
    ck_assert_msg(staffcheck_week(&p, cur, seeds, 8, &now, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(staffcheck_week(&p, want, seeds, 8, &advised, err, sizeof err) == 0, "%s", err);
    ck_assert_double_gt(now.p90_s[0][BUSY_DOW][BUSY_H], TARGET);
    ck_assert_double_le(advised.p90_s[0][BUSY_DOW][BUSY_H], TARGET);
    for (int d = 0; d < 7; d++)
        for (int h = 0; h < 24; h++)
            if (advised.tickets[0][d][h] >= 100)
                ck_assert_msg(advised.p90_s[0][d][h] <= TARGET, "day %d hour %d: p90 %.0f s", d, h,
                              advised.p90_s[0][d][h]);
    ck_assert_double_le(advised.week_p90_s[0], TARGET);
}
END_TEST

START_TEST(refusals_and_json)
{
    static profile p;
    static staffing_advice adv;
    char err[160];
    const char *names[] = {"综合受理"};

    week(&p);
    p.arrivals[0][2][9] = NAN;
    ck_assert_int_eq(staffing_advise(&p, TARGET, &adv, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "intake"));
    week(&p);
    p.open_windows[0][2][9] = -1;
    ck_assert_int_eq(staffing_advise(&p, TARGET, &adv, err, sizeof err), -1);
    week(&p);
    p.service_s[0] = -5;
    ck_assert_int_eq(staffing_advise(&p, TARGET, &adv, err, sizeof err), -1);
    /* An area never served yet: the engine's assumption, said so. */
    week(&p);
    p.service_s[0] = 0;
    ck_assert_int_eq(staffing_advise(&p, TARGET, &adv, err, sizeof err), 0);
    ck_assert(!adv.service_measured[0]);
    ck_assert(adv.service_s[0] == STAFFING_SERVICE_UNMEASURED_S);
    ck_assert_int_gt(adv.hour[0][1][9].advised, 0);
    week(&p);
    ck_assert_int_eq(staffing_advise(&p, -1, &adv, err, sizeof err), -1);
    ck_assert_int_eq(staffing_advise(&p, NAN, &adv, err, sizeof err), -1);

    ck_assert_int_eq(staffing_advise(&p, TARGET, &adv, err, sizeof err), 0);
    json_t *j = staffing_json(&adv, names);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "target_p90_s")), 900);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "weeks")), 4);
    json_t *area = json_array_get(json_object_get(j, "areas"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(area, "area")), "intake");
    ck_assert_str_eq(json_string_value(json_object_get(area, "name")), "综合受理");
    ck_assert(json_is_true(json_object_get(area, "service_measured")));
    json_t *hours = json_object_get(area, "hours");
    ck_assert_uint_eq(json_array_size(hours), 5 * 8);
    size_t i, misses = 0;
    json_t *h;
    json_array_foreach(hours, i, h)
    {
        ck_assert(json_is_integer(json_object_get(h, "dow")));
        ck_assert(json_is_integer(json_object_get(h, "hour")));
        ck_assert(json_is_number(json_object_get(h, "arrivals_per_h")));
        ck_assert(json_is_number(json_object_get(h, "service_s")));
        ck_assert(json_is_integer(json_object_get(h, "current")));
        ck_assert(json_is_integer(json_object_get(h, "advised")));
        ck_assert(json_is_integer(json_object_get(h, "advised_p90_s")));
        if (json_is_true(json_object_get(h, "misses"))) {
            misses++;
            ck_assert_int_eq(json_integer_value(json_object_get(h, "dow")), BUSY_DOW);
            ck_assert(json_is_null(json_object_get(h, "current_p90_s")));
        }
    }
    ck_assert_uint_eq(misses, 1);
    json_decref(j);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("staffing");
    TCase *tc = tcase_create("advice");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, erlang_c_by_hand);
    tcase_add_test(tc, monotone_zero_and_refusals);
    tcase_add_test(tc, advice_holds_on_simulated_weeks);
    tcase_add_test(tc, refusals_and_json);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
