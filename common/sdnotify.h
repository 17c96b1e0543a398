/*
 * sdnotify — the service side of the systemd notify protocol (sd_notify(3),
 * without libsystemd): a datagram of "KEY=VALUE" lines to the unix socket
 * named by $NOTIFY_SOCKET ("@" starts an abstract name). READY=1 when the
 * service is up, WATCHDOG=1 keep-alives while its loop turns. Without
 * $NOTIFY_SOCKET nothing is sent. kioskwatch is the manager side for
 * kiosks without systemd.
 */
#ifndef ONEWINDOW_SDNOTIFY_H
#define ONEWINDOW_SDNOTIFY_H

#include <stdint.h>

/* Send state ("READY=1", "WATCHDOG=1", ...) to $NOTIFY_SOCKET. 1 sent, 0
 * no socket configured, -1 with errno. */
int sdnotify_send(const char *state);

/* The watchdog interval the manager asked for ($WATCHDOG_USEC, for this
 * process when $WATCHDOG_PID is set), in ms; 0 when none. */
int64_t sdnotify_watchdog_ms(void);

#endif
