/*
 * klink — the kiosk's link to halld: one TLS client connection (net_conn)
 * on the kiosk's event loop that is always being kept up.
 *
 *     DOWN --backoff timer--> CONNECTING --TLS up, HELLO sent--> HELLO
 *      ^                          |                                |
 *      |                          | failed / timeout               | HELLO_REPLY
 *      +--------------------------+----- closed, silent, refused --+-- UP
 *
 * After a failure the next attempt waits an exponential backoff (200 ms
 * doubling up to reconnect_max) with jitter (a random 50..100 % of it), so
 * a hall of kiosks does not reconnect in step after halld restarts.
 *
 * Requests: klink_send() gives a request a fresh id (from the next_id
 * callback: kstore's persisted counter) and keeps its frame in a table
 * until its answer (reply or ERROR) comes back; a frame is wiped when it
 * leaves the table (an ISSUE may carry a citizen's ID number). A request still unanswered
 * when the link drops is sent again, with the SAME id, after the next
 * HELLO: halld answers a retry with its first answer, so a retried ISSUE
 * never makes a second ticket. ERR_UNAVAILABLE asks for the same retry
 * (after a second, doubling while halld keeps answering it, up to a
 * minute).
 *
 * Clock: HELLO_REPLY and every HEARTBEAT_REPLY carry halld's clock; the
 * link measures halld's clock minus the kiosk's from each, halld's reading
 * taken as made halfway through the round trip, and hands it to the clock
 * callback (before the up callback for HELLO).
 *
 * Once UP the link sends a HEARTBEAT every interval HELLO_REPLY gave,
 * drops a link silent for longer than the idle timeout, and (with a push
 * callback) SUBSCRIBEs for the display pushes (area statuses) with the last sequence applied; a
 * gap in the sequence subscribes again (a snapshot comes back).
 */
#ifndef ONEWINDOW_KLINK_H
#define ONEWINDOW_KLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ev.h"
#include "proto.h"

typedef struct klink klink;

typedef struct klink_conf {
    const char *host;
    int port;
    const char *cert, *key, *ca; /* all NULL: plain TCP (halld --dev-plaintext) */
    const char *device_id;
    const char *firmware; /* firmware version sent in HELLO */
    int64_t reconnect_max_ms;
    int64_t connect_timeout_ms; /* TCP + TLS + HELLO */
    /* The device type HELLO names (0: DEVICE_KIOSK) and, for a window
     * terminal, its window (kioskd carries its call-pads' links as the
     * terminals of their windows). */
    Hall__DeviceType type;
    uint32_t window_no;
} klink_conf;

typedef struct klink_callbacks {
    /* A fresh request id, never 0; 0 if none can be had (errno). */
    uint64_t (*next_id)(void *arg);
    /* HELLO was answered: the link is up (requests in the table are
     * already on their way again). */
    void (*up)(void *arg, const Hall__HelloReply *reply);
    /* The link went down (or an attempt failed), with a sentence. */
    void (*down)(void *arg, const char *reason);
    /* The answer to request_id; the envelope is valid during the call. */
    void (*answer)(void *arg, uint64_t request_id, const Hall__Envelope *answer);
    /* A display push (a snapshot after each SUBSCRIBE, then deltas). NULL:
     * the link does not SUBSCRIBE. */
    void (*push)(void *arg, const Hall__DisplayPush *push);
    /* halld's clock minus the kiosk's (UTC ms), measured over a round trip
     * of rtt_ms. NULL: not wanted. */
    void (*clock)(void *arg, int64_t offset_ms, int64_t rtt_ms);
} klink_callbacks;

/* Copy the configuration and start connecting. NULL with errno and a
 * sentence in err (the TLS files cannot be read, EINVAL). */
klink *klink_new(ev_loop *loop, const klink_conf *conf, const klink_callbacks *cb, void *arg,
                 char *err, size_t errlen);
/* Close the link; unanswered requests are dropped (their owners keep what
 * must survive in kstore). NULL is fine. Not from a klink callback. */
void klink_free(klink *l);

/* Queue req (its body set, request_id ignored) and send it now when the
 * link is up. Returns its request id, or 0 with errno. */
uint64_t klink_send(klink *l, Hall__Envelope *req);
/* The same under a request id the caller chose (not 0, not in the table:
 * EINVAL): a request sent again after a restart under the id it was first
 * sent with, so halld answers it as it did then. */
uint64_t klink_send_as(klink *l, Hall__Envelope *req, uint64_t request_id);
/* Forget a request: its answer, if it comes, is dropped. */
void klink_cancel(klink *l, uint64_t request_id);

bool klink_is_up(const klink *l);
/* Requests not answered yet. */
size_t klink_pending(const klink *l);

#endif
