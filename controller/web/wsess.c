/*
 * wsess — sessions and the sign-in throttle. See wsess.h.
 */
#include "wsess.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* Entries of each throttle table (accounts, addresses). */
#define THROTTLE_MAX 4096
#define ADDR_MAX     64

struct session {
    bool used;
    char token[WSESS_TOKEN_LEN + 1];
    wsess_info info;
};

struct strike {
    char key[ADDR_MAX + 1]; /* "" : free */
    int failures;
    int64_t first_ms, last_ms;
    int64_t until_ms; /* locked or blocked until, 0 if not */
};

struct wsess {
    pthread_mutex_t lock;
    wsess_limits lim;
    struct session *sessions;
    struct strike *accounts, *addresses;
};

wsess *wsess_new(const wsess_limits *lim)
{
    wsess *w;

    if (lim->max_sessions == 0 || lim->idle_ms <= 0 || lim->max_ms <= 0 ||
        lim->account_failures <= 0 || lim->address_failures <= 0 || lim->lockout_ms <= 0) {
        errno = EINVAL;
        return NULL;
    }
    if ((w = calloc(1, sizeof *w)) == NULL)
        return NULL;
    w->lim = *lim;
    w->sessions = calloc(lim->max_sessions, sizeof *w->sessions);
    w->accounts = calloc(THROTTLE_MAX, sizeof *w->accounts);
    w->addresses = calloc(THROTTLE_MAX, sizeof *w->addresses);
    if (w->sessions == NULL || w->accounts == NULL || w->addresses == NULL ||
        pthread_mutex_init(&w->lock, NULL) != 0) {
        free(w->sessions);
        free(w->accounts);
        free(w->addresses);
        free(w);
        errno = ENOMEM;
        return NULL;
    }
    return w;
}

void wsess_free(wsess *w)
{
    if (w == NULL)
        return;
    OPENSSL_cleanse(w->sessions, w->lim.max_sessions * sizeof *w->sessions);
    free(w->sessions);
    free(w->accounts);
    free(w->addresses);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

/* ---- The throttle ---------------------------------------------------------- */

/* The entry of key, or (make) a free one, or the one touched longest ago
 * that is not locked (a locked one if all are). NULL only when !make. */
static struct strike *strike_of(struct strike *t, const char *key, bool make)
{
    struct strike *free_one = NULL, *oldest = NULL, *oldest_locked = NULL;

    for (size_t i = 0; i < THROTTLE_MAX; i++) {
        if (t[i].key[0] == '\0') {
            if (free_one == NULL)
                free_one = &t[i];
            continue;
        }
        if (strncmp(t[i].key, key, ADDR_MAX) == 0)
            return &t[i];
        struct strike **o = t[i].until_ms != 0 ? &oldest_locked : &oldest;
        if (*o == NULL || t[i].last_ms < (*o)->last_ms)
            *o = &t[i];
    }
    if (!make)
        return NULL;
    struct strike *e = free_one ? free_one : oldest ? oldest : oldest_locked;
    memset(e, 0, sizeof *e);
    snprintf(e->key, sizeof e->key, "%s", key);
    return e;
}

/* A lock that has run out is over, and so are its failures. */
static void expire(struct strike *e, int64_t now)
{
    if (e != NULL && e->until_ms != 0 && e->until_ms <= now) {
        e->until_ms = 0;
        e->failures = 0;
    }
}

enum wsess_gate wsess_gate_of(wsess *w, const char *user, const char *addr, int64_t now,
                              int64_t *until)
{
    enum wsess_gate gate = WSESS_OPEN;

    pthread_mutex_lock(&w->lock);
    struct strike *a = strike_of(w->accounts, user, false);
    struct strike *d = strike_of(w->addresses, addr, false);
    expire(a, now);
    expire(d, now);
    if (d != NULL && d->until_ms != 0) {
        gate = WSESS_ADDRESS_BLOCKED;
        *until = d->until_ms;
    } else if (a != NULL && a->until_ms != 0) {
        gate = WSESS_ACCOUNT_LOCKED;
        *until = a->until_ms;
    }
    pthread_mutex_unlock(&w->lock);
    return gate;
}

enum wsess_gate wsess_failed(wsess *w, const char *user, const char *addr, int64_t now,
                             int64_t *until)
{
    enum wsess_gate gate = WSESS_OPEN;

    pthread_mutex_lock(&w->lock);
    struct strike *a = strike_of(w->accounts, user, true);
    expire(a, now);
    a->last_ms = now;
    if (++a->failures >= w->lim.account_failures && a->until_ms == 0) {
        a->until_ms = now + w->lim.lockout_ms;
        gate = WSESS_ACCOUNT_LOCKED;
        *until = a->until_ms;
    }
    struct strike *d = strike_of(w->addresses, addr, true);
    expire(d, now);
    /* An address counts its failures within one lockout period. */
    if (d->failures == 0 || now - d->first_ms > w->lim.lockout_ms) {
        d->failures = 0;
        d->first_ms = now;
    }
    d->last_ms = now;
    if (++d->failures >= w->lim.address_failures && d->until_ms == 0) {
        d->until_ms = now + w->lim.lockout_ms;
        gate = WSESS_ADDRESS_BLOCKED;
        *until = d->until_ms;
    }
    pthread_mutex_unlock(&w->lock);
    return gate;
}

void wsess_succeeded(wsess *w, const char *user)
{
    pthread_mutex_lock(&w->lock);
    struct strike *a = strike_of(w->accounts, user, false);
    if (a != NULL && a->until_ms == 0)
        memset(a, 0, sizeof *a);
    pthread_mutex_unlock(&w->lock);
}

/* ---- Sessions ----------------------------------------------------------------- */

static int random_token(char out[WSESS_TOKEN_LEN + 1])
{
    unsigned char raw[32], text[48];

    if (RAND_bytes(raw, sizeof raw) != 1) {
        errno = EIO;
        return -1;
    }
    EVP_EncodeBlock(text, raw, sizeof raw); /* 44 characters, the last '=' */
    for (size_t i = 0; i < WSESS_TOKEN_LEN; i++)
        out[i] = text[i] == '+' ? '-' : text[i] == '/' ? '_' : (char)text[i];
    out[WSESS_TOKEN_LEN] = '\0';
    OPENSSL_cleanse(raw, sizeof raw);
    return 0;
}

static void end(struct session *s)
{
    OPENSSL_cleanse(s, sizeof *s);
}

int wsess_begin(wsess *w, const char *user, int64_t epoch, int64_t now,
                char token[WSESS_TOKEN_LEN + 1], wsess_info *info)
{
    struct session *slot = NULL;

    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->lim.max_sessions; i++) {
        struct session *s = &w->sessions[i];
        if (!s->used) {
            slot = s;
            break;
        }
        if (slot == NULL || s->info.last_ms < slot->info.last_ms)
            slot = s;
    }
    end(slot);
    if (random_token(slot->token) < 0 || random_token(slot->info.csrf) < 0) {
        end(slot);
        pthread_mutex_unlock(&w->lock);
        return -1;
    }
    slot->used = true;
    snprintf(slot->info.user, sizeof slot->info.user, "%s", user);
    slot->info.epoch = epoch;
    slot->info.created_ms = slot->info.last_ms = now;
    memcpy(token, slot->token, sizeof slot->token);
    *info = slot->info;
    pthread_mutex_unlock(&w->lock);
    return 0;
}

/* The session of token, compared in constant time. */
static struct session *session_of(wsess *w, const char *token)
{
    if (strlen(token) != WSESS_TOKEN_LEN)
        return NULL;
    for (size_t i = 0; i < w->lim.max_sessions; i++)
        if (w->sessions[i].used && CRYPTO_memcmp(w->sessions[i].token, token, WSESS_TOKEN_LEN) == 0)
            return &w->sessions[i];
    return NULL;
}

enum wsess_found wsess_find(wsess *w, const char *token, int64_t now, wsess_info *out)
{
    enum wsess_found found = WSESS_NONE;

    pthread_mutex_lock(&w->lock);
    struct session *s = session_of(w, token);
    if (s != NULL) {
        if (now - s->info.created_ms >= w->lim.max_ms)
            found = WSESS_EXPIRED;
        else if (now - s->info.last_ms >= w->lim.idle_ms)
            found = WSESS_IDLE;
        else
            found = WSESS_LIVE;
        if (found == WSESS_LIVE) {
            s->info.last_ms = now > s->info.last_ms ? now : s->info.last_ms;
            *out = s->info;
        } else {
            end(s);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return found;
}

bool wsess_end(wsess *w, const char *token)
{
    pthread_mutex_lock(&w->lock);
    struct session *s = session_of(w, token);
    if (s != NULL)
        end(s);
    pthread_mutex_unlock(&w->lock);
    return s != NULL;
}

size_t wsess_end_user(wsess *w, const char *user, int64_t now)
{
    size_t n = 0;

    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->lim.max_sessions; i++) {
        struct session *s = &w->sessions[i];
        if (s->used && strcmp(s->info.user, user) == 0) {
            n += now - s->info.created_ms < w->lim.max_ms && now - s->info.last_ms < w->lim.idle_ms;
            end(s);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return n;
}

size_t wsess_count(wsess *w)
{
    size_t n = 0;

    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->lim.max_sessions; i++)
        n += w->sessions[i].used;
    pthread_mutex_unlock(&w->lock);
    return n;
}
