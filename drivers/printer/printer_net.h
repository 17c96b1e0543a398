/*
 * printer_net — the "net" printer backend: an ESC/POS printer on the
 * network, through its raw TCP port (9100 by convention, as Ethernet
 * ticket printers and tools/printersim offer it).
 *
 * printer_conf.net.address names it ("host:port", or "host" for 9100).
 * Every call is one connection, so a printer that hung in one call cannot
 * spoil the next: a job connects, sends every byte within the job timeout
 * and closes; a status query connects, sends DLE EOT 1-4 and reads the
 * four answer bytes within the status timeout. A connection refused or
 * unanswered is PRINTER_OFFLINE or PRINTER_TIMEOUT; a job that could not
 * be sent whole says how many bytes went out. docs/printer.md ("The net
 * backend") has the details.
 */
#ifndef ONEWINDOW_PRINTER_NET_H
#define ONEWINDOW_PRINTER_NET_H

#include "printer.h"

/* The backend, for the table in printer.c. */
const struct printer_ops *printer_net_backend(void);

#endif
