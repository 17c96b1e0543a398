/*
 * auth — the authorization table. See auth.h.
 */
#include "auth.h"

#include <stdio.h>
#include <string.h>

/* One row per message that may be sent after HELLO; one rule per role, in
 * enum auth_role order (index 0 unused). A message not listed is refused
 * to everyone. People never issue or print tickets (kiosks do), never
 * rate (citizens do) and never subscribe (their gateway does, for them).
 * The administrator keeps the hall's configuration, the manager runs the
 * floor: only the manager (like a tool) acts on any window. */
/* One row per line, a column per role: clang-format would break the grid. */
/* clang-format off */
#define D AUTH_DENY
#define A AUTH_ANY
#define W AUTH_OWN_WINDOW
#define T AUTH_OWN_TICKET
#define H AUTH_AS_HALL
#define C AUTH_OWN_CLERK
static const struct {
    Hall__Envelope__BodyCase body;
    auth_rule rule[AUTH_ROLES];
} table[] = {
#define R(body, ...) {HALL__ENVELOPE__BODY_##body, {D, __VA_ARGS__}}
    /*             kiosk terminal display tool web admin manager clerk reviewer consult auditor */
    R(HEARTBEAT,      A, A, A, A, A, D, D, D, D, D, D),
    R(SUBSCRIBE,      A, A, A, A, A, D, D, D, D, D, D),
    R(DEVICE_STATUS,  A, A, A, A, A, D, D, D, D, D, D),
    R(WEB_EVENT,      D, D, D, D, A, D, D, D, D, D, D),
    R(ISSUE,          A, D, D, A, D, D, D, D, D, D, D),
    R(PRINTED,        T, D, D, A, D, D, D, D, D, D, D),
    R(VOID_TICKET,    T, D, D, A, D, D, D, D, D, D, D),
    R(LEASE_REQUEST,  A, D, D, A, D, D, D, D, D, D, D),
    R(OFFLINE_UPLOAD, A, D, D, A, D, D, D, D, D, D, D),
    R(REJOIN,         A, A, D, A, D, D, A, A, D, D, D),
    R(TICKET_QUERY,   A, D, D, A, D, D, D, D, D, D, D),
    R(CANCEL,         H, W, D, A, D, D, W, C, D, D, D),
    R(CALL_NEXT,      D, W, D, W, D, D, W, C, D, D, D),
    R(RECALL,         D, W, D, W, D, D, W, C, D, D, D),
    R(NO_SHOW,        D, W, D, W, D, D, W, C, D, D, D),
    R(START,          D, W, D, W, D, D, W, C, D, D, D),
    R(FINISH,         D, W, D, W, D, D, W, C, D, D, D),
    R(TRANSFER,       D, W, D, W, D, D, W, C, D, D, D),
    R(HOLD,           D, W, D, W, D, D, W, C, D, D, D),
    R(PAUSE,          D, W, D, W, D, D, W, C, D, D, D),
    R(RESUME,         D, W, D, W, D, D, W, C, D, D, D),
    R(SIGN_IN,        D, W, D, W, D, D, W, C, D, D, D),
    R(SIGN_OUT,       D, W, D, W, D, D, W, C, D, D, D),
    R(RATING,         D, W, D, W, D, D, D, D, D, D, D),
    R(ALERT_ACTION,   D, D, D, A, D, A, A, D, D, D, D),
#undef R
};
#undef D
#undef A
#undef W
#undef T
#undef H
#undef C
/* clang-format on */

static const char *const role_names[AUTH_ROLES] = {
    [AUTH_KIOSK] = "kiosk",       [AUTH_TERMINAL] = "window terminal",
    [AUTH_DISPLAY] = "display",   [AUTH_TOOL] = "tool",
    [AUTH_WEB] = "web gateway",   [AUTH_ADMIN] = "admin",
    [AUTH_MANAGER] = "manager",   [AUTH_CLERK] = "clerk",
    [AUTH_REVIEWER] = "reviewer", [AUTH_CONSULT] = "consult",
    [AUTH_AUDITOR] = "auditor",
};

auth_rule auth_rule_of(int role, Hall__Envelope__BodyCase body)
{
    if (role <= 0 || role >= AUTH_ROLES)
        return AUTH_DENY;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].body == body)
            return table[i].rule[role];
    return AUTH_DENY;
}

const char *auth_rule_name(auth_rule rule)
{
    static const char *const names[] = {"deny",       "any",         "own window",
                                        "own ticket", "as the hall", "own clerk"};

    return (unsigned)rule < sizeof names / sizeof names[0] ? names[rule] : "?";
}

const char *auth_role_name(int role)
{
    return role > 0 && role < AUTH_ROLES ? role_names[role] : NULL;
}

int auth_person_role(const char *name)
{
    for (int role = AUTH_FIRST_PERSON; role < AUTH_ROLES; role++)
        if (strcmp(role_names[role], name) == 0)
            return role;
    return 0;
}

uint32_t auth_request_window(const Hall__Envelope *req)
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

/* The ticket a request names, 0 if none. */
static uint64_t request_ticket(const Hall__Envelope *req)
{
    switch (req->body_case) {
    case HALL__ENVELOPE__BODY_PRINTED:
        return req->printed->ticket_id;
    case HALL__ENVELOPE__BODY_VOID_TICKET:
        return req->void_ticket->ticket_id;
    case HALL__ENVELOPE__BODY_CANCEL:
        return req->cancel->ticket_id;
    default:
        return 0;
    }
}

/* A person with a clerk identity acts at a window where that clerk is
 * signed in, and signs in only as that clerk. */
static Hall__ErrorCode check_own_clerk(const queue *q, const auth_subject *who,
                                       const Hall__Envelope *req, uint32_t no, char *why,
                                       size_t whylen)
{
    const char *msg = proto_body_name(req->body_case);
    const q_window *w;

    if (who->clerk_id == NULL || who->clerk_id[0] == '\0') {
        snprintf(why, whylen, "this %s has no clerk identity to send %s with",
                 auth_role_name(who->role), msg);
        return HALL__ERROR_CODE__ERR_FORBIDDEN;
    }
    if (req->body_case == HALL__ENVELOPE__BODY_SIGN_IN) {
        if (strcmp(req->sign_in->clerk_id, who->clerk_id) == 0)
            return HALL__ERROR_CODE__ERR_NONE;
        snprintf(why, whylen, "clerk %s may sign in only as themselves, not as %s", who->clerk_id,
                 req->sign_in->clerk_id);
        return HALL__ERROR_CODE__ERR_FORBIDDEN;
    }
    /* An unknown window is the engine's to refuse (NOT_FOUND). */
    if ((w = queue_window(q, no)) == NULL || strcmp(w->clerk, who->clerk_id) == 0)
        return HALL__ERROR_CODE__ERR_NONE;
    snprintf(why, whylen, "clerk %s is not signed in at window %u, and may not send %s for it",
             who->clerk_id, no, msg);
    return HALL__ERROR_CODE__ERR_FORBIDDEN;
}

Hall__ErrorCode auth_check(const queue *q, const auth_subject *who, const Hall__Envelope *req,
                           char *why, size_t whylen)
{
    const char *role = auth_role_name(who->role) ? auth_role_name(who->role) : "unknown device";
    const char *msg = proto_body_name(req->body_case);
    uint32_t no = auth_request_window(req);
    unsigned long long id = request_ticket(req);
    const q_ticket *t;

    switch (auth_rule_of(who->role, req->body_case)) {
    case AUTH_ANY:
        return HALL__ERROR_CODE__ERR_NONE;
    case AUTH_OWN_WINDOW:
        if (no == 0) {
            snprintf(why, whylen, "%s must name its window", msg);
            return HALL__ERROR_CODE__ERR_BAD_REQUEST;
        }
        if (who->role != AUTH_TERMINAL || no == who->window_no)
            return HALL__ERROR_CODE__ERR_NONE;
        snprintf(why, whylen, "the %s of window %u may not send %s for window %u", role,
                 who->window_no, msg, no);
        return HALL__ERROR_CODE__ERR_FORBIDDEN;
    case AUTH_OWN_CLERK:
        if (no == 0) {
            snprintf(why, whylen, "%s must name its window", msg);
            return HALL__ERROR_CODE__ERR_BAD_REQUEST;
        }
        return check_own_clerk(q, who, req, no, why, whylen);
    case AUTH_OWN_TICKET:
        /* An unknown ticket is the engine's to refuse (NOT_FOUND). */
        t = queue_ticket(q, id);
        if (t == NULL || strcmp(t->kiosk, who->device_id) == 0)
            return HALL__ERROR_CODE__ERR_NONE;
        snprintf(why, whylen, "a %s may send %s only for tickets it issued (%s is kiosk %s's)",
                 role, msg, t->number, t->kiosk);
        return HALL__ERROR_CODE__ERR_FORBIDDEN;
    case AUTH_AS_HALL:
        if (no != 0) {
            snprintf(why, whylen, "a %s may send %s only as the hall (window 0, not %u)", role, msg,
                     no);
            return HALL__ERROR_CODE__ERR_FORBIDDEN;
        }
        /* A citizen's own ticket, while no window is calling or serving it. */
        t = queue_ticket(q, id);
        if (t == NULL || t->state == Q_WAITING || t->state == Q_HOLD || t->state == Q_NO_SHOW)
            return HALL__ERROR_CODE__ERR_NONE;
        snprintf(why, whylen,
                 "a %s may send %s only for a waiting, held or missed ticket (%s is %s, ticket "
                 "%llu)",
                 role, msg, t->number, queue_state_name(t->state), id);
        return HALL__ERROR_CODE__ERR_FORBIDDEN;
    case AUTH_DENY:
        break;
    }
    snprintf(why, whylen, "a %s may not send %s", role, msg);
    return HALL__ERROR_CODE__ERR_FORBIDDEN;
}
