/*
 * wsess — the web layer's sign-in sessions and its sign-in throttle, in
 * memory, behind one mutex (the web threads share them).
 *
 * A session is a random token (the cookie's value) with the user it is
 * for, the user's session epoch when it began (the store bumps it at every
 * change that must end the user's sessions: password, role, disabling,
 * "log out everywhere") and a CSRF token of its own. It ends when unused
 * for idle_ms, max_ms after it began, when it is ended, or when the table
 * is full and a new one needs its place (the one idle longest goes).
 *
 * The throttle counts failed sign-ins per account name (known or not:
 * the answer must not tell which names exist) and per address: failures
 * in a row lock an account, failures within lockout_ms block an address,
 * each for lockout_ms. Its tables are bounded too; when full, the entry
 * touched longest ago goes (a locked one last).
 *
 * Times are the caller's (UTC milliseconds), so tests need no sleeping.
 */
#ifndef ONEWINDOW_WSESS_H
#define ONEWINDOW_WSESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WSESS_TOKEN_LEN 43 /* 32 random bytes, base64url without padding */
#define WSESS_USER_MAX  32

typedef struct wsess wsess;

typedef struct wsess_limits {
    size_t max_sessions;
    int64_t idle_ms, max_ms;
    int account_failures; /* in a row, before the account is locked */
    int address_failures; /* within lockout_ms, before the address is blocked */
    int64_t lockout_ms;
} wsess_limits;

/* NULL with errno (EINVAL for a zero limit, ENOMEM). */
wsess *wsess_new(const wsess_limits *lim);
void wsess_free(wsess *w);

/* ---- The throttle ------------------------------------------------------ */

enum wsess_gate { WSESS_OPEN, WSESS_ACCOUNT_LOCKED, WSESS_ADDRESS_BLOCKED };

/* May user try a password from addr now? If not, *until is when it may. */
enum wsess_gate wsess_gate_of(wsess *w, const char *user, const char *addr, int64_t now,
                              int64_t *until);
/* A wrong password (or an unknown or disabled user). Returns what this
 * failure closed (WSESS_OPEN if nothing), with *until. */
enum wsess_gate wsess_failed(wsess *w, const char *user, const char *addr, int64_t now,
                             int64_t *until);
/* A right password: the account's failures in a row are forgotten. */
void wsess_succeeded(wsess *w, const char *user);

/* ---- Sessions ----------------------------------------------------------- */

typedef struct wsess_info {
    char user[WSESS_USER_MAX + 1];
    int64_t epoch;
    char csrf[WSESS_TOKEN_LEN + 1];
    int64_t created_ms, last_ms;
} wsess_info;

/* Begin a session; its cookie token in token, what it holds in *info. -1
 * with errno EIO when no random bytes could be had. */
int wsess_begin(wsess *w, const char *user, int64_t epoch, int64_t now,
                char token[WSESS_TOKEN_LEN + 1], wsess_info *info);

enum wsess_found { WSESS_NONE, WSESS_LIVE, WSESS_IDLE, WSESS_EXPIRED };
/* The session of token, touched (its idle time starts again) when live;
 * an idle or expired one is ended and said so. */
enum wsess_found wsess_find(wsess *w, const char *token, int64_t now, wsess_info *out);
/* End the session of token; true if there was one. */
bool wsess_end(wsess *w, const char *token);
/* End every session of user; how many of them were live at now. */
size_t wsess_end_user(wsess *w, const char *user, int64_t now);
size_t wsess_count(wsess *w);

#endif
