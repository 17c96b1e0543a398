/*
 * hallfixture — a whole hall for integration tests: made by the real
 * hallctl (init, sample catalog, windows, clerks, devices with their
 * certificate bundles) in a temporary directory, with the real halld
 * started on a port it picks, and devices connected through devlink.
 */
#ifndef ONEWINDOW_HALLFIXTURE_H
#define ONEWINDOW_HALLFIXTURE_H

#include <stdbool.h>
#include <sys/types.h>

#include "devlink.h"

#define FIX_WAIT_MS 15000

typedef struct hallfix {
    char *dir;
    char config[1024];
    char log[1024];
    pid_t pid;
    int port;
    int nwindows;
} hallfix;

/* A hall with the sample catalog, windows 1..nwindows (intake, serving
 * every area, weight 1) each with a terminal device "win-N", a clerk
 * "c-N", a kiosk "kiosk-01", a display "board-01". extra_conf is appended
 * to halld.ini (may be NULL). */
void fix_init(hallfix *f, int nwindows, const char *extra_conf);
/* Run hallctl with -c <config> and the given arguments; returns its exit
 * status; its output goes to <dir>/hallctl.log. */
int fix_hallctl(hallfix *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Start halld (waits until it listens); stop it with SIGTERM (returns the
 * wait status) or SIGKILL. */
void fix_start(hallfix *f);
int fix_stop(hallfix *f);
void fix_kill(hallfix *f);
void fix_free(hallfix *f);

/* One integer the SQL (a printf format) selects from the hall's database,
 * read while halld runs; -1 if there is no row or it is NULL. */
long long fix_db_int(hallfix *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Connect as a registered device (its bundle) and say HELLO; fails the
 * test if that does not work. */
devlink *fix_device(hallfix *f, const char *device_id, Hall__DeviceType type, uint32_t window_no);
/* Connect with the bundle of device_id, without HELLO. NULL if the link
 * cannot be made (TLS refused...). */
devlink *fix_connect(hallfix *f, const char *device_id);

/* Requests, answered (the caller frees), failing the test on no answer. */
Hall__Envelope *fix_call(devlink *l, Hall__Envelope *req);
Hall__Envelope *fix_issue(devlink *l, const char *area, Hall__Priority prio);
Hall__Envelope *fix_printed(devlink *l, uint64_t ticket_id);
Hall__Envelope *fix_sign_in(devlink *l, uint32_t window_no, const char *clerk);
Hall__Envelope *fix_window_op(devlink *l, Hall__Envelope__BodyCase op, uint32_t window_no,
                              uint64_t ticket_id);

#endif
