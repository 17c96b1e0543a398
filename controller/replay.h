/*
 * replay — the answers halld keeps so that a request retried with the same
 * request id gets the first answer again, never a second ticket.
 *
 * Keyed by (device id, request id); holds the packed reply Envelope and the
 * time until which it is kept. replay_prune() drops expired entries. The
 * store keeps the answers that changed the hall durably (requests table),
 * so the cache is refilled from it at start and a retry after a controller
 * crash is answered the same way; refusals are kept here only (see hall.c).
 */
#ifndef ONEWINDOW_REPLAY_H
#define ONEWINDOW_REPLAY_H

#include <stddef.h>
#include <stdint.h>

typedef struct replay replay;

replay *replay_new(void);
void replay_free(replay *r);

/* The kept answer for (device, request_id): its bytes and length, or NULL. */
const uint8_t *replay_get(const replay *r, const char *device, uint64_t request_id, size_t *len);
/* Keep an answer (copied) until expires_ms; replaces one with the same
 * key. -1/ENOMEM. */
int replay_put(replay *r, const char *device, uint64_t request_id, int64_t expires_ms,
               const uint8_t *reply, size_t len);
/* Forget one answer (a turn that did not commit). */
void replay_forget(replay *r, const char *device, uint64_t request_id);
/* Drop answers that expired before now_ms; returns how many. */
size_t replay_prune(replay *r, int64_t now_ms);
size_t replay_count(const replay *r);

#endif
