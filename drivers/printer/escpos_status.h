/*
 * escpos_status — what an ESC/POS printer says about itself.
 *
 * The printer answers DLE EOT n (n = 1..4) with one byte each: printer,
 * offline cause, error cause, paper sensor (devices.md 1.5). With
 * Automatic Status Back enabled (GS a) it sends 4-byte blocks instead
 * (1.6). Each answer is parsed into a state that says which conditions it
 * reported (known) and which of those hold (flags); answers are merged into
 * one state, and two states compared give the events a kiosk reacts to.
 *
 * Every byte comes from the device and is checked: an answer whose fixed
 * bits are wrong is refused (ESCPOS_STATUS_EGARBAGE), never guessed at.
 * No I/O, no allocation.
 */
#ifndef ONEWINDOW_ESCPOS_STATUS_H
#define ONEWINDOW_ESCPOS_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ESCPOS_STATUS_ENOBASE 0x45530000 /* "ES" */
#define ESCPOS_STATUS_ERRORS(X)                                                                    \
    X(ESCPOS_STATUS_EGARBAGE, 1, "status byte with wrong fixed bits")                              \
    X(ESCPOS_STATUS_ETRUNC, 2, "status block shorter than 4 bytes")

enum escpos_status_error {
#define ESCPOS_STATUS_ENUM_(name, n, text) name = ESCPOS_STATUS_ENOBASE + (n),
    ESCPOS_STATUS_ERRORS(ESCPOS_STATUS_ENUM_)
#undef ESCPOS_STATUS_ENUM_
};

/* Conditions; the DLE EOT query and bit that report each are in brackets,
 * then the ASB byte and bit when ASB reports it too. */
enum escpos_status_flag {
    ESCPOS_ST_DRAWER = 1u << 0,          /* [1 bit2] drawer kick-out pin 3 high */
    ESCPOS_ST_OFFLINE = 1u << 1,         /* [1 bit3] offline; ASB 1 bit3 */
    ESCPOS_ST_COVER_OPEN = 1u << 2,      /* [2 bit2] cover open; ASB 1 bit5 */
    ESCPOS_ST_FEED_BUTTON = 1u << 3,     /* [2 bit3] paper fed by the FEED button; ASB 1 bit6 */
    ESCPOS_ST_PAPER_STOP = 1u << 4,      /* [2 bit5] printing stopped by paper end */
    ESCPOS_ST_ERROR = 1u << 5,           /* [2 bit6] an error occurred */
    ESCPOS_ST_RECOVERABLE = 1u << 6,     /* [3 bit2] recoverable error (model-dependent) */
    ESCPOS_ST_CUTTER = 1u << 7,          /* [3 bit3] auto-cutter error; ASB 2 bit3 */
    ESCPOS_ST_UNRECOVERABLE = 1u << 8,   /* [3 bit5] unrecoverable error; ASB 2 bit5 */
    ESCPOS_ST_AUTORECOVER = 1u << 9,     /* [3 bit6] auto-recoverable (head hot); ASB 2 bit6 */
    ESCPOS_ST_PAPER_NEAR_END = 1u << 10, /* [4 bits 2,3] paper near end; ASB 3 bits 0,1 */
    ESCPOS_ST_PAPER_OUT = 1u << 11,      /* [4 bits 5,6] paper end; ASB 3 bits 2,3 */
};

/* The conditions that stop printing. */
#define ESCPOS_ST_BLOCKING                                                                         \
    (ESCPOS_ST_OFFLINE | ESCPOS_ST_COVER_OPEN | ESCPOS_ST_PAPER_STOP | ESCPOS_ST_ERROR |           \
     ESCPOS_ST_RECOVERABLE | ESCPOS_ST_CUTTER | ESCPOS_ST_UNRECOVERABLE | ESCPOS_ST_AUTORECOVER |  \
     ESCPOS_ST_PAPER_OUT)

typedef struct escpos_status {
    uint32_t known; /* ESCPOS_ST_* the answers merged so far reported */
    uint32_t flags; /* of those, the ones that hold; always a subset of known */
} escpos_status;

/* Events: what changed from one state to the next. */
enum escpos_status_event {
    ESCPOS_EV_OFFLINE = 1u << 0, /* went offline */
    ESCPOS_EV_ONLINE = 1u << 1,  /* came back online */
    ESCPOS_EV_COVER_OPENED = 1u << 2,
    ESCPOS_EV_COVER_CLOSED = 1u << 3,
    ESCPOS_EV_PAPER_NEAR_END = 1u << 4, /* near end began */
    ESCPOS_EV_PAPER_OUT = 1u << 5,      /* paper end or printing stopped by it began */
    ESCPOS_EV_PAPER_LOADED = 1u << 6,   /* both of those ended */
    ESCPOS_EV_ERROR = 1u << 7,          /* an error condition began */
    ESCPOS_EV_RECOVERED = 1u << 8,      /* was blocked, now ready */
};

/* Parse the answer byte to DLE EOT n into out (known = the conditions that
 * query reports). 0, or -1 with errno EINVAL (n not 1..4, out NULL) or
 * ESCPOS_STATUS_EGARBAGE ((byte & 0x93) != 0x12); out is untouched then. */
int escpos_status_dle(int n, uint8_t byte, escpos_status *out);

/* Parse one ASB block from data[0..len): byte 1 must have
 * (b & 0x93) == 0x10, bytes 2..4 (b & 0x90) == 0. Returns 4 (the bytes
 * used), or -1 with errno EINVAL, ESCPOS_STATUS_ETRUNC (len < 4) or
 * ESCPOS_STATUS_EGARBAGE. Reads no further than data[3]. */
int escpos_status_asb(const uint8_t *data, size_t len, escpos_status *out);

/* Newer answers win: the conditions from reports replace those in into;
 * the others stay. Merging the four DLE EOT answers gives the full state. */
void escpos_status_merge(escpos_status *into, const escpos_status *from);

/* True if the state reports the offline, cover and paper-end conditions
 * and nothing that stops printing holds. */
bool escpos_status_ready(const escpos_status *s);

/* The events (ESCPOS_EV_* bitmask) from before to after. A condition not
 * known in a state counts as not holding. */
uint32_t escpos_status_events(const escpos_status *before, const escpos_status *after);

/* Readable sentence for an ESCPOS_STATUS_E* code, or strerror(). */
const char *escpos_status_strerror(int err);

#endif
