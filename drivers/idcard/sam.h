/*
 * sam — the frames of the resident ID-card reader's security module (SAM,
 * GA 467-2013), as devices.md section 4 describes them. Pure: no I/O, no
 * allocation; every byte read is bounds-checked, so it is fuzzed directly.
 *
 *     Command : AA AA AA 96 69 | Len1 Len2 | CMD | PARA | DATA... | CHK
 *     Response: AA AA AA 96 69 | Len1 Len2 | SW1 | SW2  | SW3 | DATA... | CHK
 *
 * Len is big-endian and counts the bytes after it, CHK included; CHK is the
 * XOR of every byte from Len1 to the last DATA byte. The same framing
 * carries both directions, so one scanner (sam_scan) serves the driver
 * (responses) and the simulators (commands). The scanner resynchronises
 * after garbage: it skips to the next preamble, and after a bad length or
 * checksum it skips one byte, so a preamble hidden in noise costs one frame
 * at most.
 */
#ifndef ONEWINDOW_SAM_H
#define ONEWINDOW_SAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SAM_PREAMBLE_LEN 5
#define SAM_HEADER_LEN   7    /* preamble + Len */
#define SAM_LEN_MAX      4096 /* largest Len accepted (a read with fingerprints is 2314) */
#define SAM_FRAME_MAX    (SAM_HEADER_LEN + SAM_LEN_MAX)

#define SAM_TEXT_LEN   256  /* the text block of every card type */
#define SAM_PHOTO_LEN  1024 /* WLT photo */
#define SAM_FP_LEN     1024 /* fingerprint data, when the card has it */
#define SAM_ADDR_LEN   70   /* appended address (30 03), UCS-2LE */
#define SAM_SAMID_LEN  16
#define SAM_SELECT_LEN 8 /* the card serial area of a select answer */
#define SAM_FIND_LEN   4

/* The commands of devices.md 4.2 (CMD << 8 | PARA). */
enum sam_cmd {
    SAM_CMD_RESET = 0x10FF,
    SAM_CMD_STATUS = 0x11FF,
    SAM_CMD_SAM_ID = 0x12FF,
    SAM_CMD_FIND = 0x2001,
    SAM_CMD_SELECT = 0x2002,
    SAM_CMD_READ = 0x3001,    /* text + photo */
    SAM_CMD_READ_FP = 0x3010, /* text + photo + fingerprint */
    SAM_CMD_READ_ADDR = 0x3003,
    SAM_CMD_SET_RF = 0x61FF, /* one data byte: largest RF frame */
};

/* SW3 values of devices.md 4.3. */
enum sam_sw3 {
    SAM_SW_OK = 0x90,
    SAM_SW_NO_ITEM = 0x91,
    SAM_SW_FOUND = 0x9F,
    SAM_SW_BAD_CHK = 0x10,
    SAM_SW_BAD_LEN = 0x11,
    SAM_SW_BAD_CMD = 0x21,
    SAM_SW_UNAUTHORISED = 0x23,
    SAM_SW_UNKNOWN = 0x24,
    SAM_SW_CARD_AUTH = 0x31,
    SAM_SW_SAM_AUTH = 0x32,
    SAM_SW_VERIFY = 0x33,
    SAM_SW_FP_VERIFY = 0x37,
    SAM_SW_INFO_LEN = 0x3F,
    SAM_SW_CARD_TYPE = 0x40,
    SAM_SW_READ_FAILED = 0x41,
    SAM_SW_RANDOM = 0x47,
    SAM_SW_SELF_TEST = 0x60,
    SAM_SW_NOT_AUTHORISED = 0x66,
    SAM_SW_NO_CARD = 0x80,
    SAM_SW_SELECT_FAILED = 0x81,
};

/* Write frame(payload) = preamble + be16(len + 1) + payload + CHK into out.
 * Returns the frame length, or 0 with errno EINVAL (NULL, empty payload or
 * Len over SAM_LEN_MAX) or ENOBUFS (cap too small). */
size_t sam_frame(uint8_t *out, size_t cap, const uint8_t *payload, size_t len);

/* The complete frame of a command, with data (SAM_CMD_SET_RF takes one
 * byte, the others none: data NULL, datalen 0). 0 with errno as
 * sam_frame, or EINVAL for a data length the command does not take. */
size_t sam_command(enum sam_cmd cmd, const uint8_t *data, size_t datalen, uint8_t *out, size_t cap);

/* A response frame: SW1 = SW2 = 00, sw3, data (for simulators and tests). */
size_t sam_response(uint8_t sw3, const uint8_t *data, size_t datalen, uint8_t *out, size_t cap);

/* The reader's timeout for cmd in milliseconds (devices.md 4.2, from the
 * vendor SDK); 500 for a command it does not know. */
int sam_timeout_ms(enum sam_cmd cmd);

/* A short name for cmd ("find card"), "unknown command" otherwise. */
const char *sam_cmd_name(enum sam_cmd cmd);

/* A readable sentence for an SW3 status ("find card failed (no card)");
 * "unknown status" for a value outside devices.md 4.3. */
const char *sam_status_str(uint8_t sw3);

enum sam_scan {
    SAM_SCAN_FRAME,  /* a frame with a good checksum: *payload, *plen set */
    SAM_SCAN_MORE,   /* no complete frame yet: read more bytes */
    SAM_SCAN_BADCHK, /* a frame whose checksum is wrong */
    SAM_SCAN_BADLEN, /* a header whose Len is 0 or over SAM_LEN_MAX */
};

/* Look for the first frame in buf[0..len). Always sets *consumed, the bytes
 * the caller drops before scanning again: for FRAME everything up to the
 * end of the frame; for MORE the garbage before a (possible) preamble; for
 * BADCHK and BADLEN the garbage and the first byte of the bad preamble.
 * *skipped (may be NULL) is the garbage part of *consumed, bytes that were
 * not part of any frame. For FRAME, *payload points into buf at the bytes
 * between Len and CHK and *plen is their count (Len - 1). */
enum sam_scan sam_scan(const uint8_t *buf, size_t len, const uint8_t **payload, size_t *plen,
                       size_t *consumed, size_t *skipped);

/* A response payload, split. data points into the payload. */
typedef struct sam_reply {
    uint8_t sw1, sw2, sw3;
    const uint8_t *data;
    size_t datalen;
} sam_reply;

/* Split a response payload; -1 with errno EBADMSG if it is shorter than
 * SW1 SW2 SW3. */
int sam_reply_parse(const uint8_t *payload, size_t plen, sam_reply *out);

/* True if r has a shape that answers cmd: an SW3 the command can give, and
 * for success the data length it promises. A reply of another shape is a
 * late answer to an earlier command (or noise) and is not the answer. */
bool sam_reply_fits(enum sam_cmd cmd, const sam_reply *r);

/* The data of a successful read (30 01 or 30 10), split by the lengths at
 * its head: text at data + 4 (+ 6 with fingerprints), then photo, then
 * fingerprint. The lengths must add up to the data exactly.  */
typedef struct sam_card_data {
    const uint8_t *text, *photo, *fp;
    size_t textlen, photolen, fplen;
} sam_card_data;

/* 0, or -1 with errno EBADMSG if the lengths do not fit the data. */
int sam_card_data_parse(const sam_reply *r, bool with_fp, sam_card_data *out);

/* Build the data of a read answer (the inverse of sam_card_data_parse):
 * the length header and the parts. Returns the data length, 0 with errno
 * ENOBUFS or EINVAL (a part over 65535 bytes). */
size_t sam_card_data_build(const sam_card_data *in, bool with_fp, uint8_t *out, size_t cap);

#endif
