/*
 * webfixture — see webfixture.h.
 */
#include "webfixture.h"

#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "testsupport.h"

pid_t web_spawn(webfix *w, hallfix *f)
{
    char port[16];

    memset(w, 0, sizeof *w);
    w->hall = f;
    snprintf(port, sizeof port, "%d", f->port);
    snprintf(w->log, sizeof w->log, "%s/hallweb.log", f->dir);
    unlink(w->log);
    const char *argv[] = {HALLWEB_PATH, "-c", f->config, "--halld-port", port, NULL};
    return w->pid = ts_spawn(argv, w->log);
}

void web_start(webfix *w, hallfix *f)
{
    ck_assert_int_eq(fix_hallctl(f, "device add --id web-1 --type web"), 0);
    web_spawn(w, f);
    ck_assert_msg(ts_file_contains(w->log, "listening on", FIX_WAIT_MS), "hallweb did not start");
    w->port = ts_log_port(w->log, "listening on http://127.0.0.1:");
    ck_assert_int_gt(w->port, 0);
}

/* An HTTP answer in in (NUL-terminated, modified): status, the session
 * cookie set, body and its JSON. */
static void parse_answer(char *in, web_resp *r)
{
    ck_assert_msg(sscanf(in, "HTTP/1.1 %d", &r->status) == 1, "no HTTP answer: %s", in);
    char *end = strstr(in, "\r\n\r\n");
    ck_assert_ptr_nonnull(end);
    *end = '\0';
    const char *sc = strcasestr(in, "\r\nSet-Cookie: ");
    if (sc != NULL) {
        sc += strlen("\r\nSet-Cookie: ");
        snprintf(r->set_cookie, sizeof r->set_cookie, "%.*s", (int)strcspn(sc, "\r\n"), sc);
        if (strncmp(r->set_cookie, "ow_session=", 11) == 0)
            snprintf(r->session, sizeof r->session, "%.*s", (int)strcspn(r->set_cookie + 11, ";"),
                     r->set_cookie + 11);
    }
    static const struct {
        const char *name;
        size_t off, len;
    } heads[] = {
        {"\r\nContent-Type: ", offsetof(web_resp, content_type), sizeof r->content_type},
        {"\r\nContent-Disposition: ", offsetof(web_resp, disposition), sizeof r->disposition},
    };
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        const char *h = strcasestr(in, heads[i].name);
        if (h != NULL) {
            h += strlen(heads[i].name);
            snprintf((char *)r + heads[i].off, heads[i].len, "%.*s", (int)strcspn(h, "\r\n"), h);
        }
    }
    r->body = strdup(end + 4);
    r->json = json_loads(r->body, 0, NULL);
}

web_resp web_req_tls(webfix *w, const char *ca, const char *method, const char *path,
                     const char *cookie, const char *csrf, const char *body)
{
    char head[2048], in[65536];
    size_t len = 0;
    web_resp r;
    int fd = ts_connect(w->port, 10), n;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl;

    memset(&r, 0, sizeof r);
    ck_assert_int_ge(fd, 0);
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(SSL_CTX_load_verify_locations(ctx, ca, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    SSL_set1_host(ssl, "localhost");
    if (SSL_connect(ssl) != 1) {
        r.status = -1; /* no TLS, or a certificate the hall CA did not issue */
        goto out;
    }
    n = snprintf(head, sizeof head,
                 "%s %s HTTP/1.1\r\nHost: localhost:%d\r\nConnection: close\r\n%s%s%s%s%s%s"
                 "%sContent-Length: %zu\r\n\r\n%s",
                 method, path, w->port, cookie ? "Cookie: ow_session=" : "", cookie ? cookie : "",
                 cookie ? "\r\n" : "", csrf ? "X-CSRF-Token: " : "", csrf ? csrf : "",
                 csrf ? "\r\n" : "", body ? "Content-Type: application/json\r\n" : "",
                 body ? strlen(body) : 0, body ? body : "");
    ck_assert_int_lt(n, (int)sizeof head);
    ck_assert_int_eq(SSL_write(ssl, head, n), n);
    for (int got;
         len + 1 < sizeof in && (got = SSL_read(ssl, in + len, (int)(sizeof in - len - 1))) > 0;)
        len += (size_t)got;
    in[len] = '\0';
    parse_answer(in, &r);
out:
    if (r.body == NULL)
        r.body = strdup("");
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return r;
}

void web_stop(webfix *w)
{
    if (w->pid > 0) {
        kill(w->pid, SIGTERM);
        ck_assert_int_eq(ts_wait(w->pid, FIX_WAIT_MS), 0);
    }
    w->pid = 0;
}

int web_add_user(hallfix *f, const char *name, const char *role, const char *clerk,
                 const char *password)
{
    char clerk_opt[80] = "";

    if (clerk != NULL)
        snprintf(clerk_opt, sizeof clerk_opt, "--clerk %s", clerk);
    return ts_system("printf '%%s\\n' '%s' | %s -c %s user add --name %s --role %s %s "
                     "--password-stdin >>%s/hallctl.log 2>&1",
                     password, HALLCTL_PATH, f->config, name, role, clerk_opt, f->dir);
}

int web_send(webfix *w, const char *method, const char *path, const char *cookie, const char *csrf,
             const char *headers, const char *body)
{
    char head[4096];
    int fd = ts_connect(w->port, 60);
    int n;

    ck_assert_int_ge(fd, 0);
    n = snprintf(head, sizeof head,
                 "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s%s%s%s%s%s%s"
                 "Content-Length: %zu\r\n\r\n",
                 method, path, w->port, cookie ? "Cookie: ow_session=" : "", cookie ? cookie : "",
                 cookie ? "\r\n" : "", csrf ? "X-CSRF-Token: " : "", csrf ? csrf : "",
                 csrf ? "\r\n" : "", headers ? headers : "", body ? strlen(body) : 0);
    ck_assert_int_lt(n, (int)sizeof head);
    if (body != NULL && (headers == NULL || strcasestr(headers, "Content-Type:") == NULL)) {
        /* The Content-Type goes before the blank line. */
        head[n - 2] = '\0';
        strcat(head, "Content-Type: application/json\r\n\r\n");
    }
    ck_assert_int_eq(send(fd, head, strlen(head), MSG_NOSIGNAL), (ssize_t)strlen(head));
    if (body != NULL && body[0] != '\0')
        ck_assert_int_eq(send(fd, body, strlen(body), MSG_NOSIGNAL), (ssize_t)strlen(body));
    return fd;
}

web_resp web_recv(int fd)
{
    size_t cap = 1 << 16, len = 0;
    char *in = malloc(cap);
    web_resp r;

    memset(&r, 0, sizeof r);
    ck_assert_ptr_nonnull(in);
    for (;;) {
        if (len + 1 >= cap)
            ck_assert_ptr_nonnull(in = realloc(in, cap *= 2));
        ssize_t got = recv(fd, in + len, cap - len - 1, 0);
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    in[len] = '\0';
    parse_answer(in, &r);
    free(in);
    return r;
}

web_resp web_req(webfix *w, const char *method, const char *path, const char *cookie,
                 const char *csrf, const char *headers, const char *body)
{
    return web_recv(web_send(w, method, path, cookie, csrf, headers, body));
}

void web_resp_free(web_resp *r)
{
    json_decref(r->json);
    free(r->body);
    memset(r, 0, sizeof *r);
}

void web_sign_in(webfix *w, const char *user, const char *password, char session[64], char csrf[64])
{
    char body[300];

    snprintf(body, sizeof body, "{\"user\":\"%s\",\"password\":\"%s\"}", user, password);
    web_resp r = web_req(w, "POST", "/api/v1/session", NULL, NULL, NULL, body);
    ck_assert_msg(r.status == 200, "sign-in of %s: %d %s", user, r.status, r.body);
    ck_assert_str_ne(r.session, "");
    snprintf(session, 64, "%s", r.session);
    snprintf(csrf, 64, "%s", json_string_value(json_object_get(r.json, "csrf_token")));
    ck_assert_int_eq((int)strlen(csrf), 43);
    web_resp_free(&r);
}

bool web_answered(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, timeout_ms) == 1;
}

const char *web_error_code(const web_resp *r)
{
    const char *code =
        json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
    return code ? code : "";
}
