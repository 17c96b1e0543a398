/*
 * idcard_privacy — what the kiosk may keep of a card instead of the card:
 * a keyed hash of the ID number, a masked number and a masked name; and
 * the wiping of the clear fields once they have been used.
 *
 * The hash is HMAC-SHA256 of the ID number under the hall secret, in hex:
 * the same card gives the same hash in one hall (so a ticket, an
 * appointment or a result can be bound to the person), but the number
 * cannot be recovered from it nor matched across halls with other
 * secrets. The masks are for screens and tickets: 3713**********1234 and
 * 张* (欧阳* for a compound surname): one star whatever the name's length,
 * so the mask does not tell the length either.
 *
 * Nothing here logs or keeps a copy; the clear inputs stay the caller's.
 */
#ifndef ONEWINDOW_IDCARD_PRIVACY_H
#define ONEWINDOW_IDCARD_PRIVACY_H

#include <stddef.h>
#include <stdint.h>

#include "idcard.h"

#define IDCARD_SECRET_MIN 16 /* shortest hall secret accepted, in bytes */
#define IDCARD_HASH_HEX   65 /* 64 hex digits + NUL */

/* HMAC-SHA256 of number (a trailing lower-case x counts as X) keyed with
 * key[0..keylen), as lower-case hex into out (IDCARD_HASH_HEX bytes). 0, or
 * -1 with errno EINVAL (NULL, empty number, key shorter than
 * IDCARD_SECRET_MIN) or EIO (OpenSSL failed). */
int idcard_privacy_hash(const uint8_t *key, size_t keylen, const char *number, char *out);

/* The number with all but its first and last four characters replaced by
 * '*' (a number of 8 characters or fewer is all stars). 0, or -1 with errno
 * EINVAL (NULL) or ENOBUFS (outlen too small). */
int idcard_privacy_mask_number(const char *number, char *out, size_t outlen);

/* The first character of the UTF-8 name (its first two for a compound
 * surname such as 欧阳 or 司马, when the name is longer than the surname)
 * and one '*'; a name of one character is "*". 0, or -1 with errno EINVAL
 * (NULL or not UTF-8) or ENOBUFS. */
int idcard_privacy_mask_name(const char *name, char *out, size_t outlen);

/* Fill id->id_hash, id->masked_number and id->masked_name from id's clear
 * fields. 0 or -1 with errno as the functions above. */
int idcard_privacy_apply(idcard_identity *id, const uint8_t *key, size_t keylen);

/* Overwrite n bytes at p with zeros in a way the compiler cannot drop
 * (OPENSSL_cleanse). NULL is fine. */
void idcard_privacy_wipe(void *p, size_t n);

#endif
