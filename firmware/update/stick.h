/*
 * stick — a mounted USB stick as the updater sees it: a bundle in
 * <mount>/kiosk-update/NAME.kub, and a receipt written back next to it
 * (kiosk-update/kupd-receipt.txt) so maintenance staff carry a record of
 * what the kiosk did with their stick.
 */
#ifndef ONEWINDOW_STICK_H
#define ONEWINDOW_STICK_H

#include <stddef.h>

#define STICK_DIR     "kiosk-update"
#define STICK_RECEIPT "kupd-receipt.txt"

/* Find the bundle on a stick mounted at dir: the last .kub file in name order.
 * Returns the number of bundles seen and the chosen path, or -1 with errno
 * (ENOENT when there is none). */
int stick_find(const char *dir, char *path, size_t cap);

/* Write the receipt text to the stick. Returns 0 or -1 with errno (the
 * stick may be gone or read-only). */
int stick_write_receipt(const char *dir, const char *text);

#endif
