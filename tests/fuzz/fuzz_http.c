/*
 * fuzz_http — libFuzzer target for the web layer's request handling
 * (controller/web/wapi.c): wapi_route(), the function hallweb's
 * libmicrohttpd handler hands every request to, driven without a daemon,
 * against a real store (a hall made once in a scratch directory: one area,
 * two windows, clerks, three users; read-only for lists, written by the
 * admin API as hallweb writes it) and a fake halld that answers as the
 * real one would, or refuses, or is away.
 *
 * Input: one flags byte, then a request as text:
 *
 *   flags METHOD SP TARGET LF (NAME ": " VALUE LF)* LF BODY...
 *
 * TARGET is a path with an optional ?query. In the header lines and the
 * body, @S@ and @C@ stand for a signed-in clerk's session cookie value and
 * CSRF token, @A@ and @D@ for an administrator's: before each input, a
 * session that an earlier input ended is signed in again through wapi.
 * Flags: bit 0 halld refuses every request it is sent (an ERROR; bits 2-3
 * choose its code), bit 1 halld is away (no answer), bit 4 the store
 * cannot be opened.
 *
 * Promises checked (docs/web.md, docs/api.md, wapi.h):
 *   - every request is answered: a page, or a status of 200..599 with a
 *     JSON body; a held poll is answered once the feed moves;
 *   - every refusal (>= 400) is {"error":{"code","message":{"zh","en"}}}
 *     with a code and two non-empty sentences;
 *   - a Set-Cookie is only the session cookie, HttpOnly, Secure and
 *     SameSite=Strict, never with anything else in its value;
 *   - a write that halld ran (a window operation answered 200) carried a
 *     session's cookie and that session's own CSRF token; anything halld
 *     is sent on a person's behalf names a user that exists;
 *   - every admin change that took the database ended its turn with it;
 *   - no memory is lost (LeakSanitizer).
 * Any broken promise aborts.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzzsupport.h"
#include "halld_conf.h"
#include "pwhash.h"
#include "store.h"
#include "wapi.h"

#define F_REFUSE     0x01
#define F_AWAY       0x02
#define F_CODE_SHIFT 2
#define F_NO_STORE   0x10

#define HEADERS_MAX 32
#define TEXT_MAX    (WAPI_BODY_MAX + 4096)

/* One fuzzed request: what wapi reads through lookup. */
struct req {
    char method[16];
    char path[512];
    const char *query; /* after '?', or NULL */
    char *names[HEADERS_MAX], *values[HEADERS_MAX];
    int nheaders;
    char cookies[1024]; /* the Cookie header's a=b pairs, split by "; " */
};

static struct {
    bool ready;
    struct halld_conf conf;
    store *rd;
    store *admin; /* the admin API's writes */
    bool admin_held;
    uint8_t flags;
    bool held, woken;
    char clerk_session[64], clerk_csrf[64], admin_session[64], admin_csrf[64];
    int sent_for_person; /* requests halld was sent on someone's behalf */
} F;

/* ---- The fake halld and the store ------------------------------------------------ */

static Hall__Envelope *unpacked(const Hall__Envelope *env)
{
    uint8_t buf[4096];
    size_t n = hall__envelope__get_packed_size(env);

    FZ_CHECK(n <= sizeof buf);
    hall__envelope__pack(env, buf);
    Hall__Envelope *copy = hall__envelope__unpack(NULL, n, buf);
    FZ_CHECK(copy != NULL);
    return copy;
}

static Hall__Envelope *fake_halld(Hall__Envelope *req, char *err)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__Error error = HALL__ERROR__INIT;
    Hall__WindowReply wr = HALL__WINDOW_REPLY__INIT;
    Hall__Ticket t = HALL__TICKET__INIT;
    Hall__WebEventReply ev = HALL__WEB_EVENT_REPLY__INIT;
    char message[] = "refused by the fake halld", number[] = "A007", area[] = "intake", none[] = "",
         masked[] = "张*", kiosk[] = "kiosk-1", reason[] = "longest wait";
    static const Hall__ErrorCode codes[] = {
        HALL__ERROR_CODE__ERR_FORBIDDEN, HALL__ERROR_CODE__ERR_QUEUE_EMPTY,
        HALL__ERROR_CODE__ERR_UNAVAILABLE, HALL__ERROR_CODE__ERR_REQUEST_ID_REUSED};

    FZ_CHECK(req->request_id != 0);
    if (req->on_behalf_of != NULL && req->on_behalf_of[0] != '\0') {
        store_user u;
        FZ_CHECK(F.rd != NULL && store_get_user(F.rd, req->on_behalf_of, &u) == 1);
        F.sent_for_person++;
    }
    if (F.flags & F_AWAY) {
        snprintf(err, WAPI_ERR_LEN, "connection refused");
        return NULL;
    }
    env.request_id = req->request_id;
    if (req->body_case == HALL__ENVELOPE__BODY_WEB_EVENT) {
        FZ_CHECK(req->web_event->what[0] != '\0' && strlen(req->web_event->what) <= 200);
        env.body_case = HALL__ENVELOPE__BODY_WEB_EVENT_REPLY;
        env.web_event_reply = &ev;
    } else if (F.flags & F_REFUSE) {
        error.code = codes[(F.flags >> F_CODE_SHIFT) & 3];
        error.message = message;
        env.body_case = HALL__ENVELOPE__BODY_ERROR;
        env.error = &error;
    } else {
        t.id = 7;
        t.number = number;
        t.area = area;
        t.matter = none;
        t.masked_name = masked;
        t.kiosk_id = kiosk;
        t.state = HALL__TICKET_STATE__TICKET_CALLED;
        wr.window_no = 1;
        wr.state = HALL__WINDOW_STATE__WINDOW_OPEN;
        wr.ticket = &t;
        wr.pick_reason = reason;
        env.body_case = HALL__ENVELOPE__BODY_WINDOW_REPLY;
        env.window_reply = &wr;
    }
    return unpacked(&env);
}

static store *fake_reader(char *err, size_t errlen)
{
    if (F.flags & F_NO_STORE) {
        snprintf(err, errlen, "the database cannot be opened");
        return NULL;
    }
    return F.rd;
}

/* ---- Reading the fuzzed request ---------------------------------------------------- */

/* The value of name in "a=b; c=d" or "a=b&c=d", copied into out. */
static const char *pair_value(const char *list, char sep, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);

    for (const char *p = list; p != NULL && *p != '\0';) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, sep);
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            snprintf(out, cap, "%.*s", (int)(len - n - 1), p + n + 1);
            return out;
        }
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

static const char *fake_lookup(void *conn, enum wapi_kind kind, const char *name)
{
    struct req *q = conn;
    static char cookie[1024], arg[1024]; /* one harness thread */

    switch (kind) {
    case WAPI_HEADER:
        for (int i = 0; i < q->nheaders; i++)
            if (strcasecmp(q->names[i], name) == 0)
                return q->values[i];
        return NULL;
    case WAPI_COOKIE:
        return pair_value(q->cookies, ';', name, cookie, sizeof cookie);
    case WAPI_QUERY:
        return q->query ? pair_value(q->query, '&', name, arg, sizeof arg) : NULL;
    }
    return NULL;
}

static void fake_suspend(void *conn)
{
    (void)conn;
    FZ_CHECK(!F.held);
    F.held = true;
}

static void fake_resume(void *conn)
{
    (void)conn;
    F.woken = true;
}

/* The administrator's connection: a change of the admin API is made on
 * the hall's database, and every admin_begin is ended. */
static store *fake_admin_begin(char *err, size_t errlen)
{
    FZ_CHECK(!F.admin_held);
    if (F.flags & F_NO_STORE) {
        snprintf(err, errlen, "the database cannot be opened");
        return NULL;
    }
    F.admin_held = true;
    return F.admin;
}

static void fake_admin_end(int changed)
{
    FZ_CHECK(F.admin_held);
    FZ_CHECK(changed >= WAPI_UNCHANGED && changed <= WAPI_RELOAD);
    F.admin_held = false;
}

static const wapi_ops fake_ops = {
    .lookup = fake_lookup,
    .ask_halld = fake_halld,
    .reader = fake_reader,
    .admin_begin = fake_admin_begin,
    .admin_end = fake_admin_end,
    .suspend = fake_suspend,
    .resume = fake_resume,
};

/* ---- The hall, made once ------------------------------------------------------------- */

static void add_user(store *s, const char *name, const char *role, const char *clerk,
                     const char *password)
{
    store_user u = {0};

    snprintf(u.name, sizeof u.name, "%s", name);
    snprintf(u.display_name, sizeof u.display_name, "%s", name);
    snprintf(u.role, sizeof u.role, "%s", role);
    snprintf(u.clerk_id, sizeof u.clerk_id, "%s", clerk ? clerk : "");
    FZ_CHECK(pwhash_make_cost(password, 10, u.pwhash, sizeof u.pwhash) == 0);
    FZ_CHECK(store_add_user(s, &u) == 0);
}

/* At exit: what lives across inputs, so that LeakSanitizer finds only
 * what an input lost. */
static void teardown(void)
{
    wapi_shutdown();
    store_close(F.rd);
    store_close(F.admin);
    halld_conf_release(&F.conf);
}

static void setup(void)
{
    char err[512];
    char *db = fz_path(fz_scratch_dir(), "hall.db");
    char *ini = fz_path(fz_scratch_dir(), "halld.ini");
    static const char conf_text[] = "[hall]\nid = fuzz-hall\n[web]\naccount_failures = 100\n"
                                    "address_failures = 10000\nlockout = 1s\nmax_sessions = 64\n";

    fz_write_file(ini, conf_text, sizeof conf_text - 1);
    FZ_CHECK(halld_conf_load(&F.conf, ini, err, sizeof err) == 0);
    store *s = store_open(db, "fuzz-hall", STORE_ADMIN, err, sizeof err);
    FZ_CHECK(s != NULL);
    q_area area = {.code = "intake", .name = "综合受理", .prefix = "A", .general = true};
    FZ_CHECK(store_replace_catalog(s, &area, 1, NULL, 0, 0) == 0);
    for (uint32_t no = 1; no <= 2; no++) {
        q_window w = {.no = no, .type = QW_INTAKE, .nareas = 1, .weights = {1}};
        snprintf(w.name, sizeof w.name, "窗口%u", no);
        snprintf(w.areas[0], sizeof w.areas[0], "intake");
        FZ_CHECK(store_save_window(s, &w) == 0);
        store_clerk c = {.active = true};
        snprintf(c.id, sizeof c.id, "c-%u", no);
        snprintf(c.name, sizeof c.name, "办事员%u", no);
        FZ_CHECK(store_save_clerk(s, &c) == 0);
    }
    add_user(s, "clerk1", "clerk", "c-1", "clerk-pass-1");
    add_user(s, "boss", "admin", NULL, "boss-pass-1");
    add_user(s, "eye", "auditor", NULL, "eye-pass-11");
    store_close(s);
    F.rd = store_open(db, "fuzz-hall", STORE_READER, err, sizeof err);
    FZ_CHECK(F.rd != NULL);
    F.admin = store_open(db, "fuzz-hall", STORE_ADMIN, err, sizeof err);
    FZ_CHECK(F.admin != NULL);
    FZ_CHECK(wapi_init(&F.conf, false, &fake_ops, err, sizeof err) == 0);
    atexit(teardown);
    free(db);
    free(ini);
    F.ready = true;
}

/* ---- One request ------------------------------------------------------------------------ */

static void check_answer(const wapi_request *r)
{
    if (r->page != NULL)
        return;
    FZ_CHECK(r->status >= 200 && r->status <= 599);
    if (r->text != NULL) { /* a CSV report */
        FZ_CHECK(r->status == 200 && r->text_type != NULL);
        return;
    }
    FZ_CHECK(r->json != NULL);
    if (r->status >= 400) {
        json_t *e = json_object_get(r->json, "error");
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *zh = json_string_value(json_object_get(json_object_get(e, "message"), "zh"));
        const char *en = json_string_value(json_object_get(json_object_get(e, "message"), "en"));
        FZ_CHECK(code != NULL && strncmp(code, "ERR_", 4) == 0);
        FZ_CHECK(zh != NULL && zh[0] != '\0' && en != NULL && en[0] != '\0');
    }
    if (r->cookie[0] != '\0') {
        FZ_CHECK(strncmp(r->cookie, "ow_session=", 11) == 0);
        const char *attrs = strchr(r->cookie, ';');
        FZ_CHECK(attrs != NULL && strspn(r->cookie + 11, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
                                                         "nopqrstuvwxyz0123456789-_") ==
                                      (size_t)(attrs - r->cookie - 11));
        FZ_CHECK(strstr(attrs, "HttpOnly") && strstr(attrs, "Secure") &&
                 strstr(attrs, "SameSite=Strict"));
    }
}

/* Decide r as hallweb does: route it; a held poll is woken by the feed
 * and routed again. */
static void decide(wapi_request *r)
{
    F.held = F.woken = false;
    wapi_route(r);
    if (r->held && !r->resumed) {
        FZ_CHECK(F.held);
        wapi_feed_changed();
        FZ_CHECK(F.woken && r->resumed);
        wapi_route(r);
    }
    check_answer(r);
}

/* Sign in as user through wapi; the cookie and CSRF token, or "-". */
static void sign_in(const char *user, const char *password, char session[64], char csrf[64])
{
    struct req q = {.method = "POST", .path = "/api/v1/session"};
    char type_name[] = "Content-Type", type[] = "application/json";
    wapi_request *r = calloc(1, sizeof *r);

    FZ_CHECK(r != NULL);
    r->conn = &q;
    r->method = q.method;
    r->url = q.path;
    snprintf(r->addr, sizeof r->addr, "192.0.2.1");
    char body[256];
    int n = snprintf(body, sizeof body, "{\"user\":\"%s\",\"password\":\"%s\"}", user, password);
    wapi_request_start(r, q.method, q.path);
    wapi_body_add(r, body, (size_t)n);
    q.names[0] = type_name;
    q.values[0] = type;
    q.nheaders = 1;
    decide(r);
    const char *token = json_string_value(json_object_get(r->json, "csrf_token"));
    snprintf(session, 64, "%s", r->status == 200 ? strchr(r->cookie, '=') + 1 : "-");
    session[strcspn(session, ";")] = '\0';
    snprintf(csrf, 64, "%s", r->status == 200 && token ? token : "-");
    wapi_request_done(r);
    free(r);
}

/* True if session still signs its user in (an input may have ended it). */
static bool still_signed_in(const char *session)
{
    struct req q = {.method = "GET", .path = "/api/v1/session"};
    wapi_request *r = calloc(1, sizeof *r);

    FZ_CHECK(r != NULL);
    snprintf(q.cookies, sizeof q.cookies, "ow_session=%s", session);
    r->conn = &q;
    r->method = q.method;
    r->url = q.path;
    decide(r);
    bool live = r->status == 200;
    wapi_request_done(r);
    free(r);
    return live;
}

/* text with the @X@ stand-ins replaced, into out (cap bytes). */
static void expand(const char *text, size_t len, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        const char *with = NULL;
        if (i + 2 < len && text[i] == '@' && text[i + 2] == '@') {
            switch (text[i + 1]) {
            case 'S':
                with = F.clerk_session;
                break;
            case 'C':
                with = F.clerk_csrf;
                break;
            case 'A':
                with = F.admin_session;
                break;
            case 'D':
                with = F.admin_csrf;
                break;
            }
        }
        if (with != NULL) {
            size_t n = strlen(with);
            if (o + n + 1 >= cap)
                break;
            memcpy(out + o, with, n);
            o += n;
            i += 2;
        } else {
            out[o++] = text[i] == '\0' ? ' ' : text[i];
        }
    }
    out[o] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char text[TEXT_MAX];
    struct req q;
    wapi_request *r;

    if (size < 2)
        return 0;
    if (!F.ready)
        setup();
    F.flags = 0;
    if (!still_signed_in(F.clerk_session))
        sign_in("clerk1", "clerk-pass-1", F.clerk_session, F.clerk_csrf);
    if (!still_signed_in(F.admin_session))
        sign_in("boss", "boss-pass-1", F.admin_session, F.admin_csrf);
    F.flags = data[0];
    expand((const char *)data + 1, size - 1, text, sizeof text);

    /* The request line, the headers, the body. */
    memset(&q, 0, sizeof q);
    char *line = text, *nl = strchr(line, '\n');
    if (nl == NULL)
        return 0;
    *nl = '\0';
    if (sscanf(line, "%15s %511s", q.method, q.path) != 2)
        return 0;
    char *mark = strchr(q.path, '?');
    if (mark != NULL) {
        *mark = '\0';
        q.query = mark + 1;
    }
    char *p = nl + 1;
    while ((nl = strchr(p, '\n')) != NULL && nl != p && q.nheaders < HEADERS_MAX) {
        *nl = '\0';
        char *colon = strstr(p, ": ");
        if (colon != NULL) {
            *colon = '\0';
            q.names[q.nheaders] = p;
            q.values[q.nheaders++] = colon + 2;
            if (strcasecmp(p, "Cookie") == 0)
                snprintf(q.cookies, sizeof q.cookies, "%s", colon + 2);
        }
        p = nl + 1;
    }
    const char *body = nl != NULL ? nl + 1 : "";
    if ((r = calloc(1, sizeof *r)) == NULL)
        return 0;
    r->conn = &q;
    r->method = q.method;
    r->url = q.path;
    snprintf(r->addr, sizeof r->addr, "198.51.100.%u", data[0] % 4);
    wapi_request_start(r, q.method, q.path);
    wapi_body_add(r, body, strlen(body));

    int sent_before = F.sent_for_person;
    decide(r);
    /* A window operation that halld ran came with a session and its own
     * token. */
    if (strcmp(q.method, "POST") == 0 && strncmp(q.path, "/api/v1/windows/", 16) == 0 &&
        r->status == 200) {
        const char *csrf = fake_lookup(&q, WAPI_HEADER, "X-CSRF-Token");
        const char *cookie = fake_lookup(&q, WAPI_COOKIE, "ow_session");
        FZ_CHECK(csrf != NULL && cookie != NULL);
        FZ_CHECK((strcmp(cookie, F.clerk_session) == 0 && strcmp(csrf, F.clerk_csrf) == 0) ||
                 (strcmp(cookie, F.admin_session) == 0 && strcmp(csrf, F.admin_csrf) == 0));
        FZ_CHECK(F.sent_for_person == sent_before + 1);
    }
    wapi_request_done(r);
    free(r);
    return 0;
}
