/*
 * health — the pluggable checks that gate mark-good: every executable file
 * in a directory (on a kiosk <root>/etc/kupd/health.d: kioskd answering,
 * printer reachable, ...) runs in name order and must exit 0 within the
 * deadline. Checks are separate programs so a site can add one without
 * rebuilding the updater.
 */
#ifndef ONEWINDOW_HEALTH_H
#define ONEWINDOW_HEALTH_H

#include <stddef.h>

/* Run the checks in dir, each with timeout_s seconds. Returns the number
 * of checks run (0 if the directory is missing) when all passed; -1 when
 * one failed or timed out, with why set to a sentence naming it (errno
 * EPROTO), or -1 with another errno when the checks cannot be run. */
int health_run(const char *dir, int timeout_s, char *why, size_t why_len);

#endif
