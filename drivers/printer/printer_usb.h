/*
 * printer_usb — the "usb" printer backend: an ESC/POS ticket printer on the
 * USB printer class (interface class 7, subclass 1), through libusb-1.0.
 *
 * printer_conf.usb picks the device: vendor and product ids, 0 matching
 * any. The first interface of the class with protocol 2 (bidirectional)
 * is preferred, protocol 1 (unidirectional) is taken when it is all there
 * is; endpoints come from that interface's descriptor, never from a table
 * of models. The kernel's usblp driver is detached only when it is
 * attached, and attached again on close.
 *
 * The printer may be absent when printer_new() runs and may come and go:
 * hotplug arrival opens it on the next call, removal fails the call in
 * progress with PRINTER_REMOVED (a job reports how many of its bytes went
 * out). Every transfer is bounded by the call's timeout; a printer that
 * stops answering gives PRINTER_TIMEOUT. The status is the answers to
 * DLE EOT 1-4, asked for in one write; a unidirectional printer cannot
 * answer, so its status reports nothing known. docs/printer.md ("The usb
 * backend") has the details.
 */
#ifndef ONEWINDOW_PRINTER_USB_H
#define ONEWINDOW_PRINTER_USB_H

#include "printer.h"

/* The backend, for the table in printer.c. */
const struct printer_ops *printer_usb_backend(void);

#endif
