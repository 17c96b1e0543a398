/*
 * test_hadmin — the administrative changes hallctl and the admin page share
 * (controller/hadmin.c), on a real store in a scratch directory.
 *
 * Each rule refuses with its fault, the field at fault and a sentence in
 * English and in Chinese, and a refusal writes nothing (the event log's
 * head does not move); each change is one audit event naming its device
 * and user, with "web: ... (from ADDRESS)" for a person at a page;
 * repeating a change that is already so writes nothing; the catalog import
 * lists the areas it retired, and a refused import leaves the catalog as it
 * was; made passwords use the unambiguous alphabet; a big screen's token
 * is found by itself alone, and refused once revoked.
 */
#include <check.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "hadmin.h"
#include "pwhash.h"
#include "store.h"
#include "testsupport.h"

#define HALL "test-hall"

static char *dir;
static store *st;
static clk_zone *zone;
static hadmin_actor tool, web;

static void setup(void)
{
    char db[PATH_MAX], err[512];

    dir = ts_tmpdir("hadmin");
    snprintf(db, sizeof db, "%s/hall.db", dir);
    st = store_open(db, HALL, STORE_ADMIN, err, sizeof err);
    ck_assert_msg(st != NULL, "store_open: %s", err);
    zone = clk_zone_new("Asia/Shanghai");
    ck_assert_ptr_nonnull(zone);
    tool = (hadmin_actor){"hallctl", "root", NULL, zone, 3};
    web = (hadmin_actor){"web-1", "boss", "192.0.2.7", zone, 3};
    q_area areas[] = {
        {.code = "intake", .name = "综合受理", .prefix = "A", .general = true},
        {.code = "tax", .name = "税务服务", .prefix = "T"},
    };
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

/* A refusal: its fault and field, and both sentences. */
static void refused(const hadmin_error *e, hadmin_fault fault, const char *field)
{
    ck_assert_int_eq(e->fault, fault);
    if (field == NULL)
        ck_assert_ptr_null(e->field);
    else
        ck_assert_str_eq(e->field, field);
    ck_assert_msg(e->en[0] != '\0' && e->zh[0] != '\0', "a refusal in both languages");
}

/* The newest event's text, device and user, read as SQL reads the row. */
static void newest(char detail[512], char device[80], char user[80])
{
    char db[PATH_MAX];
    sqlite3 *conn;
    sqlite3_stmt *q;

    snprintf(db, sizeof db, "%s/hall.db", dir);
    ck_assert_int_eq(sqlite3_open_v2(db, &conn, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(conn,
                                        "SELECT detail, device, clerk FROM events ORDER BY seq "
                                        "DESC LIMIT 1",
                                        -1, &q, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    snprintf(detail, 512, "%s", (const char *)sqlite3_column_text(q, 0));
    snprintf(device, 80, "%s", (const char *)sqlite3_column_text(q, 1));
    snprintf(user, 80, "%s", (const char *)sqlite3_column_text(q, 2));
    sqlite3_finalize(q);
    sqlite3_close(conn);
}

START_TEST(windows)
{
    hadmin_error e;
    q_window w;
    uint64_t before = head();

    ck_assert_int_eq(hadmin_window_build(&w, 0, "窗口", "intake", &e), -1);
    refused(&e, HADMIN_INVALID, "no");
    ck_assert_int_eq(hadmin_window_build(&w, 10000, "窗口", "intake", &e), -1);
    refused(&e, HADMIN_INVALID, "no");
    ck_assert_int_eq(hadmin_window_build(&w, 7, "两\n行", "intake", &e), -1);
    refused(&e, HADMIN_INVALID, "name");
    ck_assert_int_eq(hadmin_window_build(&w, 7, " 窗口", "intake", &e), -1);
    refused(&e, HADMIN_INVALID, "name");
    ck_assert_int_eq(hadmin_window_build(&w, 7, "窗口", "lounge", &e), -1);
    refused(&e, HADMIN_INVALID, "type");
    ck_assert_str_eq(e.value, "lounge");

    ck_assert_int_eq(hadmin_window_build(&w, 7, "综合受理7号窗", "intake", &e), 0);
    ck_assert_int_eq(hadmin_window_save(st, &tool, &w, &e), -1); /* no area */
    refused(&e, HADMIN_INVALID, "areas");
    ck_assert_int_eq(hadmin_window_area(&w, "no such", 1, &e), -1);
    refused(&e, HADMIN_INVALID, "areas");
    ck_assert_int_eq(hadmin_window_area(&w, "intake", 0, &e), -1);
    refused(&e, HADMIN_INVALID, "areas");
    ck_assert_int_eq(hadmin_window_area(&w, "intake", HADMIN_WEIGHT_MAX + 1, &e), -1);
    ck_assert_int_eq(hadmin_window_area(&w, "nowhere", 1, &e), 0);
    ck_assert_int_eq(hadmin_window_area(&w, "nowhere", 2, &e), -1); /* twice */
    refused(&e, HADMIN_INVALID, "areas");
    ck_assert_int_eq(hadmin_window_save(st, &tool, &w, &e), -1);
    refused(&e, HADMIN_NOT_FOUND, "areas");
    ck_assert_str_eq(e.value, "nowhere");
    ck_assert_ptr_nonnull(strstr(e.zh, "nowhere"));
    ck_assert_uint_eq(head(), before); /* refusals write nothing */

    ck_assert_int_eq(hadmin_window_build(&w, 7, "综合受理7号窗", "intake", &e), 0);
    ck_assert_int_eq(hadmin_window_area(&w, "intake", 2, &e), 0);
    ck_assert_int_eq(hadmin_window_area(&w, "tax", 1, &e), 0);
    ck_assert_int_eq(hadmin_window_save(st, &web, &w, &e), 0);
    ck_assert_uint_eq(head(), before + 1);
    char detail[512], device[80], user[80];
    newest(detail, device, user);
    ck_assert_str_eq(
        detail,
        "web: window 7 saved: 综合受理7号窗, intake, areas intake:2,tax:1 (from 192.0.2.7)");
    ck_assert_str_eq(device, "web-1");
    ck_assert_str_eq(user, "boss");

    /* A window serves at most Q_MAX_AREAS_PER_WINDOW areas. */
    ck_assert_int_eq(hadmin_window_build(&w, 8, "窗口8", "consult", &e), 0);
    for (int i = 0; i < Q_MAX_AREAS_PER_WINDOW; i++) {
        char code[16];
        snprintf(code, sizeof code, "a%d", i);
        ck_assert_int_eq(hadmin_window_area(&w, code, 1, &e), 0);
    }
    ck_assert_int_eq(hadmin_window_area(&w, "one-more", 1, &e), -1);
    refused(&e, HADMIN_INVALID, "areas");
}
END_TEST

START_TEST(clerks_and_devices)
{
    hadmin_error e;
    store_clerk c;
    store_device d;
    uint64_t before = head();

    ck_assert_int_eq(hadmin_clerk_build(&c, "c 7", "王五", &e), -1);
    refused(&e, HADMIN_INVALID, "id");
    ck_assert_int_eq(hadmin_clerk_build(&c, ".c7", "王五", &e), -1);
    ck_assert_int_eq(hadmin_clerk_build(&c, "c-7", "", &e), -1);
    refused(&e, HADMIN_INVALID, "name");
    ck_assert_int_eq(hadmin_clerk_build(&c, "c-7", "王五", &e), 0);
    ck_assert_int_eq(hadmin_clerk_save(st, &tool, &c, &e), 0);
    ck_assert_uint_eq(head(), before + 1);

    ck_assert_int_eq(hadmin_device_build(&d, "k/1", "kiosk", 0, &e), -1);
    refused(&e, HADMIN_INVALID, "id");
    ck_assert_int_eq(hadmin_device_build(&d, "k1", "toaster", 0, &e), -1);
    refused(&e, HADMIN_INVALID, "type");
    ck_assert_int_eq(hadmin_device_build(&d, "k1", "kiosk", 3, &e), -1);
    refused(&e, HADMIN_INVALID, "window");
    ck_assert_int_eq(hadmin_device_build(&d, "w1", "window", 0, &e), -1);
    refused(&e, HADMIN_INVALID, "window");
    ck_assert_int_eq(hadmin_device_build(&d, "w1", "window", 9, &e), 0);
    ck_assert_int_eq(hadmin_device_check_new(st, &d, &e), -1);
    refused(&e, HADMIN_NOT_FOUND, "window");

    store_device k = {.id = "kiosk-1", .type = HADMIN_DEV_KIOSK, .added_ms = 1};
    store_device g = {.id = "web-1", .type = HADMIN_DEV_WEB, .added_ms = 1};
    ck_assert_int_eq(store_save_device(st, &k), 0);
    ck_assert_int_eq(store_save_device(st, &g), 0);
    ck_assert_int_eq(hadmin_device_build(&d, "kiosk-1", "kiosk", 0, &e), 0);
    ck_assert_int_eq(hadmin_device_check_new(st, &d, &e), -1);
    refused(&e, HADMIN_CONFLICT, "id");

    before = head();
    ck_assert_int_eq(hadmin_device_revoke(st, &web, "nobody", &e), -1);
    refused(&e, HADMIN_NOT_FOUND, "id");
    ck_assert_int_eq(hadmin_device_revoke(st, &web, "web-1", &e), -1); /* the page's own */
    refused(&e, HADMIN_CONFLICT, "id");
    ck_assert_uint_eq(head(), before);
    ck_assert_int_eq(hadmin_device_revoke(st, &web, "kiosk-1", &e), 1);
    ck_assert_int_eq(hadmin_device_revoke(st, &web, "kiosk-1", &e), 0); /* already */
    ck_assert_uint_eq(head(), before + 1);
    /* A revoked id is never registered again. */
    ck_assert_int_eq(hadmin_device_check_new(st, &d, &e), -1);
    refused(&e, HADMIN_CONFLICT, "id");
    ck_assert_ptr_nonnull(strstr(e.en, "never reused"));
}
END_TEST

/* Call-pad PINs: digits of the right length, made at random, set only
 * for a clerk a pad can name, kept as a hash. */
START_TEST(clerk_pins)
{
    hadmin_error e;
    store_clerk c = {.id = "1001", .name = "张敏", .active = true}, got;
    char pin[HADMIN_PIN_MADE + 1], other[HADMIN_PIN_MADE + 1], hash[PWHASH_MAX];

    ck_assert_int_eq(hadmin_pin_check("123", &e), -1);
    refused(&e, HADMIN_INVALID, "pin");
    ck_assert_str_eq(e.value, "");
    ck_assert_int_eq(hadmin_pin_check("123456789", &e), -1);
    ck_assert_int_eq(hadmin_pin_check("12a4", &e), -1);
    ck_assert_int_eq(hadmin_pin_check("1234", &e), 0);
    ck_assert_int_eq(hadmin_pin_check("12345678", &e), 0);
    ck_assert_int_eq(hadmin_pin_make(pin, sizeof pin), 0);
    ck_assert_int_eq(hadmin_pin_make(other, sizeof other), 0);
    ck_assert_uint_eq(strlen(pin), HADMIN_PIN_MADE);
    ck_assert_uint_eq(strspn(pin, "0123456789"), HADMIN_PIN_MADE);
    ck_assert_int_eq(hadmin_pin_check(pin, &e), 0);
    ck_assert_int_eq(hadmin_pin_make(pin, HADMIN_PIN_MADE), -1);

    ck_assert_int_eq(pwhash_make_cost(other, PWHASH_LN_MIN, hash, sizeof hash), 0);
    /* Not a clerk; an id a pad cannot type. Nothing changes. */
    ck_assert_int_eq(hadmin_clerk_set_pin(st, &tool, "1001", hash, &e), -1);
    refused(&e, HADMIN_NOT_FOUND, "id");
    ck_assert_int_eq(store_save_clerk(st, &c), 0);
    store_clerk letters = {.id = "c-9", .name = "王芳", .active = true};
    ck_assert_int_eq(store_save_clerk(st, &letters), 0);
    ck_assert_int_eq(hadmin_clerk_set_pin(st, &tool, "c-9", hash, &e), -1);
    refused(&e, HADMIN_INVALID, "id");
    ck_assert_int_eq(store_get_clerk(st, "c-9", &got), 1);
    ck_assert_str_eq(got.pin_hash, "");

    ck_assert_int_eq(hadmin_clerk_set_pin(st, &tool, "1001", hash, &e), 0);
    ck_assert_int_eq(store_get_clerk(st, "1001", &got), 1);
    ck_assert_str_eq(got.pin_hash, hash);
    ck_assert_int_eq(pwhash_verify(other, got.pin_hash), 1);
    /* Renaming the clerk keeps the PIN. */
    snprintf(c.name, sizeof c.name, "张敏敏");
    ck_assert_int_eq(hadmin_clerk_save(st, &tool, &c, &e), 0);
    ck_assert_int_eq(store_get_clerk(st, "1001", &got), 1);
    ck_assert_str_eq(got.pin_hash, hash);
}
END_TEST

START_TEST(users)
{
    hadmin_error e;
    store_user u;
    char made[HADMIN_PASSWORD_MADE + 1], other[HADMIN_PASSWORD_MADE + 1];
    store_clerk c = {.id = "c-1", .name = "张三", .active = true};

    ck_assert_int_eq(store_save_clerk(st, &c), 0);
    ck_assert_int_eq(hadmin_user_build(&u, "Bad", "admin", NULL, NULL, &e), -1);
    refused(&e, HADMIN_INVALID, "name");
    ck_assert_int_eq(hadmin_user_build(&u, "ann", "boss", NULL, NULL, &e), -1);
    refused(&e, HADMIN_INVALID, "role");
    ck_assert_int_eq(hadmin_user_build(&u, "ann", "clerk", "", NULL, &e), -1);
    refused(&e, HADMIN_INVALID, "clerk");
    ck_assert_int_eq(hadmin_user_build(&u, "ann", "admin", "c-1", NULL, &e), -1);
    refused(&e, HADMIN_INVALID, "clerk");

    /* Passwords: characters, not bytes; no control characters. */
    ck_assert_int_eq(hadmin_password_check("密码密码密码密", &e), -1); /* 7 characters */
    refused(&e, HADMIN_INVALID, "password");
    ck_assert_str_eq(e.value, "");
    ck_assert_int_eq(hadmin_password_check("密码密码密码密码", &e), 0);
    ck_assert_int_eq(hadmin_password_check("long enough\n", &e), -1);
    ck_assert_int_eq(hadmin_password_make(made, sizeof made), 0);
    ck_assert_int_eq(hadmin_password_make(other, sizeof other), 0);
    ck_assert_uint_eq(strlen(made), HADMIN_PASSWORD_MADE);
    ck_assert_uint_eq(strspn(made, "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"),
                      HADMIN_PASSWORD_MADE);
    ck_assert_str_ne(made, other);
    ck_assert_int_eq(hadmin_password_make(made, HADMIN_PASSWORD_MADE), -1); /* no room */

    char hash[PWHASH_MAX];
    ck_assert_int_eq(pwhash_make_cost("password-1", 10, hash, sizeof hash), 0);
    uint64_t before = head();
    ck_assert_int_eq(hadmin_user_build(&u, "ann", "clerk", "c-9", NULL, &e), 0);
    ck_assert_int_eq(hadmin_user_add(st, &web, &u, hash, &e), -1);
    refused(&e, HADMIN_NOT_FOUND, "clerk");
    ck_assert_uint_eq(head(), before);
    ck_assert_int_eq(hadmin_user_build(&u, "ann", "clerk", "c-1", NULL, &e), 0);
    ck_assert_int_eq(hadmin_user_add(st, &web, &u, hash, &e), 0);
    store_user got;
    ck_assert_int_eq(store_get_user(st, "ann", &got), 1);
    ck_assert_str_eq(got.display_name, "张三"); /* the clerk's name */
    ck_assert_int_eq(hadmin_user_add(st, &web, &u, hash, &e), -1);
    refused(&e, HADMIN_CONFLICT, NULL);

    ck_assert_int_eq(hadmin_user_role(st, &web, "ann", "manager", "", &e), 1);
    ck_assert_int_eq(hadmin_user_role(st, &web, "ann", "manager", NULL, &e), 0); /* already */
    ck_assert_int_eq(hadmin_user_role(st, &web, "ann", "clerk", "c-9", &e), -1);
    refused(&e, HADMIN_NOT_FOUND, "clerk");
    ck_assert_int_eq(hadmin_user_disable(st, &web, "ann", true, &e), 1);
    ck_assert_int_eq(hadmin_user_disable(st, &web, "ann", true, &e), 0);
    ck_assert_int_eq(hadmin_user_disable(st, &web, "nobody", true, &e), -1);
    refused(&e, HADMIN_NOT_FOUND, NULL);
    ck_assert_int_eq(hadmin_user_password(st, &web, "ann", hash, &e), 0);
    ck_assert_int_eq(hadmin_user_logout(st, &web, "ann", &e), 0);
    /* add, role, disable, password, logout */
    ck_assert_uint_eq(head(), before + 5);
    ck_assert_int_eq(store_get_user(st, "ann", &got), 1);
    ck_assert_str_eq(got.role, "manager");
    ck_assert(got.disabled);
}
END_TEST

START_TEST(catalog_import)
{
    static const char one[] = "kind,code,name,prefix,general,area,conditions,materials,sample,"
                              "review_points,in_one_window,online_doable\n"
                              "area,intake,综合受理,A,true,,,,,,,\n"
                              "area,social,人社社保,S,false,,,,,,,\n";
    static const char taken[] = "kind,code,name,prefix,general,area,conditions,materials,sample,"
                                "review_points,in_one_window,online_doable\n"
                                "area,intake,综合受理,A,true,,,,,,,\n"
                                "area,fund,公积金,T,false,,,,,,,\n";
    char err[512];
    hadmin_error e;
    hadmin_import im;

    catalog *c = catalog_parse("one.csv", one, sizeof one - 1, CATALOG_CSV, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    uint64_t before = head();
    ck_assert_int_eq(hadmin_catalog_import(st, &web, c, "one.csv", &im, &e), 0);
    ck_assert_uint_eq(im.nareas, 2);
    ck_assert_uint_eq(im.nretired, 1);
    ck_assert_str_eq(im.retired[0].code, "tax");
    ck_assert_str_eq(im.retired[0].name, "税务服务");
    hadmin_import_release(&im);
    catalog_free(c);
    ck_assert_uint_eq(head(), before + 1);

    /* A new area taking the prefix of the retired one, whose tickets of
     * today may still be about: refused, nothing changed. */
    q_ticket t = {.id = 1,
                  .area = "tax",
                  .number = "T001",
                  .state = Q_WAITING,
                  .day = clk_date_key(clk_business_day(zone, clk_utc_ms(), 3)),
                  .issued_ms = clk_utc_ms()};
    ck_assert_int_eq(store_put_ticket(st, &t), 0);
    c = catalog_parse("taken.csv", taken, sizeof taken - 1, CATALOG_CSV, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    before = head();
    ck_assert_int_eq(hadmin_catalog_import(st, &web, c, "taken.csv", &im, &e), -1);
    refused(&e, HADMIN_FAILED, NULL);
    hadmin_import_release(&im);
    catalog_free(c);
    ck_assert_uint_eq(head(), before);
    size_t n = 0;
    ck_assert_int_eq(store_count_matters(st, NULL, &n), 0);
}
END_TEST

/* The big screens' tokens: issued once (kept only as a hash), found by
 * the token alone, refused once revoked, issued again under the name. */
START_TEST(screens)
{
    char token[HADMIN_SCREEN_TOKEN_LEN + 1], again[HADMIN_SCREEN_TOKEN_LEN + 1];
    char detail[512], device[80], user[80];
    hadmin_error e;
    store_screen sc;
    uint64_t before = head();

    ck_assert_int_eq(hadmin_screen_add(st, &tool, "Wall 1", token, &e), -1);
    refused(&e, HADMIN_INVALID, "name");
    ck_assert_str_eq(token, "");
    ck_assert_uint_eq(head(), before);

    ck_assert_int_eq(hadmin_screen_add(st, &tool, "wall-1", token, &e), 0);
    ck_assert_uint_eq(strlen(token), HADMIN_SCREEN_TOKEN_LEN);
    ck_assert_uint_eq(strspn(token, "0123456789abcdef"), HADMIN_SCREEN_TOKEN_LEN);
    newest(detail, device, user);
    ck_assert_str_eq(detail, "screen wall-1 issued a token");
    ck_assert_str_eq(device, "hallctl");
    ck_assert_str_eq(user, "root");
    ck_assert_int_eq(store_get_screen(st, "wall-1", &sc), 1);
    ck_assert_str_ne(sc.token_sha256, token);
    ck_assert_str_eq(sc.issued_by, "root");
    ck_assert_int_eq(sc.revoked_ms, 0);

    /* A live name is not issued twice; the token alone finds its screen. */
    before = head();
    ck_assert_int_eq(hadmin_screen_add(st, &web, "wall-1", again, &e), -1);
    refused(&e, HADMIN_CONFLICT, "name");
    ck_assert_uint_eq(head(), before);
    memset(&sc, 0, sizeof sc);
    ck_assert_int_eq(hadmin_screen_find(st, token, &sc), 1);
    ck_assert_str_eq(sc.name, "wall-1");
    snprintf(again, sizeof again, "%s", token);
    again[10] = again[10] == '0' ? '1' : '0';
    ck_assert_int_eq(hadmin_screen_find(st, again, &sc), 0);
    ck_assert_int_eq(hadmin_screen_find(st, "", &sc), 0);
    ck_assert_int_eq(hadmin_screen_find(st, "wall-1", &sc), 0);

    /* Revoked from the web: refused from then on; once only. */
    ck_assert_int_eq(hadmin_screen_revoke(st, &web, "nowhere", &e), -1);
    refused(&e, HADMIN_NOT_FOUND, "name");
    ck_assert_int_eq(hadmin_screen_revoke(st, &web, "wall-1", &e), 1);
    newest(detail, device, user);
    ck_assert_str_eq(detail, "web: screen wall-1 revoked (from 192.0.2.7)");
    ck_assert_str_eq(device, "web-1");
    ck_assert_str_eq(user, "boss");
    ck_assert_int_eq(hadmin_screen_find(st, token, &sc), 0);
    before = head();
    ck_assert_int_eq(hadmin_screen_revoke(st, &web, "wall-1", &e), 0);
    ck_assert_uint_eq(head(), before);
    ck_assert_int_eq(store_get_screen(st, "wall-1", &sc), 1);
    ck_assert_str_eq(sc.revoked_by, "boss");
    ck_assert_int_gt(sc.revoked_ms, 0);

    /* Issued again: a new token, the old one still refused. */
    ck_assert_int_eq(hadmin_screen_add(st, &web, "wall-1", again, &e), 0);
    ck_assert_str_ne(again, token);
    ck_assert_int_eq(hadmin_screen_find(st, token, &sc), 0);
    ck_assert_int_eq(hadmin_screen_find(st, again, &sc), 1);
    ck_assert_int_eq(sc.revoked_ms, 0);
    ck_assert_str_eq(sc.issued_by, "boss");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hadmin");
    TCase *tc = tcase_create("changes");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, windows);
    tcase_add_test(tc, clerks_and_devices);
    tcase_add_test(tc, users);
    tcase_add_test(tc, clerk_pins);
    tcase_add_test(tc, catalog_import);
    tcase_add_test(tc, screens);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
