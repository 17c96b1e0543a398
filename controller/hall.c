/*
 * hall — halld's request handling. See hall.h.
 *
 * Layout: the hall object and (re)building it from the store; the journal
 * (engine changes -> store rows, and what the turn's push must show);
 * converting engine records to wire messages; admission and roles; the
 * request table and its handlers; commit, pushes and snapshots; the tick.
 */
#include "hall.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clk.h"
#include "log.h"
#include "replay.h"

/* Answers are kept for retries this long. */
#define HALL_REPLAY_MS (24LL * 3600 * 1000)
/* Refusals of requests that would have changed the hall are kept in memory
 * only, and briefly. A refusal changes nothing, so only one retry race
 * needs it: the original request delayed on an old link while its retry on
 * a new link is refused; the original must not run when it arrives. It can
 * only arrive while that old link lives — bytes of a closed connection
 * never arrive, halld closes a link silent for the idle timeout, and a
 * restart closes every link — so twice the idle timeout (at least this
 * minimum) is enough. Past HALL_MAX_KEPT answers in memory (a terminal
 * hammering an empty queue), new refusals are not kept, and that is
 * logged. */
#define HALL_REFUSAL_MIN_KEEP_MS (2LL * 60 * 1000)
#define HALL_MAX_KEPT            1000000
/* How often kept answers are pruned. */
#define HALL_PRUNE_MS (60LL * 1000)
/* Calls a snapshot shows, newest first. */
#define HALL_RECENT_CALLS 10
/* Calls one push carries at most (a burst of calls in one turn). */
#define HALL_PUSH_CALLS 64

/* Device health (DEVICE_STATUS), kept in memory only: it is live state,
 * and a restarted halld hears it again when the devices reconnect. */
#define HEALTH_DEVICES_MAX 1024
#define HEALTH_COMPONENTS  8

struct health {
    char device[Q_DEVICE_MAX + 1];
    bool can_issue;
    int ncomp;
    struct {
        char name[32], state[32], detail[160];
    } comp[HEALTH_COMPONENTS];
    int64_t since_ms;
    bool turn_changed; /* the turn's push must carry it */
};

/* One call as displays show it. */
struct call {
    char number[Q_NUMBER_MAX];
    uint32_t window_no;
    char area[Q_CODE_MAX];
    char masked_name[Q_MASKED_MAX];
    int64_t at_ms;
    uint32_t recalls;
};

struct hall {
    store *store;
    queue *q;
    replay *replay;
    clk_zone *zone;
    q_policy policy;
    char hall_id[65];
    char hall_name[128];
    char time_zone[64];
    int64_t heartbeat_interval_ms, idle_timeout_ms;

    /* The turn. */
    bool in_turn;          /* a transaction is open */
    bool turn_failed;      /* a store write failed: the turn must roll back */
    const char *requester; /* device of the request being run, for events */

    /* What the turn's push must show. */
    struct call turn_calls[HALL_PUSH_CALLS];
    int nturn_calls;
    uint32_t *turn_windows; /* window numbers changed (deduplicated) */
    size_t nturn_windows, turn_windows_cap;
    bool turn_areas; /* waiting counts may have changed */

    struct health *health; /* every device that reported, in first-report order */
    size_t nhealth, health_cap;

    struct call recent[HALL_RECENT_CALLS]; /* ring, newest at recent_head-1 */
    int recent_head, nrecent;

    uint64_t push_seq;
    buf push; /* the last commit's push frame */
    int64_t last_prune_ms;
    int64_t last_cap_warning_ms;
    bool broken; /* a lost turn could not be rebuilt from the store */
};

/* ---- Journal: engine changes -> store, and the turn's push -------------- */

static void note_window(hall *h, uint32_t no)
{
    for (size_t i = 0; i < h->nturn_windows; i++)
        if (h->turn_windows[i] == no)
            return;
    if (h->nturn_windows == h->turn_windows_cap) {
        size_t cap = h->turn_windows_cap ? h->turn_windows_cap * 2 : 16;
        uint32_t *w = realloc(h->turn_windows, cap * sizeof *w);
        if (w == NULL) {
            h->turn_failed = true;
            return;
        }
        h->turn_windows = w;
        h->turn_windows_cap = cap;
    }
    h->turn_windows[h->nturn_windows++] = no;
}

static void journal_ticket(void *ctx, const q_ticket *t)
{
    hall *h = ctx;

    if (store_put_ticket(h->store, t) < 0)
        h->turn_failed = true;
    h->turn_areas = true;
}

static void journal_window(void *ctx, const q_window *w)
{
    hall *h = ctx;

    if (store_put_window(h->store, w) < 0)
        h->turn_failed = true;
    note_window(h, w->no);
}

static void journal_lease(void *ctx, const q_lease *l)
{
    hall *h = ctx;

    if (store_put_lease(h->store, l) < 0)
        h->turn_failed = true;
}

static void journal_event(void *ctx, const q_event *e)
{
    hall *h = ctx;

    if (store_append_event(h->store, e, h->requester ? h->requester : "") < 0)
        h->turn_failed = true;
    if ((e->kind == QE_CALLED || e->kind == QE_RECALLED) && h->nturn_calls < HALL_PUSH_CALLS) {
        const q_ticket *t = queue_ticket(h->q, e->ticket_id);
        if (t == NULL)
            return;
        struct call *c = &h->turn_calls[h->nturn_calls++];
        memcpy(c->number, t->number, sizeof c->number);
        memcpy(c->area, t->area, sizeof c->area);
        memcpy(c->masked_name, t->masked_name, sizeof c->masked_name);
        c->window_no = e->window_no;
        c->at_ms = e->at_ms;
        c->recalls = t->recalls;
    }
}

/* ---- Building ------------------------------------------------------------- */

/* Restoring into a fresh engine; the engine's reason when it refuses. */
struct restore {
    queue *q;
    q_error err;
};

static int restore_area(void *arg, const q_area *a)
{
    struct restore *r = arg;
    return queue_add_area(r->q, a, &r->err);
}

static int restore_window(void *arg, const q_window *w)
{
    struct restore *r = arg;
    return queue_add_window(r->q, w, &r->err);
}

static int restore_ticket(void *arg, const q_ticket *t)
{
    struct restore *r = arg;
    return queue_restore_ticket(r->q, t, &r->err);
}

static int restore_lease(void *arg, const q_lease *l)
{
    struct restore *r = arg;
    return queue_restore_lease(r->q, l, &r->err);
}

static int restore_answer(void *arg, const char *device, uint64_t request_id, int64_t at_ms,
                          const uint8_t *reply, size_t len)
{
    return replay_put(arg, device, request_id, at_ms + HALL_REPLAY_MS, reply, len);
}

/* A fresh engine and answer cache from the store. On failure the hall
 * keeps what it had. */
static int rebuild(hall *h, char *err, size_t errlen)
{
    const q_journal journal = {journal_ticket, journal_window, journal_lease, journal_event, h};
    int64_t now = clk_utc_ms();
    /* Yesterday too: its tickets may still be live (carried over, or being
     * served across midnight), and leases of yesterday may be uploaded. */
    clk_date yesterday =
        clk_business_day(h->zone, now - 24LL * 3600 * 1000, h->policy.rollover_hour);
    int32_t since = clk_date_key(yesterday);
    struct restore rs = {queue_new(&h->policy, h->zone, &journal), {0}};
    replay *r = replay_new();
    uint64_t max_id = 0;

    if (rs.q == NULL || r == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (store_load_areas(h->store, restore_area, &rs) != 0 ||
        store_load_windows(h->store, restore_window, &rs) != 0 ||
        store_load_tickets(h->store, since, restore_ticket, &rs) != 0 ||
        store_load_leases(h->store, since, restore_lease, &rs) != 0) {
        snprintf(err, errlen, "cannot load the hall from the store: %s",
                 rs.err.code != QERR_NONE ? rs.err.message : store_errmsg(h->store));
        goto fail;
    }
    if (store_max_ticket_id(h->store, &max_id) < 0 ||
        store_load_requests(h->store, now - HALL_REPLAY_MS, restore_answer, r) != 0) {
        snprintf(err, errlen, "cannot load the hall from the store: %s", store_errmsg(h->store));
        goto fail;
    }
    queue_set_next_id(rs.q, max_id + 1);
    queue_free(h->q);
    replay_free(h->replay);
    h->q = rs.q;
    h->replay = r;
    return 0;
fail:
    queue_free(rs.q);
    replay_free(r);
    return -1;
}

static void apply_conf(hall *h, const struct halld_conf *c)
{
    halld_conf_policy(c, &h->policy);
    snprintf(h->hall_id, sizeof h->hall_id, "%s", c->hall_id);
    snprintf(h->hall_name, sizeof h->hall_name, "%s", c->hall_name);
    h->heartbeat_interval_ms = c->heartbeat_interval_ms;
    h->idle_timeout_ms = c->idle_timeout_ms;
}

hall *hall_new(const struct halld_conf *conf, store *s, char *err, size_t errlen)
{
    hall *h = calloc(1, sizeof *h);

    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->store = s;
    buf_init(&h->push, 0);
    apply_conf(h, conf);
    snprintf(h->time_zone, sizeof h->time_zone, "%s", conf->time_zone);
    if ((h->zone = clk_zone_new(conf->time_zone)) == NULL) {
        snprintf(err, errlen, "time zone %s: %s", conf->time_zone, strerror(errno));
        goto fail;
    }
    if (rebuild(h, err, errlen) < 0)
        goto fail;
    if (hall_tick(h) < 0 || hall_commit(h) < 0) {
        snprintf(err, errlen, "cannot expire stale tickets: %s", store_errmsg(s));
        goto fail;
    }
    return h;
fail:
    hall_free(h);
    return NULL;
}

void hall_free(hall *h)
{
    if (h == NULL)
        return;
    if (h->in_turn)
        store_rollback(h->store);
    queue_free(h->q);
    replay_free(h->replay);
    clk_zone_free(h->zone);
    free(h->turn_windows);
    buf_release(&h->push);
    free(h->health);
    free(h);
}

int hall_reload(hall *h, const struct halld_conf *conf, char *err, size_t errlen)
{
    /* The zone and the rollover hour shape the numbering already handed
     * out: they change only with a restart (main.c says so). */
    int rollover_hour = h->policy.rollover_hour;

    apply_conf(h, conf);
    h->policy.rollover_hour = rollover_hour;
    if (queue_set_policy(h->q, &h->policy) < 0) {
        snprintf(err, errlen, "the [queue] settings are not valid together");
        return -1;
    }
    /* Areas and windows are updated in place (tickets, states and current
     * tickets stay), so this is safe in the middle of a turn. */
    struct restore rs = {h->q, {0}};
    if (store_load_areas(h->store, restore_area, &rs) != 0 ||
        store_load_windows(h->store, restore_window, &rs) != 0) {
        snprintf(err, errlen, "cannot re-read the catalog: %s",
                 rs.err.code != QERR_NONE ? rs.err.message : store_errmsg(h->store));
        return -1;
    }
    h->turn_areas = true;
    return 0;
}

/* ---- Engine records -> wire messages ------------------------------------- */

/* protobuf-c's messages hold char * even in messages that are only packed;
 * the strings given here are only read (by pack). */
static char *wire_str(const char *s)
{
    union {
        const char *in;
        char *out;
    } u = {s};
    return u.out;
}

/* Wire ticket pointing into t (valid until the next engine call). */
static void wire_ticket(const hall *h, const q_ticket *t, Hall__Ticket *w, int64_t now)
{
    static const Hall__TicketState states[] = {
        [Q_RESERVED] = HALL__TICKET_STATE__TICKET_RESERVED,
        [Q_WAITING] = HALL__TICKET_STATE__TICKET_WAITING,
        [Q_CALLED] = HALL__TICKET_STATE__TICKET_CALLED,
        [Q_SERVING] = HALL__TICKET_STATE__TICKET_SERVING,
        [Q_DONE] = HALL__TICKET_STATE__TICKET_DONE,
        [Q_NO_SHOW] = HALL__TICKET_STATE__TICKET_NO_SHOW,
        [Q_HOLD] = HALL__TICKET_STATE__TICKET_HOLD,
        [Q_VOID] = HALL__TICKET_STATE__TICKET_VOID,
        [Q_CANCELLED] = HALL__TICKET_STATE__TICKET_CANCELLED,
    };

    hall__ticket__init(w);
    w->id = t->id;
    w->number = wire_str(t->number);
    w->area = wire_str(t->area);
    w->matter = wire_str(t->matter);
    w->state = states[t->state];
    w->priority = (Hall__Priority)t->priority;
    w->issued_at_ms = t->issued_ms;
    w->window_no = t->window_no;
    w->recalls = t->recalls;
    w->offline = t->offline;
    w->kiosk_id = wire_str(t->kiosk);
    w->masked_name = wire_str(t->masked_name);
    w->business_day = t->day;
    if (t->state == Q_WAITING || t->state == Q_RESERVED) {
        size_t ahead = queue_ahead(h->q, t->id, now);
        size_t open = 0;
        for (size_t i = 0; queue_window_at(h->q, i) != NULL; i++) {
            const q_window *win = queue_window_at(h->q, i);
            for (int a = 0; a < win->nareas; a++)
                if (win->state == QW_OPEN && strcmp(win->areas[a], t->area) == 0) {
                    open++;
                    break;
                }
        }
        w->people_ahead = (uint32_t)ahead;
        w->est_wait_s = (uint32_t)((int64_t)ahead * queue_service_estimate(h->q, t->area) /
                                   (int64_t)(open ? open : 1) / 1000);
    }
}

static Hall__WindowState wire_window_state(q_window_state s)
{
    switch (s) {
    case QW_OPEN:
        return HALL__WINDOW_STATE__WINDOW_OPEN;
    case QW_PAUSED:
        return HALL__WINDOW_STATE__WINDOW_PAUSED;
    case QW_CLOSED:
        return HALL__WINDOW_STATE__WINDOW_CLOSED;
    }
    return HALL__WINDOW_STATE__WINDOW_UNKNOWN;
}

static Hall__ErrorCode wire_error(q_errcode c)
{
    switch (c) {
    case QERR_NONE:
        return HALL__ERROR_CODE__ERR_NONE;
    case QERR_BAD_REQUEST:
        return HALL__ERROR_CODE__ERR_BAD_REQUEST;
    case QERR_NOT_FOUND:
        return HALL__ERROR_CODE__ERR_NOT_FOUND;
    case QERR_ILLEGAL_STATE:
        return HALL__ERROR_CODE__ERR_ILLEGAL_STATE;
    case QERR_WINDOW_CLOSED:
        return HALL__ERROR_CODE__ERR_WINDOW_CLOSED;
    case QERR_QUEUE_EMPTY:
        return HALL__ERROR_CODE__ERR_QUEUE_EMPTY;
    case QERR_FORBIDDEN:
        return HALL__ERROR_CODE__ERR_FORBIDDEN;
    case QERR_LEASE_EXHAUSTED:
        return HALL__ERROR_CODE__ERR_LEASE_EXHAUSTED;
    case QERR_NOMEM:
        return HALL__ERROR_CODE__ERR_UNAVAILABLE;
    }
    return HALL__ERROR_CODE__ERR_INTERNAL;
}

/* Append env as a frame to out. */
static void put_frame(buf *out, const Hall__Envelope *env)
{
    size_t size = proto_frame_size(env);
    uint8_t *p = buf_reserve(out, size);

    if (p == NULL)
        return; /* the session's limit: the server drops it */
    long n = proto_pack_frame(env, FRAME_MAX, p, size);
    if (n > 0)
        buf_commit(out, (size_t)n);
}

static void put_error(buf *out, uint64_t request_id, Hall__ErrorCode code, const char *msg)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Error e = HALL__ERROR__INIT;

    e.code = code;
    e.message = wire_str(msg);
    env.request_id = request_id;
    env.body_case = HALL__ENVELOPE__BODY_ERROR;
    env.error = &e;
    put_frame(out, &env);
}

static uint32_t window_waiting(const hall *h, const q_window *w)
{
    size_t n = 0;

    for (int i = 0; i < w->nareas; i++)
        n += queue_waiting(h->q, w->areas[i]);
    return (uint32_t)n;
}

/* ---- Admission and roles ---------------------------------------------------- */

const char *hall_device_type_name(int type)
{
    switch (type) {
    case HALL__DEVICE_TYPE__DEVICE_KIOSK:
        return "kiosk";
    case HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL:
        return "window terminal";
    case HALL__DEVICE_TYPE__DEVICE_DISPLAY:
        return "display";
    case HALL__DEVICE_TYPE__DEVICE_TOOL:
        return "tool";
    }
    return NULL;
}

static const char *known_type(int type)
{
    const char *name = hall_device_type_name(type);
    return name ? name : "unknown device";
}

int hall_admit(hall *h, const Hall__Hello *hello, hall_device *dev, Hall__ErrorCode *code,
               char *msg, size_t msglen)
{
    store_device d;
    int found = store_get_device(h->store, hello->device_id, &d);

    if (found < 0) {
        *code = HALL__ERROR_CODE__ERR_UNAVAILABLE;
        snprintf(msg, msglen, "cannot read the device registry: %s", store_errmsg(h->store));
        return -1;
    }
    if (found == 0 || d.revoked) {
        *code = HALL__ERROR_CODE__ERR_UNKNOWN_DEVICE;
        snprintf(msg, msglen, "device %s is %s in hall %s", hello->device_id,
                 found ? "revoked" : "not registered", h->hall_id);
        return -1;
    }
    if (d.type != (int)hello->type) {
        *code = HALL__ERROR_CODE__ERR_IDENTITY;
        snprintf(msg, msglen, "device %s is registered as a %s, not a %s", d.id, known_type(d.type),
                 known_type((int)hello->type));
        return -1;
    }
    if (d.type == HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL && hello->window_no != 0 &&
        hello->window_no != d.window_no) {
        *code = HALL__ERROR_CODE__ERR_FORBIDDEN;
        snprintf(msg, msglen, "device %s is the terminal of window %u, not window %u", d.id,
                 d.window_no, hello->window_no);
        return -1;
    }
    memset(dev, 0, sizeof *dev);
    snprintf(dev->id, sizeof dev->id, "%s", d.id);
    dev->type = (Hall__DeviceType)d.type;
    dev->window_no = d.window_no;
    return 0;
}

bool hall_device_valid(hall *h, const hall_device *dev)
{
    store_device d;

    /* A registry that cannot be read revokes nobody. */
    int found = store_get_device(h->store, dev->id, &d);
    return found != 0 && (found < 0 || (!d.revoked && d.type == (int)dev->type));
}

void hall_fill_hello_reply(const hall *h, Hall__HelloReply *r)
{
    r->hall_id = wire_str(h->hall_id);
    r->hall_name = wire_str(h->hall_name);
    r->time_zone = wire_str(h->time_zone);
    r->protocol_version = PROTO_VERSION;
    r->server_time_ms = clk_utc_ms();
    r->heartbeat_interval_ms = (uint32_t)h->heartbeat_interval_ms;
    r->idle_timeout_ms = (uint32_t)h->idle_timeout_ms;
}

/* ---- Requests ------------------------------------------------------------------ */

#define K (1u << HALL__DEVICE_TYPE__DEVICE_KIOSK)
#define W (1u << HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL)
#define D (1u << HALL__DEVICE_TYPE__DEVICE_DISPLAY)
#define T (1u << HALL__DEVICE_TYPE__DEVICE_TOOL)

/* What a handler hands back: the answer to pack, or an error. */
struct outcome {
    Hall__Envelope env;
    Hall__ErrorCode code; /* non-zero: refuse with message */
    char message[Q_REASON_MAX + 64];
    /* storage the answer points into */
    Hall__Ticket ticket;
    void *upload_storage[2]; /* an upload answer's arrays, freed after packing */
    union {
        Hall__IssueReply issue;
        Hall__TicketReply ticket;
        Hall__WindowReply window;
        Hall__LeaseGrant lease;
        Hall__OfflineUploadReply upload;
        Hall__HeartbeatReply heartbeat;
        Hall__RatingReply rating;
        Hall__DeviceStatusReply status;
    } r;
    char reason[Q_REASON_MAX];
};

static void refuse_q(struct outcome *o, const q_error *err)
{
    o->code = wire_error(err->code);
    snprintf(o->message, sizeof o->message, "%s", err->message);
}

static void refuse(struct outcome *o, Hall__ErrorCode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refuse(struct outcome *o, Hall__ErrorCode code, const char *fmt, ...)
{
    va_list ap;

    o->code = code;
    va_start(ap, fmt);
    vsnprintf(o->message, sizeof o->message, fmt, ap);
    va_end(ap);
}

static void answer_ticket(hall *h, struct outcome *o, const q_ticket *t, int64_t now)
{
    hall__ticket_reply__init(&o->r.ticket);
    wire_ticket(h, t, &o->ticket, now);
    o->r.ticket.ticket = &o->ticket;
    o->env.body_case = HALL__ENVELOPE__BODY_TICKET_REPLY;
    o->env.ticket_reply = &o->r.ticket;
}

static void answer_window(hall *h, struct outcome *o, uint32_t window_no, const q_ticket *t,
                          const char *reason, int64_t now)
{
    const q_window *w = queue_window(h->q, window_no);

    hall__window_reply__init(&o->r.window);
    o->r.window.window_no = window_no;
    o->r.window.state = w ? wire_window_state(w->state) : HALL__WINDOW_STATE__WINDOW_UNKNOWN;
    o->r.window.waiting = w ? window_waiting(h, w) : 0;
    if (t == NULL && w != NULL && w->current != 0)
        t = queue_ticket(h->q, w->current);
    if (t != NULL) {
        wire_ticket(h, t, &o->ticket, now);
        o->r.window.ticket = &o->ticket;
    }
    if (reason != NULL) {
        snprintf(o->reason, sizeof o->reason, "%s", reason);
        o->r.window.pick_reason = o->reason;
    }
    o->env.body_case = HALL__ENVELOPE__BODY_WINDOW_REPLY;
    o->env.window_reply = &o->r.window;
}

static void do_heartbeat(hall *h, const hall_device *dev, const Hall__Envelope *req,
                         struct outcome *o, int64_t now)
{
    hall__heartbeat_reply__init(&o->r.heartbeat);
    o->r.heartbeat.device_time_ms = req->heartbeat->device_time_ms;
    o->r.heartbeat.server_time_ms = now;
    o->env.body_case = HALL__ENVELOPE__BODY_HEARTBEAT_REPLY;
    o->env.heartbeat_reply = &o->r.heartbeat;
}

static void do_issue(hall *h, const hall_device *dev, const Hall__Envelope *req, struct outcome *o,
                     int64_t now)
{
    const Hall__IssueRequest *m = req->issue;
    q_issue in = {
        .area = m->area,
        .matter = m->matter,
        .priority = (q_priority)m->priority,
        .kiosk = dev->id,
        .masked_name = m->masked_name,
    };
    store_appointment appt;
    const q_ticket *t;
    q_error err;

    if (m->priority > HALL__PRIORITY__PRIORITY_APPOINTMENT) {
        refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST, "priority %d is not known", (int)m->priority);
        return;
    }
    if (m->citizen_hash.len != 0 && m->citizen_hash.len != Q_HASH_LEN) {
        refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST,
               "citizen_hash must be %d bytes (HMAC-SHA256), not %zu", Q_HASH_LEN,
               m->citizen_hash.len);
        return;
    }
    if (m->citizen_hash.len == Q_HASH_LEN)
        in.citizen_hash = m->citizen_hash.data;
    if (m->appointment_code[0] != '\0') {
        int found = store_get_appointment(h->store, m->appointment_code, &appt);
        if (found < 0) {
            refuse(o, HALL__ERROR_CODE__ERR_UNAVAILABLE, "cannot read appointments: %s",
                   store_errmsg(h->store));
            return;
        }
        if (found == 0) {
            refuse(o, HALL__ERROR_CODE__ERR_NOT_FOUND, "no appointment %s", m->appointment_code);
            return;
        }
        if (appt.ticket_id != 0) {
            refuse(o, HALL__ERROR_CODE__ERR_ILLEGAL_STATE,
                   "appointment %s is already checked in (ticket %llu)", m->appointment_code,
                   (unsigned long long)appt.ticket_id);
            return;
        }
        in.area = appt.area;
        in.priority = Q_APPOINTMENT;
        in.appointment_ms = appt.slot_ms;
        if (in.masked_name[0] == '\0')
            in.masked_name = appt.masked_name;
    } else if (in.priority == Q_APPOINTMENT) {
        refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST,
               "an appointment ticket needs its appointment_code");
        return;
    }
    if (queue_issue(h->q, &in, now, &t, &err) < 0) {
        refuse_q(o, &err);
        return;
    }
    if (m->appointment_code[0] != '\0' &&
        store_mark_appointment_used(h->store, m->appointment_code, t->id) < 0)
        h->turn_failed = true;
    hall__issue_reply__init(&o->r.issue);
    wire_ticket(h, t, &o->ticket, now);
    o->r.issue.ticket = &o->ticket;
    o->r.issue.reserve_expires_ms = t->reserved_until_ms;
    o->env.body_case = HALL__ENVELOPE__BODY_ISSUE_REPLY;
    o->env.issue_reply = &o->r.issue;
}

static void do_printed(hall *h, const hall_device *dev, const Hall__Envelope *req,
                       struct outcome *o, int64_t now)
{
    const q_ticket *t;
    q_error err;

    if (queue_printed(h->q, req->printed->ticket_id, now, &t, &err) < 0)
        refuse_q(o, &err);
    else
        answer_ticket(h, o, t, now);
}

static void do_void(hall *h, const hall_device *dev, const Hall__Envelope *req, struct outcome *o,
                    int64_t now)
{
    const q_ticket *t;
    q_error err;

    if (queue_void(h->q, req->void_ticket->ticket_id, req->void_ticket->reason, now, &t, &err) < 0)
        refuse_q(o, &err);
    else
        answer_ticket(h, o, t, now);
}

static void do_rejoin(hall *h, const hall_device *dev, const Hall__Envelope *req, struct outcome *o,
                      int64_t now)
{
    const q_ticket *t;
    q_error err;

    if (queue_rejoin(h->q, req->rejoin->ticket_id, now, &t, &err) < 0)
        refuse_q(o, &err);
    else
        answer_ticket(h, o, t, now);
}

static void do_call_next(hall *h, const hall_device *dev, const Hall__Envelope *req,
                         struct outcome *o, int64_t now)
{
    uint32_t no = req->call_next->window_no;
    char reason[Q_REASON_MAX];
    const q_ticket *t;
    q_error err;

    if (queue_call_next(h->q, no, now, &t, reason, &err) < 0)
        refuse_q(o, &err);
    else
        answer_window(h, o, no, t, reason, now);
}

/* Ticket 0 in a window operation names the window's current ticket (the
 * one CALLED or SERVING there), so a call-pad, which cannot know ticket
 * ids after a restart, can start and finish. 0 when it has none (the
 * refusal is then filled in). */
static uint64_t current_or(hall *h, uint32_t no, uint64_t id, struct outcome *o)
{
    const q_window *w;

    if (id != 0 || no == 0)
        return id;
    w = queue_window(h->q, no);
    if (w == NULL) {
        refuse(o, HALL__ERROR_CODE__ERR_NOT_FOUND, "no window %u", no);
        return 0;
    }
    if (w->current == 0)
        refuse(o, HALL__ERROR_CODE__ERR_ILLEGAL_STATE,
               "window %u has no ticket called or being served", no);
    return w->current;
}

/* The window operations that name a ticket share one shape. */
#define WINDOW_TICKET_OP(name, field, call)                                                        \
    static void name(hall *h, const hall_device *dev, const Hall__Envelope *req,                   \
                     struct outcome *o, int64_t now)                                               \
    {                                                                                              \
        const q_ticket *t;                                                                         \
        q_error err;                                                                               \
        uint32_t no = req->field->window_no;                                                       \
        uint64_t id = current_or(h, no, req->field->ticket_id, o);                                 \
        if (o->code != 0)                                                                          \
            return;                                                                                \
        if (call < 0)                                                                              \
            refuse_q(o, &err);                                                                     \
        else                                                                                       \
            answer_window(h, o, no, t, NULL, now);                                                 \
    }

WINDOW_TICKET_OP(do_recall, recall, queue_recall(h->q, no, id, now, &t, &err))
WINDOW_TICKET_OP(do_no_show, no_show, queue_no_show(h->q, no, id, now, &t, &err))
WINDOW_TICKET_OP(do_start, start, queue_start(h->q, no, id, now, &t, &err))
WINDOW_TICKET_OP(do_finish, finish, queue_finish(h->q, no, id, now, &t, &err))
WINDOW_TICKET_OP(do_transfer, transfer,
                 queue_transfer(h->q, no, id, req->transfer->to_area, req->transfer->to_window, now,
                                &t, &err))
WINDOW_TICKET_OP(do_hold, hold,
                 (req->hold->release ? queue_release(h->q, no, id, now, &t, &err)
                                     : queue_hold(h->q, no, id, now, &t, &err)))
WINDOW_TICKET_OP(do_cancel, cancel, queue_cancel(h->q, no, id, req->cancel->reason, now, &t, &err))

static void do_pause(hall *h, const hall_device *dev, const Hall__Envelope *req, struct outcome *o,
                     int64_t now)
{
    q_error err;

    if (queue_pause(h->q, req->pause->window_no, req->pause->reason, now, &err) < 0)
        refuse_q(o, &err);
    else
        answer_window(h, o, req->pause->window_no, NULL, NULL, now);
}

static void do_resume(hall *h, const hall_device *dev, const Hall__Envelope *req, struct outcome *o,
                      int64_t now)
{
    q_error err;

    if (queue_resume(h->q, req->resume->window_no, now, &err) < 0)
        refuse_q(o, &err);
    else
        answer_window(h, o, req->resume->window_no, NULL, NULL, now);
}

static void do_sign_in(hall *h, const hall_device *dev, const Hall__Envelope *req,
                       struct outcome *o, int64_t now)
{
    const Hall__SignIn *m = req->sign_in;
    store_clerk clerk;
    q_error err;

    int found = store_get_clerk(h->store, m->clerk_id, &clerk);
    if (found < 0) {
        refuse(o, HALL__ERROR_CODE__ERR_UNAVAILABLE, "cannot read clerks: %s",
               store_errmsg(h->store));
        return;
    }
    if (found == 0 || !clerk.active) {
        refuse(o, HALL__ERROR_CODE__ERR_NOT_FOUND, "clerk %s is %s", m->clerk_id,
               found ? "not active" : "not registered");
        return;
    }
    if (queue_sign_in(h->q, m->window_no, m->clerk_id, now, &err) < 0)
        refuse_q(o, &err);
    else
        answer_window(h, o, m->window_no, NULL, NULL, now);
}

static void do_sign_out(hall *h, const hall_device *dev, const Hall__Envelope *req,
                        struct outcome *o, int64_t now)
{
    q_error err;

    if (queue_sign_out(h->q, req->sign_out->window_no, now, &err) < 0)
        refuse_q(o, &err);
    else
        answer_window(h, o, req->sign_out->window_no, NULL, NULL, now);
}

static void do_lease(hall *h, const hall_device *dev, const Hall__Envelope *req, struct outcome *o,
                     int64_t now)
{
    const q_lease *l;
    const q_area *a;
    q_error err;

    if (queue_grant_lease(h->q, dev->id, req->lease_request->area, now, &l, &err) < 0) {
        refuse_q(o, &err);
        return;
    }
    a = queue_area(h->q, l->area);
    hall__lease_grant__init(&o->r.lease);
    o->r.lease.area = wire_str(l->area);
    o->r.lease.prefix = a ? wire_str(a->prefix) : wire_str("");
    o->r.lease.first = l->first;
    o->r.lease.count = l->count;
    o->r.lease.business_day = l->day;
    o->r.lease.expires_ms = clk_next_rollover(h->zone, now, h->policy.rollover_hour);
    o->env.body_case = HALL__ENVELOPE__BODY_LEASE_GRANT;
    o->env.lease_grant = &o->r.lease;
}

/* Offline tickets join one by one; the answer lists them all. A bad one
 * refuses the whole upload (nothing joins), so the kiosk can fix and
 * retry it as one unit. */
static void do_upload(hall *h, const hall_device *dev, const Hall__Envelope *req, struct outcome *o,
                      int64_t now)
{
    const Hall__OfflineUpload *m = req->offline_upload;

    if (m->n_tickets == 0 || m->n_tickets > 1000) {
        refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST, "an upload holds 1 to 1000 tickets, not %zu",
               m->n_tickets);
        return;
    }
    for (size_t i = 0; i < m->n_tickets; i++) {
        const Hall__OfflineTicket *ot = m->tickets[i];
        if (ot->citizen_hash.len != 0 && ot->citizen_hash.len != Q_HASH_LEN) {
            refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST, "ticket %s: citizen_hash must be %d bytes",
                   ot->number, Q_HASH_LEN);
            return;
        }
    }
    Hall__Ticket *wire = calloc(m->n_tickets, sizeof *wire);
    Hall__Ticket **ptrs = calloc(m->n_tickets, sizeof *ptrs);
    uint64_t *ids = calloc(m->n_tickets, sizeof *ids);
    if (wire == NULL || ptrs == NULL || ids == NULL) {
        refuse(o, HALL__ERROR_CODE__ERR_UNAVAILABLE, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < m->n_tickets; i++) {
        const Hall__OfflineTicket *ot = m->tickets[i];
        q_offline in = {
            .kiosk = dev->id,
            .area = ot->area,
            .number = ot->number,
            .issued_ms = ot->issued_at_ms,
            .priority = ot->priority == HALL__PRIORITY__PRIORITY_GREEN ? Q_GREEN : Q_NORMAL,
            .matter = ot->matter,
            .masked_name = ot->masked_name,
            .citizen_hash = ot->citizen_hash.len ? ot->citizen_hash.data : NULL,
        };
        const q_ticket *t;
        q_error err;
        if (queue_offline_join(h->q, &in, now, &t, &err) < 0) {
            refuse(o, wire_error(err.code), "ticket %s: %s", ot->number, err.message);
            /* Tickets joined before this one are in the turn's transaction:
             * the turn is rolled back and rebuilt, and the kiosk retries. */
            h->turn_failed = i > 0 || h->turn_failed;
            goto out;
        }
        ids[i] = t->id;
    }
    /* Fill the answer only now: engine pointers move with every call. */
    for (size_t i = 0; i < m->n_tickets; i++) {
        wire_ticket(h, queue_ticket(h->q, ids[i]), &wire[i], now);
        ptrs[i] = &wire[i];
    }
    hall__offline_upload_reply__init(&o->r.upload);
    o->r.upload.n_tickets = m->n_tickets;
    o->r.upload.tickets = ptrs;
    o->env.body_case = HALL__ENVELOPE__BODY_OFFLINE_UPLOAD_REPLY;
    o->env.offline_upload_reply = &o->r.upload;
    /* Packed by the caller before this function's storage is freed. */
    o->upload_storage[0] = wire;
    o->upload_storage[1] = ptrs;
    wire = NULL;
    ptrs = NULL;
out:
    free(wire);
    free(ptrs);
    free(ids);
}

/* A citizen's rating, sent by the terminal (or call-pad gateway) of the
 * window that served the ticket, or a tool. The engine decides; a rated
 * ticket is answered as the first rating was (its id), whatever the
 * level. */
static void do_rating(hall *h, const hall_device *dev, const Hall__Envelope *req, struct outcome *o,
                      int64_t now)
{
    const Hall__Rating *m = req->rating;
    const q_ticket *t;
    q_error err;

    if (m->level < 1 || m->level > 5) {
        refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST, "a rating is 1 to 5, not %u", m->level);
        return;
    }
    if (queue_rate(h->q, m->window_no, m->ticket_id, (int)m->level, now, &t, &err) < 0) {
        refuse_q(o, &err);
        return;
    }
    hall__rating_reply__init(&o->r.rating);
    o->r.rating.ticket_id = t->id;
    o->env.body_case = HALL__ENVELOPE__BODY_RATING_REPLY;
    o->env.rating_reply = &o->r.rating;
}

static struct health *health_of(hall *h, const char *device)
{
    for (size_t i = 0; i < h->nhealth; i++)
        if (strcmp(h->health[i].device, device) == 0)
            return &h->health[i];
    if (h->nhealth == h->health_cap) {
        size_t cap = h->health_cap ? h->health_cap * 2 : 16;
        struct health *grown;

        if (cap > HEALTH_DEVICES_MAX || (grown = realloc(h->health, cap * sizeof *grown)) == NULL)
            return NULL;
        h->health = grown;
        h->health_cap = cap;
    }
    memset(&h->health[h->nhealth], 0, sizeof h->health[0]);
    snprintf(h->health[h->nhealth].device, sizeof h->health[0].device, "%s", device);
    return &h->health[h->nhealth++];
}

/* "printer paper_out (打印纸用完), reader ok" into out. */
static void health_summary(const struct health *e, char *out, size_t len)
{
    size_t used = 0;

    out[0] = '\0';
    for (int i = 0; i < e->ncomp && used < len; i++) {
        int w = snprintf(out + used, len - used, "%s%s %s%s%s%s", i ? ", " : "", e->comp[i].name,
                         e->comp[i].state, e->comp[i].detail[0] ? " (" : "", e->comp[i].detail,
                         e->comp[i].detail[0] ? ")" : "");
        used += w > 0 ? (size_t)w : 0;
    }
}

/* A device's health, the whole picture each time. Kept per device and
 * shown to subscribers when it changed; a change is logged (a warning
 * when the device cannot do its job). */
static void do_device_status(hall *h, const hall_device *dev, const Hall__Envelope *req,
                             struct outcome *o, int64_t now)
{
    const Hall__DeviceStatus *m = req->device_status;
    struct health next = {0}, *e;
    char summary[1024];

    if (m->n_components > HEALTH_COMPONENTS) {
        refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST, "a status has at most %d components, not %zu",
               HEALTH_COMPONENTS, m->n_components);
        return;
    }
    for (size_t i = 0; i < m->n_components; i++) {
        const Hall__ComponentStatus *c = m->components[i];

        if (c->name[0] == '\0' || strlen(c->name) >= sizeof next.comp[0].name ||
            c->state[0] == '\0' || strlen(c->state) >= sizeof next.comp[0].state ||
            strlen(c->detail) >= sizeof next.comp[0].detail) {
            refuse(o, HALL__ERROR_CODE__ERR_BAD_REQUEST,
                   "component %zu: a name and a state of 1 to %zu bytes and a detail under %zu",
                   i + 1, sizeof next.comp[0].name - 1, sizeof next.comp[0].detail);
            return;
        }
        snprintf(next.comp[i].name, sizeof next.comp[i].name, "%s", c->name);
        snprintf(next.comp[i].state, sizeof next.comp[i].state, "%s", c->state);
        snprintf(next.comp[i].detail, sizeof next.comp[i].detail, "%s", c->detail);
    }
    next.ncomp = (int)m->n_components;
    next.can_issue = m->can_issue;
    if ((e = health_of(h, dev->id)) == NULL) {
        refuse(o, HALL__ERROR_CODE__ERR_UNAVAILABLE, "health of more than %d devices",
               HEALTH_DEVICES_MAX);
        return;
    }
    if (e->since_ms == 0 || e->can_issue != next.can_issue || e->ncomp != next.ncomp ||
        memcmp(e->comp, next.comp, sizeof next.comp) != 0) {
        memcpy(e->comp, next.comp, sizeof next.comp);
        e->ncomp = next.ncomp;
        e->can_issue = next.can_issue;
        e->since_ms = now;
        e->turn_changed = true;
        health_summary(e, summary, sizeof summary);
        if (dev->type == HALL__DEVICE_TYPE__DEVICE_KIOSK && !e->can_issue)
            log_warn("kiosk %s cannot issue tickets: %s", dev->id, summary);
        else
            log_info("%s %s: %s", hall_device_type_name(dev->type), dev->id, summary);
    }
    hall__device_status_reply__init(&o->r.status);
    o->env.body_case = HALL__ENVELOPE__BODY_DEVICE_STATUS_REPLY;
    o->env.device_status_reply = &o->r.status;
}

/* Requests halld handles, who may send them, and whether they change the
 * hall (and so are kept for retries and need the transaction). */
static const struct request {
    Hall__Envelope__BodyCase body;
    unsigned roles; /* device types allowed */
    bool window;    /* names a window a terminal must own (0: none) */
    bool changes;   /* mutating: transaction + kept answer */
    void (*fn)(hall *h, const hall_device *dev, const Hall__Envelope *req, struct outcome *o,
               int64_t now);
} requests[] = {
    {HALL__ENVELOPE__BODY_HEARTBEAT, K | W | D | T, false, false, do_heartbeat},
    {HALL__ENVELOPE__BODY_SUBSCRIBE, K | W | D | T, false, false, NULL},
    {HALL__ENVELOPE__BODY_ISSUE, K | T, false, true, do_issue},
    {HALL__ENVELOPE__BODY_PRINTED, K | T, false, true, do_printed},
    {HALL__ENVELOPE__BODY_VOID_TICKET, K | T, false, true, do_void},
    {HALL__ENVELOPE__BODY_REJOIN, K | W | T, false, true, do_rejoin},
    {HALL__ENVELOPE__BODY_CALL_NEXT, W | T, true, true, do_call_next},
    {HALL__ENVELOPE__BODY_RECALL, W | T, true, true, do_recall},
    {HALL__ENVELOPE__BODY_NO_SHOW, W | T, true, true, do_no_show},
    {HALL__ENVELOPE__BODY_START, W | T, true, true, do_start},
    {HALL__ENVELOPE__BODY_FINISH, W | T, true, true, do_finish},
    {HALL__ENVELOPE__BODY_TRANSFER, W | T, true, true, do_transfer},
    {HALL__ENVELOPE__BODY_HOLD, W | T, true, true, do_hold},
    {HALL__ENVELOPE__BODY_CANCEL, K | W | T, true, true, do_cancel},
    {HALL__ENVELOPE__BODY_PAUSE, W | T, true, true, do_pause},
    {HALL__ENVELOPE__BODY_RESUME, W | T, true, true, do_resume},
    {HALL__ENVELOPE__BODY_SIGN_IN, W | T, true, true, do_sign_in},
    {HALL__ENVELOPE__BODY_SIGN_OUT, W | T, true, true, do_sign_out},
    {HALL__ENVELOPE__BODY_LEASE_REQUEST, K | T, false, true, do_lease},
    {HALL__ENVELOPE__BODY_OFFLINE_UPLOAD, K | T, false, true, do_upload},
    /* Changes only memory, but runs in the turn so its push goes out. */
    {HALL__ENVELOPE__BODY_DEVICE_STATUS, K | W | D | T, false, true, do_device_status},
    {HALL__ENVELOPE__BODY_RATING, W | T, true, true, do_rating},
};

static const struct request *find_request(Hall__Envelope__BodyCase body)
{
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++)
        if (requests[i].body == body)
            return &requests[i];
    return NULL;
}

/* The window a request names, 0 if none. */
static uint32_t request_window(const Hall__Envelope *req)
{
    switch (req->body_case) {
    case HALL__ENVELOPE__BODY_CALL_NEXT:
        return req->call_next->window_no;
    case HALL__ENVELOPE__BODY_RECALL:
        return req->recall->window_no;
    case HALL__ENVELOPE__BODY_NO_SHOW:
        return req->no_show->window_no;
    case HALL__ENVELOPE__BODY_START:
        return req->start->window_no;
    case HALL__ENVELOPE__BODY_FINISH:
        return req->finish->window_no;
    case HALL__ENVELOPE__BODY_TRANSFER:
        return req->transfer->window_no;
    case HALL__ENVELOPE__BODY_HOLD:
        return req->hold->window_no;
    case HALL__ENVELOPE__BODY_CANCEL:
        return req->cancel->window_no;
    case HALL__ENVELOPE__BODY_PAUSE:
        return req->pause->window_no;
    case HALL__ENVELOPE__BODY_RESUME:
        return req->resume->window_no;
    case HALL__ENVELOPE__BODY_SIGN_IN:
        return req->sign_in->window_no;
    case HALL__ENVELOPE__BODY_SIGN_OUT:
        return req->sign_out->window_no;
    case HALL__ENVELOPE__BODY_RATING:
        return req->rating->window_no;
    default:
        return 0;
    }
}

/* May dev send req? NULL if so, else why not. */
static const char *check_role(const struct request *r, const hall_device *dev,
                              const Hall__Envelope *req, char *why, size_t whylen)
{
    if (!(r->roles & (1u << dev->type))) {
        snprintf(why, whylen, "a %s may not send %s", known_type(dev->type),
                 proto_body_name(req->body_case));
        return why;
    }
    uint32_t no = request_window(req);
    if (r->window && dev->type == HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL &&
        no != dev->window_no) {
        snprintf(why, whylen, "the terminal of window %u may not act for window %u", dev->window_no,
                 no);
        return why;
    }
    if (r->window && no == 0 && req->body_case != HALL__ENVELOPE__BODY_CANCEL) {
        snprintf(why, whylen, "%s must name its window", proto_body_name(req->body_case));
        return why;
    }
    return NULL;
}

/* Refuse a request: log it with the device, and answer with an ERROR. */
static void refuse_request(const hall_device *dev, const Hall__Envelope *req, buf *out,
                           Hall__ErrorCode code, const char *msg)
{
    log_warn("%s: %s refused: %s", dev->id, proto_body_name(req->body_case), msg);
    put_error(out, req->request_id, code, msg);
}

/* Refuse a request that would have changed the hall, and keep the refusal
 * for a retry of the same request id (HALL_REFUSAL_MIN_KEEP_MS says why) —
 * except "unavailable", which asks for exactly that retry. */
static void refuse_kept(hall *h, const hall_device *dev, const Hall__Envelope *req, buf *out,
                        Hall__ErrorCode code, const char *msg, int64_t now)
{
    size_t before = buf_rlen(out);

    refuse_request(dev, req, out, code, msg);
    if (code == HALL__ERROR_CODE__ERR_UNAVAILABLE || buf_rlen(out) <= before + FRAME_HEADER)
        return;
    if (replay_count(h->replay) >= HALL_MAX_KEPT) {
        if (now - h->last_cap_warning_ms > HALL_PRUNE_MS) {
            h->last_cap_warning_ms = now;
            log_warn("%zu answers kept for retries: refusals are not kept until some expire",
                     replay_count(h->replay));
        }
        return;
    }
    int64_t keep = 2 * h->idle_timeout_ms;
    if (keep < HALL_REFUSAL_MIN_KEEP_MS)
        keep = HALL_REFUSAL_MIN_KEEP_MS;
    const uint8_t *frame = buf_rdata(out) + before;
    if (replay_put(h->replay, dev->id, req->request_id, now + keep, frame + FRAME_HEADER,
                   buf_rlen(out) - before - FRAME_HEADER) < 0)
        log_warn("%s: cannot keep a refusal for retries: out of memory", dev->id);
}

int hall_request(hall *h, const hall_device *dev, const Hall__Envelope *req, buf *out)
{
    const struct request *r = find_request(req->body_case);
    int64_t now = clk_utc_ms();
    char why[200];

    if (r == NULL) {
        snprintf(why, sizeof why, "%s is not a request this controller handles",
                 proto_body_name(req->body_case));
        refuse_request(dev, req, out, HALL__ERROR_CODE__ERR_UNKNOWN_MESSAGE, why);
        return 0;
    }
    if (r->changes) {
        if (req->request_id == 0) {
            refuse_request(dev, req, out, HALL__ERROR_CODE__ERR_BAD_REQUEST,
                           "a request that changes the hall needs a request_id");
            return 0;
        }
        size_t len;
        const uint8_t *kept = replay_get(h->replay, dev->id, req->request_id, &len);
        if (kept != NULL) { /* a retry: the first answer, unchanged */
            uint8_t *p = buf_reserve(out, FRAME_HEADER + len);
            if (p != NULL) {
                frame_put_header(p, (uint32_t)len);
                memcpy(p + FRAME_HEADER, kept, len);
                buf_commit(out, FRAME_HEADER + len);
            }
            return 0;
        }
    }
    if (check_role(r, dev, req, why, sizeof why) != NULL) {
        if (r->changes)
            refuse_kept(h, dev, req, out, HALL__ERROR_CODE__ERR_FORBIDDEN, why, now);
        else
            refuse_request(dev, req, out, HALL__ERROR_CODE__ERR_FORBIDDEN, why);
        return 0;
    }
    if (r->fn == NULL) /* SUBSCRIBE: answered with a snapshot after the commit */
        return HALL_SUBSCRIBE;
    if (r->changes && !h->in_turn) {
        if (store_begin(h->store) < 0) {
            snprintf(why, sizeof why, "the store cannot start a transaction: %s",
                     store_errmsg(h->store));
            refuse_request(dev, req, out, HALL__ERROR_CODE__ERR_UNAVAILABLE, why);
            return 0;
        }
        h->in_turn = true;
    }

    struct outcome o;
    memset(&o, 0, sizeof o);
    hall__envelope__init(&o.env);
    o.env.request_id = req->request_id;
    h->requester = dev->id;
    r->fn(h, dev, req, &o, now);
    h->requester = NULL;
    if (o.code != HALL__ERROR_CODE__ERR_NONE) {
        if (r->changes)
            refuse_kept(h, dev, req, out, o.code, o.message, now);
        else
            refuse_request(dev, req, out, o.code, o.message);
        return 0;
    }
    if (r->changes) {
        /* Keep the answer (memory and store, same transaction) before it is
         * queued: a retry must find exactly these bytes. */
        size_t size = hall__envelope__get_packed_size(&o.env);
        uint8_t *packed = malloc(size ? size : 1);
        if (packed == NULL) {
            h->turn_failed = true;
        } else {
            hall__envelope__pack(&o.env, packed);
            if (replay_put(h->replay, dev->id, req->request_id, now + HALL_REPLAY_MS, packed,
                           size) < 0 ||
                store_put_request(h->store, dev->id, req->request_id, now, packed, size) < 0)
                h->turn_failed = true;
            free(packed);
        }
    }
    put_frame(out, &o.env);
    free(o.upload_storage[0]);
    free(o.upload_storage[1]);
    return 0;
}

/* ---- Commit, pushes, snapshots ---------------------------------------------- */

static void reset_turn(hall *h)
{
    h->in_turn = false;
    h->turn_failed = false;
    h->nturn_calls = 0;
    h->nturn_windows = 0;
    h->turn_areas = false;
}

static void wire_call(const struct call *c, Hall__Call *w)
{
    hall__call__init(w);
    w->number = wire_str(c->number);
    w->window_no = c->window_no;
    w->area = wire_str(c->area);
    w->masked_name = wire_str(c->masked_name);
    w->called_at_ms = c->at_ms;
    w->recalls = c->recalls;
}

static void wire_window_status(const hall *h, const q_window *w, Hall__WindowStatus *ws)
{
    const q_ticket *t = w->current ? queue_ticket(h->q, w->current) : NULL;

    hall__window_status__init(ws);
    ws->window_no = w->no;
    ws->state = wire_window_state(w->state);
    ws->current_number = t ? wire_str(t->number) : wire_str("");
}

static void wire_area_status(const hall *h, const q_area *a, Hall__AreaStatus *as)
{
    size_t waiting = queue_waiting(h->q, a->code);
    size_t open = 0;

    for (size_t i = 0; queue_window_at(h->q, i) != NULL; i++) {
        const q_window *w = queue_window_at(h->q, i);
        for (int k = 0; k < w->nareas; k++)
            if (w->state == QW_OPEN && strcmp(w->areas[k], a->code) == 0) {
                open++;
                break;
            }
    }
    hall__area_status__init(as);
    as->area = wire_str(a->code);
    as->name = wire_str(a->name);
    as->waiting = (uint32_t)waiting;
    as->est_wait_s = (uint32_t)((int64_t)waiting * queue_service_estimate(h->q, a->code) /
                                (int64_t)(open ? open : 1) / 1000);
}

static size_t count_areas(const hall *h)
{
    size_t n = 0;
    while (queue_area_at(h->q, n) != NULL)
        n++;
    return n;
}

static size_t count_windows(const hall *h)
{
    size_t n = 0;
    while (queue_window_at(h->q, n) != NULL)
        n++;
    return n;
}

/* Build a push into out: a snapshot (everything) or the turn's delta. */
static void build_push(hall *h, bool snapshot, uint64_t request_id, const struct call *calls,
                       size_t ncalls, buf *out)
{
    size_t nareas = count_areas(h);
    size_t nwin = snapshot ? count_windows(h) : h->nturn_windows;
    Hall__DisplayPush p = HALL__DISPLAY_PUSH__INIT;
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Call *wc = calloc(ncalls ? ncalls : 1, sizeof *wc);
    Hall__Call **pc = calloc(ncalls ? ncalls : 1, sizeof *pc);
    Hall__WindowStatus *ww = calloc(nwin ? nwin : 1, sizeof *ww);
    Hall__WindowStatus **pw = calloc(nwin ? nwin : 1, sizeof *pw);
    Hall__AreaStatus *wa = calloc(nareas ? nareas : 1, sizeof *wa);
    Hall__AreaStatus **pa = calloc(nareas ? nareas : 1, sizeof *pa);
    size_t ndev = h->nhealth ? h->nhealth : 1;
    Hall__DeviceHealth *wd = calloc(ndev, sizeof *wd);
    Hall__DeviceHealth **pd = calloc(ndev, sizeof *pd);
    Hall__ComponentStatus *wcs = calloc(ndev * HEALTH_COMPONENTS, sizeof *wcs);
    Hall__ComponentStatus **pcs = calloc(ndev * HEALTH_COMPONENTS, sizeof *pcs);

    if (wc && pc && ww && pw && wa && pa && wd && pd && wcs && pcs) {
        for (size_t i = 0; i < ncalls; i++) {
            wire_call(&calls[i], &wc[i]);
            pc[i] = &wc[i];
        }
        size_t n = 0;
        for (size_t i = 0; i < nwin; i++) {
            const q_window *w =
                snapshot ? queue_window_at(h->q, i) : queue_window(h->q, h->turn_windows[i]);
            if (w == NULL)
                continue;
            wire_window_status(h, w, &ww[n]);
            pw[n] = &ww[n];
            n++;
        }
        p.n_windows = n;
        p.windows = pw;
        if (snapshot || h->turn_areas) {
            for (size_t i = 0; i < nareas; i++) {
                wire_area_status(h, queue_area_at(h->q, i), &wa[i]);
                pa[i] = &wa[i];
            }
            p.n_areas = nareas;
            p.areas = pa;
        }
        n = 0;
        for (size_t i = 0; i < h->nhealth; i++) {
            const struct health *e = &h->health[i];

            if (!snapshot && !e->turn_changed)
                continue;
            hall__device_health__init(&wd[n]);
            wd[n].device_id = wire_str(e->device);
            wd[n].can_issue = e->can_issue;
            wd[n].since_ms = e->since_ms;
            wd[n].n_components = (size_t)e->ncomp;
            wd[n].components = &pcs[i * HEALTH_COMPONENTS];
            for (int k = 0; k < e->ncomp; k++) {
                Hall__ComponentStatus *c = &wcs[i * HEALTH_COMPONENTS + (size_t)k];

                hall__component_status__init(c);
                c->name = wire_str(e->comp[k].name);
                c->state = wire_str(e->comp[k].state);
                c->detail = wire_str(e->comp[k].detail);
                pcs[i * HEALTH_COMPONENTS + (size_t)k] = c;
            }
            pd[n] = &wd[n];
            n++;
        }
        p.n_devices = n;
        p.devices = pd;
        p.seq = h->push_seq;
        p.snapshot = snapshot;
        p.n_calls = ncalls;
        p.calls = pc;
        env.request_id = request_id;
        env.body_case = HALL__ENVELOPE__BODY_DISPLAY_PUSH;
        env.display_push = &p;
        put_frame(out, &env);
    }
    free(wc);
    free(pc);
    free(ww);
    free(pw);
    free(wa);
    free(pa);
    free(wd);
    free(pd);
    free(wcs);
    free(pcs);
}

/* After a commit: remember the turn's calls and make its push. */
static void publish_turn(hall *h)
{
    struct call newest_first[HALL_PUSH_CALLS];
    int n = h->nturn_calls;
    bool health = false;

    /* A health change stays marked until a push carried it, even across a
     * turn that was lost. */
    for (size_t i = 0; i < h->nhealth; i++)
        health = health || h->health[i].turn_changed;
    buf_clear(&h->push);
    if (n == 0 && h->nturn_windows == 0 && !h->turn_areas && !health)
        return;
    for (int i = 0; i < n; i++) {
        newest_first[i] = h->turn_calls[n - 1 - i];
        h->recent[h->recent_head] = h->turn_calls[i];
        h->recent_head = (h->recent_head + 1) % HALL_RECENT_CALLS;
        if (h->nrecent < HALL_RECENT_CALLS)
            h->nrecent++;
    }
    h->push_seq++;
    build_push(h, false, 0, newest_first, (size_t)n, &h->push);
    for (size_t i = 0; i < h->nhealth; i++)
        h->health[i].turn_changed = false;
}

/* The turn's changes are lost: forget them and reload what the store has. */
static void lose_turn(hall *h)
{
    char err[256];

    store_rollback(h->store);
    reset_turn(h);
    if (rebuild(h, err, sizeof err) < 0) {
        /* The engine may now hold changes the store does not: nothing may
         * be answered from it any more (hall_broken). */
        log_error("cannot rebuild the hall after a lost turn: %s", err);
        h->broken = true;
    }
}

int hall_commit(hall *h)
{
    buf_clear(&h->push);
    if (!h->in_turn) {
        /* Reads only (or refusals): nothing to make durable. */
        reset_turn(h);
        return 0;
    }
    if (h->turn_failed || store_commit(h->store) < 0) {
        lose_turn(h);
        return -1;
    }
    publish_turn(h);
    reset_turn(h);
    return 0;
}

bool hall_broken(const hall *h)
{
    return h->broken;
}

const uint8_t *hall_push(const hall *h, size_t *len)
{
    *len = buf_rlen(&h->push);
    return *len ? buf_rdata(&h->push) : NULL;
}

void hall_snapshot(hall *h, uint64_t request_id, buf *out)
{
    struct call calls[HALL_RECENT_CALLS];
    int n = 0;

    for (int i = 1; i <= h->nrecent; i++)
        calls[n++] = h->recent[(h->recent_head - i + HALL_RECENT_CALLS) % HALL_RECENT_CALLS];
    build_push(h, true, request_id, calls, (size_t)n, out);
}

int hall_tick(hall *h)
{
    int64_t now = clk_utc_ms();

    if (!h->in_turn) {
        if (store_begin(h->store) < 0)
            return -1;
        h->in_turn = true;
    }
    h->requester = "";
    queue_tick(h->q, now);
    h->requester = NULL;
    if (now - h->last_prune_ms > HALL_PRUNE_MS) {
        h->last_prune_ms = now;
        replay_prune(h->replay, now);
        if (store_prune_requests(h->store, now - HALL_REPLAY_MS) < 0)
            h->turn_failed = true;
    }
    return 0;
}
