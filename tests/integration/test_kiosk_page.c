/*
 * The kiosk's touch page server (firmware/kiosk/kpage.c) in process, with a
 * scripted fake screen model in place of the kiosk core.
 *
 *   test_kiosk_page http      (kiosk_page_http) the HTTP interface from a
 *                             plain socket client: the assets, 404/405,
 *                             413, malformed actions, refused actions, long
 *                             polls answered by kpage_changed() and by the
 *                             hold timer, the loopback rule, bad addresses.
 *   test_kiosk_page chromium  (kiosk_page_chromium) the page in Debian's
 *                             headless Chromium, driven by kiosk_page.mjs
 *                             (playwright-core): every screen and status,
 *                             every action reaching the model (tiles,
 *                             matters, keypads, check-in by card, green
 *                             channel, own ticket, confirm, a scanner's
 *                             burst, touch on every key), large text and
 *                             English, out of service and back; screenshots
 *                             go to KPAGE_SCREENS_DIR.
 *   test_kiosk_page layouts   (kiosk_page_layouts) every screen state in
 *                             portrait and landscape x normal and large
 *                             text x Chinese and English: axe-core, every
 *                             control inside the viewport, no scrolling,
 *                             contrast >= 7:1; screenshots kept in
 *                             KPAGE_LAYOUTS_DIR.
 *   Both browser modes exit 77 when node, playwright-core or axe-core
 *   (tools/install-page-deps) or chromium is missing.
 *
 * The fake model speaks the screen model of docs/kiosk.md with every field
 * the page draws. It accepts the page's actions the way kioskd answers
 * them, and one more, "script", which only the browser script sends: it
 * sets the screen or a status directly, so every state can be reached
 * without a kiosk behind the page.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "browserfixture.h"
#include "clk.h"
#include "kpage.h"
#include "testsupport.h"

/* ---- the fake screen model -------------------------------------------- */

/* Every action is recorded; the layout walk sends a few hundred touches. */
#define MAX_ACTIONS 1024
/* The long-poll hold the Chromium tests use, so that the page's
 * out-of-service limit (hold_s + 3 s) comes within seconds. */
#define FAKE_HOLD_S 3

/* The fake's whole state: the contract's model (docs/kiosk.md, "Screen
 * model") with every field the page draws, set by the page's actions the
 * way kioskd would and by "script" for what only the kiosk can cause. */
typedef struct fake {
    kpage *page;
    long long seq;
    const char *screen;
    const char *link;    /* online | offline */
    const char *printer; /* ok | paper_out | ... */
    const char *message, *message_en;
    const char *error_kind;  /* card | refused | printer | network | hours | limit | "" */
    const char *closed_kind; /* printer | maintenance | hours | "" */
    const char *mine_state;  /* the own ticket's state; NULL: none looked up */
    bool mine_checked;       /* looked up with its check code (may be cancelled) */
    bool ticket, ticket_offline, ticket_consult;
    bool green;        /* green.enabled */
    bool area_closed;  /* area D closed until 14:00 */
    bool confirm;      /* a question before issuing */
    bool letters;      /* the appointment keypad has letters */
    bool many_matters; /* the matter screen with its longest list */
    bool many_areas;   /* 12 areas: more than the idle screen's tiles */
    int hold_s;
    int state_calls;
    bool broken; /* the state callback fails */
    char actions[MAX_ACTIONS][128];
    int nactions;
} fake;

static void fake_init(fake *f)
{
    memset(f, 0, sizeof *f);
    f->seq = 1;
    f->screen = "idle";
    f->link = "online";
    f->printer = "ok";
    f->message = f->message_en = "";
    f->error_kind = f->closed_kind = "";
    f->green = true;
    f->hold_s = KPAGE_HOLD_MS / 1000;
}

static json_t *fake_area(const char *code, const char *name, const char *name_en, int waiting,
                         int est, int matters)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:b,s:b,s:s,s:s,s:i,s:b,s:i}", "code", code,
                     "letter", code, "name", name, "name_en", name_en, "waiting", waiting,
                     "est_wait_s", est, "general", strcmp(code, "A") == 0, "closed", false,
                     "opens_zh", "", "opens_en", "", "windows_open", 2, "issue_unstaffed", false,
                     "matters", matters);
}

static json_t *fake_areas(const fake *f)
{
    json_t *areas =
        json_pack("[o,o,o,o,o]", fake_area("A", "综合受理", "General intake", 3, 540, 0),
                  fake_area("B", "不动产登记", "Real estate registration", 12, 1500, 3),
                  fake_area("C", "社保医保", "Social and health insurance", 0, 0, 0),
                  fake_area("D", "出入境", "Exit and entry", 5, 420, 0),
                  fake_area("E", "公积金", "", 2, 180, 0)); /* no English name: the Chinese one */

    if (f->many_areas) {
        static const char *const more[][3] = {{"F", "税务", "Taxes"},
                                              {"G", "市场监管", "Market regulation"},
                                              {"H", "交通", "Transport"},
                                              {"J", "民政", "Civil affairs"},
                                              {"K", "住房", "Housing"},
                                              {"L", "人才服务", "Talent services"},
                                              {"M", "残疾人服务", "Disability services"}};
        for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
            json_array_append_new(areas,
                                  fake_area(more[i][0], more[i][1], more[i][2], (int)i, 60, 0));
    }
    if (f->area_closed) {
        json_t *d = json_array_get(areas, 3);
        json_object_set_new(d, "closed", json_true());
        json_object_set_new(d, "opens_zh", json_string("14:00 开始取号"));
        json_object_set_new(d, "opens_en", json_string("Opens at 14:00"));
        json_object_set_new(d, "windows_open", json_integer(0));
    }
    return areas;
}

static json_t *fake_matter(const char *code, const char *name, const char *name_en,
                           json_t *materials)
{
    return json_pack("{s:s,s:s,s:s,s:o}", "code", code, "name", name, "name_en", name_en,
                     "materials", materials);
}

static json_t *fake_matters(const fake *f)
{
    json_t *m = json_pack("[o,o,o]",
                          fake_matter("B01", "房屋转移登记", "Transfer of a home",
                                      json_pack("[s,s,s]", "身份证", "不动产权证书", "买卖合同")),
                          fake_matter("B02", "抵押登记", "Mortgage registration",
                                      json_pack("[s,s]", "身份证", "借款合同")),
                          fake_matter("B03", "查询不动产信息", "Property records", json_array()));

    if (f->many_matters)
        for (int i = 4; i <= 8; i++) {
            char code[8];
            snprintf(code, sizeof code, "B0%d", i);
            json_array_append_new(m, fake_matter(code, "更正登记", "Correction of records",
                                                 json_pack("[s]", "身份证")));
        }
    return m;
}

/* The preview's QR picture, inline (kpage of this test serves none). */
#define FAKE_QR                                                                                    \
    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 9 9'%3E"            \
    "%3Cpath d='M0 0h3v3H0zM6 0h3v3H6zM0 6h3v3H0zM4 4h1v1H4zM6 6h1v3H6zM8 5h1v2H8z'/%3E"           \
    "%3C/svg%3E"

static json_t *fake_ticket(const fake *f)
{
    json_t *k;

    if (!f->ticket)
        return json_null();
    if (f->ticket_consult) /* a green ticket of the consult desk, for tax */
        return json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:b,s:s,s:s,s:s,s:[i],s:b,s:b,s:s,s:s,s:s,"
                         "s:s,s:{s:s,s:s,s:s}}",
                         "number", "A003", "letter", "A", "area", "A", "area_name", "综合受理",
                         "area_name_en", "General intake", "ahead", 0, "est_wait_s", 0, "offline",
                         false, "masked_name", "张*", "issued_at", "2026-03-02 10:05", "qr",
                         FAKE_QR, "windows", 8, "appointment", false, "green", true, "wait_zh",
                         "即将叫号", "wait_en", "Soon", "rule_zh",
                         "过号请在10分钟内回到取号机重新排队", "rule_en",
                         "Missed your call? Rejoin at the kiosk within 10 minutes", "consult_for",
                         "code", "T", "name", "税务服务", "name_en", "Tax");
    k = json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:b,s:s,s:s,s:s,s:[i,i],s:b,s:b,s:s,s:s,s:[s,s,s],"
                  "s:s,s:s,s:s,s:s}",
                  "number", f->ticket_offline ? "A901" : "B012", "letter", "B", "area", "B",
                  "area_name", "不动产登记", "area_name_en", "Real estate registration", "ahead", 3,
                  "est_wait_s", 540, "offline", f->ticket_offline, "masked_name", "张*",
                  "issued_at", "2026-03-02 10:05", "qr", FAKE_QR, "windows", 1, 2, "appointment",
                  true, "green", true, "matter_name", "房屋转移登记", "matter_name_en",
                  "Transfer of a home", "materials", "身份证", "不动产权证书", "买卖合同",
                  "wait_zh", "约 9 分钟", "wait_en", "About 9 min", "rule_zh",
                  "过号请在10分钟内回到取号机重新排队", "rule_en",
                  "Missed your call? Rejoin at the kiosk within 10 minutes");
    ck_assert_ptr_nonnull(k);
    return k;
}

static json_t *fake_mine(const fake *f)
{
    bool waiting = strcmp(f->mine_state, "waiting") == 0;
    bool missed = strcmp(f->mine_state, "no_show") == 0;

    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:b,s:b,s:b,s:s}", "number", "B012", "state",
                     f->mine_state, "area_name", "不动产登记", "area_name_en",
                     "Real estate registration", "ahead", waiting ? json_integer(4) : json_null(),
                     "can_cancel", waiting && f->mine_checked, "cancel_needs_check",
                     waiting && !f->mine_checked, "can_rejoin", missed, "rejoin_until",
                     missed ? "10:45" : "");
}

static int fake_state(void *arg, buf *out)
{
    fake *f = arg;
    bool matter = strcmp(f->screen, "matter") == 0;
    json_t *m;
    char *text;
    int rc;

    f->state_calls++;
    if (f->broken)
        return -1;
    m = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:s,s:s,s:i}", "seq", (json_int_t)f->seq,
                  "screen", f->screen, "hall", "示范区政务服务中心", "kiosk", "kiosk-1", "link",
                  f->link, "printer", f->printer, "lease_left",
                  strcmp(f->link, "offline") == 0 ? json_integer(48) : json_null(), "areas",
                  fake_areas(f), "ticket", fake_ticket(f), "message", f->message, "message_en",
                  f->message_en, "idle_after_s", 30);
    ck_assert_ptr_nonnull(m);
    json_object_set_new(m, "error_kind", json_string(f->error_kind));
    json_object_set_new(m, "closed_kind", json_string(f->closed_kind));
    json_object_set_new(m, "hours",
                        json_pack("{s:b,s:s,s:s}", "closed", strcmp(f->closed_kind, "hours") == 0,
                                  "opens_zh", "明天 8:30 开始取号", "opens_en",
                                  "Tickets again tomorrow from 8:30"));
    json_object_set_new(m, "green", json_pack("{s:b,s:s}", "enabled", f->green, "mode", "issue"));
    json_object_set_new(m, "matter_step", json_true());
    json_object_set_new(m, "keypad",
                        json_pack("{s:s,s:i,s:i}", "alphabet",
                                  f->letters ? "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ" : "0123456789",
                                  "min", f->letters ? 4 : 6, "max", f->letters ? 12 : 6));
    json_object_set_new(m, "hold_s", json_integer(f->hold_s));
    json_object_set_new(m, "chosen",
                        matter ? json_pack("{s:s,s:s,s:s,s:s}", "code", "B", "name", "不动产登记",
                                           "name_en", "Real estate registration", "letter", "B")
                               : json_null());
    json_object_set_new(m, "matters", matter ? fake_matters(f) : json_array());
    json_object_set_new(m, "mine", f->mine_state != NULL ? fake_mine(f) : json_null());
    json_object_set_new(
        m, "confirm",
        f->confirm ? json_pack("{s:s,s:s,s:s,s:s}", "zh",
                               "出入境现在没有窗口办理，等候时间无法估计。仍要取号吗？", "en",
                               "No window serves Exit and entry now; the wait is unknown. Take a "
                               "number anyway?",
                               "action", "take", "param", "D")
                   : json_null());
    text = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    ck_assert_ptr_nonnull(text);
    rc = buf_append(out, text, strlen(text));
    free(text);
    return rc;
}

static void fake_set(fake *f, const char *screen, const char *message, const char *message_en)
{
    f->screen = screen;
    f->message = message;
    f->message_en = message_en;
    f->error_kind = f->closed_kind = "";
    f->ticket = f->confirm = false;
    if (strcmp(screen, "mine") != 0)
        f->mine_state = NULL;
}

/* The error screen of one kind, with its sentence. */
static void fake_error(fake *f, const char *kind)
{
    static const struct {
        const char *kind, *zh, *en;
    } errors[] = {
        {"printer", "打印机卡纸，请联系工作人员。", "The printer is jammed; please ask the staff."},
        {"card", "身份证读取失败，请重新放置。", "The card could not be read; place it again."},
        {"refused", "该区域今日号已取完。", "This area has no more numbers today."},
        {"network", "连接服务中心失败，请稍后再试。", "The service centre cannot be reached."},
        {"hours", "出入境 14:00 开始取号。", "Exit and entry opens at 14:00."},
        {"limit", "您今天已取过 3 个号。", "You have taken 3 numbers today."},
    };

    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (strcmp(errors[i].kind, kind) == 0) {
            fake_set(f, "error", errors[i].zh, errors[i].en);
            f->error_kind = errors[i].kind;
            return;
        }
    ck_abort_msg("no fake error %s", kind);
}

/* The screen called name, as a string that outlives the request; NULL
 * when there is none. */
static const char *fake_screen(const char *name)
{
    static const char *const screens[] = {"idle", "choose", "green", "card", "appointment", "mine"};

    for (size_t i = 0; i < sizeof screens / sizeof screens[0]; i++)
        if (strcmp(screens[i], name) == 0)
            return screens[i];
    return NULL;
}

/* The browser script's shortcut to every screen and status. */
static int fake_script(fake *f, const char *what)
{
    if (fake_screen(what) != NULL)
        fake_set(f, fake_screen(what), "", "");
    else if (strcmp(what, "matter") == 0 || strcmp(what, "matter-long") == 0) {
        fake_set(f, "matter", "", "");
        f->many_matters = strcmp(what, "matter-long") == 0;
    } else if (strcmp(what, "working") == 0)
        fake_set(f, "working", "正在为您出票，请稍候。", "Printing your ticket, please wait.");
    else if (strcmp(what, "ticket") == 0 || strcmp(what, "ticket-offline") == 0 ||
             strcmp(what, "ticket-consult") == 0) {
        fake_set(f, "ticket", "", "");
        f->ticket = true;
        f->ticket_offline = strcmp(what, "ticket-offline") == 0;
        f->ticket_consult = strcmp(what, "ticket-consult") == 0;
    } else if (strncmp(what, "error-", 6) == 0)
        fake_error(f, what + 6);
    else if (strcmp(what, "error") == 0)
        fake_error(f, "printer");
    else if (strncmp(what, "mine-", 5) == 0) {
        fake_set(f, "mine", "", "");
        f->mine_state = strcmp(what + 5, "missed") == 0 ? "no_show" : "waiting";
        f->mine_checked = true; /* as scanned: its QR code carries the check */
    } else if (strcmp(what, "confirm") == 0) {
        fake_set(f, "choose", "", "");
        f->confirm = true;
    } else if (strcmp(what, "closed") == 0 || strcmp(what, "hours") == 0) {
        fake_set(f, "closed", "本厅今日已停止取号，请明天再来。",
                 "The hall has stopped issuing tickets today.");
        f->closed_kind = "hours";
    } else if (strcmp(what, "closed-paper") == 0) {
        fake_set(f, "closed", "打印纸用完，请联系工作人员。",
                 "Out of paper; please ask the staff.");
        f->closed_kind = "printer";
        f->printer = "paper_out";
    } else if (strcmp(what, "maintenance") == 0) {
        fake_set(f, "closed", "设备维护中，请到其他取号机取号。",
                 "Under maintenance; please use another kiosk.");
        f->closed_kind = "maintenance";
    } else if (strcmp(what, "offline") == 0)
        f->link = "offline";
    else if (strcmp(what, "online") == 0)
        f->link = "online";
    else if (strcmp(what, "paper_out") == 0)
        f->printer = "paper_out";
    else if (strcmp(what, "printer_ok") == 0)
        f->printer = "ok";
    else if (strcmp(what, "area_closed") == 0 || strcmp(what, "area_open") == 0)
        f->area_closed = strcmp(what, "area_closed") == 0;
    else if (strcmp(what, "green_on") == 0 || strcmp(what, "green_off") == 0)
        f->green = strcmp(what, "green_on") == 0;
    else if (strcmp(what, "many_areas") == 0 || strcmp(what, "few_areas") == 0)
        f->many_areas = strcmp(what, "many_areas") == 0;
    else if (strcmp(what, "letters") == 0 || strcmp(what, "digits") == 0)
        f->letters = strcmp(what, "letters") == 0;
    else if (strcmp(what, "broken") == 0 || strcmp(what, "fixed") == 0)
        f->broken = strcmp(what, "broken") == 0;
    else
        return -1;
    return 0;
}

/* The page's actions, answered the way the contract says kioskd does. */
static int fake_citizen(fake *f, const char *name, const char *param, char *err, size_t errlen)
{
    bool can_print = strcmp(f->printer, "ok") == 0;

    if (strcmp(name, "take") == 0 || (strcmp(name, "green") == 0 && param[0] != '\0') ||
        (strcmp(name, "area") == 0 && strcmp(param, "B") != 0)) {
        if (!can_print) {
            snprintf(err, errlen, "打印纸用完，暂停取号 / Out of paper: no tickets now");
            return -1;
        }
        fake_set(f, "working", "正在为您出票，请稍候。", "Printing your ticket, please wait.");
    } else if (strcmp(name, "area") == 0) {
        fake_set(f, "matter", "", ""); /* B has matters and matter_step is on */
    } else if (strcmp(name, "start") == 0 || strcmp(name, "card") == 0 ||
               strcmp(name, "green") == 0 || (strcmp(name, "mine") == 0 && param[0] == '\0')) {
        fake_set(f, strcmp(name, "start") == 0 ? "choose" : fake_screen(name), "", "");
    } else if (strcmp(name, "appointment") == 0 && param[0] == '\0') {
        fake_set(f, "appointment", "", "");
    } else if (strcmp(name, "appointment_card") == 0) {
        fake_set(f, "card", "请刷身份证签到预约。", "Swipe your ID card to check in.");
    } else if (strcmp(name, "appointment") == 0) {
        if (strcmp(param, "000000") == 0) {
            snprintf(err, errlen, "预约码不存在，请核对 / No appointment has this code");
            return -1;
        }
        fake_set(f, "working", "正在签到…", "Checking you in…");
    } else if (strcmp(name, "mine") == 0) {
        /* The number alone, or with the ticket's check code (1234). */
        if (strcmp(param, "B012") != 0 && strcmp(param, "B012 1234") != 0) {
            snprintf(err, errlen, "没有找到这个号 / No such ticket today");
            return -1;
        }
        fake_set(f, "mine", "", "");
        f->mine_state = "waiting";
        f->mine_checked = strcmp(param, "B012 1234") == 0;
    } else if (strcmp(name, "cancel") == 0 && f->mine_state != NULL) {
        f->mine_state = "cancelled";
    } else if (strcmp(name, "rejoin") == 0 && f->mine_state != NULL) {
        f->mine_state = "waiting";
    } else if (strcmp(name, "confirm") == 0 && f->confirm) {
        if (strcmp(param, "yes") == 0)
            fake_set(f, "working", "正在为您出票，请稍候。", "Printing your ticket, please wait.");
        else
            fake_set(f, "idle", "", "");
    } else if (strcmp(name, "back") == 0 || strcmp(name, "done") == 0) {
        fake_set(f, "idle", "", "");
    } else {
        snprintf(err, errlen, "unknown action %s %s", name, param);
        return -1;
    }
    return 0;
}

static int fake_action(void *arg, const char *name, const char *param, char *err, size_t errlen)
{
    fake *f = arg;

    ck_assert_int_lt(f->nactions, MAX_ACTIONS);
    snprintf(f->actions[f->nactions++], sizeof f->actions[0], "%s|%s", name, param);
    if (strcmp(name, "touch") == 0)
        return 0; /* only kioskd's timer: the model stays as it is */
    if (strcmp(name, "script") == 0) {
        if (fake_script(f, param) != 0) {
            snprintf(err, errlen, "unknown script %s", param);
            return -1;
        }
    } else if (fake_citizen(f, name, param, err, errlen) != 0) {
        return -1;
    }
    f->seq++;
    kpage_changed(f->page);
    return 0;
}

static bool fake_saw(const fake *f, const char *entry)
{
    for (int i = 0; i < f->nactions; i++)
        if (strcmp(f->actions[i], entry) == 0)
            return true;
    return false;
}

static int fake_index(const fake *f, const char *entry)
{
    for (int i = 0; i < f->nactions; i++)
        if (strcmp(f->actions[i], entry) == 0)
            return i;
    return -1;
}

static int fake_count(const fake *f, const char *entry)
{
    int n = 0;

    for (int i = 0; i < f->nactions; i++)
        n += strcmp(f->actions[i], entry) == 0;
    return n;
}

static const kpage_callbacks fake_cb = {fake_state, fake_action};

/* ---- a fixture: loop + kpage + fake ----------------------------------- */

typedef struct fixture {
    ev_loop *loop;
    fake model;
} fixture;

static void fx_start(fixture *fx)
{
    char err[256] = "";

    fx->loop = ev_new();
    ck_assert_ptr_nonnull(fx->loop);
    fake_init(&fx->model);
    fx->model.page = kpage_new(fx->loop, "127.0.0.1", 0, &fake_cb, &fx->model, err, sizeof err);
    ck_assert_msg(fx->model.page != NULL, "kpage_new: %s", err);
    ck_assert_int_gt(kpage_port(fx->model.page), 0);
}

static void fx_stop(fixture *fx)
{
    kpage_free(fx->model.page);
    ev_free(fx->loop);
}

/* ---- a plain HTTP client on its own thread ---------------------------- */

/* One request, written raw, read until the server closes (the requests say
 * "Connection: close"); done is set on the loop's thread via ev_post. */
typedef struct call {
    ev_loop *loop;
    int port;
    char *request;
    size_t reqlen;
    char *response; /* NUL-terminated */
    size_t resplen;
    int status;
    const char *body;
    bool done;
    pthread_t thread;
} call;

static void call_mark_done(ev_loop *loop, void *arg)
{
    call *c = arg;

    (void)loop;
    c->done = true;
}

static void *call_run(void *arg)
{
    call *c = arg;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    struct timeval tv = {.tv_sec = 60};
    size_t cap = 1 << 16, off = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    c->response = calloc(1, cap);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && c->response != NULL && connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        while (off < c->reqlen) {
            ssize_t n = send(fd, c->request + off, c->reqlen - off, MSG_NOSIGNAL);
            if (n <= 0)
                break; /* a server that answers early may close first */
            off += (size_t)n;
        }
        off = 0;
        for (;;) {
            ssize_t n = recv(fd, c->response + off, cap - off - 1, 0);
            if (n <= 0)
                break;
            off += (size_t)n;
            if (off == cap - 1)
                break;
        }
        c->resplen = off;
    }
    if (fd >= 0)
        close(fd);
    ev_post(c->loop, call_mark_done, c);
    return NULL;
}

static call *call_start(fixture *fx, const char *method, const char *path, const char *headers,
                        const char *body)
{
    call *c = calloc(1, sizeof *c);
    bool framed = headers != NULL && (strstr(headers, "Content-Length") != NULL ||
                                      strstr(headers, "Transfer-Encoding") != NULL);
    bool own_host = headers == NULL || strstr(headers, "Host:") == NULL;
    bool typed = headers != NULL && strstr(headers, "Content-Type:") != NULL;
    char host[64] = "", type[64] = "";
    int n;

    ck_assert_ptr_nonnull(c);
    c->loop = fx->loop;
    c->port = kpage_port(fx->model.page);
    /* The page's own name, and a body is JSON, unless the test says
     * otherwise. */
    if (own_host)
        snprintf(host, sizeof host, "Host: 127.0.0.1:%d\r\n", c->port);
    if (body != NULL && !typed)
        snprintf(type, sizeof type, "Content-Type: application/json\r\n");
    if (body != NULL && !framed)
        n = asprintf(&c->request,
                     "%s %s HTTP/1.1\r\n%sConnection: close\r\n%s%s"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, host, type, headers != NULL ? headers : "", strlen(body), body);
    else
        n = asprintf(&c->request, "%s %s HTTP/1.1\r\n%sConnection: close\r\n%s%s\r\n%s", method,
                     path, host, type, headers != NULL ? headers : "", body != NULL ? body : "");
    ck_assert_int_ge(n, 0);
    c->reqlen = strlen(c->request);
    ck_assert_int_eq(pthread_create(&c->thread, NULL, call_run, c), 0);
    return c;
}

/* Wait for the answer (the loop runs meanwhile) and parse the status. */
static void call_finish(fixture *fx, call *c)
{
    const char *sep;

    ck_assert_msg(ts_run_until(fx->loop, &c->done, 60000), "no answer from the page server");
    pthread_join(c->thread, NULL);
    c->status = 0;
    if (c->resplen > 12 && strncmp(c->response, "HTTP/1.", 7) == 0)
        c->status = atoi(c->response + 9);
    sep = strstr(c->response, "\r\n\r\n");
    c->body = sep != NULL ? sep + 4 : "";
}

static void call_free(call *c)
{
    if (c != NULL) {
        free(c->request);
        free(c->response);
        free(c);
    }
}

static call *http(fixture *fx, const char *method, const char *path, const char *headers,
                  const char *body)
{
    call *c = call_start(fx, method, path, headers, body);

    call_finish(fx, c);
    return c;
}

/* The body as JSON; the test fails if it is not. */
static json_t *body_json(const call *c)
{
    json_error_t e;
    json_t *j = json_loads(c->body, 0, &e);

    ck_assert_msg(j != NULL, "not JSON (%s): %s", e.text, c->body);
    return j;
}

static void assert_error_reply(const call *c, int status)
{
    json_t *j;

    ck_assert_msg(c->status == status, "status %d, wanted %d: %s", c->status, status, c->response);
    j = body_json(c);
    ck_assert(json_is_false(json_object_get(j, "ok")));
    ck_assert_msg(json_string_length(json_object_get(j, "error")) > 8, "no sentence: %s", c->body);
    json_decref(j);
}

static void run_for(fixture *fx, int ms)
{
    int64_t until = clk_mono_ms() + ms;

    while (clk_mono_ms() < until)
        ev_run_once(fx->loop, 20);
}

static bool run_until_calls(fixture *fx, int calls, int timeout_ms)
{
    int64_t until = clk_mono_ms() + timeout_ms;

    while (fx->model.state_calls < calls && clk_mono_ms() < until)
        ev_run_once(fx->loop, 20);
    return fx->model.state_calls >= calls;
}

/* ---- http tests ------------------------------------------------------- */

START_TEST(test_assets)
{
    fixture fx;
    call *c;

    fx_start(&fx);
    c = http(&fx, "GET", "/", NULL, NULL);
    ck_assert_int_eq(c->status, 200);
    ck_assert_ptr_nonnull(strstr(c->response, "Content-Type: text/html; charset=utf-8"));
    ck_assert_ptr_nonnull(strstr(c->response, "Content-Security-Policy: default-src 'none'"));
    ck_assert_ptr_nonnull(strstr(c->body, "<script src=\"/page.js\""));
    call_free(c);
    c = http(&fx, "GET", "/page.js", NULL, NULL);
    ck_assert_int_eq(c->status, 200);
    ck_assert_ptr_nonnull(strstr(c->response, "text/javascript"));
    ck_assert_ptr_nonnull(strstr(c->body, "一键取号"));
    call_free(c);
    c = http(&fx, "GET", "/page.css", NULL, NULL);
    ck_assert_int_eq(c->status, 200);
    ck_assert_ptr_nonnull(strstr(c->body, "min-height: 80px"));
    call_free(c);
    c = http(&fx, "HEAD", "/", NULL, NULL);
    ck_assert_int_eq(c->status, 200);
    ck_assert_str_eq(c->body, "");
    call_free(c);
    fx_stop(&fx);
}
END_TEST

START_TEST(test_not_found_and_methods)
{
    fixture fx;
    call *c;

    fx_start(&fx);
    c = http(&fx, "GET", "/etc/passwd", NULL, NULL);
    assert_error_reply(c, 404);
    call_free(c);
    c = http(&fx, "GET", "/page.js/", NULL, NULL);
    assert_error_reply(c, 404);
    call_free(c);
    c = http(&fx, "GET", "/api/action", NULL, NULL);
    assert_error_reply(c, 405);
    ck_assert_ptr_nonnull(strstr(c->response, "Allow: POST"));
    call_free(c);
    c = http(&fx, "DELETE", "/api/state", NULL, NULL);
    assert_error_reply(c, 405);
    call_free(c);
    c = http(&fx, "POST", "/", NULL, "x");
    assert_error_reply(c, 405);
    call_free(c);
    ck_assert_int_eq(fx.model.nactions, 0);
    fx_stop(&fx);
}
END_TEST

START_TEST(test_state_at_once)
{
    fixture fx;
    json_t *j;
    call *c;

    fx_start(&fx);
    fx.model.seq = 7;
    c = http(&fx, "GET", "/api/state", NULL, NULL);
    ck_assert_int_eq(c->status, 200);
    ck_assert_ptr_nonnull(strstr(c->response, "application/json"));
    j = body_json(c);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "seq")), 7);
    ck_assert_str_eq(json_string_value(json_object_get(j, "screen")), "idle");
    json_decref(j);
    call_free(c);
    /* A page that is behind gets the model without waiting. */
    c = http(&fx, "GET", "/api/state?after=6", NULL, NULL);
    ck_assert_int_eq(c->status, 200);
    ck_assert_ptr_nonnull(strstr(c->body, "\"seq\":7"));
    call_free(c);
    c = http(&fx, "GET", "/api/state?after=-1", NULL, NULL);
    ck_assert_int_eq(c->status, 200);
    call_free(c);
    c = http(&fx, "GET", "/api/state?after=7x", NULL, NULL);
    assert_error_reply(c, 400);
    call_free(c);
    c = http(&fx, "GET", "/api/state?after=99999999999999999999999", NULL, NULL);
    assert_error_reply(c, 400);
    call_free(c);
    /* A model the kiosk cannot give, or one without a seq: 500, said so. */
    fx.model.broken = true;
    c = http(&fx, "GET", "/api/state", NULL, NULL);
    assert_error_reply(c, 500);
    call_free(c);
    fx_stop(&fx);
}
END_TEST

START_TEST(test_long_poll_changed)
{
    fixture fx;
    call *c;

    fx_start(&fx);
    fx.model.seq = 5;
    c = call_start(&fx, "GET", "/api/state?after=5", NULL, NULL);
    ck_assert_msg(run_until_calls(&fx, 1, 30000), "the long poll never reached the model");
    /* Nothing changed: the request is held. */
    run_for(&fx, 300);
    ck_assert_msg(!c->done, "answered before anything changed: %s", c->response);
    fx.model.seq = 6;
    fx.model.screen = "choose";
    kpage_changed(fx.model.page);
    call_finish(&fx, c);
    ck_assert_int_eq(c->status, 200);
    ck_assert_ptr_nonnull(strstr(c->body, "\"seq\":6"));
    ck_assert_ptr_nonnull(strstr(c->body, "\"screen\":\"choose\""));
    call_free(c);

    /* Two pages waiting are both answered by one change; one changed()
     * with nobody waiting is harmless. */
    kpage_changed(fx.model.page);
    call *a = call_start(&fx, "GET", "/api/state?after=6", NULL, NULL);
    call *b = call_start(&fx, "GET", "/api/state?after=6", NULL, NULL);
    int calls = fx.model.state_calls;
    ck_assert(run_until_calls(&fx, calls + 2, 30000));
    run_for(&fx, 200);
    ck_assert(!a->done && !b->done);
    fx.model.seq = 7;
    kpage_changed(fx.model.page);
    call_finish(&fx, a);
    call_finish(&fx, b);
    ck_assert_ptr_nonnull(strstr(a->body, "\"seq\":7"));
    ck_assert_ptr_nonnull(strstr(b->body, "\"seq\":7"));
    call_free(a);
    call_free(b);
    fx_stop(&fx);
}
END_TEST

START_TEST(test_action_wakes_poll)
{
    fixture fx;
    call *poll, *act;

    fx_start(&fx);
    poll = call_start(&fx, "GET", "/api/state?after=1", NULL, NULL);
    ck_assert(run_until_calls(&fx, 1, 30000));
    /* The action's kpage_changed() runs inside the server's own turn; the
     * held poll must still be answered right after. */
    act = http(&fx, "POST", "/api/action", NULL, "{\"name\":\"start\"}");
    ck_assert_int_eq(act->status, 200);
    /* Well before MHD's own 60 s connection timer would run it again. */
    ck_assert_msg(ts_run_until(fx.loop, &poll->done, 15000), "the held poll was not answered");
    call_finish(&fx, poll);
    ck_assert_int_eq(poll->status, 200);
    ck_assert_ptr_nonnull(strstr(poll->body, "\"screen\":\"choose\""));
    call_free(act);
    call_free(poll);
    fx_stop(&fx);
}
END_TEST

START_TEST(test_long_poll_hold_timeout)
{
    fixture fx;
    call *c;

    fx_start(&fx);
    kpage_set_hold_ms(fx.model.page, 400);
    fx.model.seq = 3;
    c = call_start(&fx, "GET", "/api/state?after=3", NULL, NULL);
    ck_assert(run_until_calls(&fx, 1, 30000));
    call_finish(&fx, c);
    /* Answered with the same model after the hold, which read it again. */
    ck_assert_int_eq(c->status, 200);
    ck_assert_ptr_nonnull(strstr(c->body, "\"seq\":3"));
    ck_assert_int_eq(fx.model.state_calls, 2);
    call_free(c);
    fx_stop(&fx);
}
END_TEST

START_TEST(test_free_with_held_poll)
{
    fixture fx;
    call *c;

    fx_start(&fx);
    c = call_start(&fx, "GET", "/api/state?after=1", NULL, NULL);
    ck_assert(run_until_calls(&fx, 1, 30000));
    /* Stopping the server drops the held request (ASan checks the rest). */
    kpage_free(fx.model.page);
    fx.model.page = NULL;
    pthread_join(c->thread, NULL);
    ck_assert_int_eq(fx.model.state_calls, 1);
    ck_assert_ptr_null(strstr(c->response, "HTTP/1.1 200"));
    call_free(c);
    ev_free(fx.loop);
}
END_TEST

START_TEST(test_action_ok)
{
    fixture fx;
    call *c;

    fx_start(&fx);
    c = http(&fx, "POST", "/api/action", "Content-Type: application/json; charset=utf-8\r\n",
             "{\"name\":\"take\",\"param\":\"\"}");
    ck_assert_int_eq(c->status, 200);
    ck_assert_str_eq(c->body, "{\"ok\":true}");
    call_free(c);
    /* param may be left out. */
    c = http(&fx, "POST", "/api/action", NULL, "{\"name\":\"back\"}");
    ck_assert_int_eq(c->status, 200);
    call_free(c);
    c = http(&fx, "POST", "/api/action", NULL, "{\"name\":\"appointment\",\"param\":\"8812\"}");
    ck_assert_int_eq(c->status, 200);
    call_free(c);
    ck_assert_int_eq(fx.model.nactions, 3);
    ck_assert_str_eq(fx.model.actions[0], "take|");
    ck_assert_str_eq(fx.model.actions[1], "back|");
    ck_assert_str_eq(fx.model.actions[2], "appointment|8812");
    ck_assert_int_eq(fx.model.seq, 4);
    fx_stop(&fx);
}
END_TEST

START_TEST(test_action_refused)
{
    fixture fx;
    json_t *j;
    call *c;

    fx_start(&fx);
    fx.model.printer = "paper_out";
    c = http(&fx, "POST", "/api/action", NULL, "{\"name\":\"take\",\"param\":\"A\"}");
    ck_assert_int_eq(c->status, 200);
    j = body_json(c);
    ck_assert(json_is_false(json_object_get(j, "ok")));
    ck_assert_str_eq(json_string_value(json_object_get(j, "error")),
                     "打印纸用完，暂停取号 / Out of paper: no tickets now");
    json_decref(j);
    call_free(c);
    ck_assert_str_eq(fx.model.actions[0], "take|A");
    ck_assert_int_eq(fx.model.seq, 1);
    fx_stop(&fx);
}
END_TEST

START_TEST(test_action_bad_json)
{
    static const char *const bad[] = {
        "{nope",
        "",
        "[]",
        "\"take\"",
        "{\"param\":\"A\"}",
        "{\"name\":5}",
        "{\"name\":\"\"}",
        "{\"name\":\"take\",\"param\":7}",
        "{\"name\":\"take\",\"name\":\"back\"}",
        "{\"name\":\"take\\u0000x\"}",
        "{\"name\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
    };
    fixture fx;

    fx_start(&fx);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        call *c = http(&fx, "POST", "/api/action", NULL, bad[i]);
        assert_error_reply(c, 400);
        call_free(c);
    }
    ck_assert_int_eq(fx.model.nactions, 0);
    fx_stop(&fx);
}
END_TEST

START_TEST(test_action_too_big)
{
    char *big = malloc(KPAGE_BODY_MAX + 2000), *chunked;
    fixture fx;
    call *c;
    int n;

    ck_assert_ptr_nonnull(big);
    memset(big, 'x', KPAGE_BODY_MAX + 1999);
    big[KPAGE_BODY_MAX + 1999] = '\0';
    fx_start(&fx);
    /* Refused from its Content-Length, before the body is read. */
    c = http(&fx, "POST", "/api/action", NULL, big);
    assert_error_reply(c, 413);
    call_free(c);
    /* A chunked body has no length: it is cut off at 4 KiB. */
    n = asprintf(&chunked, "%x\r\n%s\r\n0\r\n\r\n", (unsigned)strlen(big), big);
    ck_assert_int_ge(n, 0);
    c = http(&fx, "POST", "/api/action", "Transfer-Encoding: chunked\r\n", chunked);
    free(chunked);
    assert_error_reply(c, 413);
    call_free(c);
    ck_assert_int_eq(fx.model.nactions, 0);
    /* Exactly KPAGE_BODY_MAX is still read (and is not valid JSON here). */
    big[KPAGE_BODY_MAX] = '\0';
    c = http(&fx, "POST", "/api/action", NULL, big);
    assert_error_reply(c, 400);
    call_free(c);
    free(big);
    fx_stop(&fx);
}
END_TEST

/* ---- who may use the page ------------------------------------------------ */

START_TEST(test_site_names)
{
    static const kpage_site kiosk = {"127.0.0.1", 8080}, named = {"Kiosk-01.hall.example", 8080},
                            v6 = {"::1", 80}, plain = {"127.0.0.1", 80};
    static const struct {
        const kpage_site *site;
        const char *host;
        bool ok;
    } hosts[] = {
        {&kiosk, "127.0.0.1:8080", true},
        {&kiosk, "localhost:8080", true},
        {&kiosk, "LOCALHOST:8080", true},
        {&kiosk, "[::1]:8080", true},
        {&kiosk, "127.0.0.1", false}, /* port 80 */
        {&kiosk, "127.0.0.1:80", false},
        {&kiosk, "127.0.0.1:08080", false},
        {&kiosk, "127.0.0.1:8080:8080", false},
        {&kiosk, "127.0.0.1:", false},
        {&kiosk, "127.0.0.2:8080", false},
        {&kiosk, "evil.example:8080", false},
        {&kiosk, "localhost.:8080", false},
        {&kiosk, "localhost.evil.example:8080", false},
        {&kiosk, "127.0.0.1.evil.example:8080", false},
        {&kiosk, "[::1:8080", false},
        {&kiosk, "", false},
        {&kiosk, NULL, false},
        {&named, "kiosk-01.hall.example:8080", true},
        {&named, "127.0.0.1:8080", true},
        {&named, "kiosk-01.hall.example.evil.example:8080", false},
        {&named, "kiosk-02.hall.example:8080", false},
        {&v6, "[::1]", true},
        {&v6, "[::1]:80", true},
        {&v6, "::1", false},
        {&v6, "localhost", true},
        {&plain, "127.0.0.1", true},
        {&plain, "127.0.0.1:80", true},
    };
    static const struct {
        const char *origin;
        bool ok;
    } origins[] = {
        {"http://127.0.0.1:8080", true},
        {"HTTP://localhost:8080", true},
        {"http://[::1]:8080", true},
        {"https://127.0.0.1:8080", false},
        {"http://127.0.0.1:9000", false},
        {"http://127.0.0.1", false},
        {"http://evil.example", false},
        {"http://evil.example:8080", false},
        {"http://127.0.0.1:8080/", false},
        {"null", false},
        {"", false},
        {"127.0.0.1:8080", false},
    };

    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
        ck_assert_msg(kpage_host_is_site(hosts[i].site, hosts[i].host) == hosts[i].ok,
                      "Host %s for %s port %d", hosts[i].host ? hosts[i].host : "(none)",
                      hosts[i].site->address, hosts[i].site->port);
    for (size_t i = 0; i < sizeof origins / sizeof origins[0]; i++)
        ck_assert_msg(kpage_origin_is_site(&kiosk, origins[i].origin) == origins[i].ok, "Origin %s",
                      origins[i].origin);
}
END_TEST

/* A refusal: status, a JSON sentence, and nothing that grants CORS. */
static void assert_refused(const call *c, int status)
{
    assert_error_reply(c, status);
    ck_assert_msg(strstr(c->response, "Access-Control-Allow") == NULL, "%s", c->response);
}

START_TEST(test_refused_requests)
{
    static const char take[] = "{\"name\":\"take\",\"param\":\"\"}";
    char h[256];
    fixture fx;
    call *c;
    int port;

    fx_start(&fx);
    port = kpage_port(fx.model.page);
    /* Another site's page posting an action, as JSON or as the types a
     * form or a no-cors fetch may send without a preflight. */
    c = http(&fx, "POST", "/api/action", "Origin: http://evil.example\r\n", take);
    assert_refused(c, 403);
    ck_assert_ptr_nonnull(strstr(c->body, "other sites"));
    call_free(c);
    c = http(&fx, "POST", "/api/action",
             "Origin: http://evil.example\r\nContent-Type: text/plain;charset=UTF-8\r\n", take);
    assert_refused(c, 403);
    call_free(c);
    /* A page of this machine on another port is another site too. */
    snprintf(h, sizeof h, "Origin: http://127.0.0.1:%d\r\n", port == 65535 ? 1 : port + 1);
    c = http(&fx, "POST", "/api/action", h, take);
    assert_refused(c, 403);
    call_free(c);
    c = http(&fx, "POST", "/api/action", "Origin: null\r\n", take);
    assert_refused(c, 403);
    call_free(c);
    /* The preflight a JSON POST from another site needs: not granted. */
    c = http(&fx, "OPTIONS", "/api/action",
             "Origin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\n"
             "Access-Control-Request-Headers: content-type\r\n",
             NULL);
    assert_refused(c, 403);
    call_free(c);
    c = http(&fx, "OPTIONS", "/api/action", NULL, NULL);
    assert_refused(c, 403);
    call_free(c);
    /* Without an Origin (an old browser, a form), the type still decides. */
    c = http(&fx, "POST", "/api/action", "Content-Type: text/plain\r\n", take);
    assert_refused(c, 415);
    ck_assert_ptr_nonnull(strstr(c->body, "application/json"));
    call_free(c);
    c = http(&fx, "POST", "/api/action", "Content-Type: application/x-www-form-urlencoded\r\n",
             "name=take&param=");
    assert_refused(c, 415);
    call_free(c);
    c = http(&fx, "POST", "/api/action", "Content-Type: multipart/form-data; boundary=x\r\n",
             "--x\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\ntake\r\n--x--\r\n");
    assert_refused(c, 415);
    call_free(c);
    c = http(&fx, "POST", "/api/action", "Content-Type: application/jsonp\r\n", take);
    assert_refused(c, 415);
    call_free(c);
    /* DNS rebinding: another name for this address, for the page, the
     * model and an action; the port must be the page's too. */
    snprintf(h, sizeof h, "Host: evil.example:%d\r\n", port);
    c = http(&fx, "GET", "/", h, NULL);
    assert_refused(c, 403);
    ck_assert_ptr_null(strstr(c->body, "<script"));
    call_free(c);
    c = http(&fx, "GET", "/api/state", h, NULL);
    assert_refused(c, 403);
    ck_assert_ptr_null(strstr(c->body, "seq"));
    call_free(c);
    c = http(&fx, "POST", "/api/action", h, take);
    assert_refused(c, 403);
    call_free(c);
    c = http(&fx, "GET", "/", "Host: 127.0.0.1\r\n", NULL);
    assert_refused(c, 403);
    call_free(c);
    ck_assert_int_eq(fx.model.nactions, 0);
    ck_assert_int_eq(fx.model.state_calls, 0);

    /* The kiosk's own page: its origin, by either loopback name. */
    snprintf(h, sizeof h, "Origin: http://127.0.0.1:%d\r\n", port);
    c = http(&fx, "POST", "/api/action", h, take);
    ck_assert_int_eq(c->status, 200);
    ck_assert_str_eq(c->body, "{\"ok\":true}");
    ck_assert_ptr_null(strstr(c->response, "Access-Control-Allow"));
    call_free(c);
    snprintf(h, sizeof h, "Host: localhost:%d\r\nOrigin: http://localhost:%d\r\n", port, port);
    c = http(&fx, "POST", "/api/action", h, "{\"name\":\"back\"}");
    ck_assert_int_eq(c->status, 200);
    call_free(c);
    ck_assert_int_eq(fx.model.nactions, 2);
    fx_stop(&fx);
}
END_TEST

/* ---- limits ------------------------------------------------------------- */

/* A connection to the page from source address src (127.0.0.0/8: every
 * one of them is loopback), non-blocking, maybe still connecting. */
static int open_from(fixture *fx, const char *src)
{
    struct sockaddr_in from = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(inet_pton(AF_INET, src, &from.sin_addr), 1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&from, sizeof from), 0);
    to.sin_port = htons((uint16_t)kpage_port(fx->model.page));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert(connect(fd, (struct sockaddr *)&to, sizeof to) == 0 || errno == EINPROGRESS);
    return fd;
}

/* What the server did with fd so far: 1 it closed it, 2 it answered
 * something, 0 nothing yet. Reads what is there. */
static int peer_state(int fd)
{
    char b[4096];
    ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);

    if (n > 0)
        return 2;
    return n == 0 || errno != EAGAIN ? 1 : 0;
}

/* GET path from src with the loop running meanwhile: its status, 0 when
 * the server closed the connection without an answer. */
static int get_from(fixture *fx, const char *src, const char *path)
{
    char req[256], resp[256];
    int fd = open_from(fx, src), n;
    int64_t until = clk_mono_ms() + 30000;
    size_t used = 0;
    bool sent = false;

    n = snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", path,
                 kpage_port(fx->model.page));
    while (clk_mono_ms() < until && used < sizeof resp - 1) {
        ev_run_once(fx->loop, 20);
        if (!sent) {
            ssize_t w = send(fd, req, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w == n)
                sent = true;
            else if (w >= 0 || (errno != EAGAIN && errno != ENOTCONN))
                break;
            continue;
        }
        ssize_t got = recv(fd, resp + used, sizeof resp - 1 - used, MSG_DONTWAIT);
        if (got > 0)
            used += (size_t)got;
        else if (got == 0 || errno != EAGAIN)
            break;
    }
    close(fd);
    resp[used] = '\0';
    return used > 12 && strncmp(resp, "HTTP/1.", 7) == 0 ? atoi(resp + 9) : 0;
}

START_TEST(test_held_polls_capped)
{
    call *c[KPAGE_HELD_MAX + 1];
    fixture fx;

    fx_start(&fx);
    fx.model.seq = 5;
    /* One at a time, so their order is known. */
    for (int i = 0; i <= KPAGE_HELD_MAX; i++) {
        c[i] = call_start(&fx, "GET", "/api/state?after=5", NULL, NULL);
        ck_assert_msg(run_until_calls(&fx, i + 1, 30000), "poll %d never reached the model", i);
    }
    /* One over the cap: the oldest is answered with the model as it is. */
    call_finish(&fx, c[0]);
    ck_assert_int_eq(c[0]->status, 200);
    ck_assert_ptr_nonnull(strstr(c[0]->body, "\"seq\":5"));
    run_for(&fx, 300);
    for (int i = 1; i <= KPAGE_HELD_MAX; i++)
        ck_assert_msg(!c[i]->done, "poll %d answered before anything changed", i);
    fx.model.seq = 6;
    kpage_changed(fx.model.page);
    for (int i = 0; i <= KPAGE_HELD_MAX; i++) {
        if (i > 0) {
            call_finish(&fx, c[i]);
            ck_assert_ptr_nonnull(strstr(c[i]->body, "\"seq\":6"));
        }
        call_free(c[i]);
    }
    fx_stop(&fx);
}
END_TEST

START_TEST(test_peer_limit)
{
    enum { OVER = 8, N = KPAGE_PEER_CONNECTIONS_MAX + OVER };
    int fd[N], closed = 0;
    int64_t until;
    fixture fx;

    fx_start(&fx);
    for (int i = 0; i < N; i++)
        fd[i] = open_from(&fx, "127.0.0.1");
    /* The connections over the address's limit are closed at once; the
     * others are kept (they are new, far from the idle timeout). */
    until = clk_mono_ms() + 30000;
    while (closed < OVER && clk_mono_ms() < until) {
        run_for(&fx, 50);
        closed = 0;
        for (int i = 0; i < N; i++)
            closed += peer_state(fd[i]) == 1;
    }
    ck_assert_int_eq(closed, OVER);
    run_for(&fx, 300);
    closed = 0;
    for (int i = 0; i < N; i++)
        closed += peer_state(fd[i]) == 1;
    ck_assert_int_eq(closed, OVER);
    /* That address gets nothing more; another one is served. */
    ck_assert_int_eq(get_from(&fx, "127.0.0.1", "/"), 0);
    ck_assert_int_eq(get_from(&fx, "127.0.0.2", "/"), 200);
    /* Once they are gone, the address is served again. */
    for (int i = 0; i < N; i++)
        close(fd[i]);
    until = clk_mono_ms() + 30000;
    int status = 0;
    while (status != 200 && clk_mono_ms() < until)
        status = get_from(&fx, "127.0.0.1", "/");
    ck_assert_int_eq(status, 200);
    fx_stop(&fx);
}
END_TEST

/* The page at its connection limit: the listening socket leaves MHD's
 * epoll set; once connections go it must come back, even when none is
 * left to wake the loop. */
START_TEST(test_connection_limit_recovers)
{
    enum { PER = 20, ADDRS = 4, N = PER * ADDRS };
    int fd[N], answered = 0;
    bool sent[N], got[N];
    char req[256], src[32];
    int64_t until;
    fixture fx;
    int n;

    static_assert(N > KPAGE_CONNECTIONS_MAX && PER < KPAGE_PEER_CONNECTIONS_MAX, "limits");
    fx_start(&fx);
    n = snprintf(req, sizeof req,
                 "POST /api/action HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                 "Content-Type: application/json\r\nContent-Length: 20\r\n"
                 "Expect: 100-continue\r\n\r\n",
                 kpage_port(fx.model.page));
    for (int i = 0; i < N; i++) {
        snprintf(src, sizeof src, "127.0.0.%d", 10 + i % ADDRS);
        fd[i] = open_from(&fx, src);
        sent[i] = got[i] = false;
    }
    /* Actions whose bodies never come: the page says "100 Continue" on as
     * many as it serves at once and waits for their bodies; the rest wait
     * in the kernel's queue. */
    until = clk_mono_ms() + 30000;
    while (answered < KPAGE_CONNECTIONS_MAX && clk_mono_ms() < until) {
        run_for(&fx, 50);
        for (int i = 0; i < N; i++) {
            if (!sent[i])
                sent[i] = send(fd[i], req, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == n;
            else if (!got[i] && peer_state(fd[i]) == 2)
                got[i] = true, answered++;
        }
    }
    ck_assert_int_eq(answered, KPAGE_CONNECTIONS_MAX);
    run_for(&fx, 300);
    for (int i = 0; i < N; i++)
        ck_assert_msg(peer_state(fd[i]) == 0, "more than %d connections served at once",
                      KPAGE_CONNECTIONS_MAX);
    for (int i = 0; i < N; i++)
        close(fd[i]);
    until = clk_mono_ms() + 30000;
    int status = 0;
    while (status != 200 && clk_mono_ms() < until)
        status = get_from(&fx, "127.0.0.1", "/");
    ck_assert_msg(status == 200, "the page no longer answers after its connection limit");
    fx_stop(&fx);
}
END_TEST

static struct sockaddr_storage v4(const char *ip)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

    memset(&ss, 0, sizeof ss);
    sin->sin_family = AF_INET;
    ck_assert_int_eq(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

    memset(&ss, 0, sizeof ss);
    sin6->sin6_family = AF_INET6;
    ck_assert_int_eq(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
    return ss;
}

START_TEST(test_loopback_rule)
{
    static const char *const yes4[] = {"127.0.0.1", "127.255.3.9"};
    static const char *const no4[] = {"192.0.2.7", "10.0.0.1", "0.0.0.0", "128.0.0.1"};
    static const char *const yes6[] = {"::1", "::ffff:127.0.0.1"};
    static const char *const no6[] = {"2001:db8::1", "::", "fe80::1", "::ffff:192.0.2.7"};
    struct sockaddr_storage ss;

    for (size_t i = 0; i < 2; i++) {
        ss = v4(yes4[i]);
        ck_assert_msg(kpage_peer_is_loopback((struct sockaddr *)&ss), "%s", yes4[i]);
        ss = v6(yes6[i]);
        ck_assert_msg(kpage_peer_is_loopback((struct sockaddr *)&ss), "%s", yes6[i]);
    }
    for (size_t i = 0; i < 4; i++) {
        ss = v4(no4[i]);
        ck_assert_msg(!kpage_peer_is_loopback((struct sockaddr *)&ss), "%s", no4[i]);
        ss = v6(no6[i]);
        ck_assert_msg(!kpage_peer_is_loopback((struct sockaddr *)&ss), "%s", no6[i]);
    }
    memset(&ss, 0, sizeof ss);
    ss.ss_family = AF_UNIX;
    ck_assert(!kpage_peer_is_loopback((struct sockaddr *)&ss));
    ck_assert(!kpage_peer_is_loopback(NULL));
}
END_TEST

START_TEST(test_new_errors)
{
    fixture fx;
    fake other;
    char err[256];
    kpage *p;

    fx_start(&fx);
    fake_init(&other);
    err[0] = '\0';
    p = kpage_new(fx.loop, "127.0.0.1", 70000, &fake_cb, &other, err, sizeof err);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_msg(strlen(err) > 10, "no reason: %s", err);
    err[0] = '\0';
    p = kpage_new(fx.loop, "not an address..invalid", 0, &fake_cb, &other, err, sizeof err);
    ck_assert_ptr_null(p);
    ck_assert_ptr_nonnull(strstr(err, "not an address..invalid"));
    err[0] = '\0';
    /* The port is taken by the fixture's server. */
    p = kpage_new(fx.loop, "127.0.0.1", kpage_port(fx.model.page), &fake_cb, &other, err,
                  sizeof err);
    ck_assert_ptr_null(p);
    ck_assert_msg(strstr(err, "cannot serve the page") != NULL, "%s", err);
    p = kpage_new(fx.loop, "127.0.0.1", 0, &(kpage_callbacks){fake_state, NULL}, &other, err,
                  sizeof err);
    ck_assert_ptr_null(p);
    kpage_free(NULL);
    /* IPv6 loopback works too, when the machine has it. */
    p = kpage_new(fx.loop, "::1", 0, &fake_cb, &other, err, sizeof err);
    if (p != NULL) {
        ck_assert_int_gt(kpage_port(p), 0);
        kpage_free(p);
    }
    fx_stop(&fx);
}
END_TEST

/* ---- the page in Chromium --------------------------------------------- */

typedef struct child {
    pid_t pid;
    int status;
    bool exited;
    ev_timer t;
} child;

static void child_check(ev_loop *loop, ev_timer *t, void *arg)
{
    child *ch = arg;

    if (waitpid(ch->pid, &ch->status, WNOHANG) == ch->pid)
        ch->exited = true;
    else
        ev_timer_start(loop, t, 100);
}

/* Run kiosk_page.mjs in the given mode against the fixture's page, with
 * screenshots into out; the test fails when the script does. The model's
 * long polls are held FAKE_HOLD_S, so out of service comes within seconds. */
static void run_script(fixture *fx, const char *mode, const char *out, int timeout_s)
{
    char url[64];
    child ch = {0};

    kpage_set_hold_ms(fx->model.page, FAKE_HOLD_S * 1000);
    fx->model.hold_s = FAKE_HOLD_S;
    mkdir(out, 0755);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", kpage_port(fx->model.page));
    const char *argv[] = {NODE_PATH,    KPAGE_SCRIPT,  "--url",          url,
                          "--chromium", CHROMIUM_PATH, "--node-modules", KPAGE_NODE_MODULES,
                          "--out",      out,           "--mode",         mode,
                          NULL};
    ch.pid = ts_spawn(argv, NULL);
    ev_timer_init(&ch.t, child_check, &ch);
    ev_timer_start(fx->loop, &ch.t, 100);
    if (!ts_run_until(fx->loop, &ch.exited, timeout_s * 1000)) {
        ts_kill(ch.pid);
        ck_abort_msg("kiosk_page.mjs --mode %s did not finish in %d s", mode, timeout_s);
    }
    ck_assert_msg(WIFEXITED(ch.status) && WEXITSTATUS(ch.status) == 0,
                  "kiosk_page.mjs --mode %s failed (status %d); its output is above", mode,
                  ch.status);
}

START_TEST(test_chromium)
{
    fixture fx;

    fx_start(&fx);
    run_script(&fx, "walk", KPAGE_SCREENS_DIR, 240);
    /* What the page sent reached the model, in the order it was tapped. */
    ck_assert_msg(fake_saw(&fx.model, "take|"), "一键取号 did not reach the model");
    ck_assert(fake_saw(&fx.model, "area|B"));
    ck_assert(fake_saw(&fx.model, "take|B/B01"));
    ck_assert(fake_saw(&fx.model, "take|B"));
    ck_assert(fake_saw(&fx.model, "area|C"));
    ck_assert(fake_saw(&fx.model, "start|"));
    ck_assert(fake_saw(&fx.model, "area|M"));
    ck_assert(fake_saw(&fx.model, "card|"));
    ck_assert(fake_saw(&fx.model, "appointment|"));
    ck_assert(fake_saw(&fx.model, "appointment|123456"));
    ck_assert(fake_saw(&fx.model, "appointment|000000"));
    ck_assert(fake_saw(&fx.model, "appointment_card|"));
    ck_assert(fake_saw(&fx.model, "green|"));
    ck_assert(fake_saw(&fx.model, "green|C"));
    ck_assert(fake_saw(&fx.model, "mine|"));
    ck_assert(fake_saw(&fx.model, "cancel|"));
    ck_assert(fake_saw(&fx.model, "rejoin|"));
    ck_assert(fake_saw(&fx.model, "confirm|no"));
    ck_assert(fake_saw(&fx.model, "confirm|yes"));
    ck_assert(fake_saw(&fx.model, "back|"));
    /* The own ticket typed once and scanned once; keys typed by hand are
     * not a scan. */
    ck_assert_int_eq(fake_count(&fx.model, "mine|B012"), 2);
    ck_assert(!fake_saw(&fx.model, "mine|C999"));
    /* Then with the check code typed, which lets it be cancelled; the
     * cancel came after it. */
    ck_assert_int_eq(fake_count(&fx.model, "mine|B012 1234"), 1);
    ck_assert(fake_index(&fx.model, "mine|B012 1234") < fake_index(&fx.model, "cancel|"));
    /* Every keypad tap restarted the timer: 000000, 清空, 1234567, AB1Z and
     * B012 are 22 taps, and a page turned one more (the mode buttons add
     * theirs). */
    ck_assert_int_ge(fake_count(&fx.model, "touch|"), 23);
    ck_assert(fake_index(&fx.model, "take|") < fake_index(&fx.model, "done|"));
    ck_assert(fake_index(&fx.model, "area|B") < fake_index(&fx.model, "take|B/B01"));
    ck_assert(fake_index(&fx.model, "confirm|no") < fake_index(&fx.model, "confirm|yes"));
    fx_stop(&fx);
}
END_TEST

/* The screen states kiosk_page.mjs --mode layouts draws, each in 8 forms. */
START_TEST(test_layouts)
{
    static const char *const states[] = {"idle",        "area-list",      "matter-list",
                                         "card-prompt", "card-error",     "appointment-keypad",
                                         "printing",    "ticket",         "error",
                                         "paper-out",   "hall-closed",    "area-closed",
                                         "offline",     "out-of-service", "green",
                                         "mine-keypad", "mine-ticket",    "confirm"};
    static const char *const forms[] = {
        "portrait-normal-zh",  "portrait-normal-en",  "portrait-large-zh",  "portrait-large-en",
        "landscape-normal-zh", "landscape-normal-en", "landscape-large-zh", "landscape-large-en"};
    char file[512];
    struct stat sb;
    fixture fx;

    fx_start(&fx);
    run_script(&fx, "layouts", KPAGE_LAYOUTS_DIR, 840);
    /* A screenshot of every state in every form was kept. */
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        for (size_t j = 0; j < sizeof forms / sizeof forms[0]; j++) {
            snprintf(file, sizeof file, "%s/%s-%s.png", KPAGE_LAYOUTS_DIR, states[i], forms[j]);
            ck_assert_msg(stat(file, &sb) == 0 && sb.st_size > 1000, "no screenshot %s", file);
        }
    /* The modes were set by tapping them: each tap restarted the timer. */
    ck_assert_int_gt(fake_count(&fx.model, "touch|"), 0);
    fx_stop(&fx);
}
END_TEST

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "http";
    Suite *s = suite_create("kiosk_page");
    TCase *tc;
    SRunner *sr;
    int failed;

    signal(SIGPIPE, SIG_IGN);
    if (strcmp(which, "chromium") == 0) {
        const char *why = browser_missing();
        if (why != NULL) {
            printf("kiosk_page_chromium skipped: %s\n", why);
            return 77;
        }
        tc = tcase_create("chromium");
        tcase_set_timeout(tc, 280);
        tcase_add_test(tc, test_chromium);
    } else if (strcmp(which, "layouts") == 0) {
        const char *why = browser_missing();
        if (why != NULL) {
            printf("kiosk_page_layouts skipped: %s\n", why);
            return 77;
        }
        if (access(KPAGE_NODE_MODULES "/axe-core/axe.min.js", R_OK) != 0) {
            printf("kiosk_page_layouts skipped: axe-core is not installed in %s (run "
                   "tools/install-page-deps on the build directory)\n",
                   KPAGE_NODE_MODULES);
            return 77;
        }
        tc = tcase_create("layouts");
        tcase_set_timeout(tc, 880);
        tcase_add_test(tc, test_layouts);
    } else if (strcmp(which, "http") == 0) {
        tc = tcase_create("http");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_assets);
        tcase_add_test(tc, test_not_found_and_methods);
        tcase_add_test(tc, test_state_at_once);
        tcase_add_test(tc, test_long_poll_changed);
        tcase_add_test(tc, test_long_poll_hold_timeout);
        tcase_add_test(tc, test_action_wakes_poll);
        tcase_add_test(tc, test_free_with_held_poll);
        tcase_add_test(tc, test_action_ok);
        tcase_add_test(tc, test_action_refused);
        tcase_add_test(tc, test_action_bad_json);
        tcase_add_test(tc, test_action_too_big);
        tcase_add_test(tc, test_site_names);
        tcase_add_test(tc, test_refused_requests);
        tcase_add_test(tc, test_held_polls_capped);
        tcase_add_test(tc, test_peer_limit);
        tcase_add_test(tc, test_connection_limit_recovers);
        tcase_add_test(tc, test_loopback_rule);
        tcase_add_test(tc, test_new_errors);
    } else {
        fprintf(stderr, "usage: %s http|chromium|layouts\n", argv[0]);
        return 2;
    }
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
