/*
 * web_admin_chromium — the admin page of hallweb (docs/admin.md) in
 * headless Chromium, end to end: halld and hallweb on a hall with the
 * sample catalog, two windows and the kiosks kiosk-01 and kiosk-02;
 * web_admin.mjs signs in as an administrator and, through the pages, adds
 * a window and a clerk, revokes a device, makes the command that
 * registers another, imports a catalog with an error and then a good one,
 * and adds a user (each after a refusal that marks its field), then
 * disables the user; on the calendar tab it sets the weekly hours and adds
 * a holiday (each after a refusal), imports a year's holidays from a CSV
 * file (after a file with a bad line, which imports nothing) and makes an
 * area the 24-hour one.
 *
 * Then the hall itself must say so: the window, its areas and weights,
 * the clerk, the revoked device, the user, one audit event per change
 * naming the administrator and hallweb, and nothing of the refused ones;
 * halld reloaded after each change it holds in memory, so the revoked
 * kiosk can no longer link and the new clerk signs in to the new window
 * (at a window terminal registered for it afterwards); and
 * the audit chain verifies against its anchors.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "browserfixture.h"
#include "clk.h"
#include "testsupport.h"
#include "webfixture.h"

#define WAIT_MS        60000 /* generous: a loaded 2-core machine */
#define SCRIPT_MS      280000
#define ADMIN_PASSWORD "root-pass-1"
#define WEB_CONF       "[web]\nport = 0\n"

/* A catalog whose third line names an area it does not have. */
static const char bad_catalog[] =
    "kind,code,name,prefix,general,area,conditions,materials,sample,review_points,"
    "in_one_window,online_doable\n"
    "area,intake,综合受理,A,true,,,,,,,\n"
    "matter,m1,事项一,,,nowhere,,,,,true,false\n";

START_TEST(admin_chromium)
{
    char node_log[1100], url[64], bad[1100], good[1100];
    hallfix f;
    webfix w;

    fix_init(&f, 2, WEB_CONF);
    ck_assert_int_eq(web_add_user(&f, "root", "admin", NULL, ADMIN_PASSWORD), 0);
    ck_assert_int_eq(fix_hallctl(&f, "device add --id kiosk-02 --type kiosk"), 0);
    snprintf(bad, sizeof bad, "%s/bad.csv", f.dir);
    ts_write_file(bad, bad_catalog);
    snprintf(good, sizeof good, "%s/sample-catalog.csv", SAMPLE_DIR);
    fix_start(&f);
    web_start(&w, &f);
    long long events_before = fix_db_int(&f, "SELECT count(*) FROM events");

    mkdir(WEB_ADMIN_SCREENS_DIR, 0755);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", w.port);
    snprintf(node_log, sizeof node_log, "%s/node.log", f.dir);
    const char *argv[] = {NODE_PATH,
                          WEB_ADMIN_SCRIPT,
                          "--url",
                          url,
                          "--chromium",
                          CHROMIUM_PATH,
                          "--node-modules",
                          KPAGE_NODE_MODULES,
                          "--out",
                          WEB_ADMIN_SCREENS_DIR,
                          "--user",
                          "root",
                          "--password",
                          ADMIN_PASSWORD,
                          "--good-catalog",
                          good,
                          "--bad-catalog",
                          bad,
                          NULL};
    pid_t node = ts_spawn(argv, node_log);
    int status = ts_wait(node, SCRIPT_MS);
    char *out = ts_slurp(node_log);
    fprintf(stderr, "%s", out ? out : "");
    ck_assert_msg(status == 0, "web_admin.mjs failed (status %d); its output is above", status);

    /* What the pages changed, in the hall's database. */
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM windows WHERE no = 7 AND type = 2 "
                                    "AND name = '综合受理7号窗'"),
                     1);
    ck_assert_int_eq(fix_db_int(&f, "SELECT group_concat(area || ':' || weight, ',') = "
                                    "'intake:2,tax:1' FROM window_areas WHERE window_no = 7 "
                                    "ORDER BY position"),
                     1);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM clerks WHERE id = 'c-7' AND name = "
                                    "'王五'"),
                     1);
    ck_assert_int_eq(fix_db_int(&f, "SELECT revoked FROM devices WHERE id = 'kiosk-02'"), 1);
    ck_assert_int_eq(fix_db_int(&f, "SELECT revoked FROM devices WHERE id = 'kiosk-01'"), 0);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM devices WHERE id = 'kiosk-03'"), 0);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM users WHERE name = 'wangwu' AND role = "
                                    "'clerk' AND clerk_id = 'c-7' AND display_name = '王五' AND "
                                    "disabled = 1"),
                     1);
    /* The calendar: Monday to Friday 08:30-17:30, lunch 12:00-14:00, the
     * last number at 17:00; 1 October a holiday. */
    ck_assert_int_eq(fix_db_int(&f,
                                "SELECT count(*) FROM calendar_hours WHERE area = '' AND "
                                "wday BETWEEN 1 AND 5 AND open_min = 510 AND close_min = 1050 "
                                "AND lunch_start = 720 AND lunch_end = 840 AND last_min = 1020"),
                     5);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM calendar_hours"), 5);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM calendar_dates WHERE day = 20261001 "
                                    "AND kind = 1 AND name = '国庆节'"),
                     1);
    /* The imported file: 2 October a holiday, 10 October (a Saturday) a
     * working day with Monday's hours; the bad file left nothing. */
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM calendar_dates WHERE day = 20261002 "
                                    "AND kind = 1 AND name = '国庆节'"),
                     1);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM calendar_dates WHERE day = 20261010 "
                                    "AND kind = 2 AND name = '国庆节调休'"),
                     1);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM calendar_dates"), 3);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM calendar_areas WHERE area = 'approval' "
                                    "AND always_open = 1 AND unstaffed = 0"),
                     1);
    /* One audit event per change (window, clerk, device, catalog, user
     * added and disabled, hours, holiday, the imported holidays, the
     * 24-hour area), by the administrator through the gateway; none for a
     * refusal. */
    ck_assert_int_eq(fix_db_int(&f,
                                "SELECT count(*) FROM events WHERE seq > %lld AND device = "
                                "'web-1' AND clerk = 'root' AND detail LIKE 'web: %%' AND "
                                "detail NOT LIKE 'web: signed %%'",
                                events_before),
                     10);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events WHERE detail LIKE "
                                    "'web: catalog imported from sample-catalog.csv: 6 areas%%'"),
                     1);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events WHERE detail LIKE '%%c 7%%' OR "
                                    "detail LIKE '%%bad.csv%%' OR detail LIKE '%%kiosk-03%%'"),
                     0);

    /* halld reloaded: the revoked kiosk is refused, the new window is
     * there to sign in to. */
    ck_assert_msg(ts_file_contains(f.log, "reloaded", WAIT_MS), "halld did not reload");
    ck_assert_msg(ts_file_contains(w.log, "told halld", WAIT_MS),
                  "hallweb did not tell halld to reload");
    char err[DEVLINK_ERR_LEN];
    devlink *gone = fix_connect(&f, "kiosk-02");
    Hall__Envelope *hello =
        gone ? devlink_hello(gone, "kiosk-02", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0, WAIT_MS, err)
             : NULL;
    ck_assert_msg(hello == NULL || hello->body_case == HALL__ENVELOPE__BODY_ERROR,
                  "the revoked kiosk-02 was let in");
    proto_free(hello);
    devlink_close(gone);
    ck_assert_int_eq(fix_hallctl(&f, "device add --id win-7 --type window --window 7"), 0);
    devlink *win = fix_device(&f, "win-7", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 7);
    Hall__Envelope *a = fix_sign_in(win, 7, "c-7");
    ck_assert_msg(a->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY, "window 7 sign-in: %s",
                  a->body_case == HALL__ENVELOPE__BODY_ERROR ? a->error->message : "?");
    proto_free(a);
    devlink_close(win);
    free(out);

    web_stop(&w);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    ck_assert_int_eq(fix_hallctl(&f, "audit verify"), 0);
    fix_free(&f);
}
END_TEST

int main(void)
{
    return browser_test_main("web_admin_chromium", admin_chromium, 420);
}
