/*
 * test_kiosk_bus_guard — the plausibility checks of the kiosk's bus master
 * role (firmware/kiosk/kbus.h, "The guard"), with explicit clocks: call-pad
 * keys beyond what a clerk can press are dropped and the burst is reported
 * once, a clerk's own pace (an outage's full FIFO included) never is; a
 * pad restarting too often is flagged, one restarting now and then is not;
 * flags end KBUS_FLAG_MS after what raised them.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbus.h"

#define T0 1000000 /* any monotonic start */

START_TEST(burst_dropped_and_reported_once)
{
    kbus_guard g;
    int64_t t = T0;

    kbus_guard_init(&g);
    ck_assert(!kbus_guard_flagged(&g, t));
    for (int i = 0; i < KBUS_KEY_BURST; i++)
        ck_assert_int_eq(kbus_guard_key(&g, t), KBUS_KEY_TAKE);
    ck_assert(!kbus_guard_flagged(&g, t));
    ck_assert_int_eq(kbus_guard_key(&g, t), KBUS_KEY_DROP_FIRST);
    ck_assert(kbus_guard_flagged(&g, t));
    ck_assert_str_eq(kbus_guard_why(&g, t), "keys faster than a clerk, dropped");
    ck_assert_int_eq(kbus_guard_key(&g, t), KBUS_KEY_DROP);
    ck_assert_int_eq(kbus_guard_key(&g, t + KBUS_KEY_EVERY_MS - 1), KBUS_KEY_DROP);
    /* A key's worth of allowance back: one more is taken, the burst goes
     * on (not reported again). */
    t += KBUS_KEY_EVERY_MS;
    ck_assert_int_eq(kbus_guard_key(&g, t), KBUS_KEY_TAKE);
    ck_assert_int_eq(kbus_guard_key(&g, t), KBUS_KEY_DROP);
    /* Quiet until the allowance is whole: the burst is over, a new one is
     * a new report. */
    t += (int64_t)KBUS_KEY_BURST * KBUS_KEY_EVERY_MS;
    for (int i = 0; i < KBUS_KEY_BURST; i++)
        ck_assert_int_eq(kbus_guard_key(&g, t), KBUS_KEY_TAKE);
    ck_assert_int_eq(kbus_guard_key(&g, t), KBUS_KEY_DROP_FIRST);
}
END_TEST

START_TEST(flood_reported_once_and_bounded)
{
    kbus_guard g;
    int taken = 0, firsts = 0;
    int64_t t = T0, last_drop = 0;

    kbus_guard_init(&g);
    /* 100 keys a second for a minute. */
    for (int i = 0; i < 6000; i++, t += 10) {
        kbus_key_verdict v = kbus_guard_key(&g, t);
        taken += v == KBUS_KEY_TAKE;
        firsts += v == KBUS_KEY_DROP_FIRST;
        if (v != KBUS_KEY_TAKE)
            last_drop = t;
    }
    ck_assert_int_eq(firsts, 1);
    /* The allowance, then one a second. */
    ck_assert_int_le(taken, KBUS_KEY_BURST + 60);
    ck_assert_int_ge(taken, KBUS_KEY_BURST + 59);
    /* Flagged until KBUS_FLAG_MS after the last key dropped. */
    ck_assert(kbus_guard_flagged(&g, last_drop + KBUS_FLAG_MS - 1));
    ck_assert_int_eq(kbus_guard_flag_ends(&g, t), last_drop + KBUS_FLAG_MS);
    ck_assert(!kbus_guard_flagged(&g, last_drop + KBUS_FLAG_MS));
    ck_assert_str_eq(kbus_guard_why(&g, last_drop + KBUS_FLAG_MS), "");
    ck_assert_int_eq(kbus_guard_flag_ends(&g, last_drop + KBUS_FLAG_MS), 0);
}
END_TEST

START_TEST(clerk_pace_never_dropped)
{
    kbus_guard g;
    int64_t t = T0;

    kbus_guard_init(&g);
    /* A day of steady work: a key every second, for hours. */
    for (int i = 0; i < 20000; i++, t += KBUS_KEY_EVERY_MS)
        ck_assert_int_eq(kbus_guard_key(&g, t), KBUS_KEY_TAKE);
    /* After an outage the pad's full FIFO (8) arrives in one poll, and
     * the clerk goes on pressing. */
    t += 60000;
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(kbus_guard_key(&g, t), KBUS_KEY_TAKE);
    ck_assert_int_eq(kbus_guard_key(&g, t + 300), KBUS_KEY_TAKE);
    ck_assert_int_eq(kbus_guard_key(&g, t + 900), KBUS_KEY_TAKE);
    /* A hurried clerk: five keys within a second, every ten seconds. */
    t += 30000;
    for (int round = 0; round < 100; round++, t += 10000)
        for (int i = 0; i < 5; i++)
            ck_assert_int_eq(kbus_guard_key(&g, t + i * 200), KBUS_KEY_TAKE);
    ck_assert(!kbus_guard_flagged(&g, t));
}
END_TEST

START_TEST(restarts_too_often_flagged)
{
    kbus_guard g;
    int64_t t = T0;

    kbus_guard_init(&g);
    for (int i = 0; i < KBUS_RESTARTS_MAX; i++)
        ck_assert(!kbus_guard_restart(&g, t + i * 1000));
    ck_assert(!kbus_guard_flagged(&g, t + 5000));
    /* One too many within the window: reported once. */
    t += KBUS_RESTARTS_WINDOW_MS;
    ck_assert(kbus_guard_restart(&g, t));
    ck_assert(kbus_guard_flagged(&g, t));
    ck_assert_str_eq(kbus_guard_why(&g, t), "restarts too often");
    ck_assert(!kbus_guard_restart(&g, t + 1000));
    ck_assert(kbus_guard_flagged(&g, t + 1000 + KBUS_FLAG_MS - 1));
    ck_assert(!kbus_guard_flagged(&g, t + 1000 + KBUS_FLAG_MS));
    /* Quiet past the flag, then restarting again too often: a new report. */
    t += 1000 + KBUS_FLAG_MS;
    for (int i = 0; i < KBUS_RESTARTS_MAX; i++)
        ck_assert(!kbus_guard_restart(&g, t + i));
    ck_assert(kbus_guard_restart(&g, t + KBUS_RESTARTS_MAX));
}
END_TEST

START_TEST(restarts_now_and_then_not_flagged)
{
    kbus_guard g;
    int64_t t = T0, gap = KBUS_RESTARTS_WINDOW_MS / KBUS_RESTARTS_MAX + 1;

    kbus_guard_init(&g);
    /* A power cut every few minutes for a day: never more than the limit
     * within one window. */
    for (int i = 0; i < 500; i++, t += gap)
        ck_assert(!kbus_guard_restart(&g, t));
    ck_assert(!kbus_guard_flagged(&g, t));
    ck_assert_int_eq(kbus_guard_flag_ends(&g, t), 0);
}
END_TEST

START_TEST(both_reasons)
{
    kbus_guard g;
    int64_t t = T0;

    kbus_guard_init(&g);
    for (int i = 0; i <= KBUS_RESTARTS_MAX; i++)
        kbus_guard_restart(&g, t);
    for (int i = 0; i <= KBUS_KEY_BURST; i++)
        kbus_guard_key(&g, t + 5000);
    ck_assert_str_eq(kbus_guard_why(&g, t + 5000),
                     "keys faster than a clerk, dropped; restarts too often");
    /* The restarts' flag ends first, then the burst's. */
    ck_assert_int_eq(kbus_guard_flag_ends(&g, t + 5000), t + KBUS_FLAG_MS);
    ck_assert_str_eq(kbus_guard_why(&g, t + KBUS_FLAG_MS), "keys faster than a clerk, dropped");
    ck_assert_int_eq(kbus_guard_flag_ends(&g, t + KBUS_FLAG_MS), t + 5000 + KBUS_FLAG_MS);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kiosk_bus_guard");
    TCase *tc = tcase_create("guard");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, burst_dropped_and_reported_once);
    tcase_add_test(tc, flood_reported_once_and_bounded);
    tcase_add_test(tc, clerk_pace_never_dropped);
    tcase_add_test(tc, restarts_too_often_flagged);
    tcase_add_test(tc, restarts_now_and_then_not_flagged);
    tcase_add_test(tc, both_reasons);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
