/*
 * The web layer end to end: the real hallctl makes the hall and its users,
 * the real halld serves it, the real hallweb stands in front, and requests
 * are written byte by byte as a browser or an attacker would send them.
 *
 *   test_web auth        web_auth: sign-in, wrong passwords, throttling and
 *                        lockout, idle expiry, sign-out and sign-out
 *                        everywhere, an account change ending sessions, a
 *                        clerk refused an administrator's list, an auditor
 *                        refused every write; all of it in the audit chain
 *   test_web csrf        web_csrf: writes without the session's token, with
 *                        a wrong one, from another origin, as a form, and a
 *                        sign-in from another site, refused and changing
 *                        nothing
 *   test_web ops         web_api_window_ops: a window driven through the API
 *                        and one through a device link give the same answers
 *                        and the same audit events; Idempotency-Key retries;
 *                        a window's status and the change feed
 *   test_web reads       web_reads_off_loop: a list held in the middle of its
 *                        read (a test hook) while windows call through a
 *                        device link and through the API: every call answered
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testsupport.h"
#include "webfixture.h"

#define UPLOAD_MAX (4 * 1024 * 1024) /* a catalog file: WAPI_UPLOAD_MAX, CATALOG_FILE_MAX */
#define WEB_CONF                                                                                   \
    "[web]\nport = 0\nsession_idle = 3s\nlockout = 6s\naccount_failures = 3\n"                     \
    "address_failures = 9\n"

static void expect(web_resp *r, int status, const char *code)
{
    ck_assert_msg(r->status == status && strcmp(web_error_code(r), code) == 0,
                  "expected %d %s, got %d %s", status, code, r->status, r->body);
    ck_assert_msg(code[0] == '\0' ||
                      (json_string_value(json_object_get(
                           json_object_get(json_object_get(r->json, "error"), "message"), "zh")) &&
                       json_string_value(json_object_get(
                           json_object_get(json_object_get(r->json, "error"), "message"), "en"))),
                  "an error without its Chinese and English message: %s", r->body);
    web_resp_free(r);
}

static web_resp sign_in_as(webfix *w, const char *user, const char *password)
{
    char body[300];

    snprintf(body, sizeof body, "{\"user\":\"%s\",\"password\":\"%s\"}", user, password);
    return web_req(w, "POST", "/api/v1/session", NULL, NULL, NULL, body);
}

static long long web_events(hallfix *f, const char *like)
{
    return fix_db_int(f, "SELECT count(*) FROM events WHERE kind = 100 AND detail LIKE '%s'", like);
}

/* ---- web_auth ----------------------------------------------------------------- */

START_TEST(auth)
{
    hallfix f;
    webfix w;
    char s1[64], c1[64], s2[64], c2[64];
    web_resp r;

    fix_init(&f, 2, WEB_CONF);
    ck_assert_int_eq(web_add_user(&f, "clerk1", "clerk", "c-1", "clerk-pass-1"), 0);
    ck_assert_int_eq(web_add_user(&f, "boss", "manager", NULL, "boss-pass-1"), 0);
    ck_assert_int_eq(web_add_user(&f, "root", "admin", NULL, "root-pass-1"), 0);
    ck_assert_int_eq(web_add_user(&f, "eye", "auditor", NULL, "eye-pass-11"), 0);
    fix_start(&f);
    web_start(&w, &f);

    /* Wrong password and unknown user: the same answer, no cookie. */
    r = sign_in_as(&w, "clerk1", "wrong-pass");
    ck_assert_str_eq(r.session, "");
    expect(&r, 401, "ERR_SIGN_IN");
    r = sign_in_as(&w, "nobody", "whatever-1");
    expect(&r, 401, "ERR_SIGN_IN");

    /* The right password: a session cookie only a same-site HTTPS page
     * script cannot read, and a CSRF token. */
    r = sign_in_as(&w, "clerk1", "clerk-pass-1");
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.set_cookie, "HttpOnly"));
    ck_assert_ptr_nonnull(strstr(r.set_cookie, "Secure"));
    ck_assert_ptr_nonnull(strstr(r.set_cookie, "SameSite=Strict"));
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "role")), "clerk");
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "clerk_id")), "c-1");
    snprintf(s1, sizeof s1, "%s", r.session);
    snprintf(c1, sizeof c1, "%s", json_string_value(json_object_get(r.json, "csrf_token")));
    web_resp_free(&r);
    r = web_req(&w, "GET", "/api/v1/session", s1, NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "user")), "clerk1");
    web_resp_free(&r);
    r = web_req(&w, "GET", "/api/v1/session", "forged-token", NULL, NULL, NULL);
    expect(&r, 401, "ERR_SESSION");

    /* A clerk may list windows, not users; the administrator may, and no
     * password hash is ever in an answer. */
    r = web_req(&w, "GET", "/api/v1/windows", s1, NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq((int)json_array_size(json_object_get(r.json, "windows")), 2);
    web_resp_free(&r);
    r = web_req(&w, "GET", "/api/v1/users", s1, NULL, NULL, NULL);
    expect(&r, 403, "ERR_FORBIDDEN");
    web_sign_in(&w, "root", "root-pass-1", s2, c2);
    r = web_req(&w, "GET", "/api/v1/users", s2, NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq((int)json_array_size(json_object_get(r.json, "users")), 4);
    ck_assert_ptr_null(strstr(r.body, "scrypt"));
    web_resp_free(&r);

    /* What everyone signed in reads, and what only the administrator,
     * the manager and the auditor read. */
    static const char *const everyone[] = {"/api/v1/queues", "/api/v1/tickets", "/api/v1/catalog",
                                           "/api/v1/windows"};
    for (size_t i = 0; i < sizeof everyone / sizeof everyone[0]; i++) {
        r = web_req(&w, "GET", everyone[i], s1, NULL, NULL, NULL);
        ck_assert_msg(r.status == 200, "%s: %d %s", everyone[i], r.status, r.body);
        web_resp_free(&r);
    }
    r = web_req(&w, "GET", "/api/v1/clerks", s1, NULL, NULL, NULL);
    expect(&r, 403, "ERR_FORBIDDEN");
    r = web_req(&w, "GET", "/api/v1/devices", s1, NULL, NULL, NULL);
    expect(&r, 403, "ERR_FORBIDDEN");
    r = web_req(&w, "GET", "/api/v1/clerks", s2, NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq((int)json_array_size(json_object_get(r.json, "clerks")), 2);
    web_resp_free(&r);
    r = web_req(&w, "GET", "/api/v1/devices", s2, NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"id\":\"web-1\",\"type\":\"web\""));
    web_resp_free(&r);
    r = web_req(&w, "GET", "/api/v1/catalog", s2, NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    json_t *area0 = json_array_get(json_object_get(r.json, "areas"), 0);
    ck_assert_ptr_nonnull(json_object_get(area0, "matters"));
    ck_assert_int_eq((int)json_array_size(json_object_get(r.json, "areas")),
                     (int)fix_db_int(&f, "SELECT count(*) FROM areas"));
    web_resp_free(&r);
    /* The admin API: an empty clerk is refused with the field at fault;
     * a clerk may not use it at all. */
    r = web_req(&w, "POST", "/api/v1/clerks", s2, c2, NULL, "{}");
    ck_assert_ptr_nonnull(strstr(r.body, "\"field\":\"id\""));
    expect(&r, 400, "ERR_BAD_REQUEST");
    r = web_req(&w, "POST", "/api/v1/clerks", s1, c1, NULL, "{\"id\":\"c-9\",\"name\":\"x\"}");
    expect(&r, 403, "ERR_FORBIDDEN");
    r = web_req(&w, "PUT", "/api/v1/clerks", s2, c2, NULL, "{}");
    expect(&r, 405, "ERR_BAD_REQUEST");

    /* The auditor reads, and every write is refused by halld's table. */
    char sa[64], ca[64];
    web_sign_in(&w, "eye", "eye-pass-11", sa, ca);
    r = web_req(&w, "GET", "/api/v1/users", sa, NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    web_resp_free(&r);
    static const char *const writes[] = {"sign-in", "call-next", "pause",
                                         "resume",  "sign-out",  "finish"};
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "/api/v1/windows/1/%s", writes[i]);
        r = web_req(&w, "POST", path, sa, ca, NULL, "{\"clerk_id\":\"c-1\",\"ticket_id\":1}");
        expect(&r, 403, "ERR_FORBIDDEN");
    }
    static const char *const admin_writes[] = {"/api/v1/clerks", "/api/v1/windows", "/api/v1/users",
                                               "/api/v1/users/clerk1/disable",
                                               "/api/v1/devices/web-1/revoke"};
    for (size_t i = 0; i < sizeof admin_writes / sizeof admin_writes[0]; i++) {
        r = web_req(&w, "POST", admin_writes[i], sa, ca, NULL, "{}");
        expect(&r, 403, "ERR_FORBIDDEN");
    }
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events WHERE kind <> 100"), 0);

    /* Throttling: the third wrong password locks the account, and then the
     * right one is refused too, with how long to wait; it opens again. */
    for (int i = 0; i < 2; i++) {
        r = sign_in_as(&w, "boss", "not-it-at-all");
        expect(&r, 401, "ERR_SIGN_IN");
    }
    r = sign_in_as(&w, "boss", "not-it-at-all");
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(
                   json_object_get(json_object_get(r.json, "error"), "message"), "zh")),
               "锁定"));
    expect(&r, 429, "ERR_LOCKED");
    r = sign_in_as(&w, "boss", "boss-pass-1");
    expect(&r, 429, "ERR_LOCKED");
    usleep(6200 * 1000); /* the lockout is over */
    r = sign_in_as(&w, "boss", "boss-pass-1");
    ck_assert_int_eq(r.status, 200);
    web_resp_free(&r);

    /* One address trying many names is blocked as a whole (its failures
     * count within one lockout: 6 s, long enough for nine checks of a
     * password on a loaded machine). */
    for (int i = 0; i < 8; i++) {
        char name[16];
        snprintf(name, sizeof name, "guess%d", i);
        r = sign_in_as(&w, name, "password-x");
        expect(&r, 401, "ERR_SIGN_IN");
    }
    r = sign_in_as(&w, "guess9", "password-x");
    expect(&r, 429, "ERR_LOCKED");
    r = sign_in_as(&w, "root", "root-pass-1");
    expect(&r, 429, "ERR_LOCKED");
    usleep(6200 * 1000); /* the lockout is over */

    /* Idle expiry: unused for longer than session_idle, a session ends. */
    web_sign_in(&w, "clerk1", "clerk-pass-1", s1, c1);
    usleep(3200 * 1000);
    r = web_req(&w, "GET", "/api/v1/session", s1, NULL, NULL, NULL);
    ck_assert_str_eq(r.session, ""); /* the cookie is cleared */
    ck_assert_ptr_nonnull(strstr(r.set_cookie, "Max-Age=0"));
    expect(&r, 401, "ERR_SESSION");

    /* Sign-out ends one session; sign-out everywhere ends them all. */
    web_sign_in(&w, "clerk1", "clerk-pass-1", s1, c1);
    r = web_req(&w, "DELETE", "/api/v1/session", s1, NULL, NULL, NULL);
    expect(&r, 403, "ERR_CSRF"); /* a sign-out is a write too */
    r = web_req(&w, "DELETE", "/api/v1/session", s1, c1, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    web_resp_free(&r);
    r = web_req(&w, "GET", "/api/v1/session", s1, NULL, NULL, NULL);
    expect(&r, 401, "ERR_SESSION");
    web_sign_in(&w, "clerk1", "clerk-pass-1", s1, c1);
    web_sign_in(&w, "clerk1", "clerk-pass-1", s2, c2);
    r = web_req(&w, "DELETE", "/api/v1/sessions", s2, c2, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq((int)json_integer_value(json_object_get(r.json, "sessions_ended")), 2);
    web_resp_free(&r);
    r = web_req(&w, "GET", "/api/v1/session", s1, NULL, NULL, NULL);
    expect(&r, 401, "ERR_SESSION");

    /* An administrator's change ends the user's sessions at once:
     * disabling, and a new password. A disabled user cannot sign in. */
    web_sign_in(&w, "clerk1", "clerk-pass-1", s1, c1);
    ck_assert_int_eq(fix_hallctl(&f, "user disable --name clerk1"), 0);
    r = web_req(&w, "GET", "/api/v1/session", s1, NULL, NULL, NULL);
    expect(&r, 401, "ERR_SESSION");
    r = sign_in_as(&w, "clerk1", "clerk-pass-1");
    expect(&r, 403, "ERR_DISABLED");
    ck_assert_int_eq(fix_hallctl(&f, "user enable --name clerk1"), 0);
    web_sign_in(&w, "clerk1", "clerk-pass-1", s1, c1);
    ck_assert_int_eq(ts_system("printf 'new-pass-123\\n' | %s -c %s user passwd --name clerk1 "
                               "--password-stdin >/dev/null 2>&1",
                               HALLCTL_PATH, f.config),
                     0);
    r = web_req(&w, "GET", "/api/v1/session", s1, NULL, NULL, NULL);
    expect(&r, 401, "ERR_SESSION");
    r = sign_in_as(&w, "clerk1", "clerk-pass-1");
    expect(&r, 401, "ERR_SIGN_IN");
    web_sign_in(&w, "clerk1", "new-pass-123", s1, c1);

    /* The audit chain has it all, and still verifies. */
    ck_assert_int_ge(web_events(&f, "web: signed in as %"), 9);
    ck_assert_int_ge(web_events(&f, "web: sign-in failed (wrong password)%"), 3);
    ck_assert_int_ge(web_events(&f, "web: sign-in failed (unknown user)%"), 9);
    ck_assert_int_eq(web_events(&f, "%account locked%"), 1);
    ck_assert_int_eq(web_events(&f, "%address blocked%"), 1);
    ck_assert_int_eq(web_events(&f, "web: sign-in failed (account disabled)%"), 1);
    ck_assert_int_eq(web_events(&f, "web: signed out everywhere (2 sessions)%"), 1);
    ck_assert_int_ge(web_events(&f, "web: signed out (from %"), 1);
    /* boss: three failures and a sign-in; the attempts refused while the
     * account was locked are not checked, and not logged one by one. */
    ck_assert_int_eq(fix_db_int(&f,
                                "SELECT count(*) FROM events WHERE kind = 100 AND device = 'web-1' "
                                "AND clerk = 'boss' AND detail LIKE '%%(from 127.0.0.1)'"),
                     4);
    web_stop(&w);
    ck_assert_int_eq(fix_stop(&f), 0);
    ck_assert_int_eq(fix_hallctl(&f, "audit verify"), 0);
    fix_free(&f);
}
END_TEST

/* HTTPS: plain HTTP is refused off loopback, and with a certificate of
 * the hall CA the same hall is served over TLS only (run with web_auth). */
START_TEST(https)
{
    hallfix f;
    webfix w;
    char ca[1200];
    web_resp r;

    fix_init(&f, 1, "[web]\nport = 0\naddress = 0.0.0.0\n");
    ck_assert_int_eq(web_add_user(&f, "clerk1", "clerk", "c-1", "clerk-pass-1"), 0);
    fix_start(&f);
    ck_assert_int_eq(fix_hallctl(&f, "device add --id web-1 --type web"), 0);
    /* The LAN without TLS: refused, saying why. */
    pid_t pid = web_spawn(&w, &f);
    ck_assert_int_eq(ts_wait(pid, FIX_WAIT_MS), 1 << 8);
    w.pid = 0;
    ck_assert(ts_file_contains(w.log, "plain HTTP, on loopback only", 0));
    /* A server certificate from the hall CA, and HTTPS. */
    ck_assert_int_eq(ts_system("%s cert issue --dir %s/pki --id web --server localhost --out "
                               "%s/pki/web >>%s/hallctl.log 2>&1",
                               HALLCTL_PATH, f.dir, f.dir, f.dir),
                     0);
    FILE *c = fopen(f.config, "a");
    ck_assert_ptr_nonnull(c);
    fputs("[web]\ntls_cert = pki/web/web.crt\ntls_key = pki/web/web.key\n", c);
    fclose(c);
    web_spawn(&w, &f);
    ck_assert_msg(ts_file_contains(w.log, "listening on https://0.0.0.0:", FIX_WAIT_MS),
                  "hallweb did not start with TLS");
    w.port = ts_log_port(w.log, "listening on https://0.0.0.0:");
    ck_assert_int_gt(w.port, 0);
    snprintf(ca, sizeof ca, "%s/pki/ca.crt", f.dir);
    r = web_req_tls(&w, ca, "POST", "/api/v1/session", NULL, NULL,
                    "{\"user\":\"clerk1\",\"password\":\"clerk-pass-1\"}");
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ck_assert_ptr_nonnull(strstr(r.set_cookie, "Secure"));
    char session[64];
    snprintf(session, sizeof session, "%s", r.session);
    web_resp_free(&r);
    r = web_req_tls(&w, ca, "GET", "/api/v1/session", session, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    web_resp_free(&r);
    /* Plain HTTP on the HTTPS port gets no answer. */
    int fd = ts_connect(w.port, 5);
    char in[256] = "";
    ck_assert_int_ge(fd, 0);
    static const char plain[] = "GET /api/v1/session HTTP/1.1\r\nHost: x\r\n\r\n";
    send(fd, plain, sizeof plain - 1, MSG_NOSIGNAL);
    ssize_t got = recv(fd, in, sizeof in - 1, 0);
    close(fd);
    ck_assert(got <= 0 || strncmp(in, "HTTP/1.1 200", 12) != 0);
    web_stop(&w);
    fix_free(&f);
}
END_TEST

/* ---- web_csrf ----------------------------------------------------------------- */

START_TEST(csrf)
{
    hallfix f;
    webfix w;
    char s[64], c[64], wrong[64];
    web_resp r;
    static const char sign_in_body[] = "{\"clerk_id\":\"c-1\"}";

    fix_init(&f, 2, WEB_CONF);
    ck_assert_int_eq(web_add_user(&f, "clerk1", "clerk", "c-1", "clerk-pass-1"), 0);
    fix_start(&f);
    web_start(&w, &f);
    web_sign_in(&w, "clerk1", "clerk-pass-1", s, c);
    snprintf(wrong, sizeof wrong, "%s", c);
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';

    /* A stolen cookie without the token; a wrong token; the right token
     * from another origin or a browser saying cross-site; a form post. */
    r = web_req(&w, "POST", "/api/v1/windows/1/sign-in", s, NULL, NULL, sign_in_body);
    expect(&r, 403, "ERR_CSRF");
    r = web_req(&w, "POST", "/api/v1/windows/1/sign-in", s, wrong, NULL, sign_in_body);
    expect(&r, 403, "ERR_CSRF");
    r = web_req(&w, "POST", "/api/v1/windows/1/sign-in", s, "short", NULL, sign_in_body);
    expect(&r, 403, "ERR_CSRF");
    r = web_req(&w, "POST", "/api/v1/windows/1/sign-in", s, c, "Origin: http://evil.example\r\n",
                sign_in_body);
    expect(&r, 403, "ERR_CSRF");
    r = web_req(&w, "POST", "/api/v1/windows/1/sign-in", s, c, "Sec-Fetch-Site: cross-site\r\n",
                sign_in_body);
    expect(&r, 403, "ERR_CSRF");
    r = web_req(&w, "POST", "/api/v1/windows/1/sign-in", s, c,
                "Content-Type: application/x-www-form-urlencoded\r\n", "clerk_id=c-1");
    expect(&r, 415, "ERR_BAD_REQUEST");
    r = web_req(&w, "DELETE", "/api/v1/sessions", s, NULL, "Origin: http://evil.example\r\n", NULL);
    expect(&r, 403, "ERR_CSRF");
    /* A sign-in posted from another site (login CSRF). */
    r = web_req(&w, "POST", "/api/v1/session", NULL, NULL, "Origin: http://evil.example\r\n",
                "{\"user\":\"clerk1\",\"password\":\"clerk-pass-1\"}");
    ck_assert_str_eq(r.session, "");
    expect(&r, 403, "ERR_CSRF");
    /* None of it changed anything. */
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events WHERE kind <> 100"), 0);

    /* The same request, from this origin with the token, works. */
    r = web_req(&w, "POST", "/api/v1/windows/1/sign-in", s, c, "Origin: http://127.0.0.1\r\n",
                sign_in_body);
    expect(&r, 403, "ERR_CSRF"); /* the origin names the port too */
    char origin[80];
    snprintf(origin, sizeof origin,
             "Origin: http://127.0.0.1:%d\r\nSec-Fetch-Site: same-origin\r\n", w.port);
    r = web_req(&w, "POST", "/api/v1/windows/1/sign-in", s, c, origin, sign_in_body);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "window"), "state")),
                     "open");
    web_resp_free(&r);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events WHERE kind = 18"), 1);
    web_stop(&w);
    fix_free(&f);
}
END_TEST

/* ---- web_api_window_ops ------------------------------------------------------------ */

/* The kinds of window 1's events and window 2's, in order, as text. */
static void window_kinds(hallfix *f, uint32_t no, char *out, size_t len)
{
    out[0] = '\0';
    long long n = fix_db_int(f, "SELECT count(*) FROM events WHERE window_no = %u", no);
    for (long long i = 0; i < n; i++) {
        long long k = fix_db_int(f,
                                 "SELECT kind FROM events WHERE window_no = %u ORDER BY seq "
                                 "LIMIT 1 OFFSET %lld",
                                 no, i);
        size_t l = strlen(out);
        snprintf(out + l, len - l, "%s%lld", l ? "," : "", k);
    }
}

static web_resp op(webfix *w, const char *s, const char *c, uint32_t no, const char *name,
                   const char *headers, const char *body)
{
    char path[80];

    snprintf(path, sizeof path, "/api/v1/windows/%u/%s", no, name);
    return web_req(w, "POST", path, s, c, headers, body ? body : "");
}

/* A window operation from the terminal (HOLD, PAUSE and RESUME, which
 * hallfixture does not build, here). */
static Hall__Envelope *device_op(devlink *l, Hall__Envelope__BodyCase body, uint32_t no,
                                 uint64_t ticket)
{
    Hall__Envelope req = HALL__ENVELOPE__INIT;
    Hall__Hold hold = HALL__HOLD__INIT;
    Hall__PauseWindow pause = HALL__PAUSE_WINDOW__INIT;
    Hall__ResumeWindow resume = HALL__RESUME_WINDOW__INIT;

    req.body_case = body;
    switch (body) {
    case HALL__ENVELOPE__BODY_HOLD:
        hold.window_no = no;
        hold.ticket_id = ticket;
        req.hold = &hold;
        break;
    case HALL__ENVELOPE__BODY_PAUSE:
        pause.window_no = no;
        req.pause = &pause;
        break;
    case HALL__ENVELOPE__BODY_RESUME:
        resume.window_no = no;
        req.resume = &resume;
        break;
    default:
        return fix_window_op(l, body, no, ticket);
    }
    return fix_call(l, &req);
}

/* The web answer's window and ticket against the device's WINDOW_REPLY. */
static void same_answer(web_resp *r, Hall__Envelope *a)
{
    ck_assert_msg(r->status == 200, "%d %s", r->status, r->body);
    ck_assert_int_eq(a->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
    json_t *wj = json_object_get(r->json, "window");
    json_t *tj = json_object_get(wj, "ticket");
    const Hall__WindowReply *wr = a->window_reply;
    /* Both windows call from one queue: what waits differs by one. */
    ck_assert_str_eq(json_string_value(json_object_get(wj, "state")),
                     wr->state == HALL__WINDOW_STATE__WINDOW_OPEN     ? "open"
                     : wr->state == HALL__WINDOW_STATE__WINDOW_PAUSED ? "paused"
                                                                      : "closed");
    ck_assert_int_eq(json_is_null(tj), wr->ticket == NULL);
    if (wr->ticket != NULL) {
        ck_assert_str_eq(json_string_value(json_object_get(tj, "area")), wr->ticket->area);
        ck_assert_int_eq((int)json_integer_value(json_object_get(tj, "recalls")),
                         (int)wr->ticket->recalls);
        static const char *const states[] = {"unknown", "reserved", "waiting", "called",
                                             "serving", "done",     "no_show", "hold"};
        ck_assert_str_eq(json_string_value(json_object_get(tj, "state")),
                         states[wr->ticket->state]);
    }
    web_resp_free(r);
    proto_free(a);
}

START_TEST(window_ops)
{
    hallfix f;
    webfix w;
    char s[64], c[64], sm[64], cm[64], k1[256], k2[256];
    web_resp r;

    fix_init(&f, 2, WEB_CONF);
    ck_assert_int_eq(web_add_user(&f, "clerk1", "clerk", "c-1", "clerk-pass-1"), 0);
    ck_assert_int_eq(web_add_user(&f, "boss", "manager", NULL, "boss-pass-1"), 0);
    fix_start(&f);
    web_start(&w, &f);
    devlink *kiosk = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    devlink *win2 = fix_device(&f, "win-2", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 2);
    for (int i = 0; i < 8; i++) {
        Hall__Envelope *a = fix_issue(kiosk, "intake", HALL__PRIORITY__PRIORITY_NORMAL);
        ck_assert_int_eq(a->body_case, HALL__ENVELOPE__BODY_ISSUE_REPLY);
        proto_free(fix_printed(kiosk, a->issue_reply->ticket->id));
        proto_free(a);
    }
    web_sign_in(&w, "clerk1", "clerk-pass-1", s, c);

    /* The same day at two windows: window 1 through the API, window 2 as
     * its terminal. Each step's answers agree. */
    same_answer((r = op(&w, s, c, 1, "sign-in", NULL, NULL), &r), fix_sign_in(win2, 2, "c-2"));
    Hall__Envelope *a;
    r = op(&w, s, c, 1, "call-next", NULL, NULL);
    a = fix_window_op(win2, HALL__ENVELOPE__BODY_CALL_NEXT, 2, 0);
    uint64_t t1 = (uint64_t)json_integer_value(
        json_object_get(json_object_get(json_object_get(r.json, "window"), "ticket"), "id"));
    uint64_t t2 = a->window_reply->ticket->id;
    same_answer(&r, a);
    static const struct {
        const char *web;
        Hall__Envelope__BodyCase body;
    } steps[] = {
        {"recall", HALL__ENVELOPE__BODY_RECALL}, {"start", HALL__ENVELOPE__BODY_START},
        {"hold", HALL__ENVELOPE__BODY_HOLD},     {"finish", HALL__ENVELOPE__BODY_FINISH},
        {"pause", HALL__ENVELOPE__BODY_PAUSE},   {"resume", HALL__ENVELOPE__BODY_RESUME},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        char body[64];
        /* A held ticket is returned before it is finished. */
        if (steps[i].body == HALL__ENVELOPE__BODY_FINISH) {
            Hall__Envelope req = HALL__ENVELOPE__INIT;
            Hall__Hold hold = HALL__HOLD__INIT;
            snprintf(body, sizeof body, "{\"ticket_id\":%llu}", (unsigned long long)t1);
            r = op(&w, s, c, 1, "return", NULL, body);
            ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
            web_resp_free(&r);
            hold.window_no = 2;
            hold.ticket_id = t2;
            hold.release = true;
            req.body_case = HALL__ENVELOPE__BODY_HOLD;
            req.hold = &hold;
            proto_free(fix_call(win2, &req));
            r = op(&w, s, c, 1, "call-next", NULL, NULL);
            a = fix_window_op(win2, HALL__ENVELOPE__BODY_CALL_NEXT, 2, 0);
            t1 = (uint64_t)json_integer_value(json_object_get(
                json_object_get(json_object_get(r.json, "window"), "ticket"), "id"));
            t2 = a->window_reply->ticket->id;
            same_answer(&r, a);
            r = op(&w, s, c, 1, "start", NULL, NULL);
            same_answer(&r, fix_window_op(win2, HALL__ENVELOPE__BODY_START, 2, 0));
        }
        snprintf(body, sizeof body, "{\"ticket_id\":%llu}", (unsigned long long)t1);
        r = op(&w, s, c, 1, steps[i].web, NULL, body);
        same_answer(&r, device_op(win2, steps[i].body, 2,
                                  steps[i].body == HALL__ENVELOPE__BODY_HOLD ? t2 : 0));
    }
    /* The same events, kind for kind, at both windows. */
    window_kinds(&f, 1, k1, sizeof k1);
    window_kinds(&f, 2, k2, sizeof k2);
    ck_assert_str_eq(k1, k2);
    /* Window 1's were made by clerk1 through the gateway, as a person. */
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events WHERE window_no = 1 AND device <> "
                                    "'web:clerk1'"),
                     0);

    /* A clerk acts only where they are signed in, and only as themselves. */
    r = op(&w, s, c, 2, "call-next", NULL, NULL);
    expect(&r, 403, "ERR_FORBIDDEN");
    r = op(&w, s, c, 2, "sign-in", NULL, "{\"clerk_id\":\"c-2\"}");
    expect(&r, 403, "ERR_FORBIDDEN");
    /* The manager may act on any window. */
    web_sign_in(&w, "boss", "boss-pass-1", sm, cm);
    r = op(&w, sm, cm, 2, "pause", NULL, "{\"reason\":\"meeting\"}");
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    web_resp_free(&r);
    r = op(&w, sm, cm, 2, "resume", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    web_resp_free(&r);

    /* An Idempotency-Key retry gets the first answer, byte for byte, and
     * calls nobody else; the key reused for another request is refused. */
    long long calls = fix_db_int(&f, "SELECT count(*) FROM events WHERE kind = 5");
    web_resp first = op(&w, s, c, 1, "call-next", "Idempotency-Key: call-0001\r\n", NULL);
    ck_assert_msg(first.status == 200, "%d %s", first.status, first.body);
    web_resp again = op(&w, s, c, 1, "call-next", "Idempotency-Key: call-0001\r\n", NULL);
    ck_assert_int_eq(again.status, 200);
    ck_assert_str_eq(again.body, first.body);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events WHERE kind = 5"), calls + 1);
    web_resp_free(&first);
    web_resp_free(&again);
    r = op(&w, s, c, 1, "pause", "Idempotency-Key: call-0001\r\n", NULL);
    expect(&r, 422, "ERR_REQUEST_ID_REUSED");

    /* Bad input: no such operation, a ticket id of the wrong type, a body
     * that is not JSON. None of it reaches the queue. */
    calls = fix_db_int(&f, "SELECT count(*) FROM events");
    r = op(&w, s, c, 1, "explode", NULL, NULL);
    expect(&r, 404, "ERR_NOT_FOUND");
    r = op(&w, s, c, 1, "finish", NULL, "{\"ticket_id\":\"seven\"}");
    expect(&r, 400, "ERR_BAD_REQUEST");
    r = op(&w, s, c, 1, "finish", NULL, "{\"ticket_id\":");
    expect(&r, 400, "ERR_BAD_REQUEST");
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events"), calls);

    /* The window's status, read on hallweb's read-only connection: its
     * current ticket, and its queue by area. */
    r = web_req(&w, "GET", "/api/v1/windows/1/status", s, NULL, NULL, NULL);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    json_t *win = json_object_get(r.json, "window");
    json_t *cur = json_object_get(win, "ticket");
    ck_assert_str_eq(json_string_value(json_object_get(win, "state")), "open");
    ck_assert_str_eq(json_string_value(json_object_get(win, "clerk")), "c-1");
    ck_assert_str_eq(json_string_value(json_object_get(cur, "state")), "called");
    ck_assert_int_eq(json_integer_value(json_object_get(cur, "id")),
                     fix_db_int(&f, "SELECT current_ticket FROM windows WHERE no = 1"));
    json_t *intake = NULL;
    for (size_t i = 0; i < json_array_size(json_object_get(win, "queue")); i++)
        if (strcmp(json_string_value(
                       json_object_get(json_array_get(json_object_get(win, "queue"), i), "area")),
                   "intake") == 0)
            intake = json_array_get(json_object_get(win, "queue"), i);
    ck_assert_ptr_nonnull(intake);
    ck_assert_int_eq(json_integer_value(json_object_get(intake, "waiting")),
                     fix_db_int(&f, "SELECT count(*) FROM tickets WHERE state = 2 AND area = "
                                    "'intake'"));
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "max_recalls")), 2);
    /* clerk1's own day: what the log says c-1 did. */
    json_t *today = json_object_get(win, "today");
    ck_assert_str_eq(json_string_value(json_object_get(today, "clerk")), "c-1");
    ck_assert_int_eq(
        json_integer_value(json_object_get(today, "called")),
        fix_db_int(&f, "SELECT count(*) FROM events WHERE kind = 5 AND clerk = 'c-1'"));
    ck_assert_int_gt(json_integer_value(json_object_get(today, "called")), 0);
    ck_assert_int_eq(
        json_integer_value(json_object_get(today, "finished")),
        fix_db_int(&f, "SELECT count(*) FROM events WHERE kind = 10 AND clerk = 'c-1'"));
    web_resp_free(&r);
    r = web_req(&w, "GET", "/api/v1/windows/77/status", s, NULL, NULL, NULL);
    expect(&r, 404, "ERR_NOT_FOUND");

    /* Live tickets, masked: as many as the database has, no hash. */
    r = web_req(&w, "GET", "/api/v1/tickets", s, NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq((int)json_array_size(json_object_get(r.json, "tickets")),
                     fix_db_int(&f, "SELECT count(*) FROM tickets WHERE state IN (1,2,3,4,6,7)"));
    ck_assert_ptr_null(strstr(r.body, "hash"));
    web_resp_free(&r);
    r = web_req(&w, "GET", "/api/v1/queues", s, NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(
        json_integer_value(
            json_object_get(json_array_get(json_object_get(r.json, "queues"), 0), "waiting")),
        fix_db_int(&f, "SELECT count(*) FROM tickets WHERE state = 2 AND area = 'intake'"));
    web_resp_free(&r);

    /* The change feed: a poll after the current sequence is held until
     * the hall changes (a call at window 2, by its terminal), then
     * answered with a later sequence. */
    r = web_req(&w, "GET", "/api/v1/events", s, NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    json_int_t seq = json_integer_value(json_object_get(r.json, "seq"));
    web_resp_free(&r);
    char poll_path[64];
    snprintf(poll_path, sizeof poll_path, "/api/v1/events?after=%lld", (long long)seq);
    int held = web_send(&w, "GET", poll_path, s, NULL, NULL, NULL);
    ck_assert(!web_answered(held, 500));
    proto_free(fix_window_op(win2, HALL__ENVELOPE__BODY_CALL_NEXT, 2, 0));
    ck_assert(web_answered(held, 5000));
    r = web_recv(held);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_gt(json_integer_value(json_object_get(r.json, "seq")), seq);
    web_resp_free(&r);
    r = web_req(&w, "GET", "/api/v1/events?after=x1", s, NULL, NULL, NULL);
    expect(&r, 400, "ERR_BAD_REQUEST");
    r = web_req(&w, "GET", "/api/v1/events?after=0", NULL, NULL, NULL, NULL);
    expect(&r, 401, "ERR_SESSION");

    /* A transfer to window 2 with a note: the note stays with the ticket
     * for the window that calls it next. */
    r = web_req(&w, "GET", "/api/v1/windows/1/status", s, NULL, NULL, NULL);
    json_int_t moved = json_integer_value(
        json_object_get(json_object_get(json_object_get(r.json, "window"), "ticket"), "id"));
    web_resp_free(&r);
    ck_assert_int_gt(moved, 0);
    r = op(&w, s, c, 1, "transfer", NULL, "{\"to_window\":2,\"note\":\"材料已核对，请直接受理\"}");
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    web_resp_free(&r);
    r = web_req(&w, "GET", "/api/v1/tickets", s, NULL, NULL, NULL);
    json_t *moved_ticket = NULL;
    for (size_t i = 0; i < json_array_size(json_object_get(r.json, "tickets")); i++) {
        json_t *t = json_array_get(json_object_get(r.json, "tickets"), i);
        if (json_integer_value(json_object_get(t, "id")) == moved)
            moved_ticket = t;
    }
    ck_assert_ptr_nonnull(moved_ticket);
    ck_assert_str_eq(json_string_value(json_object_get(moved_ticket, "state")), "waiting");
    ck_assert_str_eq(json_string_value(json_object_get(moved_ticket, "note")),
                     "材料已核对，请直接受理");
    web_resp_free(&r);
    /* A note with a line break is refused, and the call stands. */
    r = op(&w, s, c, 1, "call-next", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    web_resp_free(&r);
    r = op(&w, s, c, 1, "transfer", NULL, "{\"to_area\":\"tax\",\"note\":\"a\\nb\"}");
    expect(&r, 400, "ERR_BAD_REQUEST");
    ck_assert_int_gt(fix_db_int(&f, "SELECT current_ticket FROM windows WHERE no = 1"), 0);

    /* A body over 16 KiB is refused before it is read as JSON. */
    char *big = malloc(20000);
    ck_assert_ptr_nonnull(big);
    memset(big, ' ', 19999);
    big[0] = '{';
    big[19998] = '}';
    big[19999] = '\0';
    calls = fix_db_int(&f, "SELECT count(*) FROM events");
    r = op(&w, s, c, 1, "recall", NULL, big);
    expect(&r, 413, "ERR_BAD_REQUEST");
    free(big);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events"), calls);

    /* On the wire: the gateway's own audit line must be one clean line; a
     * request on behalf of nobody, or from a device that is not a
     * gateway, is refused; the good ones among them still run. */
    devlink *gw = fix_device(&f, "web-1", HALL__DEVICE_TYPE__DEVICE_WEB, 0);
    Hall__Envelope env = HALL__ENVELOPE__INIT;
    Hall__WebEvent ev = HALL__WEB_EVENT__INIT;
    char user[] = "clerk1", addr[] = "192.0.2.9", bad_what[] = "signed in\nforged line",
         good_what[] = "signed in as clerk";
    ev.user = user;
    ev.address = addr;
    ev.what = bad_what;
    env.body_case = HALL__ENVELOPE__BODY_WEB_EVENT;
    env.web_event = &ev;
    a = fix_call(gw, &env);
    ck_assert(a->body_case == HALL__ENVELOPE__BODY_ERROR &&
              a->error->code == HALL__ERROR_CODE__ERR_BAD_REQUEST);
    proto_free(a);
    ev.what = good_what;
    env.request_id = 0;
    a = fix_call(gw, &env);
    ck_assert_int_eq(a->body_case, HALL__ENVELOPE__BODY_WEB_EVENT_REPLY);
    proto_free(a);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events WHERE detail LIKE '%%forged%%'"),
                     0);
    Hall__Envelope call = HALL__ENVELOPE__INIT;
    Hall__CallNext cn = HALL__CALL_NEXT__INIT;
    char nobody[] = "nobody", clerk1[] = "clerk1";
    cn.window_no = 1;
    call.body_case = HALL__ENVELOPE__BODY_CALL_NEXT;
    call.call_next = &cn;
    call.on_behalf_of = nobody;
    a = fix_call(gw, &call);
    ck_assert(a->body_case == HALL__ENVELOPE__BODY_ERROR &&
              a->error->code == HALL__ERROR_CODE__ERR_FORBIDDEN);
    proto_free(a);
    call.on_behalf_of = clerk1;
    call.request_id = 0;
    a = fix_call(win2, &call); /* a window terminal is no gateway */
    ck_assert(a->body_case == HALL__ENVELOPE__BODY_ERROR &&
              a->error->code == HALL__ERROR_CODE__ERR_FORBIDDEN);
    proto_free(a);
    call.request_id = 0;
    a = fix_call(gw, &call); /* clerk1 at window 1, through the gateway */
    ck_assert_int_eq(a->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
    proto_free(a);
    devlink_close(gw);

    /* halld gone: a clear answer, not a hang; back: it works again. */
    ck_assert_int_eq(fix_stop(&f), 0);
    r = op(&w, s, c, 1, "start", NULL, NULL);
    expect(&r, 503, "ERR_UNAVAILABLE");
    devlink_close(kiosk);
    devlink_close(win2);
    web_stop(&w);
    fix_free(&f);
}
END_TEST

/* ---- web_reads_off_loop -------------------------------------------------------- */

/* The admin API's inputs: one bad item among good ones, one too large,
 * too many at once; a refusal changes nothing, not even the audit log. */
START_TEST(admin_api)
{
    hallfix f;
    webfix w;
    char sa[64], ca[64], sc[64], cc[64], hdr[300];
    web_resp r;

    fix_init(&f, 2, WEB_CONF);
    ck_assert_int_eq(web_add_user(&f, "root", "admin", NULL, "root-pass-1"), 0);
    ck_assert_int_eq(web_add_user(&f, "clerk1", "clerk", "c-1", "clerk-pass-1"), 0);
    fix_start(&f);
    web_start(&w, &f);
    web_sign_in(&w, "root", "root-pass-1", sa, ca);
    web_sign_in(&w, "clerk1", "clerk-pass-1", sc, cc);
    long long events = fix_db_int(&f, "SELECT count(*) FROM events");
    long long areas = fix_db_int(&f, "SELECT count(*) FROM areas WHERE retired = 0");

    /* A window naming one unknown area among good ones: refused whole. */
    r = web_req(
        &w, "POST", "/api/v1/windows", sa, ca, NULL,
        "{\"no\":7,\"name\":\"七号窗\",\"type\":\"intake\",\"areas\":[{\"area\":\"intake\"},"
        "{\"area\":\"nowhere\",\"weight\":2},{\"area\":\"tax\"}]}");
    ck_assert_ptr_nonnull(strstr(r.body, "\"field\":\"areas\""));
    expect(&r, 404, "ERR_NOT_FOUND");
    r = web_req(
        &w, "POST", "/api/v1/windows", sa, ca, NULL,
        "{\"no\":7,\"name\":\"七号窗\",\"type\":\"intake\",\"areas\":[{\"area\":\"intake\"},"
        "{\"area\":\"tax\",\"weight\":0}]}");
    expect(&r, 400, "ERR_BAD_REQUEST");
    r = web_req(&w, "POST", "/api/v1/windows", sa, ca, NULL,
                "{\"no\":7,\"name\":\"七号窗\",\"type\":\"intake\",\"areas\":[\"intake\"]}");
    expect(&r, 400, "ERR_BAD_REQUEST");
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM windows WHERE no = 7"), 0);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events"), events);
    r = web_req(
        &w, "POST", "/api/v1/windows", sa, ca, NULL,
        "{\"no\":7,\"name\":\"七号窗\",\"type\":\"intake\",\"areas\":[{\"area\":\"intake\"},"
        "{\"area\":\"tax\",\"weight\":2}]}");
    ck_assert_int_eq(r.status, 200);
    web_resp_free(&r);
    ck_assert_int_eq(fix_db_int(&f, "SELECT sum(weight) FROM window_areas WHERE window_no = 7"), 3);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events"), events + 1);
    events++;

    /* A catalog with one bad row among good ones: refused with its line,
     * the catalog as it was. */
    static const char bad[] =
        "kind,code,name,prefix,general,area,conditions,materials,sample,review_points,"
        "in_one_window,online_doable\n"
        "area,intake,综合受理,A,true,,,,,,,\n"
        "matter,m1,事项一,,,intake,,,,,true,false\n"
        "matter,m2,事项二,,,intake,,,,,maybe,false\n"
        "matter,m3,事项三,,,intake,,,,,true,false\n";
    r = web_req(&w, "POST", "/api/v1/catalog?name=bad.csv", sa, ca, "Content-Type: text/csv\r\n",
                bad);
    ck_assert_ptr_nonnull(strstr(r.body, "\"line\":4"));
    ck_assert_ptr_nonnull(strstr(r.body, "\"column\":\"in_one_window\""));
    expect(&r, 400, "ERR_BAD_REQUEST");

    /* Too large: 4 MiB and more. */
    size_t big = UPLOAD_MAX + 1;
    char *huge = malloc(big + 1);
    ck_assert_ptr_nonnull(huge);
    memset(huge, 'x', big);
    huge[big] = '\0';
    r = web_req(&w, "POST", "/api/v1/catalog?name=big.csv", sa, ca, "Content-Type: text/csv\r\n",
                huge);
    expect(&r, 413, "ERR_BAD_REQUEST");
    /* A clerk's large body is cut at 16 KiB and refused by role. */
    huge[20000] = '\0';
    r = web_req(&w, "POST", "/api/v1/catalog?name=big.csv", sc, cc, "Content-Type: text/csv\r\n",
                huge);
    expect(&r, 403, "ERR_FORBIDDEN");
    free(huge);

    /* Too many at once: an upload still arriving holds the one place; a
     * second is refused; once the first is gone, the place is free. */
    int slow = ts_connect(w.port, 30);
    snprintf(hdr, sizeof hdr,
             "POST /api/v1/catalog?name=slow.csv HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
             "Cookie: ow_session=%s\r\nX-CSRF-Token: %s\r\nContent-Type: text/csv\r\n"
             "Content-Length: 100000\r\n\r\nkind,code",
             w.port, sa, ca);
    ck_assert_int_eq(send(slow, hdr, strlen(hdr), 0), (ssize_t)strlen(hdr));
    usleep(300 * 1000);
    r = web_req(&w, "POST", "/api/v1/catalog?name=bad.csv", sa, ca, "Content-Type: text/csv\r\n",
                bad);
    expect(&r, 503, "ERR_UNAVAILABLE");
    close(slow);
    for (int i = 0; i < 50; i++) {
        r = web_req(&w, "POST", "/api/v1/catalog?name=bad.csv", sa, ca,
                    "Content-Type: text/csv\r\n", bad);
        if (r.status != 503)
            break;
        web_resp_free(&r);
        usleep(100 * 1000);
    }
    expect(&r, 400, "ERR_BAD_REQUEST"); /* read again: refused for its row */
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM areas WHERE retired = 0"), areas);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events"), events);

    /* A year's holidays: one bad line among good ones imports nothing and
     * names the line; a file too large is refused; a clerk may not; the
     * good file is one change. */
    const char *json = "Content-Type: application/json\r\n";
    r = web_req(&w, "POST", "/api/v1/calendar/import", sa, ca, json,
                "{\"csv\":\"2026-10-01,holiday,,国庆节\\n2026-10-3x,holiday\\n"
                "2026-10-10,workday,mon,调休\\n\"}");
    ck_assert_ptr_nonnull(strstr(r.body, "\"field\":\"line\""));
    ck_assert_ptr_nonnull(strstr(r.body, "第 2 行"));
    expect(&r, 400, "ERR_BAD_REQUEST");
    char *lines = malloc(13000);
    ck_assert_ptr_nonnull(lines);
    memcpy(lines, "{\"csv\":\"", 8);
    memset(lines + 8, '#', 12500);
    memcpy(lines + 8 + 12500, "\"}", 3);
    r = web_req(&w, "POST", "/api/v1/calendar/import", sa, ca, json, lines);
    ck_assert_ptr_nonnull(strstr(r.body, "csv must be a string"));
    expect(&r, 400, "ERR_BAD_REQUEST");
    free(lines);
    r = web_req(&w, "POST", "/api/v1/calendar/import", sc, cc, json,
                "{\"csv\":\"2026-10-01,holiday\\n\"}");
    expect(&r, 403, "ERR_FORBIDDEN");
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM calendar_dates"), 0);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events"), events);
    r = web_req(
        &w, "POST", "/api/v1/calendar/import", sa, ca, json,
        "{\"csv\":\"# 国庆节\\n2026-10-01,holiday,,国庆节\\n2026-10-10,workday,mon,调休\\n\"}");
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"imported\":2"));
    web_resp_free(&r);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM calendar_dates"), 2);
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events"), events + 1);

    web_stop(&w);
    ck_assert_int_eq(WEXITSTATUS(fix_stop(&f)), 0);
    ck_assert_int_eq(fix_hallctl(&f, "audit verify"), 0);
    fix_free(&f);
}
END_TEST

START_TEST(reads_off_loop)
{
    hallfix f;
    webfix w;
    char s[64], c[64], hold[1200];
    web_resp r;

    fix_init(&f, 2, WEB_CONF);
    ck_assert_int_eq(web_add_user(&f, "clerk1", "clerk", "c-1", "clerk-pass-1"), 0);
    snprintf(hold, sizeof hold, "%s/hold-reads", f.dir);
    setenv("HALLWEB_TEST_HOLD_READS", hold, 1);
    fix_start(&f);
    web_start(&w, &f);
    devlink *kiosk = fix_device(&f, "kiosk-01", HALL__DEVICE_TYPE__DEVICE_KIOSK, 0);
    devlink *win2 = fix_device(&f, "win-2", HALL__DEVICE_TYPE__DEVICE_WINDOW_TERMINAL, 2);
    for (int i = 0; i < 60; i++) {
        Hall__Envelope *a = fix_issue(kiosk, "intake", HALL__PRIORITY__PRIORITY_NORMAL);
        proto_free(fix_printed(kiosk, a->issue_reply->ticket->id));
        proto_free(a);
    }
    web_sign_in(&w, "clerk1", "clerk-pass-1", s, c);
    r = web_req(&w, "POST", "/api/v1/windows/1/sign-in", s, c, NULL, "");
    ck_assert_int_eq(r.status, 200);
    web_resp_free(&r);
    proto_free(fix_sign_in(win2, 2, "c-2"));

    /* A list of the windows, held in the middle of its read. */
    ts_write_file(hold, "held\n");
    int list = web_send(&w, "GET", "/api/v1/windows", s, NULL, NULL, NULL);
    ck_assert(ts_file_contains(w.log, "a read of the windows is held in hallweb", FIX_WAIT_MS));
    /* While it is held, every call is answered: 25 at window 2 through its
     * terminal and 25 at window 1 through the API (another web thread). */
    for (int i = 0; i < 25; i++) {
        Hall__Envelope *a = fix_window_op(win2, HALL__ENVELOPE__BODY_CALL_NEXT, 2, 0);
        ck_assert_int_eq(a->body_case, HALL__ENVELOPE__BODY_WINDOW_REPLY);
        proto_free(a);
        r = web_req(&w, "POST", "/api/v1/windows/1/call-next", s, c, NULL, "");
        ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
        web_resp_free(&r);
    }
    ck_assert(!web_answered(list, 0)); /* still held */
    /* Each call-next called or recalled (a called ticket is recalled). */
    ck_assert_int_eq(fix_db_int(&f, "SELECT count(*) FROM events WHERE kind IN (5, 6)"), 50);
    /* The read ran in hallweb, never in halld (whose loop runs no report). */
    ck_assert(!ts_file_contains(f.log, "test hook", 0));
    unlink(hold);
    r = web_recv(list);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq((int)json_array_size(json_object_get(r.json, "windows")), 2);
    web_resp_free(&r);
    devlink_close(kiosk);
    devlink_close(win2);
    web_stop(&w);
    fix_free(&f);
}
END_TEST

int main(int argc, char **argv)
{
    Suite *s = suite_create("web");
    TCase *tc = tcase_create("web");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 300);
    if (argc < 2 || strcmp(argv[1], "auth") == 0) {
        tcase_add_test(tc, auth);
        tcase_add_test(tc, https);
    }
    if (argc < 2 || strcmp(argv[1], "csrf") == 0)
        tcase_add_test(tc, csrf);
    if (argc < 2 || strcmp(argv[1], "ops") == 0)
        tcase_add_test(tc, window_ops);
    if (argc < 2 || strcmp(argv[1], "admin") == 0)
        tcase_add_test(tc, admin_api);
    if (argc < 2 || strcmp(argv[1], "reads") == 0)
        tcase_add_test(tc, reads_off_loop);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
