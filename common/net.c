/*
 * net — sockets and connections for the event loop. See net.h.
 *
 * Layout: error helpers; socket helpers (listen, accept, connect); TLS
 * contexts and certificate loading; the two transports (plain, tls) as
 * tables of operations; the connection state machine and its event
 * handler; the public net_conn functions.
 *
 * Transports never touch the loop or the buffers: they move bytes and
 * report one of enum io_rc, with a readable reason for errors. The
 * connection code above them decides what to watch and when to close.
 *
 * SIGPIPE: nothing here can raise it. Plain writes use send(MSG_NOSIGNAL),
 * and TLS runs over a small socket BIO of ours whose writes do the same, so
 * a peer that resets the connection mid-write gives EPIPE, not a signal.
 */
#include "net.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ossl.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Bytes asked of the transport per read. One TLS record holds 16 KiB. */
#define NET_READ_CHUNK (16 * 1024)
/* Plain reads per readiness event before other sockets get their turn. */
#define NET_READS_PER_EVENT 16
/* "[ipv6]:port" */
#define NET_ADDR_LEN (INET6_ADDRSTRLEN + 8)

/* ---------------------------------------------------------------------- */
/* Error helpers                                                          */

static void set_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(char *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(err, NET_ERR_LEN, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------------- */
/* Socket helpers                                                         */

/* "ip:port", with an IPv6 address in brackets so the port stays legible.
 * An IPv4 client of the dual-stack wildcard listener arrives as
 * ::ffff:a.b.c.d and is shown as plain a.b.c.d. */
static void format_addr(const struct sockaddr *sa, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN];

    if (outlen == 0)
        return;
    if (sa->sa_family == AF_INET6 &&
        IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)sa)->sin6_addr)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip, sizeof ip);
        snprintf(out, outlen, "%s:%u", ip, (unsigned)ntohs(in6->sin6_port));
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(out, outlen, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(out, outlen, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    } else {
        snprintf(out, outlen, "?");
    }
}

static int resolve(const char *host, int port, bool passive, struct addrinfo **res, char *err)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
    char service[8];
    int rc;

    if (port < 0 || port > 65535) {
        set_err(err, "port %d is out of range 0..65535", port);
        errno = EINVAL;
        return -1;
    }
    snprintf(service, sizeof service, "%d", port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    if ((rc = getaddrinfo(host, service, &hints, res)) != 0) {
        set_err(err, "cannot resolve %s: %s", host != NULL ? host : "*", gai_strerror(rc));
        errno = rc == EAI_SYSTEM ? errno : EADDRNOTAVAIL;
        return -1;
    }
    return 0;
}

static int listen_on(const struct addrinfo *ai, int backlog, char *err)
{
    char addr[NET_ADDR_LEN];
    int fd, on = 1, off = 0, saved;

    format_addr(ai->ai_addr, addr, sizeof addr);
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        set_err(err, "cannot listen on %s: socket: %s", addr, strerror(errno));
        return -1;
    }
    /* The wildcard IPv6 socket also takes IPv4 clients (as ::ffff:a.b.c.d). */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
        (ai->ai_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
        saved = errno;
        set_err(err, "cannot listen on %s: %s", addr, strerror(saved));
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int net_listen(const char *host, int port, int backlog, char *err)
{
    struct addrinfo *res, *ai;
    bool wildcard = host == NULL || *host == '\0';
    int fd = -1;

    if (resolve(wildcard ? NULL : host, port, true, &res, err) < 0)
        return -1;
    /* For the wildcard, prefer the dual-stack IPv6 socket; a host without
     * IPv6 falls through to 0.0.0.0. */
    if (wildcard)
        for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
            if (ai->ai_family == AF_INET6)
                fd = listen_on(ai, backlog, err);
    for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
        if (!wildcard || ai->ai_family != AF_INET6)
            fd = listen_on(ai, backlog, err);
    freeaddrinfo(res);
    return fd;
}

int net_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    errno = EAFNOSUPPORT;
    return -1;
}

static void set_nodelay(int fd)
{
    int on = 1;

    /* Frames are small and latency matters more than packet count; a
     * failure only costs some latency, so it is not an error. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

int net_accept(int listen_fd, char *peer, size_t peerlen, char *err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, saved;

    do {
        len = sizeof ss;
        fd = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        saved = errno == EWOULDBLOCK ? EAGAIN : errno;
        if (saved != EAGAIN)
            set_err(err, "accept: %s", strerror(saved));
        errno = saved;
        return -1;
    }
    set_nodelay(fd);
    if (peer != NULL)
        format_addr((struct sockaddr *)&ss, peer, peerlen);
    return fd;
}

int net_connect(const char *host, int port, char *err)
{
    struct addrinfo *res, *ai;
    char addr[NET_ADDR_LEN];
    int fd = -1, saved = 0;

    if (host == NULL || *host == '\0') {
        set_err(err, "connect: no host given");
        errno = EINVAL;
        return -1;
    }
    if (resolve(host, port, false, &res, err) < 0)
        return -1;
    /* Each address is tried until one starts connecting. Only a failure
     * seen at once moves on to the next; one found later by net_conn is
     * final (the caller retries on its own schedule). */
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        format_addr(ai->ai_addr, addr, sizeof addr);
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            set_err(err, "connect to %s failed: socket: %s", addr, strerror(saved));
            continue;
        }
        set_nodelay(fd);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS)
            break;
        saved = errno;
        set_err(err, "connect to %s failed: %s", addr, strerror(saved));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        errno = saved != 0 ? saved : EADDRNOTAVAIL;
    return fd;
}

int net_parse_hostport(const char *arg, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(arg, ':');
    char *end;

    if (colon == NULL || colon == arg || (size_t)(colon - arg) >= hostlen || colon[1] == '\0')
        goto bad;
    memcpy(host, arg, (size_t)(colon - arg));
    host[colon - arg] = '\0';
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
    errno = 0;
    long v = strtol(colon + 1, &end, 10);
    if (*end != '\0' || errno != 0 || v < 1 || v > 65535)
        goto bad;
    *port = (int)v;
    return 0;
bad:
    errno = EINVAL;
    return -1;
}

bool net_is_loopback(const char *host)
{
    struct in6_addr a6;
    struct in_addr a4;

    if (host == NULL)
        return false;
    if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
    }
    return false;
}

/* ---------------------------------------------------------------------- */
/* TLS contexts                                                           */

struct net_tls {
    SSL_CTX *ctx;
};

/* Open a PEM file for reading as a BIO; what ("certificate", "key", "CA
 * certificate") names the file in the error. */
static BIO *open_pem(const char *path, const char *what, char *err)
{
    FILE *f = fopen(path, "re");
    BIO *b;

    if (f == NULL) {
        set_err(err, "cannot read %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    if ((b = BIO_new_fp(f, BIO_CLOSE)) == NULL) {
        fclose(f);
        set_err(err, "cannot read %s %s: out of memory", what, path);
        ERR_clear_error();
    }
    return b;
}

/* True if the last PEM read stopped only because the file had no more
 * PEM blocks (the normal end of a certificate list). */
static bool pem_at_end(void)
{
    unsigned long e = ERR_peek_last_error();

    if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
        return true;
    }
    return false;
}

/* Certificate (first PEM block) and its chain (the rest) from cert; the
 * private key from key, which must belong to the certificate. */
static int load_identity(SSL_CTX *ctx, const char *cert, const char *key, char *err)
{
    char why[128];
    X509 *x = NULL, *extra;
    EVP_PKEY *pkey = NULL;
    BIO *b;
    int rc = -1;

    if ((b = open_pem(cert, "certificate", err)) == NULL)
        return -1;
    if ((x = PEM_read_bio_X509_AUX(b, NULL, ossl_no_password, NULL)) == NULL) {
        set_err(err, "certificate %s is not a PEM certificate: %s", cert,
                ossl_reason(why, sizeof why));
        goto out;
    }
    if (!SSL_CTX_use_certificate(ctx, x)) {
        set_err(err, "certificate %s cannot be used: %s", cert, ossl_reason(why, sizeof why));
        goto out;
    }
    while ((extra = PEM_read_bio_X509(b, NULL, ossl_no_password, NULL)) != NULL) {
        if (!SSL_CTX_add0_chain_cert(ctx, extra)) {
            X509_free(extra);
            set_err(err, "certificate %s: cannot add chain certificate: %s", cert,
                    ossl_reason(why, sizeof why));
            goto out;
        }
    }
    if (!pem_at_end()) {
        set_err(err, "certificate %s has a damaged chain certificate: %s", cert,
                ossl_reason(why, sizeof why));
        goto out;
    }
    BIO_free(b);
    if ((b = open_pem(key, "key", err)) == NULL)
        goto out;
    if ((pkey = PEM_read_bio_PrivateKey(b, NULL, ossl_no_password, NULL)) == NULL) {
        set_err(err, "key %s is not an unencrypted PEM private key: %s", key,
                ossl_reason(why, sizeof why));
        goto out;
    }
    if (!X509_check_private_key(x, pkey)) {
        ERR_clear_error();
        set_err(err, "key %s does not match certificate %s", key, cert);
        goto out;
    }
    if (!SSL_CTX_use_PrivateKey(ctx, pkey)) {
        set_err(err, "key %s cannot be used: %s", key, ossl_reason(why, sizeof why));
        goto out;
    }
    rc = 0;
out:
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(pkey);
    return rc;
}

/* Trust the certificates in ca for verifying the peer. A server also names
 * them in its certificate request (as_client_ca), so a client holding
 * several certificates can pick the right one. */
static int load_ca(SSL_CTX *ctx, const char *ca, bool as_client_ca, char *err)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    char why[128];
    X509 *x;
    BIO *b;
    int n = 0, rc = -1;

    if ((b = open_pem(ca, "CA certificate", err)) == NULL)
        return -1;
    while ((x = PEM_read_bio_X509(b, NULL, ossl_no_password, NULL)) != NULL) {
        int ok = X509_STORE_add_cert(store, x) && (!as_client_ca || SSL_CTX_add_client_CA(ctx, x));
        X509_free(x);
        if (!ok) {
            set_err(err, "CA certificate %s cannot be used: %s", ca, ossl_reason(why, sizeof why));
            goto out;
        }
        n++;
    }
    if (n == 0 || !pem_at_end()) {
        set_err(err, "CA certificate %s is not a PEM certificate: %s", ca,
                ossl_reason(why, sizeof why));
        goto out;
    }
    rc = 0;
out:
    BIO_free(b);
    return rc;
}

static SSL_CTX *new_ctx(char *err)
{
    char why[128];
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());

    if (ctx == NULL) {
        set_err(err, "cannot create TLS context: %s", ossl_reason(why, sizeof why));
        return NULL;
    }
    /* TLS 1.3 only: both ends are ours, so there is nothing older to talk
     * to. Partial and moving writes because the output buffer may grow
     * (and move) while a write waits for the socket. Released buffers:
     * OpenSSL frees a link's 34 KiB of record buffers while it is idle,
     * which is most of the time for most of a hall's devices. */
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)) {
        set_err(err, "cannot require TLS 1.3: %s", ossl_reason(why, sizeof why));
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

static net_tls *wrap_ctx(SSL_CTX *ctx, char *err)
{
    net_tls *tls = malloc(sizeof *tls);

    if (tls == NULL) {
        set_err(err, "cannot create TLS context: out of memory");
        SSL_CTX_free(ctx);
        errno = ENOMEM;
        return NULL;
    }
    tls->ctx = ctx;
    return tls;
}

net_tls *net_tls_new_server(const char *cert, const char *key, const char *client_ca, char *err)
{
    SSL_CTX *ctx;

    if (cert == NULL || key == NULL) {
        set_err(err, "a TLS server needs a certificate and a key");
        errno = EINVAL;
        return NULL;
    }
    ERR_clear_error();
    if ((ctx = new_ctx(err)) == NULL)
        return NULL;
    if (load_identity(ctx, cert, key, err) < 0 ||
        (client_ca != NULL && load_ca(ctx, client_ca, true, err) < 0)) {
        SSL_CTX_free(ctx);
        errno = EINVAL;
        return NULL;
    }
    if (client_ca != NULL)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    /* Clients reconnect rarely and keep no sessions: no resumption tickets,
     * which also keeps the server silent after the handshake. */
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return wrap_ctx(ctx, err);
}

net_tls *net_tls_new_client(const char *cert, const char *key, const char *ca, char *err)
{
    SSL_CTX *ctx;

    if (ca == NULL) {
        set_err(err, "a TLS client needs a CA certificate to verify the server");
        errno = EINVAL;
        return NULL;
    }
    if ((cert == NULL) != (key == NULL)) {
        set_err(err, "a client certificate needs its key and a key its certificate");
        errno = EINVAL;
        return NULL;
    }
    ERR_clear_error();
    if ((ctx = new_ctx(err)) == NULL)
        return NULL;
    if ((cert != NULL && load_identity(ctx, cert, key, err) < 0) ||
        load_ca(ctx, ca, false, err) < 0) {
        SSL_CTX_free(ctx);
        errno = EINVAL;
        return NULL;
    }
    /* Chain verification only, no host name check: the hall's CA issues
     * every certificate with CN = device id, and the hall's CA is the only
     * one trusted here, so a valid chain already names a hall device. The
     * controller is reached by address, often one no certificate lists. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return wrap_ctx(ctx, err);
}

void net_tls_free(net_tls *tls)
{
    if (tls == NULL)
        return;
    SSL_CTX_free(tls->ctx);
    free(tls);
}

/* ---------------------------------------------------------------------- */
/* Connections: state and transports                                      */

/*
 * Connection states: net.h's diagram plus DRAINING, the graceful close.
 * The function that makes each step is in brackets.
 *
 *   CONNECTING --SO_ERROR 0--> HANDSHAKE --done--> OPEN --close(after_flush),--> DRAINING
 *      |   [conn_connected]       |  [conn_handshake] |    output queued           |
 *      |                          |                   |    [net_conn_close]        | all sent
 *      |                          |                   |                            | [conn_flush]
 *      +--------------------------+-------------------+----------------------------+--> CLOSED
 *           error, EOF, a limit, net_conn_close [conn_finish]; on_close runs here
 *
 * Every fd starts in CONNECTING, accepted ones too: writability plus
 * SO_ERROR says the TCP connection is up either way. A graceful close asked
 * for before OPEN closes at once, since nothing can be sent yet.
 * conn_set_state() checks each step, conn_assert_state() what each state
 * implies.
 */
enum conn_state { CONN_CONNECTING, CONN_HANDSHAKE, CONN_OPEN, CONN_DRAINING, CONN_CLOSED };

/* What a transport operation did. */
enum io_rc {
    IO_DONE,       /* progress: bytes moved, or the handshake completed */
    IO_WANT_READ,  /* try again when the socket is readable */
    IO_WANT_WRITE, /* try again when the socket is writable */
    IO_EOF,        /* the peer closed cleanly */
    IO_ERROR,      /* fatal; the reason is in c->why */
};

typedef struct conn_ops {
    const char *name;
    enum io_rc (*handshake)(net_conn *c);
    enum io_rc (*read)(net_conn *c, void *p, size_t len, size_t *done);
    enum io_rc (*write)(net_conn *c, const void *p, size_t len, size_t *done);
    /* True if bytes already read from the socket wait inside the
     * transport, where the loop cannot see them. */
    bool (*pending)(const net_conn *c);
    /* Best effort: tell the peer we are closing (TLS close_notify). */
    void (*shutdown)(net_conn *c);
} conn_ops;

struct net_conn {
    const conn_ops *ops;          /* plain_ops or tls_ops, fixed at creation */
    ev_loop *loop;                /* the loop that watches fd */
    int fd;                       /* the socket, -1 once CLOSED */
    enum conn_state state;        /* see the diagram above */
    int mask;                     /* events fd is watched for now */
    int hs_want;                  /* EV_READ or EV_WRITE the handshake waits for */
    bool read_wants_write;        /* TLS read must be retried on writable */
    bool write_wants_read;        /* TLS write must be retried on readable */
    bool tls_failed;              /* fatal TLS error: no close_notify */
    SSL *ssl;                     /* TLS session, NULL for plain */
    buf in;                       /* received, not yet consumed by the owner */
    buf out;                      /* queued for the peer */
    net_conn_handlers h;          /* owner's callbacks */
    void *arg;                    /* their argument */
    char *peer_name;              /* CN of the verified peer certificate */
    char peer_addr[NET_ADDR_LEN]; /* "ip:port" */
    char why[NET_ERR_LEN];        /* reason of the last transport error */
    char drain_why[NET_ERR_LEN];  /* reason given for a graceful close */
};

static void conn_finish(net_conn *c, const char *reason);

#ifndef NDEBUG
static bool state_step_ok(enum conn_state from, enum conn_state to)
{
    switch (from) {
    case CONN_CONNECTING:
        return to == CONN_HANDSHAKE || to == CONN_CLOSED;
    case CONN_HANDSHAKE:
        return to == CONN_OPEN || to == CONN_CLOSED;
    case CONN_OPEN:
        return to == CONN_DRAINING || to == CONN_CLOSED;
    case CONN_DRAINING:
        return to == CONN_CLOSED;
    case CONN_CLOSED:
        return false;
    }
    return false;
}

/* Only CLOSED has no socket, watches nothing and queues nothing; a
 * handshake in progress always waits for one direction; the mask we
 * remember is the one the loop has. */
static void conn_assert_state(const net_conn *c)
{
    assert((c->state == CONN_CLOSED) == (c->fd < 0));
    assert(c->state != CONN_CLOSED || (c->mask == 0 && buf_rlen(&c->out) == 0));
    assert(c->state != CONN_HANDSHAKE || c->hs_want == EV_READ || c->hs_want == EV_WRITE);
    assert(c->state == CONN_CLOSED || c->mask == 0 || c->mask == ev_fd_mask(c->loop, c->fd));
}
#else
#define conn_assert_state(c) ((void)0)
#endif

static void conn_set_state(net_conn *c, enum conn_state to)
{
    assert(state_step_ok(c->state, to));
    c->state = to;
    conn_assert_state(c);
}

/* --- plain TCP ---------------------------------------------------------- */

static enum io_rc plain_handshake(net_conn *c)
{
    (void)c;
    return IO_DONE;
}

static enum io_rc plain_read(net_conn *c, void *p, size_t len, size_t *done)
{
    ssize_t n;

    do
        n = recv(c->fd, p, len, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        *done = (size_t)n;
        return IO_DONE;
    }
    if (n == 0)
        return IO_EOF;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return IO_WANT_READ;
    snprintf(c->why, sizeof c->why, "read failed: %s", strerror(errno));
    return IO_ERROR;
}

static enum io_rc plain_write(net_conn *c, const void *p, size_t len, size_t *done)
{
    ssize_t n;

    do
        n = send(c->fd, p, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n >= 0) {
        *done = (size_t)n;
        return IO_DONE;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return IO_WANT_WRITE;
    snprintf(c->why, sizeof c->why, "write failed: %s", strerror(errno));
    return IO_ERROR;
}

static bool plain_pending(const net_conn *c)
{
    (void)c;
    return false;
}

static void plain_shutdown(net_conn *c)
{
    (void)c;
}

static const conn_ops plain_ops = {
    .name = "tcp",
    .handshake = plain_handshake,
    .read = plain_read,
    .write = plain_write,
    .pending = plain_pending,
    .shutdown = plain_shutdown,
};

/* --- TLS ---------------------------------------------------------------- */

/* The socket BIO under every SSL: recv() and send(MSG_NOSIGNAL) on the
 * conn's fd, so TLS writes cannot raise SIGPIPE. Its data is the net_conn. */
static int sock_bio_write(BIO *b, const char *data, int len)
{
    const net_conn *c = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    do
        n = send(c->fd, data, (size_t)len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_write(b);
    return n < 0 ? -1 : (int)n;
}

static int sock_bio_read(BIO *b, char *data, int len)
{
    const net_conn *c = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    do
        n = recv(c->fd, data, (size_t)len, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_read(b);
    return n < 0 ? -1 : (int)n;
}

static long sock_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b, (void)num, (void)ptr;
    /* Writes go straight to the socket, so a flush has nothing to do; every
     * other control (kTLS, pending counts, ...) is "not supported". */
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static BIO_METHOD *sock_bio_method;
static pthread_once_t sock_bio_once = PTHREAD_ONCE_INIT;

/* Made once per process and never freed: every BIO made from it points
 * at it, and connections may outlive any net_tls. */
static void sock_bio_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "onewindow socket");

    if (m == NULL)
        return;
    if (!BIO_meth_set_write(m, sock_bio_write) || !BIO_meth_set_read(m, sock_bio_read) ||
        !BIO_meth_set_ctrl(m, sock_bio_ctrl)) {
        BIO_meth_free(m);
        return;
    }
    sock_bio_method = m;
}

/* A readable reason for a failed SSL call into c->why: "TLS handshake
 * failed: certificate verify failed (unable to get local issuer
 * certificate)". Returns IO_EOF instead when the "failure" is the peer
 * closing the TCP connection without close_notify (our frames carry their
 * own lengths, so a truncated stream is detected above). */
static enum io_rc tls_fail(net_conn *c, const char *what, int ssl_err, int sys_errno)
{
    unsigned long e = ERR_peek_error();
    char tmp[128];
    const char *reason;

    c->tls_failed = true;
    if (ssl_err == SSL_ERROR_SYSCALL && e == 0) {
        if (sys_errno == 0) {
            ERR_clear_error();
            return IO_EOF;
        }
        snprintf(c->why, sizeof c->why, "%s: %s", what, strerror(sys_errno));
        ERR_clear_error();
        return IO_ERROR;
    }
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING &&
        c->state != CONN_HANDSHAKE) {
        ERR_clear_error();
        return IO_EOF;
    }
    reason = ossl_reason(tmp, sizeof tmp);
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        long v = SSL_get_verify_result(c->ssl);
        snprintf(c->why, sizeof c->why, "%s: %s (%s)", what, reason,
                 X509_verify_cert_error_string(v));
    } else {
        snprintf(c->why, sizeof c->why, "%s: %s", what, reason);
    }
    return IO_ERROR;
}

/* Map the result of an SSL I/O call that made no progress. */
static enum io_rc tls_result(net_conn *c, int r, const char *what)
{
    int saved = errno;
    int ssl_err = SSL_get_error(c->ssl, r);

    switch (ssl_err) {
    case SSL_ERROR_WANT_READ:
        return IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return IO_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return IO_EOF;
    default:
        return tls_fail(c, what, ssl_err, saved);
    }
}

/* Keep the CN of the peer's certificate, if it was verified. Only running
 * out of memory is an error: a peer without a usable CN is anonymous. */
static int tls_peer_name(net_conn *c)
{
    X509 *x = SSL_get0_peer_certificate(c->ssl);
    X509_NAME *name;
    unsigned char *utf8 = NULL;
    int i, len, rc = 0;

    if (x == NULL || SSL_get_verify_result(c->ssl) != X509_V_OK)
        return 0;
    name = X509_get_subject_name(x);
    if ((i = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) < 0)
        return 0;
    len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    /* A CN with an embedded NUL would read as a different, shorter name. */
    if (len > 0 && memchr(utf8, '\0', (size_t)len) == NULL &&
        (c->peer_name = strndup((const char *)utf8, (size_t)len)) == NULL)
        rc = -1;
    OPENSSL_free(utf8);
    ERR_clear_error();
    return rc;
}

static enum io_rc tls_handshake(net_conn *c)
{
    int r;

    ERR_clear_error();
    errno = 0;
    if ((r = SSL_do_handshake(c->ssl)) == 1) {
        if (tls_peer_name(c) == 0)
            return IO_DONE;
        c->tls_failed = true;
        snprintf(c->why, sizeof c->why, "TLS handshake failed: out of memory");
        return IO_ERROR;
    }
    return tls_result(c, r, "TLS handshake failed");
}

static enum io_rc tls_read(net_conn *c, void *p, size_t len, size_t *done)
{
    int r;

    ERR_clear_error();
    errno = 0;
    if ((r = SSL_read_ex(c->ssl, p, len, done)) == 1)
        return IO_DONE;
    return tls_result(c, r, "TLS read failed");
}

static enum io_rc tls_write(net_conn *c, const void *p, size_t len, size_t *done)
{
    int r;

    ERR_clear_error();
    errno = 0;
    if ((r = SSL_write_ex(c->ssl, p, len, done)) == 1)
        return IO_DONE;
    return tls_result(c, r, "TLS write failed");
}

static bool tls_pending(const net_conn *c)
{
    return SSL_has_pending(c->ssl) == 1;
}

static void tls_shutdown(net_conn *c)
{
    /* One try, no waiting: the socket closes right after, and a peer that
     * misses the close_notify sees a plain EOF, which it treats the same. */
    if (!c->tls_failed && SSL_is_init_finished(c->ssl)) {
        ERR_clear_error();
        SSL_shutdown(c->ssl);
        ERR_clear_error();
    }
}

static const conn_ops tls_ops = {
    .name = "tls",
    .handshake = tls_handshake,
    .read = tls_read,
    .write = tls_write,
    .pending = tls_pending,
    .shutdown = tls_shutdown,
};

static int tls_attach(net_conn *c, net_tls *tls, bool server)
{
    BIO *bio;

    if (pthread_once(&sock_bio_once, sock_bio_init) != 0 || sock_bio_method == NULL) {
        errno = ENOMEM;
        return -1;
    }
    if ((c->ssl = SSL_new(tls->ctx)) == NULL) {
        ERR_clear_error();
        errno = ENOMEM;
        return -1;
    }
    if ((bio = BIO_new(sock_bio_method)) == NULL) {
        ERR_clear_error();
        errno = ENOMEM;
        return -1;
    }
    BIO_set_data(bio, c);
    BIO_set_init(bio, 1);
    SSL_set_bio(c->ssl, bio, bio);
    if (server)
        SSL_set_accept_state(c->ssl);
    else
        SSL_set_connect_state(c->ssl);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Connections: the event handler                                         */

static void conn_on_event(ev_loop *loop, int fd, int events, void *arg);

static void conn_free(void *obj)
{
    net_conn *c = obj;

    SSL_free(c->ssl);
    buf_release(&c->in);
    buf_release(&c->out);
    free(c->peer_name);
    free(c);
}

/* Watch the events the state calls for: readiness for the pending step of
 * the handshake, then always input, and output while some is queued (or
 * while TLS needs to write to finish a read). */
static void conn_update_events(net_conn *c)
{
    int mask = 0;

    switch (c->state) {
    case CONN_CONNECTING:
        mask = EV_WRITE;
        break;
    case CONN_HANDSHAKE:
        mask = c->hs_want;
        break;
    case CONN_OPEN:
    case CONN_DRAINING:
        mask = EV_READ;
        if ((buf_rlen(&c->out) > 0 && !c->write_wants_read) || c->read_wants_write)
            mask |= EV_WRITE;
        break;
    case CONN_CLOSED:
        return;
    }
    if (mask == c->mask)
        return;
    if (ev_fd_set(c->loop, c->fd, mask, conn_on_event, c) < 0) {
        char why[NET_ERR_LEN];
        snprintf(why, sizeof why, "cannot watch the socket: %s", strerror(errno));
        conn_finish(c, why);
        return;
    }
    c->mask = mask;
}

/* Reach CLOSED: close the socket, run on_close once, and hand the conn to
 * the loop to free at the end of the turn. If the loop cannot take it
 * (ENOMEM), the conn is leaked rather than freed under a caller that may
 * still be using it in this turn. */
static void conn_finish(net_conn *c, const char *reason)
{
    char copy[NET_ERR_LEN];

    if (c->state == CONN_CLOSED)
        return;
    /* A copy, so on_close may free whatever the reason points into (an
     * owner's object that passed its own message to net_conn_close). */
    snprintf(copy, sizeof copy, "%s", reason != NULL ? reason : "connection closed");
    if (c->state == CONN_OPEN || c->state == CONN_DRAINING)
        c->ops->shutdown(c);
    ev_fd_del(c->loop, c->fd);
    close(c->fd);
    c->fd = -1;
    c->mask = 0;
    buf_clear(&c->out);
    conn_set_state(c, CONN_CLOSED);
    ev_defer_free(c->loop, conn_free, c);
    if (c->h.on_close != NULL)
        c->h.on_close(c, copy, c->arg);
}

static void conn_close_io(net_conn *c, enum io_rc rc)
{
    conn_finish(c, rc == IO_EOF ? "peer closed the connection" : c->why);
}

/* Send queued output until it is gone or the socket is full. */
static void conn_flush(net_conn *c)
{
    enum io_rc rc = IO_DONE;
    size_t n;

    assert(c->state == CONN_OPEN || c->state == CONN_DRAINING);
    c->write_wants_read = false;
    while (buf_rlen(&c->out) > 0) {
        n = 0;
        rc = c->ops->write(c, buf_rdata(&c->out), buf_rlen(&c->out), &n);
        if (rc != IO_DONE)
            break;
        buf_consume(&c->out, n);
    }
    if (rc == IO_WANT_READ)
        c->write_wants_read = true;
    else if (rc == IO_EOF || rc == IO_ERROR) {
        conn_close_io(c, rc);
        return;
    }
    if (c->state == CONN_DRAINING && buf_rlen(&c->out) == 0) {
        conn_finish(c, c->drain_why);
        return;
    }
    buf_trim(&c->out);
}

/* Read what the socket (and the transport) holds, handing each piece to
 * on_data before reading more, so an owner that consumes as it goes never
 * trips in_limit on a long burst. With the input buffer full, one byte is
 * read aside: data means the peer overran in_limit, while nothing, EOF or
 * an error are handled as usual. */
static void conn_read(net_conn *c)
{
    char why[NET_ERR_LEN];
    uint8_t probe, *p;
    size_t room, n;
    enum io_rc rc;
    int reads = 0;

    assert(c->state == CONN_OPEN || c->state == CONN_DRAINING);
    c->read_wants_write = false;
    for (;;) {
        room = NET_READ_CHUNK;
        if (c->in.limit != 0 && c->in.limit - buf_rlen(&c->in) < room)
            room = c->in.limit - buf_rlen(&c->in);
        if (room == 0) {
            p = &probe;
            room = 1;
        } else if ((p = buf_reserve(&c->in, room)) == NULL) {
            snprintf(why, sizeof why, "cannot buffer input: %s", strerror(errno));
            conn_finish(c, why);
            return;
        }
        n = 0;
        rc = c->ops->read(c, p, room, &n);
        if (rc == IO_WANT_READ) {
            buf_trim(&c->in); /* idle until the next burst */
            return;
        }
        if (rc == IO_WANT_WRITE) {
            c->read_wants_write = true;
            return;
        }
        if (rc != IO_DONE) {
            conn_close_io(c, rc);
            return;
        }
        if (p == &probe) {
            snprintf(why, sizeof why, "peer sent more than the input limit of %zu bytes",
                     c->in.limit);
            conn_finish(c, why);
            return;
        }
        buf_commit(&c->in, n);
        if (c->state == CONN_DRAINING)
            buf_clear(&c->in); /* the owner is done with this conn */
        else if (c->h.on_data != NULL)
            c->h.on_data(c, &c->in, c->arg);
        if (c->state == CONN_CLOSED)
            return;
        /* Stop when the socket is likely empty (a short read) or after a
         * fair share, unless TLS holds bytes the loop would not report. */
        if (!c->ops->pending(c) && (n < room || ++reads >= NET_READS_PER_EVENT))
            return;
    }
}

static void conn_handshake(net_conn *c)
{
    enum io_rc rc = c->ops->handshake(c);

    switch (rc) {
    case IO_DONE:
        conn_set_state(c, CONN_OPEN);
        if (c->h.on_open != NULL)
            c->h.on_open(c, c->arg);
        if (c->state != CONN_OPEN)
            return;
        if (c->ops->pending(c))
            conn_read(c);
        if (c->state == CONN_OPEN && buf_rlen(&c->out) > 0)
            conn_flush(c);
        return;
    case IO_WANT_READ:
        c->hs_want = EV_READ;
        return;
    case IO_WANT_WRITE:
        c->hs_want = EV_WRITE;
        return;
    case IO_EOF:
        conn_finish(c, "peer closed the connection during the TLS handshake");
        return;
    case IO_ERROR:
        conn_close_io(c, rc);
        return;
    }
}

/* Writable in CONNECTING: SO_ERROR says whether the connect worked. */
static void conn_connected(net_conn *c)
{
    char why[NET_ERR_LEN];
    socklen_t len = sizeof(int);
    int soerr = 0;

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    if (soerr != 0) {
        snprintf(why, sizeof why, "connect to %s failed: %s", c->peer_addr, strerror(soerr));
        conn_finish(c, why);
        return;
    }
    c->hs_want = EV_WRITE;
    conn_set_state(c, CONN_HANDSHAKE);
    conn_handshake(c);
}

static void conn_on_event(ev_loop *loop, int fd, int events, void *arg)
{
    net_conn *c = arg;

    (void)loop;
    assert(fd == c->fd);
    conn_assert_state(c);
    switch (c->state) {
    case CONN_CONNECTING:
        conn_connected(c);
        break;
    case CONN_HANDSHAKE:
        conn_handshake(c);
        break;
    case CONN_OPEN:
    case CONN_DRAINING:
        if ((events & EV_READ) || (c->read_wants_write && (events & EV_WRITE)))
            conn_read(c);
        if (c->state != CONN_CLOSED &&
            ((events & EV_WRITE) || (c->write_wants_read && (events & EV_READ))))
            conn_flush(c);
        break;
    case CONN_CLOSED:
        return;
    }
    conn_update_events(c);
}

/* ---------------------------------------------------------------------- */
/* Connections: public functions                                          */

/* The peer's address even while the connect is in progress: Linux answers
 * SO_PEERNAME for a socket in SYN_SENT (or one whose connect has already
 * failed), where getpeername() says ENOTCONN. It wants the exact size of
 * the address, so the family comes first. */
static void conn_peer_addr(net_conn *c)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int family = 0;

    snprintf(c->peer_addr, sizeof c->peer_addr, "?");
    if (getpeername(c->fd, (struct sockaddr *)&ss, &len) == 0) {
        format_addr((struct sockaddr *)&ss, c->peer_addr, sizeof c->peer_addr);
        return;
    }
    len = sizeof family;
    if (getsockopt(c->fd, SOL_SOCKET, SO_DOMAIN, &family, &len) < 0)
        return;
    if (family == AF_INET)
        len = sizeof(struct sockaddr_in);
    else if (family == AF_INET6)
        len = sizeof(struct sockaddr_in6);
    else
        return;
    if (getsockopt(c->fd, SOL_SOCKET, SO_PEERNAME, &ss, &len) == 0)
        format_addr((struct sockaddr *)&ss, c->peer_addr, sizeof c->peer_addr);
}

net_conn *net_conn_new(ev_loop *loop, int fd, net_tls *tls, bool server, size_t in_limit,
                       size_t out_limit, const net_conn_handlers *h, void *arg)
{
    net_conn *c;
    int saved;

    if (loop == NULL || fd < 0 || h == NULL) {
        if (fd >= 0)
            close(fd);
        errno = EINVAL;
        return NULL;
    }
    if ((c = calloc(1, sizeof *c)) == NULL) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    c->ops = tls != NULL ? &tls_ops : &plain_ops;
    c->loop = loop;
    c->fd = fd;
    c->state = CONN_CONNECTING;
    c->h = *h;
    c->arg = arg;
    buf_init(&c->in, in_limit);
    buf_init(&c->out, out_limit);
    conn_peer_addr(c);
    if ((tls != NULL && tls_attach(c, tls, server) < 0) ||
        ev_fd_set(loop, fd, EV_WRITE, conn_on_event, c) < 0) {
        saved = errno;
        close(fd);
        conn_free(c);
        errno = saved;
        return NULL;
    }
    c->mask = EV_WRITE;
    return c;
}

int net_conn_write(net_conn *c, const void *data, size_t len)
{
    char why[NET_ERR_LEN];
    int saved;

    if (c->state == CONN_DRAINING || c->state == CONN_CLOSED) {
        errno = ENOTCONN;
        return -1;
    }
    if (buf_append(&c->out, data, len) < 0) {
        saved = errno;
        if (saved == ENOBUFS)
            snprintf(why, sizeof why, "output limit of %zu bytes exceeded", c->out.limit);
        else
            snprintf(why, sizeof why, "cannot queue output: %s", strerror(saved));
        conn_finish(c, why);
        errno = saved;
        return -1;
    }
    conn_update_events(c);
    if (c->state == CONN_CLOSED) { /* could not watch for writability */
        errno = ENOTCONN;
        return -1;
    }
    return 0;
}

buf *net_conn_outbuf(net_conn *c)
{
    return &c->out;
}

void net_conn_flush(net_conn *c)
{
    if (c->state != CONN_OPEN && c->state != CONN_DRAINING)
        return;
    conn_flush(c);
    if (c->state != CONN_CLOSED)
        conn_update_events(c);
}

void net_conn_close(net_conn *c, bool after_flush, const char *reason)
{
    if (c->state == CONN_CLOSED)
        return;
    if (after_flush && c->state == CONN_OPEN && buf_rlen(&c->out) > 0) {
        snprintf(c->drain_why, sizeof c->drain_why, "%s",
                 reason != NULL ? reason : "connection closed");
        conn_set_state(c, CONN_DRAINING);
        conn_update_events(c);
        return;
    }
    if (after_flush && c->state == CONN_DRAINING)
        return;
    conn_finish(c, reason);
}

const char *net_conn_peer_addr(const net_conn *c)
{
    return c->peer_addr;
}

const char *net_conn_peer_name(const net_conn *c)
{
    return c->peer_name;
}

bool net_conn_is_tls(const net_conn *c)
{
    return c->ssl != NULL;
}

const char *net_conn_protocol(const net_conn *c)
{
    if (c->ssl == NULL)
        return c->ops->name;
    return SSL_get_version(c->ssl);
}

void net_conn_set_arg(net_conn *c, void *arg)
{
    c->arg = arg;
}
