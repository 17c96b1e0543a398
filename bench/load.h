/*
 * load — the runner of `hallbench load`: kiosk and window threads driving
 * one target (target.h) for a warm-up and then a measured time.
 *
 * Thread k (0 <= k < kiosks) is a kiosk and loops ISSUE + PRINTED; thread
 * kiosks + w - 1 is window w and loops CALL_NEXT, then finish (START +
 * FINISH on halld). Each thread has its own connection and its own latency
 * recorders, merged when the run ends. Phases:
 *
 *   CONNECT --all connected--> WARMUP --warmup_s--> MEASURE --duration_s--> STOP
 *       \--a connection failed----------------------------------------------^
 *
 * Only operations that start and end inside MEASURE are recorded. STOP
 * lets every thread finish the operation it is in (a window finishes the
 * ticket it called), so the backend is left consistent. SIGINT or SIGTERM
 * during the run moves to STOP early (the run then fails as interrupted).
 *
 * Failures are counted by kind (target_err.kind); a lost connection is
 * reopened and the operation repeated. A CALL_NEXT with nothing waiting
 * counts as "empty" and is retried after 1 ms.
 */
#ifndef ONEWINDOW_LOAD_H
#define ONEWINDOW_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lat.h"
#include "target.h"

#define LOAD_MAX_KINDS 16 /* error kinds told apart; more go under "other" */

typedef struct load_error {
    char kind[40];
    uint64_t count;
    char first[256]; /* the first message of this kind */
} load_error;

typedef struct load_result {
    lat *issue;  /* ISSUE + PRINTED, both answered */
    lat *call;   /* CALL_NEXT answered with a ticket */
    lat *finish; /* what follows a call (START + FINISH on halld) */
    uint64_t empty;
    load_error errors[LOAD_MAX_KINDS];
    size_t nerrors;
    double duration_s;  /* measured, as it was */
    char describe[400]; /* the target's line on what was measured */
    bool interrupted;
    /* With a pid: its memory and descriptors as the measured time ends,
     * every connection still open. */
    bool have_proc;
    long rss_kib, fds;
    char proc_error[200]; /* why they could not be read */
} load_result;

/* Run ops with o for warmup_s + duration_s; pid (0: none) is the server
 * process to read at the end. 0 with res filled (release it with
 * load_result_release), or -1 with a reason in err (nothing to release).
 * A run interrupted by a signal returns 0 with res->interrupted. */
int load_run(const target_ops *ops, const target_opts *o, double warmup_s, double duration_s,
             pid_t pid, load_result *res, char *err, size_t errlen);
void load_result_release(load_result *res);

#endif
