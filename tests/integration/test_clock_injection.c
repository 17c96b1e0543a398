/*
 * clock_injection — halld and kioskd on an injected hall clock ([clock] in
 * their configuration files, common/clk.h), whatever the date and hour CI
 * runs at, also under the sanitizers.
 *
 * The real halld (a hall made by the real hallctl, hallfixture) and a real
 * kioskd process (--sim: the simulated printer and card reader) are
 * started on the same clock: 2026-02-16 02:30 Asia/Shanghai, 60 times as
 * fast as real time, anchored at the moment the test writes the
 * configuration; the hall's business day rolls over at 03:00. The test
 * process reads the same clock (clk_set_source with the same source) to
 * know when the hall's 03:00 has passed. A bit of a hall day:
 *
 *   - before 03:00: a ticket tapped on the kiosk's touch page, one from
 *     `hallctl issue`, one from a kiosk link (devlink), window 1 calls;
 *   - the rollover: the tickets still waiting are closed, at hall time;
 *   - a SIGHUP with another [clock] start: halld says it needs a restart
 *     and keeps its clock;
 *   - after 03:00: the same three ways; numbering starts again at 1;
 *     window 1 finishes its visit and calls the new day's first ticket;
 *   - a reservation never confirmed as printed expires after
 *     [queue] reserve_timeout (10 min) of hall time, 10 s of real time.
 *
 * Assertions are on hall-clock values only (issued and state times,
 * business days, numbers, events); real time only bounds the waits, which
 * are generous. Before 03:00 the test has 30 s of real time: a machine
 * so slow that halld and kioskd take longer to start fails with a message
 * saying so.
 */
#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clk.h"
#include "hallfixture.h"
#include "queue.h"
#include "store.h"
#include "testsupport.h"

#define WAIT_MS       60000 /* generous: a loaded 2-core machine, sanitizers */
#define HALL_START    "2026-02-16T02:30:00+08:00"
#define HALL_ROLLOVER "2026-02-16T03:00:00+08:00"
#define HALL_RATE     "60"
#define RESERVE_MS    (10 * 60 * 1000) /* [queue] reserve_timeout below */
#define DAY_BEFORE    20260215         /* the business day until 03:00 */
#define DAY_AFTER     20260216

/* Each process reads the system clock once at its start and carries it on
 * with its own monotonic clock: two processes (this test and halld) agree
 * to within read jitter, a fraction of a millisecond real time — tens of
 * hall milliseconds at rate 60. Comparisons across them allow a second. */
#define CLOCK_SLACK_MS 1000

typedef struct clockx {
    hallfix hall;
    clk_zone *zone; /* Asia/Shanghai, the hall's */
    int64_t start_ms, rollover_ms;
    pid_t kioskd;
    char kiosk_log[1100];
    int page_port;
} clockx;

/* ---- The hall's database ---------------------------------------------------- */

/* A ticket as the store has it. */
typedef struct ticket {
    long long id, day, seq, state, issued_ms, state_ms;
    char area[32], number[32], kiosk[80];
} ticket;

static ticket db_ticket(clockx *x, long long id)
{
    char path[1100];
    sqlite3 *db;
    sqlite3_stmt *st;
    ticket t = {0};

    snprintf(path, sizeof path, "%s/hall.db", x->hall.dir);
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT id, day, seq, state, issued_ms, state_ms, area, "
                                        "number, kiosk FROM tickets WHERE id = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "no ticket %lld", id);
    t.id = sqlite3_column_int64(st, 0);
    t.day = sqlite3_column_int64(st, 1);
    t.seq = sqlite3_column_int64(st, 2);
    t.state = sqlite3_column_int64(st, 3);
    t.issued_ms = sqlite3_column_int64(st, 4);
    t.state_ms = sqlite3_column_int64(st, 5);
    snprintf(t.area, sizeof t.area, "%s", (const char *)sqlite3_column_text(st, 6));
    snprintf(t.number, sizeof t.number, "%s", (const char *)sqlite3_column_text(st, 7));
    snprintf(t.kiosk, sizeof t.kiosk, "%s", (const char *)sqlite3_column_text(st, 8));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return t;
}

/* Wait until ticket id is in state; false (and the state said) if not. */
static bool wait_state(clockx *x, long long id, int state)
{
    int64_t until = clk_mono_ms() + WAIT_MS;
    long long s;

    while ((s = fix_db_int(&x->hall, "SELECT state FROM tickets WHERE id = %lld", id)) != state &&
           clk_mono_ms() < until)
        usleep(100 * 1000);
    if (s != state)
        fprintf(stderr, "ticket %lld: state %lld, not %d\n", id, s, state);
    return s == state;
}

/* ---- The hall clock ------------------------------------------------------------ */

static int64_t parse_time(const char *text)
{
    clk_source src;
    char why[300];

    ck_assert_msg(clk_source_parse(text, "", "", &src, why, sizeof why) == 0, "%s", why);
    return src.start_utc_ms;
}

static void say_time(clockx *x, const char *what, int64_t ms, char *out, int cap)
{
    if (clk_format_iso(x->zone, ms, out, cap) < 0)
        snprintf(out, (size_t)cap, "%lld ms (%s)", (long long)ms, what);
}

/* A ticket of the hall day: issued at hall time in [from, to), of the
 * business day it belongs to by the injected clock. */
static void check_issued(clockx *x, const ticket *t, int64_t from, int64_t to, long long day)
{
    char at[64], lo[64], hi[64];

    say_time(x, "issued", t->issued_ms, at, sizeof at);
    say_time(x, "from", from, lo, sizeof lo);
    say_time(x, "to", to, hi, sizeof hi);
    ck_assert_msg(t->issued_ms >= from && t->issued_ms < to,
                  "ticket %s (%s) issued at %s, not in the hall's %s .. %s", t->number, t->kiosk,
                  at, lo, hi);
    ck_assert_msg(t->day == day, "ticket %s issued at %s has business day %lld, not %lld",
                  t->number, at, t->day, day);
}

/* ---- kioskd and its touch page -------------------------------------------------- */

/* One HTTP/1.1 exchange with the touch page; the body, parsed. */
static json_t *page_call(clockx *x, const char *method, const char *path, const char *body)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)x->page_port)};
    struct timeval tv = {.tv_sec = 30};
    char req[1024], *answer = calloc(1, 1 << 16);
    size_t used = 0, cap = 1 << 16;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_ptr_nonnull(answer);
    ck_assert_int_ge(fd, 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, x->page_port, body ? strlen(body) : 0, body ? body : "");
    ck_assert_int_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    for (;;) {
        ssize_t got = recv(fd, answer + used, cap - used - 1, 0);
        if (got <= 0 || (used += (size_t)got) == cap - 1)
            break;
    }
    close(fd);
    const char *json = strstr(answer, "\r\n\r\n");
    ck_assert_msg(json != NULL, "%s %s: no answer from the touch page", method, path);
    json_t *v = json_loads(json + 4, 0, NULL);
    ck_assert_msg(v != NULL, "%s %s: not JSON: %s", method, path, json + 4);
    free(answer);
    return v;
}

static void page_action(clockx *x, const char *name)
{
    char body[128];

    snprintf(body, sizeof body, "{\"name\":\"%s\",\"param\":\"\"}", name);
    json_t *r = page_call(x, "POST", "/api/action", body);
    ck_assert_msg(json_is_true(json_object_get(r, "ok")), "%s refused: %s", name,
                  json_string_value(json_object_get(r, "error")));
    json_decref(r);
}

/* 一键取号 on the touch page; the ticket screen's number, time and QR. */
static void kiosk_take(clockx *x, char *number, char *issued_at, char *qr, size_t cap)
{
    int64_t until = clk_mono_ms() + WAIT_MS;

    page_action(x, "take");
    for (;;) {
        json_t *m = page_call(x, "GET", "/api/state", NULL);
        const char *screen = json_string_value(json_object_get(m, "screen"));
        ck_assert_ptr_nonnull(screen);
        ck_assert_msg(strcmp(screen, "error") != 0, "the kiosk shows an error: %s",
                      json_string_value(json_object_get(m, "message")));
        if (strcmp(screen, "ticket") == 0) {
            const json_t *t = json_object_get(m, "ticket");
            snprintf(number, cap, "%s", json_string_value(json_object_get(t, "number")));
            snprintf(issued_at, cap, "%s", json_string_value(json_object_get(t, "issued_at")));
            snprintf(qr, cap, "%s", json_string_value(json_object_get(t, "qr_text")));
            ck_assert_msg(!json_is_true(json_object_get(t, "offline")),
                          "the kiosk issued %s offline", number);
            json_decref(m);
            break;
        }
        json_decref(m);
        ck_assert_msg(clk_mono_ms() < until, "no ticket on the kiosk's screen");
        usleep(100 * 1000);
    }
    page_action(x, "done");
}

static void kiosk_up(clockx *x, const char *clock_ini)
{
    char ini[1100], text[4096];

    snprintf(ini, sizeof ini, "%s/kioskd.ini", x->hall.dir);
    snprintf(text, sizeof text,
             "[kiosk]\nid = kiosk-01\nlog_level = debug\n"
             "[halld]\naddress = 127.0.0.1:%d\nreconnect_max = 500ms\n"
             "cert = pki/devices/kiosk-01/kiosk-01.crt\nkey = pki/devices/kiosk-01/kiosk-01.key\n"
             "ca = pki/devices/kiosk-01/ca.crt\n"
             "[store]\npath = kiosk.db\n"
             "[flow]\nrequest_timeout = 30s\n"
             "[printer]\nticket_url = https://hall.example/q/{day}/{number}\n"
             "[idcard]\nsealing_key = pki/devices/kiosk-01/seal.pub\n"
             "[page]\nport = 0\n"
             "%s",
             x->hall.port, clock_ini);
    ts_write_file(ini, text);
    snprintf(x->kiosk_log, sizeof x->kiosk_log, "%s/kioskd.log", x->hall.dir);
    const char *argv[] = {KIOSKD_PATH, "-c", ini, "--sim", NULL};
    x->kioskd = ts_spawn(argv, x->kiosk_log);
    ck_assert_msg(ts_file_contains(x->kiosk_log, "touch page on http://", WAIT_MS),
                  "kioskd did not start");
    x->page_port = ts_log_port(x->kiosk_log, "touch page on http://127.0.0.1:");
    ck_assert_int_gt(x->page_port, 0);
    ck_assert_msg(ts_file_contains(x->kiosk_log, "link to halld up", WAIT_MS),
                  "kioskd did not reach halld");
}

/* ---- The other ways in: hallctl and device links -------------------------------- */

/* The newest ticket id (after an issue). */
static long long newest_ticket(clockx *x)
{
    return fix_db_int(&x->hall, "SELECT max(id) FROM tickets");
}

static long long hallctl_issue(clockx *x)
{
    ck_assert_int_eq(fix_hallctl(&x->hall, "issue"), 0);
    return newest_ticket(x);
}

/* A ticket through a kiosk link; printed (WAITING) or left RESERVED. */
static long long link_issue(devlink *l, bool printed)
{
    Hall__Envelope *r = fix_issue(l, "", HALL__PRIORITY__PRIORITY_NORMAL);

    ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_ISSUE_REPLY, "ISSUE refused: %s",
                  r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?");
    long long id = (long long)r->issue_reply->ticket->id;
    proto_free(r);
    if (printed) {
        r = fix_printed(l, (uint64_t)id);
        ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_TICKET_REPLY);
        proto_free(r);
    }
    return id;
}

/* CALL_NEXT on window no; the id of the ticket called. */
static long long call_next(devlink *w, uint32_t no)
{
    Hall__Envelope *r = fix_window_op(w, HALL__ENVELOPE__BODY_CALL_NEXT, no, 0);

    ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY, "CALL_NEXT refused: %s",
                  r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?");
    ck_assert_ptr_nonnull(r->window_reply->ticket);
    long long id = (long long)r->window_reply->ticket->id;
    proto_free(r);
    return id;
}

static void window_step(devlink *w, Hall__Envelope__BodyCase op, uint32_t no, long long id)
{
    Hall__Envelope *r = fix_window_op(w, op, no, (uint64_t)id);

    ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY, "%s refused: %s",
                  proto_body_name(op),
                  r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?");
    proto_free(r);
}

/* ---- The test ------------------------------------------------------------------- */

/* Every event halld recorded is dated by the hall clock, in the business
 * day its time falls in (hallctl's administrative records, such as the
 * devices added, are in real time). */
static void check_events(clockx *x)
{
    char path[1100];
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t now = clk_utc_ms();
    int n = 0;

    snprintf(path, sizeof path, "%s/hall.db", x->hall.dir);
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT seq, kind, at_ms, day FROM events "
                                        "WHERE kind <> ?1 ORDER BY seq",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int(st, 1, STORE_EVENT_ADMIN);
    while (sqlite3_step(st) == SQLITE_ROW) {
        long long seq = sqlite3_column_int64(st, 0), kind = sqlite3_column_int64(st, 1);
        int64_t at = sqlite3_column_int64(st, 2);
        int32_t day = (int32_t)sqlite3_column_int64(st, 3);
        char when[64];

        say_time(x, "event", at, when, sizeof when);
        ck_assert_msg(at >= x->start_ms && at <= now,
                      "event %lld (kind %lld) at %s, not on the hall's clock", seq, kind, when);
        ck_assert_msg(day == clk_date_key(clk_business_day(x->zone, at, 3)),
                      "event %lld (kind %lld) at %s has business day %d", seq, kind, when, day);
        n++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    ck_assert_int_gt(n, 10);
}

/* Numbers of one area and day, in the order issued, are 1, 2, 3... */
static void check_numbering(const ticket *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(t[i].area, t[0].area);
        ck_assert_int_eq(t[i].day, t[0].day);
        ck_assert_msg(t[i].seq == (long long)i + 1,
                      "ticket %s of day %lld has number %lld, not %zu", t[i].number, t[i].day,
                      t[i].seq, i + 1);
    }
}

START_TEST(clock_injection)
{
    clockx x = {0};
    char anchor[64], clock_ini[512], number[128], issued_at[128], qr[128], want[160];
    clk_source src;
    char why[300];
    ticket before[3], after[3];

    x.zone = clk_zone_new("Asia/Shanghai");
    ck_assert_ptr_nonnull(x.zone);
    x.start_ms = parse_time(HALL_START);
    x.rollover_ms = parse_time(HALL_ROLLOVER);
    fix_init(&x.hall, 1, "[queue]\nreserve_timeout = 10m\n");
    ck_assert_int_eq(fix_hallctl(&x.hall, "device add --id kiosk-02 --type kiosk"), 0);

    /* One clock for halld, kioskd and this process, anchored now: the
     * hall is at 02:30 now, at 03:00 in 30 s. */
    clk_zone *utc = clk_zone_new("UTC");
    ck_assert_ptr_nonnull(utc);
    ck_assert_int_gt(clk_format_iso(utc, clk_system_utc_ms(), anchor, sizeof anchor), 0);
    clk_zone_free(utc);
    snprintf(clock_ini, sizeof clock_ini, "[clock]\nstart = %s\nrate = %s\nanchor = %s\n",
             HALL_START, HALL_RATE, anchor);
    ck_assert_msg(clk_source_parse(HALL_START, HALL_RATE, anchor, &src, why, sizeof why) == 0, "%s",
                  why);
    ck_assert_int_eq(clk_set_source(&src), 0);
    FILE *conf = fopen(x.hall.config, "a");
    ck_assert_ptr_nonnull(conf);
    fprintf(conf, "\n%s", clock_ini);
    fclose(conf);

    fix_start(&x.hall);
    ck_assert_msg(ts_file_contains(x.hall.log, "clock: NOT the system clock", WAIT_MS),
                  "halld does not warn that its clock is injected");
    /* hallctl finds halld through the configuration. */
    ck_assert_int_eq(
        ts_system("sed -i -e 's/^port *=.*/port = %d/' %s", x.hall.port, x.hall.config), 0);
    kiosk_up(&x, clock_ini);
    ck_assert_msg(ts_file_contains(x.kiosk_log, "clock: NOT the system clock", WAIT_MS),
                  "kioskd does not warn that its clock is injected");
    devlink *k2 = fix_device(&x.hall, "kiosk-02", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    devlink *win = fix_device(&x.hall, "win-1", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 1);
    Hall__Envelope *r = fix_sign_in(win, 1, "c-1");
    ck_assert_int_eq(r->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
    proto_free(r);

    /* ---- Before the rollover: the kiosk, hallctl, a kiosk link. ---- */
    kiosk_take(&x, number, issued_at, qr, sizeof number);
    long long kiosk_first =
        fix_db_int(&x.hall, "SELECT id FROM tickets WHERE number = '%s'", number);
    before[0] = db_ticket(&x, kiosk_first);
    before[1] = db_ticket(&x, hallctl_issue(&x));
    before[2] = db_ticket(&x, link_issue(k2, true));
    for (int i = 0; i < 3; i++)
        check_issued(&x, &before[i], x.start_ms, x.rollover_ms, DAY_BEFORE);
    check_numbering(before, 3);
    ck_assert_str_eq(before[0].kiosk, "kiosk-01");
    ck_assert_str_eq(before[2].kiosk, "kiosk-02");
    /* The kiosk shows and encodes the hall's date and time. */
    ck_assert_msg(strncmp(issued_at, "2026-02-16 02:", 14) == 0, "the kiosk shows %s", issued_at);
    snprintf(want, sizeof want, "/20260216/%s", number);
    ck_assert_msg(strstr(qr, want) != NULL, "QR %s does not name the hall's day", qr);
    /* Window 1 calls the first ticket. */
    ck_assert_int_eq(call_next(win, 1), before[0].id);

    /* ---- The rollover at the hall's 03:00: what waits is closed. ---- */
    int64_t until = clk_mono_ms() + WAIT_MS;
    while (clk_utc_ms() < x.rollover_ms && clk_mono_ms() < until)
        usleep(100 * 1000);
    for (int i = 1; i < 3; i++) {
        ck_assert(wait_state(&x, before[i].id, Q_CANCELLED));
        ticket t = db_ticket(&x, before[i].id);
        ck_assert_msg(t.state_ms >= x.rollover_ms, "ticket %s closed before the hall's 03:00",
                      t.number);
        ck_assert_int_eq(fix_db_int(&x.hall,
                                    "SELECT day FROM events WHERE ticket_id = %lld AND kind = %d",
                                    t.id, QE_CLOSED_AT_ROLLOVER),
                         DAY_AFTER);
    }

    /* ---- A reload does not change the clock; it says so. ---- */
    ck_assert_int_eq(
        ts_system("sed -i -e 's/^start *=.*/start = 2030-01-01T00:00:00+08:00/' %s", x.hall.config),
        0);
    kill(x.hall.pid, SIGHUP);
    ck_assert_msg(ts_file_contains(x.hall.log, "reload: [clock] start changed", WAIT_MS),
                  "halld's reload does not say that [clock] needs a restart");
    ck_assert(ts_file_contains(x.hall.log, "reloaded ", WAIT_MS));

    /* ---- After it: numbering starts again, the window goes on. ---- */
    int64_t after_from = clk_utc_ms();
    kiosk_take(&x, number, issued_at, qr, sizeof number);
    long long kiosk_second = fix_db_int(
        &x.hall, "SELECT id FROM tickets WHERE number = '%s' AND day = %d", number, DAY_AFTER);
    ck_assert_int_gt(kiosk_second, 0);
    after[0] = db_ticket(&x, kiosk_second);
    after[1] = db_ticket(&x, hallctl_issue(&x));
    after[2] = db_ticket(&x, link_issue(k2, true));
    for (int i = 0; i < 3; i++)
        check_issued(&x, &after[i], x.rollover_ms, clk_utc_ms() + CLOCK_SLACK_MS, DAY_AFTER);
    ck_assert_int_ge(after[0].issued_ms, after_from - CLOCK_SLACK_MS);
    check_numbering(after, 3);
    ck_assert_str_eq(after[0].area, before[0].area);
    ck_assert_msg(strncmp(issued_at, "2026-02-16 0", 12) == 0, "the kiosk shows %s", issued_at);
    window_step(win, HALL__ENVELOPE__BODY_START, 1, before[0].id);
    window_step(win, HALL__ENVELOPE__BODY_FINISH, 1, before[0].id);
    ck_assert_int_eq(call_next(win, 1), after[0].id);
    ck_assert_int_ge(fix_db_int(&x.hall,
                                "SELECT at_ms FROM events WHERE ticket_id = %lld AND kind = %d",
                                after[0].id, QE_CALLED),
                     x.rollover_ms);

    /* ---- A reservation expires after reserve_timeout of hall time. ---- */
    ticket reserved = db_ticket(&x, link_issue(k2, false));
    ck_assert(wait_state(&x, reserved.id, Q_VOID));
    ticket voided = db_ticket(&x, reserved.id);
    ck_assert_msg(voided.state_ms >= reserved.issued_ms + RESERVE_MS,
                  "ticket %s voided %lld ms of hall time after its issue, before reserve_timeout",
                  voided.number, voided.state_ms - reserved.issued_ms);
    ck_assert_int_le(voided.state_ms, clk_utc_ms());

    ck_assert_int_eq(fix_db_int(&x.hall,
                                "SELECT count(*) FROM events WHERE ticket_id = %lld AND kind = %d",
                                reserved.id, QE_EXPIRED),
                     1);
    check_events(&x);

    devlink_close(k2);
    devlink_close(win);
    kill(x.kioskd, SIGTERM);
    int status = ts_wait(x.kioskd, WAIT_MS);
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "kioskd did not stop cleanly (status %d)", status);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&x.hall)), 0);
    ck_assert_int_eq(fix_hallctl(&x.hall, "audit verify"), 0);
    fix_free(&x.hall);
    clk_zone_free(x.zone);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("clock_injection");
    TCase *tc = tcase_create("hall day");

    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, clock_injection);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
