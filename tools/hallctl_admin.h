/*
 * hallctl_admin — hallctl's administrative verbs. They work on the hall's
 * own files (configuration, database, CA, hall secret) rather than over the
 * protocol, so they run with or without a running halld; after a change
 * halld must see, they tell a running halld to reload (SIGHUP).
 *
 * hallctl dispatches every verb through tables of this type: a verb is one
 * or two words ("init", "catalog import"); run() gets the arguments from
 * the last word on (argv[0] is that word), ready for getopt_long(), and
 * returns the exit status: 0 done, 1 failed (reason on stderr), 2 usage.
 */
#ifndef ONEWINDOW_HALLCTL_ADMIN_H
#define ONEWINDOW_HALLCTL_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct hallctl_verb {
    const char *noun; /* first word */
    const char *verb; /* second word, NULL for a one-word verb */
    int (*run)(int argc, char **argv);
    const char *summary; /* one line for the usage list */
} hallctl_verb;

/* Print "hallctl: <message>" on stderr; returns 1, the exit status of a
 * verb that failed. Shared by every verb file. */
int hallctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The hall CA key of the CA whose certificate directory is ca_dir:
 * ca_dir/ca.key if it is there, as in a bare CA directory of `hallctl ca
 * init` and in a hall made by an older release (for a hall, hall_layout,
 * that is a warning on stderr saying how to move it); else private/ca.key
 * beside ca_dir, where `hallctl init` keeps it, out of the directory halld
 * reads. Returns 0 with the path in out, or 1 after reporting that there
 * is no key. */
int hallctl_ca_key(const char *ca_dir, bool hall_layout, char *out, size_t len);

/* The administrative verbs; the last row is all NULL. */
extern const hallctl_verb hallctl_admin_verbs[];

#endif
