/*
 * kiosk — the kiosk object. See kiosk.h. Everything runs on the loop's
 * thread; the printer's and reader's workers report through ev_post.
 *
 * Every request sent to halld is remembered in a small table (what it was
 * for), so its answer is routed: an ISSUE's ticket to the flow (or, if the
 * flow gave that request up, to a VOID), a PRINTED/VOID's reply to the
 * store, a lease to the store, an upload's reply to the store.
 *
 * halld's answers to a PRINTED, a VOID or an offline ticket are either
 * final (done, or refused for good: the row ends, a refused printed ticket
 * is shown to staff) or transient (halld cannot take it now: the row stays
 * and is sent again after a backoff, or on the next link). Nothing printed
 * is ever dropped without halld's last word on it.
 *
 * ID numbers: the kiosk never hashes one and holds no key that could. A
 * card's number goes to halld in the ISSUE (over the mutual-TLS link) or,
 * for an offline ticket, sealed to halld's public sealing key into the
 * store; the kiosk keeps the clear number in memory only while its
 * request is in flight, and wipes it then (docs/privacy.md).
 *
 * Time: the kiosk keeps halld's clock minus its own (measured by klink on
 * every HELLO and heartbeat, kept in the store) and uses halld's time
 * wherever it compares with or stamps halld's times: lease expiry, offline
 * tickets' issue times, the store's pruning.
 */
#include "kiosk.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apptcode.h"
#include "clk.h"
#include "escpos.h"
#include "idcard_privacy.h"
#include "idnum.h"
#include "kbus.h"
#include "kflow.h"
#include "klink.h"
#include "kqr.h"
#include "log.h"
#include "seal.h"

#define TICK_MS        250
#define REOPEN_MS      5000
#define CONFIRM_MS     5000
#define LEASE_RETRY_MS 60000
#define UPLOAD_MAX     100
#define AREAS_MAX      32
#define PENDING_MAX    256
#define AREA_NAME_MAX  96
#define HOURS_TEXT_MAX 128
#define ASK_MS         60000 /* a question not answered within this is dropped */
/* Transient refusals: sent again after a backoff doubling between these. */
#define RETRY_MIN_MS 2000
#define RETRY_MAX_MS 300000
#define DAY_MS       (24 * 3600 * 1000LL)
/* Housekeeping: the refusals shown are looked up every minute, the store
 * is pruned at start and daily; finished rows are kept a week (see
 * docs/kiosk.md), refusals are shown for a day. */
#define CHORES_MS         60000
#define KEEP_MS           (7 * DAY_MS)
#define REFUSALS_SHOWN_MS DAY_MS
/* The offset is written to the store when it moved this much... */
#define CLOCK_STORE_STEP_MS 1000
/* ...and a skew already reported is reported again when it moved this much. */
#define SKEW_STEP_MS 5000
/* halld keeps a component's state under 32 bytes and its detail under 160. */
#define HEALTH_MAX        6
#define HEALTH_DETAIL_MAX 160
#define HEALTH_SIG_MAX    (HEALTH_MAX * (2 * 16 + KF_TEXT_MAX + 4) + 8)

typedef enum pending_kind {
    P_ISSUE,
    P_PRINTED,
    P_VOID,
    P_LEASE,
    P_UPLOAD,
    P_STATUS,
    P_QUERY,  /* the mine screen: TicketQuery */
    P_CANCEL, /* the mine screen: CancelTicket */
    P_REJOIN, /* the mine screen: Rejoin */
} pending_kind;

struct pending {
    uint64_t rid;
    pending_kind kind;
    uint64_t token;                 /* the flow's request (ISSUE; PRINTED, VOID of its ticket) */
    uint64_t ticket_id;             /* PRINTED, VOID */
    char number[KSTORE_NUMBER_MAX]; /* PRINTED, VOID */
    char area[KF_AREA_MAX];         /* LEASE */
};

/* A matter of an area, as halld's snapshot lists it. */
struct kmatter {
    char code[KF_CODE_MAX];
    char name[2 * AREA_NAME_MAX], name_en[2 * AREA_NAME_MAX];
    char *materials; /* one per line, "" for none */
};
#define AREA_WINDOWS_MAX 16

struct area {
    char code[KF_AREA_MAX];
    char name[AREA_NAME_MAX];
    char name_en[AREA_NAME_MAX];        /* "" when the catalog has none */
    char letter[8];                     /* the ticket prefix, "" unknown */
    uint32_t windows[AREA_WINDOWS_MAX]; /* the windows serving it, for the ticket */
    size_t nwindows;
    struct kmatter *matters; /* owned */
    size_t nmatters;
    uint32_t waiting, est_wait_s;
    int64_t lease_next; /* monotonic ms before which no lease is asked for */
    bool lease_asked;
    /* The hall calendar, as halld last said (AreaStatus). */
    bool closed, issue_unstaffed, unstaffed_rule;
    uint32_t windows_open;
    char opens_zh[HOURS_TEXT_MAX], opens_en[HOURS_TEXT_MAX];
};

struct kiosk {
    ev_loop *loop;
    const kiosk_conf *conf;
    kstore *store;
    klink *link;
    kbus *bus; /* the bus master role, NULL when [bus] is not enabled */
    printer *printer;
    reader *reader;
    seal_key *sealing; /* halld's public sealing key; NULL: none installed */
    escpos_builder *escpos;
    clk_zone *zone;
    kflow flow;
    ev_timer tick, reopen;
    kiosk_change_fn *hook;
    void *hook_arg;
    uint64_t seq, seen_version;
    bool dirty, shutting_down, online;
    char health_sent[HEALTH_SIG_MAX]; /* the last DEVICE_STATUS sent on this link, "" none */
    /* halld's clock minus the kiosk's, and the value last written to the
     * store; the skew reported (0: within [halld] clock_skew_warn). */
    int64_t clock_offset_ms, clock_stored_ms, skew_shown_ms;
    bool clock_stored;
    /* Refusals shown to the hall's staff ("" none): offline tickets, and
     * printed online tickets. */
    char offline_refused[HEALTH_DETAIL_MAX], printed_refused[HEALTH_DETAIL_MAX];
    /* Monotonic times of the next retry (0: none due) and their backoffs. */
    int64_t upload_next, upload_backoff_ms, confirm_next, confirm_backoff_ms;
    int64_t chores_next, prune_next;
    char hall_name[128];
    uint32_t rejoin_s, max_recalls; /* the hall's missed-call rule (HelloReply) */
    bool rule_known;                /* heard from halld on a link */
    const char *closed_kind;        /* why it cannot take: printer | maintenance | hours | "" */
    char general[KF_AREA_MAX];      /* the general intake area's code, "" unknown */
    struct area areas[AREAS_MAX];
    size_t nareas;
    /* The citizen's screens: the area of the matter list; the own ticket
     * (mine) as halld last answered, the sentences of the last cancel or
     * rejoin; the picture of the error screen. */
    char chosen[KF_AREA_MAX];
    struct {
        bool known;
        uint64_t id;
        char number[KSTORE_NUMBER_MAX], check[8], area[KF_AREA_MAX];
        int state; /* Hall__TicketState */
        int ahead; /* -1 unknown */
        int64_t rejoin_until_ms;
        char zh[KF_TEXT_MAX], en[KF_TEXT_MAX];
    } mine;
    /* The hall calendar's part of the screen: a question before issuing
     * in an area none of whose windows is open (ask_area "" none), the
     * area the citizen said yes for (its ISSUE carries unstaffed_ok). */
    char ask_area[KF_AREA_MAX], unstaffed_ok_area[KF_AREA_MAX];
    /* Green channel by way of the consult desk ([green] mode = consult):
     * the area the citizen asked for, and the request that took the
     * consult desk's ticket for it. */
    char consult_for[KF_AREA_MAX];
    uint64_t consult_token;
    int64_t ask_at;
    /* Devices. */
    const char *printer_word; /* ok | near_end | paper_out | cover_open | offline */
    bool reader_online;
    /* The card of the request in flight: the number until the request is
     * sent or sealed (then wiped), the masked name for the ticket. */
    struct {
        bool valid;
        char number[IDNUM_MAX + 1];
        char masked[KSTORE_NAME_MAX];
    } card;
    /* The ticket being printed and confirmed. */
    struct {
        bool printing;
        uint64_t job_id, token, ticket_id;
        int64_t offline_id;
    } cur;
    /* Requests sent, by id. */
    struct pending pend[PENDING_MAX];
    size_t npend;
    /* The offline tickets of the upload in flight. */
    struct {
        int64_t id;
        char number[KSTORE_NUMBER_MAX];
    } upload[UPLOAD_MAX];
    size_t nupload;
};

static void execute(kiosk *k, const kflow_cmd *cmd);
static void mine_answered(kiosk *k, pending_kind kind, const Hall__Envelope *e);
static bool hours_refusal(const struct area *a, char *zh, char *en, size_t len);
static const struct area *hall_closed(const kiosk *k);

/* ---- the screen model ---------------------------------------------------- */

static void changed(kiosk *k)
{
    k->dirty = true;
}

static struct pending *send_req(kiosk *k, Hall__Envelope *req, pending_kind kind, uint64_t rid);

/* halld's time now, as the kiosk knows it. */
static int64_t hall_now(const kiosk *k)
{
    return clk_utc_ms() + k->clock_offset_ms;
}

struct health {
    /* protobuf-c's strings are char *: the words live in these arrays. */
    char name[HEALTH_MAX][16], state[HEALTH_MAX][16], detail[HEALTH_MAX][KF_TEXT_MAX];
    size_t n;
};

static void health_add(struct health *h, const char *name, const char *state, const char *detail)
{
    assert(h->n < HEALTH_MAX);
    snprintf(h->name[h->n], sizeof h->name[h->n], "%s", name);
    snprintf(h->state[h->n], sizeof h->state[h->n], "%s", state);
    snprintf(h->detail[h->n], sizeof h->detail[h->n], "%s", detail);
    h->n++;
}

/* The kiosk's clock against halld's, as device health says it. */
static void skew_sentence(int64_t offset_ms, char *out, size_t len)
{
    long long s = ((offset_ms < 0 ? -offset_ms : offset_ms) + 500) / 1000;

    snprintf(out, len, "kiosk clock %lld s %s halld", s, offset_ms < 0 ? "ahead of" : "behind");
}

/* Tell halld the kiosk's health when it changed (and once per link): the
 * printer, the card reader, the bus segment when this kiosk drives one,
 * the clock, the tickets halld refused for good when there are any, and
 * whether tickets can be taken; why not, in the printer's detail. */
static void report_health(kiosk *k, bool can, const char *why)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__DeviceStatus st = HALL__DEVICE_STATUS__INIT;
    Hall__ComponentStatus comp[HEALTH_MAX], *pc[HEALTH_MAX];
    struct health h = {.n = 0};
    char sig[sizeof k->health_sent], skew[HEALTH_DETAIL_MAX] = "", bus[KBUS_DETAIL_MAX];
    bool printing = strcmp(k->printer_word, "ok") == 0 || strcmp(k->printer_word, "near_end") == 0;
    size_t used;

    if (!k->online)
        return;
    health_add(&h, "printer", k->printer_word, printing ? "" : why);
    health_add(&h, "reader",
               k->reader == NULL  ? "absent"
               : k->reader_online ? "ok"
                                  : "offline",
               "");
    if (k->bus != NULL)
        health_add(&h, "bus", kbus_health(k->bus, bus, sizeof bus), bus);
    if (k->skew_shown_ms != 0)
        skew_sentence(k->skew_shown_ms, skew, sizeof skew);
    health_add(&h, "clock", k->skew_shown_ms != 0 ? "skewed" : "ok", skew);
    if (k->offline_refused[0] != '\0')
        health_add(&h, "offline", "refused", k->offline_refused);
    if (k->printed_refused[0] != '\0')
        health_add(&h, "printed", "refused", k->printed_refused);
    used = (size_t)snprintf(sig, sizeof sig, "%d", can);
    for (size_t i = 0; i < h.n && used < sizeof sig; i++)
        used += (size_t)snprintf(sig + used, sizeof sig - used, "|%s=%s:%s", h.name[i], h.state[i],
                                 h.detail[i]);
    if (strcmp(sig, k->health_sent) == 0)
        return;
    for (size_t i = 0; i < h.n; i++) {
        hall__component_status__init(&comp[i]);
        comp[i].name = h.name[i];
        comp[i].state = h.state[i];
        comp[i].detail = h.detail[i];
        pc[i] = &comp[i];
    }
    st.n_components = h.n;
    st.components = pc;
    st.can_issue = can;
    env.body_case = HALL__ENVELOPE__BODY_DEVICE_STATUS;
    env.device_status = &st;
    if (send_req(k, &env, P_STATUS, 0) != NULL)
        snprintf(k->health_sent, sizeof k->health_sent, "%s", sig);
}

/* Bring the flow's view of health up to date, then tell the page if the
 * model changed. Called at the end of every event. */
static void sync_model(kiosk *k)
{
    const char *zh = "", *en = "";
    bool can = true;

    k->closed_kind = "printer";
    if (k->shutting_down) {
        k->closed_kind = "maintenance";
        can = false;
        zh = "暂停取号：设备维护中，请到人工窗口";
        en = "Closed for maintenance; please go to a staffed window";
    } else if (strcmp(k->printer_word, "paper_out") == 0) {
        can = false;
        zh = "打印纸用完 — 请联系工作人员";
        en = "Out of paper — please ask the staff";
    } else if (strcmp(k->printer_word, "cover_open") == 0) {
        can = false;
        zh = "打印机盖未关好 — 请联系工作人员";
        en = "The printer cover is open — please ask the staff";
    } else if (strcmp(k->printer_word, "offline") == 0) {
        can = false;
        zh = "打印机故障，暂停取号 — 请联系工作人员";
        en = "The printer is not working — please ask the staff";
    } else if (!k->online && kstore_lease_left(k->store, NULL, hall_now(k)) <= 0) {
        k->closed_kind = "maintenance";
        can = false;
        zh = "暂停取号：网络中断，本机离线号码已用完，请到人工窗口";
        en = "Closed: offline and no offline numbers left; please go to a staffed window";
    }
    if (can)
        k->closed_kind = "";
    /* The card's number is only needed while its request is in flight. */
    if (k->card.valid && k->flow.state != KF_REQUESTING)
        idcard_privacy_wipe(&k->card, sizeof k->card);
    /* Outside the hall's hours the kiosk shows it is closed, but is itself
     * well: its health says it could issue. */
    const struct area *shut = can ? hall_closed(k) : NULL;
    char hz[KF_TEXT_MAX], he[KF_TEXT_MAX];
    if (shut != NULL) {
        k->closed_kind = "hours";
        hours_refusal(shut, hz, he, sizeof hz);
        kflow_health(&k->flow, false, hz, he);
    } else {
        kflow_health(&k->flow, can, zh, en);
    }
    report_health(k, can, zh);
    if (k->flow.version != k->seen_version || k->dirty) {
        k->seen_version = k->flow.version;
        k->dirty = false;
        k->seq++;
        if (k->hook != NULL)
            k->hook(k->hook_arg);
    }
}

static int json_str(buf *out, const char *s)
{
    char esc[8];

    if (buf_append(out, "\"", 1) < 0)
        return -1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            if (buf_append(out, esc, 2) < 0)
                return -1;
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            if (buf_append(out, esc, 6) < 0)
                return -1;
        } else if (buf_append(out, p, 1) < 0) {
            return -1;
        }
    }
    return buf_append(out, "\"", 1);
}

static int json_raw(buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int json_raw(buf *out, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        errno = ENOBUFS;
        return -1;
    }
    return buf_append(out, tmp, (size_t)n);
}

static struct area *area_of(kiosk *k, const char *code)
{
    for (size_t i = 0; i < k->nareas; i++)
        if (strcmp(k->areas[i].code, code) == 0)
            return &k->areas[i];
    return NULL;
}

/* ---- the hall calendar ------------------------------------------------------ */

/* The area an ISSUE or a tap names ("AREA" or "AREA/MATTER"; "" the
 * general intake area); NULL if the kiosk does not know it. */
static struct area *area_named(kiosk *k, const char *param)
{
    char code[KF_AREA_MAX];

    snprintf(code, sizeof code, "%s", param != NULL ? param : "");
    code[strcspn(code, "/")] = '\0';
    return area_of(k, code[0] != '\0' ? code : k->general);
}

/* Whether a refuses numbers now, by what halld last said of the calendar
 * and its windows, and why (both languages). */
static bool hours_refusal(const struct area *a, char *zh, char *en, size_t len)
{
    if (a->closed) {
        snprintf(zh, len, "现在不在取号时间，%s。", a->opens_zh);
        snprintf(en, len, "Outside the hours for numbers. %s.", a->opens_en);
        return true;
    }
    if (a->unstaffed_rule && a->windows_open == 0 && !a->issue_unstaffed) {
        snprintf(zh, len, "暂无办理该业务的窗口开放，请稍后再来。");
        snprintf(en, len, "No window for this service is open; please come back later.");
        return true;
    }
    return false;
}

/* Every area offered is closed by the calendar: the one whose opening is
 * shown (the general intake area, else the first). NULL if any gives
 * numbers, or none is known. */
static const struct area *hall_closed(const kiosk *k)
{
    const struct area *shown = NULL;

    for (size_t i = 0; i < k->nareas; i++) {
        if (!k->areas[i].closed)
            return NULL;
        if (shown == NULL || strcmp(k->areas[i].code, k->general) == 0)
            shown = &k->areas[i];
    }
    return shown;
}

/* A tap that would issue in an area none of whose windows is open, where
 * the hall issues anyway: ask first (the wait is unknown). Runs before
 * the flow sees an action. Returns 1 when the action was handled here, 0
 * to hand it on (*name and *param may be rewritten: "confirm yes" becomes
 * the take it confirms), -1 with err for a confirm with no question. */
static int hours_action(kiosk *k, const char **name, const char **param, char *err, size_t errlen)
{
    bool confirm = *name != NULL && strcmp(*name, "confirm") == 0;
    bool take = *name != NULL && (strcmp(*name, "take") == 0 || strcmp(*name, "area") == 0);

    k->unstaffed_ok_area[0] = '\0';
    if (confirm) {
        if (k->ask_area[0] == '\0') {
            snprintf(err, errlen, "没有需要确认的问题 / There is nothing to confirm");
            errno = EINVAL;
            return -1;
        }
        bool yes = *param != NULL && strcmp(*param, "yes") == 0;
        const struct area *a = area_named(k, k->ask_area);
        if (yes && a != NULL)
            snprintf(k->unstaffed_ok_area, sizeof k->unstaffed_ok_area, "%s", a->code);
        /* ask_area stays readable until the flow has the take. */
        *name = yes ? "take" : NULL;
        *param = yes ? k->ask_area : NULL;
        changed(k);
        return yes ? 0 : (k->ask_area[0] = '\0', 1);
    }
    k->ask_area[0] = '\0';
    if (!take || (k->flow.state != KF_IDLE && k->flow.state != KF_CHOOSE))
        return 0;
    const struct area *a = area_named(k, *param);
    if (a == NULL || a->closed || !a->unstaffed_rule || a->windows_open > 0 || !a->issue_unstaffed)
        return 0;
    snprintf(k->ask_area, sizeof k->ask_area, "%s", *param != NULL ? *param : "");
    k->ask_at = ev_now(k->loop);
    changed(k);
    return 1;
}

/* The calendar's check of an ISSUE the flow asks for: true if refused
 * here (the error screen says when the area opens, or that none of its
 * windows is open). An appointment is left to halld, which knows its
 * area. */
static bool hours_refuse(kiosk *k, const kflow_cmd *cmd)
{
    char zh[KF_TEXT_MAX], en[KF_TEXT_MAX];
    const struct area *a = cmd->appointment[0] == '\0' ? area_named(k, cmd->area) : NULL;

    if (a == NULL || !hours_refusal(a, zh, en, sizeof zh))
        return false;
    log_info("no number in area %s now: %s", a->code, en);
    kflow_refused_as(&k->flow, cmd->token, KF_ERR_HOURS, zh, en, ev_now(k->loop));
    changed(k);
    return true;
}

/* The calendar's fields of an area in the model. */
static int area_hours_json(const struct area *a, buf *out)
{
    return json_raw(out, ",\"closed\":%s,\"opens_zh\":", a->closed ? "true" : "false") < 0 ||
                   json_str(out, a->opens_zh) < 0 || json_raw(out, ",\"opens_en\":") < 0 ||
                   json_str(out, a->opens_en) < 0 ||
                   json_raw(out, ",\"windows_open\":%u,\"issue_unstaffed\":%s", a->windows_open,
                            a->issue_unstaffed ? "true" : "false") < 0
               ? -1
               : 0;
}

/* The model's top-level hours and confirm. */
static int hours_json(kiosk *k, buf *out)
{
    const struct area *c = hall_closed(k);

    if (json_raw(out, ",\"hours\":{\"closed\":%s,\"opens_zh\":", c ? "true" : "false") < 0 ||
        json_str(out, c ? c->opens_zh : "") < 0 || json_raw(out, ",\"opens_en\":") < 0 ||
        json_str(out, c ? c->opens_en : "") < 0 || json_raw(out, "},\"confirm\":") < 0)
        return -1;
    if (k->ask_area[0] == '\0') {
        if (json_raw(out, "null") < 0)
            return -1;
    } else if (json_raw(out,
                        "{\"zh\":\"暂无办理该业务的窗口开放，等候时间未知。仍要取号吗？\","
                        "\"en\":\"No window for this service is open and the wait is "
                        "unknown. Take a number anyway?\",\"action\":\"take\",\"param\":") < 0 ||
               json_str(out, k->ask_area) < 0 || json_raw(out, "}") < 0) {
        return -1;
    }
    return 0;
}

/* The ticket's QR payload from [printer] ticket_url: {number}, {day}
 * (the hall-local date of issue), {id} (halld's; 0 for an offline ticket,
 * whose number and day name it instead), {kiosk} and {check} (halld's
 * check code, which lets the bearer cancel at a kiosk; "" offline). ""
 * without a template; cut at len. */
static void ticket_url(const kiosk *k, const kflow_ticket *t, char *out, size_t len)
{
    const char *p = k->conf->ticket_url;
    size_t used = 0;
    clk_civil c;
    char day[16], id[24];

    clk_to_civil(k->zone, t->issued_ms, &c);
    snprintf(day, sizeof day, "%04d%02d%02d", c.year, c.month, c.day);
    snprintf(id, sizeof id, "%llu", (unsigned long long)t->id);
    out[0] = '\0';
    while (*p != '\0' && used + 1 < len) {
        static const char *const keys[] = {"{number}", "{day}", "{id}", "{kiosk}", "{check}"};
        const char *vals[] = {t->number, day, id, k->conf->id, t->check};
        size_t i;

        for (i = 0; i < 5 && strncmp(p, keys[i], strlen(keys[i])) != 0; i++)
            ;
        if (i < 5) {
            int w = snprintf(out + used, len - used, "%s", vals[i]);
            used += w > 0 ? (size_t)w : 0;
            p += strlen(keys[i]);
        } else {
            out[used++] = *p++;
            out[used] = '\0';
        }
    }
    if (used >= len)
        out[len - 1] = '\0';
}

static const struct kmatter *matter_in(const struct area *a, const char *code)
{
    for (size_t i = 0; a != NULL && code[0] != '\0' && i < a->nmatters; i++)
        if (strcmp(a->matters[i].code, code) == 0)
            return &a->matters[i];
    return NULL;
}

/* A matter's materials as a JSON list of strings. */
static int materials_json(const struct kmatter *m, buf *out)
{
    if (json_raw(out, "[") < 0)
        return -1;
    for (const char *p = m ? m->materials : ""; *p != '\0';) {
        size_t n = strcspn(p, "\n");
        char line[600];
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), p);
        if ((p != m->materials && json_raw(out, ",") < 0) || json_str(out, line) < 0)
            return -1;
        p += n + (p[n] == '\n');
    }
    return json_raw(out, "]");
}

/* The ticket's matter in both languages and its materials (the ticket
 * screen). */
static int ticket_words_json(kiosk *k, const kflow_ticket *t, buf *out)
{
    const struct area *a = area_of(k, t->area);
    const struct kmatter *m = matter_in(a, t->matter);

    return json_raw(out, ",\"matter\":") < 0 || json_str(out, t->matter) < 0 ||
                   json_raw(out, ",\"matter_name\":") < 0 || json_str(out, m ? m->name : "") < 0 ||
                   json_raw(out, ",\"matter_name_en\":") < 0 ||
                   json_str(out, m ? m->name_en : "") < 0 || json_raw(out, ",\"materials\":") < 0 ||
                   materials_json(m, out) < 0
               ? -1
               : 0;
}

/* The ticket's words, computed once for the screen and the paper. */
struct ticket_words {
    char wait_zh[64], wait_en[64];   /* "即将叫号" / "Soon", "约 12 分钟"; "" unknown */
    char rule_zh[160], rule_en[160]; /* the missed-call rule; "" unknown */
    char windows_zh[96];             /* "1、2、5号" for the paper; "" none known */
    char letter[8];
    char url[512]; /* the QR code's payload, "" none */
};

/* The wait: soon when nobody is ahead (never "0 minutes"), else the
 * estimate rounded up to a minute. */
static void wait_words(const kflow_ticket *t, struct ticket_words *w)
{
    if (t->ahead == 0 || (t->ahead < 0 && t->est_wait_s == 0)) {
        snprintf(w->wait_zh, sizeof w->wait_zh, "即将叫号");
        snprintf(w->wait_en, sizeof w->wait_en, "Soon");
    } else if (t->est_wait_s >= 0) {
        int min = (t->est_wait_s + 59) / 60;
        min = min < 1 ? 1 : min;
        snprintf(w->wait_zh, sizeof w->wait_zh, "约 %d 分钟", min);
        snprintf(w->wait_en, sizeof w->wait_en, "About %d min", min);
    }
}

/* The missed-call rule from halld's HelloReply: how many calls before a
 * number is missed and how long it may rejoin. */
static void rule_words(const kiosk *k, struct ticket_words *w)
{
    char calls_zh[48] = "", calls_en[64] = "";

    if (!k->rule_known)
        return;
    if (k->max_recalls > 0) {
        snprintf(calls_zh, sizeof calls_zh, "叫号%u次未到即为过号；", k->max_recalls + 1);
        snprintf(calls_en, sizeof calls_en, "Not there after %u calls: missed. ",
                 k->max_recalls + 1);
    }
    if (k->rejoin_s > 0) {
        unsigned min = (k->rejoin_s + 59) / 60;
        snprintf(w->rule_zh, sizeof w->rule_zh, "%s过号请在%u分钟内回到取号机重新排队", calls_zh,
                 min);
        snprintf(w->rule_en, sizeof w->rule_en,
                 "%sA missed number may rejoin at the kiosk within %u min", calls_en, min);
    } else {
        snprintf(w->rule_zh, sizeof w->rule_zh, "%s过号作废，请重新取号", calls_zh);
        snprintf(w->rule_en, sizeof w->rule_en, "%sA missed number lapses; please take a new one",
                 calls_en);
    }
}

static void ticket_words_of(kiosk *k, const kflow_ticket *t, struct ticket_words *w)
{
    const struct area *a = area_of(k, t->area);
    size_t zu = 0;

    memset(w, 0, sizeof *w);
    wait_words(t, w);
    rule_words(k, w);
    for (size_t i = 0; a != NULL && i < a->nwindows; i++) {
        int nz = snprintf(w->windows_zh + zu, sizeof w->windows_zh - zu, "%s%u", i ? "、" : "",
                          a->windows[i]);
        if (nz < 0 || (size_t)nz >= sizeof w->windows_zh - zu) {
            w->windows_zh[zu] = '\0';
            break;
        }
        zu += (size_t)nz;
    }
    if (zu > 0 && zu + 4 < sizeof w->windows_zh)
        memcpy(w->windows_zh + zu, "号", sizeof "号");
    if (a != NULL && a->letter[0] != '\0') {
        snprintf(w->letter, sizeof w->letter, "%s", a->letter);
    } else {
        size_t n = 0;
        while (n + 1 < sizeof w->letter && t->number[n] >= 'A' && t->number[n] <= 'Z')
            n++;
        memcpy(w->letter, t->number, n);
        w->letter[n] = '\0';
    }
    ticket_url(k, t, w->url, sizeof w->url);
}

/* The area a green ticket of the consult desk was asked for, NULL for any
 * other ticket: the citizen goes to the desk first, then to that area. */
static const struct area *consult_area_of(kiosk *k, const kflow_ticket *t)
{
    if (!t->green || k->consult_token == 0 || k->consult_token != k->flow.token)
        return NULL;
    return area_of(k, k->consult_for);
}

static int ticket_json(kiosk *k, buf *out)
{
    const kflow_ticket *t = &k->flow.ticket;
    const struct area *a = area_of(k, t->area);
    struct ticket_words w;
    char when[32] = "";
    clk_civil c;

    ticket_words_of(k, t, &w);
    clk_to_civil(k->zone, t->issued_ms, &c);
    snprintf(when, sizeof when, "%04d-%02d-%02d %02d:%02d", c.year, c.month, c.day, c.hour,
             c.minute);
    if (json_raw(out, "{\"number\":") < 0 || json_str(out, t->number) < 0 ||
        json_raw(out, ",\"letter\":") < 0 || json_str(out, w.letter) < 0 ||
        json_raw(out, ",\"area\":") < 0 || json_str(out, t->area) < 0 ||
        json_raw(out, ",\"area_name\":") < 0 || json_str(out, a ? a->name : t->area) < 0 ||
        json_raw(out, ",\"area_name_en\":") < 0 || json_str(out, a ? a->name_en : "") < 0 ||
        json_raw(out, ",\"windows\":[") < 0)
        return -1;
    for (size_t i = 0; a != NULL && i < a->nwindows; i++)
        if (json_raw(out, "%s%u", i ? "," : "", a->windows[i]) < 0)
            return -1;
    if (json_raw(out, "],\"appointment\":%s,\"green\":%s", t->appointment ? "true" : "false",
                 t->green ? "true" : "false") < 0 ||
        (t->ahead >= 0 ? json_raw(out, ",\"ahead\":%d", t->ahead)
                       : json_raw(out, ",\"ahead\":null")) < 0 ||
        (t->est_wait_s >= 0 ? json_raw(out, ",\"est_wait_s\":%d", t->est_wait_s)
                            : json_raw(out, ",\"est_wait_s\":null")) < 0 ||
        json_raw(out, ",\"wait_zh\":") < 0 || json_str(out, w.wait_zh) < 0 ||
        json_raw(out, ",\"wait_en\":") < 0 || json_str(out, w.wait_en) < 0 ||
        json_raw(out, ",\"rule_zh\":") < 0 || json_str(out, w.rule_zh) < 0 ||
        json_raw(out, ",\"rule_en\":") < 0 || json_str(out, w.rule_en) < 0 ||
        json_raw(out, ",\"offline\":%s,\"masked_name\":", t->offline ? "true" : "false") < 0 ||
        json_str(out, t->masked_name) < 0 || json_raw(out, ",\"issued_at\":") < 0 ||
        json_str(out, when) < 0 || json_raw(out, ",\"qr_text\":") < 0 || json_str(out, w.url) < 0 ||
        ticket_words_json(k, t, out) < 0 || json_raw(out, ",\"consult_for\":") < 0)
        return -1;
    const struct area *desk_for = consult_area_of(k, t);
    if (desk_for == NULL
            ? json_raw(out, "null") < 0
            : json_raw(out, "{\"code\":") < 0 || json_str(out, desk_for->code) < 0 ||
                  json_raw(out, ",\"name\":") < 0 || json_str(out, desk_for->name) < 0 ||
                  json_raw(out, ",\"name_en\":") < 0 || json_str(out, desk_for->name_en) < 0 ||
                  json_raw(out, "}") < 0)
        return -1;
    if ((w.url[0] != '\0'
             ? json_raw(out, ",\"qr\":\"/ticket-qr.svg?seq=%llu\"}", (unsigned long long)k->seq)
             : json_raw(out, ",\"qr\":\"\"}")) < 0)
        return -1;
    return 0;
}

static const char *const green_mode_names[] = {"off", "issue", "consult"};

/* The mine screen's ticket state, as the model names it. */
static const char *mine_state_name(int state)
{
    switch (state) {
    case HALL__TICKET_STATE__TICKET_RESERVED:
    case HALL__TICKET_STATE__TICKET_WAITING:
        return "waiting";
    case HALL__TICKET_STATE__TICKET_CALLED:
        return "called";
    case HALL__TICKET_STATE__TICKET_SERVING:
        return "serving";
    case HALL__TICKET_STATE__TICKET_NO_SHOW:
        return "no_show";
    case HALL__TICKET_STATE__TICKET_DONE:
        return "done";
    case HALL__TICKET_STATE__TICKET_CANCELLED:
        return "cancelled";
    case HALL__TICKET_STATE__TICKET_HOLD:
        return "hold";
    default:
        return "void";
    }
}

/* What the bearer may do with the ticket on the mine screen: cancel it
 * (halld's check came back matching, and no window is calling or serving
 * it), or rejoin (missed, within the rejoin time). */
static bool mine_can_rejoin(const kiosk *k)
{
    return k->mine.known && k->mine.state == HALL__TICKET_STATE__TICKET_NO_SHOW &&
           k->mine.rejoin_until_ms > hall_now(k);
}

/* A state the kiosk may cancel in: waiting, held, or missed while it may
 * still rejoin; never while a window calls or serves it. */
static bool mine_cancellable(const kiosk *k)
{
    int s = k->mine.state;

    return k->mine.known &&
           (s == HALL__TICKET_STATE__TICKET_WAITING || s == HALL__TICKET_STATE__TICKET_HOLD ||
            (s == HALL__TICKET_STATE__TICKET_NO_SHOW && mine_can_rejoin(k)));
}

static bool mine_can_cancel(const kiosk *k)
{
    return mine_cancellable(k) && k->mine.check[0] != '\0';
}

/* Cancellable, but typed without its check code: the page asks for the
 * code printed on the ticket. */
static bool mine_cancel_needs_check(const kiosk *k)
{
    return mine_cancellable(k) && k->mine.check[0] == '\0';
}

static int mine_json(kiosk *k, buf *out)
{
    const struct area *a = area_of(k, k->mine.area);
    char until[16] = "";

    if (!k->mine.known)
        return json_raw(out, "null");
    if (mine_can_rejoin(k)) {
        clk_civil c;
        clk_to_civil(k->zone, k->mine.rejoin_until_ms, &c);
        snprintf(until, sizeof until, "%02d:%02d", c.hour, c.minute);
    }
    if (json_raw(out, "{\"number\":") < 0 || json_str(out, k->mine.number) < 0 ||
        json_raw(out, ",\"state\":\"%s\",\"area_name\":", mine_state_name(k->mine.state)) < 0 ||
        json_str(out, a ? a->name : k->mine.area) < 0 || json_raw(out, ",\"area_name_en\":") < 0 ||
        json_str(out, a ? a->name_en : "") < 0 ||
        (k->mine.ahead >= 0 ? json_raw(out, ",\"ahead\":%d", k->mine.ahead)
                            : json_raw(out, ",\"ahead\":null")) < 0 ||
        json_raw(out,
                 ",\"can_cancel\":%s,\"cancel_needs_check\":%s,\"can_rejoin\":%s,"
                 "\"rejoin_until\":",
                 mine_can_cancel(k) ? "true" : "false",
                 mine_cancel_needs_check(k) ? "true" : "false",
                 mine_can_rejoin(k) ? "true" : "false") < 0 ||
        json_str(out, until) < 0 || json_raw(out, "}") < 0)
        return -1;
    return 0;
}

/* The model's keys of the citizen's screens: matter_step, green, chosen
 * and matters (the matter screen), mine (docs/kiosk.md). */
static int citizen_json(kiosk *k, kflow_screen screen, buf *out)
{
    const struct area *a = screen == KF_SCREEN_MATTER ? area_of(k, k->chosen) : NULL;
    int mode = k->conf->green_mode;

    if (json_raw(out, ",\"matter_step\":%s,\"green\":{\"enabled\":%s,\"mode\":\"%s\"}",
                 k->conf->matter_step ? "true" : "false",
                 mode != KIOSK_GREEN_OFF ? "true" : "false",
                 mode == KIOSK_GREEN_OFF ? "issue" : green_mode_names[mode]) < 0 ||
        json_raw(out, ",\"chosen\":") < 0)
        return -1;
    if (a == NULL) {
        if (json_raw(out, "null") < 0)
            return -1;
    } else if (json_raw(out, "{\"code\":") < 0 || json_str(out, a->code) < 0 ||
               json_raw(out, ",\"name\":") < 0 || json_str(out, a->name) < 0 ||
               json_raw(out, ",\"name_en\":") < 0 || json_str(out, a->name_en) < 0 ||
               json_raw(out, ",\"letter\":") < 0 || json_str(out, a->letter) < 0 ||
               json_raw(out, "}") < 0) {
        return -1;
    }
    if (json_raw(out, ",\"matters\":[") < 0)
        return -1;
    for (size_t i = 0; a != NULL && i < a->nmatters; i++) {
        const struct kmatter *m = &a->matters[i];
        if (json_raw(out, "%s{\"code\":", i ? "," : "") < 0 || json_str(out, m->code) < 0 ||
            json_raw(out, ",\"name\":") < 0 || json_str(out, m->name) < 0 ||
            json_raw(out, ",\"name_en\":") < 0 || json_str(out, m->name_en) < 0 ||
            json_raw(out, ",\"materials\":") < 0 || materials_json(m, out) < 0 ||
            json_raw(out, "}") < 0)
            return -1;
    }
    if (json_raw(out, "],\"mine\":") < 0 ||
        (screen == KF_SCREEN_MINE ? mine_json(k, out) : json_raw(out, "null")) < 0)
        return -1;
    return 0;
}

int kiosk_ticket_qr_svg(kiosk *k, buf *out)
{
    struct ticket_words w;

    if (kflow_screen_of(&k->flow) != KF_SCREEN_TICKET) {
        errno = ENOENT;
        return -1;
    }
    ticket_words_of(k, &k->flow.ticket, &w);
    if (w.url[0] == '\0') {
        errno = ENOENT;
        return -1;
    }
    return kqr_svg(w.url, out);
}

/* The model's keys of the kiosk's core: which error and closed picture,
 * the appointment keypad (the codes hallctl books, apptcode.h), the long
 * poll's hold (the page's out-of-service timer) and the card screen's
 * mode. */
static int core_json(const kiosk *k, kflow_screen screen, buf *out)
{
    return json_raw(out,
                    ",\"error_kind\":\"%s\",\"closed_kind\":\"%s\",\"keypad\":{\"alphabet\":\"%s\","
                    "\"min\":%d,\"max\":%d},\"hold_s\":%lld,\"card_check_in\":%s",
                    screen == KF_SCREEN_ERROR ? kflow_error_kind_name(k->flow.error_kind) : "",
                    screen == KF_SCREEN_CLOSED ? k->closed_kind : "", APPTCODE_ALPHABET,
                    APPTCODE_MIN, APPTCODE_MAX, (long long)((k->conf->page_hold_ms + 999) / 1000),
                    k->flow.state == KF_CARD && k->flow.check_in ? "true" : "false");
}

int kiosk_state_json(kiosk *k, buf *out)
{
    kflow_screen screen = kflow_screen_of(&k->flow);
    const char *zh = "", *en = "";
    long left = kstore_lease_left(k->store, NULL, hall_now(k));

    if (screen == KF_SCREEN_ERROR) {
        zh = k->flow.msg_zh;
        en = k->flow.msg_en;
    } else if (screen == KF_SCREEN_CLOSED) {
        zh = k->flow.closed_zh;
        en = k->flow.closed_en;
    } else if (screen == KF_SCREEN_WORKING) {
        zh = "正在出票…";
        en = "Printing your ticket…";
    } else if (screen == KF_SCREEN_MINE) {
        zh = k->mine.zh;
        en = k->mine.en;
    }
    if (json_raw(out, "{\"seq\":%llu,\"screen\":\"%s\",\"hall\":", (unsigned long long)k->seq,
                 kflow_screen_name(screen)) < 0 ||
        json_str(out, k->hall_name) < 0 || json_raw(out, ",\"kiosk\":") < 0 ||
        json_str(out, k->conf->id) < 0 ||
        json_raw(out, ",\"link\":\"%s\",\"printer\":\"%s\",\"reader\":\"%s\"",
                 k->online ? "online" : "offline", k->printer_word,
                 k->reader_online ? "ok" : "offline") < 0 ||
        json_raw(out, ",") < 0 ||
        (k->bus != NULL ? kbus_state_json(k->bus, out) : json_raw(out, "\"bus\":null")) < 0 ||
        (left > 0 ? json_raw(out, ",\"lease_left\":%ld", left)
                  : json_raw(out, ",\"lease_left\":null")) < 0 ||
        json_raw(out, ",\"areas\":[") < 0)
        return -1;
    for (size_t i = 0; i < k->nareas; i++) {
        const struct area *a = &k->areas[i];
        if (json_raw(out, "%s{\"code\":", i ? "," : "") < 0 || json_str(out, a->code) < 0 ||
            json_raw(out, ",\"name\":") < 0 || json_str(out, a->name) < 0 ||
            json_raw(out, ",\"letter\":") < 0 || json_str(out, a->letter) < 0 ||
            json_raw(out, ",\"name_en\":") < 0 || json_str(out, a->name_en) < 0 ||
            json_raw(out, ",\"matters\":%zu", a->nmatters) < 0 ||
            json_raw(out, ",\"waiting\":%u,\"est_wait_s\":%u,\"general\":%s", a->waiting,
                     a->est_wait_s, strcmp(a->code, k->general) == 0 ? "true" : "false") < 0 ||
            area_hours_json(a, out) < 0 || json_raw(out, "}") < 0)
            return -1;
    }
    if (json_raw(out, "]") < 0 || hours_json(k, out) < 0 || citizen_json(k, screen, out) < 0 ||
        json_raw(out, ",\"ticket\":") < 0 ||
        (screen == KF_SCREEN_TICKET ? ticket_json(k, out) : json_raw(out, "null")) < 0 ||
        json_raw(out, ",\"message\":") < 0 || json_str(out, zh) < 0 ||
        json_raw(out, ",\"message_en\":") < 0 || json_str(out, en) < 0 ||
        json_raw(out, ",\"idle_after_s\":%d", kflow_idle_after_s(&k->flow, ev_now(k->loop))) < 0 ||
        core_json(k, screen, out) < 0 || json_raw(out, "}") < 0)
        return -1;
    return 0;
}

/* ---- requests to halld --------------------------------------------------- */

/* Send req to halld under request id rid (0: a fresh one) and remember
 * what it was for. NULL (logged) when it cannot be sent: the table is
 * checked first, so nothing goes out that could not be routed back. */
static struct pending *send_req(kiosk *k, Hall__Envelope *req, pending_kind kind, uint64_t rid)
{
    if (k->npend == PENDING_MAX) {
        log_error("cannot send %s to halld: too many requests in flight",
                  proto_body_name(req->body_case));
        return NULL;
    }
    rid = rid != 0 ? klink_send_as(k->link, req, rid) : klink_send(k->link, req);
    if (rid == 0) {
        log_error("cannot send %s to halld: %s", proto_body_name(req->body_case), strerror(errno));
        return NULL;
    }
    struct pending *p = &k->pend[k->npend++];
    memset(p, 0, sizeof *p);
    p->rid = rid;
    p->kind = kind;
    return p;
}

static bool take_pending(kiosk *k, uint64_t rid, struct pending *out)
{
    for (size_t i = 0; i < k->npend; i++)
        if (k->pend[i].rid == rid) {
            *out = k->pend[i];
            k->pend[i] = k->pend[--k->npend];
            return true;
        }
    return false;
}

static uint64_t next_id(void *arg);

/* Whether a PRINTED or VOID for ticket_id is in flight. */
static bool confirming(const kiosk *k, uint64_t ticket_id)
{
    for (size_t i = 0; i < k->npend; i++)
        if ((k->pend[i].kind == P_PRINTED || k->pend[i].kind == P_VOID) &&
            k->pend[i].ticket_id == ticket_id)
            return true;
    return false;
}

/* The stored confirmations not in flight are sent again after a backoff
 * (the tick) or with the next link, whichever comes first. */
static void confirm_later(kiosk *k)
{
    if (k->confirm_next != 0)
        return;
    k->confirm_next = ev_now(k->loop) + k->confirm_backoff_ms;
    k->confirm_backoff_ms =
        k->confirm_backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : k->confirm_backoff_ms * 2;
}

/* PRINTED (for a PRINTING ticket too: it may have printed) or VOID for
 * ticket t, recorded in the store with its request id before it is sent,
 * so a restart sends it again under the same id. rid 0: a fresh id. token
 * 0: not the flow's (a restart, a retry, a given-up request). */
static void confirm(kiosk *k, const kstore_ticket *t, uint64_t rid, uint64_t token)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Printed pr = HALL__PRINTED__INIT;
    Hall__VoidTicket vo;
    bool printed = t->state != KSTORE_TK_VOID;
    char why[sizeof t->reason];
    struct pending *p;

    if (rid == 0)
        rid = next_id(k);
    if (kstore_ticket_put(k->store, t->ticket_id, t->number,
                          printed ? KSTORE_TK_PRINTED : KSTORE_TK_VOID, t->reason, rid) < 0)
        log_error("store: %s (ticket %s: %s)", kstore_errmsg(k->store), t->number,
                  printed ? "printed" : "void");
    if (printed) {
        pr.ticket_id = t->ticket_id;
        env.body_case = HALL__ENVELOPE__BODY_PRINTED;
        env.printed = &pr;
    } else {
        hall__void_ticket__init(&vo);
        snprintf(why, sizeof why, "%s", t->reason);
        vo.ticket_id = t->ticket_id;
        vo.reason = why;
        env.body_case = HALL__ENVELOPE__BODY_VOID_TICKET;
        env.void_ticket = &vo;
    }
    if (rid == 0 || (p = send_req(k, &env, printed ? P_PRINTED : P_VOID, rid)) == NULL) {
        confirm_later(k);
        return;
    }
    p->token = token;
    p->ticket_id = t->ticket_id;
    snprintf(p->number, sizeof p->number, "%s", t->number);
}

/* The flow's ticket: PRINTED, or VOID with why. */
static void confirm_ticket(kiosk *k, const kflow_ticket *ft, bool printed, const char *why,
                           uint64_t token)
{
    kstore_ticket t = {.ticket_id = ft->id, .state = printed ? KSTORE_TK_PRINTED : KSTORE_TK_VOID};

    snprintf(t.number, sizeof t.number, "%s", ft->number);
    snprintf(t.reason, sizeof t.reason, "%s", why != NULL ? why : "");
    confirm(k, &t, 0, token);
}

/* The stored confirmations, gathered before any is sent (sending writes
 * the rows being read). */
struct unconfirmed {
    kiosk *k;
    kstore_ticket t[PENDING_MAX];
    size_t n;
};

static int gather_unconfirmed(void *arg, const kstore_ticket *t)
{
    struct unconfirmed *u = arg;

    if (!confirming(u->k, t->ticket_id))
        u->t[u->n++] = *t;
    return u->n == PENDING_MAX;
}

/* Send every stored confirmation that is not in flight: at start under
 * the ids they were sent with before (halld answers a retry as it did the
 * first time), later under fresh ones. */
static void confirm_stored(kiosk *k, bool at_start)
{
    struct unconfirmed *u = calloc(1, sizeof *u);

    k->confirm_next = 0;
    if (u == NULL) {
        log_error("cannot send the stored confirmations: %s", strerror(errno));
        confirm_later(k);
        return;
    }
    u->k = k;
    if (kstore_ticket_each(k->store, gather_unconfirmed, u) < 0) {
        log_error("store: %s", kstore_errmsg(k->store));
        confirm_later(k);
    }
    for (size_t i = 0; i < u->n; i++) {
        if (at_start)
            log_info("ticket %s: sending %s again after a restart", u->t[i].number,
                     u->t[i].state == KSTORE_TK_VOID ? "VOID" : "PRINTED");
        confirm(k, &u->t[i], at_start ? u->t[i].request_id : 0, 0);
    }
    free(u);
}

/* The refusals shown to staff: those of the last REFUSALS_SHOWN_MS. */
static void refresh_refusals(kiosk *k)
{
    int64_t since = hall_now(k) - REFUSALS_SHOWN_MS;
    char numbers[100];
    long n;

    if ((n = kstore_offline_refusals(k->store, since, numbers, sizeof numbers)) < 0)
        log_error("store: %s", kstore_errmsg(k->store));
    else if (n == 0)
        k->offline_refused[0] = '\0';
    else
        snprintf(k->offline_refused, sizeof k->offline_refused,
                 "%ld offline ticket%s refused by halld: %s", n, n > 1 ? "s" : "", numbers);
    if ((n = kstore_ticket_refusals(k->store, since, numbers, sizeof numbers)) < 0)
        log_error("store: %s", kstore_errmsg(k->store));
    else if (n == 0)
        k->printed_refused[0] = '\0';
    else
        snprintf(k->printed_refused, sizeof k->printed_refused,
                 "%ld printed ticket%s refused by halld: %s", n, n > 1 ? "s" : "", numbers);
}

static void ask_leases(kiosk *k)
{
    int64_t now = ev_now(k->loop), utc = hall_now(k);

    if (!k->online || k->shutting_down)
        return;
    for (size_t i = 0; i < k->nareas; i++) {
        struct area *a = &k->areas[i];
        long left = kstore_lease_left(k->store, a->code, utc);
        if (a->lease_asked || now < a->lease_next || left < 0 || left >= k->conf->low_water)
            continue;
        Hall__Envelope env = HALL__ENVELOPE__INIT;
        Hall__LeaseRequest lr;
        hall__lease_request__init(&lr);
        lr.area = a->code;
        lr.wanted = (uint32_t)k->conf->lease_size;
        env.body_case = HALL__ENVELOPE__BODY_LEASE_REQUEST;
        env.lease_request = &lr;
        struct pending *p = send_req(k, &env, P_LEASE, 0);
        if (p == NULL)
            return;
        snprintf(p->area, sizeof p->area, "%s", a->code);
        a->lease_asked = true;
    }
}

/* The next upload waits for the backoff (or the next link). */
static void upload_later(kiosk *k)
{
    k->upload_next = ev_now(k->loop) + k->upload_backoff_ms;
    k->upload_backoff_ms =
        k->upload_backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : k->upload_backoff_ms * 2;
}

/* Send the oldest PRINTED offline tickets, unless an upload is in flight
 * or waits for its backoff. */
static void upload(kiosk *k)
{
    kstore_offline rows[UPLOAD_MAX];
    Hall__OfflineTicket wire[UPLOAD_MAX], *ptrs[UPLOAD_MAX];
    Hall__OfflineUpload up = HALL__OFFLINE_UPLOAD__INIT;
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    int n;

    if (!k->online || k->nupload > 0 || k->upload_next != 0)
        return;
    if ((n = kstore_offline_pending(k->store, rows, UPLOAD_MAX)) <= 0) {
        if (n < 0)
            log_error("store: %s", kstore_errmsg(k->store));
        return;
    }
    for (int i = 0; i < n; i++) {
        hall__offline_ticket__init(&wire[i]);
        wire[i].area = rows[i].area;
        wire[i].number = rows[i].number;
        wire[i].seq = rows[i].seq;
        wire[i].issued_at_ms = rows[i].issued_ms;
        wire[i].priority = (Hall__Priority)rows[i].priority;
        if (rows[i].has_sealed) {
            wire[i].sealed_id.data = rows[i].sealed;
            wire[i].sealed_id.len = SEAL_LEN;
        }
        wire[i].masked_name = rows[i].masked_name;
        wire[i].matter = rows[i].matter;
        ptrs[i] = &wire[i];
        k->upload[i].id = rows[i].id;
        snprintf(k->upload[i].number, sizeof k->upload[i].number, "%s", rows[i].number);
    }
    up.n_tickets = (size_t)n;
    up.tickets = ptrs;
    env.body_case = HALL__ENVELOPE__BODY_OFFLINE_UPLOAD;
    env.offline_upload = &up;
    if (send_req(k, &env, P_UPLOAD, 0) != NULL) {
        k->nupload = (size_t)n;
        log_info("uploading %d offline ticket(s), first %s", n, rows[0].number);
    } else {
        upload_later(k);
    }
}

/* A refusal that may go away: halld cannot serve now (ERR_UNAVAILABLE),
 * or the request id was the trouble, not the request
 * (ERR_REQUEST_ID_REUSED). Sent again later, under a new id. Any other
 * refusal is halld's last word. */
static bool transient(Hall__ErrorCode code)
{
    return code == HALL__ERROR_CODE__ERR_UNAVAILABLE ||
           code == HALL__ERROR_CODE__ERR_REQUEST_ID_REUSED;
}

static const char *code_name(Hall__ErrorCode code)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&hall__error_code__descriptor, (int)code);

    return v != NULL ? v->name : "unknown error";
}

static const char *error_text(const Hall__Envelope *e)
{
    if (e->body_case != HALL__ENVELOPE__BODY_ERROR)
        return "an answer of the wrong kind";
    return e->error->message != NULL && e->error->message[0] != '\0' ? e->error->message
                                                                     : code_name(e->error->code);
}

/* halld's answer to the upload in flight: per ticket, joined (UPLOADED),
 * refused for good (REFUSED, shown to staff) or not now (stays PRINTED,
 * sent again after a backoff). A refused ticket never holds back the
 * others: it is no longer PRINTED, so the next upload goes on without
 * it. */
static void upload_answered(kiosk *k, const Hall__Envelope *e)
{
    const Hall__OfflineUploadReply *r =
        e->body_case == HALL__ENVELOPE__BODY_OFFLINE_UPLOAD_REPLY ? e->offline_upload_reply : NULL;
    kstore_offline_result res[UPLOAD_MAX];
    char reasons[UPLOAD_MAX][200];
    size_t n = k->nupload, nres = 0, joined = 0, refused = 0, later = 0;

    k->nupload = 0;
    for (size_t i = 0; r != NULL && i < r->n_results && i < n; i++)
        if (r->results[i]->number == NULL || strcmp(r->results[i]->number, k->upload[i].number))
            r = NULL;
    if (r == NULL || r->n_results != n) {
        log_error("offline upload of %zu ticket(s) not taken: %s; sent again later", n,
                  r == NULL && e->body_case == HALL__ENVELOPE__BODY_ERROR
                      ? error_text(e)
                      : "halld's answer does not match it");
        upload_later(k);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const Hall__OfflineResult *o = r->results[i];

        if (o->code == HALL__ERROR_CODE__ERR_NONE && o->ticket_id != 0) {
            res[nres++] = (kstore_offline_result){k->upload[i].id, KSTORE_OFF_UPLOADED, ""};
            joined++;
        } else if (o->code == HALL__ERROR_CODE__ERR_NONE || transient(o->code)) {
            log_warn("offline ticket %s not taken now (%s); sent again later", o->number,
                     o->message != NULL && o->message[0] ? o->message : code_name(o->code));
            later++;
        } else {
            snprintf(reasons[i], sizeof reasons[i], "%s: %s", code_name(o->code),
                     o->message != NULL ? o->message : "");
            res[nres++] = (kstore_offline_result){k->upload[i].id, KSTORE_OFF_REFUSED, reasons[i]};
            log_error("offline ticket %s refused by halld for good: %s; the citizen holds a "
                      "ticket that will not be called",
                      o->number, reasons[i]);
            refused++;
        }
    }
    if (kstore_offline_settle(k->store, res, nres, hall_now(k)) < 0) {
        log_error("store: %s", kstore_errmsg(k->store));
        upload_later(k);
        return;
    }
    if (joined > 0)
        log_info("%zu offline ticket(s) joined the queue", joined);
    if (refused > 0)
        refresh_refusals(k);
    if (later > 0) {
        upload_later(k);
        return;
    }
    k->upload_backoff_ms = RETRY_MIN_MS;
    upload(k);
}

/* halld's refusal of an ISSUE as the citizen reads it: halld's Chinese
 * sentence when it sends one (message_zh), else one for its code; the
 * English from halld's message only when there is a Chinese one from
 * halld too (its message is otherwise written for the log). The picture
 * follows the code. */
static kflow_error_kind error_sentences(const Hall__Envelope *e, char *zh, char *en, size_t len)
{
    const Hall__Error *err = e->body_case == HALL__ENVELOPE__BODY_ERROR ? e->error : NULL;
    Hall__ErrorCode code = err != NULL ? err->code : HALL__ERROR_CODE__ERR_INTERNAL;
    kflow_error_kind kind = KF_ERR_REFUSED;
    const char *z, *n;

    switch (code) {
    case HALL__ERROR_CODE__ERR_NOT_FOUND:
        z = "没有找到该预约或业务，请核对后重试";
        n = "No such appointment or service; please check and try again";
        break;
    case HALL__ERROR_CODE__ERR_ILLEGAL_STATE:
        z = "该预约已签到，请勿重复取号";
        n = "This appointment is already checked in; no second ticket is needed";
        break;
    case HALL__ERROR_CODE__ERR_AREA_CLOSED:
        kind = KF_ERR_HOURS;
        z = "该业务现在不在办理时间，请在办理时间内取号";
        n = "This service is closed now; please come back during its hours";
        break;
    case HALL__ERROR_CODE__ERR_UNSTAFFED:
        kind = KF_ERR_HOURS;
        z = "该业务暂无窗口办理，请稍后再取号或咨询工作人员";
        n = "No window serves this now; please try later or ask the staff";
        break;
    case HALL__ERROR_CODE__ERR_CITIZEN_LIMIT:
        kind = KF_ERR_LIMIT;
        z = "您在该业务已有号码，请等候叫号";
        n = "You already hold a number for this service; please wait for your call";
        break;
    case HALL__ERROR_CODE__ERR_BAD_REQUEST:
        z = "身份证信息无法使用，请直接取号或联系工作人员";
        n = "The request could not be used; please take a number by touch or ask the staff";
        break;
    default:
        z = "暂时无法取号，请稍后重试或联系工作人员";
        n = "No ticket could be issued; please try again or ask the staff";
        break;
    }
    if (err != NULL && err->message_zh != NULL && err->message_zh[0] != '\0') {
        snprintf(zh, len, "%s", err->message_zh);
        snprintf(en, len, "%s", err->message != NULL && err->message[0] != '\0' ? err->message : n);
    } else {
        snprintf(zh, len, "%s", z);
        snprintf(en, len, "%s", n);
    }
    return kind;
}

static void ticket_from_wire(const Hall__Ticket *w, kflow_ticket *t)
{
    memset(t, 0, sizeof *t);
    t->id = w->id;
    snprintf(t->number, sizeof t->number, "%s", w->number ? w->number : "");
    snprintf(t->area, sizeof t->area, "%s", w->area ? w->area : "");
    t->ahead = (int)w->people_ahead;
    t->est_wait_s = (int)w->est_wait_s;
    t->offline = w->offline;
    snprintf(t->masked_name, sizeof t->masked_name, "%s", w->masked_name ? w->masked_name : "");
    t->issued_ms = w->issued_at_ms;
    snprintf(t->matter, sizeof t->matter, "%s", w->matter ? w->matter : "");
    snprintf(t->check, sizeof t->check, "%s", w->check ? w->check : "");
    t->appointment = w->priority == HALL__PRIORITY__PRIORITY_APPOINTMENT;
    t->green = w->priority == HALL__PRIORITY__PRIORITY_GREEN;
}

static void issue_answered(kiosk *k, const struct pending *p, const Hall__Envelope *e)
{
    int64_t now = ev_now(k->loop);
    kflow_cmd cmd;
    kflow_ticket t;

    if (e->body_case != HALL__ENVELOPE__BODY_ISSUE_REPLY || e->issue_reply->ticket == NULL) {
        char zh[KF_TEXT_MAX], en[KF_TEXT_MAX];
        kflow_error_kind kind = error_sentences(e, zh, en, sizeof zh);
        log_warn("ISSUE refused: %s", error_text(e));
        kflow_refused_as(&k->flow, p->token, kind, zh, en, now);
        return;
    }
    ticket_from_wire(e->issue_reply->ticket, &t);
    if (!kflow_issued(&k->flow, p->token, &t, now, &cmd)) {
        /* The flow gave this request up (offline ticket instead): halld's
         * ticket is never printed, so it is voided. */
        log_info("ticket %s came after its request was given up: voiding it", t.number);
        confirm_ticket(k, &t, false, "request given up by the kiosk", 0);
        return;
    }
    if (t.area[0] != '\0' && k->general[0] == '\0' && p->area[0] == '\0')
        snprintf(k->general, sizeof k->general, "%s", t.area);
    /* Printed however late: halld takes a reservation that ran out back
     * when the PRINTED comes (with its first issue time). */
    int64_t over = hall_now(k) - e->issue_reply->reserve_expires_ms;
    if (e->issue_reply->reserve_expires_ms != 0 && over >= 0)
        log_info("ticket %s: its reservation ran out %lld s ago; printed all the same", t.number,
                 (long long)(over / 1000));
    execute(k, &cmd);
}

/* halld's answer to a PRINTED or VOID: done, not now (the row stays and
 * is sent again later), or refused for good (the row ends; a printed
 * ticket halld will not call is shown to staff). */
static void confirmation_answered(kiosk *k, const struct pending *p, const Hall__Envelope *e)
{
    const char *what = p->kind == P_PRINTED ? "PRINTED" : "VOID";
    bool done = true;

    if (e->body_case == HALL__ENVELOPE__BODY_TICKET_REPLY) {
        k->confirm_backoff_ms = RETRY_MIN_MS;
    } else if (e->body_case != HALL__ENVELOPE__BODY_ERROR || transient(e->error->code)) {
        log_warn("%s for ticket %s not taken now (%s); sent again later", what, p->number,
                 error_text(e));
        done = false;
        confirm_later(k);
    } else if (e->error->code == HALL__ERROR_CODE__ERR_ANSWER_DROPPED) {
        log_warn("%s for ticket %s was carried out, its answer is lost: %s", what, p->number,
                 error_text(e));
    } else if (p->kind == P_PRINTED) {
        char reason[200];
        snprintf(reason, sizeof reason, "%s: %s", code_name(e->error->code), error_text(e));
        log_error("ticket %s was printed but halld refused it for good (%s): the citizen holds a "
                  "ticket that will not be called",
                  p->number, reason);
        if (kstore_ticket_refuse(k->store, p->ticket_id, reason, hall_now(k)) < 0)
            log_error("store: %s", kstore_errmsg(k->store));
        refresh_refusals(k);
        done = false;
    } else {
        log_warn("VOID for ticket %s refused: %s", p->number, error_text(e));
    }
    if (done && kstore_ticket_done(k->store, p->ticket_id) < 0)
        log_error("store: %s", kstore_errmsg(k->store));
    if (p->token != 0)
        kflow_confirmed(&k->flow, p->token, ev_now(k->loop));
}

static void on_answer(void *arg, uint64_t rid, const Hall__Envelope *e)
{
    kiosk *k = arg;
    struct pending p;

    if (!take_pending(k, rid, &p))
        return;
    switch (p.kind) {
    case P_ISSUE:
        issue_answered(k, &p, e);
        break;
    case P_PRINTED:
    case P_VOID:
        confirmation_answered(k, &p, e);
        break;
    case P_LEASE: {
        struct area *a = area_of(k, p.area);
        if (a != NULL)
            a->lease_asked = false;
        if (e->body_case != HALL__ENVELOPE__BODY_LEASE_GRANT) {
            log_warn("lease for area %s refused: %s", p.area,
                     e->body_case == HALL__ENVELOPE__BODY_ERROR ? e->error->message : "?");
            if (a != NULL)
                a->lease_next = ev_now(k->loop) + LEASE_RETRY_MS;
            break;
        }
        const Hall__LeaseGrant *g = e->lease_grant;
        kstore_lease l = {0};
        snprintf(l.area, sizeof l.area, "%s", g->area);
        snprintf(l.prefix, sizeof l.prefix, "%s", g->prefix);
        l.first = g->first;
        l.count = g->count;
        l.day = g->business_day;
        l.expires_ms = g->expires_ms;
        if (kstore_lease_put(k->store, &l) < 0)
            log_error("store: %s", kstore_errmsg(k->store));
        else
            log_info("lease for area %s: %s%u.. (%u numbers)", l.area, l.prefix, l.first, l.count);
        /* A grant smaller than the low-water mark is not asked for again
         * at once. */
        if (a != NULL && g->count < (uint32_t)k->conf->low_water)
            a->lease_next = ev_now(k->loop) + LEASE_RETRY_MS;
        changed(k);
        break;
    }
    case P_UPLOAD:
        upload_answered(k, e);
        break;
    case P_QUERY:
    case P_CANCEL:
    case P_REJOIN:
        mine_answered(k, p.kind, e);
        break;
    case P_STATUS:
        if (e->body_case != HALL__ENVELOPE__BODY_DEVICE_STATUS_REPLY)
            log_warn("device status refused: %s",
                     e->body_case == HALL__ENVELOPE__BODY_ERROR ? e->error->message : "?");
        break;
    }
    sync_model(k);
}

/* ---- the link ------------------------------------------------------------- */

static uint64_t next_id(void *arg)
{
    kiosk *k = arg;
    uint64_t id = kstore_next_request_id(k->store);

    if (id == 0)
        log_error("store: %s", kstore_errmsg(k->store));
    return id;
}

static void on_up(void *arg, const Hall__HelloReply *r)
{
    kiosk *k = arg;
    kflow_cmd cmd;

    log_info("link to halld up (hall %s, %s)", r->hall_id, r->hall_name);
    snprintf(k->hall_name, sizeof k->hall_name, "%s", r->hall_name);
    k->rejoin_s = r->rejoin_s;
    k->max_recalls = r->max_recalls;
    k->rule_known = true;
    k->online = true;
    k->upload_next = 0; /* a new link: no backoff left to wait for */
    k->upload_backoff_ms = RETRY_MIN_MS;
    k->health_sent[0] = '\0'; /* halld hears the kiosk's health on every link */
    for (size_t i = 0; i < k->nareas; i++)
        k->areas[i].lease_asked = false;
    /* Lease requests of the last link that went unanswered were dropped
     * with it: klink resends every request, so their entries stay. */
    for (size_t i = 0; i < k->npend; i++)
        if (k->pend[i].kind == P_LEASE) {
            struct area *a = area_of(k, k->pend[i].area);
            if (a != NULL)
                a->lease_asked = true;
        }
    kflow_link(&k->flow, true, ev_now(k->loop), &cmd);
    execute(k, &cmd);
    confirm_stored(k, false);
    upload(k);
    ask_leases(k);
    changed(k);
    sync_model(k);
}

/* Whether the skew is one to report, and the log line when that changes:
 * once per change, not per heartbeat. */
static void check_skew(kiosk *k)
{
    int64_t off = k->clock_offset_ms;
    char sentence[HEALTH_DETAIL_MAX];

    if (llabs(off) <= k->conf->clock_skew_warn_ms) {
        if (k->skew_shown_ms != 0)
            log_info("clock: kiosk clock within %lld s of halld's again",
                     (long long)((llabs(off) + 999) / 1000));
        k->skew_shown_ms = 0;
        return;
    }
    if (k->skew_shown_ms != 0 && llabs(off - k->skew_shown_ms) < SKEW_STEP_MS)
        return;
    k->skew_shown_ms = off;
    skew_sentence(off, sentence, sizeof sentence);
    log_warn("clock: %s (more than [halld] clock_skew_warn); the kiosk uses halld's time",
             sentence);
}

/* klink measured halld's clock: use it from now on, keep it in the store
 * (when it moved) for a restart without halld. */
static void on_clock(void *arg, int64_t offset_ms, int64_t rtt_ms)
{
    kiosk *k = arg;

    log_debug("clock: halld's is %+lld ms from the kiosk's (round trip %lld ms)",
              (long long)offset_ms, (long long)rtt_ms);
    k->clock_offset_ms = offset_ms;
    if (!k->clock_stored || llabs(offset_ms - k->clock_stored_ms) >= CLOCK_STORE_STEP_MS) {
        if (kstore_clock_offset_put(k->store, offset_ms) < 0) {
            log_error("store: %s", kstore_errmsg(k->store));
        } else {
            k->clock_stored = true;
            k->clock_stored_ms = offset_ms;
        }
    }
    check_skew(k);
    sync_model(k);
}

static void on_down(void *arg, const char *reason)
{
    kiosk *k = arg;
    kflow_cmd cmd;

    if (!k->online)
        return;
    log_warn("link to halld down: %s; tickets come from the offline lease", reason);
    k->online = false;
    kflow_link(&k->flow, false, ev_now(k->loop), &cmd);
    execute(k, &cmd);
    changed(k);
    sync_model(k);
}

static void matters_free(struct area *a)
{
    for (size_t i = 0; i < a->nmatters; i++)
        free(a->matters[i].materials);
    free(a->matters);
    a->matters = NULL;
    a->nmatters = 0;
}

/* An area's English name and (when the push carries them) its
 * matters from halld's AreaStatus. A matter list that cannot be held
 * leaves the area without one: its tile takes a ticket at once. */
static void area_words(struct area *a, const Hall__AreaStatus *s)
{
    snprintf(a->name_en, sizeof a->name_en, "%s", s->name_en ? s->name_en : "");
    if (!s->matters_sent)
        return;
    struct kmatter *v = s->n_matters ? calloc(s->n_matters, sizeof *v) : NULL;
    size_t n = 0;
    for (size_t i = 0; v != NULL && i < s->n_matters; i++) {
        const Hall__MatterInfo *m = s->matters[i];
        size_t len = 1;
        for (size_t j = 0; j < m->n_materials; j++)
            len += strlen(m->materials[j]) + 1;
        struct kmatter *x = &v[n];
        if (m->code == NULL || strlen(m->code) >= sizeof x->code ||
            (x->materials = calloc(1, len)) == NULL)
            continue;
        snprintf(x->code, sizeof x->code, "%s", m->code);
        snprintf(x->name, sizeof x->name, "%s", m->name ? m->name : m->code);
        snprintf(x->name_en, sizeof x->name_en, "%s", m->name_en ? m->name_en : "");
        for (size_t j = 0; j < m->n_materials; j++) {
            if (j > 0)
                strcat(x->materials, "\n");
            strcat(x->materials, m->materials[j]);
        }
        n++;
    }
    if (v == NULL && s->n_matters > 0)
        log_warn("area %s: out of memory for its matters", s->area);
    /* kept[] holds the old list's pointer: on_push frees what no area
     * keeps. */
    a->matters = v;
    a->nmatters = n;
}

/* The windows serving an area, for the ticket. */
static void area_ticket_info(struct area *a, const Hall__AreaStatus *s)
{
    a->nwindows = 0;
    for (size_t i = 0; i < s->n_window_nos && a->nwindows < AREA_WINDOWS_MAX; i++)
        a->windows[a->nwindows++] = s->window_nos[i];
}

/* What halld says of an area's hours and windows. */
static void area_hours_from_wire(struct area *a, const Hall__AreaStatus *s)
{
    snprintf(a->letter, sizeof a->letter, "%s", s->prefix != NULL ? s->prefix : "");
    a->closed = s->closed;
    snprintf(a->opens_zh, sizeof a->opens_zh, "%s", s->opens_zh != NULL ? s->opens_zh : "");
    snprintf(a->opens_en, sizeof a->opens_en, "%s", s->opens_en != NULL ? s->opens_en : "");
    a->windows_open = s->windows_open;
    a->issue_unstaffed = s->issue_unstaffed;
    a->unstaffed_rule = s->unstaffed_rule;
}

static void on_push(void *arg, const Hall__DisplayPush *p)
{
    kiosk *k = arg;

    /* A push that carries areas carries all of them (a snapshot, or a
     * delta after they may have changed): the kiosk offers exactly those
     * not retired, keeping what it knows of each (its lease requests). */
    if (p->n_areas > 0 || p->snapshot) {
        struct area kept[AREAS_MAX];
        size_t n = 0;

        for (size_t i = 0; i < p->n_areas && n < AREAS_MAX; i++) {
            const Hall__AreaStatus *s = p->areas[i];
            const struct area *old = area_of(k, s->area);

            if (s->retired)
                continue;
            if (old != NULL) {
                kept[n] = *old;
            } else {
                memset(&kept[n], 0, sizeof kept[n]);
                snprintf(kept[n].code, sizeof kept[n].code, "%s", s->area);
            }
            if (s->name != NULL && s->name[0] != '\0')
                snprintf(kept[n].name, sizeof kept[n].name, "%s", s->name);
            area_words(&kept[n], s);
            area_ticket_info(&kept[n], s);
            kept[n].waiting = s->waiting;
            kept[n].est_wait_s = s->est_wait_s;
            area_hours_from_wire(&kept[n], s);
            n++;
        }
        /* The matters of areas no longer offered go with them. */
        for (size_t i = 0; i < k->nareas; i++) {
            bool still = false;
            for (size_t j = 0; j < n && !still; j++)
                still = kept[j].matters == k->areas[i].matters;
            if (!still)
                matters_free(&k->areas[i]);
        }
        memcpy(k->areas, kept, n * sizeof kept[0]);
        k->nareas = n;
    }
    if (k->bus != NULL)
        kbus_push(k->bus, p);
    ask_leases(k);
    changed(k);
    sync_model(k);
}

/* ---- devices -------------------------------------------------------------- */

/* The bus's health changed: the screen model's "bus" field. */
static void bus_changed(void *arg)
{
    kiosk *k = arg;

    changed(k);
    sync_model(k);
}

static const char *printer_word(const escpos_status *s)
{
    uint32_t f = s->flags;

    if (f & (ESCPOS_ST_PAPER_OUT | ESCPOS_ST_PAPER_STOP))
        return "paper_out";
    if (f & ESCPOS_ST_COVER_OPEN)
        return "cover_open";
    if (f & ESCPOS_ST_BLOCKING)
        return "offline";
    if (f & ESCPOS_ST_PAPER_NEAR_END)
        return "near_end";
    return "ok";
}

static void on_printer_state(printer *p, const escpos_status *state, uint32_t events, void *arg)
{
    kiosk *k = arg;
    const char *word = printer_word(state);

    if (strcmp(word, k->printer_word) != 0) {
        /* Logged here; sync_model() tells halld (DEVICE_STATUS). */
        if (strcmp(word, "ok") == 0)
            log_info("printer: ready");
        else
            log_warn("printer: %s", word);
        k->printer_word = word;
        changed(k);
    }
    sync_model(k);
}

/* Why a ticket did not print, as the citizen reads it. */
static void printer_words(printer_result r, const char **zh, const char **en)
{
    switch (r) {
    case PRINTER_PAPER_OUT:
        *zh = "打印纸用完";
        *en = "the printer is out of paper";
        break;
    case PRINTER_COVER_OPEN:
        *zh = "打印机盖未关好";
        *en = "the printer's cover is open";
        break;
    case PRINTER_TIMEOUT:
        *zh = "打印机没有响应";
        *en = "the printer did not answer";
        break;
    default:
        *zh = "打印机故障";
        *en = "printer fault";
        break;
    }
}

static void on_printed(printer *p, uint64_t job_id, printer_result result, const char *detail,
                       void *arg)
{
    kiosk *k = arg;
    kflow_cmd cmd;

    if (!k->cur.printing || job_id != k->cur.job_id)
        return;
    k->cur.printing = false;
    if (result != PRINTER_OK) {
        log_warn("ticket %s not printed: %s", k->flow.ticket.number, detail);
        if (result == PRINTER_PAPER_OUT)
            k->printer_word = "paper_out";
        changed(k);
    }
    const char *zh = NULL, *en = NULL;
    if (result != PRINTER_OK)
        printer_words(result, &zh, &en);
    kflow_printed(&k->flow, result == PRINTER_OK, zh, en, ev_now(k->loop), &cmd);
    execute(k, &cmd);
    sync_model(k);
}

static void open_printer(kiosk *k)
{
    printer_conf pc;
    char err[256];
    const printer_callbacks cb = {on_printed, on_printer_state};

    kiosk_conf_printer(k->conf, &pc);
    k->printer = printer_new(k->loop, &pc, &cb, k, err, sizeof err);
    if (k->printer == NULL) {
        log_error("printer (%s): %s; trying again", printer_backend_name(pc.backend), err);
        k->printer_word = "offline";
        ev_timer_start(k->loop, &k->reopen, REOPEN_MS);
    } else {
        k->printer_word = "ok";
    }
    changed(k);
}

static void on_identity(reader *r, const idcard_identity *id, void *arg)
{
    kiosk *k = arg;
    kflow_cmd cmd;

    if (!kflow_swipe(&k->flow, ev_now(k->loop), &cmd)) {
        log_info("card read ignored: a ticket is on its way or the kiosk is closed");
        sync_model(k);
        return;
    }
    k->card.valid = strlen(id->id_number) < sizeof k->card.number;
    if (k->card.valid)
        memcpy(k->card.number, id->id_number, strlen(id->id_number) + 1);
    snprintf(k->card.masked, sizeof k->card.masked, "%s", id->masked_name);
    execute(k, &cmd);
    sync_model(k);
}

/* What a card reader's error means to the citizen in front of it. */
typedef enum card_outcome {
    CARD_EXPIRED,     /* the card is out of its validity */
    CARD_BAD_NUMBER,  /* the ID number's check digit is wrong, or the card's data */
    CARD_UNREADABLE,  /* the read failed: moved, or the answer garbled */
    CARD_READER_FAULT /* the reader itself */
} card_outcome;

static card_outcome card_outcome_of(idcard_result code)
{
    switch (code) {
    case IDCARD_EXPIRED:
    case IDCARD_NOT_YET_VALID:
        return CARD_EXPIRED;
    case IDCARD_BAD_CHECK_DIGIT:
    case IDCARD_BAD_NUMBER:
    case IDCARD_BAD_DATE:
    case IDCARD_BAD_TEXT:
    case IDCARD_BAD_CODE:
    case IDCARD_UNKNOWN_TYPE:
        return CARD_BAD_NUMBER;
    case IDCARD_CARD_REMOVED:
    case IDCARD_GARBAGE:
    case IDCARD_TRUNCATED:
    case IDCARD_BAD_CHECKSUM:
    case IDCARD_BAD_REPLY:
        return CARD_UNREADABLE;
    default:
        return CARD_READER_FAULT;
    }
}

/* The sentences for an outcome: what happened, and what to do. */
static void card_sentences(card_outcome o, const char **zh, const char **en)
{
    switch (o) {
    case CARD_EXPIRED:
        *zh = "您的身份证已过期或尚未生效，无法使用。请直接点击取号，或到人工窗口办理";
        *en = "Your ID card has expired or is not valid yet. Please take a number by touch, or "
              "go to a staffed window";
        break;
    case CARD_BAD_NUMBER:
        *zh = "这张身份证的号码校验不通过，无法使用。请直接点击取号，或联系工作人员";
        *en = "The number on this ID card does not check out, so it cannot be used. Please take "
              "a number by touch, or ask the staff";
        break;
    case CARD_UNREADABLE:
        *zh = "没有读出身份证。请将身份证平放在读卡区，不要移动，再试一次";
        *en = "The ID card could not be read. Please lay it flat on the reader, hold it still "
              "and try again";
        break;
    case CARD_READER_FAULT:
        *zh = "读卡器故障，暂时不能刷身份证。请直接点击取号，或联系工作人员";
        *en = "The card reader is not working. Please take a number by touch, or ask the staff";
        break;
    }
}

/* A card the reader could not turn into an identity, or the reader
 * failing: the error screen says so, so nobody keeps swiping. A refused
 * card (expired, bad number) or one pulled away is shown from idle too;
 * garbled answers and reader faults only to a citizen on the card screen
 * (with no card there they are the reader's, not a citizen's). */
static void on_reader_error(reader *r, idcard_result code, const char *detail, void *arg)
{
    kiosk *k = arg;
    card_outcome o = card_outcome_of(code);
    bool citizen = k->flow.state == KF_CARD || o == CARD_EXPIRED || o == CARD_BAD_NUMBER ||
                   code == IDCARD_CARD_REMOVED;
    const char *zh, *en;

    log_info("card reader: %s", detail);
    if (!citizen)
        return;
    card_sentences(o, &zh, &en);
    if (kflow_card_failed(&k->flow, zh, en, ev_now(k->loop)))
        log_info("card not used (%s): error screen shown", idcard_strerror(code));
    sync_model(k);
}

static void on_reader_state(reader *r, bool online, const char *detail, void *arg)
{
    kiosk *k = arg;

    if (online)
        log_info("card reader: ready");
    else
        log_warn("card reader: %s", detail);
    k->reader_online = online;
    changed(k);
    sync_model(k);
}

static void open_reader(kiosk *k)
{
    reader_conf rc;
    char err[256];
    const reader_callbacks cb = {on_identity, on_reader_error, on_reader_state};

    kiosk_conf_reader(k->conf, &rc);
    rc.zone = k->zone;
    k->reader = reader_new(k->loop, &rc, &cb, k, err, sizeof err);
    if (k->reader == NULL)
        log_error("card reader (%s): %s; tickets by touch only", reader_backend_name(rc.backend),
                  err);
}

/* halld's public sealing key. A kiosk without one (installed before
 * sealing) still starts: its offline tickets by card carry the masked
 * name only. A key that is there but not a public sealing key is an
 * error: it must be replaced. */
static int open_sealing(kiosk *k, char *err, size_t errlen)
{
    char why[300];

    if ((k->sealing = seal_key_read(k->conf->sealing_key, false, why, sizeof why)) != NULL)
        return 0;
    if (errno != ENOENT) {
        snprintf(err, errlen, "[idcard] sealing_key %s", why);
        return -1;
    }
    log_warn("[idcard] sealing_key %s: offline tickets taken by card will carry the masked name "
             "only (copy seal.pub from the hall's bundle for this kiosk)",
             why);
    return 0;
}

static void on_reopen(ev_loop *loop, ev_timer *t, void *arg)
{
    kiosk *k = arg;

    if (k->printer == NULL)
        open_printer(k);
    sync_model(k);
}

/* ---- the flow's commands -------------------------------------------------- */

static void issue(kiosk *k, const kflow_cmd *cmd)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__IssueRequest m;
    char area[KF_AREA_MAX], code[KF_CODE_MAX], masked[KSTORE_NAME_MAX], matter[KF_CODE_MAX];
    char number[IDNUM_MAX + 1];
    struct pending *p;

    if (hours_refuse(k, cmd))
        return;
    hall__issue_request__init(&m);
    snprintf(area, sizeof area, "%s", cmd->area);
    snprintf(code, sizeof code, "%s", cmd->appointment);
    snprintf(matter, sizeof matter, "%s", cmd->matter);
    m.area = area;
    m.appointment_code = code;
    m.matter = matter;
    m.priority = code[0] || cmd->check_in ? HALL__PRIORITY__PRIORITY_APPOINTMENT
                 : cmd->green             ? HALL__PRIORITY__PRIORITY_GREEN
                                          : HALL__PRIORITY__PRIORITY_NORMAL;
    m.check_in = cmd->check_in;
    const struct area *asked = area_named(k, area);
    m.unstaffed_ok = asked != NULL && strcmp(asked->code, k->unstaffed_ok_area) == 0;
    k->unstaffed_ok_area[0] = '\0';
    k->ask_area[0] = '\0';
    if (cmd->by_card && k->card.valid) {
        memcpy(number, k->card.number, sizeof number);
        snprintf(masked, sizeof masked, "%s", k->card.masked);
        m.citizen_id = number;
        m.masked_name = masked;
    }
    env.body_case = HALL__ENVELOPE__BODY_ISSUE;
    env.issue = &m;
    p = send_req(k, &env, P_ISSUE, 0);
    /* The link holds the request's frame now (wiped when answered); the
     * card's copy stays until the flow leaves REQUESTING, in case the
     * request goes offline and the number is sealed instead. */
    idcard_privacy_wipe(number, sizeof number);
    if (p == NULL) {
        kflow_refused(&k->flow, cmd->token, "暂时无法取号，请稍后重试",
                      "No ticket could be issued; please try again", ev_now(k->loop));
        return;
    }
    p->token = cmd->token;
    snprintf(p->area, sizeof p->area, "%s", cmd->area);
}

static void issue_offline(kiosk *k, const kflow_cmd *cmd)
{
    const char *area = cmd->area[0] ? cmd->area : k->general;
    bool card = cmd->by_card && k->card.valid, sealed_ok = false;
    uint8_t sealed[SEAL_LEN];
    kstore_offline o;
    kflow_ticket t = {0};
    kflow_cmd next;

    /* Offline, the hours are those halld last said: a closed area gives
     * no offline numbers either. */
    if (hours_refuse(k, cmd))
        return;
    /* A card's number is sealed to halld's key: the store keeps only what
     * the kiosk itself cannot open. */
    if (card) {
        if (k->sealing == NULL)
            log_warn("offline ticket by card: no sealing key ([idcard] sealing_key), so it "
                     "carries the masked name only");
        else if (seal_wrap(k->sealing, k->conf->id, k->card.number, strlen(k->card.number),
                           sealed) < 0)
            log_error("offline ticket by card: cannot seal the ID number (%s); it carries the "
                      "masked name only",
                      strerror(errno));
        else
            sealed_ok = true;
        idcard_privacy_wipe(k->card.number, sizeof k->card.number);
    }
    /* The online request given up, if any, stays in the link's table: its
     * answer, when the link is back, is voided (issue_answered). */
    if (area[0] == '\0' ||
        kstore_offline_take(k->store, area, cmd->matter, hall_now(k),
                            cmd->green ? HALL__PRIORITY__PRIORITY_GREEN
                                       : HALL__PRIORITY__PRIORITY_NORMAL,
                            sealed_ok ? sealed : NULL, card ? k->card.masked : NULL, &o) < 0) {
        if (errno != ENOENT && errno != ENOSPC && area[0] != '\0')
            log_error("store: %s", kstore_errmsg(k->store));
        kflow_refused(&k->flow, cmd->token,
                      "暂停取号：网络中断，本业务的离线号码已用完，请到人工窗口",
                      "Closed: offline and no offline numbers left for this service; please go to "
                      "a staffed window",
                      ev_now(k->loop));
        changed(k);
        return;
    }
    log_info("offline ticket %s (area %s)", o.number, o.area);
    snprintf(t.number, sizeof t.number, "%s", o.number);
    snprintf(t.area, sizeof t.area, "%s", o.area);
    const struct area *a = area_of(k, o.area);
    t.ahead = a ? (int)a->waiting : -1;
    t.est_wait_s = a ? (int)a->est_wait_s : -1;
    t.offline = true;
    snprintf(t.masked_name, sizeof t.masked_name, "%s", o.masked_name);
    t.issued_ms = o.issued_ms;
    /* The matter is printed with its materials; halld does not learn it
     * from an offline ticket (docs/kiosk.md). */
    snprintf(t.matter, sizeof t.matter, "%s", cmd->matter);
    t.green = cmd->green;
    k->cur.offline_id = o.id;
    changed(k);
    if (kflow_issued(&k->flow, cmd->token, &t, ev_now(k->loop), &next))
        execute(k, &next);
}

static void print_ticket(kiosk *k, const kflow_cmd *cmd)
{
    const kflow_ticket *t = &k->flow.ticket;
    const struct area *a = area_of(k, t->area);
    escpos_ticket et = {0};
    buf bytes;
    kflow_cmd next;
    const char *why = NULL;
    struct ticket_words w;
    char windows[128] = "";

    /* The card's number went into the request or the offline row: wipe it. */
    idcard_privacy_wipe(&k->card, sizeof k->card);
    k->cur.token = cmd->token;
    if (!t->offline) {
        k->cur.ticket_id = t->id;
        k->cur.offline_id = 0;
        /* Durable before printing: a crash from here on confirms it. */
        if (kstore_ticket_put(k->store, t->id, t->number, KSTORE_TK_PRINTING, "", 0) < 0)
            log_error("store: %s", kstore_errmsg(k->store));
    } else {
        k->cur.ticket_id = 0;
    }
    et.hall = k->hall_name[0] ? k->hall_name : NULL;
    et.number = t->number;
    et.area = a ? a->name : t->area;
    /* The matter and its materials as a checklist; the check code. */
    const struct kmatter *m = matter_in(a, t->matter);
    const char *lines[64];
    char *materials = m != NULL ? strdup(m->materials) : NULL;
    if (m != NULL) {
        et.matter = m->name;
        et.materials = lines;
        for (char *p = materials; p != NULL && *p != '\0' && et.nmaterials < 64;) {
            lines[et.nmaterials++] = p;
            p += strcspn(p, "\n");
            if (*p == '\n')
                *p++ = '\0';
        }
    }
    et.check = t->check[0] ? t->check : NULL;
    et.ahead = t->ahead;
    ticket_words_of(k, t, &w);
    /* The wait in the screen's words: never "0 minutes". */
    et.wait_min = -1;
    et.wait = w.wait_zh[0] != '\0' ? w.wait_zh : NULL;
    if (w.windows_zh[0] != '\0') {
        snprintf(windows, sizeof windows, "办理窗口：%s", w.windows_zh);
        et.windows = windows;
    }
    et.missed = w.rule_zh[0] != '\0' ? w.rule_zh : NULL;
    et.mark = t->appointment ? "预约" : t->green ? "绿色通道" : NULL;
    const struct area *desk_for = consult_area_of(k, t);
    char note[160];
    if (desk_for != NULL) {
        snprintf(note, sizeof note, "请先到咨询台出示证件确认，再办理：%s", desk_for->name);
        et.note = note;
    }
    et.issued_ms = t->issued_ms;
    et.zone = k->zone;
    et.name = t->masked_name[0] ? t->masked_name : NULL;
    et.offline = t->offline;
    et.qr = w.url[0] != '\0' ? w.url : NULL;
    buf_init(&bytes, 0);
    if (k->printer == NULL || k->escpos == NULL)
        why = "no printer";
    else if (escpos_build(k->escpos, &et, &bytes, NULL) < 0)
        why = escpos_strerror(errno);
    else if (printer_submit(k->printer, buf_rdata(&bytes), buf_rlen(&bytes), &k->cur.job_id) < 0)
        why = strerror(errno);
    buf_release(&bytes);
    free(materials);
    if (why != NULL) {
        /* The reason is the log's; the citizen reads a printer fault. */
        log_error("ticket %s cannot be printed: %s", t->number, why);
        kflow_printed(&k->flow, false, "打印机故障", "printer fault", ev_now(k->loop), &next);
        execute(k, &next);
        return;
    }
    k->cur.printing = true;
}

static void confirm_flow(kiosk *k, const kflow_cmd *cmd, bool printed)
{
    const kflow_ticket *t = &k->flow.ticket;

    if (!t->offline) {
        confirm_ticket(k, t, printed, printed ? NULL : "printing failed", cmd->token);
        return;
    }
    if (kstore_offline_set(k->store, k->cur.offline_id,
                           printed ? KSTORE_OFF_PRINTED : KSTORE_OFF_VOID) < 0)
        log_error("store: %s", kstore_errmsg(k->store));
    kflow_confirmed(&k->flow, cmd->token, ev_now(k->loop));
    upload(k);
}

static void execute(kiosk *k, const kflow_cmd *cmd)
{
    switch (cmd->kind) {
    case KF_CMD_NONE:
        break;
    case KF_CMD_ISSUE:
        issue(k, cmd);
        break;
    case KF_CMD_ISSUE_OFFLINE:
        issue_offline(k, cmd);
        break;
    case KF_CMD_PRINT:
        print_ticket(k, cmd);
        break;
    case KF_CMD_PRINTED:
        confirm_flow(k, cmd, true);
        break;
    case KF_CMD_VOID:
        confirm_flow(k, cmd, false);
        break;
    }
}

/* Finished rows older than KEEP_MS go. */
static void prune(kiosk *k)
{
    long n = kstore_prune(k->store, hall_now(k) - KEEP_MS);

    if (n < 0)
        log_error("store: %s", kstore_errmsg(k->store));
    else if (n > 0)
        log_info("store: %ld finished row(s) older than %lld days deleted", n,
                 (long long)(KEEP_MS / DAY_MS));
}

static void on_tick(ev_loop *loop, ev_timer *t, void *arg)
{
    kiosk *k = arg;
    int64_t now = ev_now(loop);
    kflow_cmd cmd;

    kflow_tick(&k->flow, now, &cmd);
    execute(k, &cmd);
    if (k->ask_area[0] != '\0' && now - k->ask_at > ASK_MS) {
        k->ask_area[0] = '\0';
        changed(k);
    }
    if (k->confirm_next != 0 && now >= k->confirm_next)
        confirm_stored(k, false);
    if (k->upload_next != 0 && now >= k->upload_next) {
        k->upload_next = 0;
        upload(k);
    }
    if (now >= k->chores_next) {
        k->chores_next = now + CHORES_MS;
        refresh_refusals(k);
        if (now >= k->prune_next) {
            k->prune_next = now + DAY_MS;
            prune(k);
        }
    }
    ask_leases(k);
    sync_model(k);
    ev_timer_start(loop, &k->tick, TICK_MS);
}

/* ---- the citizen's screens: matters, green channel, own ticket ---------- */

/* The values a ticket's QR text carries, read against [printer]
 * ticket_url: {number}, {id} and {check} (the others are skipped). True
 * if text is what the template makes. */
static bool qr_fields(const char *tmpl, const char *text, char *number, size_t nlen, uint64_t *id,
                      char *check, size_t clen)
{
    static const char *const keys[] = {"{number}", "{day}", "{id}", "{kiosk}", "{check}"};

    if (tmpl[0] == '\0')
        return false;
    while (*tmpl != '\0') {
        size_t i = 0;
        while (i < 5 && strncmp(tmpl, keys[i], strlen(keys[i])) != 0)
            i++;
        if (i == 5) {
            if (*text != *tmpl)
                return false;
            tmpl++, text++;
            continue;
        }
        tmpl += strlen(keys[i]);
        const char stop[2] = {*tmpl, '\0'};
        size_t n = stop[0] != '\0' ? strcspn(text, stop) : strlen(text);
        char v[64];
        if (n == 0 || n >= sizeof v)
            return false;
        memcpy(v, text, n);
        v[n] = '\0';
        text += n;
        if ((i == 0 && n >= nlen) || (i == 4 && n >= clen))
            return false;
        if (i == 0)
            memcpy(number, v, n + 1);
        else if (i == 2)
            *id = strtoull(v, NULL, 10);
        else if (i == 4)
            memcpy(check, v, n + 1);
    }
    return *text == '\0';
}

/* A ticket number or check as typed: 1..15 letters and digits. */
static bool typed_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= KSTORE_NUMBER_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= 'a' && s[i] <= 'z')))
            return false;
    return true;
}

static void mine_say(kiosk *k, const char *zh, const char *en)
{
    snprintf(k->mine.zh, sizeof k->mine.zh, "%s", zh);
    snprintf(k->mine.en, sizeof k->mine.en, "%s", en);
    changed(k);
}

/* The mine screen: "" opens it; otherwise the citizen's typed number
 * ("A012", or "A012 1234" with the ticket's check) or the QR text scanned
 * at the kiosk goes to halld as a TicketQuery. */
static int mine_query(kiosk *k, const char *param, char *err, size_t errlen)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__TicketQuery m = HALL__TICKET_QUERY__INIT;
    char number[KSTORE_NUMBER_MAX] = "", check[16] = "";
    uint64_t id = 0;

    if (kflow_open(&k->flow, KF_MINE, ev_now(k->loop), err, errlen) < 0)
        return -1;
    memset(&k->mine, 0, sizeof k->mine);
    changed(k);
    if (param[0] == '\0')
        return 0;
    if (!qr_fields(k->conf->ticket_url, param, number, sizeof number, &id, check, sizeof check)) {
        char typed[2][32] = {"", ""};
        if (sscanf(param, "%31s %31s", typed[0], typed[1]) < 1 || !typed_ok(typed[0]) ||
            (typed[1][0] != '\0' && !typed_ok(typed[1]))) {
            mine_say(k, "请输入号票上的号码，如 A012", "Type the number on your ticket, e.g. A012");
            return 0;
        }
        snprintf(number, sizeof number, "%s", typed[0]);
        snprintf(check, sizeof check, "%s", typed[1]);
    }
    if (!k->online) {
        mine_say(k, "网络中断，暂时不能查询，请稍后再试",
                 "Offline: your ticket cannot be looked up now; please try again later");
        return 0;
    }
    m.ticket_id = id;
    m.number = number;
    m.check = check;
    env.body_case = HALL__ENVELOPE__BODY_TICKET_QUERY;
    env.ticket_query = &m;
    if (send_req(k, &env, P_QUERY, 0) == NULL) {
        mine_say(k, "暂时不能查询，请稍后再试",
                 "Your ticket cannot be looked up now; please try again");
        return 0;
    }
    snprintf(k->mine.check, sizeof k->mine.check, "%s", check);
    mine_say(k, "正在查询…", "Looking up your ticket…");
    return 0;
}

/* Cancel or rejoin the ticket on the mine screen. */
static int mine_change(kiosk *k, bool cancel, char *err, size_t errlen)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__CancelTicket c = HALL__CANCEL_TICKET__INIT;
    Hall__Rejoin r = HALL__REJOIN__INIT;
    char check[8], reason[] = "cancelled by the citizen at the kiosk";

    if (kflow_screen_of(&k->flow) != KF_SCREEN_MINE ||
        !(cancel ? mine_can_cancel(k) : mine_can_rejoin(k))) {
        snprintf(err, errlen, "%s",
                 cancel ? "此号码不能在本机取消 / this ticket cannot be cancelled here"
                        : "此号码不能重新排队 / this ticket cannot rejoin the queue");
        errno = EAGAIN;
        return -1;
    }
    if (kflow_open(&k->flow, KF_MINE, ev_now(k->loop), err, errlen) < 0)
        return -1;
    if (cancel) {
        snprintf(check, sizeof check, "%s", k->mine.check);
        c.ticket_id = k->mine.id;
        c.check = check;
        c.reason = reason;
        env.body_case = HALL__ENVELOPE__BODY_CANCEL;
        env.cancel = &c;
    } else {
        r.ticket_id = k->mine.id;
        env.body_case = HALL__ENVELOPE__BODY_REJOIN;
        env.rejoin = &r;
    }
    if (send_req(k, &env, cancel ? P_CANCEL : P_REJOIN, 0) == NULL)
        mine_say(k, "暂时不能办理，请稍后再试", "This cannot be done now; please try again");
    else
        mine_say(k, "正在办理…", "One moment…");
    return 0;
}

/* halld's answer for the mine screen: the ticket as it stands now, and
 * what was done, in both languages. */
static void mine_answered(kiosk *k, pending_kind kind, const Hall__Envelope *e)
{
    const Hall__Ticket *t = NULL;
    char zh[KF_TEXT_MAX], en[KF_TEXT_MAX];

    if (e->body_case == HALL__ENVELOPE__BODY_TICKET_REPLY)
        t = e->ticket_reply->ticket;
    else if (e->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY)
        t = e->window_reply->ticket;
    if (kflow_screen_of(&k->flow) != KF_SCREEN_MINE)
        return; /* the citizen left the screen */
    if (t == NULL) {
        error_sentences(e, zh, en, sizeof zh);
        if (kind == P_QUERY)
            k->mine.known = false;
        mine_say(k, zh, en);
        return;
    }
    k->mine.known = true;
    k->mine.id = t->id;
    snprintf(k->mine.number, sizeof k->mine.number, "%s", t->number ? t->number : "");
    snprintf(k->mine.area, sizeof k->mine.area, "%s", t->area ? t->area : "");
    k->mine.state = t->state;
    k->mine.ahead = t->state == HALL__TICKET_STATE__TICKET_WAITING ? (int)t->people_ahead : -1;
    k->mine.rejoin_until_ms = t->rejoin_until_ms;
    if (kind == P_QUERY)
        snprintf(k->mine.check, sizeof k->mine.check, "%s", t->check ? t->check : "");
    if (kind == P_CANCEL) {
        snprintf(zh, sizeof zh, "号码 %s 已取消", k->mine.number);
        snprintf(en, sizeof en, "Ticket %s is cancelled", k->mine.number);
    } else if (kind == P_REJOIN) {
        snprintf(zh, sizeof zh, "号码 %s 已重新排队，请留意叫号", k->mine.number);
        snprintf(en, sizeof en, "Ticket %s is back in the queue; please listen for your number",
                 k->mine.number);
    } else {
        zh[0] = en[0] = '\0';
    }
    mine_say(k, zh, en);
}

/* take "AREA/MATTER": a ticket with the matter picked on the matter
 * screen (which must be one of the area's). */
static int take_matter(kiosk *k, const char *param, char *err, size_t errlen)
{
    char area[KF_AREA_MAX];
    const char *slash = strchr(param, '/');
    size_t n = (size_t)(slash - param);
    kflow_cmd cmd;

    if (n >= sizeof area) {
        snprintf(err, errlen, "没有这个业务区 / no such area");
        errno = EINVAL;
        return -1;
    }
    memcpy(area, param, n);
    area[n] = '\0';
    if (matter_in(area_of(k, area), slash + 1) == NULL) {
        snprintf(err, errlen, "没有这个事项 / no such matter");
        errno = EINVAL;
        return -1;
    }
    if (kflow_take(&k->flow, area, slash + 1, false, ev_now(k->loop), &cmd, err, errlen) < 0)
        return -1;
    execute(k, &cmd);
    return 0;
}

/* green "": the green-channel screen; green AREA: a priority ticket in
 * that area ([green] mode = issue) or for the consult desk (consult). */
static int green_action(kiosk *k, const char *param, char *err, size_t errlen)
{
    kflow_cmd cmd;

    if (k->conf->green_mode == KIOSK_GREEN_OFF) {
        snprintf(err, errlen, "本机未开通绿色通道 / the green channel is not offered here");
        errno = EINVAL;
        return -1;
    }
    if (param[0] == '\0')
        return kflow_open(&k->flow, KF_GREEN, ev_now(k->loop), err, errlen);
    if (area_of(k, param) == NULL) {
        snprintf(err, errlen, "没有这个业务区 / no such area");
        errno = EINVAL;
        return -1;
    }
    const char *area =
        k->conf->green_mode == KIOSK_GREEN_CONSULT ? k->conf->green_consult_area : param;
    if (kflow_take(&k->flow, area, "", true, ev_now(k->loop), &cmd, err, errlen) < 0)
        return -1;
    if (cmd.kind != KF_CMD_NONE && k->conf->green_mode == KIOSK_GREEN_CONSULT) {
        snprintf(k->consult_for, sizeof k->consult_for, "%s", param);
        k->consult_token = cmd.token;
    }
    execute(k, &cmd);
    return 0;
}

/* area CODE: the matter list when [flow] matter_step is on and the area
 * has matters, else a ticket at once. */
static int area_action(kiosk *k, const char *param, char *err, size_t errlen)
{
    const struct area *a = area_of(k, param);
    kflow_cmd cmd;

    if (k->conf->matter_step && a != NULL && a->nmatters > 0) {
        if (kflow_open(&k->flow, KF_MATTER, ev_now(k->loop), err, errlen) < 0)
            return -1;
        snprintf(k->chosen, sizeof k->chosen, "%s", a->code);
        changed(k);
        return 0;
    }
    if (kflow_action(&k->flow, "take", param, ev_now(k->loop), &cmd, err, errlen) < 0)
        return -1;
    execute(k, &cmd);
    return 0;
}

/* The actions of the citizen's screens; 1 if name is none of them. */
static int citizen_action(kiosk *k, const char *name, const char *param, char *err, size_t errlen)
{
    if (strcmp(name, "area") == 0)
        return area_action(k, param, err, errlen);
    if (strcmp(name, "take") == 0 && strchr(param, '/') != NULL)
        return take_matter(k, param, err, errlen);
    if (strcmp(name, "green") == 0)
        return green_action(k, param, err, errlen);
    if (strcmp(name, "mine") == 0)
        return mine_query(k, param, err, errlen);
    if (strcmp(name, "cancel") == 0 || strcmp(name, "rejoin") == 0)
        return mine_change(k, strcmp(name, "cancel") == 0, err, errlen);
    return 1;
}

/* ---- the page's side ------------------------------------------------------ */

int kiosk_action(kiosk *k, const char *name, const char *param, char *err, size_t errlen)
{
    kflow_cmd cmd;

    if (name != NULL) {
        int rc = citizen_action(k, name, param != NULL ? param : "", err, errlen);
        if (rc != 1) {
            sync_model(k);
            return rc;
        }
    }
    if (name != NULL && (strcmp(name, "card") == 0 || strcmp(name, "appointment_card") == 0) &&
        (k->reader == NULL || !k->reader_online)) {
        snprintf(err, errlen,
                 "读卡器暂不可用，请直接取号 / The card reader is not available; "
                 "please take a number");
        errno = EAGAIN;
        return -1;
    }
    int handled = hours_action(k, &name, &param, err, errlen);
    if (handled != 0) {
        sync_model(k);
        return handled < 0 ? -1 : 0;
    }
    if (kflow_action(&k->flow, name, param, ev_now(k->loop), &cmd, err, errlen) < 0) {
        sync_model(k);
        return -1;
    }
    execute(k, &cmd);
    sync_model(k);
    return 0;
}

void kiosk_set_change_hook(kiosk *k, kiosk_change_fn *fn, void *arg)
{
    k->hook = fn;
    k->hook_arg = arg;
}

void kiosk_shutdown(kiosk *k)
{
    k->shutting_down = true;
    changed(k);
    sync_model(k);
}

bool kiosk_idle(const kiosk *k)
{
    return !k->cur.printing && (!k->online || klink_pending(k->link) == 0);
}

printer *kiosk_printer(kiosk *k)
{
    return k->printer;
}

reader *kiosk_reader(kiosk *k)
{
    return k->reader;
}

kstore *kiosk_store(kiosk *k)
{
    return k->store;
}

bool kiosk_online(const kiosk *k)
{
    return k->online;
}

/* ---- life ----------------------------------------------------------------- */

kiosk *kiosk_new(ev_loop *loop, const kiosk_conf *conf, char *err, size_t errlen)
{
    kiosk *k = calloc(1, sizeof *k);
    escpos_layout layout = {0};
    int n;

    if (k == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    k->loop = loop;
    k->conf = conf;
    k->printer_word = "offline";
    snprintf(k->general, sizeof k->general, "%s", conf->general_area);
    ev_timer_init(&k->tick, on_tick, k);
    ev_timer_init(&k->reopen, on_reopen, k);
    k->closed_kind = "";
    kflow_init(&k->flow, conf->idle_timeout_ms, conf->ticket_show_ms, conf->request_timeout_ms,
               CONFIRM_MS);
    if ((k->zone = clk_zone_new(conf->time_zone)) == NULL) {
        snprintf(err, errlen, "[kiosk] time_zone %s: %s", conf->time_zone, strerror(errno));
        goto fail;
    }
    layout.paper_mm = (int)conf->paper_mm;
    layout.qr_module = (int)conf->qr_module;
    layout.font_four_byte = conf->font_four_byte;
    layout.tmpl = conf->ticket_template[0] ? conf->ticket_template : NULL;
    if ((k->escpos = escpos_new(&layout, err, errlen)) == NULL)
        goto fail;
    if ((k->store = kstore_open(conf->store_path, err, errlen)) == NULL)
        goto fail;
    if (*kstore_notice(k->store) != '\0')
        log_warn("store: %s", kstore_notice(k->store));
    if (open_sealing(k, err, errlen) < 0)
        goto fail;
    if ((n = kstore_offline_recover(k->store)) > 0)
        log_warn("%d offline ticket(s) were being printed at the last stop: counted as printed", n);
    if ((n = kstore_clock_offset(k->store, &k->clock_stored_ms)) < 0) {
        snprintf(err, errlen, "%s", kstore_errmsg(k->store));
        goto fail;
    }
    /* Until halld is reached: the offset of the last link. */
    k->clock_stored = n == 1;
    k->clock_offset_ms = k->clock_stored ? k->clock_stored_ms : 0;
    check_skew(k);
    prune(k);
    refresh_refusals(k);
    k->confirm_backoff_ms = k->upload_backoff_ms = RETRY_MIN_MS;
    k->chores_next = ev_now(loop) + CHORES_MS;
    k->prune_next = ev_now(loop) + DAY_MS;
    open_printer(k);
    open_reader(k);

    const klink_conf lc = {
        .host = conf->halld_host,
        .port = conf->halld_port,
        .cert = conf->cert,
        .key = conf->key,
        .ca = conf->ca,
        .device_id = conf->id,
        .firmware = "kioskd " ONEWINDOW_VERSION,
        .reconnect_max_ms = conf->reconnect_max_ms,
        .connect_timeout_ms = conf->connect_timeout_ms,
    };
    const klink_callbacks lcb = {next_id, on_up, on_down, on_answer, on_push, on_clock};
    if ((k->link = klink_new(loop, &lc, &lcb, k, err, errlen)) == NULL)
        goto fail;
    if (conf->bus_enabled &&
        (k->bus = kbus_new(loop, conf, next_id, bus_changed, k, err, errlen)) == NULL)
        goto fail;
    confirm_stored(k, true);
    ev_timer_start(loop, &k->tick, TICK_MS);
    sync_model(k);
    return k;
fail:
    kiosk_free(k);
    return NULL;
}

void kiosk_free(kiosk *k)
{
    if (k == NULL)
        return;
    ev_timer_stop(k->loop, &k->tick);
    ev_timer_stop(k->loop, &k->reopen);
    k->hook = NULL;
    /* A job still queued gets its done callback (PRINTER_CLOSED) here: the
     * ticket is recorded as voided (or printed, if it printed) in the
     * store before the store closes; the confirmation goes out after the
     * next start. */
    printer_free(k->printer);
    k->printer = NULL;
    reader_free(k->reader);
    kbus_free(k->bus);
    klink_free(k->link);
    kstore_close(k->store);
    escpos_free(k->escpos);
    clk_zone_free(k->zone);
    seal_key_free(k->sealing);
    idcard_privacy_wipe(&k->card, sizeof k->card);
    for (size_t i = 0; i < k->nareas; i++)
        matters_free(&k->areas[i]);
    free(k);
}
