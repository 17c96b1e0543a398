/*
 * reliability_check — the harness's verdicts on a store. See
 * reliability_check.h.
 *
 * The store is read with plain SQL on its tables (tickets, events,
 * windows, requests), the way an auditor would, not through halld's code.
 * The numbers below are the ones the store keeps (controller/queue.h's
 * q_state and q_event_kind).
 */
#include "reliability_check.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

enum { T_RESERVED = 1, T_WAITING, T_CALLED, T_SERVING, T_DONE, T_NO_SHOW, T_HOLD, T_VOID };
enum { E_CALLED = 5, E_RECALLED = 6, E_REJOINED = 8, E_TRANSFERRED = 11, E_RELEASED = 13 };

static const char *const state_names[] = {"?",    "RESERVED", "WAITING", "CALLED", "SERVING",
                                          "DONE", "NO_SHOW",  "HOLD",    "VOID",   "CANCELLED"};

static const char *state_name(int s)
{
    return s >= 1 && s <= 9 ? state_names[s] : "?";
}

static const char *kind_name(int kind)
{
    switch (kind) {
    case RLOAD_ISSUED:
        return "issued";
    case RLOAD_PRINTED:
        return "printed";
    case RLOAD_CALLED:
        return "called";
    case RLOAD_STARTED:
        return "started";
    default:
        return "finished";
    }
}

void rcheck_init(rcheck *c, FILE *out)
{
    memset(c, 0, sizeof *c);
    c->out = out;
}

bool rcheck_expect(rcheck *c, bool ok, const char *name, const char *fmt, ...)
{
    char detail[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    fprintf(c->out, "  %-4s  %-28s %s\n", ok ? "ok" : "FAIL", name, detail);
    fflush(c->out);
    if (ok) {
        c->passed++;
    } else {
        if (c->failed++ == 0)
            snprintf(c->first_failure, sizeof c->first_failure, "%s: %s", name, detail);
    }
    return ok;
}

/* One integer from sql, -1 if it fails. */
static int64_t sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int by_ticket(const void *a, const void *b)
{
    const rload_rec *x = a, *y = b;

    if (x->ticket != y->ticket)
        return x->ticket < y->ticket ? -1 : 1;
    return (int)x->kind - (int)y->kind;
}

static int by_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Is state at least as far along as the answer kind said? */
static bool far_enough(int kind, int state)
{
    switch (kind) {
    case RLOAD_ISSUED:
        return true; /* an unprinted reservation may expire to VOID */
    case RLOAD_PRINTED:
        return state != T_RESERVED && state != T_VOID;
    case RLOAD_CALLED:
        return state != T_RESERVED && state != T_WAITING && state != T_VOID;
    case RLOAD_STARTED:
        return state == T_SERVING || state == T_DONE;
    default:
        return state == T_DONE;
    }
}

/* Every answered ticket against the tickets table, and no ticket told to
 * two windows. recs is sorted by ticket. */
static void check_tickets(rcheck *c, sqlite3 *db, const rload_rec *recs, size_t n,
                          rcheck_counts *counts)
{
    sqlite3_stmt *st;
    uint64_t lost = 0, behind = 0, two_windows = 0, first_lost = 0, first_two = 0;
    char behind_what[160] = "";

    if (sqlite3_prepare_v2(db, "SELECT state, window_no FROM tickets WHERE id = ?1", -1, &st,
                           NULL) != SQLITE_OK) {
        rcheck_expect(c, false, "answered tickets kept", "cannot query: %s", sqlite3_errmsg(db));
        return;
    }
    for (size_t i = 0; i < n;) {
        size_t j = i;
        uint32_t called_at = 0;
        bool two = false;
        for (; j < n && recs[j].ticket == recs[i].ticket; j++) {
            if (recs[j].kind != RLOAD_CALLED)
                continue;
            if (called_at != 0 && recs[j].window_no != called_at)
                two = true;
            called_at = recs[j].window_no;
        }
        if (two && two_windows++ == 0)
            first_two = recs[i].ticket;
        const rload_rec *last = &recs[j - 1]; /* the furthest answer */
        counts->tickets_checked++;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)recs[i].ticket);
        if (sqlite3_step(st) != SQLITE_ROW) {
            if (lost++ == 0)
                first_lost = recs[i].ticket;
        } else {
            int state = sqlite3_column_int(st, 0);
            uint32_t window = (uint32_t)sqlite3_column_int64(st, 1);
            bool at_other =
                (state == T_CALLED || state == T_SERVING) && called_at != 0 && window != called_at;
            if (!far_enough(last->kind, state) || at_other) {
                if (behind++ == 0)
                    snprintf(behind_what, sizeof behind_what,
                             "ticket %llu is %s at window %u, but was %s (window %u)",
                             (unsigned long long)recs[i].ticket, state_name(state), window,
                             kind_name(last->kind), called_at);
            }
        }
        i = j;
    }
    sqlite3_finalize(st);
    char first[64] = "";
    if (lost > 0)
        snprintf(first, sizeof first, ", first: ticket %llu", (unsigned long long)first_lost);
    rcheck_expect(c, lost == 0, "answered tickets kept",
                  "%llu tickets answered, %llu missing from the store%s",
                  (unsigned long long)counts->tickets_checked, (unsigned long long)lost, first);
    rcheck_expect(c, behind == 0, "as far as the last answer", "%llu behind%s%s",
                  (unsigned long long)behind, behind ? ": " : "", behind_what);
    first[0] = '\0';
    if (two_windows > 0)
        snprintf(first, sizeof first, ", first: ticket %llu", (unsigned long long)first_two);
    rcheck_expect(c, two_windows == 0, "one window per call (answers)",
                  "%llu tickets told to two windows%s", (unsigned long long)two_windows, first);
}

/* Every answer against the kept answer for its (device, request id). */
static void check_kept(rcheck *c, sqlite3 *db, const rload_rec *recs, size_t n,
                       const char *const *names, size_t nnames, rcheck_counts *counts)
{
    sqlite3_stmt *st;
    uint64_t missing = 0, differ = 0;
    char first[160] = "";

    /* halld's store keeps answers in the order kept, with no index on
     * their key (it answers retries from memory): the checker indexes a
     * copy of its own, in the temporary schema. The latest row of a key
     * is its answer. */
    if (sqlite3_exec(db,
                     "CREATE TEMP TABLE kept AS SELECT device, request_id, reply FROM requests "
                     "WHERE id IN (SELECT max(id) FROM requests GROUP BY device, request_id);"
                     "CREATE INDEX temp.kept_key ON kept(device, request_id);",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT reply FROM kept WHERE device = ?1 AND request_id = ?2", -1,
                           &st, NULL) != SQLITE_OK) {
        rcheck_expect(c, false, "answers kept", "cannot query: %s", sqlite3_errmsg(db));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *dev = recs[i].device < nnames ? names[recs[i].device] : "?";
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, dev, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)recs[i].request_id);
        counts->answers_checked++;
        bool found = sqlite3_step(st) == SQLITE_ROW;
        bool same = found && rload_hash(sqlite3_column_blob(st, 0),
                                        (size_t)sqlite3_column_bytes(st, 0)) == recs[i].hash;
        if (!found || !same) {
            if (missing + differ == 0)
                snprintf(first, sizeof first, "%s request %llu (ticket %llu) %s", dev,
                         (unsigned long long)recs[i].request_id, (unsigned long long)recs[i].ticket,
                         found ? "kept another answer" : "has no kept answer");
            if (found)
                differ++;
            else
                missing++;
        }
    }
    sqlite3_finalize(st);
    rcheck_expect(c, missing == 0 && differ == 0, "answers kept as given",
                  "%llu answers, %llu not kept, %llu kept differently%s%s",
                  (unsigned long long)counts->answers_checked, (unsigned long long)missing,
                  (unsigned long long)differ, first[0] ? ": " : "", first);
}

/* Every ticket has exactly one kept ISSUE answer. */
static void check_issues(rcheck *c, sqlite3 *db, rcheck_counts *counts)
{
    sqlite3_stmt *st;
    uint64_t *ids = NULL, undecodable = 0, twice = 0, first_twice = 0;
    size_t n = 0, cap = 0;

    if (sqlite3_prepare_v2(db, "SELECT reply FROM requests", -1, &st, NULL) != SQLITE_OK) {
        rcheck_expect(c, false, "one ISSUE per ticket", "cannot query: %s", sqlite3_errmsg(db));
        return;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        counts->kept_answers++;
        Hall__Envelope *env =
            proto_unpack(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
        if (env == NULL) {
            undecodable++;
            continue;
        }
        if (env->body_case == HALL__ENVELOPE__BODY_ISSUE_REPLY && env->issue_reply->ticket) {
            if (n == cap) {
                uint64_t *grown = realloc(ids, (cap ? cap * 2 : 4096) * sizeof *ids);
                if (grown == NULL) {
                    proto_free(env);
                    break;
                }
                ids = grown;
                cap = cap ? cap * 2 : 4096;
            }
            ids[n++] = env->issue_reply->ticket->id;
        }
        proto_free(env);
    }
    sqlite3_finalize(st);
    qsort(ids, n, sizeof *ids, by_u64);
    for (size_t i = 1; i < n; i++)
        if (ids[i] == ids[i - 1] && twice++ == 0)
            first_twice = ids[i];
    free(ids);
    int64_t tickets = sql_int(db, "SELECT count(*) FROM tickets");
    counts->tickets = tickets > 0 ? (uint64_t)tickets : 0;
    rcheck_expect(c, undecodable == 0 && twice == 0 && (int64_t)n == tickets,
                  "one ISSUE per ticket",
                  "%lld tickets, %zu kept ISSUE answers, %llu naming a ticket another one "
                  "names (first: ticket %llu), %llu undecodable",
                  (long long)tickets, n, (unsigned long long)twice, (unsigned long long)first_twice,
                  (unsigned long long)undecodable);
}

/* CALLED events against each other: never two windows without a transfer,
 * rejoin or release in between; with one_call, never twice and no recall. */
static void check_events(rcheck *c, sqlite3 *db, bool one_call, rcheck_counts *counts)
{
    sqlite3_stmt *st;
    uint64_t two_windows = 0, twice = 0, first = 0;
    sqlite3_int64 ticket = 0;
    uint32_t called_at = 0;
    int calls = 0;

    int64_t events = sql_int(db, "SELECT count(*) FROM events");
    counts->events = events > 0 ? (uint64_t)events : 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT ticket_id, kind, window_no FROM events WHERE kind IN (5, 8, 11, "
                           "13) AND ticket_id <> 0 ORDER BY ticket_id, seq",
                           -1, &st, NULL) != SQLITE_OK) {
        rcheck_expect(c, false, "one window per call (events)", "cannot query: %s",
                      sqlite3_errmsg(db));
        return;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        sqlite3_int64 t = sqlite3_column_int64(st, 0);
        int kind = sqlite3_column_int(st, 1);
        uint32_t window = (uint32_t)sqlite3_column_int64(st, 2);
        if (t != ticket) {
            ticket = t;
            called_at = 0;
            calls = 0;
        }
        if (kind != E_CALLED) { /* back in a queue: any window may call it */
            called_at = 0;
            continue;
        }
        if (called_at != 0 && window != called_at && two_windows++ == 0)
            first = (uint64_t)t;
        if (++calls == 2)
            twice++;
        called_at = window;
    }
    sqlite3_finalize(st);
    char what[64] = "";
    if (two_windows > 0)
        snprintf(what, sizeof what, ", first: ticket %llu", (unsigned long long)first);
    rcheck_expect(c, two_windows == 0, "one window per call (events)",
                  "%llu tickets CALLED at two windows%s", (unsigned long long)two_windows, what);
    if (one_call) {
        int64_t recalls = sql_int(db, "SELECT count(*) FROM events WHERE kind = 6");
        rcheck_expect(c, twice == 0 && recalls == 0, "each ticket called once",
                      "%llu tickets called more than once, %lld recalls", (unsigned long long)twice,
                      (long long)recalls);
    }
}

static void check_windows(rcheck *c, sqlite3 *db)
{
    int64_t numbers =
        sql_int(db, "SELECT count(*) FROM (SELECT day, number FROM tickets GROUP BY day, number "
                    "HAVING count(*) > 1)");
    rcheck_expect(c, numbers == 0, "display numbers unique", "%lld numbers twice in a day",
                  (long long)numbers);
    int64_t waiting_at =
        sql_int(db, "SELECT count(*) FROM tickets WHERE state = 2 AND window_no <> 0");
    int64_t orphans = sql_int(db, "SELECT count(*) FROM tickets t WHERE t.state IN (3, 4) AND NOT "
                                  "EXISTS (SELECT 1 FROM windows w WHERE w.no = t.window_no AND "
                                  "w.current_ticket = t.id)");
    int64_t ghosts = sql_int(db, "SELECT count(*) FROM windows w WHERE w.current_ticket <> 0 AND "
                                 "NOT EXISTS (SELECT 1 FROM tickets t WHERE t.id = "
                                 "w.current_ticket AND t.state IN (3, 4) AND t.window_no = w.no)");
    rcheck_expect(c, waiting_at == 0 && orphans == 0 && ghosts == 0, "windows agree with tickets",
                  "%lld waiting tickets at a window, %lld called/serving tickets not their "
                  "window's current one, %lld windows naming a ticket not theirs",
                  (long long)waiting_at, (long long)orphans, (long long)ghosts);
}

int rcheck_store(rcheck *c, const char *db_path, const rload_rec *recs, size_t nrecs,
                 const char *const *names, size_t nnames, unsigned flags, rcheck_counts *counts)
{
    int failed_before = c->failed;
    rload_rec *sorted = NULL;
    sqlite3 *db = NULL;

    memset(counts, 0, sizeof *counts);
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        rcheck_expect(c, false, "store readable", "%s: %s", db_path,
                      db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return c->failed - failed_before;
    }
    sqlite3_busy_timeout(db, 5000);
    if (nrecs > 0 && (sorted = malloc(nrecs * sizeof *sorted)) == NULL) {
        rcheck_expect(c, false, "answered tickets kept", "out of memory for %zu answers", nrecs);
    } else {
        if (nrecs > 0)
            memcpy(sorted, recs, nrecs * sizeof *sorted);
        qsort(sorted, nrecs, sizeof *sorted, by_ticket);
        check_tickets(c, db, sorted, nrecs, counts);
        check_kept(c, db, recs, nrecs, names, nnames, counts);
    }
    free(sorted);
    check_issues(c, db, counts);
    check_events(c, db, (flags & RCHECK_ONE_CALL) != 0, counts);
    check_windows(c, db);
    sqlite3_close(db);
    return c->failed - failed_before;
}
