/*
 * replay — the answers halld keeps so that a request retried with the same
 * request id gets the first answer again, never a second ticket.
 *
 * Keyed by (device id, request id); each entry holds a digest of the
 * request (so the same id with a different request is told apart), the
 * packed reply Envelope, and the time until which it is kept. The store
 * keeps the same entries durably (requests table), so the cache is
 * refilled from it at start and a retry after a controller crash is
 * answered the same way.
 *
 * Bounded. Answers (their bytes) are capped per device and in all, by
 * count and by bytes; a new answer past a cap drops the oldest answer of
 * that device (or, for the totals, the oldest of all), through the on_drop
 * callback so the caller drops it from the store too. A dropped answer
 * leaves its entry behind — the request id and its digest, until it
 * expires — so a retry of it is told "answer dropped" and is never carried
 * out twice. Entries themselves (answers and dropped ones) are capped per
 * device and in all as well: replay_has_room() says when a device may not
 * start one more request that needs keeping.
 *
 *   replay_put          caps          replay_prune (expiry)
 *   ----------> ANSWER ------> DROPPED -----------------> gone
 *                  \_____________________________________/
 */
#ifndef ONEWINDOW_REPLAY_H
#define ONEWINDOW_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPLAY_DIGEST_LEN 16

typedef struct replay_limits {
    size_t device_answers, device_bytes; /* answers kept per device */
    size_t total_answers, total_bytes;   /* answers kept in all */
    size_t device_entries;               /* answers + dropped, per device */
    size_t total_entries;                /* answers + dropped, in all */
} replay_limits;

/* Called when an answer is dropped past a cap (not when it expires or is
 * forgotten), with the row given to replay_put(). device is valid during
 * the call. */
typedef void replay_drop_fn(void *arg, const char *device, uint64_t request_id, uint64_t row);

typedef struct replay replay;

/* NULL with errno ENOMEM, or EINVAL for a zero limit. */
replay *replay_new(const replay_limits *limits, replay_drop_fn *on_drop, void *arg);
void replay_free(replay *r);
/* New caps (a reload); they apply from the next replay_put. -1/EINVAL for
 * a zero limit. */
int replay_set_limits(replay *r, const replay_limits *limits);

typedef enum replay_hit {
    REPLAY_NONE,    /* nothing kept for this key */
    REPLAY_ANSWER,  /* the answer: *reply, *len */
    REPLAY_DROPPED, /* carried out, but its answer was dropped past a cap */
} replay_hit;

/* What is kept for (device, request_id). digest (may be NULL) receives a
 * pointer to the request's digest, NULL when none was recorded (an entry
 * written before digests existed). Pointers stay valid until the next
 * change to r. */
replay_hit replay_get(const replay *r, const char *device, uint64_t request_id,
                      const uint8_t **digest, const uint8_t **reply, size_t *len);

/* False when one more entry for device would pass the device's or the
 * total entry cap: the caller refuses the request instead of carrying it
 * out unrecorded. */
bool replay_has_room(const replay *r, const char *device);

/* Keep an answer (copied) until expires_ms, with the request's digest
 * (REPLAY_DIGEST_LEN bytes; NULL: none known) and row, the caller's handle
 * for the answer's durable copy (handed back to on_drop). Replaces an
 * entry with the same key. Then drops the oldest answers while a cap is
 * passed (never the one just kept). -1/ENOMEM. Entries are expected oldest
 * first. */
int replay_put(replay *r, const char *device, uint64_t request_id, uint64_t row, int64_t expires_ms,
               const uint8_t *digest, const uint8_t *reply, size_t len);
/* Keep a dropped entry (a store row whose answer was dropped before). */
int replay_put_dropped(replay *r, const char *device, uint64_t request_id, int64_t expires_ms,
                       const uint8_t *digest);
/* Forget one entry (a turn that did not commit). */
void replay_forget(replay *r, const char *device, uint64_t request_id);
/* Drop entries that expired before now_ms; returns how many. */
size_t replay_prune(replay *r, int64_t now_ms);

typedef struct replay_stats {
    size_t entries; /* answers + dropped */
    size_t answers;
    size_t bytes; /* of the answers */
} replay_stats;

/* In all (device NULL) or for one device. */
void replay_stats_of(const replay *r, const char *device, replay_stats *out);

#endif
