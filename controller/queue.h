/*
 * queue — the hall's queue engine: tickets, areas, windows, the ticket life,
 * allocation ("any window") and numbering. Pure: no I/O, no clock of its
 * own (every call takes `now`, UTC ms), no SQLite. The controller feeds it
 * requests, and it reports every change through a journal (below) that the
 * controller writes to the store in the same transaction, so that the
 * in-memory state and the store never disagree on anything answered.
 *
 * Ticket life (every arrow is one function here; anything else is refused
 * with QERR_ILLEGAL_STATE and changes nothing):
 *
 *   issue            printed             call_next             start            finish
 *   -----> RESERVED ---------> WAITING ------------> CALLED ---------> SERVING --------> DONE
 *              |                 ^  ^  |               | ^ |  \                  |
 *       void / |     rejoin      |  |  | cancel        | | |   \ transfer        | transfer
 *       expire v   (in time)     |  |  v               | | |    \ (area/window)  | (area/window)
 *            VOID     NO_SHOW ---+  |  CANCELLED <-----+ | |     +---> WAITING <--+
 *                     (cancel by the hall while it may rejoin: CANCELLED)
 *              |  (expired only)    |
 *              +--- printed --------+ (revived: keeps its issue time)
 *                       ^           |        cancel      | |             (keeps its issue time)
 *                       |  no_show, or call_next past    | |
 *                       +--- the recall limit -----------+ | recall / call_next again: recalls+1
 *                                   |                      |
 *                     hold release  +--- HOLD <------------+ hold (from CALLED or SERVING)
 *                                          (hold release: WAITING, keeps its issue time)
 *
 * Windows: CLOSED --sign_in--> OPEN <--pause/resume--> PAUSED; sign_out from
 * OPEN or PAUSED closes it. Only an OPEN window calls. A window has at most
 * one current ticket (CALLED or SERVING); a second call_next while it has
 * a CALLED ticket is a recall of that ticket, never a second ticket.
 *
 * Allocation. Each area keeps three heaps of WAITING tickets: green channel
 * (elderly, disabled) and normal, both ordered by issue time, and
 * appointments, ordered by slot time. A window serves a set of areas, each
 * with a weight, and may have tickets transferred to it by name. call_next:
 *   1. a ticket transferred to this window, oldest first;
 *   2. otherwise the best-scored head among the window's areas, where
 *        normal      score = weight * wait
 *        green       score = weight * wait + green_boost
 *        appointment score = weight * (now - slot) + appointment_boost  (only when due:
 *                                                   slot - appointment_early <= now)
 *      and wait = now - issue time. Ties go to the older issue time, then
 *      the lower ticket id. The boosts are finite, so a normal ticket that
 *      has waited green_boost/weight longer than a fresh green one is called
 *      before it: a stream of priority tickets cannot starve ordinary ones;
 *   3. otherwise the earliest appointment not yet due (an idle window
 *      serves an early arrival rather than nobody).
 * Within one heap every ticket has the same slope, so heap order never
 * changes with time: a pick costs O(k + log n) for k areas served (k is
 * small and fixed), whatever the queue depth.
 *
 * Numbering. A display number is the area prefix and a daily sequence
 * ("A001"), per area and hall-local business day (the day starts at the
 * rollover hour). The online sequence runs 1 .. lease_first-1, then jumps
 * over the lease band to lease_first+lease_band and on. Offline leases are
 * blocks of lease_block numbers from the band [lease_first,
 * lease_first+lease_band), one block per grant, each owned by one kiosk,
 * so online and offline numbers never collide. The ticket id is separate,
 * unique and never reused.
 *
 * Details of the contract, as implemented:
 *  - Requests never roll the day over: only queue_tick does, so the
 *    controller runs queue_tick before a request whenever queue_next_due
 *    has passed (and on a timer). Numbers always follow the business day
 *    of `now`.
 *  - A recall past max_recalls, by call_next or queue_recall, makes the
 *    ticket NO_SHOW. call_next then calls the next ticket in the same call;
 *    if nothing else waits it still succeeds (the no-show is a change) and
 *    *out is the NO_SHOW ticket.
 *  - hold release puts the ticket back WAITING for the window that held it
 *    (as a transfer to that window), so that window calls it first.
 *  - rejoin without rejoin_keeps_place sets issued_ms to the rejoin time.
 *  - A window may cancel a WAITING ticket, or its own CALLED or HOLD one;
 *    window_no 0 (the hall) any of them. Ops naming a ticket at a window
 *    need window_no (not 0) and that window.
 *  - Final tickets (DONE, VOID, CANCELLED, NO_SHOW past its rejoin time)
 *    stay readable through queue_ticket for the rest of the business day
 *    in which they ended and the day after; the rollover drops older ones.
 *  - An offline ticket of yesterday uploaded after the rollover closed
 *    yesterday is joined and, without carry_over, closed at once
 *    (QE_OFFLINE_JOINED then QE_CLOSED_AT_ROLLOVER), as the rollover would
 *    have done. Offline tickets cannot be appointments (no slot).
 *  - The journal's callbacks must not call back into the engine.
 *  - Citizen limit: queue_issue with a citizen hash is refused
 *    (QERR_CITIZEN_LIMIT) when that hash already holds citizen_limit live
 *    tickets in the area. Live: RESERVED, WAITING, CALLED, SERVING, HOLD,
 *    and NO_SHOW while it may still rejoin (the citizen rejoins rather
 *    than takes a second number). Offline tickets join whatever the limit
 *    (they were printed); the controller logs those past it.
 *  - The hall (window_no 0) may also cancel a NO_SHOW that may still
 *    rejoin: the citizen gives the ticket up at the kiosk.
 */
#ifndef ONEWINDOW_QUEUE_H
#define ONEWINDOW_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clk.h"

#define Q_CODE_MAX             16 /* area and matter codes, window types */
#define Q_NAME_MAX             64 /* names, bytes of UTF-8 */
#define Q_NUMBER_MAX           16 /* display number "A001" */
#define Q_DEVICE_MAX           64
#define Q_MASKED_MAX           48  /* "欧阳*" */
#define Q_NOTE_MAX             121 /* a transfer's note, bytes of UTF-8 */
#define Q_HASH_LEN             32  /* HMAC-SHA256 of the ID number */
#define Q_REASON_MAX           160
#define Q_MAX_AREAS_PER_WINDOW 16

typedef enum q_state {
    Q_RESERVED = 1,
    Q_WAITING,
    Q_CALLED,
    Q_SERVING,
    Q_DONE,
    Q_NO_SHOW,
    Q_HOLD,
    Q_VOID,
    Q_CANCELLED,
} q_state;

typedef enum q_priority { Q_NORMAL = 0, Q_GREEN = 1, Q_APPOINTMENT = 2 } q_priority;

typedef enum q_window_state { QW_CLOSED = 1, QW_OPEN, QW_PAUSED } q_window_state;

typedef enum q_window_type {
    QW_CONSULT = 1,
    QW_INTAKE,
    QW_ISSUANCE,
    QW_HELP,
    QW_COMPLAINT,
} q_window_type;

/* Why a request was refused. */
typedef enum q_errcode {
    QERR_NONE = 0,
    QERR_BAD_REQUEST,   /* a field missing or out of range */
    QERR_NOT_FOUND,     /* ticket, area, window, clerk unknown */
    QERR_ILLEGAL_STATE, /* not allowed in the ticket's or window's state */
    QERR_WINDOW_CLOSED, /* the window is closed or paused */
    QERR_QUEUE_EMPTY,   /* call_next with nothing to call */
    QERR_FORBIDDEN,     /* e.g. acting on a ticket of another window */
    QERR_LEASE_EXHAUSTED,
    QERR_NOMEM,
    QERR_CITIZEN_LIMIT, /* the ID card holds the live tickets allowed in the area */
} q_errcode;

typedef struct q_error {
    q_errcode code;
    char message[Q_REASON_MAX]; /* one readable sentence */
} q_error;

typedef struct q_ticket {
    uint64_t id;
    char number[Q_NUMBER_MAX];
    int32_t day;  /* business day, yyyymmdd */
    uint32_t seq; /* the number within its area and day */
    char area[Q_CODE_MAX];
    char matter[Q_CODE_MAX];
    q_state state;
    q_priority priority;
    int64_t issued_ms;         /* issue time; kept across transfers and holds */
    int64_t state_ms;          /* when it entered its state */
    int64_t reserved_until_ms; /* RESERVED: expires then */
    int64_t appointment_ms;    /* appointment slot, 0 if none */
    uint32_t window_no;        /* CALLED/SERVING/HOLD: the window; 0 otherwise */
    uint32_t target_window;    /* WAITING after a transfer to a window; 0 otherwise */
    uint32_t recalls;          /* calls after the first */
    bool offline;              /* issued from a kiosk lease */
    char kiosk[Q_DEVICE_MAX + 1];
    char masked_name[Q_MASKED_MAX];
    bool has_citizen;
    uint8_t citizen_hash[Q_HASH_LEN];
    uint32_t served_window; /* SERVING or DONE: the window that started it; 0 otherwise */
    uint8_t rating;         /* 好差评 level 1..5 once rated, 0 before */
    int64_t rated_ms;       /* when it was rated, 0 before */
    bool expired;           /* VOID because its reservation ran out (not voided by its kiosk) */
    char note[Q_NOTE_MAX];  /* the last transfer's note for the next window, "" if none */
    bool transferred;       /* moved on by a transfer at least once (转办) */
} q_ticket;

typedef struct q_window {
    uint32_t no;
    char name[Q_NAME_MAX];
    q_window_type type;
    q_window_state state;
    char clerk[Q_CODE_MAX + 16]; /* signed-in clerk id, "" if none */
    uint64_t current;            /* CALLED or SERVING ticket id, 0 if none */
    int nareas;
    char areas[Q_MAX_AREAS_PER_WINDOW][Q_CODE_MAX];
    uint32_t weights[Q_MAX_AREAS_PER_WINDOW]; /* >= 1 */
} q_window;

typedef struct q_area {
    char code[Q_CODE_MAX];
    char name[Q_NAME_MAX];
    char name_en[Q_NAME_MAX]; /* English name, "" if the catalog gives none */
    char prefix[8];           /* display number prefix, "A" */
    bool general;             /* the hall's general intake area (one-tap ticket) */
    bool retired;             /* gone from the catalog: its tickets are called, no new ones */
} q_area;

typedef struct q_lease {
    uint64_t id;
    char kiosk[Q_DEVICE_MAX + 1];
    char area[Q_CODE_MAX];
    int32_t day;
    uint32_t first, count;
    int64_t granted_ms;
} q_lease;

typedef struct q_policy {
    int64_t green_boost_ms;       /* head start of a green-channel ticket */
    int64_t appointment_boost_ms; /* head start of a due appointment */
    int64_t appointment_early_ms; /* an appointment is due this long before its slot */
    uint32_t max_recalls;         /* call_next past this many recalls: no-show */
    int64_t rejoin_ms;            /* a no-show may rejoin within this, 0 = never */
    bool rejoin_keeps_place;      /* rejoin with the original issue time (else: now) */
    int64_t reserve_ms;           /* RESERVED expires after this */
    bool carry_over;              /* waiting tickets survive the rollover */
    int rollover_hour;            /* 0..23, hall-local */
    uint32_t number_digits;       /* zero-padded width, 3 -> "A001" */
    uint32_t lease_first;         /* first number of the lease band */
    uint32_t lease_band;          /* size of the lease band */
    uint32_t lease_block;         /* numbers per grant */
    uint32_t citizen_limit;       /* live tickets per citizen hash and area, 0 = no limit */
} q_policy;

/* Event kinds, one per transition (and the window and lease events). */
typedef enum q_event_kind {
    QE_ISSUED = 1,
    QE_PRINTED,
    QE_VOIDED,  /* by the kiosk */
    QE_EXPIRED, /* reservation not confirmed in time */
    QE_CALLED,
    QE_RECALLED,
    QE_NO_SHOW,
    QE_REJOINED,
    QE_STARTED,
    QE_FINISHED,
    QE_TRANSFERRED,
    QE_HELD,
    QE_RELEASED,
    QE_CANCELLED,
    QE_CLOSED_AT_ROLLOVER, /* waiting at day end, not carried over */
    QE_CARRIED_OVER,
    QE_OFFLINE_JOINED, /* an offline-issued ticket uploaded */
    QE_WINDOW_SIGN_IN,
    QE_WINDOW_SIGN_OUT,
    QE_WINDOW_PAUSED,
    QE_WINDOW_RESUMED,
    QE_LEASE_GRANTED,
    QE_RATED,   /* a citizen's 好差评 rating of the service; detail "level N", rating N */
    QE_REVIVED, /* a PRINTED after its reservation ran out: WAITING again */
} q_event_kind;

/* One change, as the journal receives it. Strings point into the engine
 * and are valid only during the callback. */
typedef struct q_event {
    q_event_kind kind;
    int64_t at_ms;
    int32_t day;
    uint64_t ticket_id; /* 0 for window and lease events */
    uint32_t window_no; /* 0 if none */
    const char *clerk;  /* "" if none */
    const char *detail; /* reason, pick reason, transfer target...; "" if none */
    /* What statistics read, so that nothing parses detail: */
    const char *area;    /* the ticket's area ("" for window and lease events); a
                            transfer's is the area it left */
    const char *matter;  /* the ticket's matter, "" if none */
    int64_t duration_ms; /* the first CALLED: the wait since issue; FINISHED: the
                            service since STARTED; NO_SHOW, CANCELLED: the wait
                            so far since issue; else 0 */
    int rating;          /* RATED: the level 1..5; else 0 */
    const char *reason;  /* a short code (Q_EVENT_REASON_MAX): see below; "" if none */
} q_event;

/* q_event.reason, by kind: ISSUED and OFFLINE_JOINED the priority
 * ("normal", "green", "appointment"); CALLED "first" for a ticket's first
 * call, else "again"; NO_SHOW "no_show" (marked by the window) or
 * "recalls" (past the recall limit); CANCELLED "hall" (window 0) or
 * "window"; TRANSFERRED the target area's code, or "window" for a
 * transfer to a window; WINDOW_PAUSED the pause reason when it is a short
 * code (else "other"). */
#define Q_EVENT_REASON_MAX 32

/* The controller's side of every change: called synchronously, in order,
 * from inside the engine call that made the change. The controller writes
 * them to the store in the current transaction. */
typedef struct q_journal {
    void (*ticket)(void *ctx, const q_ticket *t); /* a ticket was created or changed */
    void (*window)(void *ctx, const q_window *w); /* a window changed */
    void (*lease)(void *ctx, const q_lease *l);   /* a lease was granted */
    void (*event)(void *ctx, const q_event *e);
    void *ctx;
} q_journal;

typedef struct queue queue;

/* A new, empty engine for the hall zone and policy (copied). The journal
 * may have NULL members. zone is not copied and must outlive the engine.
 * NULL with errno ENOMEM or EINVAL (bad policy: negative or over 30-day
 * times, reserve_ms 0, rollover_hour outside 0..23, number_digits outside
 * 1..9, lease_first or lease_block 0). */
queue *queue_new(const q_policy *policy, const clk_zone *zone, const q_journal *journal);
void queue_free(queue *q);
/* Change the allocation and ticket-life settings of a running engine (a
 * reload). The rollover hour is kept: it defines the business days. New
 * numbering settings (digits, lease band and block) take effect at the
 * next rollover: today's numbers were handed out with today's. -1/EINVAL
 * for a bad policy, with nothing changed. */
int queue_set_policy(queue *q, const q_policy *policy);
/* The settings in force (numbering: today's). */
const q_policy *queue_policy(const queue *q);
/* The business day the engine has reached (yyyymmdd; 0 before anything
 * happened or was restored). */
int32_t queue_day(const queue *q);

/* ---- Set-up and restore (no journal calls) ------------------------------ */

/* Areas and windows come from the catalog. Adding one that exists updates
 * it in place (name, prefix, retired; a window's name, type, areas and
 * weights), keeping its tickets, state and current ticket. A window naming
 * an unknown area fails with QERR_NOT_FOUND; a bad prefix, weight or area
 * count with QERR_BAD_REQUEST. A retired area numbers nothing new (issue,
 * lease and transfer to it are refused, QERR_NOT_FOUND) while its tickets
 * live on. A prefix is 1 to 5 ASCII letters, unique among offered areas;
 * weights are 1..1000. A window new to the engine takes its state and
 * clerk from *w (state 0 counts as CLOSED; OPEN and PAUSED need a clerk);
 * its current ticket is linked by queue_restore_ticket, not taken from
 * w->current. */
int queue_add_area(queue *q, const q_area *a, q_error *err);
int queue_add_window(queue *q, const q_window *w, q_error *err);
/* Put back a ticket / lease read from the store, as it was. Tickets in
 * live states are indexed; next ids and sequences move past them. Windows
 * are added first: a CALLED or SERVING ticket becomes its window's current
 * ticket (refused if the window is CLOSED or already has one). Final
 * tickets are kept for the retention time above. The latest business day
 * among restored tickets and leases is taken as the engine's day, so the
 * first queue_tick on a later day runs the missed rollover. */
int queue_restore_ticket(queue *q, const q_ticket *t, q_error *err);
int queue_restore_lease(queue *q, const q_lease *l, q_error *err);
/* Set the next ticket id (ids are never reused, even after voids): the
 * counter only moves forward. */
void queue_set_next_id(queue *q, uint64_t next_id);
/* Fault injection, for tests: the n-th memory allocation the engine
 * attempts from now on fails, as if malloc returned NULL (n = 0: none
 * does). Growing a hash table is not counted: it may fail harmlessly. */
void queue_fail_alloc(queue *q, unsigned n);

/* ---- Requests ------------------------------------------------------------- */

typedef struct q_issue {
    const char *area;   /* "" or NULL: the general intake area */
    const char *matter; /* may be "" */
    q_priority priority;
    int64_t appointment_ms; /* slot, when priority is Q_APPOINTMENT */
    const char *kiosk;
    const char *masked_name;
    const uint8_t *citizen_hash; /* Q_HASH_LEN bytes or NULL */
} q_issue;

/* Each returns 0 and points *out at the ticket concerned (valid until the
 * next call into the engine), or -1 with err filled and nothing changed. */
int queue_issue(queue *q, const q_issue *req, int64_t now, const q_ticket **out, q_error *err);
/* printed: RESERVED -> WAITING. A VOID ticket whose reservation ran out
 * (expired) is revived instead: the citizen holds it, so it joins WAITING
 * with its issue time (QE_REVIVED), and is closed at once if its day is
 * over and carry_over is off; one its kiosk voided is refused. */
int queue_printed(queue *q, uint64_t id, int64_t now, const q_ticket **out, q_error *err);
int queue_void(queue *q, uint64_t id, const char *reason, int64_t now, const q_ticket **out,
               q_error *err);

/* Call the next ticket to window_no, by the policy; a recall if the window
 * has a CALLED ticket (a no-show and a fresh call past the recall limit).
 * reason (Q_REASON_MAX) says why this ticket was picked. */
int queue_call_next(queue *q, uint32_t window_no, int64_t now, const q_ticket **out, char *reason,
                    q_error *err);
int queue_recall(queue *q, uint32_t window_no, uint64_t id, int64_t now, const q_ticket **out,
                 q_error *err);
int queue_no_show(queue *q, uint32_t window_no, uint64_t id, int64_t now, const q_ticket **out,
                  q_error *err);
int queue_start(queue *q, uint32_t window_no, uint64_t id, int64_t now, const q_ticket **out,
                q_error *err);
int queue_finish(queue *q, uint32_t window_no, uint64_t id, int64_t now, const q_ticket **out,
                 q_error *err);
/* Keep note (at most Q_NOTE_MAX - 1 bytes, "" to clear) with a live
 * ticket, for the window that calls it next: a transfer's note. Nothing
 * else of the ticket changes. */
int queue_set_note(queue *q, uint64_t id, const char *note, q_error *err);
/* To an area (to_area not empty) or a window (to_window != 0). */
int queue_transfer(queue *q, uint32_t window_no, uint64_t id, const char *to_area,
                   uint32_t to_window, int64_t now, const q_ticket **out, q_error *err);
int queue_hold(queue *q, uint32_t window_no, uint64_t id, int64_t now, const q_ticket **out,
               q_error *err);
int queue_release(queue *q, uint32_t window_no, uint64_t id, int64_t now, const q_ticket **out,
                  q_error *err);
/* window_no 0: cancelled by the hall (kiosk, manager), not a window. */
int queue_cancel(queue *q, uint32_t window_no, uint64_t id, const char *reason, int64_t now,
                 const q_ticket **out, q_error *err);
int queue_rejoin(queue *q, uint64_t id, int64_t now, const q_ticket **out, q_error *err);
/* The live tickets (see the citizen limit above) of citizen hash in area:
 * how many, and *first (may be NULL) the oldest of them, or NULL. A scan
 * of the tickets the engine holds: for a refusal or an upload, not a hot
 * path. */
size_t queue_citizen_live(const queue *q, const char *area, const uint8_t *hash,
                          const q_ticket **first);
/* The citizen's rating (level 1..5) of the service at window_no. The
 * ticket must be SERVING at that window, or DONE there (served_window)
 * within the current business day (QERR_ILLEGAL_STATE otherwise; a bad
 * level or window_no 0 is QERR_BAD_REQUEST, an unknown ticket
 * QERR_NOT_FOUND). A ticket is rated once: rating a rated ticket again
 * succeeds without a change, *out showing the first rating. Rating
 * changes nothing of the ticket's life (state, window, queue order). */
int queue_rate(queue *q, uint32_t window_no, uint64_t id, int level, int64_t now,
               const q_ticket **out, q_error *err);

int queue_sign_in(queue *q, uint32_t window_no, const char *clerk, int64_t now, q_error *err);
int queue_sign_out(queue *q, uint32_t window_no, int64_t now, q_error *err);
int queue_pause(queue *q, uint32_t window_no, const char *reason, int64_t now, q_error *err);
int queue_resume(queue *q, uint32_t window_no, int64_t now, q_error *err);

/* Grant kiosk a block of offline numbers for area on the business day of
 * now. */
int queue_grant_lease(queue *q, const char *kiosk, const char *area, int64_t now,
                      const q_lease **out, q_error *err);
/* An offline-issued ticket: number must lie in a lease of this kiosk for
 * that area and day, and not be known yet (an upload retried after a lost
 * answer finds it: *out is then the ticket already joined, and the call
 * succeeds without a change). It joins WAITING with its real issue time:
 * a time after now counts as now; one more than a minute before its
 * lease was granted is refused as backdated (QERR_BAD_REQUEST). A retired
 * area's tickets still join (they were printed). */
typedef struct q_offline {
    const char *kiosk;
    const char *area;
    const char *number;
    int64_t issued_ms;
    q_priority priority;
    const char *matter;
    const char *masked_name;
    const uint8_t *citizen_hash;
} q_offline;
int queue_offline_join(queue *q, const q_offline *t, int64_t now, const q_ticket **out,
                       q_error *err);

/* Time-driven work, run by the controller's timer: expire reservations
 * past reserved_until, end the rejoin time of no-shows, and at the business
 * day's rollover carry over or close the day's waiting tickets. Returns the
 * number of tickets changed (expired, carried over or closed); a no-show
 * whose rejoin time ends is not a change (NO_SHOW simply becomes final). */
int queue_tick(queue *q, int64_t now);
/* When queue_tick next has work: the earliest reservation expiry, end of
 * a rejoin time or rollover (0 before the first tick). */
int64_t queue_next_due(const queue *q);

/* ---- Reading ------------------------------------------------------------- */

const q_ticket *queue_ticket(const queue *q, uint64_t id);
/* The ticket of business day with display number (the newest if an area
 * that took the prefix again numbered it too), NULL if none. A scan, like
 * queue_citizen_live. */
const q_ticket *queue_ticket_by_number(const queue *q, int32_t day, const char *number);
const q_window *queue_window(const queue *q, uint32_t window_no);
const q_area *queue_area(const queue *q, const char *code);
/* Areas and windows in catalog order; NULL past the end. */
const q_area *queue_area_at(const queue *q, size_t i);
const q_window *queue_window_at(const queue *q, size_t i);
/* WAITING tickets in an area (all heaps; transfers to windows not included),
 * and an estimate of the tickets that will be called before a waiting
 * ticket (its area's older tickets of its own class, plus the green and due
 * appointment tickets for a normal one), in O(log n) or better. The count
 * of older tickets in a heap is interpolated between its head and its
 * newest key: exact for the first and the last, an estimate between; a
 * RESERVED ticket is counted as if it joined now. 0 for other states. */
size_t queue_waiting(const queue *q, const char *area);
size_t queue_ahead(const queue *q, uint64_t id, int64_t now);
/* Median service time of the area over its last finished tickets, ms; a
 * default when there is no history (used for estimated waits). */
int64_t queue_service_estimate(const queue *q, const char *area);

const char *queue_state_name(q_state s);
const char *queue_window_type_name(q_window_type t);
int queue_window_type_parse(const char *name); /* -1 if unknown */
const char *queue_strerror(q_errcode code);

#endif
