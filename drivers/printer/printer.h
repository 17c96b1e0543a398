/*
 * printer — one ticket printer behind one interface, whatever the backend.
 *
 * A printer is made on an event loop's thread with printer_new() from a
 * printer_conf that names its backend ("sim", "cups", "usb" or "net").
 * Jobs are byte strings (escpos_build() output) handed to
 * printer_submit(); they run in order on one worker thread owned by the
 * printer, so the backend's blocking calls never stall
 * the loop. Each job is checked before it is sent (a printer that reports
 * paper out, cover open or offline gets nothing) and after (paper that ran
 * out during the job is reported). While idle the worker asks the status
 * every poll_ms milliseconds.
 *
 * Results come back on the loop's thread through ev_post(): a done
 * callback for every job, exactly once, and a state callback when the
 * printer's state changes. A job is never lost silently: printer_free()
 * gives every job still queued its done callback with PRINTER_CLOSED.
 *
 * docs/printer.md ("The printer interface and backends") has the details.
 */
#ifndef ONEWINDOW_PRINTER_H
#define ONEWINDOW_PRINTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "escpos_status.h"
#include "ev.h"

/* The outcome of a job (or of a backend call). */
#define PRINTER_RESULTS(X)                                                                         \
    X(PRINTER_OK, 0, "printed")                                                                    \
    X(PRINTER_PAPER_OUT, 1, "the printer is out of paper")                                         \
    X(PRINTER_COVER_OPEN, 2, "the printer's cover is open")                                        \
    X(PRINTER_OFFLINE, 3, "the printer is offline or reports an error")                            \
    X(PRINTER_TIMEOUT, 4, "the printer did not answer in time")                                    \
    X(PRINTER_REMOVED, 5, "the printer was removed")                                               \
    X(PRINTER_IO, 6, "input/output error talking to the printer")                                  \
    X(PRINTER_CLOSED, 7, "printer closed")

typedef enum printer_result {
#define PRINTER_ENUM_(name, n, text) name = (n),
    PRINTER_RESULTS(PRINTER_ENUM_)
#undef PRINTER_ENUM_
} printer_result;

/* Readable sentence for a result; "unknown printer result" otherwise. */
const char *printer_strerror(printer_result r);

/* The backends, in the order of the backend table in printer.c. */
typedef enum printer_backend {
    PRINTER_BACKEND_SIM,  /* in process (printer_sim.h) */
    PRINTER_BACKEND_CUPS, /* raw jobs to a CUPS queue (printer_cups.h) */
    PRINTER_BACKEND_USB,  /* a USB printer-class device through libusb (printer_usb.h) */
    PRINTER_BACKEND_NET,  /* a network printer's raw port, 9100 (printer_net.h) */
    PRINTER_BACKEND_COUNT
} printer_backend;

/* The sim backend's conditions (printer_sim_set() changes them later). */
enum printer_sim_flag {
    PRINTER_SIM_NEAR_END = 1u << 0,   /* paper near end: printing goes on */
    PRINTER_SIM_PAPER_OUT = 1u << 1,  /* paper out (also offline) */
    PRINTER_SIM_COVER_OPEN = 1u << 2, /* cover open (also offline) */
    PRINTER_SIM_OFFLINE = 1u << 3,    /* offline for another reason */
    PRINTER_SIM_SILENT = 1u << 4,     /* print and status calls block until their timeout */
};

typedef struct printer_conf {
    printer_backend backend;
    int job_timeout_ms;    /* longest a job's bytes may take to send; default 10000 */
    int status_timeout_ms; /* longest a status query may take; default 2000 */
    int poll_ms;           /* status poll interval while idle; default 1000 */
    struct {
        uint32_t flags; /* PRINTER_SIM_* at start */
    } sim;
    struct {
        char queue[128];  /* the CUPS queue (destination) name; required */
        char server[256]; /* "host:port", "host" (port 631) or a socket path
                             ("/..."); "" for the system's (cupsServer()) */
    } cups;
    struct {
        uint16_t vendor;  /* idVendor to match; 0 matches any */
        uint16_t product; /* idProduct to match; 0 matches any */
    } usb;
    struct {
        char address[256]; /* "host:port" or "host" (port 9100); required */
    } net;
} printer_conf;

/* Defaults: sim backend, the timeouts above, no sim flags, no cups queue,
 * the system's CUPS server, the first USB printer-class device, and no
 * network address. */
void printer_conf_init(printer_conf *conf);

/* Set conf->backend from its configuration name. 0, or -1 with errno
 * EINVAL and "unknown printer backend 'foo' (known: sim, cups, usb, net)" in err
 * (when err is not NULL). */
int printer_conf_backend(printer_conf *conf, const char *name, char *err, size_t errlen);

/* The configuration name of a backend, NULL if out of range. */
const char *printer_backend_name(printer_backend b);

typedef struct printer printer;

/* Job id (from printer_submit), its result and a readable sentence saying
 * what happened ("paper ran out during the job: the ticket may be
 * incomplete"); detail is valid during the call only. */
typedef void printer_done_fn(printer *p, uint64_t job_id, printer_result result, const char *detail,
                             void *arg);
/* The printer's new state and the ESCPOS_EV_* events from the previous
 * one. A printer that does not answer its status query is reported as
 * offline (ESCPOS_ST_OFFLINE holds). */
typedef void printer_state_fn(printer *p, const escpos_status *state, uint32_t events, void *arg);

typedef struct printer_callbacks {
    printer_done_fn *done;   /* required */
    printer_state_fn *state; /* may be NULL */
} printer_callbacks;

/* Open the backend (on the calling thread) and start the worker. Callbacks
 * run on loop's thread with arg. NULL with errno EINVAL (NULL argument, no
 * done callback, backend out of range, a timeout or poll_ms < 1), ENOMEM,
 * or the backend's error, with a sentence in err when err is not NULL. */
printer *printer_new(ev_loop *loop, const printer_conf *conf, const printer_callbacks *cb,
                     void *arg, char *err, size_t errlen);

/* Queue a copy of data[0..len) as a job; its id (from 1, increasing) goes
 * to *job_id (may be NULL). 0, or -1 with errno EINVAL (NULL, len 0),
 * ENOMEM, or ESHUTDOWN while printer_free() is running. Loop thread only. */
int printer_submit(printer *p, const uint8_t *data, size_t len, uint64_t *job_id);

/* Stop the worker (waiting for the backend call in progress, at most its
 * timeout), deliver the results already known, give every job still
 * queued its done callback with PRINTER_CLOSED, close the backend and free.
 * NULL is fine. Loop thread only, and never from one of this printer's own
 * callbacks (asserted). Free the printer before its loop. */
void printer_free(printer *p);

/* The backend interface. A backend is one `static const struct
 * printer_ops` in its own file, reached through the table in printer.c.
 * open runs in printer_new() and close in printer_free() (after the
 * worker stopped), both on the loop's thread; print and status run on the
 * worker thread, one call at a time, and must return within their timeout. detail gets a sentence
 * when the result is not PRINTER_OK. */
struct printer_ops {
    const char *name;
    int (*open)(const printer_conf *conf, void **be, char *err, size_t errlen);
    printer_result (*print)(void *be, const uint8_t *data, size_t len, int timeout_ms, char *detail,
                            size_t detaillen);
    printer_result (*status)(void *be, escpos_status *out, int timeout_ms, char *detail,
                             size_t detaillen);
    void (*close)(void *be);
};

/* The backend data of p if its backend is ops, NULL otherwise (lets a
 * backend offer its own API, as printer_sim_of() does). */
void *printer_backend_data(const printer *p, const struct printer_ops *ops);

#endif
