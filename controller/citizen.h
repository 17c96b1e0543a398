/*
 * citizen — the hall's custody of citizens' ID numbers (docs/privacy.md).
 *
 * halld alone holds the keys that touch them:
 *   - the hall secret, the HMAC-SHA256 key that turns an ID number into
 *     the citizen hash the hall keeps (the same person gives the same hash
 *     in this hall, so a ticket can be bound to them; the number cannot be
 *     recovered from it, nor searched for without the secret);
 *   - the private sealing keys (common/seal.h) that open the numbers a
 *     kiosk sealed while it was offline: the current one and, after a
 *     rotation, the one before it.
 * Kiosks hold neither. A kiosk sends the number over its mutual-TLS link,
 * or sealed inside an offline ticket; this module checks it
 * (common/idnum.h), hashes it and forgets it. The clear number is only in
 * the caller's buffer and this module's stack, which is wiped before
 * returning; no result and no sentence holds it, at most its mask.
 *
 * Pure apart from reading the key files: no logging.
 */
#ifndef ONEWINDOW_CITIZEN_H
#define ONEWINDOW_CITIZEN_H

#include <stddef.h>
#include <stdint.h>

#include "queue.h"

#define CITIZEN_SECRET_MIN 16 /* bytes of the hall secret, at least */
#define CITIZEN_SECRET_MAX 64
#define CITIZEN_DIGEST_LEN 32

typedef struct citizen_keys citizen_keys;

/* The hall secret from secret_path (hex digits, whitespace around them
 * allowed, CITIZEN_SECRET_MIN..CITIZEN_SECRET_MAX bytes: required) and the
 * private sealing keys from seal_path and previous_path (PEM X25519; a
 * file that does not exist is no key, any other trouble is an error).
 * NULL with a sentence naming the file and the configuration key. */
citizen_keys *citizen_keys_load(const char *secret_path, const char *seal_path,
                                const char *previous_path, char *err, size_t errlen);
/* Wipes the keys. NULL is fine. */
void citizen_keys_free(citizen_keys *k);

/* Sealing keys held: 0 (offline tickets by card wait on their kiosks), 1
 * or 2. */
int citizen_sealing_keys(const citizen_keys *k);

/* The citizen hash of an ID number a kiosk sent in clear: the number is
 * checked and HMAC-SHA256 of it (a final x counted as X) under the hall
 * secret goes to hash. 0, or -1 with a sentence in why (the number masked
 * when it is one with a wrong check digit, never in clear). */
int citizen_from_number(const citizen_keys *k, const char *number, uint8_t hash[Q_HASH_LEN],
                        char *why, size_t whylen);

/* The same for a number sealed by the kiosk whose device id is context:
 * opened with the sealing key it names, then as citizen_from_number. -1
 * with errno and a sentence in why:
 *   EAGAIN   halld holds no sealing key: it cannot open it yet (installing
 *            the key and reloading lets it in); or OpenSSL failed
 *   EBADMSG  it is not an envelope, does not open (changed, or sealed by
 *            another kiosk), is sealed to a key halld does not hold, or
 *            holds no ID number: final */
int citizen_from_sealed(const citizen_keys *k, const char *context, const uint8_t *sealed,
                        size_t len, uint8_t hash[Q_HASH_LEN], char *why, size_t whylen);

/* HMAC-SHA256 of data under the hall secret: a digest of a request that
 * holds an ID number, which nobody without the secret can test numbers
 * against. 0 or -1 (EIO). */
int citizen_digest(const citizen_keys *k, const void *data, size_t len,
                   uint8_t out[CITIZEN_DIGEST_LEN]);

/* A ticket's check: CITIZEN_CHECK_LEN decimal digits from HMAC-SHA256
 * under the hall secret of the ticket id (with its own label, so it is no
 * digest of anything else). Printed on the ticket and carried in its QR
 * code, it shows the bearer holds the ticket; without the secret it cannot
 * be told from the number or the id. 0 or -1 (EIO). */
#define CITIZEN_CHECK_LEN 4
int citizen_ticket_check(const citizen_keys *k, uint64_t ticket_id,
                         char out[CITIZEN_CHECK_LEN + 1]);

#endif
