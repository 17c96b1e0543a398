/*
 * kqr — QR code SVGs. See kqr.h.
 */
#include "kqr.h"

#include <errno.h>
#include <qrencode.h>
#include <stdio.h>
#include <string.h>

static QRcode *encode(const char *text)
{
    QRcode *q;

    if (text == NULL || text[0] == '\0') {
        errno = EINVAL;
        return NULL;
    }
    /* Byte mode, level M, the smallest version that holds it. */
    if ((q = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M)) == NULL && errno == 0)
        errno = ENOMEM;
    return q;
}

int kqr_width(const char *text)
{
    QRcode *q = encode(text);
    int w;

    if (q == NULL)
        return -1;
    w = q->width;
    QRcode_free(q);
    return w;
}

int kqr_svg(const char *text, buf *out)
{
    QRcode *q = encode(text);
    char line[256];
    int n, size, rc = 0;

    if (q == NULL)
        return -1;
    size = q->width + 2 * KQR_QUIET;
    n = snprintf(line, sizeof line,
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                 "shape-rendering=\"crispEdges\" data-modules=\"%d\">"
                 "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><g fill=\"#000\">",
                 size, size, q->width, size, size);
    if (n < 0 || (size_t)n >= sizeof line) {
        QRcode_free(q);
        errno = ENOBUFS;
        return -1;
    }
    rc = buf_append(out, line, (size_t)n);
    for (int y = 0; rc == 0 && y < q->width; y++)
        for (int x = 0; rc == 0 && x < q->width; x++) {
            /* Bit 0 of each byte: the module is dark. */
            if ((q->data[y * q->width + x] & 1) == 0)
                continue;
            n = snprintf(line, sizeof line, "<rect x=\"%d\" y=\"%d\" width=\"1\" height=\"1\"/>",
                         x + KQR_QUIET, y + KQR_QUIET);
            rc = buf_append(out, line, (size_t)n);
        }
    if (rc == 0)
        rc = buf_append(out, "</g></svg>", 10);
    QRcode_free(q);
    return rc < 0 ? -1 : 0;
}
