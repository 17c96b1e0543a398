/*
 * fuzz_frame — libFuzzer target for proto/: the input is what a device
 * link might deliver, read as a stream of frames.
 *
 * The stream is decoded twice, with the device-link limit and with a
 * small one, so both the accept and the oversize paths see every input.
 * Each payload must either be refused with a proto error or unpack to a
 * message with a known body that packs, decodes and unpacks again, and
 * packs to the same bytes the second time. Any broken promise aborts,
 * which libFuzzer (or replay.c, in builds without libFuzzer) reports.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The second pass's limit: above the smallest messages, below most. */
#define SMALL_MAX 32

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_frame: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Pack env into a fresh frame and check it decodes as one whole frame. */
static uint8_t *repack(const Hall__Envelope *env, size_t *len)
{
    size_t cap = proto_frame_size(env), plen, used;
    uint8_t *frame = malloc(cap);
    const uint8_t *p;

    CHECK(frame != NULL);
    CHECK(proto_pack_frame(env, FRAME_MAX, frame, cap) == (long)cap);
    CHECK(frame_next(frame, cap, FRAME_MAX, &p, &plen, &used) == 1);
    CHECK(used == cap && p == frame + FRAME_HEADER);
    *len = cap;
    return frame;
}

static void one_payload(const uint8_t *p, size_t n)
{
    Hall__Envelope *env, *again;
    uint8_t *first, *second;
    size_t first_len, second_len;

    errno = 0;
    env = proto_unpack(p, n);
    if (env == NULL) {
        CHECK(errno == PROTO_EMALFORMED || errno == PROTO_ENOBODY);
        return;
    }
    CHECK(proto_body_name(env->body_case) != NULL);
    CHECK(strcmp(proto_body_name(env->body_case), "UNKNOWN") != 0);

    first = repack(env, &first_len);
    again = proto_unpack(first + FRAME_HEADER, first_len - FRAME_HEADER);
    CHECK(again != NULL);
    CHECK(again->body_case == env->body_case && again->request_id == env->request_id);
    second = repack(again, &second_len);
    CHECK(second_len == first_len && memcmp(first, second, first_len) == 0);

    free(second);
    free(first);
    proto_free(again);
    proto_free(env);
}

static void one_stream(const uint8_t *data, size_t size, size_t max)
{
    size_t off = 0;

    for (;;) {
        const uint8_t *p;
        size_t plen, used;
        int rc = frame_next(data + off, size - off, max, &p, &plen, &used);

        if (rc < 0) {
            CHECK(errno == FRAME_ETOOBIG || errno == FRAME_EEMPTY);
            return;
        }
        if (rc == 0)
            break;
        CHECK(plen > 0 && plen <= max && used == FRAME_HEADER + plen && used <= size - off);
        CHECK(p == data + off + FRAME_HEADER);
        one_payload(p, plen);
        off += used;
    }
    CHECK(frame_at_eof(size - off) == (off == size ? 0 : -1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An empty input may come with data == NULL: no pointer arithmetic. */
    if (size == 0) {
        CHECK(frame_at_eof(0) == 0);
        return 0;
    }
    one_stream(data, size, FRAME_DEFAULT);
    one_stream(data, size, SMALL_MAX);
    return 0;
}
