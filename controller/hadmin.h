/*
 * hadmin — the hall's everyday administrative changes (windows, clerks,
 * users, device revocation, the catalog), shared by hallctl and the web
 * layer's admin pages so both check the same rules and say the same
 * things (docs/web.md).
 *
 * Each change is checked first (the *_build functions: the values alone;
 * the change functions: against the hall's database), then written in
 * one transaction together with its audit event, which names who made it
 * (hadmin_actor). A refused change writes nothing and says why in
 * hadmin_error, in English and in Chinese, naming the field at fault.
 *
 * The caller owns what follows a commit: anchoring the log's head
 * (hadmin_anchor) and telling a running halld to reload (hadmin_notify)
 * after a change halld holds in memory (windows, clerks, devices, the
 * catalog; users are read at each request and need no reload).
 */
#ifndef ONEWINDOW_HADMIN_H
#define ONEWINDOW_HADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "anchor.h"
#include "catalog.h"
#include "clk.h"
#include "queue.h"
#include "store.h"

#define HADMIN_PASSWORD_MIN  8  /* characters of a password a person chooses */
#define HADMIN_PASSWORD_MADE 12 /* characters of a password hadmin_password_make() makes */
#define HADMIN_WINDOW_MAX    9999
#define HADMIN_WEIGHT_MAX    1000

/* The device kinds of the devices table (store_device.type). */
enum hadmin_device_type {
    HADMIN_DEV_KIOSK = 1,
    HADMIN_DEV_WINDOW,
    HADMIN_DEV_DISPLAY,
    HADMIN_DEV_TOOL,
    HADMIN_DEV_WEB
};

/* Why a change was refused. */
typedef enum hadmin_fault {
    HADMIN_INVALID = 1, /* a value breaks a rule */
    HADMIN_NOT_FOUND,   /* what it names does not exist */
    HADMIN_CONFLICT,    /* it contradicts the hall as it is (a name taken, an id revoked) */
    HADMIN_FAILED       /* the database failed; nothing was changed */
} hadmin_fault;

typedef struct hadmin_error {
    hadmin_fault fault;
    /* The value at fault, named as hallctl's option and the API's member
     * name it ("no", "name", "type", "areas", "id", "role", "clerk",
     * "window", "display_name", "password"), and as given (cut short, ""
     * for a password); field NULL when the refusal is about no one value.
     * The sentences give the reason only: hallctl prints "--field value:"
     * before it, the pages mark the field. */
    const char *field;
    char value[80];
    char en[600], zh[600];
} hadmin_error;

/* Who makes a change, for its audit event. */
typedef struct hadmin_actor {
    const char *device;  /* "hallctl", or the web gateway's device id */
    const char *user;    /* the operating-system user, or the web user */
    const char *address; /* the web user's address; NULL from hallctl */
    const clk_zone *zone;
    int rollover_hour;
} hadmin_actor;

/* Record an administrative change (fmt: what changed) in the audit
 * chain, inside the caller's transaction so that the change and its
 * record commit together; from the web its text is "web: WHAT (from
 * ADDRESS)". -1 with the store's reason. */
int hadmin_audit(store *st, const hadmin_actor *a, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Names of the device kinds ("kiosk", ...); NULL out of range. */
const char *hadmin_device_type_name(int type);

/* ---- Windows ---------------------------------------------------------- */

/* A window's number, name and type into w (its areas cleared). */
int hadmin_window_build(q_window *w, long no, const char *name, const char *type, hadmin_error *e);
/* One more area served by w, with its weight. */
int hadmin_window_area(q_window *w, const char *area, long weight, hadmin_error *e);
/* Add window w, or change its name, type and areas (its state, clerk and
 * ticket stay): every area must be in the catalog (a retired one too, for
 * its live tickets). */
int hadmin_window_save(store *st, const hadmin_actor *a, const q_window *w, hadmin_error *e);

/* ---- Clerks ------------------------------------------------------------ */

int hadmin_clerk_build(store_clerk *c, const char *id, const char *name, hadmin_error *e);
/* Add a clerk, or rename one. */
int hadmin_clerk_save(store *st, const hadmin_actor *a, const store_clerk *c, hadmin_error *e);

/* Call-pad PINs: HADMIN_PIN_MIN..HADMIN_PIN_MAX digits, typed on a pad's
 * keypad with the clerk's number, so only a clerk whose id is at most 16
 * digits can have one. */
#define HADMIN_PIN_MIN  4
#define HADMIN_PIN_MAX  8
#define HADMIN_PIN_MADE 6 /* digits of a PIN hadmin_pin_make makes */
/* 0, or -1 refused (field "pin", the value never shown). */
int hadmin_pin_check(const char *pin, hadmin_error *e);
/* A random PIN of HADMIN_PIN_MADE digits into out (len > HADMIN_PIN_MADE);
 * -1 with errno EIO (no randomness) or EINVAL. */
int hadmin_pin_make(char *out, size_t len);
/* Set clerk id's PIN to the hash pin_hash (pwhash_make of a PIN that
 * passed hadmin_pin_check; "" clears it) and record it (never the PIN) in
 * the audit chain. Refused: no such clerk, an id a pad cannot type. */
int hadmin_clerk_set_pin(store *st, const hadmin_actor *a, const char *id, const char *pin_hash,
                         hadmin_error *e);

/* ---- Devices ----------------------------------------------------------- */

/* A device to register: id, kind and window (window 0: none; required for
 * a window terminal, allowed for a display). */
int hadmin_device_build(store_device *d, const char *id, const char *type, long window,
                        hadmin_error *e);
/* Whether d may be registered: its id never used, its window there. */
int hadmin_device_check_new(store *st, const store_device *d, hadmin_error *e);
/* Revoke a device for good: 1 revoked now, 0 it was already, -1 refused. */
int hadmin_device_revoke(store *st, const hadmin_actor *a, const char *id, hadmin_error *e);

/* ---- Users ------------------------------------------------------------- */

/* A new user (no password yet): name, role, the clerk of a clerk user
 * (NULL or "" otherwise), the display name (NULL or "": the clerk's name
 * for a clerk, else the sign-in name, filled in by hadmin_user_add). */
int hadmin_user_build(store_user *u, const char *name, const char *role, const char *clerk,
                      const char *display, hadmin_error *e);
/* A password a person chose: HADMIN_PASSWORD_MIN..PWHASH_PASSWORD_MAX
 * characters, one line. */
int hadmin_password_check(const char *password, hadmin_error *e);
/* Make a password of HADMIN_PASSWORD_MADE letters and digits (never 0 O
 * 1 l I) into out (at least HADMIN_PASSWORD_MADE + 1 bytes). -1 if
 * OpenSSL has no randomness. */
int hadmin_password_make(char *out, size_t len);
/* Add u with the password hash pwhash; the user must not exist. */
int hadmin_user_add(store *st, const hadmin_actor *a, store_user *u, const char *pwhash,
                    hadmin_error *e);
/* Another role (and clerk). 1 changed, 0 it was so already, -1 refused. */
int hadmin_user_role(store *st, const hadmin_actor *a, const char *name, const char *role,
                     const char *clerk, hadmin_error *e);
/* Disable or enable. 1 changed, 0 it was so already, -1 refused. */
int hadmin_user_disable(store *st, const hadmin_actor *a, const char *name, bool disable,
                        hadmin_error *e);
int hadmin_user_password(store *st, const hadmin_actor *a, const char *name, const char *pwhash,
                         hadmin_error *e);
/* End every web session of the user. */
int hadmin_user_logout(store *st, const hadmin_actor *a, const char *name, hadmin_error *e);

/* ---- The catalog ------------------------------------------------------- */

/* What an import did. */
typedef struct hadmin_import {
    size_t nareas, nmatters;
    q_area *retired; /* areas active before, retired by it */
    size_t nretired;
} hadmin_import;

/* Replace the catalog with c (read from the file called file_name). out
 * is the caller's to hadmin_import_release(), also after a refusal. */
int hadmin_catalog_import(store *st, const hadmin_actor *a, const catalog *c, const char *file_name,
                          hadmin_import *out, hadmin_error *e);
void hadmin_import_release(hadmin_import *r);

/* ---- The hall calendar (calendar.h, docs/calendar.md) ------------------ */

/* Each change reads the stored calendar, changes it and writes it whole
 * with its audit event; halld follows after a reload (hadmin_notify).
 * Times are "HH:MM"; weekdays as calendar_parse_days() reads them; an
 * area is "" (the hall's hours) or an area of the catalog. */

/* Hours on the weekdays days for area: open..close, the lunch break
 * ("12:00-14:00", or "" for none), the last time to take a number (""
 * is close). */
int hadmin_calendar_hours(store *st, const hadmin_actor *a, const char *area, const char *days,
                          const char *open, const char *close, const char *lunch, const char *last,
                          hadmin_error *e);
/* No hours on those weekdays for area (for the hall: those days are no
 * business days; for an area: it follows its own remaining ones). 1
 * changed, 0 there were none, -1 refused. */
int hadmin_calendar_clear(store *st, const hadmin_actor *a, const char *area, const char *days,
                          hadmin_error *e);
/* A dated exception: kind "holiday", or "workday" (a swapped working day,
 * with the hours of weekday as, "" Monday); name may be "". */
int hadmin_calendar_date(store *st, const hadmin_actor *a, const char *date, const char *kind,
                         const char *as, const char *name, hadmin_error *e);
/* 1 removed, 0 there was none, -1 refused. */
int hadmin_calendar_undate(store *st, const hadmin_actor *a, const char *date, hadmin_error *e);
/* An area's own settings: always_open "yes"/"no", unstaffed
 * "default"/"yes"/"no" (NULL: as it is). */
int hadmin_calendar_area(store *st, const hadmin_actor *a, const char *area,
                         const char *always_open, const char *unstaffed, hadmin_error *e);
/* A year's dated exceptions from CSV text, one a line:
 * "date,kind[,as[,name]]" ("2026-10-01,holiday,,国庆节",
 * "2026-10-10,workday,mon,国庆节调休"); blank lines and lines starting with
 * '#' are skipped. All or nothing: the first bad line is named (field
 * "line", value its number). *n: how many were set. */
int hadmin_calendar_import(store *st, const hadmin_actor *a, const char *text, size_t len,
                           size_t *n, hadmin_error *e);

/* ---- Big screens (大屏, docs/dashboard.md) ----------------------------- */

#define HADMIN_SCREEN_TOKEN_LEN 64 /* hex digits of a screen's token (256 random bits) */

/* Issue a token for the screen called name into token (at least
 * HADMIN_SCREEN_TOKEN_LEN + 1 bytes), kept only as its SHA-256: a new
 * screen, or a revoked one again. Refused: a name not spelled as
 * store_screen_name_valid() says, a live screen of that name (revoke it
 * first), no randomness. */
int hadmin_screen_add(store *st, const hadmin_actor *a, const char *name, char *token,
                      hadmin_error *e);
/* 1 revoked now, 0 it was already, -1 refused (no such screen). */
int hadmin_screen_revoke(store *st, const hadmin_actor *a, const char *name, hadmin_error *e);
/* The live screen whose token is token into *out: 1, 0 none (unknown or
 * revoked), -1 with the store's reason. The token's SHA-256 is compared
 * with every screen's, each comparison in constant time. */
int hadmin_screen_find(store *st, const char *token, store_screen *out);

/* ---- After a commit ---------------------------------------------------- */

/* Sign the head of st's event log (of hall hall_id) with the audit key at
 * key_path and append it to the anchors file (why: ANCHOR_WRITE after a
 * change). -1 with the reason in err (errno ENOENT: there is no key). */
int hadmin_anchor(store *st, const char *hall_id, const char *key_path, const char *anchors,
                  anchor_reason why, char *err, size_t errlen);
/* SIGHUP the halld holding the database at store_path, its pid into *pid
 * (0: none runs, the change waits for its start). -1 if one runs and
 * could not be signalled (errno; ESRCH: its pid is unknown, *pid -1). */
int hadmin_notify(const char *store_path, long *pid);

#endif
