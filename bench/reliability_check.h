/*
 * reliability_check — the verdicts of the reliability harness.
 *
 * An rcheck collects named checks, printing one line each ("ok" or
 * "FAIL" with the numbers behind it) and counting failures. rcheck_store()
 * holds the hall's store (opened read-only with SQLite, halld stopped)
 * against what the devices were told:
 *
 *   - no answered ticket is lost, and each is at least as far along as
 *     the last answer about it (printed: not RESERVED or VOID; called: not
 *     RESERVED, WAITING or VOID; started: SERVING or DONE; finished: DONE);
 *   - every answer a device got is the answer the store keeps for its
 *     (device, request id), byte for byte;
 *   - every ticket has exactly one kept ISSUE answer (no ISSUE ran twice);
 *   - no display number twice in a business day;
 *   - no ticket called to two windows, neither in the devices' answers nor
 *     in the CALLED events (unless a transfer, rejoin or release came in
 *     between); with RCHECK_ONE_CALL, no ticket called twice at all and no
 *     recall (devices that retry with the same request id never press
 *     call-next twice);
 *   - windows and their current tickets agree, and no waiting ticket sits
 *     at a window.
 */
#ifndef ONEWINDOW_RELIABILITY_CHECK_H
#define ONEWINDOW_RELIABILITY_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "reliability_load.h"

typedef struct rcheck {
    FILE *out;
    int passed, failed;
    char first_failure[480];
} rcheck;

void rcheck_init(rcheck *c, FILE *out);
/* One check: prints it and counts it. Returns ok. */
bool rcheck_expect(rcheck *c, bool ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define RCHECK_ONE_CALL 1u

/* What the store held. */
typedef struct rcheck_counts {
    uint64_t tickets, events, kept_answers, answers_checked, tickets_checked;
} rcheck_counts;

/* The checks above on the store at db_path against recs (device names by
 * rload_rec.device index in names[0..nnames)). Returns the number of
 * failed checks (a store that cannot be read is one). */
int rcheck_store(rcheck *c, const char *db_path, const rload_rec *recs, size_t nrecs,
                 const char *const *names, size_t nnames, unsigned flags, rcheck_counts *counts);

#endif
