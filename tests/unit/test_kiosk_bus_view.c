/*
 * test_kiosk_bus_view — the pure half of the kiosk's bus master role
 * (firmware/kiosk/kbus.h): display pushes turned into display actions
 * (calls for window displays and the board, the window displays' state
 * after a call is over, call-pad numbers, the window's own waiting count
 * and marks, the notice), what a call-pad's next would do (the no-show
 * confirmation), its Chinese refusals, and the [bus] section of kioskd's
 * configuration (defaults, good files, bad values refused with one
 * sentence).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "busmap.h"
#include "kbus.h"
#include "kiosk_conf.h"
#include "testsupport.h"

/* ---- building pushes ------------------------------------------------------- */

#define MAXN 8

typedef struct push {
    Hall__DisplayPush p;
    Hall__Call calls[MAXN], *pcalls[MAXN];
    Hall__WindowStatus windows[MAXN], *pwindows[MAXN];
    Hall__AreaStatus areas[MAXN], *pareas[MAXN];
    char numbers[MAXN][16], current[MAXN][16], names[MAXN][80], codes[MAXN][16];
    char notice[256];
} push;

static void push_init(push *x, uint64_t seq, bool snapshot)
{
    memset(x, 0, sizeof *x);
    hall__display_push__init(&x->p);
    x->p.seq = seq;
    x->p.snapshot = snapshot;
    x->p.calls = x->pcalls;
    x->p.windows = x->pwindows;
    x->p.areas = x->pareas;
    x->p.notice = x->notice;
}

static void push_notice(push *x, const char *text)
{
    snprintf(x->notice, sizeof x->notice, "%s", text);
}

/* Calls are added newest first, as halld sends them. */
static void push_call(push *x, const char *number, uint32_t window, const char *name, int64_t at_ms)
{
    size_t i = x->p.n_calls++;
    hall__call__init(&x->calls[i]);
    snprintf(x->numbers[i], sizeof x->numbers[i], "%s", number);
    x->calls[i].number = x->numbers[i];
    x->calls[i].window_no = window;
    snprintf(x->names[i], sizeof x->names[i], "%s", name);
    x->calls[i].masked_name = x->names[i];
    x->calls[i].called_at_ms = at_ms;
    x->pcalls[i] = &x->calls[i];
}

static char clerk[] = "1001", no_clerk[] = "";

/* A window as halld reports it: state, its ticket (CALLED or SERVING) and
 * the count waiting for its areas. */
static Hall__WindowStatus *push_window_as(push *x, uint32_t no, Hall__WindowState state,
                                          const char *current, Hall__TicketState tstate,
                                          uint32_t waiting)
{
    size_t i = x->p.n_windows++;
    hall__window_status__init(&x->windows[i]);
    snprintf(x->current[i], sizeof x->current[i], "%s", current);
    x->windows[i].window_no = no;
    x->windows[i].state = state;
    x->windows[i].current_number = x->current[i];
    x->windows[i].current_state = current[0] ? tstate : HALL__TICKET_STATE__TICKET_UNKNOWN;
    x->windows[i].waiting = waiting;
    x->windows[i].clerk_id = state == HALL__WINDOW_STATE__WINDOW_CLOSED ? no_clerk : clerk;
    x->pwindows[i] = &x->windows[i];
    return &x->windows[i];
}

/* An open window calling current ("" for none), nobody waiting. */
static void push_window(push *x, uint32_t no, const char *current)
{
    push_window_as(x, no, HALL__WINDOW_STATE__WINDOW_OPEN, current,
                   HALL__TICKET_STATE__TICKET_CALLED, 0);
}

static void push_area(push *x, const char *code, uint32_t waiting)
{
    size_t i = x->p.n_areas++;
    hall__area_status__init(&x->areas[i]);
    snprintf(x->codes[i], sizeof x->codes[i], "%s", code);
    x->areas[i].area = x->codes[i];
    x->areas[i].waiting = waiting;
    x->pareas[i] = &x->areas[i];
}

static kbus_view view;
static kbus_action act[KBUS_ACTIONS_MAX];

static size_t apply(push *x)
{
    return kbus_view_apply(&view, &x->p, act, KBUS_ACTIONS_MAX);
}

static void setup(void)
{
    kbus_view_init(&view);
}

static void expect_call(size_t i, const char *number, uint32_t window, const char *name, bool blink)
{
    ck_assert_int_eq(act[i].op, KBUS_CALL);
    ck_assert_str_eq(act[i].number, number);
    ck_assert_uint_eq(act[i].window, window);
    ck_assert_str_eq(act[i].name, name);
    ck_assert(act[i].blink == blink);
}

static void expect_pad(size_t i, uint32_t window, const char *number, uint32_t waiting)
{
    ck_assert_int_eq(act[i].op, KBUS_CALLPAD);
    ck_assert_uint_eq(act[i].window, window);
    ck_assert_str_eq(act[i].number, number);
    ck_assert_uint_eq(act[i].waiting, waiting);
}

static void expect_window(size_t i, uint32_t window, const char *number, const char *text)
{
    ck_assert_int_eq(act[i].op, KBUS_WINDOW);
    ck_assert_uint_eq(act[i].window, window);
    ck_assert_str_eq(act[i].number, number);
    ck_assert_str_eq(act[i].text, text);
}

/* ---- the view ---------------------------------------------------------------- */

START_TEST(first_snapshot_fills_without_blinking)
{
    push x;

    push_init(&x, 7, true);
    push_call(&x, "A002", 2, "李*", 2000);
    push_call(&x, "A001", 1, "张*丰", 1000);
    push_window_as(&x, 1, HALL__WINDOW_STATE__WINDOW_OPEN, "A001",
                   HALL__TICKET_STATE__TICKET_CALLED, 3);
    push_window_as(&x, 2, HALL__WINDOW_STATE__WINDOW_OPEN, "A002",
                   HALL__TICKET_STATE__TICKET_CALLED, 2);
    push_area(&x, "intake", 3);
    push_area(&x, "tax", 2);
    push_notice(&x, "请保持安静");
    size_t n = apply(&x);
    ck_assert_uint_eq(n, 5);
    /* Oldest first, steady; the displays show those calls already. */
    expect_call(0, "A001", 1, "张*丰", false);
    expect_call(1, "A002", 2, "李*", false);
    /* Every pad after a snapshot, with its own window's waiting count. */
    expect_pad(2, 1, "A001", 3);
    expect_pad(3, 2, "A002", 2);
    ck_assert_int_eq(act[4].op, KBUS_NOTICE);
    ck_assert_str_eq(act[4].text, "请保持安静");
    ck_assert(view.seen);
    ck_assert_int_eq(view.last_call_ms, 2000);
}
END_TEST

START_TEST(delta_calls_blink_in_order)
{
    push x;

    push_init(&x, 1, true);
    push_window(&x, 1, "");
    push_window(&x, 2, "");
    push_area(&x, "intake", 4);
    apply(&x);

    /* A delta with two calls (one turn) and the windows that changed. */
    push_init(&x, 2, false);
    push_call(&x, "A002", 2, "", 3100);
    push_call(&x, "A001", 1, "王*", 3000);
    push_window_as(&x, 1, HALL__WINDOW_STATE__WINDOW_OPEN, "A001",
                   HALL__TICKET_STATE__TICKET_CALLED, 2);
    push_window_as(&x, 2, HALL__WINDOW_STATE__WINDOW_OPEN, "A002",
                   HALL__TICKET_STATE__TICKET_CALLED, 2);
    push_area(&x, "intake", 2);
    size_t n = apply(&x);
    ck_assert_uint_eq(n, 4);
    expect_call(0, "A001", 1, "王*", true);
    expect_call(1, "A002", 2, "", true);
    expect_pad(2, 1, "A001", 2);
    expect_pad(3, 2, "A002", 2);

    /* A recall: the same number again, blinking again; nothing else changed. */
    push_init(&x, 3, false);
    push_call(&x, "A001", 1, "王*", 9000);
    n = apply(&x);
    ck_assert_uint_eq(n, 1);
    expect_call(0, "A001", 1, "王*", true);

    /* Window 2's ticket is over: its display and its pad. */
    push_init(&x, 4, false);
    push_window_as(&x, 2, HALL__WINDOW_STATE__WINDOW_OPEN, "", HALL__TICKET_STATE__TICKET_UNKNOWN,
                   2);
    n = apply(&x);
    ck_assert_uint_eq(n, 2);
    expect_window(0, 2, "", "2号窗口 请稍候");
    expect_pad(1, 2, "", 2);

    /* A window's own waiting count alone: only its pad. */
    push_init(&x, 5, false);
    push_window_as(&x, 1, HALL__WINDOW_STATE__WINDOW_OPEN, "A001",
                   HALL__TICKET_STATE__TICKET_CALLED, 3);
    push_area(&x, "intake", 3);
    n = apply(&x);
    ck_assert_uint_eq(n, 1);
    expect_pad(0, 1, "A001", 3);

    /* Nothing shown changed: nothing to do (the hall's areas are not the
     * pads' count). */
    push_init(&x, 6, false);
    push_area(&x, "intake", 9);
    push_window_as(&x, 1, HALL__WINDOW_STATE__WINDOW_OPEN, "A001",
                   HALL__TICKET_STATE__TICKET_CALLED, 3);
    ck_assert_uint_eq(apply(&x), 0);
}
END_TEST

/* Every way a call ends, and the window's other states: the display says
 * what is true now, once. */
START_TEST(window_display_tells_the_truth)
{
    push x;
    size_t n;

    push_init(&x, 1, true);
    push_window_as(&x, 3, HALL__WINDOW_STATE__WINDOW_CLOSED, "", HALL__TICKET_STATE__TICKET_UNKNOWN,
                   0);
    ck_assert_uint_eq(apply(&x), 2);
    expect_window(0, 3, "", "3号窗口 暂停办理");
    ck_assert_str_eq(kbus_view_pad_text(&view, 3), "请先签到");
    ck_assert(!kbus_view_signed_in(&view, 3));

    /* Signed in: open, idle. */
    push_init(&x, 2, false);
    push_window_as(&x, 3, HALL__WINDOW_STATE__WINDOW_OPEN, "", HALL__TICKET_STATE__TICKET_UNKNOWN,
                   4);
    ck_assert_uint_eq(apply(&x), 2);
    expect_window(0, 3, "", "3号窗口 请稍候");
    expect_pad(1, 3, "", 4);
    ck_assert(kbus_view_signed_in(&view, 3));
    ck_assert_str_eq(kbus_view_pad_text(&view, 3), "");

    /* Called: the call itself, no second picture. */
    push_init(&x, 3, false);
    push_call(&x, "A012", 3, "", 1000);
    push_window_as(&x, 3, HALL__WINDOW_STATE__WINDOW_OPEN, "A012",
                   HALL__TICKET_STATE__TICKET_CALLED, 3);
    n = apply(&x);
    ck_assert_uint_eq(n, 2);
    expect_call(0, "A012", 3, "", true);
    expect_pad(1, 3, "A012", 3);

    /* Service starts. */
    push_init(&x, 4, false);
    push_window_as(&x, 3, HALL__WINDOW_STATE__WINDOW_OPEN, "A012",
                   HALL__TICKET_STATE__TICKET_SERVING, 3);
    ck_assert_uint_eq(apply(&x), 2);
    expect_window(0, 3, "A012", "A012号 正在办理");

    /* Finished: idle again. */
    push_init(&x, 5, false);
    push_window_as(&x, 3, HALL__WINDOW_STATE__WINDOW_OPEN, "", HALL__TICKET_STATE__TICKET_UNKNOWN,
                   3);
    ck_assert_uint_eq(apply(&x), 2);
    expect_window(0, 3, "", "3号窗口 请稍候");

    /* Called, then a no-show with nothing else waiting: idle. */
    push_init(&x, 6, false);
    push_call(&x, "A013", 3, "", 2000);
    push_window_as(&x, 3, HALL__WINDOW_STATE__WINDOW_OPEN, "A013",
                   HALL__TICKET_STATE__TICKET_CALLED, 2);
    ck_assert_uint_eq(apply(&x), 2);
    push_init(&x, 7, false);
    push_window_as(&x, 3, HALL__WINDOW_STATE__WINDOW_OPEN, "", HALL__TICKET_STATE__TICKET_UNKNOWN,
                   2);
    ck_assert_uint_eq(apply(&x), 2);
    expect_window(0, 3, "", "3号窗口 请稍候");

    /* Paused, resumed, closed. */
    push_init(&x, 8, false);
    push_window_as(&x, 3, HALL__WINDOW_STATE__WINDOW_PAUSED, "", HALL__TICKET_STATE__TICKET_UNKNOWN,
                   2);
    ck_assert_uint_eq(apply(&x), 2);
    expect_window(0, 3, "", "3号窗口 暂停服务");
    ck_assert_str_eq(kbus_view_pad_text(&view, 3), "暂停服务");
    push_init(&x, 9, false);
    push_window_as(&x, 3, HALL__WINDOW_STATE__WINDOW_OPEN, "", HALL__TICKET_STATE__TICKET_UNKNOWN,
                   2);
    ck_assert_uint_eq(apply(&x), 2);
    expect_window(0, 3, "", "3号窗口 请稍候");
    push_init(&x, 10, false);
    push_window_as(&x, 3, HALL__WINDOW_STATE__WINDOW_CLOSED, "", HALL__TICKET_STATE__TICKET_UNKNOWN,
                   2);
    ck_assert_uint_eq(apply(&x), 2);
    expect_window(0, 3, "", "3号窗口 暂停办理");

    /* The same state again changes nothing. */
    ck_assert_uint_eq(apply(&x), 0);
}
END_TEST

/* The marks of the current ticket, and when a next needs confirming. */
START_TEST(pad_marks_and_noshow)
{
    push x;
    Hall__WindowStatus *w;

    push_init(&x, 1, true);
    push_call(&x, "A020", 1, "", 1000);
    w = push_window_as(&x, 1, HALL__WINDOW_STATE__WINDOW_OPEN, "A020",
                       HALL__TICKET_STATE__TICKET_CALLED, 5);
    w->current_priority = HALL__PRIORITY__PRIORITY_GREEN;
    w->current_transferred = true;
    apply(&x);
    ck_assert_uint_eq(view.window[0].flags, BUSMAP_PAD_GREEN | BUSMAP_PAD_TRANSFERRED);
    /* Just called, max_recalls 2: a next is a recall. */
    ck_assert(!kbus_view_next_is_noshow(&view, 1, 2));
    ck_assert(kbus_view_next_is_noshow(&view, 1, 0));

    /* Recalled twice: the next next would make a no-show. */
    push_init(&x, 2, false);
    x.calls[0].recalls = 1;
    push_call(&x, "A020", 1, "", 2000);
    x.calls[0].recalls = 1;
    apply(&x);
    ck_assert(!kbus_view_next_is_noshow(&view, 1, 2));
    push_init(&x, 3, false);
    push_call(&x, "A020", 1, "", 3000);
    x.calls[0].recalls = 2;
    apply(&x);
    ck_assert(kbus_view_next_is_noshow(&view, 1, 2));

    /* Serving, or another window: never. */
    ck_assert(!kbus_view_next_is_noshow(&view, 7, 0));
    push_init(&x, 4, false);
    w = push_window_as(&x, 1, HALL__WINDOW_STATE__WINDOW_OPEN, "A020",
                       HALL__TICKET_STATE__TICKET_SERVING, 5);
    w->current_priority = HALL__PRIORITY__PRIORITY_APPOINTMENT;
    ck_assert_uint_eq(apply(&x), 2);
    expect_pad(1, 1, "A020", 5);
    ck_assert_uint_eq(act[1].flags, BUSMAP_PAD_APPOINTMENT);
    ck_assert(!kbus_view_next_is_noshow(&view, 1, 0));

    /* A new ticket called: its recalls start again. */
    push_init(&x, 5, false);
    push_call(&x, "A021", 1, "", 4000);
    push_window(&x, 1, "A021");
    apply(&x);
    ck_assert_uint_eq(view.window[0].flags, 0);
    ck_assert(!kbus_view_next_is_noshow(&view, 1, 2));
}
END_TEST

/* Refusals on the pad are Chinese, short enough for its 16 characters. */
START_TEST(pad_refusals_in_chinese)
{
    static const int codes[] = {
        HALL__ERROR_CODE__ERR_QUEUE_EMPTY,   HALL__ERROR_CODE__ERR_WINDOW_CLOSED,
        HALL__ERROR_CODE__ERR_ILLEGAL_STATE, HALL__ERROR_CODE__ERR_FORBIDDEN,
        HALL__ERROR_CODE__ERR_NOT_FOUND,     HALL__ERROR_CODE__ERR_PIN,
        HALL__ERROR_CODE__ERR_BAD_REQUEST,   HALL__ERROR_CODE__ERR_UNAVAILABLE,
        HALL__ERROR_CODE__ERR_INTERNAL,
    };
    uint8_t gb[64];

    for (int key = 1; key <= BUS_KEY_MAX; key++) {
        for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
            const char *zh = kbus_refusal_zh(key, codes[i], NULL);
            ck_assert_uint_gt(strlen(zh), 0);
            /* No Latin letters, and it fits the pad whole. */
            for (const char *c = zh; *c; c++)
                ck_assert(!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z')));
            ck_assert_int_le(busmap_gb18030(zh, gb, sizeof gb), BUSMAP_PAD_TEXT_MAX);
        }
    }
    ck_assert_str_eq(kbus_refusal_zh(BUS_KEY_NEXT, HALL__ERROR_CODE__ERR_QUEUE_EMPTY, NULL),
                     "无人等候");
    ck_assert_str_eq(kbus_refusal_zh(BUS_KEY_SIGNIN, HALL__ERROR_CODE__ERR_PIN, "密码错误次数过多"),
                     "密码错误次数过多");
    ck_assert_str_eq(kbus_refusal_zh(BUS_KEY_SIGNIN, HALL__ERROR_CODE__ERR_PIN, ""),
                     "工号或密码错误");
}
END_TEST

START_TEST(reconnect_snapshot_shows_only_missed_calls)
{
    push x;

    push_init(&x, 1, true);
    push_call(&x, "A001", 1, "", 1000);
    push_window(&x, 1, "A001");
    apply(&x);

    /* The link was down while A002 and A003 were called. */
    push_init(&x, 9, true);
    push_call(&x, "A003", 1, "", 3000);
    push_call(&x, "A002", 2, "", 2000);
    push_call(&x, "A001", 1, "", 1000);
    push_window(&x, 1, "A003");
    push_window(&x, 2, "A002");
    size_t n = apply(&x);
    ck_assert_uint_eq(n, 4);
    expect_call(0, "A002", 2, "", true);
    expect_call(1, "A003", 1, "", true);
    expect_pad(2, 1, "A003", 0);
    expect_pad(3, 2, "A002", 0);

    /* The same snapshot again (a gap in seq): no call twice. */
    n = apply(&x);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(act[0].op, KBUS_CALLPAD);
    ck_assert_int_eq(act[1].op, KBUS_CALLPAD);
}
END_TEST

START_TEST(notice_and_limits)
{
    push x;
    char long_number[64];

    push_init(&x, 1, true);
    push_notice(&x, "午休时间 12:00-13:30");
    ck_assert_uint_eq(apply(&x), 1);
    ck_assert_int_eq(act[0].op, KBUS_NOTICE);
    /* A delta without a notice keeps it; the same notice again is no change. */
    push_init(&x, 2, false);
    ck_assert_uint_eq(apply(&x), 0);
    push_init(&x, 3, false);
    push_notice(&x, "午休时间 12:00-13:30");
    ck_assert_uint_eq(apply(&x), 0);
    /* A snapshot without one clears it. */
    push_init(&x, 4, true);
    ck_assert_uint_eq(apply(&x), 1);
    ck_assert_int_eq(act[0].op, KBUS_NOTICE);
    ck_assert_str_eq(act[0].text, "");
    ck_assert_str_eq(view.notice, "");

    /* Over-long strings are cut to the action's fields, never overflow. */
    memset(long_number, 'A', sizeof long_number - 1);
    long_number[sizeof long_number - 1] = '\0';
    push_init(&x, 5, false);
    push_call(&x, "A001", 3, long_number, 10000);
    x.calls[0].number = long_number;
    ck_assert_uint_eq(apply(&x), 1);
    ck_assert_uint_eq(strlen(act[0].number), KBUS_NUMBER_MAX - 1);
    ck_assert_uint_eq(strlen(act[0].name), KBUS_NAME_MAX - 1);

    /* A full action array: the count never passes max. */
    push_init(&x, 6, false);
    for (int i = 0; i < 5; i++)
        push_call(&x, "B001", 1, "", 20000 + i);
    ck_assert_uint_eq(kbus_view_apply(&view, &x.p, act, 3), 3);
    ck_assert_uint_eq(kbus_view_apply(&view, &x.p, act, 0), 0);
}
END_TEST

START_TEST(window_table_full)
{
    push x;

    for (uint32_t w = 1; w <= KBUS_WINDOWS_MAX + 3; w++) {
        push_init(&x, w, false);
        push_window(&x, w, "A001");
        size_t n = apply(&x);
        /* Its display (a call it had not shown) and its pad. */
        ck_assert_uint_eq(n, w <= KBUS_WINDOWS_MAX ? 2 : 0);
    }
    ck_assert_uint_eq(view.nwindows, KBUS_WINDOWS_MAX);
}
END_TEST

/* ---- the [bus] configuration -------------------------------------------------- */

static char *dir;

static const char base[] = "[kiosk]\nid = kiosk-01\n[halld]\naddress = 127.0.0.1:7700\n";

static int load(const char *extra, kiosk_conf *c, char *err, size_t errlen)
{
    char path[512], text[2048];

    snprintf(path, sizeof path, "%s/k.ini", dir);
    snprintf(text, sizeof text, "%s%s", base, extra);
    ts_write_file(path, text);
    memset(c, 0, sizeof *c);
    return kiosk_conf_load(c, path, true, err, errlen);
}

START_TEST(bus_conf)
{
    kiosk_conf c;
    char err[512];

    dir = ts_tmpdir("kbusconf");
    /* Defaults: off, tcp, the documented device list. */
    ck_assert_int_eq(load("", &c, err, sizeof err), 0);
    ck_assert(!c.bus_enabled);
    ck_assert_int_eq(c.bus_transport, KIOSK_BUS_TCP);
    ck_assert_str_eq(c.bus_address, "127.0.0.1:1502");
    ck_assert_str_eq(c.bus_devices, "1:board,11:window:1,12:window:2,41:callpad:1,42:callpad:2,"
                                    "71:rating:1,72:rating:2");
    ck_assert_int_eq(c.bus_blink_ms, 5000);
    ck_assert_int_eq(c.bus_board_min_ms, 3000);
    ck_assert_int_eq(c.bus_rating_timeout_ms, 30000);
    ck_assert_int_eq(c.bus_noshow_confirm_ms, 5000);
    ck_assert_int_eq(c.bus_baud, 115200);
    kiosk_conf_release(&c);

    ck_assert_int_eq(
        load("[bus]\nenabled = true\naddress = 10.0.0.5:502\nblink = 2s\n", &c, err, sizeof err),
        0);
    ck_assert(c.bus_enabled);
    ck_assert_str_eq(c.bus_host, "10.0.0.5");
    ck_assert_int_eq(c.bus_port, 502);
    ck_assert_int_eq(c.bus_blink_ms, 2000);
    /* window_certs is read from the file's directory. */
    ck_assert_ptr_nonnull(strstr(c.bus_window_certs, dir));
    kiosk_conf_release(&c);

    ck_assert_int_eq(
        load("[bus]\nenabled = true\ntransport = rtu\ndevice = /dev/ttyS3\nbaud = 9600\n", &c, err,
             sizeof err),
        0);
    ck_assert_int_eq(c.bus_transport, KIOSK_BUS_RTU);
    kiosk_conf_release(&c);

    /* Refused, with the key named. */
    ck_assert_int_eq(load("[bus]\nenabled = true\naddress = nowhere\n", &c, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "[bus] address"));
    ck_assert_int_eq(
        load("[bus]\nenabled = true\ndevices = 1:board,1:window:1\n", &c, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "[bus] devices"));
    ck_assert_int_eq(load("[bus]\nenabled = true\ndevices = 1:toaster\n", &c, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "[bus] devices"));
    ck_assert_int_eq(load("[bus]\ntransport = can\n", &c, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "transport"));
    ck_assert_int_eq(load("[bus]\nrating_timeout = 0s\n", &c, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "rating_timeout"));
    ck_assert_int_eq(load("[bus]\nblink = 2m\n", &c, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "blink"));
    ck_assert_int_eq(load("[bus]\nnoshow_confirm = 0s\n", &c, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "noshow_confirm"));
    ck_assert_int_eq(load("[bus]\nnoshow_confirm = 2s\n", &c, err, sizeof err), 0);
    ck_assert_int_eq(c.bus_noshow_confirm_ms, 2000);
    kiosk_conf_release(&c);
    /* A disabled bus is not checked beyond its keys' ranges. */
    ck_assert_int_eq(load("[bus]\naddress = nowhere\n", &c, err, sizeof err), 0);
    kiosk_conf_release(&c);
    ts_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kiosk_bus_view");
    TCase *tc = tcase_create("view");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, first_snapshot_fills_without_blinking);
    tcase_add_test(tc, delta_calls_blink_in_order);
    tcase_add_test(tc, reconnect_snapshot_shows_only_missed_calls);
    tcase_add_test(tc, notice_and_limits);
    tcase_add_test(tc, window_table_full);
    tcase_add_test(tc, window_display_tells_the_truth);
    tcase_add_test(tc, pad_marks_and_noshow);
    tcase_add_test(tc, pad_refusals_in_chinese);
    suite_add_tcase(s, tc);
    tc = tcase_create("conf");
    tcase_add_test(tc, bus_conf);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
