/*
 * The clerk's caller page (controller/web/page, docs/caller.md) in Debian's
 * headless Chromium against the whole hall as processes:
 *
 *   test_web_caller   (web_caller_chromium) the real halld (hallfixture)
 *                     with windows 1 (intake only) and 2 (every area), a
 *                     clerk user made by hallctl, the real hallweb, tickets
 *                     issued by a kiosk device link, a display device
 *                     subscribed to halld, and a real kioskd as the master
 *                     of an RS-485 bus simulated by tools/bussim (window
 *                     displays and the hall board, over Modbus TCP). Then
 *                     web_caller.mjs (playwright-core) drives the page:
 *                     sign-in (a wrong password, a lockout), window 1,
 *                     call / recall / transfer / call / start / finish by
 *                     mouse and by F-keys, hold and return, the no-show and
 *                     recall-limit confirmations, pause with a reason and
 *                     resume, English, axe-core in both languages, a phone
 *                     viewport, a reload, sign-out everywhere. Each number
 *                     the page showed as called must be on bussim's window
 *                     display and board (the script asks bussim) and in
 *                     the display link's pushes in the same order (checked
 *                     here), and halld must have exactly one call for each.
 *                     Screenshots go to WEB_CALLER_SCREENS_DIR. Exits 77
 *                     when node, chromium or playwright-core is missing.
 */
#include <check.h>
#include <signal.h>
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
#define BUS_DEVICES    "1:board,11:window:1,12:window:2"
#define CALLS_MAX      64
#define EVENT_CALLED   5 /* controller/queue.h */
#define CLERK_PASSWORD "clerk-pass-1"
#define WEB_CONF       "[web]\nport = 0\naccount_failures = 3\nlockout = 10m\n"

typedef struct calls {
    char number[CALLS_MAX][16];
    int n;
} calls;

/* A ticket as a kiosk issues it, printed, so it waits. */
static void issue(devlink *kiosk, const char *area, Hall__Priority prio, const char *matter,
                  const char *masked_name)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__IssueRequest m = HALL__ISSUE_REQUEST__INIT;
    char a[32], mt[32], name[48];

    snprintf(a, sizeof a, "%s", area);
    snprintf(mt, sizeof mt, "%s", matter);
    snprintf(name, sizeof name, "%s", masked_name);
    m.area = a;
    m.matter = mt;
    m.masked_name = name;
    m.priority = prio;
    env.body_case = HALL__ENVELOPE__BODY_ISSUE;
    env.issue = &m;
    Hall__Envelope *r = fix_call(kiosk, &env);
    ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_ISSUE_REPLY, "issue refused: %s",
                  r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?");
    proto_free(fix_printed(kiosk, r->issue_reply->ticket->id));
    proto_free(r);
}

/* The new calls of window 1 in a push (a delta carries its turn's calls
 * and recalls, newest first; a snapshot repeats the recent ones), oldest
 * first. */
static void take_calls(const Hall__DisplayPush *p, calls *seen)
{
    if (p->snapshot)
        return;
    for (size_t i = p->n_calls; i-- > 0;) {
        const Hall__Call *c = p->calls[i];
        if (c->window_no == 1 && c->recalls == 0 && seen->n < CALLS_MAX)
            snprintf(seen->number[seen->n++], sizeof seen->number[0], "%s", c->number);
    }
}

/* kioskd as the bus master: the simulated printer and card reader, the bus
 * over Modbus TCP to bussim with window 1's and 2's displays and the hall
 * board, no call-pads. */
static pid_t kiosk_up(hallfix *f, int bus_port, char *log, size_t loglen)
{
    char ini[1100], text[2048];

    snprintf(ini, sizeof ini, "%s/kioskd.ini", f->dir);
    snprintf(text, sizeof text,
             "[kiosk]\nid = kiosk-01\n"
             "[halld]\naddress = 127.0.0.1:%d\nreconnect_max = 500ms\n"
             "cert = pki/devices/kiosk-01/kiosk-01.crt\nkey = pki/devices/kiosk-01/kiosk-01.key\n"
             "ca = pki/devices/kiosk-01/ca.crt\n"
             "[store]\npath = kiosk.db\n"
             "[idcard]\nbackend = sim\nsealing_key = pki/devices/kiosk-01/seal.pub\n"
             "[page]\nport = 0\n"
             "[bus]\nenabled = true\ntransport = tcp\naddress = 127.0.0.1:%d\n"
             "devices = " BUS_DEVICES "\nblink = 1s\nboard_min = 500ms\n",
             f->port, bus_port);
    ts_write_file(ini, text);
    snprintf(log, loglen, "%s/kioskd.log", f->dir);
    const char *argv[] = {KIOSKD_PATH, "-c", ini, "--sim", NULL};
    pid_t pid = ts_spawn(argv, log);
    ck_assert_msg(ts_file_contains(log, "link to halld up", WAIT_MS), "kioskd did not reach halld");
    return pid;
}

START_TEST(caller_chromium)
{
    char bus_log[1100], kiosk_log[1100], node_log[1100], url[64], bus_ctl[16];
    hallfix f;
    webfix w;
    calls seen = {0};

    fix_init(&f, 2, WEB_CONF);
    /* Window 1 calls intake only, so a ticket it transfers to another area
     * is window 2's to call. */
    ck_assert_int_eq(fix_hallctl(&f, "window add --no 1 --name 综合受理1号窗 --type intake "
                                     "--areas intake:1"),
                     0);
    ck_assert_int_eq(ts_system("printf '%%s\\n' '%s' | %s -c %s user add --name clerk1 --role "
                               "clerk --clerk c-1 --display-name 张三 --password-stdin "
                               ">>%s/hallctl.log 2>&1",
                               CLERK_PASSWORD, HALLCTL_PATH, f.config, f.dir),
                     0);
    ck_assert_int_eq(web_add_user(&f, "clerk2", "clerk", "c-2", "clerk-pass-2"), 0);
    fix_start(&f);
    web_start(&w, &f);

    /* The bus: bussim with the displays and the board, kioskd its master. */
    snprintf(bus_log, sizeof bus_log, "%s/bussim.log", f.dir);
    const char *bargv[] = {BUSSIM_PATH,      "--devices", BUS_DEVICES, "--tcp",     "0",
                           "--control-port", "0",         "--out",     "/dev/null", NULL};
    pid_t bussim = ts_spawn(bargv, bus_log);
    ck_assert_msg(ts_file_contains(bus_log, "bussim: ready", WAIT_MS), "bussim did not start");
    int bus_port = ts_log_port(bus_log, "bussim: tcp on 127.0.0.1:");
    int control = ts_log_port(bus_log, "bussim: control on 127.0.0.1:");
    ck_assert_int_gt(bus_port, 0);
    ck_assert_int_gt(control, 0);
    pid_t kioskd = kiosk_up(&f, bus_port, kiosk_log, sizeof kiosk_log);

    /* A display device subscribed to halld, as the hall's screens are. */
    devlink *board = fix_device(&f, "board-01", HALL__DEVICE_TYPE__DEVICE_DISPLAY, 0);
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Subscribe sub = HALL__SUBSCRIBE__INIT;
    env.body_case = HALL__ENVELOPE__BODY_SUBSCRIBE;
    env.subscribe = &sub;
    Hall__Envelope *snap = fix_call(board, &env);
    ck_assert_int_eq(snap->body_case, HALL__ENVELOPE__BODY_DISPLAY_PUSH);
    proto_free(snap);

    /* What waits: a green-channel ticket with a matter and a masked name,
     * called first, and nine ordinary intake tickets. */
    devlink *kiosk = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    for (int i = 0; i < 9; i++)
        issue(kiosk, "intake", HALL__PRIORITY__PRIORITY_NORMAL, "", "");
    issue(kiosk, "intake", HALL__PRIORITY__PRIORITY_GREEN, "A-BDB", "张*");

    /* The page, driven by the script; the display link read meanwhile. */
    mkdir(WEB_CALLER_SCREENS_DIR, 0755);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", w.port);
    snprintf(bus_ctl, sizeof bus_ctl, "%d", control);
    snprintf(node_log, sizeof node_log, "%s/node.log", f.dir);
    const char *argv[] = {NODE_PATH,
                          WEB_CALLER_SCRIPT,
                          "--url",
                          url,
                          "--chromium",
                          CHROMIUM_PATH,
                          "--node-modules",
                          KPAGE_NODE_MODULES,
                          "--out",
                          WEB_CALLER_SCREENS_DIR,
                          "--user",
                          "clerk1",
                          "--password",
                          CLERK_PASSWORD,
                          "--locked-user",
                          "clerk2",
                          "--bussim",
                          bus_ctl,
                          NULL};
    pid_t node = ts_spawn(argv, node_log);
    int status = -1;
    int64_t until = clk_mono_ms() + SCRIPT_MS;
    while (clk_mono_ms() < until) {
        Hall__Envelope *push = devlink_next(board, 200);
        if (push != NULL && push->body_case == HALL__ENVELOPE__BODY_DISPLAY_PUSH)
            take_calls(push->display_push, &seen);
        proto_free(push);
        if (waitpid(node, &status, WNOHANG) == node)
            break;
        status = -1;
    }
    if (status == -1)
        ts_kill(node);
    for (Hall__Envelope *push; (push = devlink_next(board, 500)) != NULL; proto_free(push))
        if (push->body_case == HALL__ENVELOPE__BODY_DISPLAY_PUSH)
            take_calls(push->display_push, &seen);
    char *out = ts_slurp(node_log);
    fprintf(stderr, "%s", out ? out : "");
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "web_caller.mjs failed (status %d); its output is above", status);

    /* Every number the page showed as called, in the display link's pushes
     * for window 1, in the same order; and one call in halld for each. */
    int ncalled = 0, at = 0;
    for (const char *p = out; (p = strstr(p, "\ncalled ")) != NULL; p++) {
        char number[16];
        ck_assert_int_eq(sscanf(p + 8, "%15s", number), 1);
        ncalled++;
        while (at < seen.n && strcmp(seen.number[at], number) != 0)
            at++;
        ck_assert_msg(at < seen.n, "the page called %s, the display link never showed it", number);
        at++;
    }
    ck_assert_int_ge(ncalled, 8);
    ck_assert_int_eq(fix_db_int(&f,
                                "SELECT count(*) FROM events WHERE kind = %d AND window_no = 1 "
                                "AND device = 'web:clerk1'",
                                EVENT_CALLED),
                     ncalled);
    free(out);

    devlink_close(kiosk);
    devlink_close(board);
    kill(kioskd, SIGTERM);
    ck_assert_int_eq(ts_wait(kioskd, WAIT_MS), 0);
    kill(bussim, SIGTERM);
    ck_assert_int_eq(ts_wait(bussim, WAIT_MS), 0);
    web_stop(&w);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    ck_assert_int_eq(fix_hallctl(&f, "audit verify"), 0);
    fix_free(&f);
}
END_TEST

int main(void)
{
    return browser_test_main("web_caller_chromium", caller_chromium, 420);
}
