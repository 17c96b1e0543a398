/*
 * printer_sim — the in-process printer backend ("sim"), for kioskd --sim
 * and the tests.
 *
 * It prints into memory: the bytes of every job it printed are kept, in
 * order, until the printer is freed. Its conditions (paper near end, paper
 * out, cover open, offline, silent) start from printer_conf.sim.flags and
 * can be changed at any time from the loop's thread; its status answers
 * are the DLE EOT 1-4 bytes a real printer gives in the same condition,
 * parsed with escpos_status_dle(). It can be told to run out of paper in
 * the middle of the next job. All of it is guarded by one mutex, since the
 * printer's worker thread calls it while the loop's thread changes it.
 */
#ifndef ONEWINDOW_PRINTER_SIM_H
#define ONEWINDOW_PRINTER_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "printer.h"

typedef struct printer_sim printer_sim;

/* The backend, for the table in printer.c. */
const struct printer_ops *printer_sim_backend(void);

/* The sim of p, NULL if p's backend is not sim. Valid until printer_free. */
printer_sim *printer_sim_of(const printer *p);

/* Replace the conditions with flags (PRINTER_SIM_*). A print or status
 * call waiting because the sim was silent goes on when silent is cleared. */
void printer_sim_set(printer_sim *s, uint32_t flags);
uint32_t printer_sim_flags(printer_sim *s);

/* The next job prints the first half of its bytes (rounded down), then
 * the paper runs out (PRINTER_SIM_PAPER_OUT is set). */
void printer_sim_paper_out_mid_job(printer_sim *s);

/* Jobs printed so far: a job that printed nothing is not counted, one cut
 * short by paper out is, with the bytes that printed. */
size_t printer_sim_job_count(printer_sim *s);

/* The bytes of printed job i (from 0): true and *data, *len set (they stay
 * valid until printer_free), false if there is no such job. */
bool printer_sim_job(printer_sim *s, size_t i, const uint8_t **data, size_t *len);

#endif
