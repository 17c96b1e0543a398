/*
 * escpos_status — DLE EOT and ASB answers to a printer state.
 *
 * Both parsers are tables: for each query (or ASB byte), which bits mean
 * which condition, and which conditions that answer reports at all. Bit
 * layouts are devices.md 1.5 (DLE EOT) and 1.6 (ASB, Epson layout).
 */
#include "escpos_status.h"

#include <errno.h>
#include <string.h>

/* DLE EOT reply: bit1 = 1, bit4 = 1, bit0 = 0, bit7 = 0. */
#define DLE_FIXED_MASK 0x93
#define DLE_FIXED      0x12
/* ASB byte 1: 0xx1xx00b; bytes 2..4: 0xx0xxxxb. */
#define ASB1_FIXED_MASK 0x93
#define ASB1_FIXED      0x10
#define ASBN_FIXED_MASK 0x90
#define ASBN_FIXED      0x00

/* One meaning: bits (any of them set) -> flag. */
struct bitmap {
    uint8_t bits;
    uint32_t flag;
};

#define MAX_BITS 4

/* DLE EOT n = 1..4, indexed by n - 1. */
static const struct bitmap dle[4][MAX_BITS] = {
    {{0x04, ESCPOS_ST_DRAWER}, {0x08, ESCPOS_ST_OFFLINE}},
    {{0x04, ESCPOS_ST_COVER_OPEN},
     {0x08, ESCPOS_ST_FEED_BUTTON},
     {0x20, ESCPOS_ST_PAPER_STOP},
     {0x40, ESCPOS_ST_ERROR}},
    {{0x04, ESCPOS_ST_RECOVERABLE},
     {0x08, ESCPOS_ST_CUTTER},
     {0x20, ESCPOS_ST_UNRECOVERABLE},
     {0x40, ESCPOS_ST_AUTORECOVER}},
    {{0x0c, ESCPOS_ST_PAPER_NEAR_END}, {0x60, ESCPOS_ST_PAPER_OUT}},
};

/* ASB bytes 1..4, indexed by byte - 1; byte 4 reports nothing we use. */
static const struct bitmap asb[4][MAX_BITS] = {
    {{0x08, ESCPOS_ST_OFFLINE}, {0x20, ESCPOS_ST_COVER_OPEN}, {0x40, ESCPOS_ST_FEED_BUTTON}},
    {{0x08, ESCPOS_ST_CUTTER}, {0x20, ESCPOS_ST_UNRECOVERABLE}, {0x40, ESCPOS_ST_AUTORECOVER}},
    {{0x03, ESCPOS_ST_PAPER_NEAR_END}, {0x0c, ESCPOS_ST_PAPER_OUT}},
    {{0, 0}},
};

static const char *const error_text[] = {
#define ESCPOS_STATUS_TEXT_(name, n, text) [n] = text,
    ESCPOS_STATUS_ERRORS(ESCPOS_STATUS_TEXT_)
#undef ESCPOS_STATUS_TEXT_
};

const char *escpos_status_strerror(int err)
{
    if (err > ESCPOS_STATUS_ENOBASE &&
        err - ESCPOS_STATUS_ENOBASE < (int)(sizeof(error_text) / sizeof(error_text[0])))
        return error_text[err - ESCPOS_STATUS_ENOBASE];
    return strerror(err);
}

/* Apply one byte's table to s. */
static void decode(const struct bitmap map[MAX_BITS], uint8_t byte, escpos_status *s)
{
    for (int i = 0; i < MAX_BITS && map[i].flag != 0; i++) {
        s->known |= map[i].flag;
        if (byte & map[i].bits)
            s->flags |= map[i].flag;
    }
}

int escpos_status_dle(int n, uint8_t byte, escpos_status *out)
{
    escpos_status s = {0, 0};

    if (n < 1 || n > 4 || !out) {
        errno = EINVAL;
        return -1;
    }
    if ((byte & DLE_FIXED_MASK) != DLE_FIXED) {
        errno = ESCPOS_STATUS_EGARBAGE;
        return -1;
    }
    decode(dle[n - 1], byte, &s);
    *out = s;
    return 0;
}

int escpos_status_asb(const uint8_t *data, size_t len, escpos_status *out)
{
    escpos_status s = {0, 0};

    if (!data || !out) {
        errno = EINVAL;
        return -1;
    }
    if (len < 4) {
        errno = ESCPOS_STATUS_ETRUNC;
        return -1;
    }
    if ((data[0] & ASB1_FIXED_MASK) != ASB1_FIXED) {
        errno = ESCPOS_STATUS_EGARBAGE;
        return -1;
    }
    for (int i = 1; i < 4; i++)
        if ((data[i] & ASBN_FIXED_MASK) != ASBN_FIXED) {
            errno = ESCPOS_STATUS_EGARBAGE;
            return -1;
        }
    for (int i = 0; i < 4; i++)
        decode(asb[i], data[i], &s);
    *out = s;
    return 4;
}

void escpos_status_merge(escpos_status *into, const escpos_status *from)
{
    into->flags = (into->flags & ~from->known) | (from->flags & from->known);
    into->known |= from->known;
}

bool escpos_status_ready(const escpos_status *s)
{
    const uint32_t needed = ESCPOS_ST_OFFLINE | ESCPOS_ST_COVER_OPEN | ESCPOS_ST_PAPER_OUT;

    return (s->known & needed) == needed && (s->flags & s->known & ESCPOS_ST_BLOCKING) == 0;
}

uint32_t escpos_status_events(const escpos_status *before, const escpos_status *after)
{
    const uint32_t paper = ESCPOS_ST_PAPER_OUT | ESCPOS_ST_PAPER_STOP;
    const uint32_t errors = ESCPOS_ST_ERROR | ESCPOS_ST_RECOVERABLE | ESCPOS_ST_CUTTER |
                            ESCPOS_ST_UNRECOVERABLE | ESCPOS_ST_AUTORECOVER;
    uint32_t was = before->flags & before->known;
    uint32_t is = after->flags & after->known;
    uint32_t rose = is & ~was, fell = was & ~is;
    uint32_t ev = 0;

    if (rose & ESCPOS_ST_OFFLINE)
        ev |= ESCPOS_EV_OFFLINE;
    if (fell & ESCPOS_ST_OFFLINE)
        ev |= ESCPOS_EV_ONLINE;
    if (rose & ESCPOS_ST_COVER_OPEN)
        ev |= ESCPOS_EV_COVER_OPENED;
    if (fell & ESCPOS_ST_COVER_OPEN)
        ev |= ESCPOS_EV_COVER_CLOSED;
    if (rose & ESCPOS_ST_PAPER_NEAR_END)
        ev |= ESCPOS_EV_PAPER_NEAR_END;
    if ((is & paper) && !(was & paper))
        ev |= ESCPOS_EV_PAPER_OUT;
    if ((was & paper) && !(is & paper))
        ev |= ESCPOS_EV_PAPER_LOADED;
    if (rose & errors)
        ev |= ESCPOS_EV_ERROR;
    if ((was & ESCPOS_ST_BLOCKING) && escpos_status_ready(after))
        ev |= ESCPOS_EV_RECOVERED;
    return ev;
}
