/*
 * busmap — the register map of the hall's RS-485 Modbus devices, as pure
 * encode and decode functions (no I/O, no threads).
 *
 * Four device kinds share one bus: window displays, the hall board,
 * clerks' call-pads and citizens' rating pads. Every device has the same
 * identity and event header in its input registers (FC04); each kind adds
 * holding-register blocks (FC03/FC06/FC16) that fit in one FC16 write, so
 * a device applies a whole display state at once and never shows half of
 * it. Registers are big-endian (Modbus); text is GB18030, two bytes a
 * register with the first byte in the high half, padded with 0x00, and its
 * length in bytes in its own register. docs/bus.md draws the whole map and
 * says why it differs from the first proposal.
 *
 * Key presses and ratings are events in a FIFO with a 16-bit sequence
 * number. The master acknowledges by writing the device's boot id and the
 * last sequence it consumed (BUSMAP_HR_ACK_BOOT, BUSMAP_HR_ACK_SEQ, one
 * FC16); the device keeps every event until then, and ignores an
 * acknowledgement meant for an earlier boot. A busmap_seq
 * remembers the last sequence delivered, so a poll that repeats events
 * (lost acknowledgement) delivers nothing twice and a poll that was missed
 * loses nothing. Sequences compare modulo 2^16.
 *
 * Functions return -1 with errno (EINVAL for bad arguments, EBADMSG for
 * register values no device of this map would send, ENOSPC for text that
 * does not fit) and never print.
 */
#ifndef ONEWINDOW_BUSMAP_H
#define ONEWINDOW_BUSMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The version of this map, in BUSMAP_IR_MAP_VERSION. */
#define BUSMAP_VERSION 2

/* ---- input registers (FC04), every kind ---- */
#define BUSMAP_IR_MAP_VERSION  0x1000 /* BUSMAP_VERSION */
#define BUSMAP_IR_KIND         0x1001 /* bus_kind */
#define BUSMAP_IR_FIRMWARE     0x1002 /* BCD, 0x0102 = 1.2 */
#define BUSMAP_IR_BOOT_ID      0x1003 /* new non-zero value at every power-up */
#define BUSMAP_IR_STATUS       0x1004 /* BUSMAP_ST_* */
#define BUSMAP_IR_EV_COUNT     0x1005 /* events not yet acknowledged, 0..BUSMAP_FIFO_MAX */
#define BUSMAP_IR_EV_FIRST     0x1006 /* the FIFO, oldest first: seq, code, arg per event */
#define BUSMAP_IR_PROMPT_STATE 0x101e /* rating pad: bus_prompt_state */
#define BUSMAP_IR_PROMPT_ID    0x101f /* rating pad: the prompt shown or last answered */
#define BUSMAP_IR_ENTRY        0x1020 /* call-pad: the sign-in typed on its keypad (map 2) */
#define BUSMAP_IR_END          0x102f

#define BUSMAP_FIFO_MAX 8
#define BUSMAP_EV_REGS  3
/* Identity read by a scan: map version, kind, firmware, boot id. */
#define BUSMAP_IDENT_REGS 4
/* One poll read: boot id, status, count and the oldest event. */
#define BUSMAP_POLL_REGS (3 + BUSMAP_EV_REGS)

#define BUSMAP_ST_OK            0x0001
#define BUSMAP_ST_DISPLAY_FAULT 0x0002
#define BUSMAP_ST_KEY_STUCK     0x0004
#define BUSMAP_ST_FIFO_FULL     0x0008 /* presses are refused (with an error beep) */

/* ---- holding registers ---- */
#define BUSMAP_HR_ACK_BOOT   0x0000 /* call-pad, rating pad: the boot id the ack is for */
#define BUSMAP_HR_ACK_SEQ    0x0001 /* ... and the last seq taken: drop events with seq <= */
#define BUSMAP_ACK_REGS      2      /* both, in one FC16 */
#define BUSMAP_HR_BRIGHTNESS 0x0002 /* every kind: 0..15, a broadcast target */
#define BUSMAP_HR_WINDOW     0x0100 /* window display block */
#define BUSMAP_HR_BOARD      0x0200 /* hall board: the calls */
#define BUSMAP_HR_NOTICE     0x0300 /* hall board: the scrolling notice line */
#define BUSMAP_HR_CALLPAD    0x0400 /* call-pad: its small display */
#define BUSMAP_HR_PROMPT     0x0500 /* rating pad: the prompt */
#define BUSMAP_HR_END        0x0600

#define BUSMAP_NUMBER_MAX      8   /* ticket number bytes ("A012"), ASCII */
#define BUSMAP_WINDOW_TEXT_MAX 64  /* window display text bytes */
#define BUSMAP_NAME_MAX        12  /* masked name bytes on a board row */
#define BUSMAP_BOARD_ROWS      8   /* calls a board shows at once */
#define BUSMAP_NOTICE_MAX      200 /* notice line bytes */
#define BUSMAP_PAD_TEXT_MAX    32  /* call-pad message line bytes (16 Chinese characters) */
#define BUSMAP_CLERK_MAX       16  /* clerk number digits typed on a call-pad */
#define BUSMAP_PIN_MAX         8   /* PIN digits typed on a call-pad */

/* Block sizes in registers; each fits one FC16 (at most 123). */
#define BUSMAP_WINDOW_REGS  (4 + BUSMAP_NUMBER_MAX / 2 + BUSMAP_WINDOW_TEXT_MAX / 2)
#define BUSMAP_ROW_REGS     (2 + BUSMAP_NUMBER_MAX / 2 + BUSMAP_NAME_MAX / 2)
#define BUSMAP_BOARD_REGS   (2 + BUSMAP_BOARD_ROWS * BUSMAP_ROW_REGS)
#define BUSMAP_NOTICE_REGS  (3 + BUSMAP_NOTICE_MAX / 2)
#define BUSMAP_CALLPAD_REGS (4 + BUSMAP_NUMBER_MAX / 2 + BUSMAP_PAD_TEXT_MAX / 2)
#define BUSMAP_PROMPT_REGS  (2 + BUSMAP_NUMBER_MAX / 2)
#define BUSMAP_BLOCK_MAX    BUSMAP_NOTICE_REGS
/* The sign-in entry in input registers: SEQ, CLERK_LEN, CLERK, PIN_LEN, PIN. */
#define BUSMAP_ENTRY_REGS (3 + BUSMAP_CLERK_MAX / 2 + BUSMAP_PIN_MAX / 2)

/* FLAGS of the call-pad block: marks of the current ticket. */
#define BUSMAP_PAD_APPOINTMENT 0x0001 /* 预约 */
#define BUSMAP_PAD_GREEN       0x0002 /* 绿色通道 */
#define BUSMAP_PAD_TRANSFERRED 0x0004 /* 转办 */
#define BUSMAP_PAD_FLAGS       0x0007

typedef enum bus_kind {
    BUS_KIND_NONE = 0,
    BUS_KIND_WINDOW = 1,  /* window display */
    BUS_KIND_BOARD = 2,   /* hall board */
    BUS_KIND_CALLPAD = 3, /* clerk's call-pad */
    BUS_KIND_RATING = 4,  /* citizen's rating pad */
} bus_kind;

/* Call-pad key codes (the code of a call-pad event). */
typedef enum bus_key {
    BUS_KEY_NEXT = 1,     /* call the next ticket */
    BUS_KEY_RECALL = 2,   /* call the current ticket again */
    BUS_KEY_NOSHOW = 3,   /* the citizen did not come */
    BUS_KEY_START = 4,    /* service starts */
    BUS_KEY_FINISH = 5,   /* service finished */
    BUS_KEY_TRANSFER = 6, /* transfer; arg = target window */
    BUS_KEY_PAUSE = 7,    /* window paused (clerk away) */
    BUS_KEY_RESUME = 8,   /* window open again */
    BUS_KEY_SIGNIN = 9,   /* sign in: the clerk number and PIN are in the entry (IR 0x1020) */
    BUS_KEY_SIGNOUT = 10, /* sign out */
} bus_key;
#define BUS_KEY_MAX 10

/* Rating pad event codes: 1..5 are the level (stars: 5 非常满意 .. 1
 * 非常不满意), BUS_RATING_TIMEOUT that the prompt timed out on the pad;
 * arg is the prompt id in both cases. */
#define BUS_RATING_TIMEOUT 0x10

/* BUSMAP_IR_PROMPT_STATE. */
typedef enum bus_prompt_state {
    BUS_PROMPT_IDLE = 0,
    BUS_PROMPT_SHOWN = 1,
    BUS_PROMPT_RATED = 2,
    BUS_PROMPT_TIMED_OUT = 3,
} bus_prompt_state;

typedef struct bus_event {
    uint16_t seq;
    uint16_t code;
    uint16_t arg;
} bus_event;

/* "window", "board", "callpad", "rating" <-> kind; NULL / BUS_KIND_NONE if
 * unknown. */
const char *busmap_kind_name(bus_kind k);
bus_kind busmap_kind_parse(const char *name);
/* "next", "recall", "noshow", "start", "finish", "transfer", "pause",
 * "resume", "signin", "signout" <-> key; NULL / 0 if unknown. */
const char *busmap_key_name(int key);
int busmap_key_parse(const char *name);

/* One device of a bus: its slave address (1..247), kind and window number
 * (0 for the hall board, 1..9999 otherwise). */
typedef struct bus_device {
    int addr;
    bus_kind kind;
    int window;
} bus_device;

/* Parse a device list "ADDR:KIND[:WINDOW],..." ("1:board,11:window:1,
 * 41:callpad:1,71:rating:1") into out (max entries). The number of devices,
 * or -1 with errno EINVAL and a sentence in err (when not NULL) for a bad
 * entry, a duplicate address or more than max devices. */
int busmap_parse_devices(const char *spec, bus_device *out, size_t max, char *err, size_t errlen);

/* CRC-16/MODBUS of data[0..len) (polynomial 0xA001 reflected, init
 * 0xFFFF); on the wire the low byte goes first. */
uint16_t busmap_crc16(const uint8_t *data, size_t len);

/* ---- text ---- */

/* UTF-8 to GB18030 in out[0..cap): characters are converted one by one
 * and stop at the first that does not fit whole, so a display never gets
 * half a character. Invalid UTF-8 and control characters become '?'. The
 * number of bytes written, or -1 with errno EINVAL (NULL) or the iconv
 * error. */
int busmap_gb18030(const char *utf8, uint8_t *out, size_t cap);
/* GB18030 bytes to NUL-terminated UTF-8 in out (cap > 0); invalid bytes
 * become '?', and output stops at a whole character. The length written. */
int busmap_utf8(const uint8_t *gb, size_t len, char *out, size_t cap);
/* Mask a name for public display: the first character and, for three or
 * more, the last, with '*' between ("张三丰" -> "张*丰", "张三" -> "张*").
 * Masking a masked name changes nothing. Result in out (NUL-terminated). */
void busmap_mask_name(const char *utf8, char *out, size_t cap);

/* Bytes to registers: first byte high, a missing last byte 0x00, the rest
 * of regs[0..nregs) zero. -1 with errno ENOSPC if len > 2 * nregs. */
int busmap_text_to_regs(const uint8_t *bytes, size_t len, uint16_t *regs, size_t nregs);
/* Registers to len bytes; -1 with errno EBADMSG if len > 2 * nregs. */
int busmap_regs_to_text(const uint16_t *regs, size_t nregs, size_t len, uint8_t *out);

/* ---- blocks ---- */

/* HR BUSMAP_HR_WINDOW: gen (a change restarts the blink, so a recall of
 * the same number blinks again), window, blink_ms, number, text. */
typedef struct busmap_window {
    uint16_t gen;
    uint16_t window;
    uint16_t blink_ms;                  /* 0 = steady */
    char number[BUSMAP_NUMBER_MAX + 1]; /* ASCII, NUL-terminated */
    uint8_t text[BUSMAP_WINDOW_TEXT_MAX];
    size_t text_len;
} busmap_window;

typedef struct busmap_row {
    uint16_t window;
    char number[BUSMAP_NUMBER_MAX + 1];
    uint8_t name[BUSMAP_NAME_MAX];
    size_t name_len;
} busmap_row;

/* HR BUSMAP_HR_BOARD: gen, row count, rows (row 0 = newest, on top). */
typedef struct busmap_board {
    uint16_t gen;
    uint16_t rows;
    busmap_row row[BUSMAP_BOARD_ROWS];
} busmap_board;

/* HR BUSMAP_HR_NOTICE: gen, scroll step in ms (0 = still), text. */
typedef struct busmap_notice {
    uint16_t gen;
    uint16_t scroll_ms;
    uint8_t text[BUSMAP_NOTICE_MAX];
    size_t text_len;
} busmap_notice;

/* HR BUSMAP_HR_CALLPAD: gen, the waiting count, the clerk's current
 * ticket, its marks (BUSMAP_PAD_*) and a message line (GB18030: a
 * refusal, "请先签到", "再按一次确认过号"; empty for none). */
typedef struct busmap_callpad {
    uint16_t waiting;
    uint16_t gen;
    char number[BUSMAP_NUMBER_MAX + 1];
    uint16_t flags;
    uint8_t text[BUSMAP_PAD_TEXT_MAX];
    size_t text_len;
} busmap_callpad;

/* IR BUSMAP_IR_ENTRY: what the clerk typed for the sign-in event whose
 * sequence number is seq: the clerk number and the PIN, digits only. The
 * pad keeps one entry, refuses another sign-in press while its event is
 * not acknowledged, and clears the entry (seq 0) once it is. */
typedef struct busmap_entry {
    uint16_t seq;
    char clerk[BUSMAP_CLERK_MAX + 1];
    char pin[BUSMAP_PIN_MAX + 1];
} busmap_entry;

/* HR BUSMAP_HR_PROMPT: a new non-zero id starts a prompt for number that
 * times out after timeout_s on the pad; id 0 ends any prompt. */
typedef struct busmap_prompt {
    uint16_t id;
    uint16_t timeout_s;
    char number[BUSMAP_NUMBER_MAX + 1];
} busmap_prompt;

/* Encode into regs (the block's size, BUSMAP_*_REGS); the number of
 * registers, or -1 with errno EINVAL (NULL, a number longer than
 * BUSMAP_NUMBER_MAX or not printable ASCII, a length over its maximum,
 * more than BUSMAP_BOARD_ROWS rows). */
int busmap_window_encode(const busmap_window *w, uint16_t *regs);
int busmap_board_encode(const busmap_board *b, uint16_t *regs);
int busmap_notice_encode(const busmap_notice *n, uint16_t *regs);
int busmap_callpad_encode(const busmap_callpad *c, uint16_t *regs);
int busmap_prompt_encode(const busmap_prompt *p, uint16_t *regs);

/* Decode nregs registers (at least the block's size); 0, or -1 with errno
 * EINVAL (too few registers) or EBADMSG (a length or count out of range, a
 * number that is not printable ASCII). */
int busmap_window_decode(const uint16_t *regs, size_t nregs, busmap_window *w);
int busmap_board_decode(const uint16_t *regs, size_t nregs, busmap_board *b);
int busmap_notice_decode(const uint16_t *regs, size_t nregs, busmap_notice *n);
int busmap_callpad_decode(const uint16_t *regs, size_t nregs, busmap_callpad *c);
int busmap_prompt_decode(const uint16_t *regs, size_t nregs, busmap_prompt *p);
/* The sign-in entry (BUSMAP_ENTRY_REGS): encode refuses (EINVAL) and
 * decode rejects (EBADMSG) anything but 0..BUSMAP_CLERK_MAX and
 * 0..BUSMAP_PIN_MAX ASCII digits. */
int busmap_entry_encode(const busmap_entry *e, uint16_t *regs);
int busmap_entry_decode(const uint16_t *regs, size_t nregs, busmap_entry *e);

/* ---- events ---- */

/* True if sequence a comes after b (modulo 2^16: within 32767 after). */
bool busmap_seq_after(uint16_t a, uint16_t b);

/* The poll header read from BUSMAP_IR_BOOT_ID on. */
typedef struct busmap_poll {
    uint16_t boot_id;
    uint16_t status;
    uint16_t count; /* events in the FIFO, 0..BUSMAP_FIFO_MAX */
} busmap_poll;

/* Decode a poll header from regs[0..nregs) (at least 3 registers).
 * -1 with errno EINVAL (too few) or EBADMSG (count over BUSMAP_FIFO_MAX,
 * boot id 0). */
int busmap_poll_decode(const uint16_t *regs, size_t nregs, busmap_poll *out);

/* Decode count FIFO entries from regs (BUSMAP_EV_REGS each, nregs of
 * them) into out. -1 with errno EINVAL (too few registers, count over
 * BUSMAP_FIFO_MAX) or EBADMSG (sequences not strictly increasing, a code
 * of 0). */
int busmap_fifo_decode(const uint16_t *regs, size_t nregs, size_t count, bus_event *out);

/* The master's memory of one device's events: the boot id it saw last and
 * the last sequence delivered. Zero-initialise. */
typedef struct busmap_seq {
    bool known;       /* last is valid */
    uint16_t last;    /* last sequence delivered */
    uint16_t boot_id; /* 0 until the first poll */
} busmap_seq;

/* Take the events of one poll (ev[0..n), oldest first, as decoded) and
 * copy those not delivered yet to fresh, in order; remember the last. A
 * boot id different from the one seen before means the device restarted
 * and its sequence space with it: everything it holds is new. The number
 * of fresh events. */
size_t busmap_seq_accept(busmap_seq *s, uint16_t boot_id, const bus_event *ev, size_t n,
                         bus_event *fresh);

#endif
