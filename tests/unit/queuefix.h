/*
 * queuefix — the fixture parts the queue engine's unit tests share
 * (test_alloc, test_states, test_numbering): wall times in Asia/Shanghai,
 * a journal that keeps a copy of everything the engine reports, the policy
 * they start from, and areas and windows added to an engine. Every
 * failure is a Check assertion, so these are called from inside a test.
 */
#ifndef QUEUEFIX_H
#define QUEUEFIX_H

#include <stddef.h>
#include <stdint.h>

#include "queue.h"

/* Assert that x, a call with `&err_` as its q_error, returns 0; the
 * message names the call and the engine's reason. */
#define QF_OK(x)                                                                                   \
    do {                                                                                           \
        q_error err_;                                                                              \
        (void)err_;                                                                                \
        ck_assert_msg((x) == 0, "%s: %s", #x, err_.message);                                       \
    } while (0)

/* UTC ms of a wall time in Asia/Shanghai (UTC+8, no DST since 1991). */
int64_t qf_sh(int y, int mo, int d, int h, int mi, int s);

/* The real Asia/Shanghai zone (the tests read its file); never NULL. */
clk_zone *qf_shanghai(void);

/* ---- A journal that keeps everything it is told ---------------------------- */

/* One journal record: what says which of the fields below it fills. */
typedef struct qf_entry {
    char what;                 /* 'T'icket, 'W'indow, 'L'ease, 'E'vent */
    q_ticket t;                /* 'T': a copy of the ticket */
    q_window w;                /* 'W': a copy of the window */
    q_lease l;                 /* 'L': a copy of the lease */
    q_event_kind kind;         /* 'E' */
    uint64_t ticket;           /* 'T': its id; 'E': the event's ticket */
    uint32_t window;           /* 'W': its number; 'E': the event's window */
    char clerk[40];            /* 'E' */
    char detail[Q_REASON_MAX]; /* 'E' */
} qf_entry;

/* The records in order; zeroed, it is empty. */
typedef struct qf_rec {
    qf_entry *e;
    size_t n, cap;
} qf_rec;

/* A journal that appends every record to r. */
q_journal qf_journal(qf_rec *r);
/* Free the records and leave r empty. */
void qf_rec_clear(qf_rec *r);
/* The last event recorded (the test fails if there is none). */
const qf_entry *qf_last_event(const qf_rec *r);

/* ---- Engines ---------------------------------------------------------------- */

/* The policy the tests start from, with their own rejoin and reservation
 * times: green +30m, appointments +15m and 10m early, two recalls, rejoin
 * keeps the place, no carry-over, rollover at 03:00, three digits, lease
 * band 500..899 in blocks of 50. */
q_policy qf_policy(int64_t rejoin_ms, int64_t reserve_ms);

/* A new engine for zone that journals into r. */
queue *qf_engine(const q_policy *p, const clk_zone *zone, qf_rec *r);

/* Add an area; code "A" is the general one. */
void qf_add_area(queue *e, const char *code, const char *name, const char *prefix);

/* Window no, "window N", an intake window, closed, serving spec:
 * "A:1,B:2" (area:weight). */
q_window qf_window(uint32_t no, const char *spec);

/* Add qf_window(no, spec) to e and, with a clerk, sign the clerk in at
 * signed_in. */
void qf_add_window(queue *e, uint32_t no, const char *spec, const char *clerk, int64_t signed_in);

#endif
