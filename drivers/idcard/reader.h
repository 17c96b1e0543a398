/*
 * reader — the resident ID-card reader behind one interface, whatever
 * carries its frames: "serial" (termios, 115200 8N1), "usb" (libusb bulk
 * endpoints) or "sim" (a samdev in process).
 *
 * A reader is made on an event loop's thread with reader_new(). A worker
 * thread owned by the reader makes every blocking call: it asks the SAM's
 * status until it answers, then looks for a card every poll_ms (find ->
 * select -> read -> appended address). Results come back on the loop's
 * thread through ev_post():
 *
 *  - identity: a card was read, decoded and checked. One swipe gives one
 *    identity: a card left on the reader is not read again until a find
 *    has reported it gone and it is presented again. The identity and its
 *    photo are valid during the call only; the driver wipes them after.
 *  - error: a readable sentence and an idcard_result (the reader not
 *    answering, garbage, a checksum error, a card that is expired, has a
 *    bad check digit or an impossible date, ...). A card that cannot be
 *    decoded or checked is never passed as an identity. A failure that may
 *    pass (a frame error, a card pulled away during the read) is retried
 *    at the next poll; a card refused for what it says is not read again
 *    until it is presented again.
 *  - state: the reader went online (its SAM answers) or offline (it stopped
 *    answering, or its SAM failed its self-test).
 *
 * No clear personal field reaches a log or an error sentence; the clear
 * text block, photo and fingerprint are wiped from the driver's buffers
 * after each read. docs/idcard.md has the details.
 */
#ifndef ONEWINDOW_READER_H
#define ONEWINDOW_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clk.h"
#include "ev.h"
#include "idcard.h"
#include "samdev.h"

/* The backends, in the order of the backend table in reader.c. */
typedef enum reader_backend {
    READER_BACKEND_SIM,    /* in process (reader_sim.h) */
    READER_BACKEND_SERIAL, /* a tty: USB-serial or RS-232 (reader_serial.h) */
    READER_BACKEND_USB,    /* vendor bulk endpoints through libusb (reader_usb.h) */
    READER_BACKEND_COUNT
} reader_backend;

typedef struct reader_conf {
    reader_backend backend;
    int poll_ms;           /* find-card interval; default 500 */
    int cmd_timeout_ms;    /* status, find, select, appended address; default 500 */
    int read_timeout_ms;   /* read text + photo (+ fingerprint); default 3500 */
    bool fingerprint;      /* read with 30 10; the fingerprint is discarded. Default false */
    bool appended_address; /* ask for the appended address (30 03) after a read; default true */
    bool accept_expired;   /* pass an expired card as an identity with expired set;
                              default false: an IDCARD_EXPIRED error instead */
    const clk_zone *zone;  /* the hall's zone, for today's date (not owned, must outlive
                              the reader); used when today is 0 */
    int32_t today;         /* a fixed yyyymmdd instead of the zone's date (tests) */
    struct {
        samdev_card card; /* the card on the reader at start; default none */
    } sim;
    struct {
        char device[256]; /* "/dev/ttyUSB0"; required */
        int baud;         /* default 115200 */
    } serial;
    struct {
        uint16_t vid, pid; /* required */
        char model[16];    /* endpoint mapping: "bulk" (default) or "huashi" */
        int interface;     /* default 0 */
    } usb;
} reader_conf;

/* Defaults: sim backend, the values above, no zone. */
void reader_conf_init(reader_conf *conf);

/* Set conf->backend from its configuration name. 0, or -1 with errno
 * EINVAL and "unknown card reader backend 'foo' (known: sim, serial, usb)"
 * in err (when err is not NULL). */
int reader_conf_backend(reader_conf *conf, const char *name, char *err, size_t errlen);

/* The configuration name of a backend, NULL if out of range. */
const char *reader_backend_name(reader_backend b);

typedef struct reader reader;

/* A card was read: id and its photo are valid during the call only. */
typedef void reader_identity_fn(reader *r, const idcard_identity *id, void *arg);
/* Something failed; detail is a sentence (valid during the call) that
 * never quotes a personal field. */
typedef void reader_error_fn(reader *r, idcard_result code, const char *detail, void *arg);
/* The reader came online (online true) or went offline, and why. */
typedef void reader_state_fn(reader *r, bool online, const char *detail, void *arg);

typedef struct reader_callbacks {
    reader_identity_fn *identity; /* required */
    reader_error_fn *error;       /* may be NULL */
    reader_state_fn *state;       /* may be NULL */
} reader_callbacks;

/* Open the backend (on the calling thread) and start the worker. Callbacks
 * run on loop's thread with arg. NULL with errno EINVAL (NULL argument, no
 * identity callback, backend out of range, a timeout or poll_ms < 1,
 * neither zone nor today), ENOMEM,
 * or the backend's error, with a sentence in err when err is not NULL. */
reader *reader_new(ev_loop *loop, const reader_conf *conf, const reader_callbacks *cb, void *arg,
                   char *err, size_t errlen);

/* Stop the worker (waiting for the command in progress, at most its
 * timeout), drop what was not delivered (identities are wiped), close the
 * backend and free. NULL is fine. Loop thread only, never
 * from one of this reader's callbacks (asserted). Free before the loop. */
void reader_free(reader *r);

/* The backend interface. A backend is one `static const struct
 * reader_ops` in its own file, reached through the table in reader.c; it
 * carries bytes and knows nothing of frames' meaning. open runs in
 * reader_new() and close in reader_free(), on the loop's thread; the
 * others run on the worker thread, one call at a time, and return within
 * their timeout. detail gets a sentence when the result is not IDCARD_OK. */
struct reader_ops {
    const char *name;
    int (*open)(const reader_conf *conf, void **be, char *err, size_t errlen);
    /* Send one complete command frame. */
    idcard_result (*send)(void *be, const uint8_t *frame, size_t len, int timeout_ms, char *detail,
                          size_t detaillen);
    /* Wait up to timeout_ms for bytes; IDCARD_OK with 1..cap bytes in
     * *got, IDCARD_NO_ANSWER when none came, or IDCARD_IO. */
    idcard_result (*recv)(void *be, uint8_t *buf, size_t cap, size_t *got, int timeout_ms,
                          char *detail, size_t detaillen);
    /* Drop whatever is in flight both ways, after an error, before the
     * next command. */
    void (*flush)(void *be);
    void (*close)(void *be);
};

/* The backend data of r if its backend is ops, NULL otherwise (lets a
 * backend offer its own API, as reader_sim_of() does). */
void *reader_backend_data(const reader *r, const struct reader_ops *ops);

#endif
