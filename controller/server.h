/*
 * server — halld's device server: accepts device links (TLS, or plain TCP
 * on loopback in development), runs one session per connection, decodes
 * frames, admits devices at HELLO and hands every later request to the
 * hall (hall.h).
 *
 * Group commit: answers are held per session during the loop turn; the
 * before-sleep hook commits the turn once (one fsync for every request
 * read in it, run on the syncer thread while the loop goes on: syncer.h),
 * and only once that fsync has returned sends the held answers and the
 * turn's display push. If the commit fails, the sessions whose answers
 * were held are dropped instead: their devices retry with the same
 * request ids; if the fsync fails, halld stops without answering them.
 */
#ifndef ONEWINDOW_SERVER_H
#define ONEWINDOW_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "ev.h"
#include "hall.h"
#include "halld_conf.h"
#include "net.h"

typedef struct server server;

/* Listen on the configured address and port and serve hall (borrowed).
 * tls NULL means plain TCP (the caller has checked the development rules);
 * the server takes ownership of tls. Installs the loop's before-sleep hook
 * and the hall's tick timer. NULL with a reason in err. */
server *server_new(ev_loop *loop, const struct halld_conf *conf, net_tls *tls, hall *owner,
                   char *err, size_t errlen);
/* Close every session (each is told nothing: the devices reconnect) and
 * the listener. */
void server_free(server *srv);

/* Apply reloadable settings (timeouts, limits, names) from conf, and swap
 * in tls when it is not NULL (taking ownership; sessions already open keep
 * their TLS state). */
void server_reload(server *srv, const struct halld_conf *conf, net_tls *tls);

/* Close the sessions of devices that are no longer registered (after the
 * registry changed). */
void server_revalidate(server *srv);

/* True if the server stopped the loop because the hall cannot go on (the
 * daemon then exits with an error, for its supervisor to restart it). */
bool server_fatal(const server *srv);

int server_port(const server *srv);
size_t server_sessions(const server *srv);

#endif
