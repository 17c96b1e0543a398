/*
 * proto — messages of the device links: pack an Envelope into a frame,
 * unpack a frame's payload into an Envelope, name message types.
 *
 * The messages themselves are generated from hall.proto by protoc-c
 * (hall.pb-c.h, types Hall__*). This module adds the checks the generated
 * code does not make: a payload that is not a valid Envelope, an Envelope
 * with no body or a body this release does not know, a frame over the
 * link's limit. Errors are codes above PROTO_ENOBASE, described by
 * proto_strerror() (which also knows the FRAME_E* codes and errno).
 */
#ifndef ONEWINDOW_PROTO_H
#define ONEWINDOW_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "hall.pb-c.h"

/* Version of the protocol this build speaks, sent in Hello/HelloReply. */
#define PROTO_VERSION 1

#define PROTO_ENOBASE 0x50520000 /* "PR" */
#define PROTO_ERRORS(X)                                                                            \
    X(PROTO_EMALFORMED, 1, "payload is not a valid message")                                       \
    X(PROTO_ENOBODY, 2, "message has no body or a type this release does not know")                \
    X(PROTO_ETOOBIG, 3, "message is larger than the frame limit")

enum proto_error {
#define PROTO_ENUM_(name, n, text) name = PROTO_ENOBASE + (n),
    PROTO_ERRORS(PROTO_ENUM_)
#undef PROTO_ENUM_
};

/* Size of env as a frame (header + payload). */
size_t proto_frame_size(const Hall__Envelope *env);

/* Pack env as one frame into out[0..cap). Returns the bytes written, or -1
 * with errno PROTO_ETOOBIG (payload over max, max clamped to FRAME_MAX),
 * ENOSPC (cap too small) or PROTO_ENOBODY (body not set or not known to
 * this build: the peer would refuse it). */
long proto_pack_frame(const Hall__Envelope *env, size_t max, uint8_t *out, size_t cap);

/* Unpack a frame payload. NULL with errno PROTO_EMALFORMED (not an
 * Envelope, or a string field at any depth that is not valid UTF-8 or
 * holds a NUL) or PROTO_ENOBODY (also for a body case this build does
 * not know). Free with proto_free(); proto_free(NULL) does nothing. */
Hall__Envelope *proto_unpack(const uint8_t *payload, size_t len);
void proto_free(Hall__Envelope *env);

/* The request_id of a payload (the Envelope's field 1), read from the
 * wire bytes alone: so that a payload proto_unpack() refuses with
 * PROTO_ENOBODY is still answered under its id. 0 when the field is
 * absent or the bytes before it do not parse. */
uint64_t proto_request_id(const uint8_t *payload, size_t len);

/* "HELLO", "ISSUE", "CALL_NEXT"... for logs; "UNKNOWN" otherwise. */
const char *proto_body_name(Hall__Envelope__BodyCase body);

/* Readable sentence for PROTO_E*, FRAME_E* or errno codes. */
const char *proto_strerror(int err);

#endif
