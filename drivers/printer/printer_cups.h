/*
 * printer_cups — the "cups" printer backend: raw jobs to one CUPS queue
 * through libcups, the queue's state read back as the printer's status.
 *
 * printer_conf.cups names the queue and the server. Each call opens its
 * own connection to the server with the call's timeout. A job is created
 * with the raw format and followed until CUPS reports it completed; a
 * status query maps the queue's printer-state and printer-state-reasons to
 * escpos_status flags. docs/printer.md ("The cups backend") has the table.
 */
#ifndef ONEWINDOW_PRINTER_CUPS_H
#define ONEWINDOW_PRINTER_CUPS_H

#include "printer.h"

/* The backend, for the table in printer.c. */
const struct printer_ops *printer_cups_backend(void);

#endif
