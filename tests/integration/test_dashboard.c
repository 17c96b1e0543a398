/*
 * dashboard_chromium — the manager's dashboard and the hall's big screen
 * (docs/dashboard.md) in headless Chromium, end to end: halld and hallweb
 * on a hall with the sample catalog and two windows, a manager, a big
 * screen "wall-1" with a token from hallctl screen add, and "wall-9"
 * revoked; the supervision's one rule a ticket waiting 2 s. dashboard.mjs
 * signs in to the dashboard, opens the screen, and makes the hall work
 * with hallctl (a clerk signs in, tickets are issued and called): both
 * pages follow it without a reload; the alert of the waiting tickets is
 * acknowledged on the dashboard with a note; axe-core in
 * both languages; the revoked token is refused, and wall-1 once revoked
 * while its page is open. Then the hall itself must say so: the tickets,
 * the screens' revocations and their audit events.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "browserfixture.h"
#include "testsupport.h"
#include "webfixture.h"

#define SCRIPT_MS        280000
#define MANAGER_PASSWORD "boss-pass-1"
#define ADMIN_PASSWORD   "root-pass-1"
/* One rule of the supervision: a ticket waiting 2 s is an alert. */
#define WEB_CONF                                                                                   \
    "[web]\nport = 0\n"                                                                            \
    "[supervise]\n"                                                                                \
    "wait_long = 2s 10m\nservice_long = off\nwindow_idle = off\nwindow_paused_long = off\n"        \
    "window_closed_queue = off\nclerk_absent = off\nqueue_per_window = off\n"                      \
    "device_silent = off\n"

/* The token hallctl printed last for a screen ("screen NAME: token T"). */
static void printed_token(hallfix *f, const char *name, char token[80])
{
    char path[1100], want[64];
    char *log, *at, *last = NULL;

    snprintf(path, sizeof path, "%s/hallctl.log", f->dir);
    snprintf(want, sizeof want, "screen %s: token ", name);
    log = ts_slurp(path);
    ck_assert_ptr_nonnull(log);
    for (at = strstr(log, want); at != NULL; at = strstr(at + 1, want))
        last = at;
    ck_assert_msg(last != NULL, "hallctl printed no token for %s:\n%s", name, log);
    ck_assert_int_eq(sscanf(last + strlen(want), "%79[0-9a-f]", token), 1);
    free(log);
}

START_TEST(dashboard_chromium)
{
    char node_log[1100], url[64], halld[64], wall[80], revoked[80];
    hallfix f;
    webfix w;

    fix_init(&f, 2, WEB_CONF);
    ck_assert_int_eq(web_add_user(&f, "boss", "manager", NULL, MANAGER_PASSWORD), 0);
    ck_assert_int_eq(web_add_user(&f, "root", "admin", NULL, ADMIN_PASSWORD), 0);
    ck_assert_int_eq(fix_hallctl(&f, "screen add wall-1"), 0);
    printed_token(&f, "wall-1", wall);
    ck_assert_int_eq(fix_hallctl(&f, "screen add wall-9"), 0);
    printed_token(&f, "wall-9", revoked);
    ck_assert_int_eq(fix_hallctl(&f, "screen revoke wall-9"), 0);
    fix_start(&f);
    web_start(&w, &f);

    mkdir(DASHBOARD_SCREENS_DIR, 0755);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", w.port);
    snprintf(halld, sizeof halld, "127.0.0.1:%d", f.port);
    snprintf(node_log, sizeof node_log, "%s/node.log", f.dir);
    const char *argv[] = {NODE_PATH,
                          DASHBOARD_SCRIPT,
                          "--url",
                          url,
                          "--chromium",
                          CHROMIUM_PATH,
                          "--node-modules",
                          KPAGE_NODE_MODULES,
                          "--out",
                          DASHBOARD_SCREENS_DIR,
                          "--user",
                          "boss",
                          "--password",
                          MANAGER_PASSWORD,
                          "--admin",
                          "root",
                          "--admin-password",
                          ADMIN_PASSWORD,
                          "--token",
                          wall,
                          "--revoked",
                          revoked,
                          "--hallctl",
                          HALLCTL_PATH,
                          "--config",
                          f.config,
                          "--halld",
                          halld,
                          NULL};
    pid_t node = ts_spawn(argv, node_log);
    int status = ts_wait(node, SCRIPT_MS);
    char *out = ts_slurp(node_log);
    fprintf(stderr, "%s", out ? out : "");
    ck_assert_msg(status == 0, "dashboard.mjs failed (status %d); its output is above", status);

    /* What the script did to the hall: five tickets, one called at window
     * 1; the three screens revoked, each once in the audit chain, wall-2
     * issued and revoked by the administrator on the admin page. */
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM tickets WHERE area = 'intake'"), 5);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM tickets WHERE window_no = 1 AND state "
                                    "IN (3, 4)"),
                     1);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM screens WHERE revoked_ms > 0"), 3);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events WHERE detail LIKE '%%screen "
                                    "wall-_ revoked%%'"),
                     3);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events WHERE clerk = 'root' AND "
                                    "device = 'web-1' AND (detail LIKE 'web: screen wall-2 "
                                    "issued a token%%' OR detail LIKE 'web: screen wall-2 "
                                    "revoked%%')"),
                     2);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM screens WHERE name = 'wall-2' AND "
                                    "issued_by = 'root' AND revoked_by = 'root'"),
                     1);
    /* The alert, acknowledged by the manager with the note. */
    ck_assert_msg(out != NULL && strstr(out, "acknowledged on the dashboard") != NULL,
                  "no alert was acknowledged on the dashboard");
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM alerts WHERE rule = 'wait_long' AND "
                                    "acked_by LIKE '%%boss%%' AND ack_note = '已安排窗口加快叫号'"),
                     1);
    free(out);

    web_stop(&w);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    ck_assert_int_eq(fix_hallctl(&f, "audit verify"), 0);
    fix_free(&f);
}
END_TEST

int main(void)
{
    return browser_test_main("dashboard_chromium", dashboard_chromium, 420);
}
