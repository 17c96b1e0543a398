/*
 * fuzz_request.h — the input format of fuzz_request.c, shared with the
 * program that writes its seeds (request_seeds.c).
 *
 * An input is a sequence of records, each one request in the scratch
 * hall:
 *
 *   record := ctl:u8  len:u16 (big-endian)  payload[len]
 *
 * payload is what a device link carries in a frame: an Envelope, given to
 * proto_unpack() and, when accepted, to hall_request(). A record cut short
 * by the end of the input keeps the bytes there are; fewer than three
 * bytes left end the input. ctl:
 *
 *   bits 0-2  the device sending it (FR_DEV_*)
 *   bit 3     the loop turn ends after it: hall_commit(), then the push
 *             and the snapshots a SUBSCRIBE asked for
 *   bit 4     hall_tick() runs before it (the timers' work)
 *
 * The other bits are ignored. The turn also ends after the last record.
 *
 * Three rewrites keep records meaningful in a hall shared by every input:
 *   - a ticket_id of 1 to FR_ALIASES names the tickets answered earlier
 *     in the same input, 1 the latest (until there are that many, it is
 *     taken as written);
 *   - a non-zero request_id is offset by a number that differs for every
 *     input (equal ids in one input stay equal: a retry);
 *   - an offline ticket's issued_at_ms below FR_RELATIVE_MS is that many
 *     milliseconds before now.
 */
#ifndef ONEWINDOW_FUZZ_REQUEST_H
#define ONEWINDOW_FUZZ_REQUEST_H

#define FR_DEV_KIOSK     0 /* kiosk "kiosk-1" */
#define FR_DEV_KIOSK2    1 /* kiosk "kiosk-2" */
#define FR_DEV_WINDOW1   2 /* the terminal of window 1 (areas A and B) */
#define FR_DEV_WINDOW2   3 /* the terminal of window 2 (area A) */
#define FR_DEV_WINDOW3   4 /* the terminal of window 3 (areas B and C) */
#define FR_DEV_WINDOW9   5 /* the terminal of window 9, which the hall does not have */
#define FR_DEV_DISPLAY   6 /* display "display-1" */
#define FR_DEV_TOOL      7 /* tool "tool-1" */
#define FR_DEV_MASK      0x07
#define FR_COMMIT        0x08
#define FR_TICK          0x10
#define FR_RECORD_HEADER 3
#define FR_ALIASES       8
#define FR_RELATIVE_MS   86400000LL

/*
 * The scratch hall: areas A (general, prefix A), B and C; windows 1
 * (A, B), 2 (A) and 3 (B, C), closed; clerks c1 and c2, and c3 who is not
 * active; appointments "appt-a" (area A, due now) and "appt-b" (area B, in
 * an hour); matters A-1 and B-1. Display numbers have 4 digits, the lease
 * band starts at 900. Its [privacy] keys are fixed, so that a seed can
 * carry an ID number sealed to the hall (by kiosk-1: the envelope's
 * context) that opens: the hall secret FR_SECRET_HEX and the sealing key
 * FR_SEALING_KEY. Test keys only, never a hall's.
 */
#define FR_SECRET_HEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
#define FR_SEALING_KEY                                                                             \
    "-----BEGIN PRIVATE KEY-----\n"                                                                \
    "MC4CAQAwBQYDK2VuBCIEIGDfYrlGBWuPY+iTnFdLaEIeWZXh1EMCdGvWznr607V7\n"                           \
    "-----END PRIVATE KEY-----\n"

#endif
