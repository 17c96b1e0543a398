/*
 * auth — who may send what to halld, and about what: one table of
 * (device role × message × target) rules, checked in one place, before a
 * request runs. docs/protocol.md prints the same table.
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
 *                      being called or served at a window.
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
} auth_rule;

/* Device roles as hall.proto's DeviceType numbers them (1..4). */
#define AUTH_ROLES 5

/* The rule for a role and a message; AUTH_DENY for anything unknown. */
auth_rule auth_rule_of(int role, Hall__Envelope__BodyCase body);
const char *auth_rule_name(auth_rule rule);
/* "kiosk", "window terminal", "display", "tool"; NULL for another value. */
const char *auth_role_name(int role);

/* May a device of role (its window window_no for terminals, its id
 * device_id) send req? ERR_NONE if so; otherwise the error code
 * (FORBIDDEN, or BAD_REQUEST for a window request naming no window) and
 * one readable sentence in why. */
Hall__ErrorCode auth_check(const queue *q, int role, uint32_t window_no, const char *device_id,
                           const Hall__Envelope *req, char *why, size_t whylen);

/* The window a request names, 0 if none. */
uint32_t auth_request_window(const Hall__Envelope *req);

#endif
