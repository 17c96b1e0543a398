/*
 * kflow — the citizen's flow as a pure state machine. See kflow.h for the
 * diagram; assert_flow() checks what each state promises.
 */
#include "kflow.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "apptcode.h"
#include "conf.h"

static const char *const state_names[] = {"idle",       "choose",   "card",       "appointment",
                                          "requesting", "printing", "confirming", "ticket",
                                          "error",      "matter",   "green",      "mine"};
static const char *const screen_names[] = {"idle",    "choose", "card",  "appointment",
                                           "working", "ticket", "error", "closed",
                                           "matter",  "green",  "mine"};
static const char *const error_kind_names[] = {"",        "card",  "refused", "printer",
                                               "network", "hours", "limit"};

/* What every state promises: a timeout on every screen but idle, a request
 * token while a ticket is on its way, a ticket number from PRINTING on. */
static void assert_flow(const kflow *f)
{
    assert(f->state <= KF_MINE);
    assert(f->state == KF_CARD || !f->check_in);
    assert(f->state == KF_ERROR || f->error_kind == KF_ERR_NONE);
    switch (f->state) {
    case KF_IDLE:
        assert(f->deadline == 0);
        break;
    case KF_CHOOSE:
    case KF_CARD:
    case KF_APPOINTMENT:
    case KF_ERROR:
    case KF_MATTER:
    case KF_GREEN:
    case KF_MINE:
        assert(f->deadline > 0);
        assert(f->state != KF_ERROR || f->error_kind != KF_ERR_NONE);
        break;
    case KF_REQUESTING:
        assert(f->token != 0 && f->request.token == f->token);
        assert(f->request.kind == KF_CMD_ISSUE || f->request.kind == KF_CMD_ISSUE_OFFLINE);
        break;
    case KF_PRINTING:
        assert(f->token != 0 && f->ticket.number[0] != '\0' && f->deadline == 0);
        break;
    case KF_CONFIRMING:
    case KF_TICKET:
        assert(f->token != 0 && f->ticket.number[0] != '\0' && f->deadline > 0);
        break;
    }
}

static void go(kflow *f, kflow_state to, int64_t deadline)
{
    if (to != KF_CARD)
        f->check_in = false;
    if (to != KF_ERROR)
        f->error_kind = KF_ERR_NONE;
    f->state = to;
    f->deadline = deadline;
    f->version++;
    assert_flow(f);
}

static void no_cmd(kflow_cmd *cmd)
{
    memset(cmd, 0, sizeof *cmd);
    cmd->kind = KF_CMD_NONE;
}

void kflow_init(kflow *f, int64_t idle_ms, int64_t ticket_ms, int64_t request_ms,
                int64_t confirm_ms)
{
    assert(idle_ms > 0 && ticket_ms > 0 && request_ms > 0 && confirm_ms > 0);
    memset(f, 0, sizeof *f);
    f->idle_ms = idle_ms;
    f->ticket_ms = ticket_ms;
    f->request_ms = request_ms;
    f->confirm_ms = confirm_ms;
    f->can_take = true;
    go(f, KF_IDLE, 0);
}

static bool busy(const kflow *f)
{
    return f->state == KF_REQUESTING || f->state == KF_PRINTING || f->state == KF_CONFIRMING;
}

static bool waiting(const kflow *f)
{
    return f->state == KF_CHOOSE || f->state == KF_CARD || f->state == KF_APPOINTMENT;
}

/* The error screen with these sentences, for the idle timeout. */
static void fail(kflow *f, kflow_error_kind kind, const char *zh, const char *en, int64_t now)
{
    assert(kind != KF_ERR_NONE);
    snprintf(f->msg_zh, sizeof f->msg_zh, "%s", zh);
    snprintf(f->msg_en, sizeof f->msg_en, "%s", en);
    f->error_kind = kind;
    go(f, KF_ERROR, now + f->idle_ms);
}

/* Start a request: online it is an ISSUE with a timeout, offline a number
 * from the lease at once. */
static void request(kflow *f, const char *area, const char *appointment, bool by_card,
                    bool check_in, int64_t now, kflow_cmd *cmd)
{
    no_cmd(cmd);
    cmd->kind = f->online ? KF_CMD_ISSUE : KF_CMD_ISSUE_OFFLINE;
    cmd->token = ++f->token;
    snprintf(cmd->area, sizeof cmd->area, "%s", area);
    snprintf(cmd->appointment, sizeof cmd->appointment, "%s", appointment);
    cmd->by_card = by_card;
    cmd->check_in = check_in;
    f->request = *cmd;
    memset(&f->ticket, 0, sizeof f->ticket);
    go(f, KF_REQUESTING, f->online ? now + f->request_ms : 0);
}

static int refuse(int code, char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    errno = code;
    return -1;
}

/* The kiosk cannot take a ticket now: why, "中文 / English" as every
 * refusal of an action. */
static int refuse_closed(const kflow *f, char *err, size_t errlen)
{
    char both[2 * KF_TEXT_MAX + 4];

    snprintf(both, sizeof both, "%s / %s", f->closed_zh, f->closed_en);
    return refuse(EAGAIN, err, errlen, both);
}

static bool valid_code(const char *s, size_t max)
{
    size_t n = strlen(s);

    return n > 0 && n < max && conf_word_ok(s, n, false);
}

int kflow_action(kflow *f, const char *name, const char *param, int64_t now, kflow_cmd *cmd,
                 char *err, size_t errlen)
{
    no_cmd(cmd);
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (name == NULL)
        return refuse(EINVAL, err, errlen, "没有操作 / no action");
    if (param == NULL)
        param = "";
    bool take = strcmp(name, "take") == 0, card = strcmp(name, "card") == 0,
         appt = strcmp(name, "appointment") == 0, check_in = strcmp(name, "appointment_card") == 0;
    if (strcmp(name, "back") == 0 || strcmp(name, "done") == 0) {
        if (!busy(f) && f->state != KF_IDLE)
            go(f, KF_IDLE, 0);
        return 0;
    }
    if (strcmp(name, "touch") == 0) {
        /* A tap on a waiting screen (a key of the keypad, a list
         * scrolled): the citizen is still there. */
        if (waiting(f)) {
            f->deadline = now + f->idle_ms;
            f->version++;
        }
        return 0;
    }
    if (!take && !card && !appt && !check_in && strcmp(name, "start") != 0)
        return refuse(EINVAL, err, errlen, "未知操作 / unknown action");
    /* A tap while a ticket is on its way: a double tap, ignored. */
    if (busy(f))
        return 0;
    if (take && param[0] != '\0' && !valid_code(param, KF_AREA_MAX))
        return refuse(EINVAL, err, errlen, "没有这个业务区 / no such area");
    if (appt && param[0] != '\0' && !apptcode_valid(param))
        return refuse(EINVAL, err, errlen,
                      "预约码格式不对，请核对后重新输入 / That is not an appointment code; please "
                      "check it and type it again");
    if (!f->can_take)
        return refuse_closed(f, err, errlen);
    if (((appt && param[0] != '\0') || check_in) && !f->online)
        return refuse(EAGAIN, err, errlen,
                      "网络中断，暂不能预约签到，请直接取号 / Offline: appointments cannot be "
                      "checked now; please take a number");
    if (take) {
        request(f, param, "", false, false, now, cmd);
    } else if (appt && param[0] != '\0') {
        request(f, "", param, false, false, now, cmd);
    } else if (appt) {
        go(f, KF_APPOINTMENT, now + f->idle_ms);
    } else if (card || check_in) {
        go(f, KF_CARD, now + f->idle_ms);
        f->check_in = check_in;
    } else {
        go(f, KF_CHOOSE, now + f->idle_ms);
    }
    return 0;
}

int kflow_open(kflow *f, kflow_state screen, int64_t now, char *err, size_t errlen)
{
    assert(screen == KF_MATTER || screen == KF_GREEN || screen == KF_MINE);
    if (busy(f))
        return 0;
    if (f->state != KF_IDLE && f->state != KF_CHOOSE && f->state != screen)
        return refuse(EAGAIN, err, errlen, "请先返回首页 / please go back to the start first");
    if (screen != KF_MINE && !f->can_take)
        return refuse_closed(f, err, errlen);
    go(f, screen, now + f->idle_ms);
    return 0;
}

int kflow_take(kflow *f, const char *area, const char *matter, bool green, int64_t now,
               kflow_cmd *cmd, char *err, size_t errlen)
{
    no_cmd(cmd);
    if (busy(f))
        return 0;
    if (!valid_code(area, KF_AREA_MAX) || (matter[0] != '\0' && !valid_code(matter, KF_CODE_MAX)))
        return refuse(EINVAL, err, errlen, "没有这个业务 / no such service");
    if (!f->can_take)
        return refuse_closed(f, err, errlen);
    request(f, area, "", false, false, now, cmd);
    snprintf(cmd->matter, sizeof cmd->matter, "%s", matter);
    cmd->green = green;
    f->request = *cmd;
    return 0;
}

bool kflow_swipe(kflow *f, int64_t now, kflow_cmd *cmd)
{
    no_cmd(cmd);
    /* One swipe, one request: while one is on its way, or its ticket is
     * still shown, or on the appointment keypad, a swipe is ignored. */
    if (busy(f) || f->state == KF_TICKET || f->state == KF_APPOINTMENT || f->state == KF_MINE ||
        !f->can_take)
        return false;
    request(f, "", "", true, f->state == KF_CARD && f->check_in, now, cmd);
    return true;
}

bool kflow_card_failed(kflow *f, const char *zh, const char *en, int64_t now)
{
    if (busy(f) || f->state == KF_TICKET || f->state == KF_APPOINTMENT)
        return false;
    fail(f, KF_ERR_CARD, zh, en, now);
    return true;
}

bool kflow_issued(kflow *f, uint64_t token, const kflow_ticket *t, int64_t now, kflow_cmd *cmd)
{
    no_cmd(cmd);
    if (f->state != KF_REQUESTING || token != f->token || t->number[0] == '\0')
        return false;
    f->ticket = *t;
    cmd->kind = KF_CMD_PRINT;
    cmd->token = token;
    go(f, KF_PRINTING, 0);
    return true;
}

void kflow_refused_as(kflow *f, uint64_t token, kflow_error_kind kind, const char *zh,
                      const char *en, int64_t now)
{
    if (f->state != KF_REQUESTING || token != f->token)
        return;
    fail(f, kind, zh, en, now);
}

void kflow_refused(kflow *f, uint64_t token, const char *zh, const char *en, int64_t now)
{
    kflow_refused_as(f, token, KF_ERR_REFUSED, zh, en, now);
}

void kflow_printed(kflow *f, bool ok, const char *why_zh, const char *why_en, int64_t now,
                   kflow_cmd *cmd)
{
    no_cmd(cmd);
    if (f->state != KF_PRINTING)
        return;
    cmd->kind = ok ? KF_CMD_PRINTED : KF_CMD_VOID;
    cmd->token = f->token;
    f->void_pending = !ok;
    if (!ok) {
        snprintf(f->msg_zh, sizeof f->msg_zh, "出票失败（%s），本号已作废，请联系工作人员",
                 why_zh ? why_zh : "打印机故障");
        snprintf(f->msg_en, sizeof f->msg_en,
                 "The ticket could not be printed (%s) and was cancelled; please ask the staff",
                 why_en ? why_en : "printer fault");
    }
    go(f, KF_CONFIRMING, now + f->confirm_ms);
}

static void confirm_done(kflow *f, int64_t now)
{
    if (f->void_pending) {
        f->error_kind = KF_ERR_PRINTER;
        go(f, KF_ERROR, now + f->idle_ms);
    } else
        go(f, KF_TICKET, now + f->ticket_ms);
}

void kflow_confirmed(kflow *f, uint64_t token, int64_t now)
{
    if (f->state == KF_CONFIRMING && token == f->token)
        confirm_done(f, now);
}

/* The request in flight, given up online, is made again offline under a
 * new token: halld's answer to the old one, if it ever comes, is voided. */
static void redo_offline(kflow *f, int64_t now, kflow_cmd *cmd)
{
    kflow_cmd old = f->request;

    f->online = false;
    request(f, old.area, old.appointment, old.by_card, old.check_in, now, cmd);
    memcpy(cmd->matter, old.matter, sizeof cmd->matter);
    cmd->green = old.green;
    f->request = *cmd;
    if (old.appointment[0] != '\0' || old.check_in) {
        no_cmd(cmd);
        fail(f, KF_ERR_NETWORK, "网络中断，暂不能预约签到，请直接取号",
             "Offline: appointments cannot be checked now; please take a number", now);
    }
}

void kflow_link(kflow *f, bool online, int64_t now, kflow_cmd *cmd)
{
    no_cmd(cmd);
    if (f->online == online)
        return;
    f->online = online;
    f->version++;
    if (!online && f->state == KF_REQUESTING && f->request.kind == KF_CMD_ISSUE)
        redo_offline(f, now, cmd);
}

void kflow_health(kflow *f, bool can_take, const char *zh, const char *en)
{
    if (f->can_take == can_take && strcmp(f->closed_zh, zh) == 0)
        return;
    f->can_take = can_take;
    snprintf(f->closed_zh, sizeof f->closed_zh, "%s", zh);
    snprintf(f->closed_en, sizeof f->closed_en, "%s", en);
    f->version++;
    /* A citizen on a choosing screen of a kiosk that cannot print goes
     * back to the start, which says why. */
    if (!can_take && (f->state == KF_CHOOSE || f->state == KF_CARD || f->state == KF_APPOINTMENT ||
                      f->state == KF_MATTER || f->state == KF_GREEN))
        go(f, KF_IDLE, 0);
}

void kflow_tick(kflow *f, int64_t now, kflow_cmd *cmd)
{
    no_cmd(cmd);
    if (f->deadline == 0 || now < f->deadline)
        return;
    switch (f->state) {
    case KF_REQUESTING:
        /* No answer in time: the citizen gets an offline ticket now. */
        redo_offline(f, now, cmd);
        break;
    case KF_CONFIRMING:
        /* The store keeps the confirmation and sends it when it can. */
        confirm_done(f, now);
        break;
    case KF_IDLE:
    case KF_PRINTING:
        assert(!"no deadline in this state");
        break;
    case KF_CHOOSE:
    case KF_CARD:
    case KF_APPOINTMENT:
    case KF_TICKET:
    case KF_ERROR:
    case KF_MATTER:
    case KF_GREEN:
    case KF_MINE:
        go(f, KF_IDLE, 0);
        break;
    }
}

kflow_screen kflow_screen_of(const kflow *f)
{
    switch (f->state) {
    case KF_IDLE:
        return f->can_take ? KF_SCREEN_IDLE : KF_SCREEN_CLOSED;
    case KF_CHOOSE:
        return KF_SCREEN_CHOOSE;
    case KF_CARD:
        return KF_SCREEN_CARD;
    case KF_APPOINTMENT:
        return KF_SCREEN_APPOINTMENT;
    case KF_REQUESTING:
    case KF_PRINTING:
    case KF_CONFIRMING:
        return KF_SCREEN_WORKING;
    case KF_TICKET:
        return KF_SCREEN_TICKET;
    case KF_ERROR:
        return KF_SCREEN_ERROR;
    case KF_MATTER:
        return KF_SCREEN_MATTER;
    case KF_GREEN:
        return KF_SCREEN_GREEN;
    case KF_MINE:
        return KF_SCREEN_MINE;
    }
    return KF_SCREEN_ERROR;
}

const char *kflow_screen_name(kflow_screen s)
{
    return (size_t)s < sizeof screen_names / sizeof screen_names[0] ? screen_names[s] : "error";
}

const char *kflow_error_kind_name(kflow_error_kind k)
{
    return (size_t)k < sizeof error_kind_names / sizeof error_kind_names[0] ? error_kind_names[k]
                                                                            : "";
}

const char *kflow_state_name(kflow_state s)
{
    return (size_t)s < sizeof state_names / sizeof state_names[0] ? state_names[s] : "unknown";
}

int kflow_idle_after_s(const kflow *f, int64_t now)
{
    if (f->deadline == 0 || busy(f))
        return 0;
    int64_t left = f->deadline - now;
    return left <= 0 ? 0 : (int)((left + 999) / 1000);
}
