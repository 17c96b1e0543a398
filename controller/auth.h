/*
 * auth — who may send what to halld, and about what: one table of
 * (role × message × target) rules, checked in one place, before a request
 * runs. The roles are devices' (kiosk, window terminal, display, tool, web
 * gateway) and people's (the users of the web layer, whose requests a web
 * gateway makes on their behalf): a clerk's CALL_NEXT from a web page and
 * a call-pad's go through the same row. docs/protocol.md prints the table.
 *
 * A rule for one role and one message is one of:
 *
 *   AUTH_DENY          never;
 *   AUTH_ANY           always (what the request names is checked by the
 *                      engine: a lease the kiosk holds, a ticket's state);
 *   AUTH_OWN_WINDOW    a window the request names (never window 0) that is
 *                      the device's own (window terminals), or any window
 *                      (tools);
 *   AUTH_OWN_TICKET    a ticket the device itself issued (kiosks: PRINTED
 *                      and VOID of their own reservations);
 *   AUTH_AS_HALL       a waiting ticket, acted on as the hall (window_no 0):
 *                      a kiosk cancelling a citizen's ticket, never one
 *                      being called or served at a window;
 *   AUTH_OWN_CLERK     people with a clerk identity: a window where that
 *                      clerk is signed in, and SIGN_IN only as that clerk.
 *
 * Reading the engine (the ticket a request names) is the caller's, through
 * the queue handle passed in; auth changes nothing.
 */
#ifndef ONEWINDOW_AUTH_H
#define ONEWINDOW_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "queue.h"

typedef enum auth_rule {
    AUTH_DENY = 0,
    AUTH_ANY,
    AUTH_OWN_WINDOW,
    AUTH_OWN_TICKET,
    AUTH_AS_HALL,
    AUTH_OWN_CLERK,
} auth_rule;

/* Roles: devices as hall.proto's DeviceType numbers them, then people. */
enum auth_role {
    AUTH_KIOSK = 1,
    AUTH_TERMINAL,
    AUTH_DISPLAY,
    AUTH_TOOL,
    AUTH_WEB, /* a web gateway itself, not on anyone's behalf */
    AUTH_ADMIN,
    AUTH_MANAGER,
    AUTH_CLERK,
    AUTH_REVIEWER,
    AUTH_CONSULT,
    AUTH_AUDITOR,
    AUTH_ROLES
};
#define AUTH_FIRST_PERSON AUTH_ADMIN

/* The rule for a role and a message; AUTH_DENY for anything unknown. */
auth_rule auth_rule_of(int role, Hall__Envelope__BodyCase body);
const char *auth_rule_name(auth_rule rule);
/* "kiosk", "window terminal", "display", "tool", "web gateway", then the
 * people's role names as stored ("admin", "manager", "clerk", "reviewer",
 * "consult", "auditor"); NULL for another value. */
const char *auth_role_name(int role);
/* A person's role from its stored name; 0 for none. */
int auth_person_role(const char *name);

/* Who sends a request. */
typedef struct auth_subject {
    int role;
    uint32_t window_no;    /* window terminals: their window */
    const char *device_id; /* kiosks: the issuer of their own tickets */
    const char *clerk_id;  /* people with a clerk identity, else "" */
} auth_subject;

/* May who send req? ERR_NONE if so; otherwise the error code (FORBIDDEN,
 * or BAD_REQUEST for a window request naming no window) and one readable
 * sentence in why. */
Hall__ErrorCode auth_check(const queue *q, const auth_subject *who, const Hall__Envelope *req,
                           char *why, size_t whylen);

/* The window a request names, 0 if none. */
uint32_t auth_request_window(const Hall__Envelope *req);

#endif
