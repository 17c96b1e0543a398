/*
 * kqr — a QR code as an SVG image, for the ticket preview on the kiosk's
 * page: the same payload the printed ticket's QR code (escpos, GS ( k)
 * carries, encoded with libqrencode at error level M, as the printer does.
 */
#ifndef ONEWINDOW_KQR_H
#define ONEWINDOW_KQR_H

#include "buf.h"

/* The quiet zone around the modules, in modules (ISO/IEC 18004: 4). */
#define KQR_QUIET 4

/* Append to out an SVG of the QR code of text: a viewBox of width + 2 *
 * KQR_QUIET modules square, one black 1x1 rect per dark module. 0, or -1
 * with errno (EINVAL: empty text, ERANGE: too long, ENOMEM). */
int kqr_svg(const char *text, buf *out);
/* The width in modules of the QR code of text, -1 with errno. */
int kqr_width(const char *text);

#endif
