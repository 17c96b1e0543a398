/*
 * kpage — the touch page server (see kpage.h for the HTTP interface).
 *
 * libmicrohttpd runs in "external epoll" mode: the loop watches the
 * daemon's epoll fd, every wake-up calls MHD_run(), and one timer (tick)
 * follows MHD_get_timeout() so connection time-outs and buffered work are
 * served even when no fd is ready. Code that changes MHD's view from outside
 * MHD_run() (resuming a held long poll) restarts tick at 0 ms: MHD_run() is
 * not re-entrant, and kpage_changed() may be called from inside the action
 * callback, which itself runs inside MHD_run().
 *
 * A run that closed a connection is followed by another at once (tick at
 * 0 ms). At its connection limit MHD takes the listening socket out of its
 * epoll set, and puts it back only at the start of a later MHD_run(), once
 * a connection has gone. Nothing wakes the loop for that: with no
 * connection left, the epoll fd never becomes readable and MHD asks for no
 * timeout, so without the second run the page would never accept again.
 *
 * A request that needs state across calls of the access handler (a POST
 * body, a held long poll) carries a kreq in MHD's per-request pointer; MHD's
 * completion callback frees it. Plain requests are answered on the first
 * call and need none.
 *
 * What a request gets is decided by kpage_decide(), from the values MHD
 * parsed and without the connection; the access handler only moves bytes
 * and keeps the kreqs.
 *
 * The file is laid out as: assets, answers (kpage_decide), replies and
 * long polls, the access handler, the loop glue, the public functions.
 */
#include "kpage.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The page, embedded at build time by embed.cmake (kpage_assets.c). */
extern const unsigned char kpage_asset_index_html[];
extern const size_t kpage_asset_index_html_len;
extern const unsigned char kpage_asset_page_css[];
extern const size_t kpage_asset_page_css_len;
extern const unsigned char kpage_asset_page_js[];
extern const size_t kpage_asset_page_js_len;

#define MODEL_MAX     (1024 * 1024) /* a screen model is a few KiB */
#define NAME_MAX_LEN  64
#define PARAM_MAX_LEN 256

/* The page's only source of code and style is itself: no inline script,
 * no other origin. */
#define PAGE_CSP                                                                                   \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "                \
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static const struct asset {
    const char *path;
    const char *type;
    const unsigned char *data;
    const size_t *len;
} assets[] = {
    {"/", "text/html; charset=utf-8", kpage_asset_index_html, &kpage_asset_index_html_len},
    {"/page.css", "text/css; charset=utf-8", kpage_asset_page_css, &kpage_asset_page_css_len},
    {"/page.js", "text/javascript; charset=utf-8", kpage_asset_page_js, &kpage_asset_page_js_len},
};
#define NASSETS (sizeof assets / sizeof assets[0])

/*
 * The life of a request that needs a kreq:
 *
 *   (none) --POST /api/action--> BODY --body complete: answered--> DONE
 *   (none) --GET /api/state, nothing newer--> HELD
 *   HELD --kpage_changed() / hold timer (wake)--> WOKEN --model sent--> DONE
 *
 * A HELD request is suspended in MHD and linked in kpage.held (newest
 * first, at most KPAGE_HELD_MAX); nothing else is. MHD's completion
 * callback frees a kreq in any state.
 */
enum kreq_state { KREQ_BODY, KREQ_HELD, KREQ_WOKEN, KREQ_DONE };

struct kreq {
    kpage *page;
    enum kreq_state state;
    struct MHD_Connection *conn;
    struct kreq *prev, *next; /* kpage.held, while HELD */
    ev_timer hold;            /* while HELD: answer with what there is */
    buf body;                 /* while BODY: at most KPAGE_BODY_MAX bytes */
    bool too_big;             /* the body went past KPAGE_BODY_MAX: 413 */
};

struct kpage {
    ev_loop *loop;
    struct MHD_Daemon *mhd;
    int epfd;        /* MHD's epoll fd, watched by the loop */
    char *address;   /* as configured: a name requests may give */
    kpage_site site; /* address and the port listened on */
    kpage_callbacks cb;
    void *arg;
    kpage_ticket_qr_fn *ticket_qr; /* GET /ticket-qr.svg, NULL: none */
    bool allow_remote;
    bool stopping;     /* inside kpage_free: no callbacks any more */
    bool kicked;       /* a connection was resumed or closed: run MHD again soon */
    int hold_ms;       /* how long a long poll is held */
    ev_timer tick;     /* MHD_get_timeout(), or 0 ms after a resume or close */
    struct kreq *held; /* suspended long polls, newest first */
    size_t nheld;
    struct MHD_Response *asset_resp[NASSETS];
};

static void kreq_wake(struct kreq *r);

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* MHD_create_response_from_buffer() takes a non-const pointer, but with
 * MHD_RESPMEM_MUST_COPY it only reads the bytes. */
static void *unconst(const void *p)
{
    union {
        const void *c;
        void *m;
    } u = {.c = p};
    return u.m;
}

/* ---- answers, without a connection (kpage_decide) ---------------------- */

/* {"ok":false,"error":sentence} with status; jansson does the escaping. */
static void answer_error(kpage_answer *a, unsigned status, const char *sentence, const char *allow)
{
    json_t *o = json_pack("{s:b,s:s}", "ok", 0, "error", sentence);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

    buf_clear(&a->body);
    if (text != NULL && buf_append(&a->body, text, strlen(text)) == 0) {
        a->verdict = KPAGE_REPLY;
        a->status = status;
        a->allow = allow;
    } else {
        a->verdict = KPAGE_CLOSE;
    }
    free(text);
    json_decref(o);
}

/* The "seq" member of the model in m; -1 if m is not a JSON object with an
 * integer seq >= 0. */
static long long model_seq(const buf *m)
{
    json_t *root = json_loadb((const char *)buf_rdata(m), buf_rlen(m), 0, NULL);
    json_t *seq = json_object_get(root, "seq");
    long long v = json_is_integer(seq) ? (long long)json_integer_value(seq) : -1;

    json_decref(root);
    return v < 0 ? -1 : v;
}

/* The ?after= argument s: absent or empty -> *has false; not a whole
 * number -> -1. */
static int parse_after(const char *s, bool *has, long long *after)
{
    char *end;

    *has = false;
    if (s == NULL || *s == '\0')
        return 0;
    errno = 0;
    *after = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *has = true;
    return 0;
}

/* ---- who may ask ---- */

/* name[0..len) is one of site's names: its address as configured (an IPv6
 * literal in brackets) or the loopback names the kiosk's own browser may
 * use. Names are compared without regard to case. */
static bool name_is_site(const kpage_site *site, const char *name, size_t len)
{
    static const char *const loopback[] = {"localhost", "127.0.0.1", "[::1]"};
    const char *a = site->address != NULL ? site->address : "";
    size_t alen = strlen(a);

    for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++)
        if (strlen(loopback[i]) == len && strncasecmp(name, loopback[i], len) == 0)
            return true;
    if (alen == 0)
        return false;
    if (strchr(a, ':') != NULL)
        return len == alen + 2 && name[0] == '[' && name[len - 1] == ']' &&
               strncasecmp(name + 1, a, alen) == 0;
    return len == alen && strncasecmp(name, a, alen) == 0;
}

bool kpage_host_is_site(const kpage_site *site, const char *host)
{
    char want[16];
    const char *port;
    size_t len;

    if (site == NULL || host == NULL || host[0] == '\0')
        return false;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (close == NULL)
            return false;
        len = (size_t)(close - host) + 1;
    } else {
        len = strcspn(host, ":");
    }
    port = host + len;
    if (port[0] == '\0') {
        if (site->port != 80)
            return false;
    } else {
        snprintf(want, sizeof want, "%d", site->port);
        if (port[0] != ':' || strcmp(port + 1, want) != 0)
            return false;
    }
    return name_is_site(site, host, len);
}

bool kpage_origin_is_site(const kpage_site *site, const char *origin)
{
    static const char scheme[] = "http://";

    return origin != NULL && strncasecmp(origin, scheme, sizeof scheme - 1) == 0 &&
           kpage_host_is_site(site, origin + sizeof scheme - 1);
}

/* application/json, with parameters (charset=utf-8) or without. */
static bool is_json_type(const char *s)
{
    static const char json[] = "application/json";

    if (s == NULL)
        return false;
    s += strspn(s, " \t");
    if (strncasecmp(s, json, sizeof json - 1) != 0)
        return false;
    s += sizeof json - 1;
    s += strspn(s, " \t");
    return s[0] == '\0' || s[0] == ';';
}

/* ---- the routes ---- */

/* GET /api/state: the model at once, or held when it is not newer than
 * after=. */
static void answer_state(const kpage_callbacks *cb, void *arg, const kpage_request *req,
                         kpage_answer *a)
{
    bool has_after;
    long long after = 0, seq;

    if (parse_after(req->after, &has_after, &after) != 0) {
        answer_error(a, MHD_HTTP_BAD_REQUEST, "after= must be a whole number.", NULL);
        return;
    }
    seq = cb->state(arg, &a->body) == 0 ? model_seq(&a->body) : -1;
    if (seq < 0) {
        answer_error(a, MHD_HTTP_INTERNAL_SERVER_ERROR,
                     "The kiosk has no screen to show right now.", NULL);
        return;
    }
    a->verdict = has_after && seq <= after ? KPAGE_HOLD : KPAGE_REPLY;
    a->status = MHD_HTTP_OK;
}

/* A Content-Length over KPAGE_BODY_MAX (or unreadable) is refused before
 * the body is read. */
static bool declared_too_big(const char *s)
{
    char *end;
    unsigned long long n;

    if (s == NULL)
        return false;
    errno = 0;
    n = strtoull(s, &end, 10);
    return errno != 0 || *end != '\0' || n > KPAGE_BODY_MAX;
}

/* Parse {"name":"...","param":"..."}; a sentence in why when it is not
 * that. The strings stay owned by *root. */
static int parse_action(const void *body, size_t len, json_t **root, const char **name,
                        const char **param, const char **why)
{
    json_t *n, *pa;

    *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(*root)) {
        *why = "The action must be a JSON object {\"name\":...,\"param\":...}.";
        return -1;
    }
    n = json_object_get(*root, "name");
    pa = json_object_get(*root, "param");
    if (!json_is_string(n) || json_string_length(n) == 0 || json_string_length(n) > NAME_MAX_LEN) {
        *why = "The action needs a name (a string of 1 to 64 bytes).";
        return -1;
    }
    if (pa != NULL && !json_is_null(pa) &&
        (!json_is_string(pa) || json_string_length(pa) > PARAM_MAX_LEN)) {
        *why = "The action's param must be a string of at most 256 bytes.";
        return -1;
    }
    *name = json_string_value(n);
    *param = json_is_string(pa) ? json_string_value(pa) : "";
    return 0;
}

/* POST /api/action: first the declared length, then the body. */
static void answer_action(const kpage_callbacks *cb, void *arg, const kpage_request *req,
                          kpage_answer *a)
{
    static const char ok[] = "{\"ok\":true}";
    json_t *root = NULL;
    const char *name, *param, *why;
    char err[256] = "";

    /* A form or text/plain is what another site can post without asking
     * first; an action never comes that way. */
    if (!is_json_type(req->content_type)) {
        answer_error(a, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                     "An action must be sent as Content-Type: application/json.", NULL);
        return;
    }
    if (!req->body_read) {
        if (declared_too_big(req->content_length))
            answer_error(a, MHD_HTTP_CONTENT_TOO_LARGE, "The request body is larger than 4 KiB.",
                         NULL);
        else
            a->verdict = KPAGE_READ_BODY;
        return;
    }
    if (req->body_too_big) {
        answer_error(a, MHD_HTTP_CONTENT_TOO_LARGE, "The request body is larger than 4 KiB.", NULL);
        return;
    }
    if (parse_action(req->body, req->body_len, &root, &name, &param, &why) != 0) {
        answer_error(a, MHD_HTTP_BAD_REQUEST, why, NULL);
    } else if (cb->action(arg, name, param, err, sizeof err) == 0) {
        if (buf_append(&a->body, ok, sizeof ok - 1) == 0) {
            a->verdict = KPAGE_REPLY;
            a->status = MHD_HTTP_OK;
        } else {
            a->verdict = KPAGE_CLOSE;
        }
    } else {
        /* A refusal is an answer, not an HTTP error: the page shows it. */
        answer_error(a, MHD_HTTP_OK,
                     err[0] != '\0' ? err : "操作未完成，请重试。 That did not work, try again.",
                     NULL);
    }
    json_decref(root);
}

static bool is_get(const char *method)
{
    return strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

void kpage_decide(const kpage_callbacks *cb, void *arg, const kpage_site *site,
                  const kpage_request *req, kpage_answer *out)
{
    memset(out, 0, sizeof *out);
    buf_init(&out->body, MODEL_MAX);
    /* Who asks comes before what: a page of another site, or one reached
     * through another name for this address (DNS rebinding), learns
     * nothing, not even which paths exist. No answer grants CORS. */
    if (!kpage_host_is_site(site, req->host)) {
        answer_error(out, MHD_HTTP_FORBIDDEN,
                     "This is the kiosk's own page: it answers only to the kiosk's own address.",
                     NULL);
        return;
    }
    if (req->origin != NULL && !kpage_origin_is_site(site, req->origin)) {
        answer_error(out, MHD_HTTP_FORBIDDEN,
                     "Requests from other sites are refused: only the kiosk's own page may ask.",
                     NULL);
        return;
    }
    if (strcmp(req->method, MHD_HTTP_METHOD_OPTIONS) == 0) {
        answer_error(out, MHD_HTTP_FORBIDDEN,
                     "The kiosk's page grants no access to other sites (no CORS).", NULL);
        return;
    }
    if (strcmp(req->url, "/api/action") == 0) {
        if (strcmp(req->method, MHD_HTTP_METHOD_POST) != 0)
            answer_error(out, MHD_HTTP_METHOD_NOT_ALLOWED, "Actions are POSTed.", "POST");
        else
            answer_action(cb, arg, req, out);
        return;
    }
    if (strcmp(req->url, "/ticket-qr.svg") == 0) {
        if (!is_get(req->method))
            answer_error(out, MHD_HTTP_METHOD_NOT_ALLOWED, "The QR code is read with GET.",
                         "GET, HEAD");
        else
            out->verdict = KPAGE_TICKET_QR;
        return;
    }
    if (strcmp(req->url, "/api/state") == 0) {
        if (!is_get(req->method))
            answer_error(out, MHD_HTTP_METHOD_NOT_ALLOWED, "The state is read with GET.",
                         "GET, HEAD");
        else
            answer_state(cb, arg, req, out);
        return;
    }
    for (size_t i = 0; i < NASSETS; i++) {
        if (strcmp(req->url, assets[i].path) != 0)
            continue;
        if (!is_get(req->method)) {
            answer_error(out, MHD_HTTP_METHOD_NOT_ALLOWED, "The page is read with GET.",
                         "GET, HEAD");
        } else {
            out->verdict = KPAGE_ASSET;
            out->asset = i;
        }
        return;
    }
    answer_error(out, MHD_HTTP_NOT_FOUND, "There is nothing at this address.", NULL);
}

/* ---- replies and long polls ------------------------------------------- */

static void add_common_headers(struct MHD_Response *resp, const char *type)
{
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

/* A JSON reply. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const buf *body,
                             const char *allow, const char *type)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        buf_rlen(body), unconst(buf_rdata(body)), MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc;

    if (resp == NULL)
        return MHD_NO;
    add_common_headers(resp, type);
    if (allow != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static void kreq_unlink(struct kreq *r)
{
    kpage *p = r->page;

    assert(p->nheld > 0);
    p->nheld--;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        p->held = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

/* MHD_run() must follow a resume; MHD_get_timeout() does not know. */
static void kick(kpage *p)
{
    p->kicked = true;
    /* ENOMEM here leaves MHD to the next fd event; nothing better to do. */
    (void)ev_timer_start(p->loop, &p->tick, 0);
}

static void on_hold_timeout(ev_loop *loop, ev_timer *t, void *arg)
{
    (void)loop, (void)t;
    kreq_wake(arg);
}

/* HELD -> WOKEN: MHD calls the access handler again, which answers. */
static void kreq_wake(struct kreq *r)
{
    assert(r->state == KREQ_HELD);
    kreq_unlink(r);
    ev_timer_stop(r->page->loop, &r->hold);
    r->state = KREQ_WOKEN;
    MHD_resume_connection(r->conn);
    kick(r->page);
}

/* Nothing newer than what the page has: hold the request. Without memory
 * for that, answering at once with the model a holds is still correct. */
static enum MHD_Result hold(kpage *p, struct MHD_Connection *conn, const kpage_answer *a,
                            void **con_cls)
{
    struct kreq *r;

    /* The oldest held poll is the likeliest to have lost its page (a
     * reload, a closed tab: a suspended connection is not watched); if
     * its page is still there, it gets the model and asks again. */
    if (p->nheld >= KPAGE_HELD_MAX) {
        struct kreq *oldest = p->held;
        while (oldest->next != NULL)
            oldest = oldest->next;
        kreq_wake(oldest);
    }
    r = calloc(1, sizeof *r);
    if (r != NULL) {
        r->page = p;
        r->conn = conn;
        ev_timer_init(&r->hold, on_hold_timeout, r);
        if (ev_timer_start(p->loop, &r->hold, p->hold_ms) != 0) {
            free(r);
            r = NULL;
        }
    }
    if (r == NULL)
        return reply(conn, a->status, &a->body, NULL, "application/json");
    r->state = KREQ_HELD;
    r->next = p->held;
    if (p->held != NULL)
        p->held->prev = r;
    p->held = r;
    p->nheld++;
    *con_cls = r;
    MHD_suspend_connection(conn);
    return MHD_YES;
}

/* POST /api/action: a kreq collects the body across the handler's calls. */
static enum MHD_Result start_body(kpage *p, struct MHD_Connection *conn, void **con_cls)
{
    struct kreq *r = calloc(1, sizeof *r);

    if (r == NULL)
        return MHD_NO;
    r->page = p;
    r->conn = conn;
    r->state = KREQ_BODY;
    ev_timer_init(&r->hold, on_hold_timeout, r);
    buf_init(&r->body, KPAGE_BODY_MAX);
    *con_cls = r;
    return MHD_YES;
}

/* ---- the access handler ----------------------------------------------- */

/* The shown ticket's QR code, or a 404 sentence when there is none. */
static enum MHD_Result send_ticket_qr(kpage *p, struct MHD_Connection *conn)
{
    kpage_answer a = {.verdict = KPAGE_REPLY};
    enum MHD_Result rc;

    buf_init(&a.body, MODEL_MAX);
    if (p->ticket_qr != NULL && p->ticket_qr(p->arg, &a.body) == 0) {
        rc = reply(conn, MHD_HTTP_OK, &a.body, NULL, "image/svg+xml");
    } else {
        answer_error(&a, MHD_HTTP_NOT_FOUND, "No ticket with a QR code is shown now.", NULL);
        rc = a.verdict == KPAGE_REPLY ? reply(conn, a.status, &a.body, NULL, "application/json")
                                      : MHD_NO;
    }
    buf_release(&a.body);
    return rc;
}

static enum MHD_Result send_answer(kpage *p, struct MHD_Connection *conn, const kpage_answer *a,
                                   void **con_cls)
{
    switch (a->verdict) {
    case KPAGE_REPLY:
        return reply(conn, a->status, &a->body, a->allow, "application/json");
    case KPAGE_TICKET_QR:
        return send_ticket_qr(p, conn);
    case KPAGE_ASSET:
        return MHD_queue_response(conn, MHD_HTTP_OK, p->asset_resp[a->asset]);
    case KPAGE_READ_BODY:
        return start_body(p, conn, con_cls);
    case KPAGE_HOLD:
        return hold(p, conn, a, con_cls);
    case KPAGE_CLOSE:
        break;
    }
    return MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    kpage *p = cls;
    struct kreq *r = *con_cls;
    kpage_request req = {.method = method, .url = url};
    kpage_answer a;
    enum MHD_Result rc;

    (void)version;
    if (p->stopping)
        return MHD_NO;
    req.host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    req.origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN);
    req.content_type =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (r != NULL && r->state == KREQ_BODY && *upload_size != 0) {
        /* A body without a Content-Length (chunked) is cut off here: the
         * rest is read and dropped, and the answer is 413. */
        if (!r->too_big && buf_append(&r->body, upload, *upload_size) != 0) {
            r->too_big = true;
            buf_release(&r->body);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r == NULL) {
        req.after = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "after");
        req.content_length =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    } else if (r->state == KREQ_BODY) {
        req.body_read = true;
        req.body = buf_rdata(&r->body);
        req.body_len = buf_rlen(&r->body);
        req.body_too_big = r->too_big;
    }
    /* Otherwise a woken long poll: without after=, it gets the model as
     * it is now. */
    if (r != NULL)
        r->state = KREQ_DONE;
    kpage_decide(&p->cb, p->arg, &p->site, &req, &a);
    rc = send_answer(p, conn, &a, con_cls);
    buf_release(&a.body);
    return rc;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct kreq *r = *con_cls;

    (void)cls, (void)conn, (void)toe;
    if (r == NULL)
        return;
    if (r->state == KREQ_HELD)
        kreq_unlink(r);
    ev_timer_stop(r->page->loop, &r->hold);
    buf_release(&r->body);
    free(r);
    *con_cls = NULL;
}

bool kpage_peer_is_loopback(const struct sockaddr *sa)
{
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        const uint8_t *a = in6->sin6_addr.s6_addr;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && a[12] == 127;
    }
    return false;
}

/* A connection closed: run MHD again (see the top of the file). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    kpage *p = cls;

    (void)conn, (void)socket_context;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED)
        p->kicked = true;
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    kpage *p = cls;

    (void)addrlen;
    return p->allow_remote || kpage_peer_is_loopback(addr) ? MHD_YES : MHD_NO;
}

/* ---- the loop glue ---------------------------------------------------- */

static void service(kpage *p)
{
    MHD_UNSIGNED_LONG_LONG ms;

    p->kicked = false;
    MHD_run(p->mhd);
    /* A resume from inside this run (kpage_changed() in the action
     * callback), or a connection closed by it, needs another run at once. */
    if (p->kicked)
        (void)ev_timer_start(p->loop, &p->tick, 0);
    else if (MHD_get_timeout(p->mhd, &ms) == MHD_YES)
        (void)ev_timer_start(p->loop, &p->tick, ms > INT_MAX ? INT_MAX : (int64_t)ms);
    else
        ev_timer_stop(p->loop, &p->tick);
}

static void on_epoll(ev_loop *loop, int fd, int events, void *arg)
{
    (void)loop, (void)fd, (void)events;
    service(arg);
}

static void on_tick(ev_loop *loop, ev_timer *t, void *arg)
{
    (void)loop, (void)t;
    service(arg);
}

/* ---- public ----------------------------------------------------------- */

/* Resolve host for listening; the first address wins. */
static int resolve(const char *host, int port, struct sockaddr_storage *ss, char *err,
                   size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char service_name[16];
    int rc;

    snprintf(service_name, sizeof service_name, "%d", port);
    rc = getaddrinfo(host, service_name, &hints, &res);
    if (rc != 0 || res == NULL || res->ai_addrlen > sizeof *ss) {
        set_err(err, errlen, "cannot serve the page on %s: %s", host,
                rc != 0 ? gai_strerror(rc) : "no usable address");
        if (res != NULL)
            freeaddrinfo(res);
        errno = EINVAL;
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

static int make_asset_responses(kpage *p)
{
    size_t i;

    for (i = 0; i < NASSETS; i++) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            *assets[i].len, unconst(assets[i].data), MHD_RESPMEM_PERSISTENT);
        if (resp == NULL)
            return -1;
        add_common_headers(resp, assets[i].type);
        MHD_add_response_header(resp, "Content-Security-Policy", PAGE_CSP);
        p->asset_resp[i] = resp;
    }
    return 0;
}

kpage *kpage_new(ev_loop *loop, const char *host, int port, const kpage_callbacks *cb, void *arg,
                 char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    const union MHD_DaemonInfo *info;
    unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    kpage *p;

    if (loop == NULL || cb == NULL || cb->state == NULL || cb->action == NULL || port < 0 ||
        port > 65535) {
        set_err(err, errlen, "kpage_new: a loop, both callbacks and a port 0..65535 are needed");
        errno = EINVAL;
        return NULL;
    }
    if (host == NULL || *host == '\0')
        host = "127.0.0.1";
    if (resolve(host, port, &ss, err, errlen) != 0)
        return NULL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    p = calloc(1, sizeof *p);
    if (p == NULL) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    p->loop = loop;
    p->address = strdup(host);
    p->cb = *cb;
    p->arg = arg;
    p->epfd = -1;
    p->hold_ms = KPAGE_HOLD_MS;
    ev_timer_init(&p->tick, on_tick, p);
    if (p->address == NULL || make_asset_responses(p) != 0) {
        set_err(err, errlen, "out of memory");
        kpage_free(p);
        errno = ENOMEM;
        return NULL;
    }
    errno = 0;
    p->mhd = MHD_start_daemon(
        flags, (uint16_t)port, on_accept, p, on_request, p, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, p,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, p, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)KPAGE_CONNECTIONS_MAX, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned int)KPAGE_PEER_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)KPAGE_IDLE_TIMEOUT_S, MHD_OPTION_END);
    if (p->mhd == NULL) {
        int e = errno != 0 ? errno : EADDRNOTAVAIL;
        set_err(err, errlen, "cannot serve the page on %s port %d: %s", host, port, strerror(e));
        kpage_free(p);
        errno = e;
        return NULL;
    }
    info = MHD_get_daemon_info(p->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    p->epfd = info != NULL ? info->epoll_fd : -1;
    info = MHD_get_daemon_info(p->mhd, MHD_DAEMON_INFO_BIND_PORT);
    p->site.address = p->address;
    p->site.port = info != NULL ? info->port : port;
    if (p->epfd < 0 || ev_fd_set(loop, p->epfd, EV_READ, on_epoll, p) != 0) {
        int e = p->epfd < 0 ? EINVAL : errno;
        set_err(err, errlen, "cannot watch the page server: %s", strerror(e));
        p->epfd = -1;
        kpage_free(p);
        errno = e;
        return NULL;
    }
    return p;
}

int kpage_port(const kpage *p)
{
    return p->site.port;
}

void kpage_changed(kpage *p)
{
    while (p->held != NULL)
        kreq_wake(p->held);
}

void kpage_allow_remote(kpage *p, bool allow)
{
    p->allow_remote = allow;
}

void kpage_set_ticket_qr(kpage *p, kpage_ticket_qr_fn *fn)
{
    p->ticket_qr = fn;
}

void kpage_set_hold_ms(kpage *p, int ms)
{
    p->hold_ms = ms < 0 ? 0 : ms;
}

void kpage_free(kpage *p)
{
    size_t i;

    if (p == NULL)
        return;
    p->stopping = true;
    /* MHD must not be stopped with suspended connections. */
    while (p->held != NULL)
        kreq_wake(p->held);
    if (p->epfd >= 0)
        ev_fd_del(p->loop, p->epfd);
    ev_timer_stop(p->loop, &p->tick);
    if (p->mhd != NULL)
        MHD_stop_daemon(p->mhd);
    for (i = 0; i < NASSETS; i++)
        if (p->asset_resp[i] != NULL)
            MHD_destroy_response(p->asset_resp[i]);
    free(p->address);
    free(p);
}
