/*
 * hallweb — the hall's web layer: people sign in, and their requests reach
 * halld as the requests of a web gateway device made on their behalf
 * (Envelope.on_behalf_of), through the same handler, authorization table,
 * group commit, kept answers and audit as a device's. A process of its
 * own (docs/architecture.md says why): a bug here can stop a page, never
 * the queue.
 *
 * Threads: libmicrohttpd's pool of [web] threads answers requests. Each
 * thread has its own link to halld (a devlink, opened when first needed
 * and again after it broke) and its own read-only connection to the hall's
 * database for lists (STORE_READER): halld's loop never runs a web read.
 * Sessions and the sign-in throttle are shared (wsess.h).
 *
 * Layout: settings and the per-thread context; answers (JSON, errors in
 * Chinese and English); reading a request (body, cookies, CSRF); sign-in
 * and sessions; window operations; lists; the router; main.
 */
#include <errno.h>
#include <getopt.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth.h"
#include "clk.h"
#include "devlink.h"
#include "halld_conf.h"
#include "log.h"
#include "net.h"
#include "proto.h"
#include "pwhash.h"
#include "store.h"
#include "wsess.h"

#define BODY_MAX        16384 /* a request body; larger is refused (413) */
#define HALLD_WAIT_MS   10000 /* an answer from halld */
#define LINK_WAIT_MS    5000  /* a new link to halld */
#define CONN_TIMEOUT_S  30    /* an idle HTTP connection */
#define PER_IP_MAX      64    /* HTTP connections from one address */
#define KDF_AT_ONCE     2     /* password checks at once: each takes 32 MiB */
#define COOKIE          "ow_session"
#define IDEMPOTENCY_MAX 64

/* A password hash that no password matches, checked for unknown users so
 * that their answer takes as long as a known user's. */
static char dummy_hash[PWHASH_MAX];

static struct web {
    struct halld_conf conf;
    char halld_host[256];
    int halld_port;
    bool plain; /* halld --dev-plaintext: no TLS on the link */
    char link_cert[PATH_MAX], link_key[PATH_MAX], link_ca[PATH_MAX];
    wsess *sessions;
    sem_t kdf;
    pthread_key_t thread_key;
    bool tls; /* HTTPS */
} web;

/* ---- Per-thread context ------------------------------------------------------ */

struct thread_ctx {
    devlink *link;
    store *rd;
};

static void thread_ctx_free(void *p)
{
    struct thread_ctx *t = p;

    if (t == NULL)
        return;
    devlink_close(t->link);
    store_close(t->rd);
    free(t);
}

static struct thread_ctx *thread_ctx(void)
{
    struct thread_ctx *t = pthread_getspecific(web.thread_key);

    if (t == NULL && (t = calloc(1, sizeof *t)) != NULL)
        pthread_setspecific(web.thread_key, t);
    return t;
}

/* The thread's read-only connection to the hall's database; NULL with a
 * reason in err. */
static store *reader(char *err, size_t errlen)
{
    struct thread_ctx *t = thread_ctx();

    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (t->rd == NULL)
        t->rd = store_open(web.conf.store_path, web.conf.hall_id, STORE_READER, err, errlen);
    return t->rd;
}

/* The thread's link to halld, said HELLO on; NULL with a reason in err. */
static devlink *link_to_halld(char *err)
{
    struct thread_ctx *t = thread_ctx();
    Hall__Envelope *r;

    if (t == NULL) {
        snprintf(err, DEVLINK_ERR_LEN, "out of memory");
        return NULL;
    }
    if (t->link != NULL && devlink_closed(t->link, 0, NULL)) {
        devlink_close(t->link);
        t->link = NULL;
    }
    if (t->link != NULL)
        return t->link;
    t->link = devlink_open(web.halld_host, web.halld_port, web.plain ? NULL : web.link_cert,
                           web.plain ? NULL : web.link_key, web.plain ? NULL : web.link_ca,
                           LINK_WAIT_MS, err);
    if (t->link == NULL)
        return NULL;
    r = devlink_hello(t->link, web.conf.web_device, HALL__DEVICE_TYPE__DEVICE_WEB, 0, LINK_WAIT_MS,
                      err);
    if (r == NULL || r->body_case != HALL__ENVELOPE__BODY_HELLO_REPLY) {
        if (r != NULL)
            snprintf(err, DEVLINK_ERR_LEN, "halld refused the web gateway %s: %s",
                     web.conf.web_device,
                     r->body_case == HALL__ENVELOPE__BODY_ERROR ? r->error->message : "?");
        proto_free(r);
        devlink_close(t->link);
        t->link = NULL;
        return NULL;
    }
    proto_free(r);
    return t->link;
}

/* Send req to halld and wait for its answer; once more on a new link if
 * the link broke (the same request id: halld answers a retry from what it
 * kept). NULL with a reason in err. */
static Hall__Envelope *ask_halld(Hall__Envelope *req, char *err)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        devlink *l = link_to_halld(err);
        Hall__Envelope *a;

        if (l == NULL)
            return NULL;
        if ((a = devlink_call(l, req, HALLD_WAIT_MS, err)) != NULL)
            return a;
        struct thread_ctx *t = thread_ctx();
        devlink_close(t->link);
        t->link = NULL;
    }
    return NULL;
}

/* A request id no other request of this user has: from the client's
 * Idempotency-Key when given (its retries get the first answer), random
 * otherwise. Never 0. */
static uint64_t request_id_for(const char *idempotency_key)
{
    unsigned char md[32];
    uint64_t id = 0;

    if (idempotency_key != NULL) {
        EVP_Digest(idempotency_key, strlen(idempotency_key), md, NULL, EVP_sha256(), NULL);
        memcpy(&id, md, sizeof id);
    } else if (RAND_bytes((unsigned char *)&id, sizeof id) != 1) {
        id = (uint64_t)clk_utc_ms() << 20 ^ (uint64_t)pthread_self();
    }
    id &= UINT64_C(0x7fffffffffffffff);
    return id ? id : 1;
}

/* protobuf-c's and libmicrohttpd's structs take char * for strings they
 * only read. */
static char *unconst(const char *s)
{
    union {
        const char *c;
        char *m;
    } u = {.c = s};
    return u.m;
}

/* ---- Answers ----------------------------------------------------------------- */

/* One HTTP request as it is read and answered. */
struct request {
    struct MHD_Connection *conn;
    const char *method, *url;
    char body[BODY_MAX + 1];
    size_t body_len;
    bool body_too_large;
    char addr[64];
    /* A held change feed (GET /api/v1/events): suspended until the hall
     * changes or its time is up, then answered at the next call. */
    bool held, resumed;
    uint64_t after;
    int64_t hold_until_ms;
    /* The answer. */
    unsigned status;
    json_t *json;
    char cookie[160]; /* a Set-Cookie value, "" for none */
};

static void answer(struct request *r, unsigned status, json_t *json)
{
    json_decref(r->json);
    r->status = status;
    r->json = json;
}

/* An error: the protocol's code, a sentence in Chinese and one in English. */
static void answer_error(struct request *r, unsigned status, const char *code, const char *zh,
                         const char *en_fmt, ...) __attribute__((format(printf, 5, 6)));
static void answer_error(struct request *r, unsigned status, const char *code, const char *zh,
                         const char *en_fmt, ...)
{
    char en[512];
    va_list ap;

    va_start(ap, en_fmt);
    vsnprintf(en, sizeof en, en_fmt, ap);
    va_end(ap);
    answer(
        r, status,
        json_pack("{s:{s:s,s:{s:s,s:s}}}", "error", "code", code, "message", "zh", zh, "en", en));
}

/* Chinese for each of the protocol's error codes; halld's own sentence
 * (English) goes with it. */
static const struct {
    Hall__ErrorCode code;
    unsigned status;
    const char *zh;
} wire_errors[] = {
    {HALL__ERROR_CODE__ERR_FORBIDDEN, MHD_HTTP_FORBIDDEN, "无权进行此操作。"},
    {HALL__ERROR_CODE__ERR_BAD_REQUEST, MHD_HTTP_BAD_REQUEST, "请求内容有误。"},
    {HALL__ERROR_CODE__ERR_ILLEGAL_STATE, MHD_HTTP_CONFLICT, "当前状态下不能进行此操作。"},
    {HALL__ERROR_CODE__ERR_NOT_FOUND, MHD_HTTP_NOT_FOUND, "找不到该号票、业务区或窗口。"},
    {HALL__ERROR_CODE__ERR_WINDOW_CLOSED, MHD_HTTP_CONFLICT, "窗口未开放，请先签到。"},
    {HALL__ERROR_CODE__ERR_QUEUE_EMPTY, MHD_HTTP_CONFLICT, "当前没有等候的号票。"},
    {HALL__ERROR_CODE__ERR_UNAVAILABLE, MHD_HTTP_SERVICE_UNAVAILABLE,
     "系统暂时无法处理，请稍后重试。"},
    {HALL__ERROR_CODE__ERR_REQUEST_ID_REUSED, MHD_HTTP_UNPROCESSABLE_CONTENT,
     "该幂等键已用于另一请求。"},
    {HALL__ERROR_CODE__ERR_ANSWER_DROPPED, MHD_HTTP_CONFLICT, "操作已完成，但其结果已不再保留。"},
};

static void answer_wire_error(struct request *r, const Hall__Error *e)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&hall__error_code__descriptor, (int)e->code);
    const char *code = v ? v->name : "ERR_INTERNAL";

    for (size_t i = 0; i < sizeof wire_errors / sizeof wire_errors[0]; i++)
        if (wire_errors[i].code == e->code) {
            answer_error(r, wire_errors[i].status, code, wire_errors[i].zh, "%s", e->message);
            return;
        }
    answer_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, code, "系统内部错误。", "%s", e->message);
}

static void answer_halld_down(struct request *r, const char *why)
{
    log_warn("halld: %s", why);
    answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                 "暂时无法连接叫号系统，请稍后重试。", "halld cannot be reached: %s", why);
}

static enum MHD_Result send_answer(struct request *r)
{
    char *text = r->json ? json_dumps(r->json, JSON_COMPACT) : NULL;
    const char *body = text ? text : "{}";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), unconst(body), MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc;

    free(text);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Content-Security-Policy", "default-src 'none'");
    if (web.tls)
        MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
    if (r->cookie[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->cookie);
    rc = MHD_queue_response(r->conn, r->status ? r->status : MHD_HTTP_INTERNAL_SERVER_ERROR, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* ---- Reading a request ---------------------------------------------------------- */

static const char *header(struct request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static bool is_write(const char *method)
{
    return strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0;
}

/* A request that changes something must come from a page of this server:
 * an Origin other than ours, or a browser saying it is cross-site, is
 * refused (a login form on another site included). */
static bool same_origin(struct request *r)
{
    const char *origin = header(r, "Origin");
    const char *site = header(r, "Sec-Fetch-Site");
    const char *host = header(r, MHD_HTTP_HEADER_HOST);
    char own[300];

    if (site != NULL && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0)
        return false;
    if (origin == NULL)
        return true;
    if (host == NULL)
        return false;
    snprintf(own, sizeof own, "%s://%s", web.tls ? "https" : "http", host);
    return strcmp(origin, own) == 0;
}

/* The JSON body of a write; NULL after answering 400/413/415. An empty
 * body is an empty object. */
static json_t *json_body(struct request *r)
{
    const char *type = header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    json_error_t jerr;
    json_t *j;

    if (r->body_too_large) {
        answer_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "ERR_BAD_REQUEST", "请求内容过长。",
                     "the request body is larger than %d bytes", BODY_MAX);
        return NULL;
    }
    if (r->body_len == 0)
        return json_object();
    /* Only JSON: a form of another site cannot send it without asking. */
    if (type == NULL || strncasecmp(type, "application/json", 16) != 0) {
        answer_error(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "ERR_BAD_REQUEST", "请求内容须为 JSON。",
                     "the request body must be application/json");
        return NULL;
    }
    j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL || !json_is_object(j)) {
        json_decref(j);
        answer_error(r, MHD_HTTP_BAD_REQUEST, "ERR_BAD_REQUEST", "请求内容不是有效的 JSON 对象。",
                     "the body is not a JSON object: %s", j ? "not an object" : jerr.text);
        return NULL;
    }
    return j;
}

/* A string member of at most max bytes, "" when absent; -1 after
 * answering 400 when it is of another type or too long. */
static int member_str(struct request *r, json_t *o, const char *name, size_t max, const char **out)
{
    json_t *v = json_object_get(o, name);

    *out = "";
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        answer_error(r, MHD_HTTP_BAD_REQUEST, "ERR_BAD_REQUEST", "请求内容有误。",
                     "%s must be a string of at most %zu bytes", name, max);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* A whole number member in 0..max, 0 when absent; -1 after answering 400. */
static int member_uint(struct request *r, json_t *o, const char *name, uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(o, name);

    *out = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max) {
        answer_error(r, MHD_HTTP_BAD_REQUEST, "ERR_BAD_REQUEST", "请求内容有误。",
                     "%s must be a whole number from 0 to %llu", name, (unsigned long long)max);
        return -1;
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* ---- Sign-in and sessions ---------------------------------------------------------- */

/* The signed-in person of a request. */
struct person {
    wsess_info s;
    store_user u;
    int role;
};

static bool user_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > STORE_USER_NAME_MAX || !(name[0] >= 'a' && name[0] <= 'z'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '.' || name[i] == '_' || name[i] == '-'))
            return false;
    return true;
}

/* Tell halld what happened, for the audit trail; 0 once it is durable. */
static int audit(const char *user, const char *addr, char *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int audit(const char *user, const char *addr, char *err, const char *fmt, ...)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__WebEvent ev = HALL__WEB_EVENT__INIT;
    char what[201];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    ev.user = unconst(user);
    ev.what = what;
    ev.address = unconst(addr);
    env.request_id = request_id_for(NULL);
    env.body_case = HALL__ENVELOPE__BODY_WEB_EVENT;
    env.web_event = &ev;
    Hall__Envelope *a = ask_halld(&env, err);
    if (a == NULL)
        return -1;
    int rc = a->body_case == HALL__ENVELOPE__BODY_WEB_EVENT_REPLY ? 0 : -1;
    if (rc < 0)
        snprintf(err, DEVLINK_ERR_LEN, "halld refused the audit event: %s",
                 a->body_case == HALL__ENVELOPE__BODY_ERROR ? a->error->message : "?");
    proto_free(a);
    return rc;
}

static void minutes_text(int64_t until, char *out, size_t len)
{
    int64_t left = (until - clk_utc_ms() + 59999) / 60000;

    snprintf(out, len, "%lld", (long long)(left > 0 ? left : 1));
}

static void answer_closed_gate(struct request *r, enum wsess_gate gate, int64_t until)
{
    char zh[200], min[24];

    minutes_text(until, min, sizeof min);
    if (gate == WSESS_ACCOUNT_LOCKED) {
        snprintf(zh, sizeof zh, "密码错误次数过多，账号已锁定，请 %s 分钟后再试，或联系管理员。",
                 min);
        answer_error(r, MHD_HTTP_TOO_MANY_REQUESTS, "ERR_LOCKED", zh,
                     "too many wrong passwords: the account is locked; try again in %s minutes, "
                     "or ask an administrator",
                     min);
    } else {
        snprintf(zh, sizeof zh, "此地址登录失败次数过多，请 %s 分钟后再试。", min);
        answer_error(r, MHD_HTTP_TOO_MANY_REQUESTS, "ERR_LOCKED", zh,
                     "too many failed sign-ins from this address; try again in %s minutes", min);
    }
}

static json_t *session_json(const struct person *p)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s}", "user", p->u.name, "display_name", p->u.display_name,
                     "role", p->u.role, "clerk_id", p->u.clerk_id, "csrf_token", p->s.csrf);
}

static void set_cookie(struct request *r, const char *token)
{
    if (token != NULL)
        snprintf(r->cookie, sizeof r->cookie,
                 COOKIE "=%s; Path=/; HttpOnly; Secure; SameSite=Strict", token);
    else
        snprintf(r->cookie, sizeof r->cookie,
                 COOKIE "=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
}

static void sign_in(struct request *r)
{
    json_t *body = json_body(r);
    const char *name, *password;
    char err[DEVLINK_ERR_LEN], token[WSESS_TOKEN_LEN + 1];
    struct person p;
    int64_t until = 0, now = clk_utc_ms();
    enum wsess_gate gate;
    int found = 0, ok = 0;

    memset(&p, 0, sizeof p);
    if (body == NULL)
        return;
    if (member_str(r, body, "user", 64, &name) < 0 ||
        member_str(r, body, "password", PWHASH_PASSWORD_MAX, &password) < 0)
        goto out;
    if (!user_name_ok(name) || password[0] == '\0') {
        answer_error(r, MHD_HTTP_BAD_REQUEST, "ERR_BAD_REQUEST", "请输入用户名和密码。",
                     "give a user name and a password");
        goto out;
    }
    if ((gate = wsess_gate_of(web.sessions, name, r->addr, now, &until)) != WSESS_OPEN) {
        answer_closed_gate(r, gate, until);
        goto out;
    }
    store *rd = reader(err, sizeof err);
    if (rd == NULL || (found = store_get_user(rd, name, &p.u)) < 0) {
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法读取用户信息，请稍后重试。", "cannot read the users: %s",
                     rd ? store_errmsg(rd) : err);
        goto out;
    }
    /* At most KDF_AT_ONCE checks at once: each one takes 32 MiB. */
    sem_wait(&web.kdf);
    ok = pwhash_verify(password, found ? p.u.pwhash : dummy_hash) == 1 && found;
    sem_post(&web.kdf);
    if (!ok || p.u.disabled) {
        gate = wsess_failed(web.sessions, name, r->addr, now, &until);
        if (audit(name, r->addr, err, "sign-in failed (%s)%s",
                  !found ? "unknown user"
                  : !ok  ? "wrong password"
                         : "account disabled",
                  gate == WSESS_ACCOUNT_LOCKED    ? "; account locked"
                  : gate == WSESS_ADDRESS_BLOCKED ? "; address blocked"
                                                  : "") < 0)
            log_warn("cannot audit a failed sign-in of %s from %s: %s", name, r->addr, err);
        log_info("sign-in of %s from %s failed", name, r->addr);
        if (gate != WSESS_OPEN)
            answer_closed_gate(r, gate, until);
        else if (ok)
            answer_error(r, MHD_HTTP_FORBIDDEN, "ERR_DISABLED", "账号已停用，请联系管理员。",
                         "this account is disabled; ask an administrator");
        else
            answer_error(r, MHD_HTTP_UNAUTHORIZED, "ERR_SIGN_IN", "用户名或密码错误。",
                         "wrong user name or password");
        goto out;
    }
    /* Nobody is signed in whom the audit trail does not show. */
    if (audit(name, r->addr, err, "signed in as %s", p.u.role) < 0) {
        answer_halld_down(r, err);
        goto out;
    }
    wsess_succeeded(web.sessions, name);
    if (wsess_begin(web.sessions, name, p.u.session_epoch, now, token, &p.s) < 0) {
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE", "系统暂时无法登录。",
                     "no random bytes for a session");
        goto out;
    }
    log_info("%s signed in from %s", name, r->addr);
    set_cookie(r, token);
    answer(r, MHD_HTTP_OK, session_json(&p));
    OPENSSL_cleanse(token, sizeof token);
out:
    json_decref(body);
}

/* The person signed in on r's session, after the CSRF check for writes;
 * false after answering 401/403. The user is read again every time: a
 * password, role or epoch change, or disabling, ends the session at once. */
static bool signed_in(struct request *r, struct person *p)
{
    const char *token = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, COOKIE);
    char err[300];
    enum wsess_found found;

    memset(p, 0, sizeof *p);
    found = token ? wsess_find(web.sessions, token, clk_utc_ms(), &p->s) : WSESS_NONE;
    if (found != WSESS_LIVE) {
        if (token != NULL)
            set_cookie(r, NULL);
        if (found == WSESS_IDLE || found == WSESS_EXPIRED)
            answer_error(
                r, MHD_HTTP_UNAUTHORIZED, "ERR_SESSION",
                found == WSESS_IDLE ? "长时间未操作，请重新登录。" : "登录已过期，请重新登录。",
                "%s; sign in again",
                found == WSESS_IDLE ? "the session was idle too long" : "the session expired");
        else
            answer_error(r, MHD_HTTP_UNAUTHORIZED, "ERR_SESSION", "请先登录。", "sign in first");
        return false;
    }
    store *rd = reader(err, sizeof err);
    int got = rd ? store_get_user(rd, p->s.user, &p->u) : -1;
    if (got < 0) {
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法读取用户信息，请稍后重试。", "cannot read the users: %s",
                     rd ? store_errmsg(rd) : err);
        return false;
    }
    if (got == 0 || p->u.disabled || p->u.session_epoch != p->s.epoch ||
        (p->role = auth_person_role(p->u.role)) == 0) {
        wsess_end(web.sessions, token);
        set_cookie(r, NULL);
        answer_error(
            r, MHD_HTTP_UNAUTHORIZED, "ERR_SESSION", "账号信息已变更，登录已结束，请重新登录。",
            "the account changed (password, role or access), so the session ended; sign in "
            "again");
        return false;
    }
    if (is_write(r->method)) {
        const char *csrf = header(r, "X-CSRF-Token");
        if (!same_origin(r) || csrf == NULL || strlen(csrf) != WSESS_TOKEN_LEN ||
            CRYPTO_memcmp(csrf, p->s.csrf, WSESS_TOKEN_LEN) != 0) {
            log_warn("%s from %s: %s %s without a valid CSRF token or from another origin",
                     p->s.user, r->addr, r->method, r->url);
            answer_error(r, MHD_HTTP_FORBIDDEN, "ERR_CSRF", "请求来源无法验证，请刷新页面后重试。",
                         "the request does not carry this session's X-CSRF-Token, or comes from "
                         "another origin");
            return false;
        }
    }
    return true;
}

static void sign_out(struct request *r, bool everywhere)
{
    struct person p;
    char err[DEVLINK_ERR_LEN];
    size_t n = 1;

    if (!signed_in(r, &p))
        return;
    const char *token = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, COOKIE);
    if (everywhere)
        n = wsess_end_user(web.sessions, p.s.user, clk_utc_ms());
    else
        wsess_end(web.sessions, token);
    set_cookie(r, NULL);
    if ((everywhere ? audit(p.s.user, r->addr, err, "signed out everywhere (%zu sessions)", n)
                    : audit(p.s.user, r->addr, err, "signed out")) < 0)
        log_warn("cannot audit the sign-out of %s: %s", p.s.user, err);
    answer(r, MHD_HTTP_OK, json_pack("{s:I}", "sessions_ended", (json_int_t)n));
}

/* ---- Window operations ----------------------------------------------------------- */

static const struct {
    const char *name;
    Hall__Envelope__BodyCase body;
} window_ops[] = {
    {"sign-in", HALL__ENVELOPE__BODY_SIGN_IN},     {"sign-out", HALL__ENVELOPE__BODY_SIGN_OUT},
    {"call-next", HALL__ENVELOPE__BODY_CALL_NEXT}, {"recall", HALL__ENVELOPE__BODY_RECALL},
    {"no-show", HALL__ENVELOPE__BODY_NO_SHOW},     {"start", HALL__ENVELOPE__BODY_START},
    {"finish", HALL__ENVELOPE__BODY_FINISH},       {"transfer", HALL__ENVELOPE__BODY_TRANSFER},
    {"hold", HALL__ENVELOPE__BODY_HOLD},           {"return", HALL__ENVELOPE__BODY_HOLD},
    {"pause", HALL__ENVELOPE__BODY_PAUSE},         {"resume", HALL__ENVELOPE__BODY_RESUME},
    {"cancel", HALL__ENVELOPE__BODY_CANCEL},
};

static const char *ticket_state_name(Hall__TicketState s)
{
    static const char *const names[] = {"unknown", "reserved", "waiting", "called", "serving",
                                        "done",    "no_show",  "hold",    "void",   "cancelled"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

static const char *window_state_name(Hall__WindowState s)
{
    static const char *const names[] = {"unknown", "open", "paused", "closed"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

static const char *priority_name(Hall__Priority p)
{
    static const char *const names[] = {"normal", "green", "appointment"};
    return (unsigned)p < sizeof names / sizeof names[0] ? names[p] : "normal";
}

/* A ticket as the API shows it: the masked name only, never more. */
static json_t *ticket_json(const Hall__Ticket *t)
{
    return json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:I,s:i,s:i,s:s}", "id", (json_int_t)t->id, "number",
                     t->number, "area", t->area, "matter", t->matter, "state",
                     ticket_state_name(t->state), "priority", priority_name(t->priority),
                     "issued_at_ms", (json_int_t)t->issued_at_ms, "window_no", (int)t->window_no,
                     "recalls", (int)t->recalls, "masked_name", t->masked_name);
}

/* A ticket as the store has it (lists, status), masked the same way. */
static const char *q_state_text(q_state s)
{
    switch (s) {
    case Q_RESERVED:
        return "reserved";
    case Q_WAITING:
        return "waiting";
    case Q_CALLED:
        return "called";
    case Q_SERVING:
        return "serving";
    case Q_DONE:
        return "done";
    case Q_NO_SHOW:
        return "no_show";
    case Q_HOLD:
        return "hold";
    case Q_VOID:
        return "void";
    case Q_CANCELLED:
        return "cancelled";
    }
    return "unknown";
}

static json_t *q_ticket_json(const q_ticket *t)
{
    return json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:i,s:i}", "id", (json_int_t)t->id,
                     "number", t->number, "area", t->area, "matter", t->matter, "state",
                     q_state_text(t->state), "priority",
                     t->priority == Q_GREEN         ? "green"
                     : t->priority == Q_APPOINTMENT ? "appointment"
                                                    : "normal",
                     "masked_name", t->masked_name, "issued_at_ms", (json_int_t)t->issued_ms,
                     "state_since_ms", (json_int_t)t->state_ms, "appointment_ms",
                     (json_int_t)t->appointment_ms, "recalls", (int)t->recalls, "window_no",
                     (int)t->window_no);
}

static json_t *window_reply_json(const Hall__WindowReply *w)
{
    return json_pack("{s:{s:i,s:s,s:o,s:s,s:i}}", "window", "no", (int)w->window_no, "state",
                     window_state_name(w->state), "ticket",
                     w->ticket ? ticket_json(w->ticket) : json_null(), "pick_reason",
                     w->pick_reason, "waiting", (int)w->waiting);
}

/* POST /api/v1/windows/N/OP: the device message a window terminal would
 * send, made on the signed-in person's behalf. */
static void window_op(struct request *r, uint32_t no, const char *op)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    union {
        Hall__CallNext call_next;
        Hall__Recall recall;
        Hall__NoShow no_show;
        Hall__Start start;
        Hall__Finish finish;
        Hall__Transfer transfer;
        Hall__Hold hold;
        Hall__PauseWindow pause;
        Hall__ResumeWindow resume;
        Hall__SignIn sign_in;
        Hall__SignOut sign_out;
        Hall__CancelTicket cancel;
    } m;
    const char *to_area, *reason, *clerk, *key = header(r, "Idempotency-Key");
    uint64_t ticket, to_window;
    char err[DEVLINK_ERR_LEN];
    struct person p;
    size_t i;
    json_t *body = NULL;

    for (i = 0; i < sizeof window_ops / sizeof window_ops[0]; i++)
        if (strcmp(window_ops[i].name, op) == 0)
            break;
    if (i == sizeof window_ops / sizeof window_ops[0]) {
        answer_error(r, MHD_HTTP_NOT_FOUND, "ERR_NOT_FOUND", "没有这项窗口操作。",
                     "no window operation %s", op);
        return;
    }
    if (!signed_in(r, &p) || (body = json_body(r)) == NULL)
        return;
    if (member_uint(r, body, "ticket_id", UINT64_MAX >> 1, &ticket) < 0 ||
        member_str(r, body, "to_area", 32, &to_area) < 0 ||
        member_uint(r, body, "to_window", 9999, &to_window) < 0 ||
        member_str(r, body, "reason", 120, &reason) < 0 ||
        member_str(r, body, "clerk_id", 48, &clerk) < 0)
        goto out;
    if (key != NULL && (key[0] == '\0' || strlen(key) > IDEMPOTENCY_MAX)) {
        answer_error(r, MHD_HTTP_BAD_REQUEST, "ERR_BAD_REQUEST", "幂等键格式有误。",
                     "Idempotency-Key must be 1 to %d characters", IDEMPOTENCY_MAX);
        goto out;
    }
    memset(&m, 0, sizeof m);
    env.request_id = request_id_for(key);
    env.on_behalf_of = p.u.name;
    env.body_case = window_ops[i].body;
    switch (env.body_case) {
    case HALL__ENVELOPE__BODY_SIGN_IN:
        hall__sign_in__init(&m.sign_in);
        m.sign_in.window_no = no;
        m.sign_in.clerk_id = unconst(clerk[0] ? clerk : p.u.clerk_id);
        env.sign_in = &m.sign_in;
        break;
    case HALL__ENVELOPE__BODY_SIGN_OUT:
        hall__sign_out__init(&m.sign_out);
        m.sign_out.window_no = no;
        env.sign_out = &m.sign_out;
        break;
    case HALL__ENVELOPE__BODY_CALL_NEXT:
        hall__call_next__init(&m.call_next);
        m.call_next.window_no = no;
        env.call_next = &m.call_next;
        break;
    case HALL__ENVELOPE__BODY_RECALL:
        hall__recall__init(&m.recall);
        m.recall.window_no = no;
        m.recall.ticket_id = ticket;
        env.recall = &m.recall;
        break;
    case HALL__ENVELOPE__BODY_NO_SHOW:
        hall__no_show__init(&m.no_show);
        m.no_show.window_no = no;
        m.no_show.ticket_id = ticket;
        env.no_show = &m.no_show;
        break;
    case HALL__ENVELOPE__BODY_START:
        hall__start__init(&m.start);
        m.start.window_no = no;
        m.start.ticket_id = ticket;
        env.start = &m.start;
        break;
    case HALL__ENVELOPE__BODY_FINISH:
        hall__finish__init(&m.finish);
        m.finish.window_no = no;
        m.finish.ticket_id = ticket;
        env.finish = &m.finish;
        break;
    case HALL__ENVELOPE__BODY_TRANSFER:
        hall__transfer__init(&m.transfer);
        m.transfer.window_no = no;
        m.transfer.ticket_id = ticket;
        m.transfer.to_area = unconst(to_area);
        m.transfer.to_window = (uint32_t)to_window;
        env.transfer = &m.transfer;
        break;
    case HALL__ENVELOPE__BODY_HOLD:
        hall__hold__init(&m.hold);
        m.hold.window_no = no;
        m.hold.ticket_id = ticket;
        m.hold.release = strcmp(op, "return") == 0;
        env.hold = &m.hold;
        break;
    case HALL__ENVELOPE__BODY_PAUSE:
        hall__pause_window__init(&m.pause);
        m.pause.window_no = no;
        m.pause.reason = unconst(reason);
        env.pause = &m.pause;
        break;
    case HALL__ENVELOPE__BODY_RESUME:
        hall__resume_window__init(&m.resume);
        m.resume.window_no = no;
        env.resume = &m.resume;
        break;
    case HALL__ENVELOPE__BODY_CANCEL:
        hall__cancel_ticket__init(&m.cancel);
        m.cancel.window_no = no;
        m.cancel.ticket_id = ticket;
        m.cancel.reason = unconst(reason);
        env.cancel = &m.cancel;
        break;
    default:
        abort(); /* every row of window_ops is a case above */
    }
    Hall__Envelope *a = ask_halld(&env, err);
    if (a == NULL)
        answer_halld_down(r, err);
    else if (a->body_case == HALL__ENVELOPE__BODY_WINDOW_REPLY)
        answer(r, MHD_HTTP_OK, window_reply_json(a->window_reply));
    else if (a->body_case == HALL__ENVELOPE__BODY_ERROR)
        answer_wire_error(r, a->error);
    else
        answer_error(r, MHD_HTTP_BAD_GATEWAY, "ERR_INTERNAL", "系统内部错误。", "halld answered %s",
                     proto_body_name(a->body_case));
    proto_free(a);
out:
    json_decref(body);
}

/* ---- Lists (the read-only connection) --------------------------------------------- */

/* Who may read what: people's reads are not device messages, so they have
 * a table of their own, next to auth.c's. */
#define ROLE(x) (1u << (x))
#define EVERYONE                                                                                   \
    (ROLE(AUTH_ADMIN) | ROLE(AUTH_MANAGER) | ROLE(AUTH_CLERK) | ROLE(AUTH_REVIEWER) |              \
     ROLE(AUTH_CONSULT) | ROLE(AUTH_AUDITOR))

/* Test hook (web_reads_off_loop): with HALLWEB_TEST_HOLD_READS naming a
 * file that exists, a list of the windows stops in the middle of its read
 * (its statement open on the read-only connection) until the file is
 * gone, at most a minute. */
static void test_hold_read(void)
{
    const char *path = getenv("HALLWEB_TEST_HOLD_READS");

    if (path == NULL || access(path, F_OK) != 0)
        return;
    log_info("test hook: a read of the windows is held in hallweb (pid %ld, thread %ld) while %s "
             "exists",
             (long)getpid(), (long)gettid(), path);
    for (int i = 0; i < 6000 && access(path, F_OK) == 0; i++)
        usleep(10 * 1000);
    log_info("test hook: the held read goes on");
}

static int window_row(void *arg, const q_window *w)
{
    json_t *areas = json_array();

    if (json_array_size(arg) == 0)
        test_hold_read();
    for (int i = 0; i < w->nareas; i++)
        json_array_append_new(
            areas, json_pack("{s:s,s:i}", "area", w->areas[i], "weight", (int)w->weights[i]));
    return json_array_append_new(arg, json_pack("{s:i,s:s,s:s,s:s,s:s,s:I,s:o}", "no", (int)w->no,
                                                "name", w->name, "type",
                                                queue_window_type_name(w->type), "state",
                                                w->state == QW_OPEN     ? "open"
                                                : w->state == QW_PAUSED ? "paused"
                                                                        : "closed",
                                                "clerk", w->clerk, "current",
                                                (json_int_t)w->current, "areas", areas)) < 0;
}

static int user_row(void *arg, const store_user *u)
{
    return json_array_append_new(arg, json_pack("{s:s,s:s,s:s,s:s,s:b}", "name", u->name,
                                                "display_name", u->display_name, "role", u->role,
                                                "clerk_id", u->clerk_id, "disabled", u->disabled)) <
           0;
}

static void list(struct request *r, unsigned roles, const char *what,
                 int (*load)(store *, json_t *))
{
    struct person p;
    char err[300];
    json_t *rows;

    if (!signed_in(r, &p))
        return;
    if (!(roles & ROLE(p.role))) {
        answer_error(r, MHD_HTTP_FORBIDDEN, "ERR_FORBIDDEN", "无权查看此内容。",
                     "a %s may not read %s", p.u.role, what);
        return;
    }
    store *rd = reader(err, sizeof err);
    if (rd == NULL || (rows = json_array()) == NULL) {
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法读取，请稍后重试。", "cannot read the hall's database: %s",
                     rd ? "out of memory" : err);
        return;
    }
    if (load(rd, rows) != 0) {
        json_decref(rows);
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法读取，请稍后重试。", "cannot read %s: %s", what, store_errmsg(rd));
        return;
    }
    answer(r, MHD_HTTP_OK, json_pack("{s:o}", what, rows));
}

static int clerk_row(void *arg, const store_clerk *c)
{
    return json_array_append_new(arg, json_pack("{s:s,s:s,s:b}", "id", c->id, "name", c->name,
                                                "active", c->active)) < 0;
}

static int device_row(void *arg, const store_device *d)
{
    static const char *const types[] = {"?", "kiosk", "window", "display", "tool", "web"};

    return json_array_append_new(arg, json_pack("{s:s,s:s,s:i,s:b,s:I}", "id", d->id, "type",
                                                d->type >= 1 && d->type <= 5 ? types[d->type] : "?",
                                                "window_no", (int)d->window_no, "revoked",
                                                d->revoked, "added_ms", (json_int_t)d->added_ms)) <
           0;
}

static int area_row(void *arg, const q_area *a)
{
    return json_array_append_new(arg, json_pack("{s:s,s:s,s:s,s:b,s:b,s:[]}", "code", a->code,
                                                "name", a->name, "prefix", a->prefix, "general",
                                                a->general, "retired", a->retired, "matters")) < 0;
}

/* A matter goes under its area (areas come first, in the same array). */
static int matter_row(void *arg, const store_matter *m)
{
    json_t *areas = arg;

    for (size_t i = 0; i < json_array_size(areas); i++) {
        json_t *a = json_array_get(areas, i);
        if (strcmp(json_string_value(json_object_get(a, "code")), m->area) == 0)
            return json_array_append_new(
                       json_object_get(a, "matters"),
                       json_pack("{s:s,s:s,s:s?,s:s?,s:s?,s:s?,s:b,s:b}", "code", m->code, "name",
                                 m->name, "conditions", m->conditions, "materials", m->materials,
                                 "sample", m->sample, "review_points", m->review_points,
                                 "in_one_window", m->in_one_window, "online_doable",
                                 m->online_doable)) < 0;
    }
    return 0;
}

/* Live tickets, masked as displays show them: number, area, state, the
 * masked name; never a citizen hash. */
static int ticket_row(void *arg, const q_ticket *t)
{
    return json_array_append_new(arg, q_ticket_json(t)) < 0;
}

/* Waiting tickets per area, with the oldest one's issue time. */
static int queue_row(void *arg, const q_ticket *t)
{
    json_t *areas = arg, *e;

    if (t->state != Q_WAITING)
        return 0;
    if ((e = json_object_get(areas, t->area)) == NULL) {
        e = json_pack("{s:s,s:i,s:I}", "area", t->area, "waiting", 0, "oldest_issued_ms",
                      (json_int_t)t->issued_ms);
        json_object_set_new(areas, t->area, e);
    }
    json_object_set_new(e, "waiting",
                        json_integer(json_integer_value(json_object_get(e, "waiting")) + 1));
    if (t->issued_ms < json_integer_value(json_object_get(e, "oldest_issued_ms")))
        json_object_set_new(e, "oldest_issued_ms", json_integer(t->issued_ms));
    return 0;
}

static int load_clerks(store *s, json_t *rows)
{
    return store_load_clerks(s, clerk_row, rows);
}

static int load_devices(store *s, json_t *rows)
{
    return store_load_devices(s, device_row, rows);
}

static int load_catalog(store *s, json_t *rows)
{
    int rc = store_load_areas(s, area_row, rows);
    return rc != 0 ? rc : store_load_matters(s, matter_row, rows);
}

static int load_tickets(store *s, json_t *rows)
{
    return store_load_live_tickets(s, ticket_row, rows);
}

static int load_queues(store *s, json_t *rows)
{
    json_t *by_area = json_object();
    const char *key;
    json_t *v;
    int rc = store_load_live_tickets(s, queue_row, by_area);

    json_object_foreach(by_area, key, v) json_array_append(rows, v);
    json_decref(by_area);
    return rc;
}

static int load_windows(store *s, json_t *rows)
{
    return store_load_windows(s, window_row, rows);
}

static int load_users(store *s, json_t *rows)
{
    return store_load_users(s, user_row, rows);
}

/* ---- A window's status (the caller page) -------------------------------------- */

struct status_read {
    const q_window *w;
    json_t *areas;   /* area code -> {"name","waiting","oldest_issued_ms"} */
    json_t *ticket;  /* the window's current ticket, NULL until found */
    const char *err; /* a bad row */
};

static int area_name_row(void *arg, const q_area *a)
{
    struct status_read *sr = arg;
    json_t *e = json_object_get(sr->areas, a->code);

    if (e != NULL)
        json_object_set_new(e, "name", json_string(a->name));
    return 0;
}

static bool serves_area(const q_window *w, const char *area)
{
    for (int i = 0; i < w->nareas; i++)
        if (strcmp(w->areas[i], area) == 0)
            return true;
    return false;
}

/* Waiting tickets of the window's areas (or sent to it by name), and its
 * current ticket. */
static int live_row(void *arg, const q_ticket *t)
{
    struct status_read *sr = arg;

    if (t->id == sr->w->current && t->id != 0)
        sr->ticket = q_ticket_json(t);
    if (t->state != Q_WAITING ||
        (t->target_window != 0 ? t->target_window != sr->w->no : !serves_area(sr->w, t->area)))
        return 0;
    json_t *e = json_object_get(sr->areas, t->area);
    if (e == NULL)
        return 0; /* sent to this window from an area it does not serve: counted below */
    json_object_set_new(e, "waiting",
                        json_integer(json_integer_value(json_object_get(e, "waiting")) + 1));
    json_int_t oldest = json_integer_value(json_object_get(e, "oldest_issued_ms"));
    if (oldest == 0 || t->issued_ms < oldest)
        json_object_set_new(e, "oldest_issued_ms", json_integer(t->issued_ms));
    return 0;
}

struct find_window {
    uint32_t no;
    q_window w;
    bool found;
};

static int find_window_row(void *arg, const q_window *w)
{
    struct find_window *f = arg;

    if (w->no == f->no) {
        f->w = *w;
        f->found = true;
        return 1;
    }
    return 0;
}

/* GET /api/v1/windows/N/status: the window, its current ticket and its
 * queue by area, read on this thread's read-only connection (one read
 * transaction, so the parts agree). */
static void window_status(struct request *r, uint32_t no)
{
    struct person p;
    struct find_window fw = {.no = no};
    char err[300];

    if (!signed_in(r, &p))
        return;
    store *rd = reader(err, sizeof err);
    if (rd == NULL || store_read_begin(rd) < 0) {
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法读取，请稍后重试。", "cannot read the hall's database: %s",
                     rd ? store_errmsg(rd) : err);
        return;
    }
    int rc = store_load_windows(rd, find_window_row, &fw);
    if (rc < 0 || (rc == 0 && !fw.found)) {
        store_read_end(rd);
        if (rc < 0)
            answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                         "暂时无法读取，请稍后重试。", "cannot read the windows: %s",
                         store_errmsg(rd));
        else
            answer_error(r, MHD_HTTP_NOT_FOUND, "ERR_NOT_FOUND", "没有这个窗口。",
                         "there is no window %u", no);
        return;
    }
    struct status_read sr = {.w = &fw.w, .areas = json_object()};
    for (int i = 0; i < fw.w.nareas; i++)
        json_object_set_new(sr.areas, fw.w.areas[i],
                            json_pack("{s:s,s:s,s:i,s:I}", "area", fw.w.areas[i], "name",
                                      fw.w.areas[i], "waiting", 0, "oldest_issued_ms",
                                      (json_int_t)0));
    if (store_load_areas(rd, area_name_row, &sr) < 0 ||
        store_load_live_tickets(rd, live_row, &sr) < 0) {
        store_read_end(rd);
        json_decref(sr.areas);
        json_decref(sr.ticket);
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法读取，请稍后重试。", "cannot read the queue: %s", store_errmsg(rd));
        return;
    }
    store_read_end(rd);
    json_t *by_area = json_array();
    for (int i = 0; i < fw.w.nareas; i++)
        json_array_append(by_area, json_object_get(sr.areas, fw.w.areas[i]));
    json_decref(sr.areas);
    answer(r, MHD_HTTP_OK,
           json_pack("{s:{s:i,s:s,s:s,s:s,s:s,s:o,s:o},s:I,s:i}", "window", "no", (int)no, "name",
                     fw.w.name, "type", queue_window_type_name(fw.w.type), "state",
                     fw.w.state == QW_OPEN     ? "open"
                     : fw.w.state == QW_PAUSED ? "paused"
                                               : "closed",
                     "clerk", fw.w.clerk, "ticket", sr.ticket ? sr.ticket : json_null(), "queue",
                     by_area, "server_time_ms", (json_int_t)clk_utc_ms(), "max_recalls",
                     (int)web.conf.max_recalls));
}

/* ---- The change feed (long poll) ---------------------------------------------------
 *
 * GET /api/v1/events?after=N answers {"seq": M} as soon as M > N: M counts
 * the display pushes halld sent (and each reconnect of the watcher, which
 * may have missed some), so a page refetches what it shows. With nothing
 * new the request is held (libmicrohttpd suspends it: it holds no thread)
 * for at most EVENTS_HOLD_MS, then answered with the same M. A long poll,
 * not Server-Sent Events: a held request is the one libmicrohttpd can
 * suspend and resume from another thread, and a page that loses it just
 * asks again. The watcher thread is the gateway's subscriber: one link,
 * SUBSCRIBE, then every DISPLAY_PUSH. */

#define EVENTS_HOLD_MS 25000
#define WAITERS_MAX    1024

static struct {
    pthread_mutex_t lock;
    uint64_t seq;
    struct request *waiters[WAITERS_MAX];
    size_t nwaiters;
    bool stop;
    pthread_t thread;
} feed = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Resume the held requests: all (changed), or those past their time. */
static void feed_wake(bool all, int64_t now)
{
    size_t kept = 0;

    for (size_t i = 0; i < feed.nwaiters; i++) {
        struct request *w = feed.waiters[i];
        if (all || now >= w->hold_until_ms) {
            w->resumed = true;
            MHD_resume_connection(w->conn);
        } else {
            feed.waiters[kept++] = w;
        }
    }
    feed.nwaiters = kept;
}

static void feed_changed(void)
{
    pthread_mutex_lock(&feed.lock);
    feed.seq++;
    feed_wake(true, 0);
    pthread_mutex_unlock(&feed.lock);
}

static void *feed_main(void *arg)
{
    char err[DEVLINK_ERR_LEN];

    (void)arg;
    while (!__atomic_load_n(&feed.stop, __ATOMIC_ACQUIRE)) {
        devlink *l = devlink_open(web.halld_host, web.halld_port, web.plain ? NULL : web.link_cert,
                                  web.plain ? NULL : web.link_key, web.plain ? NULL : web.link_ca,
                                  LINK_WAIT_MS, err);
        Hall__Envelope *a = NULL;
        if (l != NULL)
            a = devlink_hello(l, web.conf.web_device, HALL__DEVICE_TYPE__DEVICE_WEB, 0,
                              LINK_WAIT_MS, err);
        if (a != NULL && a->body_case == HALL__ENVELOPE__BODY_HELLO_REPLY) {
            Hall__Envelope sub = HALL__ENVELOPE__INIT;
            Hall__Subscribe s = HALL__SUBSCRIBE__INIT;
            sub.body_case = HALL__ENVELOPE__BODY_SUBSCRIBE;
            sub.subscribe = &s;
            proto_free(a);
            a = devlink_call(l, &sub, HALLD_WAIT_MS, err);
        }
        if (a != NULL && a->body_case == HALL__ENVELOPE__BODY_DISPLAY_PUSH) {
            feed_changed(); /* what happened while it was away */
            while (!__atomic_load_n(&feed.stop, __ATOMIC_ACQUIRE) && !devlink_closed(l, 0, NULL)) {
                Hall__Envelope *push = devlink_next(l, 1000);
                if (push != NULL && push->body_case == HALL__ENVELOPE__BODY_DISPLAY_PUSH)
                    feed_changed();
                proto_free(push);
                pthread_mutex_lock(&feed.lock);
                feed_wake(false, clk_utc_ms());
                pthread_mutex_unlock(&feed.lock);
            }
        } else if (a != NULL) {
            log_warn("the change feed: halld refused %s: %s", web.conf.web_device,
                     a->body_case == HALL__ENVELOPE__BODY_ERROR ? a->error->message : "?");
        }
        proto_free(a);
        devlink_close(l);
        /* halld is away: held requests are answered at their time. */
        for (int i = 0; i < 10 && !__atomic_load_n(&feed.stop, __ATOMIC_ACQUIRE); i++) {
            pthread_mutex_lock(&feed.lock);
            feed_wake(false, clk_utc_ms());
            pthread_mutex_unlock(&feed.lock);
            usleep(100 * 1000);
        }
    }
    pthread_mutex_lock(&feed.lock);
    feed_wake(true, 0);
    pthread_mutex_unlock(&feed.lock);
    return NULL;
}

static void events(struct request *r)
{
    const char *after = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "after");
    struct person p;
    char *end;

    if (r->resumed) { /* its time is up, or the hall changed */
        pthread_mutex_lock(&feed.lock);
        answer(r, MHD_HTTP_OK, json_pack("{s:I}", "seq", (json_int_t)feed.seq));
        pthread_mutex_unlock(&feed.lock);
        return;
    }
    if (!signed_in(r, &p))
        return;
    errno = 0;
    r->after = after ? strtoull(after, &end, 10) : 0;
    if (after != NULL && (errno != 0 || *end != '\0' || end == after)) {
        answer_error(r, MHD_HTTP_BAD_REQUEST, "ERR_BAD_REQUEST", "请求内容有误。",
                     "after= must be a whole number");
        return;
    }
    pthread_mutex_lock(&feed.lock);
    if (after == NULL || feed.seq > r->after || feed.nwaiters == WAITERS_MAX) {
        answer(r, MHD_HTTP_OK, json_pack("{s:I}", "seq", (json_int_t)feed.seq));
    } else {
        r->held = true;
        r->hold_until_ms = clk_utc_ms() + EVENTS_HOLD_MS;
        feed.waiters[feed.nwaiters++] = r;
        MHD_suspend_connection(r->conn);
    }
    pthread_mutex_unlock(&feed.lock);
}

/* ---- The router ------------------------------------------------------------------ */

static void route(struct request *r)
{
    const char *u = r->url, *m = r->method;
    bool get = strcmp(m, MHD_HTTP_METHOD_GET) == 0, post = strcmp(m, MHD_HTTP_METHOD_POST) == 0,
         del = strcmp(m, MHD_HTTP_METHOD_DELETE) == 0;
    unsigned no;
    char op[24], tail;

    if (strcmp(u, "/api/v1/session") == 0) {
        if (post) {
            if (!same_origin(r))
                answer_error(r, MHD_HTTP_FORBIDDEN, "ERR_CSRF", "请求来源无法验证。",
                             "a sign-in must come from this server's own page");
            else
                sign_in(r);
        } else if (get) {
            struct person p;
            if (signed_in(r, &p))
                answer(r, MHD_HTTP_OK, session_json(&p));
        } else if (del) {
            sign_out(r, false);
        } else {
            goto not_allowed;
        }
        return;
    }
    if (strcmp(u, "/api/v1/sessions") == 0) {
        if (!del)
            goto not_allowed;
        sign_out(r, true);
        return;
    }
    if (strcmp(u, "/api/v1/windows") == 0) {
        if (!get)
            goto not_allowed;
        list(r, EVERYONE, "windows", load_windows);
        return;
    }
    static const struct {
        const char *path, *what;
        unsigned roles;
        int (*load)(store *, json_t *);
    } lists[] = {
        {"/api/v1/queues", "queues", EVERYONE, load_queues},
        {"/api/v1/tickets", "tickets", EVERYONE, load_tickets},
        {"/api/v1/catalog", "areas", EVERYONE, load_catalog},
        {"/api/v1/clerks", "clerks", ROLE(AUTH_ADMIN) | ROLE(AUTH_MANAGER) | ROLE(AUTH_AUDITOR),
         load_clerks},
        {"/api/v1/devices", "devices", ROLE(AUTH_ADMIN) | ROLE(AUTH_MANAGER) | ROLE(AUTH_AUDITOR),
         load_devices},
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        if (strcmp(u, lists[i].path) == 0) {
            if (!get)
                goto not_allowed;
            list(r, lists[i].roles, lists[i].what, lists[i].load);
            return;
        }
    if (strcmp(u, "/api/v1/users") == 0) {
        if (!get)
            goto not_allowed;
        list(r, ROLE(AUTH_ADMIN) | ROLE(AUTH_MANAGER) | ROLE(AUTH_AUDITOR), "users", load_users);
        return;
    }
    if (strcmp(u, "/api/v1/events") == 0) {
        if (!get)
            goto not_allowed;
        events(r);
        return;
    }
    if (sscanf(u, "/api/v1/windows/%4u/%23[a-z-]%c", &no, op, &tail) == 2 && no > 0) {
        if (strcmp(op, "status") == 0) {
            if (!get)
                goto not_allowed;
            window_status(r, no);
            return;
        }
        if (!post)
            goto not_allowed;
        window_op(r, no, op);
        return;
    }
    /* The caller page's files (wpage.h, docs/caller.md), answered here with
     * their own type and headers: the request is then held back from
     * send_answer(), as a suspended poll is. */
    if (wpage_find(u) != NULL) {
        if (!get && strcmp(m, MHD_HTTP_METHOD_HEAD) != 0)
            goto not_allowed;
        r->held = wpage_queue(r->conn, wpage_find(u), web.tls) == MHD_YES;
        if (!r->held)
            answer_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "ERR_INTERNAL", "系统内部错误。",
                         "cannot answer %s", u);
        return;
    }
    answer_error(r, MHD_HTTP_NOT_FOUND, "ERR_NOT_FOUND", "没有这个地址。", "there is nothing at %s",
                 u);
    return;
not_allowed:
    answer_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "ERR_BAD_REQUEST", "不支持此请求方法。",
                 "%s is not allowed on %s", m, u);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_len, void **con_cls)
{
    struct request *r = *con_cls;
    enum MHD_Result rc;

    (void)cls;
    (void)version;
    if (r == NULL) {
        if ((r = calloc(1, sizeof *r)) == NULL)
            return MHD_NO;
        r->conn = conn;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci == NULL || ci->client_addr == NULL ||
            getnameinfo(ci->client_addr,
                        ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                               : sizeof(struct sockaddr_in),
                        r->addr, sizeof r->addr, NULL, 0, NI_NUMERICHOST) != 0)
            snprintf(r->addr, sizeof r->addr, "?");
        *con_cls = r;
        return MHD_YES;
    }
    if (*data_len > 0) {
        if (r->body_len + *data_len > BODY_MAX)
            r->body_too_large = true;
        else
            memcpy(r->body + r->body_len, data, *data_len);
        if (!r->body_too_large)
            r->body_len += *data_len;
        *data_len = 0;
        return MHD_YES;
    }
    r->method = method;
    r->url = url;
    if (r->held && !r->resumed)
        return MHD_YES; /* still held (a spurious call) */
    route(r);
    if (r->held && !r->resumed)
        return MHD_YES; /* suspended: answered when resumed */
    rc = send_answer(r);
    return rc;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct request *r = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (r == NULL)
        return;
    json_decref(r->json);
    OPENSSL_cleanse(r->body, sizeof r->body);
    free(r);
    *con_cls = NULL;
}

/* ---- main ----------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs(
        "usage: hallweb [-c halld.ini] [--port N] [--halld-port N] [--dev-plaintext]\n"
        "\n"
        "The hall's web layer: sign-in, sessions and the JSON API under /api/v1/ (docs/web.md,\n"
        "docs/api.md). Reads [web], [store], [listen] and [tls] of halld's configuration.\n"
        "\n"
        "  -c, --config FILE   halld's configuration (default /etc/onewindow/halld.ini)\n"
        "  --port N            the web layer's port instead of [web] port (0: a free one)\n"
        "  --halld-port N      halld's port, when [listen] port is 0 (tests)\n"
        "  --dev-plaintext     reach halld over plain TCP (halld --dev-plaintext; loopback only)\n"
        "  -h, --help          this text\n",
        f);
}

/* Read a whole small file (a PEM) into memory; NULL with errno. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "re");
    char *text = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < 1 << 20 &&
        fseek(f, 0, SEEK_SET) == 0 && (text = calloc(1, (size_t)n + 1)) != NULL &&
        fread(text, 1, (size_t)n, f) != (size_t)n) {
        free(text);
        text = NULL;
        errno = EIO;
    }
    fclose(f);
    return text;
}

/* Where the gateway's bundle is: devices/<id>/ next to the hall CA, as
 * hallctl device add writes it. */
static int bundle_paths(void)
{
    const char *ca = web.conf.tls_ca, *slash = strrchr(ca, '/');
    int dirlen = slash ? (int)(slash - ca) : 1;
    const char *dir = slash ? ca : ".";
    const char *id = web.conf.web_device;

    return (size_t)snprintf(web.link_cert, sizeof web.link_cert, "%.*s/devices/%s/%s.crt", dirlen,
                            dir, id, id) >= sizeof web.link_cert ||
                   (size_t)snprintf(web.link_key, sizeof web.link_key, "%.*s/devices/%s/%s.key",
                                    dirlen, dir, id, id) >= sizeof web.link_key ||
                   (size_t)snprintf(web.link_ca, sizeof web.link_ca, "%.*s/devices/%s/ca.crt",
                                    dirlen, dir, id) >= sizeof web.link_ca
               ? -1
               : 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"halld-port", required_argument, NULL, 'p'},
        {"port", required_argument, NULL, 'w'},   {"dev-plaintext", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *config = "/etc/onewindow/halld.ini";
    char err[512], *cert = NULL, *key = NULL;
    int c, port_override = -1, web_port = -1, rc = 1, signo;
    struct MHD_Daemon *d = NULL;
    bool feed_started = false;
    sigset_t stop;

    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1)
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'p':
            port_override = atoi(optarg);
            if (port_override <= 0 || port_override > 65535) {
                fprintf(stderr, "hallweb: --halld-port %s: use 1..65535\n", optarg);
                return 2;
            }
            break;
        case 'P':
            web.plain = true;
            break;
        case 'w':
            web_port = atoi(optarg);
            if (web_port < 0 || web_port > 65535 || (web_port == 0 && strcmp(optarg, "0") != 0)) {
                fprintf(stderr, "hallweb: --port %s: use 0..65535\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    log_open("hallweb", LOG_LEVEL_INFO, LOG_TO_STDERR);
    if (halld_conf_load(&web.conf, config, err, sizeof err) < 0) {
        log_error("%s", err);
        return 1;
    }
    log_set_level((enum log_level)web.conf.log_level);
    if (web_port >= 0)
        web.conf.web_port = web_port;
    web.tls = web.conf.web_tls_cert[0] != '\0';
    if (!web.tls && !net_is_loopback(web.conf.web_address)) {
        log_error("[web] address is %s, but without tls_cert and tls_key the web layer serves "
                  "plain HTTP, on loopback only: passwords and session cookies never cross the LAN "
                  "in clear (docs/web.md says how to turn HTTPS on)",
                  web.conf.web_address);
        goto out;
    }
    if (web.plain && !net_is_loopback(web.conf.listen_address) &&
        strcmp(web.conf.listen_address, "0.0.0.0") != 0) {
        log_error("--dev-plaintext reaches halld on loopback only, but [listen] address is %s",
                  web.conf.listen_address);
        goto out;
    }
    halld_contact hc;
    if (halld_conf_contact(&web.conf, web.conf.web_device, &hc, err, sizeof err) < 0 ||
        bundle_paths() < 0) {
        log_error("%s", err[0] ? err : "the paths of the web gateway's bundle are too long");
        goto out;
    }
    snprintf(web.halld_host, sizeof web.halld_host, "%s", hc.host);
    web.halld_port = port_override > 0 ? port_override : hc.port;
    if (web.halld_port == 0) {
        log_error("[listen] port is 0 (halld picks its port): give it with --halld-port");
        goto out;
    }
    if (!web.plain && (access(web.link_cert, R_OK) < 0 || access(web.link_key, R_OK) < 0)) {
        log_error("the web gateway's bundle %s is missing or unreadable (%s): add the device with "
                  "`hallctl device add --id %s --type web`",
                  web.link_cert, strerror(errno), web.conf.web_device);
        goto out;
    }
    if (pwhash_make_cost("no password matches this", 15, dummy_hash, sizeof dummy_hash) < 0) {
        log_error("cannot make a password hash: %s", strerror(errno));
        goto out;
    }
    wsess_limits lim = {
        .max_sessions = (size_t)web.conf.web_max_sessions,
        .idle_ms = web.conf.web_session_idle_ms,
        .max_ms = web.conf.web_session_max_ms,
        .account_failures = (int)web.conf.web_account_failures,
        .address_failures = (int)web.conf.web_address_failures,
        .lockout_ms = web.conf.web_lockout_ms,
    };
    if ((web.sessions = wsess_new(&lim)) == NULL || sem_init(&web.kdf, 0, KDF_AT_ONCE) < 0 ||
        pthread_key_create(&web.thread_key, thread_ctx_free) != 0) {
        log_error("cannot start: %s", strerror(errno));
        goto out;
    }
    if (web.tls && ((cert = read_file(web.conf.web_tls_cert)) == NULL ||
                    (key = read_file(web.conf.web_tls_key)) == NULL)) {
        log_error("cannot read [web] %s %s: %s", cert ? "tls_key" : "tls_cert",
                  cert ? web.conf.web_tls_key : web.conf.web_tls_cert, strerror(errno));
        goto out;
    }
    if (web.tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        log_error("this libmicrohttpd has no TLS: HTTPS needs a reverse proxy (docs/web.md)");
        goto out;
    }

    struct sockaddr_storage sa;
    socklen_t salen;
    memset(&sa, 0, sizeof sa);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&sa;
    if (inet_pton(AF_INET, web.conf.web_address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)web.conf.web_port);
        salen = sizeof *v4;
    } else if (inet_pton(AF_INET6, web.conf.web_address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)web.conf.web_port);
        salen = sizeof *v6;
    } else {
        log_error("[web] address = %s: give a numeric IPv4 or IPv6 address", web.conf.web_address);
        goto out;
    }
    (void)salen;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME | (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) |
                     (web.tls ? MHD_USE_TLS : 0);
    /* SIGTERM and SIGINT are waited for below: every thread blocks them. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)web.conf.web_threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)web.conf.web_max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)PER_IP_MAX, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, web.tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
        MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
    if (d == NULL) {
        log_error("cannot listen on %s port %lld: %s", web.conf.web_address,
                  (long long)web.conf.web_port, strerror(errno ? errno : EADDRINUSE));
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (pthread_create(&feed.thread, NULL, feed_main, NULL) != 0) {
        log_error("cannot start the change feed's thread");
        goto out;
    }
    feed_started = true;
    log_info("listening on %s://%s:%u/ for hall %s; halld at %s:%d as %s",
             web.tls ? "https" : "http", web.conf.web_address, di ? (unsigned)di->port : 0u,
             web.conf.hall_id, web.halld_host, web.halld_port, web.conf.web_device);
    while (sigwait(&stop, &signo) != 0)
        ;
    log_info("stopping (%s)", strsignal(signo));
    rc = 0;
out:
    if (feed_started) {
        __atomic_store_n(&feed.stop, true, __ATOMIC_RELEASE);
        pthread_join(feed.thread, NULL);
    }
    if (d != NULL)
        MHD_stop_daemon(d);
    if (key != NULL)
        OPENSSL_cleanse(key, strlen(key));
    free(key);
    free(cert);
    wsess_free(web.sessions);
    halld_conf_release(&web.conf);
    log_close();
    return rc;
}
