/*
 * server — halld's device server. See server.h.
 *
 * Layout: settings and the server object; sessions (one per connection,
 * with the state machine below); sending; the request table and its
 * handlers; accepting.
 *
 * A session is freed only after the turn in which its connection closed
 * (ev_defer_free), never inside a callback of its own.
 */
#include "server.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clk.h"
#include "conf.h"
#include "log.h"
#include "proto.h"
#include "syncer.h"

/* Accepts per listener wake-up, so a connection storm cannot starve the
 * sessions already open. */
#define ACCEPT_BATCH 64
/* When the process runs out of descriptors, pause accepting this long. */
#define ACCEPT_BACKOFF_MS 100
/* Output a slow device may leave unread before it is dropped. */
#define SESSION_OUT_LIMIT (4u * 1024 * 1024)
#define DEVICE_ID_MAX     Q_DEVICE_MAX
/* How often the hall's timer work runs (reservations, rollover). */
#define HALL_TICK_MS 1000
/* Time a refused peer has to read its ERROR before the link is cut. */
#define CLOSING_GRACE_MS 5000
/* Connections that gave way or were refused in a flood are counted and
 * logged at most this often, not one line each. */
#define FLOOD_LOG_MS 10000

struct settings {
    int64_t idle_timeout_ms;
    int64_t hello_timeout_ms;
    size_t max_connections;
    size_t max_unauthenticated; /* before HELLO, in all */
    size_t max_per_address;     /* before HELLO, from one address */
    size_t max_per_device;      /* links of one device */
    size_t max_per_tool;        /* links of one tool device */
    size_t max_frame;
};

typedef struct session session;

/* The lists of the server a session can be on, each through a link of its
 * own (a session may be on all three at once). */
enum session_list {
    ON_PENDING,  /* holds answers of the open turn */
    ON_SYNCING,  /* holds answers of the turn being synced */
    ON_FLUSHING, /* released answers wait in its conn, sent at the end of the turn */
    SESSION_LISTS
};

struct session_link {
    bool on;
    session *next;
};

struct server {
    ev_loop *loop;
    hall *hall;
    ev_timer tick;                /* the hall's timer work, every HALL_TICK_MS */
    session *list[SESSION_LISTS]; /* see enum session_list */
    uint64_t turn;                /* committed turns, to send each push once */
    /* The committed turn being synced (its sessions: list[ON_SYNCING]). */
    syncer *syncer;
    buf sync_push; /* its push */
    bool fatal;    /* stopped because the hall cannot go on */
    net_tls *tls;  /* NULL: plain TCP (development) */
    struct settings set;
    int listen_fd;
    int port;
    ev_timer accept_backoff;
    session *sessions; /* doubly linked, newest first */
    size_t nsessions;
    uint64_t next_session_id;
    /* Sessions that have not said HELLO yet, oldest first: the ones that
     * give way when a flood fills their share. */
    session *unauth_oldest, *unauth_newest;
    size_t nunauth;
    unsigned gave_way, refused_full; /* since the last flood line */
    int64_t flood_logged_ms;
};

/*
 * Session states:
 *
 *   accept --> AWAIT_HELLO --HELLO accepted--> READY
 *                  |                              |
 *                  |  bad HELLO, request before   |  bad frame, version or
 *                  |  HELLO, hello timeout        |  identity error
 *                  v                              v
 *               CLOSING <-------------------------+   (ERROR sent, flushing)
 *                  |
 *                  v                      peer gone / idle timeout / shutdown
 *               CLOSED <----------------- from any state
 *
 * CLOSED is reached in on_close; the session is then unlinked and freed at
 * the end of the turn.
 */
enum session_state { SESSION_AWAIT_HELLO, SESSION_READY, SESSION_CLOSING, SESSION_CLOSED };

struct session {
    server *srv;
    net_conn *conn;
    enum session_state state;
    uint64_t id;
    ev_timer timer; /* hello timeout, then idle timeout */
    char device_id[DEVICE_ID_MAX + 1];
    hall_device dev; /* who it is, once admitted */
    /* Answers held until their turn is durable: the first sync_len bytes
     * belong to the turn being synced, the rest to the open one. */
    buf held;
    size_t sync_len;
    bool close_after_send;                   /* CLOSING: close once the held answers are out */
    struct session_link link[SESSION_LISTS]; /* its place on the server's lists */
    bool kept;             /* holds an answer kept in the open turn (lost if its commit fails) */
    bool subscribed;       /* receives display pushes */
    bool want_snapshot;    /* SUBSCRIBE in the open turn: snapshot when it commits */
    bool snapshot_in_sync; /* that snapshot is in the synced part of held */
    uint64_t snapshot_request;
    uint64_t released_turn; /* the last turn its answers went out */
    session *prev, *next;
    char host[64]; /* the peer's address, without its port */
    bool unauth;   /* on the server's list of sessions before HELLO */
    session *uprev, *unext;
};

static void session_assert_state(const session *s)
{
    switch (s->state) {
    case SESSION_AWAIT_HELLO:
        assert(s->device_id[0] == '\0' && s->conn != NULL);
        break;
    case SESSION_READY:
        assert(s->device_id[0] != '\0' && s->conn != NULL);
        break;
    case SESSION_CLOSING:
        assert(s->conn != NULL);
        break;
    case SESSION_CLOSED:
        assert(s->conn == NULL && !ev_timer_active(&s->timer) && !s->link[ON_PENDING].on &&
               !s->link[ON_SYNCING].on && !s->link[ON_FLUSHING].on);
        break;
    }
}

/* The name a session goes by in the log: its device id once known. */
static const char *session_name(const session *s)
{
    return s->device_id[0] ? s->device_id : net_conn_peer_addr(s->conn);
}

/* ---- Settings ------------------------------------------------------------ */

static void settings_from(struct settings *set, const struct halld_conf *c)
{
    size_t half = c->max_connections > 1 ? (size_t)c->max_connections / 2 : 1;

    set->idle_timeout_ms = c->idle_timeout_ms;
    set->hello_timeout_ms = c->hello_timeout_ms;
    set->max_connections = (size_t)c->max_connections;
    /* At least half the connections stay for devices that said HELLO. */
    set->max_unauthenticated =
        (size_t)c->max_unauthenticated < half ? (size_t)c->max_unauthenticated : half;
    set->max_per_address = (size_t)c->max_per_address;
    set->max_per_device = (size_t)c->max_per_device;
    set->max_per_tool = (size_t)c->max_per_tool;
    set->max_frame = (size_t)c->max_frame;
}

/* ---- Connections before HELLO ----------------------------------------------
 *
 * Before its HELLO a connection is nobody: its address proves nothing
 * (loopback included), and it holds a descriptor, memory and, under TLS, a
 * handshake. They get a share of the connections (max_unauthenticated, at
 * most half of max_connections, so devices always find room), a smaller
 * one per address, and hello_timeout to say HELLO. When a share is full the
 * OLDEST such connection gives way to the new one: a flood cannot lock a
 * device out, not even one on the flooding host, because the device's
 * connection is the newest and says HELLO within milliseconds. */

static void unauth_add(server *srv, session *s)
{
    s->unauth = true;
    s->unext = NULL;
    s->uprev = srv->unauth_newest;
    if (srv->unauth_newest != NULL)
        srv->unauth_newest->unext = s;
    else
        srv->unauth_oldest = s;
    srv->unauth_newest = s;
    srv->nunauth++;
}

static void unauth_remove(server *srv, session *s)
{
    if (!s->unauth)
        return;
    if (s->uprev != NULL)
        s->uprev->unext = s->unext;
    else
        srv->unauth_oldest = s->unext;
    if (s->unext != NULL)
        s->unext->uprev = s->uprev;
    else
        srv->unauth_newest = s->uprev;
    s->unauth = false;
    s->uprev = s->unext = NULL;
    srv->nunauth--;
}

/* Close s (before its HELLO) to make room for a newer connection. */
static void give_way(server *srv, session *s)
{
    srv->gave_way++;
    net_conn_close(s->conn, false, "gave way to a newer connection (no HELLO yet)");
}

/* Room for one more connection from host, by closing the oldest
 * connection before HELLO where a share is full. False when every
 * connection is a device's: the new one is refused. */
static bool make_room(server *srv, const char *host)
{
    session *oldest_here = NULL;
    size_t here = 0;

    for (session *s = srv->unauth_oldest; s != NULL; s = s->unext)
        if (strcmp(s->host, host) == 0 && here++ == 0)
            oldest_here = s;
    if (here >= srv->set.max_per_address)
        give_way(srv, oldest_here);
    else if (srv->nunauth >= srv->set.max_unauthenticated)
        give_way(srv, srv->unauth_oldest);
    if (srv->nsessions < srv->set.max_connections)
        return true;
    if (srv->unauth_oldest == NULL) {
        srv->refused_full++;
        return false;
    }
    give_way(srv, srv->unauth_oldest);
    return true;
}

/* One line for a flood, not one per connection. */
static void log_flood(server *srv)
{
    int64_t now = clk_mono_ms();

    if ((srv->gave_way == 0 && srv->refused_full == 0) || now - srv->flood_logged_ms < FLOOD_LOG_MS)
        return;
    log_warn("%u connection(s) without HELLO gave way to newer ones and %u were refused (every "
             "connection held by a device) in the last %d s; %zu without HELLO now",
             srv->gave_way, srv->refused_full, FLOOD_LOG_MS / 1000, srv->nunauth);
    srv->gave_way = 0;
    srv->refused_full = 0;
    srv->flood_logged_ms = now;
}

/* A device may hold a few links (it may reconnect before its old link
 * times out), not many: past max_per_device its oldest link goes. Tools
 * (hallctl, hallbench, on the controller) may hold more. */
static void limit_links(server *srv, const session *fresh)
{
    /* Tools and web gateways keep a pool of links each. */
    bool tool = fresh->dev.type == HALL__DEVICE_TYPE__DEVICE_TOOL ||
                fresh->dev.type == HALL__DEVICE_TYPE__DEVICE_WEB;
    size_t max = tool ? srv->set.max_per_tool : srv->set.max_per_device;
    session *oldest = NULL;
    size_t links = 0;

    for (session *s = srv->sessions; s != NULL; s = s->next)
        if (s->state == SESSION_READY && strcmp(s->device_id, fresh->device_id) == 0) {
            links++;
            oldest = s; /* the list is newest first */
        }
    if (links > max && oldest != fresh) {
        log_warn("%s: %zu links at once ([session] %s %zu): closing its oldest, from %s",
                 fresh->device_id, links, tool ? "max_per_tool" : "max_per_device", max,
                 net_conn_peer_addr(oldest->conn));
        net_conn_close(oldest->conn, false, "the device opened too many links; its oldest goes");
    }
}

/* ---- Sending ------------------------------------------------------------- */

/* Answers wait in the session's held buffer until the turn is committed
 * (ON_PENDING), then until its sync (ON_SYNCING); released, they are sent
 * at the end of before_sleep (ON_FLUSHING), once the next turn's commit is
 * made and its sync handed to the syncer: the sends (a fifth of the loop's
 * time, each one running the loopback receiver's TCP stack) then no
 * longer delay that sync. */
static void list_add(session *s, enum session_list l)
{
    if (!s->link[l].on) {
        s->link[l].on = true;
        s->link[l].next = s->srv->list[l];
        s->srv->list[l] = s;
    }
}

static void list_remove(session *s, enum session_list l)
{
    if (!s->link[l].on)
        return;
    for (session **p = &s->srv->list[l]; *p != NULL; p = &(*p)->link[l].next)
        if (*p == s) {
            *p = s->link[l].next;
            break;
        }
    s->link[l] = (struct session_link){0};
}

/* Take the first session off a list; NULL if it is empty. */
static session *list_pop(server *srv, enum session_list l)
{
    session *s = srv->list[l];

    if (s != NULL)
        list_remove(s, l);
    return s;
}

static void flush_released(server *srv)
{
    session *s;

    while ((s = list_pop(srv, ON_FLUSHING)) != NULL)
        net_conn_flush(s->conn);
}

static void session_send(session *s, const Hall__Envelope *env)
{
    size_t size = proto_frame_size(env);
    uint8_t *p = buf_reserve(&s->held, size);

    list_add(s, ON_PENDING);
    if (p == NULL) {
        log_warn("%s: no memory for an answer; dropping the link", session_name(s));
        s->close_after_send = true;
        return;
    }
    long n = proto_pack_frame(env, FRAME_MAX, p, size);
    assert(n == (long)size);
    buf_commit(&s->held, (size_t)n);
}

static void send_error(session *s, uint64_t request_id, Hall__ErrorCode code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Answer with an ERROR. The message is also logged: every refusal is. */
static void send_error(session *s, uint64_t request_id, Hall__ErrorCode code, const char *fmt, ...)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Error e = HALL__ERROR__INIT;
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_warn("%s: refused: %s", session_name(s), msg);
    e.code = code;
    e.message = msg;
    env.request_id = request_id;
    env.body_case = HALL__ENVELOPE__BODY_ERROR;
    env.error = &e;
    session_send(s, &env);
}

/* Send an ERROR, then close once it is on its way. */
static void fail_session(session *s, uint64_t request_id, Hall__ErrorCode code, const char *msg)
{
    send_error(s, request_id, code, "%s", msg);
    s->state = SESSION_CLOSING;
    s->close_after_send = true;
    ev_timer_start(s->srv->loop, &s->timer, CLOSING_GRACE_MS);
}

/* ---- HELLO and the rest ----------------------------------------------------- */

static bool valid_device_id(const char *id)
{
    size_t n = strlen(id);

    return n > 0 && n <= DEVICE_ID_MAX && conf_word_ok(id, n, true);
}

static void handle_hello(session *s, const Hall__Envelope *req)
{
    const Hall__Hello *h = req->hello;
    const server *srv = s->srv;
    Hall__ErrorCode code;
    char why[256];

    if (s->state == SESSION_READY) {
        hall_refuse(srv->hall, &s->dev, req->request_id, HALL__ERROR_CODE__ERR_ILLEGAL_STATE,
                    "HELLO was already accepted on this connection", &s->held);
        list_add(s, ON_PENDING);
        return;
    }
    if (h->protocol_version == 0 || h->protocol_version > PROTO_VERSION) {
        snprintf(why, sizeof why,
                 "protocol version %u is not supported (this controller speaks 1..%d)",
                 h->protocol_version, PROTO_VERSION);
        fail_session(s, req->request_id, HALL__ERROR_CODE__ERR_VERSION, why);
        return;
    }
    if (!valid_device_id(h->device_id)) {
        fail_session(s, req->request_id, HALL__ERROR_CODE__ERR_BAD_REQUEST,
                     "device_id must be 1 to 64 letters, digits, '-', '_' or '.'");
        return;
    }
    if (hall_device_type_name((int)h->type) == NULL) {
        snprintf(why, sizeof why, "device type %d is not known", (int)h->type);
        fail_session(s, req->request_id, HALL__ERROR_CODE__ERR_BAD_REQUEST, why);
        return;
    }
    const char *cert_name = net_conn_peer_name(s->conn);
    if (net_conn_is_tls(s->conn) && (cert_name == NULL || strcmp(cert_name, h->device_id) != 0)) {
        snprintf(why, sizeof why, "HELLO names device '%s' but its certificate names '%s'",
                 h->device_id, cert_name ? cert_name : "(none)");
        fail_session(s, req->request_id, HALL__ERROR_CODE__ERR_IDENTITY, why);
        return;
    }
    if (hall_admit(srv->hall, h, &s->dev, &code, why, sizeof why) < 0) {
        fail_session(s, req->request_id, code, why);
        return;
    }

    memcpy(s->device_id, s->dev.id, sizeof s->device_id);
    s->state = SESSION_READY;
    unauth_remove(s->srv, s);
    ev_timer_start(srv->loop, &s->timer, srv->set.idle_timeout_ms);
    char window[32] = "";
    if (s->dev.window_no != 0)
        snprintf(window, sizeof window, " of window %u", s->dev.window_no);
    log_info("%s: %s%s, firmware %s, connected from %s over %s%s", s->device_id,
             hall_device_type_name((int)s->dev.type), window,
             h->firmware_version[0] ? h->firmware_version : "(unknown)",
             net_conn_peer_addr(s->conn), net_conn_protocol(s->conn),
             net_conn_is_tls(s->conn) ? "" : " (unauthenticated: development mode)");

    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__HelloReply r = HALL__HELLO_REPLY__INIT;
    hall_fill_hello_reply(srv->hall, &r);
    r.session_id = s->id;
    env.request_id = req->request_id;
    env.body_case = HALL__ENVELOPE__BODY_HELLO_REPLY;
    env.hello_reply = &r;
    session_send(s, &env);
    limit_links(s->srv, s);
}

static void dispatch(session *s, const Hall__Envelope *req)
{
    if (req->body_case == HALL__ENVELOPE__BODY_HELLO) {
        handle_hello(s, req);
        return;
    }
    if (s->state == SESSION_AWAIT_HELLO) {
        fail_session(s, req->request_id, HALL__ERROR_CODE__ERR_HELLO_REQUIRED,
                     "the first message on a link must be HELLO");
        return;
    }
    int flags = hall_request(s->srv->hall, &s->dev, req, &s->held);
    list_add(s, ON_PENDING);
    if (flags & HALL_KEPT)
        s->kept = true;
    if (flags & HALL_SUBSCRIBE) {
        s->want_snapshot = true;
        s->snapshot_request = req->request_id;
    }
}

/* ---- Session I/O ----------------------------------------------------------- */

static void session_on_data(net_conn *c, buf *in, void *arg)
{
    session *s = arg;
    server *srv = s->srv;

    if (s->state == SESSION_READY)
        ev_timer_start(srv->loop, &s->timer, srv->set.idle_timeout_ms);
    while (s->state == SESSION_AWAIT_HELLO || s->state == SESSION_READY) {
        const uint8_t *payload;
        size_t len, used;
        int rc = frame_next(buf_rdata(in), buf_rlen(in), srv->set.max_frame, &payload, &len, &used);
        if (rc == 0)
            break;
        if (rc < 0) {
            char why[160];
            snprintf(why, sizeof why, "bad frame: %s", frame_strerror(errno));
            buf_clear(in);
            fail_session(s, 0, HALL__ERROR_CODE__ERR_BAD_FRAME, why);
            break;
        }
        Hall__Envelope *req = proto_unpack(payload, len);
        int e = errno;
        /* Read before the payload's bytes are consumed. */
        uint64_t unknown_id =
            req == NULL && e == PROTO_ENOBODY ? proto_request_id(payload, len) : 0;
        buf_consume(in, used);
        if (req == NULL && e == PROTO_ENOBODY && s->state == SESSION_READY) {
            hall_refuse(srv->hall, &s->dev, unknown_id, HALL__ERROR_CODE__ERR_UNKNOWN_MESSAGE,
                        proto_strerror(e), &s->held);
            list_add(s, ON_PENDING);
            continue;
        }
        if (req == NULL && e == PROTO_ENOBODY) {
            fail_session(s, unknown_id, HALL__ERROR_CODE__ERR_HELLO_REQUIRED,
                         "the first message on a link must be HELLO");
            break;
        }
        if (req == NULL) {
            char why[160];
            snprintf(why, sizeof why, "bad message: %s", proto_strerror(e));
            buf_clear(in);
            fail_session(s, 0, HALL__ERROR_CODE__ERR_MALFORMED, why);
            break;
        }
        log_debug("%s: %s request %llu", session_name(s), proto_body_name(req->body_case),
                  (unsigned long long)req->request_id);
        dispatch(s, req);
        proto_free(req);
    }
    session_assert_state(s);
}

static void session_on_open(net_conn *c, void *arg)
{
    log_debug("%s: link up over %s", net_conn_peer_addr(c), net_conn_protocol(c));
}

static void session_free(void *arg)
{
    session *s = arg;

    buf_release(&s->held);
    free(s);
}

static void session_on_close(net_conn *c, const char *reason, void *arg)
{
    session *s = arg;
    server *srv = s->srv;

    if (s->state == SESSION_READY || (s->state == SESSION_CLOSING && s->device_id[0] != '\0'))
        log_info("%s: disconnected: %s", session_name(s), reason);
    else /* a flood would write a line each: counted in log_flood() */
        log_debug("%s: connection closed before HELLO: %s", net_conn_peer_addr(c), reason);
    ev_timer_stop(srv->loop, &s->timer);
    list_remove(s, ON_PENDING);
    list_remove(s, ON_SYNCING);
    list_remove(s, ON_FLUSHING);
    unauth_remove(srv, s);
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    srv->nsessions--;
    s->conn = NULL;
    s->state = SESSION_CLOSED;
    session_assert_state(s);
    if (ev_defer_free(srv->loop, session_free, s) < 0)
        log_error("%s: cannot schedule free: out of memory; leaking a session", session_name(s));
}

static void session_on_timer(ev_loop *loop, ev_timer *t, void *arg)
{
    session *s = arg;

    if (s->state == SESSION_AWAIT_HELLO) {
        fail_session(s, 0, HALL__ERROR_CODE__ERR_HELLO_REQUIRED, "no HELLO in time");
    } else if (s->state == SESSION_READY) {
        char why[96];
        snprintf(why, sizeof why, "silent for %lld ms (idle timeout)",
                 (long long)s->srv->set.idle_timeout_ms);
        net_conn_close(s->conn, false, why);
    } else if (s->state == SESSION_CLOSING) {
        /* The peer does not read its ERROR; stop waiting for it. */
        net_conn_close(s->conn, false, "peer did not read the error in time");
    }
}

static const net_conn_handlers session_handlers = {
    .on_open = session_on_open,
    .on_data = session_on_data,
    .on_close = session_on_close,
};

/* ---- The end of a turn: commit, sync, then answer ----------------------------
 *
 * A turn's answers and push go out only once its commit is durable. The
 * loop commits at the end of a turn (before_sleep) and hands the sync to
 * the syncer thread; while that sync is in flight, later turns run and
 * their requests wait in the open transaction, to be committed together
 * when the sync has been reported (synced()). So at most one committed
 * turn waits for its sync, and a session's held buffer holds that turn's
 * answers (sync_len bytes) followed by the open turn's.
 */

/* Send the first len held bytes of a session (the turn now durable); then,
 * for a subscriber, that turn's push unless its snapshot was among them. */
static void release_session(session *s, size_t len, bool snapshot, const uint8_t *push,
                            size_t push_len)
{
    s->released_turn = s->srv->turn;
    if (len > 0 && net_conn_write(s->conn, buf_rdata(&s->held), len) < 0)
        return; /* closed for overrunning its output limit */
    buf_consume(&s->held, len);
    if (snapshot)
        s->subscribed = true;
    else if (s->subscribed && push != NULL && net_conn_write(s->conn, push, push_len) < 0)
        return;
    buf_trim(&s->held);
    /* A CLOSING session may still hold its ERROR in the open turn. */
    if (s->close_after_send && !s->link[ON_PENDING].on)
        net_conn_close(s->conn, true, "refused");
    else
        list_add(s, ON_FLUSHING);
}

static void push_to_subscribers(server *srv, const uint8_t *push, size_t push_len)
{
    if (push == NULL)
        return;
    for (session *s = srv->sessions; s != NULL; s = s->next)
        if (s->subscribed && s->released_turn != srv->turn && s->state == SESSION_READY &&
            net_conn_write(s->conn, push, push_len) == 0)
            list_add(s, ON_FLUSHING);
}

/* The turn being synced is durable (err 0): its answers and push go out.
 * Otherwise nothing of it may be answered, and no later sync could tell
 * whether it is on disk: stop, as a database stops on a failed fsync;
 * the devices retry with the same request ids once halld is back. */
static void synced(void *arg, int err)
{
    server *srv = arg;
    const uint8_t *push = buf_rlen(&srv->sync_push) ? buf_rdata(&srv->sync_push) : NULL;

    if (err != 0) {
        log_error("cannot sync the store: %s; stopping without answering the last turn (its "
                  "devices will retry)",
                  strerror(err));
        session *s;
        while ((s = list_pop(srv, ON_SYNCING)) != NULL)
            net_conn_close(s->conn, false, "controller could not sync its store");
        srv->fatal = true;
        ev_stop(srv->loop);
        return;
    }
    for (session *s; (s = list_pop(srv, ON_SYNCING)) != NULL;) {
        size_t len = s->sync_len;
        bool snapshot = s->snapshot_in_sync;
        s->sync_len = 0;
        s->snapshot_in_sync = false;
        release_session(s, len, snapshot, push, buf_rlen(&srv->sync_push));
    }
    push_to_subscribers(srv, push, buf_rlen(&srv->sync_push));
    buf_clear(&srv->sync_push);
}

static int sync_store(void *arg)
{
    server *srv = arg;

    return hall_sync(srv->hall);
}

/* The open turn's sessions now wait for the sync of its commit; returns
 * how many. A snapshot asked for in the turn is made now: it shows the
 * turn, and nothing later. */
static size_t hand_to_syncer(server *srv)
{
    size_t n = 0;

    for (session *s; (s = list_pop(srv, ON_PENDING)) != NULL;) {
        s->kept = false;
        if (s->want_snapshot) {
            s->want_snapshot = false;
            s->snapshot_in_sync = true;
            hall_snapshot(srv->hall, s->snapshot_request, &s->held);
        }
        s->sync_len = buf_rlen(&s->held);
        assert(!s->link[ON_SYNCING].on);
        list_add(s, ON_SYNCING);
        n++;
    }
    return n;
}

/*
 * At before_sleep: everything read since the last commit is committed in
 * one transaction, unless a sync is in flight (then it waits for the next
 * before_sleep after that sync). A turn that wrote nothing is answered at
 * once: everything its answers show was durable already.
 */
static void commit_turn(ev_loop *loop, server *srv)
{
    size_t push_len = 0;
    const uint8_t *push;
    int rc;

    if (syncer_busy(srv->syncer))
        return;
    if ((rc = hall_commit_unsynced(srv->hall)) < 0) {
        /* Only the links holding answers of this turn's changes are cut
         * (their devices retry with the same request ids); the others get
         * what they asked for (heartbeats, health, answers kept before). */
        log_error("commit failed: dropping the links that wait for this turn's changes; they "
                  "will retry");
        for (session *s = srv->list[ON_PENDING], *next; s != NULL; s = next) {
            next = s->link[ON_PENDING].next;
            if (s->kept) {
                list_remove(s, ON_PENDING);
                buf_clear(&s->held);
                s->kept = false;
                net_conn_close(s->conn, false, "controller could not commit; retry");
            }
        }
        if (hall_broken(srv->hall)) {
            log_error("stopping: the hall in memory no longer matches the store");
            srv->fatal = true;
            ev_stop(loop);
            return;
        }
    }
    srv->turn++;
    push = hall_push(srv->hall, &push_len);
    buf_clear(&srv->sync_push);
    if (push != NULL && buf_append(&srv->sync_push, push, push_len) < 0) {
        log_error("no memory for the push of a turn: stopping");
        srv->fatal = true;
        ev_stop(loop);
        return;
    }
    size_t waiting = hand_to_syncer(srv);
    if (rc != 1) {
        /* Nothing written: its answers show only what was durable. */
        synced(srv, 0);
        return;
    }
    if (waiting <= 1) {
        /* One link waits: nothing would run while it syncs, and two
         * thread hand-offs would only add to its wait. */
        synced(srv, hall_sync(srv->hall) < 0 ? (errno ? errno : EIO) : 0);
        return;
    }
    if (syncer_start(srv->syncer) < 0) {
        log_error("cannot start the sync of a turn: %s; stopping", strerror(errno));
        srv->fatal = true;
        ev_stop(loop);
    }
}

/* The end of every loop turn: commit, then send what is released. */
static void server_before_sleep(ev_loop *loop, void *arg)
{
    server *srv = arg;

    commit_turn(loop, srv);
    flush_released(srv);
}

static void hall_tick_timer(ev_loop *loop, ev_timer *t, void *arg)
{
    server *srv = arg;

    /* A failure is logged by the hall and tried again on the next tick. */
    hall_tick(srv->hall);
    log_flood(srv);
    ev_timer_start(loop, t, HALL_TICK_MS);
}

/* ---- Accepting ------------------------------------------------------------- */

static void accept_ready(ev_loop *loop, int fd, int events, void *arg);

static void accept_resume(ev_loop *loop, ev_timer *t, void *arg)
{
    server *srv = arg;

    if (ev_fd_set(loop, srv->listen_fd, EV_READ, accept_ready, srv) < 0)
        log_error("cannot watch the listener again: %s", strerror(errno));
}

/* "10.0.0.7" of "10.0.0.7:51234", "[::1]" of "[::1]:51234". */
static void peer_host(const char *peer, char *host, size_t len)
{
    const char *colon = strrchr(peer, ':');
    size_t n = colon != NULL ? (size_t)(colon - peer) : strlen(peer);

    snprintf(host, len, "%.*s", (int)n, peer);
}

static void start_session(server *srv, int fd, const char *peer, const char *host)
{
    session *s = calloc(1, sizeof *s);

    if (s == NULL) {
        log_error("%s: refused: out of memory", peer);
        close(fd);
        return;
    }
    s->srv = srv;
    s->id = ++srv->next_session_id;
    s->state = SESSION_AWAIT_HELLO;
    snprintf(s->host, sizeof s->host, "%s", host);
    buf_init(&s->held, 0);
    ev_timer_init(&s->timer, session_on_timer, s);
    s->conn = net_conn_new(srv->loop, fd, srv->tls, true, srv->set.max_frame + FRAME_HEADER,
                           SESSION_OUT_LIMIT, &session_handlers, s);
    if (s->conn == NULL) {
        log_error("%s: refused: %s", peer, strerror(errno));
        free(s);
        return;
    }
    s->next = srv->sessions;
    if (srv->sessions)
        srv->sessions->prev = s;
    srv->sessions = s;
    srv->nsessions++;
    unauth_add(srv, s);
    ev_timer_start(srv->loop, &s->timer, srv->set.hello_timeout_ms);
    log_debug("%s: accepted (session %llu)", peer, (unsigned long long)s->id);
}

static void accept_ready(ev_loop *loop, int fd, int events, void *arg)
{
    server *srv = arg;

    for (int i = 0; i < ACCEPT_BATCH; i++) {
        char peer[96], host[64], err[NET_ERR_LEN];
        int cfd = net_accept(fd, peer, sizeof peer, err);
        if (cfd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
                return;
            /* Out of descriptors: the listener stays readable, so stop
             * watching it for a moment instead of spinning. */
            log_error("accept: %s; pausing new connections for %d ms", err, ACCEPT_BACKOFF_MS);
            ev_fd_del(loop, fd);
            ev_timer_start(loop, &srv->accept_backoff, ACCEPT_BACKOFF_MS);
            return;
        }
        peer_host(peer, host, sizeof host);
        if (!make_room(srv, host)) {
            close(cfd);
            continue;
        }
        start_session(srv, cfd, peer, host);
    }
}

server *server_new(ev_loop *loop, const struct halld_conf *conf, net_tls *tls, hall *owner,
                   char *err, size_t errlen)
{
    server *srv = calloc(1, sizeof *srv);
    char nerr[NET_ERR_LEN];

    if (srv == NULL) {
        net_tls_free(tls);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->loop = loop;
    srv->tls = tls;
    srv->hall = owner;
    srv->listen_fd = -1;
    buf_init(&srv->sync_push, 0);
    ev_timer_init(&srv->accept_backoff, accept_resume, srv);
    ev_timer_init(&srv->tick, hall_tick_timer, srv);
    settings_from(&srv->set, conf);
    srv->listen_fd = net_listen(conf->listen_address, (int)conf->listen_port, 511, nerr);
    if (srv->listen_fd < 0) {
        snprintf(err, errlen, "cannot listen on %s:%lld: %s", conf->listen_address,
                 (long long)conf->listen_port, nerr);
        goto fail;
    }
    srv->port = net_local_port(srv->listen_fd);
    if (ev_fd_set(loop, srv->listen_fd, EV_READ, accept_ready, srv) < 0 ||
        ev_timer_start(loop, &srv->tick, HALL_TICK_MS) < 0) {
        snprintf(err, errlen, "cannot watch the listener: %s", strerror(errno));
        goto fail;
    }
    if ((srv->syncer = syncer_new(loop, sync_store, synced, srv)) == NULL) {
        snprintf(err, errlen, "cannot start the thread that syncs the store: %s", strerror(errno));
        goto fail;
    }
    ev_set_before_sleep(loop, server_before_sleep, srv);
    return srv;
fail:
    server_free(srv);
    return NULL;
}

void server_free(server *srv)
{
    if (srv == NULL)
        return;
    ev_set_before_sleep(srv->loop, NULL, NULL);
    /* A sync in flight finishes first (its turn is committed; its answers
     * are not sent, and the devices retry). */
    syncer_free(srv->syncer);
    /* Answers of an uncommitted turn are not sent: closing runs each
     * session's on_close, which unlinks it. */
    while (srv->sessions != NULL)
        net_conn_close(srv->sessions->conn, false, "controller shutting down");
    ev_timer_stop(srv->loop, &srv->accept_backoff);
    ev_timer_stop(srv->loop, &srv->tick);
    if (srv->listen_fd >= 0) {
        ev_fd_del(srv->loop, srv->listen_fd);
        close(srv->listen_fd);
    }
    net_tls_free(srv->tls);
    buf_release(&srv->sync_push);
    free(srv);
}

void server_reload(server *srv, const struct halld_conf *conf, net_tls *tls)
{
    settings_from(&srv->set, conf);
    if (tls != NULL) {
        net_tls_free(srv->tls);
        srv->tls = tls;
    }
}

void server_revalidate(server *srv)
{
    for (session *s = srv->sessions, *next; s != NULL; s = next) {
        next = s->next;
        if (s->state == SESSION_READY && !hall_device_valid(srv->hall, &s->dev)) {
            log_warn("%s: no longer registered in this hall: disconnecting", s->device_id);
            net_conn_close(s->conn, false, "device revoked");
        }
    }
}

int server_port(const server *srv)
{
    return srv->port;
}

bool server_fatal(const server *srv)
{
    return srv->fatal;
}

size_t server_sessions(const server *srv)
{
    return srv->nsessions;
}
