/*
 * proto — the checks around the generated hall.pb-c code (see proto.h).
 *
 * Packing is the generated packer plus the frame header and the size
 * limits. Unpacking is the generated unpacker plus what it leaves out:
 * an Envelope must carry a body this build knows, and every `string` field,
 * at any depth, must be valid UTF-8 without NUL, because those strings end
 * up in logs, in the database and on the hall's displays. The string check
 * walks the payload bytes with the message descriptors, so it follows the
 * schema by itself when fields or messages are added.
 */
#include "proto.h"

#include <errno.h>
#include <stdbool.h>

/* Names for logs, indexed by body case: one line per member of the oneof.
 * A member missing here is unknown to proto_unpack() too, which the unit
 * test catches by walking the Envelope descriptor. */
static const char *const body_names[] = {
    [HALL__ENVELOPE__BODY_HELLO] = "HELLO",
    [HALL__ENVELOPE__BODY_HELLO_REPLY] = "HELLO_REPLY",
    [HALL__ENVELOPE__BODY_HEARTBEAT] = "HEARTBEAT",
    [HALL__ENVELOPE__BODY_HEARTBEAT_REPLY] = "HEARTBEAT_REPLY",
    [HALL__ENVELOPE__BODY_ERROR] = "ERROR",
    [HALL__ENVELOPE__BODY_ISSUE] = "ISSUE",
    [HALL__ENVELOPE__BODY_ISSUE_REPLY] = "ISSUE_REPLY",
    [HALL__ENVELOPE__BODY_PRINTED] = "PRINTED",
    [HALL__ENVELOPE__BODY_VOID_TICKET] = "VOID",
    [HALL__ENVELOPE__BODY_TICKET_REPLY] = "TICKET_REPLY",
    [HALL__ENVELOPE__BODY_CALL_NEXT] = "CALL_NEXT",
    [HALL__ENVELOPE__BODY_RECALL] = "RECALL",
    [HALL__ENVELOPE__BODY_NO_SHOW] = "NO_SHOW",
    [HALL__ENVELOPE__BODY_START] = "START",
    [HALL__ENVELOPE__BODY_FINISH] = "FINISH",
    [HALL__ENVELOPE__BODY_TRANSFER] = "TRANSFER",
    [HALL__ENVELOPE__BODY_HOLD] = "HOLD",
    [HALL__ENVELOPE__BODY_PAUSE] = "PAUSE",
    [HALL__ENVELOPE__BODY_RESUME] = "RESUME",
    [HALL__ENVELOPE__BODY_WINDOW_REPLY] = "WINDOW_REPLY",
    [HALL__ENVELOPE__BODY_SIGN_IN] = "SIGN_IN",
    [HALL__ENVELOPE__BODY_SIGN_OUT] = "SIGN_OUT",
    [HALL__ENVELOPE__BODY_CANCEL] = "CANCEL",
    [HALL__ENVELOPE__BODY_REJOIN] = "REJOIN",
    [HALL__ENVELOPE__BODY_TICKET_QUERY] = "TICKET_QUERY",
    [HALL__ENVELOPE__BODY_SUBSCRIBE] = "SUBSCRIBE",
    [HALL__ENVELOPE__BODY_DISPLAY_PUSH] = "DISPLAY_PUSH",
    [HALL__ENVELOPE__BODY_RATING] = "RATING",
    [HALL__ENVELOPE__BODY_RATING_REPLY] = "RATING_REPLY",
    [HALL__ENVELOPE__BODY_LEASE_REQUEST] = "LEASE_REQUEST",
    [HALL__ENVELOPE__BODY_LEASE_GRANT] = "LEASE_GRANT",
    [HALL__ENVELOPE__BODY_OFFLINE_UPLOAD] = "OFFLINE_UPLOAD",
    [HALL__ENVELOPE__BODY_OFFLINE_UPLOAD_REPLY] = "OFFLINE_UPLOAD_REPLY",
    [HALL__ENVELOPE__BODY_DEVICE_STATUS] = "DEVICE_STATUS",
    [HALL__ENVELOPE__BODY_DEVICE_STATUS_REPLY] = "DEVICE_STATUS_REPLY",
    [HALL__ENVELOPE__BODY_WEB_EVENT] = "WEB_EVENT",
    [HALL__ENVELOPE__BODY_WEB_EVENT_REPLY] = "WEB_EVENT_REPLY",
    [HALL__ENVELOPE__BODY_ALERT_ACTION] = "ALERT_ACTION",
    [HALL__ENVELOPE__BODY_ALERT_REPLY] = "ALERT_REPLY",
};

static bool body_known(Hall__Envelope__BodyCase body)
{
    return (unsigned)body < sizeof body_names / sizeof body_names[0] && body_names[body] != NULL;
}

const char *proto_body_name(Hall__Envelope__BodyCase body)
{
    return body_known(body) ? body_names[body] : "UNKNOWN";
}

size_t proto_frame_size(const Hall__Envelope *env)
{
    return FRAME_HEADER + hall__envelope__get_packed_size(env);
}

/* A body-less Envelope is refused (PROTO_ENOBODY) rather than sent: the
 * peer's proto_unpack() would refuse it, and with request_id 0 it would
 * even be an empty frame, which frame_next() treats as a broken stream. */
long proto_pack_frame(const Hall__Envelope *env, size_t max, uint8_t *out, size_t cap)
{
    size_t n;

    if (!body_known(env->body_case)) {
        errno = PROTO_ENOBODY;
        return -1;
    }
    if (max > FRAME_MAX)
        max = FRAME_MAX;
    n = hall__envelope__get_packed_size(env);
    if (n > max) {
        errno = PROTO_ETOOBIG;
        return -1;
    }
    if (cap < FRAME_HEADER || cap - FRAME_HEADER < n) {
        errno = ENOSPC;
        return -1;
    }
    frame_put_header(out, (uint32_t)n);
    hall__envelope__pack(env, out + FRAME_HEADER);
    return (long)(FRAME_HEADER + n);
}

/* Well-formed UTF-8 as in Unicode 15, table 3-7: no overlong forms, no
 * surrogates, nothing above U+10FFFF; and no NUL, which would cut the
 * string short once it is a C string. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t c = s[i], lo = 0x80, hi = 0xbf;
        size_t len, k;

        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            lo = c == 0xe0 ? 0xa0 : 0x80;
            hi = c == 0xed ? 0x9f : 0xbf;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            lo = c == 0xf0 ? 0x90 : 0x80;
            hi = c == 0xf4 ? 0x8f : 0xbf;
        } else {
            return false;
        }
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (k = 2; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

/* Field numbers a protobuf message may use. */
#define FIELD_MIN 1u
#define FIELD_MAX 0x1fffffffu

/* A base-128 varint of at most ten bytes from p[*pos..n). */
static int get_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *v)
{
    uint64_t r = 0;
    unsigned shift;

    for (shift = 0; shift < 64; shift += 7) {
        uint8_t b;

        if (*pos >= n)
            return -1;
        b = p[(*pos)++];
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/*
 * Check every string in the encoded message p[0..n) of type desc.
 *
 * This reads the wire bytes rather than the unpacked structs because
 * protobuf-c stores a string as a NUL-terminated copy: a NUL inside it
 * could not be seen there any more. Each field is looked up in desc;
 * length-delimited `string` fields are checked, `message` fields are
 * walked with their own descriptor, everything else (scalars, bytes,
 * packed arrays, unknown fields) is skipped. Repeated fields are simply
 * repeated keys. Recursion is as deep as the schema nests messages,
 * which is also how deep protobuf-c's own unpacker recursed.
 *
 * Called on a payload protobuf-c has already accepted, but bounds-checked
 * as if it had not. Wire types are from the protobuf encoding guide:
 * 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit; 3 and 4 (groups) are
 * refused, as protobuf-c refuses them. So are field numbers outside the
 * protobuf range: protobuf-c 1.4 keeps a field 0 written in two bytes
 * (0x82 0x00) as an unknown field, then packs it in one byte, which it
 * refuses; what this module accepts must survive a re-pack.
 */
static int check_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t n)
{
    size_t pos = 0;

    while (pos < n) {
        const ProtobufCFieldDescriptor *f;
        uint64_t key, v;

        if (get_varint(p, n, &pos, &key) < 0 || key >> 3 < FIELD_MIN || key >> 3 > FIELD_MAX)
            return -1;
        switch (key & 7) {
        case 0:
            if (get_varint(p, n, &pos, &v) < 0)
                return -1;
            break;
        case 1:
        case 5: {
            size_t width = (key & 7) == 1 ? 8 : 4;

            if (n - pos < width)
                return -1;
            pos += width;
            break;
        }
        case 2:
            if (get_varint(p, n, &pos, &v) < 0 || v > n - pos)
                return -1;
            f = protobuf_c_message_descriptor_get_field(desc, (unsigned)(key >> 3));
            if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING && !utf8_valid(p + pos, v))
                return -1;
            if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                check_strings(f->descriptor, p + pos, v) < 0)
                return -1;
            pos += v;
            break;
        default:
            return -1;
        }
    }
    return 0;
}

/* NULL allocator: protobuf-c's default (malloc/free). */
Hall__Envelope *proto_unpack(const uint8_t *payload, size_t len)
{
    Hall__Envelope *env = hall__envelope__unpack(NULL, len, payload);

    if (env == NULL || check_strings(&hall__envelope__descriptor, payload, len) < 0) {
        proto_free(env);
        errno = PROTO_EMALFORMED;
        return NULL;
    }
    if (!body_known(env->body_case)) {
        proto_free(env);
        errno = PROTO_ENOBODY;
        return NULL;
    }
    return env;
}

uint64_t proto_request_id(const uint8_t *payload, size_t len)
{
    uint64_t key, v, id = 0;
    size_t pos = 0;

    /* The last occurrence wins, as protobuf's own parsers decide. */
    while (pos < len) {
        if (get_varint(payload, len, &pos, &key) < 0)
            return 0;
        switch (key & 7) {
        case 0:
            if (get_varint(payload, len, &pos, &v) < 0)
                return 0;
            if (key >> 3 == 1)
                id = v;
            break;
        case 1:
        case 5: {
            size_t width = (key & 7) == 1 ? 8 : 4;

            if (len - pos < width)
                return 0;
            pos += width;
            break;
        }
        case 2:
            if (get_varint(payload, len, &pos, &v) < 0 || v > len - pos)
                return 0;
            pos += v;
            break;
        default:
            return 0;
        }
    }
    return id;
}

void proto_free(Hall__Envelope *env)
{
    if (env != NULL)
        hall__envelope__free_unpacked(env, NULL);
}

const char *proto_strerror(int err)
{
    switch (err) {
#define PROTO_TEXT_(name, n, text)                                                                 \
    case name:                                                                                     \
        return text;
        PROTO_ERRORS(PROTO_TEXT_)
#undef PROTO_TEXT_
    default:
        return frame_strerror(err);
    }
}
