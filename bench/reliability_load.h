/*
 * reliability_load — the devices of the reliability harness: kiosks that
 * issue and print, windows that call, start and finish, each on its own
 * thread with its own device link (tools/devlink.h), remembering every
 * answer it got.
 *
 * A device keeps the protocol's contract for retries: a request whose
 * answer was lost (link closed, no answer in time) is sent again with the
 * SAME request id on a new link until it is answered, so a device never
 * skips a step and never sees a state it did not cause. Request ids are
 * unique per device for the whole run. With the echo probability a device
 * also re-sends, on a new link, a request it already has the answer to,
 * and compares the two answers byte for byte (they must be the same kept
 * answer).
 *
 * The devices are the hall's registered ones: kiosk-1..K and win-1..W
 * (window terminal of window N), with their certificate bundles under the
 * hall directory for TLS, or only their names over plain TCP.
 */
#ifndef ONEWINDOW_RELIABILITY_LOAD_H
#define ONEWINDOW_RELIABILITY_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a device was told, in the order of a ticket's life. */
enum rload_kind {
    RLOAD_ISSUED = 1, /* ISSUE answered: the ticket is RESERVED */
    RLOAD_PRINTED,    /* PRINTED answered: WAITING */
    RLOAD_CALLED,     /* CALL_NEXT answered with this ticket: CALLED at window_no */
    RLOAD_STARTED,    /* START answered: SERVING */
    RLOAD_FINISHED,   /* FINISH answered: DONE */
};

/* One answer a device got. */
typedef struct rload_rec {
    uint64_t ticket;
    uint64_t request_id;
    uint64_t hash;      /* FNV-1a of the answer Envelope as packed */
    uint32_t window_no; /* the window that was told, 0 for a kiosk */
    uint16_t device;    /* index for rload_device_name() */
    uint8_t kind;       /* enum rload_kind */
} rload_rec;

typedef struct rload_opts {
    const char *hall_dir;  /* where pki/devices/<id>/ bundles are */
    bool tls;              /* false: plain TCP (halld --dev-plaintext) */
    int kiosks, windows;   /* devices kiosk-1.., win-1.. */
    uint64_t seed;         /* each device's random choices */
    uint64_t first_id;     /* request ids start here (a later load on the same
                              hall must start above every id used before) */
    double echo;           /* probability of re-sending an answered request */
    int answer_timeout_ms; /* no answer within this: the answer is lost */
    int empty_sleep_ms;    /* a window with nothing to call waits this long */
    double rate;           /* tickets per second from all kiosks; 0: no limit */
} rload_opts;

/* Running totals (readable while the load runs). */
typedef struct rload_totals {
    uint64_t issued, printed, called, started, finished; /* answered steps */
    uint64_t requests;                                   /* requests sent, retries included */
    uint64_t lost;       /* answers lost, each followed by a retry */
    uint64_t links;      /* links opened (connect and HELLO) */
    uint64_t link_fails; /* links that could not be opened */
    uint64_t empty;      /* call-next with nothing to call */
    uint64_t echoes;     /* answered requests sent again */
    uint64_t echo_diff;  /* ... whose second answer differed from the first */
    uint64_t unexpected; /* ERROR answers a device did not cause */
} rload_totals;

typedef struct rload rload;

/* Start the devices against 127.0.0.1:port. NULL with a reason in err. */
rload *rload_start(const rload_opts *o, int port, char *err, size_t errlen);
/* Where devices connect from now on (halld restarted on another port). */
void rload_set_port(rload *l, int port);
/* Tickets per second from all kiosks from now on; 0: no limit. */
void rload_set_rate(rload *l, double rate);
/* Stop the devices and wait for them. Graceful: each finishes the ticket
 * it is working on (a window also signs out), retrying as needed, for at
 * most timeout_ms; then, or when not graceful, they stop at once,
 * abandoning unanswered requests. Returns how many devices did not finish
 * gracefully (0 when not asked to). */
int rload_stop(rload *l, bool graceful, int timeout_ms);
void rload_free(rload *l);

void rload_totals_get(const rload *l, rload_totals *out);
/* The first problem a device met (an unexpected error, an echo that
 * differed), "" if none; after rload_stop(). */
const char *rload_problem(const rload *l);
/* Every answer of every device, after rload_stop(). */
const rload_rec *rload_records(const rload *l, size_t *n);
/* The device id of rec->device ("kiosk-1", "win-2"). */
const char *rload_device_name(const rload *l, unsigned device);
/* The retry contract for a refused request, checked once: as the tool
 * device "hallctl" (its certificate under hall_dir/pki/), CALL_NEXT for
 * window_no while that window is closed is refused; the window is then
 * opened and the same request (same request id) is sent again on a new
 * link, as a device does after a lost answer. It must get the same refusal
 * and call nobody. The window is closed again afterwards (a ticket the
 * retry called is started and finished first). Request ids first_id ..
 * first_id + 4 are used. Returns 1 if the contract held, 0 if not, -1 if
 * the probe could not run; why describes what happened. */
int rload_probe_refusal(const char *hall_dir, int port, uint32_t window_no, uint64_t first_id,
                        char *why, size_t whylen);

/* FNV-1a 64 of bytes: rload_rec.hash is this of the packed answer. */
uint64_t rload_hash(const void *bytes, size_t len);

/* A request id above every id any device used: the next load's first_id. */
uint64_t rload_next_id(const rload *l);

#endif
