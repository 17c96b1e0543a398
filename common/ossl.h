/*
 * ossl — the small pieces of OpenSSL handling that net (TLS) and pki (the
 * hall CA) share: turning OpenSSL's error queue into a readable reason, and
 * refusing to prompt for pass phrases.
 */
#ifndef ONEWINDOW_OSSL_H
#define ONEWINDOW_OSSL_H

#include <stddef.h>

/* The reason of the earliest queued OpenSSL error (the root cause; later
 * entries only add context), or "unknown error". Empties the queue. The
 * result points into tmp (len bytes) or at a static string. */
const char *ossl_reason(char *tmp, size_t len);

/* A pem_password_cb that refuses: PEM reading must never fall back to
 * OpenSSL's default, which prompts on the terminal for the pass phrase of
 * an encrypted key (a daemon would hang). */
int ossl_no_password(char *pass, int size, int rwflag, void *u);

#endif
