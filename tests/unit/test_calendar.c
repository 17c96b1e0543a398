/*
 * test_calendar — the hall calendar model (controller/calendar.c): no
 * calendar is open at all hours; weekly hours with a lunch break and the
 * last time to take a number; holidays and swapped working days (调休);
 * an area with hours of its own; the 24-hour area; the opening sentences
 * in both languages (today, tomorrow, a later date); the seconds to the
 * next boundary; the text forms and the rules hours must keep.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"

static clk_civil at(int y, int mo, int d, int h, int mi)
{
    clk_civil c = {.year = y, .month = mo, .day = d, .hour = h, .minute = mi};
    return c;
}

/* Mon-Fri 08:30-17:30, lunch 12:00-14:00, last number 17:00; Sat hours
 * for area "B" only (its own: Mon-Sat 09:00-12:00). */
static calendar *sample(void)
{
    calendar *c = calendar_new();
    cal_hours h = {.open = 510, .lunch_start = 720, .lunch_end = 840, .close = 1050, .last = 1020};
    cal_hours b = {.open = 540, .close = 720, .last = 720};

    ck_assert_ptr_nonnull(c);
    for (int d = 1; d <= 5; d++)
        ck_assert_int_eq(calendar_set_hours(c, "", d, &h), 0);
    for (int d = 1; d <= 6; d++)
        ck_assert_int_eq(calendar_set_hours(c, "B", d, &b), 0);
    return c;
}

static cal_state state(const calendar *c, const char *area, clk_civil now)
{
    cal_state s;
    calendar_state(c, area, &now, &s);
    return s;
}

START_TEST(not_configured)
{
    calendar *c = calendar_new();
    cal_state s = state(c, "A", at(2026, 12, 6, 3, 0));

    ck_assert(!calendar_configured(c));
    ck_assert(s.issuing && s.checkin && s.no_hours);
    ck_assert_str_eq(s.opens_zh, "");
    calendar_free(c);
}
END_TEST

START_TEST(weekly_hours)
{
    calendar *c = sample();
    cal_state s;

    /* 2026-12-07 is a Monday. */
    ck_assert_int_eq(calendar_wday(20261207), 1);
    s = state(c, "A", at(2026, 12, 7, 8, 0));
    ck_assert(!s.issuing && !s.checkin);
    ck_assert_str_eq(s.opens_zh, "今天 08:30 开始取号");
    ck_assert_str_eq(s.opens_en, "Numbers from 08:30 today");
    ck_assert_int_eq(s.next_change_s, 30 * 60);
    s = state(c, "A", at(2026, 12, 7, 8, 30));
    ck_assert(s.issuing && s.checkin);
    ck_assert_str_eq(s.opens_en, "");
    ck_assert_int_eq(s.next_change_s, 210 * 60);
    /* Lunch break: no numbers, appointments still checked in. */
    s = state(c, "A", at(2026, 12, 7, 12, 10));
    ck_assert(!s.issuing && s.checkin);
    ck_assert_str_eq(s.opens_zh, "今天 14:00 开始取号");
    ck_assert_str_eq(s.opens_en, "Numbers from 14:00 today");
    ck_assert(state(c, "A", at(2026, 12, 7, 14, 0)).issuing);
    /* After the last number, before closing. */
    s = state(c, "A", at(2026, 12, 7, 17, 5));
    ck_assert(!s.issuing && s.checkin);
    ck_assert_str_eq(s.opens_zh, "明天 08:30 开始取号");
    ck_assert_str_eq(s.opens_en, "Numbers from 08:30 tomorrow");
    s = state(c, "A", at(2026, 12, 7, 17, 30));
    ck_assert(!s.issuing && !s.checkin);
    ck_assert_int_eq(s.next_change_s, (24 * 60 - 1050) * 60);
    /* Friday evening: Monday, by date. */
    s = state(c, "A", at(2026, 12, 11, 18, 0));
    ck_assert_str_eq(s.opens_zh, "12月14日（周一）08:30 开始取号");
    ck_assert_str_eq(s.opens_en, "Numbers from 08:30 on Mon 14 Dec");
    /* Saturday: closed for the hall, open for area B with its own hours. */
    ck_assert(!state(c, "A", at(2026, 12, 12, 10, 0)).issuing);
    ck_assert(state(c, "B", at(2026, 12, 12, 10, 0)).issuing);
    ck_assert(!state(c, "B", at(2026, 12, 12, 12, 0)).issuing);
    calendar_free(c);
}
END_TEST

START_TEST(holidays_and_swaps)
{
    calendar *c = sample();
    cal_date hol = {.day = 20261001, .kind = CAL_HOLIDAY, .name = "国庆节"};
    cal_date swap = {.day = 20261010, .kind = CAL_WORKDAY, .as_wday = 1};
    cal_state s;

    for (int32_t d = 20261001; d <= 20261007; d++) {
        hol.day = d;
        ck_assert_int_eq(calendar_set_date(c, &hol), 0);
    }
    ck_assert_int_eq(calendar_set_date(c, &swap), 0);
    /* 2026-10-01 is a Thursday: a holiday. */
    s = state(c, "A", at(2026, 10, 1, 10, 0));
    ck_assert(!s.issuing && !s.checkin);
    ck_assert_str_eq(s.opens_zh, "10月8日（周四）08:30 开始取号");
    ck_assert_str_eq(s.opens_en, "Numbers from 08:30 on Thu 8 Oct");
    /* Saturday 10 October works with Monday's hours. */
    ck_assert_int_eq(calendar_wday(20261010), 6);
    ck_assert(state(c, "A", at(2026, 10, 10, 9, 0)).issuing);
    s = state(c, "A", at(2026, 10, 9, 18, 0));
    ck_assert_str_eq(s.opens_zh, "明天 08:30 开始取号");
    ck_assert_int_eq(calendar_remove_date(c, 20261010), 1);
    ck_assert_int_eq(calendar_remove_date(c, 20261010), 0);
    ck_assert(!state(c, "A", at(2026, 10, 10, 9, 0)).issuing);
    /* Dates in order, the last one replaced by a second set. */
    ck_assert_int_eq(calendar_date_at(c, 0)->day, 20261001);
    ck_assert_str_eq(calendar_date_at(c, 0)->name, "国庆节");
    ck_assert_ptr_null(calendar_date_at(c, 7));
    swap.day = 20260230;
    ck_assert_int_eq(calendar_set_date(c, &swap), -1);
    ck_assert_int_eq(errno, EINVAL);
    swap.day = 20261011;
    swap.as_wday = 7;
    ck_assert_int_eq(calendar_set_date(c, &swap), -1);
    calendar_free(c);
}
END_TEST

START_TEST(always_open_and_unstaffed)
{
    calendar *c = sample();
    cal_area self = {.area = "S", .always_open = true};
    cal_area no = {.area = "A", .unstaffed = CAL_UNSTAFFED_NO};
    cal_area yes = {.area = "B", .unstaffed = CAL_UNSTAFFED_YES};
    calendar *d;

    ck_assert_int_eq(calendar_set_area(c, &self), 0);
    ck_assert_int_eq(calendar_set_area(c, &no), 0);
    ck_assert_int_eq(calendar_set_area(c, &yes), 0);
    ck_assert(state(c, "S", at(2026, 12, 6, 3, 0)).issuing);
    ck_assert(!state(c, "A", at(2026, 12, 6, 3, 0)).issuing);
    ck_assert(calendar_issue_unstaffed(c, "S", false));
    ck_assert(!calendar_issue_unstaffed(c, "A", true));
    ck_assert(calendar_issue_unstaffed(c, "B", false));
    ck_assert(calendar_issue_unstaffed(c, "C", true));
    ck_assert(!calendar_issue_unstaffed(c, "C", false));
    d = calendar_dup(c);
    ck_assert_ptr_nonnull(d);
    /* Back to the defaults: the entry goes. */
    self.always_open = false;
    ck_assert_int_eq(calendar_set_area(c, &self), 0);
    ck_assert(!state(c, "S", at(2026, 12, 6, 3, 0)).issuing);
    ck_assert(state(d, "S", at(2026, 12, 6, 3, 0)).issuing);
    ck_assert_str_eq(calendar_area_at(c, 0)->area, "A");
    ck_assert_ptr_null(calendar_area_at(c, 2));
    ck_assert_str_eq(calendar_hours_area_at(c, 0), "");
    ck_assert_str_eq(calendar_hours_area_at(c, 1), "B");
    ck_assert_ptr_null(calendar_hours_area_at(c, 2));
    ck_assert_int_eq(calendar_set_hours(c, "B", 6, NULL), 0);
    ck_assert_ptr_null(calendar_hours_of(c, "B", 6));
    calendar_free(d);
    calendar_free(c);
}
END_TEST

START_TEST(text_and_rules)
{
    cal_hours h = {.open = 510, .lunch_start = 720, .lunch_end = 840, .close = 1050, .last = 1020};
    const char *en, *zh;
    char hm[6];

    ck_assert_int_eq(calendar_parse_time("08:30"), 510);
    ck_assert_int_eq(calendar_parse_time("24:00"), 1440);
    ck_assert_int_eq(calendar_parse_time("24:01"), -1);
    ck_assert_int_eq(calendar_parse_time("8:30"), -1);
    ck_assert_int_eq(calendar_parse_time("08:60"), -1);
    calendar_format_time(510, hm);
    ck_assert_str_eq(hm, "08:30");
    ck_assert_int_eq(calendar_parse_date("2026-10-01"), 20261001);
    ck_assert_int_eq(calendar_parse_date("20240229"), 20240229);
    ck_assert_int_eq(calendar_parse_date("20230229"), -1);
    ck_assert_int_eq(calendar_parse_date("2026-1-01"), -1);
    ck_assert_int_eq(calendar_parse_days("1-5"), 0x3e);
    ck_assert_int_eq(calendar_parse_days("sat,sun"), 0x41);
    ck_assert_int_eq(calendar_parse_days("1-7"), 0x7f);
    ck_assert_int_eq(calendar_parse_days("mon-fri"), 0x3e);
    ck_assert_int_eq(calendar_parse_days("5-1"), -1);
    ck_assert_int_eq(calendar_parse_days("mon,"), -1);
    ck_assert_int_eq(calendar_parse_days("funday"), -1);
    ck_assert(calendar_hours_valid(&h, &en, &zh));
    ck_assert_ptr_null(en);
    h.last = 1060;
    ck_assert(!calendar_hours_valid(&h, &en, &zh));
    ck_assert_ptr_nonnull(strstr(en, "last"));
    ck_assert_ptr_nonnull(strstr(zh, "停止取号"));
    h.last = 1020;
    h.lunch_end = 700;
    ck_assert(!calendar_hours_valid(&h, &en, &zh));
    ck_assert_ptr_nonnull(strstr(en, "lunch"));
    h.lunch_end = 840;
    h.close = 500;
    ck_assert(!calendar_hours_valid(&h, &en, &zh));
    ck_assert_ptr_nonnull(strstr(en, "close"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("calendar");
    TCase *tc = tcase_create("model");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, not_configured);
    tcase_add_test(tc, weekly_hours);
    tcase_add_test(tc, holidays_and_swaps);
    tcase_add_test(tc, always_open_and_unstaffed);
    tcase_add_test(tc, text_and_rules);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
