/*
 * target_halld — halld as a target of `hallbench load`. See target_halld.h
 * and target.h.
 *
 * Every connection is one devlink, said HELLO to as the tool device, in
 * its own thread. Kiosk operations are ISSUE and PRINTED; window
 * operations CALL_NEXT, and START then FINISH for "finish". setup signs
 * the clerks c-1 .. c-M in at windows 1 .. M (a window already open is
 * fine), teardown signs them out again.
 *
 * Retries: a request whose answer does not come (link closed, timeout) is
 * remembered as pending; after the runner reopens the link it repeats the
 * operation, and the request goes again with the same request_id, which
 * halld answers with its first answer if it had already done it — exactly
 * what a kiosk does, so a lost answer never makes a second ticket.
 */
#include "target_halld.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clk.h"
#include "devlink.h"
#include "halld_conf.h"
#include "net.h"

struct halld_shared {
    target_halld_addr addr;
    char area[32];
    unsigned kiosks, windows;
    uint64_t admin_next_id; /* request ids of setup's and teardown's link */
    char info[400];
};

struct target_conn {
    struct halld_shared *sh;
    devlink *link;
    uint64_t next_id;
    uint64_t pending_id; /* sent, not answered: resent by the next request */
    /* finish is two requests: where it stands for fin_ticket. */
    uint64_t fin_ticket;
    int fin_stage; /* 0: START next, 1: FINISH next */
};

/* ---- Finding halld ---------------------------------------------------------- */

int target_halld_resolve(const char *config, const char *server, bool plain, target_halld_addr *a,
                         char *err, size_t errlen)
{
    struct halld_conf conf = {0};
    halld_contact contact;
    char cerr[512];

    memset(a, 0, sizeof *a);
    a->plain = plain;
    if (server != NULL && net_parse_hostport(server, a->host, sizeof a->host, &a->port) < 0) {
        snprintf(err, errlen, "--server %s: expected HOST:PORT", server);
        return -1;
    }
    if (config == NULL) {
        if (server != NULL && plain)
            return 0;
        snprintf(err, errlen, "halld: --config is needed (or --server with --plain)");
        return -1;
    }
    if (halld_conf_load(&conf, config, cerr, sizeof cerr) < 0) {
        snprintf(err, errlen, "%s", cerr);
        return -1;
    }
    int rc = halld_conf_contact(&conf, TARGET_HALLD_DEVICE, &contact, cerr, sizeof cerr);
    halld_conf_release(&conf);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", config, cerr);
        return -1;
    }
    if (server == NULL) {
        if (contact.port == 0) {
            snprintf(err, errlen,
                     "%s: [listen] port is 0 (halld picks one): give --server 127.0.0.1:PORT",
                     config);
            return -1;
        }
        snprintf(a->host, sizeof a->host, "%s", contact.host);
        a->port = contact.port;
    }
    if (!plain) {
        memcpy(a->cert, contact.cert, sizeof a->cert);
        memcpy(a->key, contact.key, sizeof a->key);
        memcpy(a->ca, contact.ca, sizeof a->ca);
    }
    return 0;
}

uint64_t target_halld_first_id(unsigned slot)
{
    /* Ranges of 1e15 per slot, past the range hallctl's clock-based ids
     * fall in (utc_ms * 1000 < 2e15 until the 2030s); within a range, the
     * run's start in ms since 2020 times 1000, so a later run starts past
     * any id an earlier one used unless it sent over 1000 requests per ms
     * on one link. */
    static uint64_t base;
    const uint64_t epoch2020_ms = UINT64_C(1577836800000);

    if (base == 0) {
        int64_t now = clk_utc_ms();
        base = ((uint64_t)now > epoch2020_ms ? (uint64_t)now - epoch2020_ms : 1) * 1000;
    }
    if (slot > TARGET_HALLD_MAX_SLOT)
        slot = TARGET_HALLD_MAX_SLOT;
    return ((uint64_t)slot + 2) * UINT64_C(1000000000000000) + base;
}

const char *target_halld_error_name(int code)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&hall__error_code__descriptor, code);
    return v != NULL ? v->name : "ERR_UNKNOWN";
}

/* ---- Links and requests ------------------------------------------------------- */

/* A link that has said HELLO; NULL with err. hall_id (may be NULL) gets
 * the hall's id from HELLO_REPLY. */
static devlink *open_link(const target_halld_addr *a, char *hall_id, size_t idlen, target_err *err)
{
    char why[DEVLINK_ERR_LEN];
    devlink *l = devlink_open(a->host, a->port, a->plain ? NULL : a->cert, a->plain ? NULL : a->key,
                              a->plain ? NULL : a->ca, TARGET_HALLD_TIMEOUT_MS, why);

    if (l == NULL) {
        target_fail(err, "connect_failed", "cannot reach halld at %s:%d: %s", a->host, a->port,
                    why);
        return NULL;
    }
    Hall__Envelope *r = devlink_hello(l, TARGET_HALLD_DEVICE, HALL__DEVICE_TYPE__DEVICE_TOOL, 0,
                                      TARGET_HALLD_TIMEOUT_MS, why);
    if (r == NULL || r->body_case != HALL__ENVELOPE__BODY_HELLO_REPLY) {
        target_fail(err, "hello_refused", "halld at %s:%d refused HELLO as %s: %s", a->host,
                    a->port, TARGET_HALLD_DEVICE,
                    r == NULL ? why
                    : r->body_case == HALL__ENVELOPE__BODY_ERROR && r->error != NULL
                        ? r->error->message
                        : proto_body_name(r->body_case));
        proto_free(r);
        devlink_close(l);
        return NULL;
    }
    if (hall_id != NULL)
        snprintf(hall_id, idlen, "%s", r->hello_reply->hall_id);
    proto_free(r);
    return l;
}

/* Send req and take its answer if it is of body want. The request id is
 * the pending one (a repeat after a lost answer) or the next of *next_id.
 * TARGET_EMPTY for ERR_QUEUE_EMPTY; TARGET_FAILED for another ERROR or an
 * unexpected answer; TARGET_CLOSED when no answer came. */
static target_rc ask(devlink *l, uint64_t *next_id, uint64_t *pending, Hall__Envelope *req,
                     Hall__Envelope__BodyCase want, Hall__Envelope **out, target_err *err)
{
    char why[DEVLINK_ERR_LEN];

    *out = NULL;
    req->request_id = *pending ? *pending : (*next_id)++;
    *pending = req->request_id;
    Hall__Envelope *r = devlink_call(l, req, TARGET_HALLD_TIMEOUT_MS, why);
    if (r == NULL) {
        bool closed = devlink_closed(l, 0, NULL);
        target_fail(err, closed ? "link_closed" : "timeout", "%s: %s",
                    proto_body_name(req->body_case), why);
        return TARGET_CLOSED;
    }
    *pending = 0;
    if (r->body_case == HALL__ENVELOPE__BODY_ERROR && r->error != NULL) {
        target_rc rc = TARGET_FAILED;
        if (r->error->code == HALL__ERROR_CODE__ERR_QUEUE_EMPTY)
            rc = TARGET_EMPTY;
        target_fail(err, target_halld_error_name(r->error->code), "%s refused: %s",
                    proto_body_name(req->body_case), r->error->message);
        proto_free(r);
        return rc;
    }
    if (r->body_case != want) {
        target_fail(err, "unexpected_answer", "%s answered with %s",
                    proto_body_name(req->body_case), proto_body_name(r->body_case));
        proto_free(r);
        return TARGET_FAILED;
    }
    *out = r;
    return TARGET_OK;
}

/* A window operation (SIGN_IN, SIGN_OUT, START, FINISH) on window no. */
static target_rc window_op(devlink *l, uint64_t *next_id, uint64_t *pending,
                           Hall__Envelope__BodyCase body, uint32_t no, uint64_t ticket,
                           const char *clerk, target_err *err)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT, *r;
    Hall__SignIn in;
    Hall__SignOut out;
    Hall__Start start;
    Hall__Finish finish;
    char clerk_buf[64];

    env.body_case = body;
    switch (body) {
    case HALL__ENVELOPE__BODY_SIGN_IN:
        hall__sign_in__init(&in);
        snprintf(clerk_buf, sizeof clerk_buf, "%s", clerk);
        in.window_no = no;
        in.clerk_id = clerk_buf;
        env.sign_in = &in;
        break;
    case HALL__ENVELOPE__BODY_SIGN_OUT:
        hall__sign_out__init(&out);
        out.window_no = no;
        env.sign_out = &out;
        break;
    case HALL__ENVELOPE__BODY_START:
        hall__start__init(&start);
        start.window_no = no;
        start.ticket_id = ticket;
        env.start = &start;
        break;
    default:
        hall__finish__init(&finish);
        finish.window_no = no;
        finish.ticket_id = ticket;
        env.body_case = HALL__ENVELOPE__BODY_FINISH;
        env.finish = &finish;
        break;
    }
    target_rc rc = ask(l, next_id, pending, &env, HALL__ENVELOPE__BODY_WINDOW_REPLY, &r, err);
    proto_free(r);
    return rc;
}

/* ISSUE then PRINTED on an admin link: the --preload tickets. */
static int preload(devlink *l, struct halld_shared *sh, uint64_t n, target_err *err)
{
    for (uint64_t i = 0; i < n; i++) {
        Hall__Envelope env = HALL__ENVELOPE__INIT, *r;
        Hall__IssueRequest m;
        Hall__Printed p;
        uint64_t pending = 0;

        hall__issue_request__init(&m);
        m.area = sh->area;
        env.body_case = HALL__ENVELOPE__BODY_ISSUE;
        env.issue = &m;
        if (ask(l, &sh->admin_next_id, &pending, &env, HALL__ENVELOPE__BODY_ISSUE_REPLY, &r, err) !=
            TARGET_OK)
            return -1;
        if (r->issue_reply == NULL || r->issue_reply->ticket == NULL) {
            proto_free(r);
            target_fail(err, "bad_answer", "ISSUE_REPLY without a ticket");
            return -1;
        }
        hall__printed__init(&p);
        p.ticket_id = r->issue_reply->ticket->id;
        proto_free(r);
        env.body_case = HALL__ENVELOPE__BODY_PRINTED;
        env.printed = &p;
        if (ask(l, &sh->admin_next_id, &pending, &env, HALL__ENVELOPE__BODY_TICKET_REPLY, &r,
                err) != TARGET_OK)
            return -1;
        proto_free(r);
    }
    return 0;
}

/* Sign windows 1..upto out, so the hall is left as it was found. A window
 * that still has a ticket (a run cut short) stays open. */
static void sign_out(devlink *l, struct halld_shared *sh, unsigned upto)
{
    target_err err;

    for (unsigned w = 1; l != NULL && w <= upto; w++) {
        uint64_t pending = 0;
        if (window_op(l, &sh->admin_next_id, &pending, HALL__ENVELOPE__BODY_SIGN_OUT, w, 0, NULL,
                      &err) == TARGET_CLOSED)
            break;
    }
}

/* ---- The table ------------------------------------------------------------------ */

static void *halld_setup(const target_opts *o, target_err *err)
{
    struct halld_shared *sh = calloc(1, sizeof *sh);
    char why[512], hall_id[80] = "";
    unsigned opened = 0; /* windows signed in so far */
    devlink *l = NULL;

    if (sh == NULL) {
        target_fail(err, "nomem", "out of memory");
        return NULL;
    }
    if (target_halld_resolve(o->config, o->server, o->plain, &sh->addr, why, sizeof why) < 0) {
        target_fail(err, "usage", "%s", why);
        goto fail;
    }
    snprintf(sh->area, sizeof sh->area, "%s", o->area ? o->area : "");
    sh->kiosks = o->kiosks;
    sh->windows = o->windows;
    sh->admin_next_id = target_halld_first_id(1 + o->kiosks + o->windows);
    if ((l = open_link(&sh->addr, hall_id, sizeof hall_id, err)) == NULL)
        goto fail;
    for (unsigned w = 1; w <= o->windows; w++) {
        char clerk[32];
        uint64_t pending = 0;
        snprintf(clerk, sizeof clerk, "c-%u", w);
        target_rc rc = window_op(l, &sh->admin_next_id, &pending, HALL__ENVELOPE__BODY_SIGN_IN, w,
                                 0, clerk, err);
        /* ERR_ILLEGAL_STATE: the window is open already (a previous run). */
        if (rc != TARGET_OK && strcmp(err->kind, "ERR_ILLEGAL_STATE") != 0) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            target_fail(err, "setup_failed",
                        "window %u, clerk %s: %s (the hall needs windows 1..%u and clerks "
                        "c-1..c-%u: hallctl window add, clerk add)",
                        w, clerk, msg, o->windows, o->windows);
            goto fail;
        }
        opened = w;
    }
    if (preload(l, sh, o->preload, err) < 0)
        goto fail;
    devlink_close(l);
    snprintf(sh->info, sizeof sh->info, "halld of hall %s at %s:%d over %s, as tool device %s",
             hall_id, sh->addr.host, sh->addr.port, sh->addr.plain ? "plain TCP" : "TLS 1.3",
             TARGET_HALLD_DEVICE);
    return sh;
fail:
    sign_out(l, sh, opened);
    devlink_close(l);
    free(sh);
    return NULL;
}

static const char *halld_describe(void *shared)
{
    return ((struct halld_shared *)shared)->info;
}

static target_conn *halld_connect(void *shared, unsigned index, target_err *err)
{
    target_conn *c = calloc(1, sizeof *c);

    if (c == NULL) {
        target_fail(err, "nomem", "out of memory");
        return NULL;
    }
    c->sh = shared;
    c->next_id = target_halld_first_id(1 + index);
    if ((c->link = open_link(&c->sh->addr, NULL, 0, err)) == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

static int halld_reopen(target_conn *c, target_err *err)
{
    devlink_close(c->link);
    c->link = open_link(&c->sh->addr, NULL, 0, err);
    return c->link != NULL ? 0 : -1;
}

static target_rc halld_issue(target_conn *c, uint64_t *ticket, target_err *err)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT, *r;
    Hall__IssueRequest m;

    hall__issue_request__init(&m);
    m.area = c->sh->area;
    env.body_case = HALL__ENVELOPE__BODY_ISSUE;
    env.issue = &m;
    target_rc rc =
        ask(c->link, &c->next_id, &c->pending_id, &env, HALL__ENVELOPE__BODY_ISSUE_REPLY, &r, err);
    if (rc != TARGET_OK)
        return rc == TARGET_EMPTY ? TARGET_FAILED : rc;
    if (r->issue_reply == NULL || r->issue_reply->ticket == NULL ||
        r->issue_reply->ticket->id == 0) {
        proto_free(r);
        target_fail(err, "bad_answer", "ISSUE_REPLY without a ticket");
        return TARGET_FAILED;
    }
    *ticket = r->issue_reply->ticket->id;
    proto_free(r);
    return TARGET_OK;
}

static target_rc halld_printed(target_conn *c, uint64_t ticket, target_err *err)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT, *r;
    Hall__Printed p;

    hall__printed__init(&p);
    p.ticket_id = ticket;
    env.body_case = HALL__ENVELOPE__BODY_PRINTED;
    env.printed = &p;
    target_rc rc =
        ask(c->link, &c->next_id, &c->pending_id, &env, HALL__ENVELOPE__BODY_TICKET_REPLY, &r, err);
    proto_free(r);
    return rc == TARGET_EMPTY ? TARGET_FAILED : rc;
}

static target_rc halld_call(target_conn *c, uint32_t window, uint64_t *ticket, target_err *err)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT, *r;
    Hall__CallNext m;

    hall__call_next__init(&m);
    m.window_no = window;
    env.body_case = HALL__ENVELOPE__BODY_CALL_NEXT;
    env.call_next = &m;
    target_rc rc =
        ask(c->link, &c->next_id, &c->pending_id, &env, HALL__ENVELOPE__BODY_WINDOW_REPLY, &r, err);
    if (rc != TARGET_OK)
        return rc;
    const Hall__Ticket *t = r->window_reply != NULL ? r->window_reply->ticket : NULL;
    if (t == NULL || t->id == 0) {
        proto_free(r);
        target_fail(err, "bad_answer", "WINDOW_REPLY to CALL_NEXT without a ticket");
        return TARGET_FAILED;
    }
    /* Past the recall limit with nothing else waiting, the answer is the
     * ticket made NO_SHOW, and nothing is called. */
    rc = t->state == HALL__TICKET_STATE__TICKET_CALLED ? TARGET_OK : TARGET_EMPTY;
    *ticket = t->id;
    proto_free(r);
    return rc;
}

static target_rc halld_finish(target_conn *c, uint32_t window, uint64_t ticket, target_err *err)
{
    if (c->fin_ticket != ticket) {
        c->fin_ticket = ticket;
        c->fin_stage = 0;
    }
    if (c->fin_stage == 0) {
        target_rc rc = window_op(c->link, &c->next_id, &c->pending_id, HALL__ENVELOPE__BODY_START,
                                 window, ticket, NULL, err);
        if (rc != TARGET_OK)
            return rc == TARGET_EMPTY ? TARGET_FAILED : rc;
        c->fin_stage = 1;
    }
    target_rc rc = window_op(c->link, &c->next_id, &c->pending_id, HALL__ENVELOPE__BODY_FINISH,
                             window, ticket, NULL, err);
    if (rc == TARGET_OK)
        c->fin_ticket = 0;
    return rc == TARGET_EMPTY ? TARGET_FAILED : rc;
}

static void halld_disconnect(target_conn *c)
{
    if (c == NULL)
        return;
    devlink_close(c->link);
    free(c);
}

static void halld_teardown(void *shared)
{
    struct halld_shared *sh = shared;
    target_err err;

    if (sh == NULL)
        return;
    if (sh->windows > 0) {
        devlink *l = open_link(&sh->addr, NULL, 0, &err);
        sign_out(l, sh, sh->windows);
        devlink_close(l);
    }
    free(sh);
}

const target_ops target_halld = {
    .name = "halld",
    .setup = halld_setup,
    .describe = halld_describe,
    .connect = halld_connect,
    .reopen = halld_reopen,
    .issue = halld_issue,
    .printed = halld_printed,
    .call = halld_call,
    .finish = halld_finish,
    .disconnect = halld_disconnect,
    .teardown = halld_teardown,
};
