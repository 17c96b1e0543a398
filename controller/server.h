/*
 * server — halld's device server: accepts device links (TLS, or plain TCP
 * on loopback in development), runs one session per connection, decodes
 * frames and dispatches each request to its handler through one table.
 *
 * This release answers HELLO and HEARTBEAT; the queue requests are
 * answered with ERR_UNKNOWN_MESSAGE until the queue engine handles them.
 */
#ifndef ONEWINDOW_SERVER_H
#define ONEWINDOW_SERVER_H

#include <stddef.h>

#include "ev.h"
#include "halld_conf.h"
#include "net.h"

typedef struct server server;

/* Listen on the configured address and port. tls NULL means plain TCP
 * (the caller has checked the development rules); the server takes
 * ownership of tls. NULL with a reason in err. */
server *server_new(ev_loop *loop, const struct halld_conf *conf, net_tls *tls, char *err,
                   size_t errlen);
/* Close every session (each is told nothing: the devices reconnect) and
 * the listener. */
void server_free(server *srv);

/* Apply reloadable settings (timeouts, limits, names) from conf, and swap
 * in tls when it is not NULL (taking ownership; sessions already open keep
 * their TLS state). */
void server_reload(server *srv, const struct halld_conf *conf, net_tls *tls);

int server_port(const server *srv);
size_t server_sessions(const server *srv);

#endif
