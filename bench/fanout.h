/*
 * fanout — many links to halld from one thread: one ev_loop and one
 * net_conn per link (common/net.h), as a hall's displays and idle devices
 * are many small peers, not many threads. Every link says HELLO as the
 * tool device and sends heartbeats at the interval halld asks for.
 *
 *   fanout  N links SUBSCRIBE like displays; one more link signs window W
 *           in and, each round, issues a ticket and calls window W's next.
 *           A round's latency is from sending CALL_NEXT to the moment the
 *           last of the N subscribers has received the push carrying that
 *           call (the moment this thread read it). START and FINISH close
 *           the round, untimed.
 *   idle    N links say HELLO and stay idle (heartbeats only) while halld's
 *           memory and descriptors are read from /proc.
 *
 * Links are opened at most FANOUT_MAX_PENDING at a time, so a thousand
 * TLS handshakes do not all land on halld in the same millisecond.
 * Functions return 0, or -1 with a reason in err.
 */
#ifndef ONEWINDOW_FANOUT_H
#define ONEWINDOW_FANOUT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lat.h"
#include "target_halld.h"

#define FANOUT_MAX_PENDING 64

/* rounds rounds with displays subscribers at window; the ticket of each
 * round is issued for area ("" = the hall's general area). Latencies are
 * recorded into l. */
int fanout_run(const target_halld_addr *a, unsigned displays, uint32_t window, unsigned rounds,
               const char *area, lat *l, char *err, size_t errlen);

typedef struct fanout_idle_result {
    long rss_kib_before, fds_before; /* halld before the links were opened */
    long rss_kib, fds;               /* and with them open, after the hold */
    double open_s;                   /* time to open every link */
} fanout_idle_result;

/* Open connections idle links, hold them hold_s seconds, and read pid's
 * memory and descriptors before and with them. */
int fanout_idle(const target_halld_addr *a, unsigned connections, double hold_s, pid_t pid,
                fanout_idle_result *res, char *err, size_t errlen);

#endif
