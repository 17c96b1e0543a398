/*
 * The whole kiosk as processes: the real halld (hallfixture, windows 1 and
 * 2 with call-pad devices and clerks signed in), a real kioskd process as
 * the master of a bus simulated by tools/bussim over Modbus TCP, and for
 * the touch case the net printer backend against tools/printersim and the
 * touch page in headless Chromium.
 *
 *   test_kiosk_e2e touch  (kiosk_e2e_touch_to_board) 一键取号 tapped on the
 *                         page (kiosk_e2e.mjs) -> the ticket WAITING in
 *                         halld -> its ESC/POS bytes decoded by printersim
 *                         -> `press 41 next` -> the hall board and window
 *                         1's display show it -> start, finish -> the
 *                         rating pad prompted, `rate 71 5` -> halld has the
 *                         rating. Exits 77 without node, chromium or
 *                         playwright-core (tools/install-page-deps).
 *   test_kiosk_e2e bus    (kiosk_bus_role) a refused call-pad operation
 *                         shows on its display; a press while halld is
 *                         down is carried out once when it is back; a
 *                         silent display makes the screen model's "bus"
 *                         degraded, and ok again when it answers.
 *   test_kiosk_e2e guard  (kiosk_bus_plausibility) 60 nexts on a call-pad
 *                         as fast as it takes them: fewer become
 *                         operations (each carried out once), the burst
 *                         is logged once, the bus is "suspect" in the
 *                         screen model and in halld's device health; a
 *                         rating pad restarting 4 times is flagged.
 *   test_kiosk_e2e truth  (kiosk_display_truth) window 1's display after
 *                         call, start, finish, no-show, pause, resume and
 *                         sign-out at its pad (halld's tickets and window
 *                         agree); eight windows' calls on the hall board,
 *                         then a recall of the call at every row: it moves
 *                         to the top, no row leaves.
 *   test_kiosk_e2e signin (callpad_signin) clerks with PINs (hallctl clerk
 *                         pin, hashes only); a pad without a clerk refuses
 *                         next; wrong PIN, unknown clerk, the right PIN
 *                         (window open with that clerk); each pad's own
 *                         waiting count; the green and transfer marks; five
 *                         wrong PINs lock that clerk only; the no-show
 *                         confirmation dropped, then confirmed; Chinese
 *                         refusals; sign-out.
 */
#include <check.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "browserfixture.h"
#include "clk.h"
#include "hallfixture.h"
#include "psimfixture.h"
#include "testsupport.h"

#define WAIT_MS 60000 /* generous: a loaded 2-core machine */
#define DEVICES "1:board,11:window:1,12:window:2,41:callpad:1,42:callpad:2,71:rating:1,72:rating:2"
/* Event kinds of controller/queue.h. */
#define EVENT_CALLED   5
#define EVENT_RECALLED 6
#define EVENT_RATED    23

typedef struct e2e {
    hallfix hall;
    psim printer;
    bool with_printer;
    pid_t bussim, kioskd;
    char bus_log[1100], kiosk_log[1100], ini[1100];
    int bus_port, control_port, page_port;
    int control; /* connected control socket of bussim, -1 until used */
} e2e;

/* One bussim command; its whole reply (the caller frees). */
__attribute__((format(printf, 2, 3))) static char *sim_cmd(e2e *x, const char *fmt, ...)
{
    char line[256], *reply = calloc(1, 65536);
    size_t used = 0;
    va_list ap;
    int n;

    ck_assert_ptr_nonnull(reply);
    if (x->control < 0)
        x->control = ts_connect(x->control_port, 30);
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    line[n++] = '\n';
    ck_assert_int_eq(write(x->control, line, (size_t)n), n);
    for (;;) {
        ssize_t got = read(x->control, reply + used, 65535 - used);
        ck_assert_msg(got > 0, "no reply from bussim to %s", line);
        used += (size_t)got;
        reply[used] = '\0';
        if (reply[used - 1] != '\n')
            continue;
        reply[used - 1] = '\0';
        char *last = strrchr(reply, '\n');
        last = last != NULL ? last + 1 : reply;
        reply[used - 1] = '\n';
        if (strncmp(last, "ok", 2) == 0 || strncmp(last, "error", 5) == 0)
            return reply;
    }
}

#define SIM_OK(x, ...)                                                                             \
    do {                                                                                           \
        char *r_ = sim_cmd((x), __VA_ARGS__);                                                      \
        ck_assert_msg(strstr(r_, "\nok") != NULL || strncmp(r_, "ok", 2) == 0, "bussim said: %s",  \
                      r_);                                                                         \
        free(r_);                                                                                  \
    } while (0)

/* Wait until bussim's view contains needle; false (the view printed) if
 * it does not within WAIT_MS. */
static bool wait_show(e2e *x, const char *needle)
{
    int64_t until = clk_mono_ms() + WAIT_MS;

    for (;;) {
        char *view = sim_cmd(x, "show");
        bool has = strstr(view, needle) != NULL;
        if (has || clk_mono_ms() > until) {
            if (!has)
                fprintf(stderr, "waited for '%s' in:\n%s", needle, view);
            free(view);
            return has;
        }
        free(view);
        usleep(100 * 1000);
    }
}

/* The touch page's screen model (GET /api/state), malloc'd. */
static char *page_state(e2e *x)
{
    char req[128];
    size_t cap = 1 << 16, used = 0;
    char *out = calloc(1, cap);
    int fd = ts_connect(x->page_port, 30);
    int len = snprintf(req, sizeof req,
                       "GET /api/state HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
                       x->page_port);

    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(send(fd, req, (size_t)len, MSG_NOSIGNAL), len);
    for (;;) {
        ssize_t n = recv(fd, out + used, cap - used - 1, 0);
        if (n <= 0 || (used += (size_t)n) == cap - 1)
            break;
    }
    close(fd);
    return out;
}

static bool wait_state(e2e *x, const char *needle)
{
    int64_t until = clk_mono_ms() + WAIT_MS;

    for (;;) {
        char *m = page_state(x);
        bool has = strstr(m, needle) != NULL;
        if (has || clk_mono_ms() > until) {
            if (!has)
                fprintf(stderr, "waited for '%s' in the screen model:\n%s\n", needle, m);
            free(m);
            return has;
        }
        free(m);
        usleep(200 * 1000);
    }
}

/* One text from the hall's database into out ("" if no row). */
static void db_text(e2e *x, char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void db_text(e2e *x, char *out, size_t cap, const char *fmt, ...)
{
    char path[1100], sql[512];
    sqlite3 *db;
    sqlite3_stmt *st;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    out[0] = '\0';
    snprintf(path, sizeof path, "%s/hall.db", x->hall.dir);
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static bool wait_db(e2e *x, long long want, const char *sql)
{
    int64_t until = clk_mono_ms() + WAIT_MS;
    long long v;

    while ((v = fix_db_int(&x->hall, "%s", sql)) != want && clk_mono_ms() < until)
        usleep(100 * 1000);
    if (v != want)
        fprintf(stderr, "%s: %lld, not %lld\n", sql, v, want);
    return v == want;
}

/* The hall (halld on a port kept across restarts) with nwindows windows,
 * the call-pads' bundles, the clerks of windows 1..signed signed in at
 * their terminals, bussim; before_start (may be NULL) changes the hall
 * before halld starts. */
static void hall_up_with(e2e *x, int nwindows, int signed_in, void (*before_start)(e2e *x))
{
    memset(x, 0, sizeof *x);
    x->control = -1;
    fix_init(&x->hall, nwindows, NULL);
    for (int w = 1; w <= 2; w++)
        ck_assert_int_eq(fix_hallctl(&x->hall,
                                     "device add --id callpad-w%d --type window --window %d "
                                     "--out %s/windows/callpad-w%d",
                                     w, w, x->hall.dir, w),
                         0);
    if (before_start != NULL)
        before_start(x);
    fix_start(&x->hall);
    ck_assert_int_eq(
        ts_system("sed -i -e 's/^port *=.*/port = %d/' %s", x->hall.port, x->hall.config), 0);
    for (int w = 1; w <= signed_in; w++) {
        char win[16], clerk[16];
        snprintf(win, sizeof win, "win-%d", w);
        snprintf(clerk, sizeof clerk, "c-%d", w);
        devlink *l =
            fix_device(&x->hall, win, HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, (uint32_t)w);
        proto_free(fix_sign_in(l, (uint32_t)w, clerk));
        devlink_close(l);
    }

    snprintf(x->bus_log, sizeof x->bus_log, "%s/bussim.log", x->hall.dir);
    const char *argv[] = {BUSSIM_PATH,      "--devices", DEVICES, "--tcp",     "0",
                          "--control-port", "0",         "--out", "/dev/null", NULL};
    x->bussim = ts_spawn(argv, x->bus_log);
    ck_assert_msg(ts_file_contains(x->bus_log, "bussim: ready", WAIT_MS), "bussim did not start");
    x->bus_port = ts_log_port(x->bus_log, "bussim: tcp on 127.0.0.1:");
    x->control_port = ts_log_port(x->bus_log, "bussim: control on 127.0.0.1:");
    ck_assert_int_gt(x->bus_port, 0);
    ck_assert_int_gt(x->control_port, 0);
}

static void hall_up(e2e *x)
{
    hall_up_with(x, 2, 2, NULL);
}

/* kioskd as a process: the net printer at printersim (with_printer) or
 * the simulated one (--sim), the simulated card reader, the bus over TCP,
 * the page on a port of its choosing. */
static void kiosk_up(e2e *x)
{
    char text[4096], printer[128] = "";
    const char *dir = x->hall.dir;

    if (x->with_printer)
        snprintf(printer, sizeof printer,
                 "[printer]\nbackend = net\naddress = 127.0.0.1:%d\npoll = 200ms\n"
                 "ticket_url = https://hall.example/q/{day}/{number}?k={kiosk}\n",
                 x->printer.port);
    snprintf(x->ini, sizeof x->ini, "%s/kioskd.ini", dir);
    snprintf(text, sizeof text,
             "[kiosk]\nid = kiosk-01\nlog_level = debug\n"
             "[halld]\naddress = 127.0.0.1:%d\nreconnect_max = 500ms\n"
             "cert = pki/devices/kiosk-01/kiosk-01.crt\nkey = pki/devices/kiosk-01/kiosk-01.key\n"
             "ca = pki/devices/kiosk-01/ca.crt\n"
             "[store]\npath = kiosk.db\n"
             "[flow]\nrequest_timeout = 30s\n"
             "%s"
             "[idcard]\nbackend = sim\nsealing_key = pki/devices/kiosk-01/seal.pub\n"
             "[page]\nport = 0\n"
             "[bus]\nenabled = true\ntransport = tcp\naddress = 127.0.0.1:%d\n"
             "devices = " DEVICES "\nwindow_certs = windows\n"
             "blink = 1s\nboard_min = 1s\nrating_timeout = 60s\nnoshow_confirm = 8s\n",
             x->hall.port, printer, x->bus_port);
    ts_write_file(x->ini, text);
    snprintf(x->kiosk_log, sizeof x->kiosk_log, "%s/kioskd.log", dir);
    const char *argv[] = {KIOSKD_PATH, "-c", x->ini, x->with_printer ? NULL : "--sim", NULL};
    x->kioskd = ts_spawn(argv, x->kiosk_log);
    ck_assert_msg(ts_file_contains(x->kiosk_log, "touch page on http://", WAIT_MS),
                  "kioskd did not start");
    x->page_port = ts_log_port(x->kiosk_log, "touch page on http://127.0.0.1:");
    ck_assert_int_gt(x->page_port, 0);
    ck_assert_msg(ts_file_contains(x->kiosk_log, "link to halld up", WAIT_MS),
                  "kioskd did not reach halld");
    ck_assert_msg(ts_file_contains(x->kiosk_log, "window 1's call-pad link to halld up", WAIT_MS),
                  "window 1's call-pad link did not come up");
    ck_assert_msg(ts_file_contains(x->kiosk_log, "window 2's call-pad link to halld up", WAIT_MS),
                  "window 2's call-pad link did not come up");
}

static void all_down(e2e *x)
{
    if (x->kioskd > 0) {
        kill(x->kioskd, SIGTERM);
        int status = ts_wait(x->kioskd, WAIT_MS);
        ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "kioskd did not stop cleanly (status %d)", status);
    }
    if (x->control >= 0)
        close(x->control);
    if (x->bussim > 0) {
        kill(x->bussim, SIGTERM);
        ck_assert_int_eq(ts_wait(x->bussim, WAIT_MS), 0);
    }
    if (x->with_printer)
        psim_stop(&x->printer);
    if (x->hall.pid > 0)
        ck_assert_int_eq(WEXITSTATUS(fix_stop(&x->hall)), 0);
    ck_assert_int_eq(fix_hallctl(&x->hall, "audit verify"), 0);
    fix_free(&x->hall);
}

/* ---- kiosk_e2e_touch_to_board ------------------------------------------ */

START_TEST(touch_to_board)
{
    char number[32], want[128];
    e2e x;

    hall_up(&x);
    x.with_printer = true;
    psim_start(&x.printer, NULL);
    kiosk_up(&x);

    browser_ticket(E2E_SCRIPT, x.page_port, x.hall.dir, number, sizeof number);
    /* In halld: printed, so WAITING (RESERVED -> WAITING), issued by this kiosk. */
    snprintf(want, sizeof want,
             "SELECT state FROM tickets WHERE number = '%s' AND kiosk = 'kiosk-01' AND offline = 0",
             number);
    ck_assert(wait_db(&x, 2, want));
    long long id = fix_db_int(&x.hall, "SELECT id FROM tickets WHERE number = '%s'", number);
    ck_assert_int_gt(id, 0);
    /* At the printer: the ticket decoded from its ESC/POS bytes, with the
     * QR code of [printer] ticket_url (its day is today's, in the hall's
     * zone: only the fixed parts are checked). */
    psim_wait_out(&x.printer, number);
    snprintf(want, sizeof want, "/%s?k=kiosk-01", number);
    psim_wait_out(&x.printer, want);
    psim_wait_out(&x.printer, "[qr] https://hall.example/q/20");

    /* The clerk's call-pad: next -> the board and window 1's display. */
    SIM_OK(&x, "press 41 next");
    snprintf(want, sizeof want, "window 1: %s ", number);
    ck_assert(wait_show(&x, want));
    snprintf(want, sizeof want, "board rows: %s@1", number);
    ck_assert(wait_show(&x, want));
    snprintf(want, sizeof want, "callpad 1: ticket %s ", number);
    ck_assert(wait_show(&x, want));
    snprintf(want, sizeof want, "SELECT state FROM tickets WHERE id = %lld", id);
    ck_assert(wait_db(&x, 3, want));

    /* start, finish -> the rating pad asks; the citizen gives 5 stars. */
    SIM_OK(&x, "press 41 start");
    ck_assert(wait_db(&x, 4, want));
    SIM_OK(&x, "press 41 finish");
    ck_assert(wait_db(&x, 5, want));
    snprintf(want, sizeof want, "rating 1: prompt");
    ck_assert(wait_show(&x, want));
    snprintf(want, sizeof want, "for %s", number);
    ck_assert(wait_show(&x, want));
    SIM_OK(&x, "rate 71 5");
    snprintf(want, sizeof want, "SELECT rating FROM tickets WHERE id = %lld", id);
    ck_assert(wait_db(&x, 5, want));
    snprintf(want, sizeof want,
             "SELECT count(*) FROM events WHERE ticket_id = %lld AND kind = %d AND window_no = 1",
             id, EVENT_RATED);
    ck_assert(wait_db(&x, 1, want));
    /* Exactly one call for the one press. */
    ck_assert_int_eq(fix_db_int(&x.hall,
                                "SELECT count(*) FROM events WHERE ticket_id = %lld AND kind = %d",
                                id, EVENT_CALLED),
                     1);
    all_down(&x);
}
END_TEST

/* ---- kiosk_bus_plausibility ---------------------------------------------- */

/* How many times needle is in the file at path. */
static int count_in(const char *path, const char *needle)
{
    char *text = ts_slurp(path);
    int n = 0;

    for (const char *at = text; at != NULL && (at = strstr(at, needle)) != NULL; at++)
        n++;
    free(text);
    return n;
}

START_TEST(bus_plausibility)
{
    enum { PRESSES = 60 };
    char hallctl_log[1100];
    int pressed = 0;
    e2e x;

    hall_up(&x);
    kiosk_up(&x);
    ck_assert(wait_state(&x, "\"bus\":\"ok\""));
    /* Enough waiting that every next carried out calls or recalls one
     * (a ticket takes a call and two recalls; the next press is its
     * no-show and the next ticket's call). */
    for (int i = 0; i < PRESSES / 3; i++)
        ck_assert_int_eq(fix_hallctl(&x.hall, "issue"), 0);

    /* A burst no clerk can press: the pad's FIFO refills as fast as the
     * master empties it. */
    while (pressed < PRESSES) {
        char *r = sim_cmd(&x, "press 41 next");
        if (strstr(r, "fifo full") != NULL)
            usleep(20 * 1000);
        else
            pressed++, ck_assert_msg(strncmp(r, "ok", 2) == 0, "bussim said: %s", r);
        free(r);
    }
    ck_assert(wait_show(&x, "callpad 1: ticket") && wait_show(&x, "| fifo 0/8"));
    ck_assert(ts_file_contains(x.kiosk_log, "sends keys faster than a clerk", WAIT_MS));
    ck_assert(wait_state(&x, "\"bus\":\"suspect\""));
    ck_assert(
        wait_state(&x, "\"bus_suspect\":[\"callpad 41: keys faster than a clerk, dropped\"]"));
    /* Fewer operations than presses, each carried out once: one call or
     * recall each, but for the nexts held to confirm a no-show (the next
     * next confirms it: the no-show and the next call). */
    int taken = count_in(x.kiosk_log, "call-pad 41 (window 1): next");
    ck_assert_int_ge(taken, 1);
    ck_assert_int_lt(taken, PRESSES);
    char want[200];
    snprintf(want, sizeof want,
             "SELECT count(*) FROM events WHERE window_no = 1 AND kind IN (%d, %d)", EVENT_CALLED,
             EVENT_RECALLED);
    ck_assert(wait_db(&x, taken - count_in(x.kiosk_log, "asking to confirm"), want));
    ck_assert_int_eq(count_in(x.kiosk_log, "sends keys faster than a clerk"), 1);
    /* halld learns it as the kiosk's health. */
    snprintf(hallctl_log, sizeof hallctl_log, "%s/hallctl.log", x.hall.dir);
    int64_t until = clk_mono_ms() + WAIT_MS;
    while (!ts_file_contains(hallctl_log, "suspect    callpad 41: keys faster", 0)) {
        ck_assert_msg(clk_mono_ms() < until, "halld never showed the bus as suspect");
        ck_assert_int_eq(fix_hallctl(&x.hall, "queues"), 0);
        usleep(200 * 1000);
    }

    /* A rating pad that restarts again and again. */
    for (int i = 1; i <= 4; i++) {
        SIM_OK(&x, "reboot 71");
        until = clk_mono_ms() + WAIT_MS;
        while (count_in(x.kiosk_log, "device 71 restarted") < i) {
            ck_assert_msg(clk_mono_ms() < until, "restart %d of pad 71 not seen", i);
            usleep(50 * 1000);
        }
    }
    ck_assert(
        ts_file_contains(x.kiosk_log, "rating 71 (window 1) restarted more than 3 times", WAIT_MS));
    ck_assert(wait_state(&x, "\"rating 71: restarts too often\""));
    ck_assert_int_eq(count_in(x.kiosk_log, "restarted more than 3 times"), 1);
    all_down(&x);
}
END_TEST

/* ---- kiosk_bus_role ---------------------------------------------------- */

static long long issue_one(e2e *x)
{
    long long before = fix_db_int(&x->hall, "SELECT count(*) FROM tickets");
    ck_assert_int_eq(fix_hallctl(&x->hall, "issue"), 0);
    ck_assert_int_eq(fix_db_int(&x->hall, "SELECT count(*) FROM tickets"), before + 1);
    return fix_db_int(&x->hall, "SELECT max(id) FROM tickets");
}

START_TEST(bus_role)
{
    char want[160], number[32];
    e2e x;

    hall_up(&x);
    kiosk_up(&x);
    ck_assert(wait_state(&x, "\"bus\":\"ok\""));

    /* A refused operation shows on the pad: nothing waits for window 2. */
    SIM_OK(&x, "press 42 next");
    ck_assert(wait_show(&x, "callpad 2: ticket - waiting 0 text \"无人等候\""));
    /* ... and so does a start with no ticket called at the window. */
    SIM_OK(&x, "press 42 start");
    ck_assert(wait_show(&x, "callpad 2: ticket - waiting 0 text \"当前不能这样操作\""));

    long long first = issue_one(&x);
    long long second = issue_one(&x);
    ck_assert_int_gt(second, first);
    ck_assert(wait_show(&x, "callpad 1: ticket - waiting 2 "));

    /* halld goes away; the clerk presses next; halld comes back: the press
     * is carried out, once. */
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&x.hall)), 0);
    ck_assert(ts_file_contains(x.kiosk_log, "call-pad link to halld down", WAIT_MS));
    SIM_OK(&x, "press 41 next");
    /* The kiosk took the press off the pad while halld was away. */
    ck_assert(ts_file_contains(x.kiosk_log, "call-pad 41 (window 1): next", WAIT_MS));
    ck_assert(wait_show(&x, "callpad 1: ticket - waiting 2 text \"\" | fifo 0/8"));
    fix_start(&x.hall);
    snprintf(want, sizeof want, "SELECT state FROM tickets WHERE id = %lld", first);
    ck_assert(wait_db(&x, 3, want));
    snprintf(want, sizeof want, "SELECT count(*) FROM events WHERE kind = %d", EVENT_CALLED);
    ck_assert(wait_db(&x, 1, want));
    ck_assert_int_eq(fix_db_int(&x.hall, "SELECT state FROM tickets WHERE id = %lld", second), 2);
    db_text(&x, number, sizeof number, "SELECT number FROM tickets WHERE id = %lld", first);
    /* The call is on window 1's display, the board and the pad. */
    snprintf(want, sizeof want, "window 1: %s ", number);
    ck_assert(wait_show(&x, want));
    snprintf(want, sizeof want, "board rows: %s@1", number);
    ck_assert(wait_show(&x, want));
    snprintf(want, sizeof want, "callpad 1: ticket %s waiting 1 ", number);
    ck_assert(wait_show(&x, want));

    /* A silent display: the bus is degraded on the screen model; back: ok. */
    SIM_OK(&x, "silent 12 on");
    ck_assert(wait_state(&x, "\"bus\":\"degraded\""));
    ck_assert(wait_state(&x, "\"window 12\""));
    ck_assert(ts_file_contains(x.kiosk_log, "bus: window 12 (window 2) offline", WAIT_MS));
    SIM_OK(&x, "silent 12 off");
    ck_assert(wait_state(&x, "\"bus\":\"ok\""));

    /* Still exactly one call after all this. */
    ck_assert_int_eq(
        fix_db_int(&x.hall, "SELECT count(*) FROM events WHERE kind = %d", EVENT_CALLED), 1);
    all_down(&x);
}
END_TEST

/* ---- kiosk_display_truth ------------------------------------------------ */

#define EVENT_NO_SHOW     7
#define EVENT_TRANSFERRED 11
#define EVENT_SIGN_IN     18
#define WINDOW_CLOSED     1
#define WINDOW_OPEN       2
#define WINDOW_PAUSED     3

/* What device addr shows, from bussim's view (malloc'd, one line, without
 * the address). */
static char *device_line(e2e *x, int addr)
{
    char tag[16], *view = sim_cmd(x, "show"), *line;

    snprintf(tag, sizeof tag, "[%3d] ", addr);
    const char *at = strstr(view, tag);
    ck_assert_ptr_nonnull(at);
    at += strlen(tag);
    line = strndup(at, strcspn(at, "\n"));
    free(view);
    return line;
}

/* Wait until the hall board's rows are exactly want ("board rows: A@1 ..."). */
static bool wait_board(e2e *x, const char *want)
{
    int64_t until = clk_mono_ms() + WAIT_MS;

    for (;;) {
        char *line = device_line(x, 1);
        line[strcspn(line, "|")] = '\0';
        size_t n = strlen(line);
        while (n > 0 && line[n - 1] == ' ')
            line[--n] = '\0';
        bool same = strcmp(line, want) == 0;
        if (same || clk_mono_ms() > until) {
            if (!same)
                fprintf(stderr, "board: '%s', wanted '%s'\n", line, want);
            free(line);
            return same;
        }
        free(line);
        usleep(100 * 1000);
    }
}

static void ticket_number(e2e *x, long long id, char *out, size_t cap)
{
    db_text(x, out, cap, "SELECT number FROM tickets WHERE id = %lld", id);
    ck_assert_str_ne(out, "");
}

static void issue_many(e2e *x, int n)
{
    for (int i = 0; i < n; i++)
        issue_one(x);
}

START_TEST(display_truth)
{
    char want[256], number[32];
    e2e x;
    long long t1, t2;

    /* Nine windows (the board needs eight live calls), all signed in. */
    hall_up_with(&x, 9, 9, NULL);
    kiosk_up(&x);
    ck_assert(wait_state(&x, "\"bus\":\"ok\""));
    ck_assert(wait_show(&x, "window 1: - \"1号窗口 请稍候\" steady"));
    ck_assert(wait_show(&x, "window 2: - \"2号窗口 请稍候\" steady"));

    /* Called, serving, finished: the display follows each. */
    t1 = issue_one(&x);
    t2 = issue_one(&x);
    ticket_number(&x, t1, number, sizeof number);
    SIM_OK(&x, "press 41 next");
    snprintf(want, sizeof want, "window 1: %s \"请%s号到1号窗口\"", number, number);
    ck_assert(wait_show(&x, want));
    SIM_OK(&x, "press 41 start");
    snprintf(want, sizeof want, "window 1: %s \"%s号 正在办理\" steady", number, number);
    ck_assert(wait_show(&x, want));
    ck_assert_int_eq(fix_db_int(&x.hall, "SELECT state FROM tickets WHERE id = %lld", t1), 4);
    SIM_OK(&x, "press 41 finish");
    ck_assert(wait_show(&x, "window 1: - \"1号窗口 请稍候\" steady"));
    ck_assert_int_eq(fix_db_int(&x.hall, "SELECT state FROM tickets WHERE id = %lld", t1), 5);

    /* Called, then the citizen did not come: no call left on the display. */
    ticket_number(&x, t2, number, sizeof number);
    SIM_OK(&x, "press 41 next");
    snprintf(want, sizeof want, "window 1: %s \"请%s号到1号窗口\"", number, number);
    ck_assert(wait_show(&x, want));
    SIM_OK(&x, "press 41 noshow");
    ck_assert(wait_show(&x, "window 1: - \"1号窗口 请稍候\" steady"));
    snprintf(want, sizeof want, "SELECT state FROM tickets WHERE id = %lld", t2);
    ck_assert(wait_db(&x, 6, want));
    ck_assert_int_eq(
        fix_db_int(&x.hall, "SELECT count(*) FROM events WHERE kind = %d", EVENT_NO_SHOW), 1);

    /* Paused, resumed, closed (the clerk signs out at the pad). */
    SIM_OK(&x, "press 41 pause");
    ck_assert(wait_show(&x, "window 1: - \"1号窗口 暂停服务\" steady"));
    ck_assert(wait_show(&x, "callpad 1: ticket - waiting 0 text \"暂停服务\""));
    ck_assert_int_eq(fix_db_int(&x.hall, "SELECT state FROM windows WHERE no = 1"), WINDOW_PAUSED);
    SIM_OK(&x, "press 41 resume");
    ck_assert(wait_show(&x, "window 1: - \"1号窗口 请稍候\" steady"));
    SIM_OK(&x, "press 41 signout");
    ck_assert(wait_show(&x, "window 1: - \"1号窗口 暂停办理\" steady"));
    ck_assert(wait_show(&x, "callpad 1: ticket - waiting 0 text \"请先签到\""));
    snprintf(want, sizeof want, "SELECT state FROM windows WHERE no = 1");
    ck_assert(wait_db(&x, WINDOW_CLOSED, want));
    /* Window 2 was never touched. */
    ck_assert(wait_show(&x, "window 2: - \"2号窗口 请稍候\" steady"));

    /* The board: windows 2..9 each call a ticket, newest on top. */
    struct board_row {
        int window;
        long long id;
        char number[32];
    } row[8];
    devlink *link[10] = {NULL};
    issue_many(&x, 8);
    for (int i = 0; i < 8; i++) {
        int w = 2 + i;
        char dev[16];
        snprintf(dev, sizeof dev, "win-%d", w);
        link[w] = fix_device(&x.hall, dev, HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, (uint32_t)w);
        /* Ids after the sign-in's of hall_up on this device. */
        devlink_set_next_id(link[w], 1000);
        Hall__Envelope *r = fix_window_op(link[w], HALL__ENVELOPE__BODY_CALL_NEXT, (uint32_t)w, 0);
        ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY, "window %d: %s", w,
                      r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?");
        ck_assert_ptr_nonnull(r->window_reply->ticket);
        /* Top row first: the newest call. */
        row[7 - i].window = w;
        row[7 - i].id = (long long)r->window_reply->ticket->id;
        snprintf(row[7 - i].number, sizeof row[0].number, "%s", r->window_reply->ticket->number);
        proto_free(r);
    }
    size_t used = (size_t)snprintf(want, sizeof want, "board rows:");
    for (int i = 0; i < 8; i++)
        used += (size_t)snprintf(want + used, sizeof want - used, " %s@%d", row[i].number,
                                 row[i].window);
    ck_assert(wait_board(&x, want));

    /* Recall the call at every row, top first: it moves to the top, the
     * others keep their order, none leaves. */
    for (int p = 0; p < 8; p++) {
        int w = row[p].window;
        Hall__Envelope *r =
            fix_window_op(link[w], HALL__ENVELOPE__BODY_RECALL, (uint32_t)w, (uint64_t)row[p].id);
        ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
        proto_free(r);
        struct board_row moved = row[p];
        memmove(&row[1], &row[0], (size_t)p * sizeof row[0]);
        row[0] = moved;
        used = (size_t)snprintf(want, sizeof want, "board rows:");
        for (int i = 0; i < 8; i++)
            used += (size_t)snprintf(want + used, sizeof want - used, " %s@%d", row[i].number,
                                     row[i].window);
        ck_assert_msg(wait_board(&x, want), "after the recall of row %d", p);
        ck_assert_int_eq(
            fix_db_int(&x.hall, "SELECT recalls FROM tickets WHERE id = %lld", moved.id), 1);
    }
    /* Window 2's display shows its recalled call. */
    snprintf(want, sizeof want, "SELECT number FROM tickets WHERE window_no = 2 AND state = 3");
    db_text(&x, number, sizeof number, "%s", want);
    snprintf(want, sizeof want, "window 2: %s \"请%s号到2号窗口\"", number, number);
    ck_assert(wait_show(&x, want));
    for (int w = 2; w <= 9; w++)
        devlink_close(link[w]);
    all_down(&x);
}
END_TEST

/* ---- callpad_signin ------------------------------------------------------ */

static char random_pin[16];

/* Clerks with PINs (one chosen, two made by hallctl), and window 2 serving
 * one area only, before halld starts. */
static void pin_clerks(e2e *x)
{
    char out[1100], line[256];

    ck_assert_int_eq(fix_hallctl(&x->hall, "clerk add --id 1001 --name 张敏"), 0);
    ck_assert_int_eq(fix_hallctl(&x->hall, "clerk add --id 1002 --name 李强"), 0);
    ck_assert_int_eq(fix_hallctl(&x->hall, "clerk add --id 1003 --name 王芳"), 0);
    ck_assert_int_eq(ts_system("echo 135790 | %s -c %s clerk pin --id 1001 --pin-stdin >/dev/null",
                               HALLCTL_PATH, x->hall.config),
                     0);
    /* Refused: too short, letters, a clerk id a pad cannot type, no clerk. */
    ck_assert_int_ne(ts_system("echo 12 | %s -c %s clerk pin --id 1001 --pin-stdin 2>/dev/null",
                               HALLCTL_PATH, x->hall.config),
                     0);
    ck_assert_int_ne(ts_system("echo 12ab56 | %s -c %s clerk pin --id 1001 --pin-stdin "
                               "2>/dev/null",
                               HALLCTL_PATH, x->hall.config),
                     0);
    ck_assert_int_ne(fix_hallctl(&x->hall, "clerk pin --id c-1"), 0);
    ck_assert_int_ne(fix_hallctl(&x->hall, "clerk pin --id 4004"), 0);
    /* A PIN made by hallctl, printed once. */
    snprintf(out, sizeof out, "%s/pin.txt", x->hall.dir);
    for (int id = 1002; id <= 1003; id++) {
        ck_assert_int_eq(
            ts_system("%s -c %s clerk pin --id %d >%s", HALLCTL_PATH, x->hall.config, id, out), 0);
        if (id == 1003) {
            FILE *f = fopen(out, "r");
            ck_assert_ptr_nonnull(f);
            while (fgets(line, sizeof line, f) != NULL)
                if (sscanf(line, "PIN for clerk 1003: %15s", random_pin) == 1)
                    break;
            fclose(f);
        }
    }
    ck_assert_uint_eq(strlen(random_pin), 6);
    /* Only hashes are kept. */
    ck_assert_int_eq(fix_db_int(&x->hall, "SELECT count(*) FROM clerks WHERE pin_hash LIKE "
                                          "'$scrypt$%%'"),
                     3);
    ck_assert_int_eq(
        fix_db_int(&x->hall, "SELECT count(*) FROM clerks WHERE pin_hash LIKE '%%135790%%'"), 0);
    ck_assert_int_eq(fix_hallctl(&x->hall, "window add --no 2 --name 税务窗口 --type intake "
                                           "--areas tax:1"),
                     0);
}
/* Wait until the pad of window w (address 40 + w) shows text. */
static bool wait_pad_text(e2e *x, int w, const char *text)
{
    char want[160];

    snprintf(want, sizeof want, "text \"%s\" |", text);
    int64_t until = clk_mono_ms() + WAIT_MS;
    for (;;) {
        char *line = device_line(x, 40 + w);
        bool has = strstr(line, want) != NULL;
        if (has || clk_mono_ms() > until) {
            if (!has)
                fprintf(stderr, "pad %d: '%s', wanted '%s'\n", w, line, want);
            free(line);
            return has;
        }
        free(line);
        usleep(100 * 1000);
    }
}

/* Wait until window w's pad holds no event: the last press was taken
 * (and a sign-in's digits cleared), so another sign-in may be typed. */
static bool wait_pad_idle(e2e *x, int w)
{
    int64_t until = clk_mono_ms() + WAIT_MS;

    for (;;) {
        char *line = device_line(x, 40 + w);
        bool idle = strstr(line, "| fifo 0/8") != NULL;
        free(line);
        if (idle || clk_mono_ms() > until)
            return idle;
        usleep(100 * 1000);
    }
}

static long long events_of(e2e *x, int kind)
{
    return fix_db_int(&x->hall, "SELECT count(*) FROM events WHERE kind = %d", kind);
}

START_TEST(callpad_signin)
{
    char want[256], number[32];
    e2e x;

    /* Nobody signed in: window 1 serves every area, window 2 tax only. */
    hall_up_with(&x, 2, 0, pin_clerks);
    kiosk_up(&x);
    ck_assert(wait_state(&x, "\"bus\":\"ok\""));
    ck_assert(wait_pad_text(&x, 1, "请先签到"));
    ck_assert(wait_show(&x, "window 1: - \"1号窗口 暂停办理\" steady"));

    /* Each pad counts what waits for its own window. */
    issue_one(&x);
    ck_assert_int_eq(fix_hallctl(&x.hall, "issue --area tax"), 0);
    ck_assert_int_eq(fix_hallctl(&x.hall, "issue --green"), 0);
    long long green = fix_db_int(&x.hall, "SELECT max(id) FROM tickets");
    ck_assert(wait_show(&x, "callpad 1: ticket - waiting 3 "));
    ck_assert(wait_show(&x, "callpad 2: ticket - waiting 1 "));

    /* Next without a clerk: refused on the pad, nothing sent. */
    SIM_OK(&x, "press 41 next");
    ck_assert(ts_file_contains(x.kiosk_log, "call-pad 41 (window 1): next", WAIT_MS));
    ck_assert(wait_pad_text(&x, 1, "请先签到"));
    ck_assert_int_eq(events_of(&x, EVENT_CALLED), 0);

    /* A wrong PIN: refused in Chinese, the window stays closed. */
    SIM_OK(&x, "press 41 signin 1001 000000");
    ck_assert(wait_pad_text(&x, 1, "工号或密码错误"));
    ck_assert(ts_file_contains(x.kiosk_log, "clerk 1001: wrong PIN", WAIT_MS));
    ck_assert_int_eq(fix_db_int(&x.hall, "SELECT state FROM windows WHERE no = 1"), WINDOW_CLOSED);
    ck_assert_int_eq(events_of(&x, EVENT_SIGN_IN), 0);
    /* An unknown clerk. */
    ck_assert(wait_pad_idle(&x, 1));
    SIM_OK(&x, "press 41 signin 9999 135790");
    ck_assert(wait_pad_text(&x, 1, "工号不存在或已停用"));

    /* The right PIN: window 1 open with clerk 1001, as the caller page's
     * sign-in would. */
    ck_assert(wait_pad_idle(&x, 1));
    SIM_OK(&x, "press 41 signin 1001 135790");
    snprintf(want, sizeof want, "SELECT state FROM windows WHERE no = 1 AND clerk = '1001'");
    ck_assert(wait_db(&x, WINDOW_OPEN, want));
    ck_assert_int_eq(events_of(&x, EVENT_SIGN_IN), 1);
    ck_assert(wait_pad_text(&x, 1, ""));
    ck_assert(wait_show(&x, "window 1: - \"1号窗口 请稍候\" steady"));
    /* The PIN is in no log. */
    ck_assert(!ts_file_contains(x.kiosk_log, "135790", 0));
    ck_assert(!ts_file_contains(x.hall.log, "135790", 0));

    /* Next: the green ticket first, with its mark. */
    ticket_number(&x, green, number, sizeof number);
    SIM_OK(&x, "press 41 next");
    snprintf(want, sizeof want, "callpad 1: ticket %s waiting 2 绿色通道 text", number);
    ck_assert(wait_show(&x, want));
    /* Transferred to window 2: its pad shows both marks once called. */
    SIM_OK(&x, "press 41 transfer 2");
    snprintf(want, sizeof want, "SELECT state FROM tickets WHERE id = %lld", green);
    ck_assert(wait_db(&x, 2, want));
    ck_assert_int_eq(events_of(&x, EVENT_TRANSFERRED), 1);

    /* Five wrong PINs lock clerk 1002: the right one is refused then. */
    for (int i = 0; i < 5; i++) {
        ck_assert(wait_pad_idle(&x, 2));
        SIM_OK(&x, "press 42 signin 1002 11111%d", i);
        snprintf(want, sizeof want, "clerk 1002: wrong PIN");
        int64_t until = clk_mono_ms() + WAIT_MS;
        while (count_in(x.hall.log, want) < i + 1 && clk_mono_ms() < until)
            usleep(100 * 1000);
        ck_assert_int_eq(count_in(x.hall.log, want), i + 1);
    }
    ck_assert(ts_file_contains(x.hall.log, "clerk 1002: 5 wrong PINs in a row", WAIT_MS));
    ck_assert(wait_pad_text(&x, 2, "工号或密码错误"));
    ck_assert(wait_pad_idle(&x, 2));
    /* Its right PIN is not known to the test: any PIN is refused as locked. */
    SIM_OK(&x, "press 42 signin 1002 123456");
    ck_assert(wait_pad_text(&x, 2, "密码错误次数过多 请10分钟后再试"));
    ck_assert_int_eq(fix_db_int(&x.hall, "SELECT state FROM windows WHERE no = 2"), WINDOW_CLOSED);
    /* Another clerk is not locked: 1003 with the PIN hallctl made. */
    ck_assert(wait_pad_idle(&x, 2));
    SIM_OK(&x, "press 42 signin 1003 %s", random_pin);
    snprintf(want, sizeof want, "SELECT state FROM windows WHERE no = 2 AND clerk = '1003'");
    ck_assert(wait_db(&x, WINDOW_OPEN, want));
    SIM_OK(&x, "press 42 next");
    snprintf(want, sizeof want, "callpad 2: ticket %s waiting 1 绿色通道 转办 text \"\"", number);
    ck_assert(wait_show(&x, want));
    SIM_OK(&x, "press 42 start");
    SIM_OK(&x, "press 42 finish");
    ck_assert(wait_show(&x, "callpad 2: ticket - waiting 1 text \"\""));
    snprintf(want, sizeof want, "SELECT state FROM tickets WHERE id = %lld", green);
    ck_assert(wait_db(&x, 5, want));

    /* The no-show confirmation at window 1: called, recalled twice
     * (max_recalls 2), then a next would make a no-show. */
    long long called = events_of(&x, EVENT_CALLED);
    SIM_OK(&x, "press 41 next");
    snprintf(want, sizeof want, "SELECT count(*) FROM events WHERE kind = %d", EVENT_CALLED);
    ck_assert(wait_db(&x, called + 1, want));
    long long cur = fix_db_int(&x.hall, "SELECT id FROM tickets WHERE window_no = 1 AND state = 3");
    ck_assert_int_gt(cur, 0);
    for (int r = 1; r <= 2; r++) {
        SIM_OK(&x, "press 41 next");
        snprintf(want, sizeof want, "SELECT recalls FROM tickets WHERE id = %lld", cur);
        ck_assert(wait_db(&x, r, want));
    }
    SIM_OK(&x, "press 41 next");
    ck_assert(wait_pad_text(&x, 1, "再按一次确认过号"));
    ck_assert(ts_file_contains(x.kiosk_log, "asking to confirm", WAIT_MS));
    /* Not confirmed: dropped when its time is up, the citizen still called. */
    ck_assert(ts_file_contains(x.kiosk_log, "next not confirmed in time", WAIT_MS));
    ck_assert(wait_pad_text(&x, 1, ""));
    ck_assert_int_eq(fix_db_int(&x.hall, "SELECT state FROM tickets WHERE id = %lld", cur), 3);
    ck_assert_int_eq(fix_db_int(&x.hall, "SELECT recalls FROM tickets WHERE id = %lld", cur), 2);
    ck_assert_int_eq(events_of(&x, EVENT_NO_SHOW), 0);
    /* Confirmed with a second next: the no-show, and the next ticket. */
    SIM_OK(&x, "press 41 next");
    ck_assert(wait_pad_text(&x, 1, "再按一次确认过号"));
    SIM_OK(&x, "press 41 next");
    snprintf(want, sizeof want, "SELECT state FROM tickets WHERE id = %lld", cur);
    ck_assert(wait_db(&x, 6, want));
    ck_assert_int_eq(events_of(&x, EVENT_NO_SHOW), 1);

    /* Chinese refusals: a start with nothing called at window 2, and a
     * next there with nothing waiting for it. */
    SIM_OK(&x, "press 42 start");
    ck_assert(wait_pad_text(&x, 2, "当前不能这样操作"));

    /* Sign-out at the pad (once its called ticket is dealt with): the
     * window closes, the pad asks for a clerk. */
    long long last =
        fix_db_int(&x.hall, "SELECT id FROM tickets WHERE window_no = 1 AND state = 3");
    if (last > 0) {
        SIM_OK(&x, "press 41 noshow");
        snprintf(want, sizeof want, "SELECT state FROM tickets WHERE id = %lld", last);
        ck_assert(wait_db(&x, 6, want));
    }
    SIM_OK(&x, "press 41 signout");
    ck_assert(wait_db(&x, WINDOW_CLOSED, "SELECT state FROM windows WHERE no = 1"));
    ck_assert(wait_pad_text(&x, 1, "请先签到"));
    ck_assert_int_eq(fix_db_int(&x.hall, "SELECT count(*) FROM windows WHERE no = 1 AND "
                                         "clerk = ''"),
                     1);
    all_down(&x);
}
END_TEST

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "";
    bool touch = strcmp(which, "touch") == 0, guard = strcmp(which, "guard") == 0;
    bool truth = strcmp(which, "truth") == 0, signin = strcmp(which, "signin") == 0;

    if (!touch && !guard && !truth && !signin && strcmp(which, "bus") != 0) {
        fprintf(stderr, "usage: %s touch|bus|guard|truth|signin\n", argv[0]);
        return 2;
    }
    if (touch && browser_missing() != NULL) {
        printf("kiosk_e2e_touch_to_board skipped: %s\n", browser_missing());
        return 77;
    }
    Suite *s = suite_create(which);
    TCase *tc = tcase_create("kiosk e2e");

    signal(SIGPIPE, SIG_IGN);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, touch    ? touch_to_board
                       : guard  ? bus_plausibility
                       : truth  ? display_truth
                       : signin ? callpad_signin
                                : bus_role);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
