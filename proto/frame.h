/*
 * frame — length-prefixed framing of the device links.
 *
 *     +--------+--------+--------+--------+------------------------+
 *     |  payload length, 32-bit big-endian |  payload (Envelope)   |
 *     +--------+--------+--------+--------+------------------------+
 *
 * The decoder works over the caller's buffer and keeps no state: call
 * frame_next() on the unread bytes; it says whether a whole frame is there,
 * more bytes are needed, or the stream is bad. Split and coalesced frames
 * need nothing special. It reads only inside [data, data + len).
 *
 * Every way a frame can be bad has a code above FRAME_ENOBASE (so it never
 * collides with errno values), with frame_strerror() for the sentence.
 * No I/O, no allocation: fuzzable as it is.
 */
#ifndef ONEWINDOW_FRAME_H
#define ONEWINDOW_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER 4
/* The hard maximum payload; a link may set a lower one. */
#define FRAME_MAX (1u << 20)
/* The default for device links: far above any message, far below harm. */
#define FRAME_DEFAULT (64u * 1024u)

#define FRAME_ENOBASE 0x464d0000 /* "FM" */
#define FRAME_ERRORS(X)                                                                            \
    X(FRAME_ETOOBIG, 1, "frame length exceeds the limit")                                          \
    X(FRAME_EEMPTY, 2, "frame of zero length")                                                     \
    X(FRAME_ETRUNC, 3, "stream ended inside a frame")

enum frame_error {
#define FRAME_ENUM_(name, n, text) name = FRAME_ENOBASE + (n),
    FRAME_ERRORS(FRAME_ENUM_)
#undef FRAME_ENUM_
};

/* Look for one frame at the start of data[0..len).
 *   1: a frame: *payload points into data, *payload_len is its size,
 *      and *consumed is the size of header + payload;
 *   0: need more bytes (*consumed = 0);
 *  -1: bad stream, errno = FRAME_ETOOBIG (length > max) or FRAME_EEMPTY.
 * max is the link's limit, clamped to FRAME_MAX. */
int frame_next(const uint8_t *data, size_t len, size_t max, const uint8_t **payload,
               size_t *payload_len, size_t *consumed);

/* At end of stream: 0 if len unread bytes are a clean end (len == 0), -1
 * with errno FRAME_ETRUNC otherwise. */
int frame_at_eof(size_t len);

/* Write the 4-byte header for a payload of len bytes. */
void frame_put_header(uint8_t out[FRAME_HEADER], uint32_t len);

/* Readable sentence for a FRAME_E* code, or strerror() for an errno. */
const char *frame_strerror(int err);

#endif
