/*
 * audit — the updater's tamper-evident log, <root>/state/events.log: one
 * JSON object per line, fsync'd, each carrying "prev", the SHA-256 of the
 * previous line (64 zeros for the first), so an edited, removed or
 * reordered line breaks the chain at that point.
 *
 *   {"seq":3,"time":"2026-05-01T10:00:00Z","event":"activated","slot":"b",
 *    "version":"2.3.0","detail":"...","prev":"<64 hex>"}
 */
#ifndef ONEWINDOW_AUDIT_H
#define ONEWINDOW_AUDIT_H

#include <stdio.h>

/* Append one event. slot, version and detail may be NULL. Returns 0 or -1
 * with errno (EBADMSG if the existing log's last line is damaged). */
int audit_append(const char *root, const char *event, const char *slot, const char *version,
                 const char *detail);

/* Print the log to out (may be NULL) and check its chain. Returns the
 * number of entries, or -1 with errno: EBADMSG with *bad_line set (1-based)
 * when the chain or a line is broken, other errno on I/O errors. A missing
 * log has 0 entries. */
long audit_verify(const char *root, FILE *out, long *bad_line);

#endif
