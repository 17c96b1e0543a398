/*
 * hall — what halld's requests mean. server.c moves frames and keeps
 * sessions; hall.c admits devices (registry and roles), authorizes each
 * request (auth.h's table), runs it against the queue engine inside the
 * loop turn's transaction, keeps the answers for retries, commits the
 * turn, and produces the display pushes.
 *
 * A loop turn (group commit):
 *
 *   hall_request() ...   every request read in this turn, each atomic on
 *                        its own (a savepoint): engine change + journal
 *                        writes + its kept answer, or nothing at all; a
 *                        refusal changes nothing and costs the turn's
 *                        other requests nothing. Answers go to the
 *                        caller's held buffer, not to the wire
 *   hall_commit()        one COMMIT (one fsync) for the whole turn; only
 *                        then may the server send the held answers and the
 *                        turn's push. (halld splits it: the COMMIT on the
 *                        loop, the fsync on a thread of its own, see
 *                        hall_commit_unsynced.) If the commit fails the transaction
 *                        is rolled back, the engine is rebuilt from the
 *                        store, and the server must drop the sessions that
 *                        hold answers kept in this turn (hall_request said
 *                        HALL_KEPT): their devices retry with the same
 *                        request ids and get a consistent answer. Other
 *                        sessions keep their links and answers.
 *
 * ID numbers: an ISSUE may carry the citizen's number in clear over the
 * mutual-TLS link, an offline ticket its number sealed by the kiosk;
 * hall.c turns either into the citizen hash (citizen.h) and keeps neither
 * (the decoded request's copy is wiped when hall_request returns).
 *
 * Requests that change the hall have their answer kept for 24 hours,
 * refusals included, with a digest of the request: the same request id
 * gets the same answer again, also after a restart; the same id with a
 * different request is refused (ERR_REQUEST_ID_REUSED). Heartbeats,
 * SUBSCRIBE and DEVICE_STATUS change nothing durable and keep nothing.
 */
#ifndef ONEWINDOW_HALL_H
#define ONEWINDOW_HALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "halld_conf.h"
#include "proto.h"
#include "store.h"

typedef struct hall hall;

/* Who a session is, once admitted; for a request a web gateway makes on
 * a user's behalf, who that user is (hall_request finds them). */
typedef struct hall_device {
    char id[Q_DEVICE_MAX + 1]; /* a person: "web:" and the user's name */
    Hall__DeviceType type;     /* a person: DEVICE_WEB, the link's */
    uint32_t window_no;        /* window terminals: their window */
    int person_role;           /* a person: the user's role (auth.h); 0: a device, as its type */
    char clerk_id[Q_CODE_MAX + 16]; /* a person with a clerk identity, else "" */
    char refusal[96]; /* set by hall_request: why no request may be run as this requester */
} hall_device;

/* "kiosk", "window terminal", "display", "tool", "web gateway"; NULL for
 * another value. */
const char *hall_device_type_name(int type);

/* Build the hall from the store: catalog (retired areas too), windows,
 * live tickets, leases, kept answers; then expire what expired while the
 * controller was down. Today's numbering is the one the store recorded for
 * today, if any. The keys of [privacy] are read (the hall secret is
 * required; a sealing key file that does not exist is none). The hall
 * borrows s (the caller closes it after hall_free). NULL with a reason in
 * err. */
hall *hall_new(const struct halld_conf *conf, store *s, char *err, size_t errlen);
void hall_free(hall *h);

/* Apply reloadable settings (policy, names, limits), read the [privacy]
 * keys again (a rotated sealing key takes effect) and re-read the
 * catalog and windows from the store: all or nothing — a whole engine is
 * built from the store with the new settings first, and only if that
 * works does it replace the running one (safe in the middle of a turn).
 * New [numbering] settings take effect at the next business day. -1 with
 * a reason in err, and nothing changed. */
int hall_reload(hall *h, const struct halld_conf *conf, char *err, size_t errlen);

/* The private sealing keys the hall holds (0, 1 or 2): without one,
 * offline tickets taken by card wait on their kiosks (the daemon says so
 * at start and after a reload). */
int hall_sealing_keys(const hall *h);

/* Admit a HELLO from a connection whose certificate names cert_name (NULL
 * in development mode): the device must be registered, not revoked, and of
 * the type it claims. 0 and *dev filled, or -1 with *code and msg. */
int hall_admit(hall *h, const Hall__Hello *hello, hall_device *dev, Hall__ErrorCode *code,
               char *msg, size_t msglen);
/* Still registered and not revoked (a reload may revoke a live session). */
bool hall_device_valid(hall *h, const hall_device *dev);
/* The HELLO_REPLY fields the hall decides. */
void hall_fill_hello_reply(const hall *h, Hall__HelloReply *r);

#define HALL_SUBSCRIBE 1 /* the request was a SUBSCRIBE: send a snapshot after commit */
#define HALL_KEPT      2 /* its answer was kept in this turn: lost if the commit fails */

/* Run one request (after HELLO) and append its framed answer to out.
 * Returns 0 or flags above. Never fails: refusals are ERROR answers. A
 * request on_behalf_of a user (web gateways only) is run as that user:
 * authorized by the user's role, its answer kept under "web:NAME"; an
 * unknown or disabled user, or a device other than a web gateway, is
 * refused (FORBIDDEN, kept like any refusal). */
int hall_request(hall *h, const hall_device *dev, const Hall__Envelope *req, buf *out);
/* Refuse what is not a request at all (a message this release does not
 * know), with the device's log budget, appending the ERROR to out. */
void hall_refuse(hall *h, const hall_device *dev, uint64_t request_id, Hall__ErrorCode code,
                 const char *why, buf *out);

/* End of the loop turn. 0: committed (or nothing to commit); the turn's
 * push, if any, is then available from hall_push(). -1: the turn was lost
 * (see above), or it committed but could not be synced (hall_broken). */
int hall_commit(hall *h);
/* The same, in two steps, so that the sync can run on another thread
 * while the loop goes on with the next turn: the turn is committed (its
 * changes visible to the next one) but not yet durable. 1: committed,
 * hall_sync() must return 0 before anything of it (the held answers, the
 * push) is sent; 0: there was nothing to commit; -1: lost, as above.
 * Until that sync has returned, the next turn may run but must not be
 * committed: the sync covers everything committed before it started. */
int hall_commit_unsynced(hall *h);
/* Make the turns committed so far durable. The one hall function that
 * may run on another thread, at the same time as the others (it only
 * syncs the store's write-ahead log). -1 with errno: they may not be
 * durable, and no later sync can tell, so the daemon must stop without
 * answering them; at its restart the store is what it is, and devices
 * retry with the same request ids. */
int hall_sync(hall *h);
/* True once a lost turn could not be rebuilt from the store: the engine
 * may hold what the store does not, so the daemon must stop (and be
 * restarted, rebuilding from the store). */
bool hall_broken(const hall *h);
/* The push frame of the last commit, or NULL if it changed nothing shown. */
const uint8_t *hall_push(const hall *h, size_t *len);
/* A full snapshot frame (answer to SUBSCRIBE request_id) appended to out. */
void hall_snapshot(hall *h, uint64_t request_id, buf *out);

/* Timer work (reservations, no-shows, rollover, retention), run as part of
 * the current turn when something is due: hall_commit() makes it durable
 * with the turn's requests. A request runs what is due first, too. -1 if
 * the store could not record it (then nothing of it stands). */
int hall_tick(hall *h);

/* Webhook deliveries of alert changes ([supervise] webhook,
 * docs/supervision.md): the daemon's webhook thread posts them one at a
 * time, oldest first, and drops each once the receiver took it. */
typedef struct hall_webhook {
    char url[1001]; /* "" : none */
    int64_t timeout_ms, give_up_ms;
} hall_webhook;
void hall_webhook_settings(const hall *h, hall_webhook *out);
/* The oldest delivery committed: 1 (out->body to free), 0 none (or a turn
 * is open: ask again later), -1 store error. */
int hall_webhook_next(hall *h, store_delivery *out);
/* Delivered (or given up): dropped in the current turn. */
int hall_webhook_drop(hall *h, uint64_t id);

/* Kept entries (answers and dropped ones), answers and their bytes, for
 * one device or (device NULL) in all. */
void hall_kept_stats(const hall *h, const char *device, size_t *entries, size_t *answers,
                     size_t *bytes);

#endif
