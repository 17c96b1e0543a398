/*
 * fuzz_kpage — libFuzzer target for the kiosk touch page's request
 * handling (firmware/kiosk/kpage.c): kpage_decide(), the function the
 * libmicrohttpd access handler hands every request to, driven without a
 * daemon, against a fake kiosk whose screen model comes from the input.
 *
 * Input: one flags byte, then NUL-separated fields
 *
 *   flags METHOD \0 URL \0 AFTER \0 CONTENT-LENGTH \0 MODEL \0
 *         [HOST \0] [ORIGIN \0] [CONTENT-TYPE \0] BODY...
 *
 * A missing field is empty. Flags: bit 0 the after= argument is present
 * (AFTER is its value), bit 1 a Content-Length header is present, bit 2
 * the kiosk has no model (its state callback fails), bit 3 the kiosk
 * refuses the action, bit 4 it refuses without a sentence, bits 5, 6 and 7
 * the fields HOST, ORIGIN and CONTENT-TYPE follow MODEL (in that order).
 * Without its field the request names the page as its own browser does
 * (Host 127.0.0.1:8080, the page being 127.0.0.1 port 8080), has no
 * Origin and is application/json; an empty HOST or CONTENT-TYPE field is
 * that header missing (kpage treats both alike), an empty ORIGIN is an
 * empty Origin. A request is decided as the server would: a POST whose
 * body is to be read is asked again with the body (cut at KPAGE_BODY_MAX,
 * as the handler cuts it), and a held long poll is asked again as the
 * woken poll is.
 *
 * Promises checked (docs/kiosk.md, kpage.h):
 *   - a Host that is not the page's (127.0.0.1, localhost or [::1] with
 *     port 8080, in any case), an Origin that is not http:// and such a
 *     host, and OPTIONS are refused with 403 whatever the path, and the
 *     kiosk hears nothing of them; an action that is not application/json
 *     (parameters allowed) is refused with 415 before its body is read;
 *   - every reply is JSON: the kiosk's model byte for byte, {"ok":true},
 *     or {"ok":false,"error":sentence} with a non-empty sentence; its
 *     status is one the page expects, 405 carries Allow and nothing else
 *     does;
 *   - routes: the page's files and the ticket's QR code for GET and HEAD
 *     only; 404 for an unknown path; the state for GET and HEAD, 400 for an after= that is not a
 *     whole number, 500 without a model with an integer seq >= 0, held
 *     exactly when after= is not older than the model, and a woken poll
 *     gets the model; an action only by POST, 413 for a declared or
 *     actual body over KPAGE_BODY_MAX, and the kiosk hears it only once
 *     the body is read, exactly once, with a name of 1 to 64 bytes and a
 *     param of at most 256;
 *   - no memory is lost (LeakSanitizer).
 * Any broken promise aborts.
 */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzzsupport.h"
#include "kpage.h"

#define F_AFTER           0x01
#define F_LENGTH          0x02
#define F_NO_MODEL        0x04
#define F_REFUSE          0x08
#define F_REFUSE_SILENTLY 0x10
#define F_HOST            0x20
#define F_ORIGIN          0x40
#define F_TYPE            0x80

enum {
    FIELD_METHOD,
    FIELD_URL,
    FIELD_AFTER,
    FIELD_LENGTH,
    FIELD_MODEL,
    FIELD_HOST,
    FIELD_ORIGIN,
    FIELD_TYPE,
    NFIELDS
};

/* The fake kiosk. */
struct kiosk {
    unsigned flags;
    const char *model;
    int actions; /* calls of the action callback */
    int states;  /* calls of the state callback */
};

static const kpage_site site = {"127.0.0.1", 8080};

static const char refusal[] = "这台机器暂停服务 This kiosk is paused.";
static const char *const asset_paths[] = {"/", "/page.css", "/page.js"};

static int fake_state(void *arg, buf *out)
{
    struct kiosk *k = arg;

    k->states++;
    /* A failing kiosk leaves something behind: kpage must not send it. */
    if (buf_append(out, k->model, strlen(k->model)) != 0)
        return -1;
    return k->flags & F_NO_MODEL ? -1 : 0;
}

static int fake_action(void *arg, const char *name, const char *param, char *err, size_t errlen)
{
    struct kiosk *k = arg;

    k->actions++;
    FZ_CHECK(strlen(name) >= 1 && strlen(name) <= 64);
    FZ_CHECK(strlen(param) <= 256);
    if (!(k->flags & F_REFUSE))
        return 0;
    snprintf(err, errlen, "%s", k->flags & F_REFUSE_SILENTLY ? "" : refusal);
    return -1;
}

static const kpage_callbacks callbacks = {fake_state, fake_action};

static bool is_get(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* The page's own Host, as its browser may write it. */
static bool own_host(const char *host)
{
    static const char *const own[] = {"127.0.0.1:8080", "localhost:8080", "[::1]:8080"};

    for (size_t i = 0; host != NULL && i < sizeof own / sizeof own[0]; i++)
        if (strcasecmp(host, own[i]) == 0)
            return true;
    return false;
}

static bool own_origin(const char *origin)
{
    return origin == NULL || (strncasecmp(origin, "http://", 7) == 0 && own_host(origin + 7));
}

/* application/json, then nothing but blanks or parameters. */
static bool is_json_type(const char *type)
{
    if (type == NULL)
        return false;
    while (*type == ' ' || *type == '\t')
        type++;
    if (strncasecmp(type, "application/json", 16) != 0)
        return false;
    for (type += 16; *type == ' ' || *type == '\t'; type++)
        ;
    return *type == '\0' || *type == ';';
}

/* The model's seq, -1 if it has none kpage may use. */
static long long model_seq(const char *model)
{
    json_t *root = json_loads(model, 0, NULL);
    json_t *seq = json_object_get(root, "seq");
    long long v = json_is_integer(seq) ? (long long)json_integer_value(seq) : -1;

    json_decref(root);
    return v < 0 ? -1 : v;
}

/* after= as kpage reads it: 0 absent or empty, 1 a whole number, -1 not. */
static int after_value(const char *s, long long *v)
{
    char *end;

    if (s == NULL || s[0] == '\0')
        return 0;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return errno == 0 && *end == '\0' ? 1 : -1;
}

static bool body_is(const kpage_answer *a, const char *text)
{
    return buf_rlen(&a->body) == strlen(text) &&
           memcmp(buf_rdata(&a->body), text, strlen(text)) == 0;
}

/* A reply's status, Allow and JSON: an error object unless it is the
 * model or {"ok":true}. Returns the reply's "ok", or -1 for the model. */
static int check_reply(const kpage_answer *a, const char *model)
{
    json_t *root, *ok, *error;

    FZ_CHECK(a->verdict == KPAGE_REPLY);
    FZ_CHECK(a->status == 200 || a->status == 400 || a->status == 403 || a->status == 404 ||
             a->status == 405 || a->status == 413 || a->status == 415 || a->status == 500);
    FZ_CHECK((a->allow != NULL) == (a->status == 405));
    if (a->status == 200 && body_is(a, model))
        return -1;
    if (body_is(a, "{\"ok\":true}"))
        return 1;
    root = json_loadb((const char *)buf_rdata(&a->body), buf_rlen(&a->body), 0, NULL);
    ok = json_object_get(root, "ok");
    error = json_object_get(root, "error");
    FZ_CHECK(json_is_object(root) && json_object_size(root) == 2);
    FZ_CHECK(json_is_false(ok) && json_is_string(error) && json_string_length(error) > 0);
    json_decref(root);
    return 0;
}

static void check_state(struct kiosk *k, const kpage_request *req, const kpage_answer *a)
{
    long long after = 0, seq = k->flags & F_NO_MODEL ? -1 : model_seq(k->model);
    int has_after = after_value(req->after, &after);

    if (has_after < 0) {
        FZ_CHECK(check_reply(a, k->model) == 0 && a->status == 400);
        return;
    }
    if (seq < 0) {
        FZ_CHECK(check_reply(a, k->model) == 0 && a->status == 500);
        return;
    }
    if (has_after && seq <= after) {
        kpage_request woken = {
            .method = req->method, .url = req->url, .host = req->host, .origin = req->origin};
        kpage_answer again;

        FZ_CHECK(a->verdict == KPAGE_HOLD && a->status == 200 && body_is(a, k->model));
        kpage_decide(&callbacks, k, &site, &woken, &again);
        FZ_CHECK(check_reply(&again, k->model) == -1 && again.status == 200);
        buf_release(&again.body);
        return;
    }
    FZ_CHECK(check_reply(a, k->model) == -1 && a->status == 200);
}

/* POST /api/action, in the handler's two steps. */
static void check_action(struct kiosk *k, const kpage_request *req, const kpage_answer *a,
                         const uint8_t *body, size_t body_len)
{
    kpage_request full = *req;
    kpage_answer b;
    int ok;

    FZ_CHECK(k->actions == 0);
    if (!is_json_type(req->content_type)) {
        FZ_CHECK(check_reply(a, k->model) == 0 && a->status == 415);
        return;
    }
    if (a->verdict != KPAGE_READ_BODY) {
        FZ_CHECK(check_reply(a, k->model) == 0 && a->status == 413 && req->content_length);
        return;
    }
    full.content_length = NULL;
    full.body_read = true;
    full.body = body;
    full.body_len = body_len > KPAGE_BODY_MAX ? 0 : body_len;
    full.body_too_big = body_len > KPAGE_BODY_MAX;
    kpage_decide(&callbacks, k, &site, &full, &b);
    ok = check_reply(&b, "");
    FZ_CHECK(ok >= 0);
    if (b.status == 200) {
        FZ_CHECK(k->actions == 1);
        FZ_CHECK(ok == !(k->flags & F_REFUSE));
        FZ_CHECK(ok || (k->flags & F_REFUSE_SILENTLY) ||
                 memmem(buf_rdata(&b.body), buf_rlen(&b.body), refusal, strlen(refusal)) != NULL);
    } else {
        FZ_CHECK(k->actions == 0);
        FZ_CHECK(b.status == 400 || (b.status == 413 && full.body_too_big));
    }
    buf_release(&b.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *fields[NFIELDS];
    const uint8_t *p, *end = data + size, *body;
    struct kiosk k = {0};
    kpage_request req = {0};
    kpage_answer a;
    bool asset = false;

    if (size == 0)
        return 0;
    k.flags = data[0];
    p = data + 1;
    for (int i = 0; i < NFIELDS; i++) {
        const uint8_t *nul = memchr(p, '\0', (size_t)(end - p));
        size_t n = nul != NULL ? (size_t)(nul - p) : (size_t)(end - p);
        bool present = (i != FIELD_HOST || (k.flags & F_HOST)) &&
                       (i != FIELD_ORIGIN || (k.flags & F_ORIGIN)) &&
                       (i != FIELD_TYPE || (k.flags & F_TYPE));

        fields[i] = present ? strndup((const char *)p, n) : NULL;
        FZ_CHECK(fields[i] != NULL || !present);
        if (present)
            p += n + (nul != NULL);
    }
    body = p;
    k.model = fields[FIELD_MODEL];
    req.method = fields[FIELD_METHOD];
    req.url = fields[FIELD_URL];
    req.after = k.flags & F_AFTER ? fields[FIELD_AFTER] : NULL;
    req.content_length = k.flags & F_LENGTH ? fields[FIELD_LENGTH] : NULL;
    req.host = !(k.flags & F_HOST)             ? "127.0.0.1:8080"
               : fields[FIELD_HOST][0] != '\0' ? fields[FIELD_HOST]
                                               : NULL;
    req.origin = fields[FIELD_ORIGIN];
    req.content_type = !(k.flags & F_TYPE)             ? "application/json"
                       : fields[FIELD_TYPE][0] != '\0' ? fields[FIELD_TYPE]
                                                       : NULL;

    kpage_decide(&callbacks, &k, &site, &req, &a);
    FZ_CHECK(a.verdict != KPAGE_CLOSE);
    if (!own_host(req.host) || !own_origin(req.origin) || strcmp(req.method, "OPTIONS") == 0) {
        FZ_CHECK(check_reply(&a, k.model) == 0 && a.status == 403);
        FZ_CHECK(k.actions == 0 && k.states == 0);
        goto done;
    }
    for (size_t i = 0; i < sizeof asset_paths / sizeof asset_paths[0]; i++)
        asset = asset || strcmp(req.url, asset_paths[i]) == 0;
    if (strcmp(req.url, "/api/action") == 0 && strcmp(req.method, "POST") == 0) {
        check_action(&k, &req, &a, body, (size_t)(end - body));
    } else if (strcmp(req.url, "/api/state") == 0 && is_get(req.method)) {
        check_state(&k, &req, &a);
    } else if (asset && is_get(req.method)) {
        FZ_CHECK(a.verdict == KPAGE_ASSET && strcmp(asset_paths[a.asset], req.url) == 0);
    } else if (strcmp(req.url, "/ticket-qr.svg") == 0 && is_get(req.method)) {
        FZ_CHECK(a.verdict == KPAGE_TICKET_QR);
    } else {
        bool known = asset || strcmp(req.url, "/api/action") == 0 ||
                     strcmp(req.url, "/api/state") == 0 || strcmp(req.url, "/ticket-qr.svg") == 0;

        FZ_CHECK(check_reply(&a, k.model) == 0 && a.status == (known ? 405u : 404u));
    }
    FZ_CHECK(k.actions == 0 ||
             (strcmp(req.url, "/api/action") == 0 && a.verdict == KPAGE_READ_BODY));
done:
    buf_release(&a.body);
    for (int i = 0; i < NFIELDS; i++)
        free(fields[i]);
    return 0;
}
