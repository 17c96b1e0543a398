/*
 * klink — the kiosk's link to halld. See klink.h for the states, the
 * request table and the retry rules.
 */
#include "klink.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "clk.h"
#include "net.h"

#define BACKOFF_MIN_MS 200
/* ERR_UNAVAILABLE: resent after this, doubling up to the most while halld
 * keeps answering it (a failing disk, a device past its request cap). */
#define UNAVAILABLE_MS     1000
#define UNAVAILABLE_MAX_MS 60000
#define DEFAULT_BEAT_MS    10000
#define DEFAULT_IDLE_MS    35000

typedef enum klink_state { KL_DOWN, KL_CONNECTING, KL_HELLO, KL_UP } klink_state;

struct request {
    uint64_t id;
    uint8_t *frame;
    size_t len;
};

struct klink {
    ev_loop *loop;
    klink_callbacks cb;
    void *arg;
    char host[256], device_id[72], firmware[64];
    int port;
    Hall__DeviceType type;
    uint32_t window_no;
    int64_t reconnect_max_ms, connect_timeout_ms;
    net_tls *tls;
    net_conn *conn;
    klink_state state;
    int64_t backoff_ms;
    unsigned seed;
    ev_timer retry;  /* DOWN: next attempt; CONNECTING/HELLO: give up */
    ev_timer beat;   /* UP: next heartbeat and silence check */
    ev_timer resend; /* ERR_UNAVAILABLE answers: send those requests again */
    int64_t beat_ms, idle_ms, last_rx;
    /* When the HELLO and the last heartbeat left (UTC, and monotonic for
     * the round trip): their answers carry halld's clock. */
    int64_t hello_utc, hello_mono, beat_utc, beat_mono;
    uint64_t hello_id, sub_id, last_seq;
    struct request *req; /* in the order they were sent */
    size_t nreq, capreq;
    bool closing;    /* klink_free is running: no reconnect, no callbacks */
    uint64_t *again; /* ids answered ERR_UNAVAILABLE */
    size_t nagain, capagain;
    int64_t unavailable_ms; /* wait before the next resend */
};

static void assert_link(const klink *l)
{
    assert(l->state <= KL_UP);
    assert((l->state == KL_DOWN) == (l->conn == NULL));
    assert(l->state != KL_HELLO || l->hello_id != 0);
    assert(l->state != KL_UP || ev_timer_active(&l->beat));
}

static void set_state(klink *l, klink_state to)
{
    l->state = to;
    assert_link(l);
}

/* Free a kept request's frame, wiped first: an ISSUE holds the citizen's
 * ID number when a card was swiped. */
static void drop_frame(struct request *r)
{
    OPENSSL_cleanse(r->frame, r->len);
    free(r->frame);
    r->frame = NULL;
}

/* Pack env into a malloc'd frame. */
static uint8_t *pack(Hall__Envelope *env, size_t *len)
{
    size_t size = proto_frame_size(env);
    uint8_t *frame = malloc(size);

    if (frame == NULL)
        return NULL;
    long n = proto_pack_frame(env, FRAME_MAX, frame, size);
    if (n < 0) {
        int e = errno;
        free(frame);
        errno = e;
        return NULL;
    }
    *len = (size_t)n;
    return frame;
}

static int write_env(klink *l, Hall__Envelope *env)
{
    size_t len;
    uint8_t *frame = pack(env, &len);
    int rc;

    if (frame == NULL)
        return -1;
    rc = l->conn ? net_conn_write(l->conn, frame, len) : -1;
    free(frame);
    if (l->conn)
        net_conn_flush(l->conn);
    return rc;
}

static void close_conn(klink *l, const char *reason)
{
    if (l->conn != NULL)
        net_conn_close(l->conn, false, reason);
}

static void schedule_attempt(klink *l)
{
    int64_t d = l->backoff_ms;
    int64_t wait = d / 2 + (int64_t)(rand_r(&l->seed) % (unsigned)(d / 2 + 1));

    l->backoff_ms = d * 2 > l->reconnect_max_ms ? l->reconnect_max_ms : d * 2;
    ev_timer_start(l->loop, &l->retry, wait);
}

static const net_conn_handlers handlers;

static void attempt(klink *l)
{
    char err[NET_ERR_LEN];
    int fd = net_connect(l->host, l->port, err);

    if (fd < 0) {
        l->cb.down(l->arg, err);
        schedule_attempt(l);
        return;
    }
    l->conn = net_conn_new(l->loop, fd, l->tls, false, FRAME_MAX + FRAME_HEADER, 0, &handlers, l);
    if (l->conn == NULL) {
        l->cb.down(l->arg, strerror(errno));
        schedule_attempt(l);
        return;
    }
    l->hello_id = 0;
    set_state(l, KL_CONNECTING);
    ev_timer_start(l->loop, &l->retry, l->connect_timeout_ms);
}

static void on_retry(ev_loop *loop, ev_timer *t, void *arg)
{
    klink *l = arg;

    if (l->state == KL_DOWN)
        attempt(l);
    else if (l->state != KL_UP)
        close_conn(l, "no answer from halld in time");
}

static void send_heartbeat(klink *l)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Heartbeat hb = HALL__HEARTBEAT__INIT;

    l->beat_utc = hb.device_time_ms = clk_utc_ms();
    l->beat_mono = clk_mono_ms();
    env.body_case = HALL__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    write_env(l, &env);
}

static void on_beat(ev_loop *loop, ev_timer *t, void *arg)
{
    klink *l = arg;

    if (l->state != KL_UP)
        return;
    if (ev_now(loop) - l->last_rx > l->idle_ms) {
        close_conn(l, "halld went silent");
        return;
    }
    send_heartbeat(l);
    ev_timer_start(loop, &l->beat, l->beat_ms);
}

static struct request *find(klink *l, uint64_t id, size_t *at)
{
    for (size_t i = 0; i < l->nreq; i++)
        if (l->req[i].id == id) {
            if (at != NULL)
                *at = i;
            return &l->req[i];
        }
    return NULL;
}

static void on_resend(ev_loop *loop, ev_timer *t, void *arg)
{
    klink *l = arg;

    for (size_t i = 0; i < l->nagain; i++) {
        struct request *r = find(l, l->again[i], NULL);
        if (r != NULL && l->state == KL_UP && net_conn_write(l->conn, r->frame, r->len) == 0)
            net_conn_flush(l->conn);
    }
    l->nagain = 0;
}

static void subscribe(klink *l)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Subscribe sub = HALL__SUBSCRIBE__INIT;

    if (l->cb.push == NULL)
        return;
    if ((l->sub_id = l->cb.next_id(l->arg)) == 0)
        return;
    sub.last_seq = l->last_seq;
    env.request_id = l->sub_id;
    env.body_case = HALL__ENVELOPE__BODY_SUBSCRIBE;
    env.subscribe = &sub;
    write_env(l, &env);
}

static void on_open(net_conn *c, void *arg)
{
    klink *l = arg;
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Hello hello;

    hall__hello__init(&hello);
    hello.device_id = l->device_id;
    hello.type = l->type;
    hello.window_no = l->window_no;
    hello.firmware_version = l->firmware;
    hello.protocol_version = PROTO_VERSION;
    if ((l->hello_id = l->cb.next_id(l->arg)) == 0) {
        close_conn(l, "no request id for HELLO");
        return;
    }
    env.request_id = l->hello_id;
    env.body_case = HALL__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    l->hello_utc = clk_utc_ms();
    l->hello_mono = clk_mono_ms();
    set_state(l, KL_HELLO);
    if (write_env(l, &env) < 0)
        close_conn(l, "cannot send HELLO");
}

/* halld's clock read server_ms while a message sent at sent_utc (UTC),
 * sent_mono (monotonic) was on its way: halld's clock minus the kiosk's,
 * taking halld's reading as made halfway through the round trip (which
 * the monotonic clock measures, whatever the wall clock did meanwhile). */
static void measured(klink *l, int64_t server_ms, int64_t sent_utc, int64_t sent_mono)
{
    int64_t rtt = clk_mono_ms() - sent_mono;

    if (l->cb.clock != NULL && server_ms != 0 && rtt >= 0)
        l->cb.clock(l->arg, server_ms - (sent_utc + rtt / 2), rtt);
}

static void hello_answered(klink *l, const Hall__Envelope *env)
{
    if (env->body_case != HALL__ENVELOPE__BODY_HELLO_REPLY) {
        char reason[300];
        snprintf(reason, sizeof reason, "halld refused HELLO: %s",
                 env->body_case == HALL__ENVELOPE__BODY_ERROR ? env->error->message : "?");
        close_conn(l, reason);
        return;
    }
    const Hall__HelloReply *r = env->hello_reply;
    l->beat_ms = r->heartbeat_interval_ms ? r->heartbeat_interval_ms : DEFAULT_BEAT_MS;
    l->idle_ms = r->idle_timeout_ms ? r->idle_timeout_ms : DEFAULT_IDLE_MS;
    l->backoff_ms = BACKOFF_MIN_MS;
    ev_timer_stop(l->loop, &l->retry);
    ev_timer_start(l->loop, &l->beat, l->beat_ms);
    set_state(l, KL_UP);
    /* Unanswered requests again, same ids, in their order. */
    for (size_t i = 0; i < l->nreq; i++)
        if (net_conn_write(l->conn, l->req[i].frame, l->req[i].len) < 0)
            return;
    net_conn_flush(l->conn);
    subscribe(l);
    measured(l, r->server_time_ms, l->hello_utc, l->hello_mono);
    l->cb.up(l->arg, r);
}

static void handle_push(klink *l, const Hall__Envelope *env)
{
    const Hall__DisplayPush *p = env->display_push;

    if (!p->snapshot && l->last_seq != 0 && p->seq != l->last_seq + 1) {
        /* A gap: the picture may be wrong; ask for a fresh one. */
        subscribe(l);
        return;
    }
    if (p->seq > l->last_seq || p->snapshot)
        l->last_seq = p->seq;
    l->cb.push(l->arg, p);
}

static void dispatch(klink *l, const Hall__Envelope *env)
{
    size_t at;

    if (l->state == KL_HELLO) {
        if (env->request_id == l->hello_id || env->body_case == HALL__ENVELOPE__BODY_ERROR)
            hello_answered(l, env);
        return;
    }
    if (env->body_case == HALL__ENVELOPE__BODY_DISPLAY_PUSH && l->cb.push != NULL &&
        (env->request_id == 0 || env->request_id == l->sub_id)) {
        handle_push(l, env);
        return;
    }
    if (env->body_case == HALL__ENVELOPE__BODY_HEARTBEAT_REPLY) {
        /* Only the answer to the last heartbeat: an older one's round trip
         * is unknown. */
        if (env->heartbeat_reply->device_time_ms == l->beat_utc)
            measured(l, env->heartbeat_reply->server_time_ms, l->beat_utc, l->beat_mono);
        return;
    }
    if (env->request_id == 0)
        return;
    if (find(l, env->request_id, &at) == NULL)
        return;
    if (env->body_case == HALL__ENVELOPE__BODY_ERROR &&
        env->error->code == HALL__ERROR_CODE__ERR_UNAVAILABLE) {
        if (l->nagain == l->capagain) {
            size_t cap = l->capagain ? l->capagain * 2 : 8;
            uint64_t *a = realloc(l->again, cap * sizeof *a);
            if (a == NULL)
                return;
            l->again = a;
            l->capagain = cap;
        }
        l->again[l->nagain++] = env->request_id;
        if (!ev_timer_active(&l->resend)) {
            ev_timer_start(l->loop, &l->resend, l->unavailable_ms);
            l->unavailable_ms = l->unavailable_ms * 2 > UNAVAILABLE_MAX_MS ? UNAVAILABLE_MAX_MS
                                                                           : l->unavailable_ms * 2;
        }
        return;
    }
    l->unavailable_ms = UNAVAILABLE_MS;
    drop_frame(&l->req[at]);
    memmove(&l->req[at], &l->req[at + 1], (l->nreq - at - 1) * sizeof l->req[0]);
    l->nreq--;
    l->cb.answer(l->arg, env->request_id, env);
}

static void on_data(net_conn *c, buf *in, void *arg)
{
    klink *l = arg;
    const uint8_t *payload;
    size_t len, used;
    int rc;

    l->last_rx = ev_now(l->loop);
    while (l->conn == c &&
           (rc = frame_next(buf_rdata(in), buf_rlen(in), FRAME_MAX, &payload, &len, &used)) == 1) {
        Hall__Envelope *env = proto_unpack(payload, len);
        buf_consume(in, used);
        if (env == NULL) {
            close_conn(l, proto_strerror(errno));
            return;
        }
        dispatch(l, env);
        proto_free(env);
    }
    if (l->conn == c && rc < 0)
        close_conn(l, frame_strerror(errno));
}

static void on_close(net_conn *c, const char *reason, void *arg)
{
    klink *l = arg;
    bool was_up = l->state == KL_UP;

    l->conn = NULL;
    if (l->closing)
        return;
    ev_timer_stop(l->loop, &l->beat);
    ev_timer_stop(l->loop, &l->resend);
    l->nagain = 0;
    set_state(l, KL_DOWN);
    schedule_attempt(l);
    if (was_up || reason != NULL)
        l->cb.down(l->arg, reason ? reason : "closed");
}

static const net_conn_handlers handlers = {on_open, on_data, on_close};

klink *klink_new(ev_loop *loop, const klink_conf *conf, const klink_callbacks *cb, void *arg,
                 char *err, size_t errlen)
{
    klink *l;
    char nerr[NET_ERR_LEN];

    if (loop == NULL || conf == NULL || cb == NULL || cb->next_id == NULL || cb->up == NULL ||
        cb->down == NULL || cb->answer == NULL || conf->host == NULL || conf->device_id == NULL ||
        conf->port < 1 || conf->port > 65535) {
        snprintf(err, errlen, "klink: bad arguments");
        errno = EINVAL;
        return NULL;
    }
    if ((l = calloc(1, sizeof *l)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->loop = loop;
    l->cb = *cb;
    l->arg = arg;
    snprintf(l->host, sizeof l->host, "%s", conf->host);
    snprintf(l->device_id, sizeof l->device_id, "%s", conf->device_id);
    snprintf(l->firmware, sizeof l->firmware, "%s", conf->firmware ? conf->firmware : "");
    l->port = conf->port;
    l->type = conf->type != HALL__DEVICE_TYPE__DEVICE_UNKNOWN ? conf->type
                                                              : HALL__DEVICE_TYPE__DEVICE_KIOSK;
    l->window_no = conf->window_no;
    l->reconnect_max_ms =
        conf->reconnect_max_ms >= BACKOFF_MIN_MS ? conf->reconnect_max_ms : BACKOFF_MIN_MS;
    l->connect_timeout_ms = conf->connect_timeout_ms > 0 ? conf->connect_timeout_ms : 10000;
    l->backoff_ms = BACKOFF_MIN_MS;
    l->seed = (unsigned)clk_mono_ms() ^ (unsigned)getpid();
    l->beat_ms = DEFAULT_BEAT_MS;
    l->idle_ms = DEFAULT_IDLE_MS;
    ev_timer_init(&l->retry, on_retry, l);
    ev_timer_init(&l->beat, on_beat, l);
    ev_timer_init(&l->resend, on_resend, l);
    l->unavailable_ms = UNAVAILABLE_MS;
    if (conf->ca != NULL &&
        (l->tls = net_tls_new_client(conf->cert, conf->key, conf->ca, nerr)) == NULL) {
        snprintf(err, errlen, "%s", nerr);
        free(l);
        errno = EINVAL;
        return NULL;
    }
    set_state(l, KL_DOWN);
    attempt(l);
    return l;
}

void klink_free(klink *l)
{
    if (l == NULL)
        return;
    l->closing = true;
    if (l->conn != NULL)
        net_conn_close(l->conn, false, "kiosk shutting down");
    ev_timer_stop(l->loop, &l->retry);
    ev_timer_stop(l->loop, &l->beat);
    ev_timer_stop(l->loop, &l->resend);
    for (size_t i = 0; i < l->nreq; i++)
        drop_frame(&l->req[i]);
    free(l->req);
    free(l->again);
    net_tls_free(l->tls);
    free(l);
}

uint64_t klink_send(klink *l, Hall__Envelope *req)
{
    uint64_t id = l->cb.next_id(l->arg);

    return id != 0 ? klink_send_as(l, req, id) : 0;
}

uint64_t klink_send_as(klink *l, Hall__Envelope *req, uint64_t request_id)
{
    struct request r;

    if (request_id == 0 || find(l, request_id, NULL) != NULL) {
        errno = EINVAL;
        return 0;
    }
    if (l->nreq == l->capreq) {
        size_t cap = l->capreq ? l->capreq * 2 : 16;
        struct request *a = realloc(l->req, cap * sizeof *a);
        if (a == NULL)
            return 0;
        l->req = a;
        l->capreq = cap;
    }
    r.id = request_id;
    req->request_id = r.id;
    if ((r.frame = pack(req, &r.len)) == NULL)
        return 0;
    l->req[l->nreq++] = r;
    if (l->state == KL_UP && net_conn_write(l->conn, r.frame, r.len) == 0)
        net_conn_flush(l->conn);
    return r.id;
}

void klink_cancel(klink *l, uint64_t request_id)
{
    size_t at;

    if (find(l, request_id, &at) == NULL)
        return;
    drop_frame(&l->req[at]);
    memmove(&l->req[at], &l->req[at + 1], (l->nreq - at - 1) * sizeof l->req[0]);
    l->nreq--;
}

bool klink_is_up(const klink *l)
{
    return l->state == KL_UP;
}

size_t klink_pending(const klink *l)
{
    return l->nreq;
}
