/*
 * auth — the authorization table. See auth.h.
 */
#include "auth.h"

#include <stdio.h>
#include <string.h>

enum { KIOSK = 1, TERMINAL = 2, DISPLAY = 3, TOOL = 4 };

/* One row per message a device may send after HELLO; rules by role, in
 * DeviceType order (index 0 unused). A message not listed is refused to
 * everyone. */
static const struct {
    Hall__Envelope__BodyCase body;
    auth_rule rule[AUTH_ROLES];
} table[] = {
#define R(body, kiosk, terminal, display, tool)                                                    \
    {                                                                                              \
        HALL__ENVELOPE__BODY_##body,                                                               \
        {                                                                                          \
            AUTH_DENY, kiosk, terminal, display, tool                                              \
        }                                                                                          \
    }
    /* message         kiosk, window terminal, display, tool */
    R(HEARTBEAT, AUTH_ANY, AUTH_ANY, AUTH_ANY, AUTH_ANY),
    R(SUBSCRIBE, AUTH_ANY, AUTH_ANY, AUTH_ANY, AUTH_ANY),
    R(DEVICE_STATUS, AUTH_ANY, AUTH_ANY, AUTH_ANY, AUTH_ANY),
    R(ISSUE, AUTH_ANY, AUTH_DENY, AUTH_DENY, AUTH_ANY),
    R(PRINTED, AUTH_OWN_TICKET, AUTH_DENY, AUTH_DENY, AUTH_ANY),
    R(VOID_TICKET, AUTH_OWN_TICKET, AUTH_DENY, AUTH_DENY, AUTH_ANY),
    R(LEASE_REQUEST, AUTH_ANY, AUTH_DENY, AUTH_DENY, AUTH_ANY),
    R(OFFLINE_UPLOAD, AUTH_ANY, AUTH_DENY, AUTH_DENY, AUTH_ANY),
    R(REJOIN, AUTH_ANY, AUTH_ANY, AUTH_DENY, AUTH_ANY),
    R(CANCEL, AUTH_AS_HALL, AUTH_OWN_WINDOW, AUTH_DENY, AUTH_ANY),
    R(CALL_NEXT, AUTH_DENY, AUTH_OWN_WINDOW, AUTH_DENY, AUTH_OWN_WINDOW),
    R(RECALL, AUTH_DENY, AUTH_OWN_WINDOW, AUTH_DENY, AUTH_OWN_WINDOW),
    R(NO_SHOW, AUTH_DENY, AUTH_OWN_WINDOW, AUTH_DENY, AUTH_OWN_WINDOW),
    R(START, AUTH_DENY, AUTH_OWN_WINDOW, AUTH_DENY, AUTH_OWN_WINDOW),
    R(FINISH, AUTH_DENY, AUTH_OWN_WINDOW, AUTH_DENY, AUTH_OWN_WINDOW),
    R(TRANSFER, AUTH_DENY, AUTH_OWN_WINDOW, AUTH_DENY, AUTH_OWN_WINDOW),
    R(HOLD, AUTH_DENY, AUTH_OWN_WINDOW, AUTH_DENY, AUTH_OWN_WINDOW),
    R(PAUSE, AUTH_DENY, AUTH_OWN_WINDOW, AUTH_DENY, AUTH_OWN_WINDOW),
    R(RESUME, AUTH_DENY, AUTH_OWN_WINDOW, AUTH_DENY, AUTH_OWN_WINDOW),
    R(SIGN_IN, AUTH_DENY, AUTH_OWN_WINDOW, AUTH_DENY, AUTH_OWN_WINDOW),
    R(SIGN_OUT, AUTH_DENY, AUTH_OWN_WINDOW, AUTH_DENY, AUTH_OWN_WINDOW),
    R(RATING, AUTH_DENY, AUTH_OWN_WINDOW, AUTH_DENY, AUTH_OWN_WINDOW),
#undef R
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
    static const char *const names[] = {"deny", "any", "own window", "own ticket", "as the hall"};

    return (unsigned)rule < sizeof names / sizeof names[0] ? names[rule] : "?";
}

const char *auth_role_name(int role)
{
    switch (role) {
    case KIOSK:
        return "kiosk";
    case TERMINAL:
        return "window terminal";
    case DISPLAY:
        return "display";
    case TOOL:
        return "tool";
    }
    return NULL;
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

Hall__ErrorCode auth_check(const queue *q, int role, uint32_t window_no, const char *device_id,
                           const Hall__Envelope *req, char *why, size_t whylen)
{
    const char *who = auth_role_name(role) ? auth_role_name(role) : "unknown device";
    const char *msg = proto_body_name(req->body_case);
    uint32_t no = auth_request_window(req);
    unsigned long long id = request_ticket(req);
    const q_ticket *t;

    switch (auth_rule_of(role, req->body_case)) {
    case AUTH_ANY:
        return HALL__ERROR_CODE__ERR_NONE;
    case AUTH_OWN_WINDOW:
        if (no == 0) {
            snprintf(why, whylen, "%s must name its window", msg);
            return HALL__ERROR_CODE__ERR_BAD_REQUEST;
        }
        if (role != TERMINAL || no == window_no)
            return HALL__ERROR_CODE__ERR_NONE;
        snprintf(why, whylen, "the %s of window %u may not send %s for window %u", who, window_no,
                 msg, no);
        return HALL__ERROR_CODE__ERR_FORBIDDEN;
    case AUTH_OWN_TICKET:
        /* An unknown ticket is the engine's to refuse (NOT_FOUND). */
        t = queue_ticket(q, id);
        if (t == NULL || strcmp(t->kiosk, device_id) == 0)
            return HALL__ERROR_CODE__ERR_NONE;
        snprintf(why, whylen, "a %s may send %s only for tickets it issued (%s is kiosk %s's)", who,
                 msg, t->number, t->kiosk);
        return HALL__ERROR_CODE__ERR_FORBIDDEN;
    case AUTH_AS_HALL:
        if (no != 0) {
            snprintf(why, whylen, "a %s may send %s only as the hall (window 0, not %u)", who, msg,
                     no);
            return HALL__ERROR_CODE__ERR_FORBIDDEN;
        }
        t = queue_ticket(q, id);
        if (t == NULL || t->state == Q_WAITING)
            return HALL__ERROR_CODE__ERR_NONE;
        snprintf(why, whylen, "a %s may send %s only for a waiting ticket (%s is %s, ticket %llu)",
                 who, msg, t->number, queue_state_name(t->state), id);
        return HALL__ERROR_CODE__ERR_FORBIDDEN;
    case AUTH_DENY:
        break;
    }
    snprintf(why, whylen, "a %s may not send %s", who, msg);
    return HALL__ERROR_CODE__ERR_FORBIDDEN;
}
