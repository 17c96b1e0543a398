/*
 * reader_usb — the "usb" card reader backend: readers that carry the SAM
 * frames over vendor bulk endpoints, through libusb-1.0 (devices.md 4.8).
 *
 * The endpoint use differs by firmware, so it is a per-model table:
 *
 *  - "bulk": the whole command to the interface's first bulk OUT endpoint,
 *    answers read from its first bulk IN endpoint, one packet
 *    (wMaxPacketSize) at a time;
 *  - "huashi" (0400:C35A type): preamble + length to EP 0x02, the rest to
 *    EP 0x06; the answer's header read from EP 0x81 and its body from EP
 *    0x85 (AuroraRAS/openiDR200).
 *
 * HID-class readers wrap the frames in undocumented vendor reports and are
 * not supported. A reader that is unplugged gives IDCARD_IO until it is
 * plugged in again; the device is then opened again at the next command.
 */
#ifndef ONEWINDOW_READER_USB_H
#define ONEWINDOW_READER_USB_H

#include "reader.h"

/* The backend, for the table in reader.c. */
const struct reader_ops *reader_usb_backend(void);

#endif
