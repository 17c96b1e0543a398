/*
 * frame — the length-prefixed framing of frame.h.
 *
 * A frame is a 32-bit big-endian payload length followed by the payload.
 * The byte order is stated here once and lives in get_be32()/put_be32();
 * nothing else in the module touches multi-byte integers. frame_next()
 * keeps no state between calls: everything it needs is in the caller's
 * buffer, and every read is checked against [data, data + len) first.
 */
#include "frame.h"

#include <errno.h>
#include <string.h>

/* Byte order of the wire: the header is big-endian (network order). */
static uint32_t get_be32(const uint8_t p[4])
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put_be32(uint8_t p[4], uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The header is judged as soon as its four bytes are there, so a hostile
 * length is refused before the caller buffers a byte of its payload. */
int frame_next(const uint8_t *data, size_t len, size_t max, const uint8_t **payload,
               size_t *payload_len, size_t *consumed)
{
    uint32_t n;

    *payload = NULL;
    *payload_len = 0;
    *consumed = 0;
    if (max > FRAME_MAX)
        max = FRAME_MAX;
    if (len < FRAME_HEADER)
        return 0;
    n = get_be32(data);
    if (n == 0) {
        errno = FRAME_EEMPTY;
        return -1;
    }
    if (n > max) {
        errno = FRAME_ETOOBIG;
        return -1;
    }
    if (len - FRAME_HEADER < n)
        return 0;
    *payload = data + FRAME_HEADER;
    *payload_len = n;
    *consumed = FRAME_HEADER + (size_t)n;
    return 1;
}

int frame_at_eof(size_t len)
{
    if (len == 0)
        return 0;
    errno = FRAME_ETRUNC;
    return -1;
}

void frame_put_header(uint8_t out[FRAME_HEADER], uint32_t len)
{
    put_be32(out, len);
}

const char *frame_strerror(int err)
{
    switch (err) {
#define FRAME_TEXT_(name, n, text)                                                                 \
    case name:                                                                                     \
        return text;
        FRAME_ERRORS(FRAME_TEXT_)
#undef FRAME_TEXT_
    default:
        return strerror(err);
    }
}
