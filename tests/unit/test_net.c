/*
 * Unit tests of common/net and common/pki: plain and TLS 1.3 connections
 * between two net_conns in one ev_loop over loopback, and the certificates
 * they use, made at test time in a scratch directory.
 *
 * Cases: echo over plain TCP and over TLS with client certificates (peer
 * names and protocol on both ends); clients refused for a certificate from
 * another CA or for none; a peer that sends junk instead of a handshake is
 * dropped while a good connection on the same server keeps working; a
 * 4 MiB echo over TLS (partial writes, WANT_WRITE); a graceful close after
 * 1 MiB of output; input and output limits; certificate loading errors;
 * connect to a closed port; the socket helpers; what pki puts in the
 * certificates it issues.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "net.h"
#include "pki.h"
#include "testsupport.h"

/* Generous: a loaded 2-core machine under ASan is slow, and a passing run
 * never waits this long. */
#define WAIT_MS   30000
#define MAX_CONNS 8
#define BIG       (4u * 1024 * 1024)

/* ---- Certificates --------------------------------------------------- */

static char *dir; /* scratch directory of the running test */

/* When not 0, every socket of the test gets a send buffer this small, so
 * a large transfer must stall on a full socket (WANT_WRITE). Receive
 * buffers stay as they are: a window smaller than the loopback MSS makes
 * TCP wait for its persist timer. */
static int sockbuf;

static void shrink_buffers(int fd)
{
    if (sockbuf == 0)
        return;
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sockbuf, sizeof sockbuf), 0);
}

static const char *P(const char *name)
{
    return ts_path(dir, name);
}

static void make_ca(const char *cn, const char *base)
{
    char err[PKI_ERR_LEN] = "";
    char crt[256], key[256];

    snprintf(crt, sizeof crt, "%s.crt", base);
    snprintf(key, sizeof key, "%s.key", base);
    ck_assert_msg(pki_make_ca(cn, 30, P(crt), P(key), err) == 0, "pki_make_ca: %s", err);
}

static void issue(const char *ca, const char *cn, int usage, const char *base)
{
    char err[PKI_ERR_LEN] = "";
    char cacrt[256], cakey[256], crt[256], key[256];
    char cacrt_path[1024], cakey_path[1024];

    snprintf(cacrt, sizeof cacrt, "%s.crt", ca);
    snprintf(cakey, sizeof cakey, "%s.key", ca);
    snprintf(crt, sizeof crt, "%s.crt", base);
    snprintf(key, sizeof key, "%s.key", base);
    snprintf(cacrt_path, sizeof cacrt_path, "%s", P(cacrt));
    snprintf(cakey_path, sizeof cakey_path, "%s", P(cakey));
    ck_assert_msg(pki_issue(cacrt_path, cakey_path, cn, NULL, usage, 30, P(crt), P(key), err) == 0,
                  "pki_issue %s: %s", cn, err);
}

/* The hall: CA, controller (server) and a kiosk (client); and an intruder
 * whose certificate comes from another CA. */
static void setup(void)
{
    dir = ts_tmpdir("net");
    make_ca("hall-ca", "ca");
    issue("ca", "halld", PKI_SERVER, "halld");
    issue("ca", "kiosk-01", PKI_CLIENT, "kiosk");
    make_ca("other-ca", "other");
    issue("other", "intruder", PKI_CLIENT, "intruder");
}

static void teardown(void)
{
    ts_rmtree(dir);
    free(dir);
    dir = NULL;
    sockbuf = 0;
}

static net_tls *server_tls(void)
{
    char err[NET_ERR_LEN] = "";
    net_tls *t = net_tls_new_server(P("halld.crt"), P("halld.key"), P("ca.crt"), err);

    ck_assert_msg(t != NULL, "server tls: %s", err);
    return t;
}

static net_tls *client_tls(const char *base)
{
    char err[NET_ERR_LEN] = "", crt[256], key[256], crt_path[1024];
    net_tls *t;

    if (base == NULL) {
        t = net_tls_new_client(NULL, NULL, P("ca.crt"), err);
    } else {
        snprintf(crt, sizeof crt, "%s.crt", base);
        snprintf(key, sizeof key, "%s.key", base);
        snprintf(crt_path, sizeof crt_path, "%s", P(crt));
        t = net_tls_new_client(crt_path, P(key), P("ca.crt"), err);
    }
    ck_assert_msg(t != NULL, "client tls: %s", err);
    return t;
}

/* ---- An echo server ----------------------------------------------- */

typedef struct server {
    ev_loop *loop;
    int lfd;
    int port;
    net_tls *tls;
    size_t in_limit;
    bool echo;           /* echo input; otherwise leave it unconsumed */
    size_t send_on_open; /* bytes to send, then close after flush */
    net_conn *conns[MAX_CONNS];
    int accepted, opened, closed;
    bool any_opened, any_closed;
    char peer_name[64];
    char protocol[16];
    char reason[NET_ERR_LEN];
} server;

static void srv_on_open(net_conn *c, void *arg)
{
    server *s = arg;
    const char *name = net_conn_peer_name(c);

    s->opened++;
    s->any_opened = true;
    snprintf(s->peer_name, sizeof s->peer_name, "%s", name != NULL ? name : "(none)");
    snprintf(s->protocol, sizeof s->protocol, "%s", net_conn_protocol(c));
    if (s->send_on_open > 0) {
        uint8_t *p = malloc(s->send_on_open);
        ck_assert_ptr_nonnull(p);
        for (size_t i = 0; i < s->send_on_open; i++)
            p[i] = (uint8_t)(i * 7 + (i >> 12));
        ck_assert_int_eq(net_conn_write(c, p, s->send_on_open), 0);
        free(p);
        net_conn_close(c, true, "server done");
    }
}

static void srv_on_data(net_conn *c, buf *in, void *arg)
{
    server *s = arg;

    if (!s->echo)
        return;
    ck_assert_int_eq(net_conn_write(c, buf_rdata(in), buf_rlen(in)), 0);
    buf_consume(in, buf_rlen(in));
}

static void srv_on_close(net_conn *c, const char *reason, void *arg)
{
    server *s = arg;

    for (int i = 0; i < MAX_CONNS; i++)
        if (s->conns[i] == c)
            s->conns[i] = NULL;
    s->closed++;
    s->any_closed = true;
    snprintf(s->reason, sizeof s->reason, "%s", reason);
}

static const net_conn_handlers srv_handlers = {srv_on_open, srv_on_data, srv_on_close};

static void srv_on_accept(ev_loop *loop, int fd, int events, void *arg)
{
    server *s = arg;
    char err[NET_ERR_LEN] = "";
    int cfd;

    (void)events;
    while ((cfd = net_accept(fd, NULL, 0, err)) >= 0) {
        shrink_buffers(cfd);
        net_conn *c = net_conn_new(loop, cfd, s->tls, true, s->in_limit, 0, &srv_handlers, s);
        ck_assert_ptr_nonnull(c);
        ck_assert_int_lt(s->accepted, MAX_CONNS);
        s->conns[s->accepted++] = c;
    }
    ck_assert_msg(errno == EAGAIN, "accept: %s", err);
}

static void server_start(server *s, ev_loop *loop, net_tls *tls)
{
    char err[NET_ERR_LEN] = "";

    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->tls = tls;
    s->echo = true;
    s->lfd = net_listen("127.0.0.1", 0, 16, err);
    ck_assert_msg(s->lfd >= 0, "net_listen: %s", err);
    s->port = net_local_port(s->lfd);
    ck_assert_int_gt(s->port, 0);
    ck_assert_int_eq(ev_fd_set(loop, s->lfd, EV_READ, srv_on_accept, s), 0);
}

/* Close what is still open; the conns are freed by the loop. */
static void server_stop(server *s)
{
    for (int i = 0; i < MAX_CONNS; i++)
        if (s->conns[i] != NULL)
            net_conn_close(s->conns[i], false, "test over");
    ev_fd_del(s->loop, s->lfd);
    close(s->lfd);
    net_tls_free(s->tls);
}

/* ---- A client that sends a payload and collects the echo ------------ */

typedef struct client {
    net_conn *c;
    net_tls *tls;           /* owned, freed by client_stop */
    const uint8_t *payload; /* sent on open */
    size_t payload_len;
    uint8_t *got; /* received bytes, up to cap */
    size_t got_len, cap, want;
    bool opened, done, closed;
    char peer_name[64];
    char protocol[16];
    char reason[NET_ERR_LEN];
} client;

static void cli_on_open(net_conn *c, void *arg)
{
    client *cl = arg;
    const char *name = net_conn_peer_name(c);

    cl->opened = true;
    snprintf(cl->peer_name, sizeof cl->peer_name, "%s", name != NULL ? name : "(none)");
    snprintf(cl->protocol, sizeof cl->protocol, "%s", net_conn_protocol(c));
    if (cl->payload_len > 0)
        ck_assert_int_eq(net_conn_write(c, cl->payload, cl->payload_len), 0);
}

static void cli_on_data(net_conn *c, buf *in, void *arg)
{
    client *cl = arg;
    size_t n = buf_rlen(in);

    (void)c;
    ck_assert_msg(n <= cl->cap - cl->got_len, "received %zu bytes more than expected",
                  n - (cl->cap - cl->got_len));
    memcpy(cl->got + cl->got_len, buf_rdata(in), n);
    cl->got_len += n;
    buf_consume(in, n);
    if (cl->got_len >= cl->want)
        cl->done = true;
}

static void cli_on_close(net_conn *c, const char *reason, void *arg)
{
    client *cl = arg;

    ck_assert_ptr_eq(c, cl->c);
    ck_assert_msg(!cl->closed, "on_close ran twice");
    cl->closed = true;
    cl->c = NULL;
    snprintf(cl->reason, sizeof cl->reason, "%s", reason);
}

static const net_conn_handlers cli_handlers = {cli_on_open, cli_on_data, cli_on_close};

/* Connect to the server; expect the echo of payload (want = its length). */
static void client_start(client *cl, ev_loop *loop, int port, net_tls *tls, const void *payload,
                         size_t len, size_t out_limit)
{
    char err[NET_ERR_LEN] = "";
    int fd;

    memset(cl, 0, sizeof *cl);
    cl->tls = tls;
    cl->payload = payload;
    cl->payload_len = len;
    cl->want = len;
    cl->cap = len > 0 ? len : 1;
    cl->got = malloc(cl->cap);
    ck_assert_ptr_nonnull(cl->got);
    fd = net_connect("127.0.0.1", port, err);
    ck_assert_msg(fd >= 0, "net_connect: %s", err);
    shrink_buffers(fd);
    cl->c = net_conn_new(loop, fd, tls, false, 0, out_limit, &cli_handlers, cl);
    ck_assert_ptr_nonnull(cl->c);
}

static void client_stop(client *cl)
{
    if (cl->c != NULL)
        net_conn_close(cl->c, false, "test over");
    net_tls_free(cl->tls);
    free(cl->got);
}

/* Send another message on an open client and expect its echo. */
static void client_send(client *cl, const void *data, size_t len)
{
    ck_assert_ptr_nonnull(cl->c);
    ck_assert_uint_le(len, cl->cap);
    cl->got_len = 0;
    cl->want = len;
    cl->done = false;
    ck_assert_int_eq(net_conn_write(cl->c, data, len), 0);
}

static ev_loop *new_loop(void)
{
    ev_loop *loop = ev_new();

    ck_assert_ptr_nonnull(loop);
    return loop;
}

/* ---- Echo ------------------------------------------------------------ */

START_TEST(plain_echo)
{
    static const char msg[] = "hello, hall";
    ev_loop *loop = new_loop();
    server s;
    client cl;
    char addr[32];

    server_start(&s, loop, NULL);
    client_start(&cl, loop, s.port, NULL, msg, sizeof msg, 0);
    ck_assert(ts_run_until(loop, &cl.done, WAIT_MS));
    ck_assert_mem_eq(cl.got, msg, sizeof msg);
    ck_assert_str_eq(cl.protocol, "tcp");
    ck_assert_str_eq(cl.peer_name, "(none)");
    ck_assert(!net_conn_is_tls(cl.c));
    snprintf(addr, sizeof addr, "127.0.0.1:%d", s.port);
    ck_assert_str_eq(net_conn_peer_addr(cl.c), addr);
    ck_assert_int_eq(s.opened, 1);
    ck_assert_str_eq(s.protocol, "tcp");
    ck_assert_str_eq(s.peer_name, "(none)");

    /* Closing at once runs on_close before returning, exactly once; the
     * server sees the peer go. */
    net_conn_close(cl.c, false, "bye");
    ck_assert(cl.closed);
    ck_assert_str_eq(cl.reason, "bye");
    ck_assert(ts_run_until(loop, &s.any_closed, WAIT_MS));
    ck_assert_str_eq(s.reason, "peer closed the connection");

    client_stop(&cl);
    server_stop(&s);
    ev_free(loop);
}
END_TEST

START_TEST(tls_echo_with_client_certs)
{
    static const char msg[] = "ticket A017 please";
    ev_loop *loop = new_loop();
    server s;
    client cl;

    server_start(&s, loop, server_tls());
    client_start(&cl, loop, s.port, client_tls("kiosk"), msg, sizeof msg, 0);
    ck_assert(ts_run_until(loop, &cl.done, WAIT_MS));
    ck_assert_mem_eq(cl.got, msg, sizeof msg);
    ck_assert(net_conn_is_tls(cl.c));
    ck_assert_str_eq(cl.protocol, "TLSv1.3");
    ck_assert_str_eq(cl.peer_name, "halld");
    ck_assert_int_eq(s.opened, 1);
    ck_assert_str_eq(s.protocol, "TLSv1.3");
    ck_assert_str_eq(s.peer_name, "kiosk-01");

    /* A TLS close sends close_notify: the server sees a clean close. */
    net_conn_close(cl.c, false, "bye");
    ck_assert(ts_run_until(loop, &s.any_closed, WAIT_MS));
    ck_assert_str_eq(s.reason, "peer closed the connection");

    client_stop(&cl);
    server_stop(&s);
    ev_free(loop);
}
END_TEST

/* Small records that reach the server together, each in its own SSL_write:
 * every one is handed over, whether the socket still holds the rest or the
 * transport already read them (then no readiness would report them). */
START_TEST(tls_records_back_to_back)
{
    enum { RECORDS = 20, SIZE = 8 };
    uint8_t all[RECORDS * SIZE];
    ev_loop *loop = new_loop();
    server s;
    client cl;

    for (size_t i = 0; i < sizeof all; i++)
        all[i] = (uint8_t)(i * 37 + 1);
    server_start(&s, loop, server_tls());
    client_start(&cl, loop, s.port, client_tls("kiosk"), all, sizeof all, 0);
    cl.payload_len = 0; /* sent below, one record each */
    ck_assert(ts_run_until(loop, &cl.opened, WAIT_MS));
    for (int i = 0; i < RECORDS; i++) {
        ck_assert_int_eq(net_conn_write(cl.c, all + i * SIZE, SIZE), 0);
        net_conn_flush(cl.c);
    }
    ck_assert(ts_run_until(loop, &cl.done, WAIT_MS));
    ck_assert_mem_eq(cl.got, all, sizeof all);
    ck_assert_int_eq(s.closed, 0);

    client_stop(&cl);
    server_stop(&s);
    ev_free(loop);
}
END_TEST

/* A net_tls may be freed while its connections live on (certificate
 * reload): they keep their own reference to the OpenSSL context. */
START_TEST(tls_context_freed_while_open)
{
    static const char msg[] = "still here";
    ev_loop *loop = new_loop();
    server s;
    client cl;

    server_start(&s, loop, server_tls());
    client_start(&cl, loop, s.port, client_tls("kiosk"), msg, sizeof msg, 0);
    net_tls_free(cl.tls);
    cl.tls = NULL;
    ck_assert(ts_run_until(loop, &cl.done, WAIT_MS));
    net_tls_free(s.tls);
    s.tls = NULL;
    client_send(&cl, msg, sizeof msg);
    ck_assert(ts_run_until(loop, &cl.done, WAIT_MS));
    ck_assert_mem_eq(cl.got, msg, sizeof msg);

    client_stop(&cl);
    server_stop(&s);
    ev_free(loop);
}
END_TEST

/* ---- Refused peers --------------------------------------------------- */

START_TEST(tls_refuses_foreign_ca)
{
    static const char msg[] = "let me in";
    ev_loop *loop = new_loop();
    server s;
    client cl;

    server_start(&s, loop, server_tls());
    client_start(&cl, loop, s.port, client_tls("intruder"), msg, sizeof msg, 0);
    ck_assert(ts_run_until(loop, &s.any_closed, WAIT_MS));
    ck_assert_int_eq(s.opened, 0);
    ck_assert_msg(strstr(s.reason, "TLS handshake failed: certificate verify failed") != NULL,
                  "server reason: %s", s.reason);
    /* In TLS 1.3 the client finishes its side first; it learns of the
     * refusal from the server's alert or the closed socket. */
    ck_assert(ts_run_until(loop, &cl.closed, WAIT_MS));
    ck_assert(!cl.done);
    ck_assert_str_ne(cl.reason, "");

    client_stop(&cl);
    server_stop(&s);
    ev_free(loop);
}
END_TEST

START_TEST(tls_refuses_client_without_cert)
{
    static const char msg[] = "anonymous";
    ev_loop *loop = new_loop();
    server s;
    client cl;

    server_start(&s, loop, server_tls());
    client_start(&cl, loop, s.port, client_tls(NULL), msg, sizeof msg, 0);
    ck_assert(ts_run_until(loop, &s.any_closed, WAIT_MS));
    ck_assert_int_eq(s.opened, 0);
    ck_assert_msg(strstr(s.reason, "TLS handshake failed: ") == s.reason &&
                      strstr(s.reason, "certificate") != NULL,
                  "server reason: %s", s.reason);
    ck_assert(ts_run_until(loop, &cl.closed, WAIT_MS));
    ck_assert(!cl.done);

    client_stop(&cl);
    server_stop(&s);
    ev_free(loop);
}
END_TEST

/* The client verifies the server: a server certificate from another CA
 * fails the client's handshake, with the verify error spelled out. */
START_TEST(tls_client_refuses_foreign_server)
{
    char err[NET_ERR_LEN] = "";
    ev_loop *loop = new_loop();
    server s;
    client cl;
    net_tls *evil;

    issue("other", "fake-halld", PKI_SERVER, "fake");
    evil = net_tls_new_server(P("fake.crt"), P("fake.key"), NULL, err);
    ck_assert_msg(evil != NULL, "%s", err);
    server_start(&s, loop, evil);
    client_start(&cl, loop, s.port, client_tls("kiosk"), "x", 1, 0);
    ck_assert(ts_run_until(loop, &cl.closed, WAIT_MS));
    ck_assert(!cl.opened);
    ck_assert_msg(strstr(cl.reason, "TLS handshake failed: certificate verify failed (") ==
                      cl.reason,
                  "client reason: %s", cl.reason);

    client_stop(&cl);
    server_stop(&s);
    ev_free(loop);
}
END_TEST

/* Read whatever the server sends until it closes; true if it did within
 * timeout_ms. */
static bool raw_wait_closed(ev_loop *loop, int fd, int timeout_ms)
{
    char sink[512];

    for (int waited = 0; waited < timeout_ms; waited += 10) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ev_run_once(loop, 0);
        if (poll(&p, 1, 10) == 1) {
            ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                return true;
        }
    }
    return false;
}

START_TEST(tls_garbage_peer_dropped)
{
    static const char junk[] = "GET / HTTP/1.0\r\n\r\n\x16\x03\x01\xff\xff garbage \x00\x01\x02";
    static const char msg[] = "after the junk";
    char err[NET_ERR_LEN] = "";
    ev_loop *loop = new_loop();
    server s;
    client cl;
    int raw;

    server_start(&s, loop, server_tls());
    client_start(&cl, loop, s.port, client_tls("kiosk"), msg, sizeof msg, 0);
    ck_assert(ts_run_until(loop, &cl.done, WAIT_MS));

    raw = net_connect("127.0.0.1", s.port, err);
    ck_assert_msg(raw >= 0, "%s", err);
    struct pollfd p = {.fd = raw, .events = POLLOUT};
    ck_assert_int_eq(poll(&p, 1, WAIT_MS), 1);
    ck_assert_int_eq(send(raw, junk, sizeof junk - 1, MSG_NOSIGNAL), (ssize_t)(sizeof junk - 1));
    ck_assert(ts_run_until(loop, &s.any_closed, WAIT_MS));
    ck_assert_int_eq(s.closed, 1);
    ck_assert_msg(strstr(s.reason, "TLS handshake failed: ") == s.reason, "reason: %s", s.reason);
    ck_assert(raw_wait_closed(loop, raw, WAIT_MS));
    close(raw);

    /* The good connection did not notice. */
    client_send(&cl, msg, sizeof msg);
    ck_assert(ts_run_until(loop, &cl.done, WAIT_MS));
    ck_assert_mem_eq(cl.got, msg, sizeof msg);
    ck_assert(!cl.closed);
    ck_assert_int_eq(s.closed, 1);
    ck_assert_int_eq(s.opened, 1);

    client_stop(&cl);
    server_stop(&s);
    ev_free(loop);
}
END_TEST

/* ---- Volume and limits ------------------------------------------------ */

START_TEST(tls_large_echo)
{
    uint8_t *payload = malloc(BIG);
    ev_loop *loop = new_loop();
    server s;
    client cl;

    ck_assert_ptr_nonnull(payload);
    for (size_t i = 0; i < BIG; i++)
        payload[i] = (uint8_t)(i * 131 + (i >> 9));
    sockbuf = 16 * 1024;
    server_start(&s, loop, server_tls());
    /* Smaller than a TLS record, so most of each record waits inside
     * OpenSSL, where the loop cannot see it; the echo consumes as it goes. */
    s.in_limit = 1000;
    client_start(&cl, loop, s.port, client_tls("kiosk"), payload, BIG, 0);
    ck_assert(ts_run_until(loop, &cl.done, 2 * WAIT_MS));
    ck_assert_uint_eq(cl.got_len, BIG);
    ck_assert(memcmp(cl.got, payload, BIG) == 0);
    ck_assert_int_eq(s.closed, 0);

    client_stop(&cl);
    server_stop(&s);
    ev_free(loop);
    free(payload);
}
END_TEST

/* A graceful close sends everything queued, then closes: the client gets
 * all of it, then a clean EOF. */
START_TEST(tls_close_after_flush)
{
    const size_t n = 1024 * 1024;
    ev_loop *loop = new_loop();
    server s;
    client cl;

    server_start(&s, loop, server_tls());
    s.send_on_open = n;
    client_start(&cl, loop, s.port, client_tls("kiosk"), NULL, 0, 0);
    free(cl.got);
    cl.got = malloc(n);
    ck_assert_ptr_nonnull(cl.got);
    cl.cap = cl.want = n;
    ck_assert(ts_run_until(loop, &cl.closed, WAIT_MS));
    ck_assert_uint_eq(cl.got_len, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(cl.got[i], (uint8_t)(i * 7 + (i >> 12)));
    ck_assert_str_eq(cl.reason, "peer closed the connection");
    ck_assert(ts_run_until(loop, &s.any_closed, WAIT_MS));
    ck_assert_str_eq(s.reason, "server done");

    client_stop(&cl);
    server_stop(&s);
    ev_free(loop);
}
END_TEST

START_TEST(out_limit_overflow)
{
    static uint8_t block[2048];
    ev_loop *loop = new_loop();
    server s;
    client cl;
    net_conn *c;

    server_start(&s, loop, NULL);
    client_start(&cl, loop, s.port, NULL, NULL, 0, 1024);
    ck_assert(ts_run_until(loop, &cl.opened, WAIT_MS));
    c = cl.c;
    ck_assert_int_eq(net_conn_write(c, block, 1000), 0);
    errno = 0;
    ck_assert_int_eq(net_conn_write(c, block, 25), -1);
    ck_assert_int_eq(errno, ENOBUFS);
    ck_assert(cl.closed);
    ck_assert_msg(strstr(cl.reason, "output limit") != NULL, "reason: %s", cl.reason);
    /* Still valid until the end of the turn, and closed for writing. */
    errno = 0;
    ck_assert_int_eq(net_conn_write(c, block, 1), -1);
    ck_assert_int_eq(errno, ENOTCONN);
    ck_assert(ts_run_until(loop, &s.any_closed, WAIT_MS));

    client_stop(&cl);
    server_stop(&s);
    ev_free(loop);
}
END_TEST

START_TEST(in_limit_overflow)
{
    static uint8_t block[4096];
    ev_loop *loop = new_loop();
    server s;
    client cl;

    server_start(&s, loop, server_tls());
    s.echo = false;
    s.in_limit = 1024;
    client_start(&cl, loop, s.port, client_tls("kiosk"), block, 1000, 0);
    ck_assert(ts_run_until(loop, &s.any_opened, WAIT_MS));
    /* 1000 unconsumed bytes fit; 1000 more do not. */
    ck_assert(ts_run_until(loop, &cl.opened, WAIT_MS));
    for (int i = 0; i < 20 && !s.any_closed; i++)
        ev_run_once(loop, 10);
    ck_assert_int_eq(s.closed, 0);
    ck_assert_int_eq(net_conn_write(cl.c, block, 1000), 0);
    ck_assert(ts_run_until(loop, &s.any_closed, WAIT_MS));
    ck_assert_msg(strstr(s.reason, "input limit of 1024 bytes") != NULL, "reason: %s", s.reason);
    ck_assert(ts_run_until(loop, &cl.closed, WAIT_MS));

    client_stop(&cl);
    server_stop(&s);
    ev_free(loop);
}
END_TEST

/* ---- Errors ------------------------------------------------------------ */

START_TEST(connect_refused)
{
    char err[NET_ERR_LEN] = "", want[NET_ERR_LEN];
    ev_loop *loop = new_loop();
    int lfd, port, fd;
    client cl;

    /* A port that was free a moment ago and has no listener now. */
    lfd = net_listen("127.0.0.1", 0, 1, err);
    ck_assert_msg(lfd >= 0, "%s", err);
    port = net_local_port(lfd);
    close(lfd);
    snprintf(want, sizeof want, "connect to 127.0.0.1:%d failed: Connection refused", port);

    fd = net_connect("127.0.0.1", port, err);
    if (fd < 0) { /* refused at once: also fine */
        ck_assert_str_eq(err, want);
    } else {
        memset(&cl, 0, sizeof cl);
        cl.c = net_conn_new(loop, fd, NULL, false, 0, 0, &cli_handlers, &cl);
        ck_assert_ptr_nonnull(cl.c);
        ck_assert(ts_run_until(loop, &cl.closed, WAIT_MS));
        ck_assert(!cl.opened);
        ck_assert_str_eq(cl.reason, want);
    }
    ev_free(loop);
}
END_TEST

START_TEST(cert_load_errors)
{
    char err[NET_ERR_LEN] = "", want[3 * 1024];
    char junk[1024], missing[1024], kiosk_key[1024], halld_crt[1024];

    snprintf(junk, sizeof junk, "%s", P("junk.pem"));
    snprintf(missing, sizeof missing, "%s", P("missing.crt"));
    snprintf(kiosk_key, sizeof kiosk_key, "%s", P("kiosk.key"));
    snprintf(halld_crt, sizeof halld_crt, "%s", P("halld.crt"));
    ts_write_file(junk, "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n"
                        "-----END CERTIFICATE-----\n");

    ck_assert_ptr_null(net_tls_new_server(missing, P("halld.key"), NULL, err));
    snprintf(want, sizeof want, "cannot read certificate %s: No such file or directory", missing);
    ck_assert_str_eq(err, want);

    ck_assert_ptr_null(net_tls_new_server(halld_crt, kiosk_key, NULL, err));
    snprintf(want, sizeof want, "key %s does not match certificate %s", kiosk_key, halld_crt);
    ck_assert_str_eq(err, want);

    ck_assert_ptr_null(net_tls_new_server(junk, P("halld.key"), NULL, err));
    snprintf(want, sizeof want, "certificate %s is not a PEM certificate: ", junk);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "err: %s", err);

    ck_assert_ptr_null(net_tls_new_server(halld_crt, junk, NULL, err));
    snprintf(want, sizeof want, "key %s is not", junk);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "err: %s", err);

    ck_assert_ptr_null(net_tls_new_server(halld_crt, P("halld.key"), junk, err));
    snprintf(want, sizeof want, "CA certificate %s is not a PEM certificate: ", junk);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "err: %s", err);

    ck_assert_ptr_null(net_tls_new_client(NULL, NULL, missing, err));
    snprintf(want, sizeof want, "cannot read CA certificate %s: No such file or directory",
             missing);
    ck_assert_str_eq(err, want);

    ck_assert_ptr_null(net_tls_new_client(NULL, NULL, NULL, err));
    ck_assert_ptr_null(net_tls_new_client(halld_crt, NULL, P("ca.crt"), err));
    ck_assert_ptr_nonnull(strstr(err, "key"));
}
END_TEST

START_TEST(socket_helpers)
{
    char err[NET_ERR_LEN] = "", want[NET_ERR_LEN], peer[64];
    int lfd, port, cfd, afd = -1;

    ck_assert_int_eq(net_listen("127.0.0.1", 70000, 4, err), -1);
    ck_assert_str_eq(err, "port 70000 is out of range 0..65535");

    lfd = net_listen("127.0.0.1", 0, 4, err);
    ck_assert_msg(lfd >= 0, "%s", err);
    port = net_local_port(lfd);
    ck_assert_int_gt(port, 0);
    ck_assert_int_eq(net_listen("127.0.0.1", port, 4, err), -1);
    ck_assert_int_eq(errno, EADDRINUSE);
    snprintf(want, sizeof want, "cannot listen on 127.0.0.1:%d: Address already in use", port);
    ck_assert_str_eq(err, want);

    close(lfd);

    /* The wildcard listener (dual stack where IPv6 exists) shows an IPv4
     * client as a.b.c.d:port; nothing to accept is EAGAIN. */
    lfd = net_listen(NULL, 0, 4, err);
    ck_assert_msg(lfd >= 0, "%s", err);
    port = net_local_port(lfd);
    ck_assert_int_eq(net_accept(lfd, peer, sizeof peer, err), -1);
    ck_assert_int_eq(errno, EAGAIN);
    cfd = net_connect("127.0.0.1", port, err);
    ck_assert_msg(cfd >= 0, "%s", err);
    for (int i = 0; i < 3000 && afd < 0; i++) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        poll(&p, 1, 10);
        afd = net_accept(lfd, peer, sizeof peer, err);
    }
    ck_assert_msg(afd >= 0, "accept: %s", err);
    ck_assert_msg(strncmp(peer, "127.0.0.1:", 10) == 0, "peer %s", peer);
    close(afd);
    close(cfd);
    close(lfd);

    ck_assert_int_eq(net_connect(NULL, port, err), -1);
    ck_assert_int_eq(net_connect("127.0.0.1", -1, err), -1);

    ck_assert(net_is_loopback("localhost"));
    ck_assert(net_is_loopback("LocalHost"));
    ck_assert(net_is_loopback("127.0.0.1"));
    ck_assert(net_is_loopback("127.8.9.10"));
    ck_assert(net_is_loopback("::1"));
    ck_assert(net_is_loopback("::ffff:127.0.0.1"));
    ck_assert(!net_is_loopback("128.0.0.1"));
    ck_assert(!net_is_loopback("10.0.0.1"));
    ck_assert(!net_is_loopback("::2"));
    ck_assert(!net_is_loopback("localhost.example.org"));
    ck_assert(!net_is_loopback(""));
    ck_assert(!net_is_loopback(NULL));
}
END_TEST

/* ---- pki ------------------------------------------------------------- */

static X509 *read_x509(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x;

    ck_assert_msg(f != NULL, "open %s", path);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_msg(x != NULL, "%s is not a certificate", path);
    return x;
}

static char *cn_of(X509 *x, char *out, size_t len)
{
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)len);
    return out;
}

START_TEST(pki_certificates)
{
    char err[PKI_ERR_LEN] = "", cn[64], ca_crt[1024], ca_key[1024];
    X509 *ca, *srv, *cli, *both;
    EVP_PKEY *ca_pub;
    struct stat st;
    int r;

    snprintf(ca_crt, sizeof ca_crt, "%s", P("ca.crt"));
    snprintf(ca_key, sizeof ca_key, "%s", P("ca.key"));
    r = pki_issue(ca_crt, ca_key, "counter-3", "hall-7.example", PKI_SERVER | PKI_CLIENT, 10,
                  P("both.crt"), P("both.key"), err);
    ck_assert_msg(r == 0, "%s", err);

    ck_assert_int_eq(stat(P("ca.key"), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(stat(P("both.key"), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(stat(P("both.crt"), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);

    ca = read_x509(ca_crt);
    srv = read_x509(P("halld.crt"));
    cli = read_x509(P("kiosk.crt"));
    both = read_x509(P("both.crt"));
    ca_pub = X509_get0_pubkey(ca);

    ck_assert_str_eq(cn_of(ca, cn, sizeof cn), "hall-ca");
    ck_assert_str_eq(cn_of(srv, cn, sizeof cn), "halld");
    ck_assert_int_eq(X509_check_ca(ca), 1);
    ck_assert_int_eq(X509_check_ca(srv), 0);
    ck_assert_int_eq(X509_verify(srv, ca_pub), 1);
    ck_assert_int_eq(X509_verify(cli, ca_pub), 1);
    ck_assert_int_eq(X509_get_signature_nid(srv), NID_ecdsa_with_SHA256);
    ck_assert_int_ne(ASN1_INTEGER_cmp(X509_get0_serialNumber(srv), X509_get0_serialNumber(cli)), 0);

    /* Extended key usage per usage. */
    ck_assert_int_eq(X509_check_purpose(srv, X509_PURPOSE_SSL_SERVER, 0), 1);
    ck_assert_int_eq(X509_check_purpose(srv, X509_PURPOSE_SSL_CLIENT, 0), 0);
    ck_assert_int_eq(X509_check_purpose(cli, X509_PURPOSE_SSL_CLIENT, 0), 1);
    ck_assert_int_eq(X509_check_purpose(cli, X509_PURPOSE_SSL_SERVER, 0), 0);
    ck_assert_int_eq(X509_check_purpose(both, X509_PURPOSE_SSL_SERVER, 0), 1);
    ck_assert_int_eq(X509_check_purpose(both, X509_PURPOSE_SSL_CLIENT, 0), 1);

    /* Server names. */
    ck_assert_int_eq(X509_check_host(srv, "localhost", 0, 0, NULL), 1);
    ck_assert_int_eq(X509_check_ip_asc(srv, "127.0.0.1", 0), 1);
    ck_assert_int_eq(X509_check_host(both, "hall-7.example", 0, 0, NULL), 1);
    ck_assert_int_eq(X509_check_host(cli, "localhost", 0, 0, NULL), 0);

    X509_free(ca);
    X509_free(srv);
    X509_free(cli);
    X509_free(both);
}
END_TEST

START_TEST(pki_errors)
{
    char err[PKI_ERR_LEN] = "", want[3 * 1024], missing[1024], ca_crt[1024];

    snprintf(missing, sizeof missing, "%s", P("nope.crt"));
    snprintf(ca_crt, sizeof ca_crt, "%s", P("ca.crt"));
    ck_assert_int_eq(
        pki_issue(missing, P("ca.key"), "x", NULL, PKI_CLIENT, 1, P("x.crt"), P("x.key"), err), -1);
    snprintf(want, sizeof want, "cannot read CA certificate %s: No such file or directory",
             missing);
    ck_assert_str_eq(err, want);

    ck_assert_int_eq(
        pki_issue(ca_crt, P("other.key"), "x", NULL, PKI_CLIENT, 1, P("x.crt"), P("x.key"), err),
        -1);
    ck_assert_msg(strstr(err, "does not match") != NULL, "%s", err);

    /* A leaf cannot issue. */
    ck_assert_int_eq(pki_issue(P("kiosk.crt"), P("kiosk.key"), "x", NULL, PKI_CLIENT, 1, P("x.crt"),
                               P("x.key"), err),
                     -1);
    ck_assert_msg(strstr(err, "is not a CA certificate") != NULL, "%s", err);

    ck_assert_int_eq(pki_issue(ca_crt, P("ca.key"), "x", NULL, 0, 1, P("x.crt"), P("x.key"), err),
                     -1);
    ck_assert_int_eq(
        pki_issue(ca_crt, P("ca.key"), "", NULL, PKI_CLIENT, 1, P("x.crt"), P("x.key"), err), -1);
    ck_assert_int_eq(pki_issue(ca_crt, P("ca.key"), "x", "a.example,DNS:evil", PKI_SERVER, 1,
                               P("x.crt"), P("x.key"), err),
                     -1);
    ck_assert_msg(strstr(err, "not a valid host name") != NULL, "%s", err);
    ck_assert_int_eq(pki_make_ca("ca", 0, P("y.crt"), P("y.key"), err), -1);
    ck_assert_int_eq(pki_make_ca("ca", 1, P("no/such/dir/y.crt"), P("no/such/dir/y.key"), err), -1);
    ck_assert_msg(strstr(err, "no/such/dir/y.key") != NULL, "%s", err);
    ck_assert_int_eq(access(P("x.crt"), F_OK), -1);
}
END_TEST

static Suite *net_suite(void)
{
    Suite *s = suite_create("net");
    TCase *conn = tcase_create("conn");
    TCase *errs = tcase_create("errors");
    TCase *pki = tcase_create("pki");

    tcase_add_checked_fixture(conn, setup, teardown);
    tcase_set_timeout(conn, 120);
    tcase_add_test(conn, plain_echo);
    tcase_add_test(conn, tls_echo_with_client_certs);
    tcase_add_test(conn, tls_records_back_to_back);
    tcase_add_test(conn, tls_context_freed_while_open);
    tcase_add_test(conn, tls_refuses_foreign_ca);
    tcase_add_test(conn, tls_refuses_client_without_cert);
    tcase_add_test(conn, tls_client_refuses_foreign_server);
    tcase_add_test(conn, tls_garbage_peer_dropped);
    tcase_add_test(conn, tls_large_echo);
    tcase_add_test(conn, tls_close_after_flush);
    tcase_add_test(conn, out_limit_overflow);
    tcase_add_test(conn, in_limit_overflow);
    suite_add_tcase(s, conn);

    tcase_add_checked_fixture(errs, setup, teardown);
    tcase_set_timeout(errs, 120);
    tcase_add_test(errs, connect_refused);
    tcase_add_test(errs, cert_load_errors);
    tcase_add_test(errs, socket_helpers);
    suite_add_tcase(s, errs);

    tcase_add_checked_fixture(pki, setup, teardown);
    tcase_set_timeout(pki, 120);
    tcase_add_test(pki, pki_certificates);
    tcase_add_test(pki, pki_errors);
    suite_add_tcase(s, pki);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(net_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
