/*
 * test_calendar — the hall calendar model (controller/calendar.c): no
 * calendar is open at all hours; weekly hours with a lunch break and the
 * last time to take a number; holidays and swapped working days (调休);
 * an area with hours of its own; the 24-hour area; the opening sentences
 * in both languages (today, tomorrow, a later date); the seconds to the
 * next boundary; the text forms and the rules hours must keep.
 *
 * And the calendar's changes (hadmin.c) on a real store: each is one audit
 * event and reads back whole; each refusal names its field, says why in
 * both languages, and changes nothing (the event log's head and the stored
 * calendar stay); an import is all or nothing.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "hadmin.h"
#include "store.h"
#include "testsupport.h"

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
    ck_assert(s.issuing && s.checkin);
    ck_assert_str_eq(s.opens_zh, "");
    calendar_free(c);
}
END_TEST

START_TEST(weekly_hours)
{
    calendar *c = sample();
    cal_state s;

    /* 2026-12-07 is a Monday. */
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
    /* Back to the defaults: the entry goes. */
    self.always_open = false;
    ck_assert_int_eq(calendar_set_area(c, &self), 0);
    ck_assert(!state(c, "S", at(2026, 12, 6, 3, 0)).issuing);
    ck_assert_str_eq(calendar_area_at(c, 0)->area, "A");
    ck_assert_ptr_null(calendar_area_at(c, 2));
    ck_assert_str_eq(calendar_hours_area_at(c, 0), "");
    ck_assert_str_eq(calendar_hours_area_at(c, 1), "B");
    ck_assert_ptr_null(calendar_hours_area_at(c, 2));
    ck_assert_int_eq(calendar_set_hours(c, "B", 6, NULL), 0);
    ck_assert_ptr_null(calendar_hours_of(c, "B", 6));
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

/* ---- The changes, on a real store ---------------------------------------- */

static char *dir;
static store *st;
static clk_zone *zone;
static hadmin_actor tool;

static void setup(void)
{
    char db[PATH_MAX], err[512];
    q_area areas[] = {
        {.code = "intake", .name = "综合受理", .prefix = "A", .general = true},
        {.code = "tax", .name = "税务服务", .prefix = "T"},
    };

    dir = ts_tmpdir("calendar");
    snprintf(db, sizeof db, "%s/hall.db", dir);
    st = store_open(db, "test-hall", STORE_ADMIN, err, sizeof err);
    ck_assert_msg(st != NULL, "store_open: %s", err);
    zone = clk_zone_new("Asia/Shanghai");
    ck_assert_ptr_nonnull(zone);
    tool = (hadmin_actor){"hallctl", "root", NULL, zone, 3};
    ck_assert_int_eq(store_replace_catalog(st, areas, 2, NULL, 0, 0), 0);
}

static void teardown(void)
{
    store_close(st);
    clk_zone_free(zone);
    ts_rmtree(dir);
    free(dir);
}

static uint64_t head(void)
{
    uint64_t seq;
    uint8_t hash[32];

    ck_assert_int_eq(store_event_head(st, &seq, hash), 0);
    return seq;
}

static calendar *stored(void)
{
    calendar *c;

    ck_assert_int_eq(store_load_calendar(st, &c), 0);
    return c;
}

static void refused(const hadmin_error *e, hadmin_fault fault, const char *field, uint64_t was)
{
    ck_assert_int_eq(e->fault, fault);
    ck_assert_str_eq(e->field, field);
    ck_assert_msg(e->en[0] != '\0' && e->zh[0] != '\0', "a refusal in both languages");
    /* No English in the Chinese sentence (the value quoted aside). */
    const char *v = e->value[0] != '\0' ? strstr(e->zh, e->value) : NULL;
    for (const char *p = e->zh; *p; p++) {
        if (p == v) {
            p += strlen(e->value) - 1;
            continue;
        }
        ck_assert_msg(!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')),
                      "no Latin letters in the Chinese sentence: %s", e->zh);
    }
    ck_assert_uint_eq(head(), was);
}

START_TEST(changes)
{
    hadmin_error e;
    calendar *c;
    size_t n;
    uint64_t h0 = head();

    c = stored();
    ck_assert(!calendar_configured(c));
    calendar_free(c);
    ck_assert_int_eq(
        hadmin_calendar_hours(st, &tool, "", "1-5", "08:30", "17:30", "12:00-14:00", "17:00", &e),
        0);
    ck_assert_int_eq(hadmin_calendar_hours(st, &tool, "tax", "sat", "09:00", "12:00", "", "", &e),
                     0);
    ck_assert_int_eq(hadmin_calendar_date(st, &tool, "2026-10-01", "holiday", "", "国庆节", &e), 0);
    ck_assert_int_eq(hadmin_calendar_date(st, &tool, "2026-10-10", "workday", "fri", "", &e), 0);
    ck_assert_int_eq(hadmin_calendar_area(st, &tool, "tax", "yes", "no", &e), 0);
    ck_assert_uint_eq(head(), h0 + 5);
    c = stored();
    const cal_hours *x = calendar_hours_of(c, "", 3);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(x->open, 510);
    ck_assert_int_eq(x->lunch_start, 720);
    ck_assert_int_eq(x->lunch_end, 840);
    ck_assert_int_eq(x->last, 1020);
    ck_assert_int_eq(x->close, 1050);
    ck_assert_ptr_null(calendar_hours_of(c, "", 6));
    ck_assert_int_eq(calendar_hours_of(c, "tax", 6)->last, 720);
    ck_assert_int_eq(calendar_date_at(c, 1)->as_wday, 5);
    ck_assert_str_eq(calendar_date_at(c, 0)->name, "国庆节");
    ck_assert(calendar_area(c, "tax").always_open);
    ck_assert_int_eq(calendar_area(c, "tax").unstaffed, CAL_UNSTAFFED_NO);
    calendar_free(c);

    /* Refusals: the field named, nothing changed. */
    uint64_t h1 = head();
    ck_assert_int_eq(hadmin_calendar_hours(st, &tool, "", "1-5", "8:30", "17:30", "", "", &e), -1);
    refused(&e, HADMIN_INVALID, "open", h1);
    ck_assert_str_eq(e.value, "8:30");
    ck_assert_int_eq(hadmin_calendar_hours(st, &tool, "", "1-5", "08:30", "17:30", "", "18:00", &e),
                     -1);
    refused(&e, HADMIN_INVALID, "last", h1);
    ck_assert_int_eq(
        hadmin_calendar_hours(st, &tool, "", "1-5", "08:30", "17:30", "07:00-08:00", "", &e), -1);
    refused(&e, HADMIN_INVALID, "lunch", h1);
    ck_assert_int_eq(hadmin_calendar_hours(st, &tool, "", "1-5", "18:00", "17:30", "", "", &e), -1);
    refused(&e, HADMIN_INVALID, "close", h1);
    ck_assert_int_eq(hadmin_calendar_hours(st, &tool, "", "someday", "08:30", "17:30", "", "", &e),
                     -1);
    refused(&e, HADMIN_INVALID, "days", h1);
    ck_assert_int_eq(
        hadmin_calendar_hours(st, &tool, "nosuch", "1-5", "08:30", "17:30", "", "", &e), -1);
    refused(&e, HADMIN_NOT_FOUND, "area", h1);
    ck_assert_int_eq(hadmin_calendar_date(st, &tool, "2026-02-30", "holiday", "", "", &e), -1);
    refused(&e, HADMIN_INVALID, "date", h1);
    ck_assert_int_eq(hadmin_calendar_date(st, &tool, "2026-03-01", "party", "", "", &e), -1);
    refused(&e, HADMIN_INVALID, "kind", h1);
    ck_assert_int_eq(hadmin_calendar_date(st, &tool, "2026-03-01", "workday", "1-5", "", &e), -1);
    refused(&e, HADMIN_INVALID, "as", h1);
    ck_assert_int_eq(hadmin_calendar_area(st, &tool, "tax", "maybe", NULL, &e), -1);
    refused(&e, HADMIN_INVALID, "always_open", h1);
    ck_assert_int_eq(hadmin_calendar_area(st, &tool, "tax", NULL, "often", &e), -1);
    refused(&e, HADMIN_INVALID, "unstaffed", h1);
    ck_assert_int_eq(hadmin_calendar_area(st, &tool, "", "yes", NULL, &e), -1);
    refused(&e, HADMIN_INVALID, "area", h1);

    /* Nothing to do: no event. */
    ck_assert_int_eq(hadmin_calendar_clear(st, &tool, "", "sat", &e), 0);
    ck_assert_int_eq(hadmin_calendar_undate(st, &tool, "2026-05-01", &e), 0);
    ck_assert_uint_eq(head(), h1);
    ck_assert_int_eq(hadmin_calendar_clear(st, &tool, "", "5", &e), 1);
    ck_assert_int_eq(hadmin_calendar_undate(st, &tool, "2026-10-10", &e), 1);
    ck_assert_uint_eq(head(), h1 + 2);

    /* An import: all or nothing, the bad line named. */
    static const char good[] = "# 2027\n2027-01-01,holiday,,元旦\r\n\n2027-02-06,workday,mon\n";
    static const char bad[] = "2027-05-01,holiday\n2027-05-32,holiday\n";
    ck_assert_int_eq(hadmin_calendar_import(st, &tool, bad, sizeof bad - 1, &n, &e), -1);
    refused(&e, HADMIN_INVALID, "line", h1 + 2);
    ck_assert_str_eq(e.value, "2");
    ck_assert_ptr_nonnull(strstr(e.zh, "第 2 行"));
    ck_assert_int_eq(hadmin_calendar_import(st, &tool, good, sizeof good - 1, &n, &e), 0);
    ck_assert_uint_eq(n, 2);
    c = stored();
    ck_assert_int_eq(calendar_date_at(c, 1)->day, 20270101);
    ck_assert_str_eq(calendar_date_at(c, 1)->name, "元旦");
    ck_assert_int_eq(calendar_date_at(c, 2)->as_wday, 1);
    ck_assert_ptr_null(calendar_date_at(c, 3));
    ck_assert_ptr_null(calendar_hours_of(c, "", 5));
    calendar_free(c);
    ck_assert_int_eq(store_verify_events(st, &(uint64_t){0}), 0);
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
    tc = tcase_create("changes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, changes);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
