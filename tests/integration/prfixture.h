/*
 * prfixture — the printer interface as the printer tests drive it: the
 * callbacks that record what came back, opening a printer and waiting for
 * its first state, printing a job and waiting for its result, and building
 * a ticket. Every helper aborts the test on failure.
 */
#ifndef ONEWINDOW_PRFIXTURE_H
#define ONEWINDOW_PRFIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "escpos.h"
#include "printer.h"

#define PF_WAIT_MS 20000

/* What the callbacks saw (the callbacks' arg). */
typedef struct pf_result {
    bool done; /* a job finished; cleared by pf_submit() */
    uint64_t id;
    printer_result r;
    char detail[256];
    int states;          /* state callbacks so far */
    escpos_status state; /* the last state */
    uint32_t events;     /* every event since the test last cleared it */
} pf_result;

/* Callbacks for a printer_new() that must fail: a job aborts the test. */
extern const printer_callbacks pf_refused;

/* Open a printer with the recording callbacks and run the loop until the
 * first status poll has been reported, so every later backend call
 * belongs to a job the test submits (set conf->poll_ms long). */
printer *pf_open(ev_loop *loop, const printer_conf *conf, pf_result *res);
/* Queue a job; clears res->done. Returns the job id. */
uint64_t pf_submit(printer *p, const uint8_t *data, size_t len, pf_result *res);
/* Run the loop until job id's result arrived. */
void pf_wait(ev_loop *loop, uint64_t id, pf_result *res);
/* pf_submit() then pf_wait(). */
void pf_print(ev_loop *loop, printer *p, const uint8_t *data, size_t len, pf_result *res);
/* A ticket's bytes into out (initialised here; the caller releases it). */
void pf_ticket(buf *out, const escpos_layout *layout, const escpos_ticket *t);

#endif
