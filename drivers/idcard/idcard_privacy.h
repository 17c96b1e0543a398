/*
 * idcard_privacy — what a kiosk may show or print of a card instead of the
 * card: a masked number and a masked name; and the wiping of the clear
 * fields once they have been used.
 *
 * The masks are for screens, tickets and logs: 3713**********1234 and 张*
 * (欧阳* for a compound surname): one star whatever the name's length, so
 * the mask does not tell the length either. The driver computes no hash
 * of the ID number: the hall secret stays with halld, which hashes the
 * number it receives (docs/privacy.md).
 *
 * Nothing here logs or keeps a copy; the clear inputs stay the caller's.
 */
#ifndef ONEWINDOW_IDCARD_PRIVACY_H
#define ONEWINDOW_IDCARD_PRIVACY_H

#include <stddef.h>

#include "idcard.h"

/* The first character of the UTF-8 name (its first two for a compound
 * surname such as 欧阳 or 司马, when the name is longer than the surname)
 * and one '*'; a name of one character is "*". 0, or -1 with errno EINVAL
 * (NULL or not UTF-8) or ENOBUFS. */
int idcard_privacy_mask_name(const char *name, char *out, size_t outlen);

/* Fill id->masked_number (idnum_mask) and id->masked_name from id's clear
 * fields. 0 or -1 with errno as the functions above. */
int idcard_privacy_apply(idcard_identity *id);

/* Overwrite n bytes at p with zeros in a way the compiler cannot drop
 * (OPENSSL_cleanse). NULL is fine. */
void idcard_privacy_wipe(void *p, size_t n);

#endif
