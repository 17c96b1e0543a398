/*
 * wapi — the web layer's requests. See wapi.h.
 *
 * Layout: the module's state and a request's body; answers (JSON, errors
 * in Chinese and English); reading a request (body, cookies, CSRF);
 * sign-in and sessions; window operations; estimated waits; lists; an
 * administrator's changes (hadmin.h); big screens (their tokens and what
 * the wall shows); a window's status; the change feed; the router.
 */
#include "wapi.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <microhttpd.h> /* the HTTP status and method names only */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth.h"
#include "clk.h"
#include "hadmin.h"
#include "pwhash.h"
#include "staffing.h"
#include "stats.h"
#include "supervise.h"
#include "wsess.h"

#define KDF_AT_ONCE     2 /* password checks at once: each takes 32 MiB */
#define COOKIE          "ow_session"
#define IDEMPOTENCY_MAX 64
#define UPLOADS_AT_ONCE 1 /* catalog imports receiving their file at once */

static struct {
    const struct halld_conf *conf;
    bool tls; /* HTTPS */
    const wapi_ops *ops;
    wsess *sessions;
    sem_t kdf;
    clk_zone *zone; /* the hall's, for its business day */
    /* A password hash that no password matches, checked for unknown users
     * so that their answer takes as long as a known user's. */
    char dummy_hash[PWHASH_MAX];
    int uploads; /* catalog imports receiving their file (atomic) */
} api;

int wapi_init(const struct halld_conf *conf, bool https, const wapi_ops *ops, char *err,
              size_t errlen)
{
    wsess_limits lim = {
        .max_sessions = (size_t)conf->web_max_sessions,
        .idle_ms = conf->web_session_idle_ms,
        .max_ms = conf->web_session_max_ms,
        .account_failures = (int)conf->web_account_failures,
        .address_failures = (int)conf->web_address_failures,
        .lockout_ms = conf->web_lockout_ms,
    };

    api.conf = conf;
    api.tls = https;
    api.ops = ops;
    if ((api.zone = clk_zone_new(conf->time_zone)) == NULL) {
        snprintf(err, errlen, "[hall] time_zone %s: %s", conf->time_zone, strerror(errno));
        return -1;
    }
    if (pwhash_make_cost("no password matches this", 15, api.dummy_hash, sizeof api.dummy_hash) <
        0) {
        snprintf(err, errlen, "cannot make a password hash: %s", strerror(errno));
        return -1;
    }
    if ((api.sessions = wsess_new(&lim)) == NULL) {
        snprintf(err, errlen, "cannot keep sessions: %s", strerror(errno));
        return -1;
    }
    if (sem_init(&api.kdf, 0, KDF_AT_ONCE) < 0) {
        snprintf(err, errlen, "cannot start: %s", strerror(errno));
        wsess_free(api.sessions);
        api.sessions = NULL;
        return -1;
    }
    return 0;
}

/* A line for the daemon's log, through ops->log (none: dropped). */
static void say(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(enum log_level level, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    if (api.ops == NULL || api.ops->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    api.ops->log(level, line);
}

/* Whether the request's session cookie is a live session of an enabled
 * administrator (nothing is answered: the request is routed later). */
static bool from_admin(wapi_request *r)
{
    const char *token = api.ops->lookup(r->conn, WAPI_COOKIE, COOKIE);
    char err[300];
    wsess_info s;
    store_user u;

    if (token == NULL || wsess_find(api.sessions, token, clk_utc_ms(), &s) != WSESS_LIVE)
        return false;
    store *rd = api.ops->reader(err, sizeof err);
    bool yes = rd != NULL && store_get_user(rd, s.user, &u) == 1 && !u.disabled &&
               u.session_epoch == s.epoch && auth_person_role(u.role) == AUTH_ADMIN;
    OPENSSL_cleanse(&u, sizeof u);
    return yes;
}

void wapi_request_start(wapi_request *r, const char *method, const char *url)
{
    r->body_max = WAPI_BODY_MAX;
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0 || strcmp(url, "/api/v1/catalog") != 0)
        return;
    /* A catalog's file is large: only an administrator's session may send
     * one, and few at once (anyone else's is cut at WAPI_BODY_MAX and then
     * refused as the sign-in check says). */
    if (!from_admin(r))
        return;
    if (__atomic_add_fetch(&api.uploads, 1, __ATOMIC_SEQ_CST) <= UPLOADS_AT_ONCE) {
        r->upload = true;
        r->body_max = WAPI_UPLOAD_MAX;
    } else {
        __atomic_sub_fetch(&api.uploads, 1, __ATOMIC_SEQ_CST);
    }
}

void wapi_body_add(wapi_request *r, const char *data, size_t len)
{
    size_t max = r->body_max ? r->body_max : WAPI_BODY_MAX;

    if (r->body_too_large || len == 0)
        return;
    if (len > max - r->body_len) {
        r->body_too_large = true;
        return;
    }
    if (r->body_len + len + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 1024;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        /* Not realloc: the old block, a password perhaps, is wiped. */
        char *grown = malloc(cap);
        if (grown == NULL) {
            r->body_too_large = true;
            return;
        }
        if (r->body != NULL) {
            memcpy(grown, r->body, r->body_len);
            OPENSSL_cleanse(r->body, r->body_cap);
            free(r->body);
        }
        r->body = grown;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
}

void wapi_request_done(wapi_request *r)
{
    json_decref(r->json);
    r->json = NULL;
    free(r->text);
    r->text = NULL;
    if (r->body != NULL)
        OPENSSL_cleanse(r->body, r->body_cap);
    free(r->body);
    r->body = NULL;
    r->body_len = r->body_cap = 0;
    if (r->upload)
        __atomic_sub_fetch(&api.uploads, 1, __ATOMIC_SEQ_CST);
    r->upload = false;
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

static void answer(wapi_request *r, unsigned status, json_t *json)
{
    json_decref(r->json);
    r->status = status;
    r->json = json;
}

/* An error: the protocol's code, a sentence in Chinese and one in English. */
static void answer_error(wapi_request *r, unsigned status, const char *code, const char *zh,
                         const char *en_fmt, ...) __attribute__((format(printf, 5, 6)));
static void answer_error(wapi_request *r, unsigned status, const char *code, const char *zh,
                         const char *en_fmt, ...)
{
    char en[512];
    va_list ap;

    va_start(ap, en_fmt);
    vsnprintf(en, sizeof en, en_fmt, ap);
    va_end(ap);
    /* The sentence may quote the request (a path, a name), which need not
     * be UTF-8 (or was cut inside a character): JSON takes only UTF-8. */
    json_t *text = json_string(en);
    if (text == NULL) {
        for (char *c = en; *c != '\0'; c++)
            if ((unsigned char)*c >= 0x80)
                *c = '?';
        text = json_string(en);
    }
    answer(
        r, status,
        json_pack("{s:{s:s,s:{s:s,s:o}}}", "error", "code", code, "message", "zh", zh, "en", text));
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

static void answer_wire_error(wapi_request *r, const Hall__Error *e)
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

static void answer_halld_down(wapi_request *r, const char *why)
{
    say(LOG_LEVEL_WARN, "halld: %s", why);
    answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                 "暂时无法连接叫号系统，请稍后重试。", "halld cannot be reached: %s", why);
}

/* ---- Reading a request ---------------------------------------------------------- */

static const char *header(wapi_request *r, const char *name)
{
    return api.ops->lookup(r->conn, WAPI_HEADER, name);
}

static bool is_write(const char *method)
{
    return strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0;
}

/* A request that changes something must come from a page of this server:
 * an Origin other than ours, or a browser saying it is cross-site, is
 * refused (a login form on another site included). */
static bool same_origin(wapi_request *r)
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
    snprintf(own, sizeof own, "%s://%s", api.tls ? "https" : "http", host);
    return strcmp(origin, own) == 0;
}

/* The JSON body of a write; NULL after answering 400/413/415. An empty
 * body is an empty object. */
static json_t *json_body(wapi_request *r)
{
    const char *type = header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    json_error_t jerr;
    json_t *j;

    if (r->body_too_large) {
        answer_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "ERR_BAD_REQUEST", "请求内容过长。",
                     "the request body is larger than %d bytes", WAPI_BODY_MAX);
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
static int member_str(wapi_request *r, json_t *o, const char *name, size_t max, const char **out)
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
static int member_uint(wapi_request *r, json_t *o, const char *name, uint64_t max, uint64_t *out)
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
    Hall__Envelope *a = api.ops->ask_halld(&env, err);
    if (a == NULL)
        return -1;
    int rc = a->body_case == HALL__ENVELOPE__BODY_WEB_EVENT_REPLY ? 0 : -1;
    if (rc < 0)
        snprintf(err, WAPI_ERR_LEN, "halld refused the audit event: %s",
                 a->body_case == HALL__ENVELOPE__BODY_ERROR ? a->error->message : "?");
    proto_free(a);
    return rc;
}

static void minutes_text(int64_t until, char *out, size_t len)
{
    int64_t left = (until - clk_utc_ms() + 59999) / 60000;

    snprintf(out, len, "%lld", (long long)(left > 0 ? left : 1));
}

static void answer_closed_gate(wapi_request *r, enum wsess_gate gate, int64_t until)
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

static void set_cookie(wapi_request *r, const char *token)
{
    if (token != NULL)
        snprintf(r->cookie, sizeof r->cookie,
                 COOKIE "=%s; Path=/; HttpOnly; Secure; SameSite=Strict", token);
    else
        snprintf(r->cookie, sizeof r->cookie,
                 COOKIE "=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
}

static void sign_in(wapi_request *r)
{
    json_t *body = json_body(r);
    const char *name, *password;
    char err[WAPI_ERR_LEN], token[WSESS_TOKEN_LEN + 1];
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
    if ((gate = wsess_gate_of(api.sessions, name, r->addr, now, &until)) != WSESS_OPEN) {
        answer_closed_gate(r, gate, until);
        goto out;
    }
    store *rd = api.ops->reader(err, sizeof err);
    if (rd == NULL || (found = store_get_user(rd, name, &p.u)) < 0) {
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法读取用户信息，请稍后重试。", "cannot read the users: %s",
                     rd ? store_errmsg(rd) : err);
        goto out;
    }
    /* At most KDF_AT_ONCE checks at once: each one takes 32 MiB. */
    sem_wait(&api.kdf);
    ok = pwhash_verify(password, found ? p.u.pwhash : api.dummy_hash) == 1 && found;
    sem_post(&api.kdf);
    if (!ok || p.u.disabled) {
        gate = wsess_failed(api.sessions, name, r->addr, now, &until);
        if (audit(name, r->addr, err, "sign-in failed (%s)%s",
                  !found ? "unknown user"
                  : !ok  ? "wrong password"
                         : "account disabled",
                  gate == WSESS_ACCOUNT_LOCKED    ? "; account locked"
                  : gate == WSESS_ADDRESS_BLOCKED ? "; address blocked"
                                                  : "") < 0)
            say(LOG_LEVEL_WARN, "cannot audit a failed sign-in of %s from %s: %s", name, r->addr,
                err);
        say(LOG_LEVEL_INFO, "sign-in of %s from %s failed", name, r->addr);
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
    wsess_succeeded(api.sessions, name);
    if (wsess_begin(api.sessions, name, p.u.session_epoch, now, token, &p.s) < 0) {
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE", "系统暂时无法登录。",
                     "no random bytes for a session");
        goto out;
    }
    say(LOG_LEVEL_INFO, "%s signed in from %s", name, r->addr);
    set_cookie(r, token);
    answer(r, MHD_HTTP_OK, session_json(&p));
    OPENSSL_cleanse(token, sizeof token);
out:
    json_decref(body);
}

/* The person signed in on r's session, after the CSRF check for writes;
 * false after answering 401/403. The user is read again every time: a
 * password, role or epoch change, or disabling, ends the session at once. */
static bool signed_in(wapi_request *r, struct person *p)
{
    const char *token = api.ops->lookup(r->conn, WAPI_COOKIE, COOKIE);
    char err[300];
    enum wsess_found found;

    memset(p, 0, sizeof *p);
    found = token ? wsess_find(api.sessions, token, clk_utc_ms(), &p->s) : WSESS_NONE;
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
    store *rd = api.ops->reader(err, sizeof err);
    int got = rd ? store_get_user(rd, p->s.user, &p->u) : -1;
    if (got < 0) {
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法读取用户信息，请稍后重试。", "cannot read the users: %s",
                     rd ? store_errmsg(rd) : err);
        return false;
    }
    if (got == 0 || p->u.disabled || p->u.session_epoch != p->s.epoch ||
        (p->role = auth_person_role(p->u.role)) == 0) {
        wsess_end(api.sessions, token);
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
            say(LOG_LEVEL_WARN,
                "%s from %s: %s %s without a valid CSRF token or from another origin", p->s.user,
                r->addr, r->method, r->url);
            answer_error(r, MHD_HTTP_FORBIDDEN, "ERR_CSRF", "请求来源无法验证，请刷新页面后重试。",
                         "the request does not carry this session's X-CSRF-Token, or comes from "
                         "another origin");
            return false;
        }
    }
    return true;
}

static void sign_out(wapi_request *r, bool everywhere)
{
    struct person p;
    char err[WAPI_ERR_LEN];
    size_t n = 1;

    if (!signed_in(r, &p))
        return;
    const char *token = api.ops->lookup(r->conn, WAPI_COOKIE, COOKIE);
    if (everywhere)
        n = wsess_end_user(api.sessions, p.s.user, clk_utc_ms());
    else
        wsess_end(api.sessions, token);
    set_cookie(r, NULL);
    if ((everywhere ? audit(p.s.user, r->addr, err, "signed out everywhere (%zu sessions)", n)
                    : audit(p.s.user, r->addr, err, "signed out")) < 0)
        say(LOG_LEVEL_WARN, "cannot audit the sign-out of %s: %s", p.s.user, err);
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
    return json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:i,s:i,s:s}", "id",
                     (json_int_t)t->id, "number", t->number, "area", t->area, "matter", t->matter,
                     "state", q_state_text(t->state), "priority",
                     t->priority == Q_GREEN         ? "green"
                     : t->priority == Q_APPOINTMENT ? "appointment"
                                                    : "normal",
                     "masked_name", t->masked_name, "issued_at_ms", (json_int_t)t->issued_ms,
                     "state_since_ms", (json_int_t)t->state_ms, "appointment_ms",
                     (json_int_t)t->appointment_ms, "recalls", (int)t->recalls, "window_no",
                     (int)t->window_no, "note", t->note);
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
static void window_op(wapi_request *r, uint32_t no, const char *op)
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
    const char *to_area, *reason, *clerk, *note, *key = header(r, "Idempotency-Key");
    uint64_t ticket, to_window;
    char err[WAPI_ERR_LEN];
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
        member_str(r, body, "clerk_id", 48, &clerk) < 0 ||
        member_str(r, body, "note", Q_NOTE_MAX - 1, &note) < 0)
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
/* The messages that are just a window and a ticket. */
#define WINDOW_TICKET(field)                                                                       \
    hall__##field##__init(&m.field);                                                               \
    m.field.window_no = no;                                                                        \
    m.field.ticket_id = ticket;                                                                    \
    env.field = &m.field;                                                                          \
    break
    case HALL__ENVELOPE__BODY_RECALL:
        WINDOW_TICKET(recall);
    case HALL__ENVELOPE__BODY_NO_SHOW:
        WINDOW_TICKET(no_show);
    case HALL__ENVELOPE__BODY_START:
        WINDOW_TICKET(start);
    case HALL__ENVELOPE__BODY_FINISH:
        WINDOW_TICKET(finish);
#undef WINDOW_TICKET
    case HALL__ENVELOPE__BODY_TRANSFER:
        hall__transfer__init(&m.transfer);
        m.transfer.window_no = no;
        m.transfer.ticket_id = ticket;
        m.transfer.to_area = unconst(to_area);
        m.transfer.to_window = (uint32_t)to_window;
        m.transfer.note = unconst(note);
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
    Hall__Envelope *a = api.ops->ask_halld(&env, err);
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

/* ---- Estimated waits ---------------------------------------------------------------
 *
 * halld's estimate of the wait per area comes with its display pushes
 * (AreaStatus.est_wait_s), not from the database: the change feed's
 * subscriber hands each push over (wapi_feed_estimates) and the latest
 * one of every area is kept here for the lists. */

#define EST_AREAS_MAX 128

static struct {
    pthread_mutex_t lock;
    size_t n;
    struct {
        char area[Q_CODE_MAX];
        uint32_t est_s;
    } a[EST_AREAS_MAX];
} est = {.lock = PTHREAD_MUTEX_INITIALIZER};

void wapi_feed_estimates(const Hall__DisplayPush *push)
{
    if (push == NULL || push->n_areas == 0)
        return;
    pthread_mutex_lock(&est.lock);
    /* A push that has areas has every area: it replaces what was kept. */
    est.n = 0;
    for (size_t i = 0; i < push->n_areas && est.n < EST_AREAS_MAX; i++) {
        const Hall__AreaStatus *a = push->areas[i];
        if (a == NULL || a->area == NULL || strlen(a->area) >= Q_CODE_MAX)
            continue;
        snprintf(est.a[est.n].area, Q_CODE_MAX, "%s", a->area);
        est.a[est.n++].est_s = a->est_wait_s;
    }
    pthread_mutex_unlock(&est.lock);
}

/* The latest estimate of area's wait in seconds, null when halld has not
 * told one. */
static json_t *est_wait_json(const char *area)
{
    json_t *v = NULL;

    pthread_mutex_lock(&est.lock);
    for (size_t i = 0; i < est.n && v == NULL; i++)
        if (strcmp(est.a[i].area, area) == 0)
            v = json_integer(est.a[i].est_s);
    pthread_mutex_unlock(&est.lock);
    return v ? v : json_null();
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
    say(LOG_LEVEL_INFO,
        "test hook: a read of the windows is held in hallweb (pid %ld, thread %ld) while %s "
        "exists",
        (long)getpid(), (long)gettid(), path);
    for (int i = 0; i < 6000 && access(path, F_OK) == 0; i++)
        usleep(10 * 1000);
    say(LOG_LEVEL_INFO, "test hook: the held read goes on");
}

static int window_row(void *arg, const q_window *w)
{
    json_t *areas = json_array();

    if (json_array_size(arg) == 0)
        test_hold_read();
    for (int i = 0; i < w->nareas; i++)
        json_array_append_new(
            areas, json_pack("{s:s,s:i}", "area", w->areas[i], "weight", (int)w->weights[i]));
    return json_array_append_new(
               arg, json_pack("{s:i,s:s,s:s,s:s,s:s,s:I,s:o,s:n}", "no", (int)w->no, "name",
                              w->name, "type", queue_window_type_name(w->type), "state",
                              w->state == QW_OPEN     ? "open"
                              : w->state == QW_PAUSED ? "paused"
                                                      : "closed",
                              "clerk", w->clerk, "current", (json_int_t)w->current, "areas", areas,
                              "since_ms")) < 0;
}

/* The hall's business day now. */
static int32_t today(void)
{
    return clk_date_key(clk_business_day(api.zone, clk_utc_ms(), (int)api.conf->rollover_hour));
}

/* A window's last event today: since when it is in its state. */
static int since_row(void *arg, uint32_t no, int64_t at_ms)
{
    json_t *w;
    size_t i;

    json_array_foreach((json_t *)arg, i, w) if (json_integer_value(json_object_get(w, "no")) == no)
        json_object_set_new(w, "since_ms", json_integer(at_ms));
    return 0;
}

static int user_row(void *arg, const store_user *u)
{
    return json_array_append_new(arg, json_pack("{s:s,s:s,s:s,s:s,s:b}", "name", u->name,
                                                "display_name", u->display_name, "role", u->role,
                                                "clerk_id", u->clerk_id, "disabled", u->disabled)) <
           0;
}

static void list(wapi_request *r, unsigned roles, const char *what, int (*load)(store *, json_t *))
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
    store *rd = api.ops->reader(err, sizeof err);
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
    /* The server's clock with every list: pages count times in state
     * from it, whatever the clock of the PC showing them says. */
    answer(r, MHD_HTTP_OK,
           json_pack("{s:o,s:I}", what, rows, "server_time_ms", (json_int_t)clk_utc_ms()));
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

    json_object_foreach(by_area, key, v)
    {
        json_object_set_new(v, "est_wait_s", est_wait_json(key));
        json_array_append(rows, v);
    }
    json_decref(by_area);
    return rc;
}

static int load_windows(store *s, json_t *rows)
{
    int rc = store_load_windows(s, window_row, rows);

    return rc != 0 ? rc : store_windows_since(s, today(), since_row, rows);
}

static int screen_row(void *arg, const store_screen *sc)
{
    return json_array_append_new(
               arg, json_pack("{s:s,s:s,s:I,s:s,s:I,s:s}", "name", sc->name, "state",
                              sc->revoked_ms ? "revoked" : "live", "issued_ms",
                              (json_int_t)sc->issued_ms, "issued_by", sc->issued_by, "revoked_ms",
                              (json_int_t)sc->revoked_ms, "revoked_by", sc->revoked_by)) < 0;
}

static int load_screens(store *s, json_t *rows)
{
    return store_load_screens(s, screen_row, rows);
}

static int load_users(store *s, json_t *rows)
{
    return store_load_users(s, user_row, rows);
}

/* ---- Administration (the admin pages, hadmin.h) ------------------------------------
 *
 * The same checks and writes as hallctl's verbs, on hallweb's own
 * connection to the hall's database (ops->admin_begin), each change with
 * its audit event naming the administrator and their address. */

/* The signed-in administrator of a request; false after answering. */
static bool admin_in(wapi_request *r, struct person *p)
{
    if (!signed_in(r, p))
        return false;
    if (p->role == AUTH_ADMIN)
        return true;
    answer_error(r, MHD_HTTP_FORBIDDEN, "ERR_FORBIDDEN", "只有管理员可以进行此操作。",
                 "a %s may not change the hall's settings (only an admin may)", p->u.role);
    return false;
}

static hadmin_actor actor_of(const struct person *p, const wapi_request *r)
{
    return (hadmin_actor){api.conf->web_device, p->s.user, r->addr, api.zone,
                          (int)api.conf->rollover_hour};
}

/* A refusal of hadmin's, with the field at fault for the page to mark. */
static void answer_refusal(wapi_request *r, const hadmin_error *e)
{
    static const struct {
        unsigned status;
        const char *code;
    } faults[] = {
        [HADMIN_INVALID] = {MHD_HTTP_BAD_REQUEST, "ERR_BAD_REQUEST"},
        [HADMIN_NOT_FOUND] = {MHD_HTTP_NOT_FOUND, "ERR_NOT_FOUND"},
        [HADMIN_CONFLICT] = {MHD_HTTP_CONFLICT, "ERR_ILLEGAL_STATE"},
        [HADMIN_FAILED] = {MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE"},
    };
    int f = e->fault >= HADMIN_INVALID && e->fault <= HADMIN_FAILED ? (int)e->fault : 0;

    if (f == 0) {
        answer_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "ERR_INTERNAL", "系统内部错误。", "%s",
                     e->en);
        return;
    }
    if (e->field == NULL)
        answer_error(r, faults[f].status, faults[f].code, e->zh, "%s", e->en);
    else if (e->value[0] != '\0')
        answer_error(r, faults[f].status, faults[f].code, e->zh, "%s '%s': %s", e->field, e->value,
                     e->en);
    else
        answer_error(r, faults[f].status, faults[f].code, e->zh, "%s: %s", e->field, e->en);
    json_t *err = json_object_get(r->json, "error");
    if (e->field != NULL && err != NULL)
        json_object_set_new(err, "field", json_string(e->field));
}

/* The administrator's connection, or NULL after answering 503. */
static store *admin_store(wapi_request *r)
{
    char err[300];
    store *st = api.ops->admin_begin ? api.ops->admin_begin(err, sizeof err) : NULL;

    if (st == NULL)
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法写入，请稍后重试。", "cannot write to the hall's database: %s",
                     api.ops->admin_begin ? err : "not here");
    return st;
}

/* The end of a change on the administrator's connection: rc as hadmin's
 * functions return it (-1 refused, 0 nothing to do, 1 or more changed). */
static void admin_done(wapi_request *r, const struct person *p, int rc, const hadmin_error *e,
                       bool reload, json_t *done)
{
    api.ops->admin_end(rc <= 0 ? WAPI_UNCHANGED : reload ? WAPI_RELOAD : WAPI_CHANGED);
    if (rc < 0) {
        say(LOG_LEVEL_INFO, "%s from %s: %s %s refused: %s", p->s.user, r->addr, r->method, r->url,
            e->en);
        json_decref(done);
        answer_refusal(r, e);
        return;
    }
    json_object_set_new(done, "changed", json_boolean(rc > 0));
    answer(r, MHD_HTTP_OK, done);
}

/* POST /api/v1/windows {"no","name","type","areas":[{"area","weight"}]} */
static void save_window(wapi_request *r)
{
    struct person p;
    const char *name, *type;
    uint64_t no;
    hadmin_error e;
    q_window w;
    json_t *body = NULL, *areas, *a;
    size_t i;

    if (!admin_in(r, &p) || (body = json_body(r)) == NULL)
        goto out;
    if (member_uint(r, body, "no", 1000000, &no) < 0 ||
        member_str(r, body, "name", Q_NAME_MAX, &name) < 0 ||
        member_str(r, body, "type", 16, &type) < 0)
        goto out;
    if (hadmin_window_build(&w, (long)no, name, type, &e) < 0) {
        answer_refusal(r, &e);
        goto out;
    }
    areas = json_object_get(body, "areas");
    if (!json_is_array(areas)) {
        answer_error(r, MHD_HTTP_BAD_REQUEST, "ERR_BAD_REQUEST", "请至少选择一个业务区。",
                     "areas must be an array of {\"area\", \"weight\"}");
        goto out;
    }
    json_array_foreach(areas, i, a)
    {
        const char *code;
        uint64_t weight;
        if (!json_is_object(a) || member_str(r, a, "area", Q_CODE_MAX, &code) < 0 ||
            member_uint(r, a, "weight", 1000000, &weight) < 0)
            goto out_bad;
        if (hadmin_window_area(&w, code, json_object_get(a, "weight") ? (long)weight : 1, &e) < 0) {
            answer_refusal(r, &e);
            goto out;
        }
    }
    store *st = admin_store(r);
    if (st == NULL)
        goto out;
    hadmin_actor actor = actor_of(&p, r);
    int rc = hadmin_window_save(st, &actor, &w, &e);
    admin_done(r, &p, rc < 0 ? -1 : 1, &e, true, json_pack("{s:i}", "no", (int)w.no));
    goto out;
out_bad:
    if (r->json == NULL)
        answer_error(r, MHD_HTTP_BAD_REQUEST, "ERR_BAD_REQUEST", "请求内容有误。",
                     "each of areas is {\"area\": CODE, \"weight\": 1..%d}", HADMIN_WEIGHT_MAX);
out:
    json_decref(body);
}

/* POST /api/v1/clerks {"id","name"} */
static void save_clerk(wapi_request *r)
{
    struct person p;
    const char *id, *name;
    hadmin_error e;
    store_clerk c;
    json_t *body = NULL;

    if (!admin_in(r, &p) || (body = json_body(r)) == NULL ||
        member_str(r, body, "id", Q_CODE_MAX + 16, &id) < 0 ||
        member_str(r, body, "name", Q_NAME_MAX, &name) < 0)
        goto out;
    if (hadmin_clerk_build(&c, id, name, &e) < 0) {
        answer_refusal(r, &e);
        goto out;
    }
    store *st = admin_store(r);
    if (st == NULL)
        goto out;
    hadmin_actor actor = actor_of(&p, r);
    int rc = hadmin_clerk_save(st, &actor, &c, &e);
    admin_done(r, &p, rc < 0 ? -1 : 1, &e, true, json_pack("{s:s}", "id", c.id));
out:
    json_decref(body);
}

/* POST /api/v1/devices/ID/revoke */
static void revoke_device(wapi_request *r, const char *id)
{
    struct person p;
    hadmin_error e;

    if (!admin_in(r, &p))
        return;
    store *st = admin_store(r);
    if (st == NULL)
        return;
    hadmin_actor actor = actor_of(&p, r);
    int rc = hadmin_device_revoke(st, &actor, id, &e);
    admin_done(r, &p, rc, &e, true, json_pack("{s:s}", "id", id));
}

/* POST /api/v1/devices/command {"id","type","window"}: the hallctl command
 * that registers the device and writes its bundle. Issuing stays with
 * hallctl, which alone reads the CA key; the device is checked here as
 * hallctl will check it. */
static void device_command(wapi_request *r)
{
    struct person p;
    const char *id, *type;
    uint64_t window;
    char err[300], cmd[256];
    hadmin_error e;
    store_device d;
    json_t *body = NULL;

    if (!admin_in(r, &p) || (body = json_body(r)) == NULL ||
        member_str(r, body, "id", Q_DEVICE_MAX + 8, &id) < 0 ||
        member_str(r, body, "type", 16, &type) < 0 ||
        member_uint(r, body, "window", 1000000, &window) < 0)
        goto out;
    store *rd = api.ops->reader(err, sizeof err);
    if (hadmin_device_build(&d, id, type, (long)window, &e) < 0 ||
        (rd != NULL && hadmin_device_check_new(rd, &d, &e) < 0)) {
        answer_refusal(r, &e);
        goto out;
    }
    if (rd == NULL) {
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法读取，请稍后重试。", "cannot read the hall's database: %s", err);
        goto out;
    }
    /* The id and type are words of [A-Za-z0-9._-]: nothing to quote. */
    if (d.window_no != 0)
        snprintf(cmd, sizeof cmd, "hallctl device add --id %s --type %s --window %u", d.id,
                 hadmin_device_type_name(d.type), d.window_no);
    else
        snprintf(cmd, sizeof cmd, "hallctl device add --id %s --type %s", d.id,
                 hadmin_device_type_name(d.type));
    answer(r, MHD_HTTP_OK, json_pack("{s:s}", "command", cmd));
out:
    json_decref(body);
}

/* ---- The hall calendar (docs/calendar.md) ---------------------------------- */

/* The calendar as the admin page shows it. */
static json_t *calendar_json(const calendar *c)
{
    static const char *const wdays[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    static const char *const unstaffed[] = {"default", "yes", "no"};
    json_t *hours = json_array(), *dates = json_array(), *areas = json_array();
    const char *area;
    const cal_date *d;
    const cal_area *a;

    for (size_t i = 0; (area = calendar_hours_area_at(c, i)) != NULL; i++)
        for (int wd = 0; wd < 7; wd++) {
            const cal_hours *h = calendar_hours_of(c, area, wd);
            char o[6], cl[6], ls[6], le[6], la[6], lunch[12] = "";

            if (h == NULL)
                continue;
            calendar_format_time(h->open, o);
            calendar_format_time(h->close, cl);
            calendar_format_time(h->last, la);
            if (h->lunch_start != h->lunch_end) {
                calendar_format_time(h->lunch_start, ls);
                calendar_format_time(h->lunch_end, le);
                snprintf(lunch, sizeof lunch, "%s-%s", ls, le);
            }
            json_array_append_new(hours, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "area", area, "day",
                                                   wdays[wd], "open", o, "close", cl, "lunch",
                                                   lunch, "last", la));
        }
    for (size_t i = 0; (d = calendar_date_at(c, i)) != NULL; i++) {
        char date[24];
        snprintf(date, sizeof date, "%04d-%02d-%02d", (int)d->day / 10000, (int)d->day / 100 % 100,
                 (int)d->day % 100);
        json_array_append_new(dates, json_pack("{s:s,s:s,s:s,s:s}", "date", date, "kind",
                                               d->kind == CAL_HOLIDAY ? "holiday" : "workday", "as",
                                               d->kind == CAL_HOLIDAY ? "" : wdays[d->as_wday],
                                               "name", d->name));
    }
    for (size_t i = 0; (a = calendar_area_at(c, i)) != NULL; i++)
        json_array_append_new(areas,
                              json_pack("{s:s,s:b,s:s}", "area", a->area, "always_open",
                                        a->always_open, "unstaffed", unstaffed[a->unstaffed]));
    return json_pack("{s:b,s:o,s:o,s:o}", "configured", calendar_configured(c), "hours", hours,
                     "dates", dates, "areas", areas);
}

/* GET /api/v1/calendar */
static void get_calendar(wapi_request *r)
{
    struct person p;
    char err[300];
    calendar *c;

    if (!signed_in(r, &p))
        return;
    if (p.role != AUTH_ADMIN && p.role != AUTH_MANAGER && p.role != AUTH_AUDITOR) {
        answer_error(r, MHD_HTTP_FORBIDDEN, "ERR_FORBIDDEN", "无权查看此内容。",
                     "a %s may not read the calendar", p.u.role);
        return;
    }
    store *rd = api.ops->reader(err, sizeof err);
    if (rd == NULL || store_load_calendar(rd, &c) < 0) {
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法读取，请稍后重试。", "cannot read the calendar: %s",
                     rd ? store_errmsg(rd) : err);
        return;
    }
    answer(r, MHD_HTTP_OK, json_pack("{s:o}", "calendar", calendar_json(c)));
    calendar_free(c);
}

/* POST /api/v1/calendar/hours {"area","days","open","close","lunch","last"},
 * /clear {"area","days"}, /dates {"date","kind","as","name"},
 * /dates/remove {"date"}, /areas {"area","always_open","unstaffed"}. */
static void change_calendar(wapi_request *r, const char *what)
{
    const char *area, *days, *open, *close, *lunch, *last, *date, *kind, *as, *name, *always,
        *unstaffed;
    struct person p;
    hadmin_error e;
    json_t *body = NULL;
    int rc;

    if (!admin_in(r, &p) || (body = json_body(r)) == NULL ||
        member_str(r, body, "area", CAL_AREA_MAX + 16, &area) < 0 ||
        member_str(r, body, "days", 32, &days) < 0 || member_str(r, body, "open", 8, &open) < 0 ||
        member_str(r, body, "close", 8, &close) < 0 ||
        member_str(r, body, "lunch", 16, &lunch) < 0 || member_str(r, body, "last", 8, &last) < 0 ||
        member_str(r, body, "date", 16, &date) < 0 || member_str(r, body, "kind", 16, &kind) < 0 ||
        member_str(r, body, "as", 8, &as) < 0 ||
        member_str(r, body, "name", CAL_NAME_MAX, &name) < 0 ||
        member_str(r, body, "always_open", 8, &always) < 0 ||
        member_str(r, body, "unstaffed", 8, &unstaffed) < 0)
        goto out;
    store *st = admin_store(r);
    if (st == NULL)
        goto out;
    hadmin_actor actor = actor_of(&p, r);
    if (days[0] == '\0')
        days = "1-5";
    if (strcmp(what, "hours") == 0)
        rc = hadmin_calendar_hours(st, &actor, area, days, open, close, lunch, last, &e) < 0 ? -1
                                                                                             : 1;
    else if (strcmp(what, "clear") == 0)
        rc = hadmin_calendar_clear(st, &actor, area, days, &e);
    else if (strcmp(what, "dates") == 0)
        rc = hadmin_calendar_date(st, &actor, date, kind, as, name, &e) < 0 ? -1 : 1;
    else if (strcmp(what, "remove") == 0)
        rc = hadmin_calendar_undate(st, &actor, date, &e);
    else
        rc = hadmin_calendar_area(st, &actor, area, always[0] ? always : NULL,
                                  unstaffed[0] ? unstaffed : NULL, &e) < 0
                 ? -1
                 : 1;
    admin_done(r, &p, rc, &e, true, json_object());
out:
    json_decref(body);
}

/* The longest CSV of dated exceptions the page sends: a year of a hall's
 * holidays and swapped working days is a few dozen lines, and the body of
 * a request is small (WAPI_BODY_MAX) anyway. */
#define CALENDAR_CSV_MAX 12000

/* POST /api/v1/calendar/import {"csv"}: a year's holidays and swapped
 * working days, all or nothing, in `hallctl calendar import`'s format. */
static void import_calendar(wapi_request *r)
{
    const char *csv;
    struct person p;
    hadmin_error e;
    json_t *body = NULL;
    size_t n = 0;

    if (!admin_in(r, &p) || (body = json_body(r)) == NULL ||
        member_str(r, body, "csv", CALENDAR_CSV_MAX, &csv) < 0)
        goto out;
    store *st = admin_store(r);
    if (st == NULL)
        goto out;
    hadmin_actor actor = actor_of(&p, r);
    int rc = hadmin_calendar_import(st, &actor, csv, strlen(csv), &n, &e) < 0 ? -1 : n > 0;
    admin_done(r, &p, rc, &e, true, json_pack("{s:I}", "imported", (json_int_t)n));
out:
    json_decref(body);
}

/* Where a catalog error is: "NAME:7: column area: ..." (CSV) or
 * "NAME: line 3, column 9: ..." and "NAME: matters[3].code: ..." (JSON). */
static void catalog_where(const char *err, const char *name, json_t *error, char *zh, size_t len)
{
    size_t n = strlen(name);
    const char *at = strncmp(err, name, n) == 0 && err[n] == ':' ? err + n + 1 : NULL;
    int line = 0, col = 0, used = 0;
    char column[48] = "", key[80] = "";

    snprintf(zh, len, "目录文件有误，未导入任何内容。");
    if (at == NULL)
        return;
    if (sscanf(at, "%d: column %47[^:]:", &line, column) >= 1 && line > 0) {
        json_object_set_new(error, "line", json_integer(line));
        if (column[0] != '\0') {
            json_object_set_new(error, "column", json_string(column));
            snprintf(zh, len, "目录文件第 %d 行「%s」列有误，未导入任何内容。", line, column);
        } else {
            snprintf(zh, len, "目录文件第 %d 行有误，未导入任何内容。", line);
        }
    } else if (sscanf(at, " line %d, column %d:%n", &line, &col, &used) == 2 && used > 0) {
        json_object_set_new(error, "line", json_integer(line));
        json_object_set_new(error, "column", json_integer(col));
        snprintf(zh, len, "目录文件第 %d 行第 %d 列不是有效的 JSON，未导入任何内容。", line, col);
    } else if (sscanf(at, " %79[A-Za-z0-9_.[]]:", key) == 1 && strchr(key, '[') != NULL) {
        json_object_set_new(error, "key", json_string(key));
        snprintf(zh, len, "目录文件中「%s」有误，未导入任何内容。", key);
    }
}

/* POST /api/v1/catalog?name=FILE[&format=csv|json], the file as the body. */
static void import_catalog(wapi_request *r)
{
    struct person p;
    const char *name = api.ops->lookup(r->conn, WAPI_QUERY, "name");
    const char *format = api.ops->lookup(r->conn, WAPI_QUERY, "format");
    char err[1024], file[64];
    hadmin_error e;
    hadmin_import im = {0};

    if (!admin_in(r, &p))
        return;
    if (!r->upload) {
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "另一份目录正在导入，请稍后重试。", "another catalog import is under way");
        return;
    }
    if (r->body_too_large) {
        answer_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "ERR_BAD_REQUEST",
                     "目录文件过大，未导入任何内容。", "a catalog file is at most %d bytes",
                     WAPI_UPLOAD_MAX);
        return;
    }
    /* The file's name is only shown (in messages and the audit event). */
    const char *base = name && strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    if (base == NULL || !catalog_name_ok(base, sizeof file))
        base = "catalog";
    snprintf(file, sizeof file, "%s", base);
    catalog_format fmt =
        format != NULL ? (catalog_format)catalog_format_parse(format) : catalog_format_of(file);
    if (format != NULL && (int)fmt < 0) {
        answer_error(r, MHD_HTTP_BAD_REQUEST, "ERR_BAD_REQUEST", "目录格式须为 csv 或 json。",
                     "format %s: use csv or json", format);
        return;
    }
    if (fmt == CATALOG_AUTO) {
        answer_error(r, MHD_HTTP_BAD_REQUEST, "ERR_BAD_REQUEST",
                     "无法判断目录格式：请用 .csv 或 .json 文件。",
                     "cannot tell the format of %s: name it .csv or .json, or say format=", file);
        return;
    }
    catalog *c = catalog_parse(file, r->body ? r->body : "", r->body_len, fmt, err, sizeof err);
    if (c == NULL) {
        char zh[200];
        json_t *where = json_object();
        catalog_where(err, file, where, zh, sizeof zh);
        answer_error(r, MHD_HTTP_BAD_REQUEST, "ERR_BAD_REQUEST", zh, "%s (nothing was imported)",
                     err);
        json_object_update(json_object_get(r->json, "error"), where);
        json_object_set_new(json_object_get(r->json, "error"), "field", json_string("catalog"));
        json_decref(where);
        return;
    }
    store *st = admin_store(r);
    if (st == NULL) {
        catalog_free(c);
        return;
    }
    hadmin_actor actor = actor_of(&p, r);
    int rc = hadmin_catalog_import(st, &actor, c, file, &im, &e);
    json_t *retired = json_array();
    for (size_t i = 0; rc == 0 && i < im.nretired; i++)
        json_array_append_new(retired, json_pack("{s:s,s:s}", "code", im.retired[i].code, "name",
                                                 im.retired[i].name));
    admin_done(r, &p, rc < 0 ? -1 : 1, &e, true,
               json_pack("{s:I,s:I,s:o}", "areas", (json_int_t)im.nareas, "matters",
                         (json_int_t)im.nmatters, "retired", retired));
    hadmin_import_release(&im);
    catalog_free(c);
}

/* A password given (checked) or made, and its hash; -1 after answering. */
static int new_password(wapi_request *r, const char *given, char *made, size_t len, char *hash)
{
    hadmin_error e;
    int rc;

    made[0] = '\0';
    if (*given != '\0' && hadmin_password_check(given, &e) < 0) {
        answer_refusal(r, &e);
        return -1;
    }
    if (*given == '\0' && hadmin_password_make(made, len) < 0) {
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法生成密码，请稍后重试。", "cannot make a password: %s",
                     strerror(errno));
        return -1;
    }
    sem_wait(&api.kdf);
    rc = pwhash_make(*given ? given : made, hash, PWHASH_MAX);
    sem_post(&api.kdf);
    if (rc < 0)
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法处理密码，请稍后重试。", "cannot hash the password: %s",
                     strerror(errno));
    return rc;
}

/* The answer of a change that set a password: the one made, shown once. */
static json_t *password_answer(const char *name, const char *made)
{
    return *made ? json_pack("{s:s,s:s}", "name", name, "password", made)
                 : json_pack("{s:s}", "name", name);
}

/* POST /api/v1/users {"name","role","clerk","display_name","password"} */
static void add_user(wapi_request *r)
{
    struct person p;
    const char *name, *role, *clerk, *display, *password;
    char made[HADMIN_PASSWORD_MADE + 1], hash[PWHASH_MAX];
    hadmin_error e;
    store_user u;
    json_t *body = NULL;

    if (!admin_in(r, &p) || (body = json_body(r)) == NULL ||
        member_str(r, body, "name", STORE_USER_NAME_MAX + 8, &name) < 0 ||
        member_str(r, body, "role", 16, &role) < 0 ||
        member_str(r, body, "clerk", Q_CODE_MAX + 16, &clerk) < 0 ||
        member_str(r, body, "display_name", Q_NAME_MAX, &display) < 0 ||
        member_str(r, body, "password", PWHASH_PASSWORD_MAX + 8, &password) < 0)
        goto out;
    if (hadmin_user_build(&u, name, role, clerk, display, &e) < 0) {
        answer_refusal(r, &e);
        goto out;
    }
    if (new_password(r, password, made, sizeof made, hash) < 0)
        goto out;
    store *st = admin_store(r);
    if (st != NULL) {
        hadmin_actor actor = actor_of(&p, r);
        int rc = hadmin_user_add(st, &actor, &u, hash, &e);
        admin_done(r, &p, rc < 0 ? -1 : 1, &e, false, password_answer(u.name, made));
    }
out:
    OPENSSL_cleanse(made, sizeof made);
    OPENSSL_cleanse(hash, sizeof hash);
    OPENSSL_cleanse(&u, sizeof u);
    json_decref(body); /* a password in it is freed, not wiped: jansson's */
}

/* POST /api/v1/users/NAME/OP: role, disable, enable, password, logout. */
static void change_user(wapi_request *r, const char *name, const char *op)
{
    struct person p;
    const char *role = "", *clerk = "", *password = "";
    char made[HADMIN_PASSWORD_MADE + 1] = "", hash[PWHASH_MAX] = "";
    hadmin_error e;
    json_t *body = NULL;
    bool self_barred = strcmp(op, "role") == 0 || strcmp(op, "disable") == 0;
    int rc;

    if (strcmp(op, "role") != 0 && strcmp(op, "disable") != 0 && strcmp(op, "enable") != 0 &&
        strcmp(op, "password") != 0 && strcmp(op, "logout") != 0) {
        answer_error(r, MHD_HTTP_NOT_FOUND, "ERR_NOT_FOUND", "没有这项用户操作。",
                     "no user operation %s", op);
        return;
    }
    if (!admin_in(r, &p) || (body = json_body(r)) == NULL ||
        member_str(r, body, "role", 16, &role) < 0 ||
        member_str(r, body, "clerk", Q_CODE_MAX + 16, &clerk) < 0 ||
        member_str(r, body, "password", PWHASH_PASSWORD_MAX + 8, &password) < 0)
        goto out;
    /* An administrator cannot lock themselves out of these pages. */
    if (self_barred && strcmp(name, p.s.user) == 0) {
        answer_error(r, MHD_HTTP_CONFLICT, "ERR_ILLEGAL_STATE",
                     "不能更改自己的角色或停用自己的账号，请由另一位管理员操作。",
                     "you cannot change your own role or disable yourself: ask another "
                     "administrator");
        goto out;
    }
    if (strcmp(op, "password") == 0 && new_password(r, password, made, sizeof made, hash) < 0)
        goto out;
    store *st = admin_store(r);
    if (st == NULL)
        goto out;
    hadmin_actor actor = actor_of(&p, r);
    if (strcmp(op, "role") == 0)
        rc = hadmin_user_role(st, &actor, name, role, clerk, &e);
    else if (strcmp(op, "disable") == 0 || strcmp(op, "enable") == 0)
        rc = hadmin_user_disable(st, &actor, name, op[0] == 'd', &e);
    else if (strcmp(op, "password") == 0)
        rc = hadmin_user_password(st, &actor, name, hash, &e) < 0 ? -1 : 1;
    else
        rc = hadmin_user_logout(st, &actor, name, &e) < 0 ? -1 : 1;
    admin_done(r, &p, rc, &e, false, password_answer(name, made));
out:
    OPENSSL_cleanse(made, sizeof made);
    OPENSSL_cleanse(hash, sizeof hash);
    json_decref(body);
}

/* ---- Big screens (大屏, docs/dashboard.md) --------------------------------------- */

/* POST /api/v1/screens {"name"}: a token for the screen, shown once. */
static void add_screen(wapi_request *r)
{
    struct person p;
    const char *name;
    char token[HADMIN_SCREEN_TOKEN_LEN + 1] = "", path[HADMIN_SCREEN_TOKEN_LEN + 32];
    hadmin_error e;
    json_t *body = NULL;

    if (!admin_in(r, &p) || (body = json_body(r)) == NULL ||
        member_str(r, body, "name", STORE_SCREEN_NAME_MAX + 8, &name) < 0)
        goto out;
    store *st = admin_store(r);
    if (st == NULL)
        goto out;
    hadmin_actor actor = actor_of(&p, r);
    int rc = hadmin_screen_add(st, &actor, name, token, &e);
    snprintf(path, sizeof path, "/screen?token=%s", token);
    admin_done(r, &p, rc < 0 ? -1 : 1, &e, false,
               json_pack("{s:s,s:s,s:s}", "name", name, "token", token, "path", path));
    OPENSSL_cleanse(path, sizeof path);
out:
    OPENSSL_cleanse(token, sizeof token);
    json_decref(body);
}

/* POST /api/v1/screens/NAME/revoke */
static void revoke_screen(wapi_request *r, const char *name)
{
    struct person p;
    hadmin_error e;

    if (!admin_in(r, &p))
        return;
    store *st = admin_store(r);
    if (st == NULL)
        return;
    hadmin_actor actor = actor_of(&p, r);
    int rc = hadmin_screen_revoke(st, &actor, name, &e);
    admin_done(r, &p, rc, &e, false, json_pack("{s:s}", "name", name));
}

#define ALERTS_WALL_MAX 999 /* open alerts the wall counts, at most */

/* What the wall shows, read in one transaction. */
struct wall {
    json_t *areas;   /* code -> {"area","name","waiting","oldest_issued_ms"} */
    json_t *calls;   /* ticket id -> {"number","masked_name"}: called and serving */
    json_t *windows; /* [{"no","name","state","ticket","masked_name"}] */
};

static int wall_area(void *arg, const q_area *a)
{
    struct wall *w = arg;

    if (!a->retired) /* a retired area only while tickets wait in it (wall_ticket) */
        json_object_set_new(w->areas, a->code,
                            json_pack("{s:s,s:s,s:s,s:i,s:I}", "area", a->code, "name", a->name,
                                      "name_en", a->name_en, "waiting", 0, "oldest_issued_ms",
                                      (json_int_t)0));
    return 0;
}

static int wall_ticket(void *arg, const q_ticket *t)
{
    struct wall *w = arg;
    char id[24];

    if (t->state == Q_CALLED || t->state == Q_SERVING) {
        snprintf(id, sizeof id, "%llu", (unsigned long long)t->id);
        json_object_set_new(
            w->calls, id,
            json_pack("{s:s,s:s}", "number", t->number, "masked_name", t->masked_name));
    }
    if (t->state != Q_WAITING)
        return 0;
    json_t *e = json_object_get(w->areas, t->area);
    if (e == NULL) {
        e = json_pack("{s:s,s:s,s:s,s:i,s:I}", "area", t->area, "name", t->area, "name_en", "",
                      "waiting", 0, "oldest_issued_ms", (json_int_t)0);
        json_object_set_new(w->areas, t->area, e);
    }
    json_object_set_new(e, "waiting",
                        json_integer(json_integer_value(json_object_get(e, "waiting")) + 1));
    json_int_t oldest = json_integer_value(json_object_get(e, "oldest_issued_ms"));
    if (oldest == 0 || t->issued_ms < oldest)
        json_object_set_new(e, "oldest_issued_ms", json_integer(t->issued_ms));
    return 0;
}

static int wall_window(void *arg, const q_window *q)
{
    struct wall *w = arg;

    /* Never the clerk: the wall is public. */
    return json_array_append_new(w->windows, json_pack("{s:i,s:s,s:s,s:I}", "no", (int)q->no,
                                                       "name", q->name, "state",
                                                       q->state == QW_OPEN     ? "open"
                                                       : q->state == QW_PAUSED ? "paused"
                                                                               : "closed",
                                                       "current", (json_int_t)q->current)) < 0;
}

static int count_alert(void *arg, const store_alert *a)
{
    (void)a;
    (*(size_t *)arg)++;
    return 0;
}

/* The wall's figures: windows with their ticket, queues with the longest
 * wait and halld's estimate, today's counts and satisfaction, the number
 * of open alerts. */
static json_t *wall_json(store *rd, const store_screen *sc)
{
    struct wall w = {json_object(), json_object(), json_array()};
    store_day_glance day;
    size_t alerts = 0;
    int64_t now = clk_utc_ms();
    json_t *out = NULL, *queues = json_array(), *v;
    const char *key;
    size_t i;

    if (store_read_begin(rd) < 0)
        goto done;
    if (store_load_areas(rd, wall_area, &w) < 0 ||
        store_load_live_tickets(rd, wall_ticket, &w) < 0 ||
        store_load_windows(rd, wall_window, &w) < 0 || store_day_summary(rd, today(), &day) < 0 ||
        store_load_alerts(rd, true, ALERTS_WALL_MAX, count_alert, &alerts) != 0) {
        store_read_end(rd);
        goto done;
    }
    store_read_end(rd);
    json_array_foreach(w.windows, i, v)
    {
        char id[24];
        snprintf(id, sizeof id, "%lld",
                 (long long)json_integer_value(json_object_get(v, "current")));
        json_t *t = json_object_get(w.calls, id);
        json_object_set_new(v, "ticket",
                            json_string(t ? json_string_value(json_object_get(t, "number")) : ""));
        json_object_set_new(
            v, "masked_name",
            json_string(t ? json_string_value(json_object_get(t, "masked_name")) : ""));
        json_object_del(v, "current");
    }
    json_object_foreach(w.areas, key, v)
    {
        json_int_t oldest = json_integer_value(json_object_get(v, "oldest_issued_ms"));
        json_object_set_new(v, "longest_wait_s",
                            json_integer(oldest && now > oldest ? (now - oldest) / 1000 : 0));
        json_object_set_new(v, "est_wait_s", est_wait_json(key));
        json_array_append(queues, v);
    }
    out = json_pack("{s:s,s:I,s:O,s:O,s:{s:i,s:i,s:i,s:o},s:i}", "screen", sc->name,
                    "server_time_ms", (json_int_t)now, "windows", w.windows, "queues", queues,
                    "today", "issued", (int)day.issued, "served", (int)day.served, "rated",
                    (int)day.rated, "satisfaction",
                    day.rated ? json_real((double)day.satisfied / day.rated) : json_null(),
                    "open_alerts", (int)alerts);
done:
    json_decref(w.areas);
    json_decref(w.calls);
    json_decref(w.windows);
    json_decref(queues);
    return out;
}

/* The live screen whose token the request carries (?token=), into *sc;
 * false after answering 401 (unknown or revoked), 429 or 503. Wrong
 * tokens are throttled per address as wrong passwords are (wsess), under
 * an account name no user can have. */
static bool screen_in(wapi_request *r, store_screen *sc)
{
    const char *token = api.ops->lookup(r->conn, WAPI_QUERY, "token");
    char key[96], err[300], min[24];
    int64_t now = clk_utc_ms(), until = 0;
    int found;

    snprintf(key, sizeof key, "~screen@%s", r->addr);
    if (wsess_gate_of(api.sessions, key, r->addr, now, &until) != WSESS_OPEN) {
        char zh[160];
        minutes_text(until, min, sizeof min);
        snprintf(zh, sizeof zh, "令牌错误次数过多，请 %s 分钟后再试。", min);
        answer_error(r, MHD_HTTP_TOO_MANY_REQUESTS, "ERR_LOCKED", zh,
                     "too many wrong tokens from this address; try again in %s minutes", min);
        return false;
    }
    store *rd = api.ops->reader(err, sizeof err);
    if (rd == NULL || (found = token ? hadmin_screen_find(rd, token, sc) : 0) < 0) {
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法读取，请稍后重试。", "cannot read the screens: %s",
                     rd ? store_errmsg(rd) : err);
        return false;
    }
    if (found == 0) {
        wsess_failed(api.sessions, key, r->addr, now, &until);
        say(LOG_LEVEL_INFO, "a big screen at %s was refused: unknown or revoked token", r->addr);
        answer_error(r, MHD_HTTP_UNAUTHORIZED, "ERR_SCREEN",
                     "此大屏的令牌无效或已被吊销，请联系管理员重新发放。",
                     "this screen's token is unknown or revoked; ask an administrator for a new "
                     "one");
        return false;
    }
    wsess_succeeded(api.sessions, key);
    return true;
}

/* GET /api/v1/screen/data?token=T: no session, the screen's token. */
static void screen_data(wapi_request *r)
{
    store_screen sc;
    char err[300];

    if (!screen_in(r, &sc))
        return;
    store *rd = api.ops->reader(err, sizeof err);
    json_t *j = rd ? wall_json(rd, &sc) : NULL;
    if (j == NULL)
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法读取，请稍后重试。", "cannot read the hall: %s",
                     rd ? store_errmsg(rd) : err);
    else
        answer(r, MHD_HTTP_OK, j);
}

/* ---- A window's status (the caller page) -------------------------------------- */

struct status_read {
    const q_window *w;
    json_t *areas;   /* area code -> {"name","waiting","oldest_issued_ms"} */
    json_t *ticket;  /* the window's current ticket, NULL until found */
    json_t *held;    /* the tickets on hold at the window */
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
    if (t->state == Q_HOLD && t->window_no == sr->w->no)
        json_array_append_new(sr->held, q_ticket_json(t));
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

/* The current ticket's matter, named as the catalog names it (a code
 * the catalog lacks stays a code). */
static int matter_name(store *rd, json_t *ticket)
{
    const char *code = json_string_value(json_object_get(ticket, "matter"));
    char name[Q_NAME_MAX * 2];
    int rc;

    if (code == NULL || *code == '\0')
        return 0;
    if ((rc = store_matter_name(rd, code, name, sizeof name)) == 1)
        json_object_set_new(ticket, "matter_name", json_string(name));
    return rc < 0 ? -1 : 0;
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
static void window_status(wapi_request *r, uint32_t no)
{
    struct person p;
    struct find_window fw = {.no = no};
    char err[300];

    if (!signed_in(r, &p))
        return;
    store *rd = api.ops->reader(err, sizeof err);
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
    struct status_read sr = {.w = &fw.w, .areas = json_object(), .held = json_array()};
    char pause[512] = ""; /* an event's detail */
    for (int i = 0; i < fw.w.nareas; i++)
        json_object_set_new(sr.areas, fw.w.areas[i],
                            json_pack("{s:s,s:s,s:i,s:I}", "area", fw.w.areas[i], "name",
                                      fw.w.areas[i], "waiting", 0, "oldest_issued_ms",
                                      (json_int_t)0));
    store_day_counts today = {0};
    int32_t day =
        clk_date_key(clk_business_day(api.zone, clk_utc_ms(), (int)api.conf->rollover_hour));
    if (store_load_areas(rd, area_name_row, &sr) < 0 ||
        store_load_live_tickets(rd, live_row, &sr) < 0 ||
        (fw.w.clerk[0] != '\0' && store_clerk_day(rd, fw.w.clerk, day, &today) < 0) ||
        matter_name(rd, sr.ticket) < 0 ||
        (fw.w.state == QW_PAUSED && store_pause_reason(rd, no, pause, sizeof pause) < 0)) {
        store_read_end(rd);
        json_decref(sr.areas);
        json_decref(sr.ticket);
        json_decref(sr.held);
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法读取，请稍后重试。", "cannot read the queue: %s", store_errmsg(rd));
        return;
    }
    store_read_end(rd);
    json_t *by_area = json_array();
    for (int i = 0; i < fw.w.nareas; i++)
        json_array_append(by_area, json_object_get(sr.areas, fw.w.areas[i]));
    json_decref(sr.areas);
    /* The signed-in clerk's own day at any window (none: null). */
    json_t *day_json =
        fw.w.clerk[0] == '\0'
            ? json_null()
            : json_pack("{s:s,s:i,s:i,s:i,s:i,s:i}", "clerk", fw.w.clerk, "day", (int)day, "called",
                        (int)today.called, "finished", (int)today.finished, "no_show",
                        (int)today.no_show, "transferred", (int)today.transferred);
    answer(r, MHD_HTTP_OK,
           json_pack("{s:{s:i,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o},s:I,s:i}", "window", "no",
                     (int)no, "name", fw.w.name, "type", queue_window_type_name(fw.w.type), "state",
                     fw.w.state == QW_OPEN     ? "open"
                     : fw.w.state == QW_PAUSED ? "paused"
                                               : "closed",
                     "pause_reason", pause, "clerk", fw.w.clerk, "ticket",
                     sr.ticket ? sr.ticket : json_null(), "held", sr.held, "queue", by_area,
                     "today", day_json, "server_time_ms", (json_int_t)clk_utc_ms(), "max_recalls",
                     (int)api.conf->max_recalls));
}

/* ---- The change feed (long poll) ---------------------------------------------------
 *
 * GET /api/v1/events?after=N answers {"seq": M} as soon as M > N: M counts
 * the changes the caller reported (wapi_feed_changed: in hallweb, every
 * DISPLAY_PUSH of the gateway's subscription, and each new subscription,
 * which may have missed some), so a page refetches what it shows. With
 * nothing new the request is held (ops->suspend: libmicrohttpd holds no
 * thread for it) for at most EVENTS_HOLD_MS, then answered with the same
 * M. A long poll, not Server-Sent Events: a held request is what
 * libmicrohttpd can suspend and resume from another thread, and a page
 * that loses it just asks again. */

#define EVENTS_HOLD_MS 25000
#define WAITERS_MAX    1024

static struct {
    pthread_mutex_t lock;
    uint64_t seq;
    wapi_request *waiters[WAITERS_MAX];
    size_t nwaiters;
} feed = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Resume the held requests: all (changed), or those past their time. */
static void feed_wake(bool all, int64_t now)
{
    size_t kept = 0;

    for (size_t i = 0; i < feed.nwaiters; i++) {
        wapi_request *w = feed.waiters[i];
        if (all || now >= w->hold_until_ms) {
            w->resumed = true;
            api.ops->resume(w->conn);
        } else {
            feed.waiters[kept++] = w;
        }
    }
    feed.nwaiters = kept;
}

void wapi_feed_changed(void)
{
    pthread_mutex_lock(&feed.lock);
    feed.seq++;
    feed_wake(true, 0);
    pthread_mutex_unlock(&feed.lock);
}

void wapi_feed_tick(int64_t now_ms)
{
    pthread_mutex_lock(&feed.lock);
    feed_wake(false, now_ms);
    pthread_mutex_unlock(&feed.lock);
}

void wapi_shutdown(void)
{
    pthread_mutex_lock(&feed.lock);
    feed_wake(true, 0);
    pthread_mutex_unlock(&feed.lock);
    if (api.sessions != NULL) {
        sem_destroy(&api.kdf);
        wsess_free(api.sessions);
        api.sessions = NULL;
    }
    clk_zone_free(api.zone);
    api.zone = NULL;
}

static void events(wapi_request *r)
{
    const char *after = api.ops->lookup(r->conn, WAPI_QUERY, "after");
    struct person p;
    char *end;

    if (r->resumed) { /* its time is up, or the hall changed */
        pthread_mutex_lock(&feed.lock);
        answer(r, MHD_HTTP_OK, json_pack("{s:I}", "seq", (json_int_t)feed.seq));
        pthread_mutex_unlock(&feed.lock);
        return;
    }
    /* A big screen follows the feed with its token instead of a session. */
    store_screen sc;
    if (api.ops->lookup(r->conn, WAPI_QUERY, "token") != NULL ? !screen_in(r, &sc)
                                                              : !signed_in(r, &p))
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
        api.ops->suspend(r->conn);
    }
    pthread_mutex_unlock(&feed.lock);
}

/* ---- Reports (stats.h, docs/statistics.md) ----------------------------------------- */

#define REPORT_READERS (ROLE(AUTH_MANAGER) | ROLE(AUTH_ADMIN) | ROLE(AUTH_AUDITOR))

/* The read-only store for a report the person may read (checked before
 * anything of the request is); NULL when the request is answered
 * already. */
static store *report_reader(wapi_request *r, const char *what)
{
    struct person p;
    char err[300];
    store *rd;

    if (!signed_in(r, &p))
        return NULL;
    if (!(REPORT_READERS & ROLE(p.role))) {
        answer_error(r, MHD_HTTP_FORBIDDEN, "ERR_FORBIDDEN", "无权查看此内容。",
                     "a %s may not read %s", p.u.role, what);
        return NULL;
    }
    if ((rd = api.ops->reader(err, sizeof err)) == NULL)
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法读取，请稍后重试。", "cannot read the hall's database: %s", err);
    return rd;
}

/* A day of the query (YYYYMMDD), today's business day when absent: 0, or
 * -1 after answering 400. */
static int query_day(wapi_request *r, const char *name, int32_t *out)
{
    const char *v = api.ops->lookup(r->conn, WAPI_QUERY, name);

    if (v == NULL) {
        *out = clk_date_key(clk_business_day(api.zone, clk_utc_ms(), (int)api.conf->rollover_hour));
        return 0;
    }
    if (stats_day_parse(v, out) == 0)
        return 0;
    answer_error(r, MHD_HTTP_BAD_REQUEST, "ERR_BAD_REQUEST", "日期须为 YYYYMMDD 格式的有效日期。",
                 "%s must be a real date written YYYYMMDD", name);
    return -1;
}

static void report(wapi_request *r)
{
    const char *by_name = api.ops->lookup(r->conn, WAPI_QUERY, "by");
    const char *format = api.ops->lookup(r->conn, WAPI_QUERY, "format");
    int by = by_name != NULL ? stats_by_parse(by_name) : STATS_BY_DAY;
    int32_t from, to;
    char err[300];
    store *rd = report_reader(r, "reports");

    if (rd == NULL || query_day(r, "from", &from) < 0 || query_day(r, "to", &to) < 0)
        return;
    if (by < 0) {
        answer_error(r, MHD_HTTP_BAD_REQUEST, "ERR_BAD_REQUEST",
                     "分组须为 hour、day、week、month、area、matter、window 或 clerk。",
                     "by must be hour, day, week, month, area, matter, window or clerk");
        return;
    }
    if (format != NULL && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0) {
        answer_error(r, MHD_HTTP_BAD_REQUEST, "ERR_BAD_REQUEST", "格式须为 csv 或 json。",
                     "format must be csv or json");
        return;
    }
    if (stats_range_check(from, to, err, sizeof err) < 0) {
        answer_error(r, MHD_HTTP_BAD_REQUEST, "ERR_BAD_REQUEST",
                     "起止日期有误：起始日期须不晚于结束日期，且跨度不超过 3660 天。", "%s", err);
        return;
    }
    stats_report *rep = stats_report_run(rd, api.zone, from, to, (stats_by)by, err, sizeof err);
    if (rep == NULL) {
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法读取，请稍后重试。", "cannot make the report: %s", err);
        return;
    }
    json_t *json = NULL;
    if (format != NULL && strcmp(format, "csv") == 0) {
        if ((r->text = stats_report_csv(rep)) != NULL) {
            r->status = MHD_HTTP_OK;
            r->text_type = "text/csv; charset=utf-8";
            snprintf(r->filename, sizeof r->filename, "report-%d-%d-%s.csv", (int)from, (int)to,
                     stats_by_name(rep->by));
        }
    } else if ((json = stats_report_json(rep)) != NULL) {
        answer(r, MHD_HTTP_OK, json);
    }
    stats_report_free(rep);
    if (r->text == NULL && json == NULL)
        answer_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "ERR_INTERNAL", "系统内部错误。",
                     "out of memory");
}

static void indicators(wapi_request *r)
{
    char err[300];
    store *rd = report_reader(r, "indicators");

    if (rd == NULL)
        return;
    stats_indicators *ind = stats_indicators_run(rd, err, sizeof err);
    if (ind == NULL) {
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法读取，请稍后重试。", "cannot read the catalog: %s", err);
        return;
    }
    json_t *json = stats_indicators_json(ind);
    stats_indicators_free(ind);
    if (json != NULL)
        answer(r, MHD_HTTP_OK, json);
    else
        answer_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "ERR_INTERNAL", "系统内部错误。",
                     "out of memory");
}

#define STAFFING_WEEKS 4 /* measured by default: the four weeks before today */

struct area_names {
    const profile *p;
    char name[PROFILE_AREAS_MAX][Q_NAME_MAX * 2];
};

static int staffing_name_row(void *arg, const q_area *a)
{
    struct area_names *n = arg;

    for (int i = 0; i < n->p->nareas; i++)
        if (strcmp(n->p->area[i], a->code) == 0)
            snprintf(n->name[i], sizeof n->name[i], "%s", a->name);
    return 0;
}

/* Staffing advice (docs/staffing.md) from the profile of the days from..to
 * (by default the four weeks before today): the hall's arrivals, service
 * times and open windows then, read on the read-only store. */
static void staffing(wapi_request *r)
{
    bool given = api.ops->lookup(r->conn, WAPI_QUERY, "from") != NULL ||
                 api.ops->lookup(r->conn, WAPI_QUERY, "to") != NULL;
    char err[300];
    int32_t from, to;
    store *rd = report_reader(r, "staffing advice");

    if (rd == NULL)
        return;
    if (given) {
        if (query_day(r, "from", &from) < 0 || query_day(r, "to", &to) < 0)
            return;
        if (stats_range_check(from, to, err, sizeof err) < 0) {
            answer_error(r, MHD_HTTP_BAD_REQUEST, "ERR_BAD_REQUEST",
                         "起止日期有误：起始日期须不晚于结束日期，且跨度不超过 3660 天。", "%s",
                         err);
            return;
        }
    } else {
        int64_t now = clk_utc_ms(), day_ms = 86400000;
        int rollover = (int)api.conf->rollover_hour;
        from =
            clk_date_key(clk_business_day(api.zone, now - STAFFING_WEEKS * 7 * day_ms, rollover));
        to = clk_date_key(clk_business_day(api.zone, now - day_ms, rollover));
    }
    profile *p = calloc(1, sizeof *p);
    staffing_advice *adv = calloc(1, sizeof *adv);
    struct area_names *names = calloc(1, sizeof *names);
    json_t *json = NULL;
    int rc = -1;

    if (p == NULL || adv == NULL || names == NULL) {
        snprintf(err, sizeof err, "out of memory");
    } else if (stats_load_profile(rd, api.zone, from, to, p, err, sizeof err) == 0 &&
               staffing_advise(p, (double)api.conf->staffing_target_p90_ms / 1000.0, adv, err,
                               sizeof err) == 0) {
        const char *list[PROFILE_AREAS_MAX] = {0};
        names->p = p;
        if (store_load_areas(rd, staffing_name_row, names) < 0)
            snprintf(err, sizeof err, "%s", store_errmsg(rd));
        else {
            for (int i = 0; i < p->nareas; i++)
                list[i] = names->name[i][0] != '\0' ? names->name[i] : NULL;
            if ((json = staffing_json(adv, list)) == NULL)
                snprintf(err, sizeof err, "out of memory");
            else
                rc = 0;
        }
    }
    if (rc == 0) {
        json_object_set_new(json, "from", json_integer(from));
        json_object_set_new(json, "to", json_integer(to));
        answer(r, MHD_HTTP_OK, json);
    } else {
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法读取，请稍后重试。", "cannot make the staffing advice: %s", err);
    }
    free(p);
    free(adv);
    free(names);
}

/* ---- Alerts (supervision, docs/supervision.md) ------------------------------------ */

#define ALERTS_LIST_MAX 500 /* rows of GET /api/v1/alerts */
#define ALERT_READERS   (ROLE(AUTH_ADMIN) | ROLE(AUTH_MANAGER) | ROLE(AUTH_AUDITOR))

static json_t *alert_json(const store_alert *a)
{
    return json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:i,s:I,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:I,s:s,s:s}", "id", a->id,
        "rule", a->rule, "level", sv_level_name((sv_level)a->level), "state",
        sv_state_name((sv_state)a->state), "area", a->area, "window_no", (int)a->window_no,
        "ticket_id", (json_int_t)a->ticket_id, "device", a->device, "text_zh", a->text_zh,
        "text_en", a->text_en, "raised_ms", (json_int_t)a->raised_ms, "updated_ms",
        (json_int_t)a->updated_ms, "acked_by", a->acked_by, "ack_note", a->ack_note, "resolved_ms",
        (json_int_t)a->resolved_ms, "resolved_by", a->resolved_by, "resolve_note", a->resolve_note);
}

static int alert_row(void *arg, const store_alert *a)
{
    return json_array_append_new(arg, alert_json(a)) < 0;
}

/* GET /api/v1/alerts[?state=open|all]: newest first. */
static void get_alerts(wapi_request *r)
{
    const char *state = api.ops->lookup(r->conn, WAPI_QUERY, "state");
    struct person p;
    char err[300];
    json_t *rows;

    if (!signed_in(r, &p))
        return;
    if (!(ALERT_READERS & ROLE(p.role))) {
        answer_error(r, MHD_HTTP_FORBIDDEN, "ERR_FORBIDDEN", "无权查看此内容。",
                     "a %s may not read alerts", p.u.role);
        return;
    }
    if (state != NULL && strcmp(state, "open") != 0 && strcmp(state, "all") != 0) {
        answer_error(r, MHD_HTTP_BAD_REQUEST, "ERR_BAD_REQUEST", "请求内容有误。",
                     "state= is open or all");
        return;
    }
    store *rd = api.ops->reader(err, sizeof err);
    if (rd == NULL || (rows = json_array()) == NULL) {
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法读取，请稍后重试。", "cannot read the hall's database: %s",
                     rd ? "out of memory" : err);
        return;
    }
    if (store_load_alerts(rd, state == NULL || strcmp(state, "open") == 0, ALERTS_LIST_MAX,
                          alert_row, rows) != 0) {
        json_decref(rows);
        answer_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ERR_UNAVAILABLE",
                     "暂时无法读取，请稍后重试。", "cannot read the alerts: %s", store_errmsg(rd));
        return;
    }
    answer(r, MHD_HTTP_OK, json_pack("{s:o}", "alerts", rows));
}

/* POST /api/v1/alerts/ID/ack|resolve {"note"}: AlertAction to halld on the
 * person's behalf (auth.c: managers and administrators). */
static void alert_action(wapi_request *r, const char *id, const char *op)
{
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__AlertAction m = HALL__ALERT_ACTION__INIT;
    const char *note, *key = header(r, "Idempotency-Key");
    char err[WAPI_ERR_LEN];
    struct person p;
    json_t *body = NULL;

    if (strcmp(op, "ack") != 0 && strcmp(op, "resolve") != 0) {
        answer_error(r, MHD_HTTP_NOT_FOUND, "ERR_NOT_FOUND", "没有这项操作。",
                     "no alert operation %s", op);
        return;
    }
    if (!signed_in(r, &p) || (body = json_body(r)) == NULL)
        return;
    if (member_str(r, body, "note", 255, &note) < 0)
        goto out;
    if (key != NULL && (key[0] == '\0' || strlen(key) > IDEMPOTENCY_MAX)) {
        answer_error(r, MHD_HTTP_BAD_REQUEST, "ERR_BAD_REQUEST", "幂等键格式有误。",
                     "Idempotency-Key must be 1 to %d characters", IDEMPOTENCY_MAX);
        goto out;
    }
    m.alert_id = unconst(id);
    m.action = strcmp(op, "ack") == 0 ? HALL__ALERT_ACTION__ACTION__ACK
                                      : HALL__ALERT_ACTION__ACTION__RESOLVE;
    m.note = unconst(note);
    env.request_id = request_id_for(key);
    env.on_behalf_of = p.u.name;
    env.body_case = HALL__ENVELOPE__BODY_ALERT_ACTION;
    env.alert_action = &m;
    Hall__Envelope *a = api.ops->ask_halld(&env, err);
    if (a == NULL) {
        answer_halld_down(r, err);
    } else if (a->body_case == HALL__ENVELOPE__BODY_ALERT_REPLY) {
        store *rd = api.ops->reader(err, sizeof err);
        store_alert sa;
        if (rd != NULL && store_get_alert(rd, a->alert_reply->alert_id, &sa) == 1)
            answer(r, MHD_HTTP_OK, json_pack("{s:o}", "alert", alert_json(&sa)));
        else
            answer(r, MHD_HTTP_OK,
                   json_pack("{s:{s:s,s:s,s:s}}", "alert", "id", a->alert_reply->alert_id, "state",
                             a->alert_reply->state, "level", a->alert_reply->level));
    } else if (a->body_case == HALL__ENVELOPE__BODY_ERROR) {
        answer_wire_error(r, a->error);
    } else {
        answer_error(r, MHD_HTTP_BAD_GATEWAY, "ERR_INTERNAL", "系统内部错误。", "halld answered %s",
                     proto_body_name(a->body_case));
    }
    proto_free(a);
out:
    json_decref(body);
}

/* ---- The router ------------------------------------------------------------------ */

void wapi_route(wapi_request *r)
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
        if (post)
            save_window(r);
        else if (get)
            list(r, EVERYONE, "windows", load_windows);
        else
            goto not_allowed;
        return;
    }
    if (strcmp(u, "/api/v1/calendar") == 0) {
        if (!get)
            goto not_allowed;
        get_calendar(r);
        return;
    }
    if (strcmp(u, "/api/v1/calendar/import") == 0) {
        if (!post)
            goto not_allowed;
        import_calendar(r);
        return;
    }
    static const struct {
        const char *path, *what;
    } calendar_writes[] = {
        {"/api/v1/calendar/hours", "hours"}, {"/api/v1/calendar/clear", "clear"},
        {"/api/v1/calendar/dates", "dates"}, {"/api/v1/calendar/dates/remove", "remove"},
        {"/api/v1/calendar/areas", "areas"},
    };
    for (size_t i = 0; i < sizeof calendar_writes / sizeof calendar_writes[0]; i++)
        if (strcmp(u, calendar_writes[i].path) == 0) {
            if (!post)
                goto not_allowed;
            change_calendar(r, calendar_writes[i].what);
            return;
        }
    /* The administrator's writes (the admin page). */
    static const struct {
        const char *path;
        void (*run)(wapi_request *r);
    } admin_writes[] = {
        {"/api/v1/clerks", save_clerk},  {"/api/v1/catalog", import_catalog},
        {"/api/v1/users", add_user},     {"/api/v1/devices/command", device_command},
        {"/api/v1/screens", add_screen},
    };
    for (size_t i = 0; post && i < sizeof admin_writes / sizeof admin_writes[0]; i++)
        if (strcmp(u, admin_writes[i].path) == 0) {
            admin_writes[i].run(r);
            return;
        }
    char id[STORE_USER_NAME_MAX + Q_DEVICE_MAX + 2];
    if (sscanf(u, "/api/v1/devices/%64[A-Za-z0-9._-]/%23[a-z]%c", id, op, &tail) == 2 &&
        strcmp(op, "revoke") == 0) {
        if (!post)
            goto not_allowed;
        revoke_device(r, id);
        return;
    }
    if (sscanf(u, "/api/v1/screens/%32[a-z0-9._-]/%23[a-z]%c", id, op, &tail) == 2 &&
        strcmp(op, "revoke") == 0) {
        if (!post)
            goto not_allowed;
        revoke_screen(r, id);
        return;
    }
    if (strcmp(u, "/api/v1/screen/data") == 0) {
        if (!get)
            goto not_allowed;
        screen_data(r);
        return;
    }
    if (sscanf(u, "/api/v1/users/%32[a-z0-9._-]/%23[a-z]%c", id, op, &tail) == 2) {
        if (!post)
            goto not_allowed;
        change_user(r, id, op);
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
        {"/api/v1/screens", "screens", ROLE(AUTH_ADMIN), load_screens},
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
    if (strcmp(u, "/api/v1/report") == 0 || strcmp(u, "/api/v1/indicators") == 0 ||
        strcmp(u, "/api/v1/staffing") == 0) {
        if (!get)
            goto not_allowed;
        if (strcmp(u, "/api/v1/report") == 0)
            report(r);
        else if (strcmp(u, "/api/v1/indicators") == 0)
            indicators(r);
        else
            staffing(r);
        return;
    }
    if (strcmp(u, "/api/v1/alerts") == 0) {
        if (!get)
            goto not_allowed;
        get_alerts(r);
        return;
    }
    char alert_id[96];
    if (sscanf(u, "/api/v1/alerts/%95[A-Za-z0-9_-]/%23[a-z]%c", alert_id, op, &tail) == 2) {
        if (!post)
            goto not_allowed;
        alert_action(r, alert_id, op);
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
    /* The pages' files (wpage.h, docs/caller.md). */
    if (wpage_find(u) != NULL) {
        if (!get && strcmp(m, MHD_HTTP_METHOD_HEAD) != 0)
            goto not_allowed;
        r->page = wpage_find(u);
        return;
    }
    answer_error(r, MHD_HTTP_NOT_FOUND, "ERR_NOT_FOUND", "没有这个地址。", "there is nothing at %s",
                 u);
    return;
not_allowed:
    answer_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "ERR_BAD_REQUEST", "不支持此请求方法。",
                 "%s is not allowed on %s", m, u);
}
