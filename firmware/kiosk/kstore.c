/*
 * kstore — the kiosk's durable state in SQLite. See kstore.h for what is
 * kept and the life of each row. Statements are prepared per call: the
 * kiosk writes a few rows per ticket, so clarity wins over speed here.
 */
#include "kstore.h"

#include <assert.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clk.h"
#include "dbfile.h"

/* Request ids reserved per durable write. */
#define ID_BLOCK 1000

struct kstore {
    sqlite3 *db;
    uint64_t next_id, id_limit; /* ids next_id .. id_limit-1 are reserved */
    char notice[1024];          /* what opening changed on the file system */
    char errmsg[256];
};

/* Migration N brings the file from layout N-1 to N, in one transaction.
 * Never edit a migration that has shipped: add a new one. */
static const char *const migrations[] = {
    /* 1: the first layout. IF NOT EXISTS: the first release made these
     * tables without a version, so its files open at version 0 with them. */
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS leases(area TEXT PRIMARY KEY, prefix TEXT NOT NULL,"
    " first INTEGER NOT NULL, count INTEGER NOT NULL, used INTEGER NOT NULL,"
    " day INTEGER NOT NULL, expires_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS offline(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " area TEXT NOT NULL, number TEXT NOT NULL, seq INTEGER NOT NULL,"
    " issued_ms INTEGER NOT NULL, priority INTEGER NOT NULL, hash BLOB,"
    " masked_name TEXT NOT NULL, state INTEGER NOT NULL, UNIQUE(area, number, issued_ms));"
    "CREATE TABLE IF NOT EXISTS tickets(ticket_id INTEGER PRIMARY KEY, number TEXT NOT NULL,"
    " state INTEGER NOT NULL, reason TEXT NOT NULL, at INTEGER NOT NULL);",

    /* 2: halld's answer per offline ticket (REFUSED with its reason, and
     * when a row reached its end, for pruning); the request id of an
     * online ticket's confirmation, sent again under it after a restart;
     * the end of a refused online ticket. */
    "ALTER TABLE offline ADD COLUMN reason TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE offline ADD COLUMN done_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE tickets ADD COLUMN request_id INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE tickets ADD COLUMN done_ms INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX offline_state ON offline(state, id);",

    /* 3: the kiosk no longer holds the hall secret: an offline ticket
     * keeps the ID number sealed to halld's sealing key instead of its
     * hash. The hashes of earlier releases are dropped with their column
     * (those tickets join without the citizen bound to them). */
    "ALTER TABLE offline DROP COLUMN hash;"
    "ALTER TABLE offline ADD COLUMN sealed BLOB;",

    /* 4: the matter the citizen picked, uploaded with the ticket so that
     * halld counts it per matter as an online one. */
    "ALTER TABLE offline ADD COLUMN matter TEXT NOT NULL DEFAULT '';",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))
/* The first layout without the hash column. */
#define SEALED_VERSION 3

static int fail(kstore *s, const char *what)
{
    snprintf(s->errmsg, sizeof s->errmsg, "%s: %s", what, sqlite3_errmsg(s->db));
    errno = EIO;
    return -1;
}

static int exec(kstore *s, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(s->errmsg, sizeof s->errmsg, "%s", msg ? msg : "sqlite error");
        sqlite3_free(msg);
        errno = EIO;
        return -1;
    }
    return 0;
}

static sqlite3_stmt *prep(kstore *s, const char *sql)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fail(s, "prepare");
        return NULL;
    }
    return st;
}

/* Step a statement that returns no row, then finalize it. */
static int run(kstore *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fail(s, what);
    return 0;
}

static int version_of(kstore *s, int *version)
{
    sqlite3_stmt *st = prep(s, "PRAGMA user_version");

    if (st == NULL)
        return -1;
    *version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    return *version < 0 ? fail(s, "read the layout version") : 0;
}

/* Apply every migration above the file's version, one transaction each,
 * so a crash in the middle leaves the file at a whole version. *from: the
 * version the file had. */
static int migrate(kstore *s, int *from)
{
    int v;

    *from = -1;
    for (;;) {
        char bump[64];
        if (exec(s, "BEGIN IMMEDIATE") < 0)
            return -1;
        if (version_of(s, &v) < 0)
            goto rollback;
        if (*from < 0)
            *from = v;
        if (v > SCHEMA_VERSION) {
            snprintf(s->errmsg, sizeof s->errmsg,
                     "layout version %d is newer than this kioskd understands (%d)", v,
                     SCHEMA_VERSION);
            goto rollback;
        }
        if (v == SCHEMA_VERSION)
            return exec(s, "COMMIT");
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
        if (exec(s, migrations[v]) < 0 || exec(s, bump) < 0 || exec(s, "COMMIT") < 0)
            goto rollback;
    }
rollback:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* Reserve the next block of request ids: its end is durable before any
 * id of it is handed out. A fresh (or lost) store starts from the clock. */
static int reserve_ids(kstore *s)
{
    sqlite3_stmt *st = prep(s, "SELECT value FROM meta WHERE key = 'request_id'");
    uint64_t stored = 0, from;

    if (st == NULL)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        stored = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    from = (uint64_t)clk_system_utc_ms() * 1000u;
    if (stored > from)
        from = stored;
    if (s->next_id > from)
        from = s->next_id;
    st = prep(s, "INSERT OR REPLACE INTO meta(key, value) VALUES('request_id', ?1)");
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)(from + ID_BLOCK));
    if (run(s, st, "reserve request ids") < 0)
        return -1;
    s->next_id = from;
    s->id_limit = from + ID_BLOCK;
    return 0;
}

kstore *kstore_open(const char *path, char *err, size_t errlen)
{
    kstore *s = calloc(1, sizeof *s);
    int from;

    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* Private before SQLite opens it: the -wal and -shm files SQLite makes
     * take the database file's mode. */
    if (dbfile_make_private(path, s->notice, sizeof s->notice) < 0) {
        snprintf(err, errlen, "%s", s->notice);
        free(s);
        return NULL;
    }
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* secure_delete: a deleted row's bytes are overwritten, not left in
     * free pages. A file that held hashes of ID numbers is rebuilt once
     * without them (VACUUM) and its write-ahead log emptied. */
    if (exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;") < 0 ||
        migrate(s, &from) < 0 ||
        (from < SEALED_VERSION && exec(s, "VACUUM; PRAGMA wal_checkpoint(TRUNCATE);") < 0) ||
        reserve_ids(s) < 0) {
        snprintf(err, errlen, "%s: %s", path, s->errmsg);
        goto fail;
    }
    return s;
fail:
    kstore_close(s);
    errno = EIO;
    return NULL;
}

void kstore_close(kstore *s)
{
    if (s == NULL)
        return;
    sqlite3_close(s->db);
    free(s);
}

const char *kstore_notice(const kstore *s)
{
    return s->notice;
}

const char *kstore_errmsg(const kstore *s)
{
    return s->errmsg;
}

uint64_t kstore_next_request_id(kstore *s)
{
    if (s->next_id >= s->id_limit && reserve_ids(s) < 0)
        return 0;
    return s->next_id++;
}

int kstore_clock_offset(kstore *s, int64_t *offset_ms)
{
    sqlite3_stmt *st = prep(s, "SELECT value FROM meta WHERE key = 'clock_offset_ms'");
    int rc;

    if (st == NULL)
        return -1;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *offset_ms = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : fail(s, "read the clock offset");
}

int kstore_clock_offset_put(kstore *s, int64_t offset_ms)
{
    sqlite3_stmt *st =
        prep(s, "INSERT OR REPLACE INTO meta(key, value) VALUES('clock_offset_ms', ?1)");

    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, offset_ms);
    return run(s, st, "store the clock offset");
}

static void text(char *out, size_t cap, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

int kstore_lease_put(kstore *s, const kstore_lease *l)
{
    sqlite3_stmt *st = prep(s, "INSERT OR REPLACE INTO leases(area, prefix, first, count, used,"
                               " day, expires_ms) VALUES(?1, ?2, ?3, ?4, 0, ?5, ?6)");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, l->area, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, l->prefix, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, l->first);
    sqlite3_bind_int64(st, 4, l->count);
    sqlite3_bind_int64(st, 5, l->day);
    sqlite3_bind_int64(st, 6, l->expires_ms);
    return run(s, st, "store lease");
}

int kstore_lease_get(kstore *s, const char *area, kstore_lease *out)
{
    sqlite3_stmt *st = prep(s, "SELECT area, prefix, first, count, used, day, expires_ms"
                               " FROM leases WHERE area = ?1");
    int rc;

    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, area, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        text(out->area, sizeof out->area, st, 0);
        text(out->prefix, sizeof out->prefix, st, 1);
        out->first = (uint32_t)sqlite3_column_int64(st, 2);
        out->count = (uint32_t)sqlite3_column_int64(st, 3);
        out->used = (uint32_t)sqlite3_column_int64(st, 4);
        out->day = (int32_t)sqlite3_column_int64(st, 5);
        out->expires_ms = sqlite3_column_int64(st, 6);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : fail(s, "read lease");
}

long kstore_lease_left(kstore *s, const char *area, int64_t now)
{
    sqlite3_stmt *st = prep(s, "SELECT COALESCE(SUM(count - used), 0) FROM leases"
                               " WHERE (?1 IS NULL OR area = ?1) AND expires_ms > ?2");
    long left = -1;

    if (st == NULL)
        return -1;
    if (area != NULL)
        sqlite3_bind_text(st, 1, area, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, now);
    if (sqlite3_step(st) == SQLITE_ROW)
        left = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return left < 0 ? fail(s, "count lease") : left;
}

int kstore_offline_take(kstore *s, const char *area, const char *matter, int64_t now, int priority,
                        const uint8_t *sealed, const char *masked_name, kstore_offline *out)
{
    kstore_lease l;
    int found;
    sqlite3_stmt *st;

    if (exec(s, "BEGIN IMMEDIATE") < 0)
        return -1;
    if ((found = kstore_lease_get(s, area, &l)) < 0)
        goto rollback;
    if (found == 0 || l.expires_ms <= now) {
        exec(s, "ROLLBACK");
        errno = ENOENT;
        return -1;
    }
    if (l.used >= l.count) {
        exec(s, "ROLLBACK");
        errno = ENOSPC;
        return -1;
    }
    memset(out, 0, sizeof *out);
    snprintf(out->area, sizeof out->area, "%s", area);
    out->seq = l.used + 1;
    snprintf(out->number, sizeof out->number, "%s%03u", l.prefix, l.first + l.used);
    out->issued_ms = now;
    out->priority = priority;
    out->has_sealed = sealed != NULL;
    if (sealed != NULL)
        memcpy(out->sealed, sealed, SEAL_LEN);
    snprintf(out->masked_name, sizeof out->masked_name, "%s", masked_name ? masked_name : "");
    snprintf(out->matter, sizeof out->matter, "%s", matter ? matter : "");
    out->state = KSTORE_OFF_ISSUED;
    if ((st = prep(s, "UPDATE leases SET used = used + 1 WHERE area = ?1")) == NULL)
        goto rollback;
    sqlite3_bind_text(st, 1, area, -1, SQLITE_TRANSIENT);
    if (run(s, st, "use lease") < 0)
        goto rollback;
    st = prep(s, "INSERT INTO offline(area, number, seq, issued_ms, priority, sealed, masked_name,"
                 " state, matter) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8)");
    if (st == NULL)
        goto rollback;
    sqlite3_bind_text(st, 1, out->area, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, out->number, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, out->seq);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int(st, 5, priority);
    if (sealed != NULL)
        sqlite3_bind_blob(st, 6, sealed, SEAL_LEN, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 6);
    sqlite3_bind_text(st, 7, out->masked_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, out->matter, -1, SQLITE_TRANSIENT);
    if (run(s, st, "record offline ticket") < 0)
        goto rollback;
    out->id = sqlite3_last_insert_rowid(s->db);
    if (exec(s, "COMMIT") < 0)
        goto rollback;
    return 0;
rollback:
    exec(s, "ROLLBACK");
    errno = EIO;
    return -1;
}

static int set_offline_state(kstore *s, int64_t id, kstore_offline_state from,
                             kstore_offline_state to)
{
    sqlite3_stmt *st = prep(s, "UPDATE offline SET state = ?1 WHERE id = ?2 AND state = ?3");

    if (st == NULL)
        return -1;
    sqlite3_bind_int(st, 1, (int)to);
    sqlite3_bind_int64(st, 2, id);
    sqlite3_bind_int(st, 3, (int)from);
    return run(s, st, "update offline ticket");
}

int kstore_offline_set(kstore *s, int64_t id, kstore_offline_state state)
{
    assert(state == KSTORE_OFF_PRINTED || state == KSTORE_OFF_VOID);
    return set_offline_state(s, id, KSTORE_OFF_ISSUED, state);
}

int kstore_offline_recover(kstore *s)
{
    sqlite3_stmt *st = prep(s, "UPDATE offline SET state = 1 WHERE state = 0");

    if (st == NULL || run(s, st, "recover offline tickets") < 0)
        return -1;
    return sqlite3_changes(s->db);
}

int kstore_offline_pending(kstore *s, kstore_offline *out, size_t max)
{
    sqlite3_stmt *st = prep(s, "SELECT id, area, number, seq, issued_ms, priority, sealed,"
                               " masked_name, state, matter FROM offline WHERE state = 1"
                               " ORDER BY id LIMIT ?1");
    size_t n = 0;
    int rc;

    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        kstore_offline *o = &out[n++];
        memset(o, 0, sizeof *o);
        o->id = sqlite3_column_int64(st, 0);
        text(o->area, sizeof o->area, st, 1);
        text(o->number, sizeof o->number, st, 2);
        o->seq = (uint32_t)sqlite3_column_int64(st, 3);
        o->issued_ms = sqlite3_column_int64(st, 4);
        o->priority = sqlite3_column_int(st, 5);
        if (sqlite3_column_bytes(st, 6) == SEAL_LEN) {
            memcpy(o->sealed, sqlite3_column_blob(st, 6), SEAL_LEN);
            o->has_sealed = true;
        }
        text(o->masked_name, sizeof o->masked_name, st, 7);
        o->state = (kstore_offline_state)sqlite3_column_int(st, 8);
        text(o->matter, sizeof o->matter, st, 9);
    }
    sqlite3_finalize(st);
    return (int)n;
}

int kstore_offline_settle(kstore *s, const kstore_offline_result *r, size_t n, int64_t now)
{
    sqlite3_stmt *st;

    if (exec(s, "BEGIN IMMEDIATE") < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        assert(r[i].state == KSTORE_OFF_UPLOADED || r[i].state == KSTORE_OFF_REFUSED);
        /* halld has had the sealed number: the kiosk keeps no copy. */
        st = prep(s, "UPDATE offline SET state = ?1, reason = ?2, done_ms = ?3, sealed = NULL"
                     " WHERE id = ?4 AND state = ?5");
        if (st == NULL)
            goto rollback;
        sqlite3_bind_int(st, 1, (int)r[i].state);
        sqlite3_bind_text(st, 2, r[i].reason ? r[i].reason : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, now);
        sqlite3_bind_int64(st, 4, r[i].id);
        sqlite3_bind_int(st, 5, (int)KSTORE_OFF_PRINTED);
        if (run(s, st, "settle offline ticket") < 0)
            goto rollback;
    }
    if (exec(s, "COMMIT") == 0)
        return 0;
rollback:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    errno = EIO;
    return -1;
}

long kstore_offline_count(kstore *s, kstore_offline_state state)
{
    sqlite3_stmt *st = prep(s, "SELECT COUNT(*) FROM offline WHERE state = ?1");
    long n = -1;

    if (st == NULL)
        return -1;
    sqlite3_bind_int(st, 1, (int)state);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n < 0 ? fail(s, "count offline tickets") : n;
}

/* The count of rows sql selects (its one parameter: since) and their
 * numbers (its first column), space-separated, as many as fit in len. */
static long refusals(kstore *s, const char *sql, int64_t since, char *numbers, size_t len)
{
    sqlite3_stmt *st = prep(s, sql);
    size_t used = 0;
    long n = 0;
    int rc;

    if (st == NULL)
        return -1;
    if (len > 0)
        numbers[0] = '\0';
    sqlite3_bind_int64(st, 1, since);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        size_t tl = t != NULL ? strlen((const char *)t) : 0;
        /* A number that does not fit ends the list: later ones are not
         * shown out of order. */
        if (used < len && used + (used > 0) + tl < len) {
            used += (size_t)snprintf(numbers + used, len - used, "%s%s", used > 0 ? " " : "",
                                     t != NULL ? (const char *)t : "");
        } else {
            used = len;
        }
        n++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : fail(s, "list refusals");
}

long kstore_offline_refusals(kstore *s, int64_t since, char *numbers, size_t len)
{
    return refusals(s, "SELECT number FROM offline WHERE state = 4 AND done_ms >= ?1 ORDER BY id",
                    since, numbers, len);
}

int kstore_ticket_put(kstore *s, uint64_t ticket_id, const char *number, kstore_ticket_state state,
                      const char *reason, uint64_t request_id)
{
    sqlite3_stmt *st =
        prep(s, "INSERT INTO tickets(ticket_id, number, state, reason, at, request_id)"
                " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(ticket_id) DO UPDATE"
                " SET state = excluded.state, reason = excluded.reason,"
                " request_id = excluded.request_id");

    assert(state != KSTORE_TK_REFUSED);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)ticket_id);
    sqlite3_bind_text(st, 2, number ? number : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, (int)state);
    sqlite3_bind_text(st, 4, reason ? reason : "", -1, SQLITE_TRANSIENT);
    /* The order rows are sent again in: the kiosk's own clock will do. */
    sqlite3_bind_int64(st, 5, clk_utc_ms());
    sqlite3_bind_int64(st, 6, (sqlite3_int64)request_id);
    return run(s, st, "record ticket");
}

int kstore_ticket_done(kstore *s, uint64_t ticket_id)
{
    sqlite3_stmt *st = prep(s, "DELETE FROM tickets WHERE ticket_id = ?1");

    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)ticket_id);
    return run(s, st, "forget ticket");
}

int kstore_ticket_refuse(kstore *s, uint64_t ticket_id, const char *reason, int64_t now)
{
    sqlite3_stmt *st =
        prep(s, "UPDATE tickets SET state = ?1, reason = ?2, done_ms = ?3 WHERE ticket_id = ?4");

    if (st == NULL)
        return -1;
    sqlite3_bind_int(st, 1, (int)KSTORE_TK_REFUSED);
    sqlite3_bind_text(st, 2, reason ? reason : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)ticket_id);
    return run(s, st, "record refused ticket");
}

int kstore_ticket_each(kstore *s, int (*fn)(void *arg, const kstore_ticket *t), void *arg)
{
    sqlite3_stmt *st = prep(s, "SELECT ticket_id, number, state, reason, request_id FROM tickets"
                               " WHERE state <> 3 ORDER BY at, ticket_id");
    int n = 0, rc;

    if (st == NULL)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        kstore_ticket t = {0};
        t.ticket_id = (uint64_t)sqlite3_column_int64(st, 0);
        text(t.number, sizeof t.number, st, 1);
        t.state = (kstore_ticket_state)sqlite3_column_int(st, 2);
        text(t.reason, sizeof t.reason, st, 3);
        t.request_id = (uint64_t)sqlite3_column_int64(st, 4);
        n++;
        if (fn(arg, &t) != 0)
            break;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : fail(s, "list tickets");
}

long kstore_ticket_refusals(kstore *s, int64_t since, char *numbers, size_t len)
{
    return refusals(s,
                    "SELECT number FROM tickets WHERE state = 3 AND done_ms >= ?1"
                    " ORDER BY done_ms, ticket_id",
                    since, numbers, len);
}

long kstore_prune(kstore *s, int64_t before)
{
    static const char *const deletes[] = {
        "DELETE FROM offline WHERE state IN (2, 3, 4) AND MAX(issued_ms, done_ms) < ?1",
        "DELETE FROM tickets WHERE state = 3 AND done_ms < ?1",
        "DELETE FROM leases WHERE expires_ms < ?1",
    };
    long n = 0;

    if (exec(s, "BEGIN IMMEDIATE") < 0)
        return -1;
    for (size_t i = 0; i < sizeof deletes / sizeof deletes[0]; i++) {
        sqlite3_stmt *st = prep(s, deletes[i]);
        if (st == NULL)
            goto rollback;
        sqlite3_bind_int64(st, 1, before);
        if (run(s, st, "prune") < 0)
            goto rollback;
        n += sqlite3_changes(s->db);
    }
    if (exec(s, "COMMIT") == 0)
        return n;
rollback:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    errno = EIO;
    return -1;
}
