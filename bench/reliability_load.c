/*
 * reliability_load — the harness's devices. See reliability_load.h.
 *
 * One thread per device. Each loops over its part of a ticket's life
 * (kiosk: ISSUE, PRINTED; window: CALL_NEXT, START, FINISH) and keeps what
 * it was told in its own record array, merged when the load stops; the
 * totals are atomic counters so the runner can read them while it runs.
 */
#include "reliability_load.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clk.h"
#include "devlink.h"

#define DIR_MAX          1024
#define LINK_RETRY_MS    10
#define PROBE_TIMEOUT_MS 15000
#define PROBLEM_MAX      400

static const char *const areas[] = {"intake", "realestate", "fund", "social", "tax", "approval"};
#define NAREAS (sizeof areas / sizeof areas[0])

struct client {
    rload *l;
    unsigned index;
    uint32_t window_no; /* 0 for a kiosk */
    char id[24];
    char cert[DIR_MAX + 96], key[DIR_MAX + 96], ca[DIR_MAX + 96];
    devlink *link;
    uint64_t next_id;
    uint64_t rng;
    rload_rec *recs;
    size_t nrecs, caprecs;
    bool graceful_end; /* left its loop without being aborted */
    pthread_t thread;
};

struct counters {
    _Atomic uint64_t issued, printed, called, started, finished, requests, lost, links, link_fails,
        empty, echoes, echo_diff, unexpected;
};

struct rload {
    rload_opts o;
    char hall_dir[DIR_MAX];
    atomic_int port;
    atomic_llong every_us; /* a kiosk issues once per this; 0: no limit */
    atomic_bool stopping;  /* finish the current ticket, then leave */
    atomic_bool aborting;  /* leave now */
    atomic_int done;       /* threads that have left their loop */
    struct client *clients;
    int nclients, nstarted;
    struct counters n;
    pthread_mutex_t lock; /* problem */
    char problem[PROBLEM_MAX];
    rload_rec *all;
    size_t nall;
};

/* ---- Helpers ---------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static bool chance(struct client *c, double p)
{
    return p > 0.0 && (double)(rng_next(&c->rng) >> 11) * 0x1.0p-53 < p;
}

static void count(_Atomic uint64_t *n)
{
    atomic_fetch_add_explicit(n, 1, memory_order_relaxed);
}

static bool aborted(const struct client *c)
{
    return atomic_load(&c->l->aborting);
}

/* Sleep ms, waking early when the load is aborted. */
static void pause_ms(const struct client *c, int64_t ms)
{
    int64_t until = clk_mono_ms() + ms;

    for (int64_t left = ms; left > 0 && !aborted(c); left = until - clk_mono_ms()) {
        int64_t step = left > 50 ? 50 : left;
        nanosleep(&(struct timespec){step / 1000, (long)(step % 1000) * 1000000L}, NULL);
    }
}

uint64_t rload_hash(const void *bytes, size_t len)
{
    const uint8_t *p = bytes;
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

/* The hash of the answer as packed: what "the same answer" means. */
static uint64_t answer_hash(const Hall__Envelope *env)
{
    uint8_t stack[2048], *p = stack;
    size_t size = hall__envelope__get_packed_size(env);
    uint64_t h;

    if (size > sizeof stack && (p = malloc(size)) == NULL)
        return 0;
    hall__envelope__pack(env, p);
    h = rload_hash(p, size);
    if (p != stack)
        free(p);
    return h;
}

static void problem(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Keep the first problem of the run, for the summary. */
static void problem(struct client *c, const char *fmt, ...)
{
    rload *l = c->l;
    va_list ap;

    pthread_mutex_lock(&l->lock);
    if (l->problem[0] == '\0') {
        int n = snprintf(l->problem, sizeof l->problem, "%s: ", c->id);
        va_start(ap, fmt);
        if (n > 0 && (size_t)n < sizeof l->problem)
            vsnprintf(l->problem + n, sizeof l->problem - (size_t)n, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&l->lock);
}

static void unexpected(struct client *c, const Hall__Envelope *req, const Hall__Envelope *r)
{
    count(&c->l->n.unexpected);
    problem(c, "%s (request %llu) was answered %s: %s", proto_body_name(req->body_case),
            (unsigned long long)req->request_id, proto_body_name(r->body_case),
            r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "not the reply asked");
}

static void remember(struct client *c, enum rload_kind kind, uint64_t ticket,
                     const Hall__Envelope *req, const Hall__Envelope *r)
{
    if (c->nrecs == c->caprecs) {
        size_t cap = c->caprecs ? c->caprecs * 2 : 1024;
        rload_rec *grown = realloc(c->recs, cap * sizeof *grown);
        if (grown == NULL) {
            problem(c, "out of memory for its records");
            return;
        }
        c->recs = grown;
        c->caprecs = cap;
    }
    c->recs[c->nrecs++] = (rload_rec){.ticket = ticket,
                                      .request_id = req->request_id,
                                      .hash = answer_hash(r),
                                      .window_no = c->window_no,
                                      .device = (uint16_t)c->index,
                                      .kind = (uint8_t)kind};
}

/* ---- Links and requests ----------------------------------------------------- */

/* Open a link and say HELLO as this device; -1 if either fails. */
static int client_link(struct client *c)
{
    rload *l = c->l;
    char err[DEVLINK_ERR_LEN];
    devlink *k;
    Hall__Envelope *r;

    k = devlink_open("127.0.0.1", atomic_load(&l->port), l->o.tls ? c->cert : NULL,
                     l->o.tls ? c->key : NULL, l->o.tls ? c->ca : NULL, l->o.answer_timeout_ms,
                     err);
    if (k == NULL) {
        count(&l->n.link_fails);
        return -1;
    }
    devlink_set_next_id(k, c->next_id++);
    r = devlink_hello(k, c->id,
                      c->window_no ? HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL
                                   : HALL__DEVICE_TYPE__DEVICE_KIOSK,
                      c->window_no, l->o.answer_timeout_ms, err);
    if (r == NULL || r->body_case != HALL__ENVELOPE__BODY_HELLO_REPLY) {
        proto_free(r);
        devlink_close(k);
        count(&l->n.link_fails);
        return -1;
    }
    proto_free(r);
    c->link = k;
    count(&l->n.links);
    return 0;
}

static void client_unlink(struct client *c)
{
    devlink_close(c->link);
    c->link = NULL;
}

/* Send req (its request id already set) until it is answered, on a new
 * link each time the answer is lost. NULL only when the load is aborted. */
static Hall__Envelope *client_send(struct client *c, Hall__Envelope *req)
{
    rload *l = c->l;
    char err[DEVLINK_ERR_LEN];

    for (;;) {
        if (aborted(c))
            return NULL;
        if (c->link == NULL && client_link(c) < 0) {
            pause_ms(c, LINK_RETRY_MS);
            continue;
        }
        count(&l->n.requests);
        Hall__Envelope *r = devlink_call(c->link, req, l->o.answer_timeout_ms, err);
        if (r == NULL) {
            count(&l->n.lost);
            client_unlink(c);
            continue;
        }
        if (r->body_case == HALL__ENVELOPE__BODY_ERROR &&
            r->error->code == HALL__ERROR_CODE__ERR_UNAVAILABLE) {
            proto_free(r); /* the store could not commit: retry the same id */
            pause_ms(c, LINK_RETRY_MS);
            continue;
        }
        return r;
    }
}

/* A new request: a fresh id, sent until answered; sometimes sent once more
 * on a new link to check that the kept answer is the one given. */
static Hall__Envelope *client_request(struct client *c, Hall__Envelope *req)
{
    rload *l = c->l;
    Hall__Envelope *r, *again;

    req->request_id = c->next_id++;
    if ((r = client_send(c, req)) == NULL)
        return NULL;
    if (r->body_case == HALL__ENVELOPE__BODY_ERROR || !chance(c, l->o.echo))
        return r;
    client_unlink(c);
    if ((again = client_send(c, req)) == NULL)
        return r;
    count(&l->n.echoes);
    if (answer_hash(again) != answer_hash(r)) {
        count(&l->n.echo_diff);
        problem(c, "%s request %llu sent again was answered %s, not the first answer %s",
                proto_body_name(req->body_case), (unsigned long long)req->request_id,
                proto_body_name(again->body_case), proto_body_name(r->body_case));
    }
    proto_free(again);
    return r;
}

static uint64_t reply_ticket(const Hall__Envelope *r, Hall__Envelope__BodyCase want)
{
    if (r->body_case != want)
        return 0;
    switch (want) {
    case HALL__ENVELOPE__BODY_ISSUE_REPLY:
        return r->issue_reply->ticket ? r->issue_reply->ticket->id : 0;
    case HALL__ENVELOPE__BODY_TICKET_REPLY:
        return r->ticket_reply->ticket ? r->ticket_reply->ticket->id : 0;
    case HALL__ENVELOPE__BODY_WINDOW_REPLY:
        return r->window_reply->ticket ? r->window_reply->ticket->id : 0;
    default:
        return 0;
    }
}

/* ---- Kiosks ------------------------------------------------------------------ */

/* One ticket: ISSUE, then PRINTED. -1 when aborted. */
static int kiosk_ticket(struct client *c)
{
    rload *l = c->l;
    Hall__Envelope env = HALL__ENVELOPE__INIT, *r;
    Hall__IssueRequest issue = HALL__ISSUE_REQUEST__INIT;
    Hall__Printed printed = HALL__PRINTED__INIT;
    char area[16];

    snprintf(area, sizeof area, "%s", areas[rng_next(&c->rng) % NAREAS]);
    issue.area = area;
    env.body_case = HALL__ENVELOPE__BODY_ISSUE;
    env.issue = &issue;
    if ((r = client_request(c, &env)) == NULL)
        return -1;
    uint64_t ticket = reply_ticket(r, HALL__ENVELOPE__BODY_ISSUE_REPLY);
    if (ticket == 0) {
        unexpected(c, &env, r);
        proto_free(r);
        return 0;
    }
    count(&l->n.issued);
    remember(c, RLOAD_ISSUED, ticket, &env, r);
    proto_free(r);

    hall__envelope__init(&env);
    printed.ticket_id = ticket;
    env.body_case = HALL__ENVELOPE__BODY_PRINTED;
    env.printed = &printed;
    if ((r = client_request(c, &env)) == NULL)
        return -1;
    if (reply_ticket(r, HALL__ENVELOPE__BODY_TICKET_REPLY) == ticket) {
        count(&l->n.printed);
        remember(c, RLOAD_PRINTED, ticket, &env, r);
    } else {
        unexpected(c, &env, r);
    }
    proto_free(r);
    return 0;
}

static void kiosk_loop(struct client *c)
{
    rload *l = c->l;
    int64_t due_us = clk_mono_ms() * 1000;

    while (!atomic_load(&l->stopping)) {
        int64_t every_us = atomic_load(&l->every_us);
        if (every_us > 0) {
            int64_t now_us = clk_mono_ms() * 1000;
            if (due_us < now_us - every_us) /* the rate was just set: start from now */
                due_us = now_us;
            pause_ms(c, (due_us - now_us) / 1000);
            due_us += every_us;
        }
        if (kiosk_ticket(c) < 0)
            return;
    }
    c->graceful_end = true;
}

/* ---- Windows ----------------------------------------------------------------- */

/* A window request about ticket (0: none); the answer, NULL when aborted. */
/* A window request and the messages it points to. */
struct winreq {
    Hall__Envelope env;
    Hall__CallNext call;
    Hall__Start start;
    Hall__Finish finish;
    Hall__SignIn in;
    Hall__SignOut out;
    char clerk[24];
};

/* op (CALL_NEXT, START, FINISH, SIGN_IN as clerk c-N, anything else:
 * SIGN_OUT) for window no about ticket (0: none). */
static void winreq_init(struct winreq *w, Hall__Envelope__BodyCase op, uint32_t no, uint64_t ticket)
{
    hall__envelope__init(&w->env);
    hall__call_next__init(&w->call);
    hall__start__init(&w->start);
    hall__finish__init(&w->finish);
    hall__sign_in__init(&w->in);
    hall__sign_out__init(&w->out);
    w->env.body_case = op;
    switch (op) {
    case HALL__ENVELOPE__BODY_CALL_NEXT:
        w->call.window_no = no;
        w->env.call_next = &w->call;
        break;
    case HALL__ENVELOPE__BODY_START:
        w->start.window_no = no;
        w->start.ticket_id = ticket;
        w->env.start = &w->start;
        break;
    case HALL__ENVELOPE__BODY_FINISH:
        w->finish.window_no = no;
        w->finish.ticket_id = ticket;
        w->env.finish = &w->finish;
        break;
    case HALL__ENVELOPE__BODY_SIGN_IN:
        snprintf(w->clerk, sizeof w->clerk, "c-%u", no);
        w->in.window_no = no;
        w->in.clerk_id = w->clerk;
        w->env.sign_in = &w->in;
        break;
    default:
        w->out.window_no = no;
        w->env.body_case = HALL__ENVELOPE__BODY_SIGN_OUT;
        w->env.sign_out = &w->out;
        break;
    }
}

static Hall__Envelope *window_request(struct client *c, Hall__Envelope__BodyCase op,
                                      uint64_t ticket)
{
    struct winreq w;
    Hall__Envelope *r, *req = &w.env;

    winreq_init(&w, op, c->window_no, ticket);
    if ((r = client_request(c, req)) == NULL)
        return NULL;
    bool refused = r->body_case != HALL__ENVELOPE__BODY_WINDOW_REPLY;
    bool empty = refused && r->body_case == HALL__ENVELOPE__BODY_ERROR &&
                 r->error->code == HALL__ERROR_CODE__ERR_QUEUE_EMPTY &&
                 op == HALL__ENVELOPE__BODY_CALL_NEXT;
    uint64_t got = reply_ticket(r, HALL__ENVELOPE__BODY_WINDOW_REPLY);
    if (empty) {
        count(&c->l->n.empty);
    } else if (refused || (ticket != 0 && got != ticket)) {
        unexpected(c, req, r);
    } else if (op == HALL__ENVELOPE__BODY_CALL_NEXT && got != 0) {
        count(&c->l->n.called);
        remember(c, RLOAD_CALLED, got, req, r);
    } else if (op == HALL__ENVELOPE__BODY_START) {
        count(&c->l->n.started);
        remember(c, RLOAD_STARTED, got, req, r);
    } else if (op == HALL__ENVELOPE__BODY_FINISH) {
        count(&c->l->n.finished);
        remember(c, RLOAD_FINISHED, got, req, r);
    }
    return r;
}

/* One step of a window: call, and serve what was called. -1 when aborted. */
static int window_serve(struct client *c)
{
    Hall__Envelope *r = window_request(c, HALL__ENVELOPE__BODY_CALL_NEXT, 0);
    uint64_t ticket;

    if (r == NULL)
        return -1;
    ticket = reply_ticket(r, HALL__ENVELOPE__BODY_WINDOW_REPLY);
    proto_free(r);
    if (ticket == 0) { /* nothing to call (or refused): wait for the kiosks */
        pause_ms(c, c->l->o.empty_sleep_ms);
        return 0;
    }
    if ((r = window_request(c, HALL__ENVELOPE__BODY_START, ticket)) == NULL)
        return -1;
    proto_free(r);
    if ((r = window_request(c, HALL__ENVELOPE__BODY_FINISH, ticket)) == NULL)
        return -1;
    proto_free(r);
    return 0;
}

static void window_loop(struct client *c)
{
    rload *l = c->l;
    Hall__Envelope *r;

    if ((r = window_request(c, HALL__ENVELOPE__BODY_SIGN_IN, 0)) == NULL)
        return;
    proto_free(r);
    while (!atomic_load(&l->stopping))
        if (window_serve(c) < 0)
            return;
    if ((r = window_request(c, HALL__ENVELOPE__BODY_SIGN_OUT, 0)) == NULL)
        return;
    proto_free(r);
    c->graceful_end = true;
}

static void *client_main(void *arg)
{
    struct client *c = arg;

    if (c->window_no != 0)
        window_loop(c);
    else
        kiosk_loop(c);
    atomic_fetch_add(&c->l->done, 1);
    client_unlink(c);
    return NULL;
}

/* ---- The load ------------------------------------------------------------------ */

rload *rload_start(const rload_opts *o, int port, char *err, size_t errlen)
{
    rload *l = calloc(1, sizeof *l);
    int n = o->kiosks + o->windows;

    if (n <= 0 || n > UINT16_MAX || strlen(o->hall_dir) >= DIR_MAX) {
        snprintf(err, errlen, "%s",
                 n <= 0           ? "no devices"
                 : n > UINT16_MAX ? "too many devices"
                                  : "hall directory path too long");
        free(l);
        return NULL;
    }
    if (l == NULL || (l->clients = calloc((size_t)n, sizeof *l->clients)) == NULL) {
        snprintf(err, errlen, "out of memory");
        free(l);
        return NULL;
    }
    l->o = *o;
    snprintf(l->hall_dir, sizeof l->hall_dir, "%s", o->hall_dir);
    l->o.hall_dir = l->hall_dir;
    atomic_init(&l->port, port);
    atomic_init(&l->every_us, 0);
    rload_set_rate(l, o->rate);
    pthread_mutex_init(&l->lock, NULL);
    l->nclients = n;
    for (int i = 0; i < n; i++) {
        struct client *c = &l->clients[i];
        c->l = l;
        c->index = (unsigned)i;
        c->window_no = i < o->kiosks ? 0 : (uint32_t)(i - o->kiosks + 1);
        if (c->window_no == 0)
            snprintf(c->id, sizeof c->id, "kiosk-%d", i + 1);
        else
            snprintf(c->id, sizeof c->id, "win-%u", c->window_no);
        snprintf(c->cert, sizeof c->cert, "%s/pki/devices/%s/%s.crt", l->hall_dir, c->id, c->id);
        snprintf(c->key, sizeof c->key, "%s/pki/devices/%s/%s.key", l->hall_dir, c->id, c->id);
        snprintf(c->ca, sizeof c->ca, "%s/pki/devices/%s/ca.crt", l->hall_dir, c->id);
        c->next_id = o->first_id > 0 ? o->first_id : 1;
        c->rng = o->seed * 0x100000001b3ULL + (uint64_t)i;
    }
    for (int i = 0; i < n; i++) {
        int rc = pthread_create(&l->clients[i].thread, NULL, client_main, &l->clients[i]);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start a device thread: %s", strerror(rc));
            rload_stop(l, false, 0);
            rload_free(l);
            return NULL;
        }
        l->nstarted++;
    }
    return l;
}

void rload_set_port(rload *l, int port)
{
    atomic_store(&l->port, port);
}

void rload_set_rate(rload *l, double rate)
{
    atomic_store(&l->every_us, rate > 0 ? (long long)(1e6 * l->o.kiosks / rate) : 0);
}

int rload_stop(rload *l, bool graceful, int timeout_ms)
{
    int64_t until = clk_mono_ms() + timeout_ms;
    int unfinished = 0;

    atomic_store(&l->stopping, true);
    while (graceful && atomic_load(&l->done) < l->nstarted && clk_mono_ms() < until)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    atomic_store(&l->aborting, true);
    for (int i = 0; i < l->nstarted; i++)
        pthread_join(l->clients[i].thread, NULL);
    /* Merge the records, once. */
    size_t total = 0;
    for (int i = 0; i < l->nstarted; i++) {
        total += l->clients[i].nrecs;
        if (graceful && !l->clients[i].graceful_end)
            unfinished++;
    }
    if (l->all == NULL && total > 0 && (l->all = malloc(total * sizeof *l->all)) != NULL) {
        for (int i = 0; i < l->nstarted; i++) {
            struct client *c = &l->clients[i];
            memcpy(l->all + l->nall, c->recs, c->nrecs * sizeof *c->recs);
            l->nall += c->nrecs;
        }
    }
    l->nstarted = 0;
    return unfinished;
}

void rload_free(rload *l)
{
    if (l == NULL)
        return;
    if (l->nstarted > 0)
        rload_stop(l, false, 0);
    for (int i = 0; i < l->nclients; i++)
        free(l->clients[i].recs);
    free(l->clients);
    free(l->all);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

void rload_totals_get(const rload *l, rload_totals *out)
{
    *out = (rload_totals){
        .issued = atomic_load(&l->n.issued),
        .printed = atomic_load(&l->n.printed),
        .called = atomic_load(&l->n.called),
        .started = atomic_load(&l->n.started),
        .finished = atomic_load(&l->n.finished),
        .requests = atomic_load(&l->n.requests),
        .lost = atomic_load(&l->n.lost),
        .links = atomic_load(&l->n.links),
        .link_fails = atomic_load(&l->n.link_fails),
        .empty = atomic_load(&l->n.empty),
        .echoes = atomic_load(&l->n.echoes),
        .echo_diff = atomic_load(&l->n.echo_diff),
        .unexpected = atomic_load(&l->n.unexpected),
    };
}

const char *rload_problem(const rload *l)
{
    return l->problem;
}

const rload_rec *rload_records(const rload *l, size_t *n)
{
    *n = l->nall;
    return l->all;
}

const char *rload_device_name(const rload *l, unsigned device)
{
    return device < (unsigned)l->nclients ? l->clients[device].id : "?";
}

uint64_t rload_next_id(const rload *l)
{
    uint64_t last = 1;

    for (int i = 0; i < l->nclients; i++)
        if (l->clients[i].next_id > last)
            last = l->clients[i].next_id;
    return last;
}

/* ---- The refusal probe -------------------------------------------------------- */

/* A link as the tool device "hallctl" (its bundle under pki/), HELLO said. */
static devlink *tool_link(const char *hall_dir, int port, char *err)
{
    char cert[DIR_MAX + 32], key[DIR_MAX + 32], ca[DIR_MAX + 32];
    devlink *k;
    Hall__Envelope *r;

    snprintf(cert, sizeof cert, "%s/pki/hallctl.crt", hall_dir);
    snprintf(key, sizeof key, "%s/pki/hallctl.key", hall_dir);
    snprintf(ca, sizeof ca, "%s/pki/ca.crt", hall_dir);
    if ((k = devlink_open("127.0.0.1", port, cert, key, ca, PROBE_TIMEOUT_MS, err)) == NULL)
        return NULL;
    r = devlink_hello(k, "hallctl", HALL__DEVICE_TYPE__DEVICE_TOOL, 0, PROBE_TIMEOUT_MS, err);
    if (r == NULL || r->body_case != HALL__ENVELOPE__BODY_HELLO_REPLY) {
        if (r != NULL)
            snprintf(err, DEVLINK_ERR_LEN, "HELLO refused");
        proto_free(r);
        devlink_close(k);
        return NULL;
    }
    proto_free(r);
    return k;
}

/* Send a window request with request id id; NULL (and err) if unanswered. */
static Hall__Envelope *tool_call(devlink *k, Hall__Envelope__BodyCase op, uint32_t no,
                                 uint64_t ticket, uint64_t id, char *err)
{
    struct winreq w;

    winreq_init(&w, op, no, ticket);
    w.env.request_id = id;
    return devlink_call(k, &w.env, PROBE_TIMEOUT_MS, err);
}

static void describe(const Hall__Envelope *r, char *out, size_t outlen)
{
    if (r->body_case == HALL__ENVELOPE__BODY_ERROR)
        snprintf(out, outlen, "ERROR %d (%s)", (int)r->error->code, r->error->message);
    else if (r->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY && r->window_reply->ticket)
        snprintf(out, outlen, "WINDOW_REPLY calling ticket %s", r->window_reply->ticket->number);
    else
        snprintf(out, outlen, "%s", proto_body_name(r->body_case));
}

int rload_probe_refusal(const char *hall_dir, int port, uint32_t window_no, uint64_t first_id,
                        char *why, size_t whylen)
{
    char err[DEVLINK_ERR_LEN], first[200], again[200];
    Hall__Envelope *r1 = NULL, *r2 = NULL, *r;
    uint64_t ticket = 0;
    int verdict = -1;
    devlink *k;

    if ((k = tool_link(hall_dir, port, err)) == NULL) {
        snprintf(why, whylen, "no link as hallctl: %s", err);
        return -1;
    }
    r1 = tool_call(k, HALL__ENVELOPE__BODY_CALL_NEXT, window_no, 0, first_id, err);
    if (r1 == NULL || r1->body_case != HALL__ENVELOPE__BODY_ERROR ||
        r1->error->code != HALL__ERROR_CODE__ERR_WINDOW_CLOSED) {
        snprintf(why, whylen, "window %u is not closed to begin with (%s)", window_no,
                 r1 == NULL ? err : "CALL_NEXT was not refused as on a closed window");
        goto done;
    }
    r = tool_call(k, HALL__ENVELOPE__BODY_SIGN_IN, window_no, 0, first_id + 1, err);
    bool opened = r != NULL && r->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY;
    proto_free(r);
    devlink_close(k);
    if (!opened || (k = tool_link(hall_dir, port, err)) == NULL) {
        snprintf(why, whylen, "cannot open window %u for the retry: %s", window_no,
                 opened ? err : "SIGN_IN refused");
        k = NULL;
        goto done;
    }
    if ((r2 = tool_call(k, HALL__ENVELOPE__BODY_CALL_NEXT, window_no, 0, first_id, err)) == NULL) {
        snprintf(why, whylen, "the retry was not answered: %s", err);
        goto done;
    }
    describe(r1, first, sizeof first);
    describe(r2, again, sizeof again);
    verdict = answer_hash(r1) == answer_hash(r2);
    snprintf(why, whylen,
             "CALL_NEXT request %llu: %s on the closed window; sent again once it was "
             "open: %s",
             (unsigned long long)first_id, first, again);
    ticket = reply_ticket(r2, HALL__ENVELOPE__BODY_WINDOW_REPLY);
    /* Leave the window as it was: closed, with nothing at it. */
    if (ticket != 0) {
        proto_free(tool_call(k, HALL__ENVELOPE__BODY_START, window_no, ticket, first_id + 2, err));
        proto_free(tool_call(k, HALL__ENVELOPE__BODY_FINISH, window_no, ticket, first_id + 3, err));
    }
    proto_free(tool_call(k, HALL__ENVELOPE__BODY_SIGN_OUT, window_no, 0, first_id + 4, err));
done:
    proto_free(r1);
    proto_free(r2);
    devlink_close(k);
    return verdict;
}
