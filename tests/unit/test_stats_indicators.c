/*
 * stats_indicators: the reform's shares (matters in one-window acceptance,
 * target 80 %; doable online, target 95 %) from a catalog imported as
 * hallctl imports it (catalog_parse, hadmin_catalog_import): per area and
 * for the hall, with the matters that keep an area below target; an
 * empty catalog gives no share (null), not a division by zero.
 */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "hadmin.h"
#include "stats.h"
#include "store.h"
#include "testsupport.h"

#define HALL "test-hall"

static char *dir;
static char db[PATH_MAX];
static clk_zone *zone;

static void setup(void)
{
    dir = ts_tmpdir("stats-ind");
    snprintf(db, sizeof db, "%s/hall.db", dir);
    zone = clk_zone_new("Asia/Shanghai");
    ck_assert_ptr_nonnull(zone);
}

static void teardown(void)
{
    clk_zone_free(zone);
    ts_rmtree(dir);
    free(dir);
}

#define HEADER                                                                                     \
    "kind,code,name,prefix,general,area,conditions,materials,sample,review_points,in_one_window,"  \
    "online_doable\n"

/* intake: 5 matters, 4 one-window (80 %: at target), 5 online (100 %);
 * tax: 4 matters, 1 one-window (25 %), 3 online (75 %);
 * fund: 2 matters, 2 one-window, 2 online;
 * empty: no matters (no share). Hall: 11 matters, 7 one-window (63.6 %),
 * 10 online (90.9 %). */
static const char catalog_csv[] = HEADER "area,intake,综合受理,A,true,,,,,,,\n"
                                         "area,tax,税务服务,T,false,,,,,,,\n"
                                         "area,fund,公积金服务,G,false,,,,,,,\n"
                                         "area,empty,空区,E,false,,,,,,,\n"
                                         "matter,i1,咨询,,,intake,c,m,s,r,true,true\n"
                                         "matter,i2,帮办,,,intake,c,m,s,r,true,true\n"
                                         "matter,i3,社保卡,,,intake,c,m,s,r,true,true\n"
                                         "matter,i4,医保,,,intake,c,m,s,r,true,true\n"
                                         "matter,i5,户籍,,,intake,c,m,s,r,false,true\n"
                                         "matter,t1,发票代开,,,tax,c,m,s,r,true,true\n"
                                         "matter,t2,税务登记,,,tax,c,m,s,r,false,true\n"
                                         "matter,t3,个税汇算,,,tax,c,m,s,r,false,true\n"
                                         "matter,t4,注销清税,,,tax,c,m,s,r,false,false\n"
                                         "matter,f1,公积金提取,,,fund,c,m,s,r,true,true\n"
                                         "matter,f2,公积金贷款,,,fund,c,m,s,r,true,true\n";

static void import(store *s, const char *csv)
{
    char err[512];
    catalog *c = catalog_parse("test.csv", csv, strlen(csv), CATALOG_CSV, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    hadmin_actor a = {"hallctl", "root", NULL, zone, 3};
    hadmin_import out = {0};
    hadmin_error e = {0};
    ck_assert_msg(hadmin_catalog_import(s, &a, c, "test.csv", &out, &e) == 0, "%s", e.en);
    hadmin_import_release(&out);
    catalog_free(c);
}

static const stats_area_ind *area(const stats_indicators *ind, const char *code)
{
    for (size_t i = 0; i < ind->nareas; i++)
        if (strcmp(ind->areas[i].area, code) == 0)
            return &ind->areas[i];
    ck_abort_msg("no area %s", code);
    return NULL;
}

START_TEST(test_shares)
{
    char err[256];
    store *s = store_open(db, HALL, STORE_ADMIN, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    import(s, catalog_csv);
    store *rd = store_open(db, HALL, STORE_READER, err, sizeof err);
    ck_assert_msg(rd != NULL, "%s", err);
    stats_indicators *ind = stats_indicators_run(rd, err, sizeof err);
    ck_assert_msg(ind != NULL, "%s", err);

    ck_assert_uint_eq(ind->hall.matters, 11);
    ck_assert_uint_eq(ind->hall.one_window, 7);
    ck_assert_uint_eq(ind->hall.online, 10);
    ck_assert(fabs(ind->hall.one_window_share - 7.0 / 11) < 1e-12);
    ck_assert(fabs(ind->hall.online_share - 10.0 / 11) < 1e-12);
    ck_assert_uint_eq(ind->nareas, 4);
    ck_assert_str_eq(ind->areas[0].area, "intake"); /* catalog order */

    const stats_area_ind *a = area(ind, "intake");
    ck_assert_str_eq(a->name, "综合受理");
    ck_assert(fabs(a->share.one_window_share - 0.8) < 1e-12);
    ck_assert_uint_eq(a->nbelow_one_window, 0); /* 80 % is the target: not below */
    ck_assert_uint_eq(a->nbelow_online, 0);

    a = area(ind, "tax");
    ck_assert(fabs(a->share.one_window_share - 0.25) < 1e-12);
    ck_assert(fabs(a->share.online_share - 0.75) < 1e-12);
    ck_assert_uint_eq(a->nbelow_one_window, 3);
    ck_assert_str_eq(a->below_one_window[0].code, "t2");
    ck_assert_str_eq(a->below_one_window[1].code, "t3");
    ck_assert_str_eq(a->below_one_window[2].code, "t4");
    ck_assert_str_eq(a->below_one_window[2].name, "注销清税");
    ck_assert_uint_eq(a->nbelow_online, 1);
    ck_assert_str_eq(a->below_online[0].code, "t4");

    a = area(ind, "fund");
    ck_assert(a->share.one_window_share == 1.0 && a->share.online_share == 1.0);

    a = area(ind, "empty");
    ck_assert_uint_eq(a->share.matters, 0);
    ck_assert(a->share.one_window_share < 0 && a->share.online_share < 0);

    /* The JSON: the empty area's shares are null. */
    json_t *j = stats_indicators_json(ind);
    ck_assert_ptr_nonnull(j);
    ck_assert(json_real_value(json_object_get(j, "one_window_target")) == 0.8);
    json_t *areas = json_object_get(j, "areas");
    ck_assert(json_is_null(json_object_get(json_array_get(areas, 3), "one_window_share")));
    json_t *below = json_object_get(json_array_get(areas, 1), "below_online");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(below, 0), "code")), "t4");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "hall"), "matters")),
                     11);
    json_decref(j);
    stats_indicators_free(ind);
    store_close(rd);
    store_close(s);
}
END_TEST

START_TEST(test_no_matters)
{
    char err[256];
    store *s = store_open(db, HALL, STORE_ADMIN, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    store *rd = store_open(db, HALL, STORE_READER, err, sizeof err);
    ck_assert_msg(rd != NULL, "%s", err);
    /* No catalog at all, then a catalog of areas without matters. */
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            import(s, HEADER "area,intake,综合受理,A,true,,,,,,,\n");
        stats_indicators *ind = stats_indicators_run(rd, err, sizeof err);
        ck_assert_msg(ind != NULL, "%s", err);
        ck_assert_uint_eq(ind->hall.matters, 0);
        ck_assert(ind->hall.one_window_share < 0 && ind->hall.online_share < 0);
        ck_assert_uint_eq(ind->nareas, (unsigned)round);
        json_t *j = stats_indicators_json(ind);
        ck_assert(json_is_null(json_object_get(json_object_get(j, "hall"), "online_share")));
        json_decref(j);
        stats_indicators_free(ind);
    }
    store_close(rd);
    store_close(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats_indicators");
    TCase *tc = tcase_create("indicators");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_shares);
    tcase_add_test(tc, test_no_matters);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
