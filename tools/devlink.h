/*
 * devlink — one device link to halld, used the simple way: connect, say
 * HELLO, send a request and wait for its answer. For tools (hallctl,
 * hallbench) and tests, which act as devices; the daemons use net_conn in
 * their own event loops instead.
 *
 * Each devlink runs a private ev_loop only while a call waits, so several
 * devlinks may live in different threads. Pushes (DISPLAY_PUSH) that arrive
 * while waiting are queued and read with devlink_next().
 */
#ifndef ONEWINDOW_DEVLINK_H
#define ONEWINDOW_DEVLINK_H

#include <stdint.h>

#include "proto.h"

#define DEVLINK_ERR_LEN 256

typedef struct devlink devlink;

/* Connect to host:port. With cert, key and ca: TLS 1.3 with that client
 * certificate; all NULL: plain TCP (halld --dev-plaintext). Waits up to
 * timeout_ms for the link (and handshake). NULL with a reason in err. */
devlink *devlink_open(const char *host, int port, const char *cert, const char *key, const char *ca,
                      int timeout_ms, char *err);
void devlink_close(devlink *l);

/* Send req (its request_id set from the link's counter when 0) and wait
 * for the answer with the same request_id. The answer (a reply or an
 * ERROR) is the caller's, freed with proto_free(). NULL with a reason in
 * err on a timeout or a closed link. */
Hall__Envelope *devlink_call(devlink *l, Hall__Envelope *req, int timeout_ms, char *err);
/* The two halves of devlink_call, to pipeline requests: send req (its
 * request_id set as above) without waiting, then wait for the answer to
 * one request id. At most DEVLINK_INBOX answers may wait unread. -1 / NULL
 * with a reason in err. */
#define DEVLINK_INBOX 4096
int devlink_send(devlink *l, Hall__Envelope *req, char *err);
Hall__Envelope *devlink_wait(devlink *l, uint64_t request_id, int timeout_ms, char *err);

/* HELLO as device id of type (window_no for window terminals). The
 * HELLO_REPLY or ERROR, as devlink_call(). */
Hall__Envelope *devlink_hello(devlink *l, const char *device_id, Hall__DeviceType type,
                              uint32_t window_no, int timeout_ms, char *err);

/* The next message that was not an answer (a push), waiting up to
 * timeout_ms. NULL if none came. */
Hall__Envelope *devlink_next(devlink *l, int timeout_ms);

/* Send raw bytes (tests of bad input). -1 on a closed link. */
int devlink_send_raw(devlink *l, const void *bytes, size_t len);
/* True once the link is closed; the reason then. */
int devlink_closed(devlink *l, int timeout_ms, const char **reason);
/* The next request id the link will use, and a way to set it (a retry). */
uint64_t devlink_next_id(const devlink *l);
void devlink_set_next_id(devlink *l, uint64_t id);

#endif
