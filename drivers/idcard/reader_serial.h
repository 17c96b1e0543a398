/*
 * reader_serial — the "serial" card reader backend: a reader on a tty
 * (TTL/RS-232, or USB-serial CP210x/CH340/PL2303/CDC-ACM as /dev/ttyUSBn or
 * /dev/ttyACMn), raw 8N1 at 115200 baud with no flow control (devices.md
 * 4.8). Reads wait with poll(), so every call ends by its timeout. A
 * reader that is unplugged (EIO, hang-up) is closed and opened again at
 * the next command, so it comes back by itself when it is plugged in.
 */
#ifndef ONEWINDOW_READER_SERIAL_H
#define ONEWINDOW_READER_SERIAL_H

#include "reader.h"

/* The backend, for the table in reader.c. */
const struct reader_ops *reader_serial_backend(void);

#endif
