/*
 * store — halld's durable state in one SQLite file. This is the only module
 * that includes sqlite3.h; every statement is prepared once, at open.
 *
 * The file is opened in WAL mode, and every commit syncs the WAL before it
 * returns: a transaction that has committed survives a power cut. A
 * COMMIT may also leave the WAL's sync to the caller
 * (store_commit_unsynced, store_sync), which lets halld sync one turn on
 * another thread while it runs the next. A new file gets
 * 1 KiB pages (fewer bytes for each commit's sync); an existing one keeps
 * its page size. The schema is built by numbered
 * migrations, run in order at open inside one transaction each; the file
 * records the last one applied, and a file written by a newer release is
 * refused rather than guessed at. The file also records the hall it
 * belongs to, so a controller configured for one hall never writes into
 * another hall's database.
 *
 * Tables: settings, areas, matters (the one-window catalog), windows and
 * their areas with weights, clerks, users (of the web pages), devices,
 * tickets, events (append-only, hash-chained: each row holds the SHA-256
 * of the previous row's hash and its own fields), leases, requests
 * (answers kept for idempotent retries, with a digest of their request;
 * an answer dropped past a cap leaves the row with reply NULL),
 * appointments, the hall calendar (calendar_hours, calendar_dates,
 * calendar_areas).
 *
 * Areas and matters are never deleted: a catalog import retires those it
 * no longer names (retired = 1), so tickets and statistics keep their
 * names, and a retired area's live tickets are still called. A retired
 * area's prefix is free for a new area once its tickets of the last two
 * business days are over (a partial UNIQUE index on active prefixes).
 *
 * A ticket voided because its reservation ran out has expired = 1: a
 * late PRINTED brings it back (migration 4). Enumerations (ticket state, priority, window type and
 * state, event kind) are stored as their numbers in queue.h, so those
 * numbers must never change; CHECK constraints keep them in range.
 *
 * A ticket's row also holds its 好差评 rating (rating, rated_ms) and the
 * window that served it (served_window), all 0 until set (migration 3).
 *
 * A display number cannot repeat within a day: tickets has
 * UNIQUE(day, area, number), so even a numbering bug fails a write instead
 * of printing two "A001". store_put_ticket updates by id and never
 * replaces another row to make room.
 *
 * Events cannot be edited, not even with SQL: triggers abort any UPDATE,
 * any DELETE and an INSERT over an existing seq (INSERT OR REPLACE would
 * otherwise delete without firing a delete trigger). An edit made by
 * dropping the triggers is still found by store_verify_events(). Row seq
 * (1, 2, ...) is hashed as
 *
 *   hash = SHA-256(prev_hash || u64 seq || i64 at_ms || i32 day || u32 kind
 *                  || u64 ticket_id || u32 window_no
 *                  || str clerk || str detail || str device)
 *
 * with integers big-endian and fixed-width (signed ones two's complement),
 * each str a u32 big-endian byte length followed by its bytes, and
 * prev_hash the previous row's hash (32 zero bytes for seq 1). Rows also
 * hold what statistics read (q_event: area, matter, duration_ms, rating,
 * reason) and chain, the format of their hash: 0 for rows written before
 * those columns existed (hashed as above), 1 for every row written since,
 * whose hash continues after device with
 *
 *   u32 chain || i64 duration_ms || u32 rating || str area || str matter
 *   || str reason
 *
 * A row's chain never goes below an earlier row's. The last
 * hash is cached; a write by another connection (hallctl appending an
 * admin event while halld runs) is noticed through PRAGMA data_version and
 * the cache re-read, and a rollback drops it.
 *
 * One controller per file: STORE_DAEMON opens take an exclusive advisory
 * lock on "<path>.lock" (holding the pid), so a second halld started by
 * mistake on the same database stops with a clear message. hallctl opens
 * with STORE_ADMIN, which does not lock: SQLite serialises its writes with
 * the controller's, and it tells a running controller to reload. Readers
 * (STORE_READER) take no lock either, and WAL lets them read while the
 * others write.
 *
 * Every kind of open waits up to 5 s for the others' locks
 * (busy_timeout), so hallctl and a running halld can write to the file at
 * the same time.
 *
 * The file holds citizens' data and the audit trail: it is created mode
 * 0600, and a file (or -wal, -shm) that grants anything to group or others
 * is tightened at open (dbfile.h); store_notice() says what was changed.
 *
 * Errors: functions return -1 and leave a one-line reason readable with
 * store_errmsg(); loaders stop at the first callback that returns non-zero.
 * A loader returns 0 when it delivered every row, -1 on a store error, and
 * otherwise the non-zero value of the callback that stopped it. Loaders
 * may not be re-entered from their own callback (-1). Strings handed to
 * callbacks are valid only during the call.
 *
 * A write outside store_begin()/store_commit() runs in a transaction of
 * its own; functions that write several rows (store_replace_catalog,
 * store_save_window, store_append_event) are whole either way.
 */
#ifndef ONEWINDOW_STORE_H
#define ONEWINDOW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calendar.h"
#include "pwhash.h"
#include "queue.h"

typedef struct store store;

enum store_mode { STORE_DAEMON, STORE_ADMIN, STORE_READER };

/* Open (creating if absent) the database at path for hall_id and migrate
 * it. NULL with a reason in err.
 *
 * STORE_READER opens an existing file read-only, for lists and reports
 * read beside the controller (on another thread, or in another process):
 * no lock file, no migration, nothing created or tightened. It refuses a file at
 * another schema version than this build's ("hall.db is at schema 6,
 * this build reads 7: start halld or run hallctl once to migrate it") and
 * a file of another hall. Its reads see each commit of the other
 * connections; every write fails (store_begin() too), and store_sync()
 * has nothing to do. */
store *store_open(const char *path, const char *hall_id, enum store_mode mode, char *err,
                  size_t errlen);
void store_close(store *s);
const char *store_errmsg(const store *s);
/* What store_open() changed on the file system, or could not, as one
 * sentence for a warning ("hall.db was mode 0644, now 0600"); "" if
 * nothing. */
const char *store_notice(const store *s);
int store_schema_version(const store *s);
/* The pid of the controller holding the lock on path (read from
 * "<path>.lock"), 0 if nobody holds it, -1 if it is held but the pid
 * cannot be read. Never blocks and never takes the lock. */
long store_locked_by(const char *path);

/* ---- Transactions -------------------------------------------------------- */

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. One transaction per loop turn in
 * the controller (group commit); the journal writers below run inside it.
 * store_begin() inside a transaction fails. A failed commit leaves no
 * transaction open (it is rolled back). */
int store_begin(store *s);
int store_commit(store *s);
/* A COMMIT that writes the transaction to the write-ahead log without
 * syncing it: visible at once, durable only once store_sync() has
 * returned 0. Fails like store_commit() (the transaction is then gone). */
int store_commit_unsynced(store *s);
/* Make every commit so far durable (one fdatasync of the WAL, through
 * SQLite's VFS). The one store function that may run on another thread,
 * at the same time as the owner's calls: it reads nothing the others
 * change. -1 with errno EIO: what was committed may not survive a power
 * cut, and a later sync cannot tell (the kernel may have dropped the
 * failed pages), so the daemon must stop. store_commit() is
 * store_commit_unsynced() then store_sync(). */
int store_sync(store *s);
int store_rollback(store *s);
bool store_in_transaction(const store *s);
/* One request inside the turn's transaction: SAVEPOINT, then RELEASE
 * (keep its writes in the transaction) or ROLLBACK TO (undo them, and only
 * them; the savepoint is released too). Not nested. */
int store_savepoint(store *s);
int store_release(store *s);
int store_rollback_to(store *s);

/* ---- The queue engine's journal ------------------------------------------ */

int store_put_ticket(store *s, const q_ticket *t); /* insert or replace by id */
int store_put_window(store *s, const q_window *w); /* state, clerk, current */
int store_put_lease(store *s, const q_lease *l);
/* Append one event, chained to the previous one. device is the device that
 * asked for it ("" for the controller's own timers). */
int store_append_event(store *s, const q_event *e, const char *device);

/* Administrative changes (catalog import, windows, clerks, devices,
 * appointments) are events too, of this kind (outside q_event_kind), so
 * the audit trail shows who changed the hall's set-up and when: user is
 * the operator (the clerk column), what a one-line description (detail),
 * device the tool ("hallctl"). ticket_id and window_no are 0. */
#define STORE_EVENT_ADMIN 100
int store_append_admin_event(store *s, int64_t at_ms, int32_t day, const char *device,
                             const char *user, const char *what);

/* ---- Alerts (supervise.h; halld writes them, others read) ---------------- */

/* Every change of an alert is an event of this kind: user who did it (""
 * for halld's own rules), what "alert ID raised|escalated|acknowledged|
 * resolved ...". */
#define STORE_EVENT_ALERT 101
int store_append_alert_event(store *s, int64_t at_ms, int32_t day, const char *device,
                             const char *user, const char *what);

typedef struct store_alert {
    char id[96]; /* stable: the hall id, '-', seq */
    uint64_t seq;
    char rule[32];
    char subject[96]; /* "area:intake", "window:3", "ticket:42", "device:kiosk-01" */
    int level;        /* sv_level */
    int state;        /* sv_state */
    char area[16];
    uint32_t window_no;
    uint64_t ticket_id;
    char device[65];
    char text_zh[256], text_en[256];
    int64_t raised_ms, updated_ms;
    char acked_by[80], ack_note[256];
    int64_t resolved_ms;
    char resolved_by[80], resolve_note[256];
    uint32_t changes; /* the alert's changes so far: 1 when raised */
} store_alert;

/* Insert or replace by id. */
int store_put_alert(store *s, const store_alert *a);
int store_get_alert(store *s, const char *id, store_alert *out); /* 1, 0, -1 */
/* Newest first (by seq), at most limit; open_only: raised or acknowledged.
 * fn returning non-zero stops the walk with that value. */
int store_load_alerts(store *s, bool open_only, size_t limit,
                      int (*fn)(void *arg, const store_alert *a), void *arg);
int store_max_alert_seq(store *s, uint64_t *out);

/* Webhook deliveries: the JSON body of one change of an alert, kept until
 * the receiver took it (or it was given up). */
typedef struct store_delivery {
    uint64_t id;
    char alert_id[96];
    uint32_t change;
    char *body; /* the caller frees */
    int64_t created_ms;
} store_delivery;
int store_add_delivery(store *s, const char *alert_id, uint32_t change, const char *body,
                       int64_t at_ms);
int store_count_deliveries(store *s, size_t *out);
/* The oldest delivery with an id above after: 1, 0 (none), -1. */
int store_next_delivery(store *s, uint64_t after, store_delivery *out);
int store_drop_delivery(store *s, uint64_t id);
/* The changes of every alert together (DisplayPush.alerts_seq goes on
 * from it after a restart). */
int store_alert_changes(store *s, uint64_t *out);
/* Per area, the WAITING ticket issued first: fn(area, id, issued_ms). */
int store_oldest_waiting(store *s,
                         int (*fn)(void *arg, const char *area, uint64_t id, int64_t issued_ms),
                         void *arg);
/* Keep the packed answer to (device, request_id) and the request's digest
 * (STORE_DIGEST_LEN bytes, or NULL), for retries; *row receives the row
 * that holds it. Rows are appended in the order kept and the store does
 * not look them up by key (the caller answers retries from memory): a key
 * kept twice has two rows, and the loader delivers the later one last. */
#define STORE_DIGEST_LEN 16
int store_put_request(store *s, const char *device, uint64_t request_id, int64_t at_ms,
                      const uint8_t *digest, const uint8_t *reply, size_t len, uint64_t *row);
/* Drop the bytes of the answer kept in row, keeping the row (key and
 * digest) until it is pruned. */
int store_drop_request_reply(store *s, uint64_t row);

/* ---- Loading at start ----------------------------------------------------- */

/* Every area, active ones first (in catalog order), then retired ones. */
int store_load_areas(store *s, int (*fn)(void *arg, const q_area *a), void *arg);
int store_load_windows(store *s, int (*fn)(void *arg, const q_window *w), void *arg);
/* Tickets in live states (RESERVED, WAITING, CALLED, SERVING, HOLD,
 * NO_SHOW) and every ticket of business days >= since_day (for numbering
 * and service-time estimates), in id order. */
int store_load_tickets(store *s, int32_t since_day, int (*fn)(void *arg, const q_ticket *t),
                       void *arg);
/* A read transaction on a STORE_READER connection: the reads between
 * the two see one state of the hall. */
int store_read_begin(store *s);
void store_read_end(store *s);
/* Reads for reports (a STORE_READER connection): the tickets in a live
 * state (reserved, waiting, called, serving, no-show, held), by id; one
 * ticket (1 found, 0 not, -1 error). */
int store_load_live_tickets(store *s, int (*fn)(void *arg, const q_ticket *t), void *arg);
int store_get_ticket(store *s, uint64_t id, q_ticket *out);
/* What a clerk did on a business day, from the event log: tickets called
 * (recalls not counted), services finished, no-shows and transfers. The
 * day's events are found by a binary search along the log, which is
 * appended in time order (a hall clock set back across a rollover may
 * make them miss a few). 0, or -1. */
typedef struct store_day_counts {
    uint32_t called, finished, no_show, transferred;
} store_day_counts;
int store_clerk_day(store *s, const char *clerk, int32_t day, store_day_counts *out);
/* The events of business days from_day..to_day whose kind is in kinds (a
 * mask of 1u << kind; kinds under 32), in log order, with the columns
 * statistics read. The range is found by a binary search along the log,
 * as store_clerk_day() does. 0, -1, or the callback's non-zero value. */
typedef struct store_event_row {
    uint64_t seq;
    int64_t at_ms;
    int32_t day;
    q_event_kind kind;
    uint64_t ticket_id;
    uint32_t window_no;
    const char *clerk, *area, *matter, *reason;
    int64_t duration_ms;
    int rating;
} store_event_row;
int store_scan_events(store *s, int32_t from_day, int32_t to_day, uint32_t kinds,
                      int (*fn)(void *arg, const store_event_row *e), void *arg);
int store_load_leases(store *s, int32_t since_day, int (*fn)(void *arg, const q_lease *l),
                      void *arg);
/* Answers kept since since_ms, in the order kept, from the first one kept
 * at or after since_ms (a later row with an earlier time, kept after the
 * clock went back, is left out). digest is NULL for a row written before
 * digests were kept; reply is NULL for a dropped answer. */
typedef int store_request_fn(void *arg, uint64_t row, const char *device, uint64_t request_id,
                             int64_t at_ms, const uint8_t *digest, const uint8_t *reply,
                             size_t len);
int store_load_requests(store *s, int64_t since_ms, store_request_fn *fn, void *arg);
/* Forget the answers kept before the first one kept at or after before_ms
 * (all of them if there is none): the cost is the rows it removes. */
int store_prune_requests(store *s, int64_t before_ms);
/* The highest ticket id ever issued, 0 if none. */
int store_max_ticket_id(store *s, uint64_t *out);

/* ---- Catalog and registry (hallctl) --------------------------------------- */

typedef struct store_matter {
    char code[Q_CODE_MAX];
    char name[Q_NAME_MAX * 2];
    char name_en[Q_NAME_MAX * 2]; /* "" if the catalog gives none */
    char area[Q_CODE_MAX];
    const char *conditions;    /* acceptance conditions, free text */
    const char *materials;     /* materials list, one per line */
    const char *sample;        /* sample text */
    const char *review_points; /* review points, one per line */
    bool in_one_window;
    bool online_doable;
} store_matter;

/* Replace the whole catalog (areas and matters) in one transaction: what
 * it names is active (new, or updated in place), every other area and
 * matter is retired. Refused, with nothing changed, when a new area would
 * take the prefix of a retired area that has tickets of business day
 * since_day or later (today and yesterday, for the caller). */
int store_replace_catalog(store *s, const q_area *areas, size_t nareas, const store_matter *matters,
                          size_t nmatters, int32_t since_day);
/* Active matters (area NULL: of every area). */
int store_count_matters(store *s, const char *area, size_t *out);
/* The name of matter code (retired ones too) into out: 1 found, 0 not,
 * -1 error. */
int store_matter_name(store *s, const char *code, char *out, size_t len);
/* The reason given with window_no's latest pause (its paused event's
 * detail, "" if none was given): 1 found, 0 the window was never paused,
 * -1 error. Reads the events since that pause: for a paused window. */
int store_pause_reason(store *s, uint32_t window_no, char *out, size_t len);
/* Active matters in catalog order; the text fields point into the store's
 * row. */
int store_load_matters(store *s, int (*fn)(void *arg, const store_matter *m), void *arg);

/* A live ticket (RESERVED, WAITING, CALLED, SERVING, NO_SHOW, HOLD) of a
 * retired area, as a catalog import reports it. */
typedef struct store_live_ticket {
    char area[Q_CODE_MAX];
    char number[Q_NUMBER_MAX];
    q_state state;
    int32_t day;
} store_live_ticket;
int store_load_live_in_retired(store *s, int (*fn)(void *arg, const store_live_ticket *t),
                               void *arg);

/* A window and its areas; replaces an existing window of that number
 * (keeping its state, clerk and current ticket). Every area must be in the
 * catalog (a retired area too: a window may go on calling its tickets). */
int store_save_window(store *s, const q_window *w);

/* A clerk. pin_hash is the pwhash.h hash of the PIN the clerk signs in
 * with at a call-pad ("" for none); store_save_clerk leaves it alone. */
#define STORE_PIN_HASH_MAX 200
typedef struct store_clerk {
    char id[Q_CODE_MAX + 16];
    char name[Q_NAME_MAX];
    bool active;
    char pin_hash[STORE_PIN_HASH_MAX + 1];
} store_clerk;
int store_save_clerk(store *s, const store_clerk *c);
/* Set (or with "" clear) a clerk's PIN hash: 1 set, 0 no such clerk, -1
 * error. */
int store_set_clerk_pin(store *s, const char *id, const char *pin_hash);
int store_get_clerk(store *s, const char *id, store_clerk *out); /* 1 found, 0 not, -1 error */
int store_load_clerks(store *s, int (*fn)(void *arg, const store_clerk *c), void *arg);

/* The people who sign in to the hall's web pages, each with one role. A
 * user of role clerk is a clerk of the clerks table (clerk_id), and acts
 * as that clerk. The password is kept only as a pwhash.h hash. Users are
 * never deleted: a user who leaves is disabled.
 *
 * session_epoch is raised by every change that must end the user's web
 * sessions (a new password, another role, disabled or enabled, "log out
 * everywhere"): a session remembers the epoch it was opened at and is
 * over once the user's epoch differs. The setters below raise it and set
 * changed_ms; each returns 0, or -1 with a reason (no such user, a bad
 * value, a clerk that does not exist). */
#define STORE_USER_NAME_MAX 32 /* 1..32 of [a-z0-9._-], starting with a letter */

typedef struct store_user {
    char name[STORE_USER_NAME_MAX + 1];
    char display_name[Q_NAME_MAX];
    char role[16];                  /* admin manager clerk reviewer consult auditor */
    char clerk_id[Q_CODE_MAX + 16]; /* "" unless role is clerk */
    char pwhash[PWHASH_MAX];
    bool disabled;
    int64_t session_epoch; /* bumped by every change that must end the user's web sessions */
    int64_t created_ms, changed_ms;
} store_user;
/* Add a new user: session_epoch is ignored (a new user starts at 0), and
 * changed_ms is set to created_ms. -1 if the name exists (the reason says
 * so), or a value is refused. */
int store_add_user(store *s, const store_user *u);
int store_get_user(store *s, const char *name, store_user *out); /* 1 found, 0 not, -1 error */
/* Every user, by name. */
int store_load_users(store *s, int (*fn)(void *arg, const store_user *u), void *arg);
int store_set_user_password(store *s, const char *name, const char *pwhash, int64_t at_ms);
/* clerk_id: the clerk of role clerk, NULL or "" for any other role. */
int store_set_user_role(store *s, const char *name, const char *role, const char *clerk_id,
                        int64_t at_ms);
int store_set_user_disabled(store *s, const char *name, bool disabled, int64_t at_ms);
/* Only raises the epoch: "log out everywhere". */
int store_end_user_sessions(store *s, const char *name, int64_t at_ms);
/* Whether role is one of the six, and name spelled as a user's name is. */
bool store_user_role_valid(const char *role);
bool store_user_name_valid(const char *name);

/* Device types as in hall.proto's DeviceType. */
typedef struct store_device {
    char id[Q_DEVICE_MAX + 1];
    int type;           /* 1 kiosk, 2 window terminal, 3 display, 4 tool, 5 web gateway */
    uint32_t window_no; /* window terminals: their window */
    bool revoked;
    int64_t added_ms;
} store_device;
int store_save_device(store *s, const store_device *d);
int store_get_device(store *s, const char *id, store_device *out); /* 1 found, 0 not, -1 error */
int store_load_devices(store *s, int (*fn)(void *arg, const store_device *d), void *arg);

/* The hall's big screens (大屏, docs/dashboard.md): a screen on the wall
 * opens its read-only page with a token of its own, issued and revoked
 * by an administrator; only the token's SHA-256 (hex) is kept. A revoked
 * screen stays listed; issuing its name again gives it a new token. */
#define STORE_SCREEN_NAME_MAX 32 /* 1..32 of [a-z0-9._-], starting with a letter or digit */

typedef struct store_screen {
    char name[STORE_SCREEN_NAME_MAX + 1];
    char token_sha256[65];
    int64_t issued_ms;
    char issued_by[128];
    int64_t revoked_ms; /* 0: live */
    char revoked_by[128];
} store_screen;
bool store_screen_name_valid(const char *name);
/* Issue sc (name, token_sha256, issued_ms, issued_by): a new screen, or a
 * new token for the name, live again. */
int store_save_screen(store *s, const store_screen *sc);
int store_get_screen(store *s, const char *name, store_screen *out); /* 1 found, 0 not, -1 error */
/* Every screen, by name. */
int store_load_screens(store *s, int (*fn)(void *arg, const store_screen *sc), void *arg);
/* 1 revoked now, 0 no live screen of that name, -1 error. */
int store_revoke_screen(store *s, const char *name, int64_t at_ms, const char *by);

/* A business day's tickets at a glance (the dashboard and the big
 * screen): issued (all but unused reservations and voided ones), served
 * (done), rated, and rated 3 (基本满意) or better. */
typedef struct store_day_glance {
    uint32_t issued, served, rated, satisfied;
} store_day_glance;
int store_day_summary(store *s, int32_t day, store_day_glance *out);
/* For each window with an event on day: the time of its last one (when its
 * state last changed: a sign-in, call, finish, pause ...). fn returning
 * non-zero stops the walk with that value. */
int store_windows_since(store *s, int32_t day, int (*fn)(void *arg, uint32_t no, int64_t at_ms),
                        void *arg);

int store_get_setting(store *s, const char *key, char *out, size_t outlen); /* 1, 0, -1 */
int store_set_setting(store *s, const char *key, const char *value);

/* ---- Appointments -------------------------------------------------------- */

/* An appointment is booked ahead (online, by phone, or with hallctl) for
 * an area and a slot; checking in at the kiosk issues its ticket and uses
 * it, once:
 *
 *   store_save_appointment        store_mark_appointment_used
 *   ----------------------> BOOKED ---------------------------> USED
 *   (again: changes the booking)  <---------------------------
 *                                   store_release_appointment
 *                                   (its ticket voided or expired;
 *                                   store_reclaim_appointment undoes it
 *                                   if the ticket comes back)
 */
typedef enum store_appointment_state {
    STORE_APPT_BOOKED = 1,
    STORE_APPT_USED = 2,
} store_appointment_state;

#define STORE_APPT_CODE_MAX 32 /* booking code, 1..31 of [A-Za-z0-9_-] */

typedef struct store_appointment {
    char code[STORE_APPT_CODE_MAX];
    char area[Q_CODE_MAX];
    int64_t slot_ms; /* UTC */
    char masked_name[Q_MASKED_MAX];
    bool has_citizen;
    uint8_t citizen_hash[Q_HASH_LEN]; /* HMAC of the ID number, if has_citizen */
    store_appointment_state state;
    uint64_t ticket_id; /* USED: the ticket it was checked in as; else 0 */
} store_appointment;

/* Book a new appointment, or change a BOOKED one with the same code (its
 * state and ticket_id are ignored: it stays BOOKED). A USED one cannot be
 * changed: -1. */
int store_save_appointment(store *s, const store_appointment *a);
int store_get_appointment(store *s, const char *code, store_appointment *out); /* 1, 0, -1 */
/* BOOKED -> USED with its ticket. 1 done, 0 if there is no BOOKED
 * appointment of that code (unknown or already used), -1 on error. */
int store_mark_appointment_used(store *s, const char *code, uint64_t ticket_id);
/* The ticket of a USED appointment was voided or its reservation ran out:
 * USED -> BOOKED, so the citizen can check in again; the appointment
 * remembers the ticket. 1 done, 0 if no appointment was used by it. */
int store_release_appointment(store *s, uint64_t ticket_id);
/* A released ticket came back (a late PRINTED): BOOKED -> USED by it
 * again, unless the appointment was checked in anew meanwhile. 1 done, 0
 * if not. */
int store_reclaim_appointment(store *s, uint64_t ticket_id);
/* Appointments with slots at or after since_ms, in slot order. */
int store_load_appointments(store *s, int64_t since_ms,
                            int (*fn)(void *arg, const store_appointment *a), void *arg);

/* ---- The hall calendar --------------------------------------------------- */

/* The whole calendar into *out (the caller's to calendar_free; an empty
 * one when none is configured). -1 with the reason, *out NULL. */
int store_load_calendar(store *s, calendar **out);
/* Replace the stored calendar with c, whole. */
int store_save_calendar(store *s, const calendar *c);

/* ---- Audit ---------------------------------------------------------------- */

/* Walk the event chain from the first row, recomputing every hash. 0 and
 * *count events if intact; -1 with the first broken row named in
 * store_errmsg() otherwise. An intact chain may still have been rewritten
 * (every later hash recomputed) or cut short (rows removed from the end):
 * only a head recorded elsewhere shows that — the signed anchors of
 * anchor.h, checked with store_event_hash(). */
int store_verify_events(store *s, uint64_t *count);
/* The last event's seq and hash (0 and zeros if there is none), as this
 * connection sees it: inside a transaction, with its own events. */
int store_event_head(store *s, uint64_t *seq, uint8_t hash[32]);
/* The last committed event's seq and hash: the same as store_event_head()
 * outside a transaction; inside one, the head before its first event
 * (those may still be rolled back). What may be anchored. */
int store_committed_head(store *s, uint64_t *seq, uint8_t hash[32]);
/* The stored hash of event seq: 1 and hash, 0 if there is no such event,
 * -1 on error. */
int store_event_hash(store *s, uint64_t seq, uint8_t hash[32]);

#endif
