/*
 * net — sockets and connections for the event loop (Redis's anet and
 * mosquitto's "library in your loop" are the models).
 *
 * Two layers:
 *
 *  1. Socket helpers: non-blocking listen / accept / connect on TCP. They
 *     format a reason into a caller buffer of NET_ERR_LEN (NULL allowed) and
 *     return -1; they never print.
 *
 *  2. net_conn: one connection driven by an ev_loop, with the same interface
 *     whether it runs over plain TCP or TLS 1.3 (OpenSSL 3). The transport
 *     is a small table of operations (plain, tls) chosen when the connection
 *     is made. A net_conn reads into its input buffer and calls on_data; the
 *     owner consumes what it understood and leaves the rest. Writes are
 *     queued and flushed as the socket allows. Connection life:
 *
 *        CONNECTING --tcp up--> HANDSHAKE --tls done (or plain)--> OPEN
 *            \                    \                                 |
 *             \--error-------------\--error / peer refused----------+--> CLOSED
 *
 *     on_open runs when the connection reaches OPEN; on_close runs exactly
 *     once when it reaches CLOSED (whatever the reason, including a close
 *     asked for by the owner), and the conn is then freed at the end of the
 *     loop turn: the owner must drop its pointer in on_close.
 *
 * TLS: a net_tls holds one OpenSSL context (TLS 1.3 only). A server context
 * can require client certificates issued by a given CA; the peer's
 * certificate subject CN is then the peer's identity (net_conn_peer_name).
 * A connection keeps no pointer to its net_tls after it is made, so a
 * daemon may swap and free its net_tls (certificate reload) while
 * connections are open.
 */
#ifndef ONEWINDOW_NET_H
#define ONEWINDOW_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "ev.h"

#define NET_ERR_LEN 256

/* Listen on host:port (host NULL or "" = all addresses; IPv4 or IPv6
 * literal or name). Non-blocking, close-on-exec, SO_REUSEADDR. Port 0 picks
 * a free port; net_local_port() tells which. Returns the fd or -1. */
int net_listen(const char *host, int port, int backlog, char *err);
/* The local port of a bound socket, -1 on error. */
int net_local_port(int fd);
/* Accept one connection: non-blocking, close-on-exec, TCP_NODELAY. The
 * peer address is written as "ip:port" into peer (may be NULL). Returns the
 * fd, or -1 with errno EAGAIN when there is nothing to accept. */
int net_accept(int listen_fd, char *peer, size_t peerlen, char *err);
/* Start a non-blocking connect; completion is seen by net_conn. Returns the
 * fd or -1 (name resolution failures included). */
int net_connect(const char *host, int port, char *err);
/* Split "HOST:PORT" ("[v6]:PORT" too) into host (hostlen bytes) and a port
 * 1..65535. -1 with errno EINVAL if it is not that. */
int net_parse_hostport(const char *arg, char *host, size_t hostlen, int *port);
/* True if host is a loopback name or address (127.0.0.0/8, ::1, localhost). */
bool net_is_loopback(const char *host);

typedef struct net_tls net_tls;

/* Server context: certificate chain and key (PEM). When client_ca is not
 * NULL, clients must present a certificate issued by it. NULL on failure
 * with a reason in err naming the file and what is wrong with it. */
net_tls *net_tls_new_server(const char *cert, const char *key, const char *client_ca, char *err);
/* Client context: verifies the server against ca; presents cert/key when
 * both are given. */
net_tls *net_tls_new_client(const char *cert, const char *key, const char *ca, char *err);
void net_tls_free(net_tls *tls);

typedef struct net_conn net_conn;

typedef struct net_conn_handlers {
    /* The connection is ready for data (after the TLS handshake). */
    void (*on_open)(net_conn *c, void *arg);
    /* New bytes are in in; consume what was understood (buf_consume). */
    void (*on_data)(net_conn *c, buf *in, void *arg);
    /* The connection is closed; reason is a readable sentence ("peer closed
     * the connection", "TLS handshake failed: certificate verify failed").
     * The conn is freed after this turn. */
    void (*on_close)(net_conn *c, const char *reason, void *arg);
} net_conn_handlers;

/* Wrap a connected (or connecting) fd. tls NULL = plain TCP. server says
 * which side of the TLS handshake this is. in_limit and out_limit bound the
 * buffers (0 = unbounded); a peer that overruns in_limit is closed.
 * The conn owns fd from here on, even on failure. NULL with errno. */
net_conn *net_conn_new(ev_loop *loop, int fd, net_tls *tls, bool server, size_t in_limit,
                       size_t out_limit, const net_conn_handlers *h, void *arg);

/* Queue bytes for the peer. -1 with errno ENOBUFS when the output limit
 * would be exceeded (the connection is then closed), or ENOTCONN. */
int net_conn_write(net_conn *c, const void *data, size_t len);
/* The output buffer, to write frames into directly (buf_reserve +
 * buf_commit), followed by net_conn_flush(). */
buf *net_conn_outbuf(net_conn *c);
/* Try to send what is queued now; the rest goes when the socket allows. */
void net_conn_flush(net_conn *c);
/* Close after the queued output is sent (graceful) or at once. Safe inside
 * the conn's own callbacks; on_close runs, and the free is deferred. With
 * after_flush false, on_close has run when this returns. Closing a conn
 * that is already closing at once, or already closed, does nothing more. */
void net_conn_close(net_conn *c, bool after_flush, const char *reason);

/* "ip:port" of the peer. */
const char *net_conn_peer_addr(const net_conn *c);
/* The CN of the peer's verified certificate, NULL for plain TCP or when the
 * peer presented none. */
const char *net_conn_peer_name(const net_conn *c);
bool net_conn_is_tls(const net_conn *c);
/* Negotiated protocol ("TLSv1.3") or "tcp". */
const char *net_conn_protocol(const net_conn *c);
void net_conn_set_arg(net_conn *c, void *arg);

#endif
