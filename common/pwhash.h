/*
 * pwhash — the hashes of people's passwords (the web users of a hall):
 * scrypt from OpenSSL 3, memory-hard, with a random salt per hash and its
 * parameters stored in the hash, so that they can be raised later without
 * invalidating the hashes made before.
 *
 * The encoded form, one line of ASCII (PHC string format):
 *
 *   $scrypt$ln=15,r=8,p=1$<salt>$<key>
 *
 * ln is log2 of scrypt's N, r its block size, p its parallelism; salt and
 * key are standard base64 (A-Z a-z 0-9 + /) without padding. pwhash_make
 * writes a 16-byte salt and a 32-byte key with N = 2^15, r = 8, p = 1
 * (32 MiB, about 0.1 s). pwhash_verify reads only what it could make, or
 * a little more: ln 10..20, r 1..16, p 1..4, salt 8..64 bytes, key
 * 16..64 bytes, at most 1 GiB of scrypt memory (what ln 20 with r 8
 * takes), every number spelled once (no sign, no leading zero), and
 * nothing before or after: a stored string cannot make it allocate more.
 *
 * Passwords are bytes (UTF-8 as typed), 1..PWHASH_PASSWORD_MAX of them.
 * Nothing here logs; every buffer that held a derived key is wiped. The
 * functions keep no state: any thread may call them.
 */
#ifndef ONEWINDOW_PWHASH_H
#define ONEWINDOW_PWHASH_H

#include <stddef.h>

#define PWHASH_PASSWORD_MAX 128 /* bytes of the longest password */
#define PWHASH_LN           15  /* log2 N of pwhash_make */
#define PWHASH_LN_MIN       10
#define PWHASH_LN_MAX       20
/* Bytes of the longest encoded string pwhash_verify() accepts (64-byte
 * salt and key, two-digit ln and r), with its NUL: room for any stored
 * hash, and for pwhash_make's (89 bytes). */
#define PWHASH_MAX 200

/* Hash password into out (outlen bytes, PWHASH_MAX is enough) as the
 * encoded string above. 0, or -1 with errno:
 *   EINVAL  password empty or longer than PWHASH_PASSWORD_MAX bytes
 *   ENOSPC  out is too small (out is then "" if outlen > 0)
 *   EIO     OpenSSL failed (no randomness, no scrypt) */
int pwhash_make(const char *password, char *out, size_t outlen);

/* The same with N = 2^ln, ln in PWHASH_LN_MIN..PWHASH_LN_MAX (EINVAL
 * otherwise): cheaper hashes for tests, or dearer ones. pwhash_make is
 * pwhash_make_cost(password, PWHASH_LN, out, outlen). */
int pwhash_make_cost(const char *password, int ln, char *out, size_t outlen);

/* Whether password is the one encoded was made from: 1 it is, 0 it is not
 * (an empty or over-long password is never one), -1 with errno EINVAL if
 * encoded is not a hash of the form above within its bounds, or EIO if
 * OpenSSL failed. The keys are compared in constant time. */
int pwhash_verify(const char *password, const char *encoded);

#endif
