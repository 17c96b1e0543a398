/*
 * halld's request path over real sockets, each suite on a hall made by
 * the real hallctl with the real halld (hallfixture.h). One source, six
 * CTest names (the first argument picks the suite):
 *
 *   halld_role_matrix          every request type from every device role,
 *                              against its own and a foreign target:
 *                              allowed exactly where auth.c's table says;
 *   halld_request_id_reuse     the same id with another request, an
 *                              unknown message's id, a refusal kept across
 *                              kill -9;
 *   halld_kept_answers_bounded floods of status reports and of issues:
 *                              answers capped per device (memory, store),
 *                              a dropped answer's retry told so, the log
 *                              budget per device;
 *   halld_catalog_retire       an area leaves the catalog while tickets
 *                              wait in it: retired, hidden from kiosks,
 *                              still called, across restarts;
 *   halld_reservation_revive   PRINTED after expiry revives (also expired
 *                              while halld was down), after VOID it does
 *                              not; appointments released and reclaimed;
 *   halld_reload_numbering     new [numbering] settings wait for the next
 *                              business day, across SIGHUP and a restart;
 *                              a bad file changes nothing.
 */
#include <check.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth.h"
#include "clk.h"
#include "hallfixture.h"
#include "testsupport.h"

#define K HALL__DEVICE_TYPE__DEVICE_KIOSK
#define W HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL
#define D HALL__DEVICE_TYPE__DEVICE_DISPLAY
#define T HALL__DEVICE_TYPE__DEVICE_TOOL

static const char *error_text(const Hall__Envelope *r)
{
    return r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message
                                                      : proto_body_name(r->body_case);
}

static void expect_error(Hall__Envelope *r, Hall__ErrorCode code)
{
    ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_ERROR, "expected ERROR %d, got %s", code,
                  proto_body_name(r->body_case));
    ck_assert_msg(r->error->code == code, "expected error %d, got %d: %s", code, r->error->code,
                  r->error->message);
    proto_free(r);
}

static uint64_t issued(Hall__Envelope *r)
{
    ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_ISSUE_REPLY, "ISSUE: %s", error_text(r));
    uint64_t id = r->issue_reply->ticket->id;
    proto_free(r);
    return id;
}

static uint64_t issue_printed(devlink *kiosk, const char *area)
{
    uint64_t id = issued(fix_issue(kiosk, area, HALL__PRIORITY__PRIORITY_NORMAL));
    Hall__Envelope *r = fix_printed(kiosk, id);
    ck_assert_msg(r->body_case == HALL__ENVELOPE__BODY_TICKET_REPLY, "PRINTED: %s", error_text(r));
    proto_free(r);
    return id;
}

/* Packed bytes of an envelope, for comparing answers. */
static size_t packed(const Hall__Envelope *e, uint8_t *out, size_t cap)
{
    size_t n = hall__envelope__get_packed_size(e);
    ck_assert_uint_le(n, cap);
    hall__envelope__pack(e, out);
    return n;
}

/* ---- Any request, built from a body type and its targets ------------------------ */

struct request {
    Hall__Envelope env;
    union {
        Hall__Heartbeat heartbeat;
        Hall__Subscribe subscribe;
        Hall__DeviceStatus status;
        Hall__IssueRequest issue;
        Hall__Printed printed;
        Hall__VoidTicket void_ticket;
        Hall__LeaseRequest lease;
        Hall__OfflineUpload upload;
        Hall__Rejoin rejoin;
        Hall__TicketQuery ticket_query;
        Hall__CancelTicket cancel;
        Hall__CallNext call_next;
        Hall__Recall recall;
        Hall__NoShow no_show;
        Hall__Start start;
        Hall__Finish finish;
        Hall__Transfer transfer;
        Hall__Hold hold;
        Hall__PauseWindow pause;
        Hall__ResumeWindow resume;
        Hall__SignIn sign_in;
        Hall__SignOut sign_out;
        Hall__Rating rating;
    } m;
    Hall__OfflineTicket offline, *offline_ptr;
    char area[16], number[16], clerk[16], reason[16], empty[1];
};

/* body for window window_no and ticket ticket_id (where it names them). */
static Hall__Envelope *build(struct request *r, Hall__Envelope__BodyCase body, uint32_t window_no,
                             uint64_t ticket_id)
{
    memset(r, 0, sizeof *r);
    hall__envelope__init(&r->env);
    r->env.body_case = body;
    snprintf(r->area, sizeof r->area, "intake");
    snprintf(r->clerk, sizeof r->clerk, "c-%u", window_no);
    switch (body) {
    case HALL__ENVELOPE__BODY_HEARTBEAT:
        hall__heartbeat__init(&r->m.heartbeat);
        r->env.heartbeat = &r->m.heartbeat;
        break;
    case HALL__ENVELOPE__BODY_SUBSCRIBE:
        hall__subscribe__init(&r->m.subscribe);
        r->env.subscribe = &r->m.subscribe;
        break;
    case HALL__ENVELOPE__BODY_DEVICE_STATUS:
        hall__device_status__init(&r->m.status);
        r->env.device_status = &r->m.status;
        break;
    case HALL__ENVELOPE__BODY_ISSUE:
        hall__issue_request__init(&r->m.issue);
        r->m.issue.area = r->area;
        r->env.issue = &r->m.issue;
        break;
    case HALL__ENVELOPE__BODY_PRINTED:
        hall__printed__init(&r->m.printed);
        r->m.printed.ticket_id = ticket_id;
        r->env.printed = &r->m.printed;
        break;
    case HALL__ENVELOPE__BODY_VOID_TICKET:
        hall__void_ticket__init(&r->m.void_ticket);
        r->m.void_ticket.ticket_id = ticket_id;
        r->m.void_ticket.reason = r->empty;
        r->env.void_ticket = &r->m.void_ticket;
        break;
    case HALL__ENVELOPE__BODY_LEASE_REQUEST:
        hall__lease_request__init(&r->m.lease);
        r->m.lease.area = r->area;
        r->env.lease_request = &r->m.lease;
        break;
    case HALL__ENVELOPE__BODY_OFFLINE_UPLOAD:
        hall__offline_upload__init(&r->m.upload);
        hall__offline_ticket__init(&r->offline);
        snprintf(r->number, sizeof r->number, "A950");
        r->offline.area = r->area;
        r->offline.number = r->number;
        r->offline.issued_at_ms = clk_utc_ms();
        r->offline_ptr = &r->offline;
        r->m.upload.n_tickets = 1;
        r->m.upload.tickets = &r->offline_ptr;
        r->env.offline_upload = &r->m.upload;
        break;
    case HALL__ENVELOPE__BODY_REJOIN:
        hall__rejoin__init(&r->m.rejoin);
        r->m.rejoin.ticket_id = ticket_id;
        r->env.rejoin = &r->m.rejoin;
        break;
    case HALL__ENVELOPE__BODY_TICKET_QUERY:
        hall__ticket_query__init(&r->m.ticket_query);
        r->m.ticket_query.ticket_id = ticket_id;
        r->env.ticket_query = &r->m.ticket_query;
        break;
    case HALL__ENVELOPE__BODY_CANCEL:
        hall__cancel_ticket__init(&r->m.cancel);
        r->m.cancel.window_no = window_no;
        r->m.cancel.ticket_id = ticket_id;
        r->m.cancel.reason = r->empty;
        r->env.cancel = &r->m.cancel;
        break;
#define WINDOW_OP(BODY, lower, field)                                                              \
    case HALL__ENVELOPE__BODY_##BODY:                                                              \
        hall__##lower##__init(&r->m.field);                                                        \
        r->m.field.window_no = window_no;                                                          \
        r->env.field = &r->m.field;                                                                \
        break;
        WINDOW_OP(CALL_NEXT, call_next, call_next)
        WINDOW_OP(RESUME, resume_window, resume)
        WINDOW_OP(SIGN_OUT, sign_out, sign_out)
#undef WINDOW_OP
#define TICKET_OP(BODY, lower, field)                                                              \
    case HALL__ENVELOPE__BODY_##BODY:                                                              \
        hall__##lower##__init(&r->m.field);                                                        \
        r->m.field.window_no = window_no;                                                          \
        r->m.field.ticket_id = ticket_id;                                                          \
        r->env.field = &r->m.field;                                                                \
        break;
        TICKET_OP(RECALL, recall, recall)
        TICKET_OP(NO_SHOW, no_show, no_show)
        TICKET_OP(START, start, start)
        TICKET_OP(FINISH, finish, finish)
        TICKET_OP(HOLD, hold, hold)
        TICKET_OP(RATING, rating, rating)
#undef TICKET_OP
    case HALL__ENVELOPE__BODY_TRANSFER:
        hall__transfer__init(&r->m.transfer);
        r->m.transfer.window_no = window_no;
        r->m.transfer.ticket_id = ticket_id;
        r->m.transfer.to_area = r->area;
        r->env.transfer = &r->m.transfer;
        break;
    case HALL__ENVELOPE__BODY_PAUSE:
        hall__pause_window__init(&r->m.pause);
        r->m.pause.window_no = window_no;
        r->m.pause.reason = r->empty;
        r->env.pause = &r->m.pause;
        break;
    case HALL__ENVELOPE__BODY_SIGN_IN:
        hall__sign_in__init(&r->m.sign_in);
        r->m.sign_in.window_no = window_no;
        r->m.sign_in.clerk_id = r->clerk;
        r->env.sign_in = &r->m.sign_in;
        break;
    default:
        ck_abort_msg("no request of type %s", proto_body_name(body));
    }
    if (body == HALL__ENVELOPE__BODY_RATING)
        r->m.rating.level = 5;
    return &r->env;
}

/* ---- halld_role_matrix ------------------------------------------------------------- */

static const Hall__Envelope__BodyCase all_requests[] = {
    HALL__ENVELOPE__BODY_HEARTBEAT,     HALL__ENVELOPE__BODY_SUBSCRIBE,
    HALL__ENVELOPE__BODY_DEVICE_STATUS, HALL__ENVELOPE__BODY_ISSUE,
    HALL__ENVELOPE__BODY_PRINTED,       HALL__ENVELOPE__BODY_VOID_TICKET,
    HALL__ENVELOPE__BODY_LEASE_REQUEST, HALL__ENVELOPE__BODY_OFFLINE_UPLOAD,
    HALL__ENVELOPE__BODY_REJOIN,        HALL__ENVELOPE__BODY_CANCEL,
    HALL__ENVELOPE__BODY_CALL_NEXT,     HALL__ENVELOPE__BODY_RECALL,
    HALL__ENVELOPE__BODY_NO_SHOW,       HALL__ENVELOPE__BODY_START,
    HALL__ENVELOPE__BODY_FINISH,        HALL__ENVELOPE__BODY_TRANSFER,
    HALL__ENVELOPE__BODY_HOLD,          HALL__ENVELOPE__BODY_PAUSE,
    HALL__ENVELOPE__BODY_RESUME,        HALL__ENVELOPE__BODY_SIGN_IN,
    HALL__ENVELOPE__BODY_SIGN_OUT,      HALL__ENVELOPE__BODY_RATING,
    HALL__ENVELOPE__BODY_TICKET_QUERY,
};

struct matrix {
    hallfix f;
    devlink *kiosk[2], *win[2], *board, *tool;
};

static devlink *link_of(struct matrix *m, int role)
{
    switch (role) {
    case K:
        return m->kiosk[0];
    case W:
        return m->win[0];
    case D:
        return m->board;
    default:
        return m->tool;
    }
}

/* A fresh RESERVED ticket of kiosk i. */
static uint64_t reserved_of(struct matrix *m, int i)
{
    return issued(fix_issue(m->kiosk[i], "intake", HALL__PRIORITY__PRIORITY_NORMAL));
}

/* A ticket CALLED at window no (1 or 2), called by the tool. */
static uint64_t called_at(struct matrix *m, uint32_t no)
{
    struct request r;

    issue_printed(m->kiosk[0], "intake");
    Hall__Envelope *a = fix_call(m->tool, build(&r, HALL__ENVELOPE__BODY_CALL_NEXT, no, 0));
    ck_assert_msg(a->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY && a->window_reply->ticket,
                  "CALL_NEXT at %u: %s", no, error_text(a));
    uint64_t id = a->window_reply->ticket->id;
    proto_free(a);
    return id;
}

/* Finish whatever is current at both windows (the tool may act anywhere). */
static void clear_windows(struct matrix *m)
{
    struct request r;

    for (uint32_t no = 1; no <= 2; no++) {
        proto_free(fix_call(m->tool, build(&r, HALL__ENVELOPE__BODY_SIGN_IN, no, 0)));
        proto_free(fix_call(m->tool, build(&r, HALL__ENVELOPE__BODY_RESUME, no, 0)));
        proto_free(fix_call(m->tool, build(&r, HALL__ENVELOPE__BODY_CANCEL, no, 0)));
        proto_free(fix_call(m->tool, build(&r, HALL__ENVELOPE__BODY_START, no, 0)));
        proto_free(fix_call(m->tool, build(&r, HALL__ENVELOPE__BODY_FINISH, no, 0)));
    }
}

/*
 * The target of a request for a role, own (true) or foreign: the window
 * and the ticket it names. For a role the table lets act anywhere (AUTH_ANY,
 * or a tool's windows), "foreign" is simply another target, which must be
 * allowed as well.
 */
static void target(struct matrix *m, int role, Hall__Envelope__BodyCase body, bool own,
                   uint32_t *no, uint64_t *ticket)
{
    uint32_t mine = 1, other = 2;

    *no = own ? mine : other;
    *ticket = 0;
    switch (body) {
    case HALL__ENVELOPE__BODY_PRINTED:
    case HALL__ENVELOPE__BODY_VOID_TICKET:
        *ticket = reserved_of(m, own ? 0 : 1); /* issued by kiosk-01 (the role's) or kiosk-02 */
        break;
    case HALL__ENVELOPE__BODY_CANCEL:
        if (role == K) {
            /* As the hall, a waiting ticket; foreign: a called one. */
            *no = 0;
            *ticket = own ? issue_printed(m->kiosk[0], "intake") : called_at(m, 2);
        } else {
            *ticket = called_at(m, *no);
        }
        break;
    case HALL__ENVELOPE__BODY_RECALL:
    case HALL__ENVELOPE__BODY_NO_SHOW:
    case HALL__ENVELOPE__BODY_START:
    case HALL__ENVELOPE__BODY_HOLD:
    case HALL__ENVELOPE__BODY_TRANSFER:
        *ticket = called_at(m, *no);
        break;
    case HALL__ENVELOPE__BODY_REJOIN:
    case HALL__ENVELOPE__BODY_TICKET_QUERY:
        *ticket = issue_printed(m->kiosk[0], "intake");
        break;
    default:
        break;
    }
}

/* The table as docs/protocol.md prints it, written out here on its own so
 * a change to auth.c that the documentation does not follow fails. Per
 * role (kiosk, window terminal, display, tool, web gateway, then people:
 * admin, manager, clerk, reviewer, consult, auditor): '-' never, 'a' any
 * target, 'w' its own window (a tool or a manager: any window), 't' a
 * ticket it issued, 'h' a waiting ticket as the hall, 'c' a window where
 * the person's clerk is signed in (SIGN_IN: only as that clerk). */
#define WINDOW_OP "-w-w--wc---"
static const struct {
    Hall__Envelope__BodyCase body;
    const char *rules; /* K W D T G A M C R S U */
} documented[] = {
    {HALL__ENVELOPE__BODY_HEARTBEAT, "aaaaa------"},
    {HALL__ENVELOPE__BODY_SUBSCRIBE, "aaaaa------"},
    {HALL__ENVELOPE__BODY_DEVICE_STATUS, "aaaaa------"},
    {HALL__ENVELOPE__BODY_WEB_EVENT, "----a------"},
    {HALL__ENVELOPE__BODY_ISSUE, "a--a-------"},
    {HALL__ENVELOPE__BODY_PRINTED, "t--a-------"},
    {HALL__ENVELOPE__BODY_VOID_TICKET, "t--a-------"},
    {HALL__ENVELOPE__BODY_LEASE_REQUEST, "a--a-------"},
    {HALL__ENVELOPE__BODY_OFFLINE_UPLOAD, "a--a-------"},
    {HALL__ENVELOPE__BODY_REJOIN, "aa-a--aa---"},
    {HALL__ENVELOPE__BODY_CANCEL, "hw-a--wc---"},
    {HALL__ENVELOPE__BODY_CALL_NEXT, WINDOW_OP},
    {HALL__ENVELOPE__BODY_RECALL, WINDOW_OP},
    {HALL__ENVELOPE__BODY_NO_SHOW, WINDOW_OP},
    {HALL__ENVELOPE__BODY_START, WINDOW_OP},
    {HALL__ENVELOPE__BODY_FINISH, WINDOW_OP},
    {HALL__ENVELOPE__BODY_TRANSFER, WINDOW_OP},
    {HALL__ENVELOPE__BODY_HOLD, WINDOW_OP},
    {HALL__ENVELOPE__BODY_PAUSE, WINDOW_OP},
    {HALL__ENVELOPE__BODY_RESUME, WINDOW_OP},
    {HALL__ENVELOPE__BODY_SIGN_IN, WINDOW_OP},
    {HALL__ENVELOPE__BODY_SIGN_OUT, WINDOW_OP},
    {HALL__ENVELOPE__BODY_RATING, "-w-w-------"},
    {HALL__ENVELOPE__BODY_TICKET_QUERY, "a--a-------"},
};

static bool expected_allowed(int role, Hall__Envelope__BodyCase body, bool own)
{
    for (size_t i = 0; i < sizeof documented / sizeof documented[0]; i++)
        if (documented[i].body == body)
            switch (documented[i].rules[role - 1]) {
            case 'a':
                return true;
            case 'w':
                return own || role == T;
            case 't':
            case 'h':
                return own;
            default:
                return false;
            }
    return false;
}

START_TEST(every_message_from_every_role)
{
    struct matrix m;
    static const int roles[] = {K, W, D, T};
    int checked = 0;

    fix_init(&m.f, 2, NULL);
    ck_assert_int_eq(fix_hallctl(&m.f, "device add --id kiosk-02 --type kiosk"), 0);
    ck_assert_int_eq(fix_hallctl(&m.f, "device add --id tool-01 --type tool"), 0);
    fix_start(&m.f);
    m.kiosk[0] = fix_device(&m.f, "kiosk-01", K, 0);
    m.kiosk[1] = fix_device(&m.f, "kiosk-02", K, 0);
    m.win[0] = fix_device(&m.f, "win-1", W, 1);
    m.win[1] = fix_device(&m.f, "win-2", W, 2);
    m.board = fix_device(&m.f, "board-01", D, 0);
    m.tool = fix_device(&m.f, "tool-01", T, 0);

    for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++)
        for (size_t b = 0; b < sizeof all_requests / sizeof all_requests[0]; b++)
            for (int own = 1; own >= 0; own--) {
                int role = roles[r];
                Hall__Envelope__BodyCase body = all_requests[b];
                struct request req;
                uint32_t no;
                uint64_t ticket;

                clear_windows(&m);
                target(&m, role, body, own, &no, &ticket);
                Hall__Envelope *a = fix_call(link_of(&m, role), build(&req, body, no, ticket));
                bool forbidden = a->body_case == HALL__ENVELOPE__BODY_ERROR &&
                                 a->error->code == HALL__ERROR_CODE__ERR_FORBIDDEN;
                bool want = expected_allowed(role, body, own);
                ck_assert_msg(forbidden != want, "%s sending %s (%s target): %s, the table says %s",
                              auth_role_name(role), proto_body_name(body), own ? "own" : "foreign",
                              error_text(a), want ? "allowed" : "forbidden");
                proto_free(a);
                checked++;
            }
    ck_assert_int_eq(checked, 4 * 23 * 2);
    /* The code's table is the documented one, rule for rule. */
    static const char letter[] = {
        [AUTH_DENY] = '-',       [AUTH_ANY] = 'a',     [AUTH_OWN_WINDOW] = 'w',
        [AUTH_OWN_TICKET] = 't', [AUTH_AS_HALL] = 'h', [AUTH_OWN_CLERK] = 'c'};
    for (size_t i = 0; i < sizeof documented / sizeof documented[0]; i++)
        for (int role = AUTH_KIOSK; role < AUTH_ROLES; role++)
            ck_assert_msg(
                letter[auth_rule_of(role, documented[i].body)] == documented[i].rules[role - 1],
                "%s for a %s: auth.c says %s", proto_body_name(documented[i].body),
                auth_role_name(role), auth_rule_name(auth_rule_of(role, documented[i].body)));

    /* A window request naming no window is a bad request, for every role
     * that may send it; a reply type sent as a request is unknown. */
    struct request req;
    expect_error(fix_call(m.tool, build(&req, HALL__ENVELOPE__BODY_CALL_NEXT, 0, 0)),
                 HALL__ERROR_CODE__ERR_BAD_REQUEST);
    expect_error(fix_call(m.win[0], build(&req, HALL__ENVELOPE__BODY_PAUSE, 0, 0)),
                 HALL__ERROR_CODE__ERR_BAD_REQUEST);
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__TicketReply tr = HALL__TICKET_REPLY__INIT;
    env.body_case = HALL__ENVELOPE__BODY_TICKET_REPLY;
    env.ticket_reply = &tr;
    for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++) {
        env.request_id = 0;
        expect_error(fix_call(link_of(&m, roles[r]), &env), HALL__ERROR_CODE__ERR_UNKNOWN_MESSAGE);
    }
    for (int i = 0; i < 2; i++) {
        devlink_close(m.kiosk[i]);
        devlink_close(m.win[i]);
    }
    devlink_close(m.board);
    devlink_close(m.tool);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&m.f)), 0);
    fix_free(&m.f);
}
END_TEST

/* ---- halld_request_id_reuse ------------------------------------------------------ */

START_TEST(request_ids_are_held_to_their_request)
{
    hallfix f;
    struct request r;
    uint8_t first[512], again[512];
    size_t n1, n2;

    fix_init(&f, 1, NULL);
    fix_start(&f);
    devlink *k = fix_device(&f, "kiosk-01", K, 0);
    devlink *w = fix_device(&f, "win-1", W, 1);

    /* Same id, same request: the first answer. Same id, another request:
     * refused, and nothing done. */
    Hall__Envelope *req = build(&r, HALL__ENVELOPE__BODY_ISSUE, 0, 0);
    Hall__Envelope *a = fix_call(k, req);
    ck_assert_int_eq(a->body_case, HALL__ENVELOPE__BODY_ISSUE_REPLY);
    uint64_t id = req->request_id;
    n1 = packed(a, first, sizeof first);
    proto_free(a);
    a = fix_call(k, req);
    n2 = packed(a, again, sizeof again);
    ck_assert(n1 == n2 && memcmp(first, again, n1) == 0);
    proto_free(a);
    snprintf(r.area, sizeof r.area, "tax");
    a = fix_call(k, req);
    ck_assert_uint_eq(a->request_id, id);
    expect_error(a, HALL__ERROR_CODE__ERR_REQUEST_ID_REUSED);
    req = build(&r, HALL__ENVELOPE__BODY_PRINTED, 0, 99);
    req->request_id = id;
    expect_error(fix_call(k, req), HALL__ERROR_CODE__ERR_REQUEST_ID_REUSED);
    ck_assert(ts_file_contains(f.log, "used for a different request", FIX_WAIT_MS));

    /* A message of a newer release is answered under its own id; the link
     * stays. Envelope: request_id 4242, field 999 (varint). */
    static const uint8_t newer[] = {0, 0, 0, 6, 0x08, 0x92, 0x21, 0xb8, 0x3e, 0x01};
    ck_assert_int_eq(devlink_send_raw(k, newer, sizeof newer), 0);
    char err[DEVLINK_ERR_LEN];
    a = devlink_wait(k, 4242, FIX_WAIT_MS, err);
    ck_assert_msg(a != NULL, "no answer to an unknown message: %s", err);
    expect_error(a, HALL__ERROR_CODE__ERR_UNKNOWN_MESSAGE);
    proto_free(fix_call(k, build(&r, HALL__ENVELOPE__BODY_HEARTBEAT, 0, 0)));

    /* A refusal is kept like any answer, durably: after kill -9 the retry
     * gets the same refusal, though a ticket now waits. */
    proto_free(fix_sign_in(w, 1, "c-1"));
    req = build(&r, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0);
    a = fix_call(w, req);
    ck_assert_msg(a->body_case == HALL__ENVELOPE__BODY_ERROR &&
                      a->error->code == HALL__ERROR_CODE__ERR_QUEUE_EMPTY,
                  "CALL_NEXT: %s", error_text(a));
    uint64_t refused_id = req->request_id;
    n1 = packed(a, first, sizeof first);
    proto_free(a);
    devlink_close(k);
    devlink_close(w);
    fix_kill(&f);
    fix_start(&f);
    k = fix_device(&f, "kiosk-01", K, 0);
    w = fix_device(&f, "win-1", W, 1);
    devlink_set_next_id(k, id + 100);
    issue_printed(k, "intake");
    req = build(&r, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0);
    req->request_id = refused_id;
    a = fix_call(w, req);
    n2 = packed(a, again, sizeof again);
    ck_assert_msg(n1 == n2 && memcmp(first, again, n1) == 0, "after kill -9: %s", error_text(a));
    proto_free(a);
    /* ...and a new id calls the ticket (a new link starts its ids past
     * the old ones, as devices keep their counters). */
    devlink_set_next_id(w, refused_id + 100);
    req = build(&r, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0);
    a = fix_call(w, req);
    ck_assert_msg(a->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY && a->window_reply->ticket,
                  "%s", error_text(a));
    proto_free(a);
    devlink_close(k);
    devlink_close(w);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    fix_free(&f);
}
END_TEST

/* ---- halld_kept_answers_bounded ---------------------------------------------------- */

/* Send n requests made by make(i) on l without waiting, in windows of
 * at most 1000, and hand each answer to check(i, answer). */
static void pipeline(devlink *l, int n, Hall__Envelope *(*make)(struct request *r, int i),
                     void (*check)(int i, const Hall__Envelope *a))
{
    enum { WINDOW = 1000 };
    static uint64_t ids[WINDOW];
    char err[DEVLINK_ERR_LEN];

    for (int base = 0; base < n; base += WINDOW) {
        int count = n - base < WINDOW ? n - base : WINDOW;
        for (int i = 0; i < count; i++) {
            struct request r;
            Hall__Envelope *req = make(&r, base + i);
            ck_assert_msg(devlink_send(l, req, err) == 0, "%s", err);
            ids[i] = req->request_id;
        }
        for (int i = 0; i < count; i++) {
            Hall__Envelope *a = devlink_wait(l, ids[i], 60000, err);
            ck_assert_msg(a != NULL, "request %d: %s", base + i, err);
            if (check != NULL)
                check(base + i, a);
            proto_free(a);
        }
    }
}

static Hall__ComponentStatus comp;
static Hall__ComponentStatus *comps[9];
static char comp_name[] = "printer", comp_ok[] = "ok", comp_low[] = "near_end", comp_detail[] = "";

static Hall__Envelope *status_report(struct request *r, int i)
{
    Hall__Envelope *e = build(r, HALL__ENVELOPE__BODY_DEVICE_STATUS, 0, 0);

    hall__component_status__init(&comp);
    comp.name = comp_name;
    /* The good ones flap between two states: every one a health change. */
    comp.state = i % 2 ? comp_ok : comp_low;
    comp.detail = comp_detail;
    for (int k = 0; k < 9; k++)
        comps[k] = &comp;
    /* Every fourth one malformed (nine components): refused, logged. */
    r->m.status.n_components = i % 4 == 0 ? 9 : 1;
    r->m.status.components = comps;
    return e;
}

static void status_answered(int i, const Hall__Envelope *a)
{
    if (i % 4 == 0)
        ck_assert_int_eq(a->body_case, HALL__ENVELOPE__BODY_ERROR);
    else
        ck_assert_int_eq(a->body_case, HALL__ENVELOPE__BODY_DEVICE_STATUS_REPLY);
}

static Hall__Envelope *an_issue(struct request *r, int i)
{
    (void)i;
    return build(r, HALL__ENVELOPE__BODY_ISSUE, 0, 0);
}

static void issue_answered(int i, const Hall__Envelope *a)
{
    ck_assert_msg(a->body_case == HALL__ENVELOPE__BODY_ISSUE_REPLY, "issue %d: %s", i,
                  error_text(a));
}

/* The numbers of halld's last status line (SIGUSR1). */
static void kept_counts(hallfix *f, size_t *entries, size_t *answers, size_t *bytes)
{
    char *text, *at, *line;
    int lines = 0;

    text = ts_slurp(f->log);
    for (at = text; (at = strstr(at, "status: ")) != NULL; at++)
        lines++;
    free(text);
    kill(f->pid, SIGUSR1);
    for (int tries = 0; tries < 300; tries++) {
        int now = 0;
        text = ts_slurp(f->log);
        for (at = text, line = NULL; (at = strstr(at, "status: ")) != NULL; at++, now++)
            line = at;
        if (now > lines) {
            ck_assert_msg(sscanf(strstr(line, "retries: "),
                                 "retries: %zu requests remembered, %zu answers kept (%zu bytes)",
                                 entries, answers, bytes) == 3,
                          "status line: %.200s", line);
            free(text);
            return;
        }
        free(text);
        usleep(20000);
    }
    ck_abort_msg("halld wrote no status line");
}

static long long sql_number(const char *db, const char *sql)
{
    sqlite3 *s;
    sqlite3_stmt *st;
    long long v;

    ck_assert_int_eq(sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(s, 5000);
    ck_assert_msg(sqlite3_prepare_v2(s, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(s));
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(s);
    return v;
}

#define DEVICE_ANSWERS 10000 /* the floor of [retries] device_answers */
#define FLOOD_ISSUES   (DEVICE_ANSWERS + 1500)

START_TEST(floods_stay_under_their_caps)
{
    hallfix f;
    char db[1100];
    size_t entries, answers, bytes, e0, a0, b0;
    struct request r;

    fix_init(&f, 1,
             "[retries]\ndevice_answers = 10000\ndevice_requests = 12000\n"
             "[numbering]\ndigits = 6\nlease_first = 900000\n");
    snprintf(db, sizeof db, "%s/hall.db", f.dir);
    fix_start(&f);
    devlink *k = fix_device(&f, "kiosk-01", K, 0);
    devlink *board = fix_device(&f, "board-01", D, 0);

    /* 40,000 status reports, a quarter malformed: nothing kept, nothing
     * written, the refusals' log lines within the device's budget. */
    kept_counts(&f, &e0, &a0, &b0);
    long long pages = sql_number(db, "PRAGMA page_count");
    int64_t started = clk_mono_ms();
    pipeline(board, 40000, status_report, status_answered);
    int64_t minutes = (clk_mono_ms() - started) / 60000 + 1;
    kept_counts(&f, &entries, &answers, &bytes);
    ck_assert_uint_eq(entries, e0);
    ck_assert_uint_eq(bytes, b0);
    ck_assert_int_eq(sql_number(db, "PRAGMA page_count"), pages);
    ck_assert_int_eq(sql_number(db, "SELECT count(*) FROM requests WHERE device = 'board-01'"), 0);
    char *log = ts_slurp(f.log);
    int lines = 0;
    for (char *at = log; (at = strstr(at, "board-01: ")) != NULL; at++)
        lines++;
    free(log);
    /* 20 lines a minute, and a count of those left out per minute. */
    ck_assert_msg(lines <= (minutes + 1) * 21,
                  "%d log lines in %lld minute(s) for one device's refusals and health", lines,
                  (long long)minutes);

    /* Past device_answers issues: the oldest answers are dropped, in memory
     * and in the store, their ids kept. */
    uint64_t first_id = devlink_next_id(k);
    pipeline(k, FLOOD_ISSUES, an_issue, issue_answered);
    kept_counts(&f, &entries, &answers, &bytes);
    ck_assert_uint_eq(entries, e0 + FLOOD_ISSUES);
    ck_assert_uint_eq(answers, DEVICE_ANSWERS);
    ck_assert_uint_le(bytes, (size_t)16 << 20);
    ck_assert_int_eq(sql_number(db, "SELECT count(*) FROM requests WHERE device = 'kiosk-01' AND "
                                    "reply IS NOT NULL"),
                     DEVICE_ANSWERS);
    ck_assert_int_eq(sql_number(db, "SELECT count(*) FROM requests WHERE device = 'kiosk-01'"),
                     FLOOD_ISSUES);
    ck_assert_int_le(sql_number(db, "SELECT sum(length(reply)) FROM requests WHERE device = "
                                    "'kiosk-01'"),
                     16 << 20);

    /* A retry of a dropped answer is told so, not run again; of a kept
     * one, answered. */
    Hall__Envelope *req = build(&r, HALL__ENVELOPE__BODY_ISSUE, 0, 0);
    req->request_id = first_id;
    expect_error(fix_call(k, req), HALL__ERROR_CODE__ERR_ANSWER_DROPPED);
    req = build(&r, HALL__ENVELOPE__BODY_ISSUE, 0, 0);
    req->request_id = first_id + FLOOD_ISSUES - 1;
    Hall__Envelope *a = fix_call(k, req);
    ck_assert_int_eq(a->body_case, HALL__ENVELOPE__BODY_ISSUE_REPLY);
    proto_free(a);
    long long tickets = sql_number(db, "SELECT count(*) FROM tickets");
    ck_assert_int_eq(tickets, FLOOD_ISSUES);

    /* Past device_requests remembered, the device's next change is
     * refused (never run unrecorded) while another device goes on. */
    devlink_set_next_id(k, first_id + FLOOD_ISSUES);
    pipeline(k, 12000 - FLOOD_ISSUES, an_issue, issue_answered);
    expect_error(fix_issue(k, "intake", HALL__PRIORITY__PRIORITY_NORMAL),
                 HALL__ERROR_CODE__ERR_UNAVAILABLE);
    ck_assert_int_eq(sql_number(db, "SELECT count(*) FROM tickets"), 12000);
    devlink *w = fix_device(&f, "win-1", W, 1);
    a = fix_sign_in(w, 1, "c-1");
    ck_assert_int_eq(a->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
    proto_free(a);

    /* After a restart the same holds, from the store. */
    devlink_close(k);
    devlink_close(w);
    devlink_close(board);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    fix_start(&f);
    k = fix_device(&f, "kiosk-01", K, 0);
    req = build(&r, HALL__ENVELOPE__BODY_ISSUE, 0, 0);
    req->request_id = first_id;
    expect_error(fix_call(k, req), HALL__ERROR_CODE__ERR_ANSWER_DROPPED);
    kept_counts(&f, &entries, &answers, &bytes);
    ck_assert_uint_eq(answers, DEVICE_ANSWERS + 1); /* the sign-in's */
    devlink_close(k);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    fix_free(&f);
}
END_TEST

/* ---- halld_catalog_retire ------------------------------------------------------------ */

/* The areas of a snapshot (SUBSCRIBE): is area shown, and retired? */
static bool snapshot_area(devlink *l, const char *area, bool *retired)
{
    struct request r;
    Hall__Envelope *a = fix_call(l, build(&r, HALL__ENVELOPE__BODY_SUBSCRIBE, 0, 0));
    bool found = false;

    ck_assert_int_eq(a->body_case, HALL__ENVELOPE__BODY_DISPLAY_PUSH);
    for (size_t i = 0; i < a->display_push->n_areas; i++)
        if (strcmp(a->display_push->areas[i]->area, area) == 0) {
            found = true;
            *retired = a->display_push->areas[i]->retired;
        }
    proto_free(a);
    return found;
}

/* Call the next ticket at window 1 and finish it; its number. */
static void call_and_finish(devlink *w, char *number, size_t len)
{
    struct request r;
    Hall__Envelope *a = fix_call(w, build(&r, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0));

    ck_assert_msg(a->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY && a->window_reply->ticket,
                  "CALL_NEXT: %s", error_text(a));
    snprintf(number, len, "%s", a->window_reply->ticket->number);
    proto_free(a);
    proto_free(fix_window_op(w, HALL__ENVELOPE__BODY_START, 1, 0));
    proto_free(fix_window_op(w, HALL__ENVELOPE__BODY_FINISH, 1, 0));
}

START_TEST(retired_area_still_called)
{
    hallfix f;
    char path[1200], number[16], *out;
    bool retired;

    fix_init(&f, 1, NULL);
    fix_start(&f);
    devlink *k = fix_device(&f, "kiosk-01", K, 0);
    issue_printed(k, "tax");
    issue_printed(k, "tax");

    /* The sample catalog without tax (tests/data). */
    snprintf(path, sizeof path, "%s/catalog-without-tax.json", TEST_DATA_DIR);
    ck_assert_int_eq(fix_hallctl(&f, "catalog import %s", path), 0);
    snprintf(path, sizeof path, "%s/hallctl.log", f.dir);
    out = ts_slurp(path);
    ck_assert_msg(strstr(out, "area tax (税务服务) is not in the new catalog: retired"), "%s", out);
    ck_assert_msg(strstr(out, "T001 WAITING"), "%s", out);
    ck_assert_msg(strstr(out, "still called by window(s) 1"), "%s", out);
    free(out);

    /* halld was told to reload: tax is no longer offered, but shown while
     * its tickets wait. */
    ck_assert(ts_file_contains(f.log, "reloaded", FIX_WAIT_MS));
    expect_error(fix_issue(k, "tax", HALL__PRIORITY__PRIORITY_NORMAL),
                 HALL__ERROR_CODE__ERR_NOT_FOUND);
    ck_assert(snapshot_area(k, "tax", &retired) && retired);
    ck_assert(snapshot_area(k, "intake", &retired) && !retired);

    /* halld restarts whatever the catalog says, and calls them. */
    devlink_close(k);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    fix_start(&f);
    k = fix_device(&f, "kiosk-01", K, 0);
    devlink *w = fix_device(&f, "win-1", W, 1);
    proto_free(fix_sign_in(w, 1, "c-1"));
    call_and_finish(w, number, sizeof number);
    ck_assert_str_eq(number, "T001");

    /* A new area may not take tax's prefix while its tickets are of today. */
    snprintf(path, sizeof path, "%s/catalog-fin-takes-T.json", TEST_DATA_DIR);
    ck_assert_int_eq(fix_hallctl(&f, "catalog import %s", path), 1);
    ck_assert(
        ts_file_contains(ts_path(f.dir, "hallctl.log"), "prefix T still numbers", FIX_WAIT_MS));

    /* An area gone from the store altogether (a hand-edited file): its
     * tickets still come back, and are called. */
    char db[1100];
    snprintf(db, sizeof db, "%s/hall.db", f.dir);
    devlink_close(k);
    devlink_close(w);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    ck_assert_int_eq(ts_system("sqlite3 %s 'PRAGMA foreign_keys=OFF; DELETE FROM window_areas "
                               "WHERE area = \"tax\"; DELETE FROM areas WHERE code = \"tax\";'",
                               db),
                     0);
    ck_assert_int_eq(fix_hallctl(&f,
                                 "window add --no 1 --name 综合窗口1 --type intake --areas "
                                 "intake,realestate,fund,social,approval%s",
                                 ""),
                     0);
    fix_start(&f);
    ck_assert(
        ts_file_contains(f.log, "names area tax, which the catalog does not have", FIX_WAIT_MS));
    k = fix_device(&f, "kiosk-01", K, 0);
    ck_assert(snapshot_area(k, "tax", &retired) && retired);
    devlink_close(k);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    fix_free(&f);
}
END_TEST

/* ---- halld_reservation_revive ------------------------------------------------------ */

#define RESERVE_S 10 /* [queue] reserve_timeout, its lowest */

static uint64_t appointment_issue(devlink *k, const char *code, Hall__ErrorCode *refused)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__IssueRequest m = HALL__ISSUE_REQUEST__INIT;
    char c[32], empty[1] = "";

    snprintf(c, sizeof c, "%s", code);
    m.appointment_code = c;
    m.area = empty;
    m.priority = HALL__PRIORITY__PRIORITY_APPOINTMENT;
    env.body_case = HALL__ENVELOPE__BODY_ISSUE;
    env.issue = &m;
    Hall__Envelope *a = fix_call(k, &env);
    *refused = a->body_case == HALL__ENVELOPE__BODY_ERROR ? a->error->code : 0;
    uint64_t id = a->body_case == HALL__ENVELOPE__BODY_ISSUE_REPLY ? a->issue_reply->ticket->id : 0;
    proto_free(a);
    return id;
}

static Hall__Envelope *void_ticket(devlink *k, uint64_t id)
{
    struct request r;
    return fix_call(k, build(&r, HALL__ENVELOPE__BODY_VOID_TICKET, 0, id));
}

START_TEST(late_printed_revives)
{
    hallfix f;
    Hall__ErrorCode refused;
    struct request r;

    fix_init(&f, 1, "[queue]\nreserve_timeout = 10s\n");
    for (int i = 1; i <= 2; i++)
        ck_assert_int_eq(fix_hallctl(&f, "appointment add --code YY0%d --area intake --at \"%s\"",
                                     i, "2031-01-01 09:00"),
                         0);
    fix_start(&f);
    devlink *k = fix_device(&f, "kiosk-01", K, 0);
    devlink *w = fix_device(&f, "win-1", W, 1);
    proto_free(fix_sign_in(w, 1, "c-1"));

    /* An appointment's ticket voided: the appointment is free again. */
    uint64_t a1 = appointment_issue(k, "YY01", &refused);
    ck_assert_uint_ne(a1, 0);
    appointment_issue(k, "YY01", &refused);
    ck_assert_int_eq(refused, HALL__ERROR_CODE__ERR_ILLEGAL_STATE);
    proto_free(void_ticket(k, a1));
    uint64_t a2 = appointment_issue(k, "YY01", &refused);
    ck_assert_msg(a2 != 0, "appointment not released by VOID: %d", refused);
    /* PRINTED after VOID is refused. */
    expect_error(fix_printed(k, a1), HALL__ERROR_CODE__ERR_ILLEGAL_STATE);

    /* Tickets left RESERVED past reserve_timeout expire, and release their
     * appointments; a late PRINTED revives a ticket with its issue time, and
     * takes its appointment back unless it was checked in anew. */
    uint64_t b1 = appointment_issue(k, "YY02", &refused);
    ck_assert_uint_ne(b1, 0);
    uint64_t early = issued(fix_issue(k, "intake", HALL__PRIORITY__PRIORITY_NORMAL));
    sleep(RESERVE_S + 2);
    uint64_t later = issue_printed(k, "intake");
    uint64_t b2 = appointment_issue(k, "YY02", &refused);
    ck_assert_msg(b2 != 0, "appointment not released by expiry: %d", refused);
    Hall__Envelope *a = fix_printed(k, early);
    ck_assert_msg(a->body_case == HALL__ENVELOPE__BODY_TICKET_REPLY, "%s", error_text(a));
    ck_assert_int_eq(a->ticket_reply->ticket->state, HALL__TICKET_STATE__TICKET_WAITING);
    proto_free(a);
    a = fix_printed(k, a2); /* the appointment comes back with it */
    ck_assert_int_eq(a->body_case, HALL__ENVELOPE__BODY_TICKET_REPLY);
    proto_free(a);
    appointment_issue(k, "YY01", &refused);
    ck_assert_int_eq(refused, HALL__ERROR_CODE__ERR_ILLEGAL_STATE);
    /* The walk-ins by issue time (the appointments of 2031 are not due):
     * early, revived, before later. */
    Hall__Envelope *c = fix_call(w, build(&r, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0));
    ck_assert_uint_eq(c->window_reply->ticket->id, early);
    proto_free(c);
    proto_free(fix_window_op(w, HALL__ENVELOPE__BODY_START, 1, 0));
    proto_free(fix_window_op(w, HALL__ENVELOPE__BODY_FINISH, 1, 0));
    c = fix_call(w, build(&r, HALL__ENVELOPE__BODY_CALL_NEXT, 1, 0));
    ck_assert_uint_eq(c->window_reply->ticket->id, later);
    proto_free(c);

    /* Expired while halld was down: expired at the start, revived by the
     * PRINTED that comes after. */
    uint64_t down = issued(fix_issue(k, "intake", HALL__PRIORITY__PRIORITY_NORMAL));
    devlink_close(k);
    devlink_close(w);
    fix_kill(&f);
    sleep(RESERVE_S + 1);
    fix_start(&f);
    k = fix_device(&f, "kiosk-01", K, 0);
    devlink_set_next_id(k, 100000);
    a = fix_printed(k, down);
    ck_assert_msg(a->body_case == HALL__ENVELOPE__BODY_TICKET_REPLY &&
                      a->ticket_reply->ticket->state == HALL__TICKET_STATE__TICKET_WAITING,
                  "%s", error_text(a));
    proto_free(a);
    char db[1100];
    snprintf(db, sizeof db, "%s/hall.db", f.dir);
    ck_assert_int_eq(sql_number(db, "SELECT count(*) FROM events WHERE kind = 24"), 3);
    devlink_close(k);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    fix_free(&f);
}
END_TEST

/* ---- halld_reload_numbering --------------------------------------------------------- */

static void expect_number(devlink *k, const char *number)
{
    Hall__Envelope *a = fix_issue(k, "intake", HALL__PRIORITY__PRIORITY_NORMAL);

    ck_assert_msg(a->body_case == HALL__ENVELOPE__BODY_ISSUE_REPLY, "%s", error_text(a));
    ck_assert_str_eq(a->issue_reply->ticket->number, number);
    proto_free(a);
}

START_TEST(numbering_waits_for_the_next_day)
{
    hallfix f;

    fix_init(&f, 1, "[numbering]\ndigits = 3\n");
    fix_start(&f);
    devlink *k = fix_device(&f, "kiosk-01", K, 0);
    expect_number(k, "A001");

    /* Four digits from now on: by SIGHUP, then by a restart, the same
     * business day goes on with three. */
    ck_assert_int_eq(ts_system("sed -i 's/^digits = 3/digits = 4/' %s", f.config), 0);
    kill(f.pid, SIGHUP);
    ck_assert(ts_file_contains(f.log, "takes effect at the next business day", FIX_WAIT_MS));
    ck_assert(ts_file_contains(f.log, "reloaded", FIX_WAIT_MS));
    expect_number(k, "A002");
    devlink_close(k);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    fix_start(&f);
    ck_assert(ts_file_contains(f.log, "today's numbers go on as they started", FIX_WAIT_MS));
    k = fix_device(&f, "kiosk-01", K, 0);
    devlink_set_next_id(k, 1000);
    expect_number(k, "A003");

    /* A reload with a bad file changes nothing, and halld goes on. */
    ck_assert_int_eq(ts_system("echo 'green_boost = fast' >> %s", f.config), 0);
    kill(f.pid, SIGHUP);
    ck_assert(
        ts_file_contains(f.log, "reload failed, keeping the running configuration", FIX_WAIT_MS));
    expect_number(k, "A004");
    devlink_close(k);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    fix_free(&f);
}
END_TEST

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "";
    Suite *s = suite_create("halld requests");
    TCase *tc = tcase_create("requests over sockets");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 500);
    if (strcmp(which, "roles") == 0)
        tcase_add_test(tc, every_message_from_every_role);
    else if (strcmp(which, "ids") == 0)
        tcase_add_test(tc, request_ids_are_held_to_their_request);
    else if (strcmp(which, "kept") == 0)
        tcase_add_test(tc, floods_stay_under_their_caps);
    else if (strcmp(which, "retire") == 0)
        tcase_add_test(tc, retired_area_still_called);
    else if (strcmp(which, "revive") == 0)
        tcase_add_test(tc, late_printed_revives);
    else if (strcmp(which, "numbering") == 0)
        tcase_add_test(tc, numbering_waits_for_the_next_day);
    else {
        fprintf(stderr, "usage: %s roles|ids|kept|retire|revive|numbering\n", argv[0]);
        return 2;
    }
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
