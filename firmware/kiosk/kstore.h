/*
 * kstore — the kiosk's durable state, in one SQLite file (WAL,
 * synchronous=FULL: every write here is one the kiosk must not forget).
 *
 *  - the request-id counter: ids are reserved in blocks, the end of the
 *    block written before any id of it is used, so a restart never reuses
 *    an id; a fresh store starts from the clock, so even a lost store does
 *    not repeat the ids of the last day;
 *  - the offset of halld's clock from the kiosk's, so a kiosk restarted
 *    while halld is away still stamps its offline tickets with halld's
 *    time;
 *  - leases (one LeaseGrant per area) and the offline tickets taken from
 *    them. An offline ticket's number is taken durably before it is
 *    printed:
 *
 *        ISSUED --printed--> PRINTED --joined----------> UPLOADED
 *           \                       \--refused (final)--> REFUSED (halld's reason kept)
 *            \--print failed--> VOID
 *
 *    An ISSUED ticket found at start may have printed: it is counted as
 *    PRINTED (kstore_offline_recover), never silently dropped. A PRINTED
 *    ticket stays PRINTED until halld has the last word on it. A ticket
 *    taken by card keeps the citizen's ID number sealed to halld's
 *    sealing key (common/seal.h), which the kiosk cannot open, until
 *    halld's answer settles it (then the envelope is erased), and the
 *    masked name it printed: never the number, nor a hash of it;
 *  - online tickets between "printing" and "halld confirmed", with the
 *    request id their PRINTED or VOID was sent under (sent again under the
 *    same id after a restart, so halld answers it as it did the first
 *    time):
 *
 *        PRINTING --printed--> PRINTED --confirmed--> (row deleted)
 *           \--print failed--> VOID ---confirmed--/
 *                              PRINTED --refused (final)--> REFUSED
 *
 *    so a restart sends PRINTED (for PRINTING too: it may have printed) or
 *    VOID again; a REFUSED row is a printed ticket halld will not call,
 *    kept to be shown to the hall's staff.
 *
 * Finished rows (UPLOADED, VOID and REFUSED offline tickets, REFUSED
 * online ones, expired leases) are deleted by kstore_prune.
 *
 * The file is created mode 0600 (it holds hashed ID numbers and masked
 * names), and a file, -wal or -shm that grants anything to group or others
 * is tightened when it is opened (dbfile.h).
 *
 * The file's layout is versioned (PRAGMA user_version) and brought up to
 * date by numbered migrations when it is opened; a file of a newer layout
 * is refused.
 *
 * Times are UTC ms on halld's clock where the caller says "now" (the
 * kiosk's clock corrected by the offset), except where a field says
 * otherwise. Functions return -1 with errno (EIO for SQLite errors, with
 * the message in kstore_errmsg) and never print.
 */
#ifndef ONEWINDOW_KSTORE_H
#define ONEWINDOW_KSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "seal.h"

#define KSTORE_AREA_MAX   32
#define KSTORE_PREFIX_MAX 8
#define KSTORE_NUMBER_MAX 24
#define KSTORE_NAME_MAX   64

typedef struct kstore kstore;

kstore *kstore_open(const char *path, char *err, size_t errlen);
void kstore_close(kstore *s);
const char *kstore_errmsg(const kstore *s);
/* What kstore_open() changed on the file system, or could not, as one
 * sentence for a warning; "" if nothing. */
const char *kstore_notice(const kstore *s);

/* The next request id (never 0, never given before by this store). 0 with
 * errno on failure. */
uint64_t kstore_next_request_id(kstore *s);

/* halld's clock minus the kiosk's, in ms, as last measured: 1 and
 * *offset_ms, 0 if never measured, -1 on error. */
int kstore_clock_offset(kstore *s, int64_t *offset_ms);
int kstore_clock_offset_put(kstore *s, int64_t offset_ms);

typedef struct kstore_lease {
    char area[KSTORE_AREA_MAX];
    char prefix[KSTORE_PREFIX_MAX];
    uint32_t first, count, used;
    int32_t day;        /* business day, yyyymmdd */
    int64_t expires_ms; /* UTC, halld's clock */
} kstore_lease;

/* Replace the area's lease with a fresh grant (used 0). */
int kstore_lease_put(kstore *s, const kstore_lease *l);
/* The area's lease: 1 and *out, 0 if none, -1 on error. */
int kstore_lease_get(kstore *s, const char *area, kstore_lease *out);
/* Numbers left in the area's lease at UTC now (0 if none or expired);
 * area NULL: the total over every area. -1 on error. */
long kstore_lease_left(kstore *s, const char *area, int64_t now);

typedef enum kstore_offline_state {
    KSTORE_OFF_ISSUED,
    KSTORE_OFF_PRINTED,
    KSTORE_OFF_VOID,
    KSTORE_OFF_UPLOADED,
    KSTORE_OFF_REFUSED,
} kstore_offline_state;

typedef struct kstore_offline {
    int64_t id; /* row id: the order of issue */
    char area[KSTORE_AREA_MAX];
    char number[KSTORE_NUMBER_MAX];
    uint32_t seq;             /* the number's index in its lease, from 1 */
    int64_t issued_ms;        /* UTC, halld's clock as the kiosk knew it */
    int priority;             /* Hall__Priority */
    uint8_t sealed[SEAL_LEN]; /* the sealed ID number, if has_sealed */
    bool has_sealed;
    char masked_name[KSTORE_NAME_MAX];
    char matter[KSTORE_AREA_MAX]; /* the matter picked, "" none */
    kstore_offline_state state;
} kstore_offline;

/* Take the next number of area's lease at UTC now, in one transaction
 * with the ticket's row (ISSUED), for matter (NULL or "" none). sealed
 * (SEAL_LEN bytes) may be NULL. -1
 * with errno ENOENT (no lease for the area, or it expired) or ENOSPC (it
 * is used up). */
int kstore_offline_take(kstore *s, const char *area, const char *matter, int64_t now, int priority,
                        const uint8_t *sealed, const char *masked_name, kstore_offline *out);
/* ISSUED -> PRINTED or VOID (asserted). */
int kstore_offline_set(kstore *s, int64_t id, kstore_offline_state state);
/* At start: tickets left ISSUED by a crash become PRINTED. Returns how many. */
int kstore_offline_recover(kstore *s);
/* Up to max PRINTED tickets in order of issue into out; the count or -1. */
int kstore_offline_pending(kstore *s, kstore_offline *out, size_t max);
/* What halld answered for one uploaded ticket: UPLOADED (joined) or
 * REFUSED (final) with halld's reason. */
typedef struct kstore_offline_result {
    int64_t id;
    kstore_offline_state state;
    const char *reason;
} kstore_offline_result;

/* PRINTED -> UPLOADED or REFUSED for these tickets at now, in one
 * transaction. */
int kstore_offline_settle(kstore *s, const kstore_offline_result *r, size_t n, int64_t now);
/* Rows in a state (tests, health). */
long kstore_offline_count(kstore *s, kstore_offline_state state);
/* Offline tickets refused at or after since: the count, and the first
 * numbers in order of issue, space-separated, as many as fit in numbers
 * (len bytes). -1 on error. */
long kstore_offline_refusals(kstore *s, int64_t since, char *numbers, size_t len);

typedef enum kstore_ticket_state {
    KSTORE_TK_PRINTING,
    KSTORE_TK_PRINTED,
    KSTORE_TK_VOID,
    KSTORE_TK_REFUSED,
} kstore_ticket_state;

typedef struct kstore_ticket {
    uint64_t ticket_id;
    char number[KSTORE_NUMBER_MAX];
    kstore_ticket_state state;
    char reason[128];
    uint64_t request_id; /* of the PRINTED or VOID sent for it; 0 not sent yet */
} kstore_ticket;

/* Record (or move) an online ticket awaiting halld's confirmation
 * (PRINTING, PRINTED or VOID; reason and request_id as in kstore_ticket). */
int kstore_ticket_put(kstore *s, uint64_t ticket_id, const char *number, kstore_ticket_state st,
                      const char *reason, uint64_t request_id);
/* halld confirmed it: forget it. */
int kstore_ticket_done(kstore *s, uint64_t ticket_id);
/* halld refused the PRINTED for good at now: REFUSED, with its reason. */
int kstore_ticket_refuse(kstore *s, uint64_t ticket_id, const char *reason, int64_t now);
/* Every ticket awaiting confirmation (not REFUSED), oldest first; fn
 * returning non-zero stops. The count visited, or -1. */
int kstore_ticket_each(kstore *s, int (*fn)(void *arg, const kstore_ticket *t), void *arg);
/* Printed tickets refused at or after since: as kstore_offline_refusals. */
long kstore_ticket_refusals(kstore *s, int64_t since, char *numbers, size_t len);

/* Delete the finished rows older than before: UPLOADED, VOID and REFUSED
 * offline tickets (by the later of their issue and their end), REFUSED
 * online tickets, leases that expired. The count deleted, or -1. */
long kstore_prune(kstore *s, int64_t before);

#endif
