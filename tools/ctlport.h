/*
 * ctlport — the control port of a device simulator: command lines on a
 * loopback TCP port, each answered at once, so tests and the demo can
 * change what a simulator does while a driver talks to it.
 *
 * Up to CTLPORT_CONNS connections at once (more are refused). A line ends
 * with LF (a CR before it is dropped); a line longer than CTLPORT_LINE_MAX
 * closes its connection. The answer to a line is what the simulator's
 * command function writes, sent after the line ran: one or more lines,
 * each ending in LF. Everything runs on the loop's thread.
 */
#ifndef ONEWINDOW_CTLPORT_H
#define ONEWINDOW_CTLPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "buf.h"
#include "ev.h"

#define CTLPORT_CONNS    8
#define CTLPORT_LINE_MAX 256

/* Run one command line (no line end) and write its answer to out. */
typedef void ctlport_fn(void *arg, const char *line, FILE *out);

typedef struct ctlport ctlport;

/* Listen on host:port (port 0 picks one). NULL with a sentence in err
 * (NET_ERR_LEN bytes). */
ctlport *ctlport_new(ev_loop *loop, const char *host, int port, ctlport_fn *fn, void *arg,
                     char *err);
int ctlport_port(const ctlport *c);
/* Close every connection and the port. NULL is fine. */
void ctlport_free(ctlport *c);

/* Run the complete lines at the front of in through fn, consuming them;
 * the answers go to out. false when a line is longer than
 * CTLPORT_LINE_MAX (what is left of in is then garbage). For other line
 * sources, such as a simulator's standard input. */
bool ctlport_run_lines(buf *in, ctlport_fn *fn, void *arg, FILE *out);

#endif
