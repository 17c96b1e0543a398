/*
 * kbus — the kiosk's bus master role. See kbus.h. The view half is pure;
 * the master half runs on the kiosk's loop: busmaster's callbacks and the
 * call-pad links' callbacks all arrive there.
 */
#include "kbus.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "busmaster.h"
#include "clk.h"
#include "klink.h"
#include "log.h"

/* Presses of one pad waiting behind the operation in flight. */
#define PAD_WAIT_MAX 32
/* How long a refusal stays on a call-pad's display. */
#define REFUSAL_SHOW_MS 5000

/* ---- The view ---------------------------------------------------------------- */

void kbus_view_init(kbus_view *v)
{
    memset(v, 0, sizeof *v);
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

/* The index of window no's entry, added when new; SIZE_MAX when the table
 * is full. */
static size_t view_window(kbus_view *v, uint32_t no)
{
    for (size_t i = 0; i < v->nwindows; i++)
        if (v->window[i].no == no)
            return i;
    if (v->nwindows == KBUS_WINDOWS_MAX)
        return SIZE_MAX;
    memset(&v->window[v->nwindows], 0, sizeof v->window[0]);
    v->window[v->nwindows].no = no;
    v->window[v->nwindows].state = HALL__WINDOW_STATE__WINDOW_UNKNOWN;
    return v->nwindows++;
}

static size_t view_find(const kbus_view *v, uint32_t no)
{
    for (size_t i = 0; i < v->nwindows; i++)
        if (v->window[i].no == no)
            return i;
    return SIZE_MAX;
}

static kbus_action *next_action(kbus_action *out, size_t max, size_t *n, kbus_op op)
{
    if (*n == max)
        return NULL;
    kbus_action *a = &out[(*n)++];
    memset(a, 0, sizeof *a);
    a->op = op;
    return a;
}

kbus_face kbus_face_of(int window_state, int ticket_state, const char *number)
{
    bool ticket = number != NULL && number[0] != '\0';

    if (ticket && ticket_state == HALL__TICKET_STATE__TICKET_CALLED)
        return KBUS_FACE_CALLED;
    if (ticket && ticket_state == HALL__TICKET_STATE__TICKET_SERVING)
        return KBUS_FACE_SERVING;
    switch (window_state) {
    case HALL__WINDOW_STATE__WINDOW_OPEN:
        return KBUS_FACE_IDLE;
    case HALL__WINDOW_STATE__WINDOW_PAUSED:
        return KBUS_FACE_PAUSED;
    case HALL__WINDOW_STATE__WINDOW_CLOSED:
        return KBUS_FACE_CLOSED;
    default:
        return KBUS_FACE_NONE;
    }
}

void kbus_face_text(kbus_face f, uint32_t window, const char *ticket, char *text, size_t cap)
{
    switch (f) {
    case KBUS_FACE_CALLED:
        snprintf(text, cap, "请%s号到%u号窗口", ticket, window);
        return;
    case KBUS_FACE_SERVING:
        snprintf(text, cap, "%s号 正在办理", ticket);
        return;
    case KBUS_FACE_IDLE:
        snprintf(text, cap, "%u号窗口 请稍候", window);
        return;
    case KBUS_FACE_PAUSED:
        snprintf(text, cap, "%u号窗口 暂停服务", window);
        return;
    case KBUS_FACE_CLOSED:
        snprintf(text, cap, "%u号窗口 暂停办理", window);
        return;
    case KBUS_FACE_NONE:
        break;
    }
    snprintf(text, cap, "%s", "");
}

static uint16_t pad_flags(const Hall__WindowStatus *w)
{
    uint16_t f = 0;

    if (w->current_number == NULL || w->current_number[0] == '\0')
        return 0;
    if (w->current_priority == HALL__PRIORITY__PRIORITY_APPOINTMENT)
        f |= BUSMAP_PAD_APPOINTMENT;
    if (w->current_priority == HALL__PRIORITY__PRIORITY_GREEN)
        f |= BUSMAP_PAD_GREEN;
    if (w->current_transferred)
        f |= BUSMAP_PAD_TRANSFERRED;
    return f;
}

/* Take one window's status; true when its call-pad must be written. */
static bool view_status(kbus_view *v, size_t at, const Hall__WindowStatus *w)
{
    char now[KBUS_NUMBER_MAX], clerk[KBUS_CLERK_MAX];
    uint16_t flags = pad_flags(w);
    bool changed = false;

    copy(now, sizeof now, w->current_number);
    copy(clerk, sizeof clerk, w->clerk_id);
    if (strcmp(now, v->window[at].current) != 0) {
        memcpy(v->window[at].current, now, sizeof now);
        changed = true;
    }
    if (strcmp(clerk, v->window[at].clerk) != 0) {
        memcpy(v->window[at].clerk, clerk, sizeof clerk);
        changed = true;
    }
    if ((int)w->state != v->window[at].state ||
        (int)w->current_state != v->window[at].ticket_state ||
        w->waiting != v->window[at].waiting || flags != v->window[at].flags)
        changed = true;
    v->window[at].state = (int)w->state;
    v->window[at].ticket_state = (int)w->current_state;
    v->window[at].waiting = w->waiting;
    v->window[at].flags = flags;
    return changed;
}

size_t kbus_view_apply(kbus_view *v, const Hall__DisplayPush *p, kbus_action *out, size_t max)
{
    bool first = p->snapshot && !v->seen;
    bool pad_changed[KBUS_WINDOWS_MAX] = {false};
    int64_t newest = v->last_call_ms;
    size_t n = 0, at;
    kbus_action *a;

    /* Calls, oldest first (the push lists them newest first). Every call
     * tells the recalls of its ticket, for the no-show confirmation. */
    for (size_t i = p->n_calls; i-- > 0;) {
        const Hall__Call *c = p->calls[i];
        if ((at = view_window(v, c->window_no)) != SIZE_MAX) {
            copy(v->window[at].recalled_number, sizeof v->window[at].recalled_number, c->number);
            v->window[at].recalls = c->recalls;
        }
        if (p->snapshot && c->called_at_ms <= v->last_call_ms)
            continue;
        if ((a = next_action(out, max, &n, KBUS_CALL)) == NULL)
            break;
        a->window = c->window_no;
        copy(a->number, sizeof a->number, c->number);
        copy(a->name, sizeof a->name, c->masked_name);
        a->blink = !first;
        if (c->called_at_ms > newest)
            newest = c->called_at_ms;
        if (at != SIZE_MAX) {
            v->window[at].face = KBUS_FACE_CALLED;
            memcpy(v->window[at].face_number, a->number, sizeof a->number);
        }
    }
    v->last_call_ms = newest;

    /* Then what each window reported now is: a display still showing a
     * call that is over is put right. */
    for (size_t i = 0; i < p->n_windows; i++) {
        const Hall__WindowStatus *w = p->windows[i];
        if ((at = view_window(v, w->window_no)) == SIZE_MAX)
            continue;
        if (view_status(v, at, w) || p->snapshot)
            pad_changed[at] = true;
        kbus_face f =
            kbus_face_of(v->window[at].state, v->window[at].ticket_state, v->window[at].current);
        const char *shown =
            f == KBUS_FACE_CALLED || f == KBUS_FACE_SERVING ? v->window[at].current : "";
        if (f == KBUS_FACE_NONE ||
            (f == v->window[at].face && strcmp(shown, v->window[at].face_number) == 0))
            continue;
        if ((a = next_action(out, max, &n, KBUS_WINDOW)) == NULL)
            break;
        a->window = w->window_no;
        copy(a->number, sizeof a->number, shown);
        kbus_face_text(f, w->window_no, shown, a->text, KBUS_TEXT_MAX);
        v->window[at].face = f;
        memcpy(v->window[at].face_number, a->number, sizeof a->number);
    }
    for (size_t i = 0; i < v->nwindows; i++) {
        if (!pad_changed[i])
            continue;
        if ((a = next_action(out, max, &n, KBUS_CALLPAD)) == NULL)
            break;
        a->window = v->window[i].no;
        memcpy(a->number, v->window[i].current, sizeof a->number);
        a->waiting = v->window[i].waiting;
        a->flags = v->window[i].flags;
    }

    /* halld sends the notice in full each time it has one; a snapshot
     * without one clears it. */
    char notice[KBUS_NOTICE_MAX];
    copy(notice, sizeof notice, p->notice);
    if ((p->snapshot || notice[0] != '\0') && strcmp(v->notice, notice) != 0) {
        memcpy(v->notice, notice, sizeof notice);
        if ((a = next_action(out, max, &n, KBUS_NOTICE)) != NULL)
            memcpy(a->text, notice, sizeof a->text);
    }
    if (p->snapshot)
        v->seen = true;
    return n;
}

bool kbus_view_next_is_noshow(const kbus_view *v, uint32_t window, uint32_t max_recalls)
{
    size_t at = view_find(v, window);

    if (at == SIZE_MAX || v->window[at].ticket_state != HALL__TICKET_STATE__TICKET_CALLED ||
        v->window[at].current[0] == '\0')
        return false;
    /* Recalls not known for this ticket: it was just called (none yet). */
    if (strcmp(v->window[at].recalled_number, v->window[at].current) != 0)
        return max_recalls == 0;
    return v->window[at].recalls >= max_recalls;
}

bool kbus_view_signed_in(const kbus_view *v, uint32_t window)
{
    size_t at = view_find(v, window);

    /* A window opens by a clerk's sign-in and closes by the sign-out. */
    return at == SIZE_MAX || v->window[at].state != HALL__WINDOW_STATE__WINDOW_CLOSED;
}

const char *kbus_view_pad_text(const kbus_view *v, uint32_t window)
{
    size_t at = view_find(v, window);

    if (!kbus_view_signed_in(v, window))
        return "请先签到";
    if (at != SIZE_MAX && v->window[at].state == HALL__WINDOW_STATE__WINDOW_PAUSED)
        return "暂停服务";
    return "";
}

const char *kbus_refusal_zh(int key, int code, const char *message_zh)
{
    switch (code) {
    case HALL__ERROR_CODE__ERR_PIN:
        /* halld's sentence (a lock says for how long), when it fits. */
        if (message_zh != NULL && message_zh[0] != '\0' && strlen(message_zh) <= 16 * 3)
            return message_zh;
        return "工号或密码错误";
    case HALL__ERROR_CODE__ERR_QUEUE_EMPTY:
        return "无人等候";
    case HALL__ERROR_CODE__ERR_WINDOW_CLOSED:
        return "窗口未开放";
    case HALL__ERROR_CODE__ERR_ILLEGAL_STATE:
        if (key == BUS_KEY_SIGNIN)
            return "本窗口已有人签到";
        if (key == BUS_KEY_SIGNOUT)
            return "本窗口未签到";
        return "当前不能这样操作";
    case HALL__ERROR_CODE__ERR_FORBIDDEN:
        return "无权操作";
    case HALL__ERROR_CODE__ERR_NOT_FOUND:
        return key == BUS_KEY_SIGNIN ? "工号不存在或已停用" : "没有这张票";
    case HALL__ERROR_CODE__ERR_BAD_REQUEST:
        return key == BUS_KEY_SIGNIN ? "请输入工号和密码" : "操作有误";
    case HALL__ERROR_CODE__ERR_UNAVAILABLE:
        return "系统忙 请稍后再试";
    default:
        return "操作失败";
    }
}

/* ---- The guard ------------------------------------------------------------------ */

void kbus_guard_init(kbus_guard *g)
{
    memset(g, 0, sizeof *g);
}

/* Keys draw on an allowance of KBUS_KEY_BURST keys that grows back by one
 * every KBUS_KEY_EVERY_MS (a generic cell rate algorithm): key_full_at is
 * when it is whole again, and each key taken moves it on by one key. */
kbus_key_verdict kbus_guard_key(kbus_guard *g, int64_t now_ms)
{
    int64_t from = g->key_full_at > now_ms ? g->key_full_at : now_ms;

    if (g->dropping && now_ms >= g->key_full_at)
        g->dropping = false;
    if (from + KBUS_KEY_EVERY_MS - now_ms > (int64_t)KBUS_KEY_BURST * KBUS_KEY_EVERY_MS) {
        g->burst_until = now_ms + KBUS_FLAG_MS;
        if (g->dropping)
            return KBUS_KEY_DROP;
        g->dropping = true;
        return KBUS_KEY_DROP_FIRST;
    }
    g->key_full_at = from + KBUS_KEY_EVERY_MS;
    return KBUS_KEY_TAKE;
}

bool kbus_guard_restart(kbus_guard *g, int64_t now_ms)
{
    bool was = g->restarts_until > now_ms;

    if (g->nrestarts == KBUS_RESTARTS_MAX + 1) {
        memmove(&g->restart_at[0], &g->restart_at[1], KBUS_RESTARTS_MAX * sizeof g->restart_at[0]);
        g->nrestarts--;
    }
    g->restart_at[g->nrestarts++] = now_ms;
    if (g->nrestarts <= KBUS_RESTARTS_MAX || now_ms - g->restart_at[0] > KBUS_RESTARTS_WINDOW_MS)
        return false;
    g->restarts_until = now_ms + KBUS_FLAG_MS;
    return !was;
}

bool kbus_guard_flagged(const kbus_guard *g, int64_t now_ms)
{
    return g->burst_until > now_ms || g->restarts_until > now_ms;
}

const char *kbus_guard_why(const kbus_guard *g, int64_t now_ms)
{
    bool burst = g->burst_until > now_ms, restarts = g->restarts_until > now_ms;

    if (burst && restarts)
        return "keys faster than a clerk, dropped; restarts too often";
    if (burst)
        return "keys faster than a clerk, dropped";
    return restarts ? "restarts too often" : "";
}

int64_t kbus_guard_flag_ends(const kbus_guard *g, int64_t now_ms)
{
    int64_t end = 0;

    if (g->burst_until > now_ms)
        end = g->burst_until;
    if (g->restarts_until > now_ms && (end == 0 || g->restarts_until < end))
        end = g->restarts_until;
    return end;
}

/* ---- The master ---------------------------------------------------------------- */

/* One window with a call-pad: its link to halld as that window's terminal,
 * the ticket its last answer named, and its presses:
 *
 *   IDLE --press--> IN FLIGHT --answer (reply or refusal)--> IDLE
 *    | ^                | a press meanwhile waits in wait[], in order;
 *    +-+                | after the answer the oldest one is sent
 *   refused here (no current ticket, cannot send): shown on the pad
 *
 * IN FLIGHT is inflight != 0; presses wait only while one is in flight
 * (asserted in pump). */
struct pad {
    kbus *bus;
    uint32_t window;
    klink *link;
    uint64_t ticket_id; /* the window's current ticket by the last answer, 0 none */
    char number[KBUS_NUMBER_MAX];
    /* The operation in flight (0: none) and what it was. */
    uint64_t inflight;
    bus_key inflight_key;
    uint64_t inflight_ticket;
    char inflight_number[KBUS_NUMBER_MAX];
    struct {
        bus_key key;
        uint16_t arg;
        char clerk[BUSMAP_CLERK_MAX + 1]; /* SIGNIN: typed on the pad */
        char pin[BUSMAP_PIN_MAX + 1];
    } wait[PAD_WAIT_MAX];
    size_t nwait;
    ev_timer restore;         /* a refusal is shown: the pad's own picture again */
    char said[KBUS_TEXT_MAX]; /* the refusal shown, "" for none */
    /* The no-show confirmation: a next that would make a no-show is held
     * until confirm ends (a second next sends it, the timer drops it). */
    uint32_t max_recalls; /* halld's, from the link's HelloReply */
    bool confirming;
    ev_timer confirm;
    /* The rating prompt open on the window's rating pad (0: none). */
    uint16_t prompt;
    uint64_t prompt_ticket;
};

/* The pad's confirmation, drawn:
 *
 *   NONE --next that would make a no-show--> CONFIRMING (shows 再按一次确认过号)
 *   CONFIRMING --next within noshow_confirm--> NONE, CALL_NEXT sent
 *   CONFIRMING --timer, or any other key--> NONE, the first next dropped
 */

struct kbus {
    ev_loop *loop;
    const kiosk_conf *conf;
    busmaster *bm;
    uint64_t (*next_id)(void *arg);
    kbus_change_fn *changed;
    void *arg;
    kbus_view view;
    struct pad *pads;
    size_t npads;
    bus_device devices[BUSMASTER_DEVICES_MAX];
    bool offline[BUSMASTER_DEVICES_MAX];
    kbus_guard guard[BUSMASTER_DEVICES_MAX];
    size_t ndevices;
    ev_timer unflag; /* the next flag's end: the health changes then */
    bool closing;    /* inside kbus_free: no change hook any more */
};

static struct pad *pad_of(kbus *b, int window)
{
    for (size_t i = 0; i < b->npads; i++)
        if ((int)b->pads[i].window == window)
            return &b->pads[i];
    return NULL;
}

/* The index of the device at addr in b->devices, SIZE_MAX if none. */
static size_t device_index(const kbus *b, int addr)
{
    for (size_t i = 0; i < b->ndevices; i++)
        if (b->devices[i].addr == addr)
            return i;
    return SIZE_MAX;
}

/* Wake up when the next flag ends, so the health says so. */
static void arm_unflag(kbus *b)
{
    int64_t now = clk_mono_ms(), end = 0;

    for (size_t i = 0; i < b->ndevices; i++) {
        int64_t e = kbus_guard_flag_ends(&b->guard[i], now);
        if (e != 0 && (end == 0 || e < end))
            end = e;
    }
    if (end == 0)
        ev_timer_stop(b->loop, &b->unflag);
    else if (ev_timer_start(b->loop, &b->unflag, end - now) < 0)
        log_warn("bus: cannot time the end of a pad's flag: %s", strerror(errno));
}

/* A flag went up or down: the health and the screen model change. */
static void flags_changed(kbus *b)
{
    if (b->closing)
        return;
    arm_unflag(b);
    if (b->changed != NULL)
        b->changed(b->arg);
}

static void on_unflag(ev_loop *loop, ev_timer *t, void *arg)
{
    flags_changed(arg);
}

static bool has_device(const kbus *b, bus_kind kind, uint32_t window)
{
    for (size_t i = 0; i < b->ndevices; i++)
        if (b->devices[i].kind == kind && (uint32_t)b->devices[i].window == window)
            return true;
    return false;
}

/* The number a window's call-pad shows: what halld last said is current
 * there (push or answer). */
static const char *current_of(kbus *b, uint32_t window)
{
    size_t at = view_window(&b->view, window);
    return at != SIZE_MAX ? b->view.window[at].current : "";
}

/* Write the pad's display: the window's ticket, its own waiting count and
 * the ticket's marks, with the pad's message line: a refusal while one is
 * shown, else the confirmation question, else the window's state. */
static void show_pad(struct pad *p)
{
    kbus *b = p->bus;
    size_t at = view_window(&b->view, p->window);
    uint32_t waiting = at != SIZE_MAX ? b->view.window[at].waiting : 0;
    uint16_t flags = at != SIZE_MAX ? b->view.window[at].flags : 0;
    const char *text = p->said[0] != '\0' ? p->said
                       : p->confirming    ? "再按一次确认过号"
                                          : kbus_view_pad_text(&b->view, p->window);

    if (busmaster_set_callpad(b->bm, (int)p->window, current_of(b, p->window),
                              (int)(waiting > 65535 ? 65535 : waiting), flags, text) < 0 &&
        errno != ENOENT)
        log_warn("bus: call-pad of window %u: %s", p->window, strerror(errno));
}

static void on_restore(ev_loop *loop, ev_timer *t, void *arg)
{
    struct pad *p = arg;

    p->said[0] = '\0';
    show_pad(p);
}

/* Show a refusal (Chinese, on the pad's display) for a few seconds. */
static void show_refusal(struct pad *p, const char *zh)
{
    kbus *b = p->bus;

    snprintf(p->said, sizeof p->said, "%s", zh);
    show_pad(p);
    ev_timer_start(b->loop, &p->restore, REFUSAL_SHOW_MS);
}

static void end_confirm(struct pad *p)
{
    assert(p->confirming);
    p->confirming = false;
    ev_timer_stop(p->bus->loop, &p->confirm);
}

static void on_confirm_timeout(ev_loop *loop, ev_timer *t, void *arg)
{
    struct pad *p = arg;

    assert(p->confirming);
    log_info("bus: call-pad of window %u: next not confirmed in time: dropped (no no-show)",
             p->window);
    p->confirming = false;
    show_pad(p);
}

/* Build and send the window operation of one press; false when it could
 * not be sent (refused here, shown on the pad). */
static bool send_key(struct pad *p, bus_key key, uint16_t arg, char *clerk, char *pin)
{
    kbus *b = p->bus;
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__SignIn signin = HALL__SIGN_IN__INIT;
    Hall__SignOut signout = HALL__SIGN_OUT__INIT;
    Hall__CallNext next = HALL__CALL_NEXT__INIT;
    Hall__Recall recall = HALL__RECALL__INIT;
    Hall__NoShow noshow = HALL__NO_SHOW__INIT;
    Hall__Start start = HALL__START__INIT;
    Hall__Finish finish = HALL__FINISH__INIT;
    Hall__Transfer transfer = HALL__TRANSFER__INIT;
    Hall__PauseWindow pause = HALL__PAUSE_WINDOW__INIT;
    Hall__ResumeWindow resume = HALL__RESUME_WINDOW__INIT;
    char reason[] = "call-pad";
    /* 0 when the pad does not know the ticket (after a restart, or one a
     * clerk's other terminal called): halld takes the window's current
     * ticket then. */
    uint64_t id = p->ticket_id;

    assert(p->inflight == 0);
    /* The confirmation: any key but next ends it; a next either confirms
     * or, when it would make a no-show, asks first. */
    bool confirmed = p->confirming && key == BUS_KEY_NEXT;
    if (p->confirming) {
        end_confirm(p);
        show_pad(p);
    }
    if (key == BUS_KEY_NEXT && !kbus_view_signed_in(&b->view, p->window)) {
        show_refusal(p, "请先签到");
        return false;
    }
    if (key == BUS_KEY_NEXT && !confirmed &&
        kbus_view_next_is_noshow(&b->view, p->window, p->max_recalls)) {
        log_info("bus: call-pad of window %u: next would make %s a no-show: asking to confirm",
                 p->window, current_of(b, p->window));
        p->confirming = true;
        ev_timer_start(b->loop, &p->confirm, b->conf->bus_noshow_confirm_ms);
        show_pad(p);
        return false;
    }
    switch (key) {
    case BUS_KEY_SIGNIN:
        if (clerk[0] == '\0') {
            show_refusal(p, "请重新输入工号和密码");
            return false;
        }
        signin.window_no = p->window;
        signin.clerk_id = clerk;
        signin.pin = pin;
        env.body_case = HALL__ENVELOPE__BODY_SIGN_IN;
        env.sign_in = &signin;
        break;
    case BUS_KEY_SIGNOUT:
        signout.window_no = p->window;
        env.body_case = HALL__ENVELOPE__BODY_SIGN_OUT;
        env.sign_out = &signout;
        break;
    case BUS_KEY_NEXT:
        next.window_no = p->window;
        env.body_case = HALL__ENVELOPE__BODY_CALL_NEXT;
        env.call_next = &next;
        break;
    case BUS_KEY_RECALL:
        recall.window_no = p->window;
        recall.ticket_id = id;
        env.body_case = HALL__ENVELOPE__BODY_RECALL;
        env.recall = &recall;
        break;
    case BUS_KEY_NOSHOW:
        noshow.window_no = p->window;
        noshow.ticket_id = id;
        env.body_case = HALL__ENVELOPE__BODY_NO_SHOW;
        env.no_show = &noshow;
        break;
    case BUS_KEY_START:
        start.window_no = p->window;
        start.ticket_id = id;
        env.body_case = HALL__ENVELOPE__BODY_START;
        env.start = &start;
        break;
    case BUS_KEY_FINISH:
        finish.window_no = p->window;
        finish.ticket_id = id;
        env.body_case = HALL__ENVELOPE__BODY_FINISH;
        env.finish = &finish;
        break;
    case BUS_KEY_TRANSFER:
        transfer.window_no = p->window;
        transfer.ticket_id = id;
        transfer.to_window = arg;
        env.body_case = HALL__ENVELOPE__BODY_TRANSFER;
        env.transfer = &transfer;
        break;
    case BUS_KEY_PAUSE:
        pause.window_no = p->window;
        pause.reason = reason;
        env.body_case = HALL__ENVELOPE__BODY_PAUSE;
        env.pause = &pause;
        break;
    case BUS_KEY_RESUME:
        resume.window_no = p->window;
        env.body_case = HALL__ENVELOPE__BODY_RESUME;
        env.resume = &resume;
        break;
    }
    uint64_t rid = klink_send(p->link, &env);
    if (rid == 0) {
        log_error("bus: call-pad of window %u: cannot send %s: %s", p->window, busmap_key_name(key),
                  strerror(errno));
        show_refusal(p, "操作失败");
        return false;
    }
    p->inflight = rid;
    p->inflight_key = key;
    p->inflight_ticket = id;
    memcpy(p->inflight_number, p->number, sizeof p->inflight_number);
    return true;
}

/* Send the oldest waiting press once nothing is in flight. */
static void pump(struct pad *p)
{
    assert(p->nwait <= PAD_WAIT_MAX);
    while (p->inflight == 0 && p->nwait > 0) {
        bus_key key = p->wait[0].key;
        uint16_t arg = p->wait[0].arg;
        char clerk[sizeof p->wait[0].clerk], pin[sizeof p->wait[0].pin];
        memcpy(clerk, p->wait[0].clerk, sizeof clerk);
        memcpy(pin, p->wait[0].pin, sizeof pin);
        memmove(&p->wait[0], &p->wait[1], (p->nwait - 1) * sizeof p->wait[0]);
        p->nwait--;
        explicit_bzero(&p->wait[p->nwait], sizeof p->wait[0]);
        send_key(p, key, arg, clerk, pin);
        /* klink keeps the encoded request, not these. */
        explicit_bzero(pin, sizeof pin);
    }
    assert(p->inflight != 0 || p->nwait == 0);
}

/* Queue a press behind the operation in flight. */
static void enqueue(struct pad *p, bus_key key, uint16_t arg, const char *clerk, const char *pin)
{
    if (p->nwait == PAD_WAIT_MAX) {
        log_error("bus: call-pad of window %u: %d presses wait for halld; %s dropped", p->window,
                  PAD_WAIT_MAX, busmap_key_name(key));
        show_refusal(p, "操作太快 请稍候");
        return;
    }
    p->wait[p->nwait].key = key;
    p->wait[p->nwait].arg = arg;
    snprintf(p->wait[p->nwait].clerk, sizeof p->wait[0].clerk, "%s", clerk);
    snprintf(p->wait[p->nwait].pin, sizeof p->wait[0].pin, "%s", pin);
    p->nwait++;
    pump(p);
}

/* The guard's verdict on a key from dev; false when it is dropped. */
static bool guard_takes(kbus *b, const bus_device *dev, bus_key key)
{
    size_t at = device_index(b, dev->addr);

    switch (at != SIZE_MAX ? kbus_guard_key(&b->guard[at], clk_mono_ms()) : KBUS_KEY_TAKE) {
    case KBUS_KEY_TAKE:
        return true;
    case KBUS_KEY_DROP_FIRST:
        log_error("bus: call-pad %d (window %d) sends keys faster than a clerk can press (more "
                  "than %d at once, then one a second): dropping them until it is quiet; a "
                  "faulty pad, or something else on the bus wiring",
                  dev->addr, dev->window, KBUS_KEY_BURST);
        flags_changed(b);
        return false;
    case KBUS_KEY_DROP:
        log_debug("bus: call-pad %d (window %d): key %s dropped (a burst)", dev->addr, dev->window,
                  busmap_key_name(key));
        if (!b->closing)
            arm_unflag(b);
        return false;
    }
    return false;
}

static void on_key(busmaster *bm, const bus_device *dev, bus_key key, uint16_t arg_value,
                   uint16_t seq, void *arg)
{
    kbus *b = arg;
    struct pad *p = pad_of(b, dev->window);

    if (!guard_takes(b, dev, key))
        return;
    log_info("bus: call-pad %d (window %d): %s%s", dev->addr, dev->window, busmap_key_name(key),
             key == BUS_KEY_TRANSFER ? " (to a window)" : "");
    if (p != NULL)
        enqueue(p, key, arg_value, "", "");
}

/* A sign-in typed on a call-pad: checked like any key, then queued with
 * its digits (the PIN is never logged). */
static void on_signin(busmaster *bm, const bus_device *dev, const char *clerk, const char *pin,
                      uint16_t seq, void *arg)
{
    kbus *b = arg;
    struct pad *p = pad_of(b, dev->window);

    if (!guard_takes(b, dev, BUS_KEY_SIGNIN))
        return;
    log_info("bus: call-pad %d (window %d): signin, clerk %s", dev->addr, dev->window,
             clerk[0] != '\0' ? clerk : "(none)");
    if (p != NULL)
        enqueue(p, BUS_KEY_SIGNIN, 0, clerk, pin);
}

static void prompt_rating(struct pad *p, uint64_t ticket, const char *number)
{
    kbus *b = p->bus;
    uint16_t id;

    if (ticket == 0 || !has_device(b, BUS_KIND_RATING, p->window))
        return;
    if (busmaster_prompt_rating(b->bm, (int)p->window, number,
                                (int)(b->conf->bus_rating_timeout_ms / 1000), &id) < 0) {
        log_warn("bus: cannot prompt window %u's rating pad for %s: %s", p->window, number,
                 strerror(errno));
        return;
    }
    p->prompt = id;
    p->prompt_ticket = ticket;
}

static void on_rating(busmaster *bm, const bus_device *dev, uint16_t prompt,
                      busmaster_rating_end end, int level, void *arg)
{
    kbus *b = arg;
    struct pad *p = pad_of(b, dev->window);
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Rating r = HALL__RATING__INIT;

    if (p == NULL || p->prompt == 0 || prompt != p->prompt)
        return;
    p->prompt = 0;
    if (end != BUSMASTER_RATED) {
        log_info("bus: window %u: no rating for ticket %llu (%s)", p->window,
                 (unsigned long long)p->prompt_ticket,
                 end == BUSMASTER_TIMED_OUT ? "timed out" : "cancelled");
        return;
    }
    r.ticket_id = p->prompt_ticket;
    r.level = (uint32_t)level;
    r.window_no = p->window;
    r.rated_at_ms = clk_utc_ms();
    env.body_case = HALL__ENVELOPE__BODY_RATING;
    env.rating = &r;
    if (klink_send(p->link, &env) == 0)
        log_error("bus: window %u: cannot send the rating of ticket %llu: %s", p->window,
                  (unsigned long long)p->prompt_ticket, strerror(errno));
    else
        log_info("bus: window %u: ticket %llu rated %d", p->window,
                 (unsigned long long)p->prompt_ticket, level);
}

static const char *device_name(const bus_device *dev)
{
    const char *kind = busmap_kind_name(dev->kind);
    return kind != NULL ? kind : "device";
}

static void on_health(busmaster *bm, const bus_device *dev, bool online, const char *why, void *arg)
{
    kbus *b = arg;

    for (size_t i = 0; i < b->ndevices; i++) {
        if (b->devices[i].addr != dev->addr)
            continue;
        if (b->offline[i] == !online)
            return;
        b->offline[i] = !online;
    }
    if (online)
        log_info("bus: %s %d (window %d) online", device_name(dev), dev->addr, dev->window);
    else
        log_warn("bus: %s %d (window %d) offline: %s", device_name(dev), dev->addr, dev->window,
                 why != NULL ? why : "no reply");
    if (b->changed != NULL)
        b->changed(b->arg);
}

static void on_write_failed(busmaster *bm, const bus_device *dev, const char *what, const char *why,
                            void *arg)
{
    log_debug("bus: writing %s to %s %d failed (%s); retried", what, device_name(dev), dev->addr,
              why);
}

static void on_notice(busmaster *bm, const char *text, void *arg)
{
    log_info("bus: %s", text);
}

/* A pad's boot id changed: a pad that restarts again and again is failing,
 * or is not the pad (whatever answers in its place starts its sequence
 * numbers over with a new boot id, and the driver takes its events as
 * new). Displays restarting only need to be written again. */
static void on_restarted(busmaster *bm, const bus_device *dev, uint16_t boot_id, void *arg)
{
    kbus *b = arg;
    size_t at = device_index(b, dev->addr);

    if (at == SIZE_MAX || (dev->kind != BUS_KIND_CALLPAD && dev->kind != BUS_KIND_RATING))
        return;
    if (kbus_guard_restart(&b->guard[at], clk_mono_ms())) {
        log_error("bus: %s %d (window %d) restarted more than %d times within %d minutes: "
                  "flagged; a failing pad or power supply, or something else answering in its "
                  "place on the bus wiring",
                  device_name(dev), dev->addr, dev->window, KBUS_RESTARTS_MAX,
                  KBUS_RESTARTS_WINDOW_MS / 60000);
        flags_changed(b);
    } else if (!b->closing) {
        arm_unflag(b);
    }
}

/* ---- The call-pads' links -------------------------------------------------- */

static uint64_t pad_next_id(void *arg)
{
    struct pad *p = arg;
    return p->bus->next_id(p->bus->arg);
}

static void pad_up(void *arg, const Hall__HelloReply *r)
{
    struct pad *p = arg;

    p->max_recalls = r->max_recalls;
    log_info("bus: window %u's call-pad link to halld up (a next past %u recalls is a no-show)",
             p->window, p->max_recalls);
}

static void pad_down(void *arg, const char *reason)
{
    struct pad *p = arg;
    log_warn("bus: window %u's call-pad link to halld down: %s", p->window, reason);
}

static void pad_answer(void *arg, uint64_t rid, const Hall__Envelope *e)
{
    struct pad *p = arg;
    kbus *b = p->bus;

    if (rid != p->inflight) { /* a rating's answer */
        if (e->body_case == HALL__ENVELOPE__BODY_ERROR)
            log_warn("bus: window %u: rating refused: %s", p->window, e->error->message);
        return;
    }
    bus_key key = p->inflight_key;
    p->inflight = 0;
    if (e->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY) {
        const Hall__WindowReply *r = e->window_reply;
        const Hall__Ticket *t = r->ticket;
        /* The answer names the ticket acted on: the window's current one
         * only while it is called or served here (a finished, missed or
         * transferred ticket has left the window). */
        bool here = t != NULL && t->window_no == p->window &&
                    (t->state == HALL__TICKET_STATE__TICKET_CALLED ||
                     t->state == HALL__TICKET_STATE__TICKET_SERVING);
        p->ticket_id = here ? t->id : 0;
        copy(p->number, sizeof p->number, here ? t->number : "");
        size_t at = view_window(&b->view, p->window);
        if (at != SIZE_MAX) {
            if (strcmp(b->view.window[at].current, p->number) != 0)
                b->view.window[at].flags =
                    !here                                                 ? 0
                    : t->priority == HALL__PRIORITY__PRIORITY_GREEN       ? BUSMAP_PAD_GREEN
                    : t->priority == HALL__PRIORITY__PRIORITY_APPOINTMENT ? BUSMAP_PAD_APPOINTMENT
                                                                          : 0;
            memcpy(b->view.window[at].current, p->number, sizeof p->number);
            b->view.window[at].state = (int)r->state;
            b->view.window[at].ticket_state =
                here ? (int)t->state : HALL__TICKET_STATE__TICKET_UNKNOWN;
            if (here) {
                memcpy(b->view.window[at].recalled_number, p->number, sizeof p->number);
                b->view.window[at].recalls = t->recalls;
            }
        }
        show_pad(p);
        if (key == BUS_KEY_FINISH)
            prompt_rating(p, p->inflight_ticket, p->inflight_number);
    } else if (e->body_case == HALL__ENVELOPE__BODY_ERROR) {
        log_warn("bus: call-pad of window %u: %s refused: %s", p->window, busmap_key_name(key),
                 e->error->message);
        show_refusal(p, kbus_refusal_zh(key, e->error->code, e->error->message_zh));
    } else {
        log_warn("bus: call-pad of window %u: unexpected %s", p->window,
                 proto_body_name(e->body_case));
    }
    pump(p);
}

static int open_pad(kbus *b, struct pad *p, uint32_t window, char *err, size_t errlen)
{
    char id[32], cert[1024], key[1024], ca[1024];
    const char *dir = b->conf->bus_window_certs;

    p->bus = b;
    p->window = window;
    ev_timer_init(&p->restore, on_restore, p);
    ev_timer_init(&p->confirm, on_confirm_timeout, p);
    snprintf(id, sizeof id, "callpad-w%u", window);
    snprintf(cert, sizeof cert, "%s/%s/%s.crt", dir, id, id);
    snprintf(key, sizeof key, "%s/%s/%s.key", dir, id, id);
    snprintf(ca, sizeof ca, "%s/%s/ca.crt", dir, id);
    const klink_conf lc = {
        .host = b->conf->halld_host,
        .port = b->conf->halld_port,
        .cert = cert,
        .key = key,
        .ca = ca,
        .device_id = id,
        .firmware = "kioskd " ONEWINDOW_VERSION " call-pad",
        .reconnect_max_ms = b->conf->reconnect_max_ms,
        .connect_timeout_ms = b->conf->connect_timeout_ms,
        .type = HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL,
        .window_no = window,
    };
    const klink_callbacks cb = {pad_next_id, pad_up, pad_down, pad_answer, NULL, NULL};
    char why[256];
    if ((p->link = klink_new(b->loop, &lc, &cb, p, why, sizeof why)) == NULL) {
        snprintf(err, errlen, "[bus] window_certs: the call-pad of window %u (%s): %s", window,
                 cert, why);
        return -1;
    }
    return 0;
}

kbus *kbus_new(ev_loop *loop, const kiosk_conf *conf, uint64_t (*next_id)(void *arg),
               kbus_change_fn *changed, void *arg, char *err, size_t errlen)
{
    busmaster_conf bc;
    kbus *b;

    if (loop == NULL || conf == NULL || next_id == NULL) {
        snprintf(err, errlen, "kbus: bad arguments");
        errno = EINVAL;
        return NULL;
    }
    if ((b = calloc(1, sizeof *b)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->loop = loop;
    b->conf = conf;
    b->next_id = next_id;
    b->changed = changed;
    b->arg = arg;
    kbus_view_init(&b->view);
    ev_timer_init(&b->unflag, on_unflag, b);
    for (size_t i = 0; i < BUSMASTER_DEVICES_MAX; i++)
        kbus_guard_init(&b->guard[i]);

    busmaster_conf_init(&bc);
    if (busmaster_conf_transport(&bc, conf->bus_transport == KIOSK_BUS_RTU ? "rtu" : "tcp", err,
                                 errlen) < 0 ||
        busmaster_conf_devices(&bc, conf->bus_devices, err, errlen) < 0)
        goto fail;
    snprintf(bc.rtu.device, sizeof bc.rtu.device, "%s", conf->bus_device);
    bc.rtu.baud = (int)conf->bus_baud;
    snprintf(bc.tcp.host, sizeof bc.tcp.host, "%s", conf->bus_host);
    bc.tcp.port = conf->bus_port;
    bc.blink_ms = (int)conf->bus_blink_ms;
    bc.board_min_ms = (int)conf->bus_board_min_ms;
    b->ndevices = bc.ndevices;
    memcpy(b->devices, bc.devices, bc.ndevices * sizeof bc.devices[0]);

    /* One pad per window with a call-pad (two pads of one window share it). */
    if ((b->pads = calloc(bc.ndevices ? bc.ndevices : 1, sizeof *b->pads)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < bc.ndevices; i++) {
        const bus_device *d = &bc.devices[i];
        if (d->kind != BUS_KIND_CALLPAD || pad_of(b, d->window) != NULL)
            continue;
        if (open_pad(b, &b->pads[b->npads], (uint32_t)d->window, err, errlen) < 0)
            goto fail;
        b->npads++;
    }
    const busmaster_callbacks cb = {on_key,    on_rating,    on_health, on_write_failed,
                                    on_notice, on_restarted, on_signin};
    if ((b->bm = busmaster_new(loop, &bc, &cb, b, err, errlen)) == NULL)
        goto fail;
    log_info("bus: master of %zu device(s) over %s, %zu call-pad window(s)", bc.ndevices,
             busmaster_transport_name(bc.transport), b->npads);
    return b;
fail:
    kbus_free(b);
    return NULL;
}

void kbus_free(kbus *b)
{
    if (b == NULL)
        return;
    /* The master first: what it delivers while stopping (keys, cancelled
     * prompts) still finds the pads. */
    b->closing = true;
    busmaster_free(b->bm);
    b->bm = NULL;
    ev_timer_stop(b->loop, &b->unflag);
    for (size_t i = 0; i < b->npads; i++) {
        ev_timer_stop(b->loop, &b->pads[i].restore);
        ev_timer_stop(b->loop, &b->pads[i].confirm);
        explicit_bzero(b->pads[i].wait, sizeof b->pads[i].wait);
        klink_free(b->pads[i].link);
    }
    free(b->pads);
    free(b);
}

void kbus_push(kbus *b, const Hall__DisplayPush *p)
{
    kbus_action act[KBUS_ACTIONS_MAX];
    size_t n = kbus_view_apply(&b->view, p, act, KBUS_ACTIONS_MAX);

    for (size_t i = 0; i < n; i++) {
        const kbus_action *a = &act[i];
        const char *name = a->name[0] != '\0' ? a->name : NULL;
        int rc = 0;
        switch (a->op) {
        case KBUS_CALL:
            rc = busmaster_show_call(b->bm, (int)a->window, a->number, name, a->blink ? -1 : 0);
            if (rc < 0 && errno == ENOENT)
                rc = 0;
            if (rc == 0 &&
                (rc = busmaster_board_post(b->bm, (int)a->window, a->number, name)) < 0 &&
                errno == ENOENT)
                rc = 0;
            break;
        case KBUS_WINDOW:
            if ((rc = busmaster_show_window(b->bm, (int)a->window, a->number, a->text)) < 0 &&
                errno == ENOENT)
                rc = 0;
            break;
        case KBUS_CALLPAD: {
            struct pad *pad = pad_of(b, (int)a->window);
            /* A refusal or a question stays until its time is up. */
            if (pad != NULL)
                show_pad(pad);
            else if (has_device(b, BUS_KIND_CALLPAD, a->window))
                rc = busmaster_set_callpad(b->bm, (int)a->window, a->number,
                                           (int)(a->waiting > 65535 ? 65535 : a->waiting), a->flags,
                                           "");
            break;
        }
        case KBUS_NOTICE:
            if ((rc = busmaster_set_notice(b->bm, a->text)) < 0 && errno == ENOENT)
                rc = 0;
            break;
        }
        if (rc < 0)
            log_warn("bus: cannot show %s for window %u: %s", a->number, a->window,
                     strerror(errno));
    }
}

bool kbus_ok(const kbus *b)
{
    for (size_t i = 0; i < b->ndevices; i++)
        if (b->offline[i])
            return false;
    return true;
}

const char *kbus_health(const kbus *b, char *detail, size_t len)
{
    int64_t now = clk_mono_ms();
    size_t used = 0;
    bool suspect = false;

    if (len > 0)
        detail[0] = '\0';
    for (size_t i = 0; i < b->ndevices; i++) {
        if (!kbus_guard_flagged(&b->guard[i], now))
            continue;
        if (used < len) {
            int n = snprintf(detail + used, len - used, "%s%s %d: %s", suspect ? "; " : "",
                             device_name(&b->devices[i]), b->devices[i].addr,
                             kbus_guard_why(&b->guard[i], now));
            used = n < 0 || (size_t)n >= len - used ? len : used + (size_t)n;
        }
        suspect = true;
    }
    if (suspect)
        return "suspect";
    return kbus_ok(b) ? "ok" : "degraded";
}

int kbus_state_json(const kbus *b, buf *out)
{
    int64_t now = clk_mono_ms();
    char item[160];
    bool any = false, flagged = false;
    int n = snprintf(item, sizeof item, "\"bus\":\"%s\"", kbus_health(b, NULL, 0));

    /* Every item below is a few dozen ASCII bytes: kinds, addresses and
     * the guard's fixed sentences. */
    if (buf_append(out, item, (size_t)n) < 0)
        return -1;
    for (size_t i = 0; i < b->ndevices; i++) {
        if (!b->offline[i])
            continue;
        n = snprintf(item, sizeof item, "%s\"%s %d\"", any ? "," : ",\"bus_offline\":[",
                     device_name(&b->devices[i]), b->devices[i].addr);
        if (buf_append(out, item, (size_t)n) < 0)
            return -1;
        any = true;
    }
    if (any && buf_append(out, "]", 1) < 0)
        return -1;
    for (size_t i = 0; i < b->ndevices; i++) {
        if (!kbus_guard_flagged(&b->guard[i], now))
            continue;
        n = snprintf(item, sizeof item, "%s\"%s %d: %s\"", flagged ? "," : ",\"bus_suspect\":[",
                     device_name(&b->devices[i]), b->devices[i].addr,
                     kbus_guard_why(&b->guard[i], now));
        if (buf_append(out, item, (size_t)n) < 0)
            return -1;
        flagged = true;
    }
    return flagged ? buf_append(out, "]", 1) : 0;
}
