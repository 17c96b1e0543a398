/*
 * store — halld's durable state in one SQLite file. This is the only module
 * that includes sqlite3.h; every statement is prepared once, at open.
 *
 * The file is opened in WAL mode with synchronous=FULL: a transaction that
 * has committed survives a power cut. The schema is built by numbered
 * migrations, run in order at open inside one transaction each; the file
 * records the last one applied, and a file written by a newer release is
 * refused rather than guessed at. The file also records the hall it
 * belongs to, so a controller configured for one hall never writes into
 * another hall's database.
 *
 * Tables: settings, areas, matters (the one-window catalog), windows and
 * their areas with weights, clerks, devices, tickets, events (append-only,
 * hash-chained: each row holds the SHA-256 of the previous row's hash and
 * its own fields), leases, requests (answers kept for idempotent retries).
 *
 * One controller per file: STORE_DAEMON opens take an exclusive advisory
 * lock on "<path>.lock" (holding the pid), so a second halld started by
 * mistake on the same database stops with a clear message. hallctl opens
 * with STORE_ADMIN, which does not lock: SQLite serialises its writes with
 * the controller's, and it tells a running controller to reload.
 *
 * Errors: functions return -1 and leave a one-line reason readable with
 * store_errmsg(); loaders stop at the first callback that returns non-zero.
 */
#ifndef ONEWINDOW_STORE_H
#define ONEWINDOW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"

typedef struct store store;

enum store_mode { STORE_DAEMON, STORE_ADMIN };

/* Open (creating if absent) the database at path for hall_id and migrate
 * it. NULL with a reason in err. */
store *store_open(const char *path, const char *hall_id, enum store_mode mode, char *err,
                  size_t errlen);
void store_close(store *s);
const char *store_errmsg(const store *s);
int store_schema_version(const store *s);
/* The pid of the controller holding the lock on path, 0 if none. */
long store_locked_by(const char *path);

/* ---- Transactions -------------------------------------------------------- */

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. One transaction per loop turn in
 * the controller (group commit); the journal writers below run inside it. */
int store_begin(store *s);
int store_commit(store *s);
int store_rollback(store *s);
bool store_in_transaction(const store *s);

/* ---- The queue engine's journal ------------------------------------------ */

int store_put_ticket(store *s, const q_ticket *t);       /* insert or replace by id */
int store_put_window(store *s, const q_window *w);       /* state, clerk, current */
int store_put_lease(store *s, const q_lease *l);
/* Append one event, chained to the previous one. device is the device that
 * asked for it ("" for the controller's own timers). */
int store_append_event(store *s, const q_event *e, const char *device);
/* Keep the packed answer to (device, request_id), for retries. */
int store_put_request(store *s, const char *device, uint64_t request_id, int64_t at_ms,
                      const uint8_t *reply, size_t len);

/* ---- Loading at start ----------------------------------------------------- */

int store_load_areas(store *s, int (*fn)(void *arg, const q_area *a), void *arg);
int store_load_windows(store *s, int (*fn)(void *arg, const q_window *w), void *arg);
/* Tickets in live states (RESERVED, WAITING, CALLED, SERVING, HOLD,
 * NO_SHOW) and every ticket of business days >= since_day (for numbering
 * and service-time estimates), in id order. */
int store_load_tickets(store *s, int32_t since_day, int (*fn)(void *arg, const q_ticket *t),
                       void *arg);
int store_load_leases(store *s, int32_t since_day, int (*fn)(void *arg, const q_lease *l),
                      void *arg);
/* Answers kept since since_ms, oldest first; and delete older ones. */
int store_load_requests(store *s, int64_t since_ms,
                        int (*fn)(void *arg, const char *device, uint64_t request_id,
                                  int64_t at_ms, const uint8_t *reply, size_t len),
                        void *arg);
int store_prune_requests(store *s, int64_t before_ms);
/* The highest ticket id ever issued, 0 if none. */
int store_max_ticket_id(store *s, uint64_t *out);

/* ---- Catalog and registry (hallctl) --------------------------------------- */

typedef struct store_matter {
    char code[Q_CODE_MAX];
    char name[Q_NAME_MAX * 2];
    char area[Q_CODE_MAX];
    const char *conditions;    /* acceptance conditions, free text */
    const char *materials;     /* materials list, one per line */
    const char *sample;        /* sample text */
    const char *review_points; /* review points, one per line */
    bool in_one_window;
    bool online_doable;
} store_matter;

/* Replace the whole catalog (areas and matters) in one transaction. */
int store_replace_catalog(store *s, const q_area *areas, size_t nareas, const store_matter *matters,
                          size_t nmatters);
int store_count_matters(store *s, const char *area, size_t *out); /* area NULL: all */

/* A window and its areas; replaces an existing window of that number
 * (keeping its state). */
int store_save_window(store *s, const q_window *w);

typedef struct store_clerk {
    char id[Q_CODE_MAX + 16];
    char name[Q_NAME_MAX];
    bool active;
} store_clerk;
int store_save_clerk(store *s, const store_clerk *c);
int store_get_clerk(store *s, const char *id, store_clerk *out); /* 1 found, 0 not, -1 error */
int store_load_clerks(store *s, int (*fn)(void *arg, const store_clerk *c), void *arg);

/* Device types as in hall.proto's DeviceType. */
typedef struct store_device {
    char id[Q_DEVICE_MAX + 1];
    int type;           /* 1 kiosk, 2 window terminal, 3 display, 4 tool */
    uint32_t window_no; /* window terminals: their window */
    bool revoked;
    int64_t added_ms;
} store_device;
int store_save_device(store *s, const store_device *d);
int store_get_device(store *s, const char *id, store_device *out); /* 1 found, 0 not, -1 error */
int store_load_devices(store *s, int (*fn)(void *arg, const store_device *d), void *arg);

int store_get_setting(store *s, const char *key, char *out, size_t outlen); /* 1, 0, -1 */
int store_set_setting(store *s, const char *key, const char *value);

/* Walk the event chain from the first row, recomputing every hash. 0 and
 * *count events if intact; -1 with the first broken row named in
 * store_errmsg() otherwise. */
int store_verify_events(store *s, uint64_t *count);

#endif
