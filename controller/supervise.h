/*
 * supervise — the hall's electronic supervision (电子监察) rules. Pure: no
 * I/O, no clock of its own (the snapshot carries `now`, hall time, UTC
 * ms), no SQLite. halld gives it a snapshot of the hall and the limits,
 * and it gives back the conditions that hold now, each {rule, subject,
 * level}; halld turns the changes between two evaluations into alerts
 * (raised, escalated, resolved) and keeps them (docs/supervision.md).
 *
 * Limits: every rule has a warn and a critical threshold (0: that level
 * is off), a duration in ms, a count or a rating level by rule (see
 * sv_rule). The hall's defaults come from halld.ini [supervise], one key
 * per rule ("wait_long = 20m 40m"); overrides for one area or one window
 * from the key overrides ("wait_long@area:intake = 10m 20m;
 * window_idle@window:3 = off"). A window override wins over an area
 * override, which wins over the default.
 */
#ifndef ONEWINDOW_SUPERVISE_H
#define ONEWINDOW_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"

typedef enum sv_rule {
    SV_WAIT_LONG = 0,       /* ms: an area's oldest waiting ticket has waited this long */
    SV_SERVICE_LONG,        /* ms: a window's current ticket called or served this long */
    SV_WINDOW_IDLE,         /* ms: open, no ticket, its areas have waiting tickets */
    SV_WINDOW_PAUSED_LONG,  /* ms: paused this long */
    SV_WINDOW_CLOSED_QUEUE, /* ms: closed in opening hours while its areas have a queue */
    SV_CLERK_ABSENT,        /* ms after its areas opened, no clerk signed in since */
    SV_QUEUE_PER_WINDOW,    /* count: waiting tickets per open window of an area */
    SV_RATING_BAD,          /* level: a rating at or below it (2 不满意, 1 非常不满意) */
    SV_DEVICE_FAULT,        /* on/off (1/0): warn for paper low, a reader or bus fault;
                               critical for paper out, cover open, printer offline */
    SV_DEVICE_SILENT,       /* count: heartbeats missed */
    SV_RULES
} sv_rule;

typedef enum sv_level { SV_NONE = 0, SV_WARN = 1, SV_CRITICAL = 2 } sv_level;

/*
 * An alert's life, as halld runs it (sv_transition_ok says which arrows
 * exist; halld asserts it at every change):
 *
 *             condition holds                 ack (who, note)
 *   (none) -----------------> RAISED ---------------------------> ACKNOWLEDGED
 *                              |  ^ level warn -> critical             |  (level may rise
 *                              |  | (same alert, same id)              |   here too)
 *                              |  +---                                 |
 *                              | condition clears, or resolve by hand  | clears, or resolve
 *                              v                                       v
 *                            RESOLVED (final) <------------------------+
 *
 * A level never falls while the alert is open (one that reached critical
 * stays critical until it is resolved). After RESOLVED the same rule and
 * subject may raise a new alert, with a new id. rating_bad is raised by
 * the rating itself and resolved only by hand.
 */
typedef enum sv_state { SV_RAISED = 1, SV_ACKNOWLEDGED = 2, SV_RESOLVED = 3 } sv_state;

/* Whether an alert may go from one state to the other (the drawing above;
 * staying in an open state is allowed: an escalation). */
bool sv_transition_ok(sv_state from, sv_state to);

#define SV_DEVICE_MAX 64

typedef struct sv_limit {
    int64_t warn, critical; /* 0: off */
} sv_limit;

typedef struct sv_override {
    sv_rule rule;
    char area[Q_CODE_MAX]; /* "" unless for an area */
    uint32_t window_no;    /* 0 unless for a window */
    sv_limit limit;
} sv_override;

typedef struct sv_limits {
    sv_limit rule[SV_RULES];
    sv_override *over;
    size_t nover;
} sv_limits;

/* "wait_long", ...; NULL past SV_RULES. -1 from sv_rule_parse for an
 * unknown name. */
const char *sv_rule_name(sv_rule r);
int sv_rule_parse(const char *name);
const char *sv_level_name(sv_level l);
const char *sv_state_name(sv_state s);
int sv_state_parse(const char *name); /* -1 if unknown */

/* The defaults of every rule (documented in docs/supervision.md). */
void sv_limits_default(sv_limits *l);
/* One rule's value as halld.ini writes it: "WARN CRITICAL" (durations
 * such as 30s, 20m, 1h for the duration rules, plain numbers for the
 * others; "off" for both off, or one "off" for that level). The critical
 * threshold must not be below the warn one (a rating: not above). -1
 * with a reason. */
int sv_limit_parse(sv_rule r, const char *text, sv_limit *out, char *err, size_t errlen);
/* The overrides text ("rule@area:CODE = value; rule@window:N = value"),
 * added to l (the caller frees with sv_limits_release). -1 with a reason
 * naming the entry at fault, l unchanged. */
int sv_overrides_parse(sv_limits *l, const char *text, char *err, size_t errlen);
void sv_limits_release(sv_limits *l);
/* The limit in force for rule at a window (0: none) in an area ("": none). */
sv_limit sv_limit_for(const sv_limits *l, sv_rule r, const char *area, uint32_t window_no);
/* The level a measured value reaches (for SV_RATING_BAD: a rating). */
sv_level sv_level_of(const sv_limits *l, sv_rule r, const char *area, uint32_t window_no,
                     int64_t value);

/* ---- The snapshot -------------------------------------------------------- */

typedef struct sv_area {
    const char *code;
    size_t waiting;         /* WAITING tickets */
    uint64_t oldest_ticket; /* the one that waited longest, 0 if none */
    int64_t oldest_ms;      /* its issue time */
    size_t windows_open;    /* OPEN windows serving it */
    bool open_hours;        /* by the hall calendar, numbers are given now */
    int64_t opened_ms;      /* when it was last seen to open, 0 if not open (or no calendar) */
} sv_area;

typedef struct sv_window {
    uint32_t no;
    q_window_state state;
    int64_t since_ms; /* last change of its state or current ticket */
    bool has_clerk;
    uint64_t ticket;          /* current ticket, 0 if none */
    int64_t ticket_since_ms;  /* when it was called or started */
    const char *const *areas; /* codes of the areas it serves */
    int nareas;
} sv_window;

typedef struct sv_device {
    const char *id;
    bool reported; /* has sent a health report */
    bool paper_low, paper_out, cover_open, printer_offline, reader_fault, bus_fault;
    int64_t missed; /* heartbeats missed (silence / heartbeat interval) */
} sv_device;

typedef struct sv_hall {
    int64_t now;
    const sv_area *areas;
    size_t nareas;
    const sv_window *windows;
    size_t nwindows;
    const sv_device *devices;
    size_t ndevices;
} sv_hall;

/* A condition that holds now. The subject: area, window, ticket and
 * device as the rule names them (the key of an alert is the rule and
 * the subject: rule_key below). */
typedef struct sv_condition {
    sv_rule rule;
    sv_level level;
    char area[Q_CODE_MAX];
    uint32_t window_no;
    uint64_t ticket_id;
    char device[SV_DEVICE_MAX + 1];
    int64_t value; /* what was measured: ms, count, level */
} sv_condition;

/* The conditions that hold in hall under limits, at most cap into out;
 * returns how many hold (may exceed cap: the rest were not written).
 * rating_bad is never among them (ratings raise it: sv_rating). */
size_t sv_evaluate(const sv_hall *hall, const sv_limits *limits, sv_condition *out, size_t cap);

/* A rating of a ticket served at window_no in area: true and *out when it
 * raises rating_bad. */
bool sv_rating(const sv_limits *limits, const char *area, uint32_t window_no, uint64_t ticket_id,
               int level, sv_condition *out);

/* The subject key of a condition ("area:intake", "window:3",
 * "ticket:42", "device:kiosk-01"): one open alert per rule and key. */
void sv_subject_key(const sv_condition *c, char *out, size_t len);

/* Texts of a condition, Chinese and English. */
void sv_text(const sv_condition *c, char *zh, char *en, size_t len);

#endif
