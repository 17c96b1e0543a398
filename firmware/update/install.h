/*
 * install — installing a signed bundle into the inactive slot, and
 * recovering from an install that was cut short.
 *
 * The install is a sequence of steps, each recorded in state/journal before
 * its effect, with one commit point (the boot-state rename in ACTIVATE):
 *
 *   FETCH -> VERIFY -> PREPARE -> WRITE -> CHECK -> SEAL -> ACTIVATE -> (done)
 *   copy to   header,   journal,   verify    re-read   slot     bootstate:
 *   incoming/ signature target     each      and hash  status   target on
 *   + hash    policy,   unbootable chunk,    images    "ok"     trial (commit)
 *             payload              write
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

struct install_opts {
    const char *root;
    const char *source; /* the bundle: a file, or a FIFO standing in for a stick */
    const char *origin; /* "usb" or "cli", for the audit log */
    int force;          /* reinstall the running version */
    int allow_downgrade;
    boot *boot;
    install_progress_fn progress; /* may be NULL */
    void *arg;
};

struct install_result {
    char slot; /* the slot written */
    char version[32];
    uint64_t security_version;
    char bundle[65];   /* SHA-256 of the bundle */
    char message[320]; /* one sentence: what happened */
};

/* Install o->source. Returns 0 with the target on trial for the next boot,
 * or -1 with r->message saying why (the running slot is never touched). */
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
