/*
 * webfixture — the real hallweb in front of a hallfixture hall, and a
 * small HTTP/1.1 client for tests of the web layer: one request per
 * connection, cookies and headers by hand, so each test says exactly what
 * a browser (or an attacker) would send.
 */
#ifndef ONEWINDOW_WEBFIXTURE_H
#define ONEWINDOW_WEBFIXTURE_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "hallfixture.h"

typedef struct webfix {
    hallfix *hall;
    pid_t pid;
    int port;
    char log[1100];
} webfix;

/* Register the gateway device "web-1" (hallctl device add --type web) and
 * start hallweb on the running halld of f; waits until it listens. The
 * hall's [web] port must be 0 (fix_init's extra_conf). */
void web_start(webfix *w, hallfix *f);
void web_stop(webfix *w);
/* Start hallweb without waiting or registering anything: its pid (tests
 * of a refused start wait for it themselves). */
pid_t web_spawn(webfix *w, hallfix *f);

/* Add a user with a password (hallctl user add --password-stdin); the
 * exit status of hallctl. clerk may be NULL. */
int web_add_user(hallfix *f, const char *name, const char *role, const char *clerk,
                 const char *password);

typedef struct web_resp {
    int status;
    char set_cookie[300]; /* the Set-Cookie header as sent, "" if none */
    char session[64];     /* the ow_session value it set, "" if none or cleared */
    char *body;
    json_t *json;           /* the body parsed, NULL if it is not JSON */
    char content_type[100]; /* the Content-Type header, "" if none */
    char disposition[160];  /* the Content-Disposition header, "" if none */
} web_resp;

/* One request. cookie: the ow_session value to send (NULL: none); csrf:
 * X-CSRF-Token (NULL: none); headers: more header lines, each ending in
 * "\r\n" (NULL: none); body: sent as application/json unless headers
 * name another Content-Type (NULL: no body). */
web_resp web_req(webfix *w, const char *method, const char *path, const char *cookie,
                 const char *csrf, const char *headers, const char *body);
void web_resp_free(web_resp *r);
/* One request over HTTPS, verifying hallweb's certificate against ca for
 * the name localhost. status -1 when no TLS session could be made. */
web_resp web_req_tls(webfix *w, const char *ca, const char *method, const char *path,
                     const char *cookie, const char *csrf, const char *body);
/* web_req in two halves, for a request that is held (a long poll, a read
 * held by a test hook): send it, and later read its answer (the socket
 * waits up to 60 s). */
int web_send(webfix *w, const char *method, const char *path, const char *cookie, const char *csrf,
             const char *headers, const char *body);
web_resp web_recv(int fd);
/* True if fd has an answer (or was closed) within timeout_ms. */
bool web_answered(int fd, int timeout_ms);

/* Sign in; fails the test unless it works. The session's cookie value and
 * CSRF token are copied out. */
void web_sign_in(webfix *w, const char *user, const char *password, char session[64],
                 char csrf[64]);

/* The error code of an error answer ("ERR_..."), "" if none. */
const char *web_error_code(const web_resp *r);

#endif
