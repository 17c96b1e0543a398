/*
 * kpage — the kiosk's touch page: a small HTTP server (libmicrohttpd) that
 * serves the page a full-screen browser shows, hands it the screen model and
 * passes the citizen's taps back to the kiosk.
 *
 * The server runs on the caller's ev_loop: libmicrohttpd is started without
 * threads of its own, in epoll mode; the loop watches its epoll fd and a
 * timer follows MHD_get_timeout(). kpage knows nothing of tickets: the
 * screen model comes from the state callback as JSON bytes that kpage only
 * copies (it reads the "seq" member to answer long polls), and actions go
 * to the action callback by name.
 *
 * HTTP:
 *   GET  /, /page.css, /page.js   the page, embedded in the binary
 *   GET  /api/state?after=SEQ     the model at once when its seq > SEQ (or
 *                                 without after=); otherwise held (long
 *                                 poll) until kpage_changed() or the hold
 *                                 time (kpage_set_hold_ms) passes, then the
 *                                 model as it is
 *   GET  /ticket-qr.svg?seq=N     the QR code of the ticket shown, as SVG (the
 *                                 kpage_set_ticket_qr; 404 without one); seq
 *                                 only makes each ticket's address new
 *   POST /api/action              {"name":"...","param":"..."} ->
 *                                 {"ok":true} or {"ok":false,"error":"..."}
 *                                 (400 with a sentence for a malformed body,
 *                                 413 for a body over KPAGE_BODY_MAX)
 *   anything else                 404 (405 for a known path with the wrong
 *                                 method)
 * Only loopback peers are served (403 otherwise) unless kpage_allow_remote().
 *
 * Only the kiosk's own page may use it (docs/kiosk.md, "Who may use the
 * page"): every request must name the page by its Host (the configured
 * address, localhost, 127.0.0.1 or [::1], with the page's port), an Origin
 * when there is one must be http:// and such a host, and an action must be
 * Content-Type: application/json. Anything else is refused with a JSON
 * sentence (403, 415 for the type) and no Access-Control-Allow-* header;
 * OPTIONS (a CORS preflight) is always refused, so another site can never
 * make a browser send an action.
 *
 * Limits (a flood of connections is shed, never the page): at most
 * KPAGE_CONNECTIONS_MAX connections in all (more wait in the kernel's
 * queue and are taken as slots free), KPAGE_PEER_CONNECTIONS_MAX from one
 * address (more are closed at once), KPAGE_IDLE_TIMEOUT_S of silence on
 * one, and KPAGE_HELD_MAX long polls held (a new one answers the oldest).
 *
 * Functions that can fail return -1/NULL with errno and a sentence in err;
 * none prints or exits.
 */
#ifndef ONEWINDOW_KPAGE_H
#define ONEWINDOW_KPAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "buf.h"
#include "ev.h"

/* The largest request body accepted (an action is a few dozen bytes). */
#define KPAGE_BODY_MAX 4096
/* How long a long poll is held when nothing changes. */
#define KPAGE_HOLD_MS 25000
/* Connections served at once; the kiosk's browser needs a handful. */
#define KPAGE_CONNECTIONS_MAX 64
/* Connections from one peer address at once. */
#define KPAGE_PEER_CONNECTIONS_MAX 32
/* A connection silent this long is closed (a held long poll is not
 * silent: it waits for the kiosk, at most the hold time). */
#define KPAGE_IDLE_TIMEOUT_S 15
/* Long polls held at once; one more answers the oldest at once (its page
 * asks again). Below KPAGE_PEER_CONNECTIONS_MAX, so abandoned polls never
 * take every slot a peer has. */
#define KPAGE_HELD_MAX 16

typedef struct kpage kpage;

typedef struct kpage_callbacks {
    /* Append the screen model (a JSON object with an integer "seq" that
     * grows with every change, docs/kiosk.md) to out. 0 or -1. */
    int (*state)(void *arg, buf *out);
    /* A citizen's action from the page. 0 when accepted (the state changes
     * and kpage_changed() follows), -1 with a sentence in err (shown). */
    int (*action)(void *arg, const char *name, const char *param, char *err, size_t errlen);
} kpage_callbacks;

/* Append the SVG of the shown ticket's QR code to out: 0, or -1 when there
 * is none (404). */
typedef int kpage_ticket_qr_fn(void *arg, buf *out);

/* Serve the page on host:port (127.0.0.1 on a kiosk; port 0 picks one,
 * kpage_port() tells) from the loop's thread (libmicrohttpd with an
 * external epoll fd watched by the loop, no threads of its own). host, as
 * written, is also a name requests may give in Host and Origin. NULL with
 * errno and a sentence in err when the address cannot be used. */
kpage *kpage_new(ev_loop *loop, const char *host, int port, const kpage_callbacks *cb, void *arg,
                 char *err, size_t errlen);
int kpage_port(const kpage *p);
/* The model changed: answer the waiting long-polls. Safe from inside the
 * action callback. */
void kpage_changed(kpage *p);
/* Stops the server; waiting long polls are dropped. Not from inside a
 * kpage callback. NULL is fine. */
void kpage_free(kpage *p);

/* Where GET /ticket-qr.svg gets its SVG (called with the callbacks' arg);
 * without one it answers 404. */
void kpage_set_ticket_qr(kpage *p, kpage_ticket_qr_fn *fn);
/* Serve peers that are not on loopback too (a kiosk configured to be
 * watched from the hall's network). Off by default. */
void kpage_allow_remote(kpage *p, bool allow);
/* How long a long poll is held (KPAGE_HOLD_MS by default; tests shorten
 * it). Applies to polls that arrive afterwards. */
void kpage_set_hold_ms(kpage *p, int ms);
/* The rule kpage applies to a peer: true for 127.0.0.0/8, ::1 and
 * IPv4-mapped 127.0.0.0/8. */
bool kpage_peer_is_loopback(const struct sockaddr *sa);

/*
 * The answer to a request, decided without a connection. The server's
 * access handler hands over what libmicrohttpd parsed and sends what
 * kpage_decide() decides; tests and the fuzz harness call it directly,
 * with no daemon and no socket.
 */
/* Who the page is: what a request's Host and Origin must name. */
typedef struct kpage_site {
    const char *address; /* the configured listen address, a name or an IP literal */
    int port;            /* the port the page listens on */
} kpage_site;

typedef struct kpage_request {
    const char *method;         /* "GET", "HEAD", "POST", ... */
    const char *url;            /* the path, without the query */
    const char *after;          /* the after= argument, NULL when absent */
    const char *content_length; /* the Content-Length header, NULL when absent */
    const char *content_type;   /* the Content-Type header, NULL when absent */
    const char *host;           /* the Host header, NULL when absent */
    const char *origin;         /* the Origin header, NULL when absent */
    bool body_read;             /* the whole body was read: body, body_len, body_too_big */
    const void *body;           /* the first KPAGE_BODY_MAX bytes at most */
    size_t body_len;
    bool body_too_big; /* the body went past KPAGE_BODY_MAX (the rest was dropped) */
} kpage_request;

typedef enum kpage_verdict {
    KPAGE_REPLY,     /* send status and the JSON body (and Allow, when allow is set) */
    KPAGE_ASSET,     /* send one of the page's files (asset), 200 */
    KPAGE_READ_BODY, /* read the body, then ask again with body_read */
    KPAGE_HOLD,      /* a long poll with nothing newer: hold it (body: the model, 200, to
                        send at once if it cannot be held) */
    KPAGE_CLOSE,     /* no memory for an answer: close the connection */
    KPAGE_TICKET_QR, /* send the shown ticket's QR code (image/svg+xml), 404 without one */
} kpage_verdict;

typedef struct kpage_answer {
    kpage_verdict verdict;
    unsigned status;   /* KPAGE_REPLY, KPAGE_HOLD: the HTTP status */
    const char *allow; /* KPAGE_REPLY: the Allow header (a 405), or NULL */
    size_t asset;      /* KPAGE_ASSET: which of the page's files */
    buf body;          /* KPAGE_REPLY, KPAGE_HOLD: JSON */
} kpage_answer;

/* Decide the answer to req for the page of site as the HTTP section above
 * describes, calling cb->state (GET /api/state) or cb->action (a POST
 * /api/action whose body was read) with arg. out->body is set up here,
 * even for verdicts without a body; the caller releases it with
 * buf_release(). */
void kpage_decide(const kpage_callbacks *cb, void *arg, const kpage_site *site,
                  const kpage_request *req, kpage_answer *out);
/* Whether a Host header value names site: one of its names (its address
 * as configured, localhost, 127.0.0.1, [::1]; letters in any case) and
 * ":port", which may be left out only when the port is 80. */
bool kpage_host_is_site(const kpage_site *site, const char *host);
/* Whether an Origin header value is site's: "http://" and a host that
 * kpage_host_is_site() accepts, nothing after it. */
bool kpage_origin_is_site(const kpage_site *site, const char *origin);

#endif
