/*
 * busmaster — the hall's RS-485 bus as the controller sees it: window
 * displays, the hall board, clerks' call-pads and citizens' rating pads
 * behind one Modbus master (libmodbus), over RTU (a serial port) or TCP (a
 * gateway or the simulator).
 *
 * A master is made on an event loop's thread with busmaster_new() from a
 * busmaster_conf naming the transport and the devices. libmodbus blocks,
 * so one worker thread owned by the master makes every bus transaction:
 * it polls call-pads and rating pads every poll_ms (10 times a second by
 * default), checks displays every check_ms, writes what changed, runs
 * broadcasts and scans, and posts what it learns back to the loop with
 * ev_post(). Every callback runs on the loop's thread.
 *
 * What the master promises (docs/bus.md has the reasons):
 *  - Display state is "latest wins": each display block holds the newest
 *    state asked for; the worker writes it when it changed, retries a
 *    failed write, and writes every block again when a device comes back
 *    online or restarted. A failed write is reported (write_failed), never
 *    dropped.
 *  - A window display shows a call and blinks for blink_ms (a recall of
 *    the same number blinks again).
 *  - The hall board shows the newest calls, newest on top; a call leaves
 *    the board only after it was shown for board_min_ms, so in a burst
 *    later calls wait (in order) instead of pushing earlier ones off. A
 *    call already on the board (a recall) moves to the top at once and no
 *    row leaves for it.
 *  - Call-pad keys reach the key callback (a sign-in the signin
 *    callback, with its digits) exactly once and in order, whatever polls
 *    or acknowledgements are lost (busmap.h: the FIFO).
 *  - A rating prompt ends exactly once: rated (level 1..5), timed out, or
 *    cancelled (a new prompt on the same pad, busmaster_free).
 *  - A device is offline after offline_after missed replies in a row and
 *    online again at its first good reply; both are reported.
 */
#ifndef ONEWINDOW_BUSMASTER_H
#define ONEWINDOW_BUSMASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "busmap.h"
#include "ev.h"

#define BUSMASTER_DEVICES_MAX 64

typedef enum busmaster_transport {
    BUSMASTER_RTU, /* Modbus RTU on a serial port */
    BUSMASTER_TCP, /* Modbus TCP */
    BUSMASTER_TRANSPORT_COUNT
} busmaster_transport;

typedef struct busmaster_conf {
    busmaster_transport transport;
    struct {
        char device[256]; /* serial port path */
        int baud;         /* 9600 */
        char parity;      /* 'N', 'E' or 'O'; 'N' */
        int data_bits;    /* 8 */
        int stop_bits;    /* 1 */
        bool rs485;       /* ask the port for RS-485 mode (TIOCSRS485); false */
    } rtu;
    struct {
        char host[256]; /* "127.0.0.1" */
        int port;       /* 502 */
    } tcp;
    int response_timeout_ms; /* wait for a reply's first byte; 200 */
    int byte_timeout_ms;     /* longest gap inside a reply; 50 */
    int offline_after;       /* missed replies in a row that make a device offline; 3 */
    int poll_ms;             /* call-pad and rating pad poll period; 100 */
    int check_ms;            /* display health check period; 1000 */
    int probe_ms;            /* how often an offline device is tried; 1000 */
    int broadcast_wait_ms;   /* how long a broadcast waits for the slaves to act; 50 */
    int blink_ms;            /* how long a window display blinks a new call; 5000 */
    int board_min_ms;        /* least time a call stays on the hall board; 5000 */
    int board_rows;          /* calls on the board, 1..BUSMAP_BOARD_ROWS; BUSMAP_BOARD_ROWS */
    int notice_scroll_ms;    /* scroll step of the notice line, 0 = still; 200 */
    int rating_grace_ms;     /* added to a prompt's timeout before the master gives up; 2000 */
    size_t ndevices;
    bus_device devices[BUSMASTER_DEVICES_MAX];
} busmaster_conf;

/* The defaults above, RTU on "/dev/ttyUSB0", no devices. */
void busmaster_conf_init(busmaster_conf *conf);
/* Set conf->transport from its name ("rtu", "tcp"). 0, or -1 with errno
 * EINVAL and "unknown bus transport 'x' (known: rtu, tcp)" in err. */
int busmaster_conf_transport(busmaster_conf *conf, const char *name, char *err, size_t errlen);
/* The configuration name of a transport, NULL if out of range. */
const char *busmaster_transport_name(busmaster_transport t);
/* Set conf's devices from a list in busmap_parse_devices() syntax. */
int busmaster_conf_devices(busmaster_conf *conf, const char *spec, char *err, size_t errlen);

typedef struct busmaster busmaster;

/* How a rating prompt ended. */
typedef enum busmaster_rating_end {
    BUSMASTER_RATED,     /* level is 1..5 */
    BUSMASTER_TIMED_OUT, /* no rating in time (on the pad or on the master) */
    BUSMASTER_CANCELLED, /* a newer prompt on the pad, or busmaster_free */
} busmaster_rating_end;

/* A one-shot request's outcome (broadcast). */
typedef void busmaster_done_fn(busmaster *bm, bool ok, const char *detail, void *arg);

/* One answer of a scan. */
typedef struct busmaster_found {
    int addr;
    uint16_t map_version;
    uint16_t kind; /* bus_kind as the device reports it */
    uint16_t firmware;
} busmaster_found;
/* A scan's answers, in address order; found is valid during the call. */
typedef void busmaster_scan_fn(busmaster *bm, const busmaster_found *found, size_t n, void *arg);

typedef struct busmaster_callbacks {
    /* A call-pad key: exactly once per press, in press order. arg_value is
     * the transfer target window (0 for other keys). */
    void (*key)(busmaster *bm, const bus_device *dev, bus_key key, uint16_t arg_value, uint16_t seq,
                void *arg);
    /* A rating prompt ended (busmaster_prompt_rating's id). */
    void (*rating)(busmaster *bm, const bus_device *dev, uint16_t prompt, busmaster_rating_end end,
                   int level, void *arg);
    /* A device went online or offline; why says what happened. */
    void (*health)(busmaster *bm, const bus_device *dev, bool online, const char *why, void *arg);
    /* A display write failed (it is retried; the newest state wins). */
    void (*write_failed)(busmaster *bm, const bus_device *dev, const char *what, const char *why,
                         void *arg);
    /* Anything else worth a log line: RS-485 mode refused, a device that
     * sent registers no device of the map sends, a reconnect. */
    void (*notice)(busmaster *bm, const char *text, void *arg);
    /* A device answered with a new BOOT_ID: it restarted (or something
     * else answers in its place; the bus has no authentication, see
     * docs/bus.md). Once per change seen, after the notice that says so;
     * not for the first boot id a device shows. */
    void (*restarted)(busmaster *bm, const bus_device *dev, uint16_t boot_id, void *arg);
    /* A call-pad's sign-in key (BUS_KEY_SIGNIN, never given to key):
     * exactly once per press, in press order among the keys, with the
     * clerk number and PIN the pad's entry registers held for it (digits;
     * both "" when the entry was not this press's). The strings are wiped
     * after the call. */
    void (*signin)(busmaster *bm, const bus_device *dev, const char *clerk, const char *pin,
                   uint16_t seq, void *arg);
} busmaster_callbacks;

/* Open the transport (RTU: the port now; TCP: the worker connects and
 * reconnects) and start the worker. Callbacks (each may be NULL) run on
 * loop's thread with arg. NULL with errno EINVAL (a NULL argument, a bad
 * configuration: a timeout or period < 1, line settings other than baud >
 * 0, parity N/E/O, 5..8 data bits and 1..2 stop bits, no devices, an
 * address twice), ENOMEM, or
 * the port's error, with a sentence in err when err is not NULL. */
busmaster *busmaster_new(ev_loop *loop, const busmaster_conf *conf, const busmaster_callbacks *cb,
                         void *arg, char *err, size_t errlen);

/* Stop the worker (waiting for the transaction in progress), deliver what
 * it already learned, end open rating prompts with BUSMASTER_CANCELLED and
 * pending broadcasts and scans as failed, close and free. NULL is fine.
 * Loop thread only, never from one of this master's callbacks. */
void busmaster_free(busmaster *bm);

/* Show a call on the window displays of window: number ("A012", printable
 * ASCII, at most 8), the masked name when known (UTF-8 or NULL; masked
 * again with busmap_mask_name), blinking for blink_ms (< 0: the
 * configuration's). 0, or -1 with errno EINVAL (bad number) or ENOENT (no
 * window display for window). */
int busmaster_show_call(busmaster *bm, int window, const char *number, const char *name,
                        int blink_ms);
/* Show a window's state, not a call: number ("" for none) and a line of
 * text (UTF-8, cut at a whole character to fit), steady. 0, or -1 with
 * errno EINVAL or ENOENT (no window display for window). */
int busmaster_show_window(busmaster *bm, int window, const char *number, const char *text);
/* Put a call on the hall board(s) (see the board promise above). 0, or -1
 * with errno EINVAL, ENOENT (no board) or ENOBUFS (256 calls already wait). */
int busmaster_board_post(busmaster *bm, int window, const char *number, const char *name);
/* The board's notice line (UTF-8; cut at a whole character to fit). */
int busmaster_set_notice(busmaster *bm, const char *text);
/* The small display of window's call-pad(s): current ticket ("" for
 * none), how many wait, the ticket's marks (BUSMAP_PAD_*) and a message
 * line (UTF-8, "" or NULL for none; cut at a whole character to fit).
 * -1 with errno EINVAL or ENOENT. */
int busmaster_set_callpad(busmaster *bm, int window, const char *number, int waiting,
                          uint16_t flags, const char *text);
/* Ask window's rating pad to rate number within timeout_s seconds (1..3600).
 * The prompt's id goes to *prompt (may be NULL); the rating callback
 * reports its end. A prompt still open on that pad ends CANCELLED first.
 * -1 with errno EINVAL or ENOENT. */
int busmaster_prompt_rating(busmaster *bm, int window, const char *number, int timeout_s,
                            uint16_t *prompt);
/* Write values[0..n) (n 1..123) at holding register reg of every device
 * at once (slave address 0). Slaves do not answer a broadcast: done
 * reports ok once broadcast_wait_ms passed without an error. -1 with
 * errno EINVAL or ENOMEM. */
int busmaster_broadcast(busmaster *bm, uint16_t reg, const uint16_t *values, size_t n,
                        busmaster_done_fn *done, void *arg);
/* Ask every address first..last (1..247) for its identity, between the
 * regular polls (which go on). done gets the answers. -1 with errno
 * EINVAL or ENOMEM. */
int busmaster_scan(busmaster *bm, int first, int last, busmaster_scan_fn *done, void *arg);

/* Whether the device at addr is online now, as last reported by the
 * health callback (false until its first good reply, and for an address
 * that is not in the configuration). */
bool busmaster_online(const busmaster *bm, int addr);

#endif
