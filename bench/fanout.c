/*
 * fanout — see fanout.h.
 *
 * A fleet is the loop and its links (peers). Each peer goes through
 *
 *   IDLE --open--> CONNECTING --on_open: HELLO--> HELLO --HELLO_REPLY--> READY
 *                                                   |  (a display: SUBSCRIBE first)
 *                                                   +--> SUBSCRIBING --snapshot--> READY
 *   CONNECTING, HELLO, SUBSCRIBING, READY --on_close--> CLOSED
 *
 * and assert_fleet() checks the fleet's counts against that. The caller of
 * `fanout` is peer 0; its rounds are a second machine, driven by its
 * answers:
 *
 *   SIGN_IN -> ISSUE -> PRINTED -> CALL (timed: answer + every display) -> START -> FINISH
 *                ^                                                               |
 *                +---------------------------- next round ----------------------+
 *   after the last round: SIGN_OUT, if SIGN_IN opened the window
 */
#include "fanout.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clk.h"
#include "ev.h"
#include "net.h"
#include "probe.h"
#include "proto.h"

#define FANOUT_ROUND_MS   30000 /* a round that takes longer has failed */
#define FANOUT_DEFAULT_HB 10000 /* heartbeat interval until halld says */
#define FANOUT_HELLO_ID   1     /* HELLO, SUBSCRIBE and heartbeats change nothing */

enum peer_state {
    PEER_IDLE,
    PEER_CONNECTING,
    PEER_HELLO,
    PEER_SUBSCRIBING,
    PEER_READY,
    PEER_CLOSED,
};

enum peer_role { ROLE_IDLE, ROLE_DISPLAY, ROLE_CALLER };

struct fleet;

struct peer {
    struct fleet *f;
    net_conn *conn;
    enum peer_state state;
    enum peer_role role;
    int64_t got_ns; /* a display: when it had this round's call, 0 if not yet */
};

enum step {
    STEP_NONE,
    STEP_SIGN_IN,
    STEP_ISSUE,
    STEP_PRINTED,
    STEP_CALL,
    STEP_START,
    STEP_FINISH,
    STEP_SIGN_OUT
};

static const char *const step_names[] = {"none",      "SIGN_IN", "ISSUE",  "PRINTED",
                                         "CALL_NEXT", "START",   "FINISH", "SIGN_OUT"};

/* The caller's rounds. */
struct rounds {
    uint32_t window;
    char area[32];
    enum step step;
    uint64_t next_id, want_id; /* request ids: the next, and the one awaited */
    uint64_t ticket;
    int64_t t0;      /* CALL_NEXT sent, ns */
    int64_t started; /* this step began, ns (for the round timeout) */
    bool answered;   /* CALL_NEXT answered */
    bool signed_in;  /* the window was closed and we opened it */
    unsigned got;    /* displays that have the call */
    unsigned done, wanted;
    lat *lat;
};

struct fleet {
    ev_loop *loop;
    net_tls *tls;
    const target_halld_addr *addr;
    struct peer *peers;
    unsigned n, next_open;
    unsigned pending; /* CONNECTING, HELLO or SUBSCRIBING */
    unsigned ready, closed;
    bool stopping; /* closes are ours from now on */
    bool failed;
    char why[300];
    ev_timer heartbeat;
    int64_t heartbeat_ms;
    struct rounds r;
};

static void fleet_fail(struct fleet *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fleet_fail(struct fleet *f, const char *fmt, ...)
{
    va_list ap;

    if (f->failed)
        return;
    f->failed = true;
    va_start(ap, fmt);
    vsnprintf(f->why, sizeof f->why, fmt, ap);
    va_end(ap);
}

/* The counts agree with the peers' states. */
static void assert_fleet(const struct fleet *f)
{
#ifndef NDEBUG
    unsigned pending = 0, ready = 0, closed = 0;
    for (unsigned i = 0; i < f->n; i++) {
        const struct peer *p = &f->peers[i];
        assert((p->conn != NULL) == (p->state != PEER_IDLE && p->state != PEER_CLOSED));
        assert(p->state != PEER_IDLE || i >= f->next_open);
        assert(p->state != PEER_SUBSCRIBING || p->role == ROLE_DISPLAY);
        pending +=
            p->state == PEER_CONNECTING || p->state == PEER_HELLO || p->state == PEER_SUBSCRIBING;
        ready += p->state == PEER_READY;
        closed += p->state == PEER_CLOSED;
    }
    assert(pending == f->pending && ready == f->ready && closed == f->closed);
#else
    (void)f;
#endif
}

/* ---- Sending ------------------------------------------------------------------ */

static int peer_send(struct peer *p, Hall__Envelope *env)
{
    uint8_t frame[1024];
    long n = proto_pack_frame(env, FRAME_MAX, frame, sizeof frame);

    if (n < 0 || p->conn == NULL || net_conn_write(p->conn, frame, (size_t)n) < 0) {
        fleet_fail(p->f, "cannot send %s: %s", proto_body_name(env->body_case),
                   proto_strerror(errno));
        return -1;
    }
    net_conn_flush(p->conn);
    return 0;
}

static void send_hello(struct peer *p)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Hello hello;
    char id[] = TARGET_HALLD_DEVICE, firmware[] = "hallbench " ONEWINDOW_VERSION;

    hall__hello__init(&hello);
    hello.device_id = id;
    hello.type = HALL__DEVICE_TYPE__DEVICE_TOOL;
    hello.protocol_version = PROTO_VERSION;
    hello.firmware_version = firmware;
    env.request_id = FANOUT_HELLO_ID;
    env.body_case = HALL__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    peer_send(p, &env);
}

static void send_subscribe(struct peer *p)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Subscribe sub;

    hall__subscribe__init(&sub);
    env.request_id = FANOUT_HELLO_ID;
    env.body_case = HALL__ENVELOPE__BODY_SUBSCRIBE;
    env.subscribe = &sub;
    peer_send(p, &env);
}

static void on_heartbeat(ev_loop *loop, ev_timer *t, void *arg)
{
    struct fleet *f = arg;

    for (unsigned i = 0; i < f->n; i++) {
        struct peer *p = &f->peers[i];
        if (p->state != PEER_READY && p->state != PEER_SUBSCRIBING)
            continue;
        Hall__Envelope env = HALL__ENVELOPE__INIT;
        Hall__Heartbeat hb;
        hall__heartbeat__init(&hb);
        hb.device_time_ms = clk_utc_ms();
        env.body_case = HALL__ENVELOPE__BODY_HEARTBEAT;
        env.heartbeat = &hb;
        peer_send(p, &env);
    }
    ev_timer_start(loop, t, f->heartbeat_ms);
}

/* ---- The caller's rounds ------------------------------------------------------- */

static void round_send(struct fleet *f, enum step step)
{
    struct rounds *r = &f->r;
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__SignIn in;
    Hall__IssueRequest issue;
    Hall__Printed printed;
    Hall__CallNext call;
    Hall__Start start;
    Hall__Finish finish;
    Hall__SignOut out;
    char clerk[32];

    r->step = step;
    r->want_id = r->next_id++;
    r->started = lat_now_ns();
    env.request_id = r->want_id;
    switch (step) {
    case STEP_SIGN_IN:
        hall__sign_in__init(&in);
        snprintf(clerk, sizeof clerk, "c-%u", r->window);
        in.window_no = r->window;
        in.clerk_id = clerk;
        env.body_case = HALL__ENVELOPE__BODY_SIGN_IN;
        env.sign_in = &in;
        break;
    case STEP_ISSUE:
        hall__issue_request__init(&issue);
        issue.area = r->area;
        env.body_case = HALL__ENVELOPE__BODY_ISSUE;
        env.issue = &issue;
        break;
    case STEP_PRINTED:
        hall__printed__init(&printed);
        printed.ticket_id = r->ticket;
        env.body_case = HALL__ENVELOPE__BODY_PRINTED;
        env.printed = &printed;
        break;
    case STEP_CALL:
        for (unsigned i = 0; i < f->n; i++)
            f->peers[i].got_ns = 0;
        r->got = 0;
        r->answered = false;
        hall__call_next__init(&call);
        call.window_no = r->window;
        env.body_case = HALL__ENVELOPE__BODY_CALL_NEXT;
        env.call_next = &call;
        r->t0 = lat_now_ns();
        break;
    case STEP_START:
        hall__start__init(&start);
        start.window_no = r->window;
        start.ticket_id = r->ticket;
        env.body_case = HALL__ENVELOPE__BODY_START;
        env.start = &start;
        break;
    case STEP_SIGN_OUT:
        hall__sign_out__init(&out);
        out.window_no = r->window;
        env.body_case = HALL__ENVELOPE__BODY_SIGN_OUT;
        env.sign_out = &out;
        break;
    default:
        assert(step == STEP_FINISH);
        hall__finish__init(&finish);
        finish.window_no = r->window;
        finish.ticket_id = r->ticket;
        env.body_case = HALL__ENVELOPE__BODY_FINISH;
        env.finish = &finish;
        break;
    }
    peer_send(&f->peers[0], &env);
}

/* The call of this round has been answered and has reached every display
 * that is still there: record it and move on. */
static void round_check(struct fleet *f)
{
    struct rounds *r = &f->r;

    if (r->step != STEP_CALL || !r->answered || r->got < f->ready - 1)
        return;
    int64_t last = r->t0;
    for (unsigned i = 1; i < f->n; i++)
        if (f->peers[i].got_ns > last)
            last = f->peers[i].got_ns;
    lat_record(r->lat, last - r->t0);
    round_send(f, STEP_START);
}

/* An answer on the caller's link. */
static void caller_answer(struct fleet *f, const Hall__Envelope *env)
{
    struct rounds *r = &f->r;

    if (env->request_id != r->want_id || r->step == STEP_NONE)
        return; /* a heartbeat's answer, or HELLO's */
    if (env->body_case == HALL__ENVELOPE__BODY_ERROR && env->error != NULL) {
        /* A window already open (a previous run) is what SIGN_IN wants. */
        if (r->step == STEP_SIGN_IN && env->error->code == HALL__ERROR_CODE__ERR_ILLEGAL_STATE) {
            round_send(f, STEP_ISSUE);
            return;
        }
        if (r->step == STEP_SIGN_OUT) { /* the window is still open: no matter */
            r->step = STEP_NONE;
            return;
        }
        fleet_fail(f, "round %u: %s refused: %s: %s", r->done + 1, step_names[r->step],
                   target_halld_error_name(env->error->code), env->error->message);
        return;
    }
    switch (r->step) {
    case STEP_SIGN_IN:
        r->signed_in = true;
        round_send(f, STEP_ISSUE);
        return;
    case STEP_ISSUE:
        if (env->body_case != HALL__ENVELOPE__BODY_ISSUE_REPLY || env->issue_reply == NULL ||
            env->issue_reply->ticket == NULL)
            break;
        r->ticket = env->issue_reply->ticket->id;
        round_send(f, STEP_PRINTED);
        return;
    case STEP_PRINTED:
        if (env->body_case != HALL__ENVELOPE__BODY_TICKET_REPLY)
            break;
        round_send(f, STEP_CALL);
        return;
    case STEP_CALL:
        if (env->body_case != HALL__ENVELOPE__BODY_WINDOW_REPLY || env->window_reply == NULL ||
            env->window_reply->ticket == NULL)
            break;
        r->ticket = env->window_reply->ticket->id;
        r->answered = true;
        round_check(f);
        return;
    case STEP_START:
        if (env->body_case != HALL__ENVELOPE__BODY_WINDOW_REPLY)
            break;
        round_send(f, STEP_FINISH);
        return;
    case STEP_FINISH:
        if (env->body_case != HALL__ENVELOPE__BODY_WINDOW_REPLY)
            break;
        if (++r->done < r->wanted)
            round_send(f, STEP_ISSUE);
        else if (r->signed_in)
            round_send(f, STEP_SIGN_OUT); /* leave the window as it was found */
        else
            r->step = STEP_NONE;
        return;
    case STEP_SIGN_OUT:
        r->step = STEP_NONE;
        return;
    default:
        return;
    }
    fleet_fail(f, "round %u: %s answered with %s", r->done + 1, step_names[r->step],
               proto_body_name(env->body_case));
}

/* A push on a display's link: does it carry this round's call? */
static void display_push(struct peer *p, const Hall__DisplayPush *push, int64_t now)
{
    struct rounds *r = &p->f->r;

    if (r->step != STEP_CALL || p->got_ns != 0 || push->snapshot)
        return;
    for (size_t i = 0; i < push->n_calls; i++)
        if (push->calls[i] != NULL && push->calls[i]->window_no == r->window) {
            p->got_ns = now;
            r->got++;
            round_check(p->f);
            return;
        }
}

/* ---- Links ---------------------------------------------------------------------- */

static void open_more(struct fleet *f);

static void peer_ready(struct peer *p)
{
    p->state = PEER_READY;
    p->f->pending--;
    p->f->ready++;
    open_more(p->f);
}

static void peer_message(struct peer *p, const Hall__Envelope *env, int64_t now)
{
    struct fleet *f = p->f;

    if (env->body_case == HALL__ENVELOPE__BODY_ERROR && p->state != PEER_READY) {
        fleet_fail(f, "halld refused %s: %s", p->state == PEER_HELLO ? "HELLO" : "SUBSCRIBE",
                   env->error != NULL ? env->error->message : "?");
        net_conn_close(p->conn, false, "refused");
        return;
    }
    switch (p->state) {
    case PEER_HELLO:
        if (env->body_case != HALL__ENVELOPE__BODY_HELLO_REPLY || env->hello_reply == NULL)
            return;
        if (env->hello_reply->heartbeat_interval_ms > 0 &&
            env->hello_reply->heartbeat_interval_ms < f->heartbeat_ms) {
            f->heartbeat_ms = env->hello_reply->heartbeat_interval_ms;
            ev_timer_start(f->loop, &f->heartbeat, f->heartbeat_ms);
        }
        if (p->role == ROLE_DISPLAY) {
            p->state = PEER_SUBSCRIBING;
            send_subscribe(p);
        } else {
            peer_ready(p);
        }
        return;
    case PEER_SUBSCRIBING:
        if (env->body_case == HALL__ENVELOPE__BODY_DISPLAY_PUSH)
            peer_ready(p);
        return;
    case PEER_READY:
        if (p->role == ROLE_CALLER)
            caller_answer(f, env);
        else if (p->role == ROLE_DISPLAY && env->body_case == HALL__ENVELOPE__BODY_DISPLAY_PUSH &&
                 env->display_push != NULL)
            display_push(p, env->display_push, now);
        return;
    default:
        return;
    }
}

static void on_open(net_conn *c, void *arg)
{
    struct peer *p = arg;

    assert(p->state == PEER_CONNECTING);
    p->state = PEER_HELLO;
    send_hello(p);
}

static void on_data(net_conn *c, buf *in, void *arg)
{
    struct peer *p = arg;
    int64_t now = lat_now_ns();
    const uint8_t *payload;
    size_t len, used;
    int rc;

    while (p->state != PEER_CLOSED &&
           (rc = frame_next(buf_rdata(in), buf_rlen(in), FRAME_MAX, &payload, &len, &used)) != 0) {
        if (rc < 0) {
            net_conn_close(c, false, frame_strerror(errno));
            return;
        }
        Hall__Envelope *env = proto_unpack(payload, len);
        buf_consume(in, used);
        if (env == NULL) {
            net_conn_close(c, false, proto_strerror(errno));
            return;
        }
        peer_message(p, env, now);
        proto_free(env);
    }
    assert_fleet(p->f);
}

static void on_close(net_conn *c, const char *reason, void *arg)
{
    struct peer *p = arg;
    struct fleet *f = p->f;

    if (p->state == PEER_READY)
        f->ready--;
    else
        f->pending--;
    p->state = PEER_CLOSED;
    p->conn = NULL;
    f->closed++;
    if (!f->stopping)
        fleet_fail(f, "link %u closed: %s", (unsigned)(p - f->peers), reason);
    open_more(f);
}

static const net_conn_handlers handlers = {on_open, on_data, on_close};

static void open_more(struct fleet *f)
{
    char err[NET_ERR_LEN];

    while (!f->stopping && !f->failed && f->next_open < f->n && f->pending < FANOUT_MAX_PENDING) {
        struct peer *p = &f->peers[f->next_open++];
        int fd = net_connect(f->addr->host, f->addr->port, err);
        if (fd >= 0)
            p->conn =
                net_conn_new(f->loop, fd, f->tls, false, FRAME_MAX + FRAME_HEADER, 0, &handlers, p);
        if (p->conn == NULL) {
            p->state = PEER_CLOSED;
            f->closed++;
            fleet_fail(f, "link %u: %s", (unsigned)(p - f->peers), fd < 0 ? err : strerror(errno));
            return;
        }
        p->state = PEER_CONNECTING;
        f->pending++;
    }
}

/* ---- The fleet -------------------------------------------------------------------- */

static void fleet_free(struct fleet *f)
{
    f->stopping = true;
    for (unsigned i = 0; f->peers != NULL && i < f->n; i++)
        if (f->peers[i].conn != NULL)
            net_conn_close(f->peers[i].conn, false, "benchmark done");
    if (f->loop != NULL) {
        ev_timer_stop(f->loop, &f->heartbeat);
        ev_free(f->loop);
    }
    net_tls_free(f->tls);
    free(f->peers);
}

/* A fleet of n peers (none open yet); -1 with err. */
static int fleet_init(struct fleet *f, const target_halld_addr *a, unsigned n, char *err,
                      size_t errlen)
{
    char why[NET_ERR_LEN];

    memset(f, 0, sizeof *f);
    f->addr = a;
    f->n = n;
    f->heartbeat_ms = FANOUT_DEFAULT_HB;
    if ((f->loop = ev_new()) == NULL || (f->peers = calloc(n, sizeof *f->peers)) == NULL) {
        snprintf(err, errlen, "out of memory");
        fleet_free(f);
        return -1;
    }
    if (!a->plain && (f->tls = net_tls_new_client(a->cert, a->key, a->ca, why)) == NULL) {
        snprintf(err, errlen, "%s", why);
        fleet_free(f);
        return -1;
    }
    for (unsigned i = 0; i < n; i++)
        f->peers[i].f = f;
    ev_timer_init(&f->heartbeat, on_heartbeat, f);
    ev_timer_start(f->loop, &f->heartbeat, f->heartbeat_ms);
    return 0;
}

/* Run the loop until done(f) or a failure; false on failure or after
 * timeout_ms without progress (progress(f) changing). */
static bool fleet_run(struct fleet *f, bool (*done)(const struct fleet *),
                      uint64_t (*progress)(const struct fleet *), int64_t timeout_ms,
                      const char *what)
{
    uint64_t seen = progress(f);
    int64_t since = clk_mono_ms();

    while (!f->failed && !done(f)) {
        if (ev_run_once(f->loop, 100) < 0 && errno != EINTR) {
            fleet_fail(f, "event loop: %s", strerror(errno));
            break;
        }
        uint64_t now = progress(f);
        if (now != seen) {
            seen = now;
            since = clk_mono_ms();
        } else if (clk_mono_ms() - since > timeout_ms) {
            fleet_fail(f, "%s: no progress in %lld ms", what, (long long)timeout_ms);
        }
    }
    return !f->failed;
}

static bool all_open(const struct fleet *f)
{
    return f->ready == f->n;
}

static uint64_t open_progress(const struct fleet *f)
{
    return (uint64_t)f->ready << 32 | f->next_open;
}

static bool rounds_done(const struct fleet *f)
{
    return f->r.step == STEP_NONE;
}

static uint64_t round_progress(const struct fleet *f)
{
    return f->r.next_id + f->r.got;
}

int fanout_run(const target_halld_addr *a, unsigned displays, uint32_t window, unsigned rounds,
               const char *area, lat *l, char *err, size_t errlen)
{
    struct fleet f;

    if (fleet_init(&f, a, displays + 1, err, errlen) < 0)
        return -1;
    f.peers[0].role = ROLE_CALLER;
    for (unsigned i = 1; i <= displays; i++)
        f.peers[i].role = ROLE_DISPLAY;
    f.r.window = window;
    snprintf(f.r.area, sizeof f.r.area, "%s", area);
    f.r.next_id = target_halld_first_id(0);
    f.r.wanted = rounds;
    f.r.lat = l;

    open_more(&f);
    if (fleet_run(&f, all_open, open_progress, FANOUT_ROUND_MS, "opening the links")) {
        round_send(&f, STEP_SIGN_IN);
        fleet_run(&f, rounds_done, round_progress, FANOUT_ROUND_MS, "a round");
    }
    int rc = f.failed ? -1 : 0;
    if (f.failed)
        snprintf(err, errlen, "%s", f.why);
    fleet_free(&f);
    return rc;
}

int fanout_idle(const target_halld_addr *a, unsigned connections, double hold_s, pid_t pid,
                fanout_idle_result *res, char *err, size_t errlen)
{
    struct fleet f;

    memset(res, 0, sizeof *res);
    if (probe_process(pid, &res->rss_kib_before, &res->fds_before, err, errlen) < 0 ||
        fleet_init(&f, a, connections, err, errlen) < 0)
        return -1;
    int64_t t0 = lat_now_ns();
    open_more(&f);
    if (fleet_run(&f, all_open, open_progress, FANOUT_ROUND_MS, "opening the links")) {
        res->open_s = (double)(lat_now_ns() - t0) / 1e9;
        int64_t until = clk_mono_ms() + (int64_t)(hold_s * 1000);
        while (!f.failed && clk_mono_ms() < until)
            ev_run_once(f.loop, 100);
    }
    int rc = -1;
    if (f.failed)
        snprintf(err, errlen, "%s", f.why);
    else if (probe_process(pid, &res->rss_kib, &res->fds, err, errlen) == 0)
        rc = 0;
    fleet_free(&f);
    return rc;
}
