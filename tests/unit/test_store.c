/*
 * test_store — the store (controller/store.c) on real files in a scratch
 * directory, and the catalog parsers (controller/catalog.c) from memory.
 *
 * Store: migrations on a fresh file and on reopening; the hall id and the
 * one-controller lock; the file and its -wal made private, a file left
 * readable by others tightened and reported; every field of tickets, windows and leases through
 * the journal writers and back through the loaders; the per-day unique
 * display number; events that SQL cannot edit (checked with a second,
 * plain SQLite connection, as an intruder would have); the hash chain
 * verified intact, after edits and deletions, and across writers that
 * interleave; the committed head (what may be anchored) inside a turn; kept answers; appointments;
 * the catalog replaced whole; web users (their CHECKs and foreign key too,
 * tried with plain SQL, and the session epoch each change raises); the
 * read-only open beside a writer, and the files it refuses.
 *
 * Catalog: RFC 4180 corners (quotes, doubled quotes, line breaks inside
 * fields, CRLF, BOM), list separators, and exact error messages with line
 * and column (CSV) or key path (JSON); the two sample catalogs are equal.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "store.h"
#include "testsupport.h"

#define HALL "test-hall"

static char *dir;
static char db[PATH_MAX];
static char err[1024];

static void setup(void)
{
    dir = ts_tmpdir("store");
    snprintf(db, sizeof db, "%s/hall.db", dir);
}

static void teardown(void)
{
    ts_rmtree(dir);
    free(dir);
}

static store *open_store(enum store_mode mode)
{
    store *s = store_open(db, HALL, mode, err, sizeof err);

    ck_assert_msg(s != NULL, "store_open: %s", err);
    return s;
}

/* Run SQL on a connection of its own, as someone with the file would. */
static int raw_sql(const char *sql, char *msg, size_t msglen)
{
    sqlite3 *conn;
    char *e = NULL;

    ck_assert_int_eq(sqlite3_open(db, &conn), SQLITE_OK);
    sqlite3_busy_timeout(conn, 5000);
    int rc = sqlite3_exec(conn, sql, NULL, NULL, &e);
    snprintf(msg, msglen, "%s", e ? e : "");
    sqlite3_free(e);
    sqlite3_close(conn);
    return rc;
}

/* A catalog of two areas the tests below use. */
static void put_catalog(store *s)
{
    q_area areas[] = {
        {.code = "intake", .name = "综合受理", .prefix = "A", .general = true},
        {.code = "tax", .name = "税务服务", .prefix = "T"},
    };
    store_matter m = {.code = "T-1", .name = "发票领用", .area = "tax"};
    m.conditions = m.materials = m.sample = m.review_points = "";
    ck_assert_msg(store_replace_catalog(s, areas, 2, &m, 1, 0) == 0, "%s", store_errmsg(s));
}

/* ---- Opening ---------------------------------------------------------------- */

START_TEST(test_migrate_and_reopen)
{
    /* The latest schema, whatever its number: the same on every open. */
    store *s = open_store(STORE_DAEMON);
    int version = store_schema_version(s);
    ck_assert_int_gt(version, 0);
    put_catalog(s);
    store_close(s);

    s = open_store(STORE_ADMIN);
    ck_assert_int_eq(store_schema_version(s), version);
    size_t n;
    ck_assert_int_eq(store_count_matters(s, NULL, &n), 0);
    ck_assert_uint_eq(n, 1);
    char value[64];
    ck_assert_int_eq(store_get_setting(s, "hall_id", value, sizeof value), 1);
    ck_assert_str_eq(value, HALL);
    ck_assert_int_eq(store_get_setting(s, "no such key", value, sizeof value), 0);
    ck_assert_int_eq(store_set_setting(s, "greeting", "欢迎"), 0);
    ck_assert_int_eq(store_get_setting(s, "greeting", value, sizeof value), 1);
    ck_assert_str_eq(value, "欢迎");
    /* The hall id is fixed once written. */
    ck_assert_int_eq(store_set_setting(s, "hall_id", "other"), -1);
    ck_assert_ptr_nonnull(strstr(store_errmsg(s), "cannot be changed"));
    store_close(s);
}
END_TEST

START_TEST(test_newer_schema_refused)
{
    store_close(open_store(STORE_ADMIN));
    char msg[256];
    ck_assert_int_eq(raw_sql("PRAGMA user_version = 99", msg, sizeof msg), SQLITE_OK);
    ck_assert_ptr_null(store_open(db, HALL, STORE_ADMIN, err, sizeof err));
    ck_assert_msg(strstr(err, "schema version 99 is newer") != NULL, "%s", err);
}
END_TEST

START_TEST(test_hall_id_mismatch)
{
    store_close(open_store(STORE_DAEMON));
    ck_assert_ptr_null(store_open(db, "other-hall", STORE_ADMIN, err, sizeof err));
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s belongs to hall '%s', not 'other-hall'", db, HALL);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_one_daemon)
{
    ck_assert_int_eq(store_locked_by(db), 0);
    store *s = open_store(STORE_DAEMON);
    ck_assert_int_eq(store_locked_by(db), (long)getpid());

    ck_assert_ptr_null(store_open(db, HALL, STORE_DAEMON, err, sizeof err));
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s is in use by another halld (pid %ld)", db, (long)getpid());
    ck_assert_str_eq(err, want);

    /* An administrator opens it alongside, and may write. */
    store *admin = open_store(STORE_ADMIN);
    store_clerk c = {.id = "c001", .name = "王芳", .active = true};
    ck_assert_int_eq(store_save_clerk(admin, &c), 0);
    store_close(admin);
    store_clerk got;
    ck_assert_int_eq(store_get_clerk(s, "c001", &got), 1);
    ck_assert_str_eq(got.name, "王芳");
    ck_assert_int_eq(store_get_clerk(s, "nobody", &got), 0);

    store_close(s);
    ck_assert_int_eq(store_locked_by(db), 0);
    store_close(open_store(STORE_DAEMON));
}
END_TEST

/* ---- The journal -------------------------------------------------------------- */

static q_ticket sample_ticket(uint64_t id, const char *number, int32_t day, q_state state)
{
    q_ticket t = {0};

    t.id = id;
    snprintf(t.number, sizeof t.number, "%s", number);
    t.day = day;
    t.seq = (uint32_t)id + 100;
    snprintf(t.area, sizeof t.area, "tax");
    snprintf(t.matter, sizeof t.matter, "T-1");
    t.state = state;
    t.priority = Q_APPOINTMENT;
    t.issued_ms = 1700000000123;
    t.state_ms = 1700000000456 + (int64_t)id;
    t.reserved_until_ms = 1700000099999;
    t.appointment_ms = 1700000300000;
    t.window_no = 7;
    t.target_window = 9;
    t.recalls = 2;
    t.offline = true;
    snprintf(t.kiosk, sizeof t.kiosk, "kiosk-01");
    snprintf(t.masked_name, sizeof t.masked_name, "欧阳*");
    snprintf(t.note, sizeof t.note, "材料已核对，请直接受理");
    t.has_citizen = true;
    for (int i = 0; i < Q_HASH_LEN; i++)
        t.citizen_hash[i] = (uint8_t)(i * 7 + id);
    return t;
}

static void assert_ticket_eq(const q_ticket *a, const q_ticket *b)
{
    ck_assert_uint_eq(a->id, b->id);
    ck_assert_str_eq(a->number, b->number);
    ck_assert_int_eq(a->day, b->day);
    ck_assert_uint_eq(a->seq, b->seq);
    ck_assert_str_eq(a->area, b->area);
    ck_assert_str_eq(a->matter, b->matter);
    ck_assert_int_eq(a->state, b->state);
    ck_assert_int_eq(a->priority, b->priority);
    ck_assert_int_eq(a->issued_ms, b->issued_ms);
    ck_assert_int_eq(a->state_ms, b->state_ms);
    ck_assert_int_eq(a->reserved_until_ms, b->reserved_until_ms);
    ck_assert_int_eq(a->appointment_ms, b->appointment_ms);
    ck_assert_uint_eq(a->window_no, b->window_no);
    ck_assert_uint_eq(a->target_window, b->target_window);
    ck_assert_uint_eq(a->recalls, b->recalls);
    ck_assert_int_eq(a->offline, b->offline);
    ck_assert_str_eq(a->kiosk, b->kiosk);
    ck_assert_str_eq(a->masked_name, b->masked_name);
    ck_assert_str_eq(a->note, b->note);
    ck_assert_int_eq(a->has_citizen, b->has_citizen);
    if (a->has_citizen)
        ck_assert_mem_eq(a->citizen_hash, b->citizen_hash, Q_HASH_LEN);
}

struct tickets {
    q_ticket t[8];
    int n;
};

static int collect_ticket(void *arg, const q_ticket *t)
{
    struct tickets *c = arg;

    ck_assert_int_lt(c->n, 8);
    c->t[c->n++] = *t;
    return 0;
}

START_TEST(test_ticket_round_trip)
{
    store *s = open_store(STORE_DAEMON);
    q_ticket live = sample_ticket(1, "T101", 20260301, Q_WAITING);
    q_ticket old_done = sample_ticket(2, "T102", 20260301, Q_DONE);
    q_ticket new_done = sample_ticket(3, "T001", 20260302, Q_DONE);
    q_ticket plain = sample_ticket(4, "T002", 20260302, Q_RESERVED);
    plain.has_citizen = false;
    plain.offline = false;
    plain.kiosk[0] = plain.masked_name[0] = plain.matter[0] = '\0';

    ck_assert_int_eq(store_begin(s), 0);
    ck_assert(store_in_transaction(s));
    ck_assert_int_eq(store_begin(s), -1); /* not nested */
    ck_assert_int_eq(store_put_ticket(s, &live), 0);
    ck_assert_int_eq(store_put_ticket(s, &old_done), 0);
    ck_assert_int_eq(store_put_ticket(s, &new_done), 0);
    ck_assert_int_eq(store_put_ticket(s, &plain), 0);
    ck_assert_int_eq(store_commit(s), 0);
    ck_assert(!store_in_transaction(s));

    /* Live tickets of any day, and every ticket from since_day on. */
    struct tickets got = {0};
    ck_assert_int_eq(store_load_tickets(s, 20260302, collect_ticket, &got), 0);
    ck_assert_int_eq(got.n, 3);
    assert_ticket_eq(&got.t[0], &live);
    assert_ticket_eq(&got.t[1], &new_done);
    assert_ticket_eq(&got.t[2], &plain);

    /* A change replaces the row of that id. */
    live.state = Q_CALLED;
    live.recalls = 0;
    ck_assert_int_eq(store_put_ticket(s, &live), 0);
    got.n = 0;
    ck_assert_int_eq(store_load_tickets(s, 20990101, collect_ticket, &got), 0);
    ck_assert_int_eq(got.n, 2);
    assert_ticket_eq(&got.t[0], &live);

    uint64_t max;
    ck_assert_int_eq(store_max_ticket_id(s, &max), 0);
    ck_assert_uint_eq(max, 4);
    store_close(s);
}
END_TEST

START_TEST(test_number_unique_per_day)
{
    store *s = open_store(STORE_DAEMON);
    q_ticket a = sample_ticket(1, "T001", 20260301, Q_WAITING);
    q_ticket b = sample_ticket(2, "T001", 20260301, Q_WAITING);
    q_ticket c = sample_ticket(3, "T001", 20260302, Q_WAITING);

    ck_assert_int_eq(store_put_ticket(s, &a), 0);
    ck_assert_int_eq(store_put_ticket(s, &b), -1);
    ck_assert_msg(strstr(store_errmsg(s), "ticket 2 (T001)") != NULL &&
                      strstr(store_errmsg(s), "UNIQUE") != NULL,
                  "%s", store_errmsg(s));
    ck_assert_int_eq(store_put_ticket(s, &c), 0); /* another day */
    /* The failed write replaced nothing. */
    struct tickets got = {0};
    ck_assert_int_eq(store_load_tickets(s, 0, collect_ticket, &got), 0);
    ck_assert_int_eq(got.n, 2);
    ck_assert_uint_eq(got.t[0].id, 1);
    ck_assert_uint_eq(got.t[1].id, 3);
    store_close(s);
}
END_TEST

static int collect_window(void *arg, const q_window *w)
{
    *(q_window *)arg = *w;
    return 0;
}

START_TEST(test_window_round_trip)
{
    store *s = open_store(STORE_DAEMON);
    put_catalog(s);
    q_window w = {.no = 12, .name = "综合受理12号窗", .type = QW_INTAKE, .nareas = 2};
    snprintf(w.areas[0], sizeof w.areas[0], "tax");
    snprintf(w.areas[1], sizeof w.areas[1], "intake");
    w.weights[0] = 3;
    w.weights[1] = 1;
    ck_assert_int_eq(store_save_window(s, &w), 0);

    q_window got;
    ck_assert_int_eq(store_load_windows(s, collect_window, &got), 0);
    ck_assert_int_eq(got.state, QW_CLOSED); /* a new window starts closed */

    w.state = QW_PAUSED;
    snprintf(w.clerk, sizeof w.clerk, "c001");
    w.current = 42;
    ck_assert_int_eq(store_put_window(s, &w), 0);
    memset(&got, 0xff, sizeof got);
    ck_assert_int_eq(store_load_windows(s, collect_window, &got), 0);
    ck_assert_uint_eq(got.no, 12);
    ck_assert_str_eq(got.name, w.name);
    ck_assert_int_eq(got.type, QW_INTAKE);
    ck_assert_int_eq(got.state, QW_PAUSED);
    ck_assert_str_eq(got.clerk, "c001");
    ck_assert_uint_eq(got.current, 42);
    ck_assert_int_eq(got.nareas, 2);
    ck_assert_str_eq(got.areas[0], "tax"); /* in the order given */
    ck_assert_str_eq(got.areas[1], "intake");
    ck_assert_uint_eq(got.weights[0], 3);
    ck_assert_uint_eq(got.weights[1], 1);

    /* Saving it again changes its set-up but keeps its state. */
    w.type = QW_CONSULT;
    w.nareas = 1;
    w.state = QW_CLOSED;
    ck_assert_int_eq(store_save_window(s, &w), 0);
    ck_assert_int_eq(store_load_windows(s, collect_window, &got), 0);
    ck_assert_int_eq(got.type, QW_CONSULT);
    ck_assert_int_eq(got.nareas, 1);
    ck_assert_int_eq(got.state, QW_PAUSED);
    ck_assert_uint_eq(got.current, 42);

    /* Unknown window, unknown area. */
    w.no = 99;
    ck_assert_int_eq(store_put_window(s, &w), -1);
    ck_assert_str_eq(store_errmsg(s), "cannot write window 99: no such window");
    snprintf(w.areas[0], sizeof w.areas[0], "nowhere");
    ck_assert_int_eq(store_save_window(s, &w), -1);
    ck_assert_str_eq(store_errmsg(s), "cannot save window 99: no area 'nowhere' in the catalog");
    store_close(s);
}
END_TEST

static int collect_lease(void *arg, const q_lease *l)
{
    struct {
        q_lease l[4];
        int n;
    } *c = arg;
    c->l[c->n++] = *l;
    return 0;
}

START_TEST(test_lease_round_trip)
{
    store *s = open_store(STORE_DAEMON);
    q_lease a = {.id = 1,
                 .kiosk = "kiosk-01",
                 .area = "tax",
                 .day = 20260301,
                 .first = 900,
                 .count = 20,
                 .granted_ms = 1700000000001};
    q_lease b = {.id = 2,
                 .kiosk = "kiosk-02",
                 .area = "intake",
                 .day = 20260302,
                 .first = 920,
                 .count = 10,
                 .granted_ms = 1700000000002};
    ck_assert_int_eq(store_put_lease(s, &a), 0);
    ck_assert_int_eq(store_put_lease(s, &b), 0);
    struct {
        q_lease l[4];
        int n;
    } got = {0};
    ck_assert_int_eq(store_load_leases(s, 20260302, collect_lease, &got), 0);
    ck_assert_int_eq(got.n, 1);
    ck_assert_uint_eq(got.l[0].id, 2);
    ck_assert_str_eq(got.l[0].kiosk, "kiosk-02");
    ck_assert_str_eq(got.l[0].area, "intake");
    ck_assert_int_eq(got.l[0].day, 20260302);
    ck_assert_uint_eq(got.l[0].first, 920);
    ck_assert_uint_eq(got.l[0].count, 10);
    ck_assert_int_eq(got.l[0].granted_ms, 1700000000002);
    got.n = 0;
    ck_assert_int_eq(store_load_leases(s, 0, collect_lease, &got), 0);
    ck_assert_int_eq(got.n, 2);
    store_close(s);
}
END_TEST

static int stop_at_first(void *arg, const q_ticket *t)
{
    ++*(int *)arg;
    (void)t;
    return 7;
}

START_TEST(test_loader_stops)
{
    store *s = open_store(STORE_DAEMON);
    q_ticket a = sample_ticket(1, "T001", 20260301, Q_WAITING);
    q_ticket b = sample_ticket(2, "T002", 20260301, Q_WAITING);
    ck_assert_int_eq(store_put_ticket(s, &a), 0);
    ck_assert_int_eq(store_put_ticket(s, &b), 0);
    int calls = 0;
    ck_assert_int_eq(store_load_tickets(s, 0, stop_at_first, &calls), 7);
    ck_assert_int_eq(calls, 1);
    /* The statement was reset: it runs again from the start. */
    calls = 0;
    ck_assert_int_eq(store_load_tickets(s, 0, stop_at_first, &calls), 7);
    ck_assert_int_eq(calls, 1);
    store_close(s);
}
END_TEST

/* ---- Events -------------------------------------------------------------------- */

static void append(store *s, q_event_kind kind, uint64_t ticket, const char *detail)
{
    q_event e = {.kind = kind,
                 .at_ms = 1700000000000 + (int64_t)ticket,
                 .day = 20260301,
                 .ticket_id = ticket,
                 .window_no = 3,
                 .clerk = "c001",
                 .detail = detail};
    ck_assert_msg(store_append_event(s, &e, "kiosk-01") == 0, "%s", store_errmsg(s));
}

/* A clerk's day counted from the log: events of three days, two clerks;
 * the day's first event found by the binary search whatever its place. */
START_TEST(test_clerk_day)
{
    store *s = open_store(STORE_DAEMON);
    static const struct {
        int32_t day;
        const char *clerk;
        q_event_kind kind;
    } log[] = {
        {20260301, "c001", QE_CALLED},   {20260301, "c001", QE_FINISHED},
        {20260302, "c001", QE_CALLED},   {20260302, "c002", QE_CALLED},
        {20260302, "c001", QE_RECALLED}, {20260302, "c001", QE_NO_SHOW},
        {20260302, "c001", QE_CALLED},   {20260302, "c001", QE_TRANSFERRED},
        {20260302, "c001", QE_CALLED},   {20260302, "c001", QE_FINISHED},
        {20260304, "c001", QE_CALLED},
    };
    store_day_counts n;

    for (size_t i = 0; i < sizeof log / sizeof log[0]; i++) {
        q_event e = {.kind = log[i].kind,
                     .at_ms = 1700000000000 + (int64_t)i,
                     .day = log[i].day,
                     .ticket_id = i + 1,
                     .window_no = 1,
                     .clerk = log[i].clerk,
                     .detail = ""};
        ck_assert_msg(store_append_event(s, &e, "win-1") == 0, "%s", store_errmsg(s));
    }
    ck_assert_int_eq(store_clerk_day(s, "c001", 20260302, &n), 0);
    ck_assert_int_eq(n.called, 3); /* the recall is not a call */
    ck_assert_int_eq(n.finished, 1);
    ck_assert_int_eq(n.no_show, 1);
    ck_assert_int_eq(n.transferred, 1);
    ck_assert_int_eq(store_clerk_day(s, "c002", 20260302, &n), 0);
    ck_assert_int_eq(n.called, 1);
    ck_assert_int_eq(store_clerk_day(s, "c001", 20260301, &n), 0);
    ck_assert_int_eq(n.called + n.finished, 2);
    ck_assert_int_eq(store_clerk_day(s, "c001", 20260303, &n), 0); /* a day with nothing */
    ck_assert_int_eq(n.called + n.finished + n.no_show + n.transferred, 0);
    ck_assert_int_eq(store_clerk_day(s, "c001", 20260304, &n), 0); /* the last event alone */
    ck_assert_int_eq(n.called, 1);
    ck_assert_int_eq(store_clerk_day(s, "c001", 20260305, &n), 0); /* after the log */
    ck_assert_int_eq(n.called, 0);
    ck_assert_int_eq(store_clerk_day(s, "nobody", 20260302, &n), 0);
    ck_assert_int_eq(n.called, 0);
    store_close(s);
}
END_TEST

START_TEST(test_events_immutable)
{
    store *s = open_store(STORE_DAEMON);
    append(s, QE_ISSUED, 1, "");
    append(s, QE_PRINTED, 1, "");
    char msg[256];

    ck_assert_int_ne(raw_sql("UPDATE events SET detail = 'x' WHERE seq = 1", msg, sizeof msg),
                     SQLITE_OK);
    ck_assert_str_eq(msg, "events are append-only");
    ck_assert_int_ne(raw_sql("DELETE FROM events WHERE seq = 2", msg, sizeof msg), SQLITE_OK);
    ck_assert_str_eq(msg, "events are append-only");
    /* REPLACE deletes without firing delete triggers: refused as well. */
    ck_assert_int_ne(raw_sql("INSERT OR REPLACE INTO events SELECT * FROM events WHERE seq = 1",
                             msg, sizeof msg),
                     SQLITE_OK);
    ck_assert_str_eq(msg, "events are append-only");
    uint64_t n;
    ck_assert_int_eq(store_verify_events(s, &n), 0);
    ck_assert_uint_eq(n, 2);
    store_close(s);
}
END_TEST

START_TEST(test_chain_verify)
{
    store *s = open_store(STORE_DAEMON);
    uint64_t n, seq;
    uint8_t head[32], zero[32] = {0};

    ck_assert_int_eq(store_verify_events(s, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(store_event_head(s, &seq, head), 0);
    ck_assert_uint_eq(seq, 0);
    ck_assert_mem_eq(head, zero, 32);

    for (uint64_t i = 1; i <= 5; i++)
        append(s, QE_ISSUED, i, i == 3 ? "给老人优先" : "");
    ck_assert_int_eq(
        store_append_admin_event(s, 1700000000999, 20260301, "hallctl", "root", "catalog imported"),
        0);
    ck_assert_int_eq(store_verify_events(s, &n), 0);
    ck_assert_uint_eq(n, 6);
    ck_assert_int_eq(store_event_head(s, &seq, head), 0);
    ck_assert_uint_eq(seq, 6);
    ck_assert_mem_ne(head, zero, 32);
    store_close(s);

    /* Someone drops the trigger and edits row 3. */
    char msg[256];
    ck_assert_int_eq(raw_sql("DROP TRIGGER events_no_update; "
                             "UPDATE events SET detail = '' WHERE seq = 3",
                             msg, sizeof msg),
                     SQLITE_OK);
    s = open_store(STORE_ADMIN);
    ck_assert_int_eq(store_verify_events(s, &n), -1);
    ck_assert_str_eq(store_errmsg(s),
                     "event 3: its fields do not match its hash (the row was edited)");
    store_close(s);
}
END_TEST

/* Inside a transaction the committed head is the one before it: its own
 * events may still be rolled back. */
START_TEST(test_committed_head)
{
    store *s = open_store(STORE_DAEMON);
    uint64_t seq, committed;
    uint8_t head[32], base[32], hash[32];

    append(s, QE_ISSUED, 1, "");
    ck_assert_int_eq(store_event_head(s, &seq, base), 0);
    ck_assert_int_eq(store_begin(s), 0);
    ck_assert_int_eq(store_committed_head(s, &committed, hash), 0); /* nothing appended yet */
    ck_assert_uint_eq(committed, 1);
    ck_assert_mem_eq(hash, base, 32);
    append(s, QE_PRINTED, 1, "");
    append(s, QE_CANCELLED, 1, "");
    ck_assert_int_eq(store_event_head(s, &seq, head), 0);
    ck_assert_uint_eq(seq, 3);
    ck_assert_int_eq(store_committed_head(s, &committed, hash), 0);
    ck_assert_uint_eq(committed, 1);
    ck_assert_mem_eq(hash, base, 32);
    ck_assert_int_eq(store_rollback(s), 0);
    ck_assert_int_eq(store_committed_head(s, &committed, hash), 0);
    ck_assert_uint_eq(committed, 1);

    ck_assert_int_eq(store_begin(s), 0);
    append(s, QE_PRINTED, 1, "");
    ck_assert_int_eq(store_commit(s), 0);
    ck_assert_int_eq(store_event_head(s, &seq, head), 0);
    ck_assert_int_eq(store_committed_head(s, &committed, hash), 0);
    ck_assert_uint_eq(committed, 2);
    ck_assert_mem_eq(hash, head, 32);
    /* Each event's stored hash, by seq. */
    ck_assert_int_eq(store_event_hash(s, 2, hash), 1);
    ck_assert_mem_eq(hash, head, 32);
    ck_assert_int_eq(store_event_hash(s, 1, hash), 1);
    ck_assert_mem_eq(hash, base, 32);
    ck_assert_int_eq(store_event_hash(s, 3, hash), 0);
    store_close(s);
}
END_TEST

static long mode_of(const char *path)
{
    struct stat st;

    ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
    return (long)(st.st_mode & 07777);
}

/* The file and its -wal are the owner's alone; one left readable by
 * others (an older release, or a copy) is tightened and reported. */
START_TEST(test_file_private)
{
    char wal[PATH_MAX + 8];
    store *s = open_store(STORE_DAEMON);

    snprintf(wal, sizeof wal, "%s-wal", db);
    append(s, QE_ISSUED, 1, "");
    ck_assert_str_eq(store_notice(s), "");
    ck_assert_int_eq(mode_of(db), 0600);
    ck_assert_int_eq(mode_of(wal), 0600);
    store_close(s);

    ck_assert_int_eq(chmod(db, 0644), 0);
    s = open_store(STORE_ADMIN);
    ck_assert_int_eq(mode_of(db), 0600);
    ck_assert_msg(strstr(store_notice(s), "was mode 0644, now 0600") != NULL, "%s",
                  store_notice(s));
    store_close(s);
    /* A directory where the file should be: no database, and the reason. */
    ck_assert_ptr_null(
        store_open(ts_path(dir, "no/such/dir/hall.db"), HALL, STORE_ADMIN, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "cannot create"));
}
END_TEST

START_TEST(test_chain_relinked)
{
    store *s = open_store(STORE_DAEMON);
    for (uint64_t i = 1; i <= 3; i++)
        append(s, QE_ISSUED, i, "");
    store_close(s);
    /* Row 3 pointed at another predecessor (its own hash left as it was). */
    char msg[256];
    ck_assert_int_eq(raw_sql("DROP TRIGGER events_no_update; "
                             "UPDATE events SET prev_hash = zeroblob(32) WHERE seq = 3",
                             msg, sizeof msg),
                     SQLITE_OK);
    s = open_store(STORE_ADMIN);
    uint64_t n;
    ck_assert_int_eq(store_verify_events(s, &n), -1);
    ck_assert_str_eq(store_errmsg(s),
                     "event 3: its previous hash does not match event 2 (chain broken)");
    store_close(s);
}
END_TEST

START_TEST(test_chain_deleted_row)
{
    store *s = open_store(STORE_DAEMON);
    for (uint64_t i = 1; i <= 4; i++)
        append(s, QE_CALLED, i, "");
    store_close(s);
    char msg[256];
    ck_assert_int_eq(
        raw_sql("DROP TRIGGER events_no_delete; DELETE FROM events WHERE seq = 2", msg, sizeof msg),
        SQLITE_OK);
    s = open_store(STORE_ADMIN);
    uint64_t n;
    ck_assert_int_eq(store_verify_events(s, &n), -1);
    ck_assert_str_eq(store_errmsg(s), "event 3 follows event 1: events are missing");
    store_close(s);
}
END_TEST

/* halld (daemon) and hallctl (admin) both append; a rollback discards
 * appended events. The chain stays whole through all of it. */
START_TEST(test_chain_interleaved_writers)
{
    store *d = open_store(STORE_DAEMON);
    append(d, QE_ISSUED, 1, "");
    store *a = open_store(STORE_ADMIN);
    ck_assert_int_eq(store_append_admin_event(a, 1, 20260301, "hallctl", "root", "window 1"), 0);
    append(d, QE_PRINTED, 1, ""); /* the daemon's cached head is stale here */
    ck_assert_int_eq(store_begin(a), 0);
    ck_assert_int_eq(store_append_admin_event(a, 2, 20260301, "hallctl", "root", "lost"), 0);
    ck_assert_int_eq(store_rollback(a), 0);
    ck_assert_int_eq(store_append_admin_event(a, 3, 20260301, "hallctl", "root", "clerk"), 0);

    ck_assert_int_eq(store_begin(d), 0);
    append(d, QE_CALLED, 1, "");
    ck_assert_int_eq(store_rollback(d), 0);
    append(d, QE_STARTED, 1, "");

    uint64_t n;
    ck_assert_msg(store_verify_events(a, &n) == 0, "%s", store_errmsg(a));
    ck_assert_uint_eq(n, 5);
    store_close(a);
    store_close(d);
}
END_TEST

/* ---- Kept answers, appointments, catalog ------------------------------------------ */

struct answers {
    char device[4][16];
    uint64_t row[4];
    uint64_t id[4];
    int64_t at[4];
    uint8_t reply[4][8];
    size_t len[4];
    bool dropped[4], has_digest[4];
    uint8_t digest[4][STORE_DIGEST_LEN];
    int n;
};

static int collect_answer(void *arg, uint64_t row, const char *device, uint64_t request_id,
                          int64_t at_ms, const uint8_t *digest, const uint8_t *reply, size_t len)
{
    struct answers *c = arg;

    ck_assert_int_lt(c->n, 4);
    ck_assert_uint_le(len, 8);
    snprintf(c->device[c->n], sizeof c->device[0], "%s", device);
    c->row[c->n] = row;
    c->id[c->n] = request_id;
    c->at[c->n] = at_ms;
    c->dropped[c->n] = reply == NULL;
    c->has_digest[c->n] = digest != NULL;
    if (digest != NULL)
        memcpy(c->digest[c->n], digest, STORE_DIGEST_LEN);
    if (reply != NULL)
        memcpy(c->reply[c->n], reply, len);
    c->len[c->n++] = len;
    return 0;
}

START_TEST(test_requests)
{
    store *s = open_store(STORE_DAEMON);
    const uint8_t r1[] = {0x08, 0x01, 0x00, 0xff};
    const uint8_t d1[STORE_DIGEST_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    uint64_t row[4];
    /* Kept in time order, as halld keeps them; the last one after the
     * clock went back. */
    ck_assert_int_eq(store_put_request(s, "kiosk-02", 7, 100, NULL, r1, 2, &row[0]), 0);
    ck_assert_int_eq(store_put_request(s, "kiosk-01", 8, 200, NULL, NULL, 0, &row[1]), 0);
    ck_assert_int_eq(store_put_request(s, "kiosk-01", UINT64_MAX, 300, d1, r1, sizeof r1, &row[2]),
                     0);
    ck_assert_int_eq(store_put_request(s, "kiosk-03", 9, 120, NULL, r1, 1, &row[3]), 0);
    ck_assert(row[0] < row[1] && row[1] < row[2] && row[2] < row[3]);

    struct answers got = {0};
    ck_assert_int_eq(store_load_requests(s, 150, collect_answer, &got), 0);
    ck_assert_int_eq(got.n, 2); /* in the order kept; the one before 150 left out */
    ck_assert_str_eq(got.device[0], "kiosk-01");
    ck_assert_uint_eq(got.id[0], 8);
    ck_assert_int_eq(got.at[0], 200);
    ck_assert_uint_eq(got.len[0], 0);
    ck_assert(!got.dropped[0] && !got.has_digest[0]);
    ck_assert_uint_eq(got.id[1], UINT64_MAX);
    ck_assert_int_eq(got.at[1], 300);
    ck_assert_uint_eq(got.len[1], sizeof r1);
    ck_assert_mem_eq(got.reply[1], r1, sizeof r1);
    ck_assert(got.has_digest[1]);
    ck_assert_mem_eq(got.digest[1], d1, STORE_DIGEST_LEN);

    /* A dropped answer keeps its row and digest, without its bytes. */
    ck_assert_uint_eq(got.row[1], row[2]);
    ck_assert_int_eq(store_drop_request_reply(s, row[2]), 0);
    memset(&got, 0, sizeof got);
    ck_assert_int_eq(store_load_requests(s, 250, collect_answer, &got), 0);
    ck_assert_int_eq(got.n, 1);
    ck_assert(got.dropped[0] && got.has_digest[0]);
    ck_assert_mem_eq(got.digest[0], d1, STORE_DIGEST_LEN);

    /* Pruning removes the rows before the first recent one: the one kept
     * after the clock went back stays until the rows before it go. */
    ck_assert_int_eq(store_prune_requests(s, 250), 0);
    memset(&got, 0, sizeof got);
    ck_assert_int_eq(store_load_requests(s, 0, collect_answer, &got), 0);
    ck_assert_int_eq(got.n, 2);
    ck_assert_uint_eq(got.id[0], UINT64_MAX);
    ck_assert_uint_eq(got.id[1], 9);
    ck_assert_int_eq(store_prune_requests(s, 400), 0); /* none recent: all go */
    memset(&got, 0, sizeof got);
    ck_assert_int_eq(store_load_requests(s, 0, collect_answer, &got), 0);
    ck_assert_int_eq(got.n, 0);
    store_close(s);
}
END_TEST

struct area_list {
    char code[4][Q_CODE_MAX];
    bool retired[4];
    int n;
};

static int collect_area(void *arg, const q_area *a)
{
    struct area_list *l = arg;

    ck_assert_int_lt(l->n, 4);
    snprintf(l->code[l->n], sizeof l->code[0], "%s", a->code);
    l->retired[l->n++] = a->retired;
    return 0;
}

static int count_appointment(void *arg, const store_appointment *a)
{
    (void)a;
    ++*(int *)arg;
    return 0;
}

START_TEST(test_appointments)
{
    store *s = open_store(STORE_ADMIN);
    store_appointment a = {.code = "YY-0001",
                           .area = "tax",
                           .slot_ms = 5000,
                           .masked_name = "张*",
                           .has_citizen = true};
    memset(a.citizen_hash, 0xab, sizeof a.citizen_hash);
    ck_assert_int_eq(store_save_appointment(s, &a), 0);
    store_appointment got;
    ck_assert_int_eq(store_get_appointment(s, "YY-0001", &got), 1);
    ck_assert_str_eq(got.area, "tax");
    ck_assert_int_eq(got.slot_ms, 5000);
    ck_assert_str_eq(got.masked_name, "张*");
    ck_assert(got.has_citizen);
    ck_assert_mem_eq(got.citizen_hash, a.citizen_hash, Q_HASH_LEN);
    ck_assert_int_eq(got.state, STORE_APPT_BOOKED);
    ck_assert_uint_eq(got.ticket_id, 0);
    ck_assert_int_eq(store_get_appointment(s, "nope", &got), 0);

    a.slot_ms = 6000; /* rebooked while BOOKED */
    ck_assert_int_eq(store_save_appointment(s, &a), 0);
    ck_assert_int_eq(store_mark_appointment_used(s, "YY-0001", 77), 1);
    ck_assert_int_eq(store_mark_appointment_used(s, "YY-0001", 78), 0); /* once only */
    ck_assert_int_eq(store_mark_appointment_used(s, "nope", 78), 0);
    ck_assert_int_eq(store_get_appointment(s, "YY-0001", &got), 1);
    ck_assert_int_eq(got.state, STORE_APPT_USED);
    ck_assert_uint_eq(got.ticket_id, 77);
    ck_assert_int_eq(got.slot_ms, 6000);
    ck_assert_int_eq(store_save_appointment(s, &a), -1); /* USED is not rebooked */

    /* Its ticket voided: BOOKED again; the ticket revived: USED by it again. */
    ck_assert_int_eq(store_release_appointment(s, 78), 0);
    ck_assert_int_eq(store_release_appointment(s, 77), 1);
    ck_assert_int_eq(store_get_appointment(s, "YY-0001", &got), 1);
    ck_assert(got.state == STORE_APPT_BOOKED && got.ticket_id == 0);
    ck_assert_int_eq(store_reclaim_appointment(s, 77), 1);
    ck_assert_int_eq(store_get_appointment(s, "YY-0001", &got), 1);
    ck_assert(got.state == STORE_APPT_USED && got.ticket_id == 77);
    /* Checked in anew after the release: the old ticket cannot take it back. */
    ck_assert_int_eq(store_release_appointment(s, 77), 1);
    ck_assert_int_eq(store_mark_appointment_used(s, "YY-0001", 79), 1);
    ck_assert_int_eq(store_reclaim_appointment(s, 77), 0);
    ck_assert_int_eq(store_get_appointment(s, "YY-0001", &got), 1);
    ck_assert_uint_eq(got.ticket_id, 79);

    store_appointment b = {.code = "YY-0002", .area = "intake", .slot_ms = 9000};
    ck_assert_int_eq(store_save_appointment(s, &b), 0);
    int n = 0;
    ck_assert_int_eq(store_load_appointments(s, 7000, count_appointment, &n), 0);
    ck_assert_int_eq(n, 1);
    n = 0;
    ck_assert_int_eq(store_load_appointments(s, 0, count_appointment, &n), 0);
    ck_assert_int_eq(n, 2);
    store_close(s);
}
END_TEST

/* ---- Users ------------------------------------------------------------------ */

static store_user sample_user(const char *name, const char *role, const char *clerk)
{
    store_user u = {.created_ms = 1700000000000, .session_epoch = 99};

    snprintf(u.name, sizeof u.name, "%s", name);
    snprintf(u.display_name, sizeof u.display_name, "显示 %s", name);
    snprintf(u.role, sizeof u.role, "%s", role);
    snprintf(u.clerk_id, sizeof u.clerk_id, "%s", clerk);
    snprintf(u.pwhash, sizeof u.pwhash, "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHQ$%s-key", name);
    return u;
}

struct user_list {
    char names[8][STORE_USER_NAME_MAX + 1];
    int n;
};

static int collect_user(void *arg, const store_user *u)
{
    struct user_list *l = arg;

    ck_assert_int_lt(l->n, 8);
    snprintf(l->names[l->n++], sizeof l->names[0], "%s", u->name);
    return 0;
}

static int64_t epoch_of(store *s, const char *name)
{
    store_user u;

    ck_assert_int_eq(store_get_user(s, name, &u), 1);
    return u.session_epoch;
}

START_TEST(test_users)
{
    store *s = open_store(STORE_ADMIN);
    store_clerk c = {.id = "c-1", .name = "王芳", .active = true};
    ck_assert_int_eq(store_save_clerk(s, &c), 0);

    store_user alice = sample_user("alice", "clerk", "c-1");
    store_user bob = sample_user("bob.w_2-x", "manager", "");
    ck_assert_msg(store_add_user(s, &alice) == 0, "%s", store_errmsg(s));
    ck_assert_msg(store_add_user(s, &bob) == 0, "%s", store_errmsg(s));
    store_user got;
    ck_assert_int_eq(store_get_user(s, "alice", &got), 1);
    ck_assert_str_eq(got.name, "alice");
    ck_assert_str_eq(got.display_name, "显示 alice");
    ck_assert_str_eq(got.role, "clerk");
    ck_assert_str_eq(got.clerk_id, "c-1");
    ck_assert_str_eq(got.pwhash, alice.pwhash);
    ck_assert(!got.disabled);
    ck_assert_int_eq(got.session_epoch, 0); /* a new user starts at 0 */
    ck_assert_int_eq(got.created_ms, 1700000000000);
    ck_assert_int_eq(got.changed_ms, 1700000000000);
    ck_assert_int_eq(store_get_user(s, "bob.w_2-x", &got), 1);
    ck_assert_str_eq(got.clerk_id, "");
    ck_assert_int_eq(store_get_user(s, "carol", &got), 0);
    struct user_list l = {0};
    ck_assert_int_eq(store_load_users(s, collect_user, &l), 0);
    ck_assert_int_eq(l.n, 2);
    ck_assert_str_eq(l.names[0], "alice");
    ck_assert_str_eq(l.names[1], "bob.w_2-x");

    /* Refused: a name taken, bad names and roles, a clerk's user without
     * its clerk or with one that does not exist, a clerk for another role. */
    store_user bad = sample_user("alice", "admin", "");
    ck_assert_int_eq(store_add_user(s, &bad), -1);
    ck_assert_str_eq(store_errmsg(s), "user alice exists");
    const char *const names[] = {"", "Alice", "1alice", ".alice", "al ice", "al/ice", "alïce"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        bad = sample_user(names[i], "admin", "");
        ck_assert_msg(store_add_user(s, &bad) == -1, "%s accepted", names[i]);
        ck_assert_msg(strstr(store_errmsg(s), "starting with a letter") != NULL, "%s",
                      store_errmsg(s));
    }
    bad = sample_user("abcdefghijabcdefghijabcdefghijab", "admin", ""); /* 32: the longest */
    ck_assert_msg(store_add_user(s, &bad) == 0, "%s", store_errmsg(s));
    bad = sample_user("carol", "root", "");
    ck_assert_int_eq(store_add_user(s, &bad), -1);
    ck_assert_ptr_nonnull(strstr(store_errmsg(s), "no role 'root'"));
    bad = sample_user("carol", "clerk", "");
    ck_assert_int_eq(store_add_user(s, &bad), -1);
    ck_assert_str_eq(store_errmsg(s), "user carol: a user of role clerk needs a clerk");
    bad = sample_user("carol", "clerk", "c-9");
    ck_assert_int_eq(store_add_user(s, &bad), -1);
    ck_assert_str_eq(store_errmsg(s), "user carol: no clerk 'c-9'");
    bad = sample_user("carol", "auditor", "c-1");
    ck_assert_int_eq(store_add_user(s, &bad), -1);
    ck_assert_str_eq(store_errmsg(s), "user carol: only a user of role clerk has a clerk");
    ck_assert_int_eq(store_get_user(s, "carol", &got), 0);
    ck_assert(store_user_role_valid("reviewer") && store_user_role_valid("consult"));
    ck_assert(!store_user_role_valid("Admin") && !store_user_role_valid(""));
    ck_assert(!store_user_role_valid(NULL));
    ck_assert(store_user_name_valid("a") && store_user_name_valid("z.9_-"));
    ck_assert(!store_user_name_valid("abcdefghijabcdefghijabcdefghijabc")); /* 33 */
    ck_assert(!store_user_name_valid("-a") && !store_user_name_valid(NULL));

    /* The table itself refuses the same, whatever writes it. */
    char msg[256];
    const char *const inserts[] = {
        "INSERT INTO users VALUES('Carol', 'x', 'admin', NULL, 'h', 0, 0, 1, 1)",
        "INSERT INTO users VALUES('9carol', 'x', 'admin', NULL, 'h', 0, 0, 1, 1)",
        "INSERT INTO users VALUES('car ol', 'x', 'admin', NULL, 'h', 0, 0, 1, 1)",
        "INSERT INTO users VALUES('', 'x', 'admin', NULL, 'h', 0, 0, 1, 1)",
        "INSERT INTO users VALUES('abcdefghijabcdefghijabcdefghijabc', 'x', 'admin', NULL, 'h', 0, "
        "0, 1, 1)",
        "INSERT INTO users VALUES('carol', 'x', 'root', NULL, 'h', 0, 0, 1, 1)",
        "INSERT INTO users VALUES('carol', 'x', 'clerk', NULL, 'h', 0, 0, 1, 1)",
        "INSERT INTO users VALUES('carol', 'x', 'admin', 'c-1', 'h', 0, 0, 1, 1)",
        "INSERT INTO users VALUES('carol', '', 'admin', NULL, 'h', 0, 0, 1, 1)",
        "INSERT INTO users VALUES('carol', 'x', 'admin', NULL, '', 0, 0, 1, 1)",
        "INSERT INTO users VALUES('carol', 'x', 'admin', NULL, 'h', 2, 0, 1, 1)",
    };
    for (size_t i = 0; i < sizeof inserts / sizeof inserts[0]; i++) {
        ck_assert_msg(raw_sql(inserts[i], msg, sizeof msg) != SQLITE_OK, "%s", inserts[i]);
        ck_assert_msg(strstr(msg, "CHECK constraint failed") != NULL, "%s: %s", inserts[i], msg);
    }
    ck_assert_int_ne(raw_sql("PRAGMA foreign_keys = ON; INSERT INTO users VALUES('carol', 'x', "
                             "'clerk', 'c-9', 'h', 0, 0, 1, 1)",
                             msg, sizeof msg),
                     SQLITE_OK);
    ck_assert_str_eq(msg, "FOREIGN KEY constraint failed");
    ck_assert_int_eq(raw_sql("INSERT INTO users VALUES('carol', 'x', 'consult', NULL, 'h', 0, 0, "
                             "1, 1)",
                             msg, sizeof msg),
                     SQLITE_OK);

    /* Every change raises the epoch, and only the user's. */
    ck_assert_int_eq(store_set_user_password(s, "alice", "$scrypt$new", 1700000000100), 0);
    ck_assert_int_eq(store_get_user(s, "alice", &got), 1);
    ck_assert_str_eq(got.pwhash, "$scrypt$new");
    ck_assert_int_eq(got.session_epoch, 1);
    ck_assert_int_eq(got.changed_ms, 1700000000100);
    ck_assert_int_eq(got.created_ms, 1700000000000);
    ck_assert_int_eq(store_set_user_role(s, "alice", "manager", NULL, 1700000000200), 0);
    ck_assert_int_eq(store_get_user(s, "alice", &got), 1);
    ck_assert_str_eq(got.role, "manager");
    ck_assert_str_eq(got.clerk_id, "");
    ck_assert_int_eq(got.session_epoch, 2);
    ck_assert_int_eq(store_set_user_role(s, "alice", "clerk", "c-1", 1700000000300), 0);
    ck_assert_int_eq(store_get_user(s, "alice", &got), 1);
    ck_assert_str_eq(got.clerk_id, "c-1");
    ck_assert_int_eq(store_set_user_disabled(s, "alice", true, 1700000000400), 0);
    ck_assert_int_eq(store_get_user(s, "alice", &got), 1);
    ck_assert(got.disabled);
    ck_assert_int_eq(got.session_epoch, 4);
    ck_assert_int_eq(store_set_user_disabled(s, "alice", false, 1700000000500), 0);
    ck_assert_int_eq(store_end_user_sessions(s, "alice", 1700000000600), 0);
    ck_assert_int_eq(store_get_user(s, "alice", &got), 1);
    ck_assert(!got.disabled);
    ck_assert_str_eq(got.role, "clerk");
    ck_assert_str_eq(got.pwhash, "$scrypt$new");
    ck_assert_int_eq(got.session_epoch, 6);
    ck_assert_int_eq(got.changed_ms, 1700000000600);
    ck_assert_int_eq(epoch_of(s, "bob.w_2-x"), 0);

    /* Refused changes change nothing; an unknown user is an error. */
    ck_assert_int_eq(store_set_user_role(s, "alice", "clerk", NULL, 1), -1);
    ck_assert_int_eq(store_set_user_role(s, "alice", "clerk", "c-9", 1), -1);
    ck_assert_str_eq(store_errmsg(s), "user alice: no clerk 'c-9'");
    ck_assert_int_eq(store_set_user_role(s, "alice", "boss", NULL, 1), -1);
    ck_assert_int_eq(store_set_user_password(s, "alice", "", 1), -1);
    ck_assert_int_eq(epoch_of(s, "alice"), 6);
    ck_assert_int_eq(store_set_user_password(s, "nobody", "$scrypt$x", 1), -1);
    ck_assert_str_eq(store_errmsg(s), "no user nobody");
    ck_assert_int_eq(store_set_user_role(s, "nobody", "admin", NULL, 1), -1);
    ck_assert_str_eq(store_errmsg(s), "no user nobody");
    ck_assert_int_eq(store_set_user_disabled(s, "nobody", true, 1), -1);
    ck_assert_str_eq(store_errmsg(s), "no user nobody");
    ck_assert_int_eq(store_end_user_sessions(s, "nobody", 1), -1);
    ck_assert_str_eq(store_errmsg(s), "no user nobody");
    ck_assert_int_eq(store_get_user(s, "nobody", &got), 0);
    store_close(s);
}
END_TEST

/* ---- The read-only open ---------------------------------------------------------- */

static store *open_reader(void)
{
    store *s = store_open(db, HALL, STORE_READER, err, sizeof err);

    ck_assert_msg(s != NULL, "store_open(STORE_READER): %s", err);
    return s;
}

START_TEST(test_reader)
{
    /* A reader does not make a file. */
    ck_assert_ptr_null(store_open(db, HALL, STORE_READER, err, sizeof err));
    ck_assert_msg(strstr(err, "cannot open database") != NULL, "%s", err);
    ck_assert_int_eq(access(db, F_OK), -1);

    store *w = open_store(STORE_DAEMON);
    int version = store_schema_version(w);
    put_catalog(w);
    store_clerk c = {.id = "c-1", .name = "王芳", .active = true};
    ck_assert_int_eq(store_save_clerk(w, &c), 0);
    store_user u = sample_user("alice", "clerk", "c-1");
    ck_assert_int_eq(store_add_user(w, &u), 0);
    append(w, QE_ISSUED, 1, "");

    /* Beside the controller, which holds the lock: reads work and see
     * what the writer commits afterwards. */
    store *r = open_reader();
    ck_assert_int_eq(store_schema_version(r), version);
    ck_assert_str_eq(store_notice(r), "");
    store_user got;
    ck_assert_int_eq(store_get_user(r, "alice", &got), 1);
    ck_assert_str_eq(got.clerk_id, "c-1");
    ck_assert_int_eq(store_end_user_sessions(w, "alice", 5), 0);
    ck_assert_int_eq(epoch_of(r, "alice"), 1);
    size_t n;
    ck_assert_int_eq(store_count_matters(r, NULL, &n), 0);
    ck_assert_uint_eq(n, 1);
    uint64_t events;
    ck_assert_int_eq(store_verify_events(r, &events), 0);
    ck_assert_uint_eq(events, 1);
    ck_assert_int_eq(store_sync(r), 0);

    /* Every write fails, and leaves the file as it was. */
    store_clerk c2 = {.id = "c-2", .name = "李明", .active = true};
    ck_assert_int_eq(store_save_clerk(r, &c2), -1);
    ck_assert_msg(strstr(store_errmsg(r), "readonly") != NULL, "%s", store_errmsg(r));
    store_user v = sample_user("bob", "admin", "");
    ck_assert_int_eq(store_add_user(r, &v), -1);
    ck_assert_int_eq(store_set_user_disabled(r, "alice", true, 6), -1);
    ck_assert_int_eq(store_set_setting(r, "greeting", "hello"), -1);
    ck_assert_int_eq(store_append_admin_event(r, 1, 20260301, "web", "alice", "x"), -1);
    ck_assert_int_eq(store_begin(r), -1);
    ck_assert(!store_in_transaction(r));
    q_ticket t = sample_ticket(1, "T001", 20260301, Q_WAITING);
    ck_assert_int_eq(store_put_ticket(r, &t), -1);
    ck_assert_int_eq(store_get_clerk(w, "c-2", &c2), 0);
    ck_assert_int_eq(store_get_user(w, "bob", &got), 0);
    ck_assert_int_eq(store_get_user(w, "alice", &got), 1);
    ck_assert(!got.disabled);
    ck_assert_int_eq(store_verify_events(w, &events), 0);
    ck_assert_uint_eq(events, 1);
    store_close(r);
    store_close(w);

    /* With nobody else on the file (no -wal, no -shm). */
    char wal[PATH_MAX + 8];
    snprintf(wal, sizeof wal, "%s-wal", db);
    ck_assert_int_eq(access(wal, F_OK), -1);
    r = open_reader();
    ck_assert_int_eq(store_get_user(r, "alice", &got), 1);
    ck_assert_int_eq(store_schema_version(r), version);
    store_close(r);

    /* Another hall's file, or one at another schema version, is refused. */
    ck_assert_ptr_null(store_open(db, "other-hall", STORE_READER, err, sizeof err));
    char want[PATH_MAX + 128];
    snprintf(want, sizeof want, "%s belongs to hall '%s', not 'other-hall'", db, HALL);
    ck_assert_str_eq(err, want);
    char msg[256];
    char pragma[64], newer[128];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", version - 1);
    ck_assert_int_eq(raw_sql(pragma, msg, sizeof msg), SQLITE_OK);
    ck_assert_ptr_null(store_open(db, HALL, STORE_READER, err, sizeof err));
    snprintf(want, sizeof want,
             "%s is at schema %d, this build reads %d: start halld or run hallctl once to migrate "
             "it",
             db, version - 1, version);
    ck_assert_str_eq(err, want);
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", version + 1);
    ck_assert_int_eq(raw_sql(pragma, msg, sizeof msg), SQLITE_OK);
    ck_assert_ptr_null(store_open(db, HALL, STORE_READER, err, sizeof err));
    snprintf(newer, sizeof newer, "is at schema %d, this build reads %d: run the newer release",
             version + 1, version);
    ck_assert_msg(strstr(err, newer) != NULL, "%s", err);
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", version);
    ck_assert_int_eq(raw_sql(pragma, msg, sizeof msg), SQLITE_OK);
    store_close(open_reader());
}
END_TEST

START_TEST(test_catalog_replace)
{
    store *s = open_store(STORE_ADMIN);
    put_catalog(s);
    q_window w = {.no = 1, .name = "1号窗", .type = QW_INTAKE, .nareas = 1, .weights = {1}};
    snprintf(w.areas[0], sizeof w.areas[0], "tax");
    ck_assert_int_eq(store_save_window(s, &w), 0);

    /* A catalog without the window's area retires it: kept, not offered,
     * still served by the window; its matters retired with it. */
    q_area only = {.code = "intake", .name = "综合受理", .prefix = "A", .general = true};
    ck_assert_msg(store_replace_catalog(s, &only, 1, NULL, 0, 0) == 0, "%s", store_errmsg(s));
    size_t n;
    ck_assert_int_eq(store_count_matters(s, "tax", &n), 0);
    ck_assert_uint_eq(n, 0);
    struct area_list got = {0};
    ck_assert_int_eq(store_load_areas(s, collect_area, &got), 0);
    ck_assert_int_eq(got.n, 2);
    ck_assert_str_eq(got.code[0], "intake"); /* offered first */
    ck_assert(!got.retired[0]);
    ck_assert_str_eq(got.code[1], "tax");
    ck_assert(got.retired[1]);

    /* Its prefix is taken again only once its recent tickets are over. */
    q_ticket t = {.id = 1,
                  .number = "T001",
                  .day = 20261207,
                  .seq = 1,
                  .area = "tax",
                  .state = Q_WAITING,
                  .issued_ms = 1000,
                  .state_ms = 1000};
    ck_assert_int_eq(store_put_ticket(s, &t), 0);
    q_area fin[] = {only, {.code = "fin", .name = "财政", .prefix = "T"}};
    ck_assert_int_eq(store_replace_catalog(s, fin, 2, NULL, 0, 20261206), -1);
    ck_assert_msg(strstr(store_errmsg(s), "prefix T still numbers 1 ticket(s) of retired area tax"),
                  "%s", store_errmsg(s));
    ck_assert_msg(store_replace_catalog(s, fin, 2, NULL, 0, 20261208) == 0, "%s", store_errmsg(s));

    /* Back in the catalog: offered again, with its matters. */
    put_catalog(s);
    ck_assert_int_eq(store_count_matters(s, "tax", &n), 0);
    ck_assert_uint_eq(n, 1);
    memset(&got, 0, sizeof got);
    ck_assert_int_eq(store_load_areas(s, collect_area, &got), 0);
    ck_assert_int_eq(got.n, 3);
    ck_assert(!got.retired[0] && !got.retired[1] && got.retired[2]);
    ck_assert_str_eq(got.code[2], "fin");

    /* Two general areas: the schema refuses them too. */
    q_area two[] = {only, {.code = "tax", .name = "税务", .prefix = "T", .general = true}};
    ck_assert_int_eq(store_replace_catalog(s, two, 2, NULL, 0, 0), -1);
    ck_assert_int_eq(store_count_matters(s, NULL, &n), 0);
    ck_assert_uint_eq(n, 1);
    store_close(s);
}
END_TEST

/* ---- Catalog parsers --------------------------------------------------------------- */

#define HEADER                                                                                     \
    "kind,code,name,prefix,general,area,conditions,materials,sample,review_points,"                \
    "in_one_window,online_doable\r\n"
#define AREAS                                                                                      \
    "area,intake,综合受理,A,true,,,,,,,\r\n"                                                   \
    "area,tax,税务服务,T,,,,,,,,\r\n"

static catalog *csv(const char *text)
{
    return catalog_parse("t.csv", text, strlen(text), CATALOG_CSV, err, sizeof err);
}

static catalog *json(const char *text)
{
    return catalog_parse("t.json", text, strlen(text), CATALOG_JSON, err, sizeof err);
}

static void csv_refused(const char *text, const char *want)
{
    catalog *c = csv(text);
    ck_assert_msg(c == NULL, "accepted: %s", text);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_str_eq(err, want);
}

static void json_refused(const char *text, const char *want)
{
    catalog *c = json(text);
    ck_assert_msg(c == NULL, "accepted: %s", text);
    ck_assert_str_eq(err, want);
}

START_TEST(test_csv_quotes_and_lines)
{
    /* BOM, CRLF, a quoted field with commas, doubled quotes and a line
     * break, list separators of both widths and line breaks. */
    catalog *c = csv("\xEF\xBB\xBF" HEADER AREAS
                     "matter,T-1,发票领用,,,tax,\"已登记, 且 \"\"票种\"\"\r\n已核定\",\"甲；乙; "
                     "丙\n丁;\",\"样表\",,是,否\r\n"
                     "\r\n"
                     "matter,T-2, 完税证明 ,,,tax,,,,\"核对\",TRUE,yes");
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_uint_eq(catalog_area_count(c), 2);
    const q_area *a = catalog_areas(c);
    ck_assert_str_eq(a[0].code, "intake");
    ck_assert(a[0].general);
    ck_assert(!a[1].general);
    ck_assert_str_eq(a[1].prefix, "T");
    ck_assert_uint_eq(catalog_matter_count(c), 2);
    const store_matter *m = catalog_matters(c);
    ck_assert_str_eq(m[0].conditions, "已登记, 且 \"票种\"\n已核定");
    ck_assert_str_eq(m[0].materials, "甲\n乙\n丙\n丁");
    ck_assert_str_eq(m[0].sample, "样表");
    ck_assert_str_eq(m[0].review_points, "");
    ck_assert(m[0].in_one_window);
    ck_assert(!m[0].online_doable);
    ck_assert_str_eq(m[1].name, "完税证明"); /* trimmed */
    ck_assert_str_eq(m[1].review_points, "核对");
    ck_assert(m[1].in_one_window && m[1].online_doable);
    catalog_free(c);
}
END_TEST

START_TEST(test_csv_errors)
{
    /* Line numbers count physical lines: the record on line 4 spans two. */
    csv_refused(HEADER AREAS "matter,T-1,a,,,tax,\"x\ny\",,,,true,false\n"
                             "matter,T-2,b,,,nowhere,,,,,true,false\n",
                "t.csv:6: column area: no area 'nowhere' in this catalog");
    csv_refused(HEADER AREAS "matter,T-1,a,,,tax,,,,,maybe,false\n",
                "t.csv:4: column in_one_window: 'maybe': expected true or false (also yes/no, "
                "1/0, 是/否)");
    csv_refused(HEADER AREAS "matter,T-1,a,,,tax,,,,,true,\n",
                "t.csv:4: column online_doable: missing: write true or false");
    csv_refused(HEADER AREAS "area,tax2,税务2,T,,,,,,,,\n",
                "t.csv:4: column prefix: prefix 'T' is already used by area tax (line 3)");
    csv_refused(HEADER AREAS "matter,T-1,a,,,tax,\"open,,,,true,false\n",
                "t.csv:4: column conditions: quoted field is never closed (a '\"' is missing)");
    csv_refused(HEADER AREAS "matter,T-1,a,,,tax,\"x\"y,,,,true,false\n",
                "t.csv:4: column conditions: text after the closing quote (write a quote inside "
                "a quoted field as \"\")");
    csv_refused(HEADER AREAS "matter,T-1,a,,,tax,,,,,true\n",
                "t.csv:4: 11 fields, but the header has 12");
    csv_refused(HEADER AREAS "matter,T-1,a,B,,tax,,,,,true,false\n",
                "t.csv:4: column prefix: must be empty in matter rows");
    csv_refused(HEADER AREAS "service,T-1,a,,,tax,,,,,true,false\n",
                "t.csv:4: column kind: 'service': expected area or matter");
    csv_refused(HEADER AREAS "matter,T-1,a,,,tax,,,,,true,false\n"
                             "matter,T-1,b,,,tax,,,,,true,false\n",
                "t.csv:5: column code: matter 'T-1' is defined twice (also line 4)");
    csv_refused(HEADER AREAS "area,big,大厅,Z,yes,,,,,,,\n",
                "t.csv:4: column general: area big is marked general, and so is area intake "
                "(line 2): mark exactly one");
    csv_refused(HEADER "area,tax,税务服务,T,false,,,,,,,\n",
                "t.csv: no area is marked general: mark exactly one (the hall's general intake "
                "area, for one-tap tickets)");
    csv_refused(HEADER "area,bad code,x,A,true,,,,,,,\n",
                "t.csv:2: column code: 'bad code': use only letters, digits, '-' and '_'");
    csv_refused(HEADER "area,a,x,ABCD,true,,,,,,,\n",
                "t.csv:2: column prefix: 'ABCD': use 1 to 3 uppercase letters (A-Z)");
    csv_refused(HEADER "area,a,\xE4\xB8,A,true,,,,,,,\n",
                "t.csv:2: column name: not valid UTF-8 (save the file as UTF-8)");
    csv_refused("kind,code,name\n", "t.csv:1: the header has no column 'prefix' (the first row "
                                    "must name the columns)");
    csv_refused("", "t.csv: empty: expected a header row naming the columns");
}
END_TEST

/* English names: an optional CSV column and JSON key; a file without
 * them still loads (the names are then ""). */
START_TEST(test_english_names)
{
    catalog *c = csv("kind,code,name,name_en,prefix,general,area,conditions,materials,sample,"
                     "review_points,in_one_window,online_doable\n"
                     "area,A,综合受理,General Services,A,true,,,,,,,\n"
                     "matter,m1,发票领用,Invoice Collection,,,A,,身份证；UKey,,,true,true\n");
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_str_eq(catalog_areas(c)[0].name_en, "General Services");
    ck_assert_str_eq(catalog_matters(c)[0].name_en, "Invoice Collection");
    ck_assert_str_eq(catalog_matters(c)[0].materials, "身份证\nUKey");
    catalog_free(c);

    c = json("{\"areas\": [{\"code\": \"A\", \"name\": \"综合受理\", \"name_en\": \"General\", "
             "\"prefix\": \"A\", \"general\": true}], \"matters\": [{\"code\": \"m\", "
             "\"area\": \"A\", \"name\": \"n\", \"name_en\": \"N\", \"in_one_window\": true, "
             "\"online_doable\": true}]}");
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_str_eq(catalog_areas(c)[0].name_en, "General");
    ck_assert_str_eq(catalog_matters(c)[0].name_en, "N");
    catalog_free(c);
    /* Without the column: loads, no English names. */
    c = csv("kind,code,name,prefix,general,area,conditions,materials,sample,review_points,"
            "in_one_window,online_doable\narea,A,综合受理,A,true,,,,,,,\n");
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_str_eq(catalog_areas(c)[0].name_en, "");
    catalog_free(c);
    /* A bad English name is refused like a name. */
    ck_assert_ptr_null(csv("kind,code,name,name_en,prefix,general,area,conditions,materials,sample,"
                           "review_points,in_one_window,online_doable\n"
                           "area,A,综合受理,\"two\nlines\",A,true,,,,,,,\n"));
    ck_assert_msg(strstr(err, "column name_en") != NULL, "%s", err);
}
END_TEST

START_TEST(test_json)
{
    catalog *c = json("{\"areas\": [{\"code\": \"intake\", \"name\": \"综合受理\", \"prefix\": "
                      "\"A\", \"general\": true}],"
                      " \"matters\": [{\"code\": \"A-1\", \"area\": \"intake\", \"name\": \"咨询\","
                      " \"materials\": [\"身份证\", \" 照片 \"], \"in_one_window\": true,"
                      " \"online_doable\": false}]}");
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_str_eq(catalog_matters(c)[0].materials, "身份证\n照片");
    ck_assert_str_eq(catalog_matters(c)[0].conditions, "");
    catalog_free(c);

    const char *area = "{\"areas\": [{\"code\": \"a\", \"name\": \"x\", \"prefix\": \"A\", "
                       "\"general\": true}], \"matters\": [";
    char text[1024];
    snprintf(text, sizeof text, "%s%s", area,
             "{\"code\": \"m\", \"area\": \"a\", \"name\": \"n\", \"in_one_window\": true,"
             " \"online_doable\": true},"
             "{\"code\": \"m2\", \"area\": \"b\", \"name\": \"n\", \"in_one_window\": true,"
             " \"online_doable\": true}]}");
    json_refused(text, "t.json: matters[1].area: no area 'b' in this catalog");
    snprintf(text, sizeof text, "%s%s", area,
             "{\"code\": \"m\", \"area\": \"a\", \"name\": \"n\", \"in_one_window\": 1,"
             " \"online_doable\": true}]}");
    json_refused(text, "t.json: matters[0].in_one_window: expected true or false");
    snprintf(text, sizeof text, "%s%s", area,
             "{\"code\": \"m\", \"area\": \"a\", \"name\": \"n\", \"in_one_window\": true,"
             " \"online_doable\": true, \"materials\": [\"x\", 3]}]}");
    json_refused(text, "t.json: matters[0].materials[1]: expected a string");
    snprintf(text, sizeof text, "%s%s", area,
             "{\"code\": \"m\", \"area\": \"a\", \"name\": \"n\", \"online_doable\": true,"
             " \"in_one_window\": true, \"colour\": \"red\"}]}");
    json_refused(text, "t.json: matters[0].colour: unknown key (allowed: code, area, name, "
                       "name_en, conditions, materials, sample, review_points, in_one_window, "
                       "online_doable)");
    json_refused("{\"areas\": []}", "t.json: no areas: a catalog needs at least the general area");
    json_refused("{\"areas\": [{\"code\": \"a\", \"code\": \"b\"}]}",
                 "t.json: line 1, column 31: duplicate object key near '\"code\"'");
    json_refused("[]", "t.json: expected an object with \"areas\" and \"matters\"");
}
END_TEST

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    static char buf[1 << 20];
    *len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

START_TEST(test_samples_equal)
{
    catalog *j = catalog_load(SAMPLE_DIR "/sample-catalog.json", CATALOG_AUTO, err, sizeof err);
    ck_assert_msg(j != NULL, "%s", err);
    catalog *c = catalog_load(SAMPLE_DIR "/sample-catalog.csv", CATALOG_AUTO, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_uint_eq(catalog_area_count(j), 6);
    ck_assert_uint_eq(catalog_area_count(c), 6);
    ck_assert_uint_ge(catalog_matter_count(j), 18);
    ck_assert_uint_eq(catalog_matter_count(c), catalog_matter_count(j));
    for (size_t i = 0; i < catalog_area_count(j); i++) {
        const q_area *x = &catalog_areas(j)[i], *y = &catalog_areas(c)[i];
        ck_assert_str_eq(x->code, y->code);
        ck_assert_str_eq(x->name, y->name);
        ck_assert_str_eq(x->prefix, y->prefix);
        ck_assert_int_eq(x->general, y->general);
    }
    for (size_t i = 0; i < catalog_matter_count(j); i++) {
        const store_matter *x = &catalog_matters(j)[i], *y = &catalog_matters(c)[i];
        ck_assert_str_eq(x->code, y->code);
        ck_assert_str_eq(x->area, y->area);
        ck_assert_str_eq(x->name, y->name);
        ck_assert_str_eq(x->conditions, y->conditions);
        ck_assert_str_eq(x->materials, y->materials);
        ck_assert_str_eq(x->sample, y->sample);
        ck_assert_str_eq(x->review_points, y->review_points);
        ck_assert_int_eq(x->in_one_window, y->in_one_window);
        ck_assert_int_eq(x->online_doable, y->online_doable);
        ck_assert_str_ne(x->materials, ""); /* every matter lists its materials */
        ck_assert_str_ne(x->review_points, "");
    }
    /* Every truncation of the CSV either parses or is refused cleanly. */
    size_t len;
    const char *text = slurp(SAMPLE_DIR "/sample-catalog.csv", &len);
    for (size_t cut = 0; cut < len; cut += 97)
        catalog_free(catalog_parse("cut.csv", text, cut, CATALOG_CSV, err, sizeof err));
    catalog_free(j);
    catalog_free(c);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_migrate_and_reopen);
    tcase_add_test(tc, test_newer_schema_refused);
    tcase_add_test(tc, test_hall_id_mismatch);
    tcase_add_test(tc, test_one_daemon);
    tcase_add_test(tc, test_ticket_round_trip);
    tcase_add_test(tc, test_number_unique_per_day);
    tcase_add_test(tc, test_window_round_trip);
    tcase_add_test(tc, test_lease_round_trip);
    tcase_add_test(tc, test_loader_stops);
    tcase_add_test(tc, test_events_immutable);
    tcase_add_test(tc, test_chain_verify);
    tcase_add_test(tc, test_committed_head);
    tcase_add_test(tc, test_file_private);
    tcase_add_test(tc, test_chain_relinked);
    tcase_add_test(tc, test_chain_deleted_row);
    tcase_add_test(tc, test_chain_interleaved_writers);
    tcase_add_test(tc, test_requests);
    tcase_add_test(tc, test_appointments);
    tcase_add_test(tc, test_catalog_replace);
    tcase_add_test(tc, test_users);
    tcase_add_test(tc, test_clerk_day);
    tcase_add_test(tc, test_reader);
    suite_add_tcase(s, tc);

    TCase *tp = tcase_create("catalog");
    tcase_set_timeout(tp, 60);
    tcase_add_test(tp, test_csv_quotes_and_lines);
    tcase_add_test(tp, test_csv_errors);
    tcase_add_test(tp, test_json);
    tcase_add_test(tp, test_english_names);
    tcase_add_test(tp, test_samples_equal);
    suite_add_tcase(s, tp);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
