/*
 * install — installing a signed bundle into the inactive slot, and
 * recovering from an install that was cut short.
 *
 * The install is a sequence of steps, each recorded in state/journal before
 * its effect, with one commit point (the boot-state rename in ACTIVATE):
 *
 *   INSPECT -> FETCH -> VERIFY -> PREPARE -> WRITE -> CHECK -> SEAL -> ACTIVATE
 *   header,    copy to   the copy:  journal,   verify    re-read   slot     bootstate:
 *   signature, incoming/ header,    target     each      and hash  status   target on
 *   manifest,  + hash    signature, unbootable chunk,    images    "ok"     trial
 *   policy,              payload               write                      (commit)
 *   free space
 *   (on the stick, no payload read)
 *
 * install_recover() resolves the journal after a crash: before SEAL the
 * target is left unbootable and marked failed (the running slot was never
 * touched); after SEAL the activation is finished, since the slot is
 * complete and verified; after ACTIVATE only the journal is removed.
 *
 * Test hook: KUPD_CRASH_AT=<step> makes the process _exit(99) at that named
 * point (install_crash_points() lists them), so tests can cut an install at
 * every step as a power cut would. An unknown name is refused. One more
 * point, INSTALL_CRASH_CONFIRMED, cuts mark-good between its boot-state
 * write and its floor write.
 */
#ifndef ONEWINDOW_INSTALL_H
#define ONEWINDOW_INSTALL_H

#include <stdint.h>

#include "boot.h"
#include "kub.h"
#include "stick.h"

/* Journal phases, in order; INSTALL_NONE when no journal exists. */
enum install_phase {
    INSTALL_NONE,
    INSTALL_PREPARE,
    INSTALL_WRITE,
    INSTALL_CHECK,
    INSTALL_SEALED,
    INSTALL_ACTIVATED
};

/* Progress: phase is "copy", "copied", "verify", "write", "check",
 * "activate", "done" or "failed"; percent is the whole install's. */
typedef void (*install_progress_fn)(void *arg, const char *phase, int percent, const char *message);

/* A candidate bundle that failed its checks while others remain to try:
 * its raw name (escape it before showing it) and why, one sentence. */
typedef void (*install_skip_fn)(void *arg, const char *name, const char *reason);

struct install_opts {
    const char *root;
    stick *stick;             /* the reader of the folder holding the bundles */
    const char *const *names; /* candidate bundles in that folder, in name order */
    unsigned n_names;
    const char *label; /* shown before an escaped name in the audit log: "usb: kiosk-update/" */
    int force;         /* reinstall the running version */
    int allow_downgrade;
    boot *boot;
    install_progress_fn progress; /* may be NULL */
    install_skip_fn skipped;      /* may be NULL */
    void *arg;
};

struct install_result {
    char slot; /* the slot written */
    char version[32];
    uint64_t security_version;
    char bundle[65];               /* SHA-256 of the bundle */
    char name[STICK_NAME_MAX + 1]; /* the bundle's raw name; "" when none was chosen */
    uint64_t bytes_read;           /* read from the stick, all candidates together */
    char message[320];             /* one sentence: what happened (never a name) */
};

/* Install one of o->names. The candidates are tried from the last in name
 * order: the first whose header, signature, manifest and policy check out
 * (read from the stick without its payload) is the bundle; each one before
 * it that fails goes to o->skipped, unless it is the only candidate. Then
 * free space is checked, the bundle is copied and verified again from the
 * copy. Returns 0 with the target on trial for the next boot, or -1 with
 * r->message saying why (the running slot is never touched). */
int install_run(const struct install_opts *o, struct install_result *r);

/* Check a bundle file against root's keyring and policy without
 * installing it. Returns 0 and fills m, or -1 with msg set. */
int install_verify_file(const char *root, const char *path, struct kub_manifest *m, char *msg,
                        size_t msg_len);

/* Resolve an interrupted install (see above) and repair the floor.
 * Returns 1 if something was resolved (msg says what), 0 if there was
 * nothing to do, -1 with errno on I/O errors. */
int install_recover(const char *root, boot *b, char *msg, size_t msg_len);

/* The NULL-terminated list of the install's crash point names. */
const char *const *install_crash_points(void);

/* mark-good's crash point (not in the install's list). */
#define INSTALL_CRASH_CONFIRMED "confirmed"

/* _exit(99) if KUPD_CRASH_AT names this point (the test hook above). */
void install_crash_point(const char *name);

/* 0 if KUPD_CRASH_AT is unset or names a known point, else -1 (EINVAL). */
int install_crash_env_ok(void);

#endif
