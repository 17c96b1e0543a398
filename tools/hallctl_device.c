/*
 * hallctl_device — hallctl's protocol verbs. See hallctl_device.h.
 *
 * Every verb finds halld and its own identity the same way: from the hall's
 * configuration (-c, default /etc/onewindow/halld.ini) — the listen port,
 * the hall CA, and pki/hallctl.crt/.key next to it — or from explicit
 * --server, --cert, --key, --ca (and --plain for a development halld).
 */
#include "hallctl_device.h"

#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clk.h"
#include "devlink.h"
#include "halld_conf.h"
#include "net.h"
#include "store.h"
#include "supervise.h"

#define DEFAULT_CONFIG "/etc/onewindow/halld.ini"
#define TOOL_ID        "hallctl"
#define TIMEOUT_MS     10000

/* Where halld is and who we are: options every verb takes. */
struct target {
    const char *config;
    const char *server; /* HOST:PORT */
    const char *cert, *key, *ca;
    const char *id;
    bool plain;
    /* resolved */
    char host[256];
    int port;
    halld_contact contact; /* from the configuration */
    char time_zone[64];    /* the hall's, from HELLO_REPLY */
};

#define TARGET_OPTIONS                                                                             \
    {"config", required_argument, NULL, 'c'}, {"server", required_argument, NULL, 'S'},            \
        {"cert", required_argument, NULL, 'C'}, {"key", required_argument, NULL, 'K'},             \
        {"ca", required_argument, NULL, 'A'}, {"id", required_argument, NULL, 'I'},                \
        {"plain", no_argument, NULL, 'P'},                                                         \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }

#define TARGET_HELP                                                                                \
    "Finds halld through -c CONFIG (default " DEFAULT_CONFIG "), or --server HOST:PORT\n"          \
    "with --cert, --key and --ca (or --plain for a halld in development mode);\n"                  \
    "connects as the tool device --id (default " TOOL_ID ").\n"

/* Handle a target option; false if opt is not one. */
static bool target_option(struct target *t, int opt)
{
    switch (opt) {
    case 'c':
        t->config = optarg;
        return true;
    case 'S':
        t->server = optarg;
        return true;
    case 'C':
        t->cert = optarg;
        return true;
    case 'K':
        t->key = optarg;
        return true;
    case 'A':
        t->ca = optarg;
        return true;
    case 'I':
        t->id = optarg;
        return true;
    case 'P':
        t->plain = true;
        return true;
    default:
        return false;
    }
}

/* Fill in what the options left out from the hall's configuration. */
static int resolve(struct target *t)
{
    struct halld_conf conf = {0};
    char err[512];

    if (t->id == NULL)
        t->id = TOOL_ID;
    if (t->server != NULL && net_parse_hostport(t->server, t->host, sizeof t->host, &t->port) < 0)
        return hallctl_fail("--server %s: expected HOST:PORT", t->server);
    if (t->server != NULL && (t->plain || (t->cert && t->key && t->ca)))
        return 0;
    if (halld_conf_load(&conf, t->config ? t->config : DEFAULT_CONFIG, err, sizeof err) < 0)
        return hallctl_fail("%s (or give --server, --cert, --key and --ca)", err);
    int rc = halld_conf_contact(&conf, t->id, &t->contact, err, sizeof err);
    halld_conf_release(&conf);
    if (rc < 0)
        return hallctl_fail("%s", err);
    if (t->server == NULL) {
        snprintf(t->host, sizeof t->host, "%s", t->contact.host);
        t->port = t->contact.port;
    }
    t->cert = t->cert ? t->cert : t->contact.cert;
    t->key = t->key ? t->key : t->contact.key;
    t->ca = t->ca ? t->ca : t->contact.ca;
    return 0;
}

/* Connect and say HELLO as a tool. NULL after printing why. */
static devlink *connect_tool(struct target *t)
{
    char err[DEVLINK_ERR_LEN];
    devlink *l;

    signal(SIGPIPE, SIG_IGN);
    if (resolve(t) != 0)
        return NULL;
    l = devlink_open(t->host, t->port, t->plain ? NULL : t->cert, t->plain ? NULL : t->key,
                     t->plain ? NULL : t->ca, TIMEOUT_MS, err);
    if (l == NULL) {
        hallctl_fail("cannot reach halld at %s:%d: %s", t->host, t->port, err);
        return NULL;
    }
    Hall__Envelope *r = devlink_hello(l, t->id, HALL__DEVICE_TYPE__DEVICE_TOOL, 0, TIMEOUT_MS, err);
    if (r == NULL || r->body_case != HALL__ENVELOPE__BODY_HELLO_REPLY) {
        hallctl_fail("halld refused HELLO: %s",
                     r == NULL
                         ? err
                         : (r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?"));
        proto_free(r);
        devlink_close(l);
        return NULL;
    }
    snprintf(t->time_zone, sizeof t->time_zone, "%s", r->hello_reply->time_zone);
    proto_free(r);
    /* Request ids must not repeat for this device within a day: start from
     * the clock, so two hallctl runs never share one. */
    devlink_set_next_id(l, (uint64_t)clk_utc_ms() * 1000);
    return l;
}

/* Send req; print an ERROR answer and return NULL for it. */
static Hall__Envelope *ask(devlink *l, Hall__Envelope *req, Hall__Envelope__BodyCase want)
{
    char err[DEVLINK_ERR_LEN];
    Hall__Envelope *r = devlink_call(l, req, TIMEOUT_MS, err);

    if (r == NULL) {
        hallctl_fail("%s", err);
        return NULL;
    }
    if (r->body_case == HALL__ENVELOPE__BODY_ERROR) {
        hallctl_fail("halld refused: %s", r->error->message);
        proto_free(r);
        return NULL;
    }
    if (r->body_case != want) {
        hallctl_fail("unexpected answer %s", proto_body_name(r->body_case));
        proto_free(r);
        return NULL;
    }
    return r;
}

static const char *ticket_state(Hall__TicketState s)
{
    static const char *const names[] = {"?",    "RESERVED", "WAITING", "CALLED", "SERVING",
                                        "DONE", "NO_SHOW",  "HOLD",    "VOID",   "CANCELLED"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

static const char *window_state(Hall__WindowState s)
{
    switch (s) {
    case HALL__WINDOW_STATE__WINDOW_OPEN:
        return "open";
    case HALL__WINDOW_STATE__WINDOW_PAUSED:
        return "paused";
    case HALL__WINDOW_STATE__WINDOW_CLOSED:
        return "closed";
    default:
        return "?";
    }
}

/* ---- ping ------------------------------------------------------------------ */

static int ping(int argc, char **argv)
{
    static const struct option options[] = {
        {"count", required_argument, NULL, 'n'}, TARGET_OPTIONS, {NULL, 0, NULL, 0}};
    struct target t = {0};
    int count = 3, opt;

    while ((opt = getopt_long(argc, argv, "c:n:h", options, NULL)) != -1) {
        if (target_option(&t, opt))
            continue;
        if (opt == 'n') {
            count = atoi(optarg);
        } else if (opt == 'h') {
            printf("usage: hallctl ping [-c CONFIG] [--count N]\n"
                   "Connect to halld, say HELLO and send N heartbeats (default 3), printing\n"
                   "round-trip times and the clock offset.\n" TARGET_HELP);
            return 0;
        } else {
            return 2;
        }
    }
    if (optind != argc || count < 0 || count > 100000)
        return fprintf(stderr, "usage: hallctl ping [-c CONFIG] [--count 0..100000]\n"), 2;

    int64_t start = clk_mono_ms();
    devlink *l = connect_tool(&t);
    if (l == NULL)
        return 1;
    printf("connected to %s:%d as %s over %s, HELLO accepted in %lld ms\n", t.host, t.port, t.id,
           t.plain ? "plain TCP" : "TLS", (long long)(clk_mono_ms() - start));
    for (int i = 1; i <= count; i++) {
        Hall__Envelope env = HALL__ENVELOPE__INIT;
        Hall__Heartbeat hb = HALL__HEARTBEAT__INIT;
        hb.device_time_ms = clk_utc_ms();
        env.body_case = HALL__ENVELOPE__BODY_HEARTBEAT;
        env.heartbeat = &hb;
        int64_t sent = clk_mono_ms();
        Hall__Envelope *r = ask(l, &env, HALL__ENVELOPE__BODY_HEARTBEAT_REPLY);
        if (r == NULL) {
            devlink_close(l);
            return 1;
        }
        int64_t rtt = clk_mono_ms() - sent;
        printf("heartbeat %d: %lld ms, clock offset %lld ms\n", i, (long long)rtt,
               (long long)(r->heartbeat_reply->server_time_ms - hb.device_time_ms - rtt / 2));
        proto_free(r);
    }
    devlink_close(l);
    return 0;
}

/* ---- queues ---------------------------------------------------------------- */

static int queues(int argc, char **argv)
{
    static const struct option options[] = {TARGET_OPTIONS, {NULL, 0, NULL, 0}};
    struct target t = {0};
    int opt;

    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        if (target_option(&t, opt))
            continue;
        if (opt == 'h') {
            printf("usage: hallctl queues [-c CONFIG]\n"
                   "Show the hall as its displays see it: every area with its waiting\n"
                   "tickets and estimated wait, every window with its state and ticket,\n"
                   "and the latest calls.\n" TARGET_HELP);
            return 0;
        }
        return 2;
    }
    if (optind != argc)
        return fprintf(stderr, "usage: hallctl queues [-c CONFIG]\n"), 2;
    devlink *l = connect_tool(&t);
    if (l == NULL)
        return 1;
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Subscribe sub = HALL__SUBSCRIBE__INIT;
    env.body_case = HALL__ENVELOPE__BODY_SUBSCRIBE;
    env.subscribe = &sub;
    Hall__Envelope *r = ask(l, &env, HALL__ENVELOPE__BODY_DISPLAY_PUSH);
    devlink_close(l);
    if (r == NULL)
        return 1;
    const Hall__DisplayPush *p = r->display_push;
    printf("areas:\n");
    for (size_t i = 0; i < p->n_areas; i++) {
        const Hall__AreaStatus *a = p->areas[i];
        printf("  %-12s %-16s %4u waiting, about %u min, %u window(s) open", a->area, a->name,
               a->waiting, (a->est_wait_s + 59) / 60, a->windows_open);
        /* The hall calendar: closed, and when it opens. */
        if (a->closed)
            printf("; closed: %s", a->opens_en != NULL && a->opens_en[0] ? a->opens_en : "now");
        printf("\n");
    }
    printf("windows:\n");
    for (size_t i = 0; i < p->n_windows; i++) {
        const Hall__WindowStatus *w = p->windows[i];
        printf("  %3u  %-7s %-6s clerk %-8s %u waiting for it\n", w->window_no,
               window_state(w->state), w->current_number[0] ? w->current_number : "-",
               w->clerk_id[0] ? w->clerk_id : "-", w->waiting);
    }
    printf("latest calls:\n");
    clk_zone *zone = clk_zone_new(t.time_zone);
    if (zone == NULL)
        zone = clk_zone_new("UTC");
    for (size_t i = 0; i < p->n_calls; i++) {
        char when[40] = "";
        if (zone != NULL)
            clk_format_iso(zone, p->calls[i]->called_at_ms, when, sizeof when);
        printf("  %-6s -> window %-3u %s%s\n", p->calls[i]->number, p->calls[i]->window_no, when,
               p->calls[i]->recalls ? " (recall)" : "");
    }
    if (p->n_devices > 0)
        printf("devices:\n");
    for (size_t i = 0; i < p->n_devices; i++) {
        const Hall__DeviceHealth *d = p->devices[i];
        char when[40] = "";

        if (zone != NULL)
            clk_format_iso(zone, d->since_ms, when, sizeof when);
        printf("  %-12s %-12s since %s\n", d->device_id,
               d->can_issue ? "can issue" : "cannot issue", when);
        for (size_t k = 0; k < d->n_components; k++)
            printf("    %-8s %-10s %s\n", d->components[k]->name, d->components[k]->state,
                   d->components[k]->detail);
    }
    clk_zone_free(zone);
    proto_free(r);
    return 0;
}

/* ---- issue ----------------------------------------------------------------- */

static int issue(int argc, char **argv)
{
    static const struct option options[] = {{"area", required_argument, NULL, 'a'},
                                            {"matter", required_argument, NULL, 'm'},
                                            {"green", no_argument, NULL, 'g'},
                                            TARGET_OPTIONS,
                                            {NULL, 0, NULL, 0}};
    struct target t = {0};
    Hall__IssueRequest m = HALL__ISSUE_REQUEST__INIT;
    char area[32] = "", matter[32] = "";
    int opt;

    while ((opt = getopt_long(argc, argv, "c:a:m:gh", options, NULL)) != -1) {
        if (target_option(&t, opt))
            continue;
        switch (opt) {
        case 'a':
            snprintf(area, sizeof area, "%s", optarg);
            break;
        case 'm':
            snprintf(matter, sizeof matter, "%s", optarg);
            break;
        case 'g':
            m.priority = HALL__PRIORITY__PRIORITY_GREEN;
            break;
        case 'h':
            printf("usage: hallctl issue [-c CONFIG] [--area CODE] [--matter CODE] [--green]\n"
                   "Take a ticket as a kiosk would (issue, then confirm it printed), for the\n"
                   "area (default: the hall's general intake area); --green for the green\n"
                   "channel (elderly, disabled).\n" TARGET_HELP);
            return 0;
        default:
            return 2;
        }
    }
    if (optind != argc)
        return fprintf(stderr, "usage: hallctl issue [-c CONFIG] [--area CODE] [--green]\n"), 2;
    devlink *l = connect_tool(&t);
    if (l == NULL)
        return 1;
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    m.area = area;
    m.matter = matter;
    env.body_case = HALL__ENVELOPE__BODY_ISSUE;
    env.issue = &m;
    Hall__Envelope *r = ask(l, &env, HALL__ENVELOPE__BODY_ISSUE_REPLY);
    if (r == NULL) {
        devlink_close(l);
        return 1;
    }
    uint64_t id = r->issue_reply->ticket->id;
    proto_free(r);
    Hall__Envelope p = HALL__ENVELOPE__INIT;
    Hall__Printed printed = HALL__PRINTED__INIT;
    printed.ticket_id = id;
    p.body_case = HALL__ENVELOPE__BODY_PRINTED;
    p.printed = &printed;
    r = ask(l, &p, HALL__ENVELOPE__BODY_TICKET_REPLY);
    devlink_close(l);
    if (r == NULL)
        return 1;
    const Hall__Ticket *tk = r->ticket_reply->ticket;
    printf("%s  (ticket %llu, area %s, %s): %u ahead, about %u min\n", tk->number,
           (unsigned long long)tk->id, tk->area, ticket_state(tk->state), tk->people_ahead,
           (tk->est_wait_s + 59) / 60);
    proto_free(r);
    return 0;
}

/* ---- call, window open/close ---------------------------------------------------- */

static int parse_window(const char *arg, uint32_t *out)
{
    char *end;
    long v = strtol(arg, &end, 10);

    if (*end != '\0' || v < 1 || v > 100000)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static void print_window(const Hall__WindowReply *w)
{
    printf("window %u %s", w->window_no, window_state(w->state));
    if (w->ticket != NULL)
        printf(": %s (ticket %llu) %s", w->ticket->number, (unsigned long long)w->ticket->id,
               ticket_state(w->ticket->state));
    if (w->pick_reason[0] != '\0')
        printf(" — %s", w->pick_reason);
    printf("; %u waiting for it\n", w->waiting);
}

/* One window verb: call (CALL_NEXT), open (SIGN_IN), close (SIGN_OUT). */
static int window_verb(int argc, char **argv, Hall__Envelope__BodyCase body, const char *usage,
                       const char *help)
{
    static const struct option options[] = {{"window", required_argument, NULL, 'w'},
                                            {"no", required_argument, NULL, 'w'},
                                            {"clerk", required_argument, NULL, 'k'},
                                            TARGET_OPTIONS,
                                            {NULL, 0, NULL, 0}};
    struct target t = {0};
    uint32_t no = 0;
    char clerk[64] = "";
    int opt;

    while ((opt = getopt_long(argc, argv, "c:w:h", options, NULL)) != -1) {
        if (target_option(&t, opt))
            continue;
        switch (opt) {
        case 'w':
            if (parse_window(optarg, &no) < 0)
                return hallctl_fail("--window %s: expected a window number 1..100000", optarg);
            break;
        case 'k':
            snprintf(clerk, sizeof clerk, "%s", optarg);
            break;
        case 'h':
            printf("usage: %s\n%s" TARGET_HELP, usage, help);
            return 0;
        default:
            return 2;
        }
    }
    if (optind != argc || no == 0 || (body == HALL__ENVELOPE__BODY_SIGN_IN && clerk[0] == '\0'))
        return fprintf(stderr, "usage: %s\n", usage), 2;
    devlink *l = connect_tool(&t);
    if (l == NULL)
        return 1;
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__CallNext call = HALL__CALL_NEXT__INIT;
    Hall__SignIn in = HALL__SIGN_IN__INIT;
    Hall__SignOut out = HALL__SIGN_OUT__INIT;
    env.body_case = body;
    if (body == HALL__ENVELOPE__BODY_CALL_NEXT) {
        call.window_no = no;
        env.call_next = &call;
    } else if (body == HALL__ENVELOPE__BODY_SIGN_IN) {
        in.window_no = no;
        in.clerk_id = clerk;
        env.sign_in = &in;
    } else {
        out.window_no = no;
        env.sign_out = &out;
    }
    Hall__Envelope *r = ask(l, &env, HALL__ENVELOPE__BODY_WINDOW_REPLY);
    devlink_close(l);
    if (r == NULL)
        return 1;
    print_window(r->window_reply);
    proto_free(r);
    return 0;
}

static int call(int argc, char **argv)
{
    return window_verb(argc, argv, HALL__ENVELOPE__BODY_CALL_NEXT,
                       "hallctl call --window N [-c CONFIG]",
                       "Press call-next for window N: the next ticket by the hall's policy\n"
                       "(a recall if the window already has a called ticket).\n");
}

static int window_open(int argc, char **argv)
{
    return window_verb(argc, argv, HALL__ENVELOPE__BODY_SIGN_IN,
                       "hallctl window open --no N --clerk ID [-c CONFIG]",
                       "Sign clerk ID in at window N, which opens it for calling.\n");
}

static int window_close(int argc, char **argv)
{
    return window_verb(argc, argv, HALL__ENVELOPE__BODY_SIGN_OUT,
                       "hallctl window close --no N [-c CONFIG]",
                       "Sign the clerk out of window N, which closes it.\n");
}

/* ---- alerts ---------------------------------------------------------------- */

static int alerts_print(void *arg, const store_alert *a)
{
    clk_zone *zone = arg;
    char when[40] = "";

    if (zone != NULL)
        clk_format_iso(zone, a->raised_ms, when, sizeof when);
    printf("%-16s %-19s %-8s %-12s %s\n  %s\n  %s\n", a->id, a->rule,
           sv_level_name((sv_level)a->level), sv_state_name((sv_state)a->state), when, a->text_zh,
           a->text_en);
    if (a->acked_by[0] != '\0')
        printf("  acknowledged by %s: %s\n", a->acked_by, a->ack_note);
    if (a->state == SV_RESOLVED)
        printf("  resolved by %s%s%s\n", a->resolved_by, a->resolve_note[0] ? ": " : "",
               a->resolve_note);
    return 0;
}

/* alerts list: read from the hall's database, read-only (no halld needed). */
static int alerts_list(const char *config, bool all)
{
    struct halld_conf conf = {0};
    char err[512];
    store *s;

    if (halld_conf_load(&conf, config ? config : DEFAULT_CONFIG, err, sizeof err) < 0)
        return hallctl_fail("%s", err);
    if ((s = store_open(conf.store_path, conf.hall_id, STORE_READER, err, sizeof err)) == NULL) {
        halld_conf_release(&conf);
        return hallctl_fail("%s", err);
    }
    clk_zone *zone = clk_zone_new(conf.time_zone);
    int rc = store_load_alerts(s, !all, 1000, alerts_print, zone);
    if (rc != 0)
        hallctl_fail("cannot read the alerts: %s", store_errmsg(s));
    clk_zone_free(zone);
    store_close(s);
    halld_conf_release(&conf);
    return rc != 0;
}

/* alerts ack|resolve ID --note TEXT: AlertAction to halld. */
static int alerts_act(struct target *t, char *id, bool resolve, char *note)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__AlertAction m = HALL__ALERT_ACTION__INIT;
    devlink *l = connect_tool(t);

    if (l == NULL)
        return 1;
    m.alert_id = id;
    m.action = resolve ? HALL__ALERT_ACTION__ACTION__RESOLVE : HALL__ALERT_ACTION__ACTION__ACK;
    m.note = note;
    env.body_case = HALL__ENVELOPE__BODY_ALERT_ACTION;
    env.alert_action = &m;
    Hall__Envelope *r = ask(l, &env, HALL__ENVELOPE__BODY_ALERT_REPLY);
    devlink_close(l);
    if (r == NULL)
        return 1;
    printf("alert %s: %s, %s\n", r->alert_reply->alert_id, r->alert_reply->state,
           r->alert_reply->level);
    proto_free(r);
    return 0;
}

static int alerts(int argc, char **argv)
{
    static const struct option options[] = {{"all", no_argument, NULL, 'a'},
                                            {"note", required_argument, NULL, 'n'},
                                            TARGET_OPTIONS,
                                            {NULL, 0, NULL, 0}};
    static const char use[] = "usage: hallctl alerts [list [--all]] [-c CONFIG]\n"
                              "       hallctl alerts ack ID --note TEXT [-c CONFIG]\n"
                              "       hallctl alerts resolve ID --note TEXT [-c CONFIG]\n";
    const char *sub = argc >= 2 && argv[1][0] != '-' ? argv[1] : "list";
    char *note = NULL;
    struct target t = {0};
    bool all = false;
    int opt;

    if (argc >= 2 && argv[1][0] != '-') {
        argc--;
        argv++;
    }
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        if (target_option(&t, opt))
            continue;
        if (opt == 'a') {
            all = true;
        } else if (opt == 'n') {
            note = optarg;
        } else if (opt == 'h') {
            printf("%s"
                   "List the open alerts of electronic supervision (--all: resolved ones too,\n"
                   "newest first, from the hall's database), or acknowledge or resolve one by\n"
                   "its id through the running halld, with a note "
                   "(docs/supervision.md).\n" TARGET_HELP,
                   use);
            return 0;
        } else {
            return 2;
        }
    }
    if (strcmp(sub, "list") == 0 && optind == argc)
        return alerts_list(t.config, all);
    if ((strcmp(sub, "ack") == 0 || strcmp(sub, "resolve") == 0) && optind == argc - 1 &&
        note != NULL)
        return alerts_act(&t, argv[optind], strcmp(sub, "resolve") == 0, note);
    fputs(use, stderr);
    return 2;
}

const hallctl_verb hallctl_device_verbs[] = {
    {"ping", NULL, ping, "connect to halld as a device: TLS, HELLO, heartbeats"},
    {"queues", NULL, queues, "show areas, windows and the latest calls (running halld)"},
    {"issue", NULL, issue, "take a ticket as a kiosk would (running halld)"},
    {"call", NULL, call, "press call-next for a window (running halld)"},
    {"window", "open", window_open, "sign a clerk in at a window (running halld)"},
    {"window", "close", window_close, "sign the clerk out of a window (running halld)"},
    {"alerts", NULL, alerts, "list, acknowledge or resolve supervision alerts"},
    {NULL, NULL, NULL, NULL},
};
