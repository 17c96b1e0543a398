/*
 * wapi — what the web layer's requests mean: the router of /api/v1/ and
 * the pages, sign-in and sessions (wsess.h), CSRF, window operations sent
 * to halld on a person's behalf, lists and reports read on a read-only
 * store, an administrator's changes (hadmin.h) on the caller's admin
 * connection, the big screens' read-only figures by token, and the change
 * feed's held polls (docs/web.md, docs/api.md, docs/dashboard.md).
 *
 * Everything around a request is the caller's, through wapi_ops: reading
 * its headers, cookies and query, the link to halld, the read-only store,
 * the admin connection, holding a poll and waking it. hallweb gives it libmicrohttpd and its
 * threads; the fuzzer (tests/fuzz/fuzz_http.c) gives it the bytes of one
 * request and a fake halld. wapi itself does no network I/O and writes no
 * log: its lines go to ops->log.
 *
 * A request is answered once wapi_route() returns, unless it was held
 * (held && !resumed): then the caller waits for ops->resume and routes
 * it again, which answers it.
 */
#ifndef ONEWINDOW_WAPI_H
#define ONEWINDOW_WAPI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "halld_conf.h"
#include "log.h"
#include "proto.h"
#include "store.h"
#include "wpage.h"

#define WAPI_BODY_MAX   16384            /* a request body; larger is refused (413) */
#define WAPI_UPLOAD_MAX CATALOG_FILE_MAX /* the body of a catalog import */

enum { WAPI_UNCHANGED, WAPI_CHANGED, WAPI_RELOAD };
#define WAPI_ERR_LEN 256 /* a reason from ops->ask_halld */

/* Where a value of a request is (libmicrohttpd's kinds). */
enum wapi_kind { WAPI_HEADER, WAPI_COOKIE, WAPI_QUERY };

typedef struct wapi_ops {
    /* The value of name in the request on conn, NULL if absent. */
    const char *(*lookup)(void *conn, enum wapi_kind kind, const char *name);
    /* Send req to halld (as the gateway device) and wait for its answer,
     * the caller's to proto_free(); NULL with a reason in err
     * (WAPI_ERR_LEN bytes). Called on the request's thread. */
    Hall__Envelope *(*ask_halld)(Hall__Envelope *req, char *err);
    /* This thread's read-only store; NULL with a reason in err. */
    store *(*reader)(char *err, size_t errlen);
    /* Stop reading conn until resume (a held poll); resume may be called
     * from any thread. */
    void (*suspend)(void *conn);
    void (*resume)(void *conn);
    /* The hall's database for an administrator's change (hadmin.h), the
     * caller's alone until admin_end; NULL with a reason in err. admin_end
     * follows every admin_begin that worked: changed is WAPI_UNCHANGED,
     * WAPI_CHANGED (anchor the log's head) or WAPI_RELOAD (that, and tell
     * halld to reload). */
    store *(*admin_begin)(char *err, size_t errlen);
    void (*admin_end)(int changed);
    /* A line for the log (sign-ins, refusals worth a look); may be NULL. */
    void (*log)(enum log_level level, const char *line);
} wapi_ops;

/* One request as it is read and answered. */
typedef struct wapi_request {
    void *conn; /* the caller's, handed back to ops */
    const char *method, *url;
    char addr[64]; /* the person's address, for the throttle and the audit */
    /* The body as it arrives (wapi_body_add), NUL-terminated, up to
     * body_max bytes (wapi_request_start); more is dropped and marked. */
    char *body;
    size_t body_len, body_cap, body_max;
    bool body_too_large;
    bool upload; /* holds one of the catalog import's places */
    /* A held poll of the change feed: answered when routed again after
     * ops->resume. */
    bool held, resumed;
    uint64_t after;
    int64_t hold_until_ms;
    /* The answer: one of the pages, or status and JSON, or status and
     * text (a CSV report: text of text_type, a download named filename
     * when that is not ""; freed by wapi_request_done). */
    const wpage_asset *page;
    unsigned status;
    json_t *json;
    char *text;
    const char *text_type;
    char filename[64];
    char cookie[160]; /* a Set-Cookie value, "" for none */
} wapi_request;

/* Set up (once, before any request): the configuration (borrowed), HTTPS
 * or not, and the operations. -1 with a reason in err. */
int wapi_init(const struct halld_conf *conf, bool https, const wapi_ops *ops, char *err,
              size_t errlen);
/* Wake every held poll (their answers go out) and free what wapi_init
 * made. */
void wapi_shutdown(void);

/* A request's start, once its method, URL and headers are known: how much
 * body it may bring (a catalog import with an administrator's session,
 * while no other runs, up to WAPI_UPLOAD_MAX; anything else
 * WAPI_BODY_MAX). */
void wapi_request_start(wapi_request *r, const char *method, const char *url);
/* More of the body. */
void wapi_body_add(wapi_request *r, const char *data, size_t len);

/* Decide r: fill its answer, or hold it. */
void wapi_route(wapi_request *r);
/* The request's end: what it held is freed, its body wiped. */
void wapi_request_done(wapi_request *r);

/* The change feed: the hall changed (a display push, or a new
 * subscription that may have missed some), and the clock moved on (held
 * polls past their time are answered). Any thread. */
void wapi_feed_changed(void);
/* A display push of the subscription: the latest estimated wait of each
 * area it names is kept for the lists (GET /api/v1/queues, the big
 * screen). Any thread. */
void wapi_feed_estimates(const Hall__DisplayPush *push);
void wapi_feed_tick(int64_t now_ms);

#endif
